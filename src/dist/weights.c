/*
 * weights.c — keeping the ranks' copies of a network alike: broadcasting
 * parameters and buffers from one rank, averaging buffers (batch-norm
 * running statistics, which each rank gathers from its own shard), and a
 * checksum the ranks compare bit for bit.
 *
 * Everything goes through libinception's public API and host memory (a
 * tensor at a time, through one host buffer of the largest tensor's size):
 * these run once per epoch or at start, where a host round trip costs
 * nothing that matters; the per-step gradient sums are grads.c's.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

/* Tensor k of net: its parameters (inc_layer_param order), then its
 * buffers (inc_layer_buffer order). */
static inc_status tensor_at(const inc_layer *net, int k, const char **name, inc_tensor **t)
{
  int np = inc_layer_param_count(net);
  return k < np ? inc_layer_param(net, k, name, t, NULL) : inc_layer_buffer(net, k - np, name, t);
}

/* The net's context (of its first tensor), for messages; NULL without one. */
static inc_context *net_context(const inc_layer *net, int ntensors)
{
  inc_tensor *t = NULL;
  return ntensors > 0 && tensor_at(net, 0, NULL, &t) == INC_OK ? inc_tensor_context(t) : NULL;
}

/* Checks the arguments every call here shares; counts the tensors and
 * finds the largest. */
static inc_status net_begin(inc_dist *d, const inc_layer *net, const char *who, int *ntensors,
                            int64_t *largest)
{
  if (!net) return inc__dist_error(d, INC_ERR_INVALID_ARGUMENT, "%s: net is NULL", who);
  if (!inc_layer_is_bound(net))
    return inc__dist_error(d, INC_ERR_STATE, "%s: the net is not bound (run a forward first)",
                           who);
  *ntensors = inc_layer_param_count(net) + inc_layer_buffer_count(net);
  *largest = 0;
  for (int k = 0; k < *ntensors; k++) {
    inc_tensor *t;
    inc_status s = tensor_at(net, k, NULL, &t);
    if (s != INC_OK) return inc__dist_lib(d, net_context(net, *ntensors), s, who);
    if (inc_tensor_numel(t) > *largest) *largest = inc_tensor_numel(t);
  }
  return INC_OK;
}

/* FNV-1a, 64 bits, continued from h. */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}
#define FNV_BASIS 0xcbf29ce484222325ULL

/* What the ranks must agree on before tensors move: the tensor count and
 * each one's element count. */
static uint64_t layout_signature(const inc_layer *net, int ntensors)
{
  uint64_t h = fnv1a(FNV_BASIS, &ntensors, sizeof ntensors);
  for (int k = 0; k < ntensors; k++) {
    inc_tensor *t = NULL;
    (void)tensor_at(net, k, NULL, &t);
    int64_t n = inc_tensor_numel(t);
    h = fnv1a(h, &n, sizeof n);
  }
  return h;
}

static int bcast_floats(inc_dist *d, float *buf, int64_t n, int root)
{
  int rc = MPI_SUCCESS;
  for (int64_t off = 0; rc == MPI_SUCCESS && off < n; off += INT_MAX)
    rc = MPI_Bcast(buf + off, n - off > INT_MAX ? INT_MAX : (int)(n - off), MPI_FLOAT, root,
                   d->comm);
  return rc;
}

INC_DIST_API inc_status inc_dist_broadcast_layer(inc_dist *d, inc_layer *net, int root)
{
  static const char who[] = "inc_dist_broadcast_layer";
  if (!d) return INC_ERR_INVALID_ARGUMENT;
  d->err[0] = '\0';
  if (root < 0 || root >= d->size)
    return inc__dist_error(d, INC_ERR_INVALID_ARGUMENT, "%s: root %d of %d ranks", who, root,
                           d->size);
  int nt = 0;
  int64_t largest = 0;
  inc_status s = net_begin(d, net, who, &nt, &largest);
  if (!d->mpi || d->size == 1) return s;
  s = inc__dist_agree(d, s);
  if (s != INC_OK) return s;

  uint64_t sig = layout_signature(net, nt), root_sig = sig;
  inc_dist_watch_begin(d, "broadcasting the weights (MPI_Bcast)");
  int rc = MPI_Bcast(&root_sig, 1, MPI_UINT64_T, root, d->comm);
  inc_dist_watch_end(d);
  if ((s = inc__dist_mpi(d, rc, "MPI_Bcast")) != INC_OK) return s;
  if (root_sig != sig)
    s = inc__dist_error(d, INC_ERR_SHAPE,
                        "%s: rank %d's net differs from rank %d's (other tensors or sizes)", who,
                        d->rank, root);
  if ((s = inc__dist_agree(d, s)) != INC_OK) return s;

  float *buf = malloc((size_t)(largest > 0 ? largest : 1) * sizeof *buf);
  s = inc__dist_agree(d, buf ? INC_OK : inc__dist_error(d, INC_ERR_OUT_OF_MEMORY, "%s: out of "
                                                        "memory for %lld floats", who,
                                                        (long long)largest));
  inc_context *ctx = net_context(net, nt);
  for (int k = 0; s == INC_OK && k < nt; k++) {
    inc_tensor *t = NULL;
    (void)tensor_at(net, k, NULL, &t);
    int64_t n = inc_tensor_numel(t);
    inc_status ls = d->rank == root ? inc_tensor_copy_to_host(t, buf, n) : INC_OK;
    if (ls != INC_OK) inc__dist_lib(d, ctx, ls, who);
    if ((s = inc__dist_agree(d, ls)) != INC_OK) break;
    inc_dist_watch_begin(d, "broadcasting the weights (MPI_Bcast)");
    rc = bcast_floats(d, buf, n, root);
    inc_dist_watch_end(d);
    s = inc__dist_mpi(d, rc, "MPI_Bcast");
    if (s == INC_OK && d->rank != root && (s = inc_tensor_copy_from_host(t, buf, n)) != INC_OK)
      inc__dist_lib(d, ctx, s, who);
    s = inc__dist_agree(d, s); /* every rank leaves the loop at the same tensor */
  }
  free(buf);
  return s;
}

INC_DIST_API inc_status inc_dist_average_buffers(inc_dist *d, inc_layer *net)
{
  static const char who[] = "inc_dist_average_buffers";
  if (!d) return INC_ERR_INVALID_ARGUMENT;
  d->err[0] = '\0';
  int nt = 0;
  int64_t largest = 0;
  inc_status s = net_begin(d, net, who, &nt, &largest);
  if (s != INC_OK || !d->mpi || d->size == 1) return inc__dist_agree(d, s);
  int np = inc_layer_param_count(net), nb = nt - np;
  int64_t total = 0;
  for (int k = np; k < nt; k++) {
    inc_tensor *t = NULL;
    (void)tensor_at(net, k, NULL, &t);
    total += inc_tensor_numel(t);
  }
  /* every buffer, one after another, in one sum */
  double *sum = malloc((size_t)(total > 0 ? total : 1) * sizeof *sum);
  float *buf = malloc((size_t)(largest > 0 ? largest : 1) * sizeof *buf);
  if (!sum || !buf) s = inc__dist_error(d, INC_ERR_OUT_OF_MEMORY, "%s: out of memory", who);
  inc_context *ctx = net_context(net, nt);
  int64_t off = 0;
  for (int k = np; s == INC_OK && k < nt; k++) {
    inc_tensor *t = NULL;
    (void)tensor_at(net, k, NULL, &t);
    int64_t n = inc_tensor_numel(t);
    if ((s = inc_tensor_copy_to_host(t, buf, n)) != INC_OK) inc__dist_lib(d, ctx, s, who);
    for (int64_t i = 0; s == INC_OK && i < n; i++) sum[off + i] = (double)buf[i];
    off += n;
  }
  /* a rank that failed above took one agreement (net_begin's return):
   * every rank leaves here after the same number of collectives */
  if ((s = inc__dist_agree(d, s)) != INC_OK) {
    free(sum);
    free(buf);
    return s;
  }
  if (nb > 0) s = inc__dist_agree(d, inc_dist_allreduce_sum(d, sum, total));
  off = 0;
  for (int k = np; s == INC_OK && k < nt; k++) {
    inc_tensor *t = NULL;
    (void)tensor_at(net, k, NULL, &t);
    int64_t n = inc_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) buf[i] = (float)(sum[off + i] / (double)d->size);
    off += n;
    if ((s = inc_tensor_copy_from_host(t, buf, n)) != INC_OK) inc__dist_lib(d, ctx, s, who);
  }
  free(sum);
  free(buf);
  return inc__dist_agree(d, s);
}

/* The checksum, with errors through d when there is one. */
static inc_status checksum(inc_dist *d, const inc_layer *net, uint64_t *sum)
{
  static const char who[] = "inc_dist_checksum";
  int nt = 0;
  int64_t largest = 0;
  inc_status s = net_begin(d, net, who, &nt, &largest);
  if (s != INC_OK) return s;
  float *buf = malloc((size_t)(largest > 0 ? largest : 1) * sizeof *buf);
  if (!buf) return inc__dist_error(d, INC_ERR_OUT_OF_MEMORY, "%s: out of memory", who);
  uint64_t h = FNV_BASIS;
  for (int k = 0; s == INC_OK && k < nt; k++) {
    const char *name = NULL;
    inc_tensor *t = NULL;
    (void)tensor_at(net, k, &name, &t);
    int64_t n = inc_tensor_numel(t);
    if ((s = inc_tensor_copy_to_host(t, buf, n)) != INC_OK) {
      inc__dist_lib(d, inc_tensor_context(t), s, who);
      break;
    }
    h = fnv1a(h, name, strlen(name) + 1);
    h = fnv1a(h, &n, sizeof n);
    h = fnv1a(h, buf, (size_t)n * sizeof *buf);
  }
  free(buf);
  if (s == INC_OK) *sum = h;
  return s;
}

INC_DIST_API inc_status inc_dist_checksum(const inc_layer *net, uint64_t *sum)
{
  if (!net || !sum) return INC_ERR_INVALID_ARGUMENT;
  return checksum(NULL, net, sum);
}

INC_DIST_API inc_status inc_dist_verify_identical(inc_dist *d, const inc_layer *net,
                                                  uint64_t *sum)
{
  if (!d) return INC_ERR_INVALID_ARGUMENT;
  d->err[0] = '\0';
  uint64_t h = 0;
  inc_status s = inc__dist_agree(d, checksum(d, net, &h));
  if (s != INC_OK) return s;
  if (d->mpi && d->size > 1) {
    uint64_t *all = malloc((size_t)d->size * sizeof *all);
    s = inc__dist_agree(d, all ? INC_OK : inc__dist_error(d, INC_ERR_OUT_OF_MEMORY, "out of "
                                                          "memory"));
    if (s != INC_OK) {
      free(all);
      return s;
    }
    inc_dist_watch_begin(d, "comparing checksums (MPI_Allgather)");
    int rc = MPI_Allgather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, d->comm);
    inc_dist_watch_end(d);
    s = inc__dist_mpi(d, rc, "MPI_Allgather");
    int differ = 0;
    for (int i = 1; s == INC_OK && i < d->size; i++) differ |= all[i] != all[0];
    if (s == INC_OK && differ) {
      size_t len = (size_t)snprintf(d->err, sizeof d->err,
                                    "inc_dist_verify_identical: the ranks' weights differ:");
      for (int i = 0; i < d->size && len < sizeof d->err; i++)
        len += (size_t)snprintf(d->err + len, sizeof d->err - len, " rank %d %016llx", i,
                                (unsigned long long)all[i]);
      s = INC_ERR_STATE;
    }
    free(all);
  }
  if (s == INC_OK && sum) *sum = h;
  return s;
}
