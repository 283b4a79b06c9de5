/*
 * profile.c — the benchmark's profiling hook (see internal.h).
 *
 * inc__prof_start swaps the context's op table for a copy whose slots time
 * the real backend's call, synchronizing the device before and after so
 * that a CUDA kernel is charged to its own op, and add the time to one
 * category. The ops' wrappers are generated from the op registry
 * (src/ops.h), each charged to its profiling column; GEMMs and axis swaps
 * are sorted by the role their layer set just before the call
 * (INC__PROF_ROLE): forward, input or weight gradient, im2col of a 1x1
 * convolution. Leaf layers are timed in src/layer.c.
 * Nothing here runs unless a benchmark calls inc__prof_start.
 */
#include <string.h>
#include <time.h>
#include "internal.h"

double inc__prof_now(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const inc__backend_ops *inner(inc_context *ctx) { return ctx->prof->inner; }

static double tic(inc_context *ctx)
{
  inner(ctx)->synchronize(ctx);
  return inc__prof_now();
}

static inc_status toc(inc_context *ctx, int cat, double t0, inc_status s)
{
  inc__prof *p = ctx->prof;
  inner(ctx)->synchronize(ctx);
  p->op_s[cat] += inc__prof_now() - t0;
  p->op_calls[cat]++;
  p->role = INC__ROLE_NONE;
  return s;
}

/* Times inner(ctx)->call and charges it to category cat (evaluated first:
 * the role is reset when the call is charged). */
#define TIMED(cat, call)                                                                        \
  do {                                                                                          \
    int cat_ = (cat);                                                                           \
    double t0_ = tic(ctx);                                                                      \
    return toc(ctx, cat_, t0_, inner(ctx)->call);                                               \
  } while (0)

/* ---- the memory slots (outside the registry): destroy, free and
 * synchronize pass through untimed (tic and toc synchronize themselves) ---- */

static void w_destroy(inc_context *ctx) { inner(ctx)->destroy(ctx); }
static inc_status w_alloc(void **out, size_t bytes, inc_context *ctx)
{
  TIMED(INC__PROF_OTHER, alloc(out, bytes, ctx));
}
static void w_free(void *p, inc_context *ctx) { inner(ctx)->free(p, ctx); }
static inc_status w_upload(void *d, const void *s, size_t b, inc_context *ctx)
{
  TIMED(INC__PROF_OTHER, upload(d, s, b, ctx));
}
static inc_status w_download(void *d, const void *s, size_t b, inc_context *ctx)
{
  TIMED(INC__PROF_OTHER, download(d, s, b, ctx));
}
static inc_status w_copy(void *d, const void *s, size_t b, inc_context *ctx)
{
  TIMED(INC__PROF_CONCAT, copy(d, s, b, ctx));
}
static inc_status w_zero(void *d, size_t b, inc_context *ctx)
{
  TIMED(INC__PROF_OTHER, zero(d, b, ctx));
}
static inc_status w_synchronize(inc_context *ctx) { return inner(ctx)->synchronize(ctx); }

/* ---- the ops of the registry: one wrapper each, charged to the op's
 * profiling column, which for these two is a call to the role sorting ---- */

/* A GEMM's category by the role its layer set, and its flops counted there. */
static int prof_gemm(inc_context *ctx, int64_t m, int64_t n, int64_t k)
{
  int role = ctx->prof->role;
  int cat = role == INC__ROLE_DGRAD   ? INC__PROF_GEMM_DGRAD
            : role == INC__ROLE_WGRAD ? INC__PROF_GEMM_WGRAD
                                      : INC__PROF_GEMM_FWD;
  ctx->prof->op_flops[cat] += 2.0 * (double)m * (double)n * (double)k;
  return cat;
}

/* An axis swap is a 1x1 convolution's im2col or col2im, or a layout change. */
static int prof_swap01(inc_context *ctx)
{
  int role = ctx->prof->role;
  return role == INC__ROLE_COL     ? INC__PROF_IM2COL
         : role == INC__ROLE_UNCOL ? INC__PROF_COL2IM
                                   : INC__PROF_LAYOUT;
}

#define WRAP(op, params, args, prof)                                                            \
  static inc_status w_##op params { TIMED(prof, op args); }
INC__OPS(WRAP)
#undef WRAP

void inc__prof_start(inc_context *ctx, inc__prof *p)
{
  if (ctx->prof) inc__prof_stop(ctx);
  memset(p, 0, sizeof *p);
  p->inner = ctx->ops;
  p->wrap = *ctx->ops;
  p->wrap.destroy = w_destroy;
  p->wrap.alloc = w_alloc;
  p->wrap.free = w_free;
  p->wrap.upload = w_upload;
  p->wrap.download = w_download;
  p->wrap.copy = w_copy;
  p->wrap.zero = w_zero;
  p->wrap.synchronize = w_synchronize;
  /* an op the backend lacks stays NULL (and unsupported) */
#define WRAP_SLOT(op, params, args, prof) p->wrap.op = p->inner->op ? w_##op : NULL;
  INC__OPS(WRAP_SLOT)
#undef WRAP_SLOT
  ctx->prof = p;
  ctx->ops = &p->wrap;
}

void inc__prof_stop(inc_context *ctx)
{
  if (!ctx->prof) return;
  ctx->ops = ctx->prof->inner;
  ctx->prof = NULL;
}

void inc__prof_layer(inc_context *ctx, const char *kind, int backward, double seconds)
{
  inc__prof *p = ctx->prof;
  int i = 0;
  while (i < p->nkinds && strcmp(p->kind[i], kind)) i++;
  if (i == p->nkinds) {
    if (p->nkinds == INC__PROF_KINDS) return;
    p->kind[p->nkinds++] = kind;
  }
  p->kind_s[i][backward ? 1 : 0] += seconds;
}
