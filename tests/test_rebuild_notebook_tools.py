"""rebuild_notebook.py on the migration tools' real inputs: the 2018-style archive notebooks.

(The tool's own tests are in test_rebuild_notebook.py; these check it on Colab 4.0 / Jupyter
4.2 files with outputs and state-less widget metadata, as `make migrate` feeds it.)
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "seminars"))

from migration_helpers import (
    ARCHIVE,
    MALFORMED_METADATA,
    assert_one_line_error,
    call_main,
    write_json,
)
from nbio import dumps
from rebuild_notebook import main, rebuild


@pytest.mark.parametrize("path", ARCHIVE, ids=[p.name for p in ARCHIVE])
def test_archive_notebook_normalizes_to_a_clean_45_notebook(path: Path, tmp_path: Path) -> None:
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    original = json.loads(path.read_text(encoding="utf-8"))
    assert call_main(main, copy) == 0
    nb = nbformat.reads(copy.read_text(encoding="utf-8"), as_version=4)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5)
    assert set(nb.metadata) == {"kernelspec", "language_info"}
    assert [cell.source for cell in nb.cells] == ["".join(cell["source"]) for cell in original["cells"]]
    assert all(not cell.get("outputs") and not cell.metadata for cell in nb.cells)
    assert len({cell.id for cell in nb.cells}) == len(nb.cells)
    first = copy.read_bytes()
    assert call_main(main, copy) == 0
    assert copy.read_bytes() == first
    assert dumps(rebuild(path)) == first.decode("utf-8")  # same bytes straight from the archive


# ---- every migration tool on notebooks whose metadata has the wrong type -----------------


@pytest.mark.parametrize("case", sorted(MALFORMED_METADATA))
@pytest.mark.parametrize("tool", ["rebuild_notebook", "modernize_code", "merge_notebooks", "rm_widgets"])
def test_malformed_metadata_gets_one_line_and_exit_2_in_every_tool(
    tool: str, case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import merge_notebooks
    import modernize_code
    import rebuild_notebook
    import rm_widgets

    path = write_json(tmp_path / f"{case}.ipynb", MALFORMED_METADATA[case])
    out = tmp_path / "out.ipynb"
    args = {"rebuild_notebook": [path, "-o", out], "modernize_code": [path, "-o", out],
            "merge_notebooks": [path, path, "-o", out], "rm_widgets": [path]}[tool]
    main = {"rebuild_notebook": rebuild_notebook, "modernize_code": modernize_code,
            "merge_notebooks": merge_notebooks, "rm_widgets": rm_widgets}[tool].main
    before = path.read_bytes()
    status = call_main(main, *args)  # an unexpected exception fails this test with its traceback
    captured = capsys.readouterr()
    written = path if tool == "rm_widgets" else out  # rm_widgets works in place
    if status == 0:  # normalised instead: the result is a valid notebook
        assert tool == "rm_widgets" or path.read_bytes() == before
        nbformat.validate(nbformat.reads(written.read_text(encoding="utf-8"), as_version=4))
        assert case in NORMALISED_BY.get(tool, ()), f"{tool} accepted {case}"
    else:
        assert status == 2 and not out.exists() and path.read_bytes() == before
        assert_one_line_error(captured.err, path)


#: Malformed inputs a tool may repair instead of refusing: the normaliser rebuilds the kernelspec,
#: and stray widget state is exactly what rm_widgets (and the normaliser) remove.
NORMALISED_BY = {
    "rebuild_notebook": ("kernelspec-without-name", "widgets-is-a-string"),
    "modernize_code": ("widgets-is-a-string",),
    "merge_notebooks": ("widgets-is-a-string",),
    "rm_widgets": ("widgets-is-a-string",),
}
