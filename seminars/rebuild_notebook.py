"""Rebuild the seminar notebook from its py:percent source, or normalise any notebook.

The seminar's single source of truth is ``seminars/01_seminar_mlp_autograd.py`` (jupytext
py:percent). This tool turns it into ``01_seminar_mlp_autograd.ipynb`` deterministically:

* nbformat 4.5, validated;
* cell ids derived from each cell's type and text (stable across rebuilds, unique, valid);
* kernelspec ``python3``; no outputs, no execution counts;
* no widget, timing, Colab or jupytext metadata.

Two rebuilds of the same source give identical bytes. The same normalisation applies to any
existing notebook (v3, 4.0-4.5, missing or duplicate ids, broken widget metadata in; a valid
4.5 notebook out).

What a rebuild from a py:percent source does with the cell data the source cannot hold,
decided one by one (the paired ``.ipynb`` is the file about to be replaced):

* **attachments** (images pasted into Markdown cells): the source only holds the reference
  ``attachment:NAME``; the data is taken from the paired ``.ipynb`` (the cell with the same
  text, else the one cell that holds ``NAME``). Attachments no cell references any more are
  dropped, as Jupyter drops them on save. A reference that no cell of the paired notebook
  can satisfy (or two different images under one name) is refused: exit 2, nothing written;
* **cell metadata** (tags, slideshow, ...): jupytext keeps it in the source
  (``# %% tags=["x"]``), so the source is the truth; the kept keys are listed in
  ``KEPT_CELL_METADATA``;
* **outputs and execution counts**: dropped by design (the committed notebook has none;
  ``make seminar`` makes the executed copy in ``build/``).

The source is read as UTF-8; a byte order mark is dropped (editors on Windows write one) and
CRLF line endings become LF; a file that is not UTF-8 is refused.

Usage::

    python seminars/rebuild_notebook.py                    # source -> seminar .ipynb
    python seminars/rebuild_notebook.py --check            # exit 1 if the .ipynb is stale
    python seminars/rebuild_notebook.py NB.ipynb [-o OUT]  # normalise (in place without -o)
    python seminars/rebuild_notebook.py SRC.py [-o OUT]    # any py:percent source -> .ipynb

Exit codes: 0 ok, 1 check failed, 2 bad input (one line on stderr naming the file).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbformat import NotebookNode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cell_ids import cell_id  # noqa: E402  (one content-derived id scheme for every tool)
from nbio import (  # noqa: E402  (the folder is put on sys.path first so the script runs anywhere)
    EXIT_CHECK_FAILED,
    EXIT_OK,
    NotebookError,
    check_field_types,
    dumps,
    parse_notebook,
    read_text,
    run_cli,
    validate,
    write_notebook,
)

HERE = Path(__file__).resolve().parent
SEMINAR_SOURCE = HERE / "01_seminar_mlp_autograd.py"
SEMINAR_NOTEBOOK = HERE / "01_seminar_mlp_autograd.ipynb"

PYTHON_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
PYTHON_LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}
#: Notebook-level metadata that survives normalisation (everything else: widgets, colab,
#: jupytext, accelerator, toc, ... is dropped).
KEPT_NOTEBOOK_METADATA = ("title", "authors")
#: Cell-level metadata that survives normalisation (timing, execution, colab ids,
#: collapsed/scrolled view state and jupytext bookkeeping are dropped).
KEPT_CELL_METADATA = ("tags", "slideshow", "editable", "deletable", "jupyter")
_PERCENT_MARKER = re.compile(r"^# %%", re.MULTILINE)
#: ``attachment:NAME`` as Markdown image/link targets and HTML ``src``/``href`` values use it.
_ATTACHMENT_REF = re.compile(r"""(?:\]\(\s*<?|(?:src|href)\s*=\s*["']?)attachment:([^)\s"'>]+)""")
BOM = "\ufeff"


def _language(metadata: dict) -> str:
    """Return the kernel language a notebook declares (``"python"`` when it declares none).

    Fields of the wrong type count as absent (``nbio.check_field_types`` refuses them first).
    """
    kernelspec = metadata.get("kernelspec") if isinstance(metadata.get("kernelspec"), dict) else {}
    language_info = metadata.get("language_info") if isinstance(metadata.get("language_info"), dict) else {}
    language = kernelspec.get("language") or language_info.get("name") or "python"
    return str(language).lower()


def normalize_metadata(metadata: dict) -> dict:
    """Return the explicit notebook metadata of a normalised notebook.

    Python notebooks get the standard ``python3`` kernelspec and version-free language info;
    notebooks in another language keep their own kernelspec and the language's name.
    """
    result: dict = {}
    if _language(metadata) == "python":
        result["kernelspec"] = dict(PYTHON_KERNELSPEC)
        result["language_info"] = dict(PYTHON_LANGUAGE_INFO)
    else:
        kernelspec = metadata.get("kernelspec") or {}
        result["kernelspec"] = {key: kernelspec[key] for key in ("display_name", "language", "name") if key in kernelspec}
        result["language_info"] = {"name": _language(metadata)}
    for key in KEPT_NOTEBOOK_METADATA:
        if key in metadata:
            result[key] = metadata[key]
    return result


def normalize(nb: NotebookNode) -> NotebookNode:
    """Return a normalised copy of a v4 notebook: 4.5, content ids, no outputs or clutter.

    Cell sources are kept byte for byte; only ids, metadata, outputs and execution counts
    change. Empty ``tags`` lists are dropped. The input node is not modified.
    """
    seen: dict[str, int] = {}
    cells = []
    for cell in nb.cells:
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        metadata = {key: cell["metadata"][key] for key in KEPT_CELL_METADATA if key in cell.get("metadata", {})}
        if not metadata.get("tags", True):
            del metadata["tags"]
        cell_type = cell["cell_type"]
        new = nbformat.from_dict({"cell_type": cell_type, "id": cell_id(cell_type, source, seen), "metadata": metadata, "source": source})
        if cell_type == "code":
            new["execution_count"] = None
            new["outputs"] = []
        elif cell.get("attachments"):
            new["attachments"] = cell["attachments"]
        if cell_type == "raw":
            for key in ("format", "raw_mimetype"):
                if key in cell.get("metadata", {}):
                    new["metadata"][key] = cell["metadata"][key]
        cells.append(new)
    return nbformat.from_dict(
        {"cells": cells, "metadata": normalize_metadata(nb.get("metadata", {})), "nbformat": 4, "nbformat_minor": 5}
    )


def notebook_from_source(text: str, path: str | Path) -> NotebookNode:
    """Read a jupytext py:percent source into a normalised notebook (a leading BOM is dropped)."""
    text = text.removeprefix(BOM)
    if not _PERCENT_MARKER.search(text):
        raise NotebookError(path, "not a jupytext py:percent source (no '# %%' cell markers)")
    import jupytext  # imported lazily: the normalising path does not need it

    try:
        nb = jupytext.reads(text, fmt="py:percent")
    except Exception as exc:  # jupytext raises assorted errors on malformed input
        raise NotebookError(path, f"jupytext cannot read it: {exc}") from None
    return normalize(nb)


def attachment_references(source: str) -> list[str]:
    """Return the attachment names a Markdown cell refers to, in order, without repeats."""
    return list(dict.fromkeys(_ATTACHMENT_REF.findall(source)))


def carry_attachments(nb: NotebookNode, paired: Path, path: Path) -> NotebookNode:
    """Give the Markdown/raw cells of ``nb`` (rebuilt from ``path``) the attachments they reference.

    The data comes from ``paired``, the notebook the rebuild replaces: first the cell with the
    same type and text, else the only cell that holds an attachment of that name. Only the
    referenced attachments are kept. Raises :class:`NotebookError` naming ``path`` when a
    reference cannot be satisfied (``paired`` is missing or unreadable, holds no such
    attachment, or holds different data under that name in several cells). Modifies ``nb``.
    """
    wanted = [(cell, attachment_references(cell.source)) for cell in nb.cells if cell.cell_type != "code"]
    wanted = [(cell, names) for cell, names in wanted if names]
    if not wanted:
        return nb
    first = wanted[0][1][0]
    if not paired.is_file():
        raise NotebookError(path, f"references attachment:{first}, but {paired} (which would hold its data) does not exist")
    try:
        old = check_field_types(parse_notebook(read_text(paired), paired), paired)
    except NotebookError as exc:
        raise NotebookError(path, f"references attachment:{first}, but its data cannot be read from {exc}") from None
    by_text: dict[tuple[str, str], dict] = {}
    by_name: dict[str, list[dict]] = {}
    for cell in old.cells:
        attachments = cell.get("attachments") or {}
        if not attachments:
            continue
        by_text.setdefault((cell.cell_type, cell.source), attachments)
        for name, data in attachments.items():
            if data not in by_name.setdefault(name, []):
                by_name[name].append(data)
    for cell, names in wanted:
        same = by_text.get((cell.cell_type, cell.source), {})
        kept = {}
        for name in names:
            if name in same:
                kept[name] = same[name]
            elif len(by_name.get(name, [])) == 1:
                kept[name] = by_name[name][0]
            else:
                why = "holds different images under that name" if by_name.get(name) else "holds no such attachment"
                raise NotebookError(path, f"a {cell.cell_type} cell references attachment:{name}, but {paired} {why}; "
                                          "refusing to rebuild and lose it")
        cell["attachments"] = nbformat.from_dict(kept)
    return nb


def rebuild(path: str | Path, target: str | Path | None = None) -> NotebookNode:
    """Return the normalised notebook for ``path``: a ``.py`` source or an ``.ipynb``.

    ``target`` is the notebook a ``.py`` rebuild will replace (default: the sibling
    ``.ipynb``); the attachments the source references are taken from it, or from the sibling
    ``.ipynb`` when ``target`` does not exist yet.
    """
    path = Path(path)
    text = read_text(path).removeprefix(BOM)
    if path.suffix == ".py":
        nb = notebook_from_source(text, path)
        # The attachments' data: in the notebook about to be replaced, else in the paired sibling.
        paired = default_output(path) if target is None else Path(target)
        if not paired.is_file() and default_output(path).is_file():
            paired = default_output(path)
        carry_attachments(nb, paired, path)
    elif path.suffix == ".ipynb":
        nb = normalize(check_field_types(parse_notebook(text, path), path))
    else:
        raise NotebookError(path, "expected a .py (jupytext py:percent) or .ipynb file")
    validate(nb, path)
    return nb


def default_output(path: Path) -> Path:
    """Where a rebuild of ``path`` goes without ``-o``: ``.py`` -> sibling ``.ipynb``; in place otherwise."""
    return path.with_suffix(".ipynb") if path.suffix == ".py" else path


def is_stale(nb: NotebookNode, target: Path) -> bool:
    """Return True when ``target`` does not hold exactly the bytes of ``nb``."""
    try:
        return target.read_text(encoding="utf-8") != dumps(nb)
    except (OSError, UnicodeDecodeError):
        return True


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="*", type=Path, help=f"sources or notebooks (default: {SEMINAR_SOURCE.name})")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of the default (one input only)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if any output is stale")
    args = parser.parse_args(argv)
    inputs: list[Path] = args.inputs or [SEMINAR_SOURCE]
    if args.output and len(inputs) != 1:
        parser.error("-o/--output takes exactly one input")

    # Build everything first, so that a bad input anywhere leaves every file untouched.
    targets = [args.output or default_output(path) for path in inputs]
    planned = [(rebuild(path, target), target) for path, target in zip(inputs, targets, strict=True)]
    status = EXIT_OK
    for (nb, target), source in zip(planned, inputs, strict=True):
        if args.check:
            if is_stale(nb, target):
                print(f"{target}: stale; rebuild it with: python seminars/rebuild_notebook.py {source}", file=sys.stderr)
                status = EXIT_CHECK_FAILED
        elif write_notebook(nb, target):
            print(f"wrote {target}")
        else:
            print(f"unchanged {target}")
    return status


if __name__ == "__main__":
    sys.exit(run_cli(main))
