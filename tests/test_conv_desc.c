/*
 * test_conv_desc.c — conv2d made from its descriptor (inc_conv2d_create_desc)
 * through the internal interface: a convolution without bias has its own
 * table of declared tensors (the weight alone) and every part of the
 * generic code follows it (shapes, fans, names, the binding-from-a-file
 * message, the summary, the optimizer's state); inc_conv2d_create is the
 * descriptor's square case with a bias (same tables, sizes, fills and
 * summary); and the struct's size rule admits a larger descriptor whose
 * extra bytes are zero. Numbers against PyTorch: test_torch.c; against the
 * float64 reference: test_layers.c; refusals: test_badargs.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"
#include "optimizer.h" /* private: declarations, layers, the optimizer's state */

/* A descriptor: oc filters kh x kw, strides, paddings, bias. */
static inc_conv2d_desc desc_of(int oc, int kh, int kw, int sh, int sw, int ph, int pw, int bias)
{
  const int g[8] = {oc, kh, kw, sh, sw, ph, pw, bias};
  return tu_conv_desc(g);
}

/* Asserts that the summary of l for input in holds want. */
static void assert_summary_has(inc_context *ctx, inc_layer *l, const int64_t *in,
                               const char *want)
{
  char buf[4096];
  INC_CK(ctx, inc_layer_summary(l, 4, in, buf, sizeof buf, NULL));
  ck_assert_msg(strstr(buf, want) != NULL, "summary lacks \"%s\":\n%s", want, buf);
}

/* A conv2d without bias has its own table: the weight alone, everywhere
 * the generic code looks (binding, names, shapes, fans, the binding-from-a-
 * file message, the summary, the optimizer's state). */
START_TEST(test_per_layer_table)
{
  inc_context *ctx = tu_cpu();
  inc_layer *nb, *wb, *seq;
  inc_conv2d_desc d = desc_of(4, 1, 7, 2, 1, 0, 3, 0);
  INC_CK(ctx, inc_conv2d_create_desc(ctx, &d, &nb));
  d.bias = 1;
  INC_CK(ctx, inc_conv2d_create_desc(ctx, &d, &wb));
  ck_assert_str_eq(inc_layer_kind(nb), "conv2d");
  ck_assert_ptr_eq(wb->tensors, wb->vt->tensors);
  ck_assert_ptr_ne(nb->tensors, nb->vt->tensors);
  ck_assert_str_eq(nb->tensors[0].name, "weight");
  ck_assert_ptr_null(nb->tensors[1].name);
  ck_assert_str_eq(wb->tensors[1].name, "bias");
  inc__shape s;
  int64_t fi, fo;
  inc__decl_shape(nb, &nb->tensors[0], 3, &s);
  ck_assert(s.ndim == 4 && s.d[0] == 4 && s.d[1] == 3 && s.d[2] == 1 && s.d[3] == 7);
  inc__decl_fans(&s, &fi, &fo); /* PyTorch: C*KH*KW and OC*KH*KW */
  ck_assert(fi == 21 && fo == 28);
  ck_assert_int_eq(inc__layer_binding_tensor(nb), 0);
  int64_t bad[4] = {4, 3, 7, 1};
  ck_assert_int_eq(inc__layer_bind_from(nb, 0, 4, bad), INC_ERR_SHAPE);
  ck_assert_msg(strstr(inc_context_last_error(ctx),
                       "weight of shape (4, 3, 7, 1) does not fit 4 filters 1x7 s2x1 p0x3 no "
                       "bias: it must be (4, *, 1, 7)") != NULL,
                "%s", inc_context_last_error(ctx));
  /* bound in a sequential: one parameter, "0.weight"; the summary says so */
  INC_CK(ctx, inc_sequential_create(ctx, &seq));
  INC_CK(ctx, inc_sequential_append(seq, nb));
  const int64_t in[4] = {2, 3, 5, 9};
  int on;
  int64_t od[INC_MAX_DIMS];
  INC_CK(ctx, inc_layer_infer_shape(seq, 4, in, &on, od));
  ck_assert(on == 4 && od[1] == 4 && od[2] == 3 && od[3] == 9);
  ck_assert_int_eq(inc_layer_param_count(seq), 1);
  ck_assert_int_eq(inc_layer_param_numel(seq), 4 * 3 * 7);
  const char *name;
  inc_tensor *v, *g;
  INC_CK(ctx, inc_layer_param(seq, 0, &name, &v, &g));
  ck_assert_str_eq(name, "0.weight");
  ck_assert_int_eq(inc_layer_param(seq, 1, &name, &v, &g), INC_ERR_INVALID_ARGUMENT);
  assert_summary_has(ctx, seq, in, "4 filters 1x7 s2x1 p0x3 no bias\n");
  assert_summary_has(ctx, wb, in, "4 filters 1x7 s2x1 p0x3\n");
  /* the optimizer's state follows: one momentum tensor */
  inc_optimizer *opt;
  INC_CK(ctx, inc_sgd_create(ctx, 0.1f, 0.9f, 0.0f, &opt));
  INC_CK(ctx, inc_optimizer_step(opt, seq));
  inc__opt_state st;
  INC_CK(ctx, inc__opt_state_list(opt, seq, &st));
  ck_assert_int_eq(st.n, 1);
  ck_assert_str_eq(st.names[0], "momentum/0.weight");
  inc__opt_state_free(&st);
  inc_optimizer_destroy(opt);
  inc_layer_destroy(seq);
  inc_layer_destroy(wb);
  inc_context_destroy(ctx);
}
END_TEST

/* inc_conv2d_create is the descriptor's square case with a bias: the same
 * tables, sizes, fills and summary. A larger descriptor (a later version's)
 * whose extra bytes are zero is accepted. */
START_TEST(test_conv_desc_equivalence)
{
  inc_context *ctx = tu_cpu();
  inc_layer *a, *b, *c;
  INC_CK(ctx, inc_conv2d_create(ctx, 5, 3, 2, 1, &a));
  inc_conv2d_desc d = desc_of(5, 3, 3, 2, 2, 1, 1, 1);
  INC_CK(ctx, inc_conv2d_create_desc(ctx, &d, &b));
  struct {
    inc_conv2d_desc d;
    int later[3];
  } big;
  memset(&big, 0, sizeof big);
  big.d = d;
  big.d.size = sizeof big;
  INC_CK(ctx, inc_conv2d_create_desc(ctx, &big.d, &c));
  inc_layer *l[3] = {a, b, c};
  const int64_t in[4] = {2, 3, 9, 7};
  float *ref[2] = {NULL, NULL};
  for (int k = 0; k < 3; k++) {
    ck_assert_ptr_eq(l[k]->tensors, l[k]->vt->tensors); /* with a bias: the kind's table */
    ck_assert(l[k]->sizes[0] == 5 && l[k]->sizes[1] == 3 && l[k]->sizes[2] == 3);
    INC_CK(ctx, inc_context_set_seed(ctx, 7));
    int on;
    int64_t od[INC_MAX_DIMS];
    INC_CK(ctx, inc_layer_infer_shape(l[k], 4, in, &on, od));
    ck_assert(od[1] == 5 && od[2] == 5 && od[3] == 4);
    ck_assert_int_eq(inc_layer_param_count(l[k]), 2);
    for (int i = 0; i < 2; i++) {
      inc_tensor *v;
      INC_CK(ctx, inc_layer_param(l[k], i, NULL, &v, NULL));
      float *h = tu_host(v);
      if (!k)
        ref[i] = h;
      else {
        ck_assert(!memcmp(h, ref[i], (size_t)inc_tensor_numel(v) * sizeof(float)));
        free(h);
      }
    }
    assert_summary_has(ctx, l[k], in, "5 filters 3x3 s2 p1\n");
    inc_layer_destroy(l[k]);
  }
  free(ref[0]);
  free(ref[1]);
  inc_context_destroy(ctx);
}
END_TEST

Suite *inc_test_suite_conv_desc(void)
{
  Suite *s = suite_create("conv_desc");
  TCase *tc = tcase_create("desc");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_per_layer_table);
  tcase_add_test(tc, test_conv_desc_equivalence);
  suite_add_tcase(s, tc);
  return s;
}
