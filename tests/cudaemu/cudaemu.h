/*
 * cudaemu.h — the control side of the emulated CUDA runtime (tests only).
 *
 * tests/cudaemu/ is a small CUDA runtime and cuBLAS that run on the CPU,
 * so that the CUDA backend's own sources (the files of cuda/, compiled by g++ as
 * host C++ against the headers here) execute in CI without a GPU. It is a
 * checker as much as a runtime: it keeps every device allocation, defers
 * asynchronous work to the next synchronising call, reports misuse (a
 * double free, a copy whose kind contradicts its pointers, a host pointer
 * handed to a kernel or to cuBLAS, overlapping device copies, a
 * __syncthreads outside a cooperative launch) and can fail any call on
 * request. This header is what a test uses to drive and question it; it
 * is plain C, reached at run time with dlopen(CUDAEMU_SONAME, RTLD_NOLOAD)
 * + dlsym, so the same tests run unchanged on a real GPU (where the
 * emulator is absent and these checks are skipped).
 */
#ifndef CUDAEMU_H
#define CUDAEMU_H

#include <stddef.h>

#define CUDAEMU_SONAME "libcudaemu.so"

#ifdef __cplusplus
extern "C" {
#endif

/* Kinds of API calls, for fault injection. */
enum {
  CUDAEMU_CALL_ALLOC = 1,   /* cudaMalloc, cudaMallocHost, cublasCreate           */
  CUDAEMU_CALL_LAUNCH = 2,  /* kernel launches                                    */
  CUDAEMU_CALL_COPY = 4,    /* cudaMemcpy(Async), cudaMemsetAsync                 */
  CUDAEMU_CALL_SYNC = 8,    /* cudaStreamSynchronize, cudaDeviceSynchronize       */
  CUDAEMU_CALL_BLAS = 16,   /* cuBLAS compute calls (cublasSgemm(StridedBatched)) */
  CUDAEMU_CALL_OTHER = 32,  /* the rest: devices, streams, handles, frees         */
  CUDAEMU_CALL_ANY = 63
};

/* Fails the nth call (1 = the next) among the kinds in `calls`, once:
 *  - a runtime call returns `error` (a launch: its kernel fails when it runs
 *    if sticky, else the launch reports `error` through cudaGetLastError;
 *    a synchronisation still completes the queued work unless sticky);
 *  - cublasCreate returns CUBLAS_STATUS_ALLOC_FAILED, cublasSgemm and
 *    cublasSgemmStridedBatched return `blas_status`;
 *  - with sticky set, `error` also becomes the process's sticky error, as
 *    after a real device fault: every later runtime call returns it (an
 *    asynchronous call's fault shows at the next synchronising call).
 * nth <= 0 disarms. */
void cudaemu_fault_arm(unsigned calls, long nth, int error, int blas_status, int sticky);
/* Calls of the armed kinds since arming (to size a fault sweep). */
long cudaemu_fault_count(void);
/* 1 once the armed fault has fired. */
int cudaemu_fault_fired(void);

/* Misuse reports since the last reset (each is also printed to stderr). */
long cudaemu_violations(void);
/* Live device allocations (and their bytes through *bytes, may be NULL),
 * pinned host allocations, streams and cuBLAS handles. */
long cudaemu_live_device(size_t *bytes);
long cudaemu_live_pinned(void);
long cudaemu_live_streams(void);
long cudaemu_live_handles(void);
/* Prints every live allocation, stream and handle to stderr; returns how
 * many there were. */
long cudaemu_report_leaks(void);
/* What a process restart does to the real runtime, for the next test of
 * the same process: frees every allocation, stream and handle, drops
 * queued work, clears the sticky error, the calling thread's last error,
 * the armed fault and the violation count. Check for leaks before. */
void cudaemu_reset(void);

#ifdef __cplusplus
}
#endif

#endif /* CUDAEMU_H */
