/*
 * inception.c — builders for the D2L Inception block and the whole D2L
 * GoogLeNet, made only of the generic containers and layers, so every
 * parameter name follows the tree ("2.0.p2.2.weight" is b3's first block,
 * path 2, 3x3 conv). The batch-norm GoogLeNet (Inception-v2 style) is the
 * same tree with a batch norm between every convolution and its ReLU
 * ("2.0.p2.3.weight" is then that 3x3 conv, "2.0.p2.4.running_mean" its
 * batch norm's), as torch.nn.Sequential would number it. A dropout before
 * the classifier goes last in b5 ("4.4"), so the names stay. The
 * Inception-v3 block is torchvision's InceptionC, generalised to n x 1 /
 * 1 x n factorisations: every convolution a BasicConv2d (convolution
 * without bias, batch norm with eps 1e-3, ReLU).
 *
 * A small builder with a sticky status keeps the construction readable:
 * after the first failure every further step is skipped, and the caller
 * destroys whatever was built.
 */
#include <stddef.h>
#include <string.h>
#include "../layer.h"

/* Every byte of a descriptor is a field (docs/ABI.md, rule 2): no padding
 * a later field could hide in. */
typedef char inc__googlenet_desc_unpadded[sizeof(inc_googlenet_desc) ==
                                                  offsetof(inc_googlenet_desc, reserved) +
                                                      sizeof(int)
                                              ? 1
                                              : -1];

typedef struct builder {
  inc_context *ctx;
  inc_status s;
  int bn; /* a batch norm after every convolution */
} builder;

/* Appends layer (or, when layer is NULL after a failure, nothing) to seq. */
static void add(builder *b, inc_layer *seq, inc_layer *layer)
{
  if (b->s != INC_OK) {
    inc_layer_destroy(layer);
    return;
  }
  b->s = inc__container_add(seq, layer);
  if (b->s != INC_OK) inc_layer_destroy(layer);
}

static inc_layer *mk_seq(builder *b)
{
  inc_layer *l = NULL;
  if (b->s == INC_OK) b->s = inc_sequential_create(b->ctx, &l);
  return l;
}

static inc_layer *mk_conv(builder *b, int oc, int k, int s, int p)
{
  inc_layer *l = NULL;
  if (b->s == INC_OK) b->s = inc_conv2d_create(b->ctx, oc, k, s, p, &l);
  return l;
}

static inc_layer *mk_relu(builder *b)
{
  inc_layer *l = NULL;
  if (b->s == INC_OK) b->s = inc_relu_create(b->ctx, &l);
  return l;
}

static inc_layer *mk_maxpool(builder *b, int k, int s, int p)
{
  inc_layer *l = NULL;
  if (b->s == INC_OK) b->s = inc_max_pool2d_create(b->ctx, k, s, p, &l);
  return l;
}

static inc_layer *mk_bn(builder *b)
{
  inc_layer *l = NULL;
  if (b->s == INC_OK) b->s = inc_batch_norm2d_create(b->ctx, 1e-5f, 0.1f, &l);
  return l;
}

/* Conv kh x kw with padding (kh/2, kw/2), stride 1, without bias. */
static inc_layer *mk_conv_nobias(builder *b, int oc, int kh, int kw)
{
  inc_layer *l = NULL;
  inc_conv2d_desc d;
  memset(&d, 0, sizeof d);
  d.size = sizeof d;
  d.out_channels = oc;
  d.kernel_h = kh;
  d.kernel_w = kw;
  d.stride_h = d.stride_w = 1;
  d.pad_h = kh / 2;
  d.pad_w = kw / 2;
  if (b->s == INC_OK) b->s = inc_conv2d_create_desc(b->ctx, &d, &l);
  return l;
}

/* torchvision's BasicConv2d appended to seq: conv kh x kw (same size, no
 * bias), batch norm (eps 1e-3), ReLU */
static void basic_conv(builder *b, inc_layer *seq, int oc, int kh, int kw)
{
  inc_layer *bn = NULL;
  add(b, seq, mk_conv_nobias(b, oc, kh, kw));
  if (b->s == INC_OK) b->s = inc_batch_norm2d_create(b->ctx, 1e-3f, 0.1f, &bn);
  add(b, seq, bn);
  add(b, seq, mk_relu(b));
}

/* conv (+ batch norm) + ReLU appended to seq */
static void conv_relu(builder *b, inc_layer *seq, int oc, int k, int s, int p)
{
  add(b, seq, mk_conv(b, oc, k, s, p));
  if (b->bn) add(b, seq, mk_bn(b));
  add(b, seq, mk_relu(b));
}

/* A new sequential appended to parent (named `name` unless NULL); NULL
 * after a failure. */
static inc_layer *mk_child_seq(builder *b, inc_layer *parent, const char *name)
{
  inc_layer *seq = mk_seq(b);
  if (b->s == INC_OK && name) b->s = inc_layer_set_name(seq, name);
  add(b, parent, seq);
  return b->s == INC_OK ? seq : NULL;
}

static inc_layer *mk_inception(builder *b, int c1, int c2r, int c2, int c3r, int c3, int c4)
{
  inc_layer *block = NULL;
  if (b->s == INC_OK) b->s = inc_concat_create(b->ctx, &block);
  if (b->s != INC_OK) return NULL;
  inc_layer *p1 = mk_child_seq(b, block, "p1");
  if (p1) conv_relu(b, p1, c1, 1, 1, 0);
  inc_layer *p2 = mk_child_seq(b, block, "p2");
  if (p2) {
    conv_relu(b, p2, c2r, 1, 1, 0);
    conv_relu(b, p2, c2, 3, 1, 1);
  }
  inc_layer *p3 = mk_child_seq(b, block, "p3");
  if (p3) {
    conv_relu(b, p3, c3r, 1, 1, 0);
    conv_relu(b, p3, c3, 5, 1, 2);
  }
  inc_layer *p4 = mk_child_seq(b, block, "p4");
  if (p4) {
    add(b, p4, mk_maxpool(b, 3, 1, 1));
    conv_relu(b, p4, c4, 1, 1, 0);
  }
  return block;
}

INC_API inc_status inc_inception_create(inc_context *ctx, int c1, int c2_reduce, int c2,
                                        int c3_reduce, int c3, int c4, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_inception_create");
  if (s != INC_OK) return s;
  if (c1 < 1 || c2_reduce < 1 || c2 < 1 || c3_reduce < 1 || c3 < 1 || c4 < 1)
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "inc_inception_create: channel counts (%d, (%d, %d), (%d, %d), %d) must "
                      "all be >= 1",
                      c1, c2_reduce, c2, c3_reduce, c3, c4);
  builder b = {ctx, INC_OK, 0};
  inc_layer *block = mk_inception(&b, c1, c2_reduce, c2, c3_reduce, c3, c4);
  if (b.s != INC_OK) {
    inc_layer_destroy(block);
    return b.s;
  }
  *out = block;
  return INC_OK;
}

/* Appends Inception(c1, (c2r, c2), (c3r, c3), c4) to seq. */
static void inception(builder *b, inc_layer *seq, int c1, int c2r, int c2, int c3r, int c3,
                      int c4)
{
  inc_layer *block = mk_inception(b, c1, c2r, c2, c3r, c3, c4);
  if (b->s != INC_OK) {
    inc_layer_destroy(block);
    return;
  }
  add(b, seq, block);
}

/* The D2L GoogLeNet of descriptor d (checked by the caller). */
static inc_status googlenet(inc_context *ctx, const inc_googlenet_desc *d, inc_layer **out)
{
  builder b = {ctx, INC_OK, d->batch_norm};
  inc_layer *net = mk_seq(&b);
  if (b.s != INC_OK) return b.s;
  inc_layer *b1 = mk_child_seq(&b, net, NULL), *b2 = mk_child_seq(&b, net, NULL),
            *b3 = mk_child_seq(&b, net, NULL), *b4 = mk_child_seq(&b, net, NULL),
            *b5 = mk_child_seq(&b, net, NULL);
  /* b1: 7x7 conv 64 s2 p3, ReLU, 3x3 max pool s2 p1 */
  conv_relu(&b, b1, 64, 7, 2, 3);
  add(&b, b1, mk_maxpool(&b, 3, 2, 1));
  /* b2: 1x1 conv 64, ReLU, 3x3 conv 192 p1, ReLU, max pool */
  conv_relu(&b, b2, 64, 1, 1, 0);
  conv_relu(&b, b2, 192, 3, 1, 1);
  add(&b, b2, mk_maxpool(&b, 3, 2, 1));
  /* b3 */
  inception(&b, b3, 64, 96, 128, 16, 32, 32);
  inception(&b, b3, 128, 128, 192, 32, 96, 64);
  add(&b, b3, mk_maxpool(&b, 3, 2, 1));
  /* b4 */
  inception(&b, b4, 192, 96, 208, 16, 48, 64);
  inception(&b, b4, 160, 112, 224, 24, 64, 64);
  inception(&b, b4, 128, 128, 256, 24, 64, 64);
  inception(&b, b4, 112, 144, 288, 32, 64, 64);
  inception(&b, b4, 256, 160, 320, 32, 128, 128);
  add(&b, b4, mk_maxpool(&b, 3, 2, 1));
  /* b5: two blocks, global average pooling, flatten */
  inception(&b, b5, 256, 160, 320, 32, 128, 128);
  inception(&b, b5, 384, 192, 384, 48, 128, 128);
  inc_layer *gap = NULL, *flat = NULL, *dense = NULL;
  if (b.s == INC_OK) b.s = inc_global_avg_pool2d_create(ctx, &gap);
  add(&b, b5, gap);
  if (b.s == INC_OK) b.s = inc_flatten_create(ctx, &flat);
  add(&b, b5, flat);
  if (d->dropout > 0.0f) {
    inc_layer *drop = NULL;
    if (b.s == INC_OK) b.s = inc_dropout_create(ctx, d->dropout, &drop);
    add(&b, b5, drop);
  }
  if (b.s == INC_OK) b.s = inc_dense_create(ctx, d->classes, &dense);
  add(&b, net, dense);
  if (b.s != INC_OK) {
    inc_layer_destroy(net);
    return b.s;
  }
  *out = net;
  return INC_OK;
}

/* The fields of a 0.4 descriptor: up to and with `reserved` (no padding). */
#define GOOGLENET_DESC_0_4 (offsetof(inc_googlenet_desc, reserved) + sizeof(int))

/* Checks d's fields (what: the public call) and builds. */
static inc_status googlenet_checked(inc_context *ctx, const char *what,
                                    const inc_googlenet_desc *d, inc_layer **out)
{
  if (d->classes < 1 || (d->batch_norm != 0 && d->batch_norm != 1) ||
      !(d->dropout >= 0.0f && d->dropout < 1.0f) || d->reserved != 0)
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "%s: classes %d must be >= 1, batch_norm 0 or 1 (it is %d), dropout %g "
                      "in [0, 1) and reserved 0 (it is %d)",
                      what, d->classes, d->batch_norm, (double)d->dropout, d->reserved);
  return googlenet(ctx, d, out);
}

INC_API inc_status inc_googlenet_create(inc_context *ctx, int classes, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_googlenet_create");
  inc_googlenet_desc d = {sizeof d, classes, 0, 0.0f, 0};
  return s != INC_OK ? s : googlenet_checked(ctx, "inc_googlenet_create", &d, out);
}

INC_API inc_status inc_googlenet_bn_create(inc_context *ctx, int classes, inc_layer **out)
{
  inc_status s = inc__create_begin(ctx, out, "inc_googlenet_bn_create");
  inc_googlenet_desc d = {sizeof d, classes, 1, 0.0f, 0};
  return s != INC_OK ? s : googlenet_checked(ctx, "inc_googlenet_bn_create", &d, out);
}

INC_API inc_status inc_googlenet_create_desc(inc_context *ctx, const inc_googlenet_desc *desc,
                                             inc_layer **out)
{
  static const char what[] = "inc_googlenet_create_desc";
  inc_status s = inc__create_begin(ctx, out, what);
  if (s != INC_OK) return s;
  inc_googlenet_desc d;
  s = inc__desc_read(ctx, what, "inc_googlenet_desc", desc, desc ? desc->size : 0,
                     GOOGLENET_DESC_0_4, &d, sizeof d);
  return s != INC_OK ? s : googlenet_checked(ctx, what, &d, out);
}

/* ---- Inception v3 ---- */

static inc_layer *mk_inception_v3(builder *b, int c1, int cr, int c, int cp, int n)
{
  inc_layer *block = NULL, *pool = NULL;
  if (b->s == INC_OK) b->s = inc_concat_create(b->ctx, &block);
  if (b->s != INC_OK) return NULL;
  inc_layer *p1 = mk_child_seq(b, block, "p1");
  if (p1) basic_conv(b, p1, c1, 1, 1);
  inc_layer *p2 = mk_child_seq(b, block, "p2"); /* 1x1, 1xn, nx1 */
  if (p2) {
    basic_conv(b, p2, cr, 1, 1);
    basic_conv(b, p2, cr, 1, n);
    basic_conv(b, p2, c, n, 1);
  }
  inc_layer *p3 = mk_child_seq(b, block, "p3"); /* 1x1, nx1, 1xn, nx1, 1xn */
  if (p3) {
    basic_conv(b, p3, cr, 1, 1);
    basic_conv(b, p3, cr, n, 1);
    basic_conv(b, p3, cr, 1, n);
    basic_conv(b, p3, cr, n, 1);
    basic_conv(b, p3, c, 1, n);
  }
  inc_layer *p4 = mk_child_seq(b, block, "p4"); /* 3x3 average pool, 1x1 */
  if (p4) {
    if (b->s == INC_OK) b->s = inc_avg_pool2d_create(b->ctx, 3, 1, 1, &pool);
    add(b, p4, pool);
    basic_conv(b, p4, cp, 1, 1);
  }
  return block;
}

INC_API inc_status inc_inception_v3_create(inc_context *ctx, int c1, int c_reduce, int c,
                                           int c_pool, int n, inc_layer **out)
{
  static const char what[] = "inc_inception_v3_create";
  inc_status s = inc__create_begin(ctx, out, what);
  if (s != INC_OK) return s;
  if (c1 < 1 || c_reduce < 1 || c < 1 || c_pool < 1 || n < 3 || n % 2 == 0 || n > 255)
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "%s: channel counts %d, %d, %d, %d must be >= 1 and n %d odd in 3..255",
                      what, c1, c_reduce, c, c_pool, n);
  builder b = {ctx, INC_OK, 1};
  inc_layer *block = mk_inception_v3(&b, c1, c_reduce, c, c_pool, n);
  if (b.s != INC_OK) {
    inc_layer_destroy(block);
    return b.s;
  }
  *out = block;
  return INC_OK;
}
