/*
 * test_registry.c — the backend tables generated from the op registry
 * (src/ops.h) against what they claim.
 *
 * Every table must support every op of the registry (both backends
 * implement them all), fill every slot its supports mask names (checked
 * against the slots themselves, inc__ops_filled) and every memory slot
 * (those are written by hand, so a forgotten one would compile: this is
 * where it shows). The CPU table is checked everywhere; the CUDA table where
 * a CUDA context can be made: on a GPU, or on the emulated runtime (make
 * check-cuda-emu runs this suite); without either one line says why it was
 * skipped. The profiling table generated from the same registry must wrap
 * exactly the ops its backend fills and charge each call to the op's
 * category, GEMMs and axis swaps by role.
 */
#include <stdio.h>
#include <string.h>
#include "cuda_util.h"

/* Asserts the claims of ctx's table (see the top of the file). */
static void check_table(inc_context *ctx, const char *backend)
{
  const inc__backend_ops *ops = ctx->ops;
  ck_assert_str_eq(ops->name, backend);
  ck_assert_msg(ops->destroy && ops->alloc && ops->free && ops->upload && ops->download &&
                    ops->copy && ops->zero && ops->synchronize && ops->native_stream,
                "%s backend: a memory slot is NULL", backend);
  const uint64_t filled = inc__ops_filled(ops);
  for (int i = 0; i < INC__OP_COUNT; i++) {
    const inc__op op = (inc__op)i;
    ck_assert_msg(inc__backend_supports(ctx, op), "%s backend does not support %s", backend,
                  inc__op_name(op));
    ck_assert_msg(filled >> i & 1, "%s backend: %s is supported but its slot is NULL", backend,
                  inc__op_name(op));
  }
  ck_assert_msg((ops->supports & ~filled) == 0, "%s backend: a supported slot is NULL", backend);
  ck_assert_msg(ops->supports == INC__OPS_ALL, "%s backend: supports 0x%llx, the registry 0x%llx",
                backend, (unsigned long long)ops->supports, (unsigned long long)INC__OPS_ALL);
  ck_assert(!inc__backend_supports(ctx, INC__OP_COUNT));
}

START_TEST(test_registry_ids)
{
  /* one bit per op, names in registry order, each once */
  ck_assert_int_le(INC__OP_COUNT, 64);
  ck_assert_int_eq(__builtin_popcountll(INC__OPS_ALL), INC__OP_COUNT);
  ck_assert_str_eq(inc__op_name(INC__OP_gemm), "gemm");
  ck_assert_str_eq(inc__op_name(INC__OP_fill), "fill");
  ck_assert_str_eq(inc__op_name(INC__OP_COUNT), "?");
  for (int i = 0; i < INC__OP_COUNT; i++)
    for (int j = 0; j < i; j++)
      ck_assert_str_ne(inc__op_name((inc__op)i), inc__op_name((inc__op)j));
}
END_TEST

START_TEST(test_registry_cpu)
{
  inc_context *ctx = tu_cpu();
  check_table(ctx, "cpu");
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_registry_cuda)
{
  inc_context *ctx = tu_cuda_context();
  check_table(ctx, "cuda");
  inc_context_destroy(ctx);
  tu_cuda_check_clean("after the registry test");
}
END_TEST

/* The profiling table: one wrapper per filled op, charged by category. */
START_TEST(test_registry_profile)
{
  inc_context *ctx = tu_cpu();
  const inc__backend_ops *real = ctx->ops;
  inc__prof p;
  inc__prof_start(ctx, &p);
  ck_assert_ptr_ne(ctx->ops, real);
  check_table(ctx, "cpu");

  float a[12], b[12], c[12];
  memset(a, 0, sizeof a);
  memset(b, 0, sizeof b);
  INC__PROF_ROLE(ctx, INC__ROLE_DGRAD);
  INC_CK(ctx, ctx->ops->gemm(c, a, b, 0, 0, 2, 3, 4, 1.0f, 0.0f, ctx));
  ck_assert_int_eq(p.op_calls[INC__PROF_GEMM_DGRAD], 1);
  ck_assert(p.op_flops[INC__PROF_GEMM_DGRAD] == 48.0);
  ck_assert_int_eq(p.role, INC__ROLE_NONE);
  INC_CK(ctx, ctx->ops->gemm(c, a, b, 0, 0, 2, 3, 4, 1.0f, 0.0f, ctx));
  ck_assert_int_eq(p.op_calls[INC__PROF_GEMM_FWD], 1);
  /* a batch is one GEMM call of the caller's role, its flops every item's */
  INC__PROF_ROLE(ctx, INC__ROLE_WGRAD);
  INC_CK(ctx, ctx->ops->gemm_batched(c, a, b, 0, 0, 2, 2, 3, 2, 4, 6, 6, 1.0f, 0.0f, ctx));
  ck_assert_int_eq(p.op_calls[INC__PROF_GEMM_WGRAD], 1);
  ck_assert(p.op_flops[INC__PROF_GEMM_WGRAD] == 2.0 * 2 * 2 * 2 * 3);
  ck_assert_int_eq(p.role, INC__ROLE_NONE);
  INC__PROF_ROLE(ctx, INC__ROLE_COL);
  INC_CK(ctx, ctx->ops->swap01(c, a, 2, 3, 2, ctx));
  ck_assert_int_eq(p.op_calls[INC__PROF_IM2COL], 1);
  INC_CK(ctx, ctx->ops->swap01(c, a, 2, 3, 2, ctx));
  ck_assert_int_eq(p.op_calls[INC__PROF_LAYOUT], 1);
  INC_CK(ctx, ctx->ops->relu_fwd(c, a, 12, ctx));
  ck_assert_int_eq(p.op_calls[INC__PROF_ELTWISE], 1);
  INC_CK(ctx, ctx->ops->gap_fwd(c, a, 3, 4, ctx));
  ck_assert_int_eq(p.op_calls[INC__PROF_POOL], 1);
  inc__prof_stop(ctx);
  ck_assert_ptr_eq(ctx->ops, real);

  /* a backend without axpy: no bit, no wrapper, and the check sees it */
  inc__backend_ops lacking = *real;
  lacking.axpy = NULL;
  lacking.supports &= ~INC__OP_BIT(axpy);
  ctx->ops = &lacking;
  inc__prof_start(ctx, &p);
  ck_assert(!inc__backend_supports(ctx, INC__OP_axpy));
  ck_assert(inc__backend_supports(ctx, INC__OP_slice));
  ck_assert_ptr_null(ctx->ops->axpy);
  ck_assert(inc__ops_filled(ctx->ops) == (INC__OPS_ALL & ~INC__OP_BIT(axpy)));
  inc__prof_stop(ctx);
  ctx->ops = real;
  inc_context_destroy(ctx);
}
END_TEST

Suite *inc_test_suite_registry(void)
{
  char why[INC__ERR_CAP];
  int kind = tu_cuda_probe(why, sizeof why); /* before anything the child would inherit */
  Suite *s = suite_create("registry");
  TCase *tc = tcase_create("tables");
  tcase_add_test(tc, test_registry_ids);
  tcase_add_test(tc, test_registry_cpu);
  tcase_add_test(tc, test_registry_profile);
  if (kind)
    tcase_add_test(tc, test_registry_cuda);
  else
    printf("CUDA registry cases skipped: %s\n", why);
  fflush(stdout);
  suite_add_tcase(s, tc);
  return s;
}
