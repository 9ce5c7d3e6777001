"""Grade a whole class: ``python homeworks/grade_class.py HW SUBS [--jobs N] [--force] [--out build/grades]``.

Every immediate subfolder of ``SUBS`` is one student's submission, named by the student's id
(as LMS and GitHub Classroom exports name them). Each is graded by the trusted grader in its own
process, at most ``--jobs`` at a time (default: the CPU cores this process may use), with a progress bar
and a one-line summary. Writes ``OUT/<hw>/gradebook.csv`` (``student,score,max_score,status``),
``OUT/<hw>/<student>.json`` (Gradescope-style) and ``OUT/<hw>/<student>.md`` (Russian feedback).
A second run regrades only students whose submission or grader changed (``--force``: all).
Ctrl-C keeps every student already finished. Without the grader's sandbox nothing is graded
unless ``--allow-no-isolation`` is given. Exit codes: 0 every submission was graded
(whatever the scores), 1 some could not be graded, 2 bad input or no sandbox (one line on stderr), 130
interrupted. See :mod:`grading.classbook` for the statuses.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grading.classbook import (  # noqa: E402
    DEFAULT_STUDENT_TIMEOUT_S,
    ClassError,
    Outcome,
    grade_class,
    usable_cores,
)
from grading.homework import HOMEWORKS_DIR, HomeworkError, load_homework  # noqa: E402
from grading.runner import IsolationError  # noqa: E402
from tqdm import tqdm  # noqa: E402

EXIT_OK = 0
EXIT_NOT_GRADED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

NO_ISOLATION_HINT = (
    "sandbox unavailable, nothing graded: install bubblewrap and run as root (make install-sandbox), "
    "or pass --allow-no-isolation (only for trying things out: student code then runs unconfined)"
)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("homework", help="homework name (a folder of homeworks/ with homework.json)")
    parser.add_argument("subs", type=Path, help="folder with one subfolder per student")
    parser.add_argument("--jobs", "-j", type=int, default=None,
                        help="gradings at once (default: the CPU cores this process may use)")
    parser.add_argument("--force", action="store_true", help="regrade students whose submission is unchanged")
    parser.add_argument("--out", type=Path, default=Path("build/grades"),
                        help="output folder; results go to OUT/<hw>/ (default: %(default)s)")
    parser.add_argument("--allow-no-isolation", action="store_true",
                        help="grade without the sandbox where it is unavailable (never for real grades)")
    parser.add_argument("--student-timeout", type=float, default=DEFAULT_STUDENT_TIMEOUT_S, metavar="S",
                        help="backstop wall-clock limit for one student's grading (default: %(default)g s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--root", type=Path, default=HOMEWORKS_DIR, help=argparse.SUPPRESS)
    # The interpreter of the per-student grading processes (tests use a wrapper to fake a crash).
    parser.add_argument("--python", default=None, help=argparse.SUPPRESS)
    return parser


def _sigterm_to_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the batch like Ctrl-C: finished students are kept."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Grade the class and print the summary; return the exit code."""
    args = build_parser().parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        print(f"--jobs: must be at least 1, got {args.jobs}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.student_timeout <= 0:
        print(f"--student-timeout: must be > 0, got {args.student_timeout:g}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        homework = load_homework(args.homework, root=args.root)
    except HomeworkError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    bar: tqdm | None = None

    def start(total: int, reused: int) -> None:
        nonlocal bar
        bar = tqdm(total=total, initial=0, unit="student", desc=homework.name, file=sys.stderr,
                   disable=args.no_progress or None, dynamic_ncols=True)

    def advance(outcome: Outcome) -> None:
        if bar is not None:
            bar.update(1)
            if not outcome.graded:
                bar.write(f"{outcome.student}: {outcome.status_text()}", file=sys.stderr)

    previous = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    # Ctrl-C must stop the batch even when this process started with SIGINT ignored (a
    # background job of a non-interactive shell): Python then installs no handler of its own.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        report = grade_class(
            homework, args.subs, args.out, jobs=args.jobs or usable_cores(), force=args.force,
            isolation="auto" if args.allow_no_isolation else "namespaces", student_timeout_s=args.student_timeout,
            python=args.python, progress=advance, total_hook=start,
        )
    except ClassError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except IsolationError as exc:
        print(f"{NO_ISOLATION_HINT} ({exc})", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # before grading started, or a second Ctrl-C while stopping
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        if bar is not None:
            bar.close()
    print(report.summary(), flush=True)
    if report.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_NOT_GRADED if report.not_graded else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
