"""The outcome a run ends with, once the file and the journal have said whether they hold it."""

from __future__ import annotations

from ..models import RunStatus


def final_outcome(
    status: RunStatus,
    error: str | None,
    *,
    path: str,
    write_error: BaseException | None,
    cells_lost: str | None,
    journal_failure: BaseException | None,
) -> tuple[RunStatus, str | None]:
    """The run's outcome as decided (``status``, ``error``), told what the last write
    and the journal could not do: a run whose notebook or journal misses outputs did not
    complete, and its error says which holds them. Outputs are lost only when neither
    could be written.

    ``write_error``: why the notebook could not be written (the outputs are safe in the
    journal); ``cells_lost``: why the file holds none of the run's cells;
    ``journal_failure``: why the runs database could not journal every event.
    """
    if write_error is not None:
        error = error or f"could not write {path}: {write_error}"
        if status == RunStatus.COMPLETED:
            status = RunStatus.FAILED
    if cells_lost is not None and status == RunStatus.COMPLETED:
        status, error = RunStatus.FAILED, cells_lost
    if journal_failure is None:
        return status, error
    if error is None or "journal" not in error:
        journal = f"the runs database cannot journal the run's events ({journal_failure})"
        error = f"{error}; {journal}" if error else journal
    if write_error is not None:
        error += (
            f"; nor could the notebook be written ({write_error}):"
            " outputs since its last write are lost"
        )
    else:
        error += f"; {path} holds every output"
    return RunStatus.FAILED, error
