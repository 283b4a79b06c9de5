/*
 * cuda_util.h — what the CUDA suites (test_cuda.c, test_cuda_net.c,
 * test_cuda_faults.c) share: the probe for a usable CUDA module, run in a
 * child process; the emulated runtime's controls, when the module in use
 * is the emulated one (tests/cudaemu/); and the fixture checks that every
 * test left no device memory, stream or cuBLAS handle behind and made no
 * misuse the emulator reported.
 *
 * The same suites run on a real GPU, where the emulator is absent: then
 * tu_emu() is NULL and the checks that need it are skipped.
 */
#ifndef INC_TEST_CUDA_UTIL_H
#define INC_TEST_CUDA_UTIL_H

#include <stddef.h>
#include "internal.h"
#include "util.h"

/* The emulator's controls (cudaemu.h) and the runtime calls the misuse
 * tests make directly (CUDA's enums are ints, its handles pointers). */
typedef struct tu_cudaemu {
  void (*fault_arm)(unsigned calls, long nth, int error, int blas_status, int sticky);
  long (*fault_count)(void);
  int (*fault_fired)(void);
  long (*violations)(void);
  long (*live_device)(size_t *bytes);
  long (*live_pinned)(void);
  long (*live_streams)(void);
  long (*live_handles)(void);
  long (*report_leaks)(void);
  void (*reset)(void);
  int (*malloc_)(void **p, size_t bytes);
  int (*free_)(void *p);
  int (*memcpy_async)(void *dst, const void *src, size_t bytes, int kind, void *stream);
  int (*stream_create)(void **stream);
  int (*stream_sync)(void *stream);
  int (*stream_destroy)(void *stream);
} tu_cudaemu;

/* CUDA's numbers for what the tests name (cuda_runtime.h, cublas_api.h). */
enum {
  TU_cudaSuccess = 0,
  TU_cudaErrorInvalidValue = 1,
  TU_cudaErrorMemoryAllocation = 2,
  TU_cudaErrorLaunchOutOfResources = 701,
  TU_cudaErrorIllegalAddress = 700,
  TU_cudaErrorLaunchFailure = 719,
  TU_cudaErrorUnknown = 999,
  TU_cudaMemcpyHostToDevice = 1,
  TU_cudaMemcpyDeviceToHost = 2,
  TU_CUBLAS_STATUS_ALLOC_FAILED = 3,
  TU_CUBLAS_STATUS_EXECUTION_FAILED = 13,
  TU_CALL_ALLOC = 1,
  TU_CALL_LAUNCH = 2,
  TU_CALL_COPY = 4,
  TU_CALL_SYNC = 8,
  TU_CALL_BLAS = 16,
  TU_CALL_ANY = 63
};

/* The emulator's controls if it is loaded in this process (a CUDA context
 * on the emulated module was created), else NULL. */
const tu_cudaemu *tu_emu(void);

/* Probes, in a child process (Check forks each test and CUDA does not
 * survive a fork, so the parent must never initialise CUDA), whether a
 * CUDA context can be made. Returns 0 if not (reason in why), 1 on a real
 * GPU, 2 on the emulated runtime. */
int tu_cuda_probe(char *why, size_t cap);

/* A CUDA context (seed 1), after resetting the emulator when a previous
 * test of this process (CK_FORK=no) loaded it. */
inc_context *tu_cuda_context(void);
/* Backend b of a loop test: 0 the CPU (tu_cpu), 1 CUDA (tu_cuda_context);
 * tu_backend_done destroys ctx and, for CUDA, checks that nothing is left. */
inc_context *tu_backend(int b);
void tu_backend_done(inc_context *ctx, int b);
/* With the emulator: asserts no device memory, pinned memory, stream or
 * cuBLAS handle is live and no misuse was reported (call after destroying
 * every CUDA context). */
void tu_cuda_check_clean(const char *where);

#endif /* INC_TEST_CUDA_UTIL_H */
