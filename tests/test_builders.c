/*
 * test_builders.c — the network builders of 0.4: the Inception-v3 block
 * (inc_inception_v3_create) against PyTorch, on the CPU and, where a CUDA
 * module is usable (make check-cuda-emu), on CUDA too; and the GoogLeNet
 * descriptor (inc_googlenet_create_desc) against the plain builders.
 *
 * Fixtures (tests/fixtures/make_fixtures.py, float64 references, the block
 * of examples/torch_models.py): inception_v3_state_<i> is the block's
 * state_dict as PyTorch holds it (counts as 0-d int64), loaded with
 * inc_layer_load into the unbound block, which binds from it;
 * inception_v3_io_<i> holds a training forward and backward (y, dx, every
 * parameter's gradient, the running statistics after it) and an
 * evaluation forward.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cuda_util.h"
#include "fixture.h"

#define NV3 2 /* inception_v3_<i> fixtures */

static int cuda_kind; /* tu_cuda_probe: 0 none, 1 GPU, 2 emulated */

static int meta_int(const fx_file *f, const char *key)
{
  const char *v = fx_meta(f, key);
  ck_assert_msg(v != NULL, "fixture has no metadata %s", key);
  return atoi(v);
}

START_TEST(test_inception_v3_torch)
{
  const int c = _i % NV3, b = _i / NV3;
  char name[64], err[512];
  snprintf(name, sizeof name, "inception_v3_io_%d.safetensors", c);
  fx_file *f = fx_open(name, err, sizeof err);
  ck_assert_msg(f != NULL, "%s: %s", name, err);
  inc_context *ctx = tu_backend(b);
  inc_layer *blk = NULL;
  INC_CK(ctx, inc_inception_v3_create(ctx, meta_int(f, "c1"), meta_int(f, "c_reduce"),
                                      meta_int(f, "c"), meta_int(f, "c_pool"), meta_int(f, "n"),
                                      &blk));
  char state[256];
  snprintf(state, sizeof state, "%s/inception_v3_state_%d.safetensors", INC_FIXTURE_DIR, c);
  INC_CK(ctx, inc_layer_load(blk, state)); /* binds the unbound block */
  const fx_tensor *xf = tu_fx_need(f, "x"), *dyf = tu_fx_need(f, "dy");
  const fx_tensor *xe = tu_fx_need(f, "x_eval");
  inc_tensor *x = tu_tensor(ctx, 4, xf->dims, xf->data);
  inc_tensor *dy = tu_tensor(ctx, 4, dyf->dims, dyf->data);
  inc_tensor *xev = tu_tensor(ctx, 4, xe->dims, xe->data);
  const inc_tensor *y = NULL, *dx = NULL;
  INC_CK(ctx, inc_layer_forward(blk, x, 1, &y));
  tu_fx_near("y", y, tu_fx_need(f, "y"), 1e-5, 1e-4);
  INC_CK(ctx, inc_layer_backward(blk, dy, &dx));
  tu_fx_near("dx", dx, tu_fx_need(f, "dx"), 1e-5, 1e-4);
  int np = inc_layer_param_count(blk);
  ck_assert_int_eq(np, 3 * 10); /* 10 BasicConv2d: weight, BN weight, BN bias */
  for (int i = 0; i < np; i++) {
    const char *pn;
    inc_tensor *g;
    INC_CK(ctx, inc_layer_param(blk, i, &pn, NULL, &g));
    char key[128];
    snprintf(key, sizeof key, "grad/%s", pn);
    tu_fx_near(key, g, tu_fx_need(f, key), 1e-4, 1e-4);
  }
  for (int i = 0; i < inc_layer_buffer_count(blk); i++) {
    const char *bn;
    inc_tensor *t;
    INC_CK(ctx, inc_layer_buffer(blk, i, &bn, &t));
    char key[128];
    snprintf(key, sizeof key, "after/%s", bn);
    if (strstr(bn, "running")) tu_fx_near(key, t, tu_fx_need(f, key), 1e-6, 1e-4);
  }
  INC_CK(ctx, inc_layer_forward(blk, xev, 0, &y));
  tu_fx_near("y_eval", y, tu_fx_need(f, "y_eval"), 1e-5, 1e-4);
  int64_t od[INC_MAX_DIMS];
  int on = 0;
  INC_CK(ctx, inc_layer_infer_shape(blk, 4, xf->dims, &on, od));
  ck_assert_int_eq(od[1], meta_int(f, "c1") + 2 * meta_int(f, "c") + meta_int(f, "c_pool"));
  inc_tensor_destroy(x);
  inc_tensor_destroy(dy);
  inc_tensor_destroy(xev);
  inc_layer_destroy(blk);
  tu_backend_done(ctx, b);
  fx_free(f);
}
END_TEST

/* Names and shapes of every parameter and buffer of l bound to in, as one
 * string. */
static char *tree_of(inc_context *ctx, inc_layer *l)
{
  const int64_t in[4] = {1, 1, 32, 32};
  int64_t od[INC_MAX_DIMS];
  int on;
  INC_CK(ctx, inc_layer_infer_shape(l, 4, in, &on, od));
  size_t cap = 1 << 16, used = 0;
  char *s = (char *)calloc(cap, 1);
  for (int i = 0; i < inc_layer_param_count(l) + inc_layer_buffer_count(l); i++) {
    const char *n;
    inc_tensor *t;
    if (i < inc_layer_param_count(l))
      INC_CK(ctx, inc_layer_param(l, i, &n, &t, NULL));
    else
      INC_CK(ctx, inc_layer_buffer(l, i - inc_layer_param_count(l), &n, &t));
    used += (size_t)snprintf(s + used, cap - used, "%s:%lld;", n, (long long)inc_tensor_numel(t));
  }
  return s;
}

/* The descriptor builds the trees of the plain builders; a dropout is the
 * last child of b5 and changes no name. */
START_TEST(test_googlenet_desc)
{
  inc_context *ctx = tu_cpu();
  inc_layer *plain, *bn, *d0, *d1;
  INC_CK(ctx, inc_googlenet_create(ctx, 7, &plain));
  INC_CK(ctx, inc_googlenet_bn_create(ctx, 7, &bn));
  inc_googlenet_desc d;
  memset(&d, 0, sizeof d);
  d.size = sizeof d;
  d.classes = 7;
  INC_CK(ctx, inc_googlenet_create_desc(ctx, &d, &d0));
  d.batch_norm = 1;
  d.dropout = 0.4f;
  INC_CK(ctx, inc_googlenet_create_desc(ctx, &d, &d1));
  char *tp = tree_of(ctx, plain), *tb = tree_of(ctx, bn), *t0 = tree_of(ctx, d0),
       *t1 = tree_of(ctx, d1);
  ck_assert_str_eq(tp, t0);
  ck_assert_str_eq(tb, t1);
  ck_assert_int_eq(inc_layer_child_count(inc_layer_child(d1, 4)), 5);
  ck_assert_str_eq(inc_layer_kind(inc_layer_child(inc_layer_child(d1, 4), 4)), "dropout");
  ck_assert_int_eq(inc_layer_child_count(inc_layer_child(d0, 4)), 4);
  ck_assert_int_eq(inc_layer_buffer_count(bn), 3 * 57); /* 57 convolutions, 3 buffers each */
  free(tp);
  free(tb);
  free(t0);
  free(t1);
  inc_layer_destroy(plain);
  inc_layer_destroy(bn);
  inc_layer_destroy(d0);
  inc_layer_destroy(d1);
  inc_context_destroy(ctx);
}
END_TEST

Suite *inc_test_suite_builders(void)
{
  char why[INC__ERR_CAP];
  cuda_kind = tu_cuda_probe(why, sizeof why); /* before anything a child would inherit */
  Suite *s = suite_create("builders");
  TCase *tc = tcase_create("builders");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_inception_v3_torch, 0, NV3 * (cuda_kind ? 2 : 1));
  tcase_add_test(tc, test_googlenet_desc);
  suite_add_tcase(s, tc);
  return s;
}
