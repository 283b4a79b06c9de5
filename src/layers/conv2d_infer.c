/*
 * conv2d_infer.c — what conv2d does only in inference plans, where nothing
 * is kept for a backward pass:
 *   - the weight transform kept across passes (inc__conv_cache):
 *     Winograd's U (src/layers/conv2d_winograd.c) or the used taps' weight
 *     of a kernel larger than its map (src/layers/conv2d.c), which an
 *     inference forward otherwise remade from the weights on every pass (at
 *     28x28 ~5% of a pass). It lives in the layer, in the context's memory,
 *     until the layer is destroyed, and is valid for the key it was made
 *     for at the context's parameter epoch: every path that may write
 *     parameters or buffers bumps the epoch (inc__values_changed,
 *     src/internal.h), and the next use remakes it;
 *   - blocks of whole images (inc__images_per_block, also Winograd's): the
 *     im2col convolution's below.
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

/* ---- blocks of images ------------------------------------------------------ */

int64_t inc__images_per_block(int64_t per, int64_t budget, int64_t n)
{
  const int64_t b = budget / (per > 0 ? per : 1);
  return b < 1 ? 1 : b > n ? n : b;
}

/* An inference step whose col would outgrow the caches (the large 5x5
 * convolutions at 96x96; the stem, of few channels, takes the direct
 * convolution instead, src/layers/conv2d.c) runs in blocks of whole images
 * of an (N, C, H, W) input: im2col, GEMM and the bias pass of one block
 * while its col and GEMM result (kcol + OC floats per output pixel) are
 * still in the cache, the result then moved into y (at 96x96 the largest
 * 5x5 needs 4 MB of col instead of 59, and went 14.5 -> 12 ms).
 * Steps whose col and result take fewer than inc__conv_block_min floats
 * (32 MiB; every one at 28x28, where blocks were no faster) run whole.
 * Images per block: about inc__conv_block_floats floats of col and result
 * (4 MiB), at least one; n (no blocks) when that covers them all. */
int64_t inc__conv_block_floats = (int64_t)1 << 20, inc__conv_block_min = (int64_t)1 << 23;

int64_t inc__conv_block_images(int64_t kcol, int64_t oc, int64_t plane, int64_t n)
{
  const int64_t per = (kcol + oc) * plane;
  return per * n < inc__conv_block_min ? n : inc__images_per_block(per, inc__conv_block_floats, n);
}

inc_status inc__conv_blocks_fwd(inc_context *ctx, float *y, int nchw_out, const float *x,
                                const inc__window *g, const float *w, const float *b, int64_t oc,
                                int64_t kdim, int relu, float *col, float *tmp, int64_t nb)
{
  const int64_t hw = g->oh * g->ow, in = g->c * g->h * g->w;
  inc_status s = INC_OK;
  for (int64_t n0 = 0; s == INC_OK && n0 < g->n; n0 += nb) {
    inc__window gb = *g;
    gb.n = g->n - n0 < nb ? g->n - n0 : nb;
    INC__PROF_ROLE(ctx, INC__ROLE_COL);
    s = ctx->ops->im2col(col, x + n0 * in, &gb, ctx);
    if (s == INC_OK) s = ctx->ops->gemm(tmp, w, col, 0, 0, oc, gb.n * hw, kdim, 1.0f, 0.0f, ctx);
    if (s != INC_OK) break;
    if (nchw_out) {
      s = ctx->ops->conv_out(y + n0 * oc * hw, tmp, b, gb.n, oc, hw, relu, ctx);
      continue;
    }
    if (b || relu) s = ctx->ops->conv_out(tmp, tmp, b, 1, oc, gb.n * hw, relu, ctx);
    /* y (OC, N*OH*OW)[:, n0*OH*OW ...] = tmp: a slice of OC rows of one-float "planes" */
    if (s == INC_OK) s = ctx->ops->slice(y, tmp, 1, oc, gb.n * hw, g->n * hw, n0 * hw, 1, ctx);
  }
  return s;
}
