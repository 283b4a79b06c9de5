/*
 * test_bf16.c — mixed precision, inc_context_set_precision(ctx,
 * INC_PRECISION_BF16): the GEMMs of convolutions and dense layers take
 * bf16-rounded inputs and sum in float32 (src/cpu/gemm_bf16.c).
 *
 * The bound. bf16 keeps 8 significant bits, so rounding x to nearest even
 * gives x (1 + d) with |d| <= u = 2^-8; the product of two rounded inputs
 * is ab (1 + d1)(1 + d2), off by at most ((1 + u)^2 - 1) |a||b| = (2u + u^2)
 * |a||b|, and is exact in float32 (8 + 8 bits). Summing K such products in
 * float32 in any order, then scaling by alpha and adding beta c, costs at
 * most a factor (1 + v)^(K+2) more on the sum of magnitudes, v = 2^-24. So
 *   |c - c_exact| <= ((1 + u)^2 (1 + v)^(K+2) - 1) |alpha| S + 3 v |beta c|
 * with S = sum_k |a_k||b_k| (inputs away from float32's subnormals, which
 * the bf16 dot-product instructions flush). The same sum over the rounded
 * inputs themselves, S' and c' = alpha sum bf16(a) bf16(b) + beta c, must
 * hold to the float32 part alone, ((1 + v)^(K+2) - 1) |alpha| S' + 3 v
 * |beta c|: that one sees which rounding was done (truncation instead of
 * ties-to-even fails it), and a result closer to c_exact than any bf16
 * could be says the rounding was not done at all.
 *
 * Tests: the rounding body against a float64 rounding; the GEMM and the
 * batched GEMM (odd shapes, every transpose, alpha and beta, strides with
 * gaps, a shared operand, k = 0) against both references; a conv2d (im2col
 * and 1x1) and a dense layer, forward and backward, within the bound of
 * float32, the bound's S taken from the same layer run in float32 on
 * |x|, |W|, |dy|; Winograd's products left in float32; a short bf16
 * training run whose loss falls; FP32 again
 * giving float32's bits; INC_ERR_UNAVAILABLE where bf16 cannot run (the
 * OpenBLAS build; a CPU without AVX512-BF16, imitated with oneDNN's ISA
 * limit). The emulated CUDA backend's refusal is in test_cuda.c. Cases
 * that need bf16 print why they are skipped where it is unavailable.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "cpu/cpu.h"
#include "layer.h"
#include "util.h"
#ifdef INC_CPU_GEMM_ONEDNN
#include <dnnl.h>
#endif

#define U_BF16 (1.0 / 256)      /* bf16's unit roundoff, 2^-8 */
#define V_F32 (1.0 / 16777216)  /* float32's, 2^-24 */

/* The bound's factor on |alpha| S for K terms: with the bf16 rounding of
 * both inputs (bf16 = 1) or the float32 sums alone (bf16 = 0). */
static double bound_factor(int64_t k, int bf16)
{
  const double r = bf16 ? (1 + U_BF16) * (1 + U_BF16) : 1.0;
  return r * pow(1 + V_F32, (double)(k + 2)) - 1;
}

/* Whether this build and CPU should run bf16: oneDNN, and AVX512-BF16 as
 * the CPU itself reports it (not oneDNN's own test). */
static int bf16_expected(void)
{
#ifdef INC_CPU_GEMM_ONEDNN
  return __builtin_cpu_supports("avx512bf16");
#else
  return 0;
#endif
}

/* A CPU context (tu_cpu) set to bf16, or NULL after printing (if say) why
 * the case is skipped. */
static inc_context *bf16_cpu(const char *what, int say)
{
  inc_context *ctx = tu_cpu();
  if (!bf16_expected()) {
    ck_assert_int_eq(inc_context_set_precision(ctx, INC_PRECISION_BF16), INC_ERR_UNAVAILABLE);
    if (say) printf("bf16: %s skipped: %s\n", what, inc_context_last_error(ctx));
    inc_context_destroy(ctx);
    return NULL;
  }
  INC_CK(ctx, inc_context_set_precision(ctx, INC_PRECISION_BF16));
  return ctx;
}

/* ---- rounding ------------------------------------------------------------------ */

/* x rounded to bf16 by float64 arithmetic: 8 significant bits (a fixed step
 * of 2^-133 below 2^-126), ties to even (nearbyint's default mode), and
 * what passes the largest bf16 by half a step or more is infinity. */
static double ref_bf16(float x)
{
  if (x == 0 || isinf(x) || isnan(x)) return x;
  if (fabs(x) < ldexp(1, -126)) return ldexp(nearbyint(ldexp(x, 133)), -133);
  int e;
  const double f = frexp(x, &e); /* |f| in [0.5, 1) */
  const double r = ldexp(nearbyint(ldexp(f, 8)), e - 8);
  return fabs(r) > ldexp(255, 120) ? copysign(INFINITY, x) : r;
}

static float bf16_float(uint16_t h)
{
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static float round_body(float x)
{
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return bf16_float(inc__k_bf16_bits(u));
}

START_TEST(test_bf16_rounding)
{
  /* ties go to the even neighbour; anything above a tie goes up */
  ck_assert(round_body(1.0f + 0x1p-8f) == 1.0f);
  ck_assert(round_body(1.0f + 3 * 0x1p-8f) == 1.0f + 0x1p-6f);
  ck_assert(round_body(1.0f + 0x1p-8f + 0x1p-20f) == 1.0f + 0x1p-7f);
  ck_assert(round_body(-(1.0f + 0x1p-8f + 0x1p-20f)) == -(1.0f + 0x1p-7f));
  ck_assert(isinf(round_body(3.4e38f)) && round_body(3.39e38f) == 0x1.fep127f);
  ck_assert(isinf(round_body(INFINITY)) && round_body(-INFINITY) < 0);
  ck_assert(isnan(round_body(NAN)));
  const uint32_t nan_low = 0x7f800001u; /* a NaN whose payload is all in the dropped bits */
  float f;
  memcpy(&f, &nan_low, sizeof f);
  ck_assert(isnan(round_body(f)));
  /* random bit patterns over every exponent, subnormals included */
  uint64_t z = 88172645463325252ULL;
  for (int i = 0; i < 1000000; i++) {
    z ^= z << 13, z ^= z >> 7, z ^= z << 17;
    const uint32_t u = (uint32_t)z;
    memcpy(&f, &u, sizeof f);
    if (isnan(f)) continue;
    const double want = ref_bf16(f), got = round_body(f);
    ck_assert_msg(got == want, "bits 0x%08x (%.9g): body %.9g, float64 rounding %.9g", u, f, got,
                  want);
  }
}
END_TEST

/* ---- the GEMM against float64 -------------------------------------------------- */

/* One GEMM problem: c_i (m, n) = alpha op(a_i) op(b_i) + beta c_i, i < batch. */
typedef struct gemm_row {
  int64_t m, n, k;
  float alpha, beta;
  int64_t batch, gap_a, gap_b, gap_c; /* item strides = item size + gap; gap_b < 0: stride 0 */
} gemm_row;

static const gemm_row GEMM_ROWS[] = {
    {1, 1, 1, 1.0f, 0.0f, 1, 0, 0, 0},     {3, 5, 7, 1.0f, 0.0f, 1, 0, 0, 0},
    {17, 33, 65, 0.5f, 1.0f, 1, 0, 0, 0},  {64, 31, 300, -2.0f, 0.25f, 1, 0, 0, 0},
    {129, 97, 513, 1.0f, 0.0f, 1, 0, 0, 0}, {1, 100, 257, 1.0f, 1.0f, 1, 0, 0, 0},
    {5, 9, 36, 1.0f, 0.0f, 16, 0, 0, 0},   {13, 11, 77, 0.75f, 1.0f, 3, 5, 2, 3},
    {7, 19, 40, 1.0f, 0.0f, 4, 1, -1, 0},  {6, 4, 0, 1.0f, 0.5f, 2, 0, 0, 1},
    {6, 4, 0, 1.0f, 0.0f, 1, 0, 0, 0},
};
#define N_GEMM_ROWS ((int)(sizeof GEMM_ROWS / sizeof GEMM_ROWS[0]))

/* Element (i, j) of op(x) for x stored (rows, cols) = op's (r, c) or its
 * transpose. */
static float at(const float *x, int trans, int64_t r, int64_t c, int64_t rows_op,
                int64_t cols_op)
{
  return trans ? x[c * rows_op + r] : x[r * cols_op + c];
}

START_TEST(test_bf16_gemm)
{
  const gemm_row *g = &GEMM_ROWS[_i / 4];
  const int ta = _i % 4 / 2, tb = _i % 2;
  inc_context *ctx = bf16_cpu("the GEMM cases", _i == 0);
  if (!ctx) return;
  const int64_t m = g->m, n = g->n, k = g->k, B = g->batch;
  const int64_t sa = m * k + g->gap_a, sb = g->gap_b < 0 ? 0 : k * n + g->gap_b;
  const int64_t sc = m * n + g->gap_c;
  const int64_t na = (B - 1) * sa + m * k + 1, nb = (B - 1) * sb + k * n + 1, nc = B * sc;
  float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c = malloc(nc * sizeof *c);
  float *c0 = malloc(nc * sizeof *c0);
  ck_assert(a && b && c && c0);
  tu_fill(a, na, 11 + _i, -1.0f, 1.0f);
  tu_fill(b, nb, 12 + _i, -1.0f, 1.0f);
  tu_fill(c0, nc, 13 + _i, -1.0f, 1.0f);
  if (g->beta == 0.0f) /* beta 0 ignores c, NaN included (BLAS's rule) */
    for (int64_t i = 0; i < nc; i++) c0[i] = i % sc < m * n ? NAN : c0[i];
  memcpy(c, c0, nc * sizeof *c);
  /* one item through the backend's gemm; batches straight to the bf16
   * GEMM (the backend's gemm_batched stays float32) */
  inc_status s = B == 1 && !g->gap_c
                     ? ctx->ops->gemm(c, a, b, ta, tb, m, n, k, g->alpha, g->beta, ctx)
                     : inc__cpu_gemm_bf16(c, a, b, ta, tb, m, n, k, B, sc, sa, sb, g->alpha,
                                          g->beta, 2, ctx);
  ck_assert_msg(s == INC_OK, "%s", inc_context_last_error(ctx));
  double worst_rounded = 0; /* the largest |c - c_exact| / the float32-only bound */
  for (int64_t t = 0; t < B; t++)
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        const float *ai = a + t * sa, *bi = b + t * sb;
        double ex = 0, exr = 0, sum = 0, sumr = 0;
        for (int64_t q = 0; q < k; q++) {
          const float x = at(ai, ta, i, q, m, k), y = at(bi, tb, q, j, k, n);
          ex += (double)x * y, sum += fabs((double)x * y);
          exr += ref_bf16(x) * ref_bf16(y), sumr += fabs(ref_bf16(x) * ref_bf16(y));
        }
        const int64_t e = t * sc + i * n + j;
        const double bc = g->beta == 0.0f ? 0.0 : (double)g->beta * c0[e];
        const double got = c[e], absa = fabs((double)g->alpha);
        const double want = g->alpha * ex + bc, wantr = g->alpha * exr + bc;
        const double tol = bound_factor(k, 1) * absa * sum + 3 * V_F32 * fabs(bc);
        const double tolr = bound_factor(k, 0) * absa * sumr + 3 * V_F32 * fabs(bc);
        ck_assert_msg(fabs(got - want) <= tol && fabs(got - wantr) <= tolr,
                      "%lldx%lldx%lld t%d%d item %lld (%lld, %lld): %.9g, exact %.9g (bound "
                      "%.3g), of the rounded inputs %.9g (bound %.3g)",
                      (long long)m, (long long)n, (long long)k, ta, tb, (long long)t,
                      (long long)i, (long long)j, got, want, tol, wantr, tolr);
        const double f32 = bound_factor(k, 0) * absa * sum + 3 * V_F32 * fabs(bc);
        if (f32 > 0 && fabs(got - want) / f32 > worst_rounded) worst_rounded = fabs(got - want) / f32;
      }
  /* the gaps between c's items are not written */
  for (int64_t e = 0; e < nc; e++)
    if (e % sc >= m * n) ck_assert(c[e] == c0[e]);
  /* bf16 did happen: somewhere farther from the exact value than float32
   * alone could be */
  if (k >= 7) ck_assert_msg(worst_rounded > 1, "no rounding seen (%.3g)", worst_rounded);
  free(a), free(b), free(c), free(c0);
  inc_context_destroy(ctx);
}
END_TEST

/* ---- layers: bf16 against float32 within the bound -------------------------------- */

/* A leaf layer with its data: x (xd), dy (yd), params set from host. */
typedef struct lcase {
  const char *what;
  int conv[8];   /* tu_conv_desc's g; conv[0] == 0: a dense layer of `out` features */
  int out;
  int64_t xd[4]; /* (N, C, H, W), or (N, F) for dense */
  int ndim;
} lcase;

static const lcase LCASES[] = {
    {"conv2d 3x3 s2 p1", {7, 3, 3, 2, 2, 1, 1, 1}, 0, {3, 5, 9, 9}, 4},
    {"conv2d 1x1", {6, 1, 1, 1, 1, 0, 0, 1}, 0, {2, 9, 5, 7}, 4},
    {"conv2d 1x7 p0x3", {4, 1, 7, 1, 1, 0, 3, 0}, 0, {2, 3, 6, 11}, 4},
    {"dense", {0}, 11, {5, 37}, 2},
};

/* Host copies of one training pass. */
typedef struct lrun {
  float *y, *dx, *dw, *db;
  int64_t ny, nx, nw, nb;
} lrun;

static inc_layer *lcase_layer(inc_context *ctx, const lcase *c)
{
  inc_layer *l = NULL;
  if (c->conv[0]) {
    inc_conv2d_desc d = tu_conv_desc(c->conv);
    INC_CK(ctx, inc_conv2d_create_desc(ctx, &d, &l));
  } else {
    INC_CK(ctx, inc_dense_create(ctx, c->out, &l));
  }
  return l;
}

/* Sets l's weight to w (|w| when absv) and its bias (if any) to b (0 when
 * absv), runs forward on x and backward on dy (absolute values when absv). */
static lrun lcase_run(inc_context *ctx, inc_layer *l, const lcase *c, const float *x,
                      const float *w, const float *b, const float *dy, int absv)
{
  lrun r;
  int64_t yd[INC_MAX_DIMS];
  int ynd;
  INC_CK(ctx, inc_layer_infer_shape(l, c->ndim, c->xd, &ynd, yd));
  r.nx = r.ny = 1;
  for (int i = 0; i < c->ndim; i++) r.nx *= c->xd[i];
  for (int i = 0; i < ynd; i++) r.ny *= yd[i];
  inc_tensor *wv, *wg, *bv = NULL, *bg = NULL;
  INC_CK(ctx, inc_layer_param(l, 0, NULL, &wv, &wg));
  r.nw = inc_tensor_numel(wv);
  r.nb = 0;
  if (inc_layer_param_count(l) > 1) {
    INC_CK(ctx, inc_layer_param(l, 1, NULL, &bv, &bg));
    r.nb = inc_tensor_numel(bv);
  }
  const int64_t big = r.nx + r.ny + r.nw + r.nb;
  float *tmp = malloc(big * sizeof *tmp);
  ck_assert(tmp);
  for (int64_t i = 0; i < r.nw; i++) tmp[i] = absv ? fabsf(w[i]) : w[i];
  INC_CK(ctx, inc_tensor_copy_from_host(wv, tmp, r.nw));
  for (int64_t i = 0; i < r.nb; i++) tmp[i] = absv ? 0.0f : b[i];
  if (bv) INC_CK(ctx, inc_tensor_copy_from_host(bv, tmp, r.nb));
  for (int64_t i = 0; i < r.nx; i++) tmp[i] = absv ? fabsf(x[i]) : x[i];
  inc_tensor *xt = tu_tensor(ctx, c->ndim, c->xd, tmp);
  for (int64_t i = 0; i < r.ny; i++) tmp[i] = absv ? fabsf(dy[i]) : dy[i];
  inc_tensor *dyt = tu_tensor(ctx, ynd, yd, tmp);
  free(tmp);
  const inc_tensor *y, *dx;
  INC_CK(ctx, inc_layer_forward(l, xt, 1, &y));
  r.y = tu_host(y);
  INC_CK(ctx, inc_layer_backward(l, dyt, &dx));
  r.dx = tu_host(dx);
  r.dw = tu_host(wg);
  r.db = bg ? tu_host(bg) : NULL;
  inc_tensor_destroy(xt);
  inc_tensor_destroy(dyt);
  return r;
}

static void lrun_free(lrun *r) { free(r->y), free(r->dx), free(r->dw), free(r->db); }

/* |p16 - p32| <= (bound(K) bf16 + bound(K) float32) S (1 + 2^-10: S's own
 * float32 rounding) + 2v |p32| (one more rounding each, a bias add) over n
 * values; returns how many differ at all. */
static int64_t check_close(const char *what, const char *val, const float *p16,
                           const float *p32, const float *s, int64_t n, int64_t k)
{
  const double f = (bound_factor(k, 1) + bound_factor(k, 0)) * (1 + 1.0 / 1024);
  int64_t differ = 0;
  for (int64_t i = 0; i < n; i++) {
    const double tol = f * s[i] + 2 * V_F32 * fabs(p32[i]);
    ck_assert_msg(fabs((double)p16[i] - p32[i]) <= tol, "%s: %s[%lld] bf16 %.9g, float32 %.9g, "
                  "bound %.3g (S %.6g, K %lld)", what, val, (long long)i, p16[i], p32[i], tol,
                  s[i], (long long)k);
    differ += p16[i] != p32[i];
  }
  return differ;
}

START_TEST(test_bf16_layers)
{
  const lcase *c = &LCASES[_i];
  inc_context *ctx = bf16_cpu("the layer cases", _i == 0);
  if (!ctx) return;
  inc_layer *l = lcase_layer(ctx, c);
  int64_t yd[INC_MAX_DIMS];
  int ynd;
  INC_CK(ctx, inc_layer_infer_shape(l, c->ndim, c->xd, &ynd, yd));
  inc_tensor *wv, *wg;
  INC_CK(ctx, inc_layer_param(l, 0, NULL, &wv, &wg));
  int64_t nx = 1, ny = 1, nw = inc_tensor_numel(wv), nb = c->conv[0] ? c->conv[0] : c->out;
  for (int i = 0; i < c->ndim; i++) nx *= c->xd[i];
  for (int i = 0; i < ynd; i++) ny *= yd[i];
  float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(nb * sizeof *b);
  float *dy = malloc(ny * sizeof *dy);
  tu_fill(x, nx, 21, -1.0f, 1.0f);
  tu_fill(w, nw, 22, -0.5f, 0.5f);
  tu_fill(b, nb, 23, -0.5f, 0.5f);
  tu_fill(dy, ny, 24, -1.0f, 1.0f);
  lrun h = lcase_run(ctx, l, c, x, w, b, dy, 0);
  INC_CK(ctx, inc_context_set_precision(ctx, INC_PRECISION_FP32));
  lrun f = lcase_run(ctx, l, c, x, w, b, dy, 0);
  lrun s = lcase_run(ctx, l, c, x, w, b, dy, 1); /* S: |x|, |W|, |dy|, no bias */
  /* the GEMMs' K: y sums C KH KW (F) terms; dx OC (out) terms, then col2im
   * adds up to KH KW of them; dW N OH OW (N) terms */
  const int64_t kk = c->conv[0] ? (int64_t)c->conv[1] * c->conv[2] : 1;
  const int64_t ky = nw / nb, kx = nb + kk, kw = ny / nb;
  int64_t differ = check_close(c->what, "y", h.y, f.y, s.y, ny, ky);
  differ += check_close(c->what, "dx", h.dx, f.dx, s.dx, nx, kx);
  differ += check_close(c->what, "dW", h.dw, f.dw, s.dw, nw, kw);
  ck_assert_msg(differ > 0, "%s: bf16 gave float32's bits everywhere", c->what);
  if (h.db) /* the bias gradient is no GEMM: float32's own bits */
    for (int64_t i = 0; i < nb; i++) ck_assert(h.db[i] == f.db[i]);
  lrun_free(&h), lrun_free(&f), lrun_free(&s);
  free(x), free(w), free(b), free(dy);
  inc_layer_destroy(l);
  inc_context_destroy(ctx);
}
END_TEST

/* Winograd's products stay float32 under BF16 (src/cpu/gemm_bf16.c says
 * why): a 3x3 stride-1 convolution forced to F(2x2) or F(4x4) gives the
 * bits it gives in FP32, forward and backward; forced direct, it differs. */
START_TEST(test_bf16_winograd)
{
  inc_context *ctx = bf16_cpu("Winograd", 1);
  if (!ctx) return;
  static const char *algo[3] = {"direct", "winograd2", "winograd4"};
  const int64_t nx = 2 * 16 * 144, ny = 2 * 24 * 144, nw = 24 * 16 * 9;
  float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *dy = malloc(ny * sizeof *dy);
  tu_fill(x, nx, 31, 0.0f, 1.0f);
  tu_fill(w, nw, 32, -1.0f / 12, 1.0f / 12);
  tu_fill(dy, ny, 33, -1.0f, 1.0f);
  const lcase c = {"conv2d 3x3 s1 p1", {24, 3, 3, 1, 1, 1, 1, 0}, 0, {2, 16, 12, 12}, 4};
  for (int a = 0; a < 3; a++) {
    lrun r[2];
    ck_assert_int_eq(setenv(INC__CONV_ALGO_ENV, algo[a], 1), 0);
    for (int p = 0; p < 2; p++) {
      INC_CK(ctx, inc_context_set_precision(ctx, p ? INC_PRECISION_BF16 : INC_PRECISION_FP32));
      inc_layer *l = lcase_layer(ctx, &c); /* the variable is read when the plan is built */
      r[p] = lcase_run(ctx, l, &c, x, w, NULL, dy, 0);
      inc_layer_destroy(l);
    }
    const int same = !memcmp(r[0].y, r[1].y, ny * sizeof(float)) &&
                     !memcmp(r[0].dx, r[1].dx, nx * sizeof(float)) &&
                     !memcmp(r[0].dw, r[1].dw, nw * sizeof(float));
    ck_assert_msg(same == (a > 0), "%s: bf16 %s float32's bits", algo[a],
                  same ? "gave" : "did not give");
    lrun_free(&r[0]), lrun_free(&r[1]);
  }
  unsetenv(INC__CONV_ALGO_ENV);
  free(x), free(w), free(dy);
  inc_context_destroy(ctx);
}
END_TEST

/* ---- a network (tu_small_net): training in bf16, and FP32 again -------------- */

enum { TN = 32, TS = 12 };

/* The synthetic task of test_train.c: class = the quadrant of a 12x12
 * image that holds a bright blob. */
static inc_tensor *quadrants(inc_context *ctx, int32_t *lab)
{
  float *xh = malloc(TN * TS * TS * sizeof *xh);
  ck_assert(xh);
  tu_fill(xh, TN * TS * TS, 77, 0, 0.3f);
  for (int n = 0; n < TN; n++) {
    lab[n] = n % 4;
    const int oy = (lab[n] / 2) * 6, ox = (lab[n] % 2) * 6;
    for (int y = 1; y < 5; y++)
      for (int x = 1; x < 5; x++) xh[n * TS * TS + (oy + y) * TS + ox + x] += 1.0f;
  }
  const int64_t xd[4] = {TN, 1, TS, TS};
  inc_tensor *x = tu_tensor(ctx, 4, xd, xh);
  free(xh);
  return x;
}

START_TEST(test_bf16_training)
{
  inc_context *ctx = bf16_cpu("the training run", 1);
  if (!ctx) return;
  inc_layer *net = tu_small_net(ctx, 4);
  int32_t lab[TN];
  inc_tensor *x = quadrants(ctx, lab);
  const int64_t ld[2] = {TN, 4};
  inc_tensor *dl = tu_tensor(ctx, 2, ld, NULL);
  inc_optimizer *o;
  INC_CK(ctx, inc_sgd_create(ctx, 0.05f, 0.9f, 0, &o));
  float first = 0, loss = 0;
  int64_t correct = 0;
  for (int it = 0; it < 60; it++) {
    const inc_tensor *y;
    INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
    INC_CK(ctx, inc_softmax_cross_entropy(ctx, y, lab, &loss, dl, &correct));
    if (it == 0) first = loss;
    INC_CK(ctx, inc_layer_backward(net, dl, NULL));
    INC_CK(ctx, inc_optimizer_step(o, net));
  }
  printf("bf16: training loss %.4f -> %.4f in 60 steps, %lld of %d right\n", first, loss,
         (long long)correct, TN);
  ck_assert_msg(loss < 0.5f * first, "loss %g after 60 steps, started at %g", loss, first);
  ck_assert_msg(correct >= TN * 3 / 4, "only %lld of %d right", (long long)correct, TN);
  ck_assert_int_eq(inc_context_precision(ctx), INC_PRECISION_BF16);
  inc_tensor_destroy(x), inc_tensor_destroy(dl);
  inc_optimizer_destroy(o);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

/* One training step's loss, logits and parameter gradients, as host copies
 * (the caller frees *out). */
static float net_pass(inc_context *ctx, inc_layer *net, const inc_tensor *x, const int32_t *lab,
                      inc_tensor *dl, float **out, int64_t *count)
{
  const inc_tensor *y;
  float loss;
  INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
  INC_CK(ctx, inc_softmax_cross_entropy(ctx, y, lab, &loss, dl, NULL));
  INC_CK(ctx, inc_layer_backward(net, dl, NULL));
  const int64_t ny = inc_tensor_numel(y), np = inc_layer_param_numel(net);
  float *h = malloc((ny + np) * sizeof *h);
  ck_assert(h);
  INC_CK(ctx, inc_tensor_copy_to_host(y, h, ny));
  int64_t at = ny;
  for (int i = 0; i < inc_layer_param_count(net); i++) {
    inc_tensor *v, *g;
    INC_CK(ctx, inc_layer_param(net, i, NULL, &v, &g));
    INC_CK(ctx, inc_tensor_copy_to_host(g, h + at, inc_tensor_numel(g)));
    at += inc_tensor_numel(g);
  }
  *out = h;
  *count = at;
  return loss;
}

/* FP32, then BF16 (different bits), then FP32 again: float32's bits. */
START_TEST(test_bf16_fp32_again)
{
  inc_context *ctx = tu_cpu();
  ck_assert_int_eq(inc_context_precision(ctx), INC_PRECISION_FP32);
  inc_layer *net = tu_small_net(ctx, 4);
  int32_t lab[TN];
  inc_tensor *x = quadrants(ctx, lab);
  const int64_t ld[2] = {TN, 4};
  inc_tensor *dl = tu_tensor(ctx, 2, ld, NULL);
  float *a, *b, *c;
  int64_t na, nb, nc;
  net_pass(ctx, net, x, lab, dl, &a, &na);
  if (bf16_expected()) {
    INC_CK(ctx, inc_context_set_precision(ctx, INC_PRECISION_BF16));
    INC_CK(ctx, inc_context_set_precision(ctx, INC_PRECISION_BF16)); /* again: a no-op */
    net_pass(ctx, net, x, lab, dl, &b, &nb);
    ck_assert_int_eq(nb, na);
    ck_assert_msg(memcmp(a, b, na * sizeof *a) != 0, "bf16 gave float32's bits");
    free(b);
  } else {
    ck_assert_int_eq(inc_context_set_precision(ctx, INC_PRECISION_BF16), INC_ERR_UNAVAILABLE);
    ck_assert_int_eq(inc_context_precision(ctx), INC_PRECISION_FP32);
    printf("bf16: the bf16 pass of FP32-again skipped: %s\n", inc_context_last_error(ctx));
  }
  INC_CK(ctx, inc_context_set_precision(ctx, INC_PRECISION_FP32));
  ck_assert_int_eq(inc_context_precision(ctx), INC_PRECISION_FP32);
  net_pass(ctx, net, x, lab, dl, &c, &nc);
  ck_assert_int_eq(nc, na);
  ck_assert_msg(memcmp(a, c, na * sizeof *a) == 0, "FP32 again differs from float32");
  free(a), free(c);
  inc_tensor_destroy(x), inc_tensor_destroy(dl);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

/* ---- where bf16 cannot run ----------------------------------------------------- */

START_TEST(test_bf16_availability)
{
  inc_context *ctx = tu_cpu();
  const inc_status s = inc_context_set_precision(ctx, INC_PRECISION_BF16);
  const char *msg = inc_context_last_error(ctx);
#ifdef INC_CPU_GEMM_ONEDNN
  if (bf16_expected()) {
    ck_assert_msg(s == INC_OK, "%s", msg);
    ck_assert_int_eq(inc_context_precision(ctx), INC_PRECISION_BF16);
  } else {
    ck_assert_int_eq(s, INC_ERR_UNAVAILABLE);
    ck_assert_msg(strstr(msg, "AVX512-BF16"), "message: %s", msg);
  }
#else
  ck_assert_int_eq(s, INC_ERR_UNAVAILABLE);
  ck_assert_msg(strstr(msg, "oneDNN") && strstr(msg, "GEMM=onednn"), "message: %s", msg);
  ck_assert_int_eq(inc_context_precision(ctx), INC_PRECISION_FP32);
#endif
  INC_CK(ctx, inc_context_set_precision(ctx, INC_PRECISION_FP32));
  ck_assert_int_eq(inc_context_precision(ctx), INC_PRECISION_FP32);
  inc_context_destroy(ctx);
}
END_TEST

/* A CPU without AVX512-BF16, imitated: oneDNN's ISA limited to AVX-512
 * core before it first detects anything. It can be limited once per
 * process, so this needs Check's fork per test (not CK_FORK=no). */
START_TEST(test_bf16_no_isa)
{
#ifdef INC_CPU_GEMM_ONEDNN
  const char *fork_mode = getenv("CK_FORK");
  if ((fork_mode && !strcmp(fork_mode, "no")) ||
      dnnl_set_max_cpu_isa(dnnl_cpu_isa_avx512_core) != dnnl_success) {
    printf("bf16: the no-AVX512-BF16 case skipped: oneDNN's ISA is already settled in this "
           "process (CK_FORK=no)\n");
    return;
  }
  inc_context *ctx = tu_cpu();
  ck_assert_int_eq(inc_context_set_precision(ctx, INC_PRECISION_BF16), INC_ERR_UNAVAILABLE);
  const char *msg = inc_context_last_error(ctx);
  ck_assert_msg(strstr(msg, "AVX512-BF16") && strstr(msg, "avx512_core"), "message: %s", msg);
  ck_assert_int_eq(inc_context_precision(ctx), INC_PRECISION_FP32);
  inc_context_destroy(ctx);
#else
  printf("bf16: the no-AVX512-BF16 case skipped: this build has no oneDNN (no bf16 at all)\n");
#endif
}
END_TEST

static void fixture_unset(void) { unsetenv(INC__CONV_ALGO_ENV); }

Suite *inc_test_suite_bf16(void)
{
  Suite *s = suite_create("bf16");
  TCase *tc = tcase_create("bf16");
  tcase_add_checked_fixture(tc, fixture_unset, fixture_unset);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_bf16_rounding);
  tcase_add_loop_test(tc, test_bf16_gemm, 0, 4 * N_GEMM_ROWS);
  tcase_add_loop_test(tc, test_bf16_layers, 0, (int)(sizeof LCASES / sizeof LCASES[0]));
  tcase_add_test(tc, test_bf16_winograd);
  tcase_add_test(tc, test_bf16_training);
  tcase_add_test(tc, test_bf16_fp32_again);
  tcase_add_test(tc, test_bf16_availability);
  tcase_add_test(tc, test_bf16_no_isa);
  suite_add_tcase(s, tc);
  return s;
}
