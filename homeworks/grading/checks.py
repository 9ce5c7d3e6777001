"""Judge-side helpers for "forbidden shortcut" checks.

* :func:`assert_no_aten_ops` checks the ATen operator names an op of the worker recorded with
  :func:`grading_worker.recorder.record_aten_ops` (re-exported here).
* :func:`calls_in` lists the calls written inside one function of the student's source (AST);
  the allow-list rules of :mod:`grading.rules` are the real check.
"""

from __future__ import annotations

import ast
from pathlib import Path

from grading_worker.recorder import (
    ACTIVATION_OPS,
    OpRecorder,
    assert_no_aten_ops,
    normalise_op,
    record_aten_ops,
)

__all__ = ["ACTIVATION_OPS", "OpRecorder", "assert_no_aten_ops", "calls_in", "normalise_op", "record_aten_ops"]


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


def calls_in(source_or_path: str | Path, qualname: str, filename: str = "<submission>") -> list[str]:
    """Dotted names of all calls inside function/method ``qualname`` of a module's source.

    ``source_or_path`` is the source text (e.g. ``submission_source["mlp.py"]``) or a
    :class:`~pathlib.Path` of a file. ``qualname`` is dotted like ``"MyGELU.forward"`` or
    ``"helper"``; nested functions and lambdas inside it are included. Raises ``KeyError`` if
    no such function exists, ``SyntaxError`` if the source does not parse.
    """
    if isinstance(source_or_path, Path):
        filename = source_or_path.name
        source_or_path = source_or_path.read_text(encoding="utf-8")
    path = Path(filename)
    tree = ast.parse(source_or_path, filename=filename)
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
