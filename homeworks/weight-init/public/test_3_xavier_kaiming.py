"""Открытые тесты: std и границы инициализаций Ксавье и Каймина на весе 300 × 1000."""

from __future__ import annotations

import math

import pytest
import torch
import weight_init
from public_stats import assert_std, filled

STEP = "Ксавье и Каймин: масштаб"
SHAPE = (300, 1000)  # fan_in = 1000, fan_out = 300


@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_xavier(gain: float) -> None:
    """std = gain · √(2 / (fan_in + fan_out)); равномерное — в [−√3·std, √3·std]."""
    std = gain * math.sqrt(2.0 / 1300.0)
    assert_std(filled(weight_init.xavier_normal_, SHAPE, gain=gain), std, f"xavier_normal_(gain={gain})")
    values = filled(weight_init.xavier_uniform_, SHAPE, gain=gain)
    assert_std(values, std, f"xavier_uniform_(gain={gain})")
    assert float(values.abs().max()) <= math.sqrt(3.0) * std * (1 + 1e-6), "xavier_uniform_: значения вне [−b, b]"


@pytest.mark.parametrize(("mode", "fan"), [("fan_in", 1000), ("fan_out", 300)])
def test_kaiming_relu(mode: str, fan: int) -> None:
    """std = gain / √fan_mode, gain(relu) = √2; равномерное — в [−√3·std, √3·std]."""
    std = math.sqrt(2.0) / math.sqrt(fan)
    normal = filled(weight_init.kaiming_normal_, SHAPE, mode=mode, nonlinearity="relu")
    assert_std(normal, std, f"kaiming_normal_(mode={mode!r}, relu)")
    uniform = filled(weight_init.kaiming_uniform_, SHAPE, mode=mode, nonlinearity="relu")
    assert_std(uniform, std, f"kaiming_uniform_(mode={mode!r}, relu)")
    assert float(uniform.abs().max()) <= math.sqrt(3.0) * std * (1 + 1e-6), "kaiming_uniform_: значения вне [−b, b]"


def test_kaiming_defaults() -> None:
    """По умолчанию: a = 0, mode = "fan_in", nonlinearity = "leaky_relu" — std = √2 / √fan_in."""
    assert_std(filled(weight_init.kaiming_normal_, SHAPE), math.sqrt(2.0 / 1000.0), "kaiming_normal_ по умолчанию")


def test_generator_reproducible() -> None:
    """Один и тот же seed генератора — один и тот же тензор."""
    for function in (weight_init.uniform_, weight_init.normal_, weight_init.xavier_normal_, weight_init.kaiming_uniform_):
        first = function(torch.empty(20, 30), generator=torch.Generator().manual_seed(7))
        second = function(torch.empty(20, 30), generator=torch.Generator().manual_seed(7))
        assert torch.equal(first, second), f"{function.__name__}: один seed генератора дал разные тензоры"
