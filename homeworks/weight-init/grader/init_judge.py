"""Judge-side helpers of the ``weight-init`` grader (trusted; never imports the submission).

The tests ask the sandboxed worker (``grading_worker.ops_weight_init``) for DATA: the values an
initializer wrote into a tensor the judge chose, facts of the in-place contract, gains, fans.
Everything else happens here: reference values, statistical tolerances, messages (Russian:
students read them), and the rule "no ``torch.nn.init``", checked on the source text.

Statistical tolerances are derived from the sampling distribution of the statistic under the
hypothesis that the student's initializer is right, at ``Z_BOUND`` standard errors (a false
failure of one check has probability about 2e-9 under the normal approximation), so that a
correct solution practically never fails while a wrong constant (a variance used as a std, a
fan swapped, a missing sqrt(3)) is off by tens of standard errors on the tensors used here.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

#: Standard errors allowed for mean and std (two-sided normal tail 2e-9).
Z_BOUND = 6.0
#: Significance of the Kolmogorov-Smirnov bound (per check).
KS_ALPHA = 1e-9
#: Expected log-probability of no sample in an edge band of a uniform tensor; exp(-25) ~ 1e-11.
EDGE_EVENTS = 25.0
SQRT3 = math.sqrt(3.0)
#: Kurtosis (fourth standardized moment) of the two distributions; Var(s^2) ~ sigma^4 (k - 1) / n.
KURTOSIS = {"normal": 3.0, "uniform": 9.0 / 5.0}
#: Russian names of the distributions, for messages.
DISTRIBUTION_NAMES = {"normal": "нормальное", "uniform": "равномерное"}

#: The homework's rule, as the statement names it.
RULE_NAME = "нельзя пользоваться torch.nn.init"


# --------------------------------------------------------------------------- worker replies


def _reply(result: Any, what: str) -> dict[str, Any]:
    """A reply of the worker as a dict (anything else fails the test: the worker is untrusted)."""
    if not isinstance(result, dict):
        raise AssertionError(f"{what}: процесс решения вернул ответ неверной формы")
    return result


def check_rule_at_runtime(result: Mapping[str, Any], what: str) -> None:
    """Fail if the student's code reached ``torch.nn.init`` while the worker ran it."""
    calls = result.get("nn_init_calls")
    if not isinstance(calls, list):
        raise AssertionError(f"{what}: процесс решения вернул ответ неверной формы")
    if calls:
        names = ", ".join(str(name) for name in calls[:3])
        raise AssertionError(f"{what}: нарушено правило «{RULE_NAME}»: вызвана torch.nn.init ({names})")


def _check_common(result: Mapping[str, Any], what: str) -> None:
    """Missing function and the runtime rule, in that order."""
    missing = result.get("missing")
    if missing is not None:
        raise AssertionError(f"в weight_init.py нет функции {missing}")
    check_rule_at_runtime(result, what)


def exception_text(exception: Mapping[str, Any]) -> str:
    """``NotImplementedError: message`` (the student's exception, as the worker described it)."""
    kind = str(exception.get("type", "Exception"))
    message = str(exception.get("message", ""))
    return f"{kind}: {message}" if message else kind


def call_text(name: str, shape: Sequence[int] | None = None, args: Sequence[Any] = (),
              kwargs: Mapping[str, Any] | None = None) -> str:
    """A call as text for messages, e.g. ``kaiming_normal_(тензор (300, 1000), mode='fan_out')``."""
    parts = [] if shape is None else [f"тензор {tuple(shape)}"]
    parts += [repr(a) for a in args]
    parts += [f"{key}={value!r}" for key, value in (kwargs or {}).items()]
    return f"{name}({', '.join(parts)})"


def gain(worker: Any, nonlinearity: Any, *param: Any, expect_error: bool = False) -> dict[str, Any]:
    """Ask for ``calculate_gain(nonlinearity[, param])``; fail on the student's exception unless
    ``expect_error`` (then the reply, with its ``exception``, is returned as is)."""
    params: dict[str, Any] = {"nonlinearity": nonlinearity}
    if param:
        params["param"] = param[0]
    what = call_text("calculate_gain", None, (nonlinearity, *param))
    result = _reply(worker.call("gain", **params), what)
    _check_common(result, what)
    if result.get("exception") is not None and not expect_error:
        raise AssertionError(f"{what}: исключение {exception_text(result['exception'])}")
    return result


def fans(worker: Any, shape: Sequence[int], *, expect_error: bool = False) -> dict[str, Any]:
    """Ask for ``fan_in_and_fan_out(torch.empty(shape))``; see :func:`gain` for ``expect_error``."""
    what = f"fan_in_and_fan_out(тензор {tuple(shape)})"
    result = _reply(worker.call("fans", shape=list(shape)), what)
    _check_common(result, what)
    if result.get("exception") is not None and not expect_error:
        raise AssertionError(f"{what}: исключение {exception_text(result['exception'])}")
    return result


@dataclass(frozen=True)
class Filled:
    """What one in-place initializer call did (the worker's reply, checked for form)."""

    what: str
    values: torch.Tensor
    reply: dict[str, Any]


def fill(worker: Any, name: str, shape: Sequence[int], *args: Any, seed: int | None | str = "absent",
         global_seed: int | None = None, requires_grad: bool = False, dtype: str = "float32",
         **kwargs: Any) -> Filled:
    """Run the student's ``name`` on a fresh NaN-filled tensor of ``shape`` in the worker.

    ``seed``: ``"absent"`` passes no ``generator``; ``None`` passes ``generator=None``; an int
    passes a CPU generator seeded with it. Fails (AssertionError, Russian) on the student's
    exception, on a reply of the wrong form, on a changed shape or dtype, and when elements were
    left unfilled (NaN) or are infinite. The in-place contract itself (same object, no autograd)
    is checked by :func:`check_inplace_contract`, in its own test.
    """
    params: dict[str, Any] = {"function": name, "shape": list(shape), "dtype": dtype,
                              "args": list(args), "kwargs": dict(kwargs), "requires_grad": requires_grad}
    if seed != "absent":
        params["seed"] = seed
    if global_seed is not None:
        params["global_seed"] = global_seed
    what = call_text(name, shape, args, kwargs)
    result = _reply(worker.call("fill", **params), what)
    _check_common(result, what)
    exception = result.get("exception")
    if exception is not None:
        if requires_grad and "leaf Variable that requires grad" in str(exception.get("message")):
            raise AssertionError(
                f"{what}: изменение на месте тензора с requires_grad=True попало в autograd "
                f"({exception_text(exception)}); заполняйте тензор внутри torch.no_grad()"
            )
        raise AssertionError(f"{what}: исключение {exception_text(exception)}")
    values = result.get("values")
    if not isinstance(values, torch.Tensor):
        raise AssertionError(f"{what}: процесс решения вернул ответ неверной формы")
    if tuple(values.shape) != tuple(shape) or values.dtype != getattr(torch, dtype):
        raise AssertionError(
            f"{what}: форма или dtype тензора изменились: {tuple(values.shape)}, {values.dtype} "
            f"вместо {tuple(shape)}, torch.{dtype}"
        )
    if torch.isnan(values).any():
        left = int(torch.isnan(values).sum())
        raise AssertionError(
            f"{what}: тензор не заполнен на месте: {left} из {values.numel()} элементов остались NaN "
            "(функция должна менять переданный тензор, а не создавать новый)"
        )
    if not torch.isfinite(values).all():
        raise AssertionError(f"{what}: в тензоре есть бесконечные значения")
    return Filled(what, values, result)


def fill_expecting_error(worker: Any, name: str, shape: Sequence[int], *, seed: int, **kwargs: Any) -> dict[str, Any]:
    """Run ``name`` where the statement demands an exception; return the reply (its
    ``exception`` is ``None`` if the student's function raised nothing)."""
    what = call_text(name, shape, (), kwargs)
    result = _reply(worker.call("fill", function=name, shape=list(shape), kwargs=dict(kwargs), seed=seed), what)
    _check_common(result, what)
    return result


def check_inplace_contract(filled: Filled, *, requires_grad: bool) -> None:
    """The in-place contract of the statement: the same object back, the same memory, no
    autograd history, ``requires_grad`` kept."""
    reply, what = filled.reply, filled.what
    if reply.get("returned_same") is not True:
        raise AssertionError(
            f"{what}: функция должна вернуть тот же объект тензора, который заполнила на месте "
            f"(вернула {reply.get('returned_type')})"
        )
    if reply.get("same_storage") is not True:
        raise AssertionError(f"{what}: тензор заполнен не на месте: его память заменена (например, через .data = ...)")
    if reply.get("grad_fn") is not None:
        raise AssertionError(
            f"{what}: заполнение записано в граф autograd (grad_fn={reply.get('grad_fn')}); "
            "заполняйте тензор внутри torch.no_grad()"
        )
    if reply.get("requires_grad") is not requires_grad:
        raise AssertionError(f"{what}: у тензора изменился requires_grad (был {requires_grad})")


def fill_layers(worker: Any, name: str, shapes: Sequence[Sequence[int]], seed: int,
                **kwargs: Any) -> list[torch.Tensor]:
    """The student's ``name`` applied to each weight shape in order, from one generator seeded
    with ``seed``; returns the filled weights (checked: right shapes, float32, all finite)."""
    what = f"{call_text(name, None, (), kwargs)} для {len(shapes)} слоёв"
    result = _reply(
        worker.call("fill_layers", function=name, shapes=[list(s) for s in shapes], kwargs=dict(kwargs), seed=seed),
        what,
    )
    _check_common(result, what)
    if result.get("exception") is not None:
        raise AssertionError(f"{what}: исключение {exception_text(result['exception'])} (слой {result.get('layer')})")
    weights = result.get("weights")
    if not isinstance(weights, list) or len(weights) != len(shapes):
        raise AssertionError(f"{what}: процесс решения вернул ответ неверной формы")
    for index, (weight, shape) in enumerate(zip(weights, shapes, strict=True)):
        if not isinstance(weight, torch.Tensor) or tuple(weight.shape) != tuple(shape) or weight.dtype != torch.float32:
            raise AssertionError(f"{what}: вес слоя {index + 1} не той формы или не float32")
        if not torch.isfinite(weight).all():
            raise AssertionError(
                f"{what}: вес слоя {index + 1} заполнен не полностью (NaN) или содержит inf; "
                "тензор нужно заполнять на месте"
            )
    return weights


# --------------------------------------------------------------------------- statistics


def std_tolerance(kind: str, n: int) -> float:
    """Relative tolerance of a sample std of ``n`` values: ``Z_BOUND`` standard errors.

    For a sample of size n, Var(s^2) ~ sigma^4 (k - 1) / n (k = kurtosis), so the relative
    standard error of s is sqrt((k - 1) / (4 n)) by the delta method.
    """
    return Z_BOUND * math.sqrt((KURTOSIS[kind] - 1.0) / (4.0 * n))


def mean_tolerance(std: float, n: int) -> float:
    """Absolute tolerance of a sample mean: ``Z_BOUND`` standard errors ``std / sqrt(n)``."""
    return Z_BOUND * std / math.sqrt(n)


def ks_bound(n: int) -> float:
    """Kolmogorov-Smirnov distance allowed for ``n`` values: P(sqrt(n) D > x) <= 2 exp(-2 x^2)
    (Dvoretzky-Kiefer-Wolfowitz), solved for ``KS_ALPHA``; conservative with estimated
    mean and std (Lilliefors' statistic is smaller)."""
    return math.sqrt(math.log(2.0 / KS_ALPHA) / 2.0) / math.sqrt(n)


def ks_distance(values: torch.Tensor, kind: str) -> float:
    """Kolmogorov-Smirnov distance of the standardized sample to N(0, 1) or to U(-sqrt3, sqrt3)."""
    x = values.flatten().double()
    z, _ = torch.sort((x - x.mean()) / x.std())
    n = z.numel()
    cdf = torch.special.ndtr(z) if kind == "normal" else ((z + SQRT3) / (2 * SQRT3)).clamp(0.0, 1.0)
    upper = torch.arange(1, n + 1, dtype=torch.float64) / n
    return float(torch.maximum(upper - cdf, cdf - (upper - 1.0 / n)).max())


def check_distribution(values: torch.Tensor, kind: str, std: float, what: str, mean: float = 0.0) -> None:
    """Mean, std, shape of the distribution and, for ``uniform``, the bounds ``mean +- sqrt3 std``.

    Fails if the sample is constant (zero std), if the std or mean is off by more than the
    sampling error allows, if the standardized sample is too far from the distribution (KS), or
    if a uniform sample leaves its interval or does not reach both of its ends.
    """
    x = values.flatten().double()
    n = x.numel()
    sample_std, sample_mean = float(x.std()), float(x.mean())
    if sample_std == 0.0:
        raise AssertionError(f"{what}: все значения одинаковы ({float(x[0]):.4g}), а должна быть случайная выборка")
    tolerance = std_tolerance(kind, n)
    if abs(sample_std / std - 1.0) > tolerance:
        raise AssertionError(
            f"{what}: стандартное отклонение {sample_std:.5g}, а по формуле должно быть {std:.5g} "
            f"(отличие {100 * abs(sample_std / std - 1):.2f} %, допустимо {100 * tolerance:.2f} % для {n} значений)"
        )
    mean_tol = mean_tolerance(std, n)
    if abs(sample_mean - mean) > mean_tol:
        raise AssertionError(f"{what}: среднее {sample_mean:.4g} вместо {mean:.4g} (допустимо ±{mean_tol:.2g})")
    distance, bound = ks_distance(values, kind), ks_bound(n)
    if distance > bound:
        raise AssertionError(
            f"{what}: распределение не похоже на {DISTRIBUTION_NAMES[kind]} "
            f"(расстояние Колмогорова-Смирнова {distance:.4f}, допустимо {bound:.4f})"
        )
    if kind == "uniform":
        low, high = mean - SQRT3 * std, mean + SQRT3 * std
        slack = 1e-6 * max(abs(low), abs(high), 1.0)  # float32 rounding of the bounds
        lowest, highest = float(x.min()), float(x.max())
        if lowest < low - slack or highest > high + slack:
            raise AssertionError(
                f"{what}: значения [{lowest:.5g}, {highest:.5g}] выходят за границы [{low:.5g}, {high:.5g}]"
            )
        band = EDGE_EVENTS / n * (high - low)  # P(no value in the band) = (1 - 25/n)^n ~ e^-25
        if lowest > low + band or highest < high - band:
            raise AssertionError(
                f"{what}: значения [{lowest:.5g}, {highest:.5g}] не доходят до границ [{low:.5g}, {high:.5g}]"
            )


# --------------------------------------------------------------------------- the rule, in the source


@dataclass(frozen=True)
class SourceUnits:
    """Top-level functions and classes of the submission: line ranges and the names they use."""

    ranges: dict[str, list[tuple[int, int]]]
    uses: dict[str, set[str]]
    module_uses: set[str]
    parsed: bool


def source_units(source: str) -> SourceUnits:
    """Split the submission into top-level ``def``/``class`` units (line ranges, decorators
    included) and module-level code; record the names each part refers to."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return SourceUnits({}, {}, set(), parsed=False)
    ranges: dict[str, list[tuple[int, int]]] = {}
    uses: dict[str, set[str]] = {}
    module_uses: set[str] = set()
    for node in tree.body:
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            ranges.setdefault(node.name, []).append((start, node.end_lineno or node.lineno))
            uses.setdefault(node.name, set()).update(names)
        else:
            module_uses |= names
    return SourceUnits(ranges, uses, module_uses, parsed=True)


def reachable(units: SourceUnits, functions: Iterable[str]) -> set[str]:
    """Top-level units that ``functions`` may run: the functions themselves, everything
    module-level code refers to (it may rebind any name), and what those refer to, transitively."""
    todo = [*functions, *units.module_uses]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in units.ranges:
            continue
        seen.add(name)
        todo.extend(units.uses.get(name, ()))
    return seen


def protected_violations(source: str, violations: Sequence[Any], functions: Iterable[str]) -> list[Any]:
    """The violations that concern a test of ``functions``: those inside a top-level unit the
    functions may run, and every violation in module-level code (imports, rebindings: they can
    change any function). If the source does not parse, every violation counts."""
    units = source_units(source)
    if not units.parsed:
        return list(violations)
    wanted = reachable(units, functions)
    found = []
    for violation in violations:
        line = getattr(violation, "line", 0) or 0
        owner = next(
            (name for name, spans in units.ranges.items() for start, end in spans if start <= line <= end), None
        )
        if owner is None or owner in wanted:
            found.append(violation)
    return found


def first_violation_message(violations: Sequence[Any]) -> str:
    """The Russian message of the first violation (sorted by line), naming the rule."""
    first = min(violations, key=lambda v: getattr(v, "line", 0) or 0)
    return str(getattr(first, "message", first))


RuleGuard = Callable[..., None]


@dataclass(frozen=True)
class RuleViolation:
    """One place in the submission that breaks the homework's own rule (same fields as the
    framework's ``grading.rules.Violation``: rule, line, Russian message naming the rule)."""

    rule: str
    line: int
    message: str


def _nn_init_only_names() -> frozenset[str]:
    """Names defined by ``torch.nn.init`` that are neither ``torch.*`` nor ``Tensor`` methods
    (``xavier_uniform_``, ``calculate_gain``, ``_calculate_fan_in_and_fan_out``...): reaching
    one of them as an attribute or importing it from anywhere means using ``torch.nn.init``
    (``torch.nn.modules.transformer`` re-exports ``xavier_uniform_``, for example)."""
    import torch.nn.init as nn_init

    defined = {
        name for name, value in vars(nn_init).items()
        if callable(value) and getattr(value, "__module__", None) == "torch.nn.init"
    }
    return frozenset(defined - set(dir(torch.Tensor)) - set(dir(torch)))


NN_INIT_ONLY = _nn_init_only_names()


def nn_init_violations(source: str) -> list[RuleViolation]:
    """Every way of writing ``torch.nn.init`` in the source, whatever the alias.

    Flags: importing ``torch.nn.init`` or anything from it (``import torch.nn.init as I``,
    ``from torch.nn import init``, ``from torch.nn.init import normal_``); any attribute
    ``.init`` (``torch.nn.init``, ``nn.init``, ``t.nn.init``, ``torch.nn.modules.linear.init``,
    ``x.init`` after ``x = torch.nn``); any attribute or imported name that only
    ``torch.nn.init`` defines (``.xavier_uniform_``, ``._calculate_fan_in_and_fan_out``); and
    ``getattr``/``hasattr`` with one of those names as a constant string. Computed names
    (``getattr(nn, "in" + "it")``) are the framework's deny-list.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # the framework's rules report the syntax error
    found: list[RuleViolation] = []

    def flag(node: ast.AST, text: str) -> None:
        line = getattr(node, "lineno", 0)
        found.append(RuleViolation(RULE_NAME, line, f"нарушено правило «{RULE_NAME}»: строка {line}: {text}"))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "torch.nn.init" or alias.name.startswith("torch.nn.init."):
                    flag(node, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            for alias in node.names:
                if module == "torch.nn.init" or module.startswith("torch.nn.init."):
                    flag(node, f"from {module} import {alias.name}")
                elif alias.name == "init" and module.startswith("torch"):
                    flag(node, f"from {module} import init")
                elif alias.name in NN_INIT_ONLY:
                    flag(node, f"from {module} import {alias.name}")
        elif isinstance(node, ast.Attribute):
            if node.attr == "init":
                flag(node, f"обращение к {ast.unparse(node)}")
            elif node.attr in NN_INIT_ONLY:
                flag(node, f"обращение к {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"getattr", "hasattr"}:
            if len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
                name = node.args[1].value
                if name == "init" or name in NN_INIT_ONLY:
                    flag(node, f"{node.func.id}(..., {name!r})")
    return sorted(found, key=lambda v: v.line)
