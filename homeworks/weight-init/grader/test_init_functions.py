"""Grader of the ``weight-init`` homework: the initializers themselves (0.8 of 1.0 point).

Run by ``homeworks/grade.py weight-init SUBMISSION_DIR`` (not by ``make test``). Checks:

* gains exactly (``calculate_gain``) and its errors; fans for linear and conv shapes;
* each initializer on large tensors: fills in place, returns the same tensor, records nothing
  in autograd (works on a leaf with ``requires_grad=True``), std within 2 % of the theory
  (a fan_in/fan_out swap or a variance used as a std fails), bounds of the uniform ones, and
  the shape of the distribution (Kolmogorov-Smirnov distance of the standardised sample);
* randomness only from the given ``generator`` (same seed -> same tensor, the global RNG
  untouched), or from the global RNG when ``generator`` is ``None``;
* no use of ``torch.nn.init``: an AST check of the source and a run with every function of
  ``torch.nn.init`` replaced by one that fails.

Messages are in Russian: students read them.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.init
from grading import calls_in

#: 300 x 1000: fan_in = 1000, fan_out = 300 (a swap changes every Kaiming std by sqrt(10/3)).
LINEAR_SHAPE = (300, 1000)
#: A conv weight (out=128, in=64, 3x3): fan_in = 576, fan_out = 1152.
CONV_SHAPE = (128, 64, 3, 3)
STD_RTOL = 0.02
KS_MAX = 0.01
SQRT3 = math.sqrt(3.0)
RANDOM_INITS = ("uniform_", "normal_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_")
ALL_FUNCTIONS = ("calculate_gain", "fan_in_and_fan_out", "constant_", *RANDOM_INITS)


def gen(seed: int = 0) -> torch.Generator:
    """A fresh CPU generator with a fixed seed."""
    return torch.Generator().manual_seed(seed)


def blank(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A NaN-filled leaf that requires grad: an initializer must overwrite it under no_grad."""
    return torch.full(shape, float("nan"), dtype=dtype).requires_grad_(True)


def function(submission: Any, name: str) -> Callable[..., Any]:
    """The student's function ``name`` (a clear failure if it is missing)."""
    fn = getattr(submission, name, None)
    assert callable(fn), f"в weight_init.py нет функции {name}"
    return fn


def fill(submission: Any, name: str, tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    """Call the student's in-place initializer ``name`` and check the in-place contract."""
    shape, dtype = tuple(tensor.shape), tensor.dtype
    what = call_text(name, shape, args, kwargs)
    try:
        out = function(submission, name)(tensor, *args, **kwargs)
    except RuntimeError as exc:
        if "leaf Variable that requires grad" in str(exc):
            raise AssertionError(
                f"{what}: изменение на месте тензора с requires_grad=True попало в autograd; "
                "заполняйте тензор внутри torch.no_grad()"
            ) from None
        raise
    assert out is tensor, f"{what}: функция должна вернуть тот же тензор, который заполнила на месте"
    assert tuple(tensor.shape) == shape and tensor.dtype == dtype, f"{what}: изменились форма или dtype тензора"
    assert tensor.grad_fn is None, f"{what}: заполнение записано в граф autograd (grad_fn={tensor.grad_fn})"
    assert tensor.requires_grad, f"{what}: тензор перестал требовать градиент (requires_grad)"
    values = tensor.detach()
    assert torch.isfinite(values).all(), f"{what}: тензор заполнен не полностью (остались NaN) или есть inf"
    return values


def call_text(name: str, shape: tuple[int, ...], args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> str:
    """A call as text for messages, e.g. ``kaiming_normal_(тензор (300, 1000), mode='fan_out')``."""
    parts = [f"тензор {shape}"] + [repr(a) for a in args]
    parts += [f"{k}={v!r}" for k, v in (kwargs or {}).items() if k != "generator"]
    return f"{name}({', '.join(parts)})"


def ks_distance(values: torch.Tensor, kind: str) -> float:
    """Kolmogorov-Smirnov distance of the standardised sample to N(0, 1) or to U(-sqrt3, sqrt3)."""
    x = values.flatten().double()
    z, _ = torch.sort((x - x.mean()) / x.std())
    n = z.numel()
    if kind == "normal":
        cdf = torch.special.ndtr(z)
    else:
        cdf = ((z + SQRT3) / (2 * SQRT3)).clamp(0.0, 1.0)
    upper = torch.arange(1, n + 1, dtype=torch.float64) / n
    return float(torch.maximum(upper - cdf, cdf - (upper - 1.0 / n)).max())


def check_distribution(values: torch.Tensor, kind: str, std: float, what: str, mean: float = 0.0,
                       bound: tuple[float, float] | None = None) -> None:
    """Mean, std (within 2 %), shape of the distribution and, for uniform, the bounds."""
    sample_std = float(values.double().std())
    sample_mean = float(values.double().mean())
    assert abs(sample_std / std - 1.0) <= STD_RTOL, (
        f"{what}: стандартное отклонение {sample_std:.5g}, а по формуле должно быть {std:.5g} "
        f"(отличие {100 * abs(sample_std / std - 1):.1f} %, допустимо {100 * STD_RTOL:.0f} %)"
    )
    assert abs(sample_mean - mean) <= 0.01 * std + 1e-12, f"{what}: среднее {sample_mean:.4g} вместо {mean:.4g}"
    distance = ks_distance(values, kind)
    name = "нормальное" if kind == "normal" else "равномерное"
    assert distance <= KS_MAX, (
        f"{what}: распределение не похоже на {name} (расстояние Колмогорова-Смирнова {distance:.3f})"
    )
    if bound is not None:
        low, high = bound
        slack = 1e-6 * max(abs(low), abs(high), 1.0)
        assert float(values.min()) >= low - slack and float(values.max()) <= high + slack, (
            f"{what}: значения [{float(values.min()):.5g}, {float(values.max()):.5g}] "
            f"выходят за границы [{low:.5g}, {high:.5g}]"
        )
        width = high - low
        assert float(values.min()) <= low + 0.01 * width and float(values.max()) >= high - 0.01 * width, (
            f"{what}: значения [{float(values.min()):.5g}, {float(values.max()):.5g}] "
            f"не доходят до границ [{low:.5g}, {high:.5g}]"
        )


# --------------------------------------------------------------------------- gains and fans


@pytest.mark.points(0.05)
def test_calculate_gain_values(submission: Any) -> None:
    gain = function(submission, "calculate_gain")
    expected = {
        ("linear", None): 1.0,
        ("conv1d", None): 1.0,
        ("conv2d", None): 1.0,
        ("conv3d", None): 1.0,
        ("conv_transpose2d", None): 1.0,
        ("sigmoid", None): 1.0,
        ("tanh", None): 5.0 / 3.0,
        ("relu", None): math.sqrt(2.0),
        ("leaky_relu", None): math.sqrt(2.0 / (1.0 + 0.01**2)),
        ("leaky_relu", 0.2): math.sqrt(2.0 / (1.0 + 0.2**2)),
        ("leaky_relu", 0): math.sqrt(2.0),
        ("leaky_relu", 1): 1.0,
        ("selu", None): 0.75,
    }
    for (name, param), value in expected.items():
        got = gain(name) if param is None else gain(name, param)
        assert isinstance(got, (int, float)) and not isinstance(got, bool), (
            f"calculate_gain({name!r}) должна вернуть число, а вернула {type(got).__name__}"
        )
        assert math.isclose(got, value, rel_tol=1e-12, abs_tol=0.0), (
            f"calculate_gain({name!r}{'' if param is None else f', {param!r}'}) = {got!r}, ожидалось {value!r}"
        )


@pytest.mark.points(0.025)
def test_calculate_gain_errors(submission: Any) -> None:
    gain = function(submission, "calculate_gain")
    assert math.isclose(gain("relu"), math.sqrt(2.0)), "calculate_gain('relu') должна быть sqrt(2)"
    for args in (("softmax",), ("ReLU",), ("gelu",), ("leaky_relu", True), ("leaky_relu", "0.2")):
        with pytest.raises(ValueError):
            gain(*args)
            pytest.fail(f"calculate_gain{args!r} должна бросить ValueError")


@pytest.mark.points(0.025)
def test_fans_linear(submission: Any) -> None:
    fans = function(submission, "fan_in_and_fan_out")
    for shape, expected in (((300, 1000), (1000, 300)), ((10, 64), (64, 10)), ((1, 1), (1, 1))):
        got = fans(torch.empty(shape))
        assert tuple(got) == expected, (
            f"fan_in_and_fan_out(тензор {shape}) = {got}, ожидалось (fan_in, fan_out) = {expected} "
            "(вес nn.Linear(in, out) имеет форму (out, in))"
        )
        assert all(isinstance(v, int) for v in got), "fan_in и fan_out должны быть int"


@pytest.mark.points(0.05)
def test_fans_conv(submission: Any) -> None:
    fans = function(submission, "fan_in_and_fan_out")
    cases = {
        (16, 3, 5, 5): (75, 400),
        (8, 4, 3): (12, 24),
        (2, 3, 2, 3, 4): (72, 48),
        (128, 64, 3, 3): (576, 1152),
        (6, 1, 1, 7): (7, 42),
    }
    for shape, expected in cases.items():
        got = fans(torch.empty(shape))
        assert tuple(got) == expected, (
            f"fan_in_and_fan_out(тензор {shape}) = {got}, ожидалось {expected} "
            "(формат (out, in, *kernel): оба fan умножаются на размер ядра)"
        )
        assert all(isinstance(v, int) for v in got), "fan_in и fan_out должны быть int"
    with pytest.raises(ValueError):
        fans(torch.empty(5))
        pytest.fail("fan_in_and_fan_out для одномерного тензора должна бросить ValueError")


# --------------------------------------------------------------------------- basic fills


@pytest.mark.points(0.025)
def test_constant_(submission: Any) -> None:
    for shape, value in (((3, 4), 0.5), ((2, 3, 4), -1.25), ((7,), 0.0)):
        values = fill(submission, "constant_", blank(shape), value)
        assert torch.equal(values, torch.full(shape, value)), f"constant_(тензор {shape}, {value}) заполнила не тем значением"


@pytest.mark.points(0.05)
def test_uniform_(submission: Any) -> None:
    values = fill(submission, "uniform_", blank(LINEAR_SHAPE), -0.3, 0.7, generator=gen(1))
    check_distribution(values, "uniform", 1.0 / math.sqrt(12.0), "uniform_(a=-0.3, b=0.7)", mean=0.2, bound=(-0.3, 0.7))
    values = fill(submission, "uniform_", blank(LINEAR_SHAPE), generator=gen(2))
    check_distribution(values, "uniform", 1.0 / math.sqrt(12.0), "uniform_() (по умолчанию U(0, 1))", mean=0.5, bound=(0.0, 1.0))


@pytest.mark.points(0.05)
def test_normal_(submission: Any) -> None:
    values = fill(submission, "normal_", blank(LINEAR_SHAPE), -1.0, 2.5, generator=gen(3))
    check_distribution(values, "normal", 2.5, "normal_(mean=-1, std=2.5)", mean=-1.0)
    values = fill(submission, "normal_", blank(LINEAR_SHAPE), generator=gen(4))
    check_distribution(values, "normal", 1.0, "normal_() (по умолчанию N(0, 1))")


# --------------------------------------------------------------------------- Xavier and Kaiming


def xavier_std(fan_in: int, fan_out: int, gain: float = 1.0) -> float:
    """Theoretical std of Xavier initialization."""
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


@pytest.mark.points(0.075)
def test_xavier_uniform_(submission: Any) -> None:
    for shape, fans, gain, seed in ((LINEAR_SHAPE, (1000, 300), 1.0, 5), (CONV_SHAPE, (576, 1152), 5.0 / 3.0, 6)):
        kwargs = {} if gain == 1.0 else {"gain": gain}
        values = fill(submission, "xavier_uniform_", blank(shape), generator=gen(seed), **kwargs)
        std = xavier_std(*fans, gain)
        check_distribution(values, "uniform", std, f"xavier_uniform_(тензор {shape}, gain={gain:.4g})",
                           bound=(-SQRT3 * std, SQRT3 * std))


@pytest.mark.points(0.075)
def test_xavier_normal_(submission: Any) -> None:
    for shape, fans, gain, seed in ((LINEAR_SHAPE, (1000, 300), 1.0, 7), (CONV_SHAPE, (576, 1152), 5.0 / 3.0, 8)):
        kwargs = {} if gain == 1.0 else {"gain": gain}
        values = fill(submission, "xavier_normal_", blank(shape), generator=gen(seed), **kwargs)
        check_distribution(values, "normal", xavier_std(*fans, gain), f"xavier_normal_(тензор {shape}, gain={gain:.4g})")


def kaiming_cases(mode: str) -> list[tuple[tuple[int, ...], dict[str, Any], float]]:
    """(shape, keyword arguments, theoretical std) for one ``mode``."""
    linear_fan = 1000 if mode == "fan_in" else 300
    conv_fan = 576 if mode == "fan_in" else 1152
    mode_kwargs: dict[str, Any] = {} if mode == "fan_in" else {"mode": "fan_out"}  # fan_in is the default
    return [
        (LINEAR_SHAPE, {**mode_kwargs}, math.sqrt(2.0 / linear_fan)),  # default: leaky_relu with a=0
        (LINEAR_SHAPE, {"mode": mode, "nonlinearity": "relu"}, math.sqrt(2.0 / linear_fan)),
        (LINEAR_SHAPE, {"a": 0.2, "mode": mode, "nonlinearity": "leaky_relu"}, math.sqrt(2.0 / 1.04 / linear_fan)),
        (CONV_SHAPE, {"mode": mode, "nonlinearity": "tanh"}, 5.0 / 3.0 / math.sqrt(conv_fan)),
    ]


@pytest.mark.points(0.05)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_uniform_(submission: Any, mode: str) -> None:
    for seed, (shape, kwargs, std) in enumerate(kaiming_cases(mode)):
        values = fill(submission, "kaiming_uniform_", blank(shape), generator=gen(10 + seed), **kwargs)
        check_distribution(values, "uniform", std, call_text("kaiming_uniform_", shape, (), kwargs),
                           bound=(-SQRT3 * std, SQRT3 * std))
    with pytest.raises(ValueError):
        function(submission, "kaiming_uniform_")(blank((4, 5)), mode="fan_avg")
        pytest.fail("kaiming_uniform_(..., mode='fan_avg') должна бросить ValueError")


@pytest.mark.points(0.05)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_normal_(submission: Any, mode: str) -> None:
    for seed, (shape, kwargs, std) in enumerate(kaiming_cases(mode)):
        values = fill(submission, "kaiming_normal_", blank(shape), generator=gen(20 + seed), **kwargs)
        check_distribution(values, "normal", std, call_text("kaiming_normal_", shape, (), kwargs))
    with pytest.raises(ValueError):
        function(submission, "kaiming_normal_")(blank((4, 5)), mode="fan_avg")
        pytest.fail("kaiming_normal_(..., mode='fan_avg') должна бросить ValueError")


# --------------------------------------------------------------------------- generator


@pytest.mark.points(0.075)
def test_generator_reproducibility(submission: Any) -> None:
    shape = (64, 96)
    for name in RANDOM_INITS:
        torch.manual_seed(1)
        global_state = torch.get_rng_state()
        first = fill(submission, name, blank(shape), generator=gen(123))
        assert torch.equal(torch.get_rng_state(), global_state), (
            f"{name}: при переданном generator случайность должна браться только из него, "
            "а функция использовала глобальный генератор PyTorch"
        )
        torch.manual_seed(2)
        second = fill(submission, name, blank(shape), generator=gen(123))
        assert torch.equal(first, second), f"{name}: один и тот же seed генератора дал разные тензоры (generator не используется?)"
        other = fill(submission, name, blank(shape), generator=gen(124))
        assert not torch.equal(first, other), f"{name}: разные seed генератора дали одинаковые тензоры"
        torch.manual_seed(3)
        third = fill(submission, name, blank(shape))
        torch.manual_seed(3)
        fourth = fill(submission, name, blank(shape))
        assert torch.equal(third, fourth), f"{name}: при generator=None нужно брать случайность из глобального генератора"


# --------------------------------------------------------------------------- no torch.nn.init


def _init_aliases(tree: ast.Module) -> tuple[set[str], list[str]]:
    """Names bound to ``torch.nn.init`` or its members by imports, and the offending imports."""
    aliases: set[str] = set()
    offending: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "torch.nn.init" or alias.name.startswith("torch.nn.init."):
                    offending.append(f"строка {node.lineno}: import {alias.name}")
                    if alias.asname:
                        aliases.add(alias.asname)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full == "torch.nn.init" or node.module == "torch.nn.init" or node.module.startswith("torch.nn.init."):
                    offending.append(f"строка {node.lineno}: from {node.module} import {alias.name}")
                    aliases.add(alias.asname or alias.name)
    return aliases, offending


def forbidden_uses(path: Path, submission: Any) -> list[str]:
    """Imports of ``torch.nn.init`` and references to it, found in the source of ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    aliases, found = _init_aliases(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "init":
            base = node.value
            if isinstance(base, ast.Attribute) and base.attr == "nn" or isinstance(base, ast.Name) and base.id == "nn":
                found.append(f"строка {node.lineno}: обращение к ...nn.init")
    for name in ALL_FUNCTIONS:
        try:
            calls = calls_in(submission, name)
        except KeyError:
            continue
        for call in calls:
            head = call.split(".")[0]
            if "nn.init" in call or head in aliases:
                found.append(f"{name}: вызов {call}")
    return found


def _poisoned(name: str) -> Callable[..., Any]:
    """A stand-in for ``torch.nn.init.<name>`` that fails the test when called."""

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"вызвана torch.nn.init.{name}: пользоваться torch.nn.init в этом задании нельзя")

    return fail


def poison_torch_nn_init(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace every function defined in ``torch.nn.init`` by one that fails the test."""
    for attribute in dir(torch.nn.init):
        value = getattr(torch.nn.init, attribute)
        if callable(value) and getattr(value, "__module__", None) == "torch.nn.init":
            monkeypatch.setattr(torch.nn.init, attribute, _poisoned(attribute))


#: (function, extra positional arguments, what to call it on) for the run with torch.nn.init out.
RUNTIME_CASES: list[tuple[str, tuple[Any, ...], Callable[[], Any]]] = [
    ("calculate_gain", ("leaky_relu", 0.2), lambda: None),
    ("fan_in_and_fan_out", (), lambda: torch.empty(CONV_SHAPE)),
    ("constant_", (1.5,), lambda: blank((3, 3))),
    ("uniform_", (-1.0, 1.0), lambda: blank((50, 80))),
    ("normal_", (0.0, 0.5), lambda: blank((50, 80))),
    ("xavier_uniform_", (), lambda: blank((50, 80))),
    ("xavier_normal_", (), lambda: blank((50, 80))),
    ("kaiming_uniform_", (), lambda: blank((50, 80))),
    ("kaiming_normal_", (), lambda: blank((50, 80))),
]


def run_case(submission: Any, name: str, args: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    """Call one function of the submission; random ones with a fixed generator (and global seed,
    so that ignoring the generator is the business of another test, not of this one)."""
    target = make()
    torch.manual_seed(0)
    if name == "calculate_gain":
        return function(submission, name)(*args)
    if name == "fan_in_and_fan_out":
        return tuple(function(submission, name)(target))
    if name == "constant_":
        return fill(submission, name, target, *args).clone()
    return fill(submission, name, target, *args, generator=gen(77)).clone()


@pytest.mark.points(0.1)
def test_no_torch_nn_init(submission: Any, submission_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = forbidden_uses(submission_dir / "weight_init.py", submission)
    assert not found, "weight_init.py пользуется torch.nn.init: " + "; ".join(found[:5])
    # Everything must still run, and give exactly what it gives with torch.nn.init in place.
    for name, args, make in RUNTIME_CASES:
        monkeypatch.undo()
        expected = run_case(submission, name, args, make)
        poison_torch_nn_init(monkeypatch)
        try:
            got = run_case(submission, name, args, make)
        except AssertionError as exc:
            if "torch.nn.init" in str(exc):
                raise AssertionError(f"{name}: {exc}") from None
            raise
        same = torch.equal(got, expected) if isinstance(got, torch.Tensor) else got == expected
        assert same, (
            f"{name}: результат зависит от torch.nn.init (с подменённым torch.nn.init он другой)"
        )
