"""The student release never ships a solution (homeworks/release.py, homeworks/grading/strip.py).

Near-miss markers, non-UTF-8 files and released code that no longer compiles are refused with
one line and exit 2, and nothing is written; marker text inside strings is text; and the final
proof catches a solution line that reaches a released file by any route.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "homeworks"))

from grading import strip  # noqa: E402
from grading.homework import HomeworkError, load_homework  # noqa: E402

SOLUTION_LINE = "return (2 * x).exp().sub(1) / (2 * x).exp().add(1)"
GOOD = f"def tanh(x):\n    ### BEGIN SOLUTION\n    {SOLUTION_LINE}\n    ### END SOLUTION\n"


def homework(root: Path, files: dict[str, str | bytes], name: str = "hw") -> Path:
    """Write a homework folder with ``files`` (all listed in its homework.json); return the root."""
    folder = root / name
    folder.mkdir(parents=True)
    for relative, content in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    config = {"title": "Задание", "max_score": 1.0, "files": list(files), "timeout_per_test_s": 1, "memory_mb": 1024}
    (folder / "homework.json").write_text(json.dumps(config), encoding="utf-8")
    return root


def release(root: Path, out: Path, *names: str) -> subprocess.CompletedProcess[str]:
    """Run the release as `make assignments` does."""
    return subprocess.run([sys.executable, str(REPO / "homeworks" / "release.py"), "--root", str(root), "--out", str(out), *names],
                          capture_output=True, text=True, timeout=120, cwd=REPO, check=False)


def assert_refused(result: subprocess.CompletedProcess[str], out: Path, *expected: str) -> None:
    """Exit 2, one line on stderr naming the problem, no traceback, nothing written."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    assert not out.exists() or not any(out.iterdir()), "nothing may be written"


def notebook_with(cell_source: str, *, markdown: str = "# Задание") -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(markdown), nbformat.v4.new_code_cell(cell_source)]
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"c{index}"
    return nbformat.writes(nb) + "\n"


NEAR_MISSES = {
    "otter-style": "def f(x):\n    # BEGIN SOLUTION\n    return x * 2\n    # END SOLUTION\n",
    "no-space": "def f(x):\n    ###BEGIN SOLUTION\n    return x * 2\n    ###END SOLUTION\n",
    "trailing-note": "def f(x):\n    ### BEGIN SOLUTION  # 2 балла\n    return x * 2\n    ### END SOLUTION\n",
    "points-in-parens": "def f(x):\n    ### BEGIN SOLUTION (2 points)\n    return x * 2\n    ### END SOLUTION (2 points)\n",
    "lower-case": "def f(x):\n    ### begin solution\n    return x * 2\n    ### end solution\n",
    "two-hashes": "def f(x):\n    ## BEGIN SOLUTION\n    return x * 2\n    ## END SOLUTION\n",
    "four-hashes": "def f(x):\n    #### BEGIN SOLUTION\n    return x * 2\n    #### END SOLUTION\n",
    "underscore": "def f(x):\n    ### BEGIN_SOLUTION\n    return x * 2\n    ### END_SOLUTION\n",
    "start-stop": "def f(x):\n    # START SOLUTION\n    return x * 2\n    # STOP SOLUTION\n",
    "hidden-tests": "def test_f():\n    ### BEGIN HIDDEN TESTS\n    assert f(2) == 4\n    ### END HIDDEN TESTS\n",
    "otter-inline": "def f(x):\n    return x * 2  # SOLUTION\n",
    "after-code": "def f(x):\n    y = 1  ### BEGIN SOLUTION\n    return x * 2\n    ### END SOLUTION\n",
    "only-end-is-off": "def f(x):\n    ### BEGIN SOLUTION\n    return x * 2\n    ### END SOLUTION.\n",
    "russian": "def f(x):\n    # НАЧАЛО РЕШЕНИЯ\n    return x * 2\n    # КОНЕЦ РЕШЕНИЯ\n",
}


@pytest.mark.parametrize("name", sorted(NEAR_MISSES))
def test_near_miss_markers_in_python_are_refused(name: str, tmp_path: Path) -> None:
    root = homework(tmp_path / "hws", {"hw.py": NEAR_MISSES[name]})
    out = tmp_path / "out"
    assert_refused(release(root, out), out, "hw.py:", "looks like a solution marker")


@pytest.mark.parametrize("where", ["code-cell", "markdown-cell", "readme-html-comment", "readme-heading"])
def test_near_miss_markers_elsewhere_are_refused(where: str, tmp_path: Path) -> None:
    files = {"hw.py": GOOD}
    if where == "code-cell":
        files["work.ipynb"] = notebook_with("def f(x):\n    # BEGIN SOLUTION\n    return x * 2\n    # END SOLUTION\n")
    elif where == "markdown-cell":
        files["work.ipynb"] = notebook_with("x = 1", markdown="Ответ:\n\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    elif where == "readme-html-comment":
        files["README.md"] = "# Задание\n\n<!-- BEGIN SOLUTION -->\nОтвет: 42\n<!-- END SOLUTION -->\n"
    else:
        files["README.md"] = "# Задание\n\n## Begin solution\n\nОтвет: 42\n"
    root = homework(tmp_path / "hws", files)
    out = tmp_path / "out"
    assert_refused(release(root, out), out)


def test_the_case_file_with_three_marker_variants_ships_nothing(tmp_path: Path) -> None:
    variants = ("def tanh(x):\n    # BEGIN SOLUTION\n    e = (2 * x).exp()\n    return (e - 1) / (e + 1)\n    # END SOLUTION\n\n\n"
                "def softplus(x):\n    ###BEGIN SOLUTION\n    return (1 + x.exp()).log()\n    ###END SOLUTION\n\n\n"
                "def gelu(x):\n    ### BEGIN SOLUTION (2 points)\n    return 0.5 * x * (1 + (x / 2 ** 0.5).erf())\n    ### END SOLUTION (2 points)\n")
    root = homework(tmp_path / "hws", {"variants.py": variants})
    out = tmp_path / "out"
    assert_refused(release(root, out, "hw"), out, "variants.py:2:")


def test_marker_text_inside_strings_is_not_a_marker(tmp_path: Path) -> None:
    docstring = ('"""Как устроен исходник:\n\n    ### BEGIN SOLUTION\n    ...\n    ### END SOLUTION\n"""\n\n'
                 "EXAMPLE = '### BEGIN SOLUTION'\n\n\n")
    root = homework(tmp_path / "hws", {"hw.py": docstring + GOOD})
    out = tmp_path / "out"
    result = release(root, out)
    assert result.returncode == 0, result.stderr
    released = (out / "hw" / "hw.py").read_text(encoding="utf-8")
    assert released == docstring + "def tanh(x):\n    raise NotImplementedError\n"


def test_a_non_utf8_file_is_refused(tmp_path: Path) -> None:
    latin1 = ("# coding: latin-1\n# Привет: é\n" + GOOD).encode("utf-8").replace("é".encode(), b"\xe9")
    root = homework(tmp_path / "hws", {"hw.py": latin1})
    out = tmp_path / "out"
    assert_refused(release(root, out), out, "hw.py", "not UTF-8")


def test_binary_files_are_copied_unless_a_solution_line_is_inside(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    root = homework(tmp_path / "hws", {"hw.py": GOOD, "figure.png": png})
    out = tmp_path / "out"
    assert release(root, out).returncode == 0
    assert (out / "hw" / "figure.png").read_bytes() == png
    leaky = homework(tmp_path / "hws2", {"hw.py": GOOD, "figure.png": png + SOLUTION_LINE.encode("utf-16-le")})
    out2 = tmp_path / "out2"
    assert_refused(release(leaky, out2), out2, "figure.png", "solution line")


@pytest.mark.parametrize("kind", ["py", "ipynb"])
def test_released_code_that_no_longer_compiles_is_refused(kind: str, tmp_path: Path) -> None:
    body = "def f(x):\n### BEGIN SOLUTION\n    return x * 2\n### END SOLUTION\n"  # markers at column 0
    files = {"hw.py": body} if kind == "py" else {"hw.py": GOOD, "work.ipynb": notebook_with(body)}
    root = homework(tmp_path / "hws", files)
    out = tmp_path / "out"
    assert_refused(release(root, out), out, "hw.py:" if kind == "py" else "work.ipynb [cell 1]")


def test_a_solution_line_copied_into_another_released_file_is_caught(tmp_path: Path) -> None:
    root = homework(tmp_path / "hws", {"hw.py": GOOD, "README.md": f"# Задание\n\nПодсказка:\n\n    {SOLUTION_LINE}\n"})
    out = tmp_path / "out"
    assert_refused(release(root, out), out, "README.md", "solution line")


def test_the_proof_catches_a_stripping_bug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If stripping ever left a region in place, the final check still refuses the release."""
    root = homework(tmp_path / "hws", {"hw.py": GOOD})
    real = strip._strip

    def leaky_strip(text: str, path: str | Path, mode: str, line_offset: int = 0) -> strip._Stripped:
        result = real(text, path, mode, line_offset)
        result.text = text.replace("### BEGIN SOLUTION\n", "").replace("    ### END SOLUTION\n", "")
        return result

    monkeypatch.setattr(strip, "_strip", leaky_strip)
    with pytest.raises(HomeworkError, match="solution line"):
        strip.plan_release(load_homework("hw", root=root))


def test_public_code_and_trivial_lines_may_repeat_solution_lines(tmp_path: Path) -> None:
    source = ("def scale(x):\n    y = x.clone().mul(2.0)\n    return y\n\n\n"
              "def double(x):\n    ### BEGIN SOLUTION\n    y = x.clone().mul(2.0)\n    return y\n    ### END SOLUTION\n")
    root = homework(tmp_path / "hws", {"hw.py": source})
    out = tmp_path / "out"
    result = release(root, out)
    assert result.returncode == 0, result.stderr
    assert (out / "hw" / "hw.py").read_text(encoding="utf-8").endswith("def double(x):\n    raise NotImplementedError\n")


def test_a_failed_release_leaves_the_previous_one_and_other_homeworks_untouched(tmp_path: Path) -> None:
    root = homework(tmp_path / "hws", {"hw.py": GOOD}, name="a")
    homework(root, {"hw.py": GOOD}, name="b")
    out = tmp_path / "out"
    assert release(root, out).returncode == 0
    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    (root / "a" / "hw.py").write_text(GOOD.replace("### BEGIN SOLUTION", "# BEGIN SOLUTION"), encoding="utf-8")
    (root / "b" / "hw.py").write_text(GOOD + "\n\ndef g():\n    return 1\n", encoding="utf-8")
    result = release(root, out)
    assert result.returncode == 2 and "a/hw.py:2:" in result.stderr
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == before


def test_bom_and_crlf_sources_release_like_plain_ones(tmp_path: Path) -> None:
    crlf = GOOD.replace("\n", "\r\n")
    root = homework(tmp_path / "hws", {"hw.py": b"\xef\xbb\xbf" + crlf.encode()})
    out = tmp_path / "out"
    result = release(root, out)
    assert result.returncode == 0, result.stderr
    assert (out / "hw" / "hw.py").read_bytes() == b"\xef\xbb\xbf" + b"def tanh(x):\r\n    raise NotImplementedError\r\n"


@pytest.mark.parametrize("fault", ["kernelspec-is-a-string", "unknown-cell-key", "cell-is-a-list"])
def test_a_notebook_with_malformed_fields_is_refused_with_one_line(fault: str, tmp_path: Path) -> None:
    data = json.loads(notebook_with("def f(x):\n    ### BEGIN SOLUTION\n    return x * 2\n    ### END SOLUTION\n"))
    if fault == "kernelspec-is-a-string":
        data["metadata"]["kernelspec"] = "python3"
    elif fault == "unknown-cell-key":
        data["cells"][1]["colour"] = "red"
    else:
        data["cells"][1] = ["not", "a", "cell"]
    root = homework(tmp_path / "hws", {"hw.py": GOOD, "work.ipynb": json.dumps(data)})
    out = tmp_path / "out"
    assert_refused(release(root, out), out, "work.ipynb")


@pytest.mark.parametrize("cell", [
    "%time y = 2  # BEGIN SOLUTION\n",  # a marker-like comment on a magic line
    "%%time\ndef f(x):\n    # BEGIN SOLUTION\n    return x * 2\n    # END SOLUTION\n",  # a cell magic: read line by line
    "%%time\nx = 1  # SOLUTION\n",
])
def test_near_misses_next_to_ipython_syntax_are_refused(cell: str, tmp_path: Path) -> None:
    root = homework(tmp_path / "hws", {"hw.py": GOOD, "work.ipynb": notebook_with(cell)})
    out = tmp_path / "out"
    assert_refused(release(root, out), out, "work.ipynb [cell 1]")


def test_a_markdown_heading_named_solution_is_prose_not_a_marker(tmp_path: Path) -> None:
    root = homework(tmp_path / "hws", {"hw.py": GOOD, "README.md": "# Задание\n\n## Solution\n\nПришлите файл.\n"})
    out = tmp_path / "out"
    assert release(root, out).returncode == 0
