/*
 * onnx_graph.c — the ONNX exporter's first half: the nodes of a bound layer
 * tree in the order the library runs them, each leaf's output shape
 * followed symbolically from the graph input's (N, C, H, W), N, H and W
 * unknown and C fixed by the first convolution or dense layer; containers
 * add no node of their own except a concat's or residual's join after its
 * branches (the mapping onto ONNX operators: onnx.c).
 */
#include <string.h>
#include "onnx.h"

static int count_layers(const inc_layer *l)
{
  int n = 1;
  for (int i = 0; i < l->nchildren; i++) n += count_layers(l->children[i]);
  return n;
}

/* The rank of the input the tree runs on: that of the first layer (in
 * execution order) that fixes it; 4 when none does (only ReLUs and dropouts). */
static int entry_rank(const inc_layer *l)
{
  const inc__layer_vt *vt = l->vt;
  if (vt == &inc__sequential_vt || vt == &inc__concat_vt || vt == &inc__residual_vt) {
    for (int i = 0; i < l->nchildren; i++) {
      int r = entry_rank(l->children[i]);
      if (r) return r;
    }
    return 0;
  }
  if (vt == &inc__relu_vt || vt == &inc__dropout_vt || vt == &inc__identity_vt) return 0;
  return vt == &inc__dense_vt ? 2 : 4;
}

int64_t inc__onnx_dim(const inc__onnx_exporter *e, int64_t d)
{
  return d == DIM_C && e->c ? e->c : d;
}

/* Checks a channel (feature) dimension against what the layer is bound
 * to; the first such check fixes the input's count. */
static inc_status want_dim(inc__onnx_exporter *e, const inc_layer *l, int64_t d, const char *what)
{
  d = inc__onnx_dim(e, d);
  if (d == DIM_C) {
    e->c = l->bound_in;
    return INC_OK;
  }
  if (d > 0 && d != l->bound_in)
    return inc__layer_error(l, INC_ERR_SHAPE, "export: bound to %lld input %s, but the layer "
                            "before gives %lld", (long long)l->bound_in, what, (long long)d);
  return INC_OK;
}

static inc_status want_rank(const inc_layer *l, const inc__onnx_shape *in, int ndim)
{
  if (in->ndim == ndim) return INC_OK;
  return inc__layer_error(l, INC_ERR_SHAPE, "export: expects a %d-dim input, the layer before "
                          "gives %d dims", ndim, in->ndim);
}

int inc__onnx_window(const inc_layer *l, inc__window_geom *q)
{
  return inc__conv2d_geometry(l, q) || inc__pool_geometry(l, q);
}

/* The output shape of leaf l for input in (no node is added). */
static inc_status leaf_shape(inc__onnx_exporter *e, const inc_layer *l, const inc__onnx_shape *in,
                             inc__onnx_shape *out)
{
  const inc__layer_vt *vt = l->vt;
  inc_status s;
  inc__window_geom q;
  *out = *in;
  if (vt == &inc__relu_vt || vt == &inc__dropout_vt || vt == &inc__identity_vt) return INC_OK;
  if (inc__onnx_window(l, &q)) {
    if ((s = want_rank(l, in, 4)) != INC_OK) return s;
    if (vt == &inc__conv2d_vt) {
      if ((s = want_dim(e, l, in->d[1], "channels")) != INC_OK) return s;
      out->d[1] = l->sizes[0]; /* INC__DIM_OUT */
    }
    for (int a = 2; a < 4; a++) {
      int64_t h = in->d[a];
      const int k = q.k[a - 2], st = q.s[a - 2], p = q.p[a - 2];
      char gs[64];
      if (h <= 0) continue; /* follows the image size */
      if (h + 2 * (int64_t)p < k)
        return inc__layer_error(l, INC_ERR_SHAPE, "export: its input is %lld %s, smaller than "
                                "the window %s", (long long)h, a == 2 ? "high" : "wide",
                                inc__window_geom_str(&q, gs, sizeof gs));
      out->d[a] = (h + 2 * (int64_t)p - k) / st + 1;
    }
    return INC_OK;
  }
  if (vt == &inc__global_avg_pool2d_vt) {
    if ((s = want_rank(l, in, 4)) != INC_OK) return s;
    out->d[2] = out->d[3] = 1;
    return INC_OK;
  }
  if (vt == &inc__batch_norm2d_vt) {
    if ((s = want_rank(l, in, 4)) != INC_OK) return s;
    return want_dim(e, l, in->d[1], "channels");
  }
  if (vt == &inc__flatten_vt) {
    out->ndim = 2;
    int64_t f = inc__onnx_dim(e, in->d[1]);
    for (int a = 2; a < in->ndim; a++) {
      if (in->d[a] <= 0 || f == DIM_UNKNOWN) f = DIM_UNKNOWN;
      else if (f != DIM_C) f *= in->d[a];
      else if (in->d[a] != 1) f = DIM_UNKNOWN;
    }
    out->d[1] = f;
    return INC_OK;
  }
  if (vt == &inc__dense_vt) {
    if ((s = want_rank(l, in, 2)) != INC_OK) return s;
    if ((s = want_dim(e, l, in->d[1], "features")) != INC_OK) return s;
    out->d[1] = l->sizes[0]; /* INC__DIM_OUT */
    return INC_OK;
  }
  return inc__layer_error(l, INC_ERR_UNAVAILABLE, "export: no ONNX mapping for this layer kind");
}

static inc_status add_nodes(inc__onnx_exporter *e, const inc_layer *l, const inc_layer *x,
                            const inc__onnx_shape *in, const inc_layer **y, inc__onnx_shape *out);

/* A concat or a residual: the nodes of its branches, each on x, then the
 * node that joins them (the residual's Mul and Add nodes are one node
 * here, spelled out by encode_residual). The branches must agree in every
 * dimension known, channels aside for a concat, which sums them. */
static inc_status add_join(inc__onnx_exporter *e, const inc_layer *l, const inc_layer *x,
                           const inc__onnx_shape *in, const inc_layer **y, inc__onnx_shape *out)
{
  int cat = l->vt == &inc__concat_vt;
  if (!l->nchildren)
    return inc__layer_error(l, INC_ERR_STATE, "the %s has no branch", l->vt->kind);
  inc__onnx_shape *bo = (inc__onnx_shape *)inc__calloc((size_t)l->nchildren, sizeof *bo);
  const inc_layer **bv = (const inc_layer **)inc__calloc((size_t)l->nchildren, sizeof *bv);
  inc_status s = bo && bv ? INC_OK
                          : inc__error(e->ctx, INC_ERR_OUT_OF_MEMORY, "export: out of host memory");
  for (int i = 0; s == INC_OK && i < l->nchildren; i++)
    s = add_nodes(e, l->children[i], x, in, &bv[i], &bo[i]);
  for (int i = 0; s == INC_OK && i < l->nchildren; i++) {
    int same = bo[i].ndim == bo[0].ndim;
    for (int a = cat ? 2 : 1; same && a < bo[i].ndim; a++) {
      int64_t d = inc__onnx_dim(e, bo[i].d[a]), d0 = inc__onnx_dim(e, bo[0].d[a]);
      same = d <= 0 || d0 <= 0 || d == d0;
    }
    if (!same)
      s = inc__layer_error(l, INC_ERR_SHAPE, "export: branch %s gives another shape than "
                           "branch %s; %s", l->children[i]->name, l->children[0]->name,
                           cat ? "only channels may differ" : "a residual sums equal shapes");
  }
  if (s == INC_OK) {
    *out = bo[0];
    if (cat) {
      out->d[1] = 0;
      for (int i = 0; i < l->nchildren && out->d[1] != DIM_UNKNOWN; i++) {
        int64_t c = inc__onnx_dim(e, bo[i].d[1]);
        out->d[1] = c > 0 ? out->d[1] + c : DIM_UNKNOWN;
      }
    }
    for (int a = cat ? 2 : 1; a < out->ndim; a++)
      for (int i = 1; i < l->nchildren; i++)
        if (inc__onnx_dim(e, out->d[a]) <= 0) out->d[a] = bo[i].d[a];
    inc__onnx_node *nd = &e->nodes[e->nnodes++];
    nd->l = l;
    nd->in0 = e->nins;
    nd->nin = l->nchildren;
    for (int i = 0; i < l->nchildren; i++) e->ins[e->nins++] = bv[i];
    *y = l;
  }
  inc__free(bo);
  inc__free(bv);
  return s;
}

/* Adds the nodes of l, whose input is value x of shape in; *y gets the
 * value it produces, *out its shape. */
static inc_status add_nodes(inc__onnx_exporter *e, const inc_layer *l, const inc_layer *x,
                            const inc__onnx_shape *in, const inc_layer **y, inc__onnx_shape *out)
{
  inc_status s;
  if (l->vt == &inc__sequential_vt) {
    if (!l->nchildren) return inc__layer_error(l, INC_ERR_STATE, "the sequential is empty");
    inc__onnx_shape cur = *in;
    for (int i = 0; i < l->nchildren; i++) {
      if ((s = add_nodes(e, l->children[i], x, &cur, &x, out)) != INC_OK) return s;
      cur = *out;
    }
    *y = x;
    return INC_OK;
  }
  if (l->vt == &inc__concat_vt || l->vt == &inc__residual_vt) return add_join(e, l, x, in, y, out);
  if ((s = leaf_shape(e, l, in, out)) != INC_OK) return s;
  inc__onnx_node *nd = &e->nodes[e->nnodes++];
  nd->l = l;
  nd->in0 = e->nins;
  nd->nin = 1;
  e->ins[e->nins++] = x;
  *y = l;
  return INC_OK;
}

inc_status inc__onnx_graph(inc__onnx_exporter *e, inc__onnx_shape *in, inc__onnx_shape *out)
{
  const int nl = count_layers(e->root);
  e->nodes = (inc__onnx_node *)inc__calloc((size_t)nl + 1, sizeof *e->nodes);
  e->ins = (const inc_layer **)inc__calloc(2 * (size_t)nl + 1, sizeof *e->ins);
  if (!e->nodes || !e->ins)
    return inc__error(e->ctx, INC_ERR_OUT_OF_MEMORY, "export: out of host memory");
  memset(in, 0, sizeof *in);
  in->ndim = entry_rank(e->root) == 2 ? 2 : 4;
  in->d[0] = in->d[2] = in->d[3] = DIM_UNKNOWN;
  in->d[1] = DIM_C;
  return add_nodes(e, e->root, NULL, in, &e->last, out);
}

