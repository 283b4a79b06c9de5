/*
 * dropout.c — inverted dropout (PyTorch's), any shape. A training forward
 * keeps each element with probability 1 - p and scales it by 1/(1 - p),
 * else writes 0. The mask is not stored: it is a pure function of (seed,
 * random stream, element index) (inc__k_dropout_keep), each training
 * forward takes a fresh stream of the context (the plan records which,
 * src/plan.h), and backward regenerates the same mask from it: dx = dy *
 * mask / (1 - p). A forward run again for a second backward reads the same
 * recorded stream, so it gives the same mask too.
 *
 * At inference, and with p = 0 in both modes, dropout is the identity: the
 * plan passes the input on with no copy, like a fused ReLU (a copy only
 * when the layer's input is the caller's x and its output the caller's y).
 */
#include <stdio.h>
#include "../plan.h"

typedef struct dropout_priv {
  float p;
} dropout_priv;

static float rate(const inc_layer *l) { return ((const dropout_priv *)l->priv)->p; }

static inc_status dropout_infer(inc_layer *l, const inc__shape *in, inc__shape *out, int bind)
{
  (void)l;
  (void)bind;
  *out = *in;
  return INC_OK;
}

/* Decides between the three ways a forward step runs: passing x on (the
 * identity), copying it (the identity, when it cannot pass), or masking
 * it with a random stream of its own (training, p > 0). */
static inc_status dropout_plan_fwd(inc__plan *p, inc__step *st)
{
  inc__pv(p, st->y)->cnhw = inc__pv(p, st->x)->cnhw;
  if (p->training && rate(st->layer) > 0.0f)
    inc__plan_take_random(p, st);
  else
    inc__plan_pass(p, st);
  return INC_OK;
}

/* x (N, C, ...) in either layout: what the op needs to follow the logical
 * index whatever the layout. */
static inc_status apply(const inc__plan *p, const inc__step *st, float *y, const inc_tensor *x)
{
  int64_t n = x->dims[0], c = x->ndim > 1 ? x->dims[1] : 1;
  return p->ctx->ops->dropout(y, x->data, n, c, inc__plane(x), !inc__as_nchw(x),
                              rate(st->layer), p->rng_seed, inc__plan_stream(p, st), p->ctx);
}

/* Runs unless passed: masking (training, p > 0) or the copy of the caller's
 * x that the caller gets as y. */
static inc_status dropout_run_fwd(const inc__plan *p, const inc__step *st)
{
  const inc_tensor *x = inc__pv(p, st->x);
  float *y = inc__pv(p, st->y)->data;
  if (p->training && rate(st->layer) > 0.0f) return apply(p, st, y, x);
  return p->ctx->ops->copy(y, x->data, (size_t)x->numel * sizeof(float), p->ctx);
}

/* dx has x's shape and layout: written into the container's sum when it
 * is to be written (not added to), else a value of its own. */
static inc_status dropout_plan_bwd(inc__plan *p, inc__step *st, const inc__sink *sink)
{
  if (sink->val >= 0 && !sink->accum) {
    st->dx = sink->val;
    return INC_OK;
  }
  st->dx = inc__plan_like(p, p->fwd[st->fwd].x);
  return st->dx < 0 ? INC_ERR_OUT_OF_MEMORY : INC_OK;
}

/* dx = dy * mask / (1 - p) with the forward's stream; p = 0: dx = dy. */
static inc_status dropout_run_bwd(const inc__plan *p, const inc__step *st)
{
  const inc_tensor *dy = inc__pv(p, st->dy);
  float *dx = inc__pv(p, st->dx)->data;
  if (rate(st->layer) > 0.0f) return apply(p, &p->fwd[st->fwd], dx, dy);
  return p->ctx->ops->copy(dx, dy->data, (size_t)dy->numel * sizeof(float), p->ctx);
}

static void dropout_describe(const inc_layer *l, char *buf, size_t cap)
{
  snprintf(buf, cap, "p=%g", (double)rate(l));
}

const inc__layer_vt inc__dropout_vt = {
    .kind = "dropout",
    .ops = {INC__OP_BIT(dropout), INC__OP_BIT(dropout)},
    .infer = dropout_infer,
    .plan_fwd = dropout_plan_fwd,
    .plan_bwd = dropout_plan_bwd,
    .run_fwd = dropout_run_fwd,
    .run_bwd = dropout_run_bwd,
    .describe = dropout_describe,
};

INC_API inc_status inc_dropout_create(inc_context *ctx, float p, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_dropout_create");
  if (s != INC_OK) return s;
  if (!(p >= 0.0f && p < 1.0f)) /* NaN fails too */
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "inc_dropout_create: p = %g is outside [0, 1)", (double)p);
  s = inc__layer_new(ctx, &inc__dropout_vt, sizeof(dropout_priv), out);
  if (s == INC_OK) ((dropout_priv *)(*out)->priv)->p = p;
  return s;
}
