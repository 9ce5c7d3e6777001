"""Эталонные решения упражнений семинара 1 «MLP на PyTorch и автоматическое дифференцирование».

Каждую функцию можно передать в проверку из ноутбука, например
``check_sigmoid(value_sigmoid)``. Решения для ``Value`` не импортируют класс из ноутбука:
новый узел создаётся как ``type(x)(значение, входы, имя_операции)`` — это тот же конструктор
``Value(data, _children, _op)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch


def value_sigmoid(x: Any) -> Any:
    """Упражнение 1: σ(x) одним узлом графа; локальная производная σ(1 − σ).

    Для устойчивости экспоненту берём только от неположительного числа: при x ≥ 0
    σ = 1 / (1 + e^(−x)), при x < 0 σ = e^x / (1 + e^x). Так e^(±1000) не переполняется.
    """
    if x.data >= 0:
        s = 1.0 / (1.0 + math.exp(-x.data))
    else:
        e = math.exp(x.data)
        s = e / (1.0 + e)
    out = type(x)(s, (x,), "sigmoid")

    def _backward(upstream: float) -> None:
        """Производная сигмоиды выражается через её значение."""
        x.grad += s * (1.0 - s) * upstream

    out._backward = _backward
    return out


def value_pow(base: Any, exponent: Any) -> Any:
    """Упражнение 2: base ** exponent, где exponent — Value или число (base > 0).

    ∂(a^b)/∂a = b · a^(b − 1), ∂(a^b)/∂b = a^b · ln a.
    """
    value_type = type(base)
    exponent = exponent if isinstance(exponent, value_type) else value_type(exponent)
    result = base.data**exponent.data
    out = value_type(result, (base, exponent), "**")

    def _backward(upstream: float) -> None:
        """Вклады в оба входа; += нужен, если base и exponent — один и тот же узел."""
        base.grad += exponent.data * base.data ** (exponent.data - 1) * upstream
        exponent.grad += result * math.log(base.data) * upstream

    out._backward = _backward
    return out


def pairwise_sq_distances(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Упражнение 3: D[i, j] = ‖A[i] − B[j]‖² без циклов.

    Broadcasting: A[:, None, :] формы (n, 1, d) минус B[None, :, :] формы (1, m, d) даёт
    (n, m, d); сумма квадратов по последней оси — матрица (n, m). Памяти нужно O(n·m·d);
    для больших матриц экономнее ‖a‖² + ‖b‖² − 2 A Bᵀ.
    """
    return ((A[:, None, :] - B[None, :, :]) ** 2).sum(dim=-1)


def softmax_cross_entropy_grad(Z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Упражнение 4: ∇_Z средней кросс-энтропии = (softmax(Z) − onehot(t)) / N, без autograd.

    Softmax устойчив: из каждой строки вычитаем её максимум (результат от этого не меняется,
    а экспоненты не переполняются).
    """
    shifted = Z - Z.max(dim=1, keepdim=True).values
    probs = shifted.exp() / shifted.exp().sum(dim=1, keepdim=True)
    onehot = torch.zeros_like(Z)
    onehot[torch.arange(Z.shape[0]), t] = 1.0
    return (probs - onehot) / Z.shape[0]


def jacobian(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Упражнение 5: якобиан f в точке x формы (m, n), по строке за обратный проход.

    Строка i — градиент y_i по x: reverse mode за один проход даёт ровно его.
    x не меняем: работаем с копией, которой включаем requires_grad.
    """
    point = x.detach().clone().requires_grad_(True)
    y = f(point).reshape(-1)
    rows = []
    for i in range(y.numel()):
        (row,) = torch.autograd.grad(y[i], point, retain_graph=True)
        rows.append(row.reshape(-1))
    return torch.stack(rows)


def linear_backward(
    X: torch.Tensor, W: torch.Tensor, b: torch.Tensor, G: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Упражнение 6: (∇_X L, ∇_W L, ∇_b L) для Y = XW + b по G = ∇_Y L, без autograd.

    Формы: X (N, d), W (d, k), b (k,), G (N, k) → dX = G Wᵀ (N, d), dW = Xᵀ G (d, k),
    db = суммы G по столбцам (k,): b прибавлен к каждой из N строк.
    """
    return G @ W.T, X.T @ G, G.sum(dim=0)
