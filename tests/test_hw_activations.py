"""Tests of the ``activations`` homework and its grader, run the way an instructor runs them.

Every submission is graded by ``python homeworks/grade.py activations DIR --json OUT`` in a
subprocess: the reference solution (the instructor source itself) must score 1.0, the
untouched student release 0.0, and each deliberately wrong submission (a copy of the
reference with a few strings replaced) must lose exactly the points of the tests meant to catch
it. Trivial stubs (constant, zero, identity, a hang; issue #12, kind 9) and dishonest variants
that get the right values from forbidden code (kind 8: the op recorder switched off, built
names through importlib/getattr/torch.ops, autograd in a module-level helper) must score 0.
All submissions are graded once per session, two at a time (the machine has 2 cores).
"""

from __future__ import annotations

import ast
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
FUNCTIONS = [name[2:] + "Function" for name in ACTIVATIONS]
CHECKS = ["test_forward_float64", "test_forward_float32", "test_backward_float64", "test_backward_extremes"]
ALL_TESTS = frozenset(f"{check}[{act}]" for check in CHECKS for act in ACTIVATIONS)

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


FORWARD = ("test_forward_float64", "test_forward_float32")
BACKWARD = ("test_backward_float64", "test_backward_extremes")
#: The last line of the instructor source: code appended after it patches the finished classes.
LAST_LINE = '        return f"beta={self.beta}, threshold={self.threshold}"\n'
RULE_BUILTINS = "готовые функции активации запрещены"
RULE_AUTOGRAD = "автоматическое дифференцирование в решении запрещено"


def appended(code: str) -> tuple[tuple[str, str], ...]:
    """A replacement that appends ``code`` at the end of the source (after the last class)."""
    return ((LAST_LINE, LAST_LINE + "\n\n" + code.strip("\n") + "\n"),)


def stub(forward: str, backward: str, reason: str = "неверн") -> Mutation:
    """A trivial stub written where the student writes: every solution region of the reference
    becomes one ``return``: ``forward`` (an expression in ``x``) in ``forward`` and in
    ``stable_sigmoid``, ``backward`` (in ``grad_output``) in ``backward``, followed by one ``None``
    per number parameter of the Function. Every test must fail on it (issue #12, kind 9), each
    failure's output containing ``reason``."""
    source = SOURCE.read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    replacements: list[tuple[str, str]] = []
    n_params = 0
    start: int | None = None
    for number, line in enumerate(lines):
        text = line.strip()
        if text.startswith("def forward("):
            n_params = len(ast.parse(text + " pass").body[0].args.args) - 2  # minus ctx and x
        if text == BEGIN_MARKER:
            start = number
        elif text == END_MARKER and start is not None:
            region = "".join(lines[start:number + 1])
            indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
            in_backward = any(lines[k].strip().startswith("def backward(") for k in range(start - 3, start))
            value = backward + ", None" * n_params if in_backward else forward
            replacements.append((region, f"{indent}return {value}\n"))
            start = None
    return Mutation(tuple(replacements), ALL_TESTS, reason=reason)


MUTATIONS: dict[str, Mutation] = {
    # --- wrong solutions: each loses exactly the tests meant to catch it -------------------------
    # Identity passes any test fed only non-negative inputs; ours feed both signs, and its backward
    # (consistent with its own forward) is compared with the judge's reference gradient.
    "identity_relu_leaky_relu_elu": Mutation(
        (("return torch.where(x > 0, x, torch.zeros_like(x))", "return x.clone()"),
         ("return torch.where(x > 0, grad_output, torch.zeros_like(grad_output))", "return grad_output"),
         ("return torch.where(x > 0, x, x * negative_slope)", "return x.clone()"),
         ("return torch.where(x > 0, grad_output, grad_output * ctx.negative_slope), None",
          "return grad_output, None"),
         ("return torch.where(x > 0, x, alpha * torch.expm1(negative))", "return x.clone()"),
         ("return torch.where(x > 0, grad_output, grad_output * ctx.alpha * torch.exp(negative)), None",
          "return grad_output, None")),
        frozenset(names_of("MyReLU") | names_of("MyLeakyReLU") | names_of("MyELU")),
        reason="неверн",
    ),
    # The forbidden shortcut: caught on the syntax tree, only GELU's tests fail.
    "gelu_calls_F_gelu": Mutation(
        (("        return x * cdf\n", "        return torch.nn.functional.gelu(x)\n"),),
        frozenset(names_of("MyGELU")),
        reason=RULE_BUILTINS,
    ),
    # The same shortcut as a tensor method.
    "sigmoid_tensor_method": Mutation(
        (("        s = stable_sigmoid(x)\n        ctx.save_for_backward(s)", "        s = x.sigmoid()\n"
          "        ctx.save_for_backward(s)"),),
        frozenset(names_of("MySigmoid")),
        reason=RULE_BUILTINS,
    ),
    # ... hidden from any text search: the core's rule on getattr with a computed name.
    "silu_calls_sigmoid_by_getattr": Mutation(
        (("s = stable_sigmoid(x)\n        ctx.save_for_backward(x, s)",
          's = getattr(torch, "sig" + "moid")(x)\n        ctx.save_for_backward(x, s)'),),
        frozenset(names_of("MySiLU")),
        reason="getattr",
    ),
    # A forbidden call in a helper: the tests of every activation that uses the helper fail.
    "stable_sigmoid_calls_torch_sigmoid": Mutation(
        (("    z = torch.exp(-torch.abs(x))  # z из (0, 1]: переполнения нет\n"
          "    return torch.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))\n",
          "    return torch.sigmoid(x)\n"),),
        frozenset(names_of("MySigmoid") | names_of("MySiLU") | names_of("MySoftplus")),
        reason=RULE_BUILTINS,
    ),
    # Naive formulas: (e^x - e^-x) / (e^x + e^-x) is inf / inf = nan at |x| >= 710 (float64); the
    # backward 1 - y^2 then gets the nan from the saved output.
    "naive_tanh": Mutation(
        (("m = torch.expm1(-2.0 * torch.abs(x))\n        t = -m / (2.0 + m)\n        y = torch.where(x < 0, -t, t)",
          "y = (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))"),),
        frozenset(names_of("MyTanh")),
        reason="inf/nan",
    ),
    # log(1 + exp(z)) without the threshold: inf at large z; the sigmoid exp(z) / (1 + exp(z)): nan.
    "naive_softplus": Mutation(
        (("return torch.where(z > threshold, x, smooth)", "return torch.log(1 + torch.exp(z)) / beta"),
         ("return torch.where(z > ctx.threshold, grad_output, grad_output * stable_sigmoid(z)), None, None",
          "return grad_output * torch.exp(z) / (1 + torch.exp(z)), None, None")),
        frozenset(names_of("MySoftplus")),
        reason="inf/nan",
    ),
    # Issue #13: the same naive log(1 + exp(z)) behind the threshold, which hides the overflow at
    # the default threshold 20. Caught by threshold=400 (float32 overflow on the selected branch),
    # beta=0.01 (log instead of log1p loses e^z at z = -10 in float32) and, in float64, by the
    # exp(1000) that torch.where discards.
    "naive_softplus_behind_threshold": Mutation(
        (("smooth = (torch.clamp(z, min=0.0) + torch.log1p(torch.exp(-torch.abs(z)))) / beta",
          "smooth = torch.log(1 + torch.exp(z)) / beta"),),
        frozenset(names_of("MySoftplus", *FORWARD)),
        reason="inf/nan",
    ),
    "naive_sigmoid_in_softplus_backward": Mutation(
        (("return torch.where(z > ctx.threshold, grad_output, grad_output * stable_sigmoid(z)), None, None",
          "return torch.where(z > ctx.threshold, grad_output, grad_output * torch.exp(z) / (1 + torch.exp(z))), "
          "None, None"),),
        frozenset(names_of("MySoftplus", *BACKWARD)),
        reason="inf/nan",
    ),
    # Issue #13: exp without the clamp in ELU: torch.where discards exp(1000) = inf, the watch
    # on every operation does not.
    "elu_backward_unclamped_exp": Mutation(
        (("grad_output * ctx.alpha * torch.exp(negative)), None", "grad_output * ctx.alpha * torch.exp(x)), None"),),
        frozenset(names_of("MyELU", *BACKWARD)),
        reason="inf/nan",
    ),
    "elu_forward_unclamped_expm1": Mutation(
        (("alpha * torch.expm1(negative))", "alpha * torch.expm1(x))"),),
        frozenset(names_of("MyELU", *FORWARD)),
        reason="inf/nan",
    ),
    "sigmoid_backward_wrong_sign": Mutation(
        (("return grad_output * s * (1.0 - s)", "return -grad_output * s * (1.0 - s)"),),
        frozenset(names_of("MySigmoid", *BACKWARD)),
        reason="неверный градиент",
    ),
    # ReLU'(0) = 1 instead of PyTorch's 0: only the test that includes the kink fails, and says so.
    "relu_derivative_one_at_zero": Mutation(
        (("return torch.where(x > 0, grad_output, torch.zeros_like(grad_output))",
          "return torch.where(x >= 0, grad_output, torch.zeros_like(grad_output))"),),
        frozenset(names_of("MyReLU", "test_backward_extremes")),
        reason="точка излома",
    ),
    # Plain autograd instead of a torch.autograd.Function with a hand-written backward.
    "relu_without_function": Mutation(
        (("return ReLUFunction.apply(x)", "return torch.where(x > 0, x, torch.zeros_like(x))"),),
        frozenset(names_of("MyReLU")),
        reason="torch.autograd.Function",
    ),
    "leaky_relu_modifies_input": Mutation(
        (("        ctx.save_for_backward(x)\n        ctx.negative_slope = negative_slope\n",
          "        ctx.save_for_backward(x)\n        ctx.negative_slope = negative_slope\n"
          "        x.mul_(1.0)\n        x.add_(0.5)\n        x.sub_(0.5)\n        x.add_(1e-3)\n"),),
        frozenset(names_of("MyLeakyReLU")),
        reason="изменил входной тензор",
    ),
    "tanh_backward_infinite_loop": Mutation(
        (("(y,) = ctx.saved_tensors\n        return grad_output * (1.0 - y * y)",
          "while True:\n            pass"),),
        frozenset(names_of("MyTanh", *BACKWARD)),
        reason="превышено время",
    ),
    "exit_at_import": Mutation(
        (("from __future__ import annotations\n", "from __future__ import annotations\n\nraise SystemExit(0)\n"),),
        ALL_TESTS,
        reason="выход",
    ),
    # --- trivial stubs (issue #12, kind 9): every test fails -----------------------------------
    "stub_constant": stub("torch.full_like(x, 0.5)", "torch.zeros_like(grad_output)"),
    "stub_zero": stub("torch.zeros_like(x)", "torch.zeros_like(grad_output)"),
    "stub_identity": stub("x.clone()", "grad_output.clone()"),
    # --- dishonest (issue #12, kind 8): the right values from forbidden code score 0 -------------
    # The built-ins with the worker's op recorder switched off (a TorchDispatchMode internal).
    "hide_from_dispatch": Mutation(appended("""
from torch.utils._python_dispatch import _disable_current_modes


def _borrow(builtin):
    def forward(ctx, x, *params):
        ctx.params = params
        ctx.save_for_backward(x)
        with _disable_current_modes():
            return builtin(x, *params)

    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        with _disable_current_modes(), torch.enable_grad():
            leaf = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(builtin(leaf, *ctx.params), leaf, grad_output)
        return (grad, *([None] * len(ctx.params)))

    return staticmethod(forward), staticmethod(backward)


for _cls, _builtin in ((ReLUFunction, torch.relu), (LeakyReLUFunction, torch.nn.functional.leaky_relu),
                       (SigmoidFunction, torch.sigmoid), (TanhFunction, torch.tanh),
                       (ELUFunction, torch.nn.functional.elu), (GELUFunction, torch.nn.functional.gelu),
                       (SiLUFunction, torch.nn.functional.silu), (SoftplusFunction, torch.nn.functional.softplus)):
    _cls.forward, _cls.backward = _borrow(_builtin)
"""), ALL_TESTS, reason="torch.utils._python_dispatch"),
    # The built-ins fetched with built names: importlib + getattr + torch.ops.
    "builtins_by_built_names": Mutation(appended("""
import importlib

_functional = importlib.import_module("torch.nn." + "functional")


def _borrow(name):
    builtin = getattr(_functional, name)

    def forward(ctx, x, *params):
        ctx.params = params
        ctx.x_in = x
        return builtin(x, *params)

    def backward(ctx, grad_output):
        return (grad_output * torch.ops.aten.ones_like(ctx.x_in), *([None] * len(ctx.params)))

    return staticmethod(forward), staticmethod(backward)


for _cls, _name in zip((ReLUFunction, LeakyReLUFunction, SigmoidFunction, TanhFunction, ELUFunction,
                        GELUFunction, SiLUFunction, SoftplusFunction),
                       ("re" + "lu", "leaky_" + "relu", "sig" + "moid", "ta" + "nh", "e" + "lu", "ge" + "lu",
                        "si" + "lu", "soft" + "plus")):
    _cls.forward, _cls.backward = _borrow(_name)
"""), ALL_TESTS, reason="importlib"),
    # The reference's own forward, differentiated by autograd in a module-level helper that every
    # backward calls: values and gradients are right; the rule on autograd fails it.
    "autograd_in_helper": Mutation(appended("""
class _Scratch:
    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors


def _autograd_backward(forward):
    def backward(ctx, grad_output):
        with torch.enable_grad():
            leaf = ctx.x_in.detach().requires_grad_(True)
            scratch = _Scratch()
            (grad,) = torch.autograd.grad(forward(scratch, leaf, *ctx.params), leaf, grad_output)
        return (grad, *([None] * len(ctx.params)))

    def wrapped_forward(ctx, x, *params):
        ctx.x_in, ctx.params = x, params
        return forward(_Scratch(), x, *params)

    return staticmethod(wrapped_forward), staticmethod(backward)


for _cls in (ReLUFunction, LeakyReLUFunction, SigmoidFunction, TanhFunction, ELUFunction, GELUFunction,
             SiLUFunction, SoftplusFunction):
    _cls.forward, _cls.backward = _autograd_backward(_cls.forward)
"""), ALL_TESTS, reason=RULE_AUTOGRAD),
    # A hang in every forward, with no import or rule broken (any() over an endless iterator of
    # zeros): bounded by the per-call limit and the core's limit on worker restarts.
    "hang_in_every_forward": stub("x if any(iter(int, 1)) else x", "grad_output", reason="решения"),
}


def _combine(*parts: str) -> None:
    """Grade wrong parts that touch disjoint activations as one submission (fewer gradings, same
    strictness: every test is checked by name, so each part must fail exactly its own tests)."""
    mutations = [MUTATIONS.pop(part) for part in parts]
    reasons = {mutation.reason for mutation in mutations}
    assert len(reasons) == 1, f"parts with different reasons: {parts}"
    must_fail = [mutation.must_fail for mutation in mutations]
    assert sum(map(len, must_fail)) == len(frozenset().union(*must_fail)), f"overlapping parts: {parts}"
    MUTATIONS["__".join(parts)] = Mutation(
        tuple(r for mutation in mutations for r in mutation.replacements), frozenset().union(*must_fail),
        reason=reasons.pop())


_combine("naive_tanh", "elu_forward_unclamped_expm1", "naive_sigmoid_in_softplus_backward")
_combine("naive_softplus_behind_threshold", "elu_backward_unclamped_exp")
_combine("gelu_calls_F_gelu", "sigmoid_tensor_method")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Graded]:
    """Grade the reference, the release and every mutation once (the infinite loop first: it
    mostly waits for its timeouts, so the others overlap it)."""
    root = tmp_path_factory.mktemp("activations")
    return grade_all("activations", SOURCE.name, MUTATIONS, root, first=["hang_in_every_forward", "tanh_backward_infinite_loop"])


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


def _load_with_homeworks(path: Path, name: str) -> Any:
    """Import ``path`` as module ``name`` (registered in ``sys.modules``, as dataclasses need) with
    ``homeworks/`` on ``sys.path`` only while it imports (for its imports of ``grading`` and
    ``grading_worker``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(HOMEWORKS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(HOMEWORKS))
    return module


def test_worker_op_reports_hidden_overflow_and_grad_fn() -> None:
    """The worker op, called directly on the reference and on a where-hidden exp overflow."""
    import torch

    ops = _load_with_homeworks(HOMEWORKS / "grading_worker" / "ops_activations.py", "ops_activations_under_test")
    reference = load_module(SOURCE, "reference_activations_for_ops")
    x = torch.tensor([-1000.0, -1.0, 0.0, 1.0, 1000.0], dtype=torch.float64)
    g = torch.tensor([0.5, -1.0, 1.5, -2.0, 1.0], dtype=torch.float64)
    result = ops.run(reference, {"name": "MyELU", "kwargs": {"alpha": 0.5}, "x": x, "grad_output": g})
    assert result["grad_fn"] == {"node": "ELUFunctionBackward", "custom_function": "ELUFunction",
                                 "own_backward": True}
    assert torch.equal(result["x_after"], x) and result["y_dtype"] == "float64"
    assert torch.allclose(result["grad"], g * torch.tensor([0.5 * torch.exp(torch.tensor(-1000.0)).item(),
                                                            0.5 * torch.exp(torch.tensor(-1.0)).item(), 0.5, 1, 1],
                                                           dtype=torch.float64))
    assert result["forward_nonfinite"] == [] and result["backward_nonfinite"] == []
    assert "aten.elu" not in result["forward_ops"] and "aten.expm1" in result["forward_ops"]

    hidden = load_module(SOURCE, "reference_activations_hidden_overflow")
    hidden.ELUFunction.backward = staticmethod(
        lambda ctx, grad_output: (torch.where(ctx.saved_tensors[0] > 0, grad_output,
                                              grad_output * ctx.alpha * torch.exp(ctx.saved_tensors[0])), None))
    result = ops.run(hidden, {"name": "MyELU", "kwargs": {}, "x": x, "grad_output": g})
    assert torch.isfinite(result["grad"]).all()  # torch.where hides the overflow in the value ...
    assert result["backward_nonfinite"][0] == {"op": "aten.exp", "value": "inf", "x": 1000.0}  # ... not here
    with pytest.raises(ValueError, match="unknown activation"):
        ops.run(reference, {"name": "stable_sigmoid", "kwargs": {}, "x": x, "grad_output": None})


def test_rule_violations_are_scoped_to_the_activations_that_reach_them() -> None:
    """A violation fails the tests of the activations whose code reaches its line, else all."""
    grader = _load_with_homeworks(HW_DIR / "grader" / "activation_rules.py", "activation_rules_under_test")
    source = (
        "import torch\n"                                       # 1
        "def helper(x):\n"                                     # 2
        "    return torch.sigmoid(x)\n"                        # 3
        "class SiLUFunction:\n"                                # 4
        "    def forward(ctx, x):\n"                           # 5
        "        return x * helper(x)\n"                       # 6
        "class MySiLU:\n"                                      # 7
        "    def forward(self, x):\n"                          # 8
        "        return SiLUFunction.apply(x)\n"               # 9
        "class MyGELU:\n"                                      # 10
        "    @torch.no_grad()\n"                               # 11
        "    def forward(self, x):\n"                          # 12
        "        return torch.nn.functional.gelu(x)\n"         # 13
        "def unused():\n"                                      # 14
        "    return torch.tanh\n"                              # 15
        "def patched(ctx, x):\n"                               # 16
        "    return torch.relu(x)\n"                           # 17
        "MyReLU.forward = patched\n"                           # 18
    )
    affected = grader.activations_reached(source, ACTIVATIONS)
    everything = frozenset(ACTIVATIONS)
    assert affected(3) == affected(6) == affected(9) == {"MySiLU"}
    assert affected(11) == affected(13) == {"MyGELU"}
    assert affected(1) == affected(15) == affected(17) == affected(18) == everything
    assert grader.activations_reached("def broken(:\n", ACTIVATIONS)(1) == everything
    lines = {v.line for v in grader.RULES.check(source, "activations.py")}
    assert {3, 13, 15, 17} <= lines
    assert grader.RULES.check(SOURCE.read_text(encoding="utf-8"), "activations.py") == []
