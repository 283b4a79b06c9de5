/*
 * launch.cc — kernel launches of the emulated CUDA runtime: the thread
 * indices, the queueing of a launch on its stream and the running of its
 * blocks (tests only; see cudaemu.h and runtime.cc).
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
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
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

thread_local pthread_barrier_t *block_barrier = nullptr; /* in a cooperative block */
thread_local bool bad_syncthreads = false;

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
} // namespace

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
