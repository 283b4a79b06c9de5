/*
 * kernels.h — the per-element bodies of every custom kernel, written once.
 *
 * Each function here computes one output element (or one row) from its flat
 * index. The CUDA backend calls it from one thread per element; the CPU
 * backend calls it from an OpenMP loop. Because both backends run the very
 * same index arithmetic, the CPU test suite exercises the CUDA kernels'
 * addressing even on a machine without a GPU. Keep these free of anything
 * that is not both valid C99 and CUDA C++ (no VLAs, no designated init).
 *
 * Layouts (row-major throughout):
 *   images      (N, C, H, W)
 *   im2col      col (C*KH*KW, N*OH*OW): row r = (c*KH + ki)*KW + kj,
 *               column q = (n*OH + oh)*OW + ow
 *   conv GEMM   out (OC, N*OH*OW) = weight (OC, C*KH*KW) x col
 */
#ifndef INC_KERNELS_H
#define INC_KERNELS_H

#include <stdint.h>
#include <math.h>

#ifdef __CUDACC__
#  define INC_HD __host__ __device__
#else
#  define INC_HD
#endif

/* Geometry of a convolution or pooling window pass: per axis, H then W
 * (a square window has kh == kw, sh == sw, ph == pw). Output row oh's window
 * starts at input row oh*sh - ph and spans kh rows; columns likewise. */
typedef struct inc__window {
  int64_t n, c, h, w; /* input (N, C, H, W)                   */
  int64_t oh, ow;     /* output spatial size                   */
  int kh, kw;         /* kernel height, width                  */
  int sh, sw;         /* stride along H, along W               */
  int ph, pw;         /* padding at each end of H, of W        */
} inc__window;

/* ---- convolution: its bodies in their own file -------------------------- */

#include "conv_kernels.h"

/* ---- elementwise -------------------------------------------------------- */

/* NaN propagates, as in PyTorch. */
INC_HD static inline float inc__k_relu(float x) { return x < 0.0f ? 0.0f : x; }

/* ReLU backward from the saved output y: dy where y > 0, else 0. */
INC_HD static inline float inc__k_relu_grad(float dy, float y) { return y > 0.0f ? dy : 0.0f; }

/* y[i] + bias[c] for y (N, C, P). */
INC_HD static inline float inc__k_bias_add(const float *y, const float *bias, int64_t i,
                                           int64_t c, int64_t p)
{
  return y[i] + bias[(i / p) % c];
}

/* Index into a (N, CT, P) tensor of element i of its channel slice
 * [off, off + CB), the slice seen as a dense (N, CB, P) tensor. Concat
 * forward writes big[this] = small[i]; backward reads small[i] = big[this]. */
INC_HD static inline int64_t inc__k_slice_index(int64_t i, int64_t cb, int64_t ct, int64_t off,
                                                int64_t p)
{
  int64_t pp = i % p, t = i / p;
  int64_t c = t % cb, n = t / cb;
  return (n * ct + off + c) * p + pp;
}

/* ---- pooling ------------------------------------------------------------ */

/* Max over the window of output i of y (N, C, OH, OW); padding is -inf.
 * *arg receives the argmax as h*W + w within the plane (first max wins). */
INC_HD static inline float inc__k_maxpool(const float *x, int64_t i, const inc__window *g,
                                          int32_t *arg)
{
  int64_t ow = i % g->ow, t = i / g->ow;
  int64_t oh = t % g->oh, nc = t / g->oh;
  const float *plane = x + nc * g->h * g->w;
  int64_t h0 = oh * g->sh - g->ph, w0 = ow * g->sw - g->pw;
  float best = -INFINITY;
  int64_t besti = -1;
  for (int ki = 0; ki < g->kh; ki++) {
    int64_t h = h0 + ki;
    if (h < 0 || h >= g->h) continue;
    for (int kj = 0; kj < g->kw; kj++) {
      int64_t w = w0 + kj;
      if (w < 0 || w >= g->w) continue;
      float v = plane[h * g->w + w];
      if (besti < 0 || v > best || v != v) { /* NaN propagates, like PyTorch */
        best = v;
        besti = h * g->w + w;
      }
    }
  }
  *arg = (int32_t)besti;
  return best;
}

/* The range [*lo, *hi] of output positions (along one axis of size out) whose
 * window of size k, stride s, padding p contains input position x. Empty
 * when *lo > *hi. */
INC_HD static inline void inc__k_window_range(int64_t x, int k, int s, int p, int64_t out,
                                              int64_t *lo, int64_t *hi)
{
  int64_t a = x + p - k + 1; /* smallest o*s that still reaches x */
  *lo = a <= 0 ? 0 : (a + s - 1) / s;
  int64_t b = (x + p) / s;
  *hi = b < out - 1 ? b : out - 1;
}

/* dx[i] of max-pool backward: the dy of every window whose argmax is i. */
INC_HD static inline float inc__k_maxpool_grad(const float *dy, const int32_t *arg, int64_t i,
                                               const inc__window *g)
{
  int64_t w = i % g->w, t = i / g->w;
  int64_t h = t % g->h, nc = t / g->h;
  int64_t oh0, oh1, ow0, ow1;
  inc__k_window_range(h, g->kh, g->sh, g->ph, g->oh, &oh0, &oh1);
  inc__k_window_range(w, g->kw, g->sw, g->pw, g->ow, &ow0, &ow1);
  int32_t me = (int32_t)(h * g->w + w);
  const int64_t base = nc * g->oh * g->ow;
  float sum = 0.0f;
  for (int64_t oh = oh0; oh <= oh1; oh++)
    for (int64_t ow = ow0; ow <= ow1; ow++)
      if (arg[base + oh * g->ow + ow] == me) sum += dy[base + oh * g->ow + ow];
  return sum;
}

/* The divisor of average-pool output (oh, ow): the window's size clipped to
 * the padded input, so padding counts (PyTorch count_include_pad=True). */
INC_HD static inline float inc__k_avgpool_div(int64_t oh, int64_t ow, const inc__window *g)
{
  int64_t h0 = oh * g->sh - g->ph, w0 = ow * g->sw - g->pw;
  int64_t h1 = h0 + g->kh, w1 = w0 + g->kw;
  if (h1 > g->h + g->ph) h1 = g->h + g->ph;
  if (w1 > g->w + g->pw) w1 = g->w + g->pw;
  return (float)((h1 - h0) * (w1 - w0));
}

/* y[i] of average pooling for y (N, C, OH, OW). */
INC_HD static inline float inc__k_avgpool(const float *x, int64_t i, const inc__window *g)
{
  int64_t ow = i % g->ow, t = i / g->ow;
  int64_t oh = t % g->oh, nc = t / g->oh;
  const float *plane = x + nc * g->h * g->w;
  int64_t h0 = oh * g->sh - g->ph, w0 = ow * g->sw - g->pw;
  float sum = 0.0f;
  for (int ki = 0; ki < g->kh; ki++) {
    int64_t h = h0 + ki;
    if (h < 0 || h >= g->h) continue;
    for (int kj = 0; kj < g->kw; kj++) {
      int64_t w = w0 + kj;
      if (w < 0 || w >= g->w) continue;
      sum += plane[h * g->w + w];
    }
  }
  return sum / inc__k_avgpool_div(oh, ow, g);
}

/* dx[i] of average-pool backward: sum over covering windows of dy/divisor. */
INC_HD static inline float inc__k_avgpool_grad(const float *dy, int64_t i, const inc__window *g)
{
  int64_t w = i % g->w, t = i / g->w;
  int64_t h = t % g->h, nc = t / g->h;
  int64_t oh0, oh1, ow0, ow1;
  inc__k_window_range(h, g->kh, g->sh, g->ph, g->oh, &oh0, &oh1);
  inc__k_window_range(w, g->kw, g->sw, g->pw, g->ow, &ow0, &ow1);
  const float *plane = dy + nc * g->oh * g->ow;
  float sum = 0.0f;
  for (int64_t oh = oh0; oh <= oh1; oh++)
    for (int64_t ow = ow0; ow <= ow1; ow++)
      sum += plane[oh * g->ow + ow] / inc__k_avgpool_div(oh, ow, g);
  return sum;
}

/* y[j] of global average pooling: the mean of plane j of x (planes of hw). */
INC_HD static inline float inc__k_gap(const float *x, int64_t j, int64_t hw)
{
  const float *plane = x + j * hw;
  float sum = 0.0f;
  for (int64_t t = 0; t < hw; t++) sum += plane[t];
  return sum / (float)hw;
}

/* dx[i] of global average pooling backward. */
INC_HD static inline float inc__k_gap_grad(const float *dy, int64_t i, int64_t hw)
{
  return dy[i / hw] / (float)hw;
}

/* ---- batch norm --------------------------------------------------------
 * x (N, C, P): channel c's statistics run over its M = N*P values (a
 * channel-major tensor is passed as (1, C, N*P)); invstd = 1/sqrt(var + eps). */

/* Channel ci's mean and biased variance, two passes in double, each over
 * eight partial sums (lane k % 8 of a row) added pairwise at the end: the
 * adds of one lane do not wait on the others', and the order is fixed by
 * the shape alone (not by the thread count). */
INC_HD static inline void inc__k_bn_stats(const float *x, int64_t ci, int64_t n, int64_t c,
                                          int64_t p, double *mean, double *var)
{
  double s[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  for (int64_t ni = 0; ni < n; ni++) {
    const float *r = x + (ni * c + ci) * p;
    for (int64_t k = 0; k < p; k++) s[k & 7] += r[k];
  }
  double mu = (((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))) / (double)(n * p);
  for (int l = 0; l < 8; l++) s[l] = 0.0;
  for (int64_t ni = 0; ni < n; ni++) {
    const float *r = x + (ni * c + ci) * p;
    for (int64_t k = 0; k < p; k++) {
      double d = r[k] - mu;
      s[k & 7] += d * d;
    }
  }
  *mean = mu;
  *var = (((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))) / (double)(n * p);
}

/* PyTorch's running statistics update for channel ci from the batch's mean
 * and biased variance over m >= 2 values: the variance enters unbiased. */
INC_HD static inline void inc__k_bn_running(float *running_mean, float *running_var, int64_t ci,
                                            const float *mean, const float *var, int64_t m,
                                            float momentum)
{
  float unbiased = (float)((double)var[ci] * (double)m / (double)(m - 1));
  running_mean[ci] = (1.0f - momentum) * running_mean[ci] + momentum * mean[ci];
  running_var[ci] = (1.0f - momentum) * running_var[ci] + momentum * unbiased;
}

/* One normalised value: (x - mean) * invstd * weight + bias, ReLU if relu. */
INC_HD static inline float inc__k_bn_norm(float x, float mean, float invstd, float weight,
                                          float bias, int relu)
{
  float v = (x - mean) * invstd * weight + bias;
  return (relu && v < 0.0f) ? 0.0f : v;
}

/* y[i] of x (N, C, P) normalised with per-channel mean and invstd. */
INC_HD static inline float inc__k_bn_apply(const float *x, int64_t i, int64_t c, int64_t p,
                                           const float *mean, const float *invstd,
                                           const float *weight, const float *bias, int relu)
{
  int64_t ci = (i / p) % c;
  return inc__k_bn_norm(x[i], mean[ci], invstd[ci], weight[ci], bias[ci], relu);
}

/* One value in evaluation: (x - running_mean) / sd * weight + bias, ReLU if
 * relu, with sd = inc__k_bn_sd(running_var, eps). */
INC_HD static inline float inc__k_bn_sd(float running_var, float eps)
{
  return sqrtf(running_var + eps);
}
INC_HD static inline float inc__k_bn_eval_val(float x, float running_mean, float sd,
                                              float weight, float bias, int relu)
{
  float v = (x - running_mean) / sd * weight + bias;
  return (relu && v < 0.0f) ? 0.0f : v;
}

/* y[i] in evaluation: the running statistics in place of the batch's. */
INC_HD static inline float inc__k_bn_eval(const float *x, int64_t i, int64_t c, int64_t p,
                                          const float *running_mean, const float *running_var,
                                          const float *weight, const float *bias, float eps,
                                          int relu)
{
  int64_t ci = (i / p) % c;
  return inc__k_bn_eval_val(x[i], running_mean[ci], inc__k_bn_sd(running_var[ci], eps),
                            weight[ci], bias[ci], relu);
}

/* Channel ci's gradient sums in double, eight lanes each as in
 * inc__k_bn_stats: dbias = sum dy, dweight = sum dy * xhat. */
INC_HD static inline void inc__k_bn_grad_sums(const float *dy, const float *x, int64_t ci,
                                              int64_t n, int64_t c, int64_t p, float mean,
                                              float invstd, double *dbias, double *dweight)
{
  double b[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  double w[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  for (int64_t ni = 0; ni < n; ni++) {
    const float *g = dy + (ni * c + ci) * p, *r = x + (ni * c + ci) * p;
    for (int64_t k = 0; k < p; k++) {
      b[k & 7] += g[k];
      w[k & 7] += (double)g[k] * (double)((r[k] - mean) * invstd);
    }
  }
  *dbias = ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
  *dweight = ((w[0] + w[1]) + (w[2] + w[3])) + ((w[4] + w[5]) + (w[6] + w[7]));
}

/* One input gradient of a training-mode batch norm, from its channel's sums
 * over m values (inv_m = 1/m): weight invstd (dy - (dbias + xhat dweight) / m). */
INC_HD static inline float inc__k_bn_dx_val(float dy, float x, float mean, float invstd,
                                            float weight, float dweight, float dbias,
                                            float inv_m)
{
  float xhat = (x - mean) * invstd;
  return weight * invstd * (dy - (dbias + xhat * dweight) * inv_m);
}

/* dx[i] of x, dy (N, C, P). */
INC_HD static inline float inc__k_bn_dx(const float *dy, const float *x, int64_t i, int64_t c,
                                        int64_t p, const float *mean, const float *invstd,
                                        const float *weight, const float *dweight,
                                        const float *dbias, float inv_m)
{
  int64_t ci = (i / p) % c;
  return inc__k_bn_dx_val(dy[i], x[i], mean[ci], invstd[ci], weight[ci], dweight[ci], dbias[ci],
                          inv_m);
}

/* Folding an evaluation batch norm into the convolution before it, whose
 * weight is (OC, K) and bias b (OC; may be NULL): scale s = weight /
 * sqrt(running_var + eps); w_out[i] = w[i] * s, b_out[o] = (b - running_mean)
 * * s + bias. */
INC_HD static inline float inc__k_bn_fold_w(const float *w, int64_t i, int64_t k,
                                            const float *weight, const float *running_var,
                                            float eps)
{
  int64_t o = i / k;
  return w[i] * (weight[o] / sqrtf(running_var[o] + eps));
}

INC_HD static inline float inc__k_bn_fold_b(const float *b, int64_t o, const float *weight,
                                            const float *bias, const float *running_mean,
                                            const float *running_var, float eps)
{
  float s = weight[o] / sqrtf(running_var[o] + eps);
  return ((b ? b[o] : 0.0f) - running_mean[o]) * s + bias[o];
}

/* ---- loss --------------------------------------------------------------- */

/* Softmax cross-entropy of one row of k logits against label, with label
 * smoothing eps (PyTorch's label_smoothing): the target is q = (1 - eps)
 * onehot + eps / k. Returns the row's loss -sum_j q_j log softmax_j, writes
 * (softmax - q) * scale into drow when it is not NULL, and sets *hit to 1
 * when the row's argmax (first max) is the label. With eps = 0, q is the
 * onehot exactly and the loss the label's term alone. */
INC_HD static inline float inc__k_softmax_ce_row(const float *row, int32_t label, int64_t k,
                                                 float scale, float eps, float *drow, int *hit)
{
  float m = row[0];
  int64_t am = 0;
  for (int64_t j = 1; j < k; j++)
    if (row[j] > m) { m = row[j]; am = j; }
  float sum = 0.0f;
  for (int64_t j = 0; j < k; j++) sum += expf(row[j] - m);
  float ls = logf(sum); /* kept apart from m so huge logits lose no precision */
  float spread = eps / (float)k; /* q's share of every class */
  if (drow)
    for (int64_t j = 0; j < k; j++)
      drow[j] = (expf((row[j] - m) - ls) - ((j == label ? 1.0f - eps : 0.0f) + spread)) * scale;
  *hit = (am == label);
  float nll = (m - row[label]) + ls;
  if (eps == 0.0f) return nll;
  /* -mean_j log softmax_j = ls + mean_j (m - row_j), each term >= 0 */
  float gap = 0.0f;
  for (int64_t j = 0; j < k; j++) gap += m - row[j];
  return (1.0f - eps) * nll + eps * (ls + gap / (float)k);
}

/* ---- optimizer ---------------------------------------------------------- */

/* One SGD step on element i (PyTorch's rule). buf is the momentum buffer
 * (unused when momentum == 0); first says the buffer is not yet set. */
INC_HD static inline void inc__k_sgd(float *param, float *buf, const float *grad, int64_t i,
                                     float lr, float momentum, float weight_decay, int first)
{
  float g = grad[i];
  if (weight_decay != 0.0f) g = fmaf(weight_decay, param[i], g);
  if (momentum != 0.0f) {
    g = first ? g : fmaf(momentum, buf[i], g);
    buf[i] = g;
  }
  param[i] = fmaf(-lr, g, param[i]);
}

/* ---- random fills ------------------------------------------------------- */

/* splitmix64's finalizer: a bijective 64-bit mixer. */
INC_HD static inline uint64_t inc__k_mix64(uint64_t z)
{
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* A uniform float in (0, 1) that is a pure function of (seed, stream, i):
 * the counter-based generator behind every parameter fill. */
INC_HD static inline float inc__k_uniform01(uint64_t seed, uint64_t stream, uint64_t i)
{
  uint64_t z = inc__k_mix64(seed + 0x9e3779b97f4a7c15ULL * (stream + 1));
  z = inc__k_mix64(z ^ (i * 0xd1b54a32d192ed03ULL + 0x8cb92ba72f3d8dd7ULL));
  /* an odd multiple of 2^-25: exact in float, never 0 or 1 */
  return (float)(((z >> 41) << 1) | 1u) * (1.0f / 16777216.0f);
}

/* Fill distributions. */
enum { INC__FILL_UNIFORM = 0, INC__FILL_NORMAL = 1 };

/* Element i of a fill: uniform on [a, b) or normal with mean a and standard
 * deviation b (Box-Muller). The uniform fill is bit-identical on every
 * backend (fmaf is correctly rounded everywhere); the normal fill may differ
 * in the last bits because logf/cosf differ between libm and CUDA. */
INC_HD static inline float inc__k_fill(int dist, float a, float b, uint64_t seed, uint64_t stream,
                                       int64_t i)
{
  if (dist == INC__FILL_UNIFORM) {
    float u = inc__k_uniform01(seed, stream, (uint64_t)i);
    return fmaf(b - a, u, a);
  }
  float u1 = inc__k_uniform01(seed, stream, 2 * (uint64_t)i);
  float u2 = inc__k_uniform01(seed, stream, 2 * (uint64_t)i + 1);
  float r = sqrtf(-2.0f * logf(u1));
  return fmaf(b, r * cosf(6.283185307179586f * u2), a);
}

/* ---- dropout ------------------------------------------------------------ */

/* Whether element i of a dropout mask keeps its value: with probability
 * 1 - p (u >= p for the uniform u of (seed, stream, i), which is never 0,
 * so p = 0 keeps every element). i is the element's row-major index in the
 * logical (N, C, ...) shape, whatever the layout the tensor is stored in. */
INC_HD static inline int inc__k_dropout_keep(float p, uint64_t seed, uint64_t stream, int64_t i)
{
  return inc__k_uniform01(seed, stream, (uint64_t)i) >= p;
}

/* y[i] of dropout (inverted, PyTorch's): x[i] times the mask value, 1/(1-p)
 * where the element is kept and 0 where it is dropped (a product, so a
 * dropped NaN or infinity gives NaN, as in PyTorch). x and y are (N, C, P),
 * stored channel-major (C, N, P) when cnhw: the mask follows the logical
 * index. The backward pass is the same product on dy. */
INC_HD static inline float inc__k_dropout(const float *x, int64_t i, int64_t n, int64_t c,
                                          int64_t plane, int cnhw, float p, uint64_t seed,
                                          uint64_t stream)
{
  int64_t at = cnhw ? inc__k_swap01_index(i, n, c, plane) : i;
  float keep = 1.0f / (1.0f - p);
  return x[i] * (inc__k_dropout_keep(p, seed, stream, at) ? keep : 0.0f);
}

/* ---- bf16 rounding (the GEMM inputs of INC_PRECISION_BF16) --------------- */

/* The bfloat16 nearest to the float32 whose bits are u, as its 16 bits (the
 * top half of a float32: sign, 8 exponent bits, 7 mantissa bits): round to
 * nearest, ties to even, on the 16 bits dropped; what overflows becomes
 * infinity, as IEEE rounding does; a NaN stays a NaN (made quiet, so that
 * dropping its low bits cannot turn it into infinity). Bits in, bits out:
 * the caller reads and writes the memory (no type punning here). */
INC_HD static inline uint16_t inc__k_bf16_bits(uint32_t u)
{
  const uint32_t nan = (u >> 16) | 0x0040u, rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded); /* a select: vectorises */
}

/* ---- Winograd convolution: the transforms, in their own file ------------ */

#include "winograd_kernels.h"

#endif /* INC_KERNELS_H */
