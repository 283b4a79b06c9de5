/*
 * net.c — see net.h.
 */
#include "net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

inc_status report_inc(const char *prog, const char *what, inc_context *ctx, inc_status s)
{
  const char *msg = ctx ? inc_context_last_error(ctx) : "";
  fprintf(stderr, "%s: %s failed: %s%s%s\n", prog, what, inc_status_string(s), *msg ? ": " : "",
          msg);
  return s;
}

inc_status batch_tensor_get(inc_context *ctx, batch_tensors *bt, int64_t n, int64_t d1,
                            int64_t d2, int64_t d3, inc_tensor **out)
{
  int slot;
  if (bt->t[0] && bt->n[0] == n)
    slot = 0;
  else if (bt->t[1] && bt->n[1] == n)
    slot = 1;
  else {
    slot = bt->t[0] ? 1 : 0;
    inc_tensor_destroy(bt->t[slot]);
    bt->t[slot] = NULL;
    int64_t dims[4] = {n, d1, d2, d3};
    inc_status s = inc_tensor_create(ctx, d2 > 0 ? 4 : 2, dims, &bt->t[slot]);
    if (s != INC_OK) return s;
    bt->n[slot] = n;
  }
  *out = bt->t[slot];
  return INC_OK;
}

void batch_tensors_free(batch_tensors *bt)
{
  for (int i = 0; i < 2; i++) {
    inc_tensor_destroy(bt->t[i]);
    bt->t[i] = NULL;
    bt->n[i] = 0;
  }
}

/* The class name PyTorch would print for a layer kind. */
static const char *torch_name(const char *kind)
{
  static const struct {
    const char *kind, *name;
  } map[] = {{"sequential", "Sequential"},     {"dense", "Linear"},
             {"conv2d", "Conv2d"},             {"max_pool2d", "MaxPool2d"},
             {"avg_pool2d", "AvgPool2d"},      {"global_avg_pool2d", "AdaptiveAvgPool2d"},
             {"relu", "ReLU"},                 {"flatten", "Flatten"},
             {"concat", "Inception"}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(kind, map[i].kind) == 0) return map[i].name;
  return kind;
}

inc_status print_shape_table(inc_context *ctx, inc_layer *net, int size, FILE *out)
{
  int64_t dims[INC_MAX_DIMS] = {1, 1, size, size}, od[INC_MAX_DIMS];
  int nd = 4;
  int children = inc_layer_child_count(net);
  for (int i = 0; i < children; i++) {
    inc_layer *c = inc_layer_child(net, i);
    int ond = 0;
    inc_status s = inc_layer_infer_shape(c, nd, dims, &ond, od);
    if (s != INC_OK) return s;
    fprintf(out, "%s output shape: (", torch_name(inc_layer_kind(c)));
    for (int k = 0; k < ond; k++) fprintf(out, "%s%lld", k ? ", " : "", (long long)od[k]);
    fprintf(out, ")\n");
    nd = ond;
    memcpy(dims, od, sizeof dims);
  }
  (void)ctx;
  return INC_OK;
}

inc_status evaluate(inc_context *ctx, inc_layer *net, const float *images, const int32_t *labels,
                    int64_t n, int size, int batch, int64_t *correct, double *mean_loss,
                    int32_t *pred, float *prob, void (*tick)(void *, int64_t), void *tick_arg)
{
  batch_tensors bx = {{NULL, NULL}, {0, 0}};
  inc_status s = INC_OK;
  int64_t plane = (int64_t)size * size, good = 0;
  double loss_sum = 0;
  float *logits = NULL;
  int classes = 0;
  for (int64_t b0 = 0; b0 < n; b0 += batch) {
    int64_t m = n - b0 < batch ? n - b0 : batch;
    inc_tensor *x;
    const inc_tensor *y;
    s = batch_tensor_get(ctx, &bx, m, 1, size, size, &x);
    if (s != INC_OK) break;
    s = inc_tensor_copy_from_host(x, images + b0 * plane, m * plane);
    if (s != INC_OK) break;
    s = inc_layer_forward(net, x, 0, &y);
    if (s != INC_OK) break;
    if (!logits) {
      classes = (int)inc_tensor_dim(y, 1);
      logits = malloc(sizeof(float) * (size_t)batch * (size_t)(classes > 0 ? classes : 1));
      if (!logits) {
        s = INC_ERR_OUT_OF_MEMORY;
        break;
      }
    }
    if (inc_tensor_ndim(y) != 2 || inc_tensor_dim(y, 0) != m || inc_tensor_dim(y, 1) != classes) {
      s = INC_ERR_SHAPE;
      break;
    }
    if (labels) {
      float l = 0;
      s = inc_softmax_cross_entropy(ctx, y, labels + b0, &l, NULL, NULL);
      if (s != INC_OK) break;
      loss_sum += (double)l * (double)m;
    }
    s = inc_tensor_copy_to_host(y, logits, m * classes);
    if (s != INC_OK) break;
    for (int64_t i = 0; i < m; i++) {
      const float *r = logits + i * classes;
      int best = 0;
      for (int k = 1; k < classes; k++)
        if (r[k] > r[best]) best = k;
      if (labels && best == labels[b0 + i]) good++;
      if (pred) pred[b0 + i] = best;
      if (prob) {
        double z = 0;
        for (int k = 0; k < classes; k++) z += exp((double)r[k] - (double)r[best]);
        prob[b0 + i] = (float)(1.0 / z);
      }
    }
    if (tick) tick(tick_arg, b0 + m);
  }
  free(logits);
  batch_tensors_free(&bx);
  if (s != INC_OK) return s;
  if (correct) *correct = good;
  if (mean_loss) *mean_loss = n > 0 ? loss_sum / (double)n : 0;
  return INC_OK;
}

inc_status infer_logits(inc_context *ctx, inc_layer *net, const float *images, int64_t n,
                        int size, int batch, int classes, float *logits)
{
  batch_tensors bx = {{NULL, NULL}, {0, 0}};
  inc_status s = INC_OK;
  int64_t plane = (int64_t)size * size;
  for (int64_t b0 = 0; b0 < n && s == INC_OK; b0 += batch) {
    int64_t m = n - b0 < batch ? n - b0 : batch;
    inc_tensor *x;
    const inc_tensor *y;
    if ((s = batch_tensor_get(ctx, &bx, m, 1, size, size, &x)) != INC_OK) break;
    if ((s = inc_tensor_copy_from_host(x, images + b0 * plane, m * plane)) != INC_OK) break;
    if ((s = inc_layer_forward(net, x, 0, &y)) != INC_OK) break;
    if (inc_tensor_ndim(y) != 2 || inc_tensor_dim(y, 0) != m || inc_tensor_dim(y, 1) != classes)
      s = INC_ERR_SHAPE;
    else
      s = inc_tensor_copy_to_host(y, logits + b0 * classes, m * classes);
  }
  batch_tensors_free(&bx);
  return s;
}

/* ---- models ---- */

static const char *const models[] = {"googlenet", "googlenet-bn"};

const char *model_name(const char *name)
{
  for (size_t i = 0; name && i < sizeof models / sizeof models[0]; i++)
    if (!strcmp(name, models[i])) return models[i];
  return NULL;
}

int model_known(const char *name) { return model_name(name) != NULL; }

int model_has_batch_norm(const char *name) { return name && !strcmp(name, "googlenet-bn"); }

inc_status model_create(inc_context *ctx, const char *name, int classes, float dropout,
                        inc_layer **out)
{
  if (!model_known(name)) return INC_ERR_INVALID_ARGUMENT;
  inc_googlenet_desc d;
  memset(&d, 0, sizeof d);
  d.size = sizeof d;
  d.classes = classes;
  d.batch_norm = model_has_batch_norm(name);
  d.dropout = dropout;
  return inc_googlenet_create_desc(ctx, &d, out);
}
