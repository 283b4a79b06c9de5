/*
 * test_train.c — the training primitives: softmax cross-entropy against a
 * double reference, SGD against PyTorch's update rule computed by hand, and
 * a small Inception net whose loss falls on a synthetic task.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

START_TEST(test_softmax_ce_reference)
{
  inc_context *ctx = tu_cpu();
  enum { N = 5, K = 7 };
  float lg[N * K];
  tu_fill(lg, N * K, 4, -3, 3);
  lg[3] = 80.0f; /* large logits stay finite */
  lg[K + 2] = -90.0f;
  int32_t lab[N] = {3, 0, 6, 2, 2};
  int64_t dims[2] = {N, K};
  inc_tensor *t = tu_tensor(ctx, 2, dims, lg), *d = tu_tensor(ctx, 2, dims, NULL);
  float loss;
  int64_t correct;
  INC_CK(ctx, inc_softmax_cross_entropy(ctx, t, lab, &loss, d, &correct));
  double ref = 0, gref[N * K];
  int64_t cref = 0;
  for (int r = 0; r < N; r++) {
    double m = lg[r * K];
    int am = 0;
    for (int j = 1; j < K; j++)
      if (lg[r * K + j] > m) { m = lg[r * K + j]; am = j; }
    double s = 0;
    for (int j = 0; j < K; j++) s += exp(lg[r * K + j] - m);
    ref += (m + log(s) - lg[r * K + lab[r]]) / N;
    for (int j = 0; j < K; j++)
      gref[r * K + j] = (exp(lg[r * K + j] - m) / s - (j == lab[r])) / N;
    cref += am == lab[r];
  }
  ck_assert_msg(fabs(loss - ref) < 1e-5 * (1 + fabs(ref)), "loss %g vs %g", loss, ref);
  ck_assert_int_eq(correct, cref);
  float *g = tu_host(d);
  for (int i = 0; i < N * K; i++) ck_assert_msg(fabs(g[i] - gref[i]) < 1e-6, "dlogits[%d]", i);
  /* labels out of range, wrong shapes */
  int32_t badlab[N] = {0, 1, 7, 0, 0};
  ck_assert_int_eq(inc_softmax_cross_entropy(ctx, t, badlab, &loss, d, NULL),
                   INC_ERR_INVALID_ARGUMENT);
  ck_assert(strstr(inc_context_last_error(ctx), "label 7 of row 2 is outside [0, 7)") != NULL);
  badlab[2] = -1;
  ck_assert_int_eq(inc_softmax_cross_entropy(ctx, t, badlab, &loss, NULL, NULL),
                   INC_ERR_INVALID_ARGUMENT);
  int64_t d3[3] = {N, K, 1};
  inc_tensor *t3 = tu_tensor(ctx, 3, d3, NULL);
  ck_assert_int_eq(inc_softmax_cross_entropy(ctx, t3, lab, &loss, NULL, NULL), INC_ERR_SHAPE);
  ck_assert_int_eq(inc_softmax_cross_entropy(ctx, t, lab, &loss, t3, NULL), INC_ERR_SHAPE);
  ck_assert_int_eq(inc_softmax_cross_entropy(ctx, t, NULL, &loss, NULL, NULL),
                   INC_ERR_INVALID_ARGUMENT);
  free(g);
  inc_tensor_destroy(t); inc_tensor_destroy(d); inc_tensor_destroy(t3);
  inc_context_destroy(ctx);
}
END_TEST

/* One dense layer; set its params and grads, step, compare with the rule
 * g = grad + wd*p; b = m*b + g (b = g first); p -= lr*b. */
START_TEST(test_sgd_rule)
{
  inc_context *ctx = tu_cpu();
  inc_layer *d;
  INC_CK(ctx, inc_dense_create(ctx, 3, &d));
  int64_t in[2] = {1, 4}, od[8];
  int on;
  INC_CK(ctx, inc_layer_infer_shape(d, 2, in, &on, od));
  const float lr = 0.1f, mom = 0.9f, wd = 0.01f;
  inc_optimizer *o;
  INC_CK(ctx, inc_sgd_create(ctx, lr, mom, wd, &o));
  inc_tensor *w, *g;
  INC_CK(ctx, inc_layer_param(d, 0, NULL, &w, &g));
  float p[12], gr[12];
  double pr[12], buf[12];
  tu_fill(p, 12, 1, -1, 1);
  INC_CK(ctx, inc_tensor_copy_from_host(w, p, 12));
  for (int i = 0; i < 12; i++) pr[i] = p[i];
  for (int step = 0; step < 3; step++) {
    tu_fill(gr, 12, 10 + step, -1, 1);
    INC_CK(ctx, inc_tensor_copy_from_host(g, gr, 12));
    INC_CK(ctx, inc_optimizer_step(o, d));
    for (int i = 0; i < 12; i++) {
      double gg = gr[i] + wd * pr[i];
      buf[i] = step == 0 ? gg : mom * buf[i] + gg;
      pr[i] -= lr * buf[i];
    }
  }
  float *now = tu_host(w);
  for (int i = 0; i < 12; i++) ck_assert_msg(fabs(now[i] - pr[i]) < 1e-6, "p[%d] %g vs %g", i, now[i], pr[i]);
  INC_CK(ctx, inc_optimizer_set_lr(o, 0.5f));
  ck_assert(inc_optimizer_lr(o) == 0.5f);
  ck_assert_int_eq(inc_optimizer_set_lr(o, -1.0f), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_optimizer_set_lr(o, NAN), INC_ERR_INVALID_ARGUMENT);
  inc_optimizer *bad = (inc_optimizer *)&bad;
  ck_assert_int_eq(inc_sgd_create(ctx, 0.1f, 1.0f, 0, &bad), INC_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_null(bad);
  ck_assert_int_eq(inc_sgd_create(ctx, 0.0f, 0.0f, 0, &bad), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_sgd_create(ctx, 0.1f, 0.0f, -1, &bad), INC_ERR_INVALID_ARGUMENT);
  /* unbound models and other contexts */
  inc_layer *u;
  INC_CK(ctx, inc_dense_create(ctx, 3, &u));
  ck_assert_int_eq(inc_optimizer_step(o, u), INC_ERR_STATE);
  ck_assert(strstr(inc_context_last_error(ctx), "no bound parameters") != NULL);
  ck_assert_int_eq(inc_optimizer_step(o, NULL), INC_ERR_INVALID_ARGUMENT);
  inc_context *c2 = tu_cpu();
  inc_optimizer *o2;
  INC_CK(c2, inc_sgd_create(c2, 0.1f, 0, 0, &o2));
  ck_assert_int_eq(inc_optimizer_step(o2, d), INC_ERR_INVALID_ARGUMENT);
  inc_optimizer_destroy(o2);
  inc_context_destroy(c2);
  free(now);
  inc_optimizer_destroy(o);
  inc_optimizer_destroy(NULL);
  inc_layer_destroy(u);
  inc_layer_destroy(d);
  inc_context_destroy(ctx);
}
END_TEST

/* A tiny Inception classifier learns a synthetic task: class = which
 * quadrant of a 12x12 image holds a bright blob. */
START_TEST(test_sgd_lowers_loss)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = tu_small_net(ctx, 4);
  enum { N = 32, S = 12 };
  float *xh = (float *)calloc(N * S * S, sizeof(float));
  int32_t lab[N];
  float noise[N * S * S];
  tu_fill(noise, N * S * S, 77, 0, 0.3f);
  for (int n = 0; n < N; n++) {
    lab[n] = n % 4;
    int oy = (lab[n] / 2) * 6, ox = (lab[n] % 2) * 6;
    for (int i = 0; i < S * S; i++) xh[n * S * S + i] = noise[n * S * S + i];
    for (int y = 1; y < 5; y++)
      for (int x = 1; x < 5; x++) xh[n * S * S + (oy + y) * S + ox + x] += 1.0f;
  }
  int64_t xd[4] = {N, 1, S, S}, ld[2] = {N, 4};
  inc_tensor *x = tu_tensor(ctx, 4, xd, xh), *dl = tu_tensor(ctx, 2, ld, NULL);
  inc_optimizer *o;
  INC_CK(ctx, inc_sgd_create(ctx, 0.05f, 0.9f, 0, &o));
  float first = 0, loss = 0;
  int64_t correct = 0;
  for (int it = 0; it < 60; it++) {
    const inc_tensor *y, *dx;
    INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
    INC_CK(ctx, inc_softmax_cross_entropy(ctx, y, lab, &loss, dl, &correct));
    if (it == 0) first = loss;
    INC_CK(ctx, inc_layer_backward(net, dl, &dx));
    INC_CK(ctx, inc_optimizer_step(o, net));
  }
  ck_assert_msg(loss < 0.5f * first, "loss %g after 60 steps, started at %g", loss, first);
  ck_assert_msg(correct >= N * 3 / 4, "only %lld of %d right", (long long)correct, N);
  /* after an unbind the optimizer drops the old buffers and keeps working */
  INC_CK(ctx, inc_layer_unbind(net));
  const inc_tensor *y;
  INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
  INC_CK(ctx, inc_softmax_cross_entropy(ctx, y, lab, &loss, dl, NULL));
  INC_CK(ctx, inc_layer_backward(net, dl, NULL));
  INC_CK(ctx, inc_optimizer_step(o, net));
  free(xh);
  inc_tensor_destroy(x); inc_tensor_destroy(dl);
  inc_optimizer_destroy(o);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

Suite *inc_test_suite_train(void)
{
  Suite *s = suite_create("train");
  TCase *tc = tcase_create("primitives");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_softmax_ce_reference);
  tcase_add_test(tc, test_sgd_rule);
  tcase_add_test(tc, test_sgd_lowers_loss);
  suite_add_tcase(s, tc);
  return s;
}
