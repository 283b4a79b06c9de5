/*
 * test_shapes.c — lazy shapes: binding on first use, the D2L GoogLeNet's
 * block shapes and parameter count, re-initialization with and without
 * force, unbinding and re-binding to another channel count, new image
 * sizes, mismatch messages, and the summary table.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

static inc_layer *googlenet(inc_context *ctx)
{
  inc_layer *net = NULL;
  INC_CK(ctx, inc_googlenet_create(ctx, 10, &net));
  return net;
}

START_TEST(test_googlenet_shapes)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = googlenet(ctx);
  ck_assert_int_eq(inc_layer_is_bound(net), 0);
  ck_assert_int_eq(inc_layer_param_count(net), 0);
  ck_assert_int_eq(inc_layer_child_count(net), 6);
  static const int64_t want[6][4] = {{1, 64, 24, 24}, {1, 192, 12, 12}, {1, 480, 6, 6},
                                     {1, 832, 3, 3},  {1, 1024, 0, 0},  {1, 10, 0, 0}};
  int64_t d[8] = {1, 1, 96, 96};
  int nd = 4;
  for (int i = 0; i < 6; i++) {
    int on;
    int64_t od[8];
    INC_CK(ctx, inc_layer_infer_shape(inc_layer_child(net, i), nd, d, &on, od));
    ck_assert_int_eq(on, i < 4 ? 4 : 2);
    for (int j = 0; j < on; j++) ck_assert_int_eq(od[j], want[i][j]);
    nd = on;
    memcpy(d, od, sizeof od);
  }
  ck_assert_int_eq(inc_layer_is_bound(net), 1);
  ck_assert_int_eq(inc_layer_param_numel(net), 5977530);
  ck_assert_int_eq(inc_layer_param_count(net), 116);
  const char *name;
  inc_tensor *w;
  INC_CK(ctx, inc_layer_param(net, 10, &name, &w, NULL));
  ck_assert_str_eq(name, "2.0.p2.2.weight");
  ck_assert_int_eq(inc_tensor_dim(w, 0), 128);
  ck_assert_int_eq(inc_tensor_dim(w, 1), 96);
  ck_assert_int_eq(inc_tensor_dim(w, 2), 3);
  INC_CK(ctx, inc_layer_param(net, 115, &name, NULL, NULL));
  ck_assert_str_eq(name, "5.bias");
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_new_image_size)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = googlenet(ctx);
  int64_t d96[4] = {1, 1, 96, 96}, d64[4] = {2, 1, 64, 64}, d28[4] = {1, 1, 28, 28}, od[8];
  int on;
  INC_CK(ctx, inc_layer_infer_shape(net, 4, d96, &on, od));
  INC_CK(ctx, inc_layer_infer_shape(net, 4, d64, &on, od));
  ck_assert_int_eq(on, 2);
  ck_assert_int_eq(od[0], 2);
  ck_assert_int_eq(od[1], 10);
  INC_CK(ctx, inc_layer_infer_shape(net, 4, d28, &on, od));
  /* and a real forward at 64x64 after binding at 96x96 */
  inc_tensor *x = tu_tensor(ctx, 4, d64, NULL);
  const inc_tensor *y;
  INC_CK(ctx, inc_layer_forward(net, x, 0, &y));
  ck_assert_int_eq(inc_tensor_dim(y, 1), 10);
  inc_tensor_destroy(x);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_channel_mismatch_message)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = googlenet(ctx);
  int64_t d1[4] = {1, 1, 32, 32}, d3[4] = {1, 3, 32, 32}, od[8];
  int on = -1;
  INC_CK(ctx, inc_layer_infer_shape(net, 4, d1, &on, od));
  ck_assert_int_eq(inc_layer_infer_shape(net, 4, d3, &on, od), INC_ERR_SHAPE);
  ck_assert_str_eq(inc_context_last_error(ctx),
                   "layer 0.0 (conv2d): bound to 1 input channel, got 3");
  inc_tensor *x = tu_tensor(ctx, 4, d3, NULL);
  const inc_tensor *y = (const inc_tensor *)x;
  ck_assert_int_eq(inc_layer_forward(net, x, 1, &y), INC_ERR_SHAPE);
  ck_assert_ptr_null(y);
  ck_assert(strstr(inc_context_last_error(ctx), "bound to 1 input channel, got 3") != NULL);
  /* a 2-D input to the image network */
  int64_t flat[2] = {1, 9};
  ck_assert_int_eq(inc_layer_infer_shape(net, 2, flat, &on, od), INC_ERR_SHAPE);
  ck_assert(strstr(inc_context_last_error(ctx), "layer 0.0 (conv2d): expects an (N, C, H, W)") != NULL);
  /* too small an image for b1's 7x7 conv is fine (padding), but a 1x1
   * image fails at a later pool whose window no longer fits? No: every pool
   * pads, so check a plain conv instead. */
  inc_layer *conv;
  INC_CK(ctx, inc_conv2d_create(ctx, 2, 5, 1, 0, &conv));
  int64_t tiny[4] = {1, 1, 3, 3};
  ck_assert_int_eq(inc_layer_infer_shape(conv, 4, tiny, &on, od), INC_ERR_SHAPE);
  ck_assert(strstr(inc_context_last_error(ctx), "smaller than the 5x5 kernel") != NULL);
  ck_assert_int_eq(inc_layer_is_bound(conv), 0);
  inc_layer_destroy(conv);
  inc_tensor_destroy(x);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_dense_mismatch)
{
  inc_context *ctx = tu_cpu();
  inc_layer *d;
  INC_CK(ctx, inc_dense_create(ctx, 4, &d));
  int64_t a[2] = {3, 7}, b[2] = {3, 8}, od[8];
  int on;
  INC_CK(ctx, inc_layer_infer_shape(d, 2, a, &on, od));
  ck_assert_int_eq(inc_layer_infer_shape(d, 2, b, &on, od), INC_ERR_SHAPE);
  ck_assert_str_eq(inc_context_last_error(ctx),
                   "layer (root) (dense): bound to 7 input features, got 8");
  inc_layer_destroy(d);
  inc_context_destroy(ctx);
}
END_TEST

/* Failure in the middle of a binding pass binds nothing. */
START_TEST(test_failed_bind_binds_nothing)
{
  inc_context *ctx = tu_cpu();
  inc_layer *seq, *conv, *dense;
  INC_CK(ctx, inc_sequential_create(ctx, &seq));
  INC_CK(ctx, inc_conv2d_create(ctx, 4, 3, 1, 1, &conv));
  INC_CK(ctx, inc_dense_create(ctx, 2, &dense)); /* needs a flatten before it */
  INC_CK(ctx, inc_sequential_append(seq, conv));
  INC_CK(ctx, inc_sequential_append(seq, dense));
  int64_t in[4] = {1, 2, 5, 5}, od[8];
  int on;
  ck_assert_int_eq(inc_layer_infer_shape(seq, 4, in, &on, od), INC_ERR_SHAPE);
  ck_assert(strstr(inc_context_last_error(ctx), "layer 1 (dense)") != NULL);
  ck_assert(strstr(inc_context_last_error(ctx), "add a flatten layer") != NULL);
  ck_assert_int_eq(inc_layer_is_bound(conv), 0);
  ck_assert_int_eq(inc_layer_param_count(seq), 0);
  inc_layer_destroy(seq);
  inc_context_destroy(ctx);
}
END_TEST

static float *param_host(inc_context *ctx, inc_layer *l, int i, int64_t *n)
{
  inc_tensor *v;
  INC_CK(ctx, inc_layer_param(l, i, NULL, &v, NULL));
  *n = inc_tensor_numel(v);
  return tu_host(v);
}

START_TEST(test_initialize_and_reinit)
{
  inc_context *ctx = tu_cpu();
  inc_layer *conv;
  INC_CK(ctx, inc_conv2d_create(ctx, 64, 3, 1, 1, &conv));
  /* before binding: records the scheme */
  INC_CK(ctx, inc_layer_initialize(conv, INC_INIT_NORMAL_001, 0));
  ck_assert_int_eq(inc_layer_param_count(conv), 0);
  int64_t in[4] = {1, 16, 4, 4}, od[8];
  int on;
  INC_CK(ctx, inc_layer_infer_shape(conv, 4, in, &on, od));
  int64_t n;
  float *w0 = param_host(ctx, conv, 0, &n);
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < n; i++) {
    sum += w0[i];
    sq += (double)w0[i] * w0[i];
  }
  double sd = sqrt(sq / n - (sum / n) * (sum / n));
  ck_assert_msg(fabs(sd - 0.01) < 0.001, "std %g, expected 0.01", sd);
  int64_t nb;
  float *b0 = param_host(ctx, conv, 1, &nb);
  for (int64_t i = 0; i < nb; i++) ck_assert(b0[i] == 0.0f);
  /* without force: nothing changes */
  INC_CK(ctx, inc_layer_initialize(conv, INC_INIT_XAVIER_UNIFORM, 0));
  float *w1 = param_host(ctx, conv, 0, &n);
  ck_assert(memcmp(w0, w1, (size_t)n * sizeof(float)) == 0);
  /* with force: refilled with Xavier-uniform, shapes kept, grads zero */
  inc_tensor *g;
  INC_CK(ctx, inc_layer_param(conv, 0, NULL, NULL, &g));
  float *ones = (float *)malloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++) ones[i] = 1.0f;
  INC_CK(ctx, inc_tensor_copy_from_host(g, ones, n));
  INC_CK(ctx, inc_layer_initialize(conv, INC_INIT_XAVIER_UNIFORM, 1));
  float *w2 = param_host(ctx, conv, 0, &n);
  float *g2 = tu_host(g);
  double bound = sqrt(6.0 / (16 * 9 + 64 * 9)), maxabs = 0;
  for (int64_t i = 0; i < n; i++) {
    ck_assert(fabs(w2[i]) <= bound);
    if (fabs(w2[i]) > maxabs) maxabs = fabs(w2[i]);
    ck_assert(g2[i] == 0.0f);
  }
  ck_assert(maxabs > 0.9 * bound); /* spans the range */
  ck_assert(memcmp(w0, w2, (size_t)n * sizeof(float)) != 0);
  ck_assert_int_eq(inc_layer_initialize(conv, (inc_init)17, 1), INC_ERR_INVALID_ARGUMENT);
  free(w0); free(w1); free(w2); free(b0); free(g2); free(ones);
  inc_layer_destroy(conv);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_seed_determinism)
{
  float *w[3];
  for (int r = 0; r < 3; r++) {
    inc_context *ctx = tu_cpu();
    INC_CK(ctx, inc_context_set_seed(ctx, r < 2 ? 7 : 8));
    INC_CK(ctx, inc_context_set_num_threads(ctx, r == 1 ? 1 : 2));
    inc_layer *net = googlenet(ctx);
    int64_t in[4] = {1, 1, 32, 32}, od[8];
    int on;
    INC_CK(ctx, inc_layer_infer_shape(net, 4, in, &on, od));
    int64_t n;
    w[r] = param_host(ctx, net, 100, &n);
    inc_layer_destroy(net);
    inc_context_destroy(ctx);
    if (r == 2) {
      ck_assert(memcmp(w[0], w[1], (size_t)n * sizeof(float)) == 0); /* threads do not matter */
      ck_assert(memcmp(w[0], w[2], (size_t)n * sizeof(float)) != 0); /* the seed does */
    }
  }
  for (int r = 0; r < 3; r++) free(w[r]);
}
END_TEST

START_TEST(test_unbind_rebind_channels)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = googlenet(ctx);
  int64_t d1[4] = {1, 1, 32, 32}, d3[4] = {2, 3, 40, 40}, od[8];
  int on;
  INC_CK(ctx, inc_layer_infer_shape(net, 4, d1, &on, od));
  inc_tensor *w;
  INC_CK(ctx, inc_layer_param(net, 0, NULL, &w, NULL));
  ck_assert_int_eq(inc_tensor_dim(w, 1), 1);
  INC_CK(ctx, inc_layer_unbind(net));
  ck_assert_int_eq(inc_layer_is_bound(net), 0);
  ck_assert_int_eq(inc_layer_param_count(net), 0);
  inc_tensor *x = tu_tensor(ctx, 4, d3, NULL);
  const inc_tensor *y;
  INC_CK(ctx, inc_layer_forward(net, x, 0, &y));
  ck_assert_int_eq(inc_tensor_dim(y, 0), 2);
  INC_CK(ctx, inc_layer_param(net, 0, NULL, &w, NULL));
  ck_assert_int_eq(inc_tensor_dim(w, 1), 3);
  ck_assert_int_eq(inc_layer_param_numel(net), 5977530 + 2 * 64 * 49);
  inc_tensor_destroy(x);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_summary)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = googlenet(ctx);
  int64_t in[4] = {1, 1, 96, 96};
  size_t need = 0;
  INC_CK(ctx, inc_layer_summary(net, 4, in, NULL, 0, &need));
  ck_assert(need > 1000);
  char *buf = (char *)malloc(need);
  size_t need2;
  INC_CK(ctx, inc_layer_summary(net, 4, in, buf, need, &need2));
  ck_assert_uint_eq(need, need2);
  ck_assert_uint_eq(strlen(buf) + 1, need);
  ck_assert(strstr(buf, "total parameters: 5977530") != NULL);
  ck_assert(strstr(buf, "(1, 480, 6, 6)") != NULL);
  ck_assert(strstr(buf, "2.0.p2.2") != NULL);
  double train_mib = 0, infer_mib = 0;
  const char *pm = strstr(buf, "planned memory: ");
  ck_assert_ptr_nonnull(pm);
  ck_assert_int_eq(sscanf(pm, "planned memory: %lf MiB training, %lf MiB inference", &train_mib,
                          &infer_mib), 2);
  ck_assert(infer_mib > 0 && train_mib > infer_mib);
  /* truncation still NUL-terminates */
  char small[40];
  INC_CK(ctx, inc_layer_summary(net, 4, in, small, sizeof small, &need2));
  ck_assert_uint_eq(strlen(small), sizeof small - 1);
  free(buf);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_forward_backward_state)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = googlenet(ctx);
  int64_t in[4] = {2, 1, 32, 32}, ld[2] = {2, 10};
  float xh[2 * 32 * 32];
  tu_fill(xh, 2 * 32 * 32, 5, 0, 1);
  inc_tensor *x = tu_tensor(ctx, 4, in, xh), *dy = tu_tensor(ctx, 2, ld, NULL);
  const inc_tensor *y, *dx;
  ck_assert_int_eq(inc_layer_backward(net, dy, &dx), INC_ERR_STATE);
  ck_assert(strstr(inc_context_last_error(ctx), "training forward") != NULL);
  INC_CK(ctx, inc_layer_forward(net, x, 0, &y));
  ck_assert_int_eq(inc_layer_backward(net, dy, &dx), INC_ERR_STATE);
  INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
  int64_t bad[2] = {2, 9};
  inc_tensor *dyb = tu_tensor(ctx, 2, bad, NULL);
  ck_assert_int_eq(inc_layer_backward(net, dyb, &dx), INC_ERR_SHAPE);
  int32_t labels[2] = {3, 7};
  float loss;
  INC_CK(ctx, inc_softmax_cross_entropy(ctx, y, labels, &loss, dy, NULL));
  ck_assert(fabsf(loss - logf(10.0f)) < 0.2f);
  INC_CK(ctx, inc_layer_backward(net, dy, &dx));
  ck_assert_int_eq(inc_tensor_dim(dx, 2), 32);
  float *g = tu_host(dx);
  double norm = 0;
  for (int i = 0; i < 2 * 32 * 32; i++) norm += (double)g[i] * g[i];
  ck_assert(norm > 0 && isfinite(norm));
  free(g);
  inc_tensor_destroy(dyb);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

Suite *inc_test_suite_shapes(void)
{
  Suite *s = suite_create("shapes");
  TCase *tc = tcase_create("lazy");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_googlenet_shapes);
  tcase_add_test(tc, test_new_image_size);
  tcase_add_test(tc, test_channel_mismatch_message);
  tcase_add_test(tc, test_dense_mismatch);
  tcase_add_test(tc, test_failed_bind_binds_nothing);
  tcase_add_test(tc, test_initialize_and_reinit);
  tcase_add_test(tc, test_seed_determinism);
  tcase_add_test(tc, test_unbind_rebind_channels);
  tcase_add_test(tc, test_summary);
  tcase_add_test(tc, test_forward_backward_state);
  suite_add_tcase(s, tc);
  return s;
}
