"""The judge's pytest plugin (``-p grading.plugin``), loaded in the TRUSTED judge process.

The judge never imports the submission: student code runs only in the worker, reached through
the ``worker`` fixture. This plugin registers the ``points`` marker, provides the fixtures
``worker``, ``submission_source``, ``submission_dir``, ``homework`` and ``rule_violations``,
folds each test's phases into one verdict with a one-line Russian reason, and appends the
verdicts to a JSON-lines results file (only the judge can reach it) that
:mod:`grading.runner` reads after this process has ended.

Environment (set by the runner): ``HW_GRADING_HOMEWORK_DIR``, ``HW_GRADING_COPY`` (the
submission's listed files, as the worker sees them), ``HW_GRADING_WORKER_LIB``,
``HW_GRADING_STAGE`` (a folder for sandbox mount points), ``HW_GRADING_ISOLATION``
(``namespaces`` | ``none``), ``HW_GRADING_RESULTS`` (the results file).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from grading.client import Worker
from grading.homework import HOMEWORKS_DIR, Homework, load_homework
from grading.rules import RuleSet, Violation, check_sources
from grading.sandbox import Isolation, Limits

#: Longest reason kept for one test, in characters.
REASON_LIMIT = 1000


class _State:
    """Process-wide state of the plugin (one pytest session per judge process)."""

    results: IO[str] | None = None
    homework: Homework | None = None
    copy: Path | None = None
    reasons: dict[str, str] = {}
    verdicts: dict[str, dict[str, Any]] = {}
    worker: Worker | None = None


def emit(event: str, **fields: Any) -> None:
    """Append one line to the results file and flush it."""
    if _State.results is None:
        return
    fields["event"] = event
    _State.results.write(json.dumps(fields, ensure_ascii=False) + "\n")
    _State.results.flush()


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, open the results file, load the homework."""
    config.addinivalue_line("markers", "points(x): points the test is worth (sum over tests = max_score)")
    path = os.environ.get("HW_GRADING_RESULTS")
    if path:
        _State.results = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in pytest_unconfigure
    homework_dir = os.environ.get("HW_GRADING_HOMEWORK_DIR")
    if homework_dir:
        _State.homework = load_homework(Path(homework_dir))
    copy = os.environ.get("HW_GRADING_COPY")
    _State.copy = Path(copy) if copy else None


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the worker (kills its sandbox) and close the results file."""
    if _State.worker is not None:
        _State.worker.close()
        _State.worker = None
    if _State.results is not None:
        _State.results.close()
        _State.results = None


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """Grader files that fail to collect are a grader error (reported to the instructor)."""
    if report.failed:
        text = str(report.longreprtext).strip().splitlines()
        emit("collect_error", nodeid=report.nodeid, message=text[-1] if text else "collection failed")


def _points_of(item: pytest.Item) -> tuple[float | None, str | None]:
    """The test's points and, if the marker is missing or malformed, what is wrong."""
    markers = list(item.iter_markers("points"))
    if not markers:
        return None, "no @pytest.mark.points(x) marker"
    if len(markers) > 1:
        return None, "more than one points marker"
    args = markers[0].args
    value = args[0] if len(args) == 1 and not markers[0].kwargs else None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        return None, f"points marker needs one number > 0, got {markers[0].args!r}"
    return float(value), None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Announce the collected tests and their points."""
    tests = []
    for item in session.items:
        points, problem = _points_of(item)
        tests.append({"nodeid": item.nodeid, "points": points, "problem": problem})
    emit("collected", tests=tests)


# -- fixtures ------------------------------------------------------------------------------
def _required(value: Any, what: str) -> Any:
    if value is None:
        pytest.fail(f"grading plugin: {what} is not set", pytrace=False)
    return value


@pytest.fixture(scope="session")
def homework() -> Homework:
    """The homework's configuration."""
    return _required(_State.homework, "HW_GRADING_HOMEWORK_DIR")


@pytest.fixture(scope="session")
def submission_dir() -> Path:
    """The judge's folder with the submission's listed files (read them as data only)."""
    return _required(_State.copy, "HW_GRADING_COPY")


def _read_sources(copy: Path, homework: Homework) -> tuple[dict[str, str], dict[str, str]]:
    """Listed ``.py`` files of the copy: name -> text, and name -> decoding problem."""
    texts: dict[str, str] = {}
    problems: dict[str, str] = {}
    for name in homework.files:
        if not name.endswith(".py"):
            continue
        path = copy / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        try:
            texts[name] = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            texts[name] = data.decode("utf-8", "replace")
            problems[name] = f"файл не в кодировке UTF-8 (байт {exc.start})"
    return texts, problems


@pytest.fixture(scope="session")
def submission_source(homework: Homework) -> dict[str, str]:
    """File name -> text of the submission's listed ``.py`` files (never executed by the judge)."""
    return _read_sources(_required(_State.copy, "HW_GRADING_COPY"), homework)[0]


@pytest.fixture(scope="session")
def rule_violations(homework: Homework) -> Callable[[RuleSet], list[Violation]]:
    """``rule_violations(rule_set)`` -> the violations of ``rule_set`` in the submission's sources.

    A file that is not UTF-8 or does not parse is itself a violation (so the rule's tests fail,
    without crashing the judge). Results are cached per rule set.
    """
    texts, problems = _read_sources(_required(_State.copy, "HW_GRADING_COPY"), homework)
    cache: dict[int, list[Violation]] = {}

    def check(rule_set: RuleSet) -> list[Violation]:
        key = id(rule_set)
        if key not in cache:
            found = [Violation("кодировка", 0, f"{name}: {problem}") for name, problem in problems.items()]
            cache[key] = found + check_sources(rule_set, {n: t for n, t in texts.items() if n not in problems})
        return list(cache[key])

    return check


def _make_worker(homework: Homework) -> Worker | None:
    """The grading's worker as the runner configured it (None outside a grading)."""
    copy, lib, stage = (os.environ.get(k) for k in ("HW_GRADING_COPY", "HW_GRADING_WORKER_LIB", "HW_GRADING_STAGE"))
    if not (copy and lib and stage) or homework.module is None:
        return None
    return Worker(
        module=homework.module, ops=homework.worker_ops, copy=Path(copy), worker_lib=Path(lib), stage=Path(stage),
        isolation=Isolation(os.environ.get("HW_GRADING_ISOLATION", "none")),
        limits=Limits(memory_bytes=homework.memory_mb * 2**20), timeout=homework.timeout_per_test_s,
        cgroup_prefix=os.environ.get("HW_GRADING_CGROUP_PREFIX"),
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start the worker right away: it loads Python and torch while the judge collects."""
    if _State.homework is not None and _State.worker is None:
        _State.worker = _make_worker(_State.homework)
        if _State.worker is not None:
            _State.worker.prestart()


@pytest.fixture(scope="session")
def worker(homework: Homework) -> Iterator[Worker]:
    """The submission's worker (started at session start, restarted after a kill)."""
    if homework.module is None:
        pytest.fail("homework.json names no module for the worker", pytrace=False)
    if _State.worker is None:
        _State.worker = _make_worker(homework)
    yield _required(_State.worker, "HW_GRADING_COPY/HW_GRADING_WORKER_LIB/HW_GRADING_STAGE")


# -- verdicts ------------------------------------------------------------------------------
#: An absolute path with at least two parts (``/tmp/x``, ``/work/repo/homeworks/mlp/mlp.py``).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.@+\-]+/)+[\w.@+\-]*")


def _clean(text: str) -> str:
    """First non-empty line, without absolute paths of this machine, clipped."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    for private in (str(HOMEWORKS_DIR.parent), str(_State.homework.directory) if _State.homework else ""):
        if private:
            first = first.replace(private, "…")
    first = _ABSOLUTE_PATH.sub("…", first)
    return first if len(first) <= REASON_LIMIT else first[: REASON_LIMIT - 1] + "…"


def reason_of(excinfo: pytest.ExceptionInfo[BaseException], when: str) -> str:
    """A one-line Russian reason for a failed phase: the assertion message, nothing else."""
    exc = excinfo.value
    if excinfo.errisinstance(pytest.skip.Exception):
        return f"тест пропущен: {_clean(str(exc.msg)) if hasattr(exc, 'msg') else ''}".rstrip(": ")
    if excinfo.errisinstance(pytest.fail.Exception):
        message = str(getattr(exc, "msg", exc))
        if "Timeout" in message and "pytest-timeout" in message:
            return "превышено время проверки теста"
        return _clean(message) or "проверка не пройдена"
    if isinstance(exc, AssertionError):
        message = _clean(str(exc))
        if not message or message.startswith("assert "):
            return "проверка не пройдена"
        return message
    prefix = "ошибка при подготовке теста" if when == "setup" else "ошибка при проверке"
    return f"{prefix}: {type(exc).__name__}: {_clean(str(exc))}".rstrip(": ")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Remember the reason of the first failing phase of each test."""
    outcome = yield
    report = outcome.get_result()
    verdict = _State.verdicts.setdefault(item.nodeid, {"passed": True, "reason": ""})
    failed = report.failed or report.skipped
    if call.when == "call" and hasattr(report, "wasxfail") and not failed:
        failed, reason = True, "тест, помеченный xfail, неожиданно прошёл"
    elif failed and call.excinfo is not None:
        reason = reason_of(call.excinfo, call.when)
    elif failed:
        reason = "проверка не пройдена"
    if failed and verdict["passed"]:
        verdict["passed"] = False
        verdict["reason"] = reason


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """After teardown, write the test's verdict."""
    if report.when != "teardown":
        return
    verdict = _State.verdicts.get(report.nodeid, {"passed": report.passed, "reason": ""})
    emit("result", nodeid=report.nodeid, passed=bool(verdict["passed"]), output=verdict["reason"])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Mark a normal end of the session."""
    if _State.worker is not None:
        _State.worker.close()
    emit("finished", exitstatus=int(exitstatus))
