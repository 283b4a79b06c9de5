/*
 * bench_gemm.c — the GEMM library comparison (issue #14): every SGEMM call
 * the CPU backend makes in one training step and one inference pass of the
 * D2L GoogLeNet, timed with OpenBLAS (what the library links), BLIS,
 * libxsmm and oneDNN, shape by shape, and the step's GEMM time with each.
 *
 *   examples/bench_gemm [--size 28,96] [--batch 128] [--threads 2] [--reps 11]
 *                       [--warmup 2] [--round 20] [--libs LIST] [--conv-algo A]
 *                       [--adapters DIR] [--quick]
 *
 * The shapes come from the library itself. This program links
 * lib/libinception.a statically and defines cblas_sgemm, so the library's
 * calls (src/cpu/backend.c, its only way to SGEMM) bind to this definition
 * at link time; it records the call and passes it on unchanged to
 * OpenBLAS's cblas_sgemm, found with dlsym(RTLD_NEXT). Besides the
 * arguments it records how the call was threaded: outside a parallel
 * region with the OpenBLAS thread count the library set, or inside the
 * library's own OpenMP team (a split GEMM: each thread a single-threaded
 * SGEMM on its block), and what it was for (forward, input gradient,
 * weight gradient: the role the layer gives the library's profiling hook,
 * on while recording). Then bench_gemm_time.c replays each distinct call
 * with every library (see there) and checks its result against OpenBLAS's.
 * The network is planned as the library does by default: set
 * INCEPTION_CONV_ALGO (or --conv-algo) to record another algorithm's GEMMs.
 */
#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <omp.h>

#include "../src/plan.h"
#include "bench_gemm.h"
#include "bench_util.h"
#include "openblas_env.h"

#define CHECK(call)                                                                         \
  do {                                                                                      \
    inc_status s_ = (call);                                                                 \
    if (s_ != INC_OK) {                                                                     \
      fprintf(stderr, "bench_gemm: %s failed: %s: %s\n", #call, inc_status_string(s_),      \
              inc_context_last_error(ctx));                                                 \
      exit(1);                                                                              \
    }                                                                                       \
  } while (0)

#define MAX_SIZES 8

int openblas_get_num_threads(void); /* OpenBLAS extension */

typedef struct options {
  int sizes[MAX_SIZES], nsizes, batch, threads;
  bg_timing t;
  const char *libs, *conv_algo, *adapters;
} options;

/* ---- recording: the library's cblas_sgemm ---- */

enum { ROW_MAJOR = 101, COL_MAJOR = 102, NO_TRANS = 111 }; /* CBLAS's values */
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *,
                         int, float, float *, int);

static struct {
  sgemm_fn real;  /* OpenBLAS's cblas_sgemm */
  pthread_mutex_t mu;
  int on, workload; /* recording?  0 training step, 1 inference pass */
  const inc__prof *prof; /* the profiling hook's state: the call's role */
  bg_call *calls;
  int n, cap;
  double slot[2]; /* the flops of the backend's gemm and gemm_batched slots, per workload (the
                   * profiling hook's count) */
} rec = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int same_call(const bg_call *x, const bg_call *y)
{
  const bg_shape *a = &x->s, *b = &y->s;
  return a->ta == b->ta && a->tb == b->tb && a->m == b->m && a->n == b->n && a->k == b->k &&
         a->lda == b->lda && a->ldb == b->ldb && a->ldc == b->ldc && a->alpha == b->alpha &&
         a->beta == b->beta && x->layout == y->layout && x->role == y->role &&
         x->threads == y->threads && x->team == y->team;
}

static void record(const bg_call *c)
{
  pthread_mutex_lock(&rec.mu);
  int i = 0;
  while (i < rec.n && !same_call(&rec.calls[i], c)) i++;
  if (i == rec.n) {
    if (rec.n == rec.cap) {
      rec.cap = rec.cap ? 2 * rec.cap : 64;
      rec.calls = realloc(rec.calls, (size_t)rec.cap * sizeof *rec.calls);
      if (!rec.calls) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        exit(1);
      }
    }
    rec.calls[rec.n++] = *c;
  }
  rec.calls[i].count[rec.workload]++;
  pthread_mutex_unlock(&rec.mu);
}

static char role_of(int role)
{
  return role == INC__ROLE_NONE || role == INC__ROLE_FWD ? 'F'
         : role == INC__ROLE_DGRAD                       ? 'D'
         : role == INC__ROLE_WGRAD                       ? 'W'
                                                         : '?';
}

/* A column-major call is recorded as the row-major call with the same
 * numbers: c^T = op(b)^T op(a)^T. */
void cblas_sgemm(const int order, const int ta, const int tb, const int m, const int n,
                 const int k, const float alpha, const float *a, const int lda, const float *b,
                 const int ldb, const float beta, float *c, const int ldc);
void cblas_sgemm(const int order, const int ta, const int tb, const int m, const int n,
                 const int k, const float alpha, const float *a, const int lda, const float *b,
                 const int ldb, const float beta, float *c, const int ldc)
{
  if (rec.on) {
    const int col = order == COL_MAJOR, in_team = omp_in_parallel();
    bg_call r = {.s = {col ? tb != NO_TRANS : ta != NO_TRANS, col ? ta != NO_TRANS : tb != NO_TRANS,
                       col ? n : m, col ? m : n, k, col ? ldb : lda, col ? lda : ldb, ldc, alpha,
                       beta},
                 .layout = col ? 'C' : 'R',
                 .role = role_of(rec.prof ? rec.prof->role : INC__ROLE_NONE),
                 .threads = in_team ? 1 : openblas_get_num_threads(),
                 .team = in_team ? omp_get_num_threads() : 1};
    record(&r);
  }
  rec.real(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void bg_openblas_sgemm(const bg_shape *s, const float *a, const float *b, float *c)
{
  rec.real(ROW_MAJOR, s->ta ? NO_TRANS + 1 : NO_TRANS, s->tb ? NO_TRANS + 1 : NO_TRANS, s->m,
           s->n, s->k, s->alpha, a, s->lda, b, s->ldb, s->beta, c, s->ldc);
}

/* ---- the network: one recorded training step and inference pass ---- */

static void train_step(inc_context *ctx, inc_layer *net, inc_optimizer *opt,
                       const inc_tensor *x, inc_tensor *dlogits, const int32_t *labels)
{
  const inc_tensor *y;
  float loss;
  CHECK(inc_layer_forward(net, x, 1, &y));
  CHECK(inc_softmax_cross_entropy(ctx, y, labels, &loss, dlogits, NULL));
  CHECK(inc_layer_backward(net, dlogits, NULL));
  CHECK(inc_optimizer_step(opt, net));
}

/* Runs workload w (0 a training step, 1 an inference pass) with the
 * recording and the profiling hook on. */
static void recorded(inc_context *ctx, int w, inc_layer *net, inc_optimizer *opt,
                     const inc_tensor *x, inc_tensor *dlogits, const int32_t *labels)
{
  inc__prof prof;
  const inc_tensor *y;
  inc__prof_start(ctx, &prof);
  rec.prof = &prof, rec.workload = w, rec.on = 1;
  if (w == 0) train_step(ctx, net, opt, x, dlogits, labels);
  else CHECK(inc_layer_forward(net, x, 0, &y));
  rec.on = 0, rec.prof = NULL;
  inc__prof_stop(ctx);
  rec.slot[w] = prof.op_flops[INC__PROF_GEMM_FWD] + prof.op_flops[INC__PROF_GEMM_DGRAD] +
                prof.op_flops[INC__PROF_GEMM_WGRAD];
}

/* Records the calls of GoogLeNet (10 classes) at size x size, batch o->batch:
 * a training step and an inference pass, each after one unrecorded run
 * (which plans the network and grows its buffers). */
static void capture(const options *o, int size)
{
  inc_context *ctx = NULL;
  inc_layer *net = NULL;
  inc_optimizer *opt = NULL;
  inc_tensor *x = NULL, *dlogits = NULL;
  const int64_t n = (int64_t)o->batch * size * size;
  CHECK(inc_context_create(INC_BACKEND_CPU, &ctx));
  CHECK(inc_context_set_num_threads(ctx, o->threads));
  CHECK(inc_context_set_seed(ctx, 42));
  CHECK(inc_googlenet_create(ctx, 10, &net));
  CHECK(inc_sgd_create(ctx, 0.01f, 0.0f, 0.0f, &opt));
  CHECK(inc_tensor_create(ctx, 4, (int64_t[]){o->batch, 1, size, size}, &x));
  CHECK(inc_tensor_create(ctx, 2, (int64_t[]){o->batch, 10}, &dlogits));
  float *host = malloc((size_t)n * sizeof *host);
  int32_t *labels = malloc((size_t)o->batch * sizeof *labels);
  srand(1);
  for (int64_t i = 0; i < n; i++) host[i] = (float)rand() / (float)RAND_MAX;
  for (int i = 0; i < o->batch; i++) labels[i] = rand() % 10;
  CHECK(inc_tensor_copy_from_host(x, host, n));
  rec.n = 0;
  train_step(ctx, net, opt, x, dlogits, labels);
  recorded(ctx, 0, net, opt, x, dlogits, labels);
  const inc_tensor *y;
  CHECK(inc_layer_forward(net, x, 0, &y));
  recorded(ctx, 1, net, opt, x, dlogits, labels);
  free(host);
  free(labels);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dlogits);
  inc_optimizer_destroy(opt);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}

/* ---- the tables ---- */

static double flop(const bg_shape *s) { return 2.0 * s->m * (double)s->n * s->k; }

/* The fastest column of call i (-1: none). */
static int best_col(const bg_result *r, int ncols)
{
  int b = -1;
  for (int j = 0; j < ncols; j++)
    if (r->sec[j] > 0 && (b < 0 || r->sec[j] < r->sec[b])) b = j;
  return b;
}

static void print_calls(const bg_col *cols, int ncols, const bg_result *res)
{
  printf("\n  #  L R tA tB      M      N      K    lda    ldb    ldc alpha beta  thr train infer  "
         "MFLOP |");
  for (int j = 0; j < ncols; j++) printf(" %9s", cols[j].name);
  printf(" | best       vs OpenBLAS\n");
  for (int i = 0; i < rec.n; i++) {
    const bg_call *c = &rec.calls[i];
    const bg_shape *s = &c->s;
    char thr[16];
    snprintf(thr, sizeof thr, c->team > 1 ? "1x%d" : "%d", c->team > 1 ? c->team : c->threads);
    printf("%3d  %c %c  %c  %c %6d %6d %6d %6d %6d %6d %5g %4g %4s %5ld %5ld %6.1f |", i + 1,
           c->layout, c->role,
           s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->m, s->n, s->k, s->lda, s->ldb, s->ldc,
           s->alpha, s->beta, thr, c->count[0], c->count[1], flop(s) * 1e-6);
    for (int j = 0; j < ncols; j++) {
      if (res[i].sec[j] > 0)
        printf(" %8.1f%c", flop(s) / res[i].sec[j] * 1e-9, res[i].fallback[j] ? '*' : ' ');
      else
        printf(" %9s", cols[j].ok && res[i].failed[j] ? "fail" : "n/a");
    }
    const int b = best_col(&res[i], ncols);
    if (b < 0 || res[i].sec[0] <= 0) printf(" | -\n");
    else printf(" | %-10s %+6.1f%%\n", cols[b].name, 100.0 * (res[i].sec[0] / res[i].sec[b] - 1));
  }
}

/* Milliseconds of workload w's GEMMs with column j (j == ncols: each
 * call's fastest column); negative when a call has no time there. */
static double total_ms(const bg_result *res, int ncols, int w, int j)
{
  double t = 0.0;
  for (int i = 0; i < rec.n; i++) {
    const int col = j < ncols ? j : best_col(&res[i], ncols);
    if (!rec.calls[i].count[w]) continue;
    if (col < 0 || res[i].sec[col] <= 0) return -1.0;
    t += (double)rec.calls[i].count[w] * res[i].sec[col];
  }
  return 1e3 * t;
}

static void print_summary(const bg_col *cols, int ncols, const bg_result *res)
{
  static const char *const wname[2] = {"training step", "inference pass"};
  printf("\nGEMM time per workload, ms (calls x median time of a call; n/a: a call without a "
         "time):\n%-26s", "");
  for (int j = 0; j < ncols; j++) printf(" %9s", cols[j].name);
  printf(" %15s\n", "per-shape best");
  for (int w = 0; w < 2; w++) {
    const double ob = total_ms(res, ncols, w, 0);
    printf("%-26s", wname[w]);
    for (int j = 0; j <= ncols; j++) {
      const double t = total_ms(res, ncols, w, j);
      if (t < 0) printf(j < ncols ? " %9s" : " %15s", "n/a");
      else printf(j < ncols ? " %9.2f" : " %15.2f", t);
    }
    printf("\n%-26s", "  vs OpenBLAS");
    for (int j = 0; j <= ncols; j++) {
      const double t = total_ms(res, ncols, w, j);
      if (t <= 0 || ob <= 0 || j == 0) printf(j < ncols ? " %9s" : " %15s", "-");
      else printf(j < ncols ? " %+8.1f%%" : " %+14.1f%%", 100.0 * (ob / t - 1));
    }
    printf("\n");
  }
  printf("%-26s", "max rel. diff vs OpenBLAS");
  for (int j = 0; j < ncols; j++) {
    double e = -1.0;
    for (int i = 0; i < rec.n; i++)
      if (res[i].sec[j] > 0 || res[i].err[j] > 0)
        e = res[i].err[j] > e ? res[i].err[j] : e;
    if (j == 0 || e < 0) printf(" %9s", "-");
    else printf(" %9.1e", e);
  }
  int won = 0, fell = 0;
  double won_t = 0.0, all_t = 0.0;
  for (int i = 0; i < rec.n; i++) {
    const int b = best_col(&res[i], ncols);
    const double t = (double)rec.calls[i].count[0] * res[i].sec[0];
    all_t += t;
    if (b > 0 && res[i].sec[0] >= 1.1 * res[i].sec[b]) won++, won_t += t;
    for (int j = 0; j < ncols; j++) fell += res[i].fallback[j];
  }
  printf("\ncalls where another library beats OpenBLAS by >= 10%%: %d of %d (%.0f%% of "
         "OpenBLAS's training-step GEMM time)\n",
         won, rec.n, all_t > 0 ? 100.0 * won_t / all_t : 0.0);
  if (fell) printf("* libxsmm handed the call to the BLAS (OpenBLAS's sgemm_): %d cells\n", fell);
}

/* ---- options and main ---- */

static void usage(FILE *f)
{
  fprintf(f,
          "usage: examples/bench_gemm [--size N[,N...]] [--batch N] [--threads N] [--reps N]\n"
          "                           [--warmup N] [--round MS] [--libs LIST] [--conv-algo A]\n"
          "                           [--adapters DIR] [--quick]\n"
          "Records every SGEMM call of one GoogLeNet training step and inference pass and\n"
          "times each with OpenBLAS, BLIS, libxsmm, oneDNN (dnnl_sgemm) and oneDNN's matmul\n"
          "primitive (oneDNN-mm); --libs picks some (OpenBLAS, the reference, always runs).\n"
          "Defaults: --size 28,96 --batch 128 --threads 2 --reps 11 --warmup 2 --round 20\n"
          "--quick: --reps 3 --warmup 1 --round 0 (a correctness run, not a measurement)\n"
          "--adapters: where examples/bench_gemm_<lib>.so are (default: this program's folder)\n");
}

static int int_opt(const char *flag, const char *v, int lo, int hi)
{
  return bench_parse_int("bench_gemm", flag, v, lo, hi);
}

static void parse_sizes(const char *v, options *o)
{
  char buf[128];
  snprintf(buf, sizeof buf, "%s", v ? v : "");
  o->nsizes = 0;
  for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
    if (o->nsizes == MAX_SIZES) int_opt("--size (too many)", "", 1, 0);
    o->sizes[o->nsizes++] = int_opt("--size", p, 16, 4096);
  }
  if (!o->nsizes) int_opt("--size", NULL, 16, 4096);
}

static void parse(int argc, char **argv, options *o)
{
  *o = (options){.sizes = {28, 96}, .nsizes = 2, .batch = 128, .threads = 2,
                 .t = {.reps = 11, .warmup = 2, .round_s = 0.02}};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      exit(0);
    } else if (!strcmp(a, "--size")) parse_sizes(v, o), i++;
    else if (!strcmp(a, "--batch")) o->batch = int_opt(a, v, 1, 100000), i++;
    else if (!strcmp(a, "--threads")) o->threads = int_opt(a, v, 1, 1024), i++;
    else if (!strcmp(a, "--reps")) o->t.reps = int_opt(a, v, 1, 1000), i++;
    else if (!strcmp(a, "--warmup")) o->t.warmup = int_opt(a, v, 0, 1000), i++;
    else if (!strcmp(a, "--round")) o->t.round_s = 1e-3 * int_opt(a, v, 0, 10000), i++;
    else if (!strcmp(a, "--libs") && v) o->libs = v, i++;
    else if (!strcmp(a, "--conv-algo") && v) o->conv_algo = v, i++;
    else if (!strcmp(a, "--adapters") && v) o->adapters = v, i++;
    else if (!strcmp(a, "--quick")) o->t = (bg_timing){.reps = 3, .warmup = 1, .round_s = 0.0};
    else {
      fprintf(stderr, "bench_gemm: unknown option or missing value: %s\n", a);
      usage(stderr);
      exit(2);
    }
  }
}

/* The directory of this program (where the adapters are built). */
static void exe_dir(char *dir, size_t len)
{
  ssize_t n = readlink("/proc/self/exe", dir, len - 1);
  dir[n > 0 ? n : 0] = '\0';
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  else snprintf(dir, len, ".");
}

/* Records, times and prints one size; 0, or -1 when a result was off. */
static int run_size(const options *o, int size, const bg_col *cols, int ncols)
{
  const char *algo = getenv(INC__CONV_ALGO_ENV);
  int distinct[2] = {0, 0}, status = 0;
  long calls[2] = {0, 0};
  capture(o, size);
  double flops[2] = {0, 0}; /* what the recorded SGEMMs compute, per workload */
  for (int i = 0; i < rec.n; i++)
    for (int w = 0; w < 2; w++) {
      const bg_call *c = &rec.calls[i];
      calls[w] += c->count[w], distinct[w] += c->count[w] > 0;
      flops[w] += (double)c->count[w] * flop(&c->s);
    }
  printf("\n== GoogLeNet %dx%d, batch %d, %d threads, INCEPTION_CONV_ALGO=%s\n", size, size,
         o->batch, o->threads, algo && *algo ? algo : "(unset: the library's default)");
  printf("SGEMM calls: %ld per training step (%d distinct), %ld per inference pass (%d "
         "distinct)\nL: layout as called (C: shown as its row-major twin); R: role, F forward, "
         "D input gradient, W weight gradient\nthr: threads of the call, 1xT: one of a team of "
         "T single-threaded calls at once (GFLOP/s: the team's)\ntrain, infer: calls per "
         "training step, per inference pass; the library columns: GFLOP/s (* see below)\n",
         calls[0], distinct[0], calls[1], distinct[1]);
  for (int w = 0; w < 2; w++)
    if (fabs(flops[w] - rec.slot[w]) > 1e-9 * rec.slot[w]) {
      printf("FAIL: %s: the backend's GEMM slots computed %.6g flops, the recorded SGEMMs %.6g\n",
             w ? "inference pass" : "training step", rec.slot[w], flops[w]);
      status = -1;
    }
  bg_result *res = calloc((size_t)rec.n, sizeof *res);
  const int tty = isatty(2);
  for (int i = 0; i < rec.n; i++) {
    if (tty)
      fprintf(stderr, "\rbench_gemm: %dx%d: timing call %d of %d ", size, size, i + 1, rec.n);
    if (bg_time_call(&rec.calls[i], cols, ncols, &o->t, &res[i])) status = -1;
  }
  if (tty) fprintf(stderr, "\n");
  print_calls(cols, ncols, res);
  print_summary(cols, ncols, res);
  for (int i = 0; i < rec.n; i++)
    for (int j = 0; j < ncols; j++)
      if (cols[j].ok && (res[i].why[j] || res[i].failed[j]))
        printf("%s call %d: %s: %s (max rel. diff %.2e)\n",
               res[i].failed[j] ? "FAIL:" : "note:", i + 1, cols[j].name,
               res[i].why[j]               ? res[i].why[j]
               : isinf(res[i].err[j]) ? "NaN, or c changed past column n"
                                      : "result differs from OpenBLAS's",
               res[i].err[j]);
  free(res);
  return status;
}

int main(int argc, char **argv)
{
  options o;
  parse(argc, argv, &o);
  const char *fix = inc_example_openblas_env(argv);
  rec.real = (sgemm_fn)dlsym(RTLD_NEXT, "cblas_sgemm");
  if (!rec.real || rec.real == (sgemm_fn)cblas_sgemm) {
    fprintf(stderr, "bench_gemm: OpenBLAS's cblas_sgemm not found after this program's\n");
    return 1;
  }
  if (o.conv_algo && setenv(INC__CONV_ALGO_ENV, o.conv_algo, 1)) return 1;
  char dir[PATH_MAX];
  if (o.adapters) snprintf(dir, sizeof dir, "%s", o.adapters);
  else exe_dir(dir, sizeof dir);
  bg_col cols[BG_MAX_LIBS];
  const int ncols = bg_load(cols, o.libs, dir);
  if (ncols < 0) return 2;
  printf("libinception %s, %s; reps %d (median), warmup %d, round %.0f ms\n",
         inc_version_string(), fix, o.t.reps, o.t.warmup, 1e3 * o.t.round_s);
  for (int j = 0; j < ncols; j++)
    printf("  %-10s %s%s\n", cols[j].name, cols[j].ok ? "" : "n/a: ", cols[j].info);
  int status = 0;
  for (int i = 0; i < o.nsizes; i++)
    if (run_size(&o, o.sizes[i], cols, ncols)) status = 1;
  if (status) printf("\nbench_gemm: FAILED (see the FAIL lines above)\n");
  free(rec.calls);
  return status;
}
