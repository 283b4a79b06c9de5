/*
 * recipe.h — what a checkpoint of examples/train records about its run and
 * how a later run reads it back: the metadata values (--resume takes the
 * recipe from them; examples/classify takes the model and the input size).
 * Everything goes through the public API (inc_checkpoint_metadata).
 */
#ifndef EXAMPLES_RECIPE_H
#define EXAMPLES_RECIPE_H

/* Reads a metadata value of a checkpoint into a malloc'd string (NULL when
 * absent or unreadable). */
char *recipe_meta_get(const char *path, const char *key);

/* The model a checkpoint was trained with (its "model" metadata; a
 * checkpoint from before models were recorded holds the plain
 * "googlenet"), malloc'd; NULL with a message on stderr when the value
 * names no model this program knows. */
char *recipe_model(const char *prog, const char *path);

/* --resume's reading of the recipe, which fills the trainer's options, is
 * recipe_from_checkpoint (train_options.h, resume.c). */

#endif /* EXAMPLES_RECIPE_H */
