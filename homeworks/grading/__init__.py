"""Shared grading framework for the course homeworks (``activations``, ``mlp``, ``weight-init``).

This docstring is the framework's API reference; the homework engineers code against it.

Layout of one homework
======================
::

    homeworks/<hw>/
      README.md            Russian statement
      homework.json        configuration, see below
      <module>.py          instructor source; solutions between the marker lines
                           ``### BEGIN SOLUTION`` and ``### END SOLUTION``
      grader/test_*.py     the grader's pytest tests (never released)
      grader/conftest.py   optional, ordinary pytest conftest

``homework.json`` (all keys checked by :func:`load_homework`; unknown keys are an error)::

    {
      "title": "Функции активации",          # str, non-empty
      "max_score": 1.0,                      # number > 0; the points of all tests sum to it
      "files": ["README.md", "activations.py"],  # released files, relative to homework dir
      "module": "activations",               # OPTIONAL: module the `submission` fixture
                                             # imports; default = stem of the first .py in files
      "timeout_per_test_s": 10,              # number > 0: per-test limit (setup+call+teardown)
      "memory_mb": 2048,                     # int > 0: address-space limit of the test process
      "total_timeout_s": 300                 # OPTIONAL number > 0: wall budget of one grading
    }                                        # (default: 120 + sum over tests of
                                             #  timeout * 1.25 + 2); tests not reached -> 0

Files under ``grader/`` and the instructor source are never released as such: only the
``files`` are copied, with solution regions stripped. A listed file under ``grader/`` is an error.

Solution markers (nbgrader convention)
======================================
A line whose stripped text is exactly ``### BEGIN SOLUTION`` opens a region, the next line whose
stripped text is ``### END SOLUTION`` closes it. The region, both marker lines included, is
replaced by one line ``raise NotImplementedError`` at the indentation of the BEGIN marker.
Everything else stays byte-identical. Regions must not nest; an unclosed region, a stray END,
or a BEGIN/END marker with different indentation is an error (``path:line: message``).
In ``.ipynb`` files the same applies to the source of every code cell; a code cell that had a
region also loses its outputs and execution count (they could show the solution); such a
notebook is re-serialised in nbformat's layout (indent 1, sorted keys), so a notebook saved by
Jupyter/nbformat changes only in those cells, and one without regions is copied as is. A released
``.py`` must still parse (``ast.parse``), else the release fails.

Writing a grader test
=====================
The framework's pytest plugin (:mod:`grading.plugin`) is loaded automatically by the runner;
grader tests import helpers from ``grading``::

    import pytest
    from grading import record_aten_ops, assert_no_aten_ops, ACTIVATION_OPS

    @pytest.mark.points(0.125)                  # REQUIRED on every test (parametrized: per case)
    def test_relu_values(submission):           # `submission` = the student's module
        act = submission.MyReLU()
        ...

Markers
-------
``@pytest.mark.points(x)``
    Points of the test (a number > 0). Exactly one per test; a test without it is a grader
    error. Passing -> ``x``; fail, error, skip, xfail, timeout, crash -> 0. The points of all
    collected tests must sum to ``max_score`` (tolerance 1e-6), else grading is a grader error.
``@pytest.mark.timeout(s)``
    pytest-timeout's marker; overrides ``timeout_per_test_s`` for one test.

Fixtures (all session-scoped)
-----------------------------
``submission``
    The student's module ``<module>``, imported once per test process, fresh (by file path,
    ``<module>.py`` of the copied submission), right after collection; the submission folder
    is put first on ``sys.path`` at that moment, so the student's helper modules import but a
    student file named e.g. ``torch.py`` cannot replace the grader's own imports. Exceptions,
    ``sys.exit``/``os._exit`` and hangs (limit ``timeout_per_test_s``) during the import are
    caught. If the import failed, every test that requests ``submission`` fails at setup with
    a one-line reason such as ``cannot import activations.py: NameError: ...`` and scores 0;
    tests that do not request it still run.
``submission_dir``
    ``pathlib.Path`` of the (copied) submission directory, e.g. for :func:`calls_in`.
``homework``
    The :class:`Homework` configuration (title, max_score, files, module, ...).

Inside the test process ``os._exit`` is replaced by a function that raises
:class:`SubmissionExit` (a ``SystemExit`` subclass), so a student calling ``os._exit`` or
``sys.exit`` fails only the current test. ``OMP_NUM_THREADS=1``, ``PYTHONHASHSEED=0``,
``MPLBACKEND=Agg``, ``PYTHONDONTWRITEBYTECODE=1`` are set; ``HOME``/``TMPDIR``/cwd are a fresh
empty folder; third-party pytest plugins are not auto-loaded (only pytest-timeout and ours).
Failure reasons are the first line of the assertion message, so write student-facing
``assert ..., "сообщение"`` texts in Russian. Grader-local helper modules next to the tests
(``grader/helpers.py``) import as usual (pytest's rootdir is ``grader/``).

Helpers for forbidden-shortcut checks (import from ``grading``)
--------------------------------------------------------------
``record_aten_ops() -> ContextManager[OpRecorder]``
    ``with record_aten_ops() as rec: y = act(x); y.backward(g)`` records every ATen operator
    that reaches the dispatcher (a ``TorchDispatchMode``), forward and backward alike.
    ``rec.ops`` is a ``collections.Counter`` of packet names such as ``"aten.gelu"``,
    ``"aten.mul"``; in-place/out variants are folded (``aten.relu_`` -> ``aten.relu``).
    Composite ops that PyTorch decomposes before dispatch show up as their parts.
``assert_no_aten_ops(rec_or_ops, forbidden, what="")``
    Raises ``AssertionError`` naming the forbidden operators that were called (``forbidden``:
    iterable of names like ``"aten.gelu"`` or ``"gelu"``).
``ACTIVATION_OPS: frozenset[str]``
    ATen names of the built-in activation functions and their backward kernels (relu,
    leaky_relu, elu, gelu, silu, softplus, sigmoid, tanh, hardtanh, threshold, ...).
``calls_in(module_or_path, qualname) -> list[str]``
    AST helper: dotted names of everything called inside the function or method ``qualname``
    (e.g. ``"MyGELU.forward"``) of the student's source, in source order, e.g.
    ``["torch.erf", "F.gelu", "self.helper"]``; ``KeyError`` if there is no such function.
    Static and easy to fool, so prefer :func:`record_aten_ops` for tensor code.

Running
=======
``python homeworks/grade.py HW SUBMISSION_DIR [--json OUT.json]`` (and ``make grade HW= SUB=``)
prints one line per test ``PASS  0.125/0.125  test_name`` / ``FAIL  0/0.125  test_name  reason``
and ``score: X / 1.0``; exit 0 when grading completed (any score), 1 when the grader itself is
broken (collection error, missing/wrong points), 2 on bad input (unknown homework, missing
submission directory, bad homework.json), one line on stderr.
``python homeworks/release.py [--out build/assignments] [HW ...]`` writes student releases.

The test process: a fresh ``python -m pytest`` on ``homeworks/<hw>/grader`` in a clean
temporary folder; the submission's top-level ``.py`` files and the homework's listed files are
copied there (``HW_SUBMISSION_DIR`` points at the copy; the student's folder is never
written). Limits: ``memory_mb`` of address space (RLIMIT_AS; torch alone maps ~0.7 GB, so
keep >= 2048 for torch homeworks), CPU time, 256 MiB per written file; per-test timeouts by
pytest-timeout (signal method); a watchdog in the parent kills the process group when a test
or the import runs past its limit + 2 s + 25 % (code that swallows the alarm). Tests not
reached because the process died or was killed run again in a new process, so a crash costs
only the test (or the import) that caused it; processes the student left behind are killed.

Python API (for repository tests)
---------------------------------
``load_homework(name_or_dir, root=HOMEWORKS_DIR) -> Homework``
``grade_submission(homework, submission_dir) -> GradeResult``  (``.score``, ``.max_score``,
``.tests: list[TestResult(name, score, max_score, passed, output)]``, ``.to_json()``,
``.by_name() -> dict[str, TestResult]``)
``strip_solutions(text, path) -> str``, ``strip_notebook_text(text, path) -> str``,
``release_homework(homework, out_dir) -> list[Path]``.

Test names are the pytest node id without the file part (``test_values[MyReLU]``,
``TestX::test_y``); if two files define the same name the file is kept (``test_a.py::...``).

This protects against accidents (hangs, crashes, exits, memory blow-ups), not against a
deliberate attack on the grader: the student's code runs in the same process as pytest.
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
