#!/usr/bin/env bash
# Remove saved widget state (metadata.widgets) from notebooks, through Python and nbformat.
#
#   bash seminars/rm_widgets.sh [--check] [NB.ipynb ...]
#
# With no notebooks: every *.ipynb under seminars/ except the archive old_*.ipynb (the
# migration tools' legacy inputs keep their widget state on purpose). --check changes
# nothing and exits 1 if widget state is found; bad input exits 2 and changes nothing.
# The work is done by rm_widgets.py (see its docstring); this wrapper only picks the Python:
# $RM_WIDGETS_PYTHON if set, else the repository's .venv, else python3.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${RM_WIDGETS_PYTHON:-}"
if [[ -z "$python" ]]; then
    if [[ -x "$here/../.venv/bin/python" ]]; then
        python="$here/../.venv/bin/python"
    else
        python="python3"
    fi
fi
exec "$python" "$here/rm_widgets.py" "$@"
