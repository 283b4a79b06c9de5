/*
 * augment.c — random flips and padded crops of training images. See
 * augment.h.
 */
#include "augment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

int augment_parse(const char *spec, augment *a, char *err, size_t errcap)
{
  augment r = {0, 0};
  if (!strcmp(spec, "none")) {
    *a = r;
    return 0;
  }
  const char *p = spec;
  for (;;) {
    size_t n = strcspn(p, ",");
    int is_flip = n == 4 && !strncmp(p, "flip", 4), is_crop = n > 5 && !strncmp(p, "crop=", 5);
    if ((is_flip && r.flip) || (is_crop && r.pad)) {
      snprintf(err, errcap, "--augment: \"%.*s\" given twice", (int)n, p);
      return -1;
    }
    if (is_flip) {
      r.flip = 1;
    } else if (is_crop) {
      char *end;
      long v = strtol(p + 5, &end, 10);
      if (end != p + n || v < 1 || v > AUGMENT_MAX_PAD) {
        snprintf(err, errcap, "--augment: crop=P needs 1 <= P <= %d, got \"%.*s\"",
                 AUGMENT_MAX_PAD, (int)n, p);
        return -1;
      }
      r.pad = (int)v;
    } else {
      snprintf(err, errcap,
               "--augment: \"%.*s\" is not flip, crop=P or none", (int)n, p);
      return -1;
    }
    if (!p[n]) break;
    p += n + 1;
  }
  *a = r;
  return 0;
}

const char *augment_name(const augment *a, char *buf, size_t cap)
{
  if (!a->flip && !a->pad)
    snprintf(buf, cap, "none");
  else if (!a->pad)
    snprintf(buf, cap, "flip");
  else
    snprintf(buf, cap, "%scrop=%d", a->flip ? "flip," : "", a->pad);
  return buf;
}

void augment_image(float *dst, const float *src, int size, const augment *a, uint64_t seed,
                   int epoch, uint64_t index)
{
  size_t plane = (size_t)size * (size_t)size;
  if (!a->flip && !a->pad) {
    memcpy(dst, src, plane * sizeof *dst);
    return;
  }
  /* one stream per (seed, epoch, image) */
  uint64_t st = epoch_rng_state(seed, epoch) ^ (0x9E3779B97F4A7C15ull * (index + 1));
  splitmix64_next(&st);
  int flip = a->flip ? (int)rng_below(&st, 2) : 0;
  int dy = a->pad ? (int)rng_below(&st, (uint64_t)(2 * a->pad + 1)) - a->pad : 0;
  int dx = a->pad ? (int)rng_below(&st, (uint64_t)(2 * a->pad + 1)) - a->pad : 0;
  /* dst[y][x] = src'[y + dy][x + dx], src' the (flipped) image, 0 outside */
  for (int y = 0; y < size; y++) {
    float *o = dst + (size_t)y * (size_t)size;
    int sy = y + dy;
    if (sy < 0 || sy >= size) {
      memset(o, 0, (size_t)size * sizeof *o);
      continue;
    }
    const float *row = src + (size_t)sy * (size_t)size;
    for (int x = 0; x < size; x++) {
      int sx = x + dx;
      o[x] = sx < 0 || sx >= size ? 0.f : row[flip ? size - 1 - sx : sx];
    }
  }
}
