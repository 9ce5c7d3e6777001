"""Домашнее задание «mlp»: линейный слой с ручным backward и MLP на настоящих цифрах.

Что нужно реализовать (места помечены ``raise NotImplementedError``):

1. ``LinearFunction`` — ``torch.autograd.Function`` для ``Y = X W^T + b``: ``forward`` и
   написанный вручную ``backward`` (dL/dX, dL/dW, dL/db по правилам матричного
   дифференцирования с семинара).
2. ``MyLinear`` — слой ``nn.Module`` с параметрами ``weight`` и ``bias``, инициализированными
   как в ``nn.Linear``; его ``forward`` вызывает ``LinearFunction.apply``.
3. ``grad_sum_of_squares`` — градиент ``sum(x ** 2)``, полученный через autograd.
4. ``linear_mse_loss`` — MSE линейного слоя и её градиент по весам.
5. ``MyMLP`` — многослойный перцептрон из слоёв ``MyLinear``.
6. ``train`` — цикл обучения мини-батчевым SGD, написанный вручную (без ``torch.optim``).

Проверить себя на цифрах (``sklearn.datasets.load_digits``, ничего не скачивается)::

    python mlp.py --seeds 5

Скрипт обучает ``MyMLP`` несколько раз с разными сидами и печатает долю верных ответов на
отложенной выборке и время обучения.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

# Гиперпараметры обучения на цифрах: с ними грейдер вызывает ваш ``train``.
DIGITS_HIDDEN_DIMS: tuple[int, ...] = (100, 100)
DIGITS_EPOCHS = 20
DIGITS_BATCH_SIZE = 32
DIGITS_LR = 0.1


class LinearFunction(torch.autograd.Function):
    """Линейное преобразование ``Y = X W^T + b`` с вручную написанным ``backward``.

    Формы: ``X`` — ``(N, in_features)``, ``W`` — ``(out_features, in_features)``,
    ``b`` — ``(out_features,)`` или ``None``, ``Y`` — ``(N, out_features)``.
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
    ) -> torch.Tensor:
        """Вычисляет ``Y = X W^T + b`` и сохраняет в ``ctx`` всё, что понадобится в ``backward``.

        Аргументы:
            ctx: контекст, в который сохраняют тензоры (``ctx.save_for_backward``).
            x: входы формы ``(N, in_features)``.
            weight: веса формы ``(out_features, in_features)``.
            bias: сдвиг формы ``(out_features,)`` или ``None`` (слой без сдвига).

        Возвращает:
            Тензор ``Y`` формы ``(N, out_features)``.
        """
        ### BEGIN SOLUTION
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        output = x @ weight.T  # (N, in) @ (in, out) -> (N, out)
        if bias is not None:
            output = output + bias  # (out,) broadcast по строкам
        return output
        ### END SOLUTION

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad_output: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """По ``G = dL/dY`` формы ``(N, out_features)`` возвращает ``(dL/dX, dL/dW, dL/db)``.

        Формы ответов совпадают с формами соответствующих входов ``forward``; для слоя без
        сдвига третий элемент — ``None``. Пишите формулы сами: здесь нельзя вызывать autograd
        (``torch.autograd.grad``, ``.backward()``), ``F.linear`` или ``nn.Linear``.

        Аргументы:
            ctx: контекст с тензорами, сохранёнными в ``forward``.
            grad_output: градиент функции потерь по выходу ``Y``.

        Возвращает:
            Кортеж ``(grad_x, grad_weight, grad_bias)``.
        """
        ### BEGIN SOLUTION
        x, weight = ctx.saved_tensors
        grad_x = grad_output @ weight  # (N, out) @ (out, in) -> (N, in)
        grad_weight = grad_output.T @ x  # (out, N) @ (N, in) -> (out, in)
        # Сдвиг прибавляется к каждой строке Y, поэтому его градиент — сумма по батчу.
        grad_bias = grad_output.sum(dim=0) if ctx.has_bias else None  # (out,)
        return grad_x, grad_weight, grad_bias
        ### END SOLUTION


class MyLinear(nn.Module):
    """Полносвязный слой ``y = x W^T + b``, аналог ``nn.Linear`` на ``LinearFunction``.

    Атрибуты:
        weight: ``nn.Parameter`` формы ``(out_features, in_features)``.
        bias: ``nn.Parameter`` формы ``(out_features,)`` или ``None``, если ``bias=False``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        """Создаёт параметры и инициализирует их так же, как ``nn.Linear``.

        У ``nn.Linear`` и веса, и сдвиг равномерно распределены на отрезке
        ``[-1/sqrt(in_features), 1/sqrt(in_features)]``. Если ``bias=False``, атрибут
        ``bias`` должен существовать и быть равен ``None``
        (``self.register_parameter("bias", None)``).

        Аргументы:
            in_features: размер входа.
            out_features: размер выхода.
            bias: нужен ли сдвиг.
        """
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        ### BEGIN SOLUTION
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        else:
            self.register_parameter("bias", None)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Применяет слой к батчу ``x`` формы ``(N, in_features)`` через ``LinearFunction``.

        Аргументы:
            x: входы формы ``(N, in_features)``.

        Возвращает:
            Выход формы ``(N, out_features)``.
        """
        ### BEGIN SOLUTION
        return LinearFunction.apply(x, self.weight, self.bias)
        ### END SOLUTION

    def extra_repr(self) -> str:
        """Строка с размерами слоя для ``print(model)``."""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


def grad_sum_of_squares(x: torch.Tensor) -> torch.Tensor:
    """Возвращает градиент ``f(x) = sum(x ** 2)`` по ``x``, посчитанный через autograd.

    ``x`` может как требовать градиент, так и не требовать его; функция не меняет ни сам
    ``x``, ни ``x.grad``. Формулу ``2 x`` подставлять нельзя: градиент должен вычислить
    autograd (``torch.autograd.grad`` или ``.backward()``).

    Аргументы:
        x: тензор любой формы с плавающей точкой.

    Возвращает:
        Тензор той же формы, что и ``x``, без графа вычислений.
    """
    ### BEGIN SOLUTION
    leaf = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad((leaf**2).sum(), leaf)
    return grad
    ### END SOLUTION


def linear_mse_loss(
    layer: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Считает MSE линейного слоя и её градиент по ``layer.weight``.

    ``L = mean((layer(x) - y) ** 2)``, среднее по всем ``N * out_features`` элементам.
    Результат не должен зависеть от того, что лежало в ``layer.weight.grad`` до вызова
    (вызов дважды подряд даёт тот же ответ).

    Аргументы:
        layer: линейный слой (``MyLinear`` или ``nn.Linear``) с атрибутом ``weight``.
        x: входы формы ``(N, in_features)``.
        y: целевые значения формы ``(N, out_features)``.

    Возвращает:
        Пару ``(loss, weight_grad)``: скаляр-тензор ``L`` и ``dL/dW`` формы ``weight``.
    """
    ### BEGIN SOLUTION
    loss = ((layer(x) - y) ** 2).mean()
    (weight_grad,) = torch.autograd.grad(loss, layer.weight)
    return loss.detach(), weight_grad
    ### END SOLUTION


class MyMLP(nn.Module):
    """Многослойный перцептрон из слоёв ``MyLinear``.

    Схема: ``input_layer`` -> активация -> (слой из ``hidden_layers`` -> активация) * k
    -> ``output_layer``. После ``output_layer`` активации нет: модель возвращает логиты.

    Атрибуты:
        input_layer: ``MyLinear(input_dim, hidden_dims[0])``.
        hidden_layers: ``nn.ModuleList`` из ``MyLinear(hidden_dims[i], hidden_dims[i + 1])``;
            пустой, если размер скрытого слоя один.
        output_layer: ``MyLinear(hidden_dims[-1], output_dim)``.
    """

    def __init__(
        self,
        input_dim: int = 2,
        output_dim: int = 1,
        hidden_dims: Sequence[int] = (100, 100),
        activation_cls: type[nn.Module] = nn.ReLU,
    ) -> None:
        """Создаёт слои сети.

        Аргументы:
            input_dim: размер входа.
            output_dim: размер выхода.
            hidden_dims: размеры скрытых представлений (хотя бы один).
            activation_cls: класс активации, например ``nn.ReLU`` или ``nn.Tanh``.
        """
        super().__init__()
        hidden_dims = tuple(hidden_dims)
        if not hidden_dims:
            raise ValueError("hidden_dims должен содержать хотя бы один размер")
        ### BEGIN SOLUTION
        self.input_layer = MyLinear(input_dim, hidden_dims[0])
        self.hidden_layers = nn.ModuleList(
            MyLinear(d_in, d_out)
            for d_in, d_out in zip(hidden_dims[:-1], hidden_dims[1:], strict=True)
        )
        self.output_layer = MyLinear(hidden_dims[-1], output_dim)
        self.activation = activation_cls()
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Прямой проход: ``x`` формы ``(N, input_dim)`` -> логиты ``(N, output_dim)``.

        Аргументы:
            x: батч входов.

        Возвращает:
            Выход ``output_layer`` (без активации).
        """
        ### BEGIN SOLUTION
        h = self.activation(self.input_layer(x))
        for layer in self.hidden_layers:
            h = self.activation(layer(h))
        return self.output_layer(h)
        ### END SOLUTION


def train(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int = DIGITS_EPOCHS,
    batch_size: int = DIGITS_BATCH_SIZE,
    lr: float = DIGITS_LR,
) -> list[float]:
    """Обучает ``model`` классификации мини-батчевым SGD; оптимизатор пишется вручную.

    Каждую эпоху объекты перемешиваются (``torch.randperm``) и делятся на батчи по
    ``batch_size`` (последний может быть меньше). На батче: логиты ``model(X_batch)``,
    потеря — softmax + кросс-энтропия (``F.cross_entropy``), градиенты — ``backward()``, шаг
    ``p <- p - lr * p.grad`` для каждого параметра внутри ``torch.no_grad()``, после чего
    градиенты обнуляются. ``torch.optim`` использовать нельзя.

    Аргументы:
        model: модель, возвращающая логиты формы ``(N, C)``.
        X: признаки формы ``(N, D)``.
        y: метки классов формы ``(N,)`` типа ``torch.long``.
        epochs: число проходов по данным.
        batch_size: размер мини-батча.
        lr: шаг SGD.

    Возвращает:
        Список длины ``epochs`` из чисел ``float``: средняя по объектам потеря каждой эпохи
        (сумма ``loss.item() * len(batch)`` по батчам, делённая на ``N``).
    """
    ### BEGIN SOLUTION
    n = X.shape[0]
    epoch_losses: list[float] = []
    for _ in range(epochs):
        order = torch.randperm(n)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            loss = F.cross_entropy(model(X[idx]), y[idx])
            model.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                for param in model.parameters():
                    if param.grad is not None:
                        param -= lr * param.grad
            total += loss.item() * len(idx)
        epoch_losses.append(total / n)
    model.zero_grad(set_to_none=True)
    return epoch_losses
    ### END SOLUTION


def load_digits_split(
    test_size: float = 0.25, random_state: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Загружает ``load_digits`` (1797 картинок 8x8) и делит их стратифицированно.

    Признаки стандартизуются средним и стандартным отклонением обучающей части (пиксели,
    постоянные на ней, только центрируются): с сырыми яркостями 0..16 SGD с тем же шагом
    заметно менее устойчив. Разбиение фиксировано (``random_state``), так что у всех одна и
    та же отложенная выборка.

    Аргументы:
        test_size: доля отложенной выборки.
        random_state: сид разбиения.

    Возвращает:
        ``(X_train, X_test, y_train, y_test)``: признаки ``float32``, метки ``long``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data,
        digits.target,
        test_size=test_size,
        stratify=digits.target,
        random_state=random_state,
    )
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std[std == 0] = 1.0
    return (
        torch.as_tensor((X_train - mean) / std, dtype=torch.float32),
        torch.as_tensor((X_test - mean) / std, dtype=torch.float32),
        torch.as_tensor(y_train, dtype=torch.long),
        torch.as_tensor(y_test, dtype=torch.long),
    )


@torch.no_grad()
def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Доля объектов, у которых ``argmax`` логитов совпал с меткой.

    Аргументы:
        model: классификатор, возвращающий логиты ``(N, C)``.
        X: признаки ``(N, D)``.
        y: метки ``(N,)``.

    Возвращает:
        Число от 0 до 1.
    """
    return (model(X).argmax(dim=1) == y).float().mean().item()


def run_digits(seed: int) -> tuple[float, float]:
    """Обучает ``MyMLP`` на цифрах с сидом ``seed`` и гиперпараметрами ``DIGITS_*``.

    Сид задаёт инициализацию весов и порядок батчей; разбиение данных от него не зависит.

    Аргументы:
        seed: сид ``torch.manual_seed``.

    Возвращает:
        ``(accuracy, seconds)``: точность на отложенной выборке и время вызова ``train``.
    """
    X_train, X_test, y_train, y_test = load_digits_split()
    torch.manual_seed(seed)
    model = MyMLP(X_train.shape[1], 10, DIGITS_HIDDEN_DIMS)
    start = time.perf_counter()
    train(
        model, X_train, y_train, epochs=DIGITS_EPOCHS, batch_size=DIGITS_BATCH_SIZE, lr=DIGITS_LR
    )
    seconds = time.perf_counter() - start
    return accuracy(model, X_test, y_test), seconds


def main(argv: Sequence[str] | None = None) -> int:
    """Печатает точность и время обучения на цифрах для нескольких сидов.

    Аргументы:
        argv: аргументы командной строки (по умолчанию ``sys.argv[1:]``).

    Возвращает:
        Код выхода: 0.
    """
    parser = argparse.ArgumentParser(description="MyMLP на load_digits: точность и время.")
    parser.add_argument("--seeds", type=int, default=5, help="сколько сидов (0, 1, ...)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch.set_num_threads (по умолчанию 1: матрицы маленькие, потоки только мешают); "
        "0 = не менять",
    )
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds должно быть не меньше 1")
    if args.threads < 0:
        parser.error("--threads должно быть неотрицательным")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, потоков: {torch.get_num_threads()}, "
        f"hidden_dims={DIGITS_HIDDEN_DIMS}, epochs={DIGITS_EPOCHS}, "
        f"batch_size={DIGITS_BATCH_SIZE}, lr={DIGITS_LR}"
    )
    accuracies: list[float] = []
    times: list[float] = []
    for seed in range(args.seeds):
        acc, seconds = run_digits(seed)
        accuracies.append(acc)
        times.append(seconds)
        print(f"seed={seed}: accuracy={acc:.4f}, train time={seconds:.2f} s")
    print(
        f"accuracy: min={min(accuracies):.4f}, mean={statistics.fmean(accuracies):.4f}, "
        f"max={max(accuracies):.4f}; train time: max={max(times):.2f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
