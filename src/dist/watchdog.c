/*
 * watchdog.c — the thread that ends a job instead of letting it hang.
 *
 * When a rank dies, mpirun normally notices and ends the others; when one
 * is stuck (a deadlock, a lost peer on another node that the transport has
 * not noticed, an NCCL kernel waiting forever), every other rank waits in a
 * collective. Each collective of this library, and each span a caller
 * marks (inc_dist_watch_begin/end: a GPU training step, whose NCCL work the
 * host cannot see), is a span the watchdog guards: a span open longer than
 * the timeout ends the job with a message (MPI_Abort when MPI allows a
 * second thread to call it, else _exit, which mpirun also turns into the
 * end of the job).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dist.h"

/* How often the thread looks, in seconds. */
#define WATCH_PERIOD 0.25

double inc__dist_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double inc__dist_env_timeout(void)
{
  const char *v = getenv(INC_DIST_TIMEOUT_ENV);
  if (!v || !*v) return INC_DIST_DEFAULT_TIMEOUT;
  char *end;
  double t = strtod(v, &end);
  if (end == v || *end != '\0' || !isfinite(t) || t < 0) return -1;
  return t;
}

static void expire(inc_dist *d, double waited, const char *what)
{
  char line[512];
  int n = snprintf(line, sizeof line,
                   "inception-dist: rank %d/%d: %s has not completed after %.0f s (a rank died "
                   "or is stuck; timeout set by " INC_DIST_TIMEOUT_ENV "); ending the job\n",
                   d->rank, d->size, what, waited);
  if (n > (int)sizeof line - 1) n = (int)sizeof line - 1;
  if (n > 0 && write(2, line, (size_t)n) < 0) { /* nothing more to do */
  }
  if (d->thread_multiple) MPI_Abort(MPI_COMM_WORLD, 124);
  _exit(124);
}

static void *watch_main(void *arg)
{
  inc_dist *d = arg;
  inc__dist_watch *w = &d->watch;
  pthread_mutex_lock(&w->mu);
  while (!w->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long ns = ts.tv_nsec + (long)(WATCH_PERIOD * 1e9);
    ts.tv_sec += ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    int rc = pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    if (rc != 0 && rc != ETIMEDOUT) break;
    double now = inc__dist_now();
    if (!w->stop && w->depth > 0 && w->timeout > 0 && now - w->since > w->timeout) {
      char what[sizeof w->what];
      memcpy(what, w->what, sizeof what);
      pthread_mutex_unlock(&w->mu);
      expire(d, now - w->since, what);
    }
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

inc_status inc__dist_watch_start(inc_dist *d, double timeout)
{
  inc__dist_watch *w = &d->watch;
  w->timeout = timeout;
  pthread_condattr_t ca;
  if (pthread_condattr_init(&ca) != 0) return INC_ERR_OUT_OF_MEMORY;
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int ok = pthread_mutex_init(&w->mu, NULL) == 0;
  if (ok && pthread_cond_init(&w->cv, &ca) != 0) {
    pthread_mutex_destroy(&w->mu);
    ok = 0;
  }
  pthread_condattr_destroy(&ca);
  if (!ok) return INC_ERR_OUT_OF_MEMORY;
  if (pthread_create(&w->thread, NULL, watch_main, d) != 0) {
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    return INC_ERR_OUT_OF_MEMORY;
  }
  w->running = 1;
  return INC_OK;
}

void inc__dist_watch_stop(inc_dist *d)
{
  inc__dist_watch *w = &d->watch;
  if (!w->running) return;
  pthread_mutex_lock(&w->mu);
  w->stop = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  w->running = 0;
}

INC_DIST_API inc_status inc_dist_set_timeout(inc_dist *d, double seconds)
{
  if (!d) return INC_ERR_INVALID_ARGUMENT;
  d->err[0] = '\0';
  if (!isfinite(seconds) || seconds < 0)
    return inc__dist_error(d, INC_ERR_INVALID_ARGUMENT,
                           "inc_dist_set_timeout: %g is not a number of seconds >= 0", seconds);
  if (!d->watch.running) return INC_OK;
  pthread_mutex_lock(&d->watch.mu);
  d->watch.timeout = seconds;
  pthread_mutex_unlock(&d->watch.mu);
  return INC_OK;
}

INC_DIST_API void inc_dist_watch_begin(inc_dist *d, const char *what)
{
  if (!d || !d->watch.running) return;
  inc__dist_watch *w = &d->watch;
  pthread_mutex_lock(&w->mu);
  if (w->depth++ == 0) {
    w->since = inc__dist_now();
    snprintf(w->what, sizeof w->what, "%s", what ? what : "a step");
  }
  pthread_mutex_unlock(&w->mu);
}

INC_DIST_API void inc_dist_watch_end(inc_dist *d)
{
  if (!d || !d->watch.running) return;
  pthread_mutex_lock(&d->watch.mu);
  if (d->watch.depth > 0) d->watch.depth--;
  pthread_mutex_unlock(&d->watch.mu);
}
