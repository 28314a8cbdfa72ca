"""RecordSaver: a running run's record saved in the background, at most twice a second."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from ..models import RunRecord

Persist = Callable[[RunRecord], Awaitable[None]]
# How often a running run's record is saved (its events are journaled every ~0.1 s, and
# recovery takes the cells' progress from them).
SAVE_INTERVAL = 0.5


class RecordSaver:
    """Saves the record in the background, at most every ``SAVE_INTERVAL`` seconds.

    Awaiting two saves per cell (each copies and serialises the whole record) made a
    notebook of short cells run ~2x slower than nbclient, and even ten saves a second
    of a long run's record cost a cell of ``x = 1`` a noticeable share of the CPU the
    kernel shares with it. The journal holds every cell_start and cell_end within
    ~0.1 s, and recovery reads the cells' progress from it (the server's own answers
    come from the live record); the final save is the run's own, awaited, after
    ``stop``.
    """

    def __init__(self, record: RunRecord, persist: Persist, log: logging.Logger) -> None:
        self._record = record
        self._persist = persist
        self._log = log
        self._pending = False
        self._task: asyncio.Task[None] | None = None

    def soon(self) -> None:
        """The record changed: save it with the next background save."""
        self._pending = True
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._save_pending())

    async def stop(self) -> None:
        """No background save lands after this (the final save must be the last); a save
        already handed to the database thread still runs."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _save_pending(self) -> None:
        while self._pending:
            self._pending = False
            try:
                await self._persist(self._record)
            except Exception as e:  # the final save says it (the manager retries that one)
                self._log.warning("jupyter_lapd: could not save run %s: %s", self._record.id, e)
            await asyncio.sleep(SAVE_INTERVAL)  # changes meanwhile go in the next save
