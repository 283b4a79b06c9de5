/*
 * util.h — small POSIX helpers for the examples: clocks, mkdir -p, atomic
 * file replacement and checkpoint lookup.
 * Functions return 0 on success, -1 with a message in err on failure.
 */
#ifndef EXAMPLES_UTIL_H
#define EXAMPLES_UTIL_H

#include <stddef.h>

/* Parses s, the value of command-line option opt, as a decimal integer in
 * [lo, hi]. Returns 0, or -1 after "PROG: OPT needs an integer in [lo, hi],
 * got "s"" on stderr. */
int parse_long_arg(const char *prog, const char *opt, const char *s, long lo, long hi, long *out);

/* Seconds on a monotonic clock. */
double now_seconds(void);

/* Creates dir and its missing parents (mode 0777 & ~umask). */
int mkdir_p(const char *dir, char *err, size_t errcap);

/* Writes len bytes to path atomically: a temporary file in the same
 * directory, written, fsync'd, renamed over path, then the directory fsync'd.
 * A failure leaves any previous path intact. */
int write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errcap);

/* fsyncs tmp, renames it to path and fsyncs the directory of path. */
int commit_file(const char *tmp, const char *path, char *err, size_t errcap);

/* Finds the checkpoint "ckpt-epoch-NNN.safetensors" with the largest NNN in
 * dir. Returns NNN (>= 1) and writes its path into path, 0 when there is
 * none, -1 when dir cannot be read. */
int newest_checkpoint(const char *dir, char *path, size_t cap, char *err, size_t errcap);

#endif /* EXAMPLES_UTIL_H */
