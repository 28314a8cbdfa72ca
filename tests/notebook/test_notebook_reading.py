"""How a run reads the user's notebook: as leniently as JupyterLab and nbclient do (a
schema flaw is no reason to refuse), cells without ids given ids once, on disk, and a run
whose cells the file no longer holds saying so instead of dropping their outputs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import nbformat
from conftest import held_until, make_notebook, read_nb


def without_ids(path: Path, cells: list[str], minor: int = 5) -> None:
    """A notebook that says nbformat 4.``minor`` and has no cell ids (older tools bump the
    version without adding them), written as such a tool writes it."""
    nb = {
        "cells": [
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
             "source": source}
            for source in cells
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": minor,
    }  # fmt: skip
    path.write_text(json.dumps(nb), encoding="utf-8")


def ids_on_disk(path: Path) -> list[str | None]:
    return [cell.get("id") for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]]


async def test_a_45_notebook_without_ids_gets_its_outputs_under_ids_written_once(
    jp_root_dir, lapd_start, lapd_wait
):
    path = jp_root_dir / "old.ipynb"
    without_ids(path, ["print('a')", "6 * 7", "print('c')"])
    run = await lapd_start("old.ipynb")
    run = await lapd_wait(run["id"])
    assert run["status"] == "completed"
    ids = ids_on_disk(path)
    assert None not in ids and ids == [cell["id"] for cell in run["cells"]]
    nb = read_nb(path)
    assert nb.cells[0].outputs[0].text == "a\n"
    assert nb.cells[1].outputs[0].data == {"text/plain": "42"}
    assert [c.execution_count for c in nb.cells] == [1, 2, 3]


def test_a_headless_run_of_a_45_notebook_without_ids_writes_its_outputs(lapd_headless):
    path = lapd_headless.folder / "nb.ipynb"
    without_ids(path, ["print('a')", "6 * 7", "print('c')"])
    done = lapd_headless("nb.ipynb", "--headless")
    assert done.returncode == 0, done.stderr
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no MissingIDFieldWarning: the ids are on disk
        nb = read_nb(path)
    assert None not in ids_on_disk(path)
    assert [c.execution_count for c in nb.cells] == [1, 2, 3]
    assert [o.get("text") for c in nb.cells for o in c.outputs] == ["a\n", None, "c\n"]


async def test_a_run_whose_cells_the_file_no_longer_holds_fails_saying_so(
    tmp_path, jp_root_dir, lapd_notebook, lapd_start, lapd_wait, lapd_app
):
    flag = tmp_path / "go"
    path = lapd_notebook(["print('kept in the journal', flush=True)\n" + held_until(flag), "1"])
    run = await lapd_start("nb.ipynb")
    await lapd_wait(run["id"], cell=("c0", "running"))
    # another tool rewrites the notebook with ids of its own
    renamed = make_notebook(["print('kept in the journal')", "1"])
    for cell in renamed.cells:
        cell["id"] = "other-" + cell["id"]
    nbformat.write(renamed, path)
    flag.touch()
    run = await lapd_wait(run["id"])
    assert run["status"] == "failed"
    assert "none of the run's cells is in nb.ipynb any more" in run["error"]
    assert f"jupyter lapd logs {run['id']}" in run["error"]
    assert read_nb(path).cells == renamed.cells  # the run added nothing where its cells are not
    journaled = [
        e["output"].get("text")
        for e in lapd_app.manager.store.read_events(run["id"])
        if e["type"] == "output"
    ]
    assert "kept in the journal\n" in journaled


def flawed(path: Path) -> None:
    """A notebook with a stored stream output that has no ``name`` (the schema wants one):
    JupyterLab opens it, nbclient runs it."""
    nb = json.loads(nbformat.writes(make_notebook(["print('fresh')", "2"])))
    nb["cells"][0]["outputs"] = [{"output_type": "stream", "text": "stale\n"}]
    nb["cells"][1]["outputs"] = [{"output_type": "stream", "text": "kept\n"}]
    path.write_text(json.dumps(nb), encoding="utf-8")


async def test_a_notebook_with_a_schema_flaw_runs_as_in_jupyterlab(
    jp_root_dir, lapd_start, lapd_wait
):
    path = jp_root_dir / "flawed.ipynb"
    flawed(path)
    run = await lapd_start("flawed.ipynb", cells=["c0"])
    assert (await lapd_wait(run["id"]))["status"] == "completed"
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["cells"][0]["outputs"] == [
        {"output_type": "stream", "name": "stdout", "text": ["fresh\n"]}
    ]
    # the flaw in the cell the run did not touch is the user's, kept as it was
    assert nb["cells"][1]["outputs"] == [{"output_type": "stream", "text": ["kept\n"]}]


def test_a_headless_run_of_a_notebook_with_a_schema_flaw_replaces_the_flawed_outputs(
    lapd_headless,
):
    flawed(lapd_headless.folder / "nb.ipynb")
    done = lapd_headless("nb.ipynb", "--headless")
    assert done.returncode == 0, done.stderr
    nb = read_nb(lapd_headless.folder / "nb.ipynb")  # valid now: every cell ran
    assert nb.cells[0].outputs[0].text == "fresh\n"
    assert nb.cells[1].outputs[0].data == {"text/plain": "2"}


def flawed_metadata(path: Path) -> None:
    """A notebook whose own metadata breaks the schema (a kernelspec without the
    display_name it must have, as some tools write it): JupyterLab opens it, nbclient runs it."""
    nb = json.loads(nbformat.writes(make_notebook(["print('ran')"])))
    nb["metadata"]["kernelspec"] = {"name": "python3"}
    path.write_text(json.dumps(nb), encoding="utf-8")


async def test_a_notebook_whose_metadata_breaks_the_schema_gets_its_outputs(
    jp_root_dir, lapd_start, lapd_wait
):
    path = jp_root_dir / "flawed.ipynb"
    flawed_metadata(path)
    run = await lapd_wait((await lapd_start("flawed.ipynb"))["id"])
    assert run["status"] == "completed", run["error"]
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["cells"][0]["outputs"][0]["text"] == ["ran\n"]
    assert nb["metadata"]["kernelspec"] == {"name": "python3"}  # the user's, as it was
    assert nb["metadata"]["language_info"]["name"] == "python"


def test_a_headless_run_of_a_notebook_whose_metadata_breaks_the_schema(lapd_headless):
    path = lapd_headless.folder / "nb.ipynb"
    flawed_metadata(path)
    done = lapd_headless("nb.ipynb", "--headless")
    assert done.returncode == 0, done.stderr
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["cells"][0]["outputs"][0]["text"] == ["ran\n"]
