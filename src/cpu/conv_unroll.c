/*
 * conv_unroll.c — the CPU side of the unrolled convolution (ops unroll_w
 * and unroll_dw; the CUDA kernels: cuda/conv_unroll.cu). On maps smaller
 * than the kernel (GoogLeNet's 2x2 and 4x4 maps at 28x28, its 3x3 ones at
 * 96x96) a convolution is a dense layer over whole maps: y (N, OC*OH*OW) =
 * x (N, C*H*W) wu^T, with wu the weight unrolled over the window, fewer
 * multiply-adds than the kernel's taps and no col matrix
 * (src/layers/conv2d_unroll.c). These two ops make wu from the weight
 * and fold wu's gradient back into the weight's.
 *
 * unroll_w fills each row of wu (one output pixel of one filter) from the
 * taps that meet the image: the body's values, copies or zeros. unroll_dw
 * sums, for each filter, the rows of its output pixels in the body's
 * order (oy, ox ascending), tap by tap into the filter's gradient: the
 * body's bits.
 */
#include <string.h>
#include "cpu.h"

/* ---- kernels ------------------------------------------------------------ */

/* unroll_w fills a row of wu either tap run by tap run (a memset, then
 * per channel and kernel row the run of taps that meets the image) or,
 * for maps of rows of at most TABLE_W pixels (runs of 1 to 3 taps: their
 * loop overhead dominated) and at most TABLE_PIXELS pixels, from a
 * per-row table giving each input pixel its tap (or -1): one pass over
 * (c, pixel). Measured (2 threads, one call, minimum of 50): 2x2 maps
 * 160 -> 320 channels 0.40 -> 0.22 ms, 3x3 maps 48 -> 128 with 5x5 0.15
 * -> 0.13 ms; 4x4 maps 32 -> 96 with 5x5 0.17 -> 0.23 ms (so not there);
 * unroll_dw's sums were no faster by the table. */
#define TABLE_W 3
#define TABLE_PIXELS 256

/* The tap range [*lo, *hi) along one axis that output o meets inside an
 * input of n pixels (kernel k, stride s, padding p). */
static void tap_range(int64_t o, int k, int s, int p, int64_t n, int *lo, int *hi)
{
  const int64_t first = o * s - p; /* input under tap 0 */
  *lo = first < 0 ? (int)-first : 0;
  *hi = first + k > n ? (int)(n - first) : k;
  if (*hi < *lo) *hi = *lo;
}

/* tq[q], q < H*W: the tap (ky*KW + kx) that output (oy, ox) meets input
 * pixel q with, or -1. */
static void tap_table(int *tq, const inc__window *g, int64_t oy, int64_t ox)
{
  for (int64_t iy = 0; iy < g->h; iy++)
    for (int64_t ix = 0; ix < g->w; ix++) {
      const int64_t ky = iy - oy * g->sh + g->ph, kx = ix - ox * g->sw + g->pw;
      tq[iy * g->w + ix] =
          ky >= 0 && ky < g->kh && kx >= 0 && kx < g->kw ? (int)(ky * g->kw + kx) : -1;
    }
}

/* Row (o, oy, ox) of wu: row (C, H, W) from filter wo (C, KH, KW). */
static void unroll_row(float *row, const float *wo, const inc__window *g, int64_t oy, int64_t ox)
{
  const int64_t hw = g->h * g->w, taps = (int64_t)g->kh * g->kw;
  if (g->w <= TABLE_W && hw <= TABLE_PIXELS) {
    int tq[TABLE_PIXELS];
    tap_table(tq, g, oy, ox);
    for (int64_t c = 0; c < g->c; c++)
      for (int64_t q = 0; q < hw; q++)
        row[c * hw + q] = tq[q] >= 0 ? wo[c * taps + tq[q]] : 0.0f;
    return;
  }
  int ky0, ky1, kx0, kx1;
  tap_range(oy, g->kh, g->sh, g->ph, g->h, &ky0, &ky1);
  tap_range(ox, g->kw, g->sw, g->pw, g->w, &kx0, &kx1);
  memset(row, 0, (size_t)(g->c * hw) * sizeof *row);
  for (int64_t c = 0; c < g->c; c++)
    for (int ky = ky0; ky < ky1; ky++) {
      const int64_t at = c * hw + (oy * g->sh - g->ph + ky) * g->w + ox * g->sw - g->pw;
      const float *src = wo + (c * g->kh + ky) * g->kw;
      for (int kx = kx0; kx < kx1; kx++) row[at + kx] = src[kx];
    }
}

/* dwo (C, KH, KW) += row (C, H, W) of dwu, output (oy, ox): each tap once
 * per row, so the rows' order is each tap's order of addition. */
static void fold_row(float *dwo, const float *row, const inc__window *g, int64_t oy, int64_t ox)
{
  const int64_t hw = g->h * g->w;
  int ky0, ky1, kx0, kx1;
  tap_range(oy, g->kh, g->sh, g->ph, g->h, &ky0, &ky1);
  tap_range(ox, g->kw, g->sw, g->pw, g->w, &kx0, &kx1);
  for (int64_t c = 0; c < g->c; c++)
    for (int ky = ky0; ky < ky1; ky++) {
      const int64_t at = c * hw + (oy * g->sh - g->ph + ky) * g->w + ox * g->sw - g->pw;
      float *dst = dwo + (c * g->kh + ky) * g->kw;
      for (int kx = kx0; kx < kx1; kx++) dst[kx] += row[at + kx];
    }
}

/* ---- launchers ---------------------------------------------------------- */

inc_status inc__cpu_unroll_w(float *wu, const float *w, const inc__window *g, int64_t oc,
                             inc_context *ctx)
{
  const int64_t hw = g->h * g->w, ohw = g->oh * g->ow, k = g->c * hw, rows = oc * ohw;
  const int64_t taps = (int64_t)g->kh * g->kw;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, rows * k))
  for (int64_t r = 0; r < rows; r++) /* row (o, oy, ox): (C, H, W) */
    unroll_row(wu + r * k, w + r / ohw * g->c * taps, g, r % ohw / g->ow, r % g->ow);
  return INC_OK;
}

inc_status inc__cpu_unroll_dw(float *dw, const float *dwu, const inc__window *g, int64_t oc,
                              inc_context *ctx)
{
  const int64_t hw = g->h * g->w, ohw = g->oh * g->ow, k = g->c * hw;
  const int64_t taps = (int64_t)g->kh * g->kw;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, oc * ohw * k))
  for (int64_t o = 0; o < oc; o++) {
    float *dwo = dw + o * g->c * taps; /* (C, KH, KW) */
    for (int64_t i = 0; i < g->c * taps; i++) dwo[i] = 0.0f;
    for (int64_t op = 0; op < ohw; op++) /* (oy, ox) ascending: the body's order */
      fold_row(dwo, dwu + (o * ohw + op) * k, g, op / g->ow, op % g->ow);
  }
  return INC_OK;
}
