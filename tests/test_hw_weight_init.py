"""Tests of the ``weight-init`` homework: reference, release, notebook and grader.

* fast: ``homework.json`` is valid; the reference agrees with ``torch.nn.init`` bit for bit
  given the same generator; the release strips every solution and keeps the rest; the
  experiments notebook is in sync with its py:percent source;
* slow: the notebook executes in a fresh kernel in under 60 s and computes the expected
  figures; every submission is graded by ``python homeworks/grade.py weight-init DIR --json``
  in a subprocess, the way an instructor runs it: the reference scores 1.0, the untouched
  release 0.0, and each deliberately wrong submission (a copy of the reference with strings
  replaced) fails exactly the tests meant to catch it. All gradings run once per session, two
  at a time (the machine has 2 cores).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import shutil
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat
import pytest
import torch
from hw_helpers import Graded, Mutation, grade_all

REPO = Path(__file__).resolve().parent.parent
HOMEWORKS = REPO / "homeworks"
HW_DIR = HOMEWORKS / "weight-init"
SOURCE = HW_DIR / "weight_init.py"
NOTEBOOK_SOURCE = HW_DIR / "experiments.py"
NOTEBOOK = HW_DIR / "experiments.ipynb"
FUNCTIONS = (
    "calculate_gain", "fan_in_and_fan_out", "constant_", "uniform_", "normal_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
)
ALL_TESTS = {
    "test_calculate_gain_values", "test_calculate_gain_errors", "test_fans_linear", "test_fans_conv",
    "test_constant_", "test_uniform_", "test_normal_", "test_xavier_uniform_", "test_xavier_normal_",
    "test_kaiming_uniform_[fan_in]", "test_kaiming_uniform_[fan_out]",
    "test_kaiming_normal_[fan_in]", "test_kaiming_normal_[fan_out]",
    "test_generator_reproducibility", "test_no_torch_nn_init",
    "test_relu_xavier_shrinks_by_sqrt2", "test_relu_he_keeps_scale", "test_he_trains_deep_mlp_on_digits",
}
KAIMING_TESTS = {f"test_kaiming_{kind}_[{mode}]" for kind in ("uniform", "normal") for mode in ("fan_in", "fan_out")}

_ADDED = [p for p in (str(HOMEWORKS), str(REPO / "seminars")) if p not in sys.path]
sys.path[:0] = _ADDED
from grading.homework import load_homework  # noqa: E402
from grading.strip import BEGIN_MARKER, END_MARKER, release_homework  # noqa: E402
from nbio import dumps  # noqa: E402
from rebuild_notebook import rebuild  # noqa: E402

for _path in _ADDED:  # keep homeworks/ off sys.path: `import weight_init` must not find the reference
    sys.path.remove(_path)


def load_reference() -> ModuleType:
    """Import the instructor source under a private name."""
    spec = importlib.util.spec_from_file_location("_weight_init_reference", SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- fast checks


def test_homework_json_is_valid() -> None:
    homework = load_homework("weight-init")
    assert homework.module == "weight_init"
    assert set(homework.files) == {"README.md", "weight_init.py", "experiments.ipynb"}
    assert homework.max_score == 1.0


def test_reference_matches_torch_nn_init_bit_for_bit() -> None:
    ref = load_reference()
    for shape in [(300, 1000), (16, 3, 5, 5), (8, 4, 3), (2, 3, 2, 3, 4)]:
        assert ref.fan_in_and_fan_out(torch.empty(shape)) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    for name in ("linear", "conv2d", "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"):
        assert ref.calculate_gain(name) == torch.nn.init.calculate_gain(name)
    assert ref.calculate_gain("leaky_relu", 0.2) == torch.nn.init.calculate_gain("leaky_relu", 0.2)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("uniform_", {"a": -2.0, "b": 3.0}),
        ("normal_", {"mean": 1.0, "std": 0.3}),
        ("xavier_uniform_", {"gain": 5 / 3}),
        ("xavier_normal_", {}),
        ("kaiming_uniform_", {"a": 0.2, "mode": "fan_out"}),
        ("kaiming_normal_", {"nonlinearity": "relu"}),
        ("kaiming_uniform_", {"nonlinearity": "tanh"}),
    ]
    for name, kwargs in cases:
        for shape in [(30, 100), (8, 4, 3, 3)]:
            ours = getattr(ref, name)(torch.empty(shape), generator=torch.Generator().manual_seed(5), **kwargs)
            theirs = getattr(torch.nn.init, name)(torch.empty(shape), generator=torch.Generator().manual_seed(5), **kwargs)
            assert torch.equal(ours, theirs), (name, kwargs, shape)
    leaf = torch.nn.Parameter(torch.empty(4, 6))
    assert ref.kaiming_normal_(leaf) is leaf and leaf.grad_fn is None and leaf.requires_grad
    assert torch.equal(ref.constant_(leaf, 0.25), torch.full((4, 6), 0.25))
    with pytest.raises(ValueError):
        ref.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError):
        ref.kaiming_uniform_(torch.empty(3, 4), mode="fan_avg")
    with pytest.raises(ValueError):
        ref.fan_in_and_fan_out(torch.empty(5))


def test_release_strips_every_solution(tmp_path: Path) -> None:
    homework = load_homework("weight-init")
    release_homework(homework, tmp_path)
    out = tmp_path / "weight-init"
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "experiments.ipynb", "weight_init.py"]
    assert (out / "README.md").read_bytes() == (HW_DIR / "README.md").read_bytes()
    assert (out / "experiments.ipynb").read_bytes() == NOTEBOOK.read_bytes()
    released = (out / "weight_init.py").read_text(encoding="utf-8")
    assert BEGIN_MARKER not in released and END_MARKER not in released
    tree = ast.parse(released)
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert set(FUNCTIONS) <= set(functions)
    for name in FUNCTIONS:
        body = functions[name].body
        statements = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        assert len(statements) == 1 and isinstance(statements[0], ast.Raise), f"{name} keeps solution code"
        assert ast.unparse(statements[0]) == "raise NotImplementedError"
        docstring = ast.get_docstring(functions[name])
        assert docstring and any("а" <= ch <= "я" for ch in docstring.lower()), f"{name}: Russian docstring kept"


def test_notebook_is_in_sync_with_its_source() -> None:
    assert NOTEBOOK.read_text(encoding="utf-8") == dumps(rebuild(NOTEBOOK_SOURCE)), (
        f"{NOTEBOOK} is stale: python seminars/rebuild_notebook.py {NOTEBOOK_SOURCE.relative_to(REPO)} "
        f"-o {NOTEBOOK.relative_to(REPO)}"
    )
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")


# --------------------------------------------------------------------------- the notebook

SUMMARY_CELL = """
import json as _json
print("SUMMARY" + _json.dumps({
    "std_errors": std_errors,
    "symmetry": symmetry,
    "tanh_small_layer5": tanh_small_layer5,
    "tanh_big_saturated": tanh_big_saturated,
    "relu_xavier_ratio": relu_xavier_ratio,
    "relu_he_last": relu_he_last,
    "digits": {k: {"accuracy": v["accuracy"], "final_loss": v["history"][-1], "first_grad": v["first_grad"]}
               for k, v in digits.items()},
}))
"""


@pytest.mark.slow
def test_notebook_executes_fast_and_shows_the_effects(tmp_path: Path) -> None:
    from nbclient import NotebookClient

    shutil.copyfile(SOURCE, tmp_path / "weight_init.py")  # the reference, as a student's solution
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(SUMMARY_CELL))
    start = time.perf_counter()
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    elapsed = time.perf_counter() - start
    assert elapsed < 60, f"the notebook took {elapsed:.1f} s (limit 60 s)"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= 3, f"expected the 3 figures, got {images}"
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    summary = json.loads(text.split("SUMMARY", 1)[1])

    assert max(summary["std_errors"].values()) < 0.02
    constant, xavier = summary["symmetry"]["constant"], summary["symmetry"]["xavier"]
    assert constant["grad_row_spread"] == 0.0 and constant["weight_row_spread_after"] == 0.0
    assert xavier["grad_row_spread"] > 1e-3 and xavier["weight_row_spread_after"] > 1e-2
    assert xavier["accuracy"] > 0.95 and constant["accuracy"] < 0.75
    assert 1e-4 < summary["tanh_small_layer5"] < 2e-3
    assert summary["tanh_big_saturated"] > 0.9
    assert abs(summary["relu_xavier_ratio"] - 2 ** -0.5) < 0.03
    assert 0.3 <= summary["relu_he_last"] <= 2.0
    he, xav = summary["digits"]["He"], summary["digits"]["Xavier"]
    assert he["accuracy"] >= 0.8 and he["final_loss"] < 0.5
    assert abs(xav["final_loss"] - math.log(10)) < 0.05 and xav["accuracy"] < 0.2
    assert xav["first_grad"] < 1e-3 * he["first_grad"]


# --------------------------------------------------------------------------- grading


MUTATIONS: dict[str, Mutation] = {
    # (out, in) read as (in, out): fans fail, and so does every Kaiming std on the 300 x 1000
    # tensor; Xavier depends on fan_in + fan_out only and the experiments use square layers.
    "swapped_fans": Mutation(
        (("    return fan_in, fan_out\n", "    return fan_out, fan_in\n", 1),),
        frozenset({"test_fans_linear", "test_fans_conv"} | KAIMING_TESTS),
    ),
    # The variance 2 / (fan_in + fan_out) used where the std belongs.
    "xavier_variance_as_std": Mutation(
        (("std = gain * math.sqrt(2.0 / (fan_in + fan_out))", "std = gain * 2.0 / (fan_in + fan_out)", 2),),
        frozenset({"test_xavier_uniform_", "test_xavier_normal_", "test_relu_xavier_shrinks_by_sqrt2"}),
    ),
    # gain / fan instead of gain / sqrt(fan): the deep network collapses and cannot learn.
    "kaiming_variance_as_std": Mutation(
        (("return gain / math.sqrt(fan)", "return gain / fan", 1),),
        frozenset(KAIMING_TESTS | {"test_relu_he_keeps_scale", "test_he_trains_deep_mlp_on_digits"}),
    ),
    # Right numbers, forbidden road: the AST check sees torch.nn.init.
    "calls_torch_nn_init": Mutation(
        (("    std = gain * math.sqrt(2.0 / (fan_in + fan_out))\n    bound = math.sqrt(3.0) * std\n"
          "    return uniform_(tensor, -bound, bound, generator=generator)",
          "    return torch.nn.init.xavier_uniform_(tensor, gain=gain, generator=generator)", 1),),
        frozenset({"test_no_torch_nn_init"}),
    ),
    # Hidden from the AST check (getattr with a computed name): the patched-out run catches it.
    "hides_torch_nn_init": Mutation(
        (("    std = _kaiming_std(tensor, a, mode, nonlinearity)\n    return normal_(tensor, 0.0, std, generator=generator)",
          "    hidden = getattr(torch.nn, 'in' + 'it')\n"
          "    return hidden.kaiming_normal_(tensor, a, mode, nonlinearity, generator)", 1),),
        frozenset({"test_no_torch_nn_init"}),
    ),
    # Statistics are right, reproducibility is not.
    "ignores_generator": Mutation(
        (("tensor.uniform_(a, b, generator=generator)", "tensor.uniform_(a, b)", 1),
         ("tensor.normal_(mean, std, generator=generator)", "tensor.normal_(mean, std)", 1)),
        frozenset({"test_generator_reproducibility"}),
    ),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Graded]:
    """Grade the reference, the release and every mutation once, two at a time."""
    return grade_all("weight-init", SOURCE.name, MUTATIONS, tmp_path_factory.mktemp("weight_init_grading"))


@pytest.mark.slow
def test_reference_scores_full(graded: dict[str, Graded]) -> None:
    result = graded["reference"]
    tests = result.verdicts()
    assert set(tests) == ALL_TESTS
    assert result.results["score"] == 1.0 and all(tests.values()), result.stdout
    assert result.stdout.rstrip().endswith("score: 1.0 / 1.0")
    assert math.isclose(sum(t["max_score"] for t in result.results["tests"]), 1.0)


@pytest.mark.slow
def test_release_scores_zero(graded: dict[str, Graded]) -> None:
    result = graded["release"]
    tests = result.verdicts()
    assert set(tests) == ALL_TESTS
    assert result.results["score"] == 0.0 and not any(tests.values()), result.stdout
    assert all("NotImplementedError" in t["output"] for t in result.results["tests"]), result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MUTATIONS))
def test_wrong_submission_loses_its_points(graded: dict[str, Graded], name: str) -> None:
    result = graded[name]
    tests = result.verdicts()
    failed = {test for test, passed in tests.items() if not passed}
    assert failed == MUTATIONS[name].must_fail, result.stdout
    lost = sum(t["max_score"] for t in result.results["tests"] if t["name"] in failed)
    assert math.isclose(result.results["score"], 1.0 - lost, abs_tol=1e-9) and result.results["score"] < 1.0
