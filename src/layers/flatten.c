/*
 * flatten.c — (N, d1, d2, ...) -> (N, d1*d2*...). The data does not move;
 * the layer copies it into its own output so that the output stays valid
 * whatever the caller does with the input.
 */
#include "../layer.h"

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

static inc_status flatten_forward(inc_layer *l, const inc_tensor *x, int training)
{
  inc__shape in, out;
  inc_tensor *y; /* (N, F) */
  inc__shape_of(x, &in);
  inc_status s = flatten_infer(l, &in, &out, 0);
  (void)training;
  if (s == INC_OK) s = inc__layer_out(l, &out, &y);
  if (s != INC_OK) return s;
  y->cnhw = 0;
  if (!inc__as_nchw(x)) /* channel-major (C, N, ...) -> (N, C, ...) */
    return l->ctx->ops->swap01(y->data, x->data, x->dims[1], x->dims[0], inc__plane(x), l->ctx);
  return l->ctx->ops->copy(y->data, x->data, (size_t)x->numel * sizeof(float), l->ctx);
}

static inc_status flatten_backward(inc_layer *l, const inc_tensor *dy)
{
  inc__shape in;
  inc_tensor *dx; /* shape of the input */
  inc__shape_of(l->x, &in);
  inc_status s = inc__layer_dx(l, &in, &dx);
  if (s != INC_OK) return s;
  dx->cnhw = l->x->cnhw;
  if (!inc__as_nchw(l->x)) /* back to the input's channel-major layout */
    return l->ctx->ops->swap01(dx->data, dy->data, in.d[0], in.d[1], inc__plane(l->x), l->ctx);
  return l->ctx->ops->copy(dx->data, dy->data, (size_t)dy->numel * sizeof(float), l->ctx);
}

const inc__layer_vt inc__flatten_vt = {
    "flatten", 0, flatten_infer, flatten_forward, flatten_backward, NULL, NULL, NULL, NULL,
};

INC_API inc_status inc_flatten_create(inc_context *ctx, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_flatten_create");
  if (s != INC_OK) return s;
  return inc__layer_new(ctx, &inc__flatten_vt, 0, out);
}
