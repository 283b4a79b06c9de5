/*
 * grad_hook_util.h — what the suites of the data-parallel hooks
 * (test_grad_hook.c, test_grad_hook_life.c) share: a record of what the
 * callbacks saw and the callbacks that fill it (copying, or scaling, a
 * bucket on the callback's stream where they are asked to), the hook
 * set with them, twin networks and the comparisons of their gradients and
 * weights bit for bit, and the check that the gradient tensors are views of
 * their buckets.
 *
 * Copies from and to CUDA memory inside a callback go through the emulated
 * runtime; on a real GPU (no runtime linked here) they are skipped and the
 * record says so (copied 0).
 */
#ifndef INC_TEST_GRAD_HOOK_UTIL_H
#define INC_TEST_GRAD_HOOK_UTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cuda_util.h"
#include "plan.h"

enum { MAXB = 256, N = 2, HW = 32, CLASSES = 10 };
static const int32_t LABELS[N] = {3, 7};

/* ---- what the callbacks saw ---- */

typedef struct rec {
  int n;                  /* ready calls so far */
  int order[MAXB];        /* the bucket of each */
  int calls[MAXB];        /* per bucket */
  float *grad[MAXB];      /* what ready was given */
  int64_t count[MAXB];
  float *snap[MAXB];      /* (count[b]) a copy taken at ready time, when snapshot */
  int snapshot, copied;   /* copies asked; copies made (0 on a real GPU) */
  float scale;            /* nonzero: ready multiplies its bucket by it, in place */
  const float *probe;     /* memory read when bucket 0 is ready */
  float probe_at0;
  int before0;            /* readies before bucket 0's */
  int fail_bucket;        /* ready returns fail_status there */
  inc_status fail_status, finish_ret;
  int finishes, at_finish; /* finish calls; readies when it was last called */
  inc_status finish_got;
} rec;

static inline void rec_reset(rec *r)
{
  for (int b = 0; b < MAXB; b++) free(r->snap[b]);
  memset(r, 0, sizeof *r);
  r->fail_bucket = -1;
}

/* Copies n floats between host memory and the context's, in order with the
 * work on stream: memcpy on the CPU (stream NULL), the emulated runtime's
 * copy on CUDA. 0, and nothing done, on a real GPU. */
static inline int xfer(void *stream, float *dst, const float *src, int64_t n, int to_device)
{
  size_t bytes = (size_t)n * sizeof(float);
  if (!stream) {
    memcpy(dst, src, bytes);
    return 1;
  }
  const tu_cudaemu *e = tu_emu();
  if (!e) return 0;
  int kind = to_device ? TU_cudaMemcpyHostToDevice : TU_cudaMemcpyDeviceToHost;
  ck_assert_int_eq(e->memcpy_async(dst, src, bytes, kind, stream), TU_cudaSuccess);
  ck_assert_int_eq(e->stream_sync(stream), TU_cudaSuccess);
  return 1;
}

static inline inc_status on_ready(void *user, int b, float *grad, int64_t count,
                                  void *stream)
{
  rec *r = (rec *)user;
  ck_assert(b >= 0 && b < MAXB && r->n < MAXB);
  r->order[r->n++] = b;
  r->calls[b]++;
  r->grad[b] = grad;
  r->count[b] = count;
  if (b == 0) {
    r->before0 = r->n - 1;
    if (r->probe) xfer(stream, &r->probe_at0, r->probe, 1, 0);
  }
  if (r->snapshot) {
    free(r->snap[b]);
    r->snap[b] = (float *)malloc((size_t)count * sizeof(float) + 1);
    r->copied = xfer(stream, r->snap[b], grad, count, 0);
  }
  if (r->scale != 0.0f) {
    float *h = (float *)malloc((size_t)count * sizeof(float) + 1);
    if ((r->copied = xfer(stream, h, grad, count, 0))) {
      for (int64_t i = 0; i < count; i++) h[i] *= r->scale;
      xfer(stream, grad, h, count, 1);
    }
    free(h);
  }
  return b == r->fail_bucket ? r->fail_status : INC_OK;
}

static inline inc_status on_finish(void *user, inc_status s, void *stream)
{
  rec *r = (rec *)user;
  (void)stream;
  r->finishes++;
  r->finish_got = s;
  r->at_finish = r->n;
  return r->finish_ret;
}

static inline void set_hook(inc_context *ctx, inc_layer *l, int64_t bytes, rec *r)
{
  inc_grad_hook h;
  memset(&h, 0, sizeof h);
  h.size = sizeof h;
  h.bucket_bytes = bytes;
  h.ready = on_ready;
  h.finish = on_finish;
  h.user = r;
  INC_CK(ctx, inc_layer_set_grad_hook(l, &h));
}

/* Every bucket of l got exactly one ready since r was reset, then finish. */
static inline void each_once(const inc_layer *l, const rec *r, const char *what)
{
  int nb = inc_layer_grad_bucket_count(l);
  ck_assert_msg(nb > 0, "%s: no bucket", what);
  ck_assert_msg(r->n == nb, "%s: %d readies for %d buckets", what, r->n, nb);
  for (int b = 0; b < nb; b++)
    ck_assert_msg(r->calls[b] == 1, "%s: bucket %d got %d readies", what, b, r->calls[b]);
  ck_assert_msg(r->finishes == 1 && r->at_finish == nb && r->finish_got == INC_OK,
                "%s: finish called %d times, after %d readies, with %s", what, r->finishes,
                r->at_finish, inc_status_string(r->finish_got));
}

/* ---- networks and data ---- */

static inline inc_layer *bound(inc_context *ctx, inc_layer *l, uint64_t seed, int channels)
{
  int64_t xd[4] = {N, channels, HW, HW}, od[INC_MAX_DIMS];
  int on;
  INC_CK(ctx, inc_context_set_seed(ctx, seed));
  INC_CK(ctx, inc_layer_infer_shape(l, 4, xd, &on, od));
  return l;
}

static inline inc_layer *googlenet(inc_context *ctx, uint64_t seed)
{
  inc_layer *l;
  INC_CK(ctx, inc_googlenet_create(ctx, CLASSES, &l));
  return bound(ctx, l, seed, 1);
}

/* conv 3x3 (4) > relu > inception(2, (2, 3), (1, 2), 2) > gap > flatten > dense, unbound */
static inline inc_layer *small(inc_context *ctx)
{
  inc_layer *seq, *l;
  INC_CK(ctx, inc_sequential_create(ctx, &seq));
  INC_CK(ctx, inc_conv2d_create(ctx, 4, 3, 1, 1, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_relu_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_inception_create(ctx, 2, 2, 3, 1, 2, 2, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_global_avg_pool2d_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_flatten_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_dense_create(ctx, CLASSES, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  return seq;
}

static inline inc_tensor *input(inc_context *ctx, int channels)
{
  int64_t xd[4] = {N, channels, HW, HW};
  float h[N * 3 * HW * HW];
  tu_fill(h, N * channels * HW * HW, 5, -1, 1);
  return tu_tensor(ctx, 4, xd, h);
}

/* A training forward, the loss gradient and a backward (with dx when
 * want_dx); returns the backward's status. */
static inline inc_status fwd_bwd(inc_context *ctx, inc_layer *net, const inc_tensor *x,
                                 int want_dx)
{
  const inc_tensor *y, *dx;
  int64_t ld[2] = {N, CLASSES};
  inc_tensor *dl = tu_tensor(ctx, 2, ld, NULL);
  float loss;
  INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
  INC_CK(ctx, inc_softmax_cross_entropy(ctx, y, LABELS, &loss, dl, NULL));
  inc_status s = inc_layer_backward(net, dl, want_dx ? &dx : NULL);
  inc_tensor_destroy(dl);
  return s;
}

/* Every parameter's gradient (grad 1) or value (0), on the host, in order. */
static inline float *all(const inc_layer *l, int grad, int64_t *n)
{
  int64_t total = inc_layer_param_numel(l), at = 0;
  float *h = (float *)malloc((size_t)total * sizeof(float) + 1);
  for (int i = 0; i < inc_layer_param_count(l); i++) {
    inc_tensor *v, *g;
    ck_assert_int_eq(inc_layer_param(l, i, NULL, &v, &g), INC_OK);
    inc_tensor *t = grad ? g : v;
    ck_assert_int_eq(inc_tensor_copy_to_host(t, h + at, inc_tensor_numel(t)), INC_OK);
    at += inc_tensor_numel(t);
  }
  *n = total;
  return h;
}

/* The gradients (grad 1) or values of a and b are the same bits (b's
 * times `factor`, exact for a power of two). */
static inline void same(const inc_layer *a, const inc_layer *b, int grad, float factor,
                        const char *what)
{
  int64_t na, nb;
  float *ha = all(a, grad, &na), *hb = all(b, grad, &nb);
  ck_assert_int_eq(na, nb);
  for (int64_t i = 0; i < na; i++) hb[i] *= factor;
  int64_t i = 0;
  while (i < na && !memcmp(&ha[i], &hb[i], sizeof(float))) i++;
  ck_assert_msg(i == na, "%s: element %lld is %.9g, the twin's %.9g", what, (long long)i,
                (double)ha[i < na ? i : 0], (double)hb[i < na ? i : 0]);
  free(ha);
  free(hb);
}

/* Sets every gradient of l to v. */
static inline void fill_grads(inc_layer *l, float v)
{
  for (int i = 0; i < inc_layer_param_count(l); i++) {
    inc_tensor *g;
    ck_assert_int_eq(inc_layer_param(l, i, NULL, NULL, &g), INC_OK);
    int64_t n = inc_tensor_numel(g);
    float *h = (float *)malloc((size_t)n * sizeof(float));
    for (int64_t j = 0; j < n; j++) h[j] = v;
    ck_assert_int_eq(inc_tensor_copy_from_host(g, h, n), INC_OK);
    free(h);
  }
}

/* Every bucket ready gave r: its parameters' gradient tensors are views of
 * it at their places and, where r copied it at ready time, it held their
 * final values then. */
static inline void check_views(inc_context *ctx, const inc_layer *net, const rec *r)
{
  for (int b = 0; b < inc_layer_grad_bucket_count(net); b++) {
    int64_t c;
    int first, n;
    INC_CK(ctx, inc_layer_grad_bucket(net, b, &c, &first, &n));
    ck_assert_int_eq(r->count[b], c);
    const float *at = r->grad[b];
    for (int i = first; i > first - n; i--) {
      inc_tensor *g;
      INC_CK(ctx, inc_layer_param(net, i, NULL, NULL, &g));
      ck_assert_msg(g->data == at, "bucket %d: parameter %d's gradient is not at its place", b,
                    i);
      if (r->copied) {
        float *h = tu_host(g);
        ck_assert_msg(!memcmp(h, r->snap[b] + (at - r->grad[b]),
                              (size_t)inc_tensor_numel(g) * sizeof(float)),
                      "bucket %d: parameter %d's gradient changed after ready", b, i);
        free(h);
      }
      at += inc_tensor_numel(g);
    }
    ck_assert_int_eq(at - r->grad[b], c);
  }
}

#endif /* INC_TEST_GRAD_HOOK_UTIL_H */
