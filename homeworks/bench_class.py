"""Benchmark of batch grading: ``python homeworks/bench_class.py [--students 30] [--homework activations]``.

Generates a class of ``--students`` submissions of one homework (a third reference solutions,
a third untouched releases, a third wrong solutions: every one goes through the full grader),
grades it with ``grade_class`` (``--jobs`` at a time, default: the number of cores), then grades
the same students one by one with ``python homeworks/grade.py`` (what an instructor would do
without the batch), and prints, all measured in this run: total time, time per student, the
speed-up of the batch over one-by-one grading, and the projected time for 300 students x the
3 homeworks. The projection scales the batch's measured time per student by the reference grading
time of each homework relative to this one's (all measured here); it is an estimate and says so.
Not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grading.classbook import grade_class, usable_cores  # noqa: E402
from grading.homework import HOMEWORKS_DIR, Homework, list_homeworks, load_homework  # noqa: E402
from grading.strip import release_homework  # noqa: E402

#: A wrong solution per homework: (file, text of the reference, its replacement); one edit that
#: costs some tests (activations: MyReLU becomes the identity; mlp: MyLinear drops the bias).
#: A homework without an entry gets releases instead.
WRONG = {
    "activations": ("activations.py", "return ReLUFunction.apply(x)", "return x.clone()"),
    "mlp": ("mlp.py", "return LinearFunction.apply(x, self.weight, self.bias)", "return x @ self.weight.T"),
}


def make_class(homework: Homework, students: int, root: Path) -> Path:
    """Write ``students`` submission folders under ``root/class`` (cycling reference, release, wrong)."""
    release_homework(homework, root / "release")
    released = root / "release" / homework.name
    subs = root / "class"
    for index in range(students):
        folder = subs / f"student_{index:03d}"
        kind = index % 3
        if kind == 1 or (kind == 2 and homework.name not in WRONG):
            shutil.copytree(released, folder)
            continue
        folder.mkdir(parents=True)
        for listed in homework.files:
            if listed.endswith(".py"):
                shutil.copyfile(homework.directory / listed, folder / listed)
        if kind == 2:
            file, old, new = WRONG[homework.name]
            text = (folder / file).read_text(encoding="utf-8")
            if text.count(old) != 1:
                raise SystemExit(f"{homework.directory / file}: the wrong-solution edit no longer applies ({old!r})")
            (folder / file).write_text(text.replace(old, new), encoding="utf-8")
    return subs


def grade_one_by_one(homework: Homework, folders: Sequence[Path], out: Path, allow_no_isolation: bool) -> float:
    """Grade ``folders`` sequentially with the single-submission CLI; return the seconds taken."""
    begin = time.monotonic()
    for folder in folders:
        command = [sys.executable, str(HOMEWORKS_DIR / "grade.py"), homework.name, str(folder),
                   "--json", str(out / f"{folder.name}.json")]
        if allow_no_isolation:
            command.append("--allow-no-isolation")
        process = subprocess.run(command, capture_output=True, text=True, cwd=HOMEWORKS_DIR.parent)
        if process.returncode != 0:
            raise SystemExit(f"{folder}: grade.py exited {process.returncode}: {process.stderr.strip()}")
    return time.monotonic() - begin


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homework", default="activations", help="homework of the generated class (default: %(default)s)")
    parser.add_argument("--students", type=int, default=30, help="class size (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=usable_cores(), help="batch workers (default: cores = %(default)s)")
    parser.add_argument("--allow-no-isolation", action="store_true", help="grade without the sandbox if it is unavailable")
    args = parser.parse_args(argv)
    if args.students < 1 or args.jobs < 1:
        print("--students and --jobs must be at least 1", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C works in a background job too
    homework = load_homework(args.homework)
    isolation = "auto" if args.allow_no_isolation else "namespaces"
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-class-") as scratch:
        root = Path(scratch)
        subs = make_class(homework, args.students, root)
        folders = sorted(p for p in subs.iterdir())
        report = grade_class(homework, subs, root / "grades", jobs=args.jobs, force=True, isolation=isolation)
        batch_s = report.seconds
        load_between = os.getloadavg()
        if report.not_graded:
            print(f"warning: {len(report.not_graded)} student(s) not graded", file=sys.stderr)
        (root / "single").mkdir()
        sequential_s = grade_one_by_one(homework, folders, root / "single", args.allow_no_isolation)
        # One reference grading of every homework, for the projection to 300 students x 3 homeworks.
        singles: dict[str, float] = {}
        scores: dict[str, str] = {}
        for name in list_homeworks():
            other = load_homework(name)
            folder = root / "ref" / name
            folder.mkdir(parents=True)
            for listed in other.files:
                if listed.endswith(".py"):
                    shutil.copyfile(other.directory / listed, folder / listed)
            singles[name] = grade_one_by_one(other, [folder], root / "ref", args.allow_no_isolation)
            result = json.loads((root / "ref" / f"{name}.json").read_text(encoding="utf-8"))
            scores[name] = f"{result['score']:g}/{result['max_score']:g}"
    load_after = os.getloadavg()
    n = args.students
    speedup = sequential_s / batch_s
    # The batch's measured time per student of this homework, scaled to each homework by the ratio of
    # its reference grading to this homework's reference grading (both measured in this run).
    per_student = batch_s / n
    projected_s = 300 * per_student * sum(singles.values()) / singles[homework.name]
    print(f"class: {n} students of '{homework.name}' (reference / release / wrong in turn), "
          f"{args.jobs} jobs, {usable_cores()} usable cores, isolation: "
          f"{sorted({o.isolation or '-' for o in report.outcomes})}")
    print(f"load average (1 min) before the batch / after it / after one by one: {load_before[0]:.2f} / "
          f"{load_between[0]:.2f} / {load_after[0]:.2f} (other processes on the machine skew the speed-up)")
    print(f"batch (grade_class):  total {batch_s:.1f} s, {batch_s / n:.2f} s per student")
    print(f"one by one (grade.py): total {sequential_s:.1f} s, {sequential_s / n:.2f} s per student")
    print(f"speed-up of the batch: {speedup:.2f}x")
    print("one reference grading: " + ", ".join(f"{k} {v:.1f} s (score {scores[k]})" for k, v in singles.items()))
    if any(not score.startswith(score.split("/")[1] + "/") for score in scores.values()):
        print("note: a reference that does not score full marks ran a broken or unconverted grader; "
              "its time is not representative")
    print(f"projected for 300 students x {len(singles)} homeworks: {projected_s:.0f} s = {projected_s / 3600:.2f} h "
          f"(estimate: 300 x batch time per student x sum over homeworks of reference grading time / "
          f"'{homework.name}' reference grading time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
