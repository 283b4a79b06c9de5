/*
 * sequential.c — the container that applies its children in order. Its
 * output and input gradient are those of its last and first child; it adds
 * no step of its own to a plan: it chains its children's forward steps and
 * their backward steps in reverse, passing its own gradient sink to its
 * first child only.
 */
#include "../plan.h"

static inc_status seq_infer(inc_layer *l, const inc__shape *in, inc__shape *out, int bind)
{
  if (!l->nchildren) return inc__layer_error(l, INC_ERR_STATE, "the sequential is empty");
  inc__shape cur = *in;
  for (int i = 0; i < l->nchildren; i++) {
    inc__shape next;
    inc_status s = l->children[i]->vt->infer(l->children[i], &cur, &next, bind);
    if (s != INC_OK) return s;
    cur = next;
  }
  *out = cur;
  return INC_OK;
}

static inc_status seq_emit(inc_layer *l, inc__plan *p, int x, int *y)
{
  for (int i = 0; i < l->nchildren; i++) {
    inc_status s = inc__plan_emit(l->children[i], p, x, &x);
    if (s != INC_OK) return s;
  }
  *y = x;
  return INC_OK;
}

static inc_status seq_emit_bwd(inc_layer *l, inc__plan *p, int dy, const inc__sink *sink, int *dx)
{
  inc__sink own = {-1, 0};
  for (int i = l->nchildren - 1; i >= 0; i--) {
    inc_status s = inc__plan_emit_bwd(l->children[i], p, dy, i == 0 ? sink : &own, &dy);
    if (s != INC_OK) return s;
  }
  *dx = dy;
  return INC_OK;
}

const inc__layer_vt inc__sequential_vt = {
    .kind = "sequential",
    .is_container = 1,
    .infer = seq_infer,
    .emit = seq_emit,
    .emit_bwd = seq_emit_bwd,
};

INC_API inc_status inc_sequential_create(inc_context *ctx, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_sequential_create");
  if (s != INC_OK) return s;
  return inc__layer_new(ctx, &inc__sequential_vt, 0, out);
}

INC_API inc_status inc_sequential_append(inc_layer *seq, inc_layer *child)
{
  if (!seq) return INC_ERR_INVALID_ARGUMENT;
  inc__begin(seq->ctx);
  if (!child) return inc__layer_error(seq, INC_ERR_INVALID_ARGUMENT, "append: child is NULL");
  if (seq->vt != &inc__sequential_vt)
    return inc__layer_error(seq, INC_ERR_INVALID_ARGUMENT,
                            "inc_sequential_append needs a sequential container");
  return inc__container_add(seq, child);
}
