/*
 * plan_run.c — running an execution plan (see plan.h): the arena, the data
 * pointers of the values, and the walks over the forward and backward step
 * lists. A layer step calls its kind's run function; the data-moving steps
 * the plan adds itself (layout swaps at the boundary, concat slices and
 * gradient sums) call one backend op each (a residual's scaled dy, two:
 * zero, then axpy).
 */
#include "grad_buckets.h"

/* The address of value v: external values hold the caller's pointer,
 * placed ones their arena offset, views their base's plus an offset. */
static float *addr(const inc__plan *p, const char *arena, int v)
{
  const inc__val *a = &p->vals[v];
  if (a->base >= 0) {
    float *b = addr(p, arena, a->base);
    return b ? b + a->off : NULL;
  }
  if (a->external) return a->t.data;
  if (a->first < 0) return NULL; /* never used (a fused ReLU's old output) */
  return (float *)(arena + a->at);
}

static void bind(inc__plan *p)
{
  const char *arena = (const char *)p->root->arena;
  for (int i = 0; i < p->nvals; i++)
    if (!p->vals[i].external) p->vals[i].t.data = addr(p, arena, i);
}

static inc_status ensure_arena(inc__plan *p)
{
  inc_layer *l = p->root;
  inc_context *ctx = p->ctx;
  if (l->arena_bytes >= p->arena_bytes && (l->arena || !p->arena_bytes)) return INC_OK;
  void *a = NULL;
  inc_status s = ctx->ops->alloc(&a, p->arena_bytes, ctx);
  if (s != INC_OK) return s;
  ctx->ops->free(l->arena, ctx);
  l->arena = a;
  l->arena_bytes = p->arena_bytes;
  for (int i = 0; i < 2; i++) /* what the other plan kept lay in the old arena */
    if (l->plans[i]) l->plans[i]->trained = INC__TRAINED_NONE;
  return INC_OK;
}

static inc_status run_primitive(const inc__plan *p, const inc__step *st)
{
  inc_context *ctx = p->ctx;
  float *y = inc__pv(p, st->y)->data;
  const inc_tensor *x = inc__pv(p, st->x);
  switch (st->op) {
  case INC__STEP_SWAP:
    return ctx->ops->swap01(y, x->data, st->dim[0], st->dim[1], st->dim[2], ctx);
  case INC__STEP_COPY:
    return ctx->ops->copy(y, x->data, (size_t)x->numel * sizeof(float), ctx);
  case INC__STEP_AXPY:
    return ctx->ops->axpy(y, x->data, st->alpha, x->numel, ctx);
  case INC__STEP_SCALE: {
    inc_status s = ctx->ops->zero(y, (size_t)x->numel * sizeof(float), ctx);
    return s != INC_OK ? s : ctx->ops->axpy(y, x->data, st->alpha, x->numel, ctx);
  }
  default: /* INC__STEP_SLICE */
    return ctx->ops->slice(x->data, y, 0, st->dim[0], st->dim[1], st->dim[2], st->dim[3],
                           st->dim[4], ctx);
  }
}

static inc_status run_step(const inc__plan *p, const inc__step *st)
{
  inc_context *ctx = p->ctx;
  if (st->op != INC__STEP_FWD && st->op != INC__STEP_BWD) return run_primitive(p, st);
  if (st->pass) return INC_OK;
  const inc__layer_vt *vt = st->layer->vt;
  int bwd = st->op == INC__STEP_BWD;
  int timed = ctx->prof && !vt->is_container;
  double t0 = timed ? inc__prof_now() : 0.0;
  inc_status s = bwd ? vt->run_bwd(p, st) : vt->run_fwd(p, st);
  if (s == INC_OK && timed) {
    ctx->ops->synchronize(ctx);
    inc__prof_layer(ctx, vt->kind, bwd, inc__prof_now() - t0);
  }
  return s;
}

static inc_status run_forward(inc__plan *p)
{
  inc_status s = INC_OK;
  for (int i = 0; s == INC_OK && i < p->nfwd; i++) s = run_step(p, &p->fwd[i]);
  return s;
}

inc_status inc__plan_forward(inc__plan *p, const inc_tensor *x)
{
  inc_status s = ensure_arena(p);
  if (s != INC_OK) return s;
  for (int i = 0; i < 2; i++) /* both plans of the layer share its arena */
    if (p->root->plans[i]) p->root->plans[i]->trained = INC__TRAINED_NONE;
  p->vals[p->x].t.data = x->data;
  bind(p);
  /* fresh random streams (dropout masks), taken from the context only
   * when the forward succeeded: a failed call changes nothing */
  p->rng_seed = p->ctx->seed;
  p->rng_stream = p->ctx->rng_stream;
  if (p->training) inc__values_changed(p->ctx); /* running statistics (commit below) */
  if ((s = run_forward(p)) != INC_OK) return s;
  for (int i = 0; p->training && i < p->nfwd; i++) { /* the forward succeeded: its effects */
    const inc__step *st = &p->fwd[i];
    if (st->op == INC__STEP_FWD && !st->pass && st->layer->vt->commit &&
        (s = st->layer->vt->commit(p, st)) != INC_OK)
      return s;
  }
  p->ctx->rng_stream += (uint64_t)p->nrandom;
  p->trained = p->training ? INC__TRAINED_FRESH : INC__TRAINED_NONE;
  return INC_OK;
}

inc_status inc__plan_backward(inc__plan *p, const inc_tensor *dy, int want_dx)
{
  inc_status s = INC_OK;
  p->vals[p->dy_ext].t.data = dy->data;
  bind(p);
  /* A backward reuses saved values' memory once it has read them: a second
   * backward for the same forward first runs that forward again (from the
   * same x, which the caller keeps unchanged): same values, same result. */
  if (p->trained == INC__TRAINED_USED && (s = run_forward(p)) != INC_OK) return s;
  p->trained = INC__TRAINED_USED;
  p->no_dx = !want_dx;
  for (int i = 0; s == INC_OK && i < p->nbwd; i++) {
    const inc__step *st = &p->bwd[i];
    if (p->no_dx && st->skip_no_dx) continue;
    s = run_step(p, st);
    if (s == INC_OK && p->root->grad_hook) s = inc__grad_buckets_step(p, st); /* buckets done */
  }
  p->no_dx = 0;
  return s;
}
