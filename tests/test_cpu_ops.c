/*
 * test_cpu_ops.c — the CPU backend's fast loops against the INC_HD bodies.
 *
 * src/cpu/ walks each op's index space row by row (divisions once per row,
 * contiguous runs, a vectorized max-pool interior) instead of calling the
 * per-element bodies of src/kernels.h that the CUDA kernels run. Each loop
 * must still give the bodies' result bit for bit (the CUDA parity tests
 * compare exactly), so this suite runs every op over many geometries
 * (strides 1..3, padding 0 to beyond the kernel, kernels smaller and larger
 * than the stride, 1x1 planes, odd sizes, batch 1 and several), at one and
 * two threads, with ties and NaNs for max pooling, and compares with ==.
 * It also checks the channel-major conveniences the layers rely on (the
 * GEMM output pass in place with n == 1) and the GEMM slot's own threading
 * (one SGEMM per thread on a block of the output).
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"
#include "internal.h"
#include "kernels.h"

static float *falloc(int64_t n)
{
  float *p = (float *)malloc((size_t)(n ? n : 1) * sizeof(float));
  ck_assert_ptr_nonnull(p);
  return p;
}

static int64_t out_size(int64_t x, int k, int s, int p) { return (x + 2 * p - k) / s + 1; }

/* (N, C, H, W, K, S, P) */
static const int geos[][7] = {
    {2, 3, 7, 5, 3, 1, 1},    {1, 2, 9, 11, 3, 2, 0},  {2, 2, 9, 11, 7, 2, 3},
    {3, 1, 7, 5, 2, 3, 0},    {1, 3, 5, 7, 5, 1, 2},   {2, 2, 8, 6, 4, 2, 1},
    {1, 1, 1, 1, 1, 1, 0},    {2, 3, 7, 5, 1, 2, 0},   {1, 2, 6, 9, 3, 3, 2},
    {2, 1, 4, 4, 5, 1, 2},    {1, 2, 3, 3, 3, 1, 4},   {3, 2, 10, 3, 3, 2, 1},
    {4, 5, 12, 12, 3, 1, 1},  {3, 4, 13, 11, 3, 2, 1}, {2, 3, 1, 1, 3, 1, 1},
    {2, 3, 2, 2, 5, 1, 2},    {5, 7, 24, 24, 3, 2, 1}, {8, 6, 48, 40, 7, 2, 3},
    {6, 9, 6, 6, 5, 1, 2},    {4, 3, 3, 3, 3, 1, 1},   {3, 2, 17, 19, 1, 1, 0},
};
#define NGEOS ((int)(sizeof geos / sizeof geos[0]))

static inc__window geo(int i)
{
  const int *q = geos[i];
  inc__window g;
  g.n = q[0];
  g.c = q[1];
  g.h = q[2];
  g.w = q[3];
  g.k = q[4];
  g.s = q[5];
  g.p = q[6];
  g.oh = out_size(g.h, g.k, g.s, g.p);
  g.ow = out_size(g.w, g.k, g.s, g.p);
  return g;
}

/* Values with many exact ties (multiples of 1/4 in [-2, 2)). */
static void fill_ties(float *v, int64_t n, uint64_t seed)
{
  tu_fill(v, n, seed, -2.0f, 2.0f);
  for (int64_t i = 0; i < n; i++) v[i] = floorf(v[i] * 4.0f) / 4.0f;
}

static void check_geometry(inc_context *ctx, const inc__window *g, int gi)
{
  const inc__backend_ops *ops = ctx->ops;
  int64_t nx = g->n * g->c * g->h * g->w, cols = g->n * g->oh * g->ow;
  int64_t ncol = g->c * g->k * g->k * cols, ny = g->n * g->c * g->oh * g->ow;
  float *x = falloc(nx), *col = falloc(ncol), *cv = falloc(ncol), *dx = falloc(nx);
  float *y = falloc(ny), *dy = falloc(ny);
  int32_t *arg = (int32_t *)malloc((size_t)(ny ? ny : 1) * sizeof(int32_t));
  ck_assert_ptr_nonnull(arg);
  tu_fill(x, nx, 10 + gi, -1.0f, 1.0f);
  tu_fill(cv, ncol, 20 + gi, -1.0f, 1.0f);
  tu_fill(dy, ny, 30 + gi, -1.0f, 1.0f);

  INC_CK(ctx, ops->im2col(col, x, g, ctx));
  for (int64_t i = 0; i < ncol; i++)
    ck_assert_msg(col[i] == inc__k_im2col(x, i, g), "im2col geometry %d element %lld", gi,
                  (long long)i);
  INC_CK(ctx, ops->col2im(dx, cv, g, ctx));
  for (int64_t i = 0; i < nx; i++)
    ck_assert_msg(dx[i] == inc__k_col2im(cv, i, g), "col2im geometry %d element %lld", gi,
                  (long long)i);

  /* max pooling needs padding <= kernel/2 (the layer's rule) */
  if (g->p <= g->k / 2) {
    for (int variant = 0; variant < 3; variant++) {
      if (variant == 1) fill_ties(x, nx, 40 + gi);
      if (variant == 2)
        for (int64_t i = 0; i < nx; i += 7) x[i] = NAN;
      INC_CK(ctx, ops->maxpool_fwd(y, arg, x, g, ctx));
      for (int64_t i = 0; i < ny; i++) {
        int32_t a;
        float want = inc__k_maxpool(x, i, g, &a);
        ck_assert_msg(memcmp(&y[i], &want, sizeof want) == 0 || (isnan(y[i]) && isnan(want)),
                      "maxpool geometry %d variant %d element %lld: %g vs %g", gi, variant,
                      (long long)i, (double)y[i], (double)want);
        ck_assert_msg(arg[i] == a, "maxpool argmax geometry %d variant %d element %lld: %d vs %d",
                      gi, variant, (long long)i, arg[i], a);
      }
      float *y2 = falloc(ny);
      INC_CK(ctx, ops->maxpool_fwd(y2, NULL, x, g, ctx));
      ck_assert(memcmp(y, y2, (size_t)ny * sizeof(float)) == 0);
      free(y2);
      INC_CK(ctx, ops->maxpool_bwd(dx, dy, arg, g, ctx));
      for (int64_t i = 0; i < nx; i++)
        ck_assert_msg(dx[i] == inc__k_maxpool_grad(dy, arg, i, g),
                      "maxpool_bwd geometry %d variant %d element %lld", gi, variant,
                      (long long)i);
    }
    tu_fill(x, nx, 10 + gi, -1.0f, 1.0f);
    INC_CK(ctx, ops->avgpool_fwd(y, x, g, ctx));
    for (int64_t i = 0; i < ny; i++) ck_assert(y[i] == inc__k_avgpool(x, i, g));
    INC_CK(ctx, ops->avgpool_bwd(dx, dy, g, ctx));
    for (int64_t i = 0; i < nx; i++) ck_assert(dx[i] == inc__k_avgpool_grad(dy, i, g));
  }
  free(x);
  free(col);
  free(cv);
  free(dx);
  free(y);
  free(dy);
  free(arg);
}

START_TEST(test_cpu_window_ops)
{
  inc_context *ctx = tu_cpu();
  for (int threads = 1; threads <= 2; threads++) {
    INC_CK(ctx, inc_context_set_num_threads(ctx, threads));
    for (int i = 0; i < NGEOS; i++) {
      inc__window g = geo(i);
      check_geometry(ctx, &g, i);
    }
  }
  inc_context_destroy(ctx);
}
END_TEST

/* swap01, conv_out (with and without bias and ReLU, and in place with
 * n == 1 as conv2d uses it), bias_add, bias_grad, slices: several shapes
 * including runs of one float and sizes above the threading threshold. */
START_TEST(test_cpu_layout_ops)
{
  inc_context *ctx = tu_cpu();
  const inc__backend_ops *ops = ctx->ops;
  static const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 1}, {7, 2, 9}, {2, 64, 300},
                                      {130, 3, 37}, {16, 33, 36}, {5, 200, 20}};
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    const int64_t a = shapes[si][0], b = shapes[si][1], p = shapes[si][2], n = a * b * p;
    float *src = falloc(n), *dst = falloc(n), *bias = falloc(b), *io = falloc(n);
    tu_fill(src, n, 50 + si, -1.0f, 1.0f);
    tu_fill(bias, b, 60 + si, -0.5f, 0.5f);
    src[0] = -0.0f;
    INC_CK(ctx, ops->swap01(dst, src, a, b, p, ctx));
    for (int64_t i = 0; i < n; i++) ck_assert(dst[i] == inc__k_swap01(src, i, a, b, p));
    /* conv_out: tmp (C, N*P) -> y (N, C, P) with C = b, N = a */
    for (int relu = 0; relu < 2; relu++)
      for (int wb = 0; wb < 2; wb++) {
        const float *bb = wb ? bias : NULL;
        INC_CK(ctx, ops->conv_out(dst, src, bb, a, b, p, relu, ctx));
        for (int64_t i = 0; i < n; i++) {
          float want = inc__k_conv_out(src, bb, i, a, b, p, relu);
          ck_assert(memcmp(&dst[i], &want, sizeof want) == 0);
        }
        /* in place with n == 1: (C, P') -> (1, C, P') */
        memcpy(io, src, (size_t)n * sizeof(float));
        INC_CK(ctx, ops->conv_out(io, io, bb, 1, b, a * p, relu, ctx));
        for (int64_t i = 0; i < n; i++) {
          float want = inc__k_conv_out(src, bb, i, 1, b, a * p, relu);
          ck_assert(memcmp(&io[i], &want, sizeof want) == 0);
        }
      }
    /* bias_add and bias_grad on (N, C, P) = (a, b, p) */
    memcpy(io, src, (size_t)n * sizeof(float));
    INC_CK(ctx, ops->bias_add(io, bias, a, b, p, ctx));
    for (int64_t i = 0; i < n; i++) ck_assert(io[i] == inc__k_bias_add(src, bias, i, b, p));
    float *db = falloc(b);
    INC_CK(ctx, ops->bias_grad(db, src, a, b, p, ctx));
    for (int64_t j = 0; j < b; j++) ck_assert(db[j] == inc__k_bias_grad(src, j, a, b, p));
    free(db);
    /* slices of (N, CT, P) = (a, b, p): [off, off + cb) */
    for (int64_t off = 0; off < b; off += 1 + b / 3) {
      int64_t cb = b - off < 2 ? b - off : 2;
      float *small = falloc(a * cb * p);
      INC_CK(ctx, ops->slice((float *)src, small, 0, a, cb, b, off, p, ctx));
      for (int64_t i = 0; i < a * cb * p; i++)
        ck_assert(small[i] == src[inc__k_slice_index(i, cb, b, off, p)]);
      memcpy(io, src, (size_t)n * sizeof(float));
      for (int64_t i = 0; i < a * cb * p; i++) small[i] = (float)i;
      INC_CK(ctx, ops->slice(io, small, 1, a, cb, b, off, p, ctx));
      for (int64_t i = 0; i < a * cb * p; i++)
        ck_assert(io[inc__k_slice_index(i, cb, b, off, p)] == (float)i);
      free(small);
    }
    free(src);
    free(dst);
    free(bias);
    free(io);
  }
  inc_context_destroy(ctx);
}
END_TEST

/* The GEMM slot splits a large product into one SGEMM per thread (by
 * columns or rows of c): every transpose combination, split both ways and
 * with sizes that do not divide evenly, against a double-precision loop,
 * with beta = 0 and beta != 0. */
START_TEST(test_cpu_gemm_split)
{
  inc_context *ctx = tu_cpu();
  INC_CK(ctx, inc_context_set_num_threads(ctx, 2));
  static const int64_t shapes[][3] = {{37, 1201, 97}, {1203, 45, 101}, {130, 130, 260}};
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    const int64_t m = shapes[si][0], n = shapes[si][1], k = shapes[si][2];
    float *a = falloc(m * k), *b = falloc(k * n), *c = falloc(m * n), *c0 = falloc(m * n);
    double *ref = (double *)malloc((size_t)(m * n) * sizeof(double));
    ck_assert_ptr_nonnull(ref);
    tu_fill(a, m * k, 70 + si, -1.0f, 1.0f);
    tu_fill(b, k * n, 80 + si, -1.0f, 1.0f);
    tu_fill(c0, m * n, 90 + si, -1.0f, 1.0f);
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++)
        for (int wb = 0; wb < 2; wb++) {
          const float beta = wb ? 0.5f : 0.0f;
          memcpy(c, c0, (size_t)(m * n) * sizeof(float));
          INC_CK(ctx, ctx->ops->gemm(c, a, b, ta, tb, m, n, k, 1.5f, beta, ctx));
          for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
              double acc = 0.0;
              for (int64_t q = 0; q < k; q++)
                acc += (double)(ta ? a[q * m + i] : a[i * k + q]) *
                       (double)(tb ? b[j * k + q] : b[q * n + j]);
              ref[i * n + j] = 1.5 * acc + (double)beta * c0[i * n + j];
            }
          for (int64_t i = 0; i < m * n; i++)
            ck_assert_msg(fabs(c[i] - ref[i]) <= 1e-4 + 1e-4 * fabs(ref[i]),
                          "gemm %lldx%lldx%lld ta=%d tb=%d beta=%g element %lld: %g vs %g",
                          (long long)m, (long long)n, (long long)k, ta, tb, (double)beta,
                          (long long)i, (double)c[i], ref[i]);
        }
    free(a);
    free(b);
    free(c);
    free(c0);
    free(ref);
  }
  /* a split GEMM leaves the caller's OpenMP default thread count alone */
  int before = omp_get_max_threads();
  INC_CK(ctx, inc_context_set_num_threads(ctx, 0));
  float *a = falloc(300 * 300), *b = falloc(300 * 300), *c = falloc(300 * 300);
  tu_fill(a, 300 * 300, 1, -1.0f, 1.0f);
  tu_fill(b, 300 * 300, 2, -1.0f, 1.0f);
  INC_CK(ctx, ctx->ops->gemm(c, a, b, 0, 0, 300, 300, 300, 1.0f, 0.0f, ctx));
  ck_assert_int_eq(omp_get_max_threads(), before);
  free(a);
  free(b);
  free(c);
  inc_context_destroy(ctx);
}
END_TEST

/* SGD: each momentum / weight-decay / first-step case of the specialised
 * (vectorized) loops gives the body's bits. */
START_TEST(test_cpu_sgd_cases)
{
  inc_context *ctx = tu_cpu();
  const int64_t n = 40003;
  float *p1 = falloc(n), *p2 = falloc(n), *b1 = falloc(n), *b2 = falloc(n), *g = falloc(n);
  static const float ms[] = {0.0f, 0.9f}, wds[] = {0.0f, 1e-3f};
  for (int mi = 0; mi < 2; mi++)
    for (int wi = 0; wi < 2; wi++)
      for (int first = 0; first < 2; first++) {
        tu_fill(p1, n, 100 + mi, -1.0f, 1.0f);
        tu_fill(b1, n, 110 + wi, -1.0f, 1.0f);
        tu_fill(g, n, 120 + first, -1.0f, 1.0f);
        memcpy(p2, p1, (size_t)n * sizeof(float));
        memcpy(b2, b1, (size_t)n * sizeof(float));
        INC_CK(ctx, ctx->ops->sgd(p1, b1, g, n, 0.1f, ms[mi], wds[wi], first, ctx));
        for (int64_t i = 0; i < n; i++) inc__k_sgd(p2, b2, g, i, 0.1f, ms[mi], wds[wi], first);
        ck_assert(!memcmp(p1, p2, (size_t)n * sizeof(float)));
        ck_assert(!memcmp(b1, b2, (size_t)n * sizeof(float)));
      }
  free(p1);
  free(p2);
  free(b1);
  free(b2);
  free(g);
  inc_context_destroy(ctx);
}
END_TEST

Suite *inc_test_suite_cpu_ops(void)
{
  Suite *s = suite_create("cpu_ops");
  TCase *tc = tcase_create("fast_loops_vs_bodies");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_cpu_window_ops);
  tcase_add_test(tc, test_cpu_layout_ops);
  tcase_add_test(tc, test_cpu_gemm_split);
  tcase_add_test(tc, test_cpu_sgd_cases);
  suite_add_tcase(s, tc);
  return s;
}
