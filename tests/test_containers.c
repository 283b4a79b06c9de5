/*
 * test_containers.c — sequential, concat, the Inception block, residual.
 *
 *   - sequential conv -> relu -> maxpool -> flatten -> dense: forward
 *     against a float64 reference, every gradient against central
 *     differences of L = sum(y * r) on that reference (batch 3 at 7x5 and
 *     batch 1 at 9x11);
 *   - concat with three branches of different channel counts (and with two
 *     dense branches on (N, F) inputs): y is the channel concatenation of
 *     the branches run on their own with the same parameters, dx the sum of
 *     their input gradients, parameter gradients those of the branches;
 *   - a concat nested in a concat, against the float64 reference;
 *   - inc_inception_create(ctx, 3, 2, 4, 2, 3, 2) on (2, 3, 6, 5): output
 *     channels, branch names p1..p4, parameter names and shapes, forward and
 *     every gradient against the float64 reference;
 *   - a concat whose branches disagree in H/W (or in rank) is INC_ERR_SHAPE
 *     naming both branches, and binds nothing;
 *   - networks described once (a small spec tree) and built twice, as a
 *     library tree and as a float64 reference: chains that cross every
 *     junction of activation layouts inside a tree (conv2d writes
 *     channel-major; pooling, ReLU and concat keep their input's layout;
 *     flatten returns to (N, F)), the conv+ReLU fusion of a sequential,
 *     nested sequentials, mixed-layout concats, and a small GoogLeNet
 *     (7x7 s2 stem, 1x1 and 3x3 convs, two Inception blocks, avg/max
 *     pooling, a concat, GAP, flatten, dense) at batch 1, 2 and 3; forward
 *     and every gradient against the reference;
 *   - the same for residual sums and identities: Inception-ResNet-A-like
 *     blocks (x + 0.2 * conv(concat(...)), ReLU) on the caller's input,
 *     after a stem and two in a row, branches in both layouts (the first
 *     term scaled, or swapped in), an identity of the caller's x next to a
 *     channel-major branch, a residual of identities only, one inside a
 *     concat branch and one inside another residual, a single scaled
 *     branch, identities in a sequential and alone, C = 1 and N = 1;
 *   - 3x3 and 5x5 convolutions on 1x1 and 2x2 maps (only some taps meet
 *     the input), alone, chained and as concat branches;
 *   - a residual whose branches disagree (H/W, or channels) is
 *     INC_ERR_SHAPE naming both and binds nothing; its summary line shows
 *     its scales.
 *
 * Finite differences are taken on float64 references with a step of 1e-6;
 * each test picks (deterministically) the first data seed for which every
 * ReLU input and every max-pool runner-up lies at least 1e-4 from its kink,
 * so no difference straddles one and float32 rounding cannot flip a branch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"
#include "naive.h"

#define FD_EPS 1e-6
#define MARGIN 1e-4

static float *falloc(int64_t n)
{
  float *p = (float *)malloc((size_t)(n ? n : 1) * sizeof(float));
  ck_assert_ptr_nonnull(p);
  return p;
}

static double *dalloc(int64_t n)
{
  double *p = (double *)calloc((size_t)(n ? n : 1), sizeof(double));
  ck_assert_ptr_nonnull(p);
  return p;
}

/* Checks that parameter i of l is called name and has the given dims. */
static inc_tensor *param_named(inc_context *ctx, inc_layer *l, int i, const char *name,
                               int ndim, const int64_t *dims, inc_tensor **grad)
{
  const char *got = NULL;
  inc_tensor *v = NULL;
  INC_CK(ctx, inc_layer_param(l, i, &got, &v, grad));
  ck_assert_str_eq(got, name);
  ck_assert_int_eq(inc_tensor_ndim(v), ndim);
  for (int d = 0; d < ndim; d++)
    ck_assert_msg(inc_tensor_dim(v, d) == dims[d], "%s: dim %d is %lld, expected %lld", name, d,
                  (long long)inc_tensor_dim(v, d), (long long)dims[d]);
  return v;
}

/* ---- a generic float64 model: parameters + input + loss ------------------ */

#define MAX_PARAMS 48

typedef struct model {
  int np;
  double *p[MAX_PARAMS];
  int64_t pn[MAX_PARAMS];
  double *x, *r, *y;
  int64_t nx, ny;
  int64_t in[4];
  double mrelu, mpool; /* kink margins of the last forward */
  void (*forward)(struct model *m);
  double *tmp[8];   /* scratch for the forward */
  const void *spec; /* the tree, for spec_forward */
} model;

static double model_loss(void *state)
{
  model *m = (model *)state;
  m->forward(m);
  return nv_dot(m->y, m->r, m->ny);
}

/* Runs the library layer l on the model's data (parameters copied in),
 * checks y against the model, backward with dy = r, and every gradient
 * against float64 central differences. */
static void check_against_model(inc_context *ctx, inc_layer *l, model *m, const char *what)
{
  int64_t od[INC_MAX_DIMS];
  int ondim;
  INC_CK(ctx, inc_layer_infer_shape(l, 4, m->in, &ondim, od));
  ck_assert_int_eq(nv_numel(ondim, od), m->ny);
  ck_assert_int_eq(inc_layer_param_count(l), m->np);
  inc_tensor *grads[MAX_PARAMS];
  for (int i = 0; i < m->np; i++) {
    inc_tensor *v = NULL;
    INC_CK(ctx, inc_layer_param(l, i, NULL, &v, &grads[i]));
    ck_assert_int_eq(inc_tensor_numel(v), m->pn[i]);
    float *f = falloc(m->pn[i]);
    for (int64_t j = 0; j < m->pn[i]; j++) f[j] = (float)m->p[i][j];
    INC_CK(ctx, inc_tensor_copy_from_host(v, f, m->pn[i]));
    free(f);
  }
  float *xf = falloc(m->nx), *rf = falloc(m->ny);
  for (int64_t j = 0; j < m->nx; j++) xf[j] = (float)m->x[j];
  for (int64_t j = 0; j < m->ny; j++) rf[j] = (float)m->r[j];
  inc_tensor *x = tu_tensor(ctx, 4, m->in, xf), *dy = tu_tensor(ctx, ondim, od, rf);
  const inc_tensor *y = NULL, *dx = NULL;
  /* a forward of other data first leaves the arena dirty: no step may
   * count on memory it did not write (a residual's sum) */
  for (int64_t j = 0; j < m->nx; j++) xf[j] = 1.0f - 2.0f * xf[j];
  inc_tensor *x2 = tu_tensor(ctx, 4, m->in, xf);
  INC_CK(ctx, inc_layer_forward(l, x2, 1, &y));
  inc_tensor_destroy(x2);
  INC_CK(ctx, inc_layer_forward(l, x, 1, &y));
  float *yh = tu_host(y);
  m->forward(m);
  nv_note(0, nv_check(yh, m->y, m->ny, 1e-5, 1e-4, what, "y"));
  INC_CK(ctx, inc_layer_backward(l, dy, &dx));
  float *dxh = tu_host(dx);
  double *g = dalloc(m->nx);
  nv_fd(g, m->x, m->nx, FD_EPS, model_loss, m);
  nv_note(1, nv_check(dxh, g, m->nx, 1e-4, 1e-3, what, "dx"));
  free(g);
  for (int i = 0; i < m->np; i++) {
    const char *name = NULL;
    INC_CK(ctx, inc_layer_param(l, i, &name, NULL, NULL));
    float *gh = tu_host(grads[i]);
    g = dalloc(m->pn[i]);
    nv_fd(g, m->p[i], m->pn[i], FD_EPS, model_loss, m);
    nv_note(1, nv_check(gh, g, m->pn[i], 1e-4, 1e-3, what, name));
    free(g);
    free(gh);
  }
  nv_case_done();
  free(yh);
  free(dxh);
  free(xf);
  free(rf);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
}

static void model_free(model *m)
{
  for (int i = 0; i < m->np; i++) free(m->p[i]);
  for (int i = 0; i < 8; i++) free(m->tmp[i]);
  free(m->x);
  free(m->r);
  free(m->y);
}

/* Fills the model's data from seed; parameters in [-0.5, 0.5). */
static void model_fill(model *m, uint64_t seed)
{
  float *f = falloc(m->nx);
  nv_distinct(f, m->nx, seed, 1.0f);
  for (int64_t j = 0; j < m->nx; j++) m->x[j] = f[j];
  free(f);
  f = falloc(m->ny);
  tu_fill(f, m->ny, seed * 31 + 1, -1.0f, 1.0f);
  for (int64_t j = 0; j < m->ny; j++) m->r[j] = f[j];
  free(f);
  for (int i = 0; i < m->np; i++) {
    f = falloc(m->pn[i]);
    tu_fill(f, m->pn[i], seed * 131 + 7 * (uint64_t)i + 3, -0.5f, 0.5f);
    for (int64_t j = 0; j < m->pn[i]; j++) m->p[i][j] = f[j];
    free(f);
  }
}

/* Picks the first seed whose data keeps every kink at least MARGIN away. */
static void model_pick_seed(model *m, const char *what)
{
  for (uint64_t seed = 1; seed <= 200; seed++) {
    model_fill(m, seed);
    m->mrelu = m->mpool = INFINITY;
    m->forward(m);
    if (m->mrelu >= MARGIN && m->mpool >= MARGIN) return;
  }
  ck_abort_msg("%s: no seed keeps the data away from ReLU/max-pool kinks", what);
}

/* ---- sequential: conv 3x3 p1 (4) -> relu -> maxpool 3 s2 p1 -> flatten -> dense 5 ---- */

static void seq_forward(model *m)
{
  int64_t n = m->in[0], c = m->in[1], h = m->in[2], w = m->in[3];
  int64_t oh = nv_out(h, 3, 2, 1), ow = nv_out(w, 3, 2, 1);
  nv_conv2d(m->tmp[0], m->x, m->p[0], m->p[1], n, c, h, w, 4, 3, 1, 1);
  nv_relu(m->tmp[1], m->tmp[0], n * 4 * h * w, &m->mrelu);
  nv_maxpool(m->tmp[2], NULL, m->tmp[1], n, 4, h, w, 3, 2, 1, &m->mpool, 1);
  nv_dense(m->y, m->tmp[2], m->p[2], m->p[3], n, 4 * oh * ow, 5);
}

static void run_sequential(const int64_t *in, const char *what)
{
  inc_context *ctx = tu_cpu();
  inc_layer *seq = NULL, *l = NULL;
  INC_CK(ctx, inc_sequential_create(ctx, &seq));
  INC_CK(ctx, inc_conv2d_create(ctx, 4, 3, 1, 1, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_relu_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_max_pool2d_create(ctx, 3, 2, 1, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_flatten_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_dense_create(ctx, 5, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  ck_assert_int_eq(inc_layer_child_count(seq), 5);

  int64_t oh = nv_out(in[2], 3, 2, 1), ow = nv_out(in[3], 3, 2, 1), f = 4 * oh * ow;
  int ondim;
  int64_t od[INC_MAX_DIMS];
  INC_CK(ctx, inc_layer_infer_shape(seq, 4, in, &ondim, od));
  ck_assert_int_eq(ondim, 2);
  ck_assert_int_eq(od[0], in[0]);
  ck_assert_int_eq(od[1], 5);
  const int64_t w0[4] = {4, in[1], 3, 3}, b0[1] = {4}, w4[2] = {5, f}, b4[1] = {5};
  param_named(ctx, seq, 0, "0.weight", 4, w0, NULL);
  param_named(ctx, seq, 1, "0.bias", 1, b0, NULL);
  param_named(ctx, seq, 2, "4.weight", 2, w4, NULL);
  param_named(ctx, seq, 3, "4.bias", 1, b4, NULL);

  model m;
  memset(&m, 0, sizeof m);
  memcpy(m.in, in, sizeof m.in);
  m.nx = nv_numel(4, in);
  m.ny = in[0] * 5;
  m.np = 4;
  m.pn[0] = 4 * in[1] * 9;
  m.pn[1] = 4;
  m.pn[2] = 5 * f;
  m.pn[3] = 5;
  for (int i = 0; i < 4; i++) m.p[i] = dalloc(m.pn[i]);
  m.x = dalloc(m.nx);
  m.r = dalloc(m.ny);
  m.y = dalloc(m.ny);
  m.tmp[0] = dalloc(in[0] * 4 * in[2] * in[3]);
  m.tmp[1] = dalloc(in[0] * 4 * in[2] * in[3]);
  m.tmp[2] = dalloc(in[0] * f);
  m.forward = seq_forward;
  model_pick_seed(&m, what);
  check_against_model(ctx, seq, &m, what);
  model_free(&m);
  inc_layer_destroy(seq);
  inc_context_destroy(ctx);
}

START_TEST(test_sequential_n3)
{
  const int64_t in[4] = {3, 2, 7, 5};
  run_sequential(in, "sequential (3, 2, 7, 5)");
}
END_TEST

START_TEST(test_sequential_n1)
{
  const int64_t in[4] = {1, 2, 9, 11};
  run_sequential(in, "sequential (1, 2, 9, 11)");
}
END_TEST

/* ---- concat against its branches run on their own ------------------------ */

/* Copies every parameter value of src into dst (same structure). */
static void copy_params(inc_context *ctx, inc_layer *dst, const inc_layer *src)
{
  ck_assert_int_eq(inc_layer_param_count(dst), inc_layer_param_count(src));
  for (int i = 0; i < inc_layer_param_count(src); i++) {
    inc_tensor *a = NULL, *b = NULL;
    INC_CK(ctx, inc_layer_param(src, i, NULL, &a, NULL));
    INC_CK(ctx, inc_layer_param(dst, i, NULL, &b, NULL));
    float *h = tu_host(a);
    INC_CK(ctx, inc_tensor_copy_from_host(b, h, inc_tensor_numel(b)));
    free(h);
  }
}

/* Sets every parameter of l to random values in [-0.5, 0.5). */
static void randomize_params(inc_context *ctx, inc_layer *l, uint64_t seed)
{
  for (int i = 0; i < inc_layer_param_count(l); i++) {
    inc_tensor *v = NULL;
    INC_CK(ctx, inc_layer_param(l, i, NULL, &v, NULL));
    int64_t n = inc_tensor_numel(v);
    float *h = falloc(n);
    tu_fill(h, n, seed + (uint64_t)i, -0.5f, 0.5f);
    INC_CK(ctx, inc_tensor_copy_from_host(v, h, n));
    free(h);
  }
}

/* The concat `cat` of nb branches and standalone copies `alone` of them:
 * checks y, dx and the parameter gradients. in is (N, C, ...) of rank ndim. */
static void check_concat_vs_branches(inc_context *ctx, inc_layer *cat, inc_layer **alone, int nb,
                                     int ndim, const int64_t *in, const char *what)
{
  int ondim;
  int64_t od[INC_MAX_DIMS];
  INC_CK(ctx, inc_layer_infer_shape(cat, ndim, in, &ondim, od));
  randomize_params(ctx, cat, 77);
  int64_t cb[8], ctot = 0, p = 1;
  int pfirst[8], np = 0;
  for (int b = 0; b < nb; b++) {
    int bnd;
    int64_t bd[INC_MAX_DIMS];
    INC_CK(ctx, inc_layer_infer_shape(alone[b], ndim, in, &bnd, bd));
    ck_assert_int_eq(bnd, ondim);
    cb[b] = bd[1];
    ctot += cb[b];
    pfirst[b] = np;
    np += inc_layer_param_count(alone[b]);
    /* give the standalone copy the branch's parameters */
    inc_layer *br = inc_layer_child(cat, b);
    ck_assert_ptr_nonnull(br);
    copy_params(ctx, alone[b], br);
  }
  ck_assert_int_eq(np, inc_layer_param_count(cat));
  ck_assert_int_eq(od[1], ctot);
  for (int d = 2; d < ondim; d++) p *= od[d];
  int64_t n = in[0], nx = nv_numel(ndim, in), ny = nv_numel(ondim, od);

  float *xf = falloc(nx), *rf = falloc(ny);
  tu_fill(xf, nx, 5, -1.0f, 1.0f);
  tu_fill(rf, ny, 6, -1.0f, 1.0f);
  inc_tensor *x = tu_tensor(ctx, ndim, in, xf), *dy = tu_tensor(ctx, ondim, od, rf);
  const inc_tensor *y = NULL, *dx = NULL;
  INC_CK(ctx, inc_layer_forward(cat, x, 1, &y));
  float *yh = tu_host(y);
  INC_CK(ctx, inc_layer_backward(cat, dy, &dx));
  float *dxh = tu_host(dx);
  double *dxsum = dalloc(nx);

  int64_t off = 0;
  for (int b = 0; b < nb; b++) {
    int64_t bd[INC_MAX_DIMS];
    memcpy(bd, od, sizeof bd);
    bd[1] = cb[b];
    int64_t nb_el = nv_numel(ondim, bd);
    /* the branch's slice of y and of dy */
    double *ys = dalloc(nb_el);
    float *dys = falloc(nb_el);
    for (int64_t ni = 0; ni < n; ni++)
      for (int64_t c = 0; c < cb[b]; c++)
        for (int64_t q = 0; q < p; q++) {
          ys[(ni * cb[b] + c) * p + q] = yh[(ni * ctot + off + c) * p + q];
          dys[(ni * cb[b] + c) * p + q] = rf[(ni * ctot + off + c) * p + q];
        }
    const inc_tensor *yb = NULL, *dxb = NULL;
    INC_CK(ctx, inc_layer_forward(alone[b], x, 1, &yb));
    float *ybh = tu_host(yb);
    /* same code path on the same data: the slice must match to rounding */
    nv_note(0, nv_check(ybh, ys, nb_el, 1e-6, 1e-6, what, "branch slice of y"));
    inc_tensor *dyb = tu_tensor(ctx, ondim, bd, dys);
    INC_CK(ctx, inc_layer_backward(alone[b], dyb, &dxb));
    float *dxbh = tu_host(dxb);
    for (int64_t i = 0; i < nx; i++) dxsum[i] += dxbh[i];
    for (int i = 0; i < inc_layer_param_count(alone[b]); i++) {
      inc_tensor *ga = NULL, *gc = NULL;
      const char *name = NULL;
      INC_CK(ctx, inc_layer_param(alone[b], i, NULL, NULL, &ga));
      INC_CK(ctx, inc_layer_param(cat, pfirst[b] + i, &name, NULL, &gc));
      float *gah = tu_host(ga), *gch = tu_host(gc);
      double *gad = nv_to_double(gah, inc_tensor_numel(ga));
      nv_note(1, nv_check(gch, gad, inc_tensor_numel(ga), 1e-6, 1e-6, what, name));
      free(gah);
      free(gch);
      free(gad);
    }
    off += cb[b];
    free(ys);
    free(dys);
    free(ybh);
    free(dxbh);
    inc_tensor_destroy(dyb);
  }
  nv_note(1, nv_check(dxh, dxsum, nx, 1e-6, 1e-6, what, "dx (sum of the branches' dx)"));
  nv_case_done();
  free(dxsum);
  free(yh);
  free(dxh);
  free(xf);
  free(rf);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
}

/* conv 1x1 (2 channels) | conv 3x3 p1 (3) + relu | maxpool 3 s1 p1 (C = 3):
 * 8 channels. Built twice: once as branches, once standalone. */
static void make_branches(inc_context *ctx, inc_layer **out)
{
  inc_layer *l = NULL;
  INC_CK(ctx, inc_conv2d_create(ctx, 2, 1, 1, 0, &out[0]));
  INC_CK(ctx, inc_sequential_create(ctx, &out[1]));
  INC_CK(ctx, inc_conv2d_create(ctx, 3, 3, 1, 1, &l));
  INC_CK(ctx, inc_sequential_append(out[1], l));
  INC_CK(ctx, inc_relu_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(out[1], l));
  INC_CK(ctx, inc_max_pool2d_create(ctx, 3, 1, 1, &out[2]));
}

START_TEST(test_concat_three_branches)
{
  inc_context *ctx = tu_cpu();
  inc_layer *cat = NULL, *br[3], *alone[3];
  INC_CK(ctx, inc_concat_create(ctx, &cat));
  make_branches(ctx, br);
  for (int b = 0; b < 3; b++) INC_CK(ctx, inc_concat_add_branch(cat, br[b]));
  make_branches(ctx, alone);
  ck_assert_str_eq(inc_layer_kind(cat), "concat");
  ck_assert_int_eq(inc_layer_child_count(cat), 3);
  const int64_t in1[4] = {3, 3, 7, 5}, in2[4] = {1, 3, 9, 11};
  int ondim;
  int64_t od[INC_MAX_DIMS];
  INC_CK(ctx, inc_layer_infer_shape(cat, 4, in1, &ondim, od));
  ck_assert_int_eq(ondim, 4);
  ck_assert_int_eq(od[0], 3);
  ck_assert_int_eq(od[1], 8);
  ck_assert_int_eq(od[2], 7);
  ck_assert_int_eq(od[3], 5);
  const char *name = NULL;
  INC_CK(ctx, inc_layer_param(cat, 2, &name, NULL, NULL));
  ck_assert_str_eq(name, "1.0.weight");
  check_concat_vs_branches(ctx, cat, alone, 3, 4, in1, "concat of 3 branches (3, 3, 7, 5)");
  check_concat_vs_branches(ctx, cat, alone, 3, 4, in2, "concat of 3 branches (1, 3, 9, 11)");
  for (int b = 0; b < 3; b++) inc_layer_destroy(alone[b]);
  inc_layer_destroy(cat);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_concat_dense_branches)
{
  inc_context *ctx = tu_cpu();
  inc_layer *cat = NULL, *a = NULL, *b = NULL, *alone[2];
  INC_CK(ctx, inc_concat_create(ctx, &cat));
  INC_CK(ctx, inc_dense_create(ctx, 3, &a));
  INC_CK(ctx, inc_dense_create(ctx, 2, &b));
  INC_CK(ctx, inc_concat_add_branch(cat, a));
  INC_CK(ctx, inc_concat_add_branch(cat, b));
  INC_CK(ctx, inc_dense_create(ctx, 3, &alone[0]));
  INC_CK(ctx, inc_dense_create(ctx, 2, &alone[1]));
  const int64_t in[2] = {4, 6};
  check_concat_vs_branches(ctx, cat, alone, 2, 2, in, "concat of 2 dense branches (4, 6)");
  for (int i = 0; i < 2; i++) inc_layer_destroy(alone[i]);
  inc_layer_destroy(cat);
  inc_context_destroy(ctx);
}
END_TEST

/* ---- concat nested in a concat ---------------------------------------------------
 * outer = concat(inner = concat(conv 1x1 (2), relu), conv 3x3 p1 (3) + relu)
 * on (2, 2, 7, 5): 2 + 2 + 3 = 7 channels. */

static void nested_forward(model *m)
{
  int64_t n = m->in[0], c = m->in[1], h = m->in[2], w = m->in[3], hw = h * w;
  double *a = m->tmp[0], *rl = m->tmp[1], *pre = m->tmp[2], *bq = m->tmp[3];
  nv_conv2d(a, m->x, m->p[0], m->p[1], n, c, h, w, 2, 1, 1, 0);
  nv_relu(rl, m->x, n * c * hw, &m->mrelu);
  nv_conv2d(pre, m->x, m->p[2], m->p[3], n, c, h, w, 3, 3, 1, 1);
  nv_relu(bq, pre, n * 3 * hw, &m->mrelu);
  int64_t ct = 2 + c + 3;
  for (int64_t ni = 0; ni < n; ni++)
    for (int64_t q = 0; q < hw; q++) {
      for (int64_t k = 0; k < 2; k++) m->y[(ni * ct + k) * hw + q] = a[(ni * 2 + k) * hw + q];
      for (int64_t k = 0; k < c; k++) m->y[(ni * ct + 2 + k) * hw + q] = rl[(ni * c + k) * hw + q];
      for (int64_t k = 0; k < 3; k++)
        m->y[(ni * ct + 2 + c + k) * hw + q] = bq[(ni * 3 + k) * hw + q];
    }
}

START_TEST(test_concat_nested)
{
  inc_context *ctx = tu_cpu();
  inc_layer *outer = NULL, *inner = NULL, *l = NULL, *br = NULL;
  INC_CK(ctx, inc_concat_create(ctx, &outer));
  INC_CK(ctx, inc_concat_create(ctx, &inner));
  INC_CK(ctx, inc_conv2d_create(ctx, 2, 1, 1, 0, &l));
  INC_CK(ctx, inc_concat_add_branch(inner, l));
  INC_CK(ctx, inc_relu_create(ctx, &l));
  INC_CK(ctx, inc_concat_add_branch(inner, l));
  INC_CK(ctx, inc_concat_add_branch(outer, inner));
  INC_CK(ctx, inc_sequential_create(ctx, &br));
  INC_CK(ctx, inc_conv2d_create(ctx, 3, 3, 1, 1, &l));
  INC_CK(ctx, inc_sequential_append(br, l));
  INC_CK(ctx, inc_relu_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(br, l));
  INC_CK(ctx, inc_concat_add_branch(outer, br));

  const int64_t in[4] = {2, 2, 7, 5};
  model m;
  memset(&m, 0, sizeof m);
  memcpy(m.in, in, sizeof m.in);
  m.nx = nv_numel(4, in);
  m.ny = 2 * 7 * 35;
  m.np = 4;
  m.pn[0] = 2 * 2;
  m.pn[1] = 2;
  m.pn[2] = 3 * 2 * 9;
  m.pn[3] = 3;
  for (int i = 0; i < 4; i++) m.p[i] = dalloc(m.pn[i]);
  m.x = dalloc(m.nx);
  m.r = dalloc(m.ny);
  m.y = dalloc(m.ny);
  for (int i = 0; i < 4; i++) m.tmp[i] = dalloc(2 * 3 * 35);
  m.forward = nested_forward;
  model_pick_seed(&m, "nested concat");
  check_against_model(ctx, outer, &m, "nested concat (2, 2, 7, 5)");
  const char *name = NULL;
  INC_CK(ctx, inc_layer_param(outer, 2, &name, NULL, NULL));
  ck_assert_str_eq(name, "1.0.weight");
  INC_CK(ctx, inc_layer_param(outer, 1, &name, NULL, NULL));
  ck_assert_str_eq(name, "0.0.bias");
  model_free(&m);
  inc_layer_destroy(outer);
  inc_context_destroy(ctx);
}
END_TEST

/* ---- the Inception block ----------------------------------------------------------- */

enum { C1 = 3, C2R = 2, C2 = 4, C3R = 2, C3 = 3, C4 = 2 };

static void inception_forward(model *m)
{
  int64_t n = m->in[0], c = m->in[1], h = m->in[2], w = m->in[3], hw = h * w;
  double **t = m->tmp;
  /* t[0] pre-activation scratch, t[1..4] path outputs, t[5] reduce, t[6] pooled */
  nv_conv2d(t[0], m->x, m->p[0], m->p[1], n, c, h, w, C1, 1, 1, 0);
  nv_relu(t[1], t[0], n * C1 * hw, &m->mrelu);
  nv_conv2d(t[0], m->x, m->p[2], m->p[3], n, c, h, w, C2R, 1, 1, 0);
  nv_relu(t[5], t[0], n * C2R * hw, &m->mrelu);
  nv_conv2d(t[0], t[5], m->p[4], m->p[5], n, C2R, h, w, C2, 3, 1, 1);
  nv_relu(t[2], t[0], n * C2 * hw, &m->mrelu);
  nv_conv2d(t[0], m->x, m->p[6], m->p[7], n, c, h, w, C3R, 1, 1, 0);
  nv_relu(t[5], t[0], n * C3R * hw, &m->mrelu);
  nv_conv2d(t[0], t[5], m->p[8], m->p[9], n, C3R, h, w, C3, 5, 1, 2);
  nv_relu(t[3], t[0], n * C3 * hw, &m->mrelu);
  nv_maxpool(t[6], NULL, m->x, n, c, h, w, 3, 1, 1, &m->mpool, 0);
  nv_conv2d(t[0], t[6], m->p[10], m->p[11], n, c, h, w, C4, 1, 1, 0);
  nv_relu(t[4], t[0], n * C4 * hw, &m->mrelu);
  const int64_t cs[4] = {C1, C2, C3, C4}, ct = C1 + C2 + C3 + C4;
  int64_t off = 0;
  for (int b = 0; b < 4; b++) {
    for (int64_t ni = 0; ni < n; ni++)
      for (int64_t k = 0; k < cs[b]; k++)
        for (int64_t q = 0; q < hw; q++)
          m->y[(ni * ct + off + k) * hw + q] = t[1 + b][(ni * cs[b] + k) * hw + q];
    off += cs[b];
  }
}

START_TEST(test_inception_block)
{
  inc_context *ctx = tu_cpu();
  inc_layer *blk = NULL;
  INC_CK(ctx, inc_inception_create(ctx, C1, C2R, C2, C3R, C3, C4, &blk));
  ck_assert_str_eq(inc_layer_kind(blk), "concat");
  ck_assert_int_eq(inc_layer_child_count(blk), 4);
  static const char *const pnames[4] = {"p1", "p2", "p3", "p4"};
  static const int nchild[4] = {2, 4, 4, 3};
  for (int b = 0; b < 4; b++) {
    inc_layer *br = inc_layer_child(blk, b);
    ck_assert_str_eq(inc_layer_name(br), pnames[b]);
    ck_assert_str_eq(inc_layer_kind(br), "sequential");
    ck_assert_int_eq(inc_layer_child_count(br), nchild[b]);
    ck_assert_ptr_eq(inc_layer_parent(br), blk);
  }
  ck_assert_str_eq(inc_layer_kind(inc_layer_child(inc_layer_child(blk, 3), 0)), "max_pool2d");
  ck_assert_str_eq(inc_layer_kind(inc_layer_child(inc_layer_child(blk, 2), 2)), "conv2d");
  ck_assert_str_eq(inc_layer_kind(inc_layer_child(inc_layer_child(blk, 2), 3)), "relu");

  const int64_t in[4] = {2, 3, 6, 5};
  int ondim;
  int64_t od[INC_MAX_DIMS];
  INC_CK(ctx, inc_layer_infer_shape(blk, 4, in, &ondim, od));
  ck_assert_int_eq(ondim, 4);
  ck_assert_int_eq(od[0], 2);
  ck_assert_int_eq(od[1], C1 + C2 + C3 + C4);
  ck_assert_int_eq(od[2], 6);
  ck_assert_int_eq(od[3], 5);

  /* parameter names and shapes, depth first */
  static const struct {
    const char *name;
    int ndim;
    int64_t d[4];
  } pp[12] = {
      {"p1.0.weight", 4, {C1, 3, 1, 1}},  {"p1.0.bias", 1, {C1}},
      {"p2.0.weight", 4, {C2R, 3, 1, 1}}, {"p2.0.bias", 1, {C2R}},
      {"p2.2.weight", 4, {C2, C2R, 3, 3}}, {"p2.2.bias", 1, {C2}},
      {"p3.0.weight", 4, {C3R, 3, 1, 1}}, {"p3.0.bias", 1, {C3R}},
      {"p3.2.weight", 4, {C3, C3R, 5, 5}}, {"p3.2.bias", 1, {C3}},
      {"p4.1.weight", 4, {C4, 3, 1, 1}},  {"p4.1.bias", 1, {C4}},
  };
  ck_assert_int_eq(inc_layer_param_count(blk), 12);
  model m;
  memset(&m, 0, sizeof m);
  int64_t total = 0;
  for (int i = 0; i < 12; i++) {
    param_named(ctx, blk, i, pp[i].name, pp[i].ndim, pp[i].d, NULL);
    m.pn[i] = nv_numel(pp[i].ndim, pp[i].d);
    total += m.pn[i];
  }
  ck_assert_int_eq(inc_layer_param_numel(blk), total);
  ck_assert_int_eq(total, 265);

  memcpy(m.in, in, sizeof m.in);
  m.np = 12;
  m.nx = nv_numel(4, in);
  m.ny = nv_numel(4, od);
  for (int i = 0; i < 12; i++) m.p[i] = dalloc(m.pn[i]);
  m.x = dalloc(m.nx);
  m.r = dalloc(m.ny);
  m.y = dalloc(m.ny);
  for (int i = 0; i < 7; i++) m.tmp[i] = dalloc(2 * 4 * 30);
  m.forward = inception_forward;
  model_pick_seed(&m, "inception");
  check_against_model(ctx, blk, &m, "inception(3, (2, 4), (2, 3), 2) on (2, 3, 6, 5)");

  /* only channels are bound: another image size goes */
  const int64_t in2[4] = {1, 3, 9, 11};
  INC_CK(ctx, inc_layer_infer_shape(blk, 4, in2, &ondim, od));
  ck_assert_int_eq(od[1], 12);
  ck_assert_int_eq(od[2], 9);
  ck_assert_int_eq(od[3], 11);
  model_free(&m);

  /* inside a sequential the names gain the block's index */
  inc_layer *seq = NULL;
  INC_CK(ctx, inc_sequential_create(ctx, &seq));
  INC_CK(ctx, inc_sequential_append(seq, blk));
  const char *name = NULL;
  INC_CK(ctx, inc_layer_param(seq, 4, &name, NULL, NULL));
  ck_assert_str_eq(name, "0.p2.2.weight");
  inc_layer_destroy(seq);
  inc_context_destroy(ctx);
}
END_TEST

/* ---- networks described once, built twice: as a library tree and as a
 * float64 reference ------------------------------------------------------------
 * These chains cross every pair of activation layouts the library uses
 * inside a tree (conv2d writes channel-major, pooling/ReLU/concat keep their
 * input's layout, flatten goes back to (N, F)), the conv+ReLU fusion of a
 * sequential, 1x1 convolutions of channel-major inputs (no im2col) and
 * k x k convolutions of them, all at N > 1 and C > 1 where the layouts
 * differ. */

enum { S_END, S_CONV, S_MAXP, S_AVGP, S_GAP, S_RELU, S_FLAT, S_DENSE, S_SEQ, S_CAT, S_INC,
       S_ID, S_RES };

typedef struct spec {
  int kind;
  int a[6];
  const struct spec *ch; /* children of S_SEQ / S_CAT / S_RES, ended by S_END */
} spec;

/* Branch i's scale of an S_RES: a[i] hundredths, the same float for the
 * library and the reference. */
static float res_scale(const spec *s, int i) { return (float)s->a[i] / 100.0f; }

#define CONV(oc, k, s, p) {S_CONV, {oc, k, s, p, 0, 0}, NULL}
#define MAXP(k, s, p) {S_MAXP, {k, s, p, 0, 0, 0}, NULL}
#define AVGP(k, s, p) {S_AVGP, {k, s, p, 0, 0, 0}, NULL}
#define GAP {S_GAP, {0, 0, 0, 0, 0, 0}, NULL}
#define RELU {S_RELU, {0, 0, 0, 0, 0, 0}, NULL}
#define FLAT {S_FLAT, {0, 0, 0, 0, 0, 0}, NULL}
#define DENSE(o) {S_DENSE, {o, 0, 0, 0, 0, 0}, NULL}
#define SEQ(c) {S_SEQ, {0, 0, 0, 0, 0, 0}, c}
#define CAT(c) {S_CAT, {0, 0, 0, 0, 0, 0}, c}
#define INC(c1, c2r, c2, c3r, c3, c4) {S_INC, {c1, c2r, c2, c3r, c3, c4}, NULL}
#define END {S_END, {0, 0, 0, 0, 0, 0}, NULL}
#define ID {S_ID, {0, 0, 0, 0, 0, 0}, NULL}
#define RES(c, ...) {S_RES, {__VA_ARGS__}, c} /* scales in hundredths, one per branch */

static inc_layer *spec_build(inc_context *ctx, const spec *s)
{
  inc_layer *l = NULL;
  const int *a = s->a;
  switch (s->kind) {
  case S_CONV: INC_CK(ctx, inc_conv2d_create(ctx, a[0], a[1], a[2], a[3], &l)); break;
  case S_MAXP: INC_CK(ctx, inc_max_pool2d_create(ctx, a[0], a[1], a[2], &l)); break;
  case S_AVGP: INC_CK(ctx, inc_avg_pool2d_create(ctx, a[0], a[1], a[2], &l)); break;
  case S_GAP: INC_CK(ctx, inc_global_avg_pool2d_create(ctx, &l)); break;
  case S_RELU: INC_CK(ctx, inc_relu_create(ctx, &l)); break;
  case S_FLAT: INC_CK(ctx, inc_flatten_create(ctx, &l)); break;
  case S_DENSE: INC_CK(ctx, inc_dense_create(ctx, a[0], &l)); break;
  case S_INC: INC_CK(ctx, inc_inception_create(ctx, a[0], a[1], a[2], a[3], a[4], a[5], &l)); break;
  case S_SEQ:
    INC_CK(ctx, inc_sequential_create(ctx, &l));
    for (const spec *c = s->ch; c->kind != S_END; c++)
      INC_CK(ctx, inc_sequential_append(l, spec_build(ctx, c)));
    break;
  case S_CAT:
    INC_CK(ctx, inc_concat_create(ctx, &l));
    for (const spec *c = s->ch; c->kind != S_END; c++)
      INC_CK(ctx, inc_concat_add_branch(l, spec_build(ctx, c)));
    break;
  case S_ID: INC_CK(ctx, inc_identity_create(ctx, &l)); break;
  case S_RES:
    INC_CK(ctx, inc_residual_create(ctx, &l));
    for (const spec *c = s->ch; c->kind != S_END; c++)
      INC_CK(ctx, inc_residual_add_branch(l, spec_build(ctx, c), res_scale(s, (int)(c - s->ch))));
    break;
  }
  ck_assert_ptr_nonnull(l);
  return l;
}

/* A float64 activation of the reference, (N, C, ...) row-major. */
typedef struct rt {
  int ndim;
  int64_t d[4];
  double *v;
} rt;

static rt rt_new(int ndim, const int64_t *d)
{
  rt t;
  t.ndim = ndim;
  memcpy(t.d, d, (size_t)ndim * sizeof *d);
  t.v = dalloc(nv_numel(ndim, d));
  return t;
}

/* The next parameter of the reference, which must have n elements. */
static const double *next_param(model *m, int *pi, int64_t n)
{
  ck_assert_msg(*pi < m->np, "the reference wants more parameters than the library has");
  ck_assert_msg(m->pn[*pi] == n, "parameter %d has %lld elements, the reference wants %lld",
                *pi, (long long)m->pn[*pi], (long long)n);
  return m->p[(*pi)++];
}

static rt spec_eval(const spec *s, const rt *x, model *m, int *pi);

/* The Inception block spelled out as the D2L definition. */
static rt inception_eval(const int *a, const rt *x, model *m, int *pi)
{
  const spec p1[] = {CONV(a[0], 1, 1, 0), RELU, END};
  const spec p2[] = {CONV(a[1], 1, 1, 0), RELU, CONV(a[2], 3, 1, 1), RELU, END};
  const spec p3[] = {CONV(a[3], 1, 1, 0), RELU, CONV(a[4], 5, 1, 2), RELU, END};
  const spec p4[] = {MAXP(3, 1, 1), CONV(a[5], 1, 1, 0), RELU, END};
  const spec paths[] = {SEQ(p1), SEQ(p2), SEQ(p3), SEQ(p4), END};
  const spec block = CAT(paths);
  return spec_eval(&block, x, m, pi);
}

static rt spec_eval(const spec *s, const rt *x, model *m, int *pi)
{
  const int *a = s->a;
  const int64_t *d = x->d;
  rt y;
  switch (s->kind) {
  case S_CONV: {
    ck_assert_int_eq(x->ndim, 4);
    int64_t od[4] = {d[0], a[0], nv_out(d[2], a[1], a[2], a[3]), nv_out(d[3], a[1], a[2], a[3])};
    const double *w = next_param(m, pi, (int64_t)a[0] * d[1] * a[1] * a[1]);
    const double *b = next_param(m, pi, a[0]);
    y = rt_new(4, od);
    nv_conv2d(y.v, x->v, w, b, d[0], d[1], d[2], d[3], a[0], a[1], a[2], a[3]);
    return y;
  }
  case S_MAXP:
  case S_AVGP: {
    int st = a[1] ? a[1] : a[0];
    int64_t od[4] = {d[0], d[1], nv_out(d[2], a[0], st, a[2]), nv_out(d[3], a[0], st, a[2])};
    y = rt_new(4, od);
    if (s->kind == S_MAXP)
      nv_maxpool(y.v, NULL, x->v, d[0], d[1], d[2], d[3], a[0], st, a[2], &m->mpool, 1);
    else
      nv_avgpool(y.v, x->v, d[0], d[1], d[2], d[3], a[0], st, a[2]);
    return y;
  }
  case S_GAP: {
    int64_t od[4] = {d[0], d[1], 1, 1};
    y = rt_new(4, od);
    nv_gap(y.v, x->v, d[0] * d[1], d[2] * d[3]);
    return y;
  }
  case S_RELU:
    y = rt_new(x->ndim, d);
    nv_relu(y.v, x->v, nv_numel(x->ndim, d), &m->mrelu);
    return y;
  case S_FLAT: {
    int64_t od[2] = {d[0], nv_numel(x->ndim - 1, d + 1)};
    y = rt_new(2, od);
    memcpy(y.v, x->v, (size_t)nv_numel(2, od) * sizeof(double));
    return y;
  }
  case S_DENSE: {
    ck_assert_int_eq(x->ndim, 2);
    int64_t od[2] = {d[0], a[0]};
    const double *w = next_param(m, pi, (int64_t)a[0] * d[1]);
    const double *b = next_param(m, pi, a[0]);
    y = rt_new(2, od);
    nv_dense(y.v, x->v, w, b, d[0], d[1], a[0]);
    return y;
  }
  case S_INC: return inception_eval(a, x, m, pi);
  case S_SEQ: {
    rt cur = *x;
    int owned = 0;
    for (const spec *c = s->ch; c->kind != S_END; c++) {
      rt next = spec_eval(c, &cur, m, pi);
      if (owned) free(cur.v);
      cur = next;
      owned = 1;
    }
    ck_assert(owned);
    return cur;
  }
  case S_ID:
    y = rt_new(x->ndim, d);
    memcpy(y.v, x->v, (size_t)nv_numel(x->ndim, d) * sizeof(double));
    return y;
  case S_RES: { /* the branches' outputs, each times its scale, summed */
    y.v = NULL;
    for (const spec *c = s->ch; c->kind != S_END; c++) {
      rt b = spec_eval(c, x, m, pi);
      if (!y.v) y = rt_new(b.ndim, b.d);
      ck_assert_int_eq(nv_numel(b.ndim, b.d), nv_numel(y.ndim, y.d));
      double sc = res_scale(s, (int)(c - s->ch));
      for (int64_t j = 0; j < nv_numel(y.ndim, y.d); j++) y.v[j] += sc * b.v[j];
      free(b.v);
    }
    ck_assert_ptr_nonnull(y.v);
    return y;
  }
  default: { /* S_CAT: branches concatenated along dim 1 */
    rt br[8];
    int nb = 0;
    int64_t ct = 0;
    for (const spec *c = s->ch; c->kind != S_END; c++) {
      ck_assert(nb < 8);
      br[nb] = spec_eval(c, x, m, pi);
      ct += br[nb].d[1];
      nb++;
    }
    int64_t od[4];
    memcpy(od, br[0].d, sizeof od);
    od[1] = ct;
    y = rt_new(br[0].ndim, od);
    int64_t p = nv_numel(br[0].ndim - 2, br[0].d + 2), off = 0;
    for (int b = 0; b < nb; b++) {
      int64_t cb = br[b].d[1];
      for (int64_t ni = 0; ni < od[0]; ni++)
        memcpy(y.v + (ni * ct + off) * p, br[b].v + ni * cb * p, (size_t)(cb * p) * sizeof(double));
      off += cb;
      free(br[b].v);
    }
    return y;
  }
  }
}

static void spec_forward(model *m)
{
  rt x;
  x.ndim = 4;
  memcpy(x.d, m->in, sizeof x.d);
  x.v = m->x;
  int pi = 0;
  rt y = spec_eval((const spec *)m->spec, &x, m, &pi);
  ck_assert_int_eq(pi, m->np);
  ck_assert_int_eq(nv_numel(y.ndim, y.d), m->ny);
  memcpy(m->y, y.v, (size_t)m->ny * sizeof(double));
  free(y.v);
}

/* Builds s, binds it to in, and checks forward and every gradient against
 * the float64 reference of s. */
static void check_spec(const spec *s, const int64_t *in, const char *what)
{
  inc_context *ctx = tu_cpu();
  inc_layer *l = spec_build(ctx, s);
  int ondim;
  int64_t od[INC_MAX_DIMS];
  INC_CK(ctx, inc_layer_infer_shape(l, 4, in, &ondim, od));
  model m;
  memset(&m, 0, sizeof m);
  memcpy(m.in, in, sizeof m.in);
  m.np = inc_layer_param_count(l);
  ck_assert_int_le(m.np, MAX_PARAMS);
  for (int i = 0; i < m.np; i++) {
    inc_tensor *v = NULL;
    INC_CK(ctx, inc_layer_param(l, i, NULL, &v, NULL));
    m.pn[i] = inc_tensor_numel(v);
    m.p[i] = dalloc(m.pn[i]);
  }
  m.nx = nv_numel(4, in);
  m.ny = nv_numel(ondim, od);
  m.x = dalloc(m.nx);
  m.r = dalloc(m.ny);
  m.y = dalloc(m.ny);
  m.spec = s;
  m.forward = spec_forward;
  model_pick_seed(&m, what);
  check_against_model(ctx, l, &m, what);
  model_free(&m);
  inc_layer_destroy(l);
  inc_context_destroy(ctx);
}

/* conv writes channel-major; what follows must read it right */
static const spec ch_conv_conv[] = {CONV(3, 3, 1, 1), CONV(2, 1, 1, 0), CONV(2, 3, 2, 1), END};
static const spec ch_fused[] = {CONV(3, 1, 1, 0), RELU, CONV(2, 3, 2, 0), RELU, END};
static const spec ch_pool_relu_flat[] = {CONV(3, 3, 1, 1), MAXP(2, 2, 0), RELU, FLAT, DENSE(4),
                                         END};
static const spec ch_gap[] = {CONV(3, 1, 1, 0), RELU, GAP, FLAT, DENSE(2), END};
static const spec ch_avg[] = {CONV(2, 3, 1, 1), AVGP(3, 2, 1), CONV(2, 1, 1, 0), RELU, END};
static const spec ch_conv_flat[] = {CONV(2, 3, 1, 1), FLAT, DENSE(3), END};
static const spec ch_nchw_1x1[] = {MAXP(3, 2, 1), CONV(3, 1, 1, 0), RELU, END};
static const spec ch_relu_first[] = {RELU, CONV(2, 3, 1, 1), RELU, MAXP(3, 2, 1), END};
/* fusion stays inside one sequential; a ReLU that heads a nested one runs
 * on its own over a channel-major input */
static const spec ch_inner_a[] = {CONV(3, 3, 1, 1), RELU, END};
static const spec ch_inner_b[] = {RELU, MAXP(3, 1, 1), END};
static const spec ch_nested[] = {SEQ(ch_inner_a), CONV(3, 1, 1, 0), SEQ(ch_inner_b),
                                 CONV(2, 3, 1, 1), END};
/* a concat mixing channel-major and (N, C, ...) branches, feeding convs */
static const spec ch_mix_b0[] = {CONV(2, 3, 1, 1), MAXP(3, 1, 1), RELU, END};
static const spec ch_mix_cat[] = {SEQ(ch_mix_b0), MAXP(3, 1, 1), CONV(3, 1, 1, 0), END};
static const spec ch_mix[] = {CAT(ch_mix_cat), CONV(3, 1, 1, 0), RELU, CONV(2, 3, 1, 1), END};
/* a concat of (N, C, ...) branches only, then a conv */
static const spec ch_nchw_cat_b[] = {MAXP(3, 1, 1), AVGP(3, 1, 1), END};
static const spec ch_nchw_cat[] = {CAT(ch_nchw_cat_b), CONV(2, 3, 1, 1), END};

/* A small GoogLeNet: every kind of junction of the real one. */
static const spec mg_cat_b0[] = {CONV(2, 3, 1, 1), MAXP(3, 1, 1), RELU, END};
static const spec mg_cat[] = {SEQ(mg_cat_b0), CONV(3, 1, 1, 0), END};
static const spec mini_googlenet[] = {
    CONV(3, 7, 2, 3), RELU, MAXP(3, 2, 1),                  /* b1 */
    CONV(3, 1, 1, 0), RELU, CONV(4, 3, 1, 1), RELU,         /* b2 */
    INC(2, 2, 3, 1, 2, 2), AVGP(3, 2, 1), CAT(mg_cat),      /* b3-ish */
    INC(2, 2, 2, 1, 1, 1), GAP, FLAT, DENSE(3), END,        /* b5, head */
};

/* Residual sums. An Inception-ResNet-A-like block: x + 0.2 * (1x1 conv of
 * a concat of three conv towers), then a ReLU; on the caller's (N, C, ...)
 * input, after a stem convolution (channel-major x), and two in a row. */
static const spec ra_b0[] = {CONV(2, 1, 1, 0), RELU, END};
static const spec ra_b1[] = {CONV(2, 1, 1, 0), RELU, CONV(2, 3, 1, 1), RELU, END};
static const spec ra_b2[] = {CONV(1, 1, 1, 0), RELU, CONV(2, 3, 1, 1), RELU, CONV(2, 3, 1, 1),
                             RELU, END};
static const spec ra_cat[] = {SEQ(ra_b0), SEQ(ra_b1), SEQ(ra_b2), END};
static const spec ra_up[] = {CAT(ra_cat), CONV(3, 1, 1, 0), END};
static const spec ra_sum[] = {ID, SEQ(ra_up), END};
static const spec res_a[] = {RES(ra_sum, 100, 20), RELU, END};
static const spec res_a_stem[] = {CONV(3, 3, 1, 1), RELU, SEQ(res_a), END};
static const spec res_a_two[] = {CONV(3, 3, 1, 1), RELU, SEQ(res_a), SEQ(res_a), CONV(2, 3, 2, 1),
                                 END};
/* only identities: y = 1.5 x - 0.25 x; alone on x, and between convolutions */
static const spec ids[] = {ID, ID, ID, END};
static const spec res_ids[] = {RES(ids, 100, 50, -25), END};
static const spec res_ids_conv[] = {CONV(3, 3, 1, 1), RES(ids, 100, 50, -25), CONV(2, 3, 1, 1),
                                    END};
/* branch outputs in both layouts: pools keep x's (N, C, ...), a 1x1 conv
 * writes channel-major; the first term scaled, or swapped straight in */
static const spec mix_br[] = {MAXP(3, 1, 1), CONV(2, 1, 1, 0), AVGP(3, 1, 1), END};
static const spec mix_br2[] = {CONV(2, 1, 1, 0), MAXP(3, 1, 1), AVGP(3, 1, 1), END};
static const spec res_mix[] = {RES(mix_br, 50, 100, -70), CONV(2, 3, 1, 1), END};
static const spec res_mix2[] = {RES(mix_br2, 100, 100, 100), RELU, END};
/* an identity of the caller's x next to a channel-major branch (a tie:
 * channel-major y, x swapped in; backward swaps dy back for x) */
static const spec id_conv[] = {ID, CONV(2, 3, 1, 1), END};
static const spec res_id_conv[] = {RES(id_conv, 100, 20), END};
/* a residual inside a concat branch, a residual in a residual, one branch */
static const spec rc_in[] = {ID, CONV(3, 3, 1, 1), END};
static const spec rc_cat[] = {RES(rc_in, 100, 20), CONV(2, 1, 1, 0), END};
static const spec res_in_cat[] = {CONV(3, 3, 1, 1), CAT(rc_cat), CONV(2, 3, 1, 1), END};
static const spec rr_in[] = {ID, CONV(3, 1, 1, 0), END};
static const spec rr_out[] = {ID, RES(rr_in, 100, 50), END};
static const spec res_nested[] = {CONV(3, 3, 1, 1), RES(rr_out, 100, 20), RELU, END};
static const spec one_br[] = {CONV(3, 3, 1, 1), END};
static const spec res_one[] = {RES(one_br, 30), END};
/* identities elsewhere: in a sequential, and a tree of nothing else */
static const spec seq_ids[] = {ID, CONV(3, 3, 1, 1), ID, RELU, ID, END};
static const spec id_only[] = {ID, END};
/* C = 1: an identity next to a one-channel conv */
static const spec c1_br[] = {ID, CONV(1, 3, 1, 1), MAXP(3, 1, 1), END};
static const spec res_c1[] = {RES(c1_br, 100, 20, -50), RELU, END};

/* Kernels larger than the map: on 1x1 maps every 3x3 and 5x5 convolution
 * (stride 1 or 2) meets the input with its middle tap only and runs as a
 * 1x1 convolution of its channel-major input; on 2x2 maps the 5x5 uses its
 * middle 3x3, the 3x3 s2 a 2x2. Alone, in a chain, and as concat branches
 * next to a 1x1 convolution. */
static const spec tiny_maps[] = {CONV(3, 1, 1, 0), RELU, CONV(4, 3, 1, 1), RELU, CONV(2, 5, 1, 2),
                                 CONV(3, 3, 2, 1), END};
static const spec tiny_br[] = {CONV(2, 3, 1, 1), CONV(2, 5, 1, 2), CONV(2, 1, 1, 0), END};
static const spec tiny_cat[] = {CONV(3, 1, 1, 0), RELU, CAT(tiny_br), RELU, CONV(2, 3, 1, 1), END};

static const struct {
  const char *what;
  spec s;
  int64_t in[4];
} spec_cases[] = {
    {"conv -> 1x1 conv -> 3x3 s2 conv", SEQ(ch_conv_conv), {3, 2, 7, 5}},
    {"fused conv+relu pairs", SEQ(ch_fused), {3, 2, 9, 11}},
    {"conv -> maxpool -> relu -> flatten -> dense", SEQ(ch_pool_relu_flat), {3, 2, 7, 5}},
    {"conv -> relu -> gap -> flatten -> dense", SEQ(ch_gap), {3, 3, 7, 5}},
    {"conv -> avgpool -> 1x1 conv -> relu", SEQ(ch_avg), {2, 2, 9, 11}},
    {"conv -> flatten -> dense", SEQ(ch_conv_flat), {3, 2, 5, 3}},
    {"maxpool -> 1x1 conv (N, C, ...) input", SEQ(ch_nchw_1x1), {3, 2, 7, 5}},
    {"relu -> conv -> relu -> maxpool", SEQ(ch_relu_first), {3, 2, 7, 5}},
    {"nested sequentials", SEQ(ch_nested), {3, 2, 7, 5}},
    {"mixed-layout concat -> convs", SEQ(ch_mix), {3, 2, 7, 5}},
    {"(N, C, ...) concat -> conv", SEQ(ch_nchw_cat), {2, 3, 5, 7}},
    {"mini GoogLeNet N=2", SEQ(mini_googlenet), {2, 1, 16, 16}},
    {"mini GoogLeNet N=1", SEQ(mini_googlenet), {1, 1, 17, 15}},
    {"mini GoogLeNet N=3", SEQ(mini_googlenet), {3, 1, 12, 12}},
    {"Inception-ResNet-A on x N=3", SEQ(res_a), {3, 3, 7, 5}},
    {"Inception-ResNet-A on x N=1", SEQ(res_a), {1, 3, 9, 7}},
    {"stem -> Inception-ResNet-A N=3", SEQ(res_a_stem), {3, 2, 5, 7}},
    {"stem -> two Inception-ResNet-A N=2", SEQ(res_a_two), {2, 2, 7, 5}},
    {"residual of identities", SEQ(res_ids), {3, 2, 5, 3}},
    {"conv -> residual of identities -> conv", SEQ(res_ids_conv), {3, 2, 5, 7}},
    {"residual, mixed layouts, first scaled", SEQ(res_mix), {3, 2, 7, 5}},
    {"residual, mixed layouts, first swapped", SEQ(res_mix2), {3, 2, 5, 7}},
    {"residual identity + conv on x", SEQ(res_id_conv), {3, 2, 7, 5}},
    {"residual inside a concat branch", SEQ(res_in_cat), {3, 2, 7, 5}},
    {"residual inside a residual", SEQ(res_nested), {2, 2, 5, 7}},
    {"residual of one scaled branch", SEQ(res_one), {3, 3, 5, 5}},
    {"identities in a sequential", SEQ(seq_ids), {3, 2, 5, 7}},
    {"identity alone", SEQ(id_only), {3, 2, 5, 3}},
    {"residual with C=1", SEQ(res_c1), {3, 1, 7, 5}},
    {"residual with N=1, C=1", SEQ(res_c1), {1, 1, 9, 7}},
    {"3x3 and 5x5 convs on 1x1 maps N=3", SEQ(tiny_maps), {3, 2, 1, 1}},
    {"3x3 and 5x5 convs on 1x1 maps N=1", SEQ(tiny_maps), {1, 2, 1, 1}},
    {"3x3 and 5x5 convs on 2x2 maps N=2", SEQ(tiny_maps), {2, 2, 2, 2}},
    {"concat of 3x3, 5x5, 1x1 on 1x1 maps", SEQ(tiny_cat), {3, 3, 1, 1}},
};
#define NSPEC ((int)(sizeof spec_cases / sizeof spec_cases[0]))

START_TEST(test_spec_chain)
{
  check_spec(&spec_cases[_i].s, spec_cases[_i].in, spec_cases[_i].what);
}
END_TEST

/* ---- branches that disagree ----------------------------------------------------- */

START_TEST(test_concat_shape_mismatch)
{
  inc_context *ctx = tu_cpu();
  inc_layer *cat = NULL, *a = NULL, *b = NULL;
  INC_CK(ctx, inc_concat_create(ctx, &cat));
  INC_CK(ctx, inc_conv2d_create(ctx, 2, 3, 1, 1, &a)); /* keeps 7x5 */
  INC_CK(ctx, inc_conv2d_create(ctx, 2, 3, 1, 0, &b)); /* gives 5x3 */
  INC_CK(ctx, inc_layer_set_name(a, "wide"));
  INC_CK(ctx, inc_layer_set_name(b, "narrow"));
  INC_CK(ctx, inc_concat_add_branch(cat, a));
  INC_CK(ctx, inc_concat_add_branch(cat, b));
  const int64_t in[4] = {1, 3, 7, 5};
  int ondim = -1;
  int64_t od[INC_MAX_DIMS];
  ck_assert_int_eq(inc_layer_infer_shape(cat, 4, in, &ondim, od), INC_ERR_SHAPE);
  const char *msg = inc_context_last_error(ctx);
  ck_assert_msg(strstr(msg, "wide") && strstr(msg, "narrow"),
                "the message should name both branches: \"%s\"", msg);
  ck_assert_int_eq(inc_layer_is_bound(cat), 0);
  ck_assert_int_eq(inc_layer_param_count(cat), 0);
  inc_tensor *x = tu_tensor(ctx, 4, in, NULL);
  const inc_tensor *y = (const inc_tensor *)x;
  ck_assert_int_eq(inc_layer_forward(cat, x, 1, &y), INC_ERR_SHAPE);
  ck_assert_ptr_null(y);
  msg = inc_context_last_error(ctx);
  ck_assert_msg(strstr(msg, "wide") && strstr(msg, "narrow"),
                "the message should name both branches: \"%s\"", msg);
  ck_assert_int_eq(inc_layer_is_bound(cat), 0);
  inc_tensor_destroy(x);
  inc_layer_destroy(cat);

  /* rank mismatch: (N, F) next to (N, C, H, W) */
  inc_layer *f = NULL, *r = NULL;
  INC_CK(ctx, inc_concat_create(ctx, &cat));
  INC_CK(ctx, inc_relu_create(ctx, &r));
  INC_CK(ctx, inc_flatten_create(ctx, &f));
  INC_CK(ctx, inc_layer_set_name(r, "image"));
  INC_CK(ctx, inc_layer_set_name(f, "flat"));
  INC_CK(ctx, inc_concat_add_branch(cat, r));
  INC_CK(ctx, inc_concat_add_branch(cat, f));
  ck_assert_int_eq(inc_layer_infer_shape(cat, 4, in, &ondim, od), INC_ERR_SHAPE);
  msg = inc_context_last_error(ctx);
  ck_assert_msg(strstr(msg, "image") && strstr(msg, "flat"),
                "the message should name both branches: \"%s\"", msg);
  inc_layer_destroy(cat);

  /* a mismatch deep in a block also names both branches */
  INC_CK(ctx, inc_concat_create(ctx, &cat));
  inc_layer *s1 = NULL, *s2 = NULL;
  INC_CK(ctx, inc_sequential_create(ctx, &s1));
  INC_CK(ctx, inc_sequential_create(ctx, &s2));
  INC_CK(ctx, inc_max_pool2d_create(ctx, 3, 1, 1, &a));
  INC_CK(ctx, inc_max_pool2d_create(ctx, 3, 2, 1, &b));
  INC_CK(ctx, inc_sequential_append(s1, a));
  INC_CK(ctx, inc_sequential_append(s2, b));
  INC_CK(ctx, inc_layer_set_name(s1, "same"));
  INC_CK(ctx, inc_layer_set_name(s2, "halved"));
  INC_CK(ctx, inc_concat_add_branch(cat, s1));
  INC_CK(ctx, inc_concat_add_branch(cat, s2));
  ck_assert_int_eq(inc_layer_infer_shape(cat, 4, in, &ondim, od), INC_ERR_SHAPE);
  msg = inc_context_last_error(ctx);
  ck_assert_msg(strstr(msg, "same") && strstr(msg, "halved"),
                "the message should name both branches: \"%s\"", msg);
  inc_layer_destroy(cat);
  nv_case_done();
  inc_context_destroy(ctx);
}
END_TEST

/* A residual's branches must agree in every dimension (INC_ERR_SHAPE naming
 * two of them, nothing bound); its summary line names the scales. */
START_TEST(test_residual_shapes_and_summary)
{
  inc_context *ctx = tu_cpu();
  inc_layer *res = NULL, *a = NULL, *b = NULL;
  const int64_t in[4] = {1, 3, 7, 5};
  int ondim = -1;
  int64_t od[INC_MAX_DIMS];
  for (int t = 0; t < 2; t++) { /* spatial sizes, then channels, differ */
    INC_CK(ctx, inc_residual_create(ctx, &res));
    INC_CK(ctx, inc_conv2d_create(ctx, 3, 3, 1, 1, &a)); /* keeps (N, 3, 7, 5) */
    if (t == 0) INC_CK(ctx, inc_conv2d_create(ctx, 3, 3, 1, 0, &b)); /* gives 5x3 */
    else INC_CK(ctx, inc_identity_create(ctx, &b));
    INC_CK(ctx, inc_layer_set_name(a, "wide"));
    INC_CK(ctx, inc_layer_set_name(b, "other"));
    INC_CK(ctx, inc_residual_add_branch(res, a, 1.0f));
    INC_CK(ctx, inc_residual_add_branch(res, b, 0.5f));
    const int64_t *x = in, in4[4] = {1, 4, 7, 5};
    if (t == 1) x = in4; /* the conv gives 3 channels, the identity 4 */
    ck_assert_int_eq(inc_layer_infer_shape(res, 4, x, &ondim, od), INC_ERR_SHAPE);
    const char *msg = inc_context_last_error(ctx);
    ck_assert_msg(strstr(msg, "wide") && strstr(msg, "other") && strstr(msg, "residual"),
                  "the message should name both branches: \"%s\"", msg);
    ck_assert_int_eq(inc_layer_is_bound(res), 0);
    ck_assert_int_eq(inc_layer_param_count(res), 0);
    inc_layer_destroy(res);
  }

  /* the summary: one line per layer, the residual's with its scales */
  inc_layer *seq;
  INC_CK(ctx, inc_sequential_create(ctx, &seq));
  INC_CK(ctx, inc_residual_create(ctx, &res));
  INC_CK(ctx, inc_identity_create(ctx, &a));
  INC_CK(ctx, inc_conv2d_create(ctx, 3, 3, 1, 1, &b));
  INC_CK(ctx, inc_residual_add_branch(res, a, 1.0f));
  INC_CK(ctx, inc_residual_add_branch(res, b, 0.2f));
  INC_CK(ctx, inc_sequential_append(seq, res));
  ck_assert_str_eq(inc_layer_kind(res), "residual");
  ck_assert_str_eq(inc_layer_kind(a), "identity");
  char buf[2048];
  size_t need;
  INC_CK(ctx, inc_layer_summary(seq, 4, in, buf, sizeof buf, &need));
  ck_assert_msg(strstr(buf, "residual") && strstr(buf, "scales 1, 0.2\n"), "%s", buf);
  ck_assert_msg(strstr(buf, "0.0                    identity           (1, 3, 7, 5)"), "%s",
                buf);
  ck_assert_msg(strstr(buf, "total parameters: 84"), "%s", buf);
  inc_layer_destroy(seq);
  nv_case_done();
  inc_context_destroy(ctx);
}
END_TEST

Suite *inc_test_suite_containers(void)
{
  static const char *const labels[] = {"max |fwd err|", "max |grad err|", NULL};
  nv_stats_init("containers", labels);
  Suite *s = suite_create("containers");
  TCase *tc = tcase_create("containers");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_sequential_n3);
  tcase_add_test(tc, test_sequential_n1);
  tcase_add_test(tc, test_concat_three_branches);
  tcase_add_test(tc, test_concat_dense_branches);
  tcase_add_test(tc, test_concat_nested);
  tcase_add_test(tc, test_inception_block);
  tcase_add_test(tc, test_concat_shape_mismatch);
  tcase_add_test(tc, test_residual_shapes_and_summary);
  suite_add_tcase(s, tc);
  TCase *nets = tcase_create("networks");
  tcase_set_timeout(nets, 60);
  tcase_add_loop_test(nets, test_spec_chain, 0, NSPEC);
  suite_add_tcase(s, nets);
  return s;
}
