/*
 * pool_s2.c — the CPU max pooling of 3x3 stride-2 windows (GoogLeNet's
 * downsampling pools between its stages) on planes wide enough to
 * vectorise along their rows, for src/cpu/pool.c's inc__cpu_maxpool_fwd.
 * The lanes path there transposes 16 planes into one register's lanes and
 * back, which cost more than the pooling itself; here each plane streams
 * through once. With AVX-512 a row of 16 outputs takes its three window
 * columns from two loads by permutes (even and odd input columns), the
 * three columns combine into a row maximum, and three row maxima into the
 * output, each combination with the body's rule in the body's order, so
 * values and argmax are the body's (the op table checks them at
 * tolerance 0).
 */
#include <math.h>
#include <omp.h>
#include "cpu.h"

#if INC__CPU_X86
#include <immintrin.h>

/* The body's rule for the next element v of a window after best: take it
 * if it is larger or a NaN (the first maximum wins, a NaN propagates). */
__attribute__((target("avx512f"))) static inline __mmask16 takes(__m512 v, __m512 best)
{
  return _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
}

/* Columns a .. a+n-1 (n <= 16) of a row of w values into the first n
 * lanes, -inf where a column lies outside [0, w) and in the other lanes;
 * masked-off lanes read nothing. */
__attribute__((target("avx512f"))) static inline __m512 load_cols(const float *row, int64_t w,
                                                                   int64_t a, int64_t n)
{
  if (a >= 0 && a + n <= w && n == 16) return _mm512_loadu_ps(row + a);
  const int64_t lo = a < 0 ? -a : 0, hi = w - a < n ? (w - a > 0 ? w - a : 0) : n;
  const __mmask16 ok = hi <= lo ? 0 : (__mmask16)(((1u << (hi - lo)) - 1u) << lo);
  return _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), ok, row + a);
}

/* Row r of a plane (rows w apart) at outputs ow0 .. ow0+15: the maximum of
 * window columns c = 2*ow - pw + j, j = 0, 1, 2 in that order (*best), and
 * the column it came from (*col, when col is not NULL). Columns outside
 * [0, w) read -inf; only column j = 0 can lie before the row, and it is
 * then passed over (the body starts at the first valid element); one after
 * it is never taken (-inf is larger than nothing, and not a NaN). */
__attribute__((target("avx512f"))) static inline void row_max(__m512 *best, __m512i *col,
                                                               const float *row, int64_t w,
                                                               int64_t ow0, int pw)
{
  const int64_t c0 = 2 * ow0 - pw; /* input column of lane 0's j = 0 */
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512 v0 = load_cols(row, w, c0, 16), v1 = load_cols(row, w, c0 + 16, 16);
  const __m512 v2 = load_cols(row, w, c0 + 32, 1);
  const __m512 t0 = _mm512_permutex2var_ps(v0, even, v1); /* column c0 + 2i */
  const __m512 t1 = _mm512_permutex2var_ps(v0, odd, v1);  /* c0 + 2i + 1 */
  const __m512i sh = _mm512_add_epi32(even, _mm512_set1_epi32(2));
  /* c0 + 2i + 2: lanes 0..14 from v0 and v1, lane 15 is column c0 + 32 */
  __m512 t2 = _mm512_permutex2var_ps(v0, sh, v1);
  t2 = _mm512_mask_mov_ps(t2, (__mmask16)0x8000, _mm512_permutexvar_ps(_mm512_setzero_si512(), v2));
  const __mmask16 first_out = c0 < 0 ? (__mmask16)1 : 0; /* lane 0's j = 0 lies before the row */
  __m512 b = t0;
  __mmask16 k1 = takes(t1, b) | first_out;
  b = _mm512_mask_mov_ps(b, k1, t1);
  __mmask16 k2 = takes(t2, b);
  *best = _mm512_mask_mov_ps(b, k2, t2);
  if (col) {
    __m512i c = _mm512_add_epi32(_mm512_set1_epi32((int32_t)c0),
                                 _mm512_slli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8,
                                                                     9, 10, 11, 12, 13, 14, 15),
                                                   1));
    c = _mm512_mask_add_epi32(c, k1 & ~k2, c, _mm512_set1_epi32(1));
    *col = _mm512_mask_add_epi32(c, k2, c, _mm512_set1_epi32(2));
  }
}

/* Planes [p0, p1) of y and arg (may be NULL) from x. */
__attribute__((target("avx512f"))) static void maxpool_s2_avx512(float *y, int32_t *arg,
                                                                  const float *x,
                                                                  const inc__window *g,
                                                                  int64_t p0, int64_t p1)
{
  const int64_t h = g->h, w = g->w, oh_n = g->oh, ow_n = g->ow, hw = h * w, ohw = oh_n * ow_n;
  const int64_t pf = (hw * 4 / oh_n + 64) & ~(int64_t)63; /* bytes prefetched per output row */
  for (int64_t pl = p0; pl < p1; pl++) {
    const float *plane = x + pl * hw;
    for (int64_t ow0 = 0; ow0 < ow_n; ow0 += 16) {
      const __mmask16 out =
          ow_n - ow0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (ow_n - ow0)) - 1u);
      /* the last row of a window is the first of the next one's: kept */
      int64_t kept = -1;
      __m512 kv = _mm512_setzero_ps();
      __m512i kc = _mm512_setzero_si512();
      for (int64_t oh = 0; oh < oh_n; oh++) {
        if (ow0 == 0 && pl + 1 < p1) /* the next plane into the cache, a share per row */
          for (int64_t b = oh * pf; b < (oh + 1) * pf && b < hw * 4; b += 64)
            _mm_prefetch((const char *)(plane + hw) + b, _MM_HINT_T0);
        const int64_t r0 = oh * 2 - g->ph;
        const int64_t i0 = r0 < 0 ? 0 : r0, i1 = r0 + 3 > h ? h : r0 + 3; /* valid rows */
        __m512 best = _mm512_set1_ps(-INFINITY); /* no valid row: the body's -inf, -1 */
        __m512i bi = _mm512_set1_epi32(-1);
        for (int64_t i = i0; i < i1; i++) {
          __m512 v = kv;
          __m512i c = kc;
          if (i != kept) row_max(&v, arg ? &c : NULL, plane + i * w, w, ow0, g->pw);
          const __mmask16 k = i == i0 ? (__mmask16)0xFFFF : takes(v, best);
          best = _mm512_mask_mov_ps(best, k, v);
          if (arg)
            bi = _mm512_mask_mov_epi32(bi, k,
                                       _mm512_add_epi32(c, _mm512_set1_epi32((int32_t)(i * w))));
          kept = i, kv = v, kc = c;
        }
        _mm512_mask_storeu_ps(y + pl * ohw + oh * ow_n + ow0, out, best);
        if (arg) _mm512_mask_storeu_epi32(arg + pl * ohw + oh * ow_n + ow0, out, bi);
      }
    }
  }
}
#endif

int inc__cpu_maxpool_s2(float *y, int32_t *arg, const float *x, const inc__window *g, int isa,
                        inc_context *ctx)
{
#if INC__CPU_X86
  /* 3x3 stride 2, padding at most 1 (at most column j = 0 before a row),
   * rows of at least 5 outputs (fewer: the lanes path is faster) */
  if (isa != 2 || g->kh != 3 || g->kw != 3 || g->sh != 2 || g->sw != 2 || g->ph < 0 ||
      g->ph > 1 || g->pw < 0 || g->pw > 1 || g->ow < 5 || g->h < 1 || g->w < 1)
    return 0;
  const int64_t planes = g->n * g->c;
  const int threads = inc__cpu_threads(ctx, planes * g->oh * g->ow * 3);
#pragma omp parallel num_threads(threads)
  {
    const int64_t nt = omp_get_num_threads(), me = omp_get_thread_num();
    maxpool_s2_avx512(y, arg, x, g, planes * me / nt, planes * (me + 1) / nt);
  }
  return 1;
#else
  (void)y, (void)arg, (void)x, (void)g, (void)isa, (void)ctx;
  return 0;
#endif
}
