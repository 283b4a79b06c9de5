/*
 * job.c — the job behind inc_dist: joining it (MPI when mpirun launched the
 * process, else a job of one rank without MPI), leaving it, ending it, the
 * error message, and the collectives on host memory (barrier, sums).
 *
 * MPI's errors are returned, not fatal (MPI_ERRORS_RETURN on our duplicate
 * of MPI_COMM_WORLD), so that every failure becomes an inc_status with
 * MPI's text; what to do about it (usually inc_dist_abort) is the caller's
 * choice. Every blocking collective runs inside a watchdog span.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist.h"

/* One inc_dist per process: MPI is process-wide and starts once. */
static int g_live = 0;

static void put_why(char *why, size_t cap, const char *msg)
{
  if (why && cap) snprintf(why, cap, "%s", msg);
}

inc_status inc__dist_error(inc_dist *d, inc_status s, const char *fmt, ...)
{
  if (d) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err, sizeof d->err, fmt, ap);
    va_end(ap);
  }
  return s;
}

inc_status inc__dist_mpi(inc_dist *d, int rc, const char *what)
{
  if (rc == MPI_SUCCESS) return INC_OK;
  char text[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "error %d", rc);
  return inc__dist_error(d, INC_ERR_IO, "rank %d/%d: %s failed: %s", d->rank, d->size, what, text);
}

inc_status inc__dist_lib(inc_dist *d, inc_context *ctx, inc_status s, const char *what)
{
  if (!d) return s;
  return inc__dist_error(d, s, "rank %d/%d: %s: %s: %s", d->rank, d->size, what,
                         inc_status_string(s), inc_context_last_error(ctx));
}

inc_status inc__dist_agree(inc_dist *d, inc_status s)
{
  if (!d->mpi || d->size == 1) return s;
  int *all = malloc((size_t)d->size * sizeof *all);
  if (!all) return inc__dist_error(d, INC_ERR_OUT_OF_MEMORY, "out of memory");
  int mine = (int)s;
  inc_dist_watch_begin(d, "agreeing on a result (MPI_Allgather)");
  int rc = MPI_Allgather(&mine, 1, MPI_INT, all, 1, MPI_INT, d->comm);
  inc_dist_watch_end(d);
  inc_status r = inc__dist_mpi(d, rc, "MPI_Allgather");
  for (int i = 0; r == INC_OK && i < d->size; i++)
    if (all[i] != INC_OK) {
      r = (inc_status)all[i];
      if (s == INC_OK)
        inc__dist_error(d, r, "rank %d/%d failed (%s); see its message", i, d->size,
                        inc_status_string(r));
    }
  free(all);
  return r == INC_OK ? INC_OK : (s != INC_OK ? s : r);
}

/* mpirun (Open MPI's, or a PMIx or PMI launcher) sets these in each rank. */
static int launched_by_mpirun(void)
{
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

static inc_status start_mpi(inc_dist *d, char *why, size_t cap)
{
  int fin = 0, init = 0, provided = MPI_THREAD_SINGLE;
  MPI_Finalized(&fin);
  if (fin) {
    put_why(why, cap, "inc_dist_init: MPI was finalized in this process; it cannot start again");
    return INC_ERR_STATE;
  }
  MPI_Initialized(&init);
  int rc = init ? MPI_Query_thread(&provided)
                : MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
  if (rc == MPI_SUCCESS && !init) d->mpi = 2; /* ours to finalize */
  if (rc == MPI_SUCCESS) rc = MPI_Comm_dup(MPI_COMM_WORLD, &d->comm);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(d->comm, &d->rank);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_size(d->comm, &d->size);
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, text, &len);
    if (why && cap) snprintf(why, cap, "inc_dist_init: starting MPI failed: %s", text);
    if (d->comm != MPI_COMM_NULL) MPI_Comm_free(&d->comm);
    if (d->mpi == 2) MPI_Finalize();
    d->mpi = 0; /* finalized here: inc_dist_init's cleanup must not again */
    return INC_ERR_IO;
  }
  if (!d->mpi) d->mpi = 1;
  d->thread_multiple = provided >= MPI_THREAD_MULTIPLE;
  return INC_OK;
}

INC_DIST_API inc_status inc_dist_init(inc_dist **out, char *why, size_t cap)
{
  put_why(why, cap, "");
  if (!out) {
    put_why(why, cap, "inc_dist_init: out is NULL");
    return INC_ERR_INVALID_ARGUMENT;
  }
  *out = NULL;
  double timeout = inc__dist_env_timeout();
  if (timeout < 0) {
    put_why(why, cap, "inc_dist_init: " INC_DIST_TIMEOUT_ENV " must be a number of seconds >= 0");
    return INC_ERR_INVALID_ARGUMENT;
  }
  if (__atomic_exchange_n(&g_live, 1, __ATOMIC_ACQ_REL)) {
    put_why(why, cap, "inc_dist_init: this process already has an inc_dist (one per process)");
    return INC_ERR_STATE;
  }
  inc_dist *d = calloc(1, sizeof *d);
  if (!d) {
    __atomic_store_n(&g_live, 0, __ATOMIC_RELEASE);
    put_why(why, cap, "inc_dist_init: out of memory");
    return INC_ERR_OUT_OF_MEMORY;
  }
  d->size = 1;
  d->comm = MPI_COMM_NULL;
  int init = 0;
  MPI_Initialized(&init);
  inc_status s = INC_OK;
  if (launched_by_mpirun() || init) s = start_mpi(d, why, cap);
  if (s == INC_OK && d->mpi && (s = inc__dist_watch_start(d, timeout)) != INC_OK)
    put_why(why, cap, "inc_dist_init: cannot start the watchdog thread");
  if (s != INC_OK) {
    if (d->comm != MPI_COMM_NULL) MPI_Comm_free(&d->comm);
    if (d->mpi == 2) MPI_Finalize();
    free(d);
    __atomic_store_n(&g_live, 0, __ATOMIC_RELEASE);
    return s;
  }
  *out = d;
  return INC_OK;
}

INC_DIST_API inc_status inc_dist_finalize(inc_dist *d)
{
  if (!d) return INC_OK;
  if (d->nets > 0)
    return inc__dist_error(d, INC_ERR_STATE, "inc_dist_finalize: %d attached net(s) not detached",
                           d->nets);
  inc__dist_watch_stop(d);
  inc__dist_nccl_unload(d);
  inc_status s = INC_OK;
  if (d->comm != MPI_COMM_NULL) MPI_Comm_free(&d->comm);
  if (d->mpi == 2 && MPI_Finalize() != MPI_SUCCESS) s = INC_ERR_IO;
  free(d);
  __atomic_store_n(&g_live, 0, __ATOMIC_RELEASE);
  return s;
}

INC_DIST_API int inc_dist_rank(const inc_dist *d) { return d ? d->rank : 0; }
INC_DIST_API int inc_dist_size(const inc_dist *d) { return d ? d->size : 1; }
INC_DIST_API int inc_dist_uses_mpi(const inc_dist *d) { return d && d->mpi ? 1 : 0; }
INC_DIST_API const char *inc_dist_last_error(const inc_dist *d) { return d ? d->err : ""; }

INC_DIST_API void inc_dist_abort(inc_dist *d, int code, const char *message)
{
  if (code == 0) code = 1;
  if (message) {
    char line[1400];
    int n = snprintf(line, sizeof line, "inception-dist: rank %d/%d: %s\n", inc_dist_rank(d),
                     inc_dist_size(d), message);
    if (n > (int)sizeof line - 1) n = (int)sizeof line - 1;
    fflush(stdout);
    if (n > 0 && write(2, line, (size_t)n) < 0) { /* nothing more to do */
    }
  }
  fflush(NULL);
  /* a job without MPI has no other rank to end: the caller ends its own
   * process (the library never exits) */
  if (d && d->mpi) MPI_Abort(MPI_COMM_WORLD, code);
}

INC_DIST_API inc_status inc_dist_barrier(inc_dist *d)
{
  if (!d) return INC_ERR_INVALID_ARGUMENT;
  d->err[0] = '\0';
  if (!d->mpi) return INC_OK;
  inc_dist_watch_begin(d, "MPI_Barrier");
  int rc = MPI_Barrier(d->comm);
  inc_dist_watch_end(d);
  return inc__dist_mpi(d, rc, "MPI_Barrier");
}

INC_DIST_API inc_status inc_dist_allreduce_sum(inc_dist *d, double *values, int64_t count)
{
  if (!d) return INC_ERR_INVALID_ARGUMENT;
  d->err[0] = '\0';
  if (count < 0 || (count > 0 && !values))
    return inc__dist_error(d, INC_ERR_INVALID_ARGUMENT,
                           "inc_dist_allreduce_sum: %lld values at %p", (long long)count,
                           (void *)values);
  if (!d->mpi || count == 0) return INC_OK;
  int rc = MPI_SUCCESS;
  inc_dist_watch_begin(d, "MPI_Allreduce of host values");
  for (int64_t off = 0; rc == MPI_SUCCESS && off < count; off += INT_MAX) {
    int n = count - off > INT_MAX ? INT_MAX : (int)(count - off);
    rc = MPI_Allreduce(MPI_IN_PLACE, values + off, n, MPI_DOUBLE, MPI_SUM, d->comm);
  }
  inc_dist_watch_end(d);
  return inc__dist_mpi(d, rc, "MPI_Allreduce");
}

INC_DIST_API inc_status inc_dist_shard(int64_t n, int rank, int size, int64_t *first,
                                       int64_t *count)
{
  if (!first || !count || n < 0 || size < 1 || rank < 0 || rank >= size)
    return INC_ERR_INVALID_ARGUMENT;
  int64_t base = n / size, extra = n % size;
  *first = (int64_t)rank * base + (rank < extra ? rank : extra);
  *count = base + (rank < extra ? 1 : 0);
  return INC_OK;
}
