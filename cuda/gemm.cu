/*
 * gemm.cu — the backend's dense-algebra ops, row-major SGEMM and a strided
 * batch of them, on cuBLAS.
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
 * lda = trans_a ? m : k, ldc = n. No data is ever transposed. A batch is
 * the same mapping for every item, cublasSgemmStridedBatched with the
 * strides swapped along with their operands: one call, one launch.
 *
 * The handle keeps CUBLAS_DEFAULT_MATH (true FP32, no TF32 tensor cores),
 * so results stay within float rounding of the CPU backend's OpenBLAS.
 */
#include <limits.h>
#include "common.cuh"

namespace {

/* The column-major call of a row-major product (above). */
struct swapped {
  cublasOperation_t op_b, op_a;
  int ldb, lda;
};

swapped swap_operands(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k)
{
  swapped s;
  s.op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  s.op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  s.ldb = trans_b ? (int)k : (int)n;
  s.lda = trans_a ? (int)m : (int)k;
  if (s.lda < 1) s.lda = 1;
  if (s.ldb < 1) s.ldb = 1;
  return s;
}

} // namespace

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
  const swapped s = swap_operands(trans_a, trans_b, m, n, k);
  INC_CUBLAS_TRY(ctx,
                 be->cublas->sgemm(be->blas, s.op_b, s.op_a, (int)n, (int)m, (int)k, &alpha, b,
                                   s.ldb, a, s.lda, &beta, c, (int)n),
                 op);
  return INC_OK;
}

inc_status inc__cuda_gemm_batched(float *c, const float *a, const float *b, int trans_a,
                                  int trans_b, int64_t m, int64_t n, int64_t k, int64_t batch,
                                  int64_t stride_c, int64_t stride_a, int64_t stride_b,
                                  float alpha, float beta, inc_context *ctx)
{
  /* c_i (m, n) = alpha * op(a_i) (m, k) * op(b_i) (k, n) + beta * c_i, i < batch */
  static const char op[] = "gemm_batched";
  inc_status st = inc__gemm_batched_check(ctx, "CUDA", m, n, k, batch, stride_c, stride_a,
                                          stride_b);
  if (st != INC_OK || m == 0 || n == 0 || batch == 0) return st;
  INC_CUDA_ENTER(ctx, op);
  inc__cuda *be = inc__cuda_be(ctx);
  const swapped s = swap_operands(trans_a, trans_b, m, n, k);
  INC_CUBLAS_TRY(ctx,
                 be->cublas->sgemm_strided_batched(be->blas, s.op_b, s.op_a, (int)n, (int)m,
                                                   (int)k, &alpha, b, s.ldb, stride_b, a, s.lda,
                                                   stride_a, &beta, c, (int)n, stride_c,
                                                   (int)batch),
                 op);
  return INC_OK;
}
