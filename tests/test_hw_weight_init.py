"""Tests of the ``weight-init`` homework: reference, release, notebook, worker ops and judge.

* fast: ``homework.json`` is valid; the reference agrees with ``torch.nn.init`` bit for bit
  given the same generator; the release strips every solution and keeps the rest; the
  experiments notebook is in sync with its py:percent source; the worker's ops
  (``grading_worker.ops_weight_init``) report the reference faithfully, report contract breaches
  and ``torch.nn.init`` calls, and refuse requests outside their scope; the judge's statistical
  checks accept correct samplers and reject near misses; the judge's ``torch.nn.init`` rule sees
  every spelling and scopes a violation to the functions that may run it; the statement lists
  every test with its points;
* slow: the notebook executes in a fresh kernel in under 60 s and computes the expected
  figures; every submission is graded by ``python homeworks/grade.py weight-init DIR --json``
  in a subprocess, the way an instructor runs it: the reference scores 1.0, the untouched
  release 0.0, each deliberately wrong submission (a copy of the reference with strings
  replaced) fails exactly the tests meant to catch it, and trivial or dishonest submissions
  (zero, constant, identity stubs; ``torch.nn.init`` fetched early, behind ``getattr``, or
  reached through ``nn.Linear``) score 0. All gradings run once per session, two at a time.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat
import pytest
import torch
from hw_helpers import (
    Graded,
    Mutation,
    assert_loses_exactly,
    assert_release_scores_zero,
    grade,
    grade_all,
)

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
#: Points of every judge test (the statement's table lists the same).
POINTS: dict[str, float] = {
    "test_calculate_gain_values": 0.05,
    "test_calculate_gain_errors": 0.025,
    "test_fans_linear": 0.025,
    "test_fans_conv": 0.04,
    "test_fans_errors": 0.01,
    "test_constant_": 0.025,
    "test_uniform_": 0.05,
    "test_normal_": 0.05,
    "test_xavier_uniform_": 0.075,
    "test_xavier_normal_": 0.075,
    "test_kaiming_uniform_[fan_in]": 0.05,
    "test_kaiming_uniform_[fan_out]": 0.05,
    "test_kaiming_normal_[fan_in]": 0.05,
    "test_kaiming_normal_[fan_out]": 0.05,
    "test_kaiming_bad_mode": 0.025,
    "test_inplace_without_autograd": 0.075,
    "test_generator_reproducibility": 0.075,
    "test_relu_xavier_shrinks_by_sqrt2": 0.05,
    "test_relu_he_keeps_scale": 0.05,
    "test_he_trains_deep_mlp_on_digits": 0.1,
}
ALL_TESTS = frozenset(POINTS)
KAIMING_TESTS = frozenset(
    f"test_kaiming_{kind}_[{mode}]" for kind in ("uniform", "normal") for mode in ("fan_in", "fan_out")
)
#: Tests that run more than one initializer: a rule broken in any of them fails these too.
CONTRACT_TESTS = frozenset({"test_inplace_without_autograd", "test_generator_reproducibility"})

_ADDED = [p for p in (str(HOMEWORKS), str(REPO / "seminars")) if p not in sys.path]
sys.path[:0] = _ADDED
from grading.homework import load_homework  # noqa: E402
from grading.strip import BEGIN_MARKER, END_MARKER, release_homework  # noqa: E402
from grading_worker import ops_weight_init  # noqa: E402  (wraps torch.nn.init in recorders that call through)
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


def load_judge() -> ModuleType:
    """The judge's helper module ``grader/init_judge.py`` (registered: its dataclasses need it)."""
    spec = importlib.util.spec_from_file_location("_weight_init_judge", HW_DIR / "grader" / "init_judge.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


JUDGE = load_judge()
OPS = ops_weight_init.OPS


# --------------------------------------------------------------------------- worker ops


def test_ops_report_the_reference_faithfully() -> None:
    ref = load_reference()
    assert OPS["gain"](ref, {"nonlinearity": "tanh"}) == {
        "value": 5.0 / 3.0, "type": "float", "exception": None, "nn_init_calls": []
    }
    assert OPS["gain"](ref, {"nonlinearity": "leaky_relu", "param": 0.2})["value"] == torch.nn.init.calculate_gain(
        "leaky_relu", 0.2
    )
    bad = OPS["gain"](ref, {"nonlinearity": "leaky_relu", "param": True})["exception"]
    assert bad["type"] == "ValueError" and bad["value_error"] and not bad["not_implemented"]
    assert OPS["fans"](ref, {"shape": [16, 3, 5, 5]})["items"] == [75, 400]
    assert OPS["fans"](ref, {"shape": [5]})["exception"]["value_error"]
    reply = OPS["fill"](ref, {"function": "kaiming_normal_", "shape": [30, 40], "requires_grad": True,
                              "kwargs": {"mode": "fan_out"}, "seed": 3, "global_seed": 1})
    expected = torch.nn.init.kaiming_normal_(torch.empty(30, 40), mode="fan_out", generator=torch.Generator().manual_seed(3))
    assert torch.equal(reply["values"], expected)
    assert reply["returned_same"] and reply["same_storage"] and reply["requires_grad"] and reply["grad_fn"] is None
    assert reply["global_rng_unchanged"] and reply["generator_advanced"] and reply["nn_init_calls"] == []
    torch.manual_seed(5)
    expected = torch.empty(4, 6, dtype=torch.float64).uniform_(-1.0, 2.0)
    reply = OPS["fill"](ref, {"function": "uniform_", "shape": [4, 6], "dtype": "float64", "args": [-1.0, 2.0],
                              "seed": None, "global_seed": 5})
    assert torch.equal(reply["values"], expected) and not reply["global_rng_unchanged"]
    assert reply["generator_advanced"] is None
    bad = OPS["fill"](ref, {"function": "kaiming_uniform_", "shape": [3, 4], "kwargs": {"mode": "fan_avg"}, "seed": 0})
    assert bad["exception"]["value_error"] and bad["values"] is None
    layers = OPS["fill_layers"](ref, {"function": "xavier_normal_", "shapes": [[8, 4], [2, 8]], "kwargs": {}, "seed": 9})
    generator = torch.Generator().manual_seed(9)
    expected = [torch.nn.init.xavier_normal_(torch.empty(s), generator=generator) for s in ((8, 4), (2, 8))]
    assert all(torch.equal(a, b) for a, b in zip(layers["weights"], expected, strict=True))


def test_ops_report_contract_breaches_and_nn_init() -> None:
    def no_grad_missing(tensor: torch.Tensor, val: float) -> torch.Tensor:
        return tensor.fill_(val)

    def new_tensor(tensor: torch.Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> torch.Tensor:
        return torch.empty_like(tensor).uniform_(a, b, generator=generator)

    def delegates(tensor: torch.Tensor, gain: float = 1.0, generator: Any = None) -> torch.Tensor:
        return torch.nn.init.xavier_normal_(tensor, gain, generator)

    fake = ModuleType("fake")
    fake.constant_, fake.uniform_, fake.xavier_normal_ = no_grad_missing, new_tensor, delegates  # type: ignore[attr-defined]
    reply = OPS["fill"](fake, {"function": "constant_", "shape": [2, 3], "args": [1.0], "requires_grad": True})
    assert reply["exception"]["type"] == "RuntimeError" and "leaf" in reply["exception"]["message"]
    reply = OPS["fill"](fake, {"function": "uniform_", "shape": [2, 3], "seed": 1})
    assert not reply["returned_same"] and bool(torch.isnan(reply["values"]).all())
    reply = OPS["fill"](fake, {"function": "xavier_normal_", "shape": [2, 3], "seed": 1})
    assert reply["nn_init_calls"][0] == "xavier_normal_"
    assert OPS["fill"](fake, {"function": "normal_", "shape": [2]})["missing"] == "normal_"


@pytest.mark.parametrize(
    "params",
    [
        {"function": "eval", "shape": [2]},
        {"function": "normal_", "shape": [10**7]},
        {"function": "normal_", "shape": [2, -1]},
        {"function": "normal_", "shape": [2], "kwargs": {"generator": None}},
        {"function": "normal_", "shape": [2], "args": [[1.0]]},
        {"function": "normal_", "shape": [2], "dtype": "int64"},
        {"function": "normal_", "shape": [2], "seed": True},
    ],
)
def test_ops_reject_requests_outside_their_scope(params: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        OPS["fill"](load_reference(), params)


# --------------------------------------------------------------------------- judge statistics and rules


@pytest.mark.parametrize("kind", ["normal", "uniform"])
def test_judge_tolerances_accept_torch_and_reject_near_misses(kind: str) -> None:
    shape, std = (300, 1000), 0.05
    fill = torch.nn.init.normal_ if kind == "normal" else torch.nn.init.uniform_
    args = (0.0, std) if kind == "normal" else (-std * 3**0.5, std * 3**0.5)
    for seed in range(8):  # a correct sampler passes whatever the seed
        JUDGE.check_distribution(fill(torch.empty(shape), *args, generator=torch.Generator().manual_seed(seed)),
                                 kind, std, "x")
    good = fill(torch.empty(shape), *args, generator=torch.Generator().manual_seed(0))
    for wrong, pattern in (
        (good * 1.02, "стандартное отклонение"),  # a std 2 % off
        (good + 0.02 * std, "среднее"),
        (torch.zeros(shape), "одинаковы"),
    ):
        with pytest.raises(AssertionError, match=pattern):
            JUDGE.check_distribution(wrong, kind, std, "x")
    other = torch.empty(shape).uniform_(-std * 3**0.5, std * 3**0.5) if kind == "normal" else torch.empty(shape).normal_(0, std)
    with pytest.raises(AssertionError, match="распределение не похоже|границы"):
        JUDGE.check_distribution(other, kind, std, "x")
    if kind == "uniform":
        bound = std * 3**0.5
        with pytest.raises(AssertionError, match="выходят за границы"):
            JUDGE.check_distribution(good * 1.0005, kind, std, "x")
        with pytest.raises(AssertionError, match="не доходят до границ"):
            JUDGE.check_distribution(good.clamp(-bound * 0.9995, bound * 0.9995), kind, std, "x")


NN_INIT_SPELLINGS = [
    "import torch.nn.init\n",
    "import torch.nn.init as I\n",
    "from torch.nn import init\n",
    "from torch.nn.init import normal_ as n\n",
    "from torch.nn.modules.transformer import xavier_uniform_\n",
    "import torch\nx = torch.nn.init\n",
    "from torch import nn\ndef f(t):\n    return nn.init.normal_(t)\n",
    "import torch as T\nk = T.nn.init.kaiming_normal_\n",
    "import torch\nn = torch.nn\ndef f(t):\n    return n.init.zeros_(t)\n",
    "import torch\nf = torch.nn.modules.linear.init\n",
    "import torch\ndef f(t):\n    return torch.nn.modules.transformer.xavier_uniform_(t)\n",
    "import torch\ng = getattr(torch.nn, 'init')\n",
    "import torch\ndef f(t):\n    return torch.nn.init._calculate_fan_in_and_fan_out(t)\n",
]


@pytest.mark.parametrize("source", NN_INIT_SPELLINGS)
def test_judge_sees_every_spelling_of_torch_nn_init(source: str) -> None:
    found = JUDGE.nn_init_violations(source)
    assert found and all("нельзя пользоваться torch.nn.init" in v.message for v in found)


def test_judge_rule_passes_the_reference_and_its_tensor_methods() -> None:
    assert JUDGE.nn_init_violations(SOURCE.read_text(encoding="utf-8")) == []
    assert JUDGE.nn_init_violations("def f(t, g):\n    return t.uniform_(0, 1, generator=g).normal_()\n") == []


def test_judge_attributes_a_violation_to_the_functions_that_may_run_it() -> None:
    source = (
        "import torch\n"                                  # 1
        "def helper(t):\n"                                # 2
        "    return torch.nn.init.normal_(t)\n"           # 3
        "def normal_(t):\n"                               # 4
        "    return helper(t)\n"                          # 5
        "def uniform_(t):\n"                              # 6
        "    return t.uniform_()\n"                       # 7
        "def xavier_normal_(t):\n"                        # 8
        "    return t\n"                                  # 9
    )
    violations = JUDGE.nn_init_violations(source)
    assert [v.line for v in violations] == [3]
    assert JUDGE.protected_violations(source, violations, ["normal_"]) == violations
    assert JUDGE.protected_violations(source, violations, ["uniform_", "xavier_normal_"]) == []
    rebinding = source + "xavier_normal_ = helper\n"  # module level: may rebind any function
    assert JUDGE.protected_violations(rebinding, violations, ["xavier_normal_"]) == violations
    module_level = "import torch.nn.init\n" + source
    found = JUDGE.nn_init_violations(module_level)
    assert JUDGE.protected_violations(module_level, found, ["uniform_"])[0].line == 1


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
    # No check of `mode`: the distributions are right, only the ValueError test fails (issue #13).
    "kaiming_mode_unchecked": Mutation(
        (('    if mode not in ("fan_in", "fan_out"):\n'
          '        raise ValueError(f"mode {mode!r} is not supported, use \'fan_in\' or \'fan_out\'")\n', "", 1),),
        frozenset({"test_kaiming_bad_mode"}),
    ),
    # constant_ without torch.no_grad(): fails on a leaf that requires grad, and only there.
    "constant_without_no_grad": Mutation(
        (("    with torch.no_grad():\n        tensor.fill_(val)\n", "    tensor.fill_(val)\n", 1),),
        frozenset({"test_inplace_without_autograd"}),
        reason="autograd",
    ),
    # Right numbers, forbidden road: the judge reads torch.nn.init in xavier_uniform_'s source,
    # which fails exactly the tests that run xavier_uniform_.
    "calls_torch_nn_init": Mutation(
        (("    std = gain * math.sqrt(2.0 / (fan_in + fan_out))\n    bound = math.sqrt(3.0) * std\n"
          "    return uniform_(tensor, -bound, bound, generator=generator)",
          "    return torch.nn.init.xavier_uniform_(tensor, gain=gain, generator=generator)", 1),),
        frozenset({"test_xavier_uniform_", "test_relu_xavier_shrinks_by_sqrt2"} | CONTRACT_TESTS),
        reason="нельзя пользоваться torch.nn.init",
    ),
    # torch.nn.init behind getattr with a built name (the framework's deny-list), in kaiming_normal_.
    "hides_torch_nn_init": Mutation(
        (("    std = _kaiming_std(tensor, a, mode, nonlinearity)\n    return normal_(tensor, 0.0, std, generator=generator)",
          "    hidden = getattr(torch.nn, 'in' + 'it')\n"
          "    return hidden.kaiming_normal_(tensor, a, mode, nonlinearity, generator)", 1),),
        frozenset({"test_kaiming_normal_[fan_in]", "test_kaiming_normal_[fan_out]", "test_kaiming_bad_mode",
                   "test_relu_he_keeps_scale", "test_he_trains_deep_mlp_on_digits"} | CONTRACT_TESTS),
    ),
    # A function missing (renamed): exactly the tests that call it fail, each saying which one.
    "missing_kaiming_normal": Mutation(
        (("def kaiming_normal_(", "def kaiming_normal_renamed(", 1),),
        frozenset({"test_kaiming_normal_[fan_in]", "test_kaiming_normal_[fan_out]", "test_kaiming_bad_mode",
                   "test_relu_he_keeps_scale", "test_he_trains_deep_mlp_on_digits"} | CONTRACT_TESTS),
        reason="нет функции kaiming_normal_",
    ),
    # Statistics are right, reproducibility is not.
    "ignores_generator": Mutation(
        (("tensor.uniform_(a, b, generator=generator)", "tensor.uniform_(a, b)", 1),
         ("tensor.normal_(mean, std, generator=generator)", "tensor.normal_(mean, std)", 1)),
        frozenset({"test_generator_reproducibility"}),
    ),
}

#: Dishonest or trivial submissions: the release with code appended that replaces its stubs.
#: Each must score 0 (issue #12, kinds 8 and 9).
STUBS: dict[str, str] = {
    # kind 9: every initializer fills zeros (keeping the in-place contract); gain 0, fans (0, 0).
    "zero_stub": """
def calculate_gain(nonlinearity, param=None):
    return 0.0


def fan_in_and_fan_out(tensor):
    return 0, 0


def _zeros(tensor, *args, **kwargs):
    with torch.no_grad():
        return tensor.zero_()


constant_ = uniform_ = normal_ = xavier_uniform_ = xavier_normal_ = kaiming_uniform_ = kaiming_normal_ = _zeros
""",
    # kind 9: every function answers one constant.
    "constant_stub": """
def calculate_gain(nonlinearity, param=None):
    return 1.0


def fan_in_and_fan_out(tensor):
    return 1, 1


def _ones(tensor, *args, **kwargs):
    with torch.no_grad():
        return tensor.fill_(1.0)


constant_ = uniform_ = normal_ = xavier_uniform_ = xavier_normal_ = kaiming_uniform_ = kaiming_normal_ = _ones
""",
    # kind 9: the tensor is returned untouched (an "identity" initializer).
    "identity_stub": """
def calculate_gain(nonlinearity, param=None):
    return param


def fan_in_and_fan_out(tensor):
    return tuple(tensor.shape[:2])


def _same(tensor, *args, **kwargs):
    return tensor


constant_ = uniform_ = normal_ = xavier_uniform_ = xavier_normal_ = kaiming_uniform_ = kaiming_normal_ = _same
""",
    # kind 8: torch.nn.init fetched at import, before any test could replace it; every function
    # delegates to it (right numbers, forbidden road).
    "nn_init_fetched_early": """
_init = torch.nn.init
calculate_gain = _init.calculate_gain
fan_in_and_fan_out = _init._calculate_fan_in_and_fan_out
constant_, uniform_, normal_ = _init.constant_, _init.uniform_, _init.normal_
xavier_uniform_, xavier_normal_ = _init.xavier_uniform_, _init.xavier_normal_
kaiming_uniform_, kaiming_normal_ = _init.kaiming_uniform_, _init.kaiming_normal_
""",
    # kind 8: the same through getattr with a built name and an alias of torch.
    "nn_init_getattr_built_name": """
import torch as _t

_hidden = getattr(_t.nn, "in" + "it")


def calculate_gain(nonlinearity, param=None):
    return _hidden.calculate_gain(nonlinearity, param)


def fan_in_and_fan_out(tensor):
    return getattr(_hidden, "_calculate_" + "fan_in_and_fan_out")(tensor)


def constant_(tensor, val):
    return _hidden.constant_(tensor, val)


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    return _hidden.uniform_(tensor, a, b, generator)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    return _hidden.normal_(tensor, mean, std, generator)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    return _hidden.xavier_uniform_(tensor, gain, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    return _hidden.xavier_normal_(tensor, gain, generator)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    return _hidden.kaiming_uniform_(tensor, a, mode, nonlinearity, generator)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    return _hidden.kaiming_normal_(tensor, a, mode, nonlinearity, generator)
""",
    # kind 8: torch.nn.init reached through a module that imported it (nn.Linear's reset uses it):
    # a fresh nn.Linear per call, its weight copied; the source never names `init`.
    "nn_init_via_linear": """
def _linear_weight(tensor, *args, **kwargs):
    with torch.no_grad():
        layer = torch.nn.Linear(tensor.shape[1], tensor.shape[0])
        return tensor.copy_(layer.weight * 1.4)


uniform_ = normal_ = xavier_uniform_ = xavier_normal_ = kaiming_uniform_ = kaiming_normal_ = _linear_weight
""",
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Graded]:
    """Grade the reference, the release, every mutation and every stub once, two at a time."""
    root = tmp_path_factory.mktemp("weight_init_grading")
    results = grade_all("weight-init", SOURCE.name, MUTATIONS, root)
    released = (root / "release" / "weight-init" / SOURCE.name).read_text(encoding="utf-8")
    folders = {}
    for name, code in STUBS.items():
        folder = root / "stubs" / name
        folder.mkdir(parents=True)
        (folder / SOURCE.name).write_text(released + "\n" + code, encoding="utf-8")
        folders[name] = folder
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(grade, "weight-init", folder, root / f"{name}.json") for name, folder in folders.items()}
        results.update({name: future.result() for name, future in futures.items()})
    return results


def test_points_sum_to_one_and_the_statement_lists_them() -> None:
    assert math.isclose(sum(POINTS.values()), 1.0)
    readme = (HW_DIR / "README.md").read_text(encoding="utf-8")
    for test, points in POINTS.items():
        assert f"| `{test}` | {points!r} |" in readme, test


@pytest.mark.slow
def test_reference_scores_full(graded: dict[str, Graded]) -> None:
    result = graded["reference"]
    tests = result.verdicts()
    assert set(tests) == ALL_TESTS
    assert result.results is not None and result.results["score"] == 1.0 and all(tests.values()), result.stdout
    assert result.stdout.rstrip().endswith("score: 1.0 / 1.0")
    assert {t["name"]: t["max_score"] for t in result.results["tests"]} == POINTS


@pytest.mark.slow
def test_release_scores_zero(graded: dict[str, Graded]) -> None:
    assert_release_scores_zero(graded["release"], ALL_TESTS)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MUTATIONS))
def test_wrong_submission_loses_its_points(graded: dict[str, Graded], name: str) -> None:
    assert_loses_exactly(graded[name], MUTATIONS[name], POINTS)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(STUBS))
def test_trivial_and_dishonest_submissions_score_zero(graded: dict[str, Graded], name: str) -> None:
    result = graded[name]
    assert result.returncode == 0, result.stderr
    assert result.results is not None and result.results["score"] == 0.0, result.stdout
    assert result.failed() == ALL_TESTS, result.stdout
