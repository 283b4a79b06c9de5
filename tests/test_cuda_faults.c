/*
 * test_cuda_faults.c — device faults, in the style of test_faults.c, on the
 * emulated CUDA runtime (make check-cuda-emu), which can fail any call.
 *
 * One scenario (a context; a small net of a conv, an Inception block and a
 * dense layer; two SGD steps with momentum; the parameters read back) is
 * run with faults:
 *  - every device allocation of it failed in turn (cudaMalloc,
 *    cudaMallocHost, cublasCreate): the first failing call says
 *    INC_ERR_OUT_OF_MEMORY, nothing is left allocated once the objects are
 *    destroyed, and the same context then runs the scenario to the very
 *    parameters of a clean run;
 *  - every launch, copy, synchronisation and cuBLAS call failed in turn
 *    with a passing error: INC_ERR_DEVICE (or OUT_OF_MEMORY), never a
 *    latched context, no leak, the same recovery; or, where the call has
 *    no caller to tell (the sync before a free), no error and the very
 *    parameters of a clean run;
 *  - sticky errors (a faulting kernel, one that reports cudaErrorUnknown as
 *    a lost device does, a faulting cuBLAS call, a launch failure seen at a
 *    sync): INC_ERR_DEVICE_LOST latches, every later call on the context
 *    says so at once, a new CUDA context and AUTO both refuse (AUTO does
 *    not slip onto the CPU), and nothing exits;
 *  - a cuBLAS call that fails: INC_ERR_DEVICE with cuBLAS's own words;
 *  - with INCEPTION_CONV_ALGO=winograd2 (its 3x3 convolutions' T*T products
 *    are gemm_batched calls, cublasSgemmStridedBatched): every cuBLAS call
 *    failed in turn, as above, and the first one's message naming the op.
 * The suite has cases only on the emulated runtime (a real GPU cannot be
 * made to fail on demand).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cuda_util.h"

enum { SC_N = 2, SC_C = 3, SC_HW = 8, SC_CLASSES = 5 };

/* The scenario on ctx, from the seed on: build, two training steps, read
 * the parameters back into params (cap floats; may be NULL). Returns the
 * first failure; frees whatever it made either way. */
static inc_status scenario(inc_context *ctx, float *params, int64_t cap, int64_t *count)
{
  inc_layer *net = NULL, *l = NULL;
  inc_tensor *x = NULL, *dl = NULL;
  inc_optimizer *opt = NULL;
  inc_status s;
  int64_t used = 0;
#define SC_TRY(call)                                                                         \
  do {                                                                                       \
    if ((s = (call)) != INC_OK) goto done;                                                   \
  } while (0)
#define SC_ADD(make)                                                                         \
  do {                                                                                       \
    SC_TRY(make);                                                                            \
    if ((s = inc_sequential_append(net, l)) != INC_OK) {                                     \
      inc_layer_destroy(l);                                                                  \
      goto done;                                                                             \
    }                                                                                        \
  } while (0)
  SC_TRY(inc_context_set_seed(ctx, 11));
  SC_TRY(inc_sequential_create(ctx, &net));
  SC_ADD(inc_conv2d_create(ctx, 6, 3, 1, 1, &l));
  SC_ADD(inc_relu_create(ctx, &l));
  SC_ADD(inc_inception_create(ctx, 2, 2, 4, 1, 2, 2, &l));
  SC_ADD(inc_max_pool2d_create(ctx, 3, 2, 1, &l));
  SC_ADD(inc_global_avg_pool2d_create(ctx, &l));
  SC_ADD(inc_flatten_create(ctx, &l));
  SC_ADD(inc_dense_create(ctx, SC_CLASSES, &l));
  SC_TRY(inc_sgd_create(ctx, 0.05f, 0.9f, 1e-4f, &opt));
  int64_t xd[4] = {SC_N, SC_C, SC_HW, SC_HW}, ld[2] = {SC_N, SC_CLASSES};
  SC_TRY(inc_tensor_create(ctx, 4, xd, &x));
  SC_TRY(inc_tensor_create(ctx, 2, ld, &dl));
  for (int step = 0; step < 2; step++) {
    float xh[SC_N * SC_C * SC_HW * SC_HW], loss;
    int32_t labels[SC_N] = {(int32_t)step, 3};
    int64_t correct;
    const inc_tensor *y, *dx;
    tu_fill(xh, SC_N * SC_C * SC_HW * SC_HW, 40 + step, -1, 1);
    SC_TRY(inc_tensor_copy_from_host(x, xh, SC_N * SC_C * SC_HW * SC_HW));
    SC_TRY(inc_layer_forward(net, x, 1, &y));
    SC_TRY(inc_softmax_cross_entropy(ctx, y, labels, &loss, dl, &correct));
    SC_TRY(inc_layer_backward(net, dl, &dx));
    SC_TRY(inc_optimizer_step(opt, net));
  }
  for (int i = 0; i < inc_layer_param_count(net); i++) {
    inc_tensor *v;
    SC_TRY(inc_layer_param(net, i, NULL, &v, NULL));
    int64_t n = inc_tensor_numel(v);
    if (params) {
      ck_assert_int_le(used + n, cap);
      SC_TRY(inc_tensor_copy_to_host(v, params + used, n));
    }
    used += n;
  }
  s = inc_context_synchronize(ctx);
done:
#undef SC_ADD
#undef SC_TRY
  inc_optimizer_destroy(opt);
  inc_tensor_destroy(x);
  inc_tensor_destroy(dl);
  inc_layer_destroy(net);
  if (count) *count = used;
  return s;
}

enum { PARAM_CAP = 4096 };
static float ref_params[PARAM_CAP];
static int64_t ref_count;

/* A clean run: the reference parameters, and how many calls of the given
 * kinds a whole run (context included) makes. */
static long clean_run(unsigned kinds)
{
  const tu_cudaemu *emu = tu_emu();
  emu->reset();
  emu->fault_arm(kinds, 0, 0, 0, 0); /* count only */
  inc_context *ctx = NULL;
  ck_assert_int_eq(inc_context_create(INC_BACKEND_CUDA, &ctx), INC_OK);
  INC_CK(ctx, scenario(ctx, ref_params, PARAM_CAP, &ref_count));
  inc_context_destroy(ctx);
  long calls = emu->fault_count();
  tu_cuda_check_clean("the clean run");
  ck_assert_int_gt(ref_count, 100);
  return calls;
}

static void faults_setup(void) { inc_context_destroy(tu_cuda_context()); /* loads the emulator */ }
static void faults_teardown(void)
{
  if (tu_emu()) tu_emu()->reset();
  unsetenv("INCEPTION_CONV_ALGO");
}

/* Fails the k-th call of `kinds` (k = 1..all of a clean run) with a passing
 * error and checks the status, the leak count and the recovery. */
static void sweep(unsigned kinds, int error, int blas_status, const char *what)
{
  const tu_cudaemu *emu = tu_emu();
  long calls = clean_run(kinds);
  ck_assert_int_gt(calls, 0);
  long oom = 0, device = 0, absorbed = 0;
  for (long k = 1; k <= calls; k++) {
    emu->reset();
    emu->fault_arm(kinds, k, error, blas_status, 0);
    inc_context *ctx = NULL;
    inc_status s = inc_context_create(INC_BACKEND_CUDA, &ctx);
    char msg[INC__ERR_CAP] = "";
    float params[PARAM_CAP];
    int64_t n = 0;
    if (s == INC_OK) {
      s = scenario(ctx, params, PARAM_CAP, &n);
      snprintf(msg, sizeof msg, "%s", inc_context_last_error(ctx));
    }
    if (s == INC_OK && !emu->fault_fired()) {
      /* the k-th call lies in the context's destruction, which has no one
       * to tell: it must still free everything (checked below) */
      inc_context_destroy(ctx);
      ctx = NULL;
    }
    ck_assert_msg(emu->fault_fired(), "%s %ld: the fault did not fire", what, k);
    if (s == INC_OK && kinds != TU_CALL_ALLOC) {
      /* absorbed: the result must be untouched by it */
      ck_assert_msg(n == ref_count && !memcmp(params, ref_params, (size_t)n * sizeof(float)),
                    "%s %ld: no error reported, but the parameters differ", what, k);
      absorbed++;
    } else {
      ck_assert_msg(s == INC_ERR_OUT_OF_MEMORY || s == INC_ERR_DEVICE,
                    "%s %ld of %ld: %s (%s)", what, k, calls, inc_status_string(s), msg);
    }
    if (kinds == TU_CALL_ALLOC)
      ck_assert_msg(s == INC_ERR_OUT_OF_MEMORY, "allocation %ld: %s (%s)", k,
                    inc_status_string(s), msg);
    oom += s == INC_ERR_OUT_OF_MEMORY;
    device += s == INC_ERR_DEVICE;
    if (ctx) {
      /* The context is not broken: the scenario runs again to the same
       * parameters as a clean run. */
      ck_assert_int_eq(ctx->latched, INC_OK);
      emu->fault_arm(0, 0, 0, 0, 0);
      INC_CK(ctx, scenario(ctx, params, PARAM_CAP, &n));
      ck_assert_int_eq(n, ref_count);
      ck_assert_msg(memcmp(params, ref_params, (size_t)n * sizeof(float)) == 0,
                    "%s %ld: the rerun's parameters differ from a clean run's", what, k);
      inc_context_destroy(ctx);
    }
    char where[96];
    snprintf(where, sizeof where, "%s %ld failed", what, k);
    tu_cuda_check_clean(where);
  }
  printf("cuda_faults: %s: %ld calls failed in turn: %ld INC_ERR_OUT_OF_MEMORY, %ld "
         "INC_ERR_DEVICE, %ld absorbed with the clean run's result; every context recovered "
         "bit-identically, no device leaks\n",
         what, calls, oom, device, absorbed);
  fflush(stdout);
}

START_TEST(test_faults_device_alloc)
{
  sweep(TU_CALL_ALLOC, TU_cudaErrorMemoryAllocation, TU_CUBLAS_STATUS_ALLOC_FAILED,
        "device allocation");
}
END_TEST

START_TEST(test_faults_every_call)
{
  sweep(TU_CALL_LAUNCH | TU_CALL_COPY | TU_CALL_SYNC | TU_CALL_BLAS, TU_cudaErrorInvalidValue,
        TU_CUBLAS_STATUS_EXECUTION_FAILED, "launch/copy/sync/cuBLAS call");
}
END_TEST

/* Sticky errors: {kinds, nth, error}. */
static const int sticky_cases[][3] = {
    {TU_CALL_LAUNCH, 7, TU_cudaErrorIllegalAddress},  /* a kernel faults            */
    {TU_CALL_LAUNCH, 7, TU_cudaErrorUnknown},         /* as after a lost device     */
    {TU_CALL_BLAS, 2, TU_cudaErrorIllegalAddress},    /* a faulting cuBLAS kernel   */
    {TU_CALL_SYNC, 3, TU_cudaErrorLaunchFailure},     /* seen at a synchronisation  */
};
#define N_STICKY ((int)(sizeof sticky_cases / sizeof sticky_cases[0]))

START_TEST(test_faults_sticky)
{
  const tu_cudaemu *emu = tu_emu();
  const int *c = sticky_cases[_i];
  emu->reset();
  inc_context *ctx = NULL;
  ck_assert_int_eq(inc_context_create(INC_BACKEND_CUDA, &ctx), INC_OK);
  emu->fault_arm((unsigned)c[0], c[1], c[2], TU_CUBLAS_STATUS_EXECUTION_FAILED, 1);
  inc_status s = scenario(ctx, NULL, 0, NULL);
  ck_assert(emu->fault_fired());
  ck_assert_msg(s == INC_ERR_DEVICE_LOST, "case %d: %s (%s)", _i, inc_status_string(s),
                inc_context_last_error(ctx));
  ck_assert_msg(strstr(inc_context_last_error(ctx), "restart the process") != NULL,
                "message '%s'", inc_context_last_error(ctx));
  /* latched: every later call fails at once, and says why */
  ck_assert_int_eq(ctx->latched, INC_ERR_DEVICE_LOST);
  ck_assert_int_eq(scenario(ctx, NULL, 0, NULL), INC_ERR_DEVICE_LOST);
  ck_assert_int_eq(inc_context_synchronize(ctx), INC_ERR_DEVICE_LOST);
  ck_assert_msg(strstr(inc_context_last_error(ctx), "restart") != NULL, "message '%s'",
                inc_context_last_error(ctx));
  /* CUDA is broken for the process: a new context refuses, AUTO too */
  inc_context *other = (inc_context *)&other;
  ck_assert_int_eq(inc_context_create(INC_BACKEND_CUDA, &other), INC_ERR_DEVICE_LOST);
  ck_assert_ptr_null(other);
  ck_assert_int_eq(inc_context_create(INC_BACKEND_AUTO, &other), INC_ERR_DEVICE_LOST);
  ck_assert_ptr_null(other);
  ck_assert_int_eq(inc_backend_available(INC_BACKEND_CUDA), 0);
  /* the CPU still works, asked for by name */
  ck_assert_int_eq(inc_context_create(INC_BACKEND_CPU, &other), INC_OK);
  INC_CK(other, scenario(other, NULL, 0, NULL));
  inc_context_destroy(other);
  inc_context_destroy(ctx); /* no crash, host memory freed (ASan checks) */
  emu->reset();             /* what a process restart does */
}
END_TEST

/* The scenario's first cuBLAS call fails (not sticky): INC_ERR_DEVICE in
 * cuBLAS's own words, naming op (NULL: any), no latch, and the context runs
 * the scenario again. */
static void first_blas_call_fails(const char *op)
{
  const tu_cudaemu *emu = tu_emu();
  emu->reset();
  inc_context *ctx = NULL;
  ck_assert_int_eq(inc_context_create(INC_BACKEND_CUDA, &ctx), INC_OK);
  emu->fault_arm(TU_CALL_BLAS, 1, 0, TU_CUBLAS_STATUS_EXECUTION_FAILED, 0);
  ck_assert_int_eq(scenario(ctx, NULL, 0, NULL), INC_ERR_DEVICE);
  const char *msg = inc_context_last_error(ctx);
  ck_assert_msg(strstr(msg, "cuBLAS") && strstr(msg, "CUBLAS_STATUS_EXECUTION_FAILED") &&
                    (!op || strstr(msg, op)),
                "message '%s'", msg);
  ck_assert_int_eq(ctx->latched, INC_OK);
  INC_CK(ctx, scenario(ctx, NULL, 0, NULL));
  inc_context_destroy(ctx);
  tu_cuda_check_clean("after a failed cuBLAS call");
}

START_TEST(test_faults_cublas_status) { first_blas_call_fails(NULL); }
END_TEST

/* The scenario's 3x3 convolutions on Winograd F(2x2): each cuBLAS call
 * (gemm_batched's, the others' gemm) failed in turn; the first one is the
 * first convolution's batched products. */
START_TEST(test_faults_winograd_blas)
{
  ck_assert_int_eq(setenv("INCEPTION_CONV_ALGO", "winograd2", 1), 0);
  sweep(TU_CALL_BLAS, TU_cudaErrorInvalidValue, TU_CUBLAS_STATUS_EXECUTION_FAILED,
        "cuBLAS call (Winograd)");
  first_blas_call_fails("gemm_batched");
}
END_TEST

Suite *inc_test_suite_cuda_faults(void)
{
  char why[INC__ERR_CAP];
  int kind = tu_cuda_probe(why, sizeof why);
  Suite *s = suite_create("cuda_faults");
  if (kind != 2) {
    printf("CUDA device-fault cases skipped: they need the emulated runtime (make "
           "check-cuda-emu)%s%s\n", kind ? "" : ": ", kind ? "" : why);
    fflush(stdout);
    return s;
  }
  TCase *tc = tcase_create("faults");
  tcase_add_checked_fixture(tc, faults_setup, faults_teardown);
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_faults_device_alloc);
  tcase_add_test(tc, test_faults_every_call);
  tcase_add_loop_test(tc, test_faults_sticky, 0, N_STICKY);
  tcase_add_test(tc, test_faults_cublas_status);
  tcase_add_test(tc, test_faults_winograd_blas);
  suite_add_tcase(s, tc);
  return s;
}
