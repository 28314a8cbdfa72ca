"""EventHub: seq-numbered run events, fanned out to live subscribers and journaled in batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .store import Store

# Event types (the public wire format, DESIGN.md).
SNAPSHOT = "snapshot"
RUN = "run"
CELL_START = "cell_start"
OUTPUT = "output"
CLEAR_OUTPUT = "clear_output"
UPDATE_DISPLAY = "update_display"
CELL_END = "cell_end"
FLUSHED = "flushed"
# the notebook metadata a run owns: the kernel's language_info, its widgets' state
METADATA = "metadata"

Event = dict[str, Any]
DbCall = Callable[..., Awaitable[Any]]

# Bytes of output a run may hold in events waiting for the journal (not yet in the batch
# being written) before it stops reading the kernel's messages until the journal takes
# them (see ``EventHub.backpressure``).
JOURNAL_BACKLOG_BYTES = 24 * 1024 * 1024
# Bytes of output one journal transaction takes at most: a burst is written in batches
# that follow each other without a pause, while the run reads on into the next one.
JOURNAL_BATCH_BYTES = 8 * 1024 * 1024
# Output bytes waiting that cut the pause between batches short (or skip it): a kernel
# printing flat out (~150 MB/s) would otherwise queue a whole pause's worth of output,
# ~15 MB, all of it late in the journal.
JOURNAL_BURST_BYTES = 1024 * 1024
# The longest one wait for the journal lasts: a journal that cannot be written (a full
# disk) slows the run down; it stops the run only after JOURNAL_FAILURE_GRACE.
BACKLOG_WAIT = 1.0
# Seconds a run's journal may keep failing (a full disk, a database locked by another
# program) before the hub reports it (``on_failure``) and the run is stopped: its events
# wait in memory meanwhile, and a crash would lose what the file does not hold yet.
JOURNAL_FAILURE_GRACE = 5.0


@dataclass
class _Channel:
    seq: int = 0
    subscribers: set[asyncio.Queue[Event | None]] = field(default_factory=set)
    # Events not yet committed to the journal, including a batch being written right now:
    # trimmed only after the commit, so a replay that reads the journal and then this list
    # can never miss an event.
    unjournaled: list[Event] = field(default_factory=list)
    backlog: int = 0  # output bytes in `unjournaled`
    writing: int = 0  # output bytes in the batch being written (the head of `unjournaled`)
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one batch at a time
    failing_since: float | None = None  # monotonic time of the first failed write in a row
    failure: Exception | None = None  # the last write's error, while writes fail
    reported: bool = False  # on_failure was called

    @property
    def waiting(self) -> int:
        """Output bytes that no batch has taken yet."""
        return self.backlog - self.writing


class EventHub:
    """Numbers each run's events, hands them to subscribers, and journals them.

    ``publish`` is synchronous so that the caller can update its own state and publish in
    one step of the event loop: whatever a subscriber sees at seq N is the state at seq N.
    The journal is written every ``journal_interval`` seconds off the event loop, which
    bounds what a crash can lose, and sooner while a run prints faster than that
    (``JOURNAL_BURST_BYTES``).
    """

    def __init__(
        self,
        store: Store,
        db_call: DbCall,
        journal_interval: float = 0.1,
        log: logging.Logger | None = None,
        on_failure: Callable[[str, Exception], None] | None = None,
    ) -> None:
        self._store = store
        self._db_call = db_call
        self._on_failure = on_failure  # called once per run whose journal keeps failing
        self._interval = journal_interval
        self._log = log or logging.getLogger(__name__)
        self._channels: dict[str, _Channel] = {}
        self._wake = asyncio.Event()
        self._burst = asyncio.Event()  # some run has JOURNAL_BURST_BYTES waiting
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- publishing -------------------------------------------------------------------

    def open(self, run_id: str, last_seq: int = 0) -> None:
        """Start numbering a run's events after ``last_seq`` (non-zero when resuming)."""
        self._channels.setdefault(run_id, _Channel(seq=last_seq))

    def seq(self, run_id: str) -> int:
        channel = self._channels.get(run_id)
        return channel.seq if channel else 0

    def is_open(self, run_id: str) -> bool:
        return run_id in self._channels

    def publish(self, run_id: str, event: Event) -> Event:
        channel = self._channels[run_id]
        channel.seq += 1
        numbered = {"seq": channel.seq, **event}
        channel.unjournaled.append(numbered)
        channel.backlog += _output_bytes(numbered)
        if channel.waiting >= JOURNAL_BURST_BYTES:
            self._burst.set()
        for queue in channel.subscribers:
            queue.put_nowait(numbered)
        self._wake.set()
        return numbered

    def backpressure(self, run_id: str) -> Awaitable[None] | None:
        """Something to await before reading more of the run's output, or None.

        A kernel can print faster than SQLite can journal: the events waiting for the
        journal would then hold the whole burst in the server's memory (hundreds of MB
        for a 1 GB print). Past ``JOURNAL_BACKLOG_BYTES`` waiting (the batch being
        written aside, so that reading and journaling go on side by side) the run waits
        for the journal to take them, up to ``BACKLOG_WAIT`` each time; meanwhile ZeroMQ
        queues the kernel's messages, within its high-water mark.
        """
        channel = self._channels.get(run_id)
        if channel is None or channel.waiting <= JOURNAL_BACKLOG_BYTES or self._stopping:
            return None
        channel.drained.clear()
        return _wait_at_most(channel.drained, BACKLOG_WAIT)

    async def close(self, run_id: str) -> None:
        """Journal what is left, then end every subscription of a finished run."""
        await self.flush_journal()
        channel = self._channels.pop(run_id, None)
        if channel is None:
            return
        channel.drained.set()
        if channel.unjournaled:  # a failed write: try once more before forgetting
            await self._write_all(run_id, channel)
        if channel.unjournaled:
            self._log.error(
                "jupyter_lapd: %d events of run %s were never journaled: %s",
                len(channel.unjournaled),
                run_id,
                channel.failure,
            )
        for queue in channel.subscribers:
            queue.put_nowait(None)

    def journal_failure(self, run_id: str) -> Exception | None:
        """Why some of the run's events are not in the journal yet, if a write failed."""
        channel = self._channels.get(run_id)
        if channel is None or not channel.unjournaled:
            return None
        return channel.failure

    def discard(self, run_id: str) -> None:
        """End a run's subscriptions without journaling what is left: for a run that
        was never recorded, or whose journal cannot be written."""
        channel = self._channels.pop(run_id, None)
        if channel is None:
            return
        channel.drained.set()
        for queue in channel.subscribers:
            queue.put_nowait(None)

    # -- subscribing ------------------------------------------------------------------

    def subscribe(self, run_id: str) -> asyncio.Queue[Event | None] | None:
        """A queue receiving every later event of an active run, then ``None`` at its end."""
        channel = self._channels.get(run_id)
        if channel is None:
            return None
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        channel.subscribers.add(queue)
        return queue

    def unsubscribe(self, run_id: str, queue: asyncio.Queue[Event | None]) -> None:
        channel = self._channels.get(run_id)
        if channel is not None:
            channel.subscribers.discard(queue)

    async def history(self, run_id: str, since: int) -> AsyncIterator[Event]:
        """Events with ``seq > since`` in order, from the journal a page at a time (a run
        that printed a gigabyte is replayed in the memory of a page), then from what is
        not journaled yet.

        What is not journaled is taken before each page is read: events leave that list
        only once committed, so an event missing from the last (empty) page was still in
        the list taken before it, or published since, which a subscriber gets live.
        """
        while True:
            channel = self._channels.get(run_id)
            pending = list(channel.unjournaled) if channel else []
            page: list[Event] = await self._db_call(self._store.read_page, run_id, since)
            if not page:
                break
            for event in page:
                yield event
            since = int(page[-1]["seq"])
        for event in sorted(pending, key=lambda e: int(e["seq"])):
            if event["seq"] > since:
                yield event

    # -- journal ----------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._journal_loop(), name="lapd-journal")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._burst.set()  # ends a pause
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush_journal()

    async def flush_journal(self) -> None:
        """Journal every event published so far."""
        for run_id, channel in list(self._channels.items()):
            await self._write_all(run_id, channel)

    async def _write_all(self, run_id: str, channel: _Channel) -> None:
        while channel.unjournaled:
            if not await self._write_next(run_id, channel):
                return  # a failed write: the next flush tries again

    async def _write_next(self, run_id: str, channel: _Channel) -> bool:
        """Journal the oldest events, up to ``JOURNAL_BATCH_BYTES`` of output; False if the
        write failed."""
        async with channel.lock:
            batch: list[Event] = []
            size = 0
            for event in channel.unjournaled:
                if batch and size >= JOURNAL_BATCH_BYTES:
                    break
                batch.append(event)
                size += _output_bytes(event)
            if not batch:
                return True
            channel.writing = size
            if channel.waiting <= JOURNAL_BACKLOG_BYTES:
                channel.drained.set()  # taken: the run may read on while it is written
            try:
                await self._db_call(self._store.append_events, run_id, batch)
            except Exception as e:
                self._journal_failed(run_id, channel, e)
                return False
            finally:
                channel.writing = 0
            channel.failing_since = channel.failure = None
            # only the batch's own events: more may have been published meanwhile
            del channel.unjournaled[: len(batch)]
            channel.backlog -= size
            if channel.waiting <= JOURNAL_BACKLOG_BYTES:
                channel.drained.set()
            return True

    def _journal_failed(self, run_id: str, channel: _Channel, error: Exception) -> None:
        now = time.monotonic()
        if channel.failing_since is None:  # once per spell: writes are retried 10 times a second
            channel.failing_since = now
            self._log.error(
                "jupyter_lapd: could not journal events of run %s", run_id, exc_info=error
            )
        channel.failure = error
        if (
            not channel.reported
            and self._on_failure is not None
            and now - channel.failing_since >= JOURNAL_FAILURE_GRACE
        ):
            channel.reported = True
            self._on_failure(run_id, error)

    async def _journal_loop(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            started = time.monotonic()
            for run_id, channel in list(self._channels.items()):
                if channel.unjournaled:
                    await self._write_next(run_id, channel)
            if any(c.waiting >= JOURNAL_BURST_BYTES for c in self._channels.values()):
                self._wake.set()  # a burst: the next batch at once, without the pause
                continue
            # a batch every `interval` at most, counted from the start of the last one: a
            # slow batch (a burst of output) is not followed by a full pause as well; a
            # burst starting meanwhile ends the pause
            self._burst.clear()
            pause = self._interval - (time.monotonic() - started)
            if pause > 0:
                await _wait_at_most(self._burst, pause)


def _output_bytes(event: Event) -> int:
    """About how much memory an event's output holds (its text and data strings)."""
    output = event.get("output")
    if not isinstance(output, dict):
        return 0
    size = len(output.get("text") or "")
    data = output.get("data")
    if isinstance(data, dict):
        size += sum(len(v) for v in data.values() if isinstance(v, str))
    return size


async def _wait_at_most(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
