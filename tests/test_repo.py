"""Repository-level checks: CI entry point, pinned installs, README commands, lint."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_make_test() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^exec make test$", script, re.MULTILINE)


def test_requirements_are_exact_pins_and_torch_is_2_13_0() -> None:
    lines = []
    for name in ("requirements.txt", "requirements-lab.txt"):
        lines += [line.split("#")[0].strip() for line in (ROOT / name).read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    for line in lines:
        assert re.match(r"^[A-Za-z0-9_.-]+==[0-9][^ ;]*(; python_version [<>=]+ \"3\.\d+\")?$", line), line
    assert "torch==2.13.0" in lines, "an unpinned or newer torch pulls a multi-GB CUDA build"


def test_readme_names_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make seminar" in readme and "make test" in readme
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("seminar", "test", "lab", "help", "assignments", "grade", "migrate"):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
