/*
 * loss.cu — softmax cross-entropy over logits (N, K) with host labels.
 *
 * Two kernels on the context's stream, all scratch reused across calls:
 *  1. one thread per row runs inc__k_softmax_ce_row, the body the CPU
 *     backend runs per row: it writes the row's dlogits (when wanted), its
 *     loss and whether its argmax hit the label;
 *  2. one block sums the row losses in double and counts the hits, in an
 *     order fixed by the launch shape (deterministic).
 * The labels go up and the two scalars come down through a small pinned
 * buffer; this op waits for the stream, since its results are host values.
 * Rows number a batch (K is the class count, 10 here), so a thread per row
 * has all the parallelism the op needs.
 */
#include "common.cuh"

/* What the reduction writes for the host. */
typedef struct inc__cuda_ce_result {
  double loss_sum;
  long long hits;
} inc__cuda_ce_result;

/* ---- kernels ------------------------------------------------------------ */

__global__ void inc__cuda_ce_rows_kernel(float *row_loss, int32_t *row_hit, float *dlogits,
                                         const float *logits, const int32_t *labels, int64_t n,
                                         int64_t k, float scale, float smoothing)
{
  /* row_loss, row_hit, labels (N); logits, dlogits (N, K); dlogits may be NULL */
  INC_CUDA_FOR(r, n)
  {
    int hit = 0;
    row_loss[r] = inc__k_softmax_ce_row(logits + r * k, labels[r], k, scale, smoothing,
                                        dlogits ? dlogits + r * k : NULL, &hit);
    row_hit[r] = hit;
  }
}

__global__ void inc__cuda_ce_reduce_kernel(inc__cuda_ce_result *res, const float *row_loss,
                                           const int32_t *row_hit, int64_t n)
{
  /* res (1) <- sums of row_loss, row_hit (N); one block of INC_CUDA_THREADS threads */
  __shared__ double part_loss[INC_CUDA_THREADS];
  __shared__ long long part_hits[INC_CUDA_THREADS];
  double loss = 0.0;
  long long hits = 0;
  for (int64_t r = threadIdx.x; r < n; r += INC_CUDA_THREADS) {
    loss += (double)row_loss[r];
    hits += row_hit[r];
  }
  part_loss[threadIdx.x] = loss;
  part_hits[threadIdx.x] = hits;
  __syncthreads();
  for (unsigned half = INC_CUDA_THREADS / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      part_loss[threadIdx.x] += part_loss[threadIdx.x + half];
      part_hits[threadIdx.x] += part_hits[threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    res->loss_sum = part_loss[0];
    res->hits = part_hits[0];
  }
}

/* ---- launchers ---------------------------------------------------------- */

static size_t inc__cuda_round256(size_t x) { return (x + 255) & ~(size_t)255; }

inc_status inc__cuda_softmax_ce(double *loss_sum, int64_t *correct, float *dlogits,
                                const float *logits, const int32_t *labels, int64_t n,
                                int64_t k, float scale, float smoothing, inc_context *ctx)
{
  static const char op[] = "softmax_ce";
  if (n <= 0 || k <= 0) {
    *loss_sum = 0.0;
    *correct = 0;
    return INC_OK;
  }
  INC_CUDA_ENTER(ctx, op);
  inc__cuda *be = inc__cuda_be(ctx);

  /* scratch: result | labels (N) | row_loss (N) | row_hit (N) */
  const size_t vec = inc__cuda_round256((size_t)n * sizeof(int32_t));
  const size_t head = inc__cuda_round256(sizeof(inc__cuda_ce_result));
  void *base = NULL;
  inc_status s = inc__cuda_scratch(ctx, head + 3 * vec, &base, op);
  if (s != INC_OK) return s;
  char *bytes = (char *)base;
  inc__cuda_ce_result *res = (inc__cuda_ce_result *)bytes;
  int32_t *dev_labels = (int32_t *)(bytes + head);
  float *row_loss = (float *)(bytes + head + vec);
  int32_t *row_hit = (int32_t *)(bytes + head + 2 * vec);

  INC_CUDA_TRY(ctx,
               cudaMemcpyAsync(dev_labels, labels, (size_t)n * sizeof(int32_t),
                               cudaMemcpyHostToDevice, be->stream),
               op);
  /* From here the stream reads the caller's labels (which may be pinned,
   * so read late) and writes be->host: every return waits for it, an
   * early one too, so neither is in use once this returns. */
  INC_CUDA_LAUNCH(inc__cuda_ce_rows_kernel, inc__cuda_blocks(ctx, n), INC_CUDA_THREADS,
                  be->stream, row_loss, row_hit, dlogits, logits, dev_labels, n, k, scale,
                  smoothing);
  s = inc__cuda_launched(ctx, op);
  if (s == INC_OK) {
    INC_CUDA_LAUNCH_COOP(inc__cuda_ce_reduce_kernel, 1, INC_CUDA_THREADS, be->stream, res,
                         row_loss, row_hit, n);
    s = inc__cuda_launched(ctx, op);
  }
  if (s == INC_OK)
    s = inc__cuda_fail(
        ctx, cudaMemcpyAsync(be->host, res, sizeof *res, cudaMemcpyDeviceToHost, be->stream), op);
  cudaError_t e = cudaStreamSynchronize(be->stream);
  if (s != INC_OK) return s; /* the first error says more; a sticky one shows again */
  INC_CUDA_TRY(ctx, e, op);
  const inc__cuda_ce_result *host = (const inc__cuda_ce_result *)be->host;
  *loss_sum = host->loss_sum;
  *correct = (int64_t)host->hits;
  return INC_OK;
}
