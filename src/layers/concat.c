/*
 * concat.c — the parallel container: every branch gets the same input and
 * the branch outputs (N, Cb, ...) are written into their channel slices of
 * one output (N, sum Cb, ...). Backward reads each branch's slice of dy,
 * runs the branch backward and sums the branches' input gradients. Works
 * in either layout (see layer.h); channel-major slices are whole blocks.
 */
#include <stdio.h>
#include "../layer.h"

typedef struct concat_priv {
  inc_tensor *part; /* (N, Cb, ...) slice of dy for one branch at a time */
  inc_tensor view;  /* a branch's block of a channel-major dy, not owned */
} concat_priv;

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

/* Forward writes each branch output into its channel slice of y. With a
 * channel-major y (see "Layouts" in layer.h; chosen when a branch gives
 * one) a slice is one contiguous block, so a channel-major branch output
 * is a single copy and a channel-major dy block is handed to its branch
 * as it lies, without a copy. */
static inc_status concat_forward(inc_layer *l, const inc_tensor *x, int training)
{
  inc_context *ctx = l->ctx;
  int cm = 0;
  for (int i = 0; i < l->nchildren; i++) {
    inc_status s = inc__layer_forward(l->children[i], x, training);
    if (s != INC_OK) return s;
    cm |= l->children[i]->y->cnhw;
  }
  inc__shape os;
  inc__shape_of(l->children[0]->y, &os);
  os.d[1] = 0;
  for (int i = 0; i < l->nchildren; i++) os.d[1] += l->children[i]->y->dims[1];
  inc_tensor *y; /* (N, C, ...) */
  inc_status s = inc__layer_out(l, &os, &y);
  if (s != INC_OK) return s;
  y->cnhw = cm;
  int64_t off = 0, n = os.d[0], p = inc__plane(y);
  for (int i = 0; s == INC_OK && i < l->nchildren; i++) {
    const inc_tensor *b = l->children[i]->y; /* (N, Cb, ...) */
    int64_t cb = b->dims[1];
    if (!inc__as_nchw(y)) { /* y stored (C, N, ...): rows off.. are the block */
      float *dst = y->data + off * n * p;
      if (inc__as_cnhw(b))
        s = ctx->ops->copy(dst, b->data, (size_t)(cb * n * p) * sizeof(float), ctx);
      else
        s = ctx->ops->swap01(dst, b->data, n, cb, p, ctx);
    } else {
      s = ctx->ops->slice(y->data, b->data, 1, n, cb, os.d[1], off, p, ctx);
    }
    off += cb;
  }
  return s;
}

static inc_status concat_backward(inc_layer *l, const inc_tensor *dy)
{
  inc_context *ctx = l->ctx;
  concat_priv *c = (concat_priv *)l->priv;
  inc__shape in;
  inc__shape_of(l->x, &in);
  inc_tensor *dx = NULL; /* shape and layout of the input; not made when unwanted */
  inc_status s = INC_OK;
  if (!l->skip_dx) {
    s = inc__layer_dx(l, &in, &dx);
    if (s != INC_OK) return s;
    dx->cnhw = l->x->cnhw;
  } else {
    l->dx = NULL;
  }
  int64_t off = 0, p = inc__plane(dy), n = dy->dims[0], ct = dy->dims[1];
  int blocks = !inc__as_nchw(dy); /* dy stored (C, N, ...) like y */
  int filled = 0;                   /* dx holds the sum of the branches so far */
  for (int i = 0; s == INC_OK && i < l->nchildren; i++) {
    inc_layer *br = l->children[i];
    inc__shape ps;
    inc__shape_of(br->y, &ps);
    const inc_tensor *part;
    if (blocks && inc__as_cnhw(br->y)) { /* the branch's block of dy, as it lies */
      inc_tensor *v = &c->view;
      v->ctx = ctx;
      v->ndim = ps.ndim;
      for (int j = 0; j < ps.ndim; j++) v->dims[j] = ps.d[j];
      v->numel = v->capacity = br->y->numel;
      v->data = dy->data + off * n * p;
      v->owner_is_layer = 1;
      v->cnhw = 1;
      part = v;
    } else {
      s = inc__tensor_ensure(ctx, &c->part, ps.ndim, ps.d);
      if (s != INC_OK) break;
      c->part->cnhw = br->y->cnhw;
      if (blocks) /* a branch that gave (N, Cb, ...): swap its block back */
        s = ctx->ops->swap01(c->part->data, dy->data + off * n * p, ps.d[1], n, p, ctx);
      else
        s = ctx->ops->slice(dy->data, c->part->data, 0, n, ps.d[1], ct, off, p, ctx);
      part = c->part;
    }
    br->skip_dx = l->skip_dx;
    br->dx_into = dx ? dx->data : NULL; /* a branch may add its dx into ours itself */
    br->dx_accum = filled;
    if (s == INC_OK) s = inc__layer_backward(br, part);
    br->skip_dx = br->dx_accum = 0;
    br->dx_into = NULL;
    if (s != INC_OK) break;
    off += ps.d[1];
    if (!dx) continue;
    if (br->dx->data == dx->data) /* it did */
      ;
    else if (!filled)
      s = ctx->ops->copy(dx->data, br->dx->data, (size_t)dx->numel * sizeof(float), ctx);
    else
      s = ctx->ops->axpy(dx->data, br->dx->data, 1.0f, dx->numel, ctx);
    filled = 1;
  }
  return s;
}

static void concat_release(inc_layer *l)
{
  concat_priv *c = (concat_priv *)l->priv;
  inc__tensor_free(c->part);
  c->part = NULL;
}

const inc__layer_vt inc__concat_vt = {
    "concat", 1, concat_infer, concat_forward, concat_backward, NULL, concat_release, NULL, NULL,
};

INC_API inc_status inc_concat_create(inc_context *ctx, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_concat_create");
  if (s != INC_OK) return s;
  return inc__layer_new(ctx, &inc__concat_vt, sizeof(concat_priv), out);
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
