"""Grader of the ``activations`` homework (run by ``homeworks/grade.py``, not by ``make test``).

Eight activations x four checks, 1/32 point each (total exactly 1.0):

* ``test_forward_float64``  values against ``torch.nn.functional`` on negative and positive
  inputs (0, tiny, moderate, +-20/30/100/1000), default and non-default parameters;
* ``test_forward_float32``  the same in float32 (finite and close at +-100 and +-1000);
* ``test_gradcheck``        ``torch.autograd.gradcheck`` of the student's backward (float64);
* ``test_backward_extremes`` the gradient against PyTorch's, float32 and float64, at the
  extremes, with a non-constant upstream gradient.

Every check also requires that the output comes from the student's own
``torch.autograd.Function`` with an explicit ``backward``, that the input is left unchanged,
and that no built-in activation operator ran in forward or backward: the ATen operators are
recorded with a dispatch mode (:func:`grading.record_aten_ops`), so aliases do not help.
Messages are in Russian: students read them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from grading import ACTIVATION_OPS, assert_no_aten_ops, record_aten_ops
from torch.autograd.gradcheck import GradcheckError

POINTS = 1.0 / 32


@dataclass(frozen=True)
class Case:
    """One activation: the student's class, the reference, and parameter variants."""

    name: str
    reference: Callable[..., torch.Tensor]
    variants: tuple[dict[str, float], ...] = ({},)
    extra_forbidden: frozenset[str] = field(default_factory=frozenset)
    kinks: tuple[float, ...] = ()


CASES = [
    Case("MyReLU", lambda x: F.relu(x), kinks=(0.0,)),
    Case("MyLeakyReLU", lambda x, negative_slope=0.01: F.leaky_relu(x, negative_slope),
         variants=({}, {"negative_slope": 0.2}), kinks=(0.0,)),
    Case("MySigmoid", lambda x: torch.sigmoid(x)),
    Case("MyTanh", lambda x: torch.tanh(x)),
    Case("MyELU", lambda x, alpha=1.0: F.elu(x, alpha), variants=({}, {"alpha": 0.5}), kinks=(0.0,)),
    Case("MyGELU", lambda x: F.gelu(x), extra_forbidden=frozenset({"aten.special_ndtr"})),
    Case("MySiLU", lambda x: F.silu(x)),
    Case("MySoftplus", lambda x, beta=1.0, threshold=20.0: F.softplus(x, beta, threshold),
         variants=({}, {"beta": 2.0, "threshold": 10.0}, {"beta": 0.5}),
         extra_forbidden=frozenset({"aten.logaddexp", "aten.logsumexp"}), kinks=(20.0, 5.0, 40.0)),
]
IDS = [case.name for case in CASES]
FORBIDDEN_EVERYWHERE = ACTIVATION_OPS | {"aten.special_expit", "aten.special_log_ndtr"}

# Negative and positive values, zero, tiny and huge magnitudes: identity cannot pass as ReLU.
SPECIAL = [0.0, 1e-8, 1e-3, 0.1, 0.5, 1.0, 2.0, 5.0, 9.99, 10.0, 10.01, 15.0, 19.5, 20.0, 20.5, 30.0, 50.0,
           88.0, 100.0, 710.0, 1000.0]
EXTREMES = [-1000.0, -100.0, -30.0, -5.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 5.0, 30.0, 100.0, 1000.0]


def grid(dtype: torch.dtype) -> torch.Tensor:
    """A 2-D grid of inputs covering both signs (shape (2, N): checks shape handling too)."""
    values = torch.linspace(-12.0, 12.0, 97, dtype=torch.float64).tolist()
    values += SPECIAL + [-v for v in SPECIAL if v != 0.0]
    values = sorted(set(values))
    if len(values) % 2:
        values.append(3.25)
    return torch.tensor(values, dtype=dtype).reshape(2, -1)


def upstream(like: torch.Tensor) -> torch.Tensor:
    """A deterministic, non-constant upstream gradient dL/dy with both signs."""
    n = like.numel()
    values = torch.linspace(-1.5, 2.5, n, dtype=torch.float64).reshape(like.shape)
    return values.to(like.dtype)


def forbidden_for(case: Case) -> frozenset[str]:
    """Operators that must not run inside ``case``'s forward or backward."""
    return FORBIDDEN_EVERYWHERE | case.extra_forbidden


def describe(kwargs: dict[str, float]) -> str:
    """``(alpha=0.5)`` or ``()``: how the module was constructed, for messages."""
    return "(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")"


def check_own_function(y: torch.Tensor, what: str) -> None:
    """The output must come from a custom ``torch.autograd.Function`` with its own backward."""
    assert isinstance(y, torch.Tensor), f"{what}: forward должен вернуть torch.Tensor, а вернул {type(y).__name__}"
    node_cls = type(y.grad_fn) if y.grad_fn is not None else None
    function_cls = getattr(node_cls, "_forward_cls", None)
    assert isinstance(function_cls, type) and issubclass(function_cls, torch.autograd.Function), (
        f"{what}: выход должен вычисляться вашим наследником torch.autograd.Function "
        f"(через <Имя>Function.apply), а grad_fn выхода — {node_cls.__name__ if node_cls else None}"
    )
    assert function_cls.backward is not torch.autograd.Function.backward, (
        f"{what}: в {function_cls.__name__} не определён собственный backward"
    )


def run(submission: Any, case: Case, kwargs: dict[str, float], x: torch.Tensor,
        grad_out: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run the student's module (and its backward if ``grad_out``), with all common checks."""
    what = f"{case.name}{describe(kwargs)}, {str(x.dtype).replace('torch.', '')}"
    cls = getattr(submission, case.name, None)
    assert cls is not None, f"в activations.py нет класса {case.name}"
    module = cls(**kwargs)
    x = x.detach().clone().requires_grad_(True)
    before = x.detach().clone()
    grad = None
    with record_aten_ops() as recorder:
        y = module(x)
        check_own_function(y, what)
        if grad_out is not None:
            (grad,) = torch.autograd.grad(y, x, grad_out)
    assert_no_aten_ops(recorder, forbidden_for(case), what)
    assert torch.equal(x.detach(), before), f"{what}: forward изменил входной тензор (in-place операция)"
    assert y.shape == x.shape, f"{what}: форма выхода {tuple(y.shape)} вместо {tuple(x.shape)}"
    assert y.dtype == x.dtype, f"{what}: dtype выхода {y.dtype} вместо {x.dtype}"
    return y.detach(), grad


def assert_matches(actual: torch.Tensor, expected: torch.Tensor, x: torch.Tensor, what: str,
                   rtol: float, atol: float) -> None:
    """Finite where the reference is finite, and close; the message names the worst input."""
    bad_finite = torch.isfinite(expected) & ~torch.isfinite(actual)
    if bad_finite.any():
        xs = x.detach()[bad_finite][:4].tolist()
        vals = actual[bad_finite][:4].tolist()
        raise AssertionError(f"{what}: нечисловые значения (inf/nan) при x = {xs}: {vals}")
    close = torch.isclose(actual, expected, rtol=rtol, atol=atol)
    if not close.all():
        error = torch.where(close, torch.zeros_like(actual), (actual - expected).abs())
        worst = int(torch.argmax(error.reshape(-1)))
        x_worst = x.detach().reshape(-1)[worst].item()
        got, want = actual.reshape(-1)[worst].item(), expected.reshape(-1)[worst].item()
        raise AssertionError(
            f"{what}: неверное значение при x = {x_worst:g}: получено {got:.10g}, ожидалось {want:.10g} "
            f"(не совпало в {int((~close).sum())} точках из {close.numel()})"
        )


TOLERANCES = {torch.float64: (1e-7, 1e-10), torch.float32: (1e-5, 1e-6)}


def check_forward(submission: Any, case: Case, dtype: torch.dtype) -> None:
    """Forward values of every parameter variant against the reference in ``dtype``."""
    rtol, atol = TOLERANCES[dtype]
    x = grid(dtype)
    for kwargs in case.variants:
        y, _ = run(submission, case, kwargs, x)
        expected = case.reference(x, **kwargs)
        what = f"{case.name}{describe(kwargs)}, {str(dtype).replace('torch.', '')}, forward"
        assert_matches(y, expected, x, what, rtol, atol)


@pytest.mark.points(POINTS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_float64(submission: Any, case: Case) -> None:
    """Values in float64 on both signs, zero and large magnitudes, every parameter variant."""
    check_forward(submission, case, torch.float64)


@pytest.mark.points(POINTS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_float32(submission: Any, case: Case) -> None:
    """Values in float32, where a naive exp overflows already near x = 89."""
    check_forward(submission, case, torch.float32)


def worst_mismatch(module: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> str:
    """Where the student's derivative differs most from a central difference (elementwise)."""
    h = 1e-6
    inputs = x.clone().requires_grad_(True)
    (analytic,) = torch.autograd.grad(module(inputs).sum(), inputs)
    with torch.no_grad():
        numeric = (module(x + h) - module(x - h)) / (2 * h)
    error = (analytic - numeric).abs().nan_to_num(nan=float("inf"))
    worst = int(torch.argmax(error))
    return (f"при x = {x[worst].item():.6g} ваш backward даёт dy/dx = {analytic[worst].item():.6g}, "
            f"а (f(x+h) - f(x-h)) / 2h = {numeric[worst].item():.6g}")


@pytest.mark.points(POINTS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradcheck(submission: Any, case: Case) -> None:
    """The hand-written backward agrees with finite differences (float64, away from kinks)."""
    generator = torch.Generator().manual_seed(20260119)
    x = 3.0 * torch.randn(4, 6, generator=generator, dtype=torch.float64)
    x = torch.cat([x.reshape(-1), torch.tensor([-7.5, -2.5, 2.5, 7.5], dtype=torch.float64)])
    for kink in case.kinks:  # finite differences are meaningless across a kink
        x = torch.where((x - kink).abs() < 1e-3, x + 0.01, x)
    for kwargs in case.variants:
        what = f"{case.name}{describe(kwargs)}"
        run(submission, case, kwargs, x, torch.ones_like(x))  # structure + forbidden operators
        module = getattr(submission, case.name)(**kwargs)
        inputs = x.clone().requires_grad_(True)
        try:
            torch.autograd.gradcheck(module, (inputs,), eps=1e-6, atol=1e-6, rtol=1e-4, raise_exception=True)
        except GradcheckError:
            raise AssertionError(f"{what}: backward не согласуется с конечными разностями: "
                                 f"{worst_mismatch(module, x)}") from None


@pytest.mark.points(POINTS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backward_extremes(submission: Any, case: Case) -> None:
    """Gradients against PyTorch's at +-1000, +-100, 0, ... in float32 and float64."""
    for dtype in (torch.float64, torch.float32):
        rtol, atol = TOLERANCES[dtype]
        x = torch.tensor(EXTREMES, dtype=dtype)
        g = upstream(x)
        for kwargs in case.variants:
            _, grad = run(submission, case, kwargs, x, g)
            assert grad is not None
            reference_input = x.clone().requires_grad_(True)
            (expected,) = torch.autograd.grad(case.reference(reference_input, **kwargs), reference_input, g)
            what = f"{case.name}{describe(kwargs)}, {str(dtype).replace('torch.', '')}, backward"
            assert grad.dtype == dtype, f"{what}: dtype градиента {grad.dtype} вместо {dtype}"
            assert_matches(grad, expected, x, what, rtol, atol)
