"""Shared notebook I/O for the seminar tools.

Every tool in ``seminars/`` reads and writes notebooks through this module, so they all
agree on three things:

* **Reading** accepts nbformat v3 and v4.0-4.5 and always returns a v4 ``NotebookNode``;
  every expected fault (missing file, not JSON, JSON that is not a notebook) becomes a
  :class:`NotebookError` whose message is one line naming the file.
* **Serialising** is deterministic: nbformat's JSON layout (indent 1, sorted keys,
  non-ASCII kept) plus a trailing newline, so the same notebook always gives the same bytes.
* **Writing** is atomic: a temporary file in the target folder, then ``os.replace``. A failed
  run never leaves a half-written notebook behind.

:func:`run_cli` turns a tool's ``main`` into the agreed exit codes: 0 ok, 1 check failed,
2 bad input (one line on stderr, no traceback).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import nbformat
from nbformat import NotebookNode

#: Exit codes shared by every tool.
EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2


class NotebookError(Exception):
    """An expected fault with an input or output file; ``str()`` is ``"path: what is wrong"``."""

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        self.path = str(path)
        self.message = " ".join(str(message).split())  # always a single line
        super().__init__(f"{self.path}: {self.message}")


def read_text(path: str | os.PathLike[str]) -> str:
    """Return the UTF-8 text of ``path``, raising :class:`NotebookError` if it cannot be read."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotebookError(p, "no such file") from None
    except IsADirectoryError:
        raise NotebookError(p, "is a directory, not a notebook") from None
    except UnicodeDecodeError as exc:
        raise NotebookError(p, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise NotebookError(p, exc.strerror or str(exc)) from None


def parse_notebook(text: str, path: str | os.PathLike[str]) -> NotebookNode:
    """Parse notebook JSON text of any supported version into a validated-shape v4 node.

    ``path`` is only used in error messages. The result is converted to v4 but *not*
    normalised: ids may still be missing or duplicated (see ``rebuild_notebook.normalize``).
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(path, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise NotebookError(path, "JSON is not a Jupyter notebook (no 'cells' or 'worksheets')")
    major = data.get("nbformat")
    if major not in (3, 4):
        raise NotebookError(path, f"unsupported nbformat version {major!r} (expected 3 or 4)")
    try:
        node = nbformat.reader.reads(text)  # rejoins multi-line strings for its own version
        node = nbformat.convert(node, 4)
    except Exception as exc:  # nbformat raises assorted errors on malformed structures
        raise NotebookError(path, f"malformed notebook: {exc}") from None
    if not isinstance(node.get("cells"), list):
        raise NotebookError(path, "malformed notebook: 'cells' is not a list")
    for index, cell in enumerate(node.cells):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise NotebookError(path, f"malformed notebook: cell {index} has no valid cell_type")
        source = cell.get("source", "")
        if isinstance(source, list):
            cell["source"] = "".join(source)
        elif not isinstance(source, str):
            raise NotebookError(path, f"malformed notebook: cell {index} source is not text")
    return node


def read_notebook(path: str | os.PathLike[str]) -> NotebookNode:
    """Read ``path`` (nbformat v3 or v4.x) and return it as a v4 ``NotebookNode``."""
    return parse_notebook(read_text(path), path)


def dumps(nb: NotebookNode) -> str:
    """Serialise a v4 notebook deterministically (nbformat's layout plus a final newline)."""
    return nbformat.v4.nbjson.writes(nb) + "\n"


def validate(nb: NotebookNode, path: str | os.PathLike[str]) -> None:
    """Validate ``nb`` against its nbformat schema; a failure becomes a :class:`NotebookError`."""
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        raise NotebookError(path, f"invalid notebook: {exc.message}") from None


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically: temp file in the same folder, then ``os.replace``."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise NotebookError(target, f"cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise NotebookError(target, f"cannot write: {exc.strerror or exc}") from None
        raise


def write_notebook(nb: NotebookNode, path: str | os.PathLike[str]) -> bool:
    """Validate and atomically write ``nb`` to ``path``.

    Returns ``True`` when the file changed, ``False`` when it already held exactly these
    bytes (the file is then left untouched, so running a tool twice changes nothing).
    """
    validate(nb, path)
    text = dumps(nb)
    target = Path(path)
    try:
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    write_text_atomic(target, text)
    return True


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Call a tool's ``main`` and map expected faults to exit code 2 with one line on stderr."""
    try:
        return main(argv)
    except NotebookError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def check_field_types(nb: NotebookNode, path: str | os.PathLike[str]) -> NotebookNode:
    """Refuse a notebook whose version or metadata fields have the wrong JSON type.

    Tools that look into ``metadata`` (the kernel's language, widget state, cell tags) would
    otherwise fail with a traceback on, say, ``"kernelspec": "python3"``; this turns each such
    fault into one :class:`NotebookError` naming ``path`` and the field. Checked: the version
    numbers are integers; ``metadata`` and every cell's ``metadata`` are objects;
    ``kernelspec`` and ``language_info``, when present, are objects whose ``name``,
    ``display_name`` and ``language`` are strings; ``attachments`` is an object. Returns ``nb``.
    """
    for key in ("nbformat", "nbformat_minor"):
        if key in nb and (not isinstance(nb[key], int) or isinstance(nb[key], bool)):
            raise NotebookError(path, f"{key} is {type(nb[key]).__name__} {nb[key]!r}, expected an integer")
    metadata = nb.get("metadata", {})
    if not isinstance(metadata, dict):
        raise NotebookError(path, f"metadata is {type(metadata).__name__}, expected an object")
    for key in ("kernelspec", "language_info"):
        value = metadata.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise NotebookError(path, f"metadata.{key} is {type(value).__name__} {value!r}, expected an object")
        for field in ("name", "display_name", "language"):
            if field in value and not isinstance(value[field], str):
                raise NotebookError(path, f"metadata.{key}.{field} is {type(value[field]).__name__}, expected a string")
    for index, cell in enumerate(nb.get("cells", [])):
        for key in ("metadata", "attachments"):
            if key in cell and not isinstance(cell[key], dict):
                raise NotebookError(path, f"cell {index}: {key} is {type(cell[key]).__name__}, expected an object")
    return nb
