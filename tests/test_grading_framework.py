"""Tests of the shared homework grading framework (``homeworks/grading``, ``grade.py``, ``release.py``).

They build toy homeworks in temporary folders (graders that do not import torch, so each
grading run costs well under a second plus the deliberate timeouts) and drive the two
command-line tools the way an instructor does, through ``--root``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
HOMEWORKS = REPO / "homeworks"

_ADDED = str(HOMEWORKS) not in sys.path
if _ADDED:
    sys.path.insert(0, str(HOMEWORKS))
from grading import (  # noqa: E402
    HomeworkError,
    assert_no_aten_ops,
    calls_in,
    load_homework,
    record_aten_ops,
    strip_notebook_text,
    strip_solutions,
)

if _ADDED:
    sys.path.remove(str(HOMEWORKS))

TOY_SOURCE = '''\
"""Toy homework."""


def add(a, b):
    """Sum."""
    ### BEGIN SOLUTION
    return a + b
    ### END SOLUTION


def mul(a, b):
    ### BEGIN SOLUTION
    return a * b
    ### END SOLUTION
'''

TOY_GRADER = '''\
import pytest


@pytest.mark.points(0.25)
def test_add(submission):
    assert submission.add(2, 3) == 5


@pytest.mark.points(0.25)
def test_mul(submission):
    assert submission.mul(2, 3) == 6, "mul(2, 3) должно быть 6"


@pytest.mark.points(0.125)
@pytest.mark.parametrize("x", [1, -1])
def test_param(submission, x):
    assert submission.add(x, 0) == x


@pytest.mark.points(0.25)
def test_fixtures(submission_dir, homework):
    assert (submission_dir / "toy.py").is_file()
    assert homework.module == "toy" and homework.max_score == 1.0
'''


def make_homework(root: Path, name: str = "toy", *, source: str = TOY_SOURCE, grader: str = TOY_GRADER,
                  config: dict[str, Any] | None = None, extra: dict[str, str] | None = None) -> Path:
    """Write a toy homework ``root/name`` and return its folder."""
    folder = root / name
    (folder / "grader").mkdir(parents=True)
    (folder / "toy.py").write_text(source, encoding="utf-8")
    (folder / "README.md").write_text("# Задание\n\nСложите числа.\n", encoding="utf-8")
    (folder / "grader" / "test_toy.py").write_text(grader, encoding="utf-8")
    settings: dict[str, Any] = {
        "title": "Игрушечное задание", "max_score": 1.0, "files": ["README.md", "toy.py"],
        "timeout_per_test_s": 1, "memory_mb": 1024,
    }
    for relative, text in (extra or {}).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        settings["files"].append(relative)
    settings.update(config or {})
    (folder / "homework.json").write_text(json.dumps(settings, ensure_ascii=False), encoding="utf-8")
    return folder


def submit(root: Path, name: str, source: str) -> Path:
    """A submission folder holding ``toy.py`` with ``source``."""
    folder = root / name
    folder.mkdir()
    (folder / "toy.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return folder


def run_tool(tool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``homeworks/<tool>.py`` with ``args``."""
    return subprocess.run([sys.executable, str(HOMEWORKS / f"{tool}.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)


def grade(root: Path, submission: Path, homework: str = "toy", json_out: Path | None = None
          ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    """Grade with the CLI; return the process and the parsed results JSON (if written)."""
    out = json_out or submission.parent / f"{submission.name}.json"
    process = run_tool("grade", "--root", root, homework, submission, "--json", out)
    results = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
    return process, results


def verdicts(results: dict[str, Any] | None) -> dict[str, str]:
    """Test name -> output ('' when passed, else the reason) from a results JSON."""
    assert results is not None
    return {t["name"]: ("" if t["status"] == "passed" else t["output"]) for t in results["tests"]}


# --- solution stripping -----------------------------------------------------------------


def test_strip_replaces_regions_at_marker_indentation() -> None:
    stripped = strip_solutions(TOY_SOURCE, "toy.py")
    assert stripped == TOY_SOURCE.replace(
        "    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION\n", "    raise NotImplementedError\n"
    ).replace("    ### BEGIN SOLUTION\n    return a * b\n    ### END SOLUTION\n", "    raise NotImplementedError\n")
    assert strip_solutions(stripped, "toy.py") == stripped  # idempotent


def test_strip_keeps_other_bytes() -> None:
    text = "a = 1  \r\nclass A:\r\n    def f(self):\r\n        ### BEGIN SOLUTION\r\n        x\r\n        ### END SOLUTION\r\n\tb = 'ё'"
    assert strip_solutions(text, "x.py") == "a = 1  \r\nclass A:\r\n    def f(self):\r\n        raise NotImplementedError\r\n\tb = 'ё'"
    assert strip_solutions("no markers\n", "x.py") == "no markers\n"
    at_end = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
    assert strip_solutions(at_end, "x.py") == "def f():\n    raise NotImplementedError"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("x\n### BEGIN SOLUTION\ny\n", 2, "never closed"),
        ("### END SOLUTION\n", 1, "without a matching"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", 2, "nested"),
        ("    ### BEGIN SOLUTION\n  ### END SOLUTION\n", 2, "indented differently"),
    ],
)
def test_strip_rejects_malformed_regions(text: str, line: int, message: str) -> None:
    with pytest.raises(HomeworkError) as info:
        strip_solutions(text, "hw/x.py")
    assert str(info.value).startswith(f"hw/x.py:{line}: ")
    assert message in str(info.value) and "\n" not in str(info.value)


def notebook_with_solution() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Задание\nНапишите `f`."),
        nbformat.v4.new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                                  execution_count=3,
                                  outputs=[nbformat.v4.new_output("stream", text="4\n")]),
        nbformat.v4.new_code_cell("print(f(2))", execution_count=4,
                                  outputs=[nbformat.v4.new_output("stream", text="4\n")]),
    ]
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index}"
    return nb


def test_strip_notebook_code_cells_only() -> None:
    nb = notebook_with_solution()
    text = nbformat.writes(nb) + "\n"
    stripped = strip_notebook_text(text, "hw.ipynb")
    result = nbformat.reads(stripped, as_version=4)
    nbformat.validate(result)
    assert result.cells[1].source == "def f(x):\n    raise NotImplementedError"
    assert result.cells[1].outputs == [] and result.cells[1].execution_count is None
    assert result.cells[0] == nb.cells[0] and result.cells[2] == nb.cells[2]
    # nbformat's own layout is kept, so only the stripped cell's lines differ.
    expected = nb.copy()
    expected.cells[1].source = "def f(x):\n    raise NotImplementedError"
    expected.cells[1].outputs, expected.cells[1].execution_count = [], None
    assert stripped == nbformat.writes(expected) + "\n"
    assert strip_notebook_text(stripped, "hw.ipynb") == stripped


def test_strip_notebook_without_markers_is_byte_identical() -> None:
    text = '{"cells": [{"cell_type": "code", "source": ["x = 1"], "metadata": {}, "outputs": [], "execution_count": null}],\n "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    assert strip_notebook_text(text, "a.ipynb") is text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"cells": 3}', "not a Jupyter notebook"),
        ('{"cells": [{"cell_type": "markdown", "source": "### BEGIN SOLUTION\\n"}]}', "not a code cell"),
        ('{"cells": [{"cell_type": "code", "source": "### BEGIN SOLUTION\\n"}]}', "never closed"),
    ],
)
def test_strip_notebook_rejects_bad_input(text: str, message: str) -> None:
    with pytest.raises(HomeworkError, match=message):
        strip_notebook_text(text, "bad.ipynb")


# --- release.py ---------------------------------------------------------------------------


def test_release_writes_stripped_files_only(tmp_path: Path) -> None:
    notebook = nbformat.writes(notebook_with_solution()) + "\n"
    root = tmp_path / "hws"
    hw = make_homework(root, extra={"data/notes.txt": "текст\n", "practice.ipynb": notebook})
    out = tmp_path / "out"
    process = run_tool("release", "--root", root, "--out", out)
    assert process.returncode == 0, process.stderr
    released = out / "toy"
    files = sorted(str(p.relative_to(released)) for p in released.rglob("*") if p.is_file())
    assert files == ["README.md", "data/notes.txt", "practice.ipynb", "toy.py"]  # no grader/
    assert (released / "toy.py").read_text(encoding="utf-8") == strip_solutions(TOY_SOURCE, "toy.py")
    assert (released / "README.md").read_bytes() == (hw / "README.md").read_bytes()
    assert (released / "data/notes.txt").read_bytes() == (hw / "data/notes.txt").read_bytes()
    assert "BEGIN SOLUTION" not in (released / "practice.ipynb").read_text(encoding="utf-8")
    nbformat.validate(nbformat.read(released / "practice.ipynb", as_version=4))
    before = {p: p.read_bytes() for p in released.rglob("*") if p.is_file()}
    (released / "stale.py").write_text("old\n", encoding="utf-8")
    again = run_tool("release", "--root", root, "--out", out, "toy")
    assert again.returncode == 0, again.stderr
    assert {p: p.read_bytes() for p in released.rglob("*") if p.is_file()} == before  # stale file gone
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary leftovers


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"files": ["grader/test_toy.py"]}, "inside grader/"),
        ({"files": ["missing.py"]}, "does not exist"),
        ({"files": ["../x.py"]}, "relative path inside the homework"),
        ({"max_score": 0}, "'max_score' must be"),
        ({"memory_mb": "lots"}, "'memory_mb' must be"),
        ({"surprise": 1}, "unknown key"),
    ],
)
def test_release_rejects_bad_config(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    root = tmp_path / "hws"
    make_homework(root, config=change)
    process = run_tool("release", "--root", root, "--out", tmp_path / "out")
    assert process.returncode == 2
    assert message in process.stderr and len(process.stderr.strip().splitlines()) == 1
    assert "homework.json" in process.stderr
    assert not (tmp_path / "out" / "toy").exists()


def test_release_bad_input_leaves_previous_release(tmp_path: Path) -> None:
    root = tmp_path / "hws"
    hw = make_homework(root)
    out = tmp_path / "out"
    assert run_tool("release", "--root", root, "--out", out).returncode == 0
    previous = (out / "toy" / "toy.py").read_bytes()
    (hw / "toy.py").write_text(TOY_SOURCE + "\n    ### END SOLUTION\n", encoding="utf-8")
    process = run_tool("release", "--root", root, "--out", out)
    assert process.returncode == 2
    assert process.stderr.strip().endswith("without a matching '### BEGIN SOLUTION'")
    assert "toy.py:" in process.stderr and len(process.stderr.strip().splitlines()) == 1
    assert (out / "toy" / "toy.py").read_bytes() == previous
    (hw / "toy.py").write_text("def f(:\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n", encoding="utf-8")
    broken = run_tool("release", "--root", root, "--out", out)
    assert broken.returncode == 2 and "not valid Python" in broken.stderr
    assert (out / "toy" / "toy.py").read_bytes() == previous


def test_release_unknown_homework(tmp_path: Path) -> None:
    root = tmp_path / "hws"
    make_homework(root)
    process = run_tool("release", "--root", root, "--out", tmp_path / "out", "nope")
    assert process.returncode == 2
    assert process.stderr.strip() == "nope: unknown homework (no homework.json); known homeworks: toy"


# --- grade.py: results, JSON, exit codes -------------------------------------------------------


def test_grade_reference_and_release(tmp_path: Path) -> None:
    root = tmp_path / "hws"
    hw = make_homework(root)
    process, results = grade(root, hw, json_out=tmp_path / "nested" / "dir" / "ref.json")
    assert process.returncode == 0, process.stderr
    assert results is not None and results["score"] == 1.0 and results["max_score"] == 1.0
    assert set(results) >= {"score", "max_score", "tests", "execution_time"}
    assert [t["name"] for t in results["tests"]] == ["test_add", "test_mul", "test_param[1]", "test_param[-1]", "test_fixtures"]
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output"} and test["score"] == test["max_score"]
    lines = process.stdout.strip().splitlines()
    assert lines[0].split() == ["PASS", "0.25/0.25", "test_add"]
    assert lines[-1] == "score: 1.0 / 1.0"

    assert run_tool("release", "--root", root, "--out", tmp_path / "out").returncode == 0
    process, results = grade(root, tmp_path / "out" / "toy")
    assert process.returncode == 0, process.stderr
    assert results is not None and results["score"] == 0.25  # only the test without `submission`
    assert verdicts(results)["test_add"].startswith("NotImplementedError")
    assert process.stdout.strip().splitlines()[-1] == "score: 0.25 / 1.0"
    fail = next(line for line in process.stdout.splitlines() if "test_add" in line)
    assert fail.split()[:3] == ["FAIL", "0/0.25", "test_add"] and fail.endswith("NotImplementedError")


def test_grade_wrong_answer_message(tmp_path: Path) -> None:
    root = tmp_path / "hws"
    make_homework(root)
    sub = submit(tmp_path, "wrong", "def add(a, b):\n    return a - b\ndef mul(a, b):\n    return a + b\n")
    process, results = grade(root, sub)
    assert process.returncode == 0
    found = verdicts(results)
    assert found["test_param[1]"] == found["test_param[-1]"] == found["test_fixtures"] == ""
    assert found["test_add"].startswith("AssertionError: assert -1 == 5")
    assert found["test_mul"].startswith("AssertionError: mul(2, 3) должно быть 6")
    assert "test_toy.py" in found["test_mul"]  # the traceback follows the one-line reason
    assert results is not None and results["score"] == 0.5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "{sub}"], "nope: unknown homework (no homework.json); known homeworks: toy"),
        (["toy", "{tmp}/missing"], "{tmp}/missing: submission directory does not exist"),
        (["toy", "{tmp}/file.txt"], "{tmp}/file.txt: submission must be a directory, not a file"),
        (["toy", "{sub}", "--json", "{tmp}"], "{tmp}: is a directory; --json needs a file path"),
    ],
)
def test_grade_bad_input_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    root = tmp_path / "hws"
    hw = make_homework(root)
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    values = {"sub": str(hw), "tmp": str(tmp_path)}
    process = run_tool("grade", "--root", root, *[a.format(**values) for a in args])
    assert process.returncode == 2
    assert process.stderr.strip() == message.format(**values)
    assert process.stdout == ""


def test_grade_unwritable_json_exits_2(tmp_path: Path) -> None:
    root = tmp_path / "hws"
    hw = make_homework(root)
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    target = tmp_path / "file.txt" / "results.json"
    process = run_tool("grade", "--root", root, "toy", hw, "--json", target)
    assert process.returncode == 2
    assert process.stderr.startswith(f"{target}: cannot write") and len(process.stderr.strip().splitlines()) == 1
    assert process.stdout.strip().splitlines()[-1] == "score: 1.0 / 1.0"  # the report still came out


@pytest.mark.parametrize(
    ("grader", "message"),
    [
        (TOY_GRADER.replace("@pytest.mark.points(0.25)\ndef test_add", "def test_add"), "test_add: no @pytest.mark.points"),
        (TOY_GRADER.replace("points(0.25)\ndef test_add", "points(0.5)\ndef test_add"), "sum to 1.25"),
        (TOY_GRADER + "\nimport no_such_module\n", "cannot collect"),
        (TOY_GRADER.replace("points(0.25)\ndef test_add", "points('x')\ndef test_add"), "points marker needs one number"),
    ],
)
def test_broken_grader_exits_1(tmp_path: Path, grader: str, message: str) -> None:
    root = tmp_path / "hws"
    hw = make_homework(root, grader=grader)
    process, results = grade(root, hw)
    assert process.returncode == 1, process.stdout + process.stderr
    assert process.stderr.startswith("grader error: ") and message in process.stderr
    assert len(process.stderr.strip().splitlines()) == 1
    assert results is None


# --- the sandbox ----------------------------------------------------------------------------------

NASTY_GRADER = '''\
import pytest


@pytest.mark.points(0.125)
@pytest.mark.parametrize("name", ["ok", "loop", "sys_exit", "os_exit", "kill", "memory", "raises", "noisy"])
def test_behaviour(submission, name):
    assert getattr(submission, name)() == 42
'''

NASTY_SOURCE = '''\
import os
import signal
import sys


def ok():
    return 42


def loop():
    while True:
        pass


def sys_exit():
    sys.exit(3)


def os_exit():
    os._exit(4)


def kill():
    os.kill(os.getpid(), signal.SIGKILL)


def memory():
    return len(bytearray(8 * 1024**3))


def raises():
    raise ValueError("boom")


def noisy():
    print("x" * 100000)
    sys.stderr.write("y" * 1000)
    return 42
'''


def test_sandbox_isolates_each_test(tmp_path: Path) -> None:
    """Hang, exits, a killed process, a memory blow-up and an exception each cost one test."""
    root = tmp_path / "hws"
    make_homework(root, grader=NASTY_GRADER)
    sub = submit(tmp_path, "nasty", NASTY_SOURCE)
    process, results = grade(root, sub)
    assert process.returncode == 0, process.stderr
    found = verdicts(results)
    assert found["test_behaviour[ok]"] == "" and found["test_behaviour[noisy]"] == ""
    assert found["test_behaviour[loop]"].startswith("timeout:")
    assert found["test_behaviour[sys_exit]"].startswith("the code called sys.exit(3)")
    assert found["test_behaviour[os_exit]"].startswith("the code called os._exit(4)")
    assert found["test_behaviour[kill]"].startswith("the test process died from SIGKILL")
    assert found["test_behaviour[memory]"].startswith("MemoryError")
    assert found["test_behaviour[raises]"].startswith("ValueError: boom")
    assert results is not None and results["score"] == 0.25
    assert process.stdout.strip().splitlines()[-1] == "score: 0.25 / 1.0"
    assert "x" * 1000 not in process.stdout  # the student's prints stay inside the sandbox


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("import sys\nsys.exit(1)\n", "toy.py called sys.exit(1) while being imported"),
        ("import os\nos._exit(0)\n", "toy.py called os._exit(0) while being imported"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
         "importing the submission broke the test process: the test process died from SIGKILL"),
        ("while True:\n    pass\n", "importing toy.py took longer than 1 s"),
        ("import time\nwhile True:\n    try:\n        time.sleep(60)\n    except BaseException:\n        pass\n",
         "importing the submission took too long: killed by the grader"),
        ("def add(a, b) return\n", "cannot import toy.py: SyntaxError: expected ':' (toy.py, line 1)"),
        ("import no_such_module_xyz\n", "cannot import toy.py: ModuleNotFoundError: No module named 'no_such_module_xyz' (toy.py, line 1)"),
    ],
    ids=["sys_exit", "os_exit", "sigkill", "loop", "loop_ignoring_signals", "syntax_error", "import_error"],
)
def test_broken_import_scores_zero_but_grading_finishes(tmp_path: Path, source: str, reason: str) -> None:
    root = tmp_path / "hws"
    make_homework(root)
    sub = submit(tmp_path, "broken", source)
    process, results = grade(root, sub)
    assert process.returncode == 0, process.stderr
    found = verdicts(results)
    assert found.pop("test_fixtures") == ""  # needs no import: still runs and passes
    for name, output in found.items():
        assert output.startswith(reason), (name, output)
    assert results is not None and results["score"] == 0.25


def test_missing_module_file(tmp_path: Path) -> None:
    root = tmp_path / "hws"
    make_homework(root)
    empty = tmp_path / "empty"
    empty.mkdir()
    process, results = grade(root, empty)
    assert process.returncode == 0
    assert verdicts(results)["test_add"] == "toy.py not found in the submission"


def test_submission_files_are_not_modified(tmp_path: Path) -> None:
    """Grading works on a copy: no __pycache__ or other writes land in the submission."""
    root = tmp_path / "hws"
    make_homework(root)
    sub = submit(tmp_path, "clean", "import pathlib\npathlib.Path('written.txt').write_text('x')\n"
                 "def add(a, b):\n    return a + b\ndef mul(a, b):\n    return a * b\n")
    process, results = grade(root, sub, json_out=tmp_path / "r.json")
    assert process.returncode == 0 and results is not None and results["score"] == 1.0
    assert sorted(p.name for p in sub.iterdir()) == ["toy.py"]


# --- forbidden-shortcut helpers ---------------------------------------------------------------------


def test_calls_in_lists_calls_of_one_function(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text(textwrap.dedent("""\
        import torch.nn.functional as F
        class MyGELU:
            def forward(self, x):
                y = F.gelu(x)
                return self.scale(torch.erf(y)).sum()
            def other(self):
                return print(1)
        def helper():
            return max(1, 2)
        """), encoding="utf-8")
    assert calls_in(path, "MyGELU.forward") == ["F.gelu", "self.scale().sum", "self.scale", "torch.erf"]
    assert calls_in(path, "helper") == ["max"]
    with pytest.raises(KeyError):
        calls_in(path, "MyGELU.missing")


def test_record_aten_ops_sees_forward_and_backward() -> None:
    import torch
    import torch.nn.functional as F

    class Shortcut(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
            (x,) = ctx.saved_tensors
            return grad * torch.sigmoid(x)  # the forbidden call hides in backward

    x = torch.linspace(-2, 2, 5, requires_grad=True)
    with record_aten_ops() as rec:
        y = Shortcut.apply(x)
    assert rec.called("aten.mul") and not rec.called("aten.sigmoid")
    with record_aten_ops() as rec:
        y.sum().backward()
    assert "aten.sigmoid" in rec and rec.called("sigmoid")
    with pytest.raises(AssertionError, match="aten.sigmoid"):
        assert_no_aten_ops(rec, ["sigmoid", "aten.gelu"], "Shortcut")
    with record_aten_ops() as rec:
        torch.relu_(torch.zeros(2))
        getattr(F, "ge" + "lu")(x)
    assert rec.called("aten.relu") and rec.called("aten.gelu")
    assert_no_aten_ops(rec, ["aten.tanh"])


def test_homework_loader_finds_repository_homeworks() -> None:
    homework = load_homework("activations")
    assert homework.grader_dir.is_dir() and homework.max_score == 1.0
    with pytest.raises(HomeworkError, match="unknown homework"):
        load_homework("no-such-homework")


def test_student_module_cannot_shadow_grader_imports(tmp_path: Path) -> None:
    """A student file named like a library the grader imports does not break the grader."""
    root = tmp_path / "hws"
    grader = "import colorsys\n\n" + TOY_GRADER.replace(
        "    assert submission.add(2, 3) == 5", "    assert submission.add(2, 3) == 5 == 5 + colorsys.ONE_THIRD * 0"
    )
    make_homework(root, grader=grader)
    sub = submit(tmp_path, "shadow", "def add(a, b):\n    return a + b\ndef mul(a, b):\n    return a * b\n")
    (sub / "colorsys.py").write_text("raise RuntimeError('shadowed')\n", encoding="utf-8")
    process, results = grade(root, sub)
    assert process.returncode == 0, process.stderr
    assert results is not None and results["score"] == 1.0


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped counts as dead)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in status


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_processes_left_behind_are_killed(tmp_path: Path) -> None:
    root = tmp_path / "hws"
    make_homework(root)
    pid_file = tmp_path / "child.pid"
    sub = submit(tmp_path, "spawner", f"""\
        import subprocess, pathlib
        child = subprocess.Popen(["sleep", "300"])
        pathlib.Path({str(pid_file)!r}).write_text(str(child.pid))
        def add(a, b):
            return a + b
        def mul(a, b):
            return a * b
        """)
    process, results = grade(root, sub)
    assert process.returncode == 0 and results is not None and results["score"] == 1.0
    assert not _alive(int(pid_file.read_text(encoding="utf-8")))
