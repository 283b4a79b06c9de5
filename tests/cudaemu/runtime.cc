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
 * Kernels: a launch runs its blocks one after another. Threads of a block
 * run one after another too, unless the launch is cooperative
 * (INC_CUDA_LAUNCH_COOP, for kernels with __shared__ and __syncthreads).
 * A cooperative block runs in one of two ways, chosen by CUDAEMU_COOP:
 *  - threads (the default, and always under ThreadSanitizer): its threads
 *    are real threads meeting at a barrier, so a missing __syncthreads is a
 *    data race that TSan reports. Faithful, but every barrier costs a
 *    context switch per thread: a GoogLeNet backward pass (7,000 blocks of
 *    256 threads, 11 barriers each) takes minutes on two cores;
 *  - fibers: its threads are coroutines on the calling thread, each
 *    running up to its next __syncthreads before the next one starts, the
 *    barrier releasing them all. Same results, ordering and barrier
 *    semantics at a small fraction of the cost; races are not observable.
 *    On x86-64 the switch is a few instructions of our own (ucontext's
 *    swapcontext makes a system call per switch, which dominated a run);
 *    elsewhere it is ucontext.
 */
#include <pthread.h>
#include <stdarg.h>
#include <ucontext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <map>
#include <set>
#include <thread>
#include <vector>
#include "emu.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define EMU_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define EMU_TSAN 1
#endif

namespace cudaemu {

thread_local uint3 thread_idx, block_idx;
thread_local dim3 block_dim, grid_dim;

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
thread_local pthread_barrier_t *block_barrier = nullptr; /* in a cooperative block */
thread_local bool bad_syncthreads = false;

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

/* ---- cooperative blocks as fibers ---- */

struct fiber {
  std::vector<char> stack;
  bool done = false, waiting = false;
  void *fake = nullptr; /* ASan's fake stack while switched away */
#ifdef __x86_64__
  void *sp = nullptr; /* saved stack pointer while switched away */
#else
  ucontext_t ctx;
#endif
};

struct fiber_block {
  std::vector<fiber> fibers;
  const std::function<void()> *body = nullptr;
  unsigned cur = 0;
  const void *main_bottom = nullptr; /* the scheduler's stack, for ASan */
  size_t main_size = 0;
  void *main_fake = nullptr;
#ifdef __x86_64__
  void *main_sp = nullptr;
#else
  ucontext_t main;
#endif
};

thread_local fiber_block *fibers_now = nullptr;
const size_t fiber_stack = (size_t)256 << 10;

void fiber_main();

#ifdef __x86_64__
/* Saves the callee-saved registers and the SSE/x87 control words on the
 * current stack, stores the stack pointer in *save, continues on `to`. */
extern "C" void cudaemu_switch_stack(void **save, void *to);
asm(".text\n"
    ".p2align 4\n"
    ".globl cudaemu_switch_stack\n"
    ".hidden cudaemu_switch_stack\n"
    ".type cudaemu_switch_stack, @function\n"
    "cudaemu_switch_stack:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  subq $8, %rsp\n  stmxcsr (%rsp)\n  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n  fldcw 4(%rsp)\n  addq $8, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size cudaemu_switch_stack, .-cudaemu_switch_stack\n");

/* A fresh fiber's stack, as cudaemu_switch_stack leaves one: control
 * words, six zero registers, then fiber_main as the return address (and a
 * zero above it, so fiber_main starts as if called, rsp = 8 mod 16). */
void fiber_start(fiber &f)
{
  uintptr_t top = ((uintptr_t)f.stack.data() + f.stack.size()) & ~(uintptr_t)15;
  uint64_t *p = (uint64_t *)top;
  *--p = 0;
  *--p = (uint64_t)(uintptr_t)&fiber_main;
  for (int i = 0; i < 6; i++) *--p = 0;
  *--p = 0x1f80 | ((uint64_t)0x037f << 32); /* default MXCSR, x87 control word */
  f.sp = p;
}
void switch_to_fiber(fiber_block *b, fiber &f) { cudaemu_switch_stack(&b->main_sp, f.sp); }
void switch_to_main(fiber_block *b, fiber &f) { cudaemu_switch_stack(&f.sp, b->main_sp); }
#else
void fiber_start(fiber &f)
{
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = f.stack.data();
  f.ctx.uc_stack.ss_size = f.stack.size();
  f.ctx.uc_link = nullptr;
  makecontext(&f.ctx, fiber_main, 0);
}
void switch_to_fiber(fiber_block *b, fiber &f) { swapcontext(&b->main, &f.ctx); }
void switch_to_main(fiber_block *b, fiber &f) { swapcontext(&f.ctx, &b->main); }
#endif

/* ASan must be told of each stack switch (its fake stacks and shadow). */
void into_fiber(fiber_block *b, fiber &f)
{
#ifdef EMU_ASAN
  __sanitizer_start_switch_fiber(&b->main_fake, f.stack.data(), f.stack.size());
#endif
  switch_to_fiber(b, f);
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(b->main_fake, nullptr, nullptr);
#endif
}

void landed(fiber_block *b, fiber &f)
{
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(f.fake, &b->main_bottom, &b->main_size);
#else
  (void)b;
  (void)f;
#endif
}

void to_scheduler(fiber_block *b, fiber &f)
{
#ifdef EMU_ASAN
  __sanitizer_start_switch_fiber(f.done ? nullptr : &f.fake, b->main_bottom, b->main_size);
#endif
  switch_to_main(b, f);
  landed(b, f);
}

void fiber_main()
{
  fiber_block *b = fibers_now;
  fiber &f = b->fibers[b->cur];
  landed(b, f);
  (*b->body)();
  f.done = true;
  to_scheduler(b, f); /* never resumed */
}

/* One block: every fiber runs to its next __syncthreads (or its end); then
 * the barrier opens and the round repeats. Returns false if the threads
 * disagreed on the barriers (some ended while others waited). */
bool run_block_fibers(fiber_block &b, dim3 block)
{
  const unsigned nt = (unsigned)b.fibers.size();
  for (fiber &f : b.fibers) {
    f.done = f.waiting = false;
    f.fake = nullptr;
    fiber_start(f);
  }
  for (;;) {
    unsigned waiting = 0, done = 0;
    for (unsigned t = 0; t < nt; t++) {
      fiber &f = b.fibers[t];
      if (f.done) continue;
      b.cur = t;
      thread_idx = uint3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
      f.waiting = false;
      into_fiber(&b, f);
      waiting += f.waiting;
      done += f.done;
    }
    if (!waiting) return true;
    if (done) return false;
  }
}

bool coop_as_threads()
{
#ifdef EMU_TSAN
  return true;
#else
  const char *m = getenv("CUDAEMU_COOP");
  return !(m && strcmp(m, "fibers") == 0);
#endif
}

/* Runs one kernel: blocks in turn; a cooperative block's threads as real
 * threads with a barrier or as fibers, an ordinary block's one after
 * another. */
cudaError_t run_kernel(const char *name, bool coop, dim3 grid, dim3 block,
                       const std::vector<ptr_arg> &ptrs, const std::function<void()> &body)
{
  for (const ptr_arg &a : ptrs)
    if (!is_device(a.p, 0)) {
      violation("kernel %s: argument %d (%p) is %s, not device memory", name, a.index, a.p,
                is_pinned(a.p) ? "pinned host memory" : "host memory or freed device memory");
      return cudaErrorIllegalAddress;
    }
  const unsigned nt = block.x * block.y * block.z;
  auto each_block = [&](const std::function<void()> &fn) {
    for (unsigned bz = 0; bz < grid.z; bz++)
      for (unsigned by = 0; by < grid.y; by++)
        for (unsigned bx = 0; bx < grid.x; bx++) {
          block_idx = uint3{bx, by, bz};
          fn();
        }
  };
  if (!coop) {
    grid_dim = grid;
    block_dim = block;
    bad_syncthreads = false;
    each_block([&] {
      for (unsigned t = 0; t < nt; t++) {
        thread_idx = uint3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
        body();
      }
    });
    if (bad_syncthreads) {
      violation("kernel %s calls __syncthreads but was not launched cooperatively "
                "(INC_CUDA_LAUNCH_COOP)", name);
      return cudaErrorLaunchFailure;
    }
    return cudaSuccess;
  }
  if (!coop_as_threads()) {
    static thread_local fiber_block b; /* stacks kept for the next launch */
    b.body = &body;
    b.fibers.resize(nt);
    for (fiber &f : b.fibers) f.stack.resize(fiber_stack);
    fibers_now = &b;
    grid_dim = grid;
    block_dim = block;
    bool agreed = true;
    each_block([&] { agreed = agreed && run_block_fibers(b, block); });
    fibers_now = nullptr;
    if (!agreed) {
      violation("kernel %s: some threads of a block ended while others waited at "
                "__syncthreads", name);
      return cudaErrorLaunchFailure;
    }
    return cudaSuccess;
  }
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, nullptr, nt);
  std::vector<std::thread> threads;
  threads.reserve(nt);
  for (unsigned t = 0; t < nt; t++)
    threads.emplace_back([&, t] {
      block_barrier = &bar;
      grid_dim = grid;
      block_dim = block;
      thread_idx = uint3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
      each_block([&] {
        body();
        pthread_barrier_wait(&bar); /* the block ends before the next one starts */
      });
      block_barrier = nullptr;
    });
  for (std::thread &t : threads) t.join();
  pthread_barrier_destroy(&bar);
  return cudaSuccess;
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

void syncthreads()
{
  if (block_barrier) {
    pthread_barrier_wait(block_barrier);
  } else if (fibers_now) {
    fiber &f = fibers_now->fibers[fibers_now->cur];
    f.waiting = true;
    to_scheduler(fibers_now, f);
  } else {
    bad_syncthreads = true;
  }
}

void submit_kernel(const char *name, bool coop, dim3 grid, dim3 block, cudaStream_t stream,
                   std::vector<ptr_arg> ptrs, std::function<void()> body)
{
  std::lock_guard<std::recursive_mutex> g(lock());
  call c = enter(CUDAEMU_CALL_LAUNCH);
  if (c.sticky) {
    ret(c.sticky);
    return;
  }
  const unsigned long blocks = (unsigned long)grid.x * grid.y * grid.z;
  const unsigned long threads = (unsigned long)block.x * block.y * block.z;
  if (blocks == 0 || threads == 0 || threads > 1024 || grid.y > 65535 || grid.z > 65535) {
    ret(cudaErrorInvalidConfiguration);
    return;
  }
  CUstream_st *q = stream_of(stream, name);
  if (!q) {
    ret(cudaErrorInvalidResourceHandle);
    return;
  }
  if (c.inject) {
    cudaError_t e = (cudaError_t)c.error;
    if (!c.make_sticky) {
      ret(e); /* the launch itself failed: nothing runs */
      return;
    }
    /* The kernel starts and faults: the error shows at the next sync. */
    enqueue(q, name, [e] { return e; });
    return;
  }
  std::string what(name);
  enqueue(q, what, [what, coop, grid, block, ptrs, body] {
    return run_kernel(what.c_str(), coop, grid, block, ptrs, body);
  });
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

const char *cudaGetErrorName(cudaError_t e)
{
  switch (e) {
#define EMU_NAME(x) \
  case x: return #x;
    EMU_NAME(cudaSuccess)
    EMU_NAME(cudaErrorInvalidValue)
    EMU_NAME(cudaErrorMemoryAllocation)
    EMU_NAME(cudaErrorInitializationError)
    EMU_NAME(cudaErrorInvalidConfiguration)
    EMU_NAME(cudaErrorInvalidDevicePointer)
    EMU_NAME(cudaErrorInvalidMemcpyDirection)
    EMU_NAME(cudaErrorInsufficientDriver)
    EMU_NAME(cudaErrorNoDevice)
    EMU_NAME(cudaErrorInvalidDevice)
    EMU_NAME(cudaErrorECCUncorrectable)
    EMU_NAME(cudaErrorNvlinkUncorrectable)
    EMU_NAME(cudaErrorContained)
    EMU_NAME(cudaErrorInvalidResourceHandle)
    EMU_NAME(cudaErrorNotReady)
    EMU_NAME(cudaErrorIllegalAddress)
    EMU_NAME(cudaErrorLaunchOutOfResources)
    EMU_NAME(cudaErrorLaunchTimeout)
    EMU_NAME(cudaErrorAssert)
    EMU_NAME(cudaErrorHardwareStackError)
    EMU_NAME(cudaErrorIllegalInstruction)
    EMU_NAME(cudaErrorMisalignedAddress)
    EMU_NAME(cudaErrorInvalidAddressSpace)
    EMU_NAME(cudaErrorInvalidPc)
    EMU_NAME(cudaErrorLaunchFailure)
    EMU_NAME(cudaErrorExternalDevice)
    EMU_NAME(cudaErrorUnknown)
#undef EMU_NAME
  }
  return "cudaErrorUnrecognized";
}

const char *cudaGetErrorString(cudaError_t e)
{
  switch (e) {
  case cudaSuccess: return "no error";
  case cudaErrorInvalidValue: return "invalid argument";
  case cudaErrorMemoryAllocation: return "out of memory";
  case cudaErrorNoDevice: return "no CUDA-capable device is detected";
  case cudaErrorInvalidDevice: return "invalid device ordinal";
  case cudaErrorInvalidConfiguration: return "invalid configuration argument";
  case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
  case cudaErrorInvalidResourceHandle: return "invalid resource handle";
  case cudaErrorNotReady: return "device not ready";
  case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
  case cudaErrorLaunchFailure: return "unspecified launch failure";
  case cudaErrorUnknown: return "unknown error";
  default: return cudaGetErrorName(e);
  }
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
