/*
 * conv2d_cache.c — conv2d's weight transform kept across inference passes
 * (inc__conv_cache, src/layer.h): Winograd's U (src/layers/
 * conv2d_winograd.c) or the used taps' weight of a kernel larger than its
 * map (src/layers/conv2d.c), which an inference forward otherwise remade
 * from the weights on every pass (at 28x28 ~5% of a pass). It lives in the
 * layer, in the context's memory, until the layer is destroyed, and is
 * valid for the key it was made for at the context's parameter epoch:
 * every path that may write parameters or buffers bumps the epoch
 * (inc__values_changed, src/internal.h), and the next use remakes it.
 */
#include <string.h>
#include "../layer.h"

inc_status inc__conv_cache_get(inc_context *ctx, inc__conv_cache *k, const int64_t key[4],
                               size_t floats, float **out, int *fresh)
{
  *fresh = k->valid && k->epoch == ctx->param_epoch && k->floats == floats &&
           !memcmp(k->key, key, sizeof k->key);
  k->valid = *fresh;
  if (!*fresh && k->floats != floats) {
    if (k->data) ctx->ops->free(k->data, ctx);
    k->data = NULL;
    k->floats = 0;
    void *mem = NULL;
    inc_status s = ctx->ops->alloc(&mem, floats * sizeof(float), ctx);
    if (s != INC_OK) return s;
    k->data = (float *)mem;
    k->floats = floats;
  }
  memcpy(k->key, key, sizeof k->key);
  *out = k->data;
  return INC_OK;
}

void inc__conv_cache_made(inc_context *ctx, inc__conv_cache *k)
{
  k->valid = 1;
  k->epoch = ctx->param_epoch;
}

void inc__conv_cache_free(inc_context *ctx, inc__conv_cache *k)
{
  if (k->data) ctx->ops->free(k->data, ctx);
  memset(k, 0, sizeof *k);
}
