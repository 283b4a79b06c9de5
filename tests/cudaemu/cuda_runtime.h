/*
 * cuda_runtime.h — the emulated CUDA runtime's API, for the CUDA backend's
 * sources built as host C++ (tests only; see cudaemu.h).
 *
 * Only what cuda/ uses is here, with CUDA's own names, types and error
 * numbers, so the backend compiles unchanged. The device side: __global__
 * and friends are empty, __shared__ is a static (blocks of a launch run one
 * at a time, and launches one at a time, so a static is per block), and
 * threadIdx/blockIdx/blockDim/gridDim are the emulator's thread-locals.
 * Kernels are launched with cudaemu_launch (what cuda/common.cuh's
 * INC_CUDA_LAUNCH expands to without nvcc): the arguments are copied as a
 * real launch copies them and the kernel is queued on its stream.
 */
#ifndef CUDAEMU_CUDA_RUNTIME_H
#define CUDAEMU_CUDA_RUNTIME_H

#ifndef __cplusplus
#error "the emulated CUDA runtime is for the cuda/ sources built as C++"
#endif

#include <stddef.h>
#include <stdint.h>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>
#include "cudaemu.h"

#define CUDAEMU_API __attribute__((visibility("default")))

/* ---- types ---------------------------------------------------------------- */

enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorECCUncorrectable = 214,
  cudaErrorNvlinkUncorrectable = 220,
  cudaErrorContained = 226,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorLaunchTimeout = 702,
  cudaErrorAssert = 710,
  cudaErrorHardwareStackError = 714,
  cudaErrorIllegalInstruction = 715,
  cudaErrorMisalignedAddress = 716,
  cudaErrorInvalidAddressSpace = 717,
  cudaErrorInvalidPc = 718,
  cudaErrorLaunchFailure = 719,
  cudaErrorExternalDevice = 911,
  cudaErrorUnknown = 999
};
typedef enum cudaError cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};

enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16, cudaDevAttrComputeCapabilityMajor = 75 };

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01

typedef struct CUstream_st *cudaStream_t;

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  int major, minor;
  int multiProcessorCount;
  int maxThreadsPerBlock;
};

/* ---- the device side ---------------------------------------------------------- */

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

namespace cudaemu {
extern CUDAEMU_API thread_local uint3 thread_idx, block_idx;
extern CUDAEMU_API thread_local dim3 block_dim, grid_dim;
CUDAEMU_API void syncthreads();

/* A kernel's pointer argument, checked when the kernel runs. */
struct ptr_arg {
  int index;
  const void *p;
};
CUDAEMU_API void submit_kernel(const char *name, bool coop, dim3 grid, dim3 block,
                               cudaStream_t stream, std::vector<ptr_arg> ptrs,
                               std::function<void()> body);

template <typename T> void note_ptr(std::vector<ptr_arg> &out, int i, const T &v)
{
  if constexpr (std::is_pointer<T>::value)
    if (v) out.push_back(ptr_arg{i, (const void *)v});
}
template <typename Tuple, size_t... I>
void note_ptrs(std::vector<ptr_arg> &out, const Tuple &t, std::index_sequence<I...>)
{
  (note_ptr(out, (int)I, std::get<I>(t)), ...);
}
} // namespace cudaemu

#define threadIdx (cudaemu::thread_idx)
#define blockIdx (cudaemu::block_idx)
#define blockDim (cudaemu::block_dim)
#define gridDim (cudaemu::grid_dim)
#define __syncthreads() cudaemu::syncthreads()

/* k<<<grid, block, 0, stream>>>(args...): the arguments converted to the
 * kernel's parameter types and copied, as a real launch does. */
template <typename... P, typename... A>
void cudaemu_launch(const char *name, void (*k)(P...), bool coop, dim3 grid, dim3 block,
                    cudaStream_t stream, A &&...args)
{
  static_assert(sizeof...(P) == sizeof...(A), "kernel argument count");
  std::tuple<typename std::decay<P>::type...> params(static_cast<P>(args)...);
  std::vector<cudaemu::ptr_arg> ptrs;
  cudaemu::note_ptrs(ptrs, params, std::index_sequence_for<P...>{});
  cudaemu::submit_kernel(name, coop, grid, block, stream, std::move(ptrs),
                         [k, params]() { std::apply(k, params); });
}

/* ---- the host API ----------------------------------------------------------------- */

extern "C" {
CUDAEMU_API cudaError_t cudaGetDeviceCount(int *count);
CUDAEMU_API cudaError_t cudaGetDevice(int *device);
CUDAEMU_API cudaError_t cudaSetDevice(int device);
CUDAEMU_API cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device);
CUDAEMU_API cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device);
CUDAEMU_API cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
CUDAEMU_API cudaError_t cudaDeviceSynchronize(void);

CUDAEMU_API cudaError_t cudaMalloc(void **p, size_t bytes);
CUDAEMU_API cudaError_t cudaFree(void *p);
CUDAEMU_API cudaError_t cudaMallocHost(void **p, size_t bytes);
CUDAEMU_API cudaError_t cudaFreeHost(void *p);
CUDAEMU_API cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
CUDAEMU_API cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes,
                                        cudaMemcpyKind kind, cudaStream_t stream);
CUDAEMU_API cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t stream);

CUDAEMU_API cudaError_t cudaStreamCreate(cudaStream_t *stream);
CUDAEMU_API cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned flags);
CUDAEMU_API cudaError_t cudaStreamDestroy(cudaStream_t stream);
CUDAEMU_API cudaError_t cudaStreamSynchronize(cudaStream_t stream);
CUDAEMU_API cudaError_t cudaStreamQuery(cudaStream_t stream);

CUDAEMU_API cudaError_t cudaGetLastError(void);
CUDAEMU_API cudaError_t cudaPeekAtLastError(void);
CUDAEMU_API const char *cudaGetErrorString(cudaError_t e);
CUDAEMU_API const char *cudaGetErrorName(cudaError_t e);
}

#endif /* CUDAEMU_CUDA_RUNTIME_H */
