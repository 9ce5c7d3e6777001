"""Grade a submission: copy its listed files, run the judge, collect its verdicts.

The judge is ``python -m pytest homeworks/<hw>/grader -p grading.plugin`` in a trusted
subprocess that never imports the submission; student code runs only in the sandboxed worker
the judge starts (:mod:`grading.client`, :mod:`grading.sandbox`). The judge appends verdicts to
a results file in a folder only it can reach; this module reads them after the judge (and with
it every worker) has ended and builds the :class:`GradeResult`. The report is written by the
caller (``grade.py``), atomically, after this returns.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grading.client import STARTUP_ALLOWANCE_S, prepare_worker_lib
from grading.homework import Homework, HomeworkError
from grading.sandbox import (
    CGROUP_PREFIX,
    Isolation,
    cleanup_cgroups,
    detect_isolation,
    traversable_tmpdir,
)

#: Largest submission (all copied files together) accepted, in bytes.
MAX_SUBMISSION_BYTES = 50 * 1024 * 1024
#: Seconds for the judge to start and collect the grader's tests.
JUDGE_STARTUP_S = 120.0
#: Wall-clock budget of one grading when homework.json sets no total_timeout_s, in seconds.
DEFAULT_TOTAL_TIMEOUT_S = 1800.0


class GraderError(Exception):
    """The grader itself is broken (collection error, bad points, judge crash); the CLI exits 1."""


class IsolationError(Exception):
    """The sandbox was required but is not available here (``str()`` is one line)."""


@dataclass
class TestResult:
    """Verdict of one grader test."""

    __test__ = False  # not a pytest test class, despite the name

    name: str
    nodeid: str
    max_score: float
    passed: bool
    output: str = ""

    @property
    def score(self) -> float:
        """Points earned: all of them when passed, none otherwise."""
        return self.max_score if self.passed else 0.0

    @property
    def reason(self) -> str:
        """First line of the output (empty for a passed test)."""
        if self.passed or not self.output:
            return ""
        return self.output.strip().splitlines()[0]


@dataclass
class GradeResult:
    """Outcome of grading one submission."""

    homework: str
    max_score: float
    tests: list[TestResult]
    execution_time: float = 0.0
    isolation: str = "none"
    isolation_reason: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Sum of the points of the passed tests, rounded to 6 decimals."""
        return round(math.fsum(t.score for t in self.tests), 6)

    def by_name(self) -> dict[str, TestResult]:
        """Tests indexed by their display name."""
        return {t.name: t for t in self.tests}

    def failed(self) -> list[str]:
        """Names of the tests that did not pass."""
        return [t.name for t in self.tests if not t.passed]

    def to_json(self) -> dict[str, Any]:
        """Gradescope-style results: ``score``, ``max_score``, ``tests[...]``, ``isolation``."""
        return {
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": round(self.execution_time, 3),
            "isolation": self.isolation,
            "output": "\n".join(self.notes),
            "tests": [
                {
                    "name": t.name,
                    "score": round(t.score, 6),
                    "max_score": t.max_score,
                    "status": "passed" if t.passed else "failed",
                    "output": t.output,
                }
                for t in self.tests
            ],
        }


def copy_submission(homework: Homework, source: Path, target: Path) -> None:
    """Copy ONLY the homework's listed files (regular files, no symlinks) into ``target``, read-only.

    No other student file is copied, so nothing else is importable next to the module (a fake
    ``sklearn.py`` stays behind). A listed file that is missing is simply absent from the copy.
    Raises :class:`HomeworkError` for a missing or unreadable folder and oversized submissions.
    """
    if not source.exists():
        raise HomeworkError(source, "папка с решением не найдена (submission directory does not exist)")
    if not source.is_dir():
        raise HomeworkError(source, "ожидается папка, а не файл (submission must be a directory)")
    target.mkdir(mode=0o755)
    total = 0
    for listed in homework.files:
        path = source / listed
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise HomeworkError(path, f"не удаётся прочитать: {exc.strerror or exc}") from None
        if not stat.S_ISREG(info.st_mode):
            continue  # a symlink (e.g. to the instructor's reference) or a folder is not a submission file
        total += info.st_size
        if total > MAX_SUBMISSION_BYTES:
            raise HomeworkError(source, f"решение больше {MAX_SUBMISSION_BYTES // 2**20} МиБ")
        destination = target / listed
        destination.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as handle, destination.open("wb") as out:
                shutil.copyfileobj(handle, out)
        except OSError as exc:
            raise HomeworkError(path, f"не удаётся прочитать: {exc.strerror or exc}") from None
        destination.chmod(0o444)
    for folder in sorted({p for p in target.rglob("*") if p.is_dir()}, reverse=True):
        folder.chmod(0o555)
    target.chmod(0o555)


def _display_names(nodeids: list[str]) -> dict[str, str]:
    """Node id -> display name: without the file part, unless that makes names collide."""
    short = {n: n.split("::", 1)[1] if "::" in n else n for n in nodeids}
    if len(set(short.values())) == len(short):
        return short
    return {n: n for n in nodeids}


def choose_isolation(isolation: str) -> Isolation:
    """``"auto"`` (best available), ``"namespaces"`` (required) or ``"none"`` -> the level used.

    Raises :class:`IsolationError` when ``"namespaces"`` is required but unavailable.
    """
    if isolation == "none":
        return Isolation("none", "asked for")
    detected = detect_isolation()
    if isolation == "namespaces" and detected.level != "namespaces":
        raise IsolationError(f"sandbox unavailable: {detected.reason}")
    if isolation not in ("auto", "namespaces"):
        raise ValueError(f"isolation must be 'auto', 'namespaces' or 'none', not {isolation!r}")
    return detected


def grade_submission(homework: Homework, submission_dir: str | Path, *, isolation: str = "auto",
                     python: str | None = None) -> GradeResult:
    """Grade ``submission_dir`` with ``homework``'s grader and return the verdicts.

    ``isolation``: ``"auto"`` uses the sandbox when available (else ``"none"``, noted in the
    result), ``"namespaces"`` requires it (:class:`IsolationError` otherwise), ``"none"`` never
    uses it. Raises :class:`HomeworkError` for bad input (missing submission folder) and
    :class:`GraderError` when the grader cannot be run (collection errors, bad points, a crash
    of the judge itself).
    """
    begin = time.monotonic()
    source = Path(submission_dir)
    if not homework.grader_dir.is_dir():
        raise HomeworkError(homework.grader_dir, "the homework has no grader/ folder")
    level = choose_isolation(isolation)
    control = Path(tempfile.mkdtemp(prefix=f"grade-{homework.name}-"))  # 0700: the judge's own files
    # What the sandbox user may read (the copy, the worker package, mount points).
    shared = Path(tempfile.mkdtemp(prefix=f"grade-{homework.name}-box-", dir=traversable_tmpdir()))
    shared.chmod(0o755)
    try:
        copy_submission(homework, source, shared / "submission")
        return _run_judge(homework, level, control, shared, python or sys.executable, begin)
    finally:
        for root in (shared, control):
            for path in [root, *root.rglob("*")]:
                try:
                    if path.is_dir() and not path.is_symlink():
                        path.chmod(0o700)
                except OSError:
                    pass
            shutil.rmtree(root, ignore_errors=True)


def _run_judge(homework: Homework, level: Isolation, control: Path, shared: Path, python: str,
               begin: float) -> GradeResult:
    lib = prepare_worker_lib(shared / "lib")
    stage = shared / "stage"
    stage.mkdir(mode=0o755)
    results = control / "results.jsonl"
    prefix = f"{CGROUP_PREFIX}-{uuid.uuid4().hex[:10]}"
    ini = control / "pytest.ini"
    ini.write_text("[pytest]\n", encoding="utf-8")
    work = control / "work"
    work.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "TMPDIR": str(work),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONIOENCODING": "utf-8",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
        "HW_GRADING_HOMEWORK_DIR": str(homework.directory),
        "HW_GRADING_COPY": str(shared / "submission"),
        "HW_GRADING_WORKER_LIB": str(lib),
        "HW_GRADING_STAGE": str(stage),
        "HW_GRADING_ISOLATION": level.level,
        "HW_GRADING_RESULTS": str(results),
        "HW_GRADING_CGROUP_PREFIX": prefix,
    }
    # Safety net for bugs of the (trusted) judge only: every worker call has its own limit.
    safety = 4 * (homework.timeout_per_test_s + STARTUP_ALLOWANCE_S)
    argv = [
        python, "-m", "pytest", str(homework.grader_dir), "-c", str(ini), "--rootdir", str(homework.grader_dir),
        "-p", "pytest_timeout", "-p", "grading.plugin", "-p", "no:cacheprovider", "-q", "--tb=line",
        "--no-header", f"--timeout={safety:g}", "--timeout-method=signal",
    ]
    total = homework.total_timeout_s or DEFAULT_TOTAL_TIMEOUT_S
    log = control / "judge.log"
    with log.open("wb") as log_handle:
        process = subprocess.Popen(argv, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=log_handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code: int | None = process.wait(timeout=max(1.0, total - (time.monotonic() - begin)))
        except subprocess.TimeoutExpired:
            code = None
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            if process.poll() is None:
                process.kill()  # bwrap --die-with-parent takes the worker's sandbox down with it
                process.wait()
            if level.level == "namespaces":
                cleanup_cgroups(prefix)
    events = _read_events(results)
    return _collect(homework, level, events, code, log, begin)


def _read_events(path: Path) -> list[dict[str, Any]]:
    events = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _collect(homework: Homework, level: Isolation, events: list[dict[str, Any]], code: int | None,
             log: Path, begin: float) -> GradeResult:
    collected: list[dict[str, Any]] | None = None
    verdicts: dict[str, tuple[bool, str]] = {}
    finished = False
    for event in events:
        kind = event.get("event")
        if kind == "collect_error":
            raise GraderError(f"{homework.grader_dir}: cannot collect {event.get('nodeid') or 'tests'}: "
                              f"{event.get('message')}")
        if kind == "collected" and collected is None:
            collected = list(event.get("tests", []))
        elif kind == "result":
            verdicts.setdefault(str(event.get("nodeid")), (bool(event.get("passed")), str(event.get("output") or "")))
        elif kind == "finished":
            finished = True
    if collected is None:
        raise GraderError(f"{homework.grader_dir}: the grader's tests could not be collected "
                          f"(judge exit {code}): {_last_line(log)}")
    _check_points(homework, collected)
    notes = []
    if not finished:
        why = ("превышено общее время проверки" if code is None
               else f"проверяющий процесс завершился с кодом {code}")
        notes.append(f"judge ended early: {_last_line(log)} ({why})")
        for test in collected:
            verdicts.setdefault(test["nodeid"], (False, f"не выполнен: {why}"))
    names = _display_names([t["nodeid"] for t in collected])
    tests = [
        TestResult(name=names[t["nodeid"]], nodeid=t["nodeid"], max_score=float(t["points"]),
                   passed=verdicts.get(t["nodeid"], (False, "не выполнен"))[0],
                   output=verdicts.get(t["nodeid"], (False, "не выполнен"))[1])
        for t in collected
    ]
    if level.level != "namespaces":
        notes.append(f"isolation: none ({level.reason})")
    return GradeResult(homework=homework.name, max_score=homework.max_score, tests=tests,
                       execution_time=time.monotonic() - begin, isolation=level.level,
                       isolation_reason=level.reason, notes=notes)


def _check_points(homework: Homework, collected: list[dict[str, Any]]) -> None:
    """Every test carries valid points and the points sum to ``max_score``."""
    if not collected:
        raise GraderError(f"{homework.grader_dir}: no tests collected")
    for test in collected:
        if test.get("points") is None:
            raise GraderError(f"{homework.grader_dir}: {test['nodeid']}: {test.get('problem')}")
    total = math.fsum(float(t["points"]) for t in collected)
    if abs(total - homework.max_score) > 1e-6:
        raise GraderError(f"{homework.grader_dir}: the points of the tests sum to {total:g}, "
                          f"but homework.json says max_score {homework.max_score:g}")


def _last_line(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[-4000:]
    except OSError:
        return "no output"
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E ") or "Error" in line]
    chosen = errors[-1] if errors else (lines[-1] if lines else "no output")
    return chosen[2:].strip() if chosen.startswith("E ") else chosen
