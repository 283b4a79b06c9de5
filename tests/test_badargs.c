/*
 * test_badargs.c — every public function of inception.h fed bad arguments,
 * driven by one table.
 *
 * Each row makes one call that must fail: NULL handles and out-pointers,
 * zero, negative and overflowing sizes (element counts past int64 or
 * size_t), count != numel, unknown enum values, calls out of order (backward
 * before a training forward, an optimizer step on an unbound model), labels
 * out of range, an output aliasing an input (dlogits on logits), objects of
 * another context, unreadable, malformed and mismatched files. For every row the test checks
 *   - the status is the documented one,
 *   - the context reachable from the arguments (if any) holds a message,
 *   - constructors set *out to NULL,
 *   - nothing observable changed: a digest of the fixture (both contexts'
 *     seed, random stream and device line, every layer tree with its names,
 *     bound state, parameters and gradients, every tensor, the optimizers'
 *     learning rates and momentum buffers, the checkpoint files and the
 *     directory listing) is identical before and after the call,
 *   - nothing leaks (the ASan and valgrind runs, mk/reliability.mk).
 * Functions that cannot fail (getters, destroy) are checked with NULL and
 * out-of-range arguments in test_null_queries.
 */
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util.h"
#include "optimizer.h" /* private: the random stream position and momentum buffers */

/* ------------------------------------------------------------------------ */
/* The fixture                                                               */
/* ------------------------------------------------------------------------ */

typedef struct fx {
  inc_context *a, *b;   /* two CPU contexts */
  inc_layer *net;       /* a: conv 3x3 (4) > relu > maxpool 2 > flatten > dense 3, trained */
  inc_layer *fresh;     /* a: the same, unbound */
  inc_layer *relu;      /* a: no parameters */
  inc_layer *empty;     /* a: an empty sequential */
  inc_layer *cat;       /* a: a concat with one conv branch, unbound */
  inc_layer *res;       /* a: a residual with one identity branch (scale 0.5) */
  inc_layer *other;     /* b: a dense layer, bound */
  inc_layer *hooked;    /* a: a dense layer (3) bound to 5 inputs, with a gradient hook of
                         * 1 KiB buckets: one bucket (two with a tiny bucket_bytes) */
  inc_tensor *x;        /* a: (2, 2, 4, 4), the input of net */
  inc_tensor *x3;       /* a: (2, 3, 4, 4), wrong channel count */
  inc_tensor *xb;       /* b: (2, 2, 4, 4) */
  inc_tensor *dy;       /* a: (2, 3), the shape of net's output */
  inc_tensor *dyb;      /* b: (2, 3) */
  inc_tensor *dl;       /* a: (3, 2), wrong shape for dy / dlogits */
  inc_tensor *t3;       /* a: (2, 3, 1) */
  inc_optimizer *opt;   /* a: SGD with momentum, one step taken */
  inc_optimizer *optb;  /* b */
  char dir[64];         /* private temporary directory */
  char ckpt[128];       /* a valid checkpoint of net and opt */
} fx;

static fx F;

static const int64_t XD[4] = {2, 2, 4, 4}, X3D[4] = {2, 3, 4, 4}, YD[2] = {2, 3},
                     DLD[2] = {3, 2}, T3D[3] = {2, 3, 1};
static const int32_t LABELS[2] = {1, 2};

static inc_layer *add(inc_context *ctx, inc_layer *seq, inc_layer *l)
{
  INC_CK(ctx, inc_sequential_append(seq, l));
  return l;
}

static inc_layer *make_net(inc_context *ctx)
{
  inc_layer *seq, *l;
  INC_CK(ctx, inc_sequential_create(ctx, &seq));
  INC_CK(ctx, inc_conv2d_create(ctx, 4, 3, 1, 1, &l));
  add(ctx, seq, l);
  INC_CK(ctx, inc_relu_create(ctx, &l));
  add(ctx, seq, l);
  INC_CK(ctx, inc_max_pool2d_create(ctx, 2, 0, 0, &l));
  add(ctx, seq, l);
  INC_CK(ctx, inc_flatten_create(ctx, &l));
  add(ctx, seq, l);
  INC_CK(ctx, inc_dense_create(ctx, 3, &l));
  add(ctx, seq, l);
  return seq;
}

static const char *path_in(const char *name)
{
  static char buf[8][160];
  static int k;
  char *p = buf[k++ % 8];
  snprintf(p, 160, "%s/%s", F.dir, name);
  return p;
}

/* A safetensors file from a list of entries (F32 unless dtype is given),
 * data filled with 0.25f, optional raw __metadata__ JSON object. */
typedef struct ent {
  const char *name;
  int ndim;
  int64_t d[4];
  const char *dtype;
} ent;

static void write_st(const char *path, const ent *e, int n, const char *meta)
{
  char hdr[4096];
  size_t used = 0;
  uint64_t off = 0;
  used += (size_t)snprintf(hdr + used, sizeof hdr - used, "{");
  if (meta) used += (size_t)snprintf(hdr + used, sizeof hdr - used, "\"__metadata__\":%s", meta);
  for (int i = 0; i < n; i++) {
    int64_t numel = 1;
    used += (size_t)snprintf(hdr + used, sizeof hdr - used, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                             (i || meta) ? "," : "", e[i].name, e[i].dtype ? e[i].dtype : "F32");
    for (int d = 0; d < e[i].ndim; d++) {
      used += (size_t)snprintf(hdr + used, sizeof hdr - used, d ? ",%lld" : "%lld",
                               (long long)e[i].d[d]);
      numel *= e[i].d[d];
    }
    used += (size_t)snprintf(hdr + used, sizeof hdr - used, "],\"data_offsets\":[%llu,%llu]}",
                             (unsigned long long)off, (unsigned long long)(off + 4 * numel));
    off += 4 * (uint64_t)numel;
  }
  used += (size_t)snprintf(hdr + used, sizeof hdr - used, "}");
  ck_assert(used < sizeof hdr);
  FILE *fp = fopen(path, "wb");
  ck_assert_ptr_nonnull(fp);
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)used >> (8 * i));
  fwrite(len8, 1, 8, fp);
  fwrite(hdr, 1, used, fp);
  const float q = 0.25f;
  for (uint64_t i = 0; i < off / 4; i++) fwrite(&q, 4, 1, fp);
  ck_assert_int_eq(fclose(fp), 0);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
  FILE *fp = fopen(path, "wb");
  ck_assert_ptr_nonnull(fp);
  if (n) ck_assert_uint_eq(fwrite(p, 1, n, fp), n);
  ck_assert_int_eq(fclose(fp), 0);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
  FILE *fp = fopen(path, "rb");
  *n = 0;
  if (!fp) return NULL;
  unsigned char *b = NULL;
  size_t cap = 0;
  for (;;) {
    if (*n == cap) {
      cap = cap ? 2 * cap : 4096;
      b = (unsigned char *)realloc(b, cap);
      ck_assert_ptr_nonnull(b);
    }
    size_t r = fread(b + *n, 1, cap - *n, fp);
    if (!r) break;
    *n += r;
  }
  fclose(fp);
  return b;
}

/* The parameters of net, as in the file. */
#define NET_ENTS                                                                             \
  {"0.weight", 4, {4, 2, 3, 3}, NULL}, {"0.bias", 1, {4}, NULL},                             \
      {"4.weight", 2, {3, 16}, NULL}, {"4.bias", 1, {3}, NULL}

static inc_status noop_ready(void *user, int bucket, float *grad, int64_t count, void *stream)
{
  return INC_OK;
}

/* A valid gradient hook of bucket_bytes bytes. */
static inc_grad_hook grad_hook_of(int64_t bytes)
{
  inc_grad_hook h;
  memset(&h, 0, sizeof h);
  h.size = sizeof h;
  h.bucket_bytes = bytes;
  h.ready = noop_ready;
  return h;
}

static void setup(void)
{
  memset(&F, 0, sizeof F);
  snprintf(F.dir, sizeof F.dir, "%s/inc-badargs-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(F.dir));
  F.a = tu_cpu();
  F.b = tu_cpu();
  inc_context *a = F.a, *b = F.b;
  F.net = make_net(a);
  F.fresh = make_net(a);
  INC_CK(a, inc_relu_create(a, &F.relu));
  INC_CK(a, inc_sequential_create(a, &F.empty));
  inc_layer *l;
  INC_CK(a, inc_concat_create(a, &F.cat));
  INC_CK(a, inc_conv2d_create(a, 2, 1, 1, 0, &l));
  INC_CK(a, inc_concat_add_branch(F.cat, l));
  INC_CK(a, inc_residual_create(a, &F.res));
  INC_CK(a, inc_identity_create(a, &l));
  INC_CK(a, inc_residual_add_branch(F.res, l, 0.5f));
  INC_CK(b, inc_dense_create(b, 3, &F.other));
  int64_t od[INC_MAX_DIMS], bin[2] = {2, 5};
  int on;
  INC_CK(b, inc_layer_infer_shape(F.other, 2, bin, &on, od));
  INC_CK(a, inc_dense_create(a, 3, &F.hooked));
  INC_CK(a, inc_layer_infer_shape(F.hooked, 2, bin, &on, od));
  inc_grad_hook gh = grad_hook_of(1024);
  INC_CK(a, inc_layer_set_grad_hook(F.hooked, &gh));

  float xh[2 * 3 * 4 * 4];
  tu_fill(xh, 2 * 3 * 4 * 4, 3, -1, 1);
  F.x = tu_tensor(a, 4, XD, xh);
  F.x3 = tu_tensor(a, 4, X3D, xh);
  F.xb = tu_tensor(b, 4, XD, xh);
  F.dy = tu_tensor(a, 2, YD, xh);
  F.dyb = tu_tensor(b, 2, YD, xh);
  F.dl = tu_tensor(a, 2, DLD, xh);
  F.t3 = tu_tensor(a, 3, T3D, xh);
  INC_CK(a, inc_sgd_create(a, 0.1f, 0.9f, 0.0f, &F.opt));
  INC_CK(b, inc_sgd_create(b, 0.1f, 0.9f, 0.0f, &F.optb));

  /* one training step, then a training forward and backward so that the
   * gradients are nonzero and a backward is allowed */
  const inc_tensor *y;
  float loss;
  inc_tensor *g = tu_tensor(a, 2, YD, NULL);
  for (int it = 0; it < 2; it++) {
    INC_CK(a, inc_layer_forward(F.net, F.x, 1, &y));
    INC_CK(a, inc_softmax_cross_entropy(a, y, LABELS, &loss, g, NULL));
    INC_CK(a, inc_layer_backward(F.net, g, NULL));
    if (it == 0) INC_CK(a, inc_optimizer_step(F.opt, F.net));
  }
  inc_tensor_destroy(g);

  snprintf(F.ckpt, sizeof F.ckpt, "%s", path_in("ckpt.safetensors"));
  const char *k[1] = {"note"}, *v[1] = {"bad-argument fixture"};
  INC_CK(a, inc_checkpoint_save(F.net, F.opt, 1, k, v, F.ckpt));

  /* files the loaders must refuse */
  const ent good[] = {NET_ENTS};
  const ent wrong_bias[] = {{"0.weight", 4, {4, 2, 3, 3}, NULL}, {"0.bias", 1, {5}, NULL},
                            {"4.weight", 2, {3, 16}, NULL}, {"4.bias", 1, {3}, NULL}};
  const ent wrong_in[] = {{"0.weight", 4, {4, 3, 3, 3}, NULL}, {"0.bias", 1, {4}, NULL},
                          {"4.weight", 2, {3, 16}, NULL}, {"4.bias", 1, {3}, NULL}};
  const ent extra[] = {NET_ENTS, {"9.weight", 1, {2}, NULL}};
  const ent f16[] = {{"0.weight", 4, {4, 2, 3, 3}, "F16"}, {"0.bias", 1, {4}, NULL},
                     {"4.weight", 2, {3, 16}, NULL}, {"4.bias", 1, {3}, NULL}};
  const ent bad_mom[] = {NET_ENTS, {"momentum/0.bias", 1, {7}, NULL}};
  write_st(path_in("good.safetensors"), good, 4, "{\"k\":\"v\"}");
  write_st(path_in("wrong_bias.safetensors"), wrong_bias, 4, NULL);
  write_st(path_in("wrong_in.safetensors"), wrong_in, 4, NULL);
  write_st(path_in("missing.safetensors"), good, 3, NULL);
  write_st(path_in("extra.safetensors"), extra, 5, NULL);
  write_st(path_in("f16.safetensors"), f16, 4, NULL);
  write_st(path_in("bad_mom.safetensors"), bad_mom, 5, NULL);
  write_st(path_in("no_tensors.safetensors"), NULL, 0, "{\"k\":\"v\"}");
  write_bytes(path_in("empty.safetensors"), "", 0);
  const char junk[] = "this is not a safetensors file at all, just some text";
  write_bytes(path_in("junk.safetensors"), junk, sizeof junk);
  size_t n;
  unsigned char *ck = read_bytes(F.ckpt, &n);
  ck_assert_ptr_nonnull(ck);
  write_bytes(path_in("truncated.safetensors"), ck, n - 7);
  free(ck);
  ck_assert_int_eq(mkdir(path_in("subdir"), 0700), 0);
  INC_CK(a, inc_context_synchronize(a));
  INC_CK(b, inc_context_synchronize(b));
}

static void rm_tree(const char *dir)
{
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      rm_tree(p);
    else
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

static void teardown(void)
{
  inc_optimizer_destroy(F.opt);
  inc_optimizer_destroy(F.optb);
  inc_tensor *ts[] = {F.x, F.x3, F.xb, F.dy, F.dyb, F.dl, F.t3};
  for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) inc_tensor_destroy(ts[i]);
  inc_layer *ls[] = {F.net, F.fresh, F.relu, F.empty, F.cat, F.res, F.other, F.hooked};
  for (size_t i = 0; i < sizeof ls / sizeof *ls; i++) inc_layer_destroy(ls[i]);
  inc_context_destroy(F.a);
  inc_context_destroy(F.b);
  rm_tree(F.dir);
  memset(&F, 0, sizeof F);
}

/* ------------------------------------------------------------------------ */
/* The digest of everything a failed call must leave alone                   */
/* ------------------------------------------------------------------------ */

enum { D_CTX_A, D_CTX_B, D_NET, D_FRESH, D_SMALL, D_TENSORS, D_OPT, D_FILES, D_N };
static const char *const D_NAMES[D_N] = {
    "context a (seed, random stream, threads, precision, device line)",
    "context b",
    "net (tree, names, bound shapes, parameters, gradients)",
    "fresh (the unbound net)",
    "relu / empty / concat / residual / other / hooked layers",
    "the fixture's tensors",
    "the optimizers (learning rate, momentum buffers)",
    "the files in the temporary directory",
};

typedef struct digest {
  uint64_t h[D_N];
} digest;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
  const unsigned char *b = (const unsigned char *)p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}
static uint64_t fnv_str(uint64_t h, const char *s) { return fnv(h, s, strlen(s) + 1); }
static uint64_t fnv_i64(uint64_t h, int64_t v) { return fnv(h, &v, sizeof v); }

static uint64_t hash_tensor(uint64_t h, const inc_tensor *t)
{
  int nd = inc_tensor_ndim(t);
  h = fnv_i64(h, nd);
  for (int i = 0; i < nd; i++) h = fnv_i64(h, inc_tensor_dim(t, i));
  int64_t n = inc_tensor_numel(t);
  float *buf = (float *)malloc((size_t)n * sizeof(float) + 1);
  ck_assert_ptr_nonnull(buf);
  ck_assert_int_eq(inc_tensor_copy_to_host(t, buf, n), INC_OK);
  h = fnv(h, buf, (size_t)n * sizeof(float));
  free(buf);
  return h;
}

static uint64_t hash_tree(uint64_t h, const inc_layer *l)
{
  h = fnv_str(h, inc_layer_kind(l));
  h = fnv_str(h, inc_layer_name(l));
  h = fnv_i64(h, inc_layer_is_bound(l));
  h = fnv_i64(h, inc_layer_child_count(l));
  h = fnv(h, &l->parent, sizeof l->parent);
  for (int i = 0; i < inc_layer_child_count(l); i++) h = hash_tree(h, inc_layer_child(l, i));
  return h;
}

static uint64_t hash_layer(uint64_t h, const inc_layer *l)
{
  h = hash_tree(h, l);
  int n = inc_layer_param_count(l);
  h = fnv_i64(h, n);
  h = fnv_i64(h, inc_layer_param_numel(l));
  for (int i = 0; i < n; i++) {
    const char *name;
    inc_tensor *v, *g;
    ck_assert_int_eq(inc_layer_param(l, i, &name, &v, &g), INC_OK);
    h = fnv_str(h, name);
    h = hash_tensor(h, v);
    h = hash_tensor(h, g);
  }
  n = inc_layer_buffer_count(l);
  h = fnv_i64(h, n);
  for (int i = 0; i < n; i++) {
    const char *name;
    inc_tensor *t;
    ck_assert_int_eq(inc_layer_buffer(l, i, &name, &t), INC_OK);
    h = fnv_str(h, name);
    h = hash_tensor(h, t);
  }
  n = inc_layer_grad_bucket_count(l); /* a gradient hook's layout */
  h = fnv_i64(h, n);
  for (int i = 0; i < n; i++) {
    int64_t count;
    int first, np;
    ck_assert_int_eq(inc_layer_grad_bucket(l, i, &count, &first, &np), INC_OK);
    h = fnv_i64(fnv_i64(fnv_i64(h, count), first), np);
  }
  return h;
}

static uint64_t hash_ctx(uint64_t h, const inc_context *c)
{
  h = fnv_i64(h, (int64_t)inc_context_seed(c));
  h = fnv_i64(h, (int64_t)c->rng_stream);
  h = fnv_i64(h, c->num_threads);
  h = fnv_i64(h, inc_context_backend(c));
  h = fnv_i64(h, inc_context_precision(c));
  return fnv_str(h, inc_context_device_name(c));
}

static uint64_t hash_opt(uint64_t h, const inc_optimizer *o)
{
  float lr = inc_optimizer_lr(o);
  h = fnv(h, &lr, sizeof lr);
  h = fnv_i64(h, o->n);
  for (int i = 0; i < o->n; i++) {
    h = fnv_i64(h, (int64_t)o->slots[i].uid);
    h = fnv_i64(h, o->slots[i].first);
    h = hash_tensor(h, o->slots[i].buf);
  }
  return h;
}

static int cmp_str(const void *x, const void *y)
{
  return strcmp(*(char *const *)x, *(char *const *)y);
}

static uint64_t hash_dir(uint64_t h, const char *dir)
{
  char *names[256];
  int n = 0;
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  struct dirent *e;
  while ((e = readdir(d)) && n < 256)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
  closedir(d);
  qsort(names, (size_t)n, sizeof *names, cmp_str);
  for (int i = 0; i < n; i++) {
    h = fnv_str(h, names[i]);
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    size_t len;
    unsigned char *b = read_bytes(p, &len);
    if (b) h = fnv(h, b, len);
    free(b);
    free(names[i]);
  }
  return h;
}

static void take_digest(digest *d)
{
  const uint64_t h0 = 0xcbf29ce484222325ULL;
  d->h[D_CTX_A] = hash_ctx(h0, F.a);
  d->h[D_CTX_B] = hash_ctx(h0, F.b);
  d->h[D_NET] = hash_layer(h0, F.net);
  d->h[D_FRESH] = hash_layer(h0, F.fresh);
  uint64_t h = hash_layer(h0, F.relu);
  h = hash_layer(h, F.empty);
  h = hash_layer(h, F.cat);
  h = hash_layer(h, F.res);
  h = hash_layer(h, F.other);
  d->h[D_SMALL] = hash_layer(h, F.hooked);
  h = h0;
  const inc_tensor *ts[] = {F.x, F.x3, F.xb, F.dy, F.dyb, F.dl, F.t3};
  for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) h = hash_tensor(h, ts[i]);
  d->h[D_TENSORS] = h;
  d->h[D_OPT] = hash_opt(hash_opt(h0, F.opt), F.optb);
  d->h[D_FILES] = hash_dir(h0, F.dir);
}

/* ------------------------------------------------------------------------ */
/* The rows                                                                  */
/* ------------------------------------------------------------------------ */

enum { NONE, CA, CB }; /* the context that must hold a message */
#define ANY_OK (-1)    /* want: INC_OK or INC_ERR_UNAVAILABLE, by the build */

typedef struct row {
  const char *what;
  inc_status (*call)(void);
  int want;  /* an inc_status, or ANY_OK */
  int want2; /* another accepted status, or -1 */
  int msg;   /* NONE, CA, CB */
} row;

static int sentinel;
#define SENT ((void *)&sentinel)

/* Constructors: on failure *out must be NULL. Whatever came back is freed. */
static inc_status ctx_out(inc_status s, inc_context *c)
{
  int bad = s != INC_OK && c != NULL;
  if (c && c != SENT) inc_context_destroy(c);
  ck_assert_msg(!bad, "*out not set to NULL on failure");
  return s;
}
static inc_status tensor_out(inc_status s, inc_tensor *t)
{
  int bad = s != INC_OK && t != NULL;
  if (t && t != SENT) inc_tensor_destroy(t);
  ck_assert_msg(!bad, "*out not set to NULL on failure");
  return s;
}
static inc_status layer_out(inc_status s, inc_layer *l)
{
  int bad = s != INC_OK && l != NULL;
  if (l && l != SENT) inc_layer_destroy(l);
  ck_assert_msg(!bad, "*out not set to NULL on failure");
  return s;
}
static inc_status opt_out(inc_status s, inc_optimizer *o)
{
  int bad = s != INC_OK && o != NULL;
  if (o && o != SENT) inc_optimizer_destroy(o);
  ck_assert_msg(!bad, "*out not set to NULL on failure");
  return s;
}

#define R(fn) static inc_status fn(void)

/* ---- contexts ---- */
R(ctx_null_out) { return inc_context_create(INC_BACKEND_CPU, NULL); }
static inc_status ctx_create(inc_backend b)
{
  inc_context *c = SENT;
  inc_status s = inc_context_create(b, &c);
  return ctx_out(s, c);
}
R(ctx_backend_3) { return ctx_create((inc_backend)3); }
R(ctx_backend_neg) { return ctx_create((inc_backend)-1); }
R(ctx_backend_max) { return ctx_create((inc_backend)INT_MAX); }
R(ctx_cuda)
{
  inc_context *c = SENT;
  inc_status s = inc_context_create(INC_BACKEND_CUDA, &c);
  if (s == INC_OK) {
    inc_context_destroy(c);
    return INC_OK;
  }
  ck_assert_int_eq(inc_backend_available(INC_BACKEND_CUDA), 0);
  return ctx_out(s, c);
}
/* inc_backend_probe: an unknown backend writes an empty reason; CUDA
 * without a GPU explains itself, truncated to cap, NUL-terminated; cap 0
 * writes nothing. */
static inc_status probe_bad(inc_backend b)
{
  char why[8] = "xxxxxxx";
  inc_status s = inc_backend_probe(b, why, sizeof why);
  ck_assert_str_eq(why, "");
  return s;
}
R(probe_backend_3) { return probe_bad((inc_backend)3); }
R(probe_backend_neg) { return probe_bad((inc_backend)-1); }
R(probe_cuda)
{
  char why[24], none[4] = "abc";
  inc_status s = inc_backend_probe(INC_BACKEND_CUDA, why, sizeof why);
  ck_assert_int_eq(inc_backend_available(INC_BACKEND_CUDA), s == INC_OK);
  ck_assert(s == INC_OK ? why[0] == '\0' : strlen(why) == sizeof why - 1);
  ck_assert_int_eq(inc_backend_probe(INC_BACKEND_CUDA, none, 0), s);
  ck_assert_str_eq(none, "abc");
  ck_assert_int_eq(inc_backend_probe(INC_BACKEND_CUDA, NULL, 16), s);
  return s;
}
R(seed_null) { return inc_context_set_seed(NULL, 7); }
R(threads_null) { return inc_context_set_num_threads(NULL, 1); }
R(threads_neg) { return inc_context_set_num_threads(F.a, -1); }
R(threads_min) { return inc_context_set_num_threads(F.a, INT_MIN); }
R(sync_null) { return inc_context_synchronize(NULL); }
R(prec_null) { return inc_context_set_precision(NULL, INC_PRECISION_FP32); }
R(prec_2) { return inc_context_set_precision(F.a, (inc_precision)2); }
R(prec_neg) { return inc_context_set_precision(F.a, (inc_precision)-1); }
R(prec_max) { return inc_context_set_precision(F.a, (inc_precision)INT_MAX); }

/* ---- tensors ---- */
static inc_status tcreate(inc_context *c, int ndim, const int64_t *dims)
{
  inc_tensor *t = SENT;
  inc_status s = inc_tensor_create(c, ndim, dims, &t);
  return tensor_out(s, t);
}
static const int64_t D1[1] = {4};
R(tc_null_ctx) { return tcreate(NULL, 1, D1); }
R(tc_null_out) { return inc_tensor_create(F.a, 1, D1, NULL); }
R(tc_ndim0) { return tcreate(F.a, 0, D1); }
R(tc_ndim_neg) { return tcreate(F.a, -1, D1); }
R(tc_ndim9)
{
  int64_t d[INC_MAX_DIMS + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  return tcreate(F.a, INC_MAX_DIMS + 1, d);
}
R(tc_dims_null) { return tcreate(F.a, 2, NULL); }
R(tc_dim0)
{
  int64_t d[3] = {2, 0, 3};
  return tcreate(F.a, 3, d);
}
R(tc_dim_neg)
{
  int64_t d[2] = {2, -3};
  return tcreate(F.a, 2, d);
}
R(tc_dim_min)
{
  int64_t d[1] = {INT64_MIN};
  return tcreate(F.a, 1, d);
}
R(tc_overflow_i64)
{
  int64_t d[2] = {(int64_t)1 << 32, (int64_t)1 << 32};
  return tcreate(F.a, 2, d);
}
R(tc_overflow_i64_b)
{
  int64_t d[3] = {3, INT64_MAX / 2, 1};
  return tcreate(F.a, 3, d);
}
R(tc_overflow_max)
{
  int64_t d[1] = {INT64_MAX};
  return tcreate(F.a, 1, d);
}
R(tc_overflow_size)
{
  int64_t d[2] = {(int64_t)1 << 31, (int64_t)1 << 31}; /* 2^62 floats: 2^64 bytes */
  return tcreate(F.a, 2, d);
}
R(tc_too_big)
{
  int64_t d[2] = {(int64_t)1 << 30, (int64_t)1 << 28}; /* 2^58 floats: fits, not in memory */
  return tcreate(F.a, 2, d);
}

static float HOST[64] = {9, 9, 9, 9};
R(cfh_null) { return inc_tensor_copy_from_host(NULL, HOST, 4); }
R(cfh_src_null) { return inc_tensor_copy_from_host(F.dy, NULL, 6); }
R(cfh_less) { return inc_tensor_copy_from_host(F.dy, HOST, 5); }
R(cfh_more) { return inc_tensor_copy_from_host(F.dy, HOST, 7); }
R(cfh_zero) { return inc_tensor_copy_from_host(F.dy, HOST, 0); }
R(cfh_neg) { return inc_tensor_copy_from_host(F.dy, HOST, -6); }
R(cfh_max) { return inc_tensor_copy_from_host(F.dy, HOST, INT64_MAX); }

static inc_status to_host(const inc_tensor *t, int64_t count, int null_dst)
{
  float dst[64];
  for (int i = 0; i < 64; i++) dst[i] = -7.0f;
  inc_status s = inc_tensor_copy_to_host(t, null_dst ? NULL : dst, count);
  for (int i = 0; s != INC_OK && i < 64; i++)
    ck_assert_msg(dst[i] == -7.0f, "dst[%d] written by a failed copy", i);
  return s;
}
R(cth_null) { return to_host(NULL, 4, 0); }
R(cth_dst_null) { return to_host(F.dy, 6, 1); }
R(cth_less) { return to_host(F.dy, 5, 0); }
R(cth_more) { return to_host(F.dy, 7, 0); }
R(cth_neg) { return to_host(F.dy, -1, 0); }

R(rs_null) { return inc_tensor_reshape(NULL, 2, YD); }
R(rs_ndim0) { return inc_tensor_reshape(F.dy, 0, YD); }
R(rs_ndim9)
{
  int64_t d[INC_MAX_DIMS + 1] = {6, 1, 1, 1, 1, 1, 1, 1, 1};
  return inc_tensor_reshape(F.dy, INC_MAX_DIMS + 1, d);
}
R(rs_dims_null) { return inc_tensor_reshape(F.dy, 2, NULL); }
R(rs_dim0)
{
  int64_t d[2] = {0, 6};
  return inc_tensor_reshape(F.dy, 2, d);
}
R(rs_numel)
{
  int64_t d[2] = {2, 4};
  return inc_tensor_reshape(F.dy, 2, d);
}
R(rs_overflow)
{
  int64_t d[3] = {6, (int64_t)1 << 40, (int64_t)1 << 40};
  return inc_tensor_reshape(F.dy, 3, d);
}
R(rs_param)
{
  inc_tensor *w;
  ck_assert_int_eq(inc_layer_param(F.net, 0, NULL, &w, NULL), INC_OK);
  int64_t d[2] = {4, 18};
  return inc_tensor_reshape(w, 2, d);
}

/* ---- layer constructors ---- */
#define MK(fn, call)                                                                          \
  R(fn)                                                                                      \
  {                                                                                          \
    inc_layer *l = SENT;                                                                     \
    inc_status s_ = call;                                                                    \
    return layer_out(s_, l);                                                                 \
  }
MK(conv_null_ctx, inc_conv2d_create(NULL, 4, 3, 1, 1, &l))
R(conv_null_out) { return inc_conv2d_create(F.a, 4, 3, 1, 1, NULL); }
MK(conv_oc0, inc_conv2d_create(F.a, 0, 3, 1, 1, &l))
MK(conv_oc_neg, inc_conv2d_create(F.a, -4, 3, 1, 1, &l))
MK(conv_k0, inc_conv2d_create(F.a, 4, 0, 1, 1, &l))
MK(conv_k_neg, inc_conv2d_create(F.a, 4, INT_MIN, 1, 1, &l))
MK(conv_s0, inc_conv2d_create(F.a, 4, 3, 0, 1, &l))
MK(conv_s_neg, inc_conv2d_create(F.a, 4, 3, -1, 1, &l))
MK(conv_p_neg, inc_conv2d_create(F.a, 4, 3, 1, -1, &l))
/* A valid descriptor (4 filters 1x7, stride (2, 1), padding (0, 3), no
 * bias), one field of which a row spoils. */
static inc_conv2d_desc desc_ok(void)
{
  inc_conv2d_desc d;
  memset(&d, 0, sizeof d);
  d.size = sizeof d;
  d.out_channels = 4;
  d.kernel_h = 1;
  d.kernel_w = 7;
  d.stride_h = 2;
  d.stride_w = 1;
  d.pad_h = 0;
  d.pad_w = 3;
  d.bias = 0;
  return d;
}
#define MKD(fn, stmt)                                                                         \
  R(fn)                                                                                       \
  {                                                                                           \
    inc_conv2d_desc d = desc_ok();                                                            \
    stmt;                                                                                     \
    inc_layer *l = SENT;                                                                      \
    inc_status s_ = inc_conv2d_create_desc(F.a, &d, &l);                                      \
    return layer_out(s_, l);                                                                  \
  }
R(cd_null_ctx)
{
  inc_conv2d_desc d = desc_ok();
  inc_layer *l = SENT;
  inc_status s_ = inc_conv2d_create_desc(NULL, &d, &l);
  return layer_out(s_, l);
}
R(cd_null_out)
{
  inc_conv2d_desc d = desc_ok();
  return inc_conv2d_create_desc(F.a, &d, NULL);
}
MK(cd_null_desc, inc_conv2d_create_desc(F.a, NULL, &l))
MKD(cd_size0, d.size = 0)
MKD(cd_size_small, d.size = sizeof d - sizeof(int))
MKD(cd_size_huge, d.size = (size_t)-1)
MKD(cd_oc0, d.out_channels = 0)
MKD(cd_kh0, d.kernel_h = 0)
MKD(cd_kw_neg, d.kernel_w = -7)
MKD(cd_sh0, d.stride_h = 0)
MKD(cd_sw_min, d.stride_w = INT_MIN)
MKD(cd_ph_neg, d.pad_h = -1)
MKD(cd_pw_neg, d.pad_w = -3)
MKD(cd_bias2, d.bias = 2)
MKD(cd_bias_neg, d.bias = -1)
/* a caller of a later version: a larger struct whose field beyond 0.4's is
 * not at its default */
R(cd_later_field)
{
  struct {
    inc_conv2d_desc d;
    int later;
  } big;
  memset(&big, 0, sizeof big);
  big.d = desc_ok();
  big.d.size = sizeof big;
  big.later = 1;
  inc_layer *l = SENT;
  inc_status s_ = inc_conv2d_create_desc(F.a, &big.d, &l);
  return layer_out(s_, l);
}
MK(mp_null_ctx, inc_max_pool2d_create(NULL, 3, 1, 1, &l))
R(mp_null_out) { return inc_max_pool2d_create(F.a, 3, 1, 1, NULL); }
MK(mp_k0, inc_max_pool2d_create(F.a, 0, 1, 0, &l))
MK(mp_k_neg, inc_max_pool2d_create(F.a, -3, 1, 0, &l))
MK(mp_s_neg, inc_max_pool2d_create(F.a, 3, -1, 1, &l))
MK(mp_p_neg, inc_max_pool2d_create(F.a, 3, 1, -1, &l))
MK(mp_p_big, inc_max_pool2d_create(F.a, 3, 1, 2, &l))
MK(ap_null_ctx, inc_avg_pool2d_create(NULL, 3, 1, 1, &l))
R(ap_null_out) { return inc_avg_pool2d_create(F.a, 3, 1, 1, NULL); }
MK(ap_k0, inc_avg_pool2d_create(F.a, 0, 0, 0, &l))
MK(ap_s_neg, inc_avg_pool2d_create(F.a, 2, INT_MIN, 0, &l))
MK(ap_p_neg, inc_avg_pool2d_create(F.a, 2, 2, -1, &l))
MK(ap_p_big, inc_avg_pool2d_create(F.a, 4, 1, 3, &l))
MK(gap_null_ctx, inc_global_avg_pool2d_create(NULL, &l))
R(gap_null_out) { return inc_global_avg_pool2d_create(F.a, NULL); }
MK(relu_null_ctx, inc_relu_create(NULL, &l))
R(relu_null_out) { return inc_relu_create(F.a, NULL); }
MK(drop_null_ctx, inc_dropout_create(NULL, 0.5f, &l))
R(drop_null_out) { return inc_dropout_create(F.a, 0.5f, NULL); }
MK(drop_neg, inc_dropout_create(F.a, -0.1f, &l))
MK(drop_one, inc_dropout_create(F.a, 1.0f, &l))
MK(drop_big, inc_dropout_create(F.a, 1.5f, &l))
MK(drop_nan, inc_dropout_create(F.a, NAN, &l))
MK(drop_inf, inc_dropout_create(F.a, INFINITY, &l))
MK(drop_minf, inc_dropout_create(F.a, -INFINITY, &l))
MK(flat_null_ctx, inc_flatten_create(NULL, &l))
R(flat_null_out) { return inc_flatten_create(F.a, NULL); }
MK(dense_null_ctx, inc_dense_create(NULL, 3, &l))
R(dense_null_out) { return inc_dense_create(F.a, 3, NULL); }
MK(dense_0, inc_dense_create(F.a, 0, &l))
MK(dense_neg, inc_dense_create(F.a, INT_MIN, &l))
MK(seq_null_ctx, inc_sequential_create(NULL, &l))
R(seq_null_out) { return inc_sequential_create(F.a, NULL); }
MK(cat_null_ctx, inc_concat_create(NULL, &l))
R(cat_null_out) { return inc_concat_create(F.a, NULL); }
MK(id_null_ctx, inc_identity_create(NULL, &l))
R(id_null_out) { return inc_identity_create(F.a, NULL); }
MK(res_null_ctx, inc_residual_create(NULL, &l))
R(res_null_out) { return inc_residual_create(F.a, NULL); }
MK(inc_null_ctx, inc_inception_create(NULL, 1, 1, 1, 1, 1, 1, &l))
R(inc_null_out) { return inc_inception_create(F.a, 1, 1, 1, 1, 1, 1, NULL); }
MK(inc_c1, inc_inception_create(F.a, 0, 1, 1, 1, 1, 1, &l))
MK(inc_c2r, inc_inception_create(F.a, 1, 0, 1, 1, 1, 1, &l))
MK(inc_c2, inc_inception_create(F.a, 1, 1, -1, 1, 1, 1, &l))
MK(inc_c3r, inc_inception_create(F.a, 1, 1, 1, 0, 1, 1, &l))
MK(inc_c3, inc_inception_create(F.a, 1, 1, 1, 1, INT_MIN, 1, &l))
MK(inc_c4, inc_inception_create(F.a, 1, 1, 1, 1, 1, 0, &l))
MK(gn_null_ctx, inc_googlenet_create(NULL, 10, &l))
R(gn_null_out) { return inc_googlenet_create(F.a, 10, NULL); }
MK(gn_0, inc_googlenet_create(F.a, 0, &l))
MK(gn_neg, inc_googlenet_create(F.a, -10, &l))
MK(gnbn_null_ctx, inc_googlenet_bn_create(NULL, 10, &l))
R(gnbn_null_out) { return inc_googlenet_bn_create(F.a, 10, NULL); }
MK(gnbn_0, inc_googlenet_bn_create(F.a, 0, &l))
static inc_googlenet_desc gdesc(size_t size, int classes, int bn, float dropout)
{
  inc_googlenet_desc d;
  memset(&d, 0, sizeof d);
  d.size = size;
  d.classes = classes;
  d.batch_norm = bn;
  d.dropout = dropout;
  return d;
}
#define GD(fn, size, classes, bn, drop)                                                       \
  R(fn)                                                                                      \
  {                                                                                          \
    inc_googlenet_desc d = gdesc(size, classes, bn, drop);                                   \
    inc_layer *l = SENT;                                                                     \
    inc_status s_ = inc_googlenet_create_desc(F.a, &d, &l);                                  \
    return layer_out(s_, l);                                                                 \
  }
GD(gd_size0, 0, 10, 0, 0.0f)
GD(gd_size_small, sizeof(size_t) + sizeof(int), 10, 0, 0.0f)
GD(gd_size_big, 4097, 10, 0, 0.0f)
GD(gd_classes0, sizeof(inc_googlenet_desc), 0, 0, 0.0f)
GD(gd_bn2, sizeof(inc_googlenet_desc), 10, 2, 0.0f)
GD(gd_drop1, sizeof(inc_googlenet_desc), 10, 1, 1.0f)
GD(gd_drop_neg, sizeof(inc_googlenet_desc), 10, 1, -0.1f)
GD(gd_drop_nan, sizeof(inc_googlenet_desc), 10, 1, NAN)
R(gd_reserved)
{
  inc_googlenet_desc d = gdesc(sizeof d, 10, 0, 0.0f);
  d.reserved = 1;
  inc_layer *l = SENT;
  inc_status s_ = inc_googlenet_create_desc(F.a, &d, &l);
  return layer_out(s_, l);
}
R(gd_null_desc)
{
  inc_layer *l = SENT;
  inc_status s_ = inc_googlenet_create_desc(F.a, NULL, &l);
  return layer_out(s_, l);
}
R(gd_null_out)
{
  inc_googlenet_desc d = gdesc(sizeof d, 10, 0, 0.0f);
  return inc_googlenet_create_desc(F.a, &d, NULL);
}
MK(gd_null_ctx, inc_googlenet_create_desc(NULL, NULL, &l))
MK(v3_null_ctx, inc_inception_v3_create(NULL, 2, 2, 2, 2, 7, &l))
R(v3_null_out) { return inc_inception_v3_create(F.a, 2, 2, 2, 2, 7, NULL); }
MK(v3_c0, inc_inception_v3_create(F.a, 0, 2, 2, 2, 7, &l))
MK(v3_cpool_neg, inc_inception_v3_create(F.a, 2, 2, 2, -1, 7, &l))
MK(v3_n_even, inc_inception_v3_create(F.a, 2, 2, 2, 2, 6, &l))
MK(v3_n1, inc_inception_v3_create(F.a, 2, 2, 2, 2, 1, &l))
MK(v3_n_big, inc_inception_v3_create(F.a, 2, 2, 2, 2, 257, &l))
MK(bn_null_ctx, inc_batch_norm2d_create(NULL, 1e-5f, 0.1f, &l))
R(bn_null_out) { return inc_batch_norm2d_create(F.a, 1e-5f, 0.1f, NULL); }
MK(bn_eps0, inc_batch_norm2d_create(F.a, 0.0f, 0.1f, &l))
MK(bn_eps_neg, inc_batch_norm2d_create(F.a, -1e-5f, 0.1f, &l))
MK(bn_eps_nan, inc_batch_norm2d_create(F.a, NAN, 0.1f, &l))
MK(bn_eps_inf, inc_batch_norm2d_create(F.a, INFINITY, 0.1f, &l))
MK(bn_mom_neg, inc_batch_norm2d_create(F.a, 1e-5f, -0.1f, &l))
MK(bn_mom_big, inc_batch_norm2d_create(F.a, 1e-5f, 1.5f, &l))
MK(bn_mom_nan, inc_batch_norm2d_create(F.a, 1e-5f, NAN, &l))

/* ---- containers: on failure the child stays the caller's ---- */
/* Adds a new ReLU (of context a, or b for child_kind 1; none for -1) to
 * parent: a sequential (to 0), a concat (1) or a residual (2, with scale). */
static inc_status add_scaled(int to, inc_layer *parent, int child_kind, float scale)
{
  inc_layer *c = NULL;
  inc_context *ctx = child_kind == 1 ? F.b : F.a;
  if (child_kind >= 0) ck_assert_int_eq(inc_relu_create(ctx, &c), INC_OK);
  inc_status s = to == 2 ? inc_residual_add_branch(parent, c, scale)
                 : to   ? inc_concat_add_branch(parent, c)
                        : inc_sequential_append(parent, c);
  if (s != INC_OK) {
    ck_assert_ptr_null(inc_layer_parent(c));
    inc_layer_destroy(c);
  }
  return s;
}
static inc_status append_local(int to, inc_layer *parent, int child_kind)
{
  return add_scaled(to, parent, child_kind, 0.5f);
}
R(app_null_seq) { return append_local(0, NULL, 0); }
R(app_null_child) { return append_local(0, F.empty, -1); }
R(app_to_concat) { return append_local(0, F.cat, 0); }
R(app_to_leaf) { return append_local(0, F.relu, 0); }
R(app_other_ctx) { return append_local(0, F.empty, 1); }
R(app_has_parent) { return inc_sequential_append(F.empty, inc_layer_child(F.net, 1)); }
R(app_self) { return inc_sequential_append(F.net, F.net); }
R(app_ancestor)
{
  inc_layer *inner;
  ck_assert_int_eq(inc_sequential_create(F.a, &inner), INC_OK);
  ck_assert_int_eq(inc_sequential_append(F.empty, inner), INC_OK);
  inc_status s = inc_sequential_append(inner, F.empty);
  ck_assert_msg(inc_context_last_error(F.a)[0], "no message");
  /* undo the setup change: rebuild an empty 'empty' */
  inc_layer_destroy(F.empty);
  ck_assert_int_eq(inc_sequential_create(F.a, &F.empty), INC_OK);
  return s;
}
R(app_dup_name)
{
  inc_layer *c;
  ck_assert_int_eq(inc_relu_create(F.a, &c), INC_OK);
  ck_assert_int_eq(inc_layer_set_name(c, "1"), INC_OK);
  inc_status s = inc_sequential_append(F.net, c); /* net already has a child "1" */
  inc_layer_destroy(c);
  return s;
}
R(br_null_cat) { return append_local(1, NULL, 0); }
R(br_null_child) { return append_local(1, F.cat, -1); }
R(br_to_seq) { return append_local(1, F.empty, 0); }
R(br_other_ctx) { return append_local(1, F.cat, 1); }
R(br_has_parent) { return inc_concat_add_branch(F.cat, inc_layer_child(F.net, 0)); }
R(br_self) { return inc_concat_add_branch(F.cat, F.cat); }
R(br_to_res) { return append_local(1, F.res, 0); }
R(app_to_res) { return append_local(0, F.res, 0); }
R(rb_null_res) { return append_local(2, NULL, 0); }
R(rb_null_child) { return append_local(2, F.res, -1); }
R(rb_to_seq) { return append_local(2, F.empty, 0); }
R(rb_to_cat) { return append_local(2, F.cat, 0); }
R(rb_to_leaf) { return append_local(2, F.relu, 0); }
R(rb_other_ctx) { return append_local(2, F.res, 1); }
R(rb_has_parent) { return inc_residual_add_branch(F.res, inc_layer_child(F.net, 0), 1.0f); }
R(rb_self) { return inc_residual_add_branch(F.res, F.res, 1.0f); }
R(rb_nan) { return add_scaled(2, F.res, 0, NAN); }
R(rb_inf) { return add_scaled(2, F.res, 0, INFINITY); }
R(rb_neg_inf) { return add_scaled(2, F.res, 0, -INFINITY); }
R(rb_ancestor)
{
  inc_layer *outer, *inner; /* inner inside outer, then outer into inner */
  ck_assert_int_eq(inc_residual_create(F.a, &outer), INC_OK);
  ck_assert_int_eq(inc_residual_create(F.a, &inner), INC_OK);
  ck_assert_int_eq(inc_residual_add_branch(outer, inner, 1.0f), INC_OK);
  inc_status s = inc_residual_add_branch(inner, outer, 1.0f);
  ck_assert_msg(inc_context_last_error(F.a)[0], "no message");
  ck_assert_ptr_null(inc_layer_parent(outer));
  ck_assert_int_eq(inc_layer_child_count(inner), 0);
  inc_layer_destroy(outer);
  return s;
}
R(rb_empty_forward)
{
  inc_layer *r;
  const inc_tensor *y = SENT;
  ck_assert_int_eq(inc_residual_create(F.a, &r), INC_OK);
  inc_status s = inc_layer_forward(r, F.x, 1, &y);
  ck_assert_ptr_null(y);
  inc_layer_destroy(r);
  return s;
}
R(rb_dup_name)
{
  inc_layer *c;
  ck_assert_int_eq(inc_relu_create(F.a, &c), INC_OK);
  ck_assert_int_eq(inc_layer_set_name(c, "0"), INC_OK);
  inc_status s = inc_residual_add_branch(F.res, c, 1.0f); /* its branch "0" */
  inc_layer_destroy(c);
  return s;
}

/* ---- names ---- */
R(nm_null_layer) { return inc_layer_set_name(NULL, "x"); }
R(nm_null) { return inc_layer_set_name(F.relu, NULL); }
R(nm_empty) { return inc_layer_set_name(F.relu, ""); }
R(nm_long)
{
  char n[65];
  memset(n, 'a', 64);
  n[64] = '\0';
  return inc_layer_set_name(F.relu, n);
}
R(nm_dot) { return inc_layer_set_name(F.relu, "a.b"); }
R(nm_slash) { return inc_layer_set_name(F.relu, "a/b"); }
R(nm_quote) { return inc_layer_set_name(F.relu, "a\"b"); }
R(nm_backslash) { return inc_layer_set_name(F.relu, "a\\b"); }
R(nm_newline) { return inc_layer_set_name(F.relu, "a\nb"); }
R(nm_del) { return inc_layer_set_name(F.relu, "a\x7f"); }
R(nm_sibling) { return inc_layer_set_name(inc_layer_child(F.net, 0), "3"); }

/* ---- shapes ---- */
static inc_status infer(inc_layer *l, int ndim, const int64_t *dims, int null_ndim, int null_dims)
{
  int on = -5;
  int64_t od[INC_MAX_DIMS];
  for (int i = 0; i < INC_MAX_DIMS; i++) od[i] = -5;
  return inc_layer_infer_shape(l, ndim, dims, null_ndim ? NULL : &on, null_dims ? NULL : od);
}
R(inf_null) { return infer(NULL, 4, XD, 0, 0); }
R(inf_null_ndim) { return infer(F.fresh, 4, XD, 1, 0); }
R(inf_null_dims_out) { return infer(F.fresh, 4, XD, 0, 1); }
R(inf_ndim0) { return infer(F.fresh, 0, XD, 0, 0); }
R(inf_ndim9)
{
  int64_t d[INC_MAX_DIMS + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  return infer(F.fresh, INC_MAX_DIMS + 1, d, 0, 0);
}
R(inf_dims_null) { return infer(F.fresh, 4, NULL, 0, 0); }
R(inf_dim0)
{
  int64_t d[4] = {2, 2, 0, 4};
  return infer(F.fresh, 4, d, 0, 0);
}
R(inf_dim_neg)
{
  int64_t d[4] = {-2, 2, 4, 4};
  return infer(F.fresh, 4, d, 0, 0);
}
R(inf_overflow)
{
  int64_t d[4] = {(int64_t)1 << 20, 2, (int64_t)1 << 30, (int64_t)1 << 30};
  return infer(F.fresh, 4, d, 0, 0);
}
R(inf_channels) { return infer(F.net, 4, X3D, 0, 0); }
R(inf_rank)
{
  int64_t d[3] = {2, 4, 4};
  return infer(F.net, 3, d, 0, 0);
}
R(inf_small)
{
  int64_t d[4] = {2, 2, 1, 1}; /* the 2x2 pool does not fit after the conv */
  return infer(F.fresh, 4, d, 0, 0);
}
R(inf_late_fail)
{
  /* conv (unbound) > flatten > dense bound to 5 features: the dry pass must
   * refuse before the conv binds (and draws from the random stream) */
  inc_layer *seq, *l, *d;
  ck_assert_int_eq(inc_sequential_create(F.a, &seq), INC_OK);
  ck_assert_int_eq(inc_conv2d_create(F.a, 2, 1, 1, 0, &l), INC_OK);
  ck_assert_int_eq(inc_sequential_append(seq, l), INC_OK);
  ck_assert_int_eq(inc_flatten_create(F.a, &l), INC_OK);
  ck_assert_int_eq(inc_sequential_append(seq, l), INC_OK);
  ck_assert_int_eq(inc_dense_create(F.a, 3, &d), INC_OK);
  int64_t in5[2] = {1, 5}, od[INC_MAX_DIMS];
  int on;
  uint64_t stream = F.a->rng_stream;
  ck_assert_int_eq(inc_layer_infer_shape(d, 2, in5, &on, od), INC_OK);
  F.a->rng_stream = stream; /* this setup is not the call under test */
  ck_assert_int_eq(inc_sequential_append(seq, d), INC_OK);
  inc_status s = infer(seq, 4, XD, 0, 0);
  ck_assert_msg(!inc_layer_is_bound(inc_layer_child(seq, 0)), "the conv stayed bound");
  inc_layer_destroy(seq);
  return s;
}
R(inf_empty) { return infer(F.empty, 4, XD, 0, 0); }
R(inf_conv_pad_max)
{
  /* output 2^32-1 on a side: 2^64 elements, and 2*padding overflows int */
  inc_layer *c;
  ck_assert_int_eq(inc_conv2d_create(F.a, 1, 1, 1, INT_MAX, &c), INC_OK);
  int64_t d[4] = {1, 1, 1, 1};
  inc_status s = infer(c, 4, d, 0, 0);
  ck_assert_msg(!inc_layer_is_bound(c) || s == INC_OK, "bound after a failure");
  inc_layer_destroy(c);
  return s;
}
R(fwd_conv_pad_max)
{
  inc_layer *c;
  ck_assert_int_eq(inc_conv2d_create(F.a, 1, 1, 1, INT_MAX, &c), INC_OK);
  int64_t d[4] = {1, 1, 1, 1};
  inc_tensor *x = tu_tensor(F.a, 4, d, NULL);
  const inc_tensor *y = SENT;
  inc_status s = inc_layer_forward(c, x, 0, &y);
  ck_assert_msg(s == INC_OK || y == NULL, "*y not NULLed on failure");
  inc_tensor_destroy(x);
  inc_layer_destroy(c);
  return s;
}

R(sum_null) { return inc_layer_summary(NULL, 4, XD, NULL, 0, NULL); }
R(sum_buf_null)
{
  size_t need = 12345;
  return inc_layer_summary(F.net, 4, XD, NULL, 16, &need);
}
R(sum_ndim0)
{
  char buf[16] = "untouched";
  inc_status s = inc_layer_summary(F.fresh, 0, XD, buf, sizeof buf, NULL);
  ck_assert_str_eq(buf, "untouched");
  return s;
}
R(sum_dims_null) { return inc_layer_summary(F.fresh, 4, NULL, NULL, 0, NULL); }
R(sum_channels)
{
  char buf[16] = "untouched";
  inc_status s = inc_layer_summary(F.net, 4, X3D, buf, sizeof buf, NULL);
  ck_assert_str_eq(buf, "untouched");
  return s;
}
R(unbind_null) { return inc_layer_unbind(NULL); }
R(init_null) { return inc_layer_initialize(NULL, INC_INIT_XAVIER_UNIFORM, 1); }
R(init_5) { return inc_layer_initialize(F.net, (inc_init)5, 1); }
R(init_neg) { return inc_layer_initialize(F.net, (inc_init)-1, 1); }
R(init_max) { return inc_layer_initialize(F.fresh, (inc_init)INT_MAX, 0); }

/* ---- forward / backward ---- */
static inc_status fwd(inc_layer *l, const inc_tensor *x, int training, int null_y)
{
  const inc_tensor *y = SENT;
  inc_status s = inc_layer_forward(l, x, training, null_y ? NULL : &y);
  /* forward sets *y = NULL on failure once it has a layer; with a NULL
   * layer leaving *y untouched is accepted too */
  if (s != INC_OK && !null_y) ck_assert_msg(y == NULL || (!l && y == SENT), "*y left set");
  return s;
}
R(fwd_null_layer) { return fwd(NULL, F.x, 0, 0); }
R(fwd_null_x) { return fwd(F.net, NULL, 1, 0); }
R(fwd_null_y) { return fwd(F.net, F.x, 1, 1); }
R(fwd_other_ctx) { return fwd(F.net, F.xb, 1, 0); }
R(fwd_channels) { return fwd(F.net, F.x3, 1, 0); }
R(fwd_rank) { return fwd(F.net, F.dy, 0, 0); }
R(fwd_unbound_fail) { return fwd(F.fresh, F.t3, 1, 0); }
R(fwd_empty) { return fwd(F.empty, F.x, 0, 0); }
/* INCEPTION_CONV_ALGO (read when a plan is built) holding an unknown value:
 * a batch size the trained net has no plan for fails; nothing changes. */
R(fwd_conv_algo_env)
{
  const int64_t d[4] = {1, 2, 4, 4};
  inc_tensor *x1 = NULL;
  ck_assert_int_eq(inc_tensor_create(F.a, 4, d, &x1), INC_OK);
  ck_assert_int_eq(setenv("INCEPTION_CONV_ALGO", "winograd8", 1), 0);
  inc_status s = fwd(F.net, x1, 0, 0);
  ck_assert_int_eq(unsetenv("INCEPTION_CONV_ALGO"), 0);
  inc_tensor_destroy(x1);
  return s;
}

static inc_status bwd(inc_layer *l, const inc_tensor *dy)
{
  const inc_tensor *dx = SENT;
  inc_status s = inc_layer_backward(l, dy, &dx);
  if (s != INC_OK) ck_assert_msg(dx == NULL || (!l && dx == SENT), "*dx left set");
  return s;
}
R(bwd_null_layer) { return bwd(NULL, F.dy); }
R(bwd_null_dy) { return bwd(F.net, NULL); }
R(bwd_other_ctx) { return bwd(F.net, F.dyb); }
R(bwd_shape) { return bwd(F.net, F.dl); }
R(bwd_rank) { return bwd(F.net, F.t3); }
R(bwd_no_forward)
{
  inc_layer *m = make_net(F.a);
  uint64_t stream = F.a->rng_stream;
  int64_t od[INC_MAX_DIMS];
  int on;
  ck_assert_int_eq(inc_layer_infer_shape(m, 4, XD, &on, od), INC_OK);
  F.a->rng_stream = stream;
  inc_status s = bwd(m, F.dy);
  inc_layer_destroy(m);
  return s;
}
R(bwd_after_inference)
{
  /* a new net (so that net's activations stay as the fixture left them) */
  inc_layer *m = make_net(F.a);
  uint64_t stream = F.a->rng_stream;
  const inc_tensor *y;
  ck_assert_int_eq(inc_layer_forward(m, F.x, 1, &y), INC_OK);
  ck_assert_int_eq(inc_layer_forward(m, F.x, 0, &y), INC_OK);
  F.a->rng_stream = stream;
  inc_status s = bwd(m, F.dy);
  inc_layer_destroy(m);
  return s;
}
R(bwd_never_run) { return bwd(F.empty, F.dy); }

/* ---- parameters ---- */
static inc_status param(const inc_layer *l, int index)
{
  const char *name = SENT;
  inc_tensor *v = SENT, *g = SENT;
  inc_status s = inc_layer_param(l, index, &name, &v, &g);
  if (s != INC_OK) {
    /* "changes nothing": untouched, or NULL, are both accepted */
    ck_assert_msg(name == SENT || name == NULL, "name set by a failed call");
    ck_assert_msg(v == SENT || v == NULL, "value set by a failed call");
    ck_assert_msg(g == SENT || g == NULL, "grad set by a failed call");
  }
  return s;
}
R(par_null) { return param(NULL, 0); }
R(par_neg) { return param(F.net, -1); }
R(par_count) { return param(F.net, 4); }
R(par_min) { return param(F.net, INT_MIN); }
R(par_unbound) { return param(F.fresh, 0); }
R(par_none) { return param(F.relu, 0); }

/* ---- buffers (none of the fixture's layers has any) ---- */
static inc_status buffer(const inc_layer *l, int index)
{
  const char *name = SENT;
  inc_tensor *t = SENT;
  inc_status s = inc_layer_buffer(l, index, &name, &t);
  if (s != INC_OK) {
    ck_assert_msg(name == SENT || name == NULL, "name set by a failed call");
    ck_assert_msg(t == SENT || t == NULL, "tensor set by a failed call");
  }
  return s;
}
R(buf_null) { return buffer(NULL, 0); }
R(buf_neg) { return buffer(F.net, -1); }
R(buf_count) { return buffer(F.net, inc_layer_buffer_count(F.net)); }
R(buf_min) { return buffer(F.net, INT_MIN); }
R(buf_max) { return buffer(F.net, INT_MAX); }
R(buf_unbound) { return buffer(F.fresh, 0); }
R(buf_none) { return buffer(F.relu, 0); }

/* ---- data-parallel hooks (F.hooked has one; the digest holds its layout) ---- */
static inc_status set_gh(inc_layer *l, size_t size, int64_t bytes, int ready)
{
  inc_grad_hook h = grad_hook_of(bytes);
  h.size = size;
  if (!ready) h.ready = NULL;
  return inc_layer_set_grad_hook(l, &h);
}
R(gh_null) { return set_gh(NULL, sizeof(inc_grad_hook), 0, 1); }
R(gh_size0) { return set_gh(F.net, 0, 0, 1); }
R(gh_size_small) { return set_gh(F.net, sizeof(inc_grad_hook) - 1, 0, 1); }
R(gh_size_big) { return set_gh(F.net, 4097, 0, 1); }
R(gh_ready_null) { return set_gh(F.net, sizeof(inc_grad_hook), 0, 0); }
R(gh_bytes_neg) { return set_gh(F.net, sizeof(inc_grad_hook), -1, 1); }
R(gh_bytes_min) { return set_gh(F.net, sizeof(inc_grad_hook), INT64_MIN, 1); }
R(gh_replace_ready_null) { return set_gh(F.hooked, sizeof(inc_grad_hook), 1, 0); }
R(gh_replace_bytes_neg) { return set_gh(F.hooked, sizeof(inc_grad_hook), -16, 1); }
R(gh_later_field)
{
  struct {
    inc_grad_hook h;
    unsigned char later[8];
  } big;
  memset(&big, 0, sizeof big);
  big.h = grad_hook_of(1);
  big.h.size = sizeof big;
  big.later[3] = 1; /* a field of a later version, not at its default */
  return inc_layer_set_grad_hook(F.hooked, &big.h);
}
static inc_status bucket_of(const inc_layer *l, int b)
{
  int64_t count = -7;
  int first = -7, np = -7;
  inc_status s = inc_layer_grad_bucket(l, b, &count, &first, &np);
  if (s != INC_OK) ck_assert_msg(count == -7 && first == -7 && np == -7, "written on failure");
  return s;
}
R(gb_null) { return bucket_of(NULL, 0); }
R(gb_neg) { return bucket_of(F.hooked, -1); }
R(gb_count) { return bucket_of(F.hooked, inc_layer_grad_bucket_count(F.hooked)); }
R(gb_min) { return bucket_of(F.hooked, INT_MIN); }
R(gb_max) { return bucket_of(F.hooked, INT_MAX); }
R(gb_no_hook) { return bucket_of(F.net, 0); }

/* ---- loss ---- */
static inc_status sce(inc_context *c, const inc_tensor *lg, const int32_t *lab, inc_tensor *dl)
{
  float loss = -3.0f;
  int64_t correct = -3;
  inc_status s = inc_softmax_cross_entropy(c, lg, lab, &loss, dl, &correct);
  if (s != INC_OK) {
    ck_assert_msg(loss == -3.0f, "mean_loss written by a failed call");
    ck_assert_msg(correct == -3, "correct written by a failed call");
  }
  return s;
}
static const int32_t LAB_NEG[2] = {1, -1}, LAB_K[2] = {3, 0}, LAB_MIN[2] = {INT32_MIN, 0},
                     LAB_MAX[2] = {0, INT32_MAX};
R(sce_null_ctx) { return sce(NULL, F.dy, LABELS, NULL); }
R(sce_null_logits) { return sce(F.a, NULL, LABELS, NULL); }
R(sce_null_labels) { return sce(F.a, F.dy, NULL, F.dl); }
R(sce_logits_other) { return sce(F.a, F.dyb, LABELS, NULL); }
R(sce_ctx_other) { return sce(F.b, F.dy, LABELS, NULL); }
R(sce_dl_other) { return sce(F.a, F.dy, LABELS, F.dyb); }
R(sce_rank) { return sce(F.a, F.t3, LABELS, NULL); }
R(sce_rank4) { return sce(F.a, F.x, LABELS, NULL); }
R(sce_dl_shape) { return sce(F.a, F.dy, LABELS, F.dl); }
R(sce_dl_rank) { return sce(F.a, F.dy, LABELS, F.t3); }
R(sce_lab_neg) { return sce(F.a, F.dy, LAB_NEG, NULL); }
R(sce_lab_k) { return sce(F.a, F.dy, LAB_K, NULL); }
R(sce_lab_min) { return sce(F.a, F.dy, LAB_MIN, NULL); }
R(sce_lab_max) { return sce(F.a, F.dy, LAB_MAX, NULL); }
R(sce_lab_k_dl)
{
  /* a valid dlogits must not be written either */
  inc_tensor *d = tu_tensor(F.a, 2, YD, HOST);
  inc_status s = sce(F.a, F.dy, LAB_K, d);
  ck_assert_msg(inc_context_last_error(F.a)[0], "no message");
  float h[6];
  ck_assert_int_eq(inc_tensor_copy_to_host(d, h, 6), INC_OK);
  ck_assert_msg(h[0] == 9.0f && h[4] == 0.0f, "dlogits written by a failed call");
  inc_tensor_destroy(d);
  return s;
}
/* the smoothed call: its own range, and the plain call's checks (which it
 * shares) with a valid smoothing; dlogits untouched on failure (read back
 * after the message is checked here: the read clears it, so the rows say
 * NONE) */
static inc_status sces(inc_context *c, const inc_tensor *lg, const int32_t *lab, float eps)
{
  float loss = -3.0f;
  int64_t correct = -3;
  inc_tensor *d = c == F.a ? tu_tensor(F.a, 2, YD, HOST) : NULL;
  inc_status s = inc_softmax_cross_entropy_smoothed(c, lg, lab, eps, &loss, d, &correct);
  if (s != INC_OK && c) ck_assert_msg(inc_context_last_error(c)[0], "no message");
  if (s != INC_OK) {
    ck_assert_msg(loss == -3.0f, "mean_loss written by a failed call");
    ck_assert_msg(correct == -3, "correct written by a failed call");
  }
  if (d) {
    float h[6];
    ck_assert_int_eq(inc_tensor_copy_to_host(d, h, 6), INC_OK);
    ck_assert_msg(h[0] == 9.0f && h[4] == 0.0f, "dlogits written by a failed call");
    inc_tensor_destroy(d);
  }
  return s;
}
R(sces_null_ctx) { return sces(NULL, F.dy, LABELS, 0.1f); }
R(sces_neg) { return sces(F.a, F.dy, LABELS, -0.1f); }
R(sces_above_1) { return sces(F.a, F.dy, LABELS, nextafterf(1.0f, 2.0f)); }
R(sces_2) { return sces(F.a, F.dy, LABELS, 2.0f); }
R(sces_nan) { return sces(F.a, F.dy, LABELS, NAN); }
R(sces_inf) { return sces(F.a, F.dy, LABELS, INFINITY); }
R(sces_minf) { return sces(F.a, F.dy, LABELS, -INFINITY); }
R(sces_null_labels) { return sces(F.a, F.dy, NULL, 0.1f); }
R(sces_lab_k) { return sces(F.a, F.dy, LAB_K, 0.1f); }
R(sces_rank) { return sces(F.a, F.t3, LABELS, 0.1f); }
R(sces_logits_other) { return sces(F.a, F.dyb, LABELS, 0.1f); }
/* dlogits aliasing logits: the status, a message that names dlogits, and (in
 * the digest) logits unchanged. The second handle on one memory is made
 * through the private struct, as the library's own views are. */
static inc_status sce_alias(const inc_tensor *lg, inc_tensor *dl)
{
  inc_status s = sce(F.a, lg, LABELS, dl);
  const char *m = inc_context_last_error(F.a);
  ck_assert_msg(strstr(m, "dlogits") != NULL, "the message does not name dlogits: '%s'", m);
  return s;
}
R(sce_dl_is_logits) { return sce_alias(F.dy, F.dy); }
R(sce_dl_same_data)
{
  inc_tensor v = *F.dy; /* another handle on dy's memory */
  v.uid = 0;
  v.owner_is_layer = 1;
  return sce_alias(F.dy, &v);
}
R(sce_dl_overlap)
{
  inc_tensor lg = *F.x, dl; /* two (2, 3) views into x, three floats apart */
  lg.ndim = 2;
  lg.dims[0] = 2;
  lg.dims[1] = 3;
  lg.numel = lg.capacity = 6;
  lg.uid = 0;
  lg.owner_is_layer = 1;
  dl = lg;
  dl.data += 3;
  return sce_alias(&lg, &dl);
}

/* ---- optimizer ---- */
#define SGD(fn, c, lr, m, wd)                                                                 \
  R(fn)                                                                                      \
  {                                                                                          \
    inc_optimizer *o = SENT;                                                                 \
    inc_status s_ = inc_sgd_create(c, lr, m, wd, &o);                                        \
    return opt_out(s_, o);                                                                   \
  }
SGD(sgd_null_ctx, NULL, 0.1f, 0.0f, 0.0f)
R(sgd_null_out) { return inc_sgd_create(F.a, 0.1f, 0.0f, 0.0f, NULL); }
SGD(sgd_lr0, F.a, 0.0f, 0.0f, 0.0f)
SGD(sgd_lr_neg, F.a, -0.1f, 0.0f, 0.0f)
SGD(sgd_lr_nan, F.a, NAN, 0.0f, 0.0f)
SGD(sgd_lr_inf, F.a, INFINITY, 0.0f, 0.0f)
SGD(sgd_m_neg, F.a, 0.1f, -0.5f, 0.0f)
SGD(sgd_m_1, F.a, 0.1f, 1.0f, 0.0f)
SGD(sgd_m_nan, F.a, 0.1f, NAN, 0.0f)
SGD(sgd_m_inf, F.a, 0.1f, INFINITY, 0.0f)
SGD(sgd_wd_neg, F.a, 0.1f, 0.0f, -1e-4f)
SGD(sgd_wd_nan, F.a, 0.1f, 0.0f, NAN)
SGD(sgd_wd_inf, F.a, 0.1f, 0.0f, INFINITY)
R(step_null_opt) { return inc_optimizer_step(NULL, F.net); }
R(step_null_model) { return inc_optimizer_step(F.opt, NULL); }
R(step_unbound) { return inc_optimizer_step(F.opt, F.fresh); }
R(step_no_params) { return inc_optimizer_step(F.opt, F.relu); }
R(step_empty) { return inc_optimizer_step(F.opt, F.empty); }
R(step_model_other) { return inc_optimizer_step(F.opt, F.other); }
R(step_opt_other) { return inc_optimizer_step(F.optb, F.net); }
R(lr_null) { return inc_optimizer_set_lr(NULL, 0.1f); }
R(lr_0) { return inc_optimizer_set_lr(F.opt, 0.0f); }
R(lr_neg) { return inc_optimizer_set_lr(F.opt, -1.0f); }
R(lr_nan) { return inc_optimizer_set_lr(F.opt, NAN); }
R(lr_inf) { return inc_optimizer_set_lr(F.opt, INFINITY); }

/* ---- persistence ---- */
R(save_null) { return inc_layer_save(NULL, F.ckpt); }
R(save_null_path) { return inc_layer_save(F.net, NULL); }
R(save_empty_path) { return inc_layer_save(F.net, ""); }
R(save_unbound) { return inc_layer_save(F.fresh, F.ckpt); }
R(save_no_params) { return inc_layer_save(F.relu, F.ckpt); }
R(save_no_dir) { return inc_layer_save(F.net, path_in("no/such/dir/x.safetensors")); }
R(save_onto_dir) { return inc_layer_save(F.net, path_in("subdir")); }
R(onnx_null) { return inc_layer_export_onnx(NULL, path_in("m.onnx")); }
R(onnx_null_path) { return inc_layer_export_onnx(F.net, NULL); }
R(onnx_empty_path) { return inc_layer_export_onnx(F.net, ""); }
R(onnx_unbound) { return inc_layer_export_onnx(F.fresh, path_in("m.onnx")); }
R(onnx_unbound_concat) { return inc_layer_export_onnx(F.cat, path_in("m.onnx")); }
R(onnx_empty) { return inc_layer_export_onnx(F.empty, path_in("m.onnx")); }
R(onnx_no_dir) { return inc_layer_export_onnx(F.net, path_in("no/such/dir/m.onnx")); }
R(onnx_onto_dir) { return inc_layer_export_onnx(F.net, path_in("subdir")); }
R(onnx_onto_self_dir) { return inc_layer_export_onnx(F.net, F.dir); }
R(load_null) { return inc_layer_load(NULL, F.ckpt); }
R(load_null_path) { return inc_layer_load(F.net, NULL); }
R(load_empty_path) { return inc_layer_load(F.net, ""); }
R(load_missing) { return inc_layer_load(F.net, path_in("missing-file")); }
R(load_dir) { return inc_layer_load(F.net, path_in("subdir")); }
R(load_dir_unbound) { return inc_layer_load(F.fresh, F.dir); }
R(load_empty) { return inc_layer_load(F.net, path_in("empty.safetensors")); }
R(load_junk) { return inc_layer_load(F.net, path_in("junk.safetensors")); }
R(load_truncated) { return inc_layer_load(F.net, path_in("truncated.safetensors")); }
R(load_truncated_unbound) { return inc_layer_load(F.fresh, path_in("truncated.safetensors")); }
R(load_f16) { return inc_layer_load(F.net, path_in("f16.safetensors")); }
R(load_wrong_bias) { return inc_layer_load(F.net, path_in("wrong_bias.safetensors")); }
R(load_wrong_bias_unbound) { return inc_layer_load(F.fresh, path_in("wrong_bias.safetensors")); }
R(load_wrong_in) { return inc_layer_load(F.net, path_in("wrong_in.safetensors")); }
R(load_missing_tensor) { return inc_layer_load(F.net, path_in("missing.safetensors")); }
R(load_missing_unbound) { return inc_layer_load(F.fresh, path_in("missing.safetensors")); }
R(load_extra) { return inc_layer_load(F.net, path_in("extra.safetensors")); }
R(load_extra_unbound) { return inc_layer_load(F.fresh, path_in("extra.safetensors")); }
R(load_no_tensors) { return inc_layer_load(F.fresh, path_in("no_tensors.safetensors")); }
R(load_no_params) { return inc_layer_load(F.relu, path_in("good.safetensors")); }
R(load_into_other_tree) { return inc_layer_load(F.cat, path_in("good.safetensors")); }

static const char *K1[1] = {"note"}, *V1[1] = {"v"};
R(cs_null) { return inc_checkpoint_save(NULL, F.opt, 0, NULL, NULL, F.ckpt); }
R(cs_null_path) { return inc_checkpoint_save(F.net, F.opt, 0, NULL, NULL, NULL); }
R(cs_empty_path) { return inc_checkpoint_save(F.net, F.opt, 0, NULL, NULL, ""); }
R(cs_opt_other) { return inc_checkpoint_save(F.net, F.optb, 0, NULL, NULL, F.ckpt); }
R(cs_unbound) { return inc_checkpoint_save(F.fresh, F.opt, 0, NULL, NULL, F.ckpt); }
R(cs_nmeta_neg) { return inc_checkpoint_save(F.net, F.opt, -1, K1, V1, F.ckpt); }
R(cs_keys_null) { return inc_checkpoint_save(F.net, F.opt, 1, NULL, V1, F.ckpt); }
R(cs_values_null) { return inc_checkpoint_save(F.net, F.opt, 1, K1, NULL, F.ckpt); }
R(cs_key_null)
{
  const char *k[2] = {"a", NULL}, *v[2] = {"1", "2"};
  return inc_checkpoint_save(F.net, F.opt, 2, k, v, F.ckpt);
}
R(cs_value_null)
{
  const char *k[2] = {"a", "b"}, *v[2] = {"1", NULL};
  return inc_checkpoint_save(F.net, F.opt, 2, k, v, F.ckpt);
}
R(cs_key_empty)
{
  const char *k[1] = {""}, *v[1] = {"1"};
  return inc_checkpoint_save(F.net, F.opt, 1, k, v, F.ckpt);
}
R(cs_key_reserved)
{
  const char *k[1] = {"inc.lr"}, *v[1] = {"1"};
  return inc_checkpoint_save(F.net, F.opt, 1, k, v, F.ckpt);
}
R(cs_key_dup)
{
  const char *k[3] = {"a", "b", "a"}, *v[3] = {"1", "2", "3"};
  return inc_checkpoint_save(F.net, F.opt, 3, k, v, F.ckpt);
}
R(cs_no_dir) { return inc_checkpoint_save(F.net, F.opt, 1, K1, V1, path_in("nodir/x")); }
R(cl_null) { return inc_checkpoint_load(NULL, F.opt, F.ckpt); }
R(cl_null_path) { return inc_checkpoint_load(F.net, F.opt, NULL); }
R(cl_opt_other) { return inc_checkpoint_load(F.net, F.optb, F.ckpt); }
R(cl_missing) { return inc_checkpoint_load(F.net, F.opt, path_in("missing-file")); }
R(cl_junk) { return inc_checkpoint_load(F.net, F.opt, path_in("junk.safetensors")); }
R(cl_wrong_bias) { return inc_checkpoint_load(F.net, F.opt, path_in("wrong_bias.safetensors")); }
R(cl_bad_momentum) { return inc_checkpoint_load(F.net, F.opt, path_in("bad_mom.safetensors")); }
R(cl_bad_momentum_unbound)
{
  return inc_checkpoint_load(F.fresh, F.opt, path_in("bad_mom.safetensors"));
}

static inc_status meta(const char *path, const char *key, int null_buf, size_t cap)
{
  char buf[32] = "untouched";
  size_t need = 777;
  inc_status s = inc_checkpoint_metadata(path, key, null_buf ? NULL : buf, cap, &need);
  if (s != INC_OK) {
    ck_assert_msg(need == 0, "*needed is %zu after a failure, not 0", need);
    ck_assert_str_eq(buf, "untouched");
  }
  return s;
}
R(md_null_path) { return meta(NULL, "note", 0, 32); }
R(md_null_key) { return meta(F.ckpt, NULL, 0, 32); }
R(md_null_buf) { return meta(F.ckpt, "note", 1, 32); }
R(md_missing) { return meta(path_in("missing-file"), "note", 0, 32); }
R(md_dir) { return meta(F.dir, "note", 0, 32); }
R(md_junk) { return meta(path_in("junk.safetensors"), "note", 0, 32); }
R(md_truncated) { return meta(path_in("truncated.safetensors"), "note", 0, 32); }
R(md_empty) { return meta(path_in("empty.safetensors"), "note", 0, 32); }

#define INV INC_ERR_INVALID_ARGUMENT
#define SHP INC_ERR_SHAPE
#define OOM INC_ERR_OUT_OF_MEMORY
#define STA INC_ERR_STATE
#define EIO INC_ERR_IO
#define FMT INC_ERR_FORMAT

static const row ROWS[] = {
    /* contexts */
    {"inc_context_create: out NULL", ctx_null_out, INV, -1, NONE},
    {"inc_context_create: backend 3", ctx_backend_3, INV, -1, NONE},
    {"inc_context_create: backend -1", ctx_backend_neg, INV, -1, NONE},
    {"inc_context_create: backend INT_MAX", ctx_backend_max, INV, -1, NONE},
    {"inc_context_create: CUDA without a GPU", ctx_cuda, ANY_OK, -1, NONE},
    {"inc_backend_probe: backend 3", probe_backend_3, INV, -1, NONE},
    {"inc_backend_probe: backend -1", probe_backend_neg, INV, -1, NONE},
    {"inc_backend_probe: CUDA without a GPU", probe_cuda, ANY_OK, -1, NONE},
    {"inc_context_set_seed: NULL", seed_null, INV, -1, NONE},
    {"inc_context_set_num_threads: NULL", threads_null, INV, -1, NONE},
    {"inc_context_set_num_threads: -1", threads_neg, INV, -1, CA},
    {"inc_context_set_num_threads: INT_MIN", threads_min, INV, -1, CA},
    {"inc_context_synchronize: NULL", sync_null, INV, -1, NONE},
    {"inc_context_set_precision: NULL", prec_null, INV, -1, NONE},
    {"inc_context_set_precision: 2", prec_2, INV, -1, CA},
    {"inc_context_set_precision: -1", prec_neg, INV, -1, CA},
    {"inc_context_set_precision: INT_MAX", prec_max, INV, -1, CA},
    /* tensors */
    {"inc_tensor_create: ctx NULL", tc_null_ctx, INV, -1, NONE},
    {"inc_tensor_create: out NULL", tc_null_out, INV, -1, CA},
    {"inc_tensor_create: ndim 0", tc_ndim0, INV, -1, CA},
    {"inc_tensor_create: ndim -1", tc_ndim_neg, INV, -1, CA},
    {"inc_tensor_create: ndim INC_MAX_DIMS+1", tc_ndim9, INV, -1, CA},
    {"inc_tensor_create: dims NULL", tc_dims_null, INV, -1, CA},
    {"inc_tensor_create: a dim 0", tc_dim0, INV, -1, CA},
    {"inc_tensor_create: a dim -3", tc_dim_neg, INV, -1, CA},
    {"inc_tensor_create: a dim INT64_MIN", tc_dim_min, INV, -1, CA},
    {"inc_tensor_create: numel 2^64 (int64 overflow)", tc_overflow_i64, INV, -1, CA},
    {"inc_tensor_create: numel 3*INT64_MAX/2", tc_overflow_i64_b, INV, -1, CA},
    {"inc_tensor_create: numel INT64_MAX (bytes overflow size_t)", tc_overflow_max, INV, -1, CA},
    {"inc_tensor_create: 2^62 floats (2^64 bytes)", tc_overflow_size, INV, -1, CA},
    {"inc_tensor_create: 2^58 floats (not in memory)", tc_too_big, OOM, -1, CA},
    {"inc_tensor_copy_from_host: tensor NULL", cfh_null, INV, -1, NONE},
    {"inc_tensor_copy_from_host: src NULL", cfh_src_null, INV, -1, CA},
    {"inc_tensor_copy_from_host: count numel-1", cfh_less, INV, -1, CA},
    {"inc_tensor_copy_from_host: count numel+1", cfh_more, INV, -1, CA},
    {"inc_tensor_copy_from_host: count 0", cfh_zero, INV, -1, CA},
    {"inc_tensor_copy_from_host: count -numel", cfh_neg, INV, -1, CA},
    {"inc_tensor_copy_from_host: count INT64_MAX", cfh_max, INV, -1, CA},
    {"inc_tensor_copy_to_host: tensor NULL", cth_null, INV, -1, NONE},
    {"inc_tensor_copy_to_host: dst NULL", cth_dst_null, INV, -1, CA},
    {"inc_tensor_copy_to_host: count numel-1", cth_less, INV, -1, CA},
    {"inc_tensor_copy_to_host: count numel+1", cth_more, INV, -1, CA},
    {"inc_tensor_copy_to_host: count -1", cth_neg, INV, -1, CA},
    {"inc_tensor_reshape: tensor NULL", rs_null, INV, -1, NONE},
    {"inc_tensor_reshape: ndim 0", rs_ndim0, INV, -1, CA},
    {"inc_tensor_reshape: ndim INC_MAX_DIMS+1", rs_ndim9, INV, -1, CA},
    {"inc_tensor_reshape: dims NULL", rs_dims_null, INV, -1, CA},
    {"inc_tensor_reshape: a dim 0", rs_dim0, INV, -1, CA},
    {"inc_tensor_reshape: other element count", rs_numel, SHP, -1, CA},
    {"inc_tensor_reshape: overflowing dims", rs_overflow, INV, -1, CA},
    {"inc_tensor_reshape: a layer's parameter", rs_param, INV, -1, CA},
    /* layer constructors */
    {"inc_conv2d_create: ctx NULL", conv_null_ctx, INV, -1, NONE},
    {"inc_conv2d_create: out NULL", conv_null_out, INV, -1, CA},
    {"inc_conv2d_create: out_channels 0", conv_oc0, INV, -1, CA},
    {"inc_conv2d_create: out_channels -4", conv_oc_neg, INV, -1, CA},
    {"inc_conv2d_create: kernel 0", conv_k0, INV, -1, CA},
    {"inc_conv2d_create: kernel INT_MIN", conv_k_neg, INV, -1, CA},
    {"inc_conv2d_create: stride 0", conv_s0, INV, -1, CA},
    {"inc_conv2d_create: stride -1", conv_s_neg, INV, -1, CA},
    {"inc_conv2d_create: padding -1", conv_p_neg, INV, -1, CA},
    {"inc_conv2d_create_desc: ctx NULL", cd_null_ctx, INV, -1, NONE},
    {"inc_conv2d_create_desc: out NULL", cd_null_out, INV, -1, CA},
    {"inc_conv2d_create_desc: desc NULL", cd_null_desc, INV, -1, CA},
    {"inc_conv2d_create_desc: size 0", cd_size0, INV, -1, CA},
    {"inc_conv2d_create_desc: size below 0.4's", cd_size_small, INV, -1, CA},
    {"inc_conv2d_create_desc: size SIZE_MAX", cd_size_huge, INV, -1, CA},
    {"inc_conv2d_create_desc: out_channels 0", cd_oc0, INV, -1, CA},
    {"inc_conv2d_create_desc: kernel_h 0", cd_kh0, INV, -1, CA},
    {"inc_conv2d_create_desc: kernel_w -7", cd_kw_neg, INV, -1, CA},
    {"inc_conv2d_create_desc: stride_h 0", cd_sh0, INV, -1, CA},
    {"inc_conv2d_create_desc: stride_w INT_MIN", cd_sw_min, INV, -1, CA},
    {"inc_conv2d_create_desc: pad_h -1", cd_ph_neg, INV, -1, CA},
    {"inc_conv2d_create_desc: pad_w -3", cd_pw_neg, INV, -1, CA},
    {"inc_conv2d_create_desc: bias 2", cd_bias2, INV, -1, CA},
    {"inc_conv2d_create_desc: bias -1", cd_bias_neg, INV, -1, CA},
    {"inc_conv2d_create_desc: a later version's field set", cd_later_field, INV, -1, CA},
    {"inc_max_pool2d_create: ctx NULL", mp_null_ctx, INV, -1, NONE},
    {"inc_max_pool2d_create: out NULL", mp_null_out, INV, -1, CA},
    {"inc_max_pool2d_create: kernel 0", mp_k0, INV, -1, CA},
    {"inc_max_pool2d_create: kernel -3", mp_k_neg, INV, -1, CA},
    {"inc_max_pool2d_create: stride -1", mp_s_neg, INV, -1, CA},
    {"inc_max_pool2d_create: padding -1", mp_p_neg, INV, -1, CA},
    {"inc_max_pool2d_create: padding > kernel/2", mp_p_big, INV, -1, CA},
    {"inc_avg_pool2d_create: ctx NULL", ap_null_ctx, INV, -1, NONE},
    {"inc_avg_pool2d_create: out NULL", ap_null_out, INV, -1, CA},
    {"inc_avg_pool2d_create: kernel 0", ap_k0, INV, -1, CA},
    {"inc_avg_pool2d_create: stride INT_MIN", ap_s_neg, INV, -1, CA},
    {"inc_avg_pool2d_create: padding -1", ap_p_neg, INV, -1, CA},
    {"inc_avg_pool2d_create: padding > kernel/2", ap_p_big, INV, -1, CA},
    {"inc_global_avg_pool2d_create: ctx NULL", gap_null_ctx, INV, -1, NONE},
    {"inc_global_avg_pool2d_create: out NULL", gap_null_out, INV, -1, CA},
    {"inc_relu_create: ctx NULL", relu_null_ctx, INV, -1, NONE},
    {"inc_relu_create: out NULL", relu_null_out, INV, -1, CA},
    {"inc_dropout_create: ctx NULL", drop_null_ctx, INV, -1, NONE},
    {"inc_dropout_create: out NULL", drop_null_out, INV, -1, CA},
    {"inc_dropout_create: p -0.1", drop_neg, INV, -1, CA},
    {"inc_dropout_create: p 1", drop_one, INV, -1, CA},
    {"inc_dropout_create: p 1.5", drop_big, INV, -1, CA},
    {"inc_dropout_create: p NaN", drop_nan, INV, -1, CA},
    {"inc_dropout_create: p inf", drop_inf, INV, -1, CA},
    {"inc_dropout_create: p -inf", drop_minf, INV, -1, CA},
    {"inc_flatten_create: ctx NULL", flat_null_ctx, INV, -1, NONE},
    {"inc_flatten_create: out NULL", flat_null_out, INV, -1, CA},
    {"inc_dense_create: ctx NULL", dense_null_ctx, INV, -1, NONE},
    {"inc_dense_create: out NULL", dense_null_out, INV, -1, CA},
    {"inc_dense_create: out_features 0", dense_0, INV, -1, CA},
    {"inc_dense_create: out_features INT_MIN", dense_neg, INV, -1, CA},
    {"inc_sequential_create: ctx NULL", seq_null_ctx, INV, -1, NONE},
    {"inc_sequential_create: out NULL", seq_null_out, INV, -1, CA},
    {"inc_concat_create: ctx NULL", cat_null_ctx, INV, -1, NONE},
    {"inc_concat_create: out NULL", cat_null_out, INV, -1, CA},
    {"inc_identity_create: ctx NULL", id_null_ctx, INV, -1, NONE},
    {"inc_identity_create: out NULL", id_null_out, INV, -1, CA},
    {"inc_residual_create: ctx NULL", res_null_ctx, INV, -1, NONE},
    {"inc_residual_create: out NULL", res_null_out, INV, -1, CA},
    {"inc_inception_create: ctx NULL", inc_null_ctx, INV, -1, NONE},
    {"inc_inception_create: out NULL", inc_null_out, INV, -1, CA},
    {"inc_inception_create: c1 0", inc_c1, INV, -1, CA},
    {"inc_inception_create: c2_reduce 0", inc_c2r, INV, -1, CA},
    {"inc_inception_create: c2 -1", inc_c2, INV, -1, CA},
    {"inc_inception_create: c3_reduce 0", inc_c3r, INV, -1, CA},
    {"inc_inception_create: c3 INT_MIN", inc_c3, INV, -1, CA},
    {"inc_inception_create: c4 0", inc_c4, INV, -1, CA},
    {"inc_googlenet_create: ctx NULL", gn_null_ctx, INV, -1, NONE},
    {"inc_googlenet_create: out NULL", gn_null_out, INV, -1, CA},
    {"inc_googlenet_create: classes 0", gn_0, INV, -1, CA},
    {"inc_googlenet_create: classes -10", gn_neg, INV, -1, CA},
    {"inc_googlenet_bn_create: ctx NULL", gnbn_null_ctx, INV, -1, NONE},
    {"inc_googlenet_bn_create: out NULL", gnbn_null_out, INV, -1, CA},
    {"inc_googlenet_bn_create: classes 0", gnbn_0, INV, -1, CA},
    {"inc_googlenet_create_desc: ctx NULL", gd_null_ctx, INV, -1, NONE},
    {"inc_googlenet_create_desc: out NULL", gd_null_out, INV, -1, CA},
    {"inc_googlenet_create_desc: desc NULL", gd_null_desc, INV, -1, CA},
    {"inc_googlenet_create_desc: size 0", gd_size0, INV, -1, CA},
    {"inc_googlenet_create_desc: size below the 0.4 struct", gd_size_small, INV, -1, CA},
    {"inc_googlenet_create_desc: size 4097", gd_size_big, INV, -1, CA},
    {"inc_googlenet_create_desc: classes 0", gd_classes0, INV, -1, CA},
    {"inc_googlenet_create_desc: batch_norm 2", gd_bn2, INV, -1, CA},
    {"inc_googlenet_create_desc: dropout 1", gd_drop1, INV, -1, CA},
    {"inc_googlenet_create_desc: dropout < 0", gd_drop_neg, INV, -1, CA},
    {"inc_googlenet_create_desc: dropout NaN", gd_drop_nan, INV, -1, CA},
    {"inc_googlenet_create_desc: reserved 1", gd_reserved, INV, -1, CA},
    {"inc_inception_v3_create: ctx NULL", v3_null_ctx, INV, -1, NONE},
    {"inc_inception_v3_create: out NULL", v3_null_out, INV, -1, CA},
    {"inc_inception_v3_create: c1 0", v3_c0, INV, -1, CA},
    {"inc_inception_v3_create: c_pool -1", v3_cpool_neg, INV, -1, CA},
    {"inc_inception_v3_create: n even", v3_n_even, INV, -1, CA},
    {"inc_inception_v3_create: n 1", v3_n1, INV, -1, CA},
    {"inc_inception_v3_create: n 257", v3_n_big, INV, -1, CA},
    {"inc_batch_norm2d_create: ctx NULL", bn_null_ctx, INV, -1, NONE},
    {"inc_batch_norm2d_create: out NULL", bn_null_out, INV, -1, CA},
    {"inc_batch_norm2d_create: eps 0", bn_eps0, INV, -1, CA},
    {"inc_batch_norm2d_create: eps < 0", bn_eps_neg, INV, -1, CA},
    {"inc_batch_norm2d_create: eps NaN", bn_eps_nan, INV, -1, CA},
    {"inc_batch_norm2d_create: eps infinite", bn_eps_inf, INV, -1, CA},
    {"inc_batch_norm2d_create: momentum < 0", bn_mom_neg, INV, -1, CA},
    {"inc_batch_norm2d_create: momentum > 1", bn_mom_big, INV, -1, CA},
    {"inc_batch_norm2d_create: momentum NaN", bn_mom_nan, INV, -1, CA},
    /* containers */
    {"inc_sequential_append: seq NULL", app_null_seq, INV, -1, NONE},
    {"inc_sequential_append: child NULL", app_null_child, INV, -1, CA},
    {"inc_sequential_append: to a concat", app_to_concat, INV, -1, CA},
    {"inc_sequential_append: to a leaf", app_to_leaf, INV, -1, CA},
    {"inc_sequential_append: child of another context", app_other_ctx, INV, -1, CA},
    {"inc_sequential_append: child already has a parent", app_has_parent, INV, -1, CA},
    {"inc_sequential_append: itself", app_self, INV, -1, CA},
    {"inc_sequential_append: an ancestor", app_ancestor, INV, -1, NONE /* checked inside */},
    {"inc_sequential_append: a sibling's name", app_dup_name, INV, -1, CA},
    {"inc_concat_add_branch: concat NULL", br_null_cat, INV, -1, NONE},
    {"inc_concat_add_branch: branch NULL", br_null_child, INV, -1, CA},
    {"inc_concat_add_branch: to a sequential", br_to_seq, INV, -1, CA},
    {"inc_concat_add_branch: branch of another context", br_other_ctx, INV, -1, CA},
    {"inc_concat_add_branch: branch already has a parent", br_has_parent, INV, -1, CA},
    {"inc_concat_add_branch: itself", br_self, INV, -1, CA},
    {"inc_concat_add_branch: to a residual", br_to_res, INV, -1, CA},
    {"inc_sequential_append: to a residual", app_to_res, INV, -1, CA},
    {"inc_residual_add_branch: residual NULL", rb_null_res, INV, -1, NONE},
    {"inc_residual_add_branch: branch NULL", rb_null_child, INV, -1, CA},
    {"inc_residual_add_branch: to a sequential", rb_to_seq, INV, -1, CA},
    {"inc_residual_add_branch: to a concat", rb_to_cat, INV, -1, CA},
    {"inc_residual_add_branch: to a leaf", rb_to_leaf, INV, -1, CA},
    {"inc_residual_add_branch: branch of another context", rb_other_ctx, INV, -1, CA},
    {"inc_residual_add_branch: branch already has a parent", rb_has_parent, INV, -1, CA},
    {"inc_residual_add_branch: itself", rb_self, INV, -1, CA},
    {"inc_residual_add_branch: an ancestor", rb_ancestor, INV, -1, NONE /* checked inside */},
    {"inc_residual_add_branch: a sibling's name", rb_dup_name, INV, -1, CA},
    {"inc_residual_add_branch: scale NaN", rb_nan, INV, -1, CA},
    {"inc_residual_add_branch: scale +infinity", rb_inf, INV, -1, CA},
    {"inc_residual_add_branch: scale -infinity", rb_neg_inf, INV, -1, CA},
    {"inc_layer_forward: a residual without branches", rb_empty_forward, STA, -1, CA},
    /* names */
    {"inc_layer_set_name: layer NULL", nm_null_layer, INV, -1, NONE},
    {"inc_layer_set_name: name NULL", nm_null, INV, -1, CA},
    {"inc_layer_set_name: \"\"", nm_empty, INV, -1, CA},
    {"inc_layer_set_name: 64 characters", nm_long, INV, -1, CA},
    {"inc_layer_set_name: '.'", nm_dot, INV, -1, CA},
    {"inc_layer_set_name: '/'", nm_slash, INV, -1, CA},
    {"inc_layer_set_name: '\"'", nm_quote, INV, -1, CA},
    {"inc_layer_set_name: '\\\\'", nm_backslash, INV, -1, CA},
    {"inc_layer_set_name: newline", nm_newline, INV, -1, CA},
    {"inc_layer_set_name: DEL", nm_del, INV, -1, CA},
    {"inc_layer_set_name: a sibling's name", nm_sibling, INV, -1, CA},
    /* shapes */
    {"inc_layer_infer_shape: layer NULL", inf_null, INV, -1, NONE},
    {"inc_layer_infer_shape: out_ndim NULL", inf_null_ndim, INV, -1, CA},
    {"inc_layer_infer_shape: out_dims NULL", inf_null_dims_out, INV, -1, CA},
    {"inc_layer_infer_shape: ndim 0", inf_ndim0, INV, -1, CA},
    {"inc_layer_infer_shape: ndim INC_MAX_DIMS+1", inf_ndim9, INV, -1, CA},
    {"inc_layer_infer_shape: in_dims NULL", inf_dims_null, INV, -1, CA},
    {"inc_layer_infer_shape: a dim 0", inf_dim0, INV, -1, CA},
    {"inc_layer_infer_shape: a dim -2", inf_dim_neg, INV, -1, CA},
    {"inc_layer_infer_shape: numel overflows", inf_overflow, INV, -1, CA},
    {"inc_layer_infer_shape: channels differ from the bound ones", inf_channels, SHP, -1, CA},
    {"inc_layer_infer_shape: 3 dims into a conv", inf_rank, SHP, -1, CA},
    {"inc_layer_infer_shape: image smaller than a window", inf_small, SHP, -1, CA},
    {"inc_layer_infer_shape: a late layer refuses (unbound conv stays unbound)", inf_late_fail,
     SHP, -1, CA},
    {"inc_layer_infer_shape: empty sequential", inf_empty, STA, INV, CA},
    {"inc_layer_infer_shape: conv padding INT_MAX (output overflows)", inf_conv_pad_max, INV, SHP,
     CA},
    {"inc_layer_forward: conv padding INT_MAX", fwd_conv_pad_max, INV, SHP, CA},
    {"inc_layer_summary: layer NULL", sum_null, INV, -1, NONE},
    {"inc_layer_summary: buf NULL with cap 16", sum_buf_null, INV, -1, CA},
    {"inc_layer_summary: ndim 0", sum_ndim0, INV, -1, CA},
    {"inc_layer_summary: in_dims NULL", sum_dims_null, INV, -1, CA},
    {"inc_layer_summary: channels differ from the bound ones", sum_channels, SHP, -1, CA},
    {"inc_layer_unbind: NULL", unbind_null, INV, -1, NONE},
    {"inc_layer_initialize: layer NULL", init_null, INV, -1, NONE},
    {"inc_layer_initialize: scheme 5", init_5, INV, -1, CA},
    {"inc_layer_initialize: scheme -1", init_neg, INV, -1, CA},
    {"inc_layer_initialize: scheme INT_MAX, unbound", init_max, INV, -1, CA},
    /* forward / backward */
    {"inc_layer_forward: layer NULL", fwd_null_layer, INV, -1, NONE},
    {"inc_layer_forward: x NULL", fwd_null_x, INV, -1, CA},
    {"inc_layer_forward: y NULL", fwd_null_y, INV, -1, CA},
    {"inc_layer_forward: x of another context", fwd_other_ctx, INV, -1, CA},
    {"inc_layer_forward: channels differ from the bound ones", fwd_channels, SHP, -1, CA},
    {"inc_layer_forward: a (N, F) tensor into a conv", fwd_rank, SHP, -1, CA},
    {"inc_layer_forward: unbound net, a 3-dim input", fwd_unbound_fail, SHP, -1, CA},
    {"inc_layer_forward: empty sequential", fwd_empty, STA, INV, CA},
    {"inc_layer_forward: INCEPTION_CONV_ALGO=winograd8", fwd_conv_algo_env, INV, -1, CA},
    {"inc_layer_backward: layer NULL", bwd_null_layer, INV, -1, NONE},
    {"inc_layer_backward: dy NULL", bwd_null_dy, INV, -1, CA},
    {"inc_layer_backward: dy of another context", bwd_other_ctx, INV, -1, CA},
    {"inc_layer_backward: dy (3, 2) for an output (2, 3)", bwd_shape, SHP, -1, CA},
    {"inc_layer_backward: dy of 3 dims", bwd_rank, SHP, -1, CA},
    {"inc_layer_backward: before any forward", bwd_no_forward, STA, -1, CA},
    {"inc_layer_backward: after an inference forward", bwd_after_inference, STA, -1, CA},
    {"inc_layer_backward: a container never run", bwd_never_run, STA, -1, CA},
    /* parameters */
    {"inc_layer_param: layer NULL", par_null, INV, -1, NONE},
    {"inc_layer_param: index -1", par_neg, INV, -1, CA},
    {"inc_layer_param: index == count", par_count, INV, -1, CA},
    {"inc_layer_param: index INT_MIN", par_min, INV, -1, CA},
    {"inc_layer_param: unbound model", par_unbound, INV, -1, CA},
    {"inc_layer_param: layer without parameters", par_none, INV, -1, CA},
    /* buffers */
    {"inc_layer_set_grad_hook: layer NULL", gh_null, INV, -1, NONE},
    {"inc_layer_set_grad_hook: size 0", gh_size0, INV, -1, CA},
    {"inc_layer_set_grad_hook: size below the 0.5 struct", gh_size_small, INV, -1, CA},
    {"inc_layer_set_grad_hook: size 4097", gh_size_big, INV, -1, CA},
    {"inc_layer_set_grad_hook: ready NULL", gh_ready_null, INV, -1, CA},
    {"inc_layer_set_grad_hook: bucket_bytes -1", gh_bytes_neg, INV, -1, CA},
    {"inc_layer_set_grad_hook: bucket_bytes INT64_MIN", gh_bytes_min, INV, -1, CA},
    {"inc_layer_set_grad_hook: replacing, ready NULL", gh_replace_ready_null, INV, -1, CA},
    {"inc_layer_set_grad_hook: replacing, bucket_bytes < 0", gh_replace_bytes_neg, INV, -1, CA},
    {"inc_layer_set_grad_hook: a later version's field set", gh_later_field, INV, -1, CA},
    {"inc_layer_grad_bucket: layer NULL", gb_null, INV, -1, NONE},
    {"inc_layer_grad_bucket: bucket -1", gb_neg, INV, -1, CA},
    {"inc_layer_grad_bucket: bucket == count", gb_count, INV, -1, CA},
    {"inc_layer_grad_bucket: bucket INT_MIN", gb_min, INV, -1, CA},
    {"inc_layer_grad_bucket: bucket INT_MAX", gb_max, INV, -1, CA},
    {"inc_layer_grad_bucket: no hook", gb_no_hook, INV, -1, CA},
    {"inc_layer_buffer: layer NULL", buf_null, INV, -1, NONE},
    {"inc_layer_buffer: index -1", buf_neg, INV, -1, CA},
    {"inc_layer_buffer: index == count", buf_count, INV, -1, CA},
    {"inc_layer_buffer: index INT_MIN", buf_min, INV, -1, CA},
    {"inc_layer_buffer: index INT_MAX", buf_max, INV, -1, CA},
    {"inc_layer_buffer: unbound model", buf_unbound, INV, -1, CA},
    {"inc_layer_buffer: layer without buffers", buf_none, INV, -1, CA},
    /* loss */
    {"inc_softmax_cross_entropy: ctx NULL", sce_null_ctx, INV, -1, NONE},
    {"inc_softmax_cross_entropy: logits NULL", sce_null_logits, INV, -1, CA},
    {"inc_softmax_cross_entropy: labels NULL", sce_null_labels, INV, -1, CA},
    {"inc_softmax_cross_entropy: logits of another context", sce_logits_other, INV, -1, CA},
    {"inc_softmax_cross_entropy: ctx is another context", sce_ctx_other, INV, -1, CB},
    {"inc_softmax_cross_entropy: dlogits of another context", sce_dl_other, INV, -1, CA},
    {"inc_softmax_cross_entropy: logits of 3 dims", sce_rank, SHP, -1, CA},
    {"inc_softmax_cross_entropy: logits of 4 dims", sce_rank4, SHP, -1, CA},
    {"inc_softmax_cross_entropy: dlogits (3, 2) for logits (2, 3)", sce_dl_shape, SHP, -1, CA},
    {"inc_softmax_cross_entropy: dlogits of 3 dims", sce_dl_rank, SHP, -1, CA},
    {"inc_softmax_cross_entropy: label -1", sce_lab_neg, INV, -1, CA},
    {"inc_softmax_cross_entropy: label == classes", sce_lab_k, INV, -1, CA},
    {"inc_softmax_cross_entropy: label INT32_MIN", sce_lab_min, INV, -1, CA},
    {"inc_softmax_cross_entropy: label INT32_MAX", sce_lab_max, INV, -1, CA},
    {"inc_softmax_cross_entropy: label == classes, dlogits untouched", sce_lab_k_dl, INV, -1,
     NONE /* checked inside */},
    {"inc_softmax_cross_entropy: dlogits is logits", sce_dl_is_logits, INV, -1, CA},
    {"inc_softmax_cross_entropy: dlogits shares logits' data", sce_dl_same_data, INV, -1, CA},
    {"inc_softmax_cross_entropy: dlogits overlaps logits", sce_dl_overlap, INV, -1, CA},
    {"inc_softmax_cross_entropy_smoothed: ctx NULL", sces_null_ctx, INV, -1, NONE},
    {"inc_softmax_cross_entropy_smoothed: smoothing -0.1", sces_neg, INV, -1, NONE},
    {"inc_softmax_cross_entropy_smoothed: smoothing just above 1", sces_above_1, INV, -1, NONE},
    {"inc_softmax_cross_entropy_smoothed: smoothing 2", sces_2, INV, -1, NONE},
    {"inc_softmax_cross_entropy_smoothed: smoothing NaN", sces_nan, INV, -1, NONE},
    {"inc_softmax_cross_entropy_smoothed: smoothing inf", sces_inf, INV, -1, NONE},
    {"inc_softmax_cross_entropy_smoothed: smoothing -inf", sces_minf, INV, -1, NONE},
    {"inc_softmax_cross_entropy_smoothed: labels NULL", sces_null_labels, INV, -1, NONE},
    {"inc_softmax_cross_entropy_smoothed: label == classes", sces_lab_k, INV, -1, NONE},
    {"inc_softmax_cross_entropy_smoothed: logits of 3 dims", sces_rank, SHP, -1, NONE},
    {"inc_softmax_cross_entropy_smoothed: logits of another context", sces_logits_other, INV,
     -1, NONE},
    /* optimizer */
    {"inc_sgd_create: ctx NULL", sgd_null_ctx, INV, -1, NONE},
    {"inc_sgd_create: out NULL", sgd_null_out, INV, -1, CA},
    {"inc_sgd_create: lr 0", sgd_lr0, INV, -1, CA},
    {"inc_sgd_create: lr -0.1", sgd_lr_neg, INV, -1, CA},
    {"inc_sgd_create: lr NaN", sgd_lr_nan, INV, -1, CA},
    {"inc_sgd_create: lr inf", sgd_lr_inf, INV, -1, CA},
    {"inc_sgd_create: momentum -0.5", sgd_m_neg, INV, -1, CA},
    {"inc_sgd_create: momentum 1", sgd_m_1, INV, -1, CA},
    {"inc_sgd_create: momentum NaN", sgd_m_nan, INV, -1, CA},
    {"inc_sgd_create: momentum inf", sgd_m_inf, INV, -1, CA},
    {"inc_sgd_create: weight_decay -1e-4", sgd_wd_neg, INV, -1, CA},
    {"inc_sgd_create: weight_decay NaN", sgd_wd_nan, INV, -1, CA},
    {"inc_sgd_create: weight_decay inf", sgd_wd_inf, INV, -1, CA},
    {"inc_optimizer_step: opt NULL", step_null_opt, INV, -1, NONE},
    {"inc_optimizer_step: model NULL", step_null_model, INV, -1, CA},
    {"inc_optimizer_step: unbound model", step_unbound, STA, -1, CA},
    {"inc_optimizer_step: model without parameters", step_no_params, STA, -1, CA},
    {"inc_optimizer_step: empty sequential", step_empty, STA, -1, CA},
    {"inc_optimizer_step: model of another context", step_model_other, INV, -1, CA},
    {"inc_optimizer_step: optimizer of another context", step_opt_other, INV, -1, CB},
    {"inc_optimizer_set_lr: NULL", lr_null, INV, -1, NONE},
    {"inc_optimizer_set_lr: 0", lr_0, INV, -1, CA},
    {"inc_optimizer_set_lr: -1", lr_neg, INV, -1, CA},
    {"inc_optimizer_set_lr: NaN", lr_nan, INV, -1, CA},
    {"inc_optimizer_set_lr: inf", lr_inf, INV, -1, CA},
    /* persistence */
    {"inc_layer_save: layer NULL", save_null, INV, -1, NONE},
    {"inc_layer_save: path NULL", save_null_path, INV, -1, CA},
    {"inc_layer_save: path \"\"", save_empty_path, INV, -1, CA},
    {"inc_layer_save: unbound model", save_unbound, STA, -1, CA},
    {"inc_layer_save: model without parameters", save_no_params, STA, -1, CA},
    {"inc_layer_save: directory does not exist", save_no_dir, EIO, -1, CA},
    {"inc_layer_save: path is a directory", save_onto_dir, EIO, -1, CA},
    {"inc_layer_export_onnx: layer NULL", onnx_null, INV, -1, NONE},
    {"inc_layer_export_onnx: path NULL", onnx_null_path, INV, -1, CA},
    {"inc_layer_export_onnx: path \"\"", onnx_empty_path, INV, -1, CA},
    {"inc_layer_export_onnx: unbound model", onnx_unbound, STA, -1, CA},
    {"inc_layer_export_onnx: unbound concat", onnx_unbound_concat, STA, -1, CA},
    {"inc_layer_export_onnx: empty sequential", onnx_empty, STA, -1, CA},
    {"inc_layer_export_onnx: directory does not exist", onnx_no_dir, EIO, -1, CA},
    {"inc_layer_export_onnx: path is a directory", onnx_onto_dir, EIO, -1, CA},
    {"inc_layer_export_onnx: path is the fixture's directory", onnx_onto_self_dir, EIO, -1, CA},
    {"inc_layer_load: layer NULL", load_null, INV, -1, NONE},
    {"inc_layer_load: path NULL", load_null_path, INV, -1, CA},
    {"inc_layer_load: path \"\"", load_empty_path, INV, -1, CA},
    {"inc_layer_load: no such file", load_missing, EIO, -1, CA},
    {"inc_layer_load: path is a directory", load_dir, EIO, -1, CA},
    {"inc_layer_load: path is a directory, unbound model", load_dir_unbound, EIO, -1, CA},
    {"inc_layer_load: empty file", load_empty, FMT, -1, CA},
    {"inc_layer_load: text file", load_junk, FMT, -1, CA},
    {"inc_layer_load: truncated checkpoint", load_truncated, FMT, -1, CA},
    {"inc_layer_load: truncated checkpoint, unbound model", load_truncated_unbound, FMT, -1, CA},
    {"inc_layer_load: F16 tensor", load_f16, FMT, -1, CA},
    {"inc_layer_load: a bias of another shape", load_wrong_bias, SHP, -1, CA},
    {"inc_layer_load: a bias of another shape, unbound model", load_wrong_bias_unbound, SHP, -1,
     CA},
    {"inc_layer_load: conv weight for 3 input channels", load_wrong_in, SHP, -1, CA},
    {"inc_layer_load: a tensor missing", load_missing_tensor, SHP, -1, CA},
    {"inc_layer_load: a tensor missing, unbound model", load_missing_unbound, SHP, -1, CA},
    {"inc_layer_load: an extra tensor", load_extra, SHP, -1, CA},
    {"inc_layer_load: an extra tensor, unbound model", load_extra_unbound, SHP, -1, CA},
    {"inc_layer_load: a file without tensors", load_no_tensors, SHP, -1, CA},
    {"inc_layer_load: model without parameters", load_no_params, SHP, -1, CA},
    {"inc_layer_load: a file of another model", load_into_other_tree, SHP, -1, CA},
    {"inc_checkpoint_save: model NULL", cs_null, INV, -1, NONE},
    {"inc_checkpoint_save: path NULL", cs_null_path, INV, -1, CA},
    {"inc_checkpoint_save: path \"\"", cs_empty_path, INV, -1, CA},
    {"inc_checkpoint_save: optimizer of another context", cs_opt_other, INV, -1, CA},
    {"inc_checkpoint_save: unbound model", cs_unbound, STA, -1, CA},
    {"inc_checkpoint_save: n_meta -1", cs_nmeta_neg, INV, -1, CA},
    {"inc_checkpoint_save: keys NULL", cs_keys_null, INV, -1, CA},
    {"inc_checkpoint_save: values NULL", cs_values_null, INV, -1, CA},
    {"inc_checkpoint_save: a key NULL", cs_key_null, INV, -1, CA},
    {"inc_checkpoint_save: a value NULL", cs_value_null, INV, -1, CA},
    {"inc_checkpoint_save: a key \"\"", cs_key_empty, INV, -1, CA},
    {"inc_checkpoint_save: a key \"inc.lr\"", cs_key_reserved, INV, -1, CA},
    {"inc_checkpoint_save: a key twice", cs_key_dup, INV, -1, CA},
    {"inc_checkpoint_save: directory does not exist", cs_no_dir, EIO, -1, CA},
    {"inc_checkpoint_load: model NULL", cl_null, INV, -1, NONE},
    {"inc_checkpoint_load: path NULL", cl_null_path, INV, -1, CA},
    {"inc_checkpoint_load: optimizer of another context", cl_opt_other, INV, -1, CA},
    {"inc_checkpoint_load: no such file", cl_missing, EIO, -1, CA},
    {"inc_checkpoint_load: text file", cl_junk, FMT, -1, CA},
    {"inc_checkpoint_load: a bias of another shape", cl_wrong_bias, SHP, -1, CA},
    {"inc_checkpoint_load: momentum of another shape", cl_bad_momentum, SHP, -1, CA},
    {"inc_checkpoint_load: momentum of another shape, unbound model", cl_bad_momentum_unbound,
     SHP, -1, CA},
    {"inc_checkpoint_metadata: path NULL", md_null_path, INV, -1, NONE},
    {"inc_checkpoint_metadata: key NULL", md_null_key, INV, -1, NONE},
    {"inc_checkpoint_metadata: buf NULL with cap 32", md_null_buf, INV, -1, NONE},
    {"inc_checkpoint_metadata: no such file", md_missing, EIO, -1, NONE},
    {"inc_checkpoint_metadata: path is a directory", md_dir, EIO, -1, NONE},
    {"inc_checkpoint_metadata: text file", md_junk, FMT, -1, NONE},
    {"inc_checkpoint_metadata: truncated checkpoint", md_truncated, FMT, -1, NONE},
    {"inc_checkpoint_metadata: empty file", md_empty, FMT, -1, NONE},
};
#define NROWS ((int)(sizeof ROWS / sizeof ROWS[0]))

START_TEST(test_bad_argument)
{
  const row *r = &ROWS[_i];
  digest before, after;
  take_digest(&before);
  /* clear both messages (synchronize succeeds and changes nothing) */
  ck_assert_int_eq(inc_context_synchronize(F.a), INC_OK);
  ck_assert_int_eq(inc_context_synchronize(F.b), INC_OK);
  inc_status s = r->call();
  if (r->want == ANY_OK) {
    ck_assert_msg(s == INC_OK || s == INC_ERR_UNAVAILABLE, "%s: got %s", r->what,
                  inc_status_string(s));
  } else {
    ck_assert_msg(s == (inc_status)r->want || (r->want2 >= 0 && s == (inc_status)r->want2),
                  "%s: got %s, want %s", r->what, inc_status_string(s),
                  inc_status_string((inc_status)r->want));
  }
  if (r->msg != NONE) {
    const char *m = inc_context_last_error(r->msg == CA ? F.a : F.b);
    ck_assert_msg(m[0] != '\0', "%s: %s without a message", r->what, inc_status_string(s));
  }
  take_digest(&after);
  for (int i = 0; i < D_N; i++)
    ck_assert_msg(before.h[i] == after.h[i], "%s: the failed call changed %s", r->what,
                  D_NAMES[i]);
}
END_TEST

/* The functions that cannot fail, with NULL and out-of-range arguments. */
START_TEST(test_null_queries)
{
  ck_assert_uint_eq(inc_version_number(), INC_VERSION_NUMBER);
  ck_assert_ptr_nonnull(inc_version_string());
  ck_assert_str_eq(inc_status_string((inc_status)-1), "INC_ERR_UNKNOWN");
  ck_assert_str_eq(inc_status_string((inc_status)10), "INC_ERR_UNKNOWN");
  ck_assert_str_eq(inc_status_string((inc_status)INT_MAX), "INC_ERR_UNKNOWN");
  ck_assert_int_eq(inc_backend_available((inc_backend)-1), 0);
  ck_assert_int_eq(inc_backend_available((inc_backend)3), 0);
  ck_assert_int_eq(inc_backend_available((inc_backend)INT_MIN), 0);
  ck_assert_int_eq(inc_backend_available(INC_BACKEND_CPU), 1);
  inc_context_destroy(NULL);
  ck_assert_int_eq(inc_context_backend(NULL), INC_BACKEND_AUTO);
  ck_assert_str_eq(inc_context_last_error(NULL), "");
  ck_assert_str_eq(inc_context_device_name(NULL), "");
  ck_assert_uint_eq(inc_context_seed(NULL), 0);
  ck_assert_int_eq(inc_context_precision(NULL), INC_PRECISION_FP32);
  inc_tensor_destroy(NULL);
  ck_assert_int_eq(inc_tensor_ndim(NULL), 0);
  ck_assert_int_eq(inc_tensor_dim(NULL, 0), 0);
  ck_assert_int_eq(inc_tensor_dim(NULL, -1), 0);
  ck_assert_int_eq(inc_tensor_numel(NULL), 0);
  ck_assert_ptr_null(inc_tensor_context(NULL));
  ck_assert_int_eq(inc_tensor_dim(F.x, 4), 0);
  ck_assert_int_eq(inc_tensor_dim(F.x, -5), 0);
  ck_assert_int_eq(inc_tensor_dim(F.x, INT_MAX), 0);
  ck_assert_int_eq(inc_tensor_dim(F.x, INT_MIN), 0);
  ck_assert_int_eq(inc_tensor_dim(F.x, -4), 2);
  inc_layer_destroy(NULL);
  ck_assert_str_eq(inc_layer_kind(NULL), "");
  ck_assert_str_eq(inc_layer_name(NULL), "");
  ck_assert_int_eq(inc_layer_child_count(NULL), 0);
  ck_assert_ptr_null(inc_layer_child(NULL, 0));
  ck_assert_ptr_null(inc_layer_child(F.net, -1));
  ck_assert_ptr_null(inc_layer_child(F.net, 5));
  ck_assert_ptr_null(inc_layer_child(F.net, INT_MIN));
  ck_assert_ptr_null(inc_layer_child(F.relu, 0));
  ck_assert_ptr_null(inc_layer_parent(NULL));
  ck_assert_int_eq(inc_layer_is_bound(NULL), 0);
  ck_assert_int_eq(inc_layer_param_count(NULL), 0);
  ck_assert_int_eq(inc_layer_param_numel(NULL), 0);
  ck_assert_int_eq(inc_layer_buffer_count(NULL), 0);
  ck_assert_int_eq(inc_layer_buffer_count(F.net), 0);
  ck_assert_int_eq(inc_layer_grad_bucket_count(NULL), 0);
  ck_assert_int_eq(inc_layer_grad_bucket_count(F.net), 0); /* no hook */
  ck_assert_int_eq(inc_layer_grad_bucket_count(F.hooked), 1);
  ck_assert(inc_optimizer_lr(NULL) == 0.0f);
  inc_optimizer_destroy(NULL);

  digest before, after;
  take_digest(&before);
  /* destroying what the caller does not own is a no-op */
  inc_layer_destroy(inc_layer_child(F.net, 0));
  inc_tensor *w, *g;
  ck_assert_int_eq(inc_layer_param(F.net, 0, NULL, &w, &g), INC_OK);
  inc_tensor_destroy(w);
  inc_tensor_destroy(g);
  /* a summary into a NULL buffer of size 0 only reports the size */
  size_t need = 0;
  ck_assert_int_eq(inc_layer_summary(F.net, 4, XD, NULL, 0, &need), INC_OK);
  ck_assert_uint_gt(need, 1);
  /* metadata: an absent key is INC_OK with *needed 0 and "" */
  char buf[8] = "x";
  ck_assert_int_eq(inc_checkpoint_metadata(F.ckpt, "absent", buf, sizeof buf, &need), INC_OK);
  ck_assert_uint_eq(need, 0);
  ck_assert_str_eq(buf, "");
  ck_assert_int_eq(inc_checkpoint_metadata(F.ckpt, "note", NULL, 0, &need), INC_OK);
  ck_assert_uint_eq(need, strlen("bad-argument fixture") + 1);
  take_digest(&after);
  for (int i = 0; i < D_N; i++)
    ck_assert_msg(before.h[i] == after.h[i], "a no-op changed %s", D_NAMES[i]);
}
END_TEST

/* A failed load into an unbound model must leave the random stream where it
 * was: the weights the model then draws are those it would have drawn
 * without the failed call (seen through the public API only). */
START_TEST(test_failed_load_keeps_init)
{
  inc_context *c1 = tu_cpu(), *c2 = tu_cpu();
  inc_layer *m1 = make_net(c1), *m2 = make_net(c2);
  ck_assert_int_eq(inc_layer_load(m1, path_in("extra.safetensors")), INC_ERR_SHAPE);
  ck_assert_int_eq(inc_layer_is_bound(m1), 0);
  int64_t od[INC_MAX_DIMS];
  int on;
  INC_CK(c1, inc_layer_infer_shape(m1, 4, XD, &on, od));
  INC_CK(c2, inc_layer_infer_shape(m2, 4, XD, &on, od));
  for (int i = 0; i < inc_layer_param_count(m2); i++) {
    inc_tensor *v1, *v2;
    INC_CK(c1, inc_layer_param(m1, i, NULL, &v1, NULL));
    INC_CK(c2, inc_layer_param(m2, i, NULL, &v2, NULL));
    float *h1 = tu_host(v1), *h2 = tu_host(v2);
    int same = !memcmp(h1, h2, (size_t)inc_tensor_numel(v1) * sizeof(float));
    free(h1);
    free(h2);
    ck_assert_msg(same, "parameter %d: a failed inc_layer_load changed the initial weights", i);
  }
  inc_layer_destroy(m1);
  inc_layer_destroy(m2);
  inc_context_destroy(c1);
  inc_context_destroy(c2);
}
END_TEST

Suite *inc_test_suite_badargs(void)
{
  Suite *s = suite_create("badargs");
  TCase *tc = tcase_create("table");
  tcase_set_timeout(tc, 30);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, test_bad_argument, 0, NROWS);
  tcase_add_test(tc, test_null_queries);
  tcase_add_test(tc, test_failed_load_keeps_init);
  suite_add_tcase(s, tc);
  return s;
}
