/*
 * util.c — helpers shared by the Check suites (see util.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "util.h"

inc_conv2d_desc tu_conv_desc(const int g[8])
{
  inc_conv2d_desc d;
  memset(&d, 0, sizeof d);
  d.size = sizeof d;
  d.out_channels = g[0];
  d.kernel_h = g[1];
  d.kernel_w = g[2];
  d.stride_h = g[3];
  d.stride_w = g[4];
  d.pad_h = g[5];
  d.pad_w = g[6];
  d.bias = g[7];
  return d;
}

inc_context *tu_cpu(void)
{
  inc_context *ctx = NULL;
  ck_assert_int_eq(inc_context_create(INC_BACKEND_CPU, &ctx), INC_OK);
  ck_assert_int_eq(inc_context_set_seed(ctx, 1), INC_OK);
  ck_assert_int_eq(inc_context_set_num_threads(ctx, 2), INC_OK);
  return ctx;
}

inc_layer *tu_small_net(inc_context *ctx, int classes)
{
  inc_layer *net, *l;
  INC_CK(ctx, inc_sequential_create(ctx, &net));
  INC_CK(ctx, inc_conv2d_create(ctx, 8, 3, 1, 1, &l));
  INC_CK(ctx, inc_sequential_append(net, l));
  INC_CK(ctx, inc_relu_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(net, l));
  INC_CK(ctx, inc_inception_create(ctx, 4, 4, 4, 2, 4, 4, &l));
  INC_CK(ctx, inc_sequential_append(net, l));
  INC_CK(ctx, inc_max_pool2d_create(ctx, 3, 2, 1, &l));
  INC_CK(ctx, inc_sequential_append(net, l));
  INC_CK(ctx, inc_flatten_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(net, l));
  INC_CK(ctx, inc_dense_create(ctx, classes, &l));
  INC_CK(ctx, inc_sequential_append(net, l));
  return net;
}

inc_tensor *tu_tensor(inc_context *ctx, int ndim, const int64_t *dims, const float *host)
{
  inc_tensor *t = NULL;
  INC_CK(ctx, inc_tensor_create(ctx, ndim, dims, &t));
  if (host) INC_CK(ctx, inc_tensor_copy_from_host(t, host, inc_tensor_numel(t)));
  return t;
}

const char *tu_tmp_path(const char *name)
{
  static char buf[4][256];
  static int k;
  char *p = buf[k++ % 4];
  snprintf(p, sizeof buf[0], "/tmp/inc-test-%d-%s", (int)getpid(), name);
  return p;
}

float *tu_host(const inc_tensor *t)
{
  int64_t n = inc_tensor_numel(t);
  float *h = (float *)malloc((size_t)n * sizeof(float));
  ck_assert_ptr_nonnull(h);
  ck_assert_int_eq(inc_tensor_copy_to_host(t, h, n), INC_OK);
  return h;
}

void tu_fill(float *v, int64_t n, uint64_t seed, float lo, float hi)
{
  uint64_t z = seed * 0x9e3779b97f4a7c15ULL + 12345;
  for (int64_t i = 0; i < n; i++) {
    z ^= z << 13;
    z ^= z >> 7;
    z ^= z << 17;
    v[i] = lo + (hi - lo) * (float)((z >> 40) * (1.0 / 16777216.0));
  }
}

double tu_worst(const float *a, const float *b, int64_t n, double atol, double rtol,
                int64_t *where)
{
  double worst = -INFINITY;
  *where = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]) - (atol + rtol * fabs((double)b[i]));
    if (isnan(d)) d = INFINITY;
    if (d > worst) {
      worst = d;
      *where = i;
    }
  }
  return n ? worst : 0.0;
}

const fx_tensor *tu_fx_need(const fx_file *f, const char *name)
{
  const fx_tensor *t = fx_get(f, name);
  ck_assert_msg(t != NULL, "fixture has no tensor %s", name);
  return t;
}

void tu_fx_near(const char *what, const inc_tensor *t, const fx_tensor *ref, double atol,
                double rtol)
{
  ck_assert_int_eq(inc_tensor_numel(t), ref->numel);
  float *h = tu_host(t);
  for (int64_t i = 0; i < ref->numel; i++) {
    double d = fabs((double)h[i] - ref->data[i]);
    if (!(d <= atol + rtol * fabs(ref->data[i]))) {
      double got = h[i];
      free(h);
      ck_abort_msg("%s[%lld] = %.9g, PyTorch %.9g (|diff| %.3g)", what, (long long)i, got,
                   (double)ref->data[i], d);
    }
  }
  free(h);
}

/* Copies every parameter and buffer of src into dst (the same tree). */
void tu_copy_state(inc_context *ctx, inc_layer *dst, const inc_layer *src)
{
  ck_assert_int_eq(inc_layer_param_count(dst), inc_layer_param_count(src));
  for (int i = 0; i < inc_layer_param_count(src); i++) {
    inc_tensor *a, *b;
    INC_CK(ctx, inc_layer_param(src, i, NULL, &a, NULL));
    INC_CK(ctx, inc_layer_param(dst, i, NULL, &b, NULL));
    float *h = tu_host(a);
    INC_CK(ctx, inc_tensor_copy_from_host(b, h, inc_tensor_numel(a)));
    free(h);
  }
  for (int i = 0; i < inc_layer_buffer_count(src); i++) {
    inc_tensor *a, *b;
    INC_CK(ctx, inc_layer_buffer(src, i, NULL, &a));
    INC_CK(ctx, inc_layer_buffer(dst, i, NULL, &b));
    float *h = tu_host(a);
    INC_CK(ctx, inc_tensor_copy_from_host(b, h, inc_tensor_numel(a)));
    free(h);
  }
}

/* Appends *l, just made with status s, to seq. */
void tu_append(inc_context *ctx, inc_layer *seq, inc_status s, inc_layer *const *l)
{
  INC_CK(ctx, s);
  INC_CK(ctx, inc_sequential_append(seq, *l));
}

/* Runs net (training) on x, backward with dy; host copies of y, dx and
 * every parameter gradient, concatenated, into *out (count in *n). */
float *tu_train_pass(inc_context *ctx, inc_layer *net, inc_tensor *x, inc_tensor *dy,
                     int64_t *n)
{
  const inc_tensor *y, *dx;
  INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
  INC_CK(ctx, inc_layer_backward(net, dy, &dx));
  int64_t total = inc_tensor_numel(y) + inc_tensor_numel(dx) + inc_layer_param_numel(net), at = 0;
  float *out = (float *)malloc((size_t)total * sizeof *out);
  const inc_tensor *parts[2] = {y, dx};
  for (int i = 0; i < 2; i++) {
    INC_CK(ctx, inc_tensor_copy_to_host(parts[i], out + at, inc_tensor_numel(parts[i])));
    at += inc_tensor_numel(parts[i]);
  }
  for (int i = 0; i < inc_layer_param_count(net); i++) {
    inc_tensor *g;
    INC_CK(ctx, inc_layer_param(net, i, NULL, NULL, &g));
    INC_CK(ctx, inc_tensor_copy_to_host(g, out + at, inc_tensor_numel(g)));
    at += inc_tensor_numel(g);
  }
  *n = total;
  return out;
}

inc_layer *tu_layout_net(inc_context *ctx, int k)
{
  inc_layer *seq, *l;
  INC_CK(ctx, inc_sequential_create(ctx, &seq));
  tu_append(ctx, seq, inc_conv2d_create(ctx, 5, 1, 1, 0, &l), &l);
  tu_append(ctx, seq, inc_max_pool2d_create(ctx, 3, 1, 1, &l), &l);
  tu_append(ctx, seq, inc_conv2d_create(ctx, 4, 3, 1, 1, &l), &l);
  tu_append(ctx, seq, inc_relu_create(ctx, &l), &l);
  tu_append(ctx, seq, inc_conv2d_create(ctx, 3, k, 1, k / 2, &l), &l);
  return seq;
}
