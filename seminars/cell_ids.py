"""Deterministic cell ids for the notebook tools that rewrite an existing notebook.

``nbio.parse_notebook`` converts nbformat v3 to v4.5, and nbformat gives the converted cells
*random* ids; ``nbformat.validate`` also fills missing ids of a 4.5 notebook with random
ones. A tool that writes such a notebook would then produce different bytes on every run.
:func:`ensure_cell_ids` fixes that before writing: it keeps every valid, unique id an input
already has and derives the missing, invalid or duplicated ones from the cell's content
(``rebuild_notebook.cell_id``), so the same input always gives the same output.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from nbformat import NotebookNode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rebuild_notebook import cell_id  # noqa: E402  (sibling module; folder put on sys.path first)

_VALID_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def source_major_version(text: str) -> int | None:
    """Return the ``nbformat`` major version that notebook JSON ``text`` declares, if any."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    major = data.get("nbformat") if isinstance(data, dict) else None
    return major if isinstance(major, int) else None


def ensure_cell_ids(nb: NotebookNode, *, regenerate: bool = False) -> NotebookNode:
    """Give every cell of a 4.5+ notebook a valid, unique, deterministic id (in place).

    ``regenerate=True`` replaces every id (use it for notebooks converted from v3, whose
    ids were invented at random by the conversion). Notebooks older than 4.5 have no ids
    and are returned unchanged. Returns ``nb`` for convenience.
    """
    if nb.get("nbformat", 4) < 4 or nb.get("nbformat_minor", 0) < 5:
        return nb
    taken: set[str] = set()
    keep: list[bool] = []
    for cell in nb.cells:
        existing = cell.get("id")
        ok = not regenerate and isinstance(existing, str) and bool(_VALID_ID.match(existing))
        ok = ok and existing not in taken
        if ok:
            taken.add(existing)
        keep.append(ok)
    seen: dict[str, int] = {}
    for cell, kept in zip(nb.cells, keep, strict=True):
        if kept:
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        new = cell_id(cell["cell_type"], source, seen)
        while new in taken:
            new = cell_id(cell["cell_type"], source, seen)
        taken.add(new)
        cell["id"] = new
    return nb
