/*
 * image.h — image files for the classifier: PNG (through libpng) and PGM
 * (our own reader, plain "P2" and binary "P5", maxval up to 65535) loaded
 * into a float grayscale plane in [0, 1], and the preprocessing that turns
 * any such image into the network's input the way examples/train turns a
 * Fashion-MNIST image into one.
 *
 * Choices, so that a user can predict what the network sees:
 *   - The format is recognised by the file's first bytes, not its name.
 *   - Samples are divided by their maximum (255, 65535 or the PGM maxval)
 *     as stored: no gamma or colour-profile conversion (gAMA, iCCP, sRGB
 *     chunks are ignored), which is what PIL and torchvision do too.
 *   - Colour (RGB, palette) becomes gray with the Rec. 601 luma weights
 *     0.299 R + 0.587 G + 0.114 B, computed exactly on the integer samples
 *     so that a pixel with R = G = B gives the same value as the gray image.
 *   - Transparency (an alpha channel or a tRNS chunk) is kept as a separate
 *     plane; image_to_input() composites over black, Fashion-MNIST's
 *     background (after --invert, so transparent stays background).
 *   - Resizing to size x size happens in two steps: first to 28 x 28, the
 *     data set's native size (per axis: area averaging when shrinking,
 *     bilinear as below when enlarging, an exact copy when equal), then
 *     exactly the trainer's bilinear resize from 28 x 28 to the checkpoint's
 *     size (resize_bilinear in data.h). The aspect ratio is not kept. A
 *     28 x 28 8-bit gray image therefore becomes the very same input tensor
 *     as the same pixels read from the IDX files.
 *
 * Nothing here exits or prints: errors come back as -1 with a message that
 * names the file (unreadable, corrupt or truncated, unsupported format,
 * too large).
 */
#ifndef EXAMPLES_IMAGE_H
#define EXAMPLES_IMAGE_H

#include <stddef.h>

/* Largest accepted side and pixel count (a guard against absurd headers). */
#define IMAGE_MAX_SIDE 16384
#define IMAGE_MAX_PIXELS (1L << 26)

/* Fashion-MNIST's native side: every image passes through 28 x 28. */
#define IMAGE_NATIVE_SIDE 28

typedef struct image {
  int width, height;
  float *gray;        /* (height, width), row-major, top row first, in [0, 1] */
  float *alpha;       /* (height, width) opacity in [0, 1], or NULL when opaque */
  const char *format; /* "PNG", "PGM" */
} image;

/* Loads a PNG or PGM file into *img (zeroed first). Returns 0, or -1 with a
 * message naming the file in err (img then holds nothing to free). */
int image_load(const char *path, image *img, char *err, size_t errcap);

/* Frees the planes and zeroes *img. NULL or an empty image is a no-op. */
void image_free(image *img);

/* Resamples one plane (ih x iw) to (oh x ow), separably, width first: per
 * axis an exact copy when the sizes agree, area averaging (each output pixel
 * the mean of its footprint, partial pixels weighted by coverage) when
 * shrinking, bilinear with align_corners=False when enlarging. Returns 0, or
 * -1 when out of memory. */
int image_resample(const float *src, int ih, int iw, float *dst, int oh, int ow);

/* The network input for img: per pixel v = (invert ? 1 - gray : gray),
 * times alpha when there is one; then image_resample to 28 x 28 and
 * resize_bilinear to size x size into out (size * size floats). Returns 0,
 * or -1 when out of memory. */
int image_to_input(const image *img, int invert, int size, float *out);

#endif /* EXAMPLES_IMAGE_H */
