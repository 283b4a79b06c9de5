/*
 * scenarios.c — libinception-dist under mpirun (tests/dist_test.sh runs
 * each scenario with `mpirun --oversubscribe -np 2`, one thread a rank):
 *
 *   equal [cpu|cuda]  the same slice of training (global batches 64, 64,
 *                     64, 33 and 1 rows: shards of unequal size and a rank
 *                     without a row; SGD with momentum and weight decay,
 *                     small gradient buckets so that there are many) on
 *                     the ranks together and, on rank 0, in one process on
 *                     the CPU: max relative difference per tensor <= 1e-4
 *                     (CPU) or 1e-3 (CUDA: the emulated device and NCCL
 *                     through the shim), the ranks' weights bit for bit
 *                     equal, and the weights moved;
 *   basics            sums, shards, a broadcast that makes different nets
 *                     equal, buffers averaged, the checksum telling nets
 *                     apart, nets of other shapes refused on every rank;
 *   abort             rank 1 ends the job with inc_dist_abort;
 *   hang              rank 1 never joins a collective: the watchdog of rank
 *                     0 ends the job (INCEPTION_DIST_TIMEOUT=2 in the test).
 *
 * Exit status 0 when the scenario passed (on every rank), 1 otherwise.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define CHECK(cond, ...)                                                                    \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      fprintf(stderr, "rank %d: check failed: %s: ", inc_dist_rank(d), #cond);             \
      fprintf(stderr, __VA_ARGS__);                                                         \
      fprintf(stderr, "\n");                                                                \
      failed = 1;                                                                           \
    }                                                                                       \
  } while (0)

static const int64_t g_batches[] = {64, 64, 64, 33, 1};
#define NBATCHES ((int)(sizeof g_batches / sizeof g_batches[0]))

/* Trains a fresh small net on the slice; with d, as this rank's share. */
static int train_slice(inc_dist *d, inc_backend be, const float *x, const int32_t *y,
                       inc_layer **net_out, inc_context **ctx_out, double *last_loss)
{
  inc_context *ctx = NULL;
  inc_layer *net = NULL;
  inc_optimizer *opt = NULL;
  inc_dist_net *dn = NULL;
  inc_status s = inc_context_create(be, &ctx);
  if (s == INC_OK) s = inc_context_set_num_threads(ctx, 1);
  if (s == INC_OK) s = td_small_net(ctx, 7, 0, TD_CLASSES, &net);
  if (s == INC_OK && d) s = inc_dist_broadcast_layer(d, net, 0);
  if (s == INC_OK && d) s = inc_dist_attach(d, net, 256, &dn);
  if (s == INC_OK && dn && inc_dist_size(d) > 1 && inc_layer_grad_bucket_count(net) < 4) {
    fprintf(stderr, "rank %d: %d gradient buckets, expected several\n", inc_dist_rank(d),
            inc_layer_grad_bucket_count(net));
    s = INC_ERR_STATE;
  }
  if (s == INC_OK) s = inc_sgd_create(ctx, 0.05f, 0.9f, 1e-4f, &opt);
  int64_t off = 0;
  const int64_t plane = TD_SIZE * TD_SIZE;
  for (int b = 0; s == INC_OK && b < NBATCHES; b++) {
    int64_t m = g_batches[b], first = 0, count = m;
    if (d) s = inc_dist_shard(m, inc_dist_rank(d), inc_dist_size(d), &first, &count);
    if (s == INC_OK)
      s = td_step(d, ctx, net, opt, x + off * plane, y + off, m, first, count, last_loss);
    off += m;
  }
  int bad = td_fail(d, ctx, s, d ? "training on the ranks" : "training in one process");
  if (dn) bad |= td_fail(d, ctx, inc_dist_detach(dn), "inc_dist_detach");
  inc_optimizer_destroy(opt);
  if (bad) {
    inc_layer_destroy(net);
    inc_context_destroy(ctx);
    return 1;
  }
  *net_out = net;
  *ctx_out = ctx;
  return 0;
}

static int scenario_equal(inc_dist *d, inc_backend be)
{
  int failed = 0;
  int64_t n = 0;
  for (int b = 0; b < NBATCHES; b++) n += g_batches[b];
  float *x = malloc((size_t)n * TD_SIZE * TD_SIZE * sizeof *x);
  int32_t *y = malloc((size_t)n * sizeof *y);
  if (!x || !y) return 1;
  td_data(42, n, x, y);
  inc_layer *net = NULL, *ref = NULL, *init = NULL;
  inc_context *ctx = NULL, *rctx = NULL;
  double loss = 0, ref_loss = 0;
  failed |= train_slice(d, be, x, y, &net, &ctx, &loss);
  uint64_t sum = 0;
  if (!failed) failed |= td_fail(d, ctx, inc_dist_verify_identical(d, net, &sum), "verify");
  if (!failed && inc_dist_rank(d) == 0) {
    failed |= train_slice(NULL, INC_BACKEND_CPU, x, y, &ref, &rctx, &ref_loss);
    if (!failed) failed |= td_fail(NULL, rctx, td_small_net(rctx, 7, 0, TD_CLASSES, &init),
                                   "the initial net");
    if (!failed) {
      char worst[256] = "";
      double tol = be == INC_BACKEND_CUDA ? 1e-3 : 1e-4;
      double rel = td_max_rel_diff(net, ref, worst, sizeof worst);
      double moved = td_max_rel_diff(init, ref, NULL, 0);
      printf("equal: %d ranks (%s) vs one process (CPU) after %d batches: max relative "
             "difference %.3g (%s), tolerance %g; weights moved by %.3g; last loss %.6f vs "
             "%.6f; checksum %016llx\n",
             inc_dist_size(d), be == INC_BACKEND_CUDA ? "CUDA" : "CPU", NBATCHES, rel, worst,
             tol, moved, loss, ref_loss, (unsigned long long)sum);
      CHECK(rel >= 0 && rel <= tol, "relative difference %g", rel);
      CHECK(moved > 1e-3, "the weights hardly moved (%g)", moved);
    }
  }
  double f = failed;
  if (inc_dist_allreduce_sum(d, &f, 1) != INC_OK) f = 1;
  inc_layer_destroy(init);
  inc_layer_destroy(ref);
  inc_layer_destroy(net);
  inc_context_destroy(rctx);
  inc_context_destroy(ctx);
  free(x);
  free(y);
  return f != 0;
}

/* Sums, shards, broadcast, buffer averaging, checksums, mismatched nets. */
static int scenario_basics(inc_dist *d)
{
  int failed = 0, r = inc_dist_rank(d), size = inc_dist_size(d);
  double v[2] = {r + 1.0, 0.5};
  CHECK(inc_dist_allreduce_sum(d, v, 2) == INC_OK, "allreduce");
  CHECK(v[0] == size * (size + 1) / 2.0 && v[1] == 0.5 * size, "sums %g %g", v[0], v[1]);
  int64_t first = 0, count = 0;
  CHECK(inc_dist_shard(33, r, size, &first, &count) == INC_OK, "shard");
  double cover[2] = {(double)count, (double)(first * first)};
  CHECK(inc_dist_allreduce_sum(d, cover, 2) == INC_OK && cover[0] == 33, "shards cover %g",
        cover[0]);

  inc_context *ctx = NULL;
  inc_layer *net = NULL, *other = NULL;
  inc_optimizer *opt = NULL;
  inc_status s = inc_context_create(INC_BACKEND_CPU, &ctx);
  if (s == INC_OK) s = inc_context_set_num_threads(ctx, 1);
  if (s == INC_OK) s = td_small_net(ctx, 100 + (uint64_t)r, 1, TD_CLASSES, &net);
  if (td_fail(d, ctx, s, "making the nets")) return 1;
  uint64_t sum = 0;
  s = inc_dist_verify_identical(d, net, &sum);
  CHECK(s == INC_ERR_STATE, "differently seeded nets pass as identical (%s)",
        inc_status_string(s));
  CHECK(strstr(inc_dist_last_error(d), "differ") != NULL, "message: %s",
        inc_dist_last_error(d));
  CHECK(inc_dist_broadcast_layer(d, net, size - 1) == INC_OK, "broadcast: %s",
        inc_dist_last_error(d));
  CHECK(inc_dist_verify_identical(d, net, &sum) == INC_OK, "after a broadcast: %s",
        inc_dist_last_error(d));

  /* a training forward on each rank's own data moves its running statistics */
  float x[4 * TD_SIZE * TD_SIZE];
  int32_t y[4];
  td_data(500 + (uint64_t)r, 4, x, y);
  s = inc_sgd_create(ctx, 0.01f, 0.0f, 0.0f, &opt);
  if (s == INC_OK) s = td_step(NULL, ctx, net, opt, x, y, 4, 0, 4, NULL);
  if (td_fail(d, ctx, s, "a local step")) failed = 1;
  /* the ranks' running statistics (and weights) differ now */
  inc_tensor *mean = NULL;
  const char *bname = NULL;
  float m[64], avg[64];
  CHECK(inc_layer_buffer(net, 0, &bname, &mean) == INC_OK && inc_tensor_numel(mean) <= 64,
        "buffer 0");
  int64_t nm = inc_tensor_numel(mean);
  CHECK(inc_tensor_copy_to_host(mean, m, nm) == INC_OK, "reading %s", bname);
  double expect[64];
  for (int64_t i = 0; i < nm; i++) expect[i] = m[i];
  CHECK(inc_dist_allreduce_sum(d, expect, nm) == INC_OK, "allreduce");
  CHECK(inc_dist_average_buffers(d, net) == INC_OK, "average: %s", inc_dist_last_error(d));
  CHECK(inc_tensor_copy_to_host(mean, avg, nm) == INC_OK, "reading %s", bname);
  for (int64_t i = 0; i < nm; i++)
    CHECK(avg[i] == (float)(expect[i] / size), "%s[%lld] %.9g, mean of the ranks %.9g", bname,
          (long long)i, avg[i], expect[i] / size);
  CHECK(m[0] != avg[0], "the ranks' running means were equal before (%g)", m[0]);
  CHECK(inc_dist_verify_identical(d, net, NULL) == INC_ERR_STATE, "weights differ after steps");

  /* rank 1 has a wider classifier: refused everywhere, nothing changes */
  s = td_small_net(ctx, 9, 1, r == 1 ? 12 : TD_CLASSES, &other);
  if (td_fail(d, ctx, s, "the other net")) failed = 1;
  uint64_t before = 0, after = 1;
  CHECK(inc_dist_checksum(other, &before) == INC_OK, "checksum");
  s = inc_dist_broadcast_layer(d, other, 0);
  CHECK(s == INC_ERR_SHAPE, "nets of other shapes: %s", inc_status_string(s));
  CHECK(inc_dist_checksum(other, &after) == INC_OK && before == after, "changed");
  CHECK(inc_dist_checksum(net, &after) == INC_OK && after != before, "checksums of two nets");

  inc_optimizer_destroy(opt);
  inc_layer_destroy(other);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
  double f = failed;
  if (inc_dist_allreduce_sum(d, &f, 1) != INC_OK) f = 1;
  if (r == 0 && f == 0) printf("basics: %d ranks passed\n", size);
  return f != 0;
}

int main(int argc, char **argv)
{
  const char *what = argc > 1 ? argv[1] : "";
  inc_dist *d = NULL;
  char why[512];
  inc_status s = inc_dist_init(&d, why, sizeof why);
  if (s != INC_OK) {
    fprintf(stderr, "inc_dist_init: %s: %s\n", inc_status_string(s), why);
    return 1;
  }
  int rc = 2;
  if (!strcmp(what, "equal")) {
    inc_backend be = argc > 2 && !strcmp(argv[2], "cuda") ? INC_BACKEND_CUDA : INC_BACKEND_CPU;
    rc = scenario_equal(d, be);
  } else if (!strcmp(what, "basics")) {
    rc = scenario_basics(d);
  } else if (!strcmp(what, "abort")) {
    if (inc_dist_rank(d) == 1) inc_dist_abort(d, 3, "scenario abort: rank 1 gives up");
    inc_dist_barrier(d); /* rank 0 waits here until mpirun ends it */
    rc = 0;
  } else if (!strcmp(what, "hang")) {
    if (inc_dist_rank(d) == 1) sleep(60);
    inc_dist_barrier(d); /* rank 0's watchdog ends the job */
    rc = 0;
  } else {
    fprintf(stderr, "usage: scenarios equal [cpu|cuda] | basics | abort | hang\n");
  }
  s = inc_dist_finalize(d);
  if (s != INC_OK) {
    fprintf(stderr, "inc_dist_finalize: %s\n", inc_status_string(s));
    rc = 1;
  }
  return rc;
}
