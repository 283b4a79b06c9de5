/*
 * data.h — what the examples do to images before they reach the network:
 * bilinear resizing (PyTorch's F.interpolate, mode "bilinear",
 * align_corners=False, no antialiasing — what torchvision's Resize does to
 * a tensor that is enlarged), scaling of pixels to [0, 1], a small seeded
 * PRNG for shuffling, the Fashion-MNIST class names and a reader for binary
 * PGM images. Nothing here exits or prints.
 */
#ifndef EXAMPLES_DATA_H
#define EXAMPLES_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "idx.h"

#define FMNIST_CLASSES 10
extern const char *const fmnist_class_names[FMNIST_CLASSES];

/* Bilinear resize of one float plane (ih x iw) to (oh x ow) with
 * align_corners=False: source coordinate (d + 0.5) * in/out - 0.5, clamped
 * below at 0, neighbours clamped at the edge. Same size is an exact copy.
 * Returns 0, or -1 when out of memory. */
int resize_bilinear(const float *src, int ih, int iw, float *dst, int oh, int ow);
/* The taps resize_bilinear uses along one axis of in -> out samples: output d
 * is l0[d] * input i0[d] + l1[d] * input i1[d]. */
void bilinear_taps(int in, int out, int *i0, int *i1, float *l0, float *l1);

/* Converts images [first, first+n) of d to float planes of size x size:
 * pixel/255, then resize_bilinear. out has n*size*size floats. Returns 0,
 * or -1 when out of memory. */
int dataset_to_float(const idx_dataset *d, size_t first, size_t n, int size, float *out);

/* splitmix64: state += golden gamma, then mix. */
uint64_t splitmix64_next(uint64_t *state);

/* The shuffle state of an epoch (1-based): a pure function of seed and epoch,
 * so a resumed run shuffles exactly like an uninterrupted one. */
uint64_t epoch_rng_state(uint64_t seed, int epoch);

/* Uniform integer in [0, n) (n >= 1), unbiased (rejection). */
uint64_t rng_below(uint64_t *state, uint64_t n);

/* perm[i] = i, then a Fisher-Yates shuffle driven by *state. */
void shuffle_permutation(uint32_t *perm, size_t n, uint64_t *state);

/* Reads a binary PGM ("P5", maxval 1..255, '#' comments in the header) into
 * a malloc'd float plane with values pixel/maxval in [0, 1]. Returns 0, or -1
 * with a message (naming the file) in err. (examples/classify reads images
 * with image.h instead: PNG too, plain and 16-bit PGM.) */
int pgm_read(const char *path, int *width, int *height, float **pixels, char *err,
             size_t errcap);

#endif /* EXAMPLES_DATA_H */
