"""Shared helpers of the migration-tool tests: notebook builders, bad inputs, tool runners."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEMINARS = ROOT / "seminars"
ARCHIVE = (SEMINARS / "old_01_seminar_torch_mlp.ipynb", SEMINARS / "old_02_seminar_autograd.ipynb")
if str(SEMINARS) not in sys.path:
    sys.path.insert(0, str(SEMINARS))

#: Inputs every tool must refuse with exit 2: name -> file content (None: the file is missing).
BAD_INPUTS: dict[str, str | None] = {
    "missing": None,
    "invalid-json": '{"cells": [ {"cell_type": "code",',
    "json-list": "[1, 2, 3]",
    "not-a-notebook": '{"name": "package.json", "version": "1.0"}',
    "unknown-version": '{"nbformat": 5, "nbformat_minor": 0, "metadata": {}, "cells": []}',
    "empty-file": "",
}


def code(source: str, *, outputs: list | None = None, count: int | None = None, **extra: object) -> dict:
    """A v4 code cell (no id; add ``id=...`` through ``extra``)."""
    return {"cell_type": "code", "execution_count": count, "metadata": {}, "outputs": outputs or [], "source": source, **extra}


def md(source: str, **extra: object) -> dict:
    """A v4 Markdown cell."""
    return {"cell_type": "markdown", "metadata": {}, "source": source, **extra}


def notebook(cells: Sequence[dict], *, minor: int = 4, language: str = "python", metadata: dict | None = None) -> dict:
    """A v4 notebook dict; cells of a 4.5 notebook get ids ``c0``, ``c1``, ... unless they have one."""
    if language == "python":
        kernelspec = {"display_name": "Python 3", "language": "python", "name": "python3"}
    else:
        kernelspec = {"display_name": language, "language": language, "name": language.lower()}
    cells = [dict(cell) for cell in cells]
    if minor >= 5:
        for index, cell in enumerate(cells):
            cell.setdefault("id", f"c{index}")
    meta = {"kernelspec": kernelspec, "language_info": {"name": language}}
    meta.update(metadata or {})
    return {"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": minor}


def v3_notebook(title: str, sources: Iterable[str]) -> dict:
    """An nbformat v3 notebook: a heading cell, then one code cell per source."""
    cells: list[dict] = [{"cell_type": "heading", "level": 1, "metadata": {}, "source": title}]
    for number, source in enumerate(sources, start=1):
        cells.append({"cell_type": "code", "collapsed": False, "input": source, "language": "python",
                      "metadata": {}, "outputs": [], "prompt_number": number})
    return {"metadata": {"name": title}, "nbformat": 3, "nbformat_minor": 0,
            "worksheets": [{"cells": cells, "metadata": {}}]}


def stateless_widgets() -> dict:
    """Widget metadata as Colab saves it: models directly under the mimetype, no 'state' key."""
    return {"application/vnd.jupyter.widget-state+json": {
        "0123456789abcdef0123456789abcdef": {"model_module": "@jupyter-widgets/controls",
                                             "model_name": "HBoxModel", "state": {"children": []}}}}


def write_json(path: Path, data: object, indent: int = 1) -> Path:
    """Write ``data`` as JSON (UTF-8) and return ``path``."""
    path.write_text(json.dumps(data, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_bad(path: Path, kind: str) -> Path:
    """Create the bad input ``kind`` (see :data:`BAD_INPUTS`) at ``path``."""
    content = BAD_INPUTS[kind]
    if content is not None:
        path.write_text(content, encoding="utf-8")
    return path


def snapshot(paths: Iterable[Path]) -> dict[Path, bytes | None]:
    """Return the bytes of each path (None for a missing file)."""
    return {path: path.read_bytes() if path.exists() else None for path in paths}


def run_tool(script: str, *args: str | Path, cwd: Path | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run ``seminars/<script>`` with the test interpreter, as the Makefile and CI do."""
    command = [sys.executable, str(SEMINARS / script), *map(str, args)]
    return subprocess.run(command, cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout, check=False)


def call_main(main: Callable[[Sequence[str] | None], int], *args: str | Path) -> int:
    """Call a tool's ``main`` in-process through ``nbio.run_cli`` (same exit codes as the CLI)."""
    from nbio import run_cli

    return run_cli(main, [str(arg) for arg in args])


def assert_one_line_error(stderr: str, path: Path) -> None:
    """The agreed error format: one line, naming the file, no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert str(path) in lines[0], stderr
    assert "Traceback" not in stderr


def _malformed(change: Callable[[dict], None]) -> dict:
    """A small valid 4.4 notebook (a Markdown and a code cell) with one part broken by ``change``."""
    data = notebook([md("# Заголовок"), code("x = 1")])
    change(data)
    return data


#: Notebooks whose metadata (or another typed field) has the wrong type: every tool must answer
#: with one line and exit 2, or normalise them; never a traceback.
MALFORMED_METADATA: dict[str, dict] = {
    "kernelspec-is-a-string": _malformed(lambda d: d["metadata"].__setitem__("kernelspec", "python3")),
    "kernelspec-is-a-list": _malformed(lambda d: d["metadata"].__setitem__("kernelspec", ["python3"])),
    "kernelspec-without-name": _malformed(lambda d: d["metadata"].__setitem__("kernelspec", {"language": "python"})),
    "kernelspec-language-is-a-number": _malformed(lambda d: d["metadata"]["kernelspec"].__setitem__("language", 3)),
    "language-info-is-a-string": _malformed(lambda d: d["metadata"].__setitem__("language_info", "python")),
    "metadata-is-a-list": _malformed(lambda d: d.__setitem__("metadata", [])),
    "metadata-is-null": _malformed(lambda d: d.__setitem__("metadata", None)),
    "widgets-is-a-string": _malformed(lambda d: d["metadata"].__setitem__("widgets", "state")),
    "cell-metadata-is-a-string": _malformed(lambda d: d["cells"][1].__setitem__("metadata", "tags")),
    "cell-tags-is-a-string": _malformed(lambda d: d["cells"][1]["metadata"].__setitem__("tags", "skip")),
    "attachments-is-a-list": _malformed(lambda d: d["cells"][0].__setitem__("attachments", ["image.png"])),
    "nbformat-minor-is-a-string": _malformed(lambda d: d.__setitem__("nbformat_minor", "4")),
    "outputs-is-a-string": _malformed(lambda d: d["cells"][1].__setitem__("outputs", "4")),
}
