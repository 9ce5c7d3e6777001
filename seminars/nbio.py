"""Shared notebook I/O for the seminar tools.

Every tool in ``seminars/`` reads and writes notebooks through this module, so they all
agree on three things:

* **Reading** accepts nbformat v3 and v4.0-4.5 and always returns a v4 ``NotebookNode``;
  every expected fault (missing file, not JSON, JSON that is not a notebook) becomes a
  :class:`NotebookError` whose message is one line naming the file.
* **Serialising** is deterministic: nbformat's JSON layout (indent 1, sorted keys,
  non-ASCII kept) plus a trailing newline, so the same notebook always gives the same bytes.
* **Writing** goes through one path, :func:`write_notebook`: cell ids are repaired
  deterministically (``cell_ids.ensure_cell_ids``: missing ids added, duplicates made unique),
  the result is validated against its nbformat schema, and only then written atomically (a
  temporary file in the target folder, then ``os.replace``). A failed run never leaves a
  half-written or schema-invalid notebook behind.
* **Metadata** is checked, not trusted: :func:`kernel_language` turns a malformed
  ``kernelspec`` / ``language_info`` into a :class:`NotebookError`, never a traceback.

:func:`run_cli` turns a tool's ``main`` into the agreed exit codes: 0 ok, 1 check failed,
2 bad input (one line on stderr, no traceback).
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import nbformat
from nbformat import NotebookNode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cell_ids import ensure_cell_ids, id_problem  # noqa: E402  (sibling module; folder put on sys.path first)

#: Exit codes shared by every tool.
EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2


#: Terminal escape sequences (ECMA-48): CSI (colours, cursor moves: ``ESC [ ... final``), OSC
#: (titles, links: ``ESC ] ... BEL`` or ``ESC ] ... ESC \\``), other escapes (``ESC`` +
#: intermediate bytes + a final byte, e.g. ``ESC ( B``) and the 8-bit CSI.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]?|\x9b[0-?]*[ -/]*[@-~]")
#: Other control characters (C0 except tab and newline, DEL, C1) that must not reach a terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """Return ``text`` without terminal escape sequences or control characters (tab, newline kept).

    Kernel tracebacks are coloured with ANSI codes and exception messages may hold anything;
    whatever a tool prints passes through here, so nothing the notebook produced can recolour,
    move the cursor of, or retitle the user's terminal.
    """
    return _CONTROL.sub("", _ESCAPES.sub("", text.replace("\r\n", "\n").replace("\r", "\n")))


class NotebookError(Exception):
    """An expected fault with an input or output file; ``str()`` is ``"path: what is wrong"``.

    The message is made terminal-safe and collapsed to a single line.
    """

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        self.path = terminal_safe(str(path))
        self.message = " ".join(terminal_safe(str(message)).split())  # always a single line
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


def _check_metadata_shapes(data: dict, path: str | os.PathLike[str]) -> None:
    """Refuse notebook or cell ``metadata`` that is not a JSON object (nbformat's conversion
    code crashes on it with an unrelated message)."""
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict):
        raise NotebookError(path, f"malformed metadata: 'metadata' is {type(metadata).__name__}, expected an object")
    cells = data.get("cells")
    if not isinstance(cells, list):
        worksheets = data.get("worksheets")
        first = worksheets[0] if isinstance(worksheets, list) and worksheets and isinstance(worksheets[0], dict) else {}
        cells = first.get("cells") if isinstance(first.get("cells"), list) else []
    for index, cell in enumerate(cells):
        if isinstance(cell, dict) and not isinstance(cell.get("metadata", {}), dict):
            kind = type(cell["metadata"]).__name__
            raise NotebookError(path, f"malformed metadata: cell {index} 'metadata' is {kind}, expected an object")


def parse_notebook(text: str, path: str | os.PathLike[str]) -> NotebookNode:
    """Parse notebook JSON text of any supported version into a validated-shape v4 node.

    ``path`` is only used in error messages. The result is converted to v4 but *not*
    normalised: ids may still be missing or duplicated (:func:`write_notebook` repairs them,
    ``rebuild_notebook.normalize`` replaces them). A v3 notebook's converted cells get
    content-derived ids instead of nbformat's random ones, so reading is deterministic.
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
    _check_metadata_shapes(data, path)
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
    if major == 3:
        ensure_cell_ids(node, regenerate=True)
    return node


def read_notebook(path: str | os.PathLike[str]) -> NotebookNode:
    """Read ``path`` (nbformat v3 or v4.x) and return it as a v4 ``NotebookNode``."""
    return parse_notebook(read_text(path), path)


def dumps(nb: NotebookNode) -> str:
    """Serialise a v4 notebook deterministically (nbformat's layout plus a final newline)."""
    return nbformat.v4.nbjson.writes(nb) + "\n"


def validate(nb: NotebookNode, path: str | os.PathLike[str]) -> None:
    """Validate ``nb`` against its nbformat schema; a failure becomes a :class:`NotebookError`.

    ``nb`` is never changed: ``nbformat.validate`` "repairs" missing or duplicated 4.5 cell ids
    in place with random ones (and warns), so it runs on a copy with its warnings silenced.
    Cell-id faults are therefore *not* reported here (an input may have them; every write
    repairs them first, see :func:`ensure_valid`, which also checks them strictly). The error
    names where in the notebook the first fault is (e.g. ``at metadata/kernelspec``).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.validate(copy.deepcopy(nb))
    except nbformat.ValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path)
        message = exc.message if len(exc.message) <= 200 else exc.message[:200] + "..."
        raise NotebookError(path, f"invalid notebook: {message}" + (f" (at {where})" if where else "")) from None
    except Exception as exc:  # the validator itself can fail on structures its schema code does not expect
        raise NotebookError(path, f"invalid notebook: {type(exc).__name__}: {exc}") from None


def ensure_valid(nb: NotebookNode, path: str | os.PathLike[str]) -> NotebookNode:
    """Repair cell ids deterministically (in place), then validate strictly; the one path before any write.

    Ids: see ``cell_ids.ensure_cell_ids`` (missing ids added, duplicates and invalid ids
    replaced by content-derived ones, valid unique ids kept; a 4.0-4.4 notebook carrying ids
    becomes 4.5). Then the ids are checked (present, valid, unique) and the whole notebook is
    validated against its schema. A fault raises :class:`NotebookError` naming ``path``.
    Returns ``nb``.
    """
    ensure_cell_ids(nb)
    problem = id_problem(nb)
    if problem:
        raise NotebookError(path, f"invalid notebook: {problem}")
    validate(nb, path)
    return nb


def kernel_language(nb: NotebookNode, path: str | os.PathLike[str]) -> str:
    """Return the lower-case kernel language ``nb`` declares (``"python"`` when it declares none).

    Looks at ``metadata.kernelspec.language``, then ``metadata.language_info.name``. Raises
    :class:`NotebookError` naming ``path`` when the metadata has the wrong shape (``metadata``,
    ``kernelspec`` or ``language_info`` not an object, a language that is not a string).
    """
    metadata = nb.get("metadata", {})
    if not isinstance(metadata, dict):
        raise NotebookError(path, f"malformed metadata: 'metadata' is {type(metadata).__name__}, expected an object")
    found: list[str] = []
    for key, field in (("kernelspec", "language"), ("language_info", "name")):
        section = metadata.get(key)
        if section is None:
            continue
        if not isinstance(section, dict):
            raise NotebookError(path, f"malformed metadata: 'metadata.{key}' is {type(section).__name__} {section!r:.60}, expected an object")
        value = section.get(field)
        if value is not None and not isinstance(value, str):
            raise NotebookError(path, f"malformed metadata: 'metadata.{key}.{field}' is {type(value).__name__}, expected a string")
        if value:
            found.append(value.strip().lower())
    return found[0] if found else "python"


def require_python(nb: NotebookNode, path: str | os.PathLike[str]) -> None:
    """Raise :class:`NotebookError` unless ``nb`` is a Python notebook (see :func:`kernel_language`)."""
    language = kernel_language(nb, path)
    if not re.fullmatch(r"python\d*", language):
        raise NotebookError(path, f"kernel language is {language!r}, not Python; refusing to run it in a Python kernel")


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
    """Repair ids, validate and atomically write ``nb`` to ``path`` (see :func:`ensure_valid`).

    ``nb`` is modified in place only where its cell ids were missing, invalid or repeated.
    Returns ``True`` when the file changed, ``False`` when it already held exactly these
    bytes (the file is then left untouched, so running a tool twice changes nothing).
    Raises :class:`NotebookError` naming ``path`` if the notebook is schema-invalid (nothing
    is written then) or the file cannot be written.
    """
    ensure_valid(nb, path)
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
