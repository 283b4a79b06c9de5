/*
 * optimizer.h — the optimizer's private state, and its state as named
 * tensors: the interface the checkpoint code (src/persist.c) saves and
 * restores it through, without knowing how it is kept.
 */
#ifndef INC_OPTIMIZER_H
#define INC_OPTIMIZER_H

#include "layer.h"

typedef struct inc__opt_slot {
  uint64_t uid;      /* the parameter tensor's identity */
  inc_tensor *buf;   /* momentum buffer, the parameter's shape */
  int first;         /* buffer not yet set by a step */
  uint64_t seen;     /* last step that touched it */
} inc__opt_slot;

struct inc_optimizer {
  inc_context *ctx;
  float lr, momentum, weight_decay;
  uint64_t step;
  inc__opt_slot *slots;
  int n, cap;
};

inc__opt_slot *inc__opt_find(inc_optimizer *opt, uint64_t uid);
inc_status inc__opt_add(inc_optimizer *opt, const inc_tensor *param, inc__opt_slot **out);
/* Makes room for `extra` more slots, so that as many inc__opt_put calls
 * cannot fail. */
inc_status inc__opt_reserve(inc_optimizer *opt, int extra);
/* Appends a slot owning buf (a set momentum buffer) for parameter uid;
 * needs the room of an earlier inc__opt_reserve. */
void inc__opt_put(inc_optimizer *opt, uint64_t uid, inc_tensor *buf);

/* ---- the state as named tensors ----
 * Each parameter may carry state tensors of its own shape, one per state
 * kind; SGD keeps one, "momentum". A state tensor is named
 * "<kind>/<parameter name>", with the parameter's name relative to the model
 * ("momentum/2.0.p2.2.weight"): the name a checkpoint stores it under. */

/* 1 if name, a tensor name of a file, names optimizer state. */
int inc__opt_is_state(const char *name);

/* Every state tensor the parameters of a model can carry, in parameter
 * order: n entries, each with its name, the parameter it follows (whose
 * shape it has), the tensor the optimizer holds now (NULL when it holds none
 * that a step has set), and a slot for a tensor to install. */
typedef struct inc__opt_state {
  int n;
  char **names;              /* (n) "momentum/<parameter name>" */
  const inc_tensor **params; /* (n) */
  const inc_tensor **held;   /* (n) */
  inc_tensor **loaded;       /* (n) made by inc__opt_state_make; NULL: none */
} inc__opt_state;

/* Lists the state of model's parameters in opt (opt may be NULL: nothing
 * held). Free st with inc__opt_state_free. */
inc_status inc__opt_state_list(const inc_optimizer *opt, const inc_layer *model,
                               inc__opt_state *st);
/* Makes st->loaded[i], a tensor of its parameter's shape for the caller to
 * fill, and room in opt to install it: once every wanted one is made,
 * inc__opt_state_install cannot fail. On failure opt is unchanged. */
inc_status inc__opt_state_make(inc_optimizer *opt, inc__opt_state *st, int i);
/* Replaces opt's state for every parameter of st by st->loaded: a parameter
 * with a loaded tensor takes it (as state a step has set), one without
 * loses what it had. Takes the loaded tensors (st->loaded[i] = NULL). */
void inc__opt_state_install(inc_optimizer *opt, inc__opt_state *st);
/* Frees the list and the loaded tensors not installed. */
void inc__opt_state_free(inc__opt_state *st);

#endif /* INC_OPTIMIZER_H */
