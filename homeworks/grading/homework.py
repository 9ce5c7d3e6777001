"""Homework configuration: finding homeworks and validating their ``homework.json``."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

#: Folder that holds the homeworks (``homeworks/`` of the repository).
HOMEWORKS_DIR = Path(__file__).resolve().parent.parent

#: Name of the per-homework configuration file.
CONFIG_NAME = "homework.json"

#: Folder (inside a homework) with the grader's pytest tests; never released.
GRADER_DIR_NAME = "grader"

_REQUIRED = {
    "title": "a non-empty string",
    "max_score": "a number > 0",
    "files": "a non-empty list of relative file paths",
    "timeout_per_test_s": "a number > 0",
    "memory_mb": "an integer > 0",
}
_OPTIONAL = {
    "module": "a module name (identifier)",
    "total_timeout_s": "a number > 0",
    "worker_ops": "a module name of grading_worker (identifier), default ops_<homework name>",
}


class HomeworkError(Exception):
    """An expected fault with a homework, a submission or an output path.

    ``str()`` is one line, ``"path: what is wrong"``; command-line tools print it and exit 2.
    """

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = str(path)
        self.message = " ".join(str(message).split())
        super().__init__(f"{self.path}: {self.message}")


@dataclass(frozen=True)
class Homework:
    """A validated homework: its folder plus the fields of its ``homework.json``."""

    name: str
    directory: Path
    title: str
    max_score: float
    files: tuple[str, ...]
    module: str | None
    timeout_per_test_s: float
    memory_mb: int
    total_timeout_s: float | None = None
    worker_ops_module: str | None = None
    extra: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    @property
    def grader_dir(self) -> Path:
        """Folder with the grader's pytest tests."""
        return self.directory / GRADER_DIR_NAME

    @property
    def config_path(self) -> Path:
        """Path of ``homework.json``."""
        return self.directory / CONFIG_NAME

    @property
    def worker_ops(self) -> str:
        """Module of ``grading_worker`` with the worker's request handlers (``ops_<name>``)."""
        if self.worker_ops_module is not None:
            return self.worker_ops_module
        return "ops_" + "".join(c if c.isalnum() else "_" for c in self.name)

    def to_dict(self) -> dict[str, object]:
        """The configuration as plain JSON-able data (used to hand it to the test process)."""
        return {
            "name": self.name,
            "directory": str(self.directory),
            "title": self.title,
            "max_score": self.max_score,
            "files": list(self.files),
            "module": self.module,
            "timeout_per_test_s": self.timeout_per_test_s,
            "memory_mb": self.memory_mb,
            "total_timeout_s": self.total_timeout_s,
            "worker_ops": self.worker_ops,
        }


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_relative(path: Path, entry: object) -> str:
    """Validate one entry of ``files`` and return it normalised to POSIX form."""
    if not isinstance(entry, str) or not entry.strip():
        raise HomeworkError(path, f"'files' entries must be non-empty strings, got {entry!r}")
    pure = PurePosixPath(entry)
    if pure.is_absolute() or ".." in pure.parts or "\\" in entry:
        raise HomeworkError(path, f"'files' entry {entry!r} must be a relative path inside the homework")
    if pure.parts[0] == GRADER_DIR_NAME:
        raise HomeworkError(path, f"'files' entry {entry!r} is inside grader/, which is never released")
    return str(pure)


def parse_config(data: object, path: Path, name: str, directory: Path) -> Homework:
    """Validate the decoded ``homework.json`` ``data`` and build a :class:`Homework`."""
    if not isinstance(data, dict):
        raise HomeworkError(path, "must hold a JSON object")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise HomeworkError(path, f"missing key(s): {', '.join(missing)}")
    unknown = sorted(set(data) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise HomeworkError(path, f"unknown key(s): {', '.join(unknown)}")
    title = data["title"]
    if not isinstance(title, str) or not title.strip():
        raise HomeworkError(path, f"'title' must be {_REQUIRED['title']}")
    for key in ("max_score", "timeout_per_test_s"):
        if not _is_number(data[key]) or data[key] <= 0:
            raise HomeworkError(path, f"'{key}' must be {_REQUIRED[key]}, got {data[key]!r}")
    memory = data["memory_mb"]
    if not isinstance(memory, int) or isinstance(memory, bool) or memory <= 0:
        raise HomeworkError(path, f"'memory_mb' must be {_REQUIRED['memory_mb']}, got {memory!r}")
    files = data["files"]
    if not isinstance(files, list) or not files:
        raise HomeworkError(path, f"'files' must be {_REQUIRED['files']}")
    normalised = tuple(_check_relative(path, entry) for entry in files)
    if len(set(normalised)) != len(normalised):
        raise HomeworkError(path, "'files' lists a file twice")
    for entry in normalised:
        if not (directory / entry).is_file():
            raise HomeworkError(path, f"listed file {entry!r} does not exist")
    module = data.get("module")
    if module is None:
        modules = [PurePosixPath(f).stem for f in normalised if f.endswith(".py") and "/" not in f]
        module = modules[0] if modules else None
    elif not isinstance(module, str) or not module.isidentifier():
        raise HomeworkError(path, f"'module' must be {_OPTIONAL['module']}, got {module!r}")
    ops = data.get("worker_ops")
    if ops is not None and (not isinstance(ops, str) or not ops.isidentifier()):
        raise HomeworkError(path, f"'worker_ops' must be {_OPTIONAL['worker_ops']}, got {ops!r}")
    total = data.get("total_timeout_s")
    if total is not None and (not _is_number(total) or total <= 0):
        raise HomeworkError(path, f"'total_timeout_s' must be {_OPTIONAL['total_timeout_s']}, got {total!r}")
    return Homework(
        name=name,
        directory=directory,
        title=title,
        max_score=float(data["max_score"]),
        files=normalised,
        module=module,
        timeout_per_test_s=float(data["timeout_per_test_s"]),
        memory_mb=memory,
        total_timeout_s=None if total is None else float(total),
        worker_ops_module=ops,
    )


def list_homeworks(root: Path = HOMEWORKS_DIR) -> list[str]:
    """Names of the homeworks under ``root`` (sub-folders that hold a ``homework.json``)."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / CONFIG_NAME).is_file())


def load_homework(name_or_dir: str | Path, root: Path = HOMEWORKS_DIR) -> Homework:
    """Load and validate a homework given by name (a folder of ``root``) or by its folder path.

    Raises :class:`HomeworkError` (one line) for an unknown homework or a bad configuration.
    """
    text_name = str(name_or_dir)
    candidate = Path(name_or_dir)
    if isinstance(name_or_dir, str) and "/" not in text_name and text_name not in (".", ".."):
        directory = root / text_name
    else:
        directory = candidate
    config = directory / CONFIG_NAME
    if not config.is_file():
        known = ", ".join(list_homeworks(root)) or "none"
        raise HomeworkError(text_name, f"unknown homework (no {CONFIG_NAME}); known homeworks: {known}")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise HomeworkError(config, f"not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise HomeworkError(config, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except OSError as exc:
        raise HomeworkError(config, exc.strerror or str(exc)) from None
    directory = directory.resolve()
    return parse_config(data, config, directory.name, directory)
