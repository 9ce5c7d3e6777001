"""Run a homework's grader tests on a submission in a sandboxed pytest subprocess.

The parent (this module) copies the submission into a fresh temporary folder, starts
``python -m pytest <homework>/grader -p grading.plugin`` there with resource limits, and
watches the events file the plugin writes. A test that overruns its limit, or a process that
dies, costs only the test (or the import) that was running: the parent kills the process
group, records that test as failed, and starts a new process for the tests not yet run.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grading.homework import Homework, HomeworkError

#: Seconds allowed for starting Python, importing the grader's modules and collecting tests.
STARTUP_TIMEOUT_S = 120.0
#: Largest submission (all copied files together) accepted, in bytes.
MAX_SUBMISSION_BYTES = 50 * 1024 * 1024
#: Largest file the test process may write (RLIMIT_FSIZE), in bytes.
MAX_FILE_BYTES = 256 * 1024 * 1024
#: The watchdog kills a test (or the import) after its limit plus GRACE_S + GRACE_FRACTION * limit.
GRACE_S = 2.0
GRACE_FRACTION = 0.25
#: How often the watchdog looks at the events file, in seconds.
POLL_S = 0.05


class GraderError(Exception):
    """The grader itself is broken (collection error, bad points); the CLI exits 1."""


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
    runs: int = 1
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
        """Gradescope-style results: ``score``, ``max_score``, ``tests[...]`` and extras."""
        return {
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": round(self.execution_time, 3),
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


def _copy_submission(homework: Homework, source: Path, target: Path) -> None:
    """Copy the homework's listed files and the submission's other top-level ``.py`` files.

    Anything else in the folder (data, notebooks, checkpoints) is not needed and not copied.
    """
    if not source.exists():
        raise HomeworkError(source, "submission directory does not exist")
    if not source.is_dir():
        raise HomeworkError(source, "submission must be a directory, not a file")
    target.mkdir(parents=True)
    wanted: list[tuple[Path, str]] = []
    try:
        for entry in sorted(source.iterdir()):
            if entry.suffix == ".py" and entry.is_file():
                wanted.append((entry, entry.name))
    except OSError as exc:
        raise HomeworkError(source, f"cannot read: {exc.strerror or exc}") from None
    for listed in homework.files:
        path = source / listed
        if not listed.endswith(".py") or "/" in listed:
            if path.is_file():
                wanted.append((path, listed))
    total = 0
    for path, relative in wanted:
        try:
            total += path.stat().st_size
            if total > MAX_SUBMISSION_BYTES:
                raise HomeworkError(source, f"submission is larger than {MAX_SUBMISSION_BYTES // 2**20} MiB")
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
        except OSError as exc:
            raise HomeworkError(path, f"cannot read: {exc.strerror or exc}") from None


def _limits(memory_mb: int, cpu_s: int) -> Callable[[], None]:
    """A ``preexec_fn`` that applies the resource limits in the child process."""

    def apply() -> None:
        import resource

        def cap(kind: int, soft: int, hard: int | None = None) -> None:
            try:
                _, old_hard = resource.getrlimit(kind)
                hard_value = soft if hard is None else hard
                if old_hard != resource.RLIM_INFINITY:
                    hard_value = min(hard_value, old_hard)
                    soft = min(soft, hard_value)
                resource.setrlimit(kind, (soft, hard_value))
            except (ValueError, OSError):
                pass

        cap(resource.RLIMIT_AS, memory_mb * 2**20)
        cap(resource.RLIMIT_CPU, cpu_s, cpu_s + 5)
        cap(resource.RLIMIT_FSIZE, MAX_FILE_BYTES)
        cap(resource.RLIMIT_CORE, 0)

    return apply


def _display_names(nodeids: list[str]) -> dict[str, str]:
    """Node id -> display name: without the file part, unless that makes names collide."""
    short = {n: n.split("::", 1)[1] if "::" in n else n for n in nodeids}
    if len(set(short.values())) == len(short):
        return short
    return {n: n for n in nodeids}


class _Run:
    """One pytest process: start it, watch it, and collect its events."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, events: Path, log: Path,
                 limits: Callable[[], None]) -> None:
        self.events_path = events
        self.events: list[dict[str, Any]] = []
        self._offset = 0
        self._partial = ""
        with log.open("ab") as log_handle:
            self.process = subprocess.Popen(
                argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log_handle,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=limits,
            )
        self.killed_because: str | None = None

    def read_events(self) -> list[dict[str, Any]]:
        """Parse the lines appended to the events file since the last call."""
        try:
            with self.events_path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        text = self._partial + chunk.decode("utf-8", errors="replace")
        lines = text.split("\n")
        self._partial = lines.pop()
        new = []
        for line in lines:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict):
                new.append(event)
        self.events.extend(new)
        return new

    def kill(self, reason: str) -> None:
        """Kill the whole process group (the student may have started children)."""
        self.killed_because = reason
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def kill_leftovers(self) -> None:
        """Kill what the student's code may have left running in the process group."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def watch(self, startup_s: float, timeouts: dict[str, float], grace: Callable[[float], float],
              deadline: float) -> int:
        """Wait for the process, killing it when the current phase overruns; return its code."""
        try:
            return self._watch(startup_s, timeouts, grace, deadline)
        except BaseException:  # e.g. Ctrl-C: the child runs in its own session, so stop it here
            self.kill("the grader was interrupted")
            raise

    def _watch(self, startup_s: float, timeouts: dict[str, float], grace: Callable[[float], float],
               deadline: float) -> int:
        phase, started, budget = "startup", time.monotonic(), startup_s
        while True:
            code = self.process.poll()
            for event in self.read_events():
                kind = event.get("event")
                now = time.monotonic()
                if kind == "collected":
                    phase, started, budget = "between", now, startup_s
                elif kind == "import_start":
                    phase, started = "import", now
                    budget = float(event.get("timeout", 10)) + grace(float(event.get("timeout", 10)))
                elif kind == "start":
                    timeout = timeouts.get(str(event.get("nodeid")), 0.0)
                    phase, started = "test", now
                    budget = timeout + grace(timeout) if timeout > 0 else math.inf
                elif kind in ("result", "import_done"):
                    phase, started, budget = "between", now, startup_s
            if code is not None:
                self.read_events()
                self.kill_leftovers()
                return code
            now = time.monotonic()
            if now > deadline:
                self.kill("the grading time budget is exhausted")
            elif now - started > budget:
                self.kill(f"{phase} overran its time limit ({budget:.0f} s)")
            else:
                time.sleep(POLL_S)
                continue
            self.process.wait()
            self.read_events()
            self.kill_leftovers()
            return self.process.returncode


def _death(code: int, killed_because: str | None) -> str:
    if killed_because:
        return f"killed by the grader: {killed_because}"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = {"SIGXCPU": " (CPU-time limit)", "SIGXFSZ": " (file-size limit)", "SIGSEGV": " (segmentation fault)"}
        return f"the test process died from {name}{hint.get(name, '')}"
    return f"the test process exited with code {code}"


def grade_submission(homework: Homework, submission_dir: str | Path, *, python: str | None = None,
                     startup_timeout_s: float = STARTUP_TIMEOUT_S,
                     keep_dir: Path | None = None) -> GradeResult:
    """Grade ``submission_dir`` with ``homework``'s grader and return the verdicts.

    Raises :class:`HomeworkError` for bad input (missing submission folder) and
    :class:`GraderError` when the grader cannot be run (collection errors, bad points).
    ``keep_dir``, if given, receives the control files (events, pytest log) for debugging.
    """
    begin = time.monotonic()
    source = Path(submission_dir)
    if not homework.grader_dir.is_dir():
        raise HomeworkError(homework.grader_dir, "the homework has no grader/ folder")
    root = Path(tempfile.mkdtemp(prefix=f"grade-{homework.name}-"))
    try:
        return _grade(homework, source, root, python or sys.executable, startup_timeout_s, begin, keep_dir)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _grade(homework: Homework, source: Path, root: Path, python: str, startup_timeout_s: float,
           begin: float, keep_dir: Path | None) -> GradeResult:
    submission = root / "submission"
    _copy_submission(homework, source.resolve() if source.exists() else source, submission)
    work, control = root / "work", root / "control"
    for folder in (work, control, work / "tmp"):
        folder.mkdir()
    ini = control / "pytest.ini"
    ini.write_text("[pytest]\n", encoding="utf-8")
    log = control / "pytest.log"
    timeout = homework.timeout_per_test_s
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "TMPDIR": str(work / "tmp"),
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
        "HW_SUBMISSION_DIR": str(submission),
        "HW_GRADING_HOMEWORK_DIR": str(homework.directory),
        "HW_IMPORT_TIMEOUT_S": repr(timeout),
    }
    options = [
        "-c", str(ini), "--rootdir", str(homework.grader_dir),
        "-p", "pytest_timeout", "-p", "grading.plugin", "-p", "no:cacheprovider",
        "-q", "--tb=short", "--no-header", "-o", "console_output_style=classic",
        f"--timeout={timeout:g}", "--timeout-method=signal",
    ]

    def grace(limit: float) -> float:
        # The in-process alarm normally ends an overrunning test right at its limit; the
        # watchdog is the backstop for code that blocks or swallows that alarm. Killing a
        # little early costs only a re-run for the remaining tests, not a wrong verdict.
        return GRACE_S + GRACE_FRACTION * limit

    collected: list[dict[str, Any]] | None = None
    verdicts: dict[str, tuple[bool, str]] = {}
    import_error: str | None = None
    notes: list[str] = []
    deadline = begin + (homework.total_timeout_s or 3600.0)
    runs = 0
    while True:
        runs += 1
        events = control / f"events-{runs}.jsonl"
        env["HW_GRADING_EVENTS"] = str(events)
        if import_error is not None:
            env["HW_SUBMISSION_IMPORT_ERROR"] = import_error
        if collected is None:
            targets = [str(homework.grader_dir)]
        else:
            pending = [t["nodeid"] for t in collected if t["nodeid"] not in verdicts]
            targets = [f"{homework.grader_dir}/{nodeid}" for nodeid in pending]
        argv = [python, "-m", "pytest", *targets, *options]
        timeouts = {t["nodeid"]: float(t["timeout"] or timeout) for t in collected or []}
        cpu_s = int(max(60.0, (deadline - time.monotonic()) + 10))
        run = _Run(argv, env, work, events, log, _limits(homework.memory_mb, cpu_s))
        code = run.watch(startup_timeout_s, timeouts, grace, deadline)
        progress = False
        for event in run.events:
            kind = event.get("event")
            if kind == "collect_error":
                raise GraderError(f"{homework.grader_dir}: cannot collect {event.get('nodeid') or 'tests'}: "
                                  f"{_last_line(str(event.get('message', '')))}")
            if kind == "collected" and collected is None:
                collected = list(event.get("tests", []))
                _check_points(homework, collected)
                if homework.total_timeout_s is None:
                    deadline = begin + startup_timeout_s + sum(
                        float(t["timeout"] or timeout) + grace(float(t["timeout"] or timeout)) for t in collected
                    )
                timeouts = {t["nodeid"]: float(t["timeout"] or timeout) for t in collected}
            elif kind == "import_done" and not event.get("ok") and import_error is None:
                import_error = str(event.get("message"))
                progress = True
            elif kind == "result" and event.get("nodeid") not in verdicts:
                verdicts[str(event["nodeid"])] = (bool(event.get("passed")), str(event.get("output") or ""))
                progress = True
        if collected is None:
            raise GraderError(f"{homework.grader_dir}: the grader's tests could not be collected "
                              f"({_death(code, run.killed_because)}): {_last_line(_tail(log))}")
        finished = any(e.get("event") == "finished" for e in run.events)
        if not finished:
            died = _death(code, run.killed_because)
            kinds = [e.get("event") for e in run.events]
            if "import_start" in kinds and "import_done" not in kinds[kinds.index("import_start"):]:
                import_error = f"importing the submission broke the test process: {died}"
                if run.killed_because:
                    import_error = (f"importing the submission took too long: {died}")
                progress = True
            else:
                started = [e["nodeid"] for e in run.events if e.get("event") == "start"]
                if started and started[-1] not in verdicts:
                    culprit = started[-1]
                    if run.killed_because and "overran" in run.killed_because:
                        reason = f"timeout: the test ran longer than {timeouts.get(culprit, timeout):g} s ({died})"
                    else:
                        reason = died
                    verdicts[culprit] = (False, reason)
                    progress = True
            notes.append(f"run {runs}: {died}")
        pending = [t["nodeid"] for t in collected if t["nodeid"] not in verdicts]
        if not pending:
            break
        if finished or not progress or time.monotonic() >= deadline:
            why = ("the grading time budget is exhausted" if time.monotonic() >= deadline
                   else "the test process stopped before running it")
            for nodeid in pending:
                verdicts[nodeid] = (False, f"not run: {why}")
            break
    if keep_dir is not None:
        shutil.copytree(control, keep_dir, dirs_exist_ok=True)
    names = _display_names([t["nodeid"] for t in collected])
    tests = [
        TestResult(
            name=names[t["nodeid"]], nodeid=t["nodeid"], max_score=float(t["points"]),
            passed=verdicts[t["nodeid"]][0], output=verdicts[t["nodeid"]][1],
        )
        for t in collected
    ]
    return GradeResult(homework=homework.name, max_score=homework.max_score, tests=tests,
                       execution_time=time.monotonic() - begin, runs=runs, notes=notes)


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


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return ""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    error_lines = [line for line in lines if line.startswith("E ") or "Error" in line]
    chosen = error_lines[-1] if error_lines else (lines[-1] if lines else "no output")
    return chosen[2:].strip() if chosen.startswith("E ") else chosen
