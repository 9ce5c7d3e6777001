"""Открытые тесты: grad_sum_of_squares и linear_mse_loss."""

from __future__ import annotations

import mlp
import torch

STEP = "grad_sum_of_squares и linear_mse_loss"


def test_grad_sum_of_squares() -> None:
    """Ответ 2x; сам x, его requires_grad и x.grad не меняются; у ответа нет графа."""
    x = torch.tensor([[1.5, -2.0], [0.0, 3.0]], dtype=torch.float64, requires_grad=True)
    before = x.detach().clone()
    grad = mlp.grad_sum_of_squares(x)
    assert isinstance(grad, torch.Tensor), "ответ должен быть тензором"
    assert torch.allclose(grad, 2 * before), f"градиент sum(x²) должен быть 2x, получено {grad.tolist()}"
    assert torch.equal(x.detach(), before) and x.requires_grad, "x не должен меняться"
    assert x.grad is None, "x.grad не должен меняться"
    assert grad.grad_fn is None, "ответ должен быть без графа вычислений"


def test_linear_mse_loss() -> None:
    """L = mean((XWᵀ + b − Y)²) и dL/dW = 2/(N·out) · Rᵀ X, даже если в weight.grad лежал мусор."""
    generator = torch.Generator().manual_seed(3)
    layer = torch.nn.Linear(4, 2).double()
    x = torch.randn(6, 4, dtype=torch.float64, generator=generator)
    y = torch.randn(6, 2, dtype=torch.float64, generator=generator)
    with torch.no_grad():
        residual = x @ layer.weight.T + layer.bias - y
    loss_expected = (residual**2).mean()
    grad_expected = 2.0 / residual.numel() * residual.T @ x
    layer.weight.grad = 7.0 + torch.zeros_like(layer.weight)  # stale gradient
    for call in (1, 2):
        loss, grad = mlp.linear_mse_loss(layer, x, y)
        assert abs(float(loss) - float(loss_expected)) < 1e-10, (
            f"вызов {call}: потеря {float(loss):.6g}, а должна быть {float(loss_expected):.6g}")
        assert torch.allclose(grad, grad_expected, rtol=1e-8, atol=1e-10), (
            f"вызов {call}: неверный dL/dW (не должен зависеть от старого weight.grad)")
