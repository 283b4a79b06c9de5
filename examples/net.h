/*
 * net.h — what the trainer and the classifier share on the library side:
 * input tensors per batch size, the shape table, batched evaluation.
 * Everything goes through the public API (inception.h) only.
 */
#ifndef EXAMPLES_NET_H
#define EXAMPLES_NET_H

#include <stdint.h>
#include <stdio.h>

#include "inception.h"

/* Prints "<what> failed: INC_ERR_... : <context message>" on stderr and
 * returns s. */
inc_status report_inc(const char *prog, const char *what, inc_context *ctx, inc_status s);

/* Two tensors of shape (n, d1, d2, d3) (or (n, d1) when d2 == 0): one for the
 * usual batch size and one for a different (last, smaller) batch. */
typedef struct batch_tensors {
  inc_tensor *t[2];
  int64_t n[2];
} batch_tensors;

/* Returns a tensor of shape (n, d1[, d2, d3]) from the cache, creating it if
 * needed (slot 0 for the first size asked, slot 1 for any other). */
inc_status batch_tensor_get(inc_context *ctx, batch_tensors *bt, int64_t n, int64_t d1,
                            int64_t d2, int64_t d3, inc_tensor **out);
void batch_tensors_free(batch_tensors *bt);

/* Prints the lecture's table, one line per top-level child, e.g.
 * "Sequential output shape: (1, 64, 24, 24)", for a 1 x 1 x size x size input,
 * binding the model (inc_layer_infer_shape on each child in turn). */
inc_status print_shape_table(inc_context *ctx, inc_layer *net, int size, FILE *out);

/* Evaluates n images (n x size x size floats) with labels in eval mode in
 * batches of `batch` (the last may be smaller). Gives the number of correct
 * argmax predictions, the mean loss (may be NULL) and, if pred is not NULL,
 * each image's predicted class and (if prob is not NULL) its softmax
 * probability. tick (may be NULL) is called after every batch with the
 * images done so far. */
inc_status evaluate(inc_context *ctx, inc_layer *net, const float *images, const int32_t *labels,
                    int64_t n, int size, int batch, int64_t *correct, double *mean_loss,
                    int32_t *pred, float *prob, void (*tick)(void *, int64_t), void *tick_arg);

/* Runs n images (n x size x size floats) through net in eval mode in batches
 * of `batch` and copies the logits, (n, classes), to the host; classes must
 * be the width of the net's output (else INC_ERR_SHAPE). */
inc_status infer_logits(inc_context *ctx, inc_layer *net, const float *images, int64_t n,
                        int size, int batch, int classes, float *logits);

/* ---- the models the trainer and the classifier build ---- */

#define MODEL_NAMES "googlenet, googlenet-bn"

/* 1 if name is one of MODEL_NAMES. */
int model_known(const char *name);
/* The static spelling of a known model name, else NULL. */
const char *model_name(const char *name);
/* 1 if the model has batch norms (it needs no warmup; its evaluation uses
 * the running statistics). */
int model_has_batch_norm(const char *name);
/* Builds model `name` with `classes` outputs and, when dropout > 0, a
 * dropout of that probability before the classifier
 * (inc_googlenet_create_desc); INC_ERR_INVALID_ARGUMENT for an unknown
 * name. */
inc_status model_create(inc_context *ctx, const char *name, int classes, float dropout,
                        inc_layer **out);

#endif /* EXAMPLES_NET_H */
