"""Tests of the seminar notebook ``01_seminar_mlp_autograd``.

Three layers, cheapest first:

1. structure of the committed ``.ipynb`` and of its source (raw JSON, no kernel);
2. unit tests of the notebook's own functions and classes, loaded in-process (``seminar``);
3. assertions on one fresh execution of the whole notebook (``executed``; marked ``slow``).

Fixtures live in ``conftest.py``.
"""

from __future__ import annotations

import ast
import inspect
import json
import math
import re
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
import torch
from execute_notebook import ExecutionResult
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from load_notebook import definition_statements, load_definitions
from nbformat import NotebookNode
from nbio import dumps
from rebuild_notebook import SEMINAR_NOTEBOOK
from solutions import exercises

CYRILLIC = re.compile(r"[А-Яа-яЁё]")

#: Every topic of the seed, in the seed's order, as the heading that introduces it.
SEED_HEADINGS = [
    "# Семинар 1. MLP на PyTorch и автоматическое дифференцирование",
    "# Часть I. PyTorch MLP",
    "## 1. Знакомство с PyTorch",
    "## 2. Данные: make_moons",
    "## 3. Модель MLP",
    "## 4. Функция потерь: SVM max-margin loss + L2",
    "## 5. Обучение: SGD своими руками",
    "## 6. Роль нелинейностей: ReLU, Sigmoid, Identity",
    "## 7. Сравнение с SVM",
    "## 8. Батчинг и эффективность",
    "## 9. Резюме части I",
    "# Часть II. Autograd и backpropagation",
    "## 1. Мотивация: зачем нужно автоматическое дифференцирование",
    "## 2. Forward и backward pass",
    "## 3. Chain rule",
    "## 4. Матричное дифференцирование",
    "## 5. Примеры в PyTorch: сложение и умножение",
    "## 6. Собственный autograd: класс Value",
    "## 7. Резюме части II",
    "# Блиц-вопросы",
    "# Упражнения для самостоятельной работы",
]


@pytest.fixture(scope="module")
def committed() -> dict:
    """The committed notebook as raw JSON."""
    return json.loads(SEMINAR_NOTEBOOK.read_text(encoding="utf-8"))


def code_cells(nb: NotebookNode) -> list[tuple[int, str]]:
    """(index, source) of every code cell."""
    return [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def markdown_headings(nb: NotebookNode) -> list[str]:
    """Every Markdown heading line of the notebook, in order."""
    return [line.strip() for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines() if line.startswith("#")]


# --------------------------------------------------------------------------------------
# 1. Structure
# --------------------------------------------------------------------------------------


def test_committed_notebook_is_valid_4_5(committed: dict) -> None:
    nbformat.validate(committed)
    assert (committed["nbformat"], committed["nbformat_minor"]) == (4, 5)
    assert committed["metadata"]["kernelspec"]["name"] == "python3"
    assert set(committed["metadata"]) <= {"kernelspec", "language_info", "title", "authors"}


def test_committed_notebook_has_unique_ids_and_no_outputs(committed: dict) -> None:
    ids = [cell["id"] for cell in committed["cells"]]
    assert len(ids) == len(set(ids))
    for cell in committed["cells"]:
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", cell["id"])
        assert set(cell["metadata"]) <= {"tags", "slideshow", "editable", "deletable", "jupyter"}
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_committed_notebook_is_in_sync_with_source(seminar_source: Path, seminar_nb: NotebookNode) -> None:
    if seminar_source.with_suffix(".ipynb") != SEMINAR_NOTEBOOK:
        pytest.skip("SEMINAR_SOURCE points at a draft")
    assert SEMINAR_NOTEBOOK.read_text(encoding="utf-8") == dumps(seminar_nb), (
        "the .ipynb is stale: run python seminars/rebuild_notebook.py"
    )


def test_seed_topics_appear_as_headings_in_order(seminar_nb: NotebookNode) -> None:
    headings = markdown_headings(seminar_nb)
    positions = []
    for wanted in SEED_HEADINGS:
        matches = [i for i, h in enumerate(headings) if h == wanted]
        assert matches, f"missing heading: {wanted}"
        positions.append(matches[0])
    assert positions == sorted(positions), "seed topics out of order"


def test_identifiers_are_ascii(seminar_nb: NotebookNode) -> None:
    """A Cyrillic letter that looks Latin in a name is a bug that no reader can see."""
    for index, source in code_cells(seminar_nb):
        body = "\n".join("" if re.match(r"\s*[%!]", line) else line for line in source.splitlines())
        for node in ast.walk(ast.parse(body)):
            names = []
            if isinstance(node, ast.Name):
                names = [node.id]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name] + [a.arg for a in node.args.args + node.args.kwonlyargs] if not isinstance(node, ast.ClassDef) else [node.name]
            elif isinstance(node, ast.Attribute):
                names = [node.attr]
            for name in names:
                assert name.isascii(), f"cell {index}: non-ASCII identifier {name!r}"


def test_every_function_and_class_has_hints_and_a_russian_docstring(seminar_nb: NotebookNode) -> None:
    for index, source in code_cells(seminar_nb):
        for node in definition_statements(source, f"cell{index}"):
            for item in ast.walk(node):
                if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    continue
                where = f"cell {index}: {item.name}"
                doc = ast.get_docstring(item)
                assert doc and CYRILLIC.search(doc), f"{where} needs a Russian docstring"
                if isinstance(item, ast.ClassDef):
                    continue
                args = item.args.posonlyargs + item.args.args + item.args.kwonlyargs
                args += [a for a in (item.args.vararg, item.args.kwarg) if a]
                for arg in args:
                    if arg.arg not in ("self", "cls"):
                        assert arg.annotation is not None, f"{where}: argument {arg.arg} has no type hint"
                assert item.returns is not None, f"{where}: no return type hint"


# --------------------------------------------------------------------------------------
# 2. The in-process loader (the harness the unit tests below stand on)
# --------------------------------------------------------------------------------------


def test_loader_runs_definitions_only() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import math\nLIMIT = 3\nprint('side effect')\n%matplotlib inline"),
        nbformat.v4.new_code_cell("def area(r: float) -> float:\n    return math.pi * r * r\nraise RuntimeError('not a definition')"),
        nbformat.v4.new_markdown_cell("text"),
        nbformat.v4.new_code_cell("class Box:\n    size = LIMIT\nbox = Box()"),
    ]
    module = load_definitions(nb, module_name="loader_probe")
    assert module.LIMIT == 3 and module.Box.size == 3
    assert module.area(1.0) == pytest.approx(3.141592653589793)
    assert not hasattr(module, "box")


def test_loader_loads_the_seminar(seminar: types.ModuleType) -> None:
    assert seminar.SEED == 0
    assert hasattr(seminar, "torch") and hasattr(seminar, "np")


# --------------------------------------------------------------------------------------
# 3. One fresh execution of the whole notebook
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_notebook_executes_top_to_bottom(executed: ExecutionResult) -> None:
    errors = [c for c in executed.notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    print(f"\n[benchmark] whole notebook: {executed.total_seconds:.1f} s in a fresh kernel")


@pytest.mark.slow
def test_setup_cell_prints_versions(executed: ExecutionResult) -> None:
    first_code = next(i for i, c in enumerate(executed.notebook.cells) if c.cell_type == "code")
    text = executed.text_output(first_code)
    import torch

    assert f"PyTorch      {torch.__version__}" in text


# --------------------------------------------------------------------------------------
# 4. Part I: PyTorch MLP
# --------------------------------------------------------------------------------------

PART1_HEADING = "# Часть I. PyTorch MLP"
PART2_HEADING = "# Часть II. Autograd и backpropagation"
#: Part I's own time budget on the 2-core reference machine (seconds).
PART1_BUDGET_S = 25.0


def part1_cell_indices(nb: NotebookNode) -> list[int]:
    """Indices of the cells from Part I's heading up to (not including) Part II's heading."""
    starts = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith(PART1_HEADING)]
    ends = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith(PART2_HEADING)]
    assert starts and ends and starts[0] < ends[0], "Part I / Part II headings not found in order"
    return list(range(starts[0], ends[0]))


def part1_text(executed: ExecutionResult) -> str:
    """All text printed by Part I's code cells of the executed notebook."""
    return "\n".join(executed.text_output(i) for i in part1_cell_indices(executed.notebook))


@pytest.fixture
def single_thread() -> Iterator[None]:
    """Run a test with one PyTorch thread, as the notebook does (small tensors, shared CPU)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def moons_tensors(n: int, seed: int = 0) -> tuple:
    """A small make_moons problem as float32 tensors with labels in {-1, +1}."""
    import torch
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=n, noise=0.15, random_state=seed)
    return torch.tensor(X, dtype=torch.float32), torch.tensor(2 * y - 1, dtype=torch.float32)


# ---- in-process: the notebook's definitions -------------------------------------------


def test_part1_interface_for_part2(seminar: types.ModuleType) -> None:
    import inspect

    from torch import nn

    assert seminar.ALPHA == 1e-4
    params = inspect.signature(seminar.MLP).parameters
    assert list(params) == ["activation", "hidden"]
    assert params["activation"].default is nn.ReLU and params["hidden"].default == 100
    assert inspect.signature(seminar.l2_penalty).parameters["alpha"].default == seminar.ALPHA
    model = seminar.MLP()
    assert isinstance(model, nn.Module) and isinstance(model.layers, nn.Sequential)


def test_part1_mlp_has_10501_parameters(seminar: types.ModuleType) -> None:
    model = seminar.MLP()
    assert sum(p.numel() for p in model.parameters()) == 10_501
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes == [(100, 2), (100,), (100, 100), (100,), (1, 100), (1,)]
    for hidden in (1, 7, 32):  # the hand formula in general: (2h + h) + (h*h + h) + (h + 1)
        expected = (2 * hidden + hidden) + (hidden * hidden + hidden) + (hidden + 1)
        assert sum(p.numel() for p in seminar.MLP(hidden=hidden).parameters()) == expected


def test_part1_mlp_architecture_and_scores_shape(seminar: types.ModuleType) -> None:
    import torch
    from torch import nn

    torch.manual_seed(0)
    for activation in (nn.ReLU, nn.Sigmoid, nn.Identity):
        model = seminar.MLP(activation)
        kinds = [type(layer) for layer in model.layers]
        assert kinds == [nn.Linear, activation, nn.Linear, activation, nn.Linear]
        x = torch.randn(7, 2)
        scores = model(x)
        assert scores.shape == (7,)
        assert torch.equal(scores, model.layers(x)[:, 0])
    assert seminar.MLP()(torch.randn(1, 2)).shape == (1,)


def test_part1_hinge_loss_matches_its_formula(seminar: types.ModuleType) -> None:
    import numpy as np
    import torch

    generator = torch.Generator().manual_seed(1)
    for n in (1, 5, 200):
        scores = 3 * torch.randn(n, generator=generator, dtype=torch.float64)
        y = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0).double()
        expected = np.mean(np.maximum(0.0, 1.0 - y.numpy() * scores.numpy()))
        assert seminar.hinge_loss(scores, y).item() == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert seminar.hinge_loss(torch.tensor([2.0, 0.5, -1.0, -3.0]), torch.tensor([1.0, 1.0, 1.0, -1.0])).item() == pytest.approx(0.625)
    with pytest.raises(ValueError):  # the (n, 1) vs (n,) broadcasting trap is refused
        seminar.hinge_loss(torch.zeros(4, 1), torch.ones(4))


def test_part1_hinge_gradient_matches_autograd_on_random_inputs(seminar: types.ModuleType) -> None:
    import torch

    generator = torch.Generator().manual_seed(2)
    for n in (1, 3, 50, 400):
        scores = (2 * torch.randn(n, generator=generator, dtype=torch.float64)).requires_grad_()
        y = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0).double()
        seminar.hinge_loss(scores, y).backward()
        formula = seminar.hinge_loss_grad(scores.detach(), y)
        assert formula.shape == (n,)
        assert torch.allclose(formula, scores.grad, rtol=0, atol=1e-15)
        assert seminar.relative_error(formula, scores.grad) < 1e-12
    # both branches of the indicator are exercised: a margin above 1 gives 0, below 1 gives -y/n
    grad = seminar.hinge_loss_grad(torch.tensor([2.0, 0.0, -0.5, -2.0]), torch.tensor([1.0, -1.0, 1.0, -1.0]))
    assert torch.allclose(grad, torch.tensor([0.0, 1 / 4, -1 / 4, 0.0]))


def test_part1_finite_difference_helper_and_relative_error(seminar: types.ModuleType) -> None:
    import torch

    point = torch.tensor([0.3, -1.2, 2.0])
    numeric = seminar.finite_difference_grad(lambda v: (v**3).sum(), point)
    assert seminar.relative_error(numeric, 3 * point.double() ** 2) < 1e-8
    assert seminar.relative_error(torch.ones(3), -torch.ones(3)) == pytest.approx(1.0)


def test_part1_l2_penalty_and_its_gradient(seminar: types.ModuleType) -> None:
    import torch

    torch.manual_seed(3)
    model = seminar.MLP(hidden=8)
    squares = sum(float((p.detach().double() ** 2).sum()) for p in model.parameters())
    assert seminar.l2_penalty(model).item() == pytest.approx(seminar.ALPHA * squares, rel=1e-5)
    assert seminar.l2_penalty(model, alpha=0.5).item() == pytest.approx(0.5 * squares, rel=1e-5)
    seminar.l2_penalty(model, alpha=0.5).backward()
    for p in model.parameters():
        assert torch.allclose(p.grad, 2 * 0.5 * p.detach())


def test_part1_accuracy_counts_signs(seminar: types.ModuleType) -> None:
    import torch
    from torch import nn

    class Fixed(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, 0]

    X = torch.tensor([[1.0, 0.0], [-2.0, 0.0], [0.5, 0.0], [-0.1, 0.0]])
    assert seminar.accuracy(Fixed(), X, torch.tensor([1.0, -1.0, -1.0, -1.0])) == pytest.approx(0.75)


def test_part1_training_uses_no_torch_optim(seminar: types.ModuleType, monkeypatch: pytest.MonkeyPatch, single_thread: None) -> None:
    import inspect

    import torch

    for func in (seminar.train, seminar.sgd_step):
        tree = ast.parse(inspect.getsource(func))
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert "optim" not in names and not any("Optimizer" in name for name in names), f"{func.__name__} uses torch.optim"
    assert "sgd_step" in {n.func.id for n in ast.walk(ast.parse(inspect.getsource(seminar.train))) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.optim was used")

    monkeypatch.setattr(torch.optim.Optimizer, "step", forbidden)
    monkeypatch.setattr(torch.optim.Optimizer, "__init__", forbidden)
    X, y = moons_tensors(64)
    torch.manual_seed(0)
    seminar.train(seminar.MLP(hidden=16), X, y, n_epochs=2, batch_size=16)


def test_part1_train_learns_and_is_reproducible(seminar: types.ModuleType, single_thread: None) -> None:
    import torch

    X, y = moons_tensors(200)
    histories, weights = [], []
    for _ in range(2):
        torch.manual_seed(0)
        model = seminar.MLP(hidden=32)
        before = seminar.accuracy(model, X, y)
        histories.append(seminar.train(model, X, y, n_epochs=40, lr=0.2, batch_size=32, X_val=X[:20], y_val=y[:20], desc="test"))
        weights.append(model.layers[0].weight.detach().clone())
    history = histories[0]
    assert len(history["loss"]) == len(history["train_acc"]) == len(history["val_acc"]) == 40
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["train_acc"][-1] >= max(before + 0.3, 0.9)
    assert histories[0] == histories[1] and torch.equal(weights[0], weights[1])


def test_part1_looped_and_batched_gradients_agree(seminar: types.ModuleType, single_thread: None) -> None:
    import torch

    X, y = moons_tensors(40, seed=5)
    torch.manual_seed(5)
    model = seminar.MLP(hidden=16)
    loop_loss, loop_grads = seminar.loss_and_grads_loop(model, X, y)
    batch_loss, batch_grads = seminar.loss_and_grads_batch(model, X, y)
    assert loop_loss == pytest.approx(batch_loss, rel=1e-5)
    assert len(loop_grads) == len(batch_grads) == 6
    for a, b in zip(loop_grads, batch_grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)
    assert any(g.abs().max() > 1e-3 for g in batch_grads)  # not a vacuous comparison of zeros


def test_part1_identity_mlp_collapses_to_a_linear_map(seminar: types.ModuleType) -> None:
    import torch
    from torch import nn

    torch.manual_seed(6)
    x = torch.randn(50, 2)
    identity = seminar.MLP(nn.Identity)
    weight, bias = seminar.compose_linear(identity)
    assert weight.shape == (1, 2) and bias.shape == (1,)
    assert torch.allclose((x @ weight.T + bias).squeeze(-1), identity(x).detach(), atol=1e-5)
    relu = seminar.MLP(nn.ReLU)
    weight, bias = seminar.compose_linear(relu)
    assert not torch.allclose((x @ weight.T + bias).squeeze(-1), relu(x).detach(), atol=1e-3)


def test_part1_broadcast_rules_match_torch(seminar: types.ModuleType) -> None:
    import random

    import torch

    rnd = random.Random(7)
    compatible = incompatible = 0
    for _ in range(600):
        shapes = [tuple(rnd.choice([1, 1, 2, 3]) for _ in range(rnd.randint(0, 4))) for _ in range(2)]
        try:
            expected = tuple(torch.broadcast_shapes(*shapes))
        except RuntimeError:
            with pytest.raises(ValueError):
                seminar.broadcast_shape(*shapes)
            incompatible += 1
        else:
            assert seminar.broadcast_shape(*shapes) == expected
            compatible += 1
    assert compatible > 50 and incompatible > 50


def test_part1_decision_boundary_plot_is_labelled(seminar: types.ModuleType) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    X, y = moons_tensors(30)
    torch.manual_seed(0)
    fig, ax = plt.subplots()
    try:
        seminar.plot_decision_boundary(ax, seminar.torch_score_fn(seminar.MLP(hidden=4)), X, y, "probe")
        assert ax.get_title() == "probe" and ax.get_xlabel() and ax.get_ylabel()
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert len(labels) == 3
    finally:
        plt.close(fig)


def test_part1_every_section_asks_the_audience(seminar_nb: NotebookNode) -> None:
    """Taught live: each of the sections 1-8 poses at least one question before a reveal."""
    cells = [seminar_nb.cells[i] for i in part1_cell_indices(seminar_nb)]
    sections: dict[str, str] = {}
    current = None
    for cell in cells:
        for line in cell.source.splitlines():
            if cell.cell_type == "markdown" and re.match(r"## \d\. ", line):
                current = line
        if current and cell.cell_type == "markdown":
            sections[current] = sections.get(current, "") + cell.source
    numbered = [h for h in sections if re.match(r"## [1-8]\. ", h)]
    assert len(numbered) == 8
    for heading in numbered:
        assert "**Вопрос.**" in sections[heading], f"{heading}: no question to the audience"


# ---- the executed notebook ------------------------------------------------------------


@pytest.mark.slow
def test_part1_parameter_count_in_run(executed: ExecutionResult) -> None:
    ns = executed.namespace
    assert ns["n_params"] == ns["n_params_by_hand"] == 10_501
    assert "Всего параметров: 10501 (по формуле: 10501)" in part1_text(executed)


@pytest.mark.slow
def test_part1_data_matches_the_interface(executed: ExecutionResult) -> None:
    text = part1_text(executed)
    assert "X_train (350, 2) torch.float32 | y_train (350,) torch.float32" in text
    assert "X_test  (150, 2) torch.float32 | y_test  (150,) torch.float32" in text
    assert "train: объектов класса -1: 175, объектов класса +1: 175" in text
    assert executed.namespace["ALPHA"] == 1e-4


@pytest.mark.slow
def test_part1_relu_mlp_accuracy(executed: ExecutionResult) -> None:
    ns = executed.namespace
    print(f"\n[benchmark] MLP ReLU accuracy: train {ns['train_acc']:.3f} (>= 0.97), test {ns['test_acc']:.3f} (>= 0.95)")
    assert ns["train_acc"] >= 0.97
    assert ns["test_acc"] >= 0.95
    assert ns["results"]["MLP ReLU"] == {"train": ns["train_acc"], "test": ns["test_acc"]}


@pytest.mark.slow
def test_part1_results_table_and_linear_models(executed: ExecutionResult) -> None:
    results = executed.namespace["results"]
    assert list(results) == ["MLP ReLU", "MLP Sigmoid", "MLP Identity", "LinearSVC", "SVC poly (d=3)", "SVC rbf"]
    for accs in results.values():
        assert 0.0 <= accs["train"] <= 1.0 and 0.0 <= accs["test"] <= 1.0
    print("\n[benchmark] test accuracy: " + ", ".join(f"{k} {v['test']:.3f}" for k, v in results.items()))
    # Identity is a linear model: no better than the linear SVM, clearly worse than ReLU
    assert results["MLP Identity"]["test"] <= results["LinearSVC"]["test"] + 0.02
    assert results["MLP Identity"]["train"] <= results["LinearSVC"]["train"] + 0.02
    assert results["MLP Identity"]["test"] < results["MLP ReLU"]["test"] - 0.05
    assert results["SVC rbf"]["test"] >= 0.95
    collapse = executed.namespace["collapse_max_diff"]
    assert executed.namespace["identity_collapse_max_diff"] == collapse["Identity"] < 1e-4
    assert collapse["ReLU"] > 0.1


@pytest.mark.slow
def test_part1_gradient_checks_in_run(executed: ExecutionResult) -> None:
    ns = executed.namespace
    print(f"\n[benchmark] hinge gradient relative error: autograd {ns['hinge_grad_rel_error']:.1e}, finite differences {ns['hinge_grad_fd_rel_error']:.1e}")
    assert ns["hinge_grad_rel_error"] < 1e-6
    assert ns["hinge_grad_fd_rel_error"] < 1e-6
    assert ns["l2_grad_rel_error"] < 1e-6
    assert set(ns["svm_kernel_rel_error"]) == {"SVC poly (d=3)", "SVC rbf"}
    assert all(error < 1e-6 for error in ns["svm_kernel_rel_error"].values())
    assert ns["mlp_formula_rel_error"] < 1e-6
    text = part1_text(executed)
    assert f"формула vs autograd:           относительная ошибка {ns['hinge_grad_rel_error']:.2e}" in text


#: Conservative lower bound on the measured batching speed-up at n = 350 (loaded 2-core machine: 77x).
BATCHING_SPEEDUP_BOUND = 30.0


@pytest.mark.slow
def test_part1_batching_speedup(executed: ExecutionResult) -> None:
    ns = executed.namespace
    assert ns["batch_grad_rel_error"] < 1e-5 and ns["batch_loss_abs_diff"] < 1e-5
    assert ns["bench_sizes"][-1] == 350 and len(ns["speedups"]) == len(ns["bench_sizes"])
    assert ns["speedup"] == ns["speedups"][-1] == ns["loop_seconds"][-1] / ns["batch_seconds"][-1]
    # Wall-clock ratios on a shared CPU are noisy (77x measured on a loaded 2-core machine, 110-150x idle):
    # the notebook prints the number of its own run, and the test asserts a conservative bound on the
    # largest n only, plus that the largest n beats the smallest (no monotonicity across every n).
    print(f"\n[benchmark] batching speedup at n = 350: {ns['speedup']:.0f}x (n = 10: {ns['speedups'][0]:.1f}x; "
          f"bound {BATCHING_SPEEDUP_BOUND:.0f}x; margin {ns['speedup'] / BATCHING_SPEEDUP_BOUND:.2f}x)")
    assert ns["speedup"] >= BATCHING_SPEEDUP_BOUND
    assert ns["bench_sizes"][0] >= 10 and ns["speedups"][-1] > ns["speedups"][0]
    text = part1_text(executed)
    assert "потоков PyTorch: 1" in text and "логических ядер:" in text
    assert f"против цикла в этом запуске: ускорение {ns['speedup']:.0f}x (при n = 10: {ns['speedups'][0]:.1f}x)" in text


@pytest.mark.slow
def test_part1_outputs_are_clean_and_figures_shown(executed: ExecutionResult) -> None:
    images = 0
    for i in part1_cell_indices(executed.notebook):
        cell = executed.notebook.cells[i]
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            assert output.output_type != "error"
            if output.output_type == "stream" and output.name == "stderr":
                assert "warn" not in output.text.lower(), f"cell {i} warns: {output.text[:200]}"
            if "data" in output and "image/png" in output["data"]:
                images += 1
        if "plt.subplots" in cell.source:
            assert "plt.show()" in cell.source
            assert sum("image/png" in o.get("data", {}) for o in cell.outputs) == 1, f"cell {i}: one figure expected"
    assert images >= 7


@pytest.mark.slow
def test_part1_runs_within_its_budget(executed: ExecutionResult) -> None:
    seconds = executed.seconds_between(PART1_HEADING, PART2_HEADING)
    print(f"\n[benchmark] Part I: {seconds:.1f} s in a fresh kernel (budget {PART1_BUDGET_S:.0f} s)")
    assert seconds <= PART1_BUDGET_S


@pytest.mark.slow
def test_part1_sigmoid_starts_linear_and_sits_on_the_linear_plateau(executed: ExecutionResult) -> None:
    """The measured explanation of the slow sigmoid: no saturation, a near-linear start, the plateau."""
    ns = executed.namespace
    stats = ns["sigmoid_init_stats"]
    assert len(stats) == 2
    for layer in stats.values():  # almost nothing saturated at initialization: sigma' close to its maximum 1/4
        assert 0.2 <= layer["mean_slope"] <= 0.25
        assert layer["max_abs_z"] < 4
        assert layer["share_abs_z_over_2"] < 0.01, "the text says: fractions of a percent of the inputs"
    # the text says single first-layer inputs reach |z| > 2, where sigma' is well below 1/4
    assert stats["слой 1"]["max_abs_z"] > 2 and stats["слой 1"]["min_slope"] < 0.125
    assert ns["sigmoid_linearization_error"] < 0.02  # sigma(z) ~ 1/2 + z/4 reproduces the scores
    identity, plateau = ns["identity_final_loss"], ns["sigmoid_plateau_loss"]
    print(f"\n[benchmark] sigmoid plateau {plateau:.3f} vs Identity final loss {identity:.3f}")
    assert abs(plateau - identity) <= 0.1 * identity
    assert ns["results"]["MLP Sigmoid"]["train"] < 0.9  # stuck near the linear models after the common budget
    text = part1_text(executed)
    assert f"медиана потери {plateau:.3f}; Identity, последние 10 эпох: {identity:.3f}" in text


def test_part1_plateau_evidence_is_on_the_in_class_path(seminar_nb: NotebookNode) -> None:
    """6.2's in-class conclusion rests on a measurement made in class: the plateau against Identity's loss."""
    in_class_code = "\n".join(text for index, on_path, text in in_class_parts(seminar_nb)
                              if on_path and seminar_nb.cells[index].cell_type == "code")
    assert "sigmoid_plateau_loss = " in in_class_code and "identity_final_loss = " in in_class_code
    assert 'print(f"Sigmoid, эпохи 21–' in in_class_code


def test_runtime_claims_are_measured_not_promised(seminar_nb: NotebookNode) -> None:
    """How long something runs is printed by the run; the prose promises no fixed duration."""
    prose = "\n".join(c.source for c in seminar_nb.cells if c.cell_type == "markdown") + README.read_text(encoding="utf-8")
    for promise in ("полминуты", "несколько секунд", "за минуту", "пару секунд"):
        assert promise not in prose, promise
    assert "печатает последняя ячейка" in seminar_nb.cells[0].source


@pytest.mark.slow
def test_the_last_cell_prints_the_measured_runtime(executed: ExecutionResult) -> None:
    seconds = executed.namespace["notebook_seconds"]
    last = [c for c in executed.notebook.cells if c.cell_type == "code"][-1]
    text = "".join(o.get("text", "") for o in last.outputs)
    assert f"выполнился за {seconds:.0f} с" in text
    print(f"\n[benchmark] the notebook measured its own run: {seconds:.1f} s")


@pytest.mark.slow
def test_part1_learning_rate_compensation_does_not_remove_the_plateau(executed: ExecutionResult) -> None:
    """Multiplying the sigmoid net's LR by the measured gradient ratio still leaves it far behind ReLU."""
    ns = executed.namespace
    norms = ns["first_layer_grad_norm"]
    ratio = norms["ReLU"] / norms["Sigmoid"]
    assert ns["lr_factor"] == round(ratio) >= 3
    # the factor is the first layer's ratio; the text says the other weight matrices and the whole
    # parameter vector have a ratio of the same order
    for part, part_ratio in ns["grad_norm_ratio"].items():
        assert ns["lr_factor"] / 2 <= part_ratio <= 2 * ns["lr_factor"], part
    history = ns["sigmoid_compensated_history"]
    assert len(history["loss"]) == ns["SIGMOID_COMPENSATED_EPOCHS"]
    relu_epoch, sigmoid_epoch = ns["relu_escape_epoch"], ns["sigmoid_escape_epoch"]
    print(f"\n[benchmark] train accuracy >= 0.95: ReLU at epoch {relu_epoch}, sigmoid with LR x{ns['lr_factor']} at epoch {sigmoid_epoch}")
    assert relu_epoch is not None and relu_epoch <= 20
    assert sigmoid_epoch is not None and sigmoid_epoch >= 5 * relu_epoch
    assert sigmoid_epoch == next(epoch for epoch, acc in enumerate(history["train_acc"], start=1) if acc >= 0.95)
    # on the plateau: the first half of the time to escape stays at or above the linear model's loss level
    early = history["loss"][10 : sigmoid_epoch // 2]
    assert min(early) >= 0.8 * ns["identity_final_loss"]
    assert ns["sigmoid_compensated_acc"]["test"] >= 0.9  # it does bend the boundary in the end
    text = part1_text(executed)
    assert f"Sigmoid с шагом x{ns['lr_factor']} — на эпохе {sigmoid_epoch}, ReLU с обычным шагом — на эпохе {relu_epoch}" in text


@pytest.mark.slow
def test_part1_svm_uses_the_matching_regularization(executed: ExecutionResult) -> None:
    """C = 1 / (2 alpha n) makes the SVM objective our hinge + L2 objective (up to a factor)."""
    ns = executed.namespace
    assert ns["svm_c"] == pytest.approx(1 / (2 * ns["ALPHA"] * 350))
    cell = next(c.source for c in executed.notebook.cells if c.cell_type == "code" and "svms = {" in c.source)
    calls = [n for n in ast.walk(ast.parse(cell)) if isinstance(n, ast.Call) and getattr(n.func, "id", "") in ("SVC", "LinearSVC")]
    assert len(calls) == 3
    for call in calls:
        keywords = {k.arg: k.value for k in call.keywords}
        assert isinstance(keywords["C"], ast.Name) and keywords["C"].id == "svm_c"
        if call.func.id == "LinearSVC":
            assert ast.literal_eval(keywords["loss"]) == "hinge"
    assert f"C = 1 / (2 alpha n) = {ns['svm_c']:.2f}" in part1_text(executed)


# ======================================================================================
# 5. Part II, the blitz and the exercises
#
# Tests of Part II of the seminar (autograd, the ``Value`` engine), the blitz and the exercises.
#
# * the ``Value`` contract, on the class loaded in-process from the notebook (``seminar``):
#   property-based comparison with PyTorch (float64) on random expressions that reuse nodes,
#   a 100,000-node chain under a tiny recursion limit, ``b = a + a``, ``tanh(+-1000)``,
#   ``sum()`` and numbers on either side of every operator;
# * the ``Value`` MLP against Part I's PyTorch ``MLP`` on identical weights;
# * the exercise checks: they accept ``seminars/solutions/exercises.py``, reject the untouched
#   stubs and a set of typical wrong answers;
# * the blitz section (count, one folded answer per question);
# * what the executed notebook computed (matrix-calculus errors, timings, equivalence errors);
# * a short run of ``bench_value.py`` (ours vs micrograd 0.1.0).
# ======================================================================================

BLITZ_HEADING = "# Блиц-вопросы"
EXERCISES_HEADING = "# Упражнения для самостоятельной работы"

#: (check function, reference solution / stub name) of every exercise.
EXERCISES = [
    ("check_sigmoid", "value_sigmoid"),
    ("check_pow", "value_pow"),
    ("check_pairwise", "pairwise_sq_distances"),
    ("check_softmax_ce_grad", "softmax_cross_entropy_grad"),
    ("check_jacobian_rows", "jacobian"),
    ("check_linear_backward", "linear_backward"),
]


def relative_error(a: list[float] | np.ndarray, b: list[float] | np.ndarray) -> float:
    """Norm-wise relative error ||a - b|| / ||b|| (0 when both are zero)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)


def markdown_sources(nb: NotebookNode) -> list[str]:
    """Source of every markdown cell, in order."""
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def section_cells(nb: NotebookNode, start: str, end: str | None) -> list[NotebookNode]:
    """Cells after the markdown cell starting with ``start`` up to the one starting with ``end``."""
    begin = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith(start))
    stop = len(nb.cells)
    if end is not None:
        stop = next(i for i, c in enumerate(nb.cells) if i > begin and c.cell_type == "markdown" and c.source.startswith(end))
    return nb.cells[begin + 1 : stop]


# --------------------------------------------------------------------------------------
# 1. Structure of Part II
# --------------------------------------------------------------------------------------


def test_part2_code_cells_are_short(seminar_nb: NotebookNode) -> None:
    """Taught live: one idea per cell; only the engine and the check helpers are long."""
    lengths = [len(c.source.splitlines()) for c in section_cells(seminar_nb, PART2_HEADING, None) if c.cell_type == "code"]
    assert max(lengths) <= 170
    assert sorted(lengths)[-3] <= 80, "more than two long code cells"


# --------------------------------------------------------------------------------------
# 2. The Value contract
# --------------------------------------------------------------------------------------

BINARY = ["add", "sub", "mul", "div"]
WITH_NUMBER = ["radd", "rsub", "rmul", "rdiv", "add_c", "sub_c", "mul_c", "div_c"]
UNARY = ["neg", "pow2", "pow3", "pow_m1", "pow_half", "relu", "tanh", "exp"]


def apply_op(op: str, x: Any, y: Any, c: float) -> Any:
    """Apply one operation the same way to Value or torch operands (``c`` is a Python number)."""
    table: dict[str, Callable[[], Any]] = {
        "add": lambda: x + y, "sub": lambda: x - y, "mul": lambda: x * y, "div": lambda: x / y,
        "radd": lambda: c + x, "rsub": lambda: c - x, "rmul": lambda: c * x, "rdiv": lambda: c / x,
        "add_c": lambda: x + c, "sub_c": lambda: x - c, "mul_c": lambda: x * c, "div_c": lambda: x / c,
        "neg": lambda: -x, "pow2": lambda: x**2, "pow3": lambda: x**3, "pow_m1": lambda: x**-1,
        "pow_half": lambda: x**0.5, "relu": lambda: x.relu() if hasattr(x, "relu") else torch.relu(x),
        "tanh": lambda: x.tanh(), "exp": lambda: x.exp(),
    }
    return table[op]()


def allowed(op: str, x: float, y: float, c: float) -> bool:
    """Keep every operation inside its domain and away from kinks (so rounding cannot flip a branch)."""
    if op == "div":
        return abs(y) > 0.1
    if op in ("rdiv", "pow_m1"):
        return abs(x) > 0.1
    if op == "div_c":
        return abs(c) > 0.1
    if op == "pow_half":
        return x > 0.01
    if op == "exp":
        return x < 5
    if op == "relu":
        return abs(x) > 1e-6
    return True


step_strategy = st.tuples(
    st.sampled_from(BINARY + WITH_NUMBER + UNARY),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.floats(-3, 3, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    leaves=st.lists(st.floats(-2, 2, allow_nan=False, allow_infinity=False), min_size=1, max_size=4),
    steps=st.lists(step_strategy, min_size=1, max_size=25),
)
@example(leaves=[0.859375], steps=[("div", 0, 0, 0.0)])  # x / x: the exact gradient is 0 by cancellation
def test_value_matches_torch_on_random_expressions(seminar: types.ModuleType, leaves: list[float], steps: list) -> None:
    """Random DAGs (operands drawn from all earlier nodes, so nodes are reused) vs torch float64.

    The gradient of every node (leaves and operation results) is compared; the relative error
    of each is taken against the largest gradient in the graph (at least 1: the last result
    feeds the output directly). A per-component relative error is meaningless where
    contributions cancel and the exact gradient is 0 (``x / x``): there any two correct
    implementations differ by rounding.
    """
    Value = seminar.Value
    ours = [Value(v) for v in leaves]
    theirs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in leaves]
    for op, i, j, c in steps:
        i, j = i % len(ours), j % len(ours)
        if not allowed(op, ours[i].data, ours[j].data, c):
            continue
        result = apply_op(op, ours[i], ours[j], c)
        if not math.isfinite(result.data) or abs(result.data) > 1e4:
            continue
        ours.append(result)
        theirs.append(apply_op(op, theirs[i], theirs[j], c))
    assume(len(ours) > len(leaves))
    for t in theirs[len(leaves):]:
        t.retain_grad()
    out_ours = sum(ours[len(leaves):])  # sum() starts at 0: needs __radd__
    out_theirs = sum(theirs[len(leaves):])
    out_ours.backward()
    out_theirs.backward()
    assert relative_error([out_ours.data], [out_theirs.item()]) <= 1e-12
    grads_ours = [v.grad for v in ours]
    grads_theirs = [0.0 if t.grad is None else t.grad.item() for t in theirs]
    scale = max(abs(g) for g in grads_theirs)
    assert scale >= 1.0
    for k, (g, t) in enumerate(zip(grads_ours, grads_theirs, strict=True)):
        assert abs(g - t) <= 1e-9 * max(abs(t), scale), f"node {k}: {g!r} vs torch {t!r}"


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=40))
def test_topological_sort_puts_every_node_after_its_inputs(seminar: types.ModuleType, steps: list) -> None:
    Value = seminar.Value
    nodes = [Value(1.0), Value(2.0)]
    for i, j in steps:
        nodes.append(nodes[i % len(nodes)] * nodes[j % len(nodes)] + 1.0)
    order = seminar.topological_sort(nodes[-1])
    position = {id(node): k for k, node in enumerate(order)}
    assert len(position) == len(order), "a node appears twice"
    assert order[-1] is nodes[-1]
    for node in order:
        for child in node._prev:
            assert position[id(child)] < position[id(node)]


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.booleans()), min_size=1, max_size=40))
def test_iterative_topological_sort_gives_the_recursive_order(seminar: types.ModuleType, steps: list) -> None:
    """The notebook says the explicit-stack sort lists the nodes in the recursive sort's order: hold it to that."""
    Value = seminar.Value
    nodes = [Value(1.0), Value(2.0)]
    for i, j, multiply in steps:  # shared inputs and reused nodes: the cases where two valid orders could differ
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        nodes.append((a * b if multiply else a + b).tanh() + nodes[(i + j) % len(nodes)])
    recursive = seminar.topological_sort_recursive(nodes[-1])
    iterative = seminar.topological_sort(nodes[-1])
    assert [id(node) for node in iterative] == [id(node) for node in recursive]


@pytest.mark.slow
def test_the_printed_sort_orders_are_the_same(executed: ExecutionResult) -> None:
    """The cell that prints both orders of f = (x + y) z shows the same list twice."""
    cell = next(c for c in executed.notebook.cells if c.cell_type == "code" and 'print("со стеком:' in c.source)
    text = "".join(o.get("text", "") for o in cell.outputs)
    stack_line = next(line for line in text.splitlines() if line.startswith("со стеком:"))
    recursive_line = next(line for line in text.splitlines() if line.startswith("рекурсивный:"))
    assert stack_line.split(":", 1)[1].strip() == recursive_line.split(":", 1)[1].strip() == "[-2.0, 5.0, '+', -4.0, '*']"


def stack_depth() -> int:
    """Number of Python frames on the stack right now."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return depth


def test_backward_on_a_100000_node_chain_needs_no_recursion(seminar: types.ModuleType) -> None:
    Value = seminar.Value
    x = Value(0.5)
    y = x
    for _ in range(100_000):
        y = y + x  # a chain 100,000 operations deep; x is reused by every one of them
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(stack_depth() + 60)  # any recursive graph walk would die here
    try:
        y.backward()
        n_nodes = len(seminar.topological_sort(y))
    finally:
        sys.setrecursionlimit(limit)
    assert n_nodes == 100_001
    assert x.grad == 100_001.0
    assert y.data == pytest.approx(0.5 * 100_001)
    del y  # freeing the deep chain must not crash either


def test_reused_node_accumulates(seminar: types.ModuleType) -> None:
    Value = seminar.Value
    a = Value(3.0)
    b = a + a
    b.backward()
    assert (b.data, a.grad) == (6.0, 2.0)
    a = Value(3.0)
    (a * a).backward()
    assert a.grad == 6.0
    a = Value(-1.5)
    (a + a + a * a).backward()
    assert a.grad == pytest.approx(2 + 2 * -1.5)


@pytest.mark.parametrize("x0", [1000.0, -1000.0, 20.0, -20.0, 0.3, -0.7, 0.0])
def test_tanh_is_finite_and_correct_for_large_inputs(seminar: types.ModuleType, x0: float) -> None:
    x = seminar.Value(x0)
    out = x.tanh()
    out.backward()
    xt = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    torch.tanh(xt).backward()
    assert math.isfinite(out.data) and math.isfinite(x.grad)
    assert out.data == pytest.approx(torch.tanh(xt).item(), rel=1e-12, abs=1e-300)
    assert x.grad == pytest.approx(xt.grad.item(), rel=1e-9, abs=1e-300)
    if abs(x0) == 1000.0:
        assert (out.data, x.grad) == (math.copysign(1.0, x0), 0.0)


def test_sum_and_numbers_on_either_side(seminar: types.ModuleType) -> None:
    Value = seminar.Value
    values = [Value(1.0), Value(2.0), Value(3.5)]
    total = sum(values)
    total.backward()
    assert total.data == 6.5 and [v.grad for v in values] == [1.0, 1.0, 1.0]

    v = Value(4.0)
    cases: list[tuple[Callable[[Any], Any], float, float]] = [
        (lambda t: 2 * t, 8.0, 2.0),
        (lambda t: t * 2, 8.0, 2.0),
        (lambda t: 2 + t, 6.0, 1.0),
        (lambda t: t + 2, 6.0, 1.0),
        (lambda t: 2 - t, -2.0, -1.0),
        (lambda t: t - 2, 2.0, 1.0),
        (lambda t: 2 / t, 0.5, -2 / 16),
        (lambda t: t / 2, 2.0, 0.5),
        (lambda t: -t, -4.0, -1.0),
        (lambda t: t**3, 64.0, 48.0),
        (lambda t: t**-0.5, 0.5, -0.5 * 4.0**-1.5),
        (lambda t: t.exp(), math.exp(4.0), math.exp(4.0)),
        (lambda t: t.relu(), 4.0, 1.0),
        (lambda t: (-t).relu(), 0.0, 0.0),
    ]
    for build, data, grad in cases:
        v = Value(4.0)
        out = build(v)
        assert isinstance(out, Value)
        out.backward()
        assert out.data == pytest.approx(data, rel=1e-12)
        assert v.grad == pytest.approx(grad, rel=1e-12)


def test_value_exponent_is_left_to_the_exercise(seminar: types.ModuleType) -> None:
    with pytest.raises(TypeError):
        seminar.Value(2.0) ** seminar.Value(3.0)


def test_value_engine_is_a_teaching_engine(seminar: types.ModuleType, seminar_nb: NotebookNode) -> None:
    """One short method per operation; the class stays readable."""
    import inspect

    engine_cells = [c.source for c in seminar_nb.cells if c.cell_type == "code" and "class Value:" in c.source]
    assert len(engine_cells[-1].splitlines()) <= 170
    for name in ("__add__", "__mul__", "__pow__", "relu", "tanh", "exp", "backward"):
        assert len(inspect.getsource(getattr(seminar.Value, name)).splitlines()) <= 14, name


# --------------------------------------------------------------------------------------
# 3. The Value MLP against PyTorch on identical weights
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("hidden, seed", [(8, 0), (5, 3)])
def test_value_mlp_equals_torch_mlp_on_identical_weights(seminar: types.ModuleType, hidden: int, seed: int) -> None:
    from sklearn.datasets import make_moons

    X, labels = make_moons(n_samples=40, noise=0.2, random_state=seed)
    y = 2.0 * labels - 1.0
    net = seminar.ValueMLP(hidden=hidden, seed=seed)
    twin = seminar.to_torch_twin(net)
    assert sum(p.numel() for p in twin.parameters()) == len(net.parameters())

    loss = seminar.value_loss(net, X.tolist(), y.tolist())
    loss.backward()
    X64, y64 = torch.tensor(X), torch.tensor(y)
    scores_twin = twin(X64)
    loss_twin = seminar.hinge_loss(scores_twin, y64) + seminar.l2_penalty(twin)
    loss_twin.backward()

    scores = [net(x).data for x in X.tolist()]
    assert relative_error(scores, scores_twin.detach().numpy()) <= 1e-12
    assert relative_error([loss.data], [loss_twin.item()]) <= 1e-12
    for ours, param in zip(seminar.value_mlp_tensors(net, "grad"), twin.parameters(), strict=True):
        assert ours.shape == param.shape
        assert relative_error(ours.numpy().ravel(), param.grad.numpy().ravel()) <= 1e-12


# --------------------------------------------------------------------------------------
# 4. Exercise checks: accept the reference solutions, reject stubs and wrong answers
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("check_name, function_name", EXERCISES)
def test_checks_accept_reference_solutions(
    seminar: types.ModuleType, check_name: str, function_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert getattr(seminar, check_name)(getattr(exercises, function_name)) is True
    assert "✅" in capsys.readouterr().out


@pytest.mark.parametrize("check_name, function_name", EXERCISES)
def test_checks_reject_untouched_stubs(
    seminar: types.ModuleType, check_name: str, function_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stub = getattr(seminar, function_name)
    with pytest.raises(NotImplementedError):
        stub(*[None] * stub.__code__.co_argcount)
    assert getattr(seminar, check_name)(stub) is False
    assert "NotImplementedError" in capsys.readouterr().out


def sigmoid_naive(x: Any) -> Any:
    s = 1.0 / (1.0 + math.exp(-x.data))  # overflows at x = -1000
    out = type(x)(s, (x,), "sigmoid")

    def _backward(upstream: float) -> None:
        x.grad += s * (1 - s) * upstream

    out._backward = _backward
    return out


def sigmoid_composed(x: Any) -> Any:
    return 1 / (1 + (-x).exp())  # several nodes (and overflows)


def sigmoid_assigns(x: Any) -> Any:
    s = 0.5 * (1 + math.tanh(x.data / 2))
    out = type(x)(s, (x,), "sigmoid")

    def _backward(upstream: float) -> None:
        x.grad = s * (1 - s) * upstream  # '=' loses the other paths

    out._backward = _backward
    return out


def sigmoid_wrong_derivative(x: Any) -> Any:
    s = 0.5 * (1 + math.tanh(x.data / 2))
    out = type(x)(s, (x,), "sigmoid")

    def _backward(upstream: float) -> None:
        x.grad += s * upstream

    out._backward = _backward
    return out


def pow_without_exponent_grad(base: Any, exponent: Any) -> Any:
    exponent = exponent if isinstance(exponent, type(base)) else type(base)(exponent)
    out = type(base)(base.data**exponent.data, (base, exponent), "**")

    def _backward(upstream: float) -> None:
        base.grad += exponent.data * base.data ** (exponent.data - 1) * upstream

    out._backward = _backward
    return out


def pow_assigns(base: Any, exponent: Any) -> Any:
    exponent = exponent if isinstance(exponent, type(base)) else type(base)(exponent)
    result = base.data**exponent.data
    out = type(base)(result, (base, exponent), "**")

    def _backward(upstream: float) -> None:
        base.grad = exponent.data * base.data ** (exponent.data - 1) * upstream
        exponent.grad = result * math.log(base.data) * upstream

    out._backward = _backward
    return out


def pairwise_with_comprehension(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    return torch.stack([((a - B) ** 2).sum(dim=1) for a in A])


def pairwise_with_cdist(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    return torch.cdist(A, B) ** 2


def pairwise_transposed(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    return ((B[:, None, :] - A[None, :, :]) ** 2).sum(dim=-1)


def ce_grad_without_mean(Z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    probs = torch.softmax(Z, dim=1)
    probs[torch.arange(len(t)), t] -= 1
    return probs


def ce_grad_naive_softmax(Z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    probs = Z.exp() / Z.exp().sum(dim=1, keepdim=True)  # inf / inf = nan for large logits
    probs[torch.arange(len(t)), t] -= 1
    return probs / len(t)


def ce_grad_by_autograd(Z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    Zr = Z.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(Zr, t).backward()
    return Zr.grad


def jacobian_transposed(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return exercises.jacobian(f, x).T


def jacobian_ready_made(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return torch.autograd.functional.jacobian(f, x)


def jacobian_spoils_x(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    x.requires_grad_(True)
    y = f(x)
    return torch.stack([torch.autograd.grad(y[i], x, retain_graph=True)[0] for i in range(len(y))])


def linear_dw_transposed(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor, G: torch.Tensor) -> tuple:
    return G @ W.T, G.T @ X, G.sum(dim=0)


def linear_db_mean(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor, G: torch.Tensor) -> tuple:
    return G @ W.T, X.T @ G, G.mean(dim=0)


def linear_by_autograd(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor, G: torch.Tensor) -> tuple:
    Xr, Wr, br = (t.clone().requires_grad_(True) for t in (X, W, b))
    ((Xr @ Wr + br) * G).sum().backward()
    return Xr.grad, Wr.grad, br.grad


WRONG_ANSWERS = [
    ("check_sigmoid", sigmoid_naive),
    ("check_sigmoid", sigmoid_composed),
    ("check_sigmoid", sigmoid_assigns),
    ("check_sigmoid", sigmoid_wrong_derivative),
    ("check_pow", pow_without_exponent_grad),
    ("check_pow", pow_assigns),
    ("check_pairwise", pairwise_with_comprehension),
    ("check_pairwise", pairwise_with_cdist),
    ("check_pairwise", pairwise_transposed),
    ("check_softmax_ce_grad", ce_grad_without_mean),
    ("check_softmax_ce_grad", ce_grad_naive_softmax),
    ("check_softmax_ce_grad", ce_grad_by_autograd),
    ("check_jacobian_rows", jacobian_transposed),
    ("check_jacobian_rows", jacobian_ready_made),
    ("check_jacobian_rows", jacobian_spoils_x),
    ("check_linear_backward", linear_dw_transposed),
    ("check_linear_backward", linear_db_mean),
    ("check_linear_backward", linear_by_autograd),
]


@pytest.mark.parametrize("check_name, wrong", WRONG_ANSWERS, ids=[w.__name__ for _, w in WRONG_ANSWERS])
def test_checks_reject_wrong_answers(
    seminar: types.ModuleType, check_name: str, wrong: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    assert getattr(seminar, check_name)(wrong) is False
    assert "❌" in capsys.readouterr().out


# --------------------------------------------------------------------------------------
# 5. Blitz
# --------------------------------------------------------------------------------------


def test_blitz_has_at_least_20_questions_each_with_a_folded_answer(seminar_nb: NotebookNode) -> None:
    cells = [c for c in section_cells(seminar_nb, BLITZ_HEADING, EXERCISES_HEADING) if c.cell_type == "markdown"]
    questions = [c.source for c in cells if "<details>" in c.source]
    assert len(questions) >= 20
    for number, text in enumerate(questions, start=1):
        assert text.startswith(f"**{number}.**"), text[:40]
        assert text.count("<details>") == 1 and text.count("</details>") == 1
        question, answer = text.split("<details>")
        assert "?" in question
        answer = re.sub(r"<summary>.*?</summary>|</details>", "", answer, flags=re.S).strip()
        assert len(answer) >= 40, f"question {number}: the answer is too short"
    text = "\n".join(questions)
    for topic in ("broadcasting", "hinge", "SVM", "сигмоид", "батч", "якобиан", "__radd__", "топологическ", "leaf", "+="):
        assert topic.lower() in text.lower(), f"no blitz question about {topic}"


# --------------------------------------------------------------------------------------
# 6. The executed notebook
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_part2_runs_within_its_time_budget(executed: ExecutionResult) -> None:
    seconds = executed.seconds_between(PART2_HEADING)
    print(f"\n[benchmark] Part II + blitz + exercises: {seconds:.1f} s in a fresh kernel")
    assert seconds <= 30


@pytest.mark.slow
def test_motivation_measures_finite_differences_against_backprop(executed: ExecutionResult) -> None:
    ns = executed.namespace
    assert ns["n_params"] == 10_501
    assert ns["fd_relative_error"] < 1e-5
    assert ns["fd_seconds"] > 100 * ns["backward_seconds"]
    # in class: a measured sample of the first layer's 300 parameters, and an extrapolation labelled as one
    assert ns["fd_sample_size"] == 300 and ns["fd_sample_relative_error"] < 1e-6  # the prose: at most ~1e-7
    assert ns["fd_extrapolated_seconds"] == pytest.approx(ns["fd_sample_seconds"] * 10_501 / 300)
    assert 0.2 < ns["fd_extrapolated_seconds"] / ns["fd_seconds"] < 5  # the estimate is of the right order
    outputs = "".join(executed.text_output(i) for i in range(len(executed.notebook.cells)))
    assert f"конечные разности по 300 параметрам: {ns['fd_sample_seconds']:.2f} с (измерено)" in outputs
    assert f"оценка (экстраполяция) для всех 10501 параметров: {ns['fd_extrapolated_seconds']:.1f} с" in outputs
    print(f"\n[benchmark] backward {1e3 * ns['backward_seconds']:.2f} ms; finite differences over all "
          f"{ns['n_params']} parameters {ns['fd_seconds']:.1f} s; relative error {ns['fd_relative_error']:.1e}")


@pytest.mark.slow
def test_matrix_calculus_identities_check_out(executed: ExecutionResult) -> None:
    checks = executed.namespace["matrix_checks"]
    assert len(checks) >= 15
    names = " ".join(checks)
    for must in ("aᵀx", "Ax", "xᵀAx", "‖x‖", "‖X‖_F", "∇_W L", "∇_X L", "∇_b L", "MSE"):
        assert must in names, f"no check of {must}"
    for name, errors in checks.items():
        assert errors["autograd"] <= 1e-12, name
        assert errors["finite_diff"] <= 1e-7, name


@pytest.mark.slow
def test_value_section_matches_torch_in_the_run(executed: ExecutionResult) -> None:
    ns = executed.namespace
    assert ns["expression_error"] <= 1e-12
    assert ns["twin_output_error"] <= 1e-12
    assert ns["twin_loss_error"] <= 1e-12
    assert ns["twin_grad_error"] <= 1e-12
    assert ns["value_test_accuracy"] >= 0.85
    assert len(ns["value_losses"]) == ns["VALUE_STEPS"]
    assert np.mean(ns["value_losses"][-20:]) < 0.7 * np.mean(ns["value_losses"][:20])
    outputs = "".join(executed.text_output(i) for i in range(len(executed.notebook.cells)))
    assert "RecursionError" in outputs  # the recursive sort fails on the deep chain, on purpose
    print(f"\n[benchmark] Value MLP: {ns['VALUE_STEPS']} SGD steps in {ns['value_train_seconds']:.1f} s; "
          f"one step on the same batch and network: Value {1e3 * ns['value_step_seconds']:.1f} ms, "
          f"PyTorch {1e3 * ns['twin_step_seconds']:.2f} ms")
    # Value against its PyTorch twin: the same 105-parameter network, the same 32-point batch, one step each
    assert ns["value_vs_torch_ratio"] == pytest.approx(ns["value_step_seconds"] / ns["twin_step_seconds"])
    assert ns["value_vs_torch_ratio"] > 3
    assert (
        f"шаг SGD на батче из 32 объектов, сеть из 105 параметров: Value {1e3 * ns['value_step_seconds']:.2f} мс, "
        f"PyTorch {1e3 * ns['twin_step_seconds']:.2f} мс; время Value / время PyTorch = {ns['value_vs_torch_ratio']:.0f}"
    ) in outputs


def test_value_timing_runs_with_the_collector_frozen(seminar_nb: NotebookNode) -> None:
    """gc.freeze() before, gc.unfreeze() in a finally after, around both Value timings."""
    cells = [c.source for c in seminar_nb.cells if c.cell_type == "code" and ("value_step_seconds =" in c.source or "VALUE_STEPS = " in c.source)]
    assert len(cells) == 2
    for source in cells:
        tree = ast.parse(source)
        body = tree.body
        freeze = [i for i, node in enumerate(body) if isinstance(node, ast.Expr) and ast.unparse(node) == "gc.freeze()"]
        guarded = [node for node in body if isinstance(node, ast.Try)]
        assert freeze and guarded and body.index(guarded[0]) == freeze[0] + 1
        assert [ast.unparse(n) for n in guarded[0].finalbody] == ["gc.unfreeze()"]
        assert "perf_counter" in ast.unparse(guarded[0]) or "median_seconds" in ast.unparse(guarded[0])


@pytest.mark.slow
def test_exercise_checks_report_stubs_without_breaking_the_run(executed: ExecutionResult) -> None:
    results = executed.namespace["exercise_results"]
    assert len(results) >= 5 and not any(results.values())
    cells = section_cells(executed.notebook, EXERCISES_HEADING, None)
    text = "".join(o.get("text", "") for c in cells if c.cell_type == "code" for o in c.outputs)
    assert text.count("❌") == len(results)
    assert f"пройдено упражнений: 0 из {len(results)}" in text


# --------------------------------------------------------------------------------------
# 7. Benchmark: ours vs micrograd 0.1.0
# --------------------------------------------------------------------------------------


def test_value_is_not_slower_than_micrograd(seminar: types.ModuleType) -> None:
    import bench_value

    result = bench_value.run_benchmark(seminar.Value, repeats=5)  # alternating medians: robust to load
    print(f"\n[benchmark] one training step (2-16-16-1, 100 points): ours {result.ours_seconds:.3f} s, "
          f"micrograd {result.micrograd_seconds:.3f} s, ratio {result.ratio:.2f}")
    assert result.ratio <= 1.0


def test_bench_cli_rejects_bad_input(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import bench_value
    from nbio import EXIT_BAD_INPUT, run_cli

    missing = tmp_path / "missing.py"
    assert run_cli(bench_value.main, ["--source", str(missing)]) == EXIT_BAD_INPUT
    no_engine = tmp_path / "no_engine.py"
    no_engine.write_text("# %%\nx = 1\n", encoding="utf-8")
    assert run_cli(bench_value.main, ["--source", str(no_engine)]) == EXIT_BAD_INPUT
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == [f"{missing}: no such file", f"{no_engine}: the notebook defines no Value class"]


def test_bench_detects_engines_that_disagree(seminar: types.ModuleType) -> None:
    import bench_value

    class WrongValue(seminar.Value):
        """A Value whose product forgets one input's gradient."""

        __slots__ = ()

        def __mul__(self, other: Any) -> Any:
            other = other if isinstance(other, seminar.Value) else seminar.Value(other)
            out = seminar.Value(self.data * other.data, (self, other), "*")

            def _backward(upstream: float) -> None:
                self.grad += other.data * upstream

            out._backward = _backward
            return out

    with pytest.raises(bench_value.EnginesDisagree):
        bench_value.run_benchmark(WrongValue, repeats=1, workload=bench_value.make_workload(n_points=5))


# --------------------------------------------------------------------------------------
# 8. Value: repeated backward and singular points (issue 14, items 1-2)
# --------------------------------------------------------------------------------------


def test_second_backward_after_zeroing_leaves_repeats_the_first(seminar: types.ModuleType) -> None:
    """Interior gradients are recomputed, not accumulated: as torch with retain_graph=True."""
    Value = seminar.Value
    a, b, c = Value(2.0), Value(3.0), Value(5.0)
    e = (a + b) * c
    e.backward()
    first = [a.grad, b.grad, c.grad]
    assert first == [5.0, 5.0, 5.0]
    for leaf in (a, b, c):
        leaf.grad = 0.0
    e.backward()
    assert [a.grad, b.grad, c.grad] == first
    e.backward()  # without zeroing, leaves accumulate exactly like torch's .grad
    assert [a.grad, b.grad, c.grad] == [10.0, 10.0, 10.0]

    # a graph with reused nodes, against torch: backward twice without zeroing, then zero and once more
    x, y = Value(0.7), Value(-1.3)
    out = ((x * y + x).tanh() * x + (y * y).exp()) / (x + 2)
    xt, yt = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.7, -1.3))
    out_t = ((xt * yt + xt).tanh() * xt + (yt * yt).exp()) / (xt + 2)
    for _ in range(2):
        out.backward()
        out_t.backward(retain_graph=True)
        assert x.grad == pytest.approx(xt.grad.item(), rel=1e-12)
        assert y.grad == pytest.approx(yt.grad.item(), rel=1e-12)
    x.grad = y.grad = 0.0
    xt.grad = yt.grad = None
    out.backward()
    out_t.backward()
    assert (x.grad, y.grad) == (pytest.approx(xt.grad.item(), rel=1e-12), pytest.approx(yt.grad.item(), rel=1e-12))


def test_backward_from_a_leaf_accumulates_like_torch(seminar: types.ModuleType) -> None:
    v = seminar.Value(3.0)
    v.backward()
    v.backward()
    t = torch.tensor(3.0, requires_grad=True)
    t.backward()
    t.backward()
    assert v.grad == t.grad.item() == 2.0


EDGE_POINTS = [0.0, -0.0, 1.0, -1.0, -8.0, 8.0, 0.5, 1000.0, -1000.0, 1e200, -1e200, math.inf, -math.inf, math.nan]
POWERS = [0, 0.0, 1, 2, 3, -1, -2, 0.5, -0.5, 1 / 3, 2.5]


def same_float(ours: float, theirs: float) -> bool:
    """Equal as torch reports it: both nan, equal infinities, or equal within 1e-9 relative (rounding)."""
    if math.isnan(theirs) or math.isnan(ours):
        return math.isnan(theirs) and math.isnan(ours)
    if math.isinf(theirs) or math.isinf(ours):
        return ours == theirs
    return abs(ours - theirs) <= 1e-9 * max(abs(theirs), 1e-300)


def torch_quirk(k: float, x0: float) -> bool:
    """torch.pow computes x ** 0.5 and x ** -0.5 with sqrt/rsqrt, which differ from IEEE pow at -0 and -inf.

    (IEEE: pow(-0, 0.5) = +0 and pow(-inf, -0.5) = +0; torch gives -0 with a -inf gradient, and nan.)
    These two points are the only places where we follow IEEE 754 instead of torch.
    """
    return abs(k) == 0.5 and (x0 == -math.inf or (x0 == 0.0 and math.copysign(1.0, x0) < 0))


def compare_unary(seminar: types.ModuleType, build: Callable[[Any], Any], x0: float) -> None:
    """Value and torch float64 agree on the value and the derivative of build at x0, or the test fails."""
    x = seminar.Value(x0)
    out = build(x)
    out.backward()
    xt = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    out_t = build(xt)
    out_t.backward()
    assert same_float(out.data, out_t.item()), f"value at {x0!r}: {out.data!r} vs torch {out_t.item()!r}"
    assert same_float(x.grad, xt.grad.item()), f"derivative at {x0!r}: {x.grad!r} vs torch {xt.grad.item()!r}"


UNARY_AT_EDGES: dict[str, Callable[[Any], Any]] = {
    "relu": lambda t: t.relu() if hasattr(t, "_prev") else torch.relu(t),
    "tanh": lambda t: t.tanh(),
    "exp": lambda t: t.exp(),
    "neg": lambda t: -t,
    "rdiv": lambda t: 1 / t,
    "rsub": lambda t: 1 - t,
    "rmul": lambda t: 2 * t,
    "radd": lambda t: 2 + t,
    "div_c": lambda t: t / 4,
    "self_mul": lambda t: t * t,
    "self_div": lambda t: t / t,
    "self_sub": lambda t: t - t,
}


@pytest.mark.parametrize("name", list(UNARY_AT_EDGES))
def test_value_operations_at_edge_points_follow_torch(seminar: types.ModuleType, name: str) -> None:
    for x0 in EDGE_POINTS:
        compare_unary(seminar, UNARY_AT_EDGES[name], x0)


@pytest.mark.parametrize("k", POWERS, ids=[repr(k) for k in POWERS])
def test_value_power_at_edge_points_follows_torch(seminar: types.ModuleType, k: float) -> None:
    """x ** 0 has derivative 0 at 0; x ** 0.5 at 0 has an infinite one; (-8) ** 0.5 is nan; overflow is inf."""
    for x0 in EDGE_POINTS:
        if not torch_quirk(k, x0):
            compare_unary(seminar, lambda t, k=k: t**k, x0)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_value_binary_operations_at_edge_points_follow_torch(seminar: types.ModuleType, op: str) -> None:
    points = [0.0, -0.0, 2.0, -3.0, 1e200, -1e200, math.inf, -math.inf, math.nan]
    for a0 in points:
        for b0 in points:
            a, b = seminar.Value(a0), seminar.Value(b0)
            out = apply_op(op, a, b, 0.0)
            out.backward()
            at, bt = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a0, b0))
            out_t = apply_op(op, at, bt, 0.0)
            out_t.backward()
            where = f"{a0!r} {op} {b0!r}"
            assert same_float(out.data, out_t.item()), f"{where}: {out.data!r} vs torch {out_t.item()!r}"
            assert same_float(a.grad, at.grad.item()), f"{where}, d/da: {a.grad!r} vs torch {at.grad.item()!r}"
            assert same_float(b.grad, bt.grad.item()), f"{where}, d/db: {b.grad!r} vs torch {bt.grad.item()!r}"


def test_the_cases_from_the_issue(seminar: types.ModuleType) -> None:
    """The two inputs of the issue, verbatim: 3x + x**0 at 0 and a second backward on (a + b) * c."""
    x = seminar.Value(0.0)
    (3 * x + x**0).backward()
    assert x.grad == 3.0
    big = seminar.Value(1000.0).exp()
    assert big.data == math.inf
    assert math.isnan((seminar.Value(-8.0) ** (1 / 3)).data)


@pytest.mark.slow
def test_value_edge_cases_and_second_backward_in_the_run(executed: ExecutionResult) -> None:
    ns = executed.namespace
    assert ns["quick_check_error"] <= 1e-12
    assert len(ns["edge_case_matches"]) == 5 and all(ns["edge_case_matches"].values())
    assert ns["first_grads"] == ns["second_grads"] == [4.0, 4.0, 3.0]
    quick = next(c.source for c in executed.notebook.cells if c.cell_type == "code" and "quick_check_error =" in c.source)
    for op in (".exp()", ".tanh()", ".relu()", "**", "/", "sum("):
        assert op in quick, f"the quick check against PyTorch never exercises {op}"


# --------------------------------------------------------------------------------------
# 9. Exercise checks that cannot be fooled (issue 11, part 4)
# --------------------------------------------------------------------------------------

import torch.autograd.forward_ad as forward_ad_alias  # noqa: E402 - aliased imports are the attack
from torch.autograd.functional import jacobian as jacobian_alias  # noqa: E402
from torch.func import jacrev as jacrev_alias  # noqa: E402
from torch.func import vjp as vjp_alias  # noqa: E402


def pairwise_with_map(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    return torch.stack(list(map(lambda a: ((a - B) ** 2).sum(dim=1), A)))


def pairwise_with_while(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    rows, i = [], 0
    while i < len(A):
        rows.append(((A[i] - B) ** 2).sum(dim=1))
        i += 1
    return torch.stack(rows)


def pairwise_recursive(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    first = ((A[:1, None, :] - B[None, :, :]) ** 2).sum(dim=-1)
    return first if len(A) == 1 else torch.cat([first, pairwise_recursive(A[1:], B)])


def pairwise_through_python_numbers(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    return torch.tensor([[sum((p - q) ** 2 for p, q in zip(a, b, strict=True)) for b in B.tolist()] for a in A.tolist()], dtype=A.dtype)


def pairwise_norm_expansion(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Honest: ||a||^2 + ||b||^2 - 2 a.b, fully vectorized."""
    return (A**2).sum(dim=1)[:, None] + (B**2).sum(dim=1)[None, :] - 2 * A @ B.T


def ce_grad_torch_func_alias(Z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    _, pullback = vjp_alias(lambda z: torch.nn.functional.cross_entropy(z, t), Z)
    return pullback(torch.tensor(1.0, dtype=Z.dtype))[0]


def ce_grad_functional_alias(Z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return jacobian_alias(lambda z: torch.nn.functional.cross_entropy(z, t), Z)


def ce_grad_forward_mode(Z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    columns = []
    with forward_ad_alias.dual_level():
        for i in range(Z.numel()):
            tangent = torch.zeros(Z.numel(), dtype=Z.dtype)
            tangent[i] = 1.0
            dual = forward_ad_alias.make_dual(Z, tangent.view_as(Z))
            columns.append(forward_ad_alias.unpack_dual(torch.nn.functional.cross_entropy(dual, t)).tangent)
    return torch.stack(columns).view_as(Z)


def hidden_autograd(Z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Looks innocent from the solution's own source: the backward pass happens in here."""
    Zr = Z.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(Zr, t).backward()
    return Zr.grad


def ce_grad_behind_a_helper(Z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return hidden_autograd(Z, t).detach()


def ce_grad_one_hot(Z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Honest: softmax minus one-hot, through torch.nn.functional."""
    return (torch.softmax(Z, dim=1) - torch.nn.functional.one_hot(t, Z.shape[1])) / len(t)


def jacobian_jacrev_alias(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return jacrev_alias(f)(x.clone())


def jacobian_functional_alias(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return jacobian_alias(f, x.clone())


def jacobian_forward_mode(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    columns = []
    with forward_ad_alias.dual_level():
        for j in range(x.numel()):
            tangent = torch.zeros_like(x)
            tangent[j] = 1.0
            columns.append(forward_ad_alias.unpack_dual(f(forward_ad_alias.make_dual(x.clone(), tangent))).tangent)
    return torch.stack(columns, dim=1)


def jacobian_by_backward(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Honest: one backward per output with retain_graph, gradients read from .grad."""
    point = x.detach().clone().requires_grad_(True)
    y = f(point)
    rows = []
    for i in range(y.numel()):
        point.grad = None
        y[i].backward(retain_graph=True)
        rows.append(point.grad.clone())
    return torch.stack(rows)


def linear_torch_func_alias(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor, G: torch.Tensor) -> tuple:
    _, pullback = vjp_alias(lambda x, w, c: x @ w + c, X, W, b)
    return pullback(G)


def linear_einsum(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor, G: torch.Tensor) -> tuple:
    """Honest: the same formulas through einsum."""
    return torch.einsum("nk,dk->nd", G, W), torch.einsum("nd,nk->dk", X, G), G.sum(dim=0)


def pow_several_nodes(base: Any, exponent: Any) -> Any:
    exponent = exponent if isinstance(exponent, type(base)) else type(base)(exponent)
    return exercises.value_pow(base, exponent) * 1.0  # right numbers, but two nodes


DISHONEST = [
    ("check_pairwise", pairwise_with_map),
    ("check_pairwise", pairwise_with_while),
    ("check_pairwise", pairwise_recursive),
    ("check_pairwise", pairwise_through_python_numbers),
    ("check_softmax_ce_grad", ce_grad_torch_func_alias),
    ("check_softmax_ce_grad", ce_grad_functional_alias),
    ("check_softmax_ce_grad", ce_grad_forward_mode),
    ("check_softmax_ce_grad", ce_grad_behind_a_helper),
    ("check_jacobian_rows", jacobian_jacrev_alias),
    ("check_jacobian_rows", jacobian_functional_alias),
    ("check_jacobian_rows", jacobian_forward_mode),
    ("check_linear_backward", linear_torch_func_alias),
    ("check_pow", pow_several_nodes),
]


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # torch's own lazy imports
@pytest.mark.parametrize("check_name, dishonest", DISHONEST, ids=[f.__name__ for _, f in DISHONEST])
def test_checks_reject_dishonest_solutions(
    seminar: types.ModuleType, check_name: str, dishonest: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each of these gives the right numbers; the check must still say no."""
    assert getattr(seminar, check_name)(dishonest) is False
    assert "❌" in capsys.readouterr().out


def test_check_rejects_the_reference_loop_behind_a_call(seminar: types.ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    def pairwise_calls_the_loop(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
        return seminar.pairwise_sq_distances_loop(A, B)

    assert seminar.check_pairwise(pairwise_calls_the_loop) is False
    assert "растёт с размером входа" in capsys.readouterr().out


HONEST = [
    ("check_pairwise", pairwise_norm_expansion),
    ("check_softmax_ce_grad", ce_grad_one_hot),
    ("check_jacobian_rows", jacobian_by_backward),
    ("check_linear_backward", linear_einsum),
]


@pytest.mark.parametrize("check_name, honest", HONEST, ids=[f.__name__ for _, f in HONEST])
def test_checks_accept_other_honest_solutions(
    seminar: types.ModuleType, check_name: str, honest: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    assert getattr(seminar, check_name)(honest) is True, capsys.readouterr().out


@pytest.mark.parametrize("check_name, function_name", [e for e in EXERCISES if e[0] not in ("check_sigmoid", "check_pow")])
def test_checks_fail_when_the_source_cannot_be_read(
    seminar: types.ModuleType, check_name: str, function_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A correct solution without readable source (made by exec) fails instead of skipping the source checks."""
    reference = getattr(exercises, function_name)
    source = textwrap.dedent(inspect.getsource(reference))
    namespace: dict[str, Any] = {"torch": torch, "math": math, "Callable": Callable}
    exec(compile(source, "<no file>", "exec"), namespace)  # noqa: S102 - building the probe on purpose
    assert getattr(seminar, check_name)(namespace[function_name]) is False
    assert "исходный код" in capsys.readouterr().out


def test_trace_call_restores_the_profiler(seminar: types.ModuleType) -> None:
    before = sys.getprofile()
    traced = seminar.trace_call(lambda a: a + 1, torch.ones(2))
    assert sys.getprofile() is before
    assert torch.equal(traced.result, torch.full((2,), 2.0)) and "add" in traced.torch_calls


# --------------------------------------------------------------------------------------
# 10. A pair, not two: the timed plan, self-study parts, explain before use (issue 11)
# --------------------------------------------------------------------------------------

SELF_STUDY = "Для самостоятельного изучения"
PLAN_ROW = re.compile(r"^\|\s*(?P<title>[^|*][^|]*?)\s*\|\s*(?P<what>[^|]*?)\s*\|\s*(?P<minutes>\d+) мин\s*\|\s*(?P<until>\d+)\s*\|\s*$")
#: The longest a pair may take (minutes), blitz selection included.
PAIR_MINUTES = 90
#: Minutes of the pair the plan leaves for the audience's questions (not planned for content). The plan's
#: minutes are a realistic live estimate (a fresh instructor's scale: questions to the audience and pauses
#: for answers included), so the reserve is the rest of the pair, at least this much.
RESERVE_MINUTES = 5
README = Path(__file__).resolve().parent / "README.md"


def plan_rows(markdown: str) -> list[tuple[str, str, int, int]]:
    """(section title, what is done in class, minutes, minute it ends at) of every timed row of a plan table."""
    return [(m["title"], m["what"], int(m["minutes"]), int(m["until"])) for m in map(PLAN_ROW.match, markdown.splitlines()) if m]


def notebook_plan(nb: NotebookNode) -> list[tuple[str, str, int, int]]:
    """The plan table of the notebook's first cell."""
    rows = plan_rows(nb.cells[0].source)
    assert rows, "the first cell has no plan table with «N мин» rows"
    return rows


def test_plan_gives_minutes_for_every_in_class_section_within_a_pair(seminar_nb: NotebookNode) -> None:
    rows = notebook_plan(seminar_nb)
    total = sum(minutes for _, _, minutes, _ in rows)
    print(f"\n[benchmark] in-class plan: {total} min of {PAIR_MINUTES} ({len(rows)} sections)")
    assert total <= PAIR_MINUTES - RESERVE_MINUTES, "the plan must leave real time for questions"
    intro = seminar_nb.cells[0].source
    assert f"{total} минут" in intro and f"{PAIR_MINUTES - total} минут пары — запас на вопросы" in intro
    elapsed = 0
    for title, _, minutes, until in rows:  # the running clock the instructor follows is consistent
        assert minutes >= 1, title
        elapsed += minutes
        assert until == elapsed, f"{title}: ends at minute {until}, but the minutes add up to {elapsed}"
    headings = [h.lstrip("#").strip() for h in markdown_headings(seminar_nb)]
    position = -1
    for title, _, _, _ in rows:  # each row is a heading of the notebook, in the notebook's order
        later = [i for i, h in enumerate(headings) if h == title and i > position]
        assert later, f"plan row {title!r} is not a heading after the previous row's"
        position = later[0]
        assert SELF_STUDY not in title
    numbered = [h for h in markdown_headings(seminar_nb) if re.match(r"## \d+\. ", h)]
    planned = {title for title, _, _, _ in rows}
    for heading in numbered:  # every seed topic stays on the in-class path
        assert heading.lstrip("#").strip() in planned, f"{heading} has no minutes in the plan"
    assert "Блиц-вопросы" in planned


def test_blitz_selection_in_the_plan_is_the_one_announced(seminar_nb: NotebookNode) -> None:
    what = next(what for title, what, _, _ in notebook_plan(seminar_nb) if title == "Блиц-вопросы")
    planned = [int(n) for n in re.findall(r"\d+", what)]
    intro = section_cells(seminar_nb, BLITZ_HEADING, EXERCISES_HEADING)
    header = next(c.source for c in seminar_nb.cells if c.cell_type == "markdown" and c.source.startswith(BLITZ_HEADING))
    announced = [int(n) for n in re.findall(r"\d+", header.split("На занятии", 1)[1].split("(")[0])]
    assert planned == announced and 3 <= len(planned) <= 6
    numbers = [int(m) for c in intro if c.cell_type == "markdown" for m in re.findall(r"^\*\*(\d+)\.\*\*", c.source)]
    assert set(planned) <= set(numbers)


def test_a_section_names_only_its_planned_minutes(seminar_nb: NotebookNode) -> None:
    """A section that states its own minutes («(N мин)») states the plan row's N (the blitz said 4 against 3)."""
    rows = notebook_plan(seminar_nb)
    minutes_of = {title: minutes for title, _, minutes, _ in rows}
    checked = 0
    current: tuple[str, int] | None = None  # (plan row title, heading level) of the section we are in
    for cell in seminar_nb.cells[1:]:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            heading = re.match(r"^(#+) (.*)$", line)
            if heading:
                title, level = heading[2].strip(), len(heading[1])
                if title in minutes_of:
                    current = (title, level)
                elif current is not None and level <= current[1]:
                    current = None
                continue
            if current is None:
                continue
            for stated in re.findall(r"(\d+) мин\b", line):
                assert int(stated) == minutes_of[current[0]], f"{current[0]}: the text says {stated} мин, the plan {minutes_of[current[0]]}"
                checked += 1
    assert checked >= 1  # the blitz announces its minutes


def test_self_study_parts_are_marked_subsections_that_still_run(seminar_nb: NotebookNode) -> None:
    """Depth moves to subsections marked «Для самостоятельного изучения»; the candidates the reader named are among them."""
    marked = [h for h in markdown_headings(seminar_nb) if SELF_STUDY in h]
    assert len(marked) >= 10
    for heading in marked:
        assert heading.startswith(("### ", "#### ")), f"{heading}: a self-study part is a subsection of an in-class section"
    text = "\n".join(marked).lower()
    for candidate in ("view", "хуки", "опорные векторы", "замерять время", "основные правила", "матрично-векторных",
                      "замыкание", "явным стеком", "нейросеть на `value`"):
        assert candidate in text, f"no self-study part about {candidate}"
    exercises_cell = next(c.source for c in seminar_nb.cells if c.cell_type == "markdown" and c.source.startswith(EXERCISES_HEADING))
    assert "самостоятельной работы" in exercises_cell


def in_class_parts(nb: NotebookNode) -> list[tuple[int, bool, str]]:
    """(cell index, on the in-class path?, text) for every cell before the blitz, split at headings.

    A heading with «Для самостоятельного изучения» opens a self-study part; the next heading of the
    same or a higher level without it closes the part (a deeper heading stays inside it).
    """
    parts: list[tuple[int, bool, str]] = []
    open_level: int | None = None  # level of the self-study heading we are under, if any
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and cell.source.startswith(BLITZ_HEADING):
            break
        if cell.cell_type != "markdown":
            parts.append((index, open_level is None, cell.source))
            continue
        chunk: list[str] = []
        for line in cell.source.splitlines():
            heading = re.match(r"^(#+) ", line)
            if heading:
                parts.append((index, open_level is None, "\n".join(chunk)))
                chunk = []
                level = len(heading[1])
                if SELF_STUDY in line and (open_level is None or level <= open_level):
                    open_level = level
                elif SELF_STUDY not in line and open_level is not None and level <= open_level:
                    open_level = None
            chunk.append(line)
        parts.append((index, open_level is None, "\n".join(chunk)))
    return parts


def defined_names(source: str) -> set[str]:
    """Names a code cell binds at top level: functions, classes, imports and assignment targets."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        else:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
    return names


def free_names(node: ast.AST) -> set[str]:
    """Names a function or class reads but does not bind itself (arguments, assignments, inner definitions)."""
    bound = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    bound |= {a.arg for a in ast.walk(node) if isinstance(a, ast.arg)}
    bound |= {n.name for n in ast.walk(node) if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n is not node}
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - bound


def test_in_class_code_uses_nothing_that_only_self_study_explains(seminar_nb: NotebookNode) -> None:
    """A helper defined in a self-study cell may run in class only if the in-class text names it first,
    and only if the helper itself rests on nothing else from self-study (a tool the class can take as
    given, like a plotting or timing function, not a check built on a self-study method)."""
    in_class_defined: set[str] = set()
    self_study_only: set[str] = set()
    self_study_defs: dict[str, ast.AST] = {}
    said = ""  # the in-class prose so far
    in_class_cells = 0
    for index, in_class, text in in_class_parts(seminar_nb):
        cell = seminar_nb.cells[index]
        if cell.cell_type == "markdown":
            if in_class:
                said += text
            continue
        names = defined_names(cell.source)
        if not in_class:
            self_study_only |= names - in_class_defined
            self_study_defs |= {n.name: n for n in ast.parse(cell.source).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
            continue
        in_class_cells += 1
        tree = ast.parse(cell.source)
        local = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        local |= {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        for name in sorted((used & self_study_only) - in_class_defined - names - local):
            assert f"`{name}" in said, f"cell {index} uses {name}, defined only in a self-study part and never named in class"
            if name in self_study_defs:
                rests_on = (free_names(self_study_defs[name]) & self_study_only) - in_class_defined - {name}
                assert not rests_on, f"cell {index} runs {name}, which rests on self-study {sorted(rests_on)}"
        in_class_defined |= names
    assert in_class_cells >= 25 and len(self_study_only) >= 20  # the parser sees both paths


def self_study_only_names(nb: NotebookNode) -> set[str]:
    """Names bound by self-study code cells and never by an in-class cell before them."""
    in_class_defined: set[str] = set()
    only: set[str] = set()
    for index, in_class, _ in in_class_parts(nb):
        cell = nb.cells[index]
        if cell.cell_type != "code":
            continue
        names = defined_names(cell.source)
        if in_class:
            in_class_defined |= names
        else:
            only |= names - in_class_defined
    return only - in_class_defined


#: Ideas the in-class path does not teach (they live in self-study parts); a summary bullet or a blitz
#: question chosen for class may name them only as homework.
SELF_STUDY_IDEAS = ("итеративн", "отражённ", "J^\\top", "градиент по оценкам", "явным стеком", "__radd__", "b = a + a",
                    "больший шаг", "увеличенный", "central", "центральн")
HOMEWORK_MARKS = ("дома", SELF_STUDY.lower())


def summary_bullets(nb: NotebookNode) -> list[str]:
    """The bullets of the in-class summaries of both parts («Резюме»), each with its continuation lines."""
    bullets: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and re.match(r"## \d+\. Резюме", cell.source):
            for line in cell.source.splitlines():
                if line.startswith("* "):
                    bullets.append(line)
                elif line.startswith("  ") and bullets:
                    bullets[-1] += " " + line.strip()
    return bullets


def test_summaries_and_class_blitz_rest_on_the_in_class_path(seminar_nb: NotebookNode) -> None:
    """A summary bullet and a blitz question taken in class state only what the class saw (or say «дома»)."""
    only = self_study_only_names(seminar_nb)
    bullets = summary_bullets(seminar_nb)
    assert len(bullets) >= 8
    what = next(what for title, what, _, _ in notebook_plan(seminar_nb) if title == "Блиц-вопросы")
    chosen = {int(n) for n in re.findall(r"\d+", what)}
    blitz = [c.source for c in section_cells(seminar_nb, BLITZ_HEADING, EXERCISES_HEADING) if c.cell_type == "markdown"]
    questions = [q for q in blitz if (m := re.match(r"^\*\*(\d+)\.\*\*", q)) and int(m[1]) in chosen]
    assert len(questions) == len(chosen)
    for text in bullets + questions:
        if text in bullets and any(mark in text.lower() for mark in HOMEWORK_MARKS):
            continue  # a bullet that says it points home
        for name in re.findall(r"`([A-Za-z_]\w*)", text):
            assert name not in only, f"{name} (self-study only) in: {text[:80]}"
        for idea in SELF_STUDY_IDEAS:
            assert idea not in text, f"{idea!r} (self-study only) in: {text[:80]}"
        assert "подраздел" not in text, f"points to a subsection: {text[:80]}"


def test_self_study_holds_the_depth_the_reader_timed(seminar_nb: NotebookNode) -> None:
    """The parts a fresh reader found too long for the pair stay out of the in-class path."""
    in_class = "\n".join(text for _, on_path, text in in_class_parts(seminar_nb) if on_path)
    for deep in ("torch.autograd.grad((w_demo", "| Основной объект |", "SIGMOID_COMPENSATED_EPOCHS = ", "first_layer_grad_norm = {}",
                 "sigmoid_init_stats: dict", "topological_sort_recursive(deep)", "def topological_sort(root", "__slots__ убирает",
                 "grad_numeric = finite_difference_param_grad(", "jacobian_by_hand =", "torch.sin(x_t**2)", "def median_seconds(",
                 "hinge_grad_fd_rel_error =", "mlp_formula_rel_error =", "check_gradient(\"∇_ŷ MSE", "w.grad = None\n(2 * w)",
                 # the second reader's cuts: one idea per topic in class
                 "example_scores = torch.tensor", "def hinge_loss_grad(", "demo_layer = nn.Linear", "mat @ mat (матрично)",
                 "column = torch.tensor([[0.0]", "identity_vs_linear_svc =", "jacobian(lambda v: A_s @ v", "class MetersWithRadd",
                 "def __rtruediv__", "def ieee_pow(", "broken_add(a_n, a_n)", "quick_check_error ="):
        assert deep not in in_class, f"{deep!r} is on the in-class path"


#: Bounds on the size of the in-class path, per planned minute of its section (issue 11). Calibration:
#: three fresh instructors timed the in-class path at 135, 108 and 126 minutes; the 126-minute version
#: (commit 0f11ab8) measures, by in_class_size, 3254 words of prose, 533 code lines, 44 code cells and 22
#: questions to the audience for a plan of 82 minutes: 26 words, 4.2 code lines and 0.35 cells per minute
#: the reader actually took. The totals below hold the path to that reader's pace, so the plan's minutes
#: are honest; the per-section bounds fail as soon as an edit grows a section without giving it minutes
#: (that version fails them: section I.1 had 479 words for 8 minutes).
#: A fourth fresh reader timed the version of commit 93bc6b5 (2223 words, 457 code lines, 29 cells, 15
#: questions; plan 84 min) at about 95 min: 23 words, 0.31 cells and 0.16 questions per reader-minute.
#: The plan was then re-made on that reader's scale (85 min, each unchanged section at least the reader's
#: figure) and the totals tightened to the re-planned path (2057 words, 451 lines, 28 cells, 15 questions).
WORDS_PER_MINUTE = 36  # in-class prose of one section (words), per planned minute
SUMMARY_WORDS_PER_MINUTE = 70  # a summary is read out, not discussed
CODE_LINES_PER_MINUTE = 11  # non-blank, non-comment in-class code lines of one section, per planned minute
SETUP_CODE_LINES_PER_MINUTE = 20  # «Подготовка»: imports and version prints, run rather than read
MAX_CODE_CELLS = 3  # «не больше трёх ячеек кода» on each topic (the plan's promise)
MAX_QUESTIONS = 2  # questions to the audience in one section
#: A self-study part whose cells the class runs anyway (a helper the in-class code needs).
RUN_IN_CLASS = re.compile(r"[Нн]а занятии[^.]*? просто выполняем")
#: The whole in-class path at the pace the 126-minute reader actually went (see above): words, cells and
#: questions with about 5% slack, so a path within these totals takes about its planned minutes on that
#: reader's scale; code lines are looser (5.6 against 4.2 per minute), as the imports and the bodies of
#: `train` and `Value` are run and skimmed, not read line by line.
TOTAL_WORDS_PER_MINUTE = 25
TOTAL_CODE_LINES_PER_MINUTE = 5.4
TOTAL_CODE_CELLS_PER_MINUTE = 0.34
TOTAL_QUESTIONS_PER_MINUTE = 0.18


@dataclass
class SectionSize:
    """Size of one planned section's in-class path."""

    title: str
    minutes: int
    words: int = 0
    code_lines: int = 0
    code_cells: int = 0
    questions: int = 0
    run_cells: int = 0  # self-study cells the class runs without reading (not in the calibrated totals)


def in_class_size(nb: NotebookNode) -> list[SectionSize]:
    """Words of prose, code lines, code cells and questions on the in-class path of each plan row.

    A section runs from its plan row's heading to the next plan row's heading; self-study parts do not
    count, except that the code cells of a self-study part that says they are run in class
    («На занятии ... просто выполняем») count as cells. Words are runs of word characters outside formulas (a $...$ formula counts as one word); code
    lines are non-blank lines that are not comments; questions are «**Вопрос.**» marks. The blitz row
    counts the questions it selects.
    """
    rows = notebook_plan(nb)
    sizes = [SectionSize(title, minutes) for title, _, minutes, _ in rows]
    current: SectionSize | None = None
    upcoming = 0
    run_in_class = False  # the current self-study part says its cells are run in class
    for index, on_path, text in in_class_parts(nb):
        cell = nb.cells[index]
        if cell.cell_type == "markdown":
            heading = re.match(r"^#+ (.*)$", text.splitlines()[0]) if text else None
            if heading and upcoming < len(rows) and heading[1].strip() == rows[upcoming][0]:
                current = sizes[upcoming]
                upcoming += 1
            if heading and SELF_STUDY in heading[1]:
                run_in_class = False
            if not on_path and RUN_IN_CLASS.search(" ".join(text.split())):
                run_in_class = True
        if current is None:
            continue
        if not on_path:
            if cell.cell_type == "code" and run_in_class:
                current.run_cells += 1  # run, not read: a cell of the topic, but no lines to read
            continue
        if cell.cell_type == "markdown":
            current.words += len(re.findall(r"\w+", re.sub(r"\$\$.*?\$\$|\$[^$]*\$", " F ", text, flags=re.S)))
            current.questions += text.count("**Вопрос.**")
        else:
            current.code_lines += sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))
            current.code_cells += 1
    blitz = next(size for size in sizes if size.title == "Блиц-вопросы")
    blitz_what = next(what for title, what, _, _ in rows if title == "Блиц-вопросы")
    blitz.questions = len(re.findall(r"\d+", blitz_what))
    return sizes


def test_in_class_path_size_fits_its_minutes(seminar_nb: NotebookNode) -> None:
    """An objective measure of the in-class path, bounded per planned minute, so it cannot silently grow."""
    sizes = in_class_size(seminar_nb)
    print(f"\n[benchmark] in-class path size: {'section':42} min words code cells questions")
    for s in sizes:
        print(f"[benchmark]   {s.title[:52]:52} {s.minutes:3d} {s.words:5d} {s.code_lines:4d} {s.code_cells:3d}+{s.run_cells} {s.questions:9d}")
    total = SectionSize("total", sum(s.minutes for s in sizes), sum(s.words for s in sizes), sum(s.code_lines for s in sizes),
                        sum(s.code_cells for s in sizes), sum(s.questions for s in sizes))
    print(f"[benchmark]   {'total':52} {total.minutes:3d} {total.words:5d} {total.code_lines:4d} {total.code_cells:5d} {total.questions:9d}")
    for s in sizes:
        per_minute = SUMMARY_WORDS_PER_MINUTE if "Резюме" in s.title else WORDS_PER_MINUTE
        assert s.words <= per_minute * s.minutes, f"{s.title}: {s.words} words of in-class prose for {s.minutes} min"
        lines_per_minute = SETUP_CODE_LINES_PER_MINUTE if s.title == "Подготовка" else CODE_LINES_PER_MINUTE
        assert s.code_lines <= lines_per_minute * s.minutes, f"{s.title}: {s.code_lines} in-class code lines for {s.minutes} min"
        cells = s.code_cells + s.run_cells  # the promise counts the cells the class runs, read or not
        assert cells <= MAX_CODE_CELLS, f"{s.title}: {cells} in-class code cells, the plan promises at most {MAX_CODE_CELLS}"
        assert s.questions <= min(MAX_QUESTIONS if s.title != "Блиц-вопросы" else 6, s.minutes), f"{s.title}: {s.questions} questions"
    assert total.words <= TOTAL_WORDS_PER_MINUTE * total.minutes
    assert total.code_lines <= TOTAL_CODE_LINES_PER_MINUTE * total.minutes
    assert total.code_cells <= TOTAL_CODE_CELLS_PER_MINUTE * total.minutes
    assert total.questions <= TOTAL_QUESTIONS_PER_MINUTE * total.minutes
    intro = seminar_nb.cells[0].source
    assert f"не больше {['', 'одной', 'двух', 'трёх'][MAX_CODE_CELLS]} ячеек кода" in " ".join(intro.split())


def test_in_class_size_counts_what_it_says() -> None:
    """The measure itself: headings split sections, self-study parts and formulas are not counted as prose."""
    cells = [
        nbformat.v4.new_markdown_cell("| Раздел | Что | Время | К минуте |\n|---|---|---|---|\n| A | x | 2 мин | 2 |\n"
                                      "| Блиц-вопросы | вопросы 1, 2 | 1 мин | 3 |"),
        nbformat.v4.new_markdown_cell("## A\n\nодин два $x + y$\n\n**Вопрос.** три?"),
        nbformat.v4.new_code_cell("# comment\nx = 1\n\ny = 2"),
        nbformat.v4.new_markdown_cell(f"#### {SELF_STUDY}: глубже\n\nслова слова слова"),
        nbformat.v4.new_code_cell("z = 3"),
        nbformat.v4.new_markdown_cell(f"#### {SELF_STUDY}: помощник\n\nНа занятии ячейку просто выполняем."),
        nbformat.v4.new_code_cell("w = 4\nv = 5"),
        nbformat.v4.new_markdown_cell("# Блиц-вопросы"),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    a, blitz = in_class_size(nb)
    assert (a.title, a.minutes, a.code_lines, a.code_cells, a.run_cells, a.questions) == ("A", 2, 2, 1, 1, 1)
    assert a.words == len("A один два F Вопрос три".split())
    assert (blitz.title, blitz.questions, blitz.words) == ("Блиц-вопросы", 2, 0)


def first_code_index(nb: NotebookNode, pattern: str) -> int:
    """Index of the first code cell whose source matches the regular expression."""
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and re.search(pattern, c.source))


def first_markdown_index(nb: NotebookNode, pattern: str) -> int:
    """Index of the first markdown cell whose source matches the regular expression."""
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and re.search(pattern, c.source))


def test_autograd_api_is_explained_before_its_first_use(seminar_nb: NotebookNode) -> None:
    """The in-class box (1.5) explains the basics; its self-study sequel (1.6) the other three tools."""
    box = first_markdown_index(seminar_nb, r"### 1\.5\. Autograd")
    text = seminar_nb.cells[box].source.split("### 1.5. Autograd", 1)[1]
    for term in ("requires_grad", ".backward()", ".grad", "накапливается", "zero_grad", "torch.no_grad()", "Вычислительный граф"):
        assert term in text, f"the autograd box does not explain {term}"
    first_use = first_code_index(seminar_nb, r"requires_grad|\.backward\(|no_grad|torch\.autograd|zero_grad")
    assert first_use > box, f"autograd is used in cell {first_use}, before it is explained in cell {box}"
    sequel = first_markdown_index(seminar_nb, rf"### 1\.6\. {SELF_STUDY}: `detach`")
    for term in ("detach", "torch.autograd.grad", "retain_graph", "вычислительного графа"):
        assert term in seminar_nb.cells[sequel].source, f"1.6 does not explain {term}"
    assert box < sequel < first_code_index(seminar_nb, r"\.detach\(|torch\.autograd\.grad|retain_graph")


def test_terms_are_defined_before_they_are_used(seminar_nb: NotebookNode) -> None:
    cells = seminar_nb.cells
    graph = first_markdown_index(seminar_nb, r"\*\*Вычислительный граф\*\*")
    assert graph <= first_markdown_index(seminar_nb, r"detach") < first_code_index(seminar_nb, r"\.detach\(")
    assert first_markdown_index(seminar_nb, r"\*\*переобучением\*\* \(overfitting\)") < first_markdown_index(seminar_nb, r"^\*\*5\.\*\*")
    exercise4 = first_markdown_index(seminar_nb, r"### Упражнение 4")
    for term in (r"\*\*softmax\*\*", r"\*\*Кросс-энтропия\*\*", r"Подсказка к выводу"):
        assert re.search(term, cells[exercise4].source), term
    assert first_markdown_index(seminar_nb, "retain_graph") < first_markdown_index(seminar_nb, r"### Упражнение 5")
    linear_explained = first_markdown_index(seminar_nb, r"`nn\.Linear\(in, out\)` считает")
    assert linear_explained < first_code_index(seminar_nb, r"nn\.Linear\(")


def test_related_homeworks_and_further_reading(seminar_nb: NotebookNode) -> None:
    root = Path(__file__).resolve().parent.parent
    homeworks = next(c.source for c in seminar_nb.cells if c.cell_type == "markdown" and c.source.startswith("# Связанные домашние задания"))
    for name in ("mlp", "weight-init", "activations"):
        assert f"`{name}`" in homeworks and (root / "homeworks" / name / "README.md").is_file()
        assert f"../homeworks/{name}/README.md" in homeworks
    reading = next(c.source for c in seminar_nb.cells if c.cell_type == "markdown" and c.source.startswith("# Дополнительные материалы"))
    for link in ("https://pytorch.org/docs/stable/index.html", "https://pytorch.org/tutorials/",
                 "https://www.youtube.com/watch?v=tIeHLnjs5U8", "https://github.com/karpathy/micrograd"):
        assert link in reading


def test_russian_terminology(seminar_nb: NotebookNode) -> None:
    text = "\n".join(c.source for c in seminar_nb.cells)
    assert not re.search(r"[Тт]очность \(accuracy\)|[Тт]очность по эпохам|[Тт]очность на (train|test)", text)
    assert not re.search(r"по примерам|каждом примере|на обычном ноутбуке|откладываем|гнуть|родственник", text)
    assert "Чему равна hinge loss" not in text
    assert "10 501 производных" not in text


# --------------------------------------------------------------------------------------
# 11. Figures: arrows point the way the title says; no edge through a node box
# --------------------------------------------------------------------------------------


def segment_crosses_box(start: tuple[float, float], end: tuple[float, float], box: Any) -> bool:
    """Does the straight segment (display coordinates) pass through the rectangle box? Sampled finely."""
    return any(box.contains(start[0] + (end[0] - start[0]) * k / 400, start[1] + (end[1] - start[1]) * k / 400) for k in range(401))


def test_value_graph_has_no_edge_through_a_node_box(seminar: types.ModuleType) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Value = seminar.Value
    cases = []
    a, b, c = Value(0.5), Value(-1.0), Value(2.0)
    cases.append(((a * b + c * a).tanh() * c, {"a": a, "b": b, "c": c}))  # the notebook's figure
    x, y = Value(1.5), Value(-0.5)
    cases.append(((x * y + x).relu() * (y + 2) + x * x * y, {"x": x, "y": y}))  # more skip edges
    for root, names in cases:
        root.backward()
        fig, ax = plt.subplots(figsize=(12, 4))
        try:
            texts, paths = seminar.draw_graph(*seminar.value_graph(root, names), ax, "probe")
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            boxes = {name: text.get_bbox_patch().get_window_extent(renderer) for name, text in texts.items()}
            centre = {name: ax.transData.transform(text.get_position()) for name, text in texts.items()}
            assert all(path[0] in texts and path[-1] in texts for path in paths)
            segments = [a for a in ax.texts if type(a).__name__ == "Annotation"]
            assert len(segments) >= sum(len(path) - 1 for path in paths)
            for annotation in segments:  # every drawn piece of every edge, tail to head
                start = ax.transData.transform(annotation.xyann)
                end = ax.transData.transform(annotation.xy)
                own = {n for n, p in centre.items() if np.allclose(p, start) or np.allclose(p, end)}
                for name, box in boxes.items():
                    if name not in own:
                        assert not segment_crosses_box(start, end, box), f"an edge passes through the box of {name}"
        finally:
            plt.close(fig)


def test_backward_panel_points_right_to_left(seminar: types.ModuleType) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {name: name for name in ("x", "y", "z", "q", "f")}
    edges = [("x", "q"), ("y", "q"), ("q", "f"), ("z", "f")]
    fig, (forward_ax, backward_ax) = plt.subplots(1, 2)
    try:
        seminar.draw_graph(labels, edges, forward_ax, "forward")
        seminar.draw_graph(labels, edges, backward_ax, "backward", backward=True)
        for ax, sign in ((forward_ax, 1), (backward_ax, -1)):
            heads = [a for a in ax.texts if type(a).__name__ == "Annotation" and a.arrowprops["arrowstyle"] == "->"]
            assert len(heads) == len(edges)
            for arrow in heads:  # the head (xy) lies right of the tail when forward, left of it when backward
                assert sign * (arrow.xy[0] - arrow.xyann[0]) > 0
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------------------
# 12. seminars/README.md: the seed's parts, true to this repository, in step with the notebook
# --------------------------------------------------------------------------------------


def test_readme_plan_is_the_notebooks_plan(seminar_nb: NotebookNode) -> None:
    readme = README.read_text(encoding="utf-8")
    assert plan_rows(readme) == notebook_plan(seminar_nb)
    # Every Markdown table needs its separator row, or GitHub shows it as plain text.
    lines = readme.splitlines()
    for number, line in enumerate(lines[:-1]):
        starts_table = line.startswith("|") and (number == 0 or not lines[number - 1].startswith("|"))
        if starts_table:
            assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[number + 1].strip()), f"README line {number + 1}: table without separator row"


def test_readme_has_the_seeds_parts_and_names_every_file_of_the_folder() -> None:
    readme = README.read_text(encoding="utf-8")
    for part in ("## Семинар 1", "### Содержание", "#### Часть I", "#### Часть II", "### Технические детали",
                 "### Запуск семинара", "### Связанные домашние задания", "### Дополнительные материалы",
                 "## Структура папки", "## Педагогическая логика", "## План занятия"):
        assert part in readme, f"README lacks {part}"
    folder = README.parent
    names = {p.name for p in folder.iterdir() if not p.name.startswith((".", "__")) and p.name != "build"}
    names |= {f"solutions/{p.name}" for p in (folder / "solutions").iterdir() if not p.name.startswith(".") and p.name != "__pycache__"}
    structure = readme.split("## Структура папки", 1)[1].split("\n## ", 1)[0]
    for name in sorted(names):
        assert name.split("/")[-1] in structure, f"the folder structure does not name {name}"
    for line in structure.splitlines():  # and names nothing that is not there
        match = re.match(r"^[│├└─\s]*([\w./-]+\.(?:py|ipynb|sh|md))\b", line)
        if match:
            assert match[1].split("/")[-1] in {n.split("/")[-1] for n in names}, f"README names a missing file {match[1]}"
    for command in (".venv/bin/python seminars/execute_notebook.py", "make seminar", "make lab"):
        assert command in readme
    for name in ("mlp", "weight-init", "activations"):
        assert f"`{name}`" in readme
    assert "miniconda" not in readme  # the seed's paths are not this repository's
