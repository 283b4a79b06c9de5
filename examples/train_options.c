/*
 * train_options.c — examples/train's command line: parsing with range
 * checks (a bad value is a message naming the option, never a silent
 * default), the two presets and --help.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "train_options.h"
#include "util.h"

#define PROG "train"

void train_options_defaults(options *o)
{
  memset(o, 0, sizeof *o);
  o->device = "auto";
  o->model = "googlenet";
  o->data = TRAIN_DEFAULT_DATA;
  o->out = TRAIN_DEFAULT_OUT;
  o->seed = 1;
  o->progress_every = 50;
}

double train_lr_at(const options *o, long long g, long long total, int *set)
{
  double lr = o->lr;
  *set = o->schedule == SCHEDULE_COSINE || (o->warmup > 0 && g <= o->warmup);
  if (o->warmup > 0 && g <= o->warmup)
    lr = o->lr * (double)(g < o->warmup ? g + 1 : o->warmup) / (double)o->warmup;
  if (o->schedule == SCHEDULE_COSINE && total > 0)
    lr *= 0.5 * (1.0 + cos(3.14159265358979323846 * (double)g / (double)total));
  return lr;
}

const char *train_schedule_name(int schedule)
{
  return schedule == SCHEDULE_COSINE ? "cosine" : "constant";
}

const char *train_init_name(inc_init scheme)
{
  return scheme == INC_INIT_KAIMING_UNIFORM ? "kaiming" : "xavier";
}

void train_options_usage(FILE *f)
{
  fprintf(f,
          "usage: examples/train [options]\n"
          "Trains the D2L GoogLeNet on Fashion-MNIST (the book's ch. 8.4 recipe) and\n"
          "evaluates it on the test set after every epoch.\n"
          "\n"
          "  --device auto|cpu|cuda  backend (default auto: CUDA when a GPU is usable)\n"
          "  --model NAME            googlenet (the book's, default) or googlenet-bn (a batch\n"
          "                          norm after every convolution; its quick recipe: batch\n"
          "                          32, lr 0.1, no warmup, a cosine schedule, weight decay\n"
          "                          5e-4, label smoothing 0.1)\n"
          "  --preset d2l|quick      d2l: the book's recipe (size 96, batch 128, SGD lr 0.1,\n"
          "                          momentum 0, 10 epochs, Xavier); quick: size 28, batch\n"
          "                          96, lr 0.04 with a cosine decay, momentum 0.9, weight\n"
          "                          decay 5e-4, label smoothing 0.1, 5 epochs, Kaiming,\n"
          "                          warmup 200. Default: d2l on CUDA, quick on the CPU.\n"
          "                          Options below override the preset.\n"
          "  --size N                images are resized 28 -> N x N (bilinear)\n"
          "  --epochs N              train until epoch N\n"
          "  --batch N               minibatch size (also used for evaluation)\n"
          "  --lr X                  SGD learning rate\n"
          "  --momentum X            SGD momentum (PyTorch's rule)\n"
          "  --weight-decay X        L2 penalty added to the gradients\n"
          "  --init xavier|kaiming   weight initialization: Xavier-uniform (the book's) or\n"
          "                          Kaiming-uniform; biases start at zero either way\n"
          "  --label-smoothing X     softmax cross-entropy against (1-X) onehot + X/classes\n"
          "                          (PyTorch's label_smoothing; the quick recipes: 0.1)\n"
          "  --dropout P             a dropout of probability P before the classifier (the\n"
          "                          original GoogLeNet's 0.4; default 0: none)\n"
          "  --schedule constant|cosine  the learning rate after the warmup: constant, or\n"
          "                          lr (1 + cos(pi step/steps)) / 2 down to 0 at the end\n"
          "                          (the quick recipes: cosine; d2l: constant)\n"
          "  --augment SPEC          training images: none, or flip (mirrored with\n"
          "                          probability 1/2), crop=P (shifted by up to P pixels per\n"
          "                          axis, zeros coming in: a P-padded random crop), or both\n"
          "                          as flip,crop=P (default none)\n"
          "  --warmup N              raise the learning rate linearly from lr/N to lr over\n"
          "                          the first N steps (0: constant lr, the book's)\n"
          "  --seed N                seed of the weights and of the shuffling (default 1)\n"
          "  --limit N               train on the first N training images only (0 = all)\n"
          "  --test-limit N          evaluate on the first N test images only (0 = all)\n"
          "  --threads N             CPU threads (0 = library default)\n"
          "  --precision fp32|bf16   the conv and dense GEMMs' inputs: float32 (default) or\n"
          "                          bf16 with float32 sums (a oneDNN build on an\n"
          "                          AVX512-BF16 CPU; not part of the recipe: set it again\n"
          "                          on --resume)\n"
          "  --data DIR              Fashion-MNIST IDX files (default " TRAIN_DEFAULT_DATA ")\n"
          "  --out DIR               results: metrics.csv, steps.csv, curve.png,\n"
          "                          ckpt-epoch-NNN.safetensors (default " TRAIN_DEFAULT_OUT ")\n"
          "  --keep N                keep the checkpoints of the last N epochs and of the\n"
          "                          best one by test accuracy (default 0: keep all)\n"
          "  --export-onnx FILE      at the end, write the trained model as ONNX (opset 13)\n"
          "  --resume                continue from the newest checkpoint in --out; the result\n"
          "                          equals an uninterrupted run (shuffling depends only on\n"
          "                          seed and epoch); recipe options come from the checkpoint\n"
          "  --progress-every N      without a terminal, a progress line every N batches (50)\n"
          "  --dry-run               print the recipe and the shape table, then exit\n"
          "  --help                  this text\n"
          "\n"
          "Per epoch: \"epoch E/N  loss L  train acc A  test acc T  R img/s\" on stdout (loss\n"
          "and train acc are running means over the epoch's minibatches, img/s the training\n"
          "throughput); progress on stderr (a bar on a terminal).\n");
}

static int parse_double(const char *opt, const char *s, double lo, double hi, int lo_open,
                        double *out)
{
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < lo || (lo_open && v == lo) || v > hi) {
    fprintf(stderr, PROG ": %s needs a number in %c%g, %g], got \"%s\"\n", opt,
            lo_open ? '(' : '[', lo, hi, s);
    return -1;
  }
  *out = v;
  return 0;
}

/* Returns 0 on success, 1 for --help, -1 on error. */
int train_options_parse(int argc, char **argv, options *o)
{
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    char name[64];
    const char *val = NULL;
    const char *eq = strchr(a, '=');
    if (strncmp(a, "--", 2) == 0 && eq && (size_t)(eq - a) < sizeof name) {
      snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
      val = eq + 1;
    } else {
      snprintf(name, sizeof name, "%s", a);
    }
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) return 1;
    if (!strcmp(name, "--resume") || !strcmp(name, "--dry-run")) {
      if (val) {
        fprintf(stderr, PROG ": %s takes no value\n", name);
        return -1;
      }
      if (!strcmp(name, "--resume"))
        o->resume = 1;
      else
        o->dry_run = 1;
      continue;
    }
    static const char *const with_value[] = {
        "--device", "--preset", "--size",  "--epochs", "--batch",   "--lr",
        "--momentum", "--weight-decay", "--seed", "--limit", "--test-limit", "--threads",
        "--data",   "--out",    "--progress-every", "--init", "--warmup", "--keep",
        "--export-onnx", "--model", "--label-smoothing", "--dropout", "--schedule",
        "--augment", "--precision"};
    int known = 0;
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
      if (!strcmp(name, with_value[k])) known = 1;
    if (!known) {
      fprintf(stderr, PROG ": unknown option \"%s\" (see --help)\n", a);
      return -1;
    }
    if (!val) {
      if (i + 1 >= argc) {
        fprintf(stderr, PROG ": %s needs a value\n", name);
        return -1;
      }
      val = argv[++i];
    }
    long l;
    double d;
    if (!strcmp(name, "--device")) {
      if (strcmp(val, "auto") && strcmp(val, "cpu") && strcmp(val, "cuda")) {
        fprintf(stderr, PROG ": --device must be auto, cpu or cuda, got \"%s\"\n", val);
        return -1;
      }
      o->device = val;
    } else if (!strcmp(name, "--schedule")) {
      if (strcmp(val, "constant") && strcmp(val, "cosine")) {
        fprintf(stderr, PROG ": --schedule must be constant or cosine, got \"%s\"\n", val);
        return -1;
      }
      o->schedule = strcmp(val, "cosine") ? SCHEDULE_CONSTANT : SCHEDULE_COSINE;
      o->set |= SET_SCHEDULE;
    } else if (!strcmp(name, "--augment")) {
      char err[160];
      if (augment_parse(val, &o->aug, err, sizeof err)) {
        fprintf(stderr, PROG ": %s\n", err);
        return -1;
      }
      o->set |= SET_AUGMENT;
    } else if (!strcmp(name, "--label-smoothing")) {
      if (parse_double(name, val, 0, 1, 0, &d)) return -1;
      o->label_smoothing = d, o->set |= SET_LS;
    } else if (!strcmp(name, "--dropout")) {
      if (parse_double(name, val, 0, 0.99, 0, &d)) return -1;
      o->dropout = d, o->set |= SET_DROPOUT;
    } else if (!strcmp(name, "--model")) {
      if (!model_known(val)) {
        fprintf(stderr, PROG ": --model must be one of %s, got \"%s\"\n", MODEL_NAMES, val);
        return -1;
      }
      o->model = model_name(val), o->set |= SET_MODEL;
    } else if (!strcmp(name, "--preset")) {
      if (strcmp(val, "d2l") && strcmp(val, "quick")) {
        fprintf(stderr, PROG ": --preset must be d2l or quick, got \"%s\"\n", val);
        return -1;
      }
      o->preset = val;
    } else if (!strcmp(name, "--size")) {
      if (parse_long_arg(PROG, name, val, 1, 4096, &l)) return -1;
      o->size = (int)l, o->set |= SET_SIZE;
    } else if (!strcmp(name, "--epochs")) {
      if (parse_long_arg(PROG, name, val, 1, TRAIN_MAX_EPOCHS, &l)) return -1;
      o->epochs = (int)l, o->set |= SET_EPOCHS;
    } else if (!strcmp(name, "--batch")) {
      if (parse_long_arg(PROG, name, val, 1, 1 << 20, &l)) return -1;
      o->batch = (int)l, o->set |= SET_BATCH;
    } else if (!strcmp(name, "--lr")) {
      if (parse_double(name, val, 0, 1e6, 1, &d)) return -1;
      o->lr = d, o->set |= SET_LR;
    } else if (!strcmp(name, "--momentum")) {
      if (parse_double(name, val, 0, 0.999999, 0, &d)) return -1;
      o->momentum = d, o->set |= SET_MOMENTUM;
    } else if (!strcmp(name, "--weight-decay")) {
      if (parse_double(name, val, 0, 1e6, 0, &d)) return -1;
      o->weight_decay = d, o->set |= SET_WD;
    } else if (!strcmp(name, "--seed")) {
      char *end;
      errno = 0;
      unsigned long long v = strtoull(val, &end, 0);
      if (errno || end == val || *end || val[0] == '-') {
        fprintf(stderr, PROG ": --seed needs a non-negative integer, got \"%s\"\n", val);
        return -1;
      }
      o->seed = v, o->set |= SET_SEED;
    } else if (!strcmp(name, "--limit")) {
      if (parse_long_arg(PROG, name, val, 0, 1L << 30, &l)) return -1;
      o->limit = l, o->set |= SET_LIMIT;
    } else if (!strcmp(name, "--test-limit")) {
      if (parse_long_arg(PROG, name, val, 0, 1L << 30, &l)) return -1;
      o->test_limit = l, o->set |= SET_TEST_LIMIT;
    } else if (!strcmp(name, "--threads")) {
      if (parse_long_arg(PROG, name, val, 0, 4096, &l)) return -1;
      o->threads = (int)l;
    } else if (!strcmp(name, "--progress-every")) {
      if (parse_long_arg(PROG, name, val, 1, 1L << 30, &l)) return -1;
      o->progress_every = (int)l;
    } else if (!strcmp(name, "--export-onnx")) {
      o->onnx = val;
    } else if (!strcmp(name, "--precision")) {
      if (strcmp(val, "fp32") && strcmp(val, "bf16")) {
        fprintf(stderr, PROG ": --precision must be fp32 or bf16, got \"%s\"\n", val);
        return -1;
      }
      o->bf16 = !strcmp(val, "bf16");
    } else if (!strcmp(name, "--keep")) {
      if (parse_long_arg(PROG, name, val, 0, TRAIN_MAX_EPOCHS, &l)) return -1;
      o->keep = (int)l;
    } else if (!strcmp(name, "--warmup")) {
      if (parse_long_arg(PROG, name, val, 0, 1L << 30, &l)) return -1;
      o->warmup = l, o->set |= SET_WARMUP;
    } else if (!strcmp(name, "--init")) {
      if (!strcmp(val, "xavier"))
        o->init = INC_INIT_XAVIER_UNIFORM;
      else if (!strcmp(val, "kaiming"))
        o->init = INC_INIT_KAIMING_UNIFORM;
      else {
        fprintf(stderr, PROG ": --init must be xavier or kaiming, got \"%s\"\n", val);
        return -1;
      }
      o->set |= SET_INIT;
    } else if (!strcmp(name, "--data")) {
      o->data = val;
    } else if (!strcmp(name, "--out")) {
      o->out = val;
    }
  }
  return 0;
}

/* Fills the recipe fields not given explicitly from the preset. */
void train_options_apply_preset(options *o, const char *preset)
{
  int d2l = !strcmp(preset, "d2l");
  if (!(o->set & SET_SIZE)) o->size = d2l ? 96 : 28;
  int bn = !d2l && model_has_batch_norm(o->model);
  /* the batch-norm network trains at lr 0.1, and takes twice the steps of
   * batch 64 (0.907) to reach 0.913 in 5 epochs at 28x28; the plain one
   * reached 0.902-0.904 at batch 96 where batch 128 sat at 0.899-0.900, for
   * ~8% more time per epoch (docs/training.md) */
  if (!(o->set & SET_BATCH)) o->batch = bn ? 32 : d2l ? 128 : 96;
  /* the plain network's quick recipe: lr 0.04 decayed to 0 by a cosine,
   * weight decay and label smoothing: 0.900 after 5 epochs (batch 128)
   * where lr 0.01 constant reached 0.888 (docs/training.md) */
  if (!(o->set & SET_LR)) o->lr = d2l || bn ? 0.1 : 0.04;
  if (!(o->set & SET_MOMENTUM)) o->momentum = d2l ? 0.0 : 0.9;
  /* weight decay and label smoothing 0.1 as in Inception v3 (both quick
   * recipes; docs/training.md) */
  if (!(o->set & SET_WD)) o->weight_decay = d2l ? 0.0 : 5e-4;
  if (!(o->set & SET_LS)) o->label_smoothing = d2l ? 0.0 : 0.1;
  if (!(o->set & SET_EPOCHS)) o->epochs = d2l ? 10 : 5;
  /* Xavier is the book's; with it this net (no batch norm) sits at loss
   * ln 10 for its first ~200 steps, which the quick recipe cannot afford. */
  if (!(o->set & SET_INIT)) o->init = d2l ? INC_INIT_XAVIER_UNIFORM : INC_INIT_KAIMING_UNIFORM;
  /* With Kaiming weights, the full rate from the first step sometimes
   * kills the net (loss stuck near 2.2 for a whole epoch, seed 1): a short
   * warmup avoids it. Batch norms keep the signal scaled: none. */
  if (!(o->set & SET_WARMUP)) o->warmup = d2l || model_has_batch_norm(o->model) ? 0 : 200;
  /* a cosine decay to 0 settles the last epochs of both quick recipes */
  if (!(o->set & SET_SCHEDULE)) o->schedule = d2l ? SCHEDULE_CONSTANT : SCHEDULE_COSINE;
}

