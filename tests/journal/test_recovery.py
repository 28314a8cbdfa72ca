"""Faults: the server killed or stopped mid-run, kernels dying or restarted, files moving."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import CHECKPOINTED, make_notebook, read_nb
from server_process import ServerProcess

from jupyter_lapd.journal.recovery import interrupt_stale_run
from jupyter_lapd.journal.store import Store
from jupyter_lapd.models import CellRecord, CellStatus, RunRecord, RunStatus

PRINTER = (
    "import time\n"
    "for i in range(300):\n"
    "    print(f'{i} {time.time():.3f}', flush=True)\n"
    "    time.sleep(0.05)"
)


def printed_lines(nb: nbformat.NotebookNode, index: int = 1) -> list[tuple[int, float]]:
    streams = [o for o in nb.cells[index].outputs if o.get("name") == "stdout"]
    text = "".join(o["text"] for o in streams)
    return [(int(a), float(b)) for a, b in (line.split() for line in text.splitlines())]


def wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def cell_status(server: ServerProcess, run_id: str, cell_id: str) -> str:
    run = server.request("GET", f"lapd/api/runs/{run_id}")
    return {c["id"]: c["status"] for c in run["cells"]}[cell_id]


def kill_mid_run_and_restart(
    tmp_path: Path, seed: int, after_kill: Callable[[Path], None] | None = None, **config
) -> tuple:
    # rare file writes: what the file lacks at the kill, only the journal can bring back
    config.setdefault("flush_interval", 3)
    server = ServerProcess(tmp_path / "home", tmp_path / "root", **config)
    path = server.root / "nb.ipynb"
    nbformat.write(make_notebook(["print('setup')", PRINTER, "print('after')"]), path)
    server.start()
    try:
        run = server.request("POST", "lapd/api/runs", {"path": "nb.ipynb"})
        wait_for(lambda: cell_status(server, run["id"], "c1") == "running")
        time.sleep(random.Random(seed).uniform(0.5, 4.0))  # a random moment of the cell
        killed_at = time.time()
        server.kill9()
        on_disk = read_nb(path)  # valid nbformat right after the kill, never truncated
        if after_kill is not None:
            after_kill(path)
        server.start()
        return server, path, run, killed_at, on_disk
    except BaseException:
        server.stop()
        raise


def check_recovered(server, path, run, killed_at) -> nbformat.NotebookNode:
    # recovery runs as the server starts: it may still be at work on the first answer
    wait_for(lambda: server.request("GET", f"lapd/api/runs/{run['id']}")["status"] != "running")
    record = server.request("GET", f"lapd/api/runs/{run['id']}")
    assert record["status"] == "interrupted"
    assert "server stopped" in record["error"]
    nb = read_nb(path)
    lines = printed_lines(nb)
    assert [n for n, _ in lines] == list(range(len(lines)))  # no gap, no duplicate
    # every line the kernel printed more than a moment before the kill is in the file
    assert lines and lines[-1][1] > killed_at - 1.0, (lines[-1], killed_at)
    note = nb.cells[1].outputs[-1]
    assert note["name"] == "stderr" and "run interrupted" in note["text"]
    return nb


@pytest.mark.fault
@pytest.mark.parametrize("seed", range(2))
def test_kill9_mid_run_then_restart_restores_the_journal(tmp_path, seed):
    server, path, run, killed_at, _ = kill_mid_run_and_restart(tmp_path, seed)
    try:
        check_recovered(server, path, run, killed_at)
    finally:
        server.stop()


# Jupyter Server's own save, killed half-way: the notebook rewritten in place is cut short,
# the copy it took first (".~nb.ipynb") is whole.
CUT_SHORT_SAVE = """
import os, sys
from jupyter_server.services.contents.fileio import atomic_writing
with atomic_writing(sys.argv[1], text=True, encoding="utf-8") as f:
    f.write('{"cells": [{"cell_type": "code", "sour')
    f.flush()
    os._exit(9)
"""


@pytest.mark.fault
def test_a_save_cut_short_by_the_kill_is_undone_before_the_journal_is_merged(tmp_path):
    # saves through the contents manager (a collaborative room's, jupytext's) rewrite the
    # file in place: the kill that stops the run may land in the middle of one
    def cut_short_save(path: Path) -> None:
        proc = subprocess.run([sys.executable, "-c", CUT_SHORT_SAVE, str(path)], check=False)
        assert proc.returncode == 9 and (path.parent / ".~nb.ipynb").exists()
        with pytest.raises(Exception):  # noqa: B017 - whatever nbformat makes of half a file
            read_nb(path)

    server, path, run, killed_at, _ = kill_mid_run_and_restart(tmp_path, 0, cut_short_save)
    try:
        check_recovered(server, path, run, killed_at)
        assert (server.root / "nb.ipynb.invalid").exists()  # kept, as Jupyter Server does
        assert not (server.root / ".~nb.ipynb").exists()
    finally:
        server.stop()


# kills of `test_kill9_again_and_again_some_during_recovery`: `make torture` runs 100
KILLS = int(os.environ.get("LAPD_KILLS", "10"))


@pytest.mark.fault
def test_kill9_again_and_again_some_during_recovery(tmp_path):
    """The server is killed at random moments of a run, ``KILLS`` times, a third of them
    again while its next start recovers the run before: the file is valid right after
    every kill, and each run is recovered whole (no line missing before the last, none
    twice), interrupted, with its note."""
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    server = ServerProcess(tmp_path / "home", tmp_path / "root", flush_interval=3)
    path = server.root / "nb.ipynb"
    nbformat.write(make_notebook(["print('setup')", PRINTER, "print('after')"]), path)
    server.start()
    try:
        for kill in range(KILLS):
            run = server.request("POST", "lapd/api/runs", {"path": "nb.ipynb"})
            wait_for(lambda r=run: cell_status(server, r["id"], "c1") == "running")
            time.sleep(rng.uniform(0.5, 3.0))  # the journal takes output every 0.1 s
            server.kill9()
            read_nb(path)  # valid nbformat right after the kill, never truncated
            if rng.random() < 1 / 3:  # again, while the next start recovers
                server.start(wait_api=False)
                time.sleep(rng.uniform(0.0, 0.5))
                server.kill9()
                read_nb(path)
            server.start()
            wait_for(lambda r=run: server.request("GET", f"lapd/api/runs/{r['id']}")["status"]
                     != "running")  # fmt: skip
            record = server.request("GET", f"lapd/api/runs/{run['id']}")
            assert record["status"] == "interrupted", (seed, kill, record)
            nb = read_nb(path)
            lines = printed_lines(nb)
            assert lines and [n for n, _ in lines] == list(range(len(lines))), (seed, kill)
            assert nb.cells[1].outputs[-1]["name"] == "stderr", (seed, kill)
            assert "run interrupted" in nb.cells[1].outputs[-1]["text"], (seed, kill)
    finally:
        server.stop()


def test_rerun_on_restart_starts_a_linked_run_on_a_fresh_kernel(tmp_path):
    server, path, run, _, _ = kill_mid_run_and_restart(
        tmp_path, 0, on_server_restart="rerun", flush_interval=0.5
    )
    try:
        # recovery runs as the server starts: it may still be at work on the first answer
        def reruns() -> list[dict]:
            runs = server.request("GET", "lapd/api/runs")["runs"]
            return [r for r in runs if r["resumed_from"] == run["id"]]

        wait_for(lambda: bool(reruns()), timeout=60)
        rerun = reruns()[0]
        assert rerun["kernel_mode"] == "new"
        wait_for(
            lambda: server.request("GET", f"lapd/api/runs/{rerun['id']}")["status"] == "completed",
            timeout=120,
        )
        nb = read_nb(path)
        assert len(printed_lines(nb)) == 300
        assert nb.cells[2].outputs[0]["text"] == "after\n"
    finally:
        server.stop()


def test_rerun_from_failed_on_restart_reruns_the_setup_cells_then_the_rest(tmp_path):
    server = ServerProcess(
        tmp_path / "home", tmp_path / "root", on_server_restart="rerun_from_failed"
    )
    gated = (
        "import os, time\nprint('three', sum(data), flush=True)\n"
        "while not os.path.exists('go'):\n    time.sleep(0.1)\nprint('released')"
    )
    nb = make_notebook(["data = [1, 2, 3]", "print('one')", gated, "print(len(data))"])
    nb.cells[0].metadata["tags"] = ["setup"]
    path = server.root / "nb.ipynb"
    nbformat.write(nb, path)
    server.start()
    try:
        run = server.request("POST", "lapd/api/runs", {"path": "nb.ipynb"})

        def c1_end_journaled() -> bool:
            conn = sqlite3.connect(server.home / "runs.db", timeout=30)
            try:
                rows = conn.execute(
                    "SELECT event FROM journal WHERE run_id = ? AND type = 'cell_end'",
                    (run["id"],),
                ).fetchall()
            finally:
                conn.close()
            return any(json.loads(row[0]).get("cell_id") == "c1" for row in rows)

        wait_for(lambda: cell_status(server, run["id"], "c2") == "running")
        wait_for(c1_end_journaled)  # what a kill leaves of c1: finished
        server.kill9()
        (server.root / "go").touch()
        server.start()

        def reruns() -> list[dict]:
            runs = server.request("GET", "lapd/api/runs")["runs"]
            return [r for r in runs if r["resumed_from"] == run["id"]]

        wait_for(lambda: bool(reruns()), timeout=60)
        rerun_id = reruns()[0]["id"]
        wait_for(
            lambda: server.request("GET", f"lapd/api/runs/{rerun_id}")["status"] == "completed",
            timeout=120,
        )
        rerun = server.request("GET", f"lapd/api/runs/{rerun_id}")
        assert [c["id"] for c in rerun["cells"]] == ["c0", "c2", "c3"]
        assert rerun["setup_cells"] == ["c0"]
        nb = read_nb(path)
        assert nb.cells[1].execution_count == 2  # the first run's, kept: not run again
        assert [nb.cells[i].execution_count for i in (0, 2, 3)] == [1, 2, 3]
        assert nb.cells[2].outputs[-1]["text"].endswith("released\n")
        assert nb.cells[3].outputs[0]["text"] == "3\n"
    finally:
        server.stop()


@pytest.mark.parametrize("mode", ["interrupt", "stop"])
def test_sigterm_to_the_server_lets_the_running_cell_save_a_checkpoint(tmp_path, mode):
    config = {"on_sigterm": mode} if mode == "stop" else {}  # interrupt: the default
    server = ServerProcess(tmp_path / "home", tmp_path / "root", **config)
    path = server.root / "nb.ipynb"
    nbformat.write(make_notebook(["print('one')", CHECKPOINTED, "print('never')"]), path)
    server.start()
    try:
        run = server.request("POST", "lapd/api/runs", {"path": "nb.ipynb"})
        wait_for(lambda: cell_status(server, run["id"], "c1") == "running")
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=60)
    finally:
        server.stop()
    nb = read_nb(path)
    texts = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert ("checkpoint saved" in texts) == (mode == "interrupt"), texts
    assert "shut down" in nb.cells[1].outputs[-1]["text"]
    assert nb.cells[2].outputs == []
    server.start()
    try:
        record = server.request("GET", f"lapd/api/runs/{run['id']}")
        assert record["status"] == "interrupted" and "shut down" in record["error"]
    finally:
        server.stop()


@pytest.mark.fault
def test_sigterm_writes_outputs_and_marks_runs_interrupted(tmp_path):
    server = ServerProcess(tmp_path / "home", tmp_path / "root")
    path = server.root / "nb.ipynb"
    nbformat.write(make_notebook(["print('setup')", PRINTER, "print('after')"]), path)
    server.start()
    try:
        run = server.request("POST", "lapd/api/runs", {"path": "nb.ipynb"})
        wait_for(lambda: cell_status(server, run["id"], "c1") == "running")
        time.sleep(1)
        stopped_at = time.time()
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=60)  # bounded: the server exits on its own
    finally:
        server.stop()
    nb = read_nb(path)
    lines = printed_lines(nb)
    assert lines and lines[-1][1] > stopped_at - 1.0
    assert "shut down" in nb.cells[1].outputs[-1]["text"]
    server.start()
    try:
        record = server.request("GET", f"lapd/api/runs/{run['id']}")
        assert record["status"] == "interrupted" and "shut down" in record["error"]
    finally:
        server.stop()


@pytest.mark.fault
@pytest.mark.parametrize(
    "death",
    ["import os; os._exit(1)", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
    ids=["exit", "sigkill as the oom killer sends"],
)
async def test_kernel_death_fails_the_run_with_a_note(lapd_notebook, lapd_start, lapd_wait, death):
    path = lapd_notebook(["print('x')", death, "print('never')"])
    run = await lapd_wait((await lapd_start("nb.ipynb"))["id"])
    assert run["status"] == "failed"
    assert run["error"] == "kernel died while running cell 2"
    assert [c["status"] for c in run["cells"]] == ["done", "error", "skipped"]
    assert "the kernel died while running this cell" in read_nb(path).cells[1].outputs[-1]["text"]
    # the server stays healthy: the next run works
    lapd_notebook(["print('again')"], name="next.ipynb")
    assert (await lapd_wait((await lapd_start("next.ipynb"))["id"]))["status"] == "completed"


@pytest.mark.parametrize(("action", "status", "error"), [
    ("restart", "failed", "the kernel was restarted during the run"),
    ("interrupt", "failed", "cell 1 failed: KeyboardInterrupt"),
])  # fmt: skip
async def test_kernel_restart_or_interrupt_from_the_ui_ends_the_run(
    jp_fetch, lapd_notebook, lapd_start, lapd_wait, action, status, error
):
    lapd_notebook(["print('go', flush=True)\nimport time\ntime.sleep(60)", "print(2)"])
    run = await lapd_start("nb.ipynb")
    run = await lapd_wait(run["id"], cell=("c0", "running"))
    await asyncio.sleep(0.5)
    await jp_fetch("api", "kernels", run["kernel_id"], action, method="POST", body="")
    run = await lapd_wait(run["id"], timeout=60)
    assert (run["status"], run["error"]) == (status, error)
    assert [c["status"] for c in run["cells"]] == ["error", "skipped"]


async def test_a_renamed_notebook_is_followed(
    jp_fetch, jp_root_dir, lapd_notebook, lapd_start, lapd_wait
):
    lapd_notebook(
        ["import time\nfor i in range(30):\n    print(i, flush=True)\n    time.sleep(0.1)"]
    )
    (jp_root_dir / "moved").mkdir()
    run = await lapd_start("nb.ipynb")
    await lapd_wait(run["id"], cell=("c0", "running"))
    await jp_fetch(
        "api", "contents", "nb.ipynb", method="PATCH", body=json.dumps({"path": "moved/new.ipynb"})
    )
    run = await lapd_wait(run["id"])
    assert run["status"] == "completed" and run["path"] == "moved/new.ipynb"
    assert not (jp_root_dir / "nb.ipynb").exists()
    nb = read_nb(jp_root_dir / "moved" / "new.ipynb")
    assert nb.cells[0].outputs[0]["text"] == "".join(f"{i}\n" for i in range(30))


async def test_a_deleted_notebook_ends_the_run_cleanly(
    jp_fetch, jp_root_dir, lapd_notebook, lapd_start, lapd_wait
):
    lapd_notebook(["print('x', flush=True)\nimport time\ntime.sleep(60)", "print(2)"])
    run = await lapd_start("nb.ipynb")
    await lapd_wait(run["id"], cell=("c0", "running"))
    await jp_fetch("api", "contents", "nb.ipynb", method="DELETE")
    run = await lapd_wait(run["id"], timeout=60)
    assert run["status"] == "failed"
    assert run["error"] == "nb.ipynb was deleted during the run"
    assert list(jp_root_dir.glob("*.ipynb")) == []  # not resurrected
    assert list(jp_root_dir.glob(".~lapd-*")) == []


def test_recovery_bounds_a_giant_stream_as_configured(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    nbformat.write(make_notebook(["print('x' * 10**6)"]), root / "nb.ipynb")
    store = Store(str(tmp_path / "runs.db"))
    try:
        record = RunRecord(path="nb.ipynb", cells=[CellRecord(id="c0")])
        record.status = RunStatus.RUNNING
        record.cells[0].status = CellStatus.RUNNING
        store.save_run(record, str(root))
        line = "y" * 99 + "\n"
        store.append_events(
            record.id,
            [{"seq": 1, "type": "cell_start", "cell_id": "c0"}]
            + [
                {"seq": i, "type": "output", "cell_id": "c0",
                 "output": {"output_type": "stream", "name": "stdout", "text": line * 100}}
                for i in range(2, 102)
            ],
        )  # fmt: skip
        interrupt_stale_run(
            store, record, str(root), logging.getLogger("test"), max_output_bytes=10_000
        )
    finally:
        store.close()
    text = read_nb(root / "nb.ipynb").cells[0].outputs[0]["text"]
    assert "elided" in text and len(text) < 12_000  # 1 MB journaled, 10 kB on disk


def test_recovery_takes_the_cells_progress_from_the_journal(tmp_path):
    # The record is saved a few times a second, each cell's start and end are journaled:
    # killed between the two, the record still shows c0 running while c1 had started.
    root = tmp_path / "root"
    root.mkdir()
    nbformat.write(make_notebook(["1", "2", "3"]), root / "nb.ipynb")
    store = Store(str(tmp_path / "runs.db"))
    try:
        record = RunRecord(path="nb.ipynb", cells=[CellRecord(id=f"c{i}") for i in range(3)])
        record.status = RunStatus.RUNNING
        record.cells[0].status = CellStatus.RUNNING
        store.save_run(record, str(root))
        stdout = {"output_type": "stream", "name": "stdout", "text": "one\n"}
        store.append_events(
            record.id,
            [
                {"seq": 1, "type": "cell_start", "cell_id": "c0", "started": "2026-01-01T00:00:00Z"},
                {"seq": 2, "type": "output", "cell_id": "c0", "output": stdout},
                {"seq": 3, "type": "cell_end", "cell_id": "c0", "status": "done",
                 "execution_count": 7, "execution": {}, "finished": "2026-01-01T00:00:01Z"},
                {"seq": 4, "type": "cell_start", "cell_id": "c1", "started": "2026-01-01T00:00:01Z"},
            ],
        )  # fmt: skip
        interrupt_stale_run(store, record, str(root), logging.getLogger("test"))
        saved = store.get_run(record.id)
    finally:
        store.close()
    assert saved is not None
    assert [c.status for c in saved.cells] == [
        CellStatus.DONE,
        CellStatus.SKIPPED,
        CellStatus.SKIPPED,
    ]
    assert saved.cells[0].execution_count == 7
    nb = read_nb(root / "nb.ipynb")
    assert [o.get("text") for o in nb.cells[0].outputs] == ["one\n"]  # no note: c0 had ended
    assert "run interrupted" in nb.cells[1].outputs[-1]["text"]  # the note: c1 was running


def journaled_metadata(db: Path, run_id: str) -> dict[str, Any]:
    """The notebook metadata of the run's journaled ``metadata`` events, merged."""
    conn = sqlite3.connect(db, timeout=30)  # a plain SELECT: never a write to a live journal
    try:
        rows = conn.execute(
            "SELECT event FROM journal WHERE run_id = ? AND type = 'metadata' ORDER BY seq",
            (run_id,),
        ).fetchall()
    finally:
        conn.close()
    merged: dict[str, Any] = {}
    for (event,) in rows:
        merged.update(json.loads(event)["metadata"])
    return merged


def test_the_notebook_metadata_a_run_journaled_is_restored_after_a_kill(tmp_path):
    # The file is not written before the kill (flush_interval of 10 minutes): the kernel's
    # language_info and the state of a widget of a cell that ended come from the journal.
    server = ServerProcess(tmp_path / "home", tmp_path / "root", flush_interval=600)
    path = server.root / "nb.ipynb"
    cells = ["import ipywidgets\nipywidgets.IntSlider(value=4)", PRINTER]
    nbformat.write(make_notebook(cells), path)
    server.start()
    try:
        run = server.request("POST", "lapd/api/runs", {"path": "nb.ipynb"})
        wait_for(lambda: cell_status(server, run["id"], "c1") == "running")
        # killed once the journal holds the widget's state (journaled within ~0.1 s)
        wait_for(lambda: "widgets" in journaled_metadata(tmp_path / "home" / "runs.db", run["id"]))
        server.kill9()
        assert "language_info" not in read_nb(path).metadata  # not written before the kill
        server.start()
        wait_for(lambda: server.request("GET", f"lapd/api/runs/{run['id']}")["status"] != "running")
        metadata = read_nb(path).metadata
    finally:
        server.stop()
    assert metadata["language_info"]["name"] == "python"
    models = metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    sliders = [m["state"] for m in models.values() if m["model_name"] == "IntSliderModel"]
    assert [s["value"] for s in sliders] == [4]
