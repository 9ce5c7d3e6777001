"""The grading worker: the ONLY grading code that runs next to (and is visible to) student code.

Started by the judge (:mod:`grading.client`) inside the sandbox as::

    python -m grading_worker --module <module> --ops <ops_module> [--file <module>.py]

with the working directory set to a read-only copy of the submission's listed files. It
imports the student's module once, then answers requests (one JSON line each, see
:mod:`grading_worker.codec`) by calling the handlers of ``grading_worker.<ops_module>.OPS``.

Nothing here is secret: no reference solution, no hidden test, no judge logic. Everything the
worker sends back is *untrusted data* that the judge checks against its own computations.
"""
