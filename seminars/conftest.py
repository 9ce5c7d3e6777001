"""Fixtures shared by the seminar's tests.

* ``seminar_source``: path of the py:percent source (``SEMINAR_SOURCE`` env var overrides it,
  e.g. to test a draft).
* ``seminar_nb``: the notebook built from that source, exactly as ``rebuild_notebook.py`` builds it.
* ``seminar``: the notebook's imports, functions, classes and UPPER_CASE constants, loaded
  in-process into a module (fast; nothing else is executed).
* ``executed``: one execution of the whole notebook in a fresh kernel per test session
  (nbclient, per-cell timeout), with the globals it ended with in ``executed.namespace``.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest
from nbformat import NotebookNode

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from execute_notebook import ExecutionResult, execute  # noqa: E402
from load_notebook import load_definitions  # noqa: E402
from rebuild_notebook import SEMINAR_SOURCE, rebuild  # noqa: E402

#: Per-cell timeout of the test execution (seconds); the whole notebook should take ~1 minute.
CELL_TIMEOUT_S = 300


@pytest.fixture(scope="session")
def seminar_source() -> Path:
    """Path of the seminar's jupytext source."""
    return Path(os.environ.get("SEMINAR_SOURCE", SEMINAR_SOURCE)).resolve()


@pytest.fixture(scope="session")
def seminar_nb(seminar_source: Path) -> NotebookNode:
    """The seminar notebook as rebuilt from its source."""
    return rebuild(seminar_source)


@pytest.fixture(scope="session")
def seminar(seminar_nb: NotebookNode) -> types.ModuleType:
    """The notebook's definitions (imports, def, class, constants) as an in-process module."""
    return load_definitions(seminar_nb, module_name="seminar")


@pytest.fixture(scope="session")
def executed(seminar_nb: NotebookNode) -> ExecutionResult:
    """The whole notebook executed once in a fresh kernel, from the seminars/ folder."""
    return execute(seminar_nb, cwd=HERE, timeout=CELL_TIMEOUT_S, probe=True)
