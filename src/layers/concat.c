/*
 * concat.c — the parallel container: every branch gets the same input and
 * the branch outputs (N, Cb, ...) lie in their channel slices of one
 * output (N, sum Cb, ...). Backward hands each branch its slice of dy and
 * sums the branches' input gradients. Works in either layout (see
 * layer.h); channel-major slices are whole blocks, so there the plan makes
 * a branch's output a view of its block (no copy forward) and hands each
 * branch its block of dy as it lies (no copy backward), and a branch whose
 * first layer can write or add its input gradient into the sum does so.
 */
#include <stdio.h>
#include "../plan.h"

static inc_status concat_infer(inc_layer *l, const inc__shape *in, inc__shape *out, int bind)
{
  if (!l->nchildren) return inc__layer_error(l, INC_ERR_STATE, "the concat has no branch");
  inc__shape first;
  int64_t channels = 0;
  for (int i = 0; i < l->nchildren; i++) {
    inc__shape o;
    inc_status s = l->children[i]->vt->infer(l->children[i], in, &o, bind);
    if (s != INC_OK) return s;
    char a[96], b[96];
    if (o.ndim < 2)
      return inc__layer_error(l, INC_ERR_SHAPE, "branch %s gives %s; needs (N, C, ...)",
                              l->children[i]->name, inc__shape_str(&o, a, sizeof a));
    if (i == 0) first = o;
    int same = o.ndim == first.ndim && o.d[0] == first.d[0];
    for (int j = 2; same && j < o.ndim; j++) same = o.d[j] == first.d[j];
    if (!same)
      return inc__layer_error(l, INC_ERR_SHAPE,
                              "branch %s gives %s but branch %s gives %s; only channels may "
                              "differ",
                              l->children[i]->name, inc__shape_str(&o, a, sizeof a),
                              l->children[0]->name, inc__shape_str(&first, b, sizeof b));
    channels += o.d[1];
  }
  *out = first;
  out->d[1] = channels;
  return INC_OK;
}

/* The branches' steps, then one step for the concat itself
 * (inc__plan_emit_branches). */
static inc_status concat_emit(inc_layer *l, inc__plan *p, int x, int *y)
{
  return inc__plan_emit_branches(l, p, x, 1, y);
}

/* The output is channel-major when a branch gives one; then each
 * channel-major branch output becomes a view of its block. */
static inc_status concat_plan_fwd(inc__plan *p, inc__step *st)
{
  inc_tensor *y = inc__pv(p, st->y);
  y->cnhw = 0;
  for (int i = 0; i < st->nin; i++) y->cnhw |= inc__pv(p, p->ins[st->in + i])->cnhw;
  if (inc__as_nchw(y)) return INC_OK;
  int64_t off = 0, n = y->dims[0], pl = inc__plane(y);
  for (int i = 0; i < st->nin; i++) {
    int b = p->ins[st->in + i];
    const inc__val *v = &p->vals[b];
    if (inc__as_cnhw(&v->t) && !v->external && v->base < 0 && b != st->x)
      inc__plan_make_view(p, b, st->y, off * n * pl);
    off += v->t.dims[1];
  }
  return INC_OK;
}

/* Copies the branch outputs that are not views into their slices. */
static inc_status concat_run_fwd(const inc__plan *p, const inc__step *st)
{
  inc_context *ctx = p->ctx;
  const inc_tensor *y = inc__pv(p, st->y); /* (N, C, ...) */
  int64_t off = 0, n = y->dims[0], pl = inc__plane(y);
  inc_status s = INC_OK;
  for (int i = 0; s == INC_OK && i < st->nin; i++) {
    int bi = p->ins[st->in + i];
    const inc_tensor *b = inc__pv(p, bi); /* (N, Cb, ...) */
    int64_t cb = b->dims[1];
    if (p->vals[bi].base == st->y) { /* written in place by its branch */
    } else if (!inc__as_nchw(y)) { /* y stored (C, N, ...): rows off.. are the block */
      float *dst = y->data + off * n * pl;
      if (inc__as_cnhw(b))
        s = ctx->ops->copy(dst, b->data, (size_t)(cb * n * pl) * sizeof(float), ctx);
      else
        s = ctx->ops->swap01(dst, b->data, n, cb, pl, ctx);
    } else {
      s = ctx->ops->slice(y->data, b->data, 1, n, cb, y->dims[1], off, pl, ctx);
    }
    off += cb;
  }
  return s;
}

/* The part of dy for branch output b at channel offset off. (What it needs
 * of b and dy is read first: adding a value moves the plan's values.) */
static int dy_part(inc__plan *p, int dy, int b, int64_t off)
{
  const inc_tensor *g = inc__pv(p, dy), *bt = inc__pv(p, b);
  inc__shape bs;
  inc__shape_of(bt, &bs);
  int64_t n = g->dims[0], pl = inc__plane(g), cb = bs.d[1], ct = g->dims[1];
  int b_cnhw = bt->cnhw, b_as_cnhw = inc__as_cnhw(bt);
  if (inc__as_nchw(g)) { /* a slice copy */
    int part = inc__plan_value(p, &bs, b_cnhw);
    if (part < 0 || inc__plan_move(p, INC__STEP_SLICE, part, dy, n, cb, ct, off, pl) < 0) return -1;
    return part;
  }
  if (b_as_cnhw) return inc__plan_view(p, dy, off * n * pl, &bs, 1); /* the block */
  /* a branch that gave (N, Cb, ...): swap its block back */
  int block = inc__plan_view(p, dy, off * n * pl, &bs, 1), part = inc__plan_value(p, &bs, 0);
  if (block < 0 || part < 0 || inc__plan_move(p, INC__STEP_SWAP, part, block, cb, n, pl, 0, 0) < 0)
    return -1;
  return part;
}

/* Branches in order, each summing its input gradient into the concat's:
 * the first writes, the others add, either themselves (the sink) or by a
 * copy / axpy step after them. */
static inc_status concat_emit_bwd(inc_layer *l, inc__plan *p, int dy, const inc__sink *sink,
                                  int *dx)
{
  const inc__step *f = &p->fwd[inc__plan_fwd_step(p, l)];
  /* The container's sum is ours only when we write it first; added into it,
   * ours is summed apart and added once, so that the branches add up in
   * the order of a concat of its own. */
  int own = sink->val < 0 || sink->accum;
  int sum = own ? inc__plan_like(p, f->x) : sink->val;
  int filled = 0, in0 = f->in;
  int64_t off = 0;
  if (sum < 0) return INC_ERR_OUT_OF_MEMORY;
  for (int i = 0; i < l->nchildren; i++) {
    int b = p->ins[in0 + i], bdx;
    int64_t cb = inc__pv(p, b)->dims[1];
    int part = dy_part(p, dy, b, off);
    if (part < 0) return INC_ERR_OUT_OF_MEMORY;
    off += cb;
    inc__sink into = {sum, filled};
    inc_status s = inc__plan_emit_bwd(l->children[i], p, part, &into, &bdx);
    if (s != INC_OK) return s;
    if (bdx != sum &&
        inc__plan_move(p, filled ? INC__STEP_AXPY : INC__STEP_COPY, sum, bdx, 0, 0, 0, 0, 0) < 0)
      return INC_ERR_OUT_OF_MEMORY;
    filled = 1;
  }
  *dx = sum;
  return INC_OK;
}

const inc__layer_vt inc__concat_vt = {
    .kind = "concat",
    .ops = {INC__OP_BIT(swap01) | INC__OP_BIT(slice), 0}, /* its backward: plan steps */
    .is_container = 1,
    .infer = concat_infer,
    .emit = concat_emit,
    .emit_bwd = concat_emit_bwd,
    .plan_fwd = concat_plan_fwd,
    .run_fwd = concat_run_fwd,
};

INC_API inc_status inc_concat_create(inc_context *ctx, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_concat_create");
  if (s != INC_OK) return s;
  return inc__layer_new(ctx, &inc__concat_vt, 0, out);
}

INC_API inc_status inc_concat_add_branch(inc_layer *concat, inc_layer *branch)
{
  if (!concat) return INC_ERR_INVALID_ARGUMENT;
  inc__begin(concat->ctx);
  if (!branch)
    return inc__layer_error(concat, INC_ERR_INVALID_ARGUMENT, "add_branch: branch is NULL");
  if (concat->vt != &inc__concat_vt)
    return inc__layer_error(concat, INC_ERR_INVALID_ARGUMENT,
                            "inc_concat_add_branch needs a concat container");
  return inc__container_add(concat, branch);
}
