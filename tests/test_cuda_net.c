/*
 * test_cuda_net.c — the CUDA backend through the public API: the context,
 * the module loader, GoogLeNet forward/backward/step, a net of rectangular
 * convolutions with and without bias and a short training run against the
 * CPU backend, a net of residual blocks (every layout case of the sum)
 * against the CPU backend, saving and exporting (ONNX) through the
 * host, and (on the emulated runtime) the misuse
 * the emulator must catch.
 *
 * Cases by what the process has: a usable CUDA module (a GPU, or the
 * emulated runtime of make check-cuda-emu) gets the network cases; the
 * emulated runtime also gets the misuse cases, which show that its checks
 * (double free, copy direction, host pointers in kernels, reads without a
 * sync) really fire; without CUDA, the no-GPU path is checked instead. The
 * loader cases run everywhere.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cuda_util.h"
#include "module.h"

static inc_context *cpu, *gpu;

static void net_setup(void)
{
  cpu = tu_cpu();
  gpu = tu_cuda_context();
}

static void net_teardown(void)
{
  inc_context_destroy(gpu);
  inc_context_destroy(cpu);
  gpu = cpu = NULL;
  tu_cuda_check_clean("after the test");
}

/* The misuse cases call the emulated runtime directly: a context is made
 * only to load it. Cases that misuse on purpose reset the emulator (what a
 * process restart does) once they have seen the report. */
static void emu_setup(void)
{
  inc_context_destroy(tu_cuda_context());
  printf("emulator self-test: the MISUSE report that may follow is expected\n");
  fflush(stdout);
}
static void emu_teardown(void) { tu_cuda_check_clean("after the test"); }

/* Compares a GPU tensor with its CPU twin.
 *
 * Forward values (NET_VALUES) are continuous functions of the weights: the
 * backends differ only by float rounding in different summation orders
 * (cuBLAS vs OpenBLAS), so they must agree element by element to a small
 * fraction of the tensor's scale.
 *
 * Gradients (NET_GRADS) are not continuous: where two inputs of a max-pool
 * window are within rounding noise of each other, the backends may pick
 * different argmaxes (a ReLU input at zero likewise), which moves a whole
 * dy value to a neighbouring pixel and changes every gradient below it by
 * about 1/sqrt(elements of that layer) in relative L2. CPU runs against
 * CPU runs with split-K GEMMs (nine seeds) showed a few such flips per
 * GoogLeNet pass: relative L2 up to 1.2%, one element up to 2% of its
 * tensor's scale, the logits within 5e-7 of theirs.
 * So gradients are compared in relative L2 (<= 5%) and by their largest
 * error (<= 25% of the scale): loose enough for flips, far tighter than any
 * indexing bug, which is off by O(1). The per-op cases above are the strict
 * checks. */
enum { NET_VALUES, NET_GRADS };

static void check_like(const float *got, const float *ref, int64_t n, int mode,
                       const char *what)
{
  double scale = 0.0, num = 0.0, den = 0.0, worst = 0.0;
  int64_t worst_i = 0;
  for (int64_t i = 0; i < n; i++)
    if (fabs((double)ref[i]) > scale) scale = fabs((double)ref[i]);
  for (int64_t i = 0; i < n; i++) {
    double d = (double)got[i] - (double)ref[i];
    num += d * d;
    den += (double)ref[i] * (double)ref[i];
    double over = mode == NET_VALUES ? fabs(d) - (1e-4 * scale + 1e-3 * fabs((double)ref[i]))
                                     : fabs(d) - 0.25 * scale;
    if (isnan(d)) over = INFINITY;
    if (over > worst || i == 0) {
      worst = over;
      worst_i = i;
    }
  }
  double rel_l2 = den > 0 ? sqrt(num / den) : sqrt(num);
  ck_assert_msg(worst <= 0, "%s: element %lld is %.8g on the GPU, %.8g on the CPU (scale %.3g)",
                what, (long long)worst_i, (double)got[worst_i], (double)ref[worst_i], scale);
  if (mode == NET_GRADS)
    ck_assert_msg(rel_l2 <= 5e-2 || sqrt(num) <= 1e-12, "%s: relative L2 error %.3g > 5e-2", what,
                  rel_l2);
}

static void net_check(const inc_tensor *tg, const inc_tensor *tc, int mode, const char *what)
{
  int64_t n = inc_tensor_numel(tc);
  ck_assert_int_eq(inc_tensor_numel(tg), n);
  float *ref = tu_host(tc), *got = tu_host(tg);
  check_like(got, ref, n, mode, what);
  free(ref);
  free(got);
}

START_TEST(test_cuda_googlenet)
{
  enum { N = 3, HW = 96, CLASSES = 10 };
  inc_context *ctx[2] = {cpu, gpu};
  inc_layer *net[2] = {NULL, NULL};
  inc_tensor *x[2] = {NULL, NULL}, *dl[2] = {NULL, NULL};
  const inc_tensor *y[2], *dx[2];
  float loss[2];
  int64_t correct[2];
  int64_t xdims[4] = {N, 1, HW, HW}, ldims[2] = {N, CLASSES};
  int32_t labels[N] = {1, 5, 9};
  float *xh = (float *)malloc(N * HW * HW * sizeof(float));
  ck_assert_ptr_nonnull(xh);
  tu_fill(xh, N * HW * HW, 77, 0, 1);

  for (int b = 0; b < 2; b++) {
    INC_CK(ctx[b], inc_context_set_seed(ctx[b], 2024));
    INC_CK(ctx[b], inc_googlenet_create(ctx[b], CLASSES, &net[b]));
    x[b] = tu_tensor(ctx[b], 4, xdims, xh);
    dl[b] = tu_tensor(ctx[b], 2, ldims, NULL);
    INC_CK(ctx[b], inc_layer_forward(net[b], x[b], 1, &y[b]));
    INC_CK(ctx[b], inc_softmax_cross_entropy(ctx[b], y[b], labels, &loss[b], dl[b],
                                             &correct[b]));
    INC_CK(ctx[b], inc_layer_backward(net[b], dl[b], &dx[b]));
  }
  /* same parameters to start with: the uniform fill is bit-identical */
  int np = inc_layer_param_count(net[0]);
  ck_assert_int_eq(inc_layer_param_count(net[1]), np);
  ck_assert_int_gt(np, 100);
  for (int i = 0; i < np; i++) {
    const char *name[2];
    inc_tensor *v[2];
    for (int b = 0; b < 2; b++) INC_CK(ctx[b], inc_layer_param(net[b], i, &name[b], &v[b], NULL));
    ck_assert_str_eq(name[0], name[1]);
    float *a = tu_host(v[0]), *c = tu_host(v[1]);
    ck_assert_msg(memcmp(a, c, (size_t)inc_tensor_numel(v[0]) * sizeof(float)) == 0,
                  "initial %s differs", name[0]);
    free(a);
    free(c);
  }
  net_check(y[1], y[0], NET_VALUES, "logits");
  ck_assert_msg(fabsf(loss[1] - loss[0]) <= 1e-3f * fabsf(loss[0]) + 1e-5f,
                "loss gpu %.8g cpu %.8g", (double)loss[1], (double)loss[0]);
  net_check(dl[1], dl[0], NET_VALUES, "dlogits");
  net_check(dx[1], dx[0], NET_GRADS, "input gradient");
  for (int i = 0; i < np; i++) {
    const char *name;
    inc_tensor *g[2];
    INC_CK(cpu, inc_layer_param(net[0], i, &name, NULL, &g[0]));
    INC_CK(gpu, inc_layer_param(net[1], i, NULL, NULL, &g[1]));
    char what[128];
    snprintf(what, sizeof what, "gradient of %s", name);
    net_check(g[1], g[0], NET_GRADS, what);
  }
  /* one SGD step with momentum and weight decay */
  for (int b = 0; b < 2; b++) {
    inc_optimizer *opt = NULL;
    INC_CK(ctx[b], inc_sgd_create(ctx[b], 0.1f, 0.9f, 1e-4f, &opt));
    INC_CK(ctx[b], inc_optimizer_step(opt, net[b]));
    inc_optimizer_destroy(opt);
  }
  for (int i = 0; i < np; i++) {
    const char *name;
    inc_tensor *v[2];
    INC_CK(cpu, inc_layer_param(net[0], i, &name, &v[0], NULL));
    INC_CK(gpu, inc_layer_param(net[1], i, NULL, &v[1], NULL));
    char what[128];
    snprintf(what, sizeof what, "updated %s", name);
    net_check(v[1], v[0], NET_GRADS, what);
  }
  /* The updated network's outputs are continuous again: a second forward
   * pass must agree closely. */
  for (int b = 0; b < 2; b++) INC_CK(ctx[b], inc_layer_forward(net[b], x[b], 0, &y[b]));
  net_check(y[1], y[0], NET_VALUES, "logits after the step");
  INC_CK(gpu, inc_context_synchronize(gpu));
  for (int b = 0; b < 2; b++) {
    inc_tensor_destroy(x[b]);
    inc_tensor_destroy(dl[b]);
    inc_layer_destroy(net[b]);
  }
  free(xh);
}
END_TEST

START_TEST(test_cuda_context)
{
  ck_assert_int_eq(inc_backend_available(INC_BACKEND_CUDA), 1);
  ck_assert_int_eq(inc_context_backend(gpu), INC_BACKEND_CUDA);
  ck_assert_str_eq(gpu->ops->name, "cuda");
  const char *name = inc_context_device_name(gpu);
  ck_assert_msg(strstr(name, "sm_") != NULL && strstr(name, "GiB") != NULL,
                "device name '%s'", name);
  printf("CUDA device: %s\n", name);
  fflush(stdout);
  /* AUTO picks the GPU when one is usable, and has nothing to explain */
  char why[64] = "x";
  ck_assert_int_eq(inc_backend_probe(INC_BACKEND_CUDA, why, sizeof why), INC_OK);
  ck_assert_str_eq(why, "");
  inc_context *a = NULL;
  ck_assert_int_eq(inc_context_create(INC_BACKEND_AUTO, &a), INC_OK);
  ck_assert_int_eq(inc_context_backend(a), INC_BACKEND_CUDA);
  ck_assert_str_eq(inc_context_last_error(a), "");
  inc_context_destroy(a);
  INC_CK(gpu, inc_context_synchronize(gpu));
}
END_TEST


/* Several SGD steps with momentum and weight decay on both backends from
 * the same seed and batches: the quick preset's model size (28x28), batch
 * 4. The losses must stay together, and so must what training did to each
 * parameter tensor (its change from the identical initial values, which
 * would otherwise hide a wrong update); the largest relative difference of
 * those changes is printed. */
START_TEST(test_cuda_train)
{
  enum { N = 4, HW = 28, CLASSES = 10, STEPS = 4 };
  inc_context *ctx[2] = {cpu, gpu};
  inc_layer *net[2] = {NULL, NULL};
  inc_optimizer *opt[2] = {NULL, NULL};
  inc_tensor *x[2] = {NULL, NULL}, *dl[2] = {NULL, NULL};
  int64_t xdims[4] = {N, 1, HW, HW}, ldims[2] = {N, CLASSES};
  float *xh = (float *)malloc(N * HW * HW * sizeof(float));
  ck_assert_ptr_nonnull(xh);
  for (int b = 0; b < 2; b++) {
    INC_CK(ctx[b], inc_context_set_seed(ctx[b], 7));
    INC_CK(ctx[b], inc_googlenet_create(ctx[b], CLASSES, &net[b]));
    INC_CK(ctx[b], inc_sgd_create(ctx[b], 0.01f, 0.9f, 5e-4f, &opt[b]));
    x[b] = tu_tensor(ctx[b], 4, xdims, NULL);
    dl[b] = tu_tensor(ctx[b], 2, ldims, NULL);
  }
  /* the initial parameters, identical on both (the uniform fill is exact) */
  const inc_tensor *y0;
  tu_fill(xh, N * HW * HW, 299, 0, 1);
  for (int b = 0; b < 2; b++) {
    INC_CK(ctx[b], inc_tensor_copy_from_host(x[b], xh, N * HW * HW));
    INC_CK(ctx[b], inc_layer_forward(net[b], x[b], 0, &y0)); /* binds */
  }
  int np = inc_layer_param_count(net[0]);
  float **init = (float **)calloc((size_t)np, sizeof *init);
  ck_assert_ptr_nonnull(init);
  for (int i = 0; i < np; i++) {
    inc_tensor *v;
    INC_CK(cpu, inc_layer_param(net[0], i, NULL, &v, NULL));
    init[i] = tu_host(v);
  }
  float loss[STEPS][2];
  for (int step = 0; step < STEPS; step++) {
    int32_t labels[N];
    tu_fill(xh, N * HW * HW, 300 + step, 0, 1);
    for (int i = 0; i < N; i++) labels[i] = (int32_t)((step * 3 + i * 7) % CLASSES);
    for (int b = 0; b < 2; b++) {
      const inc_tensor *y, *dx;
      int64_t correct;
      INC_CK(ctx[b], inc_tensor_copy_from_host(x[b], xh, N * HW * HW));
      INC_CK(ctx[b], inc_layer_forward(net[b], x[b], 1, &y));
      INC_CK(ctx[b], inc_softmax_cross_entropy(ctx[b], y, labels, &loss[step][b], dl[b],
                                               &correct));
      INC_CK(ctx[b], inc_layer_backward(net[b], dl[b], &dx));
      INC_CK(ctx[b], inc_optimizer_step(opt[b], net[b]));
    }
    ck_assert_msg(fabsf(loss[step][1] - loss[step][0]) <= 1e-3f * fabsf(loss[step][0]) + 1e-5f,
                  "step %d: loss %.9g on CUDA, %.9g on the CPU", step, (double)loss[step][1],
                  (double)loss[step][0]);
  }
  double worst = 0.0;
  const char *worst_name = "";
  for (int i = 0; i < np; i++) {
    const char *name;
    inc_tensor *v[2];
    INC_CK(cpu, inc_layer_param(net[0], i, &name, &v[0], NULL));
    INC_CK(gpu, inc_layer_param(net[1], i, NULL, &v[1], NULL));
    int64_t n = inc_tensor_numel(v[0]);
    float *a = tu_host(v[0]), *c = tu_host(v[1]);
    for (int64_t j = 0; j < n; j++) { /* what the steps changed */
      a[j] -= init[i][j];
      c[j] -= init[i][j];
    }
    char what[128];
    snprintf(what, sizeof what, "the change of %s over %d steps", name, STEPS);
    check_like(c, a, n, NET_GRADS, what);
    double scale = 0.0, diff = 0.0;
    for (int64_t j = 0; j < n; j++) {
      if (fabs((double)a[j]) > scale) scale = fabs((double)a[j]);
      if (fabs((double)c[j] - (double)a[j]) > diff) diff = fabs((double)c[j] - (double)a[j]);
    }
    ck_assert_msg(scale > 0, "%s did not change", name);
    if (diff / scale > worst) {
      worst = diff / scale;
      worst_name = name;
    }
    free(a);
    free(c);
    free(init[i]);
  }
  free(init);
  printf("googlenet training: %d SGD steps (lr 0.01, momentum 0.9), %dx%d, batch %d on %s: "
         "losses", STEPS, HW, HW, N, inc_context_device_name(gpu));
  for (int step = 0; step < STEPS; step++)
    printf(" %.6f/%.6f", (double)loss[step][1], (double)loss[step][0]);
  printf(" (CUDA/CPU); parameter changes differ by at most %.2e of the tensor's largest "
         "change (%s)\n", worst, worst_name);
  fflush(stdout);
  for (int b = 0; b < 2; b++) {
    inc_optimizer_destroy(opt[b]);
    inc_tensor_destroy(x[b]);
    inc_tensor_destroy(dl[b]);
    inc_layer_destroy(net[b]);
  }
  free(xh);
}
END_TEST

/* Appends l to container c: a sequential, or a residual with scale. */
static void put(inc_context *ctx, inc_layer *c, inc_layer *l, float scale)
{
  if (!strcmp(inc_layer_kind(c), "residual")) INC_CK(ctx, inc_residual_add_branch(c, l, scale));
  else INC_CK(ctx, inc_sequential_append(c, l));
}

/* Residual blocks in every layout situation: on the caller's (N, C, ...) x
 * with an Inception-ResNet-like branch (0.2) and a max-pool branch (-0.5),
 * a ReLU, a conv, then an identity plus a 1x1 conv (0.3) on a
 * channel-major x, a ReLU. */
static inc_layer *residual_net(inc_context *ctx)
{
  inc_layer *net, *res, *up, *cat, *tower, *l;
  INC_CK(ctx, inc_sequential_create(ctx, &net));
  INC_CK(ctx, inc_residual_create(ctx, &res));
  INC_CK(ctx, inc_identity_create(ctx, &l));
  put(ctx, res, l, 1.0f);
  INC_CK(ctx, inc_concat_create(ctx, &cat));
  INC_CK(ctx, inc_conv2d_create(ctx, 2, 1, 1, 0, &l));
  INC_CK(ctx, inc_concat_add_branch(cat, l));
  INC_CK(ctx, inc_sequential_create(ctx, &tower));
  INC_CK(ctx, inc_conv2d_create(ctx, 2, 1, 1, 0, &l));
  put(ctx, tower, l, 1.0f);
  INC_CK(ctx, inc_relu_create(ctx, &l));
  put(ctx, tower, l, 1.0f);
  INC_CK(ctx, inc_conv2d_create(ctx, 2, 3, 1, 1, &l));
  put(ctx, tower, l, 1.0f);
  INC_CK(ctx, inc_concat_add_branch(cat, tower));
  INC_CK(ctx, inc_sequential_create(ctx, &up));
  put(ctx, up, cat, 1.0f);
  INC_CK(ctx, inc_conv2d_create(ctx, 3, 1, 1, 0, &l));
  put(ctx, up, l, 1.0f);
  put(ctx, res, up, 0.2f);
  INC_CK(ctx, inc_max_pool2d_create(ctx, 3, 1, 1, &l));
  put(ctx, res, l, -0.5f);
  put(ctx, net, res, 1.0f);
  INC_CK(ctx, inc_relu_create(ctx, &l));
  put(ctx, net, l, 1.0f);
  INC_CK(ctx, inc_conv2d_create(ctx, 3, 3, 1, 1, &l));
  put(ctx, net, l, 1.0f);
  INC_CK(ctx, inc_residual_create(ctx, &res));
  INC_CK(ctx, inc_identity_create(ctx, &l));
  put(ctx, res, l, 1.0f);
  INC_CK(ctx, inc_conv2d_create(ctx, 3, 1, 1, 0, &l));
  put(ctx, res, l, 0.3f);
  put(ctx, net, res, 1.0f);
  INC_CK(ctx, inc_relu_create(ctx, &l));
  put(ctx, net, l, 1.0f);
  return net;
}

/* The residual net on both backends from the same weights: the output, the
 * input gradient and every parameter gradient agree. */
START_TEST(test_cuda_residual)
{
  enum { N = 3, C = 3, H = 7, W = 5 };
  inc_context *ctx[2] = {cpu, gpu};
  inc_layer *net[2];
  inc_tensor *x[2], *dy[2];
  const inc_tensor *y[2], *dx[2];
  int64_t xd[4] = {N, C, H, W};
  float xh[N * C * H * W], dh[N * C * H * W];
  tu_fill(xh, N * C * H * W, 31, -1, 1);
  tu_fill(dh, N * C * H * W, 32, -1, 1);
  for (int b = 0; b < 2; b++) {
    INC_CK(ctx[b], inc_context_set_seed(ctx[b], 99));
    net[b] = residual_net(ctx[b]);
    x[b] = tu_tensor(ctx[b], 4, xd, xh);
    dy[b] = tu_tensor(ctx[b], 4, xd, dh);
    INC_CK(ctx[b], inc_layer_forward(net[b], x[b], 1, &y[b]));
    INC_CK(ctx[b], inc_layer_backward(net[b], dy[b], &dx[b]));
  }
  net_check(y[1], y[0], NET_VALUES, "residual net output");
  net_check(dx[1], dx[0], NET_GRADS, "residual net input gradient");
  int np = inc_layer_param_count(net[0]);
  ck_assert_int_eq(np, 12);
  for (int i = 0; i < np; i++) {
    const char *name;
    inc_tensor *g[2];
    INC_CK(cpu, inc_layer_param(net[0], i, &name, NULL, &g[0]));
    INC_CK(gpu, inc_layer_param(net[1], i, NULL, NULL, &g[1]));
    char what[128];
    snprintf(what, sizeof what, "gradient of %s", name);
    net_check(g[1], g[0], NET_GRADS, what);
  }
  for (int b = 0; b < 2; b++) {
    inc_tensor_destroy(x[b]);
    inc_tensor_destroy(dy[b]);
    inc_layer_destroy(net[b]);
  }
}
END_TEST

/* Two bound Inception blocks, a on CUDA and b on the CPU, b loaded from a's
 * file (path, which the caller removes). */
static void twin_blocks(inc_layer **a, inc_layer **b, char *path)
{
  INC_CK(gpu, inc_inception_create(gpu, 8, 4, 8, 2, 4, 4, a));
  INC_CK(cpu, inc_inception_create(cpu, 8, 4, 8, 2, 4, 4, b));
  int64_t dims[4] = {2, 3, 9, 9}, out[INC_MAX_DIMS];
  int out_ndim;
  INC_CK(gpu, inc_layer_infer_shape(*a, 4, dims, &out_ndim, out));
  INC_CK(cpu, inc_layer_infer_shape(*b, 4, dims, &out_ndim, out));
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  close(fd);
  INC_CK(gpu, inc_layer_save(*a, path));
  INC_CK(cpu, inc_layer_load(*b, path));
}

/* A model trained on CUDA saves through the host and loads on the CPU
 * bit for bit. */
START_TEST(test_cuda_save_load)
{
  inc_layer *a = NULL, *b = NULL;
  char path[] = "/tmp/inc-cuda-save-XXXXXX";
  twin_blocks(&a, &b, path);
  unlink(path);
  for (int i = 0; i < inc_layer_param_count(a); i++) {
    inc_tensor *va, *vb;
    INC_CK(gpu, inc_layer_param(a, i, NULL, &va, NULL));
    INC_CK(cpu, inc_layer_param(b, i, NULL, &vb, NULL));
    float *ha = tu_host(va), *hb = tu_host(vb);
    ck_assert(memcmp(ha, hb, (size_t)inc_tensor_numel(va) * sizeof(float)) == 0);
    free(ha);
    free(hb);
  }
  inc_layer_destroy(a);
  inc_layer_destroy(b);
}
END_TEST

/* An ONNX export from a CUDA context reads its parameters from the device:
 * the file equals, byte for byte, the CPU export of the same weights. */
START_TEST(test_cuda_export_onnx)
{
  inc_layer *a = NULL, *b = NULL;
  char st[] = "/tmp/inc-cuda-onnx-XXXXXX", pa[64], pb[64];
  twin_blocks(&a, &b, st);
  snprintf(pa, sizeof pa, "%s-cuda.onnx", st);
  snprintf(pb, sizeof pb, "%s-cpu.onnx", st);
  INC_CK(gpu, inc_layer_export_onnx(a, pa));
  INC_CK(cpu, inc_layer_export_onnx(b, pb));
  FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
  ck_assert(fa && fb);
  long n = 0;
  int ca, cb;
  do {
    ca = fgetc(fa);
    cb = fgetc(fb);
    ck_assert_msg(ca == cb, "the CUDA and CPU exports differ at byte %ld", n);
    n++;
  } while (ca != EOF);
  ck_assert_int_gt(n, 4 * inc_layer_param_numel(a));
  fclose(fa);
  fclose(fb);
  unlink(st);
  unlink(pa);
  unlink(pb);
  inc_layer_destroy(a);
  inc_layer_destroy(b);
}
END_TEST

/* ---- the module loader -------------------------------------------------------------- */

/* A module that is not there: CUDA is unavailable and says where it looked;
 * AUTO runs on the CPU and says why. */
START_TEST(test_cuda_module_missing)
{
  const char *old = getenv(INC__CUDA_MODULE_ENV);
  char *saved = old ? strdup(old) : NULL;
  setenv(INC__CUDA_MODULE_ENV, "/nonexistent/" INC__CUDA_MODULE_FILE, 1);
  inc_context *c = (inc_context *)&c;
  ck_assert_int_eq(inc_context_create(INC_BACKEND_CUDA, &c), INC_ERR_UNAVAILABLE);
  ck_assert_ptr_null(c);
  ck_assert_int_eq(inc_backend_available(INC_BACKEND_CUDA), 0);
  char why[INC__ERR_CAP];
  ck_assert_int_eq(inc_backend_probe(INC_BACKEND_CUDA, why, sizeof why), INC_ERR_UNAVAILABLE);
  ck_assert_msg(strstr(why, INC__CUDA_MODULE_ENV "=/nonexistent/") != NULL, "reason '%s'", why);
  ck_assert_int_eq(inc_backend_probe(INC_BACKEND_AUTO, why, sizeof why), INC_OK);
  ck_assert_msg(strstr(why, "/nonexistent/") != NULL, "reason '%s'", why);
  inc_context probe;
  memset(&probe, 0, sizeof probe);
  ck_assert_int_eq(inc__cuda_backend_init(&probe), INC_ERR_UNAVAILABLE);
  ck_assert_ptr_null(probe.module);
  ck_assert_int_eq(inc_context_create(INC_BACKEND_AUTO, &c), INC_OK);
  ck_assert_int_eq(inc_context_backend(c), INC_BACKEND_CPU);
  ck_assert_msg(strstr(inc_context_last_error(c), "AUTO chose the CPU") != NULL &&
                    strstr(inc_context_last_error(c), "/nonexistent/") != NULL,
                "message '%s'", inc_context_last_error(c));
  inc_context_destroy(c);
  if (saved) {
    setenv(INC__CUDA_MODULE_ENV, saved, 1);
    free(saved);
  } else {
    unsetenv(INC__CUDA_MODULE_ENV);
  }
}
END_TEST

static int host_verror_calls;
static inc_status host_verror(inc_context *ctx, inc_status s, const char *fmt, va_list ap)
{
  (void)ctx;
  (void)fmt;
  (void)ap;
  host_verror_calls++;
  return s;
}
static int host_no_fault(void) { return 0; }
/* Rectangular convolutions and convolutions without bias on both backends:
 * a 1x1 without bias (input as its col matrix), 1x7 p(0,3) and 7x1 p(3,0)
 * (the "same" paths), 3x1 s(2,1) p(1,0) without bias and 1x3 s(1,2),
 * through both output layouts; forward, every gradient, one SGD step. */
START_TEST(test_cuda_rect_net)
{
  enum { N = 3, C = 3, H = 12, W = 10, CLASSES = 4 };
  static const int g[5][8] = {/* oc, kh, kw, sh, sw, ph, pw, bias */
                              {6, 1, 1, 1, 1, 0, 0, 0}, {5, 1, 7, 1, 1, 0, 3, 1},
                              {5, 7, 1, 1, 1, 3, 0, 0}, {4, 3, 1, 2, 1, 1, 0, 0},
                              {4, 1, 3, 1, 2, 0, 1, 1}};
  inc_context *ctx[2] = {cpu, gpu};
  inc_layer *net[2] = {NULL, NULL};
  inc_tensor *x[2] = {NULL, NULL}, *dl[2] = {NULL, NULL};
  const inc_tensor *y[2], *dx[2];
  float loss[2];
  int64_t xdims[4] = {N, C, H, W}, ldims[2] = {N, CLASSES};
  int32_t labels[N] = {0, 3, 2};
  float xh[N * C * H * W];
  tu_fill(xh, N * C * H * W, 91, -1, 1);
  for (int b = 0; b < 2; b++) {
    inc_layer *l;
    INC_CK(ctx[b], inc_context_set_seed(ctx[b], 17));
    INC_CK(ctx[b], inc_sequential_create(ctx[b], &net[b]));
    for (int i = 0; i < 5; i++) {
      inc_conv2d_desc d = tu_conv_desc(g[i]);
      INC_CK(ctx[b], inc_conv2d_create_desc(ctx[b], &d, &l));
      INC_CK(ctx[b], inc_sequential_append(net[b], l));
      INC_CK(ctx[b], inc_relu_create(ctx[b], &l));
      INC_CK(ctx[b], inc_sequential_append(net[b], l));
    }
    INC_CK(ctx[b], inc_global_avg_pool2d_create(ctx[b], &l));
    INC_CK(ctx[b], inc_sequential_append(net[b], l));
    INC_CK(ctx[b], inc_flatten_create(ctx[b], &l));
    INC_CK(ctx[b], inc_sequential_append(net[b], l));
    INC_CK(ctx[b], inc_dense_create(ctx[b], CLASSES, &l));
    INC_CK(ctx[b], inc_sequential_append(net[b], l));
    x[b] = tu_tensor(ctx[b], 4, xdims, xh);
    dl[b] = tu_tensor(ctx[b], 2, ldims, NULL);
    INC_CK(ctx[b], inc_layer_forward(net[b], x[b], 1, &y[b]));
    INC_CK(ctx[b], inc_softmax_cross_entropy(ctx[b], y[b], labels, &loss[b], dl[b], NULL));
    INC_CK(ctx[b], inc_layer_backward(net[b], dl[b], &dx[b]));
  }
  int np = inc_layer_param_count(net[0]);
  ck_assert_int_eq(np, 5 + 2 + 2); /* weights, the two biases, the dense pair */
  net_check(y[1], y[0], NET_VALUES, "logits");
  net_check(dx[1], dx[0], NET_GRADS, "input gradient");
  for (int i = 0; i < np; i++) {
    const char *name;
    inc_tensor *gr[2];
    INC_CK(cpu, inc_layer_param(net[0], i, &name, NULL, &gr[0]));
    INC_CK(gpu, inc_layer_param(net[1], i, NULL, NULL, &gr[1]));
    char what[128];
    snprintf(what, sizeof what, "gradient of %s", name);
    net_check(gr[1], gr[0], NET_VALUES, what);
  }
  for (int b = 0; b < 2; b++) {
    inc_optimizer *opt = NULL;
    INC_CK(ctx[b], inc_sgd_create(ctx[b], 0.1f, 0.9f, 1e-4f, &opt));
    INC_CK(ctx[b], inc_optimizer_step(opt, net[b]));
    inc_optimizer_destroy(opt);
    INC_CK(ctx[b], inc_layer_forward(net[b], x[b], 0, &y[b]));
  }
  net_check(y[1], y[0], NET_VALUES, "logits after the step");
  INC_CK(gpu, inc_context_synchronize(gpu));
  for (int b = 0; b < 2; b++) {
    inc_tensor_destroy(x[b]);
    inc_tensor_destroy(dl[b]);
    inc_layer_destroy(net[b]);
  }
}
END_TEST

/* The module refuses a core of another interface version, or whose
 * structures differ, and explains why; it accepts the right one. */
START_TEST(test_cuda_module_version)
{
  const char *path = getenv(INC__CUDA_MODULE_ENV);
  ck_assert_ptr_nonnull(path);
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  ck_assert_msg(h != NULL, "dlopen %s: %s", path, dlerror());
  inc__module_entry_fn entry;
  *(void **)&entry = dlsym(h, INC__MODULE_ENTRY);
  ck_assert_ptr_nonnull((void *)entry);
  inc__host host = {sizeof(inc_context), sizeof(inc__backend_ops), host_verror, calloc, free,
                    host_no_fault};
  const inc__module *mod = NULL;
  char why[512] = "";
  ck_assert_int_eq(entry(INC__MODULE_VERSION + 1, &host, &mod, why, sizeof why), 0);
  ck_assert_ptr_null(mod);
  ck_assert_msg(strstr(why, "interface version") != NULL, "message '%s'", why);
  host.context_size = sizeof(inc_context) + 8;
  why[0] = '\0';
  ck_assert_int_eq(entry(INC__MODULE_VERSION, &host, &mod, why, sizeof why), 0);
  ck_assert_msg(strstr(why, "rebuild them together") != NULL, "message '%s'", why);
  /* dlsym gives only the entry point: the backend's own functions are hidden */
  ck_assert_ptr_null(dlsym(h, "inc__cuda_init"));
  ck_assert_ptr_null(dlsym(h, "inc__error"));
  dlclose(h);
  ck_assert_int_eq(host_verror_calls, 0);
}
END_TEST

/* ---- misuse the emulated runtime must catch -------------------------------------------- */

START_TEST(test_emu_double_free)
{
  const tu_cudaemu *emu = tu_emu();
  void *p = NULL;
  ck_assert_int_eq(emu->malloc_(&p, 256), TU_cudaSuccess);
  ck_assert_int_eq(emu->free_(p), TU_cudaSuccess);
  ck_assert_int_eq(emu->violations(), 0);
  ck_assert_int_eq(emu->free_(p), TU_cudaErrorInvalidValue);
  ck_assert_int_eq(emu->violations(), 1);
  emu->reset();
}
END_TEST

START_TEST(test_emu_copy_direction)
{
  const tu_cudaemu *emu = tu_emu();
  void *d = NULL, *d2 = NULL;
  float host[16] = {0};
  ck_assert_int_eq(emu->malloc_(&d, sizeof host), TU_cudaSuccess);
  ck_assert_int_eq(emu->malloc_(&d2, sizeof host), TU_cudaSuccess);
  /* host to device, but the source is device memory */
  ck_assert_int_eq(emu->memcpy_async(d, d2, sizeof host, TU_cudaMemcpyHostToDevice, NULL),
                   TU_cudaErrorInvalidValue);
  /* device to host, but the destination is device memory */
  ck_assert_int_eq(emu->memcpy_async(d, d2, sizeof host, TU_cudaMemcpyDeviceToHost, NULL),
                   TU_cudaErrorInvalidValue);
  /* past the end of the allocation */
  ck_assert_int_eq(emu->memcpy_async(d, host, sizeof host + 4, TU_cudaMemcpyHostToDevice, NULL),
                   TU_cudaErrorInvalidValue);
  ck_assert_int_eq(emu->violations(), 3);
  ck_assert_int_eq(emu->free_(d), TU_cudaSuccess);
  ck_assert_int_eq(emu->free_(d2), TU_cudaSuccess);
  emu->reset();
}
END_TEST

/* A host pointer where a kernel needs device memory faults the device, as
 * on a GPU: the op is queued, the sync reports a lost device. */
START_TEST(test_emu_host_pointer_in_kernel)
{
  const tu_cudaemu *emu = tu_emu();
  inc_context *gpu = tu_cuda_context();
  float host[64];
  tu_fill(host, 64, 5, -1, 1);
  void *y = NULL;
  INC_CK(gpu, gpu->ops->alloc(&y, sizeof host, gpu));
  INC_CK(gpu, gpu->ops->relu_fwd((float *)y, host, 64, gpu));
  ck_assert_int_eq(inc_context_synchronize(gpu), INC_ERR_DEVICE_LOST);
  ck_assert_int_ge(emu->violations(), 1);
  inc_context_destroy(gpu);
  emu->reset(); /* a real process would have to restart */
}
END_TEST

/* A strided batch whose last item runs past its allocation: the emulated
 * cublasSgemmStridedBatched checks every item's range, refuses the call
 * (the op reports cuBLAS's invalid value) and reports the misuse. */
START_TEST(test_emu_batched_item_range)
{
  const tu_cudaemu *emu = tu_emu();
  inc_context *gpu = tu_cuda_context();
  void *a = NULL, *b = NULL, *c = NULL;
  INC_CK(gpu, gpu->ops->alloc(&a, 3 * 4 * sizeof(float), gpu)); /* 3 items of (2, 2) */
  INC_CK(gpu, gpu->ops->alloc(&b, 3 * 4 * sizeof(float), gpu));
  INC_CK(gpu, gpu->ops->alloc(&c, 2 * 4 * sizeof(float), gpu)); /* room for 2 only */
  INC_CK(gpu, gpu->ops->gemm_batched((float *)c, (const float *)a, (const float *)b, 0, 0, 2, 2,
                                     2, 2, 4, 4, 4, 1.0f, 0.0f, gpu));
  ck_assert_int_eq(emu->violations(), 0);
  inc_status s = gpu->ops->gemm_batched((float *)c, (const float *)a, (const float *)b, 0, 0, 2,
                                        2, 2, 3, 4, 4, 4, 1.0f, 0.0f, gpu);
  ck_assert_int_eq(s, INC_ERR_DEVICE);
  ck_assert_msg(strstr(inc_context_last_error(gpu), "CUBLAS_STATUS_INVALID_VALUE") != NULL,
                "message '%s'", inc_context_last_error(gpu));
  ck_assert_int_eq(emu->violations(), 1);
  gpu->ops->free(a, gpu);
  gpu->ops->free(b, gpu);
  gpu->ops->free(c, gpu);
  inc_context_destroy(gpu);
  emu->reset();
}
END_TEST

/* A host read of a device-to-host copy before the stream is synchronised
 * sees garbage (NaN), after it the data. */
START_TEST(test_emu_read_before_sync)
{
  const tu_cudaemu *emu = tu_emu();
  void *stream = NULL, *d = NULL;
  float src[8] = {1, 2, 3, 4, 5, 6, 7, 8}, dst[8] = {0};
  ck_assert_int_eq(emu->stream_create(&stream), TU_cudaSuccess);
  ck_assert_int_eq(emu->malloc_(&d, sizeof src), TU_cudaSuccess);
  ck_assert_int_eq(emu->memcpy_async(d, src, sizeof src, TU_cudaMemcpyHostToDevice, stream),
                   TU_cudaSuccess);
  ck_assert_int_eq(emu->memcpy_async(dst, d, sizeof src, TU_cudaMemcpyDeviceToHost, stream),
                   TU_cudaSuccess);
  ck_assert_msg(isnan(dst[0]) && isnan(dst[7]), "read before the sync: %g", (double)dst[0]);
  ck_assert_int_eq(emu->stream_sync(stream), TU_cudaSuccess);
  ck_assert(memcmp(dst, src, sizeof src) == 0);
  ck_assert_int_eq(emu->free_(d), TU_cudaSuccess);
  ck_assert_int_eq(emu->stream_destroy(stream), TU_cudaSuccess);
  ck_assert_int_eq(emu->violations(), 0);
}
END_TEST

/* ---- without CUDA ---------------------------------------------------------------- */

START_TEST(test_cuda_unavailable)
{
  ck_assert_int_eq(inc_backend_available(INC_BACKEND_CUDA), 0);
  inc_context *c = (inc_context *)&c;
  ck_assert_int_eq(inc_context_create(INC_BACKEND_CUDA, &c), INC_ERR_UNAVAILABLE);
  ck_assert_ptr_null(c);
  /* The public call has no context left to hold a message: the probe says
   * why, and so does the constructor itself. */
  char why[INC__ERR_CAP];
  ck_assert_int_eq(inc_backend_probe(INC_BACKEND_CUDA, why, sizeof why), INC_ERR_UNAVAILABLE);
  ck_assert_msg(strstr(why, "CUDA backend: ") == why, "reason '%s'", why);
  inc_context probe;
  memset(&probe, 0, sizeof probe);
  ck_assert_int_eq(inc__cuda_backend_init(&probe), INC_ERR_UNAVAILABLE);
  ck_assert_msg(strstr(probe.err, "CUDA") != NULL, "message '%s'", probe.err);
  ck_assert_ptr_null(probe.be);
  /* AUTO falls back to the CPU */
  ck_assert_int_eq(inc_context_create(INC_BACKEND_AUTO, &c), INC_OK);
  ck_assert_int_eq(inc_context_backend(c), INC_BACKEND_CPU);
  ck_assert(strstr(inc_context_device_name(c), "CPU") != NULL);
  ck_assert_msg(strstr(inc_context_last_error(c), "AUTO chose the CPU") != NULL, "message '%s'",
                inc_context_last_error(c));
  inc_context_destroy(c);
}
END_TEST

/* ---- registration ------------------------------------------------------------------ */

Suite *inc_test_suite_cuda_net(void)
{
  char why[INC__ERR_CAP];
  int kind = tu_cuda_probe(why, sizeof why); /* before anything the child would inherit */
  Suite *s = suite_create("cuda_net");
  TCase *loader = tcase_create("loader");
  tcase_add_test(loader, test_cuda_module_missing);
  if (getenv(INC__CUDA_MODULE_ENV)) tcase_add_test(loader, test_cuda_module_version);
  if (!kind) tcase_add_test(loader, test_cuda_unavailable);
  suite_add_tcase(s, loader);
  if (!kind) {
    printf("CUDA network cases skipped: %s\n", why);
    fflush(stdout);
    return s;
  }
  TCase *api = tcase_create("api");
  tcase_add_checked_fixture(api, net_setup, net_teardown);
  tcase_set_timeout(api, 120);
  tcase_add_test(api, test_cuda_context);
  tcase_add_test(api, test_cuda_save_load);
  tcase_add_test(api, test_cuda_export_onnx);
  tcase_add_test(api, test_cuda_residual);
  suite_add_tcase(s, api);
  TCase *net = tcase_create("googlenet");
  tcase_add_checked_fixture(net, net_setup, net_teardown);
  tcase_set_timeout(net, 600); /* the emulated device under ASan */
  tcase_add_test(net, test_cuda_googlenet);
  tcase_add_test(net, test_cuda_rect_net);
  tcase_add_test(net, test_cuda_train);
  suite_add_tcase(s, net);
  if (kind == 2) {
    TCase *emu = tcase_create("emulator");
    tcase_add_checked_fixture(emu, emu_setup, emu_teardown);
    tcase_add_test(emu, test_emu_double_free);
    tcase_add_test(emu, test_emu_copy_direction);
    tcase_add_test(emu, test_emu_host_pointer_in_kernel);
    tcase_add_test(emu, test_emu_read_before_sync);
    tcase_add_test(emu, test_emu_batched_item_range);
    suite_add_tcase(s, emu);
  }
  return s;
}

