"""Открытые тесты: constant_, uniform_, normal_."""

from __future__ import annotations

import math

import weight_init
from public_stats import filled

STEP = "constant_, uniform_ и normal_"


def test_constant() -> None:
    """Все элементы равны val; тот же тензор; без autograd."""
    values = filled(weight_init.constant_, (4, 5), val=0.25)
    assert bool((values == 0.25).all()), "constant_ должна заполнить все элементы значением val"


def test_uniform() -> None:
    """U(a, b): значения в [a, b], среднее (a + b) / 2, std (b − a) / √12."""
    values = filled(weight_init.uniform_, (300, 1000), a=-1.0, b=3.0)
    assert float(values.min()) >= -1.0 and float(values.max()) <= 3.0, "значения U(-1, 3) вышли за [-1, 3]"
    assert abs(float(values.mean()) - 1.0) < 0.02, f"среднее U(-1, 3) = {float(values.mean()):.4f}, а должно быть 1"
    std = float(values.std())
    assert abs(std - 4.0 / math.sqrt(12.0)) < 0.02, f"std U(-1, 3) = {std:.4f}, а должно быть {4 / math.sqrt(12):.4f}"


def test_normal() -> None:
    """N(mean, std²): выборочные среднее и std."""
    values = filled(weight_init.normal_, (300, 1000), mean=2.0, std=0.5)
    assert abs(float(values.mean()) - 2.0) < 0.01, f"среднее N(2, 0.5²) = {float(values.mean()):.4f}, а должно быть 2"
    std = float(values.std())
    assert abs(std - 0.5) < 0.01, f"std N(2, 0.5²) = {std:.4f}, а должно быть 0.5 (normal_ ждёт std, не дисперсию)"
