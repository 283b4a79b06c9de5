/*
 * ckpt_scenario.h — a small model and SGD optimizer brought to a fixed state
 * through the public API alone, with no floating-point result that could
 * depend on the machine (parameters and gradients set by hand, two
 * element-wise SGD steps with momentum): the state of the checkpoint
 * fixture tests/fixtures/checkpoint_0.2.safetensors, which
 * tests/fixtures/make_checkpoint.c wrote with libinception 0.2.0. The
 * persist suite checks that this library loads that file to the same state
 * and writes the same bytes for it (docs/ABI.md: the file format is ABI).
 */
#ifndef INC_TEST_CKPT_SCENARIO_H
#define INC_TEST_CKPT_SCENARIO_H

#include <stdint.h>
#include "inception.h"

#define CKPT_LR 0.05f

/* sequential(conv 3x3 (2 filters, padding 1), relu, flatten, dense 3), unbound. */
static inc_status ckpt_model(inc_context *ctx, inc_layer **out)
{
  inc_layer *net = NULL, *l = NULL;
  inc_status s = inc_sequential_create(ctx, &net);
  for (int i = 0; s == INC_OK && i < 4; i++) {
    if (i == 0) s = inc_conv2d_create(ctx, 2, 3, 1, 1, &l);
    if (i == 1) s = inc_relu_create(ctx, &l);
    if (i == 2) s = inc_flatten_create(ctx, &l);
    if (i == 3) s = inc_dense_create(ctx, 3, &l);
    if (s == INC_OK && (s = inc_sequential_append(net, l)) != INC_OK) inc_layer_destroy(l);
  }
  if (s != INC_OK) {
    inc_layer_destroy(net);
    net = NULL;
  }
  *out = net;
  return s;
}

/* Writes v(i, j) = base + (i + 1) * 0.125 - j * 0.0078125 into every
 * parameter value (which = 0) or gradient (which = 1) of net: exact in
 * float. */
static inc_status ckpt_set(inc_layer *net, int which, float base)
{
  float h[128];
  for (int i = 0; i < inc_layer_param_count(net); i++) {
    inc_tensor *v, *g;
    inc_status s = inc_layer_param(net, i, NULL, &v, &g);
    if (s != INC_OK) return s;
    int64_t n = inc_tensor_numel(v);
    if (n > 128) return INC_ERR_SHAPE;
    for (int64_t j = 0; j < n; j++) h[j] = base + (float)(i + 1) * 0.125f - (float)j * 0.0078125f;
    if ((s = inc_tensor_copy_from_host(which ? g : v, h, n)) != INC_OK) return s;
  }
  return INC_OK;
}

/* The model bound to (1, 1, 4, 4) inputs with the values above, and an SGD
 * optimizer (lr CKPT_LR, momentum 0.9, weight decay 0.001) after two steps. */
static inc_status ckpt_scenario(inc_context *ctx, inc_layer **net, inc_optimizer **opt)
{
  int64_t in[4] = {1, 1, 4, 4}, od[INC_MAX_DIMS];
  int on;
  *opt = NULL;
  inc_status s = ckpt_model(ctx, net);
  if (s == INC_OK) s = inc_layer_infer_shape(*net, 4, in, &on, od);
  if (s == INC_OK) s = inc_sgd_create(ctx, CKPT_LR, 0.9f, 0.001f, opt);
  if (s == INC_OK) s = ckpt_set(*net, 0, -1.0f);
  if (s == INC_OK) s = ckpt_set(*net, 1, 0.25f);
  if (s == INC_OK) s = inc_optimizer_step(*opt, *net);
  if (s == INC_OK) s = ckpt_set(*net, 1, -0.5f);
  if (s == INC_OK) s = inc_optimizer_step(*opt, *net);
  return s;
}

static const char *const CKPT_KEYS[2] = {"epoch", "note"};
static const char *const CKPT_VALUES[2] = {"2", "written by make_checkpoint.c"};

#endif /* INC_TEST_CKPT_SCENARIO_H */
