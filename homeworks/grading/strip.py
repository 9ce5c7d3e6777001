"""Solution stripping and the student release.

A region that starts with a line ``### BEGIN SOLUTION`` and ends with a line
``### END SOLUTION`` (markers included) becomes one line ``raise NotImplementedError`` at the
BEGIN marker's indentation; all other bytes are kept. ``.ipynb`` files get the same treatment
inside every code cell.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import tempfile
from pathlib import Path

from grading.homework import Homework, HomeworkError

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
REPLACEMENT = "raise NotImplementedError"

__all__ = [
    "BEGIN_MARKER",
    "END_MARKER",
    "REPLACEMENT",
    "count_regions",
    "release_homework",
    "strip_notebook_text",
    "strip_solutions",
]


def _line_ending(line: str) -> str:
    """The line terminator that ``line`` (from ``splitlines(keepends=True)``) ends with."""
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith(("\n", "\r")):
        return line[-1]
    return ""


def _indent(line: str) -> str:
    body = line.rstrip("\r\n")
    return body[: len(body) - len(body.lstrip(" \t"))]


def strip_solutions(text: str, path: str | Path, *, line_offset: int = 0) -> str:
    """Replace every solution region of ``text`` by ``raise NotImplementedError``.

    ``path`` (and ``line_offset``, added to line numbers) only appear in error messages.
    Raises :class:`HomeworkError` (``path:line: message``) for an unclosed region, a stray END
    marker, a nested BEGIN, or BEGIN/END markers with different indentation.
    """
    out: list[str] = []
    begin_line = 0
    begin_indent = ""
    inside = False
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines, start=1 + line_offset):
        stripped = line.strip()
        if stripped == BEGIN_MARKER:
            if inside:
                raise HomeworkError(f"{path}:{number}", f"nested '{BEGIN_MARKER}' (region opened on line {begin_line} is not closed)")
            inside, begin_line, begin_indent = True, number, _indent(line)
            continue
        if stripped == END_MARKER:
            if not inside:
                raise HomeworkError(f"{path}:{number}", f"'{END_MARKER}' without a matching '{BEGIN_MARKER}'")
            if _indent(line) != begin_indent:
                raise HomeworkError(f"{path}:{number}", f"'{END_MARKER}' is indented differently from its '{BEGIN_MARKER}' on line {begin_line}")
            inside = False
            # The END marker's own line ending: a region at the very end of a file (or of a
            # notebook cell) without a final newline stays without one.
            out.append(f"{begin_indent}{REPLACEMENT}{_line_ending(line)}")
            continue
        if not inside:
            out.append(line)
    if inside:
        raise HomeworkError(f"{path}:{begin_line}", f"'{BEGIN_MARKER}' is never closed by '{END_MARKER}'")
    return "".join(out)


def count_regions(text: str) -> int:
    """Number of solution regions (BEGIN marker lines) in ``text``."""
    return sum(1 for line in text.splitlines() if line.strip() == BEGIN_MARKER)


def strip_notebook_text(text: str, path: str | Path) -> str:
    """Strip the solution regions in the code cells of a notebook given as JSON text.

    A notebook without regions is returned unchanged (byte-identical). Otherwise the JSON is
    re-serialised in nbformat's own layout (indent 1, sorted keys, non-ASCII kept, final
    newline), so a notebook written by Jupyter/nbformat differs only in the stripped cells,
    which also lose their outputs and execution counts.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HomeworkError(path, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise HomeworkError(path, "not a Jupyter notebook (no 'cells' list)")
    changed = False
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise HomeworkError(path, f"cell {index} is not an object")
        source = cell.get("source", "")
        was_list = isinstance(source, list)
        joined = "".join(source) if was_list else source
        if not isinstance(joined, str):
            raise HomeworkError(path, f"cell {index} source is not text")
        if cell.get("cell_type") != "code":
            if count_regions(joined):
                raise HomeworkError(path, f"cell {index} is not a code cell but holds '{BEGIN_MARKER}'")
            continue
        if not count_regions(joined) and END_MARKER not in joined:
            continue
        stripped = strip_solutions(joined, f"{path} [cell {index}]")
        cell["source"] = stripped.splitlines(keepends=True) if was_list else stripped
        if "outputs" in cell:
            cell["outputs"] = []
        if "execution_count" in cell:
            cell["execution_count"] = None
        changed = True
    if not changed:
        return text
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def strip_file_text(text: str, path: str | Path) -> str:
    """Strip a released file's text according to its suffix (``.ipynb`` or plain text)."""
    if str(path).endswith(".ipynb"):
        return strip_notebook_text(text, path)
    result = strip_solutions(text, path)
    if str(path).endswith(".py"):
        try:
            ast.parse(result, filename=str(path))
        except SyntaxError as exc:
            raise HomeworkError(f"{path}:{exc.lineno}", f"the stripped release is not valid Python: {exc.msg}") from None
    return result


def _read_text(path: Path) -> str:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise HomeworkError(path, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise HomeworkError(path, exc.strerror or str(exc)) from None


def release_homework(homework: Homework, out_dir: str | Path) -> list[Path]:
    """Write the student release of ``homework`` to ``out_dir/<name>/``; return the files written.

    The folder is built next to its destination and swapped in with ``os.replace``, so a failed
    release leaves the previous one untouched and a stale file never survives a release.
    Text files are stripped of solutions; binary (non-UTF-8) files are copied byte for byte.
    """
    out_root = Path(out_dir)
    target = out_root / homework.name
    try:
        out_root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{homework.name}.", suffix=".tmp", dir=out_root))
    except OSError as exc:
        raise HomeworkError(out_root, f"cannot write: {exc.strerror or exc}") from None
    written: list[Path] = []
    try:
        for entry in homework.files:
            source = homework.directory / entry
            destination = staging / entry
            destination.parent.mkdir(parents=True, exist_ok=True)
            raw = source.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                shutil.copyfile(source, destination)
            else:
                with destination.open("w", encoding="utf-8", newline="") as handle:
                    handle.write(strip_file_text(text, source))
            os.chmod(destination, 0o644)
            written.append(target / entry)
        os.chmod(staging, 0o755)
        trash = None
        if target.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{homework.name}.", suffix=".old", dir=out_root))
            os.replace(target, trash / homework.name)
        os.replace(staging, target)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise HomeworkError(target, f"cannot write: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return written
