"""The final records of ended runs on their way into the runs database.

A run's end is recorded at once; when the database cannot take it (locked, its disk
full), the record is kept in memory, where this server's answers read it, and saved again
in the background, waiting longer each time, until it is taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..models import RunRecord

# Seconds between tries to record an ended run the database refused: doubling from the
# first to the most.
SAVE_RETRY_FIRST = 0.5
SAVE_RETRY_MAX = 30.0


class EndedRecords:
    """Ended runs whose final record the database has not taken yet, by run id."""

    def __init__(self, persist: Callable[[RunRecord], Awaitable[None]], log: logging.Logger):
        self._persist = persist
        self._log = log
        self._unsaved: dict[str, RunRecord] = {}
        self._saving: set[asyncio.Task[Any]] = set()

    def get(self, run_id: str) -> RunRecord | None:
        """The ended run's record while the database has not taken it, else None."""
        return self._unsaved.get(run_id)

    async def record(self, record: RunRecord) -> None:
        """Save an ended run's record; if the database cannot take it, keep it and try
        again in the background until it can."""
        try:
            await self._persist(record)
            return
        except Exception as e:
            self._log.error(
                "jupyter_lapd: run %s of %s ended %s, but the runs database cannot record"
                " it yet (%s); trying again",
                record.id,
                record.path,
                record.status.value,
                e,
            )
        self._unsaved[record.id] = record
        task = asyncio.ensure_future(self._save_later(record))
        self._saving.add(task)
        task.add_done_callback(self._saving.discard)

    async def close(self) -> None:
        """The server stops: a last try for each record not taken yet, logged if it
        fails (the next start marks such a run interrupted)."""
        for task in list(self._saving):
            task.cancel()
        for record in list(self._unsaved.values()):
            try:
                await self._persist(record)
            except Exception as e:
                self._log.error(
                    "jupyter_lapd: run %s of %s ended %s, but the runs database could not"
                    " record it (%s): the next start will mark it interrupted",
                    record.id,
                    record.path,
                    record.status.value,
                    e,
                )

    async def _save_later(self, record: RunRecord) -> None:
        delay = SAVE_RETRY_FIRST
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, SAVE_RETRY_MAX)
            with contextlib.suppress(Exception):
                await self._persist(record)
                break
        self._unsaved.pop(record.id, None)
        self._log.info("jupyter_lapd: run %s recorded %s at last", record.id, record.status.value)
