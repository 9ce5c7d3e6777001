"""Grade a homework submission: ``python homeworks/grade.py HOMEWORK SUBMISSION_DIR [--json OUT]``.

Runs the homework's judge (``homeworks/<hw>/grader/``, a trusted pytest process that never
imports the submission) against the student's files, which run only in a sandboxed worker
(see :mod:`grading`). Prints one line per test and a last line ``score: X / MAX``, and writes
Gradescope-style results JSON atomically after everything else has ended.

Without the sandbox (no bubblewrap, no root, no cgroups) grading refuses to run unless
``--allow-no-isolation`` is given; the report then carries ``"isolation": "none"``.
Exit codes: 0 grading completed (whatever the score), 1 the grader itself is broken,
2 bad input or no sandbox (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))
sys.path.insert(1, str(_HERE.parent / "seminars"))

from grading.homework import HOMEWORKS_DIR, HomeworkError, load_homework  # noqa: E402
from grading.runner import GraderError, GradeResult, IsolationError, grade_submission  # noqa: E402
from nbio import NotebookError, write_text_atomic  # noqa: E402  (shared atomic write)

EXIT_OK = 0
EXIT_GRADER_BROKEN = 1
EXIT_BAD_INPUT = 2

NO_ISOLATION_HINT = (
    "песочница недоступна, проверка не запущена; установите bubblewrap и запускайте от root "
    "(make install-sandbox) или добавьте --allow-no-isolation / sandbox unavailable, not grading; "
    "install bubblewrap and run as root (make install-sandbox), or pass --allow-no-isolation"
)


def _fmt(value: float) -> str:
    """Points as short text: ``0.125``, ``1.0``, ``0``."""
    value = round(value, 6)
    return "0" if value == 0 else repr(value)


def format_report(result: GradeResult) -> str:
    """The human-readable report: one line per test (the whole reason), then ``score: X / MAX``."""
    width = max((len(t.name) for t in result.tests), default=0)
    lines = []
    if result.isolation != "namespaces":
        lines.append(f"без песочницы / no sandbox: {result.isolation_reason}")
    for test in result.tests:
        status = "PASS" if test.passed else "FAIL"
        points = f"{_fmt(test.score)}/{_fmt(test.max_score)}"
        line = f"{status}  {points:>13}  {test.name.ljust(width)}"
        if not test.passed:
            line += f"  {test.reason}"
        lines.append(line.rstrip())
    lines.append(f"score: {result.score!r} / {result.max_score!r}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("homework", help="homework name (a folder of homeworks/ with homework.json)")
    parser.add_argument("submission", type=Path, help="folder with the student's versions of the released files")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write Gradescope-style results here")
    parser.add_argument("--allow-no-isolation", action="store_true",
                        help="grade without the sandbox when it is unavailable (a student's own machine)")
    parser.add_argument("--root", type=Path, default=HOMEWORKS_DIR, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Grade and report; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        homework = load_homework(args.homework, root=args.root)
        if not args.submission.exists():
            raise HomeworkError(args.submission, "папка с решением не найдена (submission directory not found)")
        if not args.submission.is_dir():
            raise HomeworkError(args.submission, "ожидается папка, а не файл (expected a directory, not a file)")
        if args.json is not None and args.json.is_dir():
            raise HomeworkError(args.json, "это папка; --json ожидает путь к файлу (is a directory)")
        result = grade_submission(homework, args.submission,
                                  isolation="auto" if args.allow_no_isolation else "namespaces")
        try:
            print(format_report(result), flush=True)
        except BrokenPipeError:  # e.g. `grade.py ... | head`: carry on and write the JSON
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the flush at exit
        if args.json is not None:
            text = json.dumps(result.to_json(), ensure_ascii=False, indent=2) + "\n"
            write_text_atomic(args.json, text)
    except (HomeworkError, NotebookError) as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except IsolationError as exc:
        print(f"{NO_ISOLATION_HINT} ({exc})", file=sys.stderr)
        return EXIT_BAD_INPUT
    except GraderError as exc:
        print(f"grader error: {exc}", file=sys.stderr)
        return EXIT_GRADER_BROKEN
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
