"""Build GitHub Classroom template repositories: ``python homeworks/classroom.py [--out build/classroom] [HW ...]``.

For each homework (all of them when none is named) writes ``OUT/<hw>/``, ready to be pushed as
the template repository of a GitHub Classroom assignment:

* the student release of the homework (the files of ``homework.json`` with every solution region
  replaced by ``raise NotImplementedError``, made by :func:`grading.strip.release_homework`);
* ``README.md``: how to work, submit and get the same feedback locally, then the Russian statement;
* ``tests/``: the homework's *public* feedback tests (``homeworks/<hw>/public/``), simplified
  checks that run the student's code directly; never the hidden grader tests;
* ``requirements.txt``: the pinned packages those files import (from the repository's own
  ``requirements.txt``), with the PyTorch CPU wheel index so that no CUDA build is pulled;
* ``.github/workflows/classroom.yml``: on every push, one GitHub Classroom command-grader step per
  public test file (``python -m pytest ... tests/<file>``, 1 point each) and the grading reporter.

The reference solution and the hidden tests never enter a template; the authoritative grade is
the instructor's ``make grade-class`` on the collected repositories. Each template is built next
to its destination and swapped in with ``os.replace``. Exit codes: 0 ok, 2 bad input (one line
on stderr).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grading.homework import HOMEWORKS_DIR, Homework, HomeworkError, list_homeworks, load_homework  # noqa: E402
from grading.strip import release_homework, replace_directory  # noqa: E402

EXIT_OK = 0
EXIT_BAD_INPUT = 2

#: Folder of a homework with its public feedback tests (copied to the template's ``tests/``).
PUBLIC_DIR_NAME = "public"
#: Where the workflow lives inside a template.
WORKFLOW_PATH = ".github/workflows/classroom.yml"
#: Python on the GitHub runner (any version the pins support; 3.12 has wheels for all of them).
RUNNER_PYTHON = "3.12"
#: The runner image: pinned, not ``ubuntu-latest``, so a template behaves the same next term.
RUNNER_IMAGE = "ubuntu-24.04"
#: The actions the workflow uses, pinned to their major release tags as GitHub Classroom does.
ACTION_CHECKOUT = "actions/checkout@v4"
ACTION_SETUP_PYTHON = "actions/setup-python@v5"
ACTION_COMMAND_GRADER = "classroom-resources/autograding-command-grader@v1"
ACTION_REPORTER = "classroom-resources/autograding-grading-reporter@v1"
#: PyTorch's index of CPU-only wheels: without it pip on Linux installs the multi-GB CUDA build.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
#: Minutes one grading step may run on the runner (the command grader's ``timeout`` is minutes).
STEP_TIMEOUT_MIN = 10
#: Points of one step (the command grader gives all or nothing per step).
STEP_POINTS = 1
#: Import name -> distribution name, where they differ.
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "PIL": "pillow", "yaml": "PyYAML"}
#: Always needed: the public tests run under pytest.
_ALWAYS = ("pytest",)
_REPO = HOMEWORKS_DIR.parent


@dataclass(frozen=True)
class Step:
    """One command-grader step: a public test file, its Russian name and its command."""

    id: str
    name: str
    test_file: str  # relative to the template root, e.g. "tests/test_linear.py"
    points: int = STEP_POINTS

    @property
    def command(self) -> str:
        """The step's command (run without a shell by the command grader, from the repository root)."""
        return f"python -m pytest -q -p no:cacheprovider {self.test_file}"


def public_dir(homework: Homework) -> Path:
    """The homework's folder of public feedback tests."""
    return homework.directory / PUBLIC_DIR_NAME


def discover_steps(homework: Homework) -> list[Step]:
    """One step per ``test_*.py`` of the public folder, named by its module constant ``STEP``.

    Raises :class:`HomeworkError` when the folder or a ``STEP`` (a non-empty string) is missing.
    The files are read as text (``ast``), never imported.
    """
    folder = public_dir(homework)
    files = sorted(folder.glob("test_*.py")) if folder.is_dir() else []
    if not files:
        raise HomeworkError(folder, "no public feedback tests (test_*.py) for the Classroom template")
    steps = []
    for path in files:
        name = None
        for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "STEP"
                    and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                name = node.value.value.strip()
        if not name:
            raise HomeworkError(path, "needs a module constant STEP = \"<Russian step name>\"")
        steps.append(Step(id=re.sub(r"[^a-z0-9]+", "_", path.stem.lower()), name=name,
                          test_file=f"tests/{path.name}"))
    return steps


def workflow(homework: Homework, steps: Sequence[Step]) -> dict[str, object]:
    """The GitHub Actions workflow (as data) that grades ``steps`` with GitHub Classroom's actions."""
    torch_pin = _pins(["torch"])[0].split(";")[0].strip()
    grader_steps: list[dict[str, object]] = [
        {
            "name": f"{step.name} ({step.test_file})",
            "id": step.id,
            "uses": ACTION_COMMAND_GRADER,
            "with": {
                "test-name": step.name,
                "setup-command": "",
                "command": step.command,
                "timeout": STEP_TIMEOUT_MIN,
                "max-score": step.points,
            },
        }
        for step in steps
    ]
    reporter = {
        "name": "Autograding Reporter",
        "uses": ACTION_REPORTER,
        "env": {f"{step.id.upper()}_RESULTS": f"${{{{ steps.{step.id}.outputs.result }}}}" for step in steps},
        "with": {"runners": ",".join(step.id for step in steps)},
    }
    return {
        "name": "Autograding Tests",
        "on": ["push", "workflow_dispatch", "repository_dispatch"],
        "permissions": {"checks": "write", "actions": "read", "contents": "read"},
        "jobs": {
            "run-autograding-tests": {
                "runs-on": RUNNER_IMAGE,
                "if": "github.actor != 'github-classroom[bot]'",
                "timeout-minutes": 30,
                "env": {"OMP_NUM_THREADS": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
                "steps": [
                    {"name": "Checkout", "uses": ACTION_CHECKOUT},
                    {"name": "Python", "uses": ACTION_SETUP_PYTHON,
                     "with": {"python-version": RUNNER_PYTHON, "cache": "pip",
                              "cache-dependency-path": "requirements.txt"}},
                    {"name": "Install the pinned dependencies (PyTorch for CPU)",
                     "run": f"python -m pip install --index-url {TORCH_CPU_INDEX} {torch_pin}\n"
                            "python -m pip install -r requirements.txt\n"},
                    *grader_steps,
                    reporter,
                ],
            }
        },
    }


class _BlockDumper(yaml.SafeDumper):
    """A safe YAML dumper that writes multi-line strings (shell scripts) as literal ``|`` blocks."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.nodes.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)


def workflow_text(homework: Homework, steps: Sequence[Step]) -> str:
    """The workflow as YAML, with a Russian header comment."""
    header = (f"# Автопроверка GitHub Classroom для задания «{homework.name}»: открытые тесты из tests/,\n"
              "# по шагу на файл. Это обратная связь; оценку ставит преподаватель полным грейдером.\n")
    body = yaml.dump(workflow(homework, steps), Dumper=_BlockDumper, allow_unicode=True, sort_keys=False,
                     width=1000)
    # PyYAML quotes the key `on` ('on':) because YAML 1.1 reads a bare `on` as true; GitHub reads
    # the quoted form the same way, so it stays quoted.
    return header + body


# --------------------------------------------------------------------------- requirements


def _top_modules(source: str) -> set[str]:
    """Top-level module names imported by ``source`` (absolute imports only)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _sources(root: Path) -> Iterable[str]:
    """Python sources of a template folder: ``.py`` files and notebook code cells (magics dropped)."""
    for path in sorted(root.rglob("*.py")):
        yield path.read_text(encoding="utf-8")
    for path in sorted(root.rglob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for cell in notebook.get("cells", []):
            if cell.get("cell_type") == "code":
                text = "".join(cell.get("source", []))
                yield "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("%", "!")))


def _pins(distributions: Iterable[str], requirements: Path = _REPO / "requirements.txt") -> list[str]:
    """The repository's pinned lines (markers kept) for ``distributions``; HomeworkError if one is not pinned."""
    wanted = {d.lower() for d in distributions}
    lines = []
    found: set[str] = set()
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*==", line)
        if match and match.group(1).lower() in wanted:
            lines.append(line.strip())
            found.add(match.group(1).lower())
    missing = sorted(wanted - found)
    if missing:
        raise HomeworkError(requirements, f"no exact pin for {', '.join(missing)} (needed by a Classroom template)")
    return lines


def template_requirements(root: Path) -> str:
    """``requirements.txt`` of a template: exact pins of every third-party module its code imports."""
    local = {p.stem for p in root.rglob("*.py")}
    modules = set()
    for source in _sources(root):
        modules |= _top_modules(source)
    third_party = sorted(m for m in modules if m not in sys.stdlib_module_names and m not in local
                         and m != "__future__")
    distributions = sorted({_DISTRIBUTIONS.get(m, m) for m in third_party} | set(_ALWAYS), key=str.lower)
    return ("# Точные версии пакетов, нужных заданию и открытым тестам.\n"
            "# PyTorch ставится сборкой для CPU (индекс ниже): обычная сборка для Linux тянет CUDA на несколько ГБ.\n"
            f"--extra-index-url {TORCH_CPU_INDEX}\n" + "\n".join(_pins(distributions)) + "\n")


# --------------------------------------------------------------------------- README


def readme(homework: Homework, steps: Sequence[Step], statement: str, files: Sequence[str]) -> str:
    """The template's README (Russian): how to work and get feedback, then the statement."""
    total = sum(step.points for step in steps)
    student_files = [f for f in files if f != "README.md"]
    rows = "\n".join(f"| `{f}` | файл задания: замените каждое `raise NotImplementedError` своим кодом |"
                     if f.endswith(".py") else f"| `{f}` | файл задания (см. условие) |" for f in student_files)
    step_rows = "\n".join(f"| {s.name} | `{s.test_file}` | {s.points} |" for s in steps)
    first_test = steps[0].test_file
    notebook_hint = ("\n\nНоутбуки (`.ipynb`) открываются в JupyterLab (`pip install jupyterlab`, затем `jupyter lab`),\n"
                     "VS Code или Google Colab." if any(f.endswith(".ipynb") for f in files) else "")
    return f"""# {homework.title}

Репозиторий для вашего решения домашнего задания «{homework.name}». Условие — ниже, в разделе
«Условие задания».

## Что здесь лежит

| файл | что это |
|---|---|
{rows}
| `tests/` | открытые тесты: быстрая обратная связь по вашему решению |
| `requirements.txt` | точные версии пакетов (PyTorch — сборка для CPU) |
| `{WORKFLOW_PATH}` | автопроверка GitHub Classroom при каждом `git push` |

## Как сдавать

Решайте задание в этом репозитории, делайте коммиты и `git push`. После каждого push GitHub
Actions запускает открытые тесты (вкладка **Actions**, проверка «Autograding Tests») и
показывает, какие шаги пройдены, и сообщения упавших тестов:

| шаг | тесты | баллы автопроверки |
|---|---|---|
{step_rows}

Сумма баллов автопроверки: {total}. Это **обратная связь, а не оценка**: открытые тесты —
упрощённая проверка (меньше точек, мягче допуски, без проверки запрещённых функций и без
скрытых данных). Оценку ставит преподаватель: после срока он забирает ваш репозиторий и
проверяет его полным грейдером со скрытыми тестами в изолированной среде (что именно он
проверяет — в разделе «Как проверяется» условия). Зелёные открытые тесты не гарантируют полный
балл, а упавший открытый тест почти наверняка означает потерю баллов. Файлы в `tests/` и
`.github/` не меняйте: на оценку это не влияет, а обратную связь сломает.

## Как получить ту же обратную связь у себя

Нужен Python 3.10 или новее. Из корня этого репозитория:

```bash
python3 -m venv .venv
source .venv/bin/activate          # Windows: .venv\\Scripts\\activate
pip install -r requirements.txt
python -m pytest tests             # все открытые тесты
python -m pytest {first_test}   # один шаг
```

Это те же команды, что выполняет автопроверка на GitHub. Команды `make ...` из условия относятся
к репозиторию курса у преподавателя; здесь их нет.{notebook_hint}

---

# Условие задания

{statement.rstrip()}
"""


# --------------------------------------------------------------------------- building


def build_template(homework: Homework, out_root: Path) -> Path:
    """Write the Classroom template of ``homework`` to ``out_root/<name>/`` (atomically); return it."""
    steps = discover_steps(homework)
    target = out_root / homework.name
    try:
        out_root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{homework.name}.", suffix=".tmp", dir=out_root))
    except OSError as exc:
        raise HomeworkError(out_root, f"cannot write: {exc.strerror or exc}") from None
    try:
        release_homework(homework, staging)  # -> staging/<name>/
        root = staging / homework.name
        statement_path = root / "README.md"
        statement = statement_path.read_text(encoding="utf-8") if statement_path.is_file() else ""
        tests = root / "tests"
        tests.mkdir()
        for source in sorted(public_dir(homework).glob("*.py")):
            shutil.copyfile(source, tests / source.name)
        (root / "requirements.txt").write_text(template_requirements(root), encoding="utf-8")
        (root / ".gitignore").write_text(".venv/\n__pycache__/\n*.pyc\n.pytest_cache/\n.ipynb_checkpoints/\n",
                                         encoding="utf-8")
        workflow_file = root / WORKFLOW_PATH
        workflow_file.parent.mkdir(parents=True)
        workflow_file.write_text(workflow_text(homework, steps), encoding="utf-8")
        statement_path.write_text(readme(homework, steps, statement, homework.files), encoding="utf-8")
        for path in root.rglob("*"):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        os.chmod(root, 0o755)
        replace_directory(root, target)
    except OSError as exc:
        raise HomeworkError(target, f"cannot write: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("homeworks", nargs="*", metavar="HOMEWORK", help="homeworks (default: all)")
    parser.add_argument("--out", type=Path, default=Path("build/classroom"), help="output folder (default: %(default)s)")
    parser.add_argument("--root", type=Path, default=HOMEWORKS_DIR, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Build the requested templates; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        names = args.homeworks or list_homeworks(args.root)
        if not names:
            raise HomeworkError(args.root, "no homeworks found (no */homework.json)")
        homeworks = [load_homework(name, root=args.root) for name in names]
        for homework in homeworks:  # validate every homework before writing anything
            discover_steps(homework)
        if args.out.exists() and not args.out.is_dir():
            raise HomeworkError(args.out, "output path exists and is not a directory")
        for homework in homeworks:
            target = build_template(homework, args.out)
            print(f"{homework.name}: template with {len(discover_steps(homework))} feedback step(s) -> {target}")
    except HomeworkError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
