/*
 * ckpt_diff.c — compares two checkpoints of examples/train tensor by
 * tensor, through the public API: builds the model their metadata name
 * ("model", "dropout"), loads each file into one, and prints the largest
 * relative difference max|a - b| / max|b| over the parameters and buffers
 * (the optimizer's momentum, which the API does not show, is left out).
 *
 *   ckpt_diff [--tol R] [--atol A] A.safetensors B.safetensors
 *
 * Exit status 0 when every tensor has max|a - b| <= A + R max|b| (default
 * R 1e-3, A 0), 1 when one does not (each is listed), 2 on an error. Used
 * by tests/dist_test.sh: the checkpoint of `mpirun -np 2 examples/train
 * ...` against a single process's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "net.h"

static inc_status load(inc_context *ctx, const char *path, inc_layer **out)
{
  char model[64] = "googlenet", drop[32] = "0";
  size_t need = 0;
  inc_status s = inc_checkpoint_metadata(path, "model", model, sizeof model, &need);
  if (s == INC_OK && need == 0) snprintf(model, sizeof model, "googlenet");
  if (s == INC_OK) s = inc_checkpoint_metadata(path, "dropout", drop, sizeof drop, &need);
  if (s == INC_OK && need == 0) snprintf(drop, sizeof drop, "0");
  if (s != INC_OK) {
    fprintf(stderr, "ckpt_diff: %s: %s\n", path, inc_status_string(s));
    return s;
  }
  if ((s = model_create(ctx, model, 10, (float)atof(drop), out)) != INC_OK ||
      (s = inc_checkpoint_load(*out, NULL, path)) != INC_OK) {
    fprintf(stderr, "ckpt_diff: %s (model %s): %s: %s\n", path, model, inc_status_string(s),
            inc_context_last_error(ctx));
    inc_layer_destroy(*out);
    *out = NULL;
  }
  return s;
}

int main(int argc, char **argv)
{
  double tol = 1e-3, atol = 0;
  int i = 1;
  for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
    if (!strcmp(argv[i], "--tol"))
      tol = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--atol"))
      atol = atof(argv[i + 1]);
    else
      break;
  }
  if (argc - i != 2) {
    fprintf(stderr, "usage: ckpt_diff [--tol R] [--atol A] A.safetensors B.safetensors\n");
    return 2;
  }
  inc_context *ctx = NULL;
  inc_layer *a = NULL, *b = NULL;
  int rc = 2;
  if (inc_context_create(INC_BACKEND_CPU, &ctx) != INC_OK) return 2;
  if (load(ctx, argv[i], &a) == INC_OK && load(ctx, argv[i + 1], &b) == INC_OK) {
    char worst[256] = "";
    double rel = td_max_rel_diff(a, b, worst, sizeof worst);
    int bad = rel < 0 ? -1 : td_count_outside(a, b, tol, atol, stdout);
    if (bad < 0) {
      fprintf(stderr, "ckpt_diff: the checkpoints hold different tensors\n");
    } else {
      printf("ckpt_diff: %d tensors, max relative difference %.3g (%s); %d outside "
             "max|a - b| <= %g + %g max|b|\n",
             inc_layer_param_count(a) + inc_layer_buffer_count(a), rel, worst, bad, atol, tol);
      rc = bad == 0 ? 0 : 1;
    }
  }
  inc_layer_destroy(a);
  inc_layer_destroy(b);
  inc_context_destroy(ctx);
  return rc;
}
