/*
 * bench_gemm_blis.c — examples/bench_gemm's adapter for BLIS (Debian's
 * libblis-dev, 0.9 in Debian 12), built into examples/bench_gemm_blis.so.
 *
 * Debian ships BLIS in three threading flavours (openmp, pthread, serial)
 * behind update-alternatives; this adapter is linked with the OpenMP one
 * by path (mk/bench.mk), like the library's OpenBLAS, so that every
 * library in the comparison threads through the same libgomp pool. The
 * calls go through BLIS's CBLAS interface (its cblas_sgemm, which calls
 * its own sgemm_: the bench opens this module with RTLD_DEEPBIND so that
 * neither resolves to OpenBLAS's functions of the same names). Threads:
 * bli_thread_set_num_threads, a process-wide setting: n for a call made
 * outside a parallel region; inside the bench's OpenMP team BLIS's OpenMP
 * build runs on the calling thread only (libgomp starts no nested team),
 * and the bench sets 1 before it starts such a team besides.
 */
#include <stdio.h>
#include <blis.h>

#include "bench_gemm.h"

static int blis_open(char *info, size_t len)
{
  snprintf(info, len, "BLIS %s, kernels %s, %s", bli_info_get_version_str(),
           bli_arch_string(bli_arch_query_id()),
           bli_info_get_enable_openmp() ? "OpenMP" : "not the OpenMP build");
  return 0;
}

static void blis_threads(int n) { bli_thread_set_num_threads((dim_t)n); }

static int blis_gemm(void *state, const bg_shape *s, const float *a, const float *b, float *c)
{
  (void)state;
  cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
              s->m, s->n, s->k, s->alpha, a, s->lda, b, s->ldb, s->beta, c, s->ldc);
  return 0; /* CBLAS reports nothing */
}

static const bg_lib libs[] = {
    {.name = "BLIS", .open = blis_open, .threads = blis_threads, .gemm = blis_gemm},
};

__attribute__((visibility("default"))) const bg_lib *bench_gemm_adapter(int *n);
const bg_lib *bench_gemm_adapter(int *n)
{
  *n = (int)(sizeof libs / sizeof libs[0]);
  return libs;
}
