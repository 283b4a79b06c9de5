/*
 * identity.c — y = x, any shape: the skip branch of a residual block (and a
 * placeholder anywhere else). It adds no step to a plan: its output is its
 * input value itself, and its backward hands dy on as its input gradient,
 * so the container above sums it where it sums input gradients (a residual
 * adds it, scaled, straight into its sum). A tree that is nothing but
 * identities still gives the caller a copy of its own (plan.c).
 */
#include "../plan.h"

static inc_status identity_infer(inc_layer *l, const inc__shape *in, inc__shape *out, int bind)
{
  (void)l;
  (void)bind;
  *out = *in;
  return INC_OK;
}

static inc_status identity_emit(inc_layer *l, inc__plan *p, int x, int *y)
{
  (void)l;
  (void)p;
  *y = x;
  return INC_OK;
}

static inc_status identity_emit_bwd(inc_layer *l, inc__plan *p, int dy, const inc__sink *sink,
                                    int *dx)
{
  (void)l;
  (void)p;
  (void)sink;
  *dx = dy;
  return INC_OK;
}

const inc__layer_vt inc__identity_vt = {
    .kind = "identity",
    .infer = identity_infer,
    .emit = identity_emit,
    .emit_bwd = identity_emit_bwd,
};

INC_API inc_status inc_identity_create(inc_context *ctx, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_identity_create");
  if (s != INC_OK) return s;
  return inc__layer_new(ctx, &inc__identity_vt, 0, out);
}
