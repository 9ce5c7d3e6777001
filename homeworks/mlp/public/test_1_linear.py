"""Открытые тесты: слой MyLinear — параметры, прямой проход и ручной backward."""

from __future__ import annotations

import mlp
import pytest
import torch
import torch.nn.functional as F

STEP = "MyLinear: прямой и обратный проход"


def _layer(in_features: int, out_features: int, bias: bool) -> mlp.MyLinear:
    """Слой с известными весами float64 (значения выбирает тест, а не инициализация)."""
    layer = mlp.MyLinear(in_features, out_features, bias=bias).double()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(out_features, in_features, dtype=torch.float64, generator=generator))
        if bias:
            layer.bias.copy_(torch.randn(out_features, dtype=torch.float64, generator=generator))
    return layer


def test_parameters() -> None:
    """weight формы (out, in) и bias формы (out,) — параметры; при bias=False bias равен None."""
    layer = mlp.MyLinear(5, 3)
    assert isinstance(layer.weight, torch.nn.Parameter), "weight должен быть nn.Parameter"
    assert tuple(layer.weight.shape) == (3, 5), f"форма weight {tuple(layer.weight.shape)}, а должна быть (3, 5)"
    assert isinstance(layer.bias, torch.nn.Parameter), "bias должен быть nn.Parameter"
    assert tuple(layer.bias.shape) == (3,), f"форма bias {tuple(layer.bias.shape)}, а должна быть (3,)"
    assert mlp.MyLinear(5, 3, bias=False).bias is None, "при bias=False атрибут bias должен быть None"


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("batch", [1, 7])
def test_forward_and_backward(bias: bool, batch: int) -> None:
    """Выход — как у F.linear, градиенты по X, W, b — как у autograd для F.linear."""
    layer = _layer(4, 3, bias)
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(batch, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    out = layer(x)
    node = type(out.grad_fn).__name__ if out.grad_fn is not None else "нет"
    assert node.startswith("LinearFunction"), f"выход должен вычисляться через LinearFunction.apply (узел: {node})"
    weight = layer.weight.detach().clone().requires_grad_()
    shift = layer.bias.detach().clone().requires_grad_() if bias else None
    x_ref = x.detach().clone().requires_grad_()
    expected = F.linear(x_ref, weight, shift)
    assert out.shape == expected.shape, f"форма выхода {tuple(out.shape)}, а должна быть {tuple(expected.shape)}"
    assert torch.allclose(out, expected, rtol=1e-10, atol=1e-12), "выход не совпадает с X Wᵀ + b"
    upstream = torch.randn(expected.shape, dtype=torch.float64, generator=generator)
    out.backward(upstream)
    expected.backward(upstream)
    assert x.grad is not None and torch.allclose(x.grad, x_ref.grad, rtol=1e-10, atol=1e-12), "неверный градиент по X"
    assert layer.weight.grad is not None and torch.allclose(layer.weight.grad, weight.grad, rtol=1e-10, atol=1e-12), (
        "неверный градиент по W")
    if bias:
        assert layer.bias.grad is not None and torch.allclose(layer.bias.grad, shift.grad, rtol=1e-10, atol=1e-12), (
            "неверный градиент по b (b прибавляется к каждой строке Y)")
