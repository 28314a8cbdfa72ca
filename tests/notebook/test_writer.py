"""The notebook on disk during a run: valid at every read, merged with the user's edits."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nbformat
import pytest
from conftest import make_notebook, read_nb, wait_until

from jupyter_lapd.models import parse_time
from jupyter_lapd.notebook.cellmerge import (
    CellState,
    FileImage,
    WriteResult,
    merge_cells,
    serialize,
    write_cells,
)
from jupyter_lapd.notebook.writer import NotebookWriter
from jupyter_lapd.run.iopub import sent_at

SLOW_PRINTS = (
    "import time\nfor i in range(30):\n    print(f'line {i}', flush=True)\n    time.sleep(0.1)"
)


async def save_as_jupyterlab_does(jp_fetch, content: dict) -> None:
    """A save through the contents API, the way JupyterLab writes a notebook."""
    body = json.dumps({"type": "notebook", "format": "json", "content": content})
    await jp_fetch("api", "contents", "nb.ipynb", method="PUT", body=body)


async def test_file_is_valid_and_grows_while_a_cell_runs(lapd_notebook, lapd_start, lapd_wait):
    path = lapd_notebook([SLOW_PRINTS, "print('end')"])
    run = await lapd_start("nb.ipynb")
    seen: list[int] = []

    def partial_lines() -> bool:
        nb = read_nb(path)  # raises if the file is ever truncated or invalid
        outputs = nb.cells[0].outputs
        text = outputs[0]["text"] if outputs else ""
        seen.append(text.count("\n"))
        return 0 < seen[-1] < 30

    await wait_until(partial_lines, timeout=60)
    run = await lapd_wait(run["id"])
    assert run["status"] == "completed"
    nb = read_nb(path)
    assert nb.cells[0].outputs[0]["text"] == "".join(f"line {i}\n" for i in range(30))
    assert len(nb.cells[0].outputs) == 1  # one merged stream, as Jupyter saves it
    assert seen == sorted(seen)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".~lapd-")]


async def test_user_edits_during_a_run_survive(jp_fetch, lapd_notebook, lapd_start, lapd_wait):
    path = lapd_notebook([SLOW_PRINTS, "print('two')", "print('three')", ("markdown", "# notes")])
    run = await lapd_start("nb.ipynb", cells=["c0", "c1"])
    await wait_until(lambda: bool(read_nb(path).cells[0].outputs), timeout=60)
    # a save through the contents API, as JupyterLab does: edit c2, add a cell, edit markdown
    model = json.loads((await jp_fetch("api", "contents", "nb.ipynb")).body)
    content = model["content"]
    content["cells"][2]["source"] = "print('edited by the user')"
    content["cells"][3]["source"] = "# notes, edited"
    added = nbformat.v4.new_markdown_cell("added meanwhile")
    added["id"] = "new1"
    content["cells"].append(added)
    await save_as_jupyterlab_does(jp_fetch, content)
    run = await lapd_wait(run["id"])
    assert run["status"] == "completed"
    nb = read_nb(path)
    assert [c["id"] for c in nb.cells] == ["c0", "c1", "c2", "c3", "new1"]
    assert nb.cells[2].source == "print('edited by the user')"
    assert nb.cells[3].source == "# notes, edited"
    assert nb.cells[0].outputs[0]["text"].count("\n") == 30
    assert nb.cells[1].outputs[0]["text"] == "two\n"


async def test_a_deleted_cell_is_skipped_not_resurrected(
    jp_fetch, lapd_notebook, lapd_start, lapd_wait
):
    path = lapd_notebook([SLOW_PRINTS, "print('deleted')", "print('kept')"])
    run = await lapd_start("nb.ipynb")
    await wait_until(lambda: bool(read_nb(path).cells[0].outputs), timeout=60)
    model = json.loads((await jp_fetch("api", "contents", "nb.ipynb")).body)
    content = model["content"]
    del content["cells"][1]
    await save_as_jupyterlab_does(jp_fetch, content)
    run = await lapd_wait(run["id"])
    assert run["status"] == "completed"
    assert [c["status"] for c in run["cells"]] == ["done", "skipped", "done"]
    nb = read_nb(path)
    assert [c["id"] for c in nb.cells] == ["c0", "c2"]
    assert nb.cells[1].outputs[0]["text"] == "kept\n"


async def test_many_short_cells_cost_few_writes(lapd_app, lapd_notebook, lapd_start, lapd_wait):
    path = lapd_notebook([f"x = {i}" for i in range(200)])
    run = await lapd_wait((await lapd_start("nb.ipynb"))["id"], timeout=300)
    assert run["status"] == "completed"
    store = lapd_app.manager.store
    flushed = [e for e in store.read_events(run["id"]) if e["type"] == "flushed"]
    # a write per cell would be 200; writes coalesce, a quarter of flush_interval (0.2 s
    # here) apart at the least, however long the run took on this machine
    started, finished = parse_time(run["started"]), parse_time(run["finished"])
    assert started is not None and finished is not None
    took = (finished - started).total_seconds()
    assert 1 <= len(flushed) <= took / (0.2 / 4) + 2
    assert len(flushed) < 200
    nb = read_nb(path)
    assert all(c.execution_count for c in nb.cells)
    assert flushed[-1]["hash"] and flushed[-1]["upto"] >= max(
        e["seq"] for e in store.read_events(run["id"]) if e["type"] == "cell_end"
    )


async def test_only_the_end_of_a_cell_that_ran_a_while_is_written_at_once(
    monkeypatch, lapd_notebook, lapd_start, lapd_wait
):
    asked: list[bool] = []
    mark_dirty = NotebookWriter.mark_dirty

    def spy(self: NotebookWriter, urgent: bool = False, since: float | None = None) -> None:
        asked.append(urgent)
        mark_dirty(self, urgent, since)

    monkeypatch.setattr(NotebookWriter, "mark_dirty", spy)
    lapd_notebook(["import time\ntime.sleep(0.6)"])
    run = await lapd_wait((await lapd_start("nb.ipynb"))["id"])
    assert run["status"] == "completed"
    # the end of the cell that slept (a quarter of the 0.2 s flush_interval or more)
    # asks for a prompt write
    assert True in asked


def test_only_a_cell_that_ran_a_quarter_of_the_flush_interval_is_worth_a_write(tmp_path):
    writer = NotebookWriter(
        str(tmp_path / "nb.ipynb"), lambda: (0, {}, None), lambda *_: None, flush_interval=1.0
    )
    assert [writer.worth_writing_now(t) for t in (0.0, 0.2, 0.25, 0.6)] == [
        False,
        False,
        True,
        True,
    ]


def test_write_cells_replaces_only_owned_fields(tmp_path):
    nb = make_notebook(["print(1)", "print(2)"])
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="old\n")]
    nb.cells[0].metadata["tags"] = ["keep"]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    os.chmod(path, 0o640)
    out = {"output_type": "stream", "name": "stdout", "text": "1\n"}
    result = write_cells(str(path), {"c0": CellState([out], 7, {"iopub.status.busy": "t"})})
    written = read_nb(path)
    assert written.cells[0].outputs == [out]
    assert written.cells[0].execution_count == 7
    assert written.cells[0].metadata == {"tags": ["keep"], "execution": {"iopub.status.busy": "t"}}
    assert written.cells[1].outputs[0]["text"] == "old\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert result.missing == set()
    assert write_cells(str(path), {"gone": CellState([], None, {})}).missing == {"gone"}


def test_an_invalid_merge_leaves_the_file_untouched(tmp_path):
    path = tmp_path / "nb.ipynb"
    nbformat.write(make_notebook(["print(1)"]), path)
    before = path.read_bytes()
    bad = {"output_type": "stream", "name": "stdout"}  # no text: not valid nbformat
    with pytest.raises(nbformat.ValidationError):
        write_cells(str(path), {"c0": CellState([bad], 1, {})})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["nb.ipynb"]


@pytest.mark.rare_writes
async def test_a_save_with_stale_outputs_keeps_the_runs_outputs(
    jp_fetch, lapd_app, lapd_notebook, lapd_start, lapd_wait
):
    path = lapd_notebook(["print('from the run', flush=True)\nimport time\ntime.sleep(30)", "1"])
    run = await lapd_start("nb.ipynb")
    active = lapd_app.manager.active_run(run["id"])
    await wait_until(lambda: active.model.outputs("c0") != [])
    # a browser that never saw the run's outputs saves the notebook
    model = json.loads((await jp_fetch("api", "contents", "nb.ipynb")).body)
    content = model["content"]
    content["cells"][0]["outputs"] = []
    content["cells"][1]["source"] = "2"
    await save_as_jupyterlab_does(jp_fetch, content)
    nb = read_nb(path)
    assert nb.cells[0].outputs[0]["text"] == "from the run\n"
    assert nb.cells[1].source == "2"
    await jp_fetch("lapd", "api", "runs", run["id"], "cancel", method="POST", body="")
    await lapd_wait(run["id"])


def _state(step: int) -> CellState:
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": f"step {step} ü\nline\n" * step},
        {
            "output_type": "display_data",
            "data": {"text/plain": "a\nb", "image/svg+xml": "<svg>\n</svg>", "image/png": "AA=="},
            "metadata": {},
        },
    ]
    return CellState(outputs, step + 1, {"iopub.status.busy": f"t{step}"}, version=step)


def test_repeated_writes_equal_nbformat_and_reread_only_after_a_foreign_save(tmp_path, monkeypatch):
    """With a FileImage, a write re-serialises only changed cells and does not re-read a
    file nobody else wrote; the bytes are still exactly what nbformat would write."""
    from jupyter_lapd.notebook import cellmerge, nbfile

    reads = []
    parse = nbfile.parse_notebook
    monkeypatch.setattr(cellmerge, "parse_notebook", lambda text: reads.append(1) or parse(text))
    nb = make_notebook(["print(1)", ("markdown", "# ünïcode\nnotes"), "print(2)", "print(3)"])
    nb.metadata["orig_nbformat"] = 4  # transient: never written
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    image = cellmerge.FileImage()
    for step in range(4):
        cells = {"c0": _state(step), "c3": _state(1)}  # c3 does not change after step 0
        result = cellmerge.write_cells(str(path), cells, image)
        expected = nbformat.read(path, as_version=4)
        merge_cells(expected, cells)
        assert path.read_bytes() == serialize(expected)
        assert result.size == len(path.read_bytes()) and result.missing == set()
    assert len(reads) == 1
    edited = read_nb(path)
    edited.cells[2].source = "print('edited meanwhile')"
    nbformat.write(edited, path)
    cellmerge.write_cells(str(path), {"c0": _state(9)}, image)
    assert len(reads) == 2
    final = read_nb(path)
    assert final.cells[2].source == "print('edited meanwhile')"
    assert final.cells[0].outputs[0]["text"].startswith("step 9")


def test_an_invalid_cell_is_refused_even_when_the_file_is_not_reread(tmp_path):
    path = tmp_path / "nb.ipynb"
    nbformat.write(make_notebook(["print(1)"]), path)
    image = FileImage()
    write_cells(str(path), {"c0": _state(1)}, image)
    before = path.read_bytes()
    bad = CellState([{"output_type": "stream", "name": "stdout"}], 1, {}, version=5)
    with pytest.raises(nbformat.ValidationError):
        write_cells(str(path), {"c0": bad}, image)
    assert path.read_bytes() == before
    write_cells(str(path), {"c0": _state(2)}, image)
    assert read_nb(path).cells[0].outputs[0]["text"].startswith("step 2")


async def test_a_giant_stream_is_bounded_in_the_file_and_whole_in_the_journal(
    lapd_app, lapd_notebook, lapd_start, lapd_wait
):
    lapd_app.manager.max_output_bytes = 4096
    source = "for i in range(3000):\n    print(f'line {i:05d}')"
    path = lapd_notebook([source])
    run = await lapd_wait((await lapd_start("nb.ipynb"))["id"])
    assert run["status"] == "completed"
    text = read_nb(path).cells[0].outputs[0]["text"]  # read_nb validates
    assert text.startswith("line 00000\n") and text.endswith("line 02999\n")
    assert f"bytes elided; `jupyter lapd logs {run['id']}` prints everything" in text
    assert len(text) < 4096 + 200
    events = lapd_app.manager.store.read_events(run["id"])
    journaled = "".join(e["output"]["text"] for e in events if e["type"] == "output")
    assert journaled == "".join(f"line {i:05d}\n" for i in range(3000))


async def test_output_read_late_is_due_in_the_file_by_when_it_was_sent(tmp_path):
    def snapshot():
        return 0, {}, None

    def writer():
        w = NotebookWriter(str(tmp_path / "nb.ipynb"), snapshot, lambda *a: None)
        w._last_write = time.monotonic() - 10  # long ago: no spacing to keep
        return w

    now = time.monotonic()
    read_now, read_late = writer(), writer()
    read_now.mark_dirty()
    read_late.mark_dirty(since=now - 0.6)  # sent 0.6 s before the run read it
    assert read_now._due() - read_late._due() >= 0.5
    # the oldest change counts: a later one does not move the deadline
    read_late.mark_dirty(since=now - 0.1)
    assert read_now._due() - read_late._due() >= 0.5


async def test_writes_stay_spaced_however_old_the_output(tmp_path):
    w = NotebookWriter(str(tmp_path / "nb.ipynb"), lambda: (0, {}, None), lambda *a: None)
    w._last_write = time.monotonic()  # writes that cost 0.1 s each, the last just ended
    w._costs.extend([0.1, 0.1])
    w.mark_dirty(since=time.monotonic() - 3600)  # a kernel whose clock is an hour behind
    assert w._due() >= w._last_write + 0.8 * w.cost_factor * 0.1


def test_a_message_is_dated_by_its_header_on_the_monotonic_clock():
    before = time.monotonic()
    sent = sent_at({"header": {"date": datetime.now(timezone.utc) - timedelta(seconds=2)}})
    assert sent is not None and before - 3 <= sent <= time.monotonic() - 2
    before = time.monotonic()
    ahead = sent_at({"header": {"date": datetime.now(timezone.utc) + timedelta(seconds=30)}})
    assert ahead is not None and before <= ahead <= time.monotonic()
    assert sent_at({"header": {"date": "2026-01-01T00:00:00Z"}}) is None
    assert sent_at({"header": {"date": datetime.now()}}) is None  # no time zone: unknown


async def test_the_interval_follows_what_a_write_costs_not_how_long_it_waited(tmp_path):
    class SlowToLand:
        """A write that took 0.5 s, nearly all of it waiting for a CPU (a busy machine)."""

        interval, key = 1.0, None

        async def write(self, cells: dict, meta: object = None) -> WriteResult:
            return WriteResult("", "", set(), set(), seconds=0.5, size=1, cost=0.01)

    async def route() -> SlowToLand:
        return SlowToLand()

    w = NotebookWriter(
        str(tmp_path / "nb.ipynb"), lambda: (0, {}, None), lambda *a: None, route=route
    )
    assert await w.write_now() is not None
    assert w.interval == 1.0  # not 20 x 0.5 s
    w.mark_dirty()
    # started early enough to land in time: by how long the last one took
    assert w._due() <= time.monotonic() + 0.9 * w.interval - 0.5 + 0.01


async def test_one_costly_write_does_not_stretch_the_interval_two_in_a_row_do(tmp_path):
    costs = iter([0.2, 0.01, 0.2, 0.2])

    class Costing:
        """A destination whose writes cost what ``costs`` says (the first writes every cell;
        an fsync may wait for another file's data)."""

        interval, key = 1.0, None

        async def write(self, cells: dict, meta: object = None) -> WriteResult:
            return WriteResult("", "", set(), set(), seconds=0.01, size=1, cost=next(costs))

    async def route() -> Costing:
        return Costing()

    w = NotebookWriter(
        str(tmp_path / "nb.ipynb"), lambda: (0, {}, None), lambda *a: None, route=route
    )
    intervals = []
    for _ in range(4):
        assert await w.write_now() is not None
        intervals.append(w.interval)
    assert intervals == [1.0, 1.0, 1.0, w.cost_factor * 0.2]


def test_a_writes_cost_leaves_out_its_waits_for_the_gil(tmp_path):
    path = tmp_path / "nb.ipynb"
    nbformat.write(make_notebook([f"x = {i}" for i in range(300)]), path)
    cells = {f"c{i}": CellState([{"output_type": "stream", "name": "stdout", "text": "y\n" * 50}],
                                i + 1, {}) for i in range(300)}  # fmt: skip
    spinning = True

    def spin() -> None:  # Python code that wants the GIL the whole time
        n = 0
        while spinning:
            n += 1

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        result = write_cells(str(path), cells)
    finally:
        spinning = False
        thread.join()
    assert result.cost is not None and 0 < result.cost < result.seconds
    assert read_nb(path).cells[0].outputs[0]["text"] == "y\n" * 50


def save_as_jupyter_server_does(path: Path, nb: nbformat.NotebookNode) -> None:
    """A save through Jupyter Server's contents manager: its atomic_writing (a temp file
    renamed over the notebook)."""
    from jupyter_server.services.contents.fileio import atomic_writing

    with atomic_writing(str(path), text=True, encoding="utf-8") as f:
        nbformat.write(nb, f)


@pytest.mark.parametrize("saves", [1, 2])
def test_a_save_landing_while_the_run_writes_is_merged_never_overwritten(
    tmp_path, monkeypatch, saves
):
    """The run read the file, and while its new file is synced to disk, before it takes
    the path, the user saves (once, or twice in a row): each save is kept in the file."""
    from jupyter_lapd.notebook import nbfile

    path = tmp_path / "nb.ipynb"
    nbformat.write(make_notebook(["print(1)", "x = 1"]), path)
    fsync = os.fsync
    edits = iter(range(1, saves + 1))

    def user_saves_meanwhile(fd: int) -> None:
        fsync(fd)
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".ipynb.tmp"):
            n = next(edits, None)
            if n is not None:  # the user's edit, with the outputs their page had
                mine = read_nb(path)
                mine.cells[1].source = f"x = {n + 1}"
                save_as_jupyter_server_does(path, mine)

    monkeypatch.setattr(nbfile.os, "fsync", user_saves_meanwhile)
    result = write_cells(str(path), {"c0": _state(3)})
    monkeypatch.undo()
    final = read_nb(path)
    assert final.cells[1].source == f"x = {saves + 1}"
    assert final.cells[0].outputs[0]["text"].startswith("step 3")
    assert result.hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb.ipynb"]


def test_a_save_the_run_cannot_merge_is_kept_beside_the_notebook(tmp_path, monkeypatch):
    """Saves landing during each of the run's tries, again and again: the last one is kept
    as a file of its own beside the notebook (and logged), never lost."""
    from jupyter_lapd.notebook import cellmerge, nbfile

    path = tmp_path / "nb.ipynb"
    nbformat.write(make_notebook(["print(1)", "x = 1"]), path)
    fsync, saves = os.fsync, [0]

    def user_saves_meanwhile(fd: int) -> None:
        fsync(fd)
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".ipynb.tmp"):
            saves[0] += 1
            mine = read_nb(path)
            mine.cells[1].source = f"x = {saves[0] + 1}"
            save_as_jupyter_server_does(path, mine)

    monkeypatch.setattr(nbfile.os, "fsync", user_saves_meanwhile)
    write_cells(str(path), {"c0": _state(3)})
    monkeypatch.undo()
    assert saves[0] == cellmerge.MERGE_ROUNDS
    (kept,) = tmp_path.glob("nb.unmerged-*.ipynb")
    assert read_nb(kept).cells[1].source == f"x = {saves[0] + 1}"
    final = read_nb(path)
    assert final.cells[1].source == f"x = {saves[0]}"
    assert final.cells[0].outputs[0]["text"].startswith("step 3")
