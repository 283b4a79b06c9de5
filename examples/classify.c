/*
 * classify.c — inference with a checkpoint written by examples/train.
 *
 *   examples/classify [options] CHECKPOINT [IMAGE.pgm ...]
 *
 * Without images it evaluates the Fashion-MNIST test set and prints the
 * accuracy and the confusion matrix. With images (binary PGM, "P5", 8-bit,
 * any size) it prints the predicted class of each. Images are read as the
 * network was trained on Fashion-MNIST: a light item on a dark background,
 * pixel/maxval in [0, 1] (use --invert for a dark item on a light
 * background), resized bilinearly to the checkpoint's input size (its
 * "size" metadata) without keeping the aspect ratio.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "idx.h"
#include "inception.h"
#include "net.h"
#include "openblas_env.h"
#include "util.h"

#define PROG "classify"
#define DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

static void usage(FILE *f)
{
  fprintf(f,
          "usage: examples/classify [options] CHECKPOINT [IMAGE.pgm ...]\n"
          "Runs a GoogLeNet checkpoint written by examples/train.\n"
          "Without images: test accuracy on Fashion-MNIST and the confusion matrix.\n"
          "With images (binary PGM \"P5\", 8-bit, any size): the predicted class of each.\n"
          "Images are resized bilinearly (aspect ratio not kept) to the checkpoint's input\n"
          "size and scaled to [0, 1]; like Fashion-MNIST they should show a light item on a\n"
          "dark background (--invert for dark on light).\n"
          "\n"
          "  --device auto|cpu|cuda  backend (default auto)\n"
          "  --data DIR              Fashion-MNIST IDX files (default " DEFAULT_DATA ")\n"
          "  --test-limit N          evaluate the first N test images only (0 = all)\n"
          "  --batch N               evaluation batch size (default: the checkpoint's)\n"
          "  --threads N             CPU threads (0 = library default)\n"
          "  --invert                use 1 - pixel for image files\n"
          "  --help                  this text\n");
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

int main(int argc, char **argv)
{
  const char *device = "auto", *data = DEFAULT_DATA, *ckpt = NULL;
  long test_limit = 0, batch = 0, threads = 0;
  int invert = 0, nimg = 0;
  const char **images = calloc((size_t)argc, sizeof *images);
  if (!images) return 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      free(images);
      return 0;
    } else if (!strcmp(a, "--invert")) {
      invert = 1;
    } else if (!strcmp(a, "--device") || !strcmp(a, "--data") || !strcmp(a, "--test-limit") ||
               !strcmp(a, "--batch") || !strcmp(a, "--threads")) {
      if (i + 1 >= argc) {
        fprintf(stderr, PROG ": %s needs a value\n", a);
        free(images);
        return 2;
      }
      const char *v = argv[++i];
      int bad = 0;
      if (!strcmp(a, "--device")) {
        device = v;
        bad = strcmp(v, "auto") && strcmp(v, "cpu") && strcmp(v, "cuda");
        if (bad) fprintf(stderr, PROG ": --device must be auto, cpu or cuda\n");
      } else if (!strcmp(a, "--data")) {
        data = v;
      } else if (!strcmp(a, "--test-limit")) {
        bad = parse_long_arg(PROG, a, v, 0, 1L << 30, &test_limit);
      } else if (!strcmp(a, "--batch")) {
        bad = parse_long_arg(PROG, a, v, 1, 1 << 20, &batch);
      } else {
        bad = parse_long_arg(PROG, a, v, 0, 4096, &threads);
      }
      if (bad) {
        free(images);
        return 2;
      }
    } else if (a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, PROG ": unknown option \"%s\" (see --help)\n", a);
      free(images);
      return 2;
    } else if (!ckpt) {
      ckpt = a;
    } else {
      images[nimg++] = a;
    }
  }
  if (!ckpt) {
    usage(stderr);
    free(images);
    return 2;
  }
  inc_example_openblas_env(argv); /* see openblas_env.h: may re-exec */

  int rc = 1;
  char err[1024];
  inc_context *ctx = NULL;
  inc_layer *net = NULL;
  idx_dataset test = {0};
  float *x = NULL;
  int32_t *labels = NULL, *pred = NULL;
  float *prob = NULL;
  inc_status s;

  size_t need = 0;
  s = inc_checkpoint_metadata(ckpt, "size", NULL, 0, &need);
  if (s != INC_OK) {
    fprintf(stderr, PROG ": %s: cannot read the checkpoint: %s\n", ckpt, inc_status_string(s));
    goto done;
  }
  long size = meta_long(ckpt, "size", -1);
  if (size < 1 || size > 4096) {
    fprintf(stderr, PROG ": %s: no valid \"size\" in the metadata; not written by examples/train?\n",
            ckpt);
    goto done;
  }
  if (batch == 0) batch = meta_long(ckpt, "batch", 128);
  if (batch < 1 || batch > (1 << 20)) batch = 128;

  inc_backend want = !strcmp(device, "cpu")    ? INC_BACKEND_CPU
                     : !strcmp(device, "cuda") ? INC_BACKEND_CUDA
                                               : INC_BACKEND_AUTO;
  if ((s = inc_context_create(want, &ctx)) != INC_OK) {
    char why[512] = "";
    if (s == INC_ERR_UNAVAILABLE) (void)inc_backend_probe(want, why, sizeof why);
    fprintf(stderr, PROG ": cannot create a %s context: %s%s%s\n", device, inc_status_string(s),
            why[0] ? ": " : "", why);
    goto done;
  }
  if (threads > 0 && (s = inc_context_set_num_threads(ctx, (int)threads)) != INC_OK) {
    report_inc(PROG, "inc_context_set_num_threads", ctx, s);
    goto done;
  }
  if ((s = inc_googlenet_create(ctx, FMNIST_CLASSES, &net)) != INC_OK) {
    report_inc(PROG, "inc_googlenet_create", ctx, s);
    goto done;
  }
  int64_t in[4] = {1, 1, size, size}, od[INC_MAX_DIMS];
  int ond = 0;
  if ((s = inc_layer_infer_shape(net, 4, in, &ond, od)) != INC_OK) {
    report_inc(PROG, "inc_layer_infer_shape", ctx, s);
    goto done;
  }
  if ((s = inc_checkpoint_load(net, NULL, ckpt)) != INC_OK) {
    report_inc(PROG, "inc_checkpoint_load", ctx, s);
    goto done;
  }
  size_t plane = (size_t)size * (size_t)size;

  if (nimg == 0) {
    /* -- the test set: accuracy and confusion matrix -- */
    if (idx_load_dataset(data, "t10k", 28, 28, FMNIST_CLASSES, &test, err, sizeof err) != IDX_OK) {
      fprintf(stderr, PROG ": Fashion-MNIST: %s\n", err);
      goto done;
    }
    size_t n = test.count;
    if (test_limit > 0 && (size_t)test_limit < n) n = (size_t)test_limit;
    x = malloc(n * plane * sizeof *x);
    labels = malloc(n * sizeof *labels);
    pred = malloc(n * sizeof *pred);
    if (!x || !labels || !pred || dataset_to_float(&test, 0, n, (int)size, x) != 0) {
      fprintf(stderr, PROG ": out of memory\n");
      goto done;
    }
    for (size_t i = 0; i < n; i++) labels[i] = test.label[i];
    int64_t correct = 0;
    if ((s = evaluate(ctx, net, x, labels, (int64_t)n, (int)size, (int)batch, &correct, NULL, pred,
                      NULL, NULL, NULL)) != INC_OK) {
      report_inc(PROG, "evaluating the test set", ctx, s);
      goto done;
    }
    long cm[FMNIST_CLASSES][FMNIST_CLASSES];
    memset(cm, 0, sizeof cm);
    for (size_t i = 0; i < n; i++) cm[labels[i]][pred[i]]++;
    printf("checkpoint %s, input %ldx%ld, %s\n", ckpt, size, size, inc_context_device_name(ctx));
    printf("test acc %.3f  (%lld/%zu correct)\n", n ? (double)correct / (double)n : 0.0,
           (long long)correct, n);
    printf("\nconfusion matrix (rows: true class, columns: predicted class)\n");
    printf("%-16s", "");
    for (int j = 0; j < FMNIST_CLASSES; j++) printf("%6d", j);
    printf("  recall\n");
    for (int i = 0; i < FMNIST_CLASSES; i++) {
      long tot = 0;
      for (int j = 0; j < FMNIST_CLASSES; j++) tot += cm[i][j];
      printf("%d %-14s", i, fmnist_class_names[i]);
      for (int j = 0; j < FMNIST_CLASSES; j++) printf("%6ld", cm[i][j]);
      if (tot)
        printf("  %6.3f\n", (double)cm[i][i] / (double)tot);
      else
        printf("  %6s\n", "-");
    }
    rc = 0;
  } else {
    /* -- image files -- */
    x = malloc((size_t)nimg * plane * sizeof *x);
    pred = malloc((size_t)nimg * sizeof *pred);
    prob = malloc((size_t)nimg * sizeof *prob);
    int *ok = calloc((size_t)nimg, sizeof *ok);
    if (!x || !pred || !prob || !ok) {
      free(ok);
      fprintf(stderr, PROG ": out of memory\n");
      goto done;
    }
    int good = 0, bad = 0;
    for (int i = 0; i < nimg; i++) {
      int w, h;
      float *px = NULL;
      if (pgm_read(images[i], &w, &h, &px, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        bad++;
        continue;
      }
      if (invert)
        for (size_t k = 0; k < (size_t)w * (size_t)h; k++) px[k] = 1.f - px[k];
      if (resize_bilinear(px, h, w, x + (size_t)good * plane, (int)size, (int)size) != 0) {
        fprintf(stderr, PROG ": out of memory\n");
        free(px);
        free(ok);
        goto done;
      }
      free(px);
      ok[i] = 1;
      good++;
    }
    if (good > 0 && (s = evaluate(ctx, net, x, NULL, good, (int)size, (int)batch, NULL, NULL, pred,
                                  prob, NULL, NULL)) != INC_OK) {
      free(ok);
      report_inc(PROG, "classifying", ctx, s);
      goto done;
    }
    for (int i = 0, k = 0; i < nimg; i++) {
      if (!ok[i]) continue;
      printf("%s: %s (%d, p=%.3f)\n", images[i], fmnist_class_names[pred[k]], (int)pred[k],
             (double)prob[k]);
      k++;
    }
    free(ok);
    rc = bad ? 1 : 0;
  }

done:
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
  idx_dataset_free(&test);
  free(x), free(labels), free(pred), free(prob);
  free(images);
  return rc;
}
