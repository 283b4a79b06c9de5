/*
 * conv2d_winograd.c — conv2d's second algorithm: Winograd's minimal
 * filtering F(m x m, 3x3) for 3x3 convolutions of stride 1 and padding 1,
 * with m = 2 or 4 (the transforms and their matrices: src/winograd_kernels.h),
 * and the choice, per convolution step when a plan is built, between it
 * and the direct convolution (im2col + one GEMM, src/layers/conv2d.c).
 *
 * Forward, over the whole batch (T = m + 2, P = the batch's tiles):
 *   U (T*T, OC, C) = G w G^T                   wino_w (every training forward: w
 *                                              moves; inference keeps it in the
 *                                              layer while the weights stay)
 *   V (T*T, C, P)  = B^T d B of every tile      wino_in, x in either layout
 *   M_k = U_k x V_k, k < T*T                    T*T GEMMs (OC x C) x (C x P)
 *   y = A^T M A, + bias, ReLU                   wino_out, y in the plan's layout
 * Backward is the exact gradient of that computation:
 *   dM = A dY A^T (wino_dout), dU_k = dM_k x V_k^T, dW = G^T dU G (wino_dw),
 *   dV_k = U_k^T x dM_k, dx = B dV B^T summed over overlapping tiles
 *   (wino_din). Each pass's T*T GEMMs are one gemm_batched call (one call's
 *   fixed cost, not T*T). A training plan keeps V and U from forward to
 *   backward (V is smaller than the direct path's col matrix: (T/m)^2 C
 *   values per pixel against 9 C), and dV is written over V once dU has
 *   read it.
 *
 * The choice: the environment variable INCEPTION_CONV_ALGO, read whenever
 * a plan is built: direct, winograd2, winograd4, unrolled (no Winograd:
 * src/layers/conv2d_unroll.c) or auto (inc__conv_wino_auto: a cost model
 * whose constants come from examples/bench_conv, docs/performance.md).
 * Unset or empty means auto on the CPU and direct on CUDA (the rule is
 * fitted to CPU timings). Only 3x3 stride-1 pad-1 convolutions can run
 * Winograd; the others stay direct whatever it says (or unrolled). Any
 * other value fails the plan with a message.
 */
#include <stdlib.h>
#include <string.h>
#include "../plan.h"

/* Step values: forward (slots 2 and 3 stay conv2d's folded weight and
 * bias; W_S, an inference step's staging in blocks, takes W_U's slot),
 * backward. */
enum { W_V = 0, W_M = 1, W_U = 4, W_S = 4 };
enum { WB_V = 0, WB_DM = 1, WB_U = 2, WB_DU = 3 };

/* ---- the choice --------------------------------------------------------- */

/* The auto rule: a cost model in the direct convolution's multiply-adds,
 * fitted to examples/bench_conv's training times (forward + backward) of
 * every GoogLeNet 3x3 shape at 28x28 and 96x96, at batches 1, 4, 8, 16,
 * 32, 64, 128 and 256, 2 threads, oneDNN's SGEMM (2026-12-02, 160 shapes
 * per algorithm, docs/performance.md). For a batch of n images H x W,
 * c -> oc channels, of which a 3x3 window with padding 1 meets t = th tw
 * taps (th = 1 when H = 1, else 3; the direct path skips the others):
 *   direct  t n H W c oc + COL t n H W c
 *   F(m)    T^2 (GEMM P c oc + TRANSFORM P (c + oc) + FILTER c oc)
 * T = m + 2, P = n ceil(H/m) ceil(W/m) tiles. The direct path pays for its
 * col matrix (COL per value); a product of the T^2 GEMMs costs GEMM (< 1:
 * no im2col), every transformed input and output value TRANSFORM, each
 * filter's transforms FILTER (what small batches pay).
 * Non-negative least squares on the relative error, one set of constants
 * per algorithm; rms error 38% (direct), 22% (F(2) and F(4)). Winograd is
 * picked when predicted at or below MARGIN of the direct time (the margin
 * that did best on the grid): there the picks sum to 1.003x the per-shape
 * best, the direct convolution everywhere to 1.74x; no pick is more than
 * 1.24x from its shape's best but one (batch 1, 24x24: direct, 1.4x). No
 * fixed cost on either side: tiny convolutions stay direct. */
#define WINO_DIRECT_COL 17.68
static const double wino_gemm[2] = {0.857, 0.898};
static const double wino_transform[2] = {41.0, 42.8};
static const double wino_filter[2] = {65.1, 104.2};
#define WINO_MARGIN 0.85

int inc__conv_wino_auto(int64_t n, int64_t h, int64_t w, int64_t c, int64_t oc)
{
  const double cc = (double)c, oo = (double)oc;
  const double taps = (h == 1 ? 1.0 : 3.0) * (w == 1 ? 1.0 : 3.0);
  const double pixels = (double)n * (double)h * (double)w;
  double best = WINO_MARGIN * taps * pixels * cc * (oo + WINO_DIRECT_COL);
  int pick = 0;
  for (int m = 2; m <= 4; m += 2) {
    const double t2 = (double)((m + 2) * (m + 2));
    const double tiles = (double)n * (double)((h + m - 1) / m) * (double)((w + m - 1) / m);
    const int i = m / 2 - 1;
    const double cost = t2 * (wino_gemm[i] * tiles * cc * oo +
                              wino_transform[i] * tiles * (cc + oo) + wino_filter[i] * cc * oo);
    if (cost < best) {
      best = cost;
      pick = m;
    }
  }
  return pick;
}

/* What INCEPTION_CONV_ALGO asks for layer l: 0 direct, 1 winograd2, 2
 * winograd4, 3 auto, 4 unrolled; unset or empty: auto on the CPU, whose
 * figures fitted the rules, direct on CUDA, where no GPU has timed them
 * yet. -1 for anything else. */
static int algo_choice(const inc_layer *l, const char **value)
{
  static const char *const names[] = {"direct", "winograd2", "winograd4", "auto", "unrolled"};
  const char *e = getenv(INC__CONV_ALGO_ENV);
  *value = e;
  if (!e || !*e) return l->ctx->backend == INC_BACKEND_CPU ? 3 : 0;
  for (int i = 0; i < 5; i++)
    if (!strcmp(e, names[i])) return i;
  return -1;
}

inc_status inc__conv_algo(const inc_layer *l, const inc__window_geom *q, const inc__shape *in,
                          int64_t oc, int *m)
{
  const char *e;
  const int choice = algo_choice(l, &e);
  *m = 0;
  if (choice < 0)
    return inc__layer_error(l, INC_ERR_INVALID_ARGUMENT,
                            "%s is \"%.40s\": expected direct, winograd2, winograd4, unrolled "
                            "or auto",
                            INC__CONV_ALGO_ENV, e);
  if (choice == 0 || choice == 4 || q->k[0] != 3 || q->k[1] != 3 || q->s[0] != 1 ||
      q->s[1] != 1 || q->p[0] != 1 || q->p[1] != 1 || in->ndim != 4)
    return INC_OK;
  *m = choice == 3 ? inc__conv_wino_auto(in->d[0], in->d[2], in->d[3], in->d[1], oc) : 2 * choice;
  return INC_OK;
}

int inc__conv_unroll_mode(const inc_layer *l)
{
  const char *e;
  const int choice = algo_choice(l, &e);
  return choice == 4 ? INC__UNROLL_ALWAYS : choice == 3 ? INC__UNROLL_AUTO : INC__UNROLL_NEVER;
}

/* ---- planning and running ------------------------------------------------ */

/* The image t (N, C, H, W), in its layout, cut in tiles of m. */
static inc__wino image(const inc_tensor *t, int m)
{
  return inc__wino_of(t->dims[0], t->dims[1], t->dims[2], t->dims[3], m, t->cnhw);
}

/* An inference step goes in blocks of whole images whose V and M (T*T
 * (C + OC) values per tile) take about inc__wino_block_floats floats
 * (4 MiB): transform, products and output transform of one block while V
 * and M are in the cache, instead of whole-batch V and M (at 96x96 the
 * 64 -> 192 convolution on 24x24 maps held 170 MB of them; an inference
 * pass's peak RSS went from 320 to 176 MiB there, its time within the
 * noise; at 28x28 102 -> 90 MiB and ~5% faster).
 * A channel-major x is first sliced into a staging copy of the block, and
 * a channel-major y is written there and sliced into place: the ops see
 * the block as a batch of its own. Training plans keep the whole V for
 * backward. */
int64_t inc__wino_block_floats = (int64_t)1 << 20;

static int64_t block_images(const inc__wino *g, int64_t oc)
{
  const int64_t t2 = (g->m + 2) * (g->m + 2);
  return inc__images_per_block(t2 * (g->c + oc) * g->th * g->tw, inc__wino_block_floats, g->n);
}

inc_status inc__wino_plan_fwd(struct inc__plan *p, struct inc__step *st, int64_t oc, int m,
                              int *blocks)
{
  const inc__wino g = image(inc__pv(p, st->x), m); /* read first: adding values moves them */
  const int64_t t2 = (m + 2) * (m + 2), hw = g.h * g.w;
  const int64_t nb = p->training ? g.n : block_images(&g, oc), tiles = nb * g.th * g.tw;
  if ((st->aux[W_V] = inc__plan_scratch(p, t2 * g.c * tiles)) < 0 || /* V (T*T, C, P) */
      (st->aux[W_M] = inc__plan_scratch(p, t2 * oc * tiles)) < 0)    /* M (T*T, OC, P) */
    return INC_ERR_OUT_OF_MEMORY;
  /* blocks: the staging of a channel-major x's block (C, B, H, W), then
   * of y's (OC, B, H, W) (y's layout is decided after this) */
  *blocks = nb < g.n;
  if (*blocks && (st->aux[W_S] = inc__plan_scratch(p, ((g.cnhw ? g.c : 0) + oc) * nb * hw)) < 0)
    return INC_ERR_OUT_OF_MEMORY;
  /* U (T*T, OC, C): a training forward's, kept for backward; an inference
   * step's is the layer's cache */
  if (p->training && (st->aux[W_U] = inc__plan_scratch(p, t2 * oc * g.c)) < 0)
    return INC_ERR_OUT_OF_MEMORY;
  return INC_OK;
}

/* Forward with U made: input transform, T*T products in one call and
 * output transform, over blocks of B images (B from V's size as planned:
 * the whole batch but in a blocked inference step). A blocked step's
 * channel-major x block is sliced into the staging first, and its
 * channel-major y block written there and sliced into place; otherwise
 * the ops read and write the images in place. */
static inc_status run_tiles(const struct inc__plan *p, const struct inc__step *st,
                            const float *u, const float *b, int64_t oc, int m)
{
  inc_context *ctx = p->ctx;
  const inc_tensor *x = inc__pv(p, st->x), *y = inc__pv(p, st->y), *vt = inc__pv(p, st->aux[W_V]);
  const inc__wino g = image(x, m);
  const int64_t t2 = (m + 2) * (m + 2), per = g.th * g.tw, hw = g.h * g.w, c = g.c, n = g.n;
  const int64_t nb = vt->numel / (t2 * c * per);
  const int staged = nb < n; /* else one block: the whole batch */
  float *v = vt->data, *mm = inc__pv(p, st->aux[W_M])->data; /* (T*T, C, P), (T*T, OC, P) */
  float *xs = staged ? inc__pv(p, st->aux[W_S])->data : NULL;
  float *ys = staged ? xs + (x->cnhw ? c * nb * hw : 0) : NULL;
  inc_status s = INC_OK;
  for (int64_t n0 = 0; s == INC_OK && n0 < n; n0 += nb) {
    const int64_t k = n - n0 < nb ? n - n0 : nb, tiles = k * per;
    const inc__wino gx = inc__wino_of(k, c, g.h, g.w, m, x->cnhw);
    const inc__wino gy = inc__wino_of(k, oc, g.h, g.w, m, y->cnhw);
    const float *xb = x->data + n0 * c * hw; /* (N, C, H, W), or n0 == 0 */
    if (staged && x->cnhw) { /* (C, N*H*W)[:, n0*H*W ...] into (C, B*H*W) */
      s = ctx->ops->slice(x->data, xs, 0, c, k * hw, n * hw, n0 * hw, 1, ctx);
      xb = xs;
    }
    if (s == INC_OK) s = ctx->ops->wino_in(v, xb, &gx, ctx);
    if (s == INC_OK) { /* M_k = U_k V_k, k < T*T, in one call */
      INC__PROF_ROLE(ctx, INC__ROLE_FWD);
      s = ctx->ops->gemm_batched(mm, u, v, 0, 0, oc, tiles, c, t2, oc * tiles, oc * c, c * tiles,
                                 1.0f, 0.0f, ctx);
    }
    const int via = staged && y->cnhw; /* (OC, B*H*W) in the staging, then into y */
    if (s == INC_OK)
      s = ctx->ops->wino_out(via ? ys : y->data + n0 * oc * hw, mm, b, &gy, st->relu, ctx);
    if (s == INC_OK && via) s = ctx->ops->slice(y->data, ys, 1, oc, k * hw, n * hw, n0 * hw, 1, ctx);
  }
  return s;
}

inc_status inc__wino_run_fwd(const struct inc__plan *p, const struct inc__step *st,
                             const float *w, const float *b, int64_t oc, int m,
                             inc__conv_cache *cache)
{
  inc_context *ctx = p->ctx;
  const int64_t t2 = (m + 2) * (m + 2), c = inc__pv(p, st->x)->dims[1];
  float *u = NULL; /* (T*T, OC, C) */
  int fresh = 0;
  inc_status s = INC_OK;
  if (!cache) {
    u = inc__pv(p, st->aux[W_U])->data;
  } else {
    const int64_t key[4] = {m, 0, 0, 0};
    s = inc__conv_cache_get(ctx, cache, key, (size_t)(t2 * oc * c), &u, &fresh);
  }
  if (s == INC_OK && !fresh && (s = ctx->ops->wino_w(u, w, oc, c, m, ctx)) == INC_OK && cache)
    inc__conv_cache_made(ctx, cache);
  return s != INC_OK ? s : run_tiles(p, st, u, b, oc, m);
}

inc_status inc__wino_plan_bwd(struct inc__plan *p, struct inc__step *st, int64_t oc, int m)
{
  const inc__step *f = &p->fwd[st->fwd];
  const inc__wino g = image(inc__pv(p, f->x), m);
  const int64_t t2 = (m + 2) * (m + 2), tiles = inc__wino_tiles(&g);
  st->aux[WB_V] = f->aux[W_V]; /* kept from forward; dV is written over it */
  st->aux[WB_U] = f->aux[W_U];
  if ((st->dx = inc__plan_like(p, f->x)) < 0 ||
      (st->aux[WB_DM] = inc__plan_scratch(p, t2 * oc * tiles)) < 0 || /* dM (T*T, OC, P) */
      (st->aux[WB_DU] = inc__plan_scratch(p, t2 * oc * g.c)) < 0)     /* dU (T*T, OC, C) */
    return INC_ERR_OUT_OF_MEMORY;
  return INC_OK;
}

inc_status inc__wino_run_bwd(const struct inc__plan *p, const struct inc__step *st, float *dw,
                             float *db, int64_t oc, int m)
{
  inc_context *ctx = p->ctx;
  const inc_tensor *x = inc__plan_input(p, st), *dy = inc__pv(p, st->dy);
  const inc__wino gx = image(x, m), gy = image(dy, m);
  const int64_t t2 = (m + 2) * (m + 2), tiles = inc__wino_tiles(&gx), c = gx.c;
  const int64_t n = gy.n, hw = gy.h * gy.w;
  float *v = inc__pv(p, st->aux[WB_V])->data;   /* V (T*T, C, P), then dV */
  float *dm = inc__pv(p, st->aux[WB_DM])->data; /* (T*T, OC, P) */
  const float *u = inc__pv(p, st->aux[WB_U])->data;
  float *du = inc__pv(p, st->aux[WB_DU])->data; /* (T*T, OC, C) */
  inc_status s = INC_OK;
  if (db) /* the sum of dy over (n, p), in either layout */
    s = inc__as_nchw(dy) ? ctx->ops->bias_grad(db, dy->data, n, oc, hw, ctx)
                         : ctx->ops->bias_grad(db, dy->data, 1, oc, n * hw, ctx);
  if (s == INC_OK) s = ctx->ops->wino_dout(dm, dy->data, &gy, ctx);
  if (s == INC_OK) { /* dU_k = dM_k V_k^T */
    INC__PROF_ROLE(ctx, INC__ROLE_WGRAD);
    s = ctx->ops->gemm_batched(du, dm, v, 0, 1, oc, c, tiles, t2, oc * c, oc * tiles, c * tiles,
                               1.0f, 0.0f, ctx);
  }
  if (s == INC_OK) s = ctx->ops->wino_dw(dw, du, oc, c, m, ctx);
  if (s != INC_OK || !inc__plan_dx_wanted(p, st)) return s;
  INC__PROF_ROLE(ctx, INC__ROLE_DGRAD); /* dV_k = U_k^T dM_k, over V_k */
  s = ctx->ops->gemm_batched(v, u, dm, 1, 0, c, tiles, oc, t2, c * tiles, oc * c, oc * tiles, 1.0f,
                             0.0f, ctx);
  return s != INC_OK ? s : ctx->ops->wino_din(inc__pv(p, st->dx)->data, v, &gx, ctx);
}
