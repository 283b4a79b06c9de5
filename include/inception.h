/*
 * inception.h — the public interface of libinception.
 *
 * libinception builds and trains Inception-style convolutional networks (the
 * GoogLeNet of "Dive into Deep Learning") on a CPU backend that runs anywhere
 * and, where an NVIDIA GPU is usable, on a CUDA backend. This header is the
 * only one a caller needs; it is C99, usable from C++, and holds no CUDA type.
 *
 * General rules, true of every function below unless its comment says more:
 *
 *  - Handles (inc_context, inc_tensor, inc_layer, inc_optimizer) are opaque.
 *    Constructors return them through an out-parameter, which is set to NULL
 *    on failure; destroy functions accept NULL and do nothing then.
 *  - Every fallible call returns an inc_status. INC_OK (0) is success. On
 *    failure the call changes nothing the caller can observe (unless its
 *    comment says otherwise) and leaks nothing; where a context is reachable
 *    from the arguments, inc_context_last_error() then holds a message saying
 *    what failed, in which layer and with which shapes.
 *  - A NULL handle or out-pointer, a size that is zero, negative or
 *    overflowing, or an unknown enum value is INC_ERR_INVALID_ARGUMENT.
 *  - The library never exits, aborts, asserts or prints.
 *  - Threads: the library has no mutable global state. Different contexts
 *    (and the objects made from them) may be used from different threads at
 *    the same time; one context and all its objects must be used by one thread
 *    at a time. Every object belongs to the context it was created with and
 *    may only be combined with objects of that same context.
 *  - Activations overwrite, parameter gradients are overwritten by each
 *    backward pass (they do not accumulate across calls).
 */
#ifndef INCEPTION_H
#define INCEPTION_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define INC_API
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define INC_API __attribute__((visibility("default")))
#else
#  define INC_API
#endif

/* ------------------------------------------------------------------------ */
/* Versions and errors                                                       */
/* ------------------------------------------------------------------------ */

#define INC_VERSION_MAJOR 0
#define INC_VERSION_MINOR 6
#define INC_VERSION_PATCH 4
#define INC_VERSION_NUMBER \
  (INC_VERSION_MAJOR * 10000 + INC_VERSION_MINOR * 100 + INC_VERSION_PATCH)

/* The most dimensions a tensor may have. */
#define INC_MAX_DIMS 8

/* Returns the library's version as MAJOR*10000 + MINOR*100 + PATCH, i.e. the
 * version of the library actually loaded, which may differ from the header's
 * INC_VERSION_NUMBER the caller was compiled with. Never fails. */
INC_API unsigned inc_version_number(void);

/* Returns the version as "MAJOR.MINOR.PATCH"; static storage, never NULL. */
INC_API const char *inc_version_string(void);

/* Status codes. Append only: existing values are never renumbered. */
typedef enum inc_status {
  INC_OK = 0,
  INC_ERR_INVALID_ARGUMENT = 1, /* NULL, out of range, wrong context, ...  */
  INC_ERR_SHAPE = 2,            /* shapes do not fit (bound or given)      */
  INC_ERR_OUT_OF_MEMORY = 3,    /* host or device allocation failed        */
  INC_ERR_DEVICE = 4,           /* a CUDA or cuBLAS call failed            */
  INC_ERR_UNAVAILABLE = 5,      /* backend not built in or no usable GPU   */
  INC_ERR_STATE = 6,            /* call out of order (e.g. backward first) */
  INC_ERR_IO = 7,               /* reading or writing a file failed        */
  INC_ERR_FORMAT = 8,           /* a file is malformed                     */
  INC_ERR_DEVICE_LOST = 9       /* CUDA's state is broken for the process (a
                                 * device fault); latched; restart the process */
} inc_status;

/* Returns a static, human-readable name for a status ("INC_ERR_SHAPE"); an
 * unknown value gives "INC_ERR_UNKNOWN". Never NULL. */
INC_API const char *inc_status_string(inc_status s);

/* ------------------------------------------------------------------------ */
/* Context                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct inc_context inc_context;
typedef struct inc_tensor inc_tensor;
typedef struct inc_layer inc_layer;
typedef struct inc_optimizer inc_optimizer;

typedef enum inc_backend {
  INC_BACKEND_AUTO = 0, /* CUDA when a GPU is usable, else CPU */
  INC_BACKEND_CPU = 1,
  INC_BACKEND_CUDA = 2
} inc_backend;

/* Returns 1 if backend b can be used now (CPU: always; CUDA: the CUDA module
 * loads and finds a usable device; AUTO: always), 0 otherwise (also for
 * unknown values). May take a moment the first time (it loads the module
 * and probes the driver). Thread-safe. */
INC_API int inc_backend_available(inc_backend b);

/* The same question with the answer's reason (since 0.2). Returns INC_OK
 * when backend b can be used now (CPU and AUTO: always; CUDA: the CUDA
 * module loads and finds a usable device), INC_ERR_UNAVAILABLE for CUDA
 * otherwise, INC_ERR_INVALID_ARGUMENT for an unknown b. When CUDA cannot
 * be used (asked for CUDA, or for AUTO, which then runs on the CPU) and why
 * is not NULL, why receives the reason, e.g. where the module was looked
 * for or what the driver said; else "" (truncated to cap bytes including
 * the NUL; nothing is written when cap is 0). Thread-safe. */
INC_API inc_status inc_backend_probe(inc_backend b, char *why, size_t cap);

/* Creates a context on backend b. The CUDA backend is a module the library
 * loads at run time: the file named by the environment variable
 * INCEPTION_CUDA_MODULE if set, else libinception-cuda.so.MAJOR beside the
 * library (or beside a program linked with libinception.a), else wherever
 * the dynamic loader finds it. CUDA without the module or without a usable
 * GPU returns INC_ERR_UNAVAILABLE and *out = NULL. AUTO resolves to CUDA
 * when it is available, else to the CPU; then inc_context_last_error(*out)
 * says why CUDA was not used, until the context's next call. AUTO falls back
 * only when CUDA is unavailable: when CUDA is there but fails to start, its
 * error is returned (INC_ERR_DEVICE_LOST after an earlier device fault
 * broke CUDA in this process; then only a new process helps). The context
 * starts with seed 0 and the library's default thread count (0 = OpenMP's
 * default). The caller owns *out and frees it with inc_context_destroy(),
 * after every object made from it. */
INC_API inc_status inc_context_create(inc_backend b, inc_context **out);

/* Frees a context. Every tensor, layer and optimizer of it must have been
 * destroyed first. NULL is a no-op. */
INC_API void inc_context_destroy(inc_context *ctx);

/* Returns the backend the context runs on (what AUTO resolved to);
 * INC_BACKEND_AUTO for a NULL context. */
INC_API inc_backend inc_context_backend(const inc_context *ctx);

/* Returns the message of the last failed call on this context, or "" if none
 * failed yet. The string is owned by the context and valid until its next
 * call. A NULL context gives "". */
INC_API const char *inc_context_last_error(const inc_context *ctx);

/* Returns a short description of the device ("CPU (2 threads, oneDNN 2.6.3
 * sgemm)", "NVIDIA H200 (sm_90)"); owned by the context; "" for NULL. */
INC_API const char *inc_context_device_name(const inc_context *ctx);

/* Sets the seed of the context's counter-based random number generator and
 * restarts its stream: parameters filled after this are a pure function of
 * the seed and of the order of fills, identical on every backend and thread
 * count. (Since 0.4 a training forward through dropout layers draws from
 * the same stream, as one more fill would.) */
INC_API inc_status inc_context_set_seed(inc_context *ctx, uint64_t seed);

/* Returns the seed set last (0 by default; 0 for NULL). */
INC_API uint64_t inc_context_seed(const inc_context *ctx);

/* Sets how many CPU threads the context's CPU work uses (OpenMP loops and the
 * GEMM). 0 means the library default. The default build's GEMM (oneDNN) takes
 * the count per call from the calling thread's OpenMP setting, which the
 * library sets for the call and restores. A build with OpenBLAS
 * (GEMM=openblas) sets OpenBLAS's thread count, a process-wide setting:
 * there, contexts used at once from several threads should use the same
 * value. Results do not depend on it. n < 0 is invalid. */
INC_API inc_status inc_context_set_num_threads(inc_context *ctx, int n);

/* Waits for all work queued on the context's device to finish (a no-op on
 * the CPU). Returns a device error that happened asynchronously, if any. */
INC_API inc_status inc_context_synchronize(inc_context *ctx);

/* The arithmetic of a context's matrix products (since 0.6). */
typedef enum inc_precision {
  INC_PRECISION_FP32 = 0, /* float32 throughout (the default) */
  INC_PRECISION_BF16 = 1  /* bf16 GEMM inputs, float32 accumulation */
} inc_precision;

/* Sets the precision of the context's matrix products (since 0.6). FP32,
 * the default, always succeeds and gives exactly the results the context
 * gave before BF16 was set. BF16 is mixed precision: the GEMMs of
 * convolutions and dense layers (forward, input gradient and weight
 * gradient) round both inputs to bfloat16 (8 significant bits, round to
 * nearest even) and accumulate in float32; parameters, gradients,
 * optimizer state and every other op (batch norm, pooling, loss, ...) stay
 * float32, and the tensors the caller sees are float32 as before. A 3x3
 * convolution that runs Winograd's algorithm (see inc_conv2d_create; its
 * "auto" rule chooses as in FP32) keeps float32 products: its transforms
 * would amplify bf16's rounding (to 4.5% of the largest output with
 * F(4x4), measured); INCEPTION_CONV_ALGO=direct puts every convolution's
 * GEMM in bf16 (an unrolled convolution's GEMM is in bf16 either way: its
 * weight is the layer's, unrolled). Each product of
 * two rounded inputs is off by at most about 2^-7 of |a||b|, so an output
 * of a K-term GEMM differs from float32's by at most about 2^-7 times the
 * sum of |a_k||b_k| (typically far less: rounding errors of random sign
 * average out); training curves stay close to float32's but not bit for
 * bit. The setting applies to every layer of the context from its next
 * call on (no rebinding). BF16 needs the CPU backend of a library built
 * with oneDNN (the default; not make GEMM=openblas) on a CPU with
 * AVX512-BF16 or AMX (as
 * oneDNN detects it; DNNL_MAX_CPU_ISA can lower it); otherwise, and on the
 * CUDA backend, it returns INC_ERR_UNAVAILABLE with the reason in the
 * context's message and the precision stays as it was. Switching to BF16
 * allocates the context's bf16 state (bf16 copies of the largest GEMM's
 * two inputs, grown as needed, and a cache of oneDNN primitives);
 * switching back to FP32 frees it. An unknown p or a NULL ctx is
 * INC_ERR_INVALID_ARGUMENT. Threads: the context's rule (one thread at a
 * time); the products use the context's thread count. */
INC_API inc_status inc_context_set_precision(inc_context *ctx, inc_precision p);

/* Returns the context's precision (since 0.6): INC_PRECISION_FP32 unless
 * inc_context_set_precision set BF16; INC_PRECISION_FP32 for NULL. */
INC_API inc_precision inc_context_precision(const inc_context *ctx);

/* ------------------------------------------------------------------------ */
/* Tensors: dense float32, row-major, 1..INC_MAX_DIMS dims, on the device of  */
/* their context.                                                            */
/* ------------------------------------------------------------------------ */

/* Creates a zero-filled tensor of ndim dims (each >= 1; the element count
 * must fit in int64 and in memory). The caller owns *out. */
INC_API inc_status inc_tensor_create(inc_context *ctx, int ndim, const int64_t *dims,
                                     inc_tensor **out);

/* Frees a tensor made by inc_tensor_create(). NULL is a no-op. Tensors
 * returned by layers (outputs, gradients, parameters) are owned by the layer
 * and must not be destroyed by the caller. */
INC_API void inc_tensor_destroy(inc_tensor *t);

/* Returns the number of dims, 0 for NULL. */
INC_API int inc_tensor_ndim(const inc_tensor *t);

/* Returns the size of dimension axis; a negative axis counts from the end.
 * Returns 0 for NULL or an axis out of range. */
INC_API int64_t inc_tensor_dim(const inc_tensor *t, int axis);

/* Returns the number of elements, 0 for NULL. */
INC_API int64_t inc_tensor_numel(const inc_tensor *t);

/* Returns the context of the tensor, NULL for NULL. */
INC_API inc_context *inc_tensor_context(const inc_tensor *t);

/* Copies count floats from host memory into the tensor. count must equal
 * inc_tensor_numel(t), else INC_ERR_INVALID_ARGUMENT. Synchronous: src may be
 * reused when the call returns. */
INC_API inc_status inc_tensor_copy_from_host(inc_tensor *t, const float *src, int64_t count);

/* Copies the tensor into count floats of host memory; count must equal
 * inc_tensor_numel(t). Synchronous: waits for queued work on the tensor. */
INC_API inc_status inc_tensor_copy_to_host(const inc_tensor *t, float *dst, int64_t count);

/* Changes the shape of a tensor made by inc_tensor_create() keeping its
 * contents; the element count must stay the same. */
INC_API inc_status inc_tensor_reshape(inc_tensor *t, int ndim, const int64_t *dims);

/* ------------------------------------------------------------------------ */
/* Layers. Created without input sizes: the first forward (or                */
/* inc_layer_infer_shape) binds input channels/features and allocates the     */
/* parameters. Image inputs are (N, C, H, W); dense inputs are (N, F).        */
/* The caller owns a layer until it is given to a container, which then owns  */
/* it (inc_layer_destroy on the root frees the whole tree).                   */
/* ------------------------------------------------------------------------ */

/* 2-D convolution with a square kernel, out_channels filters, bias, PyTorch's
 * weight layout (out, in, k, k). kernel >= 1, stride >= 1, 0 <= padding.
 * The algorithm (since 0.5): a 3x3 convolution of stride 1 and padding 1
 * (from this call or inc_conv2d_create_desc) may run Winograd's F(2x2, 3x3)
 * or F(4x4, 3x3) instead of the direct convolution (im2col and a GEMM). The
 * environment variable INCEPTION_CONV_ALGO decides, read when a forward
 * plans the tree for an input shape and training flag it has no plan for:
 * "direct", "winograd2", "winograd4", "unrolled" (since 0.6.3, below) or
 * "auto" (a rule by shape and batch, fitted to CPU timings at batches 1 to
 * 256, docs/performance.md; since 0.6.1 it also picks Winograd on 28x28
 * GoogLeNet's 7x7 and 4x4 maps); unset or empty means "auto" on the CPU
 * backend and "direct" on CUDA (since 0.5.1; 0.5.0 ran direct everywhere).
 * Other convolutions run direct whatever it says, but for the unrolled
 * convolution below. Winograd's results differ from the direct ones
 * by rounding (on GoogLeNet's shapes within 3e-6 with F(2x2) and 3e-5 with
 * F(4x4) of the largest magnitude of y, dx and dW). Since 0.6.3 a
 * convolution of any kernel, stride and padding on a map smaller than its
 * kernel may run unrolled instead: one GEMM with the weight unrolled over
 * the whole map, H*W multiply-adds per output pixel and filter against
 * the kernel's taps (on 28x28 GoogLeNet its 5x5 convolutions on 4x4 and
 * 2x2 maps and 3x3 ones on 2x2 maps, at 96x96 the 5x5 ones on 3x3 maps):
 * "unrolled" asks for it wherever it can run, "auto" where it has fewer
 * multiply-adds than the direct convolution and no more than Winograd,
 * "direct" and "winograd2"/"winograd4" never. Its results differ from the
 * direct ones by rounding (the same products, summed in another order);
 * it costs memory for the unrolled weight, OH*OW*H*W / (KH*KW) times the
 * weight's (a training plan's scratch; kept by the layer for inference
 * while the weights stay). Any other value makes that forward fail with
 * INC_ERR_INVALID_ARGUMENT and a message, changing no plan. */
INC_API inc_status inc_conv2d_create(inc_context *ctx, int out_channels, int kernel, int stride,
                                     int padding, inc_layer **out);

/* The settings of a 2-D convolution for inc_conv2d_create_desc (since 0.4):
 * kernel, stride and padding per axis (h: along H, w: along W), so that a
 * kernel may be rectangular (Inception v3 factorises a 7x7 convolution into
 * 1x7 with padding (0, 3) and 7x1 with padding (3, 0)), and whether the
 * layer has a bias. The struct can grow without an ABI break: zero the
 * whole struct (memset), set size to sizeof(inc_conv2d_desc) as your
 * program compiles it, then set the fields. A later version may append
 * fields; the library gives every field that the caller's size does not
 * cover its default, and a field's default is what zero bytes there mean
 * (docs/ABI.md, rule 2). */
typedef struct inc_conv2d_desc {
  size_t size;      /* sizeof(inc_conv2d_desc) as the caller compiled it */
  int out_channels; /* >= 1 */
  int kernel_h;     /* >= 1 */
  int kernel_w;     /* >= 1 */
  int stride_h;     /* >= 1 */
  int stride_w;     /* >= 1 */
  int pad_h;        /* >= 0, at the top and at the bottom */
  int pad_w;        /* >= 0, at the left and at the right */
  int bias;         /* 1: with a bias, as inc_conv2d_create; 0: without */
} inc_conv2d_desc;

/* Creates a 2-D convolution from a descriptor (since 0.4): out_channels
 * filters of kernel_h x kernel_w, PyTorch's weight layout (out, in,
 * kernel_h, kernel_w) and output size (in + 2*pad - kernel) / stride + 1 per
 * axis. The layer's kind is "conv2d", and inc_conv2d_create(ctx, oc, k, s,
 * p, out) is this call with kernel k x k, stride s, padding p on both axes
 * and bias 1. A layer with bias owns the parameters "weight" and "bias";
 * one without (bias 0: the convolution before a batch normalisation) owns
 * "weight" only: inc_layer_param, saving, loading, the optimizer, the
 * summary and the ONNX export see that one tensor. The layer does not keep
 * desc. Returns INC_OK and sets *out (the caller owns the layer);
 * INC_ERR_INVALID_ARGUMENT for a NULL ctx (no message: there is no
 * context), a NULL out or desc, a size smaller than the
 * 0.4 struct or larger than 4096, bytes beyond this library's struct that
 * are not zero (a field of a later version not at its default), or a field
 * out of its range (see the struct); OUT_OF_MEMORY. On failure *out is set
 * to NULL (when out is not NULL) and nothing is made. Threads: like every
 * call on ctx, one thread at a time. */
INC_API inc_status inc_conv2d_create_desc(inc_context *ctx, const inc_conv2d_desc *desc,
                                          inc_layer **out);

/* Max pooling over square windows; padding counts as -infinity and must be
 * at most kernel/2 (PyTorch's rule). stride 0 means stride = kernel. */
INC_API inc_status inc_max_pool2d_create(inc_context *ctx, int kernel, int stride, int padding,
                                         inc_layer **out);

/* Average pooling; padded positions count in the divisor (PyTorch's default
 * count_include_pad=True). padding <= kernel/2; stride 0 means kernel. */
INC_API inc_status inc_avg_pool2d_create(inc_context *ctx, int kernel, int stride, int padding,
                                         inc_layer **out);

/* Global average pooling: (N, C, H, W) -> (N, C, 1, 1). */
INC_API inc_status inc_global_avg_pool2d_create(inc_context *ctx, inc_layer **out);

/* Rectified linear unit, any shape. */
INC_API inc_status inc_relu_create(inc_context *ctx, inc_layer **out);

/* (N, d1, d2, ...) -> (N, d1*d2*...). */
INC_API inc_status inc_flatten_create(inc_context *ctx, inc_layer **out);

/* Dropout, any shape (since 0.4): PyTorch's inverted dropout with drop
 * probability p, 0 <= p < 1. A training forward (training nonzero) keeps
 * each element with probability 1 - p and scales it by 1/(1 - p), and
 * writes 0 for the others; backward gives dx = dy * mask / (1 - p) with the
 * same mask. The mask is a pure function of the context's seed, a random
 * stream and the element's row-major index: each training forward takes the
 * context's next stream (the one parameter fills draw from, see
 * inc_context_set_seed), so successive forwards drop different elements,
 * the CPU and the CUDA backend drop the same ones for the same seed and
 * order of calls, and a further backward for the same forward uses the
 * same mask. Nothing is stored for backward. An inference forward, and p =
 * 0 in either mode, is the identity (the value is passed on, not copied,
 * where the tree allows). Exported to ONNX as Identity. Returns INC_OK;
 * INC_ERR_INVALID_ARGUMENT for a NULL ctx or out (no message without a
 * context) or a p outside [0, 1) or NaN (with a message; *out is set to
 * NULL whenever out is not NULL and the call fails); INC_ERR_OUT_OF_MEMORY.
 * The caller owns *out (see above). Threads: like every call on the
 * context, one thread at a time. */
INC_API inc_status inc_dropout_create(inc_context *ctx, float p, inc_layer **out);

/* Fully connected layer: (N, F) -> (N, out_features), weight (out, F), bias. */
INC_API inc_status inc_dense_create(inc_context *ctx, int out_features, inc_layer **out);

/* 2-D batch normalization (since 0.4), PyTorch's BatchNorm2d over (N, C, H,
 * W) inputs; the channel count binds on first use. Parameters "weight"
 * (ones) and "bias" (zeros); buffers "running_mean" (zeros), "running_var"
 * (ones) and "num_batches_tracked" (a count, shape (1), saved as PyTorch's
 * 0-d int64 tensor; exact up to 2^24 batches), under PyTorch's names, so a
 * state_dict saved with the safetensors package loads both ways.
 * A training forward normalises each channel with the batch's mean and
 * biased variance, moves running = (1 - momentum) running + momentum batch
 * (the variance unbiased) and counts the batch; it needs more than one
 * value per channel (N*H*W >= 2, else INC_ERR_SHAPE). An evaluation forward
 * (training = 0) uses the running statistics; after a convolution it is
 * folded into the convolution's weights and bias (one step). eps (PyTorch:
 * 1e-5) must be finite and > 0, momentum (PyTorch: 0.1) in [0, 1]; else
 * INC_ERR_INVALID_ARGUMENT. Returns INC_OK and a new layer in *out (owned by
 * the caller until added to a container), or an error with *out NULL. */
INC_API inc_status inc_batch_norm2d_create(inc_context *ctx, float eps, float momentum,
                                           inc_layer **out);

/* A container that applies its children one after the other. */
INC_API inc_status inc_sequential_create(inc_context *ctx, inc_layer **out);

/* Appends child to a sequential container. On INC_OK the container owns child. child must have no parent, must belong
 * to the same context and must not be seq itself or one of its ancestors.
 * Appending to a bound container is allowed; the new child binds on the next
 * forward. */
INC_API inc_status inc_sequential_append(inc_layer *seq, inc_layer *child);

/* The parallel container: every branch receives the same input and the
 * outputs, which must agree in N, H and W, are concatenated along channels.
 * Backward splits dy by channels and sums the branches' input gradients. */
INC_API inc_status inc_concat_create(inc_context *ctx, inc_layer **out);

/* Adds a branch to a concat container; same ownership rules as
 * inc_sequential_append(). */
INC_API inc_status inc_concat_add_branch(inc_layer *concat, inc_layer *branch);

/* The identity layer (since 0.4), kind "identity": y = x, any shape; its
 * input gradient is dy. It has no parameters and costs no pass of its own
 * inside a model (its output is its input); a model that is only
 * identities gives a copy of x, as every forward gives a tensor owned by
 * the layer. Typically the skip branch of a residual container. *out
 * receives the layer (owned by the caller until given to a container), or
 * NULL on failure. Returns INC_OK; INC_ERR_INVALID_ARGUMENT for a NULL ctx
 * or out (with a message on ctx when it is not NULL);
 * INC_ERR_OUT_OF_MEMORY. Threads: like every call on ctx, one thread at a
 * time. */
INC_API inc_status inc_identity_create(inc_context *ctx, inc_layer **out);

/* The residual container (since 0.4), kind "residual", for
 * Inception-ResNet-style blocks: every branch receives the same input and
 * the output is the sum of the branch outputs, each times its scale:
 * y = sum_b scale_b * branch_b(x). Every branch must give the same shape
 * (else the forward, or inc_layer_infer_shape(), fails with INC_ERR_SHAPE
 * naming two branches that disagree, and nothing is bound). Backward gives
 * each branch dy times its scale and sums the branches' input gradients.
 * A block x + 0.2 * f(x) is a residual with an inc_identity_create() branch
 * of scale 1 and a branch f (a sequential, say) of scale 0.2, followed by
 * a ReLU where the model wants one. A residual without branches fails to
 * run (INC_ERR_STATE). *out receives the container (owned by the caller
 * until given to another container), or NULL on failure. Returns INC_OK;
 * INC_ERR_INVALID_ARGUMENT for a NULL ctx or out (with a message on ctx
 * when it is not NULL); INC_ERR_OUT_OF_MEMORY. Threads: like every call on
 * ctx, one thread at a time. */
INC_API inc_status inc_residual_create(inc_context *ctx, inc_layer **out);

/* Adds a branch to a residual container (since 0.4), whose output the sum
 * takes times `scale` (1 for a plain sum; Inception-ResNet scales its
 * residual branch by 0.1 to 0.3). The scale is a setting of the container,
 * not a parameter: it is not trained, not saved with the parameters (a
 * model to load into is built with the same scales), and it is shown by
 * inc_layer_summary() and written by inc_layer_export_onnx(). Ownership
 * moves as with inc_sequential_append(): on INC_OK the container owns
 * branch; on failure the caller keeps it and nothing changed. branch must
 * have no parent, must belong to the same context and must not be
 * residual itself or one of its ancestors; a branch may be any layer (an
 * identity, a sequential, a concat, another residual). Adding to a bound
 * container is allowed; the new branch binds on the next forward. Returns
 * INC_OK; INC_ERR_INVALID_ARGUMENT for a NULL residual (no message: there
 * is no context), a NULL branch, a residual that is not a residual
 * container, a scale that is NaN or infinite, or a branch that breaks the
 * rules above (with a message); INC_ERR_OUT_OF_MEMORY. Threads: like every
 * call on the container's context, one thread at a time. */
INC_API inc_status inc_residual_add_branch(inc_layer *residual, inc_layer *branch, float scale);

/* The D2L Inception block: a concat of four branches named p1..p4:
 *   p1: 1x1 conv c1, ReLU
 *   p2: 1x1 conv c2_reduce, ReLU, 3x3 conv c2 pad 1, ReLU
 *   p3: 1x1 conv c3_reduce, ReLU, 5x5 conv c3 pad 2, ReLU
 *   p4: 3x3 max pool stride 1 pad 1, 1x1 conv c4, ReLU
 * Output channels c1 + c2 + c3 + c4. Every count must be >= 1. */
INC_API inc_status inc_inception_create(inc_context *ctx, int c1, int c2_reduce, int c2,
                                        int c3_reduce, int c3, int c4, inc_layer **out);

/* Builds the D2L GoogLeNet (b1..b5 and a dense layer, see docs/api.md) with
 * `classes` outputs, as a sequential container named by index. */
INC_API inc_status inc_googlenet_create(inc_context *ctx, int classes, inc_layer **out);

/* Builds the D2L GoogLeNet with a batch norm (eps 1e-5, momentum 0.1)
 * between every convolution and its ReLU, Inception-v2 style (since 0.4):
 * the tree of inc_googlenet_create with each "conv, ReLU" of a sequential
 * made "conv, batch norm, ReLU", so the names shift as torch.nn.Sequential
 * numbers them (b1 is 0.0 conv, 0.1 batch norm, 0.2 ReLU, 0.3 max pool).
 * Trains without the warmup and the Kaiming initialisation the plain
 * network needs. classes >= 1, else INC_ERR_INVALID_ARGUMENT. Returns INC_OK
 * and the network in *out (owned by the caller), or an error with *out
 * NULL. */
INC_API inc_status inc_googlenet_bn_create(inc_context *ctx, int classes, inc_layer **out);

/* What inc_googlenet_create_desc builds (since 0.4), a size-prefixed
 * descriptor like inc_conv2d_desc: zero it, set size to
 * sizeof(inc_googlenet_desc), then the fields; a later version may append
 * fields, whose zero bytes mean their defaults (docs/ABI.md, rule 2). */
typedef struct inc_googlenet_desc {
  size_t size;     /* sizeof(inc_googlenet_desc) as the caller compiled it */
  int classes;     /* >= 1 outputs */
  int batch_norm;  /* 1: a batch norm between every convolution and its ReLU */
  float dropout;   /* in [0, 1): a dropout layer of this probability before the
                    * classifier, the last child of b5 ("4.4"; the original
                    * GoogLeNet's 0.4); 0: none */
  int reserved;    /* 0 (the struct has no padding: every byte is a field) */
} inc_googlenet_desc;

/* Builds the D2L GoogLeNet as desc says (since 0.4): with batch_norm 0 and
 * dropout 0 the tree of inc_googlenet_create, with batch_norm 1 that of
 * inc_googlenet_bn_create; a dropout adds no parameter and no name changes.
 * Returns INC_OK and the network in *out (owned by the caller);
 * INC_ERR_INVALID_ARGUMENT for a NULL ctx (no message), a NULL out or desc,
 * a size below the 0.4 struct or above 4096, nonzero bytes beyond this
 * library's struct, or a field out of its range; OUT_OF_MEMORY. On failure
 * *out is NULL (when out is not NULL). Threads: one at a time per ctx. */
INC_API inc_status inc_googlenet_create_desc(inc_context *ctx, const inc_googlenet_desc *desc,
                                             inc_layer **out);

/* Builds an Inception-v3 block of factorised convolutions (since 0.4):
 * torchvision's InceptionC for n = 7, any odd n in 3..255. A concat of four
 * branches named p1..p4, each convolution a BasicConv2d (a convolution
 * without bias, "same" padding, then a batch norm with eps 1e-3 and momentum
 * 0.1, then a ReLU):
 *   p1: 1x1 c1
 *   p2: 1x1 c_reduce, 1xn c_reduce, nx1 c
 *   p3: 1x1 c_reduce, nx1 c_reduce, 1xn c_reduce, nx1 c_reduce, 1xn c
 *   p4: 3x3 average pool stride 1 pad 1, 1x1 c_pool
 * Output channels c1 + 2c + c_pool, spatial size kept. Every count >= 1, n
 * odd in 3..255, else INC_ERR_INVALID_ARGUMENT. Returns INC_OK and the block
 * in *out (owned by the caller), or an error with *out NULL. */
INC_API inc_status inc_inception_v3_create(inc_context *ctx, int c1, int c_reduce, int c,
                                           int c_pool, int n, inc_layer **out);

/* Frees a layer and all its children. The layer must not be inside a
 * container (destroy the root instead). NULL is a no-op. */
INC_API void inc_layer_destroy(inc_layer *layer);

/* Returns the kind: "conv2d", "max_pool2d", "avg_pool2d",
 * "global_avg_pool2d", "relu", "flatten", "dense", "sequential", "concat".
 * (The inception builder returns a "concat".) NULL gives "".
 * Since 0.4 also "identity" and "residual". */
INC_API const char *inc_layer_kind(const inc_layer *layer);

/* Renames a layer. A name is 1..63 characters, none of '.', '/', '"', '\\' or
 * control characters, and unique among its siblings. The default name is the
 * index in the parent ("0", "1", ...); a root's default name is "". */
INC_API inc_status inc_layer_set_name(inc_layer *layer, const char *name);

/* Returns the layer's name (owned by the layer); "" for NULL. */
INC_API const char *inc_layer_name(const inc_layer *layer);

/* Returns the number of direct children (0 for leaves and NULL). */
INC_API int inc_layer_child_count(const inc_layer *layer);

/* Returns child `index` (owned by the container), or NULL if out of range. */
INC_API inc_layer *inc_layer_child(const inc_layer *layer, int index);

/* Returns the layer's parent container, or NULL for a root or NULL. */
INC_API inc_layer *inc_layer_parent(const inc_layer *layer);

/* ------------------------------------------------------------------------ */
/* Shapes                                                                    */
/* ------------------------------------------------------------------------ */

/* Returns 1 when every parameter shape in the subtree is known (a layer with
 * no parameters is always bound), 0 otherwise or for NULL. */
INC_API int inc_layer_is_bound(const inc_layer *layer);

/* Computes the output shape for an input of shape in_dims, binding every
 * unbound layer in the subtree (allocating and filling its parameters) as a
 * forward pass would. out_dims must have room for INC_MAX_DIMS values.
 * A shape that does not fit a bound layer is INC_ERR_SHAPE with a message
 * such as "layer 0.0 (conv2d): bound to 1 input channel, got 3". On failure
 * nothing is bound. */
INC_API inc_status inc_layer_infer_shape(inc_layer *layer, int ndim, const int64_t *in_dims,
                                         int *out_ndim, int64_t *out_dims);

/* Forgets every bound shape in the subtree and frees parameters, gradients
 * and activations, so that the next forward binds afresh (e.g. to another
 * channel count). The recorded init scheme is kept. Optimizers drop their
 * state for the freed parameters on their next step. */
INC_API inc_status inc_layer_unbind(inc_layer *layer);

/* Writes a table, one line per layer of the subtree (path, kind, output shape
 * for an input of in_dims, parameter count), a total line and a line with
 * the memory a training and an inference forward of that input plan for
 * activations, gradients and scratch, into buf as a NUL-terminated string. Binds like inc_layer_infer_shape(). *needed (if not
 * NULL) receives the size needed including the NUL; if cap is too small the
 * text is truncated (buf may be NULL when cap is 0) and INC_OK is still
 * returned. */
INC_API inc_status inc_layer_summary(inc_layer *layer, int ndim, const int64_t *in_dims, char *buf,
                                     size_t cap, size_t *needed);

/* ------------------------------------------------------------------------ */
/* Initialization                                                            */
/* ------------------------------------------------------------------------ */

typedef enum inc_init {
  INC_INIT_XAVIER_UNIFORM = 0, /* U(-a, a), a = sqrt(6/(fan_in+fan_out)); the default */
  INC_INIT_XAVIER_NORMAL = 1,  /* N(0, 2/(fan_in+fan_out))                         */
  INC_INIT_KAIMING_UNIFORM = 2,/* U(-a, a), a = sqrt(6/fan_in)                     */
  INC_INIT_KAIMING_NORMAL = 3, /* N(0, 2/fan_in)                                   */
  INC_INIT_NORMAL_001 = 4      /* N(0, 0.01^2)                                     */
} inc_init;

/* Sets the weight-init scheme of every layer in the subtree. Unbound layers
 * record it and use it when they bind. Bound layers are refilled only if
 * force_reinit is nonzero (new random weights from the context's stream,
 * biases zero, gradients zero, shapes kept); otherwise they are left as they
 * are. Biases always start at zero. */
INC_API inc_status inc_layer_initialize(inc_layer *layer, inc_init scheme, int force_reinit);

/* ------------------------------------------------------------------------ */
/* Running                                                                   */
/* ------------------------------------------------------------------------ */

/* Runs the layer on x and sets *y to its output, owned by the layer and
 * valid until the layer's next forward, unbind or destroy. With training
 * nonzero the layer keeps what backward needs; x must then stay alive and
 * unchanged until the backward call. Binds unbound layers first. Since
 * 0.6.2 an inference forward (training 0) keeps, in each convolution that
 * runs Winograd's algorithm or uses only some taps of its kernel (and
 * since 0.6.3 one that runs unrolled), the weight in the form it
 * convolves with (Winograd's: 16/9 or 4 times the weight's size; the
 * unrolled one OH*OW*H*W / (KH*KW) times) until the layer is destroyed,
 * and reuses it while the
 * parameters stay unchanged: any write through this API (a host copy into
 * a parameter, an optimizer step, a load, a reinitialization, a training
 * forward) makes the next inference forward transform them again. */
INC_API inc_status inc_layer_forward(inc_layer *layer, const inc_tensor *x, int training,
                                     const inc_tensor **y);

/* Backpropagates dy (shape of the last output) through the layer, after a
 * training forward of this same layer (else INC_ERR_STATE; a child of a
 * tree that ran forward has not run one itself). Overwrites every parameter
 * gradient of the subtree and sets *dx to the input gradient, owned by the
 * layer and valid until its next call. dx may be NULL if not wanted (the
 * work only it needs is skipped). INC_ERR_STATE too when the subtree's
 * layers, their order or their bound parameters changed since that forward
 * (a rename does not count). It may be called again for the same forward:
 * the first backward reuses the memory of what the forward kept, so a
 * further one runs that forward again first, from the same x. */
INC_API inc_status inc_layer_backward(inc_layer *layer, const inc_tensor *dy,
                                      const inc_tensor **dx);

/* ------------------------------------------------------------------------ */
/* Parameters                                                                */
/* ------------------------------------------------------------------------ */

/* Returns the number of parameter tensors in the subtree; 0 while unbound. */
INC_API int inc_layer_param_count(const inc_layer *layer);

/* Returns the total number of parameter scalars in the subtree. */
INC_API int64_t inc_layer_param_numel(const inc_layer *layer);

/* Gives parameter `index` (0 <= index < inc_layer_param_count) of the subtree
 * in depth-first order: its name, the path of layer names from this layer
 * joined by '.' plus "weight" or "bias" (e.g. "2.0.p2.2.weight"), its value
 * and its gradient. All three are owned by the layer; the name is valid until
 * the tree changes. Any out-pointer may be NULL. The value may be written
 * (e.g. with inc_tensor_copy_from_host) to set weights by hand. */
INC_API inc_status inc_layer_param(const inc_layer *layer, int index, const char **name,
                                   inc_tensor **value, inc_tensor **grad);

/* Returns the number of buffer tensors in the subtree (since 0.3): the
 * tensors a layer keeps that are not trained, such as a batch norm's
 * running statistics. 0 while unbound, and 0 for NULL. */
INC_API int inc_layer_buffer_count(const inc_layer *layer);

/* Gives buffer `index` (0 <= index < inc_layer_buffer_count) of the subtree
 * in depth-first order (since 0.3): its name, the path of layer names from
 * this layer joined by '.' plus the buffer's own name (e.g.
 * "2.0.running_mean"), and its value. Both are owned by the layer; the name
 * is valid until the tree changes, the tensor until the layer is unbound or
 * destroyed. Either out-pointer may be NULL. Buffers are saved and loaded
 * with the parameters, under these names, and the optimizer leaves them
 * alone; the value may be written (e.g. with inc_tensor_copy_from_host).
 * Returns INC_OK; INC_ERR_INVALID_ARGUMENT for a NULL layer (no message: there
 * is no context) or an index outside 0..count-1 (with a message; nothing is
 * written then). Threads: like every call on the layer's context, one thread
 * at a time. */
INC_API inc_status inc_layer_buffer(const inc_layer *layer, int index, const char **name,
                                    inc_tensor **tensor);

/* ------------------------------------------------------------------------ */
/* Data-parallel hooks: what an outside communicator (MPI, NCCL; the        */
/* library links neither) needs to reduce gradients across processes while  */
/* backward still runs, the design of PyTorch's DistributedDataParallel      */
/* ------------------------------------------------------------------------ */

/* The default target size of a gradient bucket (since 0.5): 25 MiB,
 * PyTorch DDP's default. */
#define INC_GRAD_BUCKET_DEFAULT_BYTES (25 << 20)

/* A hook's ready callback (since 0.5), called during inc_layer_backward of
 * the layer the hook is set on as soon as every gradient in bucket
 * `bucket` is final. grad points to the bucket's count floats in the
 * context's memory (device memory on CUDA): its parameters' gradients one
 * after another (inc_layer_grad_bucket says which). The callback may read
 * them and overwrite them in place (an all-reduce, a division by the
 * number of processes): they are the gradients inc_optimizer_step reads.
 * stream is the context's cudaStream_t (as void *) on CUDA, on which the
 * gradient computations were queued before the call, so that work the
 * callback queues on it (ncclAllReduce) runs after them and may also be
 * waited for with cudaStreamSynchronize; NULL on the CPU, where the
 * gradients are computed when it is called. Returns INC_OK, or an error,
 * which stops the backward (see inc_layer_set_grad_hook). */
typedef inc_status (*inc_grad_ready_fn)(void *user, int bucket, float *grad, int64_t count,
                                        void *stream);

/* A hook's finish callback (since 0.5), called once at the end of every
 * inc_layer_backward of the layer the hook is set on, after the last
 * ready: backward_status is INC_OK, or the error that made the backward
 * fail (a step's, or a ready callback's), so that a communicator can wait
 * for the reductions it started before the caller's optimizer step, or
 * cancel them. stream as for ready. Its result is the backward's when the
 * backward itself succeeded. */
typedef inc_status (*inc_grad_finish_fn)(void *user, inc_status backward_status, void *stream);

/* A gradient hook for inc_layer_set_grad_hook (since 0.5), a size-prefixed
 * descriptor like inc_conv2d_desc: zero it, set size to
 * sizeof(inc_grad_hook), then the fields; a later version may append
 * fields, whose zero bytes mean their defaults (docs/ABI.md, rule 2). */
typedef struct inc_grad_hook {
  size_t size;               /* sizeof(inc_grad_hook): lets the struct grow without an ABI break */
  int64_t bucket_bytes;      /* target bytes per bucket, >= 0; 0: INC_GRAD_BUCKET_DEFAULT_BYTES */
  inc_grad_ready_fn ready;   /* required */
  inc_grad_finish_fn finish; /* may be NULL */
  void *user;                /* passed to both; not owned by the library */
} inc_grad_hook;

/* Installs a gradient hook on layer, or removes it (hook NULL; a no-op
 * without one) (since 0.5). The library keeps a copy of *hook; what user
 * points to must stay valid while the hook is set. A hook set on a layer
 * that has one replaces it.
 *
 * Buckets. The parameters of the subtree (inc_layer_param order, which is
 * the forward order) are taken in reverse order and packed greedily into
 * buckets: a bucket closes when the next parameter would take it past
 * bucket_bytes, a parameter larger than that gets a bucket of its own, and
 * no parameter is split. Bucket 0 thus holds the last parameters (the
 * classifier), whose gradients backward computes first. Each bucket is one
 * allocation of the context's backend (device memory on CUDA) holding its
 * parameters' gradients contiguously in that reverse order, and the
 * gradient tensors of inc_layer_param are views of it: a reduction done in
 * place on a bucket is a reduction of what inc_optimizer_step reads. The
 * bucket memory belongs to the layer; it is freed when the hook is removed
 * (the gradients then get memory of their own again, values kept), when
 * the layer is unbound or destroyed, and when the layout is rebuilt.
 *
 * When. The hook may be set on an unbound layer. The layout is built by
 * the layer's next training forward (inc_layer_forward with training
 * nonzero) or backward, and rebuilt there, gradient values kept, when the
 * subtree's parameters changed (an unbind and a new binding, a new child),
 * when bucket_bytes changed, or when another hooked layer took the
 * gradients (hooks on a tree and on a layer inside it: each moves the
 * gradients they share into its own buckets when it runs, at the cost of
 * an allocation each time they alternate). When building fails
 * (INC_ERR_OUT_OF_MEMORY, a device error) that forward or backward fails
 * before running anything and nothing changed: the gradients stay where
 * they were, with their values.
 *
 * Callbacks. During inc_layer_backward of this layer (not of a tree that
 * contains it, nor of a layer inside it), after each step that computes
 * parameter gradients, each bucket whose gradients are now all computed
 * gets ready(user, bucket, grad, count, stream): every bucket exactly once
 * per backward, in the order they complete, which is backward's (0, 1, 2,
 * ... along a chain of layers; a concat's branches run first to last, so
 * the buckets of a block's last branch complete last), the first ones
 * while most of backward is still to run, so that their reductions overlap
 * it; also when dx is not wanted and for a further backward of the same
 * forward. A bucket whose gradients no step computes would get it before
 * the first step. Then finish(user, status, stream) is called, also
 * when the backward failed, with its status. A ready that returns an error
 * stops the backward: finish gets that error, and inc_layer_backward
 * returns it with a message naming the hook and the bucket; an error from
 * finish is returned likewise when the backward itself succeeded. A
 * backward refused before it runs (bad arguments, INC_ERR_STATE, a failure
 * to build the layout) calls neither. The callbacks run on the thread that
 * called inc_layer_backward and must not call the library on the layer's
 * context (not checked).
 *
 * Returns INC_OK; INC_ERR_INVALID_ARGUMENT for a NULL layer (no message:
 * there is no context), a size below the 0.5 struct or above 4096, nonzero
 * bytes beyond this library's struct, a NULL ready or a negative
 * bucket_bytes; INC_ERR_OUT_OF_MEMORY (removing the hook allocates the
 * gradients' own memory); a device error. On failure nothing changed.
 * Threads: like every call on the layer's context, one thread at a time. */
INC_API inc_status inc_layer_set_grad_hook(inc_layer *layer, const inc_grad_hook *hook);

/* Returns the number of gradient buckets of layer's hook (since 0.5): of
 * the layout that the subtree's bound parameters and the hook's
 * bucket_bytes give, which the layer's next training forward or backward
 * uses (building it if it is not built yet). 0 for NULL, without a hook,
 * while the subtree is not bound, or for a subtree without parameters.
 * Never fails. Threads: like every call on the layer's context, one thread
 * at a time. */
INC_API int inc_layer_grad_bucket_count(const inc_layer *layer);

/* Describes bucket `bucket` (0 <= bucket < inc_layer_grad_bucket_count) of
 * layer's hook (since 0.5), for tests, tools and communicators that
 * allocate ahead: *count gets its element count (the sum of its
 * parameters' element counts; over all buckets, inc_layer_param_numel),
 * *first_param the index (inc_layer_param order) of its first parameter,
 * which is the highest index it holds, and *nparams how many it holds. The
 * bucket holds parameters first_param, first_param - 1, ..., first_param -
 * nparams + 1, their gradients one after another in that order (the ready
 * callback's grad). Any out-pointer may be NULL. Returns INC_OK;
 * INC_ERR_INVALID_ARGUMENT for a NULL layer (no message: there is no
 * context) or a bucket outside 0..count-1 (with a message; there is none
 * without a hook or while unbound); nothing is written on failure.
 * Threads: like every call on the layer's context, one thread at a
 * time. */
INC_API inc_status inc_layer_grad_bucket(const inc_layer *layer, int bucket, int64_t *count,
                                         int *first_param, int *nparams);

/* ------------------------------------------------------------------------ */
/* Loss                                                                      */
/* ------------------------------------------------------------------------ */

/* Softmax cross-entropy of logits (N, classes) against host int32 labels
 * (N of them, each in [0, classes), else INC_ERR_INVALID_ARGUMENT).
 * *mean_loss gets the mean loss over the rows (numerically stable).
 * dlogits (may be NULL; else a tensor of the logits' shape and context)
 * receives d(mean_loss)/d(logits) = (softmax - onehot)/N; it must not be
 * logits itself nor share its memory (INC_ERR_INVALID_ARGUMENT, nothing
 * computed). *correct (may be NULL) gets the number of rows whose argmax
 * equals the label. */
INC_API inc_status inc_softmax_cross_entropy(inc_context *ctx, const inc_tensor *logits,
                                             const int32_t *labels, float *mean_loss,
                                             inc_tensor *dlogits, int64_t *correct);

/* Softmax cross-entropy with label smoothing (since 0.4), PyTorch's
 * cross_entropy(..., label_smoothing=smoothing): each row's target is
 * q = (1 - smoothing) onehot(label) + smoothing / classes, its loss
 * -sum_k q_k log softmax_k; *mean_loss gets the mean over the rows and
 * dlogits (may be NULL) d(mean_loss)/d(logits) = (softmax - q)/N.
 * 0 <= smoothing <= 1, else (NaN too) INC_ERR_INVALID_ARGUMENT with a
 * message and nothing computed. Otherwise the same contract as
 * inc_softmax_cross_entropy(), which is this call with smoothing 0 (bit
 * for bit): the same checks and statuses, labels in host memory, dlogits
 * of the logits' shape and context and not sharing their memory, *correct
 * (may be NULL) the rows whose argmax is the label; nothing is written
 * through mean_loss, dlogits or correct when the call fails. A NULL ctx is
 * INC_ERR_INVALID_ARGUMENT without a message. Threads: like every call on
 * the context, one thread at a time. */
INC_API inc_status inc_softmax_cross_entropy_smoothed(inc_context *ctx, const inc_tensor *logits,
                                                      const int32_t *labels, float smoothing,
                                                      float *mean_loss, inc_tensor *dlogits,
                                                      int64_t *correct);

/* ------------------------------------------------------------------------ */
/* Optimizer                                                                 */
/* ------------------------------------------------------------------------ */

/* Creates a stochastic gradient descent optimizer with PyTorch's update rule:
 *   g = grad + weight_decay * p;  b = momentum * b + g (b = g on the first
 *   step);  p -= lr * (momentum ? b : g).
 * lr > 0, 0 <= momentum < 1, weight_decay >= 0, all finite. */
INC_API inc_status inc_sgd_create(inc_context *ctx, float lr, float momentum, float weight_decay,
                                  inc_optimizer **out);

/* Applies one update to every parameter of model using the gradients of the
 * last backward. The model must be bound (else INC_ERR_STATE) and belong to
 * the optimizer's context. Momentum buffers are kept per parameter. */
INC_API inc_status inc_optimizer_step(inc_optimizer *opt, inc_layer *model);

/* Changes the learning rate (> 0, finite) for later steps. */
INC_API inc_status inc_optimizer_set_lr(inc_optimizer *opt, float lr);

/* Returns the current learning rate, 0 for NULL. */
INC_API float inc_optimizer_lr(const inc_optimizer *opt);

/* Frees the optimizer and its state. NULL is a no-op. */
INC_API void inc_optimizer_destroy(inc_optimizer *opt);

/* ------------------------------------------------------------------------ */
/* Persistence: safetensors files (F32, little-endian), names as             */
/* inc_layer_param(). Files are written to a temporary file in the same      */
/* directory, flushed, fsync'd and renamed over the target, so a failed save */
/* leaves any previous file intact.                                          */
/* ------------------------------------------------------------------------ */

/* Saves every parameter and buffer of a bound layer. */
INC_API inc_status inc_layer_save(const inc_layer *layer, const char *path);

/* Loads parameters and buffers saved by inc_layer_save (or a compatible
 * file). An unbound model is bound from the file's shapes. Every parameter
 * and buffer of the model must be in the file with its shape, and every
 * model tensor of the file in the model (optimizer tensors, named
 * "momentum/...", are ignored); otherwise INC_ERR_SHAPE. A malformed file is
 * INC_ERR_FORMAT. On failure the model is unchanged. */
INC_API inc_status inc_layer_load(inc_layer *layer, const char *path);

/* A checkpoint: the model's parameters and buffers, the optimizer's
 * momentum buffers (opt may be NULL) as "momentum/<param name>", and n_meta
 * string pairs in the file's __metadata__ (keys unique, not starting with
 * "inc."; values any UTF-8 text). */
INC_API inc_status inc_checkpoint_save(const inc_layer *model, const inc_optimizer *opt,
                                       int n_meta, const char *const *keys,
                                       const char *const *values, const char *path);

/* Loads a checkpoint: like inc_layer_load(), and when opt is not NULL also
 * restores its momentum buffers and learning rate. On failure neither the
 * model nor the optimizer changes. */
INC_API inc_status inc_checkpoint_load(inc_layer *model, inc_optimizer *opt, const char *path);

/* Reads __metadata__[key] of a safetensors file into buf (NUL-terminated).
 * *needed (if not NULL) gets the size needed including the NUL, or 0 when
 * the key is absent (then buf, if cap > 0, gets ""; the call returns INC_OK).
 * A value longer than cap is truncated (still INC_OK). buf may be NULL when
 * cap is 0. A malformed file is INC_ERR_FORMAT, an unreadable one INC_ERR_IO.
 * This call has no context, so its errors carry no message. */
INC_API inc_status inc_checkpoint_metadata(const char *path, const char *key, char *buf,
                                           size_t cap, size_t *needed);

/* ------------------------------------------------------------------------ */
/* Export: ONNX (opset 13), for ONNX Runtime and other inference engines     */
/* ------------------------------------------------------------------------ */

/* Writes a bound layer (a whole model or any subtree) as an ONNX model
 * (opset 13, IR version 7) with its weights, for ONNX Runtime and other
 * ONNX tools. Each layer becomes one node in execution order (Conv,
 * Relu, MaxPool, AveragePool with count_include_pad=1, GlobalAveragePool,
 * Flatten, Gemm with transB=1, Concat for a concat after its branches; a
 * sequential only chains them; since 0.4 Identity for an identity, and
 * for a residual, after its branches, a Mul for each branch whose scale is
 * not 1 and Add nodes summing in branch order, the scales being scalar
 * initializers "<path>.scale<i>" after the parameters), with the
 * library's window rule (floor rounding, symmetric padding), so ONNX
 * Runtime computes what inc_layer_forward computes. The parameters are float32 initializers
 * named as inc_layer_param() names them ("2.0.p2.2.weight"), in its order
 * and shapes. The graph input is "input", (N, C, H, W) — (N, F) for a model
 * that starts with a dense layer — and the output "logits"; N, H and W are
 * symbolic ("N", "H", "W": the model accepts the sizes the library
 * accepts), C is a number once a convolution or dense layer fixes it.
 * docs/onnx.md has the details and how the export is verified.
 *
 * Written like inc_layer_save(): a temporary file in path's directory,
 * fsync'd and renamed over path; on failure nothing is left behind and a
 * previous file at path is unchanged. The model is built in host memory
 * first (about the size of its parameters), then written; the layer is not
 * modified.
 *
 * Returns INC_OK; INC_ERR_INVALID_ARGUMENT for a NULL layer (no message:
 * there is no context) or a NULL or empty path (or a model over the 2 GiB a
 * protobuf message can hold); INC_ERR_STATE for an unbound layer or an
 * empty sequential or concat (or residual) in it; INC_ERR_SHAPE when the layers do not
 * fit together (a layer bound to other channels than the one before gives);
 * INC_ERR_IO when the file cannot be written; INC_ERR_OUT_OF_MEMORY; a
 * device error while the parameters are read. Every failure except a NULL
 * layer leaves a message in inc_context_last_error(). Threads: like every
 * call on the layer's context, one thread at a time. */
INC_API inc_status inc_layer_export_onnx(const inc_layer *layer, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* INCEPTION_H */
