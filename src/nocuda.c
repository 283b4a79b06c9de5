/*
 * nocuda.c — the CUDA entry points of a build made without CUDA (CUDA=0).
 *
 * Such a library is complete on the CPU; asking for the CUDA backend says
 * plainly that it was not built in, with INC_ERR_UNAVAILABLE.
 */
#include "internal.h"

int inc__cuda_usable(void) { return 0; }

inc_status inc__cuda_backend_init(inc_context *ctx)
{
  return inc__error(ctx, INC_ERR_UNAVAILABLE,
                    "CUDA backend: this build of libinception has no CUDA support "
                    "(built with CUDA=0)");
}
