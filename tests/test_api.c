/*
 * test_api.c — versions, status names, contexts and tensors through the
 * public API, including the argument checks every call must make.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

START_TEST(test_version)
{
  ck_assert_uint_eq(inc_version_number(), INC_VERSION_NUMBER);
  char buf[32];
  snprintf(buf, sizeof buf, "%d.%d.%d", INC_VERSION_MAJOR, INC_VERSION_MINOR, INC_VERSION_PATCH);
  ck_assert_str_eq(inc_version_string(), buf);
}
END_TEST

START_TEST(test_status_strings)
{
  ck_assert_str_eq(inc_status_string(INC_OK), "INC_OK");
  ck_assert_str_eq(inc_status_string(INC_ERR_SHAPE), "INC_ERR_SHAPE");
  ck_assert_str_eq(inc_status_string(INC_ERR_DEVICE_LOST), "INC_ERR_DEVICE_LOST");
  ck_assert_str_eq(inc_status_string((inc_status)999), "INC_ERR_UNKNOWN");
  /* pinned values: append only */
  ck_assert_int_eq(INC_ERR_INVALID_ARGUMENT, 1);
  ck_assert_int_eq(INC_ERR_FORMAT, 8);
  ck_assert_int_eq(INC_ERR_DEVICE_LOST, 9);
}
END_TEST

START_TEST(test_context_cpu)
{
  inc_context *ctx = NULL;
  ck_assert_int_eq(inc_context_create(INC_BACKEND_CPU, &ctx), INC_OK);
  ck_assert_ptr_nonnull(ctx);
  ck_assert_int_eq(inc_context_backend(ctx), INC_BACKEND_CPU);
  ck_assert_str_eq(inc_context_last_error(ctx), "");
  ck_assert(strstr(inc_context_device_name(ctx), "CPU") != NULL);
  ck_assert_int_eq(inc_context_set_seed(ctx, 42), INC_OK);
  ck_assert_uint_eq(inc_context_seed(ctx), 42);
  ck_assert_int_eq(inc_context_set_num_threads(ctx, -1), INC_ERR_INVALID_ARGUMENT);
  ck_assert(strlen(inc_context_last_error(ctx)) > 0);
  ck_assert_int_eq(inc_context_set_num_threads(ctx, 1), INC_OK);
  ck_assert_str_eq(inc_context_last_error(ctx), "");
  ck_assert_int_eq(inc_context_synchronize(ctx), INC_OK);
  inc_context_destroy(ctx);
  inc_context_destroy(NULL);
}
END_TEST

START_TEST(test_context_args)
{
  inc_context *ctx = (inc_context *)&ctx;
  ck_assert_int_eq(inc_context_create(INC_BACKEND_CPU, NULL), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_context_create((inc_backend)7, &ctx), INC_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_null(ctx);
  ck_assert_int_eq(inc_backend_available(INC_BACKEND_CPU), 1);
  ck_assert_int_eq(inc_backend_available(INC_BACKEND_AUTO), 1);
  ck_assert_int_eq(inc_backend_available((inc_backend)7), 0);
  ck_assert_str_eq(inc_context_last_error(NULL), "");
  ck_assert_str_eq(inc_context_device_name(NULL), "");
  ck_assert_int_eq(inc_context_backend(NULL), INC_BACKEND_AUTO);
  ck_assert_int_eq(inc_context_set_seed(NULL, 1), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_context_synchronize(NULL), INC_ERR_INVALID_ARGUMENT);
}
END_TEST

START_TEST(test_tensor_roundtrip)
{
  inc_context *ctx = tu_cpu();
  int64_t dims[3] = {2, 3, 5};
  inc_tensor *t = tu_tensor(ctx, 3, dims, NULL);
  ck_assert_int_eq(inc_tensor_ndim(t), 3);
  ck_assert_int_eq(inc_tensor_dim(t, 1), 3);
  ck_assert_int_eq(inc_tensor_dim(t, -1), 5);
  ck_assert_int_eq(inc_tensor_dim(t, 3), 0);
  ck_assert_int_eq(inc_tensor_dim(t, -4), 0);
  ck_assert_int_eq(inc_tensor_numel(t), 30);
  ck_assert_ptr_eq(inc_tensor_context(t), ctx);
  float *z = tu_host(t);
  for (int i = 0; i < 30; i++) ck_assert(z[i] == 0.0f); /* zero-filled */
  float v[30], w[30];
  tu_fill(v, 30, 3, -1, 1);
  ck_assert_int_eq(inc_tensor_copy_from_host(t, v, 30), INC_OK);
  ck_assert_int_eq(inc_tensor_copy_to_host(t, w, 30), INC_OK);
  ck_assert(memcmp(v, w, sizeof v) == 0);
  int64_t flat[1] = {30};
  ck_assert_int_eq(inc_tensor_reshape(t, 1, flat), INC_OK);
  ck_assert_int_eq(inc_tensor_ndim(t), 1);
  int64_t bad[1] = {31};
  ck_assert_int_eq(inc_tensor_reshape(t, 1, bad), INC_ERR_SHAPE);
  free(z);
  inc_tensor_destroy(t);
  inc_tensor_destroy(NULL);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_tensor_errors)
{
  inc_context *ctx = tu_cpu();
  inc_tensor *t = NULL;
  int64_t dims[2] = {2, 3}, zero[2] = {2, 0}, neg[2] = {-1, 3};
  int64_t huge[3] = {INT64_MAX / 2, 4, 2};
  ck_assert_int_eq(inc_tensor_create(ctx, 2, dims, NULL), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_tensor_create(NULL, 2, dims, &t), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_tensor_create(ctx, 0, dims, &t), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_tensor_create(ctx, 9, dims, &t), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_tensor_create(ctx, 2, NULL, &t), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_tensor_create(ctx, 2, zero, &t), INC_ERR_INVALID_ARGUMENT);
  ck_assert(strstr(inc_context_last_error(ctx), "dim 1") != NULL);
  ck_assert_int_eq(inc_tensor_create(ctx, 2, neg, &t), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_tensor_create(ctx, 3, huge, &t), INC_ERR_INVALID_ARGUMENT);
  ck_assert(strstr(inc_context_last_error(ctx), "overflow") != NULL);
  ck_assert_ptr_null(t);
  t = tu_tensor(ctx, 2, dims, NULL);
  float v[7] = {0};
  ck_assert_int_eq(inc_tensor_copy_from_host(t, v, 7), INC_ERR_INVALID_ARGUMENT);
  ck_assert(strstr(inc_context_last_error(ctx), "count 7 != numel 6") != NULL);
  ck_assert_int_eq(inc_tensor_copy_to_host(t, v, 5), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_tensor_copy_from_host(t, NULL, 6), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_tensor_copy_to_host(NULL, v, 6), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_tensor_ndim(NULL), 0);
  ck_assert_int_eq(inc_tensor_numel(NULL), 0);
  inc_tensor_destroy(t);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_layer_create_errors)
{
  inc_context *ctx = tu_cpu();
  inc_layer *l = (inc_layer *)&l;
  ck_assert_int_eq(inc_conv2d_create(ctx, 0, 3, 1, 1, &l), INC_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_null(l);
  ck_assert_int_eq(inc_conv2d_create(ctx, 4, 0, 1, 1, &l), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_conv2d_create(ctx, 4, 3, 0, 1, &l), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_conv2d_create(ctx, 4, 3, 1, -1, &l), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_conv2d_create(NULL, 4, 3, 1, 1, &l), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_conv2d_create(ctx, 4, 3, 1, 1, NULL), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_max_pool2d_create(ctx, 3, 1, 2, &l), INC_ERR_INVALID_ARGUMENT);
  ck_assert(strstr(inc_context_last_error(ctx), "padding 2") != NULL);
  ck_assert_int_eq(inc_avg_pool2d_create(ctx, 0, 1, 0, &l), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dense_create(ctx, 0, &l), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_inception_create(ctx, 1, 0, 1, 1, 1, 1, &l), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_googlenet_create(ctx, 0, &l), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_relu_create(NULL, &l), INC_ERR_INVALID_ARGUMENT);
  /* stride 0 means stride = kernel */
  ck_assert_int_eq(inc_max_pool2d_create(ctx, 2, 0, 0, &l), INC_OK);
  int64_t in[4] = {1, 1, 6, 6}, out[8];
  int on;
  ck_assert_int_eq(inc_layer_infer_shape(l, 4, in, &on, out), INC_OK);
  ck_assert_int_eq(out[2], 3);
  inc_layer_destroy(l);
  inc_context_destroy(ctx);
}
END_TEST

START_TEST(test_tree_ops)
{
  inc_context *ctx = tu_cpu();
  inc_layer *seq, *a, *b, *c, *other;
  INC_CK(ctx, inc_sequential_create(ctx, &seq));
  INC_CK(ctx, inc_relu_create(ctx, &a));
  INC_CK(ctx, inc_relu_create(ctx, &b));
  INC_CK(ctx, inc_concat_create(ctx, &c));
  ck_assert_int_eq(inc_sequential_append(seq, NULL), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_sequential_append(c, a), INC_ERR_INVALID_ARGUMENT); /* not a sequential */
  ck_assert_int_eq(inc_concat_add_branch(seq, a), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_sequential_append(seq, seq), INC_ERR_INVALID_ARGUMENT);
  INC_CK(ctx, inc_sequential_append(seq, a));
  ck_assert_int_eq(inc_sequential_append(seq, a), INC_ERR_INVALID_ARGUMENT); /* has a parent */
  INC_CK(ctx, inc_layer_set_name(b, "act"));
  INC_CK(ctx, inc_sequential_append(seq, b));
  ck_assert_str_eq(inc_layer_name(a), "0");
  ck_assert_str_eq(inc_layer_name(b), "act");
  ck_assert_int_eq(inc_layer_set_name(a, "act"), INC_ERR_INVALID_ARGUMENT); /* sibling has it */
  ck_assert_int_eq(inc_layer_set_name(a, "a.b"), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_layer_set_name(a, ""), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_layer_set_name(a, NULL), INC_ERR_INVALID_ARGUMENT);
  INC_CK(ctx, inc_sequential_append(seq, c));
  ck_assert_int_eq(inc_concat_add_branch(c, seq), INC_ERR_INVALID_ARGUMENT); /* a cycle */
  ck_assert_int_eq(inc_layer_child_count(seq), 3);
  ck_assert_ptr_eq(inc_layer_child(seq, 1), b);
  ck_assert_ptr_null(inc_layer_child(seq, 3));
  ck_assert_ptr_null(inc_layer_child(seq, -1));
  ck_assert_ptr_eq(inc_layer_parent(b), seq);
  ck_assert_str_eq(inc_layer_kind(c), "concat");
  ck_assert_str_eq(inc_layer_kind(NULL), "");
  /* a layer of another context */
  inc_context *ctx2 = tu_cpu();
  INC_CK(ctx2, inc_relu_create(ctx2, &other));
  ck_assert_int_eq(inc_sequential_append(seq, other), INC_ERR_INVALID_ARGUMENT);
  ck_assert(strstr(inc_context_last_error(ctx), "another context") != NULL);
  inc_layer_destroy(other);
  inc_context_destroy(ctx2);
  inc_layer_destroy(b); /* a child: a no-op, its container owns it */
  inc_layer_destroy(seq);
  inc_context_destroy(ctx);
}
END_TEST

Suite *inc_test_suite_api(void)
{
  Suite *s = suite_create("api");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_version);
  tcase_add_test(tc, test_status_strings);
  tcase_add_test(tc, test_context_cpu);
  tcase_add_test(tc, test_context_args);
  tcase_add_test(tc, test_tensor_roundtrip);
  tcase_add_test(tc, test_tensor_errors);
  tcase_add_test(tc, test_layer_create_errors);
  tcase_add_test(tc, test_tree_ops);
  suite_add_tcase(s, tc);
  return s;
}
