/*
 * concat.cu — channel slices, the data movement of the concat container:
 * forward writes each branch's output (N, CB, P) into its channel slice
 * [off, off + CB) of the joined (N, CT, P) tensor; backward reads each
 * branch's share of dy back out of that slice.
 *
 * One thread per element of the small tensor; the index of the matching big
 * element comes from the INC_HD body inc__k_slice_index of src/kernels.h,
 * the one src/cpu/elementwise.c uses. Both directions read and write
 * contiguous runs of P floats, so accesses coalesce.
 */
#include "common.cuh"

/* ---- kernels ------------------------------------------------------------ */

__global__ void inc__cuda_slice_kernel(float *big, float *small, int to_big, int64_t cb,
                                       int64_t ct, int64_t off, int64_t p, int64_t total)
{
  /* big (N, CT, P)[:, off:off+CB] <-> small (N, CB, P) */
  if (to_big) {
    INC_CUDA_FOR(i, total) big[inc__k_slice_index(i, cb, ct, off, p)] = small[i];
  } else {
    INC_CUDA_FOR(i, total) small[i] = big[inc__k_slice_index(i, cb, ct, off, p)];
  }
}

/* ---- launchers ---------------------------------------------------------- */

inc_status inc__cuda_slice(float *big, float *small, int to_big, int64_t n, int64_t cb,
                           int64_t ct, int64_t off, int64_t p, inc_context *ctx)
{
  static const char op[] = "slice";
  const int64_t total = n * cb * p;
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_slice_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, big, small, to_big, cb, ct, off, p, total);
  return inc__cuda_launched(ctx, op);
}
