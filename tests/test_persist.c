/*
 * test_persist.c — safetensors save/load: round trips into bound and
 * unbound models, checkpoints with optimizer state and metadata, and the
 * reader's refusals (truncated, malformed, mismatched files), after which
 * the model must be unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

static char *tmp_path(const char *name)
{
  static char buf[4][256];
  static int k;
  char *p = buf[k++ % 4];
  snprintf(p, 256, "/tmp/inc-test-%d-%s", (int)getpid(), name);
  return p;
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
  const char *path = tmp_path("rt.safetensors");
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

START_TEST(test_mismatch_leaves_model_unchanged)
{
  inc_context *ctx = tu_cpu();
  inc_layer *a = small_net(ctx, 3), *b = small_net(ctx, 1), *c = small_net(ctx, 0);
  const char *path = tmp_path("mm.safetensors");
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
  const char *path = tmp_path("bad.safetensors");
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
  const char *path = tmp_path("ck.safetensors");
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

Suite *inc_test_suite_persist(void)
{
  Suite *s = suite_create("persist");
  TCase *tc = tcase_create("safetensors");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_roundtrip_unbound);
  tcase_add_test(tc, test_mismatch_leaves_model_unchanged);
  tcase_add_test(tc, test_malformed_files);
  tcase_add_test(tc, test_checkpoint_optimizer);
  suite_add_tcase(s, tc);
  return s;
}
