/*
 * measure.c — the figures of docs/distributed.md, under mpirun (not a test):
 *
 *   measure allreduce [BUCKET_MB]   the gradient sums of one training step
 *       of GoogLeNet (D2L, 10 classes: 5.98 M parameters, 23.9 MB), bucket
 *       by bucket as inc_dist_attach does them (MPI_Iallreduce per bucket of
 *       the hook's layout, then wait), alone, 3 warm-up and 10 timed steps:
 *       the mean, min and max time per step and the algorithm bandwidth;
 *   measure timeline [BUCKET_MB]    3 training steps of GoogLeNet at 28x28,
 *       16 images a rank, with the trace on (INCEPTION_DIST_TRACE must name
 *       a prefix): prints, for the last step, when backward started, each
 *       bucket's ready and completion and when backward returned, in ms
 *       from the start of that step's backward.
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

static int measure_timeline(inc_dist *d, int64_t bucket_bytes)
{
  const int batch = 16, size = 28;
  inc_context *ctx = NULL;
  inc_layer *net = NULL;
  inc_optimizer *opt = NULL;
  inc_dist_net *dn = NULL;
  inc_tensor *x = NULL, *dl = NULL;
  inc_status s = inc_context_create(INC_BACKEND_CPU, &ctx);
  if (s == INC_OK) s = inc_context_set_num_threads(ctx, 1);
  if (s == INC_OK) s = googlenet(ctx, size, &net);
  double t_attach = now();
  if (s == INC_OK) s = inc_dist_attach(d, net, bucket_bytes, &dn);
  if (s == INC_OK) s = inc_sgd_create(ctx, 0.01f, 0.9f, 0.0f, &opt);
  int64_t xd[4] = {batch, 1, size, size}, ld[2] = {batch, 10};
  if (s == INC_OK) s = inc_tensor_create(ctx, 4, xd, &x);
  if (s == INC_OK) s = inc_tensor_create(ctx, 2, ld, &dl);
  float *hx = calloc((size_t)batch * size * size, sizeof *hx);
  int32_t y[16];
  for (int i = 0; i < batch; i++) y[i] = (i * 7 + inc_dist_rank(d)) % 10;
  for (int64_t i = 0; hx && i < (int64_t)batch * size * size; i++)
    hx[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
  double b0 = 0, b1 = 0, fwd = 0;
  for (int step = 0; s == INC_OK && step < 3; step++) {
    const inc_tensor *yt = NULL;
    float loss = 0;
    double f0 = now();
    s = inc_tensor_copy_from_host(x, hx, (int64_t)batch * size * size);
    if (s == INC_OK) s = inc_layer_forward(net, x, 1, &yt);
    if (s == INC_OK) s = inc_softmax_cross_entropy(ctx, yt, y, &loss, dl, NULL);
    if (s == INC_OK) s = inc_dist_scale_tensor(dl, 1.0 / inc_dist_size(d));
    b0 = now();
    fwd = b0 - f0;
    if (s == INC_OK) s = inc_layer_backward(net, dl, NULL);
    b1 = now();
    if (s == INC_OK) s = inc_optimizer_step(opt, net);
  }
  if (td_fail(d, ctx, s, "training GoogLeNet")) return 1;
  if (inc_dist_rank(d) == 0)
    printf("timeline: %d ranks, GoogLeNet %dx%d, %d images a rank, %d bucket(s); last step: "
           "forward %.1f ms, backward %.1f ms (from its call to its return, sums included); "
           "trace times are from attach, backward started at %.1f ms\n",
           inc_dist_size(d), size, size, batch, inc_layer_grad_bucket_count(net), 1e3 * fwd,
           1e3 * (b1 - b0), 1e3 * (b0 - t_attach));
  s = inc_dist_detach(dn);
  free(hx);
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
