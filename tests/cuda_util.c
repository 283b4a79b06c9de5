/*
 * cuda_util.c — the CUDA suites' probe, emulator controls and clean-up
 * checks (see cuda_util.h).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cuda_util.h"

#define TU_EMU_SONAME "libcudaemu.so" /* CUDAEMU_SONAME of tests/cudaemu/cudaemu.h */

const tu_cudaemu *tu_emu(void)
{
  static tu_cudaemu emu;
  static int loaded;
  if (loaded) return &emu;
  void *h = dlopen(TU_EMU_SONAME, RTLD_NOW | RTLD_NOLOAD);
  if (!h) return NULL;
  static const struct {
    const char *name;
    size_t offset;
  } syms[] = {
#define TU_SYM(field, name) {name, offsetof(tu_cudaemu, field)}
      TU_SYM(fault_arm, "cudaemu_fault_arm"),
      TU_SYM(fault_count, "cudaemu_fault_count"),
      TU_SYM(fault_fired, "cudaemu_fault_fired"),
      TU_SYM(violations, "cudaemu_violations"),
      TU_SYM(live_device, "cudaemu_live_device"),
      TU_SYM(live_pinned, "cudaemu_live_pinned"),
      TU_SYM(live_streams, "cudaemu_live_streams"),
      TU_SYM(live_handles, "cudaemu_live_handles"),
      TU_SYM(report_leaks, "cudaemu_report_leaks"),
      TU_SYM(reset, "cudaemu_reset"),
      TU_SYM(malloc_, "cudaMalloc"),
      TU_SYM(free_, "cudaFree"),
      TU_SYM(memcpy_async, "cudaMemcpyAsync"),
      TU_SYM(stream_create, "cudaStreamCreate"),
      TU_SYM(stream_sync, "cudaStreamSynchronize"),
      TU_SYM(stream_destroy, "cudaStreamDestroy"),
#undef TU_SYM
  };
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
    void *f = dlsym(h, syms[i].name);
    if (!f) { /* not ck_assert: the probe calls this outside any test */
      fprintf(stderr, "the emulated runtime lacks %s\n", syms[i].name);
      return NULL;
    }
    memcpy((char *)&emu + syms[i].offset, &f, sizeof f);
  }
  loaded = 1;
  return &emu;
}

/* The probe itself (see tu_cuda_probe). */
static int probe_in_child(char *why, size_t cap)
{
  int fds[2];
  if (pipe(fds) != 0) {
    snprintf(why, cap, "cannot create a pipe for the probe");
    return 0;
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    snprintf(why, cap, "cannot fork the probe");
    return 0;
  }
  if (pid == 0) {
    close(fds[0]);
    int usable = inc__cuda_usable(NULL, 0);
    inc_context *ctx = NULL;
    inc_status s = inc_context_create(INC_BACKEND_CUDA, &ctx);
    char msg[INC__ERR_CAP];
    if (s == INC_OK) {
      snprintf(msg, sizeof msg, "%s", usable ? "" : "inc__cuda_usable() is 0 although the "
                                                    "backend starts");
    } else {
      /* The public call keeps no message on failure: ask the constructor. */
      inc_context probe;
      memset(&probe, 0, sizeof probe);
      (void)inc__cuda_backend_init(&probe);
      snprintf(msg, sizeof msg, "%s", probe.err);
    }
    int emulated = tu_emu() != NULL;
    inc_context_destroy(ctx);
    ssize_t ignored = write(fds[1], msg, strlen(msg));
    (void)ignored;
    close(fds[1]);
    _exit(usable && s == INC_OK ? (emulated ? 2 : 0) : 1);
  }
  close(fds[1]);
  size_t used = 0;
  why[0] = '\0';
  for (;;) {
    ssize_t r = read(fds[0], why + used, cap - 1 - used);
    if (r <= 0) break;
    used += (size_t)r;
    if (used >= cap - 1) break;
  }
  why[used] = '\0';
  close(fds[0]);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) {
    snprintf(why, cap, "lost the probe process");
    return 0;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 1;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 2) return 2;
  if (WIFSIGNALED(status)) snprintf(why, cap, "the probe died of signal %d", WTERMSIG(status));
  if (!why[0]) snprintf(why, cap, "no usable CUDA device");
  return 0;
}

int tu_cuda_probe(char *why, size_t cap)
{
  /* Each CUDA suite asks while the runner registers its suites: one child
   * answers for all of them (the parent never initialises CUDA). */
  static int done, kind;
  static char reason[INC__ERR_CAP];
  if (!done) {
    kind = probe_in_child(reason, sizeof reason);
    done = 1;
  }
  snprintf(why, cap, "%s", reason);
  return kind;
}

inc_context *tu_cuda_context(void)
{
  const tu_cudaemu *emu = tu_emu();
  if (emu) emu->reset();
  inc_context *ctx = NULL;
  inc_status s = inc_context_create(INC_BACKEND_CUDA, &ctx);
  ck_assert_msg(s == INC_OK, "inc_context_create(CUDA): %s", inc_status_string(s));
  INC_CK(ctx, inc_context_set_seed(ctx, 1));
  return ctx;
}

void tu_cuda_check_clean(const char *where)
{
  const tu_cudaemu *emu = tu_emu();
  if (!emu) return;
  size_t bytes = 0;
  long dev = emu->live_device(&bytes), pinned = emu->live_pinned();
  long streams = emu->live_streams(), handles = emu->live_handles();
  if (dev || pinned || streams || handles) emu->report_leaks();
  ck_assert_msg(!dev && !pinned && !streams && !handles,
                "%s: left %ld device allocations (%zu bytes), %ld pinned, %ld streams, "
                "%ld cuBLAS handles (listed on stderr)",
                where, dev, bytes, pinned, streams, handles);
  long v = emu->violations();
  ck_assert_msg(v == 0, "%s: the emulated runtime reported %ld misuses (on stderr)", where, v);
}

inc_context *tu_backend(int b) { return b ? tu_cuda_context() : tu_cpu(); }

void tu_backend_done(inc_context *ctx, int b)
{
  inc_context_destroy(ctx);
  if (b) tu_cuda_check_clean("after the test");
}
