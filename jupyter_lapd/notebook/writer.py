"""NotebookWriter: when a run's cells go into the .ipynb (or a Destination in its place),
never more often than the file can bear; the merge itself is cellmerge.py."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from .cellmerge import CellState, FileImage, NotebookMeta, WriteResult, write_cells

__all__ = ["Destination", "NotebookWriter", "Route"]


Snapshot = Callable[[], tuple[int, dict[str, CellState], NotebookMeta | None]]
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

    async def write(
        self, cells: dict[str, CellState], meta: NotebookMeta | None = None
    ) -> WriteResult:
        """Put ``cells`` (and the run's notebook metadata, if any) where they belong."""
        ...


Route = Callable[[str], Awaitable["Destination | None"]]  # given the notebook's API path


class NotebookWriter:
    """Keeps one notebook file in step with a run, never more often than the file can bear.

    ``mark_dirty`` is cheap and called on every event. No output waits more than
    ``interval`` seconds to reach the file: a write is started early enough (by the last
    write's duration, plus a tenth of the interval) to land before that. The interval grows
    to ``cost_factor`` times what a write costs (its CPU time and disk waits, not the time
    it spent waiting for a CPU the kernel was using; see ``cost``), so that writing a big
    notebook stays a small share of the run; the end of a cell that ran a while
    (``urgent``, see ``worth_writing_now``) writes as soon as that budget allows. The merge and the disk I/O run in a worker thread, off the
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
        self._destination: Destination | None = None  # where the last write went
        self._sent: dict[str, int | None] = {}  # cell versions the destination holds
        self._sent_meta: int | None = None  # the NotebookMeta version it holds
        self._snapshot = snapshot
        self._on_written = on_written
        self.flush_interval = flush_interval
        self.cost_factor = cost_factor
        self._log = log or logging.getLogger(__name__)
        self._last_write = 0.0  # when the last write ended (monotonic)
        self._costs: deque[float] = deque(maxlen=2)  # of the last writes (WriteResult.cost)
        self._last_duration = 0.0  # how long it took
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
    def cost(self) -> float:
        """What a write of this notebook costs, for spacing them: the lesser of the last
        two writes' costs (0 before the second write).

        One write can cost several times the usual: the first serialises every cell (the
        next ones only what changed), and an fsync can wait for everything else the disk
        is writing (a run's journal during a burst of output: 0.1 s against 0.02 s for a
        2.3 MB notebook). Alone, such a write would hold the next one back ~1.8 s; only
        two costly writes in a row stretch the interval.
        """
        return min(self._costs) if len(self._costs) == self._costs.maxlen else 0.0

    @property
    def interval(self) -> float:
        if self._destination_interval is not None:
            return max(self._destination_interval, self.cost_factor * self.cost)
        return max(self.flush_interval, self.cost_factor * self.cost)

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

    def worth_writing_now(self, ran_for: float) -> bool:
        """Whether the end of a cell that ran ``ran_for`` seconds is ``urgent``.

        The end of a cell that ran a while is news worth writing promptly. In a burst of
        short cells the next end comes at once: writing after each (every quarter of
        ``flush_interval``) made a notebook of trivial cells ~4% slower, the writing
        thread holding the GIL the run needs between cells, and the interval already
        bounds how stale the file gets.
        """
        return ran_for >= self.flush_interval / 4

    async def close(self) -> None:
        """Write whatever is still pending, then stop; a destination that keeps the run's
        writes for someone else to save (a collaborative room) is told it has them all."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        finish = getattr(self._destination, "finish", None)
        self._destination = None
        if finish is not None:
            try:
                await finish()
            except Exception as e:  # the file stays as the destination left it
                self._log.warning("jupyter_lapd: could not finish %s: %r", self.os_path, e)

    async def write_now(self) -> WriteResult | None:
        upto, cells, meta = self._snapshot()
        self._dirty = self._urgent = False
        try:
            destination = await self._route() if self._route is not None else None
            self._destination = destination
            if destination is None:
                self._destination_interval = self._destination_key = None
                result = await asyncio.to_thread(
                    write_cells, self.os_path, cells, self._image, meta
                )
            else:
                self._destination_interval = destination.interval
                self._image = FileImage()  # someone else writes the file meanwhile
                changed = self._changed_for(destination, cells)
                if meta is not None and meta.version == self._sent_meta:
                    meta = None  # the destination holds it already
                result = await destination.write(changed, meta)
                if destination.key is not None:
                    self._sent.update((cid, state.version) for cid, state in changed.items())
                    if meta is not None:
                        self._sent_meta = meta.version
        except Exception as e:
            self.error = e
            self._image = FileImage()  # whatever happened, read the file afresh next time
            self._log.error("jupyter_lapd: could not write %s: %s", self.os_path, e)
            return None
        self.error = None
        self._last_write = time.monotonic()
        # what the next write will take: a re-read (after someone else's save) is one-off
        self._last_duration = result.seconds - result.read_seconds
        self._costs.append(self._last_duration if result.cost is None else result.cost)
        self.writes += 1
        self.bytes_written += result.size
        self._on_written(upto, result)
        return result

    def _changed_for(
        self, destination: Destination, cells: dict[str, CellState]
    ) -> dict[str, CellState]:
        key = destination.key
        if key is None or key != self._destination_key:
            self._destination_key, self._sent, self._sent_meta = key, {}, None
        changed = {
            cell_id: state
            for cell_id, state in cells.items()
            if state.version is None or self._sent.get(cell_id) != state.version
        }
        return changed

    def _due(self) -> float:
        # land the write before the oldest unwritten change is `interval` old
        due = self._dirty_since + 0.9 * self.interval - self._last_duration
        if self._urgent:
            # a cell's end goes out promptly, yet a burst of short cells still coalesces
            gap = max(self.flush_interval / 4, self.cost_factor * self.cost)
            due = min(due, self._last_write + gap)
        # however old the change (a reader behind a kernel's burst), writing stays a small
        # share of the run: the writes are spaced by many times what one costs
        return max(due, self._last_write + 0.8 * self.cost_factor * self.cost)

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
