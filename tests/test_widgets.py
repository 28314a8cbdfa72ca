"""ipywidgets in a run: saved as nbclient saves them (the state of every widget in
``metadata.widgets``, what a cell prints inside an ``Output`` widget in that widget)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import make_notebook, read_nb, run_with_nbclient
from test_headless import CLI, env_for

STATE = "application/vnd.jupyter.widget-state+json"
CELLS = [
    "import ipywidgets as widgets\nout = widgets.Output()\nout",
    "with out:\n    print('inside')\n    display(widgets.HTML('<b>html</b>'))\nprint('outside')",
    "with out:\n    print('nested')\n    with widgets.Output():\n        print('deeper')",
    "out.clear_output()\nwith out:\n    print('after clear')\nw = widgets.IntSlider(value=3)\nw",
    "out.clear_output(wait=True)\nwith out:\n    print('waited')\nw.value = 7",
]


HEX_ID = re.compile(r"[0-9a-f]{32}")


def canonical(nb: Any) -> dict[str, Any]:
    """The cells' outputs and the widgets' state, with the random model ids (they differ
    from run to run of any tool) named by where they are first referred to: the outputs in
    order, then the models those refer to, then any others by their content."""
    outputs = json.dumps([cell.get("outputs", []) for cell in nb["cells"]], sort_keys=True)
    widgets = nb["metadata"].get("widgets", {}).get(STATE, {})
    states = {
        key: json.dumps(model, sort_keys=True) for key, model in widgets.get("state", {}).items()
    }
    order: list[str] = []

    def visit(pending: list[str]) -> None:
        while pending:
            model_id = pending.pop(0)
            if model_id not in order:
                order.append(model_id)
                pending += HEX_ID.findall(states.get(model_id, ""))

    visit(HEX_ID.findall(outputs))
    while len(order) < len(states):  # models no output shows: from the ones none refers to
        left = [key for key in states if key not in order]
        referred = {ref for key in left for ref in HEX_ID.findall(states[key]) if ref != key}
        roots = [key for key in left if key not in referred] or left
        visit([min(roots, key=lambda key: HEX_ID.sub("?", states[key]))])
    names = {model_id: f"model{i}" for i, model_id in enumerate(order)}

    def named(text: str) -> Any:
        return json.loads(HEX_ID.sub(lambda m: names.get(m[0], m[0]), text))

    return {
        "outputs": named(outputs),
        "widgets": {names[key]: named(text) for key, text in states.items()},
        "meta": {k: v for k, v in widgets.items() if k != "state"},
    }


async def test_widgets_are_saved_as_nbclient_saves_them(jp_root_dir, lapd_start, lapd_wait):
    nb = make_notebook(CELLS)
    path = jp_root_dir / "widgets.ipynb"
    nbformat.write(nb, path)
    reference = run_with_nbclient(nb, jp_root_dir)
    run = await lapd_start("widgets.ipynb")
    assert (await lapd_wait(run["id"]))["status"] == "completed"
    saved = read_nb(path)
    assert canonical(saved) == canonical(reference)
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


def headless(folder: Path, tmp_path: Path, *args: str) -> None:
    done = subprocess.run(
        [*CLI, "nb.ipynb", "--headless", *args],
        cwd=folder, env=env_for(tmp_path), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("store", [True, False])
def test_a_headless_run_saves_widget_state_unless_told_not_to(tmp_path, store):
    folder = tmp_path / "work"
    folder.mkdir()
    nbformat.write(make_notebook(CELLS), folder / "nb.ipynb")
    headless(folder, tmp_path, *([] if store else ["--Lapd.store_widget_state=False"]))
    saved = read_nb(folder / "nb.ipynb")
    assert [o.get("text") for o in saved.cells[1].outputs] == ["outside\n"]
    if store:
        assert saved.metadata.widgets[STATE]["version_major"] == 2
        assert len(saved.metadata.widgets[STATE]["state"]) > 3
    else:
        assert "widgets" not in saved.metadata
