/*
 * train_results.h — what examples/train keeps and writes about its epochs:
 * the rows of metrics.csv (also a checkpoint's "metrics" metadata, which
 * --resume reads back) and, after each epoch, the checkpoint with the
 * run's recipe, metrics.csv, steps.csv, curve.png and the pruning of old
 * checkpoints. Only rank 0 of a job of several processes writes them.
 */
#ifndef EXAMPLES_TRAIN_RESULTS_H
#define EXAMPLES_TRAIN_RESULTS_H

#include <stddef.h>

#include "curve.h"
#include "inception.h"
#include "train_options.h"

typedef struct row {
  int epoch;
  double loss, train_acc, test_acc, img_per_s, seconds;
} row;

/* The rows as CSV text (with the header line when header is set),
 * malloc'd; NULL when out of memory. */
char *rows_csv(const row *rows, int n, int header);

/* Parses rows written by rows_csv (no header). Returns the count or -1. */
int parse_rows(const char *s, row *rows, int cap);

typedef struct run_info {
  const options *o;
  inc_context *ctx;
  const char *device;
  size_t n_train, n_test;
  int ranks;       /* processes of the job: recorded, not part of the recipe */
  int warned_plot; /* gnuplot's absence was reported */
} run_info;

/* Writes the checkpoint of `epoch` (the source of truth for --resume),
 * then metrics.csv, steps.csv and curve.png, and prunes old checkpoints
 * (--keep). Returns 0, or -1 after a message on stderr. */
int save_epoch(run_info *ri, int epoch, const row *rows, int nrows, const inc_layer *net,
               const inc_optimizer *opt, const curve *cv);

#endif /* EXAMPLES_TRAIN_RESULTS_H */
