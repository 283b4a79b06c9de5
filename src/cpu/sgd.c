/*
 * sgd.c — the CPU SGD update (PyTorch's rule with momentum and weight
 * decay), one parameter element per iteration through inc__k_sgd.
 */
#include "cpu.h"

inc_status inc__cpu_sgd(float *param, float *buf, const float *grad, int64_t count, float lr,
                        float momentum, float weight_decay, int first, inc_context *ctx)
{
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, count))
  for (int64_t i = 0; i < count; i++)
    inc__k_sgd(param, buf, grad, i, lr, momentum, weight_decay, first);
  return INC_OK;
}
