"""Tests of the seminar notebook ``01_seminar_mlp_autograd``.

Three layers, cheapest first:

1. structure of the committed ``.ipynb`` and of its source (raw JSON, no kernel);
2. unit tests of the notebook's own functions and classes, loaded in-process (``seminar``);
3. assertions on one fresh execution of the whole notebook (``executed``; marked ``slow``).

Fixtures live in ``conftest.py``.
"""

from __future__ import annotations

import ast
import json
import re
import types
from pathlib import Path

import nbformat
import pytest
from execute_notebook import ExecutionResult
from load_notebook import definition_statements, load_definitions
from nbformat import NotebookNode
from nbio import dumps
from rebuild_notebook import SEMINAR_NOTEBOOK

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
    "# Часть II. Autograd и backpropagation",
    "## 1. Мотивация: зачем нужно автоматическое дифференцирование",
    "## 2. Forward и backward pass",
    "## 3. Chain rule",
    "## 4. Матричное дифференцирование",
    "## 5. Примеры в PyTorch: сложение и умножение",
    "## 6. Собственный autograd: класс Value",
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
