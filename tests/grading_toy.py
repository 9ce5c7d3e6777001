"""A toy homework for the grading framework's own tests (no torch in the judge: fast gradings).

``make_homework`` writes ``toy/`` (instructor source with solution markers, a judge whose tests
ask the worker through ``grading_worker.ops_selftest``), ``submit`` writes a submission, and
``grade`` runs ``homeworks/grade.py`` on it as an instructor would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HOMEWORKS = REPO / "homeworks"

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
def test_add(worker):
    assert worker.call("call", function="add", args=[2, 3]) == 5, "add(2, 3) должно быть 5"


@pytest.mark.points(0.25)
def test_mul(worker):
    assert worker.call("call", function="mul", args=[2, 3]) == 6, "mul(2, 3) должно быть 6"


@pytest.mark.points(0.125)
@pytest.mark.parametrize("x", [1, -1])
def test_param(worker, x):
    assert worker.call("call", function="add", args=[x, 0]) == x, f"add({x}, 0) должно быть {x}"


@pytest.mark.points(0.25)
def test_fixtures(submission_source, homework):
    assert "def add" in submission_source["toy.py"], "в toy.py нет функции add"
    assert homework.module == "toy" and homework.max_score == 1.0
'''

#: The honest solution as a student would hand it in.
TOY_SOLUTION = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"


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
        "timeout_per_test_s": 1, "memory_mb": 1024, "worker_ops": "ops_selftest",
    }
    for relative, text in (extra or {}).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        settings["files"].append(relative)
    settings.update(config or {})
    (folder / "homework.json").write_text(json.dumps(settings, ensure_ascii=False), encoding="utf-8")
    return folder


def submit(root: Path, name: str, source: str, extra: dict[str, str] | None = None) -> Path:
    """A submission folder holding ``toy.py`` with ``source`` (dedented) and ``extra`` files."""
    folder = root / name
    folder.mkdir()
    (folder / "toy.py").write_text(textwrap.dedent(source), encoding="utf-8")
    for relative, text in (extra or {}).items():
        (folder / relative).write_text(text, encoding="utf-8")
    return folder


def run_tool(tool: str, *args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``homeworks/<tool>.py`` with ``args``."""
    return subprocess.run([sys.executable, str(HOMEWORKS / f"{tool}.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def grade(root: Path, submission: Path, homework: str = "toy", json_out: Path | None = None,
          *options: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    """Grade with the CLI (``--allow-no-isolation`` unless ``options`` say otherwise); return the
    process and the parsed results JSON (if written)."""
    out = json_out or submission.parent / f"{submission.name}.json"
    flags = list(options) if options else ["--allow-no-isolation"]
    process = run_tool("grade", "--root", root, homework, submission, "--json", out, *flags, timeout=timeout)
    results = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
    return process, results


def verdicts(results: dict[str, Any] | None) -> dict[str, str]:
    """Test name -> output ('' when passed, else the reason) from a results JSON."""
    assert results is not None
    return {t["name"]: ("" if t["status"] == "passed" else t["output"]) for t in results["tests"]}
