"""Load a notebook's definitions into a Python module, in-process, without running it.

Unit tests (and benchmarks) want the notebook's classes and functions, fast and exact, without
executing every cell. :func:`load_definitions` takes each code cell, parses it, and executes
only its top-level ``import``/``from ... import`` statements, ``def``/``class`` definitions
(decorators included) and assignments to UPPER_CASE constants, in notebook order, into a fresh
module. Everything else (training loops, plots, prints, timing) is skipped.

IPython magics and shell lines (``%...``, ``!...``) are dropped before parsing; a cell that
still is not valid Python raises :class:`SyntaxError` naming the cell.
"""

from __future__ import annotations

import ast
import linecache
import re
import sys
import types
from pathlib import Path

from nbformat import NotebookNode

_MAGIC_LINE = re.compile(r"^\s*[%!]")


def _is_constant_assignment(node: ast.stmt) -> bool:
    """True for ``NAME = ...`` / ``NAME: T = ...`` where every target is an UPPER_CASE name."""
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets = [node.target]
    else:
        return False
    return all(isinstance(t, ast.Name) and t.id.isupper() for t in targets)


def definition_statements(source: str, filename: str) -> list[ast.stmt]:
    """Return the import/def/class/constant statements of one code cell."""
    lines = ["" if _MAGIC_LINE.match(line) else line for line in source.splitlines()]
    tree = ast.parse("\n".join(lines), filename=filename)
    kept = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return [node for node in tree.body if isinstance(node, kept) or _is_constant_assignment(node)]


def load_definitions(notebook: str | Path | NotebookNode, module_name: str = "seminar") -> types.ModuleType:
    """Execute the definitions of every code cell of ``notebook`` into a new module.

    ``notebook`` is a path or an already-read v4 notebook. The module is registered in
    ``sys.modules`` under ``module_name`` (so pickling and dataclasses work), each cell's text is
    registered with ``linecache`` (so ``inspect.getsource`` works on its functions and classes),
    and the module is returned.
    """
    if isinstance(notebook, (str, Path)):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from nbio import read_notebook

        name, nb = str(notebook), read_notebook(notebook)
    else:
        name, nb = "<notebook>", notebook
    module = types.ModuleType(module_name)
    module.__file__ = name
    sys.modules[module_name] = module
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        filename = f"{name}#cell{index}"
        body = definition_statements(cell.source, filename)
        linecache.cache[filename] = (len(cell.source), None, cell.source.splitlines(True), filename)
        if body:
            code = compile(ast.Module(body=body, type_ignores=[]), filename, "exec")
            exec(code, module.__dict__)  # noqa: S102 - executing our own notebook is the point
    return module
