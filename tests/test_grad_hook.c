/*
 * test_grad_hook.c — the data-parallel hooks (inc_layer_set_grad_hook):
 * gradient buckets and their callbacks, on the CPU and, where a CUDA module
 * is usable (a GPU, or the emulated runtime of make check-cuda-emu), on
 * CUDA too. Their life cycle (rebuilt layouts, removal, further backwards,
 * nested hooks, destruction) is test_grad_hook_life.c.
 *
 * What an outside communicator relies on, checked against a twin network
 * without a hook (same seed, same data):
 *   - the hook changes nothing: gradients and, after SGD steps, weights are
 *     bit for bit those of the twin (GoogLeNet, batch 2);
 *   - the layout: buckets of the parameters in reverse order, packed
 *     greedily up to bucket_bytes (one parameter each when tiny, an exact
 *     fit, one bucket when huge), counts summing to inc_layer_param_numel,
 *     and every gradient tensor a view of its bucket at its place;
 *   - ready: once per bucket and backward, before finish, with the bucket's
 *     final values (copied at ready time on the callback's stream), bucket
 *     0 while the first layer's gradient is still unwritten; a ready that
 *     halves its bucket in place halves what the optimizer reads;
 *   - errors from ready and finish, and a device fault (emulated runtime),
 *     reach the caller and finish.
 */
#include "grad_hook_util.h"

static int cuda_kind; /* tu_cuda_probe: 0 none, 1 GPU, 2 emulated */

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
  suite_add_tcase(s, tc);
  return s;
}
