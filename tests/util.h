/*
 * util.h — helpers shared by the Check suites: contexts and tensors from
 * host arrays, comparisons with atol + rtol*|ref|, deterministic test data.
 */
#ifndef INC_TEST_UTIL_H
#define INC_TEST_UTIL_H

#include <check.h>
#include <stdint.h>
#include "fixture.h"
#include "inception.h"

/* Fails the test with the context's message when a call does not return
 * INC_OK. */
#define INC_CK(ctx, call)                                                                    \
  do {                                                                                       \
    inc_status st_ = (call);                                                                 \
    ck_assert_msg(st_ == INC_OK, "%s -> %s: %s", #call, inc_status_string(st_),             \
                  inc_context_last_error(ctx));                                              \
  } while (0)

/* A CPU context with seed 1 and a fixed thread count. */
inc_context *tu_cpu(void);
/* A small Inception classifier for training tests: conv 3x3 (8) > relu >
 * inception > maxpool 3 s2 p1 > flatten > dense (classes). */
inc_layer *tu_small_net(inc_context *ctx, int classes);
/* A convolution descriptor: g = {oc, kh, kw, sh, sw, ph, pw, bias}, the
 * rest zero, size set. */
inc_conv2d_desc tu_conv_desc(const int g[8]);
/* Fixture tensor `name` of f; the test fails when it is absent. */
const fx_tensor *tu_fx_need(const fx_file *f, const char *name);
/* |t - ref| <= atol + rtol |ref| element by element, t of ref's size; the
 * test fails naming `what` and the first element out of tolerance. */
void tu_fx_near(const char *what, const inc_tensor *t, const fx_tensor *ref, double atol,
                double rtol);
/* A tensor of the given shape filled from host (may be NULL: zeros). */
inc_tensor *tu_tensor(inc_context *ctx, int ndim, const int64_t *dims, const float *host);
/* A path /tmp/inc-test-PID-name for a test's file, in one of 4 static
 * buffers used in turn (so a few may be held at once). */
const char *tu_tmp_path(const char *name);
/* Copies a tensor to a new malloc'd host array. */
float *tu_host(const inc_tensor *t);
/* Fills n floats with a deterministic pseudo-random pattern in [lo, hi). */
void tu_fill(float *v, int64_t n, uint64_t seed, float lo, float hi);
/* Copies every parameter and buffer of src into dst (trees of the same
 * structure, both bound). */
void tu_copy_state(inc_context *ctx, inc_layer *dst, const inc_layer *src);
/* Appends *l, just made with status s, to the sequential seq (the test
 * fails if s or the append does). */
void tu_append(inc_context *ctx, inc_layer *seq, inc_status s, inc_layer *const *l);
/* Runs net (training) on x, then backward with dy; host copies of y, dx
 * and every parameter gradient, concatenated, malloc'd (count in *n). */
float *tu_train_pass(inc_context *ctx, inc_layer *net, inc_tensor *x, inc_tensor *dy, int64_t *n);
/* conv 1x1 (5) > max pool 3/1/1 > conv 3x3 (4) > ReLU > conv kxk pad k/2
 * (3), unbound: a net whose second convolution reads a channel-major
 * input (the pool keeps the 1x1's layout) and whose last reads the
 * second's output (the layout tests of Winograd and the unrolled
 * convolution). */
inc_layer *tu_layout_net(inc_context *ctx, int k);
/* Largest violation of |a - b| <= atol + rtol*|b|, as (|a-b| - tol); <= 0 is
 * a pass. *where gets the worst index. */
double tu_worst(const float *a, const float *b, int64_t n, double atol, double rtol,
                int64_t *where);
/* Asserts a matches ref elementwise within atol + rtol*|ref|. */
#define TU_ASSERT_CLOSE(a, ref, n, atol, rtol, what)                                         \
  do {                                                                                       \
    int64_t w_;                                                                              \
    double v_ = tu_worst((a), (ref), (n), (atol), (rtol), &w_);                              \
    ck_assert_msg(v_ <= 0, "%s: element %lld is %.8g, expected %.8g", (what), (long long)w_, \
                  (double)(a)[w_], (double)(ref)[w_]);                                       \
  } while (0)

#endif
