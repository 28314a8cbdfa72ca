"""Which cells a resumed headless attempt reruns (runs themselves: test_headless.py)."""

from __future__ import annotations

from conftest import make_notebook

from jupyter_lapd.models import CellRecord, RunRecord
from jupyter_lapd.run.cellnames import defined, defining_cells, used
from jupyter_lapd.run.resume import from_failed, from_start, new_selection, setup_hint


def notebook():
    nb = make_notebook(["alpha = 1", "a = alpha", ("markdown", "#"), "b = a", "c = b"])
    nb.cells[0].metadata["tags"] = ["parameters"]
    return nb


def test_from_failed_reruns_from_the_first_cell_not_done_with_the_parameters():
    ids = ["c0", "c1", "c3", "c4"]
    plan = from_failed(notebook(), ids, {"c0", "c1"})
    assert (plan.cells, plan.setup, plan.resumes_at) == (["c0", "c3", "c4"], ["c0"], "c3")
    plan = from_failed(notebook(), ids, {"c0", "c3"})
    assert (plan.cells, plan.setup) == (["c0", "c1", "c3", "c4"], ["c0"])
    plan = from_failed(notebook(), ids, set(ids))  # nothing left, not even parameters
    assert (plan.cells, plan.setup, plan.resumes_at) == ([], [], None)
    nb = notebook()
    del nb.cells[4]  # a cell deleted since is not brought back
    assert from_failed(nb, ids, {"c0", "c1"}).cells == ["c0", "c3"]


def test_from_failed_reruns_the_setup_cells_before_the_first_not_done():
    nb = notebook()
    nb.cells[0].metadata["tags"] = []
    nb.cells[1].metadata["tags"] = ["setup", "other"]
    ids = ["c0", "c1", "c3", "c4"]
    plan = from_failed(nb, ids, {"c0", "c1", "c3"})
    assert (plan.cells, plan.setup) == (["c1", "c4"], ["c1"])
    plan = from_failed(nb, ids, {"c0", "c1", "c3"}, setup=["c0"])  # --setup-cells
    assert (plan.cells, plan.setup) == (["c0", "c1", "c4"], ["c0", "c1"])
    # a setup cell after the first unfinished one runs in its place, not as setup
    plan = from_failed(nb, ids, {"c0"})
    assert (plan.cells, plan.setup) == (["c1", "c3", "c4"], [])
    plan = from_failed(nb, ids, {"c0"}, setup=["c4"])
    assert (plan.cells, plan.setup) == (["c1", "c3", "c4"], [])


def test_names_a_cell_defines_and_uses():
    source = (
        "import numpy as np\nimport os.path\nfrom a import b as c\nx, (y, z) = 1, (2, 3)\n"
        "def f(arg):\n    local = arg\nclass K:\n    attr = 1\nfor i in range(3):\n"
        "    total = i\nwith open('f') as fh:\n    pass\n[k for k in y]\n%matplotlib inline"
    )
    assert defined(source) == {"np", "os", "c", "x", "y", "z", "f", "K", "i", "total", "fh"}
    assert used("print(np.pi, model)\nfor j in j_list: j\n!ls") == {"np", "model", "j", "j_list"}
    assert defined("x = = 1") == used("print(x") == set()  # not Python


def test_the_hint_names_the_finished_cells_that_define_what_resumed_cells_use():
    nb = make_notebook(
        ["import math\ndata = [1]", "model = 2", "model = len(data)", "print(model, math.pi)"]
    )
    assert defining_cells(nb, ["c0", "c1", "c2"], ["c3"]) == ["c0", "c1", "c2"]
    # a resumed cell that defines the name again before it is read takes it from itself
    assert defining_cells(nb, ["c0", "c1"], ["c2", "c3"]) == ["c0"]
    plan = from_failed(nb, ["c0", "c1", "c2", "c3"], {"c0", "c1"})
    hint = setup_hint(nb, plan, "--setup-cells")
    assert hint == (
        "resuming at cell c2 with no setup cells, but cells c0 define names the resumed "
        "cells use: tag them 'setup' or pass --setup-cells c0"
    )
    nb.cells[0].metadata["tags"] = ["setup"]
    assert setup_hint(nb, from_failed(nb, ["c0", "c1", "c2", "c3"], {"c0", "c1"})) is None


def test_from_start_reruns_the_first_attempts_cells():
    first = RunRecord(path="nb.ipynb", cells=[CellRecord(id=c) for c in ("c3", "c1")])
    assert from_start(notebook(), first, None) == ["c1", "c3"]
    assert from_start(notebook(), first, "c0") == ["c0", "c1", "c3"]


def test_a_new_selection_includes_the_injected_parameters():
    assert new_selection(notebook(), None, None) == ["c0", "c1", "c3", "c4"]
    assert new_selection(notebook(), ["c4"], "c0") == ["c0", "c4"]
