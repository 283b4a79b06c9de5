/*
 * bench_gemm.h — what examples/bench_gemm and its library adapters share:
 * one SGEMM shape, and the table of functions through which the bench
 * drives a GEMM library.
 *
 * OpenBLAS (the library the build links) is driven from the bench itself.
 * Each other library has an adapter, examples/bench_gemm_<lib>.c, built
 * into examples/bench_gemm_<lib>.so only when that library's Debian
 * development package is installed (mk/bench.mk); the bench opens the
 * adapters with dlopen(RTLD_LOCAL | RTLD_DEEPBIND), so an adapter's
 * library resolves its own symbols (BLIS's cblas_sgemm and sgemm_) before
 * OpenBLAS's of the same names, and a missing adapter or library only
 * turns its column into "n/a".
 */
#ifndef EXAMPLES_BENCH_GEMM_H
#define EXAMPLES_BENCH_GEMM_H

#include <stddef.h>

/* One SGEMM as the library called it, in row-major form:
 * c (m, n; row stride ldc) = alpha op(a) op(b) + beta c, op(a) (m, k) and
 * op(b) (k, n); a is (m, lda) when ta is 0, else (k, lda); b is (k, ldb)
 * when tb is 0, else (n, ldb). A column-major call is recorded as the
 * row-major call that computes the same numbers (c transposed). */
typedef struct bg_shape {
  int ta, tb;
  int m, n, k, lda, ldb, ldc;
  float alpha, beta;
} bg_shape;

/* One column of the tables: a library, or one way of calling it. The
 * bench calls open once, then, per shape, threads (outside any parallel
 * region), and prepare / gemm / release either on the calling thread or,
 * for a call the library made inside its OpenMP team, on every thread of
 * such a team at once (each with its own buffers; the library under test
 * must then run single-threaded on each: all four do inside an OpenMP
 * parallel region, see each adapter). */
typedef struct bg_lib {
  const char *name; /* the column's name: "BLIS", "oneDNN", ... */
  /* Loads the library; 0, or -1 with the reason in info. On success info
   * gets a line about the build in use (version, kernels, threading). */
  int (*open)(char *info, size_t len);
  /* Threads for the calls that follow, made outside a parallel region. */
  void (*threads)(int n);
  /* Per-shape, per-calling-thread state (oneDNN's matmul primitive, made
   * for the shape and the buffers once, outside the timing); NULL when
   * the library needs none. *err (a static string) on failure. */
  void *(*prepare)(const bg_shape *s, const float *a, const float *b, float *c,
                   const char **err);
  void (*release)(void *state);
  /* One GEMM of shape s on these buffers (those given to prepare, if
   * any); 0, or nonzero when the library reported an error. */
  int (*gemm)(void *state, const bg_shape *s, const float *a, const float *b, float *c);
  /* How many GEMMs the library has handed to a BLAS so far (libxsmm's
   * fallback for shapes it does not cover); NULL for the others. */
  long (*fallbacks)(void);
} bg_lib;

/* What an adapter module exports: its columns, *n of them. */
typedef const bg_lib *(*bg_adapter_fn)(int *n);
#define BG_ADAPTER_SYMBOL "bench_gemm_adapter"

/* ---- between the bench's two files (bench_gemm.c records the calls and
 * prints the tables, bench_gemm_time.c loads the libraries and times) ---- */

#define BG_MAX_LIBS 8

/* One distinct call of the step: its shape, what it was for, how it was
 * threaded, and how often it ran in each workload. */
typedef struct bg_call {
  bg_shape s;
  char layout;   /* 'R' row-major, 'C' column-major (s: its row-major twin) */
  char role;     /* 'F' forward, 'D' input gradient, 'W' weight gradient, '?' */
  int threads;   /* the BLAS threads the call had: 1 inside a team */
  int team;      /* 1, or the size of the OpenMP team the library made it in */
  long count[2]; /* calls per training step, per inference pass */
} bg_call;

/* A column: a library, loaded or not (then info says why). */
typedef struct bg_col {
  const char *name;
  const bg_lib *lib; /* NULL when not built */
  int ok;
  char info[200];
} bg_col;

/* Per call and column: seconds of one call as the step pays for it (a
 * team's round divided by the team size; 0: n/a), the relative difference
 * from OpenBLAS's result, whether libxsmm gave it to the BLAS. */
typedef struct bg_result {
  double sec[BG_MAX_LIBS], err[BG_MAX_LIBS];
  int fallback[BG_MAX_LIBS];
  int failed[BG_MAX_LIBS];      /* result off, or the library reported an error */
  const char *why[BG_MAX_LIBS]; /* why a cell is n/a, when the column is loaded */
} bg_result;

typedef struct bg_timing {
  int reps, warmup;
  double round_s; /* a timed repetition calls the GEMM until it lasts this long */
} bg_timing;

/* bench_gemm.c: OpenBLAS's own cblas_sgemm (the bench defines the name
 * itself, to record the library's calls), on a row-major shape. */
void bg_openblas_sgemm(const bg_shape *s, const float *a, const float *b, float *c);

/* bench_gemm_time.c: fills cols with OpenBLAS and then the adapters of
 * the libraries named in `wanted` (a comma-separated list of column names,
 * any case; NULL: all), looked for in dir; returns the number of columns. */
int bg_load(bg_col *cols, const char *wanted, const char *dir);
/* Times call c with every loaded column; returns 0, or -1 when a column's
 * result differs from OpenBLAS's by more than 1e-4 (see bg_check). */
int bg_time_call(const bg_call *c, const bg_col *cols, int ncols, const bg_timing *t,
                 bg_result *r);

#endif /* EXAMPLES_BENCH_GEMM_H */
