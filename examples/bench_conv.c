/*
 * bench_conv.c — the measurements behind conv2d's algorithm choice: for
 * every 3x3 stride-1 convolution shape of the D2L GoogLeNet at one image
 * size and batch, the time of an inference forward and of a training
 * forward + backward with the direct convolution (im2col + GEMM) and with
 * Winograd F(2x2, 3x3) and F(4x4, 3x3), and the algorithm that
 * INCEPTION_CONV_ALGO=auto picks (src/layers/conv2d_winograd.c, whose cost
 * model's constants these figures are for; docs/performance.md).
 *
 *   examples/bench_conv [--device cpu|cuda] [--size 96] [--batch 128]
 *                       [--steps 5] [--warmup 2] [--threads 2]
 *
 * Each shape runs as one convolution layer (bias, no ReLU) on uniform data;
 * each algorithm gets its own layer, made after INCEPTION_CONV_ALGO is set
 * (the library reads it when it plans a layer). Times are medians over
 * --steps after --warmup runs, in milliseconds; "x" is the training time
 * of the direct convolution over the best Winograd one. The shapes come
 * from GoogLeNet's inference plan (internal headers, like examples/bench).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/plan.h"
#include "openblas_env.h"
#include "bench_util.h"

#define CHECK(call)                                                                         \
  do {                                                                                      \
    inc_status s_ = (call);                                                                 \
    if (s_ != INC_OK) {                                                                     \
      fprintf(stderr, "bench_conv: %s failed: %s: %s\n", #call, inc_status_string(s_),      \
              inc_context_last_error(ctx));                                                 \
      exit(1);                                                                              \
    }                                                                                       \
  } while (0)

#define MAX_SHAPES 32
#define MAX_STEPS 1000

typedef struct options {
  const char *device;
  int size, batch, steps, warmup, threads;
} options;

typedef struct shape {
  int64_t c, h, w, oc;
  int count; /* how many of GoogLeNet's convolutions have it */
} shape;

static void usage(FILE *f)
{
  fprintf(f, "usage: examples/bench_conv [--device cpu|cuda] [--size N] [--batch N] [--steps N]\n"
             "                           [--warmup N] [--threads N]\n"
             "Times each 3x3 stride-1 convolution shape of the D2L GoogLeNet with the direct\n"
             "convolution and Winograd F(2x2,3x3) and F(4x4,3x3), and what the auto rule picks.\n"
             "Defaults: --device cpu --size 96 --batch 128 --steps 5 --warmup 2 --threads 2\n");
}

static int int_opt(const char *flag, const char *v, int lo, int hi)
{
  return bench_parse_int("bench_conv", flag, v, lo, hi);
}

static void parse(int argc, char **argv, options *o)
{
  *o = (options){"cpu", 96, 128, 5, 2, 2};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      exit(0);
    } else if (!strcmp(a, "--device") && v) o->device = v, i++;
    else if (!strcmp(a, "--size")) o->size = int_opt(a, v, 16, 4096), i++;
    else if (!strcmp(a, "--batch")) o->batch = int_opt(a, v, 1, 100000), i++;
    else if (!strcmp(a, "--steps")) o->steps = int_opt(a, v, 1, MAX_STEPS), i++;
    else if (!strcmp(a, "--warmup")) o->warmup = int_opt(a, v, 0, MAX_STEPS), i++;
    else if (!strcmp(a, "--threads")) o->threads = int_opt(a, v, 0, 1024), i++;
    else {
      fprintf(stderr, "bench_conv: unknown option %s\n", a);
      usage(stderr);
      exit(2);
    }
  }
}

/* GoogLeNet's 3x3 stride-1 pad-1 convolutions on size x size images, by
 * distinct (C, H, W, OC), from its inference plan (nothing runs). */
static int googlenet_shapes(inc_context *ctx, int size, shape *out)
{
  inc_layer *net = NULL;
  int64_t xd[4] = {1, 1, size, size}, od[INC_MAX_DIMS];
  int on, n = 0;
  CHECK(inc_googlenet_create(ctx, 10, &net));
  CHECK(inc_layer_infer_shape(net, 4, xd, &on, od));
  inc__shape in = {4, {1, 1, size, size}};
  inc__plan *p = NULL;
  CHECK(inc__plan_build(net, &in, 0, &p));
  for (int i = 0; i < p->nfwd; i++) {
    const inc__step *st = &p->fwd[i];
    inc__window_geom q;
    if (st->op != INC__STEP_FWD || st->pass || !inc__conv2d_geometry(st->layer, &q)) continue;
    if (q.k[0] != 3 || q.k[1] != 3 || q.s[0] != 1 || q.s[1] != 1 || q.p[0] != 1 || q.p[1] != 1)
      continue;
    const inc_tensor *x = inc__pv(p, st->x), *y = inc__pv(p, st->y);
    shape s = {x->dims[1], x->dims[2], x->dims[3], y->dims[1], 1};
    int j = 0;
    while (j < n && !(out[j].c == s.c && out[j].h == s.h && out[j].w == s.w && out[j].oc == s.oc))
      j++;
    if (j < n)
      out[j].count++;
    else if (n < MAX_SHAPES)
      out[n++] = s;
  }
  inc__plan_free(p);
  inc_layer_destroy(net);
  return n;
}

/* Median milliseconds of an inference forward (*infer) and of a training
 * forward + backward (*train) of the convolution s with algorithm algo
 * (a value of INCEPTION_CONV_ALGO); *ran the tile size it ran with. */
static void time_conv(inc_context *ctx, const options *o, const shape *s, const char *algo,
                      const float *hx, const float *hdy, double *infer, double *train, int *ran)
{
  inc_layer *l = NULL;
  inc_tensor *x = NULL, *dy = NULL;
  const inc_tensor *y, *dx;
  int64_t xd[4] = {o->batch, s->c, s->h, s->w}, yd[4] = {o->batch, s->oc, s->h, s->w};
  double ti[MAX_STEPS], tt[MAX_STEPS];
  CHECK(inc_conv2d_create(ctx, (int)s->oc, 3, 1, 1, &l));
  CHECK(inc_tensor_create(ctx, 4, xd, &x));
  CHECK(inc_tensor_create(ctx, 4, yd, &dy));
  CHECK(inc_tensor_copy_from_host(x, hx, inc_tensor_numel(x)));
  CHECK(inc_tensor_copy_from_host(dy, hdy, inc_tensor_numel(dy)));
  if (setenv(INC__CONV_ALGO_ENV, algo, 1)) {
    perror("bench_conv: setenv");
    exit(1);
  }
  for (int i = 0; i < o->warmup + o->steps; i++) { /* the first forward of each kind plans */
    double t0 = bench_now();
    CHECK(inc_layer_forward(l, x, 0, &y));
    CHECK(inc_context_synchronize(ctx));
    double t1 = bench_now();
    CHECK(inc_layer_forward(l, x, 1, &y));
    CHECK(inc_layer_backward(l, dy, &dx));
    CHECK(inc_context_synchronize(ctx));
    double t2 = bench_now();
    if (i >= o->warmup) ti[i - o->warmup] = t1 - t0, tt[i - o->warmup] = t2 - t1;
  }
  unsetenv(INC__CONV_ALGO_ENV);
  *ran = inc__conv2d_step_algo(&l->plans[1]->fwd[0]);
  *infer = 1e3 * bench_median(ti, o->steps);
  *train = 1e3 * bench_median(tt, o->steps);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  inc_layer_destroy(l);
}

int main(int argc, char **argv)
{
  options o;
  parse(argc, argv, &o);
  int cpu = !strcmp(o.device, "cpu");
  if (!cpu && strcmp(o.device, "cuda")) {
    fprintf(stderr, "bench_conv: --device must be cpu or cuda\n");
    return 2;
  }
  const char *fix = inc_example_openblas_env(argv);
  inc_context *ctx = NULL;
  CHECK(inc_context_create(cpu ? INC_BACKEND_CPU : INC_BACKEND_CUDA, &ctx));
  CHECK(inc_context_set_num_threads(ctx, o.threads));
  CHECK(inc_context_set_seed(ctx, 42));
  shape shapes[MAX_SHAPES];
  const int ns = googlenet_shapes(ctx, o.size, shapes);
  static const char *const algos[3] = {"direct", "winograd2", "winograd4"};
  printf("libinception %s, %s, %s\n", inc_version_string(), inc_context_device_name(ctx), fix);
  printf("GoogLeNet's 3x3 stride-1 convolutions at %dx%d, batch %d: milliseconds, median of %d\n",
         o.size, o.size, o.batch, o.steps);
  printf("%-26s %17s %17s %17s  %-9s %-9s %5s\n", "C -> OC, H x W (count)", "direct inf/train",
         "F(2) inf/train", "F(4) inf/train", "fastest", "auto", "x");
  double total[3] = {0, 0, 0}, total_auto = 0.0;
  for (int i = 0; i < ns; i++) {
    const shape *s = &shapes[i];
    const int64_t nx = o.batch * s->c * s->h * s->w, ny = o.batch * s->oc * s->h * s->w;
    float *hx = malloc((size_t)nx * sizeof *hx), *hdy = malloc((size_t)ny * sizeof *hdy);
    if (!hx || !hdy) {
      fprintf(stderr, "bench_conv: out of memory\n");
      return 1;
    }
    srand(1 + i);
    for (int64_t k = 0; k < nx; k++) hx[k] = (float)rand() / (float)RAND_MAX;
    for (int64_t k = 0; k < ny; k++) hdy[k] = 2.0f * (float)rand() / (float)RAND_MAX - 1.0f;
    double inf[3], tr[3];
    int best = 0;
    for (int a = 0; a < 3; a++) {
      int ran;
      time_conv(ctx, &o, s, algos[a], hx, hdy, &inf[a], &tr[a], &ran);
      if (ran != 2 * a) {
        fprintf(stderr, "bench_conv: %s ran F(%d)\n", algos[a], ran);
        return 1;
      }
      total[a] += s->count * tr[a];
      if (tr[a] < tr[best]) best = a;
    }
    const int pick = inc__conv_wino_auto(o.batch, s->h, s->w, s->c, s->oc);
    total_auto += s->count * tr[pick / 2];
    char name[64];
    snprintf(name, sizeof name, "%lld -> %lld, %lldx%lld (%d)", (long long)s->c,
             (long long)s->oc, (long long)s->h, (long long)s->w, s->count);
    printf("%-26s %8.2f/%8.2f %8.2f/%8.2f %8.2f/%8.2f  %-9s %-9s %5.2f\n", name, inf[0], tr[0],
           inf[1], tr[1], inf[2], tr[2], algos[best], algos[pick / 2],
           tr[0] / (tr[1] < tr[2] ? tr[1] : tr[2]));
    free(hx);
    free(hdy);
  }
  printf("training, all of them: direct %.1f ms, F(2) %.1f ms, F(4) %.1f ms, auto %.1f ms\n",
         total[0], total[1], total[2], total_auto);
  inc_context_destroy(ctx);
  return 0;
}
