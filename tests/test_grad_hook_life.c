/*
 * test_grad_hook_life.c — the life cycle of the data-parallel hooks'
 * gradient buckets (test_grad_hook.c has their layout and callbacks), on
 * the CPU and, where a CUDA module is usable, on CUDA too: layouts rebuilt
 * (gradient values kept) after a rebind to other channels and after a new
 * child; the hook removed (the gradients keep their values in memory of
 * their own); a further backward of the same forward and one without dx;
 * hooks on a child and on its tree; a parameter that no backward step
 * writes; destruction in every state (no leak: ASan, valgrind and, on CUDA,
 * the emulator's count of live device memory).
 */
#include "grad_hook_util.h"

static int cuda_kind; /* tu_cuda_probe: 0 none, 1 GPU, 2 emulated */

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

Suite *inc_test_suite_grad_hook_life(void)
{
  Suite *s = suite_create("grad_hook_life");
  char why[512];
  cuda_kind = tu_cuda_probe(why, sizeof why); /* before anything a child would inherit */
  const int backends = cuda_kind ? 2 : 1;
  if (!cuda_kind) printf("grad_hook_life: CUDA cases skipped: %s\n", why);
  TCase *tc = tcase_create("life");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_rebuilt, 0, backends);
  tcase_add_loop_test(tc, test_removed, 0, backends);
  tcase_add_loop_test(tc, test_backward_again, 0, backends);
  tcase_add_test(tc, test_child_and_tree);
  tcase_add_test(tc, test_no_step);
  tcase_add_loop_test(tc, test_destroy, 0, backends);
  suite_add_tcase(s, tc);
  return s;
}
