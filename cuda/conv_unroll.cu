/*
 * conv_unroll.cu — the unrolled convolution's weight ops on CUDA (ops
 * unroll_w and unroll_dw; the CPU loops and what they are for:
 * src/cpu/conv_unroll.c): one thread per element of wu, resp. of dw, each
 * the INC_HD body of src/kernels.h, so both backends give the same bits.
 * The products themselves are cuBLAS GEMMs (src/layers/conv2d_unroll.c).
 */
#include "common.cuh"

/* ---- kernels ------------------------------------------------------------ */

__global__ void inc__cuda_unroll_w_kernel(float *wu, const float *w, inc__window g, int64_t total)
{
  /* wu (OC*OH*OW, C*H*W) <- the taps of w (OC, C*KH*KW) per output pixel */
  INC_CUDA_FOR(i, total) wu[i] = inc__k_unroll_w(w, i, &g);
}

__global__ void inc__cuda_unroll_dw_kernel(float *dw, const float *dwu, inc__window g,
                                           int64_t total)
{
  /* dw (OC, C*KH*KW) <- dwu (OC*OH*OW, C*H*W) summed over the output pixels */
  INC_CUDA_FOR(i, total) dw[i] = inc__k_unroll_dw(dwu, i, &g);
}

/* ---- launchers ---------------------------------------------------------- */

inc_status inc__cuda_unroll_w(float *wu, const float *w, const inc__window *g, int64_t oc,
                              inc_context *ctx)
{
  static const char op[] = "unroll_w";
  const int64_t total = oc * g->oh * g->ow * g->c * g->h * g->w;
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_unroll_w_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, wu, w, *g, total);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_unroll_dw(float *dw, const float *dwu, const inc__window *g, int64_t oc,
                               inc_context *ctx)
{
  static const char op[] = "unroll_dw";
  const int64_t total = oc * g->c * g->kh * g->kw;
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_unroll_dw_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, dw, dwu, *g, total);
  return inc__cuda_launched(ctx, op);
}
