"""Executor: a cell whose kernel dropped messages (its idle one included) ends, and says
output was lost; no ordinary cell, and no other client of the kernel, makes it say so."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from queue import Empty
from typing import Any

import nbformat
import pytest
from conftest import (
    block_printer,
    held_until,
    read_first_idle_late,
    read_nb,
    record_sent_cells,
)
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.session import Session

from jupyter_lapd.run import cellclient, executor, iopub
from jupyter_lapd.run.cellresult import CellOutcome


class _SilentChannel:
    """An iopub channel on which nothing more arrives (the kernel dropped the rest)."""

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        raise Empty


class _Client:
    iopub_channel = _SilentChannel()


async def test_silence_after_the_reply_ends_the_cell_without_claiming_a_loss(monkeypatch):
    # A kernel that answers nothing after the cell's reply may have dropped the cell's idle,
    # or may be stuck: that is no proof of a loss, and the cell gets no note.
    monkeypatch.setattr(cellclient, "IOPUB_SILENCE", 0.01)
    monkeypatch.setattr(cellclient, "PROBE_AFTER", 0.01)
    sunk: list[dict[str, Any]] = []
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('a' * 10**9)")])
    client = cellclient.StreamingClient(nb, sunk.append)
    client.kc = _Client()
    cell = nb.cells[0]
    cell.metadata["execution"] = {"shell.execute_reply": "2026-01-01T00:00:00Z"}  # reply in
    await client._async_poll_output_msg("parent", cell, 0)
    assert sunk == []


def test_the_loss_note_is_a_jupyter_lapd_line_on_stderr():
    [event] = executor_events(iopub.LOST_NOTE)
    assert event["output"]["name"] == "stderr"
    assert event["output"]["text"].startswith("jupyter_lapd: some output of this cell was lost")


def stall_reading_once(monkeypatch: Any, hub: Any, until: Path) -> None:
    """The run stops reading the kernel's output after its first message, as a busy server
    would, until the cell has written ``until`` (it has printed everything) and a moment
    more: a kernel printing flat out meanwhile drops messages, however slow the machine."""
    calls = []

    async def stall() -> None:
        for _ in range(1200):  # a bound, so that a broken cell fails the test, not CI
            if until.exists():
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)  # the rest of the cell's messages, its idle one included

    def stalling(run_id: str) -> Any:
        calls.append(run_id)
        return stall() if len(calls) == 2 else None

    monkeypatch.setattr(hub, "backpressure", stalling)


def printed(flag: Path) -> str:
    """Code a cell ends its printing with: writes ``flag``."""
    return f"open({str(flag)!r}, 'w').close()\n"


def executor_events(msg: dict[str, Any]) -> list[dict[str, Any]]:
    from jupyter_lapd.outputs.model import events_from_message

    return events_from_message("c0", msg)


async def test_a_cell_whose_idle_was_dropped_ends_when_a_probe_comes_back(
    monkeypatch, tmp_path, lapd_app, lapd_notebook, lapd_start, lapd_wait
):
    # The kernel prints 130 MB and ends the cell while the run is not reading: its idle
    # message is dropped with the rest. The silence would end the cell only after
    # IOPUB_SILENCE (here made longer than the test waits): the kernel's answer to a
    # question asked once the reply is in must end it instead.
    monkeypatch.setattr(cellclient, "IOPUB_SILENCE", 600)
    monkeypatch.setattr(executor, "IOPUB_TIMEOUT", 600)  # nbclient's own wait, likewise
    flag = tmp_path / "printed"
    stall_reading_once(monkeypatch, lapd_app.manager.hub, until=flag)
    path = lapd_notebook([block_printer(2000, then=printed(flag)), "print('next')"], "burst.ipynb")
    run = await lapd_start("burst.ipynb")
    run = await lapd_wait(run["id"], timeout=90)
    assert run["status"] == "completed"
    assert [c["status"] for c in run["cells"]] == ["done", "done"]
    timing = read_nb(path).cells[0].metadata["execution"]
    assert "shell.execute_reply" in timing and "iopub.status.idle" not in timing  # lost
    events = lapd_app.manager.store.read_events(run["id"])
    first = [e["output"] for e in events if e["type"] == "output" and e["cell_id"] == "c0"]
    assert sum(o["name"] == "stderr" and "was lost" in o["text"] for o in first) == 1
    # the next cell's execution is not confused by the probe's reply
    second = [e["output"]["text"] for e in events if e["type"] == "output" and e["cell_id"] == "c1"]
    assert second == ["next\n"]


def stream(parent: str, name: str, text: str) -> dict[str, Any]:
    return {
        "msg_type": "stream",
        "parent_header": {"msg_id": parent},
        "content": {"name": name, "text": text},
    }


def test_queued_stream_messages_of_one_stream_are_joined_and_nothing_else() -> None:
    status = {"msg_type": "status", "parent_header": {"msg_id": "a"}, "content": {}}
    messages = [
        stream("a", "stdout", "1\n"),
        stream("a", "stdout", "2\n"),
        stream("a", "stderr", "e\n"),  # another stream: a run of its own
        stream("b", "stderr", "f\n"),  # another request
        status,  # anything else ends a run
        stream("a", "stderr", "g\n"),
        stream("a", "stderr", "h\n"),
    ]
    before = [dict(m, content=dict(m["content"])) for m in messages]
    joined = list(iopub.coalesced(iter(messages)))
    assert [(m["msg_type"], m["content"].get("text")) for m in joined] == [
        ("stream", "1\n2\n"),
        ("stream", "e\n"),
        ("stream", "f\n"),
        ("status", None),
        ("stream", "g\nh\n"),
    ]
    assert joined[0]["parent_header"] == {"msg_id": "a"}
    assert messages == before  # the messages read are left as they were


def test_a_joined_stream_message_stops_growing_at_its_limit(monkeypatch) -> None:
    monkeypatch.setattr(iopub, "COALESCE_CHARS", 4)
    joined = iopub.coalesced(iter([stream("a", "stdout", "ab") for _ in range(5)]))
    assert [m["content"]["text"] for m in joined] == ["abab", "abab", "ab"]


@pytest.mark.parametrize("step_bytes", [cellclient.DRAIN_BYTES, 1])
async def test_output_queued_while_the_run_was_busy_is_journaled_in_fewer_bigger_events(
    step_bytes, monkeypatch, tmp_path, lapd_app, lapd_notebook, lapd_start, lapd_wait
):
    # 100 messages of 64 KiB wait in ZeroMQ's queues (well within their limits) while the
    # run does not read; once it reads on, they come in a few events of up to 1 MiB, as
    # many as one step of the loop reads (with a 1-byte bound: the awaited message and
    # one more).
    monkeypatch.setattr(cellclient, "DRAIN_BYTES", step_bytes)
    blocks = 100
    flag = tmp_path / "printed"
    stall_reading_once(monkeypatch, lapd_app.manager.hub, until=flag)
    lapd_notebook([block_printer(blocks, then=printed(flag))], "queued.ipynb")
    run = await lapd_start("queued.ipynb")
    assert (await lapd_wait(run["id"]))["status"] == "completed"

    streams = [
        e["output"]
        for e in lapd_app.manager.store.read_events(run["id"])
        if e["type"] == "output" and e["output"]["output_type"] == "stream"
    ]
    assert all(o["name"] == "stdout" for o in streams)
    text = "".join(o["text"] for o in streams)
    assert [int(line[:4]) for line in text.splitlines()] == list(range(blocks))
    if step_bytes == 1:
        assert blocks // 2 <= len(streams) < blocks
    else:
        assert len(streams) < blocks // 4
    assert max(len(o["text"]) for o in streams) <= iopub.COALESCE_CHARS + 65536


def test_headers_are_dated_as_jupyter_client_dates_them_and_contents_are_left_alone() -> None:
    session = Session(key=b"secret")
    dated = session.clone()
    dated.unpack = iopub.dating_headers(dated.unpack)
    parent = session.msg("execute_request", {"code": "1"})
    for date in ("2026-11-28T05:00:00.123456Z", "2026-11-28T06:00:00+01:00", "not a date"):
        msg = session.msg("status", {"execution_state": "idle", "date": date}, parent=parent)
        msg["header"]["date"] = date  # as the kernel wrote it
        parts = session.serialize(msg)[1:]
        assert dated.deserialize(parts) == session.deserialize(parts)
    header = dated.unpack(session.pack({**parent["header"], "date": "2026-11-28T05:00:00Z"}))
    assert header["date"] == datetime(2026, 11, 28, 5, tzinfo=timezone.utc)
    content = dated.unpack(session.pack({"date": "2026-11-28T05:00:00Z"}))
    assert content == {"date": "2026-11-28T05:00:00Z"}  # not a header: as it came


async def test_the_run_reads_its_kernel_through_its_own_session_dating_headers() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hi')")])
    km = AsyncKernelManager(kernel_name="python3")
    await km.start_kernel()
    sunk: list[dict[str, Any]] = []
    run = executor.Executor(nb, km, lambda cell_id, msg: sunk.append(msg))
    try:
        await run.start()
        unpack = run.client.kc.session.unpack  # type: ignore[union-attr]
        assert unpack is not km.session.unpack  # the kernel manager's session is not touched
        stamp = "2026-11-28T05:00:00Z"
        header = unpack(km.session.pack({**km.session.msg_header("status"), "date": stamp}))
        assert isinstance(header["date"], datetime)
        submission = run.submit(nb.cells[0], 0, "c0")
        run.begin(submission)
        assert submission.task is not None
        result = await submission.task
    finally:
        await run.stop()
        await km.shutdown_kernel(now=True)
    assert result.status == CellOutcome.OK
    assert any(m["msg_type"] == "stream" and m["content"]["text"] == "hi\n" for m in sunk)
    assert all(isinstance(m["header"]["date"], datetime) for m in sunk if "date" in m["header"])


async def test_the_next_cell_goes_to_the_kernel_once_the_one_before_has_its_reply(
    monkeypatch, lapd_app, lapd_notebook, lapd_start, lapd_wait
):
    # The kernel has finished a cell when its execute reply comes; its idle message
    # follows. Here the server reads the first cell's idle half a second late: the second
    # cell must go to the kernel meanwhile, and its output still land in its own cell,
    # after the first's.
    read_first_idle_late(monkeypatch, 0.5)
    order: list[str] = []
    record_sent_cells(monkeypatch, order)
    process = cellclient.StreamingClient.process_message

    def processing(self: Any, msg: dict[str, Any], cell: Any, index: int) -> Any:
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            order.append(f"idle of c{index}")
        return process(self, msg, cell, index)

    monkeypatch.setattr(cellclient.StreamingClient, "process_message", processing)
    first = "print('a', flush=True)\nimport time\ntime.sleep(0.3)"
    path = lapd_notebook([first, "print('b')"], "two.ipynb")
    run = await lapd_wait((await lapd_start("two.ipynb"))["id"])
    assert run["status"] == "completed"
    assert order == ["sent print('a', flush=True)", "sent print('b')", "idle of c0", "idle of c1"]
    cells = read_nb(path).cells
    assert [o["text"] for o in cells[0].outputs] == ["a\n"]
    assert [o["text"] for o in cells[1].outputs] == ["b\n"]
    assert cells[1].execution_count == cells[0].execution_count + 1
    events = lapd_app.manager.store.read_events(run["id"])
    steps = [(e["type"], e["cell_id"]) for e in events if e["type"] in ("cell_start", "cell_end")]
    assert steps == [
        ("cell_start", "c0"),
        ("cell_end", "c0"),
        ("cell_start", "c1"),
        ("cell_end", "c1"),
    ]


async def test_no_loss_is_claimed_for_ordinary_cells_with_another_client_polling_the_kernel(
    tmp_path, jp_serverapp, lapd_notebook, lapd_start, lapd_wait, lapd_get
):
    # The commonest cell there is prints, then ends with an expression (its execute_result
    # is numbered before the print's stream, and sent after it); meanwhile a second client
    # of the same kernel (a page with the notebook open) asks it things on the shell
    # channel, whose replies take message numbers the run never sees. Nothing was lost,
    # and the saved notebook must say nothing of the kind.
    flag = tmp_path / "go"
    cells = [held_until(flag)] + [f"print('Hello, world!', {i})\n6 * {i}" for i in range(20)]
    path = lapd_notebook(cells, "hello.ipynb")
    run = await lapd_start("hello.ipynb")
    await lapd_wait(run["id"], cell=("c0", "running"))
    kernel_id = (await lapd_get(run["id"]))["kernel_id"]
    km = jp_serverapp.kernel_manager.get_kernel(kernel_id)
    # a session of its own, as a page has (one client's identity would route the run's
    # replies to the other)
    other = km.client(session=Session(key=km.session.key))
    other.start_channels()
    polls = 0
    stop = asyncio.Event()

    async def poll() -> None:
        nonlocal polls
        while not stop.is_set():
            for request in (other.kernel_info, other.comm_info, lambda: other.complete("pri")):
                await other._async_recv_reply(request(), timeout=30)
                polls += 1

    poller = asyncio.create_task(poll())
    try:
        await asyncio.sleep(0.2)  # its first requests wait in the kernel's queue meanwhile
        flag.touch()
        assert (await lapd_wait(run["id"]))["status"] == "completed"
    finally:
        stop.set()
        await asyncio.gather(poller, return_exceptions=True)
        other.stop_channels()
    assert polls > 3  # answered between the run's cells
    saved = read_nb(path).cells
    assert saved[0].outputs == []
    for i, cell in enumerate(saved[1:]):
        assert [(o.output_type, o.get("name")) for o in cell.outputs] == [
            ("stream", "stdout"),
            ("execute_result", None),
        ], cell.outputs
        assert cell.outputs[0].text == f"Hello, world! {i}\n"
        assert cell.outputs[1].data == {"text/plain": str(6 * i)}
