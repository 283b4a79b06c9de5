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
  const int64_t h0 = oh * g->sh - g->ph;
  const int64_t i0 = h0 < 0 ? 0 : h0, i1 = h0 + g->kh > g->h ? g->h : h0 + g->kh;
  for (int64_t ow = a; ow < b; ow++) {
    const int64_t w0 = ow * g->sw - g->pw;
    const int64_t j0 = w0 < 0 ? 0 : w0, j1 = w0 + g->kw > g->w ? g->w : w0 + g->kw;
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

#if INC__CPU_X86
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

/* buf (n, 16) <- the first n floats of 16 rows of x, `stride` apart. */
__attribute__((target("avx512f"))) static void lanes_in(float *buf, const float *x,
                                                         int64_t stride, int64_t n)
{
  for (int64_t t0 = 0; t0 < n; t0 += 16) {
    const int64_t m = n - t0 < 16 ? n - t0 : 16;
    const __mmask16 k = (__mmask16)((1u << m) - 1u);
    __m512 r[16];
    for (int l = 0; l < 16; l++) r[l] = _mm512_maskz_loadu_ps(k, x + l * stride + t0);
    inc__cpu_transpose16(r);
    for (int64_t j = 0; j < m; j++) _mm512_storeu_ps(buf + (t0 + j) * 16, r[j]);
  }
}

/* The first n floats of 16 rows of y, `stride` apart <- buf (n, 16). */
__attribute__((target("avx512f"))) static void lanes_out(float *y, const float *buf,
                                                          int64_t stride, int64_t n)
{
  for (int64_t t0 = 0; t0 < n; t0 += 16) {
    const int64_t m = n - t0 < 16 ? n - t0 : 16;
    const __mmask16 k = (__mmask16)((1u << m) - 1u);
    __m512 r[16];
    for (int64_t j = 0; j < 16; j++)
      r[j] = j < m ? _mm512_loadu_ps(buf + (t0 + j) * 16) : _mm512_setzero_ps();
    inc__cpu_transpose16(r);
    for (int l = 0; l < 16; l++) _mm512_mask_storeu_ps(y + l * stride + t0, k, r[l]);
  }
}

/* Max pooling of POOL_LANES planes at once, one vector operation across the
 * planes per window step: the same clipped window, scan order and rule for
 * each lane as the scalar scan (the first valid element taken, then any
 * larger one or a NaN). AVX-512: one register of 16 lanes; planes go in and
 * out through in-register 16x16 transposes. buf holds (H*W + 2*OH*OW, 16). */
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
lanes_avx512(float *y, int32_t *arg, const float *x, float *buf, const inc__window *g,
             const int want_arg)
{
  const int64_t h = g->h, w = g->w, ohw = g->oh * g->ow;
  float *ob = buf + h * w * POOL_LANES, *ab = ob + ohw * POOL_LANES;
  lanes_in(buf, x, h * w, h * w);
  for (int64_t oh = 0; oh < g->oh; oh++) {
    const int64_t h0 = oh * g->sh - g->ph;
    const int64_t i0 = h0 < 0 ? 0 : h0, i1 = h0 + g->kh > h ? h : h0 + g->kh;
    for (int64_t ow = 0; ow < g->ow; ow++) {
      const int64_t w0 = ow * g->sw - g->pw;
      const int64_t j0 = w0 < 0 ? 0 : w0, j1 = w0 + g->kw > w ? w : w0 + g->kw;
      const int64_t o = oh * g->ow + ow;
      __m512 best = _mm512_set1_ps(-INFINITY); /* no valid element: the body's -inf, -1 */
      __m512i bi = _mm512_set1_epi32(-1);
      if (i0 < i1 && j0 < j1) {
        best = _mm512_loadu_ps(buf + (i0 * w + j0) * POOL_LANES);
        bi = _mm512_set1_epi32((int32_t)(i0 * w + j0));
        for (int64_t i = i0; i < i1; i++)
          for (int64_t j = i == i0 ? j0 + 1 : j0; j < j1; j++) {
            __m512 v = _mm512_loadu_ps(buf + (i * w + j) * POOL_LANES);
            __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) |
                             _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
            best = _mm512_mask_mov_ps(best, take, v);
            if (want_arg)
              bi = _mm512_mask_mov_epi32(bi, take, _mm512_set1_epi32((int32_t)(i * w + j)));
          }
      }
      _mm512_storeu_ps(ob + o * POOL_LANES, best);
      if (want_arg) _mm512_storeu_ps(ab + o * POOL_LANES, _mm512_castsi512_ps(bi));
    }
  }
  lanes_out(y, ob, ohw, ohw);
  if (want_arg) lanes_out((float *)arg, ab, ohw, ohw); /* bit patterns, moved unchanged */
}

/* The same, the argmax kept or (inference) not tracked at all. */
__attribute__((target("avx512f"))) static void maxpool_lanes_avx512(float *y, int32_t *arg,
                                                                     const float *x, float *buf,
                                                                     const inc__window *g)
{
  if (arg)
    lanes_avx512(y, arg, x, buf, g, 1);
  else
    lanes_avx512(y, NULL, x, buf, g, 0);
}

/* Planes pooled to one output each (the 2x2 -> 1x1 stride-2 pool at
 * 28x28): the outputs of a run of `bp` consecutive planes are taken 16 at a
 * time in (plane, oh, ow) order, and window step k of output t reads x at
 * the run's start + src[k][t], or nothing where src is -1 (outside the
 * input): one gather per step, in the body's step order with the body's
 * rule, so values and argmax are the body's. There the lanes path's
 * transposes cost far more than the plane's work (1.3-1.9 ms -> 0.36 ms for
 * 128x832 planes, one thread); for 7x7 and 4x4 planes the gathers were
 * slower than the lanes, so the path is kept to OH*OW == 1. (The code
 * handles any window with H*W <= 256.) */
typedef struct gather_pool {
  int64_t bp;   /* planes per run */
  int32_t *src; /* (KH*KW, bp*OH*OW): t's input at step (ki, kj) from the run's start, or -1 */
  int32_t *pb;  /* (bp*OH*OW): t's plane's start from the run's start */
} gather_pool;

static int gather_pool_init(gather_pool *gp, const inc__window *g, int64_t planes)
{
  const int64_t kk = (int64_t)g->kh * g->kw, hw = g->h * g->w, ohw = g->oh * g->ow;
  gp->src = NULL;
  gp->pb = NULL;
  if (hw > 256 || ohw != 1) return 0;
  int64_t bp = 256 / ohw;
  if (bp < 1) bp = 1;
  if (bp > planes) bp = planes;
  gp->bp = bp;
  gp->src = (int32_t *)inc__malloc((size_t)(kk * bp * ohw) * sizeof *gp->src);
  gp->pb = (int32_t *)inc__malloc((size_t)(bp * ohw) * sizeof *gp->pb);
  if (!gp->src || !gp->pb) {
    inc__free(gp->src);
    inc__free(gp->pb);
    return 0;
  }
  for (int64_t t = 0; t < bp * ohw; t++) {
    const int64_t pl = t / ohw, oh = t % ohw / g->ow, ow = t % g->ow;
    gp->pb[t] = (int32_t)(pl * hw);
    for (int64_t ki = 0; ki < g->kh; ki++)
      for (int64_t kj = 0; kj < g->kw; kj++) {
        const int64_t r = oh * g->sh - g->ph + ki, c = ow * g->sw - g->pw + kj;
        const int in = r >= 0 && r < g->h && c >= 0 && c < g->w;
        gp->src[(ki * g->kw + kj) * bp * ohw + t] = in ? (int32_t)(pl * hw + r * g->w + c) : -1;
      }
  }
  return 1;
}

/* Planes [nc, nc + nb) of y and arg (may be NULL) from x by gathers. */
__attribute__((target("avx512f"))) static void maxpool_gather_avx512(
    float *y, int32_t *arg, const float *x, const inc__window *g, const gather_pool *gp,
    int64_t nc, int64_t nb)
{
  const int64_t kk = (int64_t)g->kh * g->kw, ohw = g->oh * g->ow, n = nb * ohw;
  const int64_t stride = gp->bp * ohw;
  const float *base = x + nc * g->h * g->w;
  const __m512i zero = _mm512_setzero_si512();
  for (int64_t t0 = 0; t0 < n; t0 += 16) {
    const __mmask16 tail = n - t0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - t0)) - 1u);
    const __m512i pb = _mm512_maskz_loadu_epi32(tail, gp->pb + t0);
    __m512 best = _mm512_set1_ps(-INFINITY); /* no valid element: the body's -inf, -1 */
    __m512i b = _mm512_set1_epi32(-1);
    for (int64_t k = 0; k < kk; k++) {
      const __m512i idx = _mm512_maskz_loadu_epi32(tail, gp->src + k * stride + t0);
      const __mmask16 ok = tail & _mm512_cmpge_epi32_mask(idx, zero);
      if (!ok) continue;
      const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), ok, idx, base, 4);
      const __mmask16 take =
          ok & (_mm512_cmplt_epi32_mask(b, zero) | _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) |
                _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
      best = _mm512_mask_mov_ps(best, take, v);
      b = _mm512_mask_mov_epi32(b, take, _mm512_sub_epi32(idx, pb));
    }
    _mm512_mask_storeu_ps(y + nc * ohw + t0, tail, best);
    if (arg) _mm512_mask_storeu_epi32(arg + nc * ohw + t0, tail, b);
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
    const int64_t h0 = oh * g->sh - g->ph;
    const int64_t i0 = h0 < 0 ? 0 : h0, i1 = h0 + g->kh > h ? h : h0 + g->kh;
    for (int64_t ow = 0; ow < g->ow; ow++) {
      const int64_t w0 = ow * g->sw - g->pw;
      const int64_t j0 = w0 < 0 ? 0 : w0, j1 = w0 + g->kw > w ? w : w0 + g->kw;
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

/* 2: AVX-512, 1: AVX2, 0: neither (planes go one at a time); passed on to
 * pool_same.c */
static int pool_isa(void)
{
#ifdef INC_CPU_POOL_ISA /* testing: force a path */
  return INC_CPU_POOL_ISA;
#endif
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
  /* y, arg (N, C, OH, OW) <- x (N, C, H, W): "same" stride-1 planes in
   * src/cpu/pool_same.c, wide 3x3 stride-2 ones in src/cpu/pool_s2.c;
   * otherwise blocks of POOL_LANES planes
   * interleaved, the remaining planes one by one */
  const int64_t planes = g->n * g->c, hw = g->h * g->w, ohw = g->oh * g->ow;
  const int isa = pool_isa();
  if (inc__cpu_maxpool_same(y, arg, x, g, isa, ctx) || inc__cpu_maxpool_s2(y, arg, x, g, isa, ctx))
    return INC_OK;
  const int threads = inc__cpu_threads(ctx, planes * ohw * inc__cpu_window_side(g));
#if POOL_HAVE_LANES
  gather_pool gp;
  if (isa == 2 && gather_pool_init(&gp, g, planes)) {
    const int64_t runs = (planes + gp.bp - 1) / gp.bp;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t r = 0; r < runs; r++) {
      const int64_t nc = r * gp.bp, nb = planes - nc < gp.bp ? planes - nc : gp.bp;
      maxpool_gather_avx512(y, arg, x, g, &gp, nc, nb);
    }
    inc__free(gp.src);
    inc__free(gp.pb);
    return INC_OK;
  }
#endif
  const int64_t blocks = isa ? planes / POOL_LANES : 0;
  float *bufs = NULL;
  const int64_t per = (hw + 2 * ohw) * POOL_LANES; /* floats of scratch per thread */
  if (blocks) {
    bufs = (float *)inc__malloc((size_t)(threads * per) * sizeof(float));
    if (!bufs)
      return inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "CPU max pool: cannot allocate %lld bytes",
                        (long long)(threads * per * (int64_t)sizeof(float)));
  }
#pragma omp parallel num_threads(threads)
  {
    float *buf = bufs ? bufs + (int64_t)omp_get_thread_num() * per : NULL;
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
  /* dx (N, C, H, W) <- dy, arg (N, C, OH, OW). Planes go in blocks of
   * about 2048 floats (one plane when larger): the block is zeroed with one
   * memset, then each output of each plane in order adds its dy at its
   * argmax, so every pixel sums the windows that chose it in the order the
   * body does. (A memset and a loop per plane cost more than the plane's
   * work when planes are small: 2x2 and 1x1 at 28x28.) */
  const int64_t planes = g->n * g->c, hw = g->h * g->w, ohw = g->oh * g->ow;
  const int64_t bp = hw < 2048 ? 2048 / hw : 1, blocks = (planes + bp - 1) / bp;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, planes * hw * 4))
  for (int64_t b = 0; b < blocks; b++) {
    const int64_t nc0 = b * bp, nc1 = nc0 + bp < planes ? nc0 + bp : planes;
    memset(dx + nc0 * hw, 0, (size_t)((nc1 - nc0) * hw) * sizeof *dx);
    for (int64_t nc = nc0; nc < nc1; nc++) {
      float *dp = dx + nc * hw;
      const float *gp = dy + nc * ohw;
      const int32_t *ap = arg + nc * ohw;
      for (int64_t o = 0; o < ohw; o++) {
        const int64_t a = ap[o];
        if (a >= 0 && a < hw) dp[a] += gp[o];
      }
    }
  }
  return INC_OK;
}

inc_status inc__cpu_avgpool_fwd(float *y, const float *x, const inc__window *g, inc_context *ctx)
{
  const int64_t total = g->n * g->c * g->oh * g->ow;
#pragma omp parallel for schedule(static) \
    num_threads(inc__cpu_threads(ctx, total * inc__cpu_window_side(g)))
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
