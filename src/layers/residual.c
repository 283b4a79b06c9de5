/*
 * residual.c — the residual sum, the container of Inception-ResNet blocks:
 * every branch gets the same input and y = sum over branches of scale_b *
 * branch_b(x) (an identity branch plus a block scaled by 0.1-0.3; scale 1
 * is a plain sum). Branch outputs must agree in shape. The scales are
 * settings, not parameters: not trained, not saved; the summary and the
 * ONNX export show them.
 *
 * Plan: the branches' steps, then one step summing their outputs into y
 * with the registry's axpy (the first term copied in, or zeroed and added
 * when it is scaled). Branch outputs may come in either layout (layer.h):
 * y takes the one most of them have (channel-major on a tie) and a branch
 * in the other is swapped on the way, through a scratch. Backward hands
 * each branch dy times its scale in the layout of its output (dy itself
 * when neither changes it) and sums the branches' input gradients with the
 * container's sink as concat does; the branches that pass x on
 * (identities) come last and add dy, scaled, straight into that sum, so
 * that a branch with steps can write it first.
 */
#include <math.h>
#include <stdio.h>
#include "../plan.h"

typedef struct res_priv {
  float *scale; /* (cap): the branches' scales, in branch order */
  int cap;
} res_priv;

static const float *scales(const inc_layer *l) { return ((const res_priv *)l->priv)->scale; }

static inc_status res_infer(inc_layer *l, const inc__shape *in, inc__shape *out, int bind)
{
  if (!l->nchildren) return inc__layer_error(l, INC_ERR_STATE, "the residual has no branch");
  inc__shape first;
  for (int i = 0; i < l->nchildren; i++) {
    inc__shape o;
    inc_status s = l->children[i]->vt->infer(l->children[i], in, &o, bind);
    if (s != INC_OK) return s;
    if (i == 0) first = o;
    char a[96], b[96];
    if (!inc__shape_eq(&o, &first))
      return inc__layer_error(l, INC_ERR_SHAPE,
                              "branch %s gives %s but branch %s gives %s; the branches of a "
                              "residual sum must agree in shape",
                              l->children[i]->name, inc__shape_str(&o, a, sizeof a),
                              l->children[0]->name, inc__shape_str(&first, b, sizeof b));
  }
  *out = first;
  return INC_OK;
}

/* The branches' steps, then one step for the sum (inc__plan_emit_branches). */
static inc_status res_emit(inc_layer *l, inc__plan *p, int x, int *y)
{
  return inc__plan_emit_branches(l, p, x, 0, y);
}

/* 1 if two tensors of one shape have their bytes laid out alike. */
static int same_layout(const inc_tensor *a, const inc_tensor *b)
{
  return inc__as_nchw(a) == inc__as_nchw(b);
}

/* 1 if term i of the sum goes into y as it is (copied or swapped in): the
 * first term, unscaled. */
static int direct(const float *scale, int i) { return i == 0 && scale[0] == 1.0f; }

/* y takes the layout most branch outputs have; a scratch (aux 0) when a
 * branch in the other layout cannot be swapped straight into y. */
static inc_status res_plan_fwd(inc__plan *p, inc__step *st)
{
  const float *scale = scales(st->layer);
  int cnhw = 0, nchw = 0;
  for (int i = 0; i < st->nin; i++) {
    const inc_tensor *b = inc__pv(p, p->ins[st->in + i]);
    cnhw += !inc__as_nchw(b);
    nchw += !inc__as_cnhw(b);
  }
  inc__pv(p, st->y)->cnhw = cnhw >= nchw;
  for (int i = 0; i < st->nin; i++)
    if (!direct(scale, i) && !same_layout(inc__pv(p, p->ins[st->in + i]), inc__pv(p, st->y))) {
      st->aux[0] = inc__plan_scratch(p, inc__pv(p, st->y)->numel); /* y's shape, other layout */
      return st->aux[0] < 0 ? INC_ERR_OUT_OF_MEMORY : INC_OK;
    }
  return INC_OK;
}

/* dst = t (N, C, ...) in the other layout (t's layouts differ: N, C > 1). */
static inc_status swap_layout(inc_context *ctx, float *dst, const inc_tensor *t)
{
  int64_t n = t->dims[0], c = t->dims[1];
  return ctx->ops->swap01(dst, t->data, t->cnhw ? c : n, t->cnhw ? n : c, inc__plane(t), ctx);
}

static inc_status res_run_fwd(const inc__plan *p, const inc__step *st)
{
  inc_context *ctx = p->ctx;
  const float *scale = scales(st->layer);
  const inc_tensor *y = inc__pv(p, st->y); /* (N, C, ...) */
  float *tmp = st->aux[0] >= 0 ? inc__pv(p, st->aux[0])->data : NULL; /* y's shape */
  size_t bytes = (size_t)y->numel * sizeof(float);
  inc_status s = INC_OK;
  for (int i = 0; s == INC_OK && i < st->nin; i++) {
    const inc_tensor *b = inc__pv(p, p->ins[st->in + i]); /* (N, C, ...) */
    const float *src = b->data;
    if (direct(scale, i)) {
      s = same_layout(b, y) ? ctx->ops->copy(y->data, src, bytes, ctx)
                            : swap_layout(ctx, y->data, b);
      continue;
    }
    if (!same_layout(b, y)) {
      s = swap_layout(ctx, tmp, b);
      src = tmp;
    }
    if (s == INC_OK && i == 0) s = ctx->ops->zero(y->data, bytes, ctx);
    if (s == INC_OK) s = ctx->ops->axpy(y->data, src, scale[i], y->numel, ctx);
  }
  return s;
}

/* 1 if branch l passes its input on with no step of its own: an identity,
 * or a sequential of them. */
static int passes_input(const inc_layer *l)
{
  if (l->vt == &inc__identity_vt) return 1;
  if (l->vt != &inc__sequential_vt) return 0;
  for (int i = 0; i < l->nchildren; i++)
    if (!passes_input(l->children[i])) return 0;
  return 1;
}

/* Adds a step y = alpha x (INC__STEP_SCALE) or y += alpha x (_AXPY); -1
 * when out of memory. */
static int scaled(inc__plan *p, int op, int y, int x, float alpha)
{
  inc__step st;
  inc__plan_step_init(&st, op, NULL);
  st.x = x;
  st.y = y;
  st.alpha = alpha;
  return inc__plan_step(p, &st);
}

/* dy times scale in the layout of value `like`: dy itself when neither
 * changes it, else a new value (a SCALE step, then a SWAP one if the
 * layouts differ); -1 when out of memory. */
static int dy_as(inc__plan *p, int dy, int like, float scale)
{
  const inc_tensor *g = inc__pv(p, dy), *lt = inc__pv(p, like);
  inc__shape s;
  inc__shape_of(g, &s); /* read first: adding a value moves the values */
  int same = same_layout(g, lt), g_cnhw = g->cnhw, l_cnhw = lt->cnhw;
  int64_t n = s.d[0], c = s.d[1], pl = inc__plane(g);
  if (scale != 1.0f) {
    int v = inc__plan_value(p, &s, same ? l_cnhw : g_cnhw);
    if (v < 0 || scaled(p, INC__STEP_SCALE, v, dy, scale) < 0) return -1;
    dy = v;
  }
  if (same) return dy;
  int v = inc__plan_value(p, &s, l_cnhw);
  if (v < 0 ||
      inc__plan_move(p, INC__STEP_SWAP, v, dy, g_cnhw ? c : n, g_cnhw ? n : c, pl, 0, 0) < 0)
    return -1;
  return v;
}

/* The branches with steps in order, each summing its input gradient into
 * the residual's (the first writes, the others add: themselves, through
 * the sink, or by a copy / axpy step after them); then the branches that
 * pass x on, whose input gradient is dy times their scale. Like concat's,
 * the sum is the container's sink only when it is written first. */
static inc_status res_emit_bwd(inc_layer *l, inc__plan *p, int dy, const inc__sink *sink,
                               int *dx)
{
  const float *scale = scales(l);
  int f = inc__plan_fwd_step(p, l), x = p->fwd[f].x, in0 = p->fwd[f].in;
  int own = sink->val < 0 || sink->accum;
  int sum = own ? inc__plan_like(p, x) : sink->val, filled = 0, dyx = -1;
  if (sum < 0) return INC_ERR_OUT_OF_MEMORY;
  for (int i = 0; i < l->nchildren; i++) {
    if (passes_input(l->children[i])) continue;
    int part = dy_as(p, dy, p->ins[in0 + i], scale[i]), bdx;
    if (part < 0) return INC_ERR_OUT_OF_MEMORY;
    inc__sink into = {sum, filled};
    inc_status s = inc__plan_emit_bwd(l->children[i], p, part, &into, &bdx);
    if (s != INC_OK) return s;
    if (bdx != sum &&
        inc__plan_move(p, filled ? INC__STEP_AXPY : INC__STEP_COPY, sum, bdx, 0, 0, 0, 0, 0) < 0)
      return INC_ERR_OUT_OF_MEMORY;
    filled = 1;
  }
  for (int i = 0; i < l->nchildren; i++) {
    if (!passes_input(l->children[i])) continue;
    if (dyx < 0 && (dyx = dy_as(p, dy, x, 1.0f)) < 0) return INC_ERR_OUT_OF_MEMORY;
    int r = filled              ? scaled(p, INC__STEP_AXPY, sum, dyx, scale[i])
            : scale[i] != 1.0f ? scaled(p, INC__STEP_SCALE, sum, dyx, scale[i])
                               : inc__plan_move(p, INC__STEP_COPY, sum, dyx, 0, 0, 0, 0, 0);
    if (r < 0) return INC_ERR_OUT_OF_MEMORY;
    filled = 1;
  }
  *dx = sum;
  return INC_OK;
}

float inc__residual_scale(const inc_layer *l, int i) { return scales(l)[i]; }

static void res_describe(const inc_layer *l, char *buf, size_t cap)
{
  size_t used = (size_t)snprintf(buf, cap, "scale%s", l->nchildren == 1 ? "" : "s");
  for (int i = 0; i < l->nchildren && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%g", i ? ", " : " ",
                             (double)scales(l)[i]);
}

static void res_destroy(inc_layer *l) { inc__free(((res_priv *)l->priv)->scale); }

const inc__layer_vt inc__residual_vt = {
    .kind = "residual",
    .ops = {INC__OP_BIT(axpy) | INC__OP_BIT(swap01), 0}, /* its backward: plan steps */
    .is_container = 1,
    .infer = res_infer,
    .emit = res_emit,
    .emit_bwd = res_emit_bwd,
    .plan_fwd = res_plan_fwd,
    .run_fwd = res_run_fwd,
    .destroy = res_destroy,
    .describe = res_describe,
};

INC_API inc_status inc_residual_create(inc_context *ctx, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_residual_create");
  if (s != INC_OK) return s;
  return inc__layer_new(ctx, &inc__residual_vt, sizeof(res_priv), out);
}

INC_API inc_status inc_residual_add_branch(inc_layer *residual, inc_layer *branch, float scale)
{
  if (!residual) return INC_ERR_INVALID_ARGUMENT;
  inc__begin(residual->ctx);
  if (!branch)
    return inc__layer_error(residual, INC_ERR_INVALID_ARGUMENT, "add_branch: branch is NULL");
  if (residual->vt != &inc__residual_vt)
    return inc__layer_error(residual, INC_ERR_INVALID_ARGUMENT,
                            "inc_residual_add_branch needs a residual container");
  if (!isfinite(scale))
    return inc__layer_error(residual, INC_ERR_INVALID_ARGUMENT,
                            "add_branch: scale %g is not finite", (double)scale);
  res_priv *r = (res_priv *)residual->priv;
  if (r->cap <= residual->nchildren) { /* room first: the add below cannot be undone */
    int cap = r->cap ? 2 * r->cap : 4;
    float *q = (float *)inc__realloc(r->scale, (size_t)cap * sizeof *q);
    if (!q) return inc__layer_error(residual, INC_ERR_OUT_OF_MEMORY, "out of host memory");
    r->scale = q;
    r->cap = cap;
  }
  inc_status s = inc__container_add(residual, branch);
  if (s == INC_OK) r->scale[residual->nchildren - 1] = scale;
  return s;
}
