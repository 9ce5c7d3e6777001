"""Tests of ``seminars/load_notebook.py``: loading a notebook's definitions must behave as Jupyter.

The reference is what Jupyter does with the same cells: a forward reference in an annotation
raises ``NameError`` unless the notebook itself postpones annotations; an import guarded by
``try``/``except`` binds its fallback; a decorator registry exists when the decorator runs.
Each test builds its own small notebook.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "seminars"))

from load_notebook import NotebookLoadError, load_definitions  # noqa: E402
from nbio import NotebookError  # noqa: E402

FORWARD_REFERENCE = """\
class Value:
    def __init__(self, data: float) -> None:
        self.data = data

    def __add__(self, other: Value) -> Value:
        return Value(self.data + other.data)
"""


def notebook(*sources: str, metadata: dict | None = None) -> nbformat.NotebookNode:
    """A notebook with one code cell per source, ids ``c0``, ``c1``, ..."""
    cells = [nbformat.v4.new_code_cell(source, id=f"c{i}") for i, source in enumerate(sources)]
    return nbformat.from_dict({"cells": cells, "metadata": metadata or {}, "nbformat": 4, "nbformat_minor": 5})


def load_error(nb: nbformat.NotebookNode, module_name: str = "loader_test_failing") -> NotebookLoadError:
    """Load ``nb``, expecting a failure; check it is one line and leaves no module behind."""
    with pytest.raises(NotebookLoadError) as info:
        load_definitions(nb, module_name=module_name)
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)
    assert module_name not in sys.modules
    return info.value


def test_forward_reference_in_an_annotation_fails_as_in_jupyter() -> None:
    if sys.version_info >= (3, 14):
        pytest.skip("Python 3.14 evaluates annotations lazily (PEP 649): Jupyter does not fail either")
    error = load_error(notebook("import math", FORWARD_REFERENCE))
    assert str(error).startswith("<notebook>: cell 1 (id 'c1', line 5): NameError: name 'Value' is not defined")
    assert error.cell_index == 1 and error.name == "Value" and "Jupyter fails here too" in str(error)


def test_postponed_annotations_of_the_notebook_itself_carry_over_to_later_cells() -> None:
    module = load_definitions(notebook("from __future__ import annotations", FORWARD_REFERENCE), module_name="loader_test")
    assert (module.Value(1.0) + module.Value(2.0)).data == 3.0
    assert module.Value.__add__.__annotations__["other"] == "Value"


def test_guarded_imports_are_kept_with_their_fallbacks() -> None:
    module = load_definitions(
        notebook(
            "try:\n    import no_such_module_for_the_loader as accel\nexcept ImportError:\n    accel = None\n    print('no accel')",
            "try:\n    import math\nexcept ImportError:\n    raise\nelse:\n    HAVE_MATH = True",
            "def has_accel() -> bool:\n    return accel is not None\n\ndef root(x: float) -> float:\n    return math.sqrt(x)",
            "try:\n    result = 1 / 0\nexcept ZeroDivisionError:\n    result = None",  # no definition inside: skipped
        ),
        module_name="loader_test",
    )
    assert module.has_accel() is False and module.root(9.0) == 3.0 and module.HAVE_MATH is True
    assert not hasattr(module, "result")


def test_globals_that_definitions_need_are_kept() -> None:
    module = load_definitions(
        notebook(
            "registry = {}\n\ndef register(fn):\n    registry[fn.__name__] = fn\n    return fn",
            "width = 4\nscale = width * 2\nprint('side effect')\nlosses = [1.0, 2.0]",
            "@register\ndef relu(x: float) -> float:\n    return max(x, 0.0)",
            "class Layer:\n    size = scale\n\n    def __init__(self, bias: float = width / 8) -> None:\n        self.bias = bias",
        ),
        module_name="loader_test",
    )
    assert module.registry == {"relu": module.relu}
    assert module.Layer.size == 8 and module.Layer().bias == 0.5
    assert not hasattr(module, "losses"), "assignments no definition needs are still skipped"


def test_a_needed_name_set_by_a_skipped_statement_fails_with_one_line_naming_cell_and_name() -> None:
    error = load_error(
        notebook(
            "import math",
            "for size in range(3):\n    pass",
            "class Layer:\n    width = size * 2",
        )
    )
    assert str(error) == (
        "<notebook>: cell 2 (id 'c2', line 2): NameError: name 'size' is not defined "
        "(it is set in cell 1 (id 'c1', line 1) by a statement the loader does not run "
        "(it runs imports, def/class, UPPER_CASE constants and the plain assignments they need))"
    )
    assert error.name == "size" and error.cell_index == 2


def test_other_errors_are_one_line_too() -> None:
    error = load_error(notebook("import no_such_module_for_the_loader"))
    assert str(error) == "<notebook>: cell 0 (id 'c0', line 1): ModuleNotFoundError: No module named 'no_such_module_for_the_loader'"
    error = load_error(notebook("x = 1", "def broken(:\n    pass"))
    assert str(error).startswith("<notebook>: cell 1 (id 'c1', line 1): invalid Python:")
    error = load_error(notebook("files = !ls", "class Listing:\n    names = files"))
    assert str(error).endswith("(IPython syntax (a magic or a shell escape) runs only in Jupyter; the loader cannot run it)")
    assert str(error).startswith("<notebook>: cell 0 (id 'c0', line 1): NameError: name 'get_ipython' is not defined")
    error = load_error(notebook("x = 1\nfrom __future__ import annotations"))
    assert "invalid Python: from __future__ imports must occur at the beginning of the file" in str(error)


def test_ipython_syntax_is_translated_as_jupyter_does() -> None:
    module = load_definitions(
        notebook(
            "%matplotlib inline\nimport math\nfiles = !ls\nmath?",
            '%%time\ndef doubled(x: int) -> int:\n    """Удвоение.\n%  не магия: строка документации\n"""\n    return 2 * x',
            "%%bash\necho this is not Python\ndef nope(:",
            "await_result = 1\nimport asyncio\nawait asyncio.sleep(0)",
        ),
        module_name="loader_test",
    )
    assert module.doubled(4) == 8 and "%  не магия" in module.doubled.__doc__
    assert hasattr(module, "math") and hasattr(module, "asyncio") and not hasattr(module, "nope")


def test_paths_metadata_and_language_are_checked(tmp_path: Path) -> None:
    with pytest.raises(NotebookError, match=r"no such file$"):
        load_definitions(tmp_path / "missing.ipynb")
    with pytest.raises(NotebookError, match=r"^<notebook>: kernel language is 'r', not Python"):
        load_definitions(notebook("x <- 1", metadata={"kernelspec": {"name": "ir", "display_name": "R", "language": "R"}}))
    with pytest.raises(NotebookError, match=r"^<notebook>: malformed metadata: 'metadata.kernelspec' is str"):
        load_definitions(notebook("import math", metadata={"kernelspec": "python3"}))
    path = tmp_path / "fine.ipynb"
    nbformat.write(notebook("import math\nLIMIT = 3"), path)
    module = load_definitions(path, module_name="loader_test")
    assert module.LIMIT == 3 and module.__file__ == str(path)


def test_a_failed_load_restores_the_previous_module() -> None:
    first = load_definitions(notebook("VALUE = 1"), module_name="loader_test")
    load_error(notebook("import no_such_module_for_the_loader"), module_name="loader_test_other")
    with pytest.raises(NotebookLoadError):
        load_definitions(notebook("import no_such_module_for_the_loader"), module_name="loader_test")
    assert sys.modules["loader_test"] is first
