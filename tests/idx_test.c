/*
 * idx_test.c — tests of the examples' data module (examples/idx.c,
 * examples/data.c): IDX parsing of good, truncated, garbage and wrong-magic
 * input, in memory and through gzip files; the Fashion-MNIST pair checks;
 * bilinear resizing against PyTorch's values; the shuffle; PGM reading.
 * Needs neither the library nor the data set (the real files are checked
 * too when they are installed). Ends with "idx_test: N passed, N failed".
 *
 *   build/.../tests/idx_test [TMPDIR]
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../examples/augment.h"
#include "../examples/data.h"
#include "../examples/idx.h"

static int passed, failed;

#define CHECK(cond, ...)                                                 \
  do {                                                                   \
    if (cond) {                                                          \
      passed++;                                                          \
    } else {                                                             \
      failed++;                                                          \
      printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);             \
      printf(__VA_ARGS__);                                               \
      printf("\n");                                                      \
    }                                                                    \
  } while (0)

static char tmpdir[1024];

/* An IDX image file of n images rows x cols, pixel = (i + k) & 255. */
static size_t make_images(uint8_t *buf, size_t cap, uint32_t magic, uint32_t n, uint32_t rows,
                          uint32_t cols)
{
  size_t len = 0;
  uint32_t hdr[4] = {magic, n, rows, cols};
  for (int i = 0; i < 4; i++)
    for (int b = 3; b >= 0; b--) buf[len++] = (uint8_t)(hdr[i] >> (8 * b));
  for (size_t k = 0; k < (size_t)n * rows * cols && len < cap; k++) buf[len++] = (uint8_t)k;
  return len;
}

static size_t make_labels(uint8_t *buf, uint32_t n, int modulo)
{
  size_t len = 0;
  uint32_t hdr[2] = {IDX_MAGIC_LABELS, n};
  for (int i = 0; i < 2; i++)
    for (int b = 3; b >= 0; b--) buf[len++] = (uint8_t)(hdr[i] >> (8 * b));
  for (uint32_t k = 0; k < n; k++) buf[len++] = (uint8_t)(k % (uint32_t)modulo);
  return len;
}

static void write_gz(const char *path, const uint8_t *buf, size_t len)
{
  gzFile gz = gzopen(path, "wb");
  if (!gz) {
    printf("cannot write %s\n", path);
    exit(1);
  }
  gzwrite(gz, buf, (unsigned)len);
  gzclose(gz);
}

static void write_raw(const char *path, const uint8_t *buf, size_t len)
{
  FILE *f = fopen(path, "wb");
  if (!f) {
    printf("cannot write %s\n", path);
    exit(1);
  }
  fwrite(buf, 1, len, f);
  fclose(f);
}

static uint8_t *read_raw(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  *len = fread(b, 1, (size_t)n, f);
  fclose(f);
  return b;
}

static void test_parse_memory(void)
{
  static uint8_t buf[1 << 16];
  char err[512];
  idx_array a;
  size_t len = make_images(buf, sizeof buf, IDX_MAGIC_IMAGES, 3, 28, 28);
  CHECK(idx_parse(buf, len, "mem", &a, err, sizeof err) == IDX_OK, "%s", err);
  CHECK(a.magic == 2051 && a.ndim == 3 && a.dims[0] == 3 && a.dims[1] == 28 && a.dims[2] == 28 &&
            a.count == 3 * 784 && a.data == buf + 16 && a.data[5] == 5,
        "parsed fields");
  CHECK(idx_expect(&a, "mem", IDX_MAGIC_IMAGES, 28, 28, err, sizeof err) == IDX_OK, "%s", err);
  CHECK(idx_expect(&a, "mem", IDX_MAGIC_LABELS, 0, 0, err, sizeof err) == IDX_ERR_MISMATCH &&
            strstr(err, "2051") && strstr(err, "2049"),
        "wrong magic: %s", err);
  CHECK(idx_expect(&a, "mem", IDX_MAGIC_IMAGES, 32, 32, err, sizeof err) == IDX_ERR_MISMATCH &&
            strstr(err, "28x28"),
        "wrong dims: %s", err);

  /* empty, short, garbage */
  CHECK(idx_parse(buf, 0, "empty", &a, err, sizeof err) == IDX_ERR_FORMAT && strstr(err, "empty"),
        "empty: %s", err);
  CHECK(idx_parse(NULL, 0, "null", &a, err, sizeof err) == IDX_ERR_FORMAT, "NULL/0: %s", err);
  CHECK(idx_parse(buf, 3, "short", &a, err, sizeof err) == IDX_ERR_FORMAT, "3 bytes: %s", err);
  const uint8_t garbage[] = "P5\n28 28\n255\nxxxxxxxxxxxxxxxxxxxx";
  CHECK(idx_parse(garbage, sizeof garbage, "garbage.bin", &a, err, sizeof err) == IDX_ERR_FORMAT &&
            strstr(err, "garbage.bin") && strstr(err, "not an IDX file"),
        "garbage: %s", err);
  const uint8_t gzmagic[] = {0x1f, 0x8b, 0x08, 0x00, 1, 2, 3, 4};
  CHECK(idx_parse(gzmagic, sizeof gzmagic, "x", &a, err, sizeof err) == IDX_ERR_FORMAT,
        "gzip bytes: %s", err);

  /* type and dims */
  uint8_t t[64];
  memcpy(t, buf, 64);
  t[2] = 0x0D; /* float */
  CHECK(idx_parse(t, 16 + 48, "f", &a, err, sizeof err) == IDX_ERR_FORMAT && strstr(err, "0x0d"),
        "float type: %s", err);
  memcpy(t, buf, 64);
  t[3] = 0;
  CHECK(idx_parse(t, 64, "d0", &a, err, sizeof err) == IDX_ERR_FORMAT, "0 dims: %s", err);
  t[3] = 9;
  CHECK(idx_parse(t, 64, "d9", &a, err, sizeof err) == IDX_ERR_FORMAT, "9 dims: %s", err);
  CHECK(idx_parse(buf, 10, "hdr", &a, err, sizeof err) == IDX_ERR_FORMAT &&
            strstr(err, "truncated IDX header"),
        "truncated header: %s", err);
  memcpy(t, buf, 64);
  t[4] = t[5] = t[6] = t[7] = 0; /* 0 images */
  CHECK(idx_parse(t, 16, "zero", &a, err, sizeof err) == IDX_ERR_FORMAT && strstr(err, "dim 0"),
        "zero dim: %s", err);
  memcpy(t, buf, 64);
  for (int i = 4; i < 16; i++) t[i] = 0xff; /* 2^32-1 cubed */
  CHECK(idx_parse(t, 64, "huge", &a, err, sizeof err) == IDX_ERR_FORMAT && strstr(err, "too large"),
        "overflowing dims: %s", err);

  /* truncated data, trailing data */
  CHECK(idx_parse(buf, len - 1, "trunc", &a, err, sizeof err) == IDX_ERR_FORMAT &&
            strstr(err, "truncated") && strstr(err, "trunc"),
        "truncated data: %s", err);
  CHECK(idx_parse(buf, len + 5, "trail", &a, err, sizeof err) == IDX_ERR_FORMAT &&
            strstr(err, "5 trailing bytes"),
        "trailing data: %s", err);

  /* labels */
  size_t ll = make_labels(t, 20, 10);
  CHECK(idx_parse(t, ll, "labels", &a, err, sizeof err) == IDX_OK && a.magic == 2049 &&
            a.ndim == 1 && a.count == 20 && a.data[13] == 3,
        "labels: %s", err);

  /* error buffer of size 0 or 1 is safe; NULL name is fine */
  CHECK(idx_parse(buf, 2, NULL, &a, NULL, 0) == IDX_ERR_FORMAT, "no err buffer");
  char one[1] = {'x'};
  CHECK(idx_parse(buf, 2, NULL, &a, one, 1) == IDX_ERR_FORMAT && one[0] == '\0', "1-byte err");
}

/* Mutated headers and lengths must never crash nor read out of bounds (run
 * under ASan/valgrind to make that visible): each result is OK or an error. */
static void test_parse_fuzz(void)
{
  uint8_t good[16 + 2 * 4 * 4];
  size_t len = make_images(good, sizeof good, IDX_MAGIC_IMAGES, 2, 4, 4);
  uint64_t st = 12345;
  int bad = 0;
  for (int it = 0; it < 20000; it++) {
    size_t n = (size_t)rng_below(&st, len + 1);
    uint8_t *b = malloc(n ? n : 1);
    memcpy(b, good, n);
    int flips = (int)rng_below(&st, 4);
    for (int f = 0; f < flips && n > 0; f++) b[rng_below(&st, n)] = (uint8_t)splitmix64_next(&st);
    idx_array a;
    char err[256];
    idx_error e = idx_parse(b, n, "fuzz", &a, err, sizeof err);
    if (e == IDX_OK) {
      size_t hdr = 4 + 4 * (size_t)a.ndim;
      if (hdr + a.count != n || a.data != b + hdr) bad++;
    } else if (e != IDX_ERR_FORMAT || err[0] == '\0') {
      bad++;
    }
    free(b);
  }
  CHECK(bad == 0, "%d mutated inputs gave inconsistent results", bad);
}

static void test_files(void)
{
  static uint8_t buf[1 << 16];
  char err[1024], path[4096], path2[4096];
  idx_array a;
  size_t len = make_images(buf, sizeof buf, IDX_MAGIC_IMAGES, 5, 28, 28);

  snprintf(path, sizeof path, "%s/ok-idx3-ubyte.gz", tmpdir);
  write_gz(path, buf, len);
  CHECK(idx_load(path, &a, err, sizeof err) == IDX_OK && a.count == 5 * 784 && a.buf &&
            a.data[100] == 100,
        "gz file: %s", err);
  idx_free(&a);
  idx_free(&a); /* twice is safe */

  snprintf(path2, sizeof path2, "%s/plain-idx3-ubyte", tmpdir);
  write_raw(path2, buf, len);
  CHECK(idx_load(path2, &a, err, sizeof err) == IDX_OK && a.count == 5 * 784, "plain: %s", err);
  idx_free(&a);

  /* a gzip file cut in the middle of its stream */
  size_t zl = 0;
  uint8_t *z = read_raw(path, &zl);
  snprintf(path2, sizeof path2, "%s/cut-idx3-ubyte.gz", tmpdir);
  write_raw(path2, z, zl / 2);
  idx_error e = idx_load(path2, &a, err, sizeof err);
  CHECK(e != IDX_OK && strstr(err, path2), "truncated gzip: %d %s", (int)e, err);
  /* cut only the 8-byte trailer: the data is complete but the stream is not */
  write_raw(path2, z, zl - 4);
  e = idx_load(path2, &a, err, sizeof err);
  CHECK(e == IDX_ERR_IO && strstr(err, path2), "gzip without its trailer: %d %s", (int)e, err);
  /* a corrupt CRC */
  z[zl - 6] ^= 0x55;
  write_raw(path2, z, zl);
  e = idx_load(path2, &a, err, sizeof err);
  CHECK(e == IDX_ERR_IO && strstr(err, path2), "bad gzip crc: %d %s", (int)e, err);
  free(z);

  /* compressed but truncated IDX data (a valid gzip of a short file) */
  write_gz(path2, buf, len - 100);
  e = idx_load(path2, &a, err, sizeof err);
  CHECK(e == IDX_ERR_FORMAT && strstr(err, "truncated") && strstr(err, path2),
        "truncated IDX in gzip: %s", err);

  /* garbage file, empty file, missing file, a directory */
  snprintf(path2, sizeof path2, "%s/garbage.gz", tmpdir);
  write_raw(path2, (const uint8_t *)"hello, world, not idx\n", 22);
  CHECK(idx_load(path2, &a, err, sizeof err) == IDX_ERR_FORMAT && strstr(err, path2),
        "garbage: %s", err);
  write_raw(path2, (const uint8_t *)"", 0);
  CHECK(idx_load(path2, &a, err, sizeof err) == IDX_ERR_FORMAT && strstr(err, path2),
        "empty: %s", err);
  snprintf(path2, sizeof path2, "%s/missing.gz", tmpdir);
  CHECK(idx_load(path2, &a, err, sizeof err) == IDX_ERR_IO && strstr(err, path2) &&
            strstr(err, "No such file"),
        "missing: %s", err);
  CHECK(idx_load(tmpdir, &a, err, sizeof err) == IDX_ERR_IO, "directory: %s", err);
}

static void make_set(const char *dir, const char *prefix, uint32_t nimg, uint32_t rows,
                     uint32_t nlab, int modulo, uint32_t img_magic)
{
  static uint8_t buf[1 << 18];
  char path[4096];
  mkdir(dir, 0777);
  size_t len = make_images(buf, sizeof buf, img_magic, nimg, rows, rows);
  snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
  write_gz(path, buf, len);
  len = make_labels(buf, nlab, modulo);
  snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
  write_gz(path, buf, len);
}

static void test_dataset(void)
{
  char dir[2048], err[1024];
  idx_dataset d;
  snprintf(dir, sizeof dir, "%s/good", tmpdir);
  make_set(dir, "t10k", 30, 28, 30, 10, IDX_MAGIC_IMAGES);
  CHECK(idx_load_dataset(dir, "t10k", 28, 28, 10, &d, err, sizeof err) == IDX_OK &&
            d.count == 30 && d.rows == 28 && d.cols == 28 && d.label[17] == 7 &&
            d.pixels[784] == (uint8_t)784,
        "good set: %s", err);
  idx_dataset_free(&d);
  CHECK(idx_load_dataset(dir, "train", 28, 28, 10, &d, err, sizeof err) == IDX_ERR_IO &&
            strstr(err, "train-images-idx3-ubyte"),
        "missing train files: %s", err);

  snprintf(dir, sizeof dir, "%s/count", tmpdir);
  make_set(dir, "train", 30, 28, 29, 10, IDX_MAGIC_IMAGES);
  CHECK(idx_load_dataset(dir, "train", 28, 28, 10, &d, err, sizeof err) == IDX_ERR_MISMATCH &&
            strstr(err, "30 images") && strstr(err, "29 labels") &&
            strstr(err, "train-labels-idx1-ubyte.gz"),
        "count mismatch: %s", err);

  snprintf(dir, sizeof dir, "%s/dims", tmpdir);
  make_set(dir, "train", 4, 32, 4, 10, IDX_MAGIC_IMAGES);
  CHECK(idx_load_dataset(dir, "train", 28, 28, 10, &d, err, sizeof err) == IDX_ERR_MISMATCH &&
            strstr(err, "32x32"),
        "dims: %s", err);

  snprintf(dir, sizeof dir, "%s/label", tmpdir);
  make_set(dir, "train", 12, 28, 12, 12, IDX_MAGIC_IMAGES);
  CHECK(idx_load_dataset(dir, "train", 28, 28, 10, &d, err, sizeof err) == IDX_ERR_FORMAT &&
            strstr(err, "label 10"),
        "label out of range: %s", err);

  /* the files swapped: labels where images should be */
  snprintf(dir, sizeof dir, "%s/magic", tmpdir);
  make_set(dir, "train", 4, 28, 4, 10, IDX_MAGIC_LABELS);
  /* make_images with magic 2049 writes a 1-dim header followed by junk:
   * the parser sees 1 dim of size 4 and trailing bytes -> format error */
  CHECK(idx_load_dataset(dir, "train", 28, 28, 10, &d, err, sizeof err) != IDX_OK &&
            strstr(err, "train-images-idx3-ubyte.gz"),
        "labels magic in the image file: %s", err);
  {
    /* a real swap: a label file (2049) as the image file */
    static uint8_t buf[256];
    char path[4096];
    size_t len = make_labels(buf, 4, 10);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    write_gz(path, buf, len);
    CHECK(idx_load_dataset(dir, "train", 28, 28, 10, &d, err, sizeof err) == IDX_ERR_MISMATCH &&
              strstr(err, "magic number 2049, expected 2051"),
          "swapped files: %s", err);
  }

  /* the real data set, when installed */
  const char *real = "/usr/share/datasets/fashion-mnist";
  struct stat st;
  if (stat(real, &st) == 0) {
    CHECK(idx_load_dataset(real, "t10k", 28, 28, 10, &d, err, sizeof err) == IDX_OK &&
              d.count == 10000 && d.label[0] == 9,
          "real t10k: %s", err);
    idx_dataset_free(&d);
  } else {
    printf("note: %s not installed, real-file check skipped\n", real);
  }
}

static int close_to(float a, float b) { return fabsf(a - b) <= 1e-6f * (1.f + fabsf(b)); }

static void test_resize(void)
{
  /* torch.nn.functional.interpolate(x, size, mode="bilinear", align_corners=False) */
  const float in22[4] = {0, 1, 2, 3};
  const float want44[16] = {0.0f, 0.25f, 0.75f, 1.0f, 0.5f, 0.75f, 1.25f, 1.5f,
                            1.5f, 1.75f, 2.25f, 2.5f, 2.0f, 2.25f, 2.75f, 3.0f};
  float out[64];
  int bad = 0;
  CHECK(resize_bilinear(in22, 2, 2, out, 4, 4) == 0, "resize");
  for (int i = 0; i < 16; i++) bad += !close_to(out[i], want44[i]);
  CHECK(bad == 0, "2x2 -> 4x4 differs from PyTorch");
  float in44[16];
  for (int i = 0; i < 16; i++) in44[i] = (float)i;
  const float want22[4] = {2.5f, 4.5f, 10.5f, 12.5f};
  resize_bilinear(in44, 4, 4, out, 2, 2);
  bad = 0;
  for (int i = 0; i < 4; i++) bad += !close_to(out[i], want22[i]);
  CHECK(bad == 0, "4x4 -> 2x2: %g %g %g %g", out[0], out[1], out[2], out[3]);
  const float in13[3] = {0, 10, 20};
  const float want15[5] = {0, 4, 10, 16, 20};
  resize_bilinear(in13, 1, 3, out, 1, 5);
  bad = 0;
  for (int i = 0; i < 5; i++) bad += !close_to(out[i], want15[i]);
  CHECK(bad == 0, "1x3 -> 1x5: %g %g %g %g %g", out[0], out[1], out[2], out[3], out[4]);
  resize_bilinear(in44, 4, 4, out, 4, 4);
  CHECK(memcmp(out, in44, sizeof in44) == 0, "same size is a copy");

  /* a Fashion-MNIST-like image: 28 -> 96 keeps the range and the mean roughly,
   * 28 -> 28 is pixel/255 exactly */
  idx_dataset d;
  memset(&d, 0, sizeof d);
  static uint8_t px[784];
  for (int i = 0; i < 784; i++) px[i] = (uint8_t)((i * 37) % 256);
  d.count = 1, d.rows = 28, d.cols = 28, d.pixels = px;
  static float big[96 * 96], same[784];
  CHECK(dataset_to_float(&d, 0, 1, 96, big) == 0 && dataset_to_float(&d, 0, 1, 28, same) == 0,
        "to float");
  float lo = 1, hi = 0;
  for (int i = 0; i < 96 * 96; i++) lo = fminf(lo, big[i]), hi = fmaxf(hi, big[i]);
  CHECK(lo >= 0 && hi <= 1, "range [%g, %g]", lo, hi);
  CHECK(same[1] == 37.0f / 255.0f && same[783] == (float)((783 * 37) % 256) / 255.0f,
        "28 -> 28 is pixel/255");
  CHECK(close_to(big[0], same[0]), "corner pixel kept: %g vs %g", big[0], same[0]);
}

static void test_shuffle(void)
{
  enum { N = 1000 };
  static uint32_t p[N], q[N], r[N];
  uint64_t s1 = epoch_rng_state(7, 1), s2 = epoch_rng_state(7, 1), s3 = epoch_rng_state(7, 2);
  CHECK(s1 == s2 && s1 != s3 && epoch_rng_state(8, 1) != s1, "epoch states");
  shuffle_permutation(p, N, &s1);
  shuffle_permutation(q, N, &s2);
  shuffle_permutation(r, N, &s3);
  CHECK(memcmp(p, q, sizeof p) == 0, "same seed and epoch, same order");
  CHECK(memcmp(p, r, sizeof p) != 0, "another epoch, another order");
  static unsigned char seen[N];
  int dup = 0, fixed = 0;
  for (int i = 0; i < N; i++) {
    dup += seen[p[i]]++ != 0;
    fixed += p[i] == (uint32_t)i;
  }
  CHECK(dup == 0, "a permutation");
  CHECK(fixed < 10, "shuffled (%d fixed points)", fixed);
  uint64_t st = 1;
  int hist[3] = {0, 0, 0};
  for (int i = 0; i < 30000; i++) hist[rng_below(&st, 3)]++;
  CHECK(hist[0] > 9500 && hist[1] > 9500 && hist[2] > 9500, "uniform: %d %d %d", hist[0],
        hist[1], hist[2]);
}

static void test_pgm(void)
{
  char path[4096], err[1024];
  int w, h;
  float *px;
  snprintf(path, sizeof path, "%s/a.pgm", tmpdir);
  const char good[] = "P5\n# a comment\n3 2\n# another\n200\n\x00\x64\xc8\x01\x02\x03";
  write_raw(path, (const uint8_t *)good, sizeof good - 1);
  CHECK(pgm_read(path, &w, &h, &px, err, sizeof err) == 0 && w == 3 && h == 2 && px[0] == 0 &&
            px[1] == 0.5f && px[2] == 1.0f,
        "good pgm: %s", err);
  free(px);
  write_raw(path, (const uint8_t *)good, sizeof good - 3);
  CHECK(pgm_read(path, &w, &h, &px, err, sizeof err) != 0 && strstr(err, "truncated") &&
            strstr(err, path),
        "truncated pgm: %s", err);
  write_raw(path, (const uint8_t *)"P2\n1 1\n255\n0\n", 13);
  CHECK(pgm_read(path, &w, &h, &px, err, sizeof err) != 0 && strstr(err, "P5"), "ascii pgm: %s",
        err);
  write_raw(path, (const uint8_t *)"P5\n1 1\n65535\n\0\0", 15);
  CHECK(pgm_read(path, &w, &h, &px, err, sizeof err) != 0 && strstr(err, "16-bit"),
        "16-bit pgm: %s", err);
  write_raw(path, (const uint8_t *)"P5\n-1 1\n255\n\0", 13);
  CHECK(pgm_read(path, &w, &h, &px, err, sizeof err) != 0 && strstr(err, "malformed"),
        "bad header: %s", err);
}

/* Whether dst (s x s) is src mirrored (or not) and then shifted:
 * dst[y][x] = m(src)[y + dy][x + dx], zeros outside. */
static int augment_is(const float *dst, const float *src, int s, int mirrored, int dy, int dx)
{
  for (int y = 0; y < s; y++)
    for (int x = 0; x < s; x++) {
      int sy = y + dy, sx = x + dx;
      float want = sy < 0 || sy >= s || sx < 0 || sx >= s
                       ? 0.f
                       : src[sy * s + (mirrored ? s - 1 - sx : sx)];
      if (dst[y * s + x] != want) return 0;
    }
  return 1;
}

/* Finds the (mirror, dy, dx) with |dy|, |dx| <= pad that made dst; 0 if none. */
static int augment_find(const float *dst, const float *src, int s, int pad, int *m, int *dy,
                        int *dx)
{
  for (*m = 0; *m < 2; ++*m)
    for (*dy = -pad; *dy <= pad; ++*dy)
      for (*dx = -pad; *dx <= pad; ++*dx)
        if (augment_is(dst, src, s, *m, *dy, *dx)) return 1;
  return 0;
}

/* examples/augment.c: parsing, the flip and the shift exactly, and the draws
 * a pure function of (seed, epoch, image) that cover every choice. */
static void test_augment(void)
{
  augment a;
  char err[160], name[40];
  const char *good[] = {"none", "flip", "crop=2", "flip,crop=2", "crop=16,flip"};
  const char *canon[] = {"none", "flip", "crop=2", "flip,crop=2", "flip,crop=16"};
  for (int i = 0; i < 5; i++)
    CHECK(augment_parse(good[i], &a, err, sizeof err) == 0 &&
              !strcmp(augment_name(&a, name, sizeof name), canon[i]),
          "augment \"%s\" -> \"%s\"", good[i], name);
  const char *bad[] = {"", "flop", "crop=0", "crop=17", "crop=2x", "flip,flip", "crop=1,crop=2",
                       "flip,", "none,flip"};
  for (int i = 0; i < 9; i++)
    CHECK(augment_parse(bad[i], &a, err, sizeof err) == -1 && strstr(err, "--augment"),
          "augment \"%s\" refused: %s", bad[i], err);
  enum { S = 5 };
  float src[S * S], dst[S * S], again[S * S];
  for (int i = 0; i < S * S; i++) src[i] = (float)(i + 1);
  augment none = {0, 0}, flip = {1, 0}, crop = {0, 2}, both = {1, 2};
  augment_image(dst, src, S, &none, 1, 1, 0);
  CHECK(!memcmp(dst, src, sizeof src), "augment none copies");
  int flips = 0, seen[5][5] = {{0}}, both_seen[2][5][5] = {{{0}}};
  for (uint64_t k = 0; k < 400; k++) {
    int m, dy, dx;
    augment_image(dst, src, S, &flip, 7, 3, k);
    CHECK(augment_find(dst, src, S, 0, &m, &dy, &dx), "image %d: a copy or its mirror", (int)k);
    flips += m;
    augment_image(dst, src, S, &crop, 7, 3, k);
    CHECK(augment_find(dst, src, S, 2, &m, &dy, &dx) && !m,
          "image %d: shifted by at most 2 per axis, zeros coming in", (int)k);
    seen[dy + 2][dx + 2]++;
    augment_image(dst, src, S, &both, 7, 3, k);
    CHECK(augment_find(dst, src, S, 2, &m, &dy, &dx), "image %d: mirrored, then shifted",
          (int)k);
    both_seen[m][dy + 2][dx + 2]++;
    augment_image(again, src, S, &both, 7, 3, k);
    CHECK(!memcmp(dst, again, sizeof dst), "image %d: the same draw twice", (int)k);
  }
  CHECK(flips > 150 && flips < 250, "about half mirrored: %d of 400", flips);
  int all = 1;
  for (int i = 0; i < 25; i++) all &= seen[i / 5][i % 5] > 0;
  CHECK(all, "every one of the 25 shifts drawn");
  all = 1;
  for (int i = 0; i < 50; i++) all &= both_seen[i / 25][i / 5 % 5][i % 5] > 0;
  CHECK(all, "flip,crop=2: every one of the 50 choices drawn");
  /* another epoch or seed draws differently */
  int differ_epoch = 0, differ_seed = 0;
  for (uint64_t k = 0; k < 20; k++) {
    augment_image(dst, src, S, &both, 7, 3, k);
    augment_image(again, src, S, &both, 7, 4, k);
    differ_epoch += memcmp(dst, again, sizeof dst) != 0;
    augment_image(again, src, S, &both, 8, 3, k);
    differ_seed += memcmp(dst, again, sizeof dst) != 0;
  }
  CHECK(differ_epoch > 10 && differ_seed > 10, "draws depend on epoch (%d/20) and seed (%d/20)",
        differ_epoch, differ_seed);
}

int main(int argc, char **argv)
{
  if (argc > 1)
    snprintf(tmpdir, sizeof tmpdir, "%s", argv[1]);
  else
    snprintf(tmpdir, sizeof tmpdir, "/tmp/idx_test.%ld", (long)getpid());
  mkdir(tmpdir, 0777);
  test_parse_memory();
  test_parse_fuzz();
  test_files();
  test_dataset();
  test_resize();
  test_shuffle();
  test_pgm();
  test_augment();
  if (argc <= 1) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", tmpdir);
  }
  printf("idx_test: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
