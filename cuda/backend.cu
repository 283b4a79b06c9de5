/*
 * backend.cu — the CUDA backend's life cycle, memory and error handling,
 * and the table that gathers, by name, the ops of the other files in cuda/.
 *
 * A CUDA context owns one non-blocking stream (so it never serialises
 * against the legacy default stream or against other contexts), one cuBLAS
 * handle bound to that stream, a device scratch buffer that grows and is
 * reused (loss labels and per-row results), and a small pinned host buffer
 * for the scalars the loss returns. Every op is queued on the stream;
 * calls that hand data to the host (download, softmax_ce, synchronize)
 * wait for it, and upload waits too, so the caller may reuse its buffer
 * whatever kind of memory it is.
 *
 * Usability: a process can use the backend when the CUDA runtime finds a
 * driver and at least one device of compute capability 8.0 or newer (the
 * library carries sm_80 and sm_90 code plus compute_90 PTX). Nothing is
 * cached in globals: the library has no mutable global state, and the CUDA
 * runtime already makes repeated queries cheap.
 */
#include <stdio.h>
#include <string.h>
#include "common.cuh"

/* ---- errors ------------------------------------------------------------ */

/* Errors that CUDA documents as leaving the process's CUDA state unusable
 * ("any further CUDA work will return the same error"). */
static int inc__cuda_known_sticky(cudaError_t e)
{
  switch (e) {
  case cudaErrorECCUncorrectable:
  case cudaErrorNvlinkUncorrectable:
  case cudaErrorContained:
  case cudaErrorIllegalAddress:
  case cudaErrorLaunchTimeout:
  case cudaErrorAssert:
  case cudaErrorHardwareStackError:
  case cudaErrorIllegalInstruction:
  case cudaErrorMisalignedAddress:
  case cudaErrorInvalidAddressSpace:
  case cudaErrorInvalidPc:
  case cudaErrorLaunchFailure:
  case cudaErrorExternalDevice:
    return 1;
  default:
    return 0;
  }
}

/* Whether the failure e left CUDA unusable. The list above is not the
 * whole story (a lost device reports cudaErrorUnknown, say, and new
 * versions add codes), so anything else is tested: clear the error slot
 * and ask the stream again. A passing error (a bad argument, an allocation
 * that did not fit) leaves that query answering success or not-ready; a
 * sticky one answers with an error again. */
static int inc__cuda_sticky(const inc_context *ctx, cudaError_t e)
{
  if (e == cudaSuccess || e == cudaErrorNotReady || e == cudaErrorMemoryAllocation) return 0;
  if (inc__cuda_known_sticky(e)) return 1;
  const inc__cuda *be = inc__cuda_be(ctx);
  (void)cudaGetLastError();
  cudaError_t again = cudaStreamQuery(be && be->stream ? be->stream : (cudaStream_t)0);
  (void)cudaGetLastError();
  return again != cudaSuccess && again != cudaErrorNotReady;
}

inc_status inc__cuda_fail(inc_context *ctx, cudaError_t e, const char *op)
{
  if (e == cudaSuccess) return INC_OK;
  if (inc__cuda_sticky(ctx, e)) {
    ctx->latched = INC_ERR_DEVICE_LOST;
    return inc__error(ctx, INC_ERR_DEVICE_LOST,
                      "CUDA backend: %s: %s (%s); CUDA's state in this process is now broken: "
                      "every CUDA context of the process fails from here on, and a new one "
                      "will not help; save what you can from host memory and restart the "
                      "process",
                      op, cudaGetErrorString(e), cudaGetErrorName(e));
  }
  (void)cudaGetLastError(); /* clear the passing error */
  if (e == cudaErrorMemoryAllocation)
    return inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "CUDA backend: %s: %s", op,
                      cudaGetErrorString(e));
  return inc__error(ctx, INC_ERR_DEVICE, "CUDA backend: %s: %s (%s)", op, cudaGetErrorString(e),
                    cudaGetErrorName(e));
}

inc_status inc__cublas_fail(inc_context *ctx, cublasStatus_t st, const char *op)
{
  if (st == CUBLAS_STATUS_SUCCESS) return INC_OK;
  /* A kernel fault behind a failed cuBLAS call shows as a sticky error. */
  cudaError_t e = cudaPeekAtLastError();
  if (e == cudaSuccess) e = cudaStreamQuery(inc__cuda_be(ctx)->stream);
  if (e != cudaSuccess && e != cudaErrorNotReady && inc__cuda_sticky(ctx, e))
    return inc__cuda_fail(ctx, e, op);
  (void)cudaGetLastError();
  const inc__cublas_api *api = inc__cuda_be(ctx)->cublas;
  if (st == CUBLAS_STATUS_ALLOC_FAILED)
    return inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "CUDA backend: %s: cuBLAS: %s", op,
                      api->status_string(st));
  return inc__error(ctx, INC_ERR_DEVICE, "CUDA backend: %s: cuBLAS: %s (%s)", op,
                    api->status_string(st), api->status_name(st));
}

inc_status inc__cuda_launched(inc_context *ctx, const char *op)
{
  cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? INC_OK : inc__cuda_fail(ctx, e, op);
}

inc_status inc__cuda_enter(inc_context *ctx, const char *op)
{
  const inc__cuda *be = inc__cuda_be(ctx);
  int cur = -1;
  INC_CUDA_TRY(ctx, cudaGetDevice(&cur), op);
  if (cur != be->device) INC_CUDA_TRY(ctx, cudaSetDevice(be->device), op);
  return INC_OK;
}

inc_status inc__cuda_scratch(inc_context *ctx, size_t bytes, void **out, const char *op)
{
  inc__cuda *be = inc__cuda_be(ctx);
  if (be->scratch && be->scratch_bytes >= bytes) {
    *out = be->scratch;
    return INC_OK;
  }
  size_t want = bytes < 4096 ? 4096 : bytes + bytes / 2;
  if (inc__fault_should_fail())
    return inc__error(ctx, INC_ERR_OUT_OF_MEMORY,
                      "CUDA backend: %s: cannot grow scratch to %zu bytes (injected failure)", op,
                      want);
  /* The old buffer may still be read by queued work. */
  INC_CUDA_TRY(ctx, cudaStreamSynchronize(be->stream), op);
  void *p = NULL;
  INC_CUDA_TRY(ctx, cudaMalloc(&p, want), op);
  if (be->scratch) {
    cudaError_t e = cudaFree(be->scratch);
    be->scratch = NULL;
    be->scratch_bytes = 0;
    if (e != cudaSuccess) {
      (void)cudaFree(p);
      return inc__cuda_fail(ctx, e, op);
    }
  }
  be->scratch = p;
  be->scratch_bytes = want;
  *out = p;
  return INC_OK;
}

/* ---- life cycle --------------------------------------------------------- */

/* Frees whatever part of the state exists; errors are ignored (there is no
 * one to tell), except that a sticky one latches the context. */
static void inc__cuda_release(inc_context *ctx, inc__cuda *be)
{
  if (!be) return;
  (void)cudaSetDevice(be->device);
  if (be->stream) {
    cudaError_t e = cudaStreamSynchronize(be->stream);
    if (inc__cuda_sticky(ctx, e)) ctx->latched = INC_ERR_DEVICE_LOST;
  }
  if (be->blas) (void)be->cublas->destroy(be->blas);
  if (be->scratch) (void)cudaFree(be->scratch);
  if (be->host) (void)cudaFreeHost(be->host);
  if (be->stream) (void)cudaStreamDestroy(be->stream);
  (void)cudaGetLastError();
  inc__free(be);
}

static void cuda_destroy(inc_context *ctx)
{
  inc__cuda_release(ctx, inc__cuda_be(ctx));
  ctx->be = NULL;
}

/* ---- memory ------------------------------------------------------------- */

static inc_status cuda_alloc(void **out, size_t bytes, inc_context *ctx)
{
  static const char op[] = "alloc";
  INC_CUDA_ENTER(ctx, op);
  inc__cuda *be = inc__cuda_be(ctx);
  if (inc__fault_should_fail())
    return inc__error(ctx, INC_ERR_OUT_OF_MEMORY,
                      "CUDA backend: cannot allocate %zu bytes of device memory (injected "
                      "failure)",
                      bytes);
  void *p = NULL;
  cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
  if (e == cudaErrorMemoryAllocation) {
    size_t free_b = 0, total_b = 0;
    (void)cudaGetLastError();
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) free_b = total_b = 0;
    (void)cudaGetLastError();
    return inc__error(ctx, INC_ERR_OUT_OF_MEMORY,
                      "CUDA backend: cannot allocate %zu bytes of device memory (%.2f GiB free "
                      "of %.2f GiB)",
                      bytes, (double)free_b / 1073741824.0, (double)total_b / 1073741824.0);
  }
  if (e != cudaSuccess) return inc__cuda_fail(ctx, e, op);
  /* Zero-filled, in stream order: every later use is on the same stream. */
  e = cudaMemsetAsync(p, 0, bytes ? bytes : 1, be->stream);
  if (e != cudaSuccess) {
    (void)cudaFree(p);
    return inc__cuda_fail(ctx, e, op);
  }
  *out = p;
  return INC_OK;
}

static void cuda_free(void *p, inc_context *ctx)
{
  if (!p) return;
  inc__cuda *be = inc__cuda_be(ctx);
  (void)cudaSetDevice(be->device);
  /* Queued work may still use p. */
  cudaError_t e = cudaStreamSynchronize(be->stream);
  if (inc__cuda_sticky(ctx, e)) ctx->latched = INC_ERR_DEVICE_LOST;
  e = cudaFree(p);
  if (inc__cuda_sticky(ctx, e)) ctx->latched = INC_ERR_DEVICE_LOST;
  (void)cudaGetLastError();
}

static inc_status cuda_upload(void *dst, const void *src, size_t bytes, inc_context *ctx)
{
  static const char op[] = "upload";
  if (!bytes) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  inc__cuda *be = inc__cuda_be(ctx);
  INC_CUDA_TRY(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, be->stream), op);
  /* The caller may reuse src at once, pinned or not. */
  INC_CUDA_TRY(ctx, cudaStreamSynchronize(be->stream), op);
  return INC_OK;
}

static inc_status cuda_download(void *dst, const void *src, size_t bytes, inc_context *ctx)
{
  static const char op[] = "download";
  if (!bytes) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  inc__cuda *be = inc__cuda_be(ctx);
  INC_CUDA_TRY(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, be->stream), op);
  INC_CUDA_TRY(ctx, cudaStreamSynchronize(be->stream), op);
  return INC_OK;
}

static inc_status cuda_copy(void *dst, const void *src, size_t bytes, inc_context *ctx)
{
  static const char op[] = "copy";
  if (!bytes || dst == src) return INC_OK;
  if (inc__ranges_overlap(dst, src, bytes))
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT, "CUDA backend: copy: the %zu-byte ranges "
                      "at %p and %p overlap", bytes, dst, src);
  INC_CUDA_ENTER(ctx, op);
  inc__cuda *be = inc__cuda_be(ctx);
  INC_CUDA_TRY(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, be->stream), op);
  return INC_OK;
}

static inc_status cuda_zero(void *dst, size_t bytes, inc_context *ctx)
{
  static const char op[] = "zero";
  if (!bytes) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  inc__cuda *be = inc__cuda_be(ctx);
  INC_CUDA_TRY(ctx, cudaMemsetAsync(dst, 0, bytes, be->stream), op);
  return INC_OK;
}

static inc_status cuda_synchronize(inc_context *ctx)
{
  static const char op[] = "synchronize";
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_TRY(ctx, cudaStreamSynchronize(inc__cuda_be(ctx)->stream), op);
  return INC_OK;
}

static inc_status cuda_native_stream(void **out, inc_context *ctx)
{
  INC_CUDA_ENTER(ctx, "native_stream");
  *out = (void *)inc__cuda_be(ctx)->stream;
  return INC_OK;
}

/* ---- the table ---------------------------------------------------------- */

/* Filled by name: the memory slots by hand, the ops from the registry
 * (every one, so the supports mask is the registry's). Assignments in a
 * constexpr function, as C++17 has no designated initializers: the table
 * is still a constant, built at compile time. */
static constexpr inc__backend_ops cuda_table()
{
  inc__backend_ops t{};
  t.name = "cuda";
  t.supports = INC__OPS_ALL;
  t.destroy = cuda_destroy;
  t.alloc = cuda_alloc;
  t.free = cuda_free;
  t.upload = cuda_upload;
  t.download = cuda_download;
  t.copy = cuda_copy;
  t.zero = cuda_zero;
  t.synchronize = cuda_synchronize;
  t.native_stream = cuda_native_stream;
#define CUDA_OP(op, params, args, prof) t.op = inc__cuda_##op;
  INC__OPS(CUDA_OP)
#undef CUDA_OP
  return t;
}

static constexpr inc__backend_ops cuda_ops = cuda_table();

/* ---- entry points (C linkage through backend.h) -------------------------- */

int inc__cuda_probe(char *why, size_t cap)
{
  int count = 0, major = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e == cudaSuccess && count > 0)
    e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
  (void)cudaGetLastError();
  if (e != cudaSuccess)
    snprintf(why, cap, "no usable GPU (%s)", cudaGetErrorString(e));
  else if (count <= 0)
    snprintf(why, cap, "no usable GPU (no CUDA device found)");
  else if (major < 8)
    snprintf(why, cap, "no usable GPU (device 0 is sm_%d0; this build carries code for sm_80 "
             "and newer)", major);
  else
    return 1;
  return 0;
}

inc_status inc__cuda_init(inc_context *ctx)
{
  static const char op[] = "init";
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess && inc__cuda_known_sticky(e)) return inc__cuda_fail(ctx, e, op);
  if (e != cudaSuccess || count <= 0) {
    (void)cudaGetLastError();
    return inc__error(ctx, INC_ERR_UNAVAILABLE, "CUDA backend: no usable GPU (%s)",
                      e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device found");
  }
  const int dev = 0;
  cudaDeviceProp prop;
  memset(&prop, 0, sizeof prop);
  e = cudaGetDeviceProperties(&prop, dev);
  /* Counting devices works after a sticky error; this is where a broken
   * CUDA state shows, and it must not pass for a missing GPU. */
  if (e != cudaSuccess && inc__cuda_sticky(ctx, e)) return inc__cuda_fail(ctx, e, op);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return inc__error(ctx, INC_ERR_UNAVAILABLE, "CUDA backend: no usable GPU (device %d: %s)",
                      dev, cudaGetErrorString(e));
  }
  if (prop.major < 8)
    return inc__error(ctx, INC_ERR_UNAVAILABLE,
                      "CUDA backend: no usable GPU (%.100s is sm_%d%d; this build carries code "
                      "for sm_80 and newer)",
                      prop.name, prop.major, prop.minor);

  /* Only now, with a device found, is cuBLAS worth its 500 MB. */
  char why[256];
  const inc__cublas_api *cublas = inc__cublas_load(why, sizeof why);
  if (!cublas) return inc__error(ctx, INC_ERR_UNAVAILABLE, "CUDA backend: %s", why);

  inc__cuda *be = (inc__cuda *)inc__calloc(1, sizeof *be);
  if (!be) return inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "CUDA backend: out of host memory");
  be->cublas = cublas;
  be->device = dev;
  be->sm_count = prop.multiProcessorCount > 0 ? prop.multiProcessorCount : 1;
  ctx->be = be; /* for the error helpers; undone on failure */

  inc_status s = INC_OK;
  cublasStatus_t st;
  if ((e = cudaSetDevice(dev)) != cudaSuccess ||
      (e = cudaStreamCreateWithFlags(&be->stream, cudaStreamNonBlocking)) != cudaSuccess ||
      (e = cudaMallocHost(&be->host, INC_CUDA_HOST_BYTES)) != cudaSuccess) {
    s = inc__cuda_fail(ctx, e, op);
  } else if ((st = be->cublas->create(&be->blas)) != CUBLAS_STATUS_SUCCESS ||
             (st = be->cublas->set_stream(be->blas, be->stream)) != CUBLAS_STATUS_SUCCESS ||
             /* Plain FP32 GEMMs (no TF32) so results track the CPU backend. */
             (st = be->cublas->set_math_mode(be->blas, CUBLAS_DEFAULT_MATH)) !=
                 CUBLAS_STATUS_SUCCESS) {
    s = inc__cublas_fail(ctx, st, op);
  }
  if (s != INC_OK) {
    inc__cuda_release(ctx, be);
    ctx->be = NULL;
    ctx->latched = INC_OK; /* the context is discarded by the caller */
    return s;
  }

  double gib = (double)prop.totalGlobalMem / 1073741824.0;
  snprintf(ctx->device_name, sizeof ctx->device_name, "%.80s (sm_%d%d, %.0f GiB)", prop.name,
           prop.major, prop.minor, gib);
  ctx->ops = &cuda_ops;
  return INC_OK;
}
