/*
 * layer.c — the generic half of every layer: construction, the tree
 * (parents, children, names, paths), parameters and their fills, and the
 * two-pass shape binding with rollback.
 *
 * The public entry points that run layers (forward, backward, infer,
 * initialize, params) live in src/run.c, what they run in src/plan*.c;
 * kind-specific behaviour lives in src/layers/<kind>.c behind
 * inc__layer_vt.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "plan.h"

inc_status inc__layer_new(inc_context *ctx, const inc__layer_vt *vt, size_t priv_bytes,
                          inc_layer **out)
{
  inc_layer *l = (inc_layer *)inc__calloc(1, sizeof *l);
  if (!l) return inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "%s: out of host memory", vt->kind);
  if (priv_bytes) {
    l->priv = inc__calloc(1, priv_bytes);
    if (!l->priv) {
      inc__free(l);
      return inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "%s: out of host memory", vt->kind);
    }
  }
  l->vt = vt;
  l->ctx = ctx;
  l->scheme = INC_INIT_XAVIER_UNIFORM;
  *out = l;
  return INC_OK;
}

inc_status inc__create_begin(inc_context *ctx, inc_layer **out, const char *what)
{
  if (!out) return inc__error(ctx, INC_ERR_INVALID_ARGUMENT, "%s: out is NULL", what);
  *out = NULL;
  if (!ctx) return INC_ERR_INVALID_ARGUMENT;
  return inc__begin(ctx);
}

/* ---- shapes ---- */

void inc__shape_of(const inc_tensor *t, inc__shape *s)
{
  s->ndim = t->ndim;
  for (int i = 0; i < t->ndim; i++) s->d[i] = t->dims[i];
}

const char *inc__shape_str(const inc__shape *s, char *buf, size_t cap)
{
  return inc__dims_str(s->ndim, s->d, buf, cap);
}

int inc__shape_eq(const inc__shape *a, const inc__shape *b)
{
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->d[i] != b->d[i]) return 0;
  return 1;
}

inc_status inc__window_check(const inc_layer *l, const inc__window *g)
{
  int64_t n;
  if (inc__mul_overflow(g->n, g->c, &n) || inc__mul_overflow(n, g->oh, &n) ||
      inc__mul_overflow(n, g->ow, &n) || inc__mul_overflow(n, (int64_t)g->k * g->k, &n) ||
      n > INT64_MAX / 8)
    return inc__layer_error(l, INC_ERR_INVALID_ARGUMENT,
                            "output %lldx%lld (kernel %d, stride %d, padding %d) is too large",
                            (long long)g->oh, (long long)g->ow, g->k, g->s, g->p);
  return INC_OK;
}

int inc__as_cnhw(const inc_tensor *t)
{
  return t->cnhw || t->ndim < 2 || t->dims[0] == 1 || t->dims[1] == 1;
}

int inc__as_nchw(const inc_tensor *t)
{
  return !t->cnhw || t->ndim < 2 || t->dims[0] == 1 || t->dims[1] == 1;
}

int64_t inc__plane(const inc_tensor *t)
{
  int64_t p = 1;
  for (int i = 2; i < t->ndim; i++) p *= t->dims[i];
  return p;
}

/* ---- paths and messages ---- */

const char *inc__layer_path(const inc_layer *l, char *buf, size_t cap)
{
  const inc_layer *chain[64];
  int depth = 0;
  for (const inc_layer *p = l; p->parent && depth < 64; p = p->parent) chain[depth++] = p;
  if (!depth) {
    snprintf(buf, cap, "(root)");
    return buf;
  }
  size_t used = 0;
  buf[0] = '\0';
  for (int i = depth - 1; i >= 0 && used < cap; i--)
    used += (size_t)snprintf(buf + used, cap - used, "%s%s", i == depth - 1 ? "" : ".",
                             chain[i]->name);
  return buf;
}

inc_status inc__layer_error(const inc_layer *l, inc_status s, const char *fmt, ...)
{
  char path[256], detail[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  return inc__error(l->ctx, s, "layer %s (%s): %s", inc__layer_path(l, path, sizeof path),
                    l->vt->kind, detail);
}

/* ---- parameters ---- */

static void free_params(inc_layer *l)
{
  for (int i = 0; i < l->nparams; i++) {
    inc__tensor_free(l->params[i].value);
    inc__tensor_free(l->params[i].grad);
  }
  memset(l->params, 0, sizeof l->params);
  l->nparams = 0;
}

static inc_status add_param(inc_layer *l, const char *local, int ndim, const int64_t *dims,
                            int64_t fan_in, int64_t fan_out, int is_bias)
{
  inc__param *p = &l->params[l->nparams];
  inc_status s = inc__tensor_new(l->ctx, ndim, dims, &p->value);
  if (s == INC_OK) s = inc__tensor_new(l->ctx, ndim, dims, &p->grad);
  if (s != INC_OK) {
    inc__tensor_free(p->value);
    p->value = NULL;
    return s;
  }
  p->value->owner_is_layer = p->grad->owner_is_layer = 1;
  p->local = local;
  p->fan_in = fan_in;
  p->fan_out = fan_out;
  p->is_bias = is_bias;
  l->nparams++;
  return INC_OK;
}

inc_status inc__layer_fill_params(inc_layer *l)
{
  inc_context *ctx = l->ctx;
  for (int i = 0; i < l->nparams; i++) {
    inc__param *p = &l->params[i];
    size_t bytes = (size_t)p->value->numel * sizeof(float);
    inc_status s = ctx->ops->zero(p->grad->data, bytes, ctx);
    if (s != INC_OK) return s;
    if (p->is_bias) {
      s = ctx->ops->zero(p->value->data, bytes, ctx);
    } else {
      float fi = (float)p->fan_in, fo = (float)p->fan_out;
      int dist = INC__FILL_UNIFORM;
      float a = 0.0f, b = 0.0f;
      switch (l->scheme) {
      case INC_INIT_XAVIER_UNIFORM: b = sqrtf(6.0f / (fi + fo)); a = -b; break;
      case INC_INIT_XAVIER_NORMAL: dist = INC__FILL_NORMAL; b = sqrtf(2.0f / (fi + fo)); break;
      case INC_INIT_KAIMING_UNIFORM: b = sqrtf(6.0f / fi); a = -b; break;
      case INC_INIT_KAIMING_NORMAL: dist = INC__FILL_NORMAL; b = sqrtf(2.0f / fi); break;
      case INC_INIT_NORMAL_001: dist = INC__FILL_NORMAL; b = 0.01f; break;
      }
      s = inc__fill_random(ctx, p->value->data, p->value->numel, dist, a, b);
    }
    if (s != INC_OK) return s;
  }
  return INC_OK;
}

inc_status inc__layer_bind_params(inc_layer *l, int64_t in, int wndim, const int64_t *wdims,
                                  int64_t bias, int64_t fan_in, int64_t fan_out)
{
  inc_status s = add_param(l, "weight", wndim, wdims, fan_in, fan_out, 0);
  if (s == INC_OK && bias > 0) s = add_param(l, "bias", 1, &bias, fan_in, fan_out, 1);
  if (s == INC_OK) s = inc__layer_fill_params(l);
  if (s != INC_OK) {
    free_params(l);
    return s;
  }
  l->bound = 1;
  l->bound_in = in;
  l->bound_gen = l->ctx->tree_version;
  return INC_OK;
}

/* ---- plans ---- */

void inc__layer_drop_plans(inc_layer *l)
{
  for (int i = 0; i < 2; i++) {
    inc__plan_free(l->plans[i]);
    l->plans[i] = NULL;
  }
  l->ctx->ops->free(l->arena, l->ctx);
  l->arena = NULL;
  l->arena_bytes = 0;
}

void inc__layer_unbind_tree(inc_layer *l)
{
  for (int i = 0; i < l->nchildren; i++) inc__layer_unbind_tree(l->children[i]);
  inc__layer_drop_plans(l);
  free_params(l);
  l->bound = 0;
  l->bound_in = 0;
}

/* Unbinds the layers that the binding pass `gen` bound, after a failure. */
static void rollback(inc_layer *l, uint64_t gen)
{
  for (int i = 0; i < l->nchildren; i++) rollback(l->children[i], gen);
  if (l->bound && l->nparams && l->bound_gen == gen) {
    free_params(l);
    l->bound = 0;
    l->bound_in = 0;
  }
}

static int subtree_bound(const inc_layer *l)
{
  if (l->vt->bind_from_weight && !l->bound) return 0;
  for (int i = 0; i < l->nchildren; i++)
    if (!subtree_bound(l->children[i])) return 0;
  return 1;
}

inc_status inc__layer_infer_tree(inc_layer *l, const inc__shape *in, inc__shape *out)
{
  inc_status s = l->vt->infer(l, in, out, 0);
  if (s != INC_OK || subtree_bound(l)) return s;
  uint64_t gen = ++l->ctx->tree_version, stream = l->ctx->rng_stream;
  s = l->vt->infer(l, in, out, 1);
  if (s != INC_OK) {
    rollback(l, gen);
    l->ctx->rng_stream = stream; /* a failed call leaves the context as it was */
  }
  return s;
}

/* ---- the tree ---- */

static int name_taken(const inc_layer *parent, const inc_layer *except, const char *name)
{
  if (!parent) return 0;
  for (int i = 0; i < parent->nchildren; i++)
    if (parent->children[i] != except && !strcmp(parent->children[i]->name, name)) return 1;
  return 0;
}

inc_status inc__container_add(inc_layer *parent, inc_layer *child)
{
  inc_context *ctx = parent->ctx;
  if (child->ctx != ctx)
    return inc__layer_error(parent, INC_ERR_INVALID_ARGUMENT,
                            "the child belongs to another context");
  if (child->parent)
    return inc__layer_error(parent, INC_ERR_INVALID_ARGUMENT, "the child already has a parent");
  for (const inc_layer *p = parent; p; p = p->parent)
    if (p == child)
      return inc__layer_error(parent, INC_ERR_INVALID_ARGUMENT,
                              "a layer cannot contain itself");
  char idx[INC__NAME_CAP];
  snprintf(idx, sizeof idx, "%d", parent->nchildren);
  const char *name = child->named ? child->name : idx;
  if (name_taken(parent, NULL, name))
    return inc__layer_error(parent, INC_ERR_INVALID_ARGUMENT,
                            "a child named \"%s\" already exists", name);
  if (parent->nchildren == parent->children_cap) {
    int cap = parent->children_cap ? parent->children_cap * 2 : 4;
    inc_layer **c = (inc_layer **)inc__realloc(parent->children, (size_t)cap * sizeof *c);
    if (!c) return inc__layer_error(parent, INC_ERR_OUT_OF_MEMORY, "out of host memory");
    parent->children = c;
    parent->children_cap = cap;
  }
  if (!child->named) snprintf(child->name, sizeof child->name, "%s", idx);
  parent->children[parent->nchildren++] = child;
  child->parent = parent;
  ctx->tree_version++;
  return INC_OK;
}

static void destroy_tree(inc_layer *l)
{
  for (int i = 0; i < l->nchildren; i++) destroy_tree(l->children[i]);
  inc__free(l->children);
  inc__layer_drop_plans(l);
  free_params(l);
  for (int i = 0; i < l->pname_count; i++) inc__free(l->pname_cache[i]);
  inc__free(l->pname_cache);
  if (l->vt->destroy) l->vt->destroy(l);
  inc__free(l->priv);
  inc__free(l);
}

INC_API void inc_layer_destroy(inc_layer *layer)
{
  if (!layer || layer->parent) return; /* a child belongs to its container */
  destroy_tree(layer);
}

INC_API const char *inc_layer_kind(const inc_layer *layer)
{
  return layer ? layer->vt->kind : "";
}

INC_API inc_status inc_layer_set_name(inc_layer *layer, const char *name)
{
  if (!layer) return INC_ERR_INVALID_ARGUMENT;
  inc__begin(layer->ctx);
  if (!name) return inc__layer_error(layer, INC_ERR_INVALID_ARGUMENT, "name is NULL");
  size_t n = strlen(name);
  if (n == 0 || n >= INC__NAME_CAP)
    return inc__layer_error(layer, INC_ERR_INVALID_ARGUMENT,
                            "a name needs 1..%d characters, got %zu", INC__NAME_CAP - 1, n);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c < 0x20 || c == 0x7f || c == '.' || c == '/' || c == '"' || c == '\\')
      return inc__layer_error(layer, INC_ERR_INVALID_ARGUMENT,
                              "name \"%s\" holds a forbidden character (. / \" \\ or control)",
                              name);
  }
  if (name_taken(layer->parent, layer, name))
    return inc__layer_error(layer, INC_ERR_INVALID_ARGUMENT,
                            "a sibling is already named \"%s\"", name);
  memcpy(layer->name, name, n + 1);
  layer->named = 1;
  layer->ctx->tree_version++;
  return INC_OK;
}

INC_API const char *inc_layer_name(const inc_layer *layer) { return layer ? layer->name : ""; }

INC_API int inc_layer_child_count(const inc_layer *layer)
{
  return layer ? layer->nchildren : 0;
}

INC_API inc_layer *inc_layer_child(const inc_layer *layer, int index)
{
  if (!layer || index < 0 || index >= layer->nchildren) return NULL;
  return layer->children[index];
}

INC_API inc_layer *inc_layer_parent(const inc_layer *layer)
{
  return layer ? layer->parent : NULL;
}

INC_API int inc_layer_is_bound(const inc_layer *layer)
{
  return layer ? subtree_bound(layer) : 0;
}

/* ---- parameter enumeration ---- */

static void count_params(const inc_layer *l, int *n)
{
  *n += l->nparams;
  for (int i = 0; i < l->nchildren; i++) count_params(l->children[i], n);
}

static void gather_params(const inc_layer *l, inc__param **params, inc_layer **leaves, int *n)
{
  for (int i = 0; i < l->nparams; i++) {
    params[*n] = (inc__param *)&l->params[i];
    if (leaves) leaves[*n] = (inc_layer *)l;
    (*n)++;
  }
  for (int i = 0; i < l->nchildren; i++) gather_params(l->children[i], params, leaves, n);
}

inc_status inc__collect_params(const inc_layer *l, inc__param ***params, inc_layer ***leaves,
                               int *count)
{
  int n = 0;
  count_params(l, &n);
  *params = (inc__param **)inc__calloc((size_t)n + 1, sizeof **params);
  if (leaves) *leaves = (inc_layer **)inc__calloc((size_t)n + 1, sizeof **leaves);
  if (!*params || (leaves && !*leaves)) {
    inc__free(*params);
    *params = NULL;
    if (leaves) {
      inc__free(*leaves);
      *leaves = NULL;
    }
    return inc__error(l->ctx, INC_ERR_OUT_OF_MEMORY, "parameter list: out of host memory");
  }
  *count = 0;
  gather_params(l, *params, leaves ? *leaves : NULL, count);
  return INC_OK;
}

const char *inc__param_name(const inc_layer *from, const inc_layer *leaf, const inc__param *p,
                            char *buf, size_t cap)
{
  const inc_layer *chain[64];
  int depth = 0;
  for (const inc_layer *q = leaf; q != from && q && depth < 64; q = q->parent) chain[depth++] = q;
  size_t used = 0;
  buf[0] = '\0';
  for (int i = depth - 1; i >= 0 && used < cap; i--)
    used += (size_t)snprintf(buf + used, cap - used, "%s.", chain[i]->name);
  if (used < cap) snprintf(buf + used, cap - used, "%s", p->local);
  return buf;
}
