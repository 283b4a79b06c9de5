/*
 * consumer.c — a program that uses libinception the way an outside project
 * does: built only with the flags of `pkg-config libinception` against a
 * staged `make install` (dynamically, and statically with --static), never
 * with the source tree's include path. Run by tests/consumers/run.sh
 * (make check-consumers).
 *
 * It builds Inception(4, (4, 8), (2, 4), 4) + global average pooling +
 * flatten + dense 5 on every usable backend, checks the parameter table and
 * shapes, an error's status and message, then trains on a tiny synthetic
 * problem with SGD and checks that the loss falls, and that a saved model
 * reloads with the same outputs. Prints one line per check and ends with
 * "consumer: N passed, N failed".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inception.h>

static int passed, failed;

static void check(int ok, const char *what)
{
  printf("%s: %s\n", ok ? "ok" : "FAIL", what);
  if (ok)
    passed++;
  else
    failed++;
}

/* Stops the current backend's run on an unexpected failure. */
#define TRY(call)                                                                        \
  do {                                                                                   \
    inc_status s_ = (call);                                                              \
    if (s_ != INC_OK) {                                                                  \
      printf("FAIL: %s: %s: %s\n", #call, inc_status_string(s_), inc_context_last_error(ctx)); \
      failed++;                                                                          \
      goto done;                                                                         \
    }                                                                                    \
  } while (0)

enum { N = 8, C = 3, H = 8, W = 8, CLASSES = 5, STEPS = 30 };

/* Class k images: a square whose position and per-channel brightness
 * depend on k (brightness survives the global average pooling), plus noise
 * from a small LCG (deterministic, no libc rand state). */
static void make_batch(float *x, int32_t *labels)
{
  unsigned state = 12345u;
  for (int n = 0; n < N; n++) {
    int k = n % CLASSES;
    labels[n] = k;
    for (int c = 0; c < C; c++)
      for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++) {
          state = state * 1664525u + 1013904223u;
          float noise = ((float)(state >> 8) / 16777216.0f - 0.5f) * 0.2f;
          int inside = h >= k && h < k + 3 && w >= k && w < k + 3;
          x[((n * C + c) * H + h) * W + w] =
              (inside ? (float)((k + c) % CLASSES) * 0.8f : 0.0f) + noise;
        }
  }
}

static int run(inc_backend backend, const char *tmpdir)
{
  inc_context *ctx = NULL;
  inc_layer *net = NULL, *block = NULL, *gap = NULL, *flat = NULL, *dense = NULL, *copy = NULL;
  inc_tensor *x = NULL, *dlogits = NULL, *bad = NULL;
  inc_optimizer *opt = NULL;
  const inc_tensor *y = NULL, *dx = NULL;
  float *host = NULL, *out1 = NULL, *out2 = NULL;
  int32_t labels[N];
  char what[256], path[512];
  int result = 1;

  if (inc_context_create(backend, &ctx) != INC_OK) {
    printf("FAIL: inc_context_create(%d)\n", (int)backend);
    failed++;
    return 1;
  }
  printf("== backend %s: %s\n", backend == INC_BACKEND_CUDA ? "cuda" : "cpu",
         inc_context_device_name(ctx));
  TRY(inc_context_set_seed(ctx, 7));
  TRY(inc_sequential_create(ctx, &net));
  TRY(inc_inception_create(ctx, 4, 4, 8, 2, 4, 4, &block));
  TRY(inc_sequential_append(net, block));
  TRY(inc_global_avg_pool2d_create(ctx, &gap));
  TRY(inc_sequential_append(net, gap));
  TRY(inc_flatten_create(ctx, &flat));
  TRY(inc_sequential_append(net, flat));
  TRY(inc_dense_create(ctx, CLASSES, &dense));
  TRY(inc_sequential_append(net, dense));
  check(!inc_layer_is_bound(net) && inc_layer_param_count(net) == 0,
        "a new network is unbound and has no parameters");

  /* shapes and parameters, bound by infer_shape */
  {
    int64_t in[4] = {N, C, H, W}, out[INC_MAX_DIMS];
    int out_ndim = 0;
    TRY(inc_layer_infer_shape(net, 4, in, &out_ndim, out));
    check(out_ndim == 2 && out[0] == N && out[1] == CLASSES, "output shape (8, 5)");
    /* 556 in the block (convs 3->4, 3->4, 4->8 3x3, 3->2, 2->4 5x5, 3->4) + 20*5+5 */
    snprintf(what, sizeof what, "parameter count 14 tensors / 661 scalars (got %d / %lld)",
             inc_layer_param_count(net), (long long)inc_layer_param_numel(net));
    check(inc_layer_param_count(net) == 14 && inc_layer_param_numel(net) == 661, what);
    const char *name = NULL;
    inc_tensor *value = NULL;
    TRY(inc_layer_param(net, 4, &name, &value, NULL));
    snprintf(what, sizeof what, "parameter 4 is 0.p2.2.weight (8, 4, 3, 3) (got %s)", name);
    check(!strcmp(name, "0.p2.2.weight") && inc_tensor_ndim(value) == 4 &&
              inc_tensor_dim(value, 0) == 8 && inc_tensor_dim(value, 1) == 4 &&
              inc_tensor_dim(value, -1) == 3,
          what);
    TRY(inc_layer_param(net, 13, &name, NULL, NULL));
    check(!strcmp(name, "3.bias"), "the last parameter is 3.bias");
  }

  /* an error: a bound network given another channel count */
  {
    int64_t d[4] = {1, C + 1, H, W};
    TRY(inc_tensor_create(ctx, 4, d, &bad));
    inc_status s = inc_layer_forward(net, bad, 0, &y);
    const char *msg = inc_context_last_error(ctx);
    snprintf(what, sizeof what, "4 channels into a net bound to 3: INC_ERR_SHAPE, \"%s\"", msg);
    check(s == INC_ERR_SHAPE && strstr(msg, "bound to 3 input channels") != NULL, what);
    check(!strcmp(inc_status_string(s), "INC_ERR_SHAPE"), "inc_status_string names it");
  }

  /* training */
  {
    int64_t d[4] = {N, C, H, W}, dl[2] = {N, CLASSES};
    host = (float *)malloc(sizeof(float) * N * C * H * W);
    out1 = (float *)malloc(sizeof(float) * N * CLASSES);
    out2 = (float *)malloc(sizeof(float) * N * CLASSES);
    if (!host || !out1 || !out2) goto done;
    make_batch(host, labels);
    TRY(inc_tensor_create(ctx, 4, d, &x));
    TRY(inc_tensor_copy_from_host(x, host, (int64_t)N * C * H * W));
    TRY(inc_tensor_create(ctx, 2, dl, &dlogits));
    TRY(inc_sgd_create(ctx, 0.1f, 0.9f, 0.0f, &opt));
    float first = 0.0f, last = 0.0f;
    int64_t correct = 0;
    for (int step = 0; step < STEPS; step++) {
      float loss;
      TRY(inc_layer_forward(net, x, 1, &y));
      TRY(inc_softmax_cross_entropy(ctx, y, labels, &loss, dlogits, &correct));
      TRY(inc_layer_backward(net, dlogits, &dx));
      TRY(inc_optimizer_step(opt, net));
      if (step == 0) first = loss;
      last = loss;
    }
    check(inc_tensor_ndim(dx) == 4 && inc_tensor_dim(dx, 1) == C && inc_tensor_numel(dx) == N * C * H * W,
          "the input gradient has the input's shape");
    snprintf(what, sizeof what, "loss falls over %d SGD steps: %.4f -> %.4f (%lld/%d right)",
             STEPS, first, last, (long long)correct, N);
    check(isfinite(first) && isfinite(last) && last < 0.5f * first, what);
  }

  /* save, load into a fresh tree, same outputs */
  {
    snprintf(path, sizeof path, "%s/consumer-%d.safetensors", tmpdir, (int)backend);
    TRY(inc_layer_forward(net, x, 0, &y));
    TRY(inc_tensor_copy_to_host(y, out1, N * CLASSES));
    TRY(inc_layer_save(net, path));
    inc_layer *b2 = NULL, *l2 = NULL;
    TRY(inc_sequential_create(ctx, &copy));
    TRY(inc_inception_create(ctx, 4, 4, 8, 2, 4, 4, &b2));
    TRY(inc_sequential_append(copy, b2));
    TRY(inc_global_avg_pool2d_create(ctx, &l2));
    TRY(inc_sequential_append(copy, l2));
    TRY(inc_flatten_create(ctx, &l2));
    TRY(inc_sequential_append(copy, l2));
    TRY(inc_dense_create(ctx, CLASSES, &l2));
    TRY(inc_sequential_append(copy, l2));
    TRY(inc_layer_load(copy, path));
    TRY(inc_layer_forward(copy, x, 0, &y));
    TRY(inc_tensor_copy_to_host(y, out2, N * CLASSES));
    check(!memcmp(out1, out2, sizeof(float) * N * CLASSES),
          "a saved and reloaded network gives identical outputs");
    remove(path);
  }
  result = 0;
done:
  free(host);
  free(out1);
  free(out2);
  inc_optimizer_destroy(opt);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dlogits);
  inc_tensor_destroy(bad);
  inc_layer_destroy(copy);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
  return result;
}

int main(int argc, char **argv)
{
  const char *tmpdir = argc > 1 ? argv[1] : ".";
  char what[256];
  snprintf(what, sizeof what, "header %d.%d.%d, library %s (%u)", INC_VERSION_MAJOR,
           INC_VERSION_MINOR, INC_VERSION_PATCH, inc_version_string(), inc_version_number());
  check(inc_version_number() == INC_VERSION_NUMBER, what);
  run(INC_BACKEND_CPU, tmpdir);
  if (inc_backend_available(INC_BACKEND_CUDA))
    run(INC_BACKEND_CUDA, tmpdir);
  else
    printf("(no usable GPU: the CUDA backend was not exercised)\n");
  printf("consumer: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
