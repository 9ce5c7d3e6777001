"""Rules of the ``activations`` homework on the submission's syntax tree (judge side, no pytest).

:data:`RULES` is the homework's :class:`grading.rules.RuleSet` (the core adds its built-in rules:
allowed imports, no dynamic code, no computed attribute names, no dunders, no library internals);
:func:`activations_reached` decides which activations' tests a violation on a given line fails.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable

from grading.rules import RuleSet

RULE_BUILTINS = "готовые функции активации запрещены"
RULE_AUTOGRAD = "автоматическое дифференцирование в решении запрещено (backward пишется вручную)"

#: Built-in activations and their relatives (functional names, tensor methods, ``torch.nn`` modules).
BUILTIN_ACTIVATIONS = (
    "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "selu_", "celu", "celu_",
    "gelu", "silu", "mish", "softplus", "sigmoid", "sigmoid_", "tanh", "tanh_", "hardtanh", "hardtanh_",
    "hardsigmoid", "hardswish", "logsigmoid", "log_sigmoid", "softmax", "log_softmax", "softmin", "softsign",
    "tanhshrink", "threshold", "threshold_", "rrelu", "rrelu_", "glu", "prelu", "hardshrink", "softshrink",
    "logit", "logit_", "expit", "ndtr", "log_ndtr", "logaddexp", "logaddexp2", "logsumexp",
    "ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Softplus", "Sigmoid",
    "Tanh", "Hardtanh", "Hardsigmoid", "Hardswish", "LogSigmoid", "Softmax", "LogSoftmax", "Softmin",
    "Softsign", "Tanhshrink", "Threshold", "RReLU", "PReLU", "GLU", "Hardshrink", "Softshrink",
)
#: Autograd inside the submission: it would compute the derivative instead of the student.
AUTOGRAD = ("torch.autograd.grad", "torch.autograd.backward", "torch.autograd.functional",
            "torch.autograd.forward_ad", "torch.autograd.gradcheck", "torch.autograd.grad_mode",
            "torch.autograd.enable_grad", "torch.autograd.set_grad_enabled", "torch.enable_grad",
            "torch.set_grad_enabled", "torch.func", "torch.vmap")
#: Forbidden as names (any alias, import or reference), with the rule each one breaks.
FORBIDDEN_NAMES: dict[str, str] = {
    **{f"torch.nn.functional.{name}": RULE_BUILTINS for name in BUILTIN_ACTIVATIONS},
    **{f"torch.{name}": RULE_BUILTINS for name in BUILTIN_ACTIVATIONS},
    **{f"torch.nn.{name}": RULE_BUILTINS for name in BUILTIN_ACTIVATIONS},
    "torch.special": RULE_BUILTINS,
    "torch.nn.modules.activation": RULE_BUILTINS,
    **{name: RULE_AUTOGRAD for name in AUTOGRAD},
}
#: Forbidden as attribute names on any object: ``x.sigmoid()``, ``F.gelu`` under any alias of ``F``.
FORBIDDEN_ATTRIBUTES: dict[str, str] = {
    # (not ``threshold``: Softplus keeps its own ``self.threshold``/``ctx.threshold``)
    **{name: RULE_BUILTINS for name in (*BUILTIN_ACTIVATIONS, "special") if not name.startswith("threshold")},
    **{name: RULE_AUTOGRAD for name in ("backward", "grad_fn", "requires_grad_", "enable_grad", "set_grad_enabled")},
}
#: Modules the submission may import (prefix match; the core's deny-list applies on top).
ALLOWED_IMPORTS: frozenset[str] = frozenset({"__future__", "math", "typing", "collections", "functools", "torch"})
#: The homework's rules, on top of the core's built-in ones (grading.rules.BUILTIN_RULES).
RULES = RuleSet(allowed_imports=ALLOWED_IMPORTS, forbidden=FORBIDDEN_NAMES, forbidden_attributes=FORBIDDEN_ATTRIBUTES)


def activations_reached(source: str, activations: Iterable[str]) -> Callable[[int], frozenset[str]]:
    """Map a line of the submission to the ``activations`` (class names) whose tests a violation
    there must fail.

    The top-level definitions (functions, classes) form a graph by the names each one mentions;
    activation ``My<Name>`` reaches every definition on a path from the class ``My<Name>``. A line
    inside a definition reached only by some activations affects those; any other line (module-level
    code, an import, a definition mentioned by module-level code or by nothing at all) affects all.
    """
    everything = frozenset(activations)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return lambda line: everything
    definitions: dict[str, list[ast.stmt]] = {}
    mentions: dict[str, set[str]] = {}
    module_mentions: set[str] = set()
    spans: list[tuple[int, int, str | None]] = []
    for statement in tree.body:
        names = {node.id for node in ast.walk(statement) if isinstance(node, ast.Name)}
        end = statement.end_lineno or statement.lineno
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            definitions.setdefault(statement.name, []).append(statement)
            mentions.setdefault(statement.name, set()).update(names)
            spans.append((statement.lineno, end, statement.name))
            for decorator in statement.decorator_list:  # decorators start above the `def` line
                spans.append((decorator.lineno, end, statement.name))
        else:
            module_mentions |= names
            spans.append((statement.lineno, end, None))

    def closure(roots: set[str]) -> set[str]:
        seen: set[str] = set()
        stack = [name for name in roots if name in definitions]
        while stack:
            name = stack.pop()
            if name not in seen:
                seen.add(name)
                stack.extend(m for m in mentions.get(name, ()) if m in definitions and m not in seen)
        return seen

    global_defs = closure(module_mentions)
    reached_by = {case: closure({case}) for case in everything}

    def affected(line: int) -> frozenset[str]:
        owner = next((name for start, end, name in spans if start <= line <= end), None)
        if owner is None or owner in global_defs:
            return everything
        cases = frozenset(case for case, reached in reached_by.items() if owner in reached)
        return cases or everything  # dead code: we cannot tell where it is used

    return affected
