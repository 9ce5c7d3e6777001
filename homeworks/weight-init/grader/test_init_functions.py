"""Judge tests of the ``weight-init`` homework: the initializers themselves (0.8 of 1.0 point).

Run by ``homeworks/grade.py weight-init SUBMISSION_DIR`` (not by ``make test``). The judge never
imports the submission: it asks the sandboxed worker (``grading_worker.ops_weight_init``) to run
one function on a tensor the judge chose, with the judge's generator seed, and checks the data
that comes back:

* gains exactly, fans exactly (linear and conv shapes); the ``ValueError`` cases, each in a
  small test of its own (a missing check does not cost the distribution tests);
* every initializer on large tensors: std and mean within ``Z_BOUND`` standard errors of the
  theory, the shape of the distribution (Kolmogorov-Smirnov), the bounds of the uniform ones;
* the in-place contract in its own test: the same object back, the same memory, nothing
  recorded by autograd on a leaf with ``requires_grad=True``, ``requires_grad`` kept;
* randomness only from the given ``generator`` (same seed -> same tensor, another seed ->
  another tensor, the global RNG untouched), from the global RNG when it is ``None``;
* the rule "no ``torch.nn.init``" on the source text (any alias, any spelling) and, as a second
  layer, in the worker: a violation fails exactly the tests of the functions it concerns.

Messages are in Russian: students read them.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from init_judge import (
    RuleGuard,
    call_text,
    check_distribution,
    check_inplace_contract,
    exception_text,
    fans,
    fill,
    fill_expecting_error,
    gain,
)

#: 300 x 1000: fan_in = 1000, fan_out = 300 (a swap changes every Kaiming std by sqrt(10/3)).
LINEAR_SHAPE = (300, 1000)
#: A conv weight (out=128, in=64, 3x3): fan_in = 576, fan_out = 1152.
CONV_SHAPE = (128, 64, 3, 3)
RANDOM_INITS = ("uniform_", "normal_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_")
FILL_INITS = ("constant_", *RANDOM_INITS)


def expect_value_error(result: dict[str, Any], what: str) -> None:
    """The student's call must have raised ``ValueError`` (or a subclass)."""
    exception = result.get("exception")
    if exception is None:
        raise AssertionError(f"{what} должна бросить ValueError, а отработала без ошибки")
    if exception.get("value_error") is not True:
        raise AssertionError(f"{what} должна бросить ValueError, а бросила {exception_text(exception)}")


# --------------------------------------------------------------------------- gains and fans


@pytest.mark.points(0.05)
def test_calculate_gain_values(worker: Any, rule_guard: RuleGuard) -> None:
    rule_guard("calculate_gain")
    expected: dict[tuple[str, Any], float] = {
        ("linear", None): 1.0,
        ("conv1d", None): 1.0,
        ("conv2d", None): 1.0,
        ("conv3d", None): 1.0,
        ("conv_transpose1d", None): 1.0,
        ("conv_transpose2d", None): 1.0,
        ("conv_transpose3d", None): 1.0,
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
        args = () if param is None else (param,)
        result = gain(worker, name, *args)
        what = call_text("calculate_gain", None, (name, *args))
        got = result.get("value")
        if got is None:
            raise AssertionError(f"{what} должна вернуть число int или float, а вернула {result.get('type')}")
        assert math.isclose(got, value, rel_tol=1e-12, abs_tol=0.0), f"{what} = {got!r}, ожидалось {value!r}"


@pytest.mark.points(0.025)
def test_calculate_gain_errors(worker: Any, rule_guard: RuleGuard) -> None:
    rule_guard("calculate_gain")
    for args in (("relu",), ("leaky_relu", 0.2), ("leaky_relu", 1)):  # valid: no exception
        gain(worker, *args)
    for args in (("softmax",), ("ReLU",), ("gelu",), ("leaky_relu", True), ("leaky_relu", "0.2")):
        expect_value_error(gain(worker, *args, expect_error=True), call_text("calculate_gain", None, args))


def check_fans(worker: Any, shape: tuple[int, ...], expected: tuple[int, int], hint: str) -> None:
    """``fan_in_and_fan_out`` of ``shape`` must be exactly ``expected``, as two ints."""
    result = fans(worker, shape)
    what = f"fan_in_and_fan_out(тензор {shape})"
    items, types = result.get("items"), result.get("types")
    if not isinstance(items, list) or len(items) != 2:
        raise AssertionError(f"{what} должна вернуть пару (fan_in, fan_out), а вернула {result.get('container')}")
    numbers = [item for item, kind in zip(items, types or [], strict=False) if item is not None and kind in ("int", "float")]
    if len(numbers) != 2:
        raise AssertionError(f"{what}: fan_in и fan_out должны быть int, а не {', '.join(map(str, types or []))}")
    assert tuple(items) == expected, f"{what} = {tuple(items)}, ожидалось (fan_in, fan_out) = {expected} ({hint})"
    assert types == ["int", "int"], f"{what}: fan_in и fan_out должны быть int, а не {', '.join(map(str, types))}"


@pytest.mark.points(0.025)
def test_fans_linear(worker: Any, rule_guard: RuleGuard) -> None:
    rule_guard("fan_in_and_fan_out")
    for shape, expected in (((300, 1000), (1000, 300)), ((10, 64), (64, 10)), ((1, 1), (1, 1))):
        check_fans(worker, shape, expected, "вес nn.Linear(in, out) имеет форму (out, in)")


@pytest.mark.points(0.04)
def test_fans_conv(worker: Any, rule_guard: RuleGuard) -> None:
    rule_guard("fan_in_and_fan_out")
    cases = {
        (16, 3, 5, 5): (75, 400),
        (8, 4, 3): (12, 24),
        (2, 3, 2, 3, 4): (72, 48),
        (128, 64, 3, 3): (576, 1152),
        (6, 1, 1, 7): (7, 42),
    }
    for shape, expected in cases.items():
        check_fans(worker, shape, expected, "формат (out, in, *kernel): оба fan умножаются на размер ядра")


@pytest.mark.points(0.01)
def test_fans_errors(worker: Any, rule_guard: RuleGuard) -> None:
    rule_guard("fan_in_and_fan_out")
    fans(worker, (10, 64))  # valid: no exception
    for shape in ((5,), ()):
        expect_value_error(fans(worker, shape, expect_error=True), f"fan_in_and_fan_out(тензор {shape})")


# --------------------------------------------------------------------------- basic fills


@pytest.mark.points(0.025)
def test_constant_(worker: Any, rule_guard: RuleGuard) -> None:
    rule_guard("constant_")
    for shape, value, dtype in (((3, 4), 0.5, "float32"), ((2, 3, 4), -1.25, "float64"), ((7,), 0.0, "float32"),
                                ((5, 6), 3, "float32")):
        filled = fill(worker, "constant_", shape, value, dtype=dtype)
        expected = torch.full(shape, float(value), dtype=getattr(torch, dtype))
        assert torch.equal(filled.values, expected), (
            f"{filled.what} заполнила не тем значением: например, {float(filled.values.flatten()[0]):.6g}"
        )


@pytest.mark.points(0.05)
def test_uniform_(worker: Any, rule_guard: RuleGuard) -> None:
    rule_guard("uniform_")
    width = 1.0 / math.sqrt(12.0)  # std of U(a, a + 1)
    filled = fill(worker, "uniform_", LINEAR_SHAPE, -0.3, 0.7, seed=1)
    check_distribution(filled.values, "uniform", width, filled.what, mean=0.2)
    filled = fill(worker, "uniform_", LINEAR_SHAPE, seed=2)
    check_distribution(filled.values, "uniform", width, f"{filled.what} (по умолчанию U(0, 1))", mean=0.5)
    filled = fill(worker, "uniform_", LINEAR_SHAPE, seed=3, a=2.0, b=5.0, dtype="float64")
    check_distribution(filled.values, "uniform", 3.0 * width, filled.what, mean=3.5)


@pytest.mark.points(0.05)
def test_normal_(worker: Any, rule_guard: RuleGuard) -> None:
    rule_guard("normal_")
    filled = fill(worker, "normal_", LINEAR_SHAPE, -1.0, 2.5, seed=4)
    check_distribution(filled.values, "normal", 2.5, filled.what, mean=-1.0)
    filled = fill(worker, "normal_", LINEAR_SHAPE, seed=5)
    check_distribution(filled.values, "normal", 1.0, f"{filled.what} (по умолчанию N(0, 1))")
    filled = fill(worker, "normal_", LINEAR_SHAPE, seed=6, mean=0.5, std=0.01, dtype="float64")
    check_distribution(filled.values, "normal", 0.01, filled.what, mean=0.5)


# --------------------------------------------------------------------------- Xavier and Kaiming


def xavier_std(fan_in: int, fan_out: int, gain_value: float = 1.0) -> float:
    """Std of Xavier (Glorot) initialization: gain * sqrt(2 / (fan_in + fan_out))."""
    return gain_value * math.sqrt(2.0 / (fan_in + fan_out))


XAVIER_CASES = ((LINEAR_SHAPE, (1000, 300), None), (CONV_SHAPE, (576, 1152), 5.0 / 3.0), ((50, 70, 5), (350, 250), 0.5))


@pytest.mark.points(0.075)
def test_xavier_uniform_(worker: Any, rule_guard: RuleGuard) -> None:
    rule_guard("xavier_uniform_")
    for seed, (shape, fan, gain_value) in enumerate(XAVIER_CASES, start=10):
        kwargs = {} if gain_value is None else {"gain": gain_value}
        filled = fill(worker, "xavier_uniform_", shape, seed=seed, **kwargs)
        check_distribution(filled.values, "uniform", xavier_std(*fan, gain_value or 1.0), filled.what)


@pytest.mark.points(0.075)
def test_xavier_normal_(worker: Any, rule_guard: RuleGuard) -> None:
    rule_guard("xavier_normal_")
    for seed, (shape, fan, gain_value) in enumerate(XAVIER_CASES, start=20):
        kwargs = {} if gain_value is None else {"gain": gain_value}
        filled = fill(worker, "xavier_normal_", shape, seed=seed, **kwargs)
        check_distribution(filled.values, "normal", xavier_std(*fan, gain_value or 1.0), filled.what)


def kaiming_cases(mode: str) -> list[tuple[tuple[int, ...], dict[str, Any], float]]:
    """(shape, keyword arguments, theoretical std = gain / sqrt(fan_mode)) for one ``mode``."""
    linear_fan = 1000 if mode == "fan_in" else 300
    conv_fan = 576 if mode == "fan_in" else 1152
    mode_kwargs: dict[str, Any] = {} if mode == "fan_in" else {"mode": "fan_out"}  # fan_in is the default
    return [
        (LINEAR_SHAPE, {**mode_kwargs}, math.sqrt(2.0 / linear_fan)),  # default: leaky_relu with a=0
        (LINEAR_SHAPE, {"mode": mode, "nonlinearity": "relu"}, math.sqrt(2.0 / linear_fan)),
        (LINEAR_SHAPE, {"a": 0.2, "mode": mode, "nonlinearity": "leaky_relu"}, math.sqrt(2.0 / 1.04 / linear_fan)),
        (CONV_SHAPE, {"mode": mode, "nonlinearity": "tanh"}, 5.0 / 3.0 / math.sqrt(conv_fan)),
        (CONV_SHAPE, {"mode": mode, "nonlinearity": "linear"}, 1.0 / math.sqrt(conv_fan)),
    ]


@pytest.mark.points(0.05)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_uniform_(worker: Any, rule_guard: RuleGuard, mode: str) -> None:
    rule_guard("kaiming_uniform_")
    for seed, (shape, kwargs, std) in enumerate(kaiming_cases(mode), start=30):
        filled = fill(worker, "kaiming_uniform_", shape, seed=seed, **kwargs)
        check_distribution(filled.values, "uniform", std, filled.what)


@pytest.mark.points(0.05)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_normal_(worker: Any, rule_guard: RuleGuard, mode: str) -> None:
    rule_guard("kaiming_normal_")
    for seed, (shape, kwargs, std) in enumerate(kaiming_cases(mode), start=40):
        filled = fill(worker, "kaiming_normal_", shape, seed=seed, **kwargs)
        check_distribution(filled.values, "normal", std, filled.what)


@pytest.mark.points(0.025)
def test_kaiming_bad_mode(worker: Any, rule_guard: RuleGuard) -> None:
    rule_guard("kaiming_uniform_", "kaiming_normal_")
    for name in ("kaiming_uniform_", "kaiming_normal_"):
        for mode in ("fan_in", "fan_out"):  # valid: no exception
            fill(worker, name, (40, 50), seed=1, mode=mode)
        for mode in ("fan_avg", "FAN_IN"):
            result = fill_expecting_error(worker, name, (40, 50), seed=1, mode=mode)
            expect_value_error(result, call_text(name, (40, 50), (), {"mode": mode}))


# --------------------------------------------------------------------------- contracts


def init_args(name: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Arguments for one call of ``name`` in the contract tests (``constant_`` needs ``val``)."""
    if name == "constant_":
        return (0.75,), {}
    return (), {"seed": 7}


@pytest.mark.points(0.075)
def test_inplace_without_autograd(worker: Any, rule_guard: RuleGuard) -> None:
    rule_guard(*FILL_INITS)
    for name in FILL_INITS:
        args, seed = init_args(name)
        for dtype, requires_grad in (("float32", True), ("float64", False)):
            filled = fill(worker, name, (40, 50), *args, dtype=dtype, requires_grad=requires_grad, **seed)
            check_inplace_contract(filled, requires_grad=requires_grad)
            values = filled.values
            if name == "constant_":
                assert torch.equal(values, torch.full_like(values, 0.75)), f"{filled.what} заполнила не тем значением"
            else:
                assert float(values.double().std()) > 0.0, f"{filled.what}: все значения одинаковы"


@pytest.mark.points(0.075)
def test_generator_reproducibility(worker: Any, rule_guard: RuleGuard) -> None:
    rule_guard(*RANDOM_INITS)
    shape = (64, 96)
    for name in RANDOM_INITS:
        first = fill(worker, name, shape, seed=123, global_seed=1)
        assert first.reply.get("global_rng_unchanged") is True, (
            f"{name}: при переданном generator случайность должна браться только из него, "
            "а функция использовала глобальный генератор PyTorch"
        )
        assert first.reply.get("generator_advanced") is True, (
            f"{name}: переданный generator не использован (его состояние не изменилось)"
        )
        second = fill(worker, name, shape, seed=123, global_seed=2)
        assert torch.equal(first.values, second.values), (
            f"{name}: один и тот же seed генератора дал разные тензоры (generator не используется?)"
        )
        other = fill(worker, name, shape, seed=124, global_seed=1)
        assert not torch.equal(first.values, other.values), f"{name}: разные seed генератора дали одинаковые тензоры"
        third = fill(worker, name, shape, seed=None, global_seed=3)
        fourth = fill(worker, name, shape, seed=None, global_seed=3)
        fifth = fill(worker, name, shape, seed=None, global_seed=4)
        assert torch.equal(third.values, fourth.values) and not torch.equal(third.values, fifth.values), (
            f"{name}: при generator=None случайность должна браться из глобального генератора PyTorch "
            "(torch.manual_seed должен задавать результат)"
        )
        default = fill(worker, name, shape, global_seed=3)
        assert torch.equal(default.values, third.values), (
            f"{name}: без аргумента generator функция должна вести себя как при generator=None"
        )
