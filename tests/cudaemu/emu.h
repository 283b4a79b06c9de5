/*
 * emu.h — what the emulated runtime (runtime.cc, launch.cc) shares with the
 * emulated cuBLAS (cublas.cc): the lock, call accounting with fault
 * injection, device-memory checks, stream queues and misuse reports.
 *
 * One recursive mutex guards all emulator state; queued work runs under it
 * on the thread that synchronises, so the device does one thing at a time.
 */
#ifndef CUDAEMU_EMU_H
#define CUDAEMU_EMU_H

#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include "cuda_runtime.h"

/* A stream: the work queued on it, run at the next synchronising call. */
struct CUstream_st {
  struct work {
    std::string what;
    std::function<cudaError_t()> run; /* returns a fault (made sticky) or cudaSuccess */
  };
  std::deque<work> queue;
  unsigned flags = 0;
};

namespace cudaemu {

std::recursive_mutex &lock();

/* Outcome of accounting one API call. */
struct call {
  cudaError_t sticky = cudaSuccess; /* the process is broken: return this */
  bool inject = false;              /* the armed fault hits this call     */
  int error = cudaSuccess, blas_status = 0;
  bool make_sticky = false;
};
/* Counts a call of kind (CUDAEMU_CALL_*) against the armed fault. */
call enter(unsigned kind);

/* Sets the process's sticky error (first one wins) and drops queued work. */
void set_sticky(cudaError_t e);
cudaError_t sticky();

/* Records a runtime call's result in the thread's last-error slot. */
cudaError_t ret(cudaError_t e);

/* A misuse report: printed to stderr, counted. printf-style. */
void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Device memory: 1 if [p, p+bytes) lies inside one live device allocation
 * (bytes 0: p inside one). */
bool is_device(const void *p, size_t bytes);
/* 1 if p lies inside a live pinned host allocation. */
bool is_pinned(const void *p);

/* The stream behind a handle (0 = the legacy default stream); NULL, with a
 * violation, for a handle that is not a live stream. */
CUstream_st *stream_of(cudaStream_t s, const char *who);
void enqueue(CUstream_st *s, std::string what, std::function<cudaError_t()> run);

/* Prints the live cuBLAS handles to stderr; returns how many; frees them
 * all (cublas.cc). */
long report_handles();
void free_handles();

} // namespace cudaemu

#endif /* CUDAEMU_EMU_H */
