/*
 * onnx.c — inc_layer_export_onnx: a bound layer tree as an ONNX model
 * (opset 13, IR version 7) with its weights, written atomically.
 *
 * The tree maps one to one onto ONNX nodes, in the order the library runs
 * them: conv2d -> Conv, relu -> Relu, max_pool2d -> MaxPool, avg_pool2d ->
 * AveragePool (count_include_pad=1), global_avg_pool2d ->
 * GlobalAveragePool, flatten -> Flatten (axis 1), dense -> Gemm (transB=1),
 * batch_norm2d -> BatchNormalization (inference: scale, B, the running mean
 * and variance as initializers, epsilon; the count is not exported),
 * concat -> Concat (axis 1) after its branches; a sequential adds no node,
 * it chains its children; dropout -> Identity (the model is exported for
 * inference, where dropout passes its input on); identity -> Identity; a
 * residual, after its branches, multiplies each branch output whose scale
 * is not 1 by that scale (Mul with a scalar initializer "<path>.scale<i>",
 * written after the parameters) and sums the terms in branch order (Add;
 * one unscaled branch: Identity). Windows have a kernel, stride and padding per
 * axis (kernel_shape, strides and pads [top, left, bottom, right] with
 * each axis's padding at both ends) and floor rounding (ceil_mode 0): out
 * = (in + 2p - k) / s + 1 per axis, exactly the library's rule. Parameters
 * become initializers named and ordered as inc_layer_param lists them, in
 * the library's own layouts (conv weight (OC, C, KH, KW), dense weight
 * (OUT, F), the Gemm's B with transB=1); a convolution without bias has
 * the Conv's W input only. The
 * graph input is "input", (N, C, H, W) — or (N, F) for a model that starts
 * with a dense layer — and the output "logits"; N, H and W are symbolic
 * (binding records channels and features, never an image size, so the
 * graph accepts what the library accepts), C is known once a convolution
 * or dense layer fixes it.
 *
 * Encoding: a small protobuf writer of our own (src/protobuf.c) for the
 * subset of onnx.proto (proto2) used here — ModelProto, OperatorSetIdProto,
 * GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto,
 * TypeProto, TensorShapeProto — i.e. varints, fixed32 floats and
 * length-delimited fields (docs/onnx.md says why not protobuf-c). The whole
 * model is built in one host buffer: a nested message is written in place
 * and its length, once known, moved in front of it; parameters are
 * downloaded straight into the buffer as their raw_data (little-endian
 * float32). The buffer then goes to disk through inc__write_atomic
 * (temporary file, fsync, rename), so a failure leaves nothing behind and
 * any previous file intact. The graph walk that gives the nodes and their
 * shapes is onnx_graph.c's.
 */
#include <stdio.h>
#include <string.h>
#include "onnx.h"
#include "safetensors.h"

#define ONNX_IR_VERSION 7 /* ONNX 1.8: the IR of opset 13 */
#define ONNX_OPSET 13
/* A protobuf message may not exceed 2 GiB; a larger model would need ONNX's
 * external data, which this writer does not produce. */
#define ONNX_MAX_BYTES ((size_t)0x7fffffff)
#define WRITE_CHUNK ((size_t)1 << 18) /* bytes per write(2) */

/* onnx.proto field numbers */
enum {
  MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2, MODEL_PRODUCER_VERSION = 3, MODEL_DOC = 6,
  MODEL_GRAPH = 7, MODEL_OPSET_IMPORT = 8,
  OPSET_VERSION = 2,
  GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12,
  NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5,
  ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_INTS = 8, ATTR_TYPE = 20,
  TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW_DATA = 9,
  VALUE_NAME = 1, VALUE_TYPE = 2,
  TYPE_TENSOR = 1,
  TTYPE_ELEM_TYPE = 1, TTYPE_SHAPE = 2,
  SHAPE_DIM = 1,
  DIM_VALUE = 1, DIM_PARAM = 2,
};
enum { ATTR_TYPE_FLOAT = 1, ATTR_TYPE_INT = 2, ATTR_TYPE_INTS = 7 }; /* AttributeType */
enum { ELEM_FLOAT = 1 };                          /* TensorProto.DataType */

/* ---- encoding ---- */

/* "<path>.<local>" relative to the exported layer, as inc_layer_param names
 * parameters; local "" gives "<path>." */
static const char *rel_name(const inc__onnx_exporter *e, const inc_layer *l, const char *local,
                            char *buf, size_t cap)
{
  return inc__param_name(e->root, l, local, buf, cap);
}

/* The name of value v: "input", "logits", or "<path of its layer>.out". */
static const char *value_name(const inc__onnx_exporter *e, const inc_layer *v, char *buf,
                              size_t cap)
{
  if (!v) return "input";
  if (v == e->last) return "logits";
  return rel_name(e, v, "out", buf, cap);
}

static void attr_float(inc__pbuf *b, const char *name, float v)
{
  size_t m = inc__pb_begin(b, NODE_ATTRIBUTE);
  inc__pb_string(b, ATTR_NAME, name);
  inc__pb_int(b, ATTR_TYPE, ATTR_TYPE_FLOAT);
  inc__pb_float(b, ATTR_F, v);
  inc__pb_end(b, m);
}

static void attr_int(inc__pbuf *b, const char *name, int64_t v)
{
  size_t m = inc__pb_begin(b, NODE_ATTRIBUTE);
  inc__pb_string(b, ATTR_NAME, name);
  inc__pb_int(b, ATTR_TYPE, ATTR_TYPE_INT);
  inc__pb_int(b, ATTR_I, v);
  inc__pb_end(b, m);
}

/* A repeated int64 attribute of the n values v[i % 2], H's and W's of a
 * window setting (unpacked, as proto2 writes it). */
static void attr_ints(inc__pbuf *b, const char *name, const int v[2], int n)
{
  size_t m = inc__pb_begin(b, NODE_ATTRIBUTE);
  inc__pb_string(b, ATTR_NAME, name);
  inc__pb_int(b, ATTR_TYPE, ATTR_TYPE_INTS);
  for (int i = 0; i < n; i++) inc__pb_int(b, ATTR_INTS, v[i % 2]);
  inc__pb_end(b, m);
}

static const char *op_of(const inc_layer *l)
{
  const inc__layer_vt *vt = l->vt;
  if (vt == &inc__conv2d_vt) return "Conv";
  if (vt == &inc__max_pool2d_vt) return "MaxPool";
  if (vt == &inc__avg_pool2d_vt) return "AveragePool";
  if (vt == &inc__global_avg_pool2d_vt) return "GlobalAveragePool";
  if (vt == &inc__relu_vt) return "Relu";
  if (vt == &inc__dropout_vt) return "Identity"; /* dropout at inference */
  if (vt == &inc__flatten_vt) return "Flatten";
  if (vt == &inc__dense_vt) return "Gemm";
  if (vt == &inc__batch_norm2d_vt) return "BatchNormalization";
  if (vt == &inc__identity_vt) return "Identity";
  return "Concat";
}

/* The node name of layer l: its path ("2.0.p2.2"), or its kind for the
 * exported layer itself. */
static const char *node_name(const inc__onnx_exporter *e, const inc_layer *l, char *buf, size_t cap)
{
  rel_name(e, l, "", buf, cap);
  size_t n = strlen(buf);
  if (n) buf[n - 1] = '\0';
  return n ? buf : l->vt->kind;
}

/* One node without attributes: op(in0[, in1]) -> out. */
static void put_node(inc__pbuf *b, const char *op, const char *name, const char *in0,
                     const char *in1, const char *out)
{
  size_t m = inc__pb_begin(b, GRAPH_NODE);
  inc__pb_string(b, NODE_INPUT, in0);
  if (in1) inc__pb_string(b, NODE_INPUT, in1);
  inc__pb_string(b, NODE_OUTPUT, out);
  inc__pb_string(b, NODE_NAME, name);
  inc__pb_string(b, NODE_OP_TYPE, op);
  inc__pb_end(b, m);
}

/* 1 if branch i of residual l is scaled (a Mul node and a scale initializer). */
static int scaled_branch(const inc_layer *l, int i) { return inc__residual_scale(l, i) != 1.0f; }

/* A residual's nodes: each scaled branch output times its scale (Mul), then
 * the terms summed in branch order (Add); the last node, named by the
 * layer's path, gives its value (an Identity when one unscaled branch is
 * all there is). Intermediate values and nodes are "<path>/scaled<i>",
 * "<path>/sum<i>", "<path>/mul<i>", "<path>/add<i>": '/' is in no layer
 * name, so they meet no other name. */
static void encode_residual(inc__onnx_exporter *e, const inc__onnx_node *nd)
{
  const inc_layer *l = nd->l;
  char base[512], out[1024], acc[1024], term[1024], nm[1024], scale[1024], local[32];
  snprintf(base, sizeof base, "%s", node_name(e, l, nm, sizeof nm));
  snprintf(out, sizeof out, "%s", value_name(e, l, nm, sizeof nm));
  for (int i = 0; i < nd->nin; i++) {
    int last = i == nd->nin - 1;
    snprintf(term, sizeof term, "%s", value_name(e, e->ins[nd->in0 + i], nm, sizeof nm));
    if (scaled_branch(l, i)) {
      char scaled[1024];
      snprintf(scaled, sizeof scaled, "%s/scaled%d", base, i);
      snprintf(nm, sizeof nm, "%s/mul%d", base, i);
      snprintf(local, sizeof local, "scale%d", i);
      rel_name(e, l, local, scale, sizeof scale);
      put_node(&e->b, "Mul", nd->nin == 1 ? base : nm, term, scale, nd->nin == 1 ? out : scaled);
      snprintf(term, sizeof term, "%s", scaled);
    }
    if (i == 0) {
      if (nd->nin == 1 && !scaled_branch(l, 0)) put_node(&e->b, "Identity", base, term, NULL, out);
      snprintf(acc, sizeof acc, "%s", term);
      continue;
    }
    char sum[1024];
    snprintf(sum, sizeof sum, "%s/sum%d", base, i);
    snprintf(nm, sizeof nm, "%s/add%d", base, i);
    put_node(&e->b, "Add", last ? base : nm, acc, term, last ? out : sum);
    snprintf(acc, sizeof acc, "%s", sum);
  }
}

static void encode_node(inc__onnx_exporter *e, const inc__onnx_node *nd)
{
  inc__pbuf *b = &e->b;
  const inc_layer *l = nd->l;
  char buf[1024];
  if (l->vt == &inc__residual_vt) {
    encode_residual(e, nd);
    return;
  }
  size_t m = inc__pb_begin(b, GRAPH_NODE);
  for (int i = 0; i < nd->nin; i++)
    inc__pb_string(b, NODE_INPUT, value_name(e, e->ins[nd->in0 + i], buf, sizeof buf));
  for (int i = 0; i < l->nparams; i++) /* weight, bias: W and B of Conv, B and C of Gemm */
    inc__pb_string(b, NODE_INPUT, rel_name(e, l, l->params[i].decl->name, buf, sizeof buf));
  for (int i = 0; i < l->nbuffers; i++) /* a batch norm's input_mean, input_var */
    if (l->buffers[i].decl->init != INC__INIT_COUNT)
      inc__pb_string(b, NODE_INPUT, rel_name(e, l, l->buffers[i].decl->name, buf, sizeof buf));
  inc__pb_string(b, NODE_OUTPUT, value_name(e, l, buf, sizeof buf));
  inc__pb_string(b, NODE_NAME, node_name(e, l, buf, sizeof buf));
  inc__pb_string(b, NODE_OP_TYPE, op_of(l));
  inc__window_geom q;
  float eps;
  if (inc__onnx_window(l, &q)) {
    attr_ints(b, "kernel_shape", q.k, 2);
    attr_ints(b, "strides", q.s, 2);
    attr_ints(b, "pads", q.p, 4); /* [H begin, W begin, H end, W end] */
    if (l->vt == &inc__max_pool2d_vt || l->vt == &inc__avg_pool2d_vt) attr_int(b, "ceil_mode", 0);
    if (l->vt == &inc__avg_pool2d_vt) attr_int(b, "count_include_pad", 1);
  } else if (l->vt == &inc__concat_vt || l->vt == &inc__flatten_vt) {
    attr_int(b, "axis", 1);
  } else if (l->vt == &inc__dense_vt) {
    attr_int(b, "transB", 1);
  } else if (inc__batch_norm2d_settings(l, &eps, NULL)) {
    attr_float(b, "epsilon", eps);
  }
  inc__pb_end(b, m);
}

/* One initializer: dims, FLOAT, name, raw_data downloaded in place. */
static inc_status encode_tensor(inc__onnx_exporter *e, const char *name, const inc_tensor *t)
{
  inc__pbuf *b = &e->b;
  size_t m = inc__pb_begin(b, GRAPH_INITIALIZER);
  for (int d = 0; d < t->ndim; d++) inc__pb_int(b, TENSOR_DIMS, t->dims[d]);
  inc__pb_int(b, TENSOR_DATA_TYPE, ELEM_FLOAT);
  inc__pb_string(b, TENSOR_NAME, name);
  size_t bytes = (size_t)t->numel * sizeof(float);
  inc__pb_tag(b, TENSOR_RAW_DATA, INC__PB_LEN);
  inc__pb_varint(b, bytes);
  if (!inc__pb_reserve(b, bytes)) return INC_OK; /* reported by the caller */
  unsigned char *dst = b->p + b->n;
  inc_status s = t->ctx->ops->download(dst, t->data, bytes, t->ctx);
  if (s != INC_OK) return s;
  const unsigned one = 1;
  if (*(const unsigned char *)&one != 1) /* raw_data is little-endian */
    for (size_t i = 0; i < bytes; i += 4) {
      unsigned char c0 = dst[i], c1 = dst[i + 1];
      dst[i] = dst[i + 3];
      dst[i + 1] = dst[i + 2];
      dst[i + 2] = c1;
      dst[i + 3] = c0;
    }
  b->n += bytes;
  inc__pb_end(b, m);
  return INC_OK;
}

/* A scalar float initializer (a residual's scale): no dims, FLOAT, name,
 * 4 bytes of little-endian raw_data. */
static void encode_scalar(inc__onnx_exporter *e, const char *name, float v)
{
  inc__pbuf *b = &e->b;
  size_t m = inc__pb_begin(b, GRAPH_INITIALIZER);
  inc__pb_int(b, TENSOR_DATA_TYPE, ELEM_FLOAT);
  inc__pb_string(b, TENSOR_NAME, name);
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  inc__pb_tag(b, TENSOR_RAW_DATA, INC__PB_LEN);
  inc__pb_varint(b, sizeof u);
  if (!inc__pb_reserve(b, sizeof u)) return;
  for (int k = 0; k < 4; k++) b->p[b->n++] = (unsigned char)(u >> 8 * k);
  inc__pb_end(b, m);
}

/* A ValueInfoProto of a float tensor; dims: N as "N", a known size as its
 * value, the unfixed input channel count as c_name, others as given in
 * params (NULL entries: an unnamed, unknown dimension). */
static void encode_value(inc__onnx_exporter *e, int field, const char *name,
                         const inc__onnx_shape *sh, const char *c_name, const char *const *params)
{
  inc__pbuf *b = &e->b;
  size_t m = inc__pb_begin(b, field);
  inc__pb_string(b, VALUE_NAME, name);
  size_t ty = inc__pb_begin(b, VALUE_TYPE);
  size_t tt = inc__pb_begin(b, TYPE_TENSOR);
  inc__pb_int(b, TTYPE_ELEM_TYPE, ELEM_FLOAT);
  size_t shp = inc__pb_begin(b, TTYPE_SHAPE);
  for (int a = 0; a < sh->ndim; a++) {
    size_t dm = inc__pb_begin(b, SHAPE_DIM);
    int64_t d = a == 0 ? DIM_UNKNOWN : inc__onnx_dim(e, sh->d[a]);
    if (a == 0) inc__pb_string(b, DIM_PARAM, "N");
    else if (d > 0) inc__pb_int(b, DIM_VALUE, d);
    else if (d == DIM_C) inc__pb_string(b, DIM_PARAM, c_name);
    else if (params && params[a]) inc__pb_string(b, DIM_PARAM, params[a]);
    inc__pb_end(b, dm);
  }
  inc__pb_end(b, shp);
  inc__pb_end(b, tt);
  inc__pb_end(b, ty);
  inc__pb_end(b, m);
}

static inc_status encode_model(inc__onnx_exporter *e, const inc__onnx_shape *in,
                               const inc__onnx_shape *out)
{
  inc__pbuf *b = &e->b;
  inc__param **params = NULL, **buffers = NULL;
  inc_layer **leaves = NULL, **bleaves = NULL;
  int np = 0, nb = 0;
  inc_status s = inc__collect_params(e->root, &params, &leaves, &np);
  if (s == INC_OK) s = inc__collect_buffers(e->root, &buffers, &bleaves, &nb);
  if (s != INC_OK) {
    inc__free(params);
    inc__free(leaves);
    return s;
  }
  int64_t numel = inc_layer_param_numel(e->root);
  if ((uint64_t)numel > (ONNX_MAX_BYTES - (1u << 20)) / sizeof(float)) {
    s = inc__error(e->ctx, INC_ERR_INVALID_ARGUMENT,
                   "export %s: %lld parameters do not fit in the 2 GiB of one protobuf message "
                   "(ONNX external data is not supported)", e->path, (long long)numel);
  }
  /* one allocation for the usual case: the weights plus room for the graph */
  if (s == INC_OK)
    inc__pb_reserve(b, (size_t)numel * sizeof(float) + 256 * (size_t)e->nnodes + 4096);
  inc__pb_int(b, MODEL_IR_VERSION, ONNX_IR_VERSION);
  inc__pb_string(b, MODEL_PRODUCER_NAME, "libinception");
  inc__pb_string(b, MODEL_PRODUCER_VERSION, inc_version_string());
  inc__pb_string(b, MODEL_DOC, "exported by inc_layer_export_onnx (docs/onnx.md)");
  size_t g = inc__pb_begin(b, MODEL_GRAPH);
  for (int i = 0; i < e->nnodes; i++) encode_node(e, &e->nodes[i]);
  inc__pb_string(b, GRAPH_NAME, "libinception");
  char name[1024];
  for (int i = 0; s == INC_OK && i < np; i++)
    s = encode_tensor(e, rel_name(e, leaves[i], params[i]->decl->name, name, sizeof name),
                      params[i]->value);
  for (int i = 0; s == INC_OK && i < nb; i++) /* running statistics; counts stay behind */
    if (buffers[i]->decl->init != INC__INIT_COUNT)
      s = encode_tensor(e, rel_name(e, bleaves[i], buffers[i]->decl->name, name, sizeof name),
                        buffers[i]->value);
  for (int i = 0; i < e->nnodes; i++) /* the residuals' scales, after the parameters */
    for (int k = 0; e->nodes[i].l->vt == &inc__residual_vt && k < e->nodes[i].nin; k++)
      if (scaled_branch(e->nodes[i].l, k)) {
        char local[32];
        snprintf(local, sizeof local, "scale%d", k);
        encode_scalar(e, rel_name(e, e->nodes[i].l, local, name, sizeof name),
                      inc__residual_scale(e->nodes[i].l, k));
      }
  const char *in_dims[4] = {"N", NULL, "H", "W"}, *c_name = in->ndim == 4 ? "C" : "F";
  encode_value(e, GRAPH_INPUT, "input", in, c_name, in_dims);
  encode_value(e, GRAPH_OUTPUT, "logits", out, c_name, NULL);
  inc__pb_end(b, g);
  size_t op = inc__pb_begin(b, MODEL_OPSET_IMPORT); /* domain "" (ai.onnx), the default */
  inc__pb_int(b, OPSET_VERSION, ONNX_OPSET);
  inc__pb_end(b, op);
  inc__free(params);
  inc__free(leaves);
  inc__free(buffers);
  inc__free(bleaves);
  if (s == INC_OK && b->oom)
    s = inc__error(e->ctx, INC_ERR_OUT_OF_MEMORY, "export %s: out of host memory", e->path);
  if (s == INC_OK && b->n > ONNX_MAX_BYTES)
    s = inc__error(e->ctx, INC_ERR_INVALID_ARGUMENT,
                   "export %s: the model takes %zu bytes, more than the 2 GiB of one protobuf "
                   "message", e->path, b->n);
  return s;
}

static int write_buf(int fd, void *arg)
{
  const inc__pbuf *b = (const inc__pbuf *)arg;
  for (size_t off = 0; off < b->n; off += WRITE_CHUNK) {
    size_t n = b->n - off < WRITE_CHUNK ? b->n - off : WRITE_CHUNK;
    if (inc__write_all(fd, b->p + off, n)) return -1;
  }
  return 0;
}

INC_API inc_status inc_layer_export_onnx(const inc_layer *layer, const char *path)
{
  if (!layer) return INC_ERR_INVALID_ARGUMENT;
  inc_context *ctx = layer->ctx;
  inc_status s = inc__begin(ctx);
  if (s != INC_OK) return s;
  if (!path || !*path)
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "inc_layer_export_onnx: path is NULL or empty");
  if (!inc_layer_is_bound(layer))
    return inc__error(ctx, INC_ERR_STATE,
                      "export %s: the model is not bound (run a forward or "
                      "inc_layer_infer_shape, or load its parameters, first)", path);
  inc__onnx_exporter e;
  memset(&e, 0, sizeof e);
  e.root = layer;
  e.ctx = ctx;
  e.path = path;
  inc__onnx_shape in, out;
  s = inc__onnx_graph(&e, &in, &out);
  if (s == INC_OK) s = encode_model(&e, &in, &out);
  if (s == INC_OK)
    s = inc__write_atomic(path, "export", write_buf, &e.b, ctx->err, sizeof ctx->err);
  inc__free(e.b.p);
  inc__free(e.nodes);
  inc__free(e.ins);
  return s;
}
