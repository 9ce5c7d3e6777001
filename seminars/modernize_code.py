"""Rewrite legacy PyTorch and Python idioms in the code cells of a notebook.

Rules (libcst rewrites; names are resolved through the imports of *any* cell, so
``import torch.nn.functional as F`` in one cell makes ``F.sigmoid`` in another one known):

==================  ===========================================================================
rule                rewrite
==================  ===========================================================================
variable            ``Variable(x)`` -> ``x.detach()``; ``Variable(x, requires_grad=True)`` ->
                    ``x.detach().requires_grad_()`` (what ``Variable`` does today: a new leaf
                    that shares ``x``'s storage and leaves ``x`` unmarked); for a freshly made
                    tensor (``torch.zeros(3)``, ``torch.FloatTensor([1])``) no ``.detach()``
                    (also ``autograd.Variable``, ``torch.autograd.Variable``)
volatile            ``Variable(x, volatile=True)`` -> as above, and the statement, with the statements
                    right after it that use what it computed, goes into ``with torch.no_grad():``
data-index-item     ``<expr>.data[0]`` -> ``<expr>.item()`` where ``<expr>`` evidently has one
                    element (a full reduction, a loss, a one-element constructor, a name that
                    gets ``.backward()``, ...); otherwise left with a note (``.item()`` would fail
                    on the first row of a bigger tensor); never where it is assigned to
legacy-constructor  ``torch.FloatTensor([1, 2])`` -> ``torch.tensor([1, 2], dtype=torch.float32)``;
                    ``torch.FloatTensor(x)`` -> ``torch.as_tensor(x, dtype=torch.float32)`` (shares
                    memory with a tensor/array of that dtype, as the legacy constructor does);
                    ``torch.FloatTensor(2, 3)`` -> ``torch.empty(2, 3, dtype=torch.float32)``;
                    every ``torch.<Type>Tensor``, ``torch.cuda.<Type>Tensor`` (``device="cuda"``)
                    and ``torch.Tensor(...)`` (default dtype)
functional          ``F.sigmoid`` / ``F.tanh`` -> ``torch.sigmoid`` / ``torch.tanh``
async-kwarg         ``.cuda(async=True)`` -> ``.cuda(non_blocking=True)`` (a token rewrite: ``async``
                    is a keyword since Python 3.7, so such a cell does not even parse)
unused-import       ``Variable`` imports that nothing uses any more are removed (a use inside a
                    magic or shell line, or in a cell left as it was, keeps the import)
ruff                the safe fixes of ruff's rules in :data:`RUFF_RULES`: pyupgrade (UPxxx:
                    %-formatting and ``.format`` -> f-strings, ``class A(object)`` -> ``class A``,
                    ``super(A, self)`` -> ``super()``, ...), ``raise NotImplemented`` ->
                    ``raise NotImplementedError`` (F901), ``"\\d"`` -> ``r"\\d"`` (W605), ``np.float`` -> ``float`` (NPY001),
                    ``np.NaN`` -> ``np.nan`` (NPY201), ``getattr(x, "a")`` -> ``x.a`` (B009/B010)
==================  ===========================================================================

Ruff's safe fixes are applied; its %-format fix (UP031, "unsafe" because a non-tuple right
operand may be a tuple at run time) only where the right operand is a tuple or dict display,
a literal, arithmetic with a number, a call of ``float``/``int``/``str``/``len``/``round``/
``abs`` or ``.item()``. Others are reported as notes and left.

IPython magics (``%matplotlib inline``, ``%%time``), shell lines (``!ls``, ``x = !ls``) and
help lines survive byte for byte: IPython's own input transformer finds them and they are
masked while libcst works. Cells with a non-Python cell magic (``%%bash``, ``%%writefile``)
are left alone. A cell that does not parse is left as it is and reported.

One line per change on stdout: ``NB: cell C, line L: rule: before -> after``. Cells are
numbered from 1 over all cells of the notebook; lines from 1 within the cell, as the cell
read when the rule ran (ruff's rules run after the libcst ones).

Usage::

    python seminars/modernize_code.py NB.ipynb              # rewrite in place
    python seminars/modernize_code.py NB.ipynb -o OUT.ipynb # write elsewhere
    python seminars/modernize_code.py NB.ipynb --check      # exit 1 if anything would change

Exit codes: 0 ok (or nothing to change with --check), 1 --check found changes, 2 bad input.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider
from nbformat import NotebookNode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cell_ids import ensure_cell_ids, source_major_version  # noqa: E402
from nbio import (  # noqa: E402
    EXIT_CHECK_FAILED,
    EXIT_OK,
    NotebookError,
    check_field_types,
    parse_notebook,
    read_text,
    run_cli,
    validate,
    write_notebook,
)

#: Cell magics whose body is Python: the magic line is masked and the body modernized.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
#: Legacy typed constructors and the dtype each one creates.
LEGACY_TENSOR_DTYPES = {
    "FloatTensor": "float32",
    "DoubleTensor": "float64",
    "HalfTensor": "float16",
    "BFloat16Tensor": "bfloat16",
    "LongTensor": "int64",
    "IntTensor": "int32",
    "ShortTensor": "int16",
    "CharTensor": "int8",
    "ByteTensor": "uint8",
    "BoolTensor": "bool",
}
VARIABLE_NAMES = frozenset({"torch.autograd.Variable", "torch.autograd.variable.Variable"})
#: torch functions that always return a new tensor that no other name refers to and that does
#: not require grad (unless called with ``requires_grad=``): ``Variable(f(...))`` may become
#: ``f(...)``. Anything else gets ``.detach()``, which is what ``Variable`` itself does today.
FRESH_TENSOR_FUNCTIONS = frozenset(
    {f"torch.{name}" for name in ("tensor", "from_numpy", "zeros", "ones", "empty", "full", "rand", "randn",
                                  "randint", "randperm", "arange", "linspace", "logspace", "eye", "zeros_like",
                                  "ones_like", "empty_like", "full_like", "rand_like", "randn_like", "Tensor")}
    | {f"torch.{name}" for name in LEGACY_TENSOR_DTYPES}
    | {f"torch.cuda.{name}" for name in LEGACY_TENSOR_DTYPES}
)
#: Methods that reduce a whole tensor to one element when called without ``dim``.
FULL_REDUCTIONS = frozenset({"sum", "mean", "prod", "norm", "std", "var", "max", "min", "amax", "amin",
                             "median", "all", "any", "nansum", "nanmean"})
#: Elementwise methods: a one-element tensor stays one element.
ELEMENTWISE_METHODS = frozenset({"abs", "detach", "clone", "float", "double", "half", "cpu", "cuda", "to",
                                 "exp", "log", "sqrt", "pow", "neg", "sigmoid", "tanh", "relu", "squeeze",
                                 "contiguous"})
#: torch.nn.functional losses: one element unless called with ``reduction="none"``.
FUNCTIONAL_LOSSES = frozenset({"cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
                               "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div", "margin_ranking_loss",
                               "hinge_embedding_loss", "soft_margin_loss", "multilabel_soft_margin_loss",
                               "multi_margin_loss", "poisson_nll_loss", "gaussian_nll_loss", "cosine_embedding_loss",
                               "triplet_margin_loss", "ctc_loss", "multilabel_margin_loss"})
FUNCTIONAL_RENAMES = {"torch.nn.functional.sigmoid": "sigmoid", "torch.nn.functional.tanh": "tanh"}
#: Builtins and methods whose result is never a tuple: a safe right operand for UP031.
SCALAR_CALLS = frozenset({"float", "int", "str", "len", "round", "abs", "item"})
#: The rules this module's libcst and token rewrites report (see the table above).
LIBCST_RULES = ("variable", "volatile", "data-index-item", "legacy-constructor", "functional", "async-kwarg", "unused-import")
#: Ruff rules whose safe fixes are applied: legacy idioms that warn, fail or are removed on a
#: modern Python/NumPy (pyupgrade UP*, ``raise NotImplemented`` F901, invalid escape sequences
#: W605, removed NumPy aliases NPY001/NPY201) and bugbear's constant ``getattr``/``setattr``
#: (B009/B010); each fix keeps what the code computes. Left out on purpose: F632 (``x is 1`` ->
#: ``x == 1`` turns an identity test on a tensor into an elementwise one) and every unsafe fix
#: (UP031 only where it is safe, see below).
RUFF_RULES = ("UP", "F901", "W605", "NPY001", "NPY201", "B009", "B010")
RUFF_ARGS = ("check", "--isolated", "--select", ",".join(RUFF_RULES), "--target-version", "py310", "--unsafe-fixes",
             "--output-format", "json", "--no-cache", "--exit-zero", "--stdin-filename", "cells.ipynb", "-")
_MASK = "__ipython_line_{}__"
_MASK_LINE = re.compile(r"^([ \t]*)__ipython_line_(\d+)__$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
_SNIPPET_WIDTH = 70


class CellSyntaxError(Exception):
    """A code cell that cannot be parsed as Python (with IPython syntax masked)."""


@dataclass(frozen=True)
class Change:
    """One rewrite: where it happened (1-based cell and line), which rule, and what changed."""

    cell: int
    line: int
    rule: str
    detail: str

    def describe(self, path: str) -> str:
        """Return the report line for this change."""
        return f"{path}: cell {self.cell}, line {self.line}: {self.rule}: {self.detail}"


@dataclass
class Report:
    """Everything a run found: the changes it made and the notes about what it left alone."""

    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _snippet(code: str) -> str:
    """Return ``code`` on one line, shortened for a report."""
    text = " ".join(code.split())
    return text if len(text) <= _SNIPPET_WIDTH else text[: _SNIPPET_WIDTH - 3] + "..."


# --------------------------------------------------------------------------- IPython syntax


@dataclass
class MaskedCell:
    """A cell's text with IPython-only lines replaced by placeholder statements."""

    text: str
    originals: dict[int, tuple[str, str]]  # placeholder number -> (original line, anchor indent)


def _indent(line: str) -> str:
    """Return the leading whitespace of ``line``."""
    return line[: len(line) - len(line.lstrip(" \t"))]


def mask_ipython(source: str) -> MaskedCell | None:
    """Mask magics, shell and help lines of a cell so that it parses as plain Python.

    Returns ``None`` for a cell whose cell magic runs something other than Python. Raises
    :class:`CellSyntaxError` when IPython's transformer changes the cell in a way that
    cannot be mapped back line by line.
    """
    from IPython.core.inputtransformer2 import TransformerManager  # slow import, only when needed

    lines = _LINE_BREAK.split(source)
    ends = _LINE_BREAK.findall(source)
    originals: dict[int, tuple[str, str]] = {}
    masked = list(lines)

    def mask(index: int, anchor: str) -> None:
        """Replace line ``index`` by a placeholder indented like ``anchor``; remember the original."""
        number = len(originals)
        originals[number] = (lines[index], anchor)
        masked[index] = anchor + _MASK.format(number)

    first = 0
    while first < len(lines) and not lines[first].strip():
        first += 1
    if first < len(lines) and lines[first].startswith("%%"):
        name = lines[first][2:].split(maxsplit=1)[0] if lines[first][2:].strip() else ""
        if name not in PYTHON_CELL_MAGICS:
            return None
        mask(first, "")
        first += 1
    body = lines[first:]
    if not "".join(body).strip():
        return MaskedCell("".join(line + end for line, end in zip(masked, ends + [""], strict=True)), originals)
    transformed = TransformerManager().transform_cell("\n".join(body)).split("\n")
    if transformed and transformed[-1] == "":
        transformed.pop()
    while body and transformed and len(transformed) < len(body) and body[-1] == "":
        body = body[:-1]  # IPython drops trailing blank lines; they need no mask
    i = j = 0
    while i < len(body):
        if j < len(transformed) and body[i] == transformed[j]:
            i += 1
            j += 1
            continue
        if j >= len(transformed):
            raise CellSyntaxError("IPython syntax that cannot be mapped back line by line")
        anchor = _indent(body[i])
        mask(first + i, anchor)
        while body[i].rstrip().endswith("\\") and i + 1 < len(body):
            i += 1
            mask(first + i, anchor)
        i += 1
        j += 1
    if j != len(transformed):
        raise CellSyntaxError("IPython syntax that cannot be mapped back line by line")
    text = "".join(line + end for line, end in zip(masked, ends + [""], strict=True))
    return MaskedCell(text, originals)


def unmask_ipython(text: str, cell: MaskedCell) -> str:
    """Put the original IPython lines back in place of their placeholders (re-indented if moved)."""
    lines = _LINE_BREAK.split(text)
    ends = _LINE_BREAK.findall(text)
    for index, line in enumerate(lines):
        match = _MASK_LINE.match(line)
        if match and int(match.group(2)) in cell.originals:
            original, anchor = cell.originals[int(match.group(2))]
            new_indent = match.group(1)
            lines[index] = new_indent + original[len(anchor):] if original.startswith(anchor) else original
    return "".join(line + end for line, end in zip(lines, ends + [""], strict=True))


# --------------------------------------------------------------------------- async= keyword


def fix_async_kwargs(text: str) -> tuple[str, list[int]]:
    """Rename ``async=`` keyword arguments to ``non_blocking=``; return the text and the lines changed.

    ``async`` became a keyword in Python 3.7, so ``x.cuda(async=True)`` no longer parses and
    libcst cannot see it: this works on tokens. Only ``async`` directly after ``(`` or ``,``
    and directly before ``=`` is renamed.
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return text, []
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    significant = [tok for tok in tokens if tok.type not in skip]
    hits = []
    for k, tok in enumerate(significant):
        if (
            tok.type == tokenize.NAME
            and tok.string == "async"
            and 0 < k < len(significant) - 1
            and significant[k - 1].string in ("(", ",")
            and significant[k + 1].string == "="
        ):
            hits.append(tok.start)
    if not hits:
        return text, []
    lines = io.StringIO(text).readlines()  # the same lines tokenize numbered
    for row, col in reversed(hits):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + "non_blocking" + line[col + len("async"):]
    return "".join(lines), sorted({row for row, _ in hits})


# --------------------------------------------------------------------------- name resolution


class _ImportCollector(cst.CSTVisitor):
    """Collect, over all cells, which names the imports bind and which names are bound otherwise."""

    def __init__(self) -> None:
        """Start with no bindings."""
        self.imported: dict[str, set[str]] = {}
        self.other_bindings: set[str] = set()

    def _bind(self, name: str, qualified: str) -> None:
        """Record that ``name`` is bound to the dotted name ``qualified``."""
        self.imported.setdefault(name, set()).add(qualified)

    def visit_Import(self, node: cst.Import) -> None:
        """``import a.b`` binds ``a``; ``import a.b as c`` binds ``c`` to ``a.b``."""
        for alias in node.names:
            dotted = cst.helpers.get_full_name_for_node(alias.name) or ""
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self._bind(alias.asname.name.value, dotted)
            else:
                head = dotted.split(".")[0]
                self._bind(head, head)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        """``from a import b as c`` binds ``c`` (or ``b``) to ``a.b``."""
        if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
            return
        module = cst.helpers.get_full_name_for_node(node.module) or ""
        for alias in node.names:
            name = cst.helpers.get_full_name_for_node(alias.name) or ""
            bound = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else name
            self._bind(bound, f"{module}.{name}")

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        """A class definition binds its name to something that is not an import."""
        self.other_bindings.add(node.name.value)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        """A function definition binds its name to something that is not an import."""
        self.other_bindings.add(node.name.value)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        """An assignment binds its target names to something that is not an import."""
        self.other_bindings.update(_target_names(node.target))


def _target_names(node: cst.BaseExpression | None) -> set[str]:
    """Return the plain names bound by an assignment target (tuples and lists unpacked)."""
    if isinstance(node, cst.Name):
        return {node.value}
    if isinstance(node, (cst.Tuple, cst.List)):
        names: set[str] = set()
        for element in node.elements:
            names |= _target_names(element.value)
        return names
    if isinstance(node, cst.StarredElement):
        return _target_names(node.value)
    return set()


@dataclass
class NameTable:
    """What the notebook's imports make of its names (one meaning per name, or none)."""

    aliases: dict[str, str]

    @classmethod
    def from_modules(cls, modules: Iterable[cst.Module]) -> NameTable:
        """Build the table from every parsed cell; ambiguous or shadowed names are left out."""
        collector = _ImportCollector()
        for module in modules:
            module.visit(collector)
        aliases = {
            name: next(iter(targets))
            for name, targets in collector.imported.items()
            if len(targets) == 1 and name not in collector.other_bindings
        }
        return cls(aliases)

    def qualname(self, node: cst.BaseExpression) -> str | None:
        """Return the dotted name an expression refers to through the imports, if it does."""
        if isinstance(node, cst.Name):
            return self.aliases.get(node.value)
        if isinstance(node, cst.Attribute):
            base = self.qualname(node.value)
            return f"{base}.{node.attr.value}" if base else None
        return None

    @property
    def torch(self) -> str | None:
        """Return the name under which ``torch`` itself is imported (``None`` if it is not)."""
        names = sorted(name for name, target in self.aliases.items() if target == "torch")
        return "torch" if "torch" in names else (names[0] if names else None)

    def names_for(self, qualified: Iterable[str]) -> set[str]:
        """Return the local names bound to any of the ``qualified`` names."""
        wanted = set(qualified)
        return {name for name, target in self.aliases.items() if target in wanted}


# --------------------------------------------------------------------------- libcst rewrites

_ATOMIC = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.List, cst.Dict, cst.Set,
           cst.ListComp, cst.DictComp, cst.SetComp, cst.GeneratorExp, cst.SimpleString,
           cst.ConcatenatedString, cst.FormattedString)
_NO_PARENS_NEEDED = (cst.Arg, cst.Assign, cst.AnnAssign, cst.AugAssign, cst.Expr, cst.Return,
                     cst.Element, cst.DictElement, cst.Index)


def _parenthesize(node: cst.BaseExpression) -> cst.BaseExpression:
    """Wrap ``node`` in parentheses unless it is atomic or already parenthesized."""
    if isinstance(node, _ATOMIC) or node.lpar:
        return node
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def _bool_literal(node: cst.BaseExpression) -> bool | None:
    """Return True/False for the literals ``True``/``False``, else None."""
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return node.value == "True"
    return None


def _kwarg(name: str, value: cst.BaseExpression) -> cst.Arg:
    """Return a keyword argument ``name=value`` in the usual spacing."""
    return cst.Arg(
        value=value,
        keyword=cst.Name(name),
        equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
    )


def _is_size_arg(arg: cst.Arg, names: NameTable) -> bool:
    """Return True when a single constructor argument is clearly a size, not data."""
    value = arg.value
    if arg.star or isinstance(value, cst.Integer):
        return True
    if isinstance(value, cst.Attribute) and value.attr.value == "shape":
        return True
    if isinstance(value, cst.Call):
        func = value.func
        if isinstance(func, cst.Attribute) and func.attr.value == "size":
            return True
        return names.qualname(func) == "torch.Size"
    return False


def _is_literal_data(node: cst.BaseExpression) -> bool:
    """Return True for data written out in the code (a list/tuple display or comprehension): nothing else can alias it."""
    return isinstance(node, (cst.List, cst.Tuple, cst.ListComp))


def _is_fresh_tensor(call: cst.BaseExpression, names: NameTable) -> bool:
    """Return True when ``call`` makes a new tensor that nothing else refers to and that does not require grad.

    A legacy typed constructor is fresh only for sizes or literal data: given a tensor or an
    array of its dtype it shares memory (and its modern form, ``torch.as_tensor``, may return
    that very tensor).
    """
    if not isinstance(call, cst.Call) or _keyword(call, "requires_grad") is not None:
        return False
    qualified = names.qualname(call.func) or ""
    if qualified not in FRESH_TENSOR_FUNCTIONS:
        return False
    type_name = qualified.rpartition(".")[2]
    if type_name in LEGACY_TENSOR_DTYPES or qualified == "torch.Tensor":
        positional = [arg for arg in call.args if arg.keyword is None]
        return len(positional) != 1 or _is_size_arg(positional[0], names) or _is_literal_data(positional[0].value)
    return True


def _bound_names(statement: cst.CSTNode) -> set[str]:
    """Return the names a statement binds at its own level (assignments, for targets, with ... as)."""
    names: set[str] = set()

    class Binder(cst.CSTVisitor):
        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            """Names assigned with ``=``."""
            names.update(_target_names(node.target))

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            """Names assigned with an annotation."""
            names.update(_target_names(node.target))

        def visit_AugAssign(self, node: cst.AugAssign) -> None:
            """Names updated in place (``+=``)."""
            names.update(_target_names(node.target))

        def visit_For(self, node: cst.For) -> None:
            """Loop variables."""
            names.update(_target_names(node.target))

        def visit_AsName(self, node: cst.AsName) -> None:
            """Names bound by ``with ... as`` and ``except ... as``."""
            names.update(_target_names(node.name))

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            """A nested function binds its name; its body is its own scope."""
            names.add(node.name.value)
            return False

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            """A nested class binds its name; its body is its own scope."""
            names.add(node.name.value)
            return False

    statement.visit(Binder())
    return names


def _used_names(statement: cst.CSTNode, masked_words: dict[str, set[str]] | None = None) -> set[str]:
    """Return every plain name a statement mentions.

    A masked IPython line (``%time y = model(v)``) mentions the identifiers of its original
    text, given by ``masked_words`` (placeholder name -> identifiers).
    """
    names: set[str] = set()
    masked_words = masked_words or {}

    class User(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            """Every name read or written."""
            names.add(node.value)
            names.update(masked_words.get(node.value, ()))

        def visit_Attribute(self, node: cst.Attribute) -> bool:
            """Only the object of ``obj.attr`` is a name use; ``attr`` is not."""
            node.value.visit(self)  # the attribute's own name is not a variable
            return False

    statement.visit(User())
    return names


def _keyword(call: cst.Call, name: str) -> cst.BaseExpression | None:
    """Return the value of keyword argument ``name`` of ``call`` (None when it is not given)."""
    return next((arg.value for arg in call.args if arg.keyword is not None and arg.keyword.value == name), None)


def _is_number(node: cst.BaseExpression) -> bool:
    """Return True for a numeric literal, possibly signed (``2``, ``-1.5``)."""
    if isinstance(node, cst.UnaryOperation):
        node = node.expression
    return isinstance(node, (cst.Integer, cst.Float))


def is_one_element(node: cst.BaseExpression, known: set[str], names: NameTable) -> bool:
    """Return True when ``node`` is evidently a tensor with exactly one element.

    Evidence: a full reduction without ``dim`` (``x.sum()``, ``torch.mean(x)``), a functional
    loss without ``reduction="none"``, a constructor of a one-element literal
    (``torch.Tensor([2.0])``, ``Variable(torch.tensor(3.0))``), ``.data``/``.grad``/an
    elementwise method of a one-element tensor, arithmetic of such tensors and numbers, or a
    name in ``known``. Used to decide that ``<expr>.data[0]`` is the legacy scalar idiom (whose
    modern form is ``.item()``) and not the first row of a bigger tensor.
    """
    if isinstance(node, cst.Name):
        return node.value in known
    if isinstance(node, cst.Attribute):
        return node.attr.value in ("data", "grad") and is_one_element(node.value, known, names)
    if isinstance(node, cst.UnaryOperation):
        return is_one_element(node.expression, known, names)
    if isinstance(node, cst.BinaryOperation):
        sides = (node.left, node.right)
        return all(_is_number(side) or is_one_element(side, known, names) for side in sides) and not all(map(_is_number, sides))
    if not isinstance(node, cst.Call):
        return False
    positional = [arg for arg in node.args if arg.keyword is None]
    if any(arg.star for arg in node.args) or _keyword(node, "dim") is not None or _keyword(node, "axis") is not None:
        return False
    qualified = names.qualname(node.func) or ""
    if qualified in VARIABLE_NAMES:
        return len(positional) >= 1 and is_one_element(positional[0].value, known, names)
    prefix, _, function = qualified.rpartition(".")
    if qualified in FRESH_TENSOR_FUNCTIONS and function not in ("from_numpy",) and len(positional) == 1:
        data = positional[0].value
        if _is_number(data):
            return function == "tensor"  # torch.tensor(3.0) is 0-dim; torch.Tensor(3) is a size
        return isinstance(data, (cst.List, cst.Tuple)) and len(data.elements) == 1 and _is_number(data.elements[0].value)
    if prefix == "torch.nn.functional" and function in FUNCTIONAL_LOSSES:
        reduction = _keyword(node, "reduction")
        return reduction is None or isinstance(reduction, cst.SimpleString) and reduction.evaluated_value in ("mean", "sum")
    if prefix == "torch" and function in FULL_REDUCTIONS | {"dot", "vdot"}:
        return len(positional) == (2 if function in ("dot", "vdot") else 1)
    if isinstance(node.func, cst.Attribute) and not qualified:
        method, owner = node.func.attr.value, node.func.value
        if method in FULL_REDUCTIONS:
            return not positional or method == "norm" and len(positional) == 1 and _is_number(positional[0].value)
        if method in ("dot", "vdot"):
            return len(positional) == 1
        return method in ELEMENTWISE_METHODS and is_one_element(owner, known, names)
    return False


class _ScopeFacts(cst.CSTVisitor):
    """Per scope (cell top level, function, class body): how each name is bound, which get ``.backward()``."""

    def __init__(self) -> None:
        """Start with the module scope only."""
        self.stack: list[int] = []
        self.values: dict[int, dict[str, list[cst.BaseExpression | None]]] = {}
        self.backward: dict[int, set[str]] = {}

    def _scope(self) -> int:
        return self.stack[-1]

    def _bind(self, name: str, value: cst.BaseExpression | None) -> None:
        """Record one binding of ``name`` (``value=None``: bound to something not analysed)."""
        self.values.setdefault(self._scope(), {}).setdefault(name, []).append(value)

    def _enter(self, node: cst.CSTNode) -> None:
        self.stack.append(id(node))
        self.values.setdefault(id(node), {})
        self.backward.setdefault(id(node), set())

    def visit_Module(self, node: cst.Module) -> None:
        """The cell's top level is a scope."""
        self._enter(node)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        """A function body is a scope; its parameters are bindings it knows nothing about."""
        self._bind(node.name.value, None)
        self._enter(node)
        params = node.params
        for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
            self._bind(param.name.value, None)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                self._bind(star.name.value, None)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        """Back to the enclosing scope."""
        self.stack.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        """A class body is a scope."""
        self._bind(node.name.value, None)
        self._enter(node)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        """Back to the enclosing scope."""
        self.stack.pop()

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        """A lambda binds nothing in its scope that matters here."""
        return False

    def visit_Assign(self, node: cst.Assign) -> None:
        """``name = value`` is analysed; unpacking binds names to unknown values."""
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                self._bind(target.target.value, node.value)
            else:
                for name in _target_names(target.target):
                    self._bind(name, None)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        """``name: T = value``."""
        if isinstance(node.target, cst.Name):
            self._bind(node.target.value, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        """``name += value`` keeps one element only when ``value`` has one too."""
        if isinstance(node.target, cst.Name):
            self._bind(node.target.value, node.value)

    def visit_For(self, node: cst.For) -> None:
        """Loop variables are bound to unknown values."""
        for name in _target_names(node.target):
            self._bind(name, None)

    def visit_AsName(self, node: cst.AsName) -> None:
        """``with ... as name``, ``except ... as name``, ``import ... as name``."""
        for name in _target_names(node.name):
            self._bind(name, None)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        """``(name := value)``."""
        if isinstance(node.target, cst.Name):
            self._bind(node.target.value, node.value)

    def visit_Call(self, node: cst.Call) -> None:
        """``name.backward()`` without a gradient argument needs a one-element ``name``."""
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "backward" and isinstance(func.value, cst.Name):
            if not [arg for arg in node.args if arg.keyword is None or arg.keyword.value in ("gradient", "grad_tensors")]:
                self.backward[self._scope()].add(func.value.value)


def one_element_names(module: cst.Module, names: NameTable) -> dict[int, set[str]]:
    """Return, for each scope of a cell (keyed by ``id`` of its node), the names that hold one-element tensors.

    A name qualifies in a scope when every binding it has there is evidently one element (see
    :func:`is_one_element`), or when ``name.backward()`` is called there without a gradient
    (PyTorch only allows that for one element) and the name is bound at most once there.
    """
    facts = _ScopeFacts()
    module.visit(facts)
    result: dict[int, set[str]] = {}
    for scope, bindings in facts.values.items():  # the module comes first: inner scopes inherit from it
        known: set[str] = {name for name in facts.backward.get(scope, set()) if len(bindings.get(name, [])) <= 1}
        if scope != id(module):
            known |= result.get(id(module), set()) - set(bindings)
        changed = True
        while changed:
            changed = False
            for name, values in bindings.items():
                if name not in known and values and all(v is not None and is_one_element(v, known, names) for v in values):
                    known.add(name)
                    changed = True
        result[scope] = known
    return result


class LegacyRewriter(cst.CSTTransformer):
    """The libcst rules of this module, applied to one (masked) cell."""

    METADATA_DEPENDENCIES = (PositionProvider, ParentNodeProvider)

    def __init__(self, names: NameTable, cell_number: int, module: cst.Module, masked: MaskedCell | None = None) -> None:
        """Prepare to rewrite cell ``cell_number``; ``module`` is the tree the positions refer to."""
        super().__init__()
        self.names = names
        self.masked_words = {
            _MASK.format(number): set(_IDENTIFIER.findall(original))
            for number, (original, _) in (masked.originals.items() if masked else ())
        }
        self.cell = cell_number
        self.module = module
        self.changes: list[Change] = []
        self.notes: list[str] = []
        self.volatile_owners: set[int] = set()
        self.one_element = one_element_names(module, names)

    # helpers -------------------------------------------------------------------------------

    def _line(self, node: cst.CSTNode) -> int:
        """Return the 1-based line of ``node`` in the cell."""
        return self.get_metadata(PositionProvider, node).start.line

    def _record(self, node: cst.CSTNode, rule: str, before: cst.CSTNode | str, after: cst.CSTNode | str) -> None:
        """Record a change of ``node`` from ``before`` to ``after`` (nodes or text)."""
        old = before if isinstance(before, str) else self.module.code_for_node(before)
        new = after if isinstance(after, str) else self.module.code_for_node(after)
        self.changes.append(Change(self.cell, self._line(node), rule, f"{_snippet(old)} -> {_snippet(new)}"))

    def _note(self, node: cst.CSTNode, text: str) -> None:
        """Record a note about something deliberately left unchanged."""
        self.notes.append(f"cell {self.cell}, line {self._line(node)}: note: {text}")

    def _parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        """Return the parent of an original node (None for the module)."""
        try:
            return self.get_metadata(ParentNodeProvider, node)
        except KeyError:
            return None

    def _scope_of(self, node: cst.CSTNode) -> cst.CSTNode:
        """Return the innermost function, class or module whose scope ``node`` is in."""
        current = self._parent(node)
        while current is not None and not isinstance(current, (cst.FunctionDef, cst.ClassDef, cst.Module)):
            current = self._parent(current)
        return current if current is not None else self.module

    def _fit(self, original: cst.CSTNode, replacement: cst.BaseExpression) -> cst.BaseExpression:
        """Parenthesize a replacement expression unless its place needs no parentheses."""
        return replacement if isinstance(self._parent(original), _NO_PARENS_NEEDED) else _parenthesize(replacement)

    def _owner_statement(self, node: cst.CSTNode) -> cst.CSTNode:
        """Return the statement (in some body list) whose text contains ``node``."""
        current = node
        while True:
            parent = self._parent(current)
            if parent is None or isinstance(parent, (cst.Module, cst.IndentedBlock)):
                return current
            current = parent

    def _is_store_target(self, node: cst.CSTNode) -> bool:
        """Return True when ``node`` is assigned to or deleted (not read)."""
        child, parent = node, self._parent(node)
        while isinstance(parent, (cst.Element, cst.StarredElement, cst.Tuple, cst.List)):
            child, parent = parent, self._parent(parent)
        if isinstance(parent, (cst.AssignTarget, cst.Del)):
            return True
        if isinstance(parent, (cst.AugAssign, cst.AnnAssign, cst.For, cst.CompFor)):
            return parent.target is child
        return isinstance(parent, cst.AsName)

    # Variable(...) and legacy constructors -----------------------------------------------------

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        """Rewrite ``Variable(...)`` and the legacy typed tensor constructors."""
        qualified = self.names.qualname(original_node.func)
        if qualified in VARIABLE_NAMES:
            return self._rewrite_variable(original_node, updated_node)
        if qualified:
            prefix, _, type_name = qualified.rpartition(".")
            if prefix in ("torch", "torch.cuda") and (type_name in LEGACY_TENSOR_DTYPES or qualified == "torch.Tensor"):
                return self._rewrite_constructor(original_node, updated_node, type_name, cuda=prefix == "torch.cuda")
        return updated_node

    def _rewrite_variable(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        """``Variable(x[, requires_grad=..., volatile=...])`` -> ``x.detach()`` / ``x.detach().requires_grad_()``.

        ``.detach()`` is left out when ``x`` is a tensor made right there by a torch factory.
        """
        positional = [arg for arg in updated.args if arg.keyword is None]
        keywords = {arg.keyword.value: arg.value for arg in updated.args if arg.keyword is not None}
        if len(positional) != 1 or positional[0].star or set(keywords) - {"requires_grad", "volatile"}:
            self._note(original, "Variable(...) with unusual arguments left unchanged")
            return updated
        volatile = _bool_literal(keywords["volatile"]) if "volatile" in keywords else False
        requires_grad = keywords.get("requires_grad")
        if volatile is None:
            self._note(original, "Variable(..., volatile=<expression>) left unchanged: rewrite it by hand")
            return updated
        data = positional[0].value
        # Variable(x) is x.detach() (a new leaf sharing x's storage; x itself is not marked):
        # without .detach(), requires_grad_() would mark x, and a later in-place update of x
        # would fail. A freshly made tensor that nothing else refers to needs no .detach().
        original_data = next(arg.value for arg in original.args if arg.keyword is None)
        if not _is_fresh_tensor(original_data, self.names):
            data = cst.Call(func=cst.Attribute(value=_parenthesize(data), attr=cst.Name("detach")))
        if requires_grad is None or _bool_literal(requires_grad) is False:
            result = self._fit(original, data)
        else:
            grad_args = [] if _bool_literal(requires_grad) else [cst.Arg(requires_grad)]
            result = cst.Call(func=cst.Attribute(value=_parenthesize(data), attr=cst.Name("requires_grad_")), args=grad_args)
        result = result.with_changes(lpar=list(updated.lpar) + list(result.lpar), rpar=list(result.rpar) + list(updated.rpar))
        if volatile:
            if self.names.torch is None:
                self._note(original, "Variable(..., volatile=True) left unchanged: the notebook does not import torch")
                return updated
            self.volatile_owners.add(id(self._owner_statement(original)))
            self._record(original, "volatile", original, f"{self.module.code_for_node(result)} inside `with {self.names.torch}.no_grad():`")
        else:
            self._record(original, "variable", original, result)
        return result

    def _rewrite_constructor(self, original: cst.Call, updated: cst.Call, type_name: str, *, cuda: bool) -> cst.BaseExpression:
        """``torch.<Type>Tensor(...)`` -> ``torch.tensor(data, dtype=...)`` or ``torch.empty(*size, dtype=...)``."""
        torch = self.names.torch
        if torch is None:
            self._note(original, f"{type_name}(...) left unchanged: the notebook does not import torch")
            return updated
        positional = [arg for arg in updated.args if arg.keyword is None]
        keywords = [arg for arg in updated.args if arg.keyword is not None]
        dtype = LEGACY_TENSOR_DTYPES.get(type_name)
        sizes = not positional or len(positional) > 1 or _is_size_arg(positional[0], self.names)
        if sizes:
            args = [arg.with_changes(comma=cst.MaybeSentinel.DEFAULT) for arg in positional] or [cst.Arg(cst.Integer("0"))]
            func = "empty"
            dtype_expr = f"{torch}.{dtype}" if dtype else None
        else:
            # The legacy constructor shares memory with a tensor or NumPy array of its dtype (and
            # copies otherwise), as torch.as_tensor does; torch.tensor always copies, which is
            # the same only for data written out in the code.
            args = [positional[0].with_changes(comma=cst.MaybeSentinel.DEFAULT)]
            func = "tensor" if _is_literal_data(positional[0].value) else "as_tensor"
            dtype_expr = f"{torch}.{dtype}" if dtype else f"{torch}.get_default_dtype()"
        if dtype_expr:
            args.append(_kwarg("dtype", cst.parse_expression(dtype_expr)))
        if cuda and "device" not in {arg.keyword.value for arg in keywords}:
            args.append(_kwarg("device", cst.SimpleString('"cuda"')))
        args.extend(arg.with_changes(comma=cst.MaybeSentinel.DEFAULT) for arg in keywords)
        result = updated.with_changes(func=cst.parse_expression(f"{torch}.{func}"), args=args)
        self._record(original, "legacy-constructor", original, result)
        return result

    # .data[0] -----------------------------------------------------------------------------------

    def leave_Subscript(self, original_node: cst.Subscript, updated_node: cst.Subscript) -> cst.BaseExpression:
        """``<expr>.data[0]`` -> ``<expr>.item()`` where it is read, not assigned."""
        value = updated_node.value
        if not (isinstance(value, cst.Attribute) and value.attr.value == "data" and len(updated_node.slice) == 1):
            return updated_node
        index = updated_node.slice[0].slice
        if not (isinstance(index, cst.Index) and index.star is None and isinstance(index.value, cst.Integer) and index.value.value == "0"):
            return updated_node
        if self._is_store_target(original_node):
            return updated_node
        owner = original_node.value.value  # type: ignore[attr-defined]  (checked above on the updated twin)
        if not is_one_element(owner, self.one_element.get(id(self._scope_of(original_node)), set()), self.names):
            self._note(original_node, f"{_snippet(self.module.code_for_node(original_node))} left: nothing shows that "
                                      f"{_snippet(self.module.code_for_node(owner))} has one element; if it does, use .item()")
            return updated_node
        result = cst.Call(func=cst.Attribute(value=value.value, attr=cst.Name("item")),
                          lpar=updated_node.lpar, rpar=updated_node.rpar)
        self._record(original_node, "data-index-item", original_node, result)
        return result

    # F.sigmoid / F.tanh ---------------------------------------------------------------------

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        """``F.sigmoid`` / ``F.tanh`` (any alias of torch.nn.functional) -> ``torch.sigmoid`` / ``torch.tanh``."""
        qualified = self.names.qualname(original_node)
        if qualified not in FUNCTIONAL_RENAMES or self._is_store_target(original_node):
            return updated_node
        torch = self.names.torch
        if torch is None:
            self._note(original_node, f"{qualified} left unchanged: the notebook does not import torch")
            return updated_node
        result = updated_node.with_changes(value=cst.Name(torch), attr=cst.Name(FUNCTIONAL_RENAMES[qualified]))
        self._record(original_node, "functional", original_node, result)
        return result

    # volatile: with torch.no_grad() ---------------------------------------------------------------

    def _wrap_volatile(self, original_body: Sequence[cst.CSTNode], updated_body: Sequence[cst.CSTNode]) -> list[cst.CSTNode]:
        """Put each volatile statement and the statements that use its results in ``with no_grad``."""
        result: list[cst.CSTNode] = []
        k = 0
        while k < len(updated_body):
            if id(original_body[k]) not in self.volatile_owners:
                result.append(updated_body[k])
                k += 1
                continue
            group = [updated_body[k]]
            tainted = _bound_names(original_body[k])
            k += 1
            while k < len(updated_body):
                is_owner = id(original_body[k]) in self.volatile_owners
                if not is_owner and not (_used_names(original_body[k], self.masked_words) & tainted):
                    break
                tainted |= _bound_names(original_body[k])
                group.append(updated_body[k])
                k += 1
            leading = group[0].leading_lines
            group[0] = group[0].with_changes(leading_lines=())
            manager = cst.parse_expression(f"{self.names.torch}.no_grad()")
            result.append(cst.With(items=[cst.WithItem(manager)], body=cst.IndentedBlock(body=group), leading_lines=leading))
        return result

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        """Wrap the volatile statements of this block in ``with torch.no_grad():``."""
        if not self.volatile_owners:
            return updated_node
        return updated_node.with_changes(body=self._wrap_volatile(original_node.body, updated_node.body))

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        """Wrap the volatile statements at the top level of the cell in ``with torch.no_grad():``."""
        if not self.volatile_owners:
            return updated_node
        return updated_node.with_changes(body=self._wrap_volatile(original_node.body, updated_node.body))


class UnusedImportRemover(cst.CSTTransformer):
    """Remove ``from torch.autograd import Variable`` names that nothing uses any more."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, unused: set[str], cell_number: int) -> None:
        """Remove the imports of the names in ``unused`` from cell ``cell_number``."""
        super().__init__()
        self.unused = unused
        self.cell = cell_number
        self.changes: list[Change] = []
        self._carry: list[cst.EmptyLine] = []
        self._carry_target: cst.CSTNode | None = None
        self._carry_lines: list[cst.EmptyLine] = []

    def leave_ImportFrom(
        self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom
    ) -> cst.ImportFrom | cst.RemovalSentinel:
        """Drop the unused names; the whole import when none is left."""
        node = updated_node
        if node.module is None or isinstance(node.names, cst.ImportStar):
            return node
        module = cst.helpers.get_full_name_for_node(node.module)
        if module not in ("torch.autograd", "torch.autograd.variable"):
            return node
        kept = []
        line = self.get_metadata(PositionProvider, original_node).start.line
        for alias in node.names:
            bound = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else alias.name.value
            if alias.name.value == "Variable" and bound in self.unused:
                self.changes.append(Change(self.cell, line, "unused-import", f"removed unused `{bound}` import from {module}"))
            else:
                kept.append(alias)
        if len(kept) == len(node.names):
            return node
        if not kept:
            return cst.RemovalSentinel.REMOVE
        kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        if len(kept) == 1:
            return node.with_changes(names=kept, lpar=None, rpar=None)
        return node.with_changes(names=kept)

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.RemovalSentinel:
        """Drop a line left empty (keeping its comments for the next statement); fix a dangling ``;``."""
        if not updated_node.body:
            self._carry.extend(updated_node.leading_lines)
            return cst.RemovalSentinel.REMOVE
        if len(updated_node.body) < len(original_node.body):
            last = updated_node.body[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
            return updated_node.with_changes(body=[*updated_node.body[:-1], last])
        return updated_node

    def on_visit(self, node: cst.CSTNode) -> bool:
        """Remember the statement after a removed line: it receives that line's comments."""
        if self._carry and self._carry_target is None and isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            self._carry_target, self._carry_lines, self._carry = node, self._carry, []
        return super().on_visit(node)

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> cst.CSTNode | cst.RemovalSentinel:
        """Give the statement after a removed line that line's comments."""
        result = super().on_leave(original_node, updated_node)
        if original_node is self._carry_target and isinstance(result, cst.CSTNode):
            result = result.with_changes(leading_lines=[*self._carry_lines, *result.leading_lines])
            self._carry_target, self._carry_lines = None, []
        return result

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        """Comments of a removed last line stay at the end of their block."""
        if not self._carry:
            return updated_node
        footer, self._carry = [*self._carry, *updated_node.footer], []
        return updated_node.with_changes(footer=footer)

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        """Comments of a removed last line of the cell stay at its end."""
        if not self._carry:
            return updated_node
        footer, self._carry = [*self._carry, *updated_node.footer], []
        return updated_node.with_changes(footer=footer)


class _NameUses(cst.CSTVisitor):
    """Count uses of names outside import statements (attribute names are not uses)."""

    def __init__(self, names: set[str]) -> None:
        """Look for uses of ``names``."""
        self.names = names
        self.used: set[str] = set()

    def visit_Import(self, node: cst.Import) -> bool:
        """Names in import statements are bindings, not uses."""
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        """Names in import statements are bindings, not uses."""
        return False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        """Only the object of ``obj.attr`` can be a use; ``attr`` is not a variable."""
        node.value.visit(self)
        return False

    def visit_Name(self, node: cst.Name) -> None:
        """Record a use of one of the watched names."""
        if node.value in self.names:
            self.used.add(node.value)


# --------------------------------------------------------------------------- ruff (pyupgrade and other legacy rules)


def _ruff_command() -> list[str]:
    """Return the command that runs the ruff installed next to this Python."""
    try:
        from ruff.__main__ import find_ruff_bin

        return [str(find_ruff_bin())]
    except (ImportError, FileNotFoundError):
        return [sys.executable, "-m", "ruff"]


def _offset(line_starts: list[int], location: dict) -> int:
    """Turn ruff's 1-based (row, column-in-characters) into an offset into the cell text."""
    row, column = int(location["row"]), int(location["column"])
    if row - 1 >= len(line_starts):
        return line_starts[-1]
    return line_starts[row - 1] + column - 1


def _line_starts(text: str) -> list[int]:
    """Return the offset at which each line of ``text`` starts (ruff's line breaks)."""
    starts = [0]
    starts.extend(match.end() for match in _LINE_BREAK.finditer(text))
    return starts


def _printf_operand_is_safe(expression: str) -> bool:
    """Return True when ``'...' % rhs`` may become an f-string: ``rhs`` can never be a tuple."""
    try:
        node = cst.parse_expression(f"({expression})")
    except cst.ParserSyntaxError:
        return False
    if not (isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Modulo)):
        return False
    right = node.right
    literal = (cst.Tuple, cst.Dict, cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)
    if isinstance(right, literal):
        return True
    if isinstance(right, cst.BinaryOperation):
        return isinstance(right.left, (cst.Integer, cst.Float)) or isinstance(right.right, (cst.Integer, cst.Float))
    if isinstance(right, cst.UnaryOperation):
        return isinstance(right.expression, (cst.Integer, cst.Float))
    if isinstance(right, cst.Call):
        func = right.func
        name = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else ""
        return name in SCALAR_CALLS and (isinstance(func, cst.Name) or name == "item")
    return False


def _cell_edits(edits: list[dict], diagnostic: dict, text: str, texts: list[str]) -> list[tuple[int, int, str]] | None:
    """Return a fix's edits as offsets into the diagnostic's cell, or None when that is not safe.

    Ruff reports a notebook fix's edits in cell-relative rows without saying which cell an
    edit belongs to. Edits on the diagnostic's own rows belong to its cell. An edit elsewhere
    (ruff re-inserting ``import numpy as np`` next to a renamed ``np.NaN``) is dropped when it
    changes nothing in some cell (the import is already there); otherwise the whole fix is
    refused, so a fix can never land in the wrong cell.
    """
    first, last = int(diagnostic["location"]["row"]), int(diagnostic["end_location"]["row"])
    starts = _line_starts(text)
    result = []
    for edit in edits:
        if first <= int(edit["location"]["row"]) <= int(edit["end_location"]["row"]) <= last:
            result.append((_offset(starts, edit["location"]), _offset(starts, edit["end_location"]), edit["content"]))
            continue
        no_op = False
        for other in texts:
            other_starts = _line_starts(other)
            if int(edit["end_location"]["row"]) <= len(other_starts):
                span = other[_offset(other_starts, edit["location"]):_offset(other_starts, edit["end_location"])]
                no_op = no_op or span == edit["content"]
        if not no_op:
            return None
    return result


def ruff_upgrade(sources: dict[int, str], path: str, report: Report) -> dict[int, str]:
    """Apply the safe fixes of :data:`RUFF_RULES` to code cells (cell number -> text); return the new texts.

    Runs ruff on a throw-away notebook of just these cells until no applicable fix is left
    (a %-format becomes ``.format`` and then an f-string). A cell that ruff cannot parse is
    left out and noted.
    """
    current = dict(sources)
    order = list(current)
    for _ in range(10):
        if not order:
            break
        notebook = {
            "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": current[n]} for n in order],
            "metadata": {"language_info": {"name": "python"}},
            "nbformat": 4,
            "nbformat_minor": 4,
        }
        try:
            completed = subprocess.run(_ruff_command() + list(RUFF_ARGS), input=json.dumps(notebook),
                                       capture_output=True, text=True, check=False, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NotebookError(path, f"cannot run ruff: {exc}") from None
        try:
            diagnostics = json.loads(completed.stdout or "[]")
        except json.JSONDecodeError:
            raise NotebookError(path, f"ruff failed: {completed.stderr.strip().splitlines()[-1:] or completed.returncode}") from None
        broken = {order[d["cell"] - 1] for d in diagnostics if d.get("code") in (None, "invalid-syntax") and d.get("cell")}
        if broken:
            for number in sorted(broken):
                report.notes.append(f"cell {number}: note: ruff cannot parse it; ruff fixes skipped")
            order = [n for n in order if n not in broken]
            continue
        chosen: dict[int, list[tuple[int, int, str]]] = {}
        applied = 0
        for diagnostic in sorted(diagnostics, key=lambda d: (d.get("cell") or 0, d["location"]["row"], d["location"]["column"])):
            fix = diagnostic.get("fix")
            if not fix or not diagnostic.get("cell"):
                continue
            number = order[diagnostic["cell"] - 1]
            text = current[number]
            starts = _line_starts(text)
            if fix.get("applicability") != "safe":
                if diagnostic.get("code") != "UP031" or fix.get("applicability") != "unsafe":
                    continue
                span = text[_offset(starts, diagnostic["location"]):_offset(starts, diagnostic["end_location"])]
                if not _printf_operand_is_safe(span):
                    note = f"cell {number}, line {diagnostic['location']['row']}: note: UP031 left: the % operand might be a tuple ({_snippet(span)})"
                    if note not in report.notes:
                        report.notes.append(note)
                    continue
            edits = _cell_edits(fix["edits"], diagnostic, text, [current[n] for n in order])
            if edits is None:
                note = (f"cell {number}, line {diagnostic['location']['row']}: note: {diagnostic.get('code')} left: "
                        "its fix also edits another place (an import); apply it by hand")
                if note not in report.notes:
                    report.notes.append(note)
                continue
            taken = chosen.setdefault(number, [])
            if any(start < end2 and start2 < end for start, end, _ in edits for start2, end2, _ in taken):
                continue  # overlaps a fix already chosen in this round; the next round sees it again
            taken.extend(edits)
            row = diagnostic["location"]["row"]
            line_text = text[starts[row - 1]:starts[row] if row < len(starts) else len(text)]
            before = line_text
            for start, end, content in sorted(edits, reverse=True):
                local_start, local_end = start - starts[row - 1], end - starts[row - 1]
                if 0 <= local_start <= local_end <= len(before):
                    before = before[:local_start] + content + before[local_end:]
            report.changes.append(Change(number, row, f"{diagnostic['code']} (ruff)",
                                         f"{_snippet(line_text)} -> {_snippet(before)}"))
            applied += 1
        if not applied:
            break
        for number, edits in chosen.items():
            text = current[number]
            for start, end, content in sorted(edits, reverse=True):
                text = text[:start] + content + text[end:]
            current[number] = text
    return current


# --------------------------------------------------------------------------- the notebook


@dataclass
class _ParsedCell:
    number: int
    masked: MaskedCell
    module: cst.Module
    async_lines: list[int]


def modernize(nb: NotebookNode, path: str = "<notebook>") -> tuple[NotebookNode, Report]:
    """Return a modernized copy of a v4 notebook and the report of what changed.

    Only code cell sources change; everything else (outputs, metadata, ids) is kept.
    """
    import copy

    result = copy.deepcopy(nb)
    report = Report()
    parsed: list[_ParsedCell] = []
    opaque: list[str] = []  # code the rewrites cannot see into: magic lines, skipped cells
    for index, cell in enumerate(result.cells):
        if cell.get("cell_type") != "code":
            continue
        number = index + 1
        source = cell.get("source", "")
        if not source.strip():
            continue
        try:
            masked = mask_ipython(source)
            if masked is None:
                opaque.append(source)
                continue
            text, async_lines = fix_async_kwargs(masked.text)
            module = cst.parse_module(text)
        except (CellSyntaxError, cst.ParserSyntaxError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            report.notes.append(f"cell {number}: left unchanged: cannot parse it ({reason})")
            opaque.append(source)
            continue
        opaque.extend(original for original, _ in masked.originals.values())
        masked.text = text
        parsed.append(_ParsedCell(number, masked, module, async_lines))

    names = NameTable.from_modules(cell.module for cell in parsed)
    rewritten: dict[int, cst.Module] = {}
    for cell in parsed:
        for line in cell.async_lines:
            report.changes.append(Change(cell.number, line, "async-kwarg", "async= -> non_blocking="))
        wrapper = MetadataWrapper(cell.module)
        rewriter = LegacyRewriter(names, cell.number, wrapper.module, cell.masked)
        rewritten[cell.number] = wrapper.visit(rewriter)
        report.changes.extend(rewriter.changes)
        report.notes.extend(rewriter.notes)

    variable_names = names.names_for(VARIABLE_NAMES)
    uses = _NameUses(variable_names)
    for module in rewritten.values():
        module.visit(uses)
    # A magic line (`%time y = Variable(x)`, `!echo $Variable`) or a cell left as it was may
    # still use a name: any identifier there counts as a use, so its import stays.
    uses.used.update(word for text in opaque for word in _IDENTIFIER.findall(text) if word in variable_names)
    unused = variable_names - uses.used
    if unused:
        for cell in parsed:
            wrapper = MetadataWrapper(rewritten[cell.number])
            remover = UnusedImportRemover(unused, cell.number)
            rewritten[cell.number] = wrapper.visit(remover)
            report.changes.extend(remover.changes)

    texts = {}
    for cell in parsed:
        module = rewritten[cell.number]
        texts[cell.number] = unmask_ipython(module.code, cell.masked)
    upgraded = ruff_upgrade(texts, path, report)
    for cell in parsed:
        new_source = upgraded[cell.number]
        try:  # a last guard: never write a cell that no longer parses
            check = mask_ipython(new_source)
            if check is not None:
                cst.parse_module(check.text)
        except (CellSyntaxError, cst.ParserSyntaxError):
            report.notes.append(f"cell {cell.number}: note: the rewrite did not parse; cell left unchanged")
            report.changes = [change for change in report.changes if change.cell != cell.number]
            continue
        result.cells[cell.number - 1]["source"] = new_source
    report.changes.sort(key=lambda change: (change.cell, change.line))
    return result, report


def clean_input(nb: NotebookNode, path: str | Path, *, from_v3: bool = False) -> NotebookNode:
    """Return ``nb`` made schema-valid the way Jupyter would save it, or raise naming ``path``.

    A 4.0-4.4 notebook whose cells carry ids (some editors write them; the 4.4 schema forbids
    them) becomes 4.5, the version that has ids. Missing, invalid and duplicated ids are
    repaired deterministically (``cell_ids.ensure_cell_ids``; all ids of a converted v3
    notebook are derived). Anything else the schema rejects (an unknown cell key, a
    ``kernelspec`` that is not an object, ...) raises :class:`NotebookError` naming ``path``.
    """
    if nb.get("nbformat") == 4 and nb.get("nbformat_minor", 0) < 5 and any("id" in cell for cell in nb.cells):
        nb["nbformat_minor"] = 5
    ensure_cell_ids(nb, regenerate=from_v3)
    validate(nb, path)
    return nb


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebook", type=Path, help="notebook to modernize (nbformat v3 or 4.x)")
    parser.add_argument("-o", "--output", type=Path, help="write the result here (default: in place)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if anything would change")
    args = parser.parse_args(argv)

    text = read_text(args.notebook)
    # Clean and validate the input before anything is printed: an error names the input, never
    # the output it would have been written to.
    nb = check_field_types(parse_notebook(text, args.notebook), args.notebook)
    nb = clean_input(nb, args.notebook, from_v3=source_major_version(text) == 3)
    new, report = modernize(nb, str(args.notebook))
    shown = str(args.notebook)
    for change in report.changes:
        print(change.describe(shown))
    for note in report.notes:
        print(f"{shown}: {note}")
    changed_cells = len({change.cell for change in report.changes})
    if args.check:
        if report.changes:
            print(f"{shown}: {len(report.changes)} legacy idioms in {changed_cells} cells; "
                  f"run: python seminars/modernize_code.py {shown}", file=sys.stderr)
            return EXIT_CHECK_FAILED
        print(f"{shown}: nothing to modernize")
        return EXIT_OK
    target = args.output or args.notebook
    if not report.changes and target == args.notebook:
        print(f"{shown}: nothing to modernize; unchanged")
        return EXIT_OK
    written = write_notebook(new, target)
    print(f"{shown}: {len(report.changes)} changes in {changed_cells} cells; {'wrote' if written else 'unchanged'} {target}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(run_cli(main))
