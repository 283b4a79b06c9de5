/*
 * safetensors.h — reading and writing the safetensors container: an 8-byte
 * little-endian header length, a JSON header naming each tensor's dtype,
 * shape and byte range, then the raw data. The reader treats every file as
 * untrusted: bounded header, strict JSON of exactly the safetensors schema
 * (which bounds nesting at three levels), checked dtypes, shapes and
 * offsets that must tile the data exactly, no duplicate keys, overflow-safe
 * arithmetic.
 */
#ifndef INC_SAFETENSORS_H
#define INC_SAFETENSORS_H

#include "internal.h"

#define INC__ST_MAX_HEADER (64u << 20) /* 64 MiB of JSON is more than enough */

/* The dtypes read and written: float32, and int64 for counts (PyTorch's
 * num_batches_tracked). */
typedef enum inc__st_dtype { INC__ST_F32 = 0, INC__ST_I64 = 1 } inc__st_dtype;

/* Bytes per element of a dtype. */
static inline unsigned inc__st_dsize(inc__st_dtype d) { return d == INC__ST_I64 ? 8u : 4u; }

typedef struct inc__st_entry {
  char *name;
  inc__st_dtype dtype;
  int ndim;                /* 0: a scalar */
  int64_t shape[INC_MAX_DIMS];
  uint64_t begin, end; /* byte range within the data section */
} inc__st_entry;

typedef struct inc__st_file {
  inc__st_entry *entries;
  int n;
  inc__st_entry **by_name; /* (n,) entries sorted by name, for inc__st_find */
  char **meta_keys, **meta_values;
  int n_meta;
  const unsigned char *data; /* data section (points into the caller's buffer) */
  uint64_t data_bytes;
} inc__st_file;

/* Parses a whole file held in buf. On failure returns INC_ERR_FORMAT (or
 * INC_ERR_OUT_OF_MEMORY) with a message in msg. */
inc_status inc__st_parse(const unsigned char *buf, size_t size, inc__st_file *out, char *msg,
                         size_t msg_cap);
/* Parses the header only: buf holds at least the first 8 + header bytes;
 * data offsets are then checked against data_bytes given by the caller. */
inc_status inc__st_parse_header(const unsigned char *buf, size_t size, uint64_t data_bytes,
                                inc__st_file *out, char *msg, size_t msg_cap);
void inc__st_free(inc__st_file *f);
const inc__st_entry *inc__st_find(const inc__st_file *f, const char *name);
const char *inc__st_meta(const inc__st_file *f, const char *key);

/* Reads a whole file into memory (inc__malloc'd). */
inc_status inc__read_file(const char *path, unsigned char **buf, size_t *size, char *msg,
                          size_t msg_cap);

/* One tensor to write: name, shape (ndim 0: a scalar) and host data
 * (little-endian order is produced by the writer). dtype INC__ST_I64
 * writes each float rounded to an int64 (a count). */
typedef struct inc__st_out {
  const char *name;
  int ndim;
  const int64_t *shape;
  const float *host;
  inc__st_dtype dtype;
} inc__st_out;

/* Writes a safetensors file atomically: temporary file in the same
 * directory, fsync, rename. */
inc_status inc__st_write(const char *path, const inc__st_out *tensors, int n,
                         const char *const *keys, const char *const *values, int n_meta,
                         char *msg, size_t msg_cap);

/* ---- atomic file writes (src/safetensors_io.c), shared by every writer ----
 * (inc__st_write above, the ONNX exporter in src/onnx.c) */

/* Writes the file at path atomically: a temporary file "<path>.tmp-XXXXXX"
 * in the same directory (mode 0644) gets what body(fd, arg) writes (body
 * returns 0, or -1 with errno set), is fsync'd, closed and renamed over
 * path, then the directory is fsync'd. On failure the temporary file is
 * removed, a previous file at path is unchanged, and msg gets
 * "<what> <path>: ..." (INC_ERR_IO, or INC_ERR_OUT_OF_MEMORY). */
inc_status inc__write_atomic(const char *path, const char *what, int (*body)(int fd, void *arg),
                             void *arg, char *msg, size_t msg_cap);
/* write(2) until all n bytes are out (EINTR retried); 0, or -1 with errno
 * set. Each call is one write for the fault-injection hook
 * (inc__fault_arm_io). */
int inc__write_all(int fd, const void *data, size_t n);

#endif /* INC_SAFETENSORS_H */
