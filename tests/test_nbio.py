"""Tests of the shared notebook I/O every tool writes through: ``seminars/nbio.py`` and ``seminars/cell_ids.py``.

The right values come from nbformat's 4.5 schema (``definitions/cell_id``: 1-64 characters of
``[a-zA-Z0-9-_]``, unique within a notebook; 4.0-4.4 cells allow no ``id`` key) and from
``nbformat.validate`` itself, which every written notebook must pass without being changed.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "seminars"))

import cell_ids  # noqa: E402
import rebuild_notebook  # noqa: E402
from nbio import (  # noqa: E402
    NotebookError,
    ensure_valid,
    kernel_language,
    parse_notebook,
    read_notebook,
    require_python,
    terminal_safe,
    validate,
    write_notebook,
)


def notebook(*ids: object, minor: int = 5, metadata: dict | None = None) -> nbformat.NotebookNode:
    """A notebook with one code cell per entry of ``ids`` (``...`` = no ``id`` key at all)."""
    cells = []
    for number, cell_id in enumerate(ids):
        cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": f"x = {number}"}
        if cell_id is not ...:
            cell["id"] = cell_id
        cells.append(cell)
    return nbformat.from_dict({"cells": cells, "metadata": metadata or {}, "nbformat": 4, "nbformat_minor": minor})


def schema_valid(nb: nbformat.NotebookNode) -> bool:
    """nbformat's own verdict, on a copy (nbformat.validate 'repairs' ids in place)."""
    return nbformat.validate(copy.deepcopy(nb)) is None and len({c["id"] for c in nb.cells}) == len(nb.cells)


@pytest.mark.parametrize(
    ("ids", "kept"),
    [
        (("a", "a", "b"), {0: "a", 2: "b"}),  # a copy-pasted cell: the first holder keeps the id
        ((..., ..., "x"), {2: "x"}),  # a 4.5 notebook whose editor wrote no ids
        (("", "bad id!", "y" * 65, 7), {}),  # empty, wrong characters, too long, not a string
        (("ok", "a-b_C9", "ok"), {0: "ok", 1: "a-b_C9"}),
    ],
)
def test_ids_are_repaired_valid_unique_and_deterministic(ids: tuple, kept: dict[int, str]) -> None:
    first, second = notebook(*ids), notebook(*ids)
    cell_ids.ensure_cell_ids(first)
    cell_ids.ensure_cell_ids(second)
    assert [c.id for c in first.cells] == [c.id for c in second.cells], "same input, same ids"
    assert schema_valid(first)
    assert all(cell_ids.VALID_ID.match(c.id) for c in first.cells)
    for index, value in kept.items():
        assert first.cells[index].id == value


def test_repaired_id_never_collides_with_a_kept_one() -> None:
    nb = notebook("a", "a")
    nb.cells[1].source = nb.cells[0].source = "same"
    digest = cell_ids.cell_id("code", "same", {})
    nb.cells[0].id = digest  # the id the repair would derive for cell 1 is already taken
    cell_ids.ensure_cell_ids(nb)
    assert nb.cells[0].id == digest and nb.cells[1].id != digest and schema_valid(nb)


def test_cell_id_is_one_scheme_for_every_tool() -> None:
    """The rebuild tool derives ids with the very function the repair path uses (no second copy)."""
    assert rebuild_notebook.cell_id is cell_ids.cell_id
    seen: dict[str, int] = {}
    ids = [cell_ids.cell_id("code", "x = 1", seen) for _ in range(3)]
    assert ids[1] == ids[0] + "-2" and ids[2] == ids[0] + "-3" and len(ids[0]) == 12


def test_v44_with_ids_is_upgraded_to_45_and_v44_without_ids_is_kept() -> None:
    with_ids = notebook("a", "a", minor=4)
    with pytest.raises(nbformat.ValidationError):
        nbformat.validate(copy.deepcopy(with_ids))  # the schema forbids ids before 4.5
    ensure_valid(with_ids, "nb.ipynb")
    assert with_ids.nbformat_minor == 5 and schema_valid(with_ids)
    without = notebook(..., ..., minor=4)
    ensure_valid(without, "nb.ipynb")
    assert without.nbformat_minor == 4 and all("id" not in c for c in without.cells)


def test_validate_does_not_change_the_notebook_and_names_the_fault() -> None:
    nb = notebook("a", "a", ...)
    before = copy.deepcopy(nb)
    validate(nb, "nb.ipynb")  # id faults of an input are left to the write path
    assert nb == before, "nbformat.validate would have replaced the ids with random ones"
    assert cell_ids.id_problem(nb) == "cells 0 and 1 share the id 'a'"
    assert cell_ids.id_problem(notebook("a", ...)) == "cell 1 has no id (nbformat 4.5 requires one)"
    assert cell_ids.id_problem(notebook("a", minor=4)).startswith("cell 0 has an id, which nbformat 4.4 does not allow")
    bad = notebook("a", metadata={"kernelspec": "python3"})
    with pytest.raises(NotebookError, match=r"'python3' is not of type 'object' \(at metadata/kernelspec\)$"):
        validate(bad, "nb.ipynb")


def test_v3_notebooks_read_with_deterministic_ids(tmp_path: Path) -> None:
    v3 = {
        "metadata": {"name": "old"},
        "nbformat": 3,
        "nbformat_minor": 0,
        "worksheets": [{"cells": [{"cell_type": "code", "input": "x = 1", "language": "python", "outputs": []}]}],
    }
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(v3), encoding="utf-8")
    first, second = read_notebook(path), read_notebook(path)
    assert first.cells[0].id == second.cells[0].id == cell_ids.cell_id("code", "x = 1", {})


def test_write_notebook_repairs_ids_and_refuses_invalid_without_writing(tmp_path: Path) -> None:
    target = tmp_path / "out.ipynb"
    assert write_notebook(notebook("1", "1", ...), target)
    written = nbformat.read(target, as_version=4)
    assert schema_valid(written) and written.cells[0].id == "1"
    assert not write_notebook(notebook("1", "1", ...), target), "the second identical write changes nothing"
    bad = notebook("a", metadata={"language_info": ["python"]})
    with pytest.raises(NotebookError, match=r"^.*out2\.ipynb: invalid notebook: .* \(at metadata/language_info\)$"):
        write_notebook(bad, tmp_path / "out2.ipynb")
    assert not (tmp_path / "out2.ipynb").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.ipynb"], "no temporary file is left behind"


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"kernelspec": "python3"}, r"'metadata\.kernelspec' is str 'python3', expected an object"),
        ({"language_info": ["python"]}, r"'metadata\.language_info' is list"),
        ({"kernelspec": {"name": "x", "display_name": "x", "language": 3}}, r"'metadata\.kernelspec\.language' is int"),
        ({"language_info": {"name": None, "x": 1}, "kernelspec": 0}, r"'metadata\.kernelspec' is int"),
    ],
)
def test_malformed_metadata_is_one_line_error(metadata: dict, message: str) -> None:
    with pytest.raises(NotebookError, match=rf"^nb\.ipynb: malformed metadata: {message}") as info:
        kernel_language(nbformat.from_dict({"cells": [], "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}), "nb.ipynb")
    assert "\n" not in str(info.value)


def test_kernel_language_and_python_check() -> None:
    def nb(metadata: dict) -> nbformat.NotebookNode:
        return nbformat.from_dict({"cells": [], "metadata": metadata, "nbformat": 4, "nbformat_minor": 5})

    assert kernel_language(nb({}), "p") == "python"
    assert kernel_language(nb({"language_info": {"name": "Python"}}), "p") == "python"
    assert kernel_language(nb({"kernelspec": {"name": "ir", "display_name": "R", "language": "R"}}), "p") == "r"
    require_python(nb({"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}), "p")
    with pytest.raises(NotebookError, match=r"^p: kernel language is 'julia', not Python"):
        require_python(nb({"language_info": {"name": "julia"}}), "p")


def test_terminal_safe_strips_escapes_and_control_characters() -> None:
    coloured = "\x1b[0;31mValueError\x1b[0m: \x1b]0;title\x07bad\x1b[2K\x1b(B\x07\x00 end\r\n"
    assert terminal_safe(coloured) == "ValueError: bad end\n"
    error = NotebookError("\x1b[31mnb.ipynb", "line one\nline\x1b[1m two")
    assert str(error) == "nb.ipynb: line one line two"


def test_parse_notebook_rejects_wrong_shapes_with_one_line() -> None:
    with pytest.raises(NotebookError, match=r"^nb: not valid JSON"):
        parse_notebook("{", "nb")
    with pytest.raises(NotebookError, match=r"^nb: unsupported nbformat version 5"):
        parse_notebook(json.dumps({"cells": [], "nbformat": 5}), "nb")
    with pytest.raises(NotebookError, match=r"^nb: malformed metadata: 'metadata' is list, expected an object$"):
        parse_notebook(json.dumps({"cells": [], "metadata": [], "nbformat": 4, "nbformat_minor": 5}), "nb")
    cell = {"cell_type": "code", "metadata": "x", "outputs": [], "source": ""}
    with pytest.raises(NotebookError, match=r"^nb: malformed metadata: cell 0 'metadata' is str, expected an object$"):
        parse_notebook(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), "nb")
    v3 = {"metadata": {}, "nbformat": 3, "nbformat_minor": 0, "worksheets": [{"cells": [{"cell_type": "code", "metadata": []}]}]}
    with pytest.raises(NotebookError, match=r"^nb: malformed metadata: cell 0 'metadata' is list"):
        parse_notebook(json.dumps(v3), "nb")
