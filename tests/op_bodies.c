/*
 * op_bodies.c — the INC_HD kernel bodies of src/kernels.h as a host backend
 * table (opc_body_ops), so that the op table (op_cases.c) runs them through
 * the same runner as the CPU and CUDA backends: each slot is the plain loop
 * over its body, nothing else. GEMM has no body (it is BLAS's or cuBLAS's).
 */
#include <stdlib.h>
#include <string.h>
#include "op_cases.h"

/* ---- the bodies as a host backend ----------------------------------------- */

static inc_status b_alloc(void **out, size_t bytes, inc_context *ctx)
{
  *out = calloc(1, bytes ? bytes : 1);
  return *out ? INC_OK : INC_ERR_OUT_OF_MEMORY;
}
static void b_free(void *p, inc_context *ctx) { free(p); }
static inc_status b_copy(void *dst, const void *src, size_t bytes, inc_context *ctx)
{
  if (bytes) memmove(dst, src, bytes);
  return INC_OK;
}
static inc_status b_zero(void *dst, size_t bytes, inc_context *ctx)
{
  if (bytes) memset(dst, 0, bytes);
  return INC_OK;
}
static inc_status b_sync(inc_context *ctx) { return INC_OK; }

static int64_t b_numel(const inc__window *g, int in)
{
  return g->n * g->c * (in ? g->h * g->w : g->oh * g->ow);
}

static inc_status b_im2col(float *col, const float *x, const inc__window *g, inc_context *ctx)
{
  const int64_t total = g->c * g->kh * g->kw * g->n * g->oh * g->ow;
  for (int64_t i = 0; i < total; i++) col[i] = inc__k_im2col(x, i, g);
  return INC_OK;
}
static inc_status b_col2im(float *dx, const float *col, const inc__window *g, inc_context *ctx)
{
  for (int64_t i = 0; i < b_numel(g, 1); i++) dx[i] = inc__k_col2im(col, i, g);
  return INC_OK;
}
static inc_status b_swap01(float *dst, const float *src, int64_t a, int64_t b, int64_t p,
                           inc_context *ctx)
{
  for (int64_t i = 0; i < a * b * p; i++) dst[i] = inc__k_swap01(src, i, a, b, p);
  return INC_OK;
}
static inc_status b_conv_out(float *y, const float *tmp, const float *bias, int64_t n, int64_t c,
                             int64_t p, int relu, inc_context *ctx)
{
  for (int64_t i = 0; i < n * c * p; i++) y[i] = inc__k_conv_out(tmp, bias, i, n, c, p, relu);
  return INC_OK;
}
static inc_status b_conv_direct(float *y, const float *x, const float *w, const float *bias,
                                const inc__window *g, int64_t oc, int relu, int cnhw,
                                inc_context *ctx)
{
  for (int64_t i = 0; i < g->n * oc * g->oh * g->ow; i++)
    y[i] = inc__k_conv_direct(x, w, bias, i, g, oc, relu, cnhw);
  return INC_OK;
}
static inc_status b_unroll_w(float *wu, const float *w, const inc__window *g, int64_t oc,
                             inc_context *ctx)
{
  for (int64_t i = 0; i < oc * g->oh * g->ow * g->c * g->h * g->w; i++)
    wu[i] = inc__k_unroll_w(w, i, g);
  return INC_OK;
}
static inc_status b_unroll_dw(float *dw, const float *dwu, const inc__window *g, int64_t oc,
                              inc_context *ctx)
{
  for (int64_t i = 0; i < oc * g->c * g->kh * g->kw; i++) dw[i] = inc__k_unroll_dw(dwu, i, g);
  return INC_OK;
}
static inc_status b_bias_add(float *y, const float *bias, int64_t n, int64_t c, int64_t p,
                             inc_context *ctx)
{
  for (int64_t i = 0; i < n * c * p; i++) y[i] = inc__k_bias_add(y, bias, i, c, p);
  return INC_OK;
}
static inc_status b_bias_grad(float *db, const float *dy, int64_t n, int64_t c, int64_t p,
                              inc_context *ctx)
{
  for (int64_t j = 0; j < c; j++) db[j] = inc__k_bias_grad(dy, j, n, c, p);
  return INC_OK;
}
static inc_status b_wino_w(float *u, const float *w, int64_t oc, int64_t c, int m,
                         inc_context *ctx)
{
  for (int64_t f = 0; f < oc * c; f++) inc__k_wino_w(u, w, f, oc * c, m);
  return INC_OK;
}
static inc_status b_wino_dw(float *dw, const float *du, int64_t oc, int64_t c, int m,
                          inc_context *ctx)
{
  for (int64_t f = 0; f < oc * c; f++) inc__k_wino_dw(dw, du, f, oc * c, m);
  return INC_OK;
}
static inc_status b_wino_in(float *v, const float *x, const inc__wino *g, inc_context *ctx)
{
  for (int64_t i = 0; i < g->c * inc__wino_tiles(g); i++) inc__k_wino_in(v, x, i, g);
  return INC_OK;
}
static inc_status b_wino_out(float *y, const float *mm, const float *bias, const inc__wino *g,
                           int relu, inc_context *ctx)
{
  for (int64_t i = 0; i < g->c * inc__wino_tiles(g); i++) inc__k_wino_out(y, mm, bias, relu, i, g);
  return INC_OK;
}
static inc_status b_wino_dout(float *dm, const float *dy, const inc__wino *g, inc_context *ctx)
{
  for (int64_t i = 0; i < g->c * inc__wino_tiles(g); i++) inc__k_wino_dout(dm, dy, i, g);
  return INC_OK;
}
static inc_status b_wino_din(float *dx, const float *dv, const inc__wino *g, inc_context *ctx)
{
  for (int64_t i = 0; i < g->n * g->c * g->h * g->w; i++) dx[i] = inc__k_wino_din(dv, i, g);
  return INC_OK;
}
static inc_status b_relu_fwd(float *y, const float *x, int64_t count, inc_context *ctx)
{
  for (int64_t i = 0; i < count; i++) y[i] = inc__k_relu(x[i]);
  return INC_OK;
}
static inc_status b_relu_bwd(float *dx, const float *dy, const float *y, int64_t count,
                             inc_context *ctx)
{
  for (int64_t i = 0; i < count; i++) dx[i] = inc__k_relu_grad(dy[i], y[i]);
  return INC_OK;
}
/* axpy has no body in kernels.h: both backends write y[i] += alpha * x[i] */
static inc_status b_axpy(float *y, const float *x, float alpha, int64_t count, inc_context *ctx)
{
  for (int64_t i = 0; i < count; i++) y[i] += alpha * x[i];
  return INC_OK;
}
static inc_status b_slice(float *big, float *small, int to_big, int64_t n, int64_t cb, int64_t ct,
                          int64_t off, int64_t p, inc_context *ctx)
{
  for (int64_t i = 0; i < n * cb * p; i++) {
    int64_t j = inc__k_slice_index(i, cb, ct, off, p);
    if (to_big)
      big[j] = small[i];
    else
      small[i] = big[j];
  }
  return INC_OK;
}
static inc_status b_maxpool_fwd(float *y, int32_t *arg, const float *x, const inc__window *g,
                                inc_context *ctx)
{
  for (int64_t i = 0; i < b_numel(g, 0); i++) {
    int32_t a;
    y[i] = inc__k_maxpool(x, i, g, &a);
    if (arg) arg[i] = a;
  }
  return INC_OK;
}
static inc_status b_maxpool_bwd(float *dx, const float *dy, const int32_t *arg,
                                const inc__window *g, inc_context *ctx)
{
  for (int64_t i = 0; i < b_numel(g, 1); i++) dx[i] = inc__k_maxpool_grad(dy, arg, i, g);
  return INC_OK;
}
static inc_status b_avgpool_fwd(float *y, const float *x, const inc__window *g, inc_context *ctx)
{
  for (int64_t i = 0; i < b_numel(g, 0); i++) y[i] = inc__k_avgpool(x, i, g);
  return INC_OK;
}
static inc_status b_avgpool_bwd(float *dx, const float *dy, const inc__window *g,
                                inc_context *ctx)
{
  for (int64_t i = 0; i < b_numel(g, 1); i++) dx[i] = inc__k_avgpool_grad(dy, i, g);
  return INC_OK;
}
static inc_status b_gap_fwd(float *y, const float *x, int64_t planes, int64_t hw,
                            inc_context *ctx)
{
  for (int64_t j = 0; j < planes; j++) y[j] = inc__k_gap(x, j, hw);
  return INC_OK;
}
static inc_status b_gap_bwd(float *dx, const float *dy, int64_t planes, int64_t hw,
                            inc_context *ctx)
{
  for (int64_t i = 0; i < planes * hw; i++) dx[i] = inc__k_gap_grad(dy, i, hw);
  return INC_OK;
}
static inc_status b_softmax_ce(double *loss_sum, int64_t *correct, float *dlogits,
                               const float *logits, const int32_t *labels, int64_t n, int64_t k,
                               float scale, float smoothing, inc_context *ctx)
{
  double sum = 0.0;
  int64_t hits = 0;
  for (int64_t r = 0; r < n; r++) {
    int hit;
    sum += inc__k_softmax_ce_row(logits + r * k, labels[r], k, scale, smoothing,
                                 dlogits ? dlogits + r * k : NULL, &hit);
    hits += hit;
  }
  *loss_sum = sum;
  *correct = hits;
  return INC_OK;
}
static inc_status b_sgd(float *param, float *buf, const float *grad, int64_t count, float lr,
                        float momentum, float weight_decay, int first, inc_context *ctx)
{
  for (int64_t i = 0; i < count; i++)
    inc__k_sgd(param, buf, grad, i, lr, momentum, weight_decay, first);
  return INC_OK;
}
static inc_status b_fill(float *dst, int64_t count, int dist, float a, float b, uint64_t seed,
                         uint64_t stream, inc_context *ctx)
{
  for (int64_t i = 0; i < count; i++) dst[i] = inc__k_fill(dist, a, b, seed, stream, i);
  return INC_OK;
}
static inc_status b_dropout(float *y, const float *x, int64_t n, int64_t c, int64_t plane,
                            int cnhw, float p, uint64_t seed, uint64_t stream, inc_context *ctx)
{
  for (int64_t i = 0; i < n * c * plane; i++)
    y[i] = inc__k_dropout(x, i, n, c, plane, cnhw, p, seed, stream);
  return INC_OK;
}

static inc_status b_bn_fwd_train(float *y, float *mean, float *invstd, float *var,
                                 const float *x, const float *weight, const float *bias,
                                 int64_t n, int64_t c, int64_t p, float eps, int relu,
                                 inc_context *ctx)
{
  for (int64_t ci = 0; ci < c; ci++) {
    double mu, v;
    inc__k_bn_stats(x, ci, n, c, p, &mu, &v);
    mean[ci] = (float)mu;
    invstd[ci] = (float)(1.0 / sqrt(v + (double)eps));
    var[ci] = (float)v;
  }
  for (int64_t i = 0; i < n * c * p; i++)
    y[i] = inc__k_bn_apply(x, i, c, p, mean, invstd, weight, bias, relu);
  return INC_OK;
}
static inc_status b_bn_running(float *running_mean, float *running_var, float *count,
                               const float *mean, const float *var, int64_t c, int64_t m,
                               float momentum, inc_context *ctx)
{
  for (int64_t ci = 0; ci < c; ci++)
    inc__k_bn_running(running_mean, running_var, ci, mean, var, m, momentum);
  count[0] += 1.0f;
  return INC_OK;
}
static inc_status b_bn_fwd_eval(float *y, const float *x, const float *weight, const float *bias,
                                const float *running_mean, const float *running_var, int64_t n,
                                int64_t c, int64_t p, float eps, int relu, inc_context *ctx)
{
  for (int64_t i = 0; i < n * c * p; i++)
    y[i] = inc__k_bn_eval(x, i, c, p, running_mean, running_var, weight, bias, eps, relu);
  return INC_OK;
}
static inc_status b_bn_bwd(float *dx, float *dweight, float *dbias, const float *dy,
                           const float *x, const float *mean, const float *invstd,
                           const float *weight, int64_t n, int64_t c, int64_t p, inc_context *ctx)
{
  for (int64_t ci = 0; ci < c; ci++) {
    double db, dw;
    inc__k_bn_grad_sums(dy, x, ci, n, c, p, mean[ci], invstd[ci], &db, &dw);
    dbias[ci] = (float)db;
    dweight[ci] = (float)dw;
  }
  for (int64_t i = 0; dx && i < n * c * p; i++)
    dx[i] = inc__k_bn_dx(dy, x, i, c, p, mean, invstd, weight, dweight, dbias,
                         1.0f / (float)(n * p));
  return INC_OK;
}
static inc_status b_bn_fold(float *w_out, float *b_out, const float *w, const float *b,
                            const float *weight, const float *bias, const float *running_mean,
                            const float *running_var, int64_t oc, int64_t k, float eps,
                            inc_context *ctx)
{
  for (int64_t i = 0; i < oc * k; i++) w_out[i] = inc__k_bn_fold_w(w, i, k, weight, running_var, eps);
  for (int64_t o = 0; o < oc; o++)
    b_out[o] = inc__k_bn_fold_b(b, o, weight, bias, running_mean, running_var, eps);
  return INC_OK;
}

const inc__backend_ops opc_body_ops = {
    .name = "body",
    .alloc = b_alloc,
    .free = b_free,
    .upload = b_copy,
    .download = b_copy,
    .copy = b_copy,
    .zero = b_zero,
    .synchronize = b_sync,
    .gemm = NULL, /* BLAS: no body */
    .gemm_batched = NULL,
    .im2col = b_im2col,
    .col2im = b_col2im,
    .swap01 = b_swap01,
    .conv_out = b_conv_out,
    .conv_direct = b_conv_direct,
    .unroll_w = b_unroll_w,
    .unroll_dw = b_unroll_dw,
    .bias_add = b_bias_add,
    .bias_grad = b_bias_grad,
    .wino_w = b_wino_w,
    .wino_dw = b_wino_dw,
    .wino_in = b_wino_in,
    .wino_out = b_wino_out,
    .wino_dout = b_wino_dout,
    .wino_din = b_wino_din,
    .relu_fwd = b_relu_fwd,
    .relu_bwd = b_relu_bwd,
    .axpy = b_axpy,
    .slice = b_slice,
    .maxpool_fwd = b_maxpool_fwd,
    .maxpool_bwd = b_maxpool_bwd,
    .avgpool_fwd = b_avgpool_fwd,
    .avgpool_bwd = b_avgpool_bwd,
    .gap_fwd = b_gap_fwd,
    .gap_bwd = b_gap_bwd,
    .softmax_ce = b_softmax_ce,
    .bn_fwd_train = b_bn_fwd_train,
    .bn_running = b_bn_running,
    .bn_fwd_eval = b_bn_fwd_eval,
    .bn_bwd = b_bn_bwd,
    .bn_fold = b_bn_fold,
    .sgd = b_sgd,
    .fill = b_fill,
    .dropout = b_dropout,
};

