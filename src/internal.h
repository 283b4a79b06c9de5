/*
 * internal.h — the private structures behind the public handles and the
 * helpers every source file shares (errors, allocation, tensors, shapes).
 *
 * Nothing here is exported: the build hides every symbol that is not
 * marked INC_API, and internal shared symbols carry the inc__ prefix.
 */
#ifndef INC_INTERNAL_H
#define INC_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "../include/inception.h"
#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define INC__ERR_CAP 1024
#define INC__NAME_CAP 64

struct inc_context {
  inc_backend backend;          /* CPU or CUDA, never AUTO */
  const inc__backend_ops *ops;
  void *be;                     /* backend state */
  void *module;                 /* dlopen handle of the backend module (CUDA), or NULL */
  uint64_t seed;
  uint64_t rng_stream;          /* next fill's stream number */
  int num_threads;              /* 0 = default */
  uint64_t next_uid;            /* tensor identities (optimizer state keys) */
  uint64_t tree_version;        /* bumps on any change of a layer tree */
  inc_status latched;           /* INC_ERR_DEVICE_LOST once poisoned */
  char device_name[128];
  char err[INC__ERR_CAP];
  struct inc__prof *prof;       /* benchmark profiling; NULL (off) by default */
  inc_precision precision;      /* the GEMMs' inputs: FP32, or BF16 (CPU + oneDNN only) */
  uint64_t param_epoch;         /* bumps whenever a tensor's values may have been written from
                                 * outside a plan, or parameters or buffers changed (see
                                 * inc__values_changed); caches derived from weights (conv2d's
                                 * Winograd filters) are valid for one epoch */
};

/* Every path that may write a parameter's or buffer's values calls this
 * first: inc_tensor_copy_from_host (any tensor: the caller's may be a
 * parameter), the loss's dlogits, the optimizer step, filling declared
 * tensors (bind, inc_layer_initialize), loading, a training forward (a
 * batch norm's running statistics). Caches keyed on ctx->param_epoch
 * (inc__conv_cache) are then remade on their next use. */
static inline void inc__values_changed(inc_context *ctx) { ctx->param_epoch++; }

struct inc_tensor {
  inc_context *ctx;
  int ndim;
  int64_t dims[INC_MAX_DIMS];
  int64_t numel;
  int64_t capacity;             /* floats allocated */
  float *data;                  /* backend memory */
  uint64_t uid;
  int owner_is_layer;           /* not destroyable through the public API */
  int cnhw;                     /* activation stored channel-major: logical (N, C, ...)
                                 * laid out as (C, N, ...); only inside a layer tree,
                                 * see layer.h */
};

/* ---- errors ---- */
/* Formats the context's message and returns s (s is returned even if ctx is
 * NULL). */
inc_status inc__error(inc_context *ctx, inc_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* The same with a va_list (what a backend module calls, src/module.h). */
inc_status inc__verror(inc_context *ctx, inc_status s, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 0)))
#endif
    ;
/* Clears the message at the start of a public call; returns the latched
 * status (INC_ERR_DEVICE_LOST) or INC_OK. */
inc_status inc__begin(inc_context *ctx);
/* The arguments both backends' gemm_batched refuse alike, before any work
 * (who: "CPU" or "CUDA", for the message): sizes beyond BLAS's int
 * (INC_ERR_SHAPE), a negative batch or stride, or items of c that overlap
 * (stride_c < m*n with batch > 1: the items run side by side)
 * (INC_ERR_INVALID_ARGUMENT). Inline: the CUDA module shares no code. */
static inline inc_status inc__gemm_batched_check(inc_context *ctx, const char *who, int64_t m,
                                                 int64_t n, int64_t k, int64_t batch,
                                                 int64_t stride_c, int64_t stride_a,
                                                 int64_t stride_b)
{
  const int64_t int_max = 2147483647;
  if (m > int_max || n > int_max || k > int_max || batch > int_max)
    return inc__error(ctx, INC_ERR_SHAPE,
                      "%s gemm_batched: dims %lld x %lld x %lld, batch %lld exceed BLAS int", who,
                      (long long)m, (long long)n, (long long)k, (long long)batch);
  if (m < 0 || n < 0 || k < 0 || batch < 0 || stride_c < 0 || stride_a < 0 || stride_b < 0)
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "%s gemm_batched: negative size or stride (dims %lld x %lld x %lld, batch "
                      "%lld, strides c %lld, a %lld, b %lld)",
                      who, (long long)m, (long long)n, (long long)k, (long long)batch,
                      (long long)stride_c, (long long)stride_a, (long long)stride_b);
  if (batch > 1 && stride_c < m * n)
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "%s gemm_batched: stride_c %lld < m*n = %lld: the items of c overlap", who,
                      (long long)stride_c, (long long)(m * n));
  return INC_OK;
}

/* ---- host allocation (fault injection hooks for tests) ---- */
void *inc__malloc(size_t bytes);
void *inc__calloc(size_t count, size_t size);
/* bytes aligned to align (a power of two, a multiple of sizeof(void *)),
 * uninitialised; freed with inc__free. */
void *inc__aligned_alloc(size_t align, size_t bytes);
void *inc__realloc(void *p, size_t bytes);
void inc__free(void *p);
char *inc__strdup(const char *s);
/* Test builds only (-DINC_FAULT_INJECTION): fail the k-th host or device
 * allocation from now on (k >= 1), 0 to disable; returns allocations made. */
void inc__fault_arm(long k);
long inc__fault_count(void);
int inc__fault_should_fail(void);
/* Likewise for file writes: fail the k-th write(2) with ENOSPC. */
void inc__fault_arm_io(long k);
int inc__fault_should_fail_io(void);

/* ---- tensors ---- */
/* Checks ndim/dims and computes numel (overflow-safe). */
inc_status inc__check_dims(inc_context *ctx, int ndim, const int64_t *dims, int64_t *numel);
inc_status inc__tensor_new(inc_context *ctx, int ndim, const int64_t *dims, inc_tensor **out);
void inc__tensor_free(inc_tensor *t);
/* Makes *t hold a tensor of the given shape, reusing its memory when large
 * enough (no allocation in steady state). Contents are undefined after a
 * growth. */
inc_status inc__tensor_ensure(inc_context *ctx, inc_tensor **t, int ndim, const int64_t *dims);
/* Writes "(2, 3, 4)" into buf. */
const char *inc__dims_str(int ndim, const int64_t *dims, char *buf, size_t cap);
/* Fills count floats from the context's random stream (advances it). */
inc_status inc__fill_random(inc_context *ctx, float *dst, int64_t count, int dist, float a,
                            float b);

/* ---- profiling (benchmarks only) ----
 * examples/bench turns this on with inc__prof_start: the context's op table
 * is swapped for one that times every backend call (synchronizing the
 * device around it) and sorts it into a category; leaf layers are timed by
 * kind and pass. Off (ctx->prof == NULL) it costs one pointer test per leaf
 * layer call. Not thread-safe beyond the context's own rule. */
enum {
  INC__PROF_GEMM_FWD,   /* GEMMs of forward passes */
  INC__PROF_GEMM_DGRAD, /* input-gradient GEMMs */
  INC__PROF_GEMM_WGRAD, /* weight-gradient GEMMs */
  INC__PROF_IM2COL,     /* im2col, and the axis swap that is a 1x1 conv's im2col;
                         * Winograd's input, filter and output-gradient transforms */
  INC__PROF_COL2IM,     /* col2im, and the swap back of a 1x1 conv's input gradient;
                         * Winograd's input- and filter-gradient transforms */
  INC__PROF_LAYOUT,     /* other axis swaps, GEMM output pass (Winograd's output
                         * transform), bias add and gradient */
  INC__PROF_POOL,       /* max, average and global pooling, both passes */
  INC__PROF_CONCAT,     /* channel slices, branch-gradient sums, copies */
  INC__PROF_ELTWISE,    /* ReLU, batch norm and dropout, forward and backward */
  INC__PROF_LOSS,
  INC__PROF_SGD,
  INC__PROF_OTHER,      /* memory, fills, synchronize */
  INC__PROF_NCAT
};
/* What the next GEMM or swap is for; set by layers through INC__PROF_ROLE. */
enum { INC__ROLE_NONE, INC__ROLE_FWD, INC__ROLE_DGRAD, INC__ROLE_WGRAD, INC__ROLE_COL,
       INC__ROLE_UNCOL };
#define INC__PROF_KINDS 16
typedef struct inc__prof {
  const inc__backend_ops *inner; /* the backend's own table, restored by stop */
  inc__backend_ops wrap;         /* the timing table while profiling */
  int role;                      /* INC__ROLE_* of the next GEMM / swap */
  double op_s[INC__PROF_NCAT];   /* seconds per category */
  int64_t op_calls[INC__PROF_NCAT];
  double op_flops[INC__PROF_NCAT]; /* GEMM categories: 2*m*n*k summed */
  int nkinds;
  const char *kind[INC__PROF_KINDS]; /* leaf layer kinds, as met */
  double kind_s[INC__PROF_KINDS][2]; /* seconds per kind, forward / backward */
} inc__prof;
#define INC__PROF_ROLE(ctx, r)                                                                  \
  do {                                                                                          \
    if ((ctx)->prof) (ctx)->prof->role = (r);                                                   \
  } while (0)
/* Starts profiling ctx into p (zeroed first); stop restores the table. */
void inc__prof_start(inc_context *ctx, inc__prof *p);
void inc__prof_stop(inc_context *ctx);
double inc__prof_now(void);
/* Adds the time of one leaf layer pass (called by src/layer.c). */
void inc__prof_layer(inc_context *ctx, const char *kind, int backward, double seconds);

/* ---- multiplication with overflow checks ---- */
int inc__mul_overflow(int64_t a, int64_t b, int64_t *out);

#ifdef __cplusplus
}
#endif

#endif /* INC_INTERNAL_H */
