"""Headless runs: this process executes a notebook with no Jupyter server, resumably.

The same engine as the server's runs (ActiveRun, EventHub, Store, NotebookWriter,
OutputModel) on a kernel this process starts, with the journal in a hidden SQLite file
beside the notebook: a replaced container or VM keeps only its volume, and the journal
must be on it to resume.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from nbformat import NotebookNode

from ..config import sidecar_path
from ..journal import eventhub as ev
from ..journal import runowners as owners
from ..journal.eventhub import EventHub
from ..journal.processlocks import ProcessLock, notebook_lock
from ..journal.recovery import interrupt_stale_run
from ..journal.store import Store
from ..journal.streamfiles import folder_for
from ..models import (
    CellRecord,
    CellStatus,
    InvalidRunRequest,
    KernelMode,
    RunConflict,
    RunRecord,
    RunStatus,
)
from ..notebook import parameters
from ..notebook import resolve as notebooks
from ..notebook.cellmerge import write_notebook
from ..run import resume
from ..run.activerun import ActiveRun
from ..run.gcfreeze import freeze_startup_objects
from ..run.kernels import LocalKernelProvider
from ..run.resume import FROM_FAILED
from ..run.stopnotice import INTERRUPT, wind_up
from .options import EXIT_FAILED, EXIT_KERNEL_DIED, EXIT_OK, EXIT_SIGNAL, HeadlessOptions, Reporter


class HeadlessRun:
    """One invocation: check everything, settle the previous run, then run attempts.

    Nothing is created (journal, output copy, injected cell) before the request is known
    to be valid, so a usage error leaves the disk as it was.
    """

    def __init__(
        self, options: HeadlessOptions, reporter: Reporter, log: logging.Logger | None = None
    ) -> None:
        self.options = options
        self._reporter = reporter
        self._log = log or logging.getLogger(__name__)
        self.source = os.path.abspath(options.notebook)
        self.target = os.path.abspath(options.output or options.notebook)
        self.folder, self.name = os.path.split(self.target)
        self.db_path = os.path.abspath(options.db_path or sidecar_path(self.target))
        # runs in a notebook's own sidecar are all of that notebook, wherever it is mounted
        self._root_filter = self.folder if options.db_path else None
        self.kernels = LocalKernelProvider(self.folder, options.ipython_hist_file)
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lapd-db")
        self._store: Store | None = None
        self._lock: ProcessLock | None = None
        self._current: ActiveRun | None = None
        self._signal: signal.Signals | None = None
        self._main: asyncio.Task[int] | None = None
        self._winding: asyncio.Future[None] | None = None  # SIGTERM's interrupt, see _on_signal

    # -- entry point ------------------------------------------------------------------

    async def execute(self) -> int:
        """Run to the end; the exit code. LapdError (bad input) escapes before any change."""
        nb = await self._check()
        loop = asyncio.get_running_loop()
        self._main = asyncio.current_task()
        for signum in EXIT_SIGNAL:
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            return await self._execute(nb)
        except asyncio.CancelledError:
            if self._signal is None:
                raise
            return EXIT_SIGNAL[self._signal]
        finally:
            for signum in EXIT_SIGNAL:
                loop.remove_signal_handler(signum)
            await self.kernels.shutdown_all()
            if self._lock is not None:
                self._lock.release()
            if self._store is not None:
                self._store.close()
            self._db.shutdown(wait=True)

    async def _check(self) -> NotebookNode:
        opts = self.options
        nb = notebooks.load_notebook(opts.notebook, self.source)
        if opts.output is not None:
            if not self.target.endswith(".ipynb"):
                raise InvalidRunRequest(f"--output {opts.output} must be a .ipynb file")
            if not os.path.isdir(self.folder):
                raise InvalidRunRequest(f"--output: no such folder {self.folder}")
        notebooks.ensure_cell_ids(nb)
        if opts.cells is not None:
            notebooks.select_cells(nb, opts.cells)
        if opts.setup_cells:
            try:
                notebooks.select_cells(nb, opts.setup_cells)
            except InvalidRunRequest as e:
                raise InvalidRunRequest(f"--setup-cells: {e.message}") from None
        await self.kernels.check_kernel_name(opts.kernel_name or notebooks.kernel_name_of(nb))
        return nb

    async def _execute(self, source_nb: NotebookNode) -> int:
        self._store = await self._call(Store, self.db_path)
        # before the journal is asked: two processes started together both found no
        # live run there, and both ran the notebook
        self._lock = notebook_lock(folder_for(self.db_path), self.target)
        holder = self._lock.acquire()
        if holder is not None:
            self._lock = None
            raise RunConflict(f"{self.name} is being run by {holder}")
        opts = self.options
        previous = await self._settle_previous()
        if opts.resume and (previous is None or previous.status == RunStatus.COMPLETED):
            why = f"{self.name} has no earlier run in {self.db_path}"
            if previous is not None:
                why = f"the latest run of {self.name} ({previous.id[:8]}) completed"
            self._reporter.note(f"nothing to resume: {why}; starting a new run")
        if not opts.resume or previous is None or previous.status == RunStatus.COMPLETED:
            previous = None
        copy = os.path.realpath(self.target) != os.path.realpath(self.source)
        if copy and (previous is None or not os.path.exists(self.target)):
            await asyncio.to_thread(write_notebook, self.target, source_nb)
        if previous is not None:
            await self._call(resume.replay_into, self._db_store, previous.id, self.target)
        nb, injected, found = await asyncio.to_thread(self._prepare_notebook)
        if injected is not None and not found:
            self._reporter.note("no cell tagged 'parameters': parameters injected at the top")
        setup: list[str] = []
        if previous is None:
            cells = resume.new_selection(nb, opts.cells, injected)
        elif opts.resume == FROM_FAILED:
            done = await self._call(resume.done_cells, self._db_store, previous.id)
            plan = resume.from_failed(nb, [c.id for c in previous.cells], done, opts.setup_cells)
            cells, setup = plan.cells, plan.setup
            hint = await asyncio.to_thread(resume.setup_hint, nb, plan, "--setup-cells")
            if hint is not None:
                self._reporter.note(hint)
        else:
            first = await self._call(resume.first_attempt, self._db_store, previous)
            cells = resume.from_start(nb, first, injected)
        if opts.freeze_startup_objects:
            freeze_startup_objects()
        return await self._attempts(nb, cells, setup, previous)

    # -- the previous run -------------------------------------------------------------

    @property
    def _db_store(self) -> Store:
        assert self._store is not None
        return self._store

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, functools.partial(fn, *args))

    async def _latest(self) -> RunRecord | None:
        runs = await self._call(self._db_store.list_runs, self.name, None, self._root_filter, 1)
        return runs[0] if runs else None

    async def _settle_previous(self) -> RunRecord | None:
        """The latest run of the notebook, once no process drives it any more.

        A run whose owner is alive is a conflict; one whose owner died is marked
        interrupted, its journal replayed into the file. An owner on another machine is
        waited for until its heartbeat is stale.
        """
        waited = 0.0
        while True:
            record = await self._latest()
            if record is None or not record.status.active:
                break
            owner = await self._call(self._db_store.get_owner, record.id)
            if not owners.is_alive(owner):
                reason = "its process stopped" + (f" ({owners.describe(owner)})" if owner else "")
                await self._call(
                    interrupt_stale_run, self._db_store, record, self.folder, self._log, reason
                )
                self._reporter.note(f"run {record.id[:8]} of {self.name} was cut off: {reason}")
                break
            assert owner is not None
            running = f"{self.name} is being run by {owners.describe(owner)} (run {record.id[:8]})"
            if owners.same_machine(owner) or waited > owners.STALE_AFTER + owners.HEARTBEAT:
                raise RunConflict(running)
            if not waited:
                self._reporter.note(f"{running}; waiting for it to end or go silent")
            await asyncio.sleep(1.0)
            waited += 1.0
        return record

    # -- the notebook and its cells ---------------------------------------------------

    def _prepare_notebook(self) -> tuple[NotebookNode, str | None, bool]:
        """The notebook to run, with cell ids and injected parameters written to disk first,
        since the writer merges outputs into the file by cell id. Also the injected cell's
        id and whether a cell tagged ``parameters`` was there."""
        nb = notebooks.load_notebook(self.name, self.target)
        changed = notebooks.ensure_cell_ids(nb)
        injected, found = None, False
        if self.options.parameters:
            injected, found = parameters.inject(nb, self.options.parameters)
            nb.nbformat_minor = max(nb.nbformat_minor, 5)
            changed = True
        if changed:
            write_notebook(self.target, nb)
        return nb, injected, found

    # -- attempts ---------------------------------------------------------------------

    async def _attempts(
        self, nb: NotebookNode, cells: list[str], setup: list[str], previous: RunRecord | None
    ) -> int:
        attempt = 1
        while True:
            record = RunRecord(
                path=self.name,
                cells=[CellRecord(id=c) for c in cells],
                kernel_mode=KernelMode.NEW,
                kernel_name=self.options.kernel_name or notebooks.kernel_name_of(nb),
                allow_errors=self.options.allow_errors,
                resumed_from=previous.id if previous else None,
                setup_cells=setup,
            )
            code = await self._attempt(record, nb, attempt)
            if code != EXIT_KERNEL_DIED or attempt > self.options.retries:
                return code
            attempt += 1
            self._reporter.note(
                f"{record.error}: retrying, attempt {attempt} of {self.options.retries + 1}"
            )
            previous = record
            nb = await asyncio.to_thread(notebooks.load_notebook, self.name, self.target)
            if self.options.resume == FROM_FAILED:
                done = {c.id for c in record.cells if c.status == CellStatus.DONE}
                plan = resume.from_failed(nb, cells, done, self.options.setup_cells)
                cells, setup = plan.cells, plan.setup
            else:
                cells = resume.in_order(nb, set(cells))

    async def _attempt(self, record: RunRecord, nb: NotebookNode, attempt: int) -> int:
        hub = EventHub(self._db_store, self._call, log=self._log)
        await self._call(self._db_store.set_owner, record.id, owners.this_process())
        run = ActiveRun(
            record,
            self.target,
            nb,
            hub,
            self.kernels,
            self._persist,
            self.options.flush_interval,
            log=self._log,
            cell_timeout=self.options.timeout,
            store_widget_state=self.options.store_widget_state,
        )
        hub.open(record.id)
        await self._persist(record)
        queue = hub.subscribe(record.id)
        assert queue is not None
        hub.start()
        self._reporter.started(record, attempt)
        watch = asyncio.create_task(self._watch(queue, record))
        beat = asyncio.create_task(self._heartbeat(record.id))
        run.task = asyncio.create_task(run.run())
        self._current = run
        try:
            await asyncio.shield(run.task)  # a signal ends the run through abort(), not here
        finally:
            self._current = None
            beat.cancel()
            await hub.stop()
            if not run.task.done() or run.task.cancelled() or run.task.exception():
                watch.cancel()  # the run did not wind down: its stream never ends
            await asyncio.gather(watch, return_exceptions=True)
        self._reporter.ended(record)
        return self._exit_code(record)

    def _exit_code(self, record: RunRecord) -> int:
        if self._signal is not None:
            return EXIT_SIGNAL[self._signal]
        if record.status == RunStatus.COMPLETED:
            return EXIT_OK
        if record.kernel_id is not None and record.kernel_id in self.kernels.died:
            return EXIT_KERNEL_DIED
        return EXIT_FAILED

    async def _persist(self, record: RunRecord) -> None:
        await self._call(self._db_store.save_run, record.copy(), self.folder)

    async def _watch(self, queue: asyncio.Queue[dict[str, Any] | None], record: RunRecord) -> None:
        """Progress from the run's own event stream, plus a tick twice a second for the clock.

        A plain ``get`` per wake-up, taking whatever queued meanwhile with it: a notebook of
        short cells publishes two events a cell, and a timeout on every ``get`` (a task and
        a timer each) cost the loop that also drives the kernel a measurable share of a
        trivial cell.
        """
        ticker = asyncio.create_task(self._tick(record))
        try:
            while True:
                event = await queue.get()
                while event is not None:
                    if event["type"] == ev.CELL_END:
                        self._reporter.cell_ended(record, record.cell(event["cell_id"]))
                    try:
                        event = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        break
                if event is None:
                    return
                self._reporter.progress(record)
        finally:
            ticker.cancel()

    async def _tick(self, record: RunRecord) -> None:
        while True:
            await asyncio.sleep(0.5)
            self._reporter.progress(record)

    async def _heartbeat(self, run_id: str) -> None:
        while True:
            await asyncio.sleep(owners.HEARTBEAT)
            try:
                await self._call(self._db_store.beat, run_id, time.time())
            except Exception as e:  # a missed beat only delays another machine's resume
                self._log.warning("jupyter_lapd: heartbeat failed: %s", e)

    def _on_signal(self, signum: signal.Signals) -> None:
        """First SIGINT/SIGTERM: end the run ``interrupted`` with its file written. Second:
        leave at once (the kernel follows its parent).

        SIGTERM is a preempted machine's notice (the kill follows 30 s to 2 min later):
        with ``on_sigterm = interrupt`` the running cell is interrupted first, so that user
        code sees ``KeyboardInterrupt`` and saves its checkpoint, and given until near the
        end of the grace to end. SIGINT is a person at the terminal: it stops at once.
        """
        if self._signal is not None:
            os._exit(EXIT_SIGNAL[self._signal])
        self._signal = signum
        self.kernels.graceful = False
        interrupt = signum == signal.SIGTERM and self.options.on_sigterm == INTERRUPT
        first = "interrupting the kernel, then " if interrupt else ""
        self._reporter.note(
            f"{signum.name}: {first}writing the notebook and stopping (again to quit now)"
        )
        reason = f"stopped by {signum.name}"
        if self._current is not None:
            if interrupt:
                self._winding = asyncio.ensure_future(
                    wind_up(self._current, reason, self.options.grace)
                )
            else:
                self._current.abort(RunStatus.INTERRUPTED, reason)
        elif self._main is not None:
            self._main.cancel()
