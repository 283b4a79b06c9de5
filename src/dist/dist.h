/*
 * dist.h — what the files of libinception-dist share: the job behind
 * inc_dist (MPI communicator, error message, watchdog), the attached
 * network behind inc_dist_net, and the NCCL loader's table.
 *
 * The library is split by concern: job.c (start, stop, errors, host
 * collectives), weights.c (broadcast, buffer averaging, checksums),
 * grads.c (the gradient hook: MPI on CPU contexts, NCCL on CUDA ones, the
 * trace), nccl.c (NCCL opened at run time) and watchdog.c. Nothing here is
 * exported; shared symbols carry the inc__dist_ prefix.
 */
#ifndef INC_DIST_INTERNAL_H
#define INC_DIST_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#include "../../include/inception_dist.h"

#define INC__DIST_ERR_CAP 1024

/* The watchdog: a thread that ends the job when a guarded span (a
 * collective, or a span of the caller's) has lasted longer than timeout. */
typedef struct inc__dist_watch {
  pthread_t thread;
  int running;            /* the thread was started */
  pthread_mutex_t mu;
  pthread_cond_t cv;      /* signalled to stop the thread */
  int stop;
  int depth;              /* open spans */
  double since;           /* monotonic start of the outermost span */
  double timeout;         /* seconds; 0: off */
  char what[128];         /* the outermost span's name */
} inc__dist_watch;

struct inc_dist {
  int rank, size;
  int mpi;                /* 1: this job runs on MPI (we started it) */
  int thread_multiple;    /* MPI gave MPI_THREAD_MULTIPLE */
  MPI_Comm comm;          /* a duplicate of MPI_COMM_WORLD, errors returned */
  int nets;               /* attached nets not yet detached */
  void *nccl;             /* const inc__nccl_api *, loaded on first use */
  inc__dist_watch watch;
  char err[INC__DIST_ERR_CAP];
};

/* ---- errors (job.c) ---- */
/* Formats d's message and returns s. */
inc_status inc__dist_error(inc_dist *d, inc_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* INC_ERR_IO with "<what>: <MPI's text for rc>" unless rc is MPI_SUCCESS. */
inc_status inc__dist_mpi(inc_dist *d, int rc, const char *what);
/* The libinception error s of ctx, repeated in d's message. */
inc_status inc__dist_lib(inc_dist *d, inc_context *ctx, inc_status s, const char *what);
/* Collective agreement: INC_OK on every rank if s is INC_OK on every rank;
 * otherwise every rank returns the failing status of the lowest failing
 * rank, and a rank that did not fail says which rank did. */
inc_status inc__dist_agree(inc_dist *d, inc_status s);

/* ---- the watchdog (watchdog.c) ---- */
/* Starts its thread (timeout > 0 and an MPI job); INC_ERR_OUT_OF_MEMORY. */
inc_status inc__dist_watch_start(inc_dist *d, double timeout);
void inc__dist_watch_stop(inc_dist *d);
/* Seconds on a monotonic clock. */
double inc__dist_now(void);
/* The timeout INCEPTION_DIST_TIMEOUT asks for; -1 when it is malformed. */
double inc__dist_env_timeout(void);

/* ---- NCCL (nccl.c) ---- */
typedef struct inc__dist_nccl_comm inc__dist_nccl_comm;
/* Makes one communicator over d's ranks (collective); INC_ERR_UNAVAILABLE
 * without NCCL, INC_ERR_DEVICE when it fails. */
inc_status inc__dist_nccl_open(inc_dist *d, inc__dist_nccl_comm **out);
/* Queues an in-place sum of count floats of device memory on stream. */
inc_status inc__dist_nccl_allreduce(inc_dist *d, inc__dist_nccl_comm *c, float *buf,
                                    int64_t count, void *stream);
void inc__dist_nccl_close(inc__dist_nccl_comm *c);
/* Closes the library opened for d (finalize). */
void inc__dist_nccl_unload(inc_dist *d);

#endif /* INC_DIST_INTERNAL_H */
