/*
 * conv_direct.cu — the direct convolution (op conv_direct; the CPU loops:
 * src/cpu/conv_direct.c): one thread per output element, each summing its
 * window's products through the INC_HD body of src/kernels.h. On a GPU
 * the stem's col matrix is cheap next to the rest of the step, so conv2d
 * only picks this op on the CPU for now (src/layers/conv2d.c); the kernel
 * keeps the registry whole and is what the op table checks on CUDA.
 */
#include "common.cuh"

/* ---- kernels ------------------------------------------------------------ */

__global__ void inc__cuda_conv_direct_kernel(float *y, const float *x, const float *w,
                                             const float *bias, inc__window g, int64_t oc,
                                             int relu, int cnhw, int64_t total)
{
  /* y (N, OC, OH, OW), or (OC, N, OH, OW) when cnhw, <- w applied to x's windows + bias */
  INC_CUDA_FOR(i, total) y[i] = inc__k_conv_direct(x, w, bias, i, &g, oc, relu, cnhw);
}

/* ---- launchers ---------------------------------------------------------- */

inc_status inc__cuda_conv_direct(float *y, const float *x, const float *w, const float *bias,
                                 const inc__window *g, int64_t oc, int relu, int cnhw,
                                 inc_context *ctx)
{
  static const char op[] = "conv_direct";
  const int64_t total = g->n * oc * g->oh * g->ow;
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_conv_direct_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, y, x, w, bias, *g, oc, relu, cnhw, total);
  return inc__cuda_launched(ctx, op);
}
