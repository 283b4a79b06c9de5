/*
 * run.c — the public calls that bind, initialize, run and inspect a layer
 * tree: inc_layer_infer_shape, _unbind, _initialize, _forward, _backward
 * and the parameter accessors.
 *
 * Each validates its arguments, clears the context's message, and then
 * drives the generic machinery of src/layer.c.
 */
#include <stdio.h>
#include <string.h>
#include "grad_buckets.h"

static inc_status check_input(inc_layer *l, const inc_tensor *x, const char *what)
{
  if (!x) return inc__layer_error(l, INC_ERR_INVALID_ARGUMENT, "%s: tensor is NULL", what);
  if (x->ctx != l->ctx)
    return inc__layer_error(l, INC_ERR_INVALID_ARGUMENT,
                            "%s: the tensor belongs to another context", what);
  return INC_OK;
}

INC_API inc_status inc_layer_infer_shape(inc_layer *layer, int ndim, const int64_t *in_dims,
                                         int *out_ndim, int64_t *out_dims)
{
  if (!layer) return INC_ERR_INVALID_ARGUMENT;
  inc_status s = inc__begin(layer->ctx);
  if (s != INC_OK) return s;
  if (!out_ndim || !out_dims)
    return inc__layer_error(layer, INC_ERR_INVALID_ARGUMENT, "out_ndim/out_dims is NULL");
  int64_t numel;
  s = inc__check_dims(layer->ctx, ndim, in_dims, &numel);
  if (s != INC_OK) return s;
  inc__shape in, out;
  in.ndim = ndim;
  memcpy(in.d, in_dims, (size_t)ndim * sizeof *in_dims);
  s = inc__layer_infer_tree(layer, &in, &out);
  if (s != INC_OK) return s;
  *out_ndim = out.ndim;
  memcpy(out_dims, out.d, (size_t)out.ndim * sizeof *out_dims);
  return INC_OK;
}

INC_API inc_status inc_layer_unbind(inc_layer *layer)
{
  if (!layer) return INC_ERR_INVALID_ARGUMENT;
  inc__begin(layer->ctx);
  inc__layer_unbind_tree(layer);
  layer->ctx->tree_version++;
  return INC_OK;
}

static inc_status initialize(inc_layer *l, inc_init scheme, int force)
{
  if (!l->bound || force) l->scheme = scheme;
  if (l->bound && force && l->tensors) {
    inc_status s = inc__layer_fill_params(l);
    if (s != INC_OK) return s;
  }
  for (int i = 0; i < l->nchildren; i++) {
    inc_status s = initialize(l->children[i], scheme, force);
    if (s != INC_OK) return s;
  }
  return INC_OK;
}

INC_API inc_status inc_layer_initialize(inc_layer *layer, inc_init scheme, int force_reinit)
{
  if (!layer) return INC_ERR_INVALID_ARGUMENT;
  inc_status s = inc__begin(layer->ctx);
  if (s != INC_OK) return s;
  if ((int)scheme < (int)INC_INIT_XAVIER_UNIFORM || (int)scheme > (int)INC_INIT_NORMAL_001)
    return inc__layer_error(layer, INC_ERR_INVALID_ARGUMENT, "unknown init scheme %d",
                            (int)scheme);
  return initialize(layer, scheme, force_reinit);
}

/* The plan of l for input shape `in` and the training flag: the cached one
 * while the tree is unchanged, else a new one. */
static inc_status plan_for(inc_layer *l, const inc__shape *in, int training, inc__plan **out)
{
  inc__plan *p = l->plans[training];
  if (!p || p->sig != inc__plan_signature(l) || !inc__shape_eq(&p->in, in)) {
    inc__plan *q;
    inc_status s = inc__plan_build(l, in, training, &q);
    if (s != INC_OK) return s;
    inc__plan_free(p);
    l->plans[training] = p = q;
  }
  *out = p;
  return INC_OK;
}

INC_API inc_status inc_layer_forward(inc_layer *layer, const inc_tensor *x, int training,
                                     const inc_tensor **y)
{
  if (!layer) return INC_ERR_INVALID_ARGUMENT;
  if (y) *y = NULL;
  inc_status s = inc__begin(layer->ctx);
  if (s != INC_OK) return s;
  if (!y) return inc__layer_error(layer, INC_ERR_INVALID_ARGUMENT, "forward: y is NULL");
  s = check_input(layer, x, "forward");
  if (s != INC_OK) return s;
  inc__shape in, out;
  inc__shape_of(x, &in);
  s = inc__layer_infer_tree(layer, &in, &out);
  if (s != INC_OK) return s;
  training = training ? 1 : 0;
  inc__plan *p;
  if ((s = plan_for(layer, &in, training, &p)) != INC_OK) return s;
  if (training && layer->grad_hook && (s = inc__grad_buckets_ensure(layer)) != INC_OK) return s;
  if ((s = inc__plan_forward(p, x)) != INC_OK) return s;
  *y = inc__pv(p, p->out);
  return INC_OK;
}

INC_API inc_status inc_layer_backward(inc_layer *layer, const inc_tensor *dy,
                                      const inc_tensor **dx)
{
  if (!layer) return INC_ERR_INVALID_ARGUMENT;
  if (dx) *dx = NULL;
  inc_status s = inc__begin(layer->ctx);
  if (s != INC_OK) return s;
  s = check_input(layer, dy, "backward");
  if (s != INC_OK) return s;
  inc__plan *p = layer->plans[1];
  if (!p || p->trained == INC__TRAINED_NONE)
    return inc__layer_error(layer, INC_ERR_STATE,
                            "backward needs a training forward first (inc_layer_forward with "
                            "training=1)");
  if (p->sig != inc__plan_signature(layer))
    return inc__layer_error(layer, INC_ERR_STATE,
                            "the layer tree changed (layers, order or bound parameters) since "
                            "the training forward; run forward again");
  inc__shape ds, ys;
  inc__shape_of(dy, &ds);
  inc__shape_of(inc__pv(p, p->y), &ys);
  if (!inc__shape_eq(&ds, &ys)) {
    char a[96], b[96];
    return inc__layer_error(layer, INC_ERR_SHAPE, "backward: dy is %s but the output was %s",
                            inc__shape_str(&ds, a, sizeof a), inc__shape_str(&ys, b, sizeof b));
  }
  s = layer->grad_hook ? inc__grad_hook_backward(p, dy, dx != NULL)
                       : inc__plan_backward(p, dy, dx != NULL);
  if (s != INC_OK) return s;
  if (dx) *dx = inc__pv(p, p->dx);
  return INC_OK;
}

/* ---- parameters and buffers ---- */

static int tensor_count(const inc_layer *l, int buffers)
{
  int n = buffers ? l->nbuffers : l->nparams;
  for (int i = 0; i < l->nchildren; i++) n += tensor_count(l->children[i], buffers);
  return n;
}

INC_API int inc_layer_param_count(const inc_layer *layer)
{
  return layer ? tensor_count(layer, 0) : 0;
}

INC_API int inc_layer_buffer_count(const inc_layer *layer)
{
  return layer ? tensor_count(layer, 1) : 0;
}

INC_API int64_t inc_layer_param_numel(const inc_layer *layer)
{
  if (!layer) return 0;
  int64_t n = 0;
  for (int i = 0; i < layer->nparams; i++) n += layer->params[i].value->numel;
  for (int i = 0; i < layer->nchildren; i++) n += inc_layer_param_numel(layer->children[i]);
  return n;
}

/* Remakes the name cache of l's parameters or buffers when the tree changed
 * since it was made. */
static inc_status refresh_names(inc_layer *l, int buffers)
{
  inc__names *cache = buffers ? &l->bnames : &l->pnames;
  if (cache->names && cache->version == l->ctx->tree_version) return INC_OK;
  inc__param **list;
  inc_layer **leaves;
  int n;
  inc_status s = buffers ? inc__collect_buffers(l, &list, &leaves, &n)
                         : inc__collect_params(l, &list, &leaves, &n);
  if (s != INC_OK) return s;
  char **names = (char **)inc__calloc((size_t)n + 1, sizeof *names);
  if (!names) s = inc__layer_error(l, INC_ERR_OUT_OF_MEMORY, "out of host memory");
  for (int i = 0; s == INC_OK && i < n; i++) {
    char buf[1024];
    names[i] = inc__strdup(inc__param_name(l, leaves[i], list[i]->decl->name, buf, sizeof buf));
    if (!names[i]) s = inc__layer_error(l, INC_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  inc__free(list);
  inc__free(leaves);
  if (s != INC_OK) {
    for (int i = 0; names && i < n; i++) inc__free(names[i]);
    inc__free(names);
    return s;
  }
  inc__names_free(cache);
  cache->names = names;
  cache->count = n;
  cache->version = l->ctx->tree_version;
  return INC_OK;
}

/* The index-th parameter or buffer of the subtree l, depth first. */
static inc__param *find_tensor(const inc_layer *l, int buffers, int *index)
{
  int own = buffers ? l->nbuffers : l->nparams;
  if (*index < own) return (inc__param *)(buffers ? &l->buffers[*index] : &l->params[*index]);
  *index -= own;
  for (int i = 0; i < l->nchildren; i++) {
    inc__param *p = find_tensor(l->children[i], buffers, index);
    if (p) return p;
  }
  return NULL;
}

/* inc_layer_param and inc_layer_buffer: the index-th tensor, its name. */
static inc_status get_tensor(const inc_layer *layer, int buffers, int index, const char **name,
                             inc__param **out)
{
  inc_layer *l = (inc_layer *)layer; /* the name cache is internal state */
  inc__begin(l->ctx);
  int count = tensor_count(l, buffers);
  if (index < 0 || index >= count)
    return inc__layer_error(l, INC_ERR_INVALID_ARGUMENT, "%s index %d outside 0..%d",
                            buffers ? "buffer" : "parameter", index, count - 1);
  if (name) {
    inc_status s = refresh_names(l, buffers);
    if (s != INC_OK) return s;
    *name = (buffers ? &l->bnames : &l->pnames)->names[index];
  }
  int rest = index;
  *out = find_tensor(l, buffers, &rest);
  return INC_OK;
}

INC_API inc_status inc_layer_param(const inc_layer *layer, int index, const char **name,
                                   inc_tensor **value, inc_tensor **grad)
{
  if (!layer) return INC_ERR_INVALID_ARGUMENT;
  inc__param *p = NULL;
  inc_status s = get_tensor(layer, 0, index, name, &p);
  if (s != INC_OK) return s;
  if (value) *value = p->value;
  if (grad) *grad = p->grad;
  return INC_OK;
}

INC_API inc_status inc_layer_buffer(const inc_layer *layer, int index, const char **name,
                                    inc_tensor **tensor)
{
  if (!layer) return INC_ERR_INVALID_ARGUMENT;
  inc__param *p = NULL;
  inc_status s = get_tensor(layer, 1, index, name, &p);
  if (s != INC_OK) return s;
  if (tensor) *tensor = p->value;
  return INC_OK;
}
