"""Executor: a cell whose kernel dropped its idle message ends, and says output was lost."""

from __future__ import annotations

from queue import Empty
from typing import Any

import nbformat

from jupyter_lapd import executor


class _SilentChannel:
    """An iopub channel on which nothing more arrives (the kernel dropped the rest)."""

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        raise Empty


class _Client:
    iopub_channel = _SilentChannel()


async def test_silence_after_the_reply_ends_the_cell_with_a_note(monkeypatch):
    monkeypatch.setattr(executor, "IOPUB_SILENCE", 0.01)
    sunk: list[dict[str, Any]] = []
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('a' * 10**9)")])
    client = executor._StreamingClient(nb, sunk.append)
    client.kc = _Client()
    cell = nb.cells[0]
    cell.metadata["execution"] = {"shell.execute_reply": "2026-01-01T00:00:00Z"}  # reply in
    await client._async_poll_output_msg("parent", cell, 0)
    [note] = sunk
    assert note["content"]["name"] == "stderr"
    assert "output of this cell was lost" in note["content"]["text"]
    events = executor_events(note)
    assert events[0]["output"]["text"].startswith("jupyter_lapd: ")


def executor_events(msg: dict[str, Any]) -> list[dict[str, Any]]:
    from jupyter_lapd.outputs import events_from_message

    return events_from_message("c0", msg)
