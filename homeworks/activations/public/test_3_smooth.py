"""Открытые тесты: GELU, SiLU и Softplus (значения и градиент против torch.nn.functional)."""

from __future__ import annotations

from collections.abc import Callable

import activations
import pytest
import torch
import torch.nn.functional as F
from public_checks import check_activation

STEP = "GELU, SiLU и Softplus"

CASES = [
    pytest.param("MyGELU", {}, "GELUFunction", F.gelu, id="MyGELU"),
    pytest.param("MySiLU", {}, "SiLUFunction", F.silu, id="MySiLU"),
    pytest.param("MySoftplus", {}, "SoftplusFunction", F.softplus, id="MySoftplus"),
    pytest.param("MySoftplus", {"beta": 2.0, "threshold": 10.0}, "SoftplusFunction", lambda x: F.softplus(x, beta=2.0, threshold=10.0),
                 id="MySoftplus(beta=2.0, threshold=10.0)"),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("name", "kwargs", "function", "reference"), CASES)
def test_activation(name: str, kwargs: dict[str, float], function: str,
                    reference: Callable[[torch.Tensor], torch.Tensor], dtype: torch.dtype) -> None:
    """Выход и градиент модуля совпадают с PyTorch."""
    check_activation(getattr(activations, name)(**kwargs), function, reference, dtype)
