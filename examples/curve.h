/*
 * curve.h — the trainer's training curve, drawn like the book's Animator:
 * train loss and train accuracy at a few points within each epoch (their
 * running averages over the epoch so far), test accuracy at each epoch's
 * end; and which checkpoints to keep.
 *
 * The points within epochs go to <out>/steps.csv (x, train_loss, train_acc;
 * x = epochs done, fractional), the per-epoch rows stay in metrics.csv, and
 * curve.png plots both with gnuplot. A resumed run reads steps.csv back up
 * to the epoch it resumes after, so its curve equals an uninterrupted one.
 */
#ifndef EXAMPLES_CURVE_H
#define EXAMPLES_CURVE_H

#include <stddef.h>

/* Points within epochs: every batches/CURVE_POINTS batches and at the end. */
#define CURVE_POINTS 5

typedef struct curve_point {
  double x;         /* epochs done: epoch - 1 + batches done / batches */
  double loss, acc; /* running averages over the epoch so far */
} curve_point;

typedef struct curve {
  curve_point *p;
  size_t n, cap;
} curve;

/* 1 if batch b (0-based) of an epoch of `batches` ends a curve point. */
int curve_due(size_t b, size_t batches);
/* Appends a point. Returns 0, or -1 when out of memory. */
int curve_add(curve *c, double x, double loss, double acc);
/* Reads <dir>/steps.csv, keeping the points with x <= upto (a resumed run
 * keeps the epochs it resumes after). A missing file is no error (the
 * curve starts empty). Returns 0, or -1 with a message in err. */
int curve_load(curve *c, const char *dir, double upto, char *err, size_t errcap);
/* Writes <dir>/steps.csv atomically. Returns 0, or -1 with err. */
int curve_save(const curve *c, const char *dir, char *err, size_t errcap);
void curve_free(curve *c);

/* Plots <dir>/steps.csv (train loss and accuracy within epochs; the
 * per-epoch values of metrics.csv where steps.csv is missing) and the test
 * accuracy of <dir>/metrics.csv into <dir>/curve.png (atomically), x axis
 * from 0 to epochs. Returns 0, 1 when gnuplot is not installed (nothing
 * written), -1 on another failure (message in err). */
int plot_curve(const char *dir, int epochs, char *err, size_t errcap);

/* After epoch `epoch` was saved: removes the checkpoints
 * <dir>/ckpt-epoch-NNN.safetensors of epochs 1..epoch-keep except `best`
 * (keep >= 1: the last keep epochs and the best one stay). Returns the
 * number removed, or -1 with err. */
int prune_checkpoints(const char *dir, int epoch, int keep, int best, char *err, size_t errcap);

#endif /* EXAMPLES_CURVE_H */
