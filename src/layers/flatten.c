/*
 * flatten.c — (N, d1, d2, ...) -> (N, d1*d2*...). Its output is its own
 * copy, (N, F) row-major: a channel-major input is swapped back on the way.
 */
#include "../plan.h"

static inc_status flatten_infer(inc_layer *l, const inc__shape *in, inc__shape *out, int bind)
{
  char buf[96];
  (void)bind;
  if (in->ndim < 2)
    return inc__layer_error(l, INC_ERR_SHAPE, "expects at least 2 dims, got %s",
                            inc__shape_str(in, buf, sizeof buf));
  out->ndim = 2;
  out->d[0] = in->d[0];
  out->d[1] = 1;
  for (int i = 1; i < in->ndim; i++) out->d[1] *= in->d[i];
  return INC_OK;
}

static inc_status flatten_plan_fwd(inc__plan *p, inc__step *st)
{
  inc__pv(p, st->y)->cnhw = 0; /* (N, F) */
  return INC_OK;
}

static inc_status flatten_run_fwd(const inc__plan *p, const inc__step *st)
{
  inc_context *ctx = p->ctx;
  const inc_tensor *x = inc__pv(p, st->x);
  float *y = inc__pv(p, st->y)->data;
  if (!inc__as_nchw(x)) /* channel-major (C, N, ...) -> (N, C, ...) */
    return ctx->ops->swap01(y, x->data, x->dims[1], x->dims[0], inc__plane(x), ctx);
  return ctx->ops->copy(y, x->data, (size_t)x->numel * sizeof(float), ctx);
}

static inc_status flatten_plan_bwd(inc__plan *p, inc__step *st, const inc__sink *sink)
{
  (void)sink;
  st->dx = inc__plan_like(p, p->fwd[st->fwd].x); /* shape and layout of the input */
  return st->dx < 0 ? INC_ERR_OUT_OF_MEMORY : INC_OK;
}

static inc_status flatten_run_bwd(const inc__plan *p, const inc__step *st)
{
  inc_context *ctx = p->ctx;
  const inc_tensor *x = inc__plan_input(p, st), *dy = inc__pv(p, st->dy);
  float *dx = inc__pv(p, st->dx)->data;
  if (!inc__as_nchw(x)) /* back to the input's channel-major layout */
    return ctx->ops->swap01(dx, dy->data, x->dims[0], x->dims[1], inc__plane(x), ctx);
  return ctx->ops->copy(dx, dy->data, (size_t)dy->numel * sizeof(float), ctx);
}

const inc__layer_vt inc__flatten_vt = {
    .kind = "flatten",
    .ops = {INC__OP_BIT(swap01), INC__OP_BIT(swap01)},
    .infer = flatten_infer,
    .plan_fwd = flatten_plan_fwd,
    .plan_bwd = flatten_plan_bwd,
    .run_fwd = flatten_run_fwd,
    .run_bwd = flatten_run_bwd,
};

INC_API inc_status inc_flatten_create(inc_context *ctx, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_flatten_create");
  if (s != INC_OK) return s;
  return inc__layer_new(ctx, &inc__flatten_vt, 0, out);
}
