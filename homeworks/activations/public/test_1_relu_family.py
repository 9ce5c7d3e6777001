"""Открытые тесты: ReLU, LeakyReLU и ELU (значения и градиент против torch.nn.functional)."""

from __future__ import annotations

from collections.abc import Callable

import activations
import pytest
import torch
import torch.nn.functional as F
from public_checks import check_activation

STEP = "ReLU, LeakyReLU и ELU"

CASES = [
    pytest.param("MyReLU", {}, "ReLUFunction", F.relu, id="MyReLU"),
    pytest.param("MyLeakyReLU", {}, "LeakyReLUFunction", F.leaky_relu, id="MyLeakyReLU"),
    pytest.param("MyLeakyReLU", {"negative_slope": 0.2}, "LeakyReLUFunction", lambda x: F.leaky_relu(x, 0.2), id="MyLeakyReLU(negative_slope=0.2)"),
    pytest.param("MyELU", {}, "ELUFunction", F.elu, id="MyELU"),
    pytest.param("MyELU", {"alpha": 0.5}, "ELUFunction", lambda x: F.elu(x, alpha=0.5), id="MyELU(alpha=0.5)"),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("name", "kwargs", "function", "reference"), CASES)
def test_activation(name: str, kwargs: dict[str, float], function: str,
                    reference: Callable[[torch.Tensor], torch.Tensor], dtype: torch.dtype) -> None:
    """Выход и градиент модуля совпадают с PyTorch."""
    check_activation(getattr(activations, name)(**kwargs), function, reference, dtype)
