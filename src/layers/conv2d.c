/*
 * conv2d.c — 2-D convolution, square kernel, with bias; weight (OC, C, K, K)
 * as in PyTorch. Binds the input channel count on first use.
 *
 * Forward is im2col over the whole batch and one GEMM (never one GEMM per
 * image): col (C*K*K, N*OH*OW), y = weight x col written channel-major
 * (OC, N*OH*OW) (see "Layouts" in layer.h), then one in-place pass adds
 * the bias (and applies the ReLU that follows, when the sequential says
 * so). A 1x1 stride-1 convolution of a channel-major input skips im2col:
 * the input is already the col matrix. Backward is two GEMMs (weight grad,
 * input grad) plus col2im; the output gradient, channel-major like y, is
 * the GEMM operand as it comes.
 */
#include <stdio.h>
#include "../layer.h"

typedef struct conv_priv {
  int oc, k, s, p;
  inc_tensor dx_view; /* l->dx when the input gradient went to l->dx_into */
  inc_tensor *col;    /* INC_CONV_KEEP_COL: the col of the last training forward */
  int col_valid;
} conv_priv;

/* Keep each convolution's col matrix from the training forward for its
 * backward instead of building it again: one im2col pass less per step for
 * the memory of every col at once (about 650 MB for the D2L GoogLeNet at
 * 96x96, batch 128); build with -DINC_CONV_KEEP_COL=0 to trade the time back
 * for the memory. See docs/performance.md. */
#ifndef INC_CONV_KEEP_COL
#define INC_CONV_KEEP_COL 1
#endif

enum { WS_COL = 0, WS_TMP = 1, WS_DCOL = 2 };

static inc_status conv_window(inc_layer *l, const inc__shape *in, inc__window *g)
{
  const conv_priv *c = (const conv_priv *)l->priv;
  char buf[96];
  if (in->ndim != 4)
    return inc__layer_error(l, INC_ERR_SHAPE, "expects an (N, C, H, W) input, got %s",
                            inc__shape_str(in, buf, sizeof buf));
  g->n = in->d[0];
  g->c = in->d[1];
  g->h = in->d[2];
  g->w = in->d[3];
  g->k = c->k;
  g->s = c->s;
  g->p = c->p;
  if (g->h + 2 * (int64_t)c->p < c->k || g->w + 2 * (int64_t)c->p < c->k)
    return inc__layer_error(l, INC_ERR_SHAPE,
                            "input %lldx%lld is smaller than the %dx%d kernel with padding %d",
                            (long long)g->h, (long long)g->w, c->k, c->k, c->p);
  g->oh = (g->h + 2 * (int64_t)c->p - c->k) / c->s + 1;
  g->ow = (g->w + 2 * (int64_t)c->p - c->k) / c->s + 1;
  return inc__window_check(l, g);
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

static int is_pointwise(const conv_priv *c) { return c->k == 1 && c->s == 1 && c->p == 0; }

int inc__conv2d_im2col(const inc_layer *l)
{
  return l->vt == &inc__conv2d_vt && !is_pointwise((const conv_priv *)l->priv);
}

int inc__conv2d_geometry(const inc_layer *l, int *kernel, int *stride, int *padding)
{
  if (l->vt != &inc__conv2d_vt) return 0;
  const conv_priv *c = (const conv_priv *)l->priv;
  *kernel = c->k;
  *stride = c->s;
  *padding = c->p;
  return 1;
}

/* im2col (to_col) or col2im of x / dx (N, C, H, W) in the layout of x:
 * one call when its bytes read as (N, C, H, W), else (channel-major) one
 * call per channel, whose (N, 1, H, W) block gives col rows c*K*K.. */
static inc_status col_pass(inc_context *ctx, int to_col, float *col, float *img,
                           const inc_tensor *x, const inc__window *g)
{
  if (inc__as_nchw(x))
    return to_col ? ctx->ops->im2col(col, img, g, ctx) : ctx->ops->col2im(img, col, g, ctx);
  inc__window g1 = *g;
  g1.c = 1;
  const int64_t rows = (int64_t)g->k * g->k * g->n * g->oh * g->ow, plane = g->n * g->h * g->w;
  for (int64_t ci = 0; ci < g->c; ci++) {
    inc_status s = to_col ? ctx->ops->im2col(col + ci * rows, img + ci * plane, &g1, ctx)
                          : ctx->ops->col2im(img + ci * plane, col + ci * rows, &g1, ctx);
    if (s != INC_OK) return s;
  }
  return INC_OK;
}

/* The col matrix (C*K*K, N*OH*OW) of x: x itself (a 1x1 convolution of a
 * channel-major input), x with its leading axes swapped, or im2col into
 * the workspace. */
static inc_status conv_col(inc_layer *l, const inc_tensor *x, const inc__window *g,
                           const float **col, int keep)
{
  inc_context *ctx = l->ctx;
  conv_priv *c = (conv_priv *)l->priv;
  if (is_pointwise(c) && inc__as_cnhw(x)) {
    *col = x->data;
    return INC_OK;
  }
  int64_t rows = g->c * c->k * c->k, cols = g->n * g->oh * g->ow;
  float *buf;
  inc_status s;
  if (INC_CONV_KEEP_COL && keep == 2 && c->col_valid) { /* backward: the forward's col */
    *col = c->col->data;
    return INC_OK;
  }
  if (INC_CONV_KEEP_COL && keep == 1) { /* training forward: keep it */
    int64_t d[1] = {rows * cols};
    c->col_valid = 0;
    s = inc__tensor_ensure(ctx, &c->col, 1, d);
    if (s != INC_OK) return s;
    c->col->owner_is_layer = 1;
    buf = c->col->data;
    c->col_valid = 1;
  } else {
    if (keep == 0) c->col_valid = 0;
    s = inc__workspace(ctx, WS_COL, (size_t)(rows * cols) * sizeof(float), (void **)&buf);
  }
  if (s != INC_OK) return s;
  INC__PROF_ROLE(ctx, INC__ROLE_COL);
  if (is_pointwise(c))
    s = ctx->ops->swap01(buf, x->data, g->n, g->c, g->h * g->w, ctx);
  else
    s = col_pass(ctx, 1, buf, (float *)x->data, x, g);
  *col = buf;
  return s;
}

/* y (N, OC, OH, OW) is written channel-major, (OC, N*OH*OW), straight from
 * the GEMM; bias and, when the enclosing sequential says a ReLU follows,
 * the ReLU are applied in place in one pass. */
static inc_status conv_forward(inc_layer *l, const inc_tensor *x, int training)
{
  inc_context *ctx = l->ctx;
  const conv_priv *c = (const conv_priv *)l->priv;
  inc__shape in, os;
  inc__window g;
  inc__shape_of(x, &in);
  inc_status s = conv_window(l, &in, &g);
  if (s != INC_OK) return s;
  os.ndim = 4;
  os.d[0] = g.n;
  os.d[1] = c->oc;
  os.d[2] = g.oh;
  os.d[3] = g.ow;
  inc_tensor *y; /* (N, OC, OH, OW), stored (OC, N*OH*OW) */
  if ((s = inc__layer_out(l, &os, &y)) != INC_OK) return s;
  const float *col; /* (C*K*K, N*OH*OW) */
  if ((s = conv_col(l, x, &g, &col, training ? 1 : 0)) != INC_OK) return s;
  const float *w = l->params[0].value->data, *b = l->params[1].value->data;
  int64_t kdim = g.c * c->k * c->k, p = g.oh * g.ow, np = g.n * p;
  (void)training;
  if (l->want_nchw && !(g.n == 1 || c->oc == 1)) {
    /* the next layer runs im2col: give it (N, OC, OH, OW), the bias pass
     * moving the GEMM result (OC, N*P) into place */
    float *tmp;
    y->cnhw = 0;
    s = inc__workspace(ctx, WS_TMP, (size_t)(c->oc * np) * sizeof(float), (void **)&tmp);
    if (s == INC_OK) s = ctx->ops->gemm(tmp, w, col, 0, 0, c->oc, np, kdim, 1.0f, 0.0f, ctx);
    if (s == INC_OK) s = ctx->ops->conv_out(y->data, tmp, b, g.n, c->oc, p, l->fuse_relu, ctx);
    return s;
  }
  y->cnhw = 1;
  s = ctx->ops->gemm(y->data, w, col, 0, 0, c->oc, np, kdim, 1.0f, 0.0f, ctx);
  if (s == INC_OK) s = ctx->ops->conv_out(y->data, y->data, b, 1, c->oc, np, l->fuse_relu, ctx);
  return s;
}

static inc_status conv_backward(inc_layer *l, const inc_tensor *dy)
{
  inc_context *ctx = l->ctx;
  const conv_priv *c = (const conv_priv *)l->priv;
  const inc_tensor *x = l->x;
  inc__shape in;
  inc__window g;
  inc__shape_of(x, &in);
  inc_status s = conv_window(l, &in, &g);
  if (s != INC_OK) return s;
  int64_t kdim = g.c * c->k * c->k, p = g.oh * g.ow, np = g.n * p;
  inc__param *w = &l->params[0], *b = &l->params[1];

  /* dyt (OC, N*P): dy in the layout of y, channel-major already */
  const float *dyt = dy->data;
  if (!inc__as_cnhw(dy)) {
    float *buf;
    s = inc__workspace(ctx, WS_TMP, (size_t)(c->oc * np) * sizeof(float), (void **)&buf);
    if (s == INC_OK) s = ctx->ops->swap01(buf, dy->data, g.n, c->oc, p, ctx);
    if (s != INC_OK) return s;
    dyt = buf;
  }
  /* db: the row sums of dyt, in the order of (n, p) */
  s = ctx->ops->bias_grad(b->grad->data, dyt, 1, c->oc, np, ctx);
  if (s != INC_OK) return s;
  const float *col;
  if ((s = conv_col(l, x, &g, &col, 2)) != INC_OK) return s;
  /* dW (OC, C*K*K) = dyt (OC, N*P) x col^T */
  INC__PROF_ROLE(ctx, INC__ROLE_WGRAD);
  s = ctx->ops->gemm(w->grad->data, dyt, col, 0, 1, c->oc, kdim, np, 1.0f, 0.0f, ctx);
  if (s != INC_OK) return s;
  if (l->skip_dx) { /* e.g. the first layer of a network: no input gradient wanted */
    l->dx = NULL;
    return INC_OK;
  }

  const float *wv = w->value->data;
  if (is_pointwise(c) && inc__as_cnhw(x) && l->dx_into) {
    /* the GEMM writes (or adds) dx where the enclosing concat sums it */
    inc_tensor *v = &((conv_priv *)l->priv)->dx_view;
    v->ctx = ctx;
    v->ndim = in.ndim;
    for (int j = 0; j < in.ndim; j++) v->dims[j] = in.d[j];
    v->numel = v->capacity = x->numel;
    v->data = l->dx_into;
    v->owner_is_layer = 1;
    v->cnhw = x->cnhw;
    l->dx = v;
    INC__PROF_ROLE(ctx, INC__ROLE_DGRAD);
    return ctx->ops->gemm(v->data, wv, dyt, 1, 0, kdim, np, c->oc, 1.0f,
                          l->dx_accum ? 1.0f : 0.0f, ctx);
  }
  inc_tensor *dx; /* (N, C, H, W) in the layout of x */
  if ((s = inc__layer_dx(l, &in, &dx)) != INC_OK) return s;
  dx->cnhw = x->cnhw;
  INC__PROF_ROLE(ctx, INC__ROLE_DGRAD);
  if (is_pointwise(c) && inc__as_cnhw(x)) /* dcol is dx */
    return ctx->ops->gemm(dx->data, wv, dyt, 1, 0, kdim, np, c->oc, 1.0f, 0.0f, ctx);
  float *dcol; /* (C*K*K, N*P) = W^T x dyt */
  s = inc__workspace(ctx, WS_DCOL, (size_t)(kdim * np) * sizeof(float), (void **)&dcol);
  if (s == INC_OK) s = ctx->ops->gemm(dcol, wv, dyt, 1, 0, kdim, np, c->oc, 1.0f, 0.0f, ctx);
  if (s != INC_OK) return s;
  INC__PROF_ROLE(ctx, INC__ROLE_UNCOL);
  if (is_pointwise(c)) return ctx->ops->swap01(dx->data, dcol, g.c, g.n, p, ctx);
  return col_pass(ctx, 0, dcol, dx->data, x, &g);
}

static void conv_describe(const inc_layer *l, char *buf, size_t cap)
{
  const conv_priv *c = (const conv_priv *)l->priv;
  snprintf(buf, cap, "%d filters %dx%d s%d p%d", c->oc, c->k, c->k, c->s, c->p);
}

static void conv_release(inc_layer *l)
{
  conv_priv *c = (conv_priv *)l->priv;
  inc__tensor_free(c->col);
  c->col = NULL;
  c->col_valid = 0;
}

/* weight (OC, C, K, K), the layer's init scheme with fan_in C*K*K and
 * fan_out OC*K*K; bias (OC), zeros */
static const inc__tensor_decl conv_tensors[] = {
    {"weight", 1, 4, {INC__DIM_OUT, INC__DIM_IN, INC__DIM_K, INC__DIM_K}, INC__INIT_WEIGHT, 0.0f},
    {"bias", 1, 1, {INC__DIM_OUT}, INC__INIT_ZEROS, 0.0f},
    {NULL, 0, 0, {0}, INC__INIT_ZEROS, 0.0f},
};

const inc__layer_vt inc__conv2d_vt = {
    "conv2d", 0, conv_infer, conv_forward, conv_backward, conv_tensors,
    conv_release, NULL, conv_describe,
};

INC_API inc_status inc_conv2d_create(inc_context *ctx, int out_channels, int kernel, int stride,
                                     int padding, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_conv2d_create");
  if (s != INC_OK) return s;
  if (out_channels < 1 || kernel < 1 || stride < 1 || padding < 0)
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "inc_conv2d_create: out_channels %d, kernel %d, stride %d must be >= 1 "
                      "and padding %d >= 0",
                      out_channels, kernel, stride, padding);
  inc_layer *l;
  s = inc__layer_new(ctx, &inc__conv2d_vt, sizeof(conv_priv), &l);
  if (s != INC_OK) return s;
  conv_priv *c = (conv_priv *)l->priv;
  c->oc = out_channels;
  c->k = kernel;
  c->s = stride;
  c->p = padding;
  l->sizes[0] = out_channels; /* INC__DIM_OUT */
  l->sizes[1] = kernel;       /* INC__DIM_K */
  *out = l;
  return INC_OK;
}
