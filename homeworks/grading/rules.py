"""Rules on the submission's syntax tree, checked in the judge (the student cannot reach them).

A :class:`RuleSet` is an ALLOW-LIST of imports plus deny-lists of names; :meth:`RuleSet.check`
parses the student's source (never executes it) and returns :class:`Violation` s, each with a
Russian message that names the rule. Names are resolved through ``import x as y``,
``from x import y as z``, simple assignments ``a = b`` / ``a = b.c`` (also in tuples and ``:=``),
and ``getattr(obj, "constant")``; any *reference* to a forbidden name counts, called or not
(``f = F.gelu``, ``map(F.gelu, ...)``, a default argument, a base class).

Built-in rules (every homework; ``BUILTIN_RULES`` holds their names):

``разрешённые импорты``
    only modules under ``allowed_imports`` (prefix match on dotted names: ``"torch"`` allows
    ``torch.nn``), never a module under :data:`DENIED_MODULES` (``importlib``, ``gc``,
    ``ctypes``, ``inspect``, ``signal``, ``subprocess``, ``multiprocessing``, ``threading``,
    ``socket``, ``os``, ``sys``, ``builtins``, ``torch._C``, ``torch.ops``, ``torch._ops``,
    ``torch.overrides``, ``torch.utils._python_dispatch``, ``torch.library``, ``torch.jit``,
    ``torch.load``/``numpy.load`` (unpickling can reach any function without naming it), ...);
    no ``from x import *``, no relative import.
``динамический код``
    no reference to ``exec``, ``eval``, ``compile``, ``__import__``, ``globals``, ``locals``,
    ``vars``, ``breakpoint``, ``open``.
``вычисляемые имена атрибутов``
    ``getattr``/``setattr``/``delattr``/``hasattr`` only as a direct call with a string literal
    name (not starting with ``_``); never passed around as a value.
``служебные атрибуты``
    no attribute access ``x.__dunder__`` except :data:`SAFE_DUNDERS` (``__init__``,
    ``__name__``, ``__qualname__``, ``__class__``, ``__doc__``); no dunder name
    (``__builtins__``, ``__loader__`` ...) except :data:`SAFE_DUNDER_NAMES` (``__name__``,
    ``__doc__``, ``__file__``, ``__class__``, ``__all__``, ``__version__``, ``__author__``).
``внутренности библиотек``
    no reference into an imported module through a name starting with ``_`` (``torch._C``,
    ``F._pad``), and none of :data:`DENIED_MODULES` however it is reached (``torch.ops.aten``).
``изменение библиотек``
    no assignment to, deletion of, or ``setattr`` on an attribute of an imported module
    (``torch.isclose = ...``, ``nn.init.normal_ = ...``).
``модули как значения``
    a module bound by ``import`` is used only as ``module.attr`` or in a plain alias
    assignment (``m = torch``), never put in a container, passed or returned (that would hide
    what is called from the checks).

Homework rules (given by the homework's grader): ``forbidden`` maps dotted names (prefixes:
``"torch.nn.functional"`` forbids everything in it) to a rule name; ``forbidden_attributes``
maps attribute names forbidden on ANY object (``"relu"`` catches ``x.relu()``) to a rule name.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

RULE_IMPORTS = "разрешённые импорты"
RULE_DYNAMIC = "динамический код"
RULE_GETATTR = "вычисляемые имена атрибутов"
RULE_DUNDER = "служебные атрибуты"
RULE_INTERNALS = "внутренности библиотек"
RULE_PATCH = "изменение библиотек"
RULE_MODULE_VALUE = "модули как значения"
RULE_SYNTAX = "синтаксис"
#: Names of the rules every homework gets.
BUILTIN_RULES: frozenset[str] = frozenset(
    {RULE_IMPORTS, RULE_DYNAMIC, RULE_GETATTR, RULE_DUNDER, RULE_INTERNALS, RULE_PATCH, RULE_MODULE_VALUE, RULE_SYNTAX}
)

#: Modules a submission may import unless its homework says otherwise (prefix match).
DEFAULT_ALLOWED_IMPORTS: frozenset[str] = frozenset(
    {"__future__", "math", "typing", "collections", "dataclasses", "functools", "itertools", "numbers",
     "abc", "enum", "torch", "numpy"}
)
#: Modules never allowed, however reached (prefix match).
DENIED_MODULES: frozenset[str] = frozenset(
    {"importlib", "gc", "ctypes", "inspect", "signal", "subprocess", "multiprocessing", "threading",
     "_thread", "concurrent", "asyncio", "socket", "ssl", "http", "urllib", "os", "sys", "builtins", "io",
     "pathlib", "shutil", "pickle", "marshal", "runpy", "code", "codeop", "types", "operator", "pty",
     "resource", "faulthandler", "atexit", "weakref", "copyreg", "ast", "dis", "tracemalloc", "sysconfig",
     "site", "zipimport", "pkgutil", "torch._C", "torch.ops", "torch._ops", "torch.overrides",
     "torch.utils._python_dispatch", "torch.library", "torch.jit", "torch.fx", "torch.export",
     "torch.compile", "torch.package", "torch.hub", "torch.utils.cpp_extension", "torch._dynamo",
     "torch._inductor", "torch.multiprocessing", "torch.distributed", "torch.utils.data.dataloader",
     "torch.autograd.forward_ad", "torch._dispatch", "torch._subclasses", "torch.compiler",
     "torch.load", "torch.serialization", "torch.utils.model_zoo", "torch.classes", "numpy.ctypeslib",
     "numpy.distutils", "numpy.f2py", "numpy.testing", "numpy.load", "numpy.lib", "numpy.fromfile"}
)
#: Builtins that run or look up code dynamically (forbidden as any reference).
DYNAMIC_BUILTINS: frozenset[str] = frozenset(
    {"exec", "eval", "compile", "__import__", "globals", "locals", "vars", "breakpoint", "open",
     "__build_class__"}
)
ATTRIBUTE_BUILTINS: frozenset[str] = frozenset({"getattr", "setattr", "delattr", "hasattr"})
#: Dunder attributes that may be accessed (``super().__init__``, ``type(self).__name__``).
SAFE_DUNDERS: frozenset[str] = frozenset({"__init__", "__name__", "__qualname__", "__class__", "__doc__"})
#: Dunder *names* that may be read.
SAFE_DUNDER_NAMES: frozenset[str] = frozenset(
    {"__name__", "__doc__", "__file__", "__class__", "__all__", "__version__", "__author__"}
)


@dataclass(frozen=True)
class Violation:
    """One broken rule: its name, the line (1-based; 0 = the whole file), a Russian message."""

    rule: str
    line: int
    message: str


def _matches(name: str, prefixes: Iterable[str]) -> str | None:
    for prefix in prefixes:
        if name == prefix or name.startswith(prefix + "."):
            return prefix
    return None


_LOOKUPS: dict[str, list[Any]] = {}


def objects_along(dotted: str, importable: Iterable[str] = ()) -> list[Any]:
    """The library objects named by each prefix of ``dotted`` (``torch``, ``torch.nn``, ...).

    Looked up in the JUDGE's own (trusted) libraries: the first part must be an imported module,
    or one of ``importable`` (then it is imported); the walk goes through modules and classes
    only, statically (no lazy import is triggered), and stops at the first name that is missing. This is how a reference reached through a
    library's own re-export (``torch.nn.modules.activation.F.gelu``) is recognised as the
    forbidden object it is.
    """
    key = dotted
    if key in _LOOKUPS:
        return _LOOKUPS[key]
    parts = dotted.split(".")
    found: list[Any] = []
    current: Any = sys.modules.get(parts[0])
    if current is None and _matches(parts[0], importable) and not _matches(parts[0], DENIED_MODULES):
        try:
            current = importlib.import_module(parts[0])
        except Exception:  # noqa: BLE001 - a library that does not import is simply unknown
            current = None
    if current is not None:
        found.append(current)
        for part in parts[1:]:
            if not isinstance(current, (ModuleType, type)):
                break
            try:  # static lookup: never triggers a library's lazy import of a submodule
                current = inspect.getattr_static(current, part)
            except AttributeError:
                break
            found.append(current)
    _LOOKUPS[key] = found
    return found


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


@dataclass(frozen=True, eq=False)
class RuleSet:
    """The rules of one homework: see the module docstring. Immutable; reuse one per grader."""

    allowed_imports: frozenset[str] = DEFAULT_ALLOWED_IMPORTS
    forbidden: Mapping[str, str] = field(default_factory=dict)
    forbidden_attributes: Mapping[str, str] = field(default_factory=dict)
    allowed_dunders: frozenset[str] = SAFE_DUNDERS

    def check(self, source: str, filename: str = "<submission>") -> list[Violation]:
        """Violations in ``source`` (a file named ``filename`` in messages), in source order."""
        try:
            tree = ast.parse(source, filename=filename)
        except SyntaxError as exc:
            return [Violation(RULE_SYNTAX, exc.lineno or 0,
                              f"нарушено правило «{RULE_SYNTAX}» ({filename}, строка {exc.lineno}): "
                              f"код не разбирается: {exc.msg}")]
        except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
            return [Violation(RULE_SYNTAX, 0, f"нарушено правило «{RULE_SYNTAX}» ({filename}): "
                                              f"код не разбирается: {type(exc).__name__}")]
        checker = _Checker(self, filename)
        try:
            checker.run(tree)
        except RecursionError:
            checker.add(RULE_SYNTAX, 0, "слишком глубокая вложенность выражений")
        unique = {(v.line, v.rule, v.message): v for v in checker.violations}
        return [unique[key] for key in sorted(unique)]


def check_sources(rule_set: RuleSet, sources: Mapping[str, str]) -> list[Violation]:
    """:meth:`RuleSet.check` over several files (``name -> text``), file by file."""
    found: list[Violation] = []
    for name in sorted(sources):
        found.extend(rule_set.check(sources[name], name))
    return found


def assert_rules(violations: list[Violation]) -> None:
    """Raise ``AssertionError`` with the first violation's Russian message (and a count)."""
    if violations:
        more = f" (и ещё нарушений: {len(violations) - 1})" if len(violations) > 1 else ""
        raise AssertionError(violations[0].message + more)


class _Checker:
    """One pass of binding collection, one pass of checks."""

    def __init__(self, rules: RuleSet, filename: str) -> None:
        self.rules = rules
        self.filename = filename
        self.violations: list[Violation] = []
        self.aliases: dict[str, set[str]] = {}
        self.module_names: set[str] = set()
        self.bound_names: set[str] = set()
        self.parents: dict[ast.AST, ast.AST] = {}
        self.targets: list[tuple[Any, str]] = []
        for key, rule in rules.forbidden.items():
            objects = objects_along(key, rules.allowed_imports)
            if len(objects) == len(key.split(".")):
                self.targets.append((objects[-1], rule))
        self.denied: list[Any] = []
        for key in DENIED_MODULES:
            objects = objects_along(key)
            if len(objects) == len(key.split(".")):
                self.denied.append(objects[-1])

    def add(self, rule: str, line: int, detail: str) -> None:
        self.violations.append(
            Violation(rule, line, f"нарушено правило «{rule}» ({self.filename}, строка {line}): {detail}")
        )

    # -- bindings ------------------------------------------------------------------------
    def _bind(self, name: str, targets: set[str]) -> bool:
        known = self.aliases.setdefault(name, set())
        before = len(known)
        known.update(targets)
        return len(known) != before

    def _collect(self, tree: ast.AST) -> None:
        assigns: list[tuple[ast.expr, ast.expr]] = []
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                self.bound_names.add(node.id)
            elif isinstance(node, ast.arg):
                self.bound_names.add(node.arg)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.bound_names.add(node.name)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                self.bound_names.add(node.name)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self._bind(alias.asname, {alias.name})
                        self.module_names.add(alias.asname)
                    else:
                        top = alias.name.split(".")[0]
                        self._bind(top, {top})
                        self.module_names.add(top)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if alias.name != "*":
                        self._bind(alias.asname or alias.name, {f"{node.module}.{alias.name}"})
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    assigns.append((target, node.value))
            elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                assigns.append((node.target, node.value))
        changed = True
        rounds = 0
        while changed and rounds < 50:
            changed, rounds = False, rounds + 1
            for target, value in assigns:
                changed |= self._bind_assign(target, value)

    def _bind_assign(self, target: ast.expr, value: ast.expr) -> bool:
        if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)):
            if len(target.elts) == len(value.elts):
                return any([self._bind_assign(t, v) for t, v in zip(target.elts, value.elts, strict=True)])
            return False
        if isinstance(target, ast.Name):
            resolved = self.resolve(value)
            if resolved:
                if isinstance(value, ast.Name) and value.id in self.module_names:
                    self.module_names.add(target.id)
                return self._bind(target.id, resolved)
        return False

    def resolve(self, node: ast.expr) -> set[str]:
        """Dotted names an expression may stand for (empty when unknown)."""
        if isinstance(node, ast.Name):
            if node.id in self.aliases:
                return set(self.aliases[node.id])
            if (node.id in ATTRIBUTE_BUILTINS or node.id in DYNAMIC_BUILTINS) and node.id not in self.bound_names:
                return {f"builtins.{node.id}"}
            return set()
        if isinstance(node, ast.Attribute):
            return {f"{base}.{node.attr}" for base in self.resolve(node.value)}
        if (isinstance(node, ast.Call) and self.resolve(node.func) == {"builtins.getattr"} and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            return {f"{base}.{node.args[1].value}" for base in self.resolve(node.args[0])}
        return set()

    # -- checks --------------------------------------------------------------------------
    def run(self, tree: ast.AST) -> None:
        self._collect(tree)
        for node in ast.walk(tree):
            line = getattr(node, "lineno", 0)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self._check_import(alias.name, line)
            elif isinstance(node, ast.ImportFrom):
                self._check_import_from(node, line)
            elif isinstance(node, ast.Attribute):
                self._check_attribute(node, line)
            elif isinstance(node, ast.Name):
                self._check_name(node, line)
            elif isinstance(node, ast.Call):
                self._check_call(node, line)

    def _check_import(self, module: str, line: int) -> None:
        denied = _matches(module, DENIED_MODULES)
        if denied:
            self.add(RULE_IMPORTS, line, f"импорт модуля {module} запрещён")
        elif not _matches(module, self.rules.allowed_imports):
            allowed = ", ".join(sorted(self.rules.allowed_imports))
            self.add(RULE_IMPORTS, line, f"импорт модуля {module} не разрешён (можно: {allowed})")
        elif any(part.startswith("_") for part in module.split(".")) and module != "__future__":
            self.add(RULE_INTERNALS, line, f"импорт закрытого модуля {module}")
        else:
            self._check_reference(module, line)

    def _check_import_from(self, node: ast.ImportFrom, line: int) -> None:
        if node.level:
            self.add(RULE_IMPORTS, line, "относительный импорт запрещён")
            return
        module = node.module or ""
        before = len(self.violations)
        self._check_import(module, line)
        if len(self.violations) != before:
            return
        for alias in node.names:
            if alias.name == "*":
                self.add(RULE_IMPORTS, line, f"импорт «from {module} import *» запрещён: импортируйте имена явно")
            elif module != "__future__":
                if alias.name.startswith("_"):
                    self.add(RULE_INTERNALS, line, f"импорт закрытого имени {module}.{alias.name}")
                else:
                    self._check_reference(f"{module}.{alias.name}", line)

    def _check_reference(self, dotted: str, line: int) -> None:
        denied = _matches(dotted, DENIED_MODULES)
        if denied:
            self.add(RULE_INTERNALS, line, f"обращение к {dotted} запрещено")
            return
        parts = dotted.split(".")
        hidden = [p for p in parts[1:] if p.startswith("_") and p not in self.rules.allowed_dunders]
        if hidden and parts[0] != "builtins":
            self.add(RULE_INTERNALS, line, f"обращение к закрытому имени {dotted}")
        prefix = _matches(dotted, self.rules.forbidden)
        if prefix:
            self.add(self.rules.forbidden[prefix], line, f"использовать {dotted} нельзя")
            return
        self._check_objects(dotted, line)

    def _check_objects(self, dotted: str, line: int) -> None:
        """The same rules on the library objects ``dotted`` names (other paths to them)."""
        for obj in objects_along(dotted, self.rules.allowed_imports):
            if isinstance(obj, ModuleType) and _matches(obj.__name__, DENIED_MODULES):
                self.add(RULE_INTERNALS, line, f"обращение к {dotted} (это {obj.__name__}) запрещено")
                return
            if any(obj is denied for denied in self.denied):
                self.add(RULE_INTERNALS, line, f"обращение к {dotted} запрещено")
                return
            for target, rule in self.targets:
                hit = obj is target
                if not hit and isinstance(target, ModuleType):
                    owner = obj.__name__ if isinstance(obj, ModuleType) else getattr(obj, "__module__", None)
                    hit = isinstance(owner, str) and _matches(owner, [target.__name__]) is not None
                if hit:
                    self.add(rule, line, f"использовать {dotted} нельзя")
                    return

    def _is_top_level_alias(self, node: ast.expr) -> bool:
        """``name = <node>`` as a statement of the module itself (the only allowed module alias),
        or ``getattr(<node>, "constant")`` (resolved like ``<node>.constant``)."""
        parent = self.parents.get(node)
        if (isinstance(parent, ast.Call) and parent.args and parent.args[0] is node and len(parent.args) >= 2
                and isinstance(parent.args[1], ast.Constant) and isinstance(parent.args[1].value, str)
                and self.resolve(parent.func) & {f"builtins.{name}" for name in ("getattr", "hasattr")}):
            return True
        if isinstance(parent, ast.Assign) and parent.value is node:
            targets_ok = all(isinstance(t, ast.Name) for t in parent.targets)
        elif isinstance(parent, ast.AnnAssign) and parent.value is node:
            targets_ok = isinstance(parent.target, ast.Name)
        else:
            return False
        return targets_ok and isinstance(self.parents.get(parent), ast.Module)

    def _check_module_value(self, node: ast.expr, line: int, dotted: str) -> None:
        """A module may be the base of ``.attr`` or a top-level alias, nothing else."""
        objects = objects_along(dotted, self.rules.allowed_imports)
        if len(objects) == len(dotted.split(".")) and isinstance(objects[-1], ModuleType):
            if self._is_chain_top(node) and not self._is_top_level_alias(node):
                self.add(RULE_MODULE_VALUE, line, f"модуль {dotted} можно использовать только как {dotted}.имя")

    def _is_chain_top(self, node: ast.expr) -> bool:
        parent = self.parents.get(node)
        return not (isinstance(parent, ast.Attribute) and parent.value is node)

    def _check_attribute(self, node: ast.Attribute, line: int) -> None:
        if _is_dunder(node.attr) and node.attr not in self.rules.allowed_dunders:
            self.add(RULE_DUNDER, line, f"обращение к служебному атрибуту {node.attr} запрещено")
        if node.attr in self.rules.forbidden_attributes:
            self.add(self.rules.forbidden_attributes[node.attr], line, f"использовать .{node.attr} нельзя")
        resolved = self.resolve(node)
        if isinstance(node.ctx, (ast.Store, ast.Del)) and resolved:
            self.add(RULE_PATCH, line, f"менять {sorted(resolved)[0]} нельзя")
        if self._is_chain_top(node):
            for dotted in sorted(resolved):
                self._check_reference(dotted, line)
                self._check_module_value(node, line, dotted)

    def _check_name(self, node: ast.Name, line: int) -> None:
        if _is_dunder(node.id) and node.id not in SAFE_DUNDER_NAMES:
            self.add(RULE_DUNDER, line, f"обращение к служебному имени {node.id} запрещено")
        if not isinstance(node.ctx, ast.Load):
            return
        resolved = self.resolve(node)
        dynamic = sorted(resolved & {f"builtins.{name}" for name in DYNAMIC_BUILTINS})
        if dynamic:
            what = node.id if dynamic[0] == f"builtins.{node.id}" else f"{node.id} (это {dynamic[0][9:]})"
            self.add(RULE_DYNAMIC, line, f"использовать {what} нельзя")
        attribute_builtins = {f"builtins.{name}" for name in ATTRIBUTE_BUILTINS}
        if resolved & attribute_builtins:
            parent = self.parents.get(node)
            if not (isinstance(parent, ast.Call) and parent.func is node):
                self.add(RULE_GETATTR, line, f"{node.id} можно только вызывать с именем-строкой")
        if node.id in self.module_names and self._is_chain_top(node) and not self._is_top_level_alias(node):
            self.add(RULE_MODULE_VALUE, line, f"модуль {node.id} можно использовать только как {node.id}.имя")
        elif self._is_chain_top(node) and node.id in self.aliases:
            for dotted in sorted(resolved):
                self._check_module_value(node, line, dotted)
        if self._is_chain_top(node) and node.id in self.aliases:
            for dotted in sorted(resolved):
                self._check_reference(dotted, line)

    def _check_call(self, node: ast.Call, line: int) -> None:
        resolved = self.resolve(node.func)
        which = sorted(name.split(".", 1)[1] for name in resolved if name.startswith("builtins.")
                       and name.split(".", 1)[1] in ATTRIBUTE_BUILTINS)
        if not which:
            return
        name_arg = node.args[1] if len(node.args) >= 2 else None
        if not (isinstance(name_arg, ast.Constant) and isinstance(name_arg.value, str)) or node.keywords:
            self.add(RULE_GETATTR, line, f"{which[0]} с вычисляемым именем атрибута запрещён")
            return
        attribute = name_arg.value
        if attribute.startswith("_") and attribute not in self.rules.allowed_dunders:
            self.add(RULE_DUNDER, line, f"{which[0]} к служебному атрибуту {attribute} запрещён")
        if attribute in self.rules.forbidden_attributes:
            self.add(self.rules.forbidden_attributes[attribute], line, f"использовать .{attribute} нельзя")
        targets = {f"{base}.{attribute}" for base in self.resolve(node.args[0])}
        if which[0] in ("setattr", "delattr") and targets:
            self.add(RULE_PATCH, line, f"менять {sorted(targets)[0]} нельзя")
        for dotted in sorted(targets):
            self._check_reference(dotted, line)
