"""Grader of the ``mlp`` homework (run by ``homeworks/grade.py``, not by ``make test``).

Fifteen tests, in units of 1/20 point (total exactly 1.0):

* ``MyLinear``: parameters and their shapes, ``nn.Linear``-like initialisation, forward
  equal to ``F.linear`` (float64 to 1e-10, float32 to 1e-5), the output produced by the
  student's ``LinearFunction``;
* ``LinearFunction.backward``: ``torch.autograd.gradcheck`` in float64 with a bias and a
  batch (a bias gradient averaged instead of summed fails here), without a bias, and with a
  batch of one; no ``F.linear``/``nn.Linear`` in the layer and no autograd in the backward
  (AST check with :func:`grading.calls_in`);
* ``grad_sum_of_squares``: the value ``2 x``, computed by the autograd engine (a saved-tensor
  hook sees the backward pass use what the forward saved), input left untouched;
* ``linear_mse_loss``: loss and weight gradient against the closed form, independent of a
  stale ``weight.grad``;
* ``MyMLP``: attributes, wiring of the layer sizes, parameter counts (10,501 / 20,601 / 30,701),
  forward equal to the composition of the layers and activations;
* ``train``: the exact SGD update ``p <- p - lr * grad`` with gradients reset between steps,
  no ``torch.optim``; every epoch a fresh shuffle split into batches of ``batch_size``; and
  the student's ``MyMLP`` + ``train`` on ``load_digits`` reaching >= 0.93 held-out accuracy
  (the reference reaches 0.96-0.98, see the statement). The training runs a fixed number of
  epochs, so a loop that never updates fails after the same ~1-3 s as a correct one.

Messages are in Russian: students read them.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from grading import calls_in
from torch import nn
from torch.autograd.gradcheck import GradcheckError

UNIT = 1.0 / 20

# Hyper-parameters of the digits test; the statement (README.md) names the same values.
DIGITS_HIDDEN_DIMS = (100, 100)
DIGITS_EPOCHS = 20
DIGITS_BATCH_SIZE = 32
DIGITS_LR = 0.1
DIGITS_SEED = 0
DIGITS_THRESHOLD = 0.93

# Calls that must not appear in the layer (any of its methods) or in LinearFunction.
FORBIDDEN_LINEAR = frozenset({"linear", "Linear", "LazyLinear", "Bilinear"})
# Calls that would let autograd compute what the hand-written backward must compute.
FORBIDDEN_AUTOGRAD = frozenset(
    {"backward", "grad", "vjp", "jvp", "jacobian", "hessian", "jacrev", "jacfwd",
     "enable_grad", "set_grad_enabled", "gradcheck", "functional_call"}
)


def get(submission: Any, name: str) -> Any:
    """An attribute of the student's module, or a clear failure if it is missing."""
    value = getattr(submission, name, None)
    assert value is not None, f"в mlp.py нет {name}"
    return value


def generator(seed: int = 20260119) -> torch.Generator:
    """A seeded CPU generator for test data (the global RNG is left to the student)."""
    return torch.Generator().manual_seed(seed)


def close(actual: Any, expected: torch.Tensor, tol: float, what: str) -> None:
    """``actual`` is a tensor of ``expected``'s shape, equal within ``tol`` (abs and rel)."""
    assert isinstance(actual, torch.Tensor), f"{what}: ожидался torch.Tensor, получен {type(actual).__name__}"
    assert tuple(actual.shape) == tuple(expected.shape), (
        f"{what}: форма {tuple(actual.shape)} вместо {tuple(expected.shape)}"
    )
    actual = actual.detach().to(expected.dtype)
    error = (actual - expected).abs().max().item() if expected.numel() else 0.0
    scale = max(1.0, expected.abs().max().item() if expected.numel() else 0.0)
    assert error <= tol * scale, f"{what}: максимальное расхождение {error:.3g} (допуск {tol * scale:.3g})"


def make_layer(submission: Any, in_features: int, out_features: int, bias: bool = True,
               dtype: torch.dtype = torch.float64) -> nn.Module:
    """The student's ``MyLinear`` converted to ``dtype``."""
    layer = get(submission, "MyLinear")(in_features, out_features, bias=bias)
    assert isinstance(layer, nn.Module), "MyLinear должен наследоваться от torch.nn.Module"
    return layer.to(dtype)


def run_gradcheck(submission: Any, n: int, in_features: int, out_features: int, bias: bool) -> None:
    """gradcheck of ``LinearFunction.apply`` w.r.t. X, W (and b) in float64."""
    function = get(submission, "LinearFunction")
    g = generator(n * 100 + in_features * 10 + out_features)
    x = torch.randn(n, in_features, dtype=torch.float64, generator=g).requires_grad_(True)
    weight = torch.randn(out_features, in_features, dtype=torch.float64, generator=g).requires_grad_(True)
    b = torch.randn(out_features, dtype=torch.float64, generator=g).requires_grad_(True) if bias else None
    what = f"LinearFunction (N={n}, in={in_features}, out={out_features}, bias={'да' if bias else 'нет'})"
    names = ["dL/dX", "dL/dW", "dL/db"]
    try:
        ok = torch.autograd.gradcheck(
            lambda x_, w_, b_=None: function.apply(x_, w_, b_),
            (x, weight, b) if bias else (x, weight),
            eps=1e-6, atol=1e-7, rtol=1e-5, raise_exception=True,
        )
    except GradcheckError as exc:
        text = str(exc).strip()
        first = text.splitlines()[0] if text else "GradcheckError"
        which = ""
        for index, name in enumerate(names):
            if f"respect to input {index}" in first:
                which = f" ({name} не совпадает с конечными разностями)"
        raise AssertionError(f"{what}: backward неверен{which}: {first}") from None
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AssertionError(f"{what}: ошибка при вызове forward/backward: {first}") from None
    assert ok, f"{what}: gradcheck не прошёл"


# --------------------------------------------------------------------------- MyLinear


@pytest.mark.points(UNIT)
def test_mylinear_parameters(submission: Any) -> None:
    """``weight`` (out, in) and ``bias`` (out,) are parameters; ``bias=False`` -> ``bias is None``."""
    cls = get(submission, "MyLinear")
    layer = cls(5, 3)
    assert isinstance(layer, nn.Module), "MyLinear должен наследоваться от torch.nn.Module"
    params = dict(layer.named_parameters())
    assert set(params) == {"weight", "bias"}, f"у MyLinear(5, 3) параметры {sorted(params)} вместо ['bias', 'weight']"
    assert isinstance(layer.weight, nn.Parameter), "weight должен быть nn.Parameter"
    assert isinstance(layer.bias, nn.Parameter), "bias должен быть nn.Parameter"
    assert tuple(layer.weight.shape) == (3, 5), f"форма weight у MyLinear(5, 3): {tuple(layer.weight.shape)} вместо (3, 5)"
    assert tuple(layer.bias.shape) == (3,), f"форма bias у MyLinear(5, 3): {tuple(layer.bias.shape)} вместо (3,)"
    assert layer.weight.dtype == torch.float32, f"dtype weight {layer.weight.dtype} вместо torch.float32"
    assert layer.weight.requires_grad and layer.bias.requires_grad, "параметры должны требовать градиент"
    no_bias = cls(5, 3, bias=False)
    assert hasattr(no_bias, "bias") and no_bias.bias is None, "у MyLinear(5, 3, bias=False) атрибут bias должен быть None"
    names = sorted(name for name, _ in no_bias.named_parameters())
    assert names == ["weight"], f"у MyLinear(5, 3, bias=False) параметры {names} вместо ['weight']"
    assert sum(p.numel() for p in cls(64, 10).parameters()) == 650, "у MyLinear(64, 10) должно быть 650 параметров"


@pytest.mark.points(UNIT)
def test_mylinear_init(submission: Any) -> None:
    """Weights and bias uniform on [-1/sqrt(in), 1/sqrt(in)], like ``nn.Linear``."""
    cls = get(submission, "MyLinear")
    torch.manual_seed(0)
    for in_features, out_features in ((400, 300), (16, 500)):
        layer = cls(in_features, out_features)
        bound = 1.0 / math.sqrt(in_features)
        for name, tensor in (("weight", layer.weight), ("bias", layer.bias)):
            values = tensor.detach().double().reshape(-1)
            what = f"MyLinear({in_features}, {out_features}).{name}"
            assert values.abs().max().item() <= bound * (1 + 1e-6), (
                f"{what}: значения выходят за ±1/sqrt(in_features) = ±{bound:.4g} "
                f"(максимум |x| = {values.abs().max().item():.4g})"
            )
            std, mean = values.std().item(), values.mean().item()
            expected_std = bound / math.sqrt(3.0)
            tolerance = 0.05 if values.numel() > 10_000 else 0.3
            assert abs(std / expected_std - 1) <= tolerance, (
                f"{what}: стандартное отклонение {std:.4g}, а у равномерного на ±{bound:.4g} "
                f"оно {expected_std:.4g}: инициализируйте как nn.Linear"
            )
            assert abs(mean) <= 6 * expected_std / math.sqrt(values.numel()), (
                f"{what}: среднее {mean:.4g} далеко от нуля"
            )
    first, second = cls(8, 8).weight.detach(), cls(8, 8).weight.detach()
    assert not torch.equal(first, second), "два новых слоя получили одинаковые веса: инициализация должна быть случайной"


@pytest.mark.points(2 * UNIT)
def test_mylinear_forward(submission: Any) -> None:
    """Forward equals ``F.linear`` on the same weights: float64 to 1e-10, float32 to 1e-5."""
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
        for n, in_features, out_features, bias in ((7, 5, 3, True), (7, 5, 3, False), (1, 6, 4, True),
                                                   (33, 64, 10, True)):
            torch.manual_seed(n + in_features)
            layer = make_layer(submission, in_features, out_features, bias, dtype)
            x = torch.randn(n, in_features, dtype=dtype, generator=generator(n))
            before = x.clone()
            y = layer(x)
            expected = F.linear(x, layer.weight.detach(), None if layer.bias is None else layer.bias.detach())
            what = (f"MyLinear({in_features}, {out_features}, bias={bias}) на входе ({n}, {in_features}), "
                    f"{str(dtype).replace('torch.', '')}")
            close(y, expected, tol, what)
            assert y.dtype == dtype, f"{what}: dtype выхода {y.dtype} вместо {dtype}"
            assert torch.equal(x, before), f"{what}: forward изменил входной тензор"


@pytest.mark.points(UNIT)
def test_mylinear_uses_linear_function(submission: Any) -> None:
    """The layer's output is produced by the student's ``LinearFunction`` (its own backward)."""
    function = get(submission, "LinearFunction")
    assert isinstance(function, type) and issubclass(function, torch.autograd.Function), (
        "LinearFunction должен наследоваться от torch.autograd.Function"
    )
    assert function.backward is not torch.autograd.Function.backward, "в LinearFunction не определён backward"
    layer = make_layer(submission, 4, 3)
    y = layer(torch.randn(5, 4, dtype=torch.float64, generator=generator()))
    assert isinstance(y, torch.Tensor) and y.grad_fn is not None, "выход MyLinear не связан с графом вычислений"
    seen, stack, found = set(), [y.grad_fn], False
    while stack and not found:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        found = getattr(type(node), "_forward_cls", None) is function
        stack.extend(next_node for next_node, _ in node.next_functions)
    assert found, (
        "MyLinear.forward должен вычислять выход через LinearFunction.apply, "
        f"а в графе нет LinearFunction (grad_fn выхода — {type(y.grad_fn).__name__})"
    )


# --------------------------------------------------------------------------- backward


@pytest.mark.points(2 * UNIT)
def test_backward_gradcheck(submission: Any) -> None:
    """gradcheck with a bias on batches of several rows, square and non-square weights."""
    run_gradcheck(submission, n=6, in_features=4, out_features=3, bias=True)
    run_gradcheck(submission, n=5, in_features=4, out_features=4, bias=True)


@pytest.mark.points(UNIT)
def test_backward_gradcheck_no_bias(submission: Any) -> None:
    """gradcheck without a bias (the backward returns ``None`` for it)."""
    run_gradcheck(submission, n=6, in_features=3, out_features=5, bias=False)


@pytest.mark.points(UNIT)
def test_backward_gradcheck_batch_of_one(submission: Any) -> None:
    """gradcheck on a batch of one row, with and without a bias."""
    run_gradcheck(submission, n=1, in_features=3, out_features=5, bias=True)
    run_gradcheck(submission, n=1, in_features=5, out_features=2, bias=False)


@pytest.mark.points(UNIT)
def test_backward_written_by_hand(submission: Any) -> None:
    """No ``F.linear``/``nn.Linear`` in the layer, no autograd inside the hand-written backward.

    The layer must work first (an empty stub has no forbidden calls, but earns nothing here):
    its parameter gradients for a known upstream gradient must match the closed form.
    """
    layer = make_layer(submission, 4, 3)
    x = torch.randn(5, 4, dtype=torch.float64, generator=generator(2))
    upstream = torch.randn(5, 3, dtype=torch.float64, generator=generator(3))
    layer(x).backward(upstream)
    close(layer.weight.grad, upstream.T @ x, 1e-10, "MyLinear: градиент по weight")
    close(layer.bias.grad, upstream.sum(dim=0), 1e-10, "MyLinear: градиент по bias")
    problems = []
    for qualname in ("LinearFunction.forward", "LinearFunction.backward", "MyLinear.__init__", "MyLinear.forward"):
        try:
            called = calls_in(submission, qualname)
        except KeyError:
            problems.append(f"не найден метод {qualname}")
            continue
        forbidden = set(FORBIDDEN_LINEAR)
        if qualname == "LinearFunction.backward":
            forbidden |= FORBIDDEN_AUTOGRAD
        hits = [name for name in called if name.rstrip("()").split(".")[-1] in forbidden]
        if hits:
            problems.append(f"в {qualname} вызвано {', '.join(sorted(set(hits)))}")
    assert not problems, "запрещено: " + "; ".join(problems)


# --------------------------------------------------------------------------- autograd tasks


@pytest.mark.points(UNIT)
def test_grad_sum_of_squares(submission: Any) -> None:
    """``2 x``, computed by the autograd engine; ``x`` and ``x.grad`` are left as they were."""
    function = get(submission, "grad_sum_of_squares")
    unpacked = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def unpack(tensor: torch.Tensor) -> torch.Tensor:
        unpacked.append(1)
        return tensor

    x = torch.randn(3, 4, dtype=torch.float64, generator=generator())
    before = x.clone()
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
            result = function(x)
    except RuntimeError as exc:
        if "saved tensor hooks" in str(exc):
            raise AssertionError("используйте torch.autograd.grad или .backward(), а не torch.func") from None
        raise
    close(result, 2 * before, 1e-12, "grad_sum_of_squares(x) для x без requires_grad")
    assert unpacked, "градиент должен вычислить autograd (torch.autograd.grad или .backward()), а не формула 2x"
    assert not result.requires_grad, "результат не должен требовать градиент (верните тензор без графа)"
    assert torch.equal(x, before) and not x.requires_grad and x.grad is None, (
        "grad_sum_of_squares изменила входной тензор x (значения, requires_grad или x.grad)"
    )

    leaf = torch.randn(5, dtype=torch.float64, generator=generator(1)).requires_grad_(True)
    stale = torch.full_like(leaf, 7.0)
    leaf.grad = stale.clone()
    result = function(leaf)
    close(result, 2 * leaf.detach(), 1e-12, "grad_sum_of_squares(x) для x с requires_grad=True")
    assert leaf.grad is not None and torch.equal(leaf.grad, stale), (
        "grad_sum_of_squares изменила x.grad у входного тензора"
    )


@pytest.mark.points(2 * UNIT)
def test_linear_mse_loss(submission: Any) -> None:
    """Loss and dL/dW against the closed form; a stale ``weight.grad`` changes nothing."""
    function = get(submission, "linear_mse_loss")
    g = generator(7)
    torch.manual_seed(7)
    layer = nn.Linear(5, 3).double()
    x = torch.randn(8, 5, dtype=torch.float64, generator=g)
    y = torch.randn(8, 3, dtype=torch.float64, generator=g)
    with torch.no_grad():
        residual = layer(x) - y
        expected_loss = (residual**2).mean()
        expected_grad = 2.0 / residual.numel() * residual.T @ x
    layer.weight.grad = torch.full_like(layer.weight, 100.0)
    for attempt in ("первый вызов (в weight.grad лежал мусор)", "второй вызов подряд"):
        result = function(layer, x, y)
        assert isinstance(result, tuple) and len(result) == 2, "linear_mse_loss должна вернуть пару (loss, weight_grad)"
        loss, weight_grad = result
        assert isinstance(loss, torch.Tensor) and loss.numel() == 1, "loss должен быть тензором из одного числа"
        close(loss.reshape(()), expected_loss, 1e-10, f"loss, {attempt}")
        close(weight_grad, expected_grad, 1e-10, f"weight_grad, {attempt}")


# --------------------------------------------------------------------------- MyMLP


@pytest.mark.points(2 * UNIT)
def test_mymlp_structure(submission: Any) -> None:
    """Attributes, layer sizes, ``ModuleList`` wiring and parameter counts."""
    mlp_cls, linear_cls = get(submission, "MyMLP"), get(submission, "MyLinear")

    def sizes(layer: Any, name: str) -> tuple[int, int]:
        assert isinstance(layer, linear_cls), f"{name} должен быть MyLinear, а не {type(layer).__name__}"
        return tuple(layer.weight.shape[::-1])  # (in, out)

    for kwargs, expected_count in (({}, 10_501), ({"hidden_dims": [100, 100, 100]}, 20_601),
                                   ({"hidden_dims": (100, 100, 100, 100)}, 30_701),
                                   ({"input_dim": 7, "output_dim": 4, "hidden_dims": (30, 20, 10)}, None),
                                   ({"input_dim": 64, "output_dim": 10, "hidden_dims": [16]}, None)):
        model = mlp_cls(**kwargs)
        what = f"MyMLP({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
        input_dim, output_dim = kwargs.get("input_dim", 2), kwargs.get("output_dim", 1)
        hidden = list(kwargs.get("hidden_dims", (100, 100)))
        assert isinstance(model, nn.Module), "MyMLP должен наследоваться от torch.nn.Module"
        for name in ("input_layer", "hidden_layers", "output_layer"):
            assert hasattr(model, name), f"{what}: нет атрибута {name}"
        assert isinstance(model.hidden_layers, nn.ModuleList), f"{what}: hidden_layers должен быть nn.ModuleList"
        assert sizes(model.input_layer, "input_layer") == (input_dim, hidden[0]), (
            f"{what}: input_layer {sizes(model.input_layer, 'input_layer')} (in, out) вместо {(input_dim, hidden[0])}"
        )
        got = [sizes(layer, f"hidden_layers[{i}]") for i, layer in enumerate(model.hidden_layers)]
        want = list(zip(hidden[:-1], hidden[1:], strict=True))
        assert got == want, f"{what}: размеры hidden_layers (in, out) {got} вместо {want}"
        assert sizes(model.output_layer, "output_layer") == (hidden[-1], output_dim), (
            f"{what}: output_layer {sizes(model.output_layer, 'output_layer')} (in, out) вместо {(hidden[-1], output_dim)}"
        )
        count = sum(p.numel() for p in model.parameters())
        if expected_count is None:
            dims = [input_dim, *hidden, output_dim]
            expected_count = sum(a * b + b for a, b in zip(dims[:-1], dims[1:], strict=True))
        assert count == expected_count, f"{what}: {count} параметров вместо {expected_count}"


@pytest.mark.points(UNIT)
def test_mymlp_forward(submission: Any) -> None:
    """Forward = input_layer -> act -> (hidden -> act)* -> output_layer, no act at the end."""
    mlp_cls = get(submission, "MyMLP")
    cases = ((7, 4, (30, 20, 10), nn.Tanh, torch.tanh), (5, 3, (16,), nn.ReLU, torch.relu),
             (2, 1, (8, 8), nn.ReLU, torch.relu))
    for input_dim, output_dim, hidden, activation_cls, activation in cases:
        torch.manual_seed(input_dim)
        model = mlp_cls(input_dim, output_dim, hidden, activation_cls).double()
        x = torch.randn(6, input_dim, dtype=torch.float64, generator=generator(input_dim))
        what = f"MyMLP({input_dim}, {output_dim}, {hidden}, {activation_cls.__name__})"
        with torch.no_grad():
            layers = [model.input_layer, *model.hidden_layers]
            h = x
            for layer in layers:
                h = activation(F.linear(h, layer.weight, layer.bias))
            expected = F.linear(h, model.output_layer.weight, model.output_layer.bias)
        close(model(x), expected, 1e-10, f"{what}: выход forward")


# --------------------------------------------------------------------------- train


def blobs(n_per_class: int = 30, seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Three Gaussian blobs in 4-D (float32), 3 * ``n_per_class`` distinct rows."""
    g = generator(seed)
    centers = torch.tensor([[2.0, 0.0, 0.0, 1.0], [-2.0, 1.0, 0.0, -1.0], [0.0, -2.0, 1.0, 0.0]])
    X = torch.cat([c + 0.7 * torch.randn(n_per_class, 4, generator=g) for c in centers])
    y = torch.arange(3).repeat_interleave(n_per_class)
    return X, y


def small_net(seed: int) -> nn.Module:
    """A torch-only classifier (independent of the student's MyLinear)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))


@pytest.fixture
def no_torch_optim(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any ``torch.optim`` optimizer fails to construct during the test."""

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("в train нельзя использовать torch.optim: шаг SGD пишется вручную")

    monkeypatch.setattr(torch.optim.Optimizer, "__init__", refuse)


def as_number(value: Any) -> float | None:
    """A finite float from a float/int or a one-element tensor; ``None`` otherwise."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


@pytest.mark.points(UNIT)
@pytest.mark.usefixtures("no_torch_optim")
def test_train_sgd_step(submission: Any) -> None:
    """Full-batch epochs reproduce ``p <- p - lr * grad`` exactly, grads reset between steps."""
    train = get(submission, "train")
    X, y = blobs()
    model = small_net(seed=11)
    lr = 0.5
    reference = small_net(seed=11)
    expected_losses = []
    for _ in range(2):
        reference.zero_grad()
        loss = F.cross_entropy(reference(X), y)
        loss.backward()
        expected_losses.append(loss.item())
        with torch.no_grad():
            for param in reference.parameters():
                param -= lr * param.grad
    losses = train(model, X.clone(), y.clone(), epochs=2, batch_size=len(X), lr=lr)
    assert isinstance(losses, list) and len(losses) == 2, (
        f"train(..., epochs=2) должна вернуть список из 2 потерь, а вернула {type(losses).__name__}"
        + (f" длины {len(losses)}" if isinstance(losses, list) else "")
    )
    for got, want in zip(losses, expected_losses, strict=True):
        assert as_number(got) is not None, f"потери эпох должны быть конечными числами (float): {losses}"
        got = as_number(got)
        assert abs(got - want) <= 1e-4 * max(1.0, abs(want)), (
            f"потери эпох при batch_size = N {[round(v, 5) for v in losses]} вместо "
            f"{[round(v, 5) for v in expected_losses]} (кросс-энтропия, среднее по объектам)"
        )
    for (name, got), want in zip(model.named_parameters(), reference.parameters(), strict=True):
        error = (got.detach() - want.detach()).abs().max().item()
        assert error <= 1e-5, (
            f"после 2 эпох полного батча параметр {name} отличается от p <- p - lr * grad на {error:.3g}: "
            "нет шага, неверный шаг или градиенты не обнуляются между шагами"
        )
    long_losses = train(small_net(seed=12), X.clone(), y.clone(), epochs=5, batch_size=16, lr=0.1)
    numbers = [as_number(v) for v in long_losses] if isinstance(long_losses, list) else []
    assert len(numbers) == 5 and None not in numbers and numbers[-1] < numbers[0], (
        f"за 5 эпох мини-батчевого SGD потеря не уменьшилась: {long_losses}"
    )


class BatchRecorder(nn.Module):
    """Wraps a model and records the rows of every forward call made with grad enabled."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.batches: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            self.batches.append(x.detach().clone())
        return self.inner(x)


@pytest.mark.points(UNIT)
@pytest.mark.usefixtures("no_torch_optim")
def test_train_batches(submission: Any) -> None:
    """Every epoch visits each object once, in batches of ``batch_size``, freshly shuffled."""
    train = get(submission, "train")
    X, y = blobs()
    n, batch_size, epochs = len(X), 16, 3
    per_epoch = math.ceil(n / batch_size)
    position = {tuple(row): i for i, row in enumerate(X.tolist())}
    assert len(position) == n, "grader error: the rows of the test data are not distinct"
    model = BatchRecorder(small_net(seed=5))
    train(model, X.clone(), y.clone(), epochs=epochs, batch_size=batch_size, lr=0.05)
    sizes = [len(b) for b in model.batches]
    assert len(sizes) == epochs * per_epoch, (
        f"N = {n}, batch_size = {batch_size}, epochs = {epochs}: ожидалось {epochs * per_epoch} "
        f"вызовов модели на батчах, а было {len(sizes)} (размеры {sizes[:12]}...)"
    )
    assert all(size <= batch_size for size in sizes), f"батчи больше batch_size = {batch_size}: {sizes}"
    orders = []
    for epoch in range(epochs):
        rows = torch.cat(model.batches[epoch * per_epoch : (epoch + 1) * per_epoch])
        order = [position.get(tuple(row), -1) for row in rows.tolist()]
        assert sorted(order) == list(range(n)), (
            f"эпоха {epoch + 1}: каждый объект должен попасть ровно в один батч"
        )
        orders.append(order)
    assert len({tuple(o) for o in orders}) == epochs, (
        "порядок объектов должен перемешиваться заново в каждой эпохе (torch.randperm)"
    )


def digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``load_digits``, stratified 75/25 split (random_state=0), standardised on the train part."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.25, stratify=digits.target, random_state=0
    )
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std[std == 0] = 1.0
    return (
        torch.as_tensor((X_train - mean) / std, dtype=torch.float32),
        torch.as_tensor((X_test - mean) / std, dtype=torch.float32),
        torch.as_tensor(y_train, dtype=torch.long),
        torch.as_tensor(y_test, dtype=torch.long),
    )


@pytest.mark.points(2 * UNIT)
@pytest.mark.timeout(60)
@pytest.mark.usefixtures("no_torch_optim")
def test_train_digits(submission: Any) -> None:
    """``MyMLP`` + ``train`` on ``load_digits`` reach >= 0.93 held-out accuracy."""
    mlp_cls, train = get(submission, "MyMLP"), get(submission, "train")
    torch.set_num_threads(1)
    X_train, X_test, y_train, y_test = digits_split()
    torch.manual_seed(DIGITS_SEED)
    model = mlp_cls(X_train.shape[1], 10, DIGITS_HIDDEN_DIMS)
    train(model, X_train.clone(), y_train.clone(), epochs=DIGITS_EPOCHS, batch_size=DIGITS_BATCH_SIZE,
          lr=DIGITS_LR)
    with torch.no_grad():
        logits = model(X_test)
    assert tuple(logits.shape) == (len(X_test), 10), f"форма логитов {tuple(logits.shape)} вместо {(len(X_test), 10)}"
    accuracy = (logits.argmax(dim=1) == y_test).float().mean().item()
    assert accuracy >= DIGITS_THRESHOLD, (
        f"точность на отложенной выборке load_digits {accuracy:.4f} < {DIGITS_THRESHOLD} "
        f"(MyMLP(64, 10, {DIGITS_HIDDEN_DIMS}), epochs={DIGITS_EPOCHS}, batch_size={DIGITS_BATCH_SIZE}, "
        f"lr={DIGITS_LR})"
    )
