/*
 * op_cases.c — the table of op cases, its float64 references and the
 * runner every backend's suite calls (see op_cases.h).
 *
 * A case's buffers (setup functions) are made on the host with
 * deterministic data; the float64 reference (ref functions) is written from
 * each op's definition with no index trick shared with src/kernels.h, so
 * that it can judge the bodies; the backend under test gets copies of the
 * same buffers through its alloc/upload slots, runs the op through
 * opc_call (the one place that maps a row's op to its slot), and its
 * outputs come back through download. Every output buffer starts as a
 * sentinel (-777, or NaN for gemm with beta 0: C must be written, never
 * read), so an element an op forgets to write fails.
 *
 * The shape lists gather the shapes of the per-file checks this table
 * replaced (test_kernels.c, test_cpu_ops.c, test_cuda.c): odd sizes,
 * batch 1 and more, stride 1..3, padding 0 to beyond the kernel, kernels
 * smaller and larger than the stride, 1x1 planes, sizes above the CPU's
 * threading thresholds and its 16-plane vector paths, wide and dense bias
 * gradients, split GEMMs; and rectangular windows (1x7, 7x1, 3x1, 1x3 and
 * others, stride and padding differing between the axes) through the same
 * CPU paths.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "util.h"
#include "naive.h"
#include "op_cases.h"

#define NEL(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define SH(list) list, NEL(list)

/* ---- shapes (meaning by op: op_cases.h) --------------------------------- */

/* Convolution windows (n, c, h, w, k, s, p): im2col, col2im. */
static const opc_shape conv_windows[] = {
    {2, 3, 7, 5, 3, 1, 1},   {1, 2, 9, 11, 3, 2, 0},  {2, 2, 9, 11, 7, 2, 3},
    {3, 1, 7, 5, 2, 3, 0},   {1, 3, 5, 7, 5, 1, 2},   {2, 2, 8, 6, 4, 2, 1},
    {1, 1, 1, 1, 1, 1, 0},   {2, 3, 7, 5, 1, 2, 0},   {1, 2, 6, 9, 3, 3, 2},
    {2, 1, 4, 4, 5, 1, 2},   {1, 2, 3, 3, 3, 1, 4},   {3, 2, 10, 3, 3, 2, 1},
    {4, 5, 12, 12, 3, 1, 1}, {3, 4, 13, 11, 3, 2, 1}, {2, 3, 1, 1, 3, 1, 1},
    {2, 3, 2, 2, 5, 1, 2},   {5, 7, 24, 24, 3, 2, 1}, {8, 6, 48, 40, 7, 2, 3},
    {6, 9, 6, 6, 5, 1, 2},   {4, 3, 3, 3, 3, 1, 1},   {3, 2, 17, 19, 1, 1, 0},
    /* the CUDA parity shapes: 1x1, 3x3 pad 1, the stem's 7x7/2 pad 3, 5x5 pad 2 */
    {1, 1, 5, 5, 1, 1, 0},   {3, 2, 7, 5, 3, 1, 1},   {3, 3, 11, 9, 7, 2, 3},
    {1, 4, 6, 7, 5, 1, 2},   {3, 2, 9, 7, 3, 2, 0},   {1, 3, 5, 5, 3, 2, 1},
    {3, 5, 3, 3, 1, 1, 0},
    /* above the CPU's threading thresholds */
    {8, 4, 31, 25, 3, 2, 1},
};

/* Rectangular convolution windows (n, c, h, w, kh, kw, sh, sw, ph, pw):
 * Inception v3's 1x7 p(0,3) and 7x1 p(3,0) on planes below and above the
 * CPU's small-plane size (its "same" stride-1 paths) and at 17x17 above the
 * threading thresholds, 3x1 and 1x3 s(2,1), strides and paddings that
 * differ between the axes, padding beyond the kernel on one axis, one-row
 * images, a 1x1 kernel with stride (2, 1). */
static const opc_shape conv_windows_rect[] = {
    {2, 3, 7, 9, 1, 7, 1, 1, 0, 3},    {2, 3, 9, 7, 7, 1, 1, 1, 3, 0},
    {2, 3, 12, 10, 7, 1, 1, 1, 3, 0},  {2, 2, 10, 12, 1, 7, 1, 1, 0, 3},
    {1, 2, 6, 5, 3, 1, 1, 1, 1, 0},    {2, 2, 9, 11, 1, 3, 2, 1, 0, 1},
    {3, 2, 10, 7, 3, 5, 1, 2, 0, 2},   {2, 3, 8, 9, 5, 3, 3, 2, 2, 1},
    {1, 1, 1, 7, 1, 7, 1, 1, 0, 3},    {2, 2, 5, 5, 1, 1, 2, 1, 0, 0},
    {1, 3, 4, 9, 2, 5, 1, 3, 3, 0},    {3, 2, 7, 5, 3, 1, 2, 1, 1, 0},
    {8, 4, 17, 17, 1, 7, 1, 1, 0, 3},  {8, 4, 17, 17, 7, 1, 1, 1, 3, 0},
    /* 1x1 stride-1 windows (the crop path): TRIM's weight cuts (negative
     * padding: the middle tap of a 3x3, the middle 3x3 of a 5x5), a zero
     * border, one above the threading thresholds */
    {2, 7, 3, 3, 1, 1, 1, 1, -1, -1},  {1, 6, 5, 5, 1, 1, 1, 1, -1, -1},
    {2, 3, 4, 5, 1, 1, 1, 1, 1, 2},    {4, 600, 5, 5, 1, 1, 1, 1, -1, -1},
};

/* Pooling windows: padding <= kernel/2 (PyTorch's rule). */
static const opc_shape pool_windows[] = {
    {2, 3, 7, 5, 3, 1, 1},   {1, 2, 9, 11, 3, 2, 0},  {2, 2, 9, 11, 7, 2, 3},
    {3, 1, 7, 5, 2, 3, 0},   {1, 3, 5, 7, 5, 1, 2},   {2, 2, 8, 6, 4, 2, 1},
    {1, 1, 1, 1, 1, 1, 0},   {2, 3, 7, 5, 1, 2, 0},   {2, 1, 4, 4, 5, 1, 2},
    {3, 2, 10, 3, 3, 2, 1},  {4, 5, 12, 12, 3, 1, 1}, {3, 4, 13, 11, 3, 2, 1},
    {2, 3, 1, 1, 3, 1, 1},   {2, 3, 2, 2, 5, 1, 2},   {5, 7, 24, 24, 3, 2, 1},
    {8, 6, 48, 40, 7, 2, 3}, {6, 9, 6, 6, 5, 1, 2},   {4, 3, 3, 3, 3, 1, 1},
    {3, 2, 17, 19, 1, 1, 0},
    {2, 2, 7, 5, 3, 1, 1},   {1, 3, 9, 11, 3, 2, 1},  {2, 2, 7, 5, 2, 2, 0},
    {1, 2, 9, 11, 2, 1, 1},  {2, 1, 9, 11, 5, 2, 2},  {1, 2, 6, 4, 3, 3, 0},
    {2, 2, 3, 8, 3, 2, 1},
    /* the net's 3/1/1 and 3/2/1, 2/2/0, 3/2/0 on odd sizes */
    {1, 1, 5, 5, 3, 1, 1},   {3, 2, 7, 9, 3, 2, 1},   {3, 3, 8, 6, 2, 2, 0},
    {1, 2, 9, 7, 3, 2, 0},   {3, 4, 6, 6, 3, 1, 1},   {1, 3, 1, 1, 1, 1, 0},
    {8, 4, 31, 25, 3, 2, 1},
    /* one output per plane (the gather path): 2x2 s2 p1 as at 28x28, more
     * planes than one run of 256, 3x3 s1 p0 */
    {8, 4, 2, 2, 3, 2, 1},   {40, 9, 2, 2, 3, 2, 1},  {3, 2, 3, 3, 3, 1, 0},
    /* 3x3 stride 2 with 5 outputs a row and more (the separable path): two
     * registers of outputs, the second nearly empty, padding 0 and 1, odd
     * and even sizes */
    {2, 3, 13, 40, 3, 2, 1}, {2, 3, 11, 41, 3, 2, 0}, {1, 2, 5, 35, 3, 2, 1},
    {3, 2, 10, 10, 3, 2, 1},
};

/* Rectangular pooling windows (n, c, h, w, kh, kw, sh, sw, ph, pw), padding
 * <= kernel/2 per axis: "same" stride-1 ones (the shift paths, one plane and
 * runs of planes), 16 planes and more (the interleaved vector paths), strides
 * and paddings that differ between the axes, above the threading
 * thresholds. */
static const opc_shape pool_windows_rect[] = {
    {2, 3, 7, 9, 1, 3, 1, 1, 0, 1},    {2, 2, 9, 7, 3, 1, 1, 1, 1, 0},
    {9, 2, 6, 6, 1, 7, 1, 1, 0, 3},    {2, 2, 12, 10, 7, 1, 1, 1, 3, 0},
    {1, 3, 9, 11, 3, 2, 2, 1, 1, 1},   {3, 2, 10, 7, 2, 3, 1, 2, 1, 0},
    {2, 2, 8, 9, 5, 3, 2, 3, 2, 1},    {1, 1, 1, 5, 1, 3, 1, 1, 0, 1},
    {17, 2, 9, 7, 3, 3, 2, 1, 1, 0},   {16, 2, 7, 9, 2, 3, 2, 2, 0, 1},
    {8, 4, 31, 25, 3, 5, 2, 1, 1, 2},
    /* 3x3 stride 2 padded differently along the axes (the separable path) */
    {2, 2, 9, 21, 3, 3, 2, 2, 0, 1},   {2, 2, 10, 22, 3, 3, 2, 2, 1, 0},
};

/* swap01 (a, b, p), each also swapped back as (b, a, p). */
static const opc_shape swaps[] = {
    {1, 1, 1},  {3, 5, 7},  {5, 3, 7},   {5, 3, 1},   {3, 5, 1},   {2, 9, 35},
    {9, 2, 35}, {7, 1, 4},  {1, 7, 4},   {1, 6, 3},   {6, 1, 3},   {7, 2, 9},
    {2, 64, 300}, {130, 3, 37}, {16, 33, 36}, {5, 200, 20},
    {1, 1, 25}, {2, 3, 35}, {3, 3, 99},  {4, 1, 42},  {2, 3, 63},  {3, 1, 25},
    {5, 3, 9},
};

/* Direct convolutions (n, c, h, w, k, s, p, oc, cnhw): the stems (7x7/2 pad
 * 3 of one channel, 3x3 of three), output channels not a multiple of the
 * CPU's blocks of 8 (1, 5, 9), rows wider than its 48 columns, a 1x1 and
 * a 5x5/2 window, both layouts, one above the threading thresholds; then
 * the CPU's stride-1 path for 8 or more channels on maps up to 16 wide
 * (output channels in blocks of 32: 48, 33, 5, 20; strips of 2 rows of 6
 * pixels, 4 rows of maps up to 3 wide, odd rows left over; no padding;
 * one above the threading thresholds). */
static const opc_shape direct_convs[] = {
    {2, 1, 28, 28, 7, 2, 3, 16, 1}, {3, 1, 13, 11, 7, 2, 3, 8, 0}, {2, 3, 15, 17, 3, 1, 1, 10, 1},
    {1, 2, 9, 7, 5, 2, 2, 9, 0},    {2, 1, 5, 5, 3, 1, 0, 1, 1},   {2, 3, 6, 6, 1, 1, 0, 5, 0},
    {1, 1, 8, 200, 3, 1, 1, 20, 1}, {8, 1, 40, 40, 7, 2, 3, 64, 1},
    {2, 16, 6, 6, 5, 1, 2, 48, 1},  {3, 8, 7, 5, 3, 1, 1, 33, 0},  {1, 9, 3, 2, 3, 1, 1, 5, 1},
    {2, 12, 13, 16, 5, 1, 2, 20, 0}, {2, 8, 6, 6, 3, 1, 0, 16, 0}, {8, 32, 12, 12, 5, 1, 2, 64, 1},
};

/* Unrolled convolutions (c, h, w, kh, kw, sh, sw, ph, pw, oc): GoogLeNet's
 * small maps (3x3 pad 1 on 2x2 and 3x3, 5x5 pad 2 on 2x2, 3x3 and 4x4),
 * stride 2, rectangular kernels and paddings, padding beyond the kernel,
 * a 1x1 map and a 1x1 kernel, one filter, one above the threading
 * thresholds. */
static const opc_shape unrolls[] = {
    {3, 2, 2, 3, 3, 1, 1, 1, 1, 5},  {2, 3, 3, 3, 3, 1, 1, 1, 1, 4}, {4, 2, 2, 5, 5, 1, 1, 2, 2, 3},
    {2, 3, 3, 5, 5, 1, 1, 2, 2, 7},  {3, 4, 4, 5, 5, 1, 1, 2, 2, 2}, {2, 5, 4, 3, 3, 2, 2, 1, 1, 3},
    {2, 3, 4, 1, 3, 1, 2, 0, 1, 3},  {1, 4, 3, 3, 1, 2, 1, 3, 0, 2}, {2, 1, 1, 3, 3, 1, 1, 1, 1, 1},
    {3, 3, 2, 1, 1, 1, 1, 0, 0, 2},  {2, 2, 3, 2, 2, 1, 1, 0, 1, 1}, {64, 4, 4, 5, 5, 1, 1, 2, 2, 32},
};

/* (n, c, p) for conv_out, bias_add, bias_grad: runs of one float, sizes
 * above the threading threshold, and the conv parity shapes (n, c, h*w). */
static const opc_shape layouts[] = {
    {3, 4, 7},    {1, 1, 1},    {3, 5, 1},   {7, 2, 9},  {2, 64, 300}, {130, 3, 37},
    {16, 33, 36}, {5, 200, 20}, {1, 1, 25},  {3, 2, 35}, {3, 3, 99},   {1, 4, 42},
    {3, 2, 63},   {1, 3, 25},   {3, 5, 9},
};
/* conv_out in place needs n == 1: (1, C, P') as conv2d uses it. */
static const opc_shape layouts_n1[] = {
    {1, 1, 1}, {1, 5, 3}, {1, 2, 63}, {1, 64, 600}, {1, 3, 4810}, {1, 33, 576}, {1, 200, 100},
};
/* bias_grad of a dense layer (p = 1) and of a wide one */
static const opc_shape bias_wide[] = {{128, 10, 1}, {3, 1024, 1}, {2, 64, 2304}};

static const opc_shape counts[] = {{1}, {7}, {1000}, {70001}};

/* batch norm (n, c, p): channels of a few values, a channel-major (1, C,
 * N*P) one, sizes above the threading threshold, one channel */
static const opc_shape bn_shapes[] = {{4, 3, 35}, {1, 2, 9},  {5, 1, 2},    {2, 6, 4},
                                      {1, 64, 600}, {3, 200, 20}, {128, 5, 49}, {1, 1, 70001}};
/* bn_running (c, m) */
static const opc_shape running_shapes[] = {{1, 2}, {3, 35}, {64, 1000}, {200, 7}};
/* bn_fold (oc, k) */
static const opc_shape fold_shapes[] = {{1, 1}, {4, 18}, {64, 27}, {192, 576}, {3, 1}};

/* (n, cb, ct, off, p): every block position of a few splits, one-float runs */
static const opc_shape slices[] = {
    {1, 3, 10, 2, 5},     {3, 4, 9, 5, 7},       {3, 1, 1, 0, 1},       {3, 64, 256, 192, 9},
    {1, 2, 5, 0, 1},      {1, 1, 1, 0, 1},       {3, 2, 5, 0, 1},       {3, 2, 5, 2, 1},
    {3, 1, 5, 4, 1},      {7, 2, 2, 0, 9},       {7, 1, 2, 1, 9},       {2, 2, 64, 0, 300},
    {2, 2, 64, 22, 300},  {2, 2, 64, 44, 300},   {130, 2, 3, 0, 37},    {130, 1, 3, 2, 37},
    {16, 2, 33, 0, 36},   {16, 2, 33, 12, 36},   {16, 2, 33, 24, 36},   {5, 2, 200, 0, 20},
    {5, 2, 200, 67, 20},  {5, 2, 200, 134, 20},  {3, 2, 8, 0, 35},      {3, 5, 8, 2, 35},
    {3, 1, 8, 7, 35},
};

static const opc_shape gaps[] = {{15, 9}, {1, 1}, {14, 49}, {3 * 1024, 9}, {2, 2304}, {6, 35}};

static const opc_shape ce_shapes[] = {{1, 10}, {3, 10}, {128, 10}, {7, 3}, {5, 1}, {300, 17},
                                      {6, 5}};
static const opc_shape ce_extreme[] = {{30, 5}};

static const opc_shape sgd_three[] = {{33, 3}};
static const opc_shape sgd_counts[] = {{1, 3}, {1000, 3}, {70001, 3}};
static const opc_shape sgd_big[] = {{20000, 1}, {40003, 1}};

/* (count, seed, stream) */
static const opc_shape fills_a[] = {{1, 42, 5}, {1001, 42, 6}, {100003, 42, 7}};
static const opc_shape fills_b[] = {{1, 42, 9}, {1001, 42, 10}, {100003, 42, 11}};
static const opc_shape fills_c[] = {{50000, 42, 9}};

/* (n, c, p, cnhw, seed, stream): channel-major storage (the mask follows the
 * logical index), one-float planes, above the CPU's threading threshold */
static const opc_shape dropouts[] = {{1, 1, 1, 0, 42, 0},   {3, 5, 7, 0, 42, 1},
                                     {3, 5, 7, 1, 42, 1},   {2, 64, 300, 1, 42, 2},
                                     {130, 3, 37, 0, 7, 3}, {130, 3, 37, 1, 7, 3},
                                     {1, 1, 70001, 0, 9, 4}, {4, 6, 1, 1, 9, 5}};

/* Winograd images (n, c, h, w, m, cnhw): sizes that are and are not
 * multiples of the tile, 1x1, one-row and one-column images, batch 1, both
 * layouts, sizes above the CPU's threading threshold; planes of more tiles than
 * the CPU's blocks hold, and blocks of fewer planes than the others */
static const opc_shape wino_images[] = {
    {1, 1, 1, 1, 2, 0},  {1, 1, 1, 1, 4, 0},   {2, 3, 5, 7, 2, 0},   {2, 3, 5, 7, 4, 1},
    {1, 2, 4, 4, 4, 0},  {3, 2, 6, 6, 2, 1},   {2, 2, 3, 3, 4, 0},   {1, 3, 2, 2, 2, 1},
    {2, 2, 1, 7, 4, 1},  {2, 1, 9, 1, 2, 0},   {2, 4, 13, 11, 4, 0}, {3, 5, 17, 19, 2, 1},
    {4, 8, 12, 12, 4, 1}, {8, 6, 24, 24, 4, 0}, {5, 4, 24, 23, 2, 0},
    {5, 3, 24, 21, 4, 1}, {2, 3, 40, 37, 2, 0},
    /* one tile a plane, more images than 16 (the CPU's transposed gather):
     * 16, 16 and 8, both layouts, 2x2, 3x3 and 4x4 maps */
    {40, 3, 2, 2, 2, 0},  {20, 2, 4, 4, 4, 1},  {17, 2, 3, 3, 4, 0},
};
/* Winograd filters (oc, c, m) */
static const opc_shape wino_filters[] = {{1, 1, 2}, {1, 1, 4},   {3, 5, 2},
                                         {4, 3, 4}, {64, 32, 4}, {192, 64, 2}};

static const opc_shape byte_counts[] = {{1}, {3}, {4}, {1000}, {65536 + 12}};
static const opc_shape zero_parts[] = {{1, 0}, {3, 1}, {4, 2}, {1000, 500}, {65548, 32774}};

static const opc_shape gemm_small[] = {{5, 7, 3}, {1, 7, 3}, {5, 1, 9}, {37, 29, 53}, {3, 3, 1}};
static const opc_shape gemm_odd[] = {{1, 1, 1}, {5, 7, 3}, {33, 17, 65}, {64, 130, 27},
                                     {10, 3, 1024}};
/* large enough for the CPU's one-SGEMM-per-thread split, by columns and by rows */
static const opc_shape gemm_split[] = {{37, 1201, 97}, {1203, 45, 101}, {130, 130, 260}};
/* B's rows a multiple of 1024 floats apart, split by columns: the CPU copies B in blocks
 * (src/cpu/backend.c, pack_cols), of 512 columns, and of fewer for a deep k */
static const opc_shape gemm_pack[] = {{37, 3072, 50}, {3, 1024, 2100}};
/* gemm_batched (m, n, k, batch, gap_c, gap_a, gap_b): batches of 1, 2, odd, Winograd's 16 and
 * 36 (and its shape: OC x C times C x P), odd sizes, gaps between the items (c's must stay
 * untouched), a and b shared by every item (stride 0: the gap minus the item) */
static const opc_shape gemm_batches[] = {
    {5, 7, 3, 1, 0, 0, 0},      {5, 7, 3, 2, 0, 0, 0},       {1, 1, 1, 16, 0, 0, 0},
    {2, 3, 5, 7, 1, 1, 1},      {37, 29, 53, 16, 3, 5, 7},   {3, 3, 1, 36, 1, 2, 0},
    {33, 17, 65, 36, 0, 0, 0},  {64, 25, 32, 16, 0, 0, 0},   {16, 70, 12, 5, 11, -192, 0},
    {4, 9, 6, 3, 0, 0, -54},
};
/* items the CPU splits across its threads one by one (gemm_split's sizes) */
static const opc_shape gemm_batches_split[] = {{37, 1201, 97, 2, 5, 0, 0},
                                               {1203, 45, 101, 3, 0, 7, 0}};

/* ---- the table ---------------------------------------------------------- */

#define ROW(op, shapes, data, flags, f0, f1, f2, atol, rtol, bits)                             \
  {OPC_##op, SH(shapes), data, flags, {f0, f1, f2}, atol, rtol, bits}
/* gemm (or gemm_batched) with each of the four transpose combinations */
#define TRANS4(op, shapes, alpha, beta, atol, rtol)                                            \
  ROW(op, shapes, RAND, 0, alpha, beta, 0, atol, rtol, 0),                                     \
      ROW(op, shapes, RAND, TA, alpha, beta, 0, atol, rtol, 0),                                \
      ROW(op, shapes, RAND, TB, alpha, beta, 0, atol, rtol, 0),                                \
      ROW(op, shapes, RAND, TA | TB, alpha, beta, 0, atol, rtol, 0)
#define GEMM4(shapes, alpha, beta, atol, rtol) TRANS4(gemm, shapes, alpha, beta, atol, rtol)

/* short names for the table */
enum {
  RAND = OPC_RAND, NEGZ = OPC_NEGZERO, TIES = OPC_TIES, NANS = OPC_NANS, MINF = OPC_MINF,
  EDGE = OPC_EDGE, LARGE = OPC_LARGE, EXTREME = OPC_EXTREME,
  TA = OPC_TA, TB = OPC_TB, RELU = OPC_RELU, BIAS = OPC_BIAS, INPL = OPC_INPLACE,
  NOARG = OPC_NOARG, TOBIG = OPC_TO_BIG, NOGRAD = OPC_NOGRAD, WARM = OPC_WARM,
  NORMAL = OPC_NORMAL, RECT = OPC_RECT,
  CPU = OPC_BITS_CPU, ALL = OPC_BITS /* the backends that must give the bodies' bits */
};

static const opc_row rows[] = {
    /*  op           shapes        data   flags        f                 atol  rtol  bits */
    ROW(copy,        byte_counts,  RAND,  0,           0, 0, 0,          0,    0,    ALL),
    ROW(zero,        zero_parts,   RAND,  0,           0, 0, 0,          0,    0,    ALL),

    /* batch norm: f = eps, momentum; reductions in double (the CUDA tree adds in another
     * order); NOGRAD: bn_bwd without dx;
     * BIAS: bn_fold of a convolution with a bias */
    ROW(bn_fwd_train, bn_shapes,   RAND,  0,           1e-5f, 0, 0,      1e-6, 2e-6, CPU),
    ROW(bn_fwd_train, bn_shapes,   RAND,  RELU,        1e-3f, 0, 0,      1e-6, 2e-6, CPU),
    ROW(bn_running,   running_shapes, RAND, 0,         0, 0.1f, 0,       1e-7, 1e-6, ALL),
    ROW(bn_running,   running_shapes, RAND, 0,         0, 0.7f, 0,       1e-7, 1e-6, ALL),
    ROW(bn_fwd_eval,  bn_shapes,   EDGE,  0,           1e-5f, 0, 0,      2e-7, 2e-6, ALL),
    ROW(bn_fwd_eval,  bn_shapes,   RAND,  RELU,        1e-1f, 0, 0,      2e-7, 2e-6, ALL),
    ROW(bn_bwd,       bn_shapes,   RAND,  0,           0, 0, 0,          1e-6, 1e-5, CPU),
    ROW(bn_bwd,       bn_shapes,   RAND,  NOGRAD,      0, 0, 0,          1e-6, 1e-5, CPU),
    ROW(bn_fold,      fold_shapes, RAND,  BIAS,        1e-5f, 0, 0,      2e-7, 2e-6, ALL),
    ROW(bn_fold,      fold_shapes, RAND,  0,           1e-3f, 0, 0,      2e-7, 2e-6, ALL),

    /* alpha, beta; with beta 0, C is written, never read (it starts as NaN) */
    GEMM4(gemm_small, 1.0f, 0.0f, 1.5e-6, 1e-5),
    GEMM4(gemm_small, 1.5f, 0.5f, 1.5e-6, 1e-5),
    GEMM4(gemm_small, -0.5f, 1.0f, 1.5e-6, 1e-5),
    GEMM4(gemm_odd, 1.0f, 0.0f, 1e-5, 1e-4),
    GEMM4(gemm_odd, 0.5f, 2.0f, 1e-5, 1e-4),
    GEMM4(gemm_split, 1.5f, 0.0f, 1e-5, 1e-4),
    GEMM4(gemm_split, 1.5f, 0.5f, 1e-5, 1e-4),
    GEMM4(gemm_pack, 1.5f, 0.5f, 1e-4, 1e-4),
    TRANS4(gemm_batched, gemm_batches, 1.0f, 0.0f, 1e-5, 1e-4),
    TRANS4(gemm_batched, gemm_batches, 1.5f, 1.0f, 1e-5, 1e-4),
    TRANS4(gemm_batched, gemm_batches_split, 1.0f, 0.0f, 1e-5, 1e-4),
    TRANS4(gemm_batched, gemm_batches_split, -0.5f, 1.0f, 1e-5, 1e-4),

    ROW(im2col,      conv_windows, RAND,  0,           0, 0, 0,          0,    0,    ALL),
    ROW(col2im,      conv_windows, RAND,  0,           0, 0, 0,          3e-7, 1e-6, CPU),
    ROW(im2col,      conv_windows_rect, RAND, RECT,    0, 0, 0,          0,    0,    ALL),
    ROW(col2im,      conv_windows_rect, RAND, RECT,    0, 0, 0,          3e-7, 1e-6, CPU),
    ROW(swap01,      swaps,        NEGZ,  0,           0, 0, 0,          0,    0,    ALL),
    /* the CPU's blocks sum with fused multiply-adds: rounding apart, no bits */
    ROW(conv_direct, direct_convs, RAND,  0,           0, 0, 0,          1e-6, 1e-5, 0),
    ROW(conv_direct, direct_convs, RAND,  BIAS,        0, 0, 0,          1e-6, 1e-5, 0),
    ROW(conv_direct, direct_convs, EDGE,  RELU | BIAS, 0, 0, 0,          1e-6, 1e-5, 0),
    ROW(conv_out,    layouts,      NEGZ,  0,           0, 0, 0,          0,    1e-7, ALL),
    ROW(conv_out,    layouts,      NEGZ,  BIAS,        0, 0, 0,          0,    1e-7, ALL),
    ROW(conv_out,    layouts,      NEGZ,  RELU,        0, 0, 0,          0,    1e-7, ALL),
    ROW(conv_out,    layouts,      NEGZ,  RELU | BIAS, 0, 0, 0,          0,    1e-7, ALL),
    /* in place with n == 1, as conv2d uses it on channel-major outputs */
    ROW(conv_out,    layouts_n1,   NEGZ,  INPL,        0, 0, 0,          0,    1e-7, ALL),
    ROW(conv_out,    layouts_n1,   NEGZ,  INPL | BIAS, 0, 0, 0,          0,    1e-7, ALL),
    ROW(conv_out,    layouts_n1,   NEGZ,  INPL | RELU, 0, 0, 0,          0,    1e-7, ALL),
    ROW(conv_out,    layouts_n1,   NEGZ,  INPL | RELU | BIAS, 0, 0, 0,   0,    1e-7, ALL),
    ROW(bias_add,    layouts,      NEGZ,  0,           0, 0, 0,          0,    1e-7, ALL),
    /* a reduction: the CUDA tree adds in another order */
    ROW(bias_grad,   layouts,      RAND,  0,           0, 0, 0,          1e-5, 1e-5, CPU),
    ROW(bias_grad,   bias_wide,    RAND,  0,           0, 0, 0,          1e-5, 1e-5, CPU),

    /* unrolled: copies and zeros; sums in the body's order on the CPU */
    ROW(unroll_w,    unrolls,      RAND,  0,           0, 0, 0,          0,    0,    ALL),
    ROW(unroll_dw,   unrolls,      RAND,  0,           0, 0, 0,          1e-6, 1e-5, ALL),

    /* Winograd's transforms against naive.h's matrices in float64; both backends give the
     * bodies' bits */
    ROW(wino_w,      wino_filters, RAND,  0,           0, 0, 0,          1e-7, 1e-6, ALL),
    ROW(wino_dw,     wino_filters, RAND,  0,           0, 0, 0,          1e-7, 1e-6, ALL),
    ROW(wino_in,     wino_images,  RAND,  0,           0, 0, 0,          1e-6, 1e-6, ALL),
    ROW(wino_out,    wino_images,  RAND,  0,           0, 0, 0,          1e-7, 1e-6, ALL),
    ROW(wino_out,    wino_images,  RAND,  BIAS,        0, 0, 0,          1e-7, 1e-6, ALL),
    ROW(wino_out,    wino_images,  RAND,  RELU | BIAS, 0, 0, 0,          1e-7, 1e-6, ALL),
    ROW(wino_dout,   wino_images,  RAND,  0,           0, 0, 0,          1e-7, 1e-6, ALL),
    ROW(wino_din,    wino_images,  RAND,  0,           0, 0, 0,          1e-6, 1e-6, ALL),

    ROW(relu_fwd,    counts,       EDGE,  0,           0, 0, 0,          0,    0,    ALL),
    ROW(relu_fwd,    counts,       EDGE,  INPL,        0, 0, 0,          0,    0,    ALL),
    ROW(relu_bwd,    counts,       EDGE,  0,           0, 0, 0,          0,    0,    ALL),
    ROW(axpy,        counts,       RAND,  0,           -0.75f, 0, 0,     1e-7, 1e-7, ALL),
    ROW(slice,       slices,       RAND,  0,           0, 0, 0,          0,    0,    ALL),
    ROW(slice,       slices,       RAND,  TOBIG,       0, 0, 0,          0,    0,    ALL),

    ROW(maxpool_fwd, pool_windows, RAND,  0,           0, 0, 0,          0,    0,    ALL),
    ROW(maxpool_fwd, pool_windows, TIES,  0,           0, 0, 0,          0,    0,    ALL),
    ROW(maxpool_fwd, pool_windows, NANS,  0,           0, 0, 0,          0,    0,    ALL),
    ROW(maxpool_fwd, pool_windows, MINF,  0,           0, 0, 0,          0,    0,    ALL),
    ROW(maxpool_fwd, pool_windows, RAND,  NOARG,       0, 0, 0,          0,    0,    ALL),
    ROW(maxpool_fwd, pool_windows, TIES,  NOARG,       0, 0, 0,          0,    0,    ALL),
    ROW(maxpool_fwd, pool_windows, NANS,  NOARG,       0, 0, 0,          0,    0,    ALL),
    /* the saved argmax it reads is the reference's, over data of that kind */
    ROW(maxpool_bwd, pool_windows, RAND,  0,           0, 0, 0,          1e-7, 1e-6, ALL),
    ROW(maxpool_bwd, pool_windows, TIES,  0,           0, 0, 0,          1e-7, 1e-6, ALL),
    ROW(maxpool_bwd, pool_windows, NANS,  0,           0, 0, 0,          1e-7, 1e-6, ALL),
    ROW(avgpool_fwd, pool_windows, RAND,  0,           0, 0, 0,          1e-7, 1e-6, CPU),
    ROW(avgpool_bwd, pool_windows, RAND,  0,           0, 0, 0,          1e-7, 1e-6, CPU),
    ROW(maxpool_fwd, pool_windows_rect, RAND, RECT,    0, 0, 0,          0,    0,    ALL),
    ROW(maxpool_fwd, pool_windows_rect, TIES, RECT,    0, 0, 0,          0,    0,    ALL),
    ROW(maxpool_fwd, pool_windows_rect, NANS, RECT,    0, 0, 0,          0,    0,    ALL),
    ROW(maxpool_fwd, pool_windows_rect, TIES, RECT | NOARG, 0, 0, 0,     0,    0,    ALL),
    ROW(maxpool_bwd, pool_windows_rect, TIES, RECT,    0, 0, 0,          1e-7, 1e-6, ALL),
    ROW(maxpool_bwd, pool_windows_rect, NANS, RECT,    0, 0, 0,          1e-7, 1e-6, ALL),
    ROW(avgpool_fwd, pool_windows_rect, RAND, RECT,    0, 0, 0,          1e-7, 1e-6, CPU),
    ROW(avgpool_bwd, pool_windows_rect, RAND, RECT,    0, 0, 0,          1e-7, 1e-6, CPU),
    ROW(gap_fwd,     gaps,         RAND,  0,           0, 0, 0,          1e-7, 1e-6, CPU),
    ROW(gap_bwd,     gaps,         RAND,  0,           0, 0, 0,          1e-7, 1e-6, CPU),

    /* scale (0: 1/n), label smoothing; the loss sum is held to n * (atol + 1e-5) +
     * rtol * |ref|. Extreme logits: lse = m + log(sum) rounds to float first, a few
     * ulps of 1e4 */
    ROW(softmax_ce,  ce_shapes,    LARGE, 0,           0, 0, 0,          1e-7, 1e-5, CPU),
    ROW(softmax_ce,  ce_shapes,    LARGE, NOGRAD,      0, 0, 0,          1e-7, 1e-5, CPU),
    ROW(softmax_ce,  ce_extreme,   EXTREME, 0,         1.0f / 3, 0, 0,   1e-3, 1e-6, CPU),
    ROW(softmax_ce,  ce_shapes,    LARGE, 0,           0, 0.1f, 0,       1e-7, 1e-5, CPU),
    ROW(softmax_ce,  ce_shapes,    LARGE, NOGRAD,      0, 0.25f, 0,      1e-7, 1e-5, CPU),
    ROW(softmax_ce,  ce_shapes,    LARGE, 0,           0, 1.0f, 0,       1e-7, 1e-5, CPU),
    ROW(softmax_ce,  ce_extreme,   EXTREME, 0,         1.0f / 3, 0.2f, 0, 1e-3, 1e-6, CPU),

    /* lr, momentum, weight decay; fmaf is correctly rounded everywhere */
    ROW(sgd,         sgd_three,    RAND,  0,           0.1f, 0, 0,       1e-6, 1e-5, ALL),
    ROW(sgd,         sgd_three,    RAND,  0,           0.05f, 0.9f, 0,   1e-6, 1e-5, ALL),
    ROW(sgd,         sgd_three,    RAND,  0,           0.01f, 0, 5e-4f,  1e-6, 1e-5, ALL),
    ROW(sgd,         sgd_three,    RAND,  0,           0.1f, 0.9f, 1e-2f, 1e-6, 1e-5, ALL),
    ROW(sgd,         sgd_three,    RAND,  0,           0.5f, 0.5f, 0.1f, 1e-6, 1e-5, ALL),
    ROW(sgd,         sgd_counts,   RAND,  0,           0.1f, 0, 0,       1e-6, 1e-5, ALL),
    ROW(sgd,         sgd_counts,   RAND,  0,           0.1f, 0.9f, 0,    1e-6, 1e-5, ALL),
    ROW(sgd,         sgd_counts,   RAND,  0,           0.1f, 0, 5e-4f,   1e-6, 1e-5, ALL),
    ROW(sgd,         sgd_counts,   RAND,  0,           0.1f, 0.9f, 1e-4f, 1e-6, 1e-5, ALL),
    ROW(sgd,         sgd_big,      RAND,  0,           0.1f, 0, 0,       1e-6, 1e-5, ALL),
    ROW(sgd,         sgd_big,      RAND,  0,           0.1f, 0.9f, 0,    1e-6, 1e-5, ALL),
    ROW(sgd,         sgd_big,      RAND,  0,           0.1f, 0, 1e-3f,   1e-6, 1e-5, ALL),
    ROW(sgd,         sgd_big,      RAND,  0,           0.1f, 0.9f, 1e-3f, 1e-6, 1e-5, ALL),
    ROW(sgd,         sgd_big,      RAND,  WARM,        0.1f, 0, 0,       1e-6, 1e-5, ALL),
    ROW(sgd,         sgd_big,      RAND,  WARM,        0.1f, 0.9f, 0,    1e-6, 1e-5, ALL),
    ROW(sgd,         sgd_big,      RAND,  WARM,        0.1f, 0, 1e-3f,   1e-6, 1e-5, ALL),
    ROW(sgd,         sgd_big,      RAND,  WARM,        0.1f, 0.9f, 1e-3f, 1e-6, 1e-5, ALL),

    /* a, b; the reference is the body (the generator is defined by it); the
     * normal fill may differ in the last bits where libm does */
    ROW(fill,        fills_a,      RAND,  0,           -0.3f, 0.7f, 0,   0,    0,    ALL),
    ROW(fill,        fills_b,      RAND,  NORMAL,      0.0f, 0.01f, 0,   1e-8, 1e-5, CPU),
    ROW(fill,        fills_c,      RAND,  0,           -0.5f, 0.5f, 0,   0,    0,    ALL),
    ROW(fill,        fills_c,      RAND,  NORMAL,      -0.5f, 0.5f, 0,   1e-7, 1e-5, CPU),

    /* the drop probability; the mask is the generator's (the reference uses it), the
     * product one rounding: both backends give the bodies' bits */
    ROW(dropout,     dropouts,     EDGE,  0,           0.0f, 0, 0,       0,    0,    ALL),
    ROW(dropout,     dropouts,     EDGE,  0,           0.5f, 0, 0,       0,    2e-7, ALL),
    ROW(dropout,     dropouts,     RAND,  0,           0.9f, 0, 0,       0,    2e-7, ALL),
    ROW(dropout,     dropouts,     RAND,  0,           0.1f, 0, 0,       0,    2e-7, ALL),
};

/* ---- cases -------------------------------------------------------------- */

static const char *const op_names[] = {
#define OPC_NAME_(name, ...) #name,
    OPC_OPS(OPC_NAME_)
#undef OPC_NAME_
};

typedef struct ocase {
  int index;
  const opc_row *row;
  const int64_t *d;
} ocase;

int opc_nrows(void) { return NEL(rows); }

int opc_count(void)
{
  int n = 0;
  for (int r = 0; r < NEL(rows); r++) n += rows[r].nshapes;
  return n;
}

static ocase get_case(int i)
{
  ocase c;
  memset(&c, 0, sizeof c);
  c.index = i;
  for (int r = 0; r < NEL(rows); r++) {
    if (i < rows[r].nshapes) {
      c.row = &rows[r];
      c.d = rows[r].shapes[i];
      return c;
    }
    i -= rows[r].nshapes;
  }
  ck_abort_msg("op case %d does not exist (%d cases)", c.index, opc_count());
  return c;
}

static const char *data_name(int data)
{
  static const char *const names[] = {"rand", "negzero", "ties", "nans",
                                      "minf", "edge",    "large", "extreme"};
  return data >= 0 && data < NEL(names) ? names[data] : "?";
}

void opc_describe(int i, char *buf, size_t cap)
{
  ocase c = get_case(i);
  const opc_row *r = c.row;
  size_t u = (size_t)snprintf(buf, cap, "case %d: %s %s (", i, op_names[r->op], data_name(r->data));
  int nd = OPC_DIMS;
  while (nd > 1 && c.d[nd - 1] == 0) nd--;
  for (int j = 0; j < nd && u < cap; j++)
    u += (size_t)snprintf(buf + u, cap - u, "%s%lld", j ? "," : "", (long long)c.d[j]);
  static const char *const flag_names[] = {"ta",      "tb",    "relu",   "bias",  "in place",
                                           "no arg", "to big", "no grad", "warm", "normal",
                                           "rect"};
  if (u < cap) u += (size_t)snprintf(buf + u, cap - u, ")");
  for (int f = 0; f < NEL(flag_names) && u < cap; f++)
    if (r->flags & (1 << f)) u += (size_t)snprintf(buf + u, cap - u, " %s", flag_names[f]);
  if ((r->f[0] != 0 || r->f[1] != 0 || r->f[2] != 0) && u < cap)
    snprintf(buf + u, cap - u, " f=(%g,%g,%g)", (double)r->f[0], (double)r->f[1],
             (double)r->f[2]);
}

/* ---- buffers ------------------------------------------------------------ */

enum { K_F32, K_I32, K_U8 };
enum { B_IN, B_OUT };
#define MAXBUF 10
#define SENTINEL (-777.0f)

typedef struct obuf {
  int present, kind, role;
  const char *name;
  int64_t count;
  void *init;  /* host contents before the op (every buffer) */
  double *ref; /* outputs: float64 reference */
  void *got;   /* outputs: from the backend under test */
  void *body;  /* outputs: from the bodies */
} obuf;

typedef struct oio {
  ocase c;
  inc__window g;   /* window ops (set by their case function) */
  inc__wino wg;    /* Winograd image ops (likewise) */
  obuf b[MAXBUF];
  int32_t *labels; /* softmax_ce: host labels */
  double terms;    /* the longest sum behind one output element */
  double loss_ref, loss_got, loss_body;
  int64_t correct_ref, correct_got, correct_body;
} oio;

static size_t kind_size(int kind) { return kind == K_F32 ? 4 : kind == K_I32 ? 4 : 1; }
static size_t buf_bytes(const obuf *b) { return (size_t)b->count * kind_size(b->kind); }

static void *xmalloc(size_t bytes)
{
  void *p = malloc(bytes ? bytes : 1);
  ck_assert_ptr_nonnull(p);
  return p;
}

/* Declares buffer slot j of the case (an output also gets its reference
 * array); returns its host contents to fill. */
static void *add(oio *io, int j, const char *name, int kind, int role, int64_t count)
{
  obuf *b = &io->b[j];
  b->present = 1;
  b->name = name;
  b->kind = kind;
  b->role = role;
  b->count = count;
  b->init = xmalloc(buf_bytes(b));
  if (role == B_OUT) {
    b->ref = (double *)xmalloc((size_t)count * sizeof(double));
    if (kind == K_F32)
      for (int64_t i = 0; i < count; i++) ((float *)b->init)[i] = SENTINEL;
    else
      memset(b->init, 0xa5, buf_bytes(b));
  }
  return b->init;
}

static float *addf(oio *io, int j, const char *name, int role, int64_t count)
{
  return (float *)add(io, j, name, K_F32, role, count);
}

static uint64_t seed_of(const oio *io, int j)
{
  return (uint64_t)io->c.index * 16 + (uint64_t)j + 1;
}

/* Fills n floats with the data kind. */
static void fill_data(float *v, int64_t n, int data, uint64_t seed)
{
  switch (data) {
  case OPC_TIES:
  case OPC_NANS:
    tu_fill(v, n, seed, 0.0f, 3.0f);
    for (int64_t i = 0; i < n; i++) v[i] = floorf(v[i]) - 1.0f;
    if (data == OPC_NANS)
      for (int64_t i = 0; i < n; i += 7) v[i] = NAN;
    break;
  case OPC_MINF:
    for (int64_t i = 0; i < n; i++) v[i] = -INFINITY;
    break;
  case OPC_LARGE:
    tu_fill(v, n, seed, -4.0f, 4.0f);
    if (n > 4) {
      v[0] = 80.0f;
      v[1] = -80.0f;
    }
    break;
  default: {
    static const float edge[] = {0.0f, -0.0f, 1e-30f, -1e-30f, NAN, 2.5f, -1.0f};
    tu_fill(v, n, seed, -1.0f, 1.0f);
    if (data == OPC_NEGZERO && n > 0) v[0] = -0.0f;
    if (data == OPC_EDGE)
      for (int64_t i = 0; i < n && i < NEL(edge); i++) v[i] = edge[i];
  }
  }
}

static float *addf_data(oio *io, int j, const char *name, int64_t count, int data)
{
  float *v = addf(io, j, name, B_IN, count);
  fill_data(v, count, data, seed_of(io, j));
  return v;
}

/* An output that starts with data (in-place ops, accumulations). */
static float *addf_inout(oio *io, int j, const char *name, int64_t count, int data)
{
  float *v = addf(io, j, name, B_OUT, count);
  fill_data(v, count, data, seed_of(io, j));
  return v;
}

#define F(io, j) ((float *)(io)->b[j].init)
#define R(io, j) ((io)->b[j].ref)

/* ---- per op: buffers, inputs, float64 reference ------------------------- */

/* The window of a case: its shape (n, c, h, w, k, s, p), or with OPC_RECT
 * (n, c, h, w, kh, kw, sh, sw, ph, pw). */
static inc__window window_of(const ocase *c)
{
  const int64_t *d = c->d;
  const int rect = (c->row->flags & OPC_RECT) != 0;
  inc__window g;
  g.n = d[0];
  g.c = d[1];
  g.h = d[2];
  g.w = d[3];
  g.kh = (int)d[4];
  g.kw = (int)d[rect ? 5 : 4];
  g.sh = (int)d[rect ? 6 : 5];
  g.sw = (int)d[rect ? 7 : 5];
  g.ph = (int)d[rect ? 8 : 6];
  g.pw = (int)d[rect ? 9 : 6];
  g.oh = nv_out(g.h, g.kh, g.sh, g.ph);
  g.ow = nv_out(g.w, g.kw, g.sw, g.pw);
  return g;
}

/* Each op's case function declares its buffer slots (in the order opc_call
 * passes them; an absent slot is NULL), fills the inputs and writes the
 * float64 reference of every output. */

static void case_copy(oio *io)
{
  const int64_t bytes = io->c.d[0];
  add(io, 0, "dst", K_U8, B_OUT, bytes);
  unsigned char *src = (unsigned char *)add(io, 1, "src", K_U8, B_IN, bytes);
  for (int64_t i = 0; i < bytes; i++) src[i] = (unsigned char)(i * 7 + 3);
  for (int64_t i = 0; i < bytes; i++) R(io, 0)[i] = src[i];
}

/* zeroes [off, bytes) of dst */
static void case_zero(oio *io)
{
  const int64_t bytes = io->c.d[0], off = io->c.d[1];
  unsigned char *dst = (unsigned char *)add(io, 0, "dst", K_U8, B_OUT, bytes);
  for (int64_t i = 0; i < bytes; i++) dst[i] = (unsigned char)(i * 5 + 1);
  for (int64_t i = 0; i < bytes; i++) R(io, 0)[i] = i < off ? dst[i] : 0;
}

/* gemm_batched's strides {c, a, b} of a case: each item's size plus its gap */
static void batched_strides(const int64_t *d, int64_t stride[3])
{
  stride[0] = d[0] * d[1] + d[4];
  stride[1] = d[0] * d[2] + d[5];
  stride[2] = d[2] * d[1] + d[6];
}

/* c_i (m, n) = alpha op(a_i) op(b_i) + beta c_i for i < batch, item i of x at x + i stride[x]
 * ({c, a, b}); what lies between c's items stays as it was; with beta 0, c starts as NaN */
static void gemm_items(oio *io, int64_t batch, const int64_t stride[3])
{
  const opc_row *r = io->c.row;
  const int64_t m = io->c.d[0], n = io->c.d[1], k = io->c.d[2];
  const int ta = r->flags & OPC_TA, tb = r->flags & OPC_TB;
  const double alpha = r->f[0], beta = r->f[1];
  const int64_t cn = (batch - 1) * stride[0] + m * n;
  float *c = addf_inout(io, 0, "c", cn, OPC_RAND);
  if (beta == 0.0)
    for (int64_t i = 0; i < cn; i++) c[i] = NAN;
  const float *a = addf_data(io, 1, "a", (batch - 1) * stride[1] + m * k, r->data);
  const float *b = addf_data(io, 2, "b", (batch - 1) * stride[2] + k * n, r->data);
  io->terms = (double)k;
  for (int64_t e = 0; e < cn; e++) R(io, 0)[e] = c[e];
  for (int64_t t = 0; t < batch; t++) {
    const float *at = a + t * stride[1], *bt = b + t * stride[2];
    const float *ct = c + t * stride[0];
    double *ref = R(io, 0) + t * stride[0];
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double s = 0.0;
        for (int64_t l = 0; l < k; l++)
          s += (double)(ta ? at[l * m + i] : at[i * k + l]) * (tb ? bt[j * k + l] : bt[l * n + j]);
        ref[i * n + j] = alpha * s + (beta != 0.0 ? beta * ct[i * n + j] : 0.0);
      }
  }
}

/* c (m, n) = alpha op(a) op(b) + beta c */
static void case_gemm(oio *io)
{
  const int64_t *d = io->c.d, packed[3] = {d[0] * d[1], d[0] * d[2], d[2] * d[1]};
  gemm_items(io, 1, packed);
}

/* gemm over batch items at strides (batched_strides) */
static void case_gemm_batched(oio *io)
{
  int64_t stride[3];
  batched_strides(io->c.d, stride);
  gemm_items(io, io->c.d[3], stride);
}

/* col (C*KH*KW, N*OH*OW): row (c, ki, kj), column (n, oh, ow) holds
 * x[n, c, oh*sh - ph + ki, ow*sw - pw + kj], 0 outside the image; col2im is
 * its adjoint, a scatter of col back to those pixels. */
static void im2col_ref(oio *io, int adjoint)
{
  const inc__window *g = &io->g;
  const int64_t cols = g->n * g->oh * g->ow;
  const float *in = F(io, 1);
  double *out = R(io, 0);
  if (adjoint)
    for (int64_t i = 0; i < io->b[0].count; i++) out[i] = 0.0;
  for (int64_t c = 0; c < g->c; c++)
    for (int ki = 0; ki < g->kh; ki++)
      for (int kj = 0; kj < g->kw; kj++)
        for (int64_t n = 0; n < g->n; n++)
          for (int64_t oh = 0; oh < g->oh; oh++)
            for (int64_t ow = 0; ow < g->ow; ow++) {
              int64_t row = (c * g->kh + ki) * g->kw + kj, q = (n * g->oh + oh) * g->ow + ow;
              int64_t h = oh * g->sh - g->ph + ki, w = ow * g->sw - g->pw + kj;
              int inside = h >= 0 && h < g->h && w >= 0 && w < g->w;
              int64_t xi = ((n * g->c + c) * g->h + h) * g->w + w;
              if (!adjoint)
                out[row * cols + q] = inside ? in[xi] : 0.0;
              else if (inside)
                out[xi] += in[row * cols + q];
            }
}

static void case_im2col(oio *io)
{
  io->g = window_of(&io->c);
  const inc__window *g = &io->g;
  addf(io, 0, "col", B_OUT, g->c * g->kh * g->kw * g->n * g->oh * g->ow);
  addf_data(io, 1, "x", g->n * g->c * g->h * g->w, io->c.row->data);
  im2col_ref(io, 0);
}

static void case_col2im(oio *io)
{
  io->g = window_of(&io->c);
  const inc__window *g = &io->g;
  addf(io, 0, "dx", B_OUT, g->n * g->c * g->h * g->w);
  addf_data(io, 1, "col", g->c * g->kh * g->kw * g->n * g->oh * g->ow, io->c.row->data);
  io->terms = (double)g->kh * g->kw;
  im2col_ref(io, 1);
}

/* dst (b, a, p) from src (a, b, p) */
static void case_swap01(oio *io)
{
  const int64_t a = io->c.d[0], b = io->c.d[1], p = io->c.d[2];
  addf(io, 0, "dst", B_OUT, a * b * p);
  const float *src = addf_data(io, 1, "src", a * b * p, io->c.row->data);
  for (int64_t ai = 0; ai < a; ai++)
    for (int64_t bi = 0; bi < b; bi++)
      for (int64_t q = 0; q < p; q++)
        R(io, 0)[(bi * a + ai) * p + q] = src[(ai * b + bi) * p + q];
}

/* y (N, C, P) = tmp (C, N*P) + bias (C), ReLU'd; in place: y is tmp */
static void case_conv_out(oio *io)
{
  const opc_row *r = io->c.row;
  const int64_t n = io->c.d[0], c = io->c.d[1], p = io->c.d[2];
  const int inplace = r->flags & OPC_INPLACE;
  ck_assert_msg(!inplace || n == 1, "conv_out in place needs n == 1");
  const float *tmp;
  if (inplace) {
    tmp = addf_inout(io, 0, "y", n * c * p, r->data);
  } else {
    addf(io, 0, "y", B_OUT, n * c * p);
    tmp = addf_data(io, 1, "tmp", n * c * p, r->data);
  }
  const float *bias = r->flags & OPC_BIAS ? addf_data(io, 2, "bias", c, OPC_RAND) : NULL;
  for (int64_t ni = 0; ni < n; ni++)
    for (int64_t ci = 0; ci < c; ci++)
      for (int64_t q = 0; q < p; q++) {
        double v = (double)tmp[ci * (n * p) + ni * p + q] + (bias ? bias[ci] : 0.0);
        R(io, 0)[(ni * c + ci) * p + q] = (r->flags & OPC_RELU) && v < 0.0 ? 0.0 : v;
      }
}

/* y (N, OC, OH, OW), (OC, N, OH, OW) when cnhw, = w (OC, C*KH*KW) over the
 * windows of x (N, C, H, W) + bias, ReLU */
static void case_conv_direct(oio *io)
{
  io->g = window_of(&io->c);
  const inc__window *g = &io->g;
  const opc_row *r = io->c.row;
  const int64_t oc = io->c.d[7], cnhw = io->c.d[8], k = g->c * g->kh * g->kw;
  addf(io, 0, "y", B_OUT, g->n * oc * g->oh * g->ow);
  const float *x = addf_data(io, 1, "x", g->n * g->c * g->h * g->w, r->data);
  const float *w = addf_data(io, 2, "w", oc * k, OPC_RAND);
  const float *bias = r->flags & OPC_BIAS ? addf_data(io, 3, "bias", oc, OPC_RAND) : NULL;
  io->terms = (double)k;
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t o = 0; o < oc; o++)
      for (int64_t oh = 0; oh < g->oh; oh++)
        for (int64_t ow = 0; ow < g->ow; ow++) {
          double s = 0.0;
          for (int64_t c = 0; c < g->c; c++)
            for (int ki = 0; ki < g->kh; ki++)
              for (int kj = 0; kj < g->kw; kj++) {
                const int64_t h = oh * g->sh - g->ph + ki, wc = ow * g->sw - g->pw + kj;
                if (h >= 0 && h < g->h && wc >= 0 && wc < g->w)
                  s += (double)w[o * k + (c * g->kh + ki) * g->kw + kj] *
                       x[((n * g->c + c) * g->h + h) * g->w + wc];
              }
          s += bias ? bias[o] : 0.0;
          const int64_t at = cnhw ? ((o * g->n + n) * g->oh + oh) * g->ow + ow
                                  : ((n * oc + o) * g->oh + oh) * g->ow + ow;
          R(io, 0)[at] = (r->flags & OPC_RELU) && s < 0.0 ? 0.0 : s;
        }
}

/* The window of an unrolled convolution case (one image). */
static inc__window unroll_window(const ocase *c)
{
  const int64_t *d = c->d;
  inc__window g;
  g.n = 1;
  g.c = d[0];
  g.h = d[1];
  g.w = d[2];
  g.kh = (int)d[3];
  g.kw = (int)d[4];
  g.sh = (int)d[5];
  g.sw = (int)d[6];
  g.ph = (int)d[7];
  g.pw = (int)d[8];
  g.oh = nv_out(g.h, g.kh, g.sh, g.ph);
  g.ow = nv_out(g.w, g.kw, g.sw, g.pw);
  return g;
}

/* Calls fn(io, filter tap index, wu index) for every pair of a tap of w
 * (OC, C, KH, KW) and an entry of wu (OC*OH*OW, C*H*W) that holds it:
 * output (oy, ox) times input (oy*SH - PH + ky, ox*SW - PW + kx) inside
 * the image. */
typedef void (*unroll_fn)(oio *io, int64_t tap, int64_t at);
static void unroll_pairs(oio *io, unroll_fn fn)
{
  const inc__window *g = &io->g;
  const int64_t oc = io->c.d[9];
  for (int64_t o = 0; o < oc; o++)
    for (int64_t oy = 0; oy < g->oh; oy++)
      for (int64_t ox = 0; ox < g->ow; ox++)
        for (int64_t c = 0; c < g->c; c++)
          for (int ky = 0; ky < g->kh; ky++)
            for (int kx = 0; kx < g->kw; kx++) {
              const int64_t iy = oy * g->sh - g->ph + ky, ix = ox * g->sw - g->pw + kx;
              if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) continue;
              fn(io, ((o * g->c + c) * g->kh + ky) * g->kw + kx,
                 ((o * g->oh + oy) * g->ow + ox) * g->c * g->h * g->w + (c * g->h + iy) * g->w + ix);
            }
}

static void unroll_w_pair(oio *io, int64_t tap, int64_t at) { R(io, 0)[at] = F(io, 1)[tap]; }

/* wu (OC*OH*OW, C*H*W): each tap where it meets the image, 0 elsewhere */
static void case_unroll_w(oio *io)
{
  io->g = unroll_window(&io->c);
  const inc__window *g = &io->g;
  const int64_t oc = io->c.d[9], n = oc * g->oh * g->ow * g->c * g->h * g->w;
  addf(io, 0, "wu", B_OUT, n);
  addf_data(io, 1, "w", oc * g->c * g->kh * g->kw, io->c.row->data);
  io->terms = 1.0;
  for (int64_t i = 0; i < n; i++) R(io, 0)[i] = 0.0;
  unroll_pairs(io, unroll_w_pair);
}

static void unroll_dw_pair(oio *io, int64_t tap, int64_t at) { R(io, 0)[tap] += F(io, 1)[at]; }

/* dw (OC, C, KH, KW): each tap the sum of the entries of dwu that hold it */
static void case_unroll_dw(oio *io)
{
  io->g = unroll_window(&io->c);
  const inc__window *g = &io->g;
  const int64_t oc = io->c.d[9], n = oc * g->c * g->kh * g->kw;
  addf(io, 0, "dw", B_OUT, n);
  addf_data(io, 1, "dwu", oc * g->oh * g->ow * g->c * g->h * g->w, io->c.row->data);
  io->terms = (double)(g->oh * g->ow);
  for (int64_t i = 0; i < n; i++) R(io, 0)[i] = 0.0;
  unroll_pairs(io, unroll_dw_pair);
}

/* y (N, C, P) += bias (C) */
static void case_bias_add(oio *io)
{
  const int64_t n = io->c.d[0], c = io->c.d[1], p = io->c.d[2];
  const float *y = addf_inout(io, 0, "y", n * c * p, io->c.row->data);
  const float *bias = addf_data(io, 1, "bias", c, OPC_RAND);
  for (int64_t i = 0; i < n * c * p; i++) R(io, 0)[i] = (double)y[i] + bias[(i / p) % c];
}

/* db (C) = dy (N, C, P) summed over n and p */
static void case_bias_grad(oio *io)
{
  const int64_t n = io->c.d[0], c = io->c.d[1], p = io->c.d[2];
  addf(io, 0, "db", B_OUT, c);
  const float *dy = addf_data(io, 1, "dy", n * c * p, io->c.row->data);
  io->terms = (double)(n * p);
  for (int64_t j = 0; j < c; j++) {
    double s = 0.0;
    for (int64_t ni = 0; ni < n; ni++)
      for (int64_t q = 0; q < p; q++) s += dy[(ni * c + j) * p + q];
    R(io, 0)[j] = s;
  }
}

/* y = max(x, 0), NaN stays NaN and -0 stays -0; in place: y is x */
static void case_relu_fwd(oio *io)
{
  const opc_row *r = io->c.row;
  const int64_t n = io->c.d[0];
  const float *x;
  if (r->flags & OPC_INPLACE) {
    x = addf_inout(io, 0, "y", n, r->data);
  } else {
    addf(io, 0, "y", B_OUT, n);
    x = addf_data(io, 1, "x", n, r->data);
  }
  for (int64_t i = 0; i < n; i++) R(io, 0)[i] = x[i] < 0.0f ? 0.0 : (double)x[i];
}

/* dx = dy where the saved output y > 0, else 0 */
static void case_relu_bwd(oio *io)
{
  const int64_t n = io->c.d[0];
  addf(io, 0, "dx", B_OUT, n);
  const float *dy = addf_data(io, 1, "dy", n, OPC_RAND);
  const float *y = addf_data(io, 2, "y", n, io->c.row->data);
  for (int64_t i = 0; i < n; i++) R(io, 0)[i] = y[i] > 0.0f ? (double)dy[i] : 0.0;
}

/* y += alpha x */
static void case_axpy(oio *io)
{
  const int64_t n = io->c.d[0];
  const float *y = addf_inout(io, 0, "y", n, OPC_RAND);
  const float *x = addf_data(io, 1, "x", n, io->c.row->data);
  for (int64_t i = 0; i < n; i++) R(io, 0)[i] = (double)y[i] + (double)io->c.row->f[0] * x[i];
}

/* small (N, CB, P) is big (N, CT, P)[:, off:off+CB]; to big: the rest of
 * big stays as it was */
static void case_slice(oio *io)
{
  const int64_t n = io->c.d[0], cb = io->c.d[1], ct = io->c.d[2], off = io->c.d[3],
                p = io->c.d[4];
  const int to_big = io->c.row->flags & OPC_TO_BIG;
  const float *big = to_big ? addf_inout(io, 0, "big", n * ct * p, OPC_RAND)
                            : addf_data(io, 0, "big", n * ct * p, io->c.row->data);
  const float *small = to_big ? addf_data(io, 1, "small", n * cb * p, io->c.row->data)
                              : addf(io, 1, "small", B_OUT, n * cb * p);
  if (to_big)
    for (int64_t i = 0; i < n * ct * p; i++) R(io, 0)[i] = big[i];
  for (int64_t ni = 0; ni < n; ni++)
    for (int64_t c = 0; c < cb; c++)
      for (int64_t q = 0; q < p; q++) {
        int64_t bi = (ni * ct + off + c) * p + q, si = (ni * cb + c) * p + q;
        if (to_big)
          R(io, 0)[bi] = small[si];
        else
          R(io, 1)[si] = big[bi];
      }
}

/* Max pooling by PyTorch's rule: over the window's real pixels in row-major
 * order, a pixel replaces the best so far when it is the first, larger, or
 * NaN (so NaN propagates and the first of equal maxima wins). arg gets the
 * index within the plane. */
static void ref_maxpool(double *y, int32_t *arg, const float *x, const inc__window *g)
{
  for (int64_t pl = 0; pl < g->n * g->c; pl++)
    for (int64_t i = 0; i < g->oh; i++)
      for (int64_t j = 0; j < g->ow; j++) {
        double best = -INFINITY;
        int64_t bi = -1;
        for (int u = 0; u < g->kh; u++)
          for (int v = 0; v < g->kw; v++) {
            int64_t hh = i * g->sh - g->ph + u, ww = j * g->sw - g->pw + v;
            if (hh < 0 || hh >= g->h || ww < 0 || ww >= g->w) continue;
            double val = x[(pl * g->h + hh) * g->w + ww];
            if (bi < 0 || val > best || isnan(val)) {
              best = val;
              bi = hh * g->w + ww;
            }
          }
        if (y) y[(pl * g->oh + i) * g->ow + j] = best;
        if (arg) arg[(pl * g->oh + i) * g->ow + j] = (int32_t)bi;
      }
}

static void case_maxpool_fwd(oio *io)
{
  io->g = window_of(&io->c);
  const inc__window *g = &io->g;
  const int64_t nx = g->n * g->c * g->h * g->w, ny = g->n * g->c * g->oh * g->ow;
  addf(io, 0, "y", B_OUT, ny);
  if (!(io->c.row->flags & OPC_NOARG)) add(io, 1, "arg", K_I32, B_OUT, ny);
  const float *x = addf_data(io, 2, "x", nx, io->c.row->data);
  int32_t *arg = (int32_t *)xmalloc((size_t)ny * sizeof(int32_t));
  ref_maxpool(R(io, 0), arg, x, g);
  if (io->b[1].present)
    for (int64_t i = 0; i < ny; i++) R(io, 1)[i] = arg[i];
  free(arg);
}

/* each output's dy goes to the pixel its window chose: the saved argmax of
 * a forward pass over data of the row's kind */
static void case_maxpool_bwd(oio *io)
{
  io->g = window_of(&io->c);
  const inc__window *g = &io->g;
  const int64_t nx = g->n * g->c * g->h * g->w, ny = g->n * g->c * g->oh * g->ow;
  const int64_t hw = g->h * g->w, ohw = g->oh * g->ow;
  addf(io, 0, "dx", B_OUT, nx);
  const float *dy = addf_data(io, 1, "dy", ny, OPC_RAND);
  int32_t *arg = (int32_t *)add(io, 2, "arg", K_I32, B_IN, ny);
  float *x = (float *)xmalloc((size_t)nx * sizeof(float));
  fill_data(x, nx, io->c.row->data, seed_of(io, 3));
  ref_maxpool(NULL, arg, x, g);
  free(x);
  io->terms = (double)g->kh * g->kw;
  for (int64_t i = 0; i < nx; i++) R(io, 0)[i] = 0.0;
  for (int64_t o = 0; o < ny; o++) R(io, 0)[(o / ohw) * hw + arg[o]] += dy[o];
}

/* PyTorch's count_include_pad divisor: hend = min(hstart + k, H + p) */
static void case_avgpool_fwd(oio *io)
{
  io->g = window_of(&io->c);
  const inc__window *g = &io->g;
  addf(io, 0, "y", B_OUT, g->n * g->c * g->oh * g->ow);
  const float *x = addf_data(io, 1, "x", g->n * g->c * g->h * g->w, io->c.row->data);
  io->terms = (double)g->kh * g->kw;
  double *xd = nv_to_double(x, io->b[1].count);
  nv_win q = {{g->kh, g->kw}, {g->sh, g->sw}, {g->ph, g->pw}};
  nv_avgpool_win(R(io, 0), xd, g->n, g->c, g->h, g->w, q);
  free(xd);
}

/* the adjoint of nv_avgpool: dy / divisor to every real pixel of the window */
static void case_avgpool_bwd(oio *io)
{
  io->g = window_of(&io->c);
  const inc__window *g = &io->g;
  addf(io, 0, "dx", B_OUT, g->n * g->c * g->h * g->w);
  const float *dy = addf_data(io, 1, "dy", g->n * g->c * g->oh * g->ow, io->c.row->data);
  io->terms = (double)g->kh * g->kw;
  for (int64_t i = 0; i < io->b[0].count; i++) R(io, 0)[i] = 0.0;
  for (int64_t pl = 0; pl < g->n * g->c; pl++)
    for (int64_t i = 0; i < g->oh; i++)
      for (int64_t j = 0; j < g->ow; j++) {
        int64_t hs = i * g->sh - g->ph, ws = j * g->sw - g->pw;
        int64_t he = hs + g->kh < g->h + g->ph ? hs + g->kh : g->h + g->ph;
        int64_t we = ws + g->kw < g->w + g->pw ? ws + g->kw : g->w + g->pw;
        double v = dy[(pl * g->oh + i) * g->ow + j] / (double)((he - hs) * (we - ws));
        for (int64_t hh = hs; hh < he; hh++)
          for (int64_t ww = ws; ww < we; ww++)
            if (hh >= 0 && hh < g->h && ww >= 0 && ww < g->w)
              R(io, 0)[(pl * g->h + hh) * g->w + ww] += v;
      }
}

/* y (planes) = the mean of each plane of x (planes, hw) */
static void case_gap_fwd(oio *io)
{
  const int64_t planes = io->c.d[0], hw = io->c.d[1];
  addf(io, 0, "y", B_OUT, planes);
  double *xd = nv_to_double(addf_data(io, 1, "x", planes * hw, io->c.row->data), planes * hw);
  nv_gap(R(io, 0), xd, planes, hw);
  free(xd);
}

static void case_gap_bwd(oio *io)
{
  const int64_t planes = io->c.d[0], hw = io->c.d[1];
  addf(io, 0, "dx", B_OUT, planes * hw);
  const float *dy = addf_data(io, 1, "dy", planes, io->c.row->data);
  for (int64_t i = 0; i < planes * hw; i++) R(io, 0)[i] = dy[i / hw] / (double)hw;
}

/* Softmax cross-entropy of one row in float64 against q = (1 - eps) onehot
 * + eps / k; *hit: the first maximum is the label. */
static double ref_ce_row(const float *row, int32_t label, int64_t k, double scale, double eps,
                         double *drow, int *hit)
{
  double m = row[0];
  int64_t am = 0;
  for (int64_t j = 1; j < k; j++)
    if (row[j] > m) {
      m = row[j];
      am = j;
    }
  double s = 0.0;
  for (int64_t j = 0; j < k; j++) s += exp((double)row[j] - m);
  double lse = m + log(s), loss = 0.0;
  for (int64_t j = 0; j < k; j++) {
    double q = (j == label ? 1.0 - eps : 0.0) + eps / (double)k;
    if (drow) drow[j] = (exp((double)row[j] - lse) - q) * scale;
    if (q != 0.0) loss += q * (lse - row[j]);
  }
  *hit = am == label;
  return loss;
}

/* the loss sum and hit count over logits (n, k), dlogits = (softmax - q) *
 * scale, q the onehot smoothed by f[1]; labels (i*7 + 3) % k, host memory
 * as the slot wants */
static void case_softmax_ce(oio *io)
{
  const opc_row *r = io->c.row;
  const int64_t n = io->c.d[0], k = io->c.d[1];
  const double scale = r->f[0] != 0.0f ? r->f[0] : 1.0f / (float)n;
  if (!(r->flags & OPC_NOGRAD)) addf(io, 0, "dlogits", B_OUT, n * k);
  float *lg = addf_data(io, 1, "logits", n * k, r->data);
  io->labels = (int32_t *)xmalloc((size_t)n * sizeof(int32_t));
  for (int64_t i = 0; i < n; i++) io->labels[i] = (int32_t)((i * 7 + 3) % k);
  if (r->data == OPC_EXTREME) {
    /* test_kernels.c's rows: huge and tiny logits, ties at the top; each
     * row with every label */
    static const float ext[6][5] = {
        {1e4f, -1e4f, 0.0f, 5.0f, -3.0f},    {-1e4f, 1e4f, 1e4f, -1e4f, 0.0f},
        {-1e4f, -1e4f, -1e4f, -1e4f, -1e4f}, {0.5f, -0.25f, 2.0f, 1.0f, 2.0f},
        {88.0f, 89.0f, -88.0f, 0.0f, 1e-3f}, {1e4f, 1e4f - 1.0f, -1e4f, 3.0f, 1e4f - 20.0f},
    };
    ck_assert_msg(k == 5 && n % 6 == 0, "extreme logits are (6m, 5)");
    for (int64_t i = 0; i < n; i++) {
      memcpy(lg + i * k, ext[i % 6], sizeof ext[0]);
      io->labels[i] = (int32_t)((i / 6) % k);
    }
  }
  io->loss_ref = 0.0;
  io->correct_ref = 0;
  for (int64_t i = 0; i < n; i++) {
    int hit;
    io->loss_ref += ref_ce_row(lg + i * k, io->labels[i], k, scale, r->f[1],
                               io->b[0].present ? R(io, 0) + i * k : NULL, &hit);
    io->correct_ref += hit;
  }
}

/* ---- Winograd's transforms, in float64 from naive.h's matrices ----------- */

/* The image of a case (n, c, h, w, m, cnhw) and its tiles. */
static inc__wino wino_image(const ocase *c)
{
  const int64_t *d = c->d;
  inc__wino g;
  g.n = d[0];
  g.c = d[1];
  g.h = d[2];
  g.w = d[3];
  g.m = (int)d[4];
  g.cnhw = (int)d[5];
  g.th = (g.h + g.m - 1) / g.m;
  g.tw = (g.w + g.m - 1) / g.m;
  return g;
}

/* Calls fn(io, state, plane offset, c, tile p, first row, first column) for
 * every tile of every plane of the case's image: tile (ty, tx) covers the
 * outputs from row ty*m, column tx*m. */
typedef void (*wino_tile_fn)(oio *io, int64_t plane, int64_t c, int64_t p, int64_t r0,
                             int64_t q0);
static void wino_tiles(oio *io, wino_tile_fn fn)
{
  const inc__wino *g = &io->wg;
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t c = 0; c < g->c; c++)
      for (int64_t ty = 0; ty < g->th; ty++)
        for (int64_t tx = 0; tx < g->tw; tx++)
          fn(io, nv_plane(n, c, g->n, g->c, g->h * g->w, g->cnhw), c,
             (n * g->th + ty) * g->tw + tx, ty * g->m, tx * g->m);
}

static int64_t wino_ntiles(const inc__wino *g) { return g->n * g->th * g->tw; }

/* u (T*T, OC, C): G g G^T of each filter g of w (OC, C, 3, 3) */
static void case_wino_w(oio *io)
{
  const int64_t oc = io->c.d[0], c = io->c.d[1], filters = oc * c;
  const nv_wino_mats *mt = nv_wino((int)io->c.d[2]);
  const int T = mt->t;
  addf(io, 0, "u", B_OUT, T * T * filters);
  const float *w = addf_data(io, 1, "w", filters * 9, io->c.row->data);
  io->terms = 9.0;
  for (int64_t f = 0; f < filters; f++) {
    double g[9], u[36];
    for (int i = 0; i < 9; i++) g[i] = w[f * 9 + i];
    nv_wino_sandwich(u, &mt->g[0][0], 3, T, 3, 0, g);
    for (int k = 0; k < T * T; k++) R(io, 0)[k * filters + f] = u[k];
  }
}

/* dw (OC, C, 3, 3): G^T dU G of each filter's dU in du (T*T, OC, C) */
static void case_wino_dw(oio *io)
{
  const int64_t oc = io->c.d[0], c = io->c.d[1], filters = oc * c;
  const nv_wino_mats *mt = nv_wino((int)io->c.d[2]);
  const int T = mt->t;
  addf(io, 0, "dw", B_OUT, filters * 9);
  const float *du = addf_data(io, 1, "du", T * T * filters, io->c.row->data);
  io->terms = (double)(T * T);
  for (int64_t f = 0; f < filters; f++) {
    double in[36], dg[9];
    for (int k = 0; k < T * T; k++) in[k] = du[k * filters + f];
    nv_wino_sandwich(dg, &mt->g[0][0], 3, T, 3, 1, in);
    for (int i = 0; i < 9; i++) R(io, 0)[f * 9 + i] = dg[i];
  }
}

/* v (T*T, C, P): B^T d B of each T x T tile d of x, from row r0 - 1 and
 * column q0 - 1, zero outside the image */
static void wino_in_tile(oio *io, int64_t plane, int64_t c, int64_t p, int64_t r0, int64_t q0)
{
  const inc__wino *g = &io->wg;
  const nv_wino_mats *mt = nv_wino(g->m);
  const int T = mt->t;
  const float *x = F(io, 1);
  double d[36], v[36];
  for (int a = 0; a < T; a++)
    for (int b = 0; b < T; b++) {
      const int64_t r = r0 - 1 + a, q = q0 - 1 + b;
      d[a * T + b] = r >= 0 && r < g->h && q >= 0 && q < g->w ? x[plane + r * g->w + q] : 0.0;
    }
  nv_wino_sandwich(v, &mt->bt[0][0], 6, T, T, 0, d);
  for (int k = 0; k < T * T; k++) R(io, 0)[(k * g->c + c) * wino_ntiles(g) + p] = v[k];
}

static void case_wino_in(oio *io)
{
  io->wg = wino_image(&io->c);
  const inc__wino *g = &io->wg;
  const int64_t T = g->m + 2;
  addf(io, 0, "v", B_OUT, T * T * g->c * wino_ntiles(g));
  addf_data(io, 1, "x", g->n * g->c * g->h * g->w, io->c.row->data);
  io->terms = (double)(T * T);
  wino_tiles(io, wino_in_tile);
}

/* y: A^T M A of each tile's M in mm (T*T, C, P), the m x m outputs from row
 * r0, column q0 where inside the image, + bias[c], ReLU'd */
static void wino_out_tile(oio *io, int64_t plane, int64_t c, int64_t p, int64_t r0, int64_t q0)
{
  const inc__wino *g = &io->wg;
  const nv_wino_mats *mt = nv_wino(g->m);
  const int T = mt->t, m = g->m;
  const float *mm = F(io, 1), *bias = io->b[2].present ? F(io, 2) : NULL;
  double in[36], y[16];
  for (int k = 0; k < T * T; k++) in[k] = mm[(k * g->c + c) * wino_ntiles(g) + p];
  nv_wino_sandwich(y, &mt->at[0][0], 6, m, T, 0, in);
  for (int a = 0; a < m && r0 + a < g->h; a++)
    for (int b = 0; b < m && q0 + b < g->w; b++) {
      const double v = y[a * m + b] + (bias ? bias[c] : 0.0);
      R(io, 0)[plane + (r0 + a) * g->w + q0 + b] = (io->c.row->flags & OPC_RELU) && v < 0.0 ? 0.0 : v;
    }
}

static void case_wino_out(oio *io)
{
  io->wg = wino_image(&io->c);
  const inc__wino *g = &io->wg;
  const int64_t T = g->m + 2;
  addf(io, 0, "y", B_OUT, g->n * g->c * g->h * g->w);
  addf_data(io, 1, "mm", T * T * g->c * wino_ntiles(g), io->c.row->data);
  if (io->c.row->flags & OPC_BIAS) addf_data(io, 2, "bias", g->c, OPC_RAND);
  io->terms = (double)(T * T);
  wino_tiles(io, wino_out_tile);
}

/* dm (T*T, C, P): A dY A^T of each tile's m x m outputs dY of dy, zero
 * outside the image */
static void wino_dout_tile(oio *io, int64_t plane, int64_t c, int64_t p, int64_t r0, int64_t q0)
{
  const inc__wino *g = &io->wg;
  const nv_wino_mats *mt = nv_wino(g->m);
  const int T = mt->t, m = g->m;
  const float *dy = F(io, 1);
  double d[16], dm[36];
  for (int a = 0; a < m; a++)
    for (int b = 0; b < m; b++)
      d[a * m + b] = r0 + a < g->h && q0 + b < g->w ? dy[plane + (r0 + a) * g->w + q0 + b] : 0.0;
  nv_wino_sandwich(dm, &mt->at[0][0], 6, m, T, 1, d);
  for (int k = 0; k < T * T; k++) R(io, 0)[(k * g->c + c) * wino_ntiles(g) + p] = dm[k];
}

static void case_wino_dout(oio *io)
{
  io->wg = wino_image(&io->c);
  const inc__wino *g = &io->wg;
  const int64_t T = g->m + 2;
  addf(io, 0, "dm", B_OUT, T * T * g->c * wino_ntiles(g));
  addf_data(io, 1, "dy", g->n * g->c * g->h * g->w, io->c.row->data);
  io->terms = (double)(g->m * g->m);
  wino_tiles(io, wino_dout_tile);
}

/* dx: B dV B^T of each tile's dV in dv (T*T, C, P) added to the pixels the
 * tile reads (from row r0 - 1, column q0 - 1; overlapping tiles add up) */
static void wino_din_tile(oio *io, int64_t plane, int64_t c, int64_t p, int64_t r0, int64_t q0)
{
  const inc__wino *g = &io->wg;
  const nv_wino_mats *mt = nv_wino(g->m);
  const int T = mt->t;
  const float *dv = F(io, 1);
  double in[36], d[36];
  for (int k = 0; k < T * T; k++) in[k] = dv[(k * g->c + c) * wino_ntiles(g) + p];
  nv_wino_sandwich(d, &mt->bt[0][0], 6, T, T, 1, in);
  for (int a = 0; a < T; a++)
    for (int b = 0; b < T; b++) {
      const int64_t r = r0 - 1 + a, q = q0 - 1 + b;
      if (r >= 0 && r < g->h && q >= 0 && q < g->w) R(io, 0)[plane + r * g->w + q] += d[a * T + b];
    }
}

static void case_wino_din(oio *io)
{
  io->wg = wino_image(&io->c);
  const inc__wino *g = &io->wg;
  const int64_t T = g->m + 2;
  addf(io, 0, "dx", B_OUT, g->n * g->c * g->h * g->w);
  addf_data(io, 1, "dv", T * T * g->c * wino_ntiles(g), io->c.row->data);
  io->terms = (double)(4 * T * T);
  for (int64_t i = 0; i < io->b[0].count; i++) R(io, 0)[i] = 0.0;
  wino_tiles(io, wino_din_tile);
}

/* ---- batch norm: x (N, C, P), per-channel statistics over N*P values ---- */

/* A positive per-channel input (weights, variances) in [lo, lo + 1). */
static const float *addf_pos(oio *io, int j, const char *name, int64_t count, float lo)
{
  float *v = addf(io, j, name, B_IN, count);
  fill_data(v, count, OPC_RAND, seed_of(io, j));
  for (int64_t i = 0; i < count; i++) v[i] = lo + 0.5f * (v[i] + 1.0f);
  return v;
}

/* Channel ci's mean and biased variance in float64. */
static void bn_ref_stats(const float *x, int64_t ci, int64_t n, int64_t c, int64_t p, double *mu,
                         double *var)
{
  double s = 0.0, q = 0.0;
  for (int64_t ni = 0; ni < n; ni++)
    for (int64_t k = 0; k < p; k++) s += x[(ni * c + ci) * p + k];
  *mu = s / (double)(n * p);
  for (int64_t ni = 0; ni < n; ni++)
    for (int64_t k = 0; k < p; k++) {
      double d = x[(ni * c + ci) * p + k] - *mu;
      q += d * d;
    }
  *var = q / (double)(n * p);
}

/* y, mean, invstd, var of a training batch */
static void case_bn_fwd_train(oio *io)
{
  const opc_row *r = io->c.row;
  const int64_t n = io->c.d[0], c = io->c.d[1], p = io->c.d[2], m = n * p;
  const double eps = r->f[0];
  const int relu = r->flags & OPC_RELU;
  addf(io, 0, "y", B_OUT, n * c * p);
  addf(io, 1, "mean", B_OUT, c);
  addf(io, 2, "invstd", B_OUT, c);
  addf(io, 3, "var", B_OUT, c);
  const float *x = addf_data(io, 4, "x", n * c * p, r->data);
  const float *w = addf_pos(io, 5, "weight", c, 0.25f);
  const float *b = addf_data(io, 6, "bias", c, OPC_RAND);
  io->terms = (double)m;
  for (int64_t ci = 0; ci < c; ci++) {
    double mu, var;
    bn_ref_stats(x, ci, n, c, p, &mu, &var);
    const double is = 1.0 / sqrt(var + eps);
    R(io, 1)[ci] = mu;
    R(io, 2)[ci] = is;
    R(io, 3)[ci] = var;
    for (int64_t ni = 0; ni < n; ni++)
      for (int64_t k = 0; k < p; k++) {
        int64_t e = (ni * c + ci) * p + k;
        double v = (x[e] - mu) * is * w[ci] + b[ci];
        R(io, 0)[e] = relu && v < 0.0 ? 0.0 : v;
      }
  }
}

/* running statistics from a batch's mean and biased variance over m = d[1]
 * values: running = (1 - momentum) running + momentum batch (the variance
 * unbiased), count + 1 */
static void case_bn_running(oio *io)
{
  const opc_row *r = io->c.row;
  const int64_t c = io->c.d[0], m = io->c.d[1];
  const double mom = r->f[1];
  const float *rm = addf_inout(io, 0, "running_mean", c, OPC_RAND);
  float *rv = addf_inout(io, 1, "running_var", c, OPC_RAND);
  float *cnt = addf_inout(io, 2, "count", 1, OPC_RAND);
  for (int64_t i = 0; i < c; i++) rv[i] = 1.0f + rv[i] * 0.5f;
  cnt[0] = 41.0f;
  const float *mean = addf_data(io, 3, "mean", c, r->data);
  const float *var = addf_pos(io, 4, "var", c, 0.1f);
  for (int64_t ci = 0; ci < c; ci++) {
    R(io, 0)[ci] = (1.0 - mom) * rm[ci] + mom * mean[ci];
    R(io, 1)[ci] = (1.0 - mom) * rv[ci] + mom * (double)var[ci] * (double)m / (double)(m - 1);
  }
  R(io, 2)[0] = 42.0;
}

/* y = (x - running_mean) / sqrt(running_var + eps) weight + bias */
static void case_bn_fwd_eval(oio *io)
{
  const opc_row *r = io->c.row;
  const int64_t n = io->c.d[0], c = io->c.d[1], p = io->c.d[2];
  addf(io, 0, "y", B_OUT, n * c * p);
  const float *x = addf_data(io, 1, "x", n * c * p, r->data);
  const float *w = addf_pos(io, 2, "weight", c, 0.25f);
  const float *b = addf_data(io, 3, "bias", c, OPC_RAND);
  const float *rm = addf_data(io, 4, "running_mean", c, OPC_RAND);
  const float *rv = addf_pos(io, 5, "running_var", c, 0.5f);
  for (int64_t e = 0; e < n * c * p; e++) {
    int64_t ci = (e / p) % c;
    double v = ((double)x[e] - rm[ci]) / sqrt((double)rv[ci] + (double)r->f[0]) * w[ci] + b[ci];
    R(io, 0)[e] = (r->flags & OPC_RELU) && v < 0.0 ? 0.0 : v;
  }
}

/* dweight, dbias and (unless NOGRAD) dx of a training batch norm, from the
 * forward's mean and invstd of x */
static void case_bn_bwd(oio *io)
{
  const opc_row *r = io->c.row;
  const int64_t n = io->c.d[0], c = io->c.d[1], p = io->c.d[2], m = n * p;
  const int want_dx = !(r->flags & OPC_NOGRAD);
  if (want_dx) addf(io, 0, "dx", B_OUT, n * c * p);
  addf(io, 1, "dweight", B_OUT, c);
  addf(io, 2, "dbias", B_OUT, c);
  const float *dy = addf_data(io, 3, "dy", n * c * p, r->data);
  const float *x = addf_data(io, 4, "x", n * c * p, OPC_RAND);
  float *mean = addf(io, 5, "mean", B_IN, c), *invstd = addf(io, 6, "invstd", B_IN, c);
  const float *w = addf_pos(io, 7, "weight", c, 0.25f);
  io->terms = (double)m;
  for (int64_t ci = 0; ci < c; ci++) {
    double mu, var;
    bn_ref_stats(x, ci, n, c, p, &mu, &var);
    mean[ci] = (float)mu;
    invstd[ci] = (float)(1.0 / sqrt(var + 1e-5));
    double db = 0.0, dw = 0.0;
    for (int64_t ni = 0; ni < n; ni++)
      for (int64_t k = 0; k < p; k++) {
        int64_t e = (ni * c + ci) * p + k;
        db += dy[e];
        dw += (double)dy[e] * ((double)x[e] - mean[ci]) * invstd[ci];
      }
    R(io, 1)[ci] = dw;
    R(io, 2)[ci] = db;
    for (int64_t ni = 0; want_dx && ni < n; ni++)
      for (int64_t k = 0; k < p; k++) {
        int64_t e = (ni * c + ci) * p + k;
        double xhat = ((double)x[e] - mean[ci]) * invstd[ci];
        R(io, 0)[e] = (double)w[ci] * invstd[ci] * (dy[e] - (db + xhat * dw) / (double)m);
      }
  }
}

/* w_out (OC, K) = w s, b_out = (b - running_mean) s + bias, s = weight / sqrt(running_var + eps) */
static void case_bn_fold(oio *io)
{
  const opc_row *r = io->c.row;
  const int64_t oc = io->c.d[0], k = io->c.d[1];
  addf(io, 0, "w_out", B_OUT, oc * k);
  addf(io, 1, "b_out", B_OUT, oc);
  const float *w = addf_data(io, 2, "w", oc * k, r->data);
  const float *b = r->flags & OPC_BIAS ? addf_data(io, 3, "b", oc, OPC_RAND) : NULL;
  const float *g = addf_data(io, 4, "weight", oc, OPC_RAND);
  const float *beta = addf_data(io, 5, "bias", oc, OPC_RAND);
  const float *rm = addf_data(io, 6, "running_mean", oc, OPC_RAND);
  const float *rv = addf_pos(io, 7, "running_var", oc, 0.5f);
  for (int64_t o = 0; o < oc; o++) {
    double s = (double)g[o] / sqrt((double)rv[o] + (double)r->f[0]);
    for (int64_t i = 0; i < k; i++) R(io, 0)[o * k + i] = (double)w[o * k + i] * s;
    R(io, 1)[o] = ((b ? b[o] : 0.0) - rm[o]) * s + beta[o];
  }
}

/* steps SGD steps, PyTorch's rule: d = g + wd p; b = d on the first step,
 * else mom b + d; p -= lr * (mom ? b : d). Fresh: the first step sets the
 * buffer, which starts as NaN (NULL without momentum); warm: it starts set. */
static void case_sgd(oio *io)
{
  const opc_row *r = io->c.row;
  const int64_t n = io->c.d[0], steps = io->c.d[1];
  const double lr = r->f[0], mom = r->f[1], wd = r->f[2];
  const int warm = r->flags & OPC_WARM;
  const float *p0 = addf_inout(io, 0, "param", n, OPC_RAND), *b0 = NULL;
  if (warm)
    b0 = addf_inout(io, 1, "buf", n, OPC_RAND);
  else if (mom != 0.0) {
    float *b = addf(io, 1, "buf", B_OUT, n);
    for (int64_t i = 0; i < n; i++) b[i] = NAN;
    b0 = b;
  }
  const float *g = addf_data(io, 2, "grad", steps * n, r->data);
  double *p = R(io, 0), *b = b0 ? R(io, 1) : NULL;
  for (int64_t i = 0; i < n; i++) {
    p[i] = p0[i];
    if (b) b[i] = b0[i];
  }
  for (int64_t step = 0; step < steps; step++)
    for (int64_t i = 0; i < n; i++) {
      double d = (double)g[step * n + i] + wd * p[i];
      if (mom != 0.0) {
        b[i] = !warm && step == 0 ? d : mom * b[i] + d;
        d = b[i];
      }
      p[i] -= lr * d;
    }
}

/* The generator is defined by its body: the reference is the body. */
static void case_fill(oio *io)
{
  const opc_row *r = io->c.row;
  const int64_t n = io->c.d[0];
  addf(io, 0, "dst", B_OUT, n);
  for (int64_t i = 0; i < n; i++)
    R(io, 0)[i] = inc__k_fill(r->flags & OPC_NORMAL ? INC__FILL_NORMAL : INC__FILL_UNIFORM,
                              r->f[0], r->f[1], (uint64_t)io->c.d[1], (uint64_t)io->c.d[2], i);
}

/* y (n, c, p) = x * (kept ? 1 / (1 - drop) : 0), stored (c, n, p) when
 * cnhw; whether element (n, c, q) is kept is the generator's uniform of its
 * logical index (n*c + c)*p + q against the drop probability f[0] */
static void case_dropout(oio *io)
{
  const int64_t n = io->c.d[0], c = io->c.d[1], p = io->c.d[2], cnhw = io->c.d[3];
  const double drop = io->c.row->f[0];
  addf(io, 0, "y", B_OUT, n * c * p);
  const float *x = addf_data(io, 1, "x", n * c * p, io->c.row->data);
  for (int64_t ni = 0; ni < n; ni++)
    for (int64_t ci = 0; ci < c; ci++)
      for (int64_t q = 0; q < p; q++) {
        int64_t logical = (ni * c + ci) * p + q;
        int64_t at = cnhw ? (ci * n + ni) * p + q : logical;
        float u = inc__k_uniform01((uint64_t)io->c.d[4], (uint64_t)io->c.d[5], (uint64_t)logical);
        R(io, 0)[at] = (double)x[at] * ((double)u >= drop ? 1.0 / (1.0 - drop) : 0.0);
      }
}

/* case_<op> for every op of OPC_OPS (the registry's and copy, zero), by name */
static void (*const case_fns[OPC_NOPS])(oio *io) = {
#define OPC_CASE_FN_(name, ...) case_##name,
    OPC_OPS(OPC_CASE_FN_)
#undef OPC_CASE_FN_
};

/* ---- the one place a row's op becomes a slot call ------------------------ */

/* Runs the case on ops with the buffers p (NULL for absent ones); returns 0
 * when ops has no such slot, else 1 with the slot's status in *st. */
static int opc_call(const oio *io, const inc__backend_ops *ops, inc_context *ctx, void *const *p,
                    double *loss, int64_t *correct, inc_status *st)
{
  const opc_row *r = io->c.row;
  const int64_t *d = io->c.d;
  const int fl = r->flags;
  float *f0 = (float *)p[0], *f1 = (float *)p[1], *f2 = (float *)p[2];
#define CALL(slot, ...) (ops->slot ? (*st = ops->slot(__VA_ARGS__, ctx), 1) : 0)
  switch (r->op) {
  case OPC_copy: return CALL(copy, p[0], p[1], (size_t)d[0]);
  case OPC_zero: return CALL(zero, (char *)p[0] + d[1], (size_t)(d[0] - d[1]));
  case OPC_gemm:
    return CALL(gemm, f0, f1, f2, !!(fl & OPC_TA), !!(fl & OPC_TB), d[0], d[1], d[2], r->f[0],
                r->f[1]);
  case OPC_gemm_batched: {
    int64_t sd[3];
    batched_strides(d, sd);
    return CALL(gemm_batched, f0, f1, f2, !!(fl & OPC_TA), !!(fl & OPC_TB), d[0], d[1], d[2],
                d[3], sd[0], sd[1], sd[2], r->f[0], r->f[1]);
  }
  case OPC_im2col: return CALL(im2col, f0, f1, &io->g);
  case OPC_col2im: return CALL(col2im, f0, f1, &io->g);
  case OPC_swap01: return CALL(swap01, f0, f1, d[0], d[1], d[2]);
  case OPC_conv_out:
    return CALL(conv_out, f0, fl & OPC_INPLACE ? f0 : f1, f2, d[0], d[1], d[2], !!(fl & OPC_RELU));
  case OPC_conv_direct:
    return CALL(conv_direct, f0, f1, f2, (float *)p[3], &io->g, d[7], !!(fl & OPC_RELU), (int)d[8]);
  case OPC_unroll_w: return CALL(unroll_w, f0, f1, &io->g, d[9]);
  case OPC_unroll_dw: return CALL(unroll_dw, f0, f1, &io->g, d[9]);
  case OPC_bias_add: return CALL(bias_add, f0, f1, d[0], d[1], d[2]);
  case OPC_bias_grad: return CALL(bias_grad, f0, f1, d[0], d[1], d[2]);
  case OPC_wino_w: return CALL(wino_w, f0, f1, d[0], d[1], (int)d[2]);
  case OPC_wino_dw: return CALL(wino_dw, f0, f1, d[0], d[1], (int)d[2]);
  case OPC_wino_in: return CALL(wino_in, f0, f1, &io->wg);
  case OPC_wino_out: return CALL(wino_out, f0, f1, f2, &io->wg, !!(fl & OPC_RELU));
  case OPC_wino_dout: return CALL(wino_dout, f0, f1, &io->wg);
  case OPC_wino_din: return CALL(wino_din, f0, f1, &io->wg);
  case OPC_relu_fwd: return CALL(relu_fwd, f0, fl & OPC_INPLACE ? f0 : f1, d[0]);
  case OPC_relu_bwd: return CALL(relu_bwd, f0, f1, f2, d[0]);
  case OPC_axpy: return CALL(axpy, f0, f1, r->f[0], d[0]);
  case OPC_slice: return CALL(slice, f0, f1, !!(fl & OPC_TO_BIG), d[0], d[1], d[2], d[3], d[4]);
  case OPC_maxpool_fwd: return CALL(maxpool_fwd, f0, (int32_t *)p[1], f2, &io->g);
  case OPC_maxpool_bwd: return CALL(maxpool_bwd, f0, f1, (const int32_t *)p[2], &io->g);
  case OPC_avgpool_fwd: return CALL(avgpool_fwd, f0, f1, &io->g);
  case OPC_avgpool_bwd: return CALL(avgpool_bwd, f0, f1, &io->g);
  case OPC_gap_fwd: return CALL(gap_fwd, f0, f1, d[0], d[1]);
  case OPC_gap_bwd: return CALL(gap_bwd, f0, f1, d[0], d[1]);
  case OPC_softmax_ce:
    return CALL(softmax_ce, loss, correct, f0, f1, io->labels, d[0], d[1],
                r->f[0] != 0.0f ? r->f[0] : 1.0f / (float)d[0], r->f[1]);
  case OPC_bn_fwd_train:
    return CALL(bn_fwd_train, f0, f1, f2, (float *)p[3], (float *)p[4], (float *)p[5],
                (float *)p[6], d[0], d[1], d[2], r->f[0], !!(fl & OPC_RELU));
  case OPC_bn_running:
    return CALL(bn_running, f0, f1, f2, (float *)p[3], (float *)p[4], d[0], d[1], r->f[1]);
  case OPC_bn_fwd_eval:
    return CALL(bn_fwd_eval, f0, f1, f2, (float *)p[3], (float *)p[4], (float *)p[5], d[0], d[1],
                d[2], r->f[0], !!(fl & OPC_RELU));
  case OPC_bn_bwd:
    return CALL(bn_bwd, f0, f1, f2, (float *)p[3], (float *)p[4], (float *)p[5], (float *)p[6],
                (float *)p[7], d[0], d[1], d[2]);
  case OPC_bn_fold:
    return CALL(bn_fold, f0, f1, f2, (float *)p[3], (float *)p[4], (float *)p[5], (float *)p[6],
                (float *)p[7], d[0], d[1], r->f[0]);
  case OPC_sgd:
    if (!ops->sgd) return 0;
    *st = INC_OK;
    for (int64_t step = 0; step < d[1] && *st == INC_OK; step++)
      (void)CALL(sgd, f0, f1, f2 + step * d[0], d[0], r->f[0], r->f[1], r->f[2],
                 !(fl & OPC_WARM) && step == 0);
    return 1;
  case OPC_dropout:
    return CALL(dropout, f0, f1, d[0], d[1], d[2], (int)d[3], r->f[0], (uint64_t)d[4],
                (uint64_t)d[5]);
  case OPC_fill:
    return CALL(fill, f0, d[0], fl & OPC_NORMAL ? INC__FILL_NORMAL : INC__FILL_UNIFORM, r->f[0],
                r->f[1], (uint64_t)d[1], (uint64_t)d[2]);
  default:
    break;
  }
#undef CALL
  ck_abort_msg("op %d has no call", (int)r->op);
  return 0;
}

/* ---- statistics ------------------------------------------------------------ */

enum { ST_BODY, ST_CPU, ST_CUDA, ST_N };

typedef struct opc_stats {
  pid_t parent;
  long cases[ST_N][OPC_NOPS];
  double worst[ST_N][OPC_NOPS]; /* |err| / tol, over the cases with a tolerance */
  int worst_case[ST_N][OPC_NOPS];
} opc_stats;

static opc_stats *stats;

static const char *const st_names[ST_N] = {"bodies", "cpu", "cuda"};

static void stats_print(void)
{
  if (!stats || getpid() != stats->parent) return;
  const char *v = getenv("OPC_VERBOSE");
  int verbose = v && v[0] == '1';
  fflush(stdout);
  for (int b = 0; b < ST_N; b++) {
    long total = 0;
    double worst = 0.0;
    int wop = -1;
    for (int op = 0; op < OPC_NOPS; op++) {
      total += stats->cases[b][op];
      if (stats->cases[b][op] && stats->worst[b][op] >= worst) {
        worst = stats->worst[b][op];
        wop = op;
      }
      if (verbose && stats->cases[b][op])
        fprintf(stderr, "  op table on %s: %-12s %4ld runs, worst |err|/tol %.2f (case %d)\n",
                st_names[b], op_names[op], stats->cases[b][op], stats->worst[b][op],
                stats->worst_case[b][op]);
    }
    if (total)
      fprintf(stderr, "op table on %s: %ld runs, worst |err|/tol %.2f (%s, case %d)\n",
              st_names[b], total, worst, wop >= 0 ? op_names[wop] : "-",
              wop >= 0 ? stats->worst_case[b][wop] : -1);
  }
}

void opc_stats_init(void)
{
  if (stats) return;
  void *p = mmap(NULL, sizeof(opc_stats), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                 -1, 0);
  if (p == MAP_FAILED) return; /* no summary then; the cases still run */
  stats = (opc_stats *)p;
  memset(stats, 0, sizeof *stats);
  stats->parent = getpid();
  atexit(stats_print);
}

static void stats_note(int st, const oio *io, double ratio)
{
  if (!stats) return;
  const int op = (int)io->c.row->op;
  if (stats->cases[st][op]++ == 0 || ratio > stats->worst[st][op]) {
    stats->worst[st][op] = ratio;
    stats->worst_case[st][op] = io->c.index;
  }
}

/* ---- the runner ---------------------------------------------------------------- */

static int same_float_bits(float a, float b)
{
  return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b));
}

/* Runs the op on ops: buffers in, the call, outputs back into dst[j]. */
static int run_on(const oio *io, const inc__backend_ops *ops, inc_context *ctx, void **dst,
                  double *loss, int64_t *correct, const char *what)
{
  void *p[MAXBUF] = {NULL};
  for (int j = 0; j < MAXBUF; j++) {
    const obuf *b = &io->b[j];
    if (!b->present) continue;
    INC_CK(ctx, ops->alloc(&p[j], buf_bytes(b), ctx));
    INC_CK(ctx, ops->upload(p[j], b->init, buf_bytes(b), ctx));
  }
  inc_status st = INC_OK;
  int ran = opc_call(io, ops, ctx, p, loss, correct, &st);
  ck_assert_msg(!ran || st == INC_OK, "%s: %s -> %s: %s", what, ops->name,
                inc_status_string(st), ctx ? inc_context_last_error(ctx) : "");
  for (int j = 0; j < MAXBUF; j++) {
    const obuf *b = &io->b[j];
    if (!b->present) continue;
    if (ran && b->role == B_OUT) INC_CK(ctx, ops->download(dst[j], p[j], buf_bytes(b), ctx));
    ops->free(p[j], ctx);
  }
  return ran;
}

void opc_run(int i, const inc__backend_ops *ops, inc_context *ctx)
{
  oio io;
  memset(&io, 0, sizeof io);
  io.c = get_case(i);
  const opc_row *r = io.c.row;
  const int st = !strcmp(ops->name, "body") ? ST_BODY : !strcmp(ops->name, "cpu") ? ST_CPU
                                                                                    : ST_CUDA;
  const int bits = (st == ST_CPU && (r->bits & OPC_BITS_CPU)) ||
                   (st == ST_CUDA && (r->bits & OPC_BITS_CUDA));
  char what[256];
  opc_describe(i, what, sizeof what);
  if (st == ST_CPU && ctx->num_threads > 0) {
    size_t u = strlen(what);
    snprintf(what + u, sizeof what - u, " [%d thread%s]", ctx->num_threads,
             ctx->num_threads == 1 ? "" : "s");
  }

  io.terms = 1.0;
  case_fns[r->op](&io); /* buffers, inputs, reference; terms when not 1 */
  void *got[MAXBUF] = {NULL}, *body[MAXBUF] = {NULL};
  for (int j = 0; j < MAXBUF; j++) {
    obuf *b = &io.b[j];
    if (!b->present || b->role != B_OUT) continue;
    b->got = got[j] = xmalloc(buf_bytes(b));
    if (bits) b->body = body[j] = xmalloc(buf_bytes(b));
  }
  int ran = run_on(&io, ops, ctx, got, &io.loss_got, &io.correct_got, what);
  if (ran && bits)
    ck_assert_msg(run_on(&io, &opc_body_ops, ctx, body, &io.loss_body, &io.correct_body, what),
                  "%s: bits are asked of an op without a body", what);

  double worst = 0.0;
  for (int j = 0; ran && j < MAXBUF; j++) {
    const obuf *b = &io.b[j];
    if (!b->present || b->role != B_OUT) continue;
    for (int64_t e = 0; e < b->count; e++) {
      const double ref = b->ref[e];
      if (b->kind == K_F32) {
        const float v = ((const float *)b->got)[e];
        const double tol = r->atol * sqrt(io.terms) + r->rtol * fabs(ref);
        const double err = fabs((double)v - ref);
        const int ok = isnan(ref) ? isnan(v) : isinf(ref) ? (double)v == ref : err <= tol;
        if (!ok)
          ck_abort_msg("%s on %s: %s[%lld] = %.9g, expected %.9g (|err| %.3g > %.3g)", what,
                       ops->name, b->name, (long long)e, (double)v, ref, err, tol);
        if (isfinite(ref) && tol > 0 && err / tol > worst) worst = err / tol;
        if (bits && !same_float_bits(v, ((const float *)b->body)[e]))
          ck_abort_msg("%s on %s: %s[%lld] = %.9g, the body gives %.9g (bits asked)", what,
                       ops->name, b->name, (long long)e, (double)v,
                       (double)((const float *)b->body)[e]);
      } else {
        const long long v = b->kind == K_I32 ? ((const int32_t *)b->got)[e]
                                             : ((const unsigned char *)b->got)[e];
        if (v != (long long)ref)
          ck_abort_msg("%s on %s: %s[%lld] = %lld, expected %lld", what, ops->name, b->name,
                       (long long)e, v, (long long)ref);
      }
    }
  }
  if (ran && r->op == OPC_softmax_ce) {
    const double tol = (double)io.c.d[0] * (r->atol + 1e-5) + r->rtol * fabs(io.loss_ref);
    const double err = fabs(io.loss_got - io.loss_ref);
    ck_assert_msg(err <= tol, "%s on %s: loss sum %.12g, expected %.12g (|err| %.3g > %.3g)",
                  what, ops->name, io.loss_got, io.loss_ref, err, tol);
    if (err / tol > worst) worst = err / tol;
    ck_assert_msg(io.correct_got == io.correct_ref, "%s on %s: %lld hits, expected %lld", what,
                  ops->name, (long long)io.correct_got, (long long)io.correct_ref);
    if (bits)
      ck_assert_msg(io.loss_got == io.loss_body, "%s on %s: loss sum %.17g, the body gives %.17g",
                    what, ops->name, io.loss_got, io.loss_body);
  }
  if (ran) stats_note(st, &io, worst);

  for (int j = 0; j < MAXBUF; j++) {
    free(io.b[j].init);
    free(io.b[j].ref);
    free(got[j]);
    free(body[j]);
  }
  free(io.labels);
}

void opc_run_row(int r, const inc__backend_ops *ops, inc_context *ctx)
{
  ck_assert_msg(r >= 0 && r < NEL(rows), "op table row %d does not exist", r);
  int first = 0;
  for (int j = 0; j < r; j++) first += rows[j].nshapes;
  for (int i = first; i < first + rows[r].nshapes; i++) opc_run(i, ops, ctx);
}
