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

typedef struct inc__st_entry {
  char *name;
  int ndim;
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

/* One tensor to write: name, shape and host data (little-endian order is
 * produced by the writer). */
typedef struct inc__st_out {
  const char *name;
  int ndim;
  const int64_t *shape;
  const float *host;
} inc__st_out;

/* Writes a safetensors file atomically: temporary file in the same
 * directory, fsync, rename. */
inc_status inc__st_write(const char *path, const inc__st_out *tensors, int n,
                         const char *const *keys, const char *const *values, int n_meta,
                         char *msg, size_t msg_cap);

#endif /* INC_SAFETENSORS_H */
