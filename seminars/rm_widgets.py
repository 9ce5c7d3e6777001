"""Remove saved widget state (``metadata.widgets``) from notebooks.

Some front ends (Colab, older Jupyter) save ``metadata.widgets`` without its ``state`` key;
``jupyter nbconvert --to html`` then fails with ``KeyError: 'state'`` and GitHub shows
"the 'state' key is missing from 'metadata.widgets'" instead of the notebook. Saved widget
state is also useless in a repository. This tool removes it, through nbformat (read,
validate, atomic write), never through ``jq ... | sponge``, which empties the notebook when
``jq`` fails.

Without notebook arguments it processes every ``*.ipynb`` under ``seminars/`` except
``.ipynb_checkpoints`` and the archive notebooks ``old_*.ipynb``: those keep their widget
state on purpose, because they are the legacy inputs of the migration tools (name them
explicitly, or pass ``--include-archive``, to process them too).

Usage::

    bash seminars/rm_widgets.sh [--check] [NB.ipynb ...]
    python seminars/rm_widgets.py [--check] [--include-archive] [--root DIR] [NB.ipynb ...]

``--check`` changes nothing and exits 1 when a notebook still has widget state. Every
notebook is read and validated (without its widget state) before any is written, so one bad
input (missing, not JSON, not a notebook, metadata of the wrong type, schema-invalid: exit 2,
one line naming the file) leaves every file as it was. A notebook
without widget state is never rewritten, so a second run changes no byte.
"""

from __future__ import annotations

import argparse
import copy
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from nbformat import NotebookNode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cell_ids import ensure_cell_ids, source_major_version  # noqa: E402
from nbio import (  # noqa: E402
    EXIT_CHECK_FAILED,
    EXIT_OK,
    check_field_types,
    parse_notebook,
    read_text,
    run_cli,
    validate,
    write_notebook,
)

DEFAULT_ROOT = Path(__file__).resolve().parent
ARCHIVE_PATTERN = "old_*.ipynb"


def default_notebooks(root: Path, include_archive: bool = False) -> list[Path]:
    """Return the notebooks under ``root`` that the tool processes when none are named."""
    found = []
    for path in sorted(root.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts or not path.is_file():
            continue
        if not include_archive and path.match(ARCHIVE_PATTERN):
            continue
        found.append(path)
    return found


def strip_widgets(nb: NotebookNode) -> bool:
    """Remove ``metadata.widgets`` from ``nb`` in place; return True when there was any."""
    metadata = nb.get("metadata")
    if isinstance(metadata, dict) and "widgets" in metadata:
        del metadata["widgets"]
        return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to clean (default: all under --root)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if any notebook has widget state")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="folder searched when no notebook is named (default: seminars/)")
    parser.add_argument("--include-archive", action="store_true", help=f"with no notebooks named, also process {ARCHIVE_PATTERN}")
    args = parser.parse_args(argv)
    paths: list[Path] = args.notebooks or default_notebooks(args.root, args.include_archive)

    # Read and validate everything before writing anything.
    planned: list[tuple[Path, NotebookNode]] = []
    for path in paths:
        text = read_text(path)
        nb = check_field_types(parse_notebook(text, path), path)
        stripped = strip_widgets(nb)
        if stripped:
            ensure_cell_ids(nb, regenerate=source_major_version(text) == 3)
        with warnings.catch_warnings():  # every notebook, written or not: a bad one is reported, never passed over
            warnings.simplefilter("ignore")
            validate(copy.deepcopy(nb), path)
        if stripped:
            planned.append((path, nb))

    if args.check:
        for path, _ in planned:
            print(f"{path}: has widget state in metadata.widgets; remove it with: bash seminars/rm_widgets.sh {path}", file=sys.stderr)
        if planned:
            return EXIT_CHECK_FAILED
        print(f"no widget state in {len(paths)} notebook(s)")
        return EXIT_OK
    for path, nb in planned:
        write_notebook(nb, path)
        print(f"removed widget state from {path}")
    print(f"{len(planned)} of {len(paths)} notebook(s) cleaned")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(run_cli(main))
