/*
 * relu.c — the rectified linear unit, any shape. Backward reads the saved
 * output (y > 0), so it keeps nothing extra.
 */
#include "../layer.h"

static inc_status relu_infer(inc_layer *l, const inc__shape *in, inc__shape *out, int bind)
{
  (void)l;
  (void)bind;
  *out = *in;
  return INC_OK;
}

static inc_status relu_forward(inc_layer *l, const inc_tensor *x, int training)
{
  inc__shape s;
  inc_tensor *y; /* shape of x */
  inc__shape_of(x, &s);
  inc_status st = inc__layer_out(l, &s, &y);
  (void)training;
  if (st != INC_OK) return st;
  return l->ctx->ops->relu_fwd(y->data, x->data, x->numel, l->ctx);
}

static inc_status relu_backward(inc_layer *l, const inc_tensor *dy)
{
  inc__shape s;
  inc_tensor *dx;
  inc__shape_of(dy, &s);
  inc_status st = inc__layer_dx(l, &s, &dx);
  if (st != INC_OK) return st;
  return l->ctx->ops->relu_bwd(dx->data, dy->data, l->y->data, dy->numel, l->ctx);
}

const inc__layer_vt inc__relu_vt = {
    "relu", 0, relu_infer, relu_forward, relu_backward, NULL, NULL, NULL, NULL,
};

INC_API inc_status inc_relu_create(inc_context *ctx, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_relu_create");
  if (s != INC_OK) return s;
  return inc__layer_new(ctx, &inc__relu_vt, 0, out);
}
