/*
 * plan.h — the execution plan: what a bound layer tree runs, as flat lists
 * of steps over planned tensors, built once per input shape.
 *
 * When inc_layer_forward meets an input shape (or training flag) it has not
 * planned for, src/plan.c walks the tree once: containers lay out their
 * children (emit), every leaf becomes one forward step, and then rewrite
 * rules work on the flat list instead of on flags set around calls:
 *   - a step whose output only an epilogue kind reads, of a kind that fuses
 *     it (a ReLU after a conv2d), applies it in its own output pass, and
 *     the epilogue's step passes that value on (fusion);
 *   - activations are channel-major, (C, N, ...), except the output of a
 *     conv2d read only by convolutions that run im2col (layouts);
 *   - a concat's branch outputs are views of their blocks of its output;
 *   - backward steps are emitted in container order, each saying where its
 *     input gradient goes (a new tensor, or written or added into a sum a
 *     container gives it), and steps that only feed the caller's input
 *     gradient are marked, so that a backward without dx skips them.
 * Every tensor of the plan (an activation, gradient, saved im2col matrix,
 * argmax map or scratch buffer) is a value with a lifetime over the step
 * list; values are placed in one arena so that memory is reused once no
 * later step reads it. An inference plan keeps nothing for backward.
 *
 * Values are indices into plan->vals (-1: none); a value may be a view of
 * another at an element offset (concat blocks), or external (the caller's
 * x and dy, never in the arena).
 */
#ifndef INC_PLAN_H
#define INC_PLAN_H

#include "layer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct inc__val {
  inc_tensor t;      /* shape, layout (t.cnhw) and, once placed, data */
  size_t bytes;      /* float32 or int32 elements times 4 */
  int base;          /* a view: the value it lies in, else -1 */
  int64_t off;       /* a view: element offset into base */
  int external;      /* the caller's tensor: data set per call */
  int first, last;   /* lifetime: positions of the first and last step using it */
  size_t at;         /* byte offset in the arena (placed values) */
} inc__val;

/* What a step runs: a layer's forward or backward pass, or one backend op
 * that moves data between values (the containers' and boundaries' work),
 * named by its registry id (src/ops.h) or, for the copy slot every backend
 * has, INC__STEP_COPY. */
enum {
  INC__STEP_FWD = -1,                /* layer's forward: x -> y */
  INC__STEP_BWD = -2,                /* layer's backward: dy -> dx (+ parameter gradients) */
  INC__STEP_COPY = -3,               /* y = x */
  INC__STEP_SWAP = INC__OP_swap01,   /* y (B, A, P) = x (A, B, P): dim[0] = A, dim[1] = B, dim[2] = P */
  INC__STEP_AXPY = INC__OP_axpy,     /* y += alpha x */
  INC__STEP_SLICE = INC__OP_slice,   /* y (N, CB, P) = x (N, CT, P)[:, off:off+CB]: dim = N, CB, CT, off, P */
  INC__STEP_SCALE = -4               /* y = alpha x: zero, then axpy (a residual's scaled dy) */
};

#define INC__STEP_AUX 5

typedef struct inc__step {
  int op;              /* INC__STEP_*: a layer pass, or a registry op id */
  inc_layer *layer;    /* FWD / BWD: the layer it runs for */
  int fwd;             /* BWD: index of its forward step */
  int x, y;            /* FWD: input and output; primitives: source and destination */
  int dy, dx;          /* BWD: output gradient in, input gradient out */
  int aux[INC__STEP_AUX]; /* kind-private values (col, argmax, scratch), -1 if unused */
  int in, nin;         /* FWD of a multi-input step (concat): its inputs in plan->ins */
  int relu;            /* FWD: a fused ReLU epilogue (the kind fuses INC__EPI_RELU) */
  int fold;            /* FWD: the (passed) step of an evaluation batch norm folded into
                        * this one (the kind fuses INC__EPI_BN), else -1 */
  int pass;            /* FWD: passes x on, runs nothing (a fused relu or batch norm, an
                        * identity); y is x */
  int accum;           /* BWD: add into dx instead of writing it */
  int flags;           /* kind-private decisions taken at planning */
  int skip_no_dx;      /* BWD / primitive: only feeds the caller's dx; skipped without it */
  int dx_no_dx;        /* BWD: its dx only feeds the caller's dx; not computed without it */
  int64_t dim[5];      /* primitives: dimensions */
  float alpha;         /* AXPY, SCALE: the factor (1 unless set) */
} inc__step;

/* Where a container wants a child's input gradient: into value `val`
 * (written, or added to when accum), or val -1 for the child's own. */
typedef struct inc__sink {
  int val;
  int accum;
} inc__sink;

/* A training plan's saved values: none (no training forward since the
 * arena last changed hands), fresh from the forward, or consumed by a
 * backward (whose gradients may have reused their memory: a further
 * backward runs the forward again first). */
enum { INC__TRAINED_NONE, INC__TRAINED_FRESH, INC__TRAINED_USED };

typedef struct inc__plan {
  inc_context *ctx;
  inc_layer *root;
  inc__shape in;         /* the input shape it was built for */
  int training;          /* with backward steps and saved values */
  uint64_t sig;          /* inc__plan_signature of the tree when built */
  inc__val *vals;
  int nvals, cap_vals;
  inc__step *fwd, *bwd;
  int nfwd, nbwd, cap_fwd, cap_bwd;
  int *ins;              /* inputs of multi-input steps */
  int nins, cap_ins;
  int x, y, out;         /* input; the tree's output; what the caller gets (y or its NCHW copy) */
  int dy_ext, dy, dx;    /* the caller's dy; the tree's dy (maybe converted); the input gradient */
  size_t arena_bytes;    /* what the placed values need */
  int building_bwd;      /* emission state: steps go to bwd */
  int no_dx;             /* while running backward: the caller wants no dx */
  int trained;           /* INC__TRAINED_*: what backward can use */
  /* Random streams (dropout masks): a training forward draws nrandom
   * consecutive streams of the context, from rng_stream on, with seed
   * rng_seed; the steps that use them (st->flags: the index among them)
   * read them here, in forward and in backward, so both passes, and a
   * forward run again for a second backward, use the same masks. */
  int nrandom;
  uint64_t rng_seed, rng_stream;
} inc__plan;

/* ---- building (src/plan.c) ---- */
/* Builds the plan of `root` for input shape `in` (the tree bound for it).
 * *out is freed with inc__plan_free. */
inc_status inc__plan_build(inc_layer *root, const inc__shape *in, int training,
                           inc__plan **out);
void inc__plan_free(inc__plan *p);
/* What a plan of root depends on besides the input shape: the tree's
 * layers, their order and their bound tensors (a hash over the tree). A
 * change elsewhere in the context, or a new name, leaves it as it was. */
uint64_t inc__plan_signature(const inc_layer *root);

/* For kinds and containers while the plan is built: */
/* A new value of shape s (float32; layout from cnhw). Returns its index or
 * -1 after setting the context's message (out of memory). */
int inc__plan_value(inc__plan *p, const inc__shape *s, int cnhw);
/* A new value of the shape and layout of value v (an input gradient like
 * its input). Returns its index or -1 (message set). */
int inc__plan_like(inc__plan *p, int v);
/* A new flat value of count elements (float32 or int32). */
int inc__plan_scratch(inc__plan *p, int64_t count);
/* A new value viewing base at element offset off, of shape s. */
int inc__plan_view(inc__plan *p, int base, int64_t off, const inc__shape *s, int cnhw);
/* Makes value v a view of base at element offset off. */
void inc__plan_make_view(inc__plan *p, int v, int base, int64_t off);
/* Clears st to a step of kind op for layer l (values -1). */
void inc__plan_step_init(inc__step *st, int op, inc_layer *l);
/* Makes forward step st pass its input on: st runs nothing and every
 * reader of its output reads its input instead (a fused ReLU; an identity
 * such as dropout at inference). 0, and nothing changed, when the input is
 * the caller's x and the output the tree's (the caller would get its own
 * tensor back): then the step must copy. */
int inc__plan_pass(inc__plan *p, inc__step *st);
/* A random stream for step st of a training plan: its index among the
 * plan's (set in st->flags); the stream itself is inc__plan_stream. */
void inc__plan_take_random(inc__plan *p, inc__step *st);
/* Appends a data-moving step (INC__STEP_COPY, _SWAP, _AXPY, _SCALE, _SLICE)
 * writing value y from x, with dimensions d0..d4 (0 where unused) and alpha
 * 1; returns its index in the list it went to, or -1 (message set). */
int inc__plan_move(inc__plan *p, int op, int y, int x, int64_t d0, int64_t d1, int64_t d2,
                   int64_t d3, int64_t d4);
/* For the parallel containers (concat, residual): emits every child of l on
 * x, then one forward step of l reading their outputs (its inputs in
 * plan->ins) and x (whose shape its input gradient takes); its output, *y,
 * has the shape of child 0's, with the children's channels summed when
 * sum_channels is set (concat). */
inc_status inc__plan_emit_branches(inc_layer *l, inc__plan *p, int x, int sum_channels, int *y);
/* Appends n values to plan->ins; returns the index of the first, or -1. */
int inc__plan_add_inputs(inc__plan *p, const int *v, int n);
/* The forward step of layer l (each layer runs once per plan), or -1. */
int inc__plan_fwd_step(const inc__plan *p, const inc_layer *l);
/* Appends a step (to the forward list, or to the backward list while
 * backward steps are emitted); returns its index or -1 (message set). */
int inc__plan_step(inc__plan *p, const inc__step *st);
/* Runs emission for a subtree: forward (input value x, *y its output) and
 * backward (gradient dy of its output; *dx the value of its input
 * gradient, given the container's sink). */
inc_status inc__plan_emit(inc_layer *l, inc__plan *p, int x, int *y);
inc_status inc__plan_emit_bwd(inc_layer *l, inc__plan *p, int dy, const inc__sink *sink,
                              int *dx);
/* 1 if value v is read by at least one forward step and every reader is
 * a step for which pred(step) is 1 (a fused ReLU passes v on: its readers
 * read v). 0 for the tree's output, which the caller reads. */
int inc__plan_readers_all(const inc__plan *p, int v,
                          int (*pred)(const inc__plan *, const inc__step *));
/* The tensor of value v (its data valid while the plan runs). While a plan
 * is built the pointer is valid only until the next value is added (the
 * array grows): read what is needed first. */
static inline inc_tensor *inc__pv(const inc__plan *p, int v) { return &p->vals[v].t; }

/* The input of a layer step: its own x (forward), or its forward step's
 * (backward: the shape and layout its gradient has). */
static inline const inc_tensor *inc__plan_input(const inc__plan *p, const inc__step *st)
{
  return inc__pv(p, st->op == INC__STEP_BWD ? p->fwd[st->fwd].x : st->x);
}

/* The random stream of a step that took one (inc__plan_take_random), for
 * the last training forward; the seed is p->rng_seed. */
static inline uint64_t inc__plan_stream(const inc__plan *p, const inc__step *st)
{
  return p->rng_stream + (uint64_t)st->flags;
}

/* For a backward step's run function: 1 if it computes its input
 * gradient in this run (the caller may want none). */
static inline int inc__plan_dx_wanted(const inc__plan *p, const inc__step *st)
{
  return st->dx >= 0 && !(p->no_dx && st->dx_no_dx);
}

/* ---- running (src/plan_run.c) ---- */
/* Places the values in the layer's arena (grown as needed) and runs the
 * forward steps on x; the caller's output is then inc__pv(p, p->out). */
inc_status inc__plan_forward(inc__plan *p, const inc_tensor *x);
/* Runs the backward steps on dy (shape of the output); want_dx 0 skips
 * what only the input gradient needs. */
inc_status inc__plan_backward(inc__plan *p, const inc_tensor *dy, int want_dx);

#ifdef __cplusplus
}
#endif

#endif /* INC_PLAN_H */
