/*
 * train_dist.h — examples/train across processes: what the trainer asks of
 * libinception-dist (include/inception_dist.h), behind calls that are
 * plain no-ops in a single process, so that train.c reads the same both
 * ways. `mpirun -np N examples/train ...` needs no extra flag: the job, its
 * rank and size come from mpirun's environment (docs/distributed.md).
 *
 * The split: --batch is the global batch; every rank draws the same
 * shuffle (a function of seed and epoch) and takes its own contiguous
 * shard of each global batch (inc_dist_shard: sizes differ by at most one
 * row in a partial batch; a rank without a row runs one with a zero loss
 * gradient so that it still takes part in the sums). Its loss gradient is
 * scaled by (its rows) / (the batch's rows), and the gradients are summed
 * across ranks during backward, so N ranks make the update one process
 * makes for the whole batch. Rank 0 alone writes stdout, the progress
 * lines and every file; a failing rank ends the job.
 *
 * Built without MPI (no mpicc), the same calls make a job of one rank.
 */
#ifndef EXAMPLES_TRAIN_DIST_H
#define EXAMPLES_TRAIN_DIST_H

#include <stddef.h>

#include "inception.h"

typedef struct train_dist {
  void *job;  /* inc_dist *, NULL without MPI support */
  void *net;  /* inc_dist_net *, once attached */
  int rank, size;
  int watch_steps; /* a CUDA net: each step is a watchdog span */
} train_dist;

/* Joins the job (a job of one rank outside mpirun); on ranks other than 0
 * stdout goes to /dev/null. Returns 0, or -1 after a message on stderr. */
int train_dist_init(train_dist *t, const char *prog);

/* 0 when the global batch divides among the ranks; else -1 after rank 0
 * printed why. */
int train_dist_check_batch(const train_dist *t, const char *prog, int batch);

/* Makes the ranks' copies of net equal (rank 0's parameters and buffers)
 * and attaches it: its gradients are summed across ranks from now on. */
inc_status train_dist_attach(train_dist *t, inc_layer *net, char *err, size_t cap);

/* This rank's rows [*first, *first + *count) of n (a batch, a test set). */
void train_dist_shard(const train_dist *t, size_t n, size_t *first, size_t *count);

/* Scales this rank's loss gradient dl by count / m (see above). */
inc_status train_dist_scale(const train_dist *t, inc_tensor *dl, size_t count, size_t m);

/* Sums n doubles across ranks in place. */
inc_status train_dist_sum(train_dist *t, double *v, int n, char *err, size_t cap);

/* At an epoch's end: the batch norms' running statistics averaged over
 * the ranks, then every rank's weights checked identical (a checksum). */
inc_status train_dist_epoch_end(train_dist *t, inc_layer *net, char *err, size_t cap);

/* Marks a training step for the watchdog on a CUDA net (NCCL's work on the
 * GPU is invisible to the host; on the CPU every collective is watched by
 * itself, and a slow CPU step must not count); end pairs with begin. */
void train_dist_watch(train_dist *t, int begin);

/* Leaves the job and returns rc. With rc != 0 and everywhere 0 (this rank
 * alone failed) in a job of several ranks it ends every rank, which may be
 * waiting in a collective; otherwise (success, or a stop every rank reached
 * together: an interrupt, a bad --batch) it detaches the net and leaves
 * normally. Call it before destroying the net. */
int train_dist_finish(train_dist *t, int rc, int everywhere);

#endif /* EXAMPLES_TRAIN_DIST_H */
