/*
 * idx.c — IDX parsing (memory), loading (zlib) and the Fashion-MNIST pair
 * check. See idx.h. Never exits or prints.
 */
#include "idx.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static idx_error fail(char *err, size_t errcap, idx_error code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static idx_error fail(char *err, size_t errcap, idx_error code, const char *fmt, ...)
{
  if (err && errcap > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
  }
  return code;
}

static uint32_t be32(const uint8_t *p)
{
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

idx_error idx_parse(const uint8_t *buf, size_t len, const char *name, idx_array *out, char *err,
                    size_t errcap)
{
  if (!out) return fail(err, errcap, IDX_ERR_ARG, "idx_parse: NULL output");
  memset(out, 0, sizeof *out);
  if (!name) name = "(memory)";
  if (!buf && len > 0) return fail(err, errcap, IDX_ERR_ARG, "%s: NULL buffer", name);
  if (len == 0) return fail(err, errcap, IDX_ERR_FORMAT, "%s: empty file", name);
  if (len < 4)
    return fail(err, errcap, IDX_ERR_FORMAT,
                "%s: not an IDX file: %zu bytes, shorter than the 4-byte magic number", name, len);
  uint32_t magic = be32(buf);
  if (buf[0] != 0 || buf[1] != 0)
    return fail(err, errcap, IDX_ERR_FORMAT,
                "%s: not an IDX file: bad magic number 0x%08x (must start with two zero bytes)",
                name, (unsigned)magic);
  if (buf[2] != 0x08)
    return fail(err, errcap, IDX_ERR_FORMAT,
                "%s: IDX element type 0x%02x not supported (only 0x08, unsigned byte; magic %u)",
                name, buf[2], (unsigned)magic);
  int ndim = buf[3];
  if (ndim < 1 || ndim > IDX_MAX_DIMS)
    return fail(err, errcap, IDX_ERR_FORMAT, "%s: IDX file with %d dims (1..%d supported)", name,
                ndim, IDX_MAX_DIMS);
  size_t header = 4 + 4 * (size_t)ndim;
  if (len < header)
    return fail(err, errcap, IDX_ERR_FORMAT,
                "%s: truncated IDX header: %zu bytes, %zu needed for %d dims", name, len, header,
                ndim);
  size_t count = 1;
  for (int i = 0; i < ndim; i++) {
    uint32_t d = be32(buf + 4 + 4 * (size_t)i);
    if (d == 0) return fail(err, errcap, IDX_ERR_FORMAT, "%s: dim %d is 0", name, i);
    if (count > IDX_MAX_BYTES / d)
      return fail(err, errcap, IDX_ERR_FORMAT, "%s: dims too large (more than %zu bytes of data)",
                  name, (size_t)IDX_MAX_BYTES);
    count *= d;
    out->dims[i] = d;
  }
  size_t have = len - header;
  if (have < count)
    return fail(err, errcap, IDX_ERR_FORMAT,
                "%s: truncated: the header announces %zu data bytes, the file holds %zu", name,
                count, have);
  if (have > count)
    return fail(err, errcap, IDX_ERR_FORMAT,
                "%s: %zu trailing bytes after the %zu data bytes the header announces", name,
                have - count, count);
  out->magic = magic;
  out->ndim = ndim;
  out->count = count;
  out->data = buf + header;
  out->buf = NULL;
  return IDX_OK;
}

/* zlib's gzerror() text is "<path>: <message>"; keep the message. */
static const char *gz_message(const char *msg, const char *path)
{
  size_t n = strlen(path);
  if (msg && strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ') return msg + n + 2;
  return msg ? msg : "unknown error";
}

idx_error idx_load(const char *path, idx_array *out, char *err, size_t errcap)
{
  if (!out || !path) return fail(err, errcap, IDX_ERR_ARG, "idx_load: NULL argument");
  memset(out, 0, sizeof *out);
  struct stat st;
  if (stat(path, &st) != 0)
    return fail(err, errcap, IDX_ERR_IO, "%s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return fail(err, errcap, IDX_ERR_IO, "%s: not a regular file", path);
  errno = 0;
  gzFile gz = gzopen(path, "rb");
  if (!gz)
    return fail(err, errcap, IDX_ERR_IO, "%s: cannot open: %s", path,
                errno ? strerror(errno) : "out of memory");
  gzbuffer(gz, 1 << 17);
  size_t cap = 1 << 20, len = 0;
  uint8_t *buf = malloc(cap);
  if (!buf) {
    gzclose(gz);
    return fail(err, errcap, IDX_ERR_NOMEM, "%s: out of memory", path);
  }
  for (;;) {
    if (len == cap) {
      if (cap >= IDX_MAX_BYTES) {
        free(buf);
        gzclose(gz);
        return fail(err, errcap, IDX_ERR_FORMAT, "%s: more than %zu bytes once decompressed",
                    path, (size_t)IDX_MAX_BYTES);
      }
      uint8_t *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        gzclose(gz);
        return fail(err, errcap, IDX_ERR_NOMEM, "%s: out of memory", path);
      }
      buf = nb;
      cap *= 2;
    }
    size_t want = cap - len;
    if (want > (1u << 30)) want = 1u << 30;
    int n = gzread(gz, buf + len, (unsigned)want);
    if (n < 0) {
      int zerr = 0;
      const char *msg = gzerror(gz, &zerr);
      char m[256];
      snprintf(m, sizeof m, "%s", zerr == Z_ERRNO ? strerror(errno) : gz_message(msg, path));
      free(buf);
      gzclose(gz);
      return fail(err, errcap, IDX_ERR_IO, "%s: read error: %s", path, m);
    }
    if (n == 0) break;
    len += (size_t)n;
  }
  int zerr = 0;
  const char *msg = gzerror(gz, &zerr);
  if (zerr != Z_OK && zerr != Z_STREAM_END) {
    char m[256];
    snprintf(m, sizeof m, "%s", gz_message(msg, path));
    free(buf);
    gzclose(gz);
    return fail(err, errcap, IDX_ERR_IO, "%s: corrupt or truncated gzip data: %s", path, m);
  }
  int cr = gzclose(gz);
  if (cr != Z_OK) {
    free(buf);
    return fail(err, errcap, IDX_ERR_IO, "%s: corrupt or truncated gzip data (%s)", path,
                cr == Z_BUF_ERROR ? "unexpected end of file" : "close failed");
  }
  idx_error e = idx_parse(buf, len, path, out, err, errcap);
  if (e != IDX_OK) {
    free(buf);
    return e;
  }
  out->buf = buf;
  return IDX_OK;
}

void idx_free(idx_array *a)
{
  if (!a) return;
  free(a->buf);
  memset(a, 0, sizeof *a);
}

idx_error idx_expect(const idx_array *a, const char *name, uint32_t magic, uint32_t rows,
                     uint32_t cols, char *err, size_t errcap)
{
  if (!a) return fail(err, errcap, IDX_ERR_ARG, "idx_expect: NULL array");
  if (!name) name = "(memory)";
  if (a->magic != magic)
    return fail(err, errcap, IDX_ERR_MISMATCH,
                "%s: magic number %u, expected %u (%s file)", name, (unsigned)a->magic,
                (unsigned)magic,
                magic == IDX_MAGIC_IMAGES   ? "an image"
                : magic == IDX_MAGIC_LABELS ? "a label"
                                            : "another");
  if (magic == IDX_MAGIC_IMAGES && ((rows && a->dims[1] != rows) || (cols && a->dims[2] != cols)))
    return fail(err, errcap, IDX_ERR_MISMATCH, "%s: images are %ux%u, expected %ux%u", name,
                (unsigned)a->dims[1], (unsigned)a->dims[2], (unsigned)rows, (unsigned)cols);
  return IDX_OK;
}

/* Picks <dir>/<base>.gz, else <dir>/<base>, into path. */
static void pick_path(char *path, size_t cap, const char *dir, const char *base)
{
  struct stat st;
  snprintf(path, cap, "%s/%s.gz", dir, base);
  if (stat(path, &st) == 0) return;
  char plain[4096];
  snprintf(plain, sizeof plain, "%s/%s", dir, base);
  if (stat(plain, &st) == 0) snprintf(path, cap, "%s", plain);
}

idx_error idx_load_dataset(const char *dir, const char *prefix, int rows, int cols, int classes,
                           idx_dataset *out, char *err, size_t errcap)
{
  if (!dir || !prefix || !out || rows < 0 || cols < 0 || classes < 1 || classes > 256)
    return fail(err, errcap, IDX_ERR_ARG, "idx_load_dataset: bad argument");
  memset(out, 0, sizeof *out);
  char ipath[4096], lpath[4096], base[256];
  snprintf(base, sizeof base, "%s-images-idx3-ubyte", prefix);
  pick_path(ipath, sizeof ipath, dir, base);
  snprintf(base, sizeof base, "%s-labels-idx1-ubyte", prefix);
  pick_path(lpath, sizeof lpath, dir, base);

  idx_error e = idx_load(ipath, &out->images, err, errcap);
  if (e == IDX_OK)
    e = idx_expect(&out->images, ipath, IDX_MAGIC_IMAGES, (uint32_t)rows, (uint32_t)cols, err,
                   errcap);
  if (e == IDX_OK) e = idx_load(lpath, &out->labels, err, errcap);
  if (e == IDX_OK) e = idx_expect(&out->labels, lpath, IDX_MAGIC_LABELS, 0, 0, err, errcap);
  if (e == IDX_OK && out->images.dims[0] != out->labels.dims[0])
    e = fail(err, errcap, IDX_ERR_MISMATCH, "%s holds %u images but %s holds %u labels", ipath,
             (unsigned)out->images.dims[0], lpath, (unsigned)out->labels.dims[0]);
  if (e == IDX_OK) {
    for (size_t i = 0; i < out->labels.count; i++) {
      if (out->labels.data[i] >= classes) {
        e = fail(err, errcap, IDX_ERR_FORMAT, "%s: label %u of item %zu is not below %d", lpath,
                 (unsigned)out->labels.data[i], i, classes);
        break;
      }
    }
  }
  if (e != IDX_OK) {
    idx_dataset_free(out);
    return e;
  }
  out->count = out->images.dims[0];
  out->rows = (int)out->images.dims[1];
  out->cols = (int)out->images.dims[2];
  out->pixels = out->images.data;
  out->label = out->labels.data;
  return IDX_OK;
}

void idx_dataset_free(idx_dataset *d)
{
  if (!d) return;
  idx_free(&d->images);
  idx_free(&d->labels);
  memset(d, 0, sizeof *d);
}
