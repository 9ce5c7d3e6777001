"""Solution stripping and the student release.

Markers (nbgrader's convention): a comment line whose stripped text is exactly
``### BEGIN SOLUTION`` opens a region, the next one that is exactly ``### END SOLUTION`` closes
it. The region, both marker lines included, becomes one line ``raise NotImplementedError`` at
the BEGIN marker's indentation; all other bytes are kept. ``.ipynb`` files get the same
treatment inside every code cell (a cell that had a region also loses its outputs and
execution count).

The release must never ship a solution, so it refuses (one line ``path:line: ...``, exit 2,
nothing written) rather than guess:

* **near-miss markers**: a comment that reads like a marker but is not exactly one
  (``# BEGIN SOLUTION`` as otter-grader writes it, ``###BEGIN SOLUTION``, a trailing note,
  lower case, ``BEGIN_SOLUTION``, ``### BEGIN HIDDEN TESTS``, otter's ``# SOLUTION``, a marker
  after code on the same line, ...); see :func:`looks_like_marker`;
* marker text inside a string or docstring is *not* a marker: Python text is read with
  :mod:`tokenize`, and only comment tokens count (a cell or file that does not tokenize is
  read line by line instead, where every marker-like line counts: stricter, never laxer);
* a file that is not UTF-8 (a known binary type is copied, after a check that no solution
  line is inside it);
* a released ``.py`` file or notebook code cell that no longer compiles;
* finally, before anything is written, the release is **checked against the sources**: no
  non-trivial line of any solution region may appear in any released file (unless the same
  line is public code outside every region), and no released file may hold a marker.
  The released folder is then written next to its destination and swapped in atomically.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import tokenize
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from grading.homework import Homework, HomeworkError

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
REPLACEMENT = "raise NotImplementedError"
BOM = "\ufeff"

#: Files that may hold solutions and must be UTF-8 text.
TEXT_SUFFIXES = frozenset({".py", ".ipynb", ".md", ".txt", ".rst", ".json", ".csv", ".yaml", ".yml", ".toml",
                           ".cfg", ".ini", ".sh", ".r", ".jl", ".tex", ".html"})
#: Binary files a homework may ship; they are copied byte for byte after a leak check.
BINARY_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".svg", ".pdf", ".npy", ".npz", ".pt", ".gz", ".zip"})

__all__ = [
    "BEGIN_MARKER",
    "END_MARKER",
    "REPLACEMENT",
    "Release",
    "count_regions",
    "looks_like_marker",
    "plan_release",
    "release_homework",
    "strip_file_text",
    "strip_notebook_text",
    "strip_solutions",
    "write_release",
]

# Marker phrases as nbgrader, otter-grader and hand-written variants spell them, compared on
# the comment's words (lower case, punctuation and underscores as spaces).
_MARKER_PHRASE = re.compile(
    r"\b(?:(?:begin|end|start|stop|finish|end of)\s+(?:the\s+)?(?:hidden\s+tests?|solutions?|answers?)"
    r"|(?:solutions?|answers?)\s+(?:begins?|ends?|starts?|stops?)"
    r"|(?:начало|конец)\s+решени[яе])\b"
)
_WHOLE_COMMENT_MARKERS = frozenset({"solution", "solutions", "solution no prompt", "hidden tests", "hidden test"})
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def _words(text: str) -> str:
    """``text`` in lower case with runs of punctuation, underscores and spaces as one space."""
    return " ".join(re.sub(r"[\W_]+", " ", text.lower()).split())


def looks_like_marker(comment: str, *, python_comment: bool = True) -> bool:
    """Return True when a comment (or a Markdown line) reads like a solution marker, exact or not.

    A Python comment that is only ``SOLUTION`` (otter-grader's one-line marker) or ``HIDDEN
    TESTS`` counts too; a Markdown heading of that one word does not.
    """
    words = _words(comment)
    return bool(_MARKER_PHRASE.search(words)) or python_comment and words in _WHOLE_COMMENT_MARKERS


def _lines(text: str) -> list[str]:
    """Split ``text`` into lines with their endings, exactly as :mod:`tokenize` numbers them."""
    return _LINE.findall(text)


# --------------------------------------------------------------------------- finding markers


@dataclass(frozen=True)
class _Marker:
    line: int  # 1-based within the text
    text: str  # the comment (or the whole stripped line in line mode)
    exact: str | None  # BEGIN_MARKER, END_MARKER, or None for a near miss


def _mask_ipython(lines: list[str]) -> str:
    """Replace IPython-only lines (magics, shell and help lines) by ``pass`` so that a cell tokenizes."""
    masked = []
    for line in lines:
        body = line.rstrip("\r\n")
        stripped = body.strip()
        ending = line[len(body):]
        ipython = stripped.startswith(("%", "!")) or stripped.endswith("?") or re.match(r"^[\w.,\s]+=\s*[!%]", stripped)
        masked.append(body[: len(body) - len(body.lstrip())] + "pass" + ending if ipython else line)
    return "".join(masked)


def _comment_markers(text: str) -> list[_Marker] | None:
    """Markers among the comment tokens of Python ``text``; None when it does not tokenize."""
    lines = _lines(text)
    found = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type != tokenize.COMMENT or not looks_like_marker(token.string):
                continue
            row = token.start[0]
            whole = lines[row - 1].strip() if row <= len(lines) else token.string
            alone = whole == token.string.strip()
            exact = whole if alone and whole in (BEGIN_MARKER, END_MARKER) else None
            found.append(_Marker(row, token.string.strip() if alone else whole, exact))
    except (tokenize.TokenError, SyntaxError):
        return None
    return found


def _line_markers(text: str, *, python: bool) -> list[_Marker]:
    """Markers found line by line: every line that is one or reads like one.

    A line reads like one when it starts with a comment leader (``#``, ``//``, ``<!--``, ``--``,
    ``%``) or with a marker phrase, and holds a marker phrase; for Python (``python=True``) a
    comment that is only ``SOLUTION`` counts too, and so does everything after a ``#`` in the
    line (a comment after code; a ``#`` inside a string makes this stricter, never laxer).
    """
    found = []
    for row, line in enumerate(_lines(text), start=1):
        stripped = line.strip()
        if stripped in (BEGIN_MARKER, END_MARKER):
            found.append(_Marker(row, stripped, stripped))
            continue
        leader = re.match(r"^(?:#+|//+|<!--|--|%+)\s*", stripped)
        comment = stripped[stripped.index("#"):] if python and "#" in stripped else ""  # after code, roughly
        if looks_like_marker(stripped, python_comment=python and bool(leader)) and (
            leader or _MARKER_PHRASE.match(_words(stripped))
        ) or comment and looks_like_marker(comment):
            found.append(_Marker(row, stripped, None))
    return found


def find_markers(text: str, mode: str) -> list[_Marker]:
    """All marker-like lines of ``text``.

    ``mode`` is ``"python"`` (a ``.py`` file: comment tokens only), ``"cell"`` (a notebook code
    cell: the same after masking IPython syntax) or ``"text"`` (Markdown and other text: a line
    that starts with a comment leader or a marker phrase). Python that does not tokenize is
    read in text mode.
    """
    if mode in ("python", "cell"):
        lines = _lines(text)
        first = next((line.strip() for line in lines if line.strip()), "")
        if not (mode == "cell" and first.startswith("%%")):  # a cell magic: not Python
            masked = _mask_ipython(lines) if mode == "cell" else text
            markers = _comment_markers(masked)
            if markers is not None:
                # a masked IPython line (`%time f()  # BEGIN SOLUTION`) is read as text
                hidden = [row for row, (a, b) in enumerate(zip(lines, _lines(masked), strict=True), start=1) if a != b]
                for row in hidden:
                    markers += [_Marker(row, m.text, None) for m in _line_markers(lines[row - 1].lstrip("%! "), python=True)]
                return sorted(markers, key=lambda marker: marker.line)
    return _line_markers(text, python=mode != "text")


# --------------------------------------------------------------------------- stripping


@dataclass
class _Stripped:
    text: str
    solution: list[str] = field(default_factory=list)  # stripped lines inside regions (markers excluded)
    public: list[str] = field(default_factory=list)  # stripped code lines outside regions (prose: none)


def _strip(text: str, path: str | Path, mode: str, line_offset: int = 0) -> _Stripped:
    """Strip the regions of ``text``; refuse near misses and malformed regions (see the module docstring)."""
    markers = find_markers(text, mode)
    for marker in markers:
        if marker.exact is None:
            raise HomeworkError(
                f"{path}:{marker.line + line_offset}",
                f"{marker.text!r} looks like a solution marker but is not exactly '{BEGIN_MARKER}' or "
                f"'{END_MARKER}' on a line of its own; refusing to release (the solution could ship)",
            )
    by_line = {marker.line: marker.exact for marker in markers}
    result = _Stripped("")
    out: list[str] = []
    inside, begin_line, begin_indent = False, 0, ""
    for row, line in enumerate(_lines(text), start=1):
        number = row + line_offset
        kind = by_line.get(row)
        if kind == BEGIN_MARKER:
            if inside:
                raise HomeworkError(f"{path}:{number}", f"nested '{BEGIN_MARKER}' (region opened on line {begin_line} is not closed)")
            inside, begin_line, begin_indent = True, number, _indent(line)
            continue
        if kind == END_MARKER:
            if not inside:
                raise HomeworkError(f"{path}:{number}", f"'{END_MARKER}' without a matching '{BEGIN_MARKER}'")
            if _indent(line) != begin_indent:
                raise HomeworkError(f"{path}:{number}", f"'{END_MARKER}' is indented differently from its '{BEGIN_MARKER}' on line {begin_line}")
            inside = False
            # The END marker's own line ending: a region at the very end of a file (or of a
            # notebook cell) without a final newline stays without one.
            out.append(f"{begin_indent}{REPLACEMENT}{_line_ending(line)}")
            continue
        (result.solution if inside else result.public).append(line.strip())
        if not inside:
            out.append(line)
    if inside:
        raise HomeworkError(f"{path}:{begin_line}", f"'{BEGIN_MARKER}' is never closed by '{END_MARKER}'")
    result.text = "".join(out)
    return result


def _line_ending(line: str) -> str:
    """The line terminator that ``line`` ends with (``""`` for the last line without one)."""
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith(("\n", "\r")):
        return line[-1]
    return ""


def _indent(line: str) -> str:
    body = line.rstrip("\r\n")
    return body[: len(body) - len(body.lstrip(" \t"))]


def strip_solutions(text: str, path: str | Path, *, line_offset: int = 0, mode: str = "python") -> str:
    """Replace every solution region of ``text`` by ``raise NotImplementedError``.

    ``path`` (and ``line_offset``, added to line numbers) only appear in error messages;
    ``mode`` is how markers are found (see :func:`find_markers`). Raises :class:`HomeworkError`
    (``path:line: message``) for a near-miss marker, an unclosed region, a stray END marker, a
    nested BEGIN, or BEGIN/END markers with different indentation.
    """
    return _strip(text, path, mode, line_offset).text


def count_regions(text: str, mode: str = "python") -> int:
    """Number of solution regions (exact BEGIN markers) in ``text``."""
    return sum(1 for marker in find_markers(text, mode) if marker.exact == BEGIN_MARKER)


# --------------------------------------------------------------------------- files


def _compiles_as_cell(source: str) -> str | None:
    """Compile a notebook cell as IPython would; return the error message, or None if it compiles."""
    from IPython.core.inputtransformer2 import TransformerManager  # slow import, only for notebooks

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(TransformerManager().transform_cell(source), "<cell>", "exec")
    except SyntaxError as exc:
        return f"{exc.msg} (line {exc.lineno})"
    return None


def _notebook_strings(data: object) -> Iterator[str]:
    """Every string inside a notebook's JSON (sources, outputs, metadata)."""
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from _notebook_strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _notebook_strings(value)


def _strip_notebook(text: str, path: str | Path) -> _Stripped:
    """Strip a notebook (JSON text); collect its solution and public lines."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HomeworkError(path, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise HomeworkError(path, "not a Jupyter notebook (no 'cells' list)")
    result = _Stripped(text)
    public: set[str] = set()
    changed = False
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise HomeworkError(path, f"cell {index} is not an object")
        source = cell.get("source", "")
        was_list = isinstance(source, list)
        joined = "".join(source) if was_list and all(isinstance(s, str) for s in source) else source
        if not isinstance(joined, str):
            raise HomeworkError(path, f"cell {index} source is not text")
        where = f"{path} [cell {index}]"
        if cell.get("cell_type") != "code":
            for marker in find_markers(joined, "text"):
                what = f"holds '{marker.text}'" if marker.exact else f"holds {marker.text!r}, which looks like a solution marker"
                raise HomeworkError(f"{where}:{marker.line}", f"not a code cell but {what}; refusing to release")
            continue
        stripped = _strip(joined, where, "cell")
        result.solution.extend(stripped.solution)
        public.update(stripped.public)
        if stripped.text == joined:
            continue
        if (error := _compiles_as_cell(stripped.text)) is not None:
            raise HomeworkError(where, f"the released cell does not compile: {error}; put the markers where "
                                       f"'{REPLACEMENT}' is a valid statement")
        cell["source"] = stripped.text.splitlines(keepends=True) if was_list else stripped.text
        if "outputs" in cell:
            cell["outputs"] = []
        if "execution_count" in cell:
            cell["execution_count"] = None
        changed = True
    result.public = sorted(public)
    _validate_notebook(data, path)
    if changed:
        result.text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    return result


def _validate_notebook(data: dict, path: str | Path) -> None:
    """Refuse to release a notebook that the nbformat schema rejects (Jupyter could not open it)."""
    import copy

    import nbformat

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.validate(nbformat.from_dict(copy.deepcopy(data)))
    except nbformat.ValidationError as exc:
        raise HomeworkError(path, f"not a valid notebook: {exc.message}") from None
    except Exception as exc:  # nbformat fails in assorted ways on wrongly typed fields
        raise HomeworkError(path, f"not a valid notebook: {type(exc).__name__}: {exc}") from None


def strip_notebook_text(text: str, path: str | Path) -> str:
    """Strip the solution regions in the code cells of a notebook given as JSON text.

    A notebook without regions is returned unchanged (the same object). Otherwise the JSON is
    re-serialised in nbformat's own layout (indent 1, sorted keys, non-ASCII kept, final
    newline), so a notebook written by Jupyter/nbformat differs only in the stripped cells,
    which also lose their outputs and execution counts.
    """
    return _strip_notebook(text, path).text


def _strip_file(text: str, path: str | Path) -> _Stripped:
    """Strip one released text file according to its suffix; check that it still compiles."""
    suffix = Path(path).suffix.lower()
    if suffix == ".ipynb":
        return _strip_notebook(text, path)
    result = _strip(text, path, "python" if suffix == ".py" else "text")
    if suffix != ".py":
        result.public = []  # prose never makes a line public
    else:
        try:
            compile(result.text, str(path), "exec", dont_inherit=True)
        except SyntaxError as exc:
            raise HomeworkError(f"{path}:{exc.lineno}", f"the stripped release is not valid Python: {exc.msg}") from None
    return result


def strip_file_text(text: str, path: str | Path) -> str:
    """Strip a released file's text according to its suffix (``.ipynb``, ``.py`` or plain text)."""
    return _strip_file(text, path).text


# --------------------------------------------------------------------------- the release


@dataclass
class Release:
    """A homework's student release, built in memory: relative path -> bytes."""

    name: str
    files: dict[str, bytes]


def _decode(raw: bytes, path: Path) -> str | None:
    """UTF-8 text of a released file (BOM dropped), None for a known binary type; refuse anything else."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if path.suffix.lower() in BINARY_SUFFIXES:
            return None
        raise HomeworkError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start}); refusing to release a file "
                                  "whose solution markers cannot be checked") from None
    if "\x00" in text and path.suffix.lower() in BINARY_SUFFIXES:
        return None
    return text.removeprefix(BOM)


#: A solution line shorter than this (``return x``, ``)``, ``else:``) may appear anywhere.
TRIVIAL_LINE_CHARS = 12


def _is_trivial(line: str) -> bool:
    """Return True for a line too short or too generic to give a solution away."""
    return len(line) < TRIVIAL_LINE_CHARS or not re.search(r"[A-Za-z0-9А-Яа-яЁё]", line)


def _check_no_leak(release: Release, solution: set[str], public_code: set[str], sources: dict[str, Path]) -> None:
    """Refuse a release in which a solution line or a marker survives: the proof before writing.

    Every released file (code, notebooks, prose, binary) is compared with every solution line
    of every file. A line may stay only when it is trivial (:func:`_is_trivial`) or when it is
    also public code: a line of a ``.py`` file or notebook code cell outside every region,
    which the student gets regardless (``with torch.no_grad():``). Prose never makes a line
    public, so a README that quotes a solution line is refused. A released file must also hold
    no marker at all (markers in strings and docstrings are text, not markers).
    """
    for relative, data in release.files.items():
        path = sources[relative]
        secret = {line for line in solution - public_code if not _is_trivial(line)}
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None or "\x00" in text:  # binary: look for the solution lines' bytes
            for line in sorted(secret):
                if any(line.encode(encoding) in data for encoding in ("utf-8", "utf-16-le", "utf-16-be")):
                    raise HomeworkError(path, f"the released copy contains the solution line {line!r}; refusing to release")
            continue
        text = text.removeprefix(BOM)
        if relative.endswith(".ipynb"):
            strings = list(_notebook_strings(json.loads(text)))
            markers = [m for string in strings for m in find_markers(string, "cell")]
        else:
            strings = [text]
            markers = find_markers(text, "python" if relative.endswith(".py") else "text")
        leaked = sorted({line.strip() for string in strings for line in _lines(string)} & secret)
        if leaked:
            raise HomeworkError(path, f"the released copy contains the solution line {leaked[0]!r}; refusing to release")
        if markers:
            raise HomeworkError(path, f"the released copy still holds the marker {markers[0].text!r}; refusing to release")


def plan_release(homework: Homework) -> Release:
    """Build ``homework``'s student release in memory and prove that it holds no solution.

    Every listed file is read and stripped; then every released file is checked against all
    solution lines of all files (:func:`_check_no_leak`). Raises :class:`HomeworkError` (one
    line) on any fault; nothing is written here.
    """
    files: dict[str, bytes] = {}
    sources: dict[str, Path] = {}
    solution: set[str] = set()
    public_code: set[str] = set()
    for entry in homework.files:
        source = homework.directory / entry
        try:
            raw = source.read_bytes()
        except OSError as exc:
            raise HomeworkError(source, exc.strerror or str(exc)) from None
        sources[entry] = source
        text = _decode(raw, source)
        if text is None:
            files[entry] = raw
            continue
        stripped = _strip_file(text, source)
        solution.update(stripped.solution)
        public_code.update(stripped.public)
        bom = BOM if raw.startswith(BOM.encode()) and not entry.endswith(".ipynb") else ""
        files[entry] = (bom + stripped.text).encode("utf-8")
    release = Release(homework.name, files)
    _check_no_leak(release, solution, public_code, sources)
    return release


def replace_directory(new: Path, target: Path) -> None:
    """Put the finished folder ``new`` in place of ``target`` (which may not exist yet).

    The old ``target`` is first moved aside into a temporary folder beside it, then ``new`` is
    renamed into place, then the old copy is deleted: each step is one ``os.replace`` in the same
    file system, so a reader sees the old folder or the new one, never a half-written mix.
    Raises ``OSError`` from the renames; the caller removes ``new`` on failure.
    """
    trash = None
    if target.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.replace(target, trash / target.name)
    os.replace(new, target)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def write_release(release: Release, out_dir: str | Path) -> list[Path]:
    """Write a planned release to ``out_dir/<name>/`` atomically; return the files written.

    The folder is built next to its destination and swapped in with ``os.replace``, so a failed
    write leaves the previous release untouched and a stale file never survives a release.
    """
    out_root = Path(out_dir)
    target = out_root / release.name
    try:
        out_root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{release.name}.", suffix=".tmp", dir=out_root))
    except OSError as exc:
        raise HomeworkError(out_root, f"cannot write: {exc.strerror or exc}") from None
    written: list[Path] = []
    try:
        for entry, data in release.files.items():
            destination = staging / entry
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(data)
            os.chmod(destination, 0o644)
            written.append(target / entry)
        for folder in _folders(staging):
            os.chmod(folder, 0o755)
        replace_directory(staging, target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise HomeworkError(target, f"cannot write: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return written


def _folders(root: Path) -> Iterable[Path]:
    """``root`` and every folder below it."""
    yield root
    yield from (path for path in root.rglob("*") if path.is_dir())


def release_homework(homework: Homework, out_dir: str | Path) -> list[Path]:
    """Write the student release of ``homework`` to ``out_dir/<name>/``; return the files written.

    Nothing is written unless the whole release passed every check (see :func:`plan_release`).
    """
    return write_release(plan_release(homework), out_dir)
