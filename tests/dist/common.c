/*
 * common.c — the dist tests' small net, data, training step and
 * comparison (common.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int td_fail(const inc_dist *d, inc_context *ctx, inc_status s, const char *what)
{
  if (s == INC_OK) return 0;
  const char *m = d && *inc_dist_last_error(d) ? inc_dist_last_error(d)
                                               : inc_context_last_error(ctx);
  fprintf(stderr, "rank %d: %s: %s: %s\n", inc_dist_rank(d), what, inc_status_string(s), m);
  return 1;
}

/* Appends *l, made with status s (the argument order of a call being
 * unspecified, *l is read here, after its constructor ran). */
static inc_status append(inc_layer *seq, inc_status s, inc_layer **l)
{
  if (s == INC_OK) s = inc_sequential_append(seq, *l);
  if (s != INC_OK) inc_layer_destroy(*l);
  *l = NULL;
  return s;
}

inc_status td_small_net(inc_context *ctx, uint64_t seed, int batch_norm, int dense_out,
                        inc_layer **out)
{
  inc_layer *seq = NULL, *l = NULL;
  inc_status s = inc_context_set_seed(ctx, seed);
  if (s == INC_OK) s = inc_sequential_create(ctx, &seq);
  if (s != INC_OK) return s;
  s = append(seq, inc_conv2d_create(ctx, 8, 3, 1, 1, &l), &l);
  if (s == INC_OK) s = append(seq, inc_relu_create(ctx, &l), &l);
  if (s == INC_OK) s = append(seq, inc_max_pool2d_create(ctx, 2, 2, 0, &l), &l);
  if (s == INC_OK) s = append(seq, inc_conv2d_create(ctx, 16, 3, 1, 1, &l), &l);
  if (s == INC_OK) s = append(seq, inc_relu_create(ctx, &l), &l);
  if (s == INC_OK && batch_norm)
    s = append(seq, inc_batch_norm2d_create(ctx, 1e-5f, 0.1f, &l), &l);
  if (s == INC_OK) s = append(seq, inc_global_avg_pool2d_create(ctx, &l), &l);
  if (s == INC_OK) s = append(seq, inc_flatten_create(ctx, &l), &l);
  if (s == INC_OK) s = append(seq, inc_dense_create(ctx, dense_out, &l), &l);
  if (s == INC_OK) s = inc_layer_initialize(seq, INC_INIT_KAIMING_UNIFORM, 0);
  int64_t in[4] = {1, 1, TD_SIZE, TD_SIZE}, odims[INC_MAX_DIMS];
  int ond = 0;
  if (s == INC_OK) s = inc_layer_infer_shape(seq, 4, in, &ond, odims);
  if (s != INC_OK) {
    inc_layer_destroy(seq);
    return s;
  }
  *out = seq;
  return INC_OK;
}

static uint64_t mix(uint64_t z)
{
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void td_data(uint64_t seed, int64_t n, float *x, int32_t *y)
{
  const int64_t plane = TD_SIZE * TD_SIZE;
  for (int64_t i = 0; i < n; i++) {
    uint64_t h = mix(seed ^ mix((uint64_t)i));
    y[i] = (int32_t)(h % TD_CLASSES);
    /* a class-dependent bright square on noise, so that training learns */
    for (int64_t k = 0; k < plane; k++) {
      int r = (int)(k / TD_SIZE), c = (int)(k % TD_SIZE);
      double noise = (double)(mix(h + (uint64_t)k) >> 11) / 9007199254740992.0;
      int on = r / 4 == y[i] % 3 && c / 4 == y[i] / 4;
      x[i * plane + k] = (float)(0.3 * noise + (on ? 0.7 : 0.0));
    }
  }
}

inc_status td_step(inc_dist *d, inc_context *ctx, inc_layer *net, inc_optimizer *opt,
                   const float *x, const int32_t *y, int64_t m, int64_t first, int64_t count,
                   double *loss)
{
  const int64_t plane = TD_SIZE * TD_SIZE;
  int64_t rows = count > 0 ? count : 1;
  double factor = count > 0 ? (double)count / (double)m : 0.0;
  if (count == 0) first = 0;
  int64_t xd[4] = {rows, 1, TD_SIZE, TD_SIZE}, ld[2] = {rows, TD_CLASSES};
  inc_tensor *xt = NULL, *dl = NULL;
  const inc_tensor *yt = NULL;
  float mean = 0;
  inc_status s = inc_tensor_create(ctx, 4, xd, &xt);
  if (s == INC_OK) s = inc_tensor_create(ctx, 2, ld, &dl);
  if (s == INC_OK) s = inc_tensor_copy_from_host(xt, x + first * plane, rows * plane);
  if (s == INC_OK) s = inc_layer_forward(net, xt, 1, &yt);
  if (s == INC_OK) s = inc_softmax_cross_entropy(ctx, yt, y + first, &mean, dl, NULL);
  if (s == INC_OK && factor != 1.0) s = inc_dist_scale_tensor(dl, factor);
  if (s == INC_OK) s = inc_layer_backward(net, dl, NULL);
  if (s == INC_OK) s = inc_optimizer_step(opt, net);
  double sum = (double)mean * (double)count;
  if (s == INC_OK && d) s = inc_dist_allreduce_sum(d, &sum, 1);
  if (s == INC_OK && loss) *loss = d ? sum / (double)m : (double)mean;
  inc_tensor_destroy(xt);
  inc_tensor_destroy(dl);
  return s;
}

/* Tensor k of a net: parameters, then buffers. */
static inc_status tensor_at(const inc_layer *net, int k, const char **name, inc_tensor **t)
{
  int np = inc_layer_param_count(net);
  return k < np ? inc_layer_param(net, k, name, t, NULL) : inc_layer_buffer(net, k - np, name, t);
}

/* max|a - b| and max|b| of tensor k of two nets; -1 on error. */
static int tensor_diff(const inc_layer *a, const inc_layer *b, int k, const char **name,
                       double *diff, double *scale)
{
  inc_tensor *ta = NULL, *tb = NULL;
  if (tensor_at(a, k, name, &ta) != INC_OK || tensor_at(b, k, NULL, &tb) != INC_OK) return -1;
  int64_t n = inc_tensor_numel(ta);
  if (n != inc_tensor_numel(tb)) return -1;
  float *ha = malloc((size_t)n * sizeof *ha), *hb = malloc((size_t)n * sizeof *hb);
  int ok = ha && hb && inc_tensor_copy_to_host(ta, ha, n) == INC_OK &&
           inc_tensor_copy_to_host(tb, hb, n) == INC_OK;
  *diff = *scale = 0;
  for (int64_t i = 0; ok && i < n; i++) {
    *diff = fmax(*diff, fabs((double)ha[i] - (double)hb[i]));
    *scale = fmax(*scale, fabs((double)hb[i]));
  }
  free(ha);
  free(hb);
  return ok ? 0 : -1;
}

static int tensor_count(const inc_layer *a, const inc_layer *b)
{
  int nt = inc_layer_param_count(a) + inc_layer_buffer_count(a);
  return nt == inc_layer_param_count(b) + inc_layer_buffer_count(b) ? nt : -1;
}

double td_max_rel_diff(const inc_layer *a, const inc_layer *b, char *worst, size_t cap)
{
  int nt = tensor_count(a, b);
  double max = nt < 0 ? -1 : 0;
  for (int k = 0; k < nt; k++) {
    const char *name = NULL;
    double diff, scale;
    if (tensor_diff(a, b, k, &name, &diff, &scale) != 0) return -1;
    double rel = scale > 0 ? diff / scale : diff;
    if (rel > max || k == 0) {
      max = fmax(max, rel);
      if (worst && cap) snprintf(worst, cap, "%s", name);
    }
  }
  return max;
}

int td_count_outside(const inc_layer *a, const inc_layer *b, double rtol, double atol, FILE *out)
{
  int nt = tensor_count(a, b), bad = 0;
  for (int k = 0; k < nt; k++) {
    const char *name = NULL;
    double diff, scale;
    if (tensor_diff(a, b, k, &name, &diff, &scale) != 0) return -1;
    if (diff > atol + rtol * scale) {
      bad++;
      if (out)
        fprintf(out, "  %s: max|a - b| %.3g > %.3g + %.3g * max|b| (max|b| %.3g)\n", name, diff,
                atol, rtol, scale);
    }
  }
  return nt < 0 ? -1 : bad;
}
