/*
 * cublas_v2.h — the emulated cuBLAS (tests only; see cudaemu.h): the calls
 * cuda/ makes, with cuBLAS's names and status numbers. cublasSgemm and
 * cublasSgemmStridedBatched follow the cuBLAS documentation's column-major
 * definition (cublas.cc).
 */
#ifndef CUDAEMU_CUBLAS_V2_H
#define CUDAEMU_CUBLAS_V2_H

#include "cuda_runtime.h"

typedef enum {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_ALLOC_FAILED = 3,
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_ARCH_MISMATCH = 8,
  CUBLAS_STATUS_MAPPING_ERROR = 11,
  CUBLAS_STATUS_EXECUTION_FAILED = 13,
  CUBLAS_STATUS_INTERNAL_ERROR = 14,
  CUBLAS_STATUS_NOT_SUPPORTED = 15,
  CUBLAS_STATUS_LICENSE_ERROR = 16
} cublasStatus_t;

typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 } cublasOperation_t;

typedef enum {
  CUBLAS_DEFAULT_MATH = 0,
  CUBLAS_TENSOR_OP_MATH = 1,
  CUBLAS_PEDANTIC_MATH = 2,
  CUBLAS_TF32_TENSOR_OP_MATH = 3
} cublasMath_t;

typedef struct cublasContext *cublasHandle_t;

extern "C" {
CUDAEMU_API cublasStatus_t cublasCreate(cublasHandle_t *handle);
CUDAEMU_API cublasStatus_t cublasDestroy(cublasHandle_t handle);
CUDAEMU_API cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream);
CUDAEMU_API cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode);
CUDAEMU_API cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                                       cublasOperation_t transb, int m, int n, int k,
                                       const float *alpha, const float *A, int lda,
                                       const float *B, int ldb, const float *beta, float *C,
                                       int ldc);
CUDAEMU_API cublasStatus_t cublasSgemmStridedBatched(
    cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
    const float *alpha, const float *A, int lda, long long strideA, const float *B, int ldb,
    long long strideB, const float *beta, float *C, int ldc, long long strideC, int batchCount);
CUDAEMU_API const char *cublasGetStatusString(cublasStatus_t status);
CUDAEMU_API const char *cublasGetStatusName(cublasStatus_t status);
}

#endif /* CUDAEMU_CUBLAS_V2_H */
