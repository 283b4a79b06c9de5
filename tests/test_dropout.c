/*
 * test_dropout.c — the dropout layer (src/layers/dropout.c) on the CPU
 * backend: its mask and what its forward, backward and plans do with it.
 *
 *   - statistics: over 2^20 elements the kept fraction is 1 - p within six
 *     standard deviations (a bound a correct generator misses with
 *     probability 2e-9 at any seed; at the fixed seed the test is
 *     deterministic), and every output is 0 or x / (1 - p) exactly;
 *   - the exact relation: y = x * mask / (1 - p) and dx = dy * mask /
 *     (1 - p) bit for bit, with mask[i] = inc__k_dropout_keep(p, seed,
 *     stream, i) for the context's seed and the stream the forward took
 *     (the next one of the context: exactly one per training forward);
 *   - the masks of successive training forwards differ; a second backward
 *     for the same forward uses the same mask (even with a new seed set in
 *     between, or another dy);
 *   - inference is the identity: inside a tree the plan passes the value on
 *     (the step runs nothing, the arena is that of the tree without the
 *     dropout), alone it copies; p = 0 is the identity in both modes and
 *     draws no stream;
 *   - central differences of the library's own forward, the mask held
 *     fixed by restarting the seed before each forward, against backward;
 *   - after a convolution the value is channel-major inside the tree: the
 *     mask still follows the logical (N, C, H, W) index;
 *   - two dropouts as the branches of a concat: one stream each, in branch
 *     order; the first writes its input gradient into the concat's sum, the
 *     second's is added.
 * CPU and CUDA masks are compared in test_cuda.c; the op itself is in the
 * op table (tests/op_cases.c), bad arguments in test_badargs.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "plan.h"
#include "util.h"

static inc_layer *dropout(inc_context *ctx, float p)
{
  inc_layer *l = NULL;
  INC_CK(ctx, inc_dropout_create(ctx, p, &l));
  ck_assert_ptr_nonnull(l);
  return l;
}

/* n floats, none zero: |v| in [0.5, 1.5), signs mixed */
static float *nonzero(int64_t n, uint64_t seed)
{
  float *v = (float *)malloc((size_t)n * sizeof(float));
  ck_assert_ptr_nonnull(v);
  tu_fill(v, n, seed, 0.5f, 1.5f);
  for (int64_t i = 0; i < n; i += 3) v[i] = -v[i];
  return v;
}

/* The mask value of element i: 1/(1 - p) kept, 0 dropped. */
static float mask(float p, uint64_t seed, uint64_t stream, int64_t i)
{
  return inc__k_dropout_keep(p, seed, stream, i) ? 1.0f / (1.0f - p) : 0.0f;
}

/* Asserts got[i] == v[i] * mask(p, seed, stream, i) bit for bit. */
static void check_masked(const float *got, const float *v, int64_t n, float p, uint64_t seed,
                         uint64_t stream, const char *what)
{
  for (int64_t i = 0; i < n; i++) {
    float want = v[i] * mask(p, seed, stream, i);
    ck_assert_msg(memcmp(&got[i], &want, sizeof want) == 0,
                  "%s[%lld] = %.9g, expected %.9g (p %g, stream %llu)", what, (long long)i,
                  (double)got[i], (double)want, (double)p, (unsigned long long)stream);
  }
}

START_TEST(test_dropout_statistics)
{
  static const float rates[] = {0.1f, 0.5f, 0.75f};
  const int64_t d[4] = {16, 64, 32, 32}, n = 16 * 64 * 32 * 32;
  inc_context *ctx = tu_cpu();
  float *ones = (float *)malloc((size_t)n * sizeof(float));
  ck_assert_ptr_nonnull(ones);
  for (int64_t i = 0; i < n; i++) ones[i] = 1.0f;
  inc_tensor *x = tu_tensor(ctx, 4, d, ones);
  for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
    float p = rates[r], scale = 1.0f / (1.0f - p);
    inc_layer *l = dropout(ctx, p);
    const inc_tensor *y = NULL;
    INC_CK(ctx, inc_layer_forward(l, x, 1, &y));
    float *h = tu_host(y);
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
      ck_assert_msg(h[i] == 0.0f || h[i] == scale, "p %g: y[%lld] = %.9g, neither 0 nor %.9g",
                    (double)p, (long long)i, (double)h[i], (double)scale);
      kept += h[i] != 0.0f;
    }
    double frac = (double)kept / (double)n, sigma = sqrt((double)p * (1.0 - p) / (double)n);
    ck_assert_msg(fabs(frac - (1.0 - p)) <= 6.0 * sigma,
                  "p %g: %.6f of the elements kept, expected %.6f +- %.6f", (double)p, frac,
                  1.0 - p, 6.0 * sigma);
    printf("dropout p %.2f: kept %.6f of 2^20 (expected %.6f, %.2f sigma)\n", (double)p, frac,
           1.0 - p, (frac - (1.0 - p)) / sigma);
    free(h);
    inc_layer_destroy(l);
  }
  fflush(stdout);
  free(ones);
  inc_tensor_destroy(x);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_dropout_exact)
{
  const int64_t d[4] = {3, 5, 7, 4}, n = 3 * 5 * 7 * 4;
  const float p = 0.3f;
  inc_context *ctx = tu_cpu();
  INC_CK(ctx, inc_context_set_seed(ctx, 77));
  inc_layer *l = dropout(ctx, p);
  ck_assert_str_eq(inc_layer_kind(l), "dropout");
  ck_assert_int_eq(inc_layer_param_count(l), 0);
  float *xh = nonzero(n, 1), *dyh = nonzero(n, 2), *dy2h = nonzero(n, 3);
  inc_tensor *x = tu_tensor(ctx, 4, d, xh), *dy = tu_tensor(ctx, 4, d, dyh);
  inc_tensor *dy2 = tu_tensor(ctx, 4, d, dy2h);
  const inc_tensor *y = NULL, *dx = NULL;

  uint64_t s0 = ctx->rng_stream;
  INC_CK(ctx, inc_layer_forward(l, x, 1, &y));
  ck_assert_uint_eq(ctx->rng_stream, s0 + 1); /* one stream per training forward */
  float *yh = tu_host(y);
  check_masked(yh, xh, n, p, 77, s0, "y");
  INC_CK(ctx, inc_layer_backward(l, dy, &dx));
  float *dxh = tu_host(dx);
  check_masked(dxh, dyh, n, p, 77, s0, "dx");
  /* a second backward of the same forward: the same mask; a third one
   * too, whatever the seed now and whatever dy */
  INC_CK(ctx, inc_layer_backward(l, dy, &dx));
  float *again = tu_host(dx);
  ck_assert_msg(!memcmp(again, dxh, (size_t)n * sizeof(float)), "a second backward differs");
  INC_CK(ctx, inc_context_set_seed(ctx, 5));
  INC_CK(ctx, inc_layer_backward(l, dy2, &dx));
  float *other = tu_host(dx);
  check_masked(other, dy2h, n, p, 77, s0, "dx (third backward, another dy)");
  ck_assert_uint_eq(ctx->rng_stream, 0); /* backward draws nothing; set_seed restarted it */

  /* the next training forward takes the next stream: another mask */
  INC_CK(ctx, inc_layer_forward(l, x, 1, &y));
  float *y2 = tu_host(y);
  check_masked(y2, xh, n, p, 5, 0, "y (next forward)");
  int64_t differ = 0;
  for (int64_t i = 0; i < n; i++) differ += (y2[i] == 0.0f) != (yh[i] == 0.0f);
  ck_assert_msg(differ > n / 10, "successive masks differ in %lld of %lld elements",
                (long long)differ, (long long)n);
  INC_CK(ctx, inc_layer_forward(l, x, 1, &y));
  float *y3 = tu_host(y);
  check_masked(y3, xh, n, p, 5, 1, "y (third forward)");

  /* inference: the identity, no stream drawn */
  INC_CK(ctx, inc_layer_forward(l, x, 0, &y));
  float *yi = tu_host(y);
  ck_assert_msg(!memcmp(yi, xh, (size_t)n * sizeof(float)), "inference is not the identity");
  ck_assert_ptr_ne(y, x); /* alone, the layer's output is a copy of the caller's x */
  ck_assert_uint_eq(ctx->rng_stream, 2);
  char sum[1024];
  size_t need;
  INC_CK(ctx, inc_layer_summary(l, 4, d, sum, sizeof sum, &need));
  ck_assert_msg(strstr(sum, "dropout") && strstr(sum, "p=0.3"), "summary: %s", sum);

  free(yi);
  free(y3);
  free(y2);
  free(other);
  free(again);
  free(dxh);
  free(yh);
  free(xh);
  free(dyh);
  free(dy2h);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  inc_tensor_destroy(dy2);
  inc_layer_destroy(l);
  inc_context_destroy(ctx);
}
END_TEST

/* p = 0: the identity in both modes, drawing no stream. */
START_TEST(test_dropout_p0)
{
  const int64_t d[2] = {4, 33}, n = 4 * 33;
  inc_context *ctx = tu_cpu();
  inc_layer *l = dropout(ctx, 0.0f);
  float *xh = nonzero(n, 4), *dyh = nonzero(n, 5);
  xh[1] = NAN;
  xh[2] = -0.0f;
  inc_tensor *x = tu_tensor(ctx, 2, d, xh), *dy = tu_tensor(ctx, 2, d, dyh);
  const inc_tensor *y = NULL, *dx = NULL;
  for (int training = 0; training < 2; training++) {
    INC_CK(ctx, inc_layer_forward(l, x, training, &y));
    float *yh = tu_host(y);
    ck_assert_msg(!memcmp(yh, xh, (size_t)n * sizeof(float)), "training %d: y is not x",
                  training);
    free(yh);
  }
  INC_CK(ctx, inc_layer_backward(l, dy, &dx));
  float *dxh = tu_host(dx);
  ck_assert_msg(!memcmp(dxh, dyh, (size_t)n * sizeof(float)), "dx is not dy");
  ck_assert_uint_eq(ctx->rng_stream, 0);
  free(dxh);
  free(xh);
  free(dyh);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  inc_layer_destroy(l);
  inc_context_destroy(ctx);
}
END_TEST

/* dense > [dropout] > relu > dense: the inference plan passes the value on
 * (the dropout step is passed, the arena that of the net without it, the
 * output the same bits); the training plan runs it. */
static inc_layer *head(inc_context *ctx, int with_dropout)
{
  inc_layer *net, *l;
  INC_CK(ctx, inc_sequential_create(ctx, &net));
  INC_CK(ctx, inc_dense_create(ctx, 6, &l));
  INC_CK(ctx, inc_sequential_append(net, l));
  if (with_dropout) INC_CK(ctx, inc_sequential_append(net, dropout(ctx, 0.5f)));
  INC_CK(ctx, inc_relu_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(net, l));
  INC_CK(ctx, inc_dense_create(ctx, 3, &l));
  INC_CK(ctx, inc_sequential_append(net, l));
  return net;
}

static int dropout_steps(const inc__plan *p, int *passed)
{
  int n = 0;
  *passed = 0;
  for (int i = 0; i < p->nfwd; i++)
    if (p->fwd[i].op == INC__STEP_FWD && p->fwd[i].layer->vt == &inc__dropout_vt) {
      n++;
      *passed += p->fwd[i].pass;
    }
  return n;
}

START_TEST(test_dropout_plan_passes)
{
  const int64_t d[2] = {5, 7};
  inc_context *ctx = tu_cpu();
  inc_layer *a = head(ctx, 1), *b = head(ctx, 0);
  float *xh = nonzero(5 * 7, 6);
  inc_tensor *x = tu_tensor(ctx, 2, d, xh);
  const inc_tensor *ya = NULL, *yb = NULL;
  INC_CK(ctx, inc_layer_forward(a, x, 0, &ya));
  INC_CK(ctx, inc_layer_forward(b, x, 0, &yb));
  for (int i = 0; i < inc_layer_param_count(a); i++) { /* b gets a's weights */
    inc_tensor *va, *vb;
    INC_CK(ctx, inc_layer_param(a, i, NULL, &va, NULL));
    INC_CK(ctx, inc_layer_param(b, i, NULL, &vb, NULL));
    float *h = tu_host(va);
    INC_CK(ctx, inc_tensor_copy_from_host(vb, h, inc_tensor_numel(vb)));
    free(h);
  }
  INC_CK(ctx, inc_layer_forward(a, x, 0, &ya));
  INC_CK(ctx, inc_layer_forward(b, x, 0, &yb));
  float *ha = tu_host(ya), *hb = tu_host(yb);
  ck_assert_msg(!memcmp(ha, hb, 15 * sizeof(float)), "inference through dropout changed y");
  int passed = 0;
  ck_assert_int_eq(dropout_steps(a->plans[0], &passed), 1);
  ck_assert_int_eq(passed, 1);
  ck_assert_uint_eq(a->plans[0]->arena_bytes, b->plans[0]->arena_bytes);
  INC_CK(ctx, inc_layer_forward(a, x, 1, &ya));
  ck_assert_int_eq(dropout_steps(a->plans[1], &passed), 1);
  ck_assert_int_eq(passed, 0);
  ck_assert_int_eq(a->plans[1]->nrandom, 1);
  free(ha);
  free(hb);
  free(xh);
  inc_tensor_destroy(x);
  inc_layer_destroy(a);
  inc_layer_destroy(b);
  inc_context_destroy(ctx);
}
END_TEST

/* L = sum(y * r) of a training forward from seed 11 (so always the same
 * mask), in double. */
static double loss_at(inc_context *ctx, inc_layer *l, const inc_tensor *x, const float *r,
                      int64_t n)
{
  const inc_tensor *y = NULL;
  INC_CK(ctx, inc_context_set_seed(ctx, 11));
  INC_CK(ctx, inc_layer_forward(l, x, 1, &y));
  float *h = tu_host(y);
  double s = 0.0;
  for (int64_t i = 0; i < n; i++) s += (double)h[i] * r[i];
  free(h);
  return s;
}

START_TEST(test_dropout_finite_differences)
{
  const int64_t d[4] = {2, 3, 4, 5}, n = 120;
  const float p = 0.4f, h = 0.25f;
  inc_context *ctx = tu_cpu();
  inc_layer *l = dropout(ctx, p);
  float *xh = nonzero(n, 7), *r = nonzero(n, 8);
  inc_tensor *x = tu_tensor(ctx, 4, d, xh), *dy = tu_tensor(ctx, 4, d, r);
  const inc_tensor *dx = NULL;
  loss_at(ctx, l, x, r, n);
  INC_CK(ctx, inc_layer_backward(l, dy, &dx));
  float *g = tu_host(dx);
  int zeros = 0;
  for (int64_t i = 0; i < n; i++) {
    float save = xh[i];
    xh[i] = save + h;
    INC_CK(ctx, inc_tensor_copy_from_host(x, xh, n));
    double lp = loss_at(ctx, l, x, r, n);
    xh[i] = save - h;
    INC_CK(ctx, inc_tensor_copy_from_host(x, xh, n));
    double lm = loss_at(ctx, l, x, r, n);
    xh[i] = save;
    double fd = (lp - lm) / (2.0 * h);
    ck_assert_msg(fabs(fd - g[i]) <= 1e-5 + 1e-5 * fabs(fd),
                  "element %lld: finite difference %.9g, backward %.9g", (long long)i, fd,
                  (double)g[i]);
    zeros += g[i] == 0.0f;
  }
  ck_assert_msg(zeros > 0 && zeros < n, "%d of %lld gradients are zero", zeros, (long long)n);
  free(g);
  free(xh);
  free(r);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  inc_layer_destroy(l);
  inc_context_destroy(ctx);
}
END_TEST

/* conv 3x3 > dropout: the dropout's input is channel-major in the tree;
 * its mask follows the logical index: y = conv(x) * mask, dx = the
 * convolution's dx for dy * mask (the conv run on its own). */
START_TEST(test_dropout_channel_major)
{
  const int64_t d[4] = {3, 2, 5, 4}, od[4] = {3, 4, 5, 4}, n = 3 * 2 * 5 * 4, m = 3 * 4 * 5 * 4;
  const float p = 0.5f;
  inc_context *ctx = tu_cpu();
  inc_layer *net, *conv;
  INC_CK(ctx, inc_sequential_create(ctx, &net));
  INC_CK(ctx, inc_conv2d_create(ctx, 4, 3, 1, 1, &conv));
  INC_CK(ctx, inc_sequential_append(net, conv));
  INC_CK(ctx, inc_sequential_append(net, dropout(ctx, p)));
  float *xh = nonzero(n, 9), *dyh = nonzero(m, 10);
  inc_tensor *x = tu_tensor(ctx, 4, d, xh), *dy = tu_tensor(ctx, 4, od, dyh);
  const inc_tensor *y = NULL, *dx = NULL;
  int ond;
  int64_t odims[INC_MAX_DIMS];
  INC_CK(ctx, inc_layer_infer_shape(net, 4, d, &ond, odims)); /* binds: the conv's fills */
  uint64_t s0 = ctx->rng_stream;
  INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
  ck_assert_uint_eq(ctx->rng_stream, s0 + 1);
  int cm = 0;
  for (int i = 0; i < net->plans[1]->nfwd; i++) {
    const inc__step *st = &net->plans[1]->fwd[i];
    if (st->op == INC__STEP_FWD && st->layer->vt == &inc__dropout_vt)
      cm = inc__pv(net->plans[1], st->x)->cnhw;
  }
  ck_assert_msg(cm, "the dropout's input is not channel-major: the test tests nothing");
  float *yt = tu_host(y);
  INC_CK(ctx, inc_layer_backward(net, dy, &dx));
  float *dxt = tu_host(dx);

  /* the convolution alone, its dy masked by hand */
  const inc_tensor *yc = NULL, *dxc = NULL;
  INC_CK(ctx, inc_layer_forward(conv, x, 1, &yc));
  float *ych = tu_host(yc);
  check_masked(yt, ych, m, p, 1, s0, "y");
  for (int64_t i = 0; i < m; i++) dyh[i] *= mask(p, 1, s0, i);
  inc_tensor *dym = tu_tensor(ctx, 4, od, dyh);
  INC_CK(ctx, inc_layer_backward(conv, dym, &dxc));
  float *dxch = tu_host(dxc);
  TU_ASSERT_CLOSE(dxt, dxch, n, 1e-6, 1e-6, "dx");
  free(dxch);
  free(ych);
  free(dxt);
  free(yt);
  free(xh);
  free(dyh);
  inc_tensor_destroy(dym);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

/* concat(dropout 0.5, dropout 0.25) on x (2, 3, 4, 4): y = [x m1, x m2]
 * with streams s, s + 1; dx = dy1 m1 + dy2 m2; inference y = [x, x]. */
START_TEST(test_dropout_concat)
{
  const int64_t d[4] = {2, 3, 4, 4}, od[4] = {2, 6, 4, 4}, n = 96, plane = 3 * 16;
  const float p1 = 0.5f, p2 = 0.25f;
  inc_context *ctx = tu_cpu();
  inc_layer *cat;
  INC_CK(ctx, inc_concat_create(ctx, &cat));
  INC_CK(ctx, inc_concat_add_branch(cat, dropout(ctx, p1)));
  INC_CK(ctx, inc_concat_add_branch(cat, dropout(ctx, p2)));
  float *xh = nonzero(n, 11), *dyh = nonzero(2 * n, 12);
  inc_tensor *x = tu_tensor(ctx, 4, d, xh), *dy = tu_tensor(ctx, 4, od, dyh);
  const inc_tensor *y = NULL, *dx = NULL;
  INC_CK(ctx, inc_layer_forward(cat, x, 1, &y));
  float *yh = tu_host(y);
  INC_CK(ctx, inc_layer_backward(cat, dy, &dx));
  float *dxh = tu_host(dx);
  for (int64_t i = 0; i < n; i++) {
    int64_t b = i / plane, r = i % plane; /* image b, element r of its (3, 4, 4) */
    float y1 = xh[i] * mask(p1, 1, 0, i), y2 = xh[i] * mask(p2, 1, 1, i);
    ck_assert_msg(yh[b * 2 * plane + r] == y1 && yh[b * 2 * plane + plane + r] == y2,
                  "y at %lld", (long long)i);
    float g = dyh[b * 2 * plane + r] * mask(p1, 1, 0, i);
    g += dyh[b * 2 * plane + plane + r] * mask(p2, 1, 1, i);
    ck_assert_msg(dxh[i] == g, "dx[%lld] = %.9g, expected %.9g", (long long)i, (double)dxh[i],
                  (double)g);
  }
  INC_CK(ctx, inc_layer_forward(cat, x, 0, &y));
  float *yi = tu_host(y);
  for (int64_t i = 0; i < n; i++) {
    int64_t b = i / plane, r = i % plane;
    ck_assert(yi[b * 2 * plane + r] == xh[i] && yi[b * 2 * plane + plane + r] == xh[i]);
  }
  free(yi);
  free(yh);
  free(dxh);
  free(xh);
  free(dyh);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  inc_layer_destroy(cat);
  inc_context_destroy(ctx);
}
END_TEST

Suite *inc_test_suite_dropout(void)
{
  Suite *s = suite_create("dropout");
  TCase *tc = tcase_create("dropout");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_dropout_statistics);
  tcase_add_test(tc, test_dropout_exact);
  tcase_add_test(tc, test_dropout_p0);
  tcase_add_test(tc, test_dropout_plan_passes);
  tcase_add_test(tc, test_dropout_finite_differences);
  tcase_add_test(tc, test_dropout_channel_major);
  tcase_add_test(tc, test_dropout_concat);
  suite_add_tcase(s, tc);
  return s;
}
