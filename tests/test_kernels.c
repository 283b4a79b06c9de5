/*
 * test_kernels.c — the INC_HD kernel bodies of src/kernels.h, called
 * directly.
 *
 * The CUDA backend runs these very bodies one thread per element and the
 * CPU backend must give their bits, so these tests pin the CUDA index
 * arithmetic on any machine. The op table (tests/op_cases.c) runs every
 * case on the bodies against its float64 references (tcase op_table); the
 * CPU and CUDA suites run the same table on their backends. What stays
 * here is what a slot-level case cannot say: im2col/col2im and average
 * pooling adjoint to each other, the channel slices tiling the tensor,
 * the window ranges and pooling divisors against brute force, hand-made
 * max-pool windows (first maximum wins, NaN propagates, padding is -inf),
 * softmax cross-entropy row by row on extreme logits, one SGD step by
 * hand, and the counter-based RNG's statistics.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"
#include "naive.h"
#include "internal.h"
#include "kernels.h"
#include "op_cases.h"

enum { S_ADJ, S_SOFTMAX, S_RNG };

static float *falloc(int64_t n)
{
  float *p = (float *)malloc((size_t)(n ? n : 1) * sizeof(float));
  ck_assert_ptr_nonnull(p);
  return p;
}

/* The window (N, C, H, W) with kernel, stride and padding per axis: kernel
 * kh x kw, strides sh, sw, paddings ph, pw. */
static inc__window win_hw(int64_t n, int64_t c, int64_t h, int64_t w, int kh, int kw, int sh,
                          int sw, int ph, int pw)
{
  inc__window g;
  g.n = n;
  g.c = c;
  g.h = h;
  g.w = w;
  g.kh = kh;
  g.kw = kw;
  g.sh = sh;
  g.sw = sw;
  g.ph = ph;
  g.pw = pw;
  g.oh = nv_out(h, kh, sh, ph);
  g.ow = nv_out(w, kw, sw, pw);
  return g;
}

/* A square window: kernel k, stride s, padding p on both axes. */
static inc__window win(int64_t n, int64_t c, int64_t h, int64_t w, int k, int s, int p)
{
  return win_hw(n, c, h, w, k, k, s, s, p, p);
}

/* Geometries (N, C, H, W, KH, KW, SH, SW, PH, PW): square and not, stride
 * 1..3, padding 0 up to beyond the kernel, kernels larger and smaller than
 * the stride; rectangular kernels (1x7 p(0,3), 7x1 p(3,0), 3x1, 1x3
 * s(2,1)), strides and paddings that differ between the axes. */
static const int geos[][10] = {
    {2, 3, 7, 5, 3, 3, 1, 1, 1, 1}, {1, 2, 9, 11, 3, 3, 2, 2, 0, 0},
    {2, 2, 9, 11, 7, 7, 2, 2, 3, 3}, {3, 1, 7, 5, 2, 2, 3, 3, 0, 0},
    {1, 3, 5, 7, 5, 5, 1, 1, 2, 2}, {2, 2, 8, 6, 4, 4, 2, 2, 1, 1},
    {1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, {2, 3, 7, 5, 1, 1, 2, 2, 0, 0},
    {1, 2, 6, 9, 3, 3, 3, 3, 2, 2}, {2, 1, 4, 4, 5, 5, 1, 1, 2, 2},
    {1, 2, 3, 3, 3, 3, 1, 1, 4, 4}, {3, 2, 10, 3, 3, 3, 2, 2, 1, 1},
    {2, 3, 7, 9, 1, 7, 1, 1, 0, 3}, {2, 3, 9, 7, 7, 1, 1, 1, 3, 0},
    {1, 2, 6, 5, 3, 1, 1, 1, 1, 0}, {2, 2, 9, 11, 1, 3, 2, 1, 0, 1},
    {3, 2, 10, 7, 3, 5, 1, 2, 0, 2}, {1, 3, 4, 9, 2, 5, 1, 3, 3, 0},
};
#define NGEOS ((int)(sizeof geos / sizeof geos[0]))

static inc__window geo_win(int i)
{
  const int *q = geos[i];
  return win_hw(q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], q[9]);
}

/* ---- convolution helpers ---------------------------------------------------------- */

/* <im2col(x), c> == <x, col2im(c)>: col2im is im2col's adjoint (each is
 * checked against its definition by the op table). */
START_TEST(test_im2col_col2im_adjoint)
{
  for (int gi = 0; gi < NGEOS; gi++) {
    inc__window g = geo_win(gi);
    int64_t nx = g.n * g.c * g.h * g.w, ncol = g.c * g.kh * g.kw * g.n * g.oh * g.ow;
    float *x = falloc(nx), *cv = falloc(ncol), *col = falloc(ncol), *dx = falloc(nx);
    tu_fill(x, nx, 1 + (uint64_t)gi, -1.0f, 1.0f);
    tu_fill(cv, ncol, 100 + (uint64_t)gi, -1.0f, 1.0f);
    for (int64_t i = 0; i < ncol; i++) col[i] = inc__k_im2col(x, i, &g);
    for (int64_t i = 0; i < nx; i++) dx[i] = inc__k_col2im(cv, i, &g);
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
    free(x);
    free(cv);
    free(col);
    free(dx);
  }
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

/* Pool geometries for the adjoint check: (N, C, H, W, KH, KW, SH, SW, PH,
 * PW) with padding <= kernel/2 on each axis (PyTorch's rule). */
static const int pgeos[][10] = {
    {2, 2, 7, 5, 3, 3, 1, 1, 1, 1}, {1, 3, 9, 11, 3, 3, 2, 2, 1, 1},
    {2, 2, 7, 5, 2, 2, 2, 2, 0, 0}, {1, 2, 9, 11, 2, 2, 1, 1, 1, 1},
    {2, 1, 9, 11, 5, 5, 2, 2, 2, 2}, {1, 2, 6, 4, 3, 3, 3, 3, 0, 0},
    {1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, {2, 2, 3, 8, 3, 3, 2, 2, 1, 1},
    {2, 2, 7, 9, 1, 3, 1, 1, 0, 1}, {1, 3, 9, 11, 3, 2, 2, 1, 1, 1},
    {2, 2, 8, 9, 5, 3, 2, 3, 2, 1},
};
#define NPGEOS ((int)(sizeof pgeos / sizeof pgeos[0]))

/* Max pooling by hand (the op table checks every geometry with ties, NaNs
 * and -inf against its reference). */
START_TEST(test_maxpool_semantics)
{
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

  /* backward adjoint to forward (each is checked against its reference by
   * the op table) */
  for (int gi = 0; gi < NPGEOS; gi++) {
    const int *q = pgeos[gi];
    inc__window g = win_hw(q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], q[9]);
    int64_t nx = g.n * g.c * g.h * g.w, ny = g.n * g.c * g.oh * g.ow;
    float *x = falloc(nx), *y = falloc(ny), *d = falloc(ny), *dx = falloc(nx);
    tu_fill(x, nx, 40 + (uint64_t)gi, -1.0f, 1.0f);
    tu_fill(d, ny, 50 + (uint64_t)gi, -1.0f, 1.0f);
    for (int64_t i = 0; i < ny; i++) y[i] = inc__k_avgpool(x, i, &g);
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
  }
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
      float loss = inc__k_softmax_ce_row(row, label, 5, scale, 0.0f, d, &hit);
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
      float l2 = inc__k_softmax_ce_row(row, label, 5, scale, 0.0f, NULL, &hit);
      ck_assert(l2 == loss);
    }
  }
  /* one class: zero loss, zero gradient */
  const float one = 123.0f;
  float d1;
  int hit;
  ck_assert_float_eq(inc__k_softmax_ce_row(&one, 0, 1, 1.0f, 0.0f, &d1, &hit), 0.0f);
  ck_assert_float_eq(d1, 0.0f);
  ck_assert_int_eq(hit, 1);
  /* equal logits: log(k), and the first index is the argmax */
  const float eq[4] = {2, 2, 2, 2};
  float d4[4];
  ck_assert_float_eq_tol(inc__k_softmax_ce_row(eq, 0, 4, 1.0f, 0.0f, d4, &hit), logf(4.0f), 1e-6f);
  ck_assert_int_eq(hit, 1);
  inc__k_softmax_ce_row(eq, 2, 4, 1.0f, 0.0f, d4, &hit);
  ck_assert_int_eq(hit, 0);
  nv_case_done();
}
END_TEST

/* ---- SGD -------------------------------------------------------------------------------- */

/* One element by hand (the op table runs the rule against PyTorch's in
 * float64 for every case). */
START_TEST(test_sgd_by_hand)
{
  /* one hand-computed element: p = 1, g = 0.5, lr 0.1, momentum 0.9, wd 0.1 */
  float p1 = 1.0f, b1 = 0.0f, gg = 0.5f;
  inc__k_sgd(&p1, &b1, &gg, 0, 0.1f, 0.9f, 0.1f, 1);
  ck_assert_float_eq_tol(b1, 0.6f, 1e-7f);  /* d = 0.5 + 0.1 * 1 */
  ck_assert_float_eq_tol(p1, 0.94f, 1e-7f); /* 1 - 0.1 * 0.6 */
  inc__k_sgd(&p1, &b1, &gg, 0, 0.1f, 0.9f, 0.1f, 0);
  ck_assert_float_eq_tol(b1, 0.9f * 0.6f + 0.5f + 0.094f, 1e-6f);
  ck_assert_float_eq_tol(p1, 0.94f - 0.1f * (0.54f + 0.594f), 1e-6f);
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

/* ---- the op table ---------------------------------------------------------------------- */

/* Row _i of tests/op_cases.c on the bodies against its float64 reference
 * (gemm and gemm_batched have no body: BLAS; their rows run on the backends
 * only). */
START_TEST(test_op_row_bodies)
{
  opc_run_row(_i, &opc_body_ops, NULL);
}
END_TEST

Suite *inc_test_suite_kernels(void)
{
  static const char *const labels[] = {"max im2col/col2im/avgpool adjoint rel err",
                                       "max |softmax grad row sum|", "max rng moment rel err",
                                       NULL};
  nv_stats_init("kernels", labels);
  opc_stats_init();
  Suite *s = suite_create("kernels");
  TCase *tc = tcase_create("bodies");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_im2col_col2im_adjoint);
  tcase_add_test(tc, test_slice_index_cover);
  tcase_add_test(tc, test_window_range);
  tcase_add_test(tc, test_maxpool_semantics);
  tcase_add_test(tc, test_avgpool_divisor);
  tcase_add_test(tc, test_softmax_ce_row);
  tcase_add_test(tc, test_sgd_by_hand);
  tcase_add_test(tc, test_rng_fill);
  tcase_add_test(tc, test_rng_open_interval);
  suite_add_tcase(s, tc);
  TCase *ops = tcase_create("op_table");
  tcase_set_timeout(ops, 60);
  tcase_add_loop_test(ops, test_op_row_bodies, 0, opc_nrows());
  suite_add_tcase(s, ops);
  return s;
}
