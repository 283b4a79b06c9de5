/*
 * fuzz_idx.c — the trainer's IDX reader (examples/idx.c) on untrusted
 * bytes: idx_parse in memory, then the same bytes through a file with
 * idx_load (zlib reads gzip and plain files alike), and idx_expect.
 * Oracles: on success the dims are 1..IDX_MAX_DIMS nonzero values whose
 * product is count, the data lies inside the buffer and fills it exactly;
 * a failure has a message; a plain (not gzip) input gives idx_load the
 * same verdict and the same array as idx_parse; idx_expect agrees with the
 * magic number and dims.
 */
#include "fuzz_common.h"
#include "idx.h"

static void check_array(const idx_array *a, const uint8_t *buf, size_t len)
{
  FUZZ_CHECK(a->ndim >= 1 && a->ndim <= IDX_MAX_DIMS, "ndim %d", a->ndim);
  size_t count = 1;
  for (int i = 0; i < a->ndim; i++) {
    FUZZ_CHECK(a->dims[i] >= 1, "dim %d is 0", i);
    count *= a->dims[i];
  }
  FUZZ_CHECK(count == a->count, "count %zu, dims give %zu", a->count, count);
  FUZZ_CHECK(count <= IDX_MAX_BYTES, "count %zu", count);
  if (buf) {
    FUZZ_CHECK(a->data == buf + 4 + 4 * (size_t)a->ndim, "data pointer");
    FUZZ_CHECK(a->data + a->count == buf + len, "data does not fill the buffer");
  }
  volatile uint8_t sum = 0;
  for (size_t i = 0; i < a->count; i++) sum ^= a->data[i];
  (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  idx_array a, b;
  char err[256] = "", err2[256] = "";
  idx_error e = idx_parse(data, size, "input", &a, err, sizeof err);
  if (e == IDX_OK) {
    check_array(&a, data, size);
    FUZZ_CHECK(a.buf == NULL, "idx_parse owns memory");
    idx_error x = idx_expect(&a, "input", IDX_MAGIC_IMAGES, 0, 0, err2, sizeof err2);
    FUZZ_CHECK((x == IDX_OK) == (a.magic == IDX_MAGIC_IMAGES), "idx_expect images");
    x = idx_expect(&a, "input", IDX_MAGIC_LABELS, 0, 0, err2, sizeof err2);
    FUZZ_CHECK((x == IDX_OK) == (a.magic == IDX_MAGIC_LABELS), "idx_expect labels");
    if (a.magic == IDX_MAGIC_IMAGES && a.ndim >= 3) {
      x = idx_expect(&a, "input", IDX_MAGIC_IMAGES, 28, 28, err2, sizeof err2);
      FUZZ_CHECK((x == IDX_OK) == (a.dims[1] == 28 && a.dims[2] == 28), "idx_expect 28x28");
    }
  } else {
    FUZZ_CHECK(e == IDX_ERR_FORMAT, "idx_parse: error %d", (int)e);
    FUZZ_CHECK(err[0] != '\0', "idx_parse: no message");
  }

  const char *path = fuzz_write(data, size, ".idx");
  err2[0] = '\0';
  idx_error e2 = idx_load(path, &b, err2, sizeof err2);
  int gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  if (e2 == IDX_OK) {
    check_array(&b, NULL, 0);
    FUZZ_CHECK(b.buf != NULL && b.data >= b.buf, "idx_load owns its memory");
  } else {
    FUZZ_CHECK(e2 == IDX_ERR_FORMAT || e2 == IDX_ERR_IO || e2 == IDX_ERR_NOMEM,
               "idx_load: error %d", (int)e2);
    FUZZ_CHECK(err2[0] != '\0', "idx_load: no message");
  }
  if (!gzip) {
    FUZZ_CHECK((e == IDX_OK) == (e2 == IDX_OK), "idx_parse says %d, idx_load %d (%s / %s)",
               (int)e, (int)e2, err, err2);
    if (e == IDX_OK)
      FUZZ_CHECK(a.magic == b.magic && a.ndim == b.ndim && a.count == b.count &&
                     !memcmp(a.dims, b.dims, sizeof a.dims) &&
                     !memcmp(a.data, b.data, a.count),
                 "idx_load and idx_parse disagree");
  }
  idx_free(&b);
  idx_free(&a); /* a parsed array holds no memory: a no-op */
  unlink(path);
  return 0;
}
