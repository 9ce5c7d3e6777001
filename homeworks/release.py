"""Write the student releases: ``python homeworks/release.py [--out build/assignments] [HW ...]``.

For each homework (all of them when none is named) the files listed in its ``homework.json``
are copied to ``OUT/<hw>/`` with every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region
replaced by ``raise NotImplementedError`` (also inside ``.ipynb`` code cells). The grader and
the reference solution are never released.

Every release is built and checked in memory before anything is written (see
``grading/strip.py``): a near-miss marker, a file that is not UTF-8, a released file that no
longer compiles, or a solution line that would reach the student stops the whole run with one
line on stderr and exit 2, and no release is written or changed. Exit codes: 0 ok, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grading.homework import HOMEWORKS_DIR, HomeworkError, list_homeworks, load_homework  # noqa: E402
from grading.strip import plan_release, write_release  # noqa: E402

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("homeworks", nargs="*", metavar="HOMEWORK", help="homeworks to release (default: all)")
    parser.add_argument("--out", type=Path, default=Path("build/assignments"), help="output folder (default: %(default)s)")
    parser.add_argument("--root", type=Path, default=HOMEWORKS_DIR, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Release the requested homeworks; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        names = args.homeworks or list_homeworks(args.root)
        if not names:
            raise HomeworkError(args.root, "no homeworks found (no */homework.json)")
        # Validate everything first, so a bad homework leaves every release untouched.
        homeworks = [load_homework(name, root=args.root) for name in names]
        if args.out.exists() and not args.out.is_dir():
            raise HomeworkError(args.out, "output path exists and is not a directory")
        releases = [plan_release(homework) for homework in homeworks]  # every check before any write
        for release in releases:
            written = write_release(release, args.out)
            print(f"{release.name}: {len(written)} file(s) -> {args.out / release.name}")
    except HomeworkError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
