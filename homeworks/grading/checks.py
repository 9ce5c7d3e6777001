"""Helpers for "forbidden shortcut" checks in grader tests.

* :func:`record_aten_ops` records the ATen operators that student code actually runs (forward
  and backward), with a ``TorchDispatchMode``; it cannot be fooled by renaming or aliasing a
  function, unlike a text search.
* :func:`calls_in` lists the calls written inside one function of the student's source (AST).

torch is imported lazily, so importing :mod:`grading` stays cheap for non-torch tools.
"""

from __future__ import annotations

import ast
import inspect
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
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


def _normalise(name: str) -> str:
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
        self.ops[_normalise(name)] += 1

    def called(self, name: str) -> bool:
        """Whether the operator ``name`` (any spelling accepted by the recorder) was called."""
        return self.ops[_normalise(name)] > 0

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
    names = set(recorded.ops) if isinstance(recorded, OpRecorder) else {_normalise(n) for n in recorded}
    hits = sorted(names & {_normalise(n) for n in forbidden})
    if hits:
        where = f"{what}: " if what else ""
        raise AssertionError(f"{where}вызваны запрещённые готовые операции: {', '.join(hits)}")


def _dotted(node: ast.AST) -> str:
    """Dotted text of a call target: ``torch.nn.functional.gelu``, ``self.f``, ``<call>.sum``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return f"{_dotted(node.func)}()"
    if isinstance(node, ast.Subscript):
        return f"{_dotted(node.value)}[]"
    return f"<{type(node).__name__.lower()}>"


def calls_in(module_or_path: ModuleType | str | Path, qualname: str) -> list[str]:
    """Dotted names of all calls inside function/method ``qualname`` of a module's source.

    ``qualname`` is dotted like ``"MyGELU.forward"`` or ``"helper"``; nested functions and
    lambdas inside it are included. Raises ``KeyError`` if no such function exists.
    """
    if isinstance(module_or_path, ModuleType):
        source_file = inspect.getsourcefile(module_or_path)
        if source_file is None:
            raise KeyError(f"{module_or_path.__name__} has no source file")
        path = Path(source_file)
    else:
        path = Path(module_or_path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    scope: list[ast.AST] = [tree]
    for part in qualname.split("."):
        found = None
        for parent in scope:
            for child in ast.iter_child_nodes(parent):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and child.name == part:
                    found = child
        if found is None:
            raise KeyError(f"{path.name}: no function or class {qualname!r}")
        scope = [found]
    target = scope[0]
    if not isinstance(target, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise KeyError(f"{path.name}: {qualname!r} is not a function")
    calls = [node for node in ast.walk(target) if isinstance(node, ast.Call)]
    calls.sort(key=lambda node: (node.lineno, node.col_offset))
    return [_dotted(node.func) for node in calls]
