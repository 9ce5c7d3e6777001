"""Grade a whole class: every immediate subfolder of a folder is one student's submission.

Used by ``homeworks/grade_class.py`` (``make grade-class HW=<hw> SUBS=<folder>``).

How one batch runs
==================
* Students are the immediate subfolders of ``SUBS`` (hidden ones, such as ``.git``, are skipped),
  named by the student's id as LMS and GitHub Classroom exports name them; they are graded in
  sorted order by at most ``jobs`` gradings at a time.
* Every student is graded by a separate child process (``python -m grading.classbook child``)
  that calls the trusted grader :func:`grading.runner.grade_submission` once. The student's
  code never runs in this process nor in the child itself: the grader runs it in its own
  sandbox. A child that crashes, hangs past ``student_timeout_s`` or writes garbage costs only
  its own student (status ``error``); the batch goes on.
* Before grading, the child checks what a grading would only turn into a zero with a confusing
  message: an empty folder, a missing required ``.py`` file (also a wrong file name), a file that
  is a symbolic link (it could point at the instructor's reference solution), is too large, is
  not UTF-8 or has a syntax error. Such a submission gets score 0 and a status naming the fault.
* Resumable: each student's ``<student>.json`` records the SHA-256 of the submission's graded
  files and of the grader (the homework folder, the grading code and the pinned requirements).
  A later run skips a student whose two hashes are unchanged and whose last grading completed,
  unless ``force``. The two files of a student are written atomically as soon as that student
  is done, so an interrupted run (Ctrl-C, SIGTERM) keeps everything it finished.
* Outputs in ``out_dir/<hw>/``: ``gradebook.csv`` (UTF-8, header ``student,score,max_score,status``,
  one row per student folder, sorted by student), ``<student>.json`` (Gradescope-style results)
  and ``<student>.md`` (Russian feedback: every failed test with its message, no tracebacks, no
  grader source, no paths of the grading machine).

Statuses (the ``status`` column; ``score`` is empty only for ``error`` and ``interrupted``)
------------------------------------------------------------------------------------------
``graded``; ``graded: all tests failed: <reason>`` when every test failed for one reason
(for example a module that does not import, or an untouched stub); ``empty``;
``missing_file: <file>``; ``symlink: <file>``; ``too_large: <file>``; ``not_utf8: <file>``;
``syntax_error: <file>:<line>``; ``error: <reason>`` (the grading itself did not complete:
counts as "could not be graded"); ``interrupted`` (the batch was stopped before this student
finished).
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grading.homework import HOMEWORKS_DIR, Homework, HomeworkError

#: Version of the files this module writes; part of the grader hash, so a format change regrades.
FORMAT_VERSION = 1
#: Largest graded file accepted, in bytes (a source file of a homework is a few KiB).
MAX_FILE_BYTES = 5 * 2**20
#: Default wall-clock backstop for one student's grading, in seconds. The grader enforces its
#: own per-test limits; this only catches a grading that never returns at all.
DEFAULT_STUDENT_TIMEOUT_S = 1800.0
#: Seconds a child gets to stop cleanly after SIGINT before it is killed.
INTERRUPT_GRACE_S = 15.0
#: Header of the gradebook.
GRADEBOOK_HEADER = ("student", "score", "max_score", "status")
#: Statuses of a grading that completed (the student has a score).
GRADED_STATUSES = ("graded", "empty", "missing_file", "symlink", "too_large", "not_utf8", "syntax_error")
#: Repository files (relative to the repository root) that are part of "the grader".
_GRADER_CODE = ("homeworks/grading", "homeworks/grading_worker", "requirements.txt")
_REPO = HOMEWORKS_DIR.parent
_POLL_S = 0.1
_MESSAGE_LIMIT = 400


class ClassError(Exception):
    """Bad input of a batch (``path: what is wrong``, one line); the CLI exits 2."""


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one), at least 1.

    ``os.cpu_count()`` counts the host's cores, also inside a container limited to fewer.
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------- students


@dataclass(frozen=True)
class Student:
    """One student's submission folder and what the batch knows before grading it."""

    name: str
    folder: Path
    submission_sha256: str


def find_students(subs: Path) -> list[Path]:
    """Sorted immediate subfolders of ``subs`` (not hidden); raises :class:`ClassError`."""
    if not subs.exists():
        raise ClassError(f"{subs}: folder does not exist")
    if not subs.is_dir():
        raise ClassError(f"{subs}: not a folder (give the folder that holds one subfolder per student)")
    try:
        entries = sorted(subs.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise ClassError(f"{subs}: cannot read: {exc.strerror or exc}") from None
    students = [p for p in entries if p.is_dir() and not p.name.startswith(".")]
    if not students:
        raise ClassError(f"{subs}: no student folders (every immediate subfolder is one student)")
    for folder in students:
        try:
            folder.name.encode("utf-8")
        except UnicodeEncodeError:
            raise ClassError(f"{folder}: folder name is not valid UTF-8") from None
    return students


def graded_files(homework: Homework, folder: Path) -> list[str]:
    """Relative paths (POSIX) of the files of ``folder`` that a grading of ``homework`` reads.

    These are the homework's listed files that exist in the folder, plus every other top-level
    ``.py`` file (the grader may copy them), sorted. Symbolic links are included (as links).
    """
    names: set[str] = set()
    for listed in homework.files:
        path = folder / listed
        if path.is_symlink() or path.exists():
            names.add(listed)
    try:
        for entry in folder.iterdir():
            if entry.suffix == ".py" and (entry.is_symlink() or entry.is_file()):
                names.add(entry.name)
    except OSError:
        pass
    return sorted(names)


def submission_hash(homework: Homework, folder: Path) -> str:
    """SHA-256 over the names and bytes of :func:`graded_files` (a link hashes as its target text).

    A file larger than :data:`MAX_FILE_BYTES` is hashed by its size and mtime only, so that a
    huge file cannot stall the batch (it is rejected as ``too_large`` anyway).
    """
    digest = hashlib.sha256()
    for relative in graded_files(homework, folder):
        path = folder / relative
        digest.update(relative.encode("utf-8") + b"\0")
        try:
            if path.is_symlink():
                digest.update(b"link\0" + os.readlink(path).encode("utf-8", "surrogateescape"))
            elif path.is_file() and path.stat().st_size <= MAX_FILE_BYTES:
                digest.update(b"file\0" + path.read_bytes())
            else:
                stat = path.stat()
                digest.update(f"other\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
        except OSError as exc:
            digest.update(f"unreadable\0{exc.errno}".encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _tree_files(root: Path) -> Iterable[Path]:
    """Regular files under ``root`` (or ``root`` itself), without caches."""
    if root.is_file():
        yield root
        return
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if "__pycache__" in parts or ".pytest_cache" in parts or path.suffix == ".pyc":
            continue
        if path.is_file():
            yield path


def grader_hash(homework: Homework, repo: Path = _REPO) -> str:
    """SHA-256 of "the grader": the homework's folder (reference, hidden tests, configuration),
    the grading code, the pinned requirements, the Python version and this module's format."""
    digest = hashlib.sha256(f"classbook-format-{FORMAT_VERSION}\0{sys.version}\0".encode())
    roots = [homework.directory, *(repo / part for part in _GRADER_CODE)]
    for root in roots:
        for path in _tree_files(root):
            try:
                label = path.relative_to(repo).as_posix()
            except ValueError:
                label = path.relative_to(root.parent).as_posix()
            digest.update(label.encode("utf-8", "surrogateescape") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


# --------------------------------------------------------------------------- pre-checks


@dataclass(frozen=True)
class Problem:
    """A fault of the submission that makes it score 0 without running the grader."""

    status: str  # one of GRADED_STATUSES other than "graded"
    file: str  # where: "activations.py", "activations.py:12", "activations.py (found: x.py)"
    message: str  # Russian, one line, for the student


def required_files(homework: Homework) -> list[str]:
    """The listed ``.py`` files: what a submission must contain to be graded at all."""
    return [f for f in homework.files if f.endswith(".py")]


def precheck(homework: Homework, folder: Path) -> Problem | None:
    """The first fault that would only make the grading fail with a confusing message, or None.

    Checks, in order: an empty folder; each required ``.py`` file present (else the ``.py`` files
    that are there are named: a wrong file name), a regular file (not a symbolic link), at most
    :data:`MAX_FILE_BYTES`, UTF-8, and valid Python syntax (``ast.parse``; only parsed, never run).
    """
    try:
        visible = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        return Problem("empty", "", f"папку решения не удалось прочитать: {exc.strerror or exc}")
    if not visible:
        return Problem("empty", "", "папка решения пуста: нет ни одного файла")
    from grading.runner import MAX_SUBMISSION_BYTES

    total = sum(p.lstat().st_size for p in (folder / f for f in homework.files) if p.is_file() and not p.is_symlink())
    if total > MAX_SUBMISSION_BYTES:
        return Problem("too_large", "", f"файлы решения вместе занимают {total / 2**20:.1f} МиБ "
                                        f"(предел {MAX_SUBMISSION_BYTES // 2**20} МиБ)")
    for name in required_files(homework):
        path = folder / name
        if path.is_symlink():
            return Problem("symlink", name, f"{name} — символическая ссылка, а не файл; "
                                            "сдайте сам файл с решением")
        if not path.exists():
            others = [n for n in visible if n.endswith(".py")]
            found = f"; в папке есть: {', '.join(others)}" if others else ""
            where = f"{name} (found: {', '.join(others)})" if others else name
            return Problem("missing_file", where, f"нет файла {name} (проверьте имя файла){found}")
        if not path.is_file():
            return Problem("missing_file", name, f"{name} — не обычный файл")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return Problem("too_large", name, f"файл {name} слишком большой: {size / 2**20:.1f} МиБ "
                                              f"(предел {MAX_FILE_BYTES // 2**20} МиБ)")
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            return Problem("not_utf8", name, f"{name}: строка {line}: файл не в кодировке UTF-8; "
                                             "сохраните его в UTF-8")
        try:
            ast.parse(text, filename=name)
        except SyntaxError as exc:
            where = f"{name}:{exc.lineno}" if exc.lineno else name
            return Problem("syntax_error", where, f"синтаксическая ошибка в {where}: {exc.msg}")
        except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
            return Problem("syntax_error", name, f"{name} не разбирается как код Python: "
                                                 f"{type(exc).__name__}")
    return None


# --------------------------------------------------------------------------- messages

_PATH_RE = re.compile(r"(?<![\w.~-])(?:[A-Za-z]:)?[/\\](?:[^\s/\\:'\"()<>]+[/\\])+([^\s/\\:'\"()<>]*)")
_TRACEBACK_RE = re.compile(r"^\s*(File \"|Traceback \(most recent call last\)|\S+\.py:\d+: in )")


def student_message(output: str) -> str:
    """The student-facing reason of a failed test: the first line of the grader's message.

    Traceback lines, pytest's assertion introspection (``assert ...``, which shows grader
    source) and absolute paths (reduced to the file name) never reach the student; the text is
    capped at 400 characters.
    """
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    first = next((line for line in lines if not _TRACEBACK_RE.match(line)), "")
    if first.startswith("E "):
        first = first[2:].strip()
    if first.startswith("AssertionError: "):
        first = first[len("AssertionError: "):]
    if not first or first == "AssertionError" or first.startswith("assert "):
        return "проверка не пройдена"
    first = _PATH_RE.sub(lambda m: m.group(1) or "…", first)
    if len(first) > _MESSAGE_LIMIT:
        first = first[: _MESSAGE_LIMIT - 1].rstrip() + "…"
    return first


def _fmt(value: float) -> str:
    """Points as short text: ``0.125``, ``1.0``, ``0``."""
    value = round(value, 6)
    return "0" if value == 0 else repr(value)


# --------------------------------------------------------------------------- outcomes


@dataclass
class Outcome:
    """What the batch records for one student."""

    student: str
    status: str  # a code from GRADED_STATUSES, "error" or "interrupted"
    detail: str = ""  # Russian, one line, for the student ("" for a plain "graded")
    score: float | None = None
    max_score: float = 0.0
    tests: list[dict[str, Any]] = field(default_factory=list)
    execution_time: float = 0.0
    isolation: str | None = None
    submission_sha256: str = ""
    grader_sha256: str = ""
    reused: bool = False
    where: str = ""  # the gradebook's short reason of a pre-check fault (file[:line])

    @property
    def graded(self) -> bool:
        """True when the grading completed (whatever the score)."""
        return self.status in GRADED_STATUSES

    def status_text(self) -> str:
        """The gradebook's status cell: the code, then a short reason where there is one."""
        if self.status == "graded":
            failed = [t for t in self.tests if t["status"] != "passed"]
            reasons = {t["output"] for t in failed}
            if self.tests and len(failed) == len(self.tests) and len(reasons) == 1:
                return f"graded: all tests failed: {reasons.pop()}"[:200]
            return "graded"
        if self.status == "error":
            return f"error: {self.detail}"[:200]
        if self.status in ("interrupted", "empty") or not self.where:
            return self.status
        return f"{self.status}: {self.where}"[:200]

    def to_json(self) -> dict[str, Any]:
        """Gradescope-style results (``score``, ``max_score``, ``tests``...), plus ``extra_data``."""
        data: dict[str, Any] = {
            "score": self.score if self.score is not None else 0.0,
            "max_score": self.max_score,
            "execution_time": round(self.execution_time, 3),
            "output": self.summary_ru(),
            "tests": self.tests,
            "extra_data": {
                "student": self.student,
                "status": self.status,
                "status_text": self.status_text(),
                "where": self.where,
                "graded": self.graded,
                "isolation": self.isolation,
                "submission_sha256": self.submission_sha256,
                "grader_sha256": self.grader_sha256,
                "format": FORMAT_VERSION,
            },
        }
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        """Rebuild an outcome from :meth:`to_json` output (a previous run's file)."""
        extra = data["extra_data"]
        status = str(extra["status"])
        score = float(data["score"]) if status in GRADED_STATUSES else None
        detail = str(data.get("output", "")) if status != "graded" else ""
        return cls(
            student=str(extra["student"]), status=status, detail=detail.splitlines()[0] if detail else "",
            score=score, max_score=float(data["max_score"]), tests=list(data.get("tests", [])),
            execution_time=float(data.get("execution_time", 0.0)), isolation=extra.get("isolation"),
            submission_sha256=str(extra["submission_sha256"]), grader_sha256=str(extra["grader_sha256"]),
            reused=True, where=str(extra.get("where", "")),
        )

    def summary_ru(self) -> str:
        """One Russian line about the outcome (the JSON's ``output``)."""
        if self.status == "graded":
            return f"Проверено: {_fmt(self.score or 0.0)} из {_fmt(self.max_score)}."
        if self.status == "error":
            return f"Проверка не завершилась: {self.detail}"
        if self.status == "interrupted":
            return "Проверка была прервана до завершения."
        return self.detail

    def feedback_md(self, homework: Homework) -> str:
        """The Russian feedback file: the score, then every failed test with its message."""
        out = [f"# {homework.title}: результаты проверки", "",
               f"Задание: `{homework.name}`  ", f"Студент: `{self.student}`  "]
        if not self.graded:
            out += ["", f"**Решение не проверено.** {self.summary_ru()}",
                    "", "Оценка будет выставлена после повторной проверки.", ""]
            return "\n".join(out)
        out.append(f"Итог: **{_fmt(self.score or 0.0)} из {_fmt(self.max_score)}**")
        out.append("")
        if self.status != "graded":
            out += [f"**Решение не проверялось тестами:** {self.detail}", "",
                    "Исправьте это и сдайте решение снова: тогда его проверят все тесты.", ""]
            return "\n".join(out)
        failed = [t for t in self.tests if t["status"] != "passed"]
        passed = [t for t in self.tests if t["status"] == "passed"]
        reasons = {t["output"] for t in failed}
        if len(failed) > 1 and len(reasons) == 1:
            out += [f"## Не пройдено: {len(failed)} из {len(self.tests)}", "",
                    f"Все они не пройдены по одной причине: {reasons.pop()}", ""]
            out += [f"- `{t['name']}` (0 из {_fmt(t['max_score'])})" for t in failed]
            out.append("")
        elif failed:
            out += [f"## Не пройдено: {len(failed)} из {len(self.tests)}", ""]
            for test in failed:
                out.append(f"- `{test['name']}` (0 из {_fmt(test['max_score'])}): {test['output']}")
            out.append("")
        else:
            out += ["Все тесты пройдены.", ""]
        if passed:
            out += [f"## Пройдено: {len(passed)} из {len(self.tests)}", ""]
            out += [f"- `{t['name']}` ({_fmt(t['score'])})" for t in passed]
            out.append("")
        return "\n".join(out)


def outcome_from_result(student: Student, result: dict[str, Any], grader_sha: str) -> Outcome:
    """Build an :class:`Outcome` from a child's result record (see :func:`grade_one`)."""
    kind = result.get("kind")
    if kind == "problem":
        return Outcome(student.name, str(result["status"]), str(result["message"]), 0.0,
                       float(result["max_score"]), [], float(result.get("execution_time", 0.0)), None,
                       student.submission_sha256, grader_sha, where=str(result.get("where", "")))
    if kind == "graded":
        tests = []
        for test in result["tests"]:
            passed = bool(test["passed"])
            tests.append({
                "name": str(test["name"]),
                "score": round(float(test["score"]), 6) if passed else 0.0,
                "max_score": float(test["max_score"]),
                "status": "passed" if passed else "failed",
                "output": "" if passed else student_message(str(test.get("output", ""))),
            })
        score = round(math.fsum(t["score"] for t in tests), 6)
        return Outcome(student.name, "graded", "", score, float(result["max_score"]), tests,
                       float(result.get("execution_time", 0.0)), result.get("isolation"),
                       student.submission_sha256, grader_sha)
    return Outcome(student.name, "error", _one_line(str(result.get("message", "неизвестная ошибка"))),
                   None, float(result.get("max_score", 0.0)), [], float(result.get("execution_time", 0.0)),
                   None, student.submission_sha256, grader_sha)


def _one_line(text: str) -> str:
    """``text`` on one line (whitespace collapsed), at most 400 characters."""
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"


# --------------------------------------------------------------------------- the child


def grade_one(homework_dir: str, folder: Path, isolation: str) -> dict[str, Any]:
    """Grade one submission (in the child process) and return a JSON-able record.

    ``homework_dir`` is the homework's folder (a path, so that any homework root works).

    ``{"kind": "problem", "status", "message", "max_score"}`` for a pre-check fault,
    ``{"kind": "graded", "tests": [...], "max_score", "execution_time", "isolation"}`` for a
    completed grading, ``{"kind": "error", "message"}`` when the grader could not run.
    """
    from grading.homework import load_homework
    from grading.runner import GraderError, IsolationError, grade_submission

    begin = time.monotonic()
    homework = load_homework(Path(homework_dir))
    problem = precheck(homework, folder)
    if problem is not None:
        return {"kind": "problem", "status": problem.status, "message": problem.message, "where": problem.file,
                "max_score": homework.max_score, "execution_time": time.monotonic() - begin}
    try:
        result = grade_submission(homework, folder, isolation=isolation)
    except (GraderError, HomeworkError, IsolationError) as exc:
        return {"kind": "error", "message": f"грейдер не смог проверить решение: {exc}",
                "max_score": homework.max_score, "execution_time": time.monotonic() - begin}
    return {
        "kind": "graded",
        "max_score": result.max_score,
        "execution_time": time.monotonic() - begin,
        "isolation": result.isolation,
        "tests": [{"name": t.name, "score": t.score, "max_score": t.max_score, "passed": t.passed,
                   "output": t.output} for t in result.tests],
    }


def child_main(argv: Sequence[str] | None = None) -> int:
    """``python -m grading.classbook child HW_DIR FOLDER OUT.json --isolation X``: grade one student.

    Writes the record of :func:`grade_one` to ``OUT.json`` (atomically) and exits 0; any
    unexpected failure is written as an ``error`` record too, so the parent always learns why.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m grading.classbook child")
    parser.add_argument("homework")
    parser.add_argument("folder", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--isolation", default="namespaces", choices=("namespaces", "auto", "none"))
    args = parser.parse_args(argv)
    try:
        record = grade_one(args.homework, args.folder, args.isolation)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the parent must learn why, in one line
        record = {"kind": "error", "message": f"сбой проверки: {type(exc).__name__}: {exc}"}
    write_text_atomic(args.out, json.dumps(record, ensure_ascii=False))
    return 0


# --------------------------------------------------------------------------- writing


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same folder + ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_student(out: Path, homework: Homework, outcome: Outcome) -> None:
    """Write ``<student>.md`` then ``<student>.json`` (the JSON last: it marks the student done)."""
    write_text_atomic(out / f"{outcome.student}.md", outcome.feedback_md(homework))
    write_text_atomic(out / f"{outcome.student}.json",
                      json.dumps(outcome.to_json(), ensure_ascii=False, indent=2) + "\n")


def _csv_number(value: float) -> str:
    """A score for the gradebook in one format for every row (``0.0``, ``0.125``, ``1.0``), so that
    spreadsheets and LMS importers read the column as numbers alike."""
    return repr(round(float(value), 6))


def gradebook_csv(outcomes: Iterable[Outcome]) -> str:
    """The gradebook text: header, then one row per student sorted by student (``\\n`` line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(GRADEBOOK_HEADER)
    for outcome in sorted(outcomes, key=lambda o: o.student):
        score = "" if outcome.score is None or not outcome.graded else _csv_number(outcome.score)
        writer.writerow([outcome.student, score, _csv_number(outcome.max_score), outcome.status_text()])
    return buffer.getvalue()


def load_previous(out: Path, student: Student, grader_sha: str) -> Outcome | None:
    """The previous run's outcome of ``student`` if it is still valid (same hashes, graded)."""
    path = out / f"{student.name}.json"
    if not path.is_file() or not (out / f"{student.name}.md").is_file():
        return None
    try:
        outcome = Outcome.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (outcome.student != student.name or not outcome.graded
            or outcome.submission_sha256 != student.submission_sha256
            or outcome.grader_sha256 != grader_sha):
        return None
    return outcome


# --------------------------------------------------------------------------- the batch


@dataclass
class BatchReport:
    """Result of :func:`grade_class`."""

    homework: str
    outcomes: list[Outcome]
    gradebook: Path
    seconds: float
    interrupted: bool = False

    @property
    def not_graded(self) -> list[Outcome]:
        """Students whose grading did not complete."""
        return [o for o in self.outcomes if not o.graded]

    def summary(self) -> str:
        """The one-line summary printed at the end."""
        graded = [o for o in self.outcomes if o.graded]
        reused = sum(o.reused for o in graded)
        mean = math.fsum(o.score or 0.0 for o in graded) / len(graded) if graded else 0.0
        max_score = self.outcomes[0].max_score if self.outcomes else 0.0
        text = (f"{self.homework}: {len(self.outcomes)} students, {len(graded)} graded "
                f"({reused} unchanged, reused), {len(self.not_graded)} not graded; "
                f"mean score {mean:.3f} / {_fmt(max_score)}; {self.seconds:.1f} s -> {self.gradebook}")
        unsandboxed = sum(o.isolation == "none" for o in graded if not o.reused and o.status == "graded")
        if unsandboxed:
            text += f"; {unsandboxed} graded WITHOUT the sandbox"
        return ("interrupted: " + text) if self.interrupted else text


@dataclass
class _Running:
    """A grading child in flight: its student, process, result and log files, start time."""

    student: Student
    process: subprocess.Popen[bytes]
    result_path: Path
    log_path: Path
    started: float


def _child_command(python: str, homework: str, folder: Path, result: Path, isolation: str) -> list[str]:
    """argv of the child that grades ``folder`` with the homework in folder ``homework``."""
    return [python, "-m", "grading.classbook", "child", homework, str(folder), str(result), "--isolation", isolation]


def _interrupt_when_orphaned() -> None:
    """``preexec_fn`` of a grading child: on Linux, SIGINT it when the batch process dies.

    ``prctl(PR_SET_PDEATHSIG)`` fires even when the batch is killed with SIGKILL; the child's
    grader then stops its own sandbox as on Ctrl-C instead of grading on unobserved.
    Elsewhere (no ``prctl``) nothing is set.
    """
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGINT))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    """Send ``sig`` to the child's process group (its own session); a finished group is fine."""
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _finish(run: _Running, grader_sha: str, max_score: float, timed_out: bool) -> Outcome:
    """Turn a finished (or killed) child into an outcome."""
    elapsed = time.monotonic() - run.started
    if timed_out:
        return Outcome(run.student.name, "error", f"проверка не уложилась в {elapsed:.0f} с и была остановлена",
                       None, max_score, [], elapsed, None, run.student.submission_sha256, grader_sha)
    try:
        record = json.loads(run.result_path.read_text(encoding="utf-8"))
        if not isinstance(record, dict):
            raise ValueError("not an object")
        record.setdefault("max_score", max_score)
        return outcome_from_result(run.student, record, grader_sha)
    except (OSError, ValueError, KeyError, TypeError):
        code = run.process.returncode
        tail = ""
        try:
            lines = run.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            tail = lines[-1] if lines else ""
        except OSError:
            pass
        why = f"процесс проверки завершился с кодом {code}" + (f": {student_message(tail)}" if tail else "")
        return Outcome(run.student.name, "error", why, None, max_score, [], elapsed, None,
                       run.student.submission_sha256, grader_sha)


def grade_class(
    homework: Homework,
    subs: Path,
    out_root: Path,
    *,
    jobs: int | None = None,
    force: bool = False,
    isolation: str = "namespaces",
    student_timeout_s: float = DEFAULT_STUDENT_TIMEOUT_S,
    python: str | None = None,
    progress: Callable[[Outcome], None] | None = None,
    total_hook: Callable[[int, int], None] | None = None,
) -> BatchReport:
    """Grade every student folder of ``subs`` with ``homework`` into ``out_root/<hw>/``.

    ``jobs`` gradings run at once (default: the number of CPU cores); ``force`` regrades
    students whose submission and grader are unchanged; ``isolation`` is passed to the grader
    (``"namespaces"``: refuse to grade without the sandbox, checked once before anything is
    graded: :class:`grading.runner.IsolationError`; ``"auto"``: use it where available);
    ``progress`` is called once per finished student, ``total_hook(total, reused)`` once before
    grading starts. Ctrl-C (KeyboardInterrupt) stops the running gradings, keeps every finished
    student's files, writes the gradebook (unfinished students: ``interrupted``) and returns
    with ``interrupted=True``. Raises :class:`ClassError` for bad input.
    """
    begin = time.monotonic()
    jobs = jobs or usable_cores()
    if jobs < 1:
        raise ClassError(f"--jobs: must be at least 1, got {jobs}")
    out = out_root / homework.name
    if out.exists() and not out.is_dir():
        raise ClassError(f"{out}: exists and is not a folder")
    folders = find_students(subs)
    from grading.runner import choose_isolation

    choose_isolation(isolation)  # IsolationError before anything is written
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ClassError(f"{out}: cannot create: {exc.strerror or exc}") from None
    grader_sha = grader_hash(homework)
    students = [Student(f.name, f.resolve(), submission_hash(homework, f)) for f in folders]
    outcomes: dict[str, Outcome] = {}
    pending: list[Student] = []
    for student in students:
        previous = None if force else load_previous(out, student, grader_sha)
        if previous is not None:
            outcomes[student.name] = previous
        else:
            pending.append(student)
    if total_hook is not None:
        total_hook(len(students), len(outcomes))
    for outcome in list(outcomes.values()):
        if progress is not None:
            progress(outcome)
    interrupted = False
    python = python or sys.executable
    env = {k: v for k, v in os.environ.items() if not k.startswith("HW_")}
    env["PYTHONPATH"] = str(HOMEWORKS_DIR)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    running: list[_Running] = []
    queue = list(pending)
    started = 0
    with tempfile.TemporaryDirectory(prefix=f"grade-class-{homework.name}-") as scratch:
        try:
            while queue or running:
                while queue and len(running) < jobs:
                    student = queue.pop(0)
                    started += 1
                    result_path = Path(scratch) / f"student-{started}.json"
                    log_path = result_path.with_suffix(".log")
                    with log_path.open("wb") as log:
                        process = subprocess.Popen(
                            _child_command(python, str(homework.directory), student.folder, result_path, isolation),
                            cwd=HOMEWORKS_DIR, env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=_interrupt_when_orphaned if sys.platform == "linux" else None,
                        )
                    running.append(_Running(student, process, result_path, log_path, time.monotonic()))
                time.sleep(_POLL_S)
                for run in list(running):
                    timed_out = False
                    if run.process.poll() is None:
                        if time.monotonic() - run.started <= student_timeout_s:
                            continue
                        _signal_group(run.process, signal.SIGKILL)
                        run.process.wait()
                        timed_out = True
                    _signal_group(run.process, signal.SIGKILL)  # anything the child left behind
                    running.remove(run)
                    outcome = _finish(run, grader_sha, homework.max_score, timed_out)
                    write_student(out, homework, outcome)
                    outcomes[outcome.student] = outcome
                    if progress is not None:
                        progress(outcome)
        except KeyboardInterrupt:
            interrupted = True
            _stop_all(running)
    for student in students:
        if student.name not in outcomes:
            outcomes[student.name] = Outcome(student.name, "interrupted", "", None, homework.max_score,
                                             submission_sha256=student.submission_sha256,
                                             grader_sha256=grader_sha)
    ordered = [outcomes[s.name] for s in students]
    gradebook = out / "gradebook.csv"
    write_text_atomic(gradebook, gradebook_csv(ordered))
    return BatchReport(homework.name, ordered, gradebook, time.monotonic() - begin, interrupted)


def _stop_all(running: list[_Running]) -> None:
    """Ask every running child to stop (SIGINT: the grader kills its own sandbox), then kill."""
    for run in running:
        _signal_group(run.process, signal.SIGINT)
    deadline = time.monotonic() + INTERRUPT_GRACE_S
    for run in running:
        try:
            run.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        _signal_group(run.process, signal.SIGKILL)
        run.process.wait()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        sys.exit(child_main(sys.argv[2:]))
    print("usage: python -m grading.classbook child HW_DIR FOLDER OUT.json [--isolation X]", file=sys.stderr)
    sys.exit(2)
