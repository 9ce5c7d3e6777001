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

from migration_helpers import ARCHIVE, call_main
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
