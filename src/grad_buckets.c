/*
 * grad_buckets.c — the data-parallel hooks: gradient buckets and the
 * callbacks that hand them to an outside communicator during backward
 * (inc_layer_set_grad_hook; PyTorch DistributedDataParallel's design).
 *
 * Why buckets: a communicator reduces gradients across processes; one
 * all-reduce per parameter costs a launch and a latency each, one over all
 * gradients can only start when backward has ended. So the parameters of
 * the hooked subtree, taken in reverse order (backward's order), are packed
 * into buckets of about bucket_bytes, each one backend allocation, and
 * every parameter's gradient tensor becomes a view of its bucket: the layer
 * steps write their gradients there, a bucket is handed to `ready` as soon
 * as its last gradient is written, and what the communicator leaves in it
 * is what the optimizer reads. `finish` ends each backward.
 *
 * The layout is a pure function of the subtree's parameters (their order
 * and sizes) and bucket_bytes: one walk (walk_params) assigns every
 * parameter its bucket and offset, and the queries, the build and the
 * moves all walk it. It is built before a training forward or a backward
 * of the hooked layer, and built again when the plan signature of the
 * subtree (which covers its parameters' identities), bucket_bytes, or the
 * owner of a gradient (another hooked layer took it) changed. A build
 * allocates and fills everything new before it moves anything, so a
 * failure changes nothing.
 *
 * During a backward each bucket counts the gradients still to compute:
 * the parameters of the backward steps that will run (a step without dx
 * that only fed the caller's dx is skipped, but a layer with parameters
 * never is); a bucket that no step writes is final from the start.
 */
#include <string.h>
#include "grad_buckets.h"

typedef struct grad_bucket {
  float *mem;      /* (count) the gradients of its parameters, backend memory */
  int64_t count;   /* floats */
  int first;       /* index (inc_layer_param order) of its first parameter, the highest */
  int nparams;
  int pending;     /* during a backward: gradients of it still to compute */
} grad_bucket;

struct inc__grad_hooks {
  inc_grad_hook cfg;   /* the caller's hook, as set */
  int built;           /* a layout is in place: b, nbuckets, sig, bytes */
  uint64_t sig;        /* inc__plan_signature of the layer when it was built */
  int64_t bytes;       /* the bucket_bytes it was built with */
  int nbuckets;
  grad_bucket *b;           /* (nbuckets) */
  int active;          /* inside inc__grad_hook_backward */
  void *stream;        /* the backend's stream for the callbacks of this backward */
};

static int64_t target_bytes(const inc__grad_hooks *h)
{
  return h->cfg.bucket_bytes ? h->cfg.bucket_bytes : (int64_t)INC_GRAD_BUCKET_DEFAULT_BYTES;
}

/* ---- the layout: one walk over the parameters ---- */

/* A walk over the parameters of a subtree in reverse inc_layer_param
 * order, packing them greedily into buckets of at most cap floats (a
 * larger parameter gets a bucket of its own; none is split): visit sees
 * each parameter with its index, its bucket and its offset there (fill). */
typedef struct walk {
  int64_t cap;   /* floats a bucket may hold */
  int index;     /* the parameter's index in inc_layer_param order */
  int bucket;    /* the bucket being filled; -1 before the first */
  int64_t fill;  /* floats in it before this parameter */
  void (*visit)(struct walk *w, inc__param *p);
  void *arg;
} walk;

static void walk_params(const inc_layer *l, walk *w)
{
  for (int c = l->nchildren - 1; c >= 0; c--) walk_params(l->children[c], w);
  for (int i = l->nparams - 1; i >= 0; i--) {
    inc__param *p = (inc__param *)&l->params[i];
    int64_t n = p->value->numel;
    if (w->bucket < 0 || w->fill + n > w->cap) {
      w->bucket++;
      w->fill = 0;
    }
    w->index--;
    if (w->visit) w->visit(w, p);
    w->fill += n;
  }
}

/* Walks l's parameters for bucket_bytes `bytes`; returns the bucket count. */
static int walk_layout(const inc_layer *l, int64_t bytes, void (*visit)(walk *, inc__param *),
                       void *arg)
{
  walk w = {bytes / (int64_t)sizeof(float), inc_layer_param_count(l), -1, 0, visit, arg};
  walk_params(l, &w);
  return w.bucket + 1;
}

/* Sums the buckets' counts and parameters: into b[bucket] for every
 * bucket (want -1), or into b[0] for bucket `want` only. */
typedef struct tally {
  int want;
  grad_bucket *b;
} tally;

static void tally_param(walk *w, inc__param *p)
{
  tally *t = (tally *)w->arg;
  if (t->want >= 0 && w->bucket != t->want) return;
  grad_bucket *b = &t->b[t->want >= 0 ? 0 : w->bucket];
  if (!b->nparams++) b->first = w->index;
  b->count += p->value->numel;
}

/* ---- building: allocate and copy, then move ---- */

typedef struct move {
  inc__grad_hooks *h;
  grad_bucket *b;        /* the new buckets */
  inc_status s;     /* the first failure of a copy */
  int owned;        /* owns_all: every gradient lies in h's buckets */
} move;

/* Copies a gradient to its place in the new buckets. */
static void copy_param(walk *w, inc__param *p)
{
  move *m = (move *)w->arg;
  inc_context *ctx = p->grad->ctx;
  if (m->s == INC_OK)
    m->s = ctx->ops->copy(m->b[w->bucket].mem + w->fill, p->grad->data,
                          (size_t)p->grad->numel * sizeof(float), ctx);
}

/* Makes a gradient a view of its new bucket, freeing the memory it owned
 * (memory of another hook's bucket stays that hook's). */
static void move_param(walk *w, inc__param *p)
{
  move *m = (move *)w->arg;
  inc_context *ctx = p->grad->ctx;
  if (!p->in_bucket) ctx->ops->free(p->grad->data, ctx);
  p->grad->data = m->b[w->bucket].mem + w->fill;
  p->in_bucket = m->h;
  p->bucket = w->bucket;
}

static void owned_param(walk *w, inc__param *p)
{
  move *m = (move *)w->arg;
  if (p->in_bucket != m->h) m->owned = 0;
}

static void free_buckets(inc_context *ctx, grad_bucket *b, int n)
{
  for (int i = 0; b && i < n; i++) ctx->ops->free(b[i].mem, ctx);
  inc__free(b);
}

/* A backend failure while building or taking back: the message says so. */
static inc_status bucket_error(const inc_layer *l, inc_status s)
{
  char why[INC__ERR_CAP];
  memcpy(why, l->ctx->err, sizeof why);
  return inc__layer_error(l, s, "gradient buckets: %s", why);
}

static inc_status build(inc_layer *l, inc__grad_hooks *h, int64_t bytes, uint64_t sig)
{
  inc_context *ctx = l->ctx;
  int nb = walk_layout(l, bytes, NULL, NULL);
  grad_bucket *b = (grad_bucket *)inc__calloc((size_t)nb + 1, sizeof *b);
  if (!b) return inc__layer_error(l, INC_ERR_OUT_OF_MEMORY, "gradient buckets: out of host memory");
  tally t = {-1, b};
  walk_layout(l, bytes, tally_param, &t);
  inc_status s = INC_OK;
  for (int i = 0; s == INC_OK && i < nb; i++)
    s = ctx->ops->alloc((void **)&b[i].mem, (size_t)b[i].count * sizeof(float), ctx);
  move m = {h, b, INC_OK, 1};
  if (s == INC_OK) {
    walk_layout(l, bytes, copy_param, &m);
    s = m.s;
  }
  if (s != INC_OK) {
    free_buckets(ctx, b, nb);
    return bucket_error(l, s);
  }
  walk_layout(l, bytes, move_param, &m);
  free_buckets(ctx, h->b, h->nbuckets); /* nothing points there any more */
  h->b = b;
  h->nbuckets = nb;
  h->built = 1;
  h->sig = sig;
  h->bytes = bytes;
  return INC_OK;
}

inc_status inc__grad_buckets_ensure(inc_layer *l)
{
  inc__grad_hooks *h = l->grad_hook;
  int64_t bytes = target_bytes(h);
  uint64_t sig = inc__plan_signature(l);
  int same = h->built && h->sig == sig && h->bytes == bytes;
  move m = {h, NULL, INC_OK, 1};
  if (same) walk_layout(l, bytes, owned_param, &m); /* another hook may have taken some */
  return same && m.owned ? INC_OK : build(l, h, bytes, sig);
}

/* ---- taking the gradients back (the hook is removed) ---- */

typedef struct own {
  inc__grad_hooks *h;
  float **mem;    /* (n) the gradients' own memory, in walk order */
  int n;
  int phase;      /* OWN_COUNT, OWN_ALLOC (and copy), OWN_SWAP */
  inc_status s;
} own;
enum { OWN_COUNT, OWN_ALLOC, OWN_SWAP };

static void own_param(walk *w, inc__param *p)
{
  own *o = (own *)w->arg;
  inc_context *ctx = p->grad->ctx;
  size_t bytes = (size_t)p->grad->numel * sizeof(float);
  if (p->in_bucket != o->h) return;
  if (o->phase == OWN_ALLOC && o->s == INC_OK) {
    o->s = ctx->ops->alloc((void **)&o->mem[o->n], bytes, ctx);
    if (o->s == INC_OK) o->s = ctx->ops->copy(o->mem[o->n], p->grad->data, bytes, ctx);
  } else if (o->phase == OWN_SWAP) {
    p->grad->data = o->mem[o->n];
    p->in_bucket = NULL;
  }
  o->n++;
}

/* Gives every gradient lying in h's buckets memory of its own again, with
 * its values; on failure nothing changed. */
static inc_status take_back(inc_layer *l, inc__grad_hooks *h)
{
  inc_context *ctx = l->ctx;
  own o = {h, NULL, 0, OWN_COUNT, INC_OK};
  walk_layout(l, 0, own_param, &o);
  if (!o.n) return INC_OK;
  o.mem = (float **)inc__calloc((size_t)o.n, sizeof *o.mem);
  if (!o.mem) return inc__layer_error(l, INC_ERR_OUT_OF_MEMORY, "gradient hook: out of host memory");
  int n = o.n;
  o.n = 0;
  o.phase = OWN_ALLOC;
  walk_layout(l, 0, own_param, &o);
  if (o.s == INC_OK) {
    o.n = 0;
    o.phase = OWN_SWAP;
    walk_layout(l, 0, own_param, &o);
  } else {
    for (int i = 0; i < n; i++) ctx->ops->free(o.mem[i], ctx);
  }
  inc__free(o.mem);
  return o.s == INC_OK ? INC_OK : bucket_error(l, o.s);
}

/* ---- a backward with the callbacks ---- */

static inc_status ready(const inc_layer *l, inc__grad_hooks *h, int i)
{
  inc_status r = h->cfg.ready(h->cfg.user, i, h->b[i].mem, h->b[i].count, h->stream);
  if (r == INC_OK) return INC_OK;
  return inc__layer_error(l, r, "gradient hook: ready for bucket %d (of %d) returned %s", i,
                          h->nbuckets, inc_status_string(r));
}

/* What each bucket waits for: the parameters of the backward steps that
 * will run (want_dx 0 skips steps that only feed the caller's dx). */
static void count_pending(const inc__plan *p, inc__grad_hooks *h, int want_dx)
{
  for (int i = 0; i < h->nbuckets; i++) h->b[i].pending = 0;
  for (int i = 0; i < p->nbwd; i++) {
    const inc__step *st = &p->bwd[i];
    if (st->op != INC__STEP_BWD || (!want_dx && st->skip_no_dx)) continue;
    for (int k = 0; k < st->layer->nparams; k++)
      if (st->layer->params[k].in_bucket == h) h->b[st->layer->params[k].bucket].pending++;
  }
}

inc_status inc__grad_buckets_step(inc__plan *p, const inc__step *st)
{
  inc__grad_hooks *h = p->root->grad_hook;
  if (!h->active || st->op != INC__STEP_BWD) return INC_OK;
  const inc_layer *l = st->layer;
  inc_status s = INC_OK;
  /* in reverse: a layer's later parameters lie in the earlier buckets */
  for (int k = l->nparams - 1; s == INC_OK && k >= 0; k--) {
    const inc__param *q = &l->params[k];
    if (q->in_bucket == h && --h->b[q->bucket].pending == 0) s = ready(p->root, h, q->bucket);
  }
  return s;
}

inc_status inc__grad_hook_backward(inc__plan *p, const inc_tensor *dy, int want_dx)
{
  inc_layer *l = p->root;
  inc__grad_hooks *h = l->grad_hook;
  inc_status s = inc__grad_buckets_ensure(l);
  if (s == INC_OK) s = l->ctx->ops->native_stream(&h->stream, l->ctx);
  if (s != INC_OK) return s; /* refused before it ran: no callback */
  count_pending(p, h, want_dx);
  h->active = 1;
  for (int i = 0; s == INC_OK && i < h->nbuckets; i++)
    if (!h->b[i].pending) s = ready(l, h, i); /* no step writes it: final now */
  if (s == INC_OK) s = inc__plan_backward(p, dy, want_dx);
  h->active = 0;
  inc_status r = h->cfg.finish ? h->cfg.finish(h->cfg.user, s, h->stream) : INC_OK;
  if (s != INC_OK || r == INC_OK) return s;
  return inc__layer_error(l, r, "gradient hook: finish returned %s", inc_status_string(r));
}

/* ---- life cycle ---- */

void inc__grad_buckets_drop(inc_layer *l)
{
  inc__grad_hooks *h = l->grad_hook;
  if (!h) return;
  free_buckets(l->ctx, h->b, h->nbuckets);
  h->b = NULL;
  h->nbuckets = 0;
  h->built = 0;
}

void inc__grad_hook_free(inc_layer *l)
{
  inc__grad_buckets_drop(l);
  inc__free(l->grad_hook);
  l->grad_hook = NULL;
}

/* ---- the public calls ---- */

INC_API inc_status inc_layer_set_grad_hook(inc_layer *layer, const inc_grad_hook *hook)
{
  if (!layer) return INC_ERR_INVALID_ARGUMENT;
  inc_status s = inc__begin(layer->ctx);
  if (s != INC_OK) return s;
  if (!hook) { /* remove */
    if (!layer->grad_hook || (s = take_back(layer, layer->grad_hook)) != INC_OK) return s;
    inc__grad_hook_free(layer);
    return INC_OK;
  }
  inc_grad_hook cfg;
  s = inc__desc_read(layer->ctx, "inc_layer_set_grad_hook", "inc_grad_hook", hook, hook->size,
                     sizeof cfg, &cfg, sizeof cfg);
  if (s != INC_OK) return s;
  if (!cfg.ready)
    return inc__layer_error(layer, INC_ERR_INVALID_ARGUMENT,
                            "inc_layer_set_grad_hook: hook->ready is NULL");
  if (cfg.bucket_bytes < 0)
    return inc__layer_error(layer, INC_ERR_INVALID_ARGUMENT,
                            "inc_layer_set_grad_hook: hook->bucket_bytes is %lld (must be >= 0)",
                            (long long)cfg.bucket_bytes);
  if (!layer->grad_hook) {
    layer->grad_hook = (inc__grad_hooks *)inc__calloc(1, sizeof *layer->grad_hook);
    if (!layer->grad_hook)
      return inc__layer_error(layer, INC_ERR_OUT_OF_MEMORY, "gradient hook: out of host memory");
  }
  cfg.size = sizeof cfg;
  layer->grad_hook->cfg = cfg; /* a new bucket_bytes: the next run builds the layout again */
  return INC_OK;
}

INC_API int inc_layer_grad_bucket_count(const inc_layer *layer)
{
  if (!layer || !layer->grad_hook || !inc_layer_is_bound(layer)) return 0;
  return walk_layout(layer, target_bytes(layer->grad_hook), NULL, NULL);
}

INC_API inc_status inc_layer_grad_bucket(const inc_layer *layer, int bucket, int64_t *count,
                                         int *first_param, int *nparams)
{
  if (!layer) return INC_ERR_INVALID_ARGUMENT;
  inc__begin(layer->ctx);
  int n = inc_layer_grad_bucket_count(layer);
  if (!n)
    return inc__layer_error(layer, INC_ERR_INVALID_ARGUMENT,
                            "gradient bucket %d: the layer has none (%s)", bucket,
                            !layer->grad_hook       ? "no gradient hook is set"
                            : !inc_layer_is_bound(layer) ? "it is not bound"
                                                         : "it has no parameters");
  if (bucket < 0 || bucket >= n)
    return inc__layer_error(layer, INC_ERR_INVALID_ARGUMENT,
                            "gradient bucket %d outside 0..%d", bucket, n - 1);
  grad_bucket one = {NULL, 0, 0, 0, 0};
  tally t = {bucket, &one};
  walk_layout(layer, target_bytes(layer->grad_hook), tally_param, &t);
  if (count) *count = one.count;
  if (first_param) *first_param = one.first;
  if (nparams) *nparams = one.nparams;
  return INC_OK;
}
