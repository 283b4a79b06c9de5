/*
 * inception_dist.h — data-parallel training with libinception across
 * processes and machines: Open MPI for launching and for CPU collectives,
 * NCCL for collectives between GPUs (docs/distributed.md).
 *
 * This is the public interface of libinception-dist (lib/libinception-dist.so.0
 * and lib/libinception-dist.a), a small library beside libinception, built
 * where an MPI compiler wrapper (mpicc) is found. libinception itself links
 * neither MPI nor NCCL: it offers gradient buckets and a hook
 * (inc_layer_set_grad_hook, inception.h), and this library is a
 * communicator that uses them. NCCL is opened at run time with dlopen, never
 * linked: the file named by INCEPTION_NCCL_LIBRARY if set, else
 * libnccl.so.2 through the library's RUNPATH (the CUDA toolkit's lib64 it
 * was built with), then the dynamic loader's path.
 *
 * The model, PyTorch DistributedDataParallel's: every process (a "rank")
 * holds the whole network, trains on its own part of each batch, and the
 * gradients are summed across ranks while backward still runs (bucket by
 * bucket, as each bucket's gradients become final), so that every rank then
 * applies the same update to the same weights.
 *
 * General rules, true of every function below unless its comment says more:
 *
 *  - Errors are inc_status values of inception.h; inc_dist_last_error()
 *    then says what failed. A failed MPI call is INC_ERR_IO (communication
 *    is I/O) with MPI's own text, a failed NCCL call INC_ERR_DEVICE with
 *    NCCL's, NCCL not found INC_ERR_UNAVAILABLE, ranks that disagree (other
 *    weights, other shapes) INC_ERR_STATE or INC_ERR_SHAPE. A NULL handle or
 *    out-pointer, or a value out of range, is INC_ERR_INVALID_ARGUMENT.
 *  - Collective calls (marked so) must be made by every rank, in the same
 *    order, with the same arguments where the comment says so; they return
 *    the same status on every rank where they check something, so that no
 *    rank goes on alone.
 *  - A job has one inc_dist per process (MPI can be started once). Its
 *    functions are called by one thread at a time, the thread that created
 *    it for MPI's sake; the library's own watchdog thread calls nothing of
 *    yours. Callbacks of libinception's gradient hook run on the thread that
 *    called inc_layer_backward.
 *  - A failure in one rank usually leaves the others waiting in a
 *    collective: end the job with inc_dist_abort(), which ends every rank.
 *    The watchdog does the same when a collective has not completed within
 *    the timeout (default 60 s, INCEPTION_DIST_TIMEOUT), so a dead or stuck
 *    rank never leaves the job hanging.
 *  - This library writes to stderr only when it ends the job (the message
 *    of inc_dist_abort, the watchdog's), and never exits otherwise.
 */
#ifndef INCEPTION_DIST_H
#define INCEPTION_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "inception.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#  define INC_DIST_API __attribute__((visibility("default")))
#else
#  define INC_DIST_API
#endif

/* The environment variables this library reads. */
#define INC_DIST_TIMEOUT_ENV "INCEPTION_DIST_TIMEOUT"     /* seconds; 0: no watchdog */
#define INC_DIST_NCCL_ENV "INCEPTION_NCCL_LIBRARY"       /* the NCCL file to open    */
#define INC_DIST_TRACE_ENV "INCEPTION_DIST_TRACE"        /* bucket timeline, see attach */
#define INC_DIST_BUCKET_ENV "INCEPTION_DIST_BUCKET_MB"   /* bucket size, see attach */

/* The watchdog's default timeout in seconds. */
#define INC_DIST_DEFAULT_TIMEOUT 60

/* The job: this process's rank among size processes. */
typedef struct inc_dist inc_dist;
/* A network attached to the job: its gradients are summed across ranks. */
typedef struct inc_dist_net inc_dist_net;

/* ------------------------------------------------------------------------ */
/* The job                                                                   */
/* ------------------------------------------------------------------------ */

/* Joins the job the process was launched into. Under Open MPI's mpirun
 * (OMPI_COMM_WORLD_SIZE or PMIX_RANK in the environment) it starts MPI
 * (MPI_Init_thread, asking for MPI_THREAD_MULTIPLE so that the watchdog can
 * end the job), works on a duplicate of MPI_COMM_WORLD with MPI's errors
 * returned (MPI_ERRORS_RETURN) rather than fatal, and starts the watchdog
 * thread (timeout from INCEPTION_DIST_TIMEOUT, in seconds, default
 * INC_DIST_DEFAULT_TIMEOUT; 0 turns it off). Otherwise the process is a
 * job of one rank without MPI: every collective below is then a local
 * no-op, so one program runs both ways. Collective.
 *
 * Returns INC_OK and sets *out (the caller owns it; inc_dist_finalize
 * frees it). There is no handle yet to carry a message, so on failure the
 * reason goes to why (cap bytes, NUL-terminated, truncated; why may be
 * NULL, then cap is ignored): INC_ERR_INVALID_ARGUMENT for a NULL out or a
 * malformed INCEPTION_DIST_TIMEOUT; INC_ERR_STATE when this process
 * already has an inc_dist, or had one and finalized MPI (MPI cannot start
 * twice); INC_ERR_IO when MPI fails to start; INC_ERR_OUT_OF_MEMORY. On
 * failure *out is NULL and nothing is left running. Threads: call it from
 * the thread that will make the job's calls. */
INC_DIST_API inc_status inc_dist_init(inc_dist **out, char *why, size_t cap);

/* Leaves the job and frees d: stops the watchdog, closes NCCL and, when
 * inc_dist_init started MPI, waits for every rank (MPI_Finalize). Every
 * inc_dist_net of d must have been detached first (else INC_ERR_STATE and
 * nothing is done). NULL is a no-op returning INC_OK. Collective. Returns
 * INC_ERR_IO when MPI_Finalize fails (d is freed all the same). */
INC_DIST_API inc_status inc_dist_finalize(inc_dist *d);

/* Returns this process's rank, 0..size-1; 0 for NULL. Never fails. */
INC_DIST_API int inc_dist_rank(const inc_dist *d);

/* Returns the number of ranks; 1 for NULL or a job without MPI. */
INC_DIST_API int inc_dist_size(const inc_dist *d);

/* Returns 1 when the job runs on MPI (launched by mpirun), 0 when it is a
 * plain run of one rank, or for NULL. */
INC_DIST_API int inc_dist_uses_mpi(const inc_dist *d);

/* Returns the message of the last failed call on d, or ""; owned by d,
 * valid until its next call. "" for NULL. */
INC_DIST_API const char *inc_dist_last_error(const inc_dist *d);

/* Ends the whole job now: writes "inception-dist: rank R/N: message\n" to
 * stderr (message may be NULL: then nothing is written), flushes stdio and
 * calls MPI_Abort with code, which makes mpirun end every rank and exit
 * non-zero, and does not return; in a job without MPI (or a NULL d) there
 * is no other rank to end, and it returns after the message: the caller
 * ends its process (the library never exits). code 0 becomes 1. Not
 * collective: one rank's call ends them all. */
INC_DIST_API void inc_dist_abort(inc_dist *d, int code, const char *message);

/* ------------------------------------------------------------------------ */
/* Collectives on host memory                                                */
/* ------------------------------------------------------------------------ */

/* Blocks until every rank has called it. Collective. INC_ERR_IO when MPI
 * fails. */
INC_DIST_API inc_status inc_dist_barrier(inc_dist *d);

/* Sums count doubles of host memory across ranks, in place: every rank gets
 * the same sums, bit for bit (for metrics: losses, correct counts). count
 * must be the same on every rank, 0 <= count (0 is a no-op; values may
 * then be NULL). Collective. INC_ERR_INVALID_ARGUMENT for a NULL d, NULL
 * values with count > 0 or a negative count; INC_ERR_IO when MPI fails. */
INC_DIST_API inc_status inc_dist_allreduce_sum(inc_dist *d, double *values, int64_t count);

/* The part of n items (a batch, a test set) that rank `rank` of `size`
 * takes: items [*first, *first + *count), contiguous, in rank order, sizes
 * differing by at most one (the first n % size ranks take one more). A
 * pure function, no communication. INC_ERR_INVALID_ARGUMENT for NULL
 * outputs, n < 0, size < 1 or a rank outside 0..size-1. */
INC_DIST_API inc_status inc_dist_shard(int64_t n, int rank, int size, int64_t *first,
                                       int64_t *count);

/* ------------------------------------------------------------------------ */
/* Weights                                                                   */
/* ------------------------------------------------------------------------ */

/* Copies every parameter and buffer (inc_layer_param, inc_layer_buffer
 * order) of root's net into the other ranks' nets, through host memory,
 * so that every rank starts from the same weights and statistics. The nets
 * must be bound and alike: the same number of tensors with the same
 * element counts, else INC_ERR_SHAPE on every rank and no tensor changed.
 * The optimizer's state is not part of it. Collective, with the same root
 * (0 <= root < size). INC_ERR_INVALID_ARGUMENT for NULL d or net or a root
 * out of range; INC_ERR_STATE for an unbound net; INC_ERR_IO when MPI
 * fails; INC_ERR_OUT_OF_MEMORY; a libinception error copying a tensor (its
 * context's message is repeated in inc_dist_last_error). */
INC_DIST_API inc_status inc_dist_broadcast_layer(inc_dist *d, inc_layer *net, int root);

/* Replaces every buffer of net (a batch norm's running mean and variance,
 * inc_layer_buffer) by its mean over the ranks, computed in double; every
 * rank gets the same values, bit for bit. Each rank's buffers saw only its
 * shard of the batches; their mean is the running mean of the global
 * batches' means (the running variance: the mean of the shards'
 * variances). A net without buffers is a no-op. Collective; the same
 * errors as inc_dist_broadcast_layer. */
INC_DIST_API inc_status inc_dist_average_buffers(inc_dist *d, inc_layer *net);

/* A 64-bit checksum of net's weights: the bytes of every parameter and
 * buffer value, with their names and element counts, in inc_layer_param
 * then inc_layer_buffer order. Equal nets (bit for bit) give equal sums.
 * Local: no communication. INC_ERR_INVALID_ARGUMENT for NULL net or sum;
 * INC_ERR_STATE for an unbound net; OUT_OF_MEMORY; a libinception error
 * copying a tensor (inc_context_last_error of the net's context says it;
 * with d, use inc_dist_verify_identical instead). */
INC_DIST_API inc_status inc_dist_checksum(const inc_layer *net, uint64_t *sum);

/* Checks that net's weights are identical on every rank: compares the
 * ranks' inc_dist_checksum values. Returns INC_OK, with the common checksum
 * in *sum (may be NULL), or INC_ERR_STATE on every rank when they differ,
 * the message naming each rank's checksum. Collective. The errors of
 * inc_dist_checksum, and INC_ERR_IO when MPI fails. */
INC_DIST_API inc_status inc_dist_verify_identical(inc_dist *d, const inc_layer *net,
                                                  uint64_t *sum);

/* ------------------------------------------------------------------------ */
/* Gradients                                                                 */
/* ------------------------------------------------------------------------ */

/* Attaches net to the job: installs a gradient hook on it
 * (inc_layer_set_grad_hook, buckets of bucket_bytes; 0: the size
 * INCEPTION_DIST_BUCKET_MB names in MiB when it is set, else
 * INC_GRAD_BUCKET_DEFAULT_BYTES) that sums each bucket's gradients across
 * ranks as soon as backward has computed them, so that when
 * inc_layer_backward returns, every rank holds the same gradient: the SUM
 * over ranks of what each rank's backward computed.
 *
 * A sum, not a mean: make it the gradient you want by scaling your loss.
 * For the mean over a global batch of B rows of which this rank holds b,
 * scale this rank's loss gradient (dlogits of the mean loss over its b
 * rows) by b / B; with equal shards that is 1/size. Then N ranks compute
 * the update one process computes for the whole batch, up to the order of
 * float additions (examples/train does this; docs/distributed.md).
 *
 * On a CPU context each bucket is reduced with MPI_Iallreduce, started in
 * the hook's ready callback and progressed by the later ones (Open MPI
 * progresses non-blocking collectives only inside MPI calls), and waited
 * for in its finish callback. On a CUDA context the job's ranks get one
 * NCCL communicator for this net (its ncclUniqueId made by rank 0 and
 * broadcast over MPI) and each bucket is reduced by ncclAllReduce, queued
 * on the context's stream after the gradient work, so that the optimizer
 * step queued later reads the sums; the host does not wait. In a job of one
 * rank no hook is installed: the gradients already are the sum.
 *
 * After a failed backward the ranks' reductions no longer match: every
 * later backward of the net fails with INC_ERR_STATE; end the job
 * (inc_dist_abort). With INCEPTION_DIST_TRACE=PREFIX set, each rank
 * records when each bucket became ready, when its reduction was seen
 * complete (CPU) and when backward ended, in seconds of CLOCK_MONOTONIC,
 * and writes them to PREFIX.rank<R>.csv at detach (docs/distributed.md).
 *
 * The net must be bound (INC_ERR_STATE) and stay alive until
 * inc_dist_detach; it may not carry another hook (INC_ERR_STATE). Call it
 * after inc_dist_broadcast_layer so that the ranks start alike. Collective
 * (NCCL's communicator is made together). Returns INC_OK and sets *out
 * (owned by the caller, freed by inc_dist_detach); INC_ERR_INVALID_ARGUMENT
 * for NULL arguments, a negative bucket_bytes or a malformed
 * INCEPTION_DIST_BUCKET_MB; INC_ERR_UNAVAILABLE for a
 * CUDA context when this library was built without NCCL's header or NCCL
 * cannot be opened (the message says where it looked); INC_ERR_DEVICE when
 * NCCL fails; INC_ERR_IO when MPI fails; OUT_OF_MEMORY; the errors of
 * inc_layer_set_grad_hook. On failure *out is NULL and net is unchanged. */
INC_DIST_API inc_status inc_dist_attach(inc_dist *d, inc_layer *net, int64_t bucket_bytes,
                                        inc_dist_net **out);

/* Multiplies every element of t by factor, in place, through host memory
 * (a copy to the host and back; meant for small tensors). For the loss
 * gradient of a rank's shard: b / B of the rows (see inc_dist_attach); 0
 * gives a rank that has no row of a batch a zero contribution while it
 * still takes part in the sums. Local. Returns INC_OK;
 * INC_ERR_INVALID_ARGUMENT for a NULL t or a factor that is not finite;
 * INC_ERR_OUT_OF_MEMORY; an error of the copies (inc_context_last_error of
 * t's context says it). On failure t is unchanged unless the copy back
 * failed. */
INC_DIST_API inc_status inc_dist_scale_tensor(inc_tensor *t, double factor);

/* Removes the hook from the net (inc_layer_set_grad_hook(net, NULL)),
 * writes the trace when one was asked for, frees NCCL's communicator (on a
 * CUDA context after waiting for the sums queued on its stream,
 * inc_context_synchronize) and n. NULL is a no-op returning INC_OK. Collective on CUDA contexts (NCCL's
 * communicator is destroyed together). Returns the error of removing the
 * hook (INC_ERR_OUT_OF_MEMORY: the gradients need memory of their own
 * again) or of the synchronization (a device error), and then n stays
 * attached and is not freed; INC_ERR_STATE, n kept too, when a backward
 * failed while sums of its buckets were under way on MPI (they may never
 * complete, and they write into the buckets: end the job with
 * inc_dist_abort); or INC_ERR_IO when
 * the trace cannot be written, and then n is freed all the same. */
INC_DIST_API inc_status inc_dist_detach(inc_dist_net *n);

/* ------------------------------------------------------------------------ */
/* The watchdog                                                              */
/* ------------------------------------------------------------------------ */

/* Sets the watchdog's timeout: a collective of this library (or a span
 * marked with inc_dist_watch_begin) that has not completed after seconds
 * ends the job as inc_dist_abort does, with a message naming what it
 * waited for. 0 turns the watchdog off. Overrides INCEPTION_DIST_TIMEOUT.
 * Returns INC_OK; INC_ERR_INVALID_ARGUMENT for NULL d or seconds negative
 * or not finite. Local; a no-op in a job without MPI. */
INC_DIST_API inc_status inc_dist_set_timeout(inc_dist *d, double seconds);

/* Marks a span the watchdog guards, such as a training step on a GPU,
 * whose NCCL reductions run on the device where this library cannot wait
 * for them: if inc_dist_watch_end has not followed within the timeout, the
 * job ends. Spans nest (the outermost one's start counts). what names the
 * span in the message (copied; NULL: "a step"). NULL d is a no-op. */
INC_DIST_API void inc_dist_watch_begin(inc_dist *d, const char *what);
INC_DIST_API void inc_dist_watch_end(inc_dist *d);

#ifdef __cplusplus
}
#endif

#endif /* INCEPTION_DIST_H */
