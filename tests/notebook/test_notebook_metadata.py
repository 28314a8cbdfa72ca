"""The notebook's own metadata after a run: what nbclient and JupyterLab write, and the
user's keys left alone (``language_info`` from the kernel, ``kernelspec`` where none)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import held_until, make_notebook, read_nb, run_with_nbclient, wait_until

from jupyter_lapd.notebook.cellmerge import CellState, NotebookMeta, write_cells

LANGUAGE_INFO = {"name": "python", "version": "3", "mimetype": "text/x-python"}


def nbclient_metadata(nb: nbformat.NotebookNode, folder: Path) -> dict[str, Any]:
    """The notebook metadata plain nbclient leaves after running ``nb``."""
    return dict(run_with_nbclient(nb, folder).metadata)


def without_kernelspec(cells: list[str]) -> nbformat.NotebookNode:
    nb = make_notebook(cells)
    del nb.metadata["kernelspec"]
    return nb


async def test_a_run_stores_the_kernels_language_info_as_nbclient_does(
    jp_root_dir, lapd_start, lapd_wait
):
    nb = make_notebook(["6 * 7"])
    nb.metadata["user_key"] = {"kept": True}
    path = jp_root_dir / "nb.ipynb"
    nbformat.write(nb, path)
    reference = await asyncio.to_thread(nbclient_metadata, nb, jp_root_dir)
    run = await lapd_start("nb.ipynb")
    assert (await lapd_wait(run["id"]))["status"] == "completed"
    saved = read_nb(path).metadata
    assert saved["language_info"] == reference["language_info"]
    assert saved["language_info"]["name"] == "python"
    # the user's own keys and kernel choice stay as they were
    assert saved["user_key"] == {"kept": True}
    assert saved["kernelspec"] == nb.metadata["kernelspec"]


async def test_a_notebook_without_kernelspec_gets_the_one_it_ran_on(
    jp_root_dir, jp_serverapp, lapd_start, lapd_wait
):
    path = jp_root_dir / "nb.ipynb"
    nbformat.write(without_kernelspec(["1"]), path)
    run = await lapd_start("nb.ipynb")
    assert (await lapd_wait(run["id"]))["status"] == "completed"
    spec = jp_serverapp.kernel_spec_manager.get_kernel_spec("python3")
    saved = read_nb(path).metadata
    assert saved["kernelspec"] == {
        "name": "python3",
        "display_name": spec.display_name,
        "language": "python",
    }
    assert "language_info" in saved


@pytest.mark.rare_writes
async def test_a_save_from_a_page_keeps_the_runs_notebook_metadata(
    tmp_path, jp_fetch, jp_root_dir, lapd_app, lapd_start, lapd_wait
):
    flag = tmp_path / "go"
    path = jp_root_dir / "nb.ipynb"
    nbformat.write(without_kernelspec([held_until(flag)]), path)
    run = await lapd_start("nb.ipynb")
    active = lapd_app.manager.active_run(run["id"])
    await wait_until(lambda: active.model.notebook_metadata()[0] != {})
    # a page that holds none of it (it never had a kernel) saves the notebook
    model = json.loads((await jp_fetch("api", "contents", "nb.ipynb")).body)
    content = model["content"]
    content["metadata"] = {"user_key": 1}
    body = json.dumps({"type": "notebook", "format": "json", "content": content})
    await jp_fetch("api", "contents", "nb.ipynb", method="PUT", body=body)
    saved = read_nb(path).metadata
    assert saved["user_key"] == 1
    assert saved["language_info"]["name"] == "python"
    assert saved["kernelspec"]["name"] == "python3"
    flag.touch()
    assert (await lapd_wait(run["id"]))["status"] == "completed"


def test_the_runs_metadata_is_merged_into_the_files(tmp_path):
    path = tmp_path / "nb.ipynb"
    nb = make_notebook(["1"])
    nb.metadata["language_info"] = {"name": "old"}
    nb.metadata["mine"] = [1, 2]
    nbformat.write(nb, path)
    meta = NotebookMeta(
        {"language_info": LANGUAGE_INFO}, {"kernelspec": {"name": "x", "display_name": "X"}}, 1
    )
    cells = {"c0": CellState([], 1, {})}
    write_cells(str(path), cells, meta=meta)
    saved = read_nb(path).metadata
    assert saved["language_info"] == LANGUAGE_INFO  # the kernel's, replacing the old
    assert saved["kernelspec"] == nb.metadata["kernelspec"]  # present: the user's choice
    assert saved["mine"] == [1, 2]
    # a file without kernelspec gets the run's
    del nb.metadata["kernelspec"]
    nbformat.write(nb, path)
    write_cells(str(path), cells, meta=meta)
    assert read_nb(path).metadata["kernelspec"] == {"name": "x", "display_name": "X"}


def test_a_headless_run_stores_language_info_and_kernelspec(lapd_headless):
    path = lapd_headless.folder / "nb.ipynb"
    nbformat.write(without_kernelspec(["print('Hello, world!')\n6 * 7"]), path)
    done = lapd_headless("nb.ipynb", "--headless")
    assert done.returncode == 0, done.stderr
    saved = read_nb(path)
    assert saved.metadata["language_info"]["name"] == "python"
    assert saved.metadata["kernelspec"]["name"] == "python3"
    # the commonest cell there is: its output and nothing else
    assert [o.output_type for o in saved.cells[0].outputs] == ["stream", "execute_result"]
