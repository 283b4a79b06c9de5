/*
 * cublas.cu — cuBLAS, opened at run time by the module itself.
 *
 * The module links the CUDA runtime (statically) but not cuBLAS: a
 * DT_NEEDED entry would make the loader map cuBLAS and cuBLASLt (over
 * 500 MB of code, 220 MB of resident pages here) whenever the module is
 * opened, which INC_BACKEND_AUTO does even on a machine without a GPU just
 * to find that out. So the backend constructor first looks for a usable
 * device and only then calls inc__cublas_load, which opens
 * libcublas.so.<major> (found through the module's RUNPATH, the toolkit it
 * was built against, then the loader's path) once per process and looks up
 * the handful of entry points the backend uses.
 *
 * Built against the emulated runtime (tests/cudaemu/, no nvcc) the table
 * holds the emulated cuBLAS, which the emulated module links directly.
 */
#include <mutex>
#include <stdio.h>
#include "common.cuh"
#ifdef __CUDACC__
#include <dlfcn.h>
#endif

namespace {

struct loaded {
  inc__cublas_api api;
  bool ok = false;
  char why[256] = "";
};

#ifdef __CUDACC__
#define INC__STR2(x) #x
#define INC__STR(x) INC__STR2(x)
#define INC__CUBLAS_FILE "libcublas.so." INC__STR(CUBLAS_VER_MAJOR)

template <typename F> bool find(void *h, const char *name, F *out, loaded &l)
{
  void *p = dlsym(h, name);
  if (!p)
    snprintf(l.why, sizeof l.why, "%s has no %s: not the cuBLAS this module was built for",
             INC__CUBLAS_FILE, name);
  *out = (F)p;
  return p != nullptr;
}

void load(loaded &l)
{
  void *h = dlopen(INC__CUBLAS_FILE, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!h) {
    snprintf(l.why, sizeof l.why, "cannot load cuBLAS: %.200s", dlerror());
    return;
  }
  inc__cublas_api &a = l.api;
  l.ok = find(h, "cublasCreate_v2", &a.create, l) && find(h, "cublasDestroy_v2", &a.destroy, l) &&
         find(h, "cublasSetStream_v2", &a.set_stream, l) &&
         find(h, "cublasSetMathMode", &a.set_math_mode, l) &&
         find(h, "cublasSgemm_v2", &a.sgemm, l) &&
         find(h, "cublasSgemmStridedBatched", &a.sgemm_strided_batched, l) &&
         find(h, "cublasGetStatusString", &a.status_string, l) &&
         find(h, "cublasGetStatusName", &a.status_name, l);
}
#else
void load(loaded &l)
{
  l.api = inc__cublas_api{cublasCreate,          cublasDestroy,         cublasSetStream,
                          cublasSetMathMode,     cublasSgemm,           cublasSgemmStridedBatched,
                          cublasGetStatusString, cublasGetStatusName};
  l.ok = true;
}
#endif

} // namespace

const inc__cublas_api *inc__cublas_load(char *why, size_t cap)
{
  static std::once_flag once;
  static loaded l; /* what the process loaded, like the CUDA runtime's own state */
  std::call_once(once, [] { load(l); });
  if (!l.ok) snprintf(why, cap, "%s", l.why);
  return l.ok ? &l.api : nullptr;
}
