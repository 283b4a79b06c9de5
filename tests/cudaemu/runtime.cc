/*
 * runtime.cc — the emulated CUDA runtime: one device, its memory, streams,
 * kernel launches and errors, run on the CPU (tests only; see cudaemu.h).
 *
 * The device: "compute capability 9.0" with 2 multiprocessors (so the
 * backend's grid-stride loops, capped at a few blocks per multiprocessor,
 * really loop) and 8 GiB of memory; CUDAEMU_DEVICES=0 in the environment
 * makes it a machine without a GPU.
 *
 * Memory: every device and pinned allocation is recorded; device memory is
 * host memory from malloc (so ASan sees overruns), filled with 0xff bytes
 * (NaN floats) as it is not initialised by real CUDA either. Copies check
 * that their kind matches where the pointers came from and that device
 * ranges lie inside one allocation; kernels and cuBLAS check that pointer
 * arguments are device memory. Misuse is reported (stderr + a counter the
 * tests read) and fails the call as the real runtime would, or with
 * cudaErrorInvalidValue where the real one would leave it undefined.
 *
 * Asynchrony: everything queued on a stream (kernels, async copies and
 * sets, cuBLAS) runs only at the next call that synchronises with it, on
 * the calling thread, in order. A device-to-host copy poisons its host
 * destination when queued, so a host read that skipped the synchronisation
 * sees NaNs, not the right answer by luck.
 *
 * Kernels: launch.cc.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <map>
#include <set>
#include <vector>
#include "emu.h"

namespace cudaemu {

namespace {

const size_t device_capacity = (size_t)8 << 30;
const int sm_count = 2;

struct alloc_info {
  size_t bytes;
  bool pinned;
  long seq; /* allocation number, for leak reports */
};

struct state {
  std::recursive_mutex mu;
  std::map<uintptr_t, alloc_info> allocs; /* device and pinned, by address */
  size_t device_bytes = 0;
  long seq = 0;
  std::set<CUstream_st *> streams;
  CUstream_st legacy; /* stream 0 */
  cudaError_t sticky = cudaSuccess;
  long violations = 0;
  unsigned fault_calls = 0;
  long fault_nth = 0, fault_count = 0;
  int fault_error = 0, fault_blas = 0;
  bool fault_sticky = false, fault_fired = false;
};

/* Never destroyed: tests may report leaks from exit handlers. */
state &st()
{
  static state *s = new state;
  return *s;
}

thread_local cudaError_t last_error = cudaSuccess;
thread_local int current_device = 0;

int device_count()
{
  const char *v = getenv("CUDAEMU_DEVICES");
  return v && v[0] == '0' ? 0 : 1;
}

/* The allocation holding p, or allocs.end(). */
std::map<uintptr_t, alloc_info>::iterator find(const void *p)
{
  state &s = st();
  auto it = s.allocs.upper_bound((uintptr_t)p);
  if (it == s.allocs.begin()) return s.allocs.end();
  --it;
  uintptr_t off = (uintptr_t)p - it->first;
  return off < (it->second.bytes ? it->second.bytes : 1) ? it : s.allocs.end();
}

cudaError_t run_queue(CUstream_st *q)
{
  while (!q->queue.empty()) {
    CUstream_st::work w = std::move(q->queue.front());
    q->queue.pop_front();
    cudaError_t e = w.run();
    if (e != cudaSuccess) {
      set_sticky(e);
      return e;
    }
    if (st().sticky != cudaSuccess) return st().sticky;
  }
  return cudaSuccess;
}

cudaError_t run_all()
{
  state &s = st();
  cudaError_t e = run_queue(&s.legacy);
  for (CUstream_st *q : s.streams)
    if (e == cudaSuccess) e = run_queue(q);
  return e;
}

/* Checks a copy's kind against its pointers; cudaSuccess or a violation. */
cudaError_t check_copy(const char *who, void *dst, const void *src, size_t bytes,
                       cudaMemcpyKind kind)
{
  const bool dst_dev = find(dst) != st().allocs.end() && !is_pinned(dst);
  const bool src_dev = find(src) != st().allocs.end() && !is_pinned(src);
  if (kind == cudaMemcpyDefault)
    kind = (cudaMemcpyKind)((src_dev ? 2 : 0) + (dst_dev ? 1 : 0));
  static const char *names[] = {"cudaMemcpyHostToHost", "cudaMemcpyHostToDevice",
                                "cudaMemcpyDeviceToHost", "cudaMemcpyDeviceToDevice"};
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDeviceToDevice) {
    violation("%s: invalid cudaMemcpyKind %d", who, (int)kind);
    return cudaErrorInvalidMemcpyDirection;
  }
  const bool want_dst = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool want_src = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (want_dst ? !is_device(dst, bytes) : dst_dev) {
    violation("%s: %s, but dst %p is %s", who, names[kind], dst,
              want_dst ? "not a device range of the copy's size" : "device memory");
    return cudaErrorInvalidValue;
  }
  if (want_src ? !is_device(src, bytes) : src_dev) {
    violation("%s: %s, but src %p is %s", who, names[kind], src,
              want_src ? "not a device range of the copy's size" : "device memory");
    return cudaErrorInvalidValue;
  }
  uintptr_t a = (uintptr_t)dst, b = (uintptr_t)src;
  if (bytes && (a < b ? b - a < bytes : a - b < bytes)) {
    violation("%s: the %zu-byte ranges at %p and %p overlap (undefined in CUDA)", who, bytes,
              dst, src);
    return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}

} // namespace

std::recursive_mutex &lock() { return st().mu; }

call enter(unsigned kind)
{
  state &s = st();
  call c;
  c.sticky = s.sticky;
  if (s.fault_calls & kind) {
    s.fault_count++;
    if (!s.fault_fired && s.fault_nth > 0 && s.fault_count == s.fault_nth) {
      s.fault_fired = true;
      c.inject = true;
      c.error = s.fault_error;
      c.blas_status = s.fault_blas;
      c.make_sticky = s.fault_sticky;
    }
  }
  return c;
}

void set_sticky(cudaError_t e)
{
  state &s = st();
  if (s.sticky == cudaSuccess) s.sticky = e;
  s.legacy.queue.clear(); /* a faulted device runs nothing more */
  for (CUstream_st *q : s.streams) q->queue.clear();
}

cudaError_t sticky() { return st().sticky; }

cudaError_t ret(cudaError_t e)
{
  if (e != cudaSuccess) last_error = e;
  return e;
}

void violation(const char *fmt, ...)
{
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  st().violations++;
  fprintf(stderr, "cudaemu: MISUSE: %s\n", msg);
}

bool is_device(const void *p, size_t bytes)
{
  auto it = find(p);
  if (it == st().allocs.end() || it->second.pinned) return false;
  size_t off = (uintptr_t)p - it->first;
  return bytes <= it->second.bytes - off;
}

bool is_pinned(const void *p)
{
  auto it = find(p);
  return it != st().allocs.end() && it->second.pinned;
}

CUstream_st *stream_of(cudaStream_t s, const char *who)
{
  if (!s) return &st().legacy;
  if (st().streams.count(s)) return s;
  violation("%s: stream %p is not a live stream", who, (void *)s);
  return nullptr;
}

void enqueue(CUstream_st *s, std::string what, std::function<cudaError_t()> run)
{
  s->queue.push_back(CUstream_st::work{std::move(what), std::move(run)});
}

} // namespace cudaemu

using namespace cudaemu;

/* Opens a runtime call: the lock, the accounting, the sticky error. */
#define EMU_ENTER(kind)                                                       \
  std::lock_guard<std::recursive_mutex> emu_g_(lock());                       \
  cudaemu::call emu_c_ = enter(kind);                                         \
  if (emu_c_.sticky) return ret(emu_c_.sticky)
/* The armed fault, when it hits this call. */
#define EMU_INJECT()                                                          \
  do {                                                                        \
    if (emu_c_.inject) {                                                      \
      if (emu_c_.make_sticky) set_sticky((cudaError_t)emu_c_.error);          \
      return ret((cudaError_t)emu_c_.error);                                  \
    }                                                                         \
  } while (0)

/* ---- devices ------------------------------------------------------------------ */

cudaError_t cudaGetDeviceCount(int *count)
{
  /* Counting devices asks the driver, not a context: it works after a
   * sticky error too. */
  std::lock_guard<std::recursive_mutex> g(lock());
  cudaemu::call emu_c_ = enter(CUDAEMU_CALL_OTHER);
  if (!count) return ret(cudaErrorInvalidValue);
  EMU_INJECT();
  *count = device_count();
  return *count ? cudaSuccess : ret(cudaErrorNoDevice);
}

cudaError_t cudaGetDevice(int *device)
{
  EMU_ENTER(CUDAEMU_CALL_OTHER);
  if (!device) return ret(cudaErrorInvalidValue);
  EMU_INJECT();
  if (!device_count()) return ret(cudaErrorNoDevice);
  *device = current_device;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device)
{
  EMU_ENTER(CUDAEMU_CALL_OTHER);
  EMU_INJECT();
  if (device < 0 || device >= device_count()) return ret(cudaErrorInvalidDevice);
  current_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device)
{
  EMU_ENTER(CUDAEMU_CALL_OTHER);
  if (!prop) return ret(cudaErrorInvalidValue);
  EMU_INJECT();
  if (device < 0 || device >= device_count()) return ret(cudaErrorInvalidDevice);
  memset(prop, 0, sizeof *prop);
  snprintf(prop->name, sizeof prop->name, "cudaemu (emulated on the CPU)");
  prop->totalGlobalMem = device_capacity;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = sm_count;
  prop->maxThreadsPerBlock = 1024;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device)
{
  EMU_ENTER(CUDAEMU_CALL_OTHER);
  if (!value) return ret(cudaErrorInvalidValue);
  EMU_INJECT();
  if (device < 0 || device >= device_count()) return ret(cudaErrorInvalidDevice);
  switch (attr) {
  case cudaDevAttrComputeCapabilityMajor: *value = 9; return cudaSuccess;
  case cudaDevAttrMultiProcessorCount: *value = sm_count; return cudaSuccess;
  }
  return ret(cudaErrorInvalidValue);
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
  EMU_ENTER(CUDAEMU_CALL_OTHER);
  if (!free_bytes || !total_bytes) return ret(cudaErrorInvalidValue);
  EMU_INJECT();
  *total_bytes = device_capacity;
  *free_bytes = device_capacity - st().device_bytes;
  return cudaSuccess;
}

/* An injected passing error on a synchronising call: the work still ran
 * (only a sticky error stops the device), the call reports the error. */
#define EMU_INJECT_SYNC(drain)                                                \
  do {                                                                        \
    if (emu_c_.inject && !emu_c_.make_sticky) {                               \
      cudaError_t emu_e_ = (drain);                                           \
      return ret(emu_e_ != cudaSuccess ? emu_e_ : (cudaError_t)emu_c_.error); \
    }                                                                         \
    EMU_INJECT();                                                             \
  } while (0)

cudaError_t cudaDeviceSynchronize(void)
{
  EMU_ENTER(CUDAEMU_CALL_SYNC);
  EMU_INJECT_SYNC(run_all());
  return ret(run_all());
}

/* ---- memory --------------------------------------------------------------------- */

static cudaError_t emu_alloc(void **p, size_t bytes, bool pinned)
{
  state &s = st();
  if (!pinned && bytes > device_capacity - s.device_bytes) return ret(cudaErrorMemoryAllocation);
  void *q = malloc(bytes ? bytes : 1);
  if (!q) return ret(cudaErrorMemoryAllocation);
  memset(q, 0xff, bytes ? bytes : 1);
  s.allocs[(uintptr_t)q] = alloc_info{bytes, pinned, ++s.seq};
  if (!pinned) s.device_bytes += bytes;
  *p = q;
  return cudaSuccess;
}

static cudaError_t emu_free(void *p, bool pinned, const char *who)
{
  state &s = st();
  cudaError_t e = run_all(); /* both frees synchronise the device first */
  if (e != cudaSuccess) return ret(e);
  auto it = s.allocs.find((uintptr_t)p);
  if (it == s.allocs.end() || it->second.pinned != pinned) {
    violation("%s(%p): %s", who, p,
              it != s.allocs.end() ? (pinned ? "device memory (use cudaFree)"
                                             : "pinned host memory (use cudaFreeHost)")
              : find(p) != s.allocs.end() ? "a pointer into an allocation, not its start"
                                          : "not a live allocation (freed twice?)");
    return ret(cudaErrorInvalidValue);
  }
  if (!pinned) s.device_bytes -= it->second.bytes;
  s.allocs.erase(it);
  free(p);
  return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t bytes)
{
  EMU_ENTER(CUDAEMU_CALL_ALLOC);
  if (!p) return ret(cudaErrorInvalidValue);
  EMU_INJECT();
  return emu_alloc(p, bytes, false);
}

cudaError_t cudaMallocHost(void **p, size_t bytes)
{
  EMU_ENTER(CUDAEMU_CALL_ALLOC);
  if (!p) return ret(cudaErrorInvalidValue);
  EMU_INJECT();
  return emu_alloc(p, bytes, true);
}

cudaError_t cudaFree(void *p)
{
  EMU_ENTER(CUDAEMU_CALL_OTHER);
  if (!p) return cudaSuccess;
  EMU_INJECT();
  return emu_free(p, false, "cudaFree");
}

cudaError_t cudaFreeHost(void *p)
{
  EMU_ENTER(CUDAEMU_CALL_OTHER);
  if (!p) return cudaSuccess;
  EMU_INJECT();
  return emu_free(p, true, "cudaFreeHost");
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream)
{
  EMU_ENTER(CUDAEMU_CALL_COPY);
  EMU_INJECT();
  CUstream_st *q = stream_of(stream, "cudaMemcpyAsync");
  if (!q) return ret(cudaErrorInvalidResourceHandle);
  if (!bytes) return cudaSuccess;
  cudaError_t e = check_copy("cudaMemcpyAsync", dst, src, bytes, kind);
  if (e != cudaSuccess) return ret(e);
  /* The host side of a device-to-host copy is undefined until the stream
   * is synchronised: make an early read visible. */
  if (!is_device(dst, bytes)) memset(dst, 0xff, bytes);
  enqueue(q, "cudaMemcpyAsync", [dst, src, bytes] {
    memcpy(dst, src, bytes);
    return cudaSuccess;
  });
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind)
{
  EMU_ENTER(CUDAEMU_CALL_COPY);
  EMU_INJECT();
  cudaError_t e = run_all(); /* synchronous: after everything queued */
  if (e != cudaSuccess) return ret(e);
  if (!bytes) return cudaSuccess;
  e = check_copy("cudaMemcpy", dst, src, bytes, kind);
  if (e != cudaSuccess) return ret(e);
  memcpy(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t stream)
{
  EMU_ENTER(CUDAEMU_CALL_COPY);
  EMU_INJECT();
  CUstream_st *q = stream_of(stream, "cudaMemsetAsync");
  if (!q) return ret(cudaErrorInvalidResourceHandle);
  if (!bytes) return cudaSuccess;
  if (!is_device(dst, bytes)) {
    violation("cudaMemsetAsync: %p is not a device range of %zu bytes", dst, bytes);
    return ret(cudaErrorInvalidValue);
  }
  enqueue(q, "cudaMemsetAsync", [dst, value, bytes] {
    memset(dst, value, bytes);
    return cudaSuccess;
  });
  return cudaSuccess;
}

/* ---- streams -------------------------------------------------------------------- */

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned flags)
{
  EMU_ENTER(CUDAEMU_CALL_OTHER);
  if (!stream) return ret(cudaErrorInvalidValue);
  EMU_INJECT();
  CUstream_st *q = new CUstream_st;
  q->flags = flags;
  st().streams.insert(q);
  *stream = q;
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *stream) { return cudaStreamCreateWithFlags(stream, 0); }

cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
  EMU_ENTER(CUDAEMU_CALL_OTHER);
  EMU_INJECT();
  if (!stream || !st().streams.count(stream)) {
    violation("cudaStreamDestroy: %p is not a live stream", (void *)stream);
    return ret(cudaErrorInvalidResourceHandle);
  }
  cudaError_t e = run_queue(stream); /* queued work still completes */
  st().streams.erase(stream);
  delete stream;
  return ret(e);
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
  EMU_ENTER(CUDAEMU_CALL_SYNC);
  CUstream_st *q = stream_of(stream, "cudaStreamSynchronize");
  if (!q) return ret(cudaErrorInvalidResourceHandle);
  EMU_INJECT_SYNC(run_queue(q));
  return ret(run_queue(q));
}

cudaError_t cudaStreamQuery(cudaStream_t stream)
{
  EMU_ENTER(CUDAEMU_CALL_SYNC);
  EMU_INJECT();
  CUstream_st *q = stream_of(stream, "cudaStreamQuery");
  if (!q) return ret(cudaErrorInvalidResourceHandle);
  return q->queue.empty() ? cudaSuccess : cudaErrorNotReady;
}

/* ---- errors ------------------------------------------------------------------------ */

cudaError_t cudaGetLastError(void)
{
  std::lock_guard<std::recursive_mutex> g(lock());
  if (sticky()) return sticky();
  cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError(void)
{
  std::lock_guard<std::recursive_mutex> g(lock());
  return sticky() ? sticky() : last_error;
}

/* ---- control (cudaemu.h) ---------------------------------------------------------- */

extern "C" {

CUDAEMU_API void cudaemu_fault_arm(unsigned calls, long nth, int error, int blas_status,
                                   int sticky_)
{
  std::lock_guard<std::recursive_mutex> g(lock());
  state &s = st();
  s.fault_calls = calls; /* counted even when disarmed (nth <= 0), to size a sweep */
  s.fault_nth = nth;
  s.fault_count = 0;
  s.fault_error = error;
  s.fault_blas = blas_status;
  s.fault_sticky = sticky_ != 0;
  s.fault_fired = false;
}

CUDAEMU_API long cudaemu_fault_count(void)
{
  std::lock_guard<std::recursive_mutex> g(lock());
  return st().fault_count;
}

CUDAEMU_API int cudaemu_fault_fired(void)
{
  std::lock_guard<std::recursive_mutex> g(lock());
  return st().fault_fired;
}

CUDAEMU_API long cudaemu_violations(void)
{
  std::lock_guard<std::recursive_mutex> g(lock());
  return st().violations;
}

CUDAEMU_API long cudaemu_live_device(size_t *bytes)
{
  std::lock_guard<std::recursive_mutex> g(lock());
  long n = 0;
  for (auto &a : st().allocs) n += !a.second.pinned;
  if (bytes) *bytes = st().device_bytes;
  return n;
}

CUDAEMU_API long cudaemu_live_pinned(void)
{
  std::lock_guard<std::recursive_mutex> g(lock());
  long n = 0;
  for (auto &a : st().allocs) n += a.second.pinned;
  return n;
}

CUDAEMU_API long cudaemu_live_streams(void)
{
  std::lock_guard<std::recursive_mutex> g(lock());
  return (long)st().streams.size();
}

CUDAEMU_API long cudaemu_report_leaks(void)
{
  std::lock_guard<std::recursive_mutex> g(lock());
  long n = 0;
  for (auto &a : st().allocs) {
    fprintf(stderr, "cudaemu: LEAK: %s allocation #%ld of %zu bytes at %p\n",
            a.second.pinned ? "pinned host" : "device", a.second.seq, a.second.bytes,
            (void *)a.first);
    n++;
  }
  for (CUstream_st *q : st().streams) {
    fprintf(stderr, "cudaemu: LEAK: stream %p\n", (void *)q);
    n++;
  }
  return n + report_handles();
}

CUDAEMU_API void cudaemu_reset(void)
{
  std::lock_guard<std::recursive_mutex> g(lock());
  state &s = st();
  for (auto &a : s.allocs) free((void *)a.first);
  s.allocs.clear();
  s.device_bytes = 0;
  s.legacy.queue.clear();
  for (CUstream_st *q : s.streams) delete q;
  s.streams.clear();
  free_handles();
  s.sticky = cudaSuccess;
  s.fault_calls = 0;
  s.fault_nth = s.fault_count = 0;
  s.fault_fired = false;
  s.violations = 0;
  last_error = cudaSuccess;
}

} // extern "C"
