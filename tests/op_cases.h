/*
 * op_cases.h — one table of op cases, run on every backend against one
 * reference (ggml's test-backend-ops, in our terms).
 *
 * A row of the table (tests/op_cases.c) names a slot of src/backend.h, a
 * list of shapes (one case per shape), its input data, its flags (trans for
 * gemm, bias/ReLU/in place for conv_out, ...), a tolerance and which
 * backends must reproduce the kernel bodies' bits. Every case is checked
 * three ways, by the same runner:
 *
 *   - the INC_HD bodies of src/kernels.h, run one element at a time by a
 *     host table of slots (opc_body_ops, tests/op_bodies.c), against a
 *     float64 reference
 *     written from the op's definition (suite `kernels`);
 *   - the CPU backend at 1 and 2 threads (suite `cpu_ops`);
 *   - the CUDA backend, emulated in CI, real on a GPU (suite `cuda`),
 *
 * each output against the float64 reference within
 *
 *     |got - ref| <= atol * sqrt(terms) + rtol * |ref|
 *
 * (terms: the length of the longest sum behind one output element — k for
 * gemm, n*p for bias_grad, 1 for a copy; NaN must meet NaN and an infinity
 * itself), and, for the
 * backends the row's `bits` names, bit for bit against the bodies (NaN
 * matches any NaN). Integer outputs (max-pool argmax, the hit count) and
 * bytes (copy, zero) must be exact everywhere.
 *
 * Adding a shape: a line in a shape list. Adding a case: a row. Adding an
 * op (its line in the registry, src/ops.h): a case_<name> function in
 * op_cases.c (its buffers, inputs and float64 reference), its slot call in
 * opc_call (the one place that maps a row's op to a slot), its rows, and,
 * when it has a body, a slot of opc_body_ops.
 */
#ifndef INC_TEST_OP_CASES_H
#define INC_TEST_OP_CASES_H

#include <stdint.h>
#include "internal.h"

/* The ops of the table, by their backend slot names: the two memory slots
 * with kernels of their own (copy, zero), then every op of the registry
 * (src/ops.h), so that an op added there has no case function until it
 * has a case (a compile error here). X(name, ...) gets the registry's
 * columns, unused. */
#define OPC_OPS(X) X(copy, , , ) X(zero, , , ) INC__OPS(X)

typedef enum opc_op {
#define OPC_ENUM_(name, ...) OPC_##name,
  OPC_OPS(OPC_ENUM_)
#undef OPC_ENUM_
  OPC_NOPS
} opc_op;

/* Row flags. */
enum {
  OPC_TA = 1 << 0,      /* gemm, gemm_batched: a is stored transposed */
  OPC_TB = 1 << 1,      /* gemm, gemm_batched: b is stored transposed */
  OPC_RELU = 1 << 2,    /* conv_out, bn_fwd_*, wino_out: fused ReLU */
  OPC_BIAS = 1 << 3,    /* conv_out, bn_fold, wino_out: with a bias (else NULL) */
  OPC_INPLACE = 1 << 4, /* conv_out (n == 1), relu_fwd: the output is the input */
  OPC_NOARG = 1 << 5,   /* maxpool_fwd: arg NULL (inference) */
  OPC_TO_BIG = 1 << 6,  /* slice: small -> big (else big -> small) */
  OPC_NOGRAD = 1 << 7,  /* softmax_ce: dlogits NULL; bn_bwd: dx NULL */
  OPC_WARM = 1 << 8,    /* sgd: the momentum buffer is set (first = 0 on every step);
                         * else the first step sets it, from NaN (NULL when momentum is 0) */
  OPC_NORMAL = 1 << 9,  /* fill: normal (else uniform) */
  OPC_RECT = 1 << 10,   /* window ops: the shapes give the window per axis (below) */
};

/* Input data (the op's main input; other inputs are OPC_RAND). */
enum {
  OPC_RAND,    /* uniform in [-1, 1) (bytes: any) */
  OPC_NEGZERO, /* OPC_RAND with a -0.0f first */
  OPC_TIES,    /* values in {-1, 0, 1}: ties in most windows */
  OPC_NANS,    /* OPC_TIES with every 7th value NaN */
  OPC_MINF,    /* every value -inf */
  OPC_EDGE,    /* OPC_RAND led by 0, -0, +-1e-30, NaN, 2.5, -1 */
  OPC_LARGE,   /* logits in [-4, 4) led by 80, -80 */
  OPC_EXTREME, /* logits (n, 5): six hand-made rows of +-1e4, each with every label */
};

/* Backends that must give the bodies' bits. */
enum { OPC_BITS_CPU = 1, OPC_BITS_CUDA = 2, OPC_BITS = 3 };

/* Dimensions, by op (unused trailing entries are 0):
 *   copy          bytes
 *   zero          bytes, off (zeroes [off, bytes))
 *   gemm          m, n, k                      (f: alpha, beta)
 *   gemm_batched  m, n, k, batch, gap_c, gap_a, gap_b   (f: alpha, beta); item i of x at
 *                 x + i * (x's item size + gap_x): a gap may be negative (down to a stride 0)
 *   im2col, col2im, maxpool_*, avgpool_*   n, c, h, w, k, s, p (a square window);
 *                 with OPC_RECT n, c, h, w, kh, kw, sh, sw, ph, pw
 *   swap01        a, b, p                      (dst (b, a, p) from src (a, b, p))
 *   conv_out, bias_add, bias_grad   n, c, p
 *   conv_direct   n, c, h, w, k, s, p, oc, cnhw (a square window, then the output's
 *                 channels and layout)
 *   unroll_w, unroll_dw   c, h, w, kh, kw, sh, sw, ph, pw, oc (one image's window,
 *                 then the filters)
 *   relu_*, axpy  count                        (f: alpha for axpy)
 *   slice         n, cb, ct, off, p
 *   gap_*         planes, hw
 *   softmax_ce    n, k                         (f: scale, 0 for 1/n; label smoothing)
 *   sgd           count, steps                 (f: lr, momentum, weight decay)
 *   bn_fwd_*, bn_bwd   n, c, p                 (f: eps)
 *   bn_running    c, m                         (f: -, momentum)
 *   bn_fold       oc, k                        (f: eps)
 *   fill          count, seed, stream          (f: a, b)
 *   dropout       n, c, p, cnhw, seed, stream  (f: the drop probability)
 *   wino_w, wino_dw                     oc, c, m
 *   wino_in, wino_out, wino_dout, wino_din   n, c, h, w, m, cnhw (the image)
 */
#define OPC_DIMS 10
typedef int64_t opc_shape[OPC_DIMS];

typedef struct opc_row {
  opc_op op;
  const opc_shape *shapes; /* one case per shape */
  int nshapes;
  int data;
  int flags;
  float f[3];
  double atol, rtol;
  int bits;
} opc_row;

/* The number of rows, and of cases (rows times their shapes). */
int opc_nrows(void);
int opc_count(void);
/* A line naming case i (op, data, dims, flags), for messages. */
void opc_describe(int i, char *buf, size_t cap);

/* The bodies of src/kernels.h as a table of host slots, one element at a
 * time ("body"); gemm and gemm_batched are NULL (no body: BLAS / cuBLAS).
 * tests/op_bodies.c. */
extern const inc__backend_ops opc_body_ops;

/* Runs case i on ops (with ctx, which must belong to that backend; any
 * context for opc_body_ops) and fails the current Check test on a
 * mismatch. A case whose slot ops lacks passes without a check. */
void opc_run(int i, const inc__backend_ops *ops, inc_context *ctx);
/* Runs every case of row r (the suites' loop tests: one Check test per
 * row, which keeps the forks and contexts few; messages name the case). */
void opc_run_row(int r, const inc__backend_ops *ops, inc_context *ctx);

/* Called from a suite constructor (in the runner process): prints, at the
 * runner's exit, one line with the cases run on each backend and the worst
 * error as a fraction of its tolerance (OPC_VERBOSE=1: one line per op). */
void opc_stats_init(void);

#endif /* INC_TEST_OP_CASES_H */
