"""Execute a notebook in a fresh kernel and export it (executed ``.ipynb`` + ``.html``).

``make seminar`` calls this on the seminar; the tests call :func:`execute` to run the
notebook once and inspect what it computed.

Usage::

    python seminars/execute_notebook.py NB.ipynb [--out-dir build] [--timeout 600] [--no-html]

What it guarantees:

* the input must be a Python notebook with well-formed metadata; cell ids are repaired
  deterministically and the notebook is schema-validated *before* anything runs, and the
  executed notebook is written through the same path (``nbio.write_notebook``), so the
  output is always a valid notebook;
* a failure names the cell that was running (index, id, first line of its code) and says what
  happened, from nbclient's own exceptions: the exception type and the first lines of its
  message, a timeout with its limit, or a kernel that died (with the signal that killed it);
  nothing printed carries terminal escape codes;
* the kernel runs with matplotlib's inline backend even when ``MPLBACKEND`` is set in the
  caller's environment (headless machines and CI set ``Agg``, which would silently drop
  every figure), so figures land in the executed notebook and the HTML;
* stream outputs are saved as Jupyter's front end shows them: consecutive pieces of one
  stream are joined and carriage returns / backspaces are applied, so a progress bar is
  saved as its final state, not as dozens of intermediate ones.

Exit codes: 0 ok, 1 a cell failed (the failing cell is named), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbio import (  # noqa: E402
    EXIT_CHECK_FAILED,
    EXIT_OK,
    NotebookError,
    ensure_valid,
    read_notebook,
    require_python,
    run_cli,
    terminal_safe,
    write_notebook,
    write_text_atomic,
)

#: How many lines of an exception's message a failure report keeps.
MESSAGE_LINES = 8

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
    """The notebook did not run to the end; ``str()`` names the cell and says what happened.

    ``cell_index`` is the index in ``notebook.cells`` of the cell that was running (``None``
    when the kernel failed before any cell ran); ``kind`` is ``"error"`` (the cell raised),
    ``"timeout"``, ``"dead-kernel"`` or ``"kernel-start"``. The message holds no terminal
    escape codes; its first line is the summary, further lines (if any) continue an
    exception's message.
    """

    def __init__(self, message: str, *, kind: str, cell_index: int | None) -> None:
        super().__init__(terminal_safe(message).rstrip())
        self.kind = kind
        self.cell_index = cell_index


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


def resolve_overwrites(text: str) -> str:
    """Apply backspaces and carriage returns the way Jupyter's front end displays a stream.

    A backspace erases the character before it (never a newline); ``\\r\\n`` is a newline;
    a lone ``\\r`` returns to the start of the line, and the text after it overwrites the line
    from its first column, character by character (a shorter overwrite leaves the rest of the
    line visible, as on a terminal). JupyterLab applies the same rules when it appends stream
    output (``@jupyterlab/outputarea``, ``removeOverwrittenChars``). A progress bar that
    redraws itself with ``\\r`` thus keeps only its final state.
    """
    while True:
        shorter = re.sub(r"[^\n]\x08", "", text)
        if shorter == text:
            break
        text = shorter
    text = re.sub(r"\r+\n", "\n", text)
    lines = []
    for line in text.split("\n"):
        shown = ""
        for piece in line.split("\r"):
            shown = piece + shown[len(piece) :]
        lines.append(shown)
    return "\n".join(lines)


def collapse_streams(outputs: list[NotebookNode]) -> list[NotebookNode]:
    """Return ``outputs`` with consecutive same-name stream outputs joined and overwrites applied.

    Only *adjacent* pieces of the same stream (``stdout`` or ``stderr``) are joined, as
    Jupyter's front end does; a figure or another stream in between keeps its place. (nbclient's
    ``coalesce_streams`` joins every piece of a stream across the whole cell and moves stdout
    before stderr, which changes the order the reader sees; it is not used.)
    """
    joined: list[NotebookNode] = []
    for output in outputs:
        if output.get("output_type") == "stream":
            previous = joined[-1] if joined else None
            if previous is not None and previous.get("output_type") == "stream" and previous.get("name") == output.get("name"):
                previous["text"] += output.get("text", "")
                continue
            output = nbformat.from_dict({**output, "text": output.get("text", "")})
        joined.append(output)
    for output in joined:
        if output.get("output_type") == "stream":
            output["text"] = resolve_overwrites(output["text"])
    return joined


def kernel_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Return the environment for the kernel process: ``base`` (default ``os.environ``) without
    ``MPLBACKEND``.

    ipykernel selects matplotlib's inline backend only when ``MPLBACKEND`` is unset
    (``ipykernel.kernelapp.IPKernelApp.init_gui_pylab``); a value such as ``Agg``, common on
    headless machines and CI, would make every figure vanish from the executed notebook.
    """
    env = dict(os.environ if base is None else base)
    env.pop("MPLBACKEND", None)
    return env


def describe_cell(nb: NotebookNode, index: int | None, *, probe_index: int | None = None) -> tuple[str, str]:
    """Name a cell for an error message: ``("cell 3", "(id 'c1': first line of its code)")``.

    The two parts let messages keep the ``cell N failed`` / ``cell N timed out`` prefix that
    scripts match on, with the details after it.
    """
    if index is None:
        return "the kernel", "(before any cell ran)"
    if index == probe_index:
        return f"cell {index}", "(the probe appended after the last cell)"
    cell = nb.cells[index]
    first = next((line.strip() for line in str(cell.get("source", "")).splitlines() if line.strip()), "")
    if len(first) > 60:
        first = first[:57] + "..."
    label = f"id {cell.get('id')!r}" if cell.get("id") else "no id"
    return f"cell {index}", f"({label}" + (f": {first})" if first else ")")


def _exception_summary(ename: str, evalue: str) -> str:
    """Return ``Type: message`` with the first :data:`MESSAGE_LINES` lines of the message."""
    lines = terminal_safe(evalue or "").strip("\n").splitlines() or [""]
    head = f"{ename}: {lines[0]}" if lines[0] else ename
    rest = [f"    {line}" for line in lines[1:MESSAGE_LINES]]
    if len(lines) > MESSAGE_LINES:
        rest.append(f"    ... ({len(lines) - MESSAGE_LINES} more lines of the message)")
    return "\n".join([head, *rest])


def _exit_status(process: Any) -> str:
    """Describe how the kernel process ended (``killed by SIGKILL``), or ``""`` if unknown."""
    code = process.poll() if process is not None and hasattr(process, "poll") else None
    if code is None:
        return ""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def execute(
    nb: NotebookNode,
    *,
    cwd: str | Path | None = None,
    timeout: int = 600,
    probe: bool = False,
    kernel_name: str = "python3",
) -> ExecutionResult:
    """Execute ``nb`` (a copy) top to bottom in a fresh kernel.

    ``timeout`` is per cell, in seconds. With ``probe=True`` a last cell collects the
    JSON-serialisable globals into :attr:`ExecutionResult.namespace` and is removed afterwards.
    The kernel gets matplotlib's inline backend whatever ``MPLBACKEND`` says
    (:func:`kernel_environment`), and stream outputs are collapsed as Jupyter shows them
    (:func:`collapse_streams`); a blank code cell loses any saved outputs, as in Jupyter.

    Raises :class:`CellExecutionFailed` naming the cell that was running when the cell
    raised, timed out or the kernel died (taken from nbclient's ``on_cell_execute`` hook, not
    from saved outputs, which may hold stale errors), and :class:`nbio.NotebookError` if
    ``nb`` is not a Python notebook or its metadata is malformed.
    """
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    require_python(nb, "<notebook>")
    work = nbformat.from_dict(json.loads(json.dumps(nb)))
    probe_index = None
    if probe:
        probe_index = len(work.cells)
        work.cells.append(nbformat.v4.new_code_cell(_PROBE_SOURCE, id="notebook-probe"))
    running: dict[str, Any] = {"index": None, "process": None}
    client: NotebookClient

    def on_cell_execute(cell: NotebookNode, cell_index: int) -> None:
        """nbclient hook: remember which cell is about to run and the kernel's process."""
        running["index"] = cell_index
        provisioner = getattr(client.km, "provisioner", None)
        running["process"] = getattr(provisioner, "process", None)

    client = NotebookClient(
        work,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(cwd or Path.cwd())}},
        record_timing=True,
        on_cell_execute=on_cell_execute,
    )
    started = time.perf_counter()
    try:
        # The kernel process's own stderr carries only start-up chatter (e.g. ipykernel's
        # transport warning); cell output travels over the kernel protocol and is kept.
        client.execute(stderr=subprocess.DEVNULL, env=kernel_environment())
    except CellTimeoutError as exc:
        head, detail = describe_cell(work, running["index"], probe_index=probe_index)
        raise CellExecutionFailed(
            f"{head} timed out {detail}: still running after {timeout} s (the per-cell time limit)",
            kind="timeout",
            cell_index=running["index"],
        ) from exc
    except DeadKernelError as exc:
        head, detail = describe_cell(work, running["index"], probe_index=probe_index)
        status = _exit_status(running["process"])
        how = f" ({status})" if status else ""
        if status == "killed by SIGKILL":
            how += "; SIGKILL often means the system ran out of memory"
        raise CellExecutionFailed(
            f"{head} {detail}: the kernel died while running it{how}",
            kind="dead-kernel",
            cell_index=running["index"],
        ) from exc
    except CellExecutionError as exc:
        head, detail = describe_cell(work, running["index"], probe_index=probe_index)
        raise CellExecutionFailed(
            f"{head} failed {detail}: {_exception_summary(exc.ename, exc.evalue)}", kind="error", cell_index=running["index"]
        ) from exc
    except (NoSuchKernel, RuntimeError, TimeoutError) as exc:
        if running["index"] is not None:
            raise
        message = f"no kernel named {kernel_name!r} is installed" if isinstance(exc, NoSuchKernel) else f"{type(exc).__name__}: {exc}"
        raise CellExecutionFailed(f"the kernel could not start: {message}", kind="kernel-start", cell_index=None) from exc
    total = time.perf_counter() - started
    namespace: dict = {}
    if probe:
        probe_cell = work.cells.pop()
        text = "".join(o.get("text", "") for o in probe_cell.outputs if o.get("output_type") == "stream")
        payload = text[text.index(PROBE_MARKER) + len(PROBE_MARKER) :].strip()
        namespace = json.loads(payload)
    for cell in work.cells:
        if cell.cell_type != "code":
            continue
        if not cell.source.strip():
            # nbclient skips blank cells and leaves their saved outputs; Jupyter clears them.
            cell.outputs, cell.execution_count = [], None
        cell.outputs = collapse_streams(cell.get("outputs", []))
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
    if args.timeout <= 0:
        parser.error(f"--timeout must be a positive number of seconds, not {args.timeout}")

    nb = read_notebook(args.notebook)
    require_python(nb, args.notebook)
    ensure_valid(nb, args.notebook)  # ids repaired, schema checked: bad input fails before anything runs
    out_nb = args.out_dir / args.notebook.name
    if out_nb.resolve() == args.notebook.resolve():
        raise NotebookError(out_nb, "is the input notebook itself; choose another --out-dir")
    print(f"Executing {terminal_safe(str(args.notebook))} in a fresh kernel ...", flush=True)
    try:
        result = execute(nb, cwd=args.notebook.resolve().parent, timeout=args.timeout)
    except CellExecutionFailed as exc:
        hint = "; raise it with --timeout SECONDS" if exc.kind == "timeout" else ""
        print(f"{terminal_safe(str(args.notebook))}: {exc}{hint}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    write_notebook(result.notebook, out_nb)
    print(f"Executed notebook: {terminal_safe(str(out_nb))}")
    if not args.no_html:
        out_html = out_nb.with_suffix(".html")
        write_text_atomic(out_html, export_html(result.notebook))
        print(f"HTML:              {terminal_safe(str(out_html))}")
    print(f"Execution took {result.total_seconds:.1f} s ({len(nb.cells)} cells).")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(run_cli(main))
