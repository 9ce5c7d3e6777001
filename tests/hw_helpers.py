"""Shared helpers of the homework-grader tests: wrong submissions and grading them via the CLI.

Each ``tests/test_hw_<hw>.py`` builds wrong submissions as string replacements in the
instructor source (:class:`Mutation`), then grades the reference, the untouched release and
every mutation once per session with ``python homeworks/grade.py HW DIR --json OUT``, two
submissions at a time (the machine has 2 cores): :func:`grade_all`.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HOMEWORKS = REPO / "homeworks"


@dataclass(frozen=True)
class Mutation:
    """A wrong submission: string replacements in the reference, and the tests that must fail."""

    #: (old, new) pairs, or (old, new, count) where ``old`` occurs ``count`` times (default 1)
    replacements: tuple[tuple[str, str] | tuple[str, str, int], ...]
    must_fail: frozenset[str]
    reason: str = ""  # a substring every failure's output must contain


def mutate(source: str, mutation: Mutation) -> str:
    """Apply a mutation; each replaced string must occur exactly as often as stated (default once)."""
    for old, new, *count in mutation.replacements:
        expected = count[0] if count else 1
        found = source.count(old)
        assert found == expected, f"mutation target {old!r} found {found} time(s), expected {expected}"
        source = source.replace(old, new)
    return source


@dataclass
class Graded:
    """The CLI's exit code, printed report and results JSON for one submission."""

    returncode: int
    stdout: str
    stderr: str
    results: dict[str, Any] | None

    def verdicts(self) -> dict[str, bool]:
        """Test name -> passed (full points)."""
        assert self.returncode == 0 and self.results is not None, self.stderr
        return {t["name"]: t["score"] == t["max_score"] for t in self.results["tests"]}

    def failed(self) -> set[str]:
        """Names of the tests that scored 0."""
        assert self.results is not None, self.stderr
        return {t["name"] for t in self.results["tests"] if t["score"] == 0}

    def outputs(self) -> dict[str, str]:
        """Output text of each test."""
        assert self.results is not None, self.stderr
        return {t["name"]: t["output"] for t in self.results["tests"]}


def assert_release_scores_zero(result: Graded, all_tests: set[str] | frozenset[str]) -> None:
    """The untouched release: grading completes, every test fails on NotImplementedError, 0.0."""
    assert result.returncode == 0, result.stderr
    assert result.results is not None and result.results["score"] == 0.0, result.stdout
    assert result.failed() == all_tests
    assert all("NotImplementedError" in text for text in result.outputs().values()), result.stdout
    assert result.stdout.strip().splitlines()[-1] == "score: 0.0 / 1.0"


def assert_loses_exactly(result: Graded, mutation: Mutation, points: Mapping[str, float]) -> None:
    """A wrong submission fails exactly ``mutation.must_fail`` (each for ``mutation.reason``) and
    scores 1.0 minus those tests' ``points``, in the JSON and on the last printed line."""
    assert result.returncode == 0, result.stderr
    assert result.failed() == mutation.must_fail, result.stdout
    expected = round(1.0 - sum(points[test] for test in mutation.must_fail), 6)
    assert result.results is not None and result.results["score"] == expected
    assert result.stdout.strip().splitlines()[-1] == f"score: {expected!r} / 1.0"
    outputs = result.outputs()
    for test in mutation.must_fail:
        assert mutation.reason in outputs[test], (test, outputs[test])


def release(homework: str, out: Path) -> Path:
    """Write the student release of ``homework`` under ``out`` with the CLI; return its folder."""
    process = subprocess.run(
        [sys.executable, str(HOMEWORKS / "release.py"), "--out", str(out), homework],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert process.returncode == 0, process.stderr
    return out / homework


def load_module(path: Path, name: str) -> Any:
    """Import a file as a fresh module under ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def grade(homework: str, submission: Path, out: Path, timeout: int = 600) -> Graded:
    """Grade ``submission`` with the command-line grader, as an instructor would.

    ``--allow-no-isolation`` lets the suite run on machines without the sandbox (the results'
    ``"isolation"`` says which one was used; the security tests require ``"namespaces"``).
    """
    process = subprocess.run(
        [sys.executable, str(HOMEWORKS / "grade.py"), homework, str(submission), "--json", str(out),
         "--allow-no-isolation"],
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )
    results = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
    return Graded(process.returncode, process.stdout, process.stderr, results)


def grade_all(
    homework: str, module_file: str, mutations: Mapping[str, Mutation], root: Path, first: Iterable[str] = ()
) -> dict[str, Graded]:
    """Grade the reference, the release and every mutation of ``homework``, two at a time.

    ``module_file`` is the instructor source's file name inside ``homeworks/<homework>/``;
    ``first`` names submissions to start first (e.g. one that mostly waits for timeouts).
    """
    released = release(homework, root / "release")
    reference = (HOMEWORKS / homework / module_file).read_text(encoding="utf-8")
    submissions = {"reference": HOMEWORKS / homework, "release": released}
    for name, mutation in mutations.items():
        folder = root / name
        folder.mkdir()
        (folder / module_file).write_text(mutate(reference, mutation), encoding="utf-8")
        submissions[name] = folder
    early = [name for name in first if name in submissions]
    order = early + [name for name in submissions if name not in early]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(grade, homework, submissions[name], root / f"{name}.json") for name in order}
        return {name: future.result() for name, future in futures.items()}
