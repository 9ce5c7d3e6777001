"""Tests of seminars/modernize_code.py: every rewrite rule, what it must not touch, the CLI."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "seminars"))

import modernize_code
from migration_helpers import (
    BAD_INPUTS,
    assert_one_line_error,
    call_main,
    code,
    md,
    notebook,
    run_tool,
    snapshot,
    v3_notebook,
    write_bad,
    write_json,
)
from modernize_code import main, modernize

IMPORTS = "import torch\nimport torch.nn.functional as F\nfrom torch.autograd import Variable\n"
MAGIC, SHELL = "%matplotlib inline\n", "\n!ls -l | head -n 2\n"


def run(*sources: str, imports: str = IMPORTS) -> tuple[list[str], modernize_code.Report]:
    """Modernize a notebook of an import cell plus ``sources``; return the new code sources."""
    nb = nbformat.from_dict(notebook([code(imports), md("Текст"), *[code(s) for s in sources]]))
    new, report = modernize(nb, "nb.ipynb")
    return [cell.source for cell in new.cells if cell.cell_type == "code"], report


# Each rule on its own snippet, between an IPython magic and a shell line:
# (rule, legacy snippet, modern snippet).
REWRITES = [
    ("variable", "x = Variable(t)", "x = t.detach()"),
    ("variable", "x = Variable(torch.randn(3))", "x = torch.randn(3)"),
    ("variable", "w = Variable(torch.zeros(3), requires_grad=True)", "w = torch.zeros(3).requires_grad_()"),
    ("variable", "y = Variable(a + b).sum()", "y = (a + b).detach().sum()"),
    ("variable", "w = Variable(a * 2, requires_grad=True)", "w = (a * 2).detach().requires_grad_()"),
    ("variable", "w = Variable(t, requires_grad=True)", "w = t.detach().requires_grad_()"),
    ("variable", "w = Variable(t, requires_grad=flag)", "w = t.detach().requires_grad_(flag)"),
    ("variable", "w = Variable(t, requires_grad=False)", "w = t.detach()"),
    ("variable", "w = Variable(torch.ones(2, requires_grad=True))", "w = torch.ones(2, requires_grad=True).detach()"),
    ("data-index-item", "value = F.mse_loss(y, t).data[0]", "value = F.mse_loss(y, t).item()"),
    ("data-index-item", "total += model(x).sum().data[0]", "total += model(x).sum().item()"),
    ("volatile", "xv = Variable(x, volatile=True)\nout = model(xv)\nprint(out.sum())\nprint(1)",
     "with torch.no_grad():\n    xv = x.detach()\n    out = model(xv)\n    print(out.sum())\nprint(1)"),
    ("legacy-constructor", "t = torch.FloatTensor([1, 2])", "t = torch.tensor([1, 2], dtype=torch.float32)"),
    ("legacy-constructor", "t = torch.LongTensor(2, 3)", "t = torch.empty(2, 3, dtype=torch.int64)"),
    ("legacy-constructor", "t = torch.ByteTensor(x.size())", "t = torch.empty(x.size(), dtype=torch.uint8)"),
    ("legacy-constructor", "t = torch.Tensor([1, 2])", "t = torch.tensor([1, 2], dtype=torch.get_default_dtype())"),
    ("legacy-constructor", "t = torch.Tensor(4)", "t = torch.empty(4)"),
    ("legacy-constructor", "t = torch.DoubleTensor()", "t = torch.empty(0, dtype=torch.float64)"),
    ("legacy-constructor", "t = torch.cuda.FloatTensor(2)", 't = torch.empty(2, dtype=torch.float32, device="cuda")'),
    ("functional", "h = F.sigmoid(z) + F.tanh(z)", "h = torch.sigmoid(z) + torch.tanh(z)"),
    ("functional", "act = F.sigmoid", "act = torch.sigmoid"),
    ("async-kwarg", "x = x.cuda(async=True)", "x = x.cuda(non_blocking=True)"),
    ("async-kwarg", "x = x.to('cuda', async=True)", "x = x.to('cuda', non_blocking=True)"),
    ("UP031 (ruff)", "print('loss %.3f, acc %.2f' % (loss, acc))", "print(f'loss {loss:.3f}, acc {acc:.2f}')"),
    ("UP032 (ruff)", "print('a = {}'.format(a))", "print(f'a = {a}')"),
    ("UP004 (ruff)", "class Net(object):\n    pass", "class Net:\n    pass"),
    ("legacy-constructor", "t = torch.FloatTensor(x)", "t = torch.as_tensor(x, dtype=torch.float32)"),
    ("variable", "v = Variable(torch.FloatTensor(x))", "v = torch.as_tensor(x, dtype=torch.float32).detach()"),
    ("F901 (ruff)", "def f():\n    raise NotImplemented", "def f():\n    raise NotImplementedError"),
    ("W605 (ruff)", "pattern = '\\d+'", "pattern = r'\\d+'"),
    ("NPY001 (ruff)", "import numpy as np\nx = np.float(1)", "import numpy as np\nx = float(1)"),
    ("NPY201 (ruff)", "import numpy as np\nx = np.NaN", "import numpy as np\nx = np.nan"),
    ("B009 (ruff)", "n = getattr(x, 'shape')", "n = x.shape"),
    ("B010 (ruff)", "setattr(x, 'name', 1)", "x.name = 1"),
]


@pytest.mark.parametrize(("rule", "before", "after"), REWRITES, ids=[f"{r[0]}-{i}" for i, r in enumerate(REWRITES)])
def test_each_rewrite_on_its_own_snippet_keeps_magic_and_shell_lines(rule: str, before: str, after: str) -> None:
    sources, report = run(MAGIC + before + SHELL)
    assert sources[1] == MAGIC + after + SHELL
    old_lines, new_lines = before.splitlines(), after.splitlines()
    line = 2 + next((i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=False)) if a != b), 0)  # +1: the magic line
    assert any(change.rule == rule and change.cell == 3 and change.line == line for change in report.changes), report.changes


def test_magics_inside_blocks_survive_and_move_with_their_block() -> None:
    before = "for i in range(2):\n    !echo {i}\n    v = Variable(x, volatile=True)\n    %time y = model(v)\n"
    sources, report = run(before)
    assert sources[1] == "for i in range(2):\n    !echo {i}\n    with torch.no_grad():\n        v = x.detach()\n        %time y = model(v)\n"
    assert [change.rule for change in report.changes if change.cell == 3] == ["volatile"]


def test_python_cell_magics_are_modernized_below_the_magic_line_and_others_left_alone() -> None:
    sources, _ = run("%%time\nloss_value = loss.sum().data[0]\n", "%%bash\necho 'F.sigmoid(x).data[0]'\n", "files = !ls\nx = Variable(t)\n")
    assert sources[1:] == ["%%time\nloss_value = loss.sum().item()\n", "%%bash\necho 'F.sigmoid(x).data[0]'\n", "files = !ls\nx = t.detach()\n"]


def test_volatile_group_stops_at_the_first_statement_that_does_not_use_it() -> None:
    sources, _ = run("xv = Variable(x, volatile=True)\nscores = model(xv)\nloss = criterion(model(x), y)\nloss.backward()\n")
    assert sources[1] == "with torch.no_grad():\n    xv = x.detach()\n    scores = model(xv)\nloss = criterion(model(x), y)\nloss.backward()\n"


def test_volatile_inside_an_if_header_wraps_the_whole_statement() -> None:
    sources, _ = run("if cond:\n    print(model(Variable(x, volatile=True)).size())\n")
    assert sources[1] == "if cond:\n    with torch.no_grad():\n        print(model(x.detach()).size())\n"


@pytest.mark.parametrize(
    "untouched",
    [
        "w.data[0] = 1.0",  # an assignment target cannot become .item()
        "w.data[0] += 1.0",
        "first_row = x.data[1]",  # only index 0 is the legacy scalar idiom
        "def f(x: torch.Tensor) -> torch.Tensor:\n    return x",  # annotations are not constructors
        "ok = isinstance(x, torch.FloatTensor)",  # a type reference, not a call
        "s = 'F.sigmoid(x) and Variable(x)'",  # text in strings
        "print('x = %s' % x)",  # x might be a tuple: UP031 is not safe here
        "y = torch.sigmoid(x)",  # already modern
    ],
)
def test_what_must_not_change(untouched: str) -> None:
    sources, report = run(MAGIC + untouched + SHELL)
    assert sources[1] == MAGIC + untouched + SHELL
    assert not [change for change in report.changes if change.cell == 3]


def test_a_printf_with_a_possibly_tuple_operand_is_reported_as_a_note() -> None:
    _, report = run("print('x = %s' % x)")
    assert any("UP031 left" in note and "cell 3, line 1" in note for note in report.notes)


def test_names_are_resolved_through_the_imports_of_any_cell() -> None:
    sources, _ = run("x = V(t)\ny = fn.tanh(x)\nz = th.FloatTensor([1])\n",
                     imports="import torch as th\nfrom torch.nn import functional as fn\nfrom torch.autograd import Variable as V\n")
    assert sources[0] == "import torch as th\nfrom torch.nn import functional as fn\n"
    assert sources[1] == "x = t.detach()\ny = th.tanh(x)\nz = th.tensor([1], dtype=th.float32)\n"


def test_a_notebook_that_defines_its_own_variable_is_left_alone() -> None:
    sources, report = run("class Variable:\n    pass\n\nv = Variable(3)\n", imports="import torch\n")
    assert sources[1] == "class Variable:\n    pass\n\nv = Variable(3)\n"
    assert not report.changes


def test_variable_imports_are_removed_only_when_unused() -> None:
    sources, report = run("x = Variable(t)\n")
    assert sources[0] == "import torch\nimport torch.nn.functional as F\n"
    assert any(change.rule == "unused-import" and change.cell == 1 and change.line == 3 for change in report.changes)
    still_used, _ = run("x = Variable(t, foo=1)\n")  # unusual arguments: left, so the import stays
    assert still_used[0] == IMPORTS


def test_partial_and_commented_variable_imports() -> None:
    sources, _ = run("x = Variable(t)\n", imports="import torch\n# autograd\nfrom torch.autograd import Variable, grad\n")
    assert sources[0] == "import torch\n# autograd\nfrom torch.autograd import grad\n"
    sources, _ = run("x = Variable(t)\n", imports="import torch\n# старый импорт\nfrom torch.autograd import Variable\nx0 = 1\n")
    assert sources[0] == "import torch\n# старый импорт\nx0 = 1\n"


def test_an_unparsable_cell_is_left_as_is_and_reported_while_others_are_modernized() -> None:
    broken = "def broken(:\n    x = Variable(t)\n"
    sources, report = run(broken, "y = loss.sum().data[0]\n")
    assert sources[1] == broken
    assert sources[2] == "y = loss.sum().item()\n"
    assert any(note.startswith("cell 3: left unchanged: cannot parse") for note in report.notes)


def _exec(source: str) -> dict:
    namespace: dict = {}
    exec(compile(source, "<cell>", "exec"), namespace)  # noqa: S102 - our own test snippets
    return namespace


@pytest.mark.parametrize(
    "expression",
    [
        "torch.FloatTensor([[1, 2], [3, 4]])",
        "torch.LongTensor([1, 2, 3])",
        "torch.ByteTensor([1, 0])",
        "torch.DoubleTensor(2, 3).zero_()",
        "torch.IntTensor(torch.Size([2, 2])).zero_()",
        "torch.Tensor([1, 2])",
        "torch.Tensor(2, 5).fill_(3)",
        "Variable(torch.FloatTensor([1.5, 2.5]), requires_grad=True)",
        "Variable(torch.ones(2) * 3)",
    ],
)
def test_rewrites_compute_what_the_legacy_code_computed(expression: str) -> None:
    """Where PyTorch 2.13 still runs the legacy form, old and new give the same tensor."""
    legacy = f"import torch\nfrom torch.autograd import Variable\nresult = {expression}\n"
    nb = nbformat.from_dict(notebook([code(legacy)]))
    new, _ = modernize(nb)
    assert "Tensor(" not in new.cells[0].source and "Variable" not in new.cells[0].source
    old_value, new_value = _exec(legacy)["result"], _exec(new.cells[0].source)["result"]
    assert type(old_value) is type(new_value)
    if hasattr(old_value, "dtype"):
        assert (old_value.dtype, old_value.shape, old_value.requires_grad) == (new_value.dtype, new_value.shape, new_value.requires_grad)
        assert bool((old_value == new_value).all())
    else:
        assert old_value == new_value


def test_data_index_rewrite_fixes_the_pytorch_2_error() -> None:
    legacy = "import torch\nloss = (torch.ones(3) * 2).sum()\nvalue = loss.data[0]\n"
    with pytest.raises(IndexError, match="0-dim"):
        _exec(legacy)
    new, _ = modernize(nbformat.from_dict(notebook([code(legacy)])))
    assert _exec(new.cells[0].source)["value"] == 6.0


# ------------------------------------------------------------------------------- CLI


def legacy_notebook(path: Path, minor: int = 4) -> Path:
    """A small legacy notebook with outputs, magic and shell lines."""
    cells = [
        md("# Старый ноутбук"),
        code(IMPORTS + MAGIC, outputs=[{"output_type": "stream", "name": "stdout", "text": "ok\n"}], count=1),
        code("x = Variable(torch.FloatTensor([1, 2]), requires_grad=True)\nloss = (x * x).sum()\nloss.backward()\n"
             "print('loss = %.2f' % loss.data[0])" + SHELL, count=2),
    ]
    return write_json(path, notebook(cells, minor=minor, metadata={"colab": {"name": "old.ipynb"}}))


def test_check_reports_and_exits_1_without_writing_then_0_after_modernizing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = legacy_notebook(tmp_path / "old.ipynb")
    before = path.read_bytes()
    assert call_main(main, path, "--check") == 1
    out = capsys.readouterr().out
    assert path.read_bytes() == before
    for rule in ("variable", "legacy-constructor", "data-index-item", "UP031 (ruff)", "unused-import"):
        assert re.search(rf"^{re.escape(str(path))}: cell \d+, line \d+: {re.escape(rule)}: ", out, re.MULTILINE), (rule, out)
    assert call_main(main, path) == 0
    assert call_main(main, path, "--check") == 0


def test_modernize_is_idempotent_and_keeps_everything_but_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = legacy_notebook(tmp_path / "old.ipynb")
    original = json.loads(path.read_text(encoding="utf-8"))
    assert call_main(main, path) == 0
    first = path.read_bytes()
    result = json.loads(first)
    assert result["nbformat_minor"] == 4 and all("id" not in cell for cell in result["cells"])
    assert result["metadata"] == original["metadata"]
    reread = nbformat.reads(first.decode("utf-8"), as_version=4)
    assert reread.cells[1].outputs == nbformat.reads(json.dumps(original), as_version=4).cells[1].outputs
    assert "".join(result["cells"][2]["source"]) == (
        "x = torch.tensor([1, 2], dtype=torch.float32).requires_grad_()\nloss = (x * x).sum()\nloss.backward()\n"
        "print(f'loss = {loss.item():.2f}')" + SHELL
    )
    capsys.readouterr()
    assert call_main(main, path) == 0
    assert path.read_bytes() == first
    assert "nothing to modernize" in capsys.readouterr().out


def test_output_option_leaves_the_input_untouched(tmp_path: Path) -> None:
    path = legacy_notebook(tmp_path / "old.ipynb")
    before = path.read_bytes()
    out = tmp_path / "sub" / "new.ipynb"
    assert call_main(main, path, "-o", out) == 0
    assert path.read_bytes() == before
    assert "Variable" not in out.read_text(encoding="utf-8")


def test_v3_input_gives_a_valid_deterministic_v4_notebook(tmp_path: Path) -> None:
    path = write_json(tmp_path / "v3.ipynb", v3_notebook("Старый", ["import torch\nx = torch.FloatTensor([1])", "print('%.1f' % (1.0,))"]))
    outputs = [tmp_path / "a.ipynb", tmp_path / "b.ipynb"]
    for out in outputs:
        assert call_main(main, path, "-o", out) == 0
    assert outputs[0].read_bytes() == outputs[1].read_bytes()
    nb = nbformat.reads(outputs[0].read_text(encoding="utf-8"), as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat_minor == 5 and len({cell.id for cell in nb.cells}) == len(nb.cells)
    assert nb.cells[1].source == "import torch\nx = torch.tensor([1], dtype=torch.float32)"
    assert nb.cells[2].source == "print(f'{1.0:.1f}')"


def test_duplicate_and_missing_ids_are_repaired_deterministically(tmp_path: Path) -> None:
    cells = [code("a = loss.data[0]", id="same"), code("b = 1", id="same"), code("c = 2")]
    data = notebook(cells, minor=5)
    del data["cells"][2]["id"]
    path = write_json(tmp_path / "dup.ipynb", data)
    assert call_main(main, path, "-o", tmp_path / "a.ipynb") == 0
    assert call_main(main, path, "-o", tmp_path / "b.ipynb") == 0
    assert (tmp_path / "a.ipynb").read_bytes() == (tmp_path / "b.ipynb").read_bytes()
    ids = [cell["id"] for cell in json.loads((tmp_path / "a.ipynb").read_text(encoding="utf-8"))["cells"]]
    assert ids[0] == "same" and len(set(ids)) == 3


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_changes_nothing(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_bad(tmp_path / "bad.ipynb", kind)
    out = tmp_path / "out.ipynb"
    before = snapshot([path, out])
    assert call_main(main, path, "-o", out) == 2
    assert_one_line_error(capsys.readouterr().err, path)
    assert snapshot([path, out]) == before
    assert call_main(main, path) == 2
    assert snapshot([path, out]) == before


def test_command_line_as_ci_calls_it(tmp_path: Path) -> None:
    path = legacy_notebook(tmp_path / "old.ipynb")
    result = run_tool("modernize_code.py", path, "--check")
    assert result.returncode == 1, result.stderr
    assert f"{path}: cell 3, line 1: legacy-constructor: torch.FloatTensor([1, 2]) -> " in result.stdout
    bad = run_tool("modernize_code.py", tmp_path / "missing.ipynb")
    assert bad.returncode == 2 and bad.stderr.strip() == f"{tmp_path / 'missing.ipynb'}: no such file"


def test_odd_cells_survive_byte_for_byte() -> None:
    odd = ["", "   \n", "%%time", "!ls", "x?", "??torch.nn", "%%writefile a.py\nx = Variable(y)\n", "x = [\n    1,  # !\n]\n",
           "def f():\n    '''\n%not a magic\n'''\n    return 1\n", "x = 1 \\\n  + 2\n!echo a \\\n   b\n"]
    sources, report = run(*odd, imports="import torch\n")
    assert sources[1:] == odd
    assert not report.changes and not report.notes


def test_line_endings_and_cell_magic_arguments_are_kept() -> None:
    sources, _ = run("x = 1\r\ny = x.sum().data[0]\r\n", "\n\n%%timeit -n 1 a = 1\nb = a.mean().data[0]\n\n")
    assert sources[1:] == ["x = 1\r\ny = x.sum().item()\r\n", "\n\n%%timeit -n 1 a = 1\nb = a.mean().item()\n\n"]


@pytest.mark.parametrize("user", [
    "%time y = Variable(t)\n",
    "%timeit -n 1 Variable(t)\n",
    "%%timeit\nz = 1\n%time y = Variable(t)\n",
    "!echo $Variable\n",
    "!echo {Variable}\n",
    "%%bash\necho Variable\n",
    "def broken(:\n    Variable(t)\n",  # a cell the tool cannot parse is left as is, and still uses the name
])
def test_an_import_still_used_where_the_rewrites_cannot_see_stays(user: str) -> None:
    sources, report = run("x = Variable(t)\n", user)
    assert sources[0] == IMPORTS
    assert sources[1] == "x = t.detach()\n" and sources[2] == user
    assert "unused-import" not in {change.rule for change in report.changes}


def test_data_index_of_a_tensor_that_may_have_many_elements_is_left_with_a_note() -> None:
    before = "w = model.weight\nrow = w.data[0]\nloss = criterion(out, y)\nvalue = loss.data[0]\n"
    sources, report = run(before)
    assert sources[1] == before
    assert sum("nothing shows that" in note for note in report.notes) == 2
    # evidence of one element: a reduction, a loss, .backward(), a one-element constructor
    sources, _ = run("loss = criterion(out, y)\nloss.backward()\nvalue = loss.data[0]\n"
                     "a = Variable(torch.Tensor([2.0]), requires_grad=True)\nb = (a * 3 + 1).data[0]\n"
                     "def step(x):\n    s = x.pow(2).sum()\n    return s.data[0], a.grad.data[0]\n")
    assert sources[1] == ("loss = criterion(out, y)\nloss.backward()\nvalue = loss.item()\n"
                          "a = torch.tensor([2.0], dtype=torch.get_default_dtype()).requires_grad_()\nb = (a * 3 + 1).item()\n"
                          "def step(x):\n    s = x.pow(2).sum()\n    return s.item(), a.grad.item()\n")


def test_a_42_notebook_with_cell_ids_is_cleaned_to_45(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = notebook([code("b = Variable(t)", id="b1"), code("c = 1", id="b1")], minor=2)
    path = write_json(tmp_path / "v42.ipynb", data)
    out = tmp_path / "m.ipynb"
    assert call_main(main, path, "-o", out) == 0, capsys.readouterr().err
    result = nbformat.reads(out.read_text(encoding="utf-8"), as_version=4)
    nbformat.validate(result)
    assert result.nbformat_minor == 5 and result.cells[0].id == "b1" and len({c.id for c in result.cells}) == 2


@pytest.mark.parametrize("broken", ["unknown-cell-key", "kernelspec-string"])
def test_a_schema_invalid_input_is_refused_naming_it_before_any_output(
    broken: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = notebook([code("x = Variable(t)\ny = loss.sum().data[0]")], minor=5)
    if broken == "unknown-cell-key":
        data["cells"][0]["colour"] = "red"
    else:
        data["metadata"]["kernelspec"] = "python3"
    path = write_json(tmp_path / "in.ipynb", data)
    out = tmp_path / "out.ipynb"
    before = path.read_bytes()
    assert call_main(main, path, "-o", out) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no change is announced for a file that will not be written
    assert_one_line_error(captured.err, path)
    assert str(out) not in captured.err
    assert path.read_bytes() == before and not out.exists()


def test_the_readme_table_lists_exactly_the_rules_the_tool_applies() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme.split("Правила `modernize_code.py`", 1)[1].split("\n\n", 2)[1]
    listed = {name for row in table.splitlines() if row.startswith("| `")
              for name in re.findall(r"`([^`]+)`", row.split("|")[1])}
    ruff = {f"{'UPxxx' if code == 'UP' else code} (ruff)" for code in modernize_code.RUFF_RULES}
    assert listed == set(modernize_code.LIBCST_RULES) | ruff
    rules_seen = {rule for rule, _, _ in REWRITES} | {"unused-import"}
    assert {rule if not rule.startswith("UP") else "UPxxx (ruff)" for rule in rules_seen} == listed
