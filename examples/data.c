/*
 * data.c — resizing, shuffling, class names, PGM reading. See data.h.
 */
#include "data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const fmnist_class_names[FMNIST_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* PyTorch's area_pixel_compute_source_index + the index/lambda setup of
 * upsample_bilinear2d, in float as PyTorch does for float tensors. */
void bilinear_taps(int in, int out, int *i0, int *i1, float *l0, float *l1)
{
  float scale = (float)in / (float)out;
  for (int d = 0; d < out; d++) {
    float src = scale * ((float)d + 0.5f) - 0.5f;
    if (src < 0.f) src = 0.f;
    int a = (int)src;
    if (a > in - 1) a = in - 1;
    int step = a < in - 1 ? 1 : 0;
    float lam = src - (float)a;
    i0[d] = a;
    i1[d] = a + step;
    l1[d] = lam;
    l0[d] = 1.f - lam;
  }
}

int resize_bilinear(const float *src, int ih, int iw, float *dst, int oh, int ow)
{
  if (ih == oh && iw == ow) {
    memcpy(dst, src, (size_t)ih * (size_t)iw * sizeof *dst);
    return 0;
  }
  int *hy = malloc(sizeof(int) * (size_t)oh * 2), *wx = malloc(sizeof(int) * (size_t)ow * 2);
  float *hl = malloc(sizeof(float) * (size_t)oh * 2), *wl = malloc(sizeof(float) * (size_t)ow * 2);
  if (!hy || !wx || !hl || !wl) {
    free(hy), free(wx), free(hl), free(wl);
    return -1;
  }
  int *hy0 = hy, *hy1 = hy + oh, *wx0 = wx, *wx1 = wx + ow;
  float *hl0 = hl, *hl1 = hl + oh, *wl0 = wl, *wl1 = wl + ow;
  bilinear_taps(ih, oh, hy0, hy1, hl0, hl1);
  bilinear_taps(iw, ow, wx0, wx1, wl0, wl1);
  for (int y = 0; y < oh; y++) {
    const float *r0 = src + (size_t)hy0[y] * iw, *r1 = src + (size_t)hy1[y] * iw;
    float *o = dst + (size_t)y * ow;
    for (int x = 0; x < ow; x++)
      o[x] = hl0[y] * (wl0[x] * r0[wx0[x]] + wl1[x] * r0[wx1[x]]) +
             hl1[y] * (wl0[x] * r1[wx0[x]] + wl1[x] * r1[wx1[x]]);
  }
  free(hy), free(wx), free(hl), free(wl);
  return 0;
}

int dataset_to_float(const idx_dataset *d, size_t first, size_t n, int size, float *out)
{
  size_t plane = (size_t)d->rows * (size_t)d->cols, oplane = (size_t)size * (size_t)size;
  int same = d->rows == size && d->cols == size;
  float *tmp = same ? NULL : malloc(plane * sizeof *tmp);
  if (!same && !tmp) return -1;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const uint8_t *p = d->pixels + (first + i) * plane;
    float *o = out + i * oplane;
    float *f = same ? o : tmp;
    for (size_t k = 0; k < plane; k++) f[k] = (float)p[k] / 255.0f;
    if (!same) rc = resize_bilinear(tmp, d->rows, d->cols, o, size, size);
  }
  free(tmp);
  return rc;
}

uint64_t splitmix64_next(uint64_t *state)
{
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t epoch_rng_state(uint64_t seed, int epoch)
{
  uint64_t s = seed;
  uint64_t a = splitmix64_next(&s);
  s = a ^ (0xD1B54A32D192ED03ull * (uint64_t)(unsigned)epoch);
  return splitmix64_next(&s);
}

uint64_t rng_below(uint64_t *state, uint64_t n)
{
  uint64_t threshold = (0 - n) % n; /* 2^64 mod n */
  for (;;) {
    uint64_t r = splitmix64_next(state);
    if (r >= threshold) return r % n;
  }
}

void shuffle_permutation(uint32_t *perm, size_t n, uint64_t *state)
{
  for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)rng_below(state, (uint64_t)i);
    uint32_t t = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = t;
  }
}

/* Reads the next header token (an unsigned number) skipping whitespace and
 * comments. Returns -1 on error. */
static long pgm_number(FILE *f)
{
  int c = fgetc(f);
  for (;;) {
    while (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') c = fgetc(f);
    if (c != '#') break;
    while (c != '\n' && c != EOF) c = fgetc(f);
  }
  if (c < '0' || c > '9') return -1;
  long v = 0;
  while (c >= '0' && c <= '9') {
    v = v * 10 + (c - '0');
    if (v > 1000000) return -1;
    c = fgetc(f);
  }
  /* exactly one whitespace character ends the token (before the raster) */
  if (!(c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')) return -1;
  return v;
}

int pgm_read(const char *path, int *width, int *height, float **pixels, char *err,
             size_t errcap)
{
  *pixels = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errcap, "%s: %s", path, strerror(errno));
    return -1;
  }
  char magic[2];
  if (fread(magic, 1, 2, f) != 2 || magic[0] != 'P' || magic[1] != '5') {
    snprintf(err, errcap, "%s: not a binary PGM file (expected magic \"P5\")", path);
    fclose(f);
    return -1;
  }
  long w = pgm_number(f), h = pgm_number(f), maxval = pgm_number(f);
  if (w < 1 || h < 1 || maxval < 1) {
    snprintf(err, errcap, "%s: malformed PGM header", path);
    fclose(f);
    return -1;
  }
  if (maxval > 255) {
    snprintf(err, errcap, "%s: 16-bit PGM (maxval %ld) not supported; use 8-bit", path, maxval);
    fclose(f);
    return -1;
  }
  if (w > 16384 || h > 16384) {
    snprintf(err, errcap, "%s: PGM of %ldx%ld is too large", path, w, h);
    fclose(f);
    return -1;
  }
  size_t n = (size_t)w * (size_t)h;
  uint8_t *raw = malloc(n);
  float *px = malloc(n * sizeof *px);
  if (!raw || !px) {
    snprintf(err, errcap, "%s: out of memory", path);
    free(raw), free(px), fclose(f);
    return -1;
  }
  size_t got = fread(raw, 1, n, f);
  fclose(f);
  if (got != n) {
    snprintf(err, errcap, "%s: truncated PGM: %zu of %zu pixel bytes", path, got, n);
    free(raw), free(px);
    return -1;
  }
  for (size_t i = 0; i < n; i++) px[i] = (float)raw[i] / (float)maxval;
  free(raw);
  *width = (int)w;
  *height = (int)h;
  *pixels = px;
  return 0;
}
