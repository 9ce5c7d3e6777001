"""Shared grading framework for the course homeworks (``activations``, ``mlp``, ``weight-init``).

This docstring is the framework's API reference; the homework graders code against it.

Trust model
===========
Student code is hostile. Three parts, arrows one way:

* the **judge** (trusted): ``python -m pytest homeworks/<hw>/grader -p grading.plugin`` in a
  subprocess started by :func:`grade_submission`. It never imports the submission. It chooses
  inputs and weights, computes every reference value and metric, compares, scores, and appends
  verdicts to a results file only it can reach; the report is written by ``grade.py``
  atomically after the judge (and every worker) has ended.
* the **worker** (untrusted): ``homeworks/grading_worker`` (the only grading code it can see)
  imports the student's module once and answers narrow requests with data only, in the
  line-JSON format of :mod:`grading_worker.codec` (never pickle).
* the **sandbox** (:mod:`grading.sandbox`): bubblewrap as user ``nobody`` in new PID, network,
  mount, IPC and UTS namespaces, in a fresh cgroup (memory + swap and process count of the whole
  tree), rlimits (file size, CPU, no core), wall-clock per request measured by the judge; all
  killed at the end. Visible inside: ``/usr``, the Python installation and venv, the worker
  package, a read-only copy of the homework's LISTED files (nothing else the student sent), a
  small private ``/tmp``. Isolation ``"namespaces"`` needs root, bubblewrap, util-linux and
  cgroups; otherwise it is ``"none"`` (plain subprocess), which ``grade.py`` refuses unless
  ``--allow-no-isolation``. The report carries ``"isolation"``.

Layout of one homework
======================
::

    homeworks/<hw>/
      README.md            Russian statement
      homework.json        configuration, see below
      <module>.py          instructor source; solutions between ``### BEGIN SOLUTION`` and
                           ``### END SOLUTION``
      grader/test_*.py     the judge's pytest tests (never released), helpers, conftest.py
    homeworks/grading_worker/ops_<hw>.py   the worker's request handlers of the homework

``homework.json`` (all keys checked by :func:`load_homework`; unknown keys are an error)::

    {
      "title": "Функции активации",          # str, non-empty
      "max_score": 1.0,                      # number > 0; the points of all tests sum to it
      "files": ["README.md", "activations.py"],  # released files = the files taken from a submission
      "module": "activations",               # OPTIONAL: module the worker imports
                                             # (default: stem of the first .py in files)
      "worker_ops": "ops_activations",       # OPTIONAL: module of grading_worker with OPS
                                             # (default: ops_<name, non-alphanumerics -> _>)
      "timeout_per_test_s": 10,              # number > 0: default wall-clock limit of one
                                             # worker request (and of the student's import, >= 10 s)
      "memory_mb": 3072,                     # int > 0: memory + swap of the worker's whole
                                             # process tree (cgroup; not address space)
      "total_timeout_s": 900                 # OPTIONAL number > 0: wall budget of one grading
    }                                        # (default 1800); tests not finished -> 0

Writing a worker op (``grading_worker/ops_<hw>.py``)
====================================================
``OPS: dict[str, Callable[[module, dict], Any]]``: each handler gets the imported student module
and the decoded params and returns DATA only (tensors, numbers, strings, lists, dicts). Keep ops
narrow; record ATen ops with :func:`grading_worker.recorder.record_aten_ops` and return the names
as a second layer of the rules. An exception in the handler reaches the judge as
:class:`~grading.client.WorkerError` ``"<Type>: <message> (строка N в <module>.py)"``.

Writing a judge test
====================
::

    import pytest
    import torch
    from grading.rules import BUILTIN_RULES, RuleSet, assert_rules

    RULES = RuleSet(forbidden={"torch.nn.functional.gelu": "готовая GELU"})

    @pytest.mark.points(0.125)                        # REQUIRED on every test
    def test_gelu(worker, rule_violations):
        assert_rules([v for v in rule_violations(RULES) if v.rule in {"готовая GELU", *BUILTIN_RULES}])
        x = torch.linspace(-3, 3, 7)                  # the judge chooses the input
        y = worker.call("forward", cls="MyGELU", x=x)  # data back, never an object
        assert torch.allclose(y, reference_gelu(x)), "MyGELU: неверный результат forward"

Markers: ``@pytest.mark.points(x)`` (exactly one, a number > 0; passing -> x, anything else -> 0;
the points of all tests must sum to ``max_score``); ``@pytest.mark.timeout(s)`` (pytest-timeout,
a safety net for bugs of the judge only).

Fixtures (:mod:`grading.plugin`, session scope)
-----------------------------------------------
``worker`` -> :class:`grading.client.Worker`
    ``worker.call(op, *, timeout=None, **params)`` sends one request (default limit
    ``timeout_per_test_s``) and returns the decoded result. Timeout, crash or protocol error:
    the sandbox is killed, :class:`~grading.client.WorkerError` (an ``AssertionError`` with a
    Russian one-line message, ``.kind`` in ``timeout``/``crash``/``protocol``/``exception``/
    ``import``) is raised, and the next call starts a fresh worker (at most ``MAX_STARTS``
    starts per grading). ``worker.import_error`` is the reason when the submission cannot be
    imported (then every call raises it).
``submission_source`` -> ``dict[str, str]``
    File name -> text of the listed ``.py`` files of the submission (data; never executed here).
``rule_violations`` -> ``rule_violations(rule_set) -> list[Violation]``
    :mod:`grading.rules` over the submission's sources; a file that is not UTF-8 or does not
    parse is a violation itself.
``homework`` -> :class:`Homework`; ``submission_dir`` -> the judge's read-only copy (a Path).

A test's output in the report is the first line of its ``AssertionError`` (or ``pytest.fail``)
message, with absolute paths removed: write Russian messages; a bare ``assert`` gives
"проверка не пройдена", another exception "ошибка при проверке: <Type>: ...". No traceback,
no grader source, no inputs.

Running
=======
``python homeworks/grade.py HW SUBMISSION_DIR [--json OUT.json] [--allow-no-isolation]`` (and
``make grade HW= SUB=``) prints one line per test ``PASS  0.125/0.125  name`` /
``FAIL  0/0.125  name  reason`` (the whole reason) and ``score: X / 1.0``; exit 0 when grading
completed (any score), 1 when the grader itself is broken (collection error, missing/wrong
points, judge crash), 2 on bad input or when the sandbox is missing and not allowed to be.
``python homeworks/release.py [--out build/assignments] [HW ...]`` writes student releases;
``python homeworks/bench_grading.py`` times the grading of every reference.

Python API
----------
``load_homework(name_or_dir, root=HOMEWORKS_DIR) -> Homework``
``grade_submission(homework, submission_dir, *, isolation="auto"|"namespaces"|"none") -> GradeResult``
(``.score``, ``.max_score``, ``.isolation``, ``.tests: list[TestResult(name, nodeid, max_score,
passed, output)]``, ``.to_json()``, ``.by_name()``); raises :class:`HomeworkError`,
:class:`GraderError`, :class:`IsolationError` (``"namespaces"`` required but unavailable).
``strip_solutions(text, path) -> str``, ``strip_notebook_text(text, path) -> str``,
``release_homework(homework, out_dir) -> list[Path]``.
Test names are the pytest node id without the file part (``test_values[MyReLU]``); if two files
define the same name the file is kept.
"""

from __future__ import annotations

from grading.checks import (
    ACTIVATION_OPS,
    OpRecorder,
    assert_no_aten_ops,
    calls_in,
    normalise_op,
    record_aten_ops,
)
from grading.homework import (
    HOMEWORKS_DIR,
    Homework,
    HomeworkError,
    list_homeworks,
    load_homework,
)
from grading.runner import GraderError, GradeResult, IsolationError, TestResult, grade_submission
from grading.strip import (
    BEGIN_MARKER,
    END_MARKER,
    release_homework,
    strip_notebook_text,
    strip_solutions,
)

__all__ = [
    "ACTIVATION_OPS",
    "BEGIN_MARKER",
    "END_MARKER",
    "HOMEWORKS_DIR",
    "GradeResult",
    "GraderError",
    "Homework",
    "HomeworkError",
    "IsolationError",
    "OpRecorder",
    "TestResult",
    "assert_no_aten_ops",
    "calls_in",
    "grade_submission",
    "list_homeworks",
    "load_homework",
    "normalise_op",
    "record_aten_ops",
    "release_homework",
    "strip_notebook_text",
    "strip_solutions",
]
