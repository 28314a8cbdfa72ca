"""Kernel iopub messages as a run reads them: queued stream messages joined, the note for
a cell whose messages the kernel dropped, and when each was sent."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

# Characters of consecutive stream output read in one step that are joined into one
# message at most (see ``coalesced``).
COALESCE_CHARS = 1024 * 1024


def coalesced(messages: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """``messages`` with each run of consecutive stream messages of one request and one
    stream (stdout, stderr) joined into one, up to ``COALESCE_CHARS``.

    Only a reader that has fallen behind finds several queued at once (a kernel printing
    flat out sends a 64 KiB message every ~0.5 ms): each message becomes an event, a
    journal row and a step of the model, and joining them lets the run catch up instead
    of the kernel dropping what it cannot queue. What the notebook, the journal and a
    subscriber end up with is the same text. The messages given are never modified.
    """
    held: dict[str, Any] | None = None
    texts: list[str] = []
    size = 0
    for msg in messages:
        if held is not None and _same_stream(held, msg) and size < COALESCE_CHARS:
            text = msg["content"]["text"]
            texts.append(text)
            size += len(text)
            continue
        if held is not None:
            yield _joined(held, texts)
            held = None
        if _is_stream(msg):
            held, texts = msg, [msg["content"]["text"]]
            size = len(texts[0])
        else:
            yield msg
    if held is not None:
        yield _joined(held, texts)


def _is_stream(msg: dict[str, Any]) -> bool:
    return msg.get("msg_type") == "stream" and isinstance(msg["content"].get("text"), str)


def _same_stream(held: dict[str, Any], msg: dict[str, Any]) -> bool:
    return (
        _is_stream(msg)
        and msg["content"].get("name") == held["content"].get("name")
        and msg.get("parent_header", {}).get("msg_id")
        == held.get("parent_header", {}).get("msg_id")
    )


def _joined(first: dict[str, Any], texts: list[str]) -> dict[str, Any]:
    if len(texts) == 1:
        return first
    return {**first, "content": {**first["content"], "text": "".join(texts)}}


# Put in a cell whose ``idle`` message never came although later ones did (the answer to
# a request sent after the cell's reply, or the next cell's output): the kernel publishes
# in order and always ends a request with ``idle``, so messages were dropped. Nothing
# weaker is taken for a loss: the numbers in message ids have gaps and come out of order
# in every ordinary cell (a message is numbered when it is made, not when it is sent, and
# replies to other clients on other channels take numbers too).
LOST_NOTE: dict[str, Any] = {
    "msg_type": "stream",
    "header": {"msg_type": "stream"},
    "content": {
        "name": "stderr",
        "text": "jupyter_lapd: some output of this cell was lost: the kernel printed faster "
        "than it could be read and dropped messages (ZeroMQ's high-water mark)\n",
    },
}


def sent_at(msg: dict[str, Any]) -> float | None:
    """When the kernel sent ``msg``, on this process's monotonic clock (None: unknown).

    The file is to hold output within the flush interval of its printing: when the run
    reads a kernel's burst late, the writer counts from the message's own date (a kernel
    whose clock runs ahead counts as sending now; the writer keeps its writes spaced
    however old a message looks).
    """
    date = msg.get("header", {}).get("date")
    if not isinstance(date, datetime) or date.tzinfo is None:
        return None
    age = time.time() - date.timestamp()
    return time.monotonic() - max(age, 0.0)


Unpack = Callable[[Any], Any]

# The keys of every message header (the messaging protocol's): a dict unpacked with all of
# them is a header or a parent header, never a message's content or metadata.
_HEADER_KEYS = frozenset({"msg_id", "msg_type", "session", "date"})


def dating_headers(unpack: Unpack) -> Unpack:
    """``unpack`` (a jupyter_client ``Session``'s), turning a header's ``date`` into the
    time-zoned datetime that ``Session.deserialize`` would make of it.

    ``deserialize`` passes each header through jupyter_client's ``extract_dates``, which
    parses its date with dateutil: ~9 of the ~25 µs a small message costs to read, as much
    for each 64 KiB block of a kernel printing flat out. A date already parsed is left as
    it is there; anything this does not parse (no time zone, another format) is still
    parsed there, as before.
    """

    def unpack_dated(data: Any) -> Any:
        obj = unpack(data)
        if type(obj) is dict and obj.keys() >= _HEADER_KEYS and isinstance(obj["date"], str):
            date = _aware_date(obj["date"])
            if date is not None:
                obj["date"] = date
        return obj

    return unpack_dated


def _aware_date(text: str) -> datetime | None:
    try:  # Python 3.10's fromisoformat does not read a trailing Z
        date = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    return date if date.tzinfo is not None else None
