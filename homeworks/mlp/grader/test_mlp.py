"""Judge tests of the ``mlp`` homework (run by ``homeworks/grade.py``, not by ``make test``).

The judge never imports the submission. Each test sends the worker (``grading_worker.ops_mlp``,
in the sandbox) inputs and weights it chose, gets data back, and compares it with references it
computes itself (:mod:`mlp_judge`): there is no gradient check against the student's own forward and
no forward test on the student's own weights, so returning zeros, constants, the input, or raising
``NotImplementedError`` earns nothing. The digits accuracy is computed here, by the judge's own
model, from the parameters the student's ``train`` returns, on held-out images the worker never sees
(shown to the worker with features and classes renamed, see :func:`mlp_judge.permuted`).

Rules of the statement are checked on the syntax tree of ``mlp.py`` (:data:`mlp_judge.RULES`); a
violation fails exactly the tests listed in :data:`PROTECTS` with a Russian message naming the rule.
The worker's facts about autograd calls inside the backward and optimizers built in ``train`` are a
second layer of the same rules.

Fifteen tests, in units of 1/20 point (total exactly 1.0). Messages are in Russian: students read them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import mlp_judge as judge
import pytest
import torch
from grading.client import WorkerError
from grading.rules import DEFAULT_ALLOWED_IMPORTS, SAFE_DUNDERS, RuleSet, Violation

UNIT = 1.0 / 20

# Hyper-parameters of the digits test; the statement (README.md) names the same values.
DIGITS_HIDDEN_DIMS = (100, 100)
DIGITS_EPOCHS = 20
DIGITS_BATCH_SIZE = 32
DIGITS_LR = 0.1
DIGITS_SEED = 0
DIGITS_THRESHOLD = 0.93
#: Seed of the renaming of pixels and classes the worker sees (known to the judge only).
DIGITS_PERMUTATION_SEED = 20260119
DIGITS_TIMEOUT_S = 60

LAYER_TESTS = frozenset({
    "test_mylinear_parameters", "test_mylinear_init", "test_mylinear_forward",
    "test_mylinear_uses_linear_function", "test_backward_values", "test_backward_no_bias",
    "test_backward_batch_of_one", "test_backward_written_by_hand",
})
GRADIENT_TESTS = frozenset({
    "test_mylinear_uses_linear_function", "test_backward_values", "test_backward_no_bias",
    "test_backward_batch_of_one", "test_backward_written_by_hand",
})
TRAIN_TESTS = frozenset({"test_train_sgd_step", "test_train_batches", "test_train_digits"})
ALL_TESTS = LAYER_TESTS | TRAIN_TESTS | {
    "test_grad_sum_of_squares", "test_linear_mse_loss", "test_mymlp_structure", "test_mymlp_forward",
}
#: The core's built-in rules (allow-list of imports, no computed names, no dynamic code, no library
#: internals ...) with the imports the release's given code needs.
BUILTIN = RuleSet(allowed_imports=DEFAULT_ALLOWED_IMPORTS | judge.EXTRA_IMPORTS,
                  allowed_dunders=SAFE_DUNDERS | judge.EXTRA_DUNDERS)
#: rule key -> the tests a violation of it fails ("builtin": any of the core's built-in rules).
PROTECTS: dict[str, frozenset[str]] = {
    "builtin": ALL_TESTS,
    "linear": LAYER_TESTS,
    "autograd": GRADIENT_TESTS,
    "optim": TRAIN_TESTS,
    "grad_by_autograd": frozenset({"test_grad_sum_of_squares"}),
}


# ----------------------------------------------------------------------------- helpers


@pytest.fixture(scope="session")
def broken_rules(submission_source: dict[str, str], rule_violations: Any) -> dict[str, list[Any]]:
    """Rule key -> its violations in the student's ``mlp.py`` (read as text, never imported).

    A file that is not UTF-8 or does not parse breaks the built-in rules (the core reports it).
    """
    text = submission_source.get("mlp.py")
    found: dict[str, list[Any]] = {"builtin": rule_violations(BUILTIN)}
    found |= {key: judge.violations(text, rule) for key, rule in judge.RULES.items()}
    return found


def obey_rules(broken_rules: dict[str, list[Violation]], test: str) -> None:
    """Fail ``test`` with the first violation of a rule that protects it."""
    for key, tests in PROTECTS.items():
        if test in tests and broken_rules[key]:
            raise AssertionError(broken_rules[key][0].message)


def call(worker: Any, what: str, op: str, *, timeout: float | None = None, **params: Any) -> Any:
    """``worker.call(op, **params)``; a failure of the student's code becomes ``what: <reason>``."""
    try:
        return worker.call(op, timeout=timeout, **params)
    except WorkerError as exc:
        raise AssertionError(f"{what}: {exc}") from None


def generator(seed: int) -> torch.Generator:
    """A seeded CPU generator for the judge's data."""
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int, dtype: torch.dtype = torch.float64, scale: float = 1.0) -> torch.Tensor:
    """Standard normal data of ``shape`` drawn from ``seed``, times ``scale``."""
    return scale * torch.randn(*shape, dtype=dtype, generator=generator(seed))


def kind(value: dict[str, Any]) -> str:
    """Russian name of what the student's code returned (for messages)."""
    return {"none": "None", "bool": "bool", "number": "число", "list": "список", "tuple": "кортеж",
            "tensor": "тензор"}.get(value["kind"], value.get("type", "объект"))


def tensor_of(value: dict[str, Any], what: str, shape: Sequence[int] | None = None,
              dtype: str | None = None) -> torch.Tensor:
    """The tensor the worker described; a Russian failure if it is not one of ``shape``/``dtype``."""
    assert value["kind"] == "tensor", f"{what}: ожидался torch.Tensor, получено {kind(value)}"
    if shape is not None:
        assert list(value["shape"]) == list(shape), f"{what}: форма {tuple(value['shape'])} вместо {tuple(shape)}"
    if dtype is not None:
        assert value["dtype"] == dtype, f"{what}: dtype {value['dtype']} вместо {dtype}"
    return value["value"]


def close(actual: torch.Tensor, expected: torch.Tensor, tol: float, what: str) -> None:
    """``actual`` equals ``expected`` within ``tol`` times ``max(1, max|expected|)``."""
    assert tuple(actual.shape) == tuple(expected.shape), (
        f"{what}: форма {tuple(actual.shape)} вместо {tuple(expected.shape)}"
    )
    if not expected.numel():
        return
    actual64, expected64 = actual.detach().double(), expected.detach().double()
    assert bool(torch.isfinite(actual64).all()), f"{what}: в ответе есть inf или nan"
    error = (actual64 - expected64).abs().max().item()
    scale = max(1.0, expected64.abs().max().item())
    assert error <= tol * scale, f"{what}: максимальное расхождение {error:.3g} (допуск {tol * scale:.3g})"


def numbers_of(value: dict[str, Any], what: str, length: int) -> list[float]:
    """A list of ``length`` finite numbers (floats or one-element tensors) the student returned."""
    assert value["kind"] == "list", f"{what}: ожидался список, получено {kind(value)}"
    assert value["length"] == length, f"{what}: длина {value['length']} вместо {length}"
    numbers = []
    for item in value["items"]:
        number = None
        if item["kind"] == "number":
            number = item["value"]
        elif item["kind"] == "tensor" and item["value"].numel() == 1 and item["value"].is_floating_point():
            number = item["value"].item()
        assert isinstance(number, float) and math.isfinite(number), (
            f"{what}: элементы должны быть конечными числами float, а не {kind(item)}"
        )
        numbers.append(number)
    return numbers


def linear_weights(in_features: int, out_features: int, seed: int, bias: bool = True,
                   dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The judge's weights of one linear layer: N(0, 1/in) entries, bias N(0, 1) or None."""
    weight = randn(out_features, in_features, seed=seed, dtype=dtype, scale=1.0 / math.sqrt(in_features))
    return weight, randn(out_features, seed=seed + 1, dtype=dtype) if bias else None


def check_gradients(result: dict[str, Any], expected: dict[str, torch.Tensor | None], what: str, tol: float,
                    dtype: str) -> None:
    """Output and the three gradients from the worker against the judge's closed forms."""
    close(tensor_of(result["output"], f"{what}: выход", None, dtype), expected["output"], tol, f"{what}: выход")
    assert result["backward"]["ran"], (
        f"{what}: выход не связан с графом вычислений (нет grad_fn), backward не запускается"
    )
    for key, name in (("grad_x", "градиент по x (dL/dX)"), ("grad_weight", "градиент по weight (dL/dW)")):
        value = result[key]
        assert value["kind"] == "tensor", f"{what}: {name} не вычислен (получено {kind(value)})"
        close(tensor_of(value, f"{what}: {name}", None, dtype), expected[key], tol, f"{what}: {name}")
    if expected["grad_bias"] is None:
        return
    value = result["grad_bias"]
    name = "градиент по bias (dL/db)"
    assert value["kind"] == "tensor", f"{what}: {name} не вычислен (получено {kind(value)})"
    close(tensor_of(value, f"{what}: {name}", None, dtype), expected["grad_bias"], tol, f"{what}: {name}")


def no_autograd_inside(result: dict[str, Any], what: str) -> None:
    """Second layer of the ``autograd`` rule: the worker saw no autograd call inside the backward."""
    calls = result["backward"]["autograd_calls"]
    assert not calls, (
        f"нарушено правило «{judge.AUTOGRAD.title}»: {what}: во время backward вызван {calls[0]}"
    )


def run_linear_function(worker: Any, n: int, in_features: int, out_features: int, bias: bool,
                        dtype: torch.dtype = torch.float64, seed: int = 0) -> tuple[dict[str, Any], str]:
    """``LinearFunction`` forward + backward on the judge's data; checks against the closed form."""
    what = (f"LinearFunction (N={n}, in={in_features}, out={out_features}, bias={'да' if bias else 'нет'}, "
            f"{str(dtype).removeprefix('torch.')})")
    seed = seed or 1000 * n + 100 * in_features + 10 * out_features + int(bias)
    x = randn(n, in_features, seed=seed, dtype=dtype)
    weight, b = linear_weights(in_features, out_features, seed + 2, bias, dtype)
    grad_output = randn(n, out_features, seed=seed + 4, dtype=dtype)
    result = call(worker, what, "linear_function_run", x=x, weight=weight, bias=b, grad_output=grad_output)
    assert result["is_function"], "LinearFunction должен наследоваться от torch.autograd.Function"
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    check_gradients(result, judge.linear_reference(x, weight, b, grad_output), what, tol,
                    str(dtype).removeprefix("torch."))
    return result, what


# ----------------------------------------------------------------------------- MyLinear


@pytest.mark.points(UNIT)
def test_mylinear_parameters(worker: Any, broken_rules: dict[str, list[Violation]]) -> None:
    """``weight`` (out, in) and ``bias`` (out,) are float32 parameters filled with random numbers;
    ``bias=False`` -> ``bias is None``."""
    cases = [{"in": 5, "out": 3, "bias": True}, {"in": 5, "out": 3, "bias": False}, {"in": 64, "out": 10, "bias": True}]
    layers = call(worker, "MyLinear", "linear_layer", cases=cases, seed=0)
    for case, layer in zip(cases, layers, strict=True):
        what = f"MyLinear({case['in']}, {case['out']}{'' if case['bias'] else ', bias=False'})"
        assert layer["is_module"], f"{what}: MyLinear должен наследоваться от torch.nn.Module"
        params = {p["name"]: p for p in layer["parameters"]}
        want = ["bias", "weight"] if case["bias"] else ["weight"]
        assert sorted(params) == want, f"{what}: параметры {sorted(params)} вместо {want}"
        shapes = {"weight": [case["out"], case["in"]], "bias": [case["out"]]}
        for name in sorted(want, reverse=True):  # weight first
            param = params[name]
            assert param["is_parameter"], f"{what}: {name} должен быть nn.Parameter"
            assert param["shape"] == shapes[name], (
                f"{what}: форма {name} {tuple(param['shape'])} вместо {tuple(shapes[name])}"
            )
            assert param["dtype"] == "float32", f"{what}: dtype {name} {param['dtype']} вместо float32"
            assert param["requires_grad"], f"{what}: {name} должен требовать градиент"
            values = tensor_of(layer["values"][name], f"{what}.{name}")
            assert values.numel() > 1 and bool((values != values.reshape(-1)[0]).any()), (
                f"{what}: {name} заполнен одним числом, а параметры инициализируются случайно"
            )
        if not case["bias"]:
            assert layer["bias"] == "none", f"{what}: атрибут bias должен быть None"
    assert sum(math.prod(p["shape"]) for p in layers[2]["parameters"]) == 650, "у MyLinear(64, 10) должно быть 650 параметров"
    obey_rules(broken_rules, "test_mylinear_parameters")


@pytest.mark.points(UNIT)
def test_mylinear_init(worker: Any, broken_rules: dict[str, list[Violation]]) -> None:
    """Weights and bias uniform on [-1/sqrt(in), 1/sqrt(in)], like ``nn.Linear``; fresh every time."""
    cases = [{"in": 400, "out": 300, "bias": True}, {"in": 16, "out": 500, "bias": True},
             {"in": 8, "out": 8, "bias": True}, {"in": 8, "out": 8, "bias": True}]
    layers = call(worker, "MyLinear", "linear_layer", cases=cases, seed=0)
    for case, layer in zip(cases[:2], layers[:2], strict=True):
        bound = 1.0 / math.sqrt(case["in"])
        for name in ("weight", "bias"):
            what = f"MyLinear({case['in']}, {case['out']}).{name}"
            values = tensor_of(layer["values"][name], what).double().reshape(-1)
            assert values.numel() > 1, f"{what}: пустой тензор"
            largest = values.abs().max().item()
            assert largest <= bound * (1 + 1e-6), (
                f"{what}: значения выходят за ±1/sqrt(in_features) = ±{bound:.4g} (максимум |x| = {largest:.4g})"
            )
            std, mean = values.std().item(), values.mean().item()
            expected_std = bound / math.sqrt(3.0)
            tolerance = 0.05 if values.numel() > 10_000 else 0.3
            assert abs(std / expected_std - 1) <= tolerance, (
                f"{what}: стандартное отклонение {std:.4g}, а у равномерного на ±{bound:.4g} "
                f"оно {expected_std:.4g}: инициализируйте как nn.Linear"
            )
            assert abs(mean) <= 6 * expected_std / math.sqrt(values.numel()), f"{what}: среднее {mean:.4g} далеко от нуля"
    first = tensor_of(layers[2]["values"]["weight"], "MyLinear(8, 8).weight")
    second = tensor_of(layers[3]["values"]["weight"], "MyLinear(8, 8).weight")
    assert not torch.equal(first, second), "два новых слоя получили одинаковые веса: инициализация должна быть случайной"
    obey_rules(broken_rules, "test_mylinear_init")


@pytest.mark.points(2 * UNIT)
def test_mylinear_forward(worker: Any, broken_rules: dict[str, list[Violation]]) -> None:
    """Forward with the judge's weights equals ``X W^T + b``: float64 to 1e-10, float32 to 1e-5."""
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
        name = str(dtype).removeprefix("torch.")
        for n, in_features, out_features, bias in ((7, 5, 3, True), (7, 5, 3, False), (1, 6, 4, True),
                                                   (33, 64, 10, True)):
            seed = 100 * n + in_features
            weight, b = linear_weights(in_features, out_features, seed, bias, dtype)
            x = randn(n, in_features, seed=seed + 7, dtype=dtype)
            what = f"MyLinear({in_features}, {out_features}, bias={bias}) на входе ({n}, {in_features}), {name}"
            result = call(worker, what, "linear_layer_run", in_features=in_features, out_features=out_features, bias=bias,
                          dtype=name, weight=weight, bias_value=b, x=x, grad_output=None)
            expected = judge.linear_reference(x, weight, b, torch.zeros(n, out_features))["output"]
            output = tensor_of(result["output"], f"{what}: выход", [n, out_features], name)
            close(output, expected, tol, f"{what}: выход")
            assert result["x_unchanged"], f"{what}: forward изменил входной тензор"
    obey_rules(broken_rules, "test_mylinear_forward")


@pytest.mark.points(UNIT)
def test_mylinear_uses_linear_function(worker: Any, broken_rules: dict[str, list[Violation]]) -> None:
    """``MyLinear``'s output comes from the student's ``LinearFunction``; its gradients are right."""
    n, in_features, out_features = 5, 4, 3
    weight, b = linear_weights(in_features, out_features, seed=41)
    x = randn(n, in_features, seed=43)
    grad_output = randn(n, out_features, seed=44)
    what = f"MyLinear({in_features}, {out_features})"
    result = call(worker, what, "linear_layer_run", in_features=in_features, out_features=out_features, bias=True,
                  dtype="float64", weight=weight, bias_value=b, x=x, grad_output=grad_output)
    check_gradients(result, judge.linear_reference(x, weight, b, grad_output), what, 1e-10, "float64")
    obey_rules(broken_rules, "test_mylinear_uses_linear_function")
    assert result["through_function"], (
        "MyLinear.forward должен вычислять выход через LinearFunction.apply, "
        f"а в графе нет LinearFunction (grad_fn выхода — {result['grad_fn']})"
    )
    no_autograd_inside(result, what)


# ----------------------------------------------------------------------------- backward


@pytest.mark.points(2 * UNIT)
def test_backward_values(worker: Any, broken_rules: dict[str, list[Violation]]) -> None:
    """Forward and dL/dX, dL/dW, dL/db with a bias on batches of several rows, square and
    non-square weights, against the closed forms (float64, 1e-10)."""
    runs = [run_linear_function(worker, n, in_features, out_features, bias=True)
            for n, in_features, out_features in ((6, 4, 3), (5, 4, 4), (8, 2, 7))]
    obey_rules(broken_rules, "test_backward_values")
    for result, what in runs:
        no_autograd_inside(result, what)


@pytest.mark.points(UNIT)
def test_backward_no_bias(worker: Any, broken_rules: dict[str, list[Violation]]) -> None:
    """The same without a bias (``bias=None``; the backward returns ``None`` for it)."""
    runs = [run_linear_function(worker, n, in_features, out_features, bias=False)
            for n, in_features, out_features in ((6, 3, 5), (4, 4, 4))]
    obey_rules(broken_rules, "test_backward_no_bias")
    for result, what in runs:
        no_autograd_inside(result, what)


@pytest.mark.points(UNIT)
def test_backward_batch_of_one(worker: Any, broken_rules: dict[str, list[Violation]]) -> None:
    """The same on a batch of one row, with and without a bias."""
    runs = [run_linear_function(worker, 1, in_features, out_features, bias=bias)
            for in_features, out_features, bias in ((3, 5, True), (5, 2, False))]
    obey_rules(broken_rules, "test_backward_batch_of_one")
    for result, what in runs:
        no_autograd_inside(result, what)


@pytest.mark.points(UNIT)
def test_backward_written_by_hand(worker: Any, broken_rules: dict[str, list[Violation]]) -> None:
    """float32 in, float32 out (values to 1e-5), inputs untouched, and the rules of the backward:
    no autograd, no ``F.linear``/``nn.Linear`` (syntax tree of ``mlp.py``)."""
    result, what = run_linear_function(worker, 9, 7, 2, bias=True, dtype=torch.float32, seed=77)
    assert result["inputs_unchanged"], f"{what}: forward или backward изменил входные тензоры"
    obey_rules(broken_rules, "test_backward_written_by_hand")
    no_autograd_inside(result, what)


# ----------------------------------------------------------------------------- autograd tasks


@pytest.mark.points(UNIT)
def test_grad_sum_of_squares(worker: Any, broken_rules: dict[str, list[Violation]]) -> None:
    """``2 x``, computed by the autograd engine; ``x``, ``requires_grad`` and ``x.grad`` untouched."""
    x = randn(3, 4, seed=51)
    what = "grad_sum_of_squares(x) для x без requires_grad"
    result = call(worker, what, "grad_sum_of_squares", x=x, requires_grad=False, stale_grad=None)
    value = result["result"]
    close(tensor_of(value, what, [3, 4]), 2 * x, 1e-12, what)
    assert not value["requires_grad"], f"{what}: результат не должен требовать градиент (верните тензор без графа)"
    assert torch.equal(result["x_after"], x) and not result["requires_grad_after"] and result["grad_after"]["kind"] == "none", (
        f"{what}: функция изменила входной тензор x (значения, requires_grad или x.grad)"
    )
    unpacked = result["unpacked"]
    leaf = randn(5, seed=52)
    stale = torch.full_like(leaf, 7.0)
    what = "grad_sum_of_squares(x) для x с requires_grad=True"
    result = call(worker, what, "grad_sum_of_squares", x=leaf, requires_grad=True, stale_grad=stale)
    close(tensor_of(result["result"], what, [5]), 2 * leaf, 1e-12, what)
    grad_after = result["grad_after"]
    assert grad_after["kind"] == "tensor" and torch.equal(grad_after["value"], stale), (
        f"{what}: функция изменила x.grad у входного тензора"
    )
    assert torch.equal(result["x_after"], leaf) and result["requires_grad_after"], (
        f"{what}: функция изменила входной тензор x"
    )
    obey_rules(broken_rules, "test_grad_sum_of_squares")
    assert unpacked > 0, (
        f"нарушено правило «{judge.GRAD_BY_AUTOGRAD.title}»: градиент должен вычислить autograd "
        "(torch.autograd.grad или .backward()), а не формула 2x"
    )


@pytest.mark.points(2 * UNIT)
def test_linear_mse_loss(worker: Any, broken_rules: dict[str, list[Violation]]) -> None:
    """Loss and dL/dW against the closed form; a stale ``weight.grad`` changes nothing."""
    weight, b = linear_weights(5, 3, seed=61)
    x, y = randn(8, 5, seed=63), randn(8, 3, seed=64)
    residual = x @ weight.T + b - y
    expected_loss = (residual**2).mean()
    expected_grad = 2.0 / residual.numel() * residual.T @ x
    results = call(worker, "linear_mse_loss", "linear_mse_loss", weight=weight, bias=b, x=x, y=y,
                   stale_grad=torch.full_like(weight, 100.0), calls=2)
    for attempt, result in zip(("первый вызов (в weight.grad лежал мусор)", "второй вызов подряд"), results, strict=True):
        assert result["kind"] == "tuple" and result["length"] == 2, (
            f"linear_mse_loss должна вернуть пару (loss, weight_grad), а вернула {kind(result)}"
        )
        loss, weight_grad = result["items"]
        loss_value = tensor_of(loss, f"loss, {attempt}")
        assert loss_value.numel() == 1, f"loss, {attempt}: должен быть тензором из одного числа"
        close(loss_value.reshape(()), expected_loss, 1e-10, f"loss, {attempt}")
        close(tensor_of(weight_grad, f"weight_grad, {attempt}", [3, 5]), expected_grad, 1e-10, f"weight_grad, {attempt}")
    obey_rules(broken_rules, "test_linear_mse_loss")


# ----------------------------------------------------------------------------- MyMLP


@pytest.mark.points(2 * UNIT)
def test_mymlp_structure(worker: Any, broken_rules: dict[str, list[Violation]]) -> None:
    """Attributes, layer sizes, ``ModuleList`` wiring, initialised ``MyLinear`` layers, parameter counts."""
    cases = [({}, False, 10_501), ({"hidden_dims": [100, 100, 100]}, False, 20_601),
             ({"hidden_dims": [100, 100, 100, 100]}, True, 30_701),
             ({"input_dim": 7, "output_dim": 4, "hidden_dims": [30, 20, 10]}, True, None),
             ({"input_dim": 64, "output_dim": 10, "hidden_dims": [16]}, False, None)]
    results = call(worker, "MyMLP", "mlp_structure", seed=0,
                   cases=[{"kwargs": kwargs, "hidden_as_tuple": as_tuple} for kwargs, as_tuple, _ in cases])
    for (kwargs, as_tuple, expected_count), model in zip(cases, results, strict=True):
        shown = {k: tuple(v) if k == "hidden_dims" and as_tuple else v for k, v in kwargs.items()}
        what = f"MyMLP({', '.join(f'{k}={v}' for k, v in shown.items())})"
        input_dim, output_dim = kwargs.get("input_dim", 2), kwargs.get("output_dim", 1)
        hidden = list(kwargs.get("hidden_dims", (100, 100)))
        assert model["is_module"], "MyMLP должен наследоваться от torch.nn.Module"
        for name, present in model["attributes"].items():
            assert present, f"{what}: нет атрибута {name}"
        assert model["hidden_is_module_list"], f"{what}: hidden_layers должен быть nn.ModuleList"

        def sizes(layer: dict[str, Any], name: str) -> tuple[int, int]:
            assert layer["is_mylinear"], f"{what}: {name} должен быть MyLinear, а не {layer['type']}"  # noqa: B023
            assert layer["weight_shape"] is not None and len(layer["weight_shape"]) == 2, (
                f"{what}: у {name} нет weight-матрицы"  # noqa: B023
            )
            assert not layer["weight_constant"], (
                f"{what}: weight у {name} заполнен одним числом, слои должны быть инициализированы"  # noqa: B023
            )
            return layer["weight_shape"][1], layer["weight_shape"][0]

        got = sizes(model["input_layer"], "input_layer")
        assert got == (input_dim, hidden[0]), f"{what}: input_layer {got} (in, out) вместо {(input_dim, hidden[0])}"
        got_hidden = [sizes(layer, f"hidden_layers[{i}]") for i, layer in enumerate(model["hidden_layers"])]
        want_hidden = list(zip(hidden[:-1], hidden[1:], strict=True))
        assert got_hidden == want_hidden, f"{what}: размеры hidden_layers (in, out) {got_hidden} вместо {want_hidden}"
        got = sizes(model["output_layer"], "output_layer")
        assert got == (hidden[-1], output_dim), f"{what}: output_layer {got} (in, out) вместо {(hidden[-1], output_dim)}"
        if expected_count is None:
            dims = [input_dim, *hidden, output_dim]
            expected_count = sum(a * b + b for a, b in zip(dims[:-1], dims[1:], strict=True))
        assert model["parameter_count"] == expected_count, (
            f"{what}: {model['parameter_count']} параметров вместо {expected_count}"
        )
    obey_rules(broken_rules, "test_mymlp_structure")


@pytest.mark.points(UNIT)
def test_mymlp_forward(worker: Any, broken_rules: dict[str, list[Violation]]) -> None:
    """With the judge's weights: input_layer -> act -> (hidden -> act)* -> output_layer, no act at the end."""
    cases = ((7, 4, (30, 20, 10), "tanh", "nn.Tanh"), (5, 3, (16,), "relu", "nn.ReLU"),
             (2, 1, (8, 8), "relu", "nn.ReLU"))
    for input_dim, output_dim, hidden, activation, shown in cases:
        dims = [input_dim, *hidden, output_dim]
        layers = [list(linear_weights(a, b, seed=700 + 10 * i)) for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True))]
        x = randn(6, input_dim, seed=input_dim)
        what = f"MyMLP({input_dim}, {output_dim}, {hidden}, {shown})"
        result = call(worker, what, "mlp_forward", input_dim=input_dim, output_dim=output_dim, hidden_dims=list(hidden),
                      activation=activation, layers=layers, x=x)
        output = tensor_of(result["output"], f"{what}: выход forward", [6, output_dim])
        close(output, judge.mlp_reference(x, layers, activation), 1e-10, f"{what}: выход forward")
    obey_rules(broken_rules, "test_mymlp_forward")


# ----------------------------------------------------------------------------- train


def blobs(n_per_class: int = 30, seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Three Gaussian blobs in 4-D (float32), 3 * ``n_per_class`` distinct rows."""
    g = generator(seed)
    centers = torch.tensor([[2.0, 0.0, 0.0, 1.0], [-2.0, 1.0, 0.0, -1.0], [0.0, -2.0, 1.0, 0.0]])
    X = torch.cat([c + 0.7 * torch.randn(n_per_class, 4, generator=g) for c in centers])
    return X, torch.arange(3).repeat_interleave(n_per_class)


def small_net(seed: int) -> list[list[torch.Tensor]]:
    """The judge's weights of ``Linear(4, 16) -> tanh -> Linear(16, 3)`` (float32)."""
    return [list(linear_weights(4, 16, seed, dtype=torch.float32)),
            list(linear_weights(16, 3, seed + 5, dtype=torch.float32))]


def no_optimizers(result: dict[str, Any]) -> None:
    """Second layer of the ``optim`` rule: no ``torch.optim`` optimizer was built during ``train``."""
    assert not result["optimizers"], (
        f"нарушено правило «{judge.OPTIM.title}»: в train создан оптимизатор torch.optim.{result['optimizers'][0]}"
    )


def parameters_of(result: dict[str, Any], like: list[list[torch.Tensor]]) -> list[list[torch.Tensor]]:
    """The trained ``[[weight, bias], ...]`` the worker returned, checked against the shapes of ``like``."""
    params = result["parameters"]
    assert len(params) == len(like), "train заменил слои модели"
    for pair, reference in zip(params, like, strict=True):
        for got, want in zip(pair, reference, strict=True):
            assert got.shape == want.shape, "train изменил формы параметров модели"
    return params


@pytest.mark.points(UNIT)
def test_train_sgd_step(worker: Any, broken_rules: dict[str, list[Violation]]) -> None:
    """Full-batch epochs reproduce ``p <- p - lr * grad`` exactly (gradients reset between steps),
    the epoch losses are right, and mini-batch SGD lowers the loss."""
    X, y = blobs()
    start = small_net(seed=11)
    lr = 0.5
    expected_params, expected_losses = judge.sgd_reference(start, X, y, epochs=2, lr=lr)
    result = call(worker, "train", "train_net", layers=start, X=X, y=y, epochs=2, batch_size=len(X), lr=lr, seed=0)
    losses = numbers_of(result["losses"], "train(..., epochs=2) должна вернуть список из 2 потерь, но", 2)
    for got, want in zip(losses, expected_losses, strict=True):
        assert abs(got - want) <= 1e-4 * max(1.0, abs(want)), (
            f"потери эпох при batch_size = N {[round(v, 5) for v in losses]} вместо "
            f"{[round(v, 5) for v in expected_losses]} (кросс-энтропия, среднее по объектам)"
        )
    for index, (got, want) in enumerate(zip(parameters_of(result, start), expected_params, strict=True)):
        for name, g, w in (("weight", got[0], want[0]), ("bias", got[1], want[1])):
            error = (g.double() - w.double()).abs().max().item()
            assert error <= 1e-5, (
                f"после 2 эпох полного батча {name} слоя {index} отличается от p <- p - lr * grad на {error:.3g}: "
                "нет шага, неверный шаг или градиенты не обнуляются между шагами"
            )
    full_batch = result
    start = small_net(seed=12)
    result = call(worker, "train", "train_net", layers=start, X=X, y=y, epochs=5, batch_size=16, lr=0.1, seed=1)
    numbers_of(result["losses"], "train(..., epochs=5) должна вернуть список из 5 потерь, но", 5)
    before, after = judge.cross_entropy_of(start, X, y), judge.cross_entropy_of(parameters_of(result, start), X, y)
    assert after < before - 0.05, (
        f"за 5 эпох мини-батчевого SGD (batch_size=16, lr=0.1) потеря модели не уменьшилась: {before:.4f} -> {after:.4f}"
    )
    obey_rules(broken_rules, "test_train_sgd_step")
    no_optimizers(full_batch)
    no_optimizers(result)


@pytest.mark.points(UNIT)
def test_train_batches(worker: Any, broken_rules: dict[str, list[Violation]]) -> None:
    """Every epoch visits each object once, in batches of ``batch_size``, freshly shuffled."""
    X, y = blobs()
    n, batch_size, epochs = len(X), 16, 3
    per_epoch = math.ceil(n / batch_size)
    position = {tuple(row): i for i, row in enumerate(X.tolist())}
    assert len(position) == n, "grader error: the rows of the test data are not distinct"
    result = call(worker, "train", "train_net", layers=small_net(seed=5), X=X, y=y, epochs=epochs,
                  batch_size=batch_size, lr=0.05, seed=2)
    batches = result["batches"]
    sizes = [len(b) for b in batches]
    assert len(sizes) == epochs * per_epoch, (
        f"N = {n}, batch_size = {batch_size}, epochs = {epochs}: ожидалось {epochs * per_epoch} "
        f"вызовов модели на батчах, а было {len(sizes)} (размеры {sizes[:12]}...)"
    )
    assert all(size <= batch_size for size in sizes), f"батчи больше batch_size = {batch_size}: {sizes}"
    orders = []
    for epoch in range(epochs):
        rows = torch.cat(batches[epoch * per_epoch : (epoch + 1) * per_epoch])
        order = [position.get(tuple(row), -1) for row in rows.tolist()]
        assert sorted(order) == list(range(n)), f"эпоха {epoch + 1}: каждый объект должен попасть ровно в один батч"
        orders.append(order)
    assert len({tuple(o) for o in orders}) == epochs, (
        "порядок объектов должен перемешиваться заново в каждой эпохе (torch.randperm)"
    )
    obey_rules(broken_rules, "test_train_batches")
    no_optimizers(result)


@pytest.mark.points(2 * UNIT)
def test_train_digits(worker: Any, broken_rules: dict[str, list[Violation]]) -> None:
    """``MyMLP`` + ``train`` on the training part of ``load_digits``; the judge evaluates the returned
    parameters on the held-out part with its own model: accuracy >= 0.93."""
    X_train, X_test, y_train, y_test = judge.digits_split()
    X_train, y_train = judge.permuted(X_train, y_train, DIGITS_PERMUTATION_SEED, 10)
    X_test, y_test = judge.permuted(X_test, y_test, DIGITS_PERMUTATION_SEED, 10)
    setup = (f"MyMLP(64, 10, {DIGITS_HIDDEN_DIMS}), epochs={DIGITS_EPOCHS}, batch_size={DIGITS_BATCH_SIZE}, "
             f"lr={DIGITS_LR}")
    result = call(worker, f"обучение на цифрах ({setup})", "train_digits", timeout=DIGITS_TIMEOUT_S,
                  X=X_train, y=y_train, num_classes=10, hidden_dims=list(DIGITS_HIDDEN_DIMS), epochs=DIGITS_EPOCHS,
                  batch_size=DIGITS_BATCH_SIZE, lr=DIGITS_LR, seed=DIGITS_SEED)
    dims = [64, *DIGITS_HIDDEN_DIMS, 10]
    assert len(result["layers"]) == len(dims) - 1, (
        f"{setup}: после обучения {len(result['layers'])} линейных слоёв вместо {len(dims) - 1}"
    )
    layers = []
    for index, ((weight, bias), (a, b)) in enumerate(zip(result["layers"], zip(dims[:-1], dims[1:], strict=True),
                                                         strict=True)):
        layers.append([tensor_of(weight, f"{setup}: weight слоя {index}", [b, a]),
                       tensor_of(bias, f"{setup}: bias слоя {index}", [b])])
    logits = judge.mlp_reference(X_test, layers, "relu")
    accuracy = (logits.argmax(dim=1) == y_test).double().mean().item()
    assert accuracy >= DIGITS_THRESHOLD, (
        f"точность на отложенной выборке load_digits {accuracy:.4f} < {DIGITS_THRESHOLD} ({setup})"
    )
    obey_rules(broken_rules, "test_train_digits")
    no_optimizers(result)
