/*
 * sequential.c — the container that applies its children in order. Its
 * output and input gradient are those of its last and first child; it owns
 * no activation of its own. A conv2d directly followed by a relu is fused:
 * the convolution rectifies its own output and the ReLU passes it on. A
 * layer followed (past such a ReLU) by a convolution that runs im2col is
 * asked for an (N, C, H, W) output, which that im2col reads in one pass
 * (see "Layouts" in layer.h).
 */
#include "../layer.h"

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

/* 1 if child i is a conv2d followed by a relu: the convolution then
 * rectifies its output in its bias pass and the ReLU passes it through. */
static int conv_relu_pair(const inc_layer *l, int i)
{
  return i + 1 < l->nchildren && l->children[i]->vt == &inc__conv2d_vt &&
         l->children[i + 1]->vt == &inc__relu_vt;
}

static inc_status seq_forward(inc_layer *l, const inc_tensor *x, int training)
{
  const inc_tensor *h = x;
  int rectified = 0;
  for (int i = 0; i < l->nchildren; i++) {
    inc_layer *ch = l->children[i];
    int fuse = conv_relu_pair(l, i);
    int next = i + 1 + fuse; /* the layer after the ReLU, if fused */
    ch->fuse_relu = fuse;
    ch->rectified_in = rectified;
    ch->want_nchw = next < l->nchildren && inc__conv2d_im2col(l->children[next]);
    inc_status s = inc__layer_forward(ch, h, training);
    ch->fuse_relu = ch->rectified_in = ch->want_nchw = 0; /* hints hold for this call only */
    if (s != INC_OK) return s;
    rectified = fuse;
    h = ch->y;
  }
  l->y = h;
  return INC_OK;
}

static inc_status seq_backward(inc_layer *l, const inc_tensor *dy)
{
  const inc_tensor *g = dy;
  for (int i = l->nchildren - 1; i >= 0; i--) {
    inc_layer *ch = l->children[i];
    ch->skip_dx = i == 0 && l->skip_dx; /* only the first layer's dx can be unwanted */
    ch->dx_into = i == 0 ? l->dx_into : NULL; /* ... or go to a given place */
    ch->dx_accum = i == 0 && l->dx_accum;
    inc_status s = inc__layer_backward(ch, g);
    ch->skip_dx = ch->dx_accum = 0;
    ch->dx_into = NULL;
    if (s != INC_OK) return s;
    g = ch->dx;
  }
  l->dx = g;
  return INC_OK;
}

const inc__layer_vt inc__sequential_vt = {
    "sequential", 1, seq_infer, seq_forward, seq_backward, NULL, NULL, NULL, NULL,
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
