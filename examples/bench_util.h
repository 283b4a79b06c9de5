/*
 * bench_util.h — what the benchmark programs (examples/bench, bench_conv,
 * bench_gemm) share: a monotonic clock, strict integer options and the
 * median of a set of timings.
 */
#ifndef INC_EXAMPLE_BENCH_UTIL_H
#define INC_EXAMPLE_BENCH_UTIL_H

/* Seconds on the monotonic clock. */
double bench_now(void);
/* v as an integer in [lo, hi]; anything else (NULL, empty, trailing text,
 * out of range) prints "PROG: FLAG needs an integer in [lo, hi]" and exits
 * with status 2. */
int bench_parse_int(const char *prog, const char *flag, const char *v, int lo, int hi);
/* The median of v[0..n) (n >= 1); sorts v. */
double bench_median(double *v, int n);

#endif
