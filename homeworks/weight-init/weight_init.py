"""Домашнее задание «weight-init»: инициализация весов с нуля.

Реализуйте функции с теми же сигнатурами и тем же смыслом, что у одноимённых функций
``torch.nn.init``. Пользоваться ``torch.nn.init`` (в любом виде: ``torch.nn.init.xxx``,
``nn.init.xxx``, ``from torch.nn import init``, приватные ``_calculate_*``) нельзя: грейдер
проверяет это и по исходному коду, и во время выполнения.

Соглашения (как в PyTorch):

* веса слоя лежат в формате ``(out, in, *kernel)``: у ``nn.Linear(in, out)`` вес имеет форму
  ``(out, in)``, у ``nn.Conv2d(in, out, (kh, kw))`` — ``(out, in, kh, kw)``;
* каждая функция с суффиксом ``_`` заполняет тензор **на месте** (in-place), **не записывая
  операцию в граф autograd** (``torch.no_grad()``), и возвращает этот же тензор;
* случайные функции принимают ``generator`` (``torch.Generator`` или ``None``) и берут
  случайность **только** из него (при ``None`` — из глобального генератора PyTorch):
  один и тот же seed генератора даёт один и тот же тензор.

Можно (и нужно) пользоваться методами тензора ``Tensor.uniform_``, ``Tensor.normal_``,
``Tensor.fill_`` и модулем ``math``.
"""

from __future__ import annotations

import math
import warnings

import torch

__all__ = [
    "calculate_gain",
    "fan_in_and_fan_out",
    "constant_",
    "uniform_",
    "normal_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
]

#: Нелинейности, для которых рекомендуемый коэффициент усиления (gain) равен 1.
LINEAR_NONLINEARITIES = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Рекомендуемый коэффициент усиления (gain) для нелинейности.

    Значения (как в ``torch.nn.init.calculate_gain``):

    * ``"linear"``, ``"conv1d"``, ``"conv2d"``, ``"conv3d"``, ``"conv_transpose1d"``,
      ``"conv_transpose2d"``, ``"conv_transpose3d"``, ``"sigmoid"`` -> ``1``;
    * ``"tanh"`` -> ``5/3``;
    * ``"relu"`` -> ``sqrt(2)``;
    * ``"leaky_relu"`` -> ``sqrt(2 / (1 + a^2))``, где ``a = param`` — отрицательный наклон
      (``0.01``, если ``param is None``); ``param`` должен быть числом ``int``/``float``, но не
      ``bool``, иначе ``ValueError``;
    * ``"selu"`` -> ``3/4``.

    Для любой другой строки бросает ``ValueError``.

    Аргументы:
        nonlinearity: имя нелинейности (как в ``torch.nn.functional``).
        param: параметр нелинейности (только для ``"leaky_relu"``).

    Возвращает:
        Коэффициент усиления ``float``.
    """
    ### BEGIN SOLUTION
    if nonlinearity in LINEAR_NONLINEARITIES:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            negative_slope = float(param)
        else:
            raise ValueError(f"negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1.0 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")
    ### END SOLUTION


def fan_in_and_fan_out(tensor: torch.Tensor) -> tuple[int, int]:
    """Число входов (fan_in) и выходов (fan_out) одного нейрона для тензора весов.

    Тензор имеет формат PyTorch ``(out, in, *kernel)``. Размер рецептивного поля —
    произведение размеров ``kernel`` (1 для линейного слоя), и

    * ``fan_in = in * receptive_field``,
    * ``fan_out = out * receptive_field``.

    Пример: вес ``nn.Conv2d(3, 16, kernel_size=5)`` имеет форму ``(16, 3, 5, 5)``, у него
    ``fan_in = 3 * 25 = 75``, ``fan_out = 16 * 25 = 400``.

    Аргументы:
        tensor: тензор весов размерности не меньше 2.

    Возвращает:
        Пара ``(fan_in, fan_out)`` из целых чисел.

    Исключения:
        ValueError: если размерность тензора меньше 2.
    """
    ### BEGIN SOLUTION
    if tensor.dim() < 2:
        raise ValueError(
            f"fan_in and fan_out need a tensor with at least 2 dimensions, got shape {tuple(tensor.shape)}"
        )
    receptive_field = 1
    for size in tensor.shape[2:]:
        receptive_field *= int(size)
    fan_in = int(tensor.shape[1]) * receptive_field
    fan_out = int(tensor.shape[0]) * receptive_field
    return fan_in, fan_out
    ### END SOLUTION


def constant_(tensor: torch.Tensor, val: float) -> torch.Tensor:
    """Заполнить ``tensor`` значением ``val`` на месте, не записывая операцию в граф.

    Случайности здесь нет, поэтому аргумента ``generator`` нет (как и у
    ``torch.nn.init.constant_``).

    Аргументы:
        tensor: тензор любой формы (может быть листом с ``requires_grad=True``).
        val: значение.

    Возвращает:
        Тот же объект ``tensor``.
    """
    ### BEGIN SOLUTION
    with torch.no_grad():
        tensor.fill_(val)
    return tensor
    ### END SOLUTION


def uniform_(
    tensor: torch.Tensor,
    a: float = 0.0,
    b: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Заполнить ``tensor`` выборкой из равномерного распределения ``U(a, b)`` на месте.

    Аргументы:
        tensor: тензор любой формы.
        a: нижняя граница.
        b: верхняя граница.
        generator: источник случайности (``None`` — глобальный генератор PyTorch).

    Возвращает:
        Тот же объект ``tensor``.
    """
    ### BEGIN SOLUTION
    with torch.no_grad():
        tensor.uniform_(a, b, generator=generator)
    return tensor
    ### END SOLUTION


def normal_(
    tensor: torch.Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Заполнить ``tensor`` выборкой из нормального распределения ``N(mean, std^2)`` на месте.

    Аргументы:
        tensor: тензор любой формы.
        mean: среднее.
        std: стандартное отклонение (не дисперсия!).
        generator: источник случайности (``None`` — глобальный генератор PyTorch).

    Возвращает:
        Тот же объект ``tensor``.
    """
    ### BEGIN SOLUTION
    with torch.no_grad():
        tensor.normal_(mean, std, generator=generator)
    return tensor
    ### END SOLUTION


def xavier_uniform_(
    tensor: torch.Tensor,
    gain: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Инициализация Ксавье (Glorot) из равномерного распределения, на месте.

    Дисперсия весов ``Var(W) = gain^2 * 2 / (fan_in + fan_out)`` — компромисс между
    сохранением дисперсии на прямом проходе (``fan_in``) и на обратном (``fan_out``).
    Равномерное распределение ``U(-bound, bound)`` имеет дисперсию ``bound^2 / 3``, отсюда
    ``bound = gain * sqrt(6 / (fan_in + fan_out))``.

    Аргументы:
        tensor: тензор весов размерности не меньше 2 в формате ``(out, in, *kernel)``.
        gain: коэффициент усиления (см. :func:`calculate_gain`).
        generator: источник случайности.

    Возвращает:
        Тот же объект ``tensor``.
    """
    ### BEGIN SOLUTION
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator=generator)
    ### END SOLUTION


def xavier_normal_(
    tensor: torch.Tensor,
    gain: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Инициализация Ксавье (Glorot) из нормального распределения, на месте.

    ``W ~ N(0, std^2)``, ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Аргументы:
        tensor: тензор весов размерности не меньше 2 в формате ``(out, in, *kernel)``.
        gain: коэффициент усиления (см. :func:`calculate_gain`).
        generator: источник случайности.

    Возвращает:
        Тот же объект ``tensor``.
    """
    ### BEGIN SOLUTION
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator=generator)
    ### END SOLUTION


def _kaiming_std(tensor: torch.Tensor, a: float, mode: str, nonlinearity: str) -> float:
    """Стандартное отклонение весов в инициализации Каймина (He): ``gain / sqrt(fan_mode)``."""
    ### BEGIN SOLUTION
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode!r} is not supported, use 'fan_in' or 'fan_out'")
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    gain = calculate_gain(nonlinearity, a)
    return gain / math.sqrt(fan)
    ### END SOLUTION


def kaiming_uniform_(
    tensor: torch.Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Инициализация Каймина (He) из равномерного распределения, на месте.

    ``W ~ U(-bound, bound)``, ``bound = gain * sqrt(3 / fan_mode)``, где
    ``gain = calculate_gain(nonlinearity, a)``, а ``fan_mode`` — ``fan_in`` (сохраняет
    дисперсию активаций на прямом проходе) или ``fan_out`` (сохраняет дисперсию градиентов на
    обратном). Для тензора без элементов ничего не делает (и предупреждает).

    Аргументы:
        tensor: тензор весов размерности не меньше 2 в формате ``(out, in, *kernel)``.
        a: отрицательный наклон leaky ReLU после слоя (для ``nonlinearity="leaky_relu"``).
        mode: ``"fan_in"`` или ``"fan_out"``; иначе ``ValueError``.
        nonlinearity: имя нелинейности (см. :func:`calculate_gain`).
        generator: источник случайности.

    Возвращает:
        Тот же объект ``tensor``.
    """
    ### BEGIN SOLUTION
    if tensor.numel() == 0:
        warnings.warn("initializing a zero-element tensor is a no-op", stacklevel=2)
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator=generator)
    ### END SOLUTION


def kaiming_normal_(
    tensor: torch.Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Инициализация Каймина (He) из нормального распределения, на месте.

    ``W ~ N(0, std^2)``, ``std = gain / sqrt(fan_mode)``, где
    ``gain = calculate_gain(nonlinearity, a)``. Для тензора без элементов ничего не делает
    (и предупреждает).

    Аргументы:
        tensor: тензор весов размерности не меньше 2 в формате ``(out, in, *kernel)``.
        a: отрицательный наклон leaky ReLU после слоя (для ``nonlinearity="leaky_relu"``).
        mode: ``"fan_in"`` или ``"fan_out"``; иначе ``ValueError``.
        nonlinearity: имя нелинейности (см. :func:`calculate_gain`).
        generator: источник случайности.

    Возвращает:
        Тот же объект ``tensor``.
    """
    ### BEGIN SOLUTION
    if tensor.numel() == 0:
        warnings.warn("initializing a zero-element tensor is a no-op", stacklevel=2)
        return tensor
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    return normal_(tensor, 0.0, std, generator=generator)
    ### END SOLUTION
