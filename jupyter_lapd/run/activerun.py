"""ActiveRun: one run from its first cell to its last event, file written, kernel released."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from typing import Any

from nbformat import NotebookNode

from ..journal import eventhub as ev
from ..journal.eventhub import EventHub
from ..models import CellStatus, RunRecord, RunStatus, isoformat, utcnow
from ..notebook.cellmerge import (
    CellState,
    NotebookMeta,
    WriteResult,
    cell_states,
    merge_into_content,
    note_output,
    notebook_meta,
)
from ..notebook.writer import NotebookWriter, Route
from ..outputs.model import DEFAULT_MAX_OUTPUT_BYTES, OutputModel, events_from_message
from .cellloop import CellLoop
from .deletedcells import DeletedCells
from .eventsinks import EventSink, FileSink, OutputsSink
from .executor import Executor
from .iopub import sent_at
from .kernelactivity import ActivityHandover
from .kernels import KernelLease, KernelProvider
from .outcome import final_outcome
from .recordsaver import Persist, RecordSaver


class ActiveRun:
    """Executes a run's cells in order and keeps journal, subscribers and file in step.

    Every change goes through ``emit``: the event is numbered by the hub (which journals
    it and sends it to the followers), then received by each of the run's ``sinks`` (its
    outputs, the notebook's writer) in one synchronous step, so any reader sees a state
    that corresponds exactly to a seq number.
    """

    def __init__(
        self,
        record: RunRecord,
        os_path: str,
        nb: NotebookNode,
        hub: EventHub,
        kernels: KernelProvider,
        persist: Persist,
        flush_interval: float,
        cancel_grace: float = 10.0,
        log: logging.Logger | None = None,
        cell_timeout: int | None = None,
        max_output_bytes: int | None = DEFAULT_MAX_OUTPUT_BYTES,
        route: Route | None = None,
        store_widget_state: bool = True,
    ) -> None:
        self.record = record
        self._store_widget_state = store_widget_state  # in metadata.widgets, as nbclient
        self.os_path = os_path
        self._nb = nb
        self._hub = hub
        self._kernels = kernels
        self._persist = persist
        self._log = log or logging.getLogger(__name__)
        self._cancel_grace = cancel_grace
        self._cell_timeout = cell_timeout  # seconds per cell (nbclient's timeout); None: none
        # bounded: a cell printing a gigabyte costs neither memory nor an unopenable file
        self.model = OutputModel(max_output_bytes, run_id=record.id)
        self.writer = NotebookWriter(
            os_path,
            self._snapshot,
            self._on_written,
            flush_interval=flush_interval,
            log=log,
            # asked before each write, with the notebook's current path (it may be renamed)
            route=(lambda: route(self.record.path)) if route is not None else None,
        )
        # where each numbered event goes, in this order (see eventsinks)
        self.sinks: list[EventSink] = [OutputsSink(self.model), FileSink(self.writer)]
        self._lease: KernelLease | None = None
        self._activity: ActivityHandover | None = None
        self._deleted = DeletedCells(os_path, [c.id for c in record.cells], self._log)
        self._cancel_requested = False
        self._aborted = False  # ended from outside, without waiting for the kernel
        self.task: asyncio.Task[None] | None = None
        self._outcome: tuple[RunStatus, str | None] | None = None
        self._abort_note: tuple[str | None, str] | None = None  # (cell, text), see abort
        self.last_flush: dict[str, Any] | None = None  # what the file held at its last write
        self.kernel_died = False  # the server's restarter found the kernel dead
        self._saver = RecordSaver(record, persist, self._log)
        self._ending: asyncio.Future[None] | None = None  # a cancel the run gave itself
        self.cells_lost: str | None = None  # why the file holds none of the run's cells
        self.final_saved = False  # the database took the ended run's record

    # -- events -----------------------------------------------------------------------

    def emit(
        self, event: dict[str, Any], since: float | None = None, urgent: bool = False
    ) -> dict[str, Any]:
        """The one step every event of the run passes through: numbered by the hub (and
        journaled, and sent to the followers), then given to each sink: applied to the
        run's outputs, marked for the notebook's writer (``since``: when the kernel sent
        it; ``urgent``: write at once). Returns the event with its ``seq``."""
        numbered = self._hub.publish(self.record.id, event)
        for sink in self.sinks:
            sink.receive(numbered, since, urgent)
        return numbered

    def emit_status(self) -> None:
        """Tell every follower the run's record as it is now (status, times, error)."""
        self.emit({"type": ev.RUN, "run": self.record.to_dict(with_cells=False)})

    def _on_message(self, cell_id: str, msg: dict[str, Any]) -> None:
        sent = sent_at(msg)
        for event in events_from_message(cell_id, msg):
            self.emit(event, sent)

    def _snapshot(self) -> tuple[int, dict[str, CellState], NotebookMeta | None]:
        return self._hub.seq(self.record.id), cell_states(self.model), notebook_meta(self.model)

    def note(self, cell_id: str | None, text: str) -> None:
        """Tell the reader of the notebook, in the cell itself, what happened to the run."""
        if cell_id is not None:
            self.emit({"type": ev.OUTPUT, "cell_id": cell_id, "output": note_output(text)})

    def _on_written(self, upto: int, result: WriteResult) -> None:
        self._deleted.written(result.present)
        self._check_cells_found(result)
        self.last_flush = {
            "upto": upto,
            "last_modified": result.last_modified,
            "hash": result.hash or None,
        }
        if result.destination != "file":
            self.last_flush["destination"] = result.destination
        self.emit({"type": ev.FLUSHED, **self.last_flush})

    def _check_cells_found(self, result: WriteResult) -> None:
        """Fail the run, saying so, when the notebook holds none of its cells any more.

        A user deleting a cell or two mid-run skips them (``DeletedCells``); a notebook
        in which not one of the run's cells can be found (their ids changed under the
        run) would get none of its outputs, while the run went on as if it had: it stops
        instead, and its outputs stay in the journal.
        """
        ids = {cell.id for cell in self.record.cells}
        if not result.missing or ids & result.present or self.cells_lost is not None:
            return
        self.cells_lost = (
            f"none of the run's cells is in {self.record.path} any more (their ids changed): "
            f"their outputs are in the journal, `jupyter lapd logs {self.record.id}`"
        )
        self._log.error("jupyter_lapd: run %s: %s", self.record.id, self.cells_lost)
        if not self.cancelled():
            self._ending = asyncio.ensure_future(self.cancel(RunStatus.FAILED, self.cells_lost))

    def merge_into(self, content: dict[str, Any]) -> None:
        """Put the run's current outputs into a notebook someone else is saving: a
        browser that saves during the run may hold stale outputs for the run's cells;
        whatever it sends, the run's outputs are what ends up on disk."""
        merge_into_content(content, self.model)

    def snapshot_event(self, cells: Collection[str] | None = None) -> dict[str, Any]:
        """The run and the current outputs of its cells, exactly as of the current seq;
        with ``cells``, the outputs and timing of those cells only (a catch-up: the
        subscriber holds the others already)."""
        return {
            "seq": self._hub.seq(self.record.id),
            "type": ev.SNAPSHOT,
            "run": self.record.to_dict(with_cells=True),
            **self.model.snapshot(cells),
            # the file's state at the last write: a page attaching mid-run adopts it
            # instead of asking for the file
            "flushed": self.last_flush,
        }

    # -- lifecycle --------------------------------------------------------------------

    async def run(self) -> None:
        rec = self.record
        rec.status, rec.started = RunStatus.RUNNING, utcnow()
        self.emit_status()
        executor: Executor | None = None
        self.writer.start()
        try:
            await self._persist(rec)
            self._lease = await self._kernels.acquire(rec.kernel_mode, rec.path, rec.kernel_name)
            rec.kernel_id, rec.kernel_name = self._lease.kernel_id, self._lease.kernel_name
            self.emit_status()
            await self._persist(rec)
            self._activity = self._kernels.take_activity(rec.kernel_id)
            executor = Executor(
                self._nb,
                self._kernels.manager_of(rec.kernel_id),
                self._on_message,
                timeout=self._cell_timeout,
                log=self._log,
                throttle=lambda: self._hub.backpressure(rec.id),
                on_any=self._activity.record if self._activity else None,
            )
            executor.client.save_widget_state = self._store_widget_state
            km: Any = executor.client.km
            with contextlib.suppress(Exception):  # a gateway's manager has no restarter
                km.add_restart_callback(self._on_auto_restart, "restart")
            await executor.start()
            await self._emit_notebook_metadata(executor)
            await CellLoop(self, rec, self._nb, self.writer, self._deleted, self._log).run_cells(
                executor
            )
        except asyncio.CancelledError:
            if not self._cancel_requested:
                raise
            self.finish(RunStatus.CANCELLED)
        except Exception as e:
            self._log.exception("jupyter_lapd: run %s failed", rec.id)
            self.finish(RunStatus.FAILED, f"{type(e).__name__}: {e}")
        finally:
            await self._wind_down(executor)

    async def _emit_notebook_metadata(self, executor: Executor) -> None:
        values, defaults = await self._kernels.started_metadata(
            executor.language_info, self.record.kernel_name, self._nb.metadata
        )
        if values or defaults:
            self.emit({"type": ev.METADATA, "metadata": values, "defaults": defaults})

    def finish(self, status: RunStatus, error: str | None = None) -> None:
        """Decide the outcome; it becomes visible once the file holds everything."""
        rec = self.record
        if self._outcome is None:
            self._outcome = (status, error)
        for cell in rec.cells:
            if cell.status in (CellStatus.QUEUED, CellStatus.RUNNING):
                cell.status = CellStatus.SKIPPED

    async def _wind_down(self, executor: Executor | None) -> None:
        rec = self.record
        if self._outcome is None:  # ended by an unexpected error above
            self.finish(RunStatus.FAILED, "run ended unexpectedly")
        assert self._outcome is not None
        try:
            if executor is not None:
                km: Any = executor.client.km
                with contextlib.suppress(Exception):
                    km.remove_restart_callback(self._on_auto_restart, "restart")
                await executor.stop()
            if self._activity is not None:
                self._activity.give_back()
            if self._lease is not None:
                await self._kernels.release(self._lease)
        except Exception:
            self._log.exception("jupyter_lapd: releasing the kernel of run %s", rec.id)
        if self._abort_note is not None:
            self.note(*self._abort_note)
        status, error = self._outcome
        try:
            await self.writer.close()
        except Exception as e:
            self._log.exception("jupyter_lapd: the last write of run %s failed", rec.id)
            status, error = RunStatus.FAILED, error or f"could not write {rec.path}: {e}"
        with contextlib.suppress(Exception):
            await self._hub.flush_journal()
        status, error = final_outcome(
            status,
            error,
            path=rec.path,
            write_error=self.writer.error,
            cells_lost=self.cells_lost,
            journal_failure=self._hub.journal_failure(rec.id),
        )
        await self._saver.stop()  # no per-cell save may land after the final one
        # Only now, with the file written and the journal complete, does the run show
        # as ended: a client that sees "completed" can trust the file it then reads.
        final = rec.copy()
        final.status, final.error, final.finished = status, error, utcnow()
        self.emit({"type": ev.RUN, "run": final.to_dict(with_cells=False)})
        await self._close_events()
        rec.status, rec.error, rec.finished = status, error, final.finished
        await self._persist(rec)  # if it fails, the manager keeps trying (_record_end)
        self.final_saved = True

    async def _close_events(self) -> None:
        try:
            await self._hub.close(self.record.id)
        except Exception:
            self._log.exception("jupyter_lapd: closing the events of run %s", self.record.id)
            self._hub.discard(self.record.id)  # its followers end all the same

    async def end_abruptly(self, reason: str) -> None:
        """End a run whose wind-down failed before it could record the outcome: failed,
        with ``reason``, its followers told (the manager then records it)."""
        rec = self.record
        if not rec.status.active:
            return
        self.finish(RunStatus.FAILED, reason)
        rec.status, rec.error, rec.finished = RunStatus.FAILED, reason, utcnow()
        if self._hub.is_open(rec.id):
            self._hub.publish(rec.id, {"type": ev.RUN, "run": rec.to_dict(with_cells=False)})
            await self._close_events()

    def persist_soon(self) -> None:
        """The record changed: save it in the background (``RecordSaver``)."""
        self._saver.soon()

    def restart_pending(self, executor: Executor) -> bool:
        """Whether the kernel is being shut down or restarted on request (from the UI),
        rather than dead of its own accord (which the server's restarter reports)."""
        km = executor.client.km
        return (
            not self.cancelled()
            and not self.kernel_died
            and bool(getattr(km, "shutting_down", False))
        )

    def _on_auto_restart(self) -> None:
        # the server's restarter found the kernel dead and restarts it: a death, not a
        # restart anyone asked for (ServerEventFollower leaves such a run alone)
        self.kernel_died = True

    def cancelled(self) -> bool:
        """Whether the run was asked to stop (cancelled, aborted, failed from outside)."""
        return self._cancel_requested

    def aborted(self) -> bool:
        """Whether the run was ended from outside without waiting for the kernel."""
        return self._aborted

    def _decide(self, status: RunStatus, reason: str | None, later: bool = False) -> None:
        """The run's outcome, if none yet, with a note saying so in the running cell
        (``later``: once the run has stopped reading the kernel, see ``abort``)."""
        if self._outcome is None:
            self._outcome = (status, reason)
            note = (self.record.current_cell_id, f"run {status.value}: {reason} ({_now()})")
            if later:
                self._abort_note = note
            else:
                self.note(*note)

    def abort(self, status: RunStatus, reason: str) -> None:
        """End the run now (server shutdown, kernel restarted under it), without waiting
        for the kernel; the file is still written, with a note in the running cell.

        The note goes in once the run has stopped reading the kernel: the cell's output
        is read by a task of its own, which can take in a message or two more before the
        cancellation reaches it, and those would land after the note.
        """
        self._decide(status, reason, later=True)
        self._cancel_requested = self._aborted = True
        if self.task is not None:
            self.task.cancel()

    async def cancel(
        self,
        status: RunStatus = RunStatus.CANCELLED,
        reason: str | None = None,
        grace: float | None = None,
    ) -> None:
        """Interrupt the running cell, skip the rest; cancel outright if the kernel ignores
        it for ``grace`` seconds (default: the run's ``cancel_grace``).

        ``status``/``reason`` name the outcome when something other than a user's cancel
        stops the run (the notebook was deleted, a stop notice); the note saying so goes
        in the running cell after what the interrupted code printed last.
        """
        if self.cancelled():
            return
        if status != RunStatus.CANCELLED:
            self._decide(status, reason, later=True)
        self._cancel_requested = True
        if self.record.current_cell_id is not None:
            await self.interrupt()
        if self.task is not None:
            wait = self._cancel_grace if grace is None else grace
            done, _ = await asyncio.wait({self.task}, timeout=wait)
            if not done:
                self.task.cancel()

    async def interrupt(self) -> None:
        if self._lease is not None:
            try:
                await self._kernels.interrupt(self._lease.kernel_id)
            except Exception as e:
                self._log.warning("jupyter_lapd: interrupt failed: %s", e)

    def move(self, api_path: str, os_path: str) -> None:
        """Follow a rename of the notebook: later writes go to its new place."""
        self.record.path, self.os_path, self.writer.os_path = api_path, os_path, os_path
        self._deleted.os_path = os_path
        self.emit_status()


def _now() -> str:
    return isoformat(utcnow()) or ""
