/*
 * cublas.cc — the emulated cuBLAS: handles, SGEMM and strided-batched
 * SGEMM (tests only; see cudaemu.h).
 *
 * cublasSgemm and cublasSgemmStridedBatched are written from the cuBLAS
 * documentation alone, column-major as cuBLAS defines it, and know nothing
 * of the backend's row-major mapping (cuda/gemm.cu), so a mistake in that
 * mapping shows as a wrong product here, not as the same mistake made
 * twice:
 *
 *     C = alpha * op(A) * op(B) + beta * C,   C m x n, op(A) m x k, op(B) k x n,
 *     element (i, j) of a matrix X with leading dimension ldx at X[i + j*ldx],
 *     op(X) = X for CUBLAS_OP_N, X^T for CUBLAS_OP_T (and OP_C, real data);
 *
 * with the documented checks: m, n, k >= 0, lda >= max(1, m) for OP_N
 * (max(1, k) otherwise), ldb >= max(1, k) for OP_N (max(1, n) otherwise),
 * ldc >= max(1, m), else CUBLAS_STATUS_INVALID_VALUE; C untouched when m or
 * n is 0; C not read when beta is 0; A and B not read when alpha is 0 or k
 * is 0. alpha and beta are host pointers (the default pointer mode), read
 * at the call. The product runs on the handle's stream, accumulated in
 * double: a reference, not a rival of the real thing's speed.
 *
 * The strided batch is that product for i < batchCount on the matrices at
 * A + i*strideA, B + i*strideB, C + i*strideC (strides in elements, long
 * long), with the same checks and batchCount < 0 invalid too; nothing
 * happens when batchCount is 0. Every item's A, B and C must be device
 * ranges. Items run concurrently on a GPU, so items of C that share memory
 * (|strideC| below one C matrix's span, with more than one item) are
 * reported as misuse: stricter than cuBLAS states (C matrices that
 * interleave inside each other's leading-dimension gaps are not told
 * apart), and never what the backend asks.
 */
#include <stdio.h>
#include <set>
#include "cublas_v2.h"
#include "emu.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

using namespace cudaemu;

namespace {

std::set<cublasContext *> &handles()
{
  static std::set<cublasContext *> *h = new std::set<cublasContext *>;
  return *h;
}

bool live(cublasHandle_t h, const char *who)
{
  if (h && handles().count(h)) return true;
  violation("%s: %p is not a live cuBLAS handle", who, (void *)h);
  return false;
}

/* The floats a (rows x cols, leading dimension ld) matrix spans. */
size_t span(int rows, int cols, int ld)
{
  return rows == 0 || cols == 0 ? 0 : (size_t)ld * (size_t)(cols - 1) + (size_t)rows;
}

/* Whether item i of a matrix of the call `who` lies in device memory. */
bool matrix_ok(const char *who, const char *name, const float *x, int rows, int cols, int ld,
               int item)
{
  size_t elems = span(rows, cols, ld);
  if (elems == 0 || is_device(x, elems * sizeof(float))) return true;
  violation("%s: %s (item %d: %p, %d x %d, ld %d) is not a device range of %zu floats", who,
            name, item, (const void *)x, rows, cols, ld, elems);
  return false;
}

void sgemm_ref(bool ta, bool tb, int m, int n, int k, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc)
{
  for (int j = 0; j < n; j++)
    for (int i = 0; i < m; i++) {
      double acc = 0.0;
      if (alpha != 0.0f)
        for (int l = 0; l < k; l++) {
          float a = ta ? A[l + (size_t)i * lda] : A[i + (size_t)l * lda]; /* op(A)(i, l) */
          float b = tb ? B[j + (size_t)l * ldb] : B[l + (size_t)j * ldb]; /* op(B)(l, j) */
          acc += (double)a * (double)b;
        }
      double r = (double)alpha * acc;
      float &c = C[i + (size_t)j * ldc];
      if (beta != 0.0f) r += (double)beta * (double)c;
      c = (float)r;
    }
}

} // namespace

void cudaemu::free_handles()
{
  for (cublasContext *h : handles()) delete h;
  handles().clear();
}

long cudaemu::report_handles()
{
  for (cublasContext *h : handles())
    fprintf(stderr, "cudaemu: LEAK: cuBLAS handle %p\n", (void *)h);
  return (long)handles().size();
}

extern "C" {

cublasStatus_t cublasCreate(cublasHandle_t *handle)
{
  std::lock_guard<std::recursive_mutex> g(lock());
  call c = enter(CUDAEMU_CALL_ALLOC);
  if (c.sticky) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
  if (c.inject) {
    if (c.make_sticky) set_sticky((cudaError_t)c.error);
    return CUBLAS_STATUS_ALLOC_FAILED;
  }
  cublasContext *h = new cublasContext;
  handles().insert(h);
  *handle = h;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle)
{
  std::lock_guard<std::recursive_mutex> g(lock());
  (void)enter(CUDAEMU_CALL_OTHER);
  if (!live(handle, "cublasDestroy")) return CUBLAS_STATUS_NOT_INITIALIZED;
  handles().erase(handle);
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream)
{
  std::lock_guard<std::recursive_mutex> g(lock());
  (void)enter(CUDAEMU_CALL_OTHER);
  if (!live(handle, "cublasSetStream")) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!stream_of(stream, "cublasSetStream")) return CUBLAS_STATUS_INVALID_VALUE;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)
{
  std::lock_guard<std::recursive_mutex> g(lock());
  (void)enter(CUDAEMU_CALL_OTHER);
  if (!live(handle, "cublasSetMathMode")) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode < CUBLAS_DEFAULT_MATH || mode > CUBLAS_TF32_TENSOR_OP_MATH)
    return CUBLAS_STATUS_INVALID_VALUE;
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}

} // extern "C"

namespace {

/* One SGEMM-family call (who: its name): batch items, item i the product
 * on A + i*sa, B + i*sb, C + i*sc; cublasSgemm is one item. */
cublasStatus_t sgemm_call(const char *who, cublasHandle_t handle, cublasOperation_t transa,
                          cublasOperation_t transb, int m, int n, int k, const float *alpha,
                          const float *A, int lda, long long sa, const float *B, int ldb,
                          long long sb, const float *beta, float *C, int ldc, long long sc,
                          int batch)
{
  std::lock_guard<std::recursive_mutex> g(lock());
  call c = enter(CUDAEMU_CALL_BLAS);
  if (!live(handle, who)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (c.sticky) return CUBLAS_STATUS_EXECUTION_FAILED; /* its kernel cannot launch */
  if (c.inject) {
    if (c.make_sticky) set_sticky((cudaError_t)c.error);
    return (cublasStatus_t)c.blas_status;
  }
  auto op_ok = [](cublasOperation_t t) { return t >= CUBLAS_OP_N && t <= CUBLAS_OP_C; };
  const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N;
  auto max1 = [](int v) { return v > 1 ? v : 1; };
  if (!op_ok(transa) || !op_ok(transb) || m < 0 || n < 0 || k < 0 || batch < 0 ||
      lda < max1(ta ? k : m) || ldb < max1(tb ? n : k) || ldc < max1(m) || !alpha || !beta)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
  if (is_device(alpha, 0) || is_device(beta, 0)) {
    violation("%s: alpha or beta is a device pointer, but the pointer mode is host", who);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  const float a = *alpha, b = *beta;
  const bool reads_ab = a != 0.0f && k > 0;
  for (int i = 0; i < batch; i++)
    if ((reads_ab && (!matrix_ok(who, "A", A + i * sa, ta ? k : m, ta ? m : k, lda, i) ||
                      !matrix_ok(who, "B", B + i * sb, tb ? n : k, tb ? k : n, ldb, i))) ||
        !matrix_ok(who, "C", C + i * sc, m, n, ldc, i))
      return CUBLAS_STATUS_INVALID_VALUE;
  const size_t c_span = span(m, n, ldc);
  if (batch > 1 && (size_t)(sc < 0 ? -sc : sc) < c_span) {
    violation("%s: the %d items of C (%zu floats each) overlap at strideC %lld", who, batch,
              c_span, sc);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  CUstream_st *q = stream_of(handle->stream, who);
  if (!q) return CUBLAS_STATUS_INVALID_VALUE;
  enqueue(q, who, [=] {
    for (int i = 0; i < batch; i++)
      sgemm_ref(ta, tb, m, n, k, a, A + i * sa, lda, B + i * sb, ldb, b, C + i * sc, ldc);
    return cudaSuccess;
  });
  return CUBLAS_STATUS_SUCCESS;
}

} // namespace

extern "C" {

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float *alpha,
                           const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc)
{
  return sgemm_call("cublasSgemm", handle, transa, transb, m, n, k, alpha, A, lda, 0, B, ldb, 0,
                    beta, C, ldc, 0, 1);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
                                         cublasOperation_t transb, int m, int n, int k,
                                         const float *alpha, const float *A, int lda,
                                         long long strideA, const float *B, int ldb,
                                         long long strideB, const float *beta, float *C,
                                         int ldc, long long strideC, int batchCount)
{
  return sgemm_call("cublasSgemmStridedBatched", handle, transa, transb, m, n, k, alpha, A, lda,
                    strideA, B, ldb, strideB, beta, C, ldc, strideC, batchCount);
}

const char *cublasGetStatusName(cublasStatus_t status)
{
  switch (status) {
#define EMU_NAME(x) \
  case x: return #x;
    EMU_NAME(CUBLAS_STATUS_SUCCESS)
    EMU_NAME(CUBLAS_STATUS_NOT_INITIALIZED)
    EMU_NAME(CUBLAS_STATUS_ALLOC_FAILED)
    EMU_NAME(CUBLAS_STATUS_INVALID_VALUE)
    EMU_NAME(CUBLAS_STATUS_ARCH_MISMATCH)
    EMU_NAME(CUBLAS_STATUS_MAPPING_ERROR)
    EMU_NAME(CUBLAS_STATUS_EXECUTION_FAILED)
    EMU_NAME(CUBLAS_STATUS_INTERNAL_ERROR)
    EMU_NAME(CUBLAS_STATUS_NOT_SUPPORTED)
    EMU_NAME(CUBLAS_STATUS_LICENSE_ERROR)
#undef EMU_NAME
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

const char *cublasGetStatusString(cublasStatus_t status)
{
  switch (status) {
  case CUBLAS_STATUS_SUCCESS: return "success";
  case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
  case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
  case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
  case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
  default: return cublasGetStatusName(status);
  }
}

CUDAEMU_API long cudaemu_live_handles(void)
{
  std::lock_guard<std::recursive_mutex> g(lock());
  return (long)handles().size();
}

} // extern "C"
