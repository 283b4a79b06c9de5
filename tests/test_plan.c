/*
 * test_plan.c — the execution plan (src/plan.h): the memory plan's
 * invariant (values alive at the same time never share a byte), the
 * rewrites it applies to the D2L GoogLeNet (fusion, concat views, layouts),
 * the residual container's steps (no copy of dy, the identity's dy added,
 * identities without steps), what an inference plan keeps, the no-dx
 * backward, inference convolutions in blocks of images, and the lifetimes
 * the API promises (the output survives backward; a child run on its own
 * has its own plan).
 */
#include <stdlib.h>
#include <string.h>
#include "plan.h"
#include "util.h"

static inc_layer *googlenet(inc_context *ctx)
{
  inc_layer *net = NULL;
  INC_CK(ctx, inc_googlenet_create(ctx, 10, &net));
  return net;
}

static inc__plan *build(inc_context *ctx, inc_layer *net, int64_t n, int64_t hw, int training)
{
  int64_t d[4] = {n, 1, hw, hw}, od[INC_MAX_DIMS];
  int ond;
  INC_CK(ctx, inc_layer_infer_shape(net, 4, d, &ond, od));
  inc__shape in = {4, {n, 1, hw, hw}};
  inc__plan *p = NULL;
  INC_CK(ctx, inc__plan_build(net, &in, training, &p));
  return p;
}

/* Every pair of placed values whose lifetimes overlap lies apart, and the
 * arena holds them all. */
static void check_placement(const inc__plan *p)
{
  int placed = 0;
  size_t sum = 0;
  for (int i = 0; i < p->nvals; i++) {
    const inc__val *a = &p->vals[i];
    if (a->base >= 0 || a->external || a->first < 0) continue;
    placed++;
    sum += a->bytes;
    ck_assert_uint_le(a->at + a->bytes, p->arena_bytes);
    ck_assert_uint_eq(a->at % 256, 0);
    for (int j = i + 1; j < p->nvals; j++) {
      const inc__val *b = &p->vals[j];
      if (b->base >= 0 || b->external || b->first < 0) continue;
      if (a->last < b->first || b->last < a->first) continue;
      ck_assert_msg(a->at + a->bytes <= b->at || b->at + b->bytes <= a->at,
                    "values %d [%d, %d] and %d [%d, %d] alive together share memory", i,
                    a->first, a->last, j, b->first, b->last);
    }
  }
  ck_assert_int_gt(placed, 10);
  ck_assert_uint_lt(p->arena_bytes, sum); /* memory is reused */
}

START_TEST(test_googlenet_plan)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = googlenet(ctx);
  inc__plan *tr = build(ctx, net, 4, 96, 1), *inf = build(ctx, net, 4, 96, 0);
  check_placement(tr);
  check_placement(inf);
  /* every ReLU of the net follows a convolution: all fused */
  int relus = 0, passed = 0, views = 0, concats = 0, unrolled = 0;
  for (int i = 0; i < tr->nfwd; i++) {
    const inc__step *st = &tr->fwd[i];
    if (st->op != INC__STEP_FWD) continue;
    relus += st->layer->vt == &inc__relu_vt;
    passed += st->pass;
    concats += st->layer->vt == &inc__concat_vt;
    unrolled += inc__conv2d_step_unrolled(st);
  }
  for (int i = 0; i < tr->nvals; i++) views += tr->vals[i].base >= 0 && tr->vals[i].first >= 0;
  ck_assert_int_eq(relus, 57);
  ck_assert_int_eq(passed, relus);
  ck_assert_int_eq(concats, 9);
  /* branch outputs forward, dy blocks backward; an unrolled convolution's
   * (N, C, H, W) output (b5's 5x5 ones) is swapped into its block instead */
  ck_assert_int_eq(unrolled, 2);
  ck_assert_int_ge(views, 2 * (4 * concats - unrolled));
  /* inference keeps nothing for backward: far less memory than training */
  ck_assert_int_eq(inf->nbwd, 0);
  ck_assert_uint_lt(3 * inf->arena_bytes, tr->arena_bytes);
  inc__plan_free(tr);
  inc__plan_free(inf);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

/* A small net with a concat whose branches start with a 1x1 convolution
 * (which adds its input gradient into the concat's), a pooling branch,
 * and an im2col convolution after a 1x1 one (an (N, C, H, W) output). */
static inc_layer *small_net(inc_context *ctx)
{
  inc_layer *net, *cat, *b1, *b2, *l;
  INC_CK(ctx, inc_sequential_create(ctx, &net));
  INC_CK(ctx, inc_conv2d_create(ctx, 4, 3, 1, 1, &l));
  INC_CK(ctx, inc_sequential_append(net, l));
  INC_CK(ctx, inc_concat_create(ctx, &cat));
  INC_CK(ctx, inc_sequential_create(ctx, &b1));
  INC_CK(ctx, inc_conv2d_create(ctx, 3, 1, 1, 0, &l));
  INC_CK(ctx, inc_sequential_append(b1, l));
  INC_CK(ctx, inc_relu_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(b1, l));
  INC_CK(ctx, inc_conv2d_create(ctx, 2, 3, 1, 1, &l));
  INC_CK(ctx, inc_sequential_append(b1, l));
  INC_CK(ctx, inc_concat_add_branch(cat, b1));
  INC_CK(ctx, inc_sequential_create(ctx, &b2));
  INC_CK(ctx, inc_max_pool2d_create(ctx, 3, 1, 1, &l));
  INC_CK(ctx, inc_sequential_append(b2, l));
  INC_CK(ctx, inc_concat_add_branch(cat, b2));
  INC_CK(ctx, inc_sequential_append(net, cat));
  INC_CK(ctx, inc_global_avg_pool2d_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(net, l));
  INC_CK(ctx, inc_flatten_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(net, l));
  INC_CK(ctx, inc_dense_create(ctx, 5, &l));
  INC_CK(ctx, inc_sequential_append(net, l));
  return net;
}

/* All parameter gradients of net, concatenated (malloc'd). */
static float *grads(inc_context *ctx, inc_layer *net, int64_t *count)
{
  int64_t n = inc_layer_param_numel(net), at = 0;
  float *g = (float *)malloc((size_t)n * sizeof *g);
  for (int i = 0; i < inc_layer_param_count(net); i++) {
    inc_tensor *gt;
    INC_CK(ctx, inc_layer_param(net, i, NULL, NULL, &gt));
    INC_CK(ctx, inc_tensor_copy_to_host(gt, g + at, inc_tensor_numel(gt)));
    at += inc_tensor_numel(gt);
  }
  *count = n;
  return g;
}

START_TEST(test_backward_without_dx)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = small_net(ctx);
  int64_t xd[4] = {3, 2, 7, 7}, dd[2] = {3, 5};
  float hx[3 * 2 * 7 * 7], hd[15];
  tu_fill(hx, 3 * 2 * 7 * 7, 1, -1, 1);
  tu_fill(hd, 15, 2, -1, 1);
  inc_tensor *x = tu_tensor(ctx, 4, xd, hx), *dy = tu_tensor(ctx, 2, dd, hd);
  const inc_tensor *y, *dx;
  int64_t n1, n2;
  INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
  float *y0 = tu_host(y);
  INC_CK(ctx, inc_layer_backward(net, dy, &dx));
  ck_assert_ptr_nonnull(dx);
  float *g1 = grads(ctx, net, &n1);
  /* the output is still the output after backward */
  float *y1 = tu_host(y);
  ck_assert(memcmp(y0, y1, sizeof(float) * 15) == 0);
  INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
  INC_CK(ctx, inc_layer_backward(net, dy, NULL));
  float *g2 = grads(ctx, net, &n2);
  ck_assert_int_eq(n1, n2);
  ck_assert(memcmp(g1, g2, (size_t)n1 * sizeof(float)) == 0);
  /* the plan skipped the first convolution's input gradient */
  const inc__plan *p = net->plans[1];
  int skipped = 0;
  for (int i = 0; i < p->nbwd; i++) skipped += p->bwd[i].dx_no_dx;
  ck_assert_int_ge(skipped, 1);
  free(y0);
  free(y1);
  free(g1);
  free(g2);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_child_own_plan_and_stale_backward)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = small_net(ctx);
  int64_t xd[4] = {2, 2, 5, 5}, cd[4] = {2, 4, 5, 5}, dd[2] = {2, 5};
  float hx[2 * 2 * 5 * 5], hc[2 * 4 * 5 * 5];
  tu_fill(hx, 2 * 2 * 5 * 5, 3, -1, 1);
  tu_fill(hc, 2 * 4 * 5 * 5, 4, -1, 1);
  inc_tensor *x = tu_tensor(ctx, 4, xd, hx), *xc = tu_tensor(ctx, 4, cd, hc),
             *dy = tu_tensor(ctx, 2, dd, NULL);
  const inc_tensor *y, *yc;
  inc_layer *cat = inc_layer_child(net, 1);
  INC_CK(ctx, inc_layer_forward(net, x, 0, &y)); /* binds the whole tree */
  INC_CK(ctx, inc_layer_forward(cat, xc, 0, &yc));
  float *c0 = tu_host(yc);
  INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
  float *c1 = tu_host(yc); /* the child's output lives in its own arena */
  ck_assert(memcmp(c0, c1, sizeof(float) * 2 * 6 * 5 * 5) == 0);
  /* a new name, or another tree of the context changing, leaves the
   * plan valid; the tree itself changing after the training forward makes
   * backward refuse */
  inc_layer *other;
  INC_CK(ctx, inc_layer_set_name(cat, "mixed"));
  INC_CK(ctx, inc_sequential_create(ctx, &other));
  inc_layer *oc;
  INC_CK(ctx, inc_relu_create(ctx, &oc));
  INC_CK(ctx, inc_sequential_append(other, oc));
  INC_CK(ctx, inc_layer_backward(net, dy, NULL));
  INC_CK(ctx, inc_layer_unbind(inc_layer_child(net, 0)));
  ck_assert_int_eq(inc_layer_backward(net, dy, NULL), INC_ERR_STATE);
  ck_assert_ptr_nonnull(strstr(inc_context_last_error(ctx), "changed"));
  INC_CK(ctx, inc_layer_forward(net, x, 1, &y)); /* binds the first convolution again */
  INC_CK(ctx, inc_layer_backward(net, dy, NULL));
  inc_layer_destroy(other);
  /* an inference forward in between ends what backward could use */
  INC_CK(ctx, inc_layer_forward(net, x, 0, &y));
  ck_assert_int_eq(inc_layer_backward(net, dy, NULL), INC_ERR_STATE);
  free(c0);
  free(c1);
  inc_tensor_destroy(x);
  inc_tensor_destroy(xc);
  inc_tensor_destroy(dy);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_small_plan_rewrites)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = small_net(ctx);
  int64_t d[4] = {3, 2, 7, 7}, od[INC_MAX_DIMS];
  int ond;
  INC_CK(ctx, inc_layer_infer_shape(net, 4, d, &ond, od));
  inc__shape in = {4, {3, 2, 7, 7}};
  inc__plan *p;
  INC_CK(ctx, inc__plan_build(net, &in, 1, &p));
  check_placement(p);
  /* the 1x1 convolution before the 3x3 one writes (N, C, H, W); the
   * others write channel-major */
  int convs = 0, nchw = 0, accum = 0;
  for (int i = 0; i < p->nfwd; i++) {
    const inc__step *st = &p->fwd[i];
    if (st->op != INC__STEP_FWD || st->layer->vt != &inc__conv2d_vt) continue;
    convs++;
    nchw += !inc__pv(p, st->y)->cnhw;
  }
  for (int i = 0; i < p->nbwd; i++) accum += p->bwd[i].op == INC__STEP_AXPY;
  ck_assert_int_eq(convs, 3);
  ck_assert_int_eq(nchw, 1);
  ck_assert_int_eq(accum, 1); /* the pooling branch's gradient is added by an axpy */
  inc__plan_free(p);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

/* An Inception-ResNet-style block after a stem convolution: the identity
 * adds no step and the residual one (all channel-major: no scratch); in
 * backward the scaled branch gets dy * 0.2 from one SCALE step, its first
 * layers (1x1 convolutions of a channel-major x, in a concat) write and
 * add the block's input gradient in place, and the identity's dy is added
 * by one AXPY: no copy. A tree of identities only gives copies. */
START_TEST(test_residual_plan)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net, *res, *up, *cat, *tower, *l;
  INC_CK(ctx, inc_sequential_create(ctx, &net));
  INC_CK(ctx, inc_conv2d_create(ctx, 4, 3, 1, 1, &l));
  INC_CK(ctx, inc_sequential_append(net, l));
  INC_CK(ctx, inc_concat_create(ctx, &cat));
  INC_CK(ctx, inc_conv2d_create(ctx, 2, 1, 1, 0, &l));
  INC_CK(ctx, inc_concat_add_branch(cat, l));
  INC_CK(ctx, inc_sequential_create(ctx, &tower));
  INC_CK(ctx, inc_conv2d_create(ctx, 2, 1, 1, 0, &l));
  INC_CK(ctx, inc_sequential_append(tower, l));
  INC_CK(ctx, inc_relu_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(tower, l));
  INC_CK(ctx, inc_conv2d_create(ctx, 2, 3, 1, 1, &l));
  INC_CK(ctx, inc_sequential_append(tower, l));
  INC_CK(ctx, inc_concat_add_branch(cat, tower));
  INC_CK(ctx, inc_sequential_create(ctx, &up));
  INC_CK(ctx, inc_sequential_append(up, cat));
  INC_CK(ctx, inc_conv2d_create(ctx, 4, 1, 1, 0, &l));
  INC_CK(ctx, inc_sequential_append(up, l));
  INC_CK(ctx, inc_residual_create(ctx, &res));
  INC_CK(ctx, inc_identity_create(ctx, &l));
  INC_CK(ctx, inc_residual_add_branch(res, l, 1.0f));
  INC_CK(ctx, inc_residual_add_branch(res, up, 0.2f));
  INC_CK(ctx, inc_sequential_append(net, res));
  INC_CK(ctx, inc_relu_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(net, l));
  int64_t d[4] = {2, 3, 6, 5}, od[INC_MAX_DIMS];
  int ond;
  INC_CK(ctx, inc_layer_infer_shape(net, 4, d, &ond, od));
  inc__shape in = {4, {2, 3, 6, 5}};
  inc__plan *p;
  INC_CK(ctx, inc__plan_build(net, &in, 1, &p));
  int ids = 0, sums = 0, scales = 0, axpys = 0, copies = 0;
  for (int i = 0; i < p->nfwd; i++) {
    const inc__step *st = &p->fwd[i];
    if (st->op != INC__STEP_FWD) continue;
    ids += st->layer->vt == &inc__identity_vt;
    if (st->layer->vt != &inc__residual_vt) continue;
    sums++;
    ck_assert_int_eq(st->aux[0], -1);
    ck_assert(inc__pv(p, st->y)->cnhw);
  }
  for (int i = 0; i < p->nbwd; i++) {
    const inc__step *st = &p->bwd[i];
    copies += st->op == INC__STEP_COPY;
    if (st->op == INC__STEP_SCALE) {
      scales++;
      ck_assert(st->alpha == 0.2f);
    }
    if (st->op == INC__STEP_AXPY) {
      axpys++;
      ck_assert(st->alpha == 1.0f);
    }
  }
  ck_assert_int_eq(ids, 0);
  ck_assert_int_eq(sums, 1);
  ck_assert_int_eq(scales, 1);
  ck_assert_int_eq(axpys, 1);
  ck_assert_int_eq(copies, 0);
  inc__plan_free(p);
  inc_layer_destroy(net);

  /* identities only: the caller's y and dx are copies of its own */
  INC_CK(ctx, inc_sequential_create(ctx, &net));
  INC_CK(ctx, inc_identity_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(net, l));
  INC_CK(ctx, inc__plan_build(net, &in, 1, &p));
  ck_assert_int_eq(p->nfwd, 1);
  ck_assert_int_eq(p->fwd[0].op, INC__STEP_COPY);
  ck_assert_int_eq(p->nbwd, 1);
  ck_assert_int_eq(p->bwd[0].op, INC__STEP_COPY);
  ck_assert(!p->vals[p->out].external && !p->vals[p->dx].external);
  inc__plan_free(p);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

/* A second backward for one training forward gives the same gradients:
 * the first reused the saved values' memory, so the second runs the
 * forward again first. GoogLeNet is deep enough for gradients to land on
 * saved activations. */
START_TEST(test_second_backward)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = googlenet(ctx);
  int64_t xd[4] = {2, 1, 32, 32}, dd[2] = {2, 10};
  float *hx = (float *)malloc(sizeof(float) * 2 * 32 * 32), hd[20];
  tu_fill(hx, 2 * 32 * 32, 7, 0, 1);
  tu_fill(hd, 20, 8, -1, 1);
  inc_tensor *x = tu_tensor(ctx, 4, xd, hx), *dy = tu_tensor(ctx, 2, dd, hd);
  const inc_tensor *y, *dx;
  int64_t n1, n2, nx = 2 * 32 * 32;
  INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
  float *y0 = tu_host(y);
  INC_CK(ctx, inc_layer_backward(net, dy, &dx));
  float *g1 = grads(ctx, net, &n1), *dx1 = tu_host(dx);
  INC_CK(ctx, inc_layer_backward(net, dy, &dx));
  float *g2 = grads(ctx, net, &n2), *dx2 = tu_host(dx), *y1 = tu_host(y);
  ck_assert_int_eq(n1, n2);
  ck_assert(memcmp(g1, g2, (size_t)n1 * sizeof(float)) == 0);
  ck_assert(memcmp(dx1, dx2, (size_t)nx * sizeof(float)) == 0);
  ck_assert(memcmp(y0, y1, sizeof(float) * 20) == 0);
  free(hx);
  free(y0);
  free(y1);
  free(g1);
  free(g2);
  free(dx1);
  free(dx2);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

/* Inference convolutions without a whole col matrix, forced here with a
 * small block size and no minimum (conv2d's BLOCKS and DIRECT): on 7
 * images of 5 channels, a 5x5 convolution in blocks of one image writing
 * channel-major y (the result moved in by a slice) for a 1x1 one, a 3x3
 * stride-2 one in blocks of one writing (N, C, H, W) for the 3x3 one after
 * it, which runs in blocks of two and writes (N, C, H, W) for a 3x3 one of
 * its 3 channels: direct (conv_direct), as is the last, of 2 channels; the
 * first two with a fused ReLU. The inference output is the training
 * forward's (whole cols) within float rounding, and a second inference
 * pass, after the settings went back, gives the same bits (the plan's
 * decisions and blocks stay). */
static void append_conv(inc_context *ctx, inc_layer *net, int oc, int k, int s, int pad, int relu)
{
  inc_layer *l = NULL;
  INC_CK(ctx, inc_conv2d_create(ctx, oc, k, s, pad, &l));
  INC_CK(ctx, inc_sequential_append(net, l));
  if (!relu) return;
  INC_CK(ctx, inc_relu_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(net, l));
}

/* Input x (d, uniform in [-1, 1) from seed) for net, and the training
 * forward's output (whole cols) in *want, the caller's. */
static inc_tensor *train_output(inc_context *ctx, inc_layer *net, const int64_t d[4], int seed,
                                float **want)
{
  const int64_t nx = d[0] * d[1] * d[2] * d[3];
  float *hx = malloc(nx * sizeof *hx);
  ck_assert_ptr_nonnull(hx);
  tu_fill(hx, nx, seed, -1.0f, 1.0f);
  inc_tensor *x = tu_tensor(ctx, 4, d, hx);
  free(hx);
  const inc_tensor *y = NULL;
  INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
  *want = tu_host(y);
  return x;
}

/* An inference output y of net on x against the training forward's want
 * (atol, rtol 1e-5), then a second inference pass: the same bits; then
 * frees want, x, net and ctx. */
static void check_again(inc_context *ctx, inc_layer *net, inc_tensor *x, const inc_tensor *y,
                        float *want, double atol, const char *what)
{
  const int64_t ny = inc_tensor_numel(y);
  float *have = tu_host(y);
  TU_ASSERT_CLOSE(have, want, ny, atol, 1e-5, what);
  INC_CK(ctx, inc_layer_forward(net, x, 0, &y));
  float *again = tu_host(y);
  ck_assert_int_eq(memcmp(again, have, (size_t)ny * sizeof *have), 0);
  free(again);
  free(have);
  free(want);
  inc_tensor_destroy(x);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}

START_TEST(test_blocked_inference)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = NULL;
  INC_CK(ctx, inc_sequential_create(ctx, &net));
  append_conv(ctx, net, 4, 5, 1, 2, 1); /* (125 + 4) * 72 floats an image */
  append_conv(ctx, net, 6, 1, 1, 0, 0); /* reads y channel-major */
  append_conv(ctx, net, 5, 3, 2, 1, 1); /* (54 + 5) * 20 */
  append_conv(ctx, net, 3, 3, 1, 1, 0); /* (45 + 3) * 20 */
  append_conv(ctx, net, 2, 3, 1, 1, 0); /* 3 channels: direct */
  append_conv(ctx, net, 2, 3, 1, 1, 0); /* 2 channels: direct */
  const int64_t d[4] = {7, 5, 9, 8};
  float *want = NULL;
  inc_tensor *x = train_output(ctx, net, d, 11, &want);
  const inc_tensor *y = NULL;
  const int64_t saved = inc__conv_block_floats, saved_min = inc__conv_block_min;
  inc__conv_block_floats = 2000;
  inc__conv_block_min = 0;
  INC_CK(ctx, inc_layer_forward(net, x, 0, &y));
  inc__conv_block_floats = saved;
  inc__conv_block_min = saved_min;
  const inc__plan *p = net->plans[0];
  int blocked = 0, direct = 0;
  for (int i = 0; i < p->nfwd; i++) {
    blocked += inc__conv2d_step_blocked(&p->fwd[i]);
    direct += inc__conv2d_step_direct(&p->fwd[i]);
  }
  ck_assert_int_eq(blocked, 3);
  ck_assert_int_eq(direct, 2);
  check_again(ctx, net, x, y, want, 1e-6, "inference without whole cols against training");
}
END_TEST

/* Inference convolutions of 8 to 32 channels on small maps take conv2d's
 * DIRECT (src/cpu/conv_direct.c, output channels in the vectors): a 5x5 of
 * 12 channels to 20 (ReLU fused) on a 7x6 map, then a 3x3 without padding
 * of those 20 to 70 (more than 64 filters: maps up to 8 wide only), then
 * a 1x1 (a GEMM); without AVX-512 (valgrind has none) all three stay
 * im2col and GEMM. The inference output is the training forward's (im2col
 * and GEMMs) within float rounding, and a second pass gives the same bits. */
START_TEST(test_direct_small_maps)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = NULL;
  INC_CK(ctx, inc_sequential_create(ctx, &net));
  append_conv(ctx, net, 20, 5, 1, 2, 1);
  append_conv(ctx, net, 70, 3, 1, 0, 0);
  append_conv(ctx, net, 9, 1, 1, 0, 0);
  const int64_t d[4] = {3, 12, 7, 6};
  float *want = NULL;
  inc_tensor *x = train_output(ctx, net, d, 12, &want);
  const inc_tensor *y = NULL;
  INC_CK(ctx, inc_layer_forward(net, x, 0, &y));
  const inc__plan *p = net->plans[0];
  int direct = 0;
  for (int i = 0; i < p->nfwd; i++) direct += inc__conv2d_step_direct(&p->fwd[i]);
  ck_assert_int_eq(direct, inc__cpu_avx512() ? 2 : 0);
  check_again(ctx, net, x, y, want, 1e-5, "direct inference against training");
}
END_TEST

/* A backend whose supports mask lacks an op the tree needs: the plan is
 * refused with the op's name, nothing runs, and the same model runs once
 * the backend has it. */
START_TEST(test_unsupported_op)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = small_net(ctx);
  int64_t xd[4] = {2, 2, 5, 5};
  inc_tensor *x = tu_tensor(ctx, 4, xd, NULL);
  const inc_tensor *y;
  const inc__backend_ops *real = ctx->ops;
  inc__backend_ops lacking = *real;
  lacking.supports &= ~INC__OP_BIT(maxpool_bwd);
  lacking.maxpool_bwd = NULL;
  ctx->ops = &lacking;
  INC_CK(ctx, inc_layer_forward(net, x, 0, &y)); /* inference needs no maxpool_bwd */
  ck_assert_int_eq(inc_layer_forward(net, x, 1, &y), INC_ERR_UNAVAILABLE);
  ck_assert_ptr_null(y);
  const char *msg = inc_context_last_error(ctx);
  ck_assert_msg(strstr(msg, "max_pool2d") && strstr(msg, "no maxpool_bwd op"), "%s", msg);
  ctx->ops = real;
  INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
  inc_tensor_destroy(x);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

Suite *inc_test_suite_plan(void)
{
  Suite *s = suite_create("plan");
  TCase *tc = tcase_create("plan");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_googlenet_plan);
  tcase_add_test(tc, test_backward_without_dx);
  tcase_add_test(tc, test_child_own_plan_and_stale_backward);
  tcase_add_test(tc, test_small_plan_rewrites);
  tcase_add_test(tc, test_residual_plan);
  tcase_add_test(tc, test_unsupported_op);
  tcase_add_test(tc, test_second_backward);
  tcase_add_test(tc, test_blocked_inference);
  tcase_add_test(tc, test_direct_small_maps);
  suite_add_tcase(s, tc);
  return s;
}
