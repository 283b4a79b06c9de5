/*
 * backend.h — the private interface every compute backend implements.
 *
 * Layers never touch tensor memory directly: they call these slots through
 * ctx->ops, ggml style. The CPU backend (src/cpu/) fills them with OpenMP
 * loops over the INC_HD bodies of kernels.h plus CBLAS; the CUDA backend
 * (cuda/) with kernels over the same bodies plus cuBLAS, all on the
 * context's stream. Pointers are device pointers of the backend. Every slot
 * but free and destroy returns an inc_status and, on failure, sets the
 * context's message.
 *
 * The compute ops are not listed here: their slots, ids and supports bits
 * are generated from the op registry, src/ops.h (which says how to add
 * one); this file writes out the memory and life-cycle slots around them.
 * Argument order follows the house rule: outputs, inputs, saved
 * activations, dimensions, then the context (which carries the stream).
 */
#ifndef INC_BACKEND_H
#define INC_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include "../include/inception.h"
#include "kernels.h"
#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if [a, a+bytes) and [b, b+bytes) share a byte (bytes > 0). */
static inline int inc__ranges_overlap(const void *a, const void *b, size_t bytes)
{
  uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
  return x < y ? y - x < bytes : x - y < bytes;
}

/* The op ids, in registry order: INC__OP_gemm, ..., and their count. */
#define INC__OP_ENUM(op, params, args, prof) INC__OP_##op,
typedef enum inc__op { INC__OPS(INC__OP_ENUM) INC__OP_COUNT } inc__op;
#undef INC__OP_ENUM
/* The supports bit of op `op` (a bare name: INC__OP_BIT(gemm)), and the mask
 * of every op of the registry. */
#define INC__OP_BIT(op) ((uint64_t)1 << INC__OP_##op)
#define INC__OP_OR_BIT(op, params, args, prof) | INC__OP_BIT(op)
#define INC__OPS_ALL ((uint64_t)0 INC__OPS(INC__OP_OR_BIT))
typedef char inc__op_ids_fit_the_mask[INC__OP_COUNT <= 64 ? 1 : -1];

typedef struct inc__backend_ops {
  const char *name; /* "cpu", "cuda" */
  /* The ops whose slot this table fills: INC__OP_BIT(op) for each; a slot
   * left NULL is an op the backend cannot run. Generated with the table
   * (both backends fill every op: INC__OPS_ALL); tests/test_registry.c
   * checks it against the slots. Ask with inc__backend_supports. */
  uint64_t supports;
  /* Frees the backend state ctx->be (streams, handles, buffers). */
  void (*destroy)(inc_context *ctx);

  /* ---- memory (not in the registry: every backend has all of them) ---- */
  inc_status (*alloc)(void **out, size_t bytes, inc_context *ctx); /* zero-filled */
  void (*free)(void *p, inc_context *ctx);                          /* NULL ok */
  inc_status (*upload)(void *dst, const void *src, size_t bytes, inc_context *ctx);
  inc_status (*download)(void *dst, const void *src, size_t bytes, inc_context *ctx);
  /* dst = src, bytes of backend memory. The two ranges must not overlap
   * (cudaMemcpy's rule, which leaves overlap undefined): both backends
   * return INC_ERR_INVALID_ARGUMENT for an overlap; dst == src is a no-op. */
  inc_status (*copy)(void *dst, const void *src, size_t bytes, inc_context *ctx);
  inc_status (*zero)(void *dst, size_t bytes, inc_context *ctx);
  inc_status (*synchronize)(inc_context *ctx);
  /* *out = the backend's own queue that its work runs on, for outside code
   * that queues work behind it (a gradient hook's communicator,
   * inc_grad_ready_fn): the context's cudaStream_t on CUDA (with the
   * context's device made current), NULL on the CPU. */
  inc_status (*native_stream)(void **out, inc_context *ctx);

  /* ---- the ops of the registry, src/ops.h: inc_status (*op)(params) ---- */
#define INC__OP_SLOT(op, params, args, prof) inc_status(*op) params;
  INC__OPS(INC__OP_SLOT)
#undef INC__OP_SLOT
} inc__backend_ops;

/* 1 if ctx's backend can run op (its supports bit), else 0. */
int inc__backend_supports(const inc_context *ctx, inc__op op);
/* The op's name ("gemm"), or "?" for an id out of range. */
const char *inc__op_name(inc__op op);
/* The mask of the op slots that ops fills (non-NULL), whatever its
 * supports says: what the tests check supports against. */
uint64_t inc__ops_filled(const inc__backend_ops *ops);

/* Backend constructors: set ctx->ops and ctx->be, and describe the device in
 * ctx->device_name. They return INC_ERR_UNAVAILABLE (with a message) when
 * the backend cannot run here. */
inc_status inc__cpu_backend_init(inc_context *ctx);
/* 1 when the CPU running this has AVX-512 (the CPU backend's vector paths,
 * which some plan rules count on: conv2d's direct convolution of many
 * channels), else 0. */
int inc__cpu_avx512(void);
/* Rewrites ctx->device_name after a thread-count change (CPU backend). */
void inc__cpu_describe(inc_context *ctx);
/* The CPU backend's bf16 GEMMs (src/cpu/gemm_bf16.c), for
 * inc_context_set_precision: on makes their state (ctx->be: oneDNN engine
 * and stream, scratch, primitive cache), or returns INC_ERR_UNAVAILABLE with
 * the reason (a build without oneDNN, a CPU without AVX512-BF16); off frees
 * it. The GEMMs then follow ctx->precision. */
inc_status inc__cpu_bf16_enable(inc_context *ctx, int on);
/* The CUDA backend lives in a module loaded at run time (src/module.c):
 * this loads it and calls its constructor; INC_ERR_UNAVAILABLE with the
 * reason when the module is missing or finds no usable device. On success
 * ctx->module holds the module; inc__module_close releases it. */
inc_status inc__cuda_backend_init(inc_context *ctx);
void inc__module_close(inc_context *ctx);
/* 1 if the CUDA module loads and finds a usable device; else 0 and the
 * reason in why (cap bytes; why may be NULL). */
int inc__cuda_usable(char *why, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* INC_BACKEND_H */
