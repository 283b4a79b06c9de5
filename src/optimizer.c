/*
 * optimizer.c — SGD with momentum and weight decay, PyTorch's rule.
 *
 * Momentum buffers are keyed by the parameter tensor's identity (uid), not
 * by its position, so they follow a parameter for its whole life; buffers
 * of parameters that no longer exist (after an unbind) are dropped at the
 * next step.
 */
#include <math.h>
#include <string.h>
#include "optimizer.h"

INC_API inc_status inc_sgd_create(inc_context *ctx, float lr, float momentum, float weight_decay,
                                  inc_optimizer **out)
{
  if (!out) return inc__error(ctx, INC_ERR_INVALID_ARGUMENT, "inc_sgd_create: out is NULL");
  *out = NULL;
  if (!ctx) return INC_ERR_INVALID_ARGUMENT;
  inc_status s = inc__begin(ctx);
  if (s != INC_OK) return s;
  if (!(lr > 0.0f) || !isfinite(lr) || !(momentum >= 0.0f && momentum < 1.0f) ||
      !(weight_decay >= 0.0f) || !isfinite(weight_decay))
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "inc_sgd_create: need lr > 0 (got %g), 0 <= momentum < 1 (got %g), "
                      "weight_decay >= 0 (got %g), all finite",
                      (double)lr, (double)momentum, (double)weight_decay);
  inc_optimizer *o = (inc_optimizer *)inc__calloc(1, sizeof *o);
  if (!o) return inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "inc_sgd_create: out of host memory");
  o->ctx = ctx;
  o->lr = lr;
  o->momentum = momentum;
  o->weight_decay = weight_decay;
  *out = o;
  return INC_OK;
}

INC_API void inc_optimizer_destroy(inc_optimizer *opt)
{
  if (!opt) return;
  for (int i = 0; i < opt->n; i++) inc__tensor_free(opt->slots[i].buf);
  inc__free(opt->slots);
  inc__free(opt);
}

INC_API inc_status inc_optimizer_set_lr(inc_optimizer *opt, float lr)
{
  if (!opt) return INC_ERR_INVALID_ARGUMENT;
  inc__begin(opt->ctx);
  if (!(lr > 0.0f) || !isfinite(lr))
    return inc__error(opt->ctx, INC_ERR_INVALID_ARGUMENT,
                      "inc_optimizer_set_lr: lr must be finite and > 0, got %g", (double)lr);
  opt->lr = lr;
  return INC_OK;
}

INC_API float inc_optimizer_lr(const inc_optimizer *opt) { return opt ? opt->lr : 0.0f; }

inc__opt_slot *inc__opt_find(inc_optimizer *opt, uint64_t uid)
{
  for (int i = 0; i < opt->n; i++)
    if (opt->slots[i].uid == uid) return &opt->slots[i];
  return NULL;
}

inc_status inc__opt_reserve(inc_optimizer *opt, int extra)
{
  if (opt->n + extra <= opt->cap) return INC_OK;
  int cap = opt->cap ? opt->cap : 64;
  while (cap < opt->n + extra) cap *= 2;
  inc__opt_slot *s = (inc__opt_slot *)inc__realloc(opt->slots, (size_t)cap * sizeof *s);
  if (!s) return inc__error(opt->ctx, INC_ERR_OUT_OF_MEMORY, "optimizer: out of host memory");
  opt->slots = s;
  opt->cap = cap;
  return INC_OK;
}

void inc__opt_put(inc_optimizer *opt, uint64_t uid, inc_tensor *buf)
{
  inc__opt_slot *slot = &opt->slots[opt->n++];
  slot->uid = uid;
  slot->buf = buf;
  slot->first = 0;
  slot->seen = opt->step;
}

inc_status inc__opt_add(inc_optimizer *opt, const inc_tensor *param, inc__opt_slot **out)
{
  inc_status s = inc__opt_reserve(opt, 1);
  if (s != INC_OK) return s;
  inc__opt_slot *slot = &opt->slots[opt->n];
  memset(slot, 0, sizeof *slot);
  s = inc__tensor_new(opt->ctx, param->ndim, param->dims, &slot->buf);
  if (s != INC_OK) return s;
  slot->uid = param->uid;
  slot->first = 1;
  opt->n++;
  *out = slot;
  return INC_OK;
}

INC_API inc_status inc_optimizer_step(inc_optimizer *opt, inc_layer *model)
{
  if (!opt) return INC_ERR_INVALID_ARGUMENT;
  inc_context *ctx = opt->ctx;
  inc_status s = inc__begin(ctx);
  if (s != INC_OK) return s;
  if (!model) return inc__error(ctx, INC_ERR_INVALID_ARGUMENT, "optimizer step: model is NULL");
  if (model->ctx != ctx)
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "optimizer step: the model belongs to another context");
  if (!inc_layer_is_bound(model) || inc_layer_param_count(model) == 0)
    return inc__error(ctx, INC_ERR_STATE,
                      "optimizer step: the model has no bound parameters yet (run a forward "
                      "pass or inc_layer_infer_shape first)");
  inc__param **params;
  int n;
  if ((s = inc__collect_params(model, &params, NULL, &n)) != INC_OK) return s;
  /* Make every momentum buffer first, so a failure changes nothing. */
  for (int i = 0; s == INC_OK && opt->momentum != 0.0f && i < n; i++) {
    inc__opt_slot *slot;
    if (!inc__opt_find(opt, params[i]->value->uid)) s = inc__opt_add(opt, params[i]->value, &slot);
  }
  for (int i = 0; s == INC_OK && i < n; i++) {
    inc__param *p = params[i];
    inc__opt_slot *slot = opt->momentum != 0.0f ? inc__opt_find(opt, p->value->uid) : NULL;
    s = ctx->ops->sgd(p->value->data, slot ? slot->buf->data : NULL, p->grad->data,
                      p->value->numel, opt->lr, opt->momentum, opt->weight_decay,
                      slot ? slot->first : 1, ctx);
    if (slot) {
      slot->first = 0;
      slot->seen = opt->step + 1;
    }
  }
  inc__free(params);
  if (s != INC_OK) return s;
  opt->step++;
  /* Drop the buffers of parameters that are gone. */
  int keep = 0;
  for (int i = 0; i < opt->n; i++) {
    if (opt->slots[i].seen == opt->step)
      opt->slots[keep++] = opt->slots[i];
    else
      inc__tensor_free(opt->slots[i].buf);
  }
  opt->n = keep;
  return INC_OK;
}
