"""Ops of the framework's own tests (toy homeworks): call a named function of the submission.

``call``: ``{"function": NAME, "args": [...], "kwargs": {...}}`` -> the return value (data only).
``echo``: returns ``params["value"]`` unchanged (round trip of the codec).
``record``: runs ``NAME(*args)`` on tensors under :func:`record_aten_ops`, returns
``{"result": ..., "ops": [names]}``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from grading_worker.recorder import record_aten_ops


def _function(module: ModuleType, params: dict[str, Any]) -> Any:
    name = params["function"]
    if not isinstance(name, str) or name.startswith("_"):
        raise ValueError(f"bad function name {name!r}")
    return getattr(module, name)


def call(module: ModuleType, params: dict[str, Any]) -> Any:
    """Call ``module.<function>(*args, **kwargs)`` and return its value."""
    return _function(module, params)(*params.get("args", []), **params.get("kwargs", {}))


def echo(module: ModuleType, params: dict[str, Any]) -> Any:
    """Return ``params["value"]``."""
    return params.get("value")


def record(module: ModuleType, params: dict[str, Any]) -> dict[str, Any]:
    """Call the function under the op recorder; return its value and the recorded op names."""
    with record_aten_ops() as recorder:
        result = _function(module, params)(*params.get("args", []))
    return {"result": result, "ops": sorted(recorder.ops)}


OPS = {"call": call, "echo": echo, "record": record}
