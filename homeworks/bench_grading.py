"""Benchmark: wall-clock time of grading each homework's reference solution (not a test).

``python homeworks/bench_grading.py [--runs N] [HW ...]`` grades ``homeworks/<hw>/`` (the
instructor folder, whose listed files are the reference solution) ``N`` times with
:func:`grading.grade_submission`, exactly as ``grade.py`` does, and prints per homework the
median, the single runs, the score (it must be the full score) and the isolation used. The
times include starting the judge, the sandboxed worker (Python + torch import) and every test.
Exit 0, or 1 when a reference does not get its full score.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grading.homework import HomeworkError, list_homeworks, load_homework  # noqa: E402
from grading.runner import GraderError, IsolationError, grade_submission  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("homeworks", nargs="*", help="homework names (default: all)")
    parser.add_argument("--runs", type=int, default=3, help="gradings per homework (default 3)")
    parser.add_argument("--isolation", choices=["auto", "namespaces", "none"], default="auto")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    names = args.homeworks or list_homeworks()
    status = 0
    for name in names:
        try:
            homework = load_homework(name)
            times, scores, isolation = [], set(), ""
            for _ in range(args.runs):
                begin = time.perf_counter()
                result = grade_submission(homework, homework.directory, isolation=args.isolation)
                times.append(time.perf_counter() - begin)
                scores.add(result.score)
                isolation = result.isolation
        except (HomeworkError, GraderError, IsolationError) as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return 2
        runs = ", ".join(f"{t:.2f}" for t in times)
        full = scores == {homework.max_score}
        status |= 0 if full else 1
        print(f"{name:<12} median {statistics.median(times):6.2f} s  runs [{runs}]  "
              f"score {sorted(scores)}{'' if full else ' (NOT the full score)'}  isolation {isolation}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
