/*
 * backend.c — which backend a consumer of an installed libinception gets,
 * and why (tests/consumers/run.sh, step 7). With argument "cpu" it makes a
 * CPU context only (the run checks that nothing of CUDA is loaded); else an
 * AUTO context, printing "cuda|" or "cpu|<why CUDA was not used>".
 */
#include <stdio.h>
#include <string.h>
#include "inception.h"

int main(int argc, char **argv)
{
  int cpu_only = argc > 1 && strcmp(argv[1], "cpu") == 0;
  inc_context *ctx = NULL;
  inc_status s = inc_context_create(cpu_only ? INC_BACKEND_CPU : INC_BACKEND_AUTO, &ctx);
  if (s != INC_OK) {
    printf("inc_context_create: %s\n", inc_status_string(s));
    return 1;
  }
  printf("%s|%s\n", inc_context_backend(ctx) == INC_BACKEND_CUDA ? "cuda" : "cpu",
         inc_context_last_error(ctx));
  inc_context_destroy(ctx);
  return 0;
}
