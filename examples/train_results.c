/*
 * train_results.c — examples/train's epoch results (train_results.h): the
 * metrics rows as CSV and back, and the files written after each epoch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "net.h"
#include "train_results.h"
#include "util.h"

#define PROG "train"

/* ---- metrics ------------------------------------------------------------ */

#define CSV_HEADER "epoch,loss,train_acc,test_acc,img_per_s,seconds\n"

/* The rows as CSV text (without header), malloc'd. */
char *rows_csv(const row *rows, int n, int header)
{
  /* %.6f of a finite double needs at most 317 characters; be generous */
  size_t cap = 64 + (size_t)n * 1400;
  char *s = malloc(cap);
  if (!s) return NULL;
  size_t len = 0;
  s[0] = '\0';
  if (header) len += (size_t)snprintf(s, cap, "%s", CSV_HEADER);
  for (int i = 0; i < n && len < cap; i++)
    len += (size_t)snprintf(s + len, cap - len, "%d,%.6f,%.6f,%.6f,%.1f,%.2f\n", rows[i].epoch,
                            rows[i].loss, rows[i].train_acc, rows[i].test_acc, rows[i].img_per_s,
                            rows[i].seconds);
  return s;
}

/* Parses rows written by rows_csv (no header). Returns the count or -1. */
int parse_rows(const char *s, row *rows, int cap)
{
  int n = 0;
  while (*s) {
    row r;
    int used = 0;
    if (sscanf(s, "%d,%lf,%lf,%lf,%lf,%lf%n", &r.epoch, &r.loss, &r.train_acc, &r.test_acc,
               &r.img_per_s, &r.seconds, &used) != 6)
      return -1;
    if (n >= cap || r.epoch != n + 1) return -1;
    rows[n++] = r;
    s += used;
    while (*s == '\n' || *s == '\r') s++;
  }
  return n;
}

/* ---- the results of an epoch ------------------------------------------- */

/* v as the shortest of %.15g, %.16g and %.17g that reads back as v. */
static void exact_double(char *buf, size_t n, double v)
{
  for (int digits = 15; digits <= 17; digits++) {
    snprintf(buf, n, "%.*g", digits, v);
    if (strtod(buf, NULL) == v) return;
  }
}

/* Writes the checkpoint of `epoch` (the source of truth for --resume),
 * then metrics.csv, steps.csv and curve.png, and prunes old checkpoints
 * (--keep). In a job of several processes rank 0 alone calls it. Returns 0,
 * or -1 after a message on stderr. */
int save_epoch(run_info *ri, int epoch, const row *rows, int nrows, const inc_layer *net,
                      const inc_optimizer *opt, const curve *cv)
{
  const options *o = ri->o;
  char err[1024];
  char *metrics = rows_csv(rows, nrows, 0), *csv = rows_csv(rows, nrows, 1);
  if (!metrics || !csv) {
    free(metrics), free(csv);
    fprintf(stderr, PROG ": out of memory\n");
    return -1;
  }
  char v_epoch[16], v_epochs[16], v_rng[32], v_size[16], v_batch[16], v_lr[32], v_mom[32],
      v_wd[32], v_seed[32], v_limit[24], v_tlimit[24], v_ntrain[24], v_ntest[24], v_warmup[24],
      v_ls[32], v_drop[32], v_aug[40], v_ranks[16];
  snprintf(v_epoch, sizeof v_epoch, "%d", epoch);
  snprintf(v_epochs, sizeof v_epochs, "%d", o->epochs);
  snprintf(v_rng, sizeof v_rng, "%016llx",
           (unsigned long long)epoch_rng_state(o->seed, epoch + 1));
  snprintf(v_size, sizeof v_size, "%d", o->size);
  snprintf(v_batch, sizeof v_batch, "%d", o->batch);
  /* the run's doubles, not their floats: the warmup and the cosine
   * schedule compute the rate from the double, so a resumed run must read
   * back the same one to take the same steps */
  exact_double(v_lr, sizeof v_lr, o->lr);
  exact_double(v_mom, sizeof v_mom, o->momentum);
  exact_double(v_wd, sizeof v_wd, o->weight_decay);
  snprintf(v_seed, sizeof v_seed, "%llu", o->seed);
  snprintf(v_limit, sizeof v_limit, "%ld", o->limit);
  snprintf(v_tlimit, sizeof v_tlimit, "%ld", o->test_limit);
  snprintf(v_ntrain, sizeof v_ntrain, "%zu", ri->n_train);
  snprintf(v_ntest, sizeof v_ntest, "%zu", ri->n_test);
  snprintf(v_warmup, sizeof v_warmup, "%ld", o->warmup);
  snprintf(v_ls, sizeof v_ls, "%.9g", (double)(float)o->label_smoothing);
  snprintf(v_drop, sizeof v_drop, "%.9g", (double)(float)o->dropout);
  augment_name(&o->aug, v_aug, sizeof v_aug);
  snprintf(v_ranks, sizeof v_ranks, "%d", ri->ranks);
  const char *keys[] = {"trainer", "epoch",      "epochs", "rng",     "size",    "batch",
                        "lr",      "momentum",   "weight_decay",      "seed",    "limit",
                        "test_limit", "n_train", "n_test", "classes", "device",  "metrics",
                        "init",    "warmup", "model", "label_smoothing", "dropout",
                        "schedule", "augment", "ranks"};
  const char *vals[] = {"libinception examples/train 1",
                        v_epoch, v_epochs, v_rng, v_size, v_batch, v_lr, v_mom, v_wd, v_seed,
                        v_limit, v_tlimit, v_ntrain, v_ntest,
                        "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot",
                        ri->device, metrics, train_init_name(o->init), v_warmup, o->model, v_ls,
                        v_drop, train_schedule_name(o->schedule), v_aug, v_ranks};
  char path[4200];
  snprintf(path, sizeof path, "%s/ckpt-epoch-%03d.safetensors", o->out, epoch);
  inc_status s = inc_checkpoint_save(net, opt, (int)(sizeof keys / sizeof keys[0]), keys, vals, path);
  free(metrics);
  if (s != INC_OK) {
    free(csv);
    report_inc(PROG, "inc_checkpoint_save", ri->ctx, s);
    return -1;
  }
  char csvpath[4200];
  snprintf(csvpath, sizeof csvpath, "%s/metrics.csv", o->out);
  int w = write_file_atomic(csvpath, csv, strlen(csv), err, sizeof err);
  free(csv);
  if (w != 0) {
    fprintf(stderr, PROG ": %s\n", err);
    return -1;
  }
  if (curve_save(cv, o->out, err, sizeof err) != 0) {
    fprintf(stderr, PROG ": %s\n", err);
    return -1;
  }
  if (o->keep > 0) { /* the last --keep checkpoints and the best one stay */
    int best = 0;
    for (int i = 0; i < nrows; i++)
      if (!best || rows[i].test_acc > rows[best - 1].test_acc) best = i + 1;
    if (prune_checkpoints(o->out, epoch, o->keep, rows[best - 1].epoch, err, sizeof err) < 0) {
      fprintf(stderr, PROG ": %s\n", err);
      return -1;
    }
  }
  int pl = plot_curve(o->out, o->epochs, err, sizeof err);
  if (pl == 1 && !ri->warned_plot) {
    fprintf(stderr, PROG ": warning: gnuplot not found, no curve.png (install gnuplot-nox)\n");
    ri->warned_plot = 1;
  } else if (pl < 0 && !ri->warned_plot) {
    fprintf(stderr, PROG ": warning: %s\n", err);
    ri->warned_plot = 1;
  }
  return 0;
}

