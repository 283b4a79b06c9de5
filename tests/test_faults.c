/*
 * test_faults.c — allocation failures and failed writes, injected.
 *
 * Only the build/faults runner (make check-faults: -DINC_FAULT_INJECTION,
 * ASan + UBSan) has working hooks; in every other build this suite holds one
 * test saying so.
 *
 * test_alloc_failures: a representative scenario — a context, a small net
 * of every layer kind (conv, batch norm, relu, a rectangular conv and a conv
 * without bias made from descriptors, max and average pooling, an Inception
 * block, a residual block (identity + scaled conv), global average pooling,
 * flatten, dropout, dense), tensors, two training
 * steps with SGD (momentum, weight decay), parameter names, a summary, a
 * checkpoint save, metadata, a checkpoint load into an unbound net and a
 * load into the bound one, an inference forward — is run once to count its
 * host allocations (inc__fault_arm(0), inc__fault_count()), then once per
 * allocation k with the k-th made to fail. For each k:
 *   - the call whose allocation failed returns INC_ERR_OUT_OF_MEMORY with a
 *     message on its context (a constructor also sets *out = NULL);
 *   - a failed optimizer step, load or save changed nothing: parameters,
 *     momentum buffers, an unbound net stays unbound, the previous file at
 *     the save path is intact and no temporary file is left;
 *   - the failed call, made again (the failure is one-shot), succeeds and the
 *     scenario runs to its end; every result (losses, parameters, loaded
 *     state, momentum, outputs, names, summary) is bit-identical to the run
 *     without failure;
 *   - everything is destroyed and, under ASan, nothing leaked (LeakSanitizer
 *     is asked after each k).
 * Every violation is collected; the test fails with the first of each kind.
 *
 * test_googlenet_build_failures: inc_googlenet_create with each of its
 * allocations failing in turn: INC_ERR_OUT_OF_MEMORY, *out NULL, no leak.
 *
 * test_write_failures: inc__fault_arm_io(k) for every write of a checkpoint
 * save: INC_ERR_IO naming the file, the previous checkpoint intact byte for
 * byte and still loadable to the previous state, no temporary file left, no
 * file at all when there was none before.
 *
 * test_buffer_failures: the same walk over a net with buffers (a test-only
 * kind declaring parameters and buffers, tests/probe_kind.h): binding, an
 * optimizer step, a checkpoint save, a load into an unbound net and a load
 * into a bound one with each allocation failing in turn: the call returns
 * INC_ERR_OUT_OF_MEMORY and changes nothing (unbound stays unbound with the
 * random stream where it was, buffers, parameters and momentum keep their
 * values, no file), made again it succeeds, the end state is bit-identical
 * to the run without failure, and nothing leaks.
 *
 * test_grad_hook_failures: the data-parallel hooks (inc_layer_set_grad_hook)
 * with each allocation failing in turn: setting a hook, the training forward
 * that builds the bucket layout, a backward that builds it again for a new
 * bucket_bytes, a rebuild after a binding to other channels, the removal
 * that gives the gradients their own memory back. The failing call returns
 * INC_ERR_OUT_OF_MEMORY and changes nothing (no hook, gradient values, and
 * where building comes first their places, no ready called), made again it
 * succeeds, the end state is the run's without failure, nothing leaks.
 *
 * test_export_failures: inc_layer_export_onnx with each of its allocations
 * and each of its writes failing in turn: INC_ERR_OUT_OF_MEMORY / INC_ERR_IO
 * with a message, the previous file at the path intact, no temporary file
 * left (no file at all when there was none), the export made again equal to
 * the one without failure, no leak.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util.h"
#include "optimizer.h"

#ifdef INC_FAULT_INJECTION
#include "probe_kind.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define LEAKED() __lsan_do_recoverable_leak_check()
#else
#define LEAKED() 0
#endif
#define LEAK_WINDOW 128

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

static unsigned char *slurp(const char *path, size_t *n)
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
    }
    size_t r = fread(b + *n, 1, cap - *n, fp);
    if (!r) break;
    *n += r;
  }
  fclose(fp);
  return b;
}

static void spit(const char *path, const void *p, size_t n)
{
  FILE *fp = fopen(path, "wb");
  ck_assert_ptr_nonnull(fp);
  if (n) ck_assert_uint_eq(fwrite(p, 1, n, fp), n);
  ck_assert_int_eq(fclose(fp), 0);
}

/* Number of entries of dir other than "." and ".." (and the first of them
 * into first, if not NULL). */
static int dir_entries(const char *dir, char *first, size_t cap)
{
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (n == 0 && first) snprintf(first, cap, "%s", e->d_name);
    n++;
  }
  closedir(d);
  return n;
}

static void make_dir(char *dir, size_t cap, const char *what)
{
  snprintf(dir, cap, "%s/inc-%s-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", what);
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(const char *dir)
{
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

/* ------------------------------------------------------------------------ */
/* Host copies of state                                                      */
/* ------------------------------------------------------------------------ */

typedef struct blob {
  float *v;
  int64_t n;
} blob;

static void blob_free(blob *b)
{
  free(b->v);
  b->v = NULL;
  b->n = 0;
}

static void blob_add(blob *b, const inc_tensor *t)
{
  int64_t n = inc_tensor_numel(t);
  b->v = (float *)realloc(b->v, (size_t)(b->n + n + 1) * sizeof(float));
  ck_assert_ptr_nonnull(b->v);
  ck_assert_int_eq(inc_tensor_copy_to_host(t, b->v + b->n, n), INC_OK);
  b->n += n;
}

/* Parameter values (no allocation inside the library: names not asked). */
static blob params_of(const inc_layer *l)
{
  blob b = {NULL, 0};
  for (int i = 0; i < inc_layer_param_count(l); i++) {
    inc_tensor *v;
    ck_assert_int_eq(inc_layer_param(l, i, NULL, &v, NULL), INC_OK);
    blob_add(&b, v);
  }
  return b;
}

/* The optimizer state the caller can observe for model: for each parameter,
 * whether it has a momentum buffer holding state and that buffer (a buffer
 * made but not yet used by a step, or one of a parameter that is gone, is
 * invisible: the next step treats it as new or drops it). */
static blob momentum_of(inc_optimizer *o, const inc_layer *model)
{
  blob b = {NULL, 0};
  for (int i = 0; i < inc_layer_param_count(model); i++) {
    inc_tensor *v;
    ck_assert_int_eq(inc_layer_param(model, i, NULL, &v, NULL), INC_OK);
    inc__opt_slot *slot = inc__opt_find(o, v->uid);
    int live = slot && !slot->first;
    b.v = (float *)realloc(b.v, (size_t)(b.n + 2) * sizeof(float));
    b.v[b.n++] = (float)live;
    if (live) blob_add(&b, slot->buf);
  }
  return b;
}

static int blob_eq(const blob *a, const blob *b)
{
  return a->n == b->n && (a->n == 0 || !memcmp(a->v, b->v, (size_t)a->n * sizeof(float)));
}

/* ------------------------------------------------------------------------ */
/* The scenario                                                              */
/* ------------------------------------------------------------------------ */

enum { K_CONV, K_BN, K_RELU, K_MAXPOOL, K_AVGPOOL, K_INCEPTION, K_GAP, K_FLATTEN, K_DENSE,
       K_DROPOUT, K_RESIDUAL, K_RECT, K_NOBIAS };
static const int NET_KINDS[] = {K_CONV,      K_BN,       K_RELU,    K_RECT,    K_NOBIAS,
                                K_MAXPOOL,   K_INCEPTION, K_RESIDUAL, K_AVGPOOL, K_GAP,
                                K_FLATTEN,   K_DROPOUT,  K_DENSE};
#define NET_LEN ((int)(sizeof NET_KINDS / sizeof NET_KINDS[0]))
static const int64_t XD[4] = {2, 2, 8, 8}, LD[2] = {2, 3};
static const int32_t LABELS[2] = {2, 0};

typedef struct sc {
  inc_context *ctx;
  inc_layer *net[2];  /* net[0] trains; net[1] (unbound) receives the checkpoint */
  inc_layer *pending; /* made, not yet appended */
  inc_tensor *x, *dl;
  inc_optimizer *opt[2];
  const inc_tensor *y;
  char dir[96], path[160];
  /* results */
  float loss[4];
  const char *pname;
  char pname_copy[64];
  char summary[2048];
  char meta[64];
  blob out; /* net[1]'s inference output */
} sc;

typedef struct step {
  const char *name;
  inc_status (*fn)(sc *s, const struct step *st);
  int net, idx;   /* arguments */
  int has_ctx;    /* a failure must leave a message on s->ctx */
  int kind;       /* what "changes nothing" means for it, see check_unchanged */
} step;

enum { U_NONE, U_STEP, U_LOAD_BOUND, U_LOAD_UNBOUND, U_SAVE };

static inc_status st_ctx(sc *s, const step *st)
{
  (void)st;
  inc_context *c = (inc_context *)&s->ctx; /* any non-NULL value */
  inc_status r = inc_context_create(INC_BACKEND_CPU, &c);
  if (r != INC_OK) ck_assert_msg(c == NULL, "inc_context_create: *out not NULL on failure");
  s->ctx = c;
  return r;
}
static inc_status st_seed(sc *s, const step *st)
{
  (void)st;
  inc_status r = inc_context_set_seed(s->ctx, 5);
  return r != INC_OK ? r : inc_context_set_num_threads(s->ctx, 1);
}
static inc_status st_seq(sc *s, const step *st)
{
  inc_layer *l = (inc_layer *)s;
  inc_status r = inc_sequential_create(s->ctx, &l);
  if (r != INC_OK) ck_assert_msg(l == NULL, "inc_sequential_create: *out not NULL on failure");
  s->net[st->net] = l;
  return r;
}
/* A residual block, several calls: residual(identity, conv 3x3 p1 of c
 * channels times 0.2). On a failure what was made is freed, *out is NULL
 * and the failed call's status is returned. */
static inc_status make_residual(inc_context *c, int channels, inc_layer **out)
{
  inc_layer *res = NULL, *id = NULL, *conv = NULL;
  inc_status r = inc_residual_create(c, &res);
  if (r == INC_OK) r = inc_identity_create(c, &id);
  if (r == INC_OK && (r = inc_residual_add_branch(res, id, 1.0f)) == INC_OK) id = NULL;
  if (r == INC_OK) r = inc_conv2d_create(c, channels, 3, 1, 1, &conv);
  if (r == INC_OK && (r = inc_residual_add_branch(res, conv, 0.2f)) == INC_OK) conv = NULL;
  inc_layer_destroy(id);
  inc_layer_destroy(conv);
  if (r != INC_OK) {
    inc_layer_destroy(res);
    res = NULL;
  }
  *out = res;
  return r;
}

static inc_status st_make(sc *s, const step *st)
{
  inc_layer *l = (inc_layer *)s;
  inc_context *c = s->ctx;
  inc_status r = INC_ERR_INVALID_ARGUMENT;
  /* 1x3 p(0,1) with a bias; 3x1 p(1,0) without */
  const int nobias = NET_KINDS[st->idx] == K_NOBIAS;
  inc_conv2d_desc d;
  memset(&d, 0, sizeof d);
  d.size = sizeof d;
  d.out_channels = 4;
  d.kernel_h = d.stride_h = d.stride_w = 1;
  d.kernel_w = 3;
  d.pad_w = 1;
  d.bias = !nobias;
  if (nobias) d.kernel_h = 3, d.kernel_w = 1, d.pad_h = 1, d.pad_w = 0;
  switch (NET_KINDS[st->idx]) {
  case K_CONV: r = inc_conv2d_create(c, 4, 3, 1, 1, &l); break;
  case K_BN: r = inc_batch_norm2d_create(c, 1e-5f, 0.1f, &l); break;
  case K_RELU: r = inc_relu_create(c, &l); break;
  case K_MAXPOOL: r = inc_max_pool2d_create(c, 3, 2, 1, &l); break;
  case K_AVGPOOL: r = inc_avg_pool2d_create(c, 2, 0, 0, &l); break;
  case K_INCEPTION: r = inc_inception_create(c, 2, 2, 3, 1, 2, 2, &l); break;
  case K_RESIDUAL: r = make_residual(c, 9, &l); break; /* the inception's 9 channels */
  case K_GAP: r = inc_global_avg_pool2d_create(c, &l); break;
  case K_FLATTEN: r = inc_flatten_create(c, &l); break;
  case K_DENSE: r = inc_dense_create(c, 3, &l); break;
  case K_DROPOUT: r = inc_dropout_create(c, 0.5f, &l); break;
  case K_RECT:
  case K_NOBIAS: r = inc_conv2d_create_desc(c, &d, &l); break;
  }
  if (r != INC_OK) ck_assert_msg(l == NULL, "layer constructor: *out not NULL on failure");
  s->pending = l;
  return r;
}
static inc_status st_append(sc *s, const step *st)
{
  inc_status r = inc_sequential_append(s->net[st->net], s->pending);
  if (r == INC_OK) s->pending = NULL;
  else ck_assert_ptr_null(inc_layer_parent(s->pending));
  return r;
}
static inc_status st_tensors(sc *s, const step *st)
{
  inc_tensor **t = st->idx ? &s->dl : &s->x;
  *t = (inc_tensor *)s;
  inc_status r = st->idx ? inc_tensor_create(s->ctx, 2, LD, t) : inc_tensor_create(s->ctx, 4, XD, t);
  if (r != INC_OK) ck_assert_msg(*t == NULL, "inc_tensor_create: *out not NULL on failure");
  if (r == INC_OK && !st->idx) {
    float h[2 * 2 * 8 * 8];
    tu_fill(h, 2 * 2 * 8 * 8, 11, -1, 1);
    r = inc_tensor_copy_from_host(s->x, h, 2 * 2 * 8 * 8);
  }
  return r;
}
static inc_status st_sgd(sc *s, const step *st)
{
  inc_optimizer *o = (inc_optimizer *)s;
  inc_status r = inc_sgd_create(s->ctx, 0.05f, 0.9f, 1e-4f, &o);
  if (r != INC_OK) ck_assert_msg(o == NULL, "inc_sgd_create: *out not NULL on failure");
  s->opt[st->idx] = o;
  return r;
}
static inc_status st_forward(sc *s, const step *st)
{
  (void)st;
  return inc_layer_forward(s->net[0], s->x, 1, &s->y);
}
static inc_status st_loss(sc *s, const step *st)
{
  return inc_softmax_cross_entropy(s->ctx, s->y, LABELS, &s->loss[st->idx], s->dl, NULL);
}
static inc_status st_backward(sc *s, const step *st)
{
  (void)st;
  const inc_tensor *dx;
  return inc_layer_backward(s->net[0], s->dl, &dx);
}
static inc_status st_step(sc *s, const step *st)
{
  (void)st;
  return inc_optimizer_step(s->opt[0], s->net[0]);
}
static inc_status st_pname(sc *s, const step *st)
{
  (void)st;
  inc_status r = inc_layer_param(s->net[0], 5, &s->pname, NULL, NULL);
  if (r == INC_OK) snprintf(s->pname_copy, sizeof s->pname_copy, "%s", s->pname);
  return r;
}
static inc_status st_summary(sc *s, const step *st)
{
  (void)st;
  size_t need;
  return inc_layer_summary(s->net[0], 4, XD, s->summary, sizeof s->summary, &need);
}
static inc_status st_save(sc *s, const step *st)
{
  (void)st;
  const char *k[2] = {"run", "note"}, *v[2] = {"faults", "allocation failures"};
  return inc_checkpoint_save(s->net[0], s->opt[0], 2, k, v, s->path);
}
static inc_status st_meta(sc *s, const step *st)
{
  (void)st;
  size_t need;
  return inc_checkpoint_metadata(s->path, "note", s->meta, sizeof s->meta, &need);
}
static inc_status st_load_unbound(sc *s, const step *st)
{
  return inc_checkpoint_load(s->net[st->net], s->opt[st->idx], s->path);
}
static inc_status st_load_bound(sc *s, const step *st)
{
  (void)st;
  return inc_layer_load(s->net[0], s->path);
}
static inc_status st_infer(sc *s, const step *st)
{
  (void)st;
  const inc_tensor *y;
  inc_status r = inc_layer_forward(s->net[1], s->x, 0, &y);
  if (r == INC_OK) {
    blob_free(&s->out);
    blob_add(&s->out, y);
  }
  return r;
}

#define MAX_STEPS 96
static step STEPS[MAX_STEPS];
static int NSTEPS;

static void add_step(const char *name, inc_status (*fn)(sc *, const step *), int net, int idx,
                     int has_ctx, int kind)
{
  ck_assert_int_lt(NSTEPS, MAX_STEPS);
  step st = {name, fn, net, idx, has_ctx, kind};
  STEPS[NSTEPS++] = st;
}

static void build_steps(void)
{
  NSTEPS = 0;
  add_step("inc_context_create", st_ctx, 0, 0, 0, U_NONE);
  add_step("inc_context_set_seed/num_threads", st_seed, 0, 0, 1, U_NONE);
  for (int n = 0; n < 2; n++) {
    add_step("inc_sequential_create", st_seq, n, 0, 1, U_NONE);
    for (int i = 0; i < NET_LEN; i++) {
      add_step("a layer constructor", st_make, n, i, 1, U_NONE);
      add_step("inc_sequential_append", st_append, n, i, 1, U_NONE);
    }
  }
  add_step("inc_tensor_create (x)", st_tensors, 0, 0, 1, U_NONE);
  add_step("inc_tensor_create (dlogits)", st_tensors, 0, 1, 1, U_NONE);
  add_step("inc_sgd_create", st_sgd, 0, 0, 1, U_NONE);
  add_step("inc_sgd_create (second)", st_sgd, 0, 1, 1, U_NONE);
  for (int it = 0; it < 4; it++) {
    add_step("inc_layer_forward (training)", st_forward, 0, it, 1, U_NONE);
    add_step("inc_softmax_cross_entropy", st_loss, 0, it, 1, U_NONE);
    add_step("inc_layer_backward", st_backward, 0, it, 1, U_NONE);
    add_step("inc_optimizer_step", st_step, 0, it, 1, U_STEP);
    if (it == 1) {
      add_step("inc_layer_param (name)", st_pname, 0, 0, 1, U_NONE);
      add_step("inc_layer_summary", st_summary, 0, 0, 1, U_NONE);
      add_step("inc_checkpoint_save", st_save, 0, 0, 1, U_SAVE);
      add_step("inc_checkpoint_metadata", st_meta, 0, 0, 0, U_NONE);
    }
    /* after a further step the trained net differs from the file: the
     * loads below change it back */
    if (it == 2) {
      add_step("inc_checkpoint_load (unbound net)", st_load_unbound, 1, 1, 1, U_LOAD_UNBOUND);
      add_step("inc_checkpoint_load (bound net, with momentum)", st_load_unbound, 0, 0, 1,
               U_LOAD_BOUND);
    }
  }
  add_step("inc_layer_load (bound net)", st_load_bound, 0, 0, 1, U_LOAD_BOUND);
  add_step("inc_layer_forward (inference, loaded net)", st_infer, 0, 0, 1, U_NONE);
}

static void sc_destroy(sc *s)
{
  inc_layer_destroy(s->pending);
  inc_layer_destroy(s->net[0]);
  inc_layer_destroy(s->net[1]);
  inc_tensor_destroy(s->x);
  inc_tensor_destroy(s->dl);
  inc_optimizer_destroy(s->opt[0]);
  inc_optimizer_destroy(s->opt[1]);
  inc_context_destroy(s->ctx);
  blob_free(&s->out);
  remove_dir(s->dir);
  memset(s, 0, sizeof *s);
}

/* The results a run produces, for comparison with the run without failure. */
typedef struct outcome {
  float loss[4];
  blob p0, p1, m0, m1, out;
  char pname[64], summary[2048], meta[64];
  unsigned char *file;
  size_t file_n;
} outcome;

static void outcome_free(outcome *o)
{
  blob_free(&o->p0);
  blob_free(&o->p1);
  blob_free(&o->m0);
  blob_free(&o->m1);
  blob_free(&o->out);
  free(o->file);
  memset(o, 0, sizeof *o);
}

static void outcome_of(sc *s, outcome *o)
{
  memcpy(o->loss, s->loss, sizeof o->loss);
  o->p0 = params_of(s->net[0]);
  o->p1 = params_of(s->net[1]);
  o->m0 = momentum_of(s->opt[0], s->net[0]);
  o->m1 = momentum_of(s->opt[1], s->net[1]);
  o->out.n = s->out.n;
  o->out.v = (float *)malloc((size_t)s->out.n * sizeof(float) + 1);
  memcpy(o->out.v, s->out.v, (size_t)s->out.n * sizeof(float));
  snprintf(o->pname, sizeof o->pname, "%s", s->pname_copy);
  snprintf(o->summary, sizeof o->summary, "%s", s->summary);
  snprintf(o->meta, sizeof o->meta, "%s", s->meta);
  o->file = slurp(s->path, &o->file_n);
}

/* Violations, collected over every k: the first of each kind is kept. */
enum { V_STATUS, V_MESSAGE, V_RETRY, V_UNCHANGED, V_RECOVERY, V_LEAK, V_N };
static const char *const V_NAMES[V_N] = {
    "status of the failing call", "message on the context", "call made again",
    "failed call changed state", "results after recovery differ", "leak"};
typedef struct report {
  long count[V_N];
  char first[V_N][512];
  long failures, swallowed;
  long per_step[MAX_STEPS];
  long by_step[V_N][MAX_STEPS]; /* violations of each kind per failing step */
} report;

static void violation(report *r, int kind, int at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void violation(report *r, int kind, int at, const char *fmt, ...)
{
  if (at >= 0) r->by_step[kind][at]++;
  if (r->count[kind]++ == 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->first[kind], sizeof r->first[kind], fmt, ap);
    va_end(ap);
  }
}

/* The state a failed call of kind u must leave alone. */
typedef struct before {
  blob p0, m0, p1, m1;
  int bound1;
  unsigned char *file;
  size_t file_n;
} before;

static void before_take(sc *s, int u, before *b)
{
  memset(b, 0, sizeof *b);
  if (u == U_NONE) return;
  if (s->net[0]) b->p0 = params_of(s->net[0]);
  if (s->net[0] && s->opt[0]) b->m0 = momentum_of(s->opt[0], s->net[0]);
  if (s->net[1]) {
    b->p1 = params_of(s->net[1]);
    b->bound1 = inc_layer_is_bound(s->net[1]);
  }
  if (s->net[1] && s->opt[1]) b->m1 = momentum_of(s->opt[1], s->net[1]);
  b->file = slurp(s->path, &b->file_n);
}

static void before_free(before *b)
{
  blob_free(&b->p0);
  blob_free(&b->m0);
  blob_free(&b->p1);
  blob_free(&b->m1);
  free(b->file);
}

static const char *check_unchanged(sc *s, int u, const before *b)
{
  static char why[256];
  blob t = {NULL, 0};
  why[0] = '\0';
  if (u == U_STEP || u == U_LOAD_BOUND) {
    t = params_of(s->net[0]);
    if (!blob_eq(&t, &b->p0)) snprintf(why, sizeof why, "the trained net's parameters changed");
    blob_free(&t);
    t = momentum_of(s->opt[0], s->net[0]);
    if (!why[0] && !blob_eq(&t, &b->m0)) snprintf(why, sizeof why, "the momentum buffers changed");
    blob_free(&t);
  }
  if (u == U_LOAD_UNBOUND) {
    if (inc_layer_is_bound(s->net[1]) != b->bound1)
      snprintf(why, sizeof why, "the unbound net was left bound");
    t = momentum_of(s->opt[1], s->net[1]);
    if (!why[0] && !blob_eq(&t, &b->m1))
      snprintf(why, sizeof why, "the second optimizer's state changed");
    blob_free(&t);
  }
  if (u == U_SAVE) {
    size_t n;
    unsigned char *f = slurp(s->path, &n);
    if (n != b->file_n || (n && memcmp(f, b->file, n)))
      snprintf(why, sizeof why, "the previous file at the save path changed");
    free(f);
    char first[256];
    if (!why[0] && dir_entries(s->dir, first, sizeof first) != 1)
      snprintf(why, sizeof why, "a file was left beside the checkpoint");
  }
  return why;
}

/* Runs the scenario with the k-th allocation failing (k = 0: none). */
static int run(long k, const unsigned char *prev, size_t prev_n, outcome *o, report *r,
               long *allocs)
{
  sc s;
  memset(&s, 0, sizeof s);
  make_dir(s.dir, sizeof s.dir, "faults");
  snprintf(s.path, sizeof s.path, "%s/ckpt.safetensors", s.dir);
  if (prev) spit(s.path, prev, prev_n); /* the previous checkpoint a save must keep */
  inc__fault_arm(k);
  int failed_at = -1;
  for (int i = 0; i < NSTEPS; i++) {
    const step *st = &STEPS[i];
    before b;
    before_take(&s, st->kind, &b);
    inc_status e = st->fn(&s, st);
    if (e != INC_OK) {
      failed_at = i;
      if (r) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", inc_context_last_error(s.ctx));
        r->per_step[i]++;
        if (e != INC_ERR_OUT_OF_MEMORY)
          violation(r, V_STATUS, i, "k=%ld: %s returned %s (%s)", k, st->name, inc_status_string(e),
                    msg);
        if (st->has_ctx && !msg[0])
          violation(r, V_MESSAGE, i, "k=%ld: %s returned %s without a message", k, st->name,
                    inc_status_string(e));
        const char *why = check_unchanged(&s, st->kind, &b);
        if (why[0])
          violation(r, V_UNCHANGED, i, "k=%ld: %s failed (%s) and %s", k, st->name, msg, why);
      }
      /* the failure is one-shot: the same call now succeeds */
      e = st->fn(&s, st);
      if (e != INC_OK) {
        if (r)
          violation(r, V_RETRY, i, "k=%ld: %s failed again with %s: %s", k, st->name,
                    inc_status_string(e), inc_context_last_error(s.ctx));
        before_free(&b);
        break;
      }
    }
    before_free(&b);
  }
  if (allocs) *allocs = inc__fault_count();
  inc__fault_arm(0);
  if (r) {
    if (failed_at >= 0)
      r->failures++;
    else
      r->swallowed++;
  }
  if (o) outcome_of(&s, o);
  sc_destroy(&s);
  return failed_at;
}

static int outcome_eq(const outcome *a, const outcome *b, char *why, size_t cap)
{
  if (memcmp(a->loss, b->loss, sizeof a->loss)) snprintf(why, cap, "losses");
  else if (!blob_eq(&a->p0, &b->p0)) snprintf(why, cap, "the trained net's parameters");
  else if (!blob_eq(&a->p1, &b->p1)) snprintf(why, cap, "the loaded net's parameters");
  else if (!blob_eq(&a->m0, &b->m0)) snprintf(why, cap, "the trained net's momentum buffers");
  else if (!blob_eq(&a->m1, &b->m1)) snprintf(why, cap, "the loaded momentum buffers");
  else if (!blob_eq(&a->out, &b->out)) snprintf(why, cap, "the loaded net's output");
  else if (strcmp(a->pname, b->pname)) snprintf(why, cap, "the parameter name");
  else if (strcmp(a->summary, b->summary)) snprintf(why, cap, "the summary");
  else if (strcmp(a->meta, b->meta)) snprintf(why, cap, "the metadata");
  else if (a->file_n != b->file_n || memcmp(a->file, b->file, a->file_n))
    snprintf(why, cap, "the checkpoint file");
  else return 1;
  return 0;
}

START_TEST(test_alloc_failures)
{
  build_steps();
  /* the previous checkpoint: any valid file of the right model will do */
  outcome first;
  run(0, NULL, 0, &first, NULL, NULL);
  ck_assert_uint_gt(first.file_n, 0);
  outcome ref;
  long allocs = 0;
  run(0, first.file, first.file_n, &ref, NULL, &allocs);
  ck_assert_msg(allocs > 50, "only %ld allocations counted: is this the fault build?", allocs);
  report r;
  memset(&r, 0, sizeof r);
  long absorbed[8];
  int nabsorbed = 0;
  for (long k = 1; k <= allocs; k++) {
    outcome o;
    int at = run(k, first.file, first.file_n, &o, &r, NULL);
    char why[128];
    if (!outcome_eq(&o, &ref, why, sizeof why))
      violation(&r, V_RECOVERY, at, "k=%ld: after %s failed and was made again, %s differ from "
                "the run without failure", k, at >= 0 ? STEPS[at].name : "no call", why);
    if (at < 0 && nabsorbed < 8) absorbed[nabsorbed++] = k;
    outcome_free(&o);
    /* LeakSanitizer's scan is slow and repeats every earlier leak: look
     * every LEAK_WINDOW failures, and no more once one was found (the
     * report at exit lists them all with their stacks). */
    if (!r.count[V_LEAK] && (k % LEAK_WINDOW == 0 || k == allocs) && LEAKED())
      violation(&r, V_LEAK, -1, "with k in %ld..%ld (the report above has the stacks)",
                k - (k - 1) % LEAK_WINDOW, k);
  }
  char ab[160] = "";
  for (int i = 0, u = 0; i < nabsorbed; i++)
    u += snprintf(ab + u, sizeof ab - (size_t)u, "%s%ld", i ? ", " : " (k = ", absorbed[i]);
  printf("faults: %ld allocations in the scenario, %ld failures injected and reported, "
         "%ld absorbed without an error%s%s\n", allocs, r.failures, r.swallowed, ab,
         nabsorbed ? ")" : "");
  char msg[4096];
  size_t used = 0;
  int bad = 0;
  for (int v = 0; v < V_N && used < sizeof msg; v++)
    if (r.count[v]) {
      bad = 1;
      used += (size_t)snprintf(msg + used, sizeof msg - used, "\n  [%s] %ld time(s), first: %s",
                               V_NAMES[v], r.count[v], r.first[v]);
      for (int i = 0; i < NSTEPS && used < sizeof msg; i++)
        if (r.by_step[v][i])
          used += (size_t)snprintf(msg + used, sizeof msg - used, "\n      %4ld x  step %d, %s",
                                   r.by_step[v][i], i, STEPS[i].name);
    }
  outcome_free(&first);
  outcome_free(&ref);
  ck_assert_msg(!bad, "allocation failures mishandled:%s", msg);
}
END_TEST

START_TEST(test_googlenet_build_failures)
{
  inc_context *ctx = tu_cpu();
  inc_layer *g = NULL;
  inc__fault_arm(0);
  INC_CK(ctx, inc_googlenet_create(ctx, 10, &g));
  long n = inc__fault_count();
  inc_layer_destroy(g);
  ck_assert_int_gt(n, 100);
  for (long k = 1; k <= n; k++) {
    g = (inc_layer *)ctx;
    inc__fault_arm(k);
    inc_status s = inc_googlenet_create(ctx, 10, &g);
    inc__fault_arm(0);
    ck_assert_msg(s == INC_ERR_OUT_OF_MEMORY, "k=%ld: %s", k, inc_status_string(s));
    ck_assert_msg(g == NULL, "k=%ld: *out not NULL", k);
    ck_assert_msg(inc_context_last_error(ctx)[0], "k=%ld: no message", k);
    if (k % LEAK_WINDOW == 0 || k == n)
      ck_assert_msg(!LEAKED(), "leak with k in %ld..%ld", k - (k - 1) % LEAK_WINDOW, k);
  }
  printf("faults: inc_googlenet_create makes %ld allocations; each failing gives "
         "INC_ERR_OUT_OF_MEMORY and frees the partial tree\n", n);
  INC_CK(ctx, inc_googlenet_create(ctx, 10, &g));
  ck_assert_int_eq(inc_layer_child_count(g), 6);
  inc_layer_destroy(g);
  inc_context_destroy(ctx);
}
END_TEST

/* ---- failed writes ---- */

static inc_layer *small_net(inc_context *ctx)
{
  inc_layer *seq, *l;
  INC_CK(ctx, inc_sequential_create(ctx, &seq));
  INC_CK(ctx, inc_conv2d_create(ctx, 3, 3, 1, 1, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_inception_create(ctx, 1, 1, 2, 1, 1, 1, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, make_residual(ctx, 5, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_global_avg_pool2d_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_flatten_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_dense_create(ctx, 3, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  return seq;
}

static void train_step(inc_context *ctx, inc_layer *net, inc_optimizer *o, inc_tensor *x,
                       inc_tensor *dl)
{
  const inc_tensor *y;
  float loss;
  INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
  INC_CK(ctx, inc_softmax_cross_entropy(ctx, y, LABELS, &loss, dl, NULL));
  INC_CK(ctx, inc_layer_backward(net, dl, NULL));
  INC_CK(ctx, inc_optimizer_step(o, net));
}

START_TEST(test_write_failures)
{
  char dir[96], path[160], fresh_path[160], first[256];
  make_dir(dir, sizeof dir, "atomic");
  snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
  snprintf(fresh_path, sizeof fresh_path, "%s/new.safetensors", dir);
  inc_context *ctx = tu_cpu();
  inc_layer *net = small_net(ctx), *check = small_net(ctx);
  inc_optimizer *o, *oc;
  INC_CK(ctx, inc_sgd_create(ctx, 0.05f, 0.9f, 0.0f, &o));
  INC_CK(ctx, inc_sgd_create(ctx, 0.05f, 0.9f, 0.0f, &oc));
  float xh[2 * 2 * 8 * 8];
  tu_fill(xh, 2 * 2 * 8 * 8, 4, -1, 1);
  inc_tensor *x = tu_tensor(ctx, 4, XD, xh), *dl = tu_tensor(ctx, 2, LD, NULL);
  const char *k[1] = {"epoch"}, *v1[1] = {"1"}, *v2[1] = {"2"};

  train_step(ctx, net, o, x, dl);
  INC_CK(ctx, inc_checkpoint_save(net, o, 1, k, v1, path));
  blob state1 = params_of(net);
  size_t n1;
  unsigned char *file1 = slurp(path, &n1);
  ck_assert_uint_gt(n1, 0);
  train_step(ctx, net, o, x, dl);
  blob state2 = params_of(net);
  ck_assert(!blob_eq(&state1, &state2));

  long writes = 0;
  for (long w = 1; w < 10000; w++) {
    inc__fault_arm_io(w);
    inc_status s = inc_checkpoint_save(net, o, 1, k, v2, path);
    inc__fault_arm_io(0);
    if (s == INC_OK) {
      writes = w - 1;
      break;
    }
    ck_assert_msg(s == INC_ERR_IO, "write %ld failing: %s", w, inc_status_string(s));
    const char *m = inc_context_last_error(ctx);
    ck_assert_msg(strstr(m, path) != NULL, "write %ld: message does not name the file: %s", w,
                  m);
    size_t n;
    unsigned char *now = slurp(path, &n);
    ck_assert_msg(n == n1 && !memcmp(now, file1, n), "write %ld: the previous checkpoint changed",
                  w);
    free(now);
    int entries = dir_entries(dir, first, sizeof first);
    ck_assert_msg(entries == 1, "write %ld: %d files in the directory (first: %s)", w, entries,
                  first);
    char meta[8];
    size_t need;
    ck_assert_int_eq(inc_checkpoint_metadata(path, "epoch", meta, sizeof meta, &need), INC_OK);
    ck_assert_str_eq(meta, "1");
    INC_CK(ctx, inc_checkpoint_load(check, oc, path));
    blob got = params_of(check);
    ck_assert_msg(blob_eq(&got, &state1), "write %ld: the previous checkpoint loads differently",
                  w);
    blob_free(&got);
  }
  ck_assert_msg(writes >= 3, "the save made only %ld writes", writes);
  printf("faults: a checkpoint save makes %ld writes; each failing leaves the previous file\n",
         writes);
  INC_CK(ctx, inc_checkpoint_load(check, oc, path));
  blob got = params_of(check);
  ck_assert_msg(blob_eq(&got, &state2), "the successful save did not write the new state");
  blob_free(&got);

  /* no previous file: a failed save leaves nothing at all */
  long w = 1;
  for (;; w++) {
    inc__fault_arm_io(w);
    inc_status s = inc_layer_save(net, fresh_path);
    inc__fault_arm_io(0);
    if (s == INC_OK) break;
    ck_assert_int_eq(s, INC_ERR_IO);
    ck_assert_msg(access(fresh_path, F_OK) != 0, "write %ld: a partial file was left", w);
    ck_assert_int_eq(dir_entries(dir, NULL, 0), 1);
  }
  ck_assert_int_gt(w, 3);
  ck_assert_int_eq(dir_entries(dir, NULL, 0), 2);
  blob_free(&state1);
  blob_free(&state2);
  free(file1);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dl);
  inc_optimizer_destroy(o);
  inc_optimizer_destroy(oc);
  inc_layer_destroy(net);
  inc_layer_destroy(check);
  inc_context_destroy(ctx);
  remove_dir(dir);
}
END_TEST

/* ---- the ONNX export: failed allocations and failed writes ---- */

START_TEST(test_export_failures)
{
  char dir[96], path[160], fresh_path[160], first[256];
  make_dir(dir, sizeof dir, "onnx");
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  snprintf(fresh_path, sizeof fresh_path, "%s/new.onnx", dir);
  inc_context *ctx = tu_cpu();
  inc_layer *net = small_net(ctx), *wide;
  int64_t od[INC_MAX_DIMS];
  int on;
  INC_CK(ctx, inc_layer_infer_shape(net, 4, XD, &on, od));
  /* 1.2 MB of parameters: the file goes out in several writes */
  const int64_t wd[2] = {1, 1000};
  INC_CK(ctx, inc_dense_create(ctx, 300, &wide));
  INC_CK(ctx, inc_layer_infer_shape(wide, 2, wd, &on, od));
  const char prev[] = "a previous file";

  /* allocations: each failing gives INC_ERR_OUT_OF_MEMORY with a message,
   * the previous file intact and nothing beside it; made again, the export
   * writes what it writes without failures */
  INC_CK(ctx, inc_layer_export_onnx(net, path));
  size_t ref_n;
  unsigned char *ref = slurp(path, &ref_n);
  ck_assert_uint_gt(ref_n, 0);
  spit(path, prev, sizeof prev);
  inc__fault_arm(0);
  INC_CK(ctx, inc_layer_export_onnx(net, fresh_path));
  long allocs = inc__fault_count();
  ck_assert_int_ge(allocs, 5);
  unlink(fresh_path);
  for (long k = 1; k <= allocs; k++) {
    inc__fault_arm(k);
    inc_status s = inc_layer_export_onnx(net, path);
    inc__fault_arm(0);
    ck_assert_msg(s == INC_ERR_OUT_OF_MEMORY, "allocation %ld failing: %s", k,
                  inc_status_string(s));
    ck_assert_msg(inc_context_last_error(ctx)[0], "allocation %ld: no message", k);
    size_t n;
    unsigned char *now = slurp(path, &n);
    ck_assert_msg(n == sizeof prev && !memcmp(now, prev, n),
                  "allocation %ld: the previous file changed", k);
    free(now);
    int entries = dir_entries(dir, first, sizeof first);
    ck_assert_msg(entries == 1, "allocation %ld: %d files (first: %s)", k, entries, first);
    INC_CK(ctx, inc_layer_export_onnx(net, fresh_path));
    now = slurp(fresh_path, &n);
    ck_assert_msg(n == ref_n && !memcmp(now, ref, n), "allocation %ld: the export made again "
                  "differs", k);
    free(now);
    unlink(fresh_path);
    if (k % LEAK_WINDOW == 0 || k == allocs)
      ck_assert_msg(!LEAKED(), "leak with k in %ld..%ld", k - (k - 1) % LEAK_WINDOW, k);
  }

  /* writes: INC_ERR_IO naming the file, the previous file intact */
  long writes = 0;
  for (long w = 1; w < 1000; w++) {
    inc__fault_arm_io(w);
    inc_status s = inc_layer_export_onnx(wide, path);
    inc__fault_arm_io(0);
    if (s == INC_OK) {
      writes = w - 1;
      break;
    }
    ck_assert_msg(s == INC_ERR_IO, "write %ld failing: %s", w, inc_status_string(s));
    ck_assert_msg(strstr(inc_context_last_error(ctx), path) != NULL,
                  "write %ld: message does not name the file: %s", w,
                  inc_context_last_error(ctx));
    size_t n;
    unsigned char *now = slurp(path, &n);
    ck_assert_msg(n == sizeof prev && !memcmp(now, prev, n), "write %ld: the previous file "
                  "changed", w);
    free(now);
    ck_assert_int_eq(dir_entries(dir, first, sizeof first), 1);
  }
  ck_assert_msg(writes >= 4, "the export made only %ld writes", writes);
  /* no previous file: a failed export leaves nothing at all */
  long w = 1;
  for (;; w++) {
    inc__fault_arm_io(w);
    inc_status s = inc_layer_export_onnx(wide, fresh_path);
    inc__fault_arm_io(0);
    if (s == INC_OK) break;
    ck_assert_int_eq(s, INC_ERR_IO);
    ck_assert_msg(access(fresh_path, F_OK) != 0, "write %ld: a partial file was left", w);
    ck_assert_int_eq(dir_entries(dir, NULL, 0), 1);
  }
  ck_assert_int_eq(w, writes + 1);
  ck_assert_int_eq(dir_entries(dir, NULL, 0), 2);
  printf("faults: an ONNX export makes %ld allocations (small net) and %ld writes (1.2 MB); "
         "each failing leaves the previous file and nothing else\n", allocs, writes);
  free(ref);
  inc_layer_destroy(net);
  inc_layer_destroy(wide);
  inc_context_destroy(ctx);
  remove_dir(dir);
}
END_TEST

/* Parameters, buffers and momentum of a net, in that order. */
static blob state_of(inc_optimizer *o, const inc_layer *net)
{
  blob b = params_of(net), m = momentum_of(o, net);
  for (int i = 0; i < inc_layer_buffer_count(net); i++) {
    inc_tensor *t;
    ck_assert_int_eq(inc_layer_buffer(net, i, NULL, &t), INC_OK);
    blob_add(&b, t);
  }
  b.v = (float *)realloc(b.v, (size_t)(b.n + m.n + 1) * sizeof(float));
  memcpy(b.v + b.n, m.v, (size_t)m.n * sizeof(float));
  b.n += m.n;
  blob_free(&m);
  return b;
}

/* Sets every parameter's gradient, or every buffer, to v, v + 1, ... */
static void set_tensors(inc_layer *net, int buffers, float v)
{
  int n = buffers ? inc_layer_buffer_count(net) : inc_layer_param_count(net);
  for (int i = 0; i < n; i++) {
    inc_tensor *t;
    if (buffers)
      ck_assert_int_eq(inc_layer_buffer(net, i, NULL, &t), INC_OK);
    else
      ck_assert_int_eq(inc_layer_param(net, i, NULL, NULL, &t), INC_OK);
    int64_t m = inc_tensor_numel(t);
    float *h = (float *)malloc((size_t)m * sizeof(float));
    for (int64_t j = 0; j < m; j++) h[j] = v + (float)(i + j) * 0.25f;
    ck_assert_int_eq(inc_tensor_copy_from_host(t, h, m), INC_OK);
    free(h);
  }
}

/* One call of the buffer scenario: when it fails it must be the injected
 * allocation failure and leave `same` true; then it is made again. */
#define BTRY(ctx, call, same)                                                                  \
  do {                                                                                         \
    inc_status s_ = (call);                                                                    \
    if (s_ != INC_OK) {                                                                        \
      ck_assert_msg(s_ == INC_ERR_OUT_OF_MEMORY, "k=%ld: %s -> %s", k, #call,                \
                    inc_status_string(s_));                                                    \
      ck_assert_msg(inc_context_last_error(ctx)[0], "k=%ld: %s: no message", k, #call);      \
      ck_assert_msg(same, "k=%ld: a failed %s changed something", k, #call);                 \
      failed++;                                                                                \
      INC_CK(ctx, call);                                                                       \
    }                                                                                          \
  } while (0)

/* Runs the scenario with allocation k failing (0: none); returns the final
 * state of the loaded net and, for k = 0, the allocation count in *allocs. */
static blob buffer_scenario(long k, long *allocs, int *fails)
{
  char dir[256], path[300];
  make_dir(dir, sizeof dir, "bufs");
  snprintf(path, sizeof path, "%s/ck.safetensors", dir);
  inc_context *ctx = tu_cpu();
  inc_layer *a = probe_net(ctx), *b = probe_net(ctx);
  inc_optimizer *oa, *ob;
  INC_CK(ctx, inc_sgd_create(ctx, 0.1f, 0.9f, 0.01f, &oa));
  INC_CK(ctx, inc_sgd_create(ctx, 0.5f, 0.9f, 0.01f, &ob));
  int64_t xd[4] = {2, 1, 5, 5};
  int on, failed = 0;
  int64_t od[INC_MAX_DIMS];
  uint64_t stream = ctx->rng_stream;
  inc__fault_arm(k);
  BTRY(ctx, inc_layer_infer_shape(a, 4, xd, &on, od),
       !inc_layer_is_bound(a) && !inc_layer_buffer_count(a) && !inc_layer_param_count(a) &&
           ctx->rng_stream == stream);
  set_tensors(a, 1, 3.0f);
  set_tensors(a, 0, 0.5f);
  blob before = state_of(oa, a), after = {NULL, 0};
  BTRY(ctx, inc_optimizer_step(oa, a),
       (after = state_of(oa, a), before.n == after.n &&
        !memcmp(before.v, after.v, (size_t)before.n * sizeof(float))));
  blob_free(&before);
  BTRY(ctx, inc_checkpoint_save(a, oa, 0, NULL, NULL, path), dir_entries(dir, NULL, 0) == 0);
  stream = ctx->rng_stream;
  BTRY(ctx, inc_checkpoint_load(b, ob, path),
       !inc_layer_is_bound(b) && !inc_layer_buffer_count(b) && ob->n == 0 &&
           ctx->rng_stream == stream);
  set_tensors(b, 1, -7.0f);
  before = state_of(ob, b);
  BTRY(ctx, inc_checkpoint_load(b, ob, path),
       (blob_free(&after), after = state_of(ob, b), before.n == after.n &&
        !memcmp(before.v, after.v, (size_t)before.n * sizeof(float))));
  if (allocs) *allocs = inc__fault_count();
  inc__fault_arm(0);
  blob_free(&before);
  blob_free(&after);
  blob end = state_of(ob, b);
  *fails = failed;
  inc_optimizer_destroy(oa);
  inc_optimizer_destroy(ob);
  inc_layer_destroy(a);
  inc_layer_destroy(b);
  inc_context_destroy(ctx);
  remove_dir(dir);
  return end;
}

START_TEST(test_buffer_failures)
{
  long n = 0;
  int fails;
  blob ref = buffer_scenario(0, &n, &fails);
  ck_assert_int_eq(fails, 0);
  ck_assert_int_gt(n, 20);
  ck_assert_int_gt(ref.n, 0);
  long hit = 0;
  for (long k = 1; k <= n; k++) {
    blob got = buffer_scenario(k, NULL, &fails);
    hit += fails;
    ck_assert_msg(got.n == ref.n && !memcmp(got.v, ref.v, (size_t)ref.n * sizeof(float)),
                  "k=%ld: the end state differs from the run without failure", k);
    blob_free(&got);
    if (k % LEAK_WINDOW == 0 || k == n)
      ck_assert_msg(!LEAKED(), "leak with k in %ld..%ld", k - (k - 1) % LEAK_WINDOW, k);
  }
  printf("faults: the buffer scenario makes %ld allocations; %ld of them failing made a call "
         "fail, which changed nothing\n", n, hit);
  blob_free(&ref);
}
END_TEST

/* ---- the data-parallel hooks' gradient buckets ---- */

static inc_status count_ready(void *user, int bucket, float *grad, int64_t count, void *stream)
{
  (*(int *)user)++;
  return INC_OK;
}

/* The gradients of a net: their values (blob) and where they lie (a hash of
 * their data pointers: a failed layout build must not move them). */
static blob grads_of(const inc_layer *l, uint64_t *where)
{
  blob b = {NULL, 0};
  *where = 0xcbf29ce484222325ULL;
  for (int i = 0; i < inc_layer_param_count(l); i++) {
    inc_tensor *g;
    ck_assert_int_eq(inc_layer_param(l, i, NULL, NULL, &g), INC_OK);
    blob_add(&b, g);
    *where = (*where ^ (uint64_t)(uintptr_t)g->data) * 0x100000001b3ULL;
  }
  return b;
}

static int grads_kept(const inc_layer *l, const blob *before, uint64_t where)
{
  uint64_t w;
  blob now = grads_of(l, &w);
  int same = (!where || w == where) && blob_eq(&now, before);
  blob_free(&now);
  return same;
}

/* The hook's scenario with allocation k failing (0: none): set a hook, a
 * training forward (builds the layout), backward, a new bucket_bytes (the
 * next backward builds again), an SGD step, an unbind and a binding to
 * other channels (the forward builds again), the hook removed (the
 * gradients take their own memory back). A call failing on the injected
 * allocation changes nothing: no hook set, the gradients' values kept and,
 * where building the layout is the first thing a call does (a backward,
 * the removal), their places too (a forward that built the layout and then
 * failed to allocate its arena keeps the new layout: where a gradient lies
 * is not observable), no ready called. Returns the end state (parameters,
 * then gradients). */
static blob hook_scenario(long k, long *allocs, int *fails)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = small_net(ctx);
  inc_optimizer *o;
  INC_CK(ctx, inc_sgd_create(ctx, 0.1f, 0.9f, 0.0f, &o));
  int64_t x3d[4] = {2, 3, 8, 8};
  float h[2 * 3 * 8 * 8];
  tu_fill(h, 2 * 3 * 8 * 8, 4, -1, 1);
  inc_tensor *x = tu_tensor(ctx, 4, XD, h), *x3 = tu_tensor(ctx, 4, x3d, h);
  inc_tensor *dl = tu_tensor(ctx, 2, LD, NULL);
  int64_t od[INC_MAX_DIMS];
  int on, failed = 0, readies = 0, before_calls;
  INC_CK(ctx, inc_layer_infer_shape(net, 4, XD, &on, od));
  inc_grad_hook gh;
  memset(&gh, 0, sizeof gh);
  gh.size = sizeof gh;
  gh.bucket_bytes = 64;
  gh.ready = count_ready;
  gh.user = &readies;
  const inc_tensor *y, *dx;
  float loss;
  uint64_t where;
  blob g;
  inc__fault_arm(k);
  BTRY(ctx, inc_layer_set_grad_hook(net, &gh), inc_layer_grad_bucket_count(net) == 0);
  set_tensors(net, 0, 0.5f);
  g = grads_of(net, &where);
  BTRY(ctx, inc_layer_forward(net, x, 1, &y), grads_kept(net, &g, 0));
  blob_free(&g);
  BTRY(ctx, inc_softmax_cross_entropy(ctx, y, LABELS, &loss, dl, NULL), 1);
  before_calls = readies;
  BTRY(ctx, inc_layer_backward(net, dl, &dx), readies == before_calls);
  ck_assert_int_eq(readies, inc_layer_grad_bucket_count(net));
  gh.bucket_bytes = 256;
  BTRY(ctx, inc_layer_set_grad_hook(net, &gh), 1);
  g = grads_of(net, &where);
  before_calls = readies;
  BTRY(ctx, inc_layer_backward(net, dl, NULL), readies == before_calls && grads_kept(net, &g, where));
  blob_free(&g);
  BTRY(ctx, inc_optimizer_step(o, net), 1);
  INC_CK(ctx, inc_layer_unbind(net));
  BTRY(ctx, inc_layer_infer_shape(net, 4, x3d, &on, od), !inc_layer_is_bound(net));
  set_tensors(net, 0, -2.0f);
  g = grads_of(net, &where);
  BTRY(ctx, inc_layer_forward(net, x3, 1, &y), grads_kept(net, &g, 0));
  blob_free(&g);
  BTRY(ctx, inc_softmax_cross_entropy(ctx, y, LABELS, &loss, dl, NULL), 1);
  BTRY(ctx, inc_layer_backward(net, dl, &dx), 1);
  int nb = inc_layer_grad_bucket_count(net);
  g = grads_of(net, &where);
  BTRY(ctx, inc_layer_set_grad_hook(net, NULL),
       inc_layer_grad_bucket_count(net) == nb && grads_kept(net, &g, where));
  blob_free(&g);
  if (allocs) *allocs = inc__fault_count();
  inc__fault_arm(0);
  ck_assert_int_eq(inc_layer_grad_bucket_count(net), 0);
  blob end = params_of(net);
  g = grads_of(net, &where);
  end.v = (float *)realloc(end.v, (size_t)(end.n + g.n + 1) * sizeof(float));
  memcpy(end.v + end.n, g.v, (size_t)g.n * sizeof(float));
  end.n += g.n;
  blob_free(&g);
  *fails = failed;
  inc_tensor_destroy(x);
  inc_tensor_destroy(x3);
  inc_tensor_destroy(dl);
  inc_optimizer_destroy(o);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
  return end;
}

START_TEST(test_grad_hook_failures)
{
  long n = 0;
  int fails;
  blob ref = hook_scenario(0, &n, &fails);
  ck_assert_int_eq(fails, 0);
  ck_assert_int_gt(n, 20);
  long hit = 0;
  for (long k = 1; k <= n; k++) {
    blob got = hook_scenario(k, NULL, &fails);
    hit += fails;
    ck_assert_msg(got.n == ref.n && !memcmp(got.v, ref.v, (size_t)ref.n * sizeof(float)),
                  "k=%ld: the end state differs from the run without failure", k);
    blob_free(&got);
    if (k % LEAK_WINDOW == 0 || k == n)
      ck_assert_msg(!LEAKED(), "leak with k in %ld..%ld", k - (k - 1) % LEAK_WINDOW, k);
  }
  printf("faults: the gradient-hook scenario makes %ld allocations; %ld of them failing made a "
         "call fail, which changed nothing\n", n, hit);
  blob_free(&ref);
}
END_TEST

#else /* !INC_FAULT_INJECTION */

/* In a build without the hooks they must be inert: arming fails nothing. */
START_TEST(test_hooks_inert)
{
  inc__fault_arm(1);
  inc__fault_arm_io(1);
  inc_context *ctx = NULL;
  ck_assert_int_eq(inc_context_create(INC_BACKEND_CPU, &ctx), INC_OK);
  ck_assert_int_eq(inc__fault_count(), 0);
  inc_context_destroy(ctx);
  inc__fault_arm(0);
  inc__fault_arm_io(0);
}
END_TEST

#endif

Suite *inc_test_suite_faults(void)
{
  Suite *s = suite_create("faults");
#ifdef INC_FAULT_INJECTION
  /* four cases, so that `make check-faults` can run each in its own
   * process (one crash does not hide the others) */
  TCase *tc = tcase_create("alloc");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_alloc_failures);
  tcase_add_test(tc, test_buffer_failures);
  tcase_add_test(tc, test_grad_hook_failures);
  suite_add_tcase(s, tc);
  tc = tcase_create("googlenet");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_googlenet_build_failures);
  suite_add_tcase(s, tc);
  tc = tcase_create("writes");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_write_failures);
  suite_add_tcase(s, tc);
  tc = tcase_create("onnx");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_export_failures);
#else
  printf("faults: allocation- and write-failure cases skipped: they need the hooks of the "
         "build/faults runner (make check-faults)\n");
  TCase *tc = tcase_create("hooks_inert");
  tcase_add_test(tc, test_hooks_inert);
#endif
  suite_add_tcase(s, tc);
  return s;
}
