/*
 * common.h — what the dist tests and measurements share (tests/dist/):
 * a small convolutional net, deterministic data, one data-parallel
 * training step of a global batch, and tensor comparisons. Public API only
 * (inception.h, inception_dist.h).
 */
#ifndef INC_TEST_DIST_COMMON_H
#define INC_TEST_DIST_COMMON_H

#include <stdint.h>
#include <stdio.h>

#include "inception.h"
#include "inception_dist.h"

/* The small net's input side and class count. */
#define TD_SIZE 12
#define TD_CLASSES 10

/* Prints "rank R: what: STATUS: message" to stderr and returns 1 when s is
 * not INC_OK (ctx, d may be NULL). */
int td_fail(const inc_dist *d, inc_context *ctx, inc_status s, const char *what);

/* conv 8 3x3 -> relu -> maxpool 2 -> conv 16 3x3 -> relu [-> batch norm]
 * -> global average pool -> flatten -> dense TD_CLASSES, seeded and bound
 * to (1, 1, TD_SIZE, TD_SIZE) with Kaiming-uniform weights. */
inc_status td_small_net(inc_context *ctx, uint64_t seed, int batch_norm, int dense_out,
                        inc_layer **out);

/* n images (TD_SIZE x TD_SIZE) and labels from a pure function of (seed, i). */
void td_data(uint64_t seed, int64_t n, float *x, int32_t *y);

/* One training step on rows [first, first + count) of a global batch of m
 * rows (x, y: the global batch), this rank's share of the loss gradient
 * scaled by count / m (a rank without rows runs row 0 with factor 0, so
 * that it still takes part in the sums). *loss gets the global batch's
 * mean loss when d is not NULL (summed over ranks), else this shard's. */
inc_status td_step(inc_dist *d, inc_context *ctx, inc_layer *net, inc_optimizer *opt,
                   const float *x, const int32_t *y, int64_t m, int64_t first, int64_t count,
                   double *loss);

/* max over elements |a - b| / max over elements |b| for each parameter
 * and buffer of two nets alike; the largest over tensors. -1 on error. */
double td_max_rel_diff(const inc_layer *a, const inc_layer *b, char *worst, size_t cap);

/* The tensors of two nets alike (parameters, then buffers) with
 * max|a - b| > atol + rtol * max|b|, each printed to out (may be NULL) with
 * its figures; -1 on error. */
int td_count_outside(const inc_layer *a, const inc_layer *b, double rtol, double atol, FILE *out);

#endif
