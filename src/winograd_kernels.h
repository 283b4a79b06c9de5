/*
 * winograd_kernels.h — the transforms of Winograd's minimal filtering
 * F(m x m, 3x3), m = 2 or 4, written once for both backends (INC_HD, like
 * the rest of kernels.h, which includes this file).
 *
 * A stride-1, pad-1 3x3 convolution computes each m x m block of outputs
 * (a tile) from the T x T block of inputs around it, T = m + 2:
 *
 *     Y = A^T [ (G g G^T) .* (B^T d B) ] A        g the 3x3 filter, d the input tile
 *
 * so that across the C input channels the products become T*T GEMMs
 * (src/layers/conv2d_winograd.c): U (T*T, OC, C) x V (T*T, C, P) ->
 * M (T*T, OC, P), P the tiles of the whole batch. The matrices come from
 * Toom-Cook interpolation at the points below (the last one infinity);
 * rows of G and B^T are scaled by powers of two only, which is exact:
 *
 *   F(2x2, 3x3), T = 4, points 0, 1, -1, inf:
 *     B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 -1 0 1]
 *     G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *     A^T = [1 1 1 0; 0 1 -1 1]
 *   F(4x4, 3x3), T = 6, points 0, 1, -1, 1/2, -1/2, inf:
 *     B^T = [1 0 -5 0 4 0; 0 -1 -1 4 4 0; 0 1 -1 -4 4 0;
 *            0 -1 -2 1 2 0; 0 1 -2 -1 2 0; 0 1 0 -5 0 4]
 *     G   = [1 0 0; 1/6 1/6 1/6; 1/6 -1/6 1/6;
 *            -4/3 -2/3 -1/3; -4/3 2/3 -1/3; 0 0 1/4]
 *     A^T = [1 1 1 1 1 0; 0 1 -1 1/2 -1/2 0; 0 1 1 1/4 1/4 0; 0 1 -1 1/8 -1/8 1]
 *   (the points +-1/2 give F(4)'s products the same size as +-2 do, with
 *   B^T's large entries on d's edges; docs/performance.md has the error
 *   measured against the direct convolution.)
 *
 * The backward pass is the exact gradient of that computation, the same
 * matrices transposed: dM = A dY A^T per output tile, dU = dM V^T and
 * dV = U^T dM (GEMMs), dg = G^T dU G per filter, and each input pixel sums
 * B dV B^T over the (up to four) tiles that read it.
 *
 * Layouts: an image (N, C, H, W) is stored so, or channel-major (C, N, H,
 * W) with cnhw set; its tiles are numbered p = (n*TH + ty)*TW + tx, TH =
 * ceil(H/m) down and TW = ceil(W/m) across; tile (ty, tx) produces output
 * rows ty*m .. ty*m+m-1 (those inside the image) and reads input rows
 * ty*m-1 .. ty*m+m (zero outside), columns likewise. Transformed arrays
 * are (T*T, C, P) (or (T*T, OC, C) for filters): element (a, b) of a tile
 * is the plane a*T + b.
 *
 * Each 2-D transform is a 1-D one over the tile's columns, then over its
 * rows, always in this order; the CPU loops of src/cpu/winograd.c apply the
 * same 1-D functions to whole rows of tiles in the same order, which gives
 * the bodies' bits.
 */
#ifndef INC_WINOGRAD_KERNELS_H
#define INC_WINOGRAD_KERNELS_H

/* The largest tile side T (m = 4). */
#define INC__WINO_TMAX 6

/* One image of a Winograd pass: the input of wino_in and wino_din, the
 * output of wino_out and wino_dout (c is then the output channels). */
typedef struct inc__wino {
  int64_t n, c, h, w; /* the image (N, C, H, W) */
  int64_t th, tw;     /* tiles down and across: ceil(H/m), ceil(W/m) */
  int m;              /* outputs per tile side: 2 or 4; T = m + 2 */
  int cnhw;           /* stored channel-major, (C, N, H, W) */
} inc__wino;

/* The geometry of an image (n, c, h, w) for tile size m. */
INC_HD static inline inc__wino inc__wino_of(int64_t n, int64_t c, int64_t h, int64_t w, int m,
                                            int cnhw)
{
  inc__wino g;
  g.n = n;
  g.c = c;
  g.h = h;
  g.w = w;
  g.th = (h + m - 1) / m;
  g.tw = (w + m - 1) / m;
  g.m = m;
  g.cnhw = cnhw;
  return g;
}

/* Tiles of the whole batch: P = N * TH * TW. */
INC_HD static inline int64_t inc__wino_tiles(const inc__wino *g) { return g->n * g->th * g->tw; }

/* The offset of image (n, c)'s H x W plane in the image's storage. */
INC_HD static inline int64_t inc__wino_plane(const inc__wino *g, int64_t n, int64_t c)
{
  return (g->cnhw ? c * g->n + n : n * g->c + c) * g->h * g->w;
}

/* ---- the 1-D transforms: o[k*os] from d[j*ds] -------------------------- */

/* B^T (T x T): the input transform. */
INC_HD static inline void inc__k_wino_bt(float *o, int64_t os, const float *d, int64_t ds, int m)
{
  if (m == 2) {
    const float d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds];
    o[0] = d0 - d2;
    o[os] = d1 + d2;
    o[2 * os] = d2 - d1;
    o[3 * os] = d3 - d1;
    return;
  }
  const float d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds],
              d5 = d[5 * ds];
  o[0] = (d0 - 5.0f * d2) + 4.0f * d4;
  o[os] = 4.0f * (d3 + d4) - (d1 + d2);
  o[2 * os] = 4.0f * (d4 - d3) + (d1 - d2);
  o[3 * os] = 2.0f * (d4 - d2) + (d3 - d1);
  o[4 * os] = 2.0f * (d4 - d2) + (d1 - d3);
  o[5 * os] = (d1 - 5.0f * d3) + 4.0f * d5;
}

/* B = (B^T)^T (T x T): the input gradient's transform. */
INC_HD static inline void inc__k_wino_b(float *o, int64_t os, const float *v, int64_t vs, int m)
{
  if (m == 2) {
    const float v0 = v[0], v1 = v[vs], v2 = v[2 * vs], v3 = v[3 * vs];
    o[0] = v0;
    o[os] = (v1 - v2) - v3;
    o[2 * os] = (v1 + v2) - v0;
    o[3 * os] = v3;
    return;
  }
  const float v0 = v[0], v1 = v[vs], v2 = v[2 * vs], v3 = v[3 * vs], v4 = v[4 * vs],
              v5 = v[5 * vs];
  o[0] = v0;
  o[os] = ((v2 - v1) + (v4 - v3)) + v5;
  o[2 * os] = -((5.0f * v0 + (v1 + v2)) + 2.0f * (v3 + v4));
  o[3 * os] = (4.0f * (v1 - v2) + (v3 - v4)) - 5.0f * v5;
  o[4 * os] = 4.0f * ((v0 + v1) + v2) + 2.0f * (v3 + v4);
  o[5 * os] = 4.0f * v5;
}

/* A^T (m x T): the output transform. */
INC_HD static inline void inc__k_wino_at(float *o, int64_t os, const float *s, int64_t ss, int m)
{
  if (m == 2) {
    const float s0 = s[0], s1 = s[ss], s2 = s[2 * ss], s3 = s[3 * ss];
    o[0] = (s0 + s1) + s2;
    o[os] = (s1 - s2) + s3;
    return;
  }
  const float s0 = s[0], s1 = s[ss], s2 = s[2 * ss], s3 = s[3 * ss], s4 = s[4 * ss],
              s5 = s[5 * ss];
  const float p12 = s1 + s2, m12 = s1 - s2, p34 = s3 + s4, m34 = s3 - s4;
  o[0] = (s0 + p12) + p34;
  o[os] = m12 + 0.5f * m34;
  o[2 * os] = p12 + 0.25f * p34;
  o[3 * os] = (m12 + 0.125f * m34) + s5;
}

/* A = (A^T)^T (T x m): the output gradient's transform. */
INC_HD static inline void inc__k_wino_a(float *o, int64_t os, const float *y, int64_t ys, int m)
{
  if (m == 2) {
    const float y0 = y[0], y1 = y[ys];
    o[0] = y0;
    o[os] = y0 + y1;
    o[2 * os] = y0 - y1;
    o[3 * os] = y1;
    return;
  }
  const float y0 = y[0], y1 = y[ys], y2 = y[2 * ys], y3 = y[3 * ys];
  const float e = y0 + y2, f = y1 + y3, eh = y0 + 0.25f * y2, fh = 0.5f * y1 + 0.125f * y3;
  o[0] = y0;
  o[os] = e + f;
  o[2 * os] = e - f;
  o[3 * os] = eh + fh;
  o[4 * os] = eh - fh;
  o[5 * os] = y3;
}

/* G (T x 3): the filter transform. */
INC_HD static inline void inc__k_wino_g(float *o, int64_t os, const float *g, int64_t gs, int m)
{
  const float g0 = g[0], g1 = g[gs], g2 = g[2 * gs];
  if (m == 2) {
    o[0] = g0;
    o[os] = 0.5f * ((g0 + g1) + g2);
    o[2 * os] = 0.5f * ((g0 - g1) + g2);
    o[3 * os] = g2;
    return;
  }
  o[0] = g0;
  o[os] = ((g0 + g1) + g2) / 6.0f;
  o[2 * os] = ((g0 - g1) + g2) / 6.0f;
  o[3 * os] = -((4.0f * g0 + 2.0f * g1) + g2) / 3.0f;
  o[4 * os] = -((4.0f * g0 - 2.0f * g1) + g2) / 3.0f;
  o[5 * os] = 0.25f * g2;
}

/* G^T (3 x T): the filter gradient's transform. */
INC_HD static inline void inc__k_wino_gt(float *o, int64_t os, const float *u, int64_t us, int m)
{
  if (m == 2) {
    const float u0 = u[0], u1 = u[us], u2 = u[2 * us], u3 = u[3 * us];
    o[0] = u0 + 0.5f * (u1 + u2);
    o[os] = 0.5f * (u1 - u2);
    o[2 * os] = 0.5f * (u1 + u2) + u3;
    return;
  }
  const float u0 = u[0], u1 = u[us], u2 = u[2 * us], u3 = u[3 * us], u4 = u[4 * us],
              u5 = u[5 * us];
  o[0] = (u0 + (u1 + u2) / 6.0f) - 4.0f * (u3 + u4) / 3.0f;
  o[os] = (u1 - u2) / 6.0f + 2.0f * (u4 - u3) / 3.0f;
  o[2 * os] = ((u1 + u2) / 6.0f - (u3 + u4) / 3.0f) + 0.25f * u5;
}

/* ---- the 2-D transforms, one tile or filter each ----------------------- */

/* Filter f = oc*C + c of w (OC, C, 3, 3) into u (T*T, OC, C), filters =
 * OC*C: U = G g G^T. */
INC_HD static inline void inc__k_wino_w(float *u, const float *w, int64_t f, int64_t filters,
                                        int m)
{
  const int T = m + 2;
  float t[INC__WINO_TMAX * 3]; /* G g (T, 3) */
  for (int k = 0; k < 3; k++) inc__k_wino_g(t + k, 3, w + f * 9 + k, 3, m);
  for (int a = 0; a < T; a++) inc__k_wino_g(u + a * T * filters + f, filters, t + a * 3, 1, m);
}

/* Filter f of dw (OC, C, 3, 3) from du (T*T, OC, C): dg = G^T dU G. */
INC_HD static inline void inc__k_wino_dw(float *dw, const float *du, int64_t f, int64_t filters,
                                         int m)
{
  const int T = m + 2;
  float t[3 * INC__WINO_TMAX]; /* G^T dU (3, T) */
  for (int b = 0; b < T; b++) inc__k_wino_gt(t + b, T, du + b * filters + f, T * filters, m);
  for (int k = 0; k < 3; k++) inc__k_wino_gt(dw + f * 9 + k * 3, 1, t + k * T, 1, m);
}

/* Tile i = c*P + p of v (T*T, C, P) from image x: V = B^T d B. */
INC_HD static inline void inc__k_wino_in(float *v, const float *x, int64_t i, const inc__wino *g)
{
  const int m = g->m, T = m + 2;
  const int64_t per = g->th * g->tw, P = g->n * per, vs = g->c * P;
  const int64_t c = i / P, p = i % P, n = p / per, ty = (p % per) / g->tw, tx = p % g->tw;
  const float *plane = x + inc__wino_plane(g, n, c);
  float d[INC__WINO_TMAX * INC__WINO_TMAX], t[INC__WINO_TMAX * INC__WINO_TMAX];
  for (int a = 0; a < T; a++)
    for (int b = 0; b < T; b++) {
      const int64_t r = ty * m - 1 + a, q = tx * m - 1 + b;
      d[a * T + b] = r >= 0 && r < g->h && q >= 0 && q < g->w ? plane[r * g->w + q] : 0.0f;
    }
  for (int b = 0; b < T; b++) inc__k_wino_bt(t + b, T, d + b, T, m); /* B^T d */
  for (int a = 0; a < T; a++) inc__k_wino_bt(v + a * T * vs + i, vs, t + a * T, 1, m);
}

/* Tile i = c*P + p of image y from mm (T*T, C, P): the outputs inside the
 * image of A^T M A, plus bias[c] (0 when bias is NULL), ReLU if relu. */
INC_HD static inline void inc__k_wino_out(float *y, const float *mm, const float *bias, int relu,
                                          int64_t i, const inc__wino *g)
{
  const int m = g->m, T = m + 2;
  const int64_t per = g->th * g->tw, P = g->n * per, vs = g->c * P;
  const int64_t c = i / P, p = i % P, n = p / per, ty = (p % per) / g->tw, tx = p % g->tw;
  float *plane = y + inc__wino_plane(g, n, c);
  float t[4 * INC__WINO_TMAX], o[4]; /* A^T M (m, T); one row of outputs */
  for (int b = 0; b < T; b++) inc__k_wino_at(t + b, T, mm + b * vs + i, T * vs, m);
  const float add = bias ? bias[c] : 0.0f;
  for (int a = 0; a < m && ty * m + a < g->h; a++) {
    inc__k_wino_at(o, 1, t + a * T, 1, m);
    for (int b = 0; b < m && tx * m + b < g->w; b++) {
      const float s = o[b] + add;
      plane[(ty * m + a) * g->w + tx * m + b] = relu && s < 0.0f ? 0.0f : s;
    }
  }
}

/* Tile i = c*P + p of dm (T*T, C, P) from image dy: dM = A dY A^T, dY the
 * tile's m x m outputs (zero outside the image). */
INC_HD static inline void inc__k_wino_dout(float *dm, const float *dy, int64_t i,
                                           const inc__wino *g)
{
  const int m = g->m, T = m + 2;
  const int64_t per = g->th * g->tw, P = g->n * per, vs = g->c * P;
  const int64_t c = i / P, p = i % P, n = p / per, ty = (p % per) / g->tw, tx = p % g->tw;
  const float *plane = dy + inc__wino_plane(g, n, c);
  float d[16], t[INC__WINO_TMAX * 4]; /* dY (m, m); A dY (T, m) */
  for (int a = 0; a < m; a++)
    for (int b = 0; b < m; b++) {
      const int64_t r = ty * m + a, q = tx * m + b;
      d[a * m + b] = r < g->h && q < g->w ? plane[r * g->w + q] : 0.0f;
    }
  for (int b = 0; b < m; b++) inc__k_wino_a(t + b, m, d + b, m, m);
  for (int a = 0; a < T; a++) inc__k_wino_a(dm + a * T * vs + i, vs, t + a * m, 1, m);
}

/* Element (a, b) of B dV B^T for the tile at dv (its planes vs apart). */
INC_HD static inline float inc__k_wino_din_at(const float *dv, int64_t vs, int a, int b, int m)
{
  const int T = m + 2;
  float s[INC__WINO_TMAX], r[INC__WINO_TMAX], col[INC__WINO_TMAX];
  for (int j = 0; j < T; j++) { /* row a of B dV, column by column */
    inc__k_wino_b(col, 1, dv + j * vs, T * vs, m);
    s[j] = col[a];
  }
  inc__k_wino_b(r, 1, s, 1, m);
  return r[b];
}

/* dx[i] (i in the image's storage order) from dv (T*T, C, P): the sum of
 * B dV B^T over the tiles that read the pixel, rows of tiles top to bottom
 * and within one row right to left (the order of the CPU's scatter). */
INC_HD static inline float inc__k_wino_din(const float *dv, int64_t i, const inc__wino *g)
{
  const int m = g->m;
  const int64_t hw = g->h * g->w, pl = i / hw, r = (i % hw) / g->w, q = i % g->w;
  const int64_t n = g->cnhw ? pl % g->n : pl / g->c, c = g->cnhw ? pl / g->n : pl % g->c;
  const int64_t P = inc__wino_tiles(g), vs = g->c * P;
  /* tile t reads rows t*m-1 .. t*m+m: the tiles with r - m <= t*m <= r + 1 */
  const int64_t ty0 = r >= m ? (r - 1) / m : 0, ty1 = (r + 1) / m < g->th ? (r + 1) / m : g->th - 1;
  const int64_t tx0 = q >= m ? (q - 1) / m : 0, tx1 = (q + 1) / m < g->tw ? (q + 1) / m : g->tw - 1;
  float sum = 0.0f;
  for (int64_t ty = ty0; ty <= ty1; ty++)
    for (int64_t tx = tx1; tx >= tx0; tx--) {
      const int64_t p = (n * g->th + ty) * g->tw + tx;
      sum += inc__k_wino_din_at(dv + c * P + p, vs, (int)(r + 1 - ty * m), (int)(q + 1 - tx * m), m);
    }
  return sum;
}

#endif /* INC_WINOGRAD_KERNELS_H */
