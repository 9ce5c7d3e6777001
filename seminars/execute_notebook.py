"""Execute a notebook in a fresh kernel and export it (executed ``.ipynb`` + ``.html``).

``make seminar`` calls this on the seminar; the tests call :func:`execute` to run the
notebook once and inspect what it computed.

Usage::

    python seminars/execute_notebook.py NB.ipynb [--out-dir build] [--timeout 600] [--no-html]

Exit codes: 0 ok, 1 a cell failed (the failing cell is named), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat
from nbformat import NotebookNode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbio import EXIT_CHECK_FAILED, EXIT_OK, read_notebook, run_cli, write_text_atomic  # noqa: E402
from nbio import dumps as dumps_notebook  # noqa: E402

_ANSI = re.compile(r"\x1b\[[0-9;]*m")

#: Appended (only in tests) after the last cell: prints every JSON-serialisable global.
PROBE_MARKER = "__NOTEBOOK_PROBE__"
_PROBE_SOURCE = f"""
def __probe() -> None:
    import json as _json
    import numbers as _numbers
    out = {{}}
    for _name, _value in list(globals().items()):
        if _name.startswith("_"):
            continue
        if hasattr(_value, "item") and getattr(_value, "ndim", None) == 0:
            _value = _value.item()
        if isinstance(_value, _numbers.Number) and not isinstance(_value, bool):
            _value = float(_value) if not isinstance(_value, int) else _value
        try:
            text = _json.dumps(_value)
        except (TypeError, ValueError):
            continue
        if len(text) <= 100_000:
            out[_name] = _value
    print({PROBE_MARKER!r} + _json.dumps(out))
__probe()
del __probe
"""


class CellExecutionFailed(Exception):
    """A cell raised during execution; ``str()`` names the cell and the error."""


@dataclass
class ExecutionResult:
    """The outcome of one notebook execution.

    ``notebook`` holds the executed cells with their outputs (the probe cell removed);
    ``namespace`` the JSON-serialisable globals at the end of the run (numbers, strings, lists
    and dicts of them, 0-d tensors/arrays as numbers), when the run was probed;
    ``cell_seconds`` the wall time of each cell, in notebook order.
    """

    notebook: NotebookNode
    namespace: dict = field(default_factory=dict)
    cell_seconds: list[float] = field(default_factory=list)
    total_seconds: float = 0.0

    def text_output(self, index: int) -> str:
        """Return the concatenated stream and plain-text outputs of cell ``index``."""
        parts: list[str] = []
        for output in self.notebook.cells[index].get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output.get("text", ""))
            elif "data" in output:
                parts.append(output["data"].get("text/plain", ""))
        return "".join(parts)

    def seconds_between(self, start_heading: str, end_heading: str | None = None) -> float:
        """Wall time of the cells from the markdown cell that starts with ``start_heading``
        up to (not including) the one that starts with ``end_heading`` (or the end)."""
        start = end = None
        for index, cell in enumerate(self.notebook.cells):
            if cell.cell_type != "markdown":
                continue
            if start is None and cell.source.startswith(start_heading):
                start = index
            elif start is not None and end_heading and cell.source.startswith(end_heading):
                end = index
                break
        if start is None:
            raise KeyError(f"no markdown cell starts with {start_heading!r}")
        return sum(self.cell_seconds[start:end])


def _cell_seconds(cell: NotebookNode) -> float:
    """Return a code cell's execution time from nbclient's timing metadata (0 if absent)."""
    timing = cell.get("metadata", {}).get("execution", {})
    begin, finish = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not begin or not finish:
        return 0.0
    parse = lambda stamp: datetime.fromisoformat(stamp.replace("Z", "+00:00"))  # noqa: E731
    return (parse(finish) - parse(begin)).total_seconds()


def execute(
    nb: NotebookNode,
    *,
    cwd: str | Path | None = None,
    timeout: int = 600,
    probe: bool = False,
    kernel_name: str = "python3",
) -> ExecutionResult:
    """Execute ``nb`` (a copy) top to bottom in a fresh kernel.

    ``timeout`` is per cell. With ``probe=True`` a last cell collects the JSON-serialisable
    globals into :attr:`ExecutionResult.namespace` and is removed afterwards. Raises
    :class:`CellExecutionFailed` naming the first failing cell.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    work = nbformat.from_dict(json.loads(json.dumps(nb)))
    if probe:
        work.cells.append(nbformat.v4.new_code_cell(_PROBE_SOURCE, id="notebook-probe"))
    client = NotebookClient(
        work,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(cwd or Path.cwd())}},
        record_timing=True,
    )
    started = time.perf_counter()
    try:
        # The kernel process's own stderr carries only start-up chatter (e.g. ipykernel's
        # transport warning); cell output travels over the kernel protocol and is kept.
        client.execute(stderr=subprocess.DEVNULL)
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        failing = next(
            (i for i, c in enumerate(work.cells) if any(o.get("output_type") == "error" for o in c.get("outputs", []))),
            None,
        )
        where = f"cell {failing}" if failing is not None else "a cell"
        summary = _ANSI.sub("", str(exc)).strip().splitlines()
        raise CellExecutionFailed(f"{where} failed: {summary[-1] if summary else type(exc).__name__}") from exc
    total = time.perf_counter() - started
    namespace: dict = {}
    if probe:
        probe_cell = work.cells.pop()
        text = "".join(o.get("text", "") for o in probe_cell.outputs if o.get("output_type") == "stream")
        payload = text[text.index(PROBE_MARKER) + len(PROBE_MARKER) :].strip()
        namespace = json.loads(payload)
    seconds = [_cell_seconds(cell) for cell in work.cells]
    return ExecutionResult(notebook=work, namespace=namespace, cell_seconds=seconds, total_seconds=total)


def export_html(nb: NotebookNode) -> str:
    """Render an executed notebook to standalone HTML with nbconvert."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    return body


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--out-dir", type=Path, default=Path("build"))
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML export")
    args = parser.parse_args(argv)

    nb = read_notebook(args.notebook)
    print(f"Executing {args.notebook} in a fresh kernel ...", flush=True)
    try:
        result = execute(nb, cwd=args.notebook.resolve().parent, timeout=args.timeout)
    except CellExecutionFailed as exc:
        print(f"{args.notebook}: {exc}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    out_nb = args.out_dir / args.notebook.name
    write_text_atomic(out_nb, dumps_notebook(result.notebook))
    print(f"Executed notebook: {out_nb}")
    if not args.no_html:
        out_html = out_nb.with_suffix(".html")
        write_text_atomic(out_html, export_html(result.notebook))
        print(f"HTML:              {out_html}")
    print(f"Execution took {result.total_seconds:.1f} s ({len(nb.cells)} cells).")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(run_cli(main))
