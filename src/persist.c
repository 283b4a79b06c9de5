/*
 * persist.c — saving and loading models and checkpoints as safetensors.
 *
 * A file holds the model's declared tensors (parameters, then buffers)
 * under their names ("2.0.p2.2.weight") and, in a checkpoint, the
 * optimizer's state under the names its interface gives
 * ("momentum/2.0.p2.2.weight", src/optimizer.h).
 *
 * Loading validates everything before it changes anything: the file is
 * parsed and checked in full, unbound layers are bound from the file's
 * shapes (and unbound again if a later check fails), every model tensor
 * must be in the file with its shape and every model tensor of the file in
 * the model. Only then are values copied in.
 *
 * Every tensor is float32 in the file, but a count (INC__INIT_COUNT:
 * num_batches_tracked), which is a 0-d int64 as PyTorch saves it and loads
 * from int64 or float32 of shape () or (1).
 */
#include <stdio.h>
#include <string.h>
#include "optimizer.h"
#include "safetensors.h"

/* The model's tensors as a file holds them: its parameters, then its
 * buffers, each with its name relative to the model. */
typedef struct plist {
  inc__param **t;
  inc_layer **leaves;
  char **names;
  int n;
} plist;

static void plist_free(plist *p)
{
  for (int i = 0; p->names && i < p->n; i++) inc__free(p->names[i]);
  inc__free(p->names);
  inc__free(p->t);
  inc__free(p->leaves);
  memset(p, 0, sizeof *p);
}

static inc_status plist_make(const inc_layer *model, plist *p)
{
  memset(p, 0, sizeof *p);
  inc__param **params = NULL, **buffers = NULL;
  inc_layer **pl = NULL, **bl = NULL;
  int np = 0, nb = 0;
  inc_status s = inc__collect_params(model, &params, &pl, &np);
  if (s == INC_OK) s = inc__collect_buffers(model, &buffers, &bl, &nb);
  if (s == INC_OK) {
    p->t = (inc__param **)inc__calloc((size_t)(np + nb) + 1, sizeof *p->t);
    p->leaves = (inc_layer **)inc__calloc((size_t)(np + nb) + 1, sizeof *p->leaves);
    p->names = (char **)inc__calloc((size_t)(np + nb) + 1, sizeof *p->names);
    if (!p->t || !p->leaves || !p->names)
      s = inc__error(model->ctx, INC_ERR_OUT_OF_MEMORY, "parameter list: out of host memory");
  }
  for (int i = 0; s == INC_OK && i < np + nb; i++) {
    p->t[i] = i < np ? params[i] : buffers[i - np];
    p->leaves[i] = i < np ? pl[i] : bl[i - np];
    p->n = i + 1;
    char buf[1024];
    p->names[i] = inc__strdup(inc__param_name(model, p->leaves[i], p->t[i]->decl->name, buf,
                                              sizeof buf));
    if (!p->names[i])
      s = inc__error(model->ctx, INC_ERR_OUT_OF_MEMORY, "parameter list: out of host memory");
  }
  inc__free(params);
  inc__free(pl);
  inc__free(buffers);
  inc__free(bl);
  if (s != INC_OK) plist_free(p);
  return s;
}

/* Downloads tensor t into a new host buffer. */
static inc_status to_host(const inc_tensor *t, float **out)
{
  float *h = (float *)inc__malloc((size_t)t->numel * sizeof(float));
  if (!h) return inc__error(t->ctx, INC_ERR_OUT_OF_MEMORY, "save: out of host memory");
  inc_status s = t->ctx->ops->download(h, t->data, (size_t)t->numel * sizeof(float), t->ctx);
  if (s != INC_OK) {
    inc__free(h);
    return s;
  }
  *out = h;
  return INC_OK;
}

static inc_status save(const inc_layer *model, const inc_optimizer *opt, int n_meta,
                       const char *const *keys, const char *const *values, const char *path)
{
  inc_context *ctx = model->ctx;
  if (!inc_layer_is_bound(model) ||
      inc_layer_param_count(model) + inc_layer_buffer_count(model) == 0)
    return inc__error(ctx, INC_ERR_STATE, "save %s: the model has no bound parameters", path);
  plist pl;
  inc__opt_state st = {0};
  inc_status s = plist_make(model, &pl);
  if (s != INC_OK) return s;
  if (opt) s = inc__opt_state_list(opt, model, &st);
  int cap = pl.n + st.n, n = 0;
  inc__st_out *out = NULL;
  float **host = NULL;
  if (s == INC_OK) {
    out = (inc__st_out *)inc__calloc((size_t)cap + 1, sizeof *out);
    host = (float **)inc__calloc((size_t)cap + 1, sizeof *host);
    if (!out || !host) s = inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "save: out of memory");
  }
  /* the model's tensors, then the optimizer's state that a step has set */
  for (int i = 0; s == INC_OK && i < pl.n + st.n; i++) {
    const inc_tensor *v = i < pl.n ? pl.t[i]->value : st.held[i - pl.n];
    if (!v) continue;
    if ((s = to_host(v, &host[n])) != INC_OK) break;
    out[n].name = i < pl.n ? pl.names[i] : st.names[i - pl.n];
    int count = i < pl.n && pl.t[i]->decl->init == INC__INIT_COUNT;
    out[n].ndim = count ? 0 : v->ndim;
    out[n].shape = v->dims;
    out[n].host = host[n];
    out[n].dtype = count ? INC__ST_I64 : INC__ST_F32;
    n++;
  }
  if (s == INC_OK) s = inc__st_write(path, out, n, keys, values, n_meta, ctx->err, sizeof ctx->err);
  for (int i = 0; host && i < n; i++) inc__free(host[i]);
  inc__free(host);
  inc__free(out);
  inc__opt_state_free(&st);
  plist_free(&pl);
  return s;
}

/* Binds every unbound leaf of model from the file's shape of the tensor
 * that tells what it binds to ("<path>.weight" for conv2d and dense). */
static inc_status bind_from_file(inc_layer *root, inc_layer *l, const inc__st_file *f)
{
  if (l->tensors && !l->bound) {
    int d = inc__layer_binding_tensor(l);
    inc_status s;
    if (d < 0) {
      s = inc__layer_bind(l, 0); /* its shapes do not depend on the input */
    } else {
      char name[1024];
      inc__param_name(root, l, l->tensors[d].name, name, sizeof name);
      const inc__st_entry *e = inc__st_find(f, name);
      if (!e) return inc__layer_error(l, INC_ERR_SHAPE, "the file has no tensor \"%s\"", name);
      s = inc__layer_bind_from(l, d, e->ndim, e->shape);
    }
    if (s != INC_OK) return s;
  }
  for (int i = 0; i < l->nchildren; i++) {
    inc_status s = bind_from_file(root, l->children[i], f);
    if (s != INC_OK) return s;
  }
  return INC_OK;
}

static void unbind_gen(inc_layer *l, uint64_t gen)
{
  for (int i = 0; i < l->nchildren; i++) unbind_gen(l->children[i], gen);
  if (l->bound && l->tensors && l->bound_gen == gen) inc__layer_unbind_tree(l);
}

/* 1 if entry e can be loaded into t, declared by decl (NULL: optimizer state):
 * a count from int64 or float32 of shape () or (1), else float32 of t's
 * shape. */
static int same_shape(const inc__st_entry *e, const inc_tensor *t, const inc__tensor_decl *decl)
{
  if (decl && decl->init == INC__INIT_COUNT) return e->ndim == 0 || (e->ndim == 1 && e->shape[0] == 1);
  if (e->dtype != INC__ST_F32 || e->ndim != t->ndim) return 0;
  for (int d = 0; d < t->ndim; d++)
    if (e->shape[d] != t->dims[d]) return 0;
  return 1;
}

/* Copies the entry's little-endian floats (or int64 counts) into tensor t
 * through tmp, a host buffer of at least t->numel floats. */
static inc_status upload_entry(const inc__st_file *f, const inc__st_entry *e, inc_tensor *t,
                               float *tmp)
{
  const unsigned char *src = f->data + e->begin;
  for (int64_t i = 0; i < t->numel; i++) {
    const unsigned char *b = src + inc__st_dsize(e->dtype) * i;
    uint64_t u = 0;
    for (unsigned k = 0; k < inc__st_dsize(e->dtype); k++) u |= (uint64_t)b[k] << (8 * k);
    if (e->dtype == INC__ST_I64) {
      tmp[i] = (float)(int64_t)u;
    } else {
      uint32_t u32 = (uint32_t)u;
      memcpy(&tmp[i], &u32, 4);
    }
  }
  inc__values_changed(t->ctx);
  return t->ctx->ops->upload(t->data, tmp, (size_t)t->numel * sizeof(float), t->ctx);
}

static inc_status load(inc_layer *model, inc_optimizer *opt, const char *path)
{
  inc_context *ctx = model->ctx;
  unsigned char *buf;
  size_t size;
  inc__st_file f;
  inc_status s = inc__read_file(path, &buf, &size, ctx->err, sizeof ctx->err);
  if (s != INC_OK) return s;
  if ((s = inc__st_parse(buf, size, &f, ctx->err, sizeof ctx->err)) != INC_OK) {
    char detail[INC__ERR_CAP];
    snprintf(detail, sizeof detail, "%s", ctx->err);
    inc__free(buf);
    return inc__error(ctx, s, "load %s: %s", path, detail);
  }
  uint64_t gen = ++ctx->tree_version, stream = ctx->rng_stream;
  s = bind_from_file(model, model, &f);
  plist pl = {0};
  if (s == INC_OK) s = plist_make(model, &pl);
  if (s == INC_OK && pl.n == 0)
    s = inc__error(ctx, INC_ERR_SHAPE, "load %s: the model has no parameters", path);
  int model_entries = 0;
  for (int i = 0; i < f.n; i++)
    if (!inc__opt_is_state(f.entries[i].name)) model_entries++;
  const inc__st_entry **match = NULL;
  if (s == INC_OK && !(match = (const inc__st_entry **)inc__calloc((size_t)pl.n + 1, sizeof *match)))
    s = inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "load: out of host memory");
  char a[96], b[96];
  for (int i = 0; s == INC_OK && i < pl.n; i++) {
    const inc_tensor *v = pl.t[i]->value;
    match[i] = inc__st_find(&f, pl.names[i]);
    if (!match[i])
      s = inc__error(ctx, INC_ERR_SHAPE, "load %s: the file has no tensor \"%s\"", path,
                     pl.names[i]);
    else if (!same_shape(match[i], v, pl.t[i]->decl))
      s = inc__error(ctx, INC_ERR_SHAPE, "load %s: tensor \"%s\" is %s%s in the file but %s in the model",
                     path, pl.names[i], inc__dims_str(match[i]->ndim, match[i]->shape, a, sizeof a),
                     match[i]->dtype == INC__ST_I64 ? " int64" : "",
                     inc__dims_str(v->ndim, v->dims, b, sizeof b));
  }
  if (s == INC_OK && model_entries != pl.n) {
    /* Name one model tensor of the file that matched none of the model's. */
    unsigned char *used = (unsigned char *)inc__calloc((size_t)f.n + 1, 1);
    if (!used) s = inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "load: out of host memory");
    for (int i = 0; used && i < pl.n; i++) used[match[i] - f.entries] = 1;
    for (int i = 0; used && i < f.n; i++) {
      const char *nm = f.entries[i].name;
      if (!used[i] && !inc__opt_is_state(nm)) {
        s = inc__error(ctx, INC_ERR_SHAPE, "load %s: the file has tensor \"%s\" that the model lacks",
                       path, nm);
        break;
      }
    }
    inc__free(used);
  }
  /* Optimizer state: the file's tensors for it go into new tensors, which
   * nobody sees until they are installed below. */
  inc__opt_state st = {0};
  const inc__st_entry **st_e = NULL;
  if (s == INC_OK && opt) {
    s = inc__opt_state_list(opt, model, &st);
    if (s == INC_OK &&
        !(st_e = (const inc__st_entry **)inc__calloc((size_t)st.n + 1, sizeof *st_e)))
      s = inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "load: out of host memory");
    for (int i = 0; s == INC_OK && i < st.n; i++) {
      st_e[i] = inc__st_find(&f, st.names[i]);
      if (!st_e[i]) continue;
      if (!same_shape(st_e[i], st.params[i], NULL))
        s = inc__error(ctx, INC_ERR_SHAPE, "load %s: \"%s\" does not match its parameter's shape",
                       path, st.names[i]);
      else
        s = inc__opt_state_make(opt, &st, i);
    }
  }
  /* Everything that can fail for lack of memory happens before the first
   * write: one conversion buffer for the largest tensor (the optimizer's
   * have their parameters' shapes), the optimizer's room for its state. */
  int64_t most = 0;
  for (int i = 0; s == INC_OK && i < pl.n; i++)
    if (pl.t[i]->value->numel > most) most = pl.t[i]->value->numel;
  float *tmp = NULL; /* (most,) */
  if (s == INC_OK && !(tmp = (float *)inc__malloc((size_t)most * sizeof(float))))
    s = inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "load: out of host memory");
  for (int i = 0; s == INC_OK && i < st.n; i++)
    if (st.loaded[i]) s = upload_entry(&f, st_e[i], st.loaded[i], tmp);
  for (int i = 0; s == INC_OK && i < pl.n; i++)
    s = upload_entry(&f, match[i], pl.t[i]->value, tmp);
  inc__free(tmp);
  if (s == INC_OK && opt) {
    inc__opt_state_install(opt, &st); /* replaces the state of every parameter */
    const char *lr = inc__st_meta(&f, "inc.lr");
    float v;
    if (lr && sscanf(lr, "%g", &v) == 1 && v > 0.0f) opt->lr = v;
  }
  inc__opt_state_free(&st);
  inc__free(st_e);
  inc__free(match);
  plist_free(&pl);
  if (s != INC_OK) {
    unbind_gen(model, gen);
    ctx->rng_stream = stream; /* a failed load leaves the context as it was */
  }
  ctx->tree_version++;
  inc__st_free(&f);
  inc__free(buf);
  return s;
}

static inc_status check_io_args(const inc_layer *model, const char *path, const char *what)
{
  if (!model) return INC_ERR_INVALID_ARGUMENT;
  inc_status s = inc__begin(model->ctx);
  if (s != INC_OK) return s;
  if (!path || !*path)
    return inc__error(model->ctx, INC_ERR_INVALID_ARGUMENT, "%s: path is NULL or empty", what);
  return INC_OK;
}

INC_API inc_status inc_layer_save(const inc_layer *layer, const char *path)
{
  inc_status s = check_io_args(layer, path, "inc_layer_save");
  return s != INC_OK ? s : save(layer, NULL, 0, NULL, NULL, path);
}

INC_API inc_status inc_layer_load(inc_layer *layer, const char *path)
{
  inc_status s = check_io_args(layer, path, "inc_layer_load");
  return s != INC_OK ? s : load(layer, NULL, path);
}

INC_API inc_status inc_checkpoint_save(const inc_layer *model, const inc_optimizer *opt,
                                       int n_meta, const char *const *keys,
                                       const char *const *values, const char *path)
{
  inc_status s = check_io_args(model, path, "inc_checkpoint_save");
  if (s != INC_OK) return s;
  inc_context *ctx = model->ctx;
  if (opt && opt->ctx != ctx)
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "inc_checkpoint_save: the optimizer belongs to another context");
  if (n_meta < 0 || (n_meta > 0 && (!keys || !values)))
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "inc_checkpoint_save: n_meta %d with keys/values missing", n_meta);
  for (int i = 0; i < n_meta; i++) {
    if (!keys[i] || !values[i] || !*keys[i] || !strncmp(keys[i], "inc.", 4))
      return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                        "inc_checkpoint_save: metadata key %d is NULL, empty or reserved "
                        "(\"inc.\" prefix), or its value is NULL", i);
    for (int j = 0; j < i; j++)
      if (!strcmp(keys[i], keys[j]))
        return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                          "inc_checkpoint_save: metadata key \"%s\" repeats", keys[i]);
  }
  /* The library's own entries follow the caller's. */
  const char **k = (const char **)inc__calloc((size_t)n_meta + 3, sizeof *k);
  const char **v = (const char **)inc__calloc((size_t)n_meta + 3, sizeof *v);
  if (!k || !v) {
    inc__free(k);
    inc__free(v);
    return inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "inc_checkpoint_save: out of host memory");
  }
  for (int i = 0; i < n_meta; i++) {
    k[i] = keys[i];
    v[i] = values[i];
  }
  char lr[32];
  int m = n_meta;
  k[m] = "inc.version";
  v[m++] = inc_version_string();
  if (opt) {
    snprintf(lr, sizeof lr, "%.9g", (double)opt->lr);
    k[m] = "inc.lr";
    v[m++] = lr;
  }
  s = save(model, opt, m, k, v, path);
  inc__free(k);
  inc__free(v);
  return s;
}

INC_API inc_status inc_checkpoint_load(inc_layer *model, inc_optimizer *opt, const char *path)
{
  inc_status s = check_io_args(model, path, "inc_checkpoint_load");
  if (s != INC_OK) return s;
  if (opt && opt->ctx != model->ctx)
    return inc__error(model->ctx, INC_ERR_INVALID_ARGUMENT,
                      "inc_checkpoint_load: the optimizer belongs to another context");
  return load(model, opt, path);
}

INC_API inc_status inc_checkpoint_metadata(const char *path, const char *key, char *buf,
                                           size_t cap, size_t *needed)
{
  if (needed) *needed = 0;
  if (!path || !key || (!buf && cap)) return INC_ERR_INVALID_ARGUMENT;
  char msg[256];
  unsigned char *data;
  size_t size;
  inc__st_file f;
  inc_status s = inc__read_file(path, &data, &size, msg, sizeof msg);
  if (s != INC_OK) return s;
  s = inc__st_parse(data, size, &f, msg, sizeof msg);
  if (s != INC_OK) {
    inc__free(data);
    return s;
  }
  const char *v = inc__st_meta(&f, key);
  if (cap) buf[0] = '\0';
  if (v) {
    size_t len = strlen(v);
    if (needed) *needed = len + 1;
    if (cap) {
      size_t n = len < cap - 1 ? len : cap - 1;
      memcpy(buf, v, n);
      buf[n] = '\0';
    }
  }
  inc__st_free(&f);
  inc__free(data);
  return INC_OK;
}
