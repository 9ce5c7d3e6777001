"""Tests of the GitHub Classroom templates (``homeworks/classroom.py``, ``make classroom``).

Every template is built once per session. Its workflow must be valid against GitHub's workflow
schema (check-jsonschema's vendored copy, offline) and use pinned actions; its grading commands,
run the way the command grader runs them (no shell; a step passes on exit 0 with nothing on
stderr) in a fresh clone of the template, must give 0 points for the release and full points
for a copy of the reference; and no line of a reference solution or of a hidden grader test may
appear in any template.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "homeworks"))
from grading.strip import strip_notebook_text, strip_solutions  # noqa: E402

sys.path.pop(0)  # do not leave homeworks/ importable (`import mlp` would find the instructor folder)

REPO = Path(__file__).resolve().parent.parent
HOMEWORKS = REPO / "homeworks"
CLI = HOMEWORKS / "classroom.py"
WORKFLOW = ".github/workflows/classroom.yml"
NAMES = sorted(p.parent.name for p in HOMEWORKS.glob("*/homework.json"))
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
#: Line starts that carry no test content of their own.
PYTEST_IDIOMS = ("import ", "from ", "#", "with pytest.raises(", "@pytest.mark.")


def build(out: Path, *names: str, root: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python homeworks/classroom.py --out OUT NAMES``."""
    extra = ["--root", str(root)] if root is not None else []
    return subprocess.run([sys.executable, str(CLI), "--out", str(out), *extra, *names],
                          capture_output=True, text=True, timeout=300, cwd=REPO)


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All templates, built once."""
    out = tmp_path_factory.mktemp("classroom")
    process = build(out)
    assert process.returncode == 0, process.stderr
    assert sorted(p.name for p in out.iterdir()) == NAMES
    return out


def load_workflow(template: Path) -> dict[Any, Any]:
    """The template's workflow as data (the key ``on`` is quoted, so YAML 1.1 readers keep it a string)."""
    data = yaml.safe_load((template / WORKFLOW).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def grader_steps(template: Path) -> list[dict[str, Any]]:
    """The command-grader steps of the template's workflow."""
    steps = load_workflow(template)["jobs"]["run-autograding-tests"]["steps"]
    return [s for s in steps if str(s.get("uses", "")).startswith("classroom-resources/autograding-command-grader@")]


def test_workflows_valid_against_github_schema(templates: Path) -> None:
    """check-jsonschema with its vendored GitHub workflow schema accepts every workflow."""
    files = [str(templates / name / WORKFLOW) for name in NAMES]
    process = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                              "vendor.github-workflows", *files], capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stdout + process.stderr


def test_schema_check_can_fail(tmp_path: Path) -> None:
    """The same check rejects a workflow with a step that is neither `uses` nor `run`."""
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\non: push\njobs:\n  j:\n    runs-on: ubuntu-24.04\n    steps:\n      - name: nothing\n",
                   encoding="utf-8")
    process = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                              "vendor.github-workflows", str(bad)], capture_output=True, text=True, timeout=120)
    assert process.returncode == 1, process.stdout + process.stderr


@pytest.mark.parametrize("name", NAMES)
def test_workflow_shape(templates: Path, name: str) -> None:
    """Pinned actions, one grader step per public test file, every step reported, CPU torch."""
    template = templates / name
    data = load_workflow(template)
    assert set(data["on"]) == {"push", "workflow_dispatch", "repository_dispatch"}
    job = data["jobs"]["run-autograding-tests"]
    uses = [s["uses"] for s in job["steps"] if "uses" in s]
    assert all(u.rsplit("@", 1)[1].startswith("v") and u.rsplit("@", 1)[1][1:].isdigit() for u in uses), uses
    assert "classroom-resources/autograding-grading-reporter@v1" in uses
    steps = grader_steps(template)
    tests = sorted(p.name for p in (template / "tests").glob("test_*.py"))
    assert [s["with"]["command"].split()[-1] for s in steps] == [f"tests/{t}" for t in tests]
    reporter = job["steps"][-1]
    assert reporter["with"]["runners"].split(",") == [s["id"] for s in steps]
    assert set(reporter["env"]) == {f"{s['id'].upper()}_RESULTS" for s in steps}
    install = next(s["run"] for s in job["steps"] if "run" in s)
    assert "--index-url https://download.pytorch.org/whl/cpu torch==2.13.0" in install
    requirements = (template / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    assert "torch==2.13.0" in requirements and any(r.startswith("pytest==") for r in requirements)
    assert "python -m pytest tests" in (template / "README.md").read_text(encoding="utf-8")


def run_steps(clone: Path, steps: list[dict[str, Any]]) -> dict[str, bool]:
    """Run each step's command as the command grader does (argv split, no shell) in ``clone``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST", "HW_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["OMP_NUM_THREADS"] = "1"

    def one(step: dict[str, Any]) -> bool:
        process = subprocess.run(shlex.split(step["with"]["command"]), cwd=clone, env=env,
                                 capture_output=True, text=True, timeout=60 * int(step["with"]["timeout"]))
        return process.returncode == 0 and process.stderr == ""

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip([s["id"] for s in steps], pool.map(one, steps), strict=True))


def fresh_clone(template: Path, where: Path) -> Path:
    """``git init`` + commit the template, then clone it: what a student gets from Classroom."""
    origin = where / "origin"
    shutil.copytree(template, origin)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "template"]):
        subprocess.run([*git, *command], cwd=origin, check=True, capture_output=True, timeout=60)
    clone = where / "clone"
    subprocess.run([*git, "clone", "-q", str(origin), str(clone)], check=True, capture_output=True, timeout=60)
    return clone


@pytest.mark.parametrize("name", NAMES)
def test_fresh_clone_release_zero_reference_full(templates: Path, tmp_path: Path, name: str) -> None:
    """The release scores 0 on every step; with the reference copied in, every step passes."""
    clone = fresh_clone(templates / name, tmp_path)
    steps = grader_steps(clone)
    assert steps and all(isinstance(s["with"]["max-score"], int) and s["with"]["max-score"] > 0 for s in steps)
    release = run_steps(clone, steps)
    assert not any(release.values()), release
    modules = [p.name for p in (HOMEWORKS / name).glob("*.py") if (clone / p.name).exists()]
    assert modules
    for module in modules:
        shutil.copyfile(HOMEWORKS / name / module, clone / module)
    reference = run_steps(clone, steps)
    assert all(reference.values()), reference
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True)
    assert sorted(line[3:] for line in status.stdout.splitlines()) == sorted(modules), status.stdout


def solution_lines(text: str) -> set[str]:
    """Stripped lines inside solution regions."""
    lines, inside = set(), False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == BEGIN:
            inside = True
        elif stripped == END:
            inside = False
        elif inside and stripped:
            lines.add(stripped)
    return lines


def normalized_lines(text: str, notebook: bool) -> set[str]:
    """Stripped lines of a text (notebooks: also their JSON-encoded cell source lines, decoded)."""
    lines = {line.strip() for line in text.splitlines()}
    if notebook:  # cell source lines are JSON strings: "    y = f(x)\\n",
        lines |= {line.strip().strip(",").strip('"').replace("\\n", "").replace('\\"', '"').strip()
                  for line in text.splitlines()}
    return lines


def secret_lines() -> dict[str, str]:
    """Lines that must never be in a template -> where they come from.

    Secret lines: the lines inside solution regions (12 characters or more) and the lines of the
    hidden grader files (30 or more; imports, comments and bare pytest idioms such as
    ``with pytest.raises(ValueError):`` excluded), less every line that the
    student release of any homework shows anyway (its code outside the regions, its notebook,
    its statement): ``def main(argv...)`` or ``with torch.no_grad():`` give nothing away.
    """
    public: set[str] = set()
    secret: dict[str, str] = {}
    for name in NAMES:
        for source in sorted((HOMEWORKS / name).iterdir()):
            if source.suffix not in (".py", ".ipynb", ".md") or not source.is_file():
                continue
            text = source.read_text(encoding="utf-8")
            notebook = source.suffix == ".ipynb"
            released = strip_notebook_text(text, source) if notebook else strip_solutions(text, source)
            public |= normalized_lines(released, notebook)
            for line in solution_lines(text):
                if len(line) >= 12:
                    secret[line] = f"{name}/{source.name} (solution)"
        for test in sorted((HOMEWORKS / name / "grader").rglob("*.py")):
            for line in test.read_text(encoding="utf-8").splitlines():
                stripped = line.strip()
                if len(stripped) >= 30 and not stripped.startswith(PYTEST_IDIOMS):
                    secret.setdefault(stripped, f"{name}/grader/{test.name} (hidden test)")
    return {line: origin for line, origin in secret.items() if line not in public}


def find_leaks(templates: Path, secret: dict[str, str]) -> list[str]:
    """``file: line from origin`` for every secret line found in a file under ``templates``."""
    leaks = []
    for path in sorted(templates.rglob("*")):
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            for line in sorted(normalized_lines(text, path.suffix == ".ipynb") & set(secret)):
                leaks.append(f"{path.relative_to(templates)}: {line!r} from {secret[line]}")
    return leaks


def test_no_reference_or_hidden_test_line_in_any_template(templates: Path) -> None:
    """No line of any reference solution region, and no distinctive line of a hidden test, is in a template."""
    secret = secret_lines()
    assert len(secret) > 100  # the check has something to find
    leaks = find_leaks(templates, secret)
    assert not leaks, "\n".join(leaks[:20])
    files = {p.relative_to(templates).as_posix() for p in templates.rglob("*") if p.is_file()}
    assert not [f for f in files if "/grader/" in f or f.endswith("/homework.json")], files


def test_leak_check_finds_a_planted_solution_line(templates: Path, tmp_path: Path) -> None:
    """The leak check is not blind: one solution line planted in a copied template is reported."""
    copy = tmp_path / "copy"
    shutil.copytree(templates, copy)
    secret = secret_lines()
    planted = next(line for line, origin in secret.items() if origin.startswith("mlp/mlp.py"))
    with (copy / "mlp" / "tests" / "conftest.py").open("a", encoding="utf-8") as handle:
        handle.write(f"# {planted}\n    {planted}\n")
    assert find_leaks(copy, secret) == [f"mlp/tests/conftest.py: {planted!r} from mlp/mlp.py (solution)"]


def test_rebuild_is_identical(templates: Path, tmp_path: Path) -> None:
    """Building again gives byte-identical templates (and replaces the old ones whole)."""
    again = tmp_path / "again"
    (again / "mlp").mkdir(parents=True)
    (again / "mlp" / "stale.txt").write_text("old\n", encoding="utf-8")
    assert build(again).returncode == 0
    for path in sorted(templates.rglob("*")):
        if path.is_file():
            assert (again / path.relative_to(templates)).read_bytes() == path.read_bytes(), path
    assert not (again / "mlp" / "stale.txt").exists()


def test_bad_input(tmp_path: Path) -> None:
    """Unknown homework, or a homework without public tests: exit 2, one line, nothing written."""
    process = build(tmp_path / "out", "no-such-homework")
    assert process.returncode == 2 and len(process.stderr.strip().splitlines()) == 1
    assert "unknown homework" in process.stderr
    root = tmp_path / "homeworks"
    shutil.copytree(HOMEWORKS / "activations", root / "activations", ignore=shutil.ignore_patterns("public"))
    process = build(tmp_path / "out", root=root)
    assert process.returncode == 2, process.stderr
    assert process.stderr.strip().splitlines() == [
        f"{root.resolve() / 'activations' / 'public'}: no public feedback tests (test_*.py) for the Classroom template"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
