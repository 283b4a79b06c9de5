/*
 * dense.c — the fully connected layer: y (N, OUT) = x (N, F) weight^T + bias,
 * weight (OUT, F) as in PyTorch. Binds the input feature count F.
 */
#include <stdio.h>
#include "../plan.h"

typedef struct dense_priv {
  int out;
} dense_priv;

static inc_status dense_infer(inc_layer *l, const inc__shape *in, inc__shape *out, int bind)
{
  const dense_priv *c = (const dense_priv *)l->priv;
  char buf[96];
  if (in->ndim != 2)
    return inc__layer_error(l, INC_ERR_SHAPE,
                            "expects an (N, features) input (add a flatten layer), got %s",
                            inc__shape_str(in, buf, sizeof buf));
  if (l->bound && in->d[1] != l->bound_in)
    return inc__layer_error(l, INC_ERR_SHAPE, "bound to %lld input feature%s, got %lld",
                            (long long)l->bound_in, l->bound_in == 1 ? "" : "s",
                            (long long)in->d[1]);
  if (bind && !l->bound) {
    inc_status s = inc__layer_bind(l, in->d[1]);
    if (s != INC_OK) return s;
  }
  out->ndim = 2;
  out->d[0] = in->d[0];
  out->d[1] = c->out;
  return INC_OK;
}

static inc_status dense_plan_fwd(inc__plan *p, inc__step *st)
{
  inc__pv(p, st->y)->cnhw = 0; /* (N, OUT) */
  return INC_OK;
}

static inc_status dense_run_fwd(const inc__plan *p, const inc__step *st)
{
  inc_context *ctx = p->ctx;
  inc_layer *l = st->layer;
  const dense_priv *c = (const dense_priv *)l->priv;
  const inc_tensor *x = inc__pv(p, st->x); /* (N, F) */
  float *y = inc__pv(p, st->y)->data;      /* (N, OUT) */
  int64_t n = x->dims[0], f = x->dims[1];
  inc_status s = ctx->ops->gemm(y, x->data, l->params[0].value->data, 0, 1, n, c->out, f, 1.0f,
                                0.0f, ctx);
  if (s == INC_OK) s = ctx->ops->bias_add(y, l->params[1].value->data, n, c->out, 1, ctx);
  return s;
}

/* Backward reads the saved input for the weight gradient. */
static inc_status dense_plan_bwd(inc__plan *p, inc__step *st, const inc__sink *sink)
{
  (void)sink;
  st->aux[0] = p->fwd[st->fwd].x;
  st->dx = inc__plan_like(p, st->aux[0]); /* (N, F) */
  return st->dx < 0 ? INC_ERR_OUT_OF_MEMORY : INC_OK;
}

static inc_status dense_run_bwd(const inc__plan *p, const inc__step *st)
{
  inc_context *ctx = p->ctx;
  inc_layer *l = st->layer;
  const dense_priv *c = (const dense_priv *)l->priv;
  const inc_tensor *x = inc__pv(p, st->aux[0]), *dy = inc__pv(p, st->dy);
  int64_t n = x->dims[0], f = x->dims[1];
  /* dW (OUT, F) = dy^T (OUT, N) x (N, F) */
  INC__PROF_ROLE(ctx, INC__ROLE_WGRAD);
  inc_status s = ctx->ops->gemm(l->params[0].grad->data, dy->data, x->data, 1, 0, c->out, f, n,
                                1.0f, 0.0f, ctx);
  if (s == INC_OK) s = ctx->ops->bias_grad(l->params[1].grad->data, dy->data, n, c->out, 1, ctx);
  if (s != INC_OK || !inc__plan_dx_wanted(p, st)) return s;
  /* dx (N, F) = dy (N, OUT) x W (OUT, F) */
  INC__PROF_ROLE(ctx, INC__ROLE_DGRAD);
  return ctx->ops->gemm(inc__pv(p, st->dx)->data, dy->data, l->params[0].value->data, 0, 0, n, f,
                        c->out, 1.0f, 0.0f, ctx);
}

static void dense_describe(const inc_layer *l, char *buf, size_t cap)
{
  snprintf(buf, cap, "%d outputs", ((const dense_priv *)l->priv)->out);
}

/* weight (OUT, F), the layer's init scheme with fan_in F and fan_out OUT;
 * bias (OUT), zeros */
static const inc__tensor_decl dense_tensors[] = {
    {"weight", 1, 2, {INC__DIM_OUT, INC__DIM_IN}, INC__INIT_WEIGHT, 0.0f},
    {"bias", 1, 1, {INC__DIM_OUT}, INC__INIT_ZEROS, 0.0f},
    {NULL, 0, 0, {0}, INC__INIT_ZEROS, 0.0f},
};

const inc__layer_vt inc__dense_vt = {
    .kind = "dense",
    .ops = {INC__OP_BIT(gemm) | INC__OP_BIT(bias_add), INC__OP_BIT(gemm) | INC__OP_BIT(bias_grad)},
    .infer = dense_infer,
    .plan_fwd = dense_plan_fwd,
    .plan_bwd = dense_plan_bwd,
    .run_fwd = dense_run_fwd,
    .run_bwd = dense_run_bwd,
    .tensors = dense_tensors,
    .describe = dense_describe,
};

INC_API inc_status inc_dense_create(inc_context *ctx, int out_features, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_dense_create");
  if (s != INC_OK) return s;
  if (out_features < 1)
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT, "inc_dense_create: out_features %d < 1",
                      out_features);
  inc_layer *l;
  s = inc__layer_new(ctx, &inc__dense_vt, sizeof(dense_priv), &l);
  if (s != INC_OK) return s;
  ((dense_priv *)l->priv)->out = out_features;
  l->sizes[0] = out_features; /* INC__DIM_OUT */
  *out = l;
  return INC_OK;
}
