"""The events socket: snapshot, live events in seq order, and exact resume with ?since=;
and the journal's backpressure on a run that prints faster than it is journaled."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import block_printer, held_until, read_nb, wait_until

from jupyter_lapd.journal import eventhub as events
from jupyter_lapd.journal.store import Store
from jupyter_lapd.server import catchup

TICKS = "import time\nfor i in range(20):\n    print(i, flush=True)\n    time.sleep(0.05)"


def seqs(events):
    return [e["seq"] for e in events]


async def test_snapshot_then_every_event_in_order(
    lapd_notebook, lapd_start, lapd_events, lapd_wait
):
    lapd_notebook([TICKS, "print('done')"])
    run = await lapd_start("nb.ipynb")
    events = await lapd_events(run["id"])
    snapshot, rest = events[0], events[1:]
    assert snapshot["type"] == "snapshot"
    assert snapshot["run"]["id"] == run["id"] and "outputs" in snapshot
    assert "execution" in snapshot and "flushed" in snapshot
    assert seqs(rest) == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(rest)))
    types = [e["type"] for e in rest]
    assert types[-1] == "run" and rest[-1]["run"]["status"] == "completed"
    assert "flushed" in types and "cell_end" in types
    flushed = [e for e in rest if e["type"] == "flushed"][-1]
    assert flushed["hash"] and flushed["last_modified"].endswith("Z")
    assert (await lapd_wait(run["id"]))["status"] == "completed"


async def test_resume_with_since_has_no_gap_and_no_duplicate(
    lapd_notebook, lapd_start, lapd_events, lapd_wait
):
    path = lapd_notebook([TICKS, TICKS])
    run = await lapd_start("nb.ipynb")
    first = await lapd_events(run["id"], since=0, limit=8)
    assert first[0]["type"] == "snapshot" and first[0]["replay_from"] == 0
    last = first[-1]["seq"]
    second = await lapd_events(run["id"], since=last)
    assert second[0]["type"] == "snapshot" and second[0]["replay_from"] == last
    await lapd_wait(run["id"])
    everything = await lapd_events(run["id"], since=0)
    joined = first[1:] + second[1:]
    assert seqs(joined) == list(range(1, len(joined) + 1))
    assert joined == everything[1:]
    # the outputs carried by the events are exactly those in the file
    printed = "".join(
        e["output"]["text"] for e in joined if e["type"] == "output" and e["cell_id"] == "c1"
    )
    assert printed == read_nb(path).cells[1].outputs[0]["text"]


async def test_finished_run_snapshot_is_rebuilt_from_the_journal(
    lapd_notebook, lapd_start, lapd_events, lapd_wait
):
    lapd_notebook(
        [
            "print('a')\nprint('b')",
            "from IPython.display import display\ndisplay({'text/html': '<b>x</b>'}, raw=True)",
        ]
    )
    run = await lapd_wait((await lapd_start("nb.ipynb"))["id"])
    events = await lapd_events(run["id"])
    assert len(events) == 1
    snapshot = events[0]
    assert snapshot["run"]["status"] == "completed"
    assert snapshot["outputs"]["c0"] == [
        {"output_type": "stream", "name": "stdout", "text": "a\nb\n"}
    ]
    assert snapshot["outputs"]["c1"][0]["data"] == {"text/html": "<b>x</b>"}


async def test_a_run_waits_for_a_journal_that_falls_behind_and_loses_nothing(
    monkeypatch, lapd_app, lapd_notebook, lapd_start, lapd_wait
):
    # a limit any printed block exceeds: every message read waits for the journal
    monkeypatch.setattr(events, "JOURNAL_BACKLOG_BYTES", 10_000)
    blocks = 40
    source = block_printer(blocks)
    hub = lapd_app.manager.hub
    held = []

    def noting(run_id):
        pending = events.EventHub.backpressure(hub, run_id)
        if pending is not None:
            held.append(run_id)
        return pending

    monkeypatch.setattr(hub, "backpressure", noting)
    lapd_notebook([source], "burst.ipynb")
    run = await lapd_start("burst.ipynb")
    assert (await lapd_wait(run["id"]))["status"] == "completed"
    assert held  # the run did wait for the journal
    journaled = lapd_app.manager.store.read_events(run["id"])
    text = "".join(
        e["output"]["text"]
        for e in journaled
        if e["type"] == "output" and e["output"].get("output_type") == "stream"
    )
    assert [int(line[:4]) for line in text.splitlines()] == list(range(blocks))


async def test_backpressure_holds_a_run_until_its_backlog_is_journaled(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "JOURNAL_BACKLOG_BYTES", 1000)
    store = Store(str(tmp_path / "lapd.db"))

    async def db_call(fn, *args):
        return await asyncio.to_thread(fn, *args)

    hub = events.EventHub(store, db_call)
    hub.open("r1")
    stream = {"output_type": "stream", "name": "stdout", "text": "x" * 600}
    hub.publish("r1", {"type": "output", "cell_id": "c", "output": stream})
    assert hub.backpressure("r1") is None  # under the limit
    hub.publish("r1", {"type": "output", "cell_id": "c", "output": stream})
    waiting = hub.backpressure("r1")
    assert waiting is not None
    task = asyncio.ensure_future(waiting)
    await asyncio.sleep(0.05)
    assert not task.done()  # nothing journaled yet
    await hub.flush_journal()
    await asyncio.wait_for(task, 1)
    assert hub.backpressure("r1") is None
    assert len(store.read_events("r1")) == 2
    store.close()


async def test_the_run_reads_on_while_a_batch_is_journaled_in_bounded_batches(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(events, "JOURNAL_BACKLOG_BYTES", 1000)
    monkeypatch.setattr(events, "JOURNAL_BATCH_BYTES", 1000)
    store = Store(str(tmp_path / "lapd.db"))
    release = asyncio.Event()
    batches = []

    async def db_call(fn, *args):
        if fn == store.append_events:
            batches.append([e["seq"] for e in args[1]])
            await release.wait()  # the journal is slow: the batch stays in flight
        return await asyncio.to_thread(fn, *args)

    hub = events.EventHub(store, db_call)
    hub.open("r1")
    stream = {"output_type": "stream", "name": "stdout", "text": "x" * 600}
    for _ in range(3):
        hub.publish("r1", {"type": "output", "cell_id": "c", "output": stream})
    held = hub.backpressure("r1")
    assert held is not None  # 1800 bytes wait for the journal
    held = asyncio.ensure_future(held)
    flushing = asyncio.ensure_future(hub.flush_journal())
    await asyncio.wait_for(held, 1)  # taken into a batch: the run may read on
    assert batches == [[1, 2]]  # a batch stops once it holds JOURNAL_BATCH_BYTES
    assert hub.backpressure("r1") is None  # 600 bytes wait, besides the batch
    assert store.read_events("r1") == []
    release.set()
    await asyncio.wait_for(flushing, 5)
    assert batches == [[1, 2], [3]]
    assert [e["seq"] for e in store.read_events("r1")] == [1, 2, 3]
    store.close()


async def test_a_burst_of_output_is_journaled_without_waiting_out_the_pause(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "JOURNAL_BURST_BYTES", 1000)
    store = Store(str(tmp_path / "lapd.db"))

    async def db_call(fn, *args):
        return await asyncio.to_thread(fn, *args)

    # a pause far longer than the test: only the burst can end it
    hub = events.EventHub(store, db_call, journal_interval=600)
    hub.open("r1")
    hub.start()
    stream = {"output_type": "stream", "name": "stdout", "text": "x" * 600}
    hub.publish("r1", {"type": "output", "cell_id": "c", "output": stream})
    while not store.read_events("r1"):  # the first batch goes at once
        await asyncio.sleep(0.01)
    hub.publish("r1", {"type": "output", "cell_id": "c", "output": stream})
    await asyncio.sleep(0.2)
    assert len(store.read_events("r1")) == 1  # 600 bytes wait for the pause's end
    hub.publish("r1", {"type": "output", "cell_id": "c", "output": stream})

    async def journaled(count):
        while len(store.read_events("r1")) < count:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(journaled(3), 30)  # 1200 bytes: a burst, written now
    await hub.stop()
    store.close()


async def test_a_snapshot_says_where_displays_show_and_which_clear_waits(
    tmp_path, lapd_app, lapd_notebook, lapd_start, lapd_events, lapd_wait
):
    """A page attaching mid-run applies later display updates and a pending
    clear_output(wait=True) as a page attached all along would."""
    stop = tmp_path / "stop"
    source = (
        "from IPython.display import clear_output, display\n"
        "display({'text/plain': 'a'}, raw=True, display_id='d')\n"
        "clear_output(wait=True)\n"
    ) + held_until(stop)
    lapd_notebook(["print('first')", source])
    run = await lapd_start("nb.ipynb")
    await wait_until(
        published(lapd_app.manager.hub, run["id"], lambda e: e["type"] == "clear_output")
    )
    snapshot = (await lapd_events(run["id"], limit=1))[0]
    stop.touch()
    assert snapshot["displays"] == {"d": {"c1": [0]}}
    assert snapshot["clear_pending"] == ["c1"]
    assert snapshot["outputs"]["c1"][0]["data"] == {"text/plain": "a"}
    assert (await lapd_wait(run["id"]))["status"] == "completed"


@pytest.mark.output_limit(None)
async def test_a_subscriber_behind_gets_a_snapshot_of_what_it_missed(
    monkeypatch, tmp_path, lapd_app, lapd_notebook, lapd_start, lapd_wait, jp_ws_fetch
):
    """With ?catchup=1, the events a slow socket has not taken yet are replaced by one
    snapshot of the cells they touch: read from there on, the outputs are the file's."""
    monkeypatch.setattr(catchup, "CATCH_UP_BACKLOG", 5)
    blocks, stop = 400, tmp_path / "stop"
    # 26 MB, at a pace the server reads without the kernel dropping any
    printer = block_printer(blocks).replace("flush()\n", "flush()\n    time.sleep(0.01)\n")
    then = "print('printed', flush=True)\n" + held_until(stop)
    path = lapd_notebook([printer + then, "print('after')"])
    run = await lapd_start("nb.ipynb")
    ws = await jp_ws_fetch(
        "lapd", "api", "runs", run["id"], "events", params={"catchup": "1"}, max_message_size=2**30
    )
    received = [json.loads(await ws.read_message())]
    # Not read meanwhile: 26 MB of output, more than the sockets' buffers hold, waits
    # in the server for this subscriber.
    await wait_until(published(lapd_app.manager.hub, run["id"], printed("printed\n")))
    stop.touch()
    while (message := await asyncio.wait_for(ws.read_message(), timeout=120)) is not None:
        received.append(json.loads(message))
    assert (await lapd_wait(run["id"]))["status"] == "completed"

    caught_up = [e for e in received[1:] if e["type"] == "snapshot"]
    assert caught_up and all("replay_from" not in e for e in caught_up)
    assert len(received) < received[-1]["seq"]  # fewer messages than events
    assert [e["seq"] for e in received] == sorted({e["seq"] for e in received})
    shown, _ = followed(received)
    shown["c0"] = shown["c0"].removesuffix("printed\n")
    file = read_nb(path)
    assert shown == {cell.id: cell.outputs[0]["text"] for cell in file.cells} | {
        "c0": file.cells[0].outputs[0]["text"].removesuffix("printed\n")
    }
    assert [int(line[:4]) for line in shown["c0"].splitlines()] == list(range(blocks))


def published(
    hub: events.EventHub, run_id: str, matches: Callable[[dict[str, Any]], bool]
) -> Callable[[], bool]:
    """Whether the run has published an event that ``matches`` (from now on), or ended."""
    queue = hub.subscribe(run_id)
    assert queue is not None

    def seen() -> bool:
        while not queue.empty():
            event = queue.get_nowait()
            if event is None or matches(event):
                hub.unsubscribe(run_id, queue)
                return True
        return False

    return seen


def printed(text: str) -> Callable[[dict[str, Any]], bool]:
    """An output event whose text ends with ``text``."""
    return lambda event: (
        event["type"] == "output" and event["output"].get("text", "").endswith(text)
    )


@pytest.mark.output_limit(4096)
async def test_a_page_following_a_long_stream_holds_what_the_file_holds(
    lapd_notebook, lapd_start, lapd_wait, jp_ws_fetch
):
    """With ?catchup=1, a stream printing past max_output_bytes reaches the subscriber as
    the file has it (head, marker, tail), not as an ever longer text."""
    printer = "import time\nfor i in range(300):\n    print(f'{i:04d}' + '.' * 60, flush=True)\n"
    path = lapd_notebook([printer + "    time.sleep(0.002)", "print('after')"])
    run = await lapd_start("nb.ipynb")
    ws = await jp_ws_fetch("lapd", "api", "runs", run["id"], "events", params={"catchup": "1"})
    received = []
    while (message := await asyncio.wait_for(ws.read_message(), timeout=120)) is not None:
        received.append(json.loads(message))
    assert (await lapd_wait(run["id"]))["status"] == "completed"
    shown, longest = followed(received)
    file = read_nb(path)
    assert shown == {cell.id: cell.outputs[0]["text"] for cell in file.cells}
    assert "bytes elided" in shown["c0"]
    # never more than the limit, half of it again, and the marker (300 lines: 19,500 B)
    assert longest <= 4096 + 2048 + 200


def followed(received: list[dict[str, Any]]) -> tuple[dict[str, str], int]:
    """Each cell's stream text as a page following ``received`` ends up showing it (the
    last snapshot that carried the cell, then the events after it), and the longest
    text it held meanwhile."""
    shown: dict[str, str] = {}
    longest = 0
    for event in received:
        if event["type"] == "snapshot":
            for cell_id, outputs in event["outputs"].items():
                shown[cell_id] = "".join(o.get("text", "") for o in outputs)
        elif event["type"] == "cell_start":
            shown[event["cell_id"]] = ""
        elif event["type"] == "output":
            shown[event["cell_id"]] += event["output"]["text"]
        longest = max([longest, *map(len, shown.values())])
    return shown, longest
