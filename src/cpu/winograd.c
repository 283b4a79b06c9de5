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
 * planes of one channel, one tile per lane (src/cpu/winograd_block.c), through
 * the same 1-D functions in the same order.
 *
 * Work is split by image planes (n, c), filters for the filter transforms;
 * each thread works in its own slice of one scratch allocation.
 */
#include <string.h>
#include <omp.h>
#include "cpu.h"

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


/* ---- filters --------------------------------------------------------------- */

/* Filters go FL at a time, one per lane: each 1-D transform of the bodies
 * (inc__k_wino_w, inc__k_wino_dw) runs along FL contiguous values, in the
 * same order and with the same operations, so the bits are the bodies'
 * (tests/op_cases.c). The (T*T, OC, C) side is read or written as FL
 * contiguous floats per transformed row; the (OC, C, 3, 3) side is moved
 * through a small (9, FL) buffer. A block per loop iteration; the last
 * one may be short (nf < FL lanes; the others hold zeros). */
#define FL 16

INC__CPU_INLINE void w_block_m(float *u, const float *w, int64_t f0, int64_t nf, int64_t filters,
                               const int m)
{
  const int T = m + 2;
  float g[9 * FL], t[INC__WINO_TMAX * 3 * FL], o[INC__WINO_TMAX * INC__WINO_TMAX * FL];
  /* g (9, FL): lane l is filter f0 + l's 3x3 taps; t = G g (T, 3, FL); o = t G^T (T*T, FL) */
  for (int k = 0; k < 9; k++)
    for (int l = 0; l < FL; l++) g[k * FL + l] = l < nf ? w[(f0 + l) * 9 + k] : 0.0f;
  for (int k = 0; k < 3; k++)
    for (int l = 0; l < FL; l++) inc__k_wino_g(t + k * FL + l, 3 * FL, g + k * FL + l, 3 * FL, m);
  for (int a = 0; a < T; a++)
    for (int l = 0; l < FL; l++)
      inc__k_wino_g(o + a * T * FL + l, FL, t + a * 3 * FL + l, FL, m);
  if (nf == FL) /* a whole block: FL-float stores the compiler sees */
    for (int r = 0; r < T * T; r++)
      for (int l = 0; l < FL; l++) u[r * filters + f0 + l] = o[r * FL + l];
  else
    for (int r = 0; r < T * T; r++) memcpy(u + r * filters + f0, o + r * FL, (size_t)nf * sizeof *u);
}

INC__CPU_INLINE void dw_block_m(float *dw, const float *du, int64_t f0, int64_t nf,
                                int64_t filters, const int m)
{
  const int T = m + 2;
  float d[INC__WINO_TMAX * INC__WINO_TMAX * FL], t[3 * INC__WINO_TMAX * FL], o[9 * FL];
  /* d (T*T, FL) of du; t = G^T dU (3, T, FL); o = t G (9, FL) */
  if (nf == FL)
    for (int r = 0; r < T * T; r++)
      for (int l = 0; l < FL; l++) d[r * FL + l] = du[r * filters + f0 + l];
  else
    for (int r = 0; r < T * T; r++) {
      memcpy(d + r * FL, du + r * filters + f0, (size_t)nf * sizeof *d);
      for (int64_t l = nf; l < FL; l++) d[r * FL + l] = 0.0f;
    }
  for (int b = 0; b < T; b++)
    for (int l = 0; l < FL; l++)
      inc__k_wino_gt(t + b * FL + l, T * FL, d + b * FL + l, T * FL, m);
  for (int k = 0; k < 3; k++)
    for (int l = 0; l < FL; l++) inc__k_wino_gt(o + k * 3 * FL + l, FL, t + k * T * FL + l, FL, m);
  for (int64_t l = 0; l < nf; l++)
    for (int k = 0; k < 9; k++) dw[(f0 + l) * 9 + k] = o[k * FL + l];
}

INC__CPU_CLONES static void w_block(float *u, const float *w, int64_t f0, int64_t nf,
                                    int64_t filters, int m)
{
  if (m == 2) w_block_m(u, w, f0, nf, filters, 2);
  else w_block_m(u, w, f0, nf, filters, 4);
}

INC__CPU_CLONES static void dw_block(float *dw, const float *du, int64_t f0, int64_t nf,
                                     int64_t filters, int m)
{
  if (m == 2) dw_block_m(dw, du, f0, nf, filters, 2);
  else dw_block_m(dw, du, f0, nf, filters, 4);
}

inc_status inc__cpu_wino_w(float *u, const float *w, int64_t oc, int64_t c, int m,
                           inc_context *ctx)
{
  /* u (T*T, OC, C) <- w (OC, C, 3, 3) */
  const int64_t filters = oc * c, blocks = (filters + FL - 1) / FL;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, filters * 64))
  for (int64_t b = 0; b < blocks; b++)
    w_block(u, w, b * FL, filters - b * FL < FL ? filters - b * FL : FL, filters, m);
  return INC_OK;
}

inc_status inc__cpu_wino_dw(float *dw, const float *du, int64_t oc, int64_t c, int m,
                            inc_context *ctx)
{
  /* dw (OC, C, 3, 3) <- du (T*T, OC, C) */
  const int64_t filters = oc * c, blocks = (filters + FL - 1) / FL;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, filters * 64))
  for (int64_t b = 0; b < blocks; b++)
    dw_block(dw, du, b * FL, filters - b * FL < FL ? filters - b * FL : FL, filters, m);
  return INC_OK;
}

/* ---- input: v (T*T, C, P) <- x --------------------------------------------- */

/* Plane k: for each row of tiles, the T image rows it reads, zero-padded to
 * wp = TW*m + 2 columns (column q is image column q - 1), then B^T down
 * every column, then B^T along each tile's T values of each row. */
INC__CPU_INLINE void in_plane_m(float *v, const float *x, const inc__wino *g, int64_t k,
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


inc_status inc__cpu_wino_in(float *v, const float *x, const inc__wino *g, inc_context *ctx)
{
  if (inc__cpu_wino_blocks(g)) return inc__cpu_wino_in_blocks(v, x, g, ctx);
  const int64_t wp = g->tw * g->m + 2;
  return each_plane(in_plane, v, x, g, NULL, 0, 2 * (g->m + 2) * wp, "wino_in", ctx);
}

/* ---- output: y <- mm (T*T, C, P) ------------------------------------------- */

/* Plane k: for each row of tiles, A^T down every tile's columns into
 * t (m, T, TW), then A^T along each row: full tiles straight into the
 * image row, the last one cropped; then bias and ReLU along the row. */
INC__CPU_INLINE void out_plane_m(float *y, const float *mm, const inc__wino *g, const float *bias,
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


inc_status inc__cpu_wino_out(float *y, const float *mm, const float *bias, const inc__wino *g,
                             int relu, inc_context *ctx)
{
  if (inc__cpu_wino_blocks(g)) return inc__cpu_wino_out_blocks(y, mm, bias, g, relu, ctx);
  return each_plane(out_plane, y, mm, g, bias, relu, g->m * (g->m + 2) * g->tw, "wino_out", ctx);
}

/* ---- output gradient: dm (T*T, C, P) <- dy --------------------------------- */

/* Plane k: for each row of tiles, its m rows of dy zero-padded to wq = TW*m
 * columns, A down every column, then A along each tile's m values. */
INC__CPU_INLINE void dout_plane_m(float *dm, const float *dy, const inc__wino *g, int64_t k,
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


inc_status inc__cpu_wino_dout(float *dm, const float *dy, const inc__wino *g, inc_context *ctx)
{
  if (inc__cpu_wino_blocks(g)) return inc__cpu_wino_dout_blocks(dm, dy, g, ctx);
  const int64_t wq = g->tw * g->m;
  return each_plane(dout_plane, dm, dy, g, NULL, 0, (2 * g->m + 2) * wq, "wino_dout", ctx);
}

/* ---- input gradient: dx <- dv (T*T, C, P) ---------------------------------- */

/* Plane k, zeroed first: for each row of tiles, B down every tile's columns
 * into s (T, T, TW), then for each of its T image rows B along each tile's
 * row into r (T, TW), added to the row at column tx*m - 1 + o for o = 0,
 * 1, ..., T-1 in turn (so a pixel gets the tile on its right first). */
INC__CPU_INLINE void din_plane_m(float *dx, const float *dv, const inc__wino *g, int64_t k,
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


inc_status inc__cpu_wino_din(float *dx, const float *dv, const inc__wino *g, inc_context *ctx)
{
  if (inc__cpu_wino_blocks(g)) return inc__cpu_wino_din_blocks(dx, dv, g, ctx);
  const int64_t T = g->m + 2;
  return each_plane(din_plane, dx, dv, g, NULL, 0, (T * T + T) * g->tw, "wino_din", ctx);
}
