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
#define INC__WS_SLOTS 4
#define INC__NAME_CAP 64

struct inc_context {
  inc_backend backend;          /* CPU or CUDA, never AUTO */
  const inc__backend_ops *ops;
  void *be;                     /* backend state */
  uint64_t seed;
  uint64_t rng_stream;          /* next fill's stream number */
  int num_threads;              /* 0 = default */
  uint64_t next_uid;            /* tensor identities (optimizer state keys) */
  uint64_t tree_version;        /* bumps on any change of a layer tree */
  inc_status latched;           /* INC_ERR_DEVICE_LOST once poisoned */
  void *ws[INC__WS_SLOTS];      /* scratch buffers, grown on demand */
  size_t ws_bytes[INC__WS_SLOTS];
  char device_name[128];
  char err[INC__ERR_CAP];
};

struct inc_tensor {
  inc_context *ctx;
  int ndim;
  int64_t dims[INC_MAX_DIMS];
  int64_t numel;
  int64_t capacity;             /* floats allocated */
  float *data;                  /* backend memory */
  uint64_t uid;
  int owner_is_layer;           /* not destroyable through the public API */
};

/* ---- errors ---- */
/* Formats the context's message and returns s (s is returned even if ctx is
 * NULL). */
inc_status inc__error(inc_context *ctx, inc_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Clears the message at the start of a public call; returns the latched
 * status (INC_ERR_DEVICE_LOST) or INC_OK. */
inc_status inc__begin(inc_context *ctx);

/* ---- host allocation (fault injection hooks for tests) ---- */
void *inc__malloc(size_t bytes);
void *inc__calloc(size_t count, size_t size);
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
/* A scratch buffer of at least bytes in slot (0..INC__WS_SLOTS-1). */
inc_status inc__workspace(inc_context *ctx, int slot, size_t bytes, void **out);
/* Fills count floats from the context's random stream (advances it). */
inc_status inc__fill_random(inc_context *ctx, float *dst, int64_t count, int dist, float a,
                            float b);

/* ---- multiplication with overflow checks ---- */
int inc__mul_overflow(int64_t a, int64_t b, int64_t *out);

#ifdef __cplusplus
}
#endif

#endif /* INC_INTERNAL_H */
