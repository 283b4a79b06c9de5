/*
 * test_winograd.c — conv2d's Winograd path (src/layers/conv2d_winograd.c)
 * against the direct convolution and float64 references, on the CPU and,
 * where a CUDA module is usable (a GPU, or the emulated runtime of make
 * check-cuda-emu), on CUDA too:
 *   - naive.h's matrices compute the 3-tap correlation (exactly, float64);
 *   - every 3x3 stride-1 convolution shape of inc_googlenet_create at 28x28
 *     and 96x96, batch 2: y, dx and dW of F(2x2) and F(4x4) against the
 *     direct convolution, max |difference| / max |direct value| held to the
 *     bounds docs/performance.md gives per tile size (the worst measured
 *     is printed at the end of the run, "winograd: ...");
 *   - dx and dW against central differences of the float64 reference;
 *   - odd shapes (sizes not multiples of the tile, 1x1 maps, batch 1, one
 *     channel) against float64 references; inputs and outputs in both
 *     layouts, and inference in blocks of images with both staged; a
 *     folded batch norm at inference; a second backward and one without
 *     dx;
 *   - a few GoogLeNet training steps with winograd4 next to direct, and with
 *     auto (which runs no Winograd at their batch of 2: the losses within rounding);
 * On the emulated CUDA runtime (a slow float64 GEMM) the 96x96 shapes are
 * those of b4 and b5 (6x6 and 3x3 maps) and the training run is a small
 * Inception network's, winograd4 only; a GPU runs everything.
 *   - INCEPTION_CONV_ALGO: auto on the CPU and direct on CUDA when unset,
 *     other kernels untouched, unknown values refused; the auto rule's
 *     picks on GoogLeNet's shapes at batch 128.
 * The variable is read when a plan is built, so each run makes a new layer
 * (with the same parameters) after setting it; a fixture unsets it around
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

/* The bounds on max |winograd - direct| / max |direct| (docs/performance.md). */
#define BOUND_F2 3e-6
#define BOUND_F4 3e-5

static int cuda_kind; /* tu_cuda_probe: 0 none, 1 GPU, 2 emulated */

static void set_algo(const char *v)
{
  if (v)
    ck_assert_int_eq(setenv(INC__CONV_ALGO_ENV, v, 1), 0);
  else
    ck_assert_int_eq(unsetenv(INC__CONV_ALGO_ENV), 0);
}
static void fixture_unset(void) { unsetenv(INC__CONV_ALGO_ENV); }

static const char *algo_name(int m) { return m == 2 ? "winograd2" : m == 4 ? "winograd4" : "direct"; }

/* ---- running one convolution --------------------------------------------- */

/* A conv problem: x (n, c, h, w), weight (oc, c, 3, 3), bias (oc), dy. */
typedef struct prob {
  int64_t n, c, h, w, oc;
  float *x, *wt, *b, *dy;
} prob;

/* What a run gives back (host copies). */
typedef struct result {
  float *y, *dx, *dw, *db;
  int algo; /* the tile size the step ran with */
} result;

static void prob_make(prob *p, int64_t n, int64_t c, int64_t h, int64_t w, int64_t oc,
                      uint64_t seed)
{
  p->n = n, p->c = c, p->h = h, p->w = w, p->oc = oc;
  const int64_t nx = n * c * h * w, ny = n * oc * h * w, nw = oc * c * 9;
  p->x = (float *)malloc((size_t)nx * sizeof(float));
  p->wt = (float *)malloc((size_t)nw * sizeof(float));
  p->b = (float *)malloc((size_t)oc * sizeof(float));
  p->dy = (float *)malloc((size_t)ny * sizeof(float));
  ck_assert(p->x && p->wt && p->b && p->dy);
  const float bound = 1.0f / sqrtf((float)(9 * c)); /* PyTorch's default scale */
  tu_fill(p->x, nx, seed, 0.0f, 1.0f);              /* after a ReLU */
  tu_fill(p->wt, nw, seed + 1, -bound, bound);
  tu_fill(p->b, oc, seed + 2, -bound, bound);
  tu_fill(p->dy, ny, seed + 3, -1.0f, 1.0f);
}

static void prob_free(prob *p)
{
  free(p->x);
  free(p->wt);
  free(p->b);
  free(p->dy);
}

static void result_free(result *r)
{
  free(r->y);
  free(r->dx);
  free(r->dw);
  free(r->db);
}

/* Runs p's convolution (3x3, stride 1, pad 1) with INCEPTION_CONV_ALGO set
 * to algo (NULL: unset) on ctx: training forward and backward. */
static result run_conv(inc_context *ctx, const prob *p, const char *algo)
{
  result r;
  inc_layer *l = NULL;
  INC_CK(ctx, inc_conv2d_create(ctx, (int)p->oc, 3, 1, 1, &l));
  int64_t xd[4] = {p->n, p->c, p->h, p->w}, yd[4] = {p->n, p->oc, p->h, p->w}, od[INC_MAX_DIMS];
  int on;
  INC_CK(ctx, inc_layer_infer_shape(l, 4, xd, &on, od));
  inc_tensor *wv, *wg, *bv, *bg;
  INC_CK(ctx, inc_layer_param(l, 0, NULL, &wv, &wg));
  INC_CK(ctx, inc_layer_param(l, 1, NULL, &bv, &bg));
  INC_CK(ctx, inc_tensor_copy_from_host(wv, p->wt, p->oc * p->c * 9));
  INC_CK(ctx, inc_tensor_copy_from_host(bv, p->b, p->oc));
  inc_tensor *x = tu_tensor(ctx, 4, xd, p->x), *dy = tu_tensor(ctx, 4, yd, p->dy);
  const inc_tensor *y, *dx;
  set_algo(algo);
  INC_CK(ctx, inc_layer_forward(l, x, 1, &y));
  set_algo(NULL);
  INC_CK(ctx, inc_layer_backward(l, dy, &dx));
  r.y = tu_host(y);
  r.dx = tu_host(dx);
  r.dw = tu_host(wg);
  r.db = tu_host(bg);
  r.algo = inc__conv2d_step_algo(&l->plans[1]->fwd[0]);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  inc_layer_destroy(l);
  return r;
}

/* max |a - b| / max |b| over n values */
static double rel_err(const float *a, const float *b, int64_t n)
{
  double d = 0.0, s = 0.0;
  for (int64_t i = 0; i < n; i++) {
    d = fmax(d, fabs((double)a[i] - (double)b[i]));
    s = fmax(s, fabs((double)b[i]));
  }
  return s > 0.0 ? d / s : d;
}

/* ---- the matrices --------------------------------------------------------- */

/* y_i = sum_k d_{i+k} g_k for i < m, exactly, from the float64 matrices:
 * A^T [(G g) .* (B^T d)] (the 2-D transforms are this one on each axis). */
START_TEST(test_wino_matrices)
{
  for (int m = 2; m <= 4; m += 2) {
    const nv_wino_mats *mt = nv_wino(m);
    ck_assert_int_eq(mt->t, m + 2);
    for (int trial = 0; trial < 20; trial++) {
      float df[6], gf[3];
      tu_fill(df, mt->t, 100 + trial, -2.0f, 2.0f);
      tu_fill(gf, 3, 200 + trial, -2.0f, 2.0f);
      double prod[6];
      for (int j = 0; j < mt->t; j++) {
        double gj = 0.0, dj = 0.0;
        for (int k = 0; k < 3; k++) gj += mt->g[j][k] * gf[k];
        for (int k = 0; k < mt->t; k++) dj += mt->bt[j][k] * df[k];
        prod[j] = gj * dj;
      }
      for (int i = 0; i < m; i++) {
        double y = 0.0, ref = 0.0;
        for (int j = 0; j < mt->t; j++) y += mt->at[i][j] * prod[j];
        for (int k = 0; k < 3; k++) ref += (double)df[i + k] * gf[k];
        ck_assert_msg(fabs(y - ref) <= 1e-12, "F(%d): y[%d] = %.17g, the correlation %.17g", m, i,
                      y, ref);
      }
    }
  }
}
END_TEST

/* ---- GoogLeNet's 3x3 convolutions against the direct one ------------------ */

#define MAX_SHAPES 32
typedef struct shape3 {
  int64_t c, h, w, oc;
} shape3;

/* The distinct (C, H, W, OC) of the 3x3 stride-1 pad-1 convolutions of
 * inc_googlenet_create on size x size images (from its inference plan). */
static int googlenet_shapes(int size, shape3 *out)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = NULL;
  INC_CK(ctx, inc_googlenet_create(ctx, 10, &net));
  int64_t xd[4] = {1, 1, size, size}, od[INC_MAX_DIMS];
  int on, n = 0;
  INC_CK(ctx, inc_layer_infer_shape(net, 4, xd, &on, od));
  inc__shape in = {4, {1, 1, size, size}};
  inc__plan *p = NULL;
  INC_CK(ctx, inc__plan_build(net, &in, 0, &p));
  for (int i = 0; i < p->nfwd; i++) {
    const inc__step *st = &p->fwd[i];
    inc__window_geom q;
    if (st->op != INC__STEP_FWD || st->pass || !inc__conv2d_geometry(st->layer, &q)) continue;
    if (q.k[0] != 3 || q.k[1] != 3 || q.s[0] != 1 || q.s[1] != 1 || q.p[0] != 1 || q.p[1] != 1)
      continue;
    const inc_tensor *x = inc__pv(p, st->x), *y = inc__pv(p, st->y);
    shape3 s = {x->dims[1], x->dims[2], x->dims[3], y->dims[1]};
    int seen = 0;
    for (int j = 0; j < n; j++) seen |= !memcmp(&out[j], &s, sizeof s);
    if (!seen && n < MAX_SHAPES) out[n++] = s;
  }
  inc__plan_free(p);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
  return n;
}

/* The worst errors met, by tile size and value: the summary line. */
enum { S_Y2, S_DX2, S_DW2, S_Y4, S_DX4, S_DW4 };

START_TEST(test_wino_googlenet)
{
  const int b = _i / 2, size = _i % 2 ? 96 : 28;
  shape3 shapes[MAX_SHAPES];
  const int ns = googlenet_shapes(size, shapes);
  ck_assert_int_ge(ns, size == 96 ? 10 : 8); /* b2's and the blocks' p2 3x3 */
  inc_context *ctx = tu_backend(b);
  for (int i = 0; i < ns; i++) {
    const shape3 *s = &shapes[i];
    if (b && cuda_kind == 2 && s->h > 6) continue; /* emulated: b4's and b5's at 96x96 */
    prob p;
    prob_make(&p, 2, s->c, s->h, s->w, s->oc, 10 + i);
    result d = run_conv(ctx, &p, "direct");
    ck_assert_int_eq(d.algo, 0);
    for (int m = 2; m <= 4; m += 2) {
      result r = run_conv(ctx, &p, algo_name(m));
      ck_assert_int_eq(r.algo, m);
      const double ey = rel_err(r.y, d.y, p.n * p.oc * p.h * p.w);
      const double ex = rel_err(r.dx, d.dx, p.n * p.c * p.h * p.w);
      const double ew = rel_err(r.dw, d.dw, p.oc * p.c * 9);
      const double eb = rel_err(r.db, d.db, p.oc);
      const double bound = m == 2 ? BOUND_F2 : BOUND_F4;
      ck_assert_msg(ey <= bound && ex <= bound && ew <= bound && eb <= 1e-5,
                    "%dx%d, %lld -> %lld channels at %lldx%lld, F(%d): relative error y %.3g, "
                    "dx %.3g, dW %.3g, db %.3g (bound %g)",
                    size, size, (long long)s->c, (long long)s->oc, (long long)s->h,
                    (long long)s->w, m, ey, ex, ew, eb, bound);
      const int at = m == 2 ? S_Y2 : S_Y4;
      nv_note(at, ey);
      nv_note(at + 1, ex);
      nv_note(at + 2, ew);
      result_free(&r);
    }
    nv_case_done();
    result_free(&d);
    prob_free(&p);
  }
  tu_backend_done(ctx, b);
}
END_TEST

/* ---- float64 references ----------------------------------------------------- */

/* dx and dW of a 3x3 pad-1 convolution for dy, in float64. */
static void ref_grads(const prob *p, double *dx, double *dw, double *db)
{
  const int64_t n = p->n, c = p->c, h = p->h, w = p->w, oc = p->oc;
  memset(dx, 0, (size_t)(n * c * h * w) * sizeof *dx);
  memset(dw, 0, (size_t)(oc * c * 9) * sizeof *dw);
  memset(db, 0, (size_t)oc * sizeof *db);
  for (int64_t ni = 0; ni < n; ni++)
    for (int64_t o = 0; o < oc; o++)
      for (int64_t i = 0; i < h; i++)
        for (int64_t j = 0; j < w; j++) {
          const double g = p->dy[((ni * oc + o) * h + i) * w + j];
          db[o] += g;
          for (int64_t ci = 0; ci < c; ci++)
            for (int u = 0; u < 3; u++)
              for (int v = 0; v < 3; v++) {
                const int64_t hh = i - 1 + u, ww = j - 1 + v;
                if (hh < 0 || hh >= h || ww < 0 || ww >= w) continue;
                const int64_t xi = ((ni * c + ci) * h + hh) * w + ww, wi = ((o * c + ci) * 3 + u) * 3 + v;
                dx[xi] += p->wt[wi] * g;
                dw[wi] += p->x[xi] * g;
              }
        }
}

/* Odd shapes against float64: sizes that are not multiples of either
 * tile, 1x1 and one-row maps, batch 1, one channel in or out. */
START_TEST(test_wino_odd_shapes)
{
  static const int64_t shapes[][5] = {
      {1, 1, 1, 1, 1}, {1, 3, 1, 1, 2}, {2, 2, 5, 7, 3}, {1, 4, 9, 3, 2}, {3, 2, 2, 2, 5},
      {2, 5, 1, 9, 3}, {1, 2, 6, 6, 1}, {2, 3, 13, 11, 4}, {2, 1, 3, 3, 1}, {1, 6, 4, 8, 7},
  };
  const int b = _i;
  inc_context *ctx = tu_backend(b);
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    const int64_t *s = shapes[i];
    prob p;
    prob_make(&p, s[0], s[1], s[2], s[3], s[4], 40 + i);
    const int64_t nx = p.n * p.c * p.h * p.w, ny = p.n * p.oc * p.h * p.w, nw = p.oc * p.c * 9;
    double *y = (double *)malloc((size_t)ny * sizeof *y), *dx = (double *)malloc((size_t)nx * sizeof *dx);
    double *dw = (double *)malloc((size_t)nw * sizeof *dw), *db = (double *)malloc((size_t)p.oc * sizeof *db);
    double *xd = nv_to_double(p.x, nx), *wd = nv_to_double(p.wt, nw), *bd = nv_to_double(p.b, p.oc);
    nv_conv2d(y, xd, wd, bd, p.n, p.c, p.h, p.w, p.oc, 3, 1, 1);
    ref_grads(&p, dx, dw, db);
    for (int m = 2; m <= 4; m += 2) {
      result r = run_conv(ctx, &p, algo_name(m));
      ck_assert_int_eq(r.algo, m);
      char what[96];
      snprintf(what, sizeof what, "F(%d) (%lld, %lld, %lld, %lld) -> %lld", m, (long long)s[0],
               (long long)s[1], (long long)s[2], (long long)s[3], (long long)s[4]);
      nv_check(r.y, y, ny, 2e-6, 1e-5, what, "y");
      nv_check(r.dx, dx, nx, 1e-5, 1e-5, what, "dx");
      nv_check(r.dw, dw, nw, 2e-5, 1e-5, what, "dW");
      nv_check(r.db, db, p.oc, 1e-5, 1e-5, what, "db");
      result_free(&r);
    }
    free(y), free(dx), free(dw), free(db), free(xd), free(wd), free(bd);
    prob_free(&p);
  }
  tu_backend_done(ctx, b);
}
END_TEST

/* dx and dW of F(2) and F(4) against central differences of L = sum(y r)
 * taken on the float64 reference. */
typedef struct fd_state {
  const prob *p;
  double *x, *w, *b, *y;
} fd_state;

static double fd_loss(void *v)
{
  fd_state *s = (fd_state *)v;
  const prob *p = s->p;
  const int64_t ny = p->n * p->oc * p->h * p->w;
  nv_conv2d(s->y, s->x, s->w, s->b, p->n, p->c, p->h, p->w, p->oc, 3, 1, 1);
  double l = 0.0;
  for (int64_t i = 0; i < ny; i++) l += s->y[i] * p->dy[i];
  return l;
}

START_TEST(test_wino_finite_differences)
{
  const int b = _i;
  inc_context *ctx = tu_backend(b);
  prob p;
  prob_make(&p, 2, 3, 5, 6, 4, 77);
  const int64_t nx = p.n * p.c * p.h * p.w, nw = p.oc * p.c * 9;
  fd_state st = {&p, nv_to_double(p.x, nx), nv_to_double(p.wt, nw), nv_to_double(p.b, p.oc),
                 (double *)malloc((size_t)(p.n * p.oc * p.h * p.w) * sizeof(double))};
  double *gx = (double *)malloc((size_t)nx * sizeof *gx), *gw = (double *)malloc((size_t)nw * sizeof *gw);
  nv_fd(gx, st.x, nx, 1e-3, fd_loss, &st);
  nv_fd(gw, st.w, nw, 1e-3, fd_loss, &st);
  for (int m = 2; m <= 4; m += 2) {
    result r = run_conv(ctx, &p, algo_name(m));
    ck_assert_int_eq(r.algo, m);
    const char *what = m == 2 ? "F(2) against differences" : "F(4) against differences";
    nv_check(r.dx, gx, nx, 1e-5, 1e-4, what, "dx");
    nv_check(r.dw, gw, nw, 1e-5, 1e-4, what, "dW");
    result_free(&r);
  }
  free(gx), free(gw), free(st.x), free(st.w), free(st.b), free(st.y);
  prob_free(&p);
  tu_backend_done(ctx, b);
}
END_TEST

/* ---- layouts, batch-norm folding, repeated backward --------------------------- */

/* tu_layout_net(ctx, 3): the first 3x3 reads a channel-major input (a
 * pool keeps the 1x1's layout) and writes (N, C, H, W) for the second
 * (which runs im2col when direct), whose output, the tree's, is
 * channel-major. */
START_TEST(test_wino_layouts)
{
  const int b = _i;
  inc_context *ctx = tu_backend(b);
  int64_t xd[4] = {3, 2, 7, 5}, yd[4] = {3, 3, 7, 5};
  float hx[3 * 2 * 7 * 5], hdy[3 * 3 * 7 * 5];
  tu_fill(hx, 3 * 2 * 7 * 5, 5, -1.0f, 1.0f);
  tu_fill(hdy, 3 * 3 * 7 * 5, 6, -1.0f, 1.0f);
  inc_tensor *x = tu_tensor(ctx, 4, xd, hx), *dy = tu_tensor(ctx, 4, yd, hdy);
  inc_layer *direct = tu_layout_net(ctx, 3);
  int64_t n0, n1;
  float *ref = tu_train_pass(ctx, direct, x, dy, &n0);
  for (int m = 2; m <= 4; m += 2) {
    inc_layer *net = tu_layout_net(ctx, 3);
    int64_t od[INC_MAX_DIMS];
    int on;
    INC_CK(ctx, inc_layer_infer_shape(net, 4, xd, &on, od));
    tu_copy_state(ctx, net, direct);
    set_algo(algo_name(m));
    float *got = tu_train_pass(ctx, net, x, dy, &n1);
    set_algo(NULL);
    ck_assert_int_eq(n0, n1);
    TU_ASSERT_CLOSE(got, ref, n0, 1e-5, 1e-4, m == 2 ? "F(2) against direct" : "F(4) against direct");
    /* the two 3x3 steps ran Winograd, the first from a channel-major x into
     * an (N, C, H, W) y, the second the other way round */
    const inc__plan *p = net->plans[1];
    int k = 0;
    for (int i = 0; i < p->nfwd; i++) {
      const inc__step *st = &p->fwd[i];
      if (!inc__conv2d_step_algo(st)) continue;
      ck_assert_int_eq(inc__conv2d_step_algo(st), m);
      ck_assert_int_eq(inc__pv(p, st->x)->cnhw, k == 0);
      ck_assert_int_eq(inc__pv(p, st->y)->cnhw, k == 1);
      k++;
    }
    ck_assert_int_eq(k, 2);
    /* inference in blocks of one image (forced): the first 3x3 stages its
     * channel-major x, the second its channel-major y; y as in training */
    const int64_t saved = inc__wino_block_floats;
    const inc_tensor *yi;
    inc__wino_block_floats = 1;
    set_algo(algo_name(m));
    INC_CK(ctx, inc_layer_forward(net, x, 0, &yi));
    set_algo(NULL);
    inc__wino_block_floats = saved;
    int blocked = 0;
    for (int i = 0; i < net->plans[0]->nfwd; i++)
      blocked += inc__conv2d_step_blocked(&net->plans[0]->fwd[i]) &&
                 inc__conv2d_step_algo(&net->plans[0]->fwd[i]) == m;
    ck_assert_int_eq(blocked, 2);
    float *yh = tu_host(yi);
    TU_ASSERT_CLOSE(yh, got, inc_tensor_numel(yi), 1e-6, 1e-5,
                    "inference in blocks against the training forward");
    free(yh);
    free(got);
    inc_layer_destroy(net);
  }
  free(ref);
  inc_layer_destroy(direct);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  tu_backend_done(ctx, b);
}
END_TEST

/* conv 3x3 > batch norm > ReLU at inference: the batch norm folds into the
 * Winograd step's weights as it does into the direct one's. */
START_TEST(test_wino_folded_bn)
{
  const int b = _i;
  inc_context *ctx = tu_backend(b);
  int64_t xd[4] = {2, 3, 6, 7};
  float hx[2 * 3 * 6 * 7];
  tu_fill(hx, 2 * 3 * 6 * 7, 8, -1.0f, 1.0f);
  inc_tensor *x = tu_tensor(ctx, 4, xd, hx);
  inc_layer *nets[2];
  float *ys[2];
  for (int k = 0; k < 2; k++) {
    inc_layer *l;
    const inc_tensor *y;
    INC_CK(ctx, inc_sequential_create(ctx, &nets[k]));
    tu_append(ctx, nets[k], inc_conv2d_create(ctx, 4, 3, 1, 1, &l), &l);
    tu_append(ctx, nets[k], inc_batch_norm2d_create(ctx, 1e-5f, 0.5f, &l), &l);
    tu_append(ctx, nets[k], inc_relu_create(ctx, &l), &l);
    if (k == 0) {
      INC_CK(ctx, inc_layer_forward(nets[0], x, 1, &y)); /* running statistics move */
    } else {
      int64_t od[INC_MAX_DIMS];
      int on;
      INC_CK(ctx, inc_layer_infer_shape(nets[1], 4, xd, &on, od));
      tu_copy_state(ctx, nets[1], nets[0]);
      set_algo("winograd4");
    }
    INC_CK(ctx, inc_layer_forward(nets[k], x, 0, &y));
    set_algo(NULL);
    ys[k] = tu_host(y);
    const inc__step *st = &nets[k]->plans[0]->fwd[0];
    ck_assert_int_ge(st->fold, 0);
    ck_assert_int_eq(inc__conv2d_step_algo(st), k ? 4 : 0);
  }
  TU_ASSERT_CLOSE(ys[1], ys[0], 2 * 4 * 6 * 7, 1e-5, 1e-4, "folded F(4) against direct");
  for (int k = 0; k < 2; k++) {
    free(ys[k]);
    inc_layer_destroy(nets[k]);
  }
  inc_tensor_destroy(x);
  tu_backend_done(ctx, b);
}
END_TEST

/* A second backward (dV is written over the saved V: the forward runs again
 * first) gives the same bits; one without dx the same weight gradient. */
START_TEST(test_wino_second_backward)
{
  const int b = _i;
  inc_context *ctx = tu_backend(b);
  prob p;
  prob_make(&p, 2, 3, 9, 6, 5, 91);
  inc_layer *l;
  INC_CK(ctx, inc_conv2d_create(ctx, 5, 3, 1, 1, &l));
  int64_t xd[4] = {2, 3, 9, 6}, yd[4] = {2, 5, 9, 6};
  inc_tensor *x = tu_tensor(ctx, 4, xd, p.x), *dy = tu_tensor(ctx, 4, yd, p.dy);
  const inc_tensor *y, *dx;
  set_algo("winograd4");
  INC_CK(ctx, inc_layer_forward(l, x, 1, &y));
  set_algo(NULL);
  ck_assert_int_eq(inc__conv2d_step_algo(&l->plans[1]->fwd[0]), 4);
  inc_tensor *wg;
  INC_CK(ctx, inc_layer_param(l, 0, NULL, NULL, &wg));
  float *dx1, *dw1, *dx2, *dw2, *dw3;
  INC_CK(ctx, inc_layer_backward(l, dy, &dx));
  dx1 = tu_host(dx), dw1 = tu_host(wg);
  INC_CK(ctx, inc_layer_backward(l, dy, &dx));
  dx2 = tu_host(dx), dw2 = tu_host(wg);
  INC_CK(ctx, inc_layer_forward(l, x, 1, &y));
  INC_CK(ctx, inc_layer_backward(l, dy, NULL));
  dw3 = tu_host(wg);
  ck_assert(!memcmp(dx1, dx2, 2 * 3 * 9 * 6 * sizeof(float)));
  ck_assert(!memcmp(dw1, dw2, 5 * 3 * 9 * sizeof(float)));
  ck_assert(!memcmp(dw1, dw3, 5 * 3 * 9 * sizeof(float)));
  free(dx1), free(dw1), free(dx2), free(dw2), free(dw3);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  inc_layer_destroy(l);
  prob_free(&p);
  tu_backend_done(ctx, b);
}
END_TEST

/* ---- training ----------------------------------------------------------------- */

/* conv 3x3 (8) > ReLU > max pool 2 > Inception(8, (4, 8), (2, 4), 4) >
 * global average pool > flatten > dense 10: training on the emulated GPU. */
static inc_layer *small_net(inc_context *ctx)
{
  inc_layer *seq, *l;
  INC_CK(ctx, inc_sequential_create(ctx, &seq));
  tu_append(ctx, seq, inc_conv2d_create(ctx, 8, 3, 1, 1, &l), &l);
  tu_append(ctx, seq, inc_relu_create(ctx, &l), &l);
  tu_append(ctx, seq, inc_max_pool2d_create(ctx, 2, 2, 0, &l), &l);
  tu_append(ctx, seq, inc_inception_create(ctx, 8, 4, 8, 2, 4, 4, &l), &l);
  tu_append(ctx, seq, inc_global_avg_pool2d_create(ctx, &l), &l);
  tu_append(ctx, seq, inc_flatten_create(ctx, &l), &l);
  tu_append(ctx, seq, inc_dense_create(ctx, 10, &l), &l);
  return seq;
}

/* steps SGD steps of GoogLeNet (small: small_net) from seed 1 on fixed
 * data with the algorithm algo; the losses in loss[]; returns the number
 * of Winograd steps in its plan. */
static int train(int b, int small, const char *algo, int batch, int steps, float *loss)
{
  inc_context *ctx = tu_backend(b);
  if (!b) INC_CK(ctx, inc_context_set_num_threads(ctx, 1)); /* many small GEMMs: no forks */
  inc_layer *net;
  inc_optimizer *opt;
  if (small)
    net = small_net(ctx);
  else
    INC_CK(ctx, inc_googlenet_create(ctx, 10, &net));
  INC_CK(ctx, inc_sgd_create(ctx, 0.05f, 0.9f, 0.0f, &opt));
  int64_t xd[4] = {batch, 1, 28, 28}, ld[2] = {batch, 10};
  float *hx = (float *)malloc((size_t)(batch * 28 * 28) * sizeof *hx);
  int32_t labels[8];
  tu_fill(hx, batch * 28 * 28, 3, 0.0f, 1.0f);
  for (int i = 0; i < batch; i++) labels[i] = (i * 3) % 10;
  inc_tensor *x = tu_tensor(ctx, 4, xd, hx), *dl = tu_tensor(ctx, 2, ld, NULL);
  set_algo(algo);
  for (int s = 0; s < steps; s++) {
    const inc_tensor *y;
    INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
    INC_CK(ctx, inc_softmax_cross_entropy(ctx, y, labels, &loss[s], dl, NULL));
    INC_CK(ctx, inc_layer_backward(net, dl, NULL));
    INC_CK(ctx, inc_optimizer_step(opt, net));
  }
  set_algo(NULL);
  int wino = 0;
  for (int i = 0; i < net->plans[1]->nfwd; i++) wino += inc__conv2d_step_algo(&net->plans[1]->fwd[i]) != 0;
  free(hx);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dl);
  inc_optimizer_destroy(opt);
  inc_layer_destroy(net);
  tu_backend_done(ctx, b);
  return wino;
}

START_TEST(test_wino_training)
{
  const int b = _i, emulated = b && cuda_kind == 2;
  const int batch = 2, steps = 4;
  float ref[8], loss[8];
  ck_assert_int_eq(train(b, emulated, "direct", batch, steps, ref), 0);
  ck_assert_int_gt(train(b, emulated, "winograd4", batch, steps, loss), 0);
  for (int s = 0; s < steps; s++)
    ck_assert_msg(fabsf(loss[s] - ref[s]) <= 1e-3f * (1.0f + fabsf(ref[s])),
                  "winograd4: step %d loss %.7g, direct %.7g", s, loss[s], ref[s]);
  if (emulated) return;
  /* auto, asked for and by default, runs no Winograd at a batch of 2 (it
   * runs the small maps' convolutions unrolled: the losses within rounding) */
  static const char *const autos[] = {"auto", NULL};
  for (int a = 0; a < 2; a++) {
    ck_assert_int_eq(train(b, emulated, autos[a], batch, steps, loss), 0);
    for (int s = 0; s < steps; s++)
      ck_assert_msg(fabsf(loss[s] - ref[s]) <= 1e-5f * (1.0f + fabsf(ref[s])),
                    "%s: step %d loss %.7g, direct %.7g", autos[a] ? autos[a] : "unset", s,
                    loss[s], ref[s]);
  }
}
END_TEST

/* ---- the variable ----------------------------------------------------------------- */

/* Unset, empty or direct on this small input: direct (unset and empty
 * mean auto on the CPU, which keeps it direct). Winograd asked of
 * convolutions it cannot run (5x5, stride 2, no padding, 1x3): they run
 * direct, bit for bit. */
START_TEST(test_wino_env_direct)
{
  inc_context *ctx = tu_cpu();
  static const int geo[][8] = {
      {3, 5, 5, 1, 1, 2, 2, 1}, {3, 3, 3, 2, 2, 1, 1, 1}, {3, 3, 3, 1, 1, 0, 0, 1},
      {3, 1, 3, 1, 1, 0, 1, 1}, {3, 3, 3, 1, 1, 1, 1, 1},
  };
  int64_t xd[4] = {2, 2, 8, 9};
  float hx[2 * 2 * 8 * 9];
  tu_fill(hx, 2 * 2 * 8 * 9, 12, -1.0f, 1.0f);
  inc_tensor *x = tu_tensor(ctx, 4, xd, hx);
  static const char *const vals[] = {NULL, "", "direct", "winograd2", "winograd4", "auto"};
  for (size_t gi = 0; gi < sizeof geo / sizeof geo[0]; gi++) {
    const int eligible = gi == 4;
    inc_conv2d_desc d = tu_conv_desc(geo[gi]);
    float *first = NULL;
    for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
      inc_layer *l;
      const inc_tensor *y;
      INC_CK(ctx, inc_context_set_seed(ctx, 3));
      INC_CK(ctx, inc_conv2d_create_desc(ctx, &d, &l));
      set_algo(vals[v]);
      INC_CK(ctx, inc_layer_forward(l, x, 0, &y));
      set_algo(NULL);
      const int algo = inc__conv2d_step_algo(&l->plans[0]->fwd[0]);
      float *h = tu_host(y);
      if (v < 2)
        ck_assert_int_eq(inc__conv_wino_auto(2, 8, 9, 2, 3), 0);
      if (v < 3 || !eligible) {
        ck_assert_msg(algo == 0, "geometry %zu, %s: ran F(%d)", gi, vals[v] ? vals[v] : "unset",
                      algo);
        if (!first)
          first = h;
        else
          ck_assert_msg(!memcmp(h, first, (size_t)inc_tensor_numel(y) * sizeof *h),
                        "geometry %zu, %s: not the direct bits", gi, vals[v] ? vals[v] : "unset");
      } else {
        ck_assert_int_eq(algo, v == 3 ? 2 : v == 4 ? 4 : inc__conv_wino_auto(2, 8, 9, 2, 3));
      }
      if (h != first) free(h);
      inc_layer_destroy(l);
    }
    free(first);
  }
  inc_tensor_destroy(x);
  inc_context_destroy(ctx);
}
END_TEST

/* Anything else fails the forward that builds a plan, with a message; the
 * layer works once the variable is fixed. */
START_TEST(test_wino_env_refused)
{
  inc_context *ctx = tu_cpu();
  inc_layer *l;
  INC_CK(ctx, inc_conv2d_create(ctx, 3, 5, 1, 2, &l)); /* not even a 3x3 */
  int64_t xd[4] = {1, 2, 6, 6};
  inc_tensor *x = tu_tensor(ctx, 4, xd, NULL);
  const inc_tensor *y = NULL;
  static const char *const bad[] = {"Winograd4", "winograd3", "fast", " direct"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    set_algo(bad[i]);
    ck_assert_int_eq(inc_layer_forward(l, x, 0, &y), INC_ERR_INVALID_ARGUMENT);
    set_algo(NULL);
    ck_assert_ptr_null(y);
    const char *msg = inc_context_last_error(ctx);
    ck_assert_msg(strstr(msg, "INCEPTION_CONV_ALGO") && strstr(msg, bad[i]), "message: %s", msg);
  }
  INC_CK(ctx, inc_layer_forward(l, x, 0, &y));
  inc_tensor_destroy(x);
  inc_layer_destroy(l);
  inc_context_destroy(ctx);
}
END_TEST

/* The auto rule on GoogLeNet's shapes, as measured (docs/performance.md,
 * examples/bench_conv, 2 threads): at batch 128, 96x96, F(4) on the 24x24
 * and 12x12 maps, F(2) on the 6x6 ones, direct on the 3x3 ones; at 28x28,
 * F(4) on the 7x7 and 4x4 maps, F(2) on the 2x2 ones, direct on 1x1 maps
 * (where the direct path is one tap). At batch 1 the filter transforms
 * cost more than they save on every map up to 12x12: direct. */
START_TEST(test_wino_auto_rule)
{
  shape3 shapes[MAX_SHAPES];
  for (int size = 28; size <= 96; size += 68) {
    const int ns = googlenet_shapes(size, shapes);
    ck_assert_int_eq(ns, 10);
    for (int i = 0; i < ns; i++) {
      const int64_t h = shapes[i].h;
      const int want = size == 28 ? (h == 1 ? 0 : h == 2 ? 2 : 4) : (h <= 3 ? 0 : h >= 12 ? 4 : 2);
      ck_assert_msg(inc__conv_wino_auto(128, h, shapes[i].w, shapes[i].c, shapes[i].oc) == want,
                    "%dx%d: %lld -> %lld, %lldx%lld: not %d", size, size, (long long)shapes[i].c,
                    (long long)shapes[i].oc, (long long)h, (long long)shapes[i].w, want);
      if (h <= 12)
        ck_assert_int_eq(inc__conv_wino_auto(1, h, shapes[i].w, shapes[i].c, shapes[i].oc), 0);
    }
  }
}
END_TEST

/* What an unset variable means per backend: auto on the CPU, direct on
 * CUDA (no GPU has timed the rule); asked for explicitly, auto is auto on
 * both. Only the choice is run here (a batch of 128 at 24x24). */
START_TEST(test_wino_default_per_backend)
{
  inc_context *ctx = tu_backend(_i);
  inc_layer *l;
  INC_CK(ctx, inc_conv2d_create(ctx, 192, 3, 1, 1, &l));
  const inc__window_geom q = {{3, 3}, {1, 1}, {1, 1}};
  const inc__shape in = {4, {128, 64, 24, 24}};
  int m = -1;
  INC_CK(ctx, inc__conv_algo(l, &q, &in, 192, &m));
  ck_assert_int_eq(m, _i ? 0 : 4);
  set_algo("");
  INC_CK(ctx, inc__conv_algo(l, &q, &in, 192, &m));
  ck_assert_int_eq(m, _i ? 0 : 4);
  set_algo("auto");
  INC_CK(ctx, inc__conv_algo(l, &q, &in, 192, &m));
  ck_assert_int_eq(m, 4);
  set_algo("direct");
  INC_CK(ctx, inc__conv_algo(l, &q, &in, 192, &m));
  ck_assert_int_eq(m, 0);
  set_algo(NULL);
  inc_layer_destroy(l);
  tu_backend_done(ctx, _i);
}
END_TEST

Suite *inc_test_suite_winograd(void)
{
  char why[INC__ERR_CAP];
  cuda_kind = tu_cuda_probe(why, sizeof why); /* before anything a child would inherit */
  const int backends = cuda_kind ? 2 : 1;
  static const char *const labels[] = {"F(2) y", "F(2) dx", "F(2) dW",
                                       "F(4) y", "F(4) dx", "F(4) dW", NULL};
  nv_stats_init("winograd", labels);
  Suite *s = suite_create("winograd");
  TCase *tc = tcase_create("against_direct");
  tcase_set_timeout(tc, 300);
  tcase_add_checked_fixture(tc, fixture_unset, fixture_unset);
  tcase_add_test(tc, test_wino_matrices);
  tcase_add_loop_test(tc, test_wino_googlenet, 0, 2 * backends);
  tcase_add_loop_test(tc, test_wino_odd_shapes, 0, backends);
  tcase_add_loop_test(tc, test_wino_finite_differences, 0, backends);
  tcase_add_loop_test(tc, test_wino_layouts, 0, backends);
  tcase_add_loop_test(tc, test_wino_folded_bn, 0, backends);
  tcase_add_loop_test(tc, test_wino_second_backward, 0, backends);
  tcase_add_loop_test(tc, test_wino_training, 0, backends);
  suite_add_tcase(s, tc);
  TCase *env = tcase_create("variable");
  tcase_add_checked_fixture(env, fixture_unset, fixture_unset);
  tcase_add_test(env, test_wino_env_direct);
  tcase_add_test(env, test_wino_env_refused);
  tcase_add_test(env, test_wino_auto_rule);
  tcase_add_loop_test(env, test_wino_default_per_backend, 0, backends);
  suite_add_tcase(s, env);
  return s;
}
