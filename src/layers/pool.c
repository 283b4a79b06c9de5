/*
 * pool.c — the pooling layers: max_pool2d, avg_pool2d (padding counted in
 * the divisor, PyTorch's default) and global_avg_pool2d. None has
 * parameters, so none binds anything: any image size goes. The public
 * constructors make square windows; the layers and their ops take a
 * window per axis, as conv2d's.
 *
 * Max pooling keeps an int32 argmax per output only for a training
 * forward; its backward is a gather over that map.
 */
#include "../plan.h"

typedef struct pool_priv {
  inc__window_geom q; /* window, stride, padding per axis */
} pool_priv;

static inc_status pool_window(inc_layer *l, const inc__shape *in, inc__window *g)
{
  return inc__window_of(l, in, &((const pool_priv *)l->priv)->q, "window", g);
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

/* The window of step st's input (forward or backward). */
static inc_status step_window(const inc__plan *p, const inc__step *st, inc__window *g)
{
  inc__shape in;
  inc__shape_of(inc__plan_input(p, st), &in);
  return pool_window(st->layer, &in, g);
}

/* Any pooling: the output keeps the layout of the input (planes are planes
 * in either). Max pooling in a training plan keeps an int32 argmax per
 * output (aux 0) for its backward. */
static inc_status pool_plan_fwd(inc__plan *p, inc__step *st)
{
  inc_tensor *y = inc__pv(p, st->y);
  y->cnhw = inc__pv(p, st->x)->cnhw;
  if (st->layer->vt == &inc__max_pool2d_vt && p->training &&
      (st->aux[0] = inc__plan_scratch(p, y->numel)) < 0) /* argmax (N, C, OH, OW) */
    return INC_ERR_OUT_OF_MEMORY;
  return INC_OK;
}

/* Any pooling: the input gradient has the input's shape and layout. */
static inc_status pool_plan_bwd(inc__plan *p, inc__step *st, const inc__sink *sink)
{
  (void)sink;
  st->aux[0] = p->fwd[st->fwd].aux[0];
  st->dx = inc__plan_like(p, p->fwd[st->fwd].x);
  return st->dx < 0 ? INC_ERR_OUT_OF_MEMORY : INC_OK;
}

static inc_status maxpool_run_fwd(const inc__plan *p, const inc__step *st)
{
  inc__window g;
  inc_status s = step_window(p, st, &g);
  if (s != INC_OK) return s;
  int32_t *arg = st->aux[0] >= 0 ? (int32_t *)(void *)inc__pv(p, st->aux[0])->data : NULL;
  return p->ctx->ops->maxpool_fwd(inc__pv(p, st->y)->data, arg, inc__pv(p, st->x)->data, &g,
                                  p->ctx);
}

static inc_status maxpool_run_bwd(const inc__plan *p, const inc__step *st)
{
  inc__window g;
  inc_status s = step_window(p, st, &g);
  if (s != INC_OK) return s;
  const int32_t *arg = (const int32_t *)(const void *)inc__pv(p, st->aux[0])->data;
  return p->ctx->ops->maxpool_bwd(inc__pv(p, st->dx)->data, inc__pv(p, st->dy)->data, arg, &g,
                                  p->ctx);
}

static inc_status avgpool_run_fwd(const inc__plan *p, const inc__step *st)
{
  inc__window g;
  inc_status s = step_window(p, st, &g);
  if (s != INC_OK) return s;
  return p->ctx->ops->avgpool_fwd(inc__pv(p, st->y)->data, inc__pv(p, st->x)->data, &g, p->ctx);
}

static inc_status avgpool_run_bwd(const inc__plan *p, const inc__step *st)
{
  inc__window g;
  inc_status s = step_window(p, st, &g);
  if (s != INC_OK) return s;
  return p->ctx->ops->avgpool_bwd(inc__pv(p, st->dx)->data, inc__pv(p, st->dy)->data, &g, p->ctx);
}

/* "3x3 s2 p1" */
static void pool_describe(const inc_layer *l, char *buf, size_t cap)
{
  inc__window_geom_str(&((const pool_priv *)l->priv)->q, buf, cap);
}

const inc__layer_vt inc__max_pool2d_vt = {
    .kind = "max_pool2d",
    .ops = {INC__OP_BIT(maxpool_fwd), INC__OP_BIT(maxpool_bwd)},
    .infer = pool_infer,
    .plan_fwd = pool_plan_fwd,
    .plan_bwd = pool_plan_bwd,
    .run_fwd = maxpool_run_fwd,
    .run_bwd = maxpool_run_bwd,
    .describe = pool_describe,
};

const inc__layer_vt inc__avg_pool2d_vt = {
    .kind = "avg_pool2d",
    .ops = {INC__OP_BIT(avgpool_fwd), INC__OP_BIT(avgpool_bwd)},
    .infer = pool_infer,
    .plan_fwd = pool_plan_fwd,
    .plan_bwd = pool_plan_bwd,
    .run_fwd = avgpool_run_fwd,
    .run_bwd = avgpool_run_bwd,
    .describe = pool_describe,
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
  inc__window_geom *q = &((pool_priv *)l->priv)->q;
  q->k[0] = q->k[1] = kernel;
  q->s[0] = q->s[1] = stride;
  q->p[0] = q->p[1] = padding;
  *out = l;
  return INC_OK;
}

int inc__pool_geometry(const inc_layer *l, inc__window_geom *q)
{
  if (l->vt != &inc__max_pool2d_vt && l->vt != &inc__avg_pool2d_vt) return 0;
  *q = ((const pool_priv *)l->priv)->q;
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

static inc_status gap_run_fwd(const inc__plan *p, const inc__step *st)
{
  const inc_tensor *x = inc__pv(p, st->x); /* (N, C, H, W) -> y (N, C, 1, 1) */
  return p->ctx->ops->gap_fwd(inc__pv(p, st->y)->data, x->data, x->dims[0] * x->dims[1],
                              x->dims[2] * x->dims[3], p->ctx);
}

static inc_status gap_run_bwd(const inc__plan *p, const inc__step *st)
{
  const inc_tensor *x = inc__plan_input(p, st);
  return p->ctx->ops->gap_bwd(inc__pv(p, st->dx)->data, inc__pv(p, st->dy)->data,
                              x->dims[0] * x->dims[1], x->dims[2] * x->dims[3], p->ctx);
}

const inc__layer_vt inc__global_avg_pool2d_vt = {
    .kind = "global_avg_pool2d",
    .ops = {INC__OP_BIT(gap_fwd), INC__OP_BIT(gap_bwd)},
    .infer = gap_infer,
    .plan_fwd = pool_plan_fwd,
    .plan_bwd = pool_plan_bwd,
    .run_fwd = gap_run_fwd,
    .run_bwd = gap_run_bwd,
};

INC_API inc_status inc_global_avg_pool2d_create(inc_context *ctx, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_global_avg_pool2d_create");
  if (s != INC_OK) return s;
  return inc__layer_new(ctx, &inc__global_avg_pool2d_vt, 0, out);
}
