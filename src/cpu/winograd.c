/*
 * winograd.c — CPU loops for the Winograd convolution's transforms (the
 * matrices, layouts and tile numbering: src/winograd_kernels.h).
 *
 * The CUDA kernels run one tile, filter or pixel per thread through the
 * INC_HD bodies. Here the same 1-D transforms are applied to a whole row
 * of tiles at a time, so that the compiler vectorises them along the row:
 * the input transform first down every column of the T image rows a row of
 * tiles reads (one pass along zero-padded copies of those rows), then
 * along each tile's T values of every transformed row; the output and
 * gradient transforms likewise, columns first. Each 2-D transform is still
 * columns first, then rows, through the same 1-D functions, so every value
 * is bit for bit the body's; the input gradient's scatter adds each
 * pixel's terms in the order the body's gather sums them (rows of tiles
 * top to bottom, within a row right to left). tests/op_cases.c checks both.
 * Rows of a few tiles (the 12x12 and 6x6 maps of a 96x96 GoogLeNet) are
 * too short to vectorise along: small planes go instead in blocks of whole
 * planes of one channel, one tile per lane (each_block, below), through
 * the same 1-D functions in the same order.
 *
 * Work is split by image planes (n, c), filters for the filter transforms;
 * each thread works in its own slice of one scratch allocation.
 */
#include <string.h>
#include <omp.h>
#include "cpu.h"

#if defined(__GNUC__)
#define INLINE_ALWAYS static inline __attribute__((always_inline))
#else
#define INLINE_ALWAYS static inline
#endif

/* The planes of image g: (n, c) of plane index k in storage order. */
static void plane_nc(const inc__wino *g, int64_t k, int64_t *n, int64_t *c)
{
  *n = g->cnhw ? k % g->n : k / g->c;
  *c = g->cnhw ? k / g->n : k % g->c;
}

/* Runs body(plane k, thread's scratch) over the planes of g with per-thread
 * scratch of `floats` each; INC_ERR_OUT_OF_MEMORY when that is short. */
typedef void (*plane_fn)(float *out, const float *in, const inc__wino *g, const float *bias,
                         int relu, int64_t k, float *scratch);

static inc_status each_plane(plane_fn fn, float *out, const float *in, const inc__wino *g,
                             const float *bias, int relu, int64_t floats, const char *op,
                             inc_context *ctx)
{
  const int64_t planes = g->n * g->c;
  if (planes <= 0 || g->h <= 0 || g->w <= 0) return INC_OK;
  int nt = inc__cpu_threads(ctx, planes * g->h * g->w * (g->m + 2));
  if (nt > planes) nt = (int)planes;
  float *buf = (float *)inc__malloc((size_t)(nt * floats) * sizeof *buf);
  if (!buf)
    return inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "CPU backend: %s: cannot allocate %lld bytes",
                      op, (long long)(nt * floats * (int64_t)sizeof *buf));
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t k = 0; k < planes; k++) fn(out, in, g, bias, relu, k, buf + omp_get_thread_num() * floats);
  inc__free(buf);
  return INC_OK;
}

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
} wblock;

typedef void (*block_fn)(float *out, const float *in, const inc__wino *g, const float *bias,
                         int relu, const wblock *b, float *scratch);

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

/* ---- filters --------------------------------------------------------------- */

inc_status inc__cpu_wino_w(float *u, const float *w, int64_t oc, int64_t c, int m,
                           inc_context *ctx)
{
  /* u (T*T, OC, C) <- w (OC, C, 3, 3) */
  const int64_t filters = oc * c;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, filters * 64))
  for (int64_t f = 0; f < filters; f++) inc__k_wino_w(u, w, f, filters, m);
  return INC_OK;
}

inc_status inc__cpu_wino_dw(float *dw, const float *du, int64_t oc, int64_t c, int m,
                            inc_context *ctx)
{
  /* dw (OC, C, 3, 3) <- du (T*T, OC, C) */
  const int64_t filters = oc * c;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, filters * 64))
  for (int64_t f = 0; f < filters; f++) inc__k_wino_dw(dw, du, f, filters, m);
  return INC_OK;
}

/* ---- input: v (T*T, C, P) <- x --------------------------------------------- */

/* Plane k: for each row of tiles, the T image rows it reads, zero-padded to
 * wp = TW*m + 2 columns (column q is image column q - 1), then B^T down
 * every column, then B^T along each tile's T values of each row. */
INLINE_ALWAYS void in_plane_m(float *v, const float *x, const inc__wino *g, int64_t k,
                              float *buf, const int m)
{
  const int T = m + 2;
  const int64_t h = g->h, w = g->w, tw = g->tw, wp = tw * m + 2, P = inc__wino_tiles(g);
  const int64_t vs = g->c * P;
  int64_t n, c;
  plane_nc(g, k, &n, &c);
  const float *plane = x + k * h * w;
  float *rows = buf, *t = buf + T * wp; /* image rows (T, wp); B^T d (T, wp) */
  for (int64_t ty = 0; ty < g->th; ty++) {
    for (int a = 0; a < T; a++) {
      const int64_t r = ty * m - 1 + a;
      float *row = rows + a * wp;
      if (r < 0 || r >= h) {
        memset(row, 0, (size_t)wp * sizeof *row);
        continue;
      }
      row[0] = 0.0f;
      memcpy(row + 1, plane + r * w, (size_t)w * sizeof *row);
      for (int64_t q = w + 1; q < wp; q++) row[q] = 0.0f;
    }
#pragma omp simd
    for (int64_t q = 0; q < wp; q++) inc__k_wino_bt(t + q, wp, rows + q, wp, m);
    float *dst = v + c * P + (n * g->th + ty) * tw; /* tile (ty, 0) of plane (c) */
    for (int a = 0; a < T; a++) {
#pragma omp simd
      for (int64_t tx = 0; tx < tw; tx++)
        inc__k_wino_bt(dst + a * T * vs + tx, vs, t + a * wp + tx * m, 1, m);
    }
  }
}

INC__CPU_CLONES static void in_plane(float *v, const float *x, const inc__wino *g,
                                     const float *bias, int relu, int64_t k, float *buf)
{
  if (g->m == 2)
    in_plane_m(v, x, g, k, buf, 2);
  else
    in_plane_m(v, x, g, k, buf, 4);
}

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
INLINE_ALWAYS void gather_tiles(float *d, int64_t L, int64_t l0, const float *pad, int64_t wp,
                                const inc__wino *g, const int m, const int side)
{
  for (int64_t ty = 0; ty < g->th; ty++)
    for (int64_t tx = 0; tx < g->tw; tx++, l0++)
      for (int a = 0; a < side; a++) {
        const float *src = pad + (ty * m + a) * wp + tx * m;
        for (int e = 0; e < side; e++) d[(a * side + e) * L + l0] = src[e];
      }
}

/* Block b: each tile's T x T inputs into d (T*T, L) through a zero-padded
 * copy of its plane, B^T down its columns into t (T*T, L), then B^T along
 * its rows straight into v. */
INLINE_ALWAYS void in_block_m(float *v, const float *x, const inc__wino *g, const wblock *b,
                              float *buf, const int m)
{
  const int T = m + 2;
  const int64_t L = b->L, lanes = b->lanes, vs = g->c * inc__wino_tiles(g);
  const int64_t hp = g->th * m + 2, wp = g->tw * m + 2, per = g->th * g->tw;
  float *d = buf, *t = buf + T * T * L, *pad = t + T * T * L; /* (T*T, L) twice; (HP, WP) */
  for (int64_t j = 0; j < b->planes; j++) {
    pad_plane(pad, hp, wp, x + inc__wino_plane(g, b->n0 + j, b->c), g, 1);
    gather_tiles(d, L, j * per, pad, wp, g, m, T);
  }
  for (int e = 0; e < T; e++) {
#pragma omp simd
    for (int64_t k = 0; k < lanes; k++)
      inc__k_wino_bt(t + e * L + k, T * L, d + e * L + k, T * L, m);
  }
  for (int a = 0; a < T; a++) {
#pragma omp simd
    for (int64_t k = 0; k < lanes; k++)
      inc__k_wino_bt(v + a * T * vs + b->at + k, vs, t + a * T * L + k, L, m);
  }
}

INC__CPU_CLONES static void in_block(float *v, const float *x, const inc__wino *g,
                                     const float *bias, int relu, const wblock *b, float *buf)
{
  if (g->m == 2)
    in_block_m(v, x, g, b, buf, 2);
  else
    in_block_m(v, x, g, b, buf, 4);
}

inc_status inc__cpu_wino_in(float *v, const float *x, const inc__wino *g, inc_context *ctx)
{
  if (in_blocks(g))
    return each_block(in_block, v, x, g, NULL, 0, 2 * (g->m + 2) * (g->m + 2), pad_floats(g, 2),
                      "wino_in", ctx);
  const int64_t wp = g->tw * g->m + 2;
  return each_plane(in_plane, v, x, g, NULL, 0, 2 * (g->m + 2) * wp, "wino_in", ctx);
}

/* ---- output: y <- mm (T*T, C, P) ------------------------------------------- */

/* Plane k: for each row of tiles, A^T down every tile's columns into
 * t (m, T, TW), then A^T along each row: full tiles straight into the
 * image row, the last one cropped; then bias and ReLU along the row. */
INLINE_ALWAYS void out_plane_m(float *y, const float *mm, const inc__wino *g, const float *bias,
                               int relu, int64_t k, float *t, const int m)
{
  const int T = m + 2;
  const int64_t h = g->h, w = g->w, tw = g->tw, P = inc__wino_tiles(g), vs = g->c * P;
  const int64_t full = w / m;
  int64_t n, c;
  plane_nc(g, k, &n, &c);
  float *plane = y + k * h * w;
  const float add = bias ? bias[c] : 0.0f;
  for (int64_t ty = 0; ty < g->th; ty++) {
    const float *src = mm + c * P + (n * g->th + ty) * tw;
    for (int b = 0; b < T; b++) {
#pragma omp simd
      for (int64_t tx = 0; tx < tw; tx++)
        inc__k_wino_at(t + b * tw + tx, T * tw, src + b * vs + tx, T * vs, m);
    }
    for (int a = 0; a < m && ty * m + a < h; a++) {
      float *row = plane + (ty * m + a) * w;
      const float *ta = t + a * T * tw;
#pragma omp simd
      for (int64_t tx = 0; tx < full; tx++) inc__k_wino_at(row + tx * m, 1, ta + tx, tw, m);
      if (full < tw) {
        float o[4];
        inc__k_wino_at(o, 1, ta + full, tw, m);
        for (int64_t q = full * m; q < w; q++) row[q] = o[q - full * m];
      }
      if (relu) {
#pragma omp simd
        for (int64_t q = 0; q < w; q++) {
          const float s = row[q] + add;
          row[q] = s < 0.0f ? 0.0f : s;
        }
      } else {
#pragma omp simd
        for (int64_t q = 0; q < w; q++) row[q] = row[q] + add;
      }
    }
  }
}

INC__CPU_CLONES static void out_plane(float *y, const float *mm, const inc__wino *g,
                                      const float *bias, int relu, int64_t k, float *buf)
{
  if (g->m == 2)
    out_plane_m(y, mm, g, bias, relu, k, buf, 2);
  else
    out_plane_m(y, mm, g, bias, relu, k, buf, 4);
}

/* Block b: A^T down each tile's columns into t (m*T, L), A^T along its
 * rows into o (m*m, L), bias and ReLU, then each tile's outputs inside the
 * image into y. */
INLINE_ALWAYS void out_block_m(float *y, const float *mm, const inc__wino *g, const float *bias,
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

inc_status inc__cpu_wino_out(float *y, const float *mm, const float *bias, const inc__wino *g,
                             int relu, inc_context *ctx)
{
  if (in_blocks(g))
    return each_block(out_block, y, mm, g, bias, relu, g->m * (g->m + 2) + g->m * g->m, 0,
                      "wino_out", ctx);
  return each_plane(out_plane, y, mm, g, bias, relu, g->m * (g->m + 2) * g->tw, "wino_out", ctx);
}

/* ---- output gradient: dm (T*T, C, P) <- dy --------------------------------- */

/* Plane k: for each row of tiles, its m rows of dy zero-padded to wq = TW*m
 * columns, A down every column, then A along each tile's m values. */
INLINE_ALWAYS void dout_plane_m(float *dm, const float *dy, const inc__wino *g, int64_t k,
                                float *buf, const int m)
{
  const int T = m + 2;
  const int64_t h = g->h, w = g->w, tw = g->tw, wq = tw * m, P = inc__wino_tiles(g);
  const int64_t vs = g->c * P;
  int64_t n, c;
  plane_nc(g, k, &n, &c);
  const float *plane = dy + k * h * w;
  float *rows = buf, *t = buf + m * wq; /* dy rows (m, wq); A dY (T, wq) */
  for (int64_t ty = 0; ty < g->th; ty++) {
    for (int a = 0; a < m; a++) {
      const int64_t r = ty * m + a;
      float *row = rows + a * wq;
      if (r >= h) {
        memset(row, 0, (size_t)wq * sizeof *row);
        continue;
      }
      memcpy(row, plane + r * w, (size_t)w * sizeof *row);
      for (int64_t q = w; q < wq; q++) row[q] = 0.0f;
    }
#pragma omp simd
    for (int64_t q = 0; q < wq; q++) inc__k_wino_a(t + q, wq, rows + q, wq, m);
    float *dst = dm + c * P + (n * g->th + ty) * tw;
    for (int a = 0; a < T; a++) {
#pragma omp simd
      for (int64_t tx = 0; tx < tw; tx++)
        inc__k_wino_a(dst + a * T * vs + tx, vs, t + a * wq + tx * m, 1, m);
    }
  }
}

INC__CPU_CLONES static void dout_plane(float *dm, const float *dy, const inc__wino *g,
                                       const float *bias, int relu, int64_t k, float *buf)
{
  if (g->m == 2)
    dout_plane_m(dm, dy, g, k, buf, 2);
  else
    dout_plane_m(dm, dy, g, k, buf, 4);
}

/* Block b: each tile's m x m outputs into d (m*m, L) through a
 * zero-padded copy of its plane, A down its columns into t (T*m, L), then
 * A along its rows straight into dm. */
INLINE_ALWAYS void dout_block_m(float *dm, const float *dy, const inc__wino *g, const wblock *b,
                                float *buf, const int m)
{
  const int T = m + 2;
  const int64_t L = b->L, lanes = b->lanes, vs = g->c * inc__wino_tiles(g);
  const int64_t hp = g->th * m, wp = g->tw * m, per = g->th * g->tw;
  float *d = buf, *t = buf + m * m * L, *pad = t + T * m * L; /* (m*m, L); (T*m, L); (HP, WP) */
  for (int64_t j = 0; j < b->planes; j++) {
    pad_plane(pad, hp, wp, dy + inc__wino_plane(g, b->n0 + j, b->c), g, 0);
    gather_tiles(d, L, j * per, pad, wp, g, m, m);
  }
  for (int e = 0; e < m; e++) {
#pragma omp simd
    for (int64_t k = 0; k < lanes; k++)
      inc__k_wino_a(t + e * L + k, m * L, d + e * L + k, m * L, m);
  }
  for (int a = 0; a < T; a++) {
#pragma omp simd
    for (int64_t k = 0; k < lanes; k++)
      inc__k_wino_a(dm + a * T * vs + b->at + k, vs, t + a * m * L + k, L, m);
  }
}

INC__CPU_CLONES static void dout_block(float *dm, const float *dy, const inc__wino *g,
                                       const float *bias, int relu, const wblock *b, float *buf)
{
  if (g->m == 2)
    dout_block_m(dm, dy, g, b, buf, 2);
  else
    dout_block_m(dm, dy, g, b, buf, 4);
}

inc_status inc__cpu_wino_dout(float *dm, const float *dy, const inc__wino *g, inc_context *ctx)
{
  if (in_blocks(g))
    return each_block(dout_block, dm, dy, g, NULL, 0, (2 * g->m + 2) * g->m, pad_floats(g, 0),
                      "wino_dout", ctx);
  const int64_t wq = g->tw * g->m;
  return each_plane(dout_plane, dm, dy, g, NULL, 0, (2 * g->m + 2) * wq, "wino_dout", ctx);
}

/* ---- input gradient: dx <- dv (T*T, C, P) ---------------------------------- */

/* Plane k, zeroed first: for each row of tiles, B down every tile's columns
 * into s (T, T, TW), then for each of its T image rows B along each tile's
 * row into r (T, TW), added to the row at column tx*m - 1 + o for o = 0,
 * 1, ..., T-1 in turn (so a pixel gets the tile on its right first). */
INLINE_ALWAYS void din_plane_m(float *dx, const float *dv, const inc__wino *g, int64_t k,
                               float *buf, const int m)
{
  const int T = m + 2;
  const int64_t h = g->h, w = g->w, tw = g->tw, P = inc__wino_tiles(g), vs = g->c * P;
  int64_t n, c;
  plane_nc(g, k, &n, &c);
  float *plane = dx + k * h * w;
  float *s = buf, *r = buf + T * T * tw; /* B dV (T, T, TW); one row of B dV B^T (T, TW) */
  memset(plane, 0, (size_t)(h * w) * sizeof *plane);
  for (int64_t ty = 0; ty < g->th; ty++) {
    const float *src = dv + c * P + (n * g->th + ty) * tw;
    for (int b = 0; b < T; b++) {
#pragma omp simd
      for (int64_t tx = 0; tx < tw; tx++)
        inc__k_wino_b(s + b * tw + tx, T * tw, src + b * vs + tx, T * vs, m);
    }
    for (int a = 0; a < T; a++) {
      const int64_t ih = ty * m - 1 + a;
      if (ih < 0 || ih >= h) continue;
#pragma omp simd
      for (int64_t tx = 0; tx < tw; tx++) inc__k_wino_b(r + tx, tw, s + a * T * tw + tx, tw, m);
      float *row = plane + ih * w;
      for (int o = 0; o < T; o++) {
        /* the tiles whose column tx*m - 1 + o lies in [0, w) */
        const int64_t lo = o == 0 ? 1 : 0, span = w + 1 - o;
        int64_t hi = span > 0 ? (span + m - 1) / m : 0;
        if (hi > tw) hi = tw;
        const float *ro = r + o * tw;
#pragma omp simd
        for (int64_t tx = lo; tx < hi; tx++) row[tx * m - 1 + o] += ro[tx];
      }
    }
  }
}

INC__CPU_CLONES static void din_plane(float *dx, const float *dv, const inc__wino *g,
                                      const float *bias, int relu, int64_t k, float *buf)
{
  if (g->m == 2)
    din_plane_m(dx, dv, g, k, buf, 2);
  else
    din_plane_m(dx, dv, g, k, buf, 4);
}

/* Block b: B down each tile's columns into s (T*T, L), B along its rows
 * into r (T*T, L), then per plane each tile's T x T values added into a
 * zeroed padded plane, rows of tiles top to bottom and within a row right
 * to left (the body's order), whose inside is the plane of dx. */
INLINE_ALWAYS void din_block_m(float *dx, const float *dv, const inc__wino *g, const wblock *b,
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

inc_status inc__cpu_wino_din(float *dx, const float *dv, const inc__wino *g, inc_context *ctx)
{
  if (in_blocks(g))
    return each_block(din_block, dx, dv, g, NULL, 0, 2 * (g->m + 2) * (g->m + 2), pad_floats(g, 2),
                      "wino_din", ctx);
  const int64_t T = g->m + 2;
  return each_plane(din_plane, dx, dv, g, NULL, 0, (T * T + T) * g->tw, "wino_din", ctx);
}
