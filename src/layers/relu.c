/*
 * relu.c — the rectified linear unit, any shape. Backward reads the saved
 * output (y > 0), so it keeps nothing extra. When only this ReLU reads a
 * conv2d's output, the plan fuses it: the convolution applies the ReLU in
 * its own output pass and this step passes that output on (no copy).
 */
#include "../plan.h"

static inc_status relu_infer(inc_layer *l, const inc__shape *in, inc__shape *out, int bind)
{
  (void)l;
  (void)bind;
  *out = *in;
  return INC_OK;
}

static inc_status relu_plan_fwd(inc__plan *p, inc__step *st)
{
  inc__pv(p, st->y)->cnhw = inc__pv(p, st->x)->cnhw;
  return INC_OK;
}

/* Runs only when not fused: a ReLU after a convolution is applied in the
 * convolution's bias pass and this step passes its value on (plan.c). */
static inc_status relu_run_fwd(const inc__plan *p, const inc__step *st)
{
  const inc_tensor *x = inc__pv(p, st->x);
  return p->ctx->ops->relu_fwd(inc__pv(p, st->y)->data, x->data, x->numel, p->ctx);
}

/* The same pass whether or not forward was fused: the saved output y (a
 * fused convolution's output) masks dy. */
static inc_status relu_plan_bwd(inc__plan *p, inc__step *st, const inc__sink *sink)
{
  (void)sink;
  st->aux[0] = p->fwd[st->fwd].y;
  st->dx = inc__plan_like(p, st->aux[0]); /* shape and layout of y (and x) */
  return st->dx < 0 ? INC_ERR_OUT_OF_MEMORY : INC_OK;
}

static inc_status relu_run_bwd(const inc__plan *p, const inc__step *st)
{
  const inc_tensor *dy = inc__pv(p, st->dy);
  return p->ctx->ops->relu_bwd(inc__pv(p, st->dx)->data, dy->data, inc__pv(p, st->aux[0])->data,
                               dy->numel, p->ctx);
}

const inc__layer_vt inc__relu_vt = {
    .kind = "relu",
    .epilogue = INC__EPI_RELU,
    .ops = {INC__OP_BIT(relu_fwd), INC__OP_BIT(relu_bwd)},
    .infer = relu_infer,
    .plan_fwd = relu_plan_fwd,
    .plan_bwd = relu_plan_bwd,
    .run_fwd = relu_run_fwd,
    .run_bwd = relu_run_bwd,
};

INC_API inc_status inc_relu_create(inc_context *ctx, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_relu_create");
  if (s != INC_OK) return s;
  return inc__layer_new(ctx, &inc__relu_vt, 0, out);
}
