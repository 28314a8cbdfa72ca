"""NotebookWriter: merges a run's cells into the .ipynb on disk, atomically and throttled."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol, cast

import nbformat

from .models import isoformat
from .nbfile import (
    NBFORMAT_VERSION,
    FileImage,
    atomic_write,
    cell_json,
    file_key,
    file_pieces,
    frame_json,
    parse_notebook,
)
from .outputs import OutputModel

__all__ = [
    "NBFORMAT_VERSION",
    "CellState",
    "Destination",
    "FileImage",
    "NotebookWriter",
    "Route",
    "WriteResult",
    "cell_states",
    "merge_cells",
    "note_output",
    "read_notebook",
    "serialize",
    "write_cells",
    "write_notebook",
]


@dataclass
class CellState:
    """What a run owns in one cell: everything else in the file belongs to the user.

    ``version`` is the OutputModel's version of the cell (None: unknown), so that a writer
    can skip re-serialising a cell that has not changed since its last write.
    """

    outputs: list[dict[str, Any]]
    execution_count: int | None
    execution: dict[str, Any]
    version: int | None = None
    running: bool = False  # the kernel is executing it (a shared document shows it so)


@dataclass
class WriteResult:
    last_modified: str
    hash: str
    missing: set[str]
    present: set[str]
    seconds: float
    size: int
    read_seconds: float = 0.0  # of ``seconds``, re-reading the file (after someone else's save)
    destination: str = "file"  # or where a Destination put it ("shared_document", "contents")


def cell_states(model: OutputModel) -> dict[str, CellState]:
    """What the run owns in each cell it has touched, as the file must hold it."""
    return {
        cell_id: CellState(
            outputs=model.outputs(cell_id),
            execution_count=model.execution_count(cell_id),
            execution=model.execution_metadata(cell_id),
            version=model.version(cell_id),
            running=model.running(cell_id),
        )
        for cell_id in model.cell_ids()
    }


def note_output(text: str) -> dict[str, Any]:
    """A line on stderr in a cell, saying what happened to the run there and when."""
    return {"output_type": "stream", "name": "stderr", "text": f"jupyter_lapd: {text}\n"}


def read_notebook(os_path: str) -> nbformat.NotebookNode:
    with open(os_path, encoding="utf-8") as f:
        return cast(nbformat.NotebookNode, nbformat.read(f, as_version=NBFORMAT_VERSION))


def _merged(cell: nbformat.NotebookNode, state: CellState) -> nbformat.NotebookNode:
    """A copy of ``cell`` holding the run's outputs, count and timing."""
    merged = nbformat.NotebookNode(cell)
    merged.outputs = [nbformat.from_dict(o) for o in state.outputs]
    merged.execution_count = state.execution_count
    merged.metadata = nbformat.NotebookNode(cell.get("metadata", {}))
    if state.execution:
        merged.metadata["execution"] = dict(state.execution)
    else:
        merged.metadata.pop("execution", None)
    return merged


def merge_cells(nb: nbformat.NotebookNode, cells: dict[str, CellState]) -> set[str]:
    """Replace the run-owned fields of ``cells`` in ``nb``; return ids no longer in it."""
    index = {cell.get("id"): i for i, cell in enumerate(nb.cells)}
    missing = set()
    for cell_id, state in cells.items():
        i = index.get(cell_id)
        if i is None or nb.cells[i].get("cell_type") != "code":
            missing.add(cell_id)
            continue
        nb.cells[i] = _merged(nb.cells[i], state)
    return missing


def serialize(nb: nbformat.NotebookNode) -> bytes:
    """The bytes Jupyter itself would save, refusing a notebook that does not validate."""
    nbformat.validate(nb)  # raises: an invalid notebook never reaches the disk
    text: str = nbformat.v4.writes_json(nb)
    return (text if text.endswith("\n") else text + "\n").encode("utf-8")


def _atomic_write(os_path: str, pieces: Iterable[bytes]) -> tuple[tuple[int, int, int], str, int]:
    """Every write of the file goes through here (tests inject disk faults at this seam)."""
    return atomic_write(os_path, pieces)


def write_notebook(os_path: str, nb: nbformat.NotebookNode) -> None:
    _atomic_write(os_path, [serialize(nb)])


def _prepare(
    os_path: str, cells: dict[str, CellState], image: FileImage
) -> tuple[FileImage, set[str], bool]:
    """The file to write, as a new image: the current one (re-read if someone else wrote
    the file since) with the run's changed cells merged, validated and serialised."""
    key = file_key(os.stat(os_path))
    fresh = not image.matches(os_path, key)
    if not fresh:
        assert image.nb is not None
        nb = nbformat.NotebookNode(image.nb)
        nb.cells = list(image.nb.cells)
        serialized: list[bytes | None] = list(image.cells)
        versions, frame = dict(image.versions), image.frame
    else:
        with open(os_path, encoding="utf-8") as f:
            nb = parse_notebook(f.read())  # validates: a user's invalid save is not built on
        serialized, versions, frame = [None] * len(nb.cells), {}, frame_json(nb)
    index = {cell.get("id"): i for i, cell in enumerate(nb.cells)}
    minor = nb.get("nbformat_minor", 5)
    missing = set()
    changed: list[nbformat.NotebookNode] = []
    for cell_id, state in cells.items():
        i = index.get(cell_id)
        if i is None or nb.cells[i].cell_type != "code":
            missing.add(cell_id)
            continue
        unchanged = state.version is not None and versions.get(cell_id) == state.version
        if unchanged and serialized[i] is not None:
            continue
        nb.cells[i] = _merged(nb.cells[i], state)
        changed.append(nb.cells[i])
        serialized[i] = None
        if state.version is not None:
            versions[cell_id] = state.version
        else:
            versions.pop(cell_id, None)
    if changed:
        # Raises: an invalid notebook never reaches the disk (the rest was valid when
        # read). The changed cells go through nbformat's cached whole-notebook validator
        # in one call: cell by cell (ref="code_cell") takes jsonschema's path, ~10x slower.
        part = {"cells": changed, "metadata": nb.metadata, "nbformat": NBFORMAT_VERSION}
        nbformat.validate(nbformat.from_dict({**part, "nbformat_minor": minor}))
    done = [
        piece if piece is not None else cell_json(cell)
        for piece, cell in zip(serialized, nb.cells, strict=True)
    ]
    return FileImage(os_path, key, nb, done, frame, versions), missing, fresh


def write_cells(
    os_path: str, cells: dict[str, CellState], image: FileImage | None = None
) -> WriteResult:
    """Re-read the notebook, merge the run's cells by id, and replace the file atomically.

    If the file changes while the merged copy is being prepared (a user's save), the merge
    is redone on the new content, so the user's edit is neither lost nor overwritten.
    With an ``image`` (the writer's memory of its last write, updated here), a file that
    nobody else wrote since is not re-read, and unchanged cells are not re-serialised.
    """
    started = time.monotonic()
    image = image if image is not None else FileImage()
    read_seconds = 0.0
    for _attempt in range(3):
        preparing = time.monotonic()
        new, missing, fresh = _prepare(os_path, cells, image)
        if fresh:
            read_seconds += time.monotonic() - preparing
        if file_key(os.stat(os_path)) == new.key:
            break
    key, digest, size = _atomic_write(os_path, file_pieces(new.frame[0], new.cells, new.frame[1]))
    image.path, image.key, image.nb = new.path, key, new.nb
    image.cells, image.frame, image.versions = new.cells, new.frame, new.versions
    modified = datetime.fromtimestamp(key[2] / 1e9, tz=timezone.utc)
    assert new.nb is not None
    return WriteResult(
        last_modified=isoformat(modified) or "",
        hash=digest,
        missing=missing,
        present={c.get("id") for c in new.nb.cells if c.cell_type == "code"},
        seconds=time.monotonic() - started,
        size=size,
        read_seconds=read_seconds,
    )


Snapshot = Callable[[], tuple[int, dict[str, CellState]]]
OnWritten = Callable[[int, WriteResult], None]


class Destination(Protocol):
    """Somewhere a write must go instead of straight to the file.

    The notebook is sometimes owned by another layer of the server: a collaborative room
    whose shared document saves the file itself, or a contents manager that keeps a paired
    text file in step. The writer asks its route before every write (see destinations.py).
    """

    #: how stale this destination may get, in seconds, before the writer updates it
    interval: float
    #: identifies what is written to (None: nothing kept); while it stays the same, the
    #: writer passes only the cells that changed since its last write there
    key: object | None

    async def write(self, cells: dict[str, CellState]) -> WriteResult: ...


Route = Callable[[str], Awaitable["Destination | None"]]  # given the notebook's API path


class NotebookWriter:
    """Keeps one notebook file in step with a run, never more often than the file can bear.

    ``mark_dirty`` is cheap and called on every event. No output waits more than
    ``interval`` seconds to reach the file: a write is started early enough (by the last
    write's duration, plus a tenth of the interval) to land before that. The interval grows
    to ``cost_factor`` times the duration of the last write, so that writing a big
    notebook stays a small share of the run; a cell's end (``urgent``) writes as soon as
    that budget allows. The merge and the disk I/O run in a worker thread, off the
    server's event loop, and re-serialise only what changed since the last write.
    """

    def __init__(
        self,
        os_path: str,
        snapshot: Snapshot,
        on_written: OnWritten,
        flush_interval: float = 1.0,
        cost_factor: float = 20.0,
        log: logging.Logger | None = None,
        route: Callable[[], Awaitable[Destination | None]] | None = None,
    ) -> None:
        self.os_path = os_path
        self._route = route
        self._destination_interval: float | None = None  # set while a Destination has it
        self._destination_key: object | None = None
        self._sent: dict[str, int | None] = {}  # cell versions the destination holds
        self._snapshot = snapshot
        self._on_written = on_written
        self.flush_interval = flush_interval
        self.cost_factor = cost_factor
        self._log = log or logging.getLogger(__name__)
        self._last_write = 0.0  # when the last write ended (monotonic)
        self._last_cost = 0.0
        self._dirty = False
        self._dirty_since = 0.0  # when the oldest change not in the file happened
        self._urgent = False
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._image = FileImage()
        self.writes = 0
        self.bytes_written = 0
        self.error: Exception | None = None

    @property
    def written_mtime_ns(self) -> int | None:
        """The mtime of the file as this writer last wrote it (set in the worker thread,
        right after the rename, before the loop hears that the write is done)."""
        key = self._image.key
        return key[2] if key is not None else None

    @property
    def interval(self) -> float:
        if self._destination_interval is not None:
            return max(self._destination_interval, self.cost_factor * self._last_cost)
        return max(self.flush_interval, self.cost_factor * self._last_cost)

    def start(self) -> None:
        # the first cell's end waits the urgent gap too, so a burst of short cells coalesces
        self._last_write = time.monotonic()
        self._task = asyncio.create_task(self._loop(), name=f"lapd-writer:{self.os_path}")

    def mark_dirty(self, urgent: bool = False, since: float | None = None) -> None:
        """A change the file does not hold yet; ``since``: when it happened (monotonic
        clock), if before now: output the kernel sent a while before it was read."""
        # Called for every output: wake the loop only when its schedule changes (clean to
        # dirty, an older change, or a cell's end making the write urgent), not thousands
        # of times a second.
        now = time.monotonic()
        since = now if since is None else min(since, now)
        if not self._dirty:
            self._dirty = True
            self._dirty_since = since
            self._wake.set()
        elif since < self._dirty_since:
            self._dirty_since = since
            self._wake.set()
        if urgent and not self._urgent:
            self._urgent = True
            self._wake.set()

    async def close(self) -> None:
        """Write whatever is still pending, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def write_now(self) -> WriteResult | None:
        upto, cells = self._snapshot()
        self._dirty = self._urgent = False
        try:
            destination = await self._route() if self._route is not None else None
            if destination is None:
                self._destination_interval = self._destination_key = None
                result = await asyncio.to_thread(write_cells, self.os_path, cells, self._image)
            else:
                self._destination_interval = destination.interval
                self._image = FileImage()  # someone else writes the file meanwhile
                changed = self._changed_for(destination, cells)
                result = await destination.write(changed)
                if destination.key is not None:
                    self._sent.update((cid, state.version) for cid, state in changed.items())
        except Exception as e:
            self.error = e
            self._image = FileImage()  # whatever happened, read the file afresh next time
            self._log.error("jupyter_lapd: could not write %s: %s", self.os_path, e)
            return None
        self.error = None
        self._last_write = time.monotonic()
        # what the next write will cost: a re-read (after someone else's save) is one-off
        self._last_cost = result.seconds - result.read_seconds
        self.writes += 1
        self.bytes_written += result.size
        self._on_written(upto, result)
        return result

    def _changed_for(
        self, destination: Destination, cells: dict[str, CellState]
    ) -> dict[str, CellState]:
        key = destination.key
        if key is None or key != self._destination_key:
            self._destination_key, self._sent = key, {}
        changed = {
            cell_id: state
            for cell_id, state in cells.items()
            if state.version is None or self._sent.get(cell_id) != state.version
        }
        return changed

    def _due(self) -> float:
        # land the write before the oldest unwritten change is `interval` old
        due = self._dirty_since + 0.9 * self.interval - self._last_cost
        if self._urgent:
            # a cell's end goes out promptly, yet a burst of short cells still coalesces
            gap = max(self.flush_interval / 4, self.cost_factor * self._last_cost)
            due = min(due, self._last_write + gap)
        # however old the change (a reader behind a kernel's burst), writing stays a small
        # share of the run: the writes are spaced by many times what one costs
        return max(due, self._last_write + 0.8 * self.cost_factor * self._last_cost)

    async def _loop(self) -> None:
        while True:
            if not self._dirty:
                if self._closing:
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            delay = self._due() - time.monotonic()
            if delay > 0 and not self._closing:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
                    self._wake.clear()
                    continue  # re-evaluate: the write may have become urgent
                except asyncio.TimeoutError:
                    pass
            await self.write_now()
