/*
 * optimizer.h — the optimizer's private state, shared with the checkpoint
 * code that saves and restores momentum buffers.
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

#endif /* INC_OPTIMIZER_H */
