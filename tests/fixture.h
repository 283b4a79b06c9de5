/*
 * fixture.h — a small reader for the safetensors fixtures made by
 * tests/fixtures/make_fixtures.py (F32 tensors plus a string __metadata__).
 *
 * The reader is independent of the library's own safetensors code, so the
 * library's loader is checked against a second implementation. It validates
 * everything it reads: header length against the file size, the JSON syntax,
 * dtype F32 only, shapes (1..8 dims, no overflow), offsets inside the data
 * section and matching the shape, no overlapping tensors, unique names.
 */
#ifndef INC_TEST_FIXTURE_H
#define INC_TEST_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

/* Where the fixtures live, relative to the directory the tests run in (the
 * repository root). */
#ifndef INC_FIXTURE_DIR
#define INC_FIXTURE_DIR "tests/fixtures"
#endif

#define FX_MAX_DIMS 8

typedef struct fx_tensor {
  char *name;
  int ndim;
  int64_t dims[FX_MAX_DIMS];
  int64_t numel;
  float *data; /* numel floats, host order */
} fx_tensor;

typedef struct fx_file {
  int count;           /* tensors, in header order */
  fx_tensor *tensors;
  int meta_count;
  char **meta_keys;
  char **meta_values;
} fx_file;

/* Reads a safetensors file. Returns NULL on failure with a message in err
 * (always NUL-terminated when errcap > 0). */
fx_file *fx_read(const char *path, char *err, size_t errcap);

/* Reads INC_FIXTURE_DIR "/" name. */
fx_file *fx_open(const char *name, char *err, size_t errcap);

void fx_free(fx_file *f);

/* The tensor called name, or NULL. */
const fx_tensor *fx_get(const fx_file *f, const char *name);

/* __metadata__[key], or NULL. */
const char *fx_meta(const fx_file *f, const char *key);

#endif
