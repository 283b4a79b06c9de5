/*
 * test_persist.c — safetensors save/load: round trips into bound and
 * unbound models (one of residual blocks), checkpoints with optimizer state and metadata, and the
 * reader's refusals (truncated, malformed, mismatched files), after which
 * the model must be unchanged; a checkpoint written by libinception 0.2.0
 * loads, and is written again byte for byte; rectangular convolutions and
 * convolutions without bias (which own "weight" alone) round trip, and a
 * file of the other variant is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ckpt_scenario.h"
#include "fixture.h"
#include "util.h"

/* A small net: conv 3x3 -> relu -> maxpool -> inception -> gap -> flatten -> dense */
static inc_layer *small_net(inc_context *ctx, int in_ch)
{
  inc_layer *seq, *l;
  INC_CK(ctx, inc_sequential_create(ctx, &seq));
  INC_CK(ctx, inc_conv2d_create(ctx, 6, 3, 1, 1, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_relu_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_max_pool2d_create(ctx, 3, 2, 1, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_inception_create(ctx, 2, 2, 3, 1, 2, 2, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_global_avg_pool2d_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_flatten_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_dense_create(ctx, 4, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  if (in_ch) {
    int64_t in[4] = {1, in_ch, 8, 8}, od[8];
    int on;
    INC_CK(ctx, inc_layer_infer_shape(seq, 4, in, &on, od));
  }
  return seq;
}

/* All parameters of a model, concatenated on the host. */
static float *all_params(inc_context *ctx, inc_layer *m, int64_t *total)
{
  *total = inc_layer_param_numel(m);
  float *out = (float *)malloc((size_t)*total * sizeof(float) + 1);
  int64_t at = 0;
  for (int i = 0; i < inc_layer_param_count(m); i++) {
    inc_tensor *v;
    INC_CK(ctx, inc_layer_param(m, i, NULL, &v, NULL));
    INC_CK(ctx, inc_tensor_copy_to_host(v, out + at, inc_tensor_numel(v)));
    at += inc_tensor_numel(v);
  }
  return out;
}

START_TEST(test_roundtrip_unbound)
{
  inc_context *ctx = tu_cpu();
  inc_layer *a = small_net(ctx, 3), *b = small_net(ctx, 0);
  const char *path = tu_tmp_path("rt.safetensors");
  INC_CK(ctx, inc_layer_save(a, path));
  ck_assert_int_eq(inc_layer_is_bound(b), 0);
  INC_CK(ctx, inc_layer_load(b, path));
  ck_assert_int_eq(inc_layer_is_bound(b), 1);
  int64_t na, nb;
  float *pa = all_params(ctx, a, &na), *pb = all_params(ctx, b, &nb);
  ck_assert_int_eq(na, nb);
  ck_assert(memcmp(pa, pb, (size_t)na * sizeof(float)) == 0);
  /* same outputs, at another image size too */
  int64_t in[4] = {2, 3, 11, 9};
  float xh[2 * 3 * 11 * 9];
  tu_fill(xh, 2 * 3 * 11 * 9, 9, -1, 1);
  inc_tensor *x = tu_tensor(ctx, 4, in, xh);
  const inc_tensor *ya, *yb;
  INC_CK(ctx, inc_layer_forward(a, x, 0, &ya));
  float *ha = tu_host(ya);
  INC_CK(ctx, inc_layer_forward(b, x, 0, &yb));
  float *hb = tu_host(yb);
  ck_assert(memcmp(ha, hb, 8 * sizeof(float)) == 0);
  /* loading into a bound model of the same shapes works too */
  INC_CK(ctx, inc_layer_initialize(b, INC_INIT_KAIMING_NORMAL, 1));
  INC_CK(ctx, inc_layer_load(b, path));
  free(pb);
  pb = all_params(ctx, b, &nb);
  ck_assert(memcmp(pa, pb, (size_t)na * sizeof(float)) == 0);
  unlink(path);
  free(pa); free(pb); free(ha); free(hb);
  inc_tensor_destroy(x);
  inc_layer_destroy(a);
  inc_layer_destroy(b);
  inc_context_destroy(ctx);
}
END_TEST

/* residual(identity, sequential(inception, 1x1 conv back to c channels)) */
static inc_layer *res_block(inc_context *ctx, int c, float scale)
{
  inc_layer *res, *branch, *l;
  INC_CK(ctx, inc_residual_create(ctx, &res));
  INC_CK(ctx, inc_identity_create(ctx, &l));
  INC_CK(ctx, inc_residual_add_branch(res, l, 1.0f));
  INC_CK(ctx, inc_sequential_create(ctx, &branch));
  INC_CK(ctx, inc_inception_create(ctx, 2, 2, 3, 1, 2, 2, &l));
  INC_CK(ctx, inc_sequential_append(branch, l));
  INC_CK(ctx, inc_conv2d_create(ctx, c, 1, 1, 0, &l));
  INC_CK(ctx, inc_sequential_append(branch, l));
  INC_CK(ctx, inc_residual_add_branch(res, branch, scale));
  return res;
}

/* conv 3x3 (6) -> relu -> two residual blocks (scales 0.2 and 0.3), each
 * followed by a relu -> gap -> flatten -> dense 4 */
static inc_layer *res_net(inc_context *ctx)
{
  inc_layer *seq, *l;
  INC_CK(ctx, inc_sequential_create(ctx, &seq));
  INC_CK(ctx, inc_conv2d_create(ctx, 6, 3, 1, 1, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  for (int b = 0; b < 2; b++) {
    INC_CK(ctx, inc_relu_create(ctx, &l));
    INC_CK(ctx, inc_sequential_append(seq, l));
    INC_CK(ctx, inc_sequential_append(seq, res_block(ctx, 6, b ? 0.3f : 0.2f)));
  }
  INC_CK(ctx, inc_global_avg_pool2d_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_flatten_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_dense_create(ctx, 4, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  return seq;
}

/* A net of residual blocks, trained a step, saved and loaded into a fresh
 * (unbound) one built alike: the residuals hold no tensor (their scales are
 * settings of the model, not in the file), the names follow the tree, and
 * the loaded net computes the same outputs, bit for bit. */
START_TEST(test_roundtrip_residual)
{
  inc_context *ctx = tu_cpu();
  inc_layer *a = res_net(ctx), *b = res_net(ctx);
  int64_t in[4] = {2, 3, 7, 9}, ld[2] = {2, 4};
  float xh[2 * 3 * 7 * 9];
  tu_fill(xh, 2 * 3 * 7 * 9, 21, -1, 1);
  inc_tensor *x = tu_tensor(ctx, 4, in, xh), *dl = tu_tensor(ctx, 2, ld, NULL);
  const int32_t labels[2] = {1, 3};
  const inc_tensor *ya, *yb;
  float loss;
  inc_optimizer *opt;
  INC_CK(ctx, inc_sgd_create(ctx, 0.1f, 0.9f, 0.0f, &opt));
  INC_CK(ctx, inc_layer_forward(a, x, 1, &ya));
  INC_CK(ctx, inc_softmax_cross_entropy(ctx, ya, labels, &loss, dl, NULL));
  INC_CK(ctx, inc_layer_backward(a, dl, NULL));
  INC_CK(ctx, inc_optimizer_step(opt, a));
  const char *name;
  INC_CK(ctx, inc_layer_param(a, 2, &name, NULL, NULL));
  ck_assert_str_eq(name, "2.1.0.p1.0.weight");
  ck_assert_int_eq(inc_layer_param_count(a), 2 + 2 * 14 + 2);
  const char *path = tu_tmp_path("res.safetensors");
  INC_CK(ctx, inc_layer_save(a, path));
  INC_CK(ctx, inc_layer_load(b, path));
  int64_t na, nb;
  float *pa = all_params(ctx, a, &na), *pb = all_params(ctx, b, &nb);
  ck_assert_int_eq(na, nb);
  ck_assert(memcmp(pa, pb, (size_t)na * sizeof(float)) == 0);
  INC_CK(ctx, inc_layer_forward(a, x, 0, &ya));
  float *ha = tu_host(ya);
  INC_CK(ctx, inc_layer_forward(b, x, 0, &yb));
  float *hb = tu_host(yb);
  ck_assert(memcmp(ha, hb, 8 * sizeof(float)) == 0);
  unlink(path);
  free(pa); free(pb); free(ha); free(hb);
  inc_optimizer_destroy(opt);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dl);
  inc_layer_destroy(a);
  inc_layer_destroy(b);
  inc_context_destroy(ctx);
}
END_TEST

/* conv 1x7 p(0,3) without bias -> relu -> conv 7x1 p(3,0) (bias as given)
 * -> conv 3x1 s(2,1) p(1,0) without bias -> gap -> flatten -> dense 2; bound
 * to 3 input channels when bind. */
static inc_layer *rect_net(inc_context *ctx, int mid_bias, int bind)
{
  const int g[3][8] = {{4, 1, 7, 1, 1, 0, 3, 0}, {5, 7, 1, 1, 1, 3, 0, mid_bias},
                       {3, 3, 1, 2, 1, 1, 0, 0}};
  inc_layer *seq, *l;
  INC_CK(ctx, inc_sequential_create(ctx, &seq));
  for (int i = 0; i < 3; i++) {
    inc_conv2d_desc d = tu_conv_desc(g[i]);
    INC_CK(ctx, inc_conv2d_create_desc(ctx, &d, &l));
    INC_CK(ctx, inc_sequential_append(seq, l));
    if (i == 0) {
      INC_CK(ctx, inc_relu_create(ctx, &l));
      INC_CK(ctx, inc_sequential_append(seq, l));
    }
  }
  INC_CK(ctx, inc_global_avg_pool2d_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_flatten_create(ctx, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  INC_CK(ctx, inc_dense_create(ctx, 2, &l));
  INC_CK(ctx, inc_sequential_append(seq, l));
  if (bind) {
    int64_t in[4] = {1, 3, 9, 9}, od[8];
    int on;
    INC_CK(ctx, inc_layer_infer_shape(seq, 4, in, &on, od));
  }
  return seq;
}

START_TEST(test_roundtrip_rect_nobias)
{
  inc_context *ctx = tu_cpu();
  inc_layer *a = rect_net(ctx, 1, 1), *b = rect_net(ctx, 1, 0);
  const char *path = tu_tmp_path("rect.safetensors");
  INC_CK(ctx, inc_layer_save(a, path));
  /* the file holds the tensors the layers declare: no bias for 0 and 3 */
  char err[256];
  fx_file *f = fx_read(path, err, sizeof err);
  ck_assert_msg(f != NULL, "%s", err);
  ck_assert_int_eq(f->count, 6);
  static const char *const names[6] = {"0.weight", "2.weight", "2.bias",
                                       "3.weight", "6.weight", "6.bias"};
  static const int64_t wshape[3][4] = {{4, 3, 1, 7}, {5, 4, 7, 1}, {3, 5, 3, 1}};
  static const int conv_weight[3] = {0, 1, 3}; /* names[] of the convolutions' weights */
  for (int i = 0; i < 6; i++) ck_assert_msg(fx_get(f, names[i]) != NULL, "no %s", names[i]);
  for (int i = 0; i < 3; i++) {
    const fx_tensor *t = fx_get(f, names[conv_weight[i]]);
    ck_assert_int_eq(t->ndim, 4);
    for (int d = 0; d < 4; d++) ck_assert_int_eq(t->dims[d], wshape[i][d]);
  }
  ck_assert_ptr_null(fx_get(f, "0.bias"));
  ck_assert_ptr_null(fx_get(f, "3.bias"));
  fx_free(f);
  /* into an unbound model: it binds from the weights' shapes */
  INC_CK(ctx, inc_layer_load(b, path));
  ck_assert_int_eq(inc_layer_is_bound(b), 1);
  ck_assert_int_eq(inc_layer_param_count(b), 6);
  int64_t na, nb;
  float *pa = all_params(ctx, a, &na), *pb = all_params(ctx, b, &nb);
  ck_assert_int_eq(na, nb);
  ck_assert(memcmp(pa, pb, (size_t)na * sizeof(float)) == 0);
  int64_t in[4] = {2, 3, 11, 8};
  float xh[2 * 3 * 11 * 8];
  tu_fill(xh, 2 * 3 * 11 * 8, 19, -1, 1);
  inc_tensor *x = tu_tensor(ctx, 4, in, xh);
  const inc_tensor *ya, *yb;
  INC_CK(ctx, inc_layer_forward(a, x, 0, &ya));
  float *ha = tu_host(ya);
  INC_CK(ctx, inc_layer_forward(b, x, 0, &yb));
  float *hb = tu_host(yb);
  ck_assert(memcmp(ha, hb, 4 * sizeof(float)) == 0);
  /* the other variant: a file with 2.bias into a model without it, and the
   * reverse; both refused, the model left as it was */
  inc_layer *c = rect_net(ctx, 0, 1);
  int64_t nc0, nc1;
  float *c0 = all_params(ctx, c, &nc0);
  ck_assert_int_eq(inc_layer_load(c, path), INC_ERR_SHAPE);
  ck_assert_msg(strstr(inc_context_last_error(ctx), "\"2.bias\" that the model lacks") != NULL,
                "%s", inc_context_last_error(ctx));
  float *c1 = all_params(ctx, c, &nc1);
  ck_assert(nc0 == nc1 && memcmp(c0, c1, (size_t)nc0 * sizeof(float)) == 0);
  const char *path2 = tu_tmp_path("rect-nobias.safetensors");
  INC_CK(ctx, inc_layer_save(c, path2));
  ck_assert_int_eq(inc_layer_load(a, path2), INC_ERR_SHAPE);
  ck_assert_msg(strstr(inc_context_last_error(ctx), "no tensor \"2.bias\"") != NULL, "%s",
                inc_context_last_error(ctx));
  free(pb);
  pb = all_params(ctx, a, &nb);
  ck_assert(memcmp(pa, pb, (size_t)na * sizeof(float)) == 0);
  unlink(path);
  unlink(path2);
  free(pa); free(pb); free(ha); free(hb); free(c0); free(c1);
  inc_tensor_destroy(x);
  inc_layer_destroy(a);
  inc_layer_destroy(b);
  inc_layer_destroy(c);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_mismatch_leaves_model_unchanged)
{
  inc_context *ctx = tu_cpu();
  inc_layer *a = small_net(ctx, 3), *b = small_net(ctx, 1), *c = small_net(ctx, 0);
  const char *path = tu_tmp_path("mm.safetensors");
  INC_CK(ctx, inc_layer_save(a, path));
  int64_t n0, n1;
  float *before = all_params(ctx, b, &n0);
  ck_assert_int_eq(inc_layer_load(b, path), INC_ERR_SHAPE);
  ck_assert(strstr(inc_context_last_error(ctx), "\"0.weight\" is (6, 3, 3, 3) in the file but (6, 1, 3, 3)") != NULL);
  float *after = all_params(ctx, b, &n1);
  ck_assert(memcmp(before, after, (size_t)n0 * sizeof(float)) == 0);
  /* a model with one layer more: the file lacks its tensors; c stays unbound */
  inc_layer *extra;
  INC_CK(ctx, inc_dense_create(ctx, 3, &extra));
  INC_CK(ctx, inc_sequential_append(c, extra));
  ck_assert_int_eq(inc_layer_load(c, path), INC_ERR_SHAPE);
  ck_assert(strstr(inc_context_last_error(ctx), "no tensor \"7.weight\"") != NULL);
  ck_assert_int_eq(inc_layer_is_bound(c), 0);
  ck_assert_int_eq(inc_layer_param_count(c), 0);
  /* a model with one layer less: the file has a tensor the model lacks */
  inc_layer *d = small_net(ctx, 0);
  inc_layer *bigger = small_net(ctx, 3);
  INC_CK(ctx, inc_dense_create(ctx, 3, &extra));
  INC_CK(ctx, inc_sequential_append(bigger, extra));
  int64_t in[4] = {1, 3, 8, 8}, od[8];
  int on;
  INC_CK(ctx, inc_layer_infer_shape(bigger, 4, in, &on, od));
  INC_CK(ctx, inc_layer_save(bigger, path));
  ck_assert_int_eq(inc_layer_load(d, path), INC_ERR_SHAPE);
  ck_assert(strstr(inc_context_last_error(ctx), "\"7.weight\" that the model lacks") != NULL);
  ck_assert_int_eq(inc_layer_is_bound(d), 0);
  /* missing files and bad arguments */
  ck_assert_int_eq(inc_layer_load(d, "/nonexistent/x.safetensors"), INC_ERR_IO);
  ck_assert(strstr(inc_context_last_error(ctx), "/nonexistent/x.safetensors") != NULL);
  ck_assert_int_eq(inc_layer_load(d, NULL), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_layer_save(d, path), INC_ERR_STATE); /* unbound */
  ck_assert_int_eq(inc_layer_save(a, "/nonexistent/dir/x.safetensors"), INC_ERR_IO);
  unlink(path);
  free(before); free(after);
  inc_layer_destroy(a); inc_layer_destroy(b); inc_layer_destroy(c);
  inc_layer_destroy(d); inc_layer_destroy(bigger);
  inc_context_destroy(ctx);
}
END_TEST

static void write_bytes(const char *path, const void *data, size_t n)
{
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(data, 1, n, f), n);
  fclose(f);
}

/* Writes a file of header `json` followed by `data_bytes` zero bytes. */
static void write_st(const char *path, const char *json, size_t data_bytes)
{
  size_t hl = strlen(json);
  unsigned char *b = (unsigned char *)calloc(1, 8 + hl + data_bytes + 1);
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(b + 8, json, hl);
  write_bytes(path, b, 8 + hl + data_bytes);
  free(b);
}

START_TEST(test_malformed_files)
{
  inc_context *ctx = tu_cpu();
  inc_layer *d;
  INC_CK(ctx, inc_dense_create(ctx, 2, &d));
  const char *path = tu_tmp_path("bad.safetensors");
  static const struct {
    const char *json;
    size_t data;
    const char *msg;
  } cases[] = {
      {"{\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
       "\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}}", 31, "cover"},
      {"{\"weight\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]}}", 12, "only F32"},
      {"{\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20, "shape needs 24"},
      {"{\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[4,28]}}", 28, "tiled"},
      {"{\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
       "\"weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}}", 32, "duplicate"},
      {"{\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}", 24, "expected"},
      {"{\"weight\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,24]}}", 24, "integer"},
      {"{\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3.5],\"data_offsets\":[0,24]}}", 24, "fraction"},
      {"{\"__metadata__\":{\"a\":1}}", 0, "must be strings"},
      {"{\"__metadata__\":{\"a\":\"x\",\"a\":\"y\"}}", 0, "duplicate key"},
      {"{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999,99999999999,99999999999],"
       "\"data_offsets\":[0,4]}}", 4, "too large"},
      {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", 4, "unknown"},
      {"[]", 0, "JSON object"},
      {"{} x", 0, "trailing"},
      {"{\"a\\q\":{}}", 0, "bad escape"},
      {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "too long"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_st(path, cases[i].json, cases[i].data);
    ck_assert_int_eq(inc_layer_load(d, path), INC_ERR_FORMAT);
    ck_assert_msg(strstr(inc_context_last_error(ctx), cases[i].msg) != NULL, "case %zu: %s", i,
                  inc_context_last_error(ctx));
    ck_assert_int_eq(inc_layer_is_bound(d), 0);
  }
  /* header length beyond the file, and files too short to hold one */
  unsigned char hdr[12] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
  write_bytes(path, hdr, sizeof hdr);
  ck_assert_int_eq(inc_layer_load(d, path), INC_ERR_FORMAT);
  ck_assert(strstr(inc_context_last_error(ctx), "out of bounds") != NULL);
  write_bytes(path, hdr, 5);
  ck_assert_int_eq(inc_layer_load(d, path), INC_ERR_FORMAT);
  write_bytes(path, hdr, 0);
  ck_assert_int_eq(inc_layer_load(d, path), INC_ERR_FORMAT);
  /* a valid file whose shapes do not fit: INC_ERR_SHAPE */
  write_st(path, "{\"weight\":{\"dtype\":\"F32\",\"shape\":[3,3],\"data_offsets\":[0,36]},"
                 "\"bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[36,48]}}", 48);
  ck_assert_int_eq(inc_layer_load(d, path), INC_ERR_SHAPE);
  ck_assert(strstr(inc_context_last_error(ctx), "does not fit 2 outputs") != NULL);
  ck_assert_int_eq(inc_layer_is_bound(d), 0);
  /* and a valid one that does: binds to 3 input features */
  write_st(path, "{\"__metadata__\":{\"k\":\"v\\u00e9\\n\"},"
                 "\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                 "\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}}", 32);
  INC_CK(ctx, inc_layer_load(d, path));
  ck_assert_int_eq(inc_layer_param_numel(d), 8);
  char meta[16];
  size_t need;
  ck_assert_int_eq(inc_checkpoint_metadata(path, "k", meta, sizeof meta, &need), INC_OK);
  ck_assert_str_eq(meta, "v\xc3\xa9\n");
  ck_assert_uint_eq(need, 5);
  ck_assert_int_eq(inc_checkpoint_metadata(path, "missing", meta, sizeof meta, &need), INC_OK);
  ck_assert_uint_eq(need, 0);
  ck_assert_str_eq(meta, "");
  unlink(path);
  inc_layer_destroy(d);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_checkpoint_optimizer)
{
  inc_context *ctx = tu_cpu();
  inc_layer *a = small_net(ctx, 1);
  inc_optimizer *opt;
  INC_CK(ctx, inc_sgd_create(ctx, 0.05f, 0.9f, 1e-4f, &opt));
  int64_t in[4] = {4, 1, 8, 8}, ld[2] = {4, 4};
  float xh[4 * 64];
  tu_fill(xh, 4 * 64, 2, 0, 1);
  inc_tensor *x = tu_tensor(ctx, 4, in, xh), *dl = tu_tensor(ctx, 2, ld, NULL);
  int32_t lab[4] = {0, 1, 2, 3};
  const inc_tensor *y, *dx;
  float loss;
  for (int it = 0; it < 2; it++) {
    INC_CK(ctx, inc_layer_forward(a, x, 1, &y));
    INC_CK(ctx, inc_softmax_cross_entropy(ctx, y, lab, &loss, dl, NULL));
    INC_CK(ctx, inc_layer_backward(a, dl, &dx));
    INC_CK(ctx, inc_optimizer_step(opt, a));
  }
  const char *path = tu_tmp_path("ck.safetensors");
  const char *keys[2] = {"epoch", "note"}, *vals[2] = {"2", "quote \" and \\ ok"};
  INC_CK(ctx, inc_checkpoint_save(a, opt, 2, keys, vals, path));
  /* continue the original for one step */
  INC_CK(ctx, inc_layer_forward(a, x, 1, &y));
  INC_CK(ctx, inc_softmax_cross_entropy(ctx, y, lab, &loss, dl, NULL));
  INC_CK(ctx, inc_layer_backward(a, dl, &dx));
  INC_CK(ctx, inc_optimizer_step(opt, a));
  int64_t n;
  float *pa = all_params(ctx, a, &n);
  /* restore into a fresh model and optimizer, take the same step */
  inc_layer *b = small_net(ctx, 0);
  inc_optimizer *ob;
  INC_CK(ctx, inc_sgd_create(ctx, 1.0f, 0.9f, 1e-4f, &ob));
  INC_CK(ctx, inc_checkpoint_load(b, ob, path));
  ck_assert(inc_optimizer_lr(ob) == 0.05f);
  INC_CK(ctx, inc_layer_forward(b, x, 1, &y));
  INC_CK(ctx, inc_softmax_cross_entropy(ctx, y, lab, &loss, dl, NULL));
  INC_CK(ctx, inc_layer_backward(b, dl, &dx));
  INC_CK(ctx, inc_optimizer_step(ob, b));
  float *pb = all_params(ctx, b, &n);
  ck_assert(memcmp(pa, pb, (size_t)n * sizeof(float)) == 0);
  char buf[64];
  INC_CK(ctx, inc_checkpoint_metadata(path, "note", buf, sizeof buf, NULL));
  ck_assert_str_eq(buf, vals[1]);
  /* plain inc_layer_load ignores the optimizer tensors */
  inc_layer *c = small_net(ctx, 0);
  INC_CK(ctx, inc_layer_load(c, path));
  /* reserved and repeated keys */
  const char *rk[2] = {"inc.lr", "x"}, *dk[2] = {"x", "x"};
  ck_assert_int_eq(inc_checkpoint_save(a, opt, 2, rk, vals, path), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_checkpoint_save(a, opt, 2, dk, vals, path), INC_ERR_INVALID_ARGUMENT);
  unlink(path);
  free(pa); free(pb);
  inc_tensor_destroy(x); inc_tensor_destroy(dl);
  inc_optimizer_destroy(opt); inc_optimizer_destroy(ob);
  inc_layer_destroy(a); inc_layer_destroy(b); inc_layer_destroy(c);
  inc_context_destroy(ctx);
}
END_TEST

/* Reads a whole file into a malloc'd buffer. */
static unsigned char *read_all(const char *path, size_t *n)
{
  FILE *fp = fopen(path, "rb");
  ck_assert_msg(fp != NULL, "cannot open %s", path);
  ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
  long size = ftell(fp);
  ck_assert_int_ge(size, 8);
  rewind(fp);
  unsigned char *b = (unsigned char *)malloc((size_t)size);
  ck_assert_uint_eq(fread(b, 1, (size_t)size, fp), (size_t)size);
  fclose(fp);
  *n = (size_t)size;
  return b;
}

/* Asserts that safetensors files a and b hold the same bytes but for the
 * value of the "inc.version" metadata (and the header padding that follows
 * from its length). */
static void assert_same_but_version(const char *a, const char *b)
{
  size_t na, nb;
  unsigned char *fa = read_all(a, &na), *fb = read_all(b, &nb);
  char *json[2];
  size_t data[2];
  unsigned char *f[2] = {fa, fb};
  size_t n[2] = {na, nb};
  for (int k = 0; k < 2; k++) {
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = h << 8 | f[k][i];
    ck_assert_uint_le(h, n[k] - 8);
    json[k] = (char *)calloc(h + 1, 1);
    memcpy(json[k], f[k] + 8, h);
    data[k] = 8 + h;
    char *v = strstr(json[k], "\"inc.version\":\"");
    ck_assert_ptr_nonnull(v);
    v += strlen("\"inc.version\":\"");
    char *end = strchr(v, '"');
    ck_assert_ptr_nonnull(end);
    memmove(v, end, strlen(end) + 1); /* "inc.version":"" */
    size_t len = strlen(json[k]);
    while (len && json[k][len - 1] == ' ') json[k][--len] = '\0';
  }
  ck_assert_str_eq(json[0], json[1]);
  ck_assert_uint_eq(na - data[0], nb - data[1]);
  ck_assert_msg(!memcmp(fa + data[0], fb + data[1], na - data[0]), "%s and %s: data differ", a,
                b);
  free(json[0]);
  free(json[1]);
  free(fa);
  free(fb);
}

/* tests/fixtures/checkpoint_0.2.safetensors, written by libinception 0.2.0
 * (tests/fixtures/make_checkpoint.c, tests/ckpt_scenario.h): it loads to
 * the scenario's state, momentum included, and this library writes the
 * same bytes for that state (docs/ABI.md: the file format is ABI). */
START_TEST(test_checkpoint_format_0_2)
{
  const char *fixture = INC_FIXTURE_DIR "/checkpoint_0.2.safetensors";
  inc_context *ctx = tu_cpu();
  inc_layer *ref, *net;
  inc_optimizer *ref_opt, *opt;
  INC_CK(ctx, ckpt_scenario(ctx, &ref, &ref_opt));
  INC_CK(ctx, ckpt_model(ctx, &net));
  INC_CK(ctx, inc_sgd_create(ctx, 1.0f, 0.9f, 0.001f, &opt));
  INC_CK(ctx, inc_checkpoint_load(net, opt, fixture));
  ck_assert(inc_optimizer_lr(opt) == CKPT_LR);
  char buf[64];
  INC_CK(ctx, inc_checkpoint_metadata(fixture, "inc.version", buf, sizeof buf, NULL));
  ck_assert_str_eq(buf, "0.2.0");
  int64_t n0, n1;
  float *p0 = all_params(ctx, ref, &n0), *p1 = all_params(ctx, net, &n1);
  ck_assert(n0 == n1 && !memcmp(p0, p1, (size_t)n0 * sizeof(float)));
  free(p0);
  free(p1);
  /* written again: the fixture's bytes, from the scenario and from the load */
  const char *a = tu_tmp_path("v02-scenario.safetensors"), *b = tu_tmp_path("v02-loaded.safetensors");
  INC_CK(ctx, inc_checkpoint_save(ref, ref_opt, 2, CKPT_KEYS, CKPT_VALUES, a));
  INC_CK(ctx, inc_checkpoint_save(net, opt, 2, CKPT_KEYS, CKPT_VALUES, b));
  assert_same_but_version(fixture, a);
  assert_same_but_version(fixture, b);
  /* and the next step is the same: the momentum came back */
  INC_CK(ctx, ckpt_set(ref, 1, 0.75f));
  INC_CK(ctx, ckpt_set(net, 1, 0.75f));
  INC_CK(ctx, inc_optimizer_step(ref_opt, ref));
  INC_CK(ctx, inc_optimizer_step(opt, net));
  p0 = all_params(ctx, ref, &n0);
  p1 = all_params(ctx, net, &n1);
  ck_assert(n0 == n1 && !memcmp(p0, p1, (size_t)n0 * sizeof(float)));
  free(p0);
  free(p1);
  unlink(a);
  unlink(b);
  inc_optimizer_destroy(ref_opt);
  inc_optimizer_destroy(opt);
  inc_layer_destroy(ref);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
}
END_TEST

Suite *inc_test_suite_persist(void)
{
  Suite *s = suite_create("persist");
  TCase *tc = tcase_create("safetensors");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_roundtrip_unbound);
  tcase_add_test(tc, test_roundtrip_residual);
  tcase_add_test(tc, test_roundtrip_rect_nobias);
  tcase_add_test(tc, test_mismatch_leaves_model_unchanged);
  tcase_add_test(tc, test_malformed_files);
  tcase_add_test(tc, test_checkpoint_optimizer);
  tcase_add_test(tc, test_checkpoint_format_0_2);
  suite_add_tcase(s, tc);
  return s;
}
