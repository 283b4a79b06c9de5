/*
 * util.c — see util.h.
 */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

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
