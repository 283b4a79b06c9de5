/*
 * test_cpu_ops.c — the CPU backend on the op table, at one and two threads.
 *
 * src/cpu/ walks each op's index space row by row (divisions once per row,
 * contiguous runs, 16-plane vector paths for max pooling, one SGEMM per
 * thread for large GEMMs) instead of calling the per-element bodies of
 * src/kernels.h that the CUDA kernels run. Each loop must still give the
 * bodies' result bit for bit where the table says so (the CUDA parity
 * depends on it): every case of tests/op_cases.c runs here against the
 * float64 reference and the bodies, once with one thread and once with
 * two. What stays beside it: a split GEMM and a batch of GEMMs leave the
 * caller's OpenMP thread count alone (the oneDNN build sets it around each
 * call); gemm_batched refuses bad sizes and strides; in the oneDNN build,
 * dnnl_sgemm's failure is an error.
 */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"
#include "internal.h"
#include "op_cases.h"

/* Row _i of the op table, at 1 and 2 threads. */
START_TEST(test_op_row_cpu)
{
  inc_context *ctx = tu_cpu();
  ck_assert_str_eq(ctx->ops->name, "cpu");
  for (int threads = 1; threads <= 2; threads++) {
    INC_CK(ctx, inc_context_set_num_threads(ctx, threads));
    opc_run_row(_i, ctx->ops, ctx);
  }
  inc_context_destroy(ctx);
}
END_TEST

/* The GEMM slot splits a large product into one SGEMM per thread inside
 * its own parallel region: the caller's OpenMP default stays as it was. */
START_TEST(test_cpu_gemm_threads_unchanged)
{
  inc_context *ctx = tu_cpu();
  int before = omp_get_max_threads();
  const size_t bytes = 300 * 300 * sizeof(float);
  float *a = (float *)malloc(bytes), *b = (float *)malloc(bytes), *c = (float *)malloc(bytes);
  ck_assert(a && b && c);
  tu_fill(a, 300 * 300, 1, -1.0f, 1.0f);
  tu_fill(b, 300 * 300, 2, -1.0f, 1.0f);
  /* the default; in the oneDNN build also counts other than the caller's
   * (one GEMM call each: set for the call, restored). Not with OpenBLAS:
   * its openblas_set_num_threads (0.3.21, OpenMP build) also sets the
   * calling thread's omp_set_num_threads, which stays changed (seen
   * here: 1 after a GEMM at one thread where the caller had 2). */
  const int counts[] = {0, 1, before + 1};
  const int ncounts = strstr(inc_context_device_name(ctx), "oneDNN") ? 3 : 1;
  for (int i = 0; i < ncounts; i++) {
    INC_CK(ctx, inc_context_set_num_threads(ctx, counts[i]));
    INC_CK(ctx, ctx->ops->gemm(c, a, b, 0, 0, 300, 300, 300, 1.0f, 0.0f, ctx));
    ck_assert_int_eq(omp_get_max_threads(), before);
    /* a small one: one call on the caller's thread, never split */
    INC_CK(ctx, ctx->ops->gemm(c, a, b, 0, 0, 30, 30, 30, 1.0f, 0.0f, ctx));
    ck_assert_int_eq(omp_get_max_threads(), before);
    /* and a batch of small items, one per thread in one region */
    INC_CK(ctx, ctx->ops->gemm_batched(c, a, b, 0, 0, 30, 30, 30, 16, 900, 900, 900, 1.0f, 0.0f,
                                       ctx));
    ck_assert_int_eq(omp_get_max_threads(), before);
  }
  free(a);
  free(b);
  free(c);
  inc_context_destroy(ctx);
}
END_TEST

/* The oneDNN build: dnnl_sgemm returns a status (CBLAS has none, and
 * OpenBLAS would print its own message for the same call): a bad size
 * that only the library checks (the internal slot trusts its callers
 * about signs) comes back as a context error naming the call and dims. */
START_TEST(test_cpu_gemm_library_error)
{
  inc_context *ctx = tu_cpu();
  if (!strstr(inc_context_device_name(ctx), "oneDNN")) {
    inc_context_destroy(ctx);
    return;
  }
  float a[16] = {0}, b[16] = {0}, c[16] = {0};
  ck_assert_int_eq(ctx->ops->gemm(c, a, b, 0, 0, -4, 4, 4, 1.0f, 0.0f, ctx),
                   INC_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(inc_context_last_error(ctx), "dnnl_sgemm (m -4, n 4, k 4)"), "%s",
                inc_context_last_error(ctx));
  inc_context_destroy(ctx);
}
END_TEST

/* gemm_batched's arguments: sizes beyond BLAS's int, negative sizes or
 * strides and overlapping items of c are refused before any work, with a
 * message; an empty batch does nothing. */
START_TEST(test_cpu_gemm_batched_args)
{
  inc_context *ctx = tu_cpu();
  float c[8] = {0}, a[8] = {0}, b[8] = {0};
  static const struct {
    int64_t m, n, k, batch, sc, sa, sb;
    inc_status want;
    const char *says;
  } bad[] = {
      {2, 2, 2, (int64_t)1 << 31, 4, 4, 4, INC_ERR_SHAPE, "BLAS int"},
      {(int64_t)1 << 31, 1, 1, 1, 0, 0, 0, INC_ERR_SHAPE, "BLAS int"},
      {2, 2, 2, -1, 4, 4, 4, INC_ERR_INVALID_ARGUMENT, "negative"},
      {2, 2, 2, 2, 4, -4, 4, INC_ERR_INVALID_ARGUMENT, "negative"},
      {2, 2, 2, 2, 3, 4, 4, INC_ERR_INVALID_ARGUMENT, "overlap"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    c[0] = 5.0f;
    inc_status s = ctx->ops->gemm_batched(c, a, b, 0, 0, bad[i].m, bad[i].n, bad[i].k,
                                          bad[i].batch, bad[i].sc, bad[i].sa, bad[i].sb, 1.0f,
                                          0.0f, ctx);
    ck_assert_msg(s == bad[i].want, "case %zu: %s", i, inc_status_string(s));
    ck_assert_msg(strstr(inc_context_last_error(ctx), bad[i].says) != NULL, "case %zu: '%s'", i,
                  inc_context_last_error(ctx));
    ck_assert(c[0] == 5.0f);
  }
  INC_CK(ctx, ctx->ops->gemm_batched(c, a, b, 0, 0, 2, 2, 2, 0, 4, 4, 4, 1.0f, 0.0f, ctx));
  ck_assert(c[0] == 5.0f);
  inc_context_destroy(ctx);
}
END_TEST

Suite *inc_test_suite_cpu_ops(void)
{
  opc_stats_init();
  Suite *s = suite_create("cpu_ops");
  TCase *tc = tcase_create("op_table");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, test_op_row_cpu, 0, opc_nrows());
  suite_add_tcase(s, tc);
  TCase *gm = tcase_create("gemm_threads");
  tcase_add_test(gm, test_cpu_gemm_threads_unchanged);
  tcase_add_test(gm, test_cpu_gemm_library_error);
  tcase_add_test(gm, test_cpu_gemm_batched_args);
  suite_add_tcase(s, gm);
  return s;
}
