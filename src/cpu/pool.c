/*
 * pool.c — CPU loops for max, average and global-average pooling, forward
 * and backward, one (n, c) plane per iteration (planes are planes in
 * either activation layout). The CUDA kernels gather one element per
 * thread through the INC_HD bodies; these loops give the same bits: the
 * max-pool gradient scatters each output's dy to its argmax in output
 * order, which adds the same terms in the same order as the body's gather.
 */
#include <math.h>
#include <string.h>
#include <omp.h>
#include "cpu.h"

/* Max pooling of outputs [a, b) of row oh of one plane, each window
 * clipped to the input and scanned in the body's order with the body's
 * rule: the first valid element is taken, then any larger one or a NaN
 * (first maximum wins, NaN propagates). */
static void maxpool_scalar(float *yr, int32_t *ar, const float *plane, const inc__window *g,
                           int64_t oh, int64_t a, int64_t b)
{
  const int64_t h0 = oh * g->s - g->p;
  const int64_t i0 = h0 < 0 ? 0 : h0, i1 = h0 + g->k > g->h ? g->h : h0 + g->k;
  for (int64_t ow = a; ow < b; ow++) {
    const int64_t w0 = ow * g->s - g->p;
    const int64_t j0 = w0 < 0 ? 0 : w0, j1 = w0 + g->k > g->w ? g->w : w0 + g->k;
    float best = -INFINITY;
    int64_t besti = -1;
    for (int64_t i = i0; i < i1; i++)
      for (int64_t j = j0; j < j1; j++) {
        float v = plane[i * g->w + j];
        if (besti < 0 || v > best || v != v) {
          best = v;
          besti = i * g->w + j;
        }
      }
    yr[ow] = best;
    if (ar) ar[ow] = (int32_t)besti;
  }
}

/* Planes done together by the interleaved max pooling below. */
#define POOL_LANES 16

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define POOL_HAVE_LANES 1

/* Interleaves POOL_LANES planes of x (each hw floats) into buf (hw, LANES). */
static void pool_interleave(float *buf, const float *x, int64_t hw)
{
  for (int64_t t = 0; t < hw; t++)
    for (int l = 0; l < POOL_LANES; l++) buf[t * POOL_LANES + l] = x[l * hw + t];
}

/* Writes one output position of the POOL_LANES planes. */
static void pool_store(float *y, int32_t *arg, int64_t ohw, int64_t o, const float *yb,
                       const int32_t *ab)
{
  for (int l = 0; l < POOL_LANES; l++) y[l * ohw + o] = yb[l];
  if (arg)
    for (int l = 0; l < POOL_LANES; l++) arg[l * ohw + o] = ab[l];
}

/* Max pooling of POOL_LANES planes at once, one vector operation across the
 * planes per window step: the same clipped window, scan order and rule for
 * each lane as the scalar scan (the first valid element taken, then any
 * larger one or a NaN). AVX-512: one register of 16 lanes. */
__attribute__((target("avx512f"))) static void maxpool_lanes_avx512(float *y, int32_t *arg,
                                                                     const float *x, float *buf,
                                                                     const inc__window *g)
{
  const int64_t h = g->h, w = g->w, ohw = g->oh * g->ow;
  pool_interleave(buf, x, h * w);
  for (int64_t oh = 0; oh < g->oh; oh++) {
    const int64_t h0 = oh * g->s - g->p;
    const int64_t i0 = h0 < 0 ? 0 : h0, i1 = h0 + g->k > h ? h : h0 + g->k;
    for (int64_t ow = 0; ow < g->ow; ow++) {
      const int64_t w0 = ow * g->s - g->p;
      const int64_t j0 = w0 < 0 ? 0 : w0, j1 = w0 + g->k > w ? w : w0 + g->k;
      float yb[POOL_LANES];
      int32_t ab[POOL_LANES];
      if (i0 >= i1 || j0 >= j1) { /* no valid element: the body's -inf, -1 */
        for (int l = 0; l < POOL_LANES; l++) yb[l] = -INFINITY, ab[l] = -1;
      } else {
        __m512 best = _mm512_loadu_ps(buf + (i0 * w + j0) * POOL_LANES);
        __m512i bi = _mm512_set1_epi32((int32_t)(i0 * w + j0));
        for (int64_t i = i0; i < i1; i++)
          for (int64_t j = i == i0 ? j0 + 1 : j0; j < j1; j++) {
            __m512 v = _mm512_loadu_ps(buf + (i * w + j) * POOL_LANES);
            __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) |
                             _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
            best = _mm512_mask_mov_ps(best, take, v);
            bi = _mm512_mask_mov_epi32(bi, take, _mm512_set1_epi32((int32_t)(i * w + j)));
          }
        _mm512_storeu_ps(yb, best);
        _mm512_storeu_si512((void *)ab, bi);
      }
      pool_store(y, arg, ohw, oh * g->ow + ow, yb, ab);
    }
  }
}

/* The same with AVX2: two registers of 8 lanes. */
__attribute__((target("avx2"))) static void maxpool_lanes_avx2(float *y, int32_t *arg,
                                                                 const float *x, float *buf,
                                                                 const inc__window *g)
{
  const int64_t h = g->h, w = g->w, ohw = g->oh * g->ow;
  pool_interleave(buf, x, h * w);
  for (int64_t oh = 0; oh < g->oh; oh++) {
    const int64_t h0 = oh * g->s - g->p;
    const int64_t i0 = h0 < 0 ? 0 : h0, i1 = h0 + g->k > h ? h : h0 + g->k;
    for (int64_t ow = 0; ow < g->ow; ow++) {
      const int64_t w0 = ow * g->s - g->p;
      const int64_t j0 = w0 < 0 ? 0 : w0, j1 = w0 + g->k > w ? w : w0 + g->k;
      float yb[POOL_LANES];
      int32_t ab[POOL_LANES];
      if (i0 >= i1 || j0 >= j1) {
        for (int l = 0; l < POOL_LANES; l++) yb[l] = -INFINITY, ab[l] = -1;
      } else {
        const float *f = buf + (i0 * w + j0) * POOL_LANES;
        __m256 b0 = _mm256_loadu_ps(f), b1 = _mm256_loadu_ps(f + 8);
        __m256 i0v = _mm256_castsi256_ps(_mm256_set1_epi32((int32_t)(i0 * w + j0))), i1v = i0v;
        for (int64_t i = i0; i < i1; i++)
          for (int64_t j = i == i0 ? j0 + 1 : j0; j < j1; j++) {
            const float *q = buf + (i * w + j) * POOL_LANES;
            __m256 v0 = _mm256_loadu_ps(q), v1 = _mm256_loadu_ps(q + 8);
            __m256 idx = _mm256_castsi256_ps(_mm256_set1_epi32((int32_t)(i * w + j)));
            __m256 t0 = _mm256_or_ps(_mm256_cmp_ps(v0, b0, _CMP_GT_OQ),
                                     _mm256_cmp_ps(v0, v0, _CMP_UNORD_Q));
            __m256 t1 = _mm256_or_ps(_mm256_cmp_ps(v1, b1, _CMP_GT_OQ),
                                     _mm256_cmp_ps(v1, v1, _CMP_UNORD_Q));
            b0 = _mm256_blendv_ps(b0, v0, t0);
            b1 = _mm256_blendv_ps(b1, v1, t1);
            i0v = _mm256_blendv_ps(i0v, idx, t0);
            i1v = _mm256_blendv_ps(i1v, idx, t1);
          }
        _mm256_storeu_ps(yb, b0);
        _mm256_storeu_ps(yb + 8, b1);
        _mm256_storeu_ps((float *)ab, i0v);
        _mm256_storeu_ps((float *)ab + 8, i1v);
      }
      pool_store(y, arg, ohw, oh * g->ow + ow, yb, ab);
    }
  }
}

/* 2: AVX-512, 1: AVX2, 0: neither (planes go one at a time) */
static int pool_isa(void)
{
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
}
#else
#define POOL_HAVE_LANES 0
static int pool_isa(void) { return 0; }
#endif

inc_status inc__cpu_maxpool_fwd(float *y, int32_t *arg, const float *x, const inc__window *g,
                                inc_context *ctx)
{
  /* y, arg (N, C, OH, OW) <- x (N, C, H, W): blocks of POOL_LANES planes
   * interleaved, the remaining planes one by one */
  const int64_t planes = g->n * g->c, hw = g->h * g->w, ohw = g->oh * g->ow;
  const int isa = pool_isa();
  const int64_t blocks = isa ? planes / POOL_LANES : 0;
  const int threads = inc__cpu_threads(ctx, planes * ohw * g->k);
  float *bufs = NULL;
  if (blocks) {
    bufs = (float *)inc__malloc((size_t)(threads * hw * POOL_LANES) * sizeof(float));
    if (!bufs)
      return inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "CPU max pool: cannot allocate %lld bytes",
                        (long long)(threads * hw * POOL_LANES * (int64_t)sizeof(float)));
  }
#pragma omp parallel num_threads(threads)
  {
    float *buf = bufs ? bufs + (int64_t)omp_get_thread_num() * hw * POOL_LANES : NULL;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
      const int64_t nc = b * POOL_LANES;
#if POOL_HAVE_LANES
      if (isa == 2)
        maxpool_lanes_avx512(y + nc * ohw, arg ? arg + nc * ohw : NULL, x + nc * hw, buf, g);
      else
        maxpool_lanes_avx2(y + nc * ohw, arg ? arg + nc * ohw : NULL, x + nc * hw, buf, g);
#else
      (void)nc, (void)buf;
#endif
    }
#pragma omp for schedule(static)
    for (int64_t nc = blocks * POOL_LANES; nc < planes; nc++)
      for (int64_t oh = 0; oh < g->oh; oh++)
        maxpool_scalar(y + (nc * g->oh + oh) * g->ow,
                       arg ? arg + (nc * g->oh + oh) * g->ow : NULL, x + nc * hw, g, oh, 0,
                       g->ow);
  }
  inc__free(bufs);
  return INC_OK;
}

inc_status inc__cpu_maxpool_bwd(float *dx, const float *dy, const int32_t *arg,
                                const inc__window *g, inc_context *ctx)
{
  /* dx (N, C, H, W) <- dy, arg (N, C, OH, OW). One plane per iteration:
   * zeroed, then each output in order adds its dy at its argmax, so every
   * pixel sums the windows that chose it in the order the body does. */
  const int64_t planes = g->n * g->c, hw = g->h * g->w, ohw = g->oh * g->ow;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, planes * hw * 4))
  for (int64_t nc = 0; nc < planes; nc++) {
    float *dp = dx + nc * hw;
    const float *gp = dy + nc * ohw;
    const int32_t *ap = arg + nc * ohw;
    memset(dp, 0, (size_t)hw * sizeof *dp);
    for (int64_t o = 0; o < ohw; o++) {
      const int64_t a = ap[o];
      if (a >= 0 && a < hw) dp[a] += gp[o];
    }
  }
  return INC_OK;
}

inc_status inc__cpu_avgpool_fwd(float *y, const float *x, const inc__window *g, inc_context *ctx)
{
  const int64_t total = g->n * g->c * g->oh * g->ow;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, total * g->k))
  for (int64_t i = 0; i < total; i++) y[i] = inc__k_avgpool(x, i, g);
  return INC_OK;
}

inc_status inc__cpu_avgpool_bwd(float *dx, const float *dy, const inc__window *g,
                                inc_context *ctx)
{
  const int64_t total = g->n * g->c * g->h * g->w;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, total * 4))
  for (int64_t i = 0; i < total; i++) dx[i] = inc__k_avgpool_grad(dy, i, g);
  return INC_OK;
}

inc_status inc__cpu_gap_fwd(float *y, const float *x, int64_t planes, int64_t hw,
                            inc_context *ctx)
{
  /* y (planes) <- mean of x (planes, hw) */
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, planes * hw))
  for (int64_t j = 0; j < planes; j++) y[j] = inc__k_gap(x, j, hw);
  return INC_OK;
}

inc_status inc__cpu_gap_bwd(float *dx, const float *dy, int64_t planes, int64_t hw,
                            inc_context *ctx)
{
  const int64_t total = planes * hw;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, total))
  for (int64_t i = 0; i < total; i++) dx[i] = inc__k_gap_grad(dy, i, hw);
  return INC_OK;
}
