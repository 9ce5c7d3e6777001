"""Открытые тесты: Sigmoid и Tanh (значения и градиент против torch.nn.functional)."""

from __future__ import annotations

from collections.abc import Callable

import activations
import pytest
import torch
from public_checks import check_activation

STEP = "Sigmoid и Tanh"

CASES = [
    pytest.param("MySigmoid", {}, "SigmoidFunction", torch.sigmoid, id="MySigmoid"),
    pytest.param("MyTanh", {}, "TanhFunction", torch.tanh, id="MyTanh"),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("name", "kwargs", "function", "reference"), CASES)
def test_activation(name: str, kwargs: dict[str, float], function: str,
                    reference: Callable[[torch.Tensor], torch.Tensor], dtype: torch.dtype) -> None:
    """Выход и градиент модуля совпадают с PyTorch."""
    check_activation(getattr(activations, name)(**kwargs), function, reference, dtype)
