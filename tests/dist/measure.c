/*
 * measure.c — the figures of docs/distributed.md, under mpirun (not a test):
 *
 *   measure allreduce [BUCKET_MB]   the gradient sums of one training step
 *       of GoogLeNet (D2L, 10 classes: 5.98 M parameters, 23.9 MB), bucket
 *       by bucket as inc_dist_attach does them (MPI_Iallreduce per bucket of
 *       the hook's layout, then wait), alone, 3 warm-up and 10 timed steps:
 *       the mean, min and max time per step and the algorithm bandwidth,
 *       and one blocking MPI_Allreduce of the whole for comparison;
 *   measure timeline [BUCKET_MB]    8 training steps of GoogLeNet at 28x28,
 *       16 images a rank, one thread, with the trace on
 *       (INCEPTION_DIST_TRACE must name a prefix): for each step after the
 *       first, when the first bucket was ready and how long the sums ran
 *       on after backward ended, their median, and the last step bucket by
 *       bucket (ready, sum seen complete), in ms from its backward's start.
 *
 * BUCKET_MB: the bucket size (default: the library's, 25 MiB).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpi.h>

#include "common.h"

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inc_status googlenet(inc_context *ctx, int size, inc_layer **out)
{
  inc_status s = inc_context_set_seed(ctx, 1);
  if (s == INC_OK) s = inc_googlenet_create(ctx, 10, out);
  int64_t in[4] = {1, 1, size, size}, od[INC_MAX_DIMS];
  int ond = 0;
  if (s == INC_OK) s = inc_layer_infer_shape(*out, 4, in, &ond, od);
  return s;
}

static int measure_allreduce(inc_dist *d, int64_t bucket_bytes)
{
  inc_context *ctx = NULL;
  inc_layer *net = NULL;
  inc_status s = inc_context_create(INC_BACKEND_CPU, &ctx);
  if (s == INC_OK) s = googlenet(ctx, 28, &net);
  /* the hook's layout, to reduce buckets of the same sizes */
  inc_dist_net *dn = NULL;
  if (s == INC_OK) s = inc_dist_attach(d, net, bucket_bytes, &dn);
  int nb = inc_layer_grad_bucket_count(net);
  int64_t *count = calloc((size_t)(nb > 0 ? nb : 1), sizeof *count), total = 0;
  for (int b = 0; s == INC_OK && b < nb; b++) {
    int first = 0, np = 0;
    s = inc_layer_grad_bucket(net, b, &count[b], &first, &np);
    total += count[b];
  }
  if (td_fail(d, ctx, s, "GoogLeNet's buckets")) return 1;
  float *buf = calloc((size_t)total, sizeof *buf);
  MPI_Request *req = calloc((size_t)nb, sizeof *req);
  double t[13], sum = 0, lo = 1e9, hi = 0;
  for (int it = 0; it < 13; it++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now();
    int64_t off = 0;
    for (int b = 0; b < nb; b++) {
      MPI_Iallreduce(MPI_IN_PLACE, buf + off, (int)count[b], MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                     &req[b]);
      off += count[b];
    }
    MPI_Waitall(nb, req, MPI_STATUSES_IGNORE);
    t[it] = now() - t0;
  }
  for (int it = 3; it < 13; it++) {
    sum += t[it];
    lo = fmin(lo, t[it]);
    hi = fmax(hi, t[it]);
  }
  /* the same sum as one blocking MPI_Allreduce, for comparison */
  double tb = 0;
  for (int it = 0; it < 13; it++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now();
    MPI_Allreduce(MPI_IN_PLACE, buf, (int)total, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (it >= 3) tb += now() - t0;
  }
  if (inc_dist_rank(d) == 0)
    printf("allreduce: one blocking MPI_Allreduce of it all: %.2f ms (mean of 10)\n", 1e3 * tb / 10);
  if (inc_dist_rank(d) == 0)
    printf("allreduce: %d ranks, %lld floats (%.1f MB) in %d bucket(s) of <= %.1f MiB: "
           "%.2f ms per step (min %.2f, max %.2f, 10 steps); %.2f GB/s of gradient\n",
           inc_dist_size(d), (long long)total, (double)total * 4e-6, nb,
           (double)(bucket_bytes ? bucket_bytes : INC_GRAD_BUCKET_DEFAULT_BYTES) / 1048576.0,
           1e3 * sum / 10, 1e3 * lo, 1e3 * hi, (double)total * 4e-9 / (sum / 10));
  free(buf);
  free(req);
  free(count);
  inc_dist_detach(dn);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
  return 0;
}

/* Reads the trace rank 0 wrote and prints, for each step after the first,
 * how long backward ran after the first bucket was ready and how long the
 * sums took after backward ended; then the last step bucket by bucket. */
static void print_trace(const char *prefix, const double *b0, int steps)
{
  char path[4200], line[256];
  snprintf(path, sizeof path, "%s.rank0.csv", prefix);
  FILE *f = fopen(path, "r");
  if (!f) {
    printf("timeline: no trace %s\n", path);
    return;
  }
  double first[64], end[64], done[64];
  for (int i = 0; i < 64; i++) first[i] = 1e30, end[i] = done[i] = 0;
  char rows[64][160];
  int nrows = 0;
  while (fgets(line, sizeof line, f)) {
    long long step, count;
    int bucket;
    double ready, dn, be, ad;
    if (sscanf(line, "%lld,%d,%lld,%lf,%lf,%lf,%lf", &step, &bucket, &count, &ready, &dn, &be,
               &ad) != 7 || step < 1 || step > steps || step > 64)
      continue;
    int k = (int)step - 1;
    first[k] = fmin(first[k], ready);
    end[k] = be;
    done[k] = ad;
    if (step == steps && nrows < 64)
      snprintf(rows[nrows++], sizeof rows[0],
               "  bucket %2d (%5.2f MB): ready at %6.1f ms, sum complete at %6.1f ms", bucket,
               (double)count * 4e-6, 1e3 * (ready - b0[k]), 1e3 * (dn - b0[k]));
  }
  fclose(f);
  double waits[64];
  int nw = 0;
  for (int k = 1; k < steps && k < 64; k++) {
    printf("  step %d: backward %.1f ms, first bucket ready at %.1f ms, sums complete %.1f ms "
           "after backward's end\n",
           k + 1, 1e3 * (end[k] - b0[k]), 1e3 * (first[k] - b0[k]), 1e3 * (done[k] - end[k]));
    waits[nw++] = done[k] - end[k];
  }
  for (int i = 1; i < nw; i++) /* insertion sort for the median */
    for (int j = i; j > 0 && waits[j] < waits[j - 1]; j--) {
      double t = waits[j];
      waits[j] = waits[j - 1];
      waits[j - 1] = t;
    }
  if (nw) printf("  median wait after backward: %.1f ms\n", 1e3 * waits[nw / 2]);
  printf("  step %d, from the start of its backward (which ended at %.1f ms):\n", steps,
         1e3 * (end[steps - 1] - b0[steps - 1]));
  for (int i = 0; i < nrows; i++) printf("%s\n", rows[i]);
}

static int measure_timeline(inc_dist *d, int64_t bucket_bytes)
{
  enum { batch = 16, size = 28, steps = 8 };
  const char *prefix = getenv(INC_DIST_TRACE_ENV);
  if (!prefix || !*prefix) {
    fprintf(stderr, "measure timeline: set " INC_DIST_TRACE_ENV "=PREFIX\n");
    return 2;
  }
  inc_context *ctx = NULL;
  inc_layer *net = NULL;
  inc_optimizer *opt = NULL;
  inc_dist_net *dn = NULL;
  inc_tensor *x = NULL, *dl = NULL;
  inc_status s = inc_context_create(INC_BACKEND_CPU, &ctx);
  if (s == INC_OK) s = inc_context_set_num_threads(ctx, 1);
  if (s == INC_OK) s = googlenet(ctx, size, &net);
  if (s == INC_OK) s = inc_dist_attach(d, net, bucket_bytes, &dn);
  if (s == INC_OK) s = inc_sgd_create(ctx, 0.01f, 0.9f, 0.0f, &opt);
  int64_t xd[4] = {batch, 1, size, size}, ld[2] = {batch, 10};
  if (s == INC_OK) s = inc_tensor_create(ctx, 4, xd, &x);
  if (s == INC_OK) s = inc_tensor_create(ctx, 2, ld, &dl);
  static float hx[batch * size * size];
  int32_t y[batch];
  for (int i = 0; i < batch; i++) y[i] = (i * 7 + inc_dist_rank(d)) % 10;
  for (int i = 0; i < batch * size * size; i++)
    hx[i] = (float)(((unsigned)i * 2654435761u) % 1000) / 1000.0f;
  double b0[steps];
  for (int step = 0; s == INC_OK && step < steps; step++) {
    const inc_tensor *yt = NULL;
    float loss = 0;
    s = inc_tensor_copy_from_host(x, hx, batch * size * size);
    if (s == INC_OK) s = inc_layer_forward(net, x, 1, &yt);
    if (s == INC_OK) s = inc_softmax_cross_entropy(ctx, yt, y, &loss, dl, NULL);
    if (s == INC_OK) s = inc_dist_scale_tensor(dl, 1.0 / inc_dist_size(d));
    inc_dist_barrier(d); /* the ranks start backward together */
    b0[step] = now(); /* the trace's clock */
    if (s == INC_OK) s = inc_layer_backward(net, dl, NULL);
    if (s == INC_OK) s = inc_optimizer_step(opt, net);
  }
  if (td_fail(d, ctx, s, "training GoogLeNet")) return 1;
  int nb = inc_layer_grad_bucket_count(net);
  s = inc_dist_detach(dn); /* writes the trace */
  if (inc_dist_rank(d) == 0 && s == INC_OK) {
    printf("timeline: %d ranks, GoogLeNet %dx%d, %d images a rank, %d bucket(s) of <= %.1f MiB, "
           "%d steps:\n",
           inc_dist_size(d), size, size, batch, nb,
           (double)(bucket_bytes ? bucket_bytes : INC_GRAD_BUCKET_DEFAULT_BYTES) / 1048576.0,
           steps);
    print_trace(prefix, b0, steps);
  }
  inc_tensor_destroy(x);
  inc_tensor_destroy(dl);
  inc_optimizer_destroy(opt);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
  return td_fail(d, NULL, s, "inc_dist_detach");
}

int main(int argc, char **argv)
{
  inc_dist *d = NULL;
  char why[512];
  if (inc_dist_init(&d, why, sizeof why) != INC_OK) {
    fprintf(stderr, "inc_dist_init: %s\n", why);
    return 1;
  }
  int64_t bucket = argc > 2 ? (int64_t)(atof(argv[2]) * 1048576.0) : 0;
  int rc = 2;
  if (!inc_dist_uses_mpi(d))
    fprintf(stderr, "measure: run it under mpirun\n");
  else if (argc > 1 && !strcmp(argv[1], "allreduce"))
    rc = measure_allreduce(d, bucket);
  else if (argc > 1 && !strcmp(argv[1], "timeline"))
    rc = measure_timeline(d, bucket);
  else
    fprintf(stderr, "usage: measure allreduce|timeline [BUCKET_MB]\n");
  inc_dist_finalize(d);
  return rc;
}
