/*
 * bench_util.c — the helpers the benchmark programs share (bench_util.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

double bench_now(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int bench_parse_int(const char *prog, const char *flag, const char *v, int lo, int hi)
{
  char *end = NULL;
  long x = v ? strtol(v, &end, 10) : 0;
  if (!v || end == v || *end || x < lo || x > hi) {
    fprintf(stderr, "%s: %s needs an integer in [%d, %d]\n", prog, flag, lo, hi);
    exit(2);
  }
  return (int)x;
}

static int cmp_double(const void *x, const void *y)
{
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

double bench_median(double *v, int n)
{
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
