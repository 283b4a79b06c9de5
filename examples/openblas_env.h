/*
 * openblas_env.h — works around OpenBLAS picking slow kernels on CPUs it
 * does not know, for the example programs (header only, no library state).
 *
 * OpenBLAS (0.3.21 in Debian 12) chooses its kernels once, when it loads:
 * from OPENBLAS_CORETYPE if set, else from the CPU model. A model newer
 * than the release (Sapphire/Emerald Rapids and later) falls back to the
 * Prescott (SSE3) kernels, several times slower than the AVX-512 ones. The
 * library cannot fix that without touching the process environment, which
 * it never does; a program can: inc_example_openblas_env() re-executes the
 * program with OPENBLAS_CORETYPE set (SkylakeX on AVX-512, Haswell on AVX2)
 * when it is unset, OpenBLAS reports Prescott and the CPU can do better.
 * It does the same (SkylakeX) where OpenBLAS picks its Cooperlake kernels
 * (as it does on AMD EPYC processors with AVX-512 BF16): their threaded
 * SGEMM gives results that depend on what the process computed before, in
 * the last bit (measured, 2026-12-01: a trainer run resumed after epoch 1
 * ended epoch 2 with loss 2.358970 where the uninterrupted run had
 * 2.358969), which breaks the trainer's bit-for-bit --resume; with the
 * SkylakeX kernels, which such a CPU runs as well, the same runs agree to
 * the bit.
 * It returns a line describing the OpenBLAS core in use. In a library
 * built with GEMM=onednn, which links no OpenBLAS, the (weak) name is NULL
 * and it returns a line saying so and does nothing else.
 */
#ifndef INC_EXAMPLE_OPENBLAS_ENV_H
#define INC_EXAMPLE_OPENBLAS_ENV_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* OpenBLAS extension; weak: NULL when no OpenBLAS is linked (GEMM=onednn) */
char *openblas_get_corename(void) __attribute__((weak));

static const char *inc_example_openblas_env(char **argv)
{
  static char line[128];
  if (!openblas_get_corename) return "no OpenBLAS (the library's GEMM is oneDNN's)";
  const char *core = openblas_get_corename();
  const char *set = getenv("OPENBLAS_CORETYPE");
  if (set) {
    snprintf(line, sizeof line, "OpenBLAS core %s (OPENBLAS_CORETYPE=%s)", core, set);
    return line;
  }
  const char *want = NULL;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  if (core && !strcasecmp(core, "Prescott")) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2")) want = "Haswell";
  } else if (core && !strcasecmp(core, "Cooperlake")) {
    want = "SkylakeX";
  }
#endif
  if (want && setenv("OPENBLAS_CORETYPE", want, 1) == 0) {
    fflush(NULL);
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE"); /* exec failed: go on as we are */
  }
  snprintf(line, sizeof line, "OpenBLAS core %s%s", core ? core : "?",
           want ? " (re-exec with OPENBLAS_CORETYPE failed)" : "");
  return line;
}

#endif /* INC_EXAMPLE_OPENBLAS_ENV_H */
