/*
 * train_dist.c — examples/train across processes (train_dist.h), on
 * libinception-dist when the build found mpicc (TRAIN_DIST defined), as a
 * job of one rank otherwise. This is the one file of the trainer that
 * knows which.
 */
#include <stdio.h>
#include <string.h>

#include "train_dist.h"

#ifdef TRAIN_DIST
#include "inception_dist.h"

int train_dist_init(train_dist *t, const char *prog)
{
  memset(t, 0, sizeof *t);
  t->size = 1;
  char why[512] = "";
  inc_dist *d = NULL;
  inc_status s = inc_dist_init(&d, why, sizeof why);
  if (s != INC_OK) {
    fprintf(stderr, "%s: cannot join the MPI job: %s: %s\n", prog, inc_status_string(s), why);
    return -1;
  }
  t->job = d;
  t->rank = inc_dist_rank(d);
  t->size = inc_dist_size(d);
  if (t->rank > 0 && !freopen("/dev/null", "w", stdout)) {
    fprintf(stderr, "%s: rank %d: cannot silence stdout\n", prog, t->rank);
    return -1;
  }
  return 0;
}

inc_status train_dist_attach(train_dist *t, inc_layer *net, char *err, size_t cap)
{
  inc_dist *d = t->job;
  inc_dist_net *n = NULL;
  inc_status s = inc_dist_broadcast_layer(d, net, 0);
  if (s == INC_OK) s = inc_dist_attach(d, net, 0, &n);
  if (s != INC_OK) snprintf(err, cap, "%s", inc_dist_last_error(d));
  t->net = n;
  inc_tensor *w = NULL;
  t->watch_steps = inc_layer_param(net, 0, NULL, &w, NULL) == INC_OK &&
                   inc_context_backend(inc_tensor_context(w)) == INC_BACKEND_CUDA;
  return s;
}

inc_status train_dist_scale(const train_dist *t, inc_tensor *dl, size_t count, size_t m)
{
  if (t->size == 1) return INC_OK;
  return inc_dist_scale_tensor(dl, (double)count / (double)m);
}

inc_status train_dist_sum(train_dist *t, double *v, int n, char *err, size_t cap)
{
  inc_status s = inc_dist_allreduce_sum(t->job, v, n);
  if (s != INC_OK) snprintf(err, cap, "%s", inc_dist_last_error(t->job));
  return s;
}

inc_status train_dist_epoch_end(train_dist *t, inc_layer *net, char *err, size_t cap)
{
  inc_status s = inc_dist_average_buffers(t->job, net);
  if (s == INC_OK) s = inc_dist_verify_identical(t->job, net, NULL);
  if (s != INC_OK) snprintf(err, cap, "%s", inc_dist_last_error(t->job));
  return s;
}

void train_dist_watch(train_dist *t, int begin)
{
  if (!t->watch_steps) return;
  if (begin)
    inc_dist_watch_begin(t->job, "a training step");
  else
    inc_dist_watch_end(t->job);
}

int train_dist_finish(train_dist *t, int rc, int everywhere)
{
  if (rc != 0 && !everywhere && t->size > 1) {
    char msg[64];
    snprintf(msg, sizeof msg, "failed (exit status %d); ending the job", rc);
    inc_dist_abort(t->job, rc, msg);
  }
  if (inc_dist_detach(t->net) != INC_OK || inc_dist_finalize(t->job) != INC_OK) {
    fprintf(stderr, "rank %d: leaving the job: %s\n", t->rank, inc_dist_last_error(t->job));
    rc = rc ? rc : 1;
  }
  t->net = t->job = NULL;
  return rc;
}

void train_dist_shard(const train_dist *t, size_t n, size_t *first, size_t *count)
{
  int64_t f = 0, c = (int64_t)n;
  (void)inc_dist_shard((int64_t)n, t->rank, t->size, &f, &c);
  *first = (size_t)f;
  *count = (size_t)c;
}

#else /* built without MPI: a job of one rank */

int train_dist_init(train_dist *t, const char *prog)
{
  (void)prog;
  memset(t, 0, sizeof *t);
  t->size = 1;
  return 0;
}

inc_status train_dist_attach(train_dist *t, inc_layer *net, char *err, size_t cap)
{
  (void)t, (void)net, (void)err, (void)cap;
  return INC_OK;
}

inc_status train_dist_scale(const train_dist *t, inc_tensor *dl, size_t count, size_t m)
{
  (void)t, (void)dl, (void)count, (void)m;
  return INC_OK;
}

inc_status train_dist_sum(train_dist *t, double *v, int n, char *err, size_t cap)
{
  (void)t, (void)v, (void)n, (void)err, (void)cap;
  return INC_OK;
}

inc_status train_dist_epoch_end(train_dist *t, inc_layer *net, char *err, size_t cap)
{
  (void)t, (void)net, (void)err, (void)cap;
  return INC_OK;
}

void train_dist_watch(train_dist *t, int begin) { (void)t, (void)begin; }

int train_dist_finish(train_dist *t, int rc, int everywhere)
{
  (void)t, (void)everywhere;
  return rc;
}

void train_dist_shard(const train_dist *t, size_t n, size_t *first, size_t *count)
{
  (void)t;
  *first = 0;
  *count = n;
}

#endif

int train_dist_check_batch(const train_dist *t, const char *prog, int batch)
{
  if (batch % t->size == 0) return 0;
  if (t->rank == 0)
    fprintf(stderr,
            "%s: --batch %d is the global batch and must divide evenly among the %d ranks "
            "(each takes %d or %d rows); choose a multiple of %d\n",
            prog, batch, t->size, batch / t->size, batch / t->size + 1, t->size);
  return -1;
}
