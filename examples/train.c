/*
 * train.c — trains the D2L GoogLeNet on Fashion-MNIST with libinception,
 * the way "Dive into Deep Learning" (ch. 8.4, Multi-Branch Networks) does:
 * images resized bilinearly, minibatch SGD, softmax cross-entropy, test
 * accuracy after every epoch, the book's summary and training curve.
 *
 *   examples/train [--device auto|cpu|cuda] [--preset d2l|quick] [options]
 *
 * See train_options.c or `examples/train --help`. Everything goes through the
 * public API in inception.h.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "curve.h"
#include "data.h"
#include "idx.h"
#include "inception.h"
#include "net.h"
#include "openblas_env.h"
#include "progress.h"
#include "recipe.h"
#include "train_dist.h"
#include "train_results.h"
#include "train_options.h"
#include "util.h"

#define PROG "train"
#define MAX_EPOCHS TRAIN_MAX_EPOCHS

static volatile sig_atomic_t g_interrupted = 0;

static void on_sigint(int sig)
{
  (void)sig;
  g_interrupted = 1;
  signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends the program at once */
}

/* ---- main --------------------------------------------------------------- */

typedef struct eval_tick_arg {
  progress *p;
  int64_t n;
} eval_tick_arg;

static void eval_tick(void *arg, int64_t done)
{
  eval_tick_arg *a = arg;
  char note[96];
  snprintf(note, sizeof note, "evaluating %lld/%lld test images", (long long)done, (long long)a->n);
  progress_note(a->p, note);
}

int main(int argc, char **argv)
{
  options o;
  train_options_defaults(&o);
  int pr = train_options_parse(argc, argv, &o);
  /* OpenBLAS may pick generic kernels on CPUs newer than itself: re-exec
   * with OPENBLAS_CORETYPE set where that helps (docs/performance.md). */
  const char *blas_line = pr == 0 ? inc_example_openblas_env(argv) : NULL;
  if (pr == 1) {
    train_options_usage(stdout);
    return 0;
  }
  if (pr < 0) return 2;
  /* under mpirun: this process's rank of the job (docs/distributed.md) */
  train_dist td;
  if (train_dist_init(&td, PROG) != 0) return train_dist_finish(&td, 1, 0);

  int rc = 1;
  char err[1024];
  inc_context *ctx = NULL;
  inc_layer *net = NULL;
  inc_optimizer *opt = NULL;
  idx_dataset train = {0}, test = {0};
  float *train_x = NULL, *test_x = NULL, *xb = NULL;
  int32_t *train_y = NULL, *test_y = NULL, *yb = NULL;
  uint32_t *perm = NULL;
  row *rows = NULL;
  batch_tensors bx = {{NULL, NULL}, {0, 0}}, bdl = {{NULL, NULL}, {0, 0}};
  char ckpt[4200] = "";
  int start_epoch = 1, nrows = 0;
  curve cv = {NULL, 0, 0}; /* train loss and accuracy within epochs */
  int everywhere = 0;      /* every rank of the job stops here with rc */
  inc_status s;

  /* -- backend and preset -- */
  inc_backend want = !strcmp(o.device, "cpu")    ? INC_BACKEND_CPU
                     : !strcmp(o.device, "cuda") ? INC_BACKEND_CUDA
                                                 : INC_BACKEND_AUTO;
  s = inc_context_create(want, &ctx);
  if (s != INC_OK) {
    char why[512] = "";
    if (s == INC_ERR_UNAVAILABLE) (void)inc_backend_probe(want, why, sizeof why);
    fprintf(stderr, PROG ": cannot create a %s context: %s%s%s%s\n", o.device,
            inc_status_string(s), why[0] ? ": " : "", why,
            s == INC_ERR_UNAVAILABLE ? " (try --device cpu)" : "");
    return train_dist_finish(&td, 1, 0);
  }
  if (o.threads > 0 && (s = inc_context_set_num_threads(ctx, o.threads)) != INC_OK) {
    report_inc(PROG, "inc_context_set_num_threads", ctx, s);
    goto done;
  }
  if (o.bf16 && (s = inc_context_set_precision(ctx, INC_PRECISION_BF16)) != INC_OK) {
    report_inc(PROG, "inc_context_set_precision", ctx, s);
    goto done;
  }
  int on_cuda = inc_context_backend(ctx) == INC_BACKEND_CUDA;
  const char *preset = o.preset ? o.preset : on_cuda ? "d2l" : "quick";
  train_options_apply_preset(&o, preset);
  if (train_dist_check_batch(&td, PROG, o.batch) != 0) {
    inc_context_destroy(ctx); /* every rank knows it: no need to end the job */
    return train_dist_finish(&td, 2, 1);
  }

  /* -- resume: the recipe comes from the checkpoint -- */
  rows = calloc(MAX_EPOCHS + 1, sizeof *rows);
  if (!rows) {
    fprintf(stderr, PROG ": out of memory\n");
    goto done;
  }
  if (o.resume) {
    int k = newest_checkpoint(o.out, ckpt, sizeof ckpt, err, sizeof err);
    if (k < 0) {
      fprintf(stderr, PROG ": %s\n", err);
      goto done;
    }
    if (k == 0) {
      if (td.rank == 0)
        fprintf(stderr, PROG ": --resume: no checkpoint in %s, starting from epoch 1\n", o.out);
      ckpt[0] = '\0';
    } else {
      int epoch = 0;
      if (recipe_from_checkpoint(ckpt, &o, &epoch) != 0) goto done;
      char *mv = recipe_meta_get(ckpt, "metrics");
      nrows = mv ? parse_rows(mv, rows, MAX_EPOCHS) : -1;
      free(mv);
      if (nrows != epoch) {
        fprintf(stderr, PROG ": %s: metadata \"metrics\" missing or malformed\n", ckpt);
        goto done;
      }
      start_epoch = epoch + 1;
      if (curve_load(&cv, o.out, (double)epoch, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        goto done;
      }
      /* the shuffle of the next epoch is a function of seed and epoch only;
       * the stored state is a cross-check of that */
      char *rv = recipe_meta_get(ckpt, "rng");
      char expect[32];
      snprintf(expect, sizeof expect, "%016llx",
               (unsigned long long)epoch_rng_state(o.seed, start_epoch));
      if (rv && strcmp(rv, expect) != 0)
        fprintf(stderr, PROG ": warning: %s: shuffle state %s, this trainer computes %s\n", ckpt,
                rv, expect);
      free(rv);
    }
  }

  const char *device = inc_context_device_name(ctx);
  char aug_name[40];
  printf("libinception %s on %s; %s\n", inc_version_string(), device, blas_line);
  if (o.bf16) printf("precision: bf16 (conv and dense GEMM inputs rounded to bf16, float32 sums)\n");
  printf("recipe: %s%s, model %s, size %d, batch %d, lr %g, momentum %g, weight decay %g, "
         "epochs %d, init %s, warmup %ld, schedule %s, label smoothing %g, dropout %g, "
         "augment %s, seed %llu\n",
         ckpt[0] ? "resumed from " : "preset ", ckpt[0] ? ckpt : preset, o.model, o.size, o.batch,
         o.lr, o.momentum, o.weight_decay, o.epochs, train_init_name(o.init), o.warmup,
         train_schedule_name(o.schedule), o.label_smoothing, o.dropout,
         augment_name(&o.aug, aug_name, sizeof aug_name), o.seed);

  /* -- network: the lecture's shape table binds it -- */
  if ((s = inc_context_set_seed(ctx, o.seed)) != INC_OK) {
    report_inc(PROG, "inc_context_set_seed", ctx, s);
    goto done;
  }
  if ((s = model_create(ctx, o.model, FMNIST_CLASSES, (float)o.dropout, &net)) != INC_OK) {
    report_inc(PROG, "inc_googlenet_create_desc", ctx, s);
    goto done;
  }
  if ((s = inc_layer_initialize(net, o.init, 0)) != INC_OK) {
    report_inc(PROG, "inc_layer_initialize", ctx, s);
    goto done;
  }
  if ((s = print_shape_table(ctx, net, o.size, stdout)) != INC_OK) {
    report_inc(PROG, "inc_layer_infer_shape", ctx, s);
    goto done;
  }
  printf("parameters: %lld\n", (long long)inc_layer_param_numel(net));
  if (o.dry_run) {
    rc = 0;
    goto done;
  }

  if (mkdir_p(o.out, err, sizeof err) != 0) {
    fprintf(stderr, PROG ": %s\n", err);
    goto done;
  }

  /* -- data -- */
  double t_load = now_seconds();
  if (idx_load_dataset(o.data, "train", 28, 28, FMNIST_CLASSES, &train, err, sizeof err) !=
          IDX_OK ||
      idx_load_dataset(o.data, "t10k", 28, 28, FMNIST_CLASSES, &test, err, sizeof err) != IDX_OK) {
    fprintf(stderr, PROG ": Fashion-MNIST: %s\n", err);
    goto done;
  }
  size_t n_train = train.count, n_test = test.count;
  if (o.limit > 0 && (size_t)o.limit < n_train) n_train = (size_t)o.limit;
  if (o.test_limit > 0 && (size_t)o.test_limit < n_test) n_test = (size_t)o.test_limit;
  size_t plane = (size_t)o.size * (size_t)o.size;
  train_x = malloc(n_train * plane * sizeof(float));
  test_x = malloc(n_test * plane * sizeof(float));
  train_y = malloc(n_train * sizeof(int32_t));
  test_y = malloc(n_test * sizeof(int32_t));
  perm = malloc(n_train * sizeof(uint32_t));
  xb = malloc((size_t)o.batch * plane * sizeof(float));
  yb = malloc((size_t)o.batch * sizeof(int32_t));
  if (!train_x || !test_x || !train_y || !test_y || !perm || !xb || !yb ||
      dataset_to_float(&train, 0, n_train, o.size, train_x) != 0 ||
      dataset_to_float(&test, 0, n_test, o.size, test_x) != 0) {
    fprintf(stderr, PROG ": out of memory for %zu + %zu images of %dx%d\n", n_train, n_test,
            o.size, o.size);
    goto done;
  }
  for (size_t i = 0; i < n_train; i++) train_y[i] = train.label[i];
  for (size_t i = 0; i < n_test; i++) test_y[i] = test.label[i];
  printf("data: %zu training and %zu test images from %s, %dx%d (%.1f s)\n", n_train, n_test,
         o.data, o.size, o.size, now_seconds() - t_load);
  idx_dataset_free(&train);
  idx_dataset_free(&test);

  if ((s = inc_sgd_create(ctx, (float)o.lr, (float)o.momentum, (float)o.weight_decay, &opt)) !=
      INC_OK) {
    report_inc(PROG, "inc_sgd_create", ctx, s);
    goto done;
  }
  if (ckpt[0]) {
    if ((s = inc_checkpoint_load(net, opt, ckpt)) != INC_OK) {
      report_inc(PROG, "inc_checkpoint_load", ctx, s);
      goto done;
    }
    printf("resumed from %s (epoch %d done)\n", ckpt, start_epoch - 1);
    for (int i = 0; i < nrows; i++)
      printf("epoch %d/%d  loss %.3f  train acc %.3f  test acc %.3f  %.0f img/s\n",
             rows[i].epoch, o.epochs, rows[i].loss, rows[i].train_acc, rows[i].test_acc,
             rows[i].img_per_s);
  }
  fflush(stdout);
  /* every rank starts from rank 0's weights; gradients are summed from now on */
  if ((s = train_dist_attach(&td, net, err, sizeof err)) != INC_OK) {
    fprintf(stderr, PROG ": rank %d: %s\n", td.rank, err);
    goto done;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);

  /* -- training -- */
  run_info ri = {&o, ctx, device, n_train, n_test, td.size, 0};
  size_t batches = (n_train + (size_t)o.batch - 1) / (size_t)o.batch;
  for (int epoch = start_epoch; epoch <= o.epochs; epoch++) {
    uint64_t st = epoch_rng_state(o.seed, epoch);
    /* dropout masks come from the context's random streams: reseeded from
     * (seed, epoch) at each epoch, so that a resumed run draws what the
     * uninterrupted one drew */
    if (o.dropout > 0 &&
        (s = inc_context_set_seed(ctx, (epoch_rng_state(o.seed, epoch) ^ 0x6a09e667f3bcc909ULL) +
                                           (uint64_t)td.rank)) != INC_OK) {
      report_inc(PROG, "inc_context_set_seed", ctx, s);
      goto done;
    }
    shuffle_permutation(perm, n_train, &st);
    progress p;
    progress_begin(&p, -1, o.progress_every, epoch, o.epochs, batches, n_train);
    double t0 = now_seconds(), loss_sum = 0;
    int64_t correct_sum = 0;
    size_t done_imgs = 0;
    for (size_t b = 0; b < batches; b++) {
      size_t b0 = b * (size_t)o.batch;
      size_t m = n_train - b0 < (size_t)o.batch ? n_train - b0 : (size_t)o.batch;
      /* this rank's rows of the global batch; one without any runs the
       * batch's first row with a zero loss gradient (train_dist.h) */
      size_t first, cnt;
      train_dist_shard(&td, m, &first, &cnt);
      size_t rows_here = cnt ? cnt : 1;
      if (!cnt) first = 0;
      for (size_t i = 0; i < rows_here; i++) {
        size_t k = perm[b0 + first + i];
        augment_image(xb + i * plane, train_x + k * plane, o.size, &o.aug, o.seed, epoch, k);
        yb[i] = train_y[k];
      }
      train_dist_watch(&td, 1);
      inc_tensor *x, *dl;
      const inc_tensor *y;
      float loss = 0;
      int64_t correct = 0;
      if ((s = batch_tensor_get(ctx, &bx, (int64_t)rows_here, 1, o.size, o.size, &x)) != INC_OK ||
          (s = inc_tensor_copy_from_host(x, xb, (int64_t)(rows_here * plane))) != INC_OK) {
        progress_end(&p);
        report_inc(PROG, "copying a batch", ctx, s);
        goto done;
      }
      if ((s = inc_layer_forward(net, x, 1, &y)) != INC_OK) {
        progress_end(&p);
        report_inc(PROG, "inc_layer_forward", ctx, s);
        goto done;
      }
      if ((s = batch_tensor_get(ctx, &bdl, (int64_t)rows_here, FMNIST_CLASSES, 0, 0, &dl)) !=
              INC_OK ||
          (s = inc_softmax_cross_entropy_smoothed(ctx, y, yb, (float)o.label_smoothing, &loss, dl,
                                                  &correct)) != INC_OK ||
          (s = train_dist_scale(&td, dl, cnt, m)) != INC_OK) {
        progress_end(&p);
        report_inc(PROG, "inc_softmax_cross_entropy_smoothed", ctx, s);
        goto done;
      }
      if ((s = inc_layer_backward(net, dl, NULL)) != INC_OK) {
        progress_end(&p);
        report_inc(PROG, "inc_layer_backward", ctx, s);
        goto done;
      }
      /* the warmup and the schedule: a function of the global step only */
      long long g = (long long)(epoch - 1) * (long long)batches + (long long)b;
      int set_lr = 0;
      double lr_g = train_lr_at(&o, g, (long long)o.epochs * (long long)batches, &set_lr);
      if (set_lr && (s = inc_optimizer_set_lr(opt, (float)lr_g)) != INC_OK) {
        progress_end(&p);
        report_inc(PROG, "inc_optimizer_set_lr", ctx, s);
        goto done;
      }
      if ((s = inc_optimizer_step(opt, net)) != INC_OK) {
        progress_end(&p);
        report_inc(PROG, "inc_optimizer_step", ctx, s);
        goto done;
      }
      /* the batch's loss, correct rows and a Ctrl-C, summed over the ranks */
      double sums[3] = {(double)loss * (double)cnt, cnt ? (double)correct : 0, g_interrupted};
      if ((s = train_dist_sum(&td, sums, 3, err, sizeof err)) != INC_OK) {
        progress_end(&p);
        fprintf(stderr, PROG ": %s\n", err);
        goto done;
      }
      train_dist_watch(&td, 0);
      if (!isfinite(sums[0])) {
        progress_end(&p);
        fprintf(stderr,
                PROG ": training diverged: loss %g at epoch %d, batch %zu (this net has no batch "
                     "norm; try a smaller --lr)\n",
                sums[0] / (double)m, epoch, b + 1);
        everywhere = 1;
        goto done;
      }
      loss_sum += sums[0];
      correct_sum += (int64_t)sums[1];
      done_imgs += m;
      if (td.rank == 0)
        progress_update(&p, b + 1, done_imgs, loss_sum / (double)done_imgs,
                        (double)correct_sum / (double)done_imgs);
      if (curve_due(b, batches) &&
          curve_add(&cv, epoch - 1 + (double)(b + 1) / (double)batches,
                    loss_sum / (double)done_imgs, (double)correct_sum / (double)done_imgs) != 0) {
        progress_end(&p);
        fprintf(stderr, PROG ": out of memory for the training curve\n");
        goto done;
      }
      if (sums[2] > 0) {
        progress_end(&p);
        if (td.rank == 0)
          fprintf(stderr, PROG ": interrupted during epoch %d; %s\n", epoch,
                  epoch > 1 ? "continue with --resume (from the last finished epoch)"
                            : "no epoch finished, nothing saved");
        rc = 130;
        everywhere = 1;
        goto done;
      }
    }
    if ((s = inc_context_synchronize(ctx)) != INC_OK) {
      progress_end(&p);
      report_inc(PROG, "inc_context_synchronize", ctx, s);
      goto done;
    }
    double t_train = now_seconds() - t0;
    /* the ranks' batch-norm statistics averaged, their weights checked
     * identical, then each evaluates its shard of the test set */
    if ((s = train_dist_epoch_end(&td, net, err, sizeof err)) != INC_OK) {
      progress_end(&p);
      fprintf(stderr, PROG ": %s\n", err);
      goto done;
    }
    int64_t test_correct = 0;
    size_t t_first, t_cnt;
    train_dist_shard(&td, n_test, &t_first, &t_cnt);
    eval_tick_arg ta = {&p, (int64_t)t_cnt};
    if ((s = evaluate(ctx, net, test_x + t_first * plane, test_y + t_first, (int64_t)t_cnt,
                      o.size, o.batch, &test_correct, NULL, NULL, NULL,
                      td.rank == 0 ? eval_tick : NULL, &ta)) !=
        INC_OK) {
      progress_end(&p);
      report_inc(PROG, "evaluating the test set", ctx, s);
      goto done;
    }
    double ev[2] = {(double)test_correct, g_interrupted};
    if ((s = train_dist_sum(&td, ev, 2, err, sizeof err)) != INC_OK) {
      progress_end(&p);
      fprintf(stderr, PROG ": %s\n", err);
      goto done;
    }
    test_correct = (int64_t)ev[0];
    progress_end(&p);
    row r;
    r.epoch = epoch;
    r.loss = loss_sum / (double)n_train;
    r.train_acc = (double)correct_sum / (double)n_train;
    r.test_acc = n_test ? (double)test_correct / (double)n_test : 0;
    r.img_per_s = t_train > 0 ? (double)n_train / t_train : 0;
    r.seconds = now_seconds() - t0;
    rows[nrows++] = r;
    printf("epoch %d/%d  loss %.3f  train acc %.3f  test acc %.3f  %.0f img/s\n", epoch, o.epochs,
           r.loss, r.train_acc, r.test_acc, r.img_per_s);
    fflush(stdout);

    if (td.rank == 0 && save_epoch(&ri, epoch, rows, nrows, net, opt, &cv) != 0) goto done;
    if (ev[1] > 0 && epoch < o.epochs) {
      if (td.rank == 0)
        fprintf(stderr, PROG ": interrupted after epoch %d; continue with --resume\n", epoch);
      rc = 130;
      everywhere = 1;
      goto done;
    }
  }

  /* -- the book's summary -- */
  if (nrows > 0) {
    const row *last = &rows[nrows - 1];
    double secs = 0, imgs = 0;
    for (int i = 0; i < nrows; i++)
      if (rows[i].img_per_s > 0) {
        secs += (double)n_train / rows[i].img_per_s;
        imgs += (double)n_train;
      }
    printf("loss %.3f, train acc %.3f, test acc %.3f\n", last->loss, last->train_acc,
           last->test_acc);
    printf("%.1f examples/sec on %s\n", secs > 0 ? imgs / secs : 0.0, device);
    printf("results in %s: metrics.csv, steps.csv, curve.png, ckpt-epoch-%03d.safetensors\n",
           o.out, last->epoch);
  } else {
    printf("nothing to train (epochs %d)\n", o.epochs);
  }
  if (o.onnx && td.rank == 0) { /* the trained model for onnxruntime, TensorRT, ... (docs/onnx.md) */
    if ((s = inc_layer_export_onnx(net, o.onnx)) != INC_OK) {
      report_inc(PROG, "inc_layer_export_onnx", ctx, s);
      goto done;
    }
    printf("ONNX model in %s\n", o.onnx);
  }
  rc = 0;

done:
  rc = train_dist_finish(&td, rc, everywhere); /* a failure of one rank ends them all */
  batch_tensors_free(&bx);
  batch_tensors_free(&bdl);
  inc_optimizer_destroy(opt);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
  idx_dataset_free(&train);
  idx_dataset_free(&test);
  free(train_x), free(test_x), free(train_y), free(test_y), free(perm), free(xb), free(yb);
  free(rows);
  curve_free(&cv);
  return rc;
}
