/*
 * bench_gemm_xsmm.c — examples/bench_gemm's adapter for libxsmm (Debian's
 * libxsmm-dev, 1.17 in Debian 12), built into examples/bench_gemm_xsmm.so.
 *
 * Debian ships libxsmm as static archives only, so the adapter links
 * libxsmm.a and libxsmmext.a into its module (mk/bench.mk) and the bench
 * opens that. The call is libxsmm_sgemm_omp (libxsmmext): libxsmm cuts the
 * GEMM into tiles that its JIT-generated kernels multiply (the dispatch
 * API, libxsmm_smmdispatch, underneath) and runs the tiles on an OpenMP
 * team of omp_get_max_threads() threads — set from the bench's thread
 * count with omp_set_num_threads — when called outside a parallel region,
 * and all on the calling thread inside one (the bench's team for a call
 * the library made inside its own). libxsmm's plain libxsmm_sgemm would
 * be single-threaded and hands every shape above its small-matrix limit
 * (M N K > 64^3) to the BLAS, so it would mostly measure OpenBLAS.
 *
 * Where libxsmm cannot make a tiling for a shape, it too falls back to
 * the BLAS: its libxsmm_original_sgemm_function, which this adapter sets
 * to a counter in front of the sgemm_ the process has (OpenBLAS's, looked
 * up when the module loads); the bench reads the count per shape and
 * marks such a column, because it is OpenBLAS's time.
 */
#include <stdio.h>
#include <omp.h>
#include <libxsmm.h>

#include "bench_gemm.h"

/* The Fortran BLAS SGEMM of the process (OpenBLAS's): an undefined
 * reference of this module, bound when it loads. */
void sgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
            const float *alpha, const float *a, const int *lda, const float *b, const int *ldb,
            const float *beta, float *c, const int *ldc);

static long nfallback;

static void counted_sgemm(const char *ta, const char *tb, const libxsmm_blasint *m,
                          const libxsmm_blasint *n, const libxsmm_blasint *k, const float *alpha,
                          const float *a, const libxsmm_blasint *lda, const float *b,
                          const libxsmm_blasint *ldb, const float *beta, float *c,
                          const libxsmm_blasint *ldc)
{
#pragma omp atomic
  nfallback++;
  sgemm_(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static int xsmm_open(char *info, size_t len)
{
  libxsmm_init();
  libxsmm_original_sgemm_function = counted_sgemm;
  snprintf(info, len, "libxsmm %d.%d, target %s, libxsmm_sgemm_omp (OpenMP tiles)",
           LIBXSMM_VERSION_MAJOR, LIBXSMM_VERSION_MINOR, libxsmm_get_target_arch());
  return 0;
}

static void xsmm_threads(int n) { omp_set_num_threads(n); }

/* libxsmm is column-major, like the Fortran BLAS: the row-major
 * c = op(a) op(b) is the column-major c^T = op(b)^T op(a)^T. */
static int xsmm_gemm(void *state, const bg_shape *s, const float *a, const float *b, float *c)
{
  (void)state;
  const char ta = s->ta ? 'T' : 'N', tb = s->tb ? 'T' : 'N';
  const libxsmm_blasint m = s->n, n = s->m, k = s->k, lda = s->ldb, ldb = s->lda, ldc = s->ldc;
  libxsmm_sgemm_omp(&tb, &ta, &m, &n, &k, &s->alpha, b, &lda, a, &ldb, &s->beta, c, &ldc);
  return 0; /* libxsmm reports nothing */
}

static long xsmm_fallbacks(void)
{
  long n;
#pragma omp atomic read
  n = nfallback;
  return n;
}

static const bg_lib libs[] = {
    {.name = "libxsmm",
     .open = xsmm_open,
     .threads = xsmm_threads,
     .gemm = xsmm_gemm,
     .fallbacks = xsmm_fallbacks},
};

__attribute__((visibility("default"))) const bg_lib *bench_gemm_adapter(int *n);
const bg_lib *bench_gemm_adapter(int *n)
{
  *n = (int)(sizeof libs / sizeof libs[0]);
  return libs;
}
