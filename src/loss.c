/*
 * loss.c — softmax cross-entropy over logits (N, K) with host int32 labels,
 * plain or with label smoothing (one function: plain is smoothing 0):
 * argument and label checks here (dlogits must not alias logits), the
 * per-row work in the backend.
 */
#include <stdio.h>
#include "internal.h"

/* Both public calls, what naming the caller in messages. */
static inc_status cross_entropy(inc_context *ctx, const inc_tensor *logits, const int32_t *labels,
                                float smoothing, float *mean_loss, inc_tensor *dlogits,
                                int64_t *correct, const char *what)
{
  if (!ctx) return INC_ERR_INVALID_ARGUMENT;
  inc_status s = inc__begin(ctx);
  if (s != INC_OK) return s;
  if (!(smoothing >= 0.0f && smoothing <= 1.0f)) /* NaN fails too */
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT, "%s: smoothing %g is outside [0, 1]", what,
                      (double)smoothing);
  if (!logits || !labels)
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT, "%s: %s is NULL", what,
                      logits ? "labels" : "logits");
  if (logits->ctx != ctx || (dlogits && dlogits->ctx != ctx))
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "%s: a tensor belongs to another context", what);
  char a[96], b[96];
  if (logits->ndim != 2)
    return inc__error(ctx, INC_ERR_SHAPE,
                      "%s: logits must be (N, classes), got %s", what,
                      inc__dims_str(logits->ndim, logits->dims, a, sizeof a));
  if (dlogits && (dlogits->ndim != 2 || dlogits->dims[0] != logits->dims[0] ||
                  dlogits->dims[1] != logits->dims[1]))
    return inc__error(ctx, INC_ERR_SHAPE,
                      "%s: dlogits is %s but logits are %s", what,
                      inc__dims_str(dlogits->ndim, dlogits->dims, a, sizeof a),
                      inc__dims_str(logits->ndim, logits->dims, b, sizeof b));
  /* The backend writes dlogits while it still reads logits (shapes are
   * equal by now, so are the two byte counts). */
  if (dlogits && (dlogits == logits ||
                  inc__ranges_overlap(dlogits->data, logits->data,
                                      (size_t)logits->numel * sizeof(float))))
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "%s: dlogits %s; pass a separate tensor", what,
                      dlogits == logits ? "is the logits tensor" : "shares memory with logits");
  int64_t n = logits->dims[0], k = logits->dims[1];
  for (int64_t i = 0; i < n; i++)
    if (labels[i] < 0 || labels[i] >= k)
      return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                        "%s: label %d of row %lld is outside [0, %lld)", what,
                        (int)labels[i], (long long)i, (long long)k);
  double sum = 0.0;
  int64_t hits = 0;
  if (dlogits) inc__values_changed(ctx);
  s = ctx->ops->softmax_ce(&sum, &hits, dlogits ? dlogits->data : NULL, logits->data, labels, n,
                           k, 1.0f / (float)n, smoothing, ctx);
  if (s != INC_OK) return s;
  if (mean_loss) *mean_loss = (float)(sum / (double)n);
  if (correct) *correct = hits;
  return INC_OK;
}

INC_API inc_status inc_softmax_cross_entropy(inc_context *ctx, const inc_tensor *logits,
                                             const int32_t *labels, float *mean_loss,
                                             inc_tensor *dlogits, int64_t *correct)
{
  return cross_entropy(ctx, logits, labels, 0.0f, mean_loss, dlogits, correct,
                       "softmax_cross_entropy");
}

INC_API inc_status inc_softmax_cross_entropy_smoothed(inc_context *ctx, const inc_tensor *logits,
                                                      const int32_t *labels, float smoothing,
                                                      float *mean_loss, inc_tensor *dlogits,
                                                      int64_t *correct)
{
  return cross_entropy(ctx, logits, labels, smoothing, mean_loss, dlogits, correct,
                       "softmax_cross_entropy_smoothed");
}
