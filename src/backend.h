/*
 * backend.h — the private interface every compute backend implements.
 *
 * Layers never touch tensor memory directly: they call these slots through
 * ctx->ops, ggml style. The CPU backend (src/cpu/) fills them with OpenMP
 * loops over the INC_HD bodies of kernels.h plus CBLAS; the CUDA backend
 * (cuda/) with kernels over the same bodies plus cuBLAS, all on the
 * context's stream. Pointers are device pointers of the backend. Every slot
 * returns an inc_status and, on failure, sets the context's message.
 *
 * Argument order follows the house rule: outputs, inputs, saved
 * activations, dimensions, then the context (which carries the stream).
 */
#ifndef INC_BACKEND_H
#define INC_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include "../include/inception.h"
#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if [a, a+bytes) and [b, b+bytes) share a byte (bytes > 0). */
static inline int inc__ranges_overlap(const void *a, const void *b, size_t bytes)
{
  uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
  return x < y ? y - x < bytes : x - y < bytes;
}

typedef struct inc__backend_ops {
  const char *name; /* "cpu", "cuda" */
  /* Frees the backend state ctx->be (streams, handles, buffers). */
  void (*destroy)(inc_context *ctx);

  /* ---- memory ---- */
  inc_status (*alloc)(void **out, size_t bytes, inc_context *ctx); /* zero-filled */
  void (*free)(void *p, inc_context *ctx);                          /* NULL ok */
  inc_status (*upload)(void *dst, const void *src, size_t bytes, inc_context *ctx);
  inc_status (*download)(void *dst, const void *src, size_t bytes, inc_context *ctx);
  /* dst = src, bytes of backend memory. The two ranges must not overlap
   * (cudaMemcpy's rule, which leaves overlap undefined): both backends
   * return INC_ERR_INVALID_ARGUMENT for an overlap; dst == src is a no-op. */
  inc_status (*copy)(void *dst, const void *src, size_t bytes, inc_context *ctx);
  inc_status (*zero)(void *dst, size_t bytes, inc_context *ctx);
  inc_status (*synchronize)(inc_context *ctx);

  /* ---- dense algebra ---- */
  /* c (m, n) = alpha * op(a) * op(b) + beta * c, all row-major and packed:
   * op(a) is (m, k) (a stored (k, m) when trans_a), op(b) is (k, n). */
  inc_status (*gemm)(float *c, const float *a, const float *b, int trans_a, int trans_b,
                     int64_t m, int64_t n, int64_t k, float alpha, float beta,
                     inc_context *ctx);

  /* ---- convolution helpers ---- */
  /* col (C*K*K, N*OH*OW) from x (N, C, H, W). */
  inc_status (*im2col)(float *col, const float *x, const inc__window *g, inc_context *ctx);
  /* dx (N, C, H, W) = sum of col (C*K*K, N*OH*OW) entries back to their pixels. */
  inc_status (*col2im)(float *dx, const float *col, const inc__window *g, inc_context *ctx);
  /* dst (B, A, P) from src (A, B, P). */
  inc_status (*swap01)(float *dst, const float *src, int64_t a, int64_t b, int64_t p,
                       inc_context *ctx);
  /* y (N, C, P) = tmp (C, N*P) + bias (C; may be NULL), ReLU if relu.
   * With n == 1 each element maps to itself and y may be tmp: conv2d uses
   * that as its in-place bias (+ ReLU) pass on channel-major outputs. */
  inc_status (*conv_out)(float *y, const float *tmp, const float *bias, int64_t n, int64_t c,
                         int64_t p, int relu, inc_context *ctx);
  /* y (N, C, P) += bias (C). */
  inc_status (*bias_add)(float *y, const float *bias, int64_t n, int64_t c, int64_t p,
                         inc_context *ctx);
  /* db (C) = sum of dy (N, C, P) over n and p. */
  inc_status (*bias_grad)(float *db, const float *dy, int64_t n, int64_t c, int64_t p,
                          inc_context *ctx);

  /* ---- elementwise ---- */
  inc_status (*relu_fwd)(float *y, const float *x, int64_t count, inc_context *ctx);
  /* dx = dy where the saved output y > 0. */
  inc_status (*relu_bwd)(float *dx, const float *dy, const float *y, int64_t count,
                         inc_context *ctx);
  /* y += alpha * x */
  inc_status (*axpy)(float *y, const float *x, float alpha, int64_t count, inc_context *ctx);
  /* Channel slices: to_big: big (N, CT, P)[:, off:off+CB] = small (N, CB, P);
   * else small = that slice of big. */
  inc_status (*slice)(float *big, float *small, int to_big, int64_t n, int64_t cb, int64_t ct,
                      int64_t off, int64_t p, inc_context *ctx);

  /* ---- pooling ---- */
  /* y (N, C, OH, OW); arg (same shape, int32 argmax per window) may be NULL. */
  inc_status (*maxpool_fwd)(float *y, int32_t *arg, const float *x, const inc__window *g,
                            inc_context *ctx);
  inc_status (*maxpool_bwd)(float *dx, const float *dy, const int32_t *arg,
                            const inc__window *g, inc_context *ctx);
  inc_status (*avgpool_fwd)(float *y, const float *x, const inc__window *g, inc_context *ctx);
  inc_status (*avgpool_bwd)(float *dx, const float *dy, const inc__window *g, inc_context *ctx);
  /* y (planes) = mean of each plane of x (planes, hw). */
  inc_status (*gap_fwd)(float *y, const float *x, int64_t planes, int64_t hw, inc_context *ctx);
  inc_status (*gap_bwd)(float *dx, const float *dy, int64_t planes, int64_t hw,
                        inc_context *ctx);

  /* ---- loss, optimizer, init ---- */
  /* Softmax cross-entropy over logits (N, K) with host labels already
   * validated to lie in [0, K). Writes the host scalars *loss_sum (sum of
   * row losses, accumulated in double) and *correct; dlogits (N, K) gets
   * (softmax - onehot) * scale unless NULL. */
  inc_status (*softmax_ce)(double *loss_sum, int64_t *correct, float *dlogits,
                           const float *logits, const int32_t *labels, int64_t n, int64_t k,
                           float scale, inc_context *ctx);
  /* One SGD step over count elements (see inc__k_sgd). */
  inc_status (*sgd)(float *param, float *buf, const float *grad, int64_t count, float lr,
                    float momentum, float weight_decay, int first, inc_context *ctx);
  /* dst[i] = inc__k_fill(dist, a, b, seed, stream, i). */
  inc_status (*fill)(float *dst, int64_t count, int dist, float a, float b, uint64_t seed,
                     uint64_t stream, inc_context *ctx);
} inc__backend_ops;

/* Backend constructors: set ctx->ops and ctx->be, and describe the device in
 * ctx->device_name. They return INC_ERR_UNAVAILABLE (with a message) when
 * the backend cannot run here. */
inc_status inc__cpu_backend_init(inc_context *ctx);
/* Rewrites ctx->device_name after a thread-count change (CPU backend). */
void inc__cpu_describe(inc_context *ctx);
/* The CUDA backend lives in a module loaded at run time (src/module.c):
 * this loads it and calls its constructor; INC_ERR_UNAVAILABLE with the
 * reason when the module is missing or finds no usable device. On success
 * ctx->module holds the module; inc__module_close releases it. */
inc_status inc__cuda_backend_init(inc_context *ctx);
void inc__module_close(inc_context *ctx);
/* 1 if the CUDA module loads and finds a usable device; else 0 and the
 * reason in why (cap bytes; why may be NULL). */
int inc__cuda_usable(char *why, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* INC_BACKEND_H */
