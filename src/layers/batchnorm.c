/*
 * batchnorm.c — 2-D batch normalization, PyTorch's BatchNorm2d: over an
 * (N, C, H, W) input each channel is normalised with the batch's mean and
 * biased variance in training (and the running statistics move towards
 * them, the variance unbiased), with the running statistics in evaluation,
 * then scaled by weight and shifted by bias. Binds the channel count on
 * first use. Declares weight (ones) and bias (zeros), and the buffers
 * running_mean (zeros), running_var (ones) and num_batches_tracked (a
 * count, saved as a 0-d int64 tensor as PyTorch's state_dict has it).
 *
 * Works in either layout: a channel-major input is passed to the ops as
 * (1, C, N*H*W). A training plan keeps x and the batch's mean and
 * 1/sqrt(var + eps) for the exact backward, moves the running statistics
 * only once the whole forward has succeeded (commit), and a ReLU after it runs in
 * its own output pass (fusion). In an inference plan a batch norm right
 * after a convolution is folded into it (src/plan.c): the convolution runs
 * with weight and bias rescaled by bn_fold, and this step passes its
 * output on.
 */
#include <math.h>
#include <stdio.h>
#include "../plan.h"

typedef struct bn_priv {
  float eps, momentum;
} bn_priv;

enum { P_WEIGHT = 0, P_BIAS = 1 };                       /* params */
enum { B_MEAN = 0, B_VAR = 1, B_COUNT = 2 };             /* buffers */
enum { A_MEAN = 0, A_INVSTD = 1, A_VAR = 2 };           /* training forward's saved values */

static inc_status bn_infer(inc_layer *l, const inc__shape *in, inc__shape *out, int bind)
{
  char buf[96];
  if (in->ndim != 4)
    return inc__layer_error(l, INC_ERR_SHAPE, "expects an (N, C, H, W) input, got %s",
                            inc__shape_str(in, buf, sizeof buf));
  if (l->bound && in->d[1] != l->bound_in)
    return inc__layer_error(l, INC_ERR_SHAPE, "bound to %lld channel%s, got %lld",
                            (long long)l->bound_in, l->bound_in == 1 ? "" : "s",
                            (long long)in->d[1]);
  if (bind && !l->bound) {
    inc_status s = inc__layer_bind(l, in->d[1]);
    if (s != INC_OK) return s;
  }
  *out = *in;
  return INC_OK;
}

/* x's dimensions as the ops take them: (N, C, P), or (1, C, N*P) when its
 * bytes are channel-major. */
static void op_dims(const inc_tensor *x, int64_t *n, int64_t *c, int64_t *p)
{
  *c = x->dims[1];
  *p = inc__plane(x);
  *n = x->dims[0];
  if (!inc__as_nchw(x)) {
    *p *= *n;
    *n = 1;
  }
}

static inc_status bn_plan_fwd(inc__plan *p, inc__step *st)
{
  const inc_tensor *x = inc__pv(p, st->x);
  int64_t c = x->dims[1], m = x->dims[0] * inc__plane(x);
  int cnhw = x->cnhw;
  char buf[96];
  inc__shape in;
  inc__shape_of(x, &in);
  if (p->training && m < 2)
    return inc__layer_error(st->layer, INC_ERR_SHAPE,
                            "training needs more than one value per channel, got input %s",
                            inc__shape_str(&in, buf, sizeof buf));
  if (p->training && ((st->aux[A_MEAN] = inc__plan_scratch(p, c)) < 0 ||   /* mean (C) */
                      (st->aux[A_INVSTD] = inc__plan_scratch(p, c)) < 0 || /* invstd (C) */
                      (st->aux[A_VAR] = inc__plan_scratch(p, c)) < 0))     /* var (C) */
    return INC_ERR_OUT_OF_MEMORY;
  inc__pv(p, st->y)->cnhw = cnhw;
  return INC_OK;
}

static inc_status bn_run_fwd(const inc__plan *p, const inc__step *st)
{
  inc_context *ctx = p->ctx;
  inc_layer *l = st->layer;
  const bn_priv *b = (const bn_priv *)l->priv;
  const inc_tensor *x = inc__pv(p, st->x);
  float *y = inc__pv(p, st->y)->data;
  const float *w = l->params[P_WEIGHT].value->data, *bias = l->params[P_BIAS].value->data;
  const float *rm = l->buffers[B_MEAN].value->data, *rv = l->buffers[B_VAR].value->data;
  int64_t n, c, pl;
  op_dims(x, &n, &c, &pl);
  if (!p->training)
    return ctx->ops->bn_fwd_eval(y, x->data, w, bias, rm, rv, n, c, pl, b->eps, st->relu, ctx);
  return ctx->ops->bn_fwd_train(y, inc__pv(p, st->aux[A_MEAN])->data,
                                inc__pv(p, st->aux[A_INVSTD])->data,
                                inc__pv(p, st->aux[A_VAR])->data, x->data, w, bias, n, c, pl,
                                b->eps, st->relu, ctx);
}

/* Once the whole training forward succeeded: the running statistics move
 * towards the batch's and the batch is counted (inc__layer_vt.commit). */
static inc_status bn_commit(const inc__plan *p, const inc__step *st)
{
  inc_layer *l = st->layer;
  const bn_priv *b = (const bn_priv *)l->priv;
  const inc_tensor *x = inc__pv(p, st->x);
  return p->ctx->ops->bn_running(l->buffers[B_MEAN].value->data, l->buffers[B_VAR].value->data,
                                 l->buffers[B_COUNT].value->data,
                                 inc__pv(p, st->aux[A_MEAN])->data,
                                 inc__pv(p, st->aux[A_VAR])->data, x->dims[1],
                                 x->dims[0] * inc__plane(x), b->momentum, p->ctx);
}

/* Backward reads x and the forward's mean and invstd; its input gradient
 * is a new value like x. It also names var, which the commit after the
 * forward reads: a saved value lives until its last reader. */
static inc_status bn_plan_bwd(inc__plan *p, inc__step *st, const inc__sink *sink)
{
  (void)sink;
  const inc__step *f = &p->fwd[st->fwd];
  st->aux[0] = f->x;
  st->aux[1] = f->aux[A_MEAN];
  st->aux[2] = f->aux[A_INVSTD];
  st->aux[3] = f->aux[A_VAR];
  st->dx = inc__plan_like(p, f->x);
  return st->dx < 0 ? INC_ERR_OUT_OF_MEMORY : INC_OK;
}

static inc_status bn_run_bwd(const inc__plan *p, const inc__step *st)
{
  inc_context *ctx = p->ctx;
  inc_layer *l = st->layer;
  const inc_tensor *x = inc__pv(p, st->aux[0]);
  int64_t n, c, pl;
  op_dims(x, &n, &c, &pl);
  float *dx = inc__plan_dx_wanted(p, st) ? inc__pv(p, st->dx)->data : NULL;
  return ctx->ops->bn_bwd(dx, l->params[P_WEIGHT].grad->data, l->params[P_BIAS].grad->data,
                          inc__pv(p, st->dy)->data, x->data, inc__pv(p, st->aux[1])->data,
                          inc__pv(p, st->aux[2])->data, l->params[P_WEIGHT].value->data, n, c,
                          pl, ctx);
}

inc_status inc__batch_norm2d_fold(const inc_layer *bn, float *w_out, float *b_out,
                                  const float *w, const float *b, int64_t oc, int64_t k)
{
  const bn_priv *c = (const bn_priv *)bn->priv;
  inc_context *ctx = bn->ctx;
  return ctx->ops->bn_fold(w_out, b_out, w, b, bn->params[P_WEIGHT].value->data,
                           bn->params[P_BIAS].value->data, bn->buffers[B_MEAN].value->data,
                           bn->buffers[B_VAR].value->data, oc, k, c->eps, ctx);
}

int inc__batch_norm2d_settings(const inc_layer *l, float *eps, float *momentum)
{
  if (l->vt != &inc__batch_norm2d_vt) return 0;
  const bn_priv *c = (const bn_priv *)l->priv;
  if (eps) *eps = c->eps;
  if (momentum) *momentum = c->momentum;
  return 1;
}

static void bn_describe(const inc_layer *l, char *buf, size_t cap)
{
  const bn_priv *c = (const bn_priv *)l->priv;
  snprintf(buf, cap, "eps %g momentum %g", (double)c->eps, (double)c->momentum);
}

/* weight, bias (C): ones, zeros; running_mean, running_var (C): zeros, ones;
 * num_batches_tracked: one count (PyTorch's 0-d int64 in files) */
static const inc__tensor_decl bn_tensors[] = {
    {"weight", 1, 1, {INC__DIM_IN}, INC__INIT_ONES, 0.0f},
    {"bias", 1, 1, {INC__DIM_IN}, INC__INIT_ZEROS, 0.0f},
    {"running_mean", 0, 1, {INC__DIM_IN}, INC__INIT_ZEROS, 0.0f},
    {"running_var", 0, 1, {INC__DIM_IN}, INC__INIT_ONES, 0.0f},
    {"num_batches_tracked", 0, 1, {1}, INC__INIT_COUNT, 0.0f},
    {NULL, 0, 0, {0}, INC__INIT_ZEROS, 0.0f},
};

const inc__layer_vt inc__batch_norm2d_vt = {
    .kind = "batch_norm2d",
    .epilogue = INC__EPI_BN,
    .fuses = INC__EPI_RELU,
    .ops = {INC__OP_BIT(bn_fwd_train) | INC__OP_BIT(bn_fwd_eval) | INC__OP_BIT(bn_running),
            INC__OP_BIT(bn_bwd)},
    .infer = bn_infer,
    .plan_fwd = bn_plan_fwd,
    .plan_bwd = bn_plan_bwd,
    .run_fwd = bn_run_fwd,
    .run_bwd = bn_run_bwd,
    .commit = bn_commit,
    .tensors = bn_tensors,
    .describe = bn_describe,
};

INC_API inc_status inc_batch_norm2d_create(inc_context *ctx, float eps, float momentum,
                                           inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_batch_norm2d_create");
  if (s != INC_OK) return s;
  if (!(eps > 0.0f) || !isfinite(eps) || !(momentum >= 0.0f && momentum <= 1.0f))
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "inc_batch_norm2d_create: eps %g must be finite and > 0, momentum %g in "
                      "[0, 1]",
                      (double)eps, (double)momentum);
  inc_layer *l;
  s = inc__layer_new(ctx, &inc__batch_norm2d_vt, sizeof(bn_priv), &l);
  if (s != INC_OK) return s;
  bn_priv *c = (bn_priv *)l->priv;
  c->eps = eps;
  c->momentum = momentum;
  *out = l;
  return INC_OK;
}
