/*
 * make_corpus.c — writes the seed corpora of tests/fuzz/corpus/:
 *   safetensors/  files saved by the library from the model of
 *                 fuzz_st_load.c (layer saves, checkpoints with momentum
 *                 and metadata), and hand-made edge cases of the format
 *                 (bounds of the header length, JSON escapes, surrogates,
 *                 duplicates, dtypes, shapes, offsets that gap or overlap);
 *   idx/          IDX files as the trainer reads them, plain and gzip, and
 *                 their edge cases (type, dims, truncation, trailing bytes).
 * Run by `make fuzz-corpus-seed`; the output is committed. Deterministic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include "inception.h"

static char root[1024];

static void put(const char *dir, const char *name, const void *p, size_t n)
{
  char path[2048];
  snprintf(path, sizeof path, "%s/%s/%s", root, dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f)) {
    fprintf(stderr, "make_corpus: cannot write %s\n", path);
    exit(1);
  }
}

/* An 8-byte little-endian length (the JSON's, or `len` if not ~0), the
 * JSON, then data_bytes bytes of a fixed pattern. */
static void st(const char *name, const char *json, size_t data_bytes, uint64_t len)
{
  size_t j = strlen(json), n = 8 + j + data_bytes;
  unsigned char *b = (unsigned char *)malloc(n);
  uint64_t l = len == ~(uint64_t)0 ? (uint64_t)j : len;
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(l >> (8 * i));
  memcpy(b + 8, json, j);
  for (size_t i = 0; i < data_bytes; i++) b[8 + j + i] = (unsigned char)(0x3e + (i % 3));
  put("safetensors", name, b, n);
  free(b);
}
#define ST(name, json, data) st(name, json, data, ~(uint64_t)0)

/* The fuzz_st_load model. */
static inc_layer *model(inc_context *ctx)
{
  inc_layer *seq, *l;
  inc_sequential_create(ctx, &seq);
  inc_conv2d_create(ctx, 2, 3, 1, 1, &l);
  inc_sequential_append(seq, l);
  inc_batch_norm2d_create(ctx, 1e-5f, 0.1f, &l);
  inc_sequential_append(seq, l);
  inc_relu_create(ctx, &l);
  inc_sequential_append(seq, l);
  inc_max_pool2d_create(ctx, 2, 0, 0, &l);
  inc_sequential_append(seq, l);
  inc_flatten_create(ctx, &l);
  inc_sequential_append(seq, l);
  inc_dense_create(ctx, 3, &l);
  inc_sequential_append(seq, l);
  return seq;
}

#define CK(call)                                                                             \
  do {                                                                                       \
    inc_status s_ = (call);                                                                  \
    if (s_ != INC_OK) {                                                                      \
      fprintf(stderr, "make_corpus: %s: %s\n", #call, inc_status_string(s_));               \
      exit(1);                                                                               \
    }                                                                                        \
  } while (0)

static void library_files(void)
{
  inc_context *ctx;
  CK(inc_context_create(INC_BACKEND_CPU, &ctx));
  CK(inc_context_set_seed(ctx, 1));
  char path[2048];
  for (int c = 1; c <= 3; c += 2) {
    inc_layer *m = model(ctx);
    int64_t in[4] = {2, c, 2 + 2 * c, 4}, od[INC_MAX_DIMS], ld[2] = {2, 3};
    int on;
    CK(inc_layer_infer_shape(m, 4, in, &on, od));
    snprintf(path, sizeof path, "%s/safetensors/lib_layer_c%d.safetensors", root, c);
    CK(inc_layer_save(m, path));
    /* a training step, then a checkpoint with momentum and metadata */
    inc_tensor *x, *dl;
    CK(inc_tensor_create(ctx, 4, in, &x));
    CK(inc_tensor_create(ctx, 2, ld, &dl));
    int64_t n = inc_tensor_numel(x);
    float *h = (float *)malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) h[i] = (float)((i * 37) % 17) / 17.0f - 0.5f;
    CK(inc_tensor_copy_from_host(x, h, n));
    free(h);
    inc_optimizer *o;
    CK(inc_sgd_create(ctx, 0.1f, 0.9f, 1e-4f, &o));
    const inc_tensor *y;
    const int32_t lab[2] = {1, 2};
    float loss;
    CK(inc_layer_forward(m, x, 1, &y));
    CK(inc_softmax_cross_entropy(ctx, y, lab, &loss, dl, NULL));
    CK(inc_layer_backward(m, dl, NULL));
    CK(inc_optimizer_step(o, m));
    const char *k[3] = {"note", "unicode", "escapes"};
    const char *v[3] = {"seed corpus", "\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80", "tab\tquote\"back\\slash\n"};
    snprintf(path, sizeof path, "%s/safetensors/lib_checkpoint_c%d.safetensors", root, c);
    CK(inc_checkpoint_save(m, o, 3, k, v, path));
    snprintf(path, sizeof path, "%s/safetensors/lib_checkpoint_noopt_c%d.safetensors", root, c);
    CK(inc_checkpoint_save(m, NULL, 0, NULL, NULL, path));
    inc_optimizer_destroy(o);
    inc_tensor_destroy(x);
    inc_tensor_destroy(dl);
    inc_layer_destroy(m);
  }
  inc_context_destroy(ctx);
}

/* The model's tensors for C = 1, F = 8, as JSON entries: the conv's, the
 * batch norm's five (its count a 0-d int64, as PyTorch saves it), the
 * dense layer's; 228 bytes of data. */
#define W0 "\"0.weight\":{\"dtype\":\"F32\",\"shape\":[2,1,3,3],\"data_offsets\":[0,72]}"
#define B0 "\"0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[72,80]}"
#define BN_NO_COUNT                                                                          \
  "\"1.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[80,88]},"                \
  "\"1.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[88,96]},"                  \
  "\"1.running_mean\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[96,104]},"         \
  "\"1.running_var\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[104,112]}"
#define BN BN_NO_COUNT ",\"1.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[112,120]}"
#define W5 "\"5.weight\":{\"dtype\":\"F32\",\"shape\":[3,8],\"data_offsets\":[120,216]}"
#define B5 "\"5.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[216,228]}"

static void edge_safetensors(void)
{
  put("safetensors", "empty", "", 0);
  put("safetensors", "short", "\x02\x00\x00", 3);
  ST("min_object", "{}", 0);
  ST("min_object_data", "{}", 4);
  st("len_huge", "{}", 0, (uint64_t)1 << 63);
  st("len_past_end", "{}", 0, 100);
  st("len_zero", "{}", 0, 0);
  st("len_one", "{}", 0, 1);
  ST("model_ok", "{" W0 "," B0 "," BN "," W5 "," B5 "}", 228);
  ST("model_ok_meta", "{\"__metadata__\":{\"note\":\"hi\",\"inc.lr\":\"0.25\"}," W0 "," B0 "," BN "," W5 "," B5 "}", 228);
  ST("model_ok_spaces", " { " W0 " ,\n\t" B0 " ,\r\n" BN " , " W5 " , " B5 " }        ", 228);
  ST("model_ok_reordered", "{" B5 "," W5 "," BN "," B0 "," W0 "}", 228);
  ST("model_missing_bias", "{" W0 "," BN "," W5 "," B5 "}", 228);
  ST("model_extra", "{" W0 "," B0 "," BN "," W5 "," B5 ",\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[228,232]}}", 232);
  ST("model_momentum",
     "{" W0 "," B0 "," BN "," W5 "," B5
     ",\"momentum/0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[228,236]}}", 236);
  ST("model_momentum_shape",
     "{" W0 "," B0 "," BN "," W5 "," B5
     ",\"momentum/0.bias\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[228,236]}}", 236);
  ST("model_wrong_bias", "{" W0 ",\"0.bias\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[72,80]}," BN "," W5 "," B5 "}", 228);
  ST("model_data_short", "{" W0 "," B0 "," BN "," W5 "," B5 "}", 227);
  ST("model_data_long", "{" W0 "," B0 "," BN "," W5 "," B5 "}", 229);
  ST("model_gap", "{" W0 ",\"0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[76,84]}," BN "," W5 "," B5 "}", 228);
  ST("model_overlap", "{" W0 ",\"0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[68,76]}," BN "," W5 "," B5 "}", 228);
  /* the count as float32 (1,): accepted; with a shape of 2: refused; absent: refused */
  ST("model_count_f32", "{" W0 "," B0 "," BN_NO_COUNT "," "\"1.num_batches_tracked\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[112,116]}" "," "\"5.weight\":{\"dtype\":\"F32\",\"shape\":[3,8],\"data_offsets\":[116,212]}" "," "\"5.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[212,224]}" "}", 224);
  ST("model_count_shape", "{" W0 "," B0 "," BN_NO_COUNT "," "\"1.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[112,128]}" "," "\"5.weight\":{\"dtype\":\"F32\",\"shape\":[3,8],\"data_offsets\":[128,224]}" "," "\"5.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[224,236]}" "}", 236);
  ST("model_count_missing", "{" W0 "," B0 "," BN_NO_COUNT "," "\"5.weight\":{\"dtype\":\"F32\",\"shape\":[3,8],\"data_offsets\":[112,208]}" "," "\"5.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[208,220]}" "}", 220);
  /* a float tensor stored as int64: refused */
  ST("model_var_i64",
     "{" W0 "," B0 ",\"1.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[80,88]},"
     "\"1.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[88,96]},"
     "\"1.running_mean\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[96,104]},"
     "\"1.running_var\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[104,120]},"
     "\"1.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[120,128]}" "," "\"5.weight\":{\"dtype\":\"F32\",\"shape\":[3,8],\"data_offsets\":[128,224]}" "," "\"5.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[224,236]}" "}",
     236);
  ST("model_f16", "{\"0.weight\":{\"dtype\":\"F16\",\"shape\":[2,1,3,3],\"data_offsets\":[0,36]}}", 36);
  ST("dtype_missing", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
  ST("dtype_twice", "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
  ST("dtype_long", "{\"a\":{\"dtype\":\"F32F32F32F32F32F32F32F32F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
  ST("entry_extra_field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4);
  ST("entry_empty", "{\"a\":{}}", 0);
  ST("entry_not_object", "{\"a\":[1,2]}", 0);
  ST("scalar_shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4);
  ST("zero_size", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[0,0]},\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0);
  ST("eight_dims", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8);
  ST("nine_dims", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8);
  ST("shape_overflow", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0);
  ST("shape_overflow_zero", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0,9223372036854775807,9223372036854775807],\"data_offsets\":[0,0]}}", 0);
  ST("int_max", "{\"a\":{\"dtype\":\"F32\",\"shape\":[9223372036854775807],\"data_offsets\":[0,4]}}", 4);
  ST("int_too_big", "{\"a\":{\"dtype\":\"F32\",\"shape\":[9223372036854775808],\"data_offsets\":[0,4]}}", 4);
  ST("int_huge", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999999]}}", 4);
  ST("int_leading_zero", "{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4);
  ST("int_negative", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4);
  ST("int_fraction", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4);
  ST("int_exponent", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]}}", 4);
  ST("offsets_one", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4);
  ST("offsets_none", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[]}}", 4);
  ST("offsets_three", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8);
  ST("offsets_reversed", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4);
  ST("dup_name", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
  ST("meta_only", "{\"__metadata__\":{\"note\":\"x\",\"k\":\"\"}}", 0);
  ST("meta_empty", "{\"__metadata__\":{}}", 0);
  ST("meta_twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0);
  ST("meta_dup_key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0);
  ST("meta_number", "{\"__metadata__\":{\"k\":1}}", 0);
  ST("meta_nested", "{\"__metadata__\":{\"k\":{\"a\":\"b\"}}}", 0);
  ST("meta_many", "{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"d\":\"4\",\"e\":\"5\",\"f\":\"6\",\"g\":\"7\",\"h\":\"8\",\"i\":\"9\",\"j\":\"10\",\"note\":\"11\"}}", 0);
  ST("escapes", "{\"__metadata__\":{\"note\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u2713\\ud83d\\ude00\"}}", 0);
  ST("escape_bad", "{\"__metadata__\":{\"note\":\"\\x41\"}}", 0);
  ST("escape_short_u", "{\"__metadata__\":{\"note\":\"\\u12\"}}", 0);
  ST("escape_nul", "{\"__metadata__\":{\"note\":\"a\\u0000b\"}}", 0);
  ST("surrogate_lone_high", "{\"__metadata__\":{\"note\":\"\\ud800\"}}", 0);
  ST("surrogate_lone_low", "{\"__metadata__\":{\"note\":\"\\udc00\"}}", 0);
  ST("surrogate_bad_pair", "{\"__metadata__\":{\"note\":\"\\ud800\\u0041\"}}", 0);
  ST("escape_at_end", "{\"__metadata__\":{\"note\":\"abc\\", 0);
  ST("control_char", "{\"__metadata__\":{\"note\":\"a\tb\"}}", 0);
  ST("unterminated", "{\"__metadata__\":{\"note\":\"abc", 0);
  ST("trailing_comma", "{\"__metadata__\":{\"note\":\"abc\"},}", 0);
  ST("trailing_bytes", "{}x", 0);
  ST("not_object", "[1,2,3]", 0);
  ST("raw_utf8_name", "{\"\xc3\xa9t\xc3\xa9\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
  ST("invalid_utf8", "{\"\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
  ST("quote_in_name", "{\"a\\\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
  ST("momentum_only", "{\"momentum/0.weight\":{\"dtype\":\"F32\",\"shape\":[2,1,3,3],\"data_offsets\":[0,72]}}", 72);
  /* a NUL byte inside the header */
  static const char nul_json[] = "{\"a\0\":{}}";
  unsigned char b[8 + sizeof nul_json - 1];
  uint64_t l = sizeof nul_json - 1;
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(l >> (8 * i));
  memcpy(b + 8, nul_json, sizeof nul_json - 1);
  put("safetensors", "nul_in_header", b, sizeof b);
}

/* ---- IDX ---- */

static size_t idx_bytes(unsigned char *b, unsigned type, int ndim, const uint32_t *dims,
                        size_t data, int fill)
{
  size_t n = 0;
  b[n++] = 0;
  b[n++] = 0;
  b[n++] = (unsigned char)type;
  b[n++] = (unsigned char)ndim;
  for (int i = 0; i < ndim; i++) {
    b[n++] = (unsigned char)(dims[i] >> 24);
    b[n++] = (unsigned char)(dims[i] >> 16);
    b[n++] = (unsigned char)(dims[i] >> 8);
    b[n++] = (unsigned char)dims[i];
  }
  for (size_t i = 0; i < data; i++) b[n++] = (unsigned char)(fill ? (i * 31) % 256 : i % 10);
  return n;
}

static void gz_put(const char *name, const unsigned char *p, size_t n, size_t cut)
{
  char path[2048];
  snprintf(path, sizeof path, "%s/idx/%s", root, name);
  gzFile g = gzopen(path, "wb9");
  if (!g || (n && gzwrite(g, p, (unsigned)n) != (int)n) || gzclose(g) != Z_OK) {
    fprintf(stderr, "make_corpus: cannot write %s\n", path);
    exit(1);
  }
  if (cut) { /* chop the end of the gzip stream */
    FILE *f = fopen(path, "rb");
    unsigned char buf[4096];
    size_t m = fread(buf, 1, sizeof buf, f);
    fclose(f);
    put("idx", name, buf, m > cut ? m - cut : 0);
  }
}

static void edge_idx(void)
{
  unsigned char b[4096];
  size_t n;
  const uint32_t img[3] = {2, 3, 3}, lab[1] = {5}, one28[3] = {1, 28, 28};
  n = idx_bytes(b, 8, 3, img, 18, 1);
  put("idx", "images_2x3x3", b, n);
  gz_put("images_2x3x3.gz", b, n, 0);
  gz_put("images_truncated_gzip.gz", b, n, 6);
  put("idx", "images_truncated", b, n - 1);
  b[n] = 7;
  put("idx", "images_trailing", b, n + 1);
  n = idx_bytes(b, 8, 1, lab, 5, 0);
  put("idx", "labels_5", b, n);
  gz_put("labels_5.gz", b, n, 0);
  n = idx_bytes(b, 8, 3, one28, 784, 1);
  put("idx", "image_28x28", b, n);
  gz_put("image_28x28.gz", b, n, 0);
  n = idx_bytes(b, 9, 1, lab, 5, 0);
  put("idx", "type_09", b, n);
  n = idx_bytes(b, 8, 0, lab, 0, 0);
  put("idx", "ndim_0", b, n);
  const uint32_t five[5] = {1, 1, 1, 1, 1};
  n = idx_bytes(b, 8, 5, five, 1, 0);
  put("idx", "ndim_5", b, n);
  n = idx_bytes(b, 8, 4, five, 1, 0);
  put("idx", "ndim_4", b, n);
  const uint32_t zero[2] = {3, 0};
  n = idx_bytes(b, 8, 2, zero, 0, 0);
  put("idx", "dim_0", b, n);
  const uint32_t huge[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
  n = idx_bytes(b, 8, 3, huge, 4, 0);
  put("idx", "dims_huge", b, n);
  const uint32_t big[2] = {1u << 15, 1u << 15}; /* exactly 1 GiB announced */
  n = idx_bytes(b, 8, 2, big, 3, 0);
  put("idx", "dims_1gib", b, n);
  put("idx", "header_short", b, 6);
  put("idx", "magic_only", "\x00\x00\x08\x01", 4);
  put("idx", "bad_magic", "\x01\x00\x08\x01\x00\x00\x00\x01\x05", 9);
  put("idx", "empty", "", 0);
  put("idx", "gzip_magic_only", "\x1f\x8b", 2);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  snprintf(root, sizeof root, "%s", argv[1]);
  char d[1100];
  snprintf(d, sizeof d, "%s/safetensors", root);
  mkdir(d, 0755);
  snprintf(d, sizeof d, "%s/idx", root);
  mkdir(d, 0755);
  library_files();
  edge_safetensors();
  edge_idx();
  printf("make_corpus: wrote %s/safetensors and %s/idx\n", root, root);
  return 0;
}
