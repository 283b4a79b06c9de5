/*
 * replay.c — main() for the replay builds of the fuzz targets: runs
 * LLVMFuzzerTestOneInput over every file named on the command line and
 * every file (sorted, recursively) of every directory named, then prints
 * how many. A crash or an oracle violation (abort) fails the run; the file
 * being replayed is printed first, so the failing input is known.
 * Used by `make check-fuzz-corpus` (mk/reliability.mk).
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "fuzz_common.h"

static long files, bytes;
static int verbose;
static char current[4096];

/* Names the input being replayed when the run dies on it. */
static void say_current(void)
{
  static const char pre[] = "\nreplay: the failing input is ";
  if (write(2, pre, sizeof pre - 1) < 0 || write(2, current, strlen(current)) < 0 ||
      write(2, "\n", 1) < 0)
    return;
}
static void on_signal(int sig)
{
  say_current();
  signal(sig, SIG_DFL);
  raise(sig);
}
/* The sanitizers' hook, when the runtime has one. */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static void replay_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    exit(2);
  }
  size_t cap = 1 << 16, n = 0;
  unsigned char *buf = (unsigned char *)malloc(cap);
  for (;;) {
    if (n == cap) buf = (unsigned char *)realloc(buf, cap *= 2);
    size_t r = fread(buf + n, 1, cap - n, f);
    if (!r) break;
    n += r;
  }
  fclose(f);
  if (verbose) fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
  /* an exact-size copy, so that ASan sees reads past the end */
  unsigned char *exact = (unsigned char *)malloc(n ? n : 1);
  if (n) memcpy(exact, buf, n);
  free(buf);
  snprintf(current, sizeof current, "%s", path);
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  files++;
  bytes += (long)n;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void replay(const char *path)
{
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "replay: no such file or directory: %s\n", path);
    exit(2);
  }
  if (!S_ISDIR(st.st_mode)) {
    replay_file(path);
    return;
  }
  DIR *d = opendir(path);
  if (!d) exit(2);
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    if (n == cap) names = (char **)realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
    size_t len = strlen(path) + strlen(e->d_name) + 2;
    names[n] = (char *)malloc(len);
    snprintf(names[n++], len, "%s/%s", path, e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, cmp);
  for (size_t i = 0; i < n; i++) {
    replay(names[i]);
    free(names[i]);
  }
  free(names);
}

int main(int argc, char **argv)
{
  const char *target = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  verbose = getenv("REPLAY_VERBOSE") != NULL;
  signal(SIGABRT, on_signal);
  signal(SIGSEGV, on_signal);
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(say_current);
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE|DIR...\n", target);
    return 2;
  }
  for (int i = 1; i < argc; i++) replay(argv[i]);
  if (files == 0) {
    fprintf(stderr, "%s: no input replayed\n", target);
    return 1;
  }
  printf("%s: %ld inputs (%ld bytes) replayed, no crash, every oracle held\n", target, files,
         bytes);
  return 0;
}
