/*
 * classify_images.c — the image files of tests/classify_test.sh, written
 * from known pixels so that the test needs no binary fixtures, and two
 * checks on the float32 inputs that `examples/classify --dump-input` writes.
 *
 *   classify_images write DIR [FMNIST_DIR INDEX]
 *       writes synthetic images (pure colours, odd sizes, every PNG colour
 *       type and bit depth, transparency), broken files (bad CRC, truncated,
 *       absurd size, not an image) and, given the data set, test image
 *       INDEX in every encoding that must reach the network unchanged:
 *       fm.png (8-bit gray), fm16.png, fm_rgb.png, fm_rgba.png, fm_ga.png,
 *       fm_pal.png, fm_adam7.png (interlaced), fm_bg.png (background
 *       transparent and white), fm_x2.png (56 x 56, each pixel doubled),
 *       fm.pgm (P5), fm16.pgm (P5, maxval 65535), fm_plain.pgm (P2) and
 *       fm_neg.png (255 - pixel, for --invert).
 *   classify_images const FILE N VALUE TOL
 *       FILE holds N floats, each within TOL of VALUE
 *   classify_images close FILE1 FILE2 TOL
 *       two float files of the same length agree within TOL
 * Exit status 0 when all went well; messages on stderr.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../examples/idx.h"

#define W 28
#define N (W * W)

static const char *dir;

static const char *at(const char *name)
{
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/%s", dir, name);
  return buf;
}

/* A PNG of h rows of rowbytes bytes each (already in PNG sample layout). */
typedef struct png_spec {
  int w, h, type, depth, interlace;
  const unsigned char *data;
  const png_color *palette;
  int npalette;
  const png_byte *trns;
  int ntrns;
} png_spec;

static int write_png(const char *name, const png_spec *s)
{
  FILE *f = fopen(at(name), "wb");
  if (!f) return perror(name), -1;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  png_bytep *rows = malloc(sizeof *rows * (size_t)s->h);
  if (!png || !info || !rows || setjmp(png_jmpbuf(png))) {
    fprintf(stderr, "%s: cannot write the PNG\n", name);
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(f);
    return -1;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, s->depth, s->type,
               s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (s->palette) png_set_PLTE(png, info, s->palette, s->npalette);
  if (s->trns) png_set_tRNS(png, info, s->trns, s->ntrns, NULL);
  png_write_info(png, info);
  size_t rb = png_get_rowbytes(png, info);
  for (int y = 0; y < s->h; y++) rows[y] = (png_bytep)(s->data + (size_t)y * rb);
  png_write_image(png, rows);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  free(rows);
  return fclose(f) == 0 ? 0 : -1;
}

static int write_bytes(const char *name, const void *p, size_t n)
{
  FILE *f = fopen(at(name), "wb");
  if (!f) return perror(name), -1;
  size_t put = fwrite(p, 1, n, f);
  return fclose(f) == 0 && put == n ? 0 : -1;
}

/* A constant w x h image of type/depth from one pixel's bytes. */
static int write_constant(const char *name, int w, int h, int type, int depth,
                          const unsigned char *px, int pxbytes)
{
  unsigned char *d = malloc((size_t)w * (size_t)h * (size_t)pxbytes);
  if (!d) return -1;
  for (size_t k = 0; k < (size_t)w * (size_t)h; k++)
    memcpy(d + k * (size_t)pxbytes, px, (size_t)pxbytes);
  png_spec s = {w, h, type, depth, 0, d, NULL, 0, NULL, 0};
  int rc = write_png(name, &s);
  free(d);
  return rc;
}

/* Synthetic images with known gray values, and broken files. */
static int write_synthetic(void)
{
  static const unsigned char red[3] = {255, 0, 0}, green[3] = {0, 255, 0}, blue[3] = {0, 0, 255};
  static const unsigned char red16[6] = {255, 255, 0, 0, 0, 0}, ga[2] = {200, 128};
  static const unsigned char gray[1] = {51}, gray16[2] = {0x80, 0x00};
  int rc = 0;
  rc |= write_constant("red.png", 40, 30, PNG_COLOR_TYPE_RGB, 8, red, 3);
  rc |= write_constant("green.png", 7, 9, PNG_COLOR_TYPE_RGB, 8, green, 3);
  rc |= write_constant("blue.png", 100, 37, PNG_COLOR_TYPE_RGB, 8, blue, 3);
  rc |= write_constant("red16.png", 29, 101, PNG_COLOR_TYPE_RGB, 16, red16, 6);
  rc |= write_constant("ga.png", 5, 64, PNG_COLOR_TYPE_GRAY_ALPHA, 8, ga, 2);
  rc |= write_constant("gray51.png", 3, 3, PNG_COLOR_TYPE_GRAY, 8, gray, 1);
  rc |= write_constant("gray16.png", 1000, 2, PNG_COLOR_TYPE_GRAY, 16, gray16, 2);
  /* 1-bit gray, all ones (each row of 16 pixels is two 0xff bytes) */
  unsigned char bits[2 * 16];
  memset(bits, 0xff, sizeof bits);
  png_spec b1 = {16, 16, PNG_COLOR_TYPE_GRAY, 1, 0, bits, NULL, 0, NULL, 0};
  rc |= write_png("bits1.png", &b1);
  /* 84 x 28 vertical stripes 255, 0, 0: area averaging to 28 wide gives
   * 1/3 everywhere (bilinear or nearest would give 0 or 1) */
  unsigned char stripes[84 * 28];
  for (int k = 0; k < 84 * 28; k++) stripes[k] = k % 3 == 0 ? 255 : 0;
  png_spec st = {84, 28, PNG_COLOR_TYPE_GRAY, 8, 0, stripes, NULL, 0, NULL, 0};
  rc |= write_png("stripes3.png", &st);
  /* 4-bit palette: entry 1 is red with alpha 128 (tRNS), the image all 1 */
  png_color pal[2] = {{0, 0, 0}, {255, 0, 0}};
  png_byte trns[2] = {255, 128};
  unsigned char idx4[10 * 5];
  memset(idx4, 0x11, sizeof idx4);
  png_spec p4 = {10, 10, PNG_COLOR_TYPE_PALETTE, 4, 0, idx4, pal, 2, trns, 2};
  rc |= write_png("pal4_trns.png", &p4);
  /* not images, or broken ones */
  rc |= write_bytes("empty.png", "", 0);
  rc |= write_bytes("text.png", "hello, world\n", 13);
  /* a header claiming 20000 x 20000, then a tiny IDAT */
  unsigned char big[8 + 25 + 14] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                    0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                    0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20, 8, 0, 0, 0, 0};
  unsigned long crc = crc32(0, big + 12, 17);
  for (int i = 0; i < 4; i++) big[29 + i] = (unsigned char)(crc >> (24 - 8 * i));
  unsigned char idat[14] = {0, 0, 0, 2, 'I', 'D', 'A', 'T', 0x78, 0x9c};
  crc = crc32(0, idat + 4, 6);
  for (int i = 0; i < 4; i++) idat[10 + i] = (unsigned char)(crc >> (24 - 8 * i));
  memcpy(big + 33, idat, sizeof idat);
  rc |= write_bytes("huge.png", big, sizeof big);
  return rc;
}

/* Reads name into a malloc'd buffer. */
static unsigned char *slurp(const char *name, size_t *n)
{
  FILE *f = fopen(name, "rb");
  if (!f) return NULL;
  unsigned char *b = malloc(1 << 20);
  *n = b ? fread(b, 1, 1 << 20, f) : 0;
  fclose(f);
  return b;
}

/* fm.png damaged: cut in half; a flipped bit in the first IDAT's CRC; a
 * flipped byte in its compressed data (with the CRC fixed, so that zlib,
 * not the CRC check, finds it). The writer puts IDAT right after IHDR. */
static int write_damaged(void)
{
  size_t n = 0;
  char src[4096];
  snprintf(src, sizeof src, "%s", at("fm.png"));
  unsigned char *b = slurp(src, &n);
  const size_t idat = 8 + 25; /* signature, IHDR */
  if (!b || n < idat + 12 || memcmp(b + idat + 4, "IDAT", 4) != 0) return free(b), -1;
  size_t len = (size_t)b[idat] << 24 | (size_t)b[idat + 1] << 16 | (size_t)b[idat + 2] << 8 |
               b[idat + 3];
  if (idat + 12 + len > n || len < 8) return free(b), -1;
  int rc = write_bytes("fm_cut.png", b, n / 2);
  b[idat + 8 + len] ^= 0x01;
  rc |= write_bytes("fm_crc.png", b, n);
  b[idat + 8 + len] ^= 0x01;
  b[idat + 8 + 4] ^= 0x55;
  unsigned long crc = crc32(0, b + idat + 4, (unsigned)(4 + len));
  for (int i = 0; i < 4; i++) b[idat + 8 + len + (size_t)i] = (unsigned char)(crc >> (24 - 8 * i));
  rc |= write_bytes("fm_zlib.png", b, n);
  free(b);
  return rc;
}

static int write_pgm(const char *name, const char *magic, int w, int h, int maxval,
                     const unsigned char *px, int wide)
{
  FILE *f = fopen(at(name), "wb");
  if (!f) return perror(name), -1;
  fprintf(f, "%s\n# written by tests/classify_images.c\n%d %d\n%d\n", magic, w, h, maxval);
  for (int k = 0; k < w * h; k++) {
    if (magic[1] == '2')
      fprintf(f, "%d%c", px[k], k % w == w - 1 ? '\n' : ' ');
    else if (wide)
      fputc(px[k], f), fputc(px[k], f); /* v * 257, big-endian */
    else
      fputc(px[k], f);
  }
  return fclose(f) == 0 ? 0 : -1;
}

/* Test image INDEX of the data set in every encoding that must give the same
 * network input as the data set itself. */
static int write_fmnist(const char *data, long index)
{
  char err[1024];
  idx_dataset d = {0};
  if (idx_load_dataset(data, "t10k", W, W, 10, &d, err, sizeof err) != IDX_OK) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  if (index < 0 || (size_t)index >= d.count) return idx_dataset_free(&d), -1;
  const unsigned char *g = d.pixels + (size_t)index * N;
  static unsigned char g16[2 * N], rgb[3 * N], rgba[4 * N], gaa[2 * N], bg[4 * N], x2[4 * N],
      neg[N];
  png_color pal[256];
  for (int i = 0; i < 256; i++) pal[i].red = pal[i].green = pal[i].blue = (png_byte)i;
  for (int k = 0; k < N; k++) {
    unsigned char v = g[k];
    g16[2 * k] = g16[2 * k + 1] = v;
    rgb[3 * k] = rgb[3 * k + 1] = rgb[3 * k + 2] = v;
    rgba[4 * k] = rgba[4 * k + 1] = rgba[4 * k + 2] = v, rgba[4 * k + 3] = 255;
    gaa[2 * k] = v, gaa[2 * k + 1] = 255;
    if (v == 0) /* transparent background in white: must read as black */
      bg[4 * k] = bg[4 * k + 1] = bg[4 * k + 2] = 255, bg[4 * k + 3] = 0;
    else
      bg[4 * k] = bg[4 * k + 1] = bg[4 * k + 2] = v, bg[4 * k + 3] = 255;
    neg[k] = (unsigned char)(255 - v);
  }
  for (int y = 0; y < 2 * W; y++)
    for (int x = 0; x < 2 * W; x++) x2[y * 2 * W + x] = g[(y / 2) * W + x / 2];
  png_spec s[] = {{W, W, PNG_COLOR_TYPE_GRAY, 8, 0, g, NULL, 0, NULL, 0},
                  {W, W, PNG_COLOR_TYPE_GRAY, 16, 0, g16, NULL, 0, NULL, 0},
                  {W, W, PNG_COLOR_TYPE_RGB, 8, 0, rgb, NULL, 0, NULL, 0},
                  {W, W, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, rgba, NULL, 0, NULL, 0},
                  {W, W, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, gaa, NULL, 0, NULL, 0},
                  {W, W, PNG_COLOR_TYPE_PALETTE, 8, 0, g, pal, 256, NULL, 0},
                  {W, W, PNG_COLOR_TYPE_GRAY, 8, 1, g, NULL, 0, NULL, 0},
                  {W, W, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, bg, NULL, 0, NULL, 0},
                  {2 * W, 2 * W, PNG_COLOR_TYPE_GRAY, 8, 0, x2, NULL, 0, NULL, 0},
                  {W, W, PNG_COLOR_TYPE_GRAY, 8, 0, neg, NULL, 0, NULL, 0}};
  const char *names[] = {"fm.png",     "fm16.png",     "fm_rgb.png", "fm_rgba.png", "fm_ga.png",
                         "fm_pal.png", "fm_adam7.png", "fm_bg.png",  "fm_x2.png",   "fm_neg.png"};
  int rc = 0;
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) rc |= write_png(names[i], &s[i]);
  rc |= write_pgm("fm.pgm", "P5", W, W, 255, g, 0);
  rc |= write_pgm("fm16.pgm", "P5", W, W, 65535, g, 1);
  rc |= write_pgm("fm_plain.pgm", "P2", W, W, 255, g, 0);
  rc |= write_damaged();
  idx_dataset_free(&d);
  return rc;
}

static float *read_floats(const char *path, size_t *n)
{
  size_t bytes = 0;
  unsigned char *b = slurp(path, &bytes);
  if (!b) fprintf(stderr, "%s: cannot read\n", path);
  *n = bytes / sizeof(float);
  return (float *)(void *)b; /* malloc'd: suitably aligned */
}

static int check_const(const char *path, long want_n, double value, double tol)
{
  size_t n;
  float *v = read_floats(path, &n);
  int rc = v && (long)n == want_n ? 0 : 1;
  if (v && rc) fprintf(stderr, "%s: %zu floats, expected %ld\n", path, n, want_n);
  for (size_t k = 0; v && !rc && k < n; k++)
    if (!(fabs((double)v[k] - value) <= tol)) {
      fprintf(stderr, "%s: float %zu is %.9g, expected %.9g +- %g\n", path, k, (double)v[k], value,
              tol);
      rc = 1;
    }
  free(v);
  return rc;
}

static int check_close(const char *a, const char *b, double tol)
{
  size_t na, nb;
  float *va = read_floats(a, &na), *vb = read_floats(b, &nb);
  int rc = va && vb && na == nb && na > 0 ? 0 : 1;
  if (va && vb && rc) fprintf(stderr, "%s, %s: %zu and %zu floats\n", a, b, na, nb);
  for (size_t k = 0; !rc && k < na; k++)
    if (!(fabs((double)va[k] - (double)vb[k]) <= tol)) {
      fprintf(stderr, "float %zu: %.9g vs %.9g\n", k, (double)va[k], (double)vb[k]);
      rc = 1;
    }
  free(va), free(vb);
  return rc;
}

int main(int argc, char **argv)
{
  if (argc >= 3 && !strcmp(argv[1], "write")) {
    dir = argv[2];
    int rc = write_synthetic();
    if (argc == 5) rc |= write_fmnist(argv[3], strtol(argv[4], NULL, 10));
    return rc ? 1 : 0;
  }
  if (argc == 6 && !strcmp(argv[1], "const"))
    return check_const(argv[2], strtol(argv[3], NULL, 10), atof(argv[4]), atof(argv[5]));
  if (argc == 5 && !strcmp(argv[1], "close")) return check_close(argv[2], argv[3], atof(argv[4]));
  fprintf(stderr, "usage: classify_images write DIR [FMNIST_DIR INDEX] | const FILE N VALUE TOL |"
                  " close FILE1 FILE2 TOL\n");
  return 2;
}
