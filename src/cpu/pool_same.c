/*
 * pool_same.c — the CPU max pooling of "same" stride-1 windows (the output
 * the input's size: the 3x3 stride-1 pad-1 pool of every Inception block),
 * for src/cpu/pool.c's inc__cpu_maxpool_fwd (the other max pools, the
 * backward and the average pools stay there). A window offset is a shift
 * of the plane, so planes go a run of them at a time along their flat
 * index; with AVX-512 the 3x3 pad-1 window goes in two 1-D passes. Values
 * and argmax are the body's (the op table checks them at tolerance 0).
 */
#include <math.h>
#include <string.h>
#include <omp.h>
#include "cpu.h"

#if INC__CPU_X86
#include <immintrin.h>
#define SAME_AVX512 1
#else
#define SAME_AVX512 0
#endif

/* "Same" stride-1 pooling (OH == H, OW == W: the 3x3 s1 p1 pool of every
 * Inception block): window offset (ki, kj) is a shift of the plane by
 * off = (ki-ph)*W + (kj-pw), so one offset at a time is a vectorized pass
 * over the plane, masked to the positions where that offset is inside the
 * input. Offsets go in the body's order and each position applies the
 * body's rule, so values and argmax are the body's. Small planes are done
 * a run of `bp` consecutive planes at a time (a neighbour plane's values
 * are read only at masked positions). */
typedef struct shift_pool {
  int64_t bp;    /* planes per run */
  int *valid;    /* (KH*KW, bp*HW): offset (ki, kj) of output t is inside the input */
  int32_t *at;   /* (bp*HW): t's index within its plane */
  int32_t *rc;   /* (2, bp*HW): t's row, then its column (the separable loop's) */
} shift_pool;

static void shift_pool_free(shift_pool *sp)
{
  inc__free(sp->valid);
  inc__free(sp->at);
  inc__free(sp->rc);
}

/* The tables of the shift loops (valid, at) or of the separable one (at,
 * rc); 0 when g is not a "same" stride-1 pool or they cannot be had. */
static int shift_pool_init(shift_pool *sp, const inc__window *g, int64_t planes, int sep)
{
  sp->valid = NULL;
  sp->at = NULL;
  sp->rc = NULL;
  if (g->sh != 1 || g->sw != 1 || g->oh != g->h || g->ow != g->w) return 0;
  const int64_t kh = g->kh, kw = g->kw, h = g->h, w = g->w, hw = h * w;
  int64_t bp = 256 / hw;
  if (bp < 1) bp = 1;
  if (bp > planes) bp = planes;
  sp->bp = bp;
  sp->at = (int32_t *)inc__malloc((size_t)(bp * hw) * sizeof *sp->at);
  if (sep)
    sp->rc = (int32_t *)inc__malloc((size_t)(2 * bp * hw) * sizeof *sp->rc);
  else
    sp->valid = (int *)inc__malloc((size_t)(kh * kw * bp * hw) * sizeof *sp->valid);
  if (!sp->at || !(sep ? (void *)sp->rc : (void *)sp->valid)) {
    shift_pool_free(sp);
    return 0;
  }
  for (int64_t t = 0; t < bp * hw; t++) sp->at[t] = (int32_t)(t % hw);
  if (sep)
    for (int64_t t = 0; t < bp * hw; t++) {
      sp->rc[t] = (int32_t)(t % hw / w);
      sp->rc[bp * hw + t] = (int32_t)(t % w);
    }
  else
    for (int64_t ki = 0; ki < kh; ki++)
      for (int64_t kj = 0; kj < kw; kj++)
        for (int64_t t = 0; t < bp * hw; t++) {
          const int64_t q = t % hw, r = q / w + ki - g->ph, c = q % w + kj - g->pw;
          sp->valid[(ki * kw + kj) * bp * hw + t] = r >= 0 && r < h && c >= 0 && c < w;
        }
  return 1;
}

/* Planes [nc, nc + nb) of y from x (all `planes` planes); bi receives the
 * argmax of those planes (it points at plane nc's). */
INC__CPU_CLONES static void maxpool_shift(float *y, int32_t *bi, const float *x, const inc__window *g,
                          const shift_pool *sp, int64_t nc, int64_t nb, int64_t planes)
{
  const int64_t kh = g->kh, kw = g->kw, w = g->w, hw = g->h * g->w, n = nb * hw;
  const int64_t stride = sp->bp * hw;
  const int64_t base = nc * hw, total = planes * hw;
  float *restrict yp = y + base;
  int32_t *restrict bp = bi;
  const float *restrict xp = x + base;
  const int32_t *restrict at = sp->at;
  for (int64_t t = 0; t < n; t++) yp[t] = -INFINITY, bp[t] = -1;
  for (int64_t ki = 0; ki < kh; ki++)
    for (int64_t kj = 0; kj < kw; kj++) {
      const int64_t off = (ki - g->ph) * w + (kj - g->pw);
      const int *restrict m = sp->valid + (ki * kw + kj) * stride;
      /* keep t + off inside the whole tensor; outside it every position is
       * padding of its own plane */
      int64_t lo = base + off < 0 ? -(base + off) : 0;
      int64_t hi = base + n + off > total ? total - base - off : n;
      const int32_t o32 = (int32_t)off;
#pragma omp simd
      for (int64_t t = lo; t < hi; t++) {
        float v = xp[t + off], cur = yp[t];
        int32_t b = bp[t];
        int take = m[t] & ((b < 0) | (v > cur) | (v != v));
        yp[t] = take ? v : cur;
        bp[t] = take ? at[t] + o32 : b;
      }
    }
}

#if SAME_AVX512
/* maxpool_shift with AVX-512: 16 outputs at a time, all KH*KW offsets applied
 * in registers before one store. Loads are masked by the offset's validity
 * (a masked-off lane reads nothing), which also keeps them inside the
 * tensor. */
__attribute__((target("avx512f"))) static void maxpool_shift_avx512(
    float *y, int32_t *bi, const float *x, const inc__window *g, const shift_pool *sp,
    int64_t nc, int64_t nb)
{
  const int64_t kh = g->kh, kw = g->kw, w = g->w, hw = g->h * g->w, n = nb * hw;
  const int64_t stride = sp->bp * hw;
  const int64_t base = nc * hw;
  const __m512i zero = _mm512_setzero_si512(), none = _mm512_set1_epi32(-1);
  for (int64_t t0 = 0; t0 < n; t0 += 16) {
    const __mmask16 tail = n - t0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - t0)) - 1u);
    const __m512i at = _mm512_maskz_loadu_epi32(tail, sp->at + t0);
    __m512 best = _mm512_set1_ps(-INFINITY);
    __m512i b = none;
    for (int64_t ki = 0; ki < kh; ki++)
      for (int64_t kj = 0; kj < kw; kj++) {
        const int64_t off = (ki - g->ph) * w + (kj - g->pw);
        const int *m = sp->valid + (ki * kw + kj) * stride + t0;
        const __mmask16 ok =
            _mm512_mask_cmpneq_epi32_mask(tail, _mm512_maskz_loadu_epi32(tail, m), zero);
        const __m512 v = _mm512_maskz_loadu_ps(ok, x + base + t0 + off);
        const __mmask16 take =
            ok & (_mm512_cmplt_epi32_mask(b, zero) | _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) |
                  _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
        best = _mm512_mask_mov_ps(best, take, v);
        b = _mm512_mask_mov_epi32(b, take, _mm512_add_epi32(at, _mm512_set1_epi32((int32_t)off)));
      }
    _mm512_mask_storeu_ps(y + base + t0, tail, best);
    _mm512_mask_storeu_epi32(bi + t0, tail, b);
  }
}

/* The Inception pool (3x3, stride 1, padding 1, "same") with AVX-512 as two
 * 1-D passes over a run of planes: each output's pick among columns c-1,
 * c, c+1 of each row (hv, hc: the value and its column offset), then among
 * rows r-1, r, r+1 of those picks, both with the body's rule (the first
 * value taken, then a larger one or a NaN). Over a row-major scan that
 * rule ends at the last NaN if there is one, else at the first maximum;
 * per row then across rows it ends at the same element, so values and
 * argmax are the body's (3 + 3 loads an output instead of 9). hv and hc
 * have W spare entries on either side, never read (masked lanes). bi NULL:
 * inference, no argmax. */

__attribute__((target("avx512f"))) static void maxpool_sep_avx512(
    float *y, int32_t *bi, const float *x, const inc__window *g, const shift_pool *sp,
    int64_t nc, int64_t nb, float *hv, int32_t *hc)
{
  const int64_t w = g->w, hw = g->h * g->w, n = nb * hw, base = nc * hw;
  const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi32(1);
  const __m512i wlast = _mm512_set1_epi32((int32_t)(w - 1)),
                hlast = _mm512_set1_epi32((int32_t)(g->h - 1));
  const float *xp = x + base;
  for (int64_t t0 = 0; t0 < n; t0 += 16) { /* along rows */
    const __mmask16 tail = n - t0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - t0)) - 1u);
    const __m512i col = _mm512_maskz_loadu_epi32(tail, sp->rc + sp->bp * hw + t0);
    const __mmask16 l = _mm512_mask_cmpgt_epi32_mask(tail, col, zero),
                    r = _mm512_mask_cmplt_epi32_mask(tail, col, wlast);
    const __m512 vl = _mm512_maskz_loadu_ps(l, xp + t0 - 1), vm = _mm512_maskz_loadu_ps(tail, xp + t0),
                 vr = _mm512_maskz_loadu_ps(r, xp + t0 + 1);
    __m512 best = vl;
    __m512i k = _mm512_maskz_mov_epi32(l, _mm512_set1_epi32(-1));
    __mmask16 taken = l;
    __mmask16 take = tail & (~taken | _mm512_cmp_ps_mask(vm, best, _CMP_GT_OQ) |
                             _mm512_cmp_ps_mask(vm, vm, _CMP_UNORD_Q));
    best = _mm512_mask_mov_ps(best, take, vm);
    k = _mm512_mask_mov_epi32(k, take, zero);
    taken |= take;
    take = r & (~taken | _mm512_cmp_ps_mask(vr, best, _CMP_GT_OQ) |
                _mm512_cmp_ps_mask(vr, vr, _CMP_UNORD_Q));
    best = _mm512_mask_mov_ps(best, take, vr);
    k = _mm512_mask_mov_epi32(k, take, one);
    _mm512_mask_storeu_ps(hv + t0, tail, best);
    if (bi) _mm512_mask_storeu_epi32(hc + t0, tail, k);
  }
  for (int64_t t0 = 0; t0 < n; t0 += 16) { /* across rows */
    const __mmask16 tail = n - t0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - t0)) - 1u);
    const __m512i row = _mm512_maskz_loadu_epi32(tail, sp->rc + t0);
    const __mmask16 u = _mm512_mask_cmpgt_epi32_mask(tail, row, zero),
                    d = _mm512_mask_cmplt_epi32_mask(tail, row, hlast);
    const __m512 vu = _mm512_maskz_loadu_ps(u, hv + t0 - w), vm = _mm512_maskz_loadu_ps(tail, hv + t0),
                 vd = _mm512_maskz_loadu_ps(d, hv + t0 + w);
    __m512 best = vu;
    __mmask16 taken = u;
    const __mmask16 tm = tail & (~taken | _mm512_cmp_ps_mask(vm, best, _CMP_GT_OQ) |
                                 _mm512_cmp_ps_mask(vm, vm, _CMP_UNORD_Q));
    best = _mm512_mask_mov_ps(best, tm, vm);
    taken |= tm;
    const __mmask16 td = d & (~taken | _mm512_cmp_ps_mask(vd, best, _CMP_GT_OQ) |
                              _mm512_cmp_ps_mask(vd, vd, _CMP_UNORD_Q));
    best = _mm512_mask_mov_ps(best, td, vd);
    _mm512_mask_storeu_ps(y + base + t0, tail, best);
    if (bi) { /* the pick's index in its plane: its row's, plus that row's column offset */
      const __m512i at = _mm512_maskz_loadu_epi32(tail, sp->at + t0), wv = _mm512_set1_epi32((int32_t)w);
      __m512i b = _mm512_add_epi32(_mm512_sub_epi32(at, wv), _mm512_maskz_loadu_epi32(u, hc + t0 - w));
      b = _mm512_mask_add_epi32(b, tm, at, _mm512_maskz_loadu_epi32(tm, hc + t0));
      b = _mm512_mask_add_epi32(b, td, _mm512_add_epi32(at, wv),
                                _mm512_maskz_loadu_epi32(td, hc + t0 + w));
      _mm512_mask_storeu_epi32(bi + t0, tail, b);
    }
  }
}
#endif

/* The window the separable loop takes: 3x3, stride 1, padding 1, "same". */
static int sep_pool_ok(const inc__window *g)
{
  return g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 && g->ph == 1 && g->pw == 1 &&
         g->oh == g->h && g->ow == g->w;
}

/* Runs the pool when g is a "same" stride-1 one: 1 when done, 0 to leave
 * it to the general path (another window, or no memory for the tables or
 * the scratch). isa: pool.c's (2: AVX-512). */
int inc__cpu_maxpool_same(float *y, int32_t *arg, const float *x, const inc__window *g, int isa,
                          inc_context *ctx)
{
  const int64_t planes = g->n * g->c, hw = g->h * g->w, ohw = g->oh * g->ow;
  const int sep = SAME_AVX512 && isa == 2 && sep_pool_ok(g);
  shift_pool sp;
  if (shift_pool_init(&sp, g, planes, sep)) {
    const int threads = inc__cpu_threads(ctx, planes * ohw * inc__cpu_window_side(g));
    /* per thread: the separable loop's hv and hc (a run and W spare on
     * either side), or in inference without it the argmax, only scratch */
    const int64_t run = sp.bp * hw, side = run + 2 * g->w;
    const int64_t per = sep ? 2 * side : arg ? 0 : run;
    int32_t *scratch =
        per ? (int32_t *)inc__malloc((size_t)(threads * per) * sizeof *scratch) : NULL;
    if (!per || scratch) {
      const int64_t runs = (planes + sp.bp - 1) / sp.bp;
#pragma omp parallel num_threads(threads)
      {
        int32_t *mine = scratch ? scratch + (int64_t)omp_get_thread_num() * per : NULL;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < runs; r++) {
          const int64_t nc = r * sp.bp, nb = planes - nc < sp.bp ? planes - nc : sp.bp;
#if SAME_AVX512
          if (sep) {
            maxpool_sep_avx512(y, arg ? arg + nc * hw : NULL, x, g, &sp, nc, nb,
                               (float *)mine + g->w, mine + side + g->w);
            continue;
          }
#endif
          int32_t *bi = arg ? arg + nc * hw : mine;
#if SAME_AVX512
          if (isa == 2) {
            maxpool_shift_avx512(y, bi, x, g, &sp, nc, nb);
            continue;
          }
#endif
          maxpool_shift(y, bi, x, g, &sp, nc, nb, planes);
        }
      }
      inc__free(scratch);
      shift_pool_free(&sp);
      return 1;
    }
    shift_pool_free(&sp); /* no memory for the scratch: take the general path */
  }
  return 0;
}
