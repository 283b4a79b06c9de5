/*
 * conv.c — CPU loops for the convolution helpers: im2col over the whole
 * batch, col2im, the axis swap between (N, C, P) images and (C, N*P) GEMM
 * operands, the GEMM output pass with bias (+ ReLU) and the bias gradient.
 *
 * The CUDA kernels of cuda/im2col.cu run the INC_HD bodies of src/kernels.h
 * one element per thread, paying a few 64-bit divisions per element to
 * recover their indices. On a CPU those divisions cost more than the copy
 * itself, so these loops walk the same index space row by row instead:
 * divisions once per row, contiguous runs copied or summed with unit
 * stride. Each gives bit for bit what the body gives (col2im and the pool
 * gradients add the same terms in the same order); tests/test_kernels.c
 * checks that on every geometry, so the bodies stay the definition.
 */
#include <string.h>
#include <omp.h>
#include "cpu.h"

/* The output columns [*lo, *hi) of one kernel column kj whose input column
 * ow*s - p + kj lies inside [0, w) (s, p: the window's along W); empty when
 * *lo == *hi. */
static void valid_cols(int64_t kj, int64_t w, int64_t ow, int64_t s, int64_t p, int64_t *lo,
                       int64_t *hi)
{
  int64_t a = p - kj, b = w - 1 + p - kj; /* need a <= ow*s <= b */
  int64_t l = a > 0 ? (a + s - 1) / s : 0;
  int64_t h = b >= 0 ? b / s + 1 : 0;
  if (h > ow) h = ow;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

/* "Same" stride-1 windows (OH == H, OW == W: every kxk convolution of the
 * D2L GoogLeNet but the first, and Inception v3's 1x7 p(0,3) and 7x1
 * p(3,0)) get a faster path: kernel offset (ki, kj) is a shift of the whole
 * plane by off = (ki-ph)*W + (kj-pw), so a col row of image n is
 * plane[t + off] over one run of t (outside it every position is padding),
 * with the positions whose column wrapped into a neighbouring row masked
 * to zero. colmask[kj*HW + t] is 1 where column t%W + kj - pw lies in
 * [0, W). NULL when the geometry is not of this kind or memory is short. */
static int *same_s1_masks(const inc__window *g)
{
  if (g->sh != 1 || g->sw != 1 || g->oh != g->h || g->ow != g->w) return NULL;
  const int64_t kw = g->kw, w = g->w, hw = g->h * g->w;
  int *m = (int *)inc__malloc((size_t)(kw * hw) * sizeof *m);
  if (!m) return NULL;
  for (int64_t kj = 0; kj < kw; kj++)
    for (int64_t t = 0; t < hw; t++) {
      const int64_t col = t % w + kj - g->pw;
      m[kj * hw + t] = col >= 0 && col < w;
    }
  return m;
}

/* dst[t] = plane[t + off] where m[t], else 0, for t in [lo, hi). */
INC__CPU_CLONES static void shift_copy(float *restrict dst, const float *restrict plane,
                                       int64_t off, const int *restrict m, int64_t lo, int64_t hi)
{
#pragma omp simd
  for (int64_t t = lo; t < hi; t++) {
    float v = plane[t + off];
    dst[t] = m[t] ? v : 0.0f;
  }
}

/* plane[t + off] += src[t] where m[t] (else += 0.0f), for t in [lo, hi). */
INC__CPU_CLONES static void shift_add(float *restrict plane, const float *restrict src,
                                      int64_t off, const int *restrict m, int64_t lo, int64_t hi)
{
#pragma omp simd
  for (int64_t t = lo; t < hi; t++) {
    float v = src[t];
    plane[t + off] += m[t] ? v : 0.0f;
  }
}

/* The run [*lo, *hi) of plane positions t whose shifted source t + off lies
 * in the plane; positions outside it are padding in every row. Both stay in
 * [0, hw]: a shift of more than a plane (tiny planes, wide padding) must not
 * make the callers' zero fill of [0, lo) run into the next slot, which may
 * belong to another thread. */
static void shift_run(int64_t off, int64_t hw, int64_t *lo, int64_t *hi)
{
  *lo = off < 0 ? (-off < hw ? -off : hw) : 0;
  *hi = off > 0 ? hw - off : hw;
  if (*hi < *lo) *hi = *lo;
}

/* A 1x1 stride-1 window is a crop (TRIM's weight cut, whose padding is
 * negative) or a zero border: col row c, image n is plane (n, c) shifted
 * by (ph, pw), zero outside; col2im puts each value back as 0.0f + v, the
 * body's sum of its one term. One channel, all images, per iteration: no
 * index arithmetic per (row, image) pair, which costs more than the copy
 * when the planes are a few values. */
static void crop_pass(float *col, float *img, const inc__window *g, int to_col,
                      inc_context *ctx)
{
  const int64_t h = g->h, w = g->w, oh_n = g->oh, ow_n = g->ow, hw = h * w, ohw = oh_n * ow_n;
  const int64_t cols = g->n * ohw;
  int64_t lo, hi;
  valid_cols(0, w, ow_n, 1, g->pw, &lo, &hi);
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, g->c * cols))
  for (int64_t c = 0; c < g->c; c++)
    for (int64_t n = 0; n < g->n; n++) {
      float *plane = img + (n * g->c + c) * hw, *row = col + c * cols + n * ohw;
      if (!to_col) memset(plane, 0, (size_t)hw * sizeof *plane);
      for (int64_t oh = 0; oh < oh_n; oh++, row += ow_n) {
        const int64_t ih = oh - g->ph, at = ih * w - g->pw; /* column ow: plane[at + ow] */
        const int inside = ih >= 0 && ih < h;
        if (!to_col) {
          if (inside)
            for (int64_t ow = lo; ow < hi; ow++) plane[at + ow] = 0.0f + row[ow];
          continue;
        }
        const int64_t l = inside ? lo : ow_n, r = inside ? hi : ow_n;
        for (int64_t ow = 0; ow < l; ow++) row[ow] = 0.0f;
        for (int64_t ow = l; ow < r; ow++) row[ow] = plane[at + ow];
        for (int64_t ow = r; ow < ow_n; ow++) row[ow] = 0.0f;
      }
    }
}

inc_status inc__cpu_im2col(float *col, const float *x, const inc__window *g, inc_context *ctx)
{
  /* col (C*KH*KW, N*OH*OW) <- x (N, C, H, W); one (col row, image) pair per
   * iteration */
  const int64_t kh = g->kh, kw = g->kw, kk = kh * kw, rows = g->c * kk, oh_n = g->oh;
  const int64_t ow_n = g->ow, cols = g->n * oh_n * ow_n, h = g->h, w = g->w;
  const int64_t sh = g->sh, sw = g->sw, ph = g->ph, pw = g->pw;
  const int64_t hw = h * w, ohw = oh_n * ow_n, items = rows * g->n;
  if (kh == 1 && kw == 1 && sh == 1 && sw == 1) {
    crop_pass(col, (float *)x, g, 1, ctx); /* only read */
    return INC_OK;
  }
  int *masks = same_s1_masks(g);
  if (masks && hw < 64) {
    /* small planes: one col row per iteration, its shift worked out once
     * for all the images */
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, rows * cols))
    for (int64_t r = 0; r < rows; r++) {
      const int64_t c = r / kk, ki = (r / kw) % kh, kj = r % kw;
      const int64_t off = (ki - ph) * w + (kj - pw);
      const int *m = masks + kj * hw;
      int64_t lo, hi;
      shift_run(off, hw, &lo, &hi);
      for (int64_t n = 0; n < g->n; n++) {
        const float *plane = x + (n * g->c + c) * hw;
        float *dst = col + r * cols + n * hw;
        for (int64_t t = 0; t < lo; t++) dst[t] = 0.0f;
        for (int64_t t = lo; t < hi; t++) dst[t] = m[t] ? plane[t + off] : 0.0f;
        for (int64_t t = hi; t < hw; t++) dst[t] = 0.0f;
      }
    }
    inc__free(masks);
    return INC_OK;
  }
#pragma omp parallel num_threads(inc__cpu_threads(ctx, rows * cols))
  {
  /* this thread's run of items, the indices stepped rather than divided */
  const int64_t nt = omp_get_num_threads(), me = omp_get_thread_num();
  const int64_t it0 = items * me / nt, it1 = items * (me + 1) / nt;
  int64_t r = it0 / g->n, n = it0 % g->n, c = r / kk, ki = (r / kw) % kh, kj = r % kw;
  for (int64_t it = it0; it < it1; it++) {
    if (it > it0 && ++n == g->n) {
      n = 0;
      r++;
      if (++kj == kw) {
        kj = 0;
        if (++ki == kh) ki = 0, c++;
      }
    }
    const float *plane = x + (n * g->c + c) * hw;
    float *dst = col + r * cols + n * ohw;
    if (masks) {
      const int64_t off = (ki - ph) * w + (kj - pw);
      const int *m = masks + kj * hw;
      int64_t lo, hi;
      shift_run(off, hw, &lo, &hi);
      for (int64_t t = 0; t < lo; t++) dst[t] = 0.0f;
      if (hi - lo >= 32)
        shift_copy(dst, plane, off, m, lo, hi);
      else /* a tiny plane: not worth the call */
        for (int64_t t = lo; t < hi; t++) dst[t] = m[t] ? plane[t + off] : 0.0f;
      for (int64_t t = hi; t < hw; t++) dst[t] = 0.0f;
      continue;
    }
    int64_t lo, hi;
    valid_cols(kj, w, ow_n, sw, pw, &lo, &hi);
    for (int64_t oh = 0; oh < oh_n; oh++, dst += ow_n) {
      const int64_t ih = oh * sh - ph + ki;
      if (ih < 0 || ih >= h) {
        for (int64_t ow = 0; ow < ow_n; ow++) dst[ow] = 0.0f;
        continue;
      }
      const float *src = plane + ih * w;
      const int64_t base = kj - pw; /* input column of ow is base + ow*sw */
      for (int64_t ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
      if (sw == 1) {
#pragma omp simd
        for (int64_t ow = lo; ow < hi; ow++) dst[ow] = src[base + ow];
      } else if (sw == 2) {
#pragma omp simd
        for (int64_t ow = lo; ow < hi; ow++) dst[ow] = src[base + 2 * ow];
      } else {
        for (int64_t ow = lo; ow < hi; ow++) dst[ow] = src[base + ow * sw];
      }
      for (int64_t ow = hi; ow < ow_n; ow++) dst[ow] = 0.0f;
    }
  }
  }
  inc__free(masks);
  return INC_OK;
}

inc_status inc__cpu_col2im(float *dx, const float *col, const inc__window *g, inc_context *ctx)
{
  /* dx (N, C, H, W) <- col (C*KH*KW, N*OH*OW). One (n, c) plane per
   * iteration: zeroed, then every kernel offset (ki, kj) in the body's
   * order adds its col row segment, so each pixel sums the same terms in
   * the same order as inc__k_col2im. (The "same" stride-1 path adds 0.0f at
   * masked positions: the running sum starts at +0 and can never be -0, so
   * that leaves it unchanged.) */
  const int64_t kh = g->kh, kw = g->kw, oh_n = g->oh, ow_n = g->ow, cols = g->n * oh_n * ow_n;
  const int64_t h = g->h, w = g->w, sh = g->sh, sw = g->sw, ph = g->ph, pw = g->pw;
  const int64_t planes = g->n * g->c, hw = h * w, k = inc__cpu_window_side(g);
  if (kh == 1 && kw == 1 && sh == 1 && sw == 1) {
    crop_pass((float *)col, dx, g, 0, ctx); /* only read */
    return INC_OK;
  }
  int *masks = same_s1_masks(g);
  if (masks && hw < 64) {
    /* small planes: one channel (all its images) per iteration, each kernel
     * offset's shift worked out once for all the images; every pixel still
     * gets its terms in (ki, kj) order */
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, planes * hw * k))
    for (int64_t c = 0; c < g->c; c++) {
      for (int64_t n = 0; n < g->n; n++)
        memset(dx + (n * g->c + c) * hw, 0, (size_t)hw * sizeof *dx);
      for (int64_t ki = 0; ki < kh; ki++)
        for (int64_t kj = 0; kj < kw; kj++) {
          const float *src = col + ((c * kh + ki) * kw + kj) * cols;
          const int64_t off = (ki - ph) * w + (kj - pw);
          const int *m = masks + kj * hw;
          int64_t lo, hi;
          shift_run(off, hw, &lo, &hi);
          for (int64_t n = 0; n < g->n; n++) {
            float *plane = dx + (n * g->c + c) * hw;
            const float *sn = src + n * hw;
            for (int64_t t = lo; t < hi; t++) plane[t + off] += m[t] ? sn[t] : 0.0f;
          }
        }
    }
    inc__free(masks);
    return INC_OK;
  }
#pragma omp parallel num_threads(inc__cpu_threads(ctx, planes * h * w * k))
  {
  const int64_t nt = omp_get_num_threads(), me = omp_get_thread_num();
  const int64_t nc0 = planes * me / nt, nc1 = planes * (me + 1) / nt;
  int64_t n = nc0 / g->c, c = nc0 % g->c;
  for (int64_t nc = nc0; nc < nc1; nc++) {
    if (nc > nc0 && ++c == g->c) c = 0, n++;
    float *plane = dx + nc * hw;
    memset(plane, 0, (size_t)hw * sizeof *plane);
    for (int64_t ki = 0; ki < kh; ki++)
      for (int64_t kj = 0; kj < kw; kj++) {
        const float *src = col + ((c * kh + ki) * kw + kj) * cols + n * oh_n * ow_n;
        if (masks) {
          const int64_t off = (ki - ph) * w + (kj - pw);
          const int *m = masks + kj * hw;
          int64_t lo, hi;
          shift_run(off, hw, &lo, &hi);
          if (hi - lo >= 32)
            shift_add(plane, src, off, m, lo, hi);
          else
            for (int64_t t = lo; t < hi; t++) plane[t + off] += m[t] ? src[t] : 0.0f;
          continue;
        }
        int64_t lo, hi;
        valid_cols(kj, w, ow_n, sw, pw, &lo, &hi);
        const int64_t base = kj - pw;
        for (int64_t oh = 0; oh < oh_n; oh++) {
          const int64_t ih = oh * sh - ph + ki;
          if (ih < 0 || ih >= h) continue;
          float *drow = plane + ih * w;
          const float *srow = src + oh * ow_n;
          if (sw == 1) {
#pragma omp simd
            for (int64_t ow = lo; ow < hi; ow++) drow[base + ow] += srow[ow];
          } else {
            for (int64_t ow = lo; ow < hi; ow++) drow[base + ow * sw] += srow[ow];
          }
        }
      }
  }
  }
  inc__free(masks);
  return INC_OK;
}

inc_status inc__cpu_swap01(float *dst, const float *src, int64_t a, int64_t b, int64_t p,
                           inc_context *ctx)
{
  /* dst (B, A, P) <- src (A, B, P): one run of P floats per (bi, ai) */
  const int64_t runs = a * b;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, runs * p))
  for (int64_t t = 0; t < runs; t++) {
    const int64_t bi = t / a, ai = t % a;
    memcpy(dst + t * p, src + (ai * b + bi) * p, (size_t)p * sizeof *dst);
  }
  return INC_OK;
}

inc_status inc__cpu_conv_out(float *y, const float *tmp, const float *bias, int64_t n, int64_t c,
                             int64_t p, int relu, inc_context *ctx)
{
  /* y (N, C, P) <- tmp (C, N*P) + bias (C), ReLU if relu; as inc__k_conv_out
   * (a missing bias adds 0.0f, which turns -0 into +0 there too) */
  const int64_t runs = n * c;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, runs * p))
  for (int64_t t = 0; t < runs; t++) {
    const int64_t ni = t / c, ci = t % c;
    const float add = bias ? bias[ci] : 0.0f;
    const float *s = tmp + (ci * n + ni) * p;
    float *d = y + t * p;
    if (relu) {
#pragma omp simd
      for (int64_t i = 0; i < p; i++) {
        float v = s[i] + add;
        d[i] = v < 0.0f ? 0.0f : v;
      }
    } else {
#pragma omp simd
      for (int64_t i = 0; i < p; i++) d[i] = s[i] + add;
    }
  }
  return INC_OK;
}

inc_status inc__cpu_bias_add(float *y, const float *bias, int64_t n, int64_t c, int64_t p,
                             inc_context *ctx)
{
  /* y (N, C, P) += bias (C) */
  const int64_t runs = n * c;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, runs * p))
  for (int64_t t = 0; t < runs; t++) {
    const float add = bias[t % c];
    float *d = y + t * p;
#pragma omp simd
    for (int64_t i = 0; i < p; i++) d[i] += add;
  }
  return INC_OK;
}

inc_status inc__cpu_bias_grad(float *db, const float *dy, int64_t n, int64_t c, int64_t p,
                              inc_context *ctx)
{
  /* db (C) <- sum over n, p of dy (N, C, P). Each channel's sum runs in the
   * body's order (n, then p), one float add after another; eight channels
   * go side by side so that their adds overlap instead of waiting on each
   * other's latency. */
  enum { CH = 8 };
  const int64_t groups = (c + CH - 1) / CH;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, n * c * p))
  for (int64_t gi = 0; gi < groups; gi++) {
    const int64_t j0 = gi * CH, nj = c - j0 < CH ? c - j0 : CH;
    if (nj < CH) {
      for (int64_t j = j0; j < c; j++) db[j] = inc__k_bias_grad(dy, j, n, c, p);
      continue;
    }
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f, s4 = 0.0f, s5 = 0.0f, s6 = 0.0f, s7 = 0.0f;
    for (int64_t ni = 0; ni < n; ni++) {
      const float *r = dy + (ni * c + j0) * p;
      for (int64_t pi = 0; pi < p; pi++) {
        s0 += r[pi];
        s1 += r[p + pi];
        s2 += r[2 * p + pi];
        s3 += r[3 * p + pi];
        s4 += r[4 * p + pi];
        s5 += r[5 * p + pi];
        s6 += r[6 * p + pi];
        s7 += r[7 * p + pi];
      }
    }
    db[j0] = s0, db[j0 + 1] = s1, db[j0 + 2] = s2, db[j0 + 3] = s3;
    db[j0 + 4] = s4, db[j0 + 5] = s5, db[j0 + 6] = s6, db[j0 + 7] = s7;
  }
  return INC_OK;
}
