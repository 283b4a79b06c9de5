/*
 * resume.c — examples/train --resume: the recipe of a checkpoint read back
 * into the trainer's options (train_options.h), every value given on the
 * command line checked against it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inception.h"
#include "net.h"
#include "recipe.h"
#include "train_options.h"

#define PROG "train"

static int meta_double(const char *path, const char *key, double *out)
{
  char *v = recipe_meta_get(path, key);
  if (!v) return -1;
  char *end;
  double d = strtod(v, &end);
  int ok = end != v && *end == '\0' && isfinite(d);
  free(v);
  if (!ok) return -1;
  *out = d;
  return 0;
}

/* Takes a recipe value from the checkpoint; an explicit different option is
 * an error. Values are compared as float (what the library uses). */
static int resume_value(const char *ckpt, const char *key, const char *opt, int explicit_set,
                        double *value, int integral)
{
  double v;
  if (meta_double(ckpt, key, &v) != 0) {
    fprintf(stderr, PROG ": %s: metadata \"%s\" missing or malformed; not a checkpoint of this trainer?\n",
            ckpt, key);
    return -1;
  }
  int same = integral ? (v == *value) : ((float)v == (float)*value);
  if (explicit_set && !same) {
    fprintf(stderr,
            PROG ": %s %g differs from the checkpoint's %g (%s); --resume continues the same run "
                 "(use another --out to start a new one)\n",
            opt, *value, v, ckpt);
    return -1;
  }
  *value = v;
  return 0;
}

/* A value added in 0.4 ("label_smoothing", "dropout"): a checkpoint from
 * before it had none, which means 0. */
static int resume_optional(const char *ckpt, const char *key, const char *opt, int explicit_set,
                           double *value)
{
  char *v = recipe_meta_get(ckpt, key);
  int have = v != NULL;
  free(v);
  if (have) return resume_value(ckpt, key, opt, explicit_set, value, 0);
  if (explicit_set && *value != 0.0) {
    fprintf(stderr, PROG ": %s %g differs from the checkpoint's 0 (%s)\n", opt, *value, ckpt);
    return -1;
  }
  *value = 0.0;
  return 0;
}

/* The schedule (0.4; a checkpoint from before it ran a constant rate). */
static int resume_schedule(const char *ckpt, options *o)
{
  char *v = recipe_meta_get(ckpt, "schedule");
  int sched = v && !strcmp(v, "cosine") ? SCHEDULE_COSINE : SCHEDULE_CONSTANT;
  int bad = v && strcmp(v, "cosine") && strcmp(v, "constant");
  free(v);
  if (bad) {
    fprintf(stderr, PROG ": %s: metadata \"schedule\" is malformed\n", ckpt);
    return -1;
  }
  if ((o->set & SET_SCHEDULE) && o->schedule != sched) {
    fprintf(stderr, PROG ": --schedule %s differs from the checkpoint's %s (%s)\n",
            train_schedule_name(o->schedule), train_schedule_name(sched), ckpt);
    return -1;
  }
  o->schedule = sched;
  return 0;
}

/* The augmentation (0.5; a checkpoint from before it had none). */
static int resume_augment(const char *ckpt, options *o)
{
  char *v = recipe_meta_get(ckpt, "augment"), err[160], a[40], b[40];
  augment aug = {0, 0};
  int bad = v && augment_parse(v, &aug, err, sizeof err);
  free(v);
  if (bad) {
    fprintf(stderr, PROG ": %s: metadata \"augment\" is malformed\n", ckpt);
    return -1;
  }
  if ((o->set & SET_AUGMENT) && (o->aug.flip != aug.flip || o->aug.pad != aug.pad)) {
    fprintf(stderr, PROG ": --augment %s differs from the checkpoint's %s (%s)\n",
            augment_name(&o->aug, a, sizeof a), augment_name(&aug, b, sizeof b), ckpt);
    return -1;
  }
  o->aug = aug;
  return 0;
}

/* The seed is 64-bit: compared as text. */
static int resume_seed(const char *ckpt, options *o)
{
  char *sv = recipe_meta_get(ckpt, "seed");
  unsigned long long cseed = sv ? strtoull(sv, NULL, 10) : 0;
  int have_seed = sv != NULL;
  free(sv);
  if (!have_seed) {
    fprintf(stderr, PROG ": %s: metadata \"seed\" missing\n", ckpt);
    return -1;
  }
  if ((o->set & SET_SEED) && cseed != o->seed) {
    fprintf(stderr, PROG ": --seed %llu differs from the checkpoint's %llu (%s)\n", o->seed, cseed,
            ckpt);
    return -1;
  }
  o->seed = cseed;
  return 0;
}

/* The model: the checkpoint's (a run cannot change its network). */
static int resume_model(const char *ckpt, options *o)
{
  char *m = recipe_model(PROG, ckpt);
  if (!m) return -1;
  if ((o->set & SET_MODEL) && strcmp(m, o->model)) {
    fprintf(stderr,
            PROG ": --model %s differs from the checkpoint's %s (%s); --resume continues the "
                 "same run (use another --out to start a new one)\n",
            o->model, m, ckpt);
    free(m);
    return -1;
  }
  o->model = model_name(m); /* the static spelling */
  free(m);
  return 0;
}

int recipe_from_checkpoint(const char *ckpt, options *o, int *epoch_done)
{
  double size = o->size, batch = o->batch, lr = o->lr, mom = o->momentum, wd = o->weight_decay;
  double limit = (double)o->limit, tlimit = (double)o->test_limit, warmup = (double)o->warmup;
  double epoch = 0, epochs = o->epochs;
  if (resume_value(ckpt, "size", "--size", o->set & SET_SIZE, &size, 1) ||
      resume_value(ckpt, "batch", "--batch", o->set & SET_BATCH, &batch, 1) ||
      resume_value(ckpt, "lr", "--lr", o->set & SET_LR, &lr, 0) ||
      resume_value(ckpt, "momentum", "--momentum", o->set & SET_MOMENTUM, &mom, 0) ||
      resume_value(ckpt, "weight_decay", "--weight-decay", o->set & SET_WD, &wd, 0) ||
      resume_value(ckpt, "limit", "--limit", o->set & SET_LIMIT, &limit, 1) ||
      resume_value(ckpt, "test_limit", "--test-limit", o->set & SET_TEST_LIMIT, &tlimit, 1) ||
      resume_value(ckpt, "warmup", "--warmup", o->set & SET_WARMUP, &warmup, 1) ||
      resume_value(ckpt, "epoch", "epoch", 0, &epoch, 1) ||
      resume_value(ckpt, "epochs", "--epochs", 0, &epochs, 1) || resume_seed(ckpt, o) ||
      resume_model(ckpt, o) ||
      resume_optional(ckpt, "label_smoothing", "--label-smoothing", o->set & SET_LS,
                      &o->label_smoothing) ||
      resume_optional(ckpt, "dropout", "--dropout", o->set & SET_DROPOUT, &o->dropout) ||
      resume_schedule(ckpt, o) || resume_augment(ckpt, o))
    return -1;
  o->size = (int)size, o->batch = (int)batch, o->lr = lr, o->momentum = mom;
  o->weight_decay = wd, o->limit = (long)limit, o->test_limit = (long)tlimit;
  o->warmup = (long)warmup;
  if (!(o->set & SET_EPOCHS)) o->epochs = (int)epochs;
  /* the cosine schedule's rate is a function of the step and of the run's
   * length: a run cannot be lengthened without changing its past */
  if (o->schedule == SCHEDULE_COSINE && o->epochs != (int)epochs) {
    fprintf(stderr,
            PROG ": --epochs %d differs from the checkpoint's %d (%s): the cosine schedule was "
                 "laid out over %d epochs; --resume continues the same run\n",
            o->epochs, (int)epochs, ckpt, (int)epochs);
    return -1;
  }
  *epoch_done = (int)epoch;
  return 0;
}
