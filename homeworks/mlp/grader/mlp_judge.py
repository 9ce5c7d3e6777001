"""Judge-side helpers of the ``mlp`` grader: the rules of the statement, the data, the references.

Trusted code: it runs in the judge's process, never imports the submission and reads the student's
``mlp.py`` only as text. Three parts:

* **Rules** (:data:`RULES`, :func:`violations`): checks of the submission's syntax tree for the
  statement's forbidden functions. A rule looks at the code of some module-level definitions (a
  class with its methods, class attributes, bases and decorators, or a function) *and* at every
  module-level function, class or global they reference, transitively, so moving the forbidden
  call into a helper does not hide it. References are resolved through import aliases
  (``import torch.nn.functional as F``, ``from torch.autograd import grad as g``, star imports),
  ``getattr`` with a constant name, and global assignments (their right-hand side is checked as
  part of the scope); attributes are also matched by name on objects the check cannot resolve
  (``self.f.linear``, ``t.autograd.grad`` with ``t`` a parameter). Assigning to an attribute of a
  checked class at module level (``MyLinear.forward = helper``) puts the assigned value in scope.
  Annotations are not code and are skipped. Computed names (``getattr(F, "lin" + "ear")``),
  ``exec``/``eval``, ``importlib`` and the like hide what is called: the core's built-in rules
  (``grading.rules.RuleSet`` with :data:`EXTRA_IMPORTS` allowed) forbid them in the whole file,
  and the grader lets a violation of those fail every test.
* **Data**: :func:`digits_split`, the same split and standardisation as the release's
  ``load_digits_split`` (a repository test checks they agree), and :func:`permuted`: the grader
  shows the worker the pixels and class numbers in a fixed order only the judge knows, so weights
  learnt in advance and pasted into ``mlp.py`` score like random ones.
* **References**: the closed forms the tests compare against (:func:`linear_reference`,
  :func:`mlp_reference`, :func:`sgd_reference`), computed in float64 on the judge's inputs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

# ----------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Violation:
    """One breach of a rule: the rule's key, the line, and a Russian one-line message naming it."""

    rule: str
    line: int
    message: str


@dataclass(frozen=True)
class Rule:
    """A check of the submission's syntax tree.

    ``roots``: module-level names whose code is checked (with everything they reference); empty
    means the whole file. ``forbidden``: dotted names; a reference to one of them or to anything
    under it breaks the rule, unless it is under one of ``allowed``. ``attributes``: attribute
    names that break the rule on any object. ``required``: the rule is broken when the scope
    has *no* such reference (a "must use" rule) instead of when it has one.
    """

    key: str
    title: str
    roots: tuple[str, ...]
    forbidden: tuple[str, ...]
    attributes: frozenset[str] = frozenset()
    allowed: tuple[str, ...] = ()
    required: bool = False
    hint: str = ""


LINEAR = Rule(
    key="linear",
    title="без F.linear и nn.Linear в LinearFunction и MyLinear",
    roots=("LinearFunction", "MyLinear"),
    forbidden=("torch.nn.functional.linear", "torch.nn.functional.bilinear", "torch.nn.Linear",
               "torch.nn.LazyLinear", "torch.nn.Bilinear", "torch.nn.modules.linear"),
    attributes=frozenset({"linear", "bilinear", "Linear", "LazyLinear", "Bilinear"}),
    hint="линейное преобразование пишется через @ / matmul",
)
AUTOGRAD = Rule(
    key="autograd",
    title="без autograd в LinearFunction и MyLinear",
    roots=("LinearFunction", "MyLinear"),
    forbidden=("torch.autograd", "torch.func", "functorch", "torch.enable_grad", "torch.set_grad_enabled"),
    allowed=("torch.autograd.Function", "torch.autograd.function.FunctionCtx"),
    attributes=frozenset({"autograd", "func", "backward", "grad_fn", "next_functions", "enable_grad",
                          "set_grad_enabled", "vjp", "jvp", "jacobian", "hessian", "jacrev", "jacfwd",
                          "functional_call", "gradcheck"}),
    hint="градиенты в backward считаются по выведенным формулам",
)
OPTIM = Rule(
    key="optim",
    title="без torch.optim",
    roots=(),
    forbidden=("torch.optim",),
    attributes=frozenset({"optim"}),
    hint="шаг SGD p <- p - lr * p.grad пишется вручную",
)
GRAD_BY_AUTOGRAD = Rule(
    key="grad_by_autograd",
    title="grad_sum_of_squares через autograd",
    roots=("grad_sum_of_squares",),
    forbidden=("torch.autograd.grad", "torch.autograd.backward"),
    attributes=frozenset({"backward"}),
    required=True,
    hint="вызовите torch.autograd.grad или .backward()",
)
RULES: dict[str, Rule] = {rule.key: rule for rule in (LINEAR, AUTOGRAD, OPTIM, GRAD_BY_AUTOGRAD)}
#: Modules ``mlp.py`` may import, for the core's built-in allow-list (``grading.rules.RuleSet``):
#: its defaults plus what the given code of the release uses (``argparse``, ``statistics`` and
#: ``time`` in ``main``/``run_digits``, ``sklearn`` in ``load_digits_split``).
EXTRA_IMPORTS = frozenset({"argparse", "statistics", "time", "sklearn"})
#: Dunder attributes beyond the core's safe ones: ``torch.__version__`` (printed by ``main``).
EXTRA_DUNDERS = frozenset({"__version__"})

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass
class _Module:
    """What the checks need to know about the whole file."""

    tree: ast.Module
    imports: dict[str, str] = field(default_factory=dict)  # local name -> dotted target
    star_imports: list[str] = field(default_factory=list)  # modules imported with *
    bindings: dict[str, list[ast.AST]] = field(default_factory=dict)  # global name -> code binding it
    attribute_assignments: dict[str, list[ast.AST]] = field(default_factory=dict)  # Name.x = value

    @classmethod
    def parse(cls, source: str) -> _Module:
        """Parse ``source`` (``SyntaxError`` propagates) and index imports and global bindings."""
        module = cls(ast.parse(source))
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        module.imports[alias.asname] = alias.name
                    else:
                        root = alias.name.split(".")[0]
                        module.imports[root] = root
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if alias.name == "*":
                        module.star_imports.append(node.module)
                    else:
                        module.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for statement in _module_level(module.tree.body):
            if isinstance(statement, _DEFS):
                module.bindings.setdefault(statement.name, []).append(statement)
                continue
            targets: list[ast.AST] = []
            value: ast.AST | None = None
            if isinstance(statement, ast.Assign):
                targets, value = list(statement.targets), statement.value
            elif isinstance(statement, (ast.AnnAssign, ast.AugAssign)) and statement.value is not None:
                targets, value = [statement.target], statement.value
            elif isinstance(statement, (ast.For, ast.AsyncFor)):
                targets, value = [statement.target], statement.iter
            elif isinstance(statement, (ast.With, ast.AsyncWith)):
                for item in statement.items:
                    if item.optional_vars is not None:
                        module._bind(item.optional_vars, item.context_expr)
                continue
            elif isinstance(statement, ast.Expr):  # setattr(Cls, "name", value) at module level
                call = statement.value
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "setattr"
                        and len(call.args) == 3 and isinstance(call.args[0], ast.Name)):
                    module.attribute_assignments.setdefault(call.args[0].id, []).append(call.args[2])
                continue
            for target in targets:
                if value is not None:
                    module._bind(target, value)
        for node in ast.walk(module.tree):  # walrus anywhere binds a global-ish name too
            if isinstance(node, ast.NamedExpr):
                module.bindings.setdefault(node.target.id, []).append(node.value)
        return module

    def _bind(self, target: ast.AST, value: ast.AST) -> None:
        """Record that ``target = value`` binds names (or attributes of a global object)."""
        if isinstance(target, ast.Name):
            self.bindings.setdefault(target.id, []).append(value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._bind(element, value)
        elif isinstance(target, ast.Starred):
            self._bind(target.value, value)
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            root = target
            while isinstance(root, (ast.Attribute, ast.Subscript)):
                root = root.value
            if isinstance(root, ast.Name):
                self.attribute_assignments.setdefault(root.id, []).append(value)


def _module_level(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements executed at module level (also inside ``if``/``try``/``with``/``for`` blocks)."""
    for statement in body:
        yield statement
        if isinstance(statement, _DEFS):
            continue
        for name in ("body", "orelse", "finalbody"):
            yield from _module_level(getattr(statement, name, []) or [])
        for handler in getattr(statement, "handlers", []) or []:
            yield from _module_level(handler.body)
        for case in getattr(statement, "cases", []) or []:
            yield from _module_level(case.body)


def _chain(node: ast.AST) -> list[str] | None:
    """``a.b.c`` -> ``["a", "b", "c"]``; ``getattr(a, "b")`` counts as ``a.b``; else ``None``."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        base = _chain(node.value)
        return None if base is None else [*base, node.attr]
    if _constant_getattr(node):
        assert isinstance(node, ast.Call)
        base = _chain(node.args[0])
        name = node.args[1]
        assert isinstance(name, ast.Constant)
        return None if base is None else [*base, str(name.value)]
    return None


def _constant_getattr(node: ast.AST) -> bool:
    """``getattr(obj, "name")`` or ``getattr(obj, "name", default)`` with a string constant."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
            and 2 <= len(node.args) <= 3 and not node.keywords
            and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str))


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    """Dotted names an import statement reaches: ``from a import b`` -> ``["a", "a.b"]``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level or not node.module:
        return []
    return [node.module, *(f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*")]


def _under(dotted: str, prefixes: Iterable[str]) -> str | None:
    """The first prefix that ``dotted`` equals or lies under."""
    for prefix in prefixes:
        if dotted == prefix or dotted.startswith(prefix + "."):
            return prefix
    return None


class _Scan:
    """Walks code of one rule's scope, collecting references that match the rule."""

    def __init__(self, module: _Module, rule: Rule) -> None:
        self.module, self.rule = module, rule
        self.hits: list[tuple[int, str]] = []
        self.referenced: set[str] = set()

    def resolve(self, parts: list[str]) -> str | None:
        """Dotted name of an attribute chain rooted in an import, or ``None``."""
        root = parts[0]
        if root in self.module.imports:
            return ".".join([self.module.imports[root], *parts[1:]])
        if root not in self.module.bindings:
            for star in self.module.star_imports:
                candidate = ".".join([star, *parts])
                if _under(candidate, self.rule.forbidden):
                    return candidate
        return None

    def hit(self, node: ast.AST, text: str) -> None:
        """Record one matching reference."""
        self.hits.append((getattr(node, "lineno", 0), text))

    def check_chain(self, node: ast.AST, parts: list[str]) -> None:
        """Match a resolved (or unresolved) reference against the rule."""
        self.referenced.add(parts[0])
        dotted = self.resolve(parts)
        if dotted is not None:
            if _under(dotted, self.rule.allowed):
                return
            if _under(dotted, self.rule.forbidden):
                self.hit(node, dotted)
                return
        for attribute in parts[1:]:
            if attribute in self.rule.attributes:
                self.hit(node, ".".join(parts))
                return

    def visit(self, node: ast.AST) -> None:
        """Visit code, skipping annotations (they are not executed code)."""
        parts = _chain(node)
        if parts is not None:
            self.check_chain(node, parts)
            if isinstance(node, ast.Call):  # getattr(x, "name"): the default argument is code too
                for argument in node.args[2:]:
                    self.visit(argument)
            return
        if isinstance(node, ast.Attribute):
            if node.attr in self.rule.attributes:
                self.hit(node, f"….{node.attr}")
            self.visit(node.value)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for child in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults, *node.body]:
                if child is not None:
                    self.visit(child)
            return
        if isinstance(node, ast.Lambda):
            for child in [*node.args.defaults, *node.args.kw_defaults, node.body]:
                if child is not None:
                    self.visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for dotted in _imported(node):
                if _under(dotted, self.rule.forbidden) and not _under(dotted, self.rule.allowed):
                    self.hit(node, f"import {dotted}")
            return
        if isinstance(node, ast.AnnAssign):
            for child in (node.target, node.value):
                if child is not None:
                    self.visit(child)
            return
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.arg):
                self.visit(child)

    def run(self) -> list[tuple[int, str]]:
        """Scan the scope (roots and everything they reference, transitively)."""
        if not self.rule.roots:
            self.visit(self.module.tree)
            return self.hits
        pending, done = list(self.rule.roots), set()
        while pending:
            name = pending.pop()
            if name in done:
                continue
            done.add(name)
            for node in [*self.module.bindings.get(name, []), *self.module.attribute_assignments.get(name, [])]:
                self.visit(node)
            pending.extend(sorted(self.referenced - done))
        return self.hits


def violations(source: str | None, rule: Rule) -> list[Violation]:
    """Breaches of ``rule`` in the student's ``mlp.py`` text, in line order (empty: none).

    ``source`` is ``None`` when the file could not be read as UTF-8; that, and a syntax error,
    break every rule (the worker cannot import such a file anyway).
    """
    prefix = f"нарушено правило «{rule.title}»"
    if source is None:
        return [Violation(rule.key, 0, f"{prefix}: mlp.py не читается как текст UTF-8")]
    try:
        module = _Module.parse(source)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", 0) or 0
        return [Violation(rule.key, line, f"{prefix}: mlp.py не разбирается (синтаксическая ошибка в строке {line})")]
    hits = _Scan(module, rule).run()
    if rule.required:
        if hits:
            return []
        return [Violation(rule.key, 0, f"{prefix}: в {', '.join(rule.roots)} нет такого вызова ({rule.hint})")]
    found = sorted(set(hits))
    return [Violation(rule.key, line, f"{prefix}: {text} в строке {line} ({rule.hint})") for line, text in found]


# ----------------------------------------------------------------------------- data


def digits_split(
    test_size: float = 0.25, random_state: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``load_digits``, stratified split (``random_state``), standardised on the training part.

    The same as the release's ``load_digits_split`` (a repository test compares them): pixels
    constant on the training part are only centred. Returns ``(X_train, X_test, y_train,
    y_test)``: float32 features ``(1347, 64)``/``(450, 64)``, int64 labels.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=test_size, stratify=digits.target, random_state=random_state
    )
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std[std == 0] = 1.0
    return (
        torch.as_tensor((X_train - mean) / std, dtype=torch.float32),
        torch.as_tensor((X_test - mean) / std, dtype=torch.float32),
        torch.as_tensor(y_train, dtype=torch.long),
        torch.as_tensor(y_test, dtype=torch.long),
    )


def permuted(X: torch.Tensor, y: torch.Tensor, seed: int, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same objects with features and class numbers renamed by a permutation drawn from ``seed``.

    An MLP with i.i.d. initialisation learns a relabelled problem exactly as well (the hidden
    units and the classes are symmetric), but weights prepared for the original order are useless.
    """
    generator = torch.Generator().manual_seed(seed)
    features = torch.randperm(X.shape[1], generator=generator)
    classes = torch.randperm(num_classes, generator=generator)
    return X[:, features].contiguous(), classes[y]


# ----------------------------------------------------------------------------- references


def linear_reference(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, grad_output: torch.Tensor
) -> dict[str, torch.Tensor | None]:
    """``Y = X W^T + b`` and its gradients for upstream ``G``: ``G W``, ``G^T X``, ``sum_rows G``.

    Closed forms of the statement (CS231n-style: the gradient has the shape of the variable),
    computed in float64; ``grad_bias`` is ``None`` without a bias.
    """
    x64, w64, g64 = x.double(), weight.double(), grad_output.double()
    output = x64 @ w64.T + (0 if bias is None else bias.double())
    return {
        "output": output,
        "grad_x": g64 @ w64,
        "grad_weight": g64.T @ x64,
        "grad_bias": None if bias is None else g64.sum(dim=0),
    }


def mlp_reference(x: torch.Tensor, layers: Sequence[Sequence[torch.Tensor]], activation: str) -> torch.Tensor:
    """``input_layer -> act -> (hidden -> act)* -> output_layer`` on the given weights (float64)."""
    act = {"relu": torch.relu, "tanh": torch.tanh}[activation]
    h = x.double()
    for index, (weight, bias) in enumerate(layers):
        h = h @ weight.double().T + bias.double()
        if index < len(layers) - 1:
            h = act(h)
    return h


def sgd_reference(
    layers: Sequence[Sequence[torch.Tensor]], X: torch.Tensor, y: torch.Tensor, epochs: int, lr: float
) -> tuple[list[list[torch.Tensor]], list[float]]:
    """Full-batch SGD on ``Linear -> tanh -> ... -> Linear`` with cross-entropy, by the judge.

    Each step: loss ``F.cross_entropy`` (mean over the batch), gradients by the judge's own
    autograd, ``p <- p - lr * grad``. Returns the parameters after ``epochs`` steps and the loss
    before each step (with one batch per epoch, the epoch's mean loss).
    """
    params = [[w.detach().clone().requires_grad_(True), b.detach().clone().requires_grad_(True)] for w, b in layers]
    losses = []
    for _ in range(epochs):
        h = X
        for index, (weight, bias) in enumerate(params):
            h = h @ weight.T + bias
            if index < len(params) - 1:
                h = torch.tanh(h)
        loss = F.cross_entropy(h, y)
        grads = torch.autograd.grad(loss, [p for pair in params for p in pair])
        losses.append(loss.item())
        with torch.no_grad():
            for p, g in zip([p for pair in params for p in pair], grads, strict=True):
                p -= lr * g
    return [[w.detach(), b.detach()] for w, b in params], losses


def cross_entropy_of(layers: Sequence[Sequence[torch.Tensor]], X: torch.Tensor, y: torch.Tensor) -> float:
    """Mean cross-entropy of the ``Linear -> tanh -> ... -> Linear`` network on ``(X, y)``."""
    h = X.double()
    for index, (weight, bias) in enumerate(layers):
        h = h @ weight.double().T + bias.double()
        if index < len(layers) - 1:
            h = torch.tanh(h)
    return F.cross_entropy(h, y).item()
