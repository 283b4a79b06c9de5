/*
 * test_threads.c — contexts used from several threads at once.
 *
 * The rule (inception.h): different contexts, and the objects made from
 * them, may be used from different threads at the same time. Each job here
 * makes its own context (fixed seed, one thread), a small Inception net,
 * its own data and SGD optimizer, trains a few steps, saves a checkpoint to
 * its own file and loads it into a second net. Run one after the other the
 * jobs give reference results; run in pthreads at the same time (several
 * rounds, mixed seeds, two jobs with the same seed) they must give
 * bit-identical parameters, losses and files. `make check-tsan` runs this
 * suite under ThreadSanitizer (mk/reliability.mk).
 *
 * Assertions are made in the main thread only (Check's are not thread-safe):
 * a job records its first failure as text.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "util.h"

enum { STEPS = 12, N = 8, S = 16, CLASSES = 3 };

typedef struct job {
  uint64_t seed;
  char path[160];
  /* results */
  float loss[STEPS];
  float *params;     /* after training */
  float *loaded;     /* the second net after loading the checkpoint */
  int64_t nparams;
  unsigned char *file;
  size_t file_n;
  char error[512];
} job;

#define JOB_CK(j, ctx, call)                                                                  \
  do {                                                                                       \
    inc_status st_ = (call);                                                                 \
    if (st_ != INC_OK) {                                                                     \
      snprintf((j)->error, sizeof (j)->error, "%s -> %s: %s", #call, inc_status_string(st_), \
               inc_context_last_error(ctx));                                                 \
      goto done;                                                                             \
    }                                                                                        \
  } while (0)

static inc_status build(inc_context *ctx, inc_layer **out)
{
  inc_layer *seq = NULL, *l;
  inc_status s = inc_sequential_create(ctx, &seq);
  if (s == INC_OK && (s = inc_conv2d_create(ctx, 6, 3, 1, 1, &l)) == INC_OK &&
      (s = inc_sequential_append(seq, l)) != INC_OK)
    inc_layer_destroy(l);
  if (s == INC_OK && (s = inc_relu_create(ctx, &l)) == INC_OK &&
      (s = inc_sequential_append(seq, l)) != INC_OK)
    inc_layer_destroy(l);
  if (s == INC_OK && (s = inc_inception_create(ctx, 2, 2, 4, 1, 2, 2, &l)) == INC_OK &&
      (s = inc_sequential_append(seq, l)) != INC_OK)
    inc_layer_destroy(l);
  if (s == INC_OK && (s = inc_max_pool2d_create(ctx, 3, 2, 1, &l)) == INC_OK &&
      (s = inc_sequential_append(seq, l)) != INC_OK)
    inc_layer_destroy(l);
  if (s == INC_OK && (s = inc_global_avg_pool2d_create(ctx, &l)) == INC_OK &&
      (s = inc_sequential_append(seq, l)) != INC_OK)
    inc_layer_destroy(l);
  if (s == INC_OK && (s = inc_flatten_create(ctx, &l)) == INC_OK &&
      (s = inc_sequential_append(seq, l)) != INC_OK)
    inc_layer_destroy(l);
  if (s == INC_OK && (s = inc_dense_create(ctx, CLASSES, &l)) == INC_OK &&
      (s = inc_sequential_append(seq, l)) != INC_OK)
    inc_layer_destroy(l);
  if (s != INC_OK) {
    inc_layer_destroy(seq);
    return s;
  }
  *out = seq;
  return INC_OK;
}

/* All parameters of m into a new host array. */
static inc_status gather(const inc_layer *m, float **out, int64_t *n)
{
  *n = inc_layer_param_numel(m);
  float *h = (float *)malloc((size_t)*n * sizeof(float) + 1);
  if (!h) return INC_ERR_OUT_OF_MEMORY;
  int64_t at = 0;
  for (int i = 0; i < inc_layer_param_count(m); i++) {
    inc_tensor *v;
    inc_status s = inc_layer_param(m, i, NULL, &v, NULL);
    if (s == INC_OK) s = inc_tensor_copy_to_host(v, h + at, inc_tensor_numel(v));
    if (s != INC_OK) {
      free(h);
      return s;
    }
    at += inc_tensor_numel(v);
  }
  *out = h;
  return INC_OK;
}

static void *run_job(void *arg)
{
  job *j = (job *)arg;
  inc_context *ctx = NULL;
  inc_layer *net = NULL, *copy = NULL;
  inc_tensor *x = NULL, *dl = NULL;
  inc_optimizer *opt = NULL, *opt2 = NULL;
  float *xh = NULL;
  j->error[0] = '\0';
  if (inc_context_create(INC_BACKEND_CPU, &ctx) != INC_OK) {
    snprintf(j->error, sizeof j->error, "inc_context_create failed");
    return NULL;
  }
  JOB_CK(j, ctx, inc_context_set_seed(ctx, j->seed));
  JOB_CK(j, ctx, inc_context_set_num_threads(ctx, 1));
  JOB_CK(j, ctx, build(ctx, &net));
  JOB_CK(j, ctx, build(ctx, &copy));
  int64_t xd[4] = {N, 2, S, S}, ld[2] = {N, CLASSES};
  xh = (float *)malloc(sizeof(float) * N * 2 * S * S);
  if (!xh) goto done;
  tu_fill(xh, N * 2 * S * S, j->seed + 100, -1, 1);
  int32_t labels[N];
  for (int i = 0; i < N; i++) labels[i] = (int32_t)((j->seed + (uint64_t)i) % CLASSES);
  JOB_CK(j, ctx, inc_tensor_create(ctx, 4, xd, &x));
  JOB_CK(j, ctx, inc_tensor_copy_from_host(x, xh, N * 2 * S * S));
  JOB_CK(j, ctx, inc_tensor_create(ctx, 2, ld, &dl));
  JOB_CK(j, ctx, inc_sgd_create(ctx, 0.05f, 0.9f, 1e-4f, &opt));
  JOB_CK(j, ctx, inc_sgd_create(ctx, 0.05f, 0.9f, 1e-4f, &opt2));
  for (int it = 0; it < STEPS; it++) {
    const inc_tensor *y, *dx;
    JOB_CK(j, ctx, inc_layer_forward(net, x, 1, &y));
    JOB_CK(j, ctx, inc_softmax_cross_entropy(ctx, y, labels, &j->loss[it], dl, NULL));
    JOB_CK(j, ctx, inc_layer_backward(net, dl, &dx));
    JOB_CK(j, ctx, inc_optimizer_step(opt, net));
  }
  JOB_CK(j, ctx, gather(net, &j->params, &j->nparams));
  const char *k[1] = {"seed"}, *v[1] = {"job"};
  JOB_CK(j, ctx, inc_checkpoint_save(net, opt, 1, k, v, j->path));
  JOB_CK(j, ctx, inc_checkpoint_load(copy, opt2, j->path));
  int64_t n2;
  JOB_CK(j, ctx, gather(copy, &j->loaded, &n2));
  FILE *fp = fopen(j->path, "rb");
  if (fp) {
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    j->file = (unsigned char *)malloc((size_t)len + 1);
    if (j->file && fread(j->file, 1, (size_t)len, fp) == (size_t)len) j->file_n = (size_t)len;
    fclose(fp);
  }
done:
  free(xh);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dl);
  inc_optimizer_destroy(opt);
  inc_optimizer_destroy(opt2);
  inc_layer_destroy(net);
  inc_layer_destroy(copy);
  inc_context_destroy(ctx);
  unlink(j->path);
  return NULL;
}

static void job_init(job *j, uint64_t seed, int slot)
{
  memset(j, 0, sizeof *j);
  j->seed = seed;
  snprintf(j->path, sizeof j->path, "%s/inc-threads-%d-%d.safetensors",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid(), slot);
}

static void job_free(job *j)
{
  free(j->params);
  free(j->loaded);
  free(j->file);
  j->params = j->loaded = NULL;
  j->file = NULL;
}

static void job_expect(const job *got, const job *ref, const char *what)
{
  ck_assert_msg(!got->error[0], "%s: %s", what, got->error);
  ck_assert_msg(!memcmp(got->loss, ref->loss, sizeof got->loss), "%s: losses differ", what);
  ck_assert_int_eq(got->nparams, ref->nparams);
  ck_assert_msg(!memcmp(got->params, ref->params, (size_t)ref->nparams * sizeof(float)),
                "%s: trained parameters differ from the sequential run", what);
  ck_assert_msg(!memcmp(got->loaded, ref->params, (size_t)ref->nparams * sizeof(float)),
                "%s: the loaded parameters differ from the trained ones", what);
  ck_assert_msg(got->file_n == ref->file_n && !memcmp(got->file, ref->file, ref->file_n),
                "%s: the checkpoint files differ", what);
}

#define MAX_JOBS 4

/* Runs jobs with the given seeds one after the other, then `rounds` times
 * all at once, comparing each concurrent result with its sequential one. */
static void concurrent_matches_sequential(const uint64_t *seeds, int n, int rounds)
{
  job ref[MAX_JOBS], con[MAX_JOBS];
  pthread_t th[MAX_JOBS];
  for (int i = 0; i < n; i++) {
    job_init(&ref[i], seeds[i], i);
    run_job(&ref[i]);
    ck_assert_msg(!ref[i].error[0], "sequential job %d: %s", i, ref[i].error);
  }
  for (int i = 0; i < n; i++)
    for (int k = 0; k < i; k++)
      if (seeds[i] != seeds[k])
        ck_assert_msg(memcmp(ref[i].params, ref[k].params, (size_t)ref[i].nparams * 4),
                      "different seeds gave the same parameters");
  for (int r = 0; r < rounds; r++) {
    for (int i = 0; i < n; i++) {
      job_init(&con[i], seeds[i], MAX_JOBS + i);
      ck_assert_int_eq(pthread_create(&th[i], NULL, run_job, &con[i]), 0);
    }
    for (int i = 0; i < n; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < n; i++) {
      char what[64];
      snprintf(what, sizeof what, "round %d, thread %d (seed %llu)", r, i,
               (unsigned long long)seeds[i]);
      job_expect(&con[i], &ref[i], what);
      job_free(&con[i]);
    }
  }
  for (int i = 0; i < n; i++) job_free(&ref[i]);
}

START_TEST(test_two_contexts_two_threads)
{
  const uint64_t seeds[2] = {11, 22};
  concurrent_matches_sequential(seeds, 2, 3);
}
END_TEST

START_TEST(test_same_seed_in_four_threads)
{
  const uint64_t seeds[4] = {7, 7, 8, 7};
  concurrent_matches_sequential(seeds, 4, 2);
}
END_TEST

/* Error paths at the same time: each thread's failures write its own
 * context's message, never another's. */
typedef struct err_job {
  int id;
  int bad;
  char error[256];
} err_job;

static void *run_errors(void *arg)
{
  err_job *e = (err_job *)arg;
  inc_context *ctx = NULL;
  if (inc_context_create(INC_BACKEND_CPU, &ctx) != INC_OK) {
    e->bad = 1;
    return NULL;
  }
  inc_context_set_num_threads(ctx, 1);
  char want[64];
  for (int i = 0; i < 2000 && !e->bad; i++) {
    inc_layer *l = NULL;
    int bad_channels = -(e->id * 100000 + i); /* each thread's values are its own */
    inc_status s = inc_conv2d_create(ctx, bad_channels, 3, 1, 1, &l);
    snprintf(want, sizeof want, "%d", bad_channels);
    const char *m = inc_context_last_error(ctx);
    if (s != INC_ERR_INVALID_ARGUMENT || l || !strstr(m, want)) {
      e->bad = 1;
      snprintf(e->error, sizeof e->error, "thread %d, iteration %d: %s / \"%s\"", e->id, i,
               inc_status_string(s), m);
    }
  }
  inc_context_destroy(ctx);
  return NULL;
}

START_TEST(test_messages_stay_per_context)
{
  err_job e[3];
  pthread_t th[3];
  for (int i = 0; i < 3; i++) {
    memset(&e[i], 0, sizeof e[i]);
    e[i].id = i + 1;
    ck_assert_int_eq(pthread_create(&th[i], NULL, run_errors, &e[i]), 0);
  }
  for (int i = 0; i < 3; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);
  for (int i = 0; i < 3; i++) ck_assert_msg(!e[i].bad, "%s", e[i].error);
}
END_TEST

Suite *inc_test_suite_threads(void)
{
  Suite *s = suite_create("threads");
  TCase *tc = tcase_create("contexts");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_two_contexts_two_threads);
  tcase_add_test(tc, test_same_seed_in_four_threads);
  tcase_add_test(tc, test_messages_stay_per_context);
  suite_add_tcase(s, tc);
  return s;
}
