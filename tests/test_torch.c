/*
 * test_torch.c — the library against PyTorch reference fixtures.
 *
 * The fixtures in tests/fixtures/ were made by make_fixtures.py (run it with
 * Debian's /usr/bin/python3, which has python3-torch) in float64 from
 * float32-representable inputs, so a reference carries no float32 rounding
 * of its own. Every case builds the layer through the public API on the CPU
 * backend, loads the reference inputs and parameters, runs a training
 * forward and a backward with the fixture's dy, and compares with
 * |got - ref| <= atol + rtol*|ref|:
 *   - conv2d (9 cases), max_pool2d and avg_pool2d (7 each), dense (2):
 *     y, dx and the parameter gradients;
 *   - conv2d made by inc_conv2d_create_desc (8 cases: 1x7 p(0,3), 7x1
 *     p(3,0), 3x1, 1x3 s(2,1), 5x3 s(2,3) p(2,0), and three without bias):
 *     y, dx, dweight and (with a bias) dbias;
 *   - softmax cross-entropy: loss and dlogits;
 *   - softmax cross-entropy with label smoothing (cross_entropy's
 *     label_smoothing, 8 cases: eps 0 to 1, K 1 to 17, N 1 to 16, large
 *     logits): loss, dlogits and the hit count; with eps 0 it is, bit for
 *     bit, the plain call;
 *   - the D2L Inception(4,(3,5),(2,3),2) block, its parameters read with
 *     inc_layer_load from a file written by PyTorch (so the loader and the
 *     names are checked too): y, dx and all 12 parameter gradients;
 *   - likewise a stem convolution and an Inception-ResNet-A-like block,
 *     relu(x + 0.2 * up(concat(b0, b1, b2))) (an identity and a scaled
 *     branch in a residual container), at batch 1 (1,3,7,9) and 3
 *     (3,3,5,7): y, dx and all 16 parameter gradients;
 *   - the D2L GoogLeNet (10 classes) on x of shape (2,1,32,32), parameters
 *     from the closed-form formula below: the parameter names against
 *     named_parameters(), the fill bit for bit, logits, the cross-entropy
 *     loss, every parameter gradient's norm and first 8 values, the full
 *     gradients of 0.0.weight, 5.weight, 5.bias, and after one SGD step
 *     (lr 0.05, momentum 0.9, weight decay 1e-4) the parameters' first 8
 *     values and the logits.
 * Each case prints one line to stderr with the largest absolute deviation,
 * the largest relative deviation (over reference values with |ref| >= 1e-3)
 * and the largest fraction of the tolerance used, per compared tensor.
 *
 * GoogLeNet parameter formula (also in make_fixtures.py): for parameter p
 * (0-based, depth-first order = PyTorch's named_parameters() order) and flat
 * element i, in uint32 arithmetic modulo 2^32:
 *     h = i * 0x9E3779B1 + (p + 1) * 0x85EBCA77
 *     h ^= h >> 15; h *= 0x2C1B3C6D; h ^= h >> 12; h *= 0x297A2D39; h ^= h >> 15
 *     u = (float)(h >> 8) * 2^-23 - 1          (exact, in [-1, 1))
 *     weight (ndim >= 2): u * (float)sqrt(6.0 / fan_in), fan_in = numel / dim0
 *     bias   (ndim == 1): u * 0.05f
 */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fixture.h"
#include "util.h"

/* Tolerances: single layers, then the 22-layer network (its float32 sums of
 * up to 832*9 terms per output in another order than PyTorch's). */
#define TOL_ATOL 1e-5
#define TOL_RTOL 1e-4
#define NET_ATOL 1e-4
#define NET_RTOL 1e-3

/* ---- helpers ------------------------------------------------------------ */

typedef struct report {
  char name[64];
  char line[1536];
} report;

static void report_start(report *r, const char *name)
{
  snprintf(r->name, sizeof r->name, "%s", name);
  r->line[0] = '\0';
}

static void report_add(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report_add(report *r, const char *fmt, ...)
{
  size_t n = strlen(r->line);
  if (n + 1 >= sizeof r->line) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->line + n, sizeof r->line - n, fmt, ap);
  va_end(ap);
}

static void report_print(const report *r)
{
  fprintf(stderr, "torch %-18s%s\n", r->name, r->line);
}

static fx_file *open_fixture(const char *name)
{
  char err[512];
  fx_file *f = fx_open(name, err, sizeof err);
  ck_assert_msg(f != NULL, "fixture %s: %s (regenerate with /usr/bin/python3 "
                "tests/fixtures/make_fixtures.py)", name, err);
  return f;
}

static const fx_tensor *need(const fx_file *f, const char *file, const char *name)
{
  const fx_tensor *t = fx_get(f, name);
  ck_assert_msg(t != NULL, "fixture %s has no tensor %s", file, name);
  return t;
}

static int meta_int(const fx_file *f, const char *file, const char *key)
{
  const char *v = fx_meta(f, key);
  ck_assert_msg(v != NULL, "fixture %s has no metadata %s", file, key);
  char *end = NULL;
  long x = strtol(v, &end, 10);
  ck_assert_msg(end != v && *end == '\0' && x >= 0 && x < 1000000,
                "fixture %s: metadata %s=%s is not a small integer", file, key, v);
  return (int)x;
}

/* Compares got (n floats) with ref, appends "what abs=.. rel=.. tol=.." to the
 * report and fails (printing the report first) when out of tolerance. */
static double compare(report *r, const char *what, const float *got, const float *ref,
                      int64_t n, double atol, double rtol)
{
  double maxabs = 0, maxrel = 0, worst = 0;
  int64_t wi = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - (double)ref[i]);
    double a = fabs((double)ref[i]);
    double frac = d / (atol + rtol * a);
    if (isnan(d)) frac = INFINITY;
    if (d > maxabs) maxabs = d;
    if (a >= 1e-3 && d / a > maxrel) maxrel = d / a;
    if (frac > worst || (i == 0 && isnan(frac))) {
      worst = frac;
      wi = i;
    }
  }
  report_add(r, " %s abs=%.2e rel=%.2e tol=%.2f;", what, maxabs, maxrel, worst);
  if (!(worst <= 1.0)) {
    report_print(r);
    ck_abort_msg("%s %s: element %lld is %.9g, PyTorch %.9g (|diff| %.3g > %.3g + %.3g*|ref|)",
                 r->name, what, (long long)wi, (double)got[wi], (double)ref[wi],
                 fabs((double)got[wi] - (double)ref[wi]), atol, rtol);
  }
  return worst;
}

/* Compares a library tensor with a fixture tensor of the same shape. */
static void compare_tensor(report *r, const char *what, const inc_tensor *got,
                           const fx_tensor *ref, double atol, double rtol)
{
  ck_assert_ptr_nonnull(got);
  ck_assert_msg(inc_tensor_ndim(got) == ref->ndim, "%s %s: %d dims, PyTorch %d", r->name, what,
                inc_tensor_ndim(got), ref->ndim);
  for (int i = 0; i < ref->ndim; i++)
    ck_assert_msg(inc_tensor_dim(got, i) == ref->dims[i], "%s %s: dim %d is %lld, PyTorch %lld",
                  r->name, what, i, (long long)inc_tensor_dim(got, i), (long long)ref->dims[i]);
  float *h = tu_host(got);
  compare(r, what, h, ref->data, ref->numel, atol, rtol);
  free(h);
}

static inc_tensor *tensor_from(inc_context *ctx, const fx_tensor *t)
{
  return tu_tensor(ctx, t->ndim, t->dims, t->data);
}

/* Finds the parameter called name; fails if absent. */
static void param_by_name(inc_context *ctx, const inc_layer *l, const char *name,
                          inc_tensor **value, inc_tensor **grad)
{
  int n = inc_layer_param_count(l);
  for (int i = 0; i < n; i++) {
    const char *pn = NULL;
    INC_CK(ctx, inc_layer_param(l, i, &pn, value, grad));
    if (pn && !strcmp(pn, name)) return;
  }
  ck_abort_msg("no parameter named %s among %d", name, n);
}

/* Copies a fixture tensor into a parameter after checking the shape. */
static void set_param(inc_context *ctx, const inc_layer *l, const char *name, const fx_tensor *t)
{
  inc_tensor *v = NULL;
  param_by_name(ctx, l, name, &v, NULL);
  ck_assert_int_eq(inc_tensor_ndim(v), t->ndim);
  for (int i = 0; i < t->ndim; i++) ck_assert_int_eq(inc_tensor_dim(v, i), t->dims[i]);
  INC_CK(ctx, inc_tensor_copy_from_host(v, t->data, t->numel));
}

static void check_out_shape(const char *file, const inc_layer *l, inc_context *ctx,
                            const fx_tensor *x, const fx_tensor *y)
{
  int ond = 0;
  int64_t od[INC_MAX_DIMS];
  INC_CK(ctx, inc_layer_infer_shape((inc_layer *)l, x->ndim, x->dims, &ond, od));
  ck_assert_msg(ond == y->ndim, "%s: output has %d dims, PyTorch %d", file, ond, y->ndim);
  for (int i = 0; i < ond; i++)
    ck_assert_msg(od[i] == y->dims[i], "%s: output dim %d is %lld, PyTorch %lld", file, i,
                  (long long)od[i], (long long)y->dims[i]);
}

/* A layer with a forward/backward fixture: x, y, dy, dx and, when with_params,
 * weight, dweight and, when the fixture has them (a layer with a bias),
 * bias, dbias. */
static void run_layer_case(const char *file, inc_layer *l, inc_context *ctx, fx_file *f,
                           int with_params)
{
  report r;
  char label[64];
  snprintf(label, sizeof label, "%.*s", (int)(strcspn(file, ".")), file);
  report_start(&r, label);
  const fx_tensor *x = need(f, file, "x"), *y = need(f, file, "y");
  const fx_tensor *dy = need(f, file, "dy"), *dx = need(f, file, "dx");
  check_out_shape(file, l, ctx, x, y);
  const int bias = with_params && fx_get(f, "bias") != NULL;
  if (with_params) {
    ck_assert_int_eq(inc_layer_param_count(l), 1 + bias);
    set_param(ctx, l, "weight", need(f, file, "weight"));
    if (bias) set_param(ctx, l, "bias", need(f, file, "bias"));
  } else {
    ck_assert_int_eq(inc_layer_param_count(l), 0);
  }
  inc_tensor *xt = tensor_from(ctx, x), *dyt = tensor_from(ctx, dy);
  const inc_tensor *yt = NULL, *dxt = NULL;
  INC_CK(ctx, inc_layer_forward(l, xt, 1, &yt));
  compare_tensor(&r, "y", yt, y, TOL_ATOL, TOL_RTOL);
  INC_CK(ctx, inc_layer_backward(l, dyt, &dxt));
  compare_tensor(&r, "dx", dxt, dx, TOL_ATOL, TOL_RTOL);
  if (with_params) {
    inc_tensor *gw = NULL, *gb = NULL;
    param_by_name(ctx, l, "weight", NULL, &gw);
    compare_tensor(&r, "dweight", gw, need(f, file, "dweight"), TOL_ATOL, TOL_RTOL);
    if (bias) {
      param_by_name(ctx, l, "bias", NULL, &gb);
      compare_tensor(&r, "dbias", gb, need(f, file, "dbias"), TOL_ATOL, TOL_RTOL);
    }
  }
  report_print(&r);
  inc_tensor_destroy(xt);
  inc_tensor_destroy(dyt);
}

/* ---- single layers ------------------------------------------------------ */

#define N_CONV 9
#define N_CONV_RECT 8
#define N_POOL 7
#define N_DENSE 2
#define N_RESNET_A 2 /* resnet_a_io_<i> */

START_TEST(conv2d_case)
{
  char file[64];
  snprintf(file, sizeof file, "conv2d_%d.safetensors", _i);
  fx_file *f = open_fixture(file);
  ck_assert_str_eq(fx_meta(f, "op"), "conv2d");
  const fx_tensor *w = need(f, file, "weight");
  ck_assert_int_eq(w->ndim, 4);
  int k = meta_int(f, file, "kernel"), s = meta_int(f, file, "stride");
  int p = meta_int(f, file, "padding");
  ck_assert_int_eq(w->dims[2], k);
  inc_context *ctx = tu_cpu();
  inc_layer *l = NULL;
  INC_CK(ctx, inc_conv2d_create(ctx, (int)w->dims[0], k, s, p, &l));
  run_layer_case(file, l, ctx, f, 1);
  inc_layer_destroy(l);
  inc_context_destroy(ctx);
  fx_free(f);
}
END_TEST

/* conv2d_rect_<i>: through inc_conv2d_create_desc, the window per axis and
 * the bias from the metadata */
START_TEST(conv2d_rect_case)
{
  char file[64];
  snprintf(file, sizeof file, "conv2d_rect_%d.safetensors", _i);
  fx_file *f = open_fixture(file);
  ck_assert_str_eq(fx_meta(f, "op"), "conv2d");
  const fx_tensor *w = need(f, file, "weight");
  ck_assert_int_eq(w->ndim, 4);
  inc_conv2d_desc d;
  memset(&d, 0, sizeof d);
  d.size = sizeof d;
  d.out_channels = (int)w->dims[0];
  d.kernel_h = meta_int(f, file, "kernel_h");
  d.kernel_w = meta_int(f, file, "kernel_w");
  d.stride_h = meta_int(f, file, "stride_h");
  d.stride_w = meta_int(f, file, "stride_w");
  d.pad_h = meta_int(f, file, "pad_h");
  d.pad_w = meta_int(f, file, "pad_w");
  d.bias = meta_int(f, file, "bias");
  ck_assert_int_eq(w->dims[2], d.kernel_h);
  ck_assert_int_eq(w->dims[3], d.kernel_w);
  ck_assert_int_eq(fx_get(f, "bias") != NULL, d.bias);
  inc_context *ctx = tu_cpu();
  inc_layer *l = NULL;
  INC_CK(ctx, inc_conv2d_create_desc(ctx, &d, &l));
  ck_assert_str_eq(inc_layer_kind(l), "conv2d");
  run_layer_case(file, l, ctx, f, 1);
  inc_layer_destroy(l);
  inc_context_destroy(ctx);
  fx_free(f);
}
END_TEST

static void pool_case(const char *op, int i)
{
  char file[64];
  snprintf(file, sizeof file, "%s_%d.safetensors", op, i);
  fx_file *f = open_fixture(file);
  ck_assert_str_eq(fx_meta(f, "op"), op);
  int k = meta_int(f, file, "kernel"), s = meta_int(f, file, "stride");
  int p = meta_int(f, file, "padding");
  inc_context *ctx = tu_cpu();
  inc_layer *l = NULL;
  if (!strcmp(op, "max_pool2d"))
    INC_CK(ctx, inc_max_pool2d_create(ctx, k, s, p, &l));
  else
    INC_CK(ctx, inc_avg_pool2d_create(ctx, k, s, p, &l));
  run_layer_case(file, l, ctx, f, 0);
  inc_layer_destroy(l);
  inc_context_destroy(ctx);
  fx_free(f);
}

START_TEST(max_pool_case)
{
  pool_case("max_pool2d", _i);
}
END_TEST

START_TEST(avg_pool_case)
{
  pool_case("avg_pool2d", _i);
}
END_TEST

START_TEST(dense_case)
{
  char file[64];
  snprintf(file, sizeof file, "dense_%d.safetensors", _i);
  fx_file *f = open_fixture(file);
  const fx_tensor *w = need(f, file, "weight");
  inc_context *ctx = tu_cpu();
  inc_layer *l = NULL;
  INC_CK(ctx, inc_dense_create(ctx, (int)w->dims[0], &l));
  run_layer_case(file, l, ctx, f, 1);
  inc_layer_destroy(l);
  inc_context_destroy(ctx);
  fx_free(f);
}
END_TEST

/* The case counts above must match the fixture files. */
START_TEST(case_counts)
{
  static const struct { const char *op; int n; } k[] = {
      {"conv2d", N_CONV}, {"max_pool2d", N_POOL}, {"avg_pool2d", N_POOL}, {"dense", N_DENSE},
      {"resnet_a_io", N_RESNET_A}, {"conv2d_rect", N_CONV_RECT}};
  for (size_t j = 0; j < sizeof k / sizeof k[0]; j++) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s_%d.safetensors", INC_FIXTURE_DIR, k[j].op, k[j].n);
    FILE *fp = fopen(path, "rb");
    if (fp) fclose(fp);
    ck_assert_msg(fp == NULL, "%s exists: raise the case count of %s in test_torch.c", path,
                  k[j].op);
  }
}
END_TEST

START_TEST(softmax_ce)
{
  const char *file = "softmax_ce.safetensors";
  fx_file *f = open_fixture(file);
  const fx_tensor *lg = need(f, file, "logits"), *lb = need(f, file, "labels");
  const fx_tensor *loss = need(f, file, "loss"), *dl = need(f, file, "dlogits");
  ck_assert_int_eq(lb->numel, lg->dims[0]);
  int32_t labels[64];
  ck_assert_int_le(lb->numel, 64);
  for (int64_t i = 0; i < lb->numel; i++) labels[i] = (int32_t)lb->data[i];
  inc_context *ctx = tu_cpu();
  inc_tensor *lt = tensor_from(ctx, lg), *dt = tu_tensor(ctx, lg->ndim, lg->dims, NULL);
  float mean = 0;
  int64_t correct = -1;
  INC_CK(ctx, inc_softmax_cross_entropy(ctx, lt, labels, &mean, dt, &correct));
  /* the reference's correct count */
  int64_t want = 0;
  for (int64_t i = 0; i < lg->dims[0]; i++) {
    const float *row = lg->data + i * lg->dims[1];
    int64_t am = 0;
    for (int64_t j = 1; j < lg->dims[1]; j++)
      if (row[j] > row[am]) am = j;
    want += am == labels[i];
  }
  report r;
  report_start(&r, "softmax_ce");
  compare(&r, "loss", &mean, loss->data, 1, TOL_ATOL, TOL_RTOL);
  compare_tensor(&r, "dlogits", dt, dl, TOL_ATOL, TOL_RTOL);
  report_add(&r, " correct=%lld", (long long)correct);
  report_print(&r);
  ck_assert_int_eq(correct, want);
  inc_tensor_destroy(lt);
  inc_tensor_destroy(dt);
  inc_context_destroy(ctx);
  fx_free(f);
}
END_TEST

START_TEST(softmax_ce_smooth)
{
  const char *file = "softmax_ce_smooth.safetensors";
  fx_file *f = open_fixture(file);
  int cases = meta_int(f, file, "cases");
  ck_assert_int_ge(cases, 8);
  inc_context *ctx = tu_cpu();
  report r;
  report_start(&r, "softmax_ce_smooth");
  for (int c = 0; c < cases; c++) {
    char name[5][32];
    static const char *const parts[5] = {"logits", "labels", "smoothing", "loss", "dlogits"};
    for (int j = 0; j < 5; j++) snprintf(name[j], sizeof name[j], "c%d.%s", c, parts[j]);
    const fx_tensor *lg = need(f, file, name[0]), *lb = need(f, file, name[1]);
    float eps = need(f, file, name[2])->data[0];
    const fx_tensor *loss = need(f, file, name[3]), *dl = need(f, file, name[4]);
    int64_t n = lg->dims[0], k = lg->dims[1];
    ck_assert_int_eq(lb->numel, n);
    int32_t labels[64];
    ck_assert_int_le(n, 64);
    int64_t want = 0;
    for (int64_t i = 0; i < n; i++) {
      labels[i] = (int32_t)lb->data[i];
      int64_t am = 0;
      for (int64_t j = 1; j < k; j++)
        if (lg->data[i * k + j] > lg->data[i * k + am]) am = j;
      want += am == labels[i];
    }
    inc_tensor *lt = tensor_from(ctx, lg), *dt = tu_tensor(ctx, 2, lg->dims, NULL);
    float mean = 0;
    int64_t correct = -1;
    INC_CK(ctx, inc_softmax_cross_entropy_smoothed(ctx, lt, labels, eps, &mean, dt, &correct));
    char what[48];
    snprintf(what, sizeof what, "c%d(eps %g) loss", c, (double)eps);
    compare(&r, what, &mean, loss->data, 1, TOL_ATOL, TOL_RTOL);
    snprintf(what, sizeof what, "c%d dlogits", c);
    compare_tensor(&r, what, dt, dl, TOL_ATOL, TOL_RTOL);
    ck_assert_int_eq(correct, want);
    /* smoothing 0 is the plain call, bit for bit */
    inc_tensor *d0 = tu_tensor(ctx, 2, lg->dims, NULL), *d1 = tu_tensor(ctx, 2, lg->dims, NULL);
    float m0 = 0, m1 = 1;
    INC_CK(ctx, inc_softmax_cross_entropy_smoothed(ctx, lt, labels, 0.0f, &m0, d0, NULL));
    INC_CK(ctx, inc_softmax_cross_entropy(ctx, lt, labels, &m1, d1, NULL));
    float *h0 = tu_host(d0), *h1 = tu_host(d1);
    ck_assert_msg(!memcmp(&m0, &m1, sizeof m0) && !memcmp(h0, h1, (size_t)(n * k) * 4),
                  "case %d: smoothing 0 is not the plain cross-entropy bit for bit", c);
    free(h0);
    free(h1);
    inc_tensor_destroy(d0);
    inc_tensor_destroy(d1);
    inc_tensor_destroy(lt);
    inc_tensor_destroy(dt);
  }
  report_print(&r);
  inc_context_destroy(ctx);
  fx_free(f);
}
END_TEST

/* ---- the Inception block ------------------------------------------------- */

/* A model whose parameters PyTorch wrote (pfile, under the library's
 * names) against PyTorch's forward and backward (file: x, y, dy, dx and
 * grad/<name> of every parameter): inc_layer_load binds it (so the loader
 * and the names are checked too: same names, order and values as
 * named_parameters()), then y, dx and every parameter gradient. */
static void loaded_case(const char *label, inc_context *ctx, inc_layer *blk, const char *pfile,
                        const fx_file *pf, const char *file, const fx_file *f)
{
  ck_assert_int_eq(inc_layer_is_bound(blk), 0);
  char path[256];
  snprintf(path, sizeof path, "%s/%s", INC_FIXTURE_DIR, pfile);
  INC_CK(ctx, inc_layer_load(blk, path));
  ck_assert_int_eq(inc_layer_is_bound(blk), 1);
  ck_assert_int_eq(inc_layer_param_count(blk), pf->count);
  report r;
  report_start(&r, label);
  for (int i = 0; i < pf->count; i++) {
    const char *name = NULL;
    inc_tensor *v = NULL;
    INC_CK(ctx, inc_layer_param(blk, i, &name, &v, NULL));
    ck_assert_str_eq(name, pf->tensors[i].name);
    float *h = tu_host(v);
    ck_assert_int_eq(inc_tensor_numel(v), pf->tensors[i].numel);
    ck_assert_msg(memcmp(h, pf->tensors[i].data, (size_t)pf->tensors[i].numel * 4) == 0,
                  "parameter %s differs from the file after inc_layer_load", name);
    free(h);
  }
  const fx_tensor *x = need(f, file, "x"), *y = need(f, file, "y");
  check_out_shape(file, blk, ctx, x, y);
  inc_tensor *xt = tensor_from(ctx, x), *dyt = tensor_from(ctx, need(f, file, "dy"));
  const inc_tensor *yt = NULL, *dxt = NULL;
  INC_CK(ctx, inc_layer_forward(blk, xt, 1, &yt));
  compare_tensor(&r, "y", yt, y, TOL_ATOL, TOL_RTOL);
  INC_CK(ctx, inc_layer_backward(blk, dyt, &dxt));
  compare_tensor(&r, "dx", dxt, need(f, file, "dx"), TOL_ATOL, TOL_RTOL);
  /* every parameter gradient; the report shows the worst of them */
  double worst_abs = 0, worst_frac = 0;
  for (int i = 0; i < pf->count; i++) {
    const char *name = NULL;
    inc_tensor *g = NULL;
    INC_CK(ctx, inc_layer_param(blk, i, &name, NULL, &g));
    char gname[160];
    snprintf(gname, sizeof gname, "grad/%s", name);
    const fx_tensor *ref = need(f, file, gname);
    float *h = tu_host(g);
    ck_assert_int_eq(inc_tensor_numel(g), ref->numel);
    report sub;
    report_start(&sub, label);
    double fr = compare(&sub, gname, h, ref->data, ref->numel, TOL_ATOL, TOL_RTOL);
    if (fr > worst_frac) worst_frac = fr;
    for (int64_t j = 0; j < ref->numel; j++) {
      double d = fabs((double)h[j] - ref->data[j]);
      if (d > worst_abs) worst_abs = d;
    }
    free(h);
  }
  report_add(&r, " %d param grads abs<=%.2e tol<=%.2f;", pf->count, worst_abs, worst_frac);
  report_print(&r);
  inc_tensor_destroy(xt);
  inc_tensor_destroy(dyt);
}

START_TEST(inception_block)
{
  const char *pfile = "inception_params.safetensors", *file = "inception_io.safetensors";
  fx_file *pf = open_fixture(pfile), *f = open_fixture(file);
  inc_context *ctx = tu_cpu();
  inc_layer *blk = NULL;
  INC_CK(ctx, inc_inception_create(ctx, meta_int(f, file, "c1"), meta_int(f, file, "c2_reduce"),
                                   meta_int(f, file, "c2"), meta_int(f, file, "c3_reduce"),
                                   meta_int(f, file, "c3"), meta_int(f, file, "c4"), &blk));
  loaded_case("inception", ctx, blk, pfile, pf, file, f);
  inc_layer_destroy(blk);
  inc_context_destroy(ctx);
  fx_free(pf);
  fx_free(f);
}
END_TEST

/* ---- an Inception-ResNet-A-like block ------------------------------------- */

/* Appends l to container c (a sequential, concat or residual) as `name`. */
static inc_layer *put(inc_context *ctx, inc_layer *c, inc_layer *l, const char *name, float scale)
{
  if (name) INC_CK(ctx, inc_layer_set_name(l, name));
  const char *kind = inc_layer_kind(c);
  if (!strcmp(kind, "sequential")) INC_CK(ctx, inc_sequential_append(c, l));
  else if (!strcmp(kind, "concat")) INC_CK(ctx, inc_concat_add_branch(c, l));
  else INC_CK(ctx, inc_residual_add_branch(c, l, scale));
  return l;
}

/* A sequential of 1x1 conv (2), ReLU and then `more` 3x3 p1 convs (3),
 * each with a ReLU: the towers b0..b2. */
static inc_layer *tower(inc_context *ctx, int more)
{
  inc_layer *t, *l;
  INC_CK(ctx, inc_sequential_create(ctx, &t));
  for (int i = 0; i <= more; i++) {
    INC_CK(ctx, inc_conv2d_create(ctx, i ? 3 : 2, i ? 3 : 1, 1, i ? 1 : 0, &l));
    put(ctx, t, l, NULL, 1.0f);
    INC_CK(ctx, inc_relu_create(ctx, &l));
    put(ctx, t, l, NULL, 1.0f);
  }
  return t;
}

/* make_fixtures.py's resnet_a(3, 4, 0.2), named as PyTorch names it: stem
 * (conv 3x3 p1, 4), stem_relu, res = residual(skip: identity, branch:
 * sequential(cat: concat(b0, b1, b2), up: conv 1x1 (4)) times 0.2), relu. */
static inc_layer *resnet_a(inc_context *ctx)
{
  inc_layer *net, *res, *branch, *cat, *l;
  INC_CK(ctx, inc_sequential_create(ctx, &net));
  INC_CK(ctx, inc_conv2d_create(ctx, 4, 3, 1, 1, &l));
  put(ctx, net, l, "stem", 1.0f);
  INC_CK(ctx, inc_relu_create(ctx, &l));
  put(ctx, net, l, "stem_relu", 1.0f);
  INC_CK(ctx, inc_residual_create(ctx, &res));
  INC_CK(ctx, inc_identity_create(ctx, &l));
  put(ctx, res, l, "skip", 1.0f);
  INC_CK(ctx, inc_sequential_create(ctx, &branch));
  INC_CK(ctx, inc_concat_create(ctx, &cat));
  for (int b = 0; b < 3; b++) {
    char name[8];
    snprintf(name, sizeof name, "b%d", b);
    put(ctx, cat, tower(ctx, b), name, 1.0f);
  }
  put(ctx, branch, cat, "cat", 1.0f);
  INC_CK(ctx, inc_conv2d_create(ctx, 4, 1, 1, 0, &l));
  put(ctx, branch, l, "up", 1.0f);
  put(ctx, res, branch, "branch", 0.2f);
  put(ctx, net, res, "res", 1.0f);
  INC_CK(ctx, inc_relu_create(ctx, &l));
  put(ctx, net, l, "relu", 1.0f);
  return net;
}

START_TEST(resnet_a_case)
{
  const char *pfile = "resnet_a_params.safetensors";
  char file[64], label[32];
  snprintf(file, sizeof file, "resnet_a_io_%d.safetensors", _i);
  snprintf(label, sizeof label, "resnet_a_%d", _i);
  fx_file *pf = open_fixture(pfile), *f = open_fixture(file);
  ck_assert_str_eq(fx_meta(f, "scale"), "0.2");
  inc_context *ctx = tu_cpu();
  inc_layer *net = resnet_a(ctx);
  loaded_case(label, ctx, net, pfile, pf, file, f);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
  fx_free(pf);
  fx_free(f);
}
END_TEST

/* ---- GoogLeNet ----------------------------------------------------------- */

static float gn_u(uint32_t p, uint32_t i)
{
  uint32_t h = i * 0x9E3779B1u + (p + 1u) * 0x85EBCA77u;
  h ^= h >> 15;
  h *= 0x2C1B3C6Du;
  h ^= h >> 12;
  h *= 0x297A2D39u;
  h ^= h >> 15;
  return (float)(h >> 8) * 0x1p-23f - 1.0f;
}

/* Fills every parameter of net by the formula of the file comment. */
static void googlenet_fill(inc_context *ctx, inc_layer *net)
{
  int n = inc_layer_param_count(net);
  for (int p = 0; p < n; p++) {
    inc_tensor *v = NULL;
    INC_CK(ctx, inc_layer_param(net, p, NULL, &v, NULL));
    int64_t numel = inc_tensor_numel(v);
    float scale = 0.05f;
    if (inc_tensor_ndim(v) >= 2) scale = (float)sqrt(6.0 / (double)(numel / inc_tensor_dim(v, 0)));
    float *h = (float *)malloc((size_t)numel * sizeof(float));
    ck_assert_ptr_nonnull(h);
    for (int64_t i = 0; i < numel; i++) h[i] = gn_u((uint32_t)p, (uint32_t)i) * scale;
    INC_CK(ctx, inc_tensor_copy_from_host(v, h, numel));
    free(h);
  }
}

static inc_layer *googlenet_bound(inc_context *ctx, const fx_tensor *x)
{
  inc_layer *net = NULL;
  INC_CK(ctx, inc_googlenet_create(ctx, 10, &net));
  int ond = 0;
  int64_t od[INC_MAX_DIMS];
  INC_CK(ctx, inc_layer_infer_shape(net, x->ndim, x->dims, &ond, od));
  ck_assert_int_eq(ond, 2);
  ck_assert_int_eq(od[0], x->dims[0]);
  ck_assert_int_eq(od[1], 10);
  return net;
}

START_TEST(googlenet_names)
{
  const char *file = "googlenet_param_names.txt";
  char path[256];
  snprintf(path, sizeof path, "%s/%s", INC_FIXTURE_DIR, file);
  FILE *fp = fopen(path, "r");
  ck_assert_msg(fp != NULL, "cannot open %s", path);
  inc_context *ctx = tu_cpu();
  const int64_t xd[4] = {2, 1, 32, 32};
  fx_tensor x;
  memset(&x, 0, sizeof x);
  x.ndim = 4;
  memcpy(x.dims, xd, sizeof xd);
  inc_layer *net = googlenet_bound(ctx, &x);
  int n = inc_layer_param_count(net), i = 0;
  char line[256];
  while (fgets(line, sizeof line, fp)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0]) continue;
    ck_assert_msg(i < n, "the library has %d parameters, PyTorch more (next: %s)", n, line);
    const char *name = NULL;
    INC_CK(ctx, inc_layer_param(net, i, &name, NULL, NULL));
    ck_assert_msg(name && !strcmp(name, line), "parameter %d is %s, PyTorch %s", i,
                  name ? name : "(null)", line);
    i++;
  }
  fclose(fp);
  ck_assert_msg(i == n, "the library has %d parameters, PyTorch %d", n, i);
  ck_assert_int_eq(inc_layer_param_numel(net), 5977530);
  fprintf(stderr, "torch %-18s %d parameter names match PyTorch's named_parameters()\n",
          "googlenet_names", n);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

/* First `head` values of every parameter (value or gradient) into out. */
static void param_heads(inc_context *ctx, inc_layer *net, int grad, int64_t head, float *out,
                        double *norms)
{
  int n = inc_layer_param_count(net);
  for (int p = 0; p < n; p++) {
    inc_tensor *v = NULL, *g = NULL;
    INC_CK(ctx, inc_layer_param(net, p, NULL, &v, &g));
    float *h = tu_host(grad ? g : v);
    int64_t numel = inc_tensor_numel(v);
    for (int64_t j = 0; j < head; j++) out[p * head + j] = j < numel ? h[j] : 0.0f;
    if (norms) {
      double s = 0;
      for (int64_t j = 0; j < numel; j++) s += (double)h[j] * h[j];
      norms[p] = sqrt(s);
    }
    free(h);
  }
}

START_TEST(googlenet_train_step)
{
  const char *file = "googlenet.safetensors";
  fx_file *f = open_fixture(file);
  const fx_tensor *x = need(f, file, "x"), *lb = need(f, file, "labels");
  const fx_tensor *ph = need(f, file, "param_head"), *gh = need(f, file, "grad_head");
  const fx_tensor *gnorm = need(f, file, "grad_norm"), *pha = need(f, file, "param_head_after");
  inc_context *ctx = tu_cpu();
  inc_layer *net = googlenet_bound(ctx, x);
  int n = inc_layer_param_count(net);
  ck_assert_int_eq(n, (int)gnorm->numel);
  ck_assert_int_eq(ph->ndim, 2);
  ck_assert_int_eq(ph->dims[0], n);
  int64_t head = ph->dims[1];
  googlenet_fill(ctx, net);

  report r;
  report_start(&r, "googlenet");
  float *buf = (float *)malloc((size_t)(n * head) * sizeof(float));
  float *normsf = (float *)malloc((size_t)n * sizeof(float));
  double *norms = (double *)malloc((size_t)n * sizeof(double));
  ck_assert(buf && normsf && norms);
  /* the fill must be the same, bit for bit */
  param_heads(ctx, net, 0, head, buf, NULL);
  for (int64_t i = 0; i < n * head; i++)
    ck_assert_msg(memcmp(&buf[i], &ph->data[i], 4) == 0,
                  "fill formula: parameter %lld value %lld is %.9g, PyTorch %.9g",
                  (long long)(i / head), (long long)(i % head), (double)buf[i],
                  (double)ph->data[i]);
  report_add(&r, " fill exact;");

  int32_t labels[16];
  ck_assert_int_le(lb->numel, 16);
  for (int64_t i = 0; i < lb->numel; i++) labels[i] = (int32_t)lb->data[i];
  inc_tensor *xt = tensor_from(ctx, x);
  const inc_tensor *logits = NULL, *dxt = NULL;
  INC_CK(ctx, inc_layer_forward(net, xt, 1, &logits));
  compare_tensor(&r, "logits", logits, need(f, file, "logits"), NET_ATOL, NET_RTOL);
  inc_tensor *dl = tu_tensor(ctx, 2, (int64_t[]){inc_tensor_dim(logits, 0), 10}, NULL);
  float loss = 0;
  INC_CK(ctx, inc_softmax_cross_entropy(ctx, logits, labels, &loss, dl, NULL));
  compare(&r, "loss", &loss, need(f, file, "loss")->data, 1, NET_ATOL, NET_RTOL);
  INC_CK(ctx, inc_layer_backward(net, dl, &dxt));

  param_heads(ctx, net, 1, head, buf, norms);
  for (int p = 0; p < n; p++) normsf[p] = (float)norms[p];
  compare(&r, "grad_norm", normsf, gnorm->data, n, NET_ATOL, NET_RTOL);
  compare(&r, "grad_head", buf, gh->data, n * head, NET_ATOL * 0.1, NET_RTOL);
  static const char *const full[] = {"0.0.weight", "5.weight", "5.bias"};
  for (size_t j = 0; j < sizeof full / sizeof full[0]; j++) {
    char gname[64];
    snprintf(gname, sizeof gname, "grad/%s", full[j]);
    inc_tensor *g = NULL;
    param_by_name(ctx, net, full[j], NULL, &g);
    compare_tensor(&r, gname, g, need(f, file, gname), NET_ATOL * 0.1, NET_RTOL);
  }

  inc_optimizer *opt = NULL;
  INC_CK(ctx, inc_sgd_create(ctx, 0.05f, 0.9f, 1e-4f, &opt));
  INC_CK(ctx, inc_optimizer_step(opt, net));
  param_heads(ctx, net, 0, head, buf, NULL);
  /* Tight: one rounding of p - lr*(g + wd*p). A missing weight decay
   * (lr*wd*|p| ~ 1.5e-6 for |p| = 0.3) would exceed it. */
  compare(&r, "param_after", buf, pha->data, n * head, 1e-7, 1e-6);
  const inc_tensor *la = NULL;
  INC_CK(ctx, inc_layer_forward(net, xt, 0, &la));
  compare_tensor(&r, "logits_after", la, need(f, file, "logits_after"), NET_ATOL, NET_RTOL);
  report_print(&r);

  free(buf);
  free(normsf);
  free(norms);
  inc_optimizer_destroy(opt);
  inc_tensor_destroy(dl);
  inc_tensor_destroy(xt);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
  fx_free(f);
}
END_TEST

/* ---- the fixture reader itself -------------------------------------------- */

static void write_file(const char *path, const void *p, size_t n)
{
  FILE *fp = fopen(path, "wb");
  ck_assert_ptr_nonnull(fp);
  ck_assert_int_eq(fwrite(p, 1, n, fp), n);
  ck_assert_int_eq(fclose(fp), 0);
}

/* Malformed files are refused with a message, never read out of bounds. */
START_TEST(reader_rejects_malformed)
{
  static const char *const headers[] = {
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",          /* valid */
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",          /* size */
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",         /* beyond */
      "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}",          /* dtype */
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}",           /* JSON */
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",           /* overlap */
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",           /* dup */
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}",        /* number */
  };
  char path[] = "/tmp/inc_fx_XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  close(fd);
  for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
    unsigned char b[512];
    size_t hl = strlen(headers[i]);
    memset(b, 0, sizeof b);
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)((uint64_t)hl >> (8 * k));
    memcpy(b + 8, headers[i], hl);
    write_file(path, b, 8 + hl + 8);
    char err[256];
    fx_file *f = fx_read(path, err, sizeof err);
    if (i == 0) {
      ck_assert_msg(f != NULL, "valid file refused: %s", err);
      ck_assert_int_eq(f->count, 1);
      ck_assert_int_eq(fx_get(f, "a")->numel, 2);
    } else {
      ck_assert_msg(f == NULL, "malformed header %zu accepted", i);
      ck_assert_msg(err[0] != '\0', "no message for header %zu", i);
    }
    fx_free(f);
    /* a header length beyond the file */
    b[0] = 0xff;
    write_file(path, b, 8 + hl + 8);
    ck_assert_ptr_null(fx_read(path, err, sizeof err));
  }
  unlink(path);
}
END_TEST

Suite *inc_test_suite_torch(void)
{
  Suite *s = suite_create("torch");
  TCase *tc = tcase_create("layers");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, conv2d_case, 0, N_CONV);
  tcase_add_loop_test(tc, conv2d_rect_case, 0, N_CONV_RECT);
  tcase_add_loop_test(tc, max_pool_case, 0, N_POOL);
  tcase_add_loop_test(tc, avg_pool_case, 0, N_POOL);
  tcase_add_loop_test(tc, dense_case, 0, N_DENSE);
  tcase_add_test(tc, case_counts);
  tcase_add_test(tc, softmax_ce);
  tcase_add_test(tc, softmax_ce_smooth);
  tcase_add_test(tc, inception_block);
  tcase_add_loop_test(tc, resnet_a_case, 0, N_RESNET_A);
  tcase_add_test(tc, reader_rejects_malformed);
  suite_add_tcase(s, tc);
  TCase *net = tcase_create("googlenet");
  tcase_set_timeout(net, 300); /* ~0.1 GFLOP and a 6M-parameter fill; seconds normally */
  tcase_add_test(net, googlenet_names);
  tcase_add_test(net, googlenet_train_step);
  suite_add_tcase(s, net);
  return s;
}
