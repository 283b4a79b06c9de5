/*
 * plan.c — building the execution plan of a layer tree (see plan.h): the
 * emission walk, the rewrite rules (fusion, layouts, concat views, the
 * steps a backward without dx skips) and the memory plan that gives every
 * value an arena offset by lifetime.
 *
 * Running the plan is src/plan_run.c; what each kind's steps do is in its
 * src/layers/<kind>.c.
 */
#include <stdlib.h>
#include <string.h>
#include "plan.h"

#define ALIGN 256 /* arena offsets: a cache line on the CPU, cudaMalloc's on a GPU */

void inc__plan_free(inc__plan *p)
{
  if (!p) return;
  inc__free(p->vals);
  inc__free(p->fwd);
  inc__free(p->bwd);
  inc__free(p->ins);
  inc__free(p);
}

/* Grows *arr (of *cap elements of size each) to hold n; 0 or -1. */
static int grow(void **arr, int *cap, int n, size_t size)
{
  if (n <= *cap) return 0;
  int c = *cap ? *cap * 2 : 64;
  while (c < n) c *= 2;
  void *q = inc__realloc(*arr, (size_t)c * size);
  if (!q) return -1;
  *arr = q;
  *cap = c;
  return 0;
}

static int oom(inc__plan *p)
{
  inc__error(p->ctx, INC_ERR_OUT_OF_MEMORY, "execution plan: out of host memory");
  return -1;
}

static int new_value(inc__plan *p)
{
  if (grow((void **)&p->vals, &p->cap_vals, p->nvals + 1, sizeof *p->vals)) return oom(p);
  inc__val *v = &p->vals[p->nvals];
  memset(v, 0, sizeof *v);
  v->base = -1;
  v->first = -1;
  v->last = -1;
  v->t.ctx = p->ctx;
  v->t.owner_is_layer = 1;
  return p->nvals++;
}

int inc__plan_value(inc__plan *p, const inc__shape *s, int cnhw)
{
  int i = new_value(p);
  if (i < 0) return -1;
  inc_tensor *t = &p->vals[i].t;
  t->ndim = s->ndim;
  t->numel = 1;
  for (int j = 0; j < s->ndim; j++) {
    t->dims[j] = s->d[j];
    t->numel *= s->d[j];
  }
  t->capacity = t->numel;
  t->cnhw = cnhw;
  p->vals[i].bytes = (size_t)t->numel * sizeof(float);
  return i;
}

int inc__plan_like(inc__plan *p, int v)
{
  inc__shape s; /* read first: adding a value moves the values */
  inc__shape_of(inc__pv(p, v), &s);
  int cnhw = inc__pv(p, v)->cnhw;
  return inc__plan_value(p, &s, cnhw);
}

int inc__plan_scratch(inc__plan *p, int64_t count)
{
  inc__shape s = {1, {count}};
  return inc__plan_value(p, &s, 0);
}

void inc__plan_make_view(inc__plan *p, int v, int base, int64_t off)
{
  p->vals[v].base = base;
  p->vals[v].off = off;
}

int inc__plan_view(inc__plan *p, int base, int64_t off, const inc__shape *s, int cnhw)
{
  int v = inc__plan_value(p, s, cnhw);
  if (v >= 0) inc__plan_make_view(p, v, base, off);
  return v;
}

int inc__plan_add_inputs(inc__plan *p, const int *v, int n)
{
  if (grow((void **)&p->ins, &p->cap_ins, p->nins + n, sizeof *p->ins)) return oom(p);
  memcpy(p->ins + p->nins, v, (size_t)n * sizeof *v);
  p->nins += n;
  return p->nins - n;
}

int inc__plan_step(inc__plan *p, const inc__step *st)
{
  inc__step **list = p->building_bwd ? &p->bwd : &p->fwd;
  int *n = p->building_bwd ? &p->nbwd : &p->nfwd, *cap = p->building_bwd ? &p->cap_bwd : &p->cap_fwd;
  if (grow((void **)list, cap, *n + 1, sizeof **list)) return oom(p);
  (*list)[*n] = *st;
  return (*n)++;
}

void inc__plan_step_init(inc__step *st, int op, inc_layer *l)
{
  memset(st, 0, sizeof *st);
  st->op = op;
  st->layer = l;
  st->fwd = st->x = st->y = st->dy = st->dx = st->fold = -1;
  for (int i = 0; i < INC__STEP_AUX; i++) st->aux[i] = -1;
  st->alpha = 1.0f;
}

int inc__plan_move(inc__plan *p, int op, int y, int x, int64_t d0, int64_t d1, int64_t d2,
                   int64_t d3, int64_t d4)
{
  inc__step st;
  inc__plan_step_init(&st, op, NULL);
  st.x = x;
  st.y = y;
  st.dim[0] = d0;
  st.dim[1] = d1;
  st.dim[2] = d2;
  st.dim[3] = d3;
  st.dim[4] = d4;
  return inc__plan_step(p, &st);
}

/* ---- emission ---- */

/* A leaf: one forward step from x to a new value of its output shape. */
static inc_status emit_leaf(inc_layer *l, inc__plan *p, int x, int *y)
{
  inc__shape in, out;
  inc__shape_of(inc__pv(p, x), &in);
  inc_status s = l->vt->infer(l, &in, &out, 0);
  if (s != INC_OK) return s;
  inc__step st;
  inc__plan_step_init(&st, INC__STEP_FWD, l);
  st.x = x;
  if ((st.y = inc__plan_value(p, &out, 0)) < 0 || inc__plan_step(p, &st) < 0)
    return INC_ERR_OUT_OF_MEMORY;
  *y = st.y;
  return INC_OK;
}

inc_status inc__plan_emit(inc_layer *l, inc__plan *p, int x, int *y)
{
  return l->vt->emit ? l->vt->emit(l, p, x, y) : emit_leaf(l, p, x, y);
}

inc_status inc__plan_emit_branches(inc_layer *l, inc__plan *p, int x, int sum_channels, int *y)
{
  int *outs = (int *)inc__malloc((size_t)l->nchildren * sizeof *outs);
  if (!outs) return inc__layer_error(l, INC_ERR_OUT_OF_MEMORY, "out of host memory");
  inc_status s = INC_OK;
  inc__shape os;
  for (int i = 0; s == INC_OK && i < l->nchildren; i++) {
    s = inc__plan_emit(l->children[i], p, x, &outs[i]);
    if (s != INC_OK) break;
    const inc_tensor *b = inc__pv(p, outs[i]);
    if (i == 0) inc__shape_of(b, &os);
    else if (sum_channels) os.d[1] += b->dims[1];
  }
  inc__step st;
  inc__plan_step_init(&st, INC__STEP_FWD, l);
  st.x = x;
  st.nin = l->nchildren;
  if (s == INC_OK && ((st.in = inc__plan_add_inputs(p, outs, st.nin)) < 0 ||
                      (st.y = inc__plan_value(p, &os, 0)) < 0 || inc__plan_step(p, &st) < 0))
    s = INC_ERR_OUT_OF_MEMORY;
  inc__free(outs);
  if (s == INC_OK) *y = st.y;
  return s;
}

int inc__plan_fwd_step(const inc__plan *p, const inc_layer *l)
{
  for (int i = 0; i < p->nfwd; i++)
    if (p->fwd[i].layer == l && p->fwd[i].op == INC__STEP_FWD) return i;
  return -1;
}

inc_status inc__plan_emit_bwd(inc_layer *l, inc__plan *p, int dy, const inc__sink *sink, int *dx)
{
  if (l->vt->emit_bwd) return l->vt->emit_bwd(l, p, dy, sink, dx);
  inc__step st;
  inc__plan_step_init(&st, INC__STEP_BWD, l);
  st.fwd = inc__plan_fwd_step(p, l);
  st.dy = dy;
  inc_status s = l->vt->plan_bwd(p, &st, sink);
  if (s != INC_OK) return s;
  if (inc__plan_step(p, &st) < 0) return INC_ERR_OUT_OF_MEMORY;
  *dx = st.dx;
  return INC_OK;
}

/* ---- rewrite rules over the forward list ---- */

/* Steps reading value v: inputs of forward steps (x, or the list of a
 * multi-input step). */
static int reads(const inc__plan *p, const inc__step *st, int v)
{
  if (st->op != INC__STEP_FWD) return st->x == v;
  if (st->x == v) return 1;
  for (int i = 0; i < st->nin; i++)
    if (p->ins[st->in + i] == v) return 1;
  return 0;
}

int inc__plan_readers_all(const inc__plan *p, int v,
                          int (*pred)(const inc__plan *, const inc__step *))
{
  int n = 0;
  if (v == p->y) return 0; /* the caller reads the tree's output */
  for (int i = 0; i < p->nfwd; i++) {
    const inc__step *st = &p->fwd[i];
    if (!reads(p, st, v)) continue;
    if (st->pass) continue; /* a fused ReLU: its output is v, whose readers count */
    if (!pred(p, st)) return 0;
    n++;
  }
  return n > 0;
}

static void rename_value(inc__plan *p, int from, int to)
{
  for (int i = 0; i < p->nfwd; i++) {
    inc__step *st = &p->fwd[i];
    if (st->x == from) st->x = to;
    if (st->y == from) st->y = to;
  }
  for (int i = 0; i < p->nins; i++)
    if (p->ins[i] == from) p->ins[i] = to;
  if (p->y == from) p->y = to;
}

int inc__plan_pass(inc__plan *p, inc__step *st)
{
  if (st->x == p->x && st->y == p->y) return 0;
  st->pass = 1;
  rename_value(p, st->y, st->x);
  return 1;
}

void inc__plan_take_random(inc__plan *p, inc__step *st) { st->flags = p->nrandom++; }

/* Fusion: a step whose output only an epilogue kind (a ReLU) reads, and
 * whose kind says it applies that epilogue in its own output pass (conv2d),
 * takes it on (st->relu); the epilogue's step then passes that value on,
 * and its backward still masks with it. An evaluation batch norm after a
 * convolution folds into its weights (st->fold, inference plans only),
 * before any ReLU: conv -> batch norm -> ReLU becomes one step. */
static void fuse_epilogues(inc__plan *p)
{
  for (int i = 0; i < p->nfwd; i++) {
    inc__step *r = &p->fwd[i];
    if (r->op != INC__STEP_FWD || !r->layer->vt->epilogue || r->x == p->x) continue;
    int epi = r->layer->vt->epilogue;
    if (epi == INC__EPI_BN && p->training) continue;
    int prod = -1, readers = 0;
    for (int j = 0; j < p->nfwd; j++) {
      if (p->fwd[j].op == INC__STEP_FWD && !p->fwd[j].pass && p->fwd[j].y == r->x) prod = j;
      if (!p->fwd[j].pass && reads(p, &p->fwd[j], r->x)) readers++; /* fused: not a reader */
    }
    if (prod < 0 || readers != 1 || p->fwd[prod].relu ||
        (epi == INC__EPI_BN && p->fwd[prod].fold >= 0) ||
        !(p->fwd[prod].layer->vt->fuses & (unsigned)epi))
      continue;
    if (epi == INC__EPI_BN)
      p->fwd[prod].fold = i;
    else
      p->fwd[prod].relu = 1;
    inc__plan_pass(p, r); /* the epilogue's output is the producer's */
  }
}

/* ---- which backward steps only feed the caller's dx ---- */

static void mark(const inc__plan *p, char *need, int v)
{
  for (; v >= 0; v = p->vals[v].base) need[v] = 1;
}

/* Walks the backward list from its end with the caller's dx unwanted: a
 * step whose output nobody later needs is skipped (a layer with
 * parameters still runs for their gradients, without its dx). */
static inc_status mark_no_dx(inc__plan *p)
{
  char *need = (char *)inc__calloc((size_t)p->nvals + 1, 1);
  if (!need) {
    oom(p);
    return INC_ERR_OUT_OF_MEMORY;
  }
  for (int i = p->nbwd - 1; i >= 0; i--) {
    inc__step *st = &p->bwd[i];
    int out = st->op == INC__STEP_BWD ? st->dx : st->y;
    int out_needed = out >= 0 && need[out];
    for (int b = out; !out_needed && b >= 0; b = p->vals[b].base) out_needed = need[b];
    int params = st->op == INC__STEP_BWD && st->layer->nparams > 0;
    st->skip_no_dx = !out_needed && !params;
    st->dx_no_dx = !out_needed;
    if (st->skip_no_dx) continue;
    if (st->op == INC__STEP_BWD) {
      mark(p, need, st->dy);
      for (int k = 0; k < INC__STEP_AUX; k++)
        if (st->aux[k] >= 0) mark(p, need, st->aux[k]);
      if (out_needed && st->accum) mark(p, need, st->dx);
    } else {
      mark(p, need, st->x);
      if (st->op == INC__STEP_AXPY) mark(p, need, st->y);
    }
  }
  inc__free(need);
  return INC_OK;
}

/* ---- lifetimes and placement ---- */

static void use(inc__plan *p, int v, int pos)
{
  if (v < 0) return;
  for (; v >= 0; v = p->vals[v].base) {
    inc__val *a = &p->vals[v];
    if (a->first < 0 || pos < a->first) a->first = pos;
    if (pos > a->last) a->last = pos;
  }
}

static void use_step(inc__plan *p, const inc__step *st, int pos)
{
  use(p, st->x, pos);
  use(p, st->y, pos);
  use(p, st->dy, pos);
  use(p, st->dx, pos);
  for (int k = 0; k < INC__STEP_AUX; k++) use(p, st->aux[k], pos);
  for (int k = 0; k < st->nin; k++) use(p, p->ins[st->in + k], pos);
}

typedef struct sized {
  size_t bytes;
  int id;
} sized;

static int by_size(const void *a, const void *b)
{
  const sized *x = (const sized *)a, *y = (const sized *)b;
  if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
  return x->id - y->id;
}

static size_t align_up(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

/* Gives every placed value (not a view, not external, used) an arena
 * offset: largest first, each at the lowest offset where it overlaps no
 * value already placed whose lifetime overlaps its own. */
static inc_status place(inc__plan *p)
{
  int end = p->nfwd + p->nbwd;
  for (int i = 0; i < p->nfwd; i++) use_step(p, &p->fwd[i], i);
  for (int i = 0; i < p->nbwd; i++) use_step(p, &p->bwd[i], p->nfwd + i);
  use(p, p->out, end); /* what the caller gets outlives the plan's steps */
  use(p, p->y, p->training ? end : p->nfwd);
  if (p->dx >= 0) use(p, p->dx, end);
  sized *order = (sized *)inc__malloc((size_t)p->nvals * sizeof *order + 1);
  if (!order) {
    oom(p);
    return INC_ERR_OUT_OF_MEMORY;
  }
  int n = 0;
  for (int i = 0; i < p->nvals; i++) {
    inc__val *v = &p->vals[i];
    if (v->base < 0 && !v->external && v->first >= 0) {
      order[n].bytes = v->bytes;
      order[n++].id = i;
    }
  }
  qsort(order, (size_t)n, sizeof *order, by_size);
  size_t total = 0;
  for (int k = 0; k < n; k++) {
    inc__val *v = &p->vals[order[k].id];
    size_t at = 0, need = align_up(v->bytes);
    for (int moved = 1; moved;) { /* first fit: move past every conflict */
      moved = 0;
      for (int j = 0; j < k; j++) {
        const inc__val *u = &p->vals[order[j].id];
        if (u->last < v->first || v->last < u->first) continue; /* not alive together */
        size_t ue = u->at + align_up(u->bytes);
        if (at < ue && u->at < at + need) {
          at = ue;
          moved = 1;
        }
      }
    }
    v->at = at;
    if (at + need > total) total = at + need;
  }
  inc__free(order);
  p->arena_bytes = total;
  return INC_OK;
}

/* ---- what the backend can run ---- */

/* Every step's ops must be in the backend's supports mask (src/ops.h): a
 * backend without one gets a message naming it, not a NULL call later. */
static inc_status check_supported(const inc__plan *p, const inc__step *list, int n)
{
  uint64_t have = p->ctx->ops->supports;
  for (int i = 0; i < n; i++) {
    const inc__step *st = &list[i];
    if (st->pass) continue; /* fused into the step before: never runs */
    uint64_t need = st->layer ? st->layer->vt->ops[st->op == INC__STEP_BWD]
                    : st->op >= 0 ? (uint64_t)1 << st->op : 0;
    if (st->op == INC__STEP_SCALE) need = INC__OP_BIT(axpy);
    if (!(need & ~have)) continue;
    int op = 0;
    while (!((need & ~have) >> op & 1)) op++;
    if (st->layer)
      return inc__layer_error(st->layer, INC_ERR_UNAVAILABLE,
                              "the %s backend has no %s op (its supports mask)",
                              p->ctx->ops->name, inc__op_name((inc__op)op));
    return inc__error(p->ctx, INC_ERR_UNAVAILABLE,
                      "execution plan: the %s backend has no %s op (its supports mask)",
                      p->ctx->ops->name, inc__op_name((inc__op)op));
  }
  return INC_OK;
}

/* ---- what the plan depends on ---- */

static uint64_t mix(uint64_t h, uint64_t v)
{
  for (int i = 0; i < 8; i++, v >>= 8) h = (h ^ (v & 0xff)) * 0x100000001b3ULL; /* FNV-1a */
  return h;
}

static uint64_t signature(const inc_layer *l, uint64_t h)
{
  h = mix(h, (uint64_t)(uintptr_t)l);
  h = mix(h, (uint64_t)(uintptr_t)l->vt);
  h = mix(h, (uint64_t)l->nchildren);
  for (int i = 0; i < l->nparams; i++) h = mix(h, l->params[i].value->uid);
  for (int i = 0; i < l->nbuffers; i++) h = mix(h, l->buffers[i].value->uid);
  for (int i = 0; i < l->nchildren; i++) h = signature(l->children[i], h);
  return h;
}

uint64_t inc__plan_signature(const inc_layer *root)
{
  return signature(root, 0xcbf29ce484222325ULL);
}

/* ---- the whole build ---- */

inc_status inc__plan_build(inc_layer *root, const inc__shape *in, int training, inc__plan **out)
{
  inc_context *ctx = root->ctx;
  *out = NULL;
  inc__plan *p = (inc__plan *)inc__calloc(1, sizeof *p);
  if (!p) return inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "execution plan: out of host memory");
  p->ctx = ctx;
  p->root = root;
  p->in = *in;
  p->training = training ? 1 : 0;
  p->sig = inc__plan_signature(root);
  p->dy_ext = p->dy = p->dx = -1;
  inc_status s = INC_ERR_OUT_OF_MEMORY;
  if ((p->x = inc__plan_value(p, in, 0)) < 0) goto fail;
  p->vals[p->x].external = 1;
  if ((s = inc__plan_emit(root, p, p->x, &p->y)) != INC_OK) goto fail;
  fuse_epilogues(p);
  for (int i = 0; i < p->nfwd; i++) { /* layouts, views and scratch, in step order */
    inc__step *st = &p->fwd[i];
    if (st->pass) continue;
    if ((s = st->layer->vt->plan_fwd(p, st)) != INC_OK) goto fail;
  }
  p->out = p->y;
  const inc_tensor *ty = inc__pv(p, p->y);
  if (!inc__as_nchw(ty)) { /* channel-major inside: the caller gets (N, C, ...) */
    inc__shape ys;
    inc__step st;
    inc__shape_of(ty, &ys);
    inc__plan_step_init(&st, INC__STEP_SWAP, NULL);
    st.x = p->y;
    st.dim[0] = ys.d[1];
    st.dim[1] = ys.d[0];
    st.dim[2] = inc__plane(ty);
    s = INC_ERR_OUT_OF_MEMORY;
    if ((st.y = p->out = inc__plan_value(p, &ys, 0)) < 0 || inc__plan_step(p, &st) < 0) goto fail;
  }
  if (p->out == p->x) { /* the tree passes x on (identities): the caller gets a copy */
    s = INC_ERR_OUT_OF_MEMORY;
    if ((p->out = inc__plan_like(p, p->x)) < 0 ||
        inc__plan_move(p, INC__STEP_COPY, p->out, p->x, 0, 0, 0, 0, 0) < 0)
      goto fail;
  }
  if (p->training) {
    inc__shape ys;
    inc__shape_of(inc__pv(p, p->y), &ys);
    p->building_bwd = 1;
    s = INC_ERR_OUT_OF_MEMORY;
    if ((p->dy_ext = p->dy = inc__plan_value(p, &ys, 0)) < 0) goto fail;
    p->vals[p->dy_ext].external = 1;
    if (!inc__as_nchw(inc__pv(p, p->y))) { /* bring the caller's dy to the tree's layout */
      inc__step st;
      inc__plan_step_init(&st, INC__STEP_SWAP, NULL);
      st.x = p->dy_ext;
      st.dim[0] = ys.d[0];
      st.dim[1] = ys.d[1];
      st.dim[2] = inc__plane(inc__pv(p, p->y));
      if ((st.y = p->dy = inc__plan_value(p, &ys, 1)) < 0 || inc__plan_step(p, &st) < 0)
        goto fail;
    }
    inc__sink none = {-1, 0};
    if ((s = inc__plan_emit_bwd(root, p, p->dy, &none, &p->dx)) != INC_OK) goto fail;
    if (p->dx == p->dy_ext) { /* dy passed on: the caller's dx is a copy */
      s = INC_ERR_OUT_OF_MEMORY;
      if ((p->dx = inc__plan_like(p, p->dy_ext)) < 0 ||
          inc__plan_move(p, INC__STEP_COPY, p->dx, p->dy_ext, 0, 0, 0, 0, 0) < 0)
        goto fail;
    }
    if ((s = mark_no_dx(p)) != INC_OK) goto fail;
  }
  if ((s = check_supported(p, p->fwd, p->nfwd)) != INC_OK ||
      (s = check_supported(p, p->bwd, p->nbwd)) != INC_OK || (s = place(p)) != INC_OK)
    goto fail;
  *out = p;
  return INC_OK;
fail:
  inc__plan_free(p);
  return s;
}
