/*
 * test_weight_cache.c — conv2d's weight transforms kept across inference
 * passes (Winograd's U, the used taps' weight of a kernel larger than its
 * map; src/layers/conv2d.c, inc__conv_cache) are remade after every way
 * the weights can change, so an inference pass always convolves with the
 * current parameters:
 *   - a small network (a winograd4 3x3 convolution, a 5x5 one on 2x2 maps
 *     that uses its middle 3x3 only, a dense head): after each of
 *     inc_tensor_copy_from_host on a weight, an optimizer step,
 *     inc_layer_load and inc_layer_initialize, inference gives what a
 *     training forward (which never caches) gives, and differs from the
 *     pass before the change;
 *   - a 3x3 convolution with a batch norm folded into it at inference: a
 *     training forward moves the running statistics, and the next
 *     inference pass gives what a fresh copy of the network (loaded from a
 *     file: no cache) gives;
 *   - repeated inference passes give the same bits.
 * Training and inference forwards of the same plan kind run the same
 * code, so the comparisons are bit for bit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

#define N 3

static void add(inc_context *ctx, inc_layer *seq, inc_layer *l)
{
  INC_CK(ctx, inc_sequential_append(seq, l));
}

/* x (N, 2, 8, 8) -> 3x3 conv (winograd4) -> ReLU -> 3x3/4 max pool (2x2)
 * -> 5x5 conv pad 2 (middle 3x3 used) -> ReLU -> GAP -> flatten -> dense. */
static inc_layer *net_cached(inc_context *ctx)
{
  inc_layer *seq = NULL, *l = NULL;
  INC_CK(ctx, inc_sequential_create(ctx, &seq));
  INC_CK(ctx, inc_conv2d_create(ctx, 5, 3, 1, 1, &l));
  add(ctx, seq, l);
  INC_CK(ctx, inc_relu_create(ctx, &l));
  add(ctx, seq, l);
  INC_CK(ctx, inc_max_pool2d_create(ctx, 3, 4, 0, &l));
  add(ctx, seq, l);
  INC_CK(ctx, inc_conv2d_create(ctx, 4, 5, 1, 2, &l));
  add(ctx, seq, l);
  INC_CK(ctx, inc_relu_create(ctx, &l));
  add(ctx, seq, l);
  INC_CK(ctx, inc_global_avg_pool2d_create(ctx, &l));
  add(ctx, seq, l);
  INC_CK(ctx, inc_flatten_create(ctx, &l));
  add(ctx, seq, l);
  INC_CK(ctx, inc_dense_create(ctx, 3, &l));
  add(ctx, seq, l);
  return seq;
}

/* The output of a forward (training 0 or 1) as a malloc'd host array. */
static float *run(inc_context *ctx, inc_layer *net, const inc_tensor *x, int training)
{
  const inc_tensor *y = NULL;
  INC_CK(ctx, inc_layer_forward(net, x, training, &y));
  return tu_host(y);
}

static int64_t out_numel(inc_layer *net, const inc_tensor *x)
{
  const inc_tensor *y = NULL;
  ck_assert_int_eq(inc_layer_forward(net, x, 0, &y), INC_OK);
  return inc_tensor_numel(y);
}

/* Inference now equals a training forward bit for bit, and differs from
 * `before` (the inference output before the change, may be NULL); returns
 * the new inference output. */
static float *check_current(inc_context *ctx, inc_layer *net, const inc_tensor *x,
                            const float *before, const char *what)
{
  const int64_t n = out_numel(net, x);
  float *inf = run(ctx, net, x, 0), *again = run(ctx, net, x, 0), *tr = run(ctx, net, x, 1);
  ck_assert_msg(!memcmp(inf, again, (size_t)n * sizeof *inf), "%s: two inference passes differ",
                what);
  ck_assert_msg(!memcmp(inf, tr, (size_t)n * sizeof *inf),
                "%s: inference differs from the training forward (a stale cache)", what);
  if (before)
    ck_assert_msg(memcmp(inf, before, (size_t)n * sizeof *inf) != 0,
                  "%s: the output did not change", what);
  free(again);
  free(tr);
  return inf;
}

/* Parameter `index` of net, scaled by `by` through the host. */
static void scale_param(inc_context *ctx, inc_layer *net, int index, float by)
{
  inc_tensor *v = NULL;
  INC_CK(ctx, inc_layer_param(net, index, NULL, &v, NULL));
  const int64_t n = inc_tensor_numel(v);
  float *h = tu_host(v);
  for (int64_t i = 0; i < n; i++) h[i] *= by;
  INC_CK(ctx, inc_tensor_copy_from_host(v, h, n));
  free(h);
}

START_TEST(test_cache_follows_weights)
{
  ck_assert_int_eq(setenv("INCEPTION_CONV_ALGO", "winograd4", 1), 0);
  inc_context *ctx = tu_cpu();
  inc_layer *net = net_cached(ctx);
  const int64_t d[4] = {N, 2, 8, 8};
  float hx[N * 2 * 8 * 8];
  tu_fill(hx, N * 2 * 8 * 8, 5, -1.0f, 1.0f);
  inc_tensor *x = tu_tensor(ctx, 4, d, hx);
  float *y0 = check_current(ctx, net, x, NULL, "first pass");
  const char *path = tu_tmp_path("cache.safetensors");
  INC_CK(ctx, inc_layer_save(net, path));

  /* a weight written from the host: the Winograd conv's, then the 5x5's */
  scale_param(ctx, net, 0, 0.5f);
  float *y1 = check_current(ctx, net, x, y0, "copy_from_host on the 3x3 weight");
  scale_param(ctx, net, 2, -1.5f);
  float *y2 = check_current(ctx, net, x, y1, "copy_from_host on the 5x5 weight");

  /* an optimizer step */
  inc_optimizer *opt = NULL;
  INC_CK(ctx, inc_sgd_create(ctx, 0.5f, 0.0f, 0.0f, &opt));
  const inc_tensor *y = NULL;
  INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
  float dy[N * 3];
  tu_fill(dy, N * 3, 9, -1.0f, 1.0f);
  const int64_t dd[2] = {N, 3};
  inc_tensor *g = tu_tensor(ctx, 2, dd, dy);
  INC_CK(ctx, inc_layer_backward(net, g, NULL));
  INC_CK(ctx, inc_optimizer_step(opt, net));
  float *y3 = check_current(ctx, net, x, y2, "optimizer step");

  /* loading the first state back gives the first output */
  INC_CK(ctx, inc_layer_load(net, path));
  float *y4 = check_current(ctx, net, x, y3, "inc_layer_load");
  ck_assert(!memcmp(y4, y0, sizeof(float) * (size_t)out_numel(net, x)));

  /* reinitialized */
  INC_CK(ctx, inc_layer_initialize(net, INC_INIT_KAIMING_UNIFORM, 1));
  float *y5 = check_current(ctx, net, x, y4, "inc_layer_initialize");

  remove(path);
  free(y0), free(y1), free(y2), free(y3), free(y4), free(y5);
  inc_tensor_destroy(g);
  inc_tensor_destroy(x);
  inc_optimizer_destroy(opt);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
  unsetenv("INCEPTION_CONV_ALGO");
}
END_TEST

/* x -> 3x3 conv (winograd4) -> batch norm -> ReLU: the batch norm folds
 * into the convolution at inference. */
static inc_layer *net_bn(inc_context *ctx)
{
  inc_layer *seq = NULL, *l = NULL;
  INC_CK(ctx, inc_sequential_create(ctx, &seq));
  INC_CK(ctx, inc_conv2d_create(ctx, 4, 3, 1, 1, &l));
  add(ctx, seq, l);
  INC_CK(ctx, inc_batch_norm2d_create(ctx, 1e-5f, 0.5f, &l));
  add(ctx, seq, l);
  INC_CK(ctx, inc_relu_create(ctx, &l));
  add(ctx, seq, l);
  return seq;
}

START_TEST(test_cache_follows_running_stats)
{
  ck_assert_int_eq(setenv("INCEPTION_CONV_ALGO", "winograd4", 1), 0);
  inc_context *ctx = tu_cpu();
  inc_layer *net = net_bn(ctx), *fresh = net_bn(ctx);
  const int64_t d[4] = {N, 3, 7, 6};
  float hx[N * 3 * 7 * 6];
  tu_fill(hx, N * 3 * 7 * 6, 21, -1.0f, 2.0f);
  inc_tensor *x = tu_tensor(ctx, 4, d, hx);
  const int64_t n = out_numel(net, x);
  float *before = run(ctx, net, x, 0);
  free(run(ctx, net, x, 1)); /* moves the running statistics */
  float *after = run(ctx, net, x, 0);
  ck_assert_msg(memcmp(before, after, (size_t)n * sizeof *after) != 0,
                "new running statistics did not change the inference output");
  const char *path = tu_tmp_path("cache-bn.safetensors");
  INC_CK(ctx, inc_layer_save(net, path));
  INC_CK(ctx, inc_layer_load(fresh, path));
  float *want = run(ctx, fresh, x, 0);
  ck_assert_msg(!memcmp(after, want, (size_t)n * sizeof *after),
                "inference after a training forward differs from a fresh network's");
  remove(path);
  free(before), free(after), free(want);
  inc_tensor_destroy(x);
  inc_layer_destroy(net);
  inc_layer_destroy(fresh);
  inc_context_destroy(ctx);
  unsetenv("INCEPTION_CONV_ALGO");
}
END_TEST

Suite *inc_test_suite_weight_cache(void)
{
  Suite *s = suite_create("weight_cache");
  TCase *tc = tcase_create("weight_cache");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_cache_follows_weights);
  tcase_add_test(tc, test_cache_follows_running_stats);
  suite_add_tcase(s, tc);
  return s;
}
