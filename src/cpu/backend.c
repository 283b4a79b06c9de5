/*
 * backend.c — the CPU backend: host memory, SGEMM through oneDNN's
 * dnnl_sgemm (the default build, -DINC_CPU_GEMM_ONEDNN) or, built with
 * `make GEMM=openblas`, CBLAS (OpenBLAS), and the table that gathers, by
 * name, the CPU ops of the other files in src/cpu/. With the context's precision BF16 (oneDNN builds) gemm
 * goes to gemm_bf16.c instead (gemm_batched stays float32). A B whose rows
 * alias in the cache is read from copies of its column blocks (pack_cols).
 *
 * Memory is plain host memory, so upload/download are memcpy. The BLAS
 * thread count follows the context's setting (a process-wide OpenBLAS
 * setting, documented in inception.h; oneDNN's OpenMP build takes the
 * calling thread's OpenMP count, set for the call and restored after);
 * OpenMP loops pass theirs per loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/mman.h>
#include <omp.h>
#include "cpu.h"
#ifdef INC_CPU_GEMM_ONEDNN
#include <dnnl.h>
#include <dnnl_debug.h>
#else
#include <cblas.h>

/* OpenBLAS extensions, declared here so any cblas.h will do. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);
int openblas_get_parallel(void); /* 0 sequential, 1 pthreads, 2 OpenMP */
#endif

int inc__cpu_threads(const inc_context *ctx, int64_t work)
{
  if (work < 16384) return 1;
  return ctx->num_threads > 0 ? ctx->num_threads : omp_get_max_threads();
}

int inc__cpu_avx512(void)
{
#if INC__CPU_X86
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
#else
  return 0;
#endif
}

inc__cpu_state *inc__cpu_state_get(inc_context *ctx)
{
  if (!ctx->be) ctx->be = inc__calloc(1, sizeof(inc__cpu_state));
  return (inc__cpu_state *)ctx->be;
}

/* The CPU backend's state (cpu.h): the bf16 GEMMs' and gemm's copies. */
static void cpu_destroy(inc_context *ctx)
{
  inc__cpu_state *cs = (inc__cpu_state *)ctx->be;
  inc__cpu_bf16_enable(ctx, 0);
  if (cs) inc__free(cs->pack);
  inc__free(cs);
  ctx->be = NULL;
}

/* Allocations of HUGE_MIN bytes and more (the plans' arenas, large
 * parameters and caches) are aligned to HUGE_ALIGN and marked for
 * transparent huge pages, which a system set to "madvise" (Debian's
 * default) gives only to memory that asks. */
#define HUGE_MIN ((size_t)4 << 20)
#define HUGE_ALIGN ((size_t)2 << 20)

static inc_status cpu_alloc(void **out, size_t bytes, inc_context *ctx)
{
  void *p = NULL;
  if (bytes >= HUGE_MIN && bytes <= SIZE_MAX - HUGE_ALIGN) { /* the rounding cannot wrap */
    const size_t whole = (bytes + HUGE_ALIGN - 1) / HUGE_ALIGN * HUGE_ALIGN;
    p = inc__aligned_alloc(HUGE_ALIGN, whole);
    if (p) {
      (void)madvise(p, whole, MADV_HUGEPAGE); /* a hint: refused, the pages stay small */
      memset(p, 0, bytes);
    }
  } else {
    p = inc__calloc(1, bytes);
  }
  if (!p)
    return inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "CPU backend: cannot allocate %zu bytes",
                      bytes);
  *out = p;
  return INC_OK;
}

static void cpu_free(void *p, inc_context *ctx)
{
  (void)ctx;
  inc__free(p);
}

static inc_status cpu_copy(void *dst, const void *src, size_t bytes, inc_context *ctx)
{
  if (!bytes || dst == src) return INC_OK;
  if (inc__ranges_overlap(dst, src, bytes))
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "CPU backend: copy: the %zu-byte ranges at %p and %p overlap", bytes, dst,
                      src);
  memcpy(dst, src, bytes);
  return INC_OK;
}

static inc_status cpu_zero(void *dst, size_t bytes, inc_context *ctx)
{
  (void)ctx;
  if (bytes) memset(dst, 0, bytes);
  return INC_OK;
}

static inc_status cpu_synchronize(inc_context *ctx)
{
  (void)ctx;
  return INC_OK;
}

static inc_status cpu_native_stream(void **out, inc_context *ctx)
{
  (void)ctx;
  *out = NULL; /* the CPU's work is done when a call returns */
  return INC_OK;
}

/* One row-major SGEMM call: c (m, n) = alpha op(a) op(b) + beta c with the
 * leading dimensions of the full operands (ldc may exceed n). Returns 0 or
 * the GEMM library's failure code (CBLAS has none; sgemm_error reports it):
 * a plain int, so that threads of a parallel region can hand it back. */
static int sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                 int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
#ifdef INC_CPU_GEMM_ONEDNN
  dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb,
                                beta, c, ldc);
  return st == dnnl_success ? 0 : (int)st;
#else
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
  return 0;
#endif
}

/* The context error for sgemm's failure code, naming the call and dims. */
static inc_status sgemm_error(inc_context *ctx, int code, int64_t m, int64_t n, int64_t k)
{
#ifdef INC_CPU_GEMM_ONEDNN
  dnnl_status_t st = (dnnl_status_t)code;
  inc_status s = st == dnnl_out_of_memory       ? INC_ERR_OUT_OF_MEMORY
                 : st == dnnl_invalid_arguments ? INC_ERR_INVALID_ARGUMENT
                                                : INC_ERR_DEVICE;
  return inc__error(ctx, s, "CPU gemm: dnnl_sgemm (m %lld, n %lld, k %lld) failed: %s",
                    (long long)m, (long long)n, (long long)k, dnnl_status2str(st));
#else
  return inc__error(ctx, INC_ERR_DEVICE, "CPU gemm: cblas_sgemm (m %lld, n %lld, k %lld) "
                    "failed (code %d)", (long long)m, (long long)n, (long long)k, code);
#endif
}

/* Whether the GEMM library, called inside one of our parallel regions, runs
 * single-threaded on the calling thread by itself: OpenBLAS's OpenMP build
 * and oneDNN's OpenMP build do (neither opens a nested team); telling
 * OpenBLAS so would also set omp_set_num_threads(1) for the calling thread,
 * which is not ours to change. */
static int gemm_alone_in_region(void)
{
#ifdef INC_CPU_GEMM_ONEDNN
  return dnnl_version()->cpu_runtime == DNNL_RUNTIME_OMP;
#else
  return openblas_get_parallel() == 2;
#endif
}

/* One SGEMM outside our parallel regions on `want` threads. OpenBLAS: its
 * process-wide count. oneDNN's OpenMP build uses omp_get_max_threads() of
 * the calling thread: set for the call, the caller's value restored. */
static int sgemm_threaded(int want, int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                          const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                          float *c, int64_t ldc)
{
#ifdef INC_CPU_GEMM_ONEDNN
  const int before = omp_get_max_threads();
  if (before != want) omp_set_num_threads(want);
  int code = sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (before != want) omp_set_num_threads(before);
  return code;
#else
  if (openblas_get_num_threads() != want) openblas_set_num_threads(want);
  return sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

#ifndef INC_CPU_GEMM_SPLIT
#define INC_CPU_GEMM_SPLIT 1
#endif

/* With several threads, a GEMM whose output splits into per-thread blocks
 * of a useful size runs as that many single-threaded SGEMMs side by side,
 * each on its own columns (or rows) of c, instead of OpenBLAS's threading
 * (which synchronises its threads on every panel: on 2 cores the D2L
 * GoogLeNet's GEMMs scaled about 1.5x that way). Returns 'n', 'm' or 0
 * (let OpenBLAS thread it). */
static int split_dim(int64_t m, int64_t n, int64_t k, int threads)
{
  if (!INC_CPU_GEMM_SPLIT || threads < 2 || m * n * k < ((int64_t)1 << 22)) return 0;
  if (!gemm_alone_in_region()) return 0;
  if (n >= 64 * threads && n >= m) return 'n';
  if (m >= 64 * threads) return 'm';
  return 0;
}

/* Copies of B. When B's rows lie a multiple of 4 KiB apart (B an
 * activation or col of N*OH*OW columns: 72 KiB at 12x12 maps and batch
 * 128, 288 KiB at 24x24, 1.1 MiB at the 96x96 stem's 48x48) the GEMM's
 * reads down a column block of B fall into the same cache sets (L1's
 * 4 KiB period; L2's too with huge pages) and evict each other. Measured
 * on an Intel Xeon (2 threads, oneDNN, 2026-12-03): m 128, n 18432, k 256
 * at 85 GFLOP/s, against 150 for the same GEMM from copies of B's blocks
 * of PACK_COLS columns with rows PACK_COLS + 16 floats apart (7.3 against
 * 13.3 ms in the 96x96 network); a training step's NN GEMMs of such B,
 * summed one call per shape, 526 -> 480 ms (all shapes, noise included). Only for k >= PACK_MIN_K
 * rows (the copy's cost is the size of B; with fewer rows the reads fit
 * anyway), and B non-transposed (a transposed B's rows are n's). */
#define PACK_COLS 512
#define PACK_MIN_K 48
#define PACK_MAX_FLOATS ((int64_t)1 << 20) /* a thread's copy: 4 MiB */

/* Columns a copy of B may hold (a multiple of 16, at least 64), or 0 when
 * this GEMM reads B in place. */
static int64_t pack_cols(int trans_b, int64_t ldb, int64_t n, int64_t k)
{
  if (trans_b || ldb % 1024 || k < PACK_MIN_K || n < 64) return 0;
  int64_t cols = PACK_MAX_FLOATS / k / 16 * 16;
  if (cols > PACK_COLS) cols = PACK_COLS;
  return cols >= 64 ? cols : 0;
}

/* The copy buffer for `threads` copies of k rows of cols + 16 floats, from
 * the backend's state; NULL when it cannot be had (B is then read in
 * place: nothing fails for want of it). */
static float *pack_buffer(inc_context *ctx, int threads, int64_t k, int64_t cols)
{
  inc__cpu_state *cs = inc__cpu_state_get(ctx);
  const size_t want = (size_t)threads * (size_t)(k * (cols + 16));
  if (!cs) return NULL;
  if (cs->pack_floats < want) {
    float *p = (float *)inc__aligned_alloc(64, want * sizeof(float));
    if (!p) return NULL;
    inc__free(cs->pack);
    cs->pack = p;
    cs->pack_floats = want;
  }
  return cs->pack;
}

/* Columns lo..hi of c (m, n; ldc n) = alpha op(a) b + beta c, B (k, ldb)
 * not transposed: from copies of B's column blocks in pack (k rows of
 * cols + 16 floats), one SGEMM per block, each on `threads` threads (0:
 * inside our parallel region, single-threaded). Returns 0 or the first
 * failure code. */
static int sgemm_packed(int threads, int ta, int64_t m, int64_t lo, int64_t hi, int64_t k,
                        float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                        float beta, float *c, int64_t ldc, float *pack, int64_t cols)
{
  const int64_t ld = cols + 16;
  int code = 0;
  for (int64_t j = lo; j < hi && !code; j += cols) {
    const int64_t w = hi - j < cols ? hi - j : cols;
    for (int64_t r = 0; r < k; r++) /* pack (k, ld) = b[:, j..j+w) */
      memcpy(pack + r * ld, b + r * ldb + j, (size_t)w * sizeof(float));
    code = threads ? sgemm_threaded(threads, ta, 0, m, w, k, alpha, a, lda, pack, ld, beta,
                                    c + j, ldc)
                   : sgemm(ta, 0, m, w, k, alpha, a, lda, pack, ld, beta, c + j, ldc);
  }
  return code;
}

/* The threads a GEMM may use: the context's count, but OpenBLAS's OpenMP
 * build waits for every thread it asked for: never ask for more than an
 * OpenMP team can get (OMP_THREAD_LIMIT, e.g. 1 in the TSan check), or a
 * GEMM spins forever. */
static int gemm_threads(const inc_context *ctx)
{
  int want = ctx->num_threads > 0 ? ctx->num_threads : omp_get_max_threads();
  if (want > omp_get_thread_limit()) want = omp_get_thread_limit();
  return want < 1 ? 1 : want;
}

/* gemm in float32, whatever the context's precision. */
static inc_status gemm_f32(float *c, const float *a, const float *b, int trans_a, int trans_b,
                           int64_t m, int64_t n, int64_t k, float alpha, float beta,
                           inc_context *ctx)
{
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
    return inc__error(ctx, INC_ERR_SHAPE, "CPU gemm: dims %lld x %lld x %lld exceed BLAS int",
                      (long long)m, (long long)n, (long long)k);
  const int want = gemm_threads(ctx);
  const int64_t lda = trans_a ? m : k, ldb = trans_b ? k : n;
  const int dim = split_dim(m, n, k, want);
  /* B copied in blocks when its rows alias in the cache: by the threads of
   * a split along n, or by a single-threaded call */
  const int64_t cols = dim == 'n' || (!dim && want == 1) ? pack_cols(trans_b, ldb, n, k) : 0;
  float *pack = cols ? pack_buffer(ctx, dim ? want : 1, k, cols) : NULL;
  int fail = 0; /* the first failure code of the call */
  if (!dim) {
    fail = pack ? sgemm_packed(want, trans_a, m, 0, n, k, alpha, a, lda, b, ldb, beta, c, n,
                               pack, cols)
                : sgemm_threaded(want, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta,
                                 c, n);
    return fail ? sgemm_error(ctx, fail, m, n, k) : INC_OK;
  }
  /* each thread one block of columns (rows), 16-aligned; the GEMM library
   * sees it is inside a parallel region and runs single-threaded */
  const int64_t len = dim == 'n' ? n : m;
#pragma omp parallel num_threads(want)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t lo = len * t / nt / 16 * 16, hi = t == nt - 1 ? len : len * (t + 1) / nt / 16 * 16;
    int code = 0;
    if (hi > lo && pack) {
      code = sgemm_packed(0, trans_a, m, lo, hi, k, alpha, a, lda, b, ldb, beta, c, n,
                          pack + (size_t)t * (size_t)(k * (cols + 16)), cols);
    } else if (hi > lo) {
      if (dim == 'n')
        code = sgemm(trans_a, trans_b, m, hi - lo, k, alpha, a, lda,
                     trans_b ? b + lo * ldb : b + lo, ldb, beta, c + lo, n);
      else
        code = sgemm(trans_a, trans_b, hi - lo, n, k, alpha, trans_a ? a + lo : a + lo * lda, lda,
                     b, ldb, beta, c + lo * n, n);
    }
    if (code) {
#pragma omp critical(inc_cpu_gemm_fail)
      if (!fail) fail = code;
    }
  }
  return fail ? sgemm_error(ctx, fail, m, n, k) : INC_OK;
}

inc_status inc__cpu_gemm(float *c, const float *a, const float *b, int trans_a, int trans_b,
                         int64_t m, int64_t n, int64_t k, float alpha, float beta,
                         inc_context *ctx)
{
  if (ctx->precision == INC_PRECISION_BF16)
    return inc__cpu_gemm_bf16(c, a, b, trans_a, trans_b, m, n, k, 1, m * n, m * k, k * n, alpha,
                              beta, gemm_threads(ctx), ctx);
  return gemm_f32(c, a, b, trans_a, trans_b, m, n, k, alpha, beta, ctx);
}

/* A batch of GEMMs runs one item per thread, each a single-threaded SGEMM,
 * in one parallel region (the per-call cost of a region and of OpenBLAS's
 * thread synchronisation paid once, not per item: Winograd's T*T products
 * on small batches and maps), when there are several threads, at least as
 * many items, and items that inc__cpu_gemm would not split across the
 * threads on its own (such a large item pays its region's cost easily).
 * Otherwise the items go one after the other through gemm_f32. */
static int batch_parallel(int64_t m, int64_t n, int64_t k, int64_t batch, int threads)
{
  if (!INC_CPU_GEMM_SPLIT || threads < 2 || batch < threads || split_dim(m, n, k, threads))
    return 0;
  return gemm_alone_in_region();
}

inc_status inc__cpu_gemm_batched(float *c, const float *a, const float *b, int trans_a,
                                 int trans_b, int64_t m, int64_t n, int64_t k, int64_t batch,
                                 int64_t stride_c, int64_t stride_a, int64_t stride_b,
                                 float alpha, float beta, inc_context *ctx)
{
  /* c_i (m, n) = alpha op(a_i) op(b_i) + beta c_i, i < batch */
  inc_status s = inc__gemm_batched_check(ctx, "CPU", m, n, k, batch, stride_c, stride_a,
                                         stride_b);
  const int want = gemm_threads(ctx);
  if (s != INC_OK || m == 0 || n == 0) return s;
  /* float32 whatever the precision: Winograd's products (gemm_bf16.c says why) */
  if (!batch_parallel(m, n, k, batch, want)) {
    for (int64_t i = 0; i < batch && s == INC_OK; i++)
      s = gemm_f32(c + i * stride_c, a + i * stride_a, b + i * stride_b, trans_a, trans_b, m, n,
                   k, alpha, beta, ctx);
    return s;
  }
  const int64_t lda = trans_a ? m : k, ldb = trans_b ? k : n;
  int fail = 0; /* the first failure code of the batch */
#pragma omp parallel for num_threads(want) schedule(static)
  for (int64_t i = 0; i < batch; i++) {
    int code = sgemm(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b,
                     ldb, beta, c + i * stride_c, n);
    if (code) {
#pragma omp critical(inc_cpu_gemm_fail)
      if (!fail) fail = code;
    }
  }
  return fail ? sgemm_error(ctx, fail, m, n, k) : INC_OK;
}

/* The table, filled by name: the memory slots by hand, the ops from the
 * registry (every one, so the supports mask is the registry's). */
#define CPU_OP(op, params, args, prof) .op = inc__cpu_##op,
static const inc__backend_ops cpu_ops = {
    .name = "cpu",
    .supports = INC__OPS_ALL,
    .destroy = cpu_destroy,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .copy = cpu_copy,
    .zero = cpu_zero,
    .synchronize = cpu_synchronize,
    .native_stream = cpu_native_stream,
    INC__OPS(CPU_OP)
};
#undef CPU_OP

void inc__cpu_describe(inc_context *ctx)
{
  int n = ctx->num_threads > 0 ? ctx->num_threads : omp_get_max_threads();
#ifdef INC_CPU_GEMM_ONEDNN
  const dnnl_version_t *v = dnnl_version();
  snprintf(ctx->device_name, sizeof ctx->device_name, "CPU (%d thread%s, oneDNN %d.%d.%d sgemm)",
           n, n == 1 ? "" : "s", v->major, v->minor, v->patch);
#else
  /* the OpenBLAS kernel set, so that a slow fallback (Prescott on CPUs
   * newer than the OpenBLAS release) shows; see docs/performance.md */
  const char *core = openblas_get_corename();
  snprintf(ctx->device_name, sizeof ctx->device_name, "CPU (%d thread%s, OpenBLAS %s)", n,
           n == 1 ? "" : "s", core ? core : "?");
#endif
}

inc_status inc__cpu_backend_init(inc_context *ctx)
{
  ctx->ops = &cpu_ops;
  ctx->be = NULL;
  inc__cpu_describe(ctx);
  return INC_OK;
}
