/*
 * bench.c — training and inference throughput of the D2L GoogLeNet, with
 * the figures needed to compare it with PyTorch (examples/bench_torch.py
 * prints the same lines for the same model, batch and thread count).
 *
 *   examples/bench [--device cpu|cuda] [--size 96] [--batch 128] [--steps 5]
 *                  [--threads 2] [--warmup 2] [--profile-steps 2] [--classes 10]
 *                  [--infer-only] [--precision fp32|bf16]
 *
 * Warm-up steps first (they bind the model and grow every buffer), then
 * timed training steps (forward, softmax cross-entropy, backward, SGD) and
 * timed inference passes (--infer-only: only those, so that the peak
 * memory is inference's). Throughput is reported from the median step; the
 * best step is printed beside it. FLOPs are counted from the layer shapes
 * (2 per multiply-add; a training step counts forward, input gradient and
 * weight gradient of every convolution and dense layer). The SGEMM ceiling
 * is one large GEMM on the same backend in the same run (in bf16 with
 * --precision bf16: inc_context_set_precision, the CPU backend of a oneDNN
 * build; the header line says which). Then a few more
 * steps run with the library's profiling hook on (every backend call timed
 * with a device synchronize around it) to give the share of time per layer
 * kind and per pass (with --infer-only: of inference passes, per op and
 * layer kind). The bench links the static library and reads internal
 * headers for that hook and for the layer shapes; it is not an API example.
 *
 * OpenBLAS 0.3.21 does not know recent Xeons (e.g. Emerald Rapids, model
 * 207) and falls back to its Prescott (SSE3) kernels, 5x slower. The core
 * type is chosen once, when OpenBLAS loads, from OPENBLAS_CORETYPE; so when
 * that is unset and OpenBLAS reports Prescott on a CPU with AVX-512 or AVX2,
 * the bench sets it and re-executes itself (see docs/performance.md).
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../src/plan.h"
#include "openblas_env.h"
#include "bench_util.h"

#define CHECK(call)                                                                         \
  do {                                                                                      \
    inc_status s_ = (call);                                                                 \
    if (s_ != INC_OK) {                                                                     \
      fprintf(stderr, "bench: %s failed: %s: %s\n", #call, inc_status_string(s_),           \
              inc_context_last_error(ctx));                                                 \
      exit(1);                                                                              \
    }                                                                                       \
  } while (0)

typedef struct options {
  const char *device, *precision;
  int size, batch, steps, threads, warmup, profile_steps, classes, infer_only;
} options;

static void usage(FILE *f)
{
  fprintf(f, "usage: examples/bench [--device cpu|cuda] [--size N] [--batch N] [--steps N]\n"
             "                      [--threads N] [--warmup N] [--profile-steps N] [--infer-only]\n"
             "                      [--precision fp32|bf16]\n"
             "Times training steps and inference passes of the D2L GoogLeNet\n"
             "(--infer-only: inference passes only, for inference's peak memory).\n"
             "Defaults: --device cpu --size 96 --batch 128 --steps 5 --threads 2\n"
             "          --warmup 2 --profile-steps 2 (0 turns the breakdown off; with\n"
             "          --infer-only it profiles inference passes)\n"
             "          --precision fp32 (bf16: the conv and dense GEMMs take bf16 inputs)\n");
}

static int int_opt(const char *flag, const char *v, int lo, int hi)
{
  return bench_parse_int("bench", flag, v, lo, hi);
}

static void parse(int argc, char **argv, options *o)
{
  *o = (options){"cpu", "fp32", 96, 128, 5, 2, 2, 2, 10, 0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      exit(0);
    } else if (!strcmp(a, "--device") && v) o->device = v, i++;
    else if (!strcmp(a, "--precision") && v) o->precision = v, i++;
    else if (!strcmp(a, "--size")) o->size = int_opt(a, v, 16, 1000000), i++;
    else if (!strcmp(a, "--batch")) o->batch = int_opt(a, v, 1, 1000000), i++;
    else if (!strcmp(a, "--steps")) o->steps = int_opt(a, v, 1, 1000000), i++;
    else if (!strcmp(a, "--threads")) o->threads = int_opt(a, v, 0, 1000000), i++;
    else if (!strcmp(a, "--warmup")) o->warmup = int_opt(a, v, 1, 1000000), i++;
    else if (!strcmp(a, "--profile-steps")) o->profile_steps = int_opt(a, v, 0, 1000000), i++;
    else if (!strcmp(a, "--classes")) o->classes = int_opt(a, v, 1, 1000000), i++;
    else if (!strcmp(a, "--infer-only")) o->infer_only = 1;
    else {
      fprintf(stderr, "bench: unknown option %s\n", a);
      usage(stderr);
      exit(2);
    }
  }
}

/* Multiply-adds of one forward pass: the conv2d and dense steps of the
 * plan the last forward ran (every output shape is known there). */
static void count_macs(const inc_layer *l, double *fwd)
{
  const inc__plan *p = l->plans[1] ? l->plans[1] : l->plans[0];
  for (int i = 0; p && i < p->nfwd; i++) {
    const inc__step *st = &p->fwd[i];
    if (st->op != INC__STEP_FWD || !st->layer->nparams) continue;
    const inc_tensor *w = st->layer->params[0].value, *y = inc__pv(p, st->y);
    if (!strcmp(st->layer->vt->kind, "conv2d")) /* N*OC*OH*OW * C*KH*KW */
      *fwd += (double)y->numel * (double)(w->numel / w->dims[0]);
    else if (!strcmp(st->layer->vt->kind, "dense")) /* N*OUT * F */
      *fwd += (double)y->numel * (double)w->dims[1];
  }
}

typedef struct run {
  inc_context *ctx;
  inc_layer *net;
  inc_optimizer *opt;
  inc_tensor *x, *dlogits;
  int32_t *labels;
} run;

static void train_step(run *r, double *t_fwd, double *t_bwd, double *t_opt)
{
  inc_context *ctx = r->ctx;
  const inc_tensor *y;
  float loss;
  double t0 = bench_now();
  CHECK(inc_layer_forward(r->net, r->x, 1, &y));
  if (!r->dlogits)
    CHECK(inc_tensor_create(ctx, 2, (int64_t[]){y->dims[0], y->dims[1]}, &r->dlogits));
  CHECK(inc_softmax_cross_entropy(ctx, y, r->labels, &loss, r->dlogits, NULL));
  CHECK(inc_context_synchronize(ctx));
  double t1 = bench_now();
  CHECK(inc_layer_backward(r->net, r->dlogits, NULL));
  CHECK(inc_context_synchronize(ctx));
  double t2 = bench_now();
  CHECK(inc_optimizer_step(r->opt, r->net));
  CHECK(inc_context_synchronize(ctx));
  double t3 = bench_now();
  if (!isfinite(loss)) {
    fprintf(stderr, "bench: loss is %g\n", loss);
    exit(1);
  }
  if (t_fwd) *t_fwd += t1 - t0, *t_bwd += t2 - t1, *t_opt += t3 - t2;
}

static void infer_pass(run *r)
{
  inc_context *ctx = r->ctx;
  const inc_tensor *y;
  CHECK(inc_layer_forward(r->net, r->x, 0, &y));
  CHECK(inc_context_synchronize(ctx));
}

/* The SGEMM ceiling: GFLOP/s of a large square GEMM through the backend's
 * own GEMM slot (CBLAS or cuBLAS), best of a few. */
static double sgemm_ceiling(inc_context *ctx, int64_t n)
{
  float *a = NULL, *b = NULL, *c = NULL;
  size_t bytes = (size_t)(n * n) * sizeof(float);
  CHECK(ctx->ops->alloc((void **)&a, bytes, ctx));
  CHECK(ctx->ops->alloc((void **)&b, bytes, ctx));
  CHECK(ctx->ops->alloc((void **)&c, bytes, ctx));
  CHECK(ctx->ops->fill(a, n * n, INC__FILL_UNIFORM, -1.0f, 1.0f, 1, 1, ctx));
  CHECK(ctx->ops->fill(b, n * n, INC__FILL_UNIFORM, -1.0f, 1.0f, 1, 2, ctx));
  double best = 1e30;
  for (int i = 0; i < 4; i++) {
    double t0 = bench_now();
    CHECK(ctx->ops->gemm(c, a, b, 0, 0, n, n, n, 1.0f, 0.0f, ctx));
    CHECK(ctx->ops->synchronize(ctx));
    double t = bench_now() - t0;
    if (i && t < best) best = t; /* the first call warms up */
  }
  ctx->ops->free(a, ctx);
  ctx->ops->free(b, ctx);
  ctx->ops->free(c, ctx);
  return 2.0 * (double)n * (double)n * (double)n / best * 1e-9;
}

/* p: per-category minima over `steps` profiled steps (so per step);
 * infer: they were inference passes, not training steps. */
static void print_profile(const inc__prof *p, int steps, double step_s, int infer)
{
  static const char *names[INC__PROF_NCAT] = {
      "GEMM forward",   "GEMM input-grad", "GEMM weight-grad", "im2col",
      "col2im",         "layout+bias",     "pooling",          "concat (slices, sums)",
      "elementwise",    "loss",            "sgd",              "other"};
  const char *unit = infer ? "ms/pass" : "ms/step";
  double total = 0.0, kt = 0.0;
  for (int i = 0; i < INC__PROF_NCAT; i++) total += p->op_s[i];
  printf("breakdown by op (best of %d profiled %s; backend calls timed with a\n"
         "device sync around each):\n",
         steps, infer ? "inference passes" : "training steps");
  for (int i = 0; i < INC__PROF_NCAT; i++) {
    if (!p->op_calls[i]) continue;
    printf("  %-22s %7.1f %s %5.1f%%", names[i], 1e3 * p->op_s[i], unit,
           100.0 * p->op_s[i] / total);
    if (p->op_flops[i] > 0.0)
      printf("  %6.1f GFLOP/s", p->op_flops[i] / p->op_s[i] * 1e-9);
    printf("\n");
  }
  printf("  %-22s %7.1f %s (best profiled %s %.1f ms)\n", "sum", 1e3 * total, unit,
         infer ? "pass" : "step", 1e3 * step_s);
  for (int i = 0; i < p->nkinds; i++) kt += p->kind_s[i][0] + p->kind_s[i][1];
  printf("breakdown by layer kind (forward / backward):\n");
  for (int i = 0; i < p->nkinds; i++)
    printf("  %-22s %7.1f / %7.1f %s %5.1f%%\n", p->kind[i], 1e3 * p->kind_s[i][0],
           1e3 * p->kind_s[i][1], unit,
           100.0 * (p->kind_s[i][0] + p->kind_s[i][1]) / kt);
  printf("  %-22s %7.1f %s (the rest: containers' own work, concat slices and sums)\n",
         "leaf layers", 1e3 * kt, unit);
}

int main(int argc, char **argv)
{
  options o;
  parse(argc, argv, &o);
  int cpu = !strcmp(o.device, "cpu");
  if (!cpu && strcmp(o.device, "cuda")) {
    fprintf(stderr, "bench: --device must be cpu or cuda\n");
    return 2;
  }
  const int bf16 = !strcmp(o.precision, "bf16");
  if (!bf16 && strcmp(o.precision, "fp32")) {
    fprintf(stderr, "bench: --precision must be fp32 or bf16\n");
    return 2;
  }
  const char *fix = inc_example_openblas_env(argv);
  inc_context *ctx = NULL;
  CHECK(inc_context_create(cpu ? INC_BACKEND_CPU : INC_BACKEND_CUDA, &ctx));
  CHECK(inc_context_set_num_threads(ctx, o.threads));
  if (bf16) CHECK(inc_context_set_precision(ctx, INC_PRECISION_BF16));
  CHECK(inc_context_set_seed(ctx, 42));
  run r = {ctx, NULL, NULL, NULL, NULL, NULL};
  CHECK(inc_googlenet_create(ctx, o.classes, &r.net));
  CHECK(inc_sgd_create(ctx, 0.01f, 0.0f, 0.0f, &r.opt));
  int64_t xd[4] = {o.batch, 1, o.size, o.size};
  CHECK(inc_tensor_create(ctx, 4, xd, &r.x));
  int64_t nx = (int64_t)o.batch * o.size * o.size;
  float *host = malloc((size_t)nx * sizeof *host);
  r.labels = malloc((size_t)o.batch * sizeof *r.labels);
  srand(1);
  for (int64_t i = 0; i < nx; i++) host[i] = (float)rand() / (float)RAND_MAX;
  for (int i = 0; i < o.batch; i++) r.labels[i] = rand() % o.classes;
  CHECK(inc_tensor_copy_from_host(r.x, host, nx));

  printf("libinception %s, %s, D2L GoogLeNet %dx%d batch %d, precision %s, %s\n",
         inc_version_string(), inc_context_device_name(ctx), o.size, o.size, o.batch,
         o.precision, fix);

  for (int i = 0; i < o.warmup; i++) {
    if (o.infer_only) infer_pass(&r);
    else train_step(&r, NULL, NULL, NULL);
  }
  double macs = 0.0;
  count_macs(r.net, &macs);
  double train_flop = 6.0 * macs, infer_flop = 2.0 * macs;

  double *ts = malloc((size_t)o.steps * sizeof *ts), fwd = 0, bwd = 0, opt = 0;
  for (int i = 0; !o.infer_only && i < o.steps; i++) {
    double t0 = bench_now();
    train_step(&r, &fwd, &bwd, &opt);
    ts[i] = bench_now() - t0;
  }
  double t_med = o.infer_only ? 0.0 : bench_median(ts, o.steps),
         t_best = o.infer_only ? 0.0 : ts[0];
  infer_pass(&r);
  for (int i = 0; i < o.steps; i++) {
    double t0 = bench_now();
    infer_pass(&r);
    ts[i] = bench_now() - t0;
  }
  double i_med = bench_median(ts, o.steps), i_best = ts[0];
  struct rusage ru; /* before the ceiling's matrices */
  getrusage(RUSAGE_SELF, &ru);
  double ceiling = sgemm_ceiling(ctx, cpu ? 2048 : 8192);

  if (o.infer_only)
    printf("train: skipped (--infer-only)\n");
  else
    printf("train: %.1f img/s  (median step %.3f s, best %.3f s = %.1f img/s; %d steps)\n",
           o.batch / t_med, t_med, t_best, o.batch / t_best, o.steps);
  printf("infer: %.1f img/s  (median pass %.3f s, best %.3f s = %.1f img/s)\n", o.batch / i_med,
         i_med, i_best, o.batch / i_best);
  printf("flops: %.1f GFLOP per training step, %.1f GFLOP per inference pass\n",
         train_flop * 1e-9, infer_flop * 1e-9);
  printf("achieved: train %.1f GFLOP/s, infer %.1f GFLOP/s; %s ceiling %.1f GFLOP/s\n",
         o.infer_only ? 0.0 : train_flop / t_med * 1e-9, infer_flop / i_med * 1e-9,
         bf16 ? "bf16 GEMM" : "SGEMM", ceiling);
  if (!o.infer_only)
    printf("passes: forward %.1f%%, backward %.1f%%, optimizer %.1f%% of a training step\n",
         100 * fwd / (fwd + bwd + opt), 100 * bwd / (fwd + bwd + opt),
         100 * opt / (fwd + bwd + opt));
  printf("peak memory: %.1f MiB (ru_maxrss)\n", ru.ru_maxrss / 1024.0);

  if (o.profile_steps) {
    /* each step profiled on its own; every figure is the smallest over the
     * steps, which filters out other processes on a shared machine */
    inc__prof best, prof;
    double step = 1e30;
    memset(&best, 0, sizeof best);
    for (int i = 0; i < o.profile_steps; i++) {
      inc__prof_start(ctx, &prof);
      double t0 = bench_now();
      if (o.infer_only) infer_pass(&r);
      else train_step(&r, NULL, NULL, NULL);
      double t = bench_now() - t0;
      inc__prof_stop(ctx);
      if (t < step) step = t;
      if (i == 0) {
        best = prof;
        continue;
      }
      for (int c = 0; c < INC__PROF_NCAT; c++)
        if (prof.op_s[c] < best.op_s[c]) best.op_s[c] = prof.op_s[c];
      for (int k = 0; k < prof.nkinds && k < best.nkinds; k++)
        for (int pass = 0; pass < 2; pass++)
          if (prof.kind_s[k][pass] < best.kind_s[k][pass])
            best.kind_s[k][pass] = prof.kind_s[k][pass];
    }
    print_profile(&best, o.profile_steps, step, o.infer_only);
  }
  free(ts);
  free(host);
  free(r.labels);
  inc_tensor_destroy(r.x);
  inc_tensor_destroy(r.dlogits);
  inc_optimizer_destroy(r.opt);
  inc_layer_destroy(r.net);
  inc_context_destroy(ctx);
  return 0;
}
