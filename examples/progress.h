/*
 * progress.h — per-epoch progress on stderr: a redrawn bar when stderr is a
 * terminal, plain lines every `every` batches otherwise (logs, CI).
 */
#ifndef EXAMPLES_PROGRESS_H
#define EXAMPLES_PROGRESS_H

#include <stddef.h>

typedef struct progress {
  int tty;            /* redraw a bar with '\r' */
  int every;          /* plain mode: a line every this many batches */
  int epoch, epochs;
  size_t batches;     /* batches in the epoch */
  size_t images;      /* images in the epoch */
  double t0;          /* start of the epoch */
  double last_draw;
  int drawn;          /* a bar is on screen */
} progress;

/* tty < 0: decide with isatty(stderr). */
void progress_begin(progress *p, int tty, int every, int epoch, int epochs, size_t batches,
                    size_t images);
/* After each batch: batches and images done so far, running mean loss and
 * accuracy. */
void progress_update(progress *p, size_t batches_done, size_t images_done, double loss,
                     double acc);
/* Shows a phase note (e.g. "evaluating") on the bar; nothing in plain mode. */
void progress_note(progress *p, const char *note);
/* Clears the bar so that the next line prints cleanly. */
void progress_end(progress *p);

/* Formats seconds as "1:02:03" / "2:03" into buf. */
const char *format_duration(double seconds, char *buf, size_t cap);

#endif /* EXAMPLES_PROGRESS_H */
