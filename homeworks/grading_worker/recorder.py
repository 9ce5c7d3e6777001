"""Op recording for the worker: which ATen operators the student's code actually runs.

:func:`record_aten_ops` records, with a ``TorchDispatchMode``, every ATen operator that reaches
the dispatcher inside a ``with`` block (forward and backward). It runs in the worker, next to the
student's code, so it is a *second* layer only: the student can switch the mode off. The first
layer is the judge's syntax-tree rules (:mod:`grading.rules`). An op returns the recorded names
as data (``sorted(rec.ops)``) and the judge checks them (:func:`assert_no_aten_ops`).

torch is imported lazily, so importing this module costs nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

#: ATen operators of the built-in activation functions and their backward kernels.
ACTIVATION_OPS: frozenset[str] = frozenset(
    "aten." + name
    for name in (
        "relu", "relu6", "leaky_relu", "leaky_relu_backward", "rrelu", "rrelu_with_noise",
        "rrelu_with_noise_backward", "prelu", "_prelu_kernel", "_prelu_kernel_backward",
        "elu", "elu_backward", "celu", "selu", "gelu", "gelu_backward", "silu",
        "silu_backward", "mish", "mish_backward", "softplus", "softplus_backward",
        "sigmoid", "sigmoid_backward", "tanh", "tanh_backward", "hardtanh",
        "hardtanh_backward", "hardsigmoid", "hardsigmoid_backward", "hardswish",
        "hardswish_backward", "threshold", "threshold_backward", "log_sigmoid",
        "log_sigmoid_forward", "log_sigmoid_backward", "special_expit", "logit",
        "softshrink", "hardshrink", "glu", "_softmax", "_log_softmax", "softmax",
        "log_softmax", "_softmax_backward_data", "_log_softmax_backward_data",
    )
)


def normalise_op(name: str) -> str:
    """``"gelu"``/``"aten.gelu"``/``"aten.gelu_"``/``"aten::gelu"`` -> ``"aten.gelu"``."""
    name = name.replace("::", ".")
    if "." not in name:
        name = "aten." + name
    namespace, _, op = name.partition(".")
    op = op.split(".")[0]
    if op.endswith("_") and not op.endswith("__"):  # in-place variant, e.g. relu_
        op = op[:-1]
    return f"{namespace}.{op}"


class OpRecorder:
    """What :func:`record_aten_ops` saw: ``ops`` counts packet names like ``"aten.mul"``."""

    def __init__(self) -> None:
        self.ops: Counter[str] = Counter()

    def add(self, name: str) -> None:
        """Count one call of the operator ``name``."""
        self.ops[normalise_op(name)] += 1

    def called(self, name: str) -> bool:
        """Whether the operator ``name`` (any spelling accepted by the recorder) was called."""
        return self.ops[normalise_op(name)] > 0

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.called(name)

    def __repr__(self) -> str:
        return f"OpRecorder({dict(sorted(self.ops.items()))})"


@contextmanager
def record_aten_ops() -> Iterator[OpRecorder]:
    """Record every ATen operator dispatched inside the ``with`` block, forward and backward.

    Backward passes run inside the block (``loss.backward()``, ``torch.autograd.grad``,
    ``gradcheck``) are recorded too: the autograd engine carries the dispatch mode to the
    thread that runs the backward functions.
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    recorder = OpRecorder()

    class _Mode(TorchDispatchMode):
        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            # Otherwise torch wraps __torch_dispatch__ in dynamo.disable, whose first call
            # imports torch._dynamo (over a second); this mode never runs under compilation.
            return False

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            recorder.add(str(func.overloadpacket))
            return func(*args, **(kwargs or {}))

    with _Mode():
        yield recorder


def assert_no_aten_ops(recorded: OpRecorder | Iterable[str], forbidden: Iterable[str], what: str = "") -> None:
    """Fail with ``AssertionError`` if any ``forbidden`` operator occurs in ``recorded``.

    ``recorded`` is an :class:`OpRecorder` or an iterable of operator names; ``what`` names the
    code under test in the message (e.g. ``"MyGELU"``).
    """
    names = set(recorded.ops) if isinstance(recorded, OpRecorder) else {normalise_op(n) for n in recorded}
    hits = sorted(names & {normalise_op(n) for n in forbidden})
    if hits:
        where = f"{what}: " if what else ""
        raise AssertionError(f"{where}вызваны запрещённые готовые операции: {', '.join(hits)}")
