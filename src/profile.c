/*
 * profile.c — the benchmark's profiling hook (see internal.h).
 *
 * inc__prof_start swaps the context's op table for a copy whose slots time
 * the real backend's call, synchronizing the device before and after so
 * that a CUDA kernel is charged to its own op, and add the time to one
 * category. GEMMs and axis swaps are sorted by the role their layer set
 * just before the call (INC__PROF_ROLE): forward, input or weight gradient,
 * im2col of a 1x1 convolution. Leaf layers are timed in src/layer.c.
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

#define TIMED(cat, call)                                                                        \
  do {                                                                                          \
    double t0_ = tic(ctx);                                                                      \
    return toc(ctx, (cat), t0_, inner(ctx)->call);                                              \
  } while (0)

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

static inc_status w_gemm(float *c, const float *a, const float *b, int ta, int tb, int64_t m,
                         int64_t n, int64_t k, float alpha, float beta, inc_context *ctx)
{
  int role = ctx->prof->role;
  int cat = role == INC__ROLE_DGRAD   ? INC__PROF_GEMM_DGRAD
            : role == INC__ROLE_WGRAD ? INC__PROF_GEMM_WGRAD
                                      : INC__PROF_GEMM_FWD;
  ctx->prof->op_flops[cat] += 2.0 * (double)m * (double)n * (double)k;
  TIMED(cat, gemm(c, a, b, ta, tb, m, n, k, alpha, beta, ctx));
}
static inc_status w_im2col(float *col, const float *x, const inc__window *g, inc_context *ctx)
{
  TIMED(INC__PROF_IM2COL, im2col(col, x, g, ctx));
}
static inc_status w_col2im(float *dx, const float *col, const inc__window *g, inc_context *ctx)
{
  TIMED(INC__PROF_COL2IM, col2im(dx, col, g, ctx));
}
static inc_status w_swap01(float *dst, const float *src, int64_t a, int64_t b, int64_t p,
                           inc_context *ctx)
{
  int role = ctx->prof->role;
  int cat = role == INC__ROLE_COL     ? INC__PROF_IM2COL
            : role == INC__ROLE_UNCOL ? INC__PROF_COL2IM
                                      : INC__PROF_LAYOUT;
  TIMED(cat, swap01(dst, src, a, b, p, ctx));
}
static inc_status w_conv_out(float *y, const float *tmp, const float *bias, int64_t n, int64_t c,
                             int64_t p, int relu, inc_context *ctx)
{
  TIMED(INC__PROF_LAYOUT, conv_out(y, tmp, bias, n, c, p, relu, ctx));
}
static inc_status w_bias_add(float *y, const float *bias, int64_t n, int64_t c, int64_t p,
                             inc_context *ctx)
{
  TIMED(INC__PROF_LAYOUT, bias_add(y, bias, n, c, p, ctx));
}
static inc_status w_bias_grad(float *db, const float *dy, int64_t n, int64_t c, int64_t p,
                              inc_context *ctx)
{
  TIMED(INC__PROF_LAYOUT, bias_grad(db, dy, n, c, p, ctx));
}
static inc_status w_relu_fwd(float *y, const float *x, int64_t count, inc_context *ctx)
{
  TIMED(INC__PROF_ELTWISE, relu_fwd(y, x, count, ctx));
}
static inc_status w_relu_bwd(float *dx, const float *dy, const float *y, int64_t count,
                             inc_context *ctx)
{
  TIMED(INC__PROF_ELTWISE, relu_bwd(dx, dy, y, count, ctx));
}
static inc_status w_axpy(float *y, const float *x, float alpha, int64_t count, inc_context *ctx)
{
  TIMED(INC__PROF_CONCAT, axpy(y, x, alpha, count, ctx));
}
static inc_status w_slice(float *big, float *small, int to_big, int64_t n, int64_t cb, int64_t ct,
                          int64_t off, int64_t p, inc_context *ctx)
{
  TIMED(INC__PROF_CONCAT, slice(big, small, to_big, n, cb, ct, off, p, ctx));
}
static inc_status w_maxpool_fwd(float *y, int32_t *arg, const float *x, const inc__window *g,
                                inc_context *ctx)
{
  TIMED(INC__PROF_POOL, maxpool_fwd(y, arg, x, g, ctx));
}
static inc_status w_maxpool_bwd(float *dx, const float *dy, const int32_t *arg,
                                const inc__window *g, inc_context *ctx)
{
  TIMED(INC__PROF_POOL, maxpool_bwd(dx, dy, arg, g, ctx));
}
static inc_status w_avgpool_fwd(float *y, const float *x, const inc__window *g, inc_context *ctx)
{
  TIMED(INC__PROF_POOL, avgpool_fwd(y, x, g, ctx));
}
static inc_status w_avgpool_bwd(float *dx, const float *dy, const inc__window *g,
                                inc_context *ctx)
{
  TIMED(INC__PROF_POOL, avgpool_bwd(dx, dy, g, ctx));
}
static inc_status w_gap_fwd(float *y, const float *x, int64_t planes, int64_t hw,
                            inc_context *ctx)
{
  TIMED(INC__PROF_POOL, gap_fwd(y, x, planes, hw, ctx));
}
static inc_status w_gap_bwd(float *dx, const float *dy, int64_t planes, int64_t hw,
                            inc_context *ctx)
{
  TIMED(INC__PROF_POOL, gap_bwd(dx, dy, planes, hw, ctx));
}
static inc_status w_softmax_ce(double *loss_sum, int64_t *correct, float *dlogits,
                               const float *logits, const int32_t *labels, int64_t n, int64_t k,
                               float scale, inc_context *ctx)
{
  TIMED(INC__PROF_LOSS, softmax_ce(loss_sum, correct, dlogits, logits, labels, n, k, scale, ctx));
}
static inc_status w_sgd(float *param, float *buf, const float *grad, int64_t count, float lr,
                        float momentum, float weight_decay, int first, inc_context *ctx)
{
  TIMED(INC__PROF_SGD, sgd(param, buf, grad, count, lr, momentum, weight_decay, first, ctx));
}
static inc_status w_fill(float *dst, int64_t count, int dist, float a, float b, uint64_t seed,
                         uint64_t stream, inc_context *ctx)
{
  TIMED(INC__PROF_OTHER, fill(dst, count, dist, a, b, seed, stream, ctx));
}

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
  p->wrap.gemm = w_gemm;
  p->wrap.im2col = w_im2col;
  p->wrap.col2im = w_col2im;
  p->wrap.swap01 = w_swap01;
  p->wrap.conv_out = w_conv_out;
  p->wrap.bias_add = w_bias_add;
  p->wrap.bias_grad = w_bias_grad;
  p->wrap.relu_fwd = w_relu_fwd;
  p->wrap.relu_bwd = w_relu_bwd;
  p->wrap.axpy = w_axpy;
  p->wrap.slice = w_slice;
  p->wrap.maxpool_fwd = w_maxpool_fwd;
  p->wrap.maxpool_bwd = w_maxpool_bwd;
  p->wrap.avgpool_fwd = w_avgpool_fwd;
  p->wrap.avgpool_bwd = w_avgpool_bwd;
  p->wrap.gap_fwd = w_gap_fwd;
  p->wrap.gap_bwd = w_gap_bwd;
  p->wrap.softmax_ce = w_softmax_ce;
  p->wrap.sgd = w_sgd;
  p->wrap.fill = w_fill;
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
