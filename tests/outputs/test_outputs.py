"""OutputModel: fake message sequences, and golden notebooks compared with nbclient's results."""

from __future__ import annotations

import asyncio
import copy
import json
import random
import re
import textwrap
import tracemalloc
from collections.abc import Iterable
from typing import Any

import nbformat
import pytest
from conftest import make_notebook
from jupyter_client.session import Session
from jupyterlab_streams import jupyterlab_stream_text
from nbclient import NotebookClient
from nbformat.v4 import output_from_msg

from jupyter_lapd.outputs.model import OutputModel, events_from_message, replay

SESSION = Session()
# a 1x1 transparent PNG
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


# ---------------------------------------------------------------------------------------------
# Helpers: kernel messages as jupyter_client builds them, and a model fed through the real path


def msg(msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
    return SESSION.msg(msg_type, content)


def stream(text: str, name: str = "stdout") -> dict[str, Any]:
    return msg("stream", {"name": name, "text": text})


def display(
    data: dict[str, Any], display_id: str | None = None, metadata: dict[str, Any] | None = None
) -> dict[str, Any]:
    transient = {"display_id": display_id} if display_id else {}
    return msg("display_data", {"data": data, "metadata": metadata or {}, "transient": transient})


def update(data: dict[str, Any], display_id: str) -> dict[str, Any]:
    content = {"data": data, "metadata": {}, "transient": {"display_id": display_id}}
    return msg("update_display_data", content)


def clear(wait: bool) -> dict[str, Any]:
    return msg("clear_output", {"wait": wait})


def error(ename: str = "ValueError", evalue: str = "bad") -> dict[str, Any]:
    traceback = ["\x1b[0;31m---------\x1b[0m", f"\x1b[0;31m{ename}\x1b[0m: {evalue}"]
    return msg("error", {"ename": ename, "evalue": evalue, "traceback": traceback})


def feed(model: OutputModel, cell_id: str, *msgs: dict[str, Any]) -> None:
    for message in msgs:
        for event in events_from_message(cell_id, message):
            model.apply(event)


def texts(model: OutputModel, cell_id: str) -> list[tuple[str, str]]:
    return [(o["name"], o["text"]) for o in model.outputs(cell_id)]


def assert_valid(outputs_by_cell: Iterable[list[dict[str, Any]]]) -> None:
    """The outputs, saved in a notebook, validate against nbformat 4.5."""
    cells = []
    for outputs in outputs_by_cell:
        cell = nbformat.v4.new_code_cell("x", execution_count=1)
        cell.outputs = json.loads(json.dumps(outputs))
        cells.append(cell)
    nbformat.validate(nbformat.v4.new_notebook(cells=cells))


def stdout(text: str) -> dict[str, Any]:
    """An ``output`` event's output for a stdout fragment."""
    return {"output_type": "stream", "name": "stdout", "text": text}


def stream_text(fragments: Iterable[str]) -> str:
    """The stdout text a cell that printed ``fragments`` saves once it ended."""
    model = OutputModel()
    for fragment in fragments:
        model.apply({"type": "output", "cell_id": "c", "output": stdout(fragment)})
    model.apply({"type": "cell_end", "cell_id": "c", "execution_count": 1})
    [output] = model.outputs("c")
    return str(output["text"])


# ---------------------------------------------------------------------------------------------
# events_from_message


def test_events_from_message_shapes() -> None:
    out = stream("hi\n")
    assert events_from_message("c1", out) == [
        {
            "type": "output",
            "cell_id": "c1",
            "output": {"output_type": "stream", "name": "stdout", "text": "hi\n"},
        }
    ]
    bundle = {"text/plain": "x", "application/json": {"a": [1, {"b": None}]}}
    for message in (
        display(bundle),
        msg("execute_result", {"data": bundle, "metadata": {}, "execution_count": 3}),
        error(),
    ):
        [event] = events_from_message("c1", message)
        assert set(event) == {"type", "cell_id", "output"}
        assert event["output"] == output_from_msg(message)
        # plain JSON types, not NotebookNode, so it serialises and compares as it will on disk
        assert json.loads(json.dumps(event)) == event
        assert type(event["output"]) is dict
        assert all(type(v) is dict for v in event["output"].values() if isinstance(v, dict))
    [event] = events_from_message(
        "c1", msg("execute_result", {"data": bundle, "metadata": {}, "execution_count": 3})
    )
    assert event["output"]["execution_count"] == 3

    [event] = events_from_message("c1", display({"text/plain": "x"}, display_id="d1"))
    assert event["display_id"] == "d1"
    assert "display_id" not in event["output"] and "transient" not in event["output"]
    assert events_from_message(
        "c1", msg("display_data", {"data": {}, "metadata": {}, "transient": None})
    )[0].keys() == {
        "type",
        "cell_id",
        "output",
    }

    assert events_from_message("c1", clear(True)) == [
        {"type": "clear_output", "cell_id": "c1", "wait": True}
    ]
    assert events_from_message("c1", clear(False)) == [
        {"type": "clear_output", "cell_id": "c1", "wait": False}
    ]
    assert events_from_message("c2", update({"text/plain": "y"}, "d1")) == [
        {
            "type": "update_display",
            "cell_id": "c2",
            "display_id": "d1",
            "output": {"output_type": "display_data", "data": {"text/plain": "y"}, "metadata": {}},
        }
    ]
    # transient None or missing: there is nothing to update (nbclient skips these too)
    none = msg(
        "update_display_data", {"data": {"text/plain": "y"}, "metadata": {}, "transient": None}
    )
    assert events_from_message("c2", none) == []
    for other in (
        msg("status", {"execution_state": "busy"}),
        msg("execute_input", {"code": "1", "execution_count": 1}),
        msg("comm_open", {"comm_id": "x", "target_name": "t", "data": {}}),
        msg("comm_msg", {"comm_id": "x", "data": {}}),
    ):
        assert events_from_message("c1", other) == []


def test_invalid_output_message_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    bad = display({"text/plain": 5})
    assert events_from_message("c1", bad) == []
    assert "Dropping invalid display_data output" in caplog.text


# ---------------------------------------------------------------------------------------------
# Streams


def test_consecutive_stream_fragments_merge() -> None:
    model = OutputModel()
    feed(model, "c", stream("a\n"), stream("b"), stream("c\n"))
    assert texts(model, "c") == [("stdout", "a\nbc\n")]


def test_a_cell_is_bounded_once_a_stream_outgrows_half_the_limit() -> None:
    """What a page following the run needs a catch-up of (catchup.py): set by any one
    stream, however many small ones the cell has, and reset by a clear."""
    model = OutputModel(max_output_bytes=1024)
    for _ in range(20):  # small streams, each well within the limit
        feed(model, "c", stream("o" * 100 + "\n"), stream("e" * 100 + "\n", "stderr"))
    assert not model.bounded("c") and not model.bounded("other")
    feed(model, "c", stream("x" * 600 + "\n"))
    assert model.bounded("c")
    model.apply({"type": "clear_output", "cell_id": "c", "wait": False})
    assert not model.bounded("c")


def test_interleaved_streams_stay_in_arrival_order() -> None:
    model = OutputModel()
    feed(
        model,
        "c",
        stream("o1\n"),
        stream("e1\n", "stderr"),
        stream("e2\n", "stderr"),
        stream("o2\n"),
    )
    assert texts(model, "c") == [("stdout", "o1\n"), ("stderr", "e1\ne2\n"), ("stdout", "o2\n")]


def test_non_consecutive_streams_are_not_merged() -> None:
    """JupyterLab's rule (ours): a display between two prints keeps them apart.

    nbclient's ``coalesce_streams`` merges every stdout of a cell into its first one, moving
    text across the display; ``test_golden_intended_differences`` shows it on a real kernel.
    """
    model = OutputModel()
    feed(model, "c", stream("a\n"), display({"text/plain": "between"}), stream("b\n"))
    outputs = model.outputs("c")
    assert [o["output_type"] for o in outputs] == ["stream", "display_data", "stream"]
    assert (outputs[0]["text"], outputs[2]["text"]) == ("a\n", "b\n")


def test_carriage_return_progress_ends_as_one_line() -> None:
    model = OutputModel()
    for i in range(10_000):
        feed(model, "c", stream(f"\r{i / 100:6.2f}% |{'#' * (i // 500):<20}|"))
        if i % 2_500 == 0:
            assert texts(model, "c") == [("stdout", f"{i / 100:6.2f}% |{'#' * (i // 500):<20}|")]
    feed(model, "c", stream("\ndone\n"))
    assert texts(model, "c") == [("stdout", f"{99.99:6.2f}% |{'#' * 19:<20}|\ndone\n")]


def test_carriage_return_overwrites_as_jupyterlab_does() -> None:
    # "\r\n" is a line end, the "\r" dropped, as JupyterLab keeps it
    assert stream_text(["abc\r", "\ndef\n"]) == "abc\ndef\n"
    assert stream_text(["Downloading...\r", "Done\n"]) == "Doneloading...\n"
    assert stream_text(["50%\r"]) == "50%"  # the cell ended: the line as shown
    assert stream_text(["50%\r", "60%"]) == "60%"
    assert stream_text(["a\r", "\r", "\n"]) == "a\n"
    assert stream_text(["x\n12\r", "34\r\n", "z"]) == "x\n34\nz"


def test_a_reattaching_page_is_sent_the_cursor() -> None:
    """A line overwritten part-way is sent to a page with the cursor where it is:
    JupyterLab, reading that text, writes what follows at the same place."""
    model = OutputModel()
    model.apply({"type": "cell_start", "cell_id": "c"})
    model.apply({"type": "output", "cell_id": "c", "output": stdout("Fetching data\rDo")})
    assert model.outputs("c")[0]["text"] == "Dotching data"  # the file: the line as shown
    running = model.outputs("c", cursor=True)[0]["text"]
    assert running == "Dotching data\rDo"
    assert jupyterlab_stream_text(running + "ne\n") == "Donehing data\n"


def test_carriage_return_matches_jupyterlab_for_any_fragmentation() -> None:
    """Applied incrementally, \\r and \\b give exactly JupyterLab's text for the whole."""
    rng = random.Random(20240601)
    for _ in range(3_000):
        text = "".join(rng.choice(["ab", "c", "\r", "\n", "\b"]) for _ in range(rng.randint(0, 40)))
        cuts = sorted(rng.sample(range(len(text) + 1), rng.randint(0, min(6, len(text) + 1))))
        fragments = [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert stream_text(fragments) == jupyterlab_stream_text(text), repr(fragments)


def test_backspace() -> None:
    assert stream_text(["abc\b\bX\n"]) == "aX\n"
    assert stream_text(["abc", "\b", "d\n"]) == "abd\n"  # across fragments
    assert stream_text(["|", "\b/", "\b-", "\b\\"]) == "\\"  # a spinner
    assert stream_text(["ab\n\b\bc"]) == "ab\nc"  # never past a newline
    assert stream_text(["abc\b\b\b\b\bxyz"]) == "xyz"  # extra backspaces at line start vanish
    # inside the line, JupyterLab removes the character before the cursor and the one under it
    assert stream_text(["abcdef\rab\bX"]) == "aXef"


@pytest.mark.parametrize(
    "kind",
    ["lines", "partial_line", "progress_bar"],
)
def test_large_stream_costs_are_linear(kind: str) -> None:
    """Applying a fragment allocates in proportion to the fragment, never to the whole output.

    A model that re-joined or re-scanned the accumulated text on every event would allocate
    O(total) per event, O(n^2) in all: hundreds of GB here. Allocation is measured with
    tracemalloc, so the test does not depend on the machine's speed.
    """
    n = 200_000 if kind == "lines" else 20_000

    def fragment(i: int) -> str:
        if kind == "lines":
            return f"line {i:07d} of the training log\n"
        if kind == "partial_line":
            return f"{i:07d}" * 10 + ("\b" if i % 100 == 0 else "")
        return f"\r{i:07d} |{'#' * (i % 40):<40}|" + ("\n" if i % 5_000 == 4_999 else "")

    fragments = [stdout(fragment(i)) for i in range(n)]
    model = OutputModel()
    tracemalloc.start()
    try:
        worst = 0
        total = 0
        for i, content in enumerate(fragments):
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            model.apply({"type": "output", "cell_id": "c", "output": content})
            grew = tracemalloc.get_traced_memory()[1] - before
            total += grew
            if i > n // 2:
                worst = max(worst, grew)
    finally:
        tracemalloc.stop()
    size = sum(len(c["text"]) for c in fragments)
    # allocations overall: a small multiple of the text (growth of buffers), not size * n
    assert total < 8 * size + 2_048 * n, (total, size)
    if kind != "partial_line":  # an unfinished line grows in one buffer, doubling now and then
        assert worst < 256 * 1024, worst

    [output] = model.outputs("c")
    if kind == "lines":
        assert output["text"] == "".join(c["text"] for c in fragments)
    elif kind == "progress_bar":
        assert output["text"].count("\n") == n // 5_000
        assert len(output["text"]) < 100 * (n // 5_000 + 1)
    # the joined text is cached until the next change, not rebuilt by every reader
    assert model.outputs("c")[0]["text"] is output["text"]
    model.apply({"type": "output", "cell_id": "c", "output": stdout("more\n")})
    assert model.outputs("c")[0]["text"].endswith("more\n")


# ---------------------------------------------------------------------------------------------
# clear_output, display ids


def test_clear_output_wait_is_deferred_until_next_output() -> None:
    model = OutputModel()
    feed(model, "c", stream("old\n"), clear(True))
    assert texts(model, "c") == [("stdout", "old\n")]
    feed(model, "c", display({"text/plain": "frame 1"}))
    assert [o["data"]["text/plain"] for o in model.outputs("c")] == ["frame 1"]
    # a deferred clear applies to streams too, and only once
    feed(model, "c", clear(True), stream("s1\n"), stream("s2\n"))
    assert texts(model, "c") == [("stdout", "s1\ns2\n")]


def test_clear_output_wait_then_nothing_keeps_outputs() -> None:
    model = OutputModel()
    feed(model, "c", stream("kept\n"), clear(True))
    model.apply({"type": "cell_end", "cell_id": "c", "execution_count": 1, "execution": {}})
    assert texts(model, "c") == [("stdout", "kept\n")]


def test_clear_output_immediate() -> None:
    model = OutputModel()
    feed(model, "c", stream("gone\n"), display({"text/plain": "x"}), clear(False))
    assert model.outputs("c") == []
    feed(model, "c", stream("shown\n"))
    assert texts(model, "c") == [("stdout", "shown\n")]


def test_fastprogress_like_loop_keeps_only_the_last_frame() -> None:
    model = OutputModel()
    for i in range(1_000):
        feed(
            model,
            "c",
            clear(True),
            display({"text/html": f"<progress value={i}>"}),
            stream(f"epoch {i}\n"),
        )
    outputs = model.outputs("c")
    assert [o["output_type"] for o in outputs] == ["display_data", "stream"]
    assert outputs[0]["data"]["text/html"] == "<progress value=999>"
    assert outputs[1]["text"] == "epoch 999\n"


def test_update_display_reaches_earlier_cells() -> None:
    model = OutputModel()
    feed(
        model,
        "c1",
        stream("before\n"),
        display({"text/plain": "v1"}, display_id="d"),
        stream("after\n"),
    )
    feed(model, "c2", stream("cell 2\n"))
    v1, v2 = model.version("c1"), model.version("c2")
    feed(model, "c2", update({"text/plain": "v2"}, "d"))
    out1 = model.outputs("c1")
    assert [o["output_type"] for o in out1] == ["stream", "display_data", "stream"]
    assert out1[1]["data"] == {"text/plain": "v2"}
    assert texts(model, "c2") == [("stdout", "cell 2\n")]
    assert model.version("c1") > v1 and model.version("c2") == v2
    # an update of an unknown id changes nothing
    feed(model, "c2", update({"text/plain": "?"}, "unknown"))
    assert model.outputs("c1") == out1
    assert_valid([out1, model.outputs("c2")])


def test_update_display_does_not_trigger_a_deferred_clear() -> None:
    model = OutputModel()
    feed(
        model,
        "c",
        display({"text/plain": "v1"}, display_id="d"),
        clear(True),
        update({"text/plain": "v2"}, "d"),
    )
    assert [o["data"]["text/plain"] for o in model.outputs("c")] == ["v2"]


def test_display_id_reused_in_a_later_output_updates_all() -> None:
    model = OutputModel()
    feed(model, "c1", display({"text/plain": "v1"}, display_id="d"))
    feed(model, "c2", display({"text/plain": "v2"}, display_id="d", metadata={"isolated": True}))
    assert model.outputs("c1")[0]["data"] == {"text/plain": "v2"}
    assert model.outputs("c1")[0]["metadata"] == {"isolated": True}
    assert model.outputs("c2")[0]["data"] == {"text/plain": "v2"}
    feed(model, "c3", update({"text/plain": "v3"}, "d"))
    assert [model.outputs(c)[0]["data"]["text/plain"] for c in ("c1", "c2")] == ["v3", "v3"]
    # no display_id or transient leaks into what is saved
    for cell in ("c1", "c2"):
        assert set(model.outputs(cell)[0]) == {"output_type", "data", "metadata"}
    assert_valid([model.outputs("c1"), model.outputs("c2")])


def test_execute_result_with_display_id_is_updated() -> None:
    model = OutputModel()
    result = msg(
        "execute_result",
        {
            "data": {"text/plain": "r1"},
            "metadata": {},
            "execution_count": 4,
            "transient": {"display_id": "r"},
        },
    )
    feed(model, "c", result, update({"text/plain": "r2"}, "r"))
    assert model.outputs("c") == [
        {
            "output_type": "execute_result",
            "data": {"text/plain": "r2"},
            "metadata": {},
            "execution_count": 4,
        }
    ]


def test_clearing_a_cell_forgets_its_display_positions() -> None:
    model = OutputModel()
    feed(model, "c1", display({"text/plain": "v1"}, display_id="d"))
    feed(model, "c1", clear(False), stream("now a stream\n"), display({"text/plain": "other"}))
    feed(model, "c2", update({"text/plain": "v2"}, "d"))
    assert model.outputs("c1")[1]["data"] == {"text/plain": "other"}
    # a deferred clear forgets them too, and so does re-running the cell
    feed(model, "c3", display({"text/plain": "v1"}, display_id="e"), clear(True), stream("x\n"))
    model.apply({"type": "cell_start", "cell_id": "c3"})
    feed(model, "c3", display({"text/plain": "kept"}))
    feed(model, "c4", update({"text/plain": "v2"}, "e"))
    assert model.outputs("c3")[0]["data"] == {"text/plain": "kept"}


def test_errors_and_rich_outputs_are_kept_untouched() -> None:
    bundle = {
        "image/png": PNG,
        "text/html": "<b>héllo — 日本語 🎉</b>",
        "application/json": {"nested": [1, 2.5, None, {"ü": "ñ"}]},
        "text/plain": "<IPython.core.display.Image object>",
    }
    messages = [
        stream("unicode: héllo wörld — 日本語 🎉\n"),
        display(bundle, metadata={"image/png": {"width": 1, "height": 1}}),
        error("ZeroDivisionError", "division by zero"),
    ]
    model = OutputModel()
    feed(model, "c", *messages)
    outputs = model.outputs("c")
    assert outputs == [output_from_msg(m) for m in messages]
    assert outputs[2]["traceback"][1] == "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"
    assert_valid([outputs])


# ---------------------------------------------------------------------------------------------
# Cell lifecycle, versions, replay


def test_cell_lifecycle_and_metadata() -> None:
    model = OutputModel()
    timing = {
        "iopub.status.busy": "2024-01-01T00:00:00.000000Z",
        "iopub.status.idle": "2024-01-01T00:00:01Z",
    }
    model.apply({"type": "run", "status": "running"})
    model.apply({"type": "cell_start", "cell_id": "b"})
    feed(model, "b", stream("x\n"))
    model.apply(
        {
            "type": "cell_end",
            "cell_id": "b",
            "execution_count": 7,
            "execution": timing,
            "status": "done",
        }
    )
    model.apply({"type": "cell_start", "cell_id": "a"})
    for ignored in (
        {"type": "flushed", "last_modified": "x", "hash": "y"},
        {"type": "snapshot"},
        {"type": "bogus", "cell_id": "z"},
    ):
        model.apply(ignored)
    assert model.cell_ids() == ["b", "a"]
    assert model.execution_count("b") == 7 and model.execution_count("a") is None
    assert model.execution_metadata("b") == timing
    model.execution_metadata("b")["mutated"] = True
    assert "mutated" not in model.execution_metadata("b")
    # unknown cells read as empty
    assert (
        model.outputs("z"),
        model.execution_count("z"),
        model.execution_metadata("z"),
        model.version("z"),
    ) == ([], None, {}, 0)
    # re-running a cell resets it
    model.apply({"type": "cell_start", "cell_id": "b"})
    assert model.outputs("b") == [] and model.execution_count("b") is None
    assert model.execution_metadata("b") == {}


def test_version_increments_on_every_change() -> None:
    model = OutputModel()
    seen = [model.version("c")]

    def step(*msgs: dict[str, Any]) -> None:
        feed(model, "c", *msgs)
        seen.append(model.version("c"))

    model.apply({"type": "cell_start", "cell_id": "c"})
    seen.append(model.version("c"))
    step(stream("a"))
    step(stream("b"))  # merged into the same output, still a change
    step(display({"text/plain": "x"}, display_id="d"))
    step(update({"text/plain": "y"}, "d"))
    step(clear(False))
    model.apply({"type": "cell_end", "cell_id": "c", "execution_count": 1, "execution": {}})
    seen.append(model.version("c"))
    assert seen == sorted(set(seen)), seen
    # no change, no new version
    before = model.version("c")
    model.outputs("c")
    feed(model, "c", clear(True), msg("status", {"execution_state": "idle"}))
    assert model.version("c") == before


def test_outputs_are_fresh_and_events_are_not_mutated() -> None:
    model = OutputModel()
    events = events_from_message("c1", display({"text/plain": "v1"}, display_id="d"))
    pristine = copy.deepcopy(events)
    for event in events:
        model.apply(event)
    feed(model, "c2", update({"text/plain": "v2"}, "d"))
    assert events == pristine  # the journal or the hub may still hold these
    outputs = model.outputs("c1")
    outputs[0]["data"] = {"text/plain": "changed by a caller"}
    outputs.append({"output_type": "stream", "name": "stdout", "text": "x"})
    assert model.outputs("c1") == [
        {"output_type": "display_data", "data": {"text/plain": "v2"}, "metadata": {}}
    ]


def test_replay_from_journal_equals_live_model() -> None:
    script: list[tuple[str, dict[str, Any]]] = [
        ("c1", stream("a\r")),
        ("c1", stream("\nb")),
        ("c1", display({"text/plain": "p"}, display_id="d")),
        ("c1", stream("x\b", "stderr")),
        ("c2", clear(True)),
        ("c2", error()),
        ("c2", update({"text/plain": "q"}, "d")),
        ("c3", clear(True)),
        ("c3", display({"image/png": PNG, "text/plain": "img"})),
    ]
    live = OutputModel()
    journal: list[str] = []
    for cell_id in ("c1", "c2", "c3"):
        start = {"type": "cell_start", "cell_id": cell_id}
        events = [start] + [e for c, m in script if c == cell_id for e in events_from_message(c, m)]
        events.append(
            {"type": "cell_end", "cell_id": cell_id, "execution_count": 1, "execution": {"k": "v"}}
        )
        for seq, event in enumerate(events, start=len(journal)):
            live.apply(event)
            journal.append(json.dumps({"seq": seq, **event}))
    recovered = replay(json.loads(line) for line in journal)
    assert recovered.cell_ids() == live.cell_ids() == ["c1", "c2", "c3"]
    for cell_id in live.cell_ids():
        assert recovered.outputs(cell_id) == live.outputs(cell_id)
        assert recovered.execution_count(cell_id) == live.execution_count(cell_id)
        assert recovered.execution_metadata(cell_id) == live.execution_metadata(cell_id)
    assert live.outputs("c1")[0]["text"] == "a\nb"
    assert live.outputs("c1")[1]["data"] == {"text/plain": "q"}
    assert live.outputs("c1")[2] == {"output_type": "stream", "name": "stderr", "text": ""}
    assert_valid(live.outputs(c) for c in live.cell_ids())


# ---------------------------------------------------------------------------------------------
# Golden notebooks: real ipykernel kernels, nbclient's outputs against ours


class LapdClient(NotebookClient):
    """nbclient driving the kernel, every iopub message also fed to an OutputModel."""

    model: OutputModel

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        for event in events_from_message(cell["id"], msg):
            self.model.apply(event)
        return super().process_message(msg, cell, cell_index)


async def run_with_nbclient(sources: list[str]) -> nbformat.NotebookNode:
    nb = make_notebook(sources)
    client = NotebookClient(nb, kernel_name="python3", coalesce_streams=True, allow_errors=True)
    await client.async_execute()
    return nb


async def run_with_lapd(sources: list[str]) -> OutputModel:
    nb = make_notebook(sources)
    client = LapdClient(nb, kernel_name="python3", allow_errors=True)
    client.model = model = OutputModel()
    async with client.async_setup_kernel():
        for index, cell in enumerate(nb.cells):
            model.apply({"type": "cell_start", "cell_id": cell.id})
            await client.async_execute_cell(cell, index)
            execution = dict(cell.metadata.get("execution", {}))
            end = {"type": "cell_end", "cell_id": cell.id, "execution_count": cell.execution_count}
            model.apply({**end, "execution": execution})
    return model


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def normalise(outputs: list[Any]) -> list[dict[str, Any]]:
    """Outputs with nbclient's raw stream text shown as JupyterLab shows it (``\\r``
    applied), and the kernel's pid out of tracebacks."""
    plain: list[dict[str, Any]] = json.loads(json.dumps(outputs))
    for output in plain:
        if output["output_type"] == "stream":
            output["text"] = jupyterlab_stream_text(output["text"])
        if output["output_type"] == "error":
            output["traceback"] = [
                re.sub(r"ipykernel_\d+", "ipykernel_N", _ANSI.sub("", line))
                for line in output["traceback"]
            ]
    return plain


async def run_both(sources: list[str]) -> tuple[nbformat.NotebookNode, OutputModel]:
    nb, model = await asyncio.gather(run_with_nbclient(sources), run_with_lapd(sources))
    assert model.cell_ids() == [cell.id for cell in nb.cells]
    assert_valid(model.outputs(cell.id) for cell in nb.cells)
    for cell in nb.cells:
        assert model.execution_count(cell.id) == cell.execution_count
        assert set(model.execution_metadata(cell.id)) == set(cell.metadata["execution"])
    return nb, model


def cells(*sources: str) -> list[str]:
    return [textwrap.dedent(source).strip() for source in sources]


GOLDEN: dict[str, list[str]] = {
    "clear_output_wait_loop": cells(
        # fastprogress/tqdm.notebook style: redraw a frame in place with clear_output(wait=True)
        r"""
        from IPython.display import HTML, clear_output, display
        for i in range(30):
            clear_output(wait=True)
            display(HTML(f"<progress value='{i}' max='29'></progress> {i}/29"))
            print(f"epoch {i} loss {1 / (i + 1):.4f}")
        """,
        "print('kept')\nclear_output(wait=True)",
        "print('gone')\nclear_output()\nprint('shown')",
    ),
    "display_handles": cells(
        r"""
        from IPython.display import HTML, Markdown, display, update_display
        h = display(Markdown("**first**"), display_id=True)
        print("after the handle")
        """,
        "h.update(Markdown('**second**'))\nprint('updated from cell 2')",
        "_ = display(HTML('<b>reused id</b>'), display_id=h.display_id)",
        r"""
        display("custom", display_id="fixed-id")
        update_display("custom, updated in the same cell", display_id="fixed-id")
        """,
        r"""
        update_display({"text/plain": "raw update"}, raw=True, display_id="fixed-id")
        41 + 1
        """,
    ),
    "carriage_returns": cells(
        r"""
        for i in range(200):
            print(f"\r{i:3d}% [{'#' * (i // 10):<20}]", end="", flush=(i % 7 == 0))
        print()
        """,
        r"""
        import sys
        for i in range(100):
            sys.stderr.write(f"\rtqdm-like {i}/99")
            sys.stderr.flush()
        sys.stderr.write("\n");
        """,
        r"""
        print("abc\r")
        print("crlf\r\nnext")
        print("50%", end="\r")
        """,
        r"""
        print("fragment ends with cr", end="\r", flush=True)
        print("\nafter")
        """,
    ),
    "streams": cells(
        r"""
        import sys
        print("out 1")
        sys.stdout.flush()
        print("err 1", file=sys.stderr)
        sys.stderr.flush()
        """,
        r"""
        for i in range(300):
            print(i, "x" * (i % 50))
            if i % 37 == 0:
                sys.stdout.flush()
        """,
        r"""
        print("héllo wörld — 日本語 🎉 \u200b")
        print("ñ" * 10)
        "ünïcödé ✓"
        """,
        "sys.stdout.write('no newline at the end');",
    ),
    "rich_and_errors": cells(
        f"""
        import base64
        from IPython.display import Image, display
        PNG = "{PNG}"
        display({{"image/png": PNG, "text/plain": "a pixel"}}, raw=True)
        """,
        "Image(data=base64.b64decode(PNG))",
        r"""
        from IPython.display import HTML
        display(HTML("<i>ü</i>"))
        display({"application/json": {"a": [1, 2, {"b": None}]}}, raw=True)
        """,
        "print('before the error')\n1 / 0",
        "def f():\n    raise ValueError('bad ü')\nf()",
        "print('after the errors, still running')",
    ),
}


def text_of(outputs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(o["name"], o["text"]) for o in outputs]


def expect_clear_output_wait_loop(loop: Any, kept: Any, shown: Any) -> None:
    assert [o["output_type"] for o in loop] == ["display_data", "stream"]
    assert loop[0]["data"]["text/html"] == "<progress value='29' max='29'></progress> 29/29"
    assert loop[1]["text"] == "epoch 29 loss 0.0333\n"
    assert text_of(kept) == [("stdout", "kept\n")]
    assert text_of(shown) == [("stdout", "shown\n")]


def expect_display_handles(first: Any, cell2: Any, reused: Any, custom: Any, raw: Any) -> None:
    assert first[0]["data"]["text/html"] == "<b>reused id</b>"  # updated from a later cell
    assert first[1]["text"] == "after the handle\n"
    assert text_of(cell2) == [("stdout", "updated from cell 2\n")]
    assert reused[0]["data"]["text/html"] == "<b>reused id</b>"
    assert custom[0]["data"] == {"text/plain": "raw update"}
    assert raw[0]["data"] == {"text/plain": "42"} and raw[0]["execution_count"] == 5


def expect_carriage_returns(bar: Any, tqdm: Any, crlf: Any, boundary: Any) -> None:
    assert text_of(bar) == [("stdout", f"199% [{'#' * 19:<20}]\n")]
    assert text_of(tqdm) == [("stderr", "tqdm-like 99/99\n")]
    assert text_of(crlf) == [("stdout", "abc\ncrlf\nnext\n50%")]
    assert text_of(boundary) == [("stdout", "fragment ends with cr\nafter\n")]


def expect_streams(interleaved: Any, many: Any, unicode: Any, partial: Any) -> None:
    assert text_of(interleaved) == [("stdout", "out 1\n"), ("stderr", "err 1\n")]
    assert text_of(many) == [("stdout", "".join(f"{i} {'x' * (i % 50)}\n" for i in range(300)))]
    assert unicode[0]["text"] == "héllo wörld — 日本語 🎉 \u200b\n" + "ñ" * 10 + "\n"
    assert unicode[1]["data"]["text/plain"] == "'ünïcödé ✓'"
    assert text_of(partial) == [("stdout", "no newline at the end")]


def expect_rich_and_errors(*cells: Any) -> None:
    raw, image, html_json, stdout_error, error, after = cells
    assert raw[0]["data"] == {"image/png": PNG, "text/plain": "a pixel"}
    assert image[0]["data"]["image/png"] == PNG
    assert html_json[1]["data"] == {"application/json": {"a": [1, 2, {"b": None}]}}
    assert [o["output_type"] for o in stdout_error] == ["stream", "error"]
    assert (error[0]["ename"], error[0]["evalue"]) == ("ValueError", "bad ü")
    assert text_of(after) == [("stdout", "after the errors, still running\n")]


EXPECTED = {
    "clear_output_wait_loop": expect_clear_output_wait_loop,
    "display_handles": expect_display_handles,
    "carriage_returns": expect_carriage_returns,
    "streams": expect_streams,
    "rich_and_errors": expect_rich_and_errors,
}


@pytest.mark.parametrize("name", list(GOLDEN))
async def test_golden_notebook_matches_nbclient(name: str) -> None:
    nb, model = await run_both(GOLDEN[name])
    for cell in nb.cells:
        assert normalise(model.outputs(cell.id)) == normalise(cell.outputs), (name, cell.source)
    # and what both should show, so that a mistake shared by nbclient and us cannot pass
    EXPECTED[name](*(model.outputs(cell.id) for cell in nb.cells))


async def test_golden_intended_differences() -> None:
    """Where we follow JupyterLab's output area rather than nbclient's ``coalesce_streams``.

    1. Streams merge only when consecutive: nbclient moves ``b`` above the display.
    2. Arrival order is kept: nbclient swaps a stderr output with the stdout right after it.
    3. ``\\b`` is applied: nbclient's backspace loop never runs (its condition compares a
       string's length with itself), so it saves the raw backspaces.
    """
    sources = [
        "import sys\nfrom IPython.display import display\nprint('a')\ndisplay('between')\nprint('b')",
        "print('err first', file=sys.stderr)\nsys.stderr.flush()\nprint('out second')",
        "print('abc\\b\\bX')",
    ]
    nb, model = await run_both(sources)
    merged, swapped, backspaced = (cell.outputs for cell in nb.cells)
    split, ordered, applied = (model.outputs(cell.id) for cell in nb.cells)
    assert [(o["output_type"], o.get("text")) for o in merged] == [
        ("stream", "a\nb\n"),
        ("display_data", None),
    ]
    assert [(o["output_type"], o.get("text")) for o in split] == [
        ("stream", "a\n"),
        ("display_data", None),
        ("stream", "b\n"),
    ]
    assert [o["name"] for o in swapped] == ["stdout", "stderr"]
    assert [(o["name"], o["text"]) for o in ordered] == [
        ("stderr", "err first\n"),
        ("stdout", "out second\n"),
    ]
    assert backspaced[0]["text"] == "abc\b\bX\n"
    assert applied[0]["text"] == "aX\n"


# ---------------------------------------------------------------------------------------------
# max_output_bytes: a bounded head and tail of a giant stream


def bounded(limit: int, fragments: Iterable[str], run_id: str | None = "r1") -> OutputModel:
    model = OutputModel(max_output_bytes=limit, run_id=run_id)
    for fragment in fragments:
        model.apply({"type": "output", "cell_id": "c", "output": stdout(fragment)})
    return model


def test_a_bounded_stream_keeps_head_and_tail_and_says_what_it_elided() -> None:
    lines = [f"line {i:05d}\n" for i in range(10_000)]  # 11 bytes each
    model = bounded(1_000, lines)
    [output] = model.outputs("c")
    text = output["text"]
    head, marker, tail = re.split(r"(\n\.\.\. \[jupyter_lapd: .*\] \.\.\.\n\n)", text)
    assert "".join(lines).startswith(head) and head.endswith("\n") and len(head) <= 500
    assert "".join(lines).endswith(tail) and len(tail) <= 500 and tail.startswith("line ")
    elided = int(re.search(r"([\d,]+) bytes elided", marker)[1].replace(",", ""))  # type: ignore[index]
    assert elided == len("".join(lines)) - len(head) - len(tail)
    assert "`jupyter lapd logs r1` prints everything" in marker
    assert_valid([model.outputs("c")])
    # the limit is per output: a stderr output after it starts afresh
    model.apply({"type": "output", "cell_id": "c", "output": stdout("err\n") | {"name": "stderr"}})
    assert model.outputs("c")[1]["text"] == "err\n"


def test_a_stream_under_the_limit_is_untouched_and_none_means_unbounded() -> None:
    lines = [f"{i}\n" for i in range(1000)]
    assert bounded(10_000, lines).outputs("c")[0]["text"] == "".join(lines)
    assert stream_text(lines * 50) == "".join(lines * 50)  # OutputModel() keeps everything
    events = [{"type": "output", "cell_id": "c", "output": stdout("x" * 99 + "\n")}] * 30_000
    assert len(replay(events, max_output_bytes=None).outputs("c")[0]["text"]) == 3_000_000
    bounded_text = replay(events).outputs("c")[0]["text"]  # the file's bound by default
    assert "bytes elided" in bounded_text and len(bounded_text) < 2_200_000


def test_elided_bytes_are_counted_in_utf8() -> None:
    lines = ["é" * 9 + "\n"] * 1000  # 10 characters, 19 bytes a line
    text = bounded(200, lines).outputs("c")[0]["text"]
    head, _, tail = text.partition("\n... [")
    kept = head.count("\n") + tail.count("é\n")
    elided = int(re.search(r"([\d,]+) bytes elided", text)[1].replace(",", ""))  # type: ignore[index]
    assert elided == (1000 - kept) * 19


def test_a_bounded_stream_keeps_progress_semantics() -> None:
    fragments = [f"log {i}\n" for i in range(5000)]
    fragments += [f"\r{i}/100 |{'#' * (i // 5):<20}|" for i in range(101)] + ["\n", "done\n"]
    text = bounded(2_000, fragments).outputs("c")[0]["text"]
    assert text.endswith("\n100/100 |####################|\ndone\n")
    assert "\r" not in text and "bytes elided" in text


def test_one_fragment_larger_than_the_limit_and_an_endless_line() -> None:
    big = "".join(f"{i:09d}\n" for i in range(100_000))  # 1 MB in one message
    text = bounded(10_000, ["start\n", big, "end\n"]).outputs("c")[0]["text"]
    assert text.startswith("start\n") and text.endswith("000099999\nend\n")
    assert len(text) < 10_200 and "bytes elided" in text
    endless = bounded(10_000, ["x" * 1000] * 1000).outputs("c")[0]["text"]  # no newline at all
    assert len(endless) < 10_200 and "bytes elided" in endless
    assert_valid([[{"output_type": "stream", "name": "stdout", "text": endless}]])


def test_a_gigantic_stream_costs_bounded_memory() -> None:
    """50 MB through a model bounded at 256 KiB: memory stays near the bound (tracemalloc,
    so the check does not depend on the machine's speed)."""
    block = "".join(f"{i:07d} of a long log, keep going\n" for i in range(2_000))  # ~64 KB
    model = OutputModel(max_output_bytes=256 * 1024)
    tracemalloc.start()
    try:
        for _ in range(800):
            model.apply({"type": "output", "cell_id": "c", "output": stdout(block)})
            model.outputs("c")  # the writer materialises it now and then
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, peak
    text = model.outputs("c")[0]["text"]
    assert len(text) <= 256 * 1024 + 200 and text.endswith(block[-100:])
