"""A run event as a row of the journal, and back: the JSON, and a stream's text apart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .streamfiles import Span, StreamFiles


def journal_columns(event: dict[str, Any]) -> tuple[str, str | None]:
    """An event as the journal stores it: its JSON, and apart from it a stream's text.

    A kernel printing as fast as it can sends ~100 MB/s of stream text. Escaping it into
    JSON holds the GIL for about 0.1 ms per 64 KiB message, time the event loop then
    lacks to read the kernel's next messages, and ZeroMQ drops what it cannot queue; as
    a column of its own the text goes to SQLite as it is.
    """
    output = event.get("output")
    if isinstance(output, dict) and isinstance(output.get("text"), str):
        rest = {**event, "output": {k: v for k, v in output.items() if k != "text"}}
        return json.dumps(rest), output["text"]
    return json.dumps(event), None


def journal_events(
    rows: Sequence[tuple[str, str | None, int | None, int | None]],
    streams: StreamFiles,
    run_id: str,
) -> list[dict[str, Any]]:
    """The events of a run's journal rows (``_JOURNAL_COLUMNS``), long texts read back from
    the run's stream file."""
    spans: list[Span] = [(at, n or 0) for _, _, at, n in rows if at is not None]
    long_texts = iter(streams.read(run_id, spans))
    return [
        journal_event(event, next(long_texts) if at is not None else text)
        for event, text, at, _ in rows
    ]


def journal_event(event: str, text: str | None) -> dict[str, Any]:
    """The event stored as ``journal_columns`` split it."""
    parsed: dict[str, Any] = json.loads(event)
    if text is not None:
        parsed["output"]["text"] = text
    return parsed
