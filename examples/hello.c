/*
 * hello.c — the smallest libinception program: build one D2L Inception
 * block, run it on a random image, print the output shape and the layer
 * table. Build: cc hello.c $(pkg-config --cflags --libs libinception)
 */
#include <stdio.h>
#include <stdlib.h>
#include <inception.h>

#define CHECK(call)                                                                     \
  do {                                                                                  \
    inc_status s_ = (call);                                                             \
    if (s_ != INC_OK) {                                                                 \
      fprintf(stderr, "%s: %s\n", inc_status_string(s_), inc_context_last_error(ctx)); \
      return 1;                                                                         \
    }                                                                                   \
  } while (0)

int main(void)
{
  inc_context *ctx = NULL;
  inc_layer *block = NULL;
  inc_tensor *x = NULL;
  const inc_tensor *y = NULL;
  CHECK(inc_context_create(INC_BACKEND_AUTO, &ctx));
  /* Inception(64, (96, 128), (16, 32), 32): the first block of b3 */
  CHECK(inc_inception_create(ctx, 64, 96, 128, 16, 32, 32, &block));
  int64_t dims[4] = {1, 192, 12, 12}; /* no sizes were given above: bound here */
  CHECK(inc_tensor_create(ctx, 4, dims, &x));
  float *host = malloc(sizeof(float) * 192 * 12 * 12);
  for (int i = 0; i < 192 * 12 * 12; i++) host[i] = (float)rand() / RAND_MAX;
  CHECK(inc_tensor_copy_from_host(x, host, 192 * 12 * 12));
  CHECK(inc_layer_forward(block, x, 0, &y));
  printf("output (%lld, %lld, %lld, %lld) on %s\n", (long long)inc_tensor_dim(y, 0),
         (long long)inc_tensor_dim(y, 1), (long long)inc_tensor_dim(y, 2),
         (long long)inc_tensor_dim(y, 3), inc_context_device_name(ctx));
  char table[4096];
  CHECK(inc_layer_summary(block, 4, dims, table, sizeof table, NULL));
  fputs(table, stdout);
  free(host);
  inc_tensor_destroy(x);
  inc_layer_destroy(block);
  inc_context_destroy(ctx);
  return 0;
}
