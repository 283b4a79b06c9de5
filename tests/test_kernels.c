/*
 * test_kernels.c — the INC_HD kernel bodies of src/kernels.h, called
 * directly, and the CPU backend table (ctx->ops) through an internal
 * context.
 *
 * The CUDA backend runs these very bodies one thread per element, so these
 * tests pin its index arithmetic on any machine: im2col/col2im (each against
 * a naive definition, and adjoint to each other), the axis swap, the GEMM
 * output pass, channel slices, pooling windows and divisors, max-pool argmax
 * semantics (first maximum wins, NaN propagates), softmax cross-entropy on
 * extreme logits, PyTorch's SGD rule and the counter-based RNG. The GEMM
 * slot is checked against a triple loop for all four transpose combinations
 * with odd, non-square sizes: the row-major contract every backend honours.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"
#include "naive.h"
#include "internal.h"
#include "kernels.h"

enum { S_GEMM, S_ADJ, S_SOFTMAX, S_SGD, S_RNG };

static float *falloc(int64_t n)
{
  float *p = (float *)malloc((size_t)(n ? n : 1) * sizeof(float));
  ck_assert_ptr_nonnull(p);
  return p;
}

static inc__window win(int64_t n, int64_t c, int64_t h, int64_t w, int k, int s, int p)
{
  inc__window g;
  g.n = n;
  g.c = c;
  g.h = h;
  g.w = w;
  g.k = k;
  g.s = s;
  g.p = p;
  g.oh = nv_out(h, k, s, p);
  g.ow = nv_out(w, k, s, p);
  return g;
}

/* Geometries (N, C, H, W, K, S, P): square and not, stride 1..3, padding 0
 * up to beyond the kernel, kernels larger and smaller than the stride. */
static const int geos[][7] = {
    {2, 3, 7, 5, 3, 1, 1}, {1, 2, 9, 11, 3, 2, 0}, {2, 2, 9, 11, 7, 2, 3}, {3, 1, 7, 5, 2, 3, 0},
    {1, 3, 5, 7, 5, 1, 2}, {2, 2, 8, 6, 4, 2, 1},  {1, 1, 1, 1, 1, 1, 0},  {2, 3, 7, 5, 1, 2, 0},
    {1, 2, 6, 9, 3, 3, 2}, {2, 1, 4, 4, 5, 1, 2},  {1, 2, 3, 3, 3, 1, 4},  {3, 2, 10, 3, 3, 2, 1},
};
#define NGEOS ((int)(sizeof geos / sizeof geos[0]))

static inc__window geo_win(int i)
{
  const int *q = geos[i];
  return win(q[0], q[1], q[2], q[3], q[4], q[5], q[6]);
}

/* ---- convolution helpers ---------------------------------------------------------- */

START_TEST(test_im2col_col2im)
{
  for (int gi = 0; gi < NGEOS; gi++) {
    inc__window g = geo_win(gi);
    int64_t nx = g.n * g.c * g.h * g.w, cols = g.n * g.oh * g.ow, rows = g.c * g.k * g.k;
    int64_t ncol = rows * cols;
    float *x = falloc(nx), *cv = falloc(ncol), *col = falloc(ncol), *dx = falloc(nx);
    tu_fill(x, nx, 1 + (uint64_t)gi, -1.0f, 1.0f);
    tu_fill(cv, ncol, 100 + (uint64_t)gi, -1.0f, 1.0f);
    for (int64_t i = 0; i < ncol; i++) col[i] = inc__k_im2col(x, i, &g);
    for (int64_t i = 0; i < nx; i++) dx[i] = inc__k_col2im(cv, i, &g);
    /* im2col against its definition, exactly; col2im against a scatter */
    double *dref = (double *)calloc((size_t)nx, sizeof(double));
    ck_assert_ptr_nonnull(dref);
    for (int64_t c = 0; c < g.c; c++)
      for (int ki = 0; ki < g.k; ki++)
        for (int kj = 0; kj < g.k; kj++)
          for (int64_t n = 0; n < g.n; n++)
            for (int64_t oh = 0; oh < g.oh; oh++)
              for (int64_t ow = 0; ow < g.ow; ow++) {
                int64_t r = (c * g.k + ki) * g.k + kj, q = (n * g.oh + oh) * g.ow + ow;
                int64_t h = oh * g.s - g.p + ki, w = ow * g.s - g.p + kj;
                int in = h >= 0 && h < g.h && w >= 0 && w < g.w;
                int64_t xi = ((n * g.c + c) * g.h + h) * g.w + w;
                float want = in ? x[xi] : 0.0f;
                ck_assert_msg(col[r * cols + q] == want,
                              "geometry %d: im2col[%lld][%lld] = %g, expected %g", gi,
                              (long long)r, (long long)q, (double)col[r * cols + q],
                              (double)want);
                if (in) dref[xi] += cv[r * cols + q];
              }
    char what[48];
    snprintf(what, sizeof what, "col2im geometry %d", gi);
    nv_check(dx, dref, nx, 1e-5, 1e-5, what, "dx");
    /* adjointness: <im2col(x), cv> == <x, col2im(cv)> */
    double lhs = 0.0, rhs = 0.0, mag = 0.0;
    for (int64_t i = 0; i < ncol; i++) {
      lhs += (double)col[i] * cv[i];
      mag += fabs((double)col[i] * cv[i]);
    }
    for (int64_t i = 0; i < nx; i++) rhs += (double)x[i] * dx[i];
    double rel = fabs(lhs - rhs) / (mag > 0 ? mag : 1.0);
    ck_assert_msg(rel < 1e-6, "geometry %d: <im2col(x), c> = %.9g but <x, col2im(c)> = %.9g",
                  gi, lhs, rhs);
    nv_note(S_ADJ, rel);
    free(dref);
    free(x);
    free(cv);
    free(col);
    free(dx);
  }
  nv_case_done();
}
END_TEST

START_TEST(test_swap01)
{
  static const int64_t abp[][3] = {{1, 1, 1},  {3, 5, 7}, {5, 3, 1},
                                   {2, 9, 35}, {7, 1, 4}, {1, 6, 3}};
  for (size_t t = 0; t < sizeof abp / sizeof abp[0]; t++) {
    int64_t a = abp[t][0], b = abp[t][1], p = abp[t][2], n = a * b * p;
    float *src = falloc(n), *dst = falloc(n), *back = falloc(n);
    tu_fill(src, n, 3 + t, -1.0f, 1.0f);
    for (int64_t i = 0; i < n; i++) dst[i] = inc__k_swap01(src, i, a, b, p);
    for (int64_t ai = 0; ai < a; ai++)
      for (int64_t bi = 0; bi < b; bi++)
        for (int64_t q = 0; q < p; q++)
          ck_assert(dst[(bi * a + ai) * p + q] == src[(ai * b + bi) * p + q]);
    for (int64_t i = 0; i < n; i++) back[i] = inc__k_swap01(dst, i, b, a, p);
    ck_assert_msg(!memcmp(back, src, (size_t)n * sizeof(float)),
                  "swap01 twice is not the identity for (%lld, %lld, %lld)", (long long)a,
                  (long long)b, (long long)p);
    free(src);
    free(dst);
    free(back);
  }
  nv_case_done();
}
END_TEST

START_TEST(test_conv_out_bias)
{
  const int64_t n = 3, c = 4, p = 7, total = n * c * p;
  float *tmp = falloc(total), *bias = falloc(c), *y = falloc(total), *dy = falloc(total);
  tu_fill(tmp, total, 8, -1.0f, 1.0f);
  tu_fill(bias, c, 9, -0.5f, 0.5f);
  for (int relu = 0; relu < 2; relu++)
    for (int with_bias = 0; with_bias < 2; with_bias++) {
      for (int64_t i = 0; i < total; i++)
        y[i] = inc__k_conv_out(tmp, with_bias ? bias : NULL, i, n, c, p, relu);
      for (int64_t ni = 0; ni < n; ni++)
        for (int64_t ci = 0; ci < c; ci++)
          for (int64_t q = 0; q < p; q++) {
            float v = tmp[ci * (n * p) + ni * p + q] + (with_bias ? bias[ci] : 0.0f);
            if (relu && v < 0.0f) v = 0.0f;
            ck_assert_msg(y[(ni * c + ci) * p + q] == v,
                          "conv_out relu=%d bias=%d at (%lld, %lld, %lld)", relu, with_bias,
                          (long long)ni, (long long)ci, (long long)q);
          }
    }
  /* bias_add and bias_grad */
  tu_fill(dy, total, 10, -1.0f, 1.0f);
  for (int64_t i = 0; i < total; i++) {
    float v = inc__k_bias_add(tmp, bias, i, c, p);
    ck_assert(v == tmp[i] + bias[(i / p) % c]);
  }
  for (int64_t j = 0; j < c; j++) {
    double want = 0.0;
    for (int64_t ni = 0; ni < n; ni++)
      for (int64_t q = 0; q < p; q++) want += dy[(ni * c + j) * p + q];
    ck_assert_double_eq_tol(inc__k_bias_grad(dy, j, n, c, p), want, 1e-5);
  }
  /* relu and its gradient from the saved output: nothing passes at 0 */
  ck_assert_float_eq(inc__k_relu(-1.0f), 0.0f);
  ck_assert_float_eq(inc__k_relu(2.5f), 2.5f);
  ck_assert_float_eq(inc__k_relu_grad(3.0f, 0.0f), 0.0f);
  ck_assert_float_eq(inc__k_relu_grad(3.0f, 1e-30f), 3.0f);
  free(tmp);
  free(bias);
  free(y);
  free(dy);
  nv_case_done();
}
END_TEST

START_TEST(test_slice_index_cover)
{
  static const int64_t sets[][5] = {{3, 2, 3, 1, 0}, {1, 5, 0, 0, 0}, {2, 1, 1, 1, 1},
                                    {3, 4, 7, 0, 0}};
  static const int64_t ps[] = {1, 35, 6};
  for (size_t si = 0; si < sizeof sets / sizeof sets[0]; si++)
    for (size_t pi = 0; pi < sizeof ps / sizeof ps[0]; pi++)
      for (int64_t n = 1; n <= 3; n += 2) {
        int64_t p = ps[pi], ct = 0;
        for (int b = 0; b < 5; b++) ct += sets[si][b];
        int64_t total = n * ct * p;
        int *hits = (int *)calloc((size_t)total, sizeof(int));
        ck_assert_ptr_nonnull(hits);
        int64_t off = 0;
        for (int b = 0; b < 5 && sets[si][b]; b++) {
          int64_t cb = sets[si][b];
          for (int64_t i = 0; i < n * cb * p; i++) {
            int64_t j = inc__k_slice_index(i, cb, ct, off, p);
            ck_assert(j >= 0 && j < total);
            int64_t q = i % p, c = (i / p) % cb, ni = i / (p * cb);
            ck_assert_int_eq(j, (ni * ct + off + c) * p + q);
            hits[j]++;
          }
          off += cb;
        }
        for (int64_t j = 0; j < total; j++)
          ck_assert_msg(hits[j] == 1, "set %zu p %lld n %lld: element %lld written %d times", si,
                        (long long)p, (long long)n, (long long)j, hits[j]);
        free(hits);
      }
  nv_case_done();
}
END_TEST

/* ---- pooling ------------------------------------------------------------------------- */

START_TEST(test_window_range)
{
  long checked = 0;
  for (int k = 1; k <= 7; k++)
    for (int s = 1; s <= 4; s++)
      for (int p = 0; p <= k; p++)
        for (int64_t h = 1; h <= 12; h++) {
          if (h + 2 * p < k) continue;
          int64_t out = nv_out(h, k, s, p);
          for (int64_t x = 0; x < h; x++) {
            int64_t lo = 0, hi = -1, blo = -1, bhi = -2;
            inc__k_window_range(x, k, s, p, out, &lo, &hi);
            for (int64_t o = 0; o < out; o++)
              if (o * s - p <= x && x <= o * s - p + k - 1) {
                if (blo < 0) blo = o;
                ck_assert_msg(bhi < 0 || bhi == o - 1, "windows covering x are not contiguous");
                bhi = o;
              }
            if (blo < 0)
              ck_assert_msg(lo > hi,
                            "k%d s%d p%d h%lld x%lld: no window covers x, got [%lld, %lld]", k, s,
                            p, (long long)h, (long long)x, (long long)lo, (long long)hi);
            else
              ck_assert_msg(lo == blo && hi == bhi,
                            "k%d s%d p%d h%lld x%lld: got [%lld, %lld], expected [%lld, %lld]", k,
                            s, p, (long long)h, (long long)x, (long long)lo, (long long)hi,
                            (long long)blo, (long long)bhi);
            checked++;
          }
        }
  ck_assert(checked > 5000);
  nv_case_done();
}
END_TEST

/* Pool geometries: (N, C, H, W, K, S, P) with P <= K/2 (PyTorch's rule). */
static const int pgeos[][7] = {
    {2, 2, 7, 5, 3, 1, 1}, {1, 3, 9, 11, 3, 2, 1}, {2, 2, 7, 5, 2, 2, 0}, {1, 2, 9, 11, 2, 1, 1},
    {2, 1, 9, 11, 5, 2, 2}, {1, 2, 6, 4, 3, 3, 0}, {1, 1, 1, 1, 1, 1, 0}, {2, 2, 3, 8, 3, 2, 1},
};
#define NPGEOS ((int)(sizeof pgeos / sizeof pgeos[0]))

START_TEST(test_maxpool_semantics)
{
  for (int gi = 0; gi < NPGEOS; gi++) {
    const int *q = pgeos[gi];
    inc__window g = win(q[0], q[1], q[2], q[3], q[4], q[5], q[6]);
    int64_t nx = g.n * g.c * g.h * g.w, ny = g.n * g.c * g.oh * g.ow;
    float *x = falloc(nx), *y = falloc(ny), *dy = falloc(ny), *dx = falloc(nx);
    int32_t *arg = (int32_t *)malloc((size_t)ny * sizeof(int32_t));
    int64_t *aref = (int64_t *)malloc((size_t)ny * sizeof(int64_t));
    double *yref = (double *)malloc((size_t)ny * sizeof(double));
    double *dref = (double *)calloc((size_t)nx, sizeof(double));
    ck_assert(arg && aref && yref && dref);
    /* values in {-1, 0, 1}: ties everywhere */
    tu_fill(x, nx, 20 + (uint64_t)gi, 0.0f, 3.0f);
    for (int64_t i = 0; i < nx; i++) x[i] = floorf(x[i]) - 1.0f;
    tu_fill(dy, ny, 30 + (uint64_t)gi, -1.0f, 1.0f);
    double *xd = nv_to_double(x, nx);
    nv_maxpool(yref, aref, xd, g.n, g.c, g.h, g.w, g.k, g.s, g.p, NULL, 0);
    for (int64_t i = 0; i < ny; i++) {
      y[i] = inc__k_maxpool(x, i, &g, &arg[i]);
      int64_t plane = i / (g.oh * g.ow);
      ck_assert_float_eq(y[i], (float)yref[i]);
      ck_assert_msg(arg[i] == aref[i] - plane * g.h * g.w,
                    "geometry %d output %lld: argmax %d, expected the first maximum %lld", gi,
                    (long long)i, arg[i], (long long)(aref[i] - plane * g.h * g.w));
      dref[aref[i]] += dy[i];
    }
    for (int64_t i = 0; i < nx; i++) dx[i] = inc__k_maxpool_grad(dy, arg, i, &g);
    nv_check(dx, dref, nx, 1e-6, 1e-6, "maxpool_grad", "dx");
    free(x);
    free(y);
    free(dy);
    free(dx);
    free(arg);
    free(aref);
    free(yref);
    free(dref);
    free(xd);
  }

  /* a hand-made window: the first of equal maxima wins, NaN propagates */
  inc__window g = win(1, 1, 2, 3, 2, 1, 0); /* outputs 1x2 */
  const float ties[6] = {1, 5, 5, 5, 2, 5};
  int32_t a;
  ck_assert_float_eq(inc__k_maxpool(ties, 0, &g, &a), 5.0f);
  ck_assert_int_eq(a, 1);
  ck_assert_float_eq(inc__k_maxpool(ties, 1, &g, &a), 5.0f);
  ck_assert_int_eq(a, 1);
  const float nan_late[6] = {1, 5, 0, 2, NAN, 0};
  ck_assert(isnan(inc__k_maxpool(nan_late, 0, &g, &a)));
  ck_assert_int_eq(a, 4);
  const float nan_first[6] = {NAN, 5, 0, 7, 2, 0};
  ck_assert(isnan(inc__k_maxpool(nan_first, 0, &g, &a)));
  ck_assert_int_eq(a, 0);
  /* padding is -inf: a window of -inf pixels still picks a real pixel */
  inc__window gp = win(1, 1, 2, 2, 3, 2, 1); /* one output covering rows/cols -1..1 */
  const float minf[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
  ck_assert(inc__k_maxpool(minf, 0, &gp, &a) == -INFINITY);
  ck_assert_int_eq(a, 0);
  const float neg[4] = {-3, -2, -4, -5};
  ck_assert_float_eq(inc__k_maxpool(neg, 0, &gp, &a), -2.0f);
  ck_assert_int_eq(a, 1);
  nv_case_done();
}
END_TEST

START_TEST(test_avgpool_divisor)
{
  long checked = 0;
  for (int k = 1; k <= 6; k++)
    for (int s = 1; s <= 3; s++)
      for (int p = 0; p <= k / 2; p++)
        for (int64_t h = 1; h <= 9; h++)
          for (int64_t w = 1; w <= 9; w += 2) {
            if (h + 2 * p < k || w + 2 * p < k) continue;
            inc__window g = win(1, 1, h, w, k, s, p);
            /* also the extra window of ceil mode, whose end may pass H + p */
            int64_t oh_c = (h + 2 * p - k + s - 1) / s + 1, ow_c = (w + 2 * p - k + s - 1) / s + 1;
            if ((oh_c - 1) * s >= h + p) oh_c--;
            if ((ow_c - 1) * s >= w + p) ow_c--;
            for (int64_t oh = 0; oh < oh_c; oh++)
              for (int64_t ow = 0; ow < ow_c; ow++) {
                int64_t cnt = 0;
                for (int u = 0; u < k; u++)
                  for (int v = 0; v < k; v++) {
                    int64_t hh = oh * s - p + u, ww = ow * s - p + v;
                    if (hh >= -p && hh < h + p && ww >= -p && ww < w + p) cnt++;
                  }
                float got = inc__k_avgpool_div(oh, ow, &g);
                ck_assert_msg(got == (float)cnt,
                              "k%d s%d p%d %lldx%lld out (%lld, %lld): divisor %g, expected %lld",
                              k, s, p, (long long)h, (long long)w, (long long)oh, (long long)ow,
                              (double)got, (long long)cnt);
                if (oh < g.oh && ow < g.ow) ck_assert_int_eq(cnt, k * k); /* floor mode */
                checked++;
              }
          }
  ck_assert(checked > 1000);

  /* forward against the reference; backward adjoint to forward */
  for (int gi = 0; gi < NPGEOS; gi++) {
    const int *q = pgeos[gi];
    inc__window g = win(q[0], q[1], q[2], q[3], q[4], q[5], q[6]);
    int64_t nx = g.n * g.c * g.h * g.w, ny = g.n * g.c * g.oh * g.ow;
    float *x = falloc(nx), *y = falloc(ny), *d = falloc(ny), *dx = falloc(nx);
    double *yref = (double *)malloc((size_t)ny * sizeof(double));
    ck_assert_ptr_nonnull(yref);
    tu_fill(x, nx, 40 + (uint64_t)gi, -1.0f, 1.0f);
    tu_fill(d, ny, 50 + (uint64_t)gi, -1.0f, 1.0f);
    double *xd = nv_to_double(x, nx);
    nv_avgpool(yref, xd, g.n, g.c, g.h, g.w, g.k, g.s, g.p);
    for (int64_t i = 0; i < ny; i++) y[i] = inc__k_avgpool(x, i, &g);
    nv_check(y, yref, ny, 1e-6, 1e-5, "avgpool", "y");
    for (int64_t i = 0; i < nx; i++) dx[i] = inc__k_avgpool_grad(d, i, &g);
    double lhs = 0.0, rhs = 0.0, mag = 0.0;
    for (int64_t i = 0; i < ny; i++) {
      lhs += (double)y[i] * d[i];
      mag += fabs((double)y[i] * d[i]);
    }
    for (int64_t i = 0; i < nx; i++) rhs += (double)x[i] * dx[i];
    ck_assert_msg(fabs(lhs - rhs) <= 1e-5 * (mag > 0 ? mag : 1.0),
                  "avgpool geometry %d: <pool(x), d> = %.9g but <x, pool_grad(d)> = %.9g", gi,
                  lhs, rhs);
    nv_note(S_ADJ, fabs(lhs - rhs) / (mag > 0 ? mag : 1.0));
    free(x);
    free(y);
    free(d);
    free(dx);
    free(yref);
    free(xd);
  }

  /* global average pooling */
  const int64_t planes = 6, hw = 35;
  float *x = falloc(planes * hw), y[6], dy[6], *dx = falloc(planes * hw);
  tu_fill(x, planes * hw, 60, -1.0f, 1.0f);
  tu_fill(dy, planes, 61, -1.0f, 1.0f);
  for (int64_t j = 0; j < planes; j++) {
    double s = 0.0;
    for (int64_t t = 0; t < hw; t++) s += x[j * hw + t];
    y[j] = inc__k_gap(x, j, hw);
    ck_assert_double_eq_tol(y[j], s / (double)hw, 1e-6);
  }
  for (int64_t i = 0; i < planes * hw; i++) {
    dx[i] = inc__k_gap_grad(dy, i, hw);
    ck_assert_double_eq_tol(dx[i], dy[i / hw] / (double)hw, 1e-7);
  }
  free(x);
  free(dx);
  nv_case_done();
}
END_TEST

/* ---- loss ------------------------------------------------------------------------------ */

/* Row loss and gradient in double for comparison. */
static double ce_ref(const float *row, int32_t label, int64_t k, double scale, double *drow)
{
  double m = row[0];
  for (int64_t j = 1; j < k; j++)
    if (row[j] > m) m = row[j];
  double s = 0.0;
  for (int64_t j = 0; j < k; j++) s += exp((double)row[j] - m);
  double lse = m + log(s);
  for (int64_t j = 0; j < k; j++)
    drow[j] = (exp((double)row[j] - lse) - (j == label ? 1.0 : 0.0)) * scale;
  return lse - row[label];
}

START_TEST(test_softmax_ce_row)
{
  static const float rows[][5] = {
      {1e4f, -1e4f, 0.0f, 5.0f, -3.0f},   {-1e4f, 1e4f, 1e4f, -1e4f, 0.0f},
      {-1e4f, -1e4f, -1e4f, -1e4f, -1e4f}, {0.5f, -0.25f, 2.0f, 1.0f, 2.0f},
      {88.0f, 89.0f, -88.0f, 0.0f, 1e-3f}, {1e4f, 1e4f - 1.0f, -1e4f, 3.0f, 1e4f - 20.0f},
  };
  const float scale = 1.0f / 3.0f;
  for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++) {
    const float *row = rows[ri];
    int64_t first_max = 0;
    double big = 0.0;
    for (int64_t j = 0; j < 5; j++) {
      if (row[j] > row[first_max]) first_max = j;
      if (fabs(row[j]) > big) big = fabs(row[j]);
    }
    /* lse = m + log(sum) is rounded to float before row[j] - lse, so the
     * body is exact only to a few ulps of the largest logit */
    double tol = 1e-6 + 3e-7 * big;
    for (int32_t label = 0; label < 5; label++) {
      float d[5];
      double dr[5];
      int hit = -1;
      float loss = inc__k_softmax_ce_row(row, label, 5, scale, d, &hit);
      double lref = ce_ref(row, label, 5, scale, dr);
      ck_assert_msg(isfinite(loss), "row %zu label %d: loss %g", ri, label, (double)loss);
      ck_assert_msg(fabs(loss - lref) <= tol + 1e-6 * fabs(lref),
                    "row %zu label %d: loss %.9g, expected %.9g", ri, label, (double)loss, lref);
      ck_assert_int_eq(hit, label == first_max);
      double sum = 0.0;
      for (int j = 0; j < 5; j++) {
        ck_assert_msg(isfinite(d[j]), "row %zu label %d: dlogit %d = %g", ri, label, j,
                      (double)d[j]);
        ck_assert_msg(fabs(d[j] - dr[j]) <= tol * scale,
                      "row %zu label %d: dlogit %d = %.9g, expected %.9g", ri, label, j,
                      (double)d[j], dr[j]);
        sum += d[j];
      }
      ck_assert_msg(fabs(sum) <= 5 * tol * scale, "row %zu label %d: gradient row sums to %g",
                    ri, label, sum);
      nv_note(S_SOFTMAX, fabs(sum));
      /* without a gradient row */
      float l2 = inc__k_softmax_ce_row(row, label, 5, scale, NULL, &hit);
      ck_assert(l2 == loss);
    }
  }
  /* one class: zero loss, zero gradient */
  const float one = 123.0f;
  float d1;
  int hit;
  ck_assert_float_eq(inc__k_softmax_ce_row(&one, 0, 1, 1.0f, &d1, &hit), 0.0f);
  ck_assert_float_eq(d1, 0.0f);
  ck_assert_int_eq(hit, 1);
  /* equal logits: log(k), and the first index is the argmax */
  const float eq[4] = {2, 2, 2, 2};
  float d4[4];
  ck_assert_float_eq_tol(inc__k_softmax_ce_row(eq, 0, 4, 1.0f, d4, &hit), logf(4.0f), 1e-6f);
  ck_assert_int_eq(hit, 1);
  inc__k_softmax_ce_row(eq, 2, 4, 1.0f, d4, &hit);
  ck_assert_int_eq(hit, 0);
  nv_case_done();
}
END_TEST

/* ---- SGD -------------------------------------------------------------------------------- */

START_TEST(test_sgd_rule)
{
  static const float hyper[][3] = {
      /* lr, momentum, weight_decay */
      {0.1f, 0.0f, 0.0f}, {0.05f, 0.9f, 0.0f}, {0.01f, 0.0f, 5e-4f}, {0.1f, 0.9f, 1e-2f},
      {0.5f, 0.5f, 0.1f},
  };
  const int64_t n = 33;
  float *p = falloc(n), *buf = falloc(n), *g1 = falloc(n), *g2 = falloc(n);
  double *pd = (double *)malloc((size_t)n * sizeof(double));
  double *bd = (double *)malloc((size_t)n * sizeof(double));
  ck_assert(pd && bd);
  for (size_t hi = 0; hi < sizeof hyper / sizeof hyper[0]; hi++) {
    float lr = hyper[hi][0], mom = hyper[hi][1], wd = hyper[hi][2];
    tu_fill(p, n, 70 + hi, -1.0f, 1.0f);
    tu_fill(g1, n, 80 + hi, -1.0f, 1.0f);
    tu_fill(g2, n, 90 + hi, -1.0f, 1.0f);
    for (int64_t i = 0; i < n; i++) {
      pd[i] = p[i];
      buf[i] = NAN; /* the first step must not read the buffer */
    }
    for (int step = 0; step < 3; step++) {
      const float *g = step == 1 ? g2 : g1;
      for (int64_t i = 0; i < n; i++)
        inc__k_sgd(p, mom != 0.0f ? buf : NULL, g, i, lr, mom, wd, step == 0);
      /* PyTorch: d = g + wd p; b = d on the first step, else mom b + d;
       * p -= lr * (mom ? b : d) */
      for (int64_t i = 0; i < n; i++) {
        double d = (double)g[i] + (double)wd * pd[i];
        if (mom != 0.0f) {
          bd[i] = step == 0 ? d : (double)mom * bd[i] + d;
          d = bd[i];
        }
        pd[i] -= (double)lr * d;
      }
      for (int64_t i = 0; i < n; i++) {
        double err = fabs(p[i] - pd[i]);
        ck_assert_msg(err <= 1e-6 + 1e-5 * fabs(pd[i]),
                      "lr %g momentum %g wd %g step %d: p[%lld] = %.9g, expected %.9g", (double)lr,
                      (double)mom, (double)wd, step, (long long)i, (double)p[i], pd[i]);
        nv_note(S_SGD, err);
        if (mom != 0.0f) ck_assert_double_eq_tol(buf[i], bd[i], 1e-5 + 1e-5 * fabs(bd[i]));
      }
    }
  }
  /* one hand-computed element: p = 1, g = 0.5, lr 0.1, momentum 0.9, wd 0.1 */
  float p1 = 1.0f, b1 = 0.0f, gg = 0.5f;
  inc__k_sgd(&p1, &b1, &gg, 0, 0.1f, 0.9f, 0.1f, 1);
  ck_assert_float_eq_tol(b1, 0.6f, 1e-7f);  /* d = 0.5 + 0.1 * 1 */
  ck_assert_float_eq_tol(p1, 0.94f, 1e-7f); /* 1 - 0.1 * 0.6 */
  inc__k_sgd(&p1, &b1, &gg, 0, 0.1f, 0.9f, 0.1f, 0);
  ck_assert_float_eq_tol(b1, 0.9f * 0.6f + 0.5f + 0.094f, 1e-6f);
  ck_assert_float_eq_tol(p1, 0.94f - 0.1f * (0.54f + 0.594f), 1e-6f);
  free(p);
  free(buf);
  free(g1);
  free(g2);
  free(pd);
  free(bd);
  nv_case_done();
}
END_TEST

/* ---- RNG -------------------------------------------------------------------------------- */

START_TEST(test_rng_fill)
{
  const int64_t n = 100000;
  /* determinism and independence of streams and seeds */
  for (int64_t i = 0; i < 1000; i++) {
    ck_assert(inc__k_uniform01(7, 3, (uint64_t)i) == inc__k_uniform01(7, 3, (uint64_t)i));
    ck_assert(inc__k_fill(INC__FILL_NORMAL, 0.0f, 1.0f, 7, 3, i) ==
              inc__k_fill(INC__FILL_NORMAL, 0.0f, 1.0f, 7, 3, i));
  }
  int same_stream = 0, same_seed = 0, same_shift = 0;
  for (int64_t i = 0; i < 1000; i++) {
    float u = inc__k_uniform01(7, 3, (uint64_t)i);
    same_stream += u == inc__k_uniform01(7, 4, (uint64_t)i);
    same_seed += u == inc__k_uniform01(8, 3, (uint64_t)i);
    same_shift += u == inc__k_uniform01(7, 3, (uint64_t)i + 1);
  }
  ck_assert_msg(same_stream < 3 && same_seed < 3 && same_shift < 3,
                "streams/seeds/indices collide: %d %d %d of 1000", same_stream, same_seed,
                same_shift);

  /* uniform on [a, b): range and moments */
  const float a = -0.3f, b = 0.7f;
  double s1 = 0.0, s2 = 0.0;
  for (int64_t i = 0; i < n; i++) {
    float u = inc__k_uniform01(11, 0, (uint64_t)i);
    ck_assert_msg(u > 0.0f && u < 1.0f, "uniform01(11, 0, %lld) = %.9g", (long long)i, (double)u);
    float v = inc__k_fill(INC__FILL_UNIFORM, a, b, 11, 0, i);
    ck_assert_msg(v >= a && v < b, "uniform fill %lld = %.9g outside [%g, %g)", (long long)i,
                  (double)v, (double)a, (double)b);
    s1 += v;
    s2 += (double)v * v;
  }
  double mean = s1 / n, var = s2 / n - mean * mean;
  double mean_ref = 0.5 * (a + b), var_ref = (double)(b - a) * (b - a) / 12.0;
  ck_assert_msg(fabs(mean - mean_ref) < 5e-3, "uniform mean %g, expected %g", mean, mean_ref);
  ck_assert_msg(fabs(var - var_ref) < 2e-3, "uniform variance %g, expected %g", var, var_ref);
  nv_note(S_RNG, fabs(mean - mean_ref));
  nv_note(S_RNG, fabs(var - var_ref));

  /* normal with mean 1 and standard deviation 2 */
  s1 = s2 = 0.0;
  for (int64_t i = 0; i < n; i++) {
    float v = inc__k_fill(INC__FILL_NORMAL, 1.0f, 2.0f, 13, 5, i);
    ck_assert_msg(isfinite(v), "normal fill %lld = %g", (long long)i, (double)v);
    s1 += v;
    s2 += (double)v * v;
  }
  mean = s1 / n;
  var = s2 / n - mean * mean;
  ck_assert_msg(fabs(mean - 1.0) < 0.03, "normal mean %g, expected 1", mean);
  ck_assert_msg(fabs(var - 4.0) < 0.1, "normal variance %g, expected 4", var);
  nv_note(S_RNG, fabs(mean - 1.0) / 2.0);
  nv_note(S_RNG, fabs(var - 4.0) / 4.0);
  nv_case_done();
}
END_TEST

/* Regression: inc__k_uniform01 promises (0, 1) and the uniform fill
 * [a, b). The first formula, ((float)(z >> 40) + 0.5f) * 2^-24, rounded to
 * exactly 1.0f when z >> 40 == 2^24 - 1 (16777215.5 is not a float and
 * rounds to even), one draw in 2^24, and the fill then returned b. Seed 0,
 * stream 1, index 611725 was such a draw (found by search). */
START_TEST(test_rng_open_interval)
{
  float u = inc__k_uniform01(0, 1, 611725);
  ck_assert_msg(u < 1.0f, "inc__k_uniform01(0, 1, 611725) = %.9g, not in (0, 1)", (double)u);
  float v = inc__k_fill(INC__FILL_UNIFORM, -1.0f, 1.0f, 0, 1, 611725);
  ck_assert_msg(v < 1.0f, "uniform fill on [-1, 1) gave %.9g", (double)v);
  nv_case_done();
}
END_TEST

/* ---- the CPU backend table -------------------------------------------------------------- */

static void naive_gemm(double *c, const float *a, const float *b, int ta, int tb, int64_t m,
                       int64_t n, int64_t k, double alpha, double beta, const float *c0)
{
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0.0;
      for (int64_t l = 0; l < k; l++) {
        double av = ta ? a[l * m + i] : a[i * k + l];
        double bv = tb ? b[j * k + l] : b[l * n + j];
        s += av * bv;
      }
      c[i * n + j] = alpha * s + (beta != 0.0 ? beta * c0[i * n + j] : 0.0);
    }
}

START_TEST(test_cpu_gemm)
{
  inc_context *ctx = tu_cpu();
  ck_assert_str_eq(ctx->ops->name, "cpu");
  static const int64_t dims[][3] = {{5, 7, 3}, {1, 7, 3}, {5, 1, 9}, {37, 29, 53}, {3, 3, 1}};
  static const float ab[][2] = {{1.0f, 0.0f}, {1.5f, 0.5f}, {-0.5f, 1.0f}};
  for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++)
        for (size_t ai = 0; ai < sizeof ab / sizeof ab[0]; ai++) {
          int64_t m = dims[di][0], n = dims[di][1], k = dims[di][2];
          float alpha = ab[ai][0], beta = ab[ai][1];
          float *a = falloc(m * k), *b = falloc(k * n), *c = falloc(m * n), *c0 = falloc(m * n);
          double *ref = (double *)malloc((size_t)(m * n) * sizeof(double));
          ck_assert_ptr_nonnull(ref);
          tu_fill(a, m * k, 1 + di, -1.0f, 1.0f);
          tu_fill(b, k * n, 2 + di, -1.0f, 1.0f);
          tu_fill(c0, m * n, 3 + di, -1.0f, 1.0f);
          if (beta == 0.0f) /* beta 0: C is written, never read (NaN must not leak) */
            for (int64_t i = 0; i < m * n; i++) c[i] = NAN;
          else
            memcpy(c, c0, (size_t)(m * n) * sizeof(float));
          INC_CK(ctx, ctx->ops->gemm(c, a, b, ta, tb, m, n, k, alpha, beta, ctx));
          naive_gemm(ref, a, b, ta, tb, m, n, k, alpha, beta, c0);
          char what[96];
          snprintf(what, sizeof what, "gemm m%lld n%lld k%lld ta%d tb%d alpha %g beta %g",
                   (long long)m, (long long)n, (long long)k, ta, tb, (double)alpha,
                   (double)beta);
          nv_note(S_GEMM, nv_check(c, ref, m * n, 1e-5, 1e-5, what, "c"));
          free(a);
          free(b);
          free(c);
          free(c0);
          free(ref);
        }
  nv_case_done();
  inc_context_destroy(ctx);
}
END_TEST

/* The threaded CPU loops give exactly what the bodies give one element at a
 * time (sizes above the threading threshold, two threads). */
START_TEST(test_cpu_ops_match_bodies)
{
  inc_context *ctx = tu_cpu();
  const inc__backend_ops *ops = ctx->ops;
  inc__window g = win(8, 4, 31, 25, 3, 2, 1);
  int64_t nx = g.n * g.c * g.h * g.w, cols = g.n * g.oh * g.ow, ncol = g.c * g.k * g.k * cols;
  int64_t ny = g.n * g.c * g.oh * g.ow;
  float *x = falloc(nx), *col = falloc(ncol), *cv = falloc(ncol), *dx = falloc(nx);
  float *y = falloc(ny), *dy = falloc(ny);
  int32_t *arg = (int32_t *)malloc((size_t)ny * sizeof(int32_t));
  ck_assert_ptr_nonnull(arg);
  ck_assert(ncol >= 16384 && ny * g.k >= 16384); /* threaded loops */
  tu_fill(x, nx, 1, -1.0f, 1.0f);
  tu_fill(cv, ncol, 2, -1.0f, 1.0f);
  tu_fill(dy, ny, 3, -1.0f, 1.0f);
  INC_CK(ctx, ops->im2col(col, x, &g, ctx));
  for (int64_t i = 0; i < ncol; i++) ck_assert(col[i] == inc__k_im2col(x, i, &g));
  INC_CK(ctx, ops->col2im(dx, cv, &g, ctx));
  for (int64_t i = 0; i < nx; i++) ck_assert(dx[i] == inc__k_col2im(cv, i, &g));
  INC_CK(ctx, ops->maxpool_fwd(y, arg, x, &g, ctx));
  for (int64_t i = 0; i < ny; i++) {
    int32_t a;
    ck_assert(y[i] == inc__k_maxpool(x, i, &g, &a));
    ck_assert_int_eq(arg[i], a);
  }
  INC_CK(ctx, ops->maxpool_bwd(dx, dy, arg, &g, ctx));
  for (int64_t i = 0; i < nx; i++) ck_assert(dx[i] == inc__k_maxpool_grad(dy, arg, i, &g));
  INC_CK(ctx, ops->avgpool_fwd(y, x, &g, ctx));
  for (int64_t i = 0; i < ny; i++) ck_assert(y[i] == inc__k_avgpool(x, i, &g));
  INC_CK(ctx, ops->avgpool_bwd(dx, dy, &g, ctx));
  for (int64_t i = 0; i < nx; i++) ck_assert(dx[i] == inc__k_avgpool_grad(dy, i, &g));

  /* channel slices round trip through ops->slice */
  const int64_t n = 3, p = 35, cbs[3] = {2, 5, 1}, ct = 8;
  float *big = falloc(n * ct * p), *small = falloc(n * 5 * p), *back = falloc(n * ct * p);
  tu_fill(big, n * ct * p, 4, -1.0f, 1.0f);
  int64_t off = 0;
  for (int b = 0; b < 3; b++) {
    INC_CK(ctx, ops->slice(big, small, 0, n, cbs[b], ct, off, p, ctx));
    INC_CK(ctx, ops->slice(back, small, 1, n, cbs[b], ct, off, p, ctx));
    off += cbs[b];
  }
  ck_assert(!memcmp(big, back, (size_t)(n * ct * p) * sizeof(float)));

  /* fills: any thread count, the body's values */
  const int64_t nf = 50000;
  float *f = falloc(nf);
  for (int dist = 0; dist < 2; dist++) {
    INC_CK(ctx, ops->fill(f, nf, dist, -0.5f, 0.5f, 42, 9, ctx));
    for (int64_t i = 0; i < nf; i++)
      ck_assert(f[i] == inc__k_fill(dist, -0.5f, 0.5f, 42, 9, i));
  }

  /* softmax cross-entropy: the loss sum in double, hits, gradient rows */
  const int64_t rows = 6, kc = 5;
  float logits[30], dl[30], drow[5];
  int32_t labels[6] = {0, 4, 2, 2, 1, 3};
  tu_fill(logits, rows * kc, 5, -3.0f, 3.0f);
  logits[7] = 1e4f; /* row 1 argmax 2 */
  double lsum = 0.0;
  int64_t correct = -1, want_hits = 0;
  INC_CK(ctx, ops->softmax_ce(&lsum, &correct, dl, logits, labels, rows, kc, 0.5f, ctx));
  double want = 0.0;
  for (int64_t r = 0; r < rows; r++) {
    int hit;
    want += inc__k_softmax_ce_row(logits + r * kc, labels[r], kc, 0.5f, drow, &hit);
    want_hits += hit;
    for (int j = 0; j < kc; j++) ck_assert(dl[r * kc + j] == drow[j]);
  }
  ck_assert_double_eq_tol(lsum, want, 1e-6 * fabs(want) + 1e-6);
  ck_assert_int_eq(correct, want_hits);

  /* sgd through the table equals the body */
  const int64_t ns = 20000;
  float *p1 = falloc(ns), *p2 = falloc(ns), *b1 = falloc(ns), *b2 = falloc(ns), *gr = falloc(ns);
  tu_fill(p1, ns, 6, -1.0f, 1.0f);
  tu_fill(gr, ns, 7, -1.0f, 1.0f);
  memcpy(p2, p1, (size_t)ns * sizeof(float));
  INC_CK(ctx, ops->sgd(p1, b1, gr, ns, 0.1f, 0.9f, 1e-3f, 1, ctx));
  for (int64_t i = 0; i < ns; i++) inc__k_sgd(p2, b2, gr, i, 0.1f, 0.9f, 1e-3f, 1);
  ck_assert(!memcmp(p1, p2, (size_t)ns * sizeof(float)));
  ck_assert(!memcmp(b1, b2, (size_t)ns * sizeof(float)));

  free(p1);
  free(p2);
  free(b1);
  free(b2);
  free(gr);
  free(f);
  free(big);
  free(small);
  free(back);
  free(x);
  free(col);
  free(cv);
  free(dx);
  free(y);
  free(dy);
  free(arg);
  nv_case_done();
  inc_context_destroy(ctx);
}
END_TEST

Suite *inc_test_suite_kernels(void)
{
  static const char *const labels[] = {"max |gemm err|",
                                       "max im2col/col2im/avgpool adjoint rel err",
                                       "max |softmax grad row sum|",
                                       "max |sgd err|",
                                       "max rng moment rel err",
                                       NULL};
  nv_stats_init("kernels", labels);
  Suite *s = suite_create("kernels");
  TCase *tc = tcase_create("bodies");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_im2col_col2im);
  tcase_add_test(tc, test_swap01);
  tcase_add_test(tc, test_conv_out_bias);
  tcase_add_test(tc, test_slice_index_cover);
  tcase_add_test(tc, test_window_range);
  tcase_add_test(tc, test_maxpool_semantics);
  tcase_add_test(tc, test_avgpool_divisor);
  tcase_add_test(tc, test_softmax_ce_row);
  tcase_add_test(tc, test_sgd_rule);
  tcase_add_test(tc, test_rng_fill);
  tcase_add_test(tc, test_rng_open_interval);
  suite_add_tcase(s, tc);
  TCase *be = tcase_create("cpu_backend");
  tcase_set_timeout(be, 60);
  tcase_add_test(be, test_cpu_gemm);
  tcase_add_test(be, test_cpu_ops_match_bodies);
  suite_add_tcase(s, be);
  return s;
}
