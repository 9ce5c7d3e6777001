"""Открытые тесты: MyMLP — слои, число параметров и прямой проход."""

from __future__ import annotations

import mlp
import torch
from torch import nn

STEP = "MyMLP: устройство и прямой проход"


def test_structure() -> None:
    """input_layer, hidden_layers (nn.ModuleList), output_layer — MyLinear; 10 501 параметр."""
    model = mlp.MyMLP()
    assert isinstance(model.input_layer, mlp.MyLinear), "input_layer должен быть MyLinear"
    assert isinstance(model.hidden_layers, nn.ModuleList), "hidden_layers должен быть nn.ModuleList"
    assert len(model.hidden_layers) == 1, f"при hidden_dims=(100, 100) скрытый слой один, а не {len(model.hidden_layers)}"
    assert isinstance(model.output_layer, mlp.MyLinear), "output_layer должен быть MyLinear"
    total = sum(p.numel() for p in model.parameters())
    assert total == 10_501, f"число параметров {total}, а должно быть 10 501"
    deep = sum(p.numel() for p in mlp.MyMLP(2, 1, (100, 100, 100)).parameters())
    assert deep == 20_601, f"при hidden_dims=(100, 100, 100) параметров {deep}, а должно быть 20 601"


def test_forward_is_composition() -> None:
    """Выход = output_layer(act(hidden(act(input_layer(x))))), без активации на выходе."""
    torch.manual_seed(0)
    model = mlp.MyMLP(3, 2, (5, 4), activation_cls=nn.Tanh).double()
    x = torch.randn(8, 3, dtype=torch.float64)
    with torch.no_grad():
        h = torch.tanh(model.input_layer(x))
        for layer in model.hidden_layers:
            h = torch.tanh(layer(h))
        expected = model.output_layer(h)
        got = model(x)
    assert got.shape == (8, 2), f"форма выхода {tuple(got.shape)}, а должна быть (8, 2)"
    assert torch.allclose(got, expected, rtol=1e-10, atol=1e-12), "выход не равен композиции слоёв и активаций"
