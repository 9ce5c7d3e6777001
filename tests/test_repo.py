"""Repository-level checks: CI entry point, pinned installs, README commands, lint."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_ci(tmp_path: Path, with_py310: bool) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run .ci/run with stub ``make``/``bwrap`` (and ``python3.10``) that only record their calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    log = tmp_path / "make.log"
    stubs = {"make": f'echo "$*" >> {log}', "bwrap": "exit 0"}
    if with_py310:
        stubs["python3.10"] = 'case "$1" in --version) echo "Python 3.10.99";; esac; exit 0'
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    process = subprocess.run(["bash", str(ROOT / ".ci" / "run")], capture_output=True, text=True, env=env, timeout=60)
    calls = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return process, calls


def test_ci_runs_make_test_then_python_3_10(tmp_path: Path) -> None:
    process, calls = _run_ci(tmp_path / "with", with_py310=True)
    assert process.returncode == 0, process.stderr
    assert calls == ["test", "test PYTHON=python3.10 VENV=.venv-py310"]
    process, calls = _run_ci(tmp_path / "without", with_py310=False)
    assert process.returncode == 0, process.stderr
    assert calls == ["test"]
    assert [line for line in process.stdout.splitlines() if "3.10" in line] == [
        next(line for line in process.stdout.splitlines() if line.startswith("ci: no Python 3.10 on this machine"))]


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
