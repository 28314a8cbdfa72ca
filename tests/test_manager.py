"""Run lifecycle through the REST API: a real server, real kernels, real files."""

from __future__ import annotations

from conftest import read_nb


async def test_run_all_code_cells_writes_outputs(lapd_notebook, lapd_start, lapd_wait):
    path = lapd_notebook(["x = 6 * 7", ("markdown", "# note"), "print(x)", "x"])
    run = await lapd_start("nb.ipynb")
    assert run["status"] in ("queued", "running")
    assert [c["id"] for c in run["cells"]] == ["c0", "c2", "c3"]
    run = await lapd_wait(run["id"])
    assert run["status"] == "completed", run
    assert run["cells_done"] == 3
    nb = read_nb(path)
    assert nb.cells[2].outputs[0]["text"] == "42\n"
    assert nb.cells[3].outputs[0]["data"]["text/plain"] == "42"
    counts = [nb.cells[i].execution_count for i in (0, 2, 3)]
    assert counts == sorted(counts) and None not in counts
    assert "iopub.execute_input" in nb.cells[2].metadata["execution"]
