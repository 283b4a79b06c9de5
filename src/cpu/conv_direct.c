/*
 * conv_direct.c — the CPU direct convolution (op conv_direct): a
 * network's first convolution, whose few input channels (one for
 * Fashion-MNIST's stem, three for RGB) make im2col's col matrix the
 * largest pass of the layer (at 96x96 the 7x7 stem's col is 58 MB for 75 MB
 * of output). Output rows (n, oh) go in chunks of about CHUNK_FLOATS: the
 * chunk's windows are laid out as a small col (C*KH*KW, rows*OWP) that
 * stays in the cache, each input row split once by column phase (stride
 * s: s runs of every s-th pixel) so that every tap's row is one copy; then
 * AVX-512 register blocks of 8 output channels by 48 columns multiply it
 * with the weight and write y with bias and ReLU, rows of consecutive
 * channels streaming out. A stride-1 convolution of 8 or more channels on
 * a map at most 16 wide (the plan gives GoogLeNet's small 5x5 ones this op
 * too, src/layers/conv2d.c) goes another way, output channels in the
 * vectors (below, "stride 1 on small maps"). Without AVX-512 every output
 * is the INC_HD body of src/conv_kernels.h (the CUDA kernel's). The sums
 * differ from the body's by rounding only (fused multiply-adds, per-lane
 * order).
 */
#include <string.h>
#include <omp.h>
#include "cpu.h"

/* The body, one output per iteration (no AVX-512, or shapes the blocks do
 * not take). */
static void direct_body(float *y, const float *x, const float *w, const float *bias,
                        const inc__window *g, int64_t oc, int relu, int cnhw, inc_context *ctx)
{
  const int64_t total = g->n * oc * g->oh * g->ow;
  const int64_t k = (int64_t)g->c * g->kh * g->kw;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, total * k))
  for (int64_t i = 0; i < total; i++) y[i] = inc__k_conv_direct(x, w, bias, i, g, oc, relu, cnhw);
}

#if INC__CPU_X86

#define OB 8                      /* output channels per register block */
#define CHUNK_FLOATS (1 << 16)    /* a chunk's col: 256 KiB */
#define KMAX 1024                 /* C*KH*KW the blocks take */

/* The weight w (OC, K) as blocks of ob channels, (OC/ob, K, ob), the last
 * block's channels past oc zero (their sums are not stored). */
static void weight_blocks(float *wt, const float *w, int64_t oc, int64_t k, int64_t ob)
{
  if (oc % ob) memset(wt + oc / ob * ob * k, 0, (size_t)(ob * k) * sizeof *wt);
  for (int64_t o = 0; o < oc; o++)
    for (int64_t t = 0; t < k; t++) wt[(o / ob * k + t) * ob + o % ob] = w[o * k + t];
}

/* Where output row r = (n, oh) of channel o starts in y: row + o * ostride. */
typedef struct ylay {
  int64_t ostride;   /* between channels */
  int64_t n_stride;  /* between images (channel-major: OH*OW; else OC*OH*OW) */
  int64_t oh, ow;
} ylay;

static inline int64_t row_at(const ylay *yl, int64_t r)
{
  return r / yl->oh * yl->n_stride + r % yl->oh * yl->ow;
}

/* Output channels o0 .. o0+OB-1 (those below oc) at columns j0 .. j0+16*NV
 * of the chunk's col (K, W), rows r0 + column / owp: the weight wt (K, OB)
 * of that block of channels times the col, plus bias, ReLU, into y. */
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
block(float *y, const ylay *yl, int64_t r0, const float *col, int64_t k, int64_t width,
      int64_t owp, int64_t j0, const float *wt, const float *bias, int64_t o0, int64_t oc,
      int relu, const int NV)
{
  __m512 acc[OB][3];
#pragma GCC unroll 8
  for (int a = 0; a < OB; a++)
#pragma GCC unroll 3
    for (int v = 0; v < NV; v++) acc[a][v] = _mm512_setzero_ps();
  const float *cr = col + j0;
  for (int64_t t = 0; t < k; t++, cr += width) {
    __m512 xv[3];
#pragma GCC unroll 3
    for (int v = 0; v < NV; v++) xv[v] = _mm512_loadu_ps(cr + 16 * v);
#pragma GCC unroll 8
    for (int a = 0; a < OB; a++) {
      const __m512 wv = _mm512_set1_ps(wt[t * OB + a]);
#pragma GCC unroll 3
      for (int v = 0; v < NV; v++) acc[a][v] = _mm512_fmadd_ps(wv, xv[v], acc[a][v]);
    }
  }
  for (int v = 0; v < NV; v++) {
    const int64_t jj = j0 + 16 * v, rr = jj / owp, c0 = jj - rr * owp;
    if (c0 >= yl->ow) continue; /* the padding columns of a row */
    const int left = yl->ow - c0 < 16 ? (int)(yl->ow - c0) : 16;
    const __mmask16 keep = (__mmask16)((1u << left) - 1u);
    float *yv = y + row_at(yl, r0 + rr) + c0;
    for (int a = 0; a < OB && o0 + a < oc; a++) {
      __m512 s = _mm512_add_ps(acc[a][v], _mm512_set1_ps(bias ? bias[o0 + a] : 0.0f));
      if (relu) s = _mm512_max_ps(_mm512_setzero_ps(), s); /* a NaN stays (second operand) */
      _mm512_mask_storeu_ps(yv + (o0 + a) * yl->ostride, keep, s);
    }
  }
}

/* Every block of the chunk (rows r0.., its col (K, width)). */
__attribute__((target("avx512f"))) static void chunk_blocks(float *y, const ylay *yl, int64_t r0,
                                                             const float *col, int64_t k,
                                                             int64_t width, int64_t owp,
                                                             const float *wt, const float *bias,
                                                             int64_t oc, int relu)
{
  for (int64_t o0 = 0; o0 < oc; o0 += OB) {
    const float *wb = wt + o0 * k; /* (K, OB) */
    for (int64_t j0 = 0; j0 < width; j0 += 48) {
      const int64_t nv = width - j0 >= 48 ? 3 : (width - j0) / 16;
      if (nv == 3)
        block(y, yl, r0, col, k, width, owp, j0, wb, bias, o0, oc, relu, 3);
      else if (nv == 2)
        block(y, yl, r0, col, k, width, owp, j0, wb, bias, o0, oc, relu, 2);
      else
        block(y, yl, r0, col, k, width, owp, j0, wb, bias, o0, oc, relu, 1);
    }
  }
}

/* Splits input row src (w values) into its sw column phases: phase[q*pl +
 * j] = the padded row's pixel j*sw + q, zero outside the image. */
static void split_row(float *phase, int64_t pl, const float *src, const inc__window *g)
{
  for (int q = 0; q < g->sw; q++)
    for (int64_t j = 0; j < pl; j++) {
      const int64_t t = j * g->sw + q - g->pw;
      phase[q * pl + j] = t >= 0 && t < g->w ? src[t] : 0.0f;
    }
}

/* The chunk's col (K, width): for row r0 + rr = (n, oh) and tap (c, ki,
 * kj), columns rr*owp .. rr*owp + OW - 1 get x's pixels ow*sw - pw + kj of
 * input row ih = oh*sh - ph + ki, zero outside the image. Each input row
 * an image's rows of the chunk read is split by phase once (phase is
 * scratch, (SW, PL)), then copied to every (row, ki) that reads it: with a
 * 7x7 stride-2 kernel an input row serves up to 4 output rows. */
static void chunk_col(float *col, float *phase, int64_t pl, const float *x, const inc__window *g,
                      int64_t r0, int64_t rows, int64_t width, int64_t owp)
{
  const int64_t kk = (int64_t)g->kh * g->kw, sh = g->sh, ph = g->ph;
  for (int64_t rr = 0; rr < rows; rr++) /* taps on rows outside the image: zero */
    for (int ki = 0; ki < g->kh; ki++) {
      const int64_t ih = (r0 + rr) % g->oh * sh - ph + ki;
      if (ih >= 0 && ih < g->h) continue;
      for (int64_t c = 0; c < g->c; c++)
        for (int kj = 0; kj < g->kw; kj++)
          memset(col + (c * kk + (int64_t)ki * g->kw + kj) * width + rr * owp, 0,
                 (size_t)g->ow * sizeof *col);
    }
  for (int64_t rr0 = 0; rr0 < rows;) { /* the chunk's rows of one image: rr0 .. rr1-1 */
    const int64_t n = (r0 + rr0) / g->oh, oh0 = (r0 + rr0) % g->oh;
    const int64_t rr1 = rows - rr0 < g->oh - oh0 ? rows : rr0 + g->oh - oh0, oh1 = oh0 + rr1 - rr0 - 1;
    const int64_t ih0 = oh0 * sh - ph < 0 ? 0 : oh0 * sh - ph;
    const int64_t ih1 = oh1 * sh - ph + g->kh > g->h ? g->h : oh1 * sh - ph + g->kh;
    for (int64_t c = 0; c < g->c; c++)
      for (int64_t ih = ih0; ih < ih1; ih++) {
        split_row(phase, pl, x + ((n * g->c + c) * g->h + ih) * g->w, g);
        /* the output rows whose window has ih as its row ki = ih + ph - oh*sh */
        const int64_t lo = ih + ph - g->kh + 1, hi = (ih + ph) / sh;
        for (int64_t oh = lo <= oh0 * sh ? oh0 : (lo + sh - 1) / sh; oh <= hi && oh <= oh1; oh++) {
          const int64_t ki = ih + ph - oh * sh;
          float *d = col + (c * kk + ki * g->kw) * width + (rr0 + oh - oh0) * owp;
          for (int kj = 0; kj < g->kw; kj++)
            memcpy(d + kj * width, phase + (kj % g->sw) * pl + kj / g->sw,
                   (size_t)g->ow * sizeof *d);
        }
      }
    rr0 = rr1;
  }
}

/* 1 when it convolved (AVX-512, C*KH*KW <= KMAX, memory for the
 * scratch), else 0. */
static int direct_blocks(float *y, const float *x, const float *w, const float *bias,
                         const inc__window *g, int64_t oc, int relu, int cnhw, inc_context *ctx)
{
  const int64_t k = (int64_t)g->c * g->kh * g->kw, owp = (g->ow + 15) / 16 * 16;
  if (!inc__cpu_avx512() || k > KMAX || g->ow < 1 || g->oh < 1) return 0;
  const int64_t rows = g->n * g->oh, ohw = g->oh * g->ow, obs = (oc + OB - 1) / OB;
  int64_t per = CHUNK_FLOATS / (k * owp); /* rows a chunk */
  if (per < 1) per = 1;
  if (per > rows) per = rows;
  const int64_t chunks = (rows + per - 1) / per, pl = g->ow + g->kw; /* a phase's length */
  const int nt = inc__cpu_threads(ctx, rows * g->ow * oc * k);
  const int64_t scratch = per * owp * k + g->sw * pl; /* a thread's col and phases */
  /* the weight as (OC/OB, K, OB) blocks, zero past oc; each thread's col */
  float *wt = (float *)inc__malloc((size_t)(obs * OB * k + nt * scratch) * sizeof *wt);
  if (!wt) return 0;
  weight_blocks(wt, w, oc, k, OB);
  const ylay yl = {cnhw ? g->n * ohw : ohw, cnhw ? ohw : oc * ohw, g->oh, g->ow};
#pragma omp parallel num_threads(nt)
  {
    float *col = wt + obs * OB * k + (int64_t)omp_get_thread_num() * scratch;
    float *phase = col + per * owp * k;
#pragma omp for schedule(static)
    for (int64_t ch = 0; ch < chunks; ch++) {
      const int64_t r0 = ch * per, nr = rows - r0 < per ? rows - r0 : per, width = nr * owp;
      if (owp > g->ow) /* the padding columns of each row: read, never stored */
        for (int64_t t = 0; t < k; t++)
          for (int64_t rr = 0; rr < nr; rr++)
            memset(col + t * width + rr * owp + g->ow, 0, (size_t)(owp - g->ow) * sizeof *col);
      chunk_col(col, phase, pl, x, g, r0, nr, width, owp);
      chunk_blocks(y, &yl, r0, col, k, width, owp, wt, bias, oc, relu);
    }
  }
  inc__free(wt);
  return 1;
}

/* ---- stride 1 on small maps: output channels in the vectors -------------
 * A stride-1 convolution of many input channels on a small map (GoogLeNet's
 * 5x5 convolutions of 16 to 32 channels on 12x12 and 6x6 maps) has too few
 * columns per row for the blocks above and a col several times its input.
 * Here each image is copied once into a zero-padded (C, H+2PH, W+2PW)
 * scratch and the products run with 32 output channels in two vectors:
 * for a strip of output pixels (2 rows of up to 6; 4 rows of maps up to 3
 * wide) and every tap (c, i, j), two weight vectors and a broadcast of
 * each of the strip's pixels make 2 multiply-adds a pixel, the sums then
 * bias, ReLU and transposed into y's rows (a strip of 12 pixels: 24
 * accumulators, 2 weight loads and 12 broadcasts per 24 multiply-adds;
 * 92 GFLOP/s on one thread of an Intel Xeon with the data in L1, against
 * 79 for 1 row of 12). Taps on padding are multiplied by the scratch's
 * zeros, as im2col's GEMM does. */

#define OCV 32 /* output channels per block: two vectors */
#define RBMAX 12 /* pixels per strip: 24 accumulators */

/* Sums of one strip, RR rows of RB pixels: tile[q][l] (q = rr*RB + r) =
 * sum over taps (c, i, j) of wt[tap][l] * the padded image xp (C, HP, WP)
 * at pixel (oh + rr + i, ow0 + r + j). */
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
strip(float *tile, const float *xp, int64_t hp, int64_t wp, const float *wt, int64_t c, int kh,
      int kw, int64_t oh, int64_t ow0, const int RR, const int RB)
{
  __m512 a0[RBMAX], a1[RBMAX];
#pragma GCC unroll 12
  for (int q = 0; q < RR * RB; q++) a0[q] = a1[q] = _mm512_setzero_ps();
  for (int64_t ci = 0; ci < c; ci++)
    for (int i = 0; i < kh; i++) {
      const float *row = xp + (ci * hp + oh + i) * wp + ow0;
      for (int j = 0; j < kw; j++, wt += OCV) {
        const __m512 w0 = _mm512_loadu_ps(wt), w1 = _mm512_loadu_ps(wt + 16);
#pragma GCC unroll 12
        for (int q = 0; q < RR * RB; q++) {
          const __m512 xv = _mm512_set1_ps(row[q / RB * wp + q % RB + j]);
          a0[q] = _mm512_fmadd_ps(w0, xv, a0[q]);
          a1[q] = _mm512_fmadd_ps(w1, xv, a1[q]);
        }
      }
    }
#pragma GCC unroll 12
  for (int q = 0; q < RR * RB; q++) {
    _mm512_storeu_ps(tile + q * OCV, a0[q]);
    _mm512_storeu_ps(tile + q * OCV + 16, a1[q]);
  }
}

/* A strip of rr rows (1 to 4) of rb pixels (1 to 6; at most 3 when rr > 2),
 * both constants in each call. */
__attribute__((target("avx512f"))) static void strip_any(float *tile, const float *xp, int64_t hp,
                                                          int64_t wp, const float *wt, int64_t c,
                                                          int kh, int kw, int64_t oh, int64_t ow0,
                                                          int rr, int rb)
{
  switch (rr * 16 + rb) {
#define STRIP(r, b)                                                                            \
  case r * 16 + b:                                                                             \
    strip(tile, xp, hp, wp, wt, c, kh, kw, oh, ow0, r, b);                                     \
    break;
    STRIP(4, 1) STRIP(4, 2) STRIP(4, 3) STRIP(3, 1) STRIP(3, 2) STRIP(3, 3)
    STRIP(2, 1) STRIP(2, 2) STRIP(2, 3) STRIP(2, 4) STRIP(2, 5) STRIP(2, 6)
    STRIP(1, 1) STRIP(1, 2) STRIP(1, 3) STRIP(1, 4) STRIP(1, 5) default: STRIP(1, 6)
#undef STRIP
  }
}

/* Whether the convolution takes the output-channel vectors. */
static int small_maps(const inc__window *g)
{
  return g->sh == 1 && g->sw == 1 && g->c >= 8 && g->ow <= 16 && g->kh * g->kw > 1;
}

/* 1 when it convolved (AVX-512, memory for the scratch), else 0. */
static int direct_small(float *y, const float *x, const float *w, const float *bias,
                        const inc__window *g, int64_t oc, int relu, int cnhw, inc_context *ctx)
{
  if (!inc__cpu_avx512()) return 0;
  const int64_t k = (int64_t)g->c * g->kh * g->kw, obs = (oc + OCV - 1) / OCV;
  const int64_t hp = g->h + 2 * g->ph, wp = g->w + 2 * g->pw, img = g->c * hp * wp;
  const int nt = inc__cpu_threads(ctx, g->n * g->oh * g->ow * oc * k);
  const int64_t scratch = img + RBMAX * OCV; /* a thread's padded image and tile */
  /* the weight as (OC/OCV, C, KH, KW, OCV) blocks, zero past oc */
  float *wt = (float *)inc__malloc((size_t)(obs * OCV * k + nt * scratch) * sizeof *wt);
  if (!wt) return 0;
  weight_blocks(wt, w, oc, k, OCV);
  const int64_t ohw = g->oh * g->ow, ostride = cnhw ? g->n * ohw : ohw;
  /* a strip: 4 rows of maps up to 3 wide, else 2 rows of up to 6 pixels */
  const int64_t rows = g->ow <= 3 ? 4 : 2, cols = g->ow <= 3 ? 3 : 6;
#pragma omp parallel num_threads(nt)
  {
    float *xp = wt + obs * OCV * k + (int64_t)omp_get_thread_num() * scratch; /* (C, HP, WP) */
    float *tile = xp + img;                                                      /* (RB, OCV) */
    memset(xp, 0, (size_t)img * sizeof *xp); /* the border stays zero */
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g->n; n++) {
      for (int64_t ci = 0; ci < g->c; ci++)
        for (int64_t ih = 0; ih < g->h; ih++)
          memcpy(xp + (ci * hp + ih + g->ph) * wp + g->pw, x + ((n * g->c + ci) * g->h + ih) * g->w,
                 (size_t)g->w * sizeof *xp);
      float *yn = y + n * (cnhw ? ohw : oc * ohw); /* channel o's map at yn + o * ostride */
      for (int64_t ob = 0; ob < obs; ob++) {
        const int64_t o0 = ob * OCV, on = oc - o0 < OCV ? oc - o0 : OCV;
        for (int64_t oh = 0; oh < g->oh; oh += rows)
          for (int64_t ow0 = 0; ow0 < g->ow; ow0 += cols) {
            const int rb = g->ow - ow0 < cols ? (int)(g->ow - ow0) : (int)cols;
            const int rr = g->oh - oh < rows ? (int)(g->oh - oh) : (int)rows;
            strip_any(tile, xp, hp, wp, wt + ob * OCV * k, g->c, g->kh, g->kw, oh, ow0, rr, rb);
            for (int64_t l = 0; l < on; l++) {
              const float bl = bias ? bias[o0 + l] : 0.0f;
              const float *tl = tile + l;
              float *yl = yn + (o0 + l) * ostride + oh * g->ow + ow0;
              for (int a = 0; a < rr; a++, yl += g->ow)
                for (int r = 0; r < rb; r++, tl += OCV) {
                  const float v = *tl + bl;
                  yl[r] = relu && v < 0.0f ? 0.0f : v;
                }
            }
          }
      }
    }
  }
  inc__free(wt);
  return 1;
}
#endif

inc_status inc__cpu_conv_direct(float *y, const float *x, const float *w, const float *bias,
                                const inc__window *g, int64_t oc, int relu, int cnhw,
                                inc_context *ctx)
{
  if (g->n <= 0 || oc <= 0 || g->oh <= 0 || g->ow <= 0) return INC_OK;
#if INC__CPU_X86
  if (small_maps(g) ? direct_small(y, x, w, bias, g, oc, relu, cnhw, ctx)
                    : direct_blocks(y, x, w, bias, g, oc, relu, cnhw, ctx))
    return INC_OK;
#endif
  direct_body(y, x, w, bias, g, oc, relu, cnhw, ctx);
  return INC_OK;
}
