/*
 * winograd_block.c — the CPU Winograd transforms' block path (the row path
 * and the op entry points: src/cpu/winograd.c). Rows of a few tiles (the
 * 12x12 and 6x6 maps of a 96x96 GoogLeNet) are too short to vectorise
 * along, so small planes go in blocks of whole planes of one channel, one
 * tile per lane, through the same INC_HD 1-D functions in the same order
 * as the bodies: the same bits. Work is split by blocks; each thread works
 * in its own slice of one scratch allocation.
 */
#include <string.h>
#include <omp.h>
#include "cpu.h"

/* ---- small planes: whole planes as blocks of lanes ------------------------ */

/* Planes of at most BLOCK_TILES tiles (rows of a few tiles, where the row
 * loops below vectorise badly) go in blocks: the tiles of `planes` planes
 * (n0 .. n0+planes-1, channel c) side by side, one lane each, so that each
 * 1-D transform runs along `lanes` contiguous values and each transformed
 * plane's share is one contiguous run of (C, P) (the tiles of those planes
 * are consecutive there). Buffers are (rows, L) with L the block's
 * allocated lanes; blocks of one channel follow each other, so the T*T
 * output streams move forward together. */
#define BLOCK_TILES 144

typedef struct wblock {
  int64_t c, n0, planes; /* channel c, images n0 .. n0+planes-1 */
  int64_t lanes, L;      /* planes * TH*TW tiles, of L allocated */
  int64_t at;            /* the first tile's index c*P + n0*TH*TW in a (C, P) array */
  int wide;              /* move the image's values with AVX-512 (gather_lanes) */
} wblock;

typedef void (*block_fn)(float *out, const float *in, const inc__wino *g, const float *bias,
                         int relu, const wblock *b, float *scratch);

static int wide_ok(void);

/* Runs fn over the blocks of g, with per_lane scratch floats per lane and
 * `fixed` more for each thread. */
static inc_status each_block(block_fn fn, float *out, const float *in, const inc__wino *g,
                             const float *bias, int relu, int64_t per_lane, int64_t fixed,
                             const char *op, inc_context *ctx)
{
  const int64_t per = g->th * g->tw, P = inc__wino_tiles(g);
  int64_t gp = BLOCK_TILES / per; /* planes per block */
  if (gp > g->n) gp = g->n;
  const int64_t nb = (g->n + gp - 1) / gp, blocks = g->c * nb, L = gp * per;
  int nt = inc__cpu_threads(ctx, g->n * g->c * g->h * g->w * (g->m + 2));
  if (nt > blocks) nt = (int)blocks;
  const int64_t floats = per_lane * L + fixed;
  const int wide = wide_ok();
  float *buf = (float *)inc__malloc((size_t)(nt * floats) * sizeof *buf);
  if (!buf)
    return inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "CPU backend: %s: cannot allocate %lld bytes",
                      op, (long long)(nt * floats * (int64_t)sizeof *buf));
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t i = 0; i < blocks; i++) {
    wblock b;
    b.c = i / nb;
    b.n0 = i % nb * gp;
    b.planes = g->n - b.n0 < gp ? g->n - b.n0 : gp;
    b.lanes = b.planes * per;
    b.L = L;
    b.at = b.c * P + b.n0 * per;
    b.wide = wide;
    fn(out, in, g, bias, relu, &b, buf + omp_get_thread_num() * floats);
  }
  inc__free(buf);
  return INC_OK;
}

/* Floats of a plane of g padded by `more` rows and columns. */
static int64_t pad_floats(const inc__wino *g, int more)
{
  return (g->th * g->m + more) * (g->tw * g->m + more);
}

/* Whether g's planes go in blocks (else a plane at a time, along rows). */
static int in_blocks(const inc__wino *g)
{
  return g->n > 0 && g->c > 0 && g->h > 0 && g->w > 0 && g->th * g->tw <= BLOCK_TILES;
}

/* ---- moving image values with AVX-512 -------------------------------------- */

/* The scalar copies between image planes and lanes cost most of a block's
 * time. With AVX-512 a run of tiles of one row of tiles takes its inputs
 * from one image row at a time: two masked loads of 32 columns straight
 * from the image (zero outside it: no padded copy), then for each tile
 * column e one permute picks column tx*m + e of every tile of the run into
 * consecutive lanes. (Masked gathers were slower here: 2 cycles a value.)
 * Values move unchanged, so the bits are those of the scalar path. */
#if INC__CPU_X86
static int wide_ok(void)
{
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

/* The 32 columns col0 .. col0+31 of image row r of plane (zero outside). */
__attribute__((target("avx512f"))) static inline void load_row32(__m512 *lo, __m512 *hi,
                                                                  const float *plane,
                                                                  const inc__wino *g, int64_t r,
                                                                  int64_t col0)
{
  if (r < 0 || r >= g->h) {
    *lo = *hi = _mm512_setzero_ps();
    return;
  }
  const int64_t first = col0 < 0 ? -col0 : 0, end = g->w - col0 < 32 ? g->w - col0 : 32;
  const uint32_t ok =
      end <= first ? 0u : (uint32_t)((0xFFFFFFFFull >> (32 - (end - first))) << first);
  const float *src = plane + r * g->w + col0; /* masked-off lanes read nothing */
  *lo = _mm512_maskz_loadu_ps((__mmask16)(ok & 0xFFFF), src);
  *hi = _mm512_maskz_loadu_ps((__mmask16)(ok >> 16), src + 16);
}

/* d (side*side, L) <- the lanes of block b: element (a, e) of tile (ty, tx)
 * is the image's pixel (ty*m + off + a, tx*m + off + e), zero outside. */
__attribute__((target("avx512f"))) static void gather_lanes(float *d, const float *x,
                                                             const inc__wino *g, const wblock *b,
                                                             int side, int off)
{
  const int m = g->m;
  const int64_t per = g->th * g->tw, L = b->L;
  const int64_t run = (32 - side) / m + 1 < 16 ? (32 - side) / m + 1 : 16; /* tiles a load covers */
  __m512i pick[INC__WINO_TMAX]; /* pick[e]: column i*m + e of the 32 for lane i */
  int32_t col[16];
  for (int e = 0; e < side; e++) {
    for (int i = 0; i < 16; i++) col[i] = i * m + e;
    pick[e] = _mm512_loadu_si512(col);
  }
  for (int64_t j = 0; j < b->planes; j++) {
    const float *plane = x + inc__wino_plane(g, b->n0 + j, b->c);
    for (int64_t ty = 0; ty < g->th; ty++)
      for (int64_t tx0 = 0; tx0 < g->tw; tx0 += run) {
        const int64_t nt = g->tw - tx0 < run ? g->tw - tx0 : run;
        const __mmask16 lanes = (__mmask16)((1u << nt) - 1u);
        float *dst = d + j * per + ty * g->tw + tx0;
        for (int a = 0; a < side; a++) {
          __m512 lo, hi;
          load_row32(&lo, &hi, plane, g, ty * m + off + a, tx0 * m + off);
          for (int e = 0; e < side; e++)
            _mm512_mask_storeu_ps(dst + (a * side + e) * L, lanes,
                                  _mm512_permutex2var_ps(lo, pick[e], hi));
        }
      }
  }
}

/* The same for planes that are one tile each (TH == TW == 1 and H*W <= 16:
 * the 2x2 and 4x4 maps at 28x28), where a row at a time moved a few values
 * per load: 16 planes at a time, each plane's H*W values one row of an
 * in-register 16x16 transpose, after which pixel (py, px) of the 16 planes
 * is one register, stored as d's row (py - off, px - off); the rows no
 * pixel lands in (padding) are zero. */
__attribute__((target("avx512f"))) static void gather_single(float *d, const float *x,
                                                              const inc__wino *g,
                                                              const wblock *b, int side, int off)
{
  const int64_t hw = g->h * g->w, L = b->L, stride = (g->cnhw ? 1 : g->c) * hw;
  const float *p0 = x + inc__wino_plane(g, b->n0, b->c); /* plane j at p0 + j*stride */
  for (int a = 0; a < side; a++)
    for (int e = 0; e < side; e++)
      if (a + off < 0 || a + off >= g->h || e + off < 0 || e + off >= g->w)
        memset(d + (a * side + e) * L, 0, (size_t)b->lanes * sizeof *d);
  const __mmask16 row = (__mmask16)((1u << hw) - 1u);
  for (int64_t j0 = 0; j0 < b->planes; j0 += 16) {
    const int nj = b->planes - j0 < 16 ? (int)(b->planes - j0) : 16;
    const __mmask16 lanes = (__mmask16)((1u << nj) - 1u);
    __m512 r[16];
    for (int l = 0; l < 16; l++)
      r[l] = l < nj ? _mm512_maskz_loadu_ps(row, p0 + (j0 + l) * stride) : _mm512_setzero_ps();
    inc__cpu_transpose16(r);
    for (int64_t t = 0; t < hw; t++) {
      const int64_t a = t / g->w - off, e = t % g->w - off;
      _mm512_mask_storeu_ps(d + (a * side + e) * L + j0, lanes, r[t]);
    }
  }
}
#else
static int wide_ok(void) { return 0; }
static void gather_lanes(float *d, const float *x, const inc__wino *g, const wblock *b, int side,
                         int off)
{
}
static void gather_single(float *d, const float *x, const inc__wino *g, const wblock *b, int side,
                          int off)
{
}
#endif

/* pad (HP, WP) <- the H x W plane at row r0, column r0, zero around it */
static void pad_plane(float *pad, int64_t hp, int64_t wp, const float *plane, const inc__wino *g,
                      int r0)
{
  memset(pad, 0, (size_t)(hp * wp) * sizeof *pad);
  for (int64_t r = 0; r < g->h; r++)
    memcpy(pad + (r + r0) * wp + r0, plane + r * g->w, (size_t)g->w * sizeof *pad);
}

/* d (side*side, L) <- for each tile of the padded plane pad (rows WP
 * apart), lanes l0.., the side x side values at (ty*m, tx*m). */
INC__CPU_INLINE void gather_tiles(float *d, int64_t L, int64_t l0, const float *pad, int64_t wp,
                                  const inc__wino *g, const int m, const int side)
{
  for (int64_t ty = 0; ty < g->th; ty++)
    for (int64_t tx = 0; tx < g->tw; tx++, l0++)
      for (int a = 0; a < side; a++) {
        const float *src = pad + (ty * m + a) * wp + tx * m;
        for (int e = 0; e < side; e++) d[(a * side + e) * L + l0] = src[e];
      }
}

/* The input transform (grad 0: each tile's T x T inputs, B^T) or the
 * output gradient's (grad 1: each tile's m x m outputs, A) of block b:
 * the tile's values into d (side*side, L), read from the image with
 * AVX-512 or through a zero-padded copy of each plane (the input's starts
 * one row and column before the image), the 1-D transform down the
 * columns into t (side*T, L), then along the rows straight into out
 * (T*T, C, P). grad is a constant at each call, so the branches fold. */
INC__CPU_INLINE void to_tiles_m(float *out, const float *img, const inc__wino *g,
                                const wblock *b, float *buf, const int m, const int grad)
{
  const int T = m + 2, side = grad ? m : T, more = grad ? 0 : 2;
  const int64_t L = b->L, lanes = b->lanes, vs = g->c * inc__wino_tiles(g);
  const int64_t hp = g->th * m + more, wp = g->tw * m + more, per = g->th * g->tw;
  float *d = buf, *t = buf + side * side * L, *pad = t + side * T * L; /* (HP, WP) */
  if (b->wide && g->th == 1 && g->tw == 1 && g->h * g->w <= 16)
    gather_single(d, img, g, b, side, grad ? 0 : -1);
  else if (b->wide)
    gather_lanes(d, img, g, b, side, grad ? 0 : -1);
  else
    for (int64_t j = 0; j < b->planes; j++) {
      pad_plane(pad, hp, wp, img + inc__wino_plane(g, b->n0 + j, b->c), g, more / 2);
      gather_tiles(d, L, j * per, pad, wp, g, m, side);
    }
  for (int e = 0; e < side; e++) {
#pragma omp simd
    for (int64_t k = 0; k < lanes; k++) {
      if (grad)
        inc__k_wino_a(t + e * L + k, side * L, d + e * L + k, side * L, m);
      else
        inc__k_wino_bt(t + e * L + k, side * L, d + e * L + k, side * L, m);
    }
  }
  for (int a = 0; a < T; a++) {
#pragma omp simd
    for (int64_t k = 0; k < lanes; k++) {
      if (grad)
        inc__k_wino_a(out + a * T * vs + b->at + k, vs, t + a * side * L + k, L, m);
      else
        inc__k_wino_bt(out + a * T * vs + b->at + k, vs, t + a * side * L + k, L, m);
    }
  }
}

INC__CPU_CLONES static void in_block(float *v, const float *x, const inc__wino *g,
                                     const float *bias, int relu, const wblock *b, float *buf)
{
  if (g->m == 2)
    to_tiles_m(v, x, g, b, buf, 2, 0);
  else
    to_tiles_m(v, x, g, b, buf, 4, 0);
}

/* Block b: A^T down each tile's columns into t (m*T, L), A^T along its
 * rows into o (m*m, L), bias and ReLU, then each tile's outputs inside the
 * image into y. */
INC__CPU_INLINE void out_block_m(float *y, const float *mm, const inc__wino *g, const float *bias,
                                 int relu, const wblock *b, float *buf, const int m)
{
  const int T = m + 2;
  const int64_t L = b->L, lanes = b->lanes, vs = g->c * inc__wino_tiles(g), h = g->h, w = g->w;
  float *t = buf, *o = buf + m * T * L; /* A^T M (m*T, L); A^T M A (m*m, L) */
  const float add = bias ? bias[b->c] : 0.0f;
  for (int e = 0; e < T; e++) {
#pragma omp simd
    for (int64_t k = 0; k < lanes; k++)
      inc__k_wino_at(t + e * L + k, T * L, mm + e * vs + b->at + k, T * vs, m);
  }
  for (int a = 0; a < m; a++) {
#pragma omp simd
    for (int64_t k = 0; k < lanes; k++) inc__k_wino_at(o + a * m * L + k, L, t + a * T * L + k, L, m);
  }
  for (int i = 0; i < m * m; i++) {
    float *oi = o + i * L;
#pragma omp simd
    for (int64_t k = 0; k < lanes; k++) {
      const float s = oi[k] + add;
      oi[k] = relu && s < 0.0f ? 0.0f : s;
    }
  }
  int64_t l = 0;
  for (int64_t j = 0; j < b->planes; j++) {
    float *plane = y + inc__wino_plane(g, b->n0 + j, b->c);
    for (int64_t ty = 0; ty < g->th; ty++) {
      const int rows = h - ty * m < m ? (int)(h - ty * m) : m;
      for (int64_t tx = 0; tx < g->tw; tx++, l++) {
        const int cols = w - tx * m < m ? (int)(w - tx * m) : m;
        for (int a = 0; a < rows; a++)
          for (int e = 0; e < cols; e++)
            plane[(ty * m + a) * w + tx * m + e] = o[(a * m + e) * L + l];
      }
    }
  }
}

INC__CPU_CLONES static void out_block(float *y, const float *mm, const inc__wino *g,
                                      const float *bias, int relu, const wblock *b, float *buf)
{
  if (g->m == 2)
    out_block_m(y, mm, g, bias, relu, b, buf, 2);
  else
    out_block_m(y, mm, g, bias, relu, b, buf, 4);
}

INC__CPU_CLONES static void dout_block(float *dm, const float *dy, const inc__wino *g,
                                       const float *bias, int relu, const wblock *b, float *buf)
{
  if (g->m == 2)
    to_tiles_m(dm, dy, g, b, buf, 2, 1);
  else
    to_tiles_m(dm, dy, g, b, buf, 4, 1);
}

/* Block b: B down each tile's columns into s (T*T, L), B along its rows
 * into r (T*T, L), then per plane each tile's T x T values added into a
 * zeroed padded plane, rows of tiles top to bottom and within a row right
 * to left (the body's order), whose inside is the plane of dx. */
INC__CPU_INLINE void din_block_m(float *dx, const float *dv, const inc__wino *g, const wblock *b,
                                 float *buf, const int m)
{
  const int T = m + 2;
  const int64_t L = b->L, lanes = b->lanes, vs = g->c * inc__wino_tiles(g);
  const int64_t wp = g->tw * m + 2, per = g->th * g->tw;
  float *s = buf, *r = buf + T * T * L, *pad = r + T * T * L; /* (T*T, L) twice; (HP, WP) */
  for (int e = 0; e < T; e++) {
#pragma omp simd
    for (int64_t k = 0; k < lanes; k++)
      inc__k_wino_b(s + e * L + k, T * L, dv + e * vs + b->at + k, T * vs, m);
  }
  for (int a = 0; a < T; a++) {
#pragma omp simd
    for (int64_t k = 0; k < lanes; k++) inc__k_wino_b(r + a * T * L + k, L, s + a * T * L + k, L, m);
  }
  for (int64_t j = 0; j < b->planes; j++) {
    memset(pad, 0, (size_t)((g->th * m + 2) * wp) * sizeof *pad);
    for (int64_t ty = 0; ty < g->th; ty++)
      for (int64_t tx = g->tw - 1; tx >= 0; tx--) {
        const int64_t l = j * per + ty * g->tw + tx;
        for (int a = 0; a < T; a++) {
          float *dst = pad + (ty * m + a) * wp + tx * m;
          for (int e = 0; e < T; e++) dst[e] += r[(a * T + e) * L + l];
        }
      }
    float *plane = dx + inc__wino_plane(g, b->n0 + j, b->c);
    for (int64_t q = 0; q < g->h; q++)
      memcpy(plane + q * g->w, pad + (q + 1) * wp + 1, (size_t)g->w * sizeof *plane);
  }
}

INC__CPU_CLONES static void din_block(float *dx, const float *dv, const inc__wino *g,
                                      const float *bias, int relu, const wblock *b, float *buf)
{
  if (g->m == 2)
    din_block_m(dx, dv, g, b, buf, 2);
  else
    din_block_m(dx, dv, g, b, buf, 4);
}

/* ---- the entry points ------------------------------------------------------ */

int inc__cpu_wino_blocks(const inc__wino *g) { return in_blocks(g); }

inc_status inc__cpu_wino_in_blocks(float *v, const float *x, const inc__wino *g, inc_context *ctx)
{
  return each_block(in_block, v, x, g, NULL, 0, 2 * (g->m + 2) * (g->m + 2), pad_floats(g, 2),
                    "wino_in", ctx);
}

inc_status inc__cpu_wino_out_blocks(float *y, const float *mm, const float *bias,
                                    const inc__wino *g, int relu, inc_context *ctx)
{
  return each_block(out_block, y, mm, g, bias, relu, g->m * (g->m + 2) + g->m * g->m, 0,
                    "wino_out", ctx);
}

inc_status inc__cpu_wino_dout_blocks(float *dm, const float *dy, const inc__wino *g,
                                     inc_context *ctx)
{
  return each_block(dout_block, dm, dy, g, NULL, 0, (2 * g->m + 2) * g->m, pad_floats(g, 0),
                    "wino_dout", ctx);
}

inc_status inc__cpu_wino_din_blocks(float *dx, const float *dv, const inc__wino *g,
                                    inc_context *ctx)
{
  return each_block(din_block, dx, dv, g, NULL, 0, 2 * (g->m + 2) * (g->m + 2), pad_floats(g, 2),
                    "wino_din", ctx);
}
