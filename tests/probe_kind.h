/*
 * probe_kind.h — a test-only layer kind, y = x, that owns a tensor of each
 * init rule, parameters and buffers mixed (src/layer.h, "declared
 * tensors"): what batch norm will look like to the generic code, for the
 * params and faults suites. Include after util.h and a src/ header that
 * brings layer.h.
 */
#ifndef INC_TEST_PROBE_KIND_H
#define INC_TEST_PROBE_KIND_H

#include <stdio.h>
#include "plan.h"
#include "util.h"

/* in declaration order: a parameter of the layer's scheme (OUT, IN), a
 * parameter of ones (IN), two buffers of zeros and ones (IN), a parameter
 * of zeros (IN), a buffer of a constant (2) */
static const inc__tensor_decl probe_tensors[] = {
    {"proj", 1, 2, {INC__DIM_OUT, INC__DIM_IN}, INC__INIT_WEIGHT, 0.0f},
    {"scale", 1, 1, {INC__DIM_IN}, INC__INIT_ONES, 0.0f},
    {"running_mean", 0, 1, {INC__DIM_IN}, INC__INIT_ZEROS, 0.0f},
    {"running_var", 0, 1, {INC__DIM_IN}, INC__INIT_ONES, 0.0f},
    {"shift", 1, 1, {INC__DIM_IN}, INC__INIT_ZEROS, 0.0f},
    {"eps", 0, 1, {2}, INC__INIT_CONSTANT, -2.5f},
    {NULL, 0, 0, {0}, INC__INIT_ZEROS, 0.0f},
};
enum { PROBE_PARAMS = 3, PROBE_BUFFERS = 3, PROBE_OUT = 3 };

static inc_status probe_infer(inc_layer *l, const inc__shape *in, inc__shape *out, int bind)
{
  if (in->ndim < 2) return inc__layer_error(l, INC_ERR_SHAPE, "needs (N, C, ...)");
  if (l->bound && in->d[1] != l->bound_in)
    return inc__layer_error(l, INC_ERR_SHAPE, "bound to %lld channels, got %lld",
                            (long long)l->bound_in, (long long)in->d[1]);
  if (bind && !l->bound) {
    inc_status s = inc__layer_bind(l, in->d[1]);
    if (s != INC_OK) return s;
  }
  *out = *in;
  return INC_OK;
}

static inc_status probe_plan_fwd(inc__plan *p, inc__step *st)
{
  inc__pv(p, st->y)->cnhw = inc__pv(p, st->x)->cnhw;
  return INC_OK;
}

static inc_status probe_run_fwd(const inc__plan *p, const inc__step *st)
{
  const inc_tensor *x = inc__pv(p, st->x);
  return p->ctx->ops->copy(inc__pv(p, st->y)->data, x->data, (size_t)x->numel * sizeof(float),
                           p->ctx);
}

static inc_status probe_plan_bwd(inc__plan *p, inc__step *st, const inc__sink *sink)
{
  (void)sink;
  st->dx = inc__plan_like(p, p->fwd[st->fwd].x);
  return st->dx < 0 ? INC_ERR_OUT_OF_MEMORY : INC_OK;
}

static inc_status probe_run_bwd(const inc__plan *p, const inc__step *st)
{
  inc_context *ctx = p->ctx;
  inc_layer *l = st->layer;
  for (int i = 0; i < l->nparams; i++) {
    inc_tensor *g = l->params[i].grad;
    inc_status r = ctx->ops->zero(g->data, (size_t)g->numel * sizeof(float), ctx);
    if (r != INC_OK) return r;
  }
  if (!inc__plan_dx_wanted(p, st)) return INC_OK;
  const inc_tensor *dy = inc__pv(p, st->dy);
  return ctx->ops->copy(inc__pv(p, st->dx)->data, dy->data, (size_t)dy->numel * sizeof(float),
                        ctx);
}

static void probe_describe(const inc_layer *l, char *buf, size_t cap)
{
  snprintf(buf, cap, "%lld outputs", (long long)l->sizes[0]);
}

static const inc__layer_vt probe_vt = {
    .kind = "probe",
    .infer = probe_infer,
    .plan_fwd = probe_plan_fwd,
    .plan_bwd = probe_plan_bwd,
    .run_fwd = probe_run_fwd,
    .run_bwd = probe_run_bwd,
    .tensors = probe_tensors,
    .describe = probe_describe,
};

static inc_layer *probe(inc_context *ctx)
{
  inc_layer *l;
  INC_CK(ctx, inc__layer_new(ctx, &probe_vt, 0, &l));
  l->sizes[0] = PROBE_OUT;
  return l;
}

/* sequential(sequential(conv 3x3 (4 filters), probe), dense 2 after a
 * flatten): buffers named "0.1.<name>" from the root */
static inc_layer *probe_net(inc_context *ctx)
{
  inc_layer *root, *inner, *l;
  INC_CK(ctx, inc_sequential_create(ctx, &root));
  INC_CK(ctx, inc_sequential_create(ctx, &inner));
  INC_CK(ctx, inc_conv2d_create(ctx, 4, 3, 1, 1, &l));
  INC_CK(ctx, inc_sequential_append(inner, l));
  INC_CK(ctx, inc_sequential_append(inner, probe(ctx)));
  INC_CK(ctx, inc_sequential_append(root, inner));
  INC_CK(ctx, inc_flatten_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(root, l));
  INC_CK(ctx, inc_dense_create(ctx, 2, &l));
  INC_CK(ctx, inc_sequential_append(root, l));
  return root;
}

#endif /* INC_TEST_PROBE_KIND_H */
