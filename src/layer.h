/*
 * layer.h — the private layer table and the state every layer shares.
 *
 * One struct serves every kind: the generic part (tree links, name, bound
 * shape, parameters, owned output and input-gradient tensors) lives here
 * and is managed by src/layer.c; what differs between kinds is a table of
 * functions (inc__layer_vt) plus a private pointer. Adding a kind means one
 * src/layers/<kind>.c file defining its table and constructor, one
 * declaration in inception.h, and its tests.
 *
 * Shapes: a layer binds only what its parameters need (input channels for
 * conv2d, input features for dense), so spatial sizes can change between
 * calls. Binding happens in two passes over a tree: a dry pass that checks
 * every bound shape and computes every output shape, then a pass that
 * allocates the parameters of unbound layers (rolled back on failure).
 *
 * Tensors a layer owns: a leaf kind declares each of them in a static table
 * (inc__tensor_decl: name, shape rule, parameter or buffer, init rule), and
 * the generic code allocates, fills, names, enumerates, saves, loads and
 * optimises them from that table alone. The table is per layer (l->tensors,
 * the kind's vt->tensors unless the constructor picks another: a conv2d
 * without bias declares its weight only).
 */
#ifndef INC_LAYER_H
#define INC_LAYER_H

#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most parameters, and buffers, one leaf may declare. */
#define INC__MAX_PARAMS 4
#define INC__MAX_BUFFERS 4

/* Layouts. Tensors are row-major (N, C, ...) at the API. Inside a layer
 * tree an activation may instead be stored channel-major, its memory laid
 * out as (C, N, ...) (tensor->cnhw set; dims stay the logical (N, C, ...)),
 * because that is the layout of a batch-folded convolution GEMM: conv2d
 * writes its output (OC, N*OH*OW) straight from the GEMM, reads a 1x1
 * convolution's input as its col matrix, takes its output gradient as the
 * GEMM operand, and a concat's channel slices become contiguous blocks.
 * Rules: a layer accepts either layout; dx always has the layout of the
 * layer's x, dy that of its y; pooling, ReLU and concat keep the layout of
 * their input, conv2d writes channel-major unless the plan's layout rule
 * (src/plan.h) asks for (N, C, ...), flatten and dense are (N, F). The
 * plan converts at the boundary, so a caller only ever sees (N, C, ...).
 * With N == 1 or C == 1 the two layouts are the same bytes. */

typedef struct inc__shape {
  int ndim;
  int64_t d[INC_MAX_DIMS];
} inc__shape;

/* ---- declared tensors ----
 * A leaf kind lists the tensors it owns in a static table, in the order it
 * wants them allocated, filled, named and saved:
 *
 *   static const inc__tensor_decl conv_tensors[] = {
 *       {"weight", 1, 4, {INC__DIM_OUT, INC__DIM_IN, INC__DIM_K, INC__DIM_KW},
 *        INC__INIT_WEIGHT, 0.0f},
 *       {"bias", 1, 1, {INC__DIM_OUT}, INC__INIT_ZEROS, 0.0f},
 *       {NULL, 0, 0, {0}, INC__INIT_ZEROS, 0.0f}};
 *
 * A parameter (trainable) has a gradient and the optimizer updates it; a
 * buffer (running statistics) has no gradient and is only saved and loaded.
 * Both are named "<path>.<name>" (inc_layer_param, inc_layer_buffer and the
 * files). A shape rule is a list of dimensions, each a constant >= 1 or one
 * of the symbols below; the layer's constructor sets the sizes they name.
 * A kind whose layers differ in what they own (conv2d with and without a
 * bias) has one table per variant; the constructor sets l->tensors. */

/* Symbols of a shape rule. */
enum {
  INC__DIM_IN = -1,  /* the size the layer binds: input channels or features (bound_in) */
  INC__DIM_OUT = -2, /* l->sizes[0]: output channels or features */
  INC__DIM_K = -3,   /* l->sizes[1]: the kernel size (its height when not square) */
  INC__DIM_KW = -4   /* l->sizes[2]: the kernel's width */
};
#define INC__NSIZES 3

/* How a declared tensor is filled at binding and by inc_layer_initialize. */
typedef enum inc__init_rule {
  INC__INIT_ZEROS = 0,
  INC__INIT_ONES = 1,
  INC__INIT_CONSTANT = 2, /* every element = the declaration's value */
  /* the layer's scheme (inc_init: Xavier/Kaiming uniform/normal, normal
   * 0.01), one draw of the context's random stream; fans from the tensor's
   * shape as PyTorch computes them: with receptive = dims[2] * ... (1 for
   * fewer dims), fan_in = dims[1] * receptive, fan_out = dims[0] * receptive
   * (a 1-D tensor (n) counts as (n, 1)) */
  INC__INIT_WEIGHT = 3,
  /* a count, zero at first: a buffer of shape (1) holding an integer as a
   * float (exact to 2^24), kept in files as a 0-d int64 tensor, as PyTorch
   * keeps num_batches_tracked; loading takes int64 or float32 of shape ()
   * or (1) */
  INC__INIT_COUNT = 4
} inc__init_rule;

typedef struct inc__tensor_decl {
  const char *name;           /* "weight", "bias", "running_mean"; NULL ends a table */
  int trainable;              /* 1: a parameter (with a gradient); 0: a buffer */
  int ndim;                   /* the shape rule: ndim dimensions, constants or INC__DIM_* */
  int64_t dims[INC_MAX_DIMS];
  inc__init_rule init;
  float value;                /* INC__INIT_CONSTANT's value */
} inc__tensor_decl;

struct inc__grad_hooks;

/* A declared tensor of a bound leaf: a parameter (grad set) or a buffer
 * (grad NULL). A parameter's gradient may be a view of a gradient bucket
 * of a hooked layer (src/grad_buckets.c): then in_bucket is that layer's
 * hook, which owns the memory, and bucket its index. */
typedef struct inc__param {
  const inc__tensor_decl *decl;
  inc_tensor *value;
  inc_tensor *grad;
  struct inc__grad_hooks *in_bucket; /* NULL: grad owns its memory */
  int bucket;
} inc__param;

struct inc__plan;
struct inc__step;
struct inc__sink;

/* Epilogues: elementwise kinds a producing step can apply in its own
 * output pass (the plan fuses them, src/plan.c). A batch norm is one only
 * in an inference plan, where it is a per-channel affine map that folds
 * into the weights of the convolution before it. */
enum { INC__EPI_RELU = 1, INC__EPI_BN = 2 };

/* A cache of tensor names: count strings, made at tree_version version. */
typedef struct inc__names {
  char **names;
  int count;
  uint64_t version;
} inc__names;

typedef struct inc__layer_vt {
  const char *kind;
  int is_container;
  /* Fusion: the epilogue this kind is (0: none), and the epilogues this
   * kind's forward applies when the plan fuses one into it (st->relu). */
  int epilogue;
  unsigned fuses;
  /* The registry ops its forward and its backward steps call
   * (INC__OP_BIT(gemm) | ...; not the memory slots every backend has): a
   * plan is only built on a backend whose supports mask holds those of
   * its steps. */
  uint64_t ops[2];
  /* Output shape for input `in`. When bind is 0 nothing may change: an
   * unbound layer checks what it can and reports the shape it would give.
   * When bind is 1 an unbound layer binds (allocates and fills its declared
   * tensors through inc__layer_bind) and must set l->bound_gen to
   * l->ctx->tree_version. Containers recurse into their children. */
  inc_status (*infer)(inc_layer *l, const inc__shape *in, inc__shape *out, int bind);
  /* ---- planning (src/plan.h) ----
   * Containers: emit adds the forward steps of the subtree for input value
   * x and gives its output value; emit_bwd adds the backward steps for the
   * output gradient dy and gives the value holding the input gradient,
   * honouring the sink its container passes. NULL for leaves, which the
   * generic code turns into one forward and one backward step each (an
   * identity sets them: it has no step, its output is its input value). */
  inc_status (*emit)(inc_layer *l, struct inc__plan *p, int x, int *y);
  inc_status (*emit_bwd)(inc_layer *l, struct inc__plan *p, int dy, const struct inc__sink *sink,
                         int *dx);
  /* A forward step, once its input's layout is final: sets the output's
   * layout, adds the values the step needs (scratch, or saved for backward
   * in a training plan) and records its decisions in st->flags. */
  inc_status (*plan_fwd)(struct inc__plan *p, struct inc__step *st);
  /* A backward step: sets st->dx (a new value, or sink->val when the kind
   * can write or add its input gradient there) and its scratch values. */
  inc_status (*plan_bwd)(struct inc__plan *p, struct inc__step *st, const struct inc__sink *sink);
  /* Run one step (values placed, inputs ready). */
  inc_status (*run_fwd)(const struct inc__plan *p, const struct inc__step *st);
  inc_status (*run_bwd)(const struct inc__plan *p, const struct inc__step *st);
  /* After every forward step of a training plan succeeded: the step's
   * effects beyond its values (a batch norm's running statistics), so
   * that a failed forward changes nothing and a forward run again for a
   * second backward does not apply them twice. May be NULL. */
  inc_status (*commit)(const struct inc__plan *p, const struct inc__step *st);
  /* The tensors a leaf of this kind owns (see "declared tensors" above),
   * a table ended by a NULL name; NULL for kinds that own none. It is each
   * layer's l->tensors unless the constructor picks another table; the
   * generic code reads l->tensors only. Loading binds an unbound leaf from
   * the file's shape of its first tensor whose rule names INC__DIM_IN
   * (inc__layer_bind_from). */
  const inc__tensor_decl *tensors;
  /* Frees l->priv. May be NULL. */
  void (*destroy)(inc_layer *l);
  /* Appends kind-specific settings, e.g. "k=3 s=1 p=1", for the summary.
   * May be NULL. */
  void (*describe)(const inc_layer *l, char *buf, size_t cap);
} inc__layer_vt;

struct inc_layer {
  const inc__layer_vt *vt;
  inc_context *ctx;
  inc_layer *parent;
  inc_layer **children;
  int nchildren, children_cap;
  char name[INC__NAME_CAP];
  int named;                    /* name set by the user or a builder */

  /* binding */
  int bound;                    /* declared tensors allocated (leaves with tensors) */
  int64_t bound_in;             /* input channels / features when bound */
  uint64_t bound_gen;           /* tree_version of the pass that bound it */
  inc_init scheme;

  /* declared tensors (leaves): the table of declarations (vt->tensors as
   * inc__layer_new sets it, or the constructor's choice; NULL for none),
   * and the parameters and the buffers it declares, each in declaration
   * order (params[0] is conv2d's and dense's weight, params[1] their bias
   * when they have one); sizes[] are what the shape rules' INC__DIM_OUT,
   * INC__DIM_K and INC__DIM_KW name, set by the constructor */
  const inc__tensor_decl *tensors;
  inc__param params[INC__MAX_PARAMS];
  int nparams;
  inc__param buffers[INC__MAX_BUFFERS];
  int nbuffers;
  int64_t sizes[INC__NSIZES];

  /* execution: the plans this layer was last run with as a root (inference,
   * training; src/plan.h) and the arena their values live in */
  struct inc__plan *plans[2];
  void *arena;
  size_t arena_bytes;

  /* name caches of inc_layer_param and inc_layer_buffer (names relative
   * to this layer; remade when the tree's version moved) */
  inc__names pnames, bnames;

  /* inc_layer_set_grad_hook's hook and its gradient buckets, or NULL
   * (src/grad_buckets.c) */
  struct inc__grad_hooks *grad_hook;

  void *priv;
};

/* ---- generic layer machinery (src/layer.c) ---- */
/* Allocates a layer of table vt with zeroed private data of priv_bytes
 * (l->tensors = vt->tensors). */
inc_status inc__layer_new(inc_context *ctx, const inc__layer_vt *vt, size_t priv_bytes,
                          inc_layer **out);
/* Writes the path of l from its root ("2.0.p2.2"; "(root)" for a root). */
const char *inc__layer_path(const inc_layer *l, char *buf, size_t cap);
/* Sets a message "layer <path> (<kind>): <fmt...>" and returns s. */
inc_status inc__layer_error(const inc_layer *l, inc_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Binds a leaf to `in` (input channels or features): allocates every
 * tensor of l->tensors with its shape rule, fills them (inc__layer_fill_params)
 * and marks the layer bound. On failure nothing is left allocated. */
inc_status inc__layer_bind(inc_layer *l, int64_t in);
/* Binds an unbound leaf from the shape (ndim, dims) a file gives for its
 * declared tensor `decl` (inc__layer_binding_tensor): solves the rule's
 * INC__DIM_IN from it, INC_ERR_SHAPE when the shape does not fit the rule. */
inc_status inc__layer_bind_from(inc_layer *l, int decl, int ndim, const int64_t *dims);
/* The index in l->tensors of the tensor whose shape tells what a leaf binds
 * to (the first rule naming INC__DIM_IN), or -1 when none does. */
int inc__layer_binding_tensor(const inc_layer *l);
/* Fills every declared tensor of a bound leaf, in declaration order, by its
 * init rule, and zeros the parameters' gradients. */
inc_status inc__layer_fill_params(inc_layer *l);
/* The shape declaration d gives in layer l bound to `in`. */
void inc__decl_shape(const inc_layer *l, const inc__tensor_decl *d, int64_t in, inc__shape *s);
/* The fans of INC__INIT_WEIGHT for a tensor of shape s. */
void inc__decl_fans(const inc__shape *s, int64_t *fan_in, int64_t *fan_out);
/* Fills tensor t by declaration d's init rule (INC__INIT_WEIGHT: with scheme,
 * drawing one random stream of ctx). */
inc_status inc__decl_fill(inc_context *ctx, const inc__tensor_decl *d, inc_init scheme,
                          inc_tensor *t);
/* Runs infer over a whole tree: dry pass, then binding pass with rollback. */
inc_status inc__layer_infer_tree(inc_layer *l, const inc__shape *in, inc__shape *out);
/* Adds a child to a container (ownership moves on INC_OK). */
inc_status inc__container_add(inc_layer *parent, inc_layer *child);
/* Collects the parameters (inc__collect_params) or the buffers
 * (inc__collect_buffers) of a subtree in depth-first order into *params and
 * the leaf owning each into *leaves (may be NULL); both arrays are allocated
 * (free with inc__free); *count gets their number. */
inc_status inc__collect_params(const inc_layer *l, inc__param ***params, inc_layer ***leaves,
                               int *count);
inc_status inc__collect_buffers(const inc_layer *l, inc__param ***buffers, inc_layer ***leaves,
                                int *count);
/* The name "<path of leaf from `from`>.<local>" ("2.0.p2.2.weight"): a
 * declared tensor's name with local = p->decl->name. */
const char *inc__param_name(const inc_layer *from, const inc_layer *leaf, const char *local,
                            char *buf, size_t cap);
/* Frees a name cache (and leaves it empty). */
void inc__names_free(inc__names *n);
/* Frees a leaf's declared tensors and every plan of a subtree; marks it
 * unbound. */
void inc__layer_unbind_tree(inc_layer *l);
/* The settings of a window (conv2d's kernel, a pool's window) per axis,
 * [0] along H and [1] along W: size, stride, padding at each end. */
typedef struct inc__window_geom {
  int k[2], s[2], p[2];
} inc__window_geom;
/* Writes "3x3 s1 p1", or per axis where they differ ("1x7 s2x1 p0x3"). */
const char *inc__window_geom_str(const inc__window_geom *q, char *buf, size_t cap);
/* The window of geometry q over input `in` (N, C, H, W) of layer l, whose
 * window `what` names in messages ("kernel", "window"): INC_ERR_SHAPE for
 * another rank or an input smaller than the padded window, then
 * inc__window_check. */
inc_status inc__window_of(const inc_layer *l, const inc__shape *in, const inc__window_geom *q,
                          const char *what, inc__window *g);
/* Checks that the output (N, C, OH, OW) of window g (and its im2col
 * matrix) has an element count that fits in int64; INC_ERR_INVALID_ARGUMENT
 * otherwise (e.g. an absurd padding). */
inc_status inc__window_check(const inc_layer *l, const inc__window *g);
/* Frees the plans and the arena of l (not of its children). */
void inc__layer_drop_plans(inc_layer *l);
/* The window of a conv2d (inc__conv2d_geometry) or a max/avg pool
 * (inc__pool_geometry), per axis; 1, or 0 (nothing written) for a layer of
 * another kind. For the ONNX exporter. */
int inc__conv2d_geometry(const inc_layer *l, inc__window_geom *q);
int inc__pool_geometry(const inc_layer *l, inc__window_geom *q);
/* conv2d's Winograd path (src/layers/conv2d_winograd.c). The variable
 * that picks the algorithm of each convolution when a plan is built:
 * direct, winograd2, winograd4, unrolled or auto; unset or empty: auto on
 * the CPU, direct on CUDA. */
#define INC__CONV_ALGO_ENV "INCEPTION_CONV_ALGO"
/* *m = the Winograd tile size (2 or 4) a convolution of window q, input
 * shape in (N, C, H, W) and oc output channels runs with, or 0 for the
 * direct convolution: 0 unless q is 3x3 stride 1 pad 1, else what
 * INCEPTION_CONV_ALGO asks. INC_ERR_INVALID_ARGUMENT with a message naming
 * layer l when it holds anything else. */
inc_status inc__conv_algo(const inc_layer *l, const inc__window_geom *q, const inc__shape *in,
                          int64_t oc, int *m);
/* The auto rule: the tile size (2, 4) or 0 (direct) that its cost model,
 * whose constants examples/bench_conv measures, expects to be fastest for
 * a batch of n H x W images of c input and oc output channels. */
int inc__conv_wino_auto(int64_t n, int64_t h, int64_t w, int64_t c, int64_t oc);
/* Inference in blocks of images (src/layers/conv2d_infer.c): images per
 * block for per floats an image and a budget of floats, at least 1, at
 * most n. Floats of col and GEMM result per block of a blocked im2col
 * step (1 << 20), and the fewest, over the whole batch, for which a step
 * runs in blocks (1 << 23): plans built later use the values; tests lower
 * them to make small steps run in blocks. inc__conv_block_images: images
 * per block of such a step (n: none). inc__conv_blocks_fwd: its forward,
 * y in either layout from x (N, C, H, W) read in place, window g, weight
 * w (OC, kdim), col and tmp scratch for nb images. */
int64_t inc__images_per_block(int64_t per, int64_t budget, int64_t n);
extern int64_t inc__conv_block_floats, inc__conv_block_min;
int64_t inc__conv_block_images(int64_t kcol, int64_t oc, int64_t plane, int64_t n);
inc_status inc__conv_blocks_fwd(inc_context *ctx, float *y, int nchw_out, const float *x,
                                const inc__window *g, const float *w, const float *b, int64_t oc,
                                int64_t kdim, int relu, float *col, float *tmp, int64_t nb);
/* The same for an inference Winograd step's V and M per block of images
 * (1 << 20; src/layers/conv2d_winograd.c). */
extern int64_t inc__wino_block_floats;
/* Whether a planned conv2d step (forward) runs in blocks of images (im2col
 * or Winograd), resp. as a direct convolution (tests). */
int inc__conv2d_step_blocked(const struct inc__step *st);
int inc__conv2d_step_direct(const struct inc__step *st);
/* The tile size (2, 4) a planned conv2d step (forward) runs Winograd with; 0
 * for the direct convolution and for steps of other kinds (tests, bench). */
int inc__conv2d_step_algo(const struct inc__step *st);
/* Whether a planned conv2d step (forward) runs the unrolled convolution. */
int inc__conv2d_step_unrolled(const struct inc__step *st);
/* A conv2d's weight transform kept across inference passes
 * (src/layers/conv2d_infer.c):
 * Winograd's U of one tile size, or the weight of the used taps (TRIM),
 * in the context's memory, made at parameter epoch `epoch` for `key`;
 * remade when either moved (inc__values_changed). NULL data: nothing. */
typedef struct inc__conv_cache {
  float *data;
  size_t floats;
  int64_t key[4]; /* what it holds: {tile size} or {0, the cut window} */
  int valid;
  uint64_t epoch;
} inc__conv_cache;
/* The cache's memory for key (floats floats) in *out: *fresh 1 when it
 * holds key at the current epoch (read it as is), else 0 and the caller
 * fills it, then calls inc__conv_cache_made. The allocation's error when
 * memory ran out (the cache then holds nothing). */
inc_status inc__conv_cache_get(inc_context *ctx, inc__conv_cache *k, const int64_t key[4],
                               size_t floats, float **out, int *fresh);
void inc__conv_cache_made(inc_context *ctx, inc__conv_cache *k);
/* Frees the cache's memory (conv2d's destroy). */
void inc__conv_cache_free(inc_context *ctx, inc__conv_cache *k);
/* The unrolled convolution (src/layers/conv2d_unroll.c): what
 * INCEPTION_CONV_ALGO asks of it for layer l (never, the rule, wherever it
 * may run; call after inc__conv_algo accepted the variable), and whether
 * a convolution over window g with oc filters runs it: mode as asked,
 * used_taps the taps per filter of the direct convolution (those that
 * meet the image), wino_m the Winograd tile size it would run (0: none).
 * Then planning and running, as for Winograd below (dw, db: the
 * gradients written; db may be NULL). */
enum { INC__UNROLL_NEVER, INC__UNROLL_AUTO, INC__UNROLL_ALWAYS };
int inc__conv_unroll_mode(const inc_layer *l);
int inc__conv_unrolls(const inc__window *g, int64_t oc, int64_t used_taps, int wino_m, int mode);
inc_status inc__unroll_plan_fwd(struct inc__plan *p, struct inc__step *st, int64_t oc);
inc_status inc__unroll_run_fwd(const struct inc__plan *p, const struct inc__step *st,
                               const float *w, const float *b, int64_t oc,
                               inc__conv_cache *cache);
inc_status inc__unroll_plan_bwd(struct inc__plan *p, struct inc__step *st, int64_t oc);
inc_status inc__unroll_run_bwd(const struct inc__plan *p, const struct inc__step *st, float *dw,
                               float *db, int64_t oc);
/* A Winograd convolution step of tile size m and oc output channels:
 * planning (scratch and saved values; conv2d sets st->flags, y's layout
 * and the folded weight's slots 2 and 3) and running, with the weight w
 * and bias b (may be NULL) it convolves with, and the gradients dw and db
 * (NULL: none) it writes. An inference step takes its U from the layer's
 * cache (training steps pass NULL: U is made each forward and kept for
 * backward); planning sets *blocks when it goes in blocks of images. */
inc_status inc__wino_plan_fwd(struct inc__plan *p, struct inc__step *st, int64_t oc, int m,
                              int *blocks);
inc_status inc__wino_run_fwd(const struct inc__plan *p, const struct inc__step *st,
                             const float *w, const float *b, int64_t oc, int m,
                             inc__conv_cache *cache);
inc_status inc__wino_plan_bwd(struct inc__plan *p, struct inc__step *st, int64_t oc, int m);
inc_status inc__wino_run_bwd(const struct inc__plan *p, const struct inc__step *st, float *dw,
                             float *db, int64_t oc, int m);
/* Branch i's scale of a residual container (the ONNX exporter). */
float inc__residual_scale(const inc_layer *l, int i);
/* Layout helpers: 1 if t's bytes read as channel-major (C, N, ...), resp.
 * as (N, C, ...) (both when N == 1 or C == 1). */
int inc__as_cnhw(const inc_tensor *t);
int inc__as_nchw(const inc_tensor *t);
/* Elements per (n, c) of a tensor (N, C, ...): the product of dims 2.. */
int64_t inc__plane(const inc_tensor *t);
/* Shape helpers */
void inc__shape_of(const inc_tensor *t, inc__shape *s);
const char *inc__shape_str(const inc__shape *s, char *buf, size_t cap);
int inc__shape_eq(const inc__shape *a, const inc__shape *b);

/* Reads a public size-prefixed descriptor (docs/ABI.md, rule 2): desc
 * (NULL: an error), whose caller set its size field to `size`, into out,
 * this library's struct of `own` bytes: fields the caller's size does not
 * cover are zero (their defaults). INC_ERR_INVALID_ARGUMENT with a message
 * naming `what` and `type` for a NULL desc, a size below `first` (the first
 * version's struct) or above 4096, or a nonzero byte past `own` (a field of
 * a later version not at its default). */
inc_status inc__desc_read(inc_context *ctx, const char *what, const char *type, const void *desc,
                          size_t size, size_t first, void *out, size_t own);

/* The common start of a public constructor: checks out and ctx, sets
 * *out = NULL, clears the message. */
inc_status inc__create_begin(inc_context *ctx, inc_layer **out, const char *what);

/* ---- the layer tables (src/layers/) ---- */
extern const inc__layer_vt inc__conv2d_vt, inc__max_pool2d_vt, inc__avg_pool2d_vt,
    inc__global_avg_pool2d_vt, inc__relu_vt, inc__flatten_vt, inc__dense_vt,
    inc__sequential_vt, inc__concat_vt, inc__batch_norm2d_vt;
extern const inc__layer_vt inc__dropout_vt;
extern const inc__layer_vt inc__identity_vt, inc__residual_vt;

/* Batch norm (src/layers/batchnorm.c). inc__batch_norm2d_fold: the weight
 * w_out (OC, K) and bias b_out (OC) of the convolution w (OC, K), b (OC; may
 * be NULL) followed by the batch norm bn in evaluation (the bn_fold op).
 * inc__batch_norm2d_settings: 1 and its eps and momentum (either may be
 * NULL) for a batch norm, 0 for a layer of another kind. */
inc_status inc__batch_norm2d_fold(const inc_layer *bn, float *w_out, float *b_out,
                                  const float *w, const float *b, int64_t oc, int64_t k);
int inc__batch_norm2d_settings(const inc_layer *l, float *eps, float *momentum);

#ifdef __cplusplus
}
#endif

#endif /* INC_LAYER_H */
