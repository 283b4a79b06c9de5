/*
 * test_onnx.c — inc_layer_export_onnx read back by a small protobuf reader
 * of this file (independent of the writer in src/onnx.c): the model's IR
 * version and opset, the nodes (op types in execution order, their inputs,
 * outputs and attributes, every input defined before it is used), the graph
 * input and output with their symbolic and known dimensions, and the
 * initializers, which must equal inc_layer_param: the same names in the same
 * order, shapes and float32 bits. For an Inception block, the D2L GoogLeNet
 * and a subtree of it, plus the smaller cases (a model that starts with a
 * dense layer, one without parameters, rectangular convolutions with and
 * without bias: windows per axis, a Conv without B), the refusals (unbound, empty
 * container, layers that do not fit, bad paths) and the atomic write.
 * Numerical agreement with ONNX Runtime is tests/python/test_onnx.py's part
 * (make check-onnx).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util.h"

/* ------------------------------------------------------------------------ */
/* A protobuf reader for the ONNX subset                                     */
/* ------------------------------------------------------------------------ */

typedef struct span {
  const unsigned char *p;
  size_t n;
} span;

/* One field of a message: number, wire type, varint value or bytes. */
typedef struct field {
  int num, wire;
  uint64_t v;
  span s;
} field;

/* Reads the next field of msg into *f, advancing msg; 0 at the end. Fails
 * the test on malformed input. */
static int next_field(span *msg, field *f)
{
  if (!msg->n) return 0;
  uint64_t key = 0;
  int shift = 0;
  size_t i = 0;
  for (;; i++) {
    ck_assert_msg(i < msg->n && shift < 64, "truncated varint key");
    key |= (uint64_t)(msg->p[i] & 0x7f) << shift;
    shift += 7;
    if (!(msg->p[i] & 0x80)) break;
  }
  i++;
  f->num = (int)(key >> 3);
  f->wire = (int)(key & 7);
  ck_assert_msg(f->num > 0, "field number 0");
  if (f->wire == 0 || f->wire == 2) {
    uint64_t v = 0;
    shift = 0;
    for (;; i++) {
      ck_assert_msg(i < msg->n && shift < 64, "truncated varint");
      v |= (uint64_t)(msg->p[i] & 0x7f) << shift;
      shift += 7;
      if (!(msg->p[i] & 0x80)) break;
    }
    i++;
    f->v = v;
    if (f->wire == 2) {
      ck_assert_msg(v <= msg->n - i, "length %llu past the end", (unsigned long long)v);
      f->s.p = msg->p + i;
      f->s.n = (size_t)v;
      i += (size_t)v;
    }
  } else if (f->wire == 5) {
    ck_assert_msg(i + 4 <= msg->n, "truncated fixed32");
    i += 4;
  } else {
    ck_assert_msg(0, "unexpected wire type %d", f->wire);
  }
  msg->p += i;
  msg->n -= i;
  return 1;
}

static char *dup_span(span s)
{
  char *c = (char *)malloc(s.n + 1);
  ck_assert_ptr_nonnull(c);
  memcpy(c, s.p, s.n);
  c[s.n] = '\0';
  return c;
}

#define MAXV 16
typedef struct attr {
  char *name;
  int type;
  int64_t i;
  int64_t ints[MAXV];
  int nints;
} attr;

typedef struct node {
  char *op, *name;
  char *in[MAXV];
  int nin;
  char *out[MAXV];
  int nout;
  attr at[8];
  int nat;
} node;

typedef struct init {
  char *name;
  int64_t dims[8];
  int ndim, dtype;
  span raw;
} init;

/* A graph input/output: each dim a value (> 0), a parameter name, or
 * neither (value 0, param NULL). */
typedef struct value {
  char *name;
  int elem;
  int ndim;
  int64_t dim[8];
  char *param[8];
} value;

typedef struct model {
  unsigned char *file;
  size_t size;
  int64_t ir_version;
  int nopset;
  int64_t opset;
  char *opset_domain;
  char *graph_name;
  node *nodes;
  int nnodes;
  init *inits;
  int ninits;
  value in[4], out[4];
  int nin, nout;
} model;

static void parse_attr(span m, attr *a)
{
  field f;
  memset(a, 0, sizeof *a);
  while (next_field(&m, &f)) {
    if (f.num == 1 && f.wire == 2) a->name = dup_span(f.s);
    else if (f.num == 20 && f.wire == 0) a->type = (int)f.v;
    else if (f.num == 3 && f.wire == 0) a->i = (int64_t)f.v;
    else if (f.num == 8 && f.wire == 0) {
      ck_assert_int_lt(a->nints, MAXV);
      a->ints[a->nints++] = (int64_t)f.v;
    } else if (f.num == 8 && f.wire == 2) { /* packed */
      span p = f.s;
      while (p.n) {
        uint64_t v = 0;
        int shift = 0;
        size_t i = 0;
        for (;; i++) {
          ck_assert(i < p.n);
          v |= (uint64_t)(p.p[i] & 0x7f) << shift;
          shift += 7;
          if (!(p.p[i] & 0x80)) break;
        }
        p.p += i + 1;
        p.n -= i + 1;
        ck_assert_int_lt(a->nints, MAXV);
        a->ints[a->nints++] = (int64_t)v;
      }
    } else {
      ck_assert_msg(0, "unexpected attribute field %d", f.num);
    }
  }
}

static void parse_node(span m, node *n)
{
  field f;
  memset(n, 0, sizeof *n);
  while (next_field(&m, &f)) {
    ck_assert_int_eq(f.wire, 2);
    if (f.num == 1) {
      ck_assert_int_lt(n->nin, MAXV);
      n->in[n->nin++] = dup_span(f.s);
    } else if (f.num == 2) {
      ck_assert_int_lt(n->nout, MAXV);
      n->out[n->nout++] = dup_span(f.s);
    } else if (f.num == 3) {
      n->name = dup_span(f.s);
    } else if (f.num == 4) {
      n->op = dup_span(f.s);
    } else if (f.num == 5) {
      ck_assert_int_lt(n->nat, 8);
      parse_attr(f.s, &n->at[n->nat++]);
    } else {
      ck_assert_msg(0, "unexpected node field %d", f.num);
    }
  }
  ck_assert_ptr_nonnull(n->op);
}

static void parse_init(span m, init *t)
{
  field f;
  memset(t, 0, sizeof *t);
  while (next_field(&m, &f)) {
    if (f.num == 1 && f.wire == 0) {
      ck_assert_int_lt(t->ndim, 8);
      t->dims[t->ndim++] = (int64_t)f.v;
    } else if (f.num == 2 && f.wire == 0) {
      t->dtype = (int)f.v;
    } else if (f.num == 8 && f.wire == 2) {
      t->name = dup_span(f.s);
    } else if (f.num == 9 && f.wire == 2) {
      t->raw = f.s;
    } else {
      ck_assert_msg(0, "unexpected tensor field %d", f.num);
    }
  }
}

static void parse_value(span m, value *v)
{
  field f, g, h, d, e;
  memset(v, 0, sizeof *v);
  while (next_field(&m, &f)) {
    if (f.num == 1) {
      v->name = dup_span(f.s);
      continue;
    }
    ck_assert_int_eq(f.num, 2); /* type */
    span ty = f.s;
    while (next_field(&ty, &g)) {
      ck_assert_int_eq(g.num, 1); /* tensor_type */
      span tt = g.s;
      while (next_field(&tt, &h)) {
        if (h.num == 1) {
          v->elem = (int)h.v;
          continue;
        }
        ck_assert_int_eq(h.num, 2); /* shape */
        span sh = h.s;
        while (next_field(&sh, &d)) {
          ck_assert_int_eq(d.num, 1); /* dim */
          ck_assert_int_lt(v->ndim, 8);
          span dm = d.s;
          while (next_field(&dm, &e)) {
            if (e.num == 1) v->dim[v->ndim] = (int64_t)e.v;
            else if (e.num == 2) v->param[v->ndim] = dup_span(e.s);
          }
          v->ndim++;
        }
      }
    }
  }
}

static void parse_graph(span m, model *md)
{
  field f;
  span scan = m;
  int nn = 0, ni = 0;
  while (next_field(&scan, &f)) {
    nn += f.num == 1;
    ni += f.num == 5;
  }
  md->nodes = (node *)calloc((size_t)nn + 1, sizeof *md->nodes);
  md->inits = (init *)calloc((size_t)ni + 1, sizeof *md->inits);
  while (next_field(&m, &f)) {
    ck_assert_int_eq(f.wire, 2);
    if (f.num == 1) parse_node(f.s, &md->nodes[md->nnodes++]);
    else if (f.num == 2) md->graph_name = dup_span(f.s);
    else if (f.num == 5) parse_init(f.s, &md->inits[md->ninits++]);
    else if (f.num == 11 && md->nin < 4) parse_value(f.s, &md->in[md->nin++]);
    else if (f.num == 12 && md->nout < 4) parse_value(f.s, &md->out[md->nout++]);
    else ck_assert_msg(0, "unexpected graph field %d", f.num);
  }
}

static void read_model(const char *path, model *md)
{
  memset(md, 0, sizeof *md);
  FILE *fp = fopen(path, "rb");
  ck_assert_msg(fp != NULL, "cannot open %s", path);
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  ck_assert_int_gt(n, 0);
  md->file = (unsigned char *)malloc((size_t)n);
  ck_assert_uint_eq(fread(md->file, 1, (size_t)n, fp), (size_t)n);
  fclose(fp);
  md->size = (size_t)n;
  span m = {md->file, md->size};
  field f, g;
  int graphs = 0;
  while (next_field(&m, &f)) {
    if (f.num == 1) md->ir_version = (int64_t)f.v;
    else if (f.num == 7) {
      parse_graph(f.s, md);
      graphs++;
    } else if (f.num == 8) {
      md->nopset++;
      span o = f.s;
      while (next_field(&o, &g)) {
        if (g.num == 1) md->opset_domain = dup_span(g.s);
        if (g.num == 2) md->opset = (int64_t)g.v;
      }
    }
  }
  ck_assert_int_eq(graphs, 1);
}

static void free_model(model *md)
{
  for (int i = 0; i < md->nnodes; i++) {
    node *n = &md->nodes[i];
    free(n->op);
    free(n->name);
    for (int j = 0; j < n->nin; j++) free(n->in[j]);
    for (int j = 0; j < n->nout; j++) free(n->out[j]);
    for (int j = 0; j < n->nat; j++) free(n->at[j].name);
  }
  for (int i = 0; i < md->ninits; i++) free(md->inits[i].name);
  for (int k = 0; k < md->nin + md->nout; k++) {
    value *v = k < md->nin ? &md->in[k] : &md->out[k - md->nin];
    free(v->name);
    for (int d = 0; d < v->ndim; d++) free(v->param[d]);
  }
  free(md->nodes);
  free(md->inits);
  free(md->opset_domain);
  free(md->graph_name);
  free(md->file);
  memset(md, 0, sizeof *md);
}

/* ------------------------------------------------------------------------ */
/* Checks                                                                    */
/* ------------------------------------------------------------------------ */

static const attr *find_attr(const node *n, const char *name)
{
  for (int i = 0; i < n->nat; i++)
    if (!strcmp(n->at[i].name, name)) return &n->at[i];
  return NULL;
}

static const node *find_node(const model *md, const char *name)
{
  for (int i = 0; i < md->nnodes; i++)
    if (md->nodes[i].name && !strcmp(md->nodes[i].name, name)) return &md->nodes[i];
  ck_assert_msg(0, "no node named %s", name);
  return NULL;
}

/* The header, the ops in order and the data flow: every node input is the
 * graph input, an initializer or an earlier node's output; outputs are
 * unique; the last node gives "logits" and every initializer is used. */
static void check_graph(const model *md, const char *const *ops, int nops)
{
  ck_assert_int_eq(md->ir_version, 7);
  ck_assert_int_eq(md->nopset, 1);
  ck_assert_int_eq(md->opset, 13);
  ck_assert_msg(!md->opset_domain || !md->opset_domain[0], "opset domain %s", md->opset_domain);
  ck_assert_ptr_nonnull(md->graph_name);
  ck_assert_int_eq(md->nin, 1);
  ck_assert_int_eq(md->nout, 1);
  ck_assert_str_eq(md->in[0].name, "input");
  ck_assert_str_eq(md->out[0].name, "logits");
  ck_assert_int_eq(md->in[0].elem, 1);
  ck_assert_int_eq(md->out[0].elem, 1);
  ck_assert_int_eq(md->nnodes, nops);
  for (int i = 0; i < nops; i++)
    ck_assert_msg(!strcmp(md->nodes[i].op, ops[i]), "node %d (%s) is %s, expected %s", i,
                  md->nodes[i].name, md->nodes[i].op, ops[i]);
  int *used = (int *)calloc((size_t)md->ninits + 1, sizeof *used);
  for (int i = 0; i < md->nnodes; i++) {
    const node *n = &md->nodes[i];
    ck_assert_int_eq(n->nout, 1);
    ck_assert_ptr_nonnull(n->name);
    for (int j = 0; j < n->nin; j++) {
      int ok = !strcmp(n->in[j], "input");
      for (int t = 0; !ok && t < md->ninits; t++)
        if (!strcmp(n->in[j], md->inits[t].name)) ok = used[t] = 1;
      for (int k = 0; !ok && k < i; k++) ok = !strcmp(n->in[j], md->nodes[k].out[0]);
      ck_assert_msg(ok, "node %s reads %s before anything defines it", n->name, n->in[j]);
    }
    for (int k = 0; k < i; k++)
      ck_assert_msg(strcmp(n->out[0], md->nodes[k].out[0]), "%s defined twice", n->out[0]);
    ck_assert_msg(strcmp(n->out[0], "input"), "a node redefines the input");
  }
  ck_assert_str_eq(md->nodes[md->nnodes - 1].out[0], "logits");
  for (int t = 0; t < md->ninits; t++) ck_assert_msg(used[t], "%s unused", md->inits[t].name);
  free(used);
}

/* The initializers are inc_layer_param's parameters, in order, bit for bit,
 * then `scalars` more (the residuals' scales: check_scale). */
static void check_inits(inc_context *ctx, const inc_layer *layer, const model *md, int scalars)
{
  int n = inc_layer_param_count(layer);
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(md->ninits, n + scalars);
  for (int i = 0; i < n; i++) {
    const char *name;
    inc_tensor *v;
    INC_CK(ctx, inc_layer_param(layer, i, &name, &v, NULL));
    const init *t = &md->inits[i];
    ck_assert_str_eq(t->name, name);
    ck_assert_int_eq(t->dtype, 1);
    ck_assert_int_eq(t->ndim, inc_tensor_ndim(v));
    for (int d = 0; d < t->ndim; d++) ck_assert_int_eq(t->dims[d], inc_tensor_dim(v, d));
    int64_t numel = inc_tensor_numel(v);
    ck_assert_uint_eq(t->raw.n, (size_t)numel * 4);
    float *h = tu_host(v);
    for (int64_t k = 0; k < numel; k++) { /* raw_data is little-endian */
      const unsigned char *b = t->raw.p + 4 * k;
      uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                   (uint32_t)b[3] << 24, w;
      memcpy(&w, &h[k], 4);
      ck_assert_msg(u == w, "%s[%lld] differs", name, (long long)k);
    }
    free(h);
  }
}

static void check_params(inc_context *ctx, const inc_layer *layer, const model *md)
{
  check_inits(ctx, layer, md, 0);
}

/* Initializer i is the float32 scalar v (no dims) called name. */
static void check_scale(const model *md, int i, const char *name, float v)
{
  ck_assert_int_lt(i, md->ninits);
  const init *t = &md->inits[i];
  ck_assert_str_eq(t->name, name);
  ck_assert_int_eq(t->dtype, 1);
  ck_assert_int_eq(t->ndim, 0);
  ck_assert_uint_eq(t->raw.n, 4);
  uint32_t u = (uint32_t)t->raw.p[0] | (uint32_t)t->raw.p[1] << 8 | (uint32_t)t->raw.p[2] << 16 |
               (uint32_t)t->raw.p[3] << 24, w;
  memcpy(&w, &v, 4);
  ck_assert_msg(u == w, "%s is not %g", name, (double)v);
}

/* Node `name` is op(in0[, in1]) -> out. */
static void check_node(const model *md, const char *name, const char *op, const char *in0,
                       const char *in1, const char *out)
{
  const node *n = find_node(md, name);
  ck_assert_str_eq(n->op, op);
  ck_assert_int_eq(n->nin, in1 ? 2 : 1);
  ck_assert_str_eq(n->in[0], in0);
  if (in1) ck_assert_str_eq(n->in[1], in1);
  ck_assert_str_eq(n->out[0], out);
  ck_assert_int_eq(n->nat, 0);
}

/* Dimension a of v: "N"-style parameter names, numbers, or "?" (unnamed). */
static void check_dims(const value *v, const char *const *want, int ndim)
{
  ck_assert_int_eq(v->ndim, ndim);
  for (int a = 0; a < ndim; a++) {
    char got[32];
    if (v->param[a]) snprintf(got, sizeof got, "%s", v->param[a]);
    else if (v->dim[a]) snprintf(got, sizeof got, "%lld", (long long)v->dim[a]);
    else snprintf(got, sizeof got, "?");
    ck_assert_msg(!strcmp(got, want[a]), "%s dim %d is %s, expected %s", v->name, a, got,
                  want[a]);
  }
}

static void check_ints(const node *n, const char *name, int64_t v, int count)
{
  const attr *a = find_attr(n, name);
  ck_assert_msg(a != NULL, "node %s has no %s", n->name, name);
  ck_assert_int_eq(a->type, 7);
  ck_assert_int_eq(a->nints, count);
  for (int i = 0; i < count; i++) ck_assert_int_eq(a->ints[i], v);
}

static void check_int(const node *n, const char *name, int64_t v)
{
  const attr *a = find_attr(n, name);
  ck_assert_msg(a != NULL, "node %s has no %s", n->name, name);
  ck_assert_int_eq(a->type, 2);
  ck_assert_int_eq(a->i, v);
}

static void check_window(const node *n, int k, int s, int p)
{
  check_ints(n, "kernel_shape", k, 2);
  check_ints(n, "strides", s, 2);
  check_ints(n, "pads", p, 4);
}

/* An ints attribute of exactly the count values v. */
static void check_ints_of(const node *n, const char *name, const int64_t *v, int count)
{
  const attr *a = find_attr(n, name);
  ck_assert_msg(a != NULL, "node %s has no %s", n->name, name);
  ck_assert_int_eq(a->type, 7);
  ck_assert_int_eq(a->nints, count);
  for (int i = 0; i < count; i++)
    ck_assert_msg(a->ints[i] == v[i], "node %s: %s[%d] is %lld, expected %lld", n->name, name,
                  i, (long long)a->ints[i], (long long)v[i]);
}

/* A window per axis: kernel (kh, kw), strides (sh, sw), pads [ph, pw, ph,
 * pw] (ONNX: the begins of H and W, then their ends). */
static void check_window_hw(const node *n, int kh, int kw, int sh, int sw, int ph, int pw)
{
  const int64_t k[2] = {kh, kw}, st[2] = {sh, sw}, p[4] = {ph, pw, ph, pw};
  check_ints_of(n, "kernel_shape", k, 2);
  check_ints_of(n, "strides", st, 2);
  check_ints_of(n, "pads", p, 4);
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static char DIR_[96];

static void setup(void)
{
  snprintf(DIR_, sizeof DIR_, "%s/inc-onnx-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(DIR_));
}

static const char *path_in(const char *name)
{
  static char buf[4][400];
  static int k;
  char *p = buf[k++ % 4];
  snprintf(p, 400, "%s/%s", DIR_, name);
  return p;
}

/* The number of entries in the test's directory. */
static int entries(void)
{
  DIR *d = opendir(DIR_);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

static void teardown(void)
{
  DIR *d = opendir(DIR_);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    const char *p = path_in(e->d_name);
    if (rmdir(p)) unlink(p);
  }
  if (d) closedir(d);
  rmdir(DIR_);
}

static void bind(inc_context *ctx, inc_layer *l, int ndim, const int64_t *in)
{
  int64_t od[INC_MAX_DIMS];
  int on;
  INC_CK(ctx, inc_layer_infer_shape(l, ndim, in, &on, od));
}

static void append(inc_context *ctx, inc_layer *seq, inc_layer *l)
{
  INC_CK(ctx, inc_sequential_append(seq, l));
}

/* Appends to seq the layer that the constructor call makes into l_. */
#define ADD(seq, ...)                                                                        \
  do {                                                                                       \
    inc_layer *l_ = NULL;                                                                    \
    INC_CK(ctx, __VA_ARGS__);                                                                \
    append(ctx, (seq), l_);                                                                  \
  } while (0)

#define INCEPTION_OPS                                                                        \
  "Conv", "Relu", "Conv", "Relu", "Conv", "Relu", "Conv", "Relu", "Conv", "Relu", "MaxPool", \
      "Conv", "Relu", "Concat"

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */
/* ------------------------------------------------------------------------ */

START_TEST(test_inception_block)
{
  inc_context *ctx = tu_cpu();
  inc_layer *blk;
  INC_CK(ctx, inc_inception_create(ctx, 4, 4, 8, 2, 4, 4, &blk));
  const int64_t in[4] = {1, 3, 12, 12};
  bind(ctx, blk, 4, in);
  const char *path = path_in("block.onnx");
  INC_CK(ctx, inc_layer_export_onnx(blk, path));
  ck_assert_int_eq(entries(), 1); /* no temporary file left */
  model md;
  read_model(path, &md);
  const char *ops[] = {INCEPTION_OPS};
  check_graph(&md, ops, (int)(sizeof ops / sizeof *ops));
  check_params(ctx, blk, &md);
  const char *in_dims[] = {"N", "3", "H", "W"}, *out_dims[] = {"N", "20", "?", "?"};
  check_dims(&md.in[0], in_dims, 4);
  check_dims(&md.out[0], out_dims, 4);
  /* the branches read the input; the concat joins them in order */
  const node *cat = &md.nodes[md.nnodes - 1];
  ck_assert_str_eq(cat->name, "concat");
  ck_assert_int_eq(cat->nin, 4);
  const char *ends[] = {"p1.1.out", "p2.3.out", "p3.3.out", "p4.2.out"};
  for (int i = 0; i < 4; i++) ck_assert_str_eq(cat->in[i], ends[i]);
  check_int(cat, "axis", 1);
  const node *c = find_node(&md, "p2.2");
  ck_assert_int_eq(c->nin, 3);
  ck_assert_str_eq(c->in[0], "p2.1.out");
  ck_assert_str_eq(c->in[1], "p2.2.weight");
  ck_assert_str_eq(c->in[2], "p2.2.bias");
  check_window(c, 3, 1, 1);
  check_window(find_node(&md, "p3.2"), 5, 1, 2);
  check_window(find_node(&md, "p1.0"), 1, 1, 0);
  const node *mp = find_node(&md, "p4.0");
  ck_assert_str_eq(mp->in[0], "input");
  check_window(mp, 3, 1, 1);
  check_int(mp, "ceil_mode", 0);
  ck_assert_ptr_null(find_attr(find_node(&md, "p1.1"), "axis")); /* Relu: no attributes */

  /* the file does not depend on the input size last used */
  const int64_t in2[4] = {2, 3, 17, 9};
  bind(ctx, blk, 4, in2);
  INC_CK(ctx, inc_layer_export_onnx(blk, path_in("block2.onnx")));
  model md2;
  read_model(path_in("block2.onnx"), &md2);
  ck_assert(md2.size == md.size && !memcmp(md2.file, md.file, md.size));
  free_model(&md2);
  free_model(&md);
  inc_layer_destroy(blk);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_googlenet)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net;
  INC_CK(ctx, inc_googlenet_create(ctx, 10, &net));
  const int64_t in[4] = {1, 1, 96, 96};
  bind(ctx, net, 4, in);
  const char *path = path_in("googlenet.onnx");
  INC_CK(ctx, inc_layer_export_onnx(net, path));
  model md;
  read_model(path, &md);
  const char *ops[] = {"Conv", "Relu", "MaxPool",                      /* b1 */
                       "Conv", "Relu", "Conv", "Relu", "MaxPool",      /* b2 */
                       INCEPTION_OPS, INCEPTION_OPS, "MaxPool",        /* b3 */
                       INCEPTION_OPS, INCEPTION_OPS, INCEPTION_OPS,    /* b4 */
                       INCEPTION_OPS, INCEPTION_OPS, "MaxPool",
                       INCEPTION_OPS, INCEPTION_OPS,                   /* b5 */
                       "GlobalAveragePool", "Flatten", "Gemm"};
  check_graph(&md, ops, (int)(sizeof ops / sizeof *ops));
  check_params(ctx, net, &md);
  const char *in_dims[] = {"N", "1", "H", "W"}, *out_dims[] = {"N", "10"};
  check_dims(&md.in[0], in_dims, 4);
  check_dims(&md.out[0], out_dims, 2);
  check_window(find_node(&md, "0.0"), 7, 2, 3);
  check_window(find_node(&md, "0.2"), 3, 2, 1);
  check_window(find_node(&md, "1.2"), 3, 1, 1);
  check_window(find_node(&md, "3.5"), 3, 2, 1);
  const node *p2 = find_node(&md, "2.0.p2.2");
  ck_assert_str_eq(p2->in[1], "2.0.p2.2.weight");
  ck_assert_str_eq(find_node(&md, "2.1")->out[0], "2.1.out");
  ck_assert_str_eq(find_node(&md, "2.2")->in[0], "2.1.out");
  check_int(find_node(&md, "4.3"), "axis", 1); /* Flatten */
  const node *fc = find_node(&md, "5");
  ck_assert_int_eq(fc->nin, 3);
  ck_assert_str_eq(fc->in[0], "4.3.out");
  ck_assert_str_eq(fc->in[1], "5.weight");
  ck_assert_str_eq(fc->in[2], "5.bias");
  ck_assert_str_eq(fc->out[0], "logits");
  check_int(fc, "transB", 1);
  ck_assert_int_eq(md.inits[md.ninits - 2].dims[0], 10); /* (OUT, F) as in PyTorch */
  ck_assert_int_eq(md.inits[md.ninits - 2].dims[1], 1024);
  free_model(&md);

  /* a subtree: names relative to it, as inc_layer_param gives them */
  inc_layer *b3 = inc_layer_child(net, 2);
  INC_CK(ctx, inc_layer_export_onnx(b3, path_in("b3.onnx")));
  read_model(path_in("b3.onnx"), &md);
  const char *ops3[] = {INCEPTION_OPS, INCEPTION_OPS, "MaxPool"};
  check_graph(&md, ops3, (int)(sizeof ops3 / sizeof *ops3));
  check_params(ctx, b3, &md);
  ck_assert_str_eq(md.inits[0].name, "0.p1.0.weight");
  const char *in3[] = {"N", "192", "H", "W"}, *out3[] = {"N", "480", "?", "?"};
  check_dims(&md.in[0], in3, 4);
  check_dims(&md.out[0], out3, 4);
  free_model(&md);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

/* The input follows the first layer that fixes it: (N, F) for a dense
 * layer, (N, "C", "H", "W") without any parameter; an average pool counts
 * its padding; sizes known after global pooling stay known. */
START_TEST(test_entry_shapes)
{
  inc_context *ctx = tu_cpu();
  inc_layer *mlp;
  INC_CK(ctx, inc_sequential_create(ctx, &mlp));
  ADD(mlp, inc_relu_create(ctx, &l_));
  ADD(mlp, inc_dense_create(ctx, 5, &l_));
  ADD(mlp, inc_relu_create(ctx, &l_));
  ADD(mlp, inc_dense_create(ctx, 3, &l_));
  const int64_t in2[2] = {4, 7};
  bind(ctx, mlp, 2, in2);
  INC_CK(ctx, inc_layer_export_onnx(mlp, path_in("mlp.onnx")));
  model md;
  read_model(path_in("mlp.onnx"), &md);
  const char *ops[] = {"Relu", "Gemm", "Relu", "Gemm"};
  check_graph(&md, ops, 4);
  check_params(ctx, mlp, &md);
  const char *mi[] = {"N", "7"}, *mo[] = {"N", "3"};
  check_dims(&md.in[0], mi, 2);
  check_dims(&md.out[0], mo, 2);
  free_model(&md);

  inc_layer *pools;
  INC_CK(ctx, inc_sequential_create(ctx, &pools));
  ADD(pools, inc_avg_pool2d_create(ctx, 3, 2, 1, &l_));
  ADD(pools, inc_relu_create(ctx, &l_));
  ADD(pools, inc_global_avg_pool2d_create(ctx, &l_));
  ADD(pools, inc_conv2d_create(ctx, 6, 1, 1, 0, &l_));
  const int64_t in4[4] = {1, 2, 9, 9};
  bind(ctx, pools, 4, in4);
  INC_CK(ctx, inc_layer_export_onnx(pools, path_in("pools.onnx")));
  read_model(path_in("pools.onnx"), &md);
  const char *ops2[] = {"AveragePool", "Relu", "GlobalAveragePool", "Conv"};
  check_graph(&md, ops2, 4);
  const node *avg = &md.nodes[0];
  check_window(avg, 3, 2, 1);
  check_int(avg, "count_include_pad", 1);
  check_int(avg, "ceil_mode", 0);
  const char *pi[] = {"N", "2", "H", "W"}, *po[] = {"N", "6", "1", "1"};
  check_dims(&md.in[0], pi, 4);
  check_dims(&md.out[0], po, 4);
  free_model(&md);

  /* no parameters: the channel count stays symbolic, the same in and out */
  inc_layer *relu;
  INC_CK(ctx, inc_relu_create(ctx, &relu));
  INC_CK(ctx, inc_layer_export_onnx(relu, path_in("relu.onnx")));
  read_model(path_in("relu.onnx"), &md);
  const char *ops3[] = {"Relu"};
  check_graph(&md, ops3, 1);
  ck_assert_int_eq(md.ninits, 0);
  ck_assert_str_eq(md.nodes[0].name, "relu");
  const char *ri[] = {"N", "C", "H", "W"}, *ro[] = {"N", "C", "?", "?"};
  check_dims(&md.in[0], ri, 4);
  check_dims(&md.out[0], ro, 4);
  free_model(&md);
  inc_layer_destroy(mlp);
  inc_layer_destroy(pools);
  inc_layer_destroy(relu);
  inc_context_destroy(ctx);
}
END_TEST

/* Residual containers: an Inception-ResNet-A-like block (x + 0.2 * conv of
 * a concat, then a ReLU), a residual of one scaled branch (a Mul), one of
 * an unscaled identity (Identity nodes) and one of three branches; the
 * scales are scalar initializers after the parameters. */
START_TEST(test_residual)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net, *res, *up, *cat, *tower, *l;
  INC_CK(ctx, inc_sequential_create(ctx, &net));
  ADD(net, inc_conv2d_create(ctx, 4, 3, 1, 1, &l_));
  ADD(net, inc_relu_create(ctx, &l_));
  INC_CK(ctx, inc_concat_create(ctx, &cat));
  INC_CK(ctx, inc_sequential_create(ctx, &tower));
  ADD(tower, inc_conv2d_create(ctx, 2, 1, 1, 0, &l_));
  ADD(tower, inc_relu_create(ctx, &l_));
  INC_CK(ctx, inc_concat_add_branch(cat, tower));
  INC_CK(ctx, inc_conv2d_create(ctx, 2, 3, 1, 1, &l));
  INC_CK(ctx, inc_concat_add_branch(cat, l));
  INC_CK(ctx, inc_sequential_create(ctx, &up));
  append(ctx, up, cat);
  ADD(up, inc_conv2d_create(ctx, 4, 1, 1, 0, &l_));
  INC_CK(ctx, inc_residual_create(ctx, &res));
  INC_CK(ctx, inc_identity_create(ctx, &l));
  INC_CK(ctx, inc_residual_add_branch(res, l, 1.0f));
  INC_CK(ctx, inc_residual_add_branch(res, up, 0.2f));
  append(ctx, net, res); /* 2 */
  ADD(net, inc_relu_create(ctx, &l_));
  INC_CK(ctx, inc_residual_create(ctx, &res));
  INC_CK(ctx, inc_conv2d_create(ctx, 4, 3, 1, 1, &l));
  INC_CK(ctx, inc_residual_add_branch(res, l, 0.5f));
  append(ctx, net, res); /* 4 */
  INC_CK(ctx, inc_residual_create(ctx, &res));
  INC_CK(ctx, inc_identity_create(ctx, &l));
  INC_CK(ctx, inc_residual_add_branch(res, l, 1.0f));
  append(ctx, net, res); /* 5 */
  INC_CK(ctx, inc_residual_create(ctx, &res));
  INC_CK(ctx, inc_identity_create(ctx, &l));
  INC_CK(ctx, inc_residual_add_branch(res, l, 1.0f));
  INC_CK(ctx, inc_max_pool2d_create(ctx, 3, 1, 1, &l));
  INC_CK(ctx, inc_residual_add_branch(res, l, -0.5f));
  INC_CK(ctx, inc_identity_create(ctx, &l));
  INC_CK(ctx, inc_residual_add_branch(res, l, 0.3f));
  append(ctx, net, res); /* 6 */
  const int64_t in[4] = {2, 3, 9, 7};
  bind(ctx, net, 4, in);
  INC_CK(ctx, inc_layer_export_onnx(net, path_in("res.onnx")));
  model md;
  read_model(path_in("res.onnx"), &md);
  const char *ops[] = {"Conv", "Relu", "Identity", "Conv", "Relu", "Conv", "Concat", "Conv",
                       "Mul", "Add", "Relu", "Conv", "Mul", "Identity", "Identity",
                       "Identity", "MaxPool", "Identity", "Mul", "Add", "Mul", "Add"};
  check_graph(&md, ops, (int)(sizeof ops / sizeof *ops));
  check_inits(ctx, net, &md, 4);
  int np = inc_layer_param_count(net);
  check_scale(&md, np, "2.scale1", 0.2f);
  check_scale(&md, np + 1, "4.scale0", 0.5f);
  check_scale(&md, np + 2, "6.scale1", -0.5f);
  check_scale(&md, np + 3, "6.scale2", 0.3f);
  check_node(&md, "2.0", "Identity", "1.out", NULL, "2.0.out");
  check_node(&md, "2/mul1", "Mul", "2.1.1.out", "2.scale1", "2/scaled1");
  check_node(&md, "2", "Add", "2.0.out", "2/scaled1", "2.out");
  check_node(&md, "4", "Mul", "4.0.out", "4.scale0", "4.out");
  check_node(&md, "5", "Identity", "5.0.out", NULL, "5.out");
  check_node(&md, "6/mul1", "Mul", "6.1.out", "6.scale1", "6/scaled1");
  check_node(&md, "6/add1", "Add", "6.0.out", "6/scaled1", "6/sum1");
  check_node(&md, "6/mul2", "Mul", "6.2.out", "6.scale2", "6/scaled2");
  check_node(&md, "6", "Add", "6/sum1", "6/scaled2", "logits");
  const char *in_dims[] = {"N", "3", "H", "W"}, *out_dims[] = {"N", "4", "?", "?"};
  check_dims(&md.in[0], in_dims, 4);
  check_dims(&md.out[0], out_dims, 4);
  free_model(&md);

  /* the exported layer itself: a residual root goes by its kind; its
   * branches' channels unknown until a conv fixes them */
  inc_layer *blk = inc_layer_child(net, 6);
  INC_CK(ctx, inc_layer_export_onnx(blk, path_in("blk.onnx")));
  read_model(path_in("blk.onnx"), &md);
  const char *ops6[] = {"Identity", "MaxPool", "Identity", "Mul", "Add", "Mul", "Add"};
  check_graph(&md, ops6, 7);
  ck_assert_int_eq(md.ninits, 2);
  check_scale(&md, 0, "scale1", -0.5f);
  check_node(&md, "residual/mul2", "Mul", "2.out", "scale2", "residual/scaled2");
  check_node(&md, "residual", "Add", "residual/sum1", "residual/scaled2", "logits");
  const char *bi[] = {"N", "C", "H", "W"}, *bo[] = {"N", "C", "?", "?"};
  check_dims(&md.in[0], bi, 4);
  check_dims(&md.out[0], bo, 4);
  free_model(&md);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

/* Convolutions made from descriptors: a window per axis in kernel_shape,
 * strides and pads, and a convolution without bias a Conv of (X, W) only. */
START_TEST(test_rect_convs)
{
  inc_context *ctx = tu_cpu();
  static const int g[3][8] = {/* oc, kh, kw, sh, sw, ph, pw, bias */
                              {4, 1, 7, 1, 1, 0, 3, 0},
                              {5, 7, 1, 1, 1, 3, 0, 1},
                              {3, 3, 1, 2, 1, 1, 0, 0}};
  inc_layer *net;
  INC_CK(ctx, inc_sequential_create(ctx, &net));
  for (int i = 0; i < 3; i++) {
    inc_conv2d_desc d = tu_conv_desc(g[i]);
    ADD(net, inc_conv2d_create_desc(ctx, &d, &l_));
    ADD(net, inc_relu_create(ctx, &l_));
  }
  ADD(net, inc_global_avg_pool2d_create(ctx, &l_));
  ADD(net, inc_flatten_create(ctx, &l_));
  ADD(net, inc_dense_create(ctx, 2, &l_));
  const int64_t in[4] = {2, 3, 9, 8};
  bind(ctx, net, 4, in);
  INC_CK(ctx, inc_layer_export_onnx(net, path_in("rect.onnx")));
  model md;
  read_model(path_in("rect.onnx"), &md);
  const char *ops[] = {"Conv", "Relu", "Conv", "Relu", "Conv", "Relu", "GlobalAveragePool",
                       "Flatten", "Gemm"};
  check_graph(&md, ops, 9);
  check_params(ctx, net, &md); /* 0.weight, 2.weight, 2.bias, 4.weight, 8.weight, 8.bias */
  ck_assert_int_eq(md.ninits, 6);
  static const char *const names[3] = {"0", "2", "4"};
  for (int i = 0; i < 3; i++) {
    const node *c = find_node(&md, names[i]);
    char w[16], b[16];
    snprintf(w, sizeof w, "%s.weight", names[i]);
    snprintf(b, sizeof b, "%s.bias", names[i]);
    ck_assert_int_eq(c->nin, 2 + g[i][7]);
    ck_assert_str_eq(c->in[1], w);
    if (g[i][7]) ck_assert_str_eq(c->in[2], b);
    check_window_hw(c, g[i][1], g[i][2], g[i][3], g[i][4], g[i][5], g[i][6]);
  }
  const char *in_dims[] = {"N", "3", "H", "W"}, *out_dims[] = {"N", "2"};
  check_dims(&md.in[0], in_dims, 4);
  check_dims(&md.out[0], out_dims, 2);
  free_model(&md);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_refusals)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net, *empty;
  INC_CK(ctx, inc_sequential_create(ctx, &net));
  ADD(net, inc_conv2d_create(ctx, 4, 3, 1, 1, &l_));
  ADD(net, inc_flatten_create(ctx, &l_));
  ADD(net, inc_dense_create(ctx, 2, &l_));
  const char *path = path_in("m.onnx");

  ck_assert_int_eq(inc_layer_export_onnx(NULL, path), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_layer_export_onnx(net, NULL), INC_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(inc_context_last_error(ctx), "path"));
  ck_assert_int_eq(inc_layer_export_onnx(net, ""), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_layer_export_onnx(net, path), INC_ERR_STATE);
  ck_assert_ptr_nonnull(strstr(inc_context_last_error(ctx), "not bound"));
  ck_assert_int_eq(entries(), 0);

  const int64_t in[4] = {1, 2, 4, 4};
  bind(ctx, net, 4, in);
  /* a previous file is replaced whole */
  FILE *fp = fopen(path, "wb");
  fputs("previous", fp);
  fclose(fp);
  INC_CK(ctx, inc_layer_export_onnx(net, path));
  model md;
  read_model(path, &md);
  const char *ops[] = {"Conv", "Flatten", "Gemm"};
  check_graph(&md, ops, 3);
  const char *fo[] = {"N", "2"};
  check_dims(&md.out[0], fo, 2);
  free_model(&md);
  ck_assert_int_eq(entries(), 1);

  /* IO errors leave the previous file and nothing else */
  ck_assert_int_eq(mkdir(path_in("dir.onnx"), 0700), 0);
  ck_assert_int_eq(inc_layer_export_onnx(net, path_in("dir.onnx")), INC_ERR_IO);
  ck_assert_ptr_nonnull(strstr(inc_context_last_error(ctx), "dir.onnx"));
  ck_assert_int_eq(inc_layer_export_onnx(net, path_in("no/such/x.onnx")), INC_ERR_IO);
  ck_assert_int_eq(entries(), 2);

  /* an empty container, and layers bound apart that do not fit together */
  INC_CK(ctx, inc_sequential_create(ctx, &empty));
  ck_assert_int_eq(inc_layer_export_onnx(empty, path), INC_ERR_STATE);
  inc_layer *cat, *seq, *c1, *c2;
  INC_CK(ctx, inc_concat_create(ctx, &cat));
  INC_CK(ctx, inc_sequential_create(ctx, &seq));
  INC_CK(ctx, inc_concat_add_branch(cat, seq));
  ck_assert_int_eq(inc_layer_export_onnx(cat, path), INC_ERR_STATE);
  ck_assert_ptr_nonnull(strstr(inc_context_last_error(ctx), "empty"));
  INC_CK(ctx, inc_conv2d_create(ctx, 4, 1, 1, 0, &c1));
  INC_CK(ctx, inc_conv2d_create(ctx, 2, 1, 1, 0, &c2));
  const int64_t in3[4] = {1, 3, 2, 2};
  bind(ctx, c1, 4, in3);
  bind(ctx, c2, 4, in3); /* bound to 3 channels, but c1 gives 4 */
  append(ctx, seq, c1);
  append(ctx, seq, c2);
  ck_assert_int_eq(inc_layer_export_onnx(cat, path), INC_ERR_SHAPE);
  ck_assert_ptr_nonnull(strstr(inc_context_last_error(ctx), "bound to 3 input channels"));
  read_model(path, &md); /* still the good export */
  check_graph(&md, ops, 3);
  free_model(&md);
  ck_assert_int_eq(entries(), 2);
  inc_layer_destroy(cat);
  inc_layer_destroy(empty);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

Suite *inc_test_suite_onnx(void)
{
  Suite *s = suite_create("onnx");
  TCase *tc = tcase_create("export");
  tcase_set_timeout(tc, 60);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_inception_block);
  tcase_add_test(tc, test_entry_shapes);
  tcase_add_test(tc, test_rect_convs);
  tcase_add_test(tc, test_refusals);
  tcase_add_test(tc, test_residual);
  suite_add_tcase(s, tc);
  /* its own case: the 24 MB model takes minutes under valgrind, which
   * skips it (mk/reliability.mk; ASan runs it) */
  TCase *big = tcase_create("googlenet");
  tcase_set_timeout(big, 120);
  tcase_add_checked_fixture(big, setup, teardown);
  tcase_add_test(big, test_googlenet);
  suite_add_tcase(s, big);
  return s;
}
