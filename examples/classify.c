/*
 * classify.c — inference with a checkpoint written by examples/train.
 *
 *   examples/classify [options] CHECKPOINT [IMAGE ...]
 *
 * Without images it evaluates the Fashion-MNIST test set and prints the
 * accuracy and the confusion matrix. With images (PNG or PGM, any size and
 * colour type; --test-image N adds image N of the test set) it prints, for
 * each, the predicted class and the three most probable classes with their
 * softmax probabilities. Images are turned into the network's input as
 * image.h describes: gray in [0, 1], a light item on a dark background like
 * Fashion-MNIST (--invert for a dark item on a light background), resized
 * to 28 x 28 and then exactly as the trainer resizes the data set to the
 * checkpoint's input size (its "size" metadata). --dump-input writes those
 * inputs to a file, so a test can check that a PNG of a test image becomes
 * the very tensor the data set gives.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "idx.h"
#include "image.h"
#include "inception.h"
#include "net.h"
#include "openblas_env.h"
#include "recipe.h"
#include "util.h"

#define PROG "classify"
#define DEFAULT_DATA "/usr/share/datasets/fashion-mnist"
#define TOP 3

static void usage(FILE *f)
{
  fprintf(f,
          "usage: examples/classify [options] CHECKPOINT [IMAGE ...]\n"
          "Runs a GoogLeNet checkpoint written by examples/train.\n"
          "Without images: test accuracy on Fashion-MNIST and the confusion matrix.\n"
          "With images (PNG, or PGM: plain P2 or binary P5, 8 or 16 bits): for each, the\n"
          "predicted class and the top %d classes with their probabilities. Images become\n"
          "gray (luma 0.299 R + 0.587 G + 0.114 B, transparent = black) in [0, 1], are\n"
          "resized to 28x28 (area averaging; bilinear when enlarging), then bilinearly to\n"
          "the checkpoint's input size like the training data; aspect ratio not kept.\n"
          "Like Fashion-MNIST they should show a light item on a dark background\n"
          "(--invert for dark on light).\n"
          "\n"
          "  --device auto|cpu|cuda  backend (default auto)\n"
          "  --data DIR              Fashion-MNIST IDX files (default " DEFAULT_DATA ")\n"
          "  --test-limit N          evaluate the first N test images only (0 = all)\n"
          "  --batch N               evaluation batch size (default: the checkpoint's)\n"
          "  --threads N             CPU threads (0 = library default)\n"
          "  --invert                use 1 - pixel for image files\n"
          "  --test-image N          also classify image N (0-based) of the test set, as the\n"
          "                          trainer sees it (may be repeated)\n"
          "  --digits N              decimals of the probabilities (default 3)\n"
          "  --dump-input FILE       write the network inputs of the images (float32, host\n"
          "                          byte order, one size x size plane per image, in order)\n"
          "  --export-onnx FILE      write the checkpoint's model as ONNX (opset 13); then\n"
          "                          only the images given, if any, are classified\n"
          "  --help                  this text\n",
          TOP);
}

/* One input of the image mode: a file, or (file == NULL) a test image. */
typedef struct item {
  const char *file;
  long test_index;
} item;

typedef struct options {
  const char *device, *data, *ckpt, *dump, *onnx;
  long test_limit, batch, threads, digits;
  int invert, nitems;
  item *items; /* (argc) */
} options;

/* Parses the command line. Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, options *o)
{
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--invert")) {
      o->invert = 1;
    } else if (!strcmp(a, "--device") || !strcmp(a, "--data") || !strcmp(a, "--test-limit") ||
               !strcmp(a, "--batch") || !strcmp(a, "--threads") || !strcmp(a, "--digits") ||
               !strcmp(a, "--test-image") || !strcmp(a, "--dump-input") ||
               !strcmp(a, "--export-onnx")) {
      if (i + 1 >= argc) {
        fprintf(stderr, PROG ": %s needs a value\n", a);
        return 2;
      }
      const char *v = argv[++i];
      int bad = 0;
      long idx = 0;
      if (!strcmp(a, "--device")) {
        o->device = v;
        bad = strcmp(v, "auto") && strcmp(v, "cpu") && strcmp(v, "cuda");
        if (bad) fprintf(stderr, PROG ": --device must be auto, cpu or cuda\n");
      } else if (!strcmp(a, "--data")) {
        o->data = v;
      } else if (!strcmp(a, "--dump-input")) {
        o->dump = v;
      } else if (!strcmp(a, "--export-onnx")) {
        o->onnx = v;
      } else if (!strcmp(a, "--test-limit")) {
        bad = parse_long_arg(PROG, a, v, 0, 1L << 30, &o->test_limit);
      } else if (!strcmp(a, "--batch")) {
        bad = parse_long_arg(PROG, a, v, 1, 1 << 20, &o->batch);
      } else if (!strcmp(a, "--digits")) {
        bad = parse_long_arg(PROG, a, v, 0, 9, &o->digits);
      } else if (!strcmp(a, "--test-image")) {
        bad = parse_long_arg(PROG, a, v, 0, 1L << 30, &idx);
        if (!bad) o->items[o->nitems++] = (item){NULL, idx};
      } else {
        bad = parse_long_arg(PROG, a, v, 0, 4096, &o->threads);
      }
      if (bad) return 2;
    } else if (a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, PROG ": unknown option \"%s\" (see --help)\n", a);
      return 2;
    } else if (!o->ckpt) {
      o->ckpt = a;
    } else {
      o->items[o->nitems++] = (item){a, -1};
    }
  }
  if (!o->ckpt) {
    usage(stderr);
    return 2;
  }
  return -1;
}

static long meta_long(const char *path, const char *key, long dflt)
{
  char buf[64];
  size_t need = 0;
  if (inc_checkpoint_metadata(path, key, buf, sizeof buf, &need) != INC_OK || need == 0 ||
      need > sizeof buf)
    return dflt;
  char *end;
  long v = strtol(buf, &end, 10);
  return end != buf && *end == '\0' ? v : dflt;
}

/* The class names: the checkpoint's "classes" metadata (comma-separated)
 * when it names exactly FMNIST_CLASSES classes, else Fashion-MNIST's. buf
 * holds the parsed names. */
static void class_names(const char *ckpt, char *buf, size_t cap, const char *names[])
{
  for (int k = 0; k < FMNIST_CLASSES; k++) names[k] = fmnist_class_names[k];
  size_t need = 0;
  if (inc_checkpoint_metadata(ckpt, "classes", buf, cap, &need) != INC_OK || need == 0) return;
  const char *got[FMNIST_CLASSES];
  int n = 0;
  char *p = buf;
  while (need <= cap && n <= FMNIST_CLASSES) {
    char *comma = strchr(p, ',');
    if (comma) *comma = '\0';
    if (!*p) { /* an empty name: not a usable list */
      n = -1;
      break;
    }
    if (n < FMNIST_CLASSES) got[n] = p;
    n++;
    if (!comma) break;
    p = comma + 1;
  }
  if (n != FMNIST_CLASSES) {
    fprintf(stderr, PROG ": %s: \"classes\" metadata does not name %d classes; using the "
            "Fashion-MNIST names\n", ckpt, FMNIST_CLASSES);
    return;
  }
  for (int k = 0; k < FMNIST_CLASSES; k++) names[k] = got[k];
}

/* The model state shared by both modes. */
typedef struct session {
  inc_context *ctx;
  inc_layer *net;
  long size, batch;
} session;

/* Creates the context and the net, loads the checkpoint. Returns 0 or -1
 * (after a message). */
static int session_open(const options *o, session *ss)
{
  const char *ckpt = o->ckpt;
  size_t need = 0;
  inc_status s = inc_checkpoint_metadata(ckpt, "size", NULL, 0, &need);
  if (s != INC_OK) {
    fprintf(stderr, PROG ": %s: cannot read the checkpoint: %s\n", ckpt, inc_status_string(s));
    return -1;
  }
  ss->size = meta_long(ckpt, "size", -1);
  if (ss->size < 1 || ss->size > 4096) {
    fprintf(stderr,
            PROG ": %s: no valid \"size\" in the metadata; not written by examples/train?\n",
            ckpt);
    return -1;
  }
  ss->batch = o->batch ? o->batch : meta_long(ckpt, "batch", 128);
  if (ss->batch < 1 || ss->batch > (1 << 20)) ss->batch = 128;

  inc_backend want = !strcmp(o->device, "cpu")    ? INC_BACKEND_CPU
                     : !strcmp(o->device, "cuda") ? INC_BACKEND_CUDA
                                                  : INC_BACKEND_AUTO;
  if ((s = inc_context_create(want, &ss->ctx)) != INC_OK) {
    char why[512] = "";
    if (s == INC_ERR_UNAVAILABLE) (void)inc_backend_probe(want, why, sizeof why);
    fprintf(stderr, PROG ": cannot create a %s context: %s%s%s\n", o->device,
            inc_status_string(s), why[0] ? ": " : "", why);
    return -1;
  }
  const char *what = "inc_context_set_num_threads";
  if (o->threads > 0) s = inc_context_set_num_threads(ss->ctx, (int)o->threads);
  char *model = s == INC_OK ? recipe_model(PROG, ckpt) : NULL;
  if (s == INC_OK && !model) return -1;
  if (s == INC_OK) what = "inc_googlenet_create_desc";
  /* a dropout has no tensor and passes its input on in evaluation: none */
  if (s == INC_OK) s = model_create(ss->ctx, model, FMNIST_CLASSES, 0.0f, &ss->net);
  free(model);
  int64_t in[4] = {1, 1, ss->size, ss->size}, od[INC_MAX_DIMS];
  int ond = 0;
  if (s == INC_OK) what = "inc_layer_infer_shape";
  if (s == INC_OK) s = inc_layer_infer_shape(ss->net, 4, in, &ond, od);
  if (s == INC_OK) what = "inc_checkpoint_load";
  if (s == INC_OK) s = inc_checkpoint_load(ss->net, NULL, ckpt);
  if (s != INC_OK) {
    report_inc(PROG, what, ss->ctx, s);
    return -1;
  }
  return 0;
}

/* Test-set mode: accuracy and the confusion matrix. */
static int run_test_set(const options *o, session *ss, const char *const names[])
{
  char err[1024];
  idx_dataset test = {0};
  if (idx_load_dataset(o->data, "t10k", 28, 28, FMNIST_CLASSES, &test, err, sizeof err) != IDX_OK) {
    fprintf(stderr, PROG ": Fashion-MNIST: %s\n", err);
    return 1;
  }
  size_t n = test.count, plane = (size_t)ss->size * (size_t)ss->size;
  if (o->test_limit > 0 && (size_t)o->test_limit < n) n = (size_t)o->test_limit;
  float *x = malloc(n * plane * sizeof *x);
  int32_t *labels = malloc(n * sizeof *labels), *pred = malloc(n * sizeof *pred);
  int rc = 1;
  int64_t correct = 0;
  inc_status s;
  if (!x || !labels || !pred || dataset_to_float(&test, 0, n, (int)ss->size, x) != 0) {
    fprintf(stderr, PROG ": out of memory\n");
    goto done;
  }
  for (size_t i = 0; i < n; i++) labels[i] = test.label[i];
  if ((s = evaluate(ss->ctx, ss->net, x, labels, (int64_t)n, (int)ss->size, (int)ss->batch,
                    &correct, NULL, pred, NULL, NULL, NULL)) != INC_OK) {
    report_inc(PROG, "evaluating the test set", ss->ctx, s);
    goto done;
  }
  long cm[FMNIST_CLASSES][FMNIST_CLASSES];
  memset(cm, 0, sizeof cm);
  for (size_t i = 0; i < n; i++) cm[labels[i]][pred[i]]++;
  printf("checkpoint %s, input %ldx%ld, %s\n", o->ckpt, ss->size, ss->size,
         inc_context_device_name(ss->ctx));
  printf("test acc %.3f  (%lld/%zu correct)\n", n ? (double)correct / (double)n : 0.0,
         (long long)correct, n);
  printf("\nconfusion matrix (rows: true class, columns: predicted class)\n");
  printf("%-16s", "");
  for (int j = 0; j < FMNIST_CLASSES; j++) printf("%6d", j);
  printf("  recall\n");
  for (int i = 0; i < FMNIST_CLASSES; i++) {
    long tot = 0;
    for (int j = 0; j < FMNIST_CLASSES; j++) tot += cm[i][j];
    printf("%d %-14s", i, names[i]);
    for (int j = 0; j < FMNIST_CLASSES; j++) printf("%6ld", cm[i][j]);
    if (tot)
      printf("  %6.3f\n", (double)cm[i][i] / (double)tot);
    else
      printf("  %6s\n", "-");
  }
  rc = 0;
done:
  idx_dataset_free(&test);
  free(x), free(labels), free(pred);
  return rc;
}

/* The network input of one item into out (size x size). Returns 0, or -1
 * after a message on stderr. test is loaded on first use. */
static int item_input(const options *o, const item *it, int size, idx_dataset *test,
                      int *test_loaded, float *out)
{
  char err[1024];
  if (it->file) {
    image img;
    if (image_load(it->file, &img, err, sizeof err) != 0) {
      fprintf(stderr, PROG ": %s\n", err);
      return -1;
    }
    int rc = image_to_input(&img, o->invert, size, out);
    image_free(&img);
    if (rc != 0) fprintf(stderr, PROG ": %s: out of memory\n", it->file);
    return rc;
  }
  if (!*test_loaded) {
    if (idx_load_dataset(o->data, "t10k", 28, 28, FMNIST_CLASSES, test, err, sizeof err) !=
        IDX_OK) {
      fprintf(stderr, PROG ": Fashion-MNIST: %s\n", err);
      return -1;
    }
    *test_loaded = 1;
  }
  if ((size_t)it->test_index >= test->count) {
    fprintf(stderr, PROG ": --test-image %ld: the test set has %zu images\n", it->test_index,
            test->count);
    return -1;
  }
  if (dataset_to_float(test, (size_t)it->test_index, 1, size, out) != 0) {
    fprintf(stderr, PROG ": out of memory\n");
    return -1;
  }
  return 0;
}

/* Softmax of one row of logits (in double, max subtracted) into p. */
static void softmax(const float *logits, int n, double *p)
{
  double m = logits[0], z = 0;
  for (int k = 1; k < n; k++)
    if (logits[k] > m) m = logits[k];
  for (int k = 0; k < n; k++) z += p[k] = exp((double)logits[k] - m);
  for (int k = 0; k < n; k++) p[k] /= z;
}

/* The report for one image: "NAME: CLASS (INDEX, p=P)", then the top
 * classes, "  1. Ankle boot   0.913", most probable first (ties: lower
 * index first). */
static void print_top(const options *o, const item *it, const idx_dataset *test,
                      const float *logits, const char *const names[])
{
  double p[FMNIST_CLASSES];
  int order[FMNIST_CLASSES], width = 0, digits = (int)o->digits;
  softmax(logits, FMNIST_CLASSES, p);
  for (int k = 0; k < FMNIST_CLASSES; k++) {
    order[k] = k;
    int len = (int)strlen(names[k]);
    if (len > width) width = len;
  }
  for (int i = 0; i < TOP && i < FMNIST_CLASSES; i++) /* selection of the top */
    for (int k = i + 1; k < FMNIST_CLASSES; k++)
      if (p[order[k]] > p[order[i]] || (p[order[k]] == p[order[i]] && order[k] < order[i])) {
        int t = order[i];
        order[i] = order[k];
        order[k] = t;
      }
  if (it->file)
    printf("%s: ", it->file);
  else
    printf("test image %ld (true class %s): ", it->test_index,
           names[test->label[it->test_index]]);
  printf("%s (%d, p=%.*f)\n", names[order[0]], order[0], digits, p[order[0]]);
  for (int i = 0; i < TOP && i < FMNIST_CLASSES; i++)
    printf("  %d. %-*s  %.*f\n", i + 1, width, names[order[i]], digits, p[order[i]]);
}

/* Image mode. Returns 0, or 1 when an image could not be classified (the
 * others still are). */
static int run_images(const options *o, session *ss, const char *const names[])
{
  size_t plane = (size_t)ss->size * (size_t)ss->size, n = (size_t)o->nitems;
  float *x = malloc(n * plane * sizeof *x);
  float *logits = malloc(n * FMNIST_CLASSES * sizeof *logits);
  int *ok = calloc(n, sizeof *ok), test_loaded = 0, rc = 1, good = 0, bad = 0;
  idx_dataset test = {0};
  char err[1024];
  inc_status s;
  if (!x || !logits || !ok) {
    fprintf(stderr, PROG ": out of memory\n");
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    float *in = x + (size_t)good * plane;
    if (item_input(o, &o->items[i], (int)ss->size, &test, &test_loaded, in) != 0) {
      bad++;
      continue;
    }
    ok[i] = 1;
    good++;
  }
  if (o->dump &&
      write_file_atomic(o->dump, x, (size_t)good * plane * sizeof *x, err, sizeof err) != 0) {
    fprintf(stderr, PROG ": %s\n", err);
    goto done;
  }
  if (good > 0 && (s = infer_logits(ss->ctx, ss->net, x, good, (int)ss->size, (int)ss->batch,
                                    FMNIST_CLASSES, logits)) != INC_OK) {
    report_inc(PROG, "classifying", ss->ctx, s);
    goto done;
  }
  for (size_t i = 0, k = 0; i < n; i++)
    if (ok[i]) print_top(o, &o->items[i], &test, logits + FMNIST_CLASSES * k++, names);
  rc = bad ? 1 : 0;
done:
  idx_dataset_free(&test);
  free(x), free(logits), free(ok);
  return rc;
}

int main(int argc, char **argv)
{
  options o = {"auto", DEFAULT_DATA, NULL, NULL, NULL, 0, 0, 0, 3, 0, 0, NULL};
  o.items = calloc((size_t)argc, sizeof *o.items);
  if (!o.items) return 1;
  int rc = parse_args(argc, argv, &o);
  if (rc >= 0) {
    free(o.items);
    return rc;
  }
  inc_example_openblas_env(argv); /* see openblas_env.h: may re-exec */

  session ss = {NULL, NULL, 0, 0};
  char namebuf[4096];
  const char *names[FMNIST_CLASSES];
  rc = 1;
  if (session_open(&o, &ss) == 0) {
    class_names(o.ckpt, namebuf, sizeof namebuf, names);
    inc_status s = o.onnx ? inc_layer_export_onnx(ss.net, o.onnx) : INC_OK;
    if (s != INC_OK)
      report_inc(PROG, "inc_layer_export_onnx", ss.ctx, s);
    else if (o.onnx)
      printf("ONNX model in %s\n", o.onnx);
    if (s == INC_OK && (o.nitems > 0 || !o.onnx))
      rc = o.nitems == 0 ? run_test_set(&o, &ss, names) : run_images(&o, &ss, names);
    else if (s == INC_OK)
      rc = 0;
  }
  inc_layer_destroy(ss.net);
  inc_context_destroy(ss.ctx);
  free(o.items);
  return rc;
}
