"""Deterministic, schema-valid cell ids for every tool that writes a notebook.

nbformat 4.5 requires every cell to carry an ``id`` that matches ``^[a-zA-Z0-9-_]+$``, is 1-64
characters long and is unique within the notebook (nbformat's ``v4/nbformat.v4.5.schema.json``,
``definitions/cell_id``; uniqueness is checked by ``nbformat.validate``). Real notebooks break
this: editors that copy cells duplicate ids, hand-written or older tools omit them, and some
editors write ids into notebooks that declare 4.0-4.4 (where the key is not allowed).

nbformat's own repairs are random: converting v3 to v4.5 and ``nbformat.validate`` on a 4.5
notebook with missing or duplicated ids both invent ``uuid``-based ids, so a tool would write
different bytes on every run. :func:`ensure_cell_ids` repairs ids deterministically instead: it
keeps every valid, unique id a notebook already has (the first holder of a duplicated id keeps
it) and derives the others from the cell's type and text with :func:`cell_id`.

This module imports nothing from its sibling tools, so ``nbio`` (the shared I/O every tool
writes through) can use it without an import cycle.
"""

from __future__ import annotations

import hashlib
import json
import re

from nbformat import NotebookNode

#: The 4.5 schema's pattern and length limits for a cell id.
VALID_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def cell_id(cell_type: str, source: str, seen: dict[str, int]) -> str:
    """Return a content-derived cell id, unique among the ids produced with the same ``seen``.

    The id is the first 12 hex digits of SHA-1 over ``cell_type``, a NUL byte and ``source``;
    a cell whose type and text repeat an earlier cell's gets ``-2``, ``-3``, ... appended, so ids
    depend only on the content and order of cells, never on chance. ``seen`` (digest -> count)
    is updated in place. ``rebuild_notebook`` imports this function: one id scheme for every tool.
    """
    digest = hashlib.sha1(f"{cell_type}\0{source}".encode()).hexdigest()[:12]
    seen[digest] = seen.get(digest, 0) + 1
    return digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"


def source_major_version(text: str) -> int | None:
    """Return the ``nbformat`` major version that notebook JSON ``text`` declares, if any."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    major = data.get("nbformat") if isinstance(data, dict) else None
    return major if isinstance(major, int) else None


def has_ids(nb: NotebookNode) -> bool:
    """Return True when the notebook's format (4.5 or later) requires cell ids."""
    major, minor = nb.get("nbformat", 4), nb.get("nbformat_minor", 0)
    return isinstance(major, int) and isinstance(minor, int) and (major, minor) >= (4, 5)


def ensure_cell_ids(nb: NotebookNode, *, regenerate: bool = False) -> NotebookNode:
    """Give every cell of a 4.5+ notebook a valid, unique, deterministic id (in place).

    Valid ids are kept, first holder first; missing, invalid (wrong characters, empty, longer
    than 64) or repeated ids are replaced by :func:`cell_id` of the cell's content, skipping any
    id already taken. ``regenerate=True`` replaces every id (for notebooks converted from v3,
    whose ids nbformat invented at random). A 4.0-4.4 notebook that nevertheless carries ids
    (some editors write them) is upgraded to 4.5 first, as nbformat's own 4.x -> 4.5 upgrade
    does; any other notebook older than 4.5 has no ids and is returned unchanged.
    Returns ``nb`` for convenience.
    """
    if not has_ids(nb):
        if nb.get("nbformat") == 4 and any(isinstance(c, dict) and "id" in c for c in nb.get("cells", [])):
            nb["nbformat_minor"] = 5
        else:
            return nb
    taken: set[str] = set()
    keep: list[bool] = []
    for cell in nb.cells:
        existing = cell.get("id")
        ok = not regenerate and isinstance(existing, str) and bool(VALID_ID.match(existing))
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
        new = cell_id(str(cell.get("cell_type", "")), str(source), seen)
        while new in taken:
            new = cell_id(str(cell.get("cell_type", "")), str(source), seen)
        taken.add(new)
        cell["id"] = new
    return nb


def id_problem(nb: NotebookNode) -> str | None:
    """Describe the first cell-id fault of ``nb`` (missing, invalid or duplicated), or None.

    Notebooks older than 4.5 must carry no ids at all (their schema forbids the key).
    """
    if not has_ids(nb):
        for index, cell in enumerate(nb.get("cells", [])):
            if isinstance(cell, dict) and "id" in cell:
                return f"cell {index} has an id, which nbformat {nb.get('nbformat')}.{nb.get('nbformat_minor')} does not allow"
        return None
    first: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        existing = cell.get("id")
        if existing is None:
            return f"cell {index} has no id (nbformat 4.5 requires one)"
        if not isinstance(existing, str) or not VALID_ID.match(existing):
            return f"cell {index} has an invalid id {existing!r} (1-64 characters of a-z, A-Z, 0-9, '-', '_')"
        if existing in first:
            return f"cells {first[existing]} and {index} share the id {existing!r}"
        first[existing] = index
    return None
