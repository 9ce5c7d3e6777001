"""Tests of batch grading (``homeworks/grade_class.py``, ``grading.classbook``), run as an instructor runs it.

One small class of the ``activations`` homework is graded for real, two gradings at a time: a
reference, the untouched release, a wrong submission, a submission that hangs at import, and
the broken kinds that must score 0 with a clear status without stopping the batch (empty
folder, syntax error, wrong file name, non-UTF-8, a symbolic link to the instructor's
reference, a huge file), and, where the sandbox exists, a dishonest submission that tries to
rewrite the other students' files while they are graded. Then the resume, ``--force``,
"could not be graded", bad-input and Ctrl-C paths.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hw_helpers import release

REPO = Path(__file__).resolve().parent.parent
HOMEWORKS = REPO / "homeworks"
CLI = HOMEWORKS / "grade_class.py"
REFERENCE = HOMEWORKS / "activations" / "activations.py"
WRONG_FROM, WRONG_TO = "return ReLUFunction.apply(x)", "return x.clone()"  # MyReLU becomes the identity

sys.path.insert(0, str(HOMEWORKS))
from grading.sandbox import detect_isolation  # noqa: E402

sys.path.pop(0)  # do not leave homeworks/ importable (`import mlp` would find the instructor folder)

#: The dishonest student (graded first, next to the reference) runs only where the sandbox
#: exists: without it, nothing would stop it from rewriting the other students' files.
SANDBOX = detect_isolation().level == "namespaces"
DISHONEST = """import pathlib
for path in pathlib.Path({subs!r}).glob("*/activations.py"):
    try:
        path.write_text("raise SystemExit")
    except OSError:
        pass
try:
    pathlib.Path({subs!r}, "zz_planted").mkdir()
except OSError:
    pass
"""

#: student -> expected gradebook status (score 0 for all but the reference and the wrong one)
STATUSES = {
    **({"0_dishonest": None} if SANDBOX else {}),
    "a_reference": "graded",
    "b_release": "graded",  # every test fails with its own NotImplementedError line (checked below)
    "c_wrong_relu": "graded",
    "d_hangs_at_import": None,  # graded, all tests failed for the one import reason (checked below)
    "e_empty": "empty",
    "f_syntax_error": "syntax_error: activations.py:2",
    "g_wrong_file_name": "missing_file: activations.py (found: activation.py)",
    "h_not_utf8": "not_utf8: activations.py",
    "i_symlink_to_reference": "symlink: activations.py",
    "j_huge": "too_large: activations.py",
    "k_readme_only": "missing_file: activations.py",
}


def run_cli(*args: str | Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """``python homeworks/grade_class.py ARGS`` from the repository root."""
    return subprocess.run([sys.executable, str(CLI), *map(str, args), "--no-progress", "--allow-no-isolation"],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def make_class(root: Path) -> Path:
    """Write the class folder described by :data:`STATUSES`; return it."""
    subs = root / "class"
    released = release("activations", root / "release")
    reference = REFERENCE.read_text(encoding="utf-8")
    assert reference.count(WRONG_FROM) == 1
    folders = {name: subs / name for name in STATUSES}
    for folder in folders.values():
        folder.mkdir(parents=True)
    shutil.copyfile(REFERENCE, folders["a_reference"] / "activations.py")
    shutil.copytree(released, folders["b_release"], dirs_exist_ok=True)
    (folders["c_wrong_relu"] / "activations.py").write_text(reference.replace(WRONG_FROM, WRONG_TO), encoding="utf-8")
    (folders["d_hangs_at_import"] / "activations.py").write_text("while True:\n    pass\n", encoding="utf-8")
    (folders["f_syntax_error"] / "activations.py").write_text("import torch\ndef relu(x:\n", encoding="utf-8")
    shutil.copyfile(REFERENCE, folders["g_wrong_file_name"] / "activation.py")
    (folders["h_not_utf8"] / "activations.py").write_bytes("# комментарий\n".encode("cp1251"))
    (folders["i_symlink_to_reference"] / "activations.py").symlink_to(REFERENCE)
    (folders["j_huge"] / "activations.py").write_text("#" * (6 * 2**20) + "\n", encoding="utf-8")
    (folders["k_readme_only"] / "README.md").write_text("решение потерялось\n", encoding="utf-8")
    (subs / ".git").mkdir()  # hidden folders are not students
    (subs / "roster.csv").write_text("not a student\n", encoding="utf-8")
    if SANDBOX:
        (folders["0_dishonest"] / "activations.py").write_text(DISHONEST.format(subs=str(subs)), encoding="utf-8")
    return subs


def read_gradebook(path: Path) -> list[dict[str, str]]:
    """Rows of a gradebook (the header is checked by the caller)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The class graded once with ``--jobs 2``: CLI result, folders and timings."""
    root = tmp_path_factory.mktemp("class")
    subs = make_class(root)
    out = root / "grades"
    begin = time.monotonic()
    before = {p: p.read_bytes() for p in subs.rglob("*") if p.is_file() and not p.is_symlink()}
    process = run_cli("activations", subs, "--out", out, "--jobs", "2")
    after = {p: p.read_bytes() for p in subs.rglob("*") if p.is_file() and not p.is_symlink()}
    assert after == before, "a grading changed the class folder"
    assert not (subs / "zz_planted").exists()
    return {"process": process, "subs": subs, "out": out, "book": out / "activations", "seconds": time.monotonic() - begin}


def test_gradebook(graded: dict[str, object]) -> None:
    """Exit 0, the exact header, one row per student folder, sorted, with the right scores and statuses."""
    process = graded["process"]
    assert isinstance(process, subprocess.CompletedProcess)
    assert process.returncode == 0, process.stderr
    book = graded["book"]
    assert isinstance(book, Path)
    text = (book / "gradebook.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "student,score,max_score,status"
    rows = read_gradebook(book / "gradebook.csv")
    assert [r["student"] for r in rows] == sorted(STATUSES)
    by_name = {r["student"]: r for r in rows}
    assert by_name["a_reference"]["score"] == "1.0"
    wrong = float(by_name["c_wrong_relu"]["score"])
    assert 0.0 < wrong < 1.0, by_name["c_wrong_relu"]
    for name, status in STATUSES.items():
        row = by_name[name]
        assert row["max_score"] == "1.0"
        if name not in ("a_reference", "c_wrong_relu"):
            assert row["score"] == "0.0", row
        if status is not None:
            assert row["status"] == status, row
    hang = by_name["d_hangs_at_import"]["status"]
    assert hang.startswith("graded: all tests failed: ") and "activations.py" in hang, hang
    summary = process.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"activations: {len(STATUSES)} students, {len(STATUSES)} graded (0 unchanged"), summary


def test_student_reports(graded: dict[str, object]) -> None:
    """Gradescope-style JSON and Russian feedback per student; no tracebacks, grader source or paths."""
    book = graded["book"]
    assert isinstance(book, Path)
    for name in STATUSES:
        data = json.loads((book / f"{name}.json").read_text(encoding="utf-8"))
        assert {"score", "max_score", "tests", "output", "execution_time"} <= set(data)
        assert data["extra_data"]["graded"] is True
        feedback = (book / f"{name}.md").read_text(encoding="utf-8")
        assert f"Студент: `{name}`" in feedback
        for text in (feedback, json.dumps(data, ensure_ascii=False)):
            for leak in (str(REPO), "/tmp/", str(graded["subs"]), "Traceback", "grader/", "test_activations.py:"):
                assert leak not in text, (name, leak)
    wrong = json.loads((book / "c_wrong_relu.json").read_text(encoding="utf-8"))
    failed = [t for t in wrong["tests"] if t["status"] == "failed"]
    assert failed and all("ReLU" in t["name"] and t["output"] for t in failed), failed
    assert wrong["score"] == pytest.approx(1.0 - sum(t["max_score"] for t in failed))
    feedback = (book / "c_wrong_relu.md").read_text(encoding="utf-8")
    for test in failed:
        assert f"- `{test['name']}` (0 из {test['max_score']!r}): {test['output']}" in feedback
    assert "Решение не проверялось тестами" in (book / "g_wrong_file_name.md").read_text(encoding="utf-8")
    assert "activation.py" in (book / "g_wrong_file_name.md").read_text(encoding="utf-8")
    assert "Все тесты пройдены." in (book / "a_reference.md").read_text(encoding="utf-8")
    released = json.loads((book / "b_release.json").read_text(encoding="utf-8"))
    assert released["tests"] and all(t["output"].startswith("NotImplementedError") for t in released["tests"])


def test_resume(graded: dict[str, object]) -> None:
    """A second run reuses everything and rewrites nothing; a changed submission alone is regraded."""
    subs, out, book = graded["subs"], graded["out"], graded["book"]
    assert isinstance(subs, Path) and isinstance(out, Path) and isinstance(book, Path)
    gradebook = (book / "gradebook.csv").read_text(encoding="utf-8")
    stamps = {p.name: p.stat().st_mtime_ns for p in book.iterdir() if p.suffix != ".csv"}
    again = run_cli("activations", subs, "--out", out, "--jobs", "2")
    assert again.returncode == 0, again.stderr
    assert f"{len(STATUSES)} graded ({len(STATUSES)} unchanged, reused)" in again.stdout
    assert (book / "gradebook.csv").read_text(encoding="utf-8") == gradebook
    assert {p.name: p.stat().st_mtime_ns for p in book.iterdir() if p.suffix != ".csv"} == stamps
    # The student fixes the wrong file name: only that student is graded again, now with full points.
    (subs / "g_wrong_file_name" / "activation.py").rename(subs / "g_wrong_file_name" / "activations.py")
    changed = run_cli("activations", subs, "--out", out, "--jobs", "2")
    assert changed.returncode == 0, changed.stderr
    assert f"({len(STATUSES) - 1} unchanged, reused)" in changed.stdout
    rows = {r["student"]: r for r in read_gradebook(book / "gradebook.csv")}
    assert rows["g_wrong_file_name"]["score"] == "1.0" and rows["g_wrong_file_name"]["status"] == "graded"
    assert {k: v["score"] for k, v in rows.items() if k != "g_wrong_file_name"} == {
        r["student"]: r["score"] for r in csv.DictReader(gradebook.splitlines()) if r["student"] != "g_wrong_file_name"}


def test_force_and_grader_change(tmp_path: Path) -> None:
    """--force regrades unchanged students; so does a change of the grader (its hash)."""
    subs = tmp_path / "class"
    for name in ("a", "b"):
        (subs / name).mkdir(parents=True)
    (subs / "b" / "activations.py").write_text("def broken(:\n", encoding="utf-8")
    out = tmp_path / "grades"
    first = run_cli("activations", subs, "--out", out)
    assert first.returncode == 0 and "2 graded (0 unchanged" in first.stdout, first.stdout + first.stderr
    assert "2 graded (2 unchanged" in run_cli("activations", subs, "--out", out).stdout
    forced = run_cli("activations", subs, "--out", out, "--force")
    assert forced.returncode == 0 and "2 graded (0 unchanged" in forced.stdout, forced.stdout
    # A previous run by another grader: the recorded grader hash differs, so the student is regraded.
    record = out / "activations" / "a.json"
    data = json.loads(record.read_text(encoding="utf-8"))
    data["extra_data"]["grader_sha256"] = "0" * 64
    record.write_text(json.dumps(data), encoding="utf-8")
    assert "2 graded (1 unchanged" in run_cli("activations", subs, "--out", out).stdout


FAKE_PYTHON = """#!/bin/sh
# Stands in for the grading child's interpreter: crash or hang for some students.
case "$*" in
  *crasher*) echo "Segmentation fault" >&2; exit 139 ;;
  *sleeper*) exec sleep 600 ;;
  *) exec {python} "$@" ;;
esac
"""


def test_not_graded_exit_1(tmp_path: Path) -> None:
    """A grading process that crashes or never returns costs only its student: status error, exit 1."""
    subs = tmp_path / "class"
    for name in ("crasher", "sleeper", "ok_empty"):
        (subs / name).mkdir(parents=True)
    (subs / "crasher" / "activations.py").write_text("x = 1\n", encoding="utf-8")
    (subs / "sleeper" / "activations.py").write_text("x = 2\n", encoding="utf-8")
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_PYTHON.format(python=sys.executable), encoding="utf-8")
    fake.chmod(0o755)
    out = tmp_path / "grades"
    process = run_cli("activations", subs, "--out", out, "--jobs", "3", "--python", fake, "--student-timeout", "2")
    assert process.returncode == 1, process.stdout + process.stderr
    rows = {r["student"]: r for r in read_gradebook(out / "activations" / "gradebook.csv")}
    assert rows["crasher"]["score"] == "" and rows["crasher"]["status"].startswith("error: "), rows
    assert "139" in rows["crasher"]["status"]
    assert rows["sleeper"]["score"] == "" and "2" in rows["sleeper"]["status"], rows
    assert rows["ok_empty"]["status"] == "empty" and rows["ok_empty"]["score"] == "0.0"
    assert "Решение не проверено" in (out / "activations" / "crasher.md").read_text(encoding="utf-8")
    # A student whose grading failed is retried by the next run (not reused), the others are not.
    again = run_cli("activations", subs, "--out", out, "--jobs", "3", "--python", fake, "--student-timeout", "2")
    assert "3 students, 1 graded (1 unchanged, reused), 2 not graded" in again.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("activations", "{tmp}/missing"), "folder does not exist"),
    (("no-such-homework", "{tmp}"), "unknown homework"),
    (("activations", "{tmp}/file.txt"), "not a folder"),
    (("activations", "{tmp}/no_students"), "no student folders"),
    (("activations", "{tmp}", "--jobs", "0"), "--jobs: must be at least 1"),
])
def test_bad_input(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    """Bad input: exit 2, one line on stderr naming what is wrong, nothing written."""
    (tmp_path / "file.txt").write_text("x\n", encoding="utf-8")
    (tmp_path / "no_students" / ".hidden").mkdir(parents=True)
    (tmp_path / "student").mkdir()
    out = tmp_path / "grades"
    process = run_cli(*(a.format(tmp=tmp_path) for a in args), "--out", out, timeout=60)
    assert process.returncode == 2
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], process.stderr
    assert not out.exists() or not any(out.rglob("*.json"))


def test_ctrl_c_keeps_finished(tmp_path: Path) -> None:
    """SIGINT mid-batch: exit 130, the finished student's files stay, the rest is 'interrupted'."""
    subs = tmp_path / "class"
    (subs / "a_empty").mkdir(parents=True)
    for name in ("b_hang", "c_hang"):
        (subs / name).mkdir()
        (subs / name / "activations.py").write_text("import time\ntime.sleep(3600)\n", encoding="utf-8")
    out = tmp_path / "grades"
    process = subprocess.Popen([sys.executable, str(CLI), "activations", str(subs), "--out", str(out),
                                "--jobs", "1", "--no-progress", "--allow-no-isolation"], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    book = out / "activations"
    deadline = time.monotonic() + 60
    while not (book / "a_empty.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # b_hang's grading is under way
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout + stderr
    assert stdout.startswith("interrupted: "), stdout
    rows = {r["student"]: r for r in read_gradebook(book / "gradebook.csv")}
    assert rows["a_empty"]["status"] == "empty"
    assert rows["b_hang"]["status"] == rows["c_hang"]["status"] == "interrupted"
    assert json.loads((book / "a_empty.json").read_text(encoding="utf-8"))["extra_data"]["status"] == "empty"
    assert not (book / "b_hang.json").exists()
    assert not [p for p in book.iterdir() if p.name.startswith(".")], "temporary files left behind"
    children = subprocess.run(["pgrep", "-f", str(subs / "b_hang")], capture_output=True, text=True)
    assert children.stdout.strip() == "", "a grading process outlived the interrupted batch"
    assert os.path.isdir(subs / "b_hang")


def _cmdline(pid: str) -> str:
    """The command line of a process, or "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_children_stop_when_the_batch_is_killed(tmp_path: Path) -> None:
    """SIGKILL of the batch process: its grading children are interrupted too (no orphans)."""
    if sys.platform != "linux":
        pytest.skip("PR_SET_PDEATHSIG is Linux-only")
    subs = tmp_path / "class"
    (subs / "sleeper").mkdir(parents=True)
    (subs / "sleeper" / "activations.py").write_text("x = 1\n", encoding="utf-8")
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_PYTHON.format(python=sys.executable), encoding="utf-8")
    fake.chmod(0o755)
    scratch = tmp_path / "tmp"  # a killed batch cannot remove its scratch folder: keep it in here
    scratch.mkdir()
    process = subprocess.Popen([sys.executable, str(CLI), "activations", str(subs), "--out", str(tmp_path / "grades"),
                                "--no-progress", "--allow-no-isolation", "--python", str(fake)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "TMPDIR": str(scratch)})
    pattern = "sleep 600"
    deadline = time.monotonic() + 60
    children: list[str] = []
    while not children and time.monotonic() < deadline:
        time.sleep(0.2)
        found = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        children = [pid for pid in found if pattern in _cmdline(pid)]
    assert children, "the grading child did not start"
    process.kill()
    process.wait(timeout=30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in children):
        time.sleep(0.2)
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists()
             and b"zombie" not in Path(f"/proc/{pid}/status").read_bytes().lower()]
    assert not alive, f"grading children outlived the killed batch: {alive}"
