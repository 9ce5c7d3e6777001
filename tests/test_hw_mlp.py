"""Tests of the ``mlp`` homework and its grader, run the way an instructor runs them.

Every submission is graded by ``python homeworks/grade.py mlp DIR --json OUT`` in a
subprocess: the reference solution (the instructor source itself) must score 1.0, the
untouched student release 0.0, and each deliberately wrong submission (a copy of the
reference with strings replaced) must lose exactly the points of the tests meant to catch it.
All submissions are graded once per session, two at a time (the machine has 2 cores).
The fast tests check that the statement, the reference and the grader agree (points,
hyper-parameters, data split) and the slow ones also re-measure the statement's figures.
"""

from __future__ import annotations

import ast
import re
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
HW_DIR = HOMEWORKS / "mlp"
SOURCE = HW_DIR / "mlp.py"
GRADER = HW_DIR / "grader" / "test_mlp.py"
README = HW_DIR / "README.md"

# name -> points, as the statement announces them.
TESTS = {
    "test_mylinear_parameters": 0.05,
    "test_mylinear_init": 0.05,
    "test_mylinear_forward": 0.1,
    "test_mylinear_uses_linear_function": 0.05,
    "test_backward_gradcheck": 0.1,
    "test_backward_gradcheck_no_bias": 0.05,
    "test_backward_gradcheck_batch_of_one": 0.05,
    "test_backward_written_by_hand": 0.05,
    "test_grad_sum_of_squares": 0.05,
    "test_linear_mse_loss": 0.1,
    "test_mymlp_structure": 0.1,
    "test_mymlp_forward": 0.05,
    "test_train_sgd_step": 0.05,
    "test_train_batches": 0.05,
    "test_train_digits": 0.1,
}
ALL_TESTS = frozenset(TESTS)

_ADDED = str(HOMEWORKS) not in sys.path
if _ADDED:
    sys.path.insert(0, str(HOMEWORKS))
from grading.homework import load_homework  # noqa: E402
from grading.strip import BEGIN_MARKER, END_MARKER, strip_solutions  # noqa: E402

if _ADDED:  # do not leave homeworks/ importable: `import mlp` would find the instructor folder
    sys.path.remove(str(HOMEWORKS))


GRADCHECKS = frozenset({"test_backward_gradcheck", "test_backward_gradcheck_no_bias",
                        "test_backward_gradcheck_batch_of_one", "test_backward_written_by_hand"})

MUTATIONS: dict[str, Mutation] = {
    # dL/dW = X^T G instead of G^T X: the wrong shape, autograd itself refuses it.
    "transposed_weight_grad": Mutation(
        (("grad_weight = grad_output.T @ x", "grad_weight = x.T @ grad_output"),),
        GRADCHECKS | {"test_train_digits"},
    ),
    # The same, reshaped to the right shape: only the values are wrong.
    "transposed_weight_grad_reshaped": Mutation(
        (("grad_weight = grad_output.T @ x", "grad_weight = (x.T @ grad_output).reshape(weight.shape)"),),
        GRADCHECKS | {"test_train_digits"},
    ),
    # Mean instead of sum over the batch: right for a batch of one, wrong otherwise. SGD still
    # learns the digits with a 32x smaller bias step, so only the gradient checks catch it.
    "mean_bias_grad": Mutation(
        (("grad_output.sum(dim=0)", "grad_output.mean(dim=0)"),),
        frozenset({"test_backward_gradcheck", "test_backward_written_by_hand"}),
        reason="bias",
    ),
    # The layer bypasses the hand-written backward: values and gradients are right.
    "F_linear_in_mylinear": Mutation(
        (("return LinearFunction.apply(x, self.weight, self.bias)", "return F.linear(x, self.weight, self.bias)"),),
        frozenset({"test_mylinear_uses_linear_function", "test_backward_written_by_hand"}),
    ),
    # Wiring: no activation between the hidden layers (the network collapses to fewer layers).
    "mlp_no_hidden_activation": Mutation(
        (("h = self.activation(layer(h))", "h = layer(h)"),),
        frozenset({"test_mymlp_forward"}),
    ),
    # Wiring: hidden layers of the wrong sizes (the default (100, 100) still has 10,501 params).
    "mlp_wrong_hidden_sizes": Mutation(
        (("zip(hidden_dims[:-1], hidden_dims[1:], strict=True)", "zip(hidden_dims[1:], hidden_dims[1:], strict=True)"),),
        frozenset({"test_mymlp_structure", "test_mymlp_forward"}),
    ),
    # Rebinding the loop variable: the parameters never change. Fails after the same ~1 s.
    "train_never_updates": Mutation(
        (("param -= lr * param.grad", "param = param - lr * param.grad"),),
        frozenset({"test_train_sgd_step", "test_train_digits"}),
    ),
    "train_uses_torch_optim": Mutation(
        (("epoch_losses: list[float] = []",
          "epoch_losses: list[float] = []\n    optimizer = torch.optim.SGD(model.parameters(), lr=lr)"),
         ("""            model.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                for param in model.parameters():
                    if param.grad is not None:
                        param -= lr * param.grad
""", """            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
""")),
        frozenset({"test_train_sgd_step", "test_train_batches", "test_train_digits"}),
        reason="torch.optim",
    ),
    "grad_by_formula": Mutation(
        (("""    leaf = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad((leaf**2).sum(), leaf)
    return grad
""", "    return 2 * x.detach()\n"),),
        frozenset({"test_grad_sum_of_squares"}),
        reason="autograd",
    ),
    # .backward() accumulates into a stale weight.grad.
    "mse_uses_stale_grad": Mutation(
        (("    (weight_grad,) = torch.autograd.grad(loss, layer.weight)\n",
          "    loss.backward()\n    weight_grad = layer.weight.grad.clone()\n"),),
        frozenset({"test_linear_mse_loss"}),
        reason="weight_grad",
    ),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Graded]:
    """Grade the reference, the release and every mutation once, two at a time."""
    return grade_all("mlp", SOURCE.name, MUTATIONS, tmp_path_factory.mktemp("mlp"))


@pytest.mark.slow
def test_reference_scores_full(graded: dict[str, Graded]) -> None:
    result = graded["reference"]
    assert result.returncode == 0, result.stderr
    assert result.results is not None, result.stderr
    assert result.results["score"] == 1.0 and result.results["max_score"] == 1.0, result.stdout
    assert {t["name"]: t["max_score"] for t in result.results["tests"]} == pytest.approx(TESTS)
    assert result.stdout.strip().splitlines()[-1] == "score: 1.0 / 1.0"
    assert result.stdout.count("PASS ") == len(TESTS) and "FAIL" not in result.stdout


@pytest.mark.slow
def test_release_scores_zero(graded: dict[str, Graded]) -> None:
    assert_release_scores_zero(graded["release"], ALL_TESTS)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MUTATIONS))
def test_wrong_submission_loses_its_points(graded: dict[str, Graded], name: str) -> None:
    assert_loses_exactly(graded[name], MUTATIONS[name], TESTS)


@pytest.fixture(scope="module")
def reference() -> Any:
    """The instructor source, imported."""
    return load_module(SOURCE, "mlp_reference_solution")


class GraderSource:
    """What the repository tests need from the grader's test module, read without importing it.

    Importing it under the repository's pytest would fail (``--strict-markers`` does not know
    the framework's ``points`` marker), so the module-level imports and constants and the
    ``digits_split`` helper are executed on their own, and the points are read from the
    decorators.
    """

    def __init__(self, path: Path) -> None:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        keep: list[ast.stmt] = []
        self.functions: dict[str, ast.FunctionDef] = {}
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module == "grading":
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign)):
                keep.append(node)
            elif isinstance(node, ast.FunctionDef):
                self.functions[node.name] = node
                if node.name == "digits_split":
                    keep.append(node)
        self.namespace: dict[str, Any] = {}
        exec(compile(ast.Module(body=keep, type_ignores=[]), str(path), "exec"), self.namespace)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.namespace[name]
        except KeyError:
            raise AttributeError(name) from None

    def points(self) -> dict[str, float]:
        """Test name -> the value of its ``@pytest.mark.points(...)`` (exactly one each)."""
        found = {}
        for name, node in self.functions.items():
            if not name.startswith("test_"):
                continue
            marks = [d for d in node.decorator_list if isinstance(d, ast.Call)
                     and ast.unparse(d.func) == "pytest.mark.points"]
            assert len(marks) == 1 and len(marks[0].args) == 1, f"{name}: needs exactly one points marker"
            expression = ast.Expression(body=marks[0].args[0])
            found[name] = float(eval(compile(expression, "<points>", "eval"), dict(self.namespace)))
        return found


@pytest.fixture(scope="module")
def grader() -> GraderSource:
    """The grader's constants, data helper and points."""
    return GraderSource(GRADER)


def test_release_is_stripped_and_importable(tmp_path: Path) -> None:
    """The release: solutions gone, the rest byte-identical, imports, every task raises."""
    import torch

    released = release("mlp", tmp_path)
    assert sorted(p.name for p in released.iterdir()) == ["README.md", "mlp.py"]
    text = (released / "mlp.py").read_text(encoding="utf-8")
    assert BEGIN_MARKER not in text and END_MARKER not in text
    assert text == strip_solutions(SOURCE.read_text(encoding="utf-8"), SOURCE)
    # LinearFunction.forward/backward, MyLinear.__init__/forward, grad_sum_of_squares,
    # linear_mse_loss, MyMLP.__init__/forward, train.
    assert len(re.findall(r"^ *raise NotImplementedError$", text, re.MULTILINE)) == 9
    assert "grad_output.T @ x" not in text and "param -= lr" not in text
    assert (released / "README.md").read_bytes() == README.read_bytes()
    module = load_module(released / "mlp.py", "mlp_released")
    x = torch.randn(4, 3)
    weight = torch.randn(2, 3, requires_grad=True)
    for call in (lambda: module.MyLinear(3, 2), lambda: module.MyMLP(),
                 lambda: module.LinearFunction.apply(x, weight, None),
                 lambda: module.grad_sum_of_squares(x),
                 lambda: module.linear_mse_loss(torch.nn.Linear(3, 2), x, torch.zeros(4, 2)),
                 lambda: module.train(torch.nn.Linear(3, 2), x, torch.zeros(4, dtype=torch.long))):
        with pytest.raises(NotImplementedError):
            call()
    # The given helpers work in the release.
    X_train, X_test, y_train, y_test = module.load_digits_split()
    assert X_train.shape == (1347, 64) and X_test.shape == (450, 64)


def test_homework_config_is_valid() -> None:
    homework = load_homework("mlp")
    assert homework.max_score == 1.0
    assert homework.files == ("README.md", "mlp.py")
    assert homework.module == "mlp"


def test_grader_points_match_the_statement(grader: GraderSource) -> None:
    """Every grader test carries the points the statement's table announces; they sum to 1."""
    assert grader.points() == pytest.approx(TESTS)
    assert sum(TESTS.values()) == pytest.approx(1.0)
    table = dict(re.findall(r"^\| `(test_\w+)` \| ([0-9.]+) \|", README.read_text(encoding="utf-8"), re.MULTILINE))
    assert {name: float(points) for name, points in table.items()} == pytest.approx(TESTS)
    assert f"{len(TESTS)} тестов" in README.read_text(encoding="utf-8")


def test_grader_and_reference_agree_on_data_and_hyperparameters(reference: Any, grader: GraderSource) -> None:
    """Same split, same standardisation, same hyper-parameters; the statement names them."""
    import torch

    for ours, theirs in zip(reference.load_digits_split(), grader.digits_split(), strict=True):
        assert ours.dtype == theirs.dtype and torch.equal(ours, theirs)
    assert grader.DIGITS_HIDDEN_DIMS == reference.DIGITS_HIDDEN_DIMS
    assert grader.DIGITS_EPOCHS == reference.DIGITS_EPOCHS
    assert grader.DIGITS_BATCH_SIZE == reference.DIGITS_BATCH_SIZE
    assert grader.DIGITS_LR == reference.DIGITS_LR
    statement = README.read_text(encoding="utf-8")
    hyper = (f"epochs={reference.DIGITS_EPOCHS}, batch_size={reference.DIGITS_BATCH_SIZE}, "
             f"lr={reference.DIGITS_LR}")
    assert statement.count(hyper) >= 2, hyper
    assert f"**{grader.DIGITS_THRESHOLD}**" in statement and f"**≥ {grader.DIGITS_THRESHOLD}**" in statement
    assert f"torch.manual_seed({grader.DIGITS_SEED})" in statement


def test_cli_rejects_bad_arguments(reference: Any, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--seeds", "0"], ["--threads", "-1"], ["--seeds", "two"]):
        with pytest.raises(SystemExit) as info:
            reference.main(argv)
        assert info.value.code == 2
        assert "error" in capsys.readouterr().err


@pytest.mark.slow
def test_reference_digits_figures_match_the_statement(reference: Any) -> None:
    """Re-measure the statement's 5 seeds: >= 0.95 each, well above the grader's threshold."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what the statement's command and the grader use
    try:
        measured = [reference.run_digits(seed) for seed in range(5)]
    finally:
        torch.set_num_threads(threads)
    statement = README.read_text(encoding="utf-8")
    row = re.search(r"^\| точность на отложенной выборке \|(.*)\|$", statement, re.MULTILINE)
    assert row is not None
    stated = [float(cell) for cell in row.group(1).split("|")]
    accuracies = [accuracy for accuracy, _ in measured]
    # Same code and data; a different CPU may flip a prediction or two, never more.
    assert accuracies == pytest.approx(stated, abs=3 / 450), (accuracies, stated)
    assert min(accuracies) >= 0.95
    assert min(accuracies) - 0.02 >= 0.93
    assert all(seconds < 30 for _, seconds in measured), measured
