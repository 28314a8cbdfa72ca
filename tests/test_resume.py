"""Which cells a resumed headless attempt reruns (runs themselves: test_headless.py)."""

from __future__ import annotations

from conftest import make_notebook

from jupyter_lapd.models import CellRecord, RunRecord
from jupyter_lapd.resume import from_failed, from_start, new_selection


def notebook():
    nb = make_notebook(["alpha = 1", "a = alpha", ("markdown", "#"), "b = a", "c = b"])
    nb.cells[0].metadata["tags"] = ["parameters"]
    return nb


def test_from_failed_reruns_from_the_first_cell_not_done_with_the_parameters():
    ids = ["c0", "c1", "c3", "c4"]
    assert from_failed(notebook(), ids, {"c0", "c1"}) == ["c0", "c3", "c4"]
    assert from_failed(notebook(), ids, {"c0", "c3"}) == ["c0", "c1", "c3", "c4"]
    assert from_failed(notebook(), ids, set(ids)) == []  # nothing left, not even parameters
    nb = notebook()
    del nb.cells[4]  # a cell deleted since is not brought back
    assert from_failed(nb, ids, {"c0", "c1"}) == ["c0", "c3"]


def test_from_start_reruns_the_first_attempts_cells():
    first = RunRecord(path="nb.ipynb", cells=[CellRecord(id=c) for c in ("c3", "c1")])
    assert from_start(notebook(), first, None) == ["c1", "c3"]
    assert from_start(notebook(), first, "c0") == ["c0", "c1", "c3"]


def test_a_new_selection_includes_the_injected_parameters():
    assert new_selection(notebook(), None, None) == ["c0", "c1", "c3", "c4"]
    assert new_selection(notebook(), ["c4"], "c0") == ["c0", "c4"]
