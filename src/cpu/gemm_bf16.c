/*
 * gemm_bf16.c — the CPU backend's GEMMs in bf16 mixed precision
 * (inc_context_set_precision(ctx, INC_PRECISION_BF16)): both inputs rounded
 * to bfloat16 (round to nearest even: inc__k_bf16_bits), the products summed
 * in float32 by oneDNN's matmul primitive (AVX512-BF16's dot products, or
 * AMX), c read and written in float32. inc__cpu_gemm (backend.c) comes
 * here when the context asks for it, before its own threading; every other
 * op of the backend stays float32, gemm_batched included.
 *
 * Why not Winograd's batched products: their rounded inputs would be the
 * transforms U = G w G^T and V = B^T d B, whose sums A^T M A recombine with
 * coefficients up to 8, so the rounding grows: against the direct float32
 * convolution, max |error| / max |value| measured 0.0026 for the direct
 * convolution in bf16, 0.0040 for F(2x2) and 0.045 for F(4x4) (12x12 maps,
 * 16 -> 24 channels; tests/test_bf16.c). F(4x4) is far off, and gemm_batched
 * cannot tell F(2x2) from F(4x4), so both stay float32 (a convolution the
 * plan gave Winograd runs exactly as in FP32). The batch form below serves
 * one item per call today.
 *
 * Why copies: the primitive reads bf16 memory and the operands are float32
 * (im2col's col matrix, parameters, activations, Winograd's transforms), so
 * each call rounds them into the context's scratch, one buffer grown to the
 * largest call and then reused. Why a cache: the first primitive of a shape
 * JIT-compiles its kernels (0.3 to 5 ms measured on Zen 4, against 0.05 ms
 * for a hit in oneDNN's own cache, still made per call) and a GoogLeNet step
 * has a few hundred shapes; each cached primitive keeps its three memory
 * objects, whose data pointers are set per call. A steady-state call thus
 * allocates nothing.
 *
 * The state hangs off the context, in the CPU backend's ctx->be (cpu.h),
 * made when BF16 is set and freed when FP32 is set again or the context is
 * destroyed.
 * Built without oneDNN (the OpenBLAS build) only the refusal is here.
 */
#include <string.h>
#include <omp.h>
#include "cpu.h"

#ifdef INC_CPU_GEMM_ONEDNN
#include <dnnl.h>
#include <dnnl_debug.h>

/* Primitives kept; the least recently used one makes room for a new one. */
#define BF16_CACHE 256
/* Floats a thread rounds at a time. */
#define BF16_CHUNK ((int64_t)1 << 14)

/* What a primitive was made for; zeroed before it is filled (memcmp'd). */
typedef struct bf16_key {
  int64_t m, n, k, batch, stride_c;
  float alpha, beta;
  int ta, tb, threads;
} bf16_key;

typedef struct bf16_prim {
  bf16_key key;
  dnnl_primitive_t prim;  /* NULL: an empty slot */
  dnnl_memory_t mem[3];   /* a, b (bf16 scratch), c; data pointers set per call */
  uint64_t used;          /* the call that used it last */
} bf16_prim;

typedef struct bf16_state {
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  uint16_t *buf;          /* (batch*m*k + batch*k*n) bf16: a's items, then b's */
  size_t cap;             /* elements of buf */
  uint64_t tick;          /* calls so far */
  bf16_prim cache[BF16_CACHE];
} bf16_state;

static void prim_release(bf16_prim *e)
{
  for (int i = 0; i < 3; i++) dnnl_memory_destroy(e->mem[i]);
  dnnl_primitive_destroy(e->prim);
  memset(e, 0, sizeof *e);
}

static void state_free(bf16_state *b)
{
  if (!b) return;
  for (int i = 0; i < BF16_CACHE; i++)
    if (b->cache[i].prim) prim_release(&b->cache[i]);
  dnnl_stream_destroy(b->stream);
  dnnl_engine_destroy(b->engine);
  inc__free(b->buf);
  inc__free(b);
}

/* 1 when oneDNN may use bf16 dot products here: AVX512-BF16 or AMX, as its
 * own detection (and DNNL_MAX_CPU_ISA) decides. The ISA values are masks,
 * each containing the ones below it on its branch. */
static int isa_has_bf16(void)
{
  const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
  return ((unsigned)isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
}

inc_status inc__cpu_bf16_enable(inc_context *ctx, int on)
{
  inc__cpu_state *cs = on ? inc__cpu_state_get(ctx) : (inc__cpu_state *)ctx->be;
  bf16_state *b = cs ? (bf16_state *)cs->bf16 : NULL;
  if (!on) {
    state_free(b);
    if (cs) cs->bf16 = NULL;
    return INC_OK;
  }
  if (!cs)
    return inc__error(ctx, INC_ERR_OUT_OF_MEMORY,
                      "inc_context_set_precision: cannot allocate the CPU backend's state");
  if (b) return INC_OK;
  if (!isa_has_bf16())
    return inc__error(ctx, INC_ERR_UNAVAILABLE,
                      "inc_context_set_precision: bf16 needs AVX512-BF16 or AMX, and oneDNN finds "
                      "at most %s on this CPU (or DNNL_MAX_CPU_ISA limits it)",
                      dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()));
  b = (bf16_state *)inc__calloc(1, sizeof *b);
  if (!b)
    return inc__error(ctx, INC_ERR_OUT_OF_MEMORY,
                      "inc_context_set_precision: cannot allocate the bf16 state");
  dnnl_status_t st = dnnl_engine_create(&b->engine, dnnl_cpu, 0);
  if (st == dnnl_success) st = dnnl_stream_create(&b->stream, b->engine, dnnl_stream_default_flags);
  if (st != dnnl_success) {
    state_free(b);
    return inc__error(ctx, st == dnnl_out_of_memory ? INC_ERR_OUT_OF_MEMORY : INC_ERR_UNAVAILABLE,
                      "inc_context_set_precision: oneDNN's CPU engine: %s", dnnl_status2str(st));
  }
  cs->bf16 = b;
  return INC_OK;
}

/* The failure of a oneDNN call for the GEMM of key, as the context's error. */
static inc_status bf16_fail(inc_context *ctx, dnnl_status_t st, const char *what,
                            const bf16_key *key)
{
  inc_status s = st == dnnl_out_of_memory       ? INC_ERR_OUT_OF_MEMORY
                 : st == dnnl_invalid_arguments ? INC_ERR_INVALID_ARGUMENT
                                                : INC_ERR_DEVICE;
  return inc__error(ctx, s, "CPU bf16 gemm: %s (m %lld, n %lld, k %lld, batch %lld) failed: %s",
                    what, (long long)key->m, (long long)key->n, (long long)key->k,
                    (long long)key->batch, dnnl_status2str(st));
}

/* One float32 rounded to bf16 (its bits read without type punning). */
static inline uint16_t round_one(const float *x)
{
  uint32_t u;
  memcpy(&u, x, sizeof u);
  return inc__k_bf16_bits(u);
}

/* dst (n) bf16 = src (n) float32 rounded to nearest even. The inner loop of
 * fixed length is what -O2's vectoriser takes (one of unknown length it
 * leaves scalar). */
INC__CPU_CLONES static void round_span(uint16_t *restrict dst, const float *restrict src,
                                       int64_t n)
{
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) dst[i + j] = round_one(src + i + j);
  for (; i < n; i++) dst[i] = round_one(src + i);
}

/* dst (items, item) bf16, packed = src's items (item floats each, the first
 * floats of each stride) rounded; one parallel region over all chunks. */
static void round_items(uint16_t *dst, const float *src, int64_t items, int64_t item,
                        int64_t stride, int threads)
{
  if (stride == item) item *= items, items = 1; /* contiguous: one span */
  const int64_t per = (item + BF16_CHUNK - 1) / BF16_CHUNK, chunks = items * per;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && chunks > 1)
  for (int64_t j = 0; j < chunks; j++) {
    const int64_t it = j / per, lo = j % per * BF16_CHUNK;
    const int64_t len = item - lo < BF16_CHUNK ? item - lo : BF16_CHUNK;
    round_span(dst + it * item + lo, src + it * stride + lo, len);
  }
}

/* e's primitive and memory objects for key: c (batch, m, n; items stride_c
 * apart, rows n) = alpha op(a) op(b) + beta c, a and b packed bf16 items,
 * transposed ones read through their strides. */
static dnnl_status_t prim_make(bf16_prim *e, const bf16_key *key, dnnl_engine_t engine)
{
  const int64_t m = key->m, n = key->n, k = key->k;
  const dnnl_dims_t ad = {key->batch, m, k}, as = {m * k, key->ta ? 1 : k, key->ta ? m : 1};
  const dnnl_dims_t bd = {key->batch, k, n}, bs = {k * n, key->tb ? 1 : n, key->tb ? k : 1};
  const dnnl_dims_t cd = {key->batch, m, n}, cs = {key->stride_c, n, 1};
  dnnl_memory_desc_t md[3];
  dnnl_matmul_desc_t mm;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_status_t st = dnnl_memory_desc_init_by_strides(&md[0], 3, ad, dnnl_bf16, as);
  if (st == dnnl_success) st = dnnl_memory_desc_init_by_strides(&md[1], 3, bd, dnnl_bf16, bs);
  if (st == dnnl_success) st = dnnl_memory_desc_init_by_strides(&md[2], 3, cd, dnnl_f32, cs);
  if (st == dnnl_success) st = dnnl_matmul_desc_init(&mm, &md[0], &md[1], NULL, &md[2]);
  if (st == dnnl_success) st = dnnl_primitive_attr_create(&attr);
  if (st == dnnl_success && key->alpha != 1.0f)
    st = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &key->alpha);
  if (st == dnnl_success && key->beta != 0.0f) {
    st = dnnl_post_ops_create(&po);
    if (st == dnnl_success) st = dnnl_post_ops_append_sum(po, key->beta);
    if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(attr, po);
  }
  if (st == dnnl_success) st = dnnl_primitive_desc_create(&pd, &mm, attr, engine, NULL);
  if (st == dnnl_success) st = dnnl_primitive_create(&e->prim, pd);
  for (int i = 0; i < 3 && st == dnnl_success; i++)
    st = dnnl_memory_create(&e->mem[i], &md[i], engine, DNNL_MEMORY_NONE);
  dnnl_primitive_desc_destroy(pd);
  dnnl_post_ops_destroy(po);
  dnnl_primitive_attr_destroy(attr);
  if (st != dnnl_success) prim_release(e);
  else e->key = *key;
  return st;
}

/* *out = the cached primitive for key, made (in an empty or the least
 * recently used slot) when missing; the context's error on failure. */
static inc_status prim_get(bf16_prim **out, bf16_state *b, const bf16_key *key,
                           inc_context *ctx)
{
  bf16_prim *slot = &b->cache[0];
  b->tick++;
  for (int i = 0; i < BF16_CACHE; i++) {
    bf16_prim *e = &b->cache[i];
    if (e->prim && !memcmp(&e->key, key, sizeof *key)) {
      e->used = b->tick;
      *out = e;
      return INC_OK;
    }
    if (slot->prim && (!e->prim || e->used < slot->used)) slot = e;
  }
  if (slot->prim) prim_release(slot);
  dnnl_status_t st = prim_make(slot, key, b->engine);
  if (st != dnnl_success) return bf16_fail(ctx, st, "creating the matmul primitive", key);
  slot->used = b->tick;
  *out = slot;
  return INC_OK;
}

/* c_i = beta c_i, i < batch: a GEMM with k = 0 (BLAS's rule: beta 0 writes
 * zeros, whatever c held). */
static void scale_items(float *c, int64_t m, int64_t n, int64_t batch, int64_t stride_c,
                        float beta)
{
  for (int64_t i = 0; i < batch; i++)
    for (int64_t j = 0; j < m * n; j++)
      c[i * stride_c + j] = beta == 0.0f ? 0.0f : beta * c[i * stride_c + j];
}

/* Grows the scratch to hold count bf16 values (no allocation once large
 * enough); the context's error on failure. */
static inc_status scratch_reserve(bf16_state *b, int64_t count, inc_context *ctx)
{
  if ((size_t)count <= b->cap) return INC_OK;
  uint16_t *p = (uint16_t *)inc__realloc(b->buf, (size_t)count * sizeof *p);
  if (!p)
    return inc__error(ctx, INC_ERR_OUT_OF_MEMORY,
                      "CPU bf16 gemm: cannot allocate %lld bf16 values of scratch",
                      (long long)count);
  b->buf = p;
  b->cap = (size_t)count;
  return INC_OK;
}

inc_status inc__cpu_gemm_bf16(float *c, const float *a, const float *b, int trans_a,
                              int trans_b, int64_t m, int64_t n, int64_t k, int64_t batch,
                              int64_t stride_c, int64_t stride_a, int64_t stride_b, float alpha,
                              float beta, int threads, inc_context *ctx)
{
  bf16_state *st = (bf16_state *)((inc__cpu_state *)ctx->be)->bf16;
  if (m == 0 || n == 0 || batch == 0) return INC_OK;
  if (k == 0) {
    scale_items(c, m, n, batch, stride_c, beta);
    return INC_OK;
  }
  int64_t na, nb, total;
  if (inc__mul_overflow(batch, m * k, &na) || inc__mul_overflow(batch, k * n, &nb) ||
      inc__mul_overflow(na + nb, 2, &total))
    return inc__error(ctx, INC_ERR_SHAPE, "CPU bf16 gemm: operands of %lld x (%lld x %lld x "
                      "%lld) overflow", (long long)batch, (long long)m, (long long)n,
                      (long long)k);
  inc_status s = scratch_reserve(st, na + nb, ctx);
  if (s != INC_OK) return s;
  /* a (batch, m, k) and b (batch, k, n) bf16, packed, as stored (op() is
   * the primitive's strides) */
  uint16_t *ah = st->buf, *bh = st->buf + na;
  const int rt = inc__cpu_threads(ctx, na + nb);
  round_items(ah, a, batch, m * k, stride_a, rt);
  round_items(bh, b, batch, k * n, stride_b, rt);
  bf16_key key;
  memset(&key, 0, sizeof key);
  key.m = m, key.n = n, key.k = k, key.batch = batch, key.stride_c = stride_c;
  key.alpha = alpha, key.beta = beta, key.ta = !!trans_a, key.tb = !!trans_b;
  key.threads = threads;
  /* oneDNN's OpenMP build sizes the primitive and its run by the calling
   * thread's OpenMP count: ours for the call, the caller's restored after */
  const int before = omp_get_max_threads();
  if (before != threads) omp_set_num_threads(threads);
  bf16_prim *e = NULL;
  s = prim_get(&e, st, &key, ctx);
  dnnl_status_t ds = dnnl_success;
  if (s == INC_OK) {
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->mem[0]}, {DNNL_ARG_WEIGHTS, e->mem[1]},
                               {DNNL_ARG_DST, e->mem[2]}};
    void *data[3] = {ah, bh, c};
    for (int i = 0; i < 3 && ds == dnnl_success; i++)
      ds = dnnl_memory_set_data_handle(e->mem[i], data[i]);
    if (ds == dnnl_success) ds = dnnl_primitive_execute(e->prim, st->stream, 3, args);
    if (ds == dnnl_success) ds = dnnl_stream_wait(st->stream);
  }
  if (before != threads) omp_set_num_threads(before);
  if (s != INC_OK) return s;
  return ds == dnnl_success ? INC_OK : bf16_fail(ctx, ds, "running the matmul", &key);
}

#else /* OpenBLAS: no bf16 */

inc_status inc__cpu_bf16_enable(inc_context *ctx, int on)
{
  if (!on) return INC_OK;
  return inc__error(ctx, INC_ERR_UNAVAILABLE,
                    "inc_context_set_precision: bf16 needs the library built with oneDNN (make "
                    "GEMM=onednn, the default); this build's GEMMs are OpenBLAS's float32 ones");
}

inc_status inc__cpu_gemm_bf16(float *c, const float *a, const float *b, int trans_a,
                              int trans_b, int64_t m, int64_t n, int64_t k, int64_t batch,
                              int64_t stride_c, int64_t stride_a, int64_t stride_b, float alpha,
                              float beta, int threads, inc_context *ctx)
{
  (void)c, (void)a, (void)b, (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k;
  (void)batch, (void)stride_c, (void)stride_a, (void)stride_b, (void)alpha, (void)beta;
  (void)threads;
  return inc__cpu_bf16_enable(ctx, 1); /* never reached: BF16 cannot be set */
}

#endif
