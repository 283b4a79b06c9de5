/*
 * nccl.cc — NCCL for the emulated CUDA runtime, over MPI (tests only).
 *
 * libinception-dist reduces the gradient buckets of CUDA contexts with
 * NCCL, opened at run time (src/dist/nccl.c). On the emulated runtime
 * (tests/cudaemu/) device memory is host memory, so the few NCCL calls it
 * makes can be MPI calls: pointed at by INCEPTION_NCCL_LIBRARY, this shim
 * (build/emu/libnccl-emu.so, linked with the emulator's libcudaemu.so and
 * MPI) lets the NCCL path run in CI without a GPU.
 *
 * It keeps NCCL's contract where the emulator can check it: ncclAllReduce
 * is queued on its stream like a kernel and runs, in stream order, at the
 * next call that synchronises with the stream (a host read that skipped
 * the synchronisation sees unreduced values); its buffers must be device
 * memory of the right size (else a misuse report, as for a kernel);
 * ncclCommInitRank is collective (an MPI_Comm_split keyed by the unique id,
 * which must be the same on every rank); ncclCommDestroy waits for the
 * work the communicator queued. Only what libinception-dist uses
 * is here: float sums, in place or not. The NCCL types are written out with
 * NCCL's values, since the real nccl.h needs the real CUDA runtime's header.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <set>

#include <mpi.h>

#include "emu.h"

#define NCCL_EMU_API extern "C" __attribute__((visibility("default")))

/* NCCL's ABI (nccl.h, 2.28). */
typedef struct {
  char internal[128];
} ncclUniqueId;
typedef enum {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5
} ncclResult_t;
enum { ncclSum = 0 };
enum { ncclFloat = 7 };
struct ncclComm {
  MPI_Comm comm;
  int rank, nranks;
  std::set<cudaStream_t> streams; /* where it queued work */
};
typedef struct ncclComm *ncclComm_t;

namespace {

const char magic[] = "cudaemu-nccl";

uint64_t id_hash(const ncclUniqueId &id)
{
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < sizeof id.internal; i++)
    h = (h ^ (unsigned char)id.internal[i]) * 0x100000001b3ULL;
  return h;
}

ncclResult_t fail_mpi(int rc, const char *what)
{
  char text[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  MPI_Error_string(rc, text, &len);
  fprintf(stderr, "nccl-emu: %s failed: %s\n", what, text);
  return ncclSystemError;
}

} // namespace

NCCL_EMU_API ncclResult_t ncclGetVersion(int *version)
{
  if (!version) return ncclInvalidArgument;
  *version = 22800;
  return ncclSuccess;
}

NCCL_EMU_API const char *ncclGetErrorString(ncclResult_t r)
{
  switch (r) {
  case ncclSuccess: return "no error (nccl-emu)";
  case ncclUnhandledCudaError: return "unhandled cuda error (nccl-emu: the stream failed)";
  case ncclSystemError: return "unhandled system error (nccl-emu: an MPI call failed)";
  case ncclInternalError: return "internal error (nccl-emu)";
  case ncclInvalidArgument: return "invalid argument (nccl-emu)";
  case ncclInvalidUsage: return "invalid usage (nccl-emu: MPI is not started)";
  }
  return "unknown result (nccl-emu)";
}

/* A fresh id: the magic, this process, a counter and the clock. */
NCCL_EMU_API ncclResult_t ncclGetUniqueId(ncclUniqueId *id)
{
  static int counter = 0;
  if (!id) return ncclInvalidArgument;
  memset(id, 0, sizeof *id);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  snprintf(id->internal, sizeof id->internal, "%s %ld %d %lld.%09ld", magic, (long)getpid(),
           ++counter, (long long)ts.tv_sec, ts.tv_nsec);
  return ncclSuccess;
}

NCCL_EMU_API ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id,
                                           int rank)
{
  int init = 0;
  MPI_Initialized(&init);
  if (!init) return ncclInvalidUsage;
  if (!comm || nranks < 1 || rank < 0 || rank >= nranks ||
      strncmp(id.internal, magic, sizeof magic - 1) != 0)
    return ncclInvalidArgument;
  *comm = nullptr;
  ncclComm_t c = new ncclComm;
  int rc = MPI_Comm_split(MPI_COMM_WORLD, (int)(id_hash(id) & 0x7fffffff), rank, &c->comm);
  if (rc != MPI_SUCCESS) {
    delete c;
    return fail_mpi(rc, "MPI_Comm_split (ncclCommInitRank)");
  }
  MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(c->comm, &c->rank);
  MPI_Comm_size(c->comm, &c->nranks);
  if (c->nranks != nranks || c->rank != rank) {
    fprintf(stderr, "nccl-emu: ncclCommInitRank: rank %d of %d, but %d of %d ranks share the id\n",
            rank, nranks, c->rank, c->nranks);
    MPI_Comm_free(&c->comm);
    delete c;
    return ncclInvalidArgument;
  }
  *comm = c;
  return ncclSuccess;
}

/* Like NCCL's, waits for the operations it queued (they use the MPI
 * communicator freed here). */
NCCL_EMU_API ncclResult_t ncclCommDestroy(ncclComm_t comm)
{
  if (!comm) return ncclInvalidArgument;
  ncclResult_t r = ncclSuccess;
  for (cudaStream_t st : comm->streams)
    if (cudaStreamSynchronize(st) != cudaSuccess) r = ncclUnhandledCudaError;
  MPI_Comm_free(&comm->comm);
  delete comm;
  return r;
}

NCCL_EMU_API ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count,
                                        int datatype, int op, ncclComm_t comm,
                                        cudaStream_t stream)
{
  if (!comm || datatype != ncclFloat || op != ncclSum) return ncclInvalidArgument;
  std::lock_guard<std::recursive_mutex> g(cudaemu::lock());
  size_t bytes = count * sizeof(float);
  if (count && (!cudaemu::is_device(sendbuff, bytes) || !cudaemu::is_device(recvbuff, bytes))) {
    cudaemu::violation("ncclAllReduce: %zu floats at %p -> %p are not device memory", count,
                       sendbuff, recvbuff);
    return ncclInvalidArgument;
  }
  CUstream_st *q = cudaemu::stream_of(stream, "ncclAllReduce");
  if (!q) return ncclUnhandledCudaError;
  MPI_Comm mc = comm->comm;
  comm->streams.insert(stream);
  cudaemu::enqueue(q, "ncclAllReduce", [sendbuff, recvbuff, count, mc] {
    int rc = MPI_SUCCESS;
    for (size_t off = 0; rc == MPI_SUCCESS && off < count; off += INT_MAX) {
      int n = count - off > (size_t)INT_MAX ? INT_MAX : (int)(count - off);
      float *dst = (float *)recvbuff + off;
      const void *src = sendbuff == recvbuff ? MPI_IN_PLACE : (const float *)sendbuff + off;
      rc = MPI_Allreduce(src, dst, n, MPI_FLOAT, MPI_SUM, mc);
    }
    if (rc != MPI_SUCCESS) fail_mpi(rc, "MPI_Allreduce (ncclAllReduce)");
    return rc == MPI_SUCCESS ? cudaSuccess : cudaErrorUnknown;
  });
  return ncclSuccess;
}
