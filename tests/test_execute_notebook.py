"""Tests of ``seminars/execute_notebook.py`` (what ``make seminar`` runs) on small notebooks.

Each kind of real-world input gets its own small notebook here: ids an editor broke, a kernel
that dies, a cell that runs past the limit, a multi-line coloured exception, a non-Python or
malformed notebook, ``MPLBACKEND=Agg`` in the environment and a progress bar.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "seminars" / "execute_notebook.py"
sys.path.insert(0, str(ROOT / "seminars"))

from execute_notebook import (  # noqa: E402
    CellExecutionFailed,
    collapse_streams,
    execute,
    kernel_environment,
    resolve_overwrites,
)

ESC = "\x1b"


def run_tool(*args: str | Path, env: dict[str, str] | None = None, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    """Run the executor as a user would."""
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def write_json(path: Path, cells: list[dict], metadata: dict | None = None, minor: int = 5) -> Path:
    """Write notebook JSON exactly as given (no nbformat repairs on the way)."""
    data = {"cells": cells, "metadata": metadata if metadata is not None else {}, "nbformat": 4, "nbformat_minor": minor}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def code(source: str, **extra: object) -> dict:
    """A code cell dict with no outputs (``extra`` adds keys such as ``id`` or ``outputs``)."""
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source, **extra}


def write(path: Path, *sources: str) -> Path:
    """Write a notebook with one code cell per source (a heading cell first)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Заголовок")] + [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def test_cli_writes_executed_notebook_and_html(tmp_path: Path) -> None:
    nb = write(tmp_path / "demo.ipynb", "import time\nanswer = 6 * 7\nprint('ответ', answer)")
    before = nb.read_bytes()
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(TOOL), str(nb), "--out-dir", str(out)], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    executed = json.loads((out / "demo.ipynb").read_text(encoding="utf-8"))
    assert "ответ 42" in "".join(executed["cells"][1]["outputs"][0]["text"])
    html = (out / "demo.html").read_text(encoding="utf-8")
    assert "ответ 42" in html and "<html" in html
    assert str(out / "demo.ipynb") in result.stdout and str(out / "demo.html") in result.stdout
    assert "Execution took" in result.stdout
    assert nb.read_bytes() == before, "the source notebook is never modified"


def test_cli_reports_failing_cell_type_and_message_lines_without_escape_codes(tmp_path: Path) -> None:
    message = "первая строка\\nвторая строка\\n\\x1b[31mкрасная\\x1b[0m строка"
    nb = write(tmp_path / "broken.ipynb", "x = 1", f"raise ValueError('{message}')")
    out = tmp_path / "out"
    result = run_tool(nb, "--out-dir", out, "--no-html")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{nb}: cell 2 failed (id ") and lines[0].endswith("): ValueError: первая строка")
    assert lines[1:] == ["    вторая строка", "    красная строка"]
    assert ESC not in result.stderr + result.stdout
    assert not (out / "broken.ipynb").exists()


def test_long_exception_message_keeps_its_first_lines(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("raise RuntimeError('\\n'.join(f'строка {i}' for i in range(20)))")]
    with pytest.raises(CellExecutionFailed) as info:
        execute(nb, cwd=tmp_path, timeout=60)
    lines = str(info.value).splitlines()
    assert info.value.kind == "error" and info.value.cell_index == 0
    assert lines[0].startswith("cell 0 failed (id ") and lines[0].endswith("): RuntimeError: строка 0")
    assert lines[1:8] == [f"    строка {i}" for i in range(1, 8)]
    assert lines[8] == "    ... (12 more lines of the message)"


def test_dead_kernel_names_the_running_cell_not_a_stale_saved_error(tmp_path: Path) -> None:
    stale_error = {"output_type": "error", "ename": "OldError", "evalue": "from an earlier run", "traceback": []}
    path = write_json(
        tmp_path / "killed.ipynb",
        [
            code("  \n", id="blank", outputs=[stale_error], execution_count=1),  # nbclient does not run blank cells
            code("print('start')", id="c0"),
            code("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", id="c1"),
            code("print('after')", id="c2", outputs=[stale_error], execution_count=3),
        ],
    )
    result = run_tool(path, "--out-dir", tmp_path / "out", "--no-html")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{path}: cell 2 (id 'c1': import os, signal): the kernel died while running it (killed by SIGKILL); "
        "SIGKILL often means the system ran out of memory"
    ]


def test_blank_cells_lose_stale_outputs_as_in_jupyter(tmp_path: Path) -> None:
    stale = {"output_type": "stream", "name": "stdout", "text": "old output\n"}
    nb = nbformat.from_dict(
        {"cells": [code("", id="blank", outputs=[stale], execution_count=4)], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    )
    cell = execute(nb, cwd=tmp_path, timeout=60).notebook.cells[0]
    assert cell.outputs == [] and cell.execution_count is None


def test_timeout_says_timed_out_which_cell_and_the_limit(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", id="fast"), nbformat.v4.new_code_cell("import time\ntime.sleep(60)", id="slow")]
    with pytest.raises(CellExecutionFailed) as info:
        execute(nb, cwd=tmp_path, timeout=1)
    assert info.value.kind == "timeout" and info.value.cell_index == 1
    assert str(info.value) == "cell 1 timed out (id 'slow': import time): still running after 1 s (the per-cell time limit)"


def test_cli_repairs_duplicate_and_missing_ids_into_a_valid_notebook(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "ids.ipynb",
        [
            {"cell_type": "markdown", "id": "1", "metadata": {}, "source": "# Заголовок"},
            code("print(1 + 1)", id="1"),
            code("y = 2"),
        ],
    )
    before = path.read_bytes()
    outputs = []
    for run in range(2):
        out = tmp_path / f"out{run}"
        result = run_tool(path, "--out-dir", out, "--no-html")
        assert result.returncode == 0, result.stderr
        outputs.append(json.loads((out / "ids.ipynb").read_text(encoding="utf-8")))
    executed = nbformat.from_dict(outputs[0])
    nbformat.validate(copy.deepcopy(executed))
    ids = [cell["id"] for cell in executed.cells]
    assert ids[0] == "1" and len(set(ids)) == 3 and executed.nbformat_minor == 5
    assert ids == [cell["id"] for cell in outputs[1]["cells"]], "repaired ids are deterministic"
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"kernelspec": {"name": "ir", "display_name": "R", "language": "R"}}, "kernel language is 'r', not Python"),
        ({"kernelspec": "python3"}, "malformed metadata: 'metadata.kernelspec' is str 'python3', expected an object"),
        ({"language_info": ["python"]}, "malformed metadata: 'metadata.language_info' is list"),
        ({"kernelspec": {"name": "python3"}}, "invalid notebook: 'display_name' is a required property (at metadata/kernelspec)"),
    ],
)
def test_cli_refuses_non_python_and_malformed_metadata_with_one_line(tmp_path: Path, metadata: dict, expected: str) -> None:
    path = write_json(tmp_path / "odd.ipynb", [code("print(1)", id="a")], metadata)
    result = run_tool(path, "--out-dir", tmp_path / "out", timeout=60)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(f"{path}: {expected}")
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_cli_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    nb = write(tmp_path / "demo.ipynb", "x = 1")
    before = nb.read_bytes()
    result = run_tool(nb, "--out-dir", tmp_path, timeout=60)
    assert result.returncode == 2 and "is the input notebook itself" in result.stderr
    assert nb.read_bytes() == before


def test_figures_and_progress_bars_survive_mplbackend_agg(tmp_path: Path) -> None:
    nb = write(
        tmp_path / "plot.ipynb",
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('loss')\nplt.show()",
        "from tqdm import tqdm\nfor _ in tqdm(range(40), mininterval=0, ncols=60):\n    pass",
    )
    out = tmp_path / "out"
    result = run_tool(nb, "--out-dir", out, env={**os.environ, "MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stderr
    executed = json.loads((out / "plot.ipynb").read_text(encoding="utf-8"))
    figures = [o for o in executed["cells"][1]["outputs"] if "image/png" in o.get("data", {})]
    assert len(figures) == 1
    assert "data:image/png;base64," in (out / "plot.html").read_text(encoding="utf-8")
    bar = [o for o in executed["cells"][2]["outputs"] if o["output_type"] == "stream"]
    text = "".join("".join(o["text"]) for o in bar)
    assert len(bar) == 1 and "\r" not in text and text.count("40/40") == 1 and "39/40" not in text


def test_kernel_environment_drops_only_mplbackend() -> None:
    assert kernel_environment({"MPLBACKEND": "Agg", "PATH": "/bin"}) == {"PATH": "/bin"}


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("10%\r20%\r100%\n", "100%\n"),  # a progress bar: only the final state
        ("abcdef\rXY", "XYcdef"),  # a shorter overwrite leaves the rest of the line
        ("line\r\nnext", "line\nnext"),  # CR LF is a newline
        ("ab\x08c", "ac"),  # backspace erases one character
        ("a\n\x08b", "a\n\x08b"),  # but never a newline
        ("state 1\rstate 2\r", "state 2"),
        ("one\ntwo\rTWO\nthree", "one\nTWO\nthree"),
    ],
)
def test_resolve_overwrites_as_jupyter_shows_streams(text: str, shown: str) -> None:
    assert resolve_overwrites(text) == shown


def test_collapse_streams_joins_only_adjacent_pieces_of_one_stream() -> None:
    stream = lambda name, text: nbformat.v4.new_output("stream", name=name, text=text)  # noqa: E731
    figure = nbformat.v4.new_output("display_data", data={"text/plain": "<Figure>"})
    outputs = [stream("stdout", "ab"), stream("stdout", "\rc\n"), figure, stream("stderr", "\r 50%"), stream("stderr", "\r100%"), stream("stdout", "end\n")]
    collapsed = collapse_streams(outputs)
    assert [(o.output_type, o.get("name"), o.get("text")) for o in collapsed] == [
        ("stream", "stdout", "cb\n"),
        ("display_data", None, None),
        ("stream", "stderr", "100%"),
        ("stream", "stdout", "end\n"),
    ]
    assert outputs[0].text == "ab", "the input outputs are not modified"


def test_cli_bad_input_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ipynb"
    bad.write_text("not json", encoding="utf-8")
    result = subprocess.run([sys.executable, str(TOOL), str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.startswith(f"{bad}: not valid JSON")


def test_probe_collects_globals_and_timings(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("## A"),
        nbformat.v4.new_code_cell("import torch, time\nratio = torch.tensor(2.5)\nname = 'x'\ntable = {'a': [1, 2]}\nmodel = object()"),
        nbformat.v4.new_markdown_cell("## B"),
        nbformat.v4.new_code_cell("time.sleep(0.3)"),
    ]
    result = execute(nb, cwd=tmp_path, timeout=120, probe=True)
    assert result.namespace["ratio"] == pytest.approx(2.5)
    assert result.namespace["name"] == "x" and result.namespace["table"] == {"a": [1, 2]}
    assert "model" not in result.namespace
    assert len(result.notebook.cells) == 4, "the probe cell is removed"
    assert result.seconds_between("## B") >= 0.3
    assert result.seconds_between("## A", "## B") < result.total_seconds


def test_execute_raises_naming_the_cell(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("1 / 0", id="div")]
    with pytest.raises(CellExecutionFailed, match=r"^cell 0 failed \(id 'div': 1 / 0\): ZeroDivisionError: division by zero$"):
        execute(nb, cwd=tmp_path, timeout=60)


def test_a_kernel_that_cannot_start_is_one_line(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    with pytest.raises(CellExecutionFailed) as info:
        execute(nb, cwd=tmp_path, timeout=60, kernel_name="no-such-kernel-for-the-tests")
    assert str(info.value) == "the kernel could not start: no kernel named 'no-such-kernel-for-the-tests' is installed"
    assert info.value.kind == "kernel-start" and info.value.cell_index is None
