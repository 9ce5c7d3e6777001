"""The framework's pytest plugin, loaded in the sandboxed test process (``-p grading.plugin``).

It registers the ``points`` marker, provides the ``submission``, ``submission_dir`` and
``homework`` fixtures, imports the student's module once (guarded against exceptions, exits
and hangs), and streams what happens to an events file (JSON lines, path in the environment
variable ``HW_GRADING_EVENTS``) that the parent process (:mod:`grading.runner`) reads, also
while the tests run, so that it can tell which test was running when the process died.

Environment (set by the runner): ``HW_SUBMISSION_DIR``, ``HW_GRADING_EVENTS``,
``HW_GRADING_HOMEWORK_DIR``, ``HW_IMPORT_TIMEOUT_S``, and on a re-run after the import
killed the process, ``HW_SUBMISSION_IMPORT_ERROR`` (the reason; the import is not retried).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import IO, Any

import pytest

from grading.homework import Homework, SubmissionExit, load_homework

_OUTPUT_LIMIT = 4000


class _ImportTimeout(BaseException):
    """Raised by the alarm that bounds the submission's import time."""


class _State:
    """Process-wide state of the plugin (one pytest session per process)."""

    events: IO[str] | None = None
    homework: Homework | None = None
    submission_dir: Path | None = None
    module: Any = None
    import_error: str | None = None
    outcomes: dict[str, dict[str, Any]] = {}
    real_os_exit: Any = None


def emit(event: str, **fields: Any) -> None:
    """Append one event line to the events file and flush it to the OS immediately."""
    if _State.events is None:
        return
    fields["event"] = event
    fields["time"] = time.time()
    _State.events.write(json.dumps(fields, ensure_ascii=False) + "\n")
    _State.events.flush()


def _guarded_os_exit(status: int = 0) -> None:
    """Stand-in for ``os._exit``: raise instead of killing the grader's process."""
    raise SubmissionExit(f"os._exit({status!r})")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, open the events file, load the homework and guard ``os._exit``."""
    config.addinivalue_line("markers", "points(x): points the test is worth (sum over tests = max_score)")
    events_path = os.environ.get("HW_GRADING_EVENTS")
    if events_path:
        _State.events = open(events_path, "a", encoding="utf-8")  # closed in pytest_unconfigure
    homework_dir = os.environ.get("HW_GRADING_HOMEWORK_DIR")
    if homework_dir:
        _State.homework = load_homework(Path(homework_dir))
    submission_dir = os.environ.get("HW_SUBMISSION_DIR")
    if submission_dir:
        # Put on sys.path only when the submission is imported (after collection), so that a
        # student file named like a library (torch.py) cannot replace the grader's imports.
        _State.submission_dir = Path(submission_dir)
    # The framework's own folder was put on sys.path (PYTHONPATH) only to load this plugin; drop
    # it, so that e.g. ``import mlp`` in student code cannot pick up the instructor's folder.
    framework_root = str(Path(__file__).resolve().parent.parent)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != framework_root]
    _State.real_os_exit = os._exit
    os._exit = _guarded_os_exit  # type: ignore[assignment]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Restore ``os._exit`` and close the events file."""
    if _State.real_os_exit is not None:
        os._exit = _State.real_os_exit  # type: ignore[assignment]
    if _State.events is not None:
        _State.events.close()
        _State.events = None


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """Report grader files that fail to collect (a grader error, not the student's)."""
    if report.failed:
        emit("collect_error", nodeid=report.nodeid, message=_clip(str(report.longreprtext)))


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


def _timeout_of(item: pytest.Item, default: float) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args and isinstance(marker.args[0], (int, float)):
        return float(marker.args[0])
    timeout = marker.kwargs.get("timeout") if marker is not None else None
    return float(timeout) if isinstance(timeout, (int, float)) else default


def pytest_collection_finish(session: pytest.Session) -> None:
    """Announce the collected tests (points, timeouts), then import the submission."""
    default_timeout = float(session.config.getoption("timeout", None) or 0) or 0.0
    tests = []
    for item in session.items:
        points, problem = _points_of(item)
        tests.append(
            {
                "nodeid": item.nodeid,
                "points": points,
                "problem": problem,
                "timeout": _timeout_of(item, default_timeout),
            }
        )
    emit("collected", tests=tests)
    if session.items:
        _import_submission()


def _describe_exception(exc: BaseException, filename: str) -> str:
    """One line: exception type and message, plus the line of the submission that raised it."""
    where = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).name == filename:
            where = f" ({filename}, line {frame.lineno})"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"


def _import_submission() -> None:
    """Import the configured module from the submission folder, once, fresh and guarded."""
    homework = _State.homework
    if homework is None or _State.submission_dir is None:
        return
    if homework.module is None:
        _State.import_error = "homework.json names no module for the `submission` fixture"
        return
    filename = f"{homework.module}.py"
    inherited = os.environ.get("HW_SUBMISSION_IMPORT_ERROR")
    if inherited:
        _State.import_error = inherited
        emit("import_done", ok=False, message=inherited)
        return
    path = _State.submission_dir / filename
    if not path.is_file():
        _State.import_error = f"{filename} not found in the submission"
        emit("import_done", ok=False, message=_State.import_error)
        return
    folder = str(_State.submission_dir)
    if folder in sys.path:
        sys.path.remove(folder)
    sys.path.insert(0, folder)  # the student's own helper modules import as usual
    timeout = float(os.environ.get("HW_IMPORT_TIMEOUT_S", "10"))
    emit("import_start", timeout=timeout)
    sys.modules.pop(homework.module, None)
    importlib.invalidate_caches()

    def on_alarm(signum: int, frame: Any) -> None:
        raise _ImportTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        spec = importlib.util.spec_from_file_location(homework.module, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[homework.module] = module
        spec.loader.exec_module(module)
    except _ImportTimeout:
        error = f"importing {filename} took longer than {timeout:g} s (an infinite loop at import?)"
    except SubmissionExit as exc:
        error = f"{filename} called {exc.code} while being imported"
    except SystemExit as exc:
        error = f"{filename} called sys.exit({exc.code!r}) while being imported"
    except BaseException as exc:  # any failure of untrusted code is reported
        error = f"cannot import {filename}: {_describe_exception(exc, filename)}"
    else:
        error = None
        _State.module = module
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if error is not None:
        sys.modules.pop(homework.module, None)
        _State.import_error = error
    emit("import_done", ok=error is None, message=error)


@pytest.fixture(scope="session")
def homework() -> Homework:
    """The homework's configuration."""
    if _State.homework is None:
        pytest.fail("grading plugin: HW_GRADING_HOMEWORK_DIR is not set", pytrace=False)
    return _State.homework


@pytest.fixture(scope="session")
def submission_dir() -> Path:
    """Folder of the (copied) submission."""
    if _State.submission_dir is None:
        pytest.fail("grading plugin: HW_SUBMISSION_DIR is not set", pytrace=False)
    return _State.submission_dir


@pytest.fixture(scope="session")
def submission() -> Any:
    """The student's module; fails the requesting test if it could not be imported."""
    if _State.import_error is not None:
        pytest.fail(_State.import_error, pytrace=False)
    if _State.module is None:
        pytest.fail("grading plugin: the submission was not imported", pytrace=False)
    return _State.module


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    """Tell the parent which test starts now (its watchdog times each test)."""
    _State.outcomes[nodeid] = {"passed": True, "reason": None, "output": []}
    emit("start", nodeid=nodeid)


def _clip(text: str, limit: int = _OUTPUT_LIMIT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 20].rstrip() + "\n... (truncated)"


def _reason(report: pytest.TestReport) -> str:
    """A one-line reason for a failed, errored or skipped phase."""
    longrepr = report.longrepr
    if report.skipped:
        if hasattr(report, "wasxfail"):
            return f"xfail: {report.wasxfail}".strip()
        message = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        return f"skipped: {message}"
    crash = getattr(longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(longrepr)
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    if "Timeout" in first and "pytest-timeout" in first:
        return f"timeout: the test ran longer than its limit ({first.split('(')[-1].split(')')[0]})"
    if first.startswith("Failed: "):
        first = first[len("Failed: ") :]
    for prefix, template in (
        ("grading.homework.SubmissionExit: ", "the code called {}"),
        ("SubmissionExit: ", "the code called {}"),
        ("SystemExit: ", "the code called sys.exit({})"),
    ):
        if first.startswith(prefix):
            first = template.format(first[len(prefix) :])
    if first == "SystemExit":
        first = "the code called sys.exit()"
    return f"{report.when}: {first}" if report.when == "teardown" else first


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Fold setup/call/teardown into one verdict per test and emit it after teardown."""
    outcome = _State.outcomes.setdefault(report.nodeid, {"passed": True, "reason": None, "output": []})
    if report.failed or report.skipped:  # skipped and xfailed tests earn nothing either
        reason: str | None = _reason(report)
    elif report.when == "call" and hasattr(report, "wasxfail"):
        reason = "a test marked xfail passed unexpectedly"
    else:
        reason = None
    if reason is not None and outcome["passed"]:
        outcome["passed"] = False
        outcome["reason"] = reason
        details = report.longreprtext.strip() if report.failed else ""
        if details and details != outcome["reason"]:
            outcome["output"].append(details)
    if report.when == "teardown":
        output = outcome["reason"] or ""
        if outcome["output"]:
            output = f"{output}\n\n" + "\n".join(outcome["output"])
        emit(
            "result",
            nodeid=report.nodeid,
            passed=outcome["passed"],
            reason=outcome["reason"],
            output=_clip(output),
            duration=report.duration,
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Mark a normal end of the session."""
    emit("finished", exitstatus=int(exitstatus))
