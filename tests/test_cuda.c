/*
 * test_cuda.c — the CUDA backend on the op table, and what the table
 * cannot say about it.
 *
 * Every case of tests/op_cases.c runs on a CUDA context against the same
 * float64 reference the bodies and the CPU backend meet, and bit for bit
 * against the bodies where the table says so (ops whose CUDA kernel runs
 * the same INC_HD body with the same float operations in the same order:
 * copies, im2col, max pooling, SGD, the uniform fill, ...); reductions,
 * cuBLAS and libm-dependent ops within the row's tolerance. Beside the
 * table: allocation (zero-filled, zero-byte transfers, free(NULL)),
 * out-of-memory and shape errors, the copy-overlap rule on both backends,
 * and dropout's masks through the public API (the same seed drops the same
 * elements on both backends, in every forward, and backward uses them).
 * The GoogLeNet step on both backends is test_cuda_net.c's.
 *
 * The cases are registered only when a CUDA context can be made: on a GPU,
 * or on the emulated runtime (make check-cuda-emu), where the same cases
 * run the cuda/ sources on the CPU and every test also checks that it left no
 * device memory behind and made no misuse the emulator reports. Without
 * either, one line says why they were skipped (the no-GPU path itself is
 * tested in test_cuda_net.c). Each row of the table is its own Check test
 * (a loop test), and a failure names the case.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cuda_util.h"
#include "op_cases.h"

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

/* ---- memory --------------------------------------------------------------- */

/* Allocations are zero-filled; zero-byte transfers and free(NULL) are
 * no-ops (transfers, copy and zero at odd byte counts: op table). */
START_TEST(test_cuda_memory)
{
  static const size_t sizes[] = {1, 3, 4, 1000, 65536 + 12};
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
    size_t bytes = sizes[si];
    unsigned char *back = (unsigned char *)malloc(bytes);
    ck_assert_ptr_nonnull(back);
    void *d = NULL;
    INC_CK(gpu, gpu->ops->alloc(&d, bytes, gpu));
    memset(back, 0xab, bytes);
    INC_CK(gpu, gpu->ops->download(back, d, bytes, gpu));
    for (size_t i = 0; i < bytes; i++) ck_assert_uint_eq(back[i], 0);
    INC_CK(gpu, gpu->ops->synchronize(gpu));
    gpu->ops->free(d, gpu);
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
  /* So is a batch beyond it; items of c that overlap are refused too. */
  s = gpu->ops->gemm_batched(NULL, NULL, NULL, 0, 0, 2, 2, 2, (int64_t)1 << 31, 4, 4, 4, 1.0f,
                             0.0f, gpu);
  ck_assert_int_eq(s, INC_ERR_SHAPE);
  s = gpu->ops->gemm_batched(NULL, NULL, NULL, 0, 0, 2, 2, 2, 3, 3, 4, 4, 1.0f, 0.0f, gpu);
  ck_assert_int_eq(s, INC_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(inc_context_last_error(gpu), "overlap") != NULL, "message '%s'",
                inc_context_last_error(gpu));
  /* Through the public API too: a huge tensor fails cleanly. */
  inc_tensor *t = NULL;
  int64_t dims[2] = {(int64_t)1 << 24, (int64_t)1 << 24};
  s = inc_tensor_create(gpu, 2, dims, &t);
  ck_assert_int_eq(s, INC_ERR_OUT_OF_MEMORY);
  ck_assert_ptr_null(t);
  INC_CK(gpu, inc_context_synchronize(gpu));
}
END_TEST

/* ---- the op table ---------------------------------------------------------------- */

/* Row _i of tests/op_cases.c on the CUDA context. */
START_TEST(test_cuda_op_row)
{
  opc_run_row(_i, gpu->ops, gpu);
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

/* ---- dropout ------------------------------------------------------------------------ */

/* Dropout layers on both backends from the same seed: alone (the caller's
 * (N, C, H, W) x), y and dx bit for bit over three training forwards, each
 * with a fresh mask; after a 3x3 convolution (channel-major inside the
 * tree), the same elements dropped and the values within float rounding. */
START_TEST(test_cuda_dropout)
{
  const int64_t d[4] = {3, 5, 7, 4}, n = 3 * 5 * 7 * 4;
  inc_context *ctx[2] = {cpu, gpu};
  inc_layer *drop[2], *net[2];
  inc_tensor *x[2], *dy[2];
  float *xh = (float *)malloc((size_t)n * sizeof(float)), *got[2][2];
  ck_assert_ptr_nonnull(xh);
  tu_fill(xh, n, 1600, 0.5f, 1.5f);
  for (int b = 0; b < 2; b++) {
    INC_CK(ctx[b], inc_context_set_seed(ctx[b], 21));
    INC_CK(ctx[b], inc_dropout_create(ctx[b], 0.4f, &drop[b]));
    x[b] = tu_tensor(ctx[b], 4, d, xh);
    dy[b] = tu_tensor(ctx[b], 4, d, xh);
  }
  float *prev = NULL;
  for (int it = 0; it < 3; it++) {
    for (int b = 0; b < 2; b++) {
      const inc_tensor *y, *dx;
      INC_CK(ctx[b], inc_layer_forward(drop[b], x[b], 1, &y));
      got[b][0] = tu_host(y);
      INC_CK(ctx[b], inc_layer_backward(drop[b], dy[b], &dx));
      got[b][1] = tu_host(dx);
    }
    for (int k = 0; k < 2; k++)
      for (int64_t i = 0; i < n; i++)
        ck_assert_msg(!memcmp(&got[0][k][i], &got[1][k][i], sizeof(float)),
                      "forward %d: %s[%lld] is %.9g on CUDA, %.9g on the CPU", it,
                      k ? "dx" : "y", (long long)i, (double)got[1][k][i], (double)got[0][k][i]);
    if (prev) ck_assert_msg(memcmp(prev, got[0][0], (size_t)n * sizeof(float)), "same mask");
    free(prev);
    prev = got[0][0];
    free(got[0][1]);
    free(got[1][0]);
    free(got[1][1]);
  }
  free(prev);
  /* after a convolution: channel-major inside the tree */
  const int64_t xd[4] = {3, 2, 5, 4}, m = 3 * 4 * 5 * 4;
  for (int b = 0; b < 2; b++) {
    inc_layer *l;
    INC_CK(ctx[b], inc_context_set_seed(ctx[b], 22));
    INC_CK(ctx[b], inc_sequential_create(ctx[b], &net[b]));
    INC_CK(ctx[b], inc_conv2d_create(ctx[b], 4, 3, 1, 1, &l));
    INC_CK(ctx[b], inc_sequential_append(net[b], l));
    INC_CK(ctx[b], inc_sequential_append(net[b], drop[b]));
    inc_tensor_destroy(x[b]);
    x[b] = tu_tensor(ctx[b], 4, xd, xh);
    const inc_tensor *y;
    INC_CK(ctx[b], inc_layer_forward(net[b], x[b], 1, &y)); /* fills the conv identically */
    got[b][0] = tu_host(y);
  }
  for (int64_t i = 0; i < m; i++) {
    float c = got[0][0][i], g = got[1][0][i];
    ck_assert_msg((c == 0.0f) == (g == 0.0f) && fabsf(g - c) <= 1e-5f * (1.0f + fabsf(c)),
                  "after a convolution: y[%lld] is %.9g on CUDA, %.9g on the CPU", (long long)i,
                  (double)g, (double)c);
  }
  for (int b = 0; b < 2; b++) {
    free(got[b][0]);
    inc_tensor_destroy(x[b]);
    inc_tensor_destroy(dy[b]);
    inc_layer_destroy(net[b]);
  }
  free(xh);
}
END_TEST

/* bf16 (inc_context_set_precision) is CPU-only: CUDA refuses it with
 * INC_ERR_UNAVAILABLE and keeps FP32, which it always accepts. */
START_TEST(test_cuda_precision)
{
  ck_assert_int_eq(inc_context_precision(gpu), INC_PRECISION_FP32);
  ck_assert_int_eq(inc_context_set_precision(gpu, INC_PRECISION_BF16), INC_ERR_UNAVAILABLE);
  ck_assert_msg(strstr(inc_context_last_error(gpu), "CPU backend only"), "message: %s",
                inc_context_last_error(gpu));
  ck_assert_int_eq(inc_context_precision(gpu), INC_PRECISION_FP32);
  INC_CK(gpu, inc_context_set_precision(gpu, INC_PRECISION_FP32));
  ck_assert_int_eq(inc_context_set_precision(gpu, (inc_precision)2), INC_ERR_INVALID_ARGUMENT);
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
  opc_stats_init();
  TCase *ops = tcase_create("ops");
  tcase_add_checked_fixture(ops, cuda_setup, cuda_teardown);
  tcase_set_timeout(ops, 120);
  tcase_add_test(ops, test_cuda_memory);
  tcase_add_test(ops, test_cuda_errors);
  tcase_add_test(ops, test_cuda_copy_overlap);
  tcase_add_test(ops, test_cuda_dropout);
  tcase_add_test(ops, test_cuda_precision);
  tcase_add_loop_test(ops, test_cuda_op_row, 0, opc_nrows());
  suite_add_tcase(s, ops);
  return s;
}
