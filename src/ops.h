/*
 * ops.h — the op registry: the one list of the compute ops of the backend
 * table. Everything else that names every op is generated from it.
 *
 * INC__OPS(X) calls X(op, params, args, prof) once per op, in table order:
 *   op      the name: the slot ctx->ops->op, the id INC__OP_op, the kernels
 *           inc__cpu_op and inc__cuda_op
 *   params  the parenthesised parameter list, names included, in the house
 *           order: outputs, inputs, saved activations, dimensions, then the
 *           context (always `ctx`, it carries the stream). Every op returns
 *           an inc_status and on failure sets the context's message;
 *           pointers are memory of the context's backend unless the line
 *           says host
 *   args    the same names as an argument list (C cannot derive it)
 *   prof    the profiling category (src/profile.c): an expression evaluated
 *           in the op's timing wrapper, with the parameters in scope: an
 *           INC__PROF_* constant, or for gemm, gemm_batched and swap01 a
 *           call to profile.c's prof_gemm / prof_swap01, which sort them by
 *           the role their layer set before the call (and count GEMM flops).
 * Generated from it: the op slots of inc__backend_ops, the ids INC__OP_<op>
 * and the supports mask (src/backend.h, src/ops.c), the declarations
 * inc__cpu_<op> (src/cpu/cpu.h) and inc__cuda_<op> (cuda/common.cuh), both
 * backends' tables, filled by name (src/cpu/backend.c, cuda/backend.cu),
 * and the profiling wrappers (src/profile.c).
 *
 * Not in the registry: the memory and life-cycle slots (alloc, free,
 * upload, download, copy, zero, synchronize, destroy), hand-written around
 * the generated slots in src/backend.h. A backend cannot lack one of them,
 * so a supports bit would say nothing; each backend keeps them static
 * beside its own state (the CPU serves upload, download and copy with one
 * function); free and destroy return void; the profiler leaves three of
 * them untimed. They are the fixed frame; ops are what gets added.
 *
 * Adding an op:
 *   1. one line here, with its one-line comment, in its family;
 *   2. its kernels: inc__cpu_<op> in src/cpu/<family>.c and inc__cuda_<op>
 *      in cuda/<family>.cu, over one INC_HD body of src/kernels.h when the
 *      op is per element;
 *   3. one test row: the op on the CPU and the (emulated) CUDA backend.
 * A CPU kernel whose signature differs from its line does not compile; a
 * CUDA one (to C++ an overload) or a missing one does not link (the
 * library and the module link with --no-undefined).
 * Bump INC__MODULE_VERSION (src/module.h): the table's layout changes.
 */
#ifndef INC_OPS_H
#define INC_OPS_H

/* clang-format off */
#define INC__OPS(X)                                                                               \
  /* ---- dense algebra: src/cpu/backend.c, cuda/gemm.cu ---- */                                  \
  /* c (m, n) = alpha op(a) op(b) + beta c, row-major and packed: op(a) (m, k), stored (k, m)     \
   * when trans_a; op(b) (k, n), stored (n, k) when trans_b */                                    \
  X(gemm, (float *c, const float *a, const float *b, int trans_a, int trans_b, int64_t m,         \
           int64_t n, int64_t k, float alpha, float beta, inc_context *ctx),                      \
    (c, a, b, trans_a, trans_b, m, n, k, alpha, beta, ctx), prof_gemm(ctx, m, n, k))              \
  /* the same for batch items at once (Winograd's T*T products): c_i = alpha op(a_i) op(b_i) +    \
   * beta c_i, i < batch, with a_i = a + i stride_a, b_i = b + i stride_b, c_i = c + i stride_c;  \
   * strides >= 0, in floats; c's items must not overlap (stride_c >= m n when batch > 1).        \
   * Filed as one GEMM call of batch m n k multiply-adds */                                       \
  X(gemm_batched, (float *c, const float *a, const float *b, int trans_a, int trans_b, int64_t m, \
                   int64_t n, int64_t k, int64_t batch, int64_t stride_c, int64_t stride_a,       \
                   int64_t stride_b, float alpha, float beta, inc_context *ctx),                  \
    (c, a, b, trans_a, trans_b, m, n, k, batch, stride_c, stride_a, stride_b, alpha, beta, ctx),  \
    prof_gemm(ctx, m, n, batch * k))                                                              \
  /* ---- convolution helpers: src/cpu/conv.c, cuda/im2col.cu ---- */                             \
  /* col (C*KH*KW, N*OH*OW) from x (N, C, H, W) */                                                \
  X(im2col, (float *col, const float *x, const inc__window *g, inc_context *ctx),                 \
    (col, x, g, ctx), INC__PROF_IM2COL)                                                           \
  /* dx (N, C, H, W) = the entries of col (C*KH*KW, N*OH*OW) summed back into their pixels */     \
  X(col2im, (float *dx, const float *col, const inc__window *g, inc_context *ctx),                \
    (dx, col, g, ctx), INC__PROF_COL2IM)                                                          \
  /* dst (B, A, P) from src (A, B, P) */                                                          \
  X(swap01, (float *dst, const float *src, int64_t a, int64_t b, int64_t p, inc_context *ctx),    \
    (dst, src, a, b, p, ctx), prof_swap01(ctx))                                                   \
  /* y (N, C, P) = tmp (C, N*P) + bias (C; may be NULL), ReLU if relu. With n == 1 each           \
   * element maps to itself and y may be tmp (conv2d's in-place pass on channel-major y) */       \
  X(conv_out, (float *y, const float *tmp, const float *bias, int64_t n, int64_t c, int64_t p,    \
               int relu, inc_context *ctx),                                                       \
    (y, tmp, bias, n, c, p, relu, ctx), INC__PROF_LAYOUT)                                         \
  /* y (N, C, P) += bias (C) */                                                                   \
  X(bias_add, (float *y, const float *bias, int64_t n, int64_t c, int64_t p, inc_context *ctx),   \
    (y, bias, n, c, p, ctx), INC__PROF_LAYOUT)                                                    \
  /* db (C) = the sum of dy (N, C, P) over n and p */                                             \
  X(bias_grad, (float *db, const float *dy, int64_t n, int64_t c, int64_t p, inc_context *ctx),   \
    (db, dy, n, c, p, ctx), INC__PROF_LAYOUT)                                                     \
  /* ---- direct convolution: src/cpu/conv_direct.c, cuda/conv_direct.cu ---- */                  \
  /* y (N, OC, OH, OW), stored channel-major (OC, N, OH, OW) when cnhw, = w (OC, C*KH*KW) over    \
   * the windows of x (N, C, H, W) + bias (OC; may be NULL), ReLU if relu: no col matrix (a       \
   * network's first convolution, whose few input channels make the col its largest pass) */     \
  X(conv_direct, (float *y, const float *x, const float *w, const float *bias,                    \
                  const inc__window *g, int64_t oc, int relu, int cnhw, inc_context *ctx),        \
    (y, x, w, bias, g, oc, relu, cnhw, ctx),                                                      \
    prof_gemm(ctx, oc, g->n * g->oh * g->ow, (int64_t)g->c * g->kh * g->kw))                      \
  /* ---- the unrolled convolution: src/cpu/conv_unroll.c, cuda/conv_unroll.cu ---- */          \
  /* wu (OC*OH*OW, C*H*W) = w (OC, C*KH*KW) unrolled over window g (its n unused): entry          \
   * ((o, oy, ox), (c, iy, ix)) is tap (iy - oy*SH + PH, ix - ox*SW + PW) of filter (o, c), 0     \
   * where that is outside the kernel; y (N, OC*OH*OW) = x (N, C*H*W) wu^T */                     \
  X(unroll_w, (float *wu, const float *w, const inc__window *g, int64_t oc, inc_context *ctx),    \
    (wu, w, g, oc, ctx), INC__PROF_IM2COL)                                                        \
  /* dw (OC, C*KH*KW) = for each tap the sum over the outputs (oy, ox) of the entries of dwu      \
   * (OC*OH*OW, C*H*W) that unroll_w fills from it */                                             \
  X(unroll_dw, (float *dw, const float *dwu, const inc__window *g, int64_t oc, inc_context *ctx), \
    (dw, dwu, g, oc, ctx), INC__PROF_COL2IM)                                                      \
  /* ---- Winograd convolution F(m x m, 3x3), m = 2 or 4, T = m + 2: src/cpu/winograd.c,          \
   * cuda/winograd.cu; the matrices, layouts and tiles: src/winograd_kernels.h ---- */            \
  /* u (T*T, OC, C) = G w G^T for each filter of w (OC, C, 3, 3) */                               \
  X(wino_w, (float *u, const float *w, int64_t oc, int64_t c, int m, inc_context *ctx),           \
    (u, w, oc, c, m, ctx), INC__PROF_IM2COL)                                                      \
  /* dw (OC, C, 3, 3) = G^T du G for each filter's du (T*T, OC, C) */                             \
  X(wino_dw, (float *dw, const float *du, int64_t oc, int64_t c, int m, inc_context *ctx),        \
    (dw, du, oc, c, m, ctx), INC__PROF_COL2IM)                                                    \
  /* v (T*T, C, P) = B^T d B for each T x T input tile d of the image x (g: its N, C, H, W,       \
   * layout and tiles; zero outside) */                                                           \
  X(wino_in, (float *v, const float *x, const inc__wino *g, inc_context *ctx), (v, x, g, ctx),    \
    INC__PROF_IM2COL)                                                                             \
  /* the image y (g) = A^T M A of each tile of mm (T*T, C, P), where inside the image, + bias     \
   * (C; may be NULL), ReLU if relu */                                                            \
  X(wino_out, (float *y, const float *mm, const float *bias, const inc__wino *g, int relu,        \
               inc_context *ctx),                                                                 \
    (y, mm, bias, g, relu, ctx), INC__PROF_LAYOUT)                                                \
  /* dm (T*T, C, P) = A dY A^T for each m x m output tile dY of the image dy (g; zero outside) */ \
  X(wino_dout, (float *dm, const float *dy, const inc__wino *g, inc_context *ctx),                \
    (dm, dy, g, ctx), INC__PROF_IM2COL)                                                           \
  /* the image dx (g): each pixel the sum of B dV B^T over the tiles that read it, of dv          \
   * (T*T, C, P) */                                                                               \
  X(wino_din, (float *dx, const float *dv, const inc__wino *g, inc_context *ctx),                 \
    (dx, dv, g, ctx), INC__PROF_COL2IM)                                                           \
  /* ---- elementwise: src/cpu/elementwise.c, cuda/elementwise.cu, cuda/concat.cu ---- */         \
  /* y = max(x, 0), count elements */                                                             \
  X(relu_fwd, (float *y, const float *x, int64_t count, inc_context *ctx),                        \
    (y, x, count, ctx), INC__PROF_ELTWISE)                                                        \
  /* dx = dy where the saved output y > 0, else 0 */                                              \
  X(relu_bwd, (float *dx, const float *dy, const float *y, int64_t count, inc_context *ctx),      \
    (dx, dy, y, count, ctx), INC__PROF_ELTWISE)                                                   \
  /* y += alpha * x */                                                                            \
  X(axpy, (float *y, const float *x, float alpha, int64_t count, inc_context *ctx),               \
    (y, x, alpha, count, ctx), INC__PROF_CONCAT)                                                  \
  /* channel slices: to_big: big (N, CT, P)[:, off:off+CB] = small (N, CB, P); else               \
   * small = that slice of big */                                                                 \
  X(slice, (float *big, float *small, int to_big, int64_t n, int64_t cb, int64_t ct,              \
            int64_t off, int64_t p, inc_context *ctx),                                            \
    (big, small, to_big, n, cb, ct, off, p, ctx), INC__PROF_CONCAT)                               \
  /* ---- pooling: src/cpu/pool.c, cuda/pool.cu ---- */                                           \
  /* y (N, C, OH, OW) = window maxima of x; arg (y's shape, int32 argmax) may be NULL */          \
  X(maxpool_fwd, (float *y, int32_t *arg, const float *x, const inc__window *g,                   \
                  inc_context *ctx),                                                              \
    (y, arg, x, g, ctx), INC__PROF_POOL)                                                          \
  /* dx (N, C, H, W): each pixel the sum of dy over the windows whose argmax it is */             \
  X(maxpool_bwd, (float *dx, const float *dy, const int32_t *arg, const inc__window *g,           \
                  inc_context *ctx),                                                              \
    (dx, dy, arg, g, ctx), INC__PROF_POOL)                                                        \
  /* y (N, C, OH, OW) = window means of x (divisor: inc__k_avgpool_div) */                        \
  X(avgpool_fwd, (float *y, const float *x, const inc__window *g, inc_context *ctx),              \
    (y, x, g, ctx), INC__PROF_POOL)                                                               \
  /* dx (N, C, H, W): each pixel the sum of dy / divisor over the windows covering it */          \
  X(avgpool_bwd, (float *dx, const float *dy, const inc__window *g, inc_context *ctx),            \
    (dx, dy, g, ctx), INC__PROF_POOL)                                                             \
  /* y (planes) = the mean of each plane of x (planes, hw) */                                     \
  X(gap_fwd, (float *y, const float *x, int64_t planes, int64_t hw, inc_context *ctx),            \
    (y, x, planes, hw, ctx), INC__PROF_POOL)                                                      \
  /* dx (planes, hw) = dy (planes) / hw, spread over each plane */                                \
  X(gap_bwd, (float *dx, const float *dy, int64_t planes, int64_t hw, inc_context *ctx),          \
    (dx, dy, planes, hw, ctx), INC__PROF_POOL)                                                    \
  /* ---- batch norm: src/cpu/batchnorm.c, cuda/batchnorm.cu ---- */                              \
  /* training, x (N, C, P) with N*P >= 2 per channel: mean, invstd, var (C) = each channel's     \
   * batch mean, 1/sqrt(biased variance + eps) and biased variance, kept for backward and for    \
   * bn_running; y (N, C, P) = (x - mean) invstd weight + bias, ReLU if relu */                  \
  X(bn_fwd_train, (float *y, float *mean, float *invstd, float *var, const float *x,              \
                   const float *weight, const float *bias, int64_t n, int64_t c, int64_t p,       \
                   float eps, int relu, inc_context *ctx),                                        \
    (y, mean, invstd, var, x, weight, bias, n, c, p, eps, relu, ctx), INC__PROF_ELTWISE)          \
  /* after a whole training forward succeeded: running_mean, running_var (C) move by momentum     \
   * towards the batch's mean and unbiased variance (var (C) biased, over m >= 2 values;          \
   * inc__k_bn_running), count (1) += 1 */                                                        \
  X(bn_running, (float *running_mean, float *running_var, float *count, const float *mean,        \
                 const float *var, int64_t c, int64_t m, float momentum, inc_context *ctx),       \
    (running_mean, running_var, count, mean, var, c, m, momentum, ctx), INC__PROF_ELTWISE)        \
  /* evaluation: y (N, C, P) = (x - running_mean) / sqrt(running_var + eps) weight + bias, ReLU   \
   * if relu */                                                                                   \
  X(bn_fwd_eval, (float *y, const float *x, const float *weight, const float *bias,               \
                  const float *running_mean, const float *running_var, int64_t n, int64_t c,      \
                  int64_t p, float eps, int relu, inc_context *ctx),                              \
    (y, x, weight, bias, running_mean, running_var, n, c, p, eps, relu, ctx), INC__PROF_ELTWISE) \
  /* backward of bn_fwd_train: dweight, dbias (C) = the sums of dy xhat and dy per channel;       \
   * dx (N, C, P; NULL: not wanted) = weight invstd (dy - (dbias + xhat dweight) / (N P)) */      \
  X(bn_bwd, (float *dx, float *dweight, float *dbias, const float *dy, const float *x,            \
             const float *mean, const float *invstd, const float *weight, int64_t n, int64_t c,   \
             int64_t p, inc_context *ctx),                                                        \
    (dx, dweight, dbias, dy, x, mean, invstd, weight, n, c, p, ctx), INC__PROF_ELTWISE)           \
  /* an evaluation batch norm folded into the convolution before it: w_out (OC, K) = w (OC, K)    \
   * s, b_out (OC) = (b - running_mean) s + bias, s = weight / sqrt(running_var + eps); b (OC)    \
   * may be NULL (a convolution without bias) */                                                  \
  X(bn_fold, (float *w_out, float *b_out, const float *w, const float *b, const float *weight,    \
              const float *bias, const float *running_mean, const float *running_var,             \
              int64_t oc, int64_t k, float eps, inc_context *ctx),                                \
    (w_out, b_out, w, b, weight, bias, running_mean, running_var, oc, k, eps, ctx),               \
    INC__PROF_LAYOUT)                                                                             \
  /* ---- loss, optimizer, init: src/cpu/, cuda/ loss, sgd, fill ---- */                          \
  /* softmax cross-entropy of logits (N, K) with host labels, already checked to lie in [0, K),   \
   * against q = (1 - smoothing) onehot + smoothing / K (inc__k_softmax_ce_row): host *loss_sum   \
   * (row losses summed in double) and *correct; dlogits (N, K) = (softmax - q) * scale unless    \
   * NULL */                                                                                      \
  X(softmax_ce, (double *loss_sum, int64_t *correct, float *dlogits, const float *logits,         \
                 const int32_t *labels, int64_t n, int64_t k, float scale, float smoothing,       \
                 inc_context *ctx),                                                               \
    (loss_sum, correct, dlogits, logits, labels, n, k, scale, smoothing, ctx), INC__PROF_LOSS)    \
  /* one SGD step over count elements (the rule: inc__k_sgd) */                                   \
  X(sgd, (float *param, float *buf, const float *grad, int64_t count, float lr, float momentum,   \
          float weight_decay, int first, inc_context *ctx),                                       \
    (param, buf, grad, count, lr, momentum, weight_decay, first, ctx), INC__PROF_SGD)             \
  /* dst[i] = inc__k_fill(dist, a, b, seed, stream, i), count elements */                         \
  X(fill, (float *dst, int64_t count, int dist, float a, float b, uint64_t seed,                  \
           uint64_t stream, inc_context *ctx),                                                    \
    (dst, count, dist, a, b, seed, stream, ctx), INC__PROF_OTHER)                                 \
  /* ---- dropout: src/cpu/dropout.c, cuda/dropout.cu ---- */                                     \
  /* y (N, C, P) = x * mask / (1 - p), both stored channel-major (C, N, P) when cnhw: element     \
   * (n, c, q) kept where inc__k_dropout_keep(p, seed, stream, (n*C + c)*P + q). Backward is the  \
   * same op on dy -> dx */                                                                       \
  X(dropout, (float *y, const float *x, int64_t n, int64_t c, int64_t plane, int cnhw, float p,   \
              uint64_t seed, uint64_t stream, inc_context *ctx),                                  \
    (y, x, n, c, plane, cnhw, p, seed, stream, ctx), INC__PROF_ELTWISE)
/* clang-format on */

#endif /* INC_OPS_H */
