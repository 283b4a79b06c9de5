/*
 * safetensors_io.c — whole-file reads, the atomic file writer and the
 * safetensors writer on top of it: the header is built in memory, the file
 * goes to a temporary name in the target's directory, is fsync'd, renamed
 * over the target and the directory fsync'd, so a crash or a full disk
 * never leaves a half-written checkpoint under the real name. The ONNX
 * exporter (src/onnx.c) writes through the same inc__write_atomic.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "safetensors.h"

/* ---- reading a file ---- */

inc_status inc__read_file(const char *path, unsigned char **buf, size_t *size, char *msg,
                          size_t msg_cap)
{
  *buf = NULL;
  *size = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(msg, msg_cap, "cannot open %s: %s", path, strerror(errno));
    return INC_ERR_IO;
  }
  inc_status s = INC_OK;
  long len = -1;
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && fseek(f, 0, SEEK_END) == 0)
    len = ftell(f);
  if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
    snprintf(msg, msg_cap, "cannot read %s: not a regular file", path);
    s = INC_ERR_IO;
  }
  unsigned char *b = NULL;
  if (s == INC_OK && !(b = (unsigned char *)inc__malloc((size_t)len + 1))) {
    snprintf(msg, msg_cap, "cannot read %s: out of host memory (%ld bytes)", path, len);
    s = INC_ERR_OUT_OF_MEMORY;
  }
  if (s == INC_OK && fread(b, 1, (size_t)len, f) != (size_t)len) {
    snprintf(msg, msg_cap, "cannot read %s: short read", path);
    s = INC_ERR_IO;
  }
  fclose(f);
  if (s != INC_OK) {
    inc__free(b);
    return s;
  }
  *buf = b;
  *size = (size_t)len;
  return INC_OK;
}

/* ---- writing ---- */

typedef struct strbuf {
  char *p;
  size_t n, cap;
  int oom;
} strbuf;

static void sb_putn(strbuf *b, const char *s, size_t n)
{
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = (b->cap ? b->cap * 2 : 1024) + n;
    char *q = (char *)inc__realloc(b->p, cap);
    if (!q) {
      b->oom = 1;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void sb_puts(strbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_json_string(strbuf *b, const char *s)
{
  sb_puts(b, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      sb_putn(b, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      sb_puts(b, esc);
    } else {
      sb_putn(b, (const char *)&c, 1);
    }
  }
  sb_puts(b, "\"");
}

int inc__write_all(int fd, const void *data, size_t n)
{
  const char *p = (const char *)data;
  while (n) {
    if (inc__fault_should_fail_io()) {
      errno = ENOSPC;
      return -1;
    }
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* float32 values in little-endian byte order, whatever the host's. */
static int write_floats_le(int fd, const float *v, int64_t n)
{
  const unsigned one = 1;
  if (*(const unsigned char *)&one == 1) return inc__write_all(fd, v, (size_t)n * sizeof(float));
  unsigned char chunk[4096];
  for (int64_t i = 0; i < n;) {
    size_t k = 0;
    for (; i < n && k + 4 <= sizeof chunk; i++, k += 4) {
      uint32_t u;
      memcpy(&u, &v[i], 4);
      chunk[k] = (unsigned char)u;
      chunk[k + 1] = (unsigned char)(u >> 8);
      chunk[k + 2] = (unsigned char)(u >> 16);
      chunk[k + 3] = (unsigned char)(u >> 24);
    }
    if (inc__write_all(fd, chunk, k)) return -1;
  }
  return 0;
}

/* Counts held as floats, written as little-endian int64 (rounded). */
static int write_i64_le(int fd, const float *v, int64_t n)
{
  unsigned char chunk[4096];
  for (int64_t i = 0; i < n;) {
    size_t k = 0;
    for (; i < n && k + 8 <= sizeof chunk; i++, k += 8) {
      uint64_t u = (uint64_t)llroundf(v[i]);
      for (int b = 0; b < 8; b++) chunk[k + b] = (unsigned char)(u >> (8 * b));
    }
    if (inc__write_all(fd, chunk, k)) return -1;
  }
  return 0;
}

/* The body of a safetensors file: the header length, the header, the data. */
typedef struct st_body {
  const char *header;
  size_t header_n;
  const inc__st_out *t;
  int n;
} st_body;

static int write_st_body(int fd, void *arg)
{
  const st_body *b = (const st_body *)arg;
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)b->header_n >> (8 * i));
  if (inc__write_all(fd, len8, 8) || inc__write_all(fd, b->header, b->header_n)) return -1;
  for (int i = 0; i < b->n; i++) {
    int64_t numel = 1;
    for (int d = 0; d < b->t[i].ndim; d++) numel *= b->t[i].shape[d];
    int bad = b->t[i].dtype == INC__ST_I64 ? write_i64_le(fd, b->t[i].host, numel)
                                           : write_floats_le(fd, b->t[i].host, numel);
    if (bad) return -1;
  }
  return 0;
}

inc_status inc__st_write(const char *path, const inc__st_out *t, int n, const char *const *keys,
                         const char *const *values, int n_meta, char *msg, size_t msg_cap)
{
  strbuf h = {0};
  uint64_t off = 0;
  char num[64];
  sb_puts(&h, "{");
  if (n_meta > 0) {
    sb_puts(&h, "\"__metadata__\":{");
    for (int i = 0; i < n_meta; i++) {
      if (i) sb_puts(&h, ",");
      sb_json_string(&h, keys[i]);
      sb_puts(&h, ":");
      sb_json_string(&h, values[i]);
    }
    sb_puts(&h, "}");
  }
  for (int i = 0; i < n; i++) {
    if (i || n_meta > 0) sb_puts(&h, ",");
    sb_json_string(&h, t[i].name);
    sb_puts(&h, t[i].dtype == INC__ST_I64 ? ":{\"dtype\":\"I64\",\"shape\":["
                                          : ":{\"dtype\":\"F32\",\"shape\":[");
    int64_t numel = 1;
    for (int d = 0; d < t[i].ndim; d++) {
      snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)t[i].shape[d]);
      sb_puts(&h, num);
      numel *= t[i].shape[d];
    }
    uint64_t bytes = (uint64_t)numel * inc__st_dsize(t[i].dtype);
    snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
             (unsigned long long)(off + bytes));
    sb_puts(&h, num);
    off += bytes;
  }
  sb_puts(&h, "}");
  while (!h.oom && h.n % 8) sb_puts(&h, " "); /* data starts 8-byte aligned */
  if (h.oom) {
    inc__free(h.p);
    snprintf(msg, msg_cap, "save %s: out of host memory", path);
    return INC_ERR_OUT_OF_MEMORY;
  }
  st_body body = {h.p, h.n, t, n};
  inc_status s = inc__write_atomic(path, "save", write_st_body, &body, msg, msg_cap);
  inc__free(h.p);
  return s;
}

inc_status inc__write_atomic(const char *path, const char *what, int (*body)(int fd, void *arg),
                             void *arg, char *msg, size_t msg_cap)
{
  size_t plen = strlen(path);
  char *tmp = (char *)inc__malloc(plen + 16);
  if (!tmp) {
    snprintf(msg, msg_cap, "%s %s: out of host memory", what, path);
    return INC_ERR_OUT_OF_MEMORY;
  }
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp-XXXXXX", 12);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    snprintf(msg, msg_cap, "%s %s: cannot create a temporary file beside it: %s", what, path,
             strerror(errno));
    inc__free(tmp);
    return INC_ERR_IO;
  }
  /* mkstemp makes the file 0600; checkpoints are ordinary data files.
   * (Reading the umask would mean changing it, a process-wide race.) */
  fchmod(fd, 0644);
  errno = 0;
  int bad = body(fd, arg) != 0;
  int err = errno;
  if (!bad && fsync(fd)) {
    bad = 1;
    err = errno;
  }
  if (close(fd) && !bad) {
    bad = 1;
    err = errno;
  }
  if (!bad && rename(tmp, path)) {
    bad = 1;
    err = errno;
  }
  if (bad) {
    unlink(tmp);
    inc__free(tmp);
    snprintf(msg, msg_cap, "%s %s: write failed: %s (any previous file is unchanged)", what, path,
             strerror(err));
    return INC_ERR_IO;
  }
  /* Make the rename itself durable: fsync the directory, whose name is
   * tmp's up to its last slash (no allocation here, so nothing can skip it). */
  char *slash = strrchr(tmp, '/');
  if (slash) *(slash == tmp ? slash + 1 : slash) = '\0';
  int dfd = open(slash ? tmp : ".", O_RDONLY | O_DIRECTORY);
  inc__free(tmp);
  if (dfd >= 0) {
    int r = fsync(dfd);
    err = errno;
    close(dfd);
    if (r && err != EINVAL && err != EROFS) {
      snprintf(msg, msg_cap, "%s %s: the file is written and renamed, but fsync of its "
               "directory failed: %s", what, path, strerror(err));
      return INC_ERR_IO;
    }
  }
  return INC_OK;
}
