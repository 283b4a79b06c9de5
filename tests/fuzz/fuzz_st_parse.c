/*
 * fuzz_st_parse.c — the strict safetensors parser (src/safetensors.c) on
 * untrusted bytes, in memory: inc__st_parse, and inc__st_parse_header with
 * the data size the file would have. Oracles on success: every entry has
 * 0..INC_MAX_DIMS dims >= 0, its byte range fits its shape (4 bytes per
 * element) and lies inside the data section, the ranges tile the data, names
 * are unique (inc__st_find finds each entry itself), metadata keys are
 * unique and found by inc__st_meta. On failure: a message, nothing leaked.
 */
#include "fuzz_common.h"
#include "safetensors.h"

static int cmp_u64(const void *a, const void *b)
{
  const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;
  return x[0] < y[0] ? -1 : x[0] > y[0];
}

static void check_file(const inc__st_file *f, const uint8_t *data, size_t size)
{
  FUZZ_CHECK(f->n >= 0 && f->n_meta >= 0, "counts %d %d", f->n, f->n_meta);
  FUZZ_CHECK(f->data >= data && f->data + f->data_bytes <= data + size, "data section outside");
  uint64_t *ranges = (uint64_t *)malloc(((size_t)f->n + 1) * 2 * sizeof(uint64_t));
  FUZZ_CHECK(ranges != NULL, "malloc");
  for (int i = 0; i < f->n; i++) {
    const inc__st_entry *e = &f->entries[i];
    FUZZ_CHECK(e->name != NULL, "entry %d without a name", i);
    FUZZ_CHECK(inc__st_find(f, e->name) == e, "\"%s\" is not unique", e->name);
    FUZZ_CHECK(e->ndim >= 0 && e->ndim <= INC_MAX_DIMS, "ndim %d", e->ndim);
    uint64_t numel = 1;
    for (int d = 0; d < e->ndim; d++) {
      FUZZ_CHECK(e->shape[d] >= 0, "dim %lld", (long long)e->shape[d]);
      FUZZ_CHECK(e->shape[d] == 0 || numel <= UINT64_MAX / 4 / (uint64_t)e->shape[d],
                 "unchecked overflow");
      numel *= (uint64_t)e->shape[d];
    }
    FUZZ_CHECK(e->begin <= e->end && e->end - e->begin == numel * inc__st_dsize(e->dtype),
               "range of \"%s\"", e->name);
    FUZZ_CHECK(e->end <= f->data_bytes, "\"%s\" ends past the data", e->name);
    ranges[2 * i] = e->begin;
    ranges[2 * i + 1] = e->end;
  }
  qsort(ranges, (size_t)f->n, 2 * sizeof(uint64_t), cmp_u64);
  uint64_t at = 0;
  for (int i = 0; i < f->n; i++) {
    FUZZ_CHECK(ranges[2 * i] == at, "gap or overlap at %llu", (unsigned long long)at);
    at = ranges[2 * i + 1];
  }
  FUZZ_CHECK(at == f->data_bytes, "tensors cover %llu of %llu bytes", (unsigned long long)at,
             (unsigned long long)f->data_bytes);
  free(ranges);
  for (int i = 0; i < f->n_meta; i++) {
    FUZZ_CHECK(f->meta_keys[i] && f->meta_values[i], "metadata %d NULL", i);
    FUZZ_CHECK(inc__st_meta(f, f->meta_keys[i]) == f->meta_values[i], "metadata key repeats");
  }
  /* touch every data byte: ranges must be readable */
  volatile uint8_t sum = 0;
  for (uint64_t i = 0; i < f->data_bytes; i++) sum ^= f->data[i];
  (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  inc__st_file f;
  char msg[256];
  msg[0] = '\0';
  inc_status s = inc__st_parse(data, size, &f, msg, sizeof msg);
  if (s == INC_OK) {
    check_file(&f, data, size);
    inc__st_free(&f);
  } else {
    FUZZ_CHECK(s == INC_ERR_FORMAT || s == INC_ERR_OUT_OF_MEMORY, "status %d", (int)s);
    FUZZ_CHECK(msg[0] != '\0', "a failure without a message");
  }
  /* the header-only entry point with the data size claimed by the caller */
  if (size >= 8) {
    uint64_t claimed = size % 3 == 0 ? 0 : (uint64_t)size * 2;
    msg[0] = '\0';
    s = inc__st_parse_header(data, size, claimed, &f, msg, sizeof msg);
    if (s == INC_OK) {
      FUZZ_CHECK(f.data_bytes == claimed, "data_bytes");
      inc__st_free(&f);
    } else {
      FUZZ_CHECK(msg[0] != '\0', "a failure without a message");
    }
  }
  return 0;
}
