"""ipywidgets in a run: saved as nbclient saves them (the state of every widget in
``metadata.widgets``, what a cell prints inside an ``Output`` widget in that widget)."""

from __future__ import annotations

import nbformat
import pytest
from conftest import make_notebook, read_nb, run_with_nbclient
from test_conformance import normalised

STATE = "application/vnd.jupyter.widget-state+json"
CELLS = [
    "import ipywidgets as widgets\nout = widgets.Output()\nout",
    "with out:\n    print('inside')\n    display(widgets.HTML('<b>html</b>'))\nprint('outside')",
    "with out:\n    print('nested')\n    with widgets.Output():\n        print('deeper')",
    "out.clear_output()\nwith out:\n    print('after clear')\nw = widgets.IntSlider(value=3)\nw",
    "out.clear_output(wait=True)\nwith out:\n    print('waited')\nw.value = 7",
]


async def test_widgets_are_saved_as_nbclient_saves_them(jp_root_dir, lapd_start, lapd_wait):
    nb = make_notebook(CELLS)
    path = jp_root_dir / "widgets.ipynb"
    nbformat.write(nb, path)
    reference = run_with_nbclient(nb, jp_root_dir)
    run = await lapd_start("widgets.ipynb")
    assert (await lapd_wait(run["id"]))["status"] == "completed"
    saved = read_nb(path)
    # the whole file, widget model ids named by where they are shown (as the suite does)
    assert normalised(saved, nb) == normalised(reference, nb)
    # what that means: the prints inside `with out:` are in the widget, not the cell
    assert [o.get("text") for o in saved.cells[1].outputs] == ["outside\n"]
    outputs = [
        model["state"]["outputs"]
        for model in saved.metadata.widgets[STATE]["state"].values()
        if model["model_name"] == "OutputModel" and model["state"]["outputs"]
    ]
    texts = sorted(o["text"] for shown in outputs for o in shown)
    assert texts == ["deeper\n", "waited\n"]  # the inner widget's, and the last of `out`'s
    sliders = [m for m in saved.metadata.widgets[STATE]["state"].values()
               if m["model_name"] == "IntSliderModel"]  # fmt: skip
    assert [m["state"]["value"] for m in sliders] == [7]


@pytest.mark.parametrize("store", [True, False])
def test_a_headless_run_saves_widget_state_unless_told_not_to(lapd_headless, store):
    lapd_headless.notebook(CELLS)
    done = lapd_headless(
        "nb.ipynb", "--headless", *([] if store else ["--Lapd.store_widget_state=False"])
    )
    assert done.returncode == 0, done.stderr
    saved = read_nb(lapd_headless.folder / "nb.ipynb")
    assert [o.get("text") for o in saved.cells[1].outputs] == ["outside\n"]
    if store:
        assert saved.metadata.widgets[STATE]["version_major"] == 2
        assert len(saved.metadata.widgets[STATE]["state"]) > 3
    else:
        assert "widgets" not in saved.metadata
