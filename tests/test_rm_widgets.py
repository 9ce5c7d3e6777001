"""Tests of seminars/rm_widgets.sh and its helper seminars/rm_widgets.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "seminars"))

from migration_helpers import (
    ARCHIVE,
    BAD_INPUTS,
    ROOT,
    SEMINARS,
    assert_one_line_error,
    call_main,
    code,
    md,
    notebook,
    snapshot,
    stateless_widgets,
    write_bad,
    write_json,
)
from rm_widgets import main

SCRIPT = SEMINARS / "rm_widgets.sh"
PLOT_OUTPUT = {"output_type": "display_data", "metadata": {}, "data": {"text/plain": "<Figure>"}}


def widget_notebook(path: Path, minor: int = 4) -> Path:
    """A notebook with an output and widget state saved without its 'state' key."""
    cells = [md("# Ноутбук"), code("plot()", outputs=[PLOT_OUTPUT], count=1)]
    return write_json(path, notebook(cells, minor=minor, metadata={"widgets": stateless_widgets()}), indent=2)


def bash(*args: str | Path) -> subprocess.CompletedProcess:
    """Run the wrapper with the interpreter running these tests (any venv, any Python version)."""
    env = {**os.environ, "RM_WIDGETS_PYTHON": sys.executable}
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False, env=env)


def render_html(path: Path) -> str:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(str(path), as_version=4))
    return body


def test_archive_notebook_that_nbconvert_refuses_renders_after_cleaning(tmp_path: Path) -> None:
    path = tmp_path / "old.ipynb"
    shutil.copy(ARCHIVE[0], path)
    with pytest.raises(KeyError, match="state"):
        render_html(path)  # nbconvert looks for metadata.widgets[...]["state"]
    result = bash(path)
    assert result.returncode == 0, result.stderr
    assert "removed widget state" in result.stdout
    html = render_html(path)
    assert "make_moons" in html and "<img" in html


def test_only_the_widget_state_goes(tmp_path: Path) -> None:
    path = widget_notebook(tmp_path / "nb.ipynb")
    before = json.loads(path.read_text(encoding="utf-8"))
    assert call_main(main, path) == 0
    after = json.loads(path.read_text(encoding="utf-8"))
    del before["metadata"]["widgets"]
    assert nbformat.reads(json.dumps(after), as_version=4) == nbformat.reads(json.dumps(before), as_version=4)
    assert after["nbformat_minor"] == 4 and all("id" not in cell for cell in after["cells"])


def test_second_run_changes_no_byte_and_clean_notebooks_are_never_rewritten(tmp_path: Path) -> None:
    path = widget_notebook(tmp_path / "nb.ipynb")
    assert call_main(main, path) == 0
    first, stamp = path.read_bytes(), path.stat().st_mtime_ns
    assert call_main(main, path) == 0
    assert path.read_bytes() == first and path.stat().st_mtime_ns == stamp
    clean = write_json(tmp_path / "clean.ipynb", notebook([code("x = 1")]), indent=4)  # unusual layout stays
    before = clean.read_bytes()
    assert call_main(main, clean) == 0
    assert clean.read_bytes() == before


def test_check_mode_exits_1_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dirty = widget_notebook(tmp_path / "dirty.ipynb")
    clean = write_json(tmp_path / "clean.ipynb", notebook([code("x = 1")]))
    before = snapshot([dirty, clean])
    assert call_main(main, "--check", dirty, clean) == 1
    err = capsys.readouterr().err
    assert str(dirty) in err and str(clean) not in err
    assert snapshot([dirty, clean]) == before
    assert call_main(main, "--check", clean) == 0


def test_missing_ids_of_a_45_notebook_are_filled_deterministically(tmp_path: Path) -> None:
    copies = []
    for name in ("a", "b"):
        data = json.loads(widget_notebook(tmp_path / f"{name}.ipynb", minor=5).read_text(encoding="utf-8"))
        del data["cells"][1]["id"]
        copies.append(write_json(tmp_path / f"{name}.ipynb", data))
    for path in copies:
        assert call_main(main, path) == 0
    assert copies[0].read_bytes() == copies[1].read_bytes()
    nbformat.validate(nbformat.reads(copies[0].read_text(encoding="utf-8"), as_version=4))


def test_default_run_skips_archive_and_checkpoints(tmp_path: Path) -> None:
    seminar = widget_notebook(tmp_path / "01_seminar.ipynb")
    archive = widget_notebook(tmp_path / "old_01_legacy.ipynb")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    checkpoint = widget_notebook(tmp_path / ".ipynb_checkpoints" / "01_seminar-checkpoint.ipynb")
    (tmp_path / "solutions").mkdir()
    nested = widget_notebook(tmp_path / "solutions" / "x.ipynb")
    kept = snapshot([archive, checkpoint])
    assert call_main(main, "--root", tmp_path, "--check") == 1
    assert call_main(main, "--root", tmp_path) == 0
    assert snapshot([archive, checkpoint]) == kept
    for path in (seminar, nested):
        assert "widgets" not in json.loads(path.read_text(encoding="utf-8"))["metadata"]
    assert call_main(main, "--root", tmp_path, "--check") == 0
    assert call_main(main, "--root", tmp_path, "--include-archive") == 0
    assert "widgets" not in json.loads(archive.read_text(encoding="utf-8"))["metadata"]
    assert "widgets" in json.loads(checkpoint.read_text(encoding="utf-8"))["metadata"]


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_input_exits_2_and_no_file_changes(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = widget_notebook(tmp_path / "good.ipynb")
    bad = write_bad(tmp_path / "bad.ipynb", kind)
    before = snapshot([good, bad])
    assert call_main(main, good, bad) == 2  # the good one comes first and is still not written
    assert_one_line_error(capsys.readouterr().err, bad)
    assert snapshot([good, bad]) == before


def test_wrapper_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    bad = write_bad(tmp_path / "bad.ipynb", "invalid-json")
    before = bad.read_bytes()
    result = bash("--check", bad)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, bad)
    assert bad.read_bytes() == before


def test_repository_notebooks_pass_the_check_that_make_check_runs() -> None:
    result = bash("--check")
    assert result.returncode == 0, result.stderr
