/*
 * test_params.c — declared tensors (src/layer.h): the init rules and shape
 * rules of a declaration, tested directly through the internal interface;
 * buffers, which no shipped kind has yet, through a test-only kind that
 * declares parameters and buffers of every init rule (tests/probe_kind.h):
 * their names, fills, reinit, unbind, persistence and the optimizer leaving
 * them alone; inc_layer_buffer_count / inc_layer_buffer on every shipped
 * kind (0 buffers); and the optimizer's state as named tensors
 * (src/optimizer.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "util.h"
#include "optimizer.h" /* private: declarations, layers, the optimizer's state */
#include "probe_kind.h"
#include "safetensors.h"

static const int64_t XD[4] = {2, 1, 5, 5};

static void bind(inc_context *ctx, inc_layer *net)
{
  int on;
  int64_t od[INC_MAX_DIMS];
  INC_CK(ctx, inc_layer_infer_shape(net, 4, XD, &on, od));
}

/* Asserts that every element of t is v. */
static void assert_all(const inc_tensor *t, float v, const char *what)
{
  float *h = tu_host(t);
  for (int64_t i = 0; i < inc_tensor_numel(t); i++)
    ck_assert_msg(h[i] == v, "%s[%lld] = %g, expected %g", what, (long long)i, (double)h[i],
                  (double)v);
  free(h);
}

static void set_all(inc_context *ctx, inc_tensor *t, float v)
{
  int64_t n = inc_tensor_numel(t);
  float *h = (float *)malloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++) h[i] = v + (float)i;
  INC_CK(ctx, inc_tensor_copy_from_host(t, h, n));
  free(h);
}

/* ------------------------------------------------------------------------ */
/* init rules and shape rules of a declaration                               */
/* ------------------------------------------------------------------------ */

START_TEST(test_init_rules)
{
  inc_context *ctx = tu_cpu();
  int64_t d[4] = {4, 3, 2, 2};
  inc_tensor *t = tu_tensor(ctx, 4, d, NULL), *ref = tu_tensor(ctx, 4, d, NULL);
  const int64_t n = 48;
  inc__tensor_decl zeros = {"z", 0, 4, {4, 3, 2, 2}, INC__INIT_ZEROS, 7.0f};
  inc__tensor_decl ones = {"o", 0, 4, {4, 3, 2, 2}, INC__INIT_ONES, 7.0f};
  inc__tensor_decl cst = {"c", 0, 4, {4, 3, 2, 2}, INC__INIT_CONSTANT, -0.1f};
  inc__tensor_decl cst0 = {"c0", 0, 4, {4, 3, 2, 2}, INC__INIT_CONSTANT, 0.0f};
  inc__tensor_decl w = {"w", 1, 4, {4, 3, 2, 2}, INC__INIT_WEIGHT, 7.0f};

  /* zeros, ones and constants draw no random stream */
  uint64_t stream = ctx->rng_stream;
  set_all(ctx, t, 5.0f);
  INC_CK(ctx, inc__decl_fill(ctx, &zeros, INC_INIT_XAVIER_UNIFORM, t));
  assert_all(t, 0.0f, "zeros");
  INC_CK(ctx, inc__decl_fill(ctx, &ones, INC_INIT_KAIMING_NORMAL, t));
  assert_all(t, 1.0f, "ones");
  INC_CK(ctx, inc__decl_fill(ctx, &cst, INC_INIT_NORMAL_001, t));
  assert_all(t, -0.1f, "constant -0.1");
  INC_CK(ctx, inc__decl_fill(ctx, &cst0, INC_INIT_NORMAL_001, t));
  assert_all(t, 0.0f, "constant 0");
  float *h = tu_host(t);
  for (int64_t i = 0; i < n; i++) ck_assert_msg(!signbit(h[i]), "constant 0 gave -0");
  free(h);
  ck_assert_uint_eq(ctx->rng_stream, stream);

  /* weight: the scheme with fans from the shape (fan_in 3*2*2 = 12,
   * fan_out 4*2*2 = 16), one stream per fill, the same numbers as the fill
   * it stands for */
  const float fi = 12.0f, fo = 16.0f;
  struct {
    inc_init scheme;
    int dist;
    float a, b;
  } want[5] = {
      {INC_INIT_XAVIER_UNIFORM, INC__FILL_UNIFORM, -sqrtf(6.0f / (fi + fo)), sqrtf(6.0f / (fi + fo))},
      {INC_INIT_XAVIER_NORMAL, INC__FILL_NORMAL, 0.0f, sqrtf(2.0f / (fi + fo))},
      {INC_INIT_KAIMING_UNIFORM, INC__FILL_UNIFORM, -sqrtf(6.0f / fi), sqrtf(6.0f / fi)},
      {INC_INIT_KAIMING_NORMAL, INC__FILL_NORMAL, 0.0f, sqrtf(2.0f / fi)},
      {INC_INIT_NORMAL_001, INC__FILL_NORMAL, 0.0f, 0.01f},
  };
  for (int k = 0; k < 5; k++) {
    uint64_t at = ctx->rng_stream;
    INC_CK(ctx, inc__decl_fill(ctx, &w, want[k].scheme, t));
    ck_assert_uint_eq(ctx->rng_stream, at + 1);
    ctx->rng_stream = at;
    INC_CK(ctx, inc__fill_random(ctx, ref->data, n, want[k].dist, want[k].a, want[k].b));
    ck_assert_uint_eq(ctx->rng_stream, at + 1);
    float *a = tu_host(t), *b = tu_host(ref);
    ck_assert_msg(!memcmp(a, b, (size_t)n * sizeof(float)), "scheme %d: not the fill", k);
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
      if (want[k].dist == INC__FILL_UNIFORM)
        ck_assert_msg(a[i] >= want[k].a && a[i] < want[k].b, "scheme %d: %g outside", k,
                      (double)a[i]);
      sum += fabs((double)a[i]);
    }
    ck_assert_msg(sum > 0.0, "scheme %d: all zeros", k);
    free(a);
    free(b);
  }
  inc_tensor_destroy(t);
  inc_tensor_destroy(ref);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_shape_rules)
{
  inc_context *ctx = tu_cpu();
  inc_layer *conv, *dense;
  INC_CK(ctx, inc_conv2d_create(ctx, 8, 5, 1, 2, &conv));
  INC_CK(ctx, inc_dense_create(ctx, 10, &dense));
  const inc__tensor_decl *cw = &conv->vt->tensors[0], *cb = &conv->vt->tensors[1];
  ck_assert_str_eq(cw->name, "weight");
  ck_assert_str_eq(cb->name, "bias");
  ck_assert_ptr_null(conv->vt->tensors[2].name);
  ck_assert(cw->trainable && cb->trainable);
  ck_assert_int_eq(cw->init, INC__INIT_WEIGHT);
  ck_assert_int_eq(cb->init, INC__INIT_ZEROS);
  inc__shape s;
  inc__decl_shape(conv, cw, 3, &s);
  ck_assert_int_eq(s.ndim, 4);
  ck_assert(s.d[0] == 8 && s.d[1] == 3 && s.d[2] == 5 && s.d[3] == 5);
  int64_t fi, fo;
  inc__decl_fans(&s, &fi, &fo); /* PyTorch: C*K*K and OC*K*K */
  ck_assert(fi == 75 && fo == 200);
  inc__decl_shape(conv, cb, 3, &s);
  ck_assert(s.ndim == 1 && s.d[0] == 8);
  inc__decl_shape(dense, &dense->vt->tensors[0], 7, &s);
  ck_assert(s.ndim == 2 && s.d[0] == 10 && s.d[1] == 7);
  inc__decl_fans(&s, &fi, &fo);
  ck_assert(fi == 7 && fo == 10);
  inc__shape v = {1, {6}};
  inc__decl_fans(&v, &fi, &fo); /* (n) counts as (n, 1) */
  ck_assert(fi == 1 && fo == 6);
  /* the weight tells what they bind to */
  ck_assert_int_eq(inc__layer_binding_tensor(conv), 0);
  ck_assert_int_eq(inc__layer_binding_tensor(dense), 0);
  /* binding from a file's shape: solved, or refused with the rule */
  int64_t bad[4] = {8, 3, 3, 3}, good[4] = {8, 6, 5, 5};
  ck_assert_int_eq(inc__layer_bind_from(conv, 0, 4, bad), INC_ERR_SHAPE);
  ck_assert_msg(strstr(inc_context_last_error(ctx),
                       "weight of shape (8, 3, 3, 3) does not fit 8 filters 5x5 s1 p2: it must "
                       "be (8, *, 5, 5)") != NULL,
                "%s", inc_context_last_error(ctx));
  ck_assert_int_eq(inc__layer_bind_from(conv, 0, 3, bad), INC_ERR_SHAPE);
  int64_t zero[4] = {8, 0, 5, 5};
  ck_assert_int_eq(inc__layer_bind_from(conv, 0, 4, zero), INC_ERR_SHAPE);
  ck_assert_int_eq(conv->bound, 0);
  ck_assert_int_eq(conv->nparams, 0);
  INC_CK(ctx, inc__layer_bind_from(conv, 0, 4, good));
  ck_assert_int_eq(conv->bound_in, 6);
  ck_assert_int_eq(inc_layer_param_numel(conv), 8 * 6 * 25 + 8);
  inc_layer_destroy(conv);
  inc_layer_destroy(dense);
  inc_context_destroy(ctx);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* buffers                                                                   */
/* ------------------------------------------------------------------------ */

/* Every shipped kind, unbound and bound: 0 buffers, and inc_layer_buffer
 * refuses index 0 with a message. */
START_TEST(test_no_kind_has_buffers)
{
  inc_context *ctx = tu_cpu();
  inc_layer *l[10];
  INC_CK(ctx, inc_conv2d_create(ctx, 4, 3, 1, 1, &l[0]));
  INC_CK(ctx, inc_max_pool2d_create(ctx, 2, 2, 0, &l[1]));
  INC_CK(ctx, inc_avg_pool2d_create(ctx, 2, 2, 0, &l[2]));
  INC_CK(ctx, inc_global_avg_pool2d_create(ctx, &l[3]));
  INC_CK(ctx, inc_relu_create(ctx, &l[4]));
  INC_CK(ctx, inc_flatten_create(ctx, &l[5]));
  INC_CK(ctx, inc_dense_create(ctx, 3, &l[6]));
  INC_CK(ctx, inc_inception_create(ctx, 2, 2, 3, 1, 2, 2, &l[7]));
  INC_CK(ctx, inc_googlenet_create(ctx, 10, &l[8]));
  inc_layer *c;
  INC_CK(ctx, inc_sequential_create(ctx, &l[9]));
  INC_CK(ctx, inc_concat_create(ctx, &c));
  INC_CK(ctx, inc_sequential_append(l[9], c));
  static const int64_t in[10][4] = {{2, 3, 8, 8}, {2, 3, 8, 8}, {2, 3, 8, 8}, {2, 3, 8, 8},
                                    {2, 3, 8, 8}, {2, 3, 8, 8}, {2, 5, 0, 0}, {2, 3, 8, 8},
                                    {1, 1, 96, 96}, {0}};
  for (int k = 0; k < 10; k++) {
    const char *name = "x";
    inc_tensor *t = (inc_tensor *)&name;
    ck_assert_int_eq(inc_layer_buffer_count(l[k]), 0);
    for (int pass = 0; pass < 2; pass++) {
      ck_assert_int_eq(inc_layer_buffer(l[k], 0, &name, &t), INC_ERR_INVALID_ARGUMENT);
      ck_assert_msg(strstr(inc_context_last_error(ctx), "buffer index 0 outside 0..-1") != NULL,
                    "%s: %s", inc_layer_kind(l[k]), inc_context_last_error(ctx));
      ck_assert_str_eq(name, "x");
      ck_assert_ptr_eq(t, (inc_tensor *)&name);
      if (pass || !in[k][0]) break;
      int on;
      int64_t od[INC_MAX_DIMS];
      INC_CK(ctx, inc_layer_infer_shape(l[k], in[k][2] ? 4 : 2, in[k], &on, od));
      ck_assert_int_eq(inc_layer_is_bound(l[k]), 1);
      ck_assert_int_eq(inc_layer_buffer_count(l[k]), 0);
    }
    inc_layer_destroy(l[k]);
  }
  ck_assert_int_eq(inc_layer_buffer_count(NULL), 0);
  ck_assert_int_eq(inc_layer_buffer(NULL, 0, NULL, NULL), INC_ERR_INVALID_ARGUMENT);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_buffers_named_and_filled)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = probe_net(ctx), *inner = inc_layer_child(net, 0);
  inc_layer *pr = inc_layer_child(inner, 1);
  ck_assert_int_eq(inc_layer_buffer_count(net), 0); /* unbound */
  ck_assert_int_eq(inc_layer_param_count(net), 0);
  uint64_t stream = ctx->rng_stream;
  bind(ctx, net);
  /* random draws: conv weight, probe proj, dense weight; nothing else */
  ck_assert_uint_eq(ctx->rng_stream, stream + 3);
  ck_assert_int_eq(inc_layer_buffer_count(net), PROBE_BUFFERS);
  ck_assert_int_eq(inc_layer_buffer_count(inner), PROBE_BUFFERS);
  ck_assert_int_eq(inc_layer_buffer_count(pr), PROBE_BUFFERS);
  ck_assert_int_eq(inc_layer_param_count(net), 2 + PROBE_PARAMS + 2);
  ck_assert_int_eq(inc_layer_param_numel(pr), PROBE_OUT * 4 + 4 + 4);
  /* parameters: depth first, declaration order, buffers not among them */
  static const char *pnames[] = {"0.0.weight", "0.0.bias", "0.1.proj", "0.1.scale",
                                 "0.1.shift", "2.weight", "2.bias"};
  for (int i = 0; i < 7; i++) {
    const char *name;
    inc_tensor *v, *g;
    INC_CK(ctx, inc_layer_param(net, i, &name, &v, &g));
    ck_assert_str_eq(name, pnames[i]);
    ck_assert_ptr_nonnull(g);
  }
  /* buffers: names relative to the layer asked, values by their rule */
  static const char *bnames[] = {"0.1.running_mean", "0.1.running_var", "0.1.eps"};
  static const char *inames[] = {"1.running_mean", "1.running_var", "1.eps"};
  static const char *lnames[] = {"running_mean", "running_var", "eps"};
  static const float value[] = {0.0f, 1.0f, -2.5f};
  static const int64_t numel[] = {4, 4, 2};
  for (int i = 0; i < PROBE_BUFFERS; i++) {
    const char *name, *iname, *lname;
    inc_tensor *t, *ti, *tl;
    INC_CK(ctx, inc_layer_buffer(net, i, &name, &t));
    INC_CK(ctx, inc_layer_buffer(inner, i, &iname, &ti));
    INC_CK(ctx, inc_layer_buffer(pr, i, &lname, NULL));
    INC_CK(ctx, inc_layer_buffer(pr, i, NULL, &tl));
    ck_assert_str_eq(name, bnames[i]);
    ck_assert_str_eq(iname, inames[i]);
    ck_assert_str_eq(lname, lnames[i]);
    ck_assert_ptr_eq(t, ti);
    ck_assert_ptr_eq(t, tl);
    ck_assert_int_eq(inc_tensor_numel(t), numel[i]);
    ck_assert_int_eq(inc_tensor_ndim(t), 1);
    assert_all(t, value[i], bnames[i]);
    inc_tensor_destroy(t); /* owned by the layer: a no-op */
  }
  inc_tensor *sc, *sh;
  INC_CK(ctx, inc_layer_param(pr, 1, NULL, &sc, NULL));
  INC_CK(ctx, inc_layer_param(pr, 2, NULL, &sh, NULL));
  assert_all(sc, 1.0f, "scale");
  assert_all(sh, 0.0f, "shift");
  ck_assert_int_eq(inc_layer_buffer(net, 3, NULL, NULL), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_layer_buffer(net, -1, NULL, NULL), INC_ERR_INVALID_ARGUMENT);
  /* a renamed layer renames its buffers */
  INC_CK(ctx, inc_layer_set_name(pr, "bn"));
  const char *name;
  INC_CK(ctx, inc_layer_buffer(net, 1, &name, NULL));
  ck_assert_str_eq(name, "0.bn.running_var");
  /* unbound: none; bound again on the next forward, with fresh fills */
  INC_CK(ctx, inc_layer_unbind(net));
  ck_assert_int_eq(inc_layer_buffer_count(net), 0);
  ck_assert_int_eq(inc_layer_buffer(net, 0, NULL, NULL), INC_ERR_INVALID_ARGUMENT);
  float xh[50];
  tu_fill(xh, 50, 3, -1, 1);
  inc_tensor *x = tu_tensor(ctx, 4, XD, xh);
  const inc_tensor *y;
  INC_CK(ctx, inc_layer_forward(net, x, 1, &y));
  ck_assert_int_eq(inc_layer_buffer_count(net), PROBE_BUFFERS);
  inc_tensor *t;
  INC_CK(ctx, inc_layer_buffer(net, 2, &name, &t));
  ck_assert_str_eq(name, "0.bn.eps");
  assert_all(t, -2.5f, "eps after rebinding");
  inc_tensor_destroy(x);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_buffers_reinit)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = probe_net(ctx);
  bind(ctx, net);
  inc_tensor *b[PROBE_BUFFERS];
  for (int i = 0; i < PROBE_BUFFERS; i++) {
    INC_CK(ctx, inc_layer_buffer(net, i, NULL, &b[i]));
    set_all(ctx, b[i], 40.0f);
  }
  /* without force nothing is refilled */
  INC_CK(ctx, inc_layer_initialize(net, INC_INIT_KAIMING_UNIFORM, 0));
  float *h = tu_host(b[1]);
  ck_assert(h[0] == 40.0f && h[3] == 43.0f);
  free(h);
  /* with force every declared tensor is refilled in place, shapes kept */
  uint64_t stream = ctx->rng_stream;
  INC_CK(ctx, inc_layer_initialize(net, INC_INIT_KAIMING_UNIFORM, 1));
  ck_assert_uint_eq(ctx->rng_stream, stream + 3);
  static const float value[] = {0.0f, 1.0f, -2.5f};
  for (int i = 0; i < PROBE_BUFFERS; i++) {
    inc_tensor *t;
    INC_CK(ctx, inc_layer_buffer(net, i, NULL, &t));
    ck_assert_ptr_eq(t, b[i]);
    assert_all(t, value[i], "a buffer after a forced reinit");
  }
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

/* The tensor names of a safetensors file, sorted, joined by ' '. */
static void file_names(const char *path, char *out, size_t cap)
{
  unsigned char *data;
  size_t size;
  inc__st_file f;
  char msg[256];
  ck_assert_int_eq(inc__read_file(path, &data, &size, msg, sizeof msg), INC_OK);
  ck_assert_int_eq(inc__st_parse(data, size, &f, msg, sizeof msg), INC_OK);
  size_t used = 0;
  out[0] = '\0';
  for (int i = 0; i < f.n && used < cap; i++)
    used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? " " : "", f.by_name[i]->name);
  inc__st_free(&f);
  inc__free(data);
}

START_TEST(test_buffers_persist)
{
  inc_context *ctx = tu_cpu();
  inc_layer *a = probe_net(ctx);
  bind(ctx, a);
  for (int i = 0; i < PROBE_BUFFERS; i++) {
    inc_tensor *t;
    INC_CK(ctx, inc_layer_buffer(a, i, NULL, &t));
    set_all(ctx, t, 10.0f * (float)(i + 1));
  }
  /* the optimizer steps parameters only and keeps no state for buffers */
  inc_optimizer *opt;
  INC_CK(ctx, inc_sgd_create(ctx, 0.1f, 0.9f, 0.01f, &opt));
  for (int i = 0; i < inc_layer_param_count(a); i++) {
    inc_tensor *g;
    INC_CK(ctx, inc_layer_param(a, i, NULL, NULL, &g));
    set_all(ctx, g, 0.5f);
  }
  INC_CK(ctx, inc_optimizer_step(opt, a));
  ck_assert_int_eq(opt->n, inc_layer_param_count(a));
  inc_tensor *t;
  INC_CK(ctx, inc_layer_buffer(a, 0, NULL, &t));
  float *h = tu_host(t);
  ck_assert(h[0] == 10.0f && h[3] == 13.0f);
  free(h);

  const char *path = tu_tmp_path("params-ck.safetensors");
  INC_CK(ctx, inc_checkpoint_save(a, opt, 0, NULL, NULL, path));
  char names[1024];
  file_names(path, names, sizeof names);
  ck_assert_str_eq(names,
                   "0.0.bias 0.0.weight 0.1.eps 0.1.proj 0.1.running_mean 0.1.running_var "
                   "0.1.scale 0.1.shift 2.bias 2.weight "
                   "momentum/0.0.bias momentum/0.0.weight momentum/0.1.proj momentum/0.1.scale "
                   "momentum/0.1.shift momentum/2.bias momentum/2.weight");

  /* an unbound model binds from the file and gets the buffers back */
  inc_layer *b = probe_net(ctx);
  inc_optimizer *ob;
  INC_CK(ctx, inc_sgd_create(ctx, 1.0f, 0.9f, 0.01f, &ob));
  INC_CK(ctx, inc_checkpoint_load(b, ob, path));
  ck_assert_int_eq(inc_layer_buffer_count(b), PROBE_BUFFERS);
  for (int i = 0; i < PROBE_BUFFERS; i++) {
    inc_tensor *ta, *tb;
    INC_CK(ctx, inc_layer_buffer(a, i, NULL, &ta));
    INC_CK(ctx, inc_layer_buffer(b, i, NULL, &tb));
    float *ha = tu_host(ta), *hb = tu_host(tb);
    ck_assert(!memcmp(ha, hb, (size_t)inc_tensor_numel(ta) * sizeof(float)));
    ck_assert(hb[0] == 10.0f * (float)(i + 1));
    free(ha);
    free(hb);
  }
  ck_assert_int_eq(ob->n, inc_layer_param_count(b));
  /* plain save and load too */
  INC_CK(ctx, inc_layer_save(a, path));
  file_names(path, names, sizeof names);
  ck_assert(strstr(names, "0.1.running_var") != NULL && strstr(names, "momentum/") == NULL);
  inc_layer *c = probe_net(ctx);
  INC_CK(ctx, inc_layer_load(c, path));
  INC_CK(ctx, inc_layer_buffer(c, 2, NULL, &t));
  h = tu_host(t);
  ck_assert(h[0] == 30.0f && h[1] == 31.0f);
  free(h);
  inc_layer_destroy(c);
  inc_optimizer_destroy(opt);
  inc_optimizer_destroy(ob);
  inc_layer_destroy(a);
  inc_layer_destroy(b);
  unlink(path);
  inc_context_destroy(ctx);
}
END_TEST

/* A file without a buffer the model has: INC_ERR_SHAPE naming it, the model
 * left unbound, the random stream where it was. */
START_TEST(test_buffers_missing_from_file)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net;
  INC_CK(ctx, inc_sequential_create(ctx, &net));
  INC_CK(ctx, inc_sequential_append(net, probe(ctx)));
  const char *path = tu_tmp_path("params-old.safetensors");
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  /* proj (3, 2), scale, shift (2) and running_mean, eps: no running_var */
  const char *json =
      "{\"0.proj\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]},"
      "\"0.scale\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]},"
      "\"0.shift\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[32,40]},"
      "\"0.running_mean\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[40,48]},"
      "\"0.eps\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[48,56]}}";
  uint64_t len = strlen(json);
  unsigned char hdr[8];
  for (int i = 0; i < 8; i++) hdr[i] = (unsigned char)(len >> (8 * i));
  unsigned char data[56] = {0};
  ck_assert(fwrite(hdr, 1, 8, f) == 8 && fwrite(json, 1, len, f) == len &&
            fwrite(data, 1, sizeof data, f) == sizeof data);
  fclose(f);
  uint64_t stream = ctx->rng_stream;
  ck_assert_int_eq(inc_layer_load(net, path), INC_ERR_SHAPE);
  ck_assert_msg(strstr(inc_context_last_error(ctx), "no tensor \"0.running_var\"") != NULL, "%s",
                inc_context_last_error(ctx));
  ck_assert_int_eq(inc_layer_is_bound(net), 0);
  ck_assert_int_eq(inc_layer_buffer_count(net), 0);
  ck_assert_uint_eq(ctx->rng_stream, stream);
  unlink(path);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* the optimizer's state as named tensors                                    */
/* ------------------------------------------------------------------------ */

START_TEST(test_optimizer_state_names)
{
  inc_context *ctx = tu_cpu();
  inc_layer *net = probe_net(ctx);
  bind(ctx, net);
  inc_optimizer *opt;
  INC_CK(ctx, inc_sgd_create(ctx, 0.1f, 0.9f, 0.0f, &opt));
  inc__opt_state st;
  INC_CK(ctx, inc__opt_state_list(opt, net, &st));
  ck_assert_int_eq(st.n, inc_layer_param_count(net));
  for (int i = 0; i < st.n; i++) {
    const char *name;
    inc_tensor *v;
    INC_CK(ctx, inc_layer_param(net, i, &name, &v, NULL));
    char want[256];
    snprintf(want, sizeof want, "momentum/%s", name);
    ck_assert_str_eq(st.names[i], want);
    ck_assert(inc__opt_is_state(st.names[i]) && !inc__opt_is_state(name));
    ck_assert_ptr_eq(st.params[i], v);
    ck_assert_ptr_null(st.held[i]); /* no step yet */
  }
  inc__opt_state_free(&st);
  /* relative to a subtree: the subtree's names */
  INC_CK(ctx, inc_optimizer_step(opt, net));
  INC_CK(ctx, inc__opt_state_list(opt, inc_layer_child(net, 2), &st));
  ck_assert_int_eq(st.n, 2);
  ck_assert_str_eq(st.names[0], "momentum/weight");
  ck_assert_str_eq(st.names[1], "momentum/bias");
  ck_assert_ptr_nonnull(st.held[0]);
  ck_assert_ptr_nonnull(st.held[1]);
  /* install: the one loaded replaces, the one not loaded is dropped */
  int before = opt->n;
  INC_CK(ctx, inc__opt_state_make(opt, &st, 0));
  set_all(ctx, st.loaded[0], 3.0f);
  inc_tensor *loaded = st.loaded[0];
  inc__opt_state_install(opt, &st);
  ck_assert_ptr_null(st.loaded[0]);
  ck_assert_int_eq(opt->n, before - 1);
  inc__opt_state_free(&st);
  INC_CK(ctx, inc__opt_state_list(opt, inc_layer_child(net, 2), &st));
  ck_assert_ptr_eq(st.held[0], loaded);
  ck_assert_ptr_null(st.held[1]);
  inc__opt_state_free(&st);
  /* made but not installed: freed with the list */
  INC_CK(ctx, inc__opt_state_list(opt, net, &st));
  INC_CK(ctx, inc__opt_state_make(opt, &st, 1));
  inc__opt_state_free(&st);
  ck_assert_int_eq(opt->n, before - 1);
  inc_optimizer_destroy(opt);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

Suite *inc_test_suite_params(void)
{
  Suite *s = suite_create("params");
  TCase *tc = tcase_create("declared");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_init_rules);
  tcase_add_test(tc, test_shape_rules);
  tcase_add_test(tc, test_no_kind_has_buffers);
  tcase_add_test(tc, test_buffers_named_and_filled);
  tcase_add_test(tc, test_buffers_reinit);
  tcase_add_test(tc, test_buffers_persist);
  tcase_add_test(tc, test_buffers_missing_from_file);
  tcase_add_test(tc, test_optimizer_state_names);
  suite_add_tcase(s, tc);
  return s;
}
