/*
 * gemm.cu — the backend's one dense-algebra op, row-major SGEMM, on cuBLAS.
 *
 * The library stores every matrix row-major; cuBLAS reads column-major. A
 * row-major (r, s) matrix with leading dimension s is, byte for byte, the
 * column-major (s, r) matrix, i.e. its transpose. So
 *
 *     C (m, n) = op(A) (m, k) * op(B) (k, n)          row-major
 * is  C^T (n, m) = op(B)^T (n, k) * op(A)^T (k, m)    column-major,
 *
 * which is one cublasSgemm with the operands swapped: first B with cuBLAS
 * op = trans_b, then A with op = trans_a, dimensions (n, m, k), and each
 * leading dimension the stored row length: ldb = trans_b ? k : n,
 * lda = trans_a ? m : k, ldc = n. No data is ever transposed.
 *
 * The handle keeps CUBLAS_DEFAULT_MATH (true FP32, no TF32 tensor cores),
 * so results stay within float rounding of the CPU backend's OpenBLAS.
 */
#include <limits.h>
#include "common.cuh"

inc_status inc__cuda_gemm(float *c, const float *a, const float *b, int trans_a, int trans_b,
                          int64_t m, int64_t n, int64_t k, float alpha, float beta,
                          inc_context *ctx)
{
  /* c (m, n) = alpha * op(a) (m, k) * op(b) (k, n) + beta * c, row-major */
  static const char op[] = "gemm";
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
    return inc__error(ctx, INC_ERR_SHAPE, "CUDA gemm: dims %lld x %lld x %lld exceed cuBLAS int",
                      (long long)m, (long long)n, (long long)k);
  if (m <= 0 || n <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  inc__cuda *be = inc__cuda_be(ctx);
  int ldb = trans_b ? (int)k : (int)n;
  int lda = trans_a ? (int)m : (int)k;
  if (lda < 1) lda = 1;
  if (ldb < 1) ldb = 1;
  INC_CUBLAS_TRY(ctx,
                 be->cublas->sgemm(be->blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                   trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int)n, (int)m, (int)k,
                                   &alpha, b, ldb, a, lda, &beta, c, (int)n),
                 op);
  return INC_OK;
}
