/*
 * backend.c — the CPU backend: host memory, SGEMM through CBLAS (OpenBLAS)
 * and the table that gathers the CPU ops of the other files in src/cpu/.
 *
 * Memory is plain host memory, so upload/download are memcpy. The BLAS
 * thread count follows the context's setting (a process-wide OpenBLAS
 * setting, documented in inception.h); OpenMP loops pass theirs per loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <omp.h>
#include <cblas.h>
#include "cpu.h"

/* OpenBLAS extensions, declared here so any cblas.h will do. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

int inc__cpu_threads(const inc_context *ctx, int64_t work)
{
  if (work < 16384) return 1;
  return ctx->num_threads > 0 ? ctx->num_threads : omp_get_max_threads();
}

static void cpu_destroy(inc_context *ctx) { (void)ctx; }

static inc_status cpu_alloc(void **out, size_t bytes, inc_context *ctx)
{
  void *p = inc__calloc(1, bytes);
  if (!p)
    return inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "CPU backend: cannot allocate %zu bytes",
                      bytes);
  *out = p;
  return INC_OK;
}

static void cpu_free(void *p, inc_context *ctx)
{
  (void)ctx;
  inc__free(p);
}

static inc_status cpu_copy(void *dst, const void *src, size_t bytes, inc_context *ctx)
{
  (void)ctx;
  if (bytes) memmove(dst, src, bytes);
  return INC_OK;
}

static inc_status cpu_zero(void *dst, size_t bytes, inc_context *ctx)
{
  (void)ctx;
  if (bytes) memset(dst, 0, bytes);
  return INC_OK;
}

static inc_status cpu_synchronize(inc_context *ctx)
{
  (void)ctx;
  return INC_OK;
}

static inc_status cpu_gemm(float *c, const float *a, const float *b, int trans_a, int trans_b,
                           int64_t m, int64_t n, int64_t k, float alpha, float beta,
                           inc_context *ctx)
{
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
    return inc__error(ctx, INC_ERR_SHAPE, "CPU gemm: dims %lld x %lld x %lld exceed BLAS int",
                      (long long)m, (long long)n, (long long)k);
  int want = ctx->num_threads > 0 ? ctx->num_threads : omp_get_max_threads();
  if (openblas_get_num_threads() != want) openblas_set_num_threads(want);
  int lda = trans_a ? (int)m : (int)k;
  int ldb = trans_b ? (int)k : (int)n;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a, lda, b, ldb,
              beta, c, (int)n);
  return INC_OK;
}

static const inc__backend_ops cpu_ops = {
    "cpu",
    cpu_destroy,
    cpu_alloc,
    cpu_free,
    cpu_copy, /* upload */
    cpu_copy, /* download */
    cpu_copy,
    cpu_zero,
    cpu_synchronize,
    cpu_gemm,
    inc__cpu_im2col,
    inc__cpu_col2im,
    inc__cpu_swap01,
    inc__cpu_conv_out,
    inc__cpu_bias_add,
    inc__cpu_bias_grad,
    inc__cpu_relu_fwd,
    inc__cpu_relu_bwd,
    inc__cpu_axpy,
    inc__cpu_slice,
    inc__cpu_maxpool_fwd,
    inc__cpu_maxpool_bwd,
    inc__cpu_avgpool_fwd,
    inc__cpu_avgpool_bwd,
    inc__cpu_gap_fwd,
    inc__cpu_gap_bwd,
    inc__cpu_softmax_ce,
    inc__cpu_sgd,
    inc__cpu_fill,
};

void inc__cpu_describe(inc_context *ctx)
{
  int n = ctx->num_threads > 0 ? ctx->num_threads : omp_get_max_threads();
  snprintf(ctx->device_name, sizeof ctx->device_name, "CPU (%d thread%s, OpenBLAS)", n,
           n == 1 ? "" : "s");
}

inc_status inc__cpu_backend_init(inc_context *ctx)
{
  ctx->ops = &cpu_ops;
  ctx->be = NULL;
  inc__cpu_describe(ctx);
  return INC_OK;
}
