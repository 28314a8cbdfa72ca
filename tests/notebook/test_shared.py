"""apply_cells: a run's cells into a shared notebook, as small incremental changes."""

from __future__ import annotations

from typing import Any

from conftest import make_notebook
from jupyter_ydoc import YNotebook
from pycrdt import Doc

from jupyter_lapd.notebook.cellmerge import CellState, NotebookMeta
from jupyter_lapd.notebook.collabroom import apply_cells


def shared(cells: list[Any]) -> YNotebook:
    doc = YNotebook()
    doc.set(make_notebook(cells))
    return doc


def stream(text: str, name: str = "stdout") -> dict[str, Any]:
    return {"output_type": "stream", "name": name, "text": text}


def state(*outputs: dict[str, Any], count: int | None = None, running: bool = False) -> Any:
    execution = {} if running else {"shell.execute_reply": "2026-11-27T00:00:01Z"}
    return CellState(list(outputs), count, execution, running=running)


def test_a_growing_stream_is_appended_to_the_same_shared_text() -> None:
    doc = shared(["print('x')", ("markdown", "text")])
    apply_cells(doc, {"c0": state(stream("a\n"), running=True)})
    ycell = doc.ycells[0]
    text = ycell["outputs"][0]["text"]
    assert ycell["execution_state"] == "running"

    updates: list[bytes] = []
    subscription = doc.ydoc.observe(lambda event: updates.append(event.update))
    apply_cells(doc, {"c0": state(stream("a\nb\n"), running=True)})
    doc.ydoc.unobserve(subscription)

    assert str(text) == "a\nb\n"  # the same shared text grew: collaborators get an append
    assert len(updates) == 1 and len(updates[0]) < 100


def test_outputs_count_timing_and_state_land_and_unchanged_cells_send_nothing() -> None:
    doc = shared(["1 + 1", "print('y')"])
    result = {
        "output_type": "execute_result",
        "data": {"text/plain": "2"},
        "metadata": {},
        "execution_count": 3,
    }
    cells = {"c0": state(result, count=3), "c1": state(stream("y\n"), count=4)}
    missing, present = apply_cells(doc, cells)
    assert missing == set() and present == {"c0", "c1"}
    cell = doc.get_cell(0)
    assert cell["outputs"] == [result]
    assert cell["execution_count"] == 3
    assert cell["metadata"]["execution"] == {"shell.execute_reply": "2026-11-27T00:00:01Z"}
    assert doc.ycells[0]["execution_state"] == "idle"

    updates: list[bytes] = []
    subscription = doc.ydoc.observe(lambda event: updates.append(event.update))
    apply_cells(doc, cells)
    doc.ydoc.unobserve(subscription)
    assert updates == []  # nothing changed, nothing sent


def test_replaced_outputs_and_deleted_cells() -> None:
    doc = shared(["x", "y"])
    apply_cells(doc, {"c0": state(stream("old\n"), stream("err\n", "stderr"))})
    # a clear_output: the run now holds something else entirely
    apply_cells(doc, {"c0": state(stream("new\n"))})
    assert doc.get_cell(0)["outputs"] == [stream("new\n")]
    # a collaborator deleted the second cell
    doc.ycells.pop(1)
    missing, present = apply_cells(doc, {"c0": state(), "c1": state(stream("z\n"))})
    assert missing == {"c1"} and present == {"c0"}
    assert doc.get_cell(0)["outputs"] == []


def test_a_client_sees_exactly_the_run_outputs() -> None:
    server = shared(["for i in range(3): print(i)"])
    apply_cells(server, {"c0": state(stream("0\n"), running=True)})
    apply_cells(server, {"c0": state(stream("0\n1\n"), running=True)})
    apply_cells(server, {"c0": state(stream("0\n1\n2\n"), count=1)})
    client = YNotebook(Doc())
    client.ydoc.apply_update(server.ydoc.get_update())
    assert client.get_cell(0)["outputs"] == [stream("0\n1\n2\n")]
    assert client.get_cell(0)["execution_count"] == 1


def test_the_runs_notebook_metadata_lands_and_the_users_stays() -> None:
    doc = shared(["1"])
    language = {"name": "python", "version": "3.11"}
    meta = NotebookMeta({"language_info": language}, {"kernelspec": {"name": "other"}}, 1)
    apply_cells(doc, {}, meta)
    metadata = doc.get()["metadata"]
    assert metadata["language_info"] == language
    assert metadata["kernelspec"]["name"] == "python3"  # the notebook had one: kept

    updates: list[bytes] = []
    subscription = doc.ydoc.observe(lambda event: updates.append(event.update))
    apply_cells(doc, {}, meta)
    doc.ydoc.unobserve(subscription)
    assert updates == []  # nothing changed, nothing sent
