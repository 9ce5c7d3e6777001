"""Tests of ``seminars/rebuild_notebook.py`` and the shared I/O in ``seminars/nbio.py``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "seminars" / "rebuild_notebook.py"
sys.path.insert(0, str(ROOT / "seminars"))

import rebuild_notebook  # noqa: E402
from nbio import dumps  # noqa: E402

SOURCE = """\
# %% [markdown]
# # Заголовок
#
# Текст.

# %%
x = 1
print(x)

# %% tags=["keep"]
y = x + 1

# %%
x = 1
print(x)
"""


def run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the tool as a user would."""
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120)


def legacy_v4(minor: int, with_ids: bool = False) -> dict:
    """A notebook as old front ends saved it: outputs, counts, clutter, widget state without 'state'."""
    cells = [
        {"cell_type": "markdown", "metadata": {"colab_type": "text", "id": "abc"}, "source": ["# Старый\n", "ноутбук"]},
        {
            "cell_type": "code",
            "execution_count": 7,
            "metadata": {"collapsed": False, "ExecuteTime": {"end_time": "2019-01-01"}, "tags": []},
            "outputs": [{"name": "stdout", "output_type": "stream", "text": ["1\n"]}],
            "source": ["print(1)"],
        },
        {"cell_type": "code", "execution_count": 8, "metadata": {}, "outputs": [], "source": "print(1)"},
    ]
    if with_ids:
        for cell in cells:
            cell["id"] = "same"
    return {
        "cells": cells,
        "metadata": {
            "colab": {"name": "old.ipynb"},
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python", "version": "3.6.7"},
            "widgets": {"application/vnd.jupyter.widget-state+json": {"version_major": 2}},
        },
        "nbformat": 4,
        "nbformat_minor": minor,
    }


V3 = {
    "metadata": {"name": "old"},
    "nbformat": 3,
    "nbformat_minor": 0,
    "worksheets": [
        {
            "cells": [
                {"cell_type": "heading", "level": 1, "metadata": {}, "source": ["Заголовок"]},
                {
                    "cell_type": "code",
                    "collapsed": False,
                    "input": ["a = 2\n", "a"],
                    "language": "python",
                    "metadata": {},
                    "outputs": [{"metadata": {}, "output_type": "pyout", "prompt_number": 1, "text": ["2"]}],
                    "prompt_number": 1,
                },
            ],
            "metadata": {},
        }
    ],
}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "lesson.py"
    path.write_text(SOURCE, encoding="utf-8")
    return path


def assert_normalized(path: Path) -> dict:
    """The file is a valid 4.5 notebook with unique ids and nothing but sources and kept metadata."""
    data = json.loads(path.read_text(encoding="utf-8"))
    nbformat.validate(data)
    assert (data["nbformat"], data["nbformat_minor"]) == (4, 5)
    ids = [c["id"] for c in data["cells"]]
    assert len(set(ids)) == len(ids)
    assert data["metadata"]["kernelspec"]["name"] == "python3"
    assert "widgets" not in data["metadata"] and "colab" not in data["metadata"] and "jupytext" not in data["metadata"]
    assert "version" not in data["metadata"]["language_info"]
    for cell in data["cells"]:
        assert set(cell["metadata"]) <= set(rebuild_notebook.KEPT_CELL_METADATA)
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    return data


# ---- source -> notebook -----------------------------------------------------------------


def test_source_rebuild_is_deterministic_and_normalized(source: Path) -> None:
    assert run(source).returncode == 0
    target = source.with_suffix(".ipynb")
    first = target.read_bytes()
    data = assert_normalized(target)
    assert [c["cell_type"] for c in data["cells"]] == ["markdown", "code", "code", "code"]
    assert data["cells"][2]["metadata"] == {"tags": ["keep"]}
    # identical cells get distinct, still deterministic ids
    assert data["cells"][1]["id"] != data["cells"][3]["id"]
    assert data["cells"][3]["id"].startswith(data["cells"][1]["id"])
    result = run(source)
    assert result.returncode == 0 and "unchanged" in result.stdout
    assert target.read_bytes() == first
    # ids depend on content only: a rebuild into another file gives the same bytes
    assert run(source, "-o", source.parent / "copy.ipynb").returncode == 0
    assert (source.parent / "copy.ipynb").read_bytes() == first


def test_editing_one_cell_changes_only_its_id(source: Path) -> None:
    before = rebuild_notebook.rebuild(source)
    source.write_text(SOURCE.replace("y = x + 1", "y = x + 2"), encoding="utf-8")
    after = rebuild_notebook.rebuild(source)
    changed = [a.id != b.id for a, b in zip(before.cells, after.cells, strict=True)]
    assert changed == [False, False, True, False]


def test_check_detects_stale_and_fresh(source: Path) -> None:
    target = source.with_suffix(".ipynb")
    missing = run("--check", source)
    assert missing.returncode == 1 and str(target) in missing.stderr
    run(source)
    assert run("--check", source).returncode == 0
    source.write_text(SOURCE + "\n# %%\nz = 3\n", encoding="utf-8")
    stale = run("--check", source)
    assert stale.returncode == 1
    assert stale.stderr.count("\n") == 1 and "stale" in stale.stderr and "rebuild_notebook.py" in stale.stderr
    # --check changes nothing
    assert "z = 3" not in target.read_text(encoding="utf-8")


def test_committed_seminar_passes_check() -> None:
    result = run("--check")
    assert result.returncode == 0, result.stderr


# ---- normalising existing notebooks --------------------------------------------------------


@pytest.mark.parametrize("notebook", [legacy_v4(0), legacy_v4(4), legacy_v4(5, with_ids=True), V3], ids=["4.0", "4.4", "4.5-duplicate-ids", "v3"])
def test_normalizes_legacy_notebooks_in_place(tmp_path: Path, notebook: dict) -> None:
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    result = run(path)
    assert result.returncode == 0, result.stderr
    data = assert_normalized(path)
    sources = ["".join(c["source"]) for c in data["cells"]]
    assert any("print(1)" in s or "a = 2" in s for s in sources)
    first = path.read_bytes()
    assert run(path).returncode == 0
    assert path.read_bytes() == first, "a second run must change nothing"
    assert run("--check", path).returncode == 0


def test_normalize_keeps_sources_and_writes_to_output(tmp_path: Path) -> None:
    path = tmp_path / "old.ipynb"
    original = json.dumps(legacy_v4(4))
    path.write_text(original, encoding="utf-8")
    out = tmp_path / "sub" / "new.ipynb"
    assert run(path, "-o", out).returncode == 0
    assert path.read_text(encoding="utf-8") == original, "-o must leave the input alone"
    data = assert_normalized(out)
    assert ["".join(c["source"]) for c in data["cells"]] == ["# Старый\nноутбук", "print(1)", "print(1)"]


def test_non_python_kernel_keeps_its_kernelspec() -> None:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "ir", "language": "R", "display_name": "R"}})
    normalized = rebuild_notebook.normalize(nb)
    assert normalized.metadata["kernelspec"]["name"] == "ir"
    assert normalized.metadata["language_info"] == {"name": "r"}


def test_serialization_is_stable_text() -> None:
    nb = rebuild_notebook.normalize(nbformat.from_dict(legacy_v4(4)))
    text = dumps(nb)
    assert text.endswith("}\n") and "\r" not in text
    assert "Старый" in text, "non-ASCII text is kept readable, not escaped"


# ---- bad input: exit 2, one line naming the file, input unchanged ---------------------------


BAD_INPUTS = {
    "not-json.ipynb": "{ this is not json",
    "list.ipynb": "[1, 2, 3]",
    "not-notebook.ipynb": '{"hello": "world"}',
    "version.ipynb": '{"nbformat": 9, "nbformat_minor": 0, "cells": [], "metadata": {}}',
    "bad-cell.ipynb": '{"nbformat": 4, "nbformat_minor": 4, "cells": [{"source": "x"}], "metadata": {}}',
    "no-markers.py": "print('a plain script, not a py:percent source')\n",
    "latin1.py": b"# %%\nx = '\xe9'\n",
    "notes.txt": "# %%\n",
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_changes_nothing(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    content = BAD_INPUTS[name]
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run(path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(str(path)), result.stderr
    assert "Traceback" not in result.stderr
    assert path.read_bytes() == (content if isinstance(content, bytes) else content.encode())
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "no output and no temp file left behind"


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = run(tmp_path / "nope.ipynb")
    assert result.returncode == 2
    assert result.stderr.strip() == f"{tmp_path / 'nope.ipynb'}: no such file"


def test_one_bad_input_among_several_writes_nothing(tmp_path: Path) -> None:
    good = tmp_path / "good.ipynb"
    original = json.dumps(legacy_v4(4))
    good.write_text(original, encoding="utf-8")
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{", encoding="utf-8")
    result = run(good, bad)
    assert result.returncode == 2
    assert good.read_text(encoding="utf-8") == original


# ---- what a rebuild from the source must not drop: attachments -------------------------

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
ATTACHED_SOURCE = "# %% [markdown]\n# # Схема\n#\n# ![схема](attachment:diagram.png)\n\n# %%\nx = 1\n"


def paired_with_attachment(tmp_path: Path, *, attachments: dict | None = None, extra_cells: list | None = None) -> tuple[Path, Path]:
    """A py:percent source whose Markdown cell shows an image, and its paired .ipynb holding the image."""
    source = tmp_path / "paired.py"
    source.write_text(ATTACHED_SOURCE, encoding="utf-8")
    nb = rebuild_notebook.notebook_from_source(ATTACHED_SOURCE, source)
    nb.cells[0]["attachments"] = attachments if attachments is not None else {
        "diagram.png": {"image/png": PNG}, "unused.png": {"image/png": PNG}}
    nb.cells.extend(nbformat.from_dict(cell) for cell in extra_cells or [])
    target = tmp_path / "paired.ipynb"
    target.write_text(dumps(nb), encoding="utf-8")
    return source, target


def test_rebuild_keeps_the_attachments_the_markdown_references(tmp_path: Path) -> None:
    source, target = paired_with_attachment(tmp_path)
    result = run(source)
    assert result.returncode == 0, result.stderr
    data = json.loads(target.read_text(encoding="utf-8"))
    nbformat.validate(data)
    # the referenced image is kept byte for byte; the one nothing references is dropped, as Jupyter does on save
    assert data["cells"][0]["attachments"] == {"diagram.png": {"image/png": PNG}}
    assert run("--check", source).returncode == 0
    written = target.read_bytes()
    assert run(source).returncode == 0 and target.read_bytes() == written


def test_an_edited_cell_finds_its_attachment_by_name(tmp_path: Path) -> None:
    source, target = paired_with_attachment(tmp_path)
    source.write_text(ATTACHED_SOURCE.replace("# # Схема", "# # Схема сети"), encoding="utf-8")
    assert run(source).returncode == 0
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["cells"][0]["source"][0] == "# Схема сети\n"
    assert data["cells"][0]["attachments"] == {"diagram.png": {"image/png": PNG}}


@pytest.mark.parametrize("situation", ["no-such-attachment", "no-paired-notebook", "two-different-images"])
def test_a_reference_that_cannot_be_kept_is_refused_and_nothing_changes(tmp_path: Path, situation: str) -> None:
    other = {"cell_type": "markdown", "id": "other", "metadata": {}, "source": "![x](attachment:diagram.png)",
             "attachments": {"diagram.png": {"image/png": PNG[:-8] + "AAAAAA=="}}}
    source, target = paired_with_attachment(
        tmp_path,
        attachments={} if situation == "no-such-attachment" else None,
        extra_cells=[other] if situation == "two-different-images" else None,
    )
    if situation == "two-different-images":  # the source's cell text no longer matches either cell exactly
        source.write_text(ATTACHED_SOURCE.replace("# # Схема", "# # Новая схема"), encoding="utf-8")
    if situation == "no-paired-notebook":
        target.unlink()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = run(source)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"{source}: ") and "attachment:diagram.png" in result.stderr
    assert "Traceback" not in result.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_cell_metadata_lives_in_the_source_and_survives(source: Path) -> None:
    nb = rebuild_notebook.rebuild(source)
    assert [cell.metadata.get("tags") for cell in nb.cells] == [None, None, ["keep"], None]


# ---- text encodings of the source ------------------------------------------------------


@pytest.mark.parametrize(("name", "encode"), [
    ("bom", lambda text: b"\xef\xbb\xbf" + text.encode()),
    ("crlf", lambda text: text.replace("\n", "\r\n").encode()),
    ("bom-crlf", lambda text: b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()),
])
def test_bom_and_crlf_sources_give_the_same_notebook(tmp_path: Path, name: str, encode) -> None:
    plain = tmp_path / "plain.py"
    plain.write_text(SOURCE, encoding="utf-8")
    odd = tmp_path / f"{name}.py"
    odd.write_bytes(encode(SOURCE))
    nb = rebuild_notebook.rebuild(odd)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# Заголовок")
    assert "\ufeff" not in dumps(nb) and "\r" not in dumps(nb)
    assert dumps(nb) == dumps(rebuild_notebook.rebuild(plain))


def test_a_bom_before_notebook_json_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bom.ipynb"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(legacy_v4(4)).encode())
    assert run(path).returncode == 0
    assert_normalized(path)


def test_a_rebuild_to_a_new_output_takes_attachments_from_the_paired_sibling(tmp_path: Path) -> None:
    source, target = paired_with_attachment(tmp_path)
    out = tmp_path / "elsewhere" / "copy.ipynb"
    assert run(source, "-o", out).returncode == 0
    assert json.loads(out.read_text(encoding="utf-8"))["cells"][0]["attachments"] == {"diagram.png": {"image/png": PNG}}
