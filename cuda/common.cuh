/*
 * common.cuh — what every file of the CUDA backend shares: the backend
 * state behind ctx->be, error checking that returns (never exits), the
 * grid-stride launch shape, and the declarations of the ops, generated from
 * the op registry (src/ops.h), that cuda/backend.cu gathers into the
 * backend table.
 *
 * Error rule. Every CUDA and cuBLAS call is checked. An allocation failure
 * is INC_ERR_OUT_OF_MEMORY; any other failure is INC_ERR_DEVICE with the
 * op's name and CUDA's own text in the context's message. The errors that
 * leave the device context unusable for the rest of the process (illegal
 * address, launch failure, ...: "sticky" errors) latch INC_ERR_DEVICE_LOST
 * on the context, so every later call on it fails fast with that status.
 * Kernel faults are asynchronous: they surface at the next synchronizing
 * call (download, synchronize, softmax_ce), which then reports them.
 *
 * Launch rule. Element-wise kernels are grid-stride loops over an int64
 * index, each iteration calling the INC_HD body of src/kernels.h that the
 * CPU backend calls in its loop; the grid is capped at a few waves of the
 * device's multiprocessors, so one launch shape serves every size.
 * Everything runs on the context's own non-blocking stream. Kernels are
 * launched through INC_CUDA_LAUNCH / INC_CUDA_LAUNCH_COOP, never with a
 * bare <<<>>>, so that the same files also build as host C++ against the
 * emulated runtime of tests/cudaemu/ (see the macros below).
 */
#ifndef INC_CUDA_COMMON_CUH
#define INC_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <cublas_v2.h>

#include "internal.h"

/* Threads per block of every kernel. The shared-memory reductions
 * (bias_grad in im2col.cu, the loss sum in loss.cu) size their arrays by
 * it and halve it down to one, so it must be a power of two. */
#define INC_CUDA_THREADS 256
static_assert(INC_CUDA_THREADS >= 32 && INC_CUDA_THREADS <= 1024 &&
                  (INC_CUDA_THREADS & (INC_CUDA_THREADS - 1)) == 0,
              "INC_CUDA_THREADS must be a power of two in [32, 1024]");

/* Kernel launches: k over `grid` blocks of `block` threads on `stream`,
 * with k's arguments after. INC_CUDA_LAUNCH is for kernels whose threads
 * are independent (the grid-stride ones); INC_CUDA_LAUNCH_COOP for kernels
 * whose threads share __shared__ memory and meet at __syncthreads. Under
 * nvcc both are k<<<grid, block, 0, stream>>>(...). Built as host C++
 * against the emulated runtime (tests/cudaemu/), they queue the kernel on
 * the emulated stream, which runs it on the CPU: a block's threads one
 * after another, or, for COOP, as real threads meeting at a barrier (and
 * a __syncthreads in a kernel launched without COOP is reported there). */
#ifdef __CUDACC__
#define INC_CUDA_LAUNCH(k, grid, block, stream, ...)                                   \
  k<<<(grid), (block), 0, (stream)>>>(__VA_ARGS__)
#define INC_CUDA_LAUNCH_COOP(k, grid, block, stream, ...)                              \
  k<<<(grid), (block), 0, (stream)>>>(__VA_ARGS__)
#else
#define INC_CUDA_LAUNCH(k, grid, block, stream, ...)                                   \
  cudaemu_launch(#k, k, false, (grid), (block), (stream), __VA_ARGS__)
#define INC_CUDA_LAUNCH_COOP(k, grid, block, stream, ...)                              \
  cudaemu_launch(#k, k, true, (grid), (block), (stream), __VA_ARGS__)
#endif

/* cuBLAS's entry points, opened at run time (cuda/cublas.cu). */
typedef struct inc__cublas_api {
  cublasStatus_t (*create)(cublasHandle_t *handle);
  cublasStatus_t (*destroy)(cublasHandle_t handle);
  cublasStatus_t (*set_stream)(cublasHandle_t handle, cudaStream_t stream);
  cublasStatus_t (*set_math_mode)(cublasHandle_t handle, cublasMath_t mode);
  cublasStatus_t (*sgemm)(cublasHandle_t handle, cublasOperation_t transa,
                          cublasOperation_t transb, int m, int n, int k, const float *alpha,
                          const float *A, int lda, const float *B, int ldb, const float *beta,
                          float *C, int ldc);
  /* the same for batchCount items, item i at A + i strideA, B + i strideB, C + i strideC */
  cublasStatus_t (*sgemm_strided_batched)(cublasHandle_t handle, cublasOperation_t transa,
                                          cublasOperation_t transb, int m, int n, int k,
                                          const float *alpha, const float *A, int lda,
                                          long long strideA, const float *B, int ldb,
                                          long long strideB, const float *beta, float *C,
                                          int ldc, long long strideC, int batchCount);
  const char *(*status_string)(cublasStatus_t status);
  const char *(*status_name)(cublasStatus_t status);
} inc__cublas_api;

/* Opens cuBLAS once per process (thread-safe): its table, or NULL with the
 * reason in why (cap bytes). */
const inc__cublas_api *inc__cublas_load(char *why, size_t cap);

/* The backend state that ctx->be points to. Scratch memory grows to the
 * largest request and is then reused, so a steady-state training step makes
 * no cudaMalloc. */
typedef struct inc__cuda {
  int device;             /* CUDA device ordinal                            */
  int sm_count;           /* multiprocessors, for the grid cap              */
  cudaStream_t stream;    /* every op of the context runs on this stream    */
  const inc__cublas_api *cublas; /* cuBLAS's entry points                   */
  cublasHandle_t blas;    /* bound to stream                                */
  void *scratch;          /* device scratch (loss labels, per-row results)  */
  size_t scratch_bytes;
  void *host;             /* pinned host scratch for results (HOST_BYTES)    */
} inc__cuda;

#define INC_CUDA_HOST_BYTES 64

static inline inc__cuda *inc__cuda_be(const inc_context *ctx) { return (inc__cuda *)ctx->be; }

/* ---- life cycle (cuda/backend.cu), reached through cuda/module.cu ---- */

/* 1 if a usable device is present; else 0 with the reason in why. */
int inc__cuda_probe(char *why, size_t cap);
/* The backend constructor (see inc__module in src/module.h). */
inc_status inc__cuda_init(inc_context *ctx);

/* ---- errors (cuda/backend.cu) ---- */

/* Turns a failed CUDA call of op `op` into a status and a message (see the
 * error rule above). Returns INC_OK for cudaSuccess. Also clears CUDA's
 * last-error slot, so a later launch check does not see a stale error. */
inc_status inc__cuda_fail(inc_context *ctx, cudaError_t e, const char *op);
/* The same for a cuBLAS status; a sticky CUDA error behind it is latched. */
inc_status inc__cublas_fail(inc_context *ctx, cublasStatus_t st, const char *op);
/* Checks the launch just made (cudaGetLastError). */
inc_status inc__cuda_launched(inc_context *ctx, const char *op);
/* Makes the context's device current in the calling thread (contexts may
 * move between host threads; the current device is per thread). */
inc_status inc__cuda_enter(inc_context *ctx, const char *op);
/* Grows the device scratch buffer to at least bytes (synchronizes when it
 * has to grow: the old buffer may still be in use on the stream). */
inc_status inc__cuda_scratch(inc_context *ctx, size_t bytes, void **out, const char *op);

#define INC_CUDA_TRY(ctx, call, op)                                  \
  do {                                                               \
    cudaError_t inc_e_ = (call);                                     \
    if (inc_e_ != cudaSuccess) return inc__cuda_fail((ctx), inc_e_, (op)); \
  } while (0)

#define INC_CUBLAS_TRY(ctx, call, op)                                \
  do {                                                               \
    cublasStatus_t inc_st_ = (call);                                 \
    if (inc_st_ != CUBLAS_STATUS_SUCCESS) return inc__cublas_fail((ctx), inc_st_, (op)); \
  } while (0)

/* Opens an op: makes the device current or returns the error. */
#define INC_CUDA_ENTER(ctx, op)                                      \
  do {                                                               \
    inc_status inc_s_ = inc__cuda_enter((ctx), (op));                \
    if (inc_s_ != INC_OK) return inc_s_;                             \
  } while (0)

/* ---- launch shape ---- */

/* The grid-stride loop over [0, count) with an int64 index. */
#define INC_CUDA_FOR(i, count)                                                       \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (count);      \
       i += (int64_t)blockDim.x * gridDim.x)

/* Blocks for a grid-stride launch over count elements: enough to cover them,
 * capped at 32 blocks per multiprocessor (the loop covers the rest). */
static inline unsigned inc__cuda_blocks(const inc_context *ctx, int64_t count)
{
  int64_t blocks = (count + INC_CUDA_THREADS - 1) / INC_CUDA_THREADS;
  int64_t cap = (int64_t)inc__cuda_be(ctx)->sm_count * 32;
  if (cap < 1) cap = 1;
  return (unsigned)(blocks < cap ? blocks : cap);
}

/* ---- the ops of the registry (src/ops.h), one file per family ---- */

/* inc_status inc__cuda_<op>(params), defined in gemm.cu, im2col.cu,
 * winograd.cu, elementwise.cu, concat.cu, pool.cu, loss.cu, sgd.cu, fill.cu and gathered
 * by name into the table of backend.cu. A definition whose parameters
 * differ from the registry's is, to C++, an overload nobody calls: the
 * module then fails to link (--no-undefined) for want of the declared one. */
#define INC__CUDA_OP(op, params, args, prof) inc_status inc__cuda_##op params;
INC__OPS(INC__CUDA_OP)
#undef INC__CUDA_OP

#endif /* INC_CUDA_COMMON_CUH */
