/*
 * nccl.c — NCCL, opened at run time: the collectives between GPUs of the
 * CUDA contexts attached to a job.
 *
 * Never linked, so that libinception-dist loads on machines without NCCL
 * (and a CPU job never maps it): the file named by INCEPTION_NCCL_LIBRARY
 * when set (and only there: the tests point it at the emulator's shim,
 * tests/nccl_emu/), else libnccl.so.2 through the RUNPATH of the object
 * holding this code (the CUDA toolkit's lib64 it was built against), then
 * the dynamic loader's search. The function types come from the toolkit's
 * nccl.h, so a mismatch with NCCL's API does not compile; without nccl.h
 * (INC_DIST_NCCL undefined) every call says NCCL was not built in.
 *
 * One communicator per attached network: rank 0 makes the ncclUniqueId and
 * MPI broadcasts it, then every rank joins with ncclCommInitRank.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

#ifdef INC_DIST_NCCL
#include <dlfcn.h>
#include <nccl.h>

typedef struct inc__nccl_api {
  void *so;
  __typeof__(ncclGetVersion) *get_version;
  __typeof__(ncclGetUniqueId) *get_unique_id;
  __typeof__(ncclCommInitRank) *comm_init_rank;
  __typeof__(ncclCommDestroy) *comm_destroy;
  __typeof__(ncclAllReduce) *all_reduce;
  __typeof__(ncclGetErrorString) *error_string;
  char path[512];
} inc__nccl_api;

struct inc__dist_nccl_comm {
  const inc__nccl_api *api;
  ncclComm_t comm;
};

/* Opens NCCL for d once; the message says where it looked. */
static inc_status load(inc_dist *d, const inc__nccl_api **out)
{
  if (d->nccl) {
    *out = d->nccl;
    return INC_OK;
  }
  const char *env = getenv(INC_DIST_NCCL_ENV);
  const char *file = env && *env ? env : "libnccl.so.2";
  inc__nccl_api *api = calloc(1, sizeof *api);
  if (!api) return inc__dist_error(d, INC_ERR_OUT_OF_MEMORY, "NCCL: out of memory");
  snprintf(api->path, sizeof api->path, "%s", file);
  api->so = dlopen(file, RTLD_NOW | RTLD_LOCAL);
  if (!api->so) {
    const char *e = dlerror();
    inc__dist_error(d, INC_ERR_UNAVAILABLE, "NCCL: cannot open %s (%s): %s", file,
                    env && *env ? "named by " INC_DIST_NCCL_ENV
                                : "looked for through the RUNPATH (the CUDA toolkit's lib64) "
                                  "and the loader's path; " INC_DIST_NCCL_ENV " names a file",
                    e ? e : "unknown error");
    free(api);
    return INC_ERR_UNAVAILABLE;
  }
  struct {
    const char *name;
    void **slot;
  } syms[] = {{"ncclGetVersion", (void **)&api->get_version},
              {"ncclGetUniqueId", (void **)&api->get_unique_id},
              {"ncclCommInitRank", (void **)&api->comm_init_rank},
              {"ncclCommDestroy", (void **)&api->comm_destroy},
              {"ncclAllReduce", (void **)&api->all_reduce},
              {"ncclGetErrorString", (void **)&api->error_string}};
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++)
    if (!(*syms[i].slot = dlsym(api->so, syms[i].name))) {
      inc__dist_error(d, INC_ERR_UNAVAILABLE, "NCCL: %s has no %s", file, syms[i].name);
      dlclose(api->so);
      free(api);
      return INC_ERR_UNAVAILABLE;
    }
  d->nccl = api;
  *out = api;
  return INC_OK;
}

static inc_status nccl_fail(inc_dist *d, const inc__nccl_api *api, ncclResult_t r,
                            const char *what)
{
  return inc__dist_error(d, INC_ERR_DEVICE, "rank %d/%d: %s failed: %s (%s)", d->rank, d->size,
                         what, api->error_string(r), api->path);
}

inc_status inc__dist_nccl_open(inc_dist *d, inc__dist_nccl_comm **out)
{
  *out = NULL;
  const inc__nccl_api *api = NULL;
  inc_status s = inc__dist_agree(d, load(d, &api));
  if (s != INC_OK) return s;
  ncclUniqueId id;
  memset(&id, 0, sizeof id);
  ncclResult_t r = d->rank == 0 ? api->get_unique_id(&id) : ncclSuccess;
  s = r == ncclSuccess ? INC_OK : nccl_fail(d, api, r, "ncclGetUniqueId");
  if ((s = inc__dist_agree(d, s)) != INC_OK) return s;
  inc_dist_watch_begin(d, "sending NCCL's unique id (MPI_Bcast)");
  int rc = MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, d->comm);
  inc_dist_watch_end(d);
  if ((s = inc__dist_agree(d, inc__dist_mpi(d, rc, "MPI_Bcast"))) != INC_OK) return s;
  inc__dist_nccl_comm *c = calloc(1, sizeof *c);
  s = c ? INC_OK : inc__dist_error(d, INC_ERR_OUT_OF_MEMORY, "NCCL: out of memory");
  if (c) {
    c->api = api;
    inc_dist_watch_begin(d, "ncclCommInitRank");
    r = api->comm_init_rank(&c->comm, d->size, id, d->rank);
    inc_dist_watch_end(d);
    if (r != ncclSuccess) s = nccl_fail(d, api, r, "ncclCommInitRank");
  }
  if ((s = inc__dist_agree(d, s)) != INC_OK) {
    if (c && c->comm) api->comm_destroy(c->comm);
    free(c);
    return s;
  }
  *out = c;
  return INC_OK;
}

inc_status inc__dist_nccl_allreduce(inc_dist *d, inc__dist_nccl_comm *c, float *buf,
                                    int64_t count, void *stream)
{
  ncclResult_t r = c->api->all_reduce(buf, buf, (size_t)count, ncclFloat, ncclSum, c->comm,
                                      (cudaStream_t)stream);
  return r == ncclSuccess ? INC_OK : nccl_fail(d, c->api, r, "ncclAllReduce");
}

void inc__dist_nccl_close(inc__dist_nccl_comm *c)
{
  if (!c) return;
  if (c->comm) c->api->comm_destroy(c->comm);
  free(c);
}

void inc__dist_nccl_unload(inc_dist *d)
{
  inc__nccl_api *api = d->nccl;
  if (!api) return;
  dlclose(api->so);
  free(api);
  d->nccl = NULL;
}

#else /* built without nccl.h */

inc_status inc__dist_nccl_open(inc_dist *d, inc__dist_nccl_comm **out)
{
  *out = NULL;
  return inc__dist_agree(d, inc__dist_error(d, INC_ERR_UNAVAILABLE,
                                            "NCCL: this libinception-dist was built without "
                                            "nccl.h, so CUDA contexts cannot be attached"));
}

inc_status inc__dist_nccl_allreduce(inc_dist *d, inc__dist_nccl_comm *c, float *buf,
                                    int64_t count, void *stream)
{
  return INC_ERR_UNAVAILABLE;
}

void inc__dist_nccl_close(inc__dist_nccl_comm *c) {}
void inc__dist_nccl_unload(inc_dist *d) {}

#endif
