"""Worker-side requests of the ``weight-init`` homework (untrusted side of the grader).

Runs inside the sandboxed worker next to the student's ``weight_init`` module and answers the
judge's narrow requests with DATA only: numbers, strings, lists, dicts and CPU tensors, which
:mod:`grading_worker.codec` sends back. Nothing here decides a grade: every comparison, every
tolerance and every reference value lives in the judge (``homeworks/weight-init/grader/``).

Requests (``OPS``; each handler takes the student's module and the decoded ``params``):

``gain``
    ``calculate_gain(nonlinearity[, param])``; ``param`` is passed only if the key is present.
``fans``
    ``fan_in_and_fan_out(torch.empty(shape, dtype=dtype))``.
``fill``
    One in-place initializer (``constant_``, ``uniform_``, ..., ``kaiming_normal_``) on a fresh
    NaN-filled tensor of the judge's shape and dtype (optionally a leaf with
    ``requires_grad=True``), with the judge's positional/keyword arguments and generator seed,
    under an optional global seed. Returns the tensor's values after the call and the facts of
    the in-place contract (same object returned, same storage, no autograd history, still
    requires grad, global RNG untouched, generator advanced).
``fill_layers``
    The same initializer on a list of fresh weight tensors (one network's layers), all drawn
    from ONE generator seeded by the judge, in order; returns the filled weights. The judge runs
    its own network on them.

Every reply carries ``nn_init_calls``: the names of ``torch.nn.init`` functions reached while the
student's code ran (a second layer behind the judge's check of the source). The functions of
``torch.nn.init`` are replaced by recording wrappers when this module is imported, which the
worker does before it imports the student's module. An exception raised by the student's code
is returned as data (``exception``: type, message, whether it is a ``ValueError``); the judge
decides what it means. Errors in the request itself raise ``ValueError`` (a judge bug).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import torch
import torch.nn.init

#: The functions of the homework the judge may ask for.
GAIN_FUNCTION = "calculate_gain"
FANS_FUNCTION = "fan_in_and_fan_out"
FILL_FUNCTIONS: frozenset[str] = frozenset(
    {"constant_", "uniform_", "normal_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"}
)
#: Tensor dtypes the judge may choose (float only: initializers fill floating-point weights).
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}
#: Limits on what one request may make the worker allocate (elements, per tensor and in all).
MAX_NUMEL = 4_000_000
MAX_TOTAL_NUMEL = 16_000_000
MAX_DIMS = 6
MAX_LAYERS = 64
#: Exception messages are cut to this many characters.
MESSAGE_LIMIT = 300
#: Argument values the judge may pass to the student's functions.
SCALAR_TYPES = (type(None), bool, int, float, str)

#: Names of ``torch.nn.init`` functions called while :func:`_watch` is active (``None``: not watching).
_nn_init_calls: list[str] | None = None


def _recording(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """A stand-in for ``torch.nn.init.<name>`` that notes the call, then runs the original.

    ``functools.wraps`` would expose the original as ``__wrapped__``; only the module, name and
    docstring are copied (the judge's own list of ``torch.nn.init`` names reads ``__module__``).
    """

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _nn_init_calls is not None:
            _nn_init_calls.append(name)
        return original(*args, **kwargs)

    functools.update_wrapper(wrapper, original, assigned=("__module__", "__name__", "__qualname__", "__doc__"), updated=())
    return wrapper


def install_nn_init_recorder() -> list[str]:
    """Replace every function defined in ``torch.nn.init`` by a recording wrapper (idempotent).

    Returns the names wrapped. Must run before the student's module is imported, so that names
    the student binds at import (``from torch.nn.init import normal_``) are the wrappers.
    """
    wrapped = []
    for name, value in list(vars(torch.nn.init).items()):
        if name.startswith("__") or not callable(value) or isinstance(value, type):
            continue
        if getattr(value, "__module__", None) != "torch.nn.init":
            continue
        if getattr(value, "_records_nn_init", False):
            wrapped.append(name)
            continue
        wrapper = _recording(name, value)
        wrapper._records_nn_init = True  # type: ignore[attr-defined]
        setattr(torch.nn.init, name, wrapper)
        wrapped.append(name)
    return wrapped


install_nn_init_recorder()


@contextmanager
def _watch() -> Iterator[list[str]]:
    """Collect the ``torch.nn.init`` calls made inside the block (deduplicated, in order)."""
    global _nn_init_calls
    calls: list[str] = []
    seen: list[str] = []
    _nn_init_calls = calls
    try:
        yield seen
    finally:
        _nn_init_calls = None
        for name in calls:
            if name not in seen:
                seen.append(name)


def _exception(exc: Exception) -> dict[str, Any]:
    """A student's exception as data: type name, short message, and the two kinds the judge asks about."""
    message = " ".join(str(exc).split())
    if len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT] + "..."
    return {
        "type": type(exc).__name__,
        "message": message,
        "value_error": isinstance(exc, ValueError),
        "not_implemented": isinstance(exc, NotImplementedError),
    }


def _student_function(module: ModuleType, name: str) -> Callable[..., Any] | None:
    """The student's function ``name``, or ``None`` if the module has no such callable."""
    value = getattr(module, name, None)
    return value if callable(value) else None


def _missing(name: str) -> dict[str, Any]:
    """The reply for a function the student's module does not define."""
    return {"missing": name, "exception": None, "nn_init_calls": []}


def _shape(value: Any, *, allow_empty: bool = True) -> tuple[int, ...]:
    """A shape from the request: a list of non-negative ints (not bools) within the limits."""
    if not isinstance(value, list) or len(value) > MAX_DIMS:
        raise ValueError(f"shape must be a list of at most {MAX_DIMS} ints, got {value!r}")
    if not all(isinstance(size, int) and not isinstance(size, bool) and size >= 0 for size in value):
        raise ValueError(f"shape must hold non-negative ints, got {value!r}")
    numel = math.prod(value)
    if numel > MAX_NUMEL or (numel == 0 and not allow_empty):
        raise ValueError(f"shape {value!r}: {numel} elements is outside the limit {MAX_NUMEL}")
    return tuple(value)


def _dtype(params: dict[str, Any]) -> torch.dtype:
    """The requested dtype (``float32`` unless the judge says ``float64``)."""
    name = params.get("dtype", "float32")
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {name!r}")
    return DTYPES[name]


def _scalar_args(params: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments for the student's function: scalars only."""
    args = params.get("args", [])
    kwargs = params.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ValueError("args must be a list and kwargs a dict")
    values = [*args, *kwargs.values()]
    if not all(isinstance(v, SCALAR_TYPES) for v in values):
        raise ValueError("args and kwargs may hold only None, bool, int, float and str")
    if "generator" in kwargs:
        raise ValueError("the generator is chosen with 'seed', not passed in kwargs")
    return list(args), dict(kwargs)


def _generator_kwargs(params: dict[str, Any]) -> tuple[dict[str, Any], torch.Generator | None]:
    """``generator=`` for the call: absent key -> not passed; ``None`` -> ``generator=None``;
    an int -> a fresh CPU generator seeded with it."""
    if "seed" not in params:
        return {}, None
    seed = params["seed"]
    if seed is None:
        return {"generator": None}, None
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
    generator = torch.Generator().manual_seed(seed)
    return {"generator": generator}, generator


def _global_seed(params: dict[str, Any]) -> None:
    """Seed the global RNG if the judge asked for it."""
    seed = params.get("global_seed")
    if seed is None:
        return
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"global_seed must be a non-negative int, got {seed!r}")
    torch.manual_seed(seed)


def _number(value: Any) -> float | int | None:
    """``value`` if it is a Python ``int``/``float`` (not ``bool``), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if isinstance(value, int) else float(value)


def op_gain(module: ModuleType, params: dict[str, Any]) -> dict[str, Any]:
    """``calculate_gain(nonlinearity[, param])``.

    Params: ``nonlinearity`` (any scalar), ``param`` (optional scalar; passed only if present).
    Result: ``value`` (the number, or ``None`` if the result is not an ``int``/``float``),
    ``type`` (its type name), ``exception``, ``nn_init_calls``.
    """
    function = _student_function(module, GAIN_FUNCTION)
    if function is None:
        return _missing(GAIN_FUNCTION)
    args = [params.get("nonlinearity")]
    if "param" in params:
        args.append(params["param"])
    if not all(isinstance(v, SCALAR_TYPES) for v in args):
        raise ValueError("calculate_gain arguments must be scalars")
    result: dict[str, Any] = {"value": None, "type": None, "exception": None}
    with _watch() as calls:
        try:
            value = function(*args)
        except Exception as exc:  # the student's error is data for the judge
            result["exception"] = _exception(exc)
        else:
            result["value"] = _number(value)
            result["type"] = type(value).__name__
    result["nn_init_calls"] = calls
    return result


def op_fans(module: ModuleType, params: dict[str, Any]) -> dict[str, Any]:
    """``fan_in_and_fan_out(torch.empty(shape, dtype=dtype))``.

    Params: ``shape`` (list of ints), ``dtype`` (optional). Result: ``container`` (type name of
    the result), ``items`` (each element as a number or ``None``; ``None`` for the whole list if
    the result is not a tuple/list), ``types`` (type names of the elements), ``exception``,
    ``nn_init_calls``.
    """
    function = _student_function(module, FANS_FUNCTION)
    if function is None:
        return _missing(FANS_FUNCTION)
    tensor = torch.zeros(_shape(params.get("shape")), dtype=_dtype(params))
    result: dict[str, Any] = {"container": None, "items": None, "types": None, "exception": None}
    with _watch() as calls:
        try:
            value = function(tensor)
        except Exception as exc:
            result["exception"] = _exception(exc)
        else:
            result["container"] = type(value).__name__
            if isinstance(value, (tuple, list)) and len(value) <= 16:
                result["items"] = [_number(item) for item in value]
                result["types"] = [type(item).__name__ for item in value]
    result["nn_init_calls"] = calls
    return result


def _fill_function(module: ModuleType, params: dict[str, Any]) -> tuple[str, Callable[..., Any] | None]:
    """The requested in-place initializer (name checked against the homework's list)."""
    name = params.get("function")
    if name not in FILL_FUNCTIONS:
        raise ValueError(f"function must be one of {sorted(FILL_FUNCTIONS)}, got {name!r}")
    return name, _student_function(module, name)


def op_fill(module: ModuleType, params: dict[str, Any]) -> dict[str, Any]:
    """One in-place initializer on a fresh NaN-filled tensor chosen by the judge.

    Params: ``function``; ``shape``; ``dtype`` (optional, ``float32``); ``requires_grad``
    (optional bool: make the tensor a leaf that requires grad); ``args``/``kwargs`` (scalars);
    ``seed`` (optional: absent -> no ``generator`` argument, ``None`` -> ``generator=None``,
    int -> a generator seeded with it); ``global_seed`` (optional int for ``torch.manual_seed``
    before the call).

    Result: ``exception`` (or ``None``); ``values`` (the tensor's values after the call,
    detached, same dtype; ``None`` after an exception); ``returned_same`` (the function returned
    the very tensor object it was given); ``returned_type``; ``same_storage`` (the tensor's data
    pointer did not change); ``shape``/``dtype`` after the call; ``requires_grad``; ``grad_fn``
    (name of the tensor's autograd node, ``None`` if it has none); ``global_rng_unchanged``;
    ``generator_advanced`` (``None`` if no generator was passed); ``nn_init_calls``.
    """
    name, function = _fill_function(module, params)
    if function is None:
        return _missing(name)
    dtype = _dtype(params)
    requires_grad = params.get("requires_grad", False)
    if not isinstance(requires_grad, bool):
        raise ValueError("requires_grad must be a bool")
    args, kwargs = _scalar_args(params)
    generator_kwargs, generator = _generator_kwargs(params)
    tensor = torch.full(_shape(params.get("shape")), math.nan, dtype=dtype).requires_grad_(requires_grad)
    pointer = tensor.data_ptr()
    _global_seed(params)
    rng_before = torch.get_rng_state()
    generator_before = generator.get_state() if generator is not None else None
    result: dict[str, Any] = {"exception": None, "values": None}
    with _watch() as calls:
        try:
            returned = function(tensor, *args, **kwargs, **generator_kwargs)
        except Exception as exc:
            result["exception"] = _exception(exc)
            returned = None
    result["nn_init_calls"] = calls
    result["returned_same"] = returned is tensor
    result["returned_type"] = type(returned).__name__
    result["same_storage"] = tensor.data_ptr() == pointer
    result["shape"] = list(tensor.shape)
    result["dtype"] = str(tensor.dtype).removeprefix("torch.")
    result["requires_grad"] = bool(tensor.requires_grad)
    result["grad_fn"] = None if tensor.grad_fn is None else type(tensor.grad_fn).__name__
    result["global_rng_unchanged"] = bool(torch.equal(torch.get_rng_state(), rng_before))
    result["generator_advanced"] = (
        None if generator is None else not bool(torch.equal(generator.get_state(), generator_before))
    )
    if result["exception"] is None:
        values = tensor.detach()
        if values.dtype not in DTYPES.values():  # the student changed the dtype: send float64
            values = values.to(torch.float64)
        result["values"] = values.clone().contiguous()
    return result


def op_fill_layers(module: ModuleType, params: dict[str, Any]) -> dict[str, Any]:
    """The initializer on each weight of one network, in order, from ONE seeded generator.

    Params: ``function``; ``shapes`` (list of shapes); ``kwargs`` (scalars); ``seed`` (int).
    Each weight is a fresh NaN-filled float32 tensor, filled in place.

    Result: ``weights`` (the filled tensors; ``None`` after an exception), ``exception``,
    ``layer`` (index of the layer whose call raised, else ``None``), ``nn_init_calls``.
    """
    name, function = _fill_function(module, params)
    if function is None:
        return _missing(name)
    shapes = params.get("shapes")
    if not isinstance(shapes, list) or not 0 < len(shapes) <= MAX_LAYERS:
        raise ValueError(f"shapes must be a list of 1..{MAX_LAYERS} shapes")
    sizes = [_shape(shape, allow_empty=False) for shape in shapes]
    if sum(math.prod(size) for size in sizes) > MAX_TOTAL_NUMEL:
        raise ValueError(f"the layers hold more than {MAX_TOTAL_NUMEL} elements in all")
    if not isinstance(params.get("seed"), int):
        raise ValueError("fill_layers needs an int seed")
    _, kwargs = _scalar_args({"kwargs": params.get("kwargs", {})})
    generator_kwargs, _ = _generator_kwargs(params)
    weights: list[torch.Tensor] = []
    result: dict[str, Any] = {"weights": None, "exception": None, "layer": None}
    with _watch() as calls:
        for index, size in enumerate(sizes):
            tensor = torch.full(size, math.nan)
            try:
                function(tensor, **kwargs, **generator_kwargs)
            except Exception as exc:
                result["exception"] = _exception(exc)
                result["layer"] = index
                break
            values = tensor.detach()
            weights.append((values if values.dtype in DTYPES.values() else values.double()).clone().contiguous())
    result["nn_init_calls"] = calls
    if result["exception"] is None:
        result["weights"] = weights
    return result


#: The request handlers of this homework, by op name.
OPS: dict[str, Callable[[ModuleType, dict[str, Any]], Any]] = {
    "gain": op_gain,
    "fans": op_fans,
    "fill": op_fill,
    "fill_layers": op_fill_layers,
}
