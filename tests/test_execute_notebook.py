"""Tests of ``seminars/execute_notebook.py`` (what ``make seminar`` runs) on small notebooks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "seminars" / "execute_notebook.py"
sys.path.insert(0, str(ROOT / "seminars"))

from execute_notebook import CellExecutionFailed, execute  # noqa: E402


def write(path: Path, *sources: str) -> Path:
    """Write a notebook with one code cell per source (a heading cell first)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Заголовок")] + [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def test_cli_writes_executed_notebook_and_html(tmp_path: Path) -> None:
    nb = write(tmp_path / "demo.ipynb", "import time\nanswer = 6 * 7\nprint('ответ', answer)")
    before = nb.read_bytes()
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(TOOL), str(nb), "--out-dir", str(out)], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    executed = json.loads((out / "demo.ipynb").read_text(encoding="utf-8"))
    assert "ответ 42" in "".join(executed["cells"][1]["outputs"][0]["text"])
    html = (out / "demo.html").read_text(encoding="utf-8")
    assert "ответ 42" in html and "<html" in html
    assert str(out / "demo.ipynb") in result.stdout and str(out / "demo.html") in result.stdout
    assert "Execution took" in result.stdout
    assert nb.read_bytes() == before, "the source notebook is never modified"


def test_cli_reports_failing_cell_with_exit_1(tmp_path: Path) -> None:
    nb = write(tmp_path / "broken.ipynb", "x = 1", "raise ValueError('сломано')")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(TOOL), str(nb), "--out-dir", str(out), "--no-html"], capture_output=True, text=True, timeout=180)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{nb}: cell 2 failed") and "ValueError" in result.stderr
    assert not (out / "broken.ipynb").exists()


def test_cli_bad_input_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ipynb"
    bad.write_text("not json", encoding="utf-8")
    result = subprocess.run([sys.executable, str(TOOL), str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.startswith(f"{bad}: not valid JSON")


def test_probe_collects_globals_and_timings(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("## A"),
        nbformat.v4.new_code_cell("import torch, time\nratio = torch.tensor(2.5)\nname = 'x'\ntable = {'a': [1, 2]}\nmodel = object()"),
        nbformat.v4.new_markdown_cell("## B"),
        nbformat.v4.new_code_cell("time.sleep(0.3)"),
    ]
    result = execute(nb, cwd=tmp_path, timeout=120, probe=True)
    assert result.namespace["ratio"] == pytest.approx(2.5)
    assert result.namespace["name"] == "x" and result.namespace["table"] == {"a": [1, 2]}
    assert "model" not in result.namespace
    assert len(result.notebook.cells) == 4, "the probe cell is removed"
    assert result.seconds_between("## B") >= 0.3
    assert result.seconds_between("## A", "## B") < result.total_seconds


def test_execute_raises_naming_the_cell(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("1 / 0")]
    with pytest.raises(CellExecutionFailed, match="cell 0 failed.*ZeroDivisionError"):
        execute(nb, cwd=tmp_path, timeout=60)
