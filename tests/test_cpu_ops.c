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
 * two. What stays beside it: a split GEMM leaves the caller's OpenMP
 * thread count alone.
 */
#include <omp.h>
#include <stdlib.h>
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
  INC_CK(ctx, inc_context_set_num_threads(ctx, 0));
  const size_t bytes = 300 * 300 * sizeof(float);
  float *a = (float *)malloc(bytes), *b = (float *)malloc(bytes), *c = (float *)malloc(bytes);
  ck_assert(a && b && c);
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
  suite_add_tcase(s, gm);
  return s;
}
