"""Tests of the ``activations`` homework and its grader, run the way an instructor runs them.

Every submission is graded by ``python homeworks/grade.py activations DIR --json OUT`` in a
subprocess: the reference solution (the instructor source itself) must score 1.0, the
untouched student release 0.0, and each deliberately wrong submission (a copy of the
reference with one string replaced) must lose exactly the points of the tests meant to catch
it. All submissions are graded once per session, two at a time (the machine has 2 cores).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hw_helpers import (
    Graded,
    Mutation,
    assert_loses_exactly,
    assert_release_scores_zero,
    grade_all,
    load_module,
    release,
)

REPO = Path(__file__).resolve().parent.parent
HOMEWORKS = REPO / "homeworks"
HW_DIR = HOMEWORKS / "activations"
SOURCE = HW_DIR / "activations.py"
ACTIVATIONS = ["MyReLU", "MyLeakyReLU", "MySigmoid", "MyTanh", "MyELU", "MyGELU", "MySiLU", "MySoftplus"]
CHECKS = ["test_forward_float64", "test_forward_float32", "test_gradcheck", "test_backward_extremes"]
ALL_TESTS = {f"{check}[{act}]" for check in CHECKS for act in ACTIVATIONS}

_ADDED = str(HOMEWORKS) not in sys.path
if _ADDED:
    sys.path.insert(0, str(HOMEWORKS))
from grading.homework import load_homework  # noqa: E402
from grading.strip import BEGIN_MARKER, END_MARKER, strip_solutions  # noqa: E402

if _ADDED:  # do not leave homeworks/ importable: `import mlp` would find the instructor folder
    sys.path.remove(str(HOMEWORKS))


def names_of(activation: str, *checks: str) -> set[str]:
    """Display names of ``checks`` (all four by default) for one activation."""
    return {f"{check}[{activation}]" for check in (checks or CHECKS)}


FORWARD_AND_EXTREMES = ("test_forward_float64", "test_forward_float32", "test_backward_extremes")
BACKWARD = ("test_gradcheck", "test_backward_extremes")

MUTATIONS: dict[str, Mutation] = {
    # Identity passes any test fed only non-negative inputs; ours feed both signs. Its backward is
    # consistent with its forward, so gradcheck passes: only the value checks can catch it.
    # (One submission for the three: each activation's tests are independent of the others'.)
    "identity_relu_leaky_relu_elu": Mutation(
        (("return torch.where(x > 0, x, torch.zeros_like(x))", "return x.clone()"),
         ("return torch.where(x > 0, grad_output, torch.zeros_like(grad_output))", "return grad_output"),
         ("return torch.where(x > 0, x, x * negative_slope)", "return x.clone()"),
         ("return torch.where(x > 0, grad_output, grad_output * ctx.negative_slope), None",
          "return grad_output, None"),
         ("return torch.where(x > 0, x, alpha * torch.expm1(negative))", "return x.clone()"),
         ("return torch.where(x > 0, grad_output, grad_output * ctx.alpha * torch.exp(negative)), None",
          "return grad_output, None")),
        frozenset(names_of("MyReLU", *FORWARD_AND_EXTREMES) | names_of("MyLeakyReLU", *FORWARD_AND_EXTREMES)
                  | names_of("MyELU", *FORWARD_AND_EXTREMES)),
        reason="неверное значение",
    ),
    # The forbidden shortcut: values and gradients are right, the ATen recorder sees aten.gelu.
    "gelu_calls_F_gelu": Mutation(
        (("        return x * cdf\n", "        return torch.nn.functional.gelu(x)\n"),),
        frozenset(names_of("MyGELU")),
        reason="aten.gelu",
    ),
    # The same shortcut hidden from any text search.
    "silu_calls_sigmoid_by_getattr": Mutation(
        (("s = stable_sigmoid(x)\n        ctx.save_for_backward(x, s)",
          's = getattr(torch, "sig" + "moid")(x)\n        ctx.save_for_backward(x, s)'),),
        frozenset(names_of("MySiLU")),
        reason="aten.sigmoid",
    ),
    # Naive formulas: log(1 + exp(x)) overflows to inf, exp(x) / (1 + exp(x)) and
    # (e^x - e^-x) / (e^x + e^-x) become inf / inf = nan at large |x|.
    "naive_softplus_and_tanh": Mutation(
        (("return torch.where(z > threshold, x, smooth)", "return torch.log(1 + torch.exp(z)) / beta"),
         ("return torch.where(z > ctx.threshold, grad_output, grad_output * stable_sigmoid(z)), None, None",
          "return grad_output * torch.exp(z) / (1 + torch.exp(z)), None, None"),
         ("m = torch.expm1(-2.0 * torch.abs(x))\n        t = -m / (2.0 + m)\n        y = torch.where(x < 0, -t, t)",
          "y = (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))")),
        frozenset(names_of("MySoftplus", *FORWARD_AND_EXTREMES) | names_of("MyTanh", *FORWARD_AND_EXTREMES)),
        reason="нечисловые значения (inf/nan)",
    ),
    "sigmoid_backward_wrong_sign": Mutation(
        (("return grad_output * s * (1.0 - s)", "return -grad_output * s * (1.0 - s)"),),
        frozenset(names_of("MySigmoid", *BACKWARD)),
        reason="backward",
    ),
    # Plain autograd instead of a torch.autograd.Function with a hand-written backward.
    "relu_without_function": Mutation(
        (("return ReLUFunction.apply(x)", "return torch.where(x > 0, x, torch.zeros_like(x))"),),
        frozenset(names_of("MyReLU")),
        reason="torch.autograd.Function",
    ),
    "tanh_backward_infinite_loop": Mutation(
        (("(y,) = ctx.saved_tensors\n        return grad_output * (1.0 - y * y)",
          "while True:\n            pass"),),
        frozenset(names_of("MyTanh", *BACKWARD)),
        reason="timeout",
    ),
    "exit_at_import": Mutation(
        (("from __future__ import annotations\n", "from __future__ import annotations\n\nimport os\n\nos._exit(0)\n"),),
        frozenset(ALL_TESTS),
        reason="os._exit(0)",
    ),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Graded]:
    """Grade the reference, the release and every mutation once (the infinite loop first: it
    mostly waits for its timeouts, so the others overlap it)."""
    root = tmp_path_factory.mktemp("activations")
    return grade_all("activations", SOURCE.name, MUTATIONS, root, first=["tanh_backward_infinite_loop"])


@pytest.mark.slow
def test_reference_scores_full(graded: dict[str, Graded]) -> None:
    result = graded["reference"]
    assert result.returncode == 0, result.stderr
    assert result.results is not None
    assert result.results["score"] == 1.0 and result.results["max_score"] == 1.0
    assert {t["name"] for t in result.results["tests"]} == ALL_TESTS
    assert all(t["max_score"] == 1 / 32 for t in result.results["tests"])
    assert result.stdout.strip().splitlines()[-1] == "score: 1.0 / 1.0"
    assert result.stdout.count("PASS ") == 32 and "FAIL" not in result.stdout
    assert result.results["execution_time"] < 60  # measured by the grader, under load from the pool


@pytest.mark.slow
def test_release_scores_zero(graded: dict[str, Graded]) -> None:
    assert_release_scores_zero(graded["release"], ALL_TESTS)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MUTATIONS))
def test_wrong_submission_loses_its_points(graded: dict[str, Graded], name: str) -> None:
    assert_loses_exactly(graded[name], MUTATIONS[name], dict.fromkeys(ALL_TESTS, 1 / 32))


def test_release_is_stripped_and_importable(tmp_path: Path) -> None:
    """The release: solutions gone, the rest byte-identical, imports, every activation raises."""
    import torch

    released = release("activations", tmp_path)
    assert sorted(p.name for p in released.iterdir()) == ["README.md", "activations.py"]
    text = (released / "activations.py").read_text(encoding="utf-8")
    assert BEGIN_MARKER not in text and END_MARKER not in text
    assert text == strip_solutions(SOURCE.read_text(encoding="utf-8"), SOURCE)
    assert text.count("raise NotImplementedError") == 17  # stable_sigmoid + 8 x (forward, backward)
    assert (released / "README.md").read_bytes() == (HW_DIR / "README.md").read_bytes()
    module = load_module(released / "activations.py", "released_activations")
    for name in ACTIVATIONS:
        with pytest.raises(NotImplementedError):
            getattr(module, name)()(torch.linspace(-3, 3, 7, requires_grad=True))


def test_reference_matches_torch_defaults() -> None:
    """The modules' parameters and defaults are those of their torch.nn namesakes."""
    import inspect

    from torch import nn

    module = load_module(SOURCE, "reference_activations")

    def named(cls: type) -> dict[str, Any]:
        params = inspect.signature(cls).parameters.values()
        return {p.name: p.default for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

    for name in ACTIVATIONS:
        ours, theirs = named(getattr(module, name)), named(getattr(nn, name[2:]))
        theirs = {k: v for k, v in theirs.items() if k not in ("inplace", "approximate")}
        assert ours == theirs, (name, ours, theirs)


def test_homework_config_is_valid() -> None:
    homework = load_homework("activations")
    assert homework.max_score == 1.0
    assert homework.files == ("README.md", "activations.py")
    assert homework.module == "activations"
