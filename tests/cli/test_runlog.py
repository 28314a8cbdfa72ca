"""A run's log from its journal, a page at a time: the same text as its final outputs."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest

import jupyter_lapd.journal.store
from jupyter_lapd.cli.render import Glyphs, LogWriter
from jupyter_lapd.cli.runlog import write_log
from jupyter_lapd.journal.store import Store
from jupyter_lapd.journal.streamfiles import FILE_TEXT_CHARS
from jupyter_lapd.outputs.model import replay

RUN = "r" * 32


def stream(cell: str, text: str, name: str = "stdout") -> dict[str, Any]:
    return {
        "type": "output",
        "cell_id": cell,
        "output": {"output_type": "stream", "name": name, "text": text},
    }


def display(
    cell: str, value: str, display_id: str | None = None, kind: str = "output"
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": kind,
        "cell_id": cell,
        "output": {"output_type": "display_data", "data": {"text/plain": value}, "metadata": {}},
    }
    if display_id:
        event["display_id"] = display_id
    return event


def logs_alike(tmp_path, events: list[dict[str, Any]], cells: list[dict[str, Any]]) -> None:
    """``write_log`` prints what the snapshot of the run's final outputs prints."""
    store = Store(str(tmp_path / f"lapd-{random.random()}.db"))
    try:
        numbered = [{**event, "seq": seq} for seq, event in enumerate(events, start=1)]
        store.append_events(RUN, numbered)
        run = {"id": RUN, "cells": cells}
        model = replay(store.read_events(RUN), max_output_bytes=None)
        expected, got = io.StringIO(), io.StringIO()
        LogWriter(expected, True, Glyphs(expected)).snapshot(
            run, {c: model.outputs(c) for c in model.cell_ids()}
        )
        write_log(LogWriter(got, True, Glyphs(got)), run, store)
        assert got.getvalue() == expected.getvalue()
    finally:
        store.close()


def cell(cell_id: str, status: str = "done", count: int | None = 1) -> dict[str, Any]:
    return {"id": cell_id, "status": status, "execution_count": count}


def test_the_log_shows_each_cells_final_outputs(tmp_path, monkeypatch):
    monkeypatch.setattr(jupyter_lapd.journal.store, "PAGE_BYTES", 64)  # many small pages
    events = [
        {"type": "cell_start", "cell_id": "a"},
        stream("a", "lo"),
        stream("a", "ad\rdone\n"),
        stream("a", "warn\n", "stderr"),
        stream("a", "more\x1b[31m red\x1b[0m\n"),
        display("a", "v1", "d1"),
        stream("a", "gone"),
        {"type": "clear_output", "cell_id": "a", "wait": True},
        {"type": "clear_output", "cell_id": "a", "wait": True},
        stream("a", "after the clear\n" + "x" * (FILE_TEXT_CHARS + 10) + "\nend"),
        display("a", "v1 again", "d1"),
        {"type": "cell_end", "cell_id": "a", "status": "done", "execution_count": 1},
        {"type": "cell_start", "cell_id": "b"},
        display("b", "before the clear"),
        {"type": "clear_output", "cell_id": "b"},
        display("b", "v2", "d1"),
        display("b", "v3", "d1", kind="update_display"),
        stream("b", "50%\r100%\b\b\n"),
        {"type": "cell_end", "cell_id": "b", "status": "error", "execution_count": 2},
    ]
    cells = [cell("a"), cell("b", "error", 2), cell("c", "skipped", None), cell("d", "done", 3)]
    logs_alike(tmp_path, events, cells)


def test_the_log_of_random_runs_is_the_snapshots(tmp_path, monkeypatch):
    monkeypatch.setattr(jupyter_lapd.journal.store, "PAGE_BYTES", 100)
    rng = random.Random(seed := random.randrange(10**6))
    print(f"seed {seed}")
    pieces = [
        "a",
        "b\n",
        "\r",
        "\b",
        "\n",
        "line\n",
        "x" * 50,
        "y\r\n",
        "z" * (FILE_TEXT_CHARS + 1),
    ]
    for _ in range(30):
        ids = [f"c{i}" for i in range(rng.randint(1, 4))]
        events: list[dict[str, Any]] = []
        for cell_id in ids:
            events.append({"type": "cell_start", "cell_id": cell_id})
            for _ in range(rng.randint(0, 12)):
                kind = rng.choice(
                    ["out", "out", "out", "err", "display", "update", "clear", "wait"]
                )
                if kind in ("out", "err"):
                    text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 4)))
                    events.append(stream(cell_id, text, "stdout" if kind == "out" else "stderr"))
                elif kind == "display":
                    events.append(
                        display(cell_id, str(rng.random()), rng.choice([None, "d1", "d2"]))
                    )
                elif kind == "update":
                    events.append(
                        display(
                            cell_id, str(rng.random()), rng.choice(["d1", "d2"]), "update_display"
                        )
                    )
                else:
                    events.append(
                        {"type": "clear_output", "cell_id": cell_id, "wait": kind == "wait"}
                    )
            events.append(
                {"type": "cell_end", "cell_id": cell_id, "status": "done", "execution_count": 1}
            )
        statuses = [rng.choice(["done", "error", "skipped", "queued"]) for _ in ids]
        logs_alike(tmp_path, events, [cell(c, s) for c, s in zip(ids, statuses, strict=True)])


@pytest.mark.parametrize("budget", [1, 100, 10**9])
def test_pages_hold_every_event_once_in_order(tmp_path, budget):
    store = Store(str(tmp_path / "lapd.db"))
    try:
        texts = ["short", "x" * (FILE_TEXT_CHARS + 5), "", "tail\n"]
        store.append_events(RUN, [{**stream("a", t), "seq": i} for i, t in enumerate(texts, 1)])
        pages, since = [], 0
        while page := store.read_page(RUN, since, budget=budget):
            pages.append(page)
            since = page[-1]["seq"]
        assert [e for page in pages for e in page] == store.read_events(RUN)
        assert (
            len(pages) == 4
            if budget == 1
            else len(pages) == 1
            if budget > 10**6
            else len(pages) > 1
        )
        bare = list(store.events(RUN, texts=False))
        assert [e["output"]["text"] for e in bare] == [""] * 4
    finally:
        store.close()
