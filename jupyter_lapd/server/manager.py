"""RunManager: admission, queueing, one active run per notebook, cancel, start and stop."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..journal.eventhub import EventHub
from ..journal.replay import outputs_from_journal
from ..journal.store import Store
from ..models import (
    CellRecord,
    CellStatus,
    InvalidRunRequest,
    KernelMode,
    RunConflict,
    RunNotFound,
    RunRecord,
    RunStatus,
    StorageError,
    utcnow,
)
from ..notebook import resolve as notebooks
from ..notebook.cellmerge import write_notebook
from ..notebook.writer import Route
from ..outputs.model import DEFAULT_MAX_OUTPUT_BYTES
from ..run import stopnotice as shutdown
from ..run.activerun import ActiveRun
from ..run.kernels import KernelProvider
from .endedrecords import EndedRecords
from .previousruns import PreviousRuns


class RunManager:
    """Owns every run of one server: the queue, the tasks, and their records.

    It holds no tornado objects; handlers and the extension app pass plain values in.
    All database calls go through one worker thread, so writes keep their order and the
    event loop never waits on SQLite.
    """

    def __init__(
        self,
        store: Store,
        kernels: KernelProvider,
        root_dir: str,
        flush_interval: float = 1.0,
        max_concurrent_runs: int = 4,
        history_days: float = 30,
        on_server_restart: str = "mark_interrupted",
        on_sigterm: str = shutdown.INTERRUPT,
        log: logging.Logger | None = None,
        max_output_bytes: int | None = DEFAULT_MAX_OUTPUT_BYTES,
        route: Route | None = None,
        reader: notebooks.NotebookReader | None = None,
        store_widget_state: bool = True,
    ) -> None:
        self.store = store
        # where each write of a run goes when not straight to the file, and what reads a
        # notebook the contents manager must read (notebook/destinations.py)
        self.route = route
        self.reader = reader
        self.kernels = kernels
        self.root_dir = root_dir
        self.flush_interval = flush_interval
        self.max_output_bytes = max_output_bytes
        self.store_widget_state = store_widget_state
        self.max_concurrent_runs = max_concurrent_runs
        self.history_days = history_days
        self.on_server_restart = on_server_restart
        self.on_sigterm = on_sigterm  # shutdown.INTERRUPT or STOP: see stop()
        self.log = log or logging.getLogger(__name__)
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lapd-db")
        self.hub = EventHub(store, self.db_call, log=self.log, on_failure=self._journal_failed)
        self._active: dict[str, ActiveRun] = {}  # queued and running, by run id
        # ended runs whose final record the database has not taken yet
        self.ended = EndedRecords(self._persist, self.log)
        self._queue: list[ActiveRun] = []
        self._background: set[asyncio.Task[Any]] = set()
        # clear while start() settles the runs of an earlier process (nothing to wait for
        # in a server that never starts the manager)
        self._recovered = asyncio.Event()
        self._recovered.set()

    async def db_call(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, functools.partial(fn, *args))

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Settle the runs a previous server process left active (``PreviousRuns``),
        then start journaling."""
        self._recovered.clear()
        self.hub.start()
        try:
            await PreviousRuns(
                self.store,
                self.db_call,
                self.root_dir,
                self.create_run,
                self.log,
                on_server_restart=self.on_server_restart,
                history_days=self.history_days,
                max_output_bytes=self.max_output_bytes,
                reader=self.reader,
            ).settle()
        finally:
            self._recovered.set()

    async def recovered(self) -> None:
        """Return once the runs of the previous server process are settled: a client
        asking right after a restart never sees a run of the dead process as running.
        (The server starts extensions as tasks on its loop, and answers meanwhile; the
        extension's start, and so ``start()``, begins before any request is read.)"""
        await self._recovered.wait()

    async def stop(self, timeout: float = 10.0) -> None:
        """Server shutdown: queued runs are cancelled, running ones end ``interrupted``
        with their outputs written, all within ``timeout`` seconds; with ``on_sigterm =
        interrupt``, each running cell is interrupted first and given most of that time
        to end (its code sees ``KeyboardInterrupt``: a checkpoint's chance)."""
        for run in list(self._queue):
            await self.cancel_run(run.record.id)
        running = [r for r in self._active.values() if r.task is not None]
        reason = "the server shut down during the run"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self.on_sigterm == shutdown.INTERRUPT:
            await asyncio.gather(*(shutdown.wind_up(r, reason, timeout) for r in running))
        for run in running:
            run.abort(RunStatus.INTERRUPTED, reason)  # nothing to a run that has ended
        tasks = [r.task for r in running if r.task is not None and not r.task.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=max(1.0, deadline - loop.time()))
        await self.kernels.wait_released(max(1.0, deadline - loop.time()))
        await self.hub.stop()
        await self.ended.close()
        self._db.shutdown(wait=True)

    def _track(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # -- requests ---------------------------------------------------------------------

    async def create_run(
        self,
        path: str,
        cells: Sequence[str] | None = None,
        kernel: str = KernelMode.SESSION.value,
        kernel_name: str | None = None,
        allow_errors: bool = False,
        resumed_from: str | None = None,
        setup_cells: Sequence[str] = (),
    ) -> RunRecord:
        """Validate a request and queue the run; nothing on disk changes if it is refused."""
        try:
            mode = KernelMode(kernel)
        except ValueError:
            raise InvalidRunRequest(
                f"'kernel' must be 'session' or 'new', not {kernel!r}"
            ) from None
        if kernel_name is not None and not isinstance(kernel_name, str):
            raise InvalidRunRequest("'kernel_name' must be a string")
        if not isinstance(allow_errors, bool):
            raise InvalidRunRequest("'allow_errors' must be true or false")
        api_path, os_path = notebooks.resolve_path(self.root_dir, path)
        # a paired or text notebook is read through jupytext's contents manager
        loaded = await notebooks.open_notebook(api_path, os_path, self.reader)
        nb = loaded.nb
        for same in (api_path, *loaded.aliases):  # the files of a pair are one notebook
            busy = self._active_on(same)
            if busy is not None:
                raise RunConflict(f"Run {busy.record.id} is already active on {same}")
        for run in self._active.values():  # the same file through a symbolic link
            if os.path.realpath(run.os_path) == os_path:
                raise RunConflict(
                    f"Run {run.record.id} is already active on {run.record.path},"
                    f" the same file as {api_path}"
                )
        needs_ids = notebooks.ensure_cell_ids(nb) or loaded.unsaved_ids
        cell_ids = notebooks.select_cells(nb, cells)
        name = kernel_name or notebooks.kernel_name_of(nb)
        await self.kernels.check_kernel_name(name)
        if needs_ids:
            if loaded.save is not None:
                await loaded.save(nb)
            else:
                await asyncio.to_thread(write_notebook, os_path, nb)
        record = RunRecord(
            path=api_path,
            cells=[CellRecord(id=c) for c in cell_ids],
            kernel_mode=mode,
            kernel_name=name,
            allow_errors=allow_errors,
            resumed_from=resumed_from,
            setup_cells=list(setup_cells),
        )
        run = ActiveRun(
            record,
            os_path,
            nb,
            self.hub,
            self.kernels,
            self._persist,
            self.flush_interval,
            log=self.log,
            max_output_bytes=self.max_output_bytes,
            route=self.route,
            store_widget_state=self.store_widget_state,
        )
        self._active[record.id] = run
        self.hub.open(record.id)
        try:
            await self._persist(record)
        except Exception as e:
            # a run nothing recorded could not be recovered after a crash: refuse it, and
            # leave nothing behind (the notebook would stay busy until a restart)
            self._active.pop(record.id, None)
            self.hub.discard(record.id)
            self.log.error(
                "jupyter_lapd: refused a run of %s: the runs database %s cannot record it: %s",
                api_path,
                self.store.db_path,
                e,
            )
            raise StorageError(
                f"The run was not started: the runs database ({self.store.db_path})"
                f" cannot record it: {e}"
            ) from e
        self._queue.append(run)
        self.hub.start()  # idempotent: journaling must run even if start() was skipped
        self._pump()
        return record

    async def get_run(self, run_id: str) -> RunRecord:
        active = self._active.get(run_id)
        if active is not None:
            return active.record
        unsaved = self.ended.get(run_id)
        if unsaved is not None:
            return unsaved
        # another server's run (same database, other root) is as unknown as a made-up id
        record: RunRecord | None = await self.db_call(self.store.get_run, run_id, self.root_dir)
        if record is None:
            raise RunNotFound(f"No such run: {run_id}")
        return record

    async def list_summaries(
        self,
        path: str | None = None,
        statuses: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """This server's runs, newest first, as the REST listing answers them: each run
        without its cells (``RunRecord.to_dict(with_cells=False)``)."""
        if statuses:
            unknown = [s for s in statuses if s not in {v.value for v in RunStatus}]
            if unknown:
                raise InvalidRunRequest(f"Unknown status(es): {', '.join(unknown)}")
        if path:
            path = path.strip("/")
        rows = await self.db_call(self.store.list_summaries, path, statuses, self.root_dir, limit)
        # live records are fresher than their last save
        return [self._fresh(s) for _, s in rows]

    def _fresh(self, summary: dict[str, Any]) -> dict[str, Any]:
        run_id = summary["id"]
        if run_id in self._active:
            return self._active[run_id].record.to_dict(with_cells=False)
        unsaved = self.ended.get(run_id)
        if unsaved is not None:
            return unsaved.to_dict(with_cells=False)
        return summary

    async def cancel_run(
        self, run_id: str, status: RunStatus = RunStatus.CANCELLED, reason: str | None = None
    ) -> RunRecord:
        """Stop a run: a user's cancel, or ``status``/``reason`` when something else ends it."""
        record = await self.get_run(run_id)
        run = self._active.get(run_id)
        if run is None or not record.status.active:
            return record
        if run in self._queue:  # never started: nothing to interrupt or write
            self._queue.remove(run)
            record.status, record.finished, record.error = status, utcnow(), reason
            for cell in record.cells:
                cell.status = CellStatus.SKIPPED
            run.emit_status()
            self._active.pop(run_id, None)
            try:
                await self.hub.close(run_id)
            except Exception:
                self.log.exception("jupyter_lapd: closing the events of run %s", run_id)
                self.hub.discard(run_id)
            await self.ended.record(record)
            return record
        self._track(run.cancel(status, reason))
        return record

    # -- events -----------------------------------------------------------------------

    def active_run(self, run_id: str) -> ActiveRun | None:
        return self._active.get(run_id)

    def active_runs(self) -> list[ActiveRun]:
        return list(self._active.values())

    def merge_save(self, model: dict[str, Any], path: str, **kwargs: Any) -> None:
        """Contents manager pre-save hook: a save never drops an active run's outputs."""
        if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
            return
        run = self._active_on(path.strip("/"))
        if run is not None and run.task is not None:
            run.merge_into(model["content"])

    def catch_up(self, run_id: str, cells: Collection[str]) -> dict[str, Any] | None:
        """A snapshot of an active run as of its current seq, with the outputs of
        ``cells`` only: it stands for the events about them a subscriber fell behind on.
        None once the run has ended (its events are then sent as they are)."""
        active = self._active.get(run_id)
        return None if active is None else active.snapshot_event(cells)

    def bounded(self, run_id: str, cell_id: str) -> bool:
        """Whether an active run's outputs of the cell are bounded (``OutputModel.bounded``)."""
        active = self._active.get(run_id)
        return active is not None and active.model.bounded(cell_id)

    async def snapshot(self, run_id: str, with_outputs: bool) -> dict[str, Any]:
        """A ``snapshot`` event for a subscriber: live state, or rebuilt from the journal."""
        active = self._active.get(run_id)
        if active is not None:
            snap = active.snapshot_event()
            if not with_outputs:
                snap.pop("outputs")
            return snap
        record = await self.get_run(run_id)
        if not with_outputs:
            seq = await self.db_call(self.store.last_seq, run_id)
            return {"seq": seq, "type": "snapshot", "run": record.to_dict(with_cells=True)}
        seq, outputs = await outputs_from_journal(
            self.db_call, self.store, run_id, self.max_output_bytes
        )
        return {
            "seq": seq,
            "type": "snapshot",
            "run": record.to_dict(with_cells=True),
            "outputs": outputs,
        }

    # -- internals --------------------------------------------------------------------

    def _journal_failed(self, run_id: str, error: Exception) -> None:
        """The run's journal has failed for a while (a full disk): stop the run, which
        says so, rather than go on holding outputs that a crash would lose."""
        self.log.error("jupyter_lapd: stopping run %s: its journal fails: %s", run_id, error)
        reason = f"the runs database cannot journal the run's events ({error}): the run was stopped"
        self._track(self.cancel_run(run_id, RunStatus.FAILED, reason))

    def _active_on(self, path: str) -> ActiveRun | None:
        for run in self._active.values():
            if run.record.path == path:
                return run
        return None

    async def _persist(self, record: RunRecord) -> None:
        await self.db_call(self.store.save_run, record.copy(), self.root_dir)

    def _pump(self) -> None:
        running = sum(1 for r in self._active.values() if r.task is not None)
        limit = self.max_concurrent_runs or len(self._queue) + running
        while self._queue and running < limit:
            run = self._queue.pop(0)
            run.task = asyncio.create_task(self._execute(run), name=f"lapd-run:{run.record.id}")
            running += 1

    async def _execute(self, run: ActiveRun) -> None:
        try:
            await run.run()
        except Exception as e:
            self.log.exception("jupyter_lapd: run %s crashed", run.record.id)
            # whatever failed, the run ends, and says so: a run left `running` would
            # keep its followers (the page, `jupyter lapd wait`) waiting for ever
            await run.end_abruptly(f"the run could not end cleanly: {type(e).__name__}: {e}")
        finally:
            self._active.pop(run.record.id, None)
            self._pump()
        if not run.final_saved:
            await self.ended.record(run.record)


__all__ = ["RunManager"]
