/*
 * augment.h — the trainer's data augmentation: a random horizontal flip and
 * a random crop with zero padding (torchvision's RandomHorizontalFlip and
 * RandomCrop(size, padding=P)), applied to each training image as its
 * minibatch is assembled. The choice for an image is a pure function of the
 * seed, the epoch and the image's index in the training set, so a resumed
 * run, and a run split over several processes, draw exactly what one
 * uninterrupted process draws. Nothing here exits or prints.
 */
#ifndef EXAMPLES_AUGMENT_H
#define EXAMPLES_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#define AUGMENT_MAX_PAD 16

typedef struct augment {
  int flip; /* mirror left-right with probability 1/2 */
  int pad;  /* crop: shift by -pad..pad pixels on each axis, zeros coming in (0: off) */
} augment;

/* Parses "none", or a comma-separated list of "flip" and "crop=P"
 * (1 <= P <= AUGMENT_MAX_PAD), e.g. "flip,crop=2". Returns 0, or -1 with a
 * message in err. */
int augment_parse(const char *spec, augment *a, char *err, size_t errcap);

/* The canonical spelling ("none", "flip", "crop=2", "flip,crop=2"): what
 * checkpoints record and augment_parse reads back. */
const char *augment_name(const augment *a, char *buf, size_t cap);

/* dst (size x size) = image `index` of the training set (src, size x size)
 * as epoch `epoch` of a run seeded with `seed` sees it. With nothing
 * enabled dst is a copy of src. dst and src must not overlap. */
void augment_image(float *dst, const float *src, int size, const augment *a, uint64_t seed,
                   int epoch, uint64_t index);

#endif /* EXAMPLES_AUGMENT_H */
