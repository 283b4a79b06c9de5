/*
 * test_layers.c — every leaf layer kind against a float64 reference.
 *
 * For each case (conv2d in all its paths, also with rectangular kernels,
 * strides and paddings per axis and without bias; max/avg/global-average
 * pooling, ReLU, flatten, dense, identity; batch 1 and 3; odd sizes 7x5 and
 * 9x11; stride 2, padding, kernels larger and smaller than the stride):
 *   - the output shape and the parameter names and shapes;
 *   - forward against the naive float64 reference of tests/naive.h
 *     (inference and training forwards must agree bit for bit);
 *   - backward with dy = r against central differences of L = sum(y * r)
 *     taken on the float64 reference, for dx and every parameter gradient
 *     (inputs are distinct values on a grid, so no max-pool tie or ReLU kink
 *     lies within reach of the difference step);
 *   - a second backward must give the same gradients (they are overwritten,
 *     never accumulated);
 *   - for the layers that are linear in each of their inputs (conv2d, dense,
 *     the average pools, flatten) also central differences of the library's
 *     own float32 forward, at a sample of coordinates.
 * Ties in max-pool windows (first maximum wins) and padding that must count
 * as -infinity have their own tests.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"
#include "naive.h"

enum { K_CONV, K_MAXP, K_AVGP, K_GAP, K_RELU, K_FLAT, K_DENSE, K_ID };

typedef struct lcase {
  const char *what;
  int kind;
  int oc, k, s, p; /* conv: filters, kernel, stride, padding; pools: k, s (0 = k), p;
                      dense: oc = out features */
  int ndim;
  int64_t in[4];
} lcase;

/* A conv2d made by inc_conv2d_create_desc: its lcase's k, s, p are along H,
 * these along W, and nobias says it has no bias. */
typedef struct lrect {
  int kw, sw, pw, nobias;
} lrect;
typedef struct rcase {
  lcase c;
  lrect r;
} rcase;

#define IMG(n, c, h, w) 4, { n, c, h, w }
/* a conv2d through its descriptor: (kh, sh, ph), (kw, sw, pw) per axis */
#define RCONV(what, oc, kh, kw, sh, sw, ph, pw, bias, n, c, h, w)                             \
  {{what, K_CONV, oc, kh, sh, ph, IMG(n, c, h, w)}, {kw, sw, pw, !(bias)}}

static const lcase cases[] = {
    /* conv2d: 1x1 stride 1 skips im2col (N = 1: no axis swap either) */
    {"conv 1x1 s1 N=1", K_CONV, 4, 1, 1, 0, IMG(1, 5, 7, 5)},
    {"conv 1x1 s1 N=3", K_CONV, 4, 1, 1, 0, IMG(3, 5, 9, 11)},
    {"conv 1x1 s1 N=3 7x5", K_CONV, 3, 1, 1, 0, IMG(3, 2, 7, 5)},
    {"conv 3x3 p1 N=1", K_CONV, 4, 3, 1, 1, IMG(1, 3, 7, 5)},
    {"conv 3x3 p1 N=3", K_CONV, 4, 3, 1, 1, IMG(3, 3, 9, 11)},
    {"conv 5x5 p2 N=3", K_CONV, 3, 5, 1, 2, IMG(3, 2, 9, 11)},
    {"conv 5x5 p2 N=1", K_CONV, 3, 5, 1, 2, IMG(1, 2, 7, 5)},
    {"conv 7x7 s2 p3 N=1", K_CONV, 3, 7, 2, 3, IMG(1, 2, 9, 11)},
    {"conv 7x7 s2 p3 N=3", K_CONV, 3, 7, 2, 3, IMG(3, 2, 7, 5)},
    {"conv 3x3 s2 p0 odd", K_CONV, 2, 3, 2, 0, IMG(3, 3, 9, 11)},
    {"conv 3x3 s2 p1 odd", K_CONV, 2, 3, 2, 1, IMG(1, 2, 7, 5)},
    {"conv 4x4 s3 p2 (k > s)", K_CONV, 2, 4, 3, 2, IMG(3, 2, 9, 11)},
    {"conv 2x2 s3 (k < s)", K_CONV, 2, 2, 3, 0, IMG(3, 2, 7, 5)},
    {"conv 1x1 s2 (im2col path)", K_CONV, 3, 1, 2, 0, IMG(3, 2, 7, 5)},
    {"conv 1x1 p1 (im2col path)", K_CONV, 2, 1, 1, 1, IMG(1, 3, 7, 5)},
    {"conv 5x5 to 1x1", K_CONV, 2, 5, 1, 0, IMG(3, 2, 5, 5)},
    /* taps that meet only padding: the convolution runs the used ones */
    {"conv 3x3 p1 on 1x1 (used taps 1x1)", K_CONV, 4, 3, 1, 1, IMG(3, 5, 1, 1)},
    {"conv 5x5 p2 on 2x2 (used taps 3x3)", K_CONV, 3, 5, 1, 2, IMG(3, 2, 2, 2)},
    {"conv 5x5 p2 on 1x1 N=1 (used taps 1x1)", K_CONV, 3, 5, 1, 2, IMG(1, 3, 1, 1)},
    {"conv 3x3 s3 p1 on 2x2 (one output)", K_CONV, 2, 3, 3, 1, IMG(3, 2, 2, 2)},
    /* max pooling */
    {"maxpool 3 s1 p1 N=1", K_MAXP, 0, 3, 1, 1, IMG(1, 3, 7, 5)},
    {"maxpool 3 s1 p1 N=3", K_MAXP, 0, 3, 1, 1, IMG(3, 2, 9, 11)},
    {"maxpool 3 s2 p1 N=3", K_MAXP, 0, 3, 2, 1, IMG(3, 2, 7, 5)},
    {"maxpool 3 s2 p1 N=1", K_MAXP, 0, 3, 2, 1, IMG(1, 3, 9, 11)},
    {"maxpool 2 s2 p0 N=3", K_MAXP, 0, 2, 2, 0, IMG(3, 2, 7, 5)},
    {"maxpool 2 s2 p0 N=1", K_MAXP, 0, 2, 2, 0, IMG(1, 2, 9, 11)},
    {"maxpool 3 stride=kernel", K_MAXP, 0, 3, 0, 0, IMG(1, 2, 9, 11)},
    {"maxpool 2 s1 p1", K_MAXP, 0, 2, 1, 1, IMG(3, 1, 7, 5)},
    /* average pooling, padding counted in the divisor */
    {"avgpool 3 s1 p1 N=3", K_AVGP, 0, 3, 1, 1, IMG(3, 2, 7, 5)},
    {"avgpool 3 s2 p1 N=1", K_AVGP, 0, 3, 2, 1, IMG(1, 3, 9, 11)},
    {"avgpool 3 s2 p1 N=3", K_AVGP, 0, 3, 2, 1, IMG(3, 2, 7, 5)},
    {"avgpool 2 s2 p1", K_AVGP, 0, 2, 2, 1, IMG(3, 2, 7, 5)},
    {"avgpool 5 s2 p2", K_AVGP, 0, 5, 2, 2, IMG(1, 2, 9, 11)},
    {"avgpool 2 s2 p0 odd", K_AVGP, 0, 2, 0, 0, IMG(3, 1, 7, 5)},
    /* global average pooling */
    {"gap N=1", K_GAP, 0, 0, 0, 0, IMG(1, 3, 7, 5)},
    {"gap N=3", K_GAP, 0, 0, 0, 0, IMG(3, 4, 9, 11)},
    /* ReLU, any shape */
    {"relu 4d N=3", K_RELU, 0, 0, 0, 0, IMG(3, 2, 7, 5)},
    {"relu 4d N=1", K_RELU, 0, 0, 0, 0, IMG(1, 3, 9, 11)},
    {"relu 2d", K_RELU, 0, 0, 0, 0, 2, {3, 10}},
    /* flatten */
    {"flatten 4d N=3", K_FLAT, 0, 0, 0, 0, IMG(3, 2, 7, 5)},
    {"flatten 4d N=1", K_FLAT, 0, 0, 0, 0, IMG(1, 3, 9, 11)},
    {"flatten 3d", K_FLAT, 0, 0, 0, 0, 3, {3, 4, 5}},
    /* dense */
    {"dense 7->5 N=1", K_DENSE, 5, 0, 0, 0, 2, {1, 7}},
    {"dense 7->5 N=3", K_DENSE, 5, 0, 0, 0, 2, {3, 7}},
    {"dense 13->4 N=3", K_DENSE, 4, 0, 0, 0, 2, {3, 13}},
    {"dense 6->1 N=3", K_DENSE, 1, 0, 0, 0, 2, {3, 6}},
    /* identity, any shape (alone: the caller gets copies of x and dy) */
    {"identity 4d N=3", K_ID, 0, 0, 0, 0, IMG(3, 2, 7, 5)},
    {"identity 4d N=1", K_ID, 0, 0, 0, 0, IMG(1, 3, 9, 11)},
    {"identity 2d", K_ID, 0, 0, 0, 0, 2, {3, 10}},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* conv2d through its descriptor: rectangular kernels (Inception v3's
 * factorised 7x7 and 3x3), strides and paddings per axis, convolutions
 * without bias (the 1x1 ones skip im2col) */
static const rcase rect_cases[] = {
    RCONV("conv 1x7 p(0,3) N=3", 3, 1, 7, 1, 1, 0, 3, 1, 3, 2, 7, 9),
    RCONV("conv 7x1 p(3,0) N=1", 3, 7, 1, 1, 1, 3, 0, 1, 1, 2, 9, 7),
    RCONV("conv 3x1 p(1,0) N=3", 2, 3, 1, 1, 1, 1, 0, 1, 3, 3, 7, 5),
    RCONV("conv 1x3 s(2,1) p(0,1)", 2, 1, 3, 2, 1, 0, 1, 1, 3, 2, 9, 11),
    RCONV("conv 3x5 s(1,2) p(0,2)", 2, 3, 5, 1, 2, 0, 2, 1, 1, 3, 7, 9),
    RCONV("conv 3x3 p1 no bias N=3", 4, 3, 3, 1, 1, 1, 1, 0, 3, 3, 7, 5),
    RCONV("conv 1x1 no bias N=3", 3, 1, 1, 1, 1, 0, 0, 0, 3, 4, 5, 7),
    RCONV("conv 1x1 no bias N=1", 3, 1, 1, 1, 1, 0, 0, 0, 1, 4, 5, 7),
    RCONV("conv 1x7 p(0,3) no bias", 3, 1, 7, 1, 1, 0, 3, 0, 3, 2, 5, 9),
    RCONV("conv 5x3 s(2,3) p(2,0) no bias", 2, 5, 3, 2, 3, 2, 0, 0, 3, 2, 9, 11),
    RCONV("conv 1x7 p(0,3) on 3x2 (used taps 1x3)", 3, 1, 7, 1, 1, 0, 3, 1, 3, 2, 3, 2),
    RCONV("conv 5x3 s(2,1) p(2,1) on 2x1 no bias (taps 2x1)", 2, 5, 3, 2, 1, 2, 1, 0, 3, 2, 2, 1),
    RCONV("conv 5x1 s(3,1) p(4,0) on 1x2 (gaps: whole)", 2, 5, 1, 3, 1, 4, 0, 1, 3, 2, 1, 2),
};
#define NRECT ((int)(sizeof rect_cases / sizeof rect_cases[0]))

static const char *kind_name(int kind)
{
  static const char *names[] = {"conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool2d",
                                "relu",   "flatten",    "dense",      "identity"};
  return names[kind];
}

/* The window of a conv case per axis (r: NULL for a square one). */
static nv_win conv_win(const lcase *c, const lrect *r)
{
  if (!r) return nv_square(c->k, c->s, c->p);
  nv_win q = {{c->k, r->kw}, {c->s, r->sw}, {c->p, r->pw}};
  return q;
}

/* A conv case through inc_conv2d_create_desc. */
static inc_status make_conv_desc(inc_context *ctx, const lcase *c, const lrect *r,
                                 inc_layer **out)
{
  const nv_win q = conv_win(c, r);
  inc_conv2d_desc d;
  memset(&d, 0, sizeof d);
  d.size = sizeof d;
  d.out_channels = c->oc;
  d.kernel_h = q.k[0];
  d.kernel_w = q.k[1];
  d.stride_h = q.s[0];
  d.stride_w = q.s[1];
  d.pad_h = q.p[0];
  d.pad_w = q.p[1];
  d.bias = !r->nobias;
  return inc_conv2d_create_desc(ctx, &d, out);
}

static inc_layer *make_layer(inc_context *ctx, const lcase *c, const lrect *r)
{
  inc_layer *l = NULL;
  switch (c->kind) {
  case K_CONV:
    if (r) INC_CK(ctx, make_conv_desc(ctx, c, r, &l));
    else INC_CK(ctx, inc_conv2d_create(ctx, c->oc, c->k, c->s, c->p, &l));
    break;
  case K_MAXP: INC_CK(ctx, inc_max_pool2d_create(ctx, c->k, c->s, c->p, &l)); break;
  case K_AVGP: INC_CK(ctx, inc_avg_pool2d_create(ctx, c->k, c->s, c->p, &l)); break;
  case K_GAP: INC_CK(ctx, inc_global_avg_pool2d_create(ctx, &l)); break;
  case K_RELU: INC_CK(ctx, inc_relu_create(ctx, &l)); break;
  case K_FLAT: INC_CK(ctx, inc_flatten_create(ctx, &l)); break;
  case K_DENSE: INC_CK(ctx, inc_dense_create(ctx, c->oc, &l)); break;
  case K_ID: INC_CK(ctx, inc_identity_create(ctx, &l)); break;
  }
  ck_assert_ptr_nonnull(l);
  return l;
}

static int stride_of(const lcase *c) { return c->s ? c->s : c->k; }

/* The output shape the reference expects. */
static int ref_shape(const lcase *c, const lrect *r, int64_t *od)
{
  const int64_t *d = c->in;
  switch (c->kind) {
  case K_CONV: {
    const nv_win q = conv_win(c, r);
    od[0] = d[0];
    od[1] = c->oc;
    od[2] = nv_out(d[2], q.k[0], q.s[0], q.p[0]);
    od[3] = nv_out(d[3], q.k[1], q.s[1], q.p[1]);
    return 4;
  }
  case K_MAXP:
  case K_AVGP:
    od[0] = d[0];
    od[1] = d[1];
    od[2] = nv_out(d[2], c->k, stride_of(c), c->p);
    od[3] = nv_out(d[3], c->k, stride_of(c), c->p);
    return 4;
  case K_GAP:
    od[0] = d[0];
    od[1] = d[1];
    od[2] = od[3] = 1;
    return 4;
  case K_RELU:
  case K_ID:
    memcpy(od, d, (size_t)c->ndim * sizeof *od);
    return c->ndim;
  case K_FLAT:
    od[0] = d[0];
    od[1] = nv_numel(c->ndim - 1, d + 1);
    return 2;
  default: /* K_DENSE */
    od[0] = d[0];
    od[1] = c->oc;
    return 2;
  }
}

/* Everything the float64 loss needs. */
typedef struct refstate {
  const lcase *c;
  const lrect *rect;
  double *x, *w, *b, *y, *r;
  int64_t ny;
} refstate;

static void ref_forward(const lcase *c, const lrect *r, double *y, const double *x,
                        const double *w, const double *b)
{
  const int64_t *d = c->in;
  switch (c->kind) {
  case K_CONV: nv_conv2d_win(y, x, w, b, d[0], d[1], d[2], d[3], c->oc, conv_win(c, r)); break;
  case K_MAXP:
    nv_maxpool(y, NULL, x, d[0], d[1], d[2], d[3], c->k, stride_of(c), c->p, NULL, 0);
    break;
  case K_AVGP: nv_avgpool(y, x, d[0], d[1], d[2], d[3], c->k, stride_of(c), c->p); break;
  case K_GAP: nv_gap(y, x, d[0] * d[1], d[2] * d[3]); break;
  case K_RELU: nv_relu(y, x, nv_numel(c->ndim, d), NULL); break;
  case K_FLAT: memcpy(y, x, (size_t)nv_numel(c->ndim, d) * sizeof *y); break;
  case K_DENSE: nv_dense(y, x, w, b, d[0], d[1], c->oc); break;
  case K_ID: memcpy(y, x, (size_t)nv_numel(c->ndim, d) * sizeof *y); break;
  }
}

static double ref_loss(void *state)
{
  refstate *st = (refstate *)state;
  ref_forward(st->c, st->rect, st->y, st->x, st->w, st->b);
  return nv_dot(st->y, st->r, st->ny);
}

/* L = sum(y * r) of the library's inference forward, in double. */
static double lib_loss(inc_layer *l, const inc_tensor *x, const float *r, int64_t ny)
{
  const inc_tensor *y = NULL;
  INC_CK(inc_tensor_context(x), inc_layer_forward(l, x, 0, &y));
  float *yh = tu_host(y);
  double s = 0.0;
  for (int64_t i = 0; i < ny; i++) s += (double)yh[i] * r[i];
  free(yh);
  return s;
}

/* Central differences of the library's own float32 forward for a tensor t
 * (the input or a parameter) whose host copy is v, at `samples` coordinates
 * spread over it, against the analytic gradient g. Only for layers linear in
 * t, where a large step is exact but for float rounding. */
static double lib_fd(inc_layer *l, const inc_tensor *x, inc_tensor *t, float *v, int64_t n,
                     const float *r, int64_t ny, const float *g, const char *what,
                     const char *which)
{
  const float eps = 0.25f;
  const int samples = 12;
  double worst = 0.0;
  for (int j = 0; j < samples && j < n; j++) {
    int64_t i = n <= samples ? j : (int64_t)j * n / samples + (j * 7) % (n / samples);
    float save = v[i], hi = save + eps, lo = save - eps;
    v[i] = hi;
    INC_CK(inc_tensor_context(t), inc_tensor_copy_from_host(t, v, n));
    double lp = lib_loss(l, x, r, ny);
    v[i] = lo;
    INC_CK(inc_tensor_context(t), inc_tensor_copy_from_host(t, v, n));
    double lm = lib_loss(l, x, r, ny);
    v[i] = save;
    INC_CK(inc_tensor_context(t), inc_tensor_copy_from_host(t, v, n));
    double fd = (lp - lm) / ((double)hi - (double)lo);
    double err = fabs(fd - g[i]);
    ck_assert_msg(err <= 2e-3 + 1e-3 * fabs(fd),
                  "%s: float32 finite difference of %s[%lld] = %.7g, backward gave %.7g", what,
                  which, (long long)i, fd, (double)g[i]);
    if (err > worst) worst = err;
  }
  return worst;
}

static int is_linear(int kind)
{
  return kind == K_CONV || kind == K_DENSE || kind == K_AVGP || kind == K_GAP || kind == K_FLAT ||
         kind == K_ID;
}

/* One case: c, and r for a conv2d made through its descriptor (else NULL);
 * seed tells the cases' data apart. */
static void run_case(const lcase *c, const lrect *r, int seed)
{
  const char *what = c->what;
  inc_context *ctx = tu_cpu();
  inc_layer *l = make_layer(ctx, c, r);
  ck_assert_str_eq(inc_layer_kind(l), kind_name(c->kind));

  /* shapes and binding */
  int ondim = 0;
  int64_t od[INC_MAX_DIMS], rd[INC_MAX_DIMS];
  INC_CK(ctx, inc_layer_infer_shape(l, c->ndim, c->in, &ondim, od));
  int rndim = ref_shape(c, r, rd);
  ck_assert_int_eq(ondim, rndim);
  for (int i = 0; i < ondim; i++)
    ck_assert_msg(od[i] == rd[i], "%s: output dim %d is %lld, expected %lld", what, i,
                  (long long)od[i], (long long)rd[i]);
  ck_assert_int_eq(inc_layer_is_bound(l), 1);
  int64_t nx = nv_numel(c->ndim, c->in), ny = nv_numel(ondim, od);

  /* parameters: known random values (a conv without bias has its weight
   * only) */
  int has_params = c->kind == K_CONV || c->kind == K_DENSE;
  const int np = has_params ? 2 - (r && r->nobias) : 0;
  ck_assert_int_eq(inc_layer_param_count(l), np);
  inc_tensor *pv[2] = {NULL, NULL}, *pg[2] = {NULL, NULL};
  float *pf[2] = {NULL, NULL};
  double *pd[2] = {NULL, NULL};
  int64_t pn[2] = {0, 0};
  if (has_params) {
    const nv_win q = conv_win(c, r);
    int64_t wd[4] = {c->oc, c->in[1], q.k[0], q.k[1]};
    int wndim = c->kind == K_CONV ? 4 : 2;
    for (int i = 0; i < np; i++) {
      const char *name = NULL;
      INC_CK(ctx, inc_layer_param(l, i, &name, &pv[i], &pg[i]));
      ck_assert_str_eq(name, i == 0 ? "weight" : "bias");
      pn[i] = inc_tensor_numel(pv[i]);
      ck_assert_int_eq(inc_tensor_numel(pg[i]), pn[i]);
      if (i == 0) {
        ck_assert_int_eq(inc_tensor_ndim(pv[i]), wndim);
        for (int d = 0; d < wndim; d++) ck_assert_int_eq(inc_tensor_dim(pv[i], d), wd[d]);
      } else {
        ck_assert_int_eq(inc_tensor_ndim(pv[i]), 1);
        ck_assert_int_eq(pn[i], c->oc);
      }
      pf[i] = (float *)malloc((size_t)pn[i] * sizeof(float));
      ck_assert_ptr_nonnull(pf[i]);
      tu_fill(pf[i], pn[i], 100 + 10 * (uint64_t)seed + (uint64_t)i, -0.5f, 0.5f);
      INC_CK(ctx, inc_tensor_copy_from_host(pv[i], pf[i], pn[i]));
      pd[i] = nv_to_double(pf[i], pn[i]);
    }
  }

  /* input and the loss weights r (= dy) */
  float *xf = (float *)malloc((size_t)nx * sizeof(float));
  float *rf = (float *)malloc((size_t)ny * sizeof(float));
  ck_assert(xf && rf);
  nv_distinct(xf, nx, 7 + (uint64_t)seed, 1.0f);
  tu_fill(rf, ny, 900 + (uint64_t)seed, -1.0f, 1.0f);
  inc_tensor *x = tu_tensor(ctx, c->ndim, c->in, xf);
  inc_tensor *dy = tu_tensor(ctx, ondim, od, rf);

  /* forward: inference and training agree, and match the reference */
  const inc_tensor *y = NULL;
  INC_CK(ctx, inc_layer_forward(l, x, 0, &y));
  float *y0 = tu_host(y);
  INC_CK(ctx, inc_layer_forward(l, x, 1, &y));
  ck_assert_int_eq(inc_tensor_ndim(y), ondim);
  for (int i = 0; i < ondim; i++) ck_assert_int_eq(inc_tensor_dim(y, i), od[i]);
  float *y1 = tu_host(y);
  ck_assert_msg(!memcmp(y0, y1, (size_t)ny * sizeof(float)),
                "%s: inference and training forwards differ", what);
  refstate st = {c, r, nv_to_double(xf, nx), pd[0], pd[1], NULL, nv_to_double(rf, ny), ny};
  st.y = (double *)malloc((size_t)ny * sizeof(double));
  ck_assert_ptr_nonnull(st.y);
  ref_forward(c, r, st.y, st.x, st.w, st.b);
  nv_note(0, nv_check(y1, st.y, ny, 1e-5, 1e-4, what, "y"));

  /* backward against float64 central differences */
  const inc_tensor *dx = NULL;
  INC_CK(ctx, inc_layer_backward(l, dy, &dx));
  ck_assert_int_eq(inc_tensor_ndim(dx), c->ndim);
  for (int i = 0; i < c->ndim; i++) ck_assert_int_eq(inc_tensor_dim(dx, i), c->in[i]);
  float *dxf = tu_host(dx);
  float *gf[2] = {NULL, NULL};
  for (int i = 0; i < np; i++) gf[i] = tu_host(pg[i]);

  const double eps = 1e-6;
  double *g = (double *)malloc((size_t)(nx > 2000 ? nx : 2000) * sizeof(double));
  ck_assert_ptr_nonnull(g);
  nv_fd(g, st.x, nx, eps, ref_loss, &st);
  nv_note(1, nv_check(dxf, g, nx, 1e-4, 1e-3, what, "dx"));
  for (int i = 0; i < np; i++) {
    ck_assert(pn[i] <= 2000);
    nv_fd(g, pd[i], pn[i], eps, ref_loss, &st);
    nv_note(1, nv_check(gf[i], g, pn[i], 1e-4, 1e-3, what, i ? "dbias" : "dweight"));
  }

  /* a second backward overwrites the gradients with the same values */
  INC_CK(ctx, inc_layer_backward(l, dy, &dx));
  float *dx2 = tu_host(dx);
  ck_assert_msg(!memcmp(dx2, dxf, (size_t)nx * sizeof(float)), "%s: dx changed", what);
  for (int i = 0; i < np; i++) {
    float *again = tu_host(pg[i]);
    ck_assert_msg(!memcmp(again, gf[i], (size_t)pn[i] * sizeof(float)),
                  "%s: parameter gradient %d accumulated or changed on a second backward",
                  what, i);
    free(again);
  }

  /* float32 differences of the library itself, for the linear layers */
  if (is_linear(c->kind)) {
    nv_note(2, lib_fd(l, x, x, xf, nx, rf, ny, dxf, what, "x"));
    for (int i = 0; i < np; i++)
      nv_note(2, lib_fd(l, x, pv[i], pf[i], pn[i], rf, ny, gf[i], what, i ? "bias" : "weight"));
  }
  nv_case_done();

  for (int i = 0; i < 2; i++) {
    free(pf[i]);
    free(pd[i]);
    free(gf[i]);
  }
  free(g);
  free(dx2);
  free(dxf);
  free(st.x);
  free(st.y);
  free(st.r);
  free(y0);
  free(y1);
  free(xf);
  free(rf);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  inc_layer_destroy(l);
  inc_context_destroy(ctx);
}

START_TEST(test_layer_case)
{
  run_case(&cases[_i], NULL, _i);
}
END_TEST

START_TEST(test_rect_conv_case)
{
  run_case(&rect_cases[_i].c, &rect_cases[_i].r, NCASES + _i);
}
END_TEST

/* Max pooling over windows full of ties: the first maximum in row-major
 * window order takes the whole gradient (PyTorch's CPU rule), also where
 * windows overlap. */
START_TEST(test_maxpool_ties)
{
  static const int geo[][3] = {{3, 1, 1}, {3, 2, 1}, {2, 2, 0}, {2, 1, 1}};
  inc_context *ctx = tu_cpu();
  for (size_t gi = 0; gi < sizeof geo / sizeof geo[0]; gi++) {
    int k = geo[gi][0], s = geo[gi][1], p = geo[gi][2];
    int64_t in[4] = {2, 2, 7, 5};
    int64_t oh = nv_out(in[2], k, s, p), ow = nv_out(in[3], k, s, p);
    int64_t out[4] = {2, 2, oh, ow};
    int64_t nx = nv_numel(4, in), ny = nv_numel(4, out);
    float *xf = (float *)malloc((size_t)nx * sizeof(float));
    float *rf = (float *)malloc((size_t)ny * sizeof(float));
    ck_assert(xf && rf);
    tu_fill(xf, nx, 31 + gi, 0.0f, 3.0f);
    for (int64_t i = 0; i < nx; i++) xf[i] = floorf(xf[i]) - 1.0f; /* -1, 0 or 1 */
    tu_fill(rf, ny, 41 + gi, -1.0f, 1.0f);
    inc_layer *l = NULL;
    INC_CK(ctx, inc_max_pool2d_create(ctx, k, s, p, &l));
    inc_tensor *x = tu_tensor(ctx, 4, in, xf), *dy = tu_tensor(ctx, 4, out, rf);
    const inc_tensor *y = NULL, *dx = NULL;
    INC_CK(ctx, inc_layer_forward(l, x, 1, &y));
    INC_CK(ctx, inc_layer_backward(l, dy, &dx));
    float *yh = tu_host(y), *dxh = tu_host(dx);
    double *xd = nv_to_double(xf, nx), *yr = (double *)malloc((size_t)ny * sizeof(double));
    double *dxr = (double *)calloc((size_t)nx, sizeof(double));
    int64_t *arg = (int64_t *)malloc((size_t)ny * sizeof(int64_t));
    ck_assert(yr && dxr && arg);
    nv_maxpool(yr, arg, xd, in[0], in[1], in[2], in[3], k, s, p, NULL, 0);
    for (int64_t i = 0; i < ny; i++) dxr[arg[i]] += rf[i];
    char what[64];
    snprintf(what, sizeof what, "maxpool ties k%d s%d p%d", k, s, p);
    nv_note(0, nv_check(yh, yr, ny, 0.0, 0.0, what, "y"));
    nv_note(1, nv_check(dxh, dxr, nx, 1e-6, 1e-6, what, "dx"));
    nv_case_done();
    free(yh);
    free(dxh);
    free(xd);
    free(yr);
    free(dxr);
    free(arg);
    free(xf);
    free(rf);
    inc_tensor_destroy(x);
    inc_tensor_destroy(dy);
    inc_layer_destroy(l);
  }
  inc_context_destroy(ctx);
}
END_TEST

/* Padding is -infinity for max pooling, not zero: an all-negative input must
 * give negative maxima at the borders, and no gradient may go anywhere but
 * to real pixels. Average pooling, in contrast, counts the padded zeros. */
START_TEST(test_pool_padding_semantics)
{
  inc_context *ctx = tu_cpu();
  int64_t in[4] = {1, 1, 3, 3}, nx = 9;
  float xf[9];
  for (int i = 0; i < 9; i++) xf[i] = -1.0f - (float)i; /* -1 .. -9 */
  inc_tensor *x = tu_tensor(ctx, 4, in, xf);
  inc_layer *mp = NULL, *ap = NULL;
  INC_CK(ctx, inc_max_pool2d_create(ctx, 3, 2, 1, &mp));
  INC_CK(ctx, inc_avg_pool2d_create(ctx, 3, 2, 1, &ap));
  const inc_tensor *y = NULL, *dx = NULL;
  INC_CK(ctx, inc_layer_forward(mp, x, 1, &y));
  ck_assert_int_eq(inc_tensor_numel(y), 4); /* (3 + 2 - 3) / 2 + 1 = 2 */
  float ym[4];
  INC_CK(ctx, inc_tensor_copy_to_host(y, ym, 4));
  /* windows rows/cols [-1, 1] and [1, 3]: maxima x[0,0], x[0,1], x[1,0], x[1,1] */
  ck_assert_float_eq(ym[0], -1.0f);
  ck_assert_float_eq(ym[1], -2.0f);
  ck_assert_float_eq(ym[2], -4.0f);
  ck_assert_float_eq(ym[3], -5.0f);
  int64_t od[4] = {1, 1, 2, 2};
  float ones[4] = {1, 1, 1, 1};
  inc_tensor *dy = tu_tensor(ctx, 4, od, ones);
  INC_CK(ctx, inc_layer_backward(mp, dy, &dx));
  float dm[9];
  INC_CK(ctx, inc_tensor_copy_to_host(dx, dm, nx));
  const float dm_ref[9] = {1, 1, 0, 1, 1, 0, 0, 0, 0};
  for (int i = 0; i < 9; i++) ck_assert_float_eq(dm[i], dm_ref[i]);
  /* average pooling: window [-1,1]x[-1,1] holds x[0..1][0..1] and 5 zeros */
  INC_CK(ctx, inc_layer_forward(ap, x, 1, &y));
  float ya[4];
  INC_CK(ctx, inc_tensor_copy_to_host(y, ya, 4));
  ck_assert_float_eq_tol(ya[0], (-1.0f - 2.0f - 4.0f - 5.0f) / 9.0f, 1e-6f);
  ck_assert_float_eq_tol(ya[3], (-5.0f - 6.0f - 8.0f - 9.0f) / 9.0f, 1e-6f);
  INC_CK(ctx, inc_layer_backward(ap, dy, &dx));
  float da[9];
  INC_CK(ctx, inc_tensor_copy_to_host(dx, da, nx));
  /* the centre pixel is in all four windows, corners in one */
  ck_assert_float_eq_tol(da[4], 4.0f / 9.0f, 1e-6f);
  ck_assert_float_eq_tol(da[0], 1.0f / 9.0f, 1e-6f);
  ck_assert_float_eq_tol(da[1], 2.0f / 9.0f, 1e-6f);
  nv_case_done();
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  inc_layer_destroy(mp);
  inc_layer_destroy(ap);
  inc_context_destroy(ctx);
}
END_TEST

/* ReLU at exactly zero passes no gradient (PyTorch: grad where x > 0). */
START_TEST(test_relu_at_zero)
{
  inc_context *ctx = tu_cpu();
  int64_t d[2] = {1, 5};
  const float xf[5] = {-2.0f, -0.0f, 0.0f, 1e-30f, 3.0f};
  const float ones[5] = {1, 1, 1, 1, 1};
  inc_tensor *x = tu_tensor(ctx, 2, d, xf), *dy = tu_tensor(ctx, 2, d, ones);
  inc_layer *l = NULL;
  INC_CK(ctx, inc_relu_create(ctx, &l));
  const inc_tensor *y = NULL, *dx = NULL;
  INC_CK(ctx, inc_layer_forward(l, x, 1, &y));
  INC_CK(ctx, inc_layer_backward(l, dy, &dx));
  float yh[5], dh[5];
  INC_CK(ctx, inc_tensor_copy_to_host(y, yh, 5));
  INC_CK(ctx, inc_tensor_copy_to_host(dx, dh, 5));
  const float yr[5] = {0, 0, 0, 1e-30f, 3.0f}, dr[5] = {0, 0, 0, 1, 1};
  for (int i = 0; i < 5; i++) {
    ck_assert_float_eq(yh[i], yr[i]);
    ck_assert_float_eq(dh[i], dr[i]);
  }
  nv_case_done();
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  inc_layer_destroy(l);
  inc_context_destroy(ctx);
}
END_TEST

/* A layer bound once keeps working at other spatial sizes (only channels
 * are bound) and its gradients stay right: conv 3x3 p1 bound at 7x5, then
 * run at 9x11 and at 7x5 with batch 3, against the reference each time. */
START_TEST(test_conv_rebind_sizes)
{
  inc_context *ctx = tu_cpu();
  inc_layer *l = NULL;
  INC_CK(ctx, inc_conv2d_create(ctx, 3, 3, 1, 1, &l));
  const int64_t shapes[3][4] = {{1, 2, 7, 5}, {1, 2, 9, 11}, {3, 2, 7, 5}};
  float wf[54], bf[3];
  tu_fill(wf, 54, 5, -0.5f, 0.5f);
  tu_fill(bf, 3, 6, -0.5f, 0.5f);
  double *wd = nv_to_double(wf, 54), *bd = nv_to_double(bf, 3);
  for (int t = 0; t < 3; t++) {
    const int64_t *in = shapes[t];
    int ondim;
    int64_t od[INC_MAX_DIMS];
    INC_CK(ctx, inc_layer_infer_shape(l, 4, in, &ondim, od));
    if (t == 0) {
      inc_tensor *w = NULL, *b = NULL;
      INC_CK(ctx, inc_layer_param(l, 0, NULL, &w, NULL));
      INC_CK(ctx, inc_layer_param(l, 1, NULL, &b, NULL));
      INC_CK(ctx, inc_tensor_copy_from_host(w, wf, 54));
      INC_CK(ctx, inc_tensor_copy_from_host(b, bf, 3));
    }
    int64_t nx = nv_numel(4, in), ny = nv_numel(4, od);
    float *xf = (float *)malloc((size_t)nx * sizeof(float));
    float *rf = (float *)malloc((size_t)ny * sizeof(float));
    double *yr = (double *)malloc((size_t)ny * sizeof(double));
    ck_assert(xf && rf && yr);
    tu_fill(xf, nx, 50 + (uint64_t)t, -1.0f, 1.0f);
    tu_fill(rf, ny, 60 + (uint64_t)t, -1.0f, 1.0f);
    inc_tensor *x = tu_tensor(ctx, 4, in, xf), *dy = tu_tensor(ctx, 4, od, rf);
    const inc_tensor *y = NULL, *dx = NULL;
    INC_CK(ctx, inc_layer_forward(l, x, 1, &y));
    INC_CK(ctx, inc_layer_backward(l, dy, &dx));
    float *yh = tu_host(y);
    double *xd = nv_to_double(xf, nx);
    nv_conv2d(yr, xd, wd, bd, in[0], in[1], in[2], in[3], 3, 3, 1, 1);
    nv_note(0, nv_check(yh, yr, ny, 1e-5, 1e-4, "conv rebind", "y"));
    /* db = sum of dy over n and positions, exactly */
    inc_tensor *gb = NULL;
    INC_CK(ctx, inc_layer_param(l, 1, NULL, NULL, &gb));
    float *gbh = tu_host(gb);
    double dbr[3] = {0, 0, 0};
    for (int64_t i = 0; i < ny; i++) dbr[(i / (od[2] * od[3])) % 3] += rf[i];
    nv_note(1, nv_check(gbh, dbr, 3, 1e-4, 1e-4, "conv rebind", "dbias"));
    free(gbh);
    free(yh);
    free(xd);
    free(xf);
    free(rf);
    free(yr);
    inc_tensor_destroy(x);
    inc_tensor_destroy(dy);
  }
  nv_case_done();
  free(wd);
  free(bd);
  inc_layer_destroy(l);
  inc_context_destroy(ctx);
}
END_TEST

Suite *inc_test_suite_layers(void)
{
  static const char *const labels[] = {"max |fwd err|", "max |grad err| vs float64 FD",
                                       "max |grad err| vs float32 FD of the library", NULL};
  nv_stats_init("layers", labels);
  Suite *s = suite_create("layers");
  TCase *tc = tcase_create("leaf");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, test_layer_case, 0, NCASES);
  tcase_add_loop_test(tc, test_rect_conv_case, 0, NRECT);
  tcase_add_test(tc, test_maxpool_ties);
  tcase_add_test(tc, test_pool_padding_semantics);
  tcase_add_test(tc, test_relu_at_zero);
  tcase_add_test(tc, test_conv_rebind_sizes);
  suite_add_tcase(s, tc);
  return s;
}
