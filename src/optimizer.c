/*
 * optimizer.c — SGD with momentum and weight decay, PyTorch's rule.
 *
 * Momentum buffers are keyed by the parameter tensor's identity (uid), not
 * by its position, so they follow a parameter for its whole life; buffers
 * of parameters that no longer exist (after an unbind) are dropped at the
 * next step.
 */
#include <math.h>
#include <stdio.h>
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
  if (s == INC_OK) inc__values_changed(ctx);
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

/* ---- the state as named tensors ---- */

#define MOMENTUM_PREFIX "momentum/"

int inc__opt_is_state(const char *name)
{
  return !strncmp(name, MOMENTUM_PREFIX, strlen(MOMENTUM_PREFIX));
}

void inc__opt_state_free(inc__opt_state *st)
{
  for (int i = 0; i < st->n; i++) {
    if (st->names) inc__free(st->names[i]);
    if (st->loaded) inc__tensor_free(st->loaded[i]);
  }
  inc__free(st->names);
  inc__free((void *)st->params);
  inc__free((void *)st->held);
  inc__free(st->loaded);
  memset(st, 0, sizeof *st);
}

inc_status inc__opt_state_list(const inc_optimizer *opt, const inc_layer *model,
                               inc__opt_state *st)
{
  memset(st, 0, sizeof *st);
  inc__param **params;
  inc_layer **leaves;
  int n;
  inc_status s = inc__collect_params(model, &params, &leaves, &n);
  if (s != INC_OK) return s;
  st->names = (char **)inc__calloc((size_t)n + 1, sizeof *st->names);
  st->params = (const inc_tensor **)inc__calloc((size_t)n + 1, sizeof *st->params);
  st->held = (const inc_tensor **)inc__calloc((size_t)n + 1, sizeof *st->held);
  st->loaded = (inc_tensor **)inc__calloc((size_t)n + 1, sizeof *st->loaded);
  if (!st->names || !st->params || !st->held || !st->loaded)
    s = inc__error(model->ctx, INC_ERR_OUT_OF_MEMORY, "optimizer state: out of host memory");
  else
    st->n = n;
  for (int i = 0; s == INC_OK && i < n; i++) {
    char pname[1024], buf[1100];
    inc__param_name(model, leaves[i], params[i]->decl->name, pname, sizeof pname);
    snprintf(buf, sizeof buf, "%s%s", MOMENTUM_PREFIX, pname);
    if (!(st->names[i] = inc__strdup(buf))) {
      s = inc__error(model->ctx, INC_ERR_OUT_OF_MEMORY, "optimizer state: out of host memory");
      break;
    }
    st->params[i] = params[i]->value;
    inc__opt_slot *slot = opt ? inc__opt_find((inc_optimizer *)opt, params[i]->value->uid) : NULL;
    st->held[i] = slot && !slot->first ? slot->buf : NULL;
  }
  inc__free(params);
  inc__free(leaves);
  if (s != INC_OK) inc__opt_state_free(st);
  return s;
}

inc_status inc__opt_state_make(inc_optimizer *opt, inc__opt_state *st, int i)
{
  if (st->loaded[i]) return INC_OK;
  int made = 0;
  for (int j = 0; j < st->n; j++) made += st->loaded[j] != NULL;
  /* install puts one slot per loaded tensor after it drops those of st */
  inc_status s = inc__opt_reserve(opt, made + 1);
  if (s != INC_OK) return s;
  const inc_tensor *p = st->params[i];
  return inc__tensor_new(opt->ctx, p->ndim, p->dims, &st->loaded[i]);
}

void inc__opt_state_install(inc_optimizer *opt, inc__opt_state *st)
{
  for (int i = 0; i < st->n; i++) {
    inc__opt_slot *slot = inc__opt_find(opt, st->params[i]->uid);
    if (slot) {
      inc__tensor_free(slot->buf);
      *slot = opt->slots[--opt->n];
    }
  }
  for (int i = 0; i < st->n; i++) {
    if (!st->loaded[i]) continue;
    inc__opt_put(opt, st->params[i]->uid, st->loaded[i]);
    st->loaded[i] = NULL;
  }
}
