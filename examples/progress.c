/*
 * progress.c — see progress.h.
 */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define BAR_WIDTH 24

const char *format_duration(double seconds, char *buf, size_t cap)
{
  if (!(seconds >= 0) || seconds > 1e7) {
    snprintf(buf, cap, "--:--");
    return buf;
  }
  long s = (long)(seconds + 0.5);
  if (s >= 3600)
    snprintf(buf, cap, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else
    snprintf(buf, cap, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

void progress_begin(progress *p, int tty, int every, int epoch, int epochs, size_t batches,
                    size_t images)
{
  memset(p, 0, sizeof *p);
  p->tty = tty < 0 ? isatty(STDERR_FILENO) : tty;
  p->every = every > 0 ? every : 50;
  p->epoch = epoch;
  p->epochs = epochs;
  p->batches = batches;
  p->images = images;
  p->t0 = now_seconds();
  p->last_draw = 0;
}

void progress_update(progress *p, size_t batches_done, size_t images_done, double loss,
                     double acc)
{
  double t = now_seconds(), el = t - p->t0;
  double ips = el > 0 ? (double)images_done / el : 0;
  double eta = ips > 0 ? (double)(p->images - images_done) / ips : -1;
  char etab[32];
  format_duration(eta, etab, sizeof etab);
  int last = batches_done == p->batches;
  if (p->tty) {
    if (!last && t - p->last_draw < 0.1) return;
    p->last_draw = t;
    char bar[BAR_WIDTH + 1];
    size_t fill = p->batches ? batches_done * BAR_WIDTH / p->batches : 0;
    for (size_t i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %zu/%zu  loss %.4f  acc %.4f  %.0f img/s  ETA %s",
            p->epoch, p->epochs, bar, batches_done, p->batches, loss, acc, ips, etab);
    fflush(stderr);
    p->drawn = 1;
  } else if (batches_done % (size_t)p->every == 0 || last) {
    fprintf(stderr, "epoch %d/%d batch %zu/%zu  loss %.4f  acc %.4f  %.0f img/s  ETA %s\n",
            p->epoch, p->epochs, batches_done, p->batches, loss, acc, ips, etab);
    fflush(stderr);
  }
}

void progress_note(progress *p, const char *note)
{
  if (!p->tty) return;
  fprintf(stderr, "\r\033[Kepoch %d/%d %s", p->epoch, p->epochs, note);
  fflush(stderr);
  p->drawn = 1;
}

void progress_end(progress *p)
{
  if (p->tty && p->drawn) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  }
  p->drawn = 0;
}
