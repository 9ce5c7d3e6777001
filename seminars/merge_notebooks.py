"""Merge several Jupyter notebooks into one valid nbformat 4.5 notebook.

Every cell of every input is kept, in order and unchanged (source, outputs, execution count,
cell metadata, attachments). Before each input's cells comes a Markdown part heading
(``# Часть I. <title of that input>`` plus the input's file name); ``--title`` adds a title
cell at the very top. The result has:

* unique, deterministic cell ids derived from the cells' content (the same inputs always
  give the same bytes, so a second run changes nothing);
* explicit notebook metadata: one kernelspec and one ``language_info`` (the standard
  ``python3`` ones for Python notebooks), plus ``title`` when ``--title`` is given; widget
  state, Colab, jupytext and other front-end metadata of the inputs are dropped.

Inputs may mix nbformat versions (v3 and 4.0-4.5). Inputs whose kernels declare different
languages are refused (exit 2), as are missing files, invalid JSON and JSON that is not a
notebook; nothing is written then.

Usage::

    python seminars/merge_notebooks.py A.ipynb B.ipynb [C.ipynb ...] -o OUT.ipynb [--title "..."]

Exit codes: 0 ok, 2 bad input (one line on stderr naming the file).
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbformat import NotebookNode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbio import (  # noqa: E402
    EXIT_OK,
    NotebookError,
    check_field_types,
    read_notebook,
    run_cli,
    validate,
    write_notebook,
)
from rebuild_notebook import _language, cell_id, normalize_metadata  # noqa: E402

#: Template of the Markdown cell put before each input's cells (the notebooks are Russian).
PART_HEADING = "# Часть {number}. {title}\n\n*Источник: `{name}`*"
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_ROMAN = ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
          (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))


def roman(number: int) -> str:
    """Return ``number`` (1-3999) in Roman numerals, as the seminar numbers its parts."""
    if not 0 < number < 4000:
        raise ValueError(f"cannot write {number} in Roman numerals")
    digits = []
    for value, letters in _ROMAN:
        count, number = divmod(number, value)
        digits.append(letters * count)
    return "".join(digits)


def notebook_title(nb: NotebookNode, fallback: str) -> str:
    """Return a notebook's title: its first Markdown heading, else ``metadata.title``, else ``fallback``."""
    for cell in nb.cells:
        if cell.get("cell_type") != "markdown":
            continue
        for line in str(cell.get("source", "")).splitlines():
            match = _HEADING.match(line)
            if match:
                return match.group(2).strip()
    title = nb.get("metadata", {}).get("title")
    return str(title).strip() if title else fallback


def validate_input(nb: NotebookNode, path: str | Path) -> None:
    """Validate an input against its own nbformat schema, without modifying it.

    nbformat fills missing 4.5 cell ids while validating (with a warning); a copy is
    validated so the input stays as read, and the warning is silenced: merge assigns new
    ids anyway.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        validate(copy.deepcopy(nb), path)


def check_languages(named: Sequence[tuple[str, NotebookNode]]) -> str:
    """Return the kernel language shared by all notebooks; raise if two of them differ."""
    first_name, first = named[0]
    language = _language(first.get("metadata", {}))
    for name, nb in named[1:]:
        other = _language(nb.get("metadata", {}))
        if other != language:
            raise NotebookError(name, f"kernel language {other!r} differs from {language!r} of {first_name}; refusing to merge")
    return language


def merge(named: Sequence[tuple[str, NotebookNode]], title: str | None = None) -> NotebookNode:
    """Merge ``(name, notebook)`` pairs (v4 nodes, any minor version) into one 4.5 notebook.

    ``name`` is the input's path: its file name appears in the part heading and in errors.
    The inputs are not modified.
    """
    if not named:
        raise ValueError("merge() needs at least one notebook")
    check_languages(named)
    cells: list[NotebookNode] = []
    if title:
        cells.append(nbformat.v4.new_markdown_cell(f"# {title}"))
    for number, (name, nb) in enumerate(named, start=1):
        stem = Path(name).stem
        heading = PART_HEADING.format(number=roman(number), title=notebook_title(nb, stem), name=Path(name).name)
        cells.append(nbformat.v4.new_markdown_cell(heading))
        for cell in nb.cells:
            new = copy.deepcopy(cell)
            source = new.get("source", "")
            new["source"] = "".join(source) if isinstance(source, list) else source
            cells.append(new)
    seen: dict[str, int] = {}
    for cell in cells:
        cell["id"] = cell_id(cell["cell_type"], cell["source"], seen)
    explicit = normalize_metadata(named[0][1].get("metadata", {}))
    metadata = {"kernelspec": explicit["kernelspec"], "language_info": explicit["language_info"]}
    if title:
        metadata["title"] = title
    return nbformat.from_dict({"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5})


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", type=Path, help="notebooks to merge, in order (at least two)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="merged notebook to write")
    parser.add_argument("--title", help="title of the merged notebook (a '# title' cell and metadata.title)")
    args = parser.parse_args(argv)
    if len(args.inputs) < 2:
        parser.error("give at least two notebooks to merge")
    if args.title is not None and not args.title.strip():
        parser.error("--title must not be empty")

    # Read and merge everything first: a bad input leaves every file untouched.
    named = [(str(path), check_field_types(read_notebook(path), path)) for path in args.inputs]
    for name, nb in named:
        validate_input(nb, name)
    merged = merge(named, args.title.strip() if args.title else None)
    changed = write_notebook(merged, args.output)
    print(f"{'wrote' if changed else 'unchanged'} {args.output} ({len(merged.cells)} cells from {len(named)} notebooks)")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(run_cli(main))
