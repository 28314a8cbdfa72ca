"""What a starting server does with the runs an earlier server process left active.

A server killed with SIGKILL (or with its machine) leaves its runs ``queued`` or
``running`` in the database. At the next start each of them has its journaled outputs
merged into its notebook and ends ``interrupted``; with ``c.Lapd.on_server_restart`` set
to ``rerun`` or ``rerun_from_failed`` it is also started again, as a new run whose
``resumed_from`` names it. Finished runs older than ``history_days`` are pruned.

Only this server's own runs (those recorded under its root) are touched: servers sharing
the database (JupyterHub servers over one home directory) never touch each other's runs,
and a headless run that another process still drives is left to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from ..journal import runowners as owners
from ..journal.recovery import STALE_REASON, interrupt_stale_run
from ..journal.store import Store
from ..models import KernelMode, LapdError, RunRecord, RunStatus, utcnow
from ..notebook import resolve as notebooks
from ..run import resume

DbCall = Callable[..., Awaitable[Any]]
CreateRun = Callable[..., Awaitable[RunRecord]]


class PreviousRuns:
    """Settles the runs an earlier process of this server left active (``settle``)."""

    def __init__(
        self,
        store: Store,
        db_call: DbCall,
        root_dir: str,
        create_run: CreateRun,
        log: logging.Logger,
        on_server_restart: str = "mark_interrupted",
        history_days: float = 30,
        max_output_bytes: int | None = None,
        reader: notebooks.NotebookReader | None = None,
    ) -> None:
        self.store = store
        self.db_call = db_call
        self.root_dir = root_dir
        self.create_run = create_run
        self.log = log
        self.on_server_restart = on_server_restart
        self.history_days = history_days
        self.max_output_bytes = max_output_bytes
        self.reader = reader

    async def settle(self) -> None:
        """Mark each of them interrupted (rerunning it if so configured), then prune."""
        stale = await self.db_call(
            self.store.list_runs,
            None,
            [RunStatus.QUEUED.value, RunStatus.RUNNING.value],
            self.root_dir,
        )
        for record in stale:
            owner = await self.db_call(self.store.get_owner, record.id)
            if owner is not None and owners.is_alive(owner):
                # a headless run (`jupyter lapd run --headless`) that another process
                # still drives, recorded in this database under this folder: not ours
                continue
            await self.db_call(
                interrupt_stale_run,
                self.store,
                record,
                self.root_dir,
                self.log,
                STALE_REASON,
                self.max_output_bytes,
            )
            self.log.info("jupyter_lapd: run %s of %s marked interrupted", record.id, record.path)
            if self.on_server_restart in ("rerun", "rerun_from_failed"):
                await self._rerun(record, self.on_server_restart == "rerun_from_failed")
        if self.history_days > 0:
            cutoff = utcnow() - timedelta(days=self.history_days)
            await self.db_call(self.store.delete_finished_before, cutoff, self.root_dir)

    async def _rerun(self, record: RunRecord, from_failed: bool = False) -> None:
        """Start an interrupted run again on a fresh kernel: from its first cell, or
        (``from_failed``) from its first unfinished cell after the setup cells."""
        cells, setup = [cell.id for cell in record.cells], list[str]()
        try:
            if from_failed:
                cells, setup = await self._from_failed(record)
                if not cells:
                    return  # every cell had finished: nothing to rerun
            rerun = await self.create_run(
                record.path,
                cells=cells,
                kernel=KernelMode.NEW.value,
                kernel_name=record.kernel_name,
                allow_errors=record.allow_errors,
                resumed_from=record.id,
                setup_cells=setup,
            )
        except LapdError as e:
            self.log.warning("jupyter_lapd: could not rerun %s: %s", record.path, e.message)
            return
        self.log.info("jupyter_lapd: run %s reruns interrupted run %s", rerun.id, record.id)

    async def _from_failed(self, record: RunRecord) -> tuple[list[str], list[str]]:
        """The cells and setup cells a from-failed rerun of ``record`` runs."""
        api_path, os_path = notebooks.resolve_path(self.root_dir, record.path)
        nb = (await notebooks.open_notebook(api_path, os_path, self.reader)).nb
        done = await self.db_call(resume.done_cells, self.store, record.id)
        plan = resume.from_failed(nb, [cell.id for cell in record.cells], done)
        hint = await asyncio.to_thread(resume.setup_hint, nb, plan)
        if hint is not None:
            self.log.warning("jupyter_lapd: rerunning %s %s", record.path, hint)
        return plan.cells, plan.setup
