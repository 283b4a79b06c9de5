/*
 * ops.c — the op registry (src/ops.h) at run time: what a backend says it
 * supports, the ops' names, and the mask of the slots a table really fills
 * (what tests/test_registry.c holds the supports mask to).
 */
#include "internal.h"

int inc__backend_supports(const inc_context *ctx, inc__op op)
{
  return (unsigned)op < INC__OP_COUNT && (ctx->ops->supports >> op & 1);
}

const char *inc__op_name(inc__op op)
{
#define NAME(op, params, args, prof) #op,
  static const char *const names[] = {INC__OPS(NAME)};
#undef NAME
  return (unsigned)op < INC__OP_COUNT ? names[op] : "?";
}

uint64_t inc__ops_filled(const inc__backend_ops *ops)
{
  uint64_t mask = 0;
#define FILLED(op, params, args, prof)                                                           \
  if (ops->op) mask |= INC__OP_BIT(op);
  INC__OPS(FILLED)
#undef FILLED
  return mask;
}
