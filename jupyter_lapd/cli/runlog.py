"""A finished run's log printed from its journal in bounded memory, whatever it printed.

``jupyter lapd logs`` prints each cell's final outputs whole (unlike the notebook, which
keeps a head and a tail of a long stream). Replaying the journal into an unbounded
``OutputModel`` held every byte at once: a run that printed a gigabyte needed a gigabyte.
Here the journal is read twice, a page at a time: first without stream text, to learn
which outputs survive to the end (the last clear of each cell) and the final data of each
display id; then with it, writing each surviving output as it comes, a stream's completed
lines as soon as they are final (``StreamOutput.drain``). The text is the same as the
snapshot's; memory holds a page of the journal and one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..journal.store import Store
from ..outputs.streams import StreamOutput
from .render import LogWriter, Run

Event = Mapping[str, Any]


@dataclass
class _Survivors:
    """What the first pass learns: per cell, the seq after which its outputs survive and
    whether any do; per display id, the seq and data of its last update."""

    reset: dict[str, int] = field(default_factory=dict)
    last_output: dict[str, int] = field(default_factory=dict)
    displays: dict[str, tuple[int, Any, Any]] = field(default_factory=dict)

    def survives(self, cell_id: str, seq: int) -> bool:
        return seq > self.reset.get(cell_id, 0)

    def shows(self, cell_id: str) -> bool:
        return self.last_output.get(cell_id, 0) > self.reset.get(cell_id, 0)


def _survivors(events: Iterable[Event]) -> _Survivors:
    """The outputs left at the end, by the rules of ``OutputModel``: a cell's start and a
    ``clear_output`` empty it, ``clear_output(wait=True)`` at the next output."""
    found = _Survivors()
    waiting: set[str] = set()
    for event in events:
        kind, cell_id, seq = event.get("type"), event.get("cell_id"), int(event["seq"])
        display_id = event.get("display_id")
        if kind in ("output", "update_display") and isinstance(display_id, str) and display_id:
            output = event.get("output") or {}
            found.displays[display_id] = (seq, output.get("data"), output.get("metadata"))
        if not isinstance(cell_id, str):
            continue
        if kind == "cell_start" or (kind == "clear_output" and not event.get("wait")):
            found.reset[cell_id] = seq
            waiting.discard(cell_id)
        elif kind == "clear_output":
            waiting.add(cell_id)
        elif kind == "output":
            if cell_id in waiting:
                found.reset[cell_id] = seq - 1
                waiting.discard(cell_id)
            found.last_output[cell_id] = seq
    return found


class _Printer:
    """The second pass: each surviving output written as it comes, cells in run order."""

    def __init__(self, writer: LogWriter, run: Run, survivors: _Survivors) -> None:
        self.writer, self.survivors = writer, survivors
        self.cells: list[Mapping[str, Any]] = list(run.get("cells") or [])
        self.positions = {str(cell["id"]): i for i, cell in enumerate(self.cells)}
        self.next = 0  # the first cell of the run whose header is not written yet
        self.current: str | None = None
        self.stream: StreamOutput | None = None

    def event(self, event: Event) -> None:
        cell_id = event.get("cell_id")
        if event.get("type") != "output" or not isinstance(cell_id, str):
            return
        if not self.survivors.survives(cell_id, int(event["seq"])):
            return
        if cell_id != self.current:
            position = self.positions.get(cell_id)
            if position is None:
                return  # not a cell of the run (a snapshot lists only those)
            if position < self.next:  # back to a cell already headed: under its header
                self.end_stream()
                self.current = cell_id
            else:
                self.headers_to(cell_id)
        output = dict(event["output"])
        if output.get("output_type") == "stream":
            name = str(output.get("name", "stdout"))
            if self.stream is None or self.stream.name != name:
                self.end_stream()
                self.stream = StreamOutput(name)
            self.stream.append(str(output.get("text", "")))
            self._text(self.stream.drain())
            return
        self.end_stream()
        display_id = event.get("display_id")
        last = self.survivors.displays.get(display_id) if isinstance(display_id, str) else None
        if last is not None and last[0] > int(event["seq"]):
            output["data"], output["metadata"] = last[1], last[2]
        self.writer.output(output)

    def headers_to(self, cell_id: str | None) -> None:
        """Headers of the cells up to ``cell_id`` (all of them with None), as a snapshot
        shows them: a queued or skipped cell only if it has outputs."""
        self.end_stream()
        while self.next < len(self.cells):
            cell = self.cells[self.next]
            self.next += 1
            shown = self.survivors.shows(str(cell["id"]))
            if cell["status"] not in ("queued", "skipped") or shown:
                self.writer.cell(cell)
            if cell["id"] == cell_id:
                break
        self.current = cell_id

    def end_stream(self) -> None:
        if self.stream is not None:
            self._text(self.stream.text())
            self.stream = None

    def _text(self, text: str) -> None:
        if text:
            self.writer.output({"output_type": "stream", "text": text})


def write_log(writer: LogWriter, run: Run, store: Store) -> None:
    """Write the log of ``run`` (with its cells) from its journal in ``store``."""
    run_id = str(run["id"])
    printer = _Printer(writer, run, _survivors(store.events(run_id, texts=False)))
    writer.begin(run)
    for event in store.events(run_id):
        printer.event(event)
    printer.headers_to(None)
