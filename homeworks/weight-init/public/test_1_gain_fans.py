"""Открытые тесты: calculate_gain и fan_in_and_fan_out."""

from __future__ import annotations

import math

import pytest
import torch
import weight_init

STEP = "calculate_gain и fan_in_and_fan_out"


@pytest.mark.parametrize(("name", "param", "expected"), [
    ("linear", None, 1.0), ("sigmoid", None, 1.0), ("tanh", None, 5.0 / 3.0), ("relu", None, math.sqrt(2.0)),
    ("leaky_relu", 0.2, math.sqrt(2.0 / 1.04)), ("selu", None, 0.75),
])
def test_gain(name: str, param: float | None, expected: float) -> None:
    """Значения gain из условия."""
    got = weight_init.calculate_gain(name, param)
    assert math.isclose(got, expected, rel_tol=1e-12), f"calculate_gain({name!r}, {param}) = {got}, а должно быть {expected}"


@pytest.mark.parametrize(("shape", "expected"), [((300, 1000), (1000, 300)), ((16, 8, 3, 3), (72, 144))])
def test_fans(shape: tuple[int, ...], expected: tuple[int, int]) -> None:
    """fan_in = in · k, fan_out = out · k для весов формы (out, in, *kernel)."""
    got = tuple(weight_init.fan_in_and_fan_out(torch.empty(shape)))
    assert got == expected, f"fans для формы {shape}: {got}, а должно быть {expected}"


def test_fans_of_a_vector_raise() -> None:
    """Тензор размерности меньше 2 — ValueError."""
    with pytest.raises(ValueError):
        weight_init.fan_in_and_fan_out(torch.empty(10))
