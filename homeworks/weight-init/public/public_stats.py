"""Общие проверки открытых тестов: заполнение на месте и выборочные среднее и std."""

from __future__ import annotations

from collections.abc import Callable

import torch


def filled(function: Callable[..., torch.Tensor], shape: tuple[int, ...], **kwargs: object) -> torch.Tensor:
    """Заполнить nn.Parameter формы ``shape`` (сначала NaN) функцией и проверить общие правила."""
    parameter = torch.nn.Parameter(torch.full(shape, float("nan")))
    result = function(parameter, **kwargs)
    name = getattr(function, "__name__", "функция")
    assert result is parameter, f"{name} должна вернуть тот же тензор, что получила"
    assert parameter.grad_fn is None, f"{name}: заполнение не должно попадать в граф autograd (torch.no_grad())"
    values = parameter.detach()
    assert bool(torch.isfinite(values).all()), f"{name}: заполнены не все элементы (остались NaN)"
    return values


def assert_std(values: torch.Tensor, expected: float, what: str, rel: float = 0.03) -> None:
    """Выборочное std в пределах ``rel`` от ожидаемого, среднее около нуля."""
    std = float(values.std())
    assert abs(std - expected) <= rel * expected, f"{what}: std = {std:.5g}, а должно быть {expected:.5g}"
    mean = float(values.mean())
    assert abs(mean) <= 0.05 * expected, f"{what}: среднее {mean:.3g}, а должно быть около 0"
