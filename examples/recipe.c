/*
 * recipe.c — a checkpoint's record of its run, read back (see recipe.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inception.h"
#include "net.h"
#include "recipe.h"

char *recipe_meta_get(const char *path, const char *key)
{
  size_t need = 0;
  if (inc_checkpoint_metadata(path, key, NULL, 0, &need) != INC_OK || need == 0) return NULL;
  char *buf = malloc(need);
  if (!buf) return NULL;
  if (inc_checkpoint_metadata(path, key, buf, need, NULL) != INC_OK) {
    free(buf);
    return NULL;
  }
  return buf;
}

char *recipe_model(const char *prog, const char *path)
{
  char *m = recipe_meta_get(path, "model");
  if (!m) {
    m = malloc(sizeof "googlenet");
    if (m) memcpy(m, "googlenet", sizeof "googlenet");
    return m;
  }
  if (!model_known(m)) {
    fprintf(stderr, "%s: %s: model \"%s\" is not one this program builds (%s)\n", prog, path, m,
            MODEL_NAMES);
    free(m);
    return NULL;
  }
  return m;
}
