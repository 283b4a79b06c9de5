/*
 * conv_kernels.h — the per-element bodies of the convolution helpers
 * (im2col, col2im, the layout swap, the output and bias passes, the direct
 * convolution, the unrolled convolution's weight and its gradient),
 * written once for both backends (INC_HD, like the rest of kernels.h,
 * which includes this file after inc__window). Layouts: kernels.h.
 */
#ifndef INC_CONV_KERNELS_H
#define INC_CONV_KERNELS_H


/* col[i] for col (C*KH*KW, N*OH*OW) built from x (N, C, H, W). */
INC_HD static inline float inc__k_im2col(const float *x, int64_t i, const inc__window *g)
{
  int64_t cols = g->n * g->oh * g->ow;
  int64_t q = i % cols, r = i / cols;
  int64_t ow = q % g->ow, t = q / g->ow;
  int64_t oh = t % g->oh, n = t / g->oh;
  int64_t kj = r % g->kw, t2 = r / g->kw;
  int64_t ki = t2 % g->kh, c = t2 / g->kh;
  int64_t h = oh * g->sh - g->ph + ki, w = ow * g->sw - g->pw + kj;
  if (h < 0 || h >= g->h || w < 0 || w >= g->w) return 0.0f;
  return x[((n * g->c + c) * g->h + h) * g->w + w];
}

/* dx[i] for dx (N, C, H, W): the sum of every col (C*KH*KW, N*OH*OW) entry that
 * im2col copied from input element i (a gather, so no atomics are needed). */
INC_HD static inline float inc__k_col2im(const float *col, int64_t i, const inc__window *g)
{
  int64_t w = i % g->w, t = i / g->w;
  int64_t h = t % g->h; t /= g->h;
  int64_t c = t % g->c, n = t / g->c;
  int64_t cols = g->n * g->oh * g->ow;
  float sum = 0.0f;
  for (int ki = 0; ki < g->kh; ki++) {
    int64_t hh = h + g->ph - ki;
    if (hh < 0 || hh % g->sh) continue;
    int64_t oh = hh / g->sh;
    if (oh >= g->oh) continue;
    for (int kj = 0; kj < g->kw; kj++) {
      int64_t ww = w + g->pw - kj;
      if (ww < 0 || ww % g->sw) continue;
      int64_t ow = ww / g->sw;
      if (ow >= g->ow) continue;
      int64_t r = (c * g->kh + ki) * g->kw + kj;
      sum += col[r * cols + (n * g->oh + oh) * g->ow + ow];
    }
  }
  return sum;
}

/* The index into src (A, B, P) of element i of dst (B, A, P): the two
 * leading axes swapped. */
INC_HD static inline int64_t inc__k_swap01_index(int64_t i, int64_t a, int64_t b, int64_t p)
{
  int64_t pp = i % p, t = i / p;
  int64_t ai = t % a, bi = t / a;
  return (ai * b + bi) * p + pp;
}

/* dst[i] for dst (B, A, P) taken from src (A, B, P): swaps the two leading
 * axes. Used to move between (N, C, P) images and (C, N*P) GEMM operands. */
INC_HD static inline float inc__k_swap01(const float *src, int64_t i, int64_t a, int64_t b,
                                         int64_t p)
{
  return src[inc__k_swap01_index(i, a, b, p)];
}

/* y[i] for y (N, C, P) from the GEMM result tmp (C, N*P) plus bias (C)
 * (bias may be NULL), with an optional fused ReLU. */
INC_HD static inline float inc__k_conv_out(const float *tmp, const float *bias, int64_t i,
                                           int64_t n, int64_t c, int64_t p, int relu)
{
  int64_t ci = (i / p) % c;
  float v = inc__k_swap01(tmp, i, c, n, p) + (bias ? bias[ci] : 0.0f);
  return (relu && v < 0.0f) ? 0.0f : v;
}

/* y[i] of a direct convolution: y (N, OC, OH, OW), or channel-major
 * (OC, N, OH, OW) when cnhw, from x (N, C, H, W), w (OC, C*KH*KW) and bias
 * (OC; may be NULL): the products of the taps inside the image in
 * (c, ki, kj) order, then the bias, then the ReLU when relu. */
INC_HD static inline float inc__k_conv_direct(const float *x, const float *w, const float *bias,
                                              int64_t i, const inc__window *g, int64_t oc,
                                              int relu, int cnhw)
{
  int64_t ow = i % g->ow, t = i / g->ow;
  int64_t oh = t % g->oh;
  t /= g->oh;
  const int64_t o = cnhw ? t / g->n : t % oc, n = cnhw ? t % g->n : t / oc;
  const float *wo = w + o * g->c * g->kh * g->kw;
  float sum = 0.0f;
  for (int64_t c = 0; c < g->c; c++)
    for (int ki = 0; ki < g->kh; ki++) {
      const int64_t h = oh * g->sh - g->ph + ki;
      if (h < 0 || h >= g->h) continue;
      for (int kj = 0; kj < g->kw; kj++) {
        const int64_t ww = ow * g->sw - g->pw + kj;
        if (ww < 0 || ww >= g->w) continue;
        sum += wo[(c * g->kh + ki) * g->kw + kj] * x[((n * g->c + c) * g->h + h) * g->w + ww];
      }
    }
  const float v = sum + (bias ? bias[o] : 0.0f);
  return (relu && v < 0.0f) ? 0.0f : v;
}

/* wu[i] of the unrolled weight wu (OC*OH*OW, C*H*W) of w (OC, C*KH*KW)
 * over window g: row (o, oy, ox), column (c, iy, ix) holds the tap of
 * filter (o, c) that output (oy, ox) multiplies with input (iy, ix), or 0
 * when no tap does. */
INC_HD static inline float inc__k_unroll_w(const float *w, int64_t i, const inc__window *g)
{
  const int64_t hw = g->h * g->w, ohw = g->oh * g->ow, k = g->c * hw;
  const int64_t row = i / k, col = i % k;
  const int64_t o = row / ohw, oy = row % ohw / g->ow, ox = row % g->ow;
  const int64_t c = col / hw, iy = col % hw / g->w, ix = col % g->w;
  const int64_t ky = iy - oy * g->sh + g->ph, kx = ix - ox * g->sw + g->pw;
  if (ky < 0 || ky >= g->kh || kx < 0 || kx >= g->kw) return 0.0f;
  return w[((o * g->c + c) * g->kh + ky) * g->kw + kx];
}

/* dw[i] of the weight gradient dw (OC, C*KH*KW) from dwu (OC*OH*OW, C*H*W),
 * the gradient of unroll_w's wu: the entries that tap i went to, summed
 * over the outputs (oy, ox) in row-major order. */
INC_HD static inline float inc__k_unroll_dw(const float *dwu, int64_t i, const inc__window *g)
{
  const int64_t hw = g->h * g->w, k = g->c * hw;
  const int kx = (int)(i % g->kw), ky = (int)(i / g->kw % g->kh);
  const int64_t c = i / ((int64_t)g->kh * g->kw) % g->c, o = i / ((int64_t)g->kh * g->kw * g->c);
  float sum = 0.0f;
  for (int64_t oy = 0; oy < g->oh; oy++) {
    const int64_t iy = oy * g->sh - g->ph + ky;
    if (iy < 0 || iy >= g->h) continue;
    for (int64_t ox = 0; ox < g->ow; ox++) {
      const int64_t ix = ox * g->sw - g->pw + kx;
      if (ix < 0 || ix >= g->w) continue;
      sum += dwu[((o * g->oh + oy) * g->ow + ox) * k + c * hw + iy * g->w + ix];
    }
  }
  return sum;
}

/* db[j] for a bias of C channels: the sum of dy (N, C, P) over n and p. */
INC_HD static inline float inc__k_bias_grad(const float *dy, int64_t j, int64_t n, int64_t c,
                                            int64_t p)
{
  float sum = 0.0f;
  for (int64_t ni = 0; ni < n; ni++) {
    const float *row = dy + (ni * c + j) * p;
    for (int64_t pi = 0; pi < p; pi++) sum += row[pi];
  }
  return sum;
}

#endif /* INC_CONV_KERNELS_H */
