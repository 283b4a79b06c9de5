/*
 * tensor.c — dense float32 tensors on a context's device.
 *
 * A tensor is a shape plus backend memory. Layers keep their outputs and
 * gradients in tensors they own and regrow only when a larger shape comes
 * (inc__tensor_ensure), so the last, smaller batch of an epoch reuses the
 * memory of the full ones.
 */
#include <stdio.h>
#include <string.h>
#include "internal.h"

inc_status inc__check_dims(inc_context *ctx, int ndim, const int64_t *dims, int64_t *numel)
{
  if (ndim < 1 || ndim > INC_MAX_DIMS)
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT, "tensor: ndim %d outside 1..%d", ndim,
                      INC_MAX_DIMS);
  if (!dims) return inc__error(ctx, INC_ERR_INVALID_ARGUMENT, "tensor: dims is NULL");
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (dims[i] < 1)
      return inc__error(ctx, INC_ERR_INVALID_ARGUMENT, "tensor: dim %d is %lld (must be >= 1)",
                        i, (long long)dims[i]);
    if (inc__mul_overflow(n, dims[i], &n) || n > (int64_t)(SIZE_MAX / sizeof(float)))
      return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                        "tensor: element count overflows at dim %d", i);
  }
  *numel = n;
  return INC_OK;
}

const char *inc__dims_str(int ndim, const int64_t *dims, char *buf, size_t cap)
{
  size_t used = 0;
  if (!cap) return buf;
  buf[0] = '\0';
  used += (size_t)snprintf(buf, cap, "(");
  for (int i = 0; i < ndim && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, i ? ", %lld" : "%lld", (long long)dims[i]);
  if (used < cap) snprintf(buf + used, cap - used, ")");
  return buf;
}

inc_status inc__tensor_new(inc_context *ctx, int ndim, const int64_t *dims, inc_tensor **out)
{
  int64_t numel;
  inc_status s = inc__check_dims(ctx, ndim, dims, &numel);
  if (s != INC_OK) return s;
  inc_tensor *t = (inc_tensor *)inc__calloc(1, sizeof *t);
  if (!t) return inc__error(ctx, INC_ERR_OUT_OF_MEMORY, "tensor: out of host memory");
  s = ctx->ops->alloc((void **)&t->data, (size_t)numel * sizeof(float), ctx);
  if (s != INC_OK) {
    inc__free(t);
    return s;
  }
  t->ctx = ctx;
  t->ndim = ndim;
  memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
  t->numel = t->capacity = numel;
  t->uid = ctx->next_uid++;
  *out = t;
  return INC_OK;
}

void inc__tensor_free(inc_tensor *t)
{
  if (!t) return;
  t->ctx->ops->free(t->data, t->ctx);
  inc__free(t);
}

inc_status inc__tensor_ensure(inc_context *ctx, inc_tensor **tp, int ndim, const int64_t *dims)
{
  int64_t numel;
  inc_status s = inc__check_dims(ctx, ndim, dims, &numel);
  if (s != INC_OK) return s;
  inc_tensor *t = *tp;
  if (t && t->capacity >= numel) {
    t->ndim = ndim;
    memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
    t->numel = numel;
    return INC_OK;
  }
  inc_tensor *n = NULL;
  s = inc__tensor_new(ctx, ndim, dims, &n);
  if (s != INC_OK) return s;
  if (t) n->owner_is_layer = t->owner_is_layer;
  inc__tensor_free(t);
  *tp = n;
  return INC_OK;
}

INC_API inc_status inc_tensor_create(inc_context *ctx, int ndim, const int64_t *dims,
                                     inc_tensor **out)
{
  if (!out) return inc__error(ctx, INC_ERR_INVALID_ARGUMENT, "inc_tensor_create: out is NULL");
  *out = NULL;
  if (!ctx) return INC_ERR_INVALID_ARGUMENT;
  inc_status s = inc__begin(ctx);
  if (s != INC_OK) return s;
  return inc__tensor_new(ctx, ndim, dims, out);
}

INC_API void inc_tensor_destroy(inc_tensor *t)
{
  if (!t || t->owner_is_layer) return;
  inc__tensor_free(t);
}

INC_API int inc_tensor_ndim(const inc_tensor *t) { return t ? t->ndim : 0; }

INC_API int64_t inc_tensor_dim(const inc_tensor *t, int axis)
{
  if (!t) return 0;
  if (axis < 0) axis += t->ndim;
  if (axis < 0 || axis >= t->ndim) return 0;
  return t->dims[axis];
}

INC_API int64_t inc_tensor_numel(const inc_tensor *t) { return t ? t->numel : 0; }

INC_API inc_context *inc_tensor_context(const inc_tensor *t) { return t ? t->ctx : NULL; }

INC_API inc_status inc_tensor_copy_from_host(inc_tensor *t, const float *src, int64_t count)
{
  if (!t) return INC_ERR_INVALID_ARGUMENT;
  inc_status s = inc__begin(t->ctx);
  if (s != INC_OK) return s;
  if (!src)
    return inc__error(t->ctx, INC_ERR_INVALID_ARGUMENT, "inc_tensor_copy_from_host: src is NULL");
  if (count != t->numel)
    return inc__error(t->ctx, INC_ERR_INVALID_ARGUMENT,
                      "inc_tensor_copy_from_host: count %lld != numel %lld", (long long)count,
                      (long long)t->numel);
  inc__values_changed(t->ctx);
  return t->ctx->ops->upload(t->data, src, (size_t)count * sizeof(float), t->ctx);
}

INC_API inc_status inc_tensor_copy_to_host(const inc_tensor *t, float *dst, int64_t count)
{
  if (!t) return INC_ERR_INVALID_ARGUMENT;
  inc_status s = inc__begin(t->ctx);
  if (s != INC_OK) return s;
  if (!dst)
    return inc__error(t->ctx, INC_ERR_INVALID_ARGUMENT, "inc_tensor_copy_to_host: dst is NULL");
  if (count != t->numel)
    return inc__error(t->ctx, INC_ERR_INVALID_ARGUMENT,
                      "inc_tensor_copy_to_host: count %lld != numel %lld", (long long)count,
                      (long long)t->numel);
  return t->ctx->ops->download(dst, t->data, (size_t)count * sizeof(float), t->ctx);
}

INC_API inc_status inc_tensor_reshape(inc_tensor *t, int ndim, const int64_t *dims)
{
  if (!t) return INC_ERR_INVALID_ARGUMENT;
  inc_status s = inc__begin(t->ctx);
  if (s != INC_OK) return s;
  if (t->owner_is_layer)
    return inc__error(t->ctx, INC_ERR_INVALID_ARGUMENT,
                      "inc_tensor_reshape: the tensor belongs to a layer");
  int64_t numel;
  s = inc__check_dims(t->ctx, ndim, dims, &numel);
  if (s != INC_OK) return s;
  if (numel != t->numel)
    return inc__error(t->ctx, INC_ERR_SHAPE, "inc_tensor_reshape: %lld elements != %lld",
                      (long long)numel, (long long)t->numel);
  t->ndim = ndim;
  memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
  return INC_OK;
}
