/*
 * cpu.h — shared bits of the CPU backend: the thread count for OpenMP loops
 * and the op declarations that src/cpu/backend.c gathers into its table.
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

/* Threads for a loop of `work` cheap iterations: 1 below a threshold where
 * forking a team costs more than it saves, else the context's count. */
int inc__cpu_threads(const inc_context *ctx, int64_t work);

/* conv.c */
inc_status inc__cpu_im2col(float *col, const float *x, const inc__window *g, inc_context *ctx);
inc_status inc__cpu_col2im(float *dx, const float *col, const inc__window *g, inc_context *ctx);
inc_status inc__cpu_swap01(float *dst, const float *src, int64_t a, int64_t b, int64_t p,
                           inc_context *ctx);
inc_status inc__cpu_conv_out(float *y, const float *tmp, const float *bias, int64_t n, int64_t c,
                             int64_t p, int relu, inc_context *ctx);
inc_status inc__cpu_bias_add(float *y, const float *bias, int64_t n, int64_t c, int64_t p,
                             inc_context *ctx);
inc_status inc__cpu_bias_grad(float *db, const float *dy, int64_t n, int64_t c, int64_t p,
                              inc_context *ctx);
/* elementwise.c */
inc_status inc__cpu_relu_fwd(float *y, const float *x, int64_t count, inc_context *ctx);
inc_status inc__cpu_relu_bwd(float *dx, const float *dy, const float *y, int64_t count,
                             inc_context *ctx);
inc_status inc__cpu_axpy(float *y, const float *x, float alpha, int64_t count, inc_context *ctx);
inc_status inc__cpu_slice(float *big, float *small, int to_big, int64_t n, int64_t cb, int64_t ct,
                          int64_t off, int64_t p, inc_context *ctx);
/* pool.c */
inc_status inc__cpu_maxpool_fwd(float *y, int32_t *arg, const float *x, const inc__window *g,
                                inc_context *ctx);
inc_status inc__cpu_maxpool_bwd(float *dx, const float *dy, const int32_t *arg,
                                const inc__window *g, inc_context *ctx);
inc_status inc__cpu_avgpool_fwd(float *y, const float *x, const inc__window *g,
                                inc_context *ctx);
inc_status inc__cpu_avgpool_bwd(float *dx, const float *dy, const inc__window *g,
                                inc_context *ctx);
inc_status inc__cpu_gap_fwd(float *y, const float *x, int64_t planes, int64_t hw,
                            inc_context *ctx);
inc_status inc__cpu_gap_bwd(float *dx, const float *dy, int64_t planes, int64_t hw,
                            inc_context *ctx);
/* loss.c */
inc_status inc__cpu_softmax_ce(double *loss_sum, int64_t *correct, float *dlogits,
                               const float *logits, const int32_t *labels, int64_t n, int64_t k,
                               float scale, inc_context *ctx);
/* sgd.c */
inc_status inc__cpu_sgd(float *param, float *buf, const float *grad, int64_t count, float lr,
                        float momentum, float weight_decay, int first, inc_context *ctx);
/* fill.c */
inc_status inc__cpu_fill(float *dst, int64_t count, int dist, float a, float b, uint64_t seed,
                         uint64_t stream, inc_context *ctx);

#endif /* INC_CPU_H */
