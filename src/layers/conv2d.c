/*
 * conv2d.c — 2-D convolution, kernel, stride and padding per axis (square
 * or rectangular: Inception v3's 1x7 and 7x1), with or without a bias;
 * weight (OC, C, KH, KW) as in PyTorch. Binds the input channel count on
 * first use. A convolution without bias (the one before a batch norm)
 * declares its weight only (its own table of declared tensors), passes a
 * NULL bias to the output pass and computes no bias gradient.
 *
 * Forward is im2col over the whole batch and one GEMM (never one GEMM per
 * image): col (C*KH*KW, N*OH*OW), y = weight x col written channel-major
 * (OC, N*OH*OW) (see "Layouts" in layer.h), then one in-place pass adds
 * the bias (and the ReLU fused into the step by the plan). A 1x1 stride-1
 * convolution of a channel-major input skips im2col: the input is already
 * the col matrix. When only convolutions that run im2col read the output,
 * the plan has it written (N, C, H, W), which their im2col reads in one
 * pass: the GEMM result then goes through a scratch and the bias pass puts
 * it in place. Backward is two GEMMs (weight grad, input grad) plus col2im;
 * the output gradient, channel-major like y, is the GEMM operand as it
 * comes. A training plan keeps each col matrix from forward to backward
 * (one im2col pass less per step, for the memory of the col).
 *
 * On small maps some taps of the kernel only ever meet padding (a 3x3 or
 * 5x5 kernel on GoogLeNet's 1x1 maps at 28x28, a 5x5 on its 2x2 maps): the
 * step then convolves with the taps that meet the input only (TRIM), a
 * smaller col and GEMM (at 28x28 ~6% of the network's multiply-adds were
 * products with padding); its weight is cut out by an im2col of a 1x1
 * window (a negative padding starts the window inside the kernel) and the
 * gradient put back by the matching col2im, zeros elsewhere. When the used
 * taps are one that meets each input in place (a 3x3 or 5x5 kernel on a
 * 1x1 map), the step is a 1x1 convolution: a channel-major x is its col,
 * as for a 1x1 kernel (at 28x28, 0.4-1.0 ms -> 0.27-0.43 ms a layer).
 *
 * A 3x3 stride-1 pad-1 convolution may run Winograd's F(2x2, 3x3) or
 * F(4x4, 3x3) instead (src/layers/conv2d_winograd.c), and one on a map
 * smaller than its kernel the unrolled convolution, one GEMM over whole
 * maps (src/layers/conv2d_unroll.c), decided per step when the plan is
 * built (INCEPTION_CONV_ALGO; unset: the auto rules on the CPU, direct on
 * CUDA).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "../plan.h"

typedef struct conv_priv {
  int oc;
  inc__window_geom q;    /* kernel, stride, padding per axis */
  int bias;              /* 1: params[1] is the bias */
  inc__conv_cache cache; /* inference: Winograd's U or the used taps' weight */
} conv_priv;

static void conv_destroy(inc_layer *l)
{
  if (l->priv) inc__conv_cache_free(l->ctx, &((conv_priv *)l->priv)->cache);
}

/* Step decisions (st->flags) and values (st->aux; a Winograd step's own:
 * conv2d_winograd.c). */
enum {
  COL_IS_X = 1, NCHW_OUT = 2, WINO2 = 4, WINO4 = 8, TRIM = 16, BLOCKS = 32, DIRECT = 64,
  UNROLL = 128
};
enum { A_COL = 0, A_TMP = 1, A_WF = 2, A_BF = 3, A_WT = 4 }; /* forward */
enum { B_COL = 0, B_DYT = 1, B_DCOL = 2, B_WT = 3, B_DWT = 4 }; /* backward */

static inc_status conv_window(inc_layer *l, const inc__shape *in, inc__window *g)
{
  return inc__window_of(l, in, &((const conv_priv *)l->priv)->q, "kernel", g);
}

static inc_status conv_infer(inc_layer *l, const inc__shape *in, inc__shape *out, int bind)
{
  const conv_priv *c = (const conv_priv *)l->priv;
  inc__window g;
  inc_status s = conv_window(l, in, &g);
  if (s != INC_OK) return s;
  if (l->bound && g.c != l->bound_in)
    return inc__layer_error(l, INC_ERR_SHAPE, "bound to %lld input channel%s, got %lld",
                            (long long)l->bound_in, l->bound_in == 1 ? "" : "s",
                            (long long)g.c);
  if (bind && !l->bound) {
    s = inc__layer_bind(l, g.c);
    if (s != INC_OK) return s;
  }
  out->ndim = 4;
  out->d[0] = g.n;
  out->d[1] = c->oc;
  out->d[2] = g.oh;
  out->d[3] = g.ow;
  return INC_OK;
}

static int is_pointwise(const conv_priv *c)
{
  const inc__window_geom *q = &c->q;
  return q->k[0] == 1 && q->k[1] == 1 && q->s[0] == 1 && q->s[1] == 1 && q->p[0] == 0 &&
         q->p[1] == 0;
}

/* The kernel's taps per input channel: KH*KW. */
static int64_t taps(const conv_priv *c) { return (int64_t)c->q.k[0] * c->q.k[1]; }

/* The taps along one axis (kernel k, stride st, padding p, input in,
 * output out) that meet the input for some output: [*lo, *hi]. Output o's
 * window meets input rows o*st - p + t in [0, in), so tap t is used when
 * p - o*st <= t < p - o*st + in for some o; the union over o is one run
 * when st <= in (runs of length in, st apart) or out == 1, else the kernel
 * is taken whole. */
static void used_taps(int k, int st, int p, int64_t in, int64_t out, int *lo, int *hi)
{
  int64_t a = p - (out - 1) * st, b = p + in - 1;
  *lo = 0;
  *hi = k - 1;
  if (st > in && out > 1) return;
  if (a > *lo) *lo = (int)a;
  if (b < *hi) *hi = (int)b;
  if (*lo > *hi) *lo = 0, *hi = k - 1; /* no tap meets the input: keep them all */
}

/* Whether window g has taps that meet only padding; if so *t is the
 * window of the used taps (same outputs: a smaller kernel, padding less
 * the taps cut at the start) and *cut the 1x1 window whose im2col takes
 * those taps out of a (1, OC*C, KH, KW) weight: (OC*C, KH'*KW'). */
static int trim_window(const inc__window *g, int64_t oc, inc__window *t, inc__window *cut)
{
  int lh, hh, lw, hw;
  used_taps(g->kh, g->sh, g->ph, g->h, g->oh, &lh, &hh);
  used_taps(g->kw, g->sw, g->pw, g->w, g->ow, &lw, &hw);
  if (hh - lh + 1 == g->kh && hw - lw + 1 == g->kw) return 0;
  *t = *g;
  t->kh = hh - lh + 1;
  t->kw = hw - lw + 1;
  t->ph = g->ph - lh;
  t->pw = g->pw - lw;
  *cut = (inc__window){.n = 1, .c = oc * g->c, .h = g->kh, .w = g->kw, .oh = t->kh,
                       .ow = t->kw, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .ph = -lh, .pw = -lw};
  return 1;
}

/* Whether the used taps of window g (TRIM's) are a pointwise window: one
 * tap that meets every input once, in place (a 3x3 or 5x5 kernel on a 1x1
 * map). The step then runs as a 1x1 convolution of a channel-major input,
 * x its col. */
static int trims_to_pointwise(const inc__window *g, int64_t oc)
{
  inc__window t, cut;
  return trim_window(g, oc, &t, &cut) && t.kh == 1 && t.kw == 1 && t.ph == 0 && t.pw == 0 &&
         t.oh == t.h && t.ow == t.w && (t.sh == 1 || t.h == 1) && (t.sw == 1 || t.w == 1);
}

/* A convolution step that reads its input through im2col or unrolled
 * (any kernel but a 1x1 stride-1 unpadded one, or one whose used taps are:
 * see trims_to_pointwise): it prefers an (N, C, H, W) input. */
static int runs_im2col(const inc__plan *p, const inc__step *st)
{
  if (st->layer->vt != &inc__conv2d_vt) return 0;
  const conv_priv *c = (const conv_priv *)st->layer->priv;
  inc__shape in;
  inc__window g;
  if (is_pointwise(c)) return 0;
  inc__shape_of(inc__pv(p, st->x), &in);
  return conv_window(st->layer, &in, &g) != INC_OK || !trims_to_pointwise(&g, c->oc);
}

int inc__conv2d_geometry(const inc_layer *l, inc__window_geom *q)
{
  if (l->vt != &inc__conv2d_vt) return 0;
  *q = ((const conv_priv *)l->priv)->q;
  return 1;
}

/* im2col (to_col) or col2im of x / dx (N, C, H, W) in the layout of x:
 * one call when its bytes read as (N, C, H, W), else (channel-major) one
 * call per channel, whose (N, 1, H, W) block gives col rows c*KH*KW.. */
static inc_status col_pass(inc_context *ctx, int to_col, float *col, float *img,
                           const inc_tensor *x, const inc__window *g)
{
  if (inc__as_nchw(x))
    return to_col ? ctx->ops->im2col(col, img, g, ctx) : ctx->ops->col2im(img, col, g, ctx);
  inc__window g1 = *g;
  g1.c = 1;
  const int64_t rows = (int64_t)g->kh * g->kw * g->n * g->oh * g->ow, plane = g->n * g->h * g->w;
  for (int64_t ci = 0; ci < g->c; ci++) {
    inc_status s = to_col ? ctx->ops->im2col(col + ci * rows, img + ci * plane, &g1, ctx)
                          : ctx->ops->col2im(img + ci * plane, col + ci * rows, &g1, ctx);
    if (s != INC_OK) return s;
  }
  return INC_OK;
}

/* The window of step st's input (forward or backward). */
static inc_status step_window(const inc__plan *p, const inc__step *st, const inc_tensor **x,
                              inc__window *g)
{
  inc__shape in;
  *x = inc__plan_input(p, st);
  inc__shape_of(*x, &in);
  return conv_window(st->layer, &in, g);
}

/* im2col of x into col (C*KH*KW, N*OH*OW); a 1x1 convolution's is a swap
 * of the leading axes. */
static inc_status make_col(inc_context *ctx, const conv_priv *c, float *col, const inc_tensor *x,
                           const inc__window *g)
{
  INC__PROF_ROLE(ctx, INC__ROLE_COL);
  if (is_pointwise(c)) return ctx->ops->swap01(col, x->data, g->n, g->c, g->h * g->w, ctx);
  return col_pass(ctx, 1, col, (float *)x->data, x, g);
}

/* The Winograd tile size step st runs with (0: direct). */
static int wino_m(const inc__step *st)
{
  return st->flags & WINO2 ? 2 : st->flags & WINO4 ? 4 : 0;
}

int inc__conv2d_step_blocked(const inc__step *st)
{
  return st->layer && st->layer->vt == &inc__conv2d_vt && (st->flags & BLOCKS) != 0;
}

int inc__conv2d_step_direct(const inc__step *st)
{
  return st->layer && st->layer->vt == &inc__conv2d_vt && (st->flags & DIRECT) != 0;
}

int inc__conv2d_step_algo(const inc__step *st)
{
  return st->layer && st->layer->vt == &inc__conv2d_vt ? wino_m(st) : 0;
}

int inc__conv2d_step_unrolled(const inc__step *st)
{
  return st->layer && st->layer->vt == &inc__conv2d_vt && (st->flags & UNROLL) != 0;
}

/* Whether the step over window g runs unrolled (conv2d_unroll.c), given
 * the Winograd tile size m it would run: never for a pointwise window or
 * one whose used taps are (they read a channel-major x as their col). */
static int unrolls(const inc_layer *l, const conv_priv *c, const inc__window *g, int m)
{
  inc__window t, cut;
  if (is_pointwise(c) || trims_to_pointwise(g, c->oc)) return 0;
  const int64_t used = trim_window(g, c->oc, &t, &cut) ? (int64_t)t.kh * t.kw : taps(c);
  return inc__conv_unrolls(g, c->oc, used, m, inc__conv_unroll_mode(l));
}

/* An inference step on the CPU over an (N, C, H, W) input of at most
 * DIRECT_C channels (a network's stem) whose col would take blocks
 * (inc__conv_block_images, src/layers/conv2d_infer.c) runs the direct
 * convolution (conv_direct), without a col: at 96x96 the
 * 7x7 stem went from 13.7 ms in blocks to ~9.2 ms; at 28x28 (a 4.9 MB col)
 * im2col and one GEMM stay faster (1.0 against 1.05-1.08 ms). */
#define DIRECT_C 4

/* So does one of DIRECT_C2 to DIRECT_C3 channels with stride 1 on a map at
 * most 16 wide, up to 64 filters (128 on maps up to 8 wide), every tap
 * meeting the input somewhere (else TRIM's smaller GEMM), on a CPU with
 * AVX-512: the CPU's conv_direct then holds 32 output channels in its
 * vectors, where im2col's GEMM of so few rows (OC) runs slowly (the 5x5
 * convolutions at 96x96, measured one by one: docs/performance.md, "The
 * direct convolution on small maps"). */
#define DIRECT_C2 8
#define DIRECT_C3 32

static int takes_direct(const inc__plan *p, const conv_priv *c, const inc__window *g)
{
  inc__window t, cut;
  if (p->training || p->ctx->backend != INC_BACKEND_CPU || is_pointwise(c)) return 0;
  if (g->c <= DIRECT_C)
    return inc__conv_block_images(g->c * taps(c), c->oc, g->oh * g->ow, g->n) < g->n;
  return g->c >= DIRECT_C2 && g->c <= DIRECT_C3 && c->oc <= (g->ow <= 8 ? 128 : 64) &&
         g->sh == 1 && g->sw == 1 && g->ow <= 16 && !trim_window(g, c->oc, &t, &cut) &&
         inc__cpu_avx512();
}

static inc_status conv_plan_fwd(inc__plan *p, inc__step *st)
{
  const conv_priv *c = (const conv_priv *)st->layer->priv;
  const inc_tensor *x = inc__pv(p, st->x), *y = inc__pv(p, st->y); /* y (N, OC, OH, OW) */
  int64_t n = x->dims[0], np = n * y->dims[2] * y->dims[3], kdim = x->dims[1] * taps(c);
  const int x_cnhw = inc__as_cnhw(x), x_nchw = inc__as_nchw(x);
  inc__shape in;
  int m;
  inc__shape_of(x, &in);
  inc_status s = inc__conv_algo(st->layer, &c->q, &in, c->oc, &m);
  if (s != INC_OK) return s;
  inc__window gx;
  if ((s = conv_window(st->layer, &in, &gx)) != INC_OK) return s;
  if (unrolls(st->layer, c, &gx, m)) {
    m = 0;
    st->flags |= UNROLL;
  }
  /* x and y are not read below: adding values moves them */
  if (st->flags & UNROLL) {
    if ((s = inc__unroll_plan_fwd(p, st, c->oc)) != INC_OK) return s;
  } else if (m) {
    int blocks = 0;
    st->flags |= m == 2 ? WINO2 : WINO4;
    if ((s = inc__wino_plan_fwd(p, st, c->oc, m, &blocks)) != INC_OK) return s;
    if (blocks) st->flags |= BLOCKS;
  } else if (is_pointwise(c) && x_cnhw) {
    st->flags |= COL_IS_X;
  } else if (x_nchw && takes_direct(p, c, &gx)) {
    st->flags |= DIRECT;
  } else {
    inc__window g, t, cut;
    int64_t kcol = kdim; /* col rows: C*KH*KW, or C*KH'*KW' for the used taps */
    if ((s = conv_window(st->layer, &in, &g)) != INC_OK) return s;
    if (trim_window(&g, c->oc, &t, &cut)) {
      st->flags |= TRIM;
      kcol = in.d[1] * t.kh * t.kw;
      if (p->training && (st->aux[A_WT] = inc__plan_scratch(p, c->oc * kcol)) < 0)
        return INC_ERR_OUT_OF_MEMORY; /* (OC, C*KH'*KW'); inference: the layer's cache */
      if (trims_to_pointwise(&g, c->oc) && x_cnhw) st->flags |= COL_IS_X;
    }
    int64_t cols = np; /* col columns: N*OH*OW, or those of a block of images */
    const int64_t nb = p->training || (st->flags & COL_IS_X) || !x_nchw
                           ? n
                           : inc__conv_block_images(kcol, c->oc, np / n, n);
    if (nb < n) { /* inference in blocks of images (src/layers/conv2d_infer.c) */
      st->flags |= BLOCKS;
      cols = nb * (np / n);
      if ((st->aux[A_TMP] = inc__plan_scratch(p, c->oc * cols)) < 0) /* (OC, B*OH*OW) */
        return INC_ERR_OUT_OF_MEMORY;
    }
    if (!(st->flags & COL_IS_X) && (st->aux[A_COL] = inc__plan_scratch(p, kcol * cols)) < 0)
      return INC_ERR_OUT_OF_MEMORY; /* col (C*KH*KW, N*OH*OW or B*OH*OW) */
  }
  if (n > 1 && c->oc > 1 && !(st->flags & UNROLL) &&
      inc__plan_readers_all(p, st->y, runs_im2col)) {
    st->flags |= NCHW_OUT; /* Winograd's output pass writes either layout */
    if (!m && !(st->flags & (BLOCKS | DIRECT)) &&
        (st->aux[A_TMP] = inc__plan_scratch(p, c->oc * np)) < 0) /* (OC, N*OH*OW) */
      return INC_ERR_OUT_OF_MEMORY;
  }
  if (st->fold >= 0 && ((st->aux[A_WF] = inc__plan_scratch(p, c->oc * kdim)) < 0 ||
                        (st->aux[A_BF] = inc__plan_scratch(p, c->oc)) < 0))
    return INC_ERR_OUT_OF_MEMORY; /* a folded batch norm: weight (OC, C*K*K), bias (OC) */
  /* y moved with the values added; the unrolled one is (N, OC, OH, OW) */
  inc__pv(p, st->y)->cnhw = !(st->flags & (NCHW_OUT | UNROLL));
  return INC_OK;
}

/* y (N, OC, OH, OW) = weight x col + bias (+ ReLU): written channel-major
 * (OC, N*OH*OW) straight from the GEMM and finished in place, or, for an
 * (N, C, H, W) output, moved into place by the bias pass. Without a bias
 * the pass gets NULL, and in place it is skipped when no ReLU is fused
 * either (it would change nothing but a -0 into +0). Inference steps may
 * instead run Winograd with the layer's cached U, the direct convolution
 * (DIRECT) or blocks of images (BLOCKS), and take the used taps' weight
 * from the layer's cache. */
static inc_status conv_run_fwd(const inc__plan *p, const inc__step *st)
{
  inc_context *ctx = p->ctx;
  inc_layer *l = st->layer;
  const conv_priv *c = (const conv_priv *)l->priv;
  const inc_tensor *x;
  inc__window g;
  inc_status s = step_window(p, st, &x, &g);
  if (s != INC_OK) return s;
  float *y = inc__pv(p, st->y)->data;
  const float *w = l->params[0].value->data, *b = c->bias ? l->params[1].value->data : NULL;
  int64_t kdim = g.c * taps(c), hw = g.oh * g.ow, np = g.n * hw;
  if (st->fold >= 0) { /* the batch norm after it, folded into weight and bias */
    float *wf = inc__pv(p, st->aux[A_WF])->data, *bf = inc__pv(p, st->aux[A_BF])->data;
    if ((s = inc__batch_norm2d_fold(p->fwd[st->fold].layer, wf, bf, w, b, c->oc, kdim)) != INC_OK)
      return s;
    w = wf;
    b = bf;
  }
  inc__conv_cache *cache = p->training ? NULL : &((conv_priv *)l->priv)->cache;
  if (wino_m(st)) return inc__wino_run_fwd(p, st, w, b, c->oc, wino_m(st), cache);
  if (st->flags & UNROLL) return inc__unroll_run_fwd(p, st, w, b, c->oc, cache);
  if (st->flags & TRIM) { /* the used taps: weight (OC, C*KH'*KW'), window gt */
    inc__window gt, cut;
    trim_window(&g, c->oc, &gt, &cut);
    const int64_t key[4] = {0, cut.ph, cut.pw, cut.oh * 1024 + cut.ow};
    int fresh = 0;
    float *wt = NULL;
    if (!cache)
      wt = inc__pv(p, st->aux[A_WT])->data;
    else if ((s = inc__conv_cache_get(ctx, cache, key, (size_t)(cut.c * cut.oh * cut.ow), &wt,
                                      &fresh)) != INC_OK)
      return s;
    INC__PROF_ROLE(ctx, INC__ROLE_COL);
    if (!fresh && (s = ctx->ops->im2col(wt, w, &cut, ctx)) != INC_OK) return s;
    if (cache && !fresh) inc__conv_cache_made(ctx, cache);
    w = wt;
    g = gt;
    kdim = g.c * g.kh * g.kw;
  }
  if (st->flags & DIRECT)
    return ctx->ops->conv_direct(y, x->data, w, b, &g, c->oc, st->relu, !(st->flags & NCHW_OUT),
                                 ctx);
  if (st->flags & BLOCKS) {
    const inc_tensor *t = inc__pv(p, st->aux[A_TMP]); /* (OC, B*OH*OW): B as planned */
    return inc__conv_blocks_fwd(ctx, y, st->flags & NCHW_OUT, x->data, &g, w, b, c->oc, kdim,
                                st->relu, inc__pv(p, st->aux[A_COL])->data, t->data,
                                t->numel / (c->oc * g.oh * g.ow));
  }
  const float *col = x->data; /* (C*KH*KW, N*OH*OW) */
  if (!(st->flags & COL_IS_X)) {
    float *buf = inc__pv(p, st->aux[A_COL])->data;
    if ((s = make_col(ctx, c, buf, x, &g)) != INC_OK) return s;
    col = buf;
  }
  if (st->flags & NCHW_OUT) {
    float *tmp = inc__pv(p, st->aux[A_TMP])->data;
    s = ctx->ops->gemm(tmp, w, col, 0, 0, c->oc, np, kdim, 1.0f, 0.0f, ctx);
    if (s == INC_OK) s = ctx->ops->conv_out(y, tmp, b, g.n, c->oc, hw, st->relu, ctx);
    return s;
  }
  s = ctx->ops->gemm(y, w, col, 0, 0, c->oc, np, kdim, 1.0f, 0.0f, ctx);
  if (s == INC_OK && (b || st->relu)) s = ctx->ops->conv_out(y, y, b, 1, c->oc, np, st->relu, ctx);
  return s;
}

/* Backward reads the forward's col (kept), or x as its col (1x1 of a
 * channel-major input). Its input gradient goes where the container's
 * sink says when the GEMM can write it there: a 1x1 convolution of a
 * channel-major input, whose dcol is dx, writes (or adds) it in place. */
static inc_status conv_plan_bwd(inc__plan *p, inc__step *st, const inc__sink *sink)
{
  const conv_priv *c = (const conv_priv *)st->layer->priv;
  const inc__step *f = &p->fwd[st->fwd];
  if (wino_m(f)) return inc__wino_plan_bwd(p, st, c->oc, wino_m(f));
  if (f->flags & UNROLL) return inc__unroll_plan_bwd(p, st, c->oc);
  const inc_tensor *x = inc__pv(p, f->x), *dy = inc__pv(p, st->dy);
  int64_t np = dy->dims[0] * inc__plane(dy), kdim = x->dims[1] * taps(c);
  const int dy_cnhw = inc__as_cnhw(dy);
  inc__shape in;
  inc__shape_of(x, &in);
  /* x and dy are not read below: adding values moves them */
  if (f->flags & TRIM) { /* the forward's used taps: its weight, kept */
    inc__window g, t, cut;
    inc_status s = conv_window(st->layer, &in, &g);
    if (s != INC_OK) return s;
    trim_window(&g, c->oc, &t, &cut);
    kdim = in.d[1] * t.kh * t.kw;
    st->aux[B_WT] = f->aux[A_WT];
    if ((st->aux[B_DWT] = inc__plan_scratch(p, c->oc * kdim)) < 0) /* (OC, C*KH'*KW') */
      return INC_ERR_OUT_OF_MEMORY;
  }
  if (!dy_cnhw && (st->aux[B_DYT] = inc__plan_scratch(p, c->oc * np)) < 0)
    return INC_ERR_OUT_OF_MEMORY; /* dy as (OC, N*OH*OW) */
  st->aux[B_COL] = f->flags & COL_IS_X ? f->x : f->aux[A_COL];
  if (f->flags & COL_IS_X && sink->val >= 0) {
    st->dx = sink->val;
    st->accum = sink->accum;
    return INC_OK;
  }
  if ((st->dx = inc__plan_like(p, f->x)) < 0) return INC_ERR_OUT_OF_MEMORY;
  if (!(f->flags & COL_IS_X) && (st->aux[B_DCOL] = inc__plan_scratch(p, kdim * np)) < 0)
    return INC_ERR_OUT_OF_MEMORY; /* dcol (C*KH*KW, N*OH*OW) */
  return INC_OK;
}

static inc_status conv_run_bwd(const inc__plan *p, const inc__step *st)
{
  inc_context *ctx = p->ctx;
  inc_layer *l = st->layer;
  const conv_priv *c = (const conv_priv *)l->priv;
  const inc__step *f = &p->fwd[st->fwd];
  inc__param *w = &l->params[0];
  float *db = c->bias ? l->params[1].grad->data : NULL;
  if (wino_m(f)) return inc__wino_run_bwd(p, st, w->grad->data, db, c->oc, wino_m(f));
  if (f->flags & UNROLL) return inc__unroll_run_bwd(p, st, w->grad->data, db, c->oc);
  const inc_tensor *x, *dy = inc__pv(p, st->dy);
  inc__window g;
  inc_status s = step_window(p, st, &x, &g);
  if (s != INC_OK) return s;
  int64_t kdim = g.c * taps(c), hw = g.oh * g.ow, np = g.n * hw;
  const float *dyt = dy->data; /* (OC, N*P): dy in the layout of y, channel-major already */
  if (st->aux[B_DYT] >= 0) {
    float *buf = inc__pv(p, st->aux[B_DYT])->data;
    if ((s = ctx->ops->swap01(buf, dy->data, g.n, c->oc, hw, ctx)) != INC_OK) return s;
    dyt = buf;
  }
  /* db: the row sums of dyt, in the order of (n, p) */
  if (db && (s = ctx->ops->bias_grad(db, dyt, 1, c->oc, np, ctx)) != INC_OK) return s;
  const float *col = inc__pv(p, st->aux[B_COL])->data;
  const float *wv = w->value->data;
  float *dw = w->grad->data;
  inc__window cut;
  if (f->flags & TRIM) { /* the used taps: their weight and gradient, window g */
    inc__window gt;
    trim_window(&g, c->oc, &gt, &cut);
    g = gt;
    kdim = g.c * g.kh * g.kw;
    wv = inc__pv(p, st->aux[B_WT])->data;
    dw = inc__pv(p, st->aux[B_DWT])->data;
  }
  /* dW (OC, C*KH*KW) = dyt (OC, N*P) x col^T */
  INC__PROF_ROLE(ctx, INC__ROLE_WGRAD);
  s = ctx->ops->gemm(dw, dyt, col, 0, 1, c->oc, kdim, np, 1.0f, 0.0f, ctx);
  if (s == INC_OK && f->flags & TRIM) { /* back in place, the other taps 0 */
    INC__PROF_ROLE(ctx, INC__ROLE_UNCOL);
    s = ctx->ops->col2im(w->grad->data, dw, &cut, ctx);
  }
  if (s != INC_OK || !inc__plan_dx_wanted(p, st)) return s;
  float *dx = inc__pv(p, st->dx)->data; /* (N, C, H, W) in the layout of x */
  INC__PROF_ROLE(ctx, INC__ROLE_DGRAD);
  if (f->flags & COL_IS_X) /* dcol is dx */
    return ctx->ops->gemm(dx, wv, dyt, 1, 0, kdim, np, c->oc, 1.0f, st->accum ? 1.0f : 0.0f, ctx);
  float *dcol = inc__pv(p, st->aux[B_DCOL])->data; /* (C*KH*KW, N*P) = W^T x dyt */
  s = ctx->ops->gemm(dcol, wv, dyt, 1, 0, kdim, np, c->oc, 1.0f, 0.0f, ctx);
  if (s != INC_OK) return s;
  INC__PROF_ROLE(ctx, INC__ROLE_UNCOL);
  if (is_pointwise(c)) return ctx->ops->swap01(dx, dcol, g.c, g.n, hw, ctx);
  return col_pass(ctx, 0, dcol, dx, x, &g);
}

/* "64 filters 3x3 s1 p1", "64 filters 1x7 s1 p0x3 no bias" */
static void conv_describe(const inc_layer *l, char *buf, size_t cap)
{
  const conv_priv *c = (const conv_priv *)l->priv;
  char gs[64];
  snprintf(buf, cap, "%d filters %s%s", c->oc, inc__window_geom_str(&c->q, gs, sizeof gs),
           c->bias ? "" : " no bias");
}

/* weight (OC, C, KH, KW), the layer's init scheme with fan_in C*KH*KW and
 * fan_out OC*KH*KW; bias (OC), zeros. A convolution without bias owns the
 * weight alone (conv_tensors_nobias, the same declaration). */
#define CONV_WEIGHT                                                                          \
  {"weight", 1, 4, {INC__DIM_OUT, INC__DIM_IN, INC__DIM_K, INC__DIM_KW}, INC__INIT_WEIGHT, 0.0f}
static const inc__tensor_decl conv_tensors[] = {
    CONV_WEIGHT,
    {"bias", 1, 1, {INC__DIM_OUT}, INC__INIT_ZEROS, 0.0f},
    {NULL, 0, 0, {0}, INC__INIT_ZEROS, 0.0f},
};
static const inc__tensor_decl conv_tensors_nobias[] = {
    CONV_WEIGHT,
    {NULL, 0, 0, {0}, INC__INIT_ZEROS, 0.0f},
};

const inc__layer_vt inc__conv2d_vt = {
    .kind = "conv2d",
    .fuses = INC__EPI_RELU | INC__EPI_BN,
    .ops = {INC__OP_BIT(gemm) | INC__OP_BIT(im2col) | INC__OP_BIT(swap01) | INC__OP_BIT(conv_out) |
                INC__OP_BIT(bn_fold) | INC__OP_BIT(wino_w) | INC__OP_BIT(wino_in) |
                INC__OP_BIT(wino_out) | INC__OP_BIT(gemm_batched) | INC__OP_BIT(slice) |
                INC__OP_BIT(conv_direct) | INC__OP_BIT(unroll_w) | INC__OP_BIT(bias_add) |
                INC__OP_BIT(relu_fwd),
            INC__OP_BIT(gemm) | INC__OP_BIT(col2im) | INC__OP_BIT(swap01) | INC__OP_BIT(bias_grad) |
                INC__OP_BIT(wino_dout) | INC__OP_BIT(wino_dw) | INC__OP_BIT(wino_din) |
                INC__OP_BIT(gemm_batched) | INC__OP_BIT(unroll_dw)},
    .infer = conv_infer,
    .plan_fwd = conv_plan_fwd,
    .plan_bwd = conv_plan_bwd,
    .run_fwd = conv_run_fwd,
    .run_bwd = conv_run_bwd,
    .tensors = conv_tensors,
    .describe = conv_describe,
    .destroy = conv_destroy,
};

/* The fields of a 0.4 descriptor: its size up to and with `bias`. A later
 * version appends fields; the ones a caller's size does not cover take
 * their defaults. */
#define DESC_SIZE_0_4 (offsetof(inc_conv2d_desc, bias) + sizeof(int))

/* The one constructor: checks the fields of d (what: the public call, for
 * messages) and makes the layer. */
static inc_status conv_new(inc_context *ctx, const char *what, const inc_conv2d_desc *d,
                           inc_layer **out)
{
  if (d->out_channels < 1 || d->kernel_h < 1 || d->kernel_w < 1 || d->stride_h < 1 ||
      d->stride_w < 1 || d->pad_h < 0 || d->pad_w < 0 || (d->bias != 0 && d->bias != 1))
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "%s: out_channels %d, kernel %dx%d and stride %dx%d must be >= 1, "
                      "padding %dx%d >= 0 and bias 0 or 1 (it is %d)",
                      what, d->out_channels, d->kernel_h, d->kernel_w, d->stride_h, d->stride_w,
                      d->pad_h, d->pad_w, d->bias);
  inc_layer *l;
  inc_status s = inc__layer_new(ctx, &inc__conv2d_vt, sizeof(conv_priv), &l);
  if (s != INC_OK) return s;
  conv_priv *c = (conv_priv *)l->priv;
  c->oc = d->out_channels;
  c->q.k[0] = d->kernel_h;
  c->q.k[1] = d->kernel_w;
  c->q.s[0] = d->stride_h;
  c->q.s[1] = d->stride_w;
  c->q.p[0] = d->pad_h;
  c->q.p[1] = d->pad_w;
  c->bias = d->bias;
  if (!d->bias) l->tensors = conv_tensors_nobias;
  l->sizes[0] = d->out_channels; /* INC__DIM_OUT */
  l->sizes[1] = d->kernel_h;     /* INC__DIM_K */
  l->sizes[2] = d->kernel_w;     /* INC__DIM_KW */
  *out = l;
  return INC_OK;
}

INC_API inc_status inc_conv2d_create(inc_context *ctx, int out_channels, int kernel, int stride,
                                     int padding, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_conv2d_create");
  if (s != INC_OK) return s;
  inc_conv2d_desc d = {sizeof d, out_channels, kernel, kernel, stride, stride, padding, padding, 1};
  return conv_new(ctx, "inc_conv2d_create", &d, out);
}

INC_API inc_status inc_conv2d_create_desc(inc_context *ctx, const inc_conv2d_desc *desc,
                                          inc_layer **out)
{
  static const char what[] = "inc_conv2d_create_desc";
  inc_status s = inc__create_begin(ctx, out, what);
  if (s != INC_OK) return s;
  inc_conv2d_desc d;
  s = inc__desc_read(ctx, what, "inc_conv2d_desc", desc, desc ? desc->size : 0, DESC_SIZE_0_4,
                     &d, sizeof d);
  return s != INC_OK ? s : conv_new(ctx, what, &d, out);
}
