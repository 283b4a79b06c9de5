/*
 * image.c — PNG and PGM loading, gray conversion and the resize pipeline
 * of the classifier. The choices (luma weights, alpha over black, area
 * averaging down to 28 x 28, then the trainer's bilinear resize) are
 * explained in image.h. PNG decoding is libpng's, with its transforms
 * bringing every colour type to 8- or 16-bit gray, gray+alpha, RGB or
 * RGBA; libpng reports errors by longjmp, which png_decode() catches so
 * that a corrupt file is a message, never a crash or an exit.
 */
#include "image.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

void image_free(image *img)
{
  if (!img) return;
  free(img->gray);
  free(img->alpha);
  memset(img, 0, sizeof *img);
}

static int too_large(const char *path, long w, long h, char *err, size_t errcap)
{
  if (w <= IMAGE_MAX_SIDE && h <= IMAGE_MAX_SIDE && w * h <= IMAGE_MAX_PIXELS) return 0;
  snprintf(err, errcap, "%s: image of %ldx%ld is too large (at most %d per side, %ld pixels)", path,
           w, h, IMAGE_MAX_SIDE, (long)IMAGE_MAX_PIXELS);
  return 1;
}

static int alloc_planes(image *img, long w, long h, int with_alpha)
{
  size_t n = (size_t)w * (size_t)h;
  img->width = (int)w;
  img->height = (int)h;
  img->gray = malloc(n * sizeof *img->gray);
  img->alpha = with_alpha ? malloc(n * sizeof *img->alpha) : NULL;
  return img->gray && (img->alpha || !with_alpha) ? 0 : -1;
}

/* Rec. 601 luma of integer samples, divided by maxv. The weighted sum is an
 * exact integer, so R = G = B = v gives exactly v / maxv, the gray value. */
static float luma(unsigned r, unsigned g, unsigned b, unsigned maxv)
{
  unsigned long y = 299ul * r + 587ul * g + 114ul * b;
  return (float)((double)y / 1000.0) / (float)maxv;
}

/* ---- PGM ------------------------------------------------------------------ */

static int is_space(int c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Reads an unsigned decimal number after whitespace and '#' comments.
 * *term gets the character that ended it (consumed; a '#' starts a comment
 * that is skipped). Returns 0, -1 at end of file, -2 when no number is
 * there, -3 when it exceeds max. */
static int pgm_uint(FILE *f, long max, long *out, int *term)
{
  int c = fgetc(f);
  for (;;) {
    while (is_space(c)) c = fgetc(f);
    if (c != '#') break;
    while (c != '\n' && c != '\r' && c != EOF) c = fgetc(f);
  }
  if (c == EOF) return -1;
  if (c < '0' || c > '9') return -2;
  long v = 0;
  while (c >= '0' && c <= '9') {
    v = v * 10 + (c - '0');
    if (v > max) return -3;
    c = fgetc(f);
  }
  if (c == '#')
    while (c != '\n' && c != '\r' && c != EOF) c = fgetc(f);
  *term = c;
  *out = v;
  return 0;
}

/* Plain PGM ("P2"): n decimal samples. */
static int pgm_plain_raster(FILE *f, const char *path, image *img, long maxval, char *err,
                            size_t errcap)
{
  size_t n = (size_t)img->width * (size_t)img->height;
  for (size_t k = 0; k < n; k++) {
    long v;
    int term, r = pgm_uint(f, 1000000, &v, &term);
    if (r == -1) {
      snprintf(err, errcap, "%s: truncated PGM: %zu of %zu samples", path, k, n);
      return -1;
    }
    if (r != 0 || v > maxval || (term != EOF && !is_space(term))) {
      snprintf(err, errcap, "%s: malformed PGM: sample %zu is not a number up to maxval %ld", path,
               k, maxval);
      return -1;
    }
    img->gray[k] = (float)v / (float)maxval;
  }
  return 0;
}

/* Binary PGM ("P5"): one byte per sample, or two (big-endian) when
 * maxval > 255. Bytes after the raster (a next image) are ignored. */
static int pgm_binary_raster(FILE *f, const char *path, image *img, long maxval, char *err,
                             size_t errcap)
{
  size_t n = (size_t)img->width * (size_t)img->height, bps = maxval > 255 ? 2 : 1;
  uint8_t *raw = malloc(n * bps);
  if (!raw) {
    snprintf(err, errcap, "%s: out of memory", path);
    return -1;
  }
  size_t got = fread(raw, 1, n * bps, f);
  if (got != n * bps) {
    snprintf(err, errcap, "%s: truncated PGM: %zu of %zu pixel bytes", path, got, n * bps);
    free(raw);
    return -1;
  }
  for (size_t k = 0; k < n; k++) {
    long v = bps == 1 ? raw[k] : (long)raw[2 * k] << 8 | raw[2 * k + 1];
    if (v > maxval) {
      snprintf(err, errcap, "%s: corrupt PGM: pixel %zu is %ld, above maxval %ld", path, k, v,
               maxval);
      free(raw);
      return -1;
    }
    img->gray[k] = (float)v / (float)maxval;
  }
  free(raw);
  return 0;
}

/* f is positioned after the two magic bytes "P2" or "P5". */
static int pgm_load(FILE *f, int plain, const char *path, image *img, char *err, size_t errcap)
{
  long w = 0, h = 0, maxval = 0;
  int t1 = 0, t2 = 0, t3 = 0;
  if (pgm_uint(f, 1000000000L, &w, &t1) != 0 || pgm_uint(f, 1000000000L, &h, &t2) != 0 ||
      pgm_uint(f, 1000000000L, &maxval, &t3) != 0 || !is_space(t3) || w < 1 || h < 1) {
    snprintf(err, errcap, "%s: malformed PGM header (expected width, height, maxval)", path);
    return -1;
  }
  if (maxval < 1 || maxval > 65535) {
    snprintf(err, errcap, "%s: unsupported PGM maxval %ld (must be 1..65535)", path, maxval);
    return -1;
  }
  if (too_large(path, w, h, err, errcap)) return -1;
  if (alloc_planes(img, w, h, 0) != 0) {
    snprintf(err, errcap, "%s: out of memory", path);
    return -1;
  }
  img->format = "PGM";
  return plain ? pgm_plain_raster(f, path, img, maxval, err, errcap)
               : pgm_binary_raster(f, path, img, maxval, err, errcap);
}

/* ---- PNG ------------------------------------------------------------------ */

typedef struct png_job {
  const char *path;
  char *err;
  size_t errcap;
  FILE *f;
  png_structp png;
  png_infop info;
  png_bytep data;  /* the decoded rows, (height, rowbytes) */
  png_bytep *rows; /* (height) pointers into data */
  image *img;
} png_job;

static void png_on_error(png_structp png, png_const_charp msg)
{
  png_job *j = png_get_error_ptr(png);
  snprintf(j->err, j->errcap, "%s: corrupt or truncated PNG (libpng: %s)", j->path, msg);
  png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
  (void)png; /* ancillary-chunk complaints do not change the pixels */
  (void)msg;
}

static unsigned png_sample(const png_byte *p, int depth16)
{
  return depth16 ? (unsigned)p[0] << 8 | p[1] : p[0];
}

/* Decoded rows (ch channels of 8 or 16 bits) to the image's planes. */
static void png_to_planes(png_job *j, int ch, int depth16)
{
  image *img = j->img;
  unsigned maxv = depth16 ? 65535u : 255u;
  size_t step = (size_t)(depth16 ? 2 : 1);
  for (int y = 0; y < img->height; y++) {
    const png_byte *p = j->rows[y];
    float *g = img->gray + (size_t)y * img->width;
    float *a = img->alpha ? img->alpha + (size_t)y * img->width : NULL;
    for (int x = 0; x < img->width; x++, p += step * (size_t)ch) {
      unsigned s0 = png_sample(p, depth16);
      if (ch <= 2) {
        g[x] = (float)s0 / (float)maxv;
      } else {
        g[x] = luma(s0, png_sample(p + step, depth16), png_sample(p + 2 * step, depth16), maxv);
      }
      if (a) a[x] = (float)png_sample(p + step * (size_t)(ch - 1), depth16) / (float)maxv;
    }
  }
}

/* Everything libpng may longjmp out of. Returns 0 or -1 (message in j->err). */
static int png_decode(png_job *j)
{
  if (setjmp(png_jmpbuf(j->png))) return -1;
  png_init_io(j->png, j->f);
  png_set_sig_bytes(j->png, 8);
  png_read_info(j->png, j->info);
  long w = (long)png_get_image_width(j->png, j->info);
  long h = (long)png_get_image_height(j->png, j->info);
  int type = png_get_color_type(j->png, j->info), depth = png_get_bit_depth(j->png, j->info);
  if (too_large(j->path, w, h, j->err, j->errcap)) return -1;
  if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(j->png);
  if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(j->png);
  if (png_get_valid(j->png, j->info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(j->png);
  (void)png_set_interlace_handling(j->png);
  png_read_update_info(j->png, j->info);
  int ch = png_get_channels(j->png, j->info);
  int depth16 = png_get_bit_depth(j->png, j->info) == 16;
  size_t rowbytes = png_get_rowbytes(j->png, j->info);
  if (ch < 1 || ch > 4 || rowbytes < (size_t)w * (size_t)ch * (depth16 ? 2u : 1u)) {
    snprintf(j->err, j->errcap, "%s: unsupported PNG layout (%d channels)", j->path, ch);
    return -1;
  }
  j->data = malloc(rowbytes * (size_t)h);
  j->rows = malloc(sizeof *j->rows * (size_t)h);
  if (!j->data || !j->rows || alloc_planes(j->img, w, h, ch == 2 || ch == 4) != 0) {
    snprintf(j->err, j->errcap, "%s: out of memory", j->path);
    return -1;
  }
  for (long y = 0; y < h; y++) j->rows[y] = j->data + (size_t)y * rowbytes;
  png_read_image(j->png, j->rows);
  png_read_end(j->png, NULL);
  png_to_planes(j, ch, depth16);
  j->img->format = "PNG";
  return 0;
}

/* f is positioned after the 8-byte PNG signature. */
static int png_load(FILE *f, const char *path, image *img, char *err, size_t errcap)
{
  png_job j = {path, err, errcap, f, NULL, NULL, NULL, NULL, img};
  j.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j, png_on_error, png_on_warning);
  if (j.png) j.info = png_create_info_struct(j.png);
  int rc = -1;
  if (!j.png || !j.info)
    snprintf(err, errcap, "%s: out of memory (libpng)", path);
  else
    rc = png_decode(&j);
  png_destroy_read_struct(j.png ? &j.png : NULL, j.info ? &j.info : NULL, NULL);
  free(j.data);
  free(j.rows);
  return rc;
}

/* ---- loading by content ---------------------------------------------------- */

int image_load(const char *path, image *img, char *err, size_t errcap)
{
  memset(img, 0, sizeof *img);
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errcap, "%s: %s", path, strerror(errno));
    return -1;
  }
  static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  unsigned char head[8];
  size_t got = fread(head, 1, sizeof head, f);
  int rc = -1;
  if (ferror(f)) {
    snprintf(err, errcap, "%s: %s", path, strerror(errno)); /* e.g. a directory */
  } else if (got == sizeof head && memcmp(head, png_sig, sizeof head) == 0) {
    rc = png_load(f, path, img, err, errcap);
  } else if (got >= 2 && head[0] == 'P' && (head[1] == '2' || head[1] == '5')) {
    if (fseek(f, 2, SEEK_SET) != 0)
      snprintf(err, errcap, "%s: %s", path, strerror(errno));
    else
      rc = pgm_load(f, head[1] == '2', path, img, err, errcap);
  } else if (got >= 2 && head[0] == 'P' && head[1] >= '1' && head[1] <= '7') {
    snprintf(err, errcap, "%s: unsupported Netpbm type P%c (only PGM, P2 or P5)", path, head[1]);
  } else if (got == 0) {
    snprintf(err, errcap, "%s: empty file", path);
  } else {
    snprintf(err, errcap, "%s: unsupported image format (not PNG or PGM)", path);
  }
  fclose(f);
  if (rc != 0) image_free(img);
  return rc;
}

/* ---- resizing ---------------------------------------------------------------- */

/* Per output index d of one axis: n source indices and weights. */
typedef struct axis_taps {
  int n;
  int *idx; /* (out, n) */
  float *w; /* (out, n) */
} axis_taps;

/* Area averaging: output d covers [d s, (d + 1) s) of the input, s = in/out;
 * each input pixel counts with the length it overlaps, over s. */
static void taps_area(int in, int out, axis_taps *t)
{
  double s = (double)in / (double)out;
  for (int d = 0; d < out; d++) {
    double lo = d * s, hi = d + 1 == out ? (double)in : (d + 1) * s;
    int k0 = (int)floor(lo);
    for (int m = 0; m < t->n; m++) {
      int k = k0 + m;
      double ov = fmin(hi, k + 1.0) - fmax(lo, (double)k);
      t->idx[d * t->n + m] = k < in ? k : in - 1;
      t->w[d * t->n + m] = k < in && ov > 0 ? (float)(ov / s) : 0.f;
    }
  }
}

/* Bilinear, align_corners=False: the taps of resize_bilinear (data.c). */
static int taps_linear(int in, int out, axis_taps *t)
{
  int *i = malloc(sizeof *i * 2 * (size_t)out);
  float *l = malloc(sizeof *l * 2 * (size_t)out);
  if (i && l) {
    bilinear_taps(in, out, i, i + out, l, l + out);
    for (int d = 0; d < out; d++) {
      t->idx[2 * d] = i[d], t->idx[2 * d + 1] = i[out + d];
      t->w[2 * d] = l[d], t->w[2 * d + 1] = l[out + d];
    }
  }
  int rc = i && l ? 0 : -1;
  free(i);
  free(l);
  return rc;
}

static int taps_make(int in, int out, axis_taps *t)
{
  t->n = in == out ? 1 : in < out ? 2 : (int)ceil((double)in / (double)out) + 1;
  t->idx = malloc(sizeof *t->idx * (size_t)out * (size_t)t->n);
  t->w = malloc(sizeof *t->w * (size_t)out * (size_t)t->n);
  if (!t->idx || !t->w) return -1;
  if (in == out)
    for (int d = 0; d < out; d++) t->idx[d] = d, t->w[d] = 1.f;
  else if (in < out)
    return taps_linear(in, out, t);
  else
    taps_area(in, out, t);
  return 0;
}

int image_resample(const float *src, int ih, int iw, float *dst, int oh, int ow)
{
  axis_taps tx = {0, NULL, NULL}, ty = {0, NULL, NULL};
  float *tmp = malloc(sizeof *tmp * (size_t)ih * (size_t)ow);
  int rc = -1;
  if (tmp && taps_make(iw, ow, &tx) == 0 && taps_make(ih, oh, &ty) == 0) {
    for (int y = 0; y < ih; y++) /* width: (ih, iw) -> (ih, ow) */
      for (int x = 0; x < ow; x++) {
        const float *row = src + (size_t)y * iw;
        float v = 0.f;
        for (int m = 0; m < tx.n; m++) v += tx.w[x * tx.n + m] * row[tx.idx[x * tx.n + m]];
        tmp[(size_t)y * ow + x] = v;
      }
    for (int y = 0; y < oh; y++) /* height: (ih, ow) -> (oh, ow) */
      for (int x = 0; x < ow; x++) {
        float v = 0.f;
        for (int m = 0; m < ty.n; m++)
          v += ty.w[y * ty.n + m] * tmp[(size_t)ty.idx[y * ty.n + m] * ow + x];
        dst[(size_t)y * ow + x] = v;
      }
    rc = 0;
  }
  free(tmp);
  free(tx.idx), free(tx.w), free(ty.idx), free(ty.w);
  return rc;
}

int image_to_input(const image *img, int invert, int size, float *out)
{
  size_t n = (size_t)img->width * (size_t)img->height;
  float *v = malloc(n * sizeof *v);
  float *native = malloc(sizeof *native * IMAGE_NATIVE_SIDE * IMAGE_NATIVE_SIDE);
  int rc = -1;
  if (v && native) {
    for (size_t k = 0; k < n; k++) {
      float p = invert ? 1.f - img->gray[k] : img->gray[k];
      v[k] = img->alpha ? p * img->alpha[k] : p;
    }
    rc = image_resample(v, img->height, img->width, native, IMAGE_NATIVE_SIDE, IMAGE_NATIVE_SIDE);
    if (rc == 0)
      rc = resize_bilinear(native, IMAGE_NATIVE_SIDE, IMAGE_NATIVE_SIDE, out, size, size);
  }
  free(v);
  free(native);
  return rc;
}
