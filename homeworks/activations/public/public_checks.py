"""Проверка одной активации: значения и градиент против ``torch.nn.functional``.

Вход — точки обоих знаков (в том числе 0 и ±100), float64 и float32. Градиент сверяется с
градиентом эталона из PyTorch при одном и том же случайном градиенте сверху.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

#: Допуски сравнения (rtol, atol) по типу данных.
TOLERANCE_BY_DTYPE = {torch.float64: (1e-7, 1e-10), torch.float32: (1e-5, 1e-6)}


def points(dtype: torch.dtype) -> torch.Tensor:
    """Точки проверки: сетка на [-6, 6], ноль, ±1e-3, ±20, ±100."""
    grid = torch.linspace(-6.0, 6.0, 121, dtype=torch.float64)
    extra = torch.tensor([0.0, 1e-3, -1e-3, 20.0, -20.0, 100.0, -100.0], dtype=torch.float64)
    return torch.cat([grid, extra]).to(dtype)


def check_activation(module: torch.nn.Module, function_name: str,
                     reference: Callable[[torch.Tensor], torch.Tensor], dtype: torch.dtype) -> None:
    """Выход и градиент ``module`` против ``reference`` на :func:`points`; AssertionError с причиной."""
    rtol, atol = TOLERANCE_BY_DTYPE[dtype]
    x = points(dtype).requires_grad_()
    y = module(x)
    assert isinstance(y, torch.Tensor), f"выход должен быть тензором, а не {type(y).__name__}"
    assert y.shape == x.shape, f"форма выхода {tuple(y.shape)}, а должна быть {tuple(x.shape)}"
    assert y.dtype == dtype, f"тип выхода {y.dtype}, а должен быть {dtype}"
    node = type(y.grad_fn).__name__ if y.grad_fn is not None else "нет"
    assert node.startswith(function_name), (
        f"выход должен вычисляться через {function_name}.apply (узел графа: {node})")
    x_ref = points(dtype).requires_grad_()
    y_ref = reference(x_ref)
    _compare("значение", x, y.detach(), y_ref.detach(), rtol, atol)
    g = torch.randn(x.shape, dtype=dtype, generator=torch.Generator().manual_seed(0))
    y.backward(g)
    y_ref.backward(g)
    assert x.grad is not None, "градиент по входу не посчитан (backward вернул None?)"
    _compare("градиент", x, x.grad, x_ref.grad, rtol, atol)


def _compare(what: str, x: torch.Tensor, got: torch.Tensor, expected: Any, rtol: float, atol: float) -> None:
    finite = torch.isfinite(expected)
    bad_finite = finite & ~torch.isfinite(got)
    if bool(bad_finite.any()):
        at = float(x.detach()[bad_finite][0])
        raise AssertionError(f"{what} при x = {at:g} не конечен ({float(got[bad_finite][0])}), "
                             f"а должен быть {float(expected[bad_finite][0]):g}")
    close = torch.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    if not bool(close.all()):
        at = int((~close).nonzero()[0])
        raise AssertionError(f"{what} при x = {float(x.detach()[at]):g} ({got.dtype}): "
                             f"{float(got[at]):.10g}, а должен быть {float(expected[at]):.10g}")
