/*
 * loss_trace.c — the loss of the first training steps of the trainer's
 * quick preset, one line per step with 9 digits, for checking that a
 * change to the execution engine leaves the CPU results bit for bit as
 * they were ("make loss-trace", docs/architecture.md).
 *
 * It runs what examples/train runs for its first steps: the quick preset
 * (examples/train_options.c), seed 1, the epoch-1 shuffle, the learning
 * rate of each step (warmup, schedule), label smoothing, on the CPU with
 * two threads. Usage: loss_trace [steps] [data dir].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../examples/data.h"
#include "../examples/idx.h"
#include "../examples/net.h"
#include "../examples/openblas_env.h"
#include "../examples/train_options.h"

#define CLASSES 10

int main(int argc, char **argv)
{
  fprintf(stderr, "loss_trace: %s\n", inc_example_openblas_env(argv));
  int steps = argc > 1 ? atoi(argv[1]) : 20;
  options o;
  train_options_defaults(&o);
  if (argc > 2) o.data = argv[2];
  train_options_apply_preset(&o, "quick");
  char err[256];
  idx_dataset train;
  if (idx_load_dataset(o.data, "train", 28, 28, CLASSES, &train, err, sizeof err) != IDX_OK) {
    fprintf(stderr, "loss_trace: %s\n", err);
    return 1;
  }
  size_t n = train.count, plane = (size_t)o.size * (size_t)o.size;
  float *all = malloc(n * plane * sizeof(float)), *xb = malloc((size_t)o.batch * plane * 4);
  uint32_t *perm = malloc(n * sizeof *perm);
  int32_t *yb = malloc((size_t)o.batch * sizeof *yb);
  inc_context *ctx = NULL;
  inc_layer *net = NULL;
  inc_optimizer *opt = NULL;
  inc_tensor *x = NULL, *dl = NULL;
  int rc = 1;
  inc_status s;
  if (!all || !xb || !perm || !yb || dataset_to_float(&train, 0, n, o.size, all) != 0) goto done;
  uint64_t st = epoch_rng_state(o.seed, 1);
  shuffle_permutation(perm, n, &st);
  int64_t xd[4] = {o.batch, 1, o.size, o.size}, ld[2] = {o.batch, CLASSES};
  if ((s = inc_context_create(INC_BACKEND_CPU, &ctx)) != INC_OK ||
      (s = inc_context_set_num_threads(ctx, 2)) != INC_OK ||
      (s = inc_context_set_seed(ctx, o.seed)) != INC_OK ||
      (s = inc_googlenet_create(ctx, CLASSES, &net)) != INC_OK ||
      (s = inc_layer_initialize(net, o.init, 0)) != INC_OK ||
      (s = inc_sgd_create(ctx, (float)o.lr, (float)o.momentum, (float)o.weight_decay, &opt)) !=
          INC_OK ||
      (s = inc_tensor_create(ctx, 4, xd, &x)) != INC_OK ||
      (s = inc_tensor_create(ctx, 2, ld, &dl)) != INC_OK) {
    report_inc("loss_trace", "setup", ctx, s);
    goto done;
  }
  for (int g = 0; g < steps; g++) {
    for (int i = 0; i < o.batch; i++) {
      uint32_t k = perm[(size_t)g * (size_t)o.batch + (size_t)i];
      memcpy(xb + (size_t)i * plane, all + (size_t)k * plane, plane * sizeof(float));
      yb[i] = train.label[k];
    }
    const inc_tensor *y;
    float loss;
    int64_t correct;
    int set_lr = 0;
    const size_t batches = (n + (size_t)o.batch - 1) / (size_t)o.batch; /* as the trainer's */
    const long long total = (long long)o.epochs * (long long)batches;
    const float lr = (float)train_lr_at(&o, g, total, &set_lr);
    if ((s = inc_tensor_copy_from_host(x, xb, (int64_t)o.batch * (int64_t)plane)) != INC_OK ||
        (s = inc_layer_forward(net, x, 1, &y)) != INC_OK ||
        (s = inc_softmax_cross_entropy_smoothed(ctx, y, yb, (float)o.label_smoothing, &loss, dl,
                                                &correct)) != INC_OK ||
        (s = inc_layer_backward(net, dl, NULL)) != INC_OK ||
        (set_lr && (s = inc_optimizer_set_lr(opt, lr)) != INC_OK) ||
        (s = inc_optimizer_step(opt, net)) != INC_OK) {
      report_inc("loss_trace", "step", ctx, s);
      goto done;
    }
    printf("step %2d loss %.9f\n", g + 1, (double)loss);
  }
  rc = 0;
done:
  inc_tensor_destroy(x);
  inc_tensor_destroy(dl);
  inc_optimizer_destroy(opt);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
  idx_dataset_free(&train);
  free(all);
  free(xb);
  free(perm);
  free(yb);
  return rc;
}
