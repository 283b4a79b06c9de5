/*
 * module.h — the interface between the core library and a backend module
 * loaded at run time (today one: the CUDA backend, libinception-cuda.so.N).
 *
 * Why a module: the core (libinception.so) must start fast and load on any
 * machine, so it links no CUDA library; the CUDA backend, with the CUDA
 * runtime and cuBLAS behind it, is its own shared object that the core
 * opens with dlopen the first time a context asks for CUDA (src/module.c).
 * The module is built from the files of cuda/, cuda/module.cu among them for this
 * interface; the same sources also build against the emulated CUDA runtime
 * of tests/cudaemu/, which is how CI executes them without a GPU.
 *
 * The module shares the core's private structures (inc_context, the
 * backend table of backend.h, the kernel bodies of kernels.h) but none of
 * its code: whatever it needs from the core (error messages, host
 * allocation, fault injection) it calls through the inc__host table the
 * core hands to its entry point. Both sides are built from the same source
 * tree, and INC__MODULE_VERSION names that contract: bump it on any change
 * to this file, to backend.h's table or to the layout of inc_context. The
 * entry point refuses a core of another version (and the core checks the
 * module's answer too), so a stale module is never called.
 *
 * The module exports exactly one symbol, INC__MODULE_ENTRY.
 */
#ifndef INC_MODULE_H
#define INC_MODULE_H

#include <stdarg.h>
#include <stddef.h>
#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 2: the backend table gained the supports mask and registry-ordered op slots
 * 3: the registry gained batch norm and dropout, softmax_ce its smoothing;
 *    inc__window (the window ops' argument) became per axis
 * 4: the backend table gained native_stream (the gradient hooks' stream),
 *    the registry the Winograd convolution's transforms (wino_*)
 * 5: the registry gained gemm_batched (Winograd's T*T products in one call)
 * 6: inc_context gained precision (inc_context_set_precision)
 * 7: the registry gained conv_direct (the stem's convolution without a col
 *    matrix); inc_context gained param_epoch
 * 8: the registry gained unroll_w and unroll_dw (the unrolled convolution of
 *    small maps) */
#define INC__MODULE_VERSION 8

/* The module's file name: "libinception-cuda.so." INC_VERSION_MAJOR. */
#define INC__MODULE_STR2(x) #x
#define INC__MODULE_STR(x) INC__MODULE_STR2(x)
#define INC__CUDA_MODULE_FILE "libinception-cuda.so." INC__MODULE_STR(INC_VERSION_MAJOR)
/* The environment variable that names the module file explicitly. */
#define INC__CUDA_MODULE_ENV "INCEPTION_CUDA_MODULE"
/* The one symbol a module exports. */
#define INC__MODULE_ENTRY "inc_backend_module_entry"

/* What the core lends a module. */
typedef struct inc__host {
  size_t context_size; /* sizeof(inc_context) of the core       */
  size_t ops_size;     /* sizeof(inc__backend_ops) of the core  */
  /* inc__error with a va_list: formats ctx's message, returns s. */
  inc_status (*verror)(inc_context *ctx, inc_status s, const char *fmt, va_list ap);
  void *(*calloc)(size_t count, size_t size); /* inc__calloc */
  void (*free)(void *p);                      /* inc__free   */
  int (*fault_should_fail)(void);             /* inc__fault_should_fail */
} inc__host;

/* What a module offers the core. */
typedef struct inc__module {
  unsigned version;    /* INC__MODULE_VERSION the module was built with */
  size_t context_size; /* its sizeof(inc_context) and sizeof(inc__backend_ops) */
  size_t ops_size;
  /* 1 if the backend can run in this process; else 0 with the reason in
   * why (cap bytes). */
  int (*usable)(char *why, size_t cap);
  /* The backend constructor: sets ctx->ops, ctx->be and ctx->device_name,
   * or returns INC_ERR_UNAVAILABLE (no usable device), INC_ERR_DEVICE_LOST
   * (CUDA's state in this process is broken) or another error, with a
   * message in ctx. */
  inc_status (*init)(inc_context *ctx);
} inc__module;

/* The entry point. version is the core's INC__MODULE_VERSION; a module of
 * another version returns 0 and explains itself in why (cap bytes).
 * Otherwise it keeps host (which outlives it), sets *out and returns 1. */
typedef int (*inc__module_entry_fn)(unsigned version, const inc__host *host,
                                    const inc__module **out, char *why, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* INC_MODULE_H */
