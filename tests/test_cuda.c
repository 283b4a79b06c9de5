/*
 * test_cuda.c — the CUDA backend against the CPU backend.
 *
 * Every slot of the backend table is run on a CPU context and on a CUDA
 * context with the same inputs (the internal ops tables are called
 * directly, so each op is checked on its own), at several shapes: odd
 * sizes, stride 2, padding, batch 1 and 3. Then the whole D2L GoogLeNet
 * runs forward, backward and one SGD step on both backends from the same
 * seed, and logits, input gradients, parameter gradients and updated
 * parameters are compared. Tolerances are atol + rtol*|ref| with the CPU as
 * the reference; ops whose CUDA kernel runs the same INC_HD body with the
 * same float operations in the same order (copies, im2col, pooling, SGD,
 * the uniform fill) must match exactly.
 *
 * The cases are registered only when a CUDA context can be made: on a GPU,
 * or on the emulated runtime (make check-cuda-emu), where the same cases
 * run the cuda/ sources on the CPU and every test also checks that it left no
 * device memory behind and made no misuse the emulator reports. Without
 * either, one line says why they were skipped (the no-GPU path itself is
 * tested in test_cuda_net.c). Each shape of a table is its own Check test
 * (a loop test), so a failure names the shape.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cuda_util.h"

/* ---- two contexts and buffers on both ----------------------------------- */

static inc_context *cpu, *gpu;

static void cuda_setup(void)
{
  cpu = tu_cpu();
  gpu = tu_cuda_context();
}

static void cuda_teardown(void)
{
  inc_context_destroy(gpu);
  inc_context_destroy(cpu);
  gpu = cpu = NULL;
  tu_cuda_check_clean("after the test");
}

/* The same buffer on the CPU (c) and on the GPU (g). */
typedef struct pair {
  void *c, *g;
  size_t bytes;
} pair;

static pair pair_new(size_t bytes)
{
  pair p;
  p.c = p.g = NULL;
  p.bytes = bytes;
  INC_CK(cpu, cpu->ops->alloc(&p.c, bytes, cpu));
  INC_CK(gpu, gpu->ops->alloc(&p.g, bytes, gpu));
  return p;
}

static pair pair_put(const void *host, size_t bytes)
{
  pair p = pair_new(bytes);
  INC_CK(cpu, cpu->ops->upload(p.c, host, bytes, cpu));
  INC_CK(gpu, gpu->ops->upload(p.g, host, bytes, gpu));
  return p;
}

/* A pair of n floats drawn from [lo, hi) with seed. */
static pair pair_rand(int64_t n, uint64_t seed, float lo, float hi)
{
  float *h = (float *)malloc((size_t)n * sizeof(float));
  ck_assert_ptr_nonnull(h);
  tu_fill(h, n, seed, lo, hi);
  pair p = pair_put(h, (size_t)n * sizeof(float));
  free(h);
  return p;
}

static void pair_free(pair *p)
{
  cpu->ops->free(p->c, cpu);
  gpu->ops->free(p->g, gpu);
  p->c = p->g = NULL;
}

#define FC(p) ((float *)(p).c)
#define FG(p) ((float *)(p).g)

/* Downloads both sides and asserts the GPU's n floats match the CPU's. */
static void pair_check(const pair *p, int64_t n, double atol, double rtol, const char *what)
{
  float *ref = (float *)malloc((size_t)n * sizeof(float) + 1);
  float *got = (float *)malloc((size_t)n * sizeof(float) + 1);
  ck_assert(ref && got);
  INC_CK(cpu, cpu->ops->download(ref, p->c, (size_t)n * sizeof(float), cpu));
  INC_CK(gpu, gpu->ops->download(got, p->g, (size_t)n * sizeof(float), gpu));
  TU_ASSERT_CLOSE(got, ref, n, atol, rtol, what);
  free(ref);
  free(got);
}

/* Asserts both sides hold the same bytes (int32 outputs, exact results). */
static void pair_check_bytes(const pair *p, size_t bytes, const char *what)
{
  unsigned char *ref = (unsigned char *)malloc(bytes + 1);
  unsigned char *got = (unsigned char *)malloc(bytes + 1);
  ck_assert(ref && got);
  INC_CK(cpu, cpu->ops->download(ref, p->c, bytes, cpu));
  INC_CK(gpu, gpu->ops->download(got, p->g, bytes, gpu));
  size_t i = 0;
  while (i < bytes && ref[i] == got[i]) i++;
  ck_assert_msg(i == bytes, "%s: first difference at byte %zu of %zu", what, i, bytes);
  free(ref);
  free(got);
}

/* Runs `call` (an expression using ctx and the suffix-selected pointers)
 * on both backends. */
#define BOTH(call_cpu, call_gpu)                                                             \
  do {                                                                                       \
    INC_CK(cpu, call_cpu);                                                                   \
    INC_CK(gpu, call_gpu);                                                                   \
  } while (0)

static inc__window window(int64_t n, int64_t c, int64_t h, int64_t w, int k, int s, int p)
{
  inc__window g;
  g.n = n;
  g.c = c;
  g.h = h;
  g.w = w;
  g.k = k;
  g.s = s;
  g.p = p;
  g.oh = (h + 2 * p - k) / s + 1;
  g.ow = (w + 2 * p - k) / s + 1;
  return g;
}

/* Convolution windows: 1x1, 3x3 pad 1, 7x7 stride 2 pad 3 (b1), 5x5 pad 2,
 * stride 2 without padding on odd sizes, batch 1 and 3. */
static const int conv_shapes[][7] = {
    /* n, c, h, w, k, s, p */
    {1, 1, 5, 5, 1, 1, 0}, {3, 2, 7, 5, 3, 1, 1}, {3, 3, 11, 9, 7, 2, 3},
    {1, 4, 6, 7, 5, 1, 2}, {3, 2, 9, 7, 3, 2, 0}, {1, 3, 5, 5, 3, 2, 1},
    {3, 5, 3, 3, 1, 1, 0},
};
#define N_CONV_SHAPES ((int)(sizeof conv_shapes / sizeof conv_shapes[0]))

/* Pooling windows: the net's 3/1/1 and 3/2/1, 2/2/0, 3/2/0 on odd sizes. */
static const int pool_shapes[][7] = {
    {1, 1, 5, 5, 3, 1, 1}, {3, 2, 7, 9, 3, 2, 1}, {3, 3, 8, 6, 2, 2, 0},
    {1, 2, 9, 7, 3, 2, 0}, {3, 4, 6, 6, 3, 1, 1}, {1, 3, 1, 1, 1, 1, 0},
};
#define N_POOL_SHAPES ((int)(sizeof pool_shapes / sizeof pool_shapes[0]))

/* ---- memory --------------------------------------------------------------- */

START_TEST(test_cuda_memory)
{
  static const size_t sizes[] = {1, 3, 4, 1000, 65536 + 12};
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
    size_t bytes = sizes[si];
    unsigned char *h = (unsigned char *)malloc(bytes), *back = (unsigned char *)malloc(bytes);
    ck_assert(h && back);
    /* alloc is zero-filled */
    void *d = NULL, *d2 = NULL;
    INC_CK(gpu, gpu->ops->alloc(&d, bytes, gpu));
    memset(back, 0xab, bytes);
    INC_CK(gpu, gpu->ops->download(back, d, bytes, gpu));
    for (size_t i = 0; i < bytes; i++) ck_assert_uint_eq(back[i], 0);
    /* upload / download round trip */
    for (size_t i = 0; i < bytes; i++) h[i] = (unsigned char)(i * 7 + 3);
    INC_CK(gpu, gpu->ops->upload(d, h, bytes, gpu));
    INC_CK(gpu, gpu->ops->download(back, d, bytes, gpu));
    ck_assert(memcmp(h, back, bytes) == 0);
    /* device copy */
    INC_CK(gpu, gpu->ops->alloc(&d2, bytes, gpu));
    INC_CK(gpu, gpu->ops->copy(d2, d, bytes, gpu));
    memset(back, 0, bytes);
    INC_CK(gpu, gpu->ops->download(back, d2, bytes, gpu));
    ck_assert(memcmp(h, back, bytes) == 0);
    /* zero part of it */
    size_t half = bytes / 2;
    INC_CK(gpu, gpu->ops->zero((unsigned char *)d2 + half, bytes - half, gpu));
    INC_CK(gpu, gpu->ops->download(back, d2, bytes, gpu));
    for (size_t i = 0; i < bytes; i++) ck_assert_uint_eq(back[i], i < half ? h[i] : 0);
    INC_CK(gpu, gpu->ops->synchronize(gpu));
    gpu->ops->free(d, gpu);
    gpu->ops->free(d2, gpu);
    free(h);
    free(back);
  }
  gpu->ops->free(NULL, gpu);
  /* zero-byte transfers are no-ops */
  INC_CK(gpu, gpu->ops->upload(NULL, NULL, 0, gpu));
  INC_CK(gpu, gpu->ops->download(NULL, NULL, 0, gpu));
  INC_CK(gpu, gpu->ops->copy(NULL, NULL, 0, gpu));
  INC_CK(gpu, gpu->ops->zero(NULL, 0, gpu));
}
END_TEST

START_TEST(test_cuda_errors)
{
  /* An allocation no device can satisfy is OUT_OF_MEMORY with a message,
   * and the context stays usable. */
  void *p = NULL;
  inc_status s = gpu->ops->alloc(&p, (size_t)1 << 50, gpu);
  ck_assert_int_eq(s, INC_ERR_OUT_OF_MEMORY);
  ck_assert_ptr_null(p);
  ck_assert_msg(strstr(inc_context_last_error(gpu), "cannot allocate") != NULL, "message '%s'",
                inc_context_last_error(gpu));
  ck_assert_int_eq(gpu->latched, INC_OK);
  INC_CK(gpu, gpu->ops->alloc(&p, 64, gpu));
  gpu->ops->free(p, gpu);
  /* GEMM sizes beyond cuBLAS's int are a shape error, before any call. */
  s = gpu->ops->gemm(NULL, NULL, NULL, 0, 0, (int64_t)1 << 32, 1, 1, 1.0f, 0.0f, gpu);
  ck_assert_int_eq(s, INC_ERR_SHAPE);
  /* Through the public API too: a huge tensor fails cleanly. */
  inc_tensor *t = NULL;
  int64_t dims[2] = {(int64_t)1 << 24, (int64_t)1 << 24};
  s = inc_tensor_create(gpu, 2, dims, &t);
  ck_assert_int_eq(s, INC_ERR_OUT_OF_MEMORY);
  ck_assert_ptr_null(t);
  INC_CK(gpu, inc_context_synchronize(gpu));
}
END_TEST

/* ---- dense algebra ---------------------------------------------------------- */

static const int64_t gemm_shapes[][3] = {{1, 1, 1}, {5, 7, 3}, {33, 17, 65}, {64, 130, 27},
                                         {10, 3, 1024}};
#define N_GEMM_SHAPES ((int)(sizeof gemm_shapes / sizeof gemm_shapes[0]))

START_TEST(test_cuda_gemm)
{
  const size_t si = (size_t)_i;
  int64_t m = gemm_shapes[si][0], n = gemm_shapes[si][1], k = gemm_shapes[si][2];
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int ab = 0; ab < 2; ab++) {
        float alpha = ab ? 0.5f : 1.0f, beta = ab ? 2.0f : 0.0f;
        pair a = pair_rand(m * k, 11 + si, -1, 1), b = pair_rand(k * n, 12 + si, -1, 1);
        pair c = pair_rand(m * n, 13 + si, -1, 1);
        BOTH(cpu->ops->gemm(FC(c), FC(a), FC(b), ta, tb, m, n, k, alpha, beta, cpu),
             gpu->ops->gemm(FG(c), FG(a), FG(b), ta, tb, m, n, k, alpha, beta, gpu));
        char what[96];
        snprintf(what, sizeof what, "gemm m=%lld n=%lld k=%lld ta=%d tb=%d beta=%g",
                 (long long)m, (long long)n, (long long)k, ta, tb, (double)beta);
        pair_check(&c, m * n, 1e-5 * (double)k, 1e-4, what);
        pair_free(&a);
        pair_free(&b);
        pair_free(&c);
      }
}
END_TEST

/* ---- convolution helpers ------------------------------------------------------ */

/* One conv shape per loop index; the last index: bias_grad of dense and
 * wide layers. */
START_TEST(test_cuda_conv_helpers)
{
  if (_i < N_CONV_SHAPES) {
    const int si = _i;
    const int *d = conv_shapes[si];
    inc__window g = window(d[0], d[1], d[2], d[3], d[4], d[5], d[6]);
    int64_t xn = g.n * g.c * g.h * g.w;
    int64_t rows = g.c * g.k * g.k, cols = g.n * g.oh * g.ow;
    char what[96];

    /* im2col: a pure gather, exact */
    pair x = pair_rand(xn, 100 + si, -1, 1), col = pair_new((size_t)(rows * cols) * 4);
    BOTH(cpu->ops->im2col(FC(col), FC(x), &g, cpu), gpu->ops->im2col(FG(col), FG(x), &g, gpu));
    snprintf(what, sizeof what, "im2col shape %d", si);
    pair_check(&col, rows * cols, 0, 0, what);

    /* col2im: sums in the same order, exact */
    pair col2 = pair_rand(rows * cols, 200 + si, -1, 1), dx = pair_new((size_t)xn * 4);
    BOTH(cpu->ops->col2im(FC(dx), FC(col2), &g, cpu),
         gpu->ops->col2im(FG(dx), FG(col2), &g, gpu));
    snprintf(what, sizeof what, "col2im shape %d", si);
    pair_check(&dx, xn, 1e-6, 1e-6, what);

    /* swap01 (A, B, P) -> (B, A, P): A = c, B = n, P = h*w */
    pair sw = pair_new((size_t)xn * 4);
    BOTH(cpu->ops->swap01(FC(sw), FC(x), g.c, g.n, g.h * g.w, cpu),
         gpu->ops->swap01(FG(sw), FG(x), g.c, g.n, g.h * g.w, gpu));
    snprintf(what, sizeof what, "swap01 shape %d", si);
    pair_check(&sw, xn, 0, 0, what);

    /* conv_out: tmp (C, N*P) -> y (N, C, P), with and without bias / ReLU */
    int64_t p = g.h * g.w;
    pair bias = pair_rand(g.c, 300 + si, -1, 1), y = pair_new((size_t)xn * 4);
    for (int with_bias = 0; with_bias < 2; with_bias++)
      for (int relu = 0; relu < 2; relu++) {
        const float *bc = with_bias ? FC(bias) : NULL, *bg = with_bias ? FG(bias) : NULL;
        BOTH(cpu->ops->conv_out(FC(y), FC(x), bc, g.n, g.c, p, relu, cpu),
             gpu->ops->conv_out(FG(y), FG(x), bg, g.n, g.c, p, relu, gpu));
        snprintf(what, sizeof what, "conv_out shape %d bias=%d relu=%d", si, with_bias, relu);
        pair_check(&y, xn, 0, 0, what);
      }

    /* bias_add in place */
    BOTH(cpu->ops->bias_add(FC(y), FC(bias), g.n, g.c, p, cpu),
         gpu->ops->bias_add(FG(y), FG(bias), g.n, g.c, p, gpu));
    snprintf(what, sizeof what, "bias_add shape %d", si);
    pair_check(&y, xn, 0, 0, what);

    /* bias_grad: a reduction, summed in another order on the GPU */
    pair db = pair_new((size_t)g.c * 4);
    BOTH(cpu->ops->bias_grad(FC(db), FC(x), g.n, g.c, p, cpu),
         gpu->ops->bias_grad(FG(db), FG(x), g.n, g.c, p, gpu));
    snprintf(what, sizeof what, "bias_grad shape %d", si);
    pair_check(&db, g.c, 1e-5 * sqrt((double)(g.n * p)), 1e-5, what);

    pair_free(&x);
    pair_free(&col);
    pair_free(&col2);
    pair_free(&dx);
    pair_free(&sw);
    pair_free(&bias);
    pair_free(&y);
    pair_free(&db);
  }
  if (_i < N_CONV_SHAPES) return;
  /* bias_grad of a dense layer (P = 1) and of a wide one */
  static const int64_t bg[][3] = {{128, 10, 1}, {3, 1024, 1}, {2, 64, 2304}};
  for (size_t i = 0; i < sizeof bg / sizeof bg[0]; i++) {
    int64_t n = bg[i][0], c = bg[i][1], p = bg[i][2];
    pair dy = pair_rand(n * c * p, 400 + i, -1, 1), db = pair_new((size_t)c * 4);
    BOTH(cpu->ops->bias_grad(FC(db), FC(dy), n, c, p, cpu),
         gpu->ops->bias_grad(FG(db), FG(dy), n, c, p, gpu));
    pair_check(&db, c, 1e-5 * sqrt((double)(n * p)), 1e-5, "bias_grad (dense / wide)");
    pair_free(&dy);
    pair_free(&db);
  }
}
END_TEST

/* ---- elementwise and slices ---------------------------------------------------- */

static const int64_t eltwise_counts[] = {1, 7, 1000, 70001};
#define N_ELTWISE ((int)(sizeof eltwise_counts / sizeof eltwise_counts[0]))

START_TEST(test_cuda_elementwise)
{
  const size_t i = (size_t)_i;
  int64_t n = eltwise_counts[i];
  pair x = pair_rand(n, 500 + i, -1, 1), dy = pair_rand(n, 600 + i, -1, 1);
  pair y = pair_new((size_t)n * 4), dx = pair_new((size_t)n * 4);
  BOTH(cpu->ops->relu_fwd(FC(y), FC(x), n, cpu), gpu->ops->relu_fwd(FG(y), FG(x), n, gpu));
  pair_check(&y, n, 0, 0, "relu_fwd");
  BOTH(cpu->ops->relu_bwd(FC(dx), FC(dy), FC(y), n, cpu),
       gpu->ops->relu_bwd(FG(dx), FG(dy), FG(y), n, gpu));
  pair_check(&dx, n, 0, 0, "relu_bwd");
  /* in place, as layers may use it */
  BOTH(cpu->ops->relu_fwd(FC(x), FC(x), n, cpu), gpu->ops->relu_fwd(FG(x), FG(x), n, gpu));
  pair_check(&x, n, 0, 0, "relu_fwd in place");
  BOTH(cpu->ops->axpy(FC(dy), FC(dx), -0.75f, n, cpu),
       gpu->ops->axpy(FG(dy), FG(dx), -0.75f, n, gpu));
  pair_check(&dy, n, 0, 0, "axpy");
  pair_free(&x);
  pair_free(&dy);
  pair_free(&y);
  pair_free(&dx);
}
END_TEST

static const int64_t slice_shapes[][5] = {
    /* n, cb, ct, off, p */
    {1, 3, 10, 2, 5}, {3, 4, 9, 5, 7}, {3, 1, 1, 0, 1}, {3, 64, 256, 192, 9}, {1, 2, 5, 0, 1},
};
#define N_SLICE_SHAPES ((int)(sizeof slice_shapes / sizeof slice_shapes[0]))

START_TEST(test_cuda_slice)
{
  const size_t i = (size_t)_i;
  int64_t n = slice_shapes[i][0], cb = slice_shapes[i][1], ct = slice_shapes[i][2],
          off = slice_shapes[i][3], p = slice_shapes[i][4];
  pair big = pair_rand(n * ct * p, 700 + i, -1, 1), small = pair_rand(n * cb * p, 800 + i, -1, 1);
  pair out = pair_new((size_t)(n * cb * p) * 4);
  BOTH(cpu->ops->slice(FC(big), FC(out), 0, n, cb, ct, off, p, cpu),
       gpu->ops->slice(FG(big), FG(out), 0, n, cb, ct, off, p, gpu));
  pair_check(&out, n * cb * p, 0, 0, "slice from big");
  BOTH(cpu->ops->slice(FC(big), FC(small), 1, n, cb, ct, off, p, cpu),
       gpu->ops->slice(FG(big), FG(small), 1, n, cb, ct, off, p, gpu));
  pair_check(&big, n * ct * p, 0, 0, "slice to big");
  pair_free(&big);
  pair_free(&small);
  pair_free(&out);
}
END_TEST

/* ---- pooling ------------------------------------------------------------------ */

START_TEST(test_cuda_pool)
{
  const int si = _i;
  const int *d = pool_shapes[si];
  inc__window g = window(d[0], d[1], d[2], d[3], d[4], d[5], d[6]);
  int64_t xn = g.n * g.c * g.h * g.w, yn = g.n * g.c * g.oh * g.ow;
  char what[96];
  for (int ties = 0; ties < 2; ties++) {
    /* With ties (values on a coarse grid) the first maximum must win on
     * both backends. */
    float *h = (float *)malloc((size_t)xn * sizeof(float));
    ck_assert_ptr_nonnull(h);
    tu_fill(h, xn, 900 + si, -1, 1);
    if (ties)
      for (int64_t i = 0; i < xn; i++) h[i] = floorf(h[i] * 2.0f) / 2.0f;
    pair x = pair_put(h, (size_t)xn * 4);
    free(h);
    pair y = pair_new((size_t)yn * 4), arg = pair_new((size_t)yn * 4);
    BOTH(cpu->ops->maxpool_fwd(FC(y), (int32_t *)arg.c, FC(x), &g, cpu),
         gpu->ops->maxpool_fwd(FG(y), (int32_t *)arg.g, FG(x), &g, gpu));
    snprintf(what, sizeof what, "maxpool_fwd shape %d ties=%d", si, ties);
    pair_check(&y, yn, 0, 0, what);
    snprintf(what, sizeof what, "maxpool_fwd argmax shape %d ties=%d", si, ties);
    pair_check_bytes(&arg, (size_t)yn * 4, what);
    /* without saving the argmax (inference) */
    pair y2 = pair_new((size_t)yn * 4);
    BOTH(cpu->ops->maxpool_fwd(FC(y2), NULL, FC(x), &g, cpu),
         gpu->ops->maxpool_fwd(FG(y2), NULL, FG(x), &g, gpu));
    pair_check(&y2, yn, 0, 0, "maxpool_fwd without argmax");

    pair dy = pair_rand(yn, 1000 + si, -1, 1), dx = pair_new((size_t)xn * 4);
    BOTH(cpu->ops->maxpool_bwd(FC(dx), FC(dy), (const int32_t *)arg.c, &g, cpu),
         gpu->ops->maxpool_bwd(FG(dx), FG(dy), (const int32_t *)arg.g, &g, gpu));
    snprintf(what, sizeof what, "maxpool_bwd shape %d ties=%d", si, ties);
    pair_check(&dx, xn, 0, 0, what);

    BOTH(cpu->ops->avgpool_fwd(FC(y), FC(x), &g, cpu),
         gpu->ops->avgpool_fwd(FG(y), FG(x), &g, gpu));
    snprintf(what, sizeof what, "avgpool_fwd shape %d", si);
    pair_check(&y, yn, 1e-7, 1e-6, what);
    BOTH(cpu->ops->avgpool_bwd(FC(dx), FC(dy), &g, cpu),
         gpu->ops->avgpool_bwd(FG(dx), FG(dy), &g, gpu));
    snprintf(what, sizeof what, "avgpool_bwd shape %d", si);
    pair_check(&dx, xn, 1e-7, 1e-6, what);

    pair_free(&x);
    pair_free(&y);
    pair_free(&y2);
    pair_free(&arg);
    pair_free(&dy);
    pair_free(&dx);
  }
}
END_TEST

START_TEST(test_cuda_gap)
{
  /* global average pooling: (planes, hw) */
  static const int64_t gap[][2] = {{15, 9}, {1, 1}, {14, 49}, {3 * 1024, 9}, {2, 2304}};
  for (size_t i = 0; i < sizeof gap / sizeof gap[0]; i++) {
    int64_t planes = gap[i][0], hw = gap[i][1];
    pair x = pair_rand(planes * hw, 1100 + i, -1, 1), y = pair_new((size_t)planes * 4);
    BOTH(cpu->ops->gap_fwd(FC(y), FC(x), planes, hw, cpu),
         gpu->ops->gap_fwd(FG(y), FG(x), planes, hw, gpu));
    pair_check(&y, planes, 1e-7, 1e-6, "gap_fwd");
    pair dx = pair_new((size_t)(planes * hw) * 4);
    BOTH(cpu->ops->gap_bwd(FC(dx), FC(y), planes, hw, cpu),
         gpu->ops->gap_bwd(FG(dx), FG(y), planes, hw, gpu));
    pair_check(&dx, planes * hw, 1e-7, 1e-6, "gap_bwd");
    pair_free(&x);
    pair_free(&y);
    pair_free(&dx);
  }
}
END_TEST

/* ---- loss, optimizer, fills ---------------------------------------------------- */

static const int64_t ce_shapes[][2] = {{1, 10}, {3, 10}, {128, 10}, {7, 3}, {5, 1}, {300, 17}};
#define N_CE_SHAPES ((int)(sizeof ce_shapes / sizeof ce_shapes[0]))

START_TEST(test_cuda_softmax_ce)
{
  const size_t si = (size_t)_i;
  int64_t n = ce_shapes[si][0], k = ce_shapes[si][1];
  float *h = (float *)malloc((size_t)(n * k) * sizeof(float));
  int32_t *labels = (int32_t *)malloc((size_t)n * sizeof(int32_t));
  ck_assert(h && labels);
  tu_fill(h, n * k, 1200 + si, -4, 4);
  if (n * k > 4) { /* large logits: the row body must stay stable */
    h[0] = 80.0f;
    h[1] = -80.0f;
  }
  for (int64_t r = 0; r < n; r++) labels[r] = (int32_t)((r * 7 + si) % k);
  pair logits = pair_put(h, (size_t)(n * k) * 4), dl = pair_new((size_t)(n * k) * 4);
  float scale = 1.0f / (float)n;
  for (int want_grad = 0; want_grad < 2; want_grad++) {
    double lc = 0, lg = 0;
    int64_t cc = -1, cg = -2;
    BOTH(cpu->ops->softmax_ce(&lc, &cc, want_grad ? FC(dl) : NULL, FC(logits), labels, n, k,
                              scale, cpu),
         gpu->ops->softmax_ce(&lg, &cg, want_grad ? FG(dl) : NULL, FG(logits), labels, n, k,
                              scale, gpu));
    ck_assert_msg(fabs(lg - lc) <= 1e-5 * (double)n + 1e-5 * fabs(lc),
                  "softmax_ce loss (n=%lld k=%lld): gpu %.9g cpu %.9g", (long long)n,
                  (long long)k, lg, lc);
    ck_assert_int_eq(cg, cc);
  }
  pair_check(&dl, n * k, 1e-7, 1e-5, "softmax_ce dlogits");
  pair_free(&logits);
  pair_free(&dl);
  free(h);
  free(labels);
}
END_TEST

static const float sgd_settings[][2] = {{0.0f, 0.0f}, {0.9f, 0.0f}, {0.0f, 5e-4f},
                                        {0.9f, 1e-4f}};
#define N_SGD_SETTINGS ((int)(sizeof sgd_settings / sizeof sgd_settings[0]))

START_TEST(test_cuda_sgd)
{
  static const int64_t counts[] = {1, 1000, 70001};
  const size_t si = (size_t)_i;
  for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
    int64_t n = counts[ci];
    float momentum = sgd_settings[si][0], wd = sgd_settings[si][1];
    pair param = pair_rand(n, 1300 + si, -1, 1), buf = pair_new((size_t)n * 4);
    for (int step = 0; step < 3; step++) {
      pair grad = pair_rand(n, 1400 + 10 * si + step, -1, 1);
      BOTH(cpu->ops->sgd(FC(param), FC(buf), FC(grad), n, 0.1f, momentum, wd, step == 0, cpu),
           gpu->ops->sgd(FG(param), FG(buf), FG(grad), n, 0.1f, momentum, wd, step == 0,
                         gpu));
      pair_free(&grad);
    }
    /* fmaf is correctly rounded on both sides: bit-identical */
    pair_check(&param, n, 0, 0, "sgd param");
    if (momentum != 0.0f) pair_check(&buf, n, 0, 0, "sgd momentum buffer");
    pair_free(&param);
    pair_free(&buf);
  }
}
END_TEST

static const int64_t fill_counts[] = {1, 1001, 100003};
#define N_FILL ((int)(sizeof fill_counts / sizeof fill_counts[0]))

START_TEST(test_cuda_fill)
{
  const size_t i = (size_t)_i;
  int64_t n = fill_counts[i];
  pair u = pair_new((size_t)n * 4), g = pair_new((size_t)n * 4);
  BOTH(cpu->ops->fill(FC(u), n, INC__FILL_UNIFORM, -0.3f, 0.7f, 42, 5 + i, cpu),
       gpu->ops->fill(FG(u), n, INC__FILL_UNIFORM, -0.3f, 0.7f, 42, 5 + i, gpu));
  pair_check_bytes(&u, (size_t)n * 4, "uniform fill (bit-identical)");
  BOTH(cpu->ops->fill(FC(g), n, INC__FILL_NORMAL, 0.0f, 0.01f, 42, 9 + i, cpu),
       gpu->ops->fill(FG(g), n, INC__FILL_NORMAL, 0.0f, 0.01f, 42, 9 + i, gpu));
  pair_check(&g, n, 1e-8, 1e-5, "normal fill");
  pair_free(&u);
  pair_free(&g);
}
END_TEST

/* ---- the copy contract ------------------------------------------------------------ */

START_TEST(test_cuda_copy_overlap)
{
  /* Overlapping ranges are refused on both backends alike (backend.h). */
  pair a = pair_rand(64, 1500, -1, 1);
  inc_context *ctx[2] = {cpu, gpu};
  void *base[2] = {a.c, a.g};
  for (int b = 0; b < 2; b++) {
    inc_status s = ctx[b]->ops->copy((char *)base[b] + 16, base[b], 64, ctx[b]);
    ck_assert_int_eq(s, INC_ERR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(inc_context_last_error(ctx[b]), "overlap") != NULL, "message '%s'",
                  inc_context_last_error(ctx[b]));
    INC_CK(ctx[b], ctx[b]->ops->copy(base[b], base[b], 64, ctx[b])); /* the same range: no-op */
  }
  pair_check(&a, 64, 0, 0, "unchanged after refused copies");
  pair_free(&a);
}
END_TEST

/* ---- registration ------------------------------------------------------------------ */

Suite *inc_test_suite_cuda(void)
{
  char why[INC__ERR_CAP];
  int kind = tu_cuda_probe(why, sizeof why); /* before anything the child would inherit */
  Suite *s = suite_create("cuda");
  if (!kind) {
    printf("CUDA parity cases skipped: %s\n", why);
    fflush(stdout);
    return s;
  }
  TCase *ops = tcase_create("ops");
  tcase_add_checked_fixture(ops, cuda_setup, cuda_teardown);
  tcase_set_timeout(ops, 120);
  tcase_add_test(ops, test_cuda_memory);
  tcase_add_test(ops, test_cuda_errors);
  tcase_add_test(ops, test_cuda_copy_overlap);
  tcase_add_loop_test(ops, test_cuda_gemm, 0, N_GEMM_SHAPES);
  tcase_add_loop_test(ops, test_cuda_conv_helpers, 0, N_CONV_SHAPES + 1);
  tcase_add_loop_test(ops, test_cuda_elementwise, 0, N_ELTWISE);
  tcase_add_loop_test(ops, test_cuda_slice, 0, N_SLICE_SHAPES);
  tcase_add_loop_test(ops, test_cuda_pool, 0, N_POOL_SHAPES);
  tcase_add_test(ops, test_cuda_gap);
  tcase_add_loop_test(ops, test_cuda_softmax_ce, 0, N_CE_SHAPES);
  tcase_add_loop_test(ops, test_cuda_sgd, 0, N_SGD_SETTINGS);
  tcase_add_loop_test(ops, test_cuda_fill, 0, N_FILL);
  suite_add_tcase(s, ops);
  return s;
}
