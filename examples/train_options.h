/*
 * train_options.h — the command line of examples/train: options, presets
 * (the book's d2l recipe and the CPU quick recipe) and --help.
 */
#ifndef EXAMPLES_TRAIN_OPTIONS_H
#define EXAMPLES_TRAIN_OPTIONS_H

#include <stdio.h>

#include "augment.h"
#include "inception.h"

#define TRAIN_DEFAULT_DATA "/usr/share/datasets/fashion-mnist"
#define TRAIN_DEFAULT_OUT "runs/latest"
#define TRAIN_MAX_EPOCHS 100000

/* Which recipe fields were given on the command line (they override the
 * preset, and must agree with a checkpoint on --resume). */
enum {
  SET_SIZE = 1 << 0,
  SET_EPOCHS = 1 << 1,
  SET_BATCH = 1 << 2,
  SET_LR = 1 << 3,
  SET_MOMENTUM = 1 << 4,
  SET_WD = 1 << 5,
  SET_SEED = 1 << 6,
  SET_LIMIT = 1 << 7,
  SET_TEST_LIMIT = 1 << 8,
  SET_INIT = 1 << 9,
  SET_WARMUP = 1 << 10,
  SET_MODEL = 1 << 11,
  SET_LS = 1 << 12,
  SET_DROPOUT = 1 << 13,
  SET_SCHEDULE = 1 << 14,
  SET_AUGMENT = 1 << 15
};

/* Learning-rate schedules after the warmup. */
enum { SCHEDULE_CONSTANT = 0, SCHEDULE_COSINE = 1 };

typedef struct options {
  const char *device, *data, *out, *preset;
  const char *model; /* one of MODEL_NAMES (examples/net.h) */
  const char *onnx; /* --export-onnx: where to write the trained model, or NULL */
  inc_init init; /* weight initialization scheme */
  int size, epochs, batch, threads, resume, dry_run, progress_every;
  int keep; /* checkpoints kept: the last keep plus the best (0: all) */
  int bf16; /* --precision bf16: the context's GEMMs take bf16 inputs (not part of the recipe) */
  long warmup; /* steps of linear learning-rate warmup (0: none) */
  double lr, momentum, weight_decay;
  double label_smoothing, dropout; /* the loss's label smoothing; dropout before the classifier */
  int schedule;                    /* SCHEDULE_*: the learning rate after the warmup */
  augment aug;                     /* --augment: flips and crops of training images */
  unsigned long long seed;
  long limit, test_limit;
  unsigned set;
} options;

/* Sets the defaults that do not depend on the preset. */
void train_options_defaults(options *o);

/* Parses argv into o. Returns 0 on success, 1 for --help, -1 on error (a
 * message on stderr). */
int train_options_parse(int argc, char **argv, options *o);

/* Fills the recipe fields not given explicitly from preset "d2l" or
 * "quick". */
void train_options_apply_preset(options *o, const char *preset);

/* The learning rate of training step g (from 0) of `total`: lr, times
 * (g + 1) / warmup during the warmup, times (1 + cos(pi g / total)) / 2 with
 * the cosine schedule. 1 in *set when the step must set it (the warmup or a
 * schedule moves it; a constant rate after the warmup stays as it is). */
double train_lr_at(const options *o, long long g, long long total, int *set);

/* The name of a schedule as --schedule spells it. */
const char *train_schedule_name(int schedule);

/* The name of an initialization scheme as --init spells it. */
const char *train_init_name(inc_init scheme);

/* --resume: takes the recipe of checkpoint ckpt into o (values given on the
 * command line must agree with it; the number of epochs may be raised) and
 * *epoch gets the epochs it completed. Returns 0, or -1 after a message on
 * stderr. Defined in resume.c. */
int recipe_from_checkpoint(const char *ckpt, options *o, int *epoch);

/* --help text. */
void train_options_usage(FILE *f);

#endif /* EXAMPLES_TRAIN_OPTIONS_H */
