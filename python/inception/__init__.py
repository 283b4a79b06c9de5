"""inception — the Python package of libinception (include/inception.h), a
ctypes binding: `pip install ./python` (python/pyproject.toml), or this
directory on sys.path straight from the source tree.

Standard library only; numpy is used when it is installed (tensors convert
to and from numpy arrays, one copy each way, straight between the array's
buffer and the library), otherwise tensors convert to and from (nested)
Python lists. Set INCEPTION_NO_NUMPY=1 to force the list path.

The shared library is found in this order:
  1. $INCEPTION_LIB (a path or a library name),
  2. inside the package: libinception.so.<MAJOR>, which `pip install`
     copies in (with the CUDA module beside it, where the library looks),
  3. the build tree: lib/libinception.so two directories above this
     package (python/inception/ -> the repository root),
  4. an installed tree: PREFIX/lib/libinception.so.<MAJOR> five directories
     above this package (PREFIX/share/doc/libinception/python/inception/,
     where `make install` puts it),
  5. the system loader (libinception.so.<MAJOR>).

Every C function of the header is declared below with its argument and
result types (_SIGNATURES). Errors become InceptionError with .status, the
status name ("INC_ERR_SHAPE"), .code, its number, and .message, the context's
detail message ("layer 0.0 (conv2d): bound to 1 input channel, got 3").

A small example:

    import inception as inc
    with inc.Context("cpu") as ctx:
        net = inc.sequential(ctx,
                             inc.inception(ctx, 8, (8, 16), (4, 8), 8),
                             inc.global_avg_pool2d(ctx), inc.flatten(ctx),
                             inc.dense(ctx, 10))
        x = ctx.tensor(images)            # (N, C, H, W) numpy array or lists
        logits = net(x, training=True)
        dlogits = ctx.zeros(logits.shape)
        loss, correct = inc.softmax_cross_entropy(logits, labels, dlogits)
        net.backward(dlogits)
        inc.SGD(ctx, lr=0.05, momentum=0.9).step(net)

Lifetimes follow the C library: a layer's output, input gradient and
parameter tensors belong to the layer (valid until its next call); a layer
given to a container belongs to the container; a context outlives everything
made from it (the wrappers keep the references that guarantee it).

Typed (PEP 561, py.typed): the public API is annotated; ArrayLike, ShapeLike,
BackendLike and PathType below are the type aliases of its arguments.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import weakref
from ctypes import (POINTER, byref, c_char_p, c_float, c_int, c_int32, c_int64,
                    c_size_t, c_uint, c_uint64, c_void_p)
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Literal, Mapping,
                    Optional, Sequence, Tuple, TypeVar, Union)

# The type checker sees numpy's module and types; at run time np is None on
# the list path (hence the ignores: the checker assumes the module).
if TYPE_CHECKING:
    import numpy as np
if os.environ.get("INCEPTION_NO_NUMPY", "") not in ("", "0"):
    np = None  # type: ignore[assignment]
else:
    try:
        import numpy as np
    except ImportError:  # the list path
        np = None  # type: ignore[assignment]

__all__ = [
    "InceptionError", "Context", "Tensor", "Layer", "SGD", "Conv2dDesc", "GoogLeNetDesc",
    "GradHook", "GradReadyFn", "GradFinishFn",
    "conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool2d", "relu", "flatten",
    "dense", "sequential", "concat", "inception", "googlenet", "batch_norm2d", "googlenet_bn",
    "dropout", "identity", "residual", "inception_v3",
    "softmax_cross_entropy", "save", "load", "checkpoint_save", "checkpoint_load",
    "checkpoint_metadata", "version", "version_number", "backend_available",
    "status_string", "HAVE_NUMPY", "MAX_DIMS",
]

HAVE_NUMPY = np is not None
MAX_DIMS = 8

# ---- type aliases (numpy quoted: no import needed where it is absent) ------
#: Host data for a tensor: a numpy array, a (nested) sequence of numbers, or a number.
ArrayLike = Union["np.ndarray", Sequence[Any], float]
#: A tensor shape: a sequence of 1..MAX_DIMS ints, e.g. (N, C, H, W).
ShapeLike = Sequence[int]
#: A backend: "auto", "cpu", "cuda" (any case) or its number (BACKEND_*).
BackendLike = Union[str, int]
#: A window setting: one int for both axes, or (along H, along W).
IntPair = Union[int, Tuple[int, int]]
#: A file path, as os.fsencode accepts it.
PathType = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
_T = TypeVar("_T")

# ---- enums (append-only in the C header; values pinned) --------------------
OK = 0
ERR_INVALID_ARGUMENT = 1
ERR_SHAPE = 2
ERR_OUT_OF_MEMORY = 3
ERR_DEVICE = 4
ERR_UNAVAILABLE = 5
ERR_STATE = 6
ERR_IO = 7
ERR_FORMAT = 8
ERR_DEVICE_LOST = 9

BACKEND_AUTO, BACKEND_CPU, BACKEND_CUDA = 0, 1, 2
_BACKENDS = {"auto": BACKEND_AUTO, "cpu": BACKEND_CPU, "cuda": BACKEND_CUDA}
_BACKEND_NAMES = {v: k for k, v in _BACKENDS.items()}

INIT_XAVIER_UNIFORM, INIT_XAVIER_NORMAL, INIT_KAIMING_UNIFORM = 0, 1, 2
INIT_KAIMING_NORMAL, INIT_NORMAL_001 = 3, 4
_INITS = {"xavier_uniform": 0, "xavier_normal": 1, "kaiming_uniform": 2,
          "kaiming_normal": 3, "normal_001": 4}


# ---- the library -----------------------------------------------------------
class _Context(ctypes.Structure):
    """struct inc_context (opaque)."""


class _Tensor(ctypes.Structure):
    """struct inc_tensor (opaque)."""


class _Layer(ctypes.Structure):
    """struct inc_layer (opaque)."""


class _Optimizer(ctypes.Structure):
    """struct inc_optimizer (opaque)."""


class Conv2dDesc(ctypes.Structure):
    """struct inc_conv2d_desc (since 0.4), the settings inc_conv2d_create_desc
    reads; conv2d() fills one. size must be ctypes.sizeof(Conv2dDesc)."""
    _fields_ = [("size", c_size_t), ("out_channels", c_int), ("kernel_h", c_int),
                ("kernel_w", c_int), ("stride_h", c_int), ("stride_w", c_int),
                ("pad_h", c_int), ("pad_w", c_int), ("bias", c_int)]


class GoogLeNetDesc(ctypes.Structure):
    """struct inc_googlenet_desc (since 0.4), what inc_googlenet_create_desc
    builds; googlenet() fills one. size must be ctypes.sizeof(GoogLeNetDesc)."""
    _fields_ = [("size", c_size_t), ("classes", c_int), ("batch_norm", c_int),
                ("dropout", c_float), ("reserved", c_int)]


#: inc_grad_ready_fn and inc_grad_finish_fn (since 0.5): (user, bucket, grad,
#: count, stream) and (user, backward_status, stream), each returning a status.
GradReadyFn = ctypes.CFUNCTYPE(c_int, c_void_p, c_int, POINTER(c_float), c_int64, c_void_p)
GradFinishFn = ctypes.CFUNCTYPE(c_int, c_void_p, c_int, c_void_p)


class GradHook(ctypes.Structure):
    """struct inc_grad_hook (since 0.5), what inc_layer_set_grad_hook installs
    (the data-parallel hooks of inception.h). size must be ctypes.sizeof(GradHook);
    keep the callbacks referenced while the hook is set."""
    _fields_ = [("size", c_size_t), ("bucket_bytes", c_int64), ("ready", GradReadyFn),
                ("finish", GradFinishFn), ("user", c_void_p)]


ContextP = POINTER(_Context)
TensorP = POINTER(_Tensor)
LayerP = POINTER(_Layer)
OptimizerP = POINTER(_Optimizer)
_P = POINTER
_status = c_int  # inc_status
_enum = c_int    # inc_backend, inc_init

# name: (restype, [argtypes]) for every INC_API function of inception.h.
_SIGNATURES = {
    # versions and errors
    "inc_version_number": (c_uint, []),
    "inc_version_string": (c_char_p, []),
    "inc_status_string": (c_char_p, [_status]),
    # context
    "inc_backend_available": (c_int, [_enum]),
    "inc_backend_probe": (_status, [_enum, c_char_p, c_size_t]),
    "inc_context_create": (_status, [_enum, _P(ContextP)]),
    "inc_context_destroy": (None, [ContextP]),
    "inc_context_backend": (_enum, [ContextP]),
    "inc_context_last_error": (c_char_p, [ContextP]),
    "inc_context_device_name": (c_char_p, [ContextP]),
    "inc_context_set_seed": (_status, [ContextP, c_uint64]),
    "inc_context_seed": (c_uint64, [ContextP]),
    "inc_context_set_num_threads": (_status, [ContextP, c_int]),
    "inc_context_synchronize": (_status, [ContextP]),
    "inc_context_set_precision": (_status, [ContextP, _enum]),
    "inc_context_precision": (_enum, [ContextP]),
    # tensors
    "inc_tensor_create": (_status, [ContextP, c_int, _P(c_int64), _P(TensorP)]),
    "inc_tensor_destroy": (None, [TensorP]),
    "inc_tensor_ndim": (c_int, [TensorP]),
    "inc_tensor_dim": (c_int64, [TensorP, c_int]),
    "inc_tensor_numel": (c_int64, [TensorP]),
    "inc_tensor_context": (ContextP, [TensorP]),
    "inc_tensor_copy_from_host": (_status, [TensorP, _P(c_float), c_int64]),
    "inc_tensor_copy_to_host": (_status, [TensorP, _P(c_float), c_int64]),
    "inc_tensor_reshape": (_status, [TensorP, c_int, _P(c_int64)]),
    # layers
    "inc_conv2d_create": (_status, [ContextP, c_int, c_int, c_int, c_int, _P(LayerP)]),
    "inc_conv2d_create_desc": (_status, [ContextP, _P(Conv2dDesc), _P(LayerP)]),
    "inc_max_pool2d_create": (_status, [ContextP, c_int, c_int, c_int, _P(LayerP)]),
    "inc_avg_pool2d_create": (_status, [ContextP, c_int, c_int, c_int, _P(LayerP)]),
    "inc_global_avg_pool2d_create": (_status, [ContextP, _P(LayerP)]),
    "inc_relu_create": (_status, [ContextP, _P(LayerP)]),
    "inc_flatten_create": (_status, [ContextP, _P(LayerP)]),
    "inc_dropout_create": (_status, [ContextP, c_float, _P(LayerP)]),
    "inc_dense_create": (_status, [ContextP, c_int, _P(LayerP)]),
    "inc_sequential_create": (_status, [ContextP, _P(LayerP)]),
    "inc_sequential_append": (_status, [LayerP, LayerP]),
    "inc_concat_create": (_status, [ContextP, _P(LayerP)]),
    "inc_concat_add_branch": (_status, [LayerP, LayerP]),
    "inc_identity_create": (_status, [ContextP, _P(LayerP)]),
    "inc_residual_create": (_status, [ContextP, _P(LayerP)]),
    "inc_residual_add_branch": (_status, [LayerP, LayerP, c_float]),
    "inc_inception_create": (_status, [ContextP, c_int, c_int, c_int, c_int, c_int, c_int,
                                       _P(LayerP)]),
    "inc_googlenet_create": (_status, [ContextP, c_int, _P(LayerP)]),
    "inc_batch_norm2d_create": (_status, [ContextP, c_float, c_float, _P(LayerP)]),
    "inc_googlenet_bn_create": (_status, [ContextP, c_int, _P(LayerP)]),
    "inc_googlenet_create_desc": (_status, [ContextP, _P(GoogLeNetDesc), _P(LayerP)]),
    "inc_inception_v3_create": (_status, [ContextP, c_int, c_int, c_int, c_int, c_int,
                                          _P(LayerP)]),
    "inc_layer_destroy": (None, [LayerP]),
    "inc_layer_kind": (c_char_p, [LayerP]),
    "inc_layer_set_name": (_status, [LayerP, c_char_p]),
    "inc_layer_name": (c_char_p, [LayerP]),
    "inc_layer_child_count": (c_int, [LayerP]),
    "inc_layer_child": (LayerP, [LayerP, c_int]),
    "inc_layer_parent": (LayerP, [LayerP]),
    # shapes
    "inc_layer_is_bound": (c_int, [LayerP]),
    "inc_layer_infer_shape": (_status, [LayerP, c_int, _P(c_int64), _P(c_int), _P(c_int64)]),
    "inc_layer_unbind": (_status, [LayerP]),
    "inc_layer_summary": (_status, [LayerP, c_int, _P(c_int64), c_char_p, c_size_t,
                                    _P(c_size_t)]),
    # initialization, running, parameters
    "inc_layer_initialize": (_status, [LayerP, _enum, c_int]),
    "inc_layer_forward": (_status, [LayerP, TensorP, c_int, _P(TensorP)]),
    "inc_layer_backward": (_status, [LayerP, TensorP, _P(TensorP)]),
    "inc_layer_param_count": (c_int, [LayerP]),
    "inc_layer_param_numel": (c_int64, [LayerP]),
    "inc_layer_param": (_status, [LayerP, c_int, _P(c_char_p), _P(TensorP), _P(TensorP)]),
    "inc_layer_buffer_count": (c_int, [LayerP]),
    "inc_layer_buffer": (_status, [LayerP, c_int, _P(c_char_p), _P(TensorP)]),
    # data-parallel hooks
    "inc_layer_set_grad_hook": (_status, [LayerP, _P(GradHook)]),
    "inc_layer_grad_bucket_count": (c_int, [LayerP]),
    "inc_layer_grad_bucket": (_status, [LayerP, c_int, _P(c_int64), _P(c_int), _P(c_int)]),
    # loss and optimizer
    "inc_softmax_cross_entropy": (_status, [ContextP, TensorP, _P(c_int32), _P(c_float),
                                            TensorP, _P(c_int64)]),
    "inc_softmax_cross_entropy_smoothed": (_status, [ContextP, TensorP, _P(c_int32), c_float,
                                                     _P(c_float), TensorP, _P(c_int64)]),
    "inc_sgd_create": (_status, [ContextP, c_float, c_float, c_float, _P(OptimizerP)]),
    "inc_optimizer_step": (_status, [OptimizerP, LayerP]),
    "inc_optimizer_set_lr": (_status, [OptimizerP, c_float]),
    "inc_optimizer_lr": (c_float, [OptimizerP]),
    "inc_optimizer_destroy": (None, [OptimizerP]),
    # persistence
    "inc_layer_save": (_status, [LayerP, c_char_p]),
    "inc_layer_load": (_status, [LayerP, c_char_p]),
    "inc_layer_export_onnx": (_status, [LayerP, c_char_p]),
    "inc_checkpoint_save": (_status, [LayerP, OptimizerP, c_int, _P(c_char_p), _P(c_char_p),
                                      c_char_p]),
    "inc_checkpoint_load": (_status, [LayerP, OptimizerP, c_char_p]),
    "inc_checkpoint_metadata": (_status, [c_char_p, c_char_p, c_char_p, c_size_t,
                                          _P(c_size_t)]),
}


def _candidates() -> List[str]:
    env = os.environ.get("INCEPTION_LIB")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    found = [os.path.join(here, "libinception.so.0"),
             os.path.join(here, "..", "..", "lib", "libinception.so"),
             os.path.join(here, "..", "..", "..", "..", "..", "lib", "libinception.so.0")]
    found = [os.path.normpath(p) for p in found if os.path.exists(p)]
    system = ctypes.util.find_library("inception")
    return found + [system or "libinception.so.0"]


def _load() -> Tuple[ctypes.CDLL, str]:
    errors = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            errors.append("%s: %s" % (path, e))
            continue
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(lib, name)  # AttributeError: the library lacks a function
            fn.restype = restype
            fn.argtypes = argtypes
        return lib, path
    raise OSError("libinception not found (set INCEPTION_LIB to its path): " +
                  "; ".join(errors))


_lib, LIBRARY_PATH = _load()


def _s(b: Optional[bytes]) -> str:
    return b.decode("utf-8", "replace") if b is not None else ""


def status_string(code: int) -> str:
    """The static name of a status code ("INC_ERR_SHAPE"; "INC_ERR_UNKNOWN"
    for a number the library does not know)."""
    return _s(_lib.inc_status_string(code))


def version() -> str:
    """The loaded library's version, "MAJOR.MINOR.PATCH"."""
    return _s(_lib.inc_version_string())


def version_number() -> int:
    """The loaded library's version as MAJOR*10000 + MINOR*100 + PATCH."""
    return _lib.inc_version_number()


__version__ = version()


def backend_available(backend: BackendLike) -> bool:
    """True if backend ("cpu", "cuda", "auto" or its number) is usable now."""
    return bool(_lib.inc_backend_available(_backend_code(backend)))


def backend_probe(backend: BackendLike) -> Tuple[bool, str]:
    """(usable, why) for backend ("cpu", "cuda", "auto" or its number): why
    says why CUDA cannot be used (for "cuda", and for "auto", which then
    runs on the CPU), e.g. where its module was looked for; else "".
    Raises ValueError for an unknown backend."""
    why = ctypes.create_string_buffer(1024)
    status = _lib.inc_backend_probe(_backend_code(backend), why, len(why))
    if status not in (0, ERR_UNAVAILABLE):
        raise ValueError("inc_backend_probe: %s" % _s(_lib.inc_status_string(status)))
    return status == 0, _s(why.value)


def _backend_code(backend: BackendLike) -> int:
    if isinstance(backend, str):
        try:
            return _BACKENDS[backend.lower()]
        except KeyError:
            raise ValueError("backend must be one of auto, cpu, cuda; got %r" % backend)
    return int(backend)


# ---- errors ----------------------------------------------------------------
class InceptionError(Exception):
    """A libinception call failed.

    .status  the status name, e.g. "INC_ERR_SHAPE"
    .code    its number (inception.ERR_SHAPE)
    .message the context's detail message ("" when the call has no context)
    .call    the C function that failed
    """

    def __init__(self, code: int, message: str = "", call: str = "") -> None:
        """The error of status code (a number), with the context's message and
        the name of the C function that returned it."""
        self.code = int(code)
        self.status = status_string(self.code)
        self.message = message
        self.call = call
        text = "%s: %s" % (call, self.status) if call else self.status
        super().__init__(text + (": " + message if message else ""))


def _check(status: int, ctx: Optional[Context], call: str) -> None:
    if status != OK:
        message = _s(_lib.inc_context_last_error(ctx._ptr)) if ctx is not None else ""
        raise InceptionError(status, message, call)


# ---- host data conversion ----------------------------------------------------
def _flatten(data):
    """(flat list of numbers, shape) of a number or nested sequence."""
    if isinstance(data, (int, float)):
        return [float(data)], ()
    items = list(data)
    if not items:
        return [], (0,)
    if isinstance(items[0], (int, float)):
        return [float(v) for v in items], (len(items),)
    flat, inner = [], None
    for item in items:
        f, s = _flatten(item)
        if inner is not None and s != inner:
            raise ValueError("ragged nested sequence: %r then %r" % (inner, s))
        inner = s
        flat.extend(f)
    return flat, (len(items),) + inner


def _nest(flat, shape):
    if len(shape) <= 1:
        return list(flat)
    step = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def _numel(shape):
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _dims(shape):
    shape = tuple(int(d) for d in shape)
    return shape, (c_int64 * max(len(shape), 1))(*shape)


def _float_buffer(data):
    """(keepalive, POINTER(c_float), count, shape) for host data."""
    if np is not None:
        arr = np.ascontiguousarray(np.asarray(data, dtype=np.float32))
        return arr, arr.ctypes.data_as(POINTER(c_float)), arr.size, arr.shape
    flat, shape = _flatten(data)
    buf = (c_float * max(len(flat), 1))(*flat)
    return buf, ctypes.cast(buf, POINTER(c_float)), len(flat), shape


def _int32_buffer(labels):
    if np is not None:
        arr = np.ascontiguousarray(np.asarray(labels, dtype=np.int32))
        return arr, arr.ctypes.data_as(POINTER(c_int32)), arr.size
    values = [int(v) for v in labels]
    buf = (c_int32 * max(len(values), 1))(*values)
    return buf, ctypes.cast(buf, POINTER(c_int32)), len(values)


# ---- context -------------------------------------------------------------------
class Context:
    """A backend and device, the random seed, the thread count and the last
    error message. Everything else is made from a context and must not
    outlive it; the wrappers keep it alive for you."""

    _ptr: Any  # a ContextP; None once freed

    def __init__(self, backend: BackendLike = "auto", seed: Optional[int] = None,
                 threads: Optional[int] = None) -> None:
        """Creates a context on backend ("auto": CUDA when usable, else the
        CPU), optionally setting its seed and thread count. Raises
        InceptionError (ERR_UNAVAILABLE with the reason when the backend is
        not usable here), ValueError for an unknown backend name."""
        ptr = ContextP()
        status = _lib.inc_context_create(_backend_code(backend), byref(ptr))
        if status != OK:
            why = ""
            if status == ERR_UNAVAILABLE:
                why = "backend %r is not usable here: %s" % (backend, backend_probe(backend)[1])
            raise InceptionError(status, why, "inc_context_create")
        self._ptr = ptr
        # The C context must be freed after every object made from it. Owned
        # objects (tensors, root layers, optimizers) are counted; the context
        # is freed when it is closed (or collected) and the count is zero,
        # else by the last owned object to go. The garbage collector may
        # finalize a context before the objects of a reference cycle.
        self._objects: weakref.WeakSet[Union[Tensor, Layer, SGD]] = weakref.WeakSet()
        self._live = 0
        self._closed = False
        if seed is not None:
            self.seed = seed
        if threads is not None:
            self.num_threads = threads

    def _adopt(self, obj):
        self._live += 1
        self._objects.add(obj)

    def _release(self, obj):
        self._live -= 1
        self._objects.discard(obj)
        if self._closed and self._live == 0:
            self._free()

    def _free(self, _destroy=_lib.inc_context_destroy):
        if getattr(self, "_ptr", None):
            _destroy(self._ptr)
            self._ptr = None

    def close(self) -> None:
        """Frees the context now, after every tensor, layer and optimizer
        made from it that is still open (their wrappers become unusable)."""
        if getattr(self, "_ptr", None) and not self._closed:
            for obj in list(self._objects):
                obj.close()
            self._closed = True
            if self._live == 0:
                self._free()

    def __del__(self) -> None:
        if getattr(self, "_ptr", None):
            self._closed = True
            if self._live == 0:
                self._free()

    def __enter__(self) -> Context:
        """Returns the context itself (`with Context() as ctx:`)."""
        return self

    def __exit__(self, *exc: Any) -> Literal[False]:
        """Closes the context; never suppresses an exception."""
        self.close()
        return False

    @property
    def _p(self):
        if not self._ptr or self._closed:
            raise ValueError("the context is closed")
        return self._ptr

    def __repr__(self) -> str:
        return "Context(%r, device=%r)" % (self.backend, self.device_name)

    @property
    def backend(self) -> str:
        """"cpu" or "cuda" (what "auto" resolved to)."""
        return _BACKEND_NAMES.get(_lib.inc_context_backend(self._p), "auto")

    @property
    def device_name(self) -> str:
        """A short description of the device ("CPU (2 threads, OpenBLAS)",
        "NVIDIA H200 (sm_90)")."""
        return _s(_lib.inc_context_device_name(self._p))

    @property
    def last_error(self) -> str:
        """The message of the last failed call on this context, "" if none."""
        return _s(_lib.inc_context_last_error(self._ptr)) if self._ptr else ""

    @property
    def seed(self) -> int:
        """The seed set last (0 by default). Setting it restarts the random
        stream of weight initialization; raises InceptionError on failure."""
        return _lib.inc_context_seed(self._p)

    @seed.setter
    def seed(self, value: int) -> None:
        _check(_lib.inc_context_set_seed(self._p, int(value)), self, "inc_context_set_seed")

    @property
    def num_threads(self) -> int:
        """Write-only: the number of CPU threads the context may use (0 = the
        library default); reading raises AttributeError, setting raises
        InceptionError on failure."""
        raise AttributeError("num_threads is write-only (0 = the library default)")

    @num_threads.setter
    def num_threads(self, n: int) -> None:
        _check(_lib.inc_context_set_num_threads(self._p, int(n)), self,
               "inc_context_set_num_threads")

    @property
    def precision(self) -> str:
        """The precision of the GEMMs of convolutions and dense layers (since
        0.6): "fp32" (the default) or "bf16" (bf16 inputs, float32 sums; the
        CPU backend of a oneDNN build on an AVX512-BF16 CPU). Setting an
        unavailable one raises InceptionError (INC_ERR_UNAVAILABLE)."""
        return "bf16" if _lib.inc_context_precision(self._p) == 1 else "fp32"

    @precision.setter
    def precision(self, value: str) -> None:
        names = {"fp32": 0, "bf16": 1}
        if value not in names:
            raise ValueError("precision %r: expected 'fp32' or 'bf16'" % (value,))
        _check(_lib.inc_context_set_precision(self._p, names[value]), self,
               "inc_context_set_precision")

    def synchronize(self) -> None:
        """Waits until the device has finished all queued work (a no-op on the
        CPU); raises InceptionError for a device error that happened
        asynchronously."""
        _check(_lib.inc_context_synchronize(self._p), self, "inc_context_synchronize")

    def tensor(self, data: ArrayLike, shape: Optional[ShapeLike] = None) -> Tensor:
        """A new tensor holding data (numpy array or nested lists), reshaped
        to shape when given; raises InceptionError on failure."""
        return Tensor.from_host(self, data, shape)

    def zeros(self, shape: ShapeLike) -> Tensor:
        """A new zero-filled tensor of shape; raises InceptionError on failure."""
        return Tensor(self, shape)


# ---- tensors ---------------------------------------------------------------------
class Tensor:
    """Dense float32, row-major, 1..8 dims, on its context's device.

    Tensor(ctx, shape) makes a zero-filled tensor the wrapper owns. Tensors
    returned by layers (outputs, gradients, parameters) are borrowed: they
    belong to the layer and are valid until its next call."""

    _ptr: Any  # a TensorP; None once closed
    _ctx: Context
    _owner: Optional[Layer]  # the layer a borrowed tensor belongs to; None when owned

    def __init__(self, ctx: Context, shape: ShapeLike) -> None:
        """A new zero-filled tensor of shape on ctx's device, owned by this
        wrapper; raises InceptionError on failure (e.g. a bad shape)."""
        shape, dims = _dims(shape)
        ptr = TensorP()
        _check(_lib.inc_tensor_create(ctx._p, len(shape), dims, byref(ptr)), ctx,
               "inc_tensor_create")
        self._ptr, self._ctx, self._owner = ptr, ctx, None
        ctx._adopt(self)

    @classmethod
    def _borrow(cls, ptr, ctx, owner):
        t = cls.__new__(cls)
        t._ptr, t._ctx, t._owner = ptr, ctx, owner
        return t

    @classmethod
    def from_host(cls, ctx: Context, data: ArrayLike,
                  shape: Optional[ShapeLike] = None) -> Tensor:
        """A new owned tensor holding data (numpy array or nested lists),
        of shape when given (same element count), else of data's shape;
        raises InceptionError on failure."""
        keep, ptr, count, data_shape = _float_buffer(data)
        t = cls(ctx, shape if shape is not None else data_shape)
        t._copy_in(ptr, count)
        del keep
        return t

    def close(self, _destroy: Callable[[Any], Any] = _lib.inc_tensor_destroy) -> None:
        """Frees an owned tensor now; for a borrowed one, drops the handle."""
        ptr, self._ptr = getattr(self, "_ptr", None), None
        if self._owner is None and ptr:
            _destroy(ptr)
            self._ctx._release(self)

    def __del__(self) -> None:
        if getattr(self, "_ctx", None) is not None:
            self.close()

    @property
    def _p(self):
        if not self._ptr or (self._owner is not None and not self._owner._alive()):
            raise ValueError("the tensor is closed (or its layer or context is)")
        return self._ptr

    @property
    def context(self) -> Context:
        """The context the tensor was made from."""
        return self._ctx

    @property
    def ndim(self) -> int:
        """The number of dimensions (1..MAX_DIMS)."""
        return _lib.inc_tensor_ndim(self._p)

    @property
    def shape(self) -> Tuple[int, ...]:
        """The dimensions, a tuple of ints."""
        return tuple(_lib.inc_tensor_dim(self._p, i) for i in range(self.ndim))

    @property
    def numel(self) -> int:
        """The number of elements (the product of the shape)."""
        return _lib.inc_tensor_numel(self._p)

    def __len__(self) -> int:
        """The first dimension."""
        return self.shape[0]

    def __repr__(self) -> str:
        return "Tensor(shape=%r, %s)" % (self.shape, "borrowed" if self._owner else "owned")

    def _copy_in(self, ptr, count):
        _check(_lib.inc_tensor_copy_from_host(self._p, ptr, count), self._ctx,
               "inc_tensor_copy_from_host")

    def copy_from(self, data: ArrayLike) -> Tensor:
        """Overwrites the tensor with data (numpy array or nested lists) of
        the same number of elements; returns the tensor. Raises
        InceptionError on failure (e.g. a different element count)."""
        keep, ptr, count, _ = _float_buffer(data)
        self._copy_in(ptr, count)
        del keep
        return self

    def to_host(self) -> Union[np.ndarray, List[Any]]:
        """The contents: a float32 numpy array of the tensor's shape when
        numpy is present, else nested lists of floats (a copy either way).
        Raises InceptionError on failure. numpy() is the same method."""
        n, shape = self.numel, self.shape
        if np is not None:
            arr = np.empty(shape, dtype=np.float32)
            _check(_lib.inc_tensor_copy_to_host(self._p, arr.ctypes.data_as(POINTER(c_float)),
                                                n), self._ctx, "inc_tensor_copy_to_host")
            return arr
        buf = (c_float * n)()
        _check(_lib.inc_tensor_copy_to_host(self._p, buf, n), self._ctx,
               "inc_tensor_copy_to_host")
        return _nest(list(buf), shape)

    numpy = to_host

    def tolist(self) -> List[Any]:
        """The contents as nested lists (with or without numpy)."""
        data = self.to_host()
        return data.tolist() if np is not None else data  # type: ignore[union-attr]  # an ndarray

    def reshape(self, shape: ShapeLike) -> Tensor:
        """Changes the shape of an owned tensor in place (same element count);
        returns the tensor. Raises InceptionError on failure."""
        shape, dims = _dims(shape)
        _check(_lib.inc_tensor_reshape(self._p, len(shape), dims), self._ctx,
               "inc_tensor_reshape")
        return self


# ---- layers ------------------------------------------------------------------------
class Layer:
    """Any layer or container. Made by the factory functions below
    (conv2d, dense, sequential, inception, ...). A root layer belongs to its
    wrapper; once appended to a container it belongs to the container, and
    the wrapper keeps the container alive."""

    _ptr: Any  # a LayerP; None once closed
    _ctx: Context
    _parent: Optional[Layer]

    def __init__(self, ctx: Context, ptr: Any, parent: Optional[Layer] = None) -> None:
        """Wraps ptr (a LayerP made from ctx); a root (parent None) is owned by
        the wrapper. Use the factory functions rather than this."""
        self._ctx, self._ptr, self._parent = ctx, ptr, parent
        if parent is None:
            ctx._adopt(self)

    def close(self, _destroy: Callable[[Any], Any] = _lib.inc_layer_destroy) -> None:
        """Frees a root layer and all its children now; for a child, drops
        the handle."""
        ptr, self._ptr = getattr(self, "_ptr", None), None
        if self._parent is None and ptr:
            _destroy(ptr)
            self._ctx._release(self)

    def __del__(self) -> None:
        if getattr(self, "_ctx", None) is not None:
            self.close()

    def _alive(self):
        layer = self
        while layer is not None:
            if not layer._ptr:
                return False
            layer = layer._parent
        return True

    @property
    def _p(self):
        if not self._alive():
            raise ValueError("the layer is closed (or its container or context is)")
        return self._ptr

    def _call(self, status, call):
        _check(status, self._ctx, call)

    def __repr__(self) -> str:
        return "Layer(%s %r, %d children)" % (self.kind, self.name, len(self))

    # -- tree --
    @property
    def context(self) -> Context:
        """The context the layer was made from."""
        return self._ctx

    @property
    def kind(self) -> str:
        """The layer type: "conv2d", "dense", "sequential", "concat" (also
        what inception() builds), ..."""
        return _s(_lib.inc_layer_kind(self._p))

    @property
    def name(self) -> str:
        """The layer's name (default: its index in the parent, "" for a
        root), a part of its parameters' names. Setting it raises
        InceptionError for an invalid or duplicate name."""
        return _s(_lib.inc_layer_name(self._p))

    @name.setter
    def name(self, value: str) -> None:
        self._call(_lib.inc_layer_set_name(self._p, value.encode("utf-8")),
                   "inc_layer_set_name")

    def __len__(self) -> int:
        """The number of children (0 for a leaf layer)."""
        return _lib.inc_layer_child_count(self._p)

    def child(self, index: int) -> Layer:
        """Child index (negative counts from the end), a handle owned by this
        container; raises IndexError when out of range. layer[index] is the same."""
        if index < 0:
            index += len(self)
        ptr = _lib.inc_layer_child(self._p, index)
        if not ptr:
            raise IndexError("child %d of %d" % (index, len(self)))
        return Layer(self._ctx, ptr, parent=self)

    __getitem__ = child

    def __iter__(self) -> Iterator[Layer]:
        """The children in order."""
        return (self.child(i) for i in range(len(self)))

    @property
    def children(self) -> List[Layer]:
        """The children, a list (empty for a leaf layer)."""
        return list(self)

    @property
    def parent(self) -> Optional[Layer]:
        """The container holding this layer, None for a root."""
        return self._parent if _lib.inc_layer_parent(self._p) else None

    def _adopt(self, child, fn, call):
        if child._parent is not None:
            raise ValueError("%r already belongs to a container" % child)
        self._call(fn(self._p, child._p), call)
        child._parent = self
        self._ctx._release(child)  # the container owns it now

    def append(self, *children: Layer) -> Layer:
        """Appends children to a sequential container (which then owns them);
        returns the container. Raises ValueError for a child that already
        belongs to a container, InceptionError on failure."""
        for child in children:
            self._adopt(child, _lib.inc_sequential_append, "inc_sequential_append")
        return self

    def add_branch(self, *branches: Layer) -> Layer:
        """Adds branches to a concat container (which then owns them);
        returns the container. Raises ValueError for a branch that already
        belongs to a container, InceptionError on failure."""
        for branch in branches:
            self._adopt(branch, _lib.inc_concat_add_branch, "inc_concat_add_branch")
        return self

    def add_residual_branch(self, branch: Layer, scale: float = 1.0) -> Layer:
        """Adds a branch to a residual container (which then owns it), its
        output taken times scale in the sum (a setting: not trained, not
        saved); returns the container. Raises ValueError for a branch that
        already belongs to a container, InceptionError on failure (e.g. a
        scale that is not finite)."""
        def add(container, child):
            return _lib.inc_residual_add_branch(container, child, float(scale))
        self._adopt(branch, add, "inc_residual_add_branch")
        return self

    # -- shapes --
    @property
    def is_bound(self) -> bool:
        """True when every parameter shape of the subtree is known (always
        for a layer without parameters)."""
        return bool(_lib.inc_layer_is_bound(self._p))

    def infer_shape(self, shape: ShapeLike) -> Tuple[int, ...]:
        """The output shape for an input of shape; binds unbound layers.
        Raises InceptionError on failure (e.g. a mismatched shape)."""
        shape, dims = _dims(shape)
        out_ndim, out = c_int(), (c_int64 * MAX_DIMS)()
        self._call(_lib.inc_layer_infer_shape(self._p, len(shape), dims, byref(out_ndim), out),
                   "inc_layer_infer_shape")
        return tuple(out[:out_ndim.value])

    def unbind(self) -> None:
        """Forgets every bound shape of the subtree and frees its parameters,
        so that the next forward binds afresh; raises InceptionError on failure."""
        self._call(_lib.inc_layer_unbind(self._p), "inc_layer_unbind")

    def summary(self, shape: ShapeLike) -> str:
        """The layer table for an input of shape (binds like infer_shape);
        raises InceptionError on failure."""
        shape, dims = _dims(shape)
        needed = c_size_t()
        self._call(_lib.inc_layer_summary(self._p, len(shape), dims, None, 0, byref(needed)),
                   "inc_layer_summary")
        buf = ctypes.create_string_buffer(needed.value)
        self._call(_lib.inc_layer_summary(self._p, len(shape), dims, buf, needed.value, None),
                   "inc_layer_summary")
        return _s(buf.value)

    def initialize(self, scheme: Union[str, int] = "xavier_uniform",
                   force_reinit: bool = False) -> None:
        """Sets the weight-init scheme of the subtree ("xavier_uniform",
        "xavier_normal", "kaiming_uniform", "kaiming_normal", "normal_001" or
        an INIT_* number): unbound layers use it when they bind, bound ones
        are refilled only with force_reinit. Raises KeyError for an unknown
        name, InceptionError on failure."""
        code = _INITS[scheme] if isinstance(scheme, str) else int(scheme)
        self._call(_lib.inc_layer_initialize(self._p, code, 1 if force_reinit else 0),
                   "inc_layer_initialize")

    # -- running --
    def forward(self, x: Union[Tensor, ArrayLike], training: bool = False) -> Tensor:
        """Runs the layer on x (a tensor, or host data copied into a new one);
        returns its output (borrowed from the layer). training=True keeps what
        backward needs. Raises InceptionError on failure. layer(x) is the same."""
        if not isinstance(x, Tensor):
            x = Tensor.from_host(self._ctx, x)
        y = TensorP()
        self._call(_lib.inc_layer_forward(self._p, x._p, 1 if training else 0, byref(y)),
                   "inc_layer_forward")
        self._last_input = x  # a training forward needs x until backward
        return Tensor._borrow(y, self._ctx, self)

    __call__ = forward

    def backward(self, dy: Union[Tensor, ArrayLike]) -> Tensor:
        """Backpropagates dy (the gradient of the last training forward's
        output), overwriting every parameter gradient; returns the input
        gradient (borrowed). Raises InceptionError on failure (INC_ERR_STATE
        without a training forward)."""
        if not isinstance(dy, Tensor):
            dy = Tensor.from_host(self._ctx, dy)
        dx = TensorP()
        self._call(_lib.inc_layer_backward(self._p, dy._p, byref(dx)), "inc_layer_backward")
        return Tensor._borrow(dx, self._ctx, self)

    # -- parameters --
    @property
    def param_count(self) -> int:
        """The number of parameter tensors of the subtree (0 until bound)."""
        return _lib.inc_layer_param_count(self._p)

    @property
    def param_numel(self) -> int:
        """The number of parameter elements of the subtree (0 until bound)."""
        return _lib.inc_layer_param_numel(self._p)

    def param(self, index: int) -> Tuple[str, Tensor, Tensor]:
        """(name, value, grad) of parameter index, depth first (tensors
        borrowed from the layer); raises InceptionError on failure."""
        name, value, grad = c_char_p(), TensorP(), TensorP()
        self._call(_lib.inc_layer_param(self._p, index, byref(name), byref(value), byref(grad)),
                   "inc_layer_param")
        return (_s(name.value), Tensor._borrow(value, self._ctx, self),
                Tensor._borrow(grad, self._ctx, self))

    def params(self) -> List[Tuple[str, Tensor, Tensor]]:
        """[(name, value, grad), ...] for every parameter of the subtree."""
        return [self.param(i) for i in range(self.param_count)]

    def named_parameters(self) -> Dict[str, Tensor]:
        """{name: value tensor}."""
        return {name: value for name, value, _ in self.params()}

    # -- buffers (untrained tensors such as running statistics; since 0.3) --
    @property
    def buffer_count(self) -> int:
        """The number of buffer tensors of the subtree (0 until bound; no
        layer kind of this version has any)."""
        return _lib.inc_layer_buffer_count(self._p)

    def buffer(self, index: int) -> Tuple[str, Tensor]:
        """(name, value) of buffer index, depth first (the tensor borrowed
        from the layer); raises InceptionError on failure."""
        name, value = c_char_p(), TensorP()
        self._call(_lib.inc_layer_buffer(self._p, index, byref(name), byref(value)),
                   "inc_layer_buffer")
        return (_s(name.value), Tensor._borrow(value, self._ctx, self))

    def buffers(self) -> List[Tuple[str, Tensor]]:
        """[(name, value), ...] for every buffer of the subtree."""
        return [self.buffer(i) for i in range(self.buffer_count)]

    def named_buffers(self) -> Dict[str, Tensor]:
        """{name: value tensor}."""
        return dict(self.buffers())

    # -- persistence --
    def save(self, path: PathType) -> None:
        """Saves every parameter of this bound layer to path (safetensors,
        atomic); raises InceptionError on failure."""
        self._call(_lib.inc_layer_save(self._p, os.fsencode(path)), "inc_layer_save")

    def load(self, path: PathType) -> None:
        """Loads parameters from path (binding an unbound layer from the
        file); raises InceptionError on failure (e.g. a mismatched model)."""
        self._call(_lib.inc_layer_load(self._p, os.fsencode(path)), "inc_layer_load")

    def export_onnx(self, path: PathType) -> None:
        """Writes this bound layer as an ONNX model (opset 13) with its weights:
        input "input", output "logits" (docs/onnx.md). Raises InceptionError
        on failure."""
        self._call(_lib.inc_layer_export_onnx(self._p, os.fsencode(path)),
                   "inc_layer_export_onnx")


def _make(ctx: Context, fn: Callable[..., int], call: str, *args: Union[int, float]) -> Layer:
    ptr = LayerP()
    _check(fn(ctx._p, *(args + (byref(ptr),))), ctx, call)
    return Layer(ctx, ptr)


def _pair(v: IntPair) -> Tuple[int, int]:
    if isinstance(v, int):
        return v, v
    h, w = v
    return int(h), int(w)


def conv2d(ctx: Context, out_channels: int, kernel: IntPair, stride: IntPair = 1,
           padding: IntPair = 0, bias: bool = True) -> Layer:
    """2-D convolution, weight (out, in, kh, kw); input channels bind on the
    first call. kernel, stride and padding are one int for both axes or a
    pair (along H, along W), e.g. kernel=(1, 7), padding=(0, 3); bias=False
    makes a convolution without bias (its only parameter is "weight").
    Square settings with a bias use inc_conv2d_create, anything else
    inc_conv2d_create_desc. Raises InceptionError for invalid arguments."""
    k, s, p = _pair(kernel), _pair(stride), _pair(padding)
    if bias and k[0] == k[1] and s[0] == s[1] and p[0] == p[1]:
        return _make(ctx, _lib.inc_conv2d_create, "inc_conv2d_create",
                     out_channels, k[0], s[0], p[0])
    desc = Conv2dDesc(ctypes.sizeof(Conv2dDesc), out_channels, k[0], k[1], s[0], s[1],
                      p[0], p[1], 1 if bias else 0)
    ptr = LayerP()
    _check(_lib.inc_conv2d_create_desc(ctx._p, byref(desc), byref(ptr)), ctx,
           "inc_conv2d_create_desc")
    return Layer(ctx, ptr)


def max_pool2d(ctx: Context, kernel: int, stride: int = 0, padding: int = 0) -> Layer:
    """Max pooling; stride 0 means stride = kernel. Raises InceptionError
    for invalid arguments."""
    return _make(ctx, _lib.inc_max_pool2d_create, "inc_max_pool2d_create", kernel, stride, padding)


def avg_pool2d(ctx: Context, kernel: int, stride: int = 0, padding: int = 0) -> Layer:
    """Average pooling (padding counts in the divisor); stride 0 = kernel.
    Raises InceptionError for invalid arguments."""
    return _make(ctx, _lib.inc_avg_pool2d_create, "inc_avg_pool2d_create", kernel, stride, padding)


def global_avg_pool2d(ctx: Context) -> Layer:
    """Global average pooling: (N, C, H, W) -> (N, C, 1, 1)."""
    return _make(ctx, _lib.inc_global_avg_pool2d_create, "inc_global_avg_pool2d_create")


def relu(ctx: Context) -> Layer:
    """The rectified linear unit, any shape."""
    return _make(ctx, _lib.inc_relu_create, "inc_relu_create")


def flatten(ctx: Context) -> Layer:
    """(N, d1, d2, ...) -> (N, d1*d2*...)."""
    return _make(ctx, _lib.inc_flatten_create, "inc_flatten_create")


def dropout(ctx: Context, p: float) -> Layer:
    """Inverted dropout with drop probability 0 <= p < 1, any shape: training
    forwards drop elements (a fresh mask from the context's random stream
    each time) and scale the rest by 1/(1 - p); inference forwards pass the
    input on. Raises InceptionError for invalid arguments."""
    return _make(ctx, _lib.inc_dropout_create, "inc_dropout_create", p)


def dense(ctx: Context, out_features: int) -> Layer:
    """Fully connected: (N, F) -> (N, out_features), weight (out, F), bias.
    Raises InceptionError for invalid arguments."""
    return _make(ctx, _lib.inc_dense_create, "inc_dense_create", out_features)


def sequential(ctx: Context, *children: Layer) -> Layer:
    """A container applying children in order (it takes ownership); raises
    InceptionError (ValueError for a child already in a container)."""
    return _make(ctx, _lib.inc_sequential_create, "inc_sequential_create").append(*children)


def concat(ctx: Context, *branches: Layer) -> Layer:
    """The parallel container: branch outputs concatenated on channels (it
    takes ownership); raises like sequential()."""
    return _make(ctx, _lib.inc_concat_create, "inc_concat_create").add_branch(*branches)


def identity(ctx: Context) -> Layer:
    """y = x, any shape: the skip branch of a residual block."""
    return _make(ctx, _lib.inc_identity_create, "inc_identity_create")


def residual(ctx: Context, *branches: Layer, scales: Optional[Sequence[float]] = None) -> Layer:
    """The residual container: y = sum of scales[i] * branches[i](x) (every
    scale 1 when scales is None), every branch giving the same shape; it
    takes ownership of the branches. Raises ValueError when scales does not
    give one scale per branch, else like sequential()."""
    if scales is not None and len(scales) != len(branches):
        raise ValueError("%d scales for %d branches" % (len(scales), len(branches)))
    res = _make(ctx, _lib.inc_residual_create, "inc_residual_create")
    for i, branch in enumerate(branches):
        res.add_residual_branch(branch, 1.0 if scales is None else scales[i])
    return res


def inception(ctx: Context, c1: int, c2: Sequence[int], c3: Sequence[int], c4: int) -> Layer:
    """The D2L Inception block, D2L's argument style: c2 = (reduce, out),
    c3 = (reduce, out); branches named p1..p4, c1 + c2[1] + c3[1] + c4 output
    channels. Raises InceptionError for invalid arguments."""
    return _make(ctx, _lib.inc_inception_create, "inc_inception_create",
                 c1, c2[0], c2[1], c3[0], c3[1], c4)


def googlenet(ctx: Context, classes: int = 10, batch_norm: bool = False,
              dropout: float = 0.0) -> Layer:
    """The D2L GoogLeNet (b1..b5 and a dense layer) with classes outputs; with
    batch_norm a batch norm between every convolution and its ReLU, with
    dropout > 0 a dropout before the classifier (the last child of b5).
    The plain network uses inc_googlenet_create, any other
    inc_googlenet_create_desc. Raises InceptionError for invalid arguments."""
    if not batch_norm and dropout == 0.0:
        return _make(ctx, _lib.inc_googlenet_create, "inc_googlenet_create", classes)
    desc = GoogLeNetDesc(ctypes.sizeof(GoogLeNetDesc), classes, 1 if batch_norm else 0, dropout,
                         0)
    ptr = LayerP()
    _check(_lib.inc_googlenet_create_desc(ctx._p, byref(desc), byref(ptr)), ctx,
           "inc_googlenet_create_desc")
    return Layer(ctx, ptr)


def batch_norm2d(ctx: Context, eps: float = 1e-5, momentum: float = 0.1) -> Layer:
    """2-D batch normalization, torch.nn.BatchNorm2d's (weight, bias, and the
    buffers running_mean, running_var, num_batches_tracked); channels bind on
    the first call. Raises InceptionError for invalid arguments."""
    return _make(ctx, _lib.inc_batch_norm2d_create, "inc_batch_norm2d_create", eps, momentum)


def inception_v3(ctx: Context, c1: int, c_reduce: int, c: int, c_pool: int,
                 n: int = 7) -> Layer:
    """The Inception-v3 block of factorised 1xn / nx1 convolutions
    (torchvision's InceptionC for n = 7; every convolution without bias,
    then a batch norm and a ReLU); c1 + 2c + c_pool output channels.
    Raises InceptionError for invalid arguments."""
    return _make(ctx, _lib.inc_inception_v3_create, "inc_inception_v3_create",
                 c1, c_reduce, c, c_pool, n)


def googlenet_bn(ctx: Context, classes: int = 10) -> Layer:
    """The D2L GoogLeNet with a batch norm between every convolution and its
    ReLU (Inception-v2 style); raises InceptionError for invalid arguments."""
    return _make(ctx, _lib.inc_googlenet_bn_create, "inc_googlenet_bn_create", classes)


# ---- loss, optimizer ------------------------------------------------------------------
def softmax_cross_entropy(logits: Tensor, labels: Union[np.ndarray, Sequence[int]],
                          dlogits: Optional[Tensor] = None,
                          smoothing: float = 0.0) -> Tuple[float, int]:
    """(mean loss, number of rows whose argmax equals the label) of logits
    (N, classes) against N integer labels; fills dlogits (a tensor of the
    logits' shape) with d(mean loss)/d(logits) when given. smoothing (0..1)
    is PyTorch's label_smoothing. Raises ValueError for a wrong label count,
    InceptionError on failure (e.g. a label out of range)."""
    ctx = logits._ctx
    keep, ptr, count = _int32_buffer(labels)
    if count != logits.shape[0]:
        raise ValueError("%d labels for %d rows of logits" % (count, logits.shape[0]))
    loss, correct = c_float(), c_int64()
    dp = dlogits._p if dlogits is not None else None
    if smoothing == 0.0:
        _check(_lib.inc_softmax_cross_entropy(ctx._p, logits._p, ptr, byref(loss), dp,
                                              byref(correct)), ctx, "inc_softmax_cross_entropy")
    else:
        _check(_lib.inc_softmax_cross_entropy_smoothed(ctx._p, logits._p, ptr, smoothing,
                                                       byref(loss), dp, byref(correct)),
               ctx, "inc_softmax_cross_entropy_smoothed")
    del keep
    return loss.value, correct.value


class SGD:
    """SGD with momentum and weight decay (PyTorch's update rule)."""

    _ptr: Any  # an OptimizerP; None once closed
    _ctx: Context

    def __init__(self, ctx: Context, lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        """An optimizer on ctx: lr > 0, 0 <= momentum < 1, weight_decay >= 0;
        raises InceptionError for invalid values."""
        ptr = OptimizerP()
        _check(_lib.inc_sgd_create(ctx._p, lr, momentum, weight_decay, byref(ptr)), ctx,
               "inc_sgd_create")
        self._ptr, self._ctx = ptr, ctx
        ctx._adopt(self)

    def close(self, _destroy: Callable[[Any], Any] = _lib.inc_optimizer_destroy) -> None:
        """Frees the optimizer and its momentum buffers now."""
        ptr, self._ptr = getattr(self, "_ptr", None), None
        if ptr:
            _destroy(ptr)
            self._ctx._release(self)

    @property
    def _p(self):
        if not self._ptr:
            raise ValueError("the optimizer is closed")
        return self._ptr

    def __del__(self) -> None:
        if getattr(self, "_ctx", None) is not None:
            self.close()

    def step(self, model: Layer) -> None:
        """One update of every parameter of model from its last backward;
        raises InceptionError on failure (INC_ERR_STATE for an unbound model)."""
        _check(_lib.inc_optimizer_step(self._p, model._p), self._ctx, "inc_optimizer_step")

    @property
    def lr(self) -> float:
        """The learning rate of later steps. Setting it (> 0, finite) raises
        InceptionError for an invalid value."""
        return _lib.inc_optimizer_lr(self._p)

    @lr.setter
    def lr(self, value: float) -> None:
        _check(_lib.inc_optimizer_set_lr(self._p, value), self._ctx, "inc_optimizer_set_lr")


# ---- persistence ---------------------------------------------------------------------
def save(layer: Layer, path: PathType) -> None:
    """Saves every parameter of a bound layer (safetensors, atomic); raises
    InceptionError on failure."""
    layer.save(path)


def load(layer: Layer, path: PathType) -> None:
    """Loads parameters into layer (binding an unbound one from the file);
    raises InceptionError on failure."""
    layer.load(path)


def checkpoint_save(model: Layer, path: PathType, optimizer: Optional[SGD] = None,
                    metadata: Optional[Mapping[str, Any]] = None) -> None:
    """Saves model, optimizer momentum buffers and string metadata (a dict;
    keys and values converted with str()); raises InceptionError on failure."""
    items = list((metadata or {}).items())
    keys = (c_char_p * max(len(items), 1))(*[str(k).encode("utf-8") for k, _ in items])
    values = (c_char_p * max(len(items), 1))(*[str(v).encode("utf-8") for _, v in items])
    _check(_lib.inc_checkpoint_save(model._p, optimizer._p if optimizer else None,
                                    len(items), keys, values, os.fsencode(path)),
           model._ctx, "inc_checkpoint_save")


def checkpoint_load(model: Layer, path: PathType, optimizer: Optional[SGD] = None) -> None:
    """Loads a checkpoint into model (and the optimizer's state and lr);
    raises InceptionError on failure (then neither changes)."""
    _check(_lib.inc_checkpoint_load(model._p, optimizer._p if optimizer else None,
                                    os.fsencode(path)), model._ctx, "inc_checkpoint_load")


def checkpoint_metadata(path: PathType, key: str,
                        default: Optional[_T] = None) -> Union[str, _T, None]:
    """__metadata__[key] of a safetensors file, or default when absent;
    raises InceptionError for an unreadable or malformed file."""
    needed = c_size_t()
    bpath, bkey = os.fsencode(path), key.encode("utf-8")
    status = _lib.inc_checkpoint_metadata(bpath, bkey, None, 0, byref(needed))
    if status != OK:
        # (a bytes path shows as b'...' in the message, as it always did)
        raise InceptionError(
            status, "cannot read the metadata of %s" % (path,),  # type: ignore[str-bytes-safe]
            "inc_checkpoint_metadata")
    if needed.value == 0:
        return default
    buf = ctypes.create_string_buffer(needed.value)
    status = _lib.inc_checkpoint_metadata(bpath, bkey, buf, needed.value, None)
    if status != OK:
        raise InceptionError(
            status, "cannot read the metadata of %s" % (path,),  # type: ignore[str-bytes-safe]
            "inc_checkpoint_metadata")
    return _s(buf.value)
