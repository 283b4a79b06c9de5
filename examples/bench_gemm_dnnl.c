/*
 * bench_gemm_dnnl.c — examples/bench_gemm's adapter for oneDNN (Debian's
 * libdnnl-dev, 2.6 in Debian 12: the C API of oneDNN 2.x), built into
 * examples/bench_gemm_dnnl.so. Two columns:
 *
 *   oneDNN     dnnl_sgemm, oneDNN's BLAS-like row-major SGEMM: the shape
 *              is looked at on every call, like any BLAS.
 *   oneDNN-mm  the matmul primitive, made once per shape (and per calling
 *              thread, on that thread's buffers) outside the timing, so
 *              only its execution is timed: what a library that plans its
 *              GEMMs ahead (as ours plans its steps) could use. Transposes
 *              and leading dimensions are strides of the memory
 *              descriptors, alpha an output scale, beta a sum post-op.
 *
 * Debian builds oneDNN on OpenMP: a call outside a parallel region runs on
 * omp_get_max_threads() threads (set from the bench's thread count with
 * omp_set_num_threads), one inside a region (the bench's team, for a call
 * the library made inside its own) on the calling thread alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <omp.h>
#include <dnnl.h>
#include <dnnl_debug.h>

#include "bench_gemm.h"

static dnnl_engine_t engine; /* the CPU engine, made by open, kept */

static int od_open(char *info, size_t len)
{
  const dnnl_version_t *v = dnnl_version();
  if (!engine && dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) {
    snprintf(info, len, "oneDNN %d.%d.%d: no CPU engine", v->major, v->minor, v->patch);
    return -1;
  }
  snprintf(info, len, "oneDNN %d.%d.%d, ISA %s, %s runtime", v->major, v->minor, v->patch,
           dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()),
           v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "not the OpenMP");
  return 0;
}

static void od_threads(int n) { omp_set_num_threads(n); }

static int od_gemm(void *state, const bg_shape *s, const float *a, const float *b, float *c)
{
  (void)state;
  return dnnl_sgemm(s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->m, s->n, s->k, s->alpha, a, s->lda,
                    b, s->ldb, s->beta, c, s->ldc) != dnnl_success;
}

/* ---- the matmul primitive ---- */

typedef struct mm_state {
  dnnl_primitive_t prim;
  dnnl_stream_t stream;
  dnnl_memory_t mem[3]; /* src a (m, k), weights b (k, n), dst c (m, n) */
} mm_state;

static void mm_release(void *p)
{
  mm_state *st = p;
  if (!st) return;
  for (int i = 0; i < 3; i++)
    if (st->mem[i]) dnnl_memory_destroy(st->mem[i]);
  if (st->stream) dnnl_stream_destroy(st->stream);
  if (st->prim) dnnl_primitive_destroy(st->prim);
  free(st);
}

/* The primitive for s: descriptors (m, k), (k, n), (m, n) whose strides
 * say the transposes and leading dimensions; alpha, beta as attributes. */
static dnnl_status_t mm_make(mm_state *st, const bg_shape *s)
{
  dnnl_memory_desc_t md[3];
  const dnnl_dims_t da = {s->m, s->k}, db = {s->k, s->n}, dc = {s->m, s->n};
  const dnnl_dims_t sa = {s->ta ? 1 : s->lda, s->ta ? s->lda : 1};
  const dnnl_dims_t sb = {s->tb ? 1 : s->ldb, s->tb ? s->ldb : 1}, sc = {s->ldc, 1};
  dnnl_matmul_desc_t desc;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t ops = NULL;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_status_t r;
  if ((r = dnnl_memory_desc_init_by_strides(&md[0], 2, da, dnnl_f32, sa)) ||
      (r = dnnl_memory_desc_init_by_strides(&md[1], 2, db, dnnl_f32, sb)) ||
      (r = dnnl_memory_desc_init_by_strides(&md[2], 2, dc, dnnl_f32, sc)) ||
      (r = dnnl_matmul_desc_init(&desc, &md[0], &md[1], NULL, &md[2])) ||
      (r = dnnl_primitive_attr_create(&attr)))
    return r;
  if (s->alpha != 1.0f) r = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &s->alpha);
  if (!r && s->beta != 0.0f && !(r = dnnl_post_ops_create(&ops))) {
    r = dnnl_post_ops_append_sum(ops, s->beta);
    if (!r) r = dnnl_primitive_attr_set_post_ops(attr, ops);
    dnnl_post_ops_destroy(ops);
  }
  if (!r) r = dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL);
  dnnl_primitive_attr_destroy(attr);
  if (r) return r;
  r = dnnl_primitive_create(&st->prim, pd);
  dnnl_primitive_desc_destroy(pd);
  return r;
}

static void *mm_prepare(const bg_shape *s, const float *a, const float *b, float *c,
                        const char **err)
{
  mm_state *st = calloc(1, sizeof *st);
  if (!st) {
    *err = "out of memory";
    return NULL;
  }
  if (mm_make(st, s) != dnnl_success) {
    *err = "matmul primitive not created for this shape";
    mm_release(st);
    return NULL;
  }
  const_dnnl_primitive_desc_t pd;
  void *buf[3] = {(void *)a, (void *)b, c};
  const int what[3] = {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md};
  if (dnnl_primitive_get_primitive_desc(st->prim, &pd) ||
      dnnl_stream_create(&st->stream, engine, dnnl_stream_default_flags)) {
    *err = "matmul stream not created";
    mm_release(st);
    return NULL;
  }
  for (int i = 0; i < 3; i++) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, what[i], 0);
    if (!md || dnnl_memory_create(&st->mem[i], md, engine, buf[i])) {
      *err = "matmul memory not created";
      mm_release(st);
      return NULL;
    }
  }
  return st;
}

static int mm_gemm(void *p, const bg_shape *s, const float *a, const float *b, float *c)
{
  (void)s, (void)a, (void)b, (void)c; /* the buffers are prepare's */
  mm_state *st = p;
  const dnnl_exec_arg_t args[3] = {
      {DNNL_ARG_SRC, st->mem[0]}, {DNNL_ARG_WEIGHTS, st->mem[1]}, {DNNL_ARG_DST, st->mem[2]}};
  if (dnnl_primitive_execute(st->prim, st->stream, 3, args) != dnnl_success) return 1;
  return dnnl_stream_wait(st->stream) != dnnl_success;
}

static const bg_lib libs[] = {
    {.name = "oneDNN", .open = od_open, .threads = od_threads, .gemm = od_gemm},
    {.name = "oneDNN-mm",
     .open = od_open,
     .threads = od_threads,
     .prepare = mm_prepare,
     .release = mm_release,
     .gemm = mm_gemm},
};

__attribute__((visibility("default"))) const bg_lib *bench_gemm_adapter(int *n);
const bg_lib *bench_gemm_adapter(int *n)
{
  *n = (int)(sizeof libs / sizeof libs[0]);
  return libs;
}
