/*
 * winograd.cu — the Winograd convolution's transforms (the matrices,
 * layouts and tile numbering: src/winograd_kernels.h); the T*T products
 * between them are cuBLAS GEMMs (gemm.cu), called by the layer.
 *
 * One thread per filter (wino_w, wino_dw), per (channel, tile) (wino_in,
 * wino_out, wino_dout) or per input pixel (wino_din), each calling the
 * INC_HD body that src/cpu/winograd.c's row loops reproduce bit for bit.
 * The input gradient is a gather: each pixel sums B dV B^T over the up to
 * four tiles that read it, recomputing the entries it needs, so it needs
 * no atomics and is deterministic.
 */
#include "common.cuh"

/* ---- kernels ------------------------------------------------------------ */

__global__ void inc__cuda_wino_w_kernel(float *u, const float *w, int64_t filters, int m)
{
  /* u (T*T, OC, C) <- w (OC, C, 3, 3) */
  INC_CUDA_FOR(f, filters) inc__k_wino_w(u, w, f, filters, m);
}

__global__ void inc__cuda_wino_dw_kernel(float *dw, const float *du, int64_t filters, int m)
{
  /* dw (OC, C, 3, 3) <- du (T*T, OC, C) */
  INC_CUDA_FOR(f, filters) inc__k_wino_dw(dw, du, f, filters, m);
}

__global__ void inc__cuda_wino_in_kernel(float *v, const float *x, inc__wino g, int64_t total)
{
  /* v (T*T, C, P) <- x (N, C, H, W) */
  INC_CUDA_FOR(i, total) inc__k_wino_in(v, x, i, &g);
}

__global__ void inc__cuda_wino_out_kernel(float *y, const float *mm, const float *bias,
                                          inc__wino g, int relu, int64_t total)
{
  /* y (N, C, H, W) <- mm (T*T, C, P) */
  INC_CUDA_FOR(i, total) inc__k_wino_out(y, mm, bias, relu, i, &g);
}

__global__ void inc__cuda_wino_dout_kernel(float *dm, const float *dy, inc__wino g,
                                           int64_t total)
{
  /* dm (T*T, C, P) <- dy (N, C, H, W) */
  INC_CUDA_FOR(i, total) inc__k_wino_dout(dm, dy, i, &g);
}

__global__ void inc__cuda_wino_din_kernel(float *dx, const float *dv, inc__wino g, int64_t total)
{
  /* dx (N, C, H, W) <- dv (T*T, C, P) */
  INC_CUDA_FOR(i, total) dx[i] = inc__k_wino_din(dv, i, &g);
}

/* ---- launchers ---------------------------------------------------------- */

inc_status inc__cuda_wino_w(float *u, const float *w, int64_t oc, int64_t c, int m,
                            inc_context *ctx)
{
  static const char op[] = "wino_w";
  const int64_t filters = oc * c;
  if (filters <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_wino_w_kernel, inc__cuda_blocks(ctx, filters), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, u, w, filters, m);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_wino_dw(float *dw, const float *du, int64_t oc, int64_t c, int m,
                             inc_context *ctx)
{
  static const char op[] = "wino_dw";
  const int64_t filters = oc * c;
  if (filters <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_wino_dw_kernel, inc__cuda_blocks(ctx, filters), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, dw, du, filters, m);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_wino_in(float *v, const float *x, const inc__wino *g, inc_context *ctx)
{
  static const char op[] = "wino_in";
  const int64_t total = g->c * inc__wino_tiles(g);
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_wino_in_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, v, x, *g, total);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_wino_out(float *y, const float *mm, const float *bias, const inc__wino *g,
                              int relu, inc_context *ctx)
{
  static const char op[] = "wino_out";
  const int64_t total = g->c * inc__wino_tiles(g);
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_wino_out_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, y, mm, bias, *g, relu, total);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_wino_dout(float *dm, const float *dy, const inc__wino *g, inc_context *ctx)
{
  static const char op[] = "wino_dout";
  const int64_t total = g->c * inc__wino_tiles(g);
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_wino_dout_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, dm, dy, *g, total);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_wino_din(float *dx, const float *dv, const inc__wino *g, inc_context *ctx)
{
  static const char op[] = "wino_din";
  const int64_t total = g->n * g->c * g->h * g->w;
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_wino_din_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, dx, dv, *g, total);
  return inc__cuda_launched(ctx, op);
}
