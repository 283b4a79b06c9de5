/*
 * idx.h — a reader for IDX files (the format of MNIST and Fashion-MNIST),
 * gzip-compressed or not, and a loader for the Fashion-MNIST data set.
 *
 * IDX layout (big-endian): two zero bytes, a type byte (0x08 = unsigned
 * byte, the only type supported here), a byte with the number of dims, one
 * 32-bit size per dim, then the data in row-major order. Image files have
 * magic 2051 (0x00000803: ubyte, 3 dims N x rows x cols), label files 2049
 * (0x00000801: ubyte, 1 dim N).
 *
 * Nothing here exits or prints: every function returns IDX_OK or an error
 * code and, on error, writes a message (naming the file where there is one)
 * into err[errcap]. idx_parse() works on memory only, for fuzzing.
 */
#ifndef EXAMPLES_IDX_H
#define EXAMPLES_IDX_H

#include <stddef.h>
#include <stdint.h>

#define IDX_MAGIC_IMAGES 2051u
#define IDX_MAGIC_LABELS 2049u
#define IDX_MAX_DIMS 4
/* Refuse to decompress more than this (a gzip bomb or a wrong file). */
#define IDX_MAX_BYTES ((size_t)1 << 30)

typedef enum idx_error {
  IDX_OK = 0,
  IDX_ERR_IO = 1,        /* cannot open or read the file (or gzip stream broken) */
  IDX_ERR_FORMAT = 2,    /* bad magic, type, dims; truncated; trailing bytes */
  IDX_ERR_MISMATCH = 3,  /* valid IDX but not what the caller asked for */
  IDX_ERR_NOMEM = 4,
  IDX_ERR_ARG = 5
} idx_error;

/* A parsed IDX array of unsigned bytes. */
typedef struct idx_array {
  uint32_t magic;               /* e.g. 2051 */
  int ndim;                     /* 1..IDX_MAX_DIMS */
  uint32_t dims[IDX_MAX_DIMS];
  size_t count;                 /* product of dims */
  const uint8_t *data;          /* count bytes (inside buf for idx_load) */
  uint8_t *buf;                 /* owned storage (idx_load), or NULL */
} idx_array;

/* Parses len bytes of an uncompressed IDX file. On success out->data points
 * into buf (which must outlive it) and out->buf is NULL. Checks: the two zero
 * bytes, type 0x08, 1 <= ndim <= IDX_MAX_DIMS, every dim >= 1, the element
 * count not overflowing, the data exactly filling the rest of the buffer
 * (fewer bytes: "truncated", more: "trailing bytes"). name (may be NULL) is
 * used in messages. */
idx_error idx_parse(const uint8_t *buf, size_t len, const char *name, idx_array *out, char *err,
                    size_t errcap);

/* Reads and parses a file, gzip-compressed or plain (zlib reads both). A
 * truncated or corrupt gzip stream is IDX_ERR_IO. Free with idx_free(). */
idx_error idx_load(const char *path, idx_array *out, char *err, size_t errcap);

/* Frees what idx_load() allocated; safe on a zeroed or parsed array. */
void idx_free(idx_array *a);

/* Checks that a parsed array has the given magic number (2051/2049) and, for
 * images, rows x cols (0 = any). */
idx_error idx_expect(const idx_array *a, const char *name, uint32_t magic, uint32_t rows,
                     uint32_t cols, char *err, size_t errcap);

/* A labelled image set (the raw bytes of Fashion-MNIST). */
typedef struct idx_dataset {
  size_t count;                 /* images == labels */
  int rows, cols;
  idx_array images, labels;
  const uint8_t *pixels;        /* count * rows * cols */
  const uint8_t *label;         /* count, each < classes */
} idx_dataset;

/* Loads <dir>/<prefix>-images-idx3-ubyte.gz and <dir>/<prefix>-labels-
 * idx1-ubyte.gz (prefix "train" or "t10k"; a file without ".gz" is used when
 * the .gz one is missing), checks magic numbers, that both files hold the
 * same number of items, that images are rows x cols (28 x 28 for
 * Fashion-MNIST) and that every label is < classes. */
idx_error idx_load_dataset(const char *dir, const char *prefix, int rows, int cols, int classes,
                           idx_dataset *out, char *err, size_t errcap);
void idx_dataset_free(idx_dataset *d);

#endif /* EXAMPLES_IDX_H */
