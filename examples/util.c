/*
 * util.c — see util.h.
 */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int parse_long_arg(const char *prog, const char *opt, const char *s, long lo, long hi, long *out)
{
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    fprintf(stderr, "%s: %s needs an integer in [%ld, %ld], got \"%s\"\n", prog, opt, lo, hi, s);
    return -1;
  }
  *out = v;
  return 0;
}

double now_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int mkdir_p(const char *dir, char *err, size_t errcap)
{
  char buf[4096];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof buf) {
    snprintf(err, errcap, "bad directory name \"%s\"", dir);
    return -1;
  }
  memcpy(buf, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char c = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
      snprintf(err, errcap, "cannot create directory %s: %s", buf, strerror(errno));
      return -1;
    }
    buf[i] = c;
  }
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    snprintf(err, errcap, "%s is not a directory", dir);
    return -1;
  }
  return 0;
}

/* Directory part of path ("." when none). */
static void dir_of(const char *path, char *dir, size_t cap)
{
  const char *slash = strrchr(path, '/');
  if (!slash) {
    snprintf(dir, cap, ".");
  } else if (slash == path) {
    snprintf(dir, cap, "/");
  } else {
    snprintf(dir, cap, "%.*s", (int)(slash - path), path);
  }
}

static void fsync_dir(const char *path)
{
  char dir[4096];
  dir_of(path, dir, sizeof dir);
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    fsync(fd); /* best effort: some file systems refuse directory fsync */
    close(fd);
  }
}

int write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errcap)
{
  char tmp[4200];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) {
    snprintf(err, errcap, "%s: path too long", path);
    return -1;
  }
  int fd = mkstemp(tmp);
  if (fd < 0) {
    snprintf(err, errcap, "cannot create a temporary file for %s: %s", path, strerror(errno));
    return -1;
  }
  const char *p = data;
  size_t left = len;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      snprintf(err, errcap, "cannot write %s: %s", tmp, strerror(errno));
      close(fd);
      unlink(tmp);
      return -1;
    }
    p += w;
    left -= (size_t)w;
  }
  if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
    snprintf(err, errcap, "cannot sync %s: %s", tmp, strerror(errno));
    close(fd);
    unlink(tmp);
    return -1;
  }
  if (close(fd) != 0) {
    snprintf(err, errcap, "cannot close %s: %s", tmp, strerror(errno));
    unlink(tmp);
    return -1;
  }
  if (rename(tmp, path) != 0) {
    snprintf(err, errcap, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  fsync_dir(path);
  return 0;
}

int commit_file(const char *tmp, const char *path, char *err, size_t errcap)
{
  int fd = open(tmp, O_RDONLY);
  if (fd < 0 || fsync(fd) != 0) {
    snprintf(err, errcap, "cannot sync %s: %s", tmp, strerror(errno));
    if (fd >= 0) close(fd);
    unlink(tmp);
    return -1;
  }
  close(fd);
  if (rename(tmp, path) != 0) {
    snprintf(err, errcap, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  fsync_dir(path);
  return 0;
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
  char csv[4200], png[4200], tmp[4300], script[4300];
  snprintf(csv, sizeof csv, "%s/metrics.csv", dir);
  snprintf(png, sizeof png, "%s/curve.png", dir);
  snprintf(tmp, sizeof tmp, "%s/.curve.png.tmp", dir);
  snprintf(script, sizeof script, "%s/.curve.gnuplot", dir);
  FILE *f = fopen(script, "w");
  if (!f) {
    snprintf(err, errcap, "cannot write %s: %s", script, strerror(errno));
    return -1;
  }
  /* The book's plot: train loss, train acc, test acc against the epoch. */
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
  if (epochs >= 2)
    fprintf(f, "set xrange [1:%d]\n", epochs);
  else
    fputs("set xrange [0.5:1.5]\n", f);
  fputs("set xtics 1\n", f);
  fputs("plot ", f);
  gp_quoted(f, csv);
  fputs(" skip 1 using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#1f77b4' title 'train loss', \\\n"
        "     '' skip 1 using 1:3 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb '#bf00bf' title 'train acc', \\\n"
        "     '' skip 1 using 1:4 with linespoints lw 2 pt 7 ps 0.6 dt 4 lc rgb '#008000' title 'test acc'\n",
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

int newest_checkpoint(const char *dir, char *path, size_t cap, char *err, size_t errcap)
{
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) return 0;
    snprintf(err, errcap, "cannot read directory %s: %s", dir, strerror(errno));
    return -1;
  }
  int best = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    int n = 0, end = 0;
    if (sscanf(e->d_name, "ckpt-epoch-%d.safetensors%n", &n, &end) == 1 && end > 0 &&
        e->d_name[end] == '\0' && n > best) {
      best = n;
      snprintf(path, cap, "%s/%s", dir, e->d_name);
    }
  }
  closedir(d);
  return best;
}
