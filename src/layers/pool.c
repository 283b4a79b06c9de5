/*
 * pool.c — the pooling layers: max_pool2d, avg_pool2d (padding counted in
 * the divisor, PyTorch's default) and global_avg_pool2d. None has
 * parameters, so none binds anything: any image size goes.
 *
 * Max pooling keeps an int32 argmax per output only for a training
 * forward; its backward is a gather over that map.
 */
#include <stdio.h>
#include "../layer.h"

typedef struct pool_priv {
  int k, s, p;
  int32_t *arg;      /* (N, C, OH, OW) argmax, max pooling, training only */
  int64_t arg_cap;   /* elements allocated */
} pool_priv;

static inc_status pool_window(inc_layer *l, const inc__shape *in, inc__window *g)
{
  const pool_priv *c = (const pool_priv *)l->priv;
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
                            "input %lldx%lld is smaller than the %dx%d window with padding %d",
                            (long long)g->h, (long long)g->w, c->k, c->k, c->p);
  g->oh = (g->h + 2 * (int64_t)c->p - c->k) / c->s + 1;
  g->ow = (g->w + 2 * (int64_t)c->p - c->k) / c->s + 1;
  return inc__window_check(l, g);
}

static inc_status pool_infer(inc_layer *l, const inc__shape *in, inc__shape *out, int bind)
{
  inc__window g;
  inc_status s = pool_window(l, in, &g);
  if (s != INC_OK) return s;
  out->ndim = 4;
  out->d[0] = g.n;
  out->d[1] = g.c;
  out->d[2] = g.oh;
  out->d[3] = g.ow;
  (void)bind;
  return INC_OK;
}

/* Output tensor and window for input x. */
static inc_status pool_begin(inc_layer *l, const inc_tensor *x, inc__window *g, inc_tensor **y)
{
  inc__shape in, out;
  inc__shape_of(x, &in);
  inc_status s = pool_infer(l, &in, &out, 0);
  if (s == INC_OK) s = pool_window(l, &in, g);
  if (s == INC_OK && y) s = inc__layer_out(l, &out, y);
  return s;
}

static inc_status maxpool_forward(inc_layer *l, const inc_tensor *x, int training)
{
  inc_context *ctx = l->ctx;
  pool_priv *c = (pool_priv *)l->priv;
  inc__window g;
  inc_tensor *y; /* (N, C, OH, OW) */
  inc_status s = pool_begin(l, x, &g, &y);
  if (s != INC_OK) return s;
  if (training && c->arg_cap < y->numel) {
    int32_t *a = NULL;
    s = ctx->ops->alloc((void **)&a, (size_t)y->numel * sizeof *a, ctx);
    if (s != INC_OK) return s;
    ctx->ops->free(c->arg, ctx);
    c->arg = a;
    c->arg_cap = y->numel;
  }
  y->cnhw = x->cnhw; /* planes are planes in either layout */
  return ctx->ops->maxpool_fwd(y->data, training ? c->arg : NULL, x->data, &g, ctx);
}

static inc_status maxpool_backward(inc_layer *l, const inc_tensor *dy)
{
  inc_context *ctx = l->ctx;
  pool_priv *c = (pool_priv *)l->priv;
  inc__window g;
  inc__shape in;
  inc_tensor *dx;
  inc_status s = pool_begin(l, l->x, &g, NULL);
  inc__shape_of(l->x, &in);
  if (s == INC_OK) s = inc__layer_dx(l, &in, &dx);
  if (s != INC_OK) return s;
  dx->cnhw = l->x->cnhw;
  return ctx->ops->maxpool_bwd(dx->data, dy->data, c->arg, &g, ctx);
}

static inc_status avgpool_forward(inc_layer *l, const inc_tensor *x, int training)
{
  inc__window g;
  inc_tensor *y;
  inc_status s = pool_begin(l, x, &g, &y);
  (void)training;
  if (s != INC_OK) return s;
  y->cnhw = x->cnhw;
  return l->ctx->ops->avgpool_fwd(y->data, x->data, &g, l->ctx);
}

static inc_status avgpool_backward(inc_layer *l, const inc_tensor *dy)
{
  inc__window g;
  inc__shape in;
  inc_tensor *dx;
  inc_status s = pool_begin(l, l->x, &g, NULL);
  inc__shape_of(l->x, &in);
  if (s == INC_OK) s = inc__layer_dx(l, &in, &dx);
  if (s != INC_OK) return s;
  dx->cnhw = l->x->cnhw;
  return l->ctx->ops->avgpool_bwd(dx->data, dy->data, &g, l->ctx);
}

static void pool_release(inc_layer *l)
{
  pool_priv *c = (pool_priv *)l->priv;
  l->ctx->ops->free(c->arg, l->ctx);
  c->arg = NULL;
  c->arg_cap = 0;
}

static void pool_describe(const inc_layer *l, char *buf, size_t cap)
{
  const pool_priv *c = (const pool_priv *)l->priv;
  snprintf(buf, cap, "%dx%d s%d p%d", c->k, c->k, c->s, c->p);
}

const inc__layer_vt inc__max_pool2d_vt = {
    "max_pool2d", 0, pool_infer, maxpool_forward, maxpool_backward, NULL,
    pool_release, NULL, pool_describe,
};

const inc__layer_vt inc__avg_pool2d_vt = {
    "avg_pool2d", 0, pool_infer, avgpool_forward, avgpool_backward, NULL,
    pool_release, NULL, pool_describe,
};

static inc_status pool_create(inc_context *ctx, const inc__layer_vt *vt, int kernel, int stride,
                              int padding, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, vt->kind);
  if (s != INC_OK) return s;
  if (stride == 0) stride = kernel;
  if (kernel < 1 || stride < 1 || padding < 0 || padding > kernel / 2)
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "%s: kernel %d and stride %d must be >= 1, padding %d in 0..kernel/2",
                      vt->kind, kernel, stride, padding);
  inc_layer *l;
  s = inc__layer_new(ctx, vt, sizeof(pool_priv), &l);
  if (s != INC_OK) return s;
  pool_priv *c = (pool_priv *)l->priv;
  c->k = kernel;
  c->s = stride;
  c->p = padding;
  *out = l;
  return INC_OK;
}

int inc__pool_geometry(const inc_layer *l, int *kernel, int *stride, int *padding)
{
  if (l->vt != &inc__max_pool2d_vt && l->vt != &inc__avg_pool2d_vt) return 0;
  const pool_priv *c = (const pool_priv *)l->priv;
  *kernel = c->k;
  *stride = c->s;
  *padding = c->p;
  return 1;
}

INC_API inc_status inc_max_pool2d_create(inc_context *ctx, int kernel, int stride, int padding,
                                         inc_layer **out)
{
  return pool_create(ctx, &inc__max_pool2d_vt, kernel, stride, padding, out);
}

INC_API inc_status inc_avg_pool2d_create(inc_context *ctx, int kernel, int stride, int padding,
                                         inc_layer **out)
{
  return pool_create(ctx, &inc__avg_pool2d_vt, kernel, stride, padding, out);
}

/* ---- global average pooling: (N, C, H, W) -> (N, C, 1, 1) ---- */

static inc_status gap_infer(inc_layer *l, const inc__shape *in, inc__shape *out, int bind)
{
  char buf[96];
  (void)bind;
  if (in->ndim != 4)
    return inc__layer_error(l, INC_ERR_SHAPE, "expects an (N, C, H, W) input, got %s",
                            inc__shape_str(in, buf, sizeof buf));
  out->ndim = 4;
  out->d[0] = in->d[0];
  out->d[1] = in->d[1];
  out->d[2] = out->d[3] = 1;
  return INC_OK;
}

static inc_status gap_forward(inc_layer *l, const inc_tensor *x, int training)
{
  inc__shape in, out;
  inc_tensor *y; /* (N, C, 1, 1) */
  inc__shape_of(x, &in);
  inc_status s = gap_infer(l, &in, &out, 0);
  (void)training;
  if (s == INC_OK) s = inc__layer_out(l, &out, &y);
  if (s != INC_OK) return s;
  y->cnhw = x->cnhw;
  return l->ctx->ops->gap_fwd(y->data, x->data, in.d[0] * in.d[1], in.d[2] * in.d[3], l->ctx);
}

static inc_status gap_backward(inc_layer *l, const inc_tensor *dy)
{
  inc__shape in;
  inc_tensor *dx; /* (N, C, H, W) */
  inc__shape_of(l->x, &in);
  inc_status s = inc__layer_dx(l, &in, &dx);
  if (s != INC_OK) return s;
  dx->cnhw = l->x->cnhw;
  return l->ctx->ops->gap_bwd(dx->data, dy->data, in.d[0] * in.d[1], in.d[2] * in.d[3], l->ctx);
}

const inc__layer_vt inc__global_avg_pool2d_vt = {
    "global_avg_pool2d", 0, gap_infer, gap_forward, gap_backward, NULL, NULL, NULL, NULL,
};

INC_API inc_status inc_global_avg_pool2d_create(inc_context *ctx, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_global_avg_pool2d_create");
  if (s != INC_OK) return s;
  return inc__layer_new(ctx, &inc__global_avg_pool2d_vt, 0, out);
}
