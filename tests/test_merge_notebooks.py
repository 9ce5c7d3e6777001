"""Tests of seminars/merge_notebooks.py."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "seminars"))

from merge_notebooks import main, roman
from migration_helpers import (
    ARCHIVE,
    BAD_INPUTS,
    assert_one_line_error,
    call_main,
    code,
    md,
    notebook,
    run_tool,
    snapshot,
    stateless_widgets,
    v3_notebook,
    write_bad,
    write_json,
)

STREAM = [{"output_type": "stream", "name": "stdout", "text": "42\n"}]


def two_inputs(tmp_path: Path) -> tuple[Path, Path]:
    """Two 4.4 notebooks with outputs and Colab/widget metadata."""
    a = write_json(tmp_path / "a.ipynb", notebook(
        [md("# Часть про PyTorch\n\nТекст."), code("x = 6 * 7\nprint(x)", outputs=STREAM, count=1)],
        metadata={"colab": {"name": "a.ipynb"}, "widgets": stateless_widgets(), "accelerator": "GPU"}))
    b = write_json(tmp_path / "b.ipynb", notebook(
        [code("%matplotlib inline\ny = 1"), md("## Autograd\n\nПро градиенты.")],
        metadata={"language_info": {"name": "python", "version": "3.6.7"}, "widgets": stateless_widgets()}))
    return a, b


def read(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    nbformat.validate(nb)
    return nb


def test_merge_keeps_every_cell_in_order_with_part_headings(tmp_path: Path) -> None:
    a, b = two_inputs(tmp_path)
    out = tmp_path / "out.ipynb"
    assert call_main(main, a, b, "-o", out) == 0
    nb = read(out)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5)
    assert [cell.source for cell in nb.cells] == [
        "# Часть I. Часть про PyTorch\n\n*Источник: `a.ipynb`*",
        "# Часть про PyTorch\n\nТекст.",
        "x = 6 * 7\nprint(x)",
        "# Часть II. Autograd\n\n*Источник: `b.ipynb`*",
        "%matplotlib inline\ny = 1",
        "## Autograd\n\nПро градиенты.",
    ]
    assert nb.cells[2].outputs[0].text == "42\n" and nb.cells[2].execution_count == 1


def test_merged_metadata_is_explicit_and_widget_state_is_dropped(tmp_path: Path) -> None:
    a, b = two_inputs(tmp_path)
    out = tmp_path / "out.ipynb"
    assert call_main(main, a, b, "-o", out, "--title", "Семинар 1") == 0
    nb = read(out)
    assert set(nb.metadata) == {"kernelspec", "language_info", "title"}
    assert nb.metadata.kernelspec.name == "python3" and nb.metadata.language_info.name == "python"
    assert "version" not in nb.metadata.language_info
    assert nb.metadata.title == "Семинар 1" and nb.cells[0].source == "# Семинар 1"
    assert "widget-state" not in out.read_text(encoding="utf-8")


def test_ids_are_unique_deterministic_and_the_rerun_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = two_inputs(tmp_path)
    first, second = tmp_path / "1.ipynb", tmp_path / "2.ipynb"
    assert call_main(main, a, b, "-o", first) == 0
    assert call_main(main, a, b, "-o", second) == 0
    assert first.read_bytes() == second.read_bytes()
    ids = [cell.id for cell in read(first).cells]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[0-9a-f]{12}(-\d+)?", i) for i in ids)
    stamp = first.stat().st_mtime_ns
    capsys.readouterr()
    assert call_main(main, a, b, "-o", first) == 0
    assert first.stat().st_mtime_ns == stamp and "unchanged" in capsys.readouterr().out


def test_mixed_versions_v3_40_45_and_duplicate_ids(tmp_path: Path) -> None:
    old = write_json(tmp_path / "old.ipynb", v3_notebook("Очень старый", ["print(1)", "print(2)"]))
    mid = write_json(tmp_path / "mid.ipynb", notebook([code("print(1)"), code("print(1)")], minor=0))
    new = notebook([code("print(1)", id="dup"), code("print(3)", id="dup")], minor=5)
    new_path = write_json(tmp_path / "new.ipynb", new)
    out = tmp_path / "out.ipynb"
    assert call_main(main, old, mid, new_path, "-o", out) == 0
    nb = read(out)
    assert [cell.source for cell in nb.cells if cell.cell_type == "code"] == ["print(1)", "print(2)", "print(1)", "print(1)", "print(1)", "print(3)"]
    assert nb.cells[0].source.startswith("# Часть I. Очень старый")
    assert nb.cells[4].source.startswith("# Часть II. mid")  # no heading: the file name
    assert nb.cells[7].source.startswith("# Часть III. new")
    assert len({cell.id for cell in nb.cells}) == len(nb.cells)


def test_inputs_in_different_kernel_languages_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = two_inputs(tmp_path)
    r_nb = write_json(tmp_path / "r.ipynb", notebook([code("x <- 1")], language="R"))
    out = tmp_path / "out.ipynb"
    assert call_main(main, a, r_nb, "-o", out) == 2
    err = capsys.readouterr().err
    assert_one_line_error(err, r_nb)
    assert "'r'" in err and "'python'" in err
    assert not out.exists()


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
@pytest.mark.parametrize("position", [0, 1])
def test_bad_input_exits_2_and_touches_nothing(kind: str, position: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = two_inputs(tmp_path)
    bad = write_bad(tmp_path / "bad.ipynb", kind)
    inputs = [a, b]
    inputs[position] = bad
    out = tmp_path / "out.ipynb"
    out.write_text("previous result\n", encoding="utf-8")
    before = snapshot([a, b, bad, out])
    assert call_main(main, *inputs, "-o", out) == 2
    assert_one_line_error(capsys.readouterr().err, bad)
    assert snapshot([a, b, bad, out]) == before


def test_a_schema_invalid_input_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = two_inputs(tmp_path)
    broken = notebook([code("x = 1")])
    del broken["cells"][0]["outputs"]
    bad = write_json(tmp_path / "broken.ipynb", broken)
    assert call_main(main, a, bad, "-o", tmp_path / "out.ipynb") == 2
    assert_one_line_error(capsys.readouterr().err, bad)
    assert not (tmp_path / "out.ipynb").exists()


def test_one_input_is_a_usage_error(tmp_path: Path) -> None:
    a, _ = two_inputs(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main([str(a), "-o", str(tmp_path / "out.ipynb")])
    assert exit_info.value.code == 2


def test_roman_numerals() -> None:
    assert [roman(n) for n in (1, 2, 3, 4, 9, 14, 40, 1999)] == ["I", "II", "III", "IV", "IX", "XIV", "XL", "MCMXCIX"]


def test_archive_merge_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "merged.ipynb"
    result = run_tool("merge_notebooks.py", *ARCHIVE, "-o", out, "--title", "Архив")
    assert result.returncode == 0, result.stderr
    merged = read(out)
    parts = [json.loads(path.read_text(encoding="utf-8")) for path in ARCHIVE]
    expected = ["# Архив"]
    for part in parts:
        expected.append(None)  # the part heading
        expected.extend("".join(cell["source"]) for cell in part["cells"])
    assert len(merged.cells) == len(expected)
    for cell, source in zip(merged.cells, expected, strict=True):
        if source is not None:
            assert cell.source == source
    headings = [cell.source for cell in merged.cells if cell.source.startswith("# Часть ")]
    assert [h.split(".")[0] for h in headings] == ["# Часть I", "# Часть II"]
    assert "widgets" not in merged.metadata
    assert sum(len(cell.get("outputs", [])) for cell in merged.cells) == sum(
        len(cell.get("outputs", [])) for part in parts for cell in part["cells"])
