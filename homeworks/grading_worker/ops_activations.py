"""Worker ops of the ``activations`` homework: run one student activation on the judge's data.

One op, ``run``, with params::

    {"name": "MyReLU" | ... (one of :data:`ACTIVATIONS`),
     "kwargs": {"negative_slope": 0.2, ...},       # numbers only, passed to the constructor
     "x": tensor (float32 or float64),              # the judge's input
     "grad_output": tensor like x, or None}         # the judge's upstream gradient dL/dy

It constructs ``module.<name>(**kwargs)``, calls it on a fresh leaf copy of ``x`` that requires
grad, and, when ``grad_output`` is given and the output is attached to a graph, computes
``dL/dx = torch.autograd.grad(y, x, grad_output)``. It returns data only (see :func:`run`); the
judge compares everything with its own reference computed from the same inputs.

Two second-layer observations are made here, next to the student's code (the judge's
syntax-tree rules are the first layer, because the student can switch dispatch modes off):

* the ATen operators that ran in the forward and in the backward pass
  (:func:`grading_worker.recorder.record_aten_ops`);
* operators that produced ``inf``/``nan`` from finite inputs (:class:`NonFiniteWatch`): an
  overflow that ``torch.where`` later discards (``exp(1000)`` in an unselected branch) is still
  reported, with the input value ``x`` where it happened.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from grading_worker.recorder import record_aten_ops

#: Classes the judge may ask for (the eight ``My*`` modules of the statement).
ACTIVATIONS: frozenset[str] = frozenset(
    {"MyReLU", "MyLeakyReLU", "MySigmoid", "MyTanh", "MyELU", "MyGELU", "MySiLU", "MySoftplus"}
)
#: Input dtypes the judge sends (and the codec can carry back as they are).
INPUT_DTYPES: frozenset[torch.dtype] = frozenset({torch.float32, torch.float64})
#: At most this many non-finite events are reported per pass (the first ones, in order).
MAX_NONFINITE_EVENTS = 8


def _all_finite(tensor: torch.Tensor) -> bool:
    """Whether every element of a floating/complex tensor is finite (other dtypes: always)."""
    if not (tensor.is_floating_point() or tensor.is_complex()) or tensor.numel() == 0:
        return True
    return bool(torch.isfinite(tensor).all())


class NonFiniteWatch(TorchDispatchMode):
    """Dispatch mode that notes every operator whose output holds ``inf``/``nan`` although all
    its tensor inputs were finite.

    ``events`` lists ``{"op": "aten.exp", "value": "inf" | "-inf" | "nan", "x": float | None}``;
    ``x`` is the element of ``x_ref`` at the first non-finite position when the output has the
    shape of ``x_ref`` (elementwise code), else ``None``. Enter this mode *before* the op recorder,
    so that the recorder (innermost) does not see the ``isfinite`` checks made here.
    """

    def __init__(self, x_ref: torch.Tensor) -> None:
        super().__init__()
        self.x_ref = x_ref.detach()
        self.events: list[dict[str, Any]] = []

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # As in grading_worker.recorder: avoid importing torch._dynamo on the first call.
        return False

    def _note(self, op: str, output: torch.Tensor) -> None:
        bad = ~torch.isfinite(output)
        first = int(torch.nonzero(bad.reshape(-1))[0, 0])
        value = output.reshape(-1)[first].item()
        kind = "nan" if math.isnan(value.real if isinstance(value, complex) else value) else (
            "inf" if (value.real if isinstance(value, complex) else value) > 0 else "-inf")
        x_value = float(self.x_ref.reshape(-1)[first].item()) if output.shape == self.x_ref.shape else None
        self.events.append({"op": op, "value": kind, "x": x_value})

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        finite_inputs = all(
            _all_finite(leaf) for leaf in tree_leaves((args, kwargs)) if isinstance(leaf, torch.Tensor)
        )
        result = func(*args, **kwargs)
        if finite_inputs and len(self.events) < MAX_NONFINITE_EVENTS:
            for leaf in tree_leaves(result):
                if isinstance(leaf, torch.Tensor) and not _all_finite(leaf):
                    self._note(str(func.overloadpacket), leaf)
                    break
        return result


def _plain(tensor: torch.Tensor) -> torch.Tensor:
    """A detached, contiguous CPU copy as a plain ``torch.Tensor`` that the codec can carry
    (float32/float64 kept; any other floating dtype sent as float64, its name reported apart)."""
    plain = tensor.detach().as_subclass(torch.Tensor).to("cpu").clone().contiguous()
    if plain.dtype not in INPUT_DTYPES:
        plain = plain.to(torch.float64) if plain.is_floating_point() or plain.is_complex() else plain
        if plain.is_complex():
            plain = plain.real.contiguous()
    return plain


def _dtype_name(tensor: torch.Tensor) -> str:
    """``"float32"`` for ``torch.float32``."""
    return str(tensor.dtype).removeprefix("torch.")


def _grad_fn_facts(y: torch.Tensor) -> dict[str, Any]:
    """What produced ``y``: the autograd node, and whether it is a custom
    ``torch.autograd.Function`` that defines its own ``backward``."""
    node = y.grad_fn
    facts: dict[str, Any] = {
        "node": type(node).__name__ if node is not None else None,
        "custom_function": None,
        "own_backward": False,
    }
    function_cls = getattr(type(node), "_forward_cls", None) if node is not None else None
    if isinstance(function_cls, type) and issubclass(function_cls, torch.autograd.Function):
        facts["custom_function"] = function_cls.__name__
        facts["own_backward"] = function_cls.backward is not torch.autograd.Function.backward
    return facts


def _check_params(params: dict[str, Any]) -> tuple[str, dict[str, float], torch.Tensor, torch.Tensor | None]:
    """Validate the judge's request; raise ``ValueError`` on anything unexpected."""
    name = params.get("name")
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}")
    kwargs = params.get("kwargs", {})
    if not isinstance(kwargs, dict) or not all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) for k, v in kwargs.items()
    ):
        raise ValueError("kwargs must map names to numbers")
    x = params.get("x")
    if not isinstance(x, torch.Tensor) or x.dtype not in INPUT_DTYPES:
        raise ValueError("x must be a float32/float64 tensor")
    grad_output = params.get("grad_output")
    if grad_output is not None and (
        not isinstance(grad_output, torch.Tensor) or grad_output.shape != x.shape or grad_output.dtype != x.dtype
    ):
        raise ValueError("grad_output must be None or a tensor like x")
    return name, kwargs, x, grad_output


def run(module: ModuleType, params: dict[str, Any]) -> dict[str, Any]:
    """Construct the activation, run forward (and backward when asked); return data only.

    Result keys:

    * ``y``: the output as a tensor (``None`` when the forward did not return a tensor),
      ``y_type`` (its type name), ``y_dtype`` and ``y_shape``;
    * ``grad``: ``dL/dx`` (``None`` when not asked, or when ``y`` is not attached to ``x``),
      ``grad_dtype``;
    * ``x_after``: the input leaf after forward and backward (the judge checks it is unchanged);
    * ``grad_fn``: :func:`_grad_fn_facts` of ``y``;
    * ``forward_ops``/``backward_ops``: sorted ATen operator names recorded in each pass;
    * ``forward_nonfinite``/``backward_nonfinite``: :class:`NonFiniteWatch` events of each pass.

    Exceptions raised by the student's code propagate (the worker reports type and message).
    """
    name, kwargs, x_in, grad_output = _check_params(params)
    cls = getattr(module, name, None)
    if cls is None:
        raise AttributeError(f"в activations.py нет класса {name}")
    activation = cls(**kwargs)
    x = x_in.detach().clone().requires_grad_(True)

    watch = NonFiniteWatch(x_in)
    with watch, record_aten_ops() as recorder:
        y = activation(x)
    result: dict[str, Any] = {
        "y": None,
        "y_type": type(y).__name__,
        "y_dtype": None,
        "y_shape": None,
        "grad": None,
        "grad_dtype": None,
        "grad_fn": {"node": None, "custom_function": None, "own_backward": False},
        "forward_ops": sorted(recorder.ops),
        "forward_nonfinite": watch.events,
        "backward_ops": [],
        "backward_nonfinite": [],
    }
    if isinstance(y, torch.Tensor):
        result.update(y=_plain(y), y_dtype=_dtype_name(y), y_shape=list(y.shape), grad_fn=_grad_fn_facts(y))
        if grad_output is not None and y.grad_fn is not None and y.shape == x.shape:
            back_watch = NonFiniteWatch(x_in)
            with back_watch, record_aten_ops() as back_recorder:
                (grad,) = torch.autograd.grad(y, x, grad_output, allow_unused=True)
            result["backward_ops"] = sorted(back_recorder.ops)
            result["backward_nonfinite"] = back_watch.events
            if isinstance(grad, torch.Tensor):
                result.update(grad=_plain(grad), grad_dtype=_dtype_name(grad))
    result["x_after"] = _plain(x)
    return result


OPS = {"run": run}
