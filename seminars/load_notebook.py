"""Load a notebook's definitions into a Python module, in-process, without running it.

Unit tests (and benchmarks) want the notebook's classes and functions, fast and exact, without
executing every cell. :func:`load_definitions` executes, in notebook order and into a fresh
module, only these top-level statements of the code cells:

* ``import`` / ``from ... import``, ``def`` / ``async def`` and ``class`` (decorators included),
  and assignments to UPPER_CASE constants;
* ``try`` / ``if`` blocks that contain any of these (``try: import tqdm`` /
  ``except ImportError: tqdm = None``), with their other statements reduced to the
  definitions, plain name assignments, ``raise`` and ``pass`` they hold;
* any other earlier assignment to a plain name that a kept statement needs *while it is being
  defined*: a decorator registry (``registry = {}`` used by ``@register``), a value a class body
  or a default argument uses, or a name an annotation evaluates; found by following the names
  each kept statement evaluates at definition time (decorators, defaults, annotations, bases,
  class bodies, and the bodies of functions called there), transitively.

Everything else (training loops, plots, prints, timing) is skipped.

Cells are compiled as Jupyter compiles them: IPython syntax (``%magic``, ``!shell``, ``x?``) is
translated by IPython's own input transformer, nothing is inherited from this module (in
particular not its ``from __future__ import annotations``: a forward reference in an annotation
fails here exactly as in Jupyter), and a ``__future__`` import in one cell stays in force for
the cells after it (as IPython's compiler does). Cell magics that run their body as Python in
the user namespace (``%%time``, ``%%capture``) are loaded; other cell magics (``%%bash``,
``%%writefile``, ``%%timeit``...) are skipped.

Every failure is a :class:`NotebookLoadError` (a ``nbio.NotebookError``) with one line that
names the notebook, the cell (index, id, line) and what went wrong: invalid Python, or the
exception a definition raised; for a missing name it says whether the name is set by a
statement the loader does not run, defined only later, or not at all.
"""

from __future__ import annotations
import __future__ as future_module

import ast
import builtins
import copy
import linecache
import sys
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nbformat import NotebookNode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbio import NotebookError, read_notebook, require_python, terminal_safe  # noqa: E402

_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_TRY_TYPES: tuple[type[ast.stmt], ...] = (ast.Try, ast.TryStar) if hasattr(ast, "TryStar") else (ast.Try,)
#: Cell magics whose body IPython runs as ordinary Python in the user namespace.
PYTHON_CELL_MAGICS = frozenset({"time", "capture"})
#: Extra compile flags IPython uses for cells: top-level ``await`` is allowed.
_CELL_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_FUTURE_FLAGS = [getattr(future_module, name).compiler_flag for name in future_module.all_feature_names]
#: Python 3.14+ evaluates annotations lazily (PEP 649), so they cost nothing at definition time.
_LAZY_ANNOTATIONS = sys.version_info >= (3, 14)


class NotebookLoadError(NotebookError):
    """The definitions of a notebook could not be loaded; ``str()`` is one line naming the cell.

    ``cell_index`` is the index in ``notebook.cells`` of the failing cell; ``name`` the missing
    name for a ``NameError`` (else ``None``); ``original`` the exception that was raised.
    """

    def __init__(
        self,
        path: str,
        message: str,
        *,
        cell_index: int,
        name: str | None = None,
        original: BaseException | None = None,
    ) -> None:
        super().__init__(path, message)
        self.cell_index = cell_index
        self.name = name
        self.original = original


# --------------------------------------------------------------------------------------
# From cell text to Python
# --------------------------------------------------------------------------------------


def python_source(source: str) -> str | None:
    """Return the Python that Jupyter runs for a code cell's text, or None if it runs none.

    IPython's ``TransformerManager`` turns line magics, shell escapes and help syntax into
    ``get_ipython()`` calls (one line each, so line numbers stay). A cell that starts with a
    cell magic is the magic's input: for :data:`PYTHON_CELL_MAGICS` the body (with the magic
    line blanked) is returned, for any other cell magic ``None``.
    """
    from IPython.core.inputtransformer2 import TransformerManager

    lines = source.splitlines(keepends=True)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        magic = lines[first].lstrip()[2:].split(maxsplit=1)
        if not magic or magic[0] not in PYTHON_CELL_MAGICS:
            return None
        source = "".join(["\n"] * (first + 1) + lines[first + 1 :])
    return TransformerManager().transform_cell(source)


def _is_constant_assignment(node: ast.stmt) -> bool:
    """True for ``NAME = ...`` / ``NAME: T = ...`` where every target is an UPPER_CASE name."""
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets = [node.target]
    else:
        return False
    return all(isinstance(t, ast.Name) and t.id.isupper() for t in targets)


def _is_name_target(target: ast.expr) -> bool:
    """True for ``x``, ``x, y``, ``[x, *rest]``: targets that bind plain names only."""
    if isinstance(target, ast.Name):
        return True
    if isinstance(target, ast.Starred):
        return _is_name_target(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return all(_is_name_target(element) for element in target.elts)
    return False


def _is_name_assignment(node: ast.stmt) -> bool:
    """True for an assignment that binds plain names only (``=``, annotated with a value, ``+=``)."""
    if isinstance(node, ast.Assign):
        return all(_is_name_target(t) for t in node.targets)
    if isinstance(node, ast.AnnAssign):
        return node.value is not None and isinstance(node.target, ast.Name)
    if isinstance(node, ast.AugAssign):
        return isinstance(node.target, ast.Name)
    return False


def _holds_definition(nodes: Iterable[ast.stmt]) -> bool:
    """True when any statement of ``nodes`` (searched through try/if blocks) is a definition."""
    for node in nodes:
        if isinstance(node, _DEFINITIONS) or _is_constant_assignment(node):
            return True
        if isinstance(node, _TRY_TYPES):
            blocks = [node.body, node.orelse, node.finalbody, *[h.body for h in node.handlers]]
            if any(_holds_definition(block) for block in blocks):
                return True
        if isinstance(node, ast.If) and (_holds_definition(node.body) or _holds_definition(node.orelse)):
            return True
    return False


def _reduce_block(nodes: list[ast.stmt], *, inside: bool) -> list[ast.stmt]:
    """Keep the definition statements of a block (see the module docstring for the rules).

    ``inside`` is True within a kept ``try`` / ``if``, where plain name assignments (fallback
    bindings), ``raise`` and ``pass`` are kept too. A block never comes back empty when
    ``inside`` (``pass`` stands in), so the reduced statement still compiles.
    """
    kept: list[ast.stmt] = []
    for node in nodes:
        if isinstance(node, _DEFINITIONS) or _is_constant_assignment(node):
            kept.append(node)
        elif isinstance(node, (*_TRY_TYPES, ast.If)):
            if _holds_definition([node]):
                kept.append(_reduce_compound(node))
        elif inside and (_is_name_assignment(node) or isinstance(node, (ast.Raise, ast.Pass))):
            kept.append(node)
    if inside and not kept:
        kept.append(ast.copy_location(ast.Pass(), nodes[0]) if nodes else ast.Pass())
    return kept


def _reduce_compound(node: ast.stmt) -> ast.stmt:
    """Return a copy of a ``try`` / ``if`` statement with every block reduced."""
    reduced = copy.copy(node)
    if isinstance(node, ast.If):
        reduced.body = _reduce_block(node.body, inside=True)
        reduced.orelse = _reduce_block(node.orelse, inside=True) if node.orelse else []
        return reduced
    reduced.body = _reduce_block(node.body, inside=True)
    handlers = []
    for handler in node.handlers:
        new_handler = copy.copy(handler)
        new_handler.body = _reduce_block(handler.body, inside=True)
        handlers.append(new_handler)
    reduced.handlers = handlers
    reduced.orelse = _reduce_block(node.orelse, inside=True) if node.orelse else []
    reduced.finalbody = _reduce_block(node.finalbody, inside=True) if node.finalbody else []
    return reduced


def definition_statements(source: str, filename: str) -> list[ast.stmt]:
    """Return the statements of one code cell that the loader always runs.

    These are the imports, ``def``/``class`` definitions, UPPER_CASE constants and reduced
    ``try``/``if`` blocks holding them (:func:`load_definitions` may add assignments that they
    need). ``source`` is the cell's text (IPython syntax allowed). Raises :class:`SyntaxError`
    (with ``filename``) when the cell is not valid Python.
    """
    python = python_source(source)
    if python is None:
        return []
    tree = ast.parse(python, filename=filename)
    return _reduce_block(tree.body, inside=False)


# --------------------------------------------------------------------------------------
# Which names a statement needs while it is being defined, and which it binds
# --------------------------------------------------------------------------------------


class _DefinitionTimeNames(ast.NodeVisitor):
    """Collect the global names a statement evaluates when it runs (not later, when called).

    Function and lambda bodies are skipped (they run when called); their decorators, default
    values and (unless postponed) annotations are included. A class body runs at once, so it
    is included, minus the names it binds itself. Comprehension variables are local.
    """

    def __init__(self, annotations: bool) -> None:
        self.annotations = annotations
        self.names: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.names.add(node.id)

    def _arguments(self, args: ast.arguments) -> None:
        for default in [*args.defaults, *args.kw_defaults]:
            if default is not None:
                self.visit(default)
        if self.annotations:
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            for arg in every:
                if arg is not None and arg.annotation is not None:
                    self.visit(arg.annotation)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._arguments(node.args)
        if self.annotations and node.returns is not None:
            self.visit(node.returns)

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._arguments(node.args)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        self.visit(node.target)
        if self.annotations:
            self.visit(node.annotation)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(expr)
        inner = _DefinitionTimeNames(self.annotations)
        for statement in node.body:
            inner.visit(statement)
        self.names |= inner.names - bound_names(node.body)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp) -> None:
        inner = _DefinitionTimeNames(self.annotations)
        inner.generic_visit(node)
        local = {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        self.names |= inner.names - local

    visit_ListComp = _comprehension
    visit_SetComp = _comprehension
    visit_DictComp = _comprehension
    visit_GeneratorExp = _comprehension


def definition_time_names(node: ast.stmt, *, annotations: bool = True) -> set[str]:
    """Return the global names ``node`` evaluates when it runs (``annotations``: are they evaluated)."""
    collector = _DefinitionTimeNames(annotations)
    collector.visit(node)
    return collector.names


def _scope_statements(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Yield every node of ``nodes`` that runs in their scope (not inside nested def/class/lambda)."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
            stack.extend(getattr(node, "decorator_list", []))
            if isinstance(node, ast.ClassDef):
                stack.extend(node.bases)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        stack.extend(ast.iter_child_nodes(node))


def bound_names(nodes: Iterable[ast.AST]) -> set[str]:
    """Return the names that ``nodes`` bind in their own scope (assignments, imports, defs, ...)."""
    names: set[str] = set()
    for node in _scope_statements(nodes):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
    return names


def _call_time_globals(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Return the global names a function's body may read when it is called (an over-estimate)."""
    args = function.args
    params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a}
    declared_global = {name for node in ast.walk(function) if isinstance(node, ast.Global) for name in node.names}
    loads = {n.id for node in function.body for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    local = (params | bound_names(function.body)) - declared_global
    return loads - local


# --------------------------------------------------------------------------------------
# Choosing the statements and running them
# --------------------------------------------------------------------------------------


@dataclass
class _Statement:
    """One top-level statement of a code cell: its position and what the loader does with it."""

    cell: int
    original: ast.stmt
    run: ast.stmt | None  # the statement to execute (reduced for try/if), None while skipped
    annotations: bool  # are annotations evaluated where it stands (no postponing future import)?
    binds: set[str] = field(default_factory=set)


@dataclass
class _Cell:
    """A parsed code cell."""

    index: int
    filename: str
    tree: ast.Module


def _cell_label(nb: NotebookNode, index: int, line: int | None = None) -> str:
    """``cell 3 (id 'abc', line 2)``: how errors name a cell."""
    cell_id = nb.cells[index].get("id")
    parts = [f"id {cell_id!r}"] if cell_id else []
    if line:
        parts.append(f"line {line}")
    return f"cell {index}" + (f" ({', '.join(parts)})" if parts else "")


def _select(statements: list[_Statement]) -> None:
    """Mark, in place, the skipped assignments that the kept statements need at definition time."""
    work: list[tuple[int, str]] = []
    for position, statement in enumerate(statements):
        if statement.run is not None:
            work.extend((position, name) for name in definition_time_names(statement.run, annotations=statement.annotations))
    visited_calls: set[tuple[int, int]] = set()
    while work:
        position, name = work.pop()
        binder = next((p for p in range(position - 1, -1, -1) if name in statements[p].binds), None)
        if binder is None:
            continue
        found = statements[binder]
        if found.run is not None:
            # A function used while something is being defined (a decorator, a default computed by
            # a call, a call in a class body) runs there: what its body reads must exist then.
            if isinstance(found.run, _FUNCTIONS) and (binder, position) not in visited_calls:
                visited_calls.add((binder, position))
                work.extend((position, n) for n in _call_time_globals(found.run))
            continue
        if _is_name_assignment(found.original):
            found.run = found.original
            work.extend((binder, n) for n in definition_time_names(found.original, annotations=found.annotations))


def _missing_name_hint(statements: list[_Statement], nb: NotebookNode, cell: int, line: int | None, name: str) -> str:
    """Explain why ``name`` is missing: set by a skipped statement, defined later, or nowhere.

    ``cell`` and ``line`` locate the failure; the statement that was running is the kept one of
    that cell whose lines contain ``line`` (the first kept one of the cell if unknown).
    """
    in_cell = [p for p, s in enumerate(statements) if s.cell == cell and s.run is not None]
    failing = next(
        (p for p in in_cell if line and statements[p].original.lineno <= line <= (statements[p].original.end_lineno or line)),
        in_cell[0] if in_cell else 0,
    )
    earlier = [s for s in statements[:failing] if name in s.binds and s.run is None]
    if earlier:
        where = _cell_label(nb, earlier[-1].cell, earlier[-1].original.lineno)
        return (
            f"it is set in {where} by a statement the loader does not run "
            "(it runs imports, def/class, UPPER_CASE constants and the plain assignments they need)"
        )
    later = [s for s in statements[failing:] if name in s.binds]
    if later and later[0] is statements[failing]:
        return "the statement that needs it is the one that defines it, and a name exists only once its definition completes; Jupyter fails here too"
    if later:
        return f"it is defined only later, in {_cell_label(nb, later[0].cell, later[0].original.lineno)}; Jupyter fails here too"
    if name == "get_ipython":
        return "IPython syntax (a magic or a shell escape) runs only in Jupyter; the loader cannot run it"
    if hasattr(builtins, name):
        return "a built-in of that name was shadowed or deleted"
    return "it is defined nowhere before this point; Jupyter fails here too"


def _error_line(exc: BaseException, filename: str) -> int | None:
    """Return the line of the innermost traceback frame that belongs to ``filename``, if any."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _future_flags(code: types.CodeType) -> int:
    """Return the ``__future__`` compiler flags that ``code`` was compiled with."""
    flags = 0
    for flag in _FUTURE_FLAGS:
        if code.co_flags & flag:
            flags |= flag
    return flags


def _parse_cells(nb: NotebookNode, name: str) -> list[_Cell]:
    """Translate and parse every code cell; a cell that is not valid Python raises one line."""
    cells: list[_Cell] = []
    flags = 0
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        source = str(cell.get("source", ""))
        filename = f"{name}#cell{index}"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        try:
            python = python_source(source)
            if python is None:
                continue
            tree = ast.parse(python, filename=filename)
            # The whole cell is compiled as Jupyter would compile it, so that compiler-level
            # errors (a misplaced __future__ import, 'return' outside a function) show up even
            # in statements the loader later skips; the result also carries future flags on.
            code = compile(tree, filename, "exec", flags=flags | _CELL_FLAGS, dont_inherit=True)
        except SyntaxError as exc:
            line = exc.lineno if exc.lineno else None
            raise NotebookLoadError(
                name, f"{_cell_label(nb, index, line)}: invalid Python: {exc.msg}", cell_index=index, original=exc
            ) from None
        flags |= _future_flags(code)
        cells.append(_Cell(index, filename, tree))
    return cells


def load_definitions(notebook: str | Path | NotebookNode, module_name: str = "seminar") -> types.ModuleType:
    """Execute the definitions of every code cell of ``notebook`` into a new module.

    ``notebook`` is a path or an already-read v4 notebook. The module is registered in
    ``sys.modules`` under ``module_name`` (so pickling and dataclasses work), each cell's text is
    registered with ``linecache`` (so ``inspect.getsource`` works on its functions and classes),
    and the module is returned. See the module docstring for what runs.

    Raises :class:`NotebookLoadError` (one line naming the cell) when a cell is not valid
    Python or a kept statement raises, and :class:`nbio.NotebookError` when the file cannot be
    read or the notebook is not a Python notebook. On failure ``sys.modules`` is left as it was.
    """
    if isinstance(notebook, (str, Path)):
        name, nb = str(notebook), read_notebook(notebook)
    else:
        name, nb = "<notebook>", notebook
    require_python(nb, name)
    cells = _parse_cells(nb, name)

    statements: list[_Statement] = []
    postponed = _LAZY_ANNOTATIONS
    for cell in cells:
        for node in cell.tree.body:
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                postponed = postponed or any(alias.name == "annotations" for alias in node.names)
            run = _reduce_block([node], inside=False)
            statements.append(_Statement(cell.index, node, run[0] if run else None, not postponed, bound_names([node])))
    _select(statements)

    module = types.ModuleType(module_name)
    module.__file__ = name
    previous = sys.modules.get(module_name)
    sys.modules[module_name] = module
    flags = 0
    try:
        for cell in cells:
            body = [s.run for s in statements if s.cell == cell.index and s.run is not None]
            if not body:
                continue
            code = compile(ast.Module(body=body, type_ignores=[]), cell.filename, "exec", flags=flags, dont_inherit=True)
            flags |= _future_flags(code)
            try:
                exec(code, module.__dict__)  # noqa: S102 - executing our own notebook is the point
            except Exception as exc:
                line = _error_line(exc, cell.filename)
                label = _cell_label(nb, cell.index, line)
                message = terminal_safe(str(exc)).strip().splitlines()
                summary = f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__
                missing = exc.name if isinstance(exc, NameError) and isinstance(exc.name, str) else None
                if missing:
                    summary += f" ({_missing_name_hint(statements, nb, cell.index, line, missing)})"
                raise NotebookLoadError(
                    name, f"{label}: {summary}", cell_index=cell.index, name=missing, original=exc
                ) from None
    except BaseException:
        if previous is None:
            sys.modules.pop(module_name, None)
        else:
            sys.modules[module_name] = previous
        raise
    return module
