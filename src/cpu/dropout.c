/*
 * dropout.c — CPU dropout: x times a mask drawn from the counter-based
 * generator, element by element through the INC_HD body that the CUDA
 * backend runs too. The mask is a pure function of (seed, stream, element
 * index), so the forward and the backward pass of a step regenerate it
 * instead of storing it, and every thread count and the CUDA backend give
 * the same mask and the same bits.
 */
#include "cpu.h"

inc_status inc__cpu_dropout(float *y, const float *x, int64_t n, int64_t c, int64_t plane,
                            int cnhw, float p, uint64_t seed, uint64_t stream, inc_context *ctx)
{
  /* x, y (N, C, P), or (C, N, P) when cnhw */
  const int64_t count = n * c * plane;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, count))
  for (int64_t i = 0; i < count; i++)
    y[i] = inc__k_dropout(x, i, n, c, plane, cnhw, p, seed, stream);
  return INC_OK;
}
