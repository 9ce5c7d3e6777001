"""Открытые тесты: цикл обучения train и точность на цифрах."""

from __future__ import annotations

import math

import mlp
import torch

STEP = "train: обучение и точность на цифрах"


def test_train_returns_epoch_losses() -> None:
    """Список из epochs чисел float; на простых данных потеря падает."""
    torch.manual_seed(0)
    centers = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    labels = torch.arange(3).repeat_interleave(40)
    features = centers[labels] + 0.5 * torch.randn(120, 2)
    model = mlp.MyMLP(2, 3, (16,))
    losses = mlp.train(model, features, labels, epochs=5, batch_size=16, lr=0.1)
    assert isinstance(losses, list) and len(losses) == 5, "train должен вернуть список длины epochs"
    assert all(isinstance(v, float) and math.isfinite(v) for v in losses), "потери должны быть конечными float"
    assert losses[-1] < losses[0], f"потеря не уменьшилась: {losses}"


def test_digits_accuracy() -> None:
    """MyMLP(64, 10, (100, 100)) после train на цифрах: точность на отложенной выборке не ниже 0.9."""
    torch.manual_seed(0)
    X_train, X_test, y_train, y_test = mlp.load_digits_split()
    model = mlp.MyMLP(64, 10, mlp.DIGITS_HIDDEN_DIMS)
    mlp.train(model, X_train, y_train, epochs=mlp.DIGITS_EPOCHS, batch_size=mlp.DIGITS_BATCH_SIZE, lr=mlp.DIGITS_LR)
    score = mlp.accuracy(model, X_test, y_test)
    assert score >= 0.9, f"точность на отложенной выборке {score:.4f}, а нужно не меньше 0.9"
