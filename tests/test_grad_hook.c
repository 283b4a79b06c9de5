/*
 * test_grad_hook.c — the data-parallel hooks (inc_layer_set_grad_hook):
 * gradient buckets and their callbacks, on the CPU and, where a CUDA module
 * is usable (a GPU, or the emulated runtime of make check-cuda-emu), on
 * CUDA too.
 *
 * What an outside communicator relies on, each checked against a twin
 * network without a hook (same seed, same data):
 *   - the hook changes nothing: gradients and, after SGD steps, weights are
 *     bit for bit those of the twin (GoogLeNet, batch 2);
 *   - the layout: buckets of the parameters in reverse order, packed
 *     greedily up to bucket_bytes (one parameter each when tiny, one bucket
 *     when huge), counts summing to inc_layer_param_numel, and every
 *     gradient tensor a view of its bucket at its place;
 *   - ready: once per bucket and backward, before finish, with the bucket's
 *     final values (copied at ready time on the callback's stream), bucket
 *     0 while the first layer's gradient is still unwritten; a ready that
 *     halves its bucket in place halves what the optimizer reads;
 *   - errors from ready and finish, and a device fault (emulated runtime),
 *     reach the caller and finish; a layout rebuilt after a rebind or a new
 *     child; the hook removed (gradients keep their values); a second
 *     backward and one without dx; hooks on a child and on its tree; a
 *     parameter no backward step writes; destruction (no leak: ASan,
 *     valgrind and, on CUDA, the emulator's count of device memory).
 * Copies from and to CUDA memory inside a callback go through the emulated
 * runtime; on a real GPU (no runtime linked here) those checks are skipped.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cuda_util.h"
#include "plan.h"

enum { MAXB = 256, N = 2, HW = 32, CLASSES = 10 };
static const int32_t LABELS[N] = {3, 7};
static int cuda_kind; /* tu_cuda_probe: 0 none, 1 GPU, 2 emulated */

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

static void rec_reset(rec *r)
{
  for (int b = 0; b < MAXB; b++) free(r->snap[b]);
  memset(r, 0, sizeof *r);
  r->fail_bucket = -1;
}

/* Copies n floats between host memory and the context's, in order with the
 * work on stream: memcpy on the CPU (stream NULL), the emulated runtime's
 * copy on CUDA. 0, and nothing done, on a real GPU. */
static int xfer(void *stream, float *dst, const float *src, int64_t n, int to_device)
{
  size_t bytes = (size_t)n * sizeof(float);
  if (!stream) {
    memcpy(dst, src, bytes);
    return 1;
  }
  const tu_cudaemu *e = tu_emu();
  if (!e) return 0;
  ck_assert_int_eq(e->memcpy_async(dst, src, bytes,
                                   to_device ? TU_cudaMemcpyHostToDevice : TU_cudaMemcpyDeviceToHost,
                                   stream), TU_cudaSuccess);
  ck_assert_int_eq(e->stream_sync(stream), TU_cudaSuccess);
  return 1;
}

static inc_status on_ready(void *user, int b, float *grad, int64_t count, void *stream)
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

static inc_status on_finish(void *user, inc_status s, void *stream)
{
  rec *r = (rec *)user;
  (void)stream;
  r->finishes++;
  r->finish_got = s;
  r->at_finish = r->n;
  return r->finish_ret;
}

static void set_hook(inc_context *ctx, inc_layer *l, int64_t bytes, rec *r)
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
static void each_once(const inc_layer *l, const rec *r, const char *what)
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

static inc_layer *bound(inc_context *ctx, inc_layer *l, uint64_t seed, int channels)
{
  int64_t xd[4] = {N, channels, HW, HW}, od[INC_MAX_DIMS];
  int on;
  INC_CK(ctx, inc_context_set_seed(ctx, seed));
  INC_CK(ctx, inc_layer_infer_shape(l, 4, xd, &on, od));
  return l;
}

static inc_layer *googlenet(inc_context *ctx, uint64_t seed)
{
  inc_layer *l;
  INC_CK(ctx, inc_googlenet_create(ctx, CLASSES, &l));
  return bound(ctx, l, seed, 1);
}

/* conv 3x3 (4) > relu > inception(2, (2, 3), (1, 2), 2) > gap > flatten > dense, unbound */
static inc_layer *small(inc_context *ctx)
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

static inc_tensor *input(inc_context *ctx, int channels)
{
  int64_t xd[4] = {N, channels, HW, HW};
  float h[N * 3 * HW * HW];
  tu_fill(h, N * channels * HW * HW, 5, -1, 1);
  return tu_tensor(ctx, 4, xd, h);
}

/* A training forward, the loss gradient and a backward (with dx when
 * want_dx); returns the backward's status. */
static inc_status fwd_bwd(inc_context *ctx, inc_layer *net, const inc_tensor *x, int want_dx)
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
static float *all(const inc_layer *l, int grad, int64_t *n)
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
static void same(const inc_layer *a, const inc_layer *b, int grad, float factor, const char *what)
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
static void fill_grads(inc_layer *l, float v)
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
static void check_views(inc_context *ctx, const inc_layer *net, const rec *r)
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

/* ---- the tests ---- */

/* A hook that only watches changes nothing: gradients of one step, then
 * weights after SGD steps with momentum, are the twin's bit for bit. */
START_TEST(test_same_as_without)
{
  inc_context *ctx = tu_backend(_i);
  inc_layer *a = googlenet(ctx, 7), *b = googlenet(ctx, 7);
  static rec r;
  rec_reset(&r);
  set_hook(ctx, b, 256 << 10, &r);
  inc_tensor *x = input(ctx, 1);
  inc_optimizer *oa, *ob;
  INC_CK(ctx, inc_sgd_create(ctx, 0.05f, 0.9f, 1e-4f, &oa));
  INC_CK(ctx, inc_sgd_create(ctx, 0.05f, 0.9f, 1e-4f, &ob));
  for (int it = 0; it < 2; it++) {
    rec_reset(&r);
    INC_CK(ctx, fwd_bwd(ctx, a, x, 1));
    INC_CK(ctx, fwd_bwd(ctx, b, x, 1));
    each_once(b, &r, "googlenet");
    ck_assert_int_gt(r.n, 4);
    same(b, a, 1, 1.0f, "gradients");
    INC_CK(ctx, inc_optimizer_step(oa, a));
    INC_CK(ctx, inc_optimizer_step(ob, b));
  }
  same(b, a, 0, 1.0f, "weights after two SGD steps");
  inc_optimizer_destroy(oa);
  inc_optimizer_destroy(ob);
  inc_tensor_destroy(x);
  inc_layer_destroy(a);
  inc_layer_destroy(b);
  rec_reset(&r);
  tu_backend_done(ctx, _i);
}
END_TEST

/* The layout for several bucket sizes, from the queries alone. */
START_TEST(test_layout)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net;
  INC_CK(ctx, inc_googlenet_create(ctx, CLASSES, &net));
  static rec r;
  rec_reset(&r);
  set_hook(ctx, net, 1, &r);
  int64_t c = -5;
  ck_assert_int_eq(inc_layer_grad_bucket_count(net), 0); /* unbound */
  ck_assert_int_eq(inc_layer_grad_bucket(net, 0, &c, NULL, NULL), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(c, -5);
  bound(ctx, net, 1, 1);
  const int np = inc_layer_param_count(net);
  inc_tensor *w, *bias; /* the classifier's */
  INC_CK(ctx, inc_layer_param(net, np - 2, NULL, NULL, &w));
  INC_CK(ctx, inc_layer_param(net, np - 1, NULL, NULL, &bias));
  const int64_t exact = 4 * (inc_tensor_numel(w) + inc_tensor_numel(bias));
  const int64_t sizes[] = {1, 4096, exact, 256 << 10, 1 << 20, 0, INC_GRAD_BUCKET_DEFAULT_BYTES,
                           (int64_t)1 << 40};
  for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
    const int64_t bytes = sizes[k] ? sizes[k] : INC_GRAD_BUCKET_DEFAULT_BYTES;
    set_hook(ctx, net, sizes[k], &r);
    const int nb = inc_layer_grad_bucket_count(net);
    int64_t total = 0;
    int next = np - 1; /* the parameter the next bucket starts with */
    for (int b = 0; b < nb; b++) {
      int first = -1, n = -1;
      INC_CK(ctx, inc_layer_grad_bucket(net, b, &c, &first, &n));
      ck_assert_msg(first == next && n >= 1, "%lld bytes, bucket %d: parameters %d (%d of them), "
                    "expected to start at %d", (long long)bytes, b, first, n, next);
      int64_t sum = 0;
      for (int i = first; i > first - n; i--) {
        inc_tensor *g;
        INC_CK(ctx, inc_layer_param(net, i, NULL, NULL, &g));
        sum += inc_tensor_numel(g);
      }
      ck_assert_int_eq(c, sum);
      ck_assert_msg(n == 1 || c * 4 <= bytes, "bucket %d of %lld bytes holds %lld", b,
                    (long long)bytes, (long long)c * 4);
      next = first - n;
      if (b + 1 < nb) { /* greedy: the next parameter would not have fitted */
        inc_tensor *g;
        INC_CK(ctx, inc_layer_param(net, next, NULL, NULL, &g));
        ck_assert((c + inc_tensor_numel(g)) * 4 > bytes);
      }
      total += c;
    }
    ck_assert_int_eq(next, -1);
    ck_assert_int_eq(total, inc_layer_param_numel(net));
    if (bytes == 1) ck_assert_int_eq(nb, np);
    if (bytes == exact) { /* the classifier fills bucket 0 exactly */
      int n;
      INC_CK(ctx, inc_layer_grad_bucket(net, 0, &c, NULL, &n));
      ck_assert_int_eq(n, 2);
      ck_assert_int_eq(c * 4, exact);
    }
    if (bytes >= (int64_t)1 << 30 || !sizes[k]) ck_assert_int_eq(nb, 1); /* 5.98M floats */
    ck_assert_int_eq(inc_layer_grad_bucket(net, nb, &c, NULL, NULL), INC_ERR_INVALID_ARGUMENT);
  }
  INC_CK(ctx, inc_layer_set_grad_hook(net, NULL));
  ck_assert_int_eq(inc_layer_grad_bucket_count(net), 0);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

/* ready's buckets: the gradient tensors are views of them at their place,
 * their contents at ready time are the final gradients, and bucket 0 is
 * ready while later ones wait and the first layer's gradient is unwritten. */
START_TEST(test_ready_buckets)
{
  inc_context *ctx = tu_backend(_i);
  inc_layer *net = googlenet(ctx, 3);
  static rec r;
  rec_reset(&r);
  set_hook(ctx, net, 256 << 10, &r);
  inc_tensor *x = input(ctx, 1);
  const inc_tensor *y;
  INC_CK(ctx, inc_layer_forward(net, x, 1, &y)); /* builds the layout */
  const float SENTINEL = 12345.0f;
  fill_grads(net, SENTINEL);
  inc_tensor *g0;
  INC_CK(ctx, inc_layer_param(net, 0, NULL, NULL, &g0));
  r.probe = g0->data; /* the first convolution's weight gradient: computed last */
  r.snapshot = 1;
  INC_CK(ctx, fwd_bwd(ctx, net, x, 1));
  each_once(net, &r, "googlenet");
  const int nb = r.n;
  ck_assert_msg(r.before0 < nb - 1, "bucket 0 was ready after %d of %d buckets", r.before0, nb);
  ck_assert_int_eq(r.order[nb - 1], nb - 1); /* the first layer's bucket completes last */
  if (r.copied)
    ck_assert_msg(r.probe_at0 == SENTINEL, "the first layer's gradient was written (%g) before "
                  "bucket 0 was ready", (double)r.probe_at0);
  check_views(ctx, net, &r);
  if (!r.copied) printf("grad_hook: bucket contents at ready time not checked on a real GPU\n");
  inc_tensor_destroy(x);
  inc_layer_destroy(net);
  rec_reset(&r);
  tu_backend_done(ctx, _i);
}
END_TEST

/* A ready that halves its bucket in place halves the gradients the
 * optimizer reads: SGD at lr then equals the twin's SGD at lr / 2. */
START_TEST(test_scaled_in_place)
{
  inc_context *ctx = tu_backend(_i);
  inc_layer *a = bound(ctx, small(ctx), 9, 3), *b = bound(ctx, small(ctx), 9, 3);
  static rec r;
  rec_reset(&r);
  set_hook(ctx, b, 64, &r);
  r.scale = 0.5f;
  inc_tensor *x = input(ctx, 3);
  INC_CK(ctx, fwd_bwd(ctx, a, x, 1));
  INC_CK(ctx, fwd_bwd(ctx, b, x, 0));
  if (!r.copied) {
    printf("grad_hook: in-place scaling not checked on a real GPU\n");
  } else {
    each_once(b, &r, "small net");
    same(b, a, 1, 0.5f, "halved gradients");
    inc_optimizer *oa, *ob;
    INC_CK(ctx, inc_sgd_create(ctx, 0.05f, 0.0f, 0.0f, &oa));
    INC_CK(ctx, inc_sgd_create(ctx, 0.1f, 0.0f, 0.0f, &ob));
    INC_CK(ctx, inc_optimizer_step(oa, a));
    INC_CK(ctx, inc_optimizer_step(ob, b));
    same(b, a, 0, 1.0f, "weights after a step on the halved gradients");
    inc_optimizer_destroy(oa);
    inc_optimizer_destroy(ob);
  }
  inc_tensor_destroy(x);
  inc_layer_destroy(a);
  inc_layer_destroy(b);
  rec_reset(&r);
  tu_backend_done(ctx, _i);
}
END_TEST

/* Errors of ready, of finish and of the device reach the caller and finish. */
START_TEST(test_errors)
{
  inc_context *ctx = tu_backend(_i);
  inc_layer *net = bound(ctx, small(ctx), 2, 3);
  static rec r;
  rec_reset(&r);
  set_hook(ctx, net, 64, &r);
  inc_tensor *x = input(ctx, 3);
  r.fail_bucket = 2;
  r.fail_status = INC_ERR_IO;
  ck_assert_int_eq(fwd_bwd(ctx, net, x, 1), INC_ERR_IO);
  const char *m = inc_context_last_error(ctx);
  ck_assert_msg(strstr(m, "gradient hook") && strstr(m, "bucket 2"), "message: %s", m);
  ck_assert_int_eq(r.order[r.n - 1], 2); /* the backward stopped there */
  ck_assert_int_eq(r.finishes, 1);
  ck_assert_int_eq(r.finish_got, INC_ERR_IO);
  rec_reset(&r);
  r.finish_ret = INC_ERR_STATE;
  ck_assert_int_eq(fwd_bwd(ctx, net, x, 1), INC_ERR_STATE);
  ck_assert_msg(strstr(inc_context_last_error(ctx), "finish"), "message: %s",
                inc_context_last_error(ctx));
  ck_assert_int_eq(r.n, inc_layer_grad_bucket_count(net)); /* every ready came first */
  rec_reset(&r);
  INC_CK(ctx, fwd_bwd(ctx, net, x, 1));
  each_once(net, &r, "after the errors");
  const tu_cudaemu *emu = _i ? tu_emu() : NULL;
  if (emu) { /* a kernel launch of the backward fails (a passing error) */
    const inc_tensor *y;
    INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
    int64_t ld[2] = {N, CLASSES};
    inc_tensor *dl = tu_tensor(ctx, 2, ld, NULL);
    float loss;
    INC_CK(ctx, inc_softmax_cross_entropy(ctx, y, LABELS, &loss, dl, NULL));
    emu->fault_arm(TU_CALL_LAUNCH, 3, TU_cudaErrorInvalidValue, 0, 0);
    rec_reset(&r);
    ck_assert_int_eq(inc_layer_backward(net, dl, NULL), INC_ERR_DEVICE);
    emu->fault_arm(0, 0, 0, 0, 0);
    ck_assert_int_eq(r.finishes, 1);
    ck_assert_int_eq(r.finish_got, INC_ERR_DEVICE);
    ck_assert_int_lt(r.n, inc_layer_grad_bucket_count(net));
    inc_tensor_destroy(dl);
  }
  inc_tensor_destroy(x);
  inc_layer_destroy(net);
  rec_reset(&r);
  tu_backend_done(ctx, _i);
}
END_TEST

/* Layouts rebuilt: after an unbind and a binding to other channels, and
 * after a new child; the gradients stay the twin's. */
START_TEST(test_rebuilt)
{
  inc_context *ctx = tu_backend(_i);
  inc_layer *a = small(ctx), *b = small(ctx);
  static rec r;
  rec_reset(&r);
  set_hook(ctx, b, 64, &r); /* unbound */
  ck_assert_int_eq(inc_layer_grad_bucket_count(b), 0);
  int64_t c1, c3;
  int first, n;
  inc_tensor *x1 = input(ctx, 1), *x3 = input(ctx, 3);
  bound(ctx, a, 4, 1);
  bound(ctx, b, 4, 1);
  fill_grads(b, 0.75f); /* moved into the buckets with their values: */
  const inc_tensor *y, *dx;
  INC_CK(ctx, inc_layer_forward(b, x1, 1, &y));
  int64_t ng;
  float *g = all(b, 1, &ng);
  for (int64_t i = 0; i < ng; i++) ck_assert_msg(g[i] == 0.75f, "gradient %lld lost", (long long)i);
  free(g);
  INC_CK(ctx, fwd_bwd(ctx, b, x1, 1));
  INC_CK(ctx, fwd_bwd(ctx, a, x1, 1));
  each_once(b, &r, "one channel");
  same(b, a, 1, 1.0f, "gradients, one channel");
  const int nb = inc_layer_grad_bucket_count(b);
  INC_CK(ctx, inc_layer_grad_bucket(b, nb - 1, &c1, &first, &n)); /* holds the first conv */
  INC_CK(ctx, inc_layer_unbind(a));
  INC_CK(ctx, inc_layer_unbind(b));
  ck_assert_int_eq(inc_layer_grad_bucket_count(b), 0);
  bound(ctx, a, 4, 3);
  bound(ctx, b, 4, 3);
  ck_assert_int_eq(inc_layer_grad_bucket_count(b), nb);
  INC_CK(ctx, inc_layer_grad_bucket(b, nb - 1, &c3, &first, &n));
  ck_assert_int_eq(c3 - c1, 2 * 4 * 3 * 3); /* two more input channels of a 3x3 conv (4) */
  rec_reset(&r);
  INC_CK(ctx, fwd_bwd(ctx, b, x3, 1));
  INC_CK(ctx, fwd_bwd(ctx, a, x3, 1));
  each_once(b, &r, "three channels");
  ck_assert_int_eq(r.count[nb - 1], c3);
  same(b, a, 1, 1.0f, "gradients, three channels");
  inc_layer *l; /* a new child with parameters: dense 4 after the classifier */
  INC_CK(ctx, inc_dense_create(ctx, 4, &l));
  INC_CK(ctx, inc_sequential_append(a, l));
  INC_CK(ctx, inc_dense_create(ctx, 4, &l));
  INC_CK(ctx, inc_sequential_append(b, l));
  bound(ctx, a, 11, 3); /* binds the new child, from the same seed in both */
  bound(ctx, b, 11, 3);
  ck_assert_int_gt(inc_layer_grad_bucket_count(b), nb);
  int64_t ld[2] = {N, 4};
  inc_tensor *dl = tu_tensor(ctx, 2, ld, NULL);
  float h[N * 4];
  tu_fill(h, N * 4, 8, -1, 1);
  INC_CK(ctx, inc_tensor_copy_from_host(dl, h, N * 4));
  rec_reset(&r);
  INC_CK(ctx, inc_layer_forward(b, x3, 1, &y));
  INC_CK(ctx, inc_layer_backward(b, dl, &dx));
  INC_CK(ctx, inc_layer_forward(a, x3, 1, &y));
  INC_CK(ctx, inc_layer_backward(a, dl, &dx));
  each_once(b, &r, "a new child");
  same(b, a, 1, 1.0f, "gradients with the new child");
  inc_tensor_destroy(dl);
  inc_tensor_destroy(x1);
  inc_tensor_destroy(x3);
  inc_layer_destroy(a);
  inc_layer_destroy(b);
  rec_reset(&r);
  tu_backend_done(ctx, _i);
}
END_TEST

/* The hook removed: the gradients keep their values in memory of their own
 * (no bucket any more), later backwards call nothing; set again, it works. */
START_TEST(test_removed)
{
  inc_context *ctx = tu_backend(_i);
  inc_layer *a = bound(ctx, small(ctx), 6, 3), *b = bound(ctx, small(ctx), 6, 3);
  static rec r;
  rec_reset(&r);
  set_hook(ctx, b, 128, &r);
  inc_tensor *x = input(ctx, 3);
  INC_CK(ctx, fwd_bwd(ctx, b, x, 1));
  INC_CK(ctx, fwd_bwd(ctx, a, x, 1));
  const int nb = r.n;
  INC_CK(ctx, inc_layer_set_grad_hook(b, NULL));
  ck_assert_int_eq(inc_layer_grad_bucket_count(b), 0);
  same(b, a, 1, 1.0f, "gradients after the hook was removed");
  for (int i = 0; i < inc_layer_param_count(b); i++) {
    inc_tensor *g;
    INC_CK(ctx, inc_layer_param(b, i, NULL, NULL, &g));
    for (int k = 0; k < nb; k++)
      ck_assert_msg(g->data < r.grad[k] || g->data >= r.grad[k] + r.count[k],
                    "parameter %d's gradient still lies in bucket %d", i, k);
  }
  INC_CK(ctx, inc_layer_set_grad_hook(b, NULL)); /* no hook: a no-op */
  rec_reset(&r);
  INC_CK(ctx, fwd_bwd(ctx, b, x, 1));
  ck_assert_int_eq(r.n + r.finishes, 0);
  set_hook(ctx, b, 128, &r);
  INC_CK(ctx, fwd_bwd(ctx, b, x, 1));
  INC_CK(ctx, fwd_bwd(ctx, a, x, 1));
  each_once(b, &r, "set again");
  same(b, a, 1, 1.0f, "gradients with the hook set again");
  inc_tensor_destroy(x);
  inc_layer_destroy(a);
  inc_layer_destroy(b);
  rec_reset(&r);
  tu_backend_done(ctx, _i);
}
END_TEST

/* A further backward of the same forward, and one without dx, call every
 * ready again, with the same gradients. */
START_TEST(test_backward_again)
{
  inc_context *ctx = tu_backend(_i);
  inc_layer *a = bound(ctx, small(ctx), 8, 3), *b = bound(ctx, small(ctx), 8, 3);
  static rec r;
  rec_reset(&r);
  set_hook(ctx, b, 64, &r);
  inc_tensor *x = input(ctx, 3);
  INC_CK(ctx, fwd_bwd(ctx, a, x, 1));
  INC_CK(ctx, fwd_bwd(ctx, b, x, 0));
  each_once(b, &r, "without dx");
  same(b, a, 1, 1.0f, "gradients without dx");
  int64_t ld[2] = {N, CLASSES};
  inc_tensor *dl = tu_tensor(ctx, 2, ld, NULL);
  const inc_tensor *y, *dx;
  float loss;
  INC_CK(ctx, inc_layer_forward(b, x, 1, &y));
  INC_CK(ctx, inc_softmax_cross_entropy(ctx, y, LABELS, &loss, dl, NULL));
  for (int k = 0; k < 3; k++) { /* the second and third run the forward again */
    rec_reset(&r);
    INC_CK(ctx, inc_layer_backward(b, dl, k == 1 ? NULL : &dx));
    each_once(b, &r, k ? "a further backward" : "the first backward");
    same(b, a, 1, 1.0f, "gradients of a further backward");
  }
  inc_tensor_destroy(dl);
  inc_tensor_destroy(x);
  inc_layer_destroy(a);
  inc_layer_destroy(b);
  rec_reset(&r);
  tu_backend_done(ctx, _i);
}
END_TEST

/* A hook on a child fires for the child's own backward only; hooks on both
 * the tree and the child each take the gradients over when they run. */
START_TEST(test_child_and_tree)
{
  inc_context *ctx = tu_cpu();
  inc_layer *a = bound(ctx, small(ctx), 5, 3), *b = bound(ctx, small(ctx), 5, 3);
  inc_layer *child = inc_layer_child(b, 0); /* the first convolution */
  static rec rc, rt;
  rec_reset(&rc);
  rec_reset(&rt);
  set_hook(ctx, child, 0, &rc);
  inc_tensor *x = input(ctx, 3);
  int64_t cd[4] = {N, 4, HW, HW};
  float *h = (float *)malloc(N * 4 * HW * HW * sizeof(float));
  tu_fill(h, N * 4 * HW * HW, 6, -1, 1);
  inc_tensor *dyc = tu_tensor(ctx, 4, cd, h); /* the child's output gradient */
  free(h);
  INC_CK(ctx, fwd_bwd(ctx, b, x, 1));
  ck_assert_int_eq(rc.n + rc.finishes, 0); /* the tree's backward: not the child's hook */
  const inc_tensor *y, *dx;
  INC_CK(ctx, inc_layer_forward(child, x, 1, &y));
  INC_CK(ctx, inc_layer_backward(child, dyc, &dx));
  each_once(child, &rc, "the child's backward");
  set_hook(ctx, b, 64, &rt);
  for (int k = 0; k < 2; k++) {
    rec_reset(&rc);
    rec_reset(&rt);
    rc.snapshot = rt.snapshot = 1;
    INC_CK(ctx, fwd_bwd(ctx, b, x, 1));
    INC_CK(ctx, fwd_bwd(ctx, a, x, 1));
    each_once(b, &rt, "the tree's backward");
    ck_assert_int_eq(rc.n, 0);
    same(b, a, 1, 1.0f, "the tree's gradients");
    check_views(ctx, b, &rt); /* the tree's buckets hold the child's gradients again */
    INC_CK(ctx, inc_layer_forward(child, x, 1, &y));
    INC_CK(ctx, inc_layer_backward(child, dyc, &dx));
    each_once(child, &rc, "the child's backward");
    check_views(ctx, child, &rc);
  }
  inc_tensor_destroy(dyc);
  inc_tensor_destroy(x);
  inc_layer_destroy(a);
  inc_layer_destroy(b);
  rec_reset(&rc);
  rec_reset(&rt);
  inc_context_destroy(ctx);
}
END_TEST

/* A layer whose parameter no backward step writes (a frozen layer: y = x,
 * no step at all): its bucket is final from the start. */
static const inc__tensor_decl frozen_tensors[] = {
    {"w", 1, 1, {INC__DIM_IN}, INC__INIT_ONES, 0.0f}, {NULL, 0, 0, {0}, INC__INIT_ZEROS, 0.0f}};

static inc_status frozen_infer(inc_layer *l, const inc__shape *in, inc__shape *out, int bind)
{
  if (bind && !l->bound) {
    inc_status s = inc__layer_bind(l, in->d[1]);
    if (s != INC_OK) return s;
  }
  return inc__identity_vt.infer(l, in, out, bind);
}

START_TEST(test_no_step)
{
  inc_context *ctx = tu_cpu();
  inc__layer_vt frozen_vt = inc__identity_vt;
  frozen_vt.kind = "frozen";
  frozen_vt.infer = frozen_infer;
  frozen_vt.tensors = frozen_tensors;
  inc_layer *net = small(ctx), *l;
  INC_CK(ctx, inc__layer_new(ctx, &frozen_vt, 0, &l));
  /* after the ReLU of the inception block's first branch */
  INC_CK(ctx, inc_sequential_append(inc_layer_child(inc_layer_child(net, 2), 0), l));
  bound(ctx, net, 3, 3);
  static rec r;
  rec_reset(&r);
  set_hook(ctx, net, 1, &r); /* a bucket per parameter */
  inc_tensor *x = input(ctx, 3);
  fill_grads(net, 0.25f);
  INC_CK(ctx, fwd_bwd(ctx, net, x, 1));
  each_once(net, &r, "with a frozen layer");
  int frozen = -1; /* its parameter's bucket */
  for (int b = 0; b < r.n; b++) {
    int first;
    INC_CK(ctx, inc_layer_grad_bucket(net, b, NULL, &first, NULL));
    const char *name;
    INC_CK(ctx, inc_layer_param(net, first, &name, NULL, NULL));
    if (!strcmp(name + strlen(name) - 2, ".w")) frozen = b;
  }
  ck_assert_int_ge(frozen, 0);
  ck_assert_int_eq(r.order[0], frozen); /* before any step */
  ck_assert(r.grad[frozen][0] == 0.25f); /* untouched */
  inc_tensor_destroy(x);
  inc_layer_destroy(net);
  rec_reset(&r);
  inc_context_destroy(ctx);
}
END_TEST

/* Destroying hooked layers in every state leaves nothing behind (the leak
 * checkers; on CUDA, the emulator's live device memory). */
START_TEST(test_destroy)
{
  inc_context *ctx = tu_backend(_i);
  static rec r;
  rec_reset(&r);
  inc_tensor *x = input(ctx, 3);
  inc_layer *l[4] = {small(ctx), small(ctx), small(ctx), small(ctx)};
  for (int k = 0; k < 4; k++) set_hook(ctx, l[k], 64, &r);
  bound(ctx, l[1], 1, 3); /* bound, no layout yet */
  for (int k = 2; k < 4; k++) INC_CK(ctx, fwd_bwd(ctx, l[k], x, 1));
  INC_CK(ctx, inc_layer_unbind(l[2]));
  /* a hooked child of l[3] runs on its own: its buckets take its gradients */
  inc_layer *block = inc_layer_child(l[3], 2);
  set_hook(ctx, block, 64, &r);
  int64_t bd[4] = {N, 4, HW, HW};
  inc_tensor *xb = tu_tensor(ctx, 4, bd, NULL), *dyb;
  const inc_tensor *y, *dx;
  INC_CK(ctx, inc_layer_forward(block, xb, 1, &y));
  int64_t od[4] = {N, inc_tensor_dim(y, 1), HW, HW};
  dyb = tu_tensor(ctx, 4, od, NULL);
  INC_CK(ctx, inc_layer_backward(block, dyb, &dx));
  inc_tensor_destroy(xb);
  inc_tensor_destroy(dyb);
  for (int k = 0; k < 4; k++) inc_layer_destroy(l[k]);
  inc_tensor_destroy(x);
  rec_reset(&r);
  tu_backend_done(ctx, _i);
}
END_TEST

Suite *inc_test_suite_grad_hook(void)
{
  Suite *s = suite_create("grad_hook");
  char why[512];
  cuda_kind = tu_cuda_probe(why, sizeof why); /* before anything a child would inherit */
  const int backends = cuda_kind ? 2 : 1;
  if (!cuda_kind) printf("grad_hook: CUDA cases skipped: %s\n", why);
  TCase *tc = tcase_create("hooks");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_same_as_without, 0, backends);
  tcase_add_test(tc, test_layout);
  tcase_add_loop_test(tc, test_ready_buckets, 0, backends);
  tcase_add_loop_test(tc, test_scaled_in_place, 0, backends);
  tcase_add_loop_test(tc, test_errors, 0, backends);
  tcase_add_loop_test(tc, test_rebuilt, 0, backends);
  tcase_add_loop_test(tc, test_removed, 0, backends);
  tcase_add_loop_test(tc, test_backward_again, 0, backends);
  tcase_add_test(tc, test_child_and_tree);
  tcase_add_test(tc, test_no_step);
  tcase_add_loop_test(tc, test_destroy, 0, backends);
  suite_add_tcase(s, tc);
  return s;
}
