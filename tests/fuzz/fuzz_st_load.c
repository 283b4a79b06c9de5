/*
 * fuzz_st_load.c — the public loaders on untrusted files: the input is
 * written to a scratch file and given to
 *   - inc_layer_load on an unbound model (conv 3x3 (2) > batch norm > relu >
 *     max pool 2 > flatten > dense 3: tensors "0.weight" (2, C, 3, 3),
 *     "0.bias" (2), "1.weight", "1.bias", "1.running_mean", "1.running_var"
 *     (2), "1.num_batches_tracked" (a count: int64 or float32, () or (1)),
 *     "5.weight" (3, F), "5.bias" (3)), which binds from the file;
 *   - inc_checkpoint_load on a bound model (C = 1, F = 8) with an optimizer
 *     holding momentum, and
 *   - inc_checkpoint_metadata with several buffer sizes.
 * Oracles: every status is a documented one with a message; a failed load
 * leaves the unbound model unbound and the random stream where it was, and
 * the bound model's parameters, momentum and learning rate as they were; a
 * successful load holds exactly the file's values, a successfully bound
 * model runs a forward pass; metadata sizes are consistent. The seed corpus
 * (tests/fuzz/corpus/safetensors) holds files saved from this model.
 */
#include <math.h>
#include "fuzz_common.h"
#include "optimizer.h"
#include "safetensors.h"

static inc_context *ctx;
static inc_layer *bound;
static inc_optimizer *opt;
static float *bound_params;
static int64_t n_bound;

static inc_layer *make_model(void)
{
  inc_layer *seq, *l;
  FUZZ_CHECK(inc_sequential_create(ctx, &seq) == INC_OK, "seq");
  FUZZ_CHECK(inc_conv2d_create(ctx, 2, 3, 1, 1, &l) == INC_OK, "conv");
  FUZZ_CHECK(inc_sequential_append(seq, l) == INC_OK, "append");
  FUZZ_CHECK(inc_batch_norm2d_create(ctx, 1e-5f, 0.1f, &l) == INC_OK, "batch norm");
  FUZZ_CHECK(inc_sequential_append(seq, l) == INC_OK, "append");
  FUZZ_CHECK(inc_relu_create(ctx, &l) == INC_OK, "relu");
  FUZZ_CHECK(inc_sequential_append(seq, l) == INC_OK, "append");
  FUZZ_CHECK(inc_max_pool2d_create(ctx, 2, 0, 0, &l) == INC_OK, "pool");
  FUZZ_CHECK(inc_sequential_append(seq, l) == INC_OK, "append");
  FUZZ_CHECK(inc_flatten_create(ctx, &l) == INC_OK, "flatten");
  FUZZ_CHECK(inc_sequential_append(seq, l) == INC_OK, "append");
  FUZZ_CHECK(inc_dense_create(ctx, 3, &l) == INC_OK, "dense");
  FUZZ_CHECK(inc_sequential_append(seq, l) == INC_OK, "append");
  return seq;
}

/* Parameters (and, with o, the live momentum buffers), then the buffers,
 * into a new array. */
static float *snapshot(const inc_layer *m, inc_optimizer *o, int64_t *n)
{
  int64_t nbuf = 0;
  for (int i = 0; i < inc_layer_buffer_count(m); i++) {
    inc_tensor *b;
    FUZZ_CHECK(inc_layer_buffer(m, i, NULL, &b) == INC_OK, "buffer");
    nbuf += b->numel;
  }
  int64_t total = inc_layer_param_numel(m) * (o ? 2 : 1) + inc_layer_param_count(m) + nbuf;
  float *h = (float *)calloc((size_t)total + 1, sizeof(float));
  FUZZ_CHECK(h != NULL, "calloc");
  int64_t at = 0;
  for (int i = 0; i < inc_layer_param_count(m); i++) {
    inc_tensor *v;
    FUZZ_CHECK(inc_layer_param(m, i, NULL, &v, NULL) == INC_OK, "param");
    FUZZ_CHECK(inc_tensor_copy_to_host(v, h + at, v->numel) == INC_OK, "copy");
    at += v->numel;
    if (o) {
      inc__opt_slot *slot = inc__opt_find(o, v->uid);
      h[at++] = slot && !slot->first ? 1.0f : 0.0f;
      if (slot && !slot->first) {
        FUZZ_CHECK(inc_tensor_copy_to_host(slot->buf, h + at, v->numel) == INC_OK, "copy");
        at += v->numel;
      }
    }
  }
  for (int i = 0; i < inc_layer_buffer_count(m); i++) {
    inc_tensor *b;
    FUZZ_CHECK(inc_layer_buffer(m, i, NULL, &b) == INC_OK, "buffer");
    FUZZ_CHECK(inc_tensor_copy_to_host(b, h + at, b->numel) == INC_OK, "copy");
    at += b->numel;
  }
  *n = at;
  return h;
}

static void init(void)
{
  FUZZ_CHECK(inc_context_create(INC_BACKEND_CPU, &ctx) == INC_OK, "context");
  inc_context_set_seed(ctx, 3);
  inc_context_set_num_threads(ctx, 1);
  bound = make_model();
  int64_t in[4] = {2, 1, 4, 4}, od[INC_MAX_DIMS], ld[2] = {2, 3};
  int on;
  FUZZ_CHECK(inc_layer_infer_shape(bound, 4, in, &on, od) == INC_OK, "bind");
  /* one training step so that the optimizer holds momentum */
  inc_tensor *x, *dl;
  FUZZ_CHECK(inc_tensor_create(ctx, 4, in, &x) == INC_OK, "x");
  FUZZ_CHECK(inc_tensor_create(ctx, 2, ld, &dl) == INC_OK, "dl");
  float xh[32];
  for (int i = 0; i < 32; i++) xh[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
  FUZZ_CHECK(inc_tensor_copy_from_host(x, xh, 32) == INC_OK, "x");
  FUZZ_CHECK(inc_sgd_create(ctx, 0.1f, 0.9f, 0.0f, &opt) == INC_OK, "sgd");
  const inc_tensor *y;
  const int32_t lab[2] = {0, 2};
  float loss;
  FUZZ_CHECK(inc_layer_forward(bound, x, 1, &y) == INC_OK, "forward");
  FUZZ_CHECK(inc_softmax_cross_entropy(ctx, y, lab, &loss, dl, NULL) == INC_OK, "loss");
  FUZZ_CHECK(inc_layer_backward(bound, dl, NULL) == INC_OK, "backward");
  FUZZ_CHECK(inc_optimizer_step(opt, bound) == INC_OK, "step");
  inc_tensor_destroy(x);
  inc_tensor_destroy(dl);
  bound_params = snapshot(bound, opt, &n_bound);
}

static int is_doc_status(inc_status s)
{
  return s == INC_ERR_FORMAT || s == INC_ERR_SHAPE || s == INC_ERR_IO ||
         s == INC_ERR_OUT_OF_MEMORY;
}

/* Every parameter and buffer of m equals the file's tensor of the same name
 * (a count stored as int64 its value). */
static void check_values(const inc_layer *m, const char *path)
{
  unsigned char *buf;
  size_t size;
  char msg[256];
  FUZZ_CHECK(inc__read_file(path, &buf, &size, msg, sizeof msg) == INC_OK, "%s", msg);
  inc__st_file f;
  FUZZ_CHECK(inc__st_parse(buf, size, &f, msg, sizeof msg) == INC_OK,
             "a loaded file does not parse: %s", msg);
  for (int i = 0; i < inc_layer_param_count(m); i++) {
    const char *name;
    inc_tensor *v;
    FUZZ_CHECK(inc_layer_param(m, i, &name, &v, NULL) == INC_OK, "param");
    const inc__st_entry *e = inc__st_find(&f, name);
    FUZZ_CHECK(e != NULL, "\"%s\" loaded but not in the file", name);
    float *h = (float *)malloc((size_t)v->numel * sizeof(float) + 1);
    FUZZ_CHECK(inc_tensor_copy_to_host(v, h, v->numel) == INC_OK, "copy");
    FUZZ_CHECK(e->end - e->begin == (uint64_t)v->numel * 4, "size of \"%s\"", name);
    FUZZ_CHECK(!memcmp(h, f.data + e->begin, (size_t)v->numel * 4), "values of \"%s\"", name);
    free(h);
  }
  for (int i = 0; i < inc_layer_buffer_count(m); i++) {
    const char *name;
    inc_tensor *v;
    FUZZ_CHECK(inc_layer_buffer(m, i, &name, &v) == INC_OK, "buffer");
    const inc__st_entry *e = inc__st_find(&f, name);
    FUZZ_CHECK(e != NULL, "\"%s\" loaded but not in the file", name);
    float *h = (float *)malloc((size_t)v->numel * sizeof(float) + 1);
    FUZZ_CHECK(inc_tensor_copy_to_host(v, h, v->numel) == INC_OK, "copy");
    if (e->dtype == INC__ST_I64) {
      int64_t c = 0;
      FUZZ_CHECK(v->numel == 1 && e->end - e->begin == 8, "size of \"%s\"", name);
      for (int k = 0; k < 8; k++) c |= (int64_t)((uint64_t)f.data[e->begin + k] << (8 * k));
      FUZZ_CHECK(h[0] == (float)c, "value of \"%s\"", name);
    } else {
      FUZZ_CHECK(e->end - e->begin == (uint64_t)v->numel * 4, "size of \"%s\"", name);
      FUZZ_CHECK(!memcmp(h, f.data + e->begin, (size_t)v->numel * 4), "values of \"%s\"", name);
    }
    free(h);
  }
  inc__st_free(&f);
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (!ctx) init();
  const char *path = fuzz_write(data, size, ".safetensors");

  /* 1. an unbound model binds from the file */
  inc_layer *m = make_model();
  uint64_t stream = ctx->rng_stream;
  inc_status s = inc_layer_load(m, path);
  if (s == INC_OK) {
    FUZZ_CHECK(inc_layer_is_bound(m), "loaded but unbound");
    check_values(m, path);
    inc_tensor *w;
    FUZZ_CHECK(inc_layer_param(m, 0, NULL, &w, NULL) == INC_OK, "param");
    int64_t c = inc_tensor_dim(w, 1), f = 0;
    FUZZ_CHECK(inc_layer_param(m, 4, NULL, &w, NULL) == INC_OK, "param"); /* 5.weight */
    f = inc_tensor_dim(w, 1);
    /* (1, c, 2, f) gives 2 * (f / 2) features after the pool: f even fits */
    if (f % 2 == 0 && c <= 64 && f <= 4096) {
      int64_t in[4] = {1, c, 2, f}, od[INC_MAX_DIMS];
      int on;
      FUZZ_CHECK(inc_layer_infer_shape(m, 4, in, &on, od) == INC_OK, "%s",
                 inc_context_last_error(ctx));
      inc_tensor *x;
      if (inc_tensor_create(ctx, 4, in, &x) == INC_OK) {
        const inc_tensor *y;
        FUZZ_CHECK(inc_layer_forward(m, x, 0, &y) == INC_OK, "%s", inc_context_last_error(ctx));
        inc_tensor_destroy(x);
      }
    }
  } else {
    FUZZ_CHECK(is_doc_status(s), "inc_layer_load: %s", inc_status_string(s));
    FUZZ_CHECK(inc_context_last_error(ctx)[0], "inc_layer_load: no message");
    FUZZ_CHECK(!inc_layer_is_bound(m), "a failed load left the model bound");
    FUZZ_CHECK(ctx->rng_stream == stream, "a failed load moved the random stream");
  }
  inc_layer_destroy(m);

  /* 2. a bound model with optimizer state */
  float lr = inc_optimizer_lr(opt);
  s = inc_checkpoint_load(bound, opt, path);
  int has_msg = inc_context_last_error(ctx)[0] != '\0'; /* before the snapshot clears it */
  int64_t n;
  float *now = snapshot(bound, opt, &n);
  if (s == INC_OK) {
    check_values(bound, path);
    /* put the fixture back */
    free(now);
    inc_layer_destroy(bound);
    inc_optimizer_destroy(opt);
    free(bound_params);
    ctx->rng_stream = 0;
    opt = NULL;
    bound = NULL;
    inc_context_destroy(ctx);
    ctx = NULL;
    init();
  } else {
    FUZZ_CHECK(is_doc_status(s), "inc_checkpoint_load: %s", inc_status_string(s));
    FUZZ_CHECK(has_msg, "inc_checkpoint_load: no message");
    FUZZ_CHECK(n == n_bound && !memcmp(now, bound_params, (size_t)n * sizeof(float)),
               "a failed checkpoint load changed the model or its momentum");
    FUZZ_CHECK(inc_optimizer_lr(opt) == lr, "a failed checkpoint load changed the lr");
    free(now);
  }

  /* 3. metadata */
  const char *keys[3] = {"note", "inc.lr", ""};
  for (int k = 0; k < 3; k++) {
    size_t need = 12345, need2;
    s = inc_checkpoint_metadata(path, keys[k], NULL, 0, &need);
    if (s != INC_OK) {
      FUZZ_CHECK(is_doc_status(s), "inc_checkpoint_metadata: %s", inc_status_string(s));
      FUZZ_CHECK(need == 0, "needed %zu after a failure", need);
      continue;
    }
    char buf[8];
    memset(buf, 'x', sizeof buf);
    FUZZ_CHECK(inc_checkpoint_metadata(path, keys[k], buf, sizeof buf, &need2) == INC_OK,
               "second call");
    FUZZ_CHECK(need2 == need, "needed %zu then %zu", need, need2);
    size_t len = strlen(buf);
    FUZZ_CHECK(len < sizeof buf, "not NUL-terminated");
    FUZZ_CHECK(need == 0 ? len == 0 : len == (need - 1 < sizeof buf - 1 ? need - 1 : sizeof buf - 1),
               "strlen %zu for needed %zu", len, need);
  }
  unlink(path);
  return 0;
}
