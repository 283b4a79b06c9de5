/*
 * cpu.h — shared bits of the CPU backend: the thread count for OpenMP loops
 * and the op declarations, generated from the op registry (src/ops.h), that
 * src/cpu/backend.c gathers into its table.
 */
#ifndef INC_CPU_H
#define INC_CPU_H

#include "../internal.h"

/* Hot inner loops are compiled for AVX-512 and AVX2 as well as the
 * baseline x86-64 the library is built for, picked once at load time
 * (GCC function multi-versioning; elsewhere just the baseline). The loops
 * do the same float operations in every version. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    defined(__GLIBC__) /* target_clones needs glibc's ifunc */
#define INC__CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define INC__CPU_CLONES
#endif

/* x86-64 with GCC's intrinsics: the loops written with AVX-512/AVX2
 * intrinsics (each behind a run-time check of the CPU). */
#if defined(__GNUC__) && defined(__x86_64__)
#define INC__CPU_X86 1
#include <immintrin.h>
#else
#define INC__CPU_X86 0
#endif

#if INC__CPU_X86
/* Transposes 16 rows of 16 floats in registers (r[i][j] <- r[j][i]). */
__attribute__((target("avx512f"))) static inline void inc__cpu_transpose16(__m512 *r)
{
  __m512 t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {
    __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
    __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
  }
  for (int j = 0; j < 4; j++) {
    t[j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
    t[4 + j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xDD);
    t[8 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
    t[12 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xDD);
  }
  for (int j = 0; j < 4; j++) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xDD);
    r[4 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0x88);
    r[12 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0xDD);
  }
}
#endif

/* Forced inlining: the per-m bodies that a CLONES wrapper instantiates for
 * each m (so each clone gets its own copy, with m a constant). */
#if defined(__GNUC__)
#define INC__CPU_INLINE static inline __attribute__((always_inline))
#else
#define INC__CPU_INLINE static inline
#endif

/* Max pooling of "same" stride-1 windows (src/cpu/pool_same.c), for
 * src/cpu/pool.c: 1 when it pooled g, 0 when g is another window or its
 * tables or scratch could not be allocated (the general path then runs);
 * isa: 2 AVX-512, 1 AVX2, 0 neither (pool.c's check). */
int inc__cpu_maxpool_same(float *y, int32_t *arg, const float *x, const inc__window *g, int isa,
                          inc_context *ctx);

/* Max pooling of 3x3 stride-2 windows padded by at most 1, with at least 5
 * outputs per row (src/cpu/pool_s2.c), for src/cpu/pool.c: 1 when it
 * pooled g, 0 when it does not take g (isa as above; it needs 2). */
int inc__cpu_maxpool_s2(float *y, int32_t *arg, const float *x, const inc__window *g, int isa,
                        inc_context *ctx);

/* The Winograd transforms' block path (src/cpu/winograd_block.c), for
 * src/cpu/winograd.c: whether g's planes go in blocks, and each op on it. */
int inc__cpu_wino_blocks(const inc__wino *g);
inc_status inc__cpu_wino_in_blocks(float *v, const float *x, const inc__wino *g, inc_context *ctx);
inc_status inc__cpu_wino_out_blocks(float *y, const float *mm, const float *bias,
                                    const inc__wino *g, int relu, inc_context *ctx);
inc_status inc__cpu_wino_dout_blocks(float *dm, const float *dy, const inc__wino *g,
                                     inc_context *ctx);
inc_status inc__cpu_wino_din_blocks(float *dx, const float *dv, const inc__wino *g,
                                    inc_context *ctx);

/* Threads for a loop of `work` cheap iterations: 1 below a threshold where
 * forking a team costs more than it saves, else the context's count. */
int inc__cpu_threads(const inc_context *ctx, int64_t work);

/* The kernel side that the window loops' work estimates count (for
 * inc__cpu_threads): the mean of the window's height and width, which is
 * k for a square window. */
static inline int64_t inc__cpu_window_side(const inc__window *g) { return (g->kh + g->kw) / 2; }

/* The CPU backend's state, ctx->be, made on first need (NULL until then):
 * the bf16 GEMMs' (gemm_bf16.c; NULL unless the precision is BF16) and
 * gemm's copies of B's column blocks (backend.c), one buffer grown to the
 * largest call and reused. Freed with the context. */
typedef struct inc__cpu_state {
  void *bf16;
  float *pack;
  size_t pack_floats;
} inc__cpu_state;

/* ctx->be, made if it is not there yet; NULL when it cannot be allocated
 * (no context error set). */
inc__cpu_state *inc__cpu_state_get(inc_context *ctx);

/* The GEMMs of INC_PRECISION_BF16 (gemm_bf16.c), which inc__cpu_gemm hands
 * its call to (gemm_batched stays float32: gemm_bf16.c says why):
 * c_i (m, n) = alpha op(a_i) op(b_i) + beta c_i, i < batch, with the
 * registry's meaning of the strides, a_i and b_i rounded to bf16, sums in
 * float32, on `threads` threads. Needs the state inc__cpu_bf16_enable made
 * (ctx->be's bf16). */
inc_status inc__cpu_gemm_bf16(float *c, const float *a, const float *b, int trans_a,
                              int trans_b, int64_t m, int64_t n, int64_t k, int64_t batch,
                              int64_t stride_c, int64_t stride_a, int64_t stride_b, float alpha,
                              float beta, int threads, inc_context *ctx);

/* The ops of the registry (src/ops.h): inc_status inc__cpu_<op>(params),
 * one family per file (conv.c, winograd.c, elementwise.c, pool.c, loss.c, sgd.c,
 * fill.c, dropout.c; gemm in backend.c, its bf16 form in gemm_bf16.c), gathered by name into the table of backend.c. */
#define INC__CPU_OP(op, params, args, prof) inc_status inc__cpu_##op params;
INC__OPS(INC__CPU_OP)
#undef INC__CPU_OP

#endif /* INC_CPU_H */
