/*
 * curve.c — see curve.h.
 */
#include "curve.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

int curve_due(size_t b, size_t batches)
{
  size_t every = batches / CURVE_POINTS ? batches / CURVE_POINTS : 1;
  return (b + 1) % every == 0 || b + 1 == batches;
}

int curve_add(curve *c, double x, double loss, double acc)
{
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 64;
    curve_point *p = (curve_point *)realloc(c->p, cap * sizeof *p);
    if (!p) return -1;
    c->p = p;
    c->cap = cap;
  }
  c->p[c->n].x = x;
  c->p[c->n].loss = loss;
  c->p[c->n].acc = acc;
  c->n++;
  return 0;
}

void curve_free(curve *c)
{
  free(c->p);
  c->p = NULL;
  c->n = c->cap = 0;
}

int curve_load(curve *c, const char *dir, double upto, char *err, size_t errcap)
{
  char path[4200];
  snprintf(path, sizeof path, "%s/steps.csv", dir);
  FILE *f = fopen(path, "r");
  if (!f) {
    if (errno == ENOENT) return 0;
    snprintf(err, errcap, "cannot read %s: %s", path, strerror(errno));
    return -1;
  }
  char line[256];
  int rc = 0, lineno = 0;
  while (fgets(line, sizeof line, f)) {
    double x, loss, acc;
    if (++lineno == 1) continue; /* header */
    if (sscanf(line, "%lf,%lf,%lf", &x, &loss, &acc) != 3) {
      snprintf(err, errcap, "%s: line %d is not x,train_loss,train_acc", path, lineno);
      rc = -1;
      break;
    }
    /* a small tolerance: x was printed with 6 decimals */
    if (x <= upto + 1e-6 && curve_add(c, x, loss, acc) != 0) {
      snprintf(err, errcap, "out of memory reading %s", path);
      rc = -1;
      break;
    }
  }
  fclose(f);
  return rc;
}

int curve_save(const curve *c, const char *dir, char *err, size_t errcap)
{
  size_t cap = 64, len = 0;
  char *buf = (char *)malloc(cap);
  for (size_t i = 0; buf && i <= c->n; i++) {
    for (;;) { /* the header, then one line per point, growing the buffer */
      int w = i == 0 ? snprintf(buf + len, cap - len, "x,train_loss,train_acc\n")
                     : snprintf(buf + len, cap - len, "%.6f,%.6f,%.6f\n", c->p[i - 1].x,
                                c->p[i - 1].loss, c->p[i - 1].acc);
      if (w >= 0 && (size_t)w < cap - len) {
        len += (size_t)w;
        break;
      }
      char *nb = w < 0 ? NULL : (char *)realloc(buf, 2 * cap + (size_t)w);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap = 2 * cap + (size_t)w;
    }
  }
  if (!buf) {
    snprintf(err, errcap, "out of memory writing steps.csv");
    return -1;
  }
  char path[4200];
  snprintf(path, sizeof path, "%s/steps.csv", dir);
  int rc = write_file_atomic(path, buf, len, err, errcap);
  free(buf);
  return rc;
}

int prune_checkpoints(const char *dir, int epoch, int keep, int best, char *err, size_t errcap)
{
  int removed = 0;
  for (int k = 1; k <= epoch - keep; k++) {
    if (k == best) continue;
    char path[4200];
    snprintf(path, sizeof path, "%s/ckpt-epoch-%03d.safetensors", dir, k);
    if (unlink(path) == 0) {
      removed++;
    } else if (errno != ENOENT) {
      snprintf(err, errcap, "cannot remove %s: %s", path, strerror(errno));
      return -1;
    }
  }
  return removed;
}

/* Appends s to a gnuplot script as a single-quoted string ('' is a quote). */
static void gp_quoted(FILE *f, const char *s)
{
  fputc('\'', f);
  for (; *s; s++) {
    if (*s == '\'') fputc('\'', f);
    fputc(*s, f);
  }
  fputc('\'', f);
}

int plot_curve(const char *dir, int epochs, char *err, size_t errcap)
{
  char csv[4200], steps[4200], png[4200], tmp[4300], script[4300];
  snprintf(csv, sizeof csv, "%s/metrics.csv", dir);
  snprintf(steps, sizeof steps, "%s/steps.csv", dir);
  snprintf(png, sizeof png, "%s/curve.png", dir);
  snprintf(tmp, sizeof tmp, "%s/.curve.png.tmp", dir);
  snprintf(script, sizeof script, "%s/.curve.gnuplot", dir);
  FILE *f = fopen(script, "w");
  if (!f) {
    snprintf(err, errcap, "cannot write %s: %s", script, strerror(errno));
    return -1;
  }
  /* The book's plot: train loss and train acc within epochs, test acc at
   * each epoch's end. */
  fputs("if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
        "  set terminal pngcairo size 640,440 font ',10'\n"
        "} else {\n"
        "  set terminal png size 640,440\n"
        "}\n",
        f);
  fputs("set output ", f);
  gp_quoted(f, tmp);
  fputs("\nset datafile separator ','\n"
        "set xlabel 'epoch'\n"
        "set grid\n"
        "set key right center box opaque\n"
        "set yrange [0:*]\n",
        f);
  fprintf(f, "set xrange [0:%d]\n", epochs > 1 ? epochs : 1);
  fputs("set xtics 1\n", f);
  fputs("plot ", f);
  if (access(steps, R_OK) == 0) {
    gp_quoted(f, steps);
    fputs(" skip 1 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'train loss', \\\n"
          "     '' skip 1 using 1:3 with lines lw 2 dt 2 lc rgb '#bf00bf' title 'train acc', \\\n"
          "     ",
          f);
  } else { /* a run directory from before steps.csv: one point per epoch */
    gp_quoted(f, csv);
    fputs(" skip 1 using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#1f77b4' title 'train "
          "loss', \\\n"
          "     '' skip 1 using 1:3 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb '#bf00bf' title "
          "'train acc', \\\n"
          "     ",
          f);
  }
  gp_quoted(f, csv);
  fputs(" skip 1 using 1:4 with linespoints lw 2 pt 7 ps 0.6 dt 4 lc rgb '#008000' title 'test "
        "acc'\n",
        f);
  if (fclose(f) != 0) {
    snprintf(err, errcap, "cannot write %s: %s", script, strerror(errno));
    unlink(script);
    return -1;
  }
  char *argv[] = {"gnuplot", script, NULL};
  pid_t pid;
  int rc = posix_spawnp(&pid, "gnuplot", NULL, NULL, argv, environ);
  if (rc != 0) {
    unlink(script);
    if (rc == ENOENT) return 1;
    snprintf(err, errcap, "cannot run gnuplot: %s", strerror(rc));
    return -1;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      snprintf(err, errcap, "waitpid(gnuplot): %s", strerror(errno));
      unlink(script);
      unlink(tmp);
      return -1;
    }
  }
  unlink(script);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    unlink(tmp);
    return 1;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    snprintf(err, errcap, "gnuplot failed (status %d) plotting %s", status, csv);
    unlink(tmp);
    return -1;
  }
  return commit_file(tmp, png, err, errcap);
}
