"""End to end: the archive notebooks, `make migrate`'s pipeline, and the pre-commit wiring.

The pipeline is merge -> modernize -> rebuild, called exactly as the Makefile calls it. The
migrated notebook must run in a fresh kernel on the pinned PyTorch, while the merge of the
*unmodernized* archive must fail on its legacy code: the modernizer's value is shown, not
assumed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "seminars"))

from execute_notebook import CellExecutionFailed, execute
from migration_helpers import ARCHIVE, ROOT, SEMINARS, run_tool
from nbio import read_notebook

TITLE = "Семинар 1: MLP на PyTorch и автоматическое дифференцирование (миграция архива)"
#: Legacy idioms the archive must contain and the migrated notebook must not.
LEGACY_PATTERNS = {
    "Variable(...)": r"\bVariable\(",
    "Variable import": r"import Variable",
    ".data[0]": r"\.data\[0\]",
    "volatile=True": r"volatile\s*=\s*True",
    "torch.FloatTensor(...)": r"torch\.FloatTensor\(",
    "torch.LongTensor(...)": r"torch\.LongTensor\(",
    "torch.DoubleTensor(...)": r"torch\.DoubleTensor\(",
    "torch.Tensor(...)": r"torch\.Tensor\(",
    "F.sigmoid": r"\bF\.sigmoid\b",
    "F.tanh": r"\bF\.tanh\b",
    "async=True": r"\basync\s*=\s*True",
    "class X(object)": r"class \w+\(object\)",
    "super(X, self)": r"super\(\w+, self\)",
}


def code_of(nb: dict | nbformat.NotebookNode) -> str:
    return "\n".join("".join(cell["source"]) for cell in nb["cells"] if cell["cell_type"] == "code")


# ------------------------------------------------------------------------------ the archive


@pytest.mark.parametrize("path", ARCHIVE, ids=[p.name for p in ARCHIVE])
def test_archive_notebooks_are_2018_style_legacy_inputs(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["nbformat"] == 4 and data["nbformat_minor"] <= 4
    nbformat.validate(nbformat.from_dict(data))
    assert all("id" not in cell for cell in data["cells"])
    assert "colab" in data["metadata"] and all("colab_type" in cell["metadata"] for cell in data["cells"])
    widgets = data["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]
    assert widgets and "state" not in widgets and "version_major" not in widgets  # saved the broken way
    outputs = [out for cell in data["cells"] for out in cell.get("outputs", [])]
    assert any(out["output_type"] == "stream" for out in outputs)
    assert any(out["output_type"] in ("display_data", "execute_result") for out in outputs)
    markdown = " ".join("".join(cell["source"]) for cell in data["cells"] if cell["cell_type"] == "markdown")
    assert len(re.findall(r"[а-яё]+", markdown.lower())) > 100  # the prose is Russian
    assert re.search(r"'[^'\n]*%[.0-9-]*[sdf][^'\n]*' % ", code_of(data))  # %-formatting


def test_archive_together_holds_every_legacy_idiom_the_tools_rewrite() -> None:
    text = "\n".join(code_of(json.loads(path.read_text(encoding="utf-8"))) for path in ARCHIVE)
    missing = [name for name, pattern in LEGACY_PATTERNS.items() if not re.search(pattern, text)]
    assert not missing


def test_async_cell_of_the_archive_does_not_even_compile_on_python_3() -> None:
    data = json.loads(ARCHIVE[0].read_text(encoding="utf-8"))
    cell = next("".join(c["source"]) for c in data["cells"] if "async=True" in "".join(c["source"]))
    with pytest.raises(SyntaxError):
        compile(cell, "<cell>", "exec")


def test_autograd_archive_fails_on_the_pinned_pytorch_before_modernizing() -> None:
    """old_02 has no IPython syntax: run its legacy cells in-process until the first error."""
    data = json.loads(ARCHIVE[1].read_text(encoding="utf-8"))
    namespace: dict = {}
    with pytest.raises(IndexError, match="invalid index of a 0-dim tensor"):
        for cell in data["cells"]:
            if cell["cell_type"] == "code":
                source = "".join(cell["source"])
                exec(compile(source, "<cell>", "exec"), namespace)  # noqa: S102 - the archive's own code
    assert ".data[0]" in source  # the cell that raised


# ------------------------------------------------------------------------------ the pipeline


@dataclass
class Migration:
    raw: Path  # the merge of the unmodernized archive
    migrated: Path  # merge -> modernize -> rebuild, as `make migrate` does
    modernize_stdout: str


def migrate(folder: Path) -> Migration:
    """Run the three tools as the Makefile's `migrate` target does, into ``folder``."""
    out = folder / "migrated_seminar.ipynb"
    merged = run_tool("merge_notebooks.py", *ARCHIVE, "-o", out, "--title", TITLE)
    assert merged.returncode == 0, merged.stderr
    raw = folder / "raw_merge.ipynb"
    shutil.copy(out, raw)
    modernized = run_tool("modernize_code.py", out)
    assert modernized.returncode == 0, modernized.stderr
    rebuilt = run_tool("rebuild_notebook.py", out)
    assert rebuilt.returncode == 0, rebuilt.stderr
    return Migration(raw, out, modernized.stdout)


@pytest.fixture(scope="module")
def migration(tmp_path_factory: pytest.TempPathFactory) -> Migration:
    return migrate(tmp_path_factory.mktemp("migrate"))


@pytest.fixture(scope="module")
def single_threaded() -> Iterator[None]:
    """Kernels inherit this: on a loaded 2-core machine torch's thread pool spins and a
    sub-second cell of tiny ops can take a minute."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        yield


def test_makefile_migrate_target_runs_this_pipeline() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile[makefile.index("\nmigrate:"):].split("\n\n")[0]
    steps = [script for script in ("merge_notebooks.py", "modernize_code.py", "rebuild_notebook.py") if script in recipe]
    assert steps == ["merge_notebooks.py", "modernize_code.py", "rebuild_notebook.py"]
    assert all(path.name in recipe for path in ARCHIVE) and "build/migrated_seminar.ipynb" in recipe


def test_migrated_notebook_is_normalized_and_free_of_legacy_idioms(migration: Migration) -> None:
    nb = read_notebook(migration.migrated)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5)
    assert nb.metadata.title == TITLE and "widgets" not in nb.metadata
    assert len({cell.id for cell in nb.cells}) == len(nb.cells)
    assert all(cell.outputs == [] and cell.execution_count is None for cell in nb.cells if cell.cell_type == "code")
    text = code_of(nb)
    remaining = {name: re.findall(pattern, text) for name, pattern in LEGACY_PATTERNS.items() if re.search(pattern, text)}
    assert not remaining
    assert "%matplotlib inline" in text and "!nvidia-smi" in text  # IPython lines survive
    for rule in ("variable", "volatile", "data-index-item", "legacy-constructor", "functional", "async-kwarg",
                 "unused-import", "UP031 (ruff)", "UP032 (ruff)", "UP004 (ruff)", "UP008 (ruff)"):
        assert f": {rule}: " in migration.modernize_stdout, rule
    assert run_tool("modernize_code.py", migration.migrated, "--check").returncode == 0
    assert run_tool("rebuild_notebook.py", migration.migrated, "--check").returncode == 0


def test_pipeline_is_idempotent(migration: Migration, tmp_path: Path) -> None:
    before = migration.migrated.read_bytes()
    for script in ("modernize_code.py", "rebuild_notebook.py"):
        assert run_tool(script, migration.migrated).returncode == 0
        assert migration.migrated.read_bytes() == before, script
    again = migrate(tmp_path)
    assert again.migrated.read_bytes() == before
    assert again.raw.read_bytes() == migration.raw.read_bytes()


@pytest.mark.slow
def test_migrated_notebook_runs_in_a_fresh_kernel(migration: Migration, single_threaded: None) -> None:
    result = execute(read_notebook(migration.migrated), cwd=migration.migrated.parent, timeout=120)
    print(f"migrated notebook executed in {result.total_seconds:.1f} s")
    assert result.total_seconds < 90
    text = {index: result.text_output(index) for index in range(len(result.notebook.cells))}
    joined = "\n".join(text.values())

    def number(pattern: str) -> float:
        match = re.search(pattern, joined)
        assert match, pattern
        return float(match.group(1))

    assert number(r"точность на валидации: ([\d.]+)") > 0.9
    assert number(r"relu\s+accuracy ([\d.]+)") > number(r"identity\s+accuracy ([\d.]+)")
    assert "результаты совпадают: True" in joined and number(r"ускорение: в ([\d.]+) раз") > 1
    assert number(r"относительная ошибка формулы для dL/dW: ([\d.e+-]+)") < 1e-4
    for grad in ("a", "b"):
        match = re.search(rf"dc/d{grad}: Value (\S+), PyTorch (\S+)", joined)
        assert match and match.group(1) == match.group(2)
    match = re.search(r"глубина 5000: dy/dx = (\S+), формула 1.0001\^5000 = (\S+)", joined)
    assert match and match.group(1) == match.group(2)
    assert "CUDA недоступна" in joined or "на GPU" in joined


@pytest.mark.slow
def test_unmodernized_merge_fails_on_its_legacy_code(migration: Migration, single_threaded: None) -> None:
    nb = read_notebook(migration.raw)
    with pytest.raises(CellExecutionFailed) as failure:
        execute(nb, cwd=migration.raw.parent, timeout=120)
    cause = failure.value.__cause__
    assert getattr(cause, "ename", None) == "IndexError", failure.value
    assert "invalid index of a 0-dim tensor" in str(getattr(cause, "evalue", ""))
    index = int(re.match(r"cell (\d+) failed", str(failure.value)).group(1))
    assert ".data[0]" in nb.cells[index].source
    part_two = next(i for i, cell in enumerate(nb.cells) if cell.source.startswith("# Часть II."))
    assert index < part_two  # old_01 fails on its own; old_02's failure is shown in-process above


# ------------------------------------------------------------------------------ pre-commit


def test_pre_commit_config_uses_only_local_system_hooks_that_exist() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = {}
    for repo in config["repos"]:
        assert repo["repo"] == "local"
        for hook in repo["hooks"]:
            assert hook["language"] == "system"
            hooks[hook["id"]] = hook
    assert {"ruff", "rm-widgets", "rebuild-notebook"} <= set(hooks)
    assert "jupyter" in hooks["ruff"]["types_or"]
    assert re.search(hooks["rm-widgets"]["exclude"], "seminars/old_01_seminar_torch_mlp.ipynb")
    assert not re.search(hooks["rm-widgets"]["exclude"], "seminars/01_seminar_mlp_autograd.ipynb")
    assert "--check" in hooks["rm-widgets"]["entry"] and "--check" in hooks["rebuild-notebook"]["entry"]
    for hook in hooks.values():
        for word in hook["entry"].split():
            if "/" in word and not word.startswith("-"):
                assert (ROOT / word).exists() or word.startswith(".venv/"), word
    assert os.access(SEMINARS / "rm_widgets.sh", os.R_OK)
