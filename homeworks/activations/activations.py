"""Домашнее задание «activations»: функции активации с ручным backward.

Каждая функция активации состоит из двух частей:

* ``<Имя>Function`` — наследник ``torch.autograd.Function``. В ``forward`` вы вычисляете
  значение из элементарных операций над тензорами и сохраняете в ``ctx`` всё, что нужно для
  производной; в ``backward`` по градиенту выхода ``grad_output`` (dL/dy) возвращаете градиент
  входа dL/dx = dL/dy * dy/dx (поэлементно). Для аргументов-чисел (наклон, alpha, beta, порог)
  ``backward`` возвращает ``None``.
* ``My<Имя>`` — модуль ``torch.nn.Module`` с теми же параметрами и значениями по умолчанию,
  что у одноимённого модуля ``torch.nn``; он уже написан и просто вызывает ``Function.apply``.

Правила (их проверяет автоматический грейдер, см. README.md):

* нельзя вызывать готовые функции активации — ни в ``forward``, ни в ``backward``:
  ``torch.relu``, ``F.leaky_relu``, ``torch.sigmoid``, ``torch.tanh``, ``F.elu``, ``F.gelu``,
  ``F.silu``, ``F.softplus``, ``torch.special.expit``, ``F.logsigmoid``, ``F.hardtanh``,
  ``torch.softmax``, ``torch.logaddexp``, ``torch.special.ndtr`` и т. п.;
* можно: арифметику, сравнения, ``torch.where``, ``abs``, ``clamp``, ``maximum``/``minimum``,
  ``exp``, ``expm1``, ``log``, ``log1p``, ``sqrt``, ``erf``, ``erfc``;
* нельзя пользоваться автоматическим дифференцированием (``torch.autograd.grad``,
  ``.backward()``, ``torch.enable_grad``): производную пишете вы;
* ответ должен быть конечным и точным при x = ±100 и ±1000 в float32 и float64
  (например, «наивное» ``log(1 + exp(x))`` переполняется уже при x ≈ 89 в float32);
  промежуточные значения тоже: ``inf``/``nan`` в ветке, которую ``torch.where`` потом
  отбрасывает, — тоже ошибка;
* выход имеет ту же форму и тот же dtype, что и вход; вход не изменяется (никаких in-place
  операций над ``x``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "ELUFunction",
    "GELUFunction",
    "LeakyReLUFunction",
    "MyELU",
    "MyGELU",
    "MyLeakyReLU",
    "MyReLU",
    "MySigmoid",
    "MySiLU",
    "MySoftplus",
    "MyTanh",
    "ReLUFunction",
    "SiLUFunction",
    "SigmoidFunction",
    "SoftplusFunction",
    "TanhFunction",
]

_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def stable_sigmoid(x: Tensor) -> Tensor:
    """Численно устойчивая сигмоида 1 / (1 + exp(-x)) из элементарных операций.

    Подсказка: exp от большого положительного аргумента переполняется, а exp(-|x|) — никогда.
    Этой функцией можно пользоваться в других заданиях (SiLU, Softplus).
    """
    ### BEGIN SOLUTION
    z = torch.exp(-torch.abs(x))  # z из (0, 1]: переполнения нет
    return torch.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))
    ### END SOLUTION


class ReLUFunction(torch.autograd.Function):
    """ReLU(x) = max(x, 0); производная: 1 при x > 0, иначе 0 (в нуле берём 0, как PyTorch)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        """Вычисляет ReLU(x) и сохраняет в ``ctx`` то, что нужно для backward."""
        ### BEGIN SOLUTION
        ctx.save_for_backward(x)
        return torch.where(x > 0, x, torch.zeros_like(x))
        ### END SOLUTION

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> Tensor:
        """Возвращает dL/dx по dL/dy = ``grad_output``."""
        ### BEGIN SOLUTION
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, grad_output, torch.zeros_like(grad_output))
        ### END SOLUTION


class LeakyReLUFunction(torch.autograd.Function):
    """LeakyReLU(x) = x при x > 0, иначе negative_slope * x (в нуле производная = negative_slope)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, negative_slope: float) -> Tensor:
        """Вычисляет LeakyReLU(x) с наклоном ``negative_slope`` на отрицательной полуоси."""
        ### BEGIN SOLUTION
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return torch.where(x > 0, x, x * negative_slope)
        ### END SOLUTION

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None]:
        """Возвращает (dL/dx, None): параметр-число градиента не получает."""
        ### BEGIN SOLUTION
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, grad_output, grad_output * ctx.negative_slope), None
        ### END SOLUTION


class SigmoidFunction(torch.autograd.Function):
    """Sigmoid(x) = 1 / (1 + exp(-x)); производная: s * (1 - s), где s = Sigmoid(x)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        """Вычисляет сигмоиду, устойчиво при больших |x|."""
        ### BEGIN SOLUTION
        s = stable_sigmoid(x)
        ctx.save_for_backward(s)
        return s
        ### END SOLUTION

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> Tensor:
        """Возвращает dL/dx по dL/dy = ``grad_output``."""
        ### BEGIN SOLUTION
        (s,) = ctx.saved_tensors
        return grad_output * s * (1.0 - s)
        ### END SOLUTION


class TanhFunction(torch.autograd.Function):
    """Tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x)); производная: 1 - tanh(x)^2."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        """Вычисляет tanh, устойчиво при больших |x| и точно около нуля."""
        ### BEGIN SOLUTION
        # tanh(|x|) = (1 - e^{-2|x|}) / (1 + e^{-2|x|}) = -expm1(-2|x|) / (2 + expm1(-2|x|)):
        # показатель <= 0 (переполнения нет), а expm1 сохраняет точность при малых |x|.
        m = torch.expm1(-2.0 * torch.abs(x))
        t = -m / (2.0 + m)
        y = torch.where(x < 0, -t, t)
        ctx.save_for_backward(y)
        return y
        ### END SOLUTION

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> Tensor:
        """Возвращает dL/dx по dL/dy = ``grad_output``."""
        ### BEGIN SOLUTION
        (y,) = ctx.saved_tensors
        return grad_output * (1.0 - y * y)
        ### END SOLUTION


class ELUFunction(torch.autograd.Function):
    """ELU(x) = x при x > 0, иначе alpha * (exp(x) - 1); производная: 1 или alpha * exp(x)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, alpha: float) -> Tensor:
        """Вычисляет ELU(x); exp не должен переполняться при больших положительных x."""
        ### BEGIN SOLUTION
        negative = torch.clamp(x, max=0.0)  # exp берём только от аргументов <= 0
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return torch.where(x > 0, x, alpha * torch.expm1(negative))
        ### END SOLUTION

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None]:
        """Возвращает (dL/dx, None); в нуле производная равна alpha (как в PyTorch)."""
        ### BEGIN SOLUTION
        (x,) = ctx.saved_tensors
        negative = torch.clamp(x, max=0.0)
        return torch.where(x > 0, grad_output, grad_output * ctx.alpha * torch.exp(negative)), None
        ### END SOLUTION


class GELUFunction(torch.autograd.Function):
    """Точная GELU: GELU(x) = x * Phi(x), Phi(x) = (1 + erf(x / sqrt(2))) / 2 — функция
    распределения N(0, 1); производная: Phi(x) + x * phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        """Вычисляет точную (не tanh-приближённую) GELU."""
        ### BEGIN SOLUTION
        # Phi(x) = erfc(-x / sqrt 2) / 2: нет потери точности в 1 + erf(...) при x << 0.
        cdf = 0.5 * torch.erfc(-x * _INV_SQRT_2)
        ctx.save_for_backward(x, cdf)
        return x * cdf
        ### END SOLUTION

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> Tensor:
        """Возвращает dL/dx по dL/dy = ``grad_output``."""
        ### BEGIN SOLUTION
        x, cdf = ctx.saved_tensors
        pdf = torch.exp(-0.5 * x * x) * _INV_SQRT_2PI
        return grad_output * (cdf + x * pdf)
        ### END SOLUTION


class SiLUFunction(torch.autograd.Function):
    """SiLU(x) = x * sigmoid(x); производная: s * (1 + x * (1 - s)), s = sigmoid(x)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        """Вычисляет SiLU (она же swish)."""
        ### BEGIN SOLUTION
        s = stable_sigmoid(x)
        ctx.save_for_backward(x, s)
        return x * s
        ### END SOLUTION

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> Tensor:
        """Возвращает dL/dx по dL/dy = ``grad_output``."""
        ### BEGIN SOLUTION
        x, s = ctx.saved_tensors
        return grad_output * s * (1.0 + x * (1.0 - s))
        ### END SOLUTION


class SoftplusFunction(torch.autograd.Function):
    """Softplus(x) = log(1 + exp(beta * x)) / beta; при beta * x > threshold — просто x
    (как в ``torch.nn.Softplus``). Производная: sigmoid(beta * x), а выше порога — 1.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, beta: float, threshold: float) -> Tensor:
        """Вычисляет Softplus без переполнения exp при больших beta * x."""
        ### BEGIN SOLUTION
        z = x * beta
        # log(1 + e^z) = max(z, 0) + log1p(e^{-|z|}): показатель экспоненты всегда <= 0.
        smooth = (torch.clamp(z, min=0.0) + torch.log1p(torch.exp(-torch.abs(z)))) / beta
        ctx.save_for_backward(z)
        ctx.threshold = threshold
        return torch.where(z > threshold, x, smooth)
        ### END SOLUTION

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None, None]:
        """Возвращает (dL/dx, None, None)."""
        ### BEGIN SOLUTION
        (z,) = ctx.saved_tensors
        return torch.where(z > ctx.threshold, grad_output, grad_output * stable_sigmoid(z)), None, None
        ### END SOLUTION


class MyReLU(nn.Module):
    """Аналог ``torch.nn.ReLU()``."""

    def forward(self, x: Tensor) -> Tensor:
        """Применяет ReLU поэлементно."""
        return ReLUFunction.apply(x)


class MyLeakyReLU(nn.Module):
    """Аналог ``torch.nn.LeakyReLU(negative_slope=0.01)``."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        """Применяет LeakyReLU поэлементно."""
        return LeakyReLUFunction.apply(x, self.negative_slope)

    def extra_repr(self) -> str:
        """Параметры модуля в его текстовом представлении."""
        return f"negative_slope={self.negative_slope}"


class MySigmoid(nn.Module):
    """Аналог ``torch.nn.Sigmoid()``."""

    def forward(self, x: Tensor) -> Tensor:
        """Применяет сигмоиду поэлементно."""
        return SigmoidFunction.apply(x)


class MyTanh(nn.Module):
    """Аналог ``torch.nn.Tanh()``."""

    def forward(self, x: Tensor) -> Tensor:
        """Применяет tanh поэлементно."""
        return TanhFunction.apply(x)


class MyELU(nn.Module):
    """Аналог ``torch.nn.ELU(alpha=1.0)``."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        """Применяет ELU поэлементно."""
        return ELUFunction.apply(x, self.alpha)

    def extra_repr(self) -> str:
        """Параметры модуля в его текстовом представлении."""
        return f"alpha={self.alpha}"


class MyGELU(nn.Module):
    """Аналог ``torch.nn.GELU()`` (точная формула через erf, ``approximate='none'``)."""

    def forward(self, x: Tensor) -> Tensor:
        """Применяет GELU поэлементно."""
        return GELUFunction.apply(x)


class MySiLU(nn.Module):
    """Аналог ``torch.nn.SiLU()``."""

    def forward(self, x: Tensor) -> Tensor:
        """Применяет SiLU поэлементно."""
        return SiLUFunction.apply(x)


class MySoftplus(nn.Module):
    """Аналог ``torch.nn.Softplus(beta=1.0, threshold=20.0)``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, x: Tensor) -> Tensor:
        """Применяет Softplus поэлементно."""
        return SoftplusFunction.apply(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        """Параметры модуля в его текстовом представлении."""
        return f"beta={self.beta}, threshold={self.threshold}"
