/*
 * grad_buckets.h — the gradient buckets of the data-parallel hooks
 * (inc_layer_set_grad_hook, src/grad_buckets.c) as the rest of the core
 * sees them: the layout built before a training forward or a backward of a
 * hooked layer, that layer's backward run with the hook's callbacks, the
 * count-down after each backward step (src/plan_run.c), and the hook's
 * share of unbinding and destroying a layer (src/layer.c).
 *
 * Invariant: the gradients in the buckets of a layer's hook are those of
 * parameters in that layer's subtree (inc__param.in_bucket names the hook);
 * so once a whole subtree is unbound or destroyed, nothing points into the
 * buckets of the hooks inside it.
 */
#ifndef INC_GRAD_BUCKETS_H
#define INC_GRAD_BUCKETS_H

#include "plan.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A layer's hook and its buckets (defined in src/grad_buckets.c). */
typedef struct inc__grad_hooks inc__grad_hooks;

/* For a bound layer l with a hook: builds its layout (moving the
 * parameters' gradients into new buckets, values kept) unless the one in
 * place is what its parameters and the hook's bucket_bytes give. On failure
 * nothing changed. */
inc_status inc__grad_buckets_ensure(inc_layer *l);
/* inc__plan_backward of a training plan whose root has a hook, with the
 * hook's callbacks: the layout ensured, ready for the buckets no step
 * computes, the steps (each followed by inc__grad_buckets_step), finish. */
inc_status inc__grad_hook_backward(inc__plan *p, const inc_tensor *dy, int want_dx);
/* After step st of the backward of p (whose root has a hook) ran: counts
 * down the buckets holding its layer's parameters and calls ready for each
 * that reaches zero. A no-op outside inc__grad_hook_backward. */
inc_status inc__grad_buckets_step(inc__plan *p, const inc__step *st);
/* l's subtree was just unbound: frees the bucket memory of l's hook, if
 * any (the hook stays set; the next training run builds a new layout). */
void inc__grad_buckets_drop(inc_layer *l);
/* l is being destroyed, its subtree already freed: frees its hook. */
void inc__grad_hook_free(inc_layer *l);

#ifdef __cplusplus
}
#endif

#endif /* INC_GRAD_BUCKETS_H */
