"""Judge tests of the ``activations`` homework (run by ``homeworks/grade.py``, not by ``make test``).

The judge never imports the submission: every value comes from the worker op
``grading_worker.ops_activations.run`` (construct ``My<Name>(**kwargs)``, run it on the judge's
``x``, backward with the judge's upstream gradient), and every reference is computed here, from
the same inputs, with ``torch.nn.functional`` in float64 (rounded to the test's dtype).

Eight activations x four tests, 1/32 point each (total exactly 1.0):

* ``test_forward_float64``   values on a grid of both signs (0, tiny, moderate, +-20 ... +-1000),
  every parameter variant;
* ``test_forward_float32``   the same in float32 (a naive ``exp`` overflows near x = 89);
* ``test_backward_float64``  dL/dx on the same grid (float64, kinks left out) against the
  judge's reference gradient for a non-constant upstream gradient with both signs;
* ``test_backward_extremes`` dL/dx at x from -1000 to 1000, the kinks included, float32 and float64.

Every test also checks, for its activation: the rules of the statement on the syntax tree of the
submission (first layer: built-in activation functions under any alias, autograd, the core's
deny-list); the output comes from the student's own ``torch.autograd.Function`` with its own
``backward``; the input is unchanged; dtype and shape; and, as a second layer, the ATen operators
the worker recorded. A forward test also fails when an operation of the forward pass produced
``inf``/``nan`` from finite inputs (an overflow hidden by ``torch.where``), a backward test when
one of the backward pass did. Messages are Russian: students read them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from activation_rules import RULE_BUILTINS, RULES, activations_reached
from grading.rules import RuleSet, Violation, assert_rules
from grading_worker.recorder import ACTIVATION_OPS, normalise_op

POINTS = 1.0 / 32
SOURCE_FILE = "activations.py"


# ----------------------------------------------------------------------------------------------
# The activations and their references (judge side)
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One activation: the student's module, the judge's reference and the parameter variants.

    ``kinks``: inputs where the derivative is a convention (the statement fixes PyTorch's);
    they are left out of ``test_backward_float64`` and checked in ``test_backward_extremes``.
    """

    name: str
    reference: Callable[..., torch.Tensor]
    variants: tuple[dict[str, float], ...] = ({},)
    extra_forbidden_ops: frozenset[str] = field(default_factory=frozenset)
    kinks: tuple[float, ...] = ()


CASES = [
    Case("MyReLU", lambda x: F.relu(x), kinks=(0.0,)),
    Case("MyLeakyReLU", lambda x, negative_slope=0.01: F.leaky_relu(x, negative_slope),
         variants=({}, {"negative_slope": 0.2}), kinks=(0.0,)),
    Case("MySigmoid", lambda x: torch.sigmoid(x)),
    Case("MyTanh", lambda x: torch.tanh(x)),
    Case("MyELU", lambda x, alpha=1.0: F.elu(x, alpha), variants=({}, {"alpha": 0.5}), kinks=(0.0,)),
    Case("MyGELU", lambda x: F.gelu(x), extra_forbidden_ops=frozenset({"aten.special_ndtr"})),
    Case("MySiLU", lambda x: F.silu(x)),
    # beta=0.01: log(1 + exp(z)) instead of log1p loses the tiny values at x = -1000 (z = -10) in
    # float32; threshold=400: beta * x up to 355 stays on the smooth branch, where a naive
    # exp(beta * x) overflows in float32 (the default threshold 20 hides that overflow).
    Case("MySoftplus", lambda x, beta=1.0, threshold=20.0: F.softplus(x, beta, threshold),
         variants=({}, {"beta": 2.0, "threshold": 10.0}, {"beta": 0.5}, {"beta": 0.01},
                   {"beta": 0.5, "threshold": 400.0}),
         extra_forbidden_ops=frozenset({"aten.logaddexp", "aten.logsumexp"})),
]
IDS = [case.name for case in CASES]
CASE_BY_NAME = {case.name: case for case in CASES}
FORBIDDEN_OPS = ACTIVATION_OPS | {"aten.special_expit", "aten.special_log_ndtr", "aten.logaddexp2"}

# Negative and positive values, zero, tiny and huge magnitudes: identity cannot pass as ReLU.
SPECIAL = [0.0, 1e-8, 1e-3, 0.1, 0.5, 1.0, 2.0, 5.0, 9.99, 10.0, 10.01, 15.0, 19.5, 20.0, 20.5, 30.0, 50.0,
           88.0, 100.0, 200.0, 710.0, 1000.0]
EXTREMES = [-1000.0, -710.0, -500.0, -200.0, -100.0, -30.0, -5.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 5.0, 20.0,
            30.0, 100.0, 200.0, 500.0, 710.0, 1000.0]
TOLERANCES = {torch.float64: (1e-7, 1e-10), torch.float32: (1e-5, 1e-6)}


def grid(dtype: torch.dtype) -> torch.Tensor:
    """A 2-D grid of inputs covering both signs, shape (2, N) (checks shape handling too)."""
    values = torch.linspace(-12.0, 12.0, 97, dtype=torch.float64).tolist()
    values += SPECIAL + [-v for v in SPECIAL if v != 0.0]
    values = sorted(set(values))
    if len(values) % 2:
        values.append(3.25)
    return torch.tensor(values, dtype=dtype).reshape(2, -1)


def upstream(like: torch.Tensor) -> torch.Tensor:
    """A deterministic upstream gradient dL/dy: both signs, never zero, not constant
    (values +-0.5 ... +-2.0), so that returning ``grad_output`` unchanged is visible."""
    index = torch.arange(like.numel(), dtype=torch.float64)
    sign = 1.0 - 2.0 * (index % 2)
    return (sign * (0.5 + (index % 7) / 4.0)).reshape(like.shape).to(like.dtype)


def reference_forward(case: Case, kwargs: Mapping[str, float], x: torch.Tensor) -> torch.Tensor:
    """The judge's value: ``torch.nn.functional`` in float64 on ``x`` (exactly converted), rounded
    to ``x``'s dtype."""
    with torch.no_grad():
        return case.reference(x.to(torch.float64), **kwargs).to(x.dtype)


def reference_grad(case: Case, kwargs: Mapping[str, float], x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The judge's dL/dx = g * f'(x): PyTorch's autograd of the reference in float64, rounded."""
    leaf = x.to(torch.float64).requires_grad_(True)
    (grad,) = torch.autograd.grad(case.reference(leaf, **kwargs), leaf, g.to(torch.float64))
    return grad.to(x.dtype)


def dtype_name(dtype: torch.dtype) -> str:
    """``"float32"`` for ``torch.float32``."""
    return str(dtype).removeprefix("torch.")


def describe(case: Case, kwargs: Mapping[str, float], dtype: torch.dtype) -> str:
    """``MyELU(alpha=0.5), float32``: what was run, for messages."""
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    return f"{case.name}({args}), {dtype_name(dtype)}"


# ----------------------------------------------------------------------------------------------
# First layer: the statement's rules on the submission's syntax tree (activation_rules.py)
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def violations_of(rule_violations: Callable[[RuleSet], list[Violation]],
                  submission_source: dict[str, str]) -> dict[str, list[Violation]]:
    """Activation name -> the rule violations that fail its tests."""
    violations = rule_violations(RULES)
    affected = activations_reached(submission_source.get(SOURCE_FILE, ""), CASE_BY_NAME)
    by_case: dict[str, list[Violation]] = {case: [] for case in CASE_BY_NAME}
    for violation in violations:
        for case in affected(violation.line):
            by_case[case].append(violation)
    return by_case


# ----------------------------------------------------------------------------------------------
# Running the student's code (in the worker) and checking what came back
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What the worker reported for one run, type-checked (the worker's answer is untrusted)."""

    y: torch.Tensor
    grad: torch.Tensor | None
    forward_nonfinite: list[dict[str, Any]]
    backward_nonfinite: list[dict[str, Any]]


def _field(result: Any, key: str, kind: type | tuple[type, ...], what: str) -> Any:
    """``result[key]`` if it has type ``kind``, else a failure (malformed answer)."""
    if not isinstance(result, dict) or not isinstance(result.get(key), kind):
        raise AssertionError(f"{what}: процесс решения вернул ответ неверного формата (поле {key})")
    return result[key]


def run(worker: Any, violations_of: dict[str, list[Violation]], case: Case, kwargs: Mapping[str, float],
        x: torch.Tensor, grad_output: torch.Tensor | None) -> Outcome:
    """Check the rules, run ``case`` in the worker, and check everything common to all tests:
    a tensor output of x's shape and dtype from the student's own Function with its own backward,
    the input left unchanged, no forbidden ATen operator; return the output (and gradient)."""
    what = describe(case, kwargs, x.dtype)
    assert_rules(violations_of[case.name])
    result = worker.call("run", name=case.name, kwargs=dict(kwargs), x=x, grad_output=grad_output)
    y_type = _field(result, "y_type", str, what)
    if not isinstance(result.get("y"), torch.Tensor):
        raise AssertionError(f"{what}: forward должен вернуть torch.Tensor, а вернул {y_type}")
    y = result["y"]
    assert result.get("y_dtype") == dtype_name(x.dtype), (
        f"{what}: dtype выхода {result.get('y_dtype')} вместо {dtype_name(x.dtype)}")
    assert tuple(y.shape) == tuple(x.shape), f"{what}: форма выхода {tuple(y.shape)} вместо {tuple(x.shape)}"
    facts = _field(result, "grad_fn", dict, what)
    function = facts.get("custom_function")
    assert isinstance(function, str), (
        f"{what}: выход должен вычисляться вашим наследником torch.autograd.Function "
        f"(через <Имя>Function.apply), а grad_fn выхода — {facts.get('node')}")
    assert facts.get("own_backward") is True, f"{what}: в {function} не определён собственный backward"
    x_after = _field(result, "x_after", torch.Tensor, what)
    assert x_after.shape == x.shape and torch.equal(x_after, x), (
        f"{what}: ваш код изменил входной тензор x (in-place операция)")
    ops = _field(result, "forward_ops", list, what) + _field(result, "backward_ops", list, what)
    forbidden = {normalise_op(op) for op in FORBIDDEN_OPS | case.extra_forbidden_ops}
    hits = sorted({normalise_op(op) for op in ops if isinstance(op, str)} & forbidden)
    assert not hits, f"{what}: {RULE_BUILTINS}: выполнились операции {', '.join(hits)}"
    grad = None
    if grad_output is not None:
        grad = result.get("grad")
        assert isinstance(grad, torch.Tensor), f"{what}: backward не дал градиента по x"
        assert grad.shape == x.shape, f"{what}: форма градиента {tuple(grad.shape)} вместо {tuple(x.shape)}"
    return Outcome(y, grad, _field(result, "forward_nonfinite", list, what),
                   _field(result, "backward_nonfinite", list, what))


def assert_no_hidden_nonfinite(events: list[dict[str, Any]], what: str) -> None:
    """No operation of this pass turned finite inputs into inf/nan (even if discarded later)."""
    if events:
        event = events[0] if isinstance(events[0], dict) else {}
        where = f" (x = {event['x']:g})" if isinstance(event.get("x"), float) else ""
        raise AssertionError(
            f"{what}: промежуточная операция {event.get('op')} дала {event.get('value')}{where}, хотя её входы "
            "конечны: нечисловые значения (inf/nan) запрещены и там, где torch.where их потом отбрасывает "
            "(exp от большого положительного аргумента переполняется, а exp(-|x|) — никогда)")


def assert_matches(actual: torch.Tensor, expected: torch.Tensor, x: torch.Tensor, what: str) -> None:
    """Forward values: finite where the reference is finite, and close; names the worst input."""
    rtol, atol = TOLERANCES[x.dtype]
    bad = torch.isfinite(expected) & ~torch.isfinite(actual)
    if bad.any():
        raise AssertionError(f"{what}: нечисловые значения (inf/nan) при x = {x[bad][:4].tolist()}: "
                             f"{actual[bad][:4].tolist()}")
    close = torch.isclose(actual, expected, rtol=rtol, atol=atol)
    if not close.all():
        error = torch.where(close, torch.zeros_like(actual), (actual - expected).abs())
        worst = int(torch.argmax(error.reshape(-1)))
        raise AssertionError(
            f"{what}: неверное значение при x = {x.reshape(-1)[worst].item():g}: получено "
            f"{actual.reshape(-1)[worst].item():.10g}, ожидалось {expected.reshape(-1)[worst].item():.10g} "
            f"(не совпало в {int((~close).sum())} точках из {close.numel()})")


def assert_grad_matches(actual: torch.Tensor, expected: torch.Tensor, x: torch.Tensor, g: torch.Tensor,
                        case: Case, what: str) -> None:
    """Gradients dL/dx = grad_output * dy/dx: finite and close; the message names the worst input,
    the upstream value there and the derivative dy/dx it implies."""
    rtol, atol = TOLERANCES[x.dtype]
    bad = torch.isfinite(expected) & ~torch.isfinite(actual)
    if bad.any():
        raise AssertionError(f"{what}: нечисловые значения (inf/nan) в градиенте при x = {x[bad][:4].tolist()}: "
                             f"{actual[bad][:4].tolist()}")
    close = torch.isclose(actual, expected, rtol=rtol, atol=atol)
    if not close.all():
        error = torch.where(close, torch.zeros_like(actual), (actual - expected).abs())
        worst = int(torch.argmax(error.reshape(-1)))
        x_worst, g_worst = x.reshape(-1)[worst].item(), g.reshape(-1)[worst].item()
        got, want = actual.reshape(-1)[worst].item(), expected.reshape(-1)[worst].item()
        kink = " (точка излома: берите ту же производную, что и PyTorch, см. README)" if x_worst in case.kinks else ""
        raise AssertionError(
            f"{what}: неверный градиент при x = {x_worst:g}{kink}: dL/dx = grad_output · dy/dx с grad_output = "
            f"{g_worst:g}; получено dL/dx = {got:.10g}, ожидалось {want:.10g}, то есть ваша dy/dx = "
            f"{got / g_worst + 0.0:.10g} вместо {want / g_worst + 0.0:.10g} "
            f"(не совпало в {int((~close).sum())} точках из {close.numel()})")


# ----------------------------------------------------------------------------------------------
# The tests
# ----------------------------------------------------------------------------------------------
def check_forward(worker: Any, violations_of: dict[str, list[Violation]], case: Case, dtype: torch.dtype) -> None:
    """Forward values of every variant against the judge's reference in ``dtype``."""
    x = grid(dtype)
    for kwargs in case.variants:
        what = f"{describe(case, kwargs, dtype)}, forward"
        outcome = run(worker, violations_of, case, kwargs, x, None)
        assert_matches(outcome.y, reference_forward(case, kwargs, x), x, what)
        assert_no_hidden_nonfinite(outcome.forward_nonfinite, what)


def check_backward(worker: Any, violations_of: dict[str, list[Violation]], case: Case, x: torch.Tensor) -> None:
    """dL/dx of every variant against the judge's reference gradient, upstream :func:`upstream`."""
    g = upstream(x)
    for kwargs in case.variants:
        what = f"{describe(case, kwargs, x.dtype)}, backward"
        outcome = run(worker, violations_of, case, kwargs, x, g)
        assert outcome.grad is not None
        assert_grad_matches(outcome.grad, reference_grad(case, kwargs, x, g), x, g, case, what)
        assert_no_hidden_nonfinite(outcome.backward_nonfinite, what)


@pytest.mark.points(POINTS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_float64(worker: Any, violations_of: dict[str, list[Violation]], case: Case) -> None:
    """Values in float64 on both signs, zero and large magnitudes, every parameter variant."""
    check_forward(worker, violations_of, case, torch.float64)


@pytest.mark.points(POINTS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_float32(worker: Any, violations_of: dict[str, list[Violation]], case: Case) -> None:
    """Values in float32, where a naive exp overflows already near x = 89."""
    check_forward(worker, violations_of, case, torch.float32)


@pytest.mark.points(POINTS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backward_float64(worker: Any, violations_of: dict[str, list[Violation]], case: Case) -> None:
    """dL/dx on the float64 grid (kinks left out) against the judge's reference gradient."""
    x = grid(torch.float64).reshape(-1)
    keep = torch.ones_like(x, dtype=torch.bool)
    for kink in case.kinks:
        keep &= x != kink
    check_backward(worker, violations_of, case, x[keep])


@pytest.mark.points(POINTS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backward_extremes(worker: Any, violations_of: dict[str, list[Violation]], case: Case) -> None:
    """dL/dx at x from -1000 to 1000 (kinks included) in float64 and float32."""
    for dtype in (torch.float64, torch.float32):
        check_backward(worker, violations_of, case, torch.tensor(EXTREMES, dtype=dtype))
