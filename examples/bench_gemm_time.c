/*
 * bench_gemm_time.c — examples/bench_gemm's libraries and clock: loads
 * OpenBLAS's column and the adapters of the other libraries, and times
 * one recorded SGEMM call with each, after checking its result against
 * OpenBLAS's.
 *
 * A call is replayed the way the library made it: with its transposes,
 * leading dimensions, alpha and beta, on buffers of its full strides (a
 * part of a split GEMM writes ldc-strided rows, as in the library), and
 *   - made outside a parallel region: one call with `threads` threads of
 *     the library under test;
 *   - made inside the library's OpenMP team of `team` threads (its split
 *     GEMMs, src/cpu/backend.c): `team` single-threaded calls at once, one
 *     per thread of a fresh parallel region, each on its own buffers, and
 *     a call's share of the round's time is the round over `team`.
 * Every buffer starts from the same uniform [-1, 1) numbers for every
 * library; the check compares the whole of c (also the columns past n,
 * which no library may touch) after one call from those numbers. Each
 * timed repetition repeats the call until it lasts --round seconds (so
 * that a microsecond call is not all clock), on the same buffers: they
 * stay in cache between calls, which a step's GEMMs do not always find.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <omp.h>

#include "bench_gemm.h"
#include "bench_util.h"

#define MAX_ERR 1e-4 /* the largest relative difference from OpenBLAS accepted */

/* OpenBLAS extensions (cblas.h declares some; these do for any). */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);
char *openblas_get_config(void);
int openblas_get_parallel(void);

/* ---- OpenBLAS, the library the build links: the reference column ---- */

static int ob_open(char *info, size_t len)
{
  static const char *const par[] = {"sequential", "pthreads", "OpenMP"};
  const int p = openblas_get_parallel();
  snprintf(info, len, "%s, core %s, %s", openblas_get_config(), openblas_get_corename(),
           p >= 0 && p <= 2 ? par[p] : "?");
  return 0;
}

static void ob_threads(int n)
{
  if (openblas_get_num_threads() != n) openblas_set_num_threads(n);
}

static int ob_gemm(void *state, const bg_shape *s, const float *a, const float *b, float *c)
{
  (void)state;
  bg_openblas_sgemm(s, a, b, c);
  return 0;
}

static const bg_lib openblas_lib = {
    .name = "OpenBLAS", .open = ob_open, .threads = ob_threads, .gemm = ob_gemm};

/* ---- the adapters (examples/bench_gemm_<file>.c) ---- */

static const struct adapter {
  const char *file, *package, *names[2];
} adapters[] = {
    {"blis", "libblis-dev", {"BLIS", NULL}},
    {"xsmm", "libxsmm-dev", {"libxsmm", NULL}},
    {"dnnl", "libdnnl-dev", {"oneDNN", "oneDNN-mm"}},
};

/* 1 if name is in the comma-separated list (any case); NULL lists all. */
static int listed(const char *list, const char *name)
{
  if (!list) return 1;
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    size_t len = strcspn(p, ",");
    if (len == n && !strncasecmp(p, name, n)) return 1;
    p += len + (p[len] == ',');
  }
  return 0;
}

static void add_missing(bg_col *col, const char *name, const char *why)
{
  *col = (bg_col){.name = name};
  snprintf(col->info, sizeof col->info, "%s", why);
}

/* The columns of one adapter module; returns how many it added. */
static int load_adapter(const struct adapter *ad, bg_col *cols, const char *wanted,
                        const char *dir)
{
  char path[4096], why[200];
  int n = 0, nlibs = 0;
  snprintf(path, sizeof path, "%s/bench_gemm_%s.so", dir, ad->file);
  void *h = NULL;
  if (access(path, R_OK))
    snprintf(why, sizeof why, "no bench_gemm_%s.so in %.80s (built when %s is installed: make "
             "deps-bench)", ad->file, dir, ad->package);
  else if (!(h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND)))
    snprintf(why, sizeof why, "%s", dlerror());
  bg_adapter_fn fn = h ? (bg_adapter_fn)dlsym(h, BG_ADAPTER_SYMBOL) : NULL;
  const bg_lib *libs = fn ? fn(&nlibs) : NULL;
  if (h && !libs) snprintf(why, sizeof why, "bench_gemm_%s.so: no %s", ad->file, BG_ADAPTER_SYMBOL);
  if (!libs) {
    for (int i = 0; i < 2 && ad->names[i]; i++)
      if (listed(wanted, ad->names[i])) add_missing(&cols[n++], ad->names[i], why);
    return n;
  }
  for (int i = 0; i < nlibs && i < 2; i++) {
    if (!listed(wanted, libs[i].name)) continue;
    bg_col *c = &cols[n++];
    *c = (bg_col){.name = libs[i].name, .lib = &libs[i]};
    c->ok = libs[i].open(c->info, sizeof c->info) == 0;
  }
  return n; /* the module stays loaded: the columns point into it */
}

int bg_load(bg_col *cols, const char *wanted, const char *dir)
{
  int n = 1;
  cols[0] = (bg_col){.name = openblas_lib.name, .lib = &openblas_lib, .ok = 1};
  ob_open(cols[0].info, sizeof cols[0].info);
  for (size_t i = 0; i < sizeof adapters / sizeof adapters[0]; i++)
    n += load_adapter(&adapters[i], cols + n, wanted, dir);
  /* every name asked for must be a column (OpenBLAS always is one) */
  for (const char *p = wanted; p && *p;) {
    size_t len = strcspn(p, ","), j = 0;
    while (j < (size_t)n && !(strlen(cols[j].name) == len && !strncasecmp(p, cols[j].name, len)))
      j++;
    if (j == (size_t)n) {
      fprintf(stderr, "bench_gemm: --libs: no library \"%.*s\" (OpenBLAS, BLIS, libxsmm, "
                      "oneDNN, oneDNN-mm)\n", (int)len, p);
      return -1;
    }
    p += len + (p[len] == ',');
  }
  return n;
}

/* ---- buffers ---- */

typedef struct bufs {
  int team;
  size_t na, nb, nc; /* floats in a, b, c */
  float **a, **b, **c; /* per team thread: (rows of a, lda) ... (m, ldc) */
  float *c0;           /* c's first values (m, ldc) */
  float *ref;          /* OpenBLAS's result (m, ldc) */
} bufs;

static float *alloc_floats(size_t n)
{
  void *p = NULL;
  if (posix_memalign(&p, 64, (n ? n : 1) * sizeof(float))) {
    fprintf(stderr, "bench_gemm: cannot allocate %zu floats\n", n);
    exit(1);
  }
  return p;
}

/* Uniform [-1, 1) from a fixed seed (xorshift64). */
static void fill(float *x, size_t n, unsigned long long seed)
{
  unsigned long long s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    x[i] = (float)((double)(s >> 11) / 4503599627370496.0 - 1.0);
  }
}

static void bufs_make(bufs *B, const bg_call *c)
{
  const bg_shape *s = &c->s;
  B->team = c->team;
  B->na = (size_t)(s->ta ? s->k : s->m) * (size_t)s->lda;
  B->nb = (size_t)(s->tb ? s->n : s->k) * (size_t)s->ldb;
  B->nc = (size_t)s->m * (size_t)s->ldc;
  B->a = calloc((size_t)B->team, sizeof *B->a);
  B->b = calloc((size_t)B->team, sizeof *B->b);
  B->c = calloc((size_t)B->team, sizeof *B->c);
  if (!B->a || !B->b || !B->c) {
    fprintf(stderr, "bench_gemm: out of memory\n");
    exit(1);
  }
  B->c0 = alloc_floats(B->nc);
  B->ref = alloc_floats(B->nc);
  fill(B->c0, B->nc, 3);
  for (int t = 0; t < B->team; t++) {
    B->a[t] = alloc_floats(B->na);
    B->b[t] = alloc_floats(B->nb);
    B->c[t] = alloc_floats(B->nc);
    fill(B->a[t], B->na, 1);
    fill(B->b[t], B->nb, 2);
  }
}

static void bufs_free(bufs *B)
{
  for (int t = 0; t < B->team; t++) free(B->a[t]), free(B->b[t]), free(B->c[t]);
  free(B->a), free(B->b), free(B->c), free(B->c0), free(B->ref);
}

static void bufs_reset_c(bufs *B)
{
  for (int t = 0; t < B->team; t++) memcpy(B->c[t], B->c0, B->nc * sizeof(float));
}

/* max |c - ref| / max |ref| over the m x n result; infinity when c changed
 * past column n (the ldc padding) or holds a NaN. */
static double rel_diff(const float *c, const float *ref, const float *c0, const bg_shape *s)
{
  double dmax = 0.0, rmax = 0.0;
  for (int i = 0; i < s->m; i++) {
    const float *ci = c + (size_t)i * s->ldc, *ri = ref + (size_t)i * s->ldc;
    for (int j = 0; j < s->n; j++) {
      double d = fabs((double)ci[j] - (double)ri[j]);
      if (d != d) return INFINITY;
      if (d > dmax) dmax = d;
      if (fabs((double)ri[j]) > rmax) rmax = fabs((double)ri[j]);
    }
    for (int j = s->n; j < s->ldc; j++)
      if (ci[j] != c0[(size_t)i * s->ldc + j]) return INFINITY;
  }
  return rmax > 0.0 ? dmax / rmax : dmax;
}

/* ---- timing ---- */

/* Seconds of `times` calls made as c was (see the top), *fail set when the
 * library reported an error. */
static double rounds(const bg_lib *lib, void **st, const bg_call *c, const bufs *B, long times,
                     int *fail)
{
  int bad = 0;
  lib->threads(c->team > 1 ? 1 : c->threads);
  double t0 = bench_now();
  for (long i = 0; i < times; i++) {
    if (c->team == 1) {
      bad |= lib->gemm(st[0], &c->s, B->a[0], B->b[0], B->c[0]);
      continue;
    }
#pragma omp parallel num_threads(c->team) reduction(| : bad)
    {
      const int t = omp_get_thread_num();
      bad |= lib->gemm(st[t], &c->s, B->a[t], B->b[t], B->c[t]);
    }
  }
  double dt = bench_now() - t0;
  *fail |= bad;
  return dt;
}

/* Checks and times column li on c; the OpenBLAS column (li 0) makes the
 * reference. 0, or -1 when the result is off. */
static int time_col(const bg_col *col, int li, const bg_call *c, bufs *B, const bg_timing *t,
                    bg_result *r)
{
  const bg_lib *lib = col->lib;
  void **st = calloc((size_t)c->team, sizeof *st);
  int fail = 0, status = 0;
  for (int i = 0; lib->prepare && i < c->team && !r->why[li]; i++)
    if (!(st[i] = lib->prepare(&c->s, B->a[i], B->b[i], B->c[i], &r->why[li])) && !r->why[li])
      r->why[li] = "not prepared";
  if (r->why[li]) goto out;
  const long fb0 = lib->fallbacks ? lib->fallbacks() : 0;
  bufs_reset_c(B);
  rounds(lib, st, c, B, 1, &fail);
  if (li == 0) memcpy(B->ref, B->c[0], B->nc * sizeof(float));
  for (int i = 0; i < c->team; i++) {
    double e = rel_diff(B->c[i], B->ref, B->c0, &c->s);
    if (e > r->err[li] || e != e) r->err[li] = e;
  }
  r->fallback[li] = lib->fallbacks && lib->fallbacks() > fb0;
  if (fail) r->why[li] = "the library reported an error";
  if (fail || !(r->err[li] <= MAX_ERR)) {
    status = r->failed[li] = -1;
    goto out;
  }
  for (int i = 0; i < t->warmup; i++) rounds(lib, st, c, B, 1, &fail);
  const double one = rounds(lib, st, c, B, 1, &fail);
  const long times = one >= t->round_s ? 1 : (long)fmin(1e5, ceil(t->round_s / fmax(one, 1e-9)));
  double *v = malloc((size_t)t->reps * sizeof *v);
  for (int i = 0; i < t->reps; i++) v[i] = rounds(lib, st, c, B, times, &fail) / (double)times;
  const double med = bench_median(v, t->reps);
  r->sec[li] = med / c->team;
  free(v);
  if (fail) {
    r->why[li] = "the library reported an error", r->sec[li] = 0.0;
    status = r->failed[li] = -1;
  }
out:
  for (int i = 0; lib->release && i < c->team; i++)
    if (st[i]) lib->release(st[i]);
  free(st);
  return status;
}

int bg_time_call(const bg_call *c, const bg_col *cols, int ncols, const bg_timing *t,
                 bg_result *r)
{
  bufs B;
  int status = 0;
  memset(r, 0, sizeof *r);
  bufs_make(&B, c);
  for (int i = 0; i < ncols; i++) {
    if (!cols[i].ok) continue;
    if (time_col(&cols[i], i, c, &B, t, r)) status = -1;
    if (i == 0 && status) break; /* no reference */
  }
  bufs_free(&B);
  return status;
}
