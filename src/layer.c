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
#include "grad_buckets.h"

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
  l->tensors = vt->tensors;
  l->ctx = ctx;
  l->scheme = INC_INIT_XAVIER_UNIFORM;
  *out = l;
  return INC_OK;
}

inc_status inc__desc_read(inc_context *ctx, const char *what, const char *type, const void *desc,
                          size_t size, size_t first, void *out, size_t own)
{
  enum { DESC_MAX = 4096 }; /* a size beyond it is no struct a caller compiled */
  if (!desc) return inc__error(ctx, INC_ERR_INVALID_ARGUMENT, "%s: desc is NULL", what);
  if (size < first || size > DESC_MAX)
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "%s: desc->size is %zu, not a descriptor's size: set it to sizeof(%s) "
                      "(at least %zu)",
                      what, size, type, first);
  for (size_t i = own; i < size; i++)
    if (((const unsigned char *)desc)[i])
      return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                        "%s: desc sets byte %zu, beyond the %zu bytes of the %s this library "
                        "knows (a field of a later version, not at its default)",
                        what, i, own, type);
  memset(out, 0, own);
  memcpy(out, desc, size < own ? size : own);
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

const char *inc__window_geom_str(const inc__window_geom *q, char *buf, size_t cap)
{
  const int *v[2] = {q->s, q->p};
  static const char tag[2] = {'s', 'p'};
  size_t u = (size_t)snprintf(buf, cap, "%dx%d", q->k[0], q->k[1]);
  for (int i = 0; i < 2 && u < cap; i++)
    u += (size_t)(v[i][0] == v[i][1]
                      ? snprintf(buf + u, cap - u, " %c%d", tag[i], v[i][0])
                      : snprintf(buf + u, cap - u, " %c%dx%d", tag[i], v[i][0], v[i][1]));
  return buf;
}

inc_status inc__window_of(const inc_layer *l, const inc__shape *in, const inc__window_geom *q,
                          const char *what, inc__window *g)
{
  char buf[96], pad[32];
  if (in->ndim != 4)
    return inc__layer_error(l, INC_ERR_SHAPE, "expects an (N, C, H, W) input, got %s",
                            inc__shape_str(in, buf, sizeof buf));
  g->n = in->d[0];
  g->c = in->d[1];
  g->h = in->d[2];
  g->w = in->d[3];
  g->kh = q->k[0];
  g->kw = q->k[1];
  g->sh = q->s[0];
  g->sw = q->s[1];
  g->ph = q->p[0];
  g->pw = q->p[1];
  if (g->h + 2 * (int64_t)g->ph < g->kh || g->w + 2 * (int64_t)g->pw < g->kw) {
    if (g->ph == g->pw) snprintf(pad, sizeof pad, "%d", g->ph);
    else snprintf(pad, sizeof pad, "%dx%d", g->ph, g->pw);
    return inc__layer_error(l, INC_ERR_SHAPE,
                            "input %lldx%lld is smaller than the %dx%d %s with padding %s",
                            (long long)g->h, (long long)g->w, g->kh, g->kw, what, pad);
  }
  g->oh = (g->h + 2 * (int64_t)g->ph - g->kh) / g->sh + 1;
  g->ow = (g->w + 2 * (int64_t)g->pw - g->kw) / g->sw + 1;
  return inc__window_check(l, g);
}

inc_status inc__window_check(const inc_layer *l, const inc__window *g)
{
  int64_t n;
  if (inc__mul_overflow(g->n, g->c, &n) || inc__mul_overflow(n, g->oh, &n) ||
      inc__mul_overflow(n, g->ow, &n) || inc__mul_overflow(n, (int64_t)g->kh * g->kw, &n) ||
      n > INT64_MAX / 8) {
    inc__window_geom q = {{g->kh, g->kw}, {g->sh, g->sw}, {g->ph, g->pw}};
    char gs[64];
    return inc__layer_error(l, INC_ERR_INVALID_ARGUMENT,
                            "output %lldx%lld (window %s) is too large", (long long)g->oh,
                            (long long)g->ow, inc__window_geom_str(&q, gs, sizeof gs));
  }
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

/* ---- declared tensors ---- */

void inc__decl_shape(const inc_layer *l, const inc__tensor_decl *d, int64_t in, inc__shape *s)
{
  s->ndim = d->ndim;
  for (int i = 0; i < d->ndim; i++) {
    int64_t v = d->dims[i];
    s->d[i] = v > 0 ? v : v == INC__DIM_IN ? in : l->sizes[-v - 2];
  }
}

void inc__decl_fans(const inc__shape *s, int64_t *fan_in, int64_t *fan_out)
{
  int64_t receptive = 1;
  for (int i = 2; i < s->ndim; i++) receptive *= s->d[i];
  *fan_in = (s->ndim > 1 ? s->d[1] : 1) * receptive;
  *fan_out = s->d[0] * receptive;
}

inc_status inc__decl_fill(inc_context *ctx, const inc__tensor_decl *d, inc_init scheme,
                          inc_tensor *t)
{
  inc__values_changed(ctx);
  switch (d->init) {
  case INC__INIT_ZEROS:
  case INC__INIT_COUNT: return ctx->ops->zero(t->data, (size_t)t->numel * sizeof(float), ctx);
  case INC__INIT_ONES:
  case INC__INIT_CONSTANT: {
    /* a uniform fill on [v, v) is v exactly (fmaf(0, u, v)); it draws no
     * stream of the context */
    float v = d->init == INC__INIT_ONES ? 1.0f : d->value;
    return ctx->ops->fill(t->data, t->numel, INC__FILL_UNIFORM, v, v, 0, 0, ctx);
  }
  case INC__INIT_WEIGHT: break;
  }
  inc__shape sh = {0, {0}};
  int64_t fan_in, fan_out;
  inc__shape_of(t, &sh);
  inc__decl_fans(&sh, &fan_in, &fan_out);
  float fi = (float)fan_in, fo = (float)fan_out;
  int dist = INC__FILL_UNIFORM;
  float a = 0.0f, b = 0.0f;
  switch (scheme) {
  case INC_INIT_XAVIER_UNIFORM: b = sqrtf(6.0f / (fi + fo)); a = -b; break;
  case INC_INIT_XAVIER_NORMAL: dist = INC__FILL_NORMAL; b = sqrtf(2.0f / (fi + fo)); break;
  case INC_INIT_KAIMING_UNIFORM: b = sqrtf(6.0f / fi); a = -b; break;
  case INC_INIT_KAIMING_NORMAL: dist = INC__FILL_NORMAL; b = sqrtf(2.0f / fi); break;
  case INC_INIT_NORMAL_001: dist = INC__FILL_NORMAL; b = 0.01f; break;
  }
  return inc__fill_random(ctx, t->data, t->numel, dist, a, b);
}

static void free_params(inc_layer *l)
{
  for (int i = 0; i < l->nparams; i++) {
    inc__tensor_free(l->params[i].value);
    if (l->params[i].in_bucket) l->params[i].grad->data = NULL; /* a hook's bucket holds it */
    inc__tensor_free(l->params[i].grad);
  }
  for (int i = 0; i < l->nbuffers; i++) inc__tensor_free(l->buffers[i].value);
  memset(l->params, 0, sizeof l->params);
  memset(l->buffers, 0, sizeof l->buffers);
  l->nparams = l->nbuffers = 0;
}

/* Allocates the tensor of declaration d (and its gradient if it is a
 * parameter) for a layer bound to `in`. */
static inc_status add_tensor(inc_layer *l, const inc__tensor_decl *d, int64_t in)
{
  int trainable = d->trainable;
  if (trainable ? l->nparams == INC__MAX_PARAMS : l->nbuffers == INC__MAX_BUFFERS)
    return inc__layer_error(l, INC_ERR_STATE, "the kind declares more than %d %s",
                            trainable ? INC__MAX_PARAMS : INC__MAX_BUFFERS,
                            trainable ? "parameters" : "buffers");
  inc__param *p = trainable ? &l->params[l->nparams] : &l->buffers[l->nbuffers];
  inc__shape sh;
  inc__decl_shape(l, d, in, &sh);
  inc_status s = inc__tensor_new(l->ctx, sh.ndim, sh.d, &p->value);
  if (s == INC_OK && trainable) s = inc__tensor_new(l->ctx, sh.ndim, sh.d, &p->grad);
  if (s != INC_OK) {
    inc__tensor_free(p->value);
    p->value = NULL;
    return s;
  }
  p->value->owner_is_layer = 1;
  if (p->grad) p->grad->owner_is_layer = 1;
  p->decl = d;
  if (trainable)
    l->nparams++;
  else
    l->nbuffers++;
  return INC_OK;
}

inc_status inc__layer_fill_params(inc_layer *l)
{
  inc_context *ctx = l->ctx;
  int np = 0, nb = 0;
  for (const inc__tensor_decl *d = l->tensors; d && d->name; d++) {
    inc__param *p = d->trainable ? &l->params[np++] : &l->buffers[nb++];
    inc_status s = INC_OK;
    if (p->grad) s = ctx->ops->zero(p->grad->data, (size_t)p->grad->numel * sizeof(float), ctx);
    if (s == INC_OK) s = inc__decl_fill(ctx, d, l->scheme, p->value);
    if (s != INC_OK) return s;
  }
  return INC_OK;
}

inc_status inc__layer_bind(inc_layer *l, int64_t in)
{
  inc_status s = INC_OK;
  for (const inc__tensor_decl *d = l->tensors; s == INC_OK && d && d->name; d++)
    s = add_tensor(l, d, in);
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

int inc__layer_binding_tensor(const inc_layer *l)
{
  int i = 0;
  for (const inc__tensor_decl *d = l->tensors; d && d->name; d++, i++)
    for (int a = 0; a < d->ndim; a++)
      if (d->dims[a] == INC__DIM_IN) return i;
  return -1;
}

inc_status inc__layer_bind_from(inc_layer *l, int decl, int ndim, const int64_t *dims)
{
  const inc__tensor_decl *d = &l->tensors[decl];
  int64_t in = 0;
  for (int a = 0; a < d->ndim && a < ndim; a++)
    if (d->dims[a] == INC__DIM_IN && !in) in = dims[a];
  inc__shape want;
  inc__decl_shape(l, d, in, &want);
  int fits = in >= 1 && ndim == want.ndim;
  for (int a = 0; fits && a < ndim; a++) fits = dims[a] == want.d[a];
  if (!fits) {
    /* "weight of shape (3, 3) does not fit 2 outputs: it must be (2, *)" */
    char got[96], rule[96], what[128] = "";
    size_t used = 0;
    rule[0] = '\0';
    for (int a = 0; a < d->ndim && used < sizeof rule; a++) {
      char v[24];
      if (d->dims[a] == INC__DIM_IN) snprintf(v, sizeof v, "*");
      else snprintf(v, sizeof v, "%lld", (long long)want.d[a]);
      used += (size_t)snprintf(rule + used, sizeof rule - used, "%s%s", a ? ", " : "(", v);
    }
    if (used < sizeof rule) snprintf(rule + used, sizeof rule - used, ")");
    if (l->vt->describe) l->vt->describe(l, what, sizeof what);
    return inc__layer_error(l, INC_ERR_SHAPE, "%s of shape %s does not fit %s: it must be %s",
                            d->name, inc__dims_str(ndim, dims, got, sizeof got),
                            what[0] ? what : l->vt->kind, rule);
  }
  return inc__layer_bind(l, in);
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
  inc__grad_buckets_drop(l);
  l->bound = 0;
  l->bound_in = 0;
}

/* Unbinds the layers that the binding pass `gen` bound, after a failure. */
static void rollback(inc_layer *l, uint64_t gen)
{
  for (int i = 0; i < l->nchildren; i++) rollback(l->children[i], gen);
  if (l->bound && l->tensors && l->bound_gen == gen) {
    free_params(l);
    l->bound = 0;
    l->bound_in = 0;
  }
}

static int subtree_bound(const inc_layer *l)
{
  if (l->tensors && !l->bound) return 0;
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
  inc__grad_hook_free(l);
  inc__names_free(&l->pnames);
  inc__names_free(&l->bnames);
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

/* ---- enumerating parameters and buffers ---- */

static void count_tensors(const inc_layer *l, int buffers, int *n)
{
  *n += buffers ? l->nbuffers : l->nparams;
  for (int i = 0; i < l->nchildren; i++) count_tensors(l->children[i], buffers, n);
}

static void gather_tensors(const inc_layer *l, int buffers, inc__param **list, inc_layer **leaves,
                           int *n)
{
  int own = buffers ? l->nbuffers : l->nparams;
  for (int i = 0; i < own; i++) {
    list[*n] = (inc__param *)(buffers ? &l->buffers[i] : &l->params[i]);
    if (leaves) leaves[*n] = (inc_layer *)l;
    (*n)++;
  }
  for (int i = 0; i < l->nchildren; i++) gather_tensors(l->children[i], buffers, list, leaves, n);
}

static inc_status collect(const inc_layer *l, int buffers, inc__param ***list, inc_layer ***leaves,
                          int *count)
{
  int n = 0;
  count_tensors(l, buffers, &n);
  *list = (inc__param **)inc__calloc((size_t)n + 1, sizeof **list);
  if (leaves) *leaves = (inc_layer **)inc__calloc((size_t)n + 1, sizeof **leaves);
  if (!*list || (leaves && !*leaves)) {
    inc__free(*list);
    *list = NULL;
    if (leaves) {
      inc__free(*leaves);
      *leaves = NULL;
    }
    return inc__error(l->ctx, INC_ERR_OUT_OF_MEMORY, "%s list: out of host memory",
                      buffers ? "buffer" : "parameter");
  }
  *count = 0;
  gather_tensors(l, buffers, *list, leaves ? *leaves : NULL, count);
  return INC_OK;
}

inc_status inc__collect_params(const inc_layer *l, inc__param ***params, inc_layer ***leaves,
                               int *count)
{
  return collect(l, 0, params, leaves, count);
}

inc_status inc__collect_buffers(const inc_layer *l, inc__param ***buffers, inc_layer ***leaves,
                                int *count)
{
  return collect(l, 1, buffers, leaves, count);
}

const char *inc__param_name(const inc_layer *from, const inc_layer *leaf, const char *local,
                            char *buf, size_t cap)
{
  const inc_layer *chain[64];
  int depth = 0;
  for (const inc_layer *q = leaf; q != from && q && depth < 64; q = q->parent) chain[depth++] = q;
  size_t used = 0;
  buf[0] = '\0';
  for (int i = depth - 1; i >= 0 && used < cap; i--)
    used += (size_t)snprintf(buf + used, cap - used, "%s.", chain[i]->name);
  if (used < cap) snprintf(buf + used, cap - used, "%s", local);
  return buf;
}

void inc__names_free(inc__names *n)
{
  for (int i = 0; n->names && i < n->count; i++) inc__free(n->names[i]);
  inc__free(n->names);
  memset(n, 0, sizeof *n);
}
