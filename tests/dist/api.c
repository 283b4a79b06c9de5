/*
 * api.c — libinception-dist's API in a plain run (a job of one rank, no
 * MPI): what every function does there, and bad arguments (a clear status
 * and message, nothing changed). The collectives with 2 ranks are
 * scenarios.c's. A Check runner of its own, linked with the shared
 * libraries (lib/libinception-dist.so, lib/libinception.so); run without
 * mpirun's environment.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static inc_dist *job(void)
{
  inc_dist *d = NULL;
  char why[256];
  ck_assert_int_eq(inc_dist_init(&d, why, sizeof why), INC_OK);
  ck_assert_ptr_nonnull(d);
  return d;
}

static inc_context *cpu(void)
{
  inc_context *ctx = NULL;
  ck_assert_int_eq(inc_context_create(INC_BACKEND_CPU, &ctx), INC_OK);
  ck_assert_int_eq(inc_context_set_num_threads(ctx, 1), INC_OK);
  return ctx;
}

START_TEST(one_rank_job)
{
  inc_dist *d = job();
  ck_assert_int_eq(inc_dist_rank(d), 0);
  ck_assert_int_eq(inc_dist_size(d), 1);
  ck_assert_int_eq(inc_dist_uses_mpi(d), 0);
  ck_assert_str_eq(inc_dist_last_error(d), "");
  inc_dist *again = (inc_dist *)1;
  char why[256];
  ck_assert_int_eq(inc_dist_init(&again, why, sizeof why), INC_ERR_STATE);
  ck_assert_ptr_null(again);
  ck_assert_msg(strstr(why, "one per process") != NULL, "%s", why);
  double v[2] = {1.5, -2};
  ck_assert_int_eq(inc_dist_allreduce_sum(d, v, 2), INC_OK);
  ck_assert(v[0] == 1.5 && v[1] == -2);
  ck_assert_int_eq(inc_dist_allreduce_sum(d, NULL, 0), INC_OK);
  ck_assert_int_eq(inc_dist_barrier(d), INC_OK);
  ck_assert_int_eq(inc_dist_set_timeout(d, 5), INC_OK);
  inc_dist_watch_begin(d, "x");
  inc_dist_watch_end(d);
  ck_assert_int_eq(inc_dist_finalize(d), INC_OK);
  /* a job without MPI may start again */
  d = job();
  ck_assert_int_eq(inc_dist_finalize(d), INC_OK);
  ck_assert_int_eq(inc_dist_finalize(NULL), INC_OK);
}
END_TEST

START_TEST(bad_arguments)
{
  char why[256] = "x";
  ck_assert_int_eq(inc_dist_init(NULL, why, sizeof why), INC_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(why, "out is NULL") != NULL, "%s", why);
  inc_dist *d = (inc_dist *)1;
  setenv(INC_DIST_TIMEOUT_ENV, "soon", 1);
  ck_assert_int_eq(inc_dist_init(&d, why, sizeof why), INC_ERR_INVALID_ARGUMENT);
  unsetenv(INC_DIST_TIMEOUT_ENV);
  ck_assert_ptr_null(d);
  ck_assert_msg(strstr(why, INC_DIST_TIMEOUT_ENV) != NULL, "%s", why);
  ck_assert_int_eq(inc_dist_init(&d, NULL, 0), INC_OK); /* why may be NULL */

  double v = 1;
  ck_assert_int_eq(inc_dist_allreduce_sum(NULL, &v, 1), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_allreduce_sum(d, NULL, 1), INC_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(inc_dist_last_error(d), "inc_dist_allreduce_sum") != NULL, "%s",
                inc_dist_last_error(d));
  ck_assert_int_eq(inc_dist_allreduce_sum(d, &v, -1), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_barrier(NULL), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_set_timeout(NULL, 1), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_set_timeout(d, -1), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_set_timeout(d, NAN), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_set_timeout(d, INFINITY), INC_ERR_INVALID_ARGUMENT);
  inc_dist_watch_begin(NULL, NULL);
  inc_dist_watch_end(NULL);
  ck_assert_int_eq(inc_dist_rank(NULL), 0);
  ck_assert_int_eq(inc_dist_size(NULL), 1);
  ck_assert_int_eq(inc_dist_uses_mpi(NULL), 0);
  ck_assert_str_eq(inc_dist_last_error(NULL), "");
  ck_assert_int_eq(inc_dist_scale_tensor(NULL, 1), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_detach(NULL), INC_OK);
  ck_assert_int_eq(inc_dist_finalize(d), INC_OK);
}
END_TEST

START_TEST(shards)
{
  /* {n, size, rank, first, count} */
  static const int64_t rows[][5] = {{10, 3, 0, 0, 4}, {10, 3, 1, 4, 3}, {10, 3, 2, 7, 3},
                                    {64, 2, 1, 32, 32}, {33, 2, 0, 0, 17}, {33, 2, 1, 17, 16},
                                    {1, 2, 0, 0, 1},   {1, 2, 1, 1, 0},   {0, 4, 3, 0, 0}};
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    int64_t first = -1, count = -1;
    ck_assert_int_eq(inc_dist_shard(rows[i][0], (int)rows[i][2], (int)rows[i][1], &first,
                                    &count), INC_OK);
    ck_assert_msg(first == rows[i][3] && count == rows[i][4], "row %zu: %lld + %lld", i,
                  (long long)first, (long long)count);
  }
  int64_t f = 0, c = 0;
  ck_assert_int_eq(inc_dist_shard(-1, 0, 1, &f, &c), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_shard(5, 0, 0, &f, &c), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_shard(5, 2, 2, &f, &c), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_shard(5, -1, 2, &f, &c), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_shard(5, 0, 2, NULL, &c), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_shard(5, 0, 2, &f, NULL), INC_ERR_INVALID_ARGUMENT);
}
END_TEST

START_TEST(weights)
{
  inc_dist *d = job();
  inc_context *ctx = cpu();
  inc_layer *a = NULL, *b = NULL, *unbound = NULL;
  ck_assert_int_eq(td_small_net(ctx, 3, 1, TD_CLASSES, &a), INC_OK);
  ck_assert_int_eq(td_small_net(ctx, 3, 1, TD_CLASSES, &b), INC_OK);
  ck_assert_int_eq(inc_dense_create(ctx, 4, &unbound), INC_OK);
  uint64_t sa = 0, sb = 1, s1 = 2;
  ck_assert_int_eq(inc_dist_checksum(a, &sa), INC_OK);
  ck_assert_int_eq(inc_dist_checksum(b, &sb), INC_OK);
  ck_assert(sa == sb);
  ck_assert_int_eq(inc_dist_verify_identical(d, a, &s1), INC_OK);
  ck_assert(s1 == sa);
  /* one float changed: another checksum */
  inc_tensor *w = NULL;
  ck_assert_int_eq(inc_layer_param(b, 0, NULL, &w, NULL), INC_OK);
  int64_t n = inc_tensor_numel(w);
  float *h = malloc((size_t)n * sizeof *h);
  ck_assert_int_eq(inc_tensor_copy_to_host(w, h, n), INC_OK);
  h[n - 1] = nextafterf(h[n - 1], 1.0f);
  ck_assert_int_eq(inc_tensor_copy_from_host(w, h, n), INC_OK);
  ck_assert_int_eq(inc_dist_checksum(b, &sb), INC_OK);
  ck_assert(sa != sb);
  /* one rank: broadcast and averaging change nothing */
  ck_assert_int_eq(inc_dist_broadcast_layer(d, b, 0), INC_OK);
  ck_assert_int_eq(inc_dist_average_buffers(d, b), INC_OK);
  ck_assert_int_eq(inc_dist_checksum(b, &s1), INC_OK);
  ck_assert(s1 == sb);
  /* bad arguments */
  ck_assert_int_eq(inc_dist_checksum(NULL, &sa), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_checksum(a, NULL), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_checksum(unbound, &sa), INC_ERR_STATE);
  ck_assert_int_eq(inc_dist_broadcast_layer(NULL, a, 0), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_broadcast_layer(d, NULL, 0), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_broadcast_layer(d, a, 1), INC_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(inc_dist_last_error(d), "root 1") != NULL, "%s", inc_dist_last_error(d));
  ck_assert_int_eq(inc_dist_broadcast_layer(d, unbound, 0), INC_ERR_STATE);
  ck_assert_msg(strstr(inc_dist_last_error(d), "not bound") != NULL, "%s",
                inc_dist_last_error(d));
  ck_assert_int_eq(inc_dist_average_buffers(d, NULL), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_verify_identical(NULL, a, NULL), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_verify_identical(d, unbound, NULL), INC_ERR_STATE);
  free(h);
  inc_layer_destroy(unbound);
  inc_layer_destroy(b);
  inc_layer_destroy(a);
  inc_context_destroy(ctx);
  ck_assert_int_eq(inc_dist_finalize(d), INC_OK);
}
END_TEST

static inc_status dummy_ready(void *user, int bucket, float *grad, int64_t count, void *stream)
{
  return INC_OK;
}

START_TEST(attach)
{
  inc_dist *d = job();
  inc_context *ctx = cpu();
  inc_layer *net = NULL, *unbound = NULL;
  inc_dist_net *dn = (inc_dist_net *)1;
  ck_assert_int_eq(td_small_net(ctx, 3, 0, TD_CLASSES, &net), INC_OK);
  ck_assert_int_eq(inc_dense_create(ctx, 3, &unbound), INC_OK);
  ck_assert_int_eq(inc_dist_attach(NULL, net, 0, &dn), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_attach(d, net, 0, NULL), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_attach(d, NULL, 0, &dn), INC_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_null(dn);
  ck_assert_int_eq(inc_dist_attach(d, net, -1, &dn), INC_ERR_INVALID_ARGUMENT);
  setenv(INC_DIST_BUCKET_ENV, "lots", 1);
  ck_assert_int_eq(inc_dist_attach(d, net, 0, &dn), INC_ERR_INVALID_ARGUMENT);
  unsetenv(INC_DIST_BUCKET_ENV);
  ck_assert_msg(strstr(inc_dist_last_error(d), INC_DIST_BUCKET_ENV) != NULL, "%s",
                inc_dist_last_error(d));
  ck_assert_int_eq(inc_dist_attach(d, unbound, 0, &dn), INC_ERR_STATE);
  ck_assert_msg(strstr(inc_dist_last_error(d), "not bound") != NULL, "%s",
                inc_dist_last_error(d));
  /* a net that has a hook of its own */
  inc_grad_hook h;
  memset(&h, 0, sizeof h);
  h.size = sizeof h;
  h.ready = dummy_ready;
  ck_assert_int_eq(inc_layer_set_grad_hook(net, &h), INC_OK);
  ck_assert_int_eq(inc_dist_attach(d, net, 0, &dn), INC_ERR_STATE);
  ck_assert_msg(strstr(inc_dist_last_error(d), "already has") != NULL, "%s",
                inc_dist_last_error(d));
  ck_assert_int_eq(inc_layer_set_grad_hook(net, NULL), INC_OK);
  /* one rank: attached without a hook (the gradients already are the sum) */
  ck_assert_int_eq(inc_dist_attach(d, net, 0, &dn), INC_OK);
  ck_assert_ptr_nonnull(dn);
  ck_assert_int_eq(inc_layer_grad_bucket_count(net), 0);
  ck_assert_int_eq(inc_dist_finalize(d), INC_ERR_STATE); /* attached: refused */
  ck_assert_int_eq(inc_dist_detach(dn), INC_OK);
  /* scaling a loss gradient */
  int64_t dims[2] = {2, 2};
  inc_tensor *t = NULL;
  float in[4] = {1, -2, 3, 0.5f}, out[4];
  ck_assert_int_eq(inc_tensor_create(ctx, 2, dims, &t), INC_OK);
  ck_assert_int_eq(inc_tensor_copy_from_host(t, in, 4), INC_OK);
  ck_assert_int_eq(inc_dist_scale_tensor(t, NAN), INC_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(inc_dist_scale_tensor(t, 0.25), INC_OK);
  ck_assert_int_eq(inc_tensor_copy_to_host(t, out, 4), INC_OK);
  for (int i = 0; i < 4; i++) ck_assert(out[i] == in[i] * 0.25f);
  inc_tensor_destroy(t);
  inc_layer_destroy(unbound);
  inc_layer_destroy(net);
  inc_context_destroy(ctx);
  ck_assert_int_eq(inc_dist_finalize(d), INC_OK);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("dist_api");
  TCase *tc = tcase_create("api");
  tcase_add_test(tc, one_rank_job);
  tcase_add_test(tc, bad_arguments);
  tcase_add_test(tc, shards);
  tcase_add_test(tc, weights);
  tcase_add_test(tc, attach);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
