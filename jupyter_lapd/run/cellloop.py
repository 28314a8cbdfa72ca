"""CellLoop: a run's cells in order, each sent to the kernel once the one before has its reply."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from nbformat import NotebookNode

from ..journal import eventhub as ev
from ..models import CellRecord, CellStatus, RunRecord, RunStatus, isoformat, utcnow
from ..notebook.resolve import cell_index
from ..notebook.writer import NotebookWriter
from .cellclient import Submission
from .cellresult import CellOutcome, CellResult
from .deletedcells import DeletedCells
from .executor import Executor

# The tag of a cell that shows an error on purpose (JupyterLab, nbclient, jupyter-book).
RAISES_TAG = "raises-exception"
# How long a kernel death waits for news of a restart from the UI, which explains it.
RESTART_GRACE = 2.0


class RunControl(Protocol):
    """What the cell loop asks of the run whose cells it steps through (``ActiveRun``)."""

    def emit(
        self, event: dict[str, Any], since: float | None = None, urgent: bool = False
    ) -> dict[str, Any]: ...

    def persist_soon(self) -> None: ...

    def note(self, cell_id: str | None, text: str) -> None: ...

    def finish(self, status: RunStatus, error: str | None = None) -> None: ...

    def cancelled(self) -> bool: ...

    def aborted(self) -> bool: ...

    async def interrupt(self) -> None: ...

    def restart_pending(self, executor: Executor) -> bool: ...


class CellLoop:
    """A run's cells in order on its executor: each sent once the one before has its
    reply, its start and end told to the run, the run finished when a cell ends it."""

    def __init__(
        self,
        run: RunControl,
        record: RunRecord,
        nb: NotebookNode,
        writer: NotebookWriter,
        deleted: DeletedCells,
        log: logging.Logger,
    ) -> None:
        self.run = run
        self.record = record
        self.writer = writer
        self._nb = nb
        self._deleted = deleted
        self._log = log

    async def run_cells(self, executor: Executor) -> None:
        """The cells in order, each sent to the kernel once the one before has its reply.

        The reply says the kernel has finished running the cell; its ``idle`` follows a
        few hundred microseconds later, and reading and recording it took as long again
        before the next cell went out: a notebook of short cells waited that long
        between every two. Whether the next cell goes (the run cancelled, the cell
        deleted, an error) is still decided once the kernel has finished the one before;
        its start is recorded once the one before has ended, in that order.
        """
        rec = self.record
        indices = cell_index(self._nb)
        ahead: _Sent | None = None  # the cell sent last, whose end is not recorded yet
        sent: _Sent | None = None
        try:
            for position, cell in enumerate(rec.cells, start=1):
                if ahead is not None and not await self._may_follow(ahead, executor):
                    break
                if self.run.cancelled():
                    break
                if not await self._deleted.still_there(cell.id, self.writer.written_mtime_ns):
                    cell.status = CellStatus.SKIPPED
                    continue
                nb_cell = self._nb.cells[indices[cell.id]]
                tags = nb_cell.metadata.get("tags") or []
                if executor.client.skip_cells_with_tag in tags:
                    # not run, as nbclient and papermill leave it: outputs and count kept
                    if ahead is not None:
                        ended, ahead = await self._end_cell(ahead, executor), None
                        if not ended:
                            break
                    self._skip_cell(cell)
                    continue
                sent = _Sent(cell, position, utcnow(), None, RAISES_TAG in tags)
                if nb_cell.source.strip():  # Jupyter does not send empty cells to the kernel
                    sent.submission = executor.submit(nb_cell, indices[cell.id], cell.id)
                if ahead is not None and not await self._end_cell(ahead, executor):
                    ahead = None
                    if (
                        self.run.cancelled()
                        and not self.run.aborted()
                        and sent.submission is not None
                    ):
                        # cancelled once this cell was sent: it may be running already
                        await self.run.interrupt()
                        self._start_cell(sent, executor)
                        ahead = sent
                    break
                self._start_cell(sent, executor)
                ahead = sent
            if ahead is not None:
                await self._end_cell(ahead, executor)
        finally:
            for pending in (ahead, sent):  # the run ended under them (aborted, failed)
                task = pending.submission.task if pending and pending.submission else None
                if task is not None and not task.done():
                    task.cancel()
        self.run.finish(RunStatus.CANCELLED if self.run.cancelled() else RunStatus.COMPLETED)

    async def _may_follow(self, ahead: _Sent, executor: Executor) -> bool:
        """Whether the cell after ``ahead`` may go, once the kernel has finished ``ahead``
        (and its output is read, if the run is behind on it)."""
        submission = ahead.submission
        if submission is None:
            return True
        assert submission.task is not None
        try:
            reply = await asyncio.shield(submission.replied)
            if reply is None or not executor.keeping_up:
                # no reply: the cell's result says why (a dead kernel)
                await asyncio.wait({submission.task})
        except asyncio.CancelledError:
            if not self.run.cancelled():
                raise
            # ended from outside (a restart, the server stopping): the cell is cancelled
            # with the run, and ends as a cell whose kernel went away (see _end_cell)
            submission.task.cancel()
            return False
        if reply is not None:
            status = reply.get("content", {}).get("status")
        elif submission.task.exception() is None:
            status = submission.task.result().status
        else:
            return False  # the channel to the kernel broke: _end_cell says so
        return status == CellOutcome.OK or (
            status in (CellOutcome.ERROR, CellOutcome.ABORTED) and self._allows_errors(ahead)
        )

    def _allows_errors(self, sent: _Sent) -> bool:
        """Whether the run goes on after this cell's error: the run allows errors, or the
        cell is tagged ``raises-exception`` (a cell that shows an error on purpose, which
        JupyterLab runs without stopping the kernel's queue and nbclient goes past)."""
        return self.record.allow_errors or sent.raises

    def _skip_cell(self, cell: CellRecord) -> None:
        """A cell not run, its outputs, count and timing left as they were: only its status
        is said (a ``cell_end`` with no ``cell_start``), so a page unmarks it as queued."""
        cell.status = CellStatus.SKIPPED
        self.run.emit(
            {
                "type": ev.CELL_END,
                "cell_id": cell.id,
                "status": CellStatus.SKIPPED.value,
                "execution_count": None,
                "execution": {},
                "finished": isoformat(utcnow()),
            }
        )
        self.run.persist_soon()

    def _start_cell(self, sent: _Sent, executor: Executor) -> None:
        cell = sent.cell
        cell.status, cell.started = CellStatus.RUNNING, sent.at
        self.run.emit({"type": ev.CELL_START, "cell_id": cell.id, "started": isoformat(sent.at)})
        self.run.persist_soon()
        if sent.submission is not None:
            executor.begin(sent.submission)

    async def _end_cell(self, sent: _Sent, executor: Executor) -> bool:
        """Record a cell's end once its last output is in; False if the run ends there."""
        cell, position = sent.cell, sent.position
        if sent.submission is None:
            result = CellResult(CellOutcome.OK)
        else:
            assert sent.submission.task is not None
            try:
                result = await sent.submission.task
            except Exception as e:  # the channel to the kernel broke (a gateway gone)
                self._log.warning("jupyter_lapd: lost the kernel: %r", e)
                result = CellResult(CellOutcome.LOST, error=f"{type(e).__name__}: {e}")
        if result.status == CellOutcome.DEAD and self.run.restart_pending(executor):
            # A restart from JupyterLab kills the kernel before the server announces
            # the restart (ServerEventFollower aborts the run, cancelling this task):
            # give that announcement a moment to name the real cause.
            try:
                await asyncio.sleep(RESTART_GRACE)
            except asyncio.CancelledError:
                if not self.run.cancelled():
                    raise  # not the abort: let the cancellation through
        if executor.client.widgets_changed:
            widgets = executor.client.widgets_metadata()
            if widgets is not None:  # saved as nbclient saves it, once the cell is done
                self.run.emit({"type": ev.METADATA, "metadata": {"widgets": widgets}})
        finished = utcnow()
        cell.finished, cell.execution_count = finished, result.execution_count
        cell.status = CellStatus.DONE if result.status == CellOutcome.OK else CellStatus.ERROR
        if result.status in (CellOutcome.DEAD, CellOutcome.LOST) and not self.run.cancelled():
            what = "the kernel died" if result.status == CellOutcome.DEAD else "lost the kernel"
            self.run.note(cell.id, f"{what} while running this cell ({isoformat(utcnow())})")
        self.run.emit(
            {
                "type": ev.CELL_END,
                "cell_id": cell.id,
                "status": cell.status.value,
                "execution_count": result.execution_count,
                "execution": result.execution,
                "finished": isoformat(finished),
            },
            urgent=self.writer.worth_writing_now((finished - sent.at).total_seconds()),
        )
        self.run.persist_soon()
        if self.run.cancelled():
            return False
        if result.status == CellOutcome.DEAD:
            self.run.finish(RunStatus.FAILED, f"kernel died while running cell {position}")
        elif result.status == CellOutcome.LOST:
            self.run.finish(
                RunStatus.FAILED,
                f"lost the connection to the kernel while running cell {position} ({result.error})",
            )
        elif result.status == CellOutcome.TIMEOUT or (
            result.status != CellOutcome.OK and not self._allows_errors(sent)
        ):
            reason = "aborted" if result.status == CellOutcome.ABORTED else result.error
            self.run.finish(RunStatus.FAILED, f"cell {position} failed: {reason}")
        else:
            return True
        return False


@dataclass
class _Sent:
    """A cell the run has sent to the kernel (no submission: an empty cell, not sent)."""

    cell: CellRecord
    position: int  # in the run, from 1
    at: datetime
    submission: Submission | None
    raises: bool = False  # tagged raises-exception: its error does not end the run
