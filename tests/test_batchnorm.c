/*
 * test_batchnorm.c — batch normalization (inc_batch_norm2d_create) against
 * PyTorch's BatchNorm2d, on the CPU and, where a CUDA module is usable (a
 * GPU, or the emulated runtime of make check-cuda-emu), on CUDA too.
 *
 * Fixtures (tests/fixtures/make_fixtures.py, float64 references):
 *   batch_norm2d_<i>   three training batches from the initial running
 *                      statistics: the last one's y, dx, dweight, dbias, the
 *                      running statistics after all three, and an
 *                      evaluation forward;
 *   conv_bn_relu       Conv2d -> BatchNorm2d -> ReLU, training forward and
 *                      backward (the batch norm reads a channel-major
 *                      convolution output, a ReLU fuses into it) and the
 *                      evaluation forward, which the plan folds into the
 *                      convolution;
 *   conv_bn_relu_state its state_dict as PyTorch holds it (the count a 0-d
 *                      int64), loaded with inc_layer_load.
 * Plus: float32 finite differences of the training forward, evaluation
 * leaves the buffers alone, a second backward does not count the batch
 * twice, a batch of one value per channel is refused in training.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cuda_util.h"
#include "fixture.h"
#include "plan.h"

#define NBN 4 /* batch_norm2d_<i> fixtures */

static int cuda_kind; /* tu_cuda_probe: 0 none, 1 GPU, 2 emulated */

static fx_file *open_fx(const char *name)
{
  char err[512];
  fx_file *f = fx_open(name, err, sizeof err);
  ck_assert_msg(f != NULL, "fixture %s: %s (regenerate with /usr/bin/python3 "
                "tests/fixtures/make_fixtures.py)", name, err);
  return f;
}

/* The parameter (grad 0: value, 1: gradient) or buffer (grad -1) named name. */
static inc_tensor *named(const inc_layer *l, const char *name, int grad)
{
  const char *n = NULL;
  inc_tensor *v = NULL, *g = NULL;
  if (grad < 0) {
    for (int i = 0; i < inc_layer_buffer_count(l); i++) {
      ck_assert_int_eq(inc_layer_buffer(l, i, &n, &v), INC_OK);
      if (!strcmp(n, name)) return v;
    }
  } else {
    for (int i = 0; i < inc_layer_param_count(l); i++) {
      ck_assert_int_eq(inc_layer_param(l, i, &n, &v, &g), INC_OK);
      if (!strcmp(n, name)) return grad ? g : v;
    }
  }
  ck_abort_msg("no tensor %s", name);
  return NULL;
}

static void set_named(inc_context *ctx, const inc_layer *l, const char *name, const fx_tensor *t)
{
  inc_tensor *v = named(l, name, strstr(name, "running_") ? -1 : 0);
  ck_assert_int_eq(inc_tensor_numel(v), t->numel);
  INC_CK(ctx, inc_tensor_copy_from_host(v, t->data, t->numel));
}

static float count_of(const inc_layer *l, const char *name)
{
  float c = -1.0f;
  INC_CK(inc_tensor_context(named(l, name, -1)),
         inc_tensor_copy_to_host(named(l, name, -1), &c, 1));
  return c;
}

static double meta_double(const fx_file *f, const char *key)
{
  const char *v = fx_meta(f, key);
  ck_assert_msg(v != NULL, "fixture has no metadata %s", key);
  return strtod(v, NULL);
}

/* ---- PyTorch parity ------------------------------------------------------ */

START_TEST(test_bn_torch)
{
  const int c = _i % NBN, b = _i / NBN;
  char file[64];
  snprintf(file, sizeof file, "batch_norm2d_%d.safetensors", c);
  fx_file *f = open_fx(file);
  inc_context *ctx = tu_backend(b);
  inc_layer *bn = NULL;
  INC_CK(ctx, inc_batch_norm2d_create(ctx, (float)meta_double(f, "eps"),
                                      (float)meta_double(f, "momentum"), &bn));
  ck_assert_str_eq(inc_layer_kind(bn), "batch_norm2d");
  const fx_tensor *x0 = tu_fx_need(f, "x0");
  int64_t dims[4] = {x0->dims[0], x0->dims[1], x0->dims[2], x0->dims[3]};
  int nd = 0;
  int64_t od[INC_MAX_DIMS];
  INC_CK(ctx, inc_layer_infer_shape(bn, 4, dims, &nd, od));
  ck_assert_int_eq(inc_layer_param_count(bn), 2);
  ck_assert_int_eq(inc_layer_buffer_count(bn), 3);
  set_named(ctx, bn, "weight", tu_fx_need(f, "weight"));
  set_named(ctx, bn, "bias", tu_fx_need(f, "bias"));
  const inc_tensor *y = NULL;
  inc_tensor *xs[3] = {NULL, NULL, NULL};
  for (int j = 0; j < 3; j++) {
    char nm[8];
    snprintf(nm, sizeof nm, "x%d", j);
    const fx_tensor *xj = tu_fx_need(f, nm);
    xs[j] = tu_tensor(ctx, 4, xj->dims, xj->data);
    INC_CK(ctx, inc_layer_forward(bn, xs[j], 1, &y));
  }
  const fx_tensor *dyf = tu_fx_need(f, "dy");
  inc_tensor *dy = tu_tensor(ctx, 4, dyf->dims, dyf->data);
  const inc_tensor *dx = NULL;
  INC_CK(ctx, inc_layer_backward(bn, dy, &dx));
  tu_fx_near("y", y, tu_fx_need(f, "y"), 1e-5, 1e-4);
  tu_fx_near("dx", dx, tu_fx_need(f, "dx"), 1e-5, 1e-4);
  tu_fx_near("dweight", named(bn, "weight", 1), tu_fx_need(f, "dweight"), 1e-5, 1e-4);
  tu_fx_near("dbias", named(bn, "bias", 1), tu_fx_need(f, "dbias"), 1e-5, 1e-4);
  tu_fx_near("running_mean", named(bn, "running_mean", -1), tu_fx_need(f, "running_mean"),
             1e-6, 1e-4);
  tu_fx_near("running_var", named(bn, "running_var", -1), tu_fx_need(f, "running_var"), 1e-6, 1e-4);
  ck_assert_float_eq(count_of(bn, "num_batches_tracked"),
                     (float)meta_double(f, "num_batches_tracked"));
  /* evaluation: the running statistics, which it leaves as they are */
  const fx_tensor *xe = tu_fx_need(f, "x_eval");
  inc_tensor *xev = tu_tensor(ctx, 4, xe->dims, xe->data);
  INC_CK(ctx, inc_layer_forward(bn, xev, 0, &y));
  tu_fx_near("y_eval", y, tu_fx_need(f, "y_eval"), 1e-5, 1e-4);
  tu_fx_near("running_mean after eval", named(bn, "running_mean", -1),
             tu_fx_need(f, "running_mean"), 1e-6, 1e-4);
  ck_assert_float_eq(count_of(bn, "num_batches_tracked"), 3.0f);
  for (int j = 0; j < 3; j++) inc_tensor_destroy(xs[j]);
  inc_tensor_destroy(xev);
  inc_tensor_destroy(dy);
  inc_layer_destroy(bn);
  tu_backend_done(ctx, b);
  fx_free(f);
}
END_TEST

/* Conv2d(2,4,3,p1) -> BatchNorm2d(4) -> ReLU as a sequential (names 0, 1, 2). */
static inc_layer *conv_bn_relu(inc_context *ctx)
{
  inc_layer *seq = NULL, *l = NULL;
  INC_CK(ctx, inc_sequential_create(ctx, &seq));
  INC_CK(ctx, inc_conv2d_create(ctx, 4, 3, 1, 1, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_batch_norm2d_create(ctx, 1e-5f, 0.1f, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_relu_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  return seq;
}

static const char *const cbr_state[] = {"0.weight", "0.bias", "1.weight", "1.bias",
                                        "1.running_mean", "1.running_var"};

/* 1 if the inference plan of root runs the convolution with the batch norm
 * folded in (and the batch norm and ReLU steps passed on). */
static int folded(const inc_layer *root)
{
  const inc__plan *p = root->plans[0];
  ck_assert_ptr_nonnull(p);
  int fold = 0, passes = 0;
  for (int i = 0; i < p->nfwd; i++) {
    if (p->fwd[i].fold >= 0 && p->fwd[i].relu) fold++;
    if (p->fwd[i].pass) passes++;
  }
  return fold == 1 && passes == 2;
}

START_TEST(test_conv_bn_relu_torch)
{
  const int b = _i;
  fx_file *f = open_fx("conv_bn_relu.safetensors");
  inc_context *ctx = tu_backend(b);
  inc_layer *net = conv_bn_relu(ctx);
  const fx_tensor *xf = tu_fx_need(f, "x");
  int nd = 0;
  int64_t od[INC_MAX_DIMS];
  INC_CK(ctx, inc_layer_infer_shape(net, 4, xf->dims, &nd, od));
  for (size_t i = 0; i < sizeof cbr_state / sizeof *cbr_state; i++)
    set_named(ctx, net, cbr_state[i], tu_fx_need(f, cbr_state[i]));
  inc_tensor *x = tu_tensor(ctx, 4, xf->dims, xf->data);
  const inc_tensor *y = NULL, *dx = NULL;
  INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
  tu_fx_near("y", y, tu_fx_need(f, "y"), 1e-5, 1e-4);
  const fx_tensor *dyf = tu_fx_need(f, "dy");
  inc_tensor *dy = tu_tensor(ctx, 4, dyf->dims, dyf->data);
  INC_CK(ctx, inc_layer_backward(net, dy, &dx));
  tu_fx_near("dx", dx, tu_fx_need(f, "dx"), 1e-5, 1e-4);
  static const char *const grads[] = {"0.weight", "0.bias", "1.weight", "1.bias"};
  for (int i = 0; i < 4; i++) {
    char g[32];
    snprintf(g, sizeof g, "grad/%s", grads[i]);
    /* the conv bias's gradient is a sum that cancels to ~0 before a batch norm */
    tu_fx_near(g, named(net, grads[i], 1), tu_fx_need(f, g), i == 1 ? 1e-4 : 1e-5, 1e-4);
  }
  tu_fx_near("running_mean", named(net, "1.running_mean", -1),
             tu_fx_need(f, "after/1.running_mean"), 1e-6, 1e-4);
  tu_fx_near("running_var", named(net, "1.running_var", -1), tu_fx_need(f, "after/1.running_var"), 1e-6, 1e-4);
  const fx_tensor *xe = tu_fx_need(f, "x_eval");
  inc_tensor *xev = tu_tensor(ctx, 4, xe->dims, xe->data);
  INC_CK(ctx, inc_layer_forward(net, xev, 0, &y));
  tu_fx_near("y_eval (folded)", y, tu_fx_need(f, "y_eval"), 1e-5, 1e-4);
  ck_assert_msg(folded(net), "conv -> batch norm -> ReLU is not one step at inference");
  inc_tensor_destroy(x);
  inc_tensor_destroy(xev);
  inc_tensor_destroy(dy);
  inc_layer_destroy(net);
  tu_backend_done(ctx, b);
  fx_free(f);
}
END_TEST

/* ---- files ---------------------------------------------------------------- */

/* The dtype and shape a safetensors header gives for tensor name, as text
 * ("I64 []"). */
static void header_entry(const char *path, const char *name, char *out, size_t cap)
{
  FILE *fp = fopen(path, "rb");
  ck_assert_ptr_nonnull(fp);
  unsigned char len8[8];
  ck_assert_int_eq(fread(len8, 1, 8, fp), 8);
  uint64_t n = 0;
  for (int i = 0; i < 8; i++) n |= (uint64_t)len8[i] << (8 * i);
  char *h = (char *)calloc(n + 1, 1);
  ck_assert_int_eq(fread(h, 1, n, fp), n);
  fclose(fp);
  char key[128];
  snprintf(key, sizeof key, "\"%s\":{\"dtype\":\"", name);
  const char *e = strstr(h, key);
  ck_assert_msg(e != NULL, "%s: no entry %s in %s", path, name, h);
  e += strlen(key);
  const char *shape = strstr(e, "\"shape\":");
  ck_assert_ptr_nonnull(shape);
  const char *end = strchr(shape, ']');
  snprintf(out, cap, "%.3s %.*s", e, (int)(end - shape - 7), shape + 8);
  free(h);
}

/* PyTorch's state_dict (the count a 0-d int64) loads into an unbound model
 * and binds it; saving writes the count the same way, and loads back. */
START_TEST(test_bn_state_dict)
{
  fx_file *f = open_fx("conv_bn_relu.safetensors");
  inc_context *ctx = tu_cpu();
  inc_layer *net = conv_bn_relu(ctx);
  INC_CK(ctx, inc_layer_load(net, INC_FIXTURE_DIR "/conv_bn_relu_state.safetensors"));
  ck_assert_int_eq(inc_layer_is_bound(net), 1);
  ck_assert_float_eq(count_of(net, "1.num_batches_tracked"), 1.0f);
  tu_fx_near("1.running_mean", named(net, "1.running_mean", -1),
             tu_fx_need(f, "after/1.running_mean"), 0, 0);
  tu_fx_near("0.weight", named(net, "0.weight", 0), tu_fx_need(f, "0.weight"), 0, 0);
  char path[] = "/tmp/inc_bn_XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  close(fd);
  INC_CK(ctx, inc_layer_save(net, path));
  char entry[64];
  header_entry(path, "1.num_batches_tracked", entry, sizeof entry);
  ck_assert_str_eq(entry, "I64 []");
  header_entry(path, "1.running_var", entry, sizeof entry);
  ck_assert_str_eq(entry, "F32 [4]");
  inc_layer *back = conv_bn_relu(ctx);
  INC_CK(ctx, inc_layer_load(back, path));
  ck_assert_float_eq(count_of(back, "1.num_batches_tracked"), 1.0f);
  tu_fx_near("1.running_var", named(back, "1.running_var", -1),
             tu_fx_need(f, "after/1.running_var"), 0, 0);
  unlink(path);
  inc_layer_destroy(back);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
  fx_free(f);
}
END_TEST

/* ---- behaviour -------------------------------------------------------------- */

/* L = sum(y * r) of a training forward, in double. */
static double train_loss(inc_layer *l, const inc_tensor *x, const float *r, int64_t n)
{
  const inc_tensor *y = NULL;
  INC_CK(inc_tensor_context(x), inc_layer_forward(l, x, 1, &y));
  float *h = tu_host(y);
  double s = 0.0;
  for (int64_t i = 0; i < n; i++) s += (double)h[i] * r[i];
  free(h);
  return s;
}

/* Central differences of the float32 training forward for x and weight
 * against backward (the batch statistics move with x: the full Jacobian). */
START_TEST(test_bn_finite_differences)
{
  inc_context *ctx = tu_cpu();
  inc_layer *bn = NULL;
  INC_CK(ctx, inc_batch_norm2d_create(ctx, 1e-5f, 0.1f, &bn));
  const int64_t dims[4] = {3, 2, 3, 4}, n = 72;
  float xv[72], r[72], wv[2] = {1.3f, -0.7f};
  tu_fill(xv, n, 5, -2.0f, 2.0f);
  tu_fill(r, n, 6, -1.0f, 1.0f);
  inc_tensor *x = tu_tensor(ctx, 4, dims, xv), *dy = tu_tensor(ctx, 4, dims, r);
  const inc_tensor *y = NULL, *dx = NULL;
  INC_CK(ctx, inc_layer_forward(bn, x, 1, &y));
  inc_tensor *w = named(bn, "weight", 0);
  INC_CK(ctx, inc_tensor_copy_from_host(w, wv, 2));
  INC_CK(ctx, inc_layer_forward(bn, x, 1, &y));
  INC_CK(ctx, inc_layer_backward(bn, dy, &dx));
  float *gx = tu_host(dx), *gw = tu_host(named(bn, "weight", 1));
  const float eps = 1e-2f;
  for (int64_t i = 0; i < n; i += 5) {
    float save = xv[i];
    xv[i] = save + eps;
    INC_CK(ctx, inc_tensor_copy_from_host(x, xv, n));
    double lp = train_loss(bn, x, r, n);
    xv[i] = save - eps;
    INC_CK(ctx, inc_tensor_copy_from_host(x, xv, n));
    double lm = train_loss(bn, x, r, n);
    xv[i] = save;
    double fd = (lp - lm) / (2.0 * eps);
    ck_assert_msg(fabs(fd - gx[i]) <= 2e-3 + 1e-2 * fabs(fd), "dx[%lld]: %.6g vs fd %.6g",
                  (long long)i, (double)gx[i], fd);
  }
  INC_CK(ctx, inc_tensor_copy_from_host(x, xv, n));
  for (int j = 0; j < 2; j++) {
    float save = wv[j];
    wv[j] = save + eps;
    INC_CK(ctx, inc_tensor_copy_from_host(w, wv, 2));
    double lp = train_loss(bn, x, r, n);
    wv[j] = save - eps;
    INC_CK(ctx, inc_tensor_copy_from_host(w, wv, 2));
    double lm = train_loss(bn, x, r, n);
    wv[j] = save;
    INC_CK(ctx, inc_tensor_copy_from_host(w, wv, 2));
    double fd = (lp - lm) / (2.0 * eps);
    ck_assert_msg(fabs(fd - gw[j]) <= 2e-3 + 1e-3 * fabs(fd), "dweight[%d]: %.6g vs fd %.6g", j,
                  (double)gw[j], fd);
  }
  free(gx);
  free(gw);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  inc_layer_destroy(bn);
  inc_context_destroy(ctx);
}
END_TEST

/* A second backward of one training forward runs the forward again (plan.h)
 * but counts the batch once and moves the running statistics once. */
START_TEST(test_bn_second_backward)
{
  inc_context *ctx = tu_cpu();
  inc_layer *bn = NULL;
  INC_CK(ctx, inc_batch_norm2d_create(ctx, 1e-5f, 0.5f, &bn));
  const int64_t dims[4] = {2, 3, 2, 2};
  float xv[24], dv[24];
  tu_fill(xv, 24, 11, -1.0f, 3.0f);
  tu_fill(dv, 24, 12, -1.0f, 1.0f);
  inc_tensor *x = tu_tensor(ctx, 4, dims, xv), *dy = tu_tensor(ctx, 4, dims, dv);
  const inc_tensor *y = NULL, *dx = NULL;
  INC_CK(ctx, inc_layer_forward(bn, x, 1, &y));
  float *rm1 = tu_host(named(bn, "running_mean", -1));
  INC_CK(ctx, inc_layer_backward(bn, dy, &dx));
  float *g1 = tu_host(dx);
  INC_CK(ctx, inc_layer_backward(bn, dy, &dx));
  float *g2 = tu_host(dx), *rm2 = tu_host(named(bn, "running_mean", -1));
  ck_assert_mem_eq(g1, g2, sizeof xv);
  ck_assert_mem_eq(rm1, rm2, 3 * sizeof(float));
  ck_assert_float_eq(count_of(bn, "num_batches_tracked"), 1.0f);
  free(rm1);
  free(rm2);
  free(g1);
  free(g2);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  inc_layer_destroy(bn);
  inc_context_destroy(ctx);
}
END_TEST

/* One value per channel: no batch statistics in training (PyTorch raises
 * too); nothing changes. Evaluation takes it. */
START_TEST(test_bn_one_value)
{
  inc_context *ctx = tu_cpu();
  inc_layer *bn = NULL;
  INC_CK(ctx, inc_batch_norm2d_create(ctx, 1e-5f, 0.1f, &bn));
  const int64_t dims[4] = {1, 3, 1, 1};
  inc_tensor *x = tu_tensor(ctx, 4, dims, NULL);
  const inc_tensor *y = NULL;
  ck_assert_int_eq(inc_layer_forward(bn, x, 1, &y), INC_ERR_SHAPE);
  ck_assert_msg(strstr(inc_context_last_error(ctx), "more than one value per channel") != NULL,
                "%s", inc_context_last_error(ctx));
  ck_assert_float_eq(count_of(bn, "num_batches_tracked"), 0.0f);
  INC_CK(ctx, inc_layer_forward(bn, x, 0, &y));
  const int64_t bad[2] = {2, 3};
  inc_tensor *flat = tu_tensor(ctx, 2, bad, NULL);
  ck_assert_int_eq(inc_layer_forward(bn, flat, 0, &y), INC_ERR_SHAPE);
  inc_tensor_destroy(flat);
  inc_tensor_destroy(x);
  inc_layer_destroy(bn);
  inc_context_destroy(ctx);
}
END_TEST

Suite *inc_test_suite_batchnorm(void)
{
  char why[INC__ERR_CAP];
  cuda_kind = tu_cuda_probe(why, sizeof why); /* before anything a child would inherit */
  const int backends = cuda_kind ? 2 : 1;
  Suite *s = suite_create("batchnorm");
  TCase *tc = tcase_create("torch");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_bn_torch, 0, NBN * backends);
  tcase_add_loop_test(tc, test_conv_bn_relu_torch, 0, backends);
  tcase_add_test(tc, test_bn_state_dict);
  suite_add_tcase(s, tc);
  TCase *bh = tcase_create("behaviour");
  tcase_add_test(bh, test_bn_finite_differences);
  tcase_add_test(bh, test_bn_second_backward);
  tcase_add_test(bh, test_bn_one_value);
  suite_add_tcase(s, bh);
  return s;
}
