/*
 * grads.c — summing gradients across ranks while backward runs: the
 * gradient hook (inc_layer_set_grad_hook) that inc_dist_attach installs.
 *
 * libinception packs the gradients into buckets, the last parameters
 * first, and calls ready(bucket) as soon as a bucket's gradients are final
 * and finish() when the backward ends (inception.h). Here:
 *
 *  - CPU contexts: ready starts MPI_Iallreduce(SUM) on the bucket, in
 *    place, and tests the ones under way (Open MPI moves a non-blocking
 *    collective on only inside MPI calls, so each ready also progresses the
 *    earlier buckets' sums); finish waits for all of them, in a watchdog
 *    span, so that inc_layer_backward returns with the sums in place;
 *  - CUDA contexts: ready queues ncclAllReduce(SUM) on the context's stream
 *    after the gradient work; the optimizer step queued later reads the
 *    sums, and nobody waits on the host.
 *
 * The trace (INCEPTION_DIST_TRACE=PREFIX) records, per backward and
 * bucket, when ready came and when the sum was seen complete (CPU), and
 * when the backward ended and all sums were in (CLOCK_MONOTONIC seconds);
 * the timeline of docs/distributed.md was measured with it.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

/* One bucket of one backward, for the trace. Times in seconds on
 * CLOCK_MONOTONIC (comparable with the caller's own clock_gettime); -1: not
 * seen (a CUDA sum completes on the device). */
typedef struct trace_row {
  int64_t step;
  int bucket;
  int64_t count;
  double ready, done, backward_end, all_done;
} trace_row;

struct inc_dist_net {
  inc_dist *d;
  inc_layer *net;
  int cuda;                    /* the net's context is a CUDA one */
  int hooked;                  /* the hook is installed (jobs of > 1 rank) */
  inc__dist_nccl_comm *nccl;   /* CUDA: the communicator of this net */
  int broken;                  /* a backward failed: the ranks no longer match */
  int64_t step;                /* backwards seen */
  int step_open;               /* a backward's buckets are arriving */
  /* CPU: the sums under way in this backward, and each one's trace row */
  MPI_Request *req;
  int *req_row;
  int *idx;                    /* MPI_Testsome's answer */
  int nreq, capreq;
  /* the trace (NULL path: off) */
  char *trace_path;
  trace_row *rows;
  int64_t nrows, caprows, step_first_row;
};

/* A row for bucket b of this backward, or -1 when tracing is off or out of
 * memory (the trace is then cut short, never the training). */
static int trace_ready(inc_dist_net *n, int bucket, int64_t count)
{
  if (!n->trace_path) return -1;
  if (n->nrows == n->caprows) {
    int64_t cap = n->caprows ? 2 * n->caprows : 256;
    trace_row *r = realloc(n->rows, (size_t)cap * sizeof *r);
    if (!r) return -1;
    n->rows = r;
    n->caprows = cap;
  }
  trace_row *r = &n->rows[n->nrows];
  r->step = n->step;
  r->bucket = bucket;
  r->count = count;
  r->ready = inc__dist_now();
  r->done = r->backward_end = r->all_done = -1;
  return n->nrows < INT_MAX ? (int)n->nrows++ : -1;
}

static void trace_step_end(inc_dist_net *n, double backward_end)
{
  if (!n->trace_path) return;
  double t = inc__dist_now();
  for (int64_t i = n->step_first_row; i < n->nrows; i++) {
    n->rows[i].backward_end = backward_end;
    n->rows[i].all_done = n->cuda ? -1 : t;
  }
  n->step_first_row = n->nrows;
}

static inc_status trace_write(inc_dist_net *n)
{
  if (!n->trace_path) return INC_OK;
  char path[4200];
  snprintf(path, sizeof path, "%s.rank%d.csv", n->trace_path, n->d->rank);
  FILE *f = fopen(path, "w");
  if (!f) return inc__dist_error(n->d, INC_ERR_IO, "cannot write the trace %s", path);
  fprintf(f, "step,bucket,floats,ready_s,done_s,backward_end_s,all_done_s\n");
  for (int64_t i = 0; i < n->nrows; i++) {
    const trace_row *r = &n->rows[i];
    fprintf(f, "%lld,%d,%lld,%.6f,%.6f,%.6f,%.6f\n", (long long)r->step, r->bucket,
            (long long)r->count, r->ready, r->done, r->backward_end, r->all_done);
  }
  return fclose(f) == 0 ? INC_OK : inc__dist_error(n->d, INC_ERR_IO, "writing %s failed", path);
}

/* Marks the sums that completed (their trace rows). */
static void note_done(inc_dist_net *n, const int *idx, int count)
{
  double t = n->trace_path ? inc__dist_now() : 0;
  for (int i = 0; i < count; i++)
    if (n->req_row[idx[i]] >= 0) n->rows[n->req_row[idx[i]]].done = t;
}

/* Moves the sums under way on (MPI_Testsome), without waiting. */
static int progress(inc_dist_net *n)
{
  int done = 0;
  int rc = MPI_Testsome(n->nreq, n->req, &done, n->idx, MPI_STATUSES_IGNORE);
  if (rc == MPI_SUCCESS && done != MPI_UNDEFINED) note_done(n, n->idx, done);
  return rc;
}

static inc_status start_sum(inc_dist_net *n, float *grad, int64_t count, int row)
{
  inc_dist *d = n->d;
  for (int64_t off = 0; off < count; off += INT_MAX) {
    if (n->nreq == n->capreq) {
      int cap = n->capreq ? 2 * n->capreq : 16;
      MPI_Request *r = realloc(n->req, (size_t)cap * sizeof *r);
      if (r) n->req = r;
      int *w = r ? realloc(n->req_row, (size_t)cap * sizeof *w) : NULL;
      if (w) n->req_row = w;
      int *x = w ? realloc(n->idx, (size_t)cap * sizeof *x) : NULL;
      if (!x) return inc__dist_error(d, INC_ERR_OUT_OF_MEMORY, "out of memory for requests");
      n->idx = x;
      n->capreq = cap;
    }
    int m = count - off > INT_MAX ? INT_MAX : (int)(count - off);
    n->req[n->nreq] = MPI_REQUEST_NULL;
    n->req_row[n->nreq] = row;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, grad + off, m, MPI_FLOAT, MPI_SUM, d->comm,
                            &n->req[n->nreq]);
    if (rc != MPI_SUCCESS) return inc__dist_mpi(d, rc, "MPI_Iallreduce of a gradient bucket");
    n->nreq++;
  }
  return inc__dist_mpi(d, progress(n), "MPI_Testsome");
}

static inc_status on_ready(void *user, int bucket, float *grad, int64_t count, void *stream)
{
  inc_dist_net *n = user;
  inc_dist *d = n->d;
  if (n->broken)
    return inc__dist_error(d, INC_ERR_STATE, "rank %d/%d: an earlier backward failed, the "
                           "ranks' gradient sums no longer match; end the job", d->rank,
                           d->size);
  if (!n->step_open) {
    n->step_open = 1;
    n->step++;
  }
  int row = trace_ready(n, bucket, count);
  inc_status s = n->cuda ? inc__dist_nccl_allreduce(d, n->nccl, grad, count, stream)
                         : start_sum(n, grad, count, row);
  if (s != INC_OK) n->broken = 1;
  return s;
}

static inc_status on_finish(void *user, inc_status backward_status, void *stream)
{
  inc_dist_net *n = user;
  inc_dist *d = n->d;
  double end = n->trace_path ? inc__dist_now() : 0;
  n->step_open = 0;
  if (backward_status != INC_OK || n->broken) {
    /* Sums under way may never complete (the other ranks are elsewhere):
     * do not wait for them, but keep them: they still write into the
     * buckets, so inc_dist_detach refuses to free those (end the job). */
    n->broken = 1;
    return backward_status != INC_OK ? backward_status : INC_ERR_STATE;
  }
  int rc = MPI_SUCCESS;
  if (n->nreq > 0) {
    inc_dist_watch_begin(d, "summing the gradients (MPI_Iallreduce)");
    while (rc == MPI_SUCCESS) {
      int i = MPI_UNDEFINED;
      rc = MPI_Waitany(n->nreq, n->req, &i, MPI_STATUS_IGNORE);
      if (rc != MPI_SUCCESS || i == MPI_UNDEFINED) break;
      note_done(n, &i, 1);
    }
    inc_dist_watch_end(d);
  }
  n->nreq = 0;
  trace_step_end(n, end);
  if (rc != MPI_SUCCESS) n->broken = 1;
  return inc__dist_mpi(d, rc, "MPI_Waitany for the gradient sums");
}

/* The context of net's first parameter. */
static inc_context *first_context(const inc_layer *net)
{
  inc_tensor *t = NULL;
  return inc_layer_param(net, 0, NULL, &t, NULL) == INC_OK ? inc_tensor_context(t) : NULL;
}

/* What attach checks on each rank before the ranks agree. */
static inc_status attach_check(inc_dist *d, inc_layer *net, int64_t bucket_bytes)
{
  if (!net || bucket_bytes < 0)
    return inc__dist_error(d, INC_ERR_INVALID_ARGUMENT, "inc_dist_attach: net %p, bucket_bytes "
                           "%lld", (void *)net, (long long)bucket_bytes);
  if (!inc_layer_is_bound(net) || inc_layer_param_count(net) == 0)
    return inc__dist_error(d, INC_ERR_STATE, "inc_dist_attach: the net is not bound or has no "
                           "parameters (run a forward first)");
  if (inc_layer_grad_bucket_count(net) > 0)
    return inc__dist_error(d, INC_ERR_STATE, "inc_dist_attach: the net already has a gradient "
                           "hook");
  return INC_OK;
}

/* bucket_bytes 0: INCEPTION_DIST_BUCKET_MB when set (a number > 0), else
 * libinception's default; -1 for a malformed value. */
static int64_t bucket_size(int64_t bucket_bytes)
{
  const char *v = getenv(INC_DIST_BUCKET_ENV);
  if (bucket_bytes != 0 || !v || !*v) return bucket_bytes;
  char *end;
  double mb = strtod(v, &end);
  if (end == v || *end || !(mb > 0) || mb > 1e6) return -1;
  return (int64_t)(mb * 1048576.0);
}

INC_DIST_API inc_status inc_dist_attach(inc_dist *d, inc_layer *net, int64_t bucket_bytes,
                                        inc_dist_net **out)
{
  if (!d) return INC_ERR_INVALID_ARGUMENT;
  d->err[0] = '\0';
  if (!out) return inc__dist_error(d, INC_ERR_INVALID_ARGUMENT, "inc_dist_attach: out is NULL");
  *out = NULL;
  inc_dist_net *n = calloc(1, sizeof *n);
  inc_status s = n ? attach_check(d, net, bucket_bytes)
                   : inc__dist_error(d, INC_ERR_OUT_OF_MEMORY, "out of memory");
  if (s == INC_OK && (bucket_bytes = bucket_size(bucket_bytes)) < 0)
    s = inc__dist_error(d, INC_ERR_INVALID_ARGUMENT, "inc_dist_attach: " INC_DIST_BUCKET_ENV
                        " must be a size in MiB > 0, got \"%s\"", getenv(INC_DIST_BUCKET_ENV));
  const char *tp = getenv(INC_DIST_TRACE_ENV);
  if (s == INC_OK && tp && *tp && !(n->trace_path = strdup(tp)))
    s = inc__dist_error(d, INC_ERR_OUT_OF_MEMORY, "out of memory");
  if ((s = inc__dist_agree(d, s)) != INC_OK) goto fail;
  n->d = d;
  n->net = net;
  n->cuda = inc_context_backend(first_context(net)) == INC_BACKEND_CUDA;
  if (d->size > 1) {
    if (n->cuda && (s = inc__dist_nccl_open(d, &n->nccl)) != INC_OK) goto fail;
    inc_grad_hook hook;
    memset(&hook, 0, sizeof hook);
    hook.size = sizeof hook;
    hook.bucket_bytes = bucket_bytes;
    hook.ready = on_ready;
    hook.finish = on_finish;
    hook.user = n;
    if ((s = inc_layer_set_grad_hook(net, &hook)) != INC_OK)
      inc__dist_lib(d, first_context(net), s, "inc_layer_set_grad_hook");
    if ((s = inc__dist_agree(d, s)) != INC_OK) {
      if (inc_layer_grad_bucket_count(net) > 0) (void)inc_layer_set_grad_hook(net, NULL);
      goto fail;
    }
    n->hooked = 1;
  }
  d->nets++;
  *out = n;
  return INC_OK;
fail:
  if (n) {
    inc__dist_nccl_close(n->nccl);
    free(n->trace_path);
    free(n);
  }
  return s;
}

INC_DIST_API inc_status inc_dist_detach(inc_dist_net *n)
{
  if (!n) return INC_OK;
  inc_dist *d = n->d;
  d->err[0] = '\0';
  inc_status s = INC_OK;
  if (n->nreq > 0)
    return inc__dist_error(d, INC_ERR_STATE,
                           "inc_dist_detach: %d gradient sum%s of a failed backward still "
                           "under way write into the gradient buckets; end the job "
                           "(inc_dist_abort)", n->nreq, n->nreq == 1 ? "" : "s");
  /* the sums queued on a CUDA stream finish before their communicator goes */
  if (n->nccl && (s = inc_context_synchronize(first_context(n->net))) != INC_OK)
    return inc__dist_lib(d, first_context(n->net), s, "inc_dist_detach: synchronizing");
  if (n->hooked && (s = inc_layer_set_grad_hook(n->net, NULL)) != INC_OK)
    return inc__dist_lib(d, first_context(n->net), s, "inc_dist_detach: removing the hook");
  s = trace_write(n);
  inc__dist_nccl_close(n->nccl);
  d->nets--;
  free(n->req);
  free(n->req_row);
  free(n->idx);
  free(n->rows);
  free(n->trace_path);
  free(n);
  return s;
}

INC_DIST_API inc_status inc_dist_scale_tensor(inc_tensor *t, double factor)
{
  if (!t || !isfinite(factor)) return INC_ERR_INVALID_ARGUMENT;
  int64_t n = inc_tensor_numel(t);
  float *h = malloc((size_t)n * sizeof *h);
  if (!h) return INC_ERR_OUT_OF_MEMORY;
  inc_status s = inc_tensor_copy_to_host(t, h, n);
  for (int64_t i = 0; s == INC_OK && i < n; i++) h[i] = (float)((double)h[i] * factor);
  if (s == INC_OK) s = inc_tensor_copy_from_host(t, h, n);
  free(h);
  return s;
}
