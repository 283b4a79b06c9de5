/*
 * sgd.c — the CPU SGD update (PyTorch's rule with momentum and weight
 * decay), one parameter element per iteration through inc__k_sgd.
 *
 * The body rounds with fmaf, which a baseline x86-64 build turns into a
 * libm call per element; the loop is therefore also compiled for CPUs with
 * FMA (AVX2-era CPUs and AVX-512), where fmaf is one instruction.
 * fmaf is correctly rounded either way, so every clone gives the same bits.
 */
#include <omp.h>
#include "cpu.h"

/* The body with momentum and weight decay known to be zero or not, so that
 * each case is a branch-free loop the compiler vectorizes. */
#define SGD_LOOP(m, wd)                                                                         \
  do {                                                                                          \
    _Pragma("omp simd") for (int64_t i = lo; i < hi; i++)                                       \
        inc__k_sgd(param, buf, grad, i, lr, (m), (wd), first);                                  \
  } while (0)

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    defined(__GLIBC__) /* target_clones needs glibc's ifunc */
__attribute__((flatten, target_clones("avx512f", "fma", "default")))
#endif
static void sgd_range(float *param, float *buf, const float *grad, int64_t lo, int64_t hi,
                      float lr, float momentum, float weight_decay, int first)
{
  if (momentum == 0.0f && weight_decay == 0.0f)
    SGD_LOOP(0.0f, 0.0f);
  else if (momentum == 0.0f)
    SGD_LOOP(0.0f, weight_decay);
  else if (weight_decay == 0.0f)
    SGD_LOOP(momentum, 0.0f);
  else
    SGD_LOOP(momentum, weight_decay);
}

inc_status inc__cpu_sgd(float *param, float *buf, const float *grad, int64_t count, float lr,
                        float momentum, float weight_decay, int first, inc_context *ctx)
{
#pragma omp parallel num_threads(inc__cpu_threads(ctx, count))
  {
    const int64_t nt = omp_get_num_threads(), me = omp_get_thread_num();
    sgd_range(param, buf, grad, count * me / nt, count * (me + 1) / nt, lr, momentum,
              weight_decay, first);
  }
  return INC_OK;
}
