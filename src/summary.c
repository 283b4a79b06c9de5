/*
 * summary.c — inc_layer_summary: the lecture-style table of a layer tree,
 * one line per layer with its path, kind, output shape for a given input
 * and parameter count, then the total and the memory the execution plans
 * for that input place in their arena (src/plan.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "plan.h"

typedef struct out_text {
  char *buf;
  size_t cap, used; /* used counts every byte wanted, even past cap */
} out_text;

static void emit(out_text *o, const char *fmt, ...)
{
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
  if (o->used < o->cap) {
    size_t room = o->cap - o->used - 1;
    size_t k = len < room ? len : room;
    memcpy(o->buf + o->used, line, k);
    o->buf[o->used + k] = '\0';
  }
  o->used += len;
}

static int64_t own_params(const inc_layer *l)
{
  int64_t n = 0;
  for (int i = 0; i < l->nparams; i++) n += l->params[i].value->numel;
  return n;
}

static inc_status walk(inc_layer *root, inc_layer *l, const inc__shape *in, out_text *o)
{
  inc__shape out;
  inc_status s = l->vt->infer(l, in, &out, 0);
  if (s != INC_OK) return s;
  char path[256], shape[96], extra[96] = "";
  if (l == root)
    snprintf(path, sizeof path, "%s", l->name[0] ? l->name : "(root)");
  else
    inc__layer_path(l, path, sizeof path);
  if (l->vt->describe) l->vt->describe(l, extra, sizeof extra);
  int64_t params = l->vt->is_container ? inc_layer_param_numel(l) : own_params(l);
  emit(o, "%-22s %-18s %-22s %10lld  %s\n", path, l->vt->kind, inc__shape_str(&out, shape, sizeof shape),
       (long long)params, extra);
  if (l->vt == &inc__sequential_vt) {
    inc__shape cur = *in;
    for (int i = 0; i < l->nchildren; i++) {
      inc__shape next;
      if ((s = walk(root, l->children[i], &cur, o)) != INC_OK) return s;
      if ((s = l->children[i]->vt->infer(l->children[i], &cur, &next, 0)) != INC_OK) return s;
      cur = next;
    }
  } else {
    for (int i = 0; i < l->nchildren; i++)
      if ((s = walk(root, l->children[i], in, o)) != INC_OK) return s;
  }
  return INC_OK;
}

INC_API inc_status inc_layer_summary(inc_layer *layer, int ndim, const int64_t *in_dims, char *buf,
                                     size_t cap, size_t *needed)
{
  if (!layer) return INC_ERR_INVALID_ARGUMENT;
  inc_status s = inc__begin(layer->ctx);
  if (s != INC_OK) return s;
  if (!buf && cap)
    return inc__layer_error(layer, INC_ERR_INVALID_ARGUMENT, "summary: buf is NULL but cap > 0");
  int out_ndim;
  int64_t out_dims[INC_MAX_DIMS];
  s = inc_layer_infer_shape(layer, ndim, in_dims, &out_ndim, out_dims);
  if (s != INC_OK) return s;
  inc__shape in;
  in.ndim = ndim;
  memcpy(in.d, in_dims, (size_t)ndim * sizeof *in_dims);
  out_text o = {buf, cap, 0};
  if (cap) buf[0] = '\0';
  emit(&o, "%-22s %-18s %-22s %10s\n", "layer", "kind", "output shape", "params");
  if ((s = walk(layer, layer, &in, &o)) != INC_OK) return s;
  emit(&o, "total parameters: %lld\n", (long long)inc_layer_param_numel(layer));
  size_t bytes[2];
  inc_status ts = INC_OK;
  for (int training = 0; training < 2; training++) {
    inc__plan *p;
    s = inc__plan_build(layer, &in, training, &p);
    /* an input a training forward refuses (a batch norm with one value per
     * channel) still has an inference plan */
    if (s == INC_ERR_SHAPE && training) {
      ts = s;
      break;
    }
    if (s != INC_OK) return s;
    bytes[training] = p->arena_bytes;
    inc__plan_free(p);
  }
  if (ts != INC_OK)
    emit(&o, "planned memory: %.1f MiB inference (activations, scratch); no training forward "
             "of this input: %s\n",
         (double)bytes[0] / 1048576.0, layer->ctx->err);
  else
    emit(&o, "planned memory: %.1f MiB training, %.1f MiB inference (activations, gradients, "
             "scratch)\n",
         (double)bytes[1] / 1048576.0, (double)bytes[0] / 1048576.0);
  if (ts != INC_OK) layer->ctx->err[0] = '\0'; /* the call succeeded */
  if (needed) *needed = o.used + 1;
  return INC_OK;
}
