/*
 * relu.c — the rectified linear unit, any shape. Backward reads the saved
 * output (y > 0), so it keeps nothing extra. After a conv2d in a
 * sequential the convolution applies the ReLU in its own output pass and
 * this layer's forward passes that output through (no copy).
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
  (void)training;
  if (l->rectified_in) { /* the convolution before it applied this ReLU */
    l->y = x;
    return INC_OK;
  }
  inc__shape s;
  inc_tensor *y; /* shape and layout of x */
  inc__shape_of(x, &s);
  inc_status st = inc__layer_out(l, &s, &y);
  if (st != INC_OK) return st;
  y->cnhw = x->cnhw;
  return l->ctx->ops->relu_fwd(y->data, x->data, x->numel, l->ctx);
}

/* The same pass whether or not forward was fused: the saved output y (a
 * rectified input when fused) is positive exactly where the input was. */
static inc_status relu_backward(inc_layer *l, const inc_tensor *dy)
{
  inc__shape s;
  inc_tensor *dx;
  inc__shape_of(dy, &s);
  inc_status st = inc__layer_dx(l, &s, &dx);
  if (st != INC_OK) return st;
  dx->cnhw = l->y->cnhw;
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
