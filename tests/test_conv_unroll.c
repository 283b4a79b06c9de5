/*
 * test_conv_unroll.c — conv2d's unrolled convolution (src/layers/
 * conv2d_unroll.c: a small map's convolution as one GEMM with the weight
 * unrolled over the window) on the CPU and, where a CUDA module is usable
 * (a GPU, or the emulated runtime of make check-cuda-emu), on CUDA:
 *   - GoogLeNet's small-map shapes and odd ones (stride 2, rectangular
 *     kernels and paddings, padding beyond the kernel, one channel, no
 *     bias, batch 1 and more): y, dx, dW and db of a training step against
 *     float64 references; inference against the same reference, again
 *     after the weights changed (the cached unrolled weight is remade);
 *   - dx and dW against central differences of the float64 reference;
 *   - a channel-major input (swapped in, its gradient swapped back) and an
 *     (N, C, H, W) one in one network, against the direct convolution,
 *     and a folded batch norm at inference;
 *   - the rule: which of GoogLeNet's convolutions take it at 28x28 and
 *     96x96 (auto), none with INCEPTION_CONV_ALGO=direct or winograd4,
 *     and the CUDA default (direct unless asked).
 * The variable is read when a plan is built; a fixture unsets it around
 * every test.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cuda_util.h"
#include "naive.h"
#include "plan.h"

static int cuda_kind; /* tu_cuda_probe: 0 none, 1 GPU, 2 emulated */

static void set_algo(const char *v)
{
  if (v)
    ck_assert_int_eq(setenv(INC__CONV_ALGO_ENV, v, 1), 0);
  else
    ck_assert_int_eq(unsetenv(INC__CONV_ALGO_ENV), 0);
}
static void fixture_unset(void) { unsetenv(INC__CONV_ALGO_ENV); }

/* A case: x (n, c, h, w), window {oc, kh, kw, sh, sw, ph, pw, bias}. */
typedef struct ucase {
  int64_t n, c, h, w;
  int g[8];
} ucase;

/* The problem's data and its float64 references. */
typedef struct uprob {
  ucase k;
  int64_t oh, ow, nx, ny, nw;
  float *x, *wt, *b, *dy, *wt2;
  double *y, *y2, *dx, *dw, *db; /* y2: the output with the weight wt2 */
} uprob;

static nv_win win_of(const ucase *k)
{
  nv_win q = {{k->g[1], k->g[2]}, {k->g[3], k->g[4]}, {k->g[5], k->g[6]}};
  return q;
}

/* dx, dW, db of the convolution for dy, in float64. */
static void ref_grads(uprob *p)
{
  const ucase *k = &p->k;
  const nv_win q = win_of(k);
  const int64_t oc = k->g[0];
  memset(p->dx, 0, (size_t)p->nx * sizeof *p->dx);
  memset(p->dw, 0, (size_t)p->nw * sizeof *p->dw);
  memset(p->db, 0, (size_t)oc * sizeof *p->db);
  for (int64_t n = 0; n < k->n; n++)
    for (int64_t o = 0; o < oc; o++)
      for (int64_t i = 0; i < p->oh; i++)
        for (int64_t j = 0; j < p->ow; j++) {
          const double g = p->dy[((n * oc + o) * p->oh + i) * p->ow + j];
          p->db[o] += g;
          for (int64_t c = 0; c < k->c; c++)
            for (int u = 0; u < q.k[0]; u++)
              for (int v = 0; v < q.k[1]; v++) {
                const int64_t hh = i * q.s[0] - q.p[0] + u, ww = j * q.s[1] - q.p[1] + v;
                if (hh < 0 || hh >= k->h || ww < 0 || ww >= k->w) continue;
                const int64_t xi = ((n * k->c + c) * k->h + hh) * k->w + ww;
                const int64_t wi = ((o * k->c + c) * q.k[0] + u) * q.k[1] + v;
                p->dx[xi] += p->wt[wi] * g;
                p->dw[wi] += p->x[xi] * g;
              }
        }
}

static void forward_ref(const uprob *p, const float *wt, double *y)
{
  const ucase *k = &p->k;
  double *xd = nv_to_double(p->x, p->nx), *wd = nv_to_double(wt, p->nw);
  double *bd = k->g[7] ? nv_to_double(p->b, k->g[0]) : NULL;
  nv_conv2d_win(y, xd, wd, bd, k->n, k->c, k->h, k->w, k->g[0], win_of(k));
  free(xd), free(wd), free(bd);
}

static void prob_make(uprob *p, const ucase *k, uint64_t seed)
{
  memset(p, 0, sizeof *p);
  p->k = *k;
  const nv_win q = win_of(k);
  p->oh = nv_out(k->h, q.k[0], q.s[0], q.p[0]);
  p->ow = nv_out(k->w, q.k[1], q.s[1], q.p[1]);
  p->nx = k->n * k->c * k->h * k->w;
  p->ny = k->n * k->g[0] * p->oh * p->ow;
  p->nw = (int64_t)k->g[0] * k->c * q.k[0] * q.k[1];
  p->x = (float *)malloc((size_t)p->nx * sizeof(float));
  p->wt = (float *)malloc((size_t)p->nw * sizeof(float));
  p->wt2 = (float *)malloc((size_t)p->nw * sizeof(float));
  p->b = (float *)malloc((size_t)k->g[0] * sizeof(float));
  p->dy = (float *)malloc((size_t)p->ny * sizeof(float));
  p->y = (double *)malloc((size_t)p->ny * sizeof(double));
  p->y2 = (double *)malloc((size_t)p->ny * sizeof(double));
  p->dx = (double *)malloc((size_t)p->nx * sizeof(double));
  p->dw = (double *)malloc((size_t)p->nw * sizeof(double));
  p->db = (double *)malloc((size_t)k->g[0] * sizeof(double));
  ck_assert(p->x && p->wt && p->wt2 && p->b && p->dy && p->y && p->y2 && p->dx && p->dw && p->db);
  tu_fill(p->x, p->nx, seed, -1.0f, 1.0f);
  tu_fill(p->wt, p->nw, seed + 1, -0.5f, 0.5f);
  tu_fill(p->wt2, p->nw, seed + 2, -0.5f, 0.5f);
  tu_fill(p->b, k->g[0], seed + 3, -0.5f, 0.5f);
  tu_fill(p->dy, p->ny, seed + 4, -1.0f, 1.0f);
  forward_ref(p, p->wt, p->y);
  forward_ref(p, p->wt2, p->y2);
  ref_grads(p);
}

static void prob_free(uprob *p)
{
  free(p->x), free(p->wt), free(p->wt2), free(p->b), free(p->dy);
  free(p->y), free(p->y2), free(p->dx), free(p->dw), free(p->db);
}

/* What a run gives back (host copies) and what it ran. */
typedef struct uresult {
  float *y, *dx, *dw, *db, *yi, *yi2; /* yi, yi2: inference with wt, then wt2 */
  int unrolled, unrolled_infer;
} uresult;

static void result_free(uresult *r)
{
  free(r->y), free(r->dx), free(r->dw), free(r->db), free(r->yi), free(r->yi2);
}

/* p's convolution with INCEPTION_CONV_ALGO = algo: a training forward and
 * backward, then inference, then inference after setting the weight wt2. */
static uresult run_conv(inc_context *ctx, const uprob *p, const char *algo)
{
  uresult r;
  const ucase *k = &p->k;
  inc_layer *l = NULL;
  inc_conv2d_desc d = tu_conv_desc(k->g);
  INC_CK(ctx, inc_conv2d_create_desc(ctx, &d, &l));
  int64_t xd[4] = {k->n, k->c, k->h, k->w}, yd[4] = {k->n, k->g[0], p->oh, p->ow};
  int64_t od[INC_MAX_DIMS];
  int on;
  INC_CK(ctx, inc_layer_infer_shape(l, 4, xd, &on, od));
  inc_tensor *wv, *wg, *bv = NULL, *bg = NULL;
  INC_CK(ctx, inc_layer_param(l, 0, NULL, &wv, &wg));
  INC_CK(ctx, inc_tensor_copy_from_host(wv, p->wt, p->nw));
  if (k->g[7]) {
    INC_CK(ctx, inc_layer_param(l, 1, NULL, &bv, &bg));
    INC_CK(ctx, inc_tensor_copy_from_host(bv, p->b, k->g[0]));
  }
  inc_tensor *x = tu_tensor(ctx, 4, xd, p->x), *dy = tu_tensor(ctx, 4, yd, p->dy);
  const inc_tensor *y, *dx;
  set_algo(algo);
  INC_CK(ctx, inc_layer_forward(l, x, 1, &y));
  INC_CK(ctx, inc_layer_backward(l, dy, &dx));
  r.y = tu_host(y);
  r.dx = tu_host(dx);
  r.dw = tu_host(wg);
  r.db = bg ? tu_host(bg) : NULL;
  r.unrolled = inc__conv2d_step_unrolled(&l->plans[1]->fwd[0]);
  INC_CK(ctx, inc_layer_forward(l, x, 0, &y));
  r.yi = tu_host(y);
  r.unrolled_infer = inc__conv2d_step_unrolled(&l->plans[0]->fwd[0]);
  INC_CK(ctx, inc_tensor_copy_from_host(wv, p->wt2, p->nw));
  INC_CK(ctx, inc_layer_forward(l, x, 0, &y));
  r.yi2 = tu_host(y);
  set_algo(NULL);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  inc_layer_destroy(l);
  return r;
}

/* {n, c, h, w}, {oc, kh, kw, sh, sw, ph, pw, bias} */
static const ucase cases[] = {
    {2, 3, 2, 2, {5, 3, 3, 1, 1, 1, 1, 1}},  /* 3x3 on 2x2 (b4 at 28x28) */
    {1, 4, 4, 4, {3, 5, 5, 1, 1, 2, 2, 1}},  /* 5x5 on 4x4 (b3 at 28x28), batch 1 */
    {3, 2, 3, 3, {4, 5, 5, 1, 1, 2, 2, 1}},  /* 5x5 on 3x3 (b5 at 96x96) */
    {2, 2, 2, 2, {3, 5, 5, 1, 1, 2, 2, 0}},  /* 5x5 on 2x2, no bias */
    {2, 3, 4, 5, {2, 3, 3, 2, 2, 1, 1, 1}},  /* stride 2 */
    {2, 2, 1, 5, {3, 1, 3, 1, 1, 0, 1, 1}},  /* 1x3 on one row */
    {1, 1, 3, 2, {1, 3, 1, 1, 1, 1, 0, 1}},  /* 3x1, one channel, one filter */
    {2, 3, 2, 3, {2, 3, 3, 1, 1, 2, 2, 1}},  /* padding beyond the kernel */
    {3, 2, 5, 4, {3, 2, 3, 2, 1, 0, 1, 0}},  /* strides and paddings per axis */
};

START_TEST(test_unroll_shapes)
{
  const int b = _i;
  inc_context *ctx = tu_backend(b);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uprob p;
    prob_make(&p, &cases[i], 30 + 10 * i);
    uresult r = run_conv(ctx, &p, "unrolled");
    ck_assert_msg(r.unrolled && r.unrolled_infer, "case %zu did not run unrolled", i);
    char what[64];
    snprintf(what, sizeof what, "unrolled case %zu", i);
    nv_check(r.y, p.y, p.ny, 2e-6, 1e-5, what, "y");
    nv_check(r.dx, p.dx, p.nx, 1e-5, 1e-5, what, "dx");
    nv_check(r.dw, p.dw, p.nw, 1e-5, 1e-5, what, "dW");
    if (r.db) nv_check(r.db, p.db, cases[i].g[0], 1e-5, 1e-5, what, "db");
    nv_check(r.yi, p.y, p.ny, 2e-6, 1e-5, what, "inference y");
    nv_check(r.yi2, p.y2, p.ny, 2e-6, 1e-5, what, "inference y after the weight changed");
    result_free(&r);
    prob_free(&p);
  }
  tu_backend_done(ctx, b);
}
END_TEST

/* dx and dW against central differences of L = sum(y dy) on the float64
 * reference (5x5 on 3x3 maps, batch 2). */
typedef struct fd_state {
  const uprob *p;
  double *x, *w, *b, *y;
} fd_state;

static double fd_loss(void *v)
{
  fd_state *s = (fd_state *)v;
  const uprob *p = s->p;
  nv_conv2d_win(s->y, s->x, s->w, s->b, p->k.n, p->k.c, p->k.h, p->k.w, p->k.g[0], win_of(&p->k));
  double l = 0.0;
  for (int64_t i = 0; i < p->ny; i++) l += s->y[i] * p->dy[i];
  return l;
}

START_TEST(test_unroll_finite_differences)
{
  const int b = _i;
  inc_context *ctx = tu_backend(b);
  uprob p;
  prob_make(&p, &cases[2], 77);
  fd_state st = {&p, nv_to_double(p.x, p.nx), nv_to_double(p.wt, p.nw),
                 nv_to_double(p.b, p.k.g[0]), (double *)malloc((size_t)p.ny * sizeof(double))};
  double *gx = (double *)malloc((size_t)p.nx * sizeof *gx);
  double *gw = (double *)malloc((size_t)p.nw * sizeof *gw);
  nv_fd(gx, st.x, p.nx, 1e-3, fd_loss, &st);
  nv_fd(gw, st.w, p.nw, 1e-3, fd_loss, &st);
  uresult r = run_conv(ctx, &p, "unrolled");
  ck_assert(r.unrolled);
  nv_check(r.dx, gx, p.nx, 1e-5, 1e-4, "unrolled against differences", "dx");
  nv_check(r.dw, gw, p.nw, 1e-5, 1e-4, "unrolled against differences", "dW");
  result_free(&r);
  free(gx), free(gw), free(st.x), free(st.w), free(st.b), free(st.y);
  prob_free(&p);
  tu_backend_done(ctx, b);
}
END_TEST

/* tu_layout_net(ctx, 5) on 2x2 maps: the 3x3 reads a channel-major input
 * (a pool keeps the 1x1's layout), the 5x5 the 3x3's (N, C, H, W) output. */
START_TEST(test_unroll_layouts)
{
  const int b = _i;
  inc_context *ctx = tu_backend(b);
  int64_t xd[4] = {3, 2, 2, 2}, yd[4] = {3, 3, 2, 2}, od[INC_MAX_DIMS];
  float hx[3 * 2 * 2 * 2], hdy[3 * 3 * 2 * 2];
  tu_fill(hx, 3 * 2 * 2 * 2, 5, -1.0f, 1.0f);
  tu_fill(hdy, 3 * 3 * 2 * 2, 6, -1.0f, 1.0f);
  inc_tensor *x = tu_tensor(ctx, 4, xd, hx), *dy = tu_tensor(ctx, 4, yd, hdy);
  inc_layer *direct = tu_layout_net(ctx, 5), *net = tu_layout_net(ctx, 5);
  int64_t n0, n1;
  int on;
  set_algo("direct");
  float *ref = tu_train_pass(ctx, direct, x, dy, &n0);
  INC_CK(ctx, inc_layer_infer_shape(net, 4, xd, &on, od));
  tu_copy_state(ctx, net, direct);
  set_algo("unrolled");
  float *got = tu_train_pass(ctx, net, x, dy, &n1);
  ck_assert_int_eq(n0, n1);
  TU_ASSERT_CLOSE(got, ref, n0, 1e-5, 1e-4, "unrolled against direct");
  const inc__plan *p = net->plans[1];
  int k = 0;
  for (int i = 0; i < p->nfwd; i++) {
    const inc__step *st = &p->fwd[i];
    if (!inc__conv2d_step_unrolled(st)) continue;
    ck_assert_int_eq(inc__pv(p, st->x)->cnhw, k == 0); /* the 3x3's input is channel-major */
    ck_assert_int_eq(inc__pv(p, st->y)->cnhw, 0);
    k++;
  }
  ck_assert_int_eq(k, 2);
  /* inference: the same y as the training forward */
  const inc_tensor *yi;
  INC_CK(ctx, inc_layer_forward(net, x, 0, &yi));
  set_algo(NULL);
  float *yh = tu_host(yi);
  TU_ASSERT_CLOSE(yh, got, inc_tensor_numel(yi), 1e-6, 1e-5, "inference against training");
  free(yh), free(got), free(ref);
  inc_layer_destroy(net);
  inc_layer_destroy(direct);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  tu_backend_done(ctx, b);
}
END_TEST

/* conv 5x5 pad 2 > batch norm > ReLU at inference on 3x3 maps: the batch
 * norm folds into the unrolled step's weights as into the direct one's. */
START_TEST(test_unroll_folded_bn)
{
  const int b = _i;
  inc_context *ctx = tu_backend(b);
  int64_t xd[4] = {2, 3, 3, 3};
  float hx[2 * 3 * 3 * 3];
  tu_fill(hx, 2 * 3 * 3 * 3, 8, -1.0f, 1.0f);
  inc_tensor *x = tu_tensor(ctx, 4, xd, hx);
  inc_layer *nets[2];
  float *ys[2];
  for (int k = 0; k < 2; k++) {
    inc_layer *l;
    const inc_tensor *y;
    INC_CK(ctx, inc_sequential_create(ctx, &nets[k]));
    tu_append(ctx, nets[k], inc_conv2d_create(ctx, 4, 5, 1, 2, &l), &l);
    tu_append(ctx, nets[k], inc_batch_norm2d_create(ctx, 1e-5f, 0.5f, &l), &l);
    tu_append(ctx, nets[k], inc_relu_create(ctx, &l), &l);
    set_algo("direct");
    if (k == 0) {
      INC_CK(ctx, inc_layer_forward(nets[0], x, 1, &y)); /* running statistics move */
    } else {
      int64_t od[INC_MAX_DIMS];
      int on;
      INC_CK(ctx, inc_layer_infer_shape(nets[1], 4, xd, &on, od));
      tu_copy_state(ctx, nets[1], nets[0]);
      set_algo("unrolled");
    }
    INC_CK(ctx, inc_layer_forward(nets[k], x, 0, &y));
    set_algo(NULL);
    ys[k] = tu_host(y);
    const inc__step *st = &nets[k]->plans[0]->fwd[0];
    ck_assert_int_ge(st->fold, 0);
    ck_assert_int_eq(inc__conv2d_step_unrolled(st), k);
  }
  TU_ASSERT_CLOSE(ys[1], ys[0], 2 * 4 * 3 * 3, 1e-5, 1e-4, "folded unrolled against direct");
  for (int k = 0; k < 2; k++) {
    free(ys[k]);
    inc_layer_destroy(nets[k]);
  }
  inc_tensor_destroy(x);
  tu_backend_done(ctx, b);
}
END_TEST

/* The convolutions of GoogLeNet's training plan at size x size (batch
 * 128) that run unrolled, as "KxK@HxW" in plan order, with
 * INCEPTION_CONV_ALGO = algo, on the CPU or (cuda) a CUDA context. */
static void unrolled_convs(int size, const char *algo, int cuda, char *out, size_t cap)
{
  inc_context *ctx = cuda ? tu_cuda_context() : tu_cpu();
  inc_layer *net = NULL;
  INC_CK(ctx, inc_googlenet_create(ctx, 10, &net));
  int64_t xd[4] = {128, 1, size, size}, od[INC_MAX_DIMS];
  int on;
  INC_CK(ctx, inc_layer_infer_shape(net, 4, xd, &on, od));
  inc__shape in = {4, {128, 1, size, size}};
  inc__plan *p = NULL;
  set_algo(algo);
  INC_CK(ctx, inc__plan_build(net, &in, 1, &p));
  set_algo(NULL);
  size_t at = 0;
  out[0] = 0;
  for (int i = 0; i < p->nfwd; i++) {
    const inc__step *st = &p->fwd[i];
    inc__window_geom q;
    if (st->op != INC__STEP_FWD || !inc__conv2d_step_unrolled(st)) continue;
    ck_assert(inc__conv2d_geometry(st->layer, &q));
    const inc_tensor *x = inc__pv(p, st->x);
    at += (size_t)snprintf(out + at, cap - at, "%s%dx%d@%lldx%lld", at ? " " : "", q.k[0],
                           q.k[1], (long long)x->dims[2], (long long)x->dims[3]);
    ck_assert(at < cap);
  }
  inc__plan_free(p);
  inc_layer_destroy(net);
  if (cuda)
    tu_backend_done(ctx, 1);
  else
    inc_context_destroy(ctx);
}

/* The auto rule on GoogLeNet: at 28x28 the 5x5 convolutions on 4x4 and
 * 2x2 maps and the 3x3 ones on 2x2 maps (b3: 2 inception blocks, b4: 5,
 * each with one 3x3 and one 5x5 branch); at 96x96 only the 5x5 ones on
 * 3x3 maps (b5's two blocks: the 3x3 ones there tie with the direct
 * convolution and Winograd does better). direct and winograd4 keep it off. */
START_TEST(test_unroll_rule)
{
  char got[1024];
  unrolled_convs(28, NULL, 0, got, sizeof got);
  ck_assert_str_eq(got, "5x5@4x4 5x5@4x4 3x3@2x2 5x5@2x2 3x3@2x2 5x5@2x2 3x3@2x2 5x5@2x2 "
                        "3x3@2x2 5x5@2x2 3x3@2x2 5x5@2x2");
  unrolled_convs(96, NULL, 0, got, sizeof got);
  ck_assert_str_eq(got, "5x5@3x3 5x5@3x3");
  unrolled_convs(28, "direct", 0, got, sizeof got);
  ck_assert_str_eq(got, "");
  unrolled_convs(28, "winograd4", 0, got, sizeof got);
  ck_assert_str_eq(got, "");
  unrolled_convs(96, "auto", 0, got, sizeof got);
  ck_assert_str_eq(got, "5x5@3x3 5x5@3x3");
  if (cuda_kind) { /* CUDA: off unless asked, as for Winograd */
    unrolled_convs(96, NULL, 1, got, sizeof got);
    ck_assert_str_eq(got, "");
    unrolled_convs(96, "auto", 1, got, sizeof got);
    ck_assert_str_eq(got, "5x5@3x3 5x5@3x3");
  }
}
END_TEST

Suite *inc_test_suite_conv_unroll(void)
{
  char why[INC__ERR_CAP];
  cuda_kind = tu_cuda_probe(why, sizeof why); /* before anything a child would inherit */
  const int backends = cuda_kind ? 2 : 1;
  Suite *s = suite_create("conv_unroll");
  TCase *tc = tcase_create("against_references");
  tcase_set_timeout(tc, 120);
  tcase_add_checked_fixture(tc, fixture_unset, fixture_unset);
  tcase_add_loop_test(tc, test_unroll_shapes, 0, backends);
  tcase_add_loop_test(tc, test_unroll_finite_differences, 0, backends);
  tcase_add_loop_test(tc, test_unroll_layouts, 0, backends);
  tcase_add_loop_test(tc, test_unroll_folded_bn, 0, backends);
  tcase_add_test(tc, test_unroll_rule);
  suite_add_tcase(s, tc);
  return s;
}
