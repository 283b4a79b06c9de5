/*
 * conv2d_unroll.c — conv2d's third algorithm: the convolution of a small
 * map as one dense layer over whole maps. Every output pixel of every
 * filter is a dot product with the whole input image, so with wu
 * (OC*OH*OW, C*H*W) the weight unrolled over the window (unroll_w: each
 * tap where it meets the image, zeros elsewhere)
 *   y (N, OC*OH*OW) = x (N, C*H*W) wu^T        one GEMM, y (N, OC, OH, OW)
 * plus the bias and the fused ReLU in place. That is OH*OW*H*W
 * multiply-adds per filter and image against the direct convolution's
 * OH*OW*KH*KW: fewer when the map is smaller than the kernel, and no col
 * matrix. On GoogLeNet's small maps (28x28 input: 3x3 convolutions on 2x2
 * maps, where Winograd's F(2x2) has as many products plus its transforms;
 * 5x5 ones on 4x4 and 2x2 maps; at 96x96 the 5x5 ones on 3x3 maps) it
 * replaces Winograd and im2col alike. Backward is the exact gradient:
 *   db = the sums of dy, dwu = dy^T x, dw = unroll_dw(dwu) (each tap's
 *   entries summed), dx (N, C*H*W) = dy wu.
 * The input is read (N, C, H, W) (a channel-major one is swapped into a
 * scratch first, which a training plan keeps for backward, as it keeps
 * wu); the output is always written (N, C, H, W). Inference keeps wu in
 * the layer's cache while the weights stay.
 *
 * The choice (inc__conv_unrolls): INCEPTION_CONV_ALGO=unrolled takes it
 * wherever it may run, auto (unset: the CPU only, as for Winograd) where
 * it has fewer multiply-adds than the direct convolution over the taps
 * that meet the image and no more than the Winograd tile size auto picks
 * (a tie with Winograd goes to it: no transforms). A tie with the direct
 * convolution does not: the same products, and wu is OH*OW times the
 * weight to write and read (at 96x96 the 3x3 convolutions on 3x3 maps
 * were 1.5x slower unrolled, 24 MB of wu for the largest).
 */
#include "../plan.h"

/* Step values: forward (slots 2 and 3 stay conv2d's folded weight and
 * bias), backward. */
enum { U_WU = 0, U_XS = 1 };
enum { UB_WU = 0, UB_XS = 1, UB_DWU = 2, UB_DXS = 3, UB_DYS = 4 };

/* The largest unrolled weight taken, in floats (64 MiB). */
#define UNROLL_MAX_FLOATS ((int64_t)1 << 24)

/* ---- the choice --------------------------------------------------------- */

int inc__conv_unrolls(const inc__window *g, int64_t oc, int64_t used_taps, int wino_m, int mode)
{
  const int64_t hw = g->h * g->w, ohw = g->oh * g->ow;
  /* in double: the product overflows int64 on large maps */
  if (mode == INC__UNROLL_NEVER ||
      (double)oc * (double)ohw * (double)g->c * (double)hw > (double)UNROLL_MAX_FLOATS)
    return 0;
  if (mode == INC__UNROLL_ALWAYS) return 1;
  const int64_t macs = ohw * hw; /* per filter and image */
  if (macs >= ohw * used_taps) return 0; /* the direct convolution's: its GEMM is as large */
  if (!wino_m) return 1;
  const int64_t t = wino_m + 2;
  return macs <= t * t * ((g->h + wino_m - 1) / wino_m) * ((g->w + wino_m - 1) / wino_m);
}

/* ---- planning and running ------------------------------------------------ */

/* The window of step st's input x (forward or backward). */
static inc_status window(const inc__plan *p, const inc__step *st, const inc_tensor *x,
                         inc__window *g)
{
  inc__window_geom q;
  inc__shape in;
  inc__conv2d_geometry(st->layer, &q);
  inc__shape_of(x, &in);
  return inc__window_of(st->layer, &in, &q, "kernel", g);
}

inc_status inc__unroll_plan_fwd(inc__plan *p, inc__step *st, int64_t oc)
{
  const inc_tensor *x = inc__pv(p, st->x), *y = inc__pv(p, st->y); /* read first */
  const int64_t n = x->dims[0], chw = x->numel / n, ohw = inc__plane(y);
  const int x_nchw = inc__as_nchw(x);
  /* wu (OC*OH*OW, C*H*W): a training forward's, kept for backward; an
   * inference step's is the layer's cache */
  if (p->training && (st->aux[U_WU] = inc__plan_scratch(p, oc * ohw * chw)) < 0)
    return INC_ERR_OUT_OF_MEMORY;
  if (!x_nchw && (st->aux[U_XS] = inc__plan_scratch(p, n * chw)) < 0) /* x (N, C, H, W) */
    return INC_ERR_OUT_OF_MEMORY;
  inc__pv(p, st->y)->cnhw = 0;
  return INC_OK;
}

inc_status inc__unroll_run_fwd(const inc__plan *p, const inc__step *st, const float *w,
                               const float *b, int64_t oc, inc__conv_cache *cache)
{
  inc_context *ctx = p->ctx;
  const inc_tensor *x = inc__pv(p, st->x);
  inc_tensor *y = inc__pv(p, st->y); /* (N, OC, OH, OW) */
  inc__window g;
  inc_status s = window(p, st, x, &g);
  if (s != INC_OK) return s;
  const int64_t chw = g.c * g.h * g.w, ohw = g.oh * g.ow;
  float *wu = NULL; /* (OC*OH*OW, C*H*W) */
  int fresh = 0;
  if (!cache) {
    wu = inc__pv(p, st->aux[U_WU])->data;
  } else {
    const int64_t key[4] = {-1, g.h, g.w, 0};
    if ((s = inc__conv_cache_get(ctx, cache, key, (size_t)(oc * ohw * chw), &wu, &fresh)) !=
        INC_OK)
      return s;
  }
  if (!fresh && (s = ctx->ops->unroll_w(wu, w, &g, oc, ctx)) != INC_OK) return s;
  if (cache && !fresh) inc__conv_cache_made(ctx, cache);
  const float *xs = x->data; /* (N, C, H, W) */
  if (st->aux[U_XS] >= 0) {
    float *buf = inc__pv(p, st->aux[U_XS])->data;
    if ((s = ctx->ops->swap01(buf, x->data, g.c, g.n, g.h * g.w, ctx)) != INC_OK) return s;
    xs = buf;
  }
  INC__PROF_ROLE(ctx, INC__ROLE_FWD);
  s = ctx->ops->gemm(y->data, xs, wu, 0, 1, g.n, oc * ohw, chw, 1.0f, 0.0f, ctx);
  if (s == INC_OK && b) s = ctx->ops->bias_add(y->data, b, g.n, oc, ohw, ctx);
  if (s == INC_OK && st->relu) s = ctx->ops->relu_fwd(y->data, y->data, y->numel, ctx);
  return s;
}

inc_status inc__unroll_plan_bwd(inc__plan *p, inc__step *st, int64_t oc)
{
  const inc__step *f = &p->fwd[st->fwd];
  const inc_tensor *x = inc__pv(p, f->x), *dy = inc__pv(p, st->dy); /* read first */
  const int64_t n = x->dims[0], chw = x->numel / n, ohw = inc__plane(dy);
  const int x_nchw = inc__as_nchw(x), dy_nchw = inc__as_nchw(dy);
  st->aux[UB_WU] = f->aux[U_WU];
  st->aux[UB_XS] = f->aux[U_XS];
  if ((st->dx = inc__plan_like(p, f->x)) < 0 ||
      (st->aux[UB_DWU] = inc__plan_scratch(p, oc * ohw * chw)) < 0) /* dwu (OC*OH*OW, C*H*W) */
    return INC_ERR_OUT_OF_MEMORY;
  if (!x_nchw && (st->aux[UB_DXS] = inc__plan_scratch(p, n * chw)) < 0) /* dx (N, C, H, W) */
    return INC_ERR_OUT_OF_MEMORY;
  if (!dy_nchw && (st->aux[UB_DYS] = inc__plan_scratch(p, n * oc * ohw)) < 0) /* dy (N, OC, ..) */
    return INC_ERR_OUT_OF_MEMORY;
  return INC_OK;
}

inc_status inc__unroll_run_bwd(const inc__plan *p, const inc__step *st, float *dw, float *db,
                               int64_t oc)
{
  inc_context *ctx = p->ctx;
  const inc_tensor *x = inc__plan_input(p, st), *dy = inc__pv(p, st->dy);
  inc__window g;
  inc_status s = window(p, st, x, &g);
  if (s != INC_OK) return s;
  const int64_t chw = g.c * g.h * g.w, ohw = g.oh * g.ow, n = g.n;
  const float *xs = st->aux[UB_XS] >= 0 ? inc__pv(p, st->aux[UB_XS])->data : x->data;
  const float *wu = inc__pv(p, st->aux[UB_WU])->data;
  float *dwu = inc__pv(p, st->aux[UB_DWU])->data;
  const float *dyn = dy->data; /* (N, OC*OH*OW) */
  if (st->aux[UB_DYS] >= 0) {
    float *buf = inc__pv(p, st->aux[UB_DYS])->data;
    if ((s = ctx->ops->swap01(buf, dy->data, oc, n, ohw, ctx)) != INC_OK) return s;
    dyn = buf;
  }
  if (db && (s = ctx->ops->bias_grad(db, dyn, n, oc, ohw, ctx)) != INC_OK) return s;
  INC__PROF_ROLE(ctx, INC__ROLE_WGRAD); /* dwu (OC*OH*OW, C*H*W) = dy^T x */
  if ((s = ctx->ops->gemm(dwu, dyn, xs, 1, 0, oc * ohw, chw, n, 1.0f, 0.0f, ctx)) != INC_OK ||
      (s = ctx->ops->unroll_dw(dw, dwu, &g, oc, ctx)) != INC_OK || !inc__plan_dx_wanted(p, st))
    return s;
  float *dx = inc__pv(p, st->dx)->data, *dxs = dx; /* (N, C, H, W) in the layout of x */
  if (st->aux[UB_DXS] >= 0) dxs = inc__pv(p, st->aux[UB_DXS])->data;
  INC__PROF_ROLE(ctx, INC__ROLE_DGRAD); /* dx (N, C*H*W) = dy wu */
  s = ctx->ops->gemm(dxs, dyn, wu, 0, 0, n, chw, oc * ohw, 1.0f, 0.0f, ctx);
  if (s == INC_OK && dxs != dx) s = ctx->ops->swap01(dx, dxs, n, g.c, g.h * g.w, ctx);
  return s;
}
