/*
 * fill.c — CPU parameter fills from the counter-based generator: element i
 * depends only on (seed, stream, i), so any thread count, and the CUDA
 * backend, produce the same values.
 */
#include "cpu.h"

inc_status inc__cpu_fill(float *dst, int64_t count, int dist, float a, float b, uint64_t seed,
                         uint64_t stream, inc_context *ctx)
{
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, count))
  for (int64_t i = 0; i < count; i++) dst[i] = inc__k_fill(dist, a, b, seed, stream, i);
  return INC_OK;
}
