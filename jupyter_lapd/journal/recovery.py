"""Recovery of runs left active by a process that died: journal replayed into the file."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

import nbformat
from jupyter_server.services.contents.fileio import path_to_intermediate, path_to_invalid

from ..models import CellStatus, LapdError, RunRecord, RunStatus, isoformat, parse_time, utcnow
from ..notebook.cellmerge import cell_states, note_output, notebook_meta, write_cells
from ..notebook.resolve import resolve_path
from ..outputs.model import DEFAULT_MAX_OUTPUT_BYTES, OutputModel
from . import eventhub as ev
from .store import Store

STALE_REASON = "the server stopped while the run was active"


def interrupt_stale_run(
    store: Store,
    record: RunRecord,
    root_dir: str,
    log: logging.Logger,
    reason: str = STALE_REASON,
    max_output_bytes: int | None = DEFAULT_MAX_OUTPUT_BYTES,
) -> RunRecord:
    """Mark a run that no process drives any more ``interrupted``, and put into its notebook
    everything its journal holds (a killed server may have journaled up to a flush interval
    more than it wrote), with a note in the cell that was running.

    Synchronous and blocking: the manager calls it from its database thread at startup;
    a headless run calls it for a run whose process died, with its own ``reason``.
    """
    # one pass over the journal a page at a time: a run that printed a gigabyte is
    # recovered in the memory of its bounded outputs
    model = OutputModel(max_output_bytes, run_id=record.id)
    seq = 0
    cells = _CellFollower(record)
    for event in store.events(record.id):
        model.apply(event)
        cells.follow(event)
        seq = int(event["seq"])
    added: list[dict[str, Any]] = []
    running = record.current_cell_id
    now = utcnow()
    if running is not None:
        seq += 1
        text = f"run interrupted: {reason} ({isoformat(now)})"
        added.append(
            {"seq": seq, "type": "output", "cell_id": running, "output": note_output(text)}
        )
    record.status, record.error = RunStatus.INTERRUPTED, reason
    record.finished = record.finished or now
    for cell in record.cells:
        if cell.status in (CellStatus.QUEUED, CellStatus.RUNNING):
            cell.status = CellStatus.SKIPPED
    seq += 1
    added.append({"seq": seq, "type": "run", "run": record.to_dict(with_cells=False)})
    store.append_events(record.id, added)
    for event in added:
        model.apply(event)
    if model.cell_ids():
        try:
            _, os_path = resolve_path(root_dir, record.path)
            if os.path.exists(os_path):
                restore_interrupted_save(os_path, log)
                write_cells(os_path, cell_states(model), meta=notebook_meta(model))
        except (LapdError, OSError, ValueError) as e:
            log.warning("jupyter_lapd: could not restore outputs of %s: %s", record.path, e)
    store.save_run(record, root_dir)
    return record


def follow_cells(record: RunRecord, events: Iterable[dict[str, Any]]) -> None:
    """Bring the record's cells up to what the journal says they did.

    A run saves its record at most every few tenths of a second, but journals each cell's
    start and end: after a kill the journal is the newer of the two, so a cell it shows
    ended is not taken for the one that was running.
    """
    follower = _CellFollower(record)
    for event in events:
        follower.follow(event)


class _CellFollower:
    """``follow_cells`` an event at a time."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.known = {cell.id for cell in record.cells}

    def follow(self, event: dict[str, Any]) -> None:
        kind, cell_id = event.get("type"), event.get("cell_id")
        if cell_id not in self.known or kind not in (ev.CELL_START, ev.CELL_END):
            return
        cell = self.record.cell(cell_id)
        if kind == ev.CELL_START:
            cell.status = CellStatus.RUNNING
            cell.started = parse_time(event.get("started")) or cell.started
        elif event.get("status") == CellStatus.SKIPPED.value:
            cell.status = CellStatus.SKIPPED
        elif event.get("status") in (CellStatus.DONE.value, CellStatus.ERROR.value):
            cell.status = CellStatus(event["status"])
            cell.execution_count = event.get("execution_count")
            cell.finished = parse_time(event.get("finished")) or cell.finished


def restore_interrupted_save(os_path: str, log: logging.Logger) -> bool:
    """Undo a save through the contents manager that a kill cut short; True if it did.

    Saves by a collaborative room or through jupytext's contents manager go through Jupyter
    Server, which copies the notebook to ``.~<name>`` and then rewrites it in place: killed
    in between, it leaves the notebook truncated and the copy whole. Jupyter Server puts the
    copy back the next time it opens the file; recovery must do it before merging into it.
    """
    backup = path_to_intermediate(os_path)
    if not os.path.exists(backup):
        return False
    try:
        nbformat.read(os_path, as_version=nbformat.NO_CONVERT)
    except Exception:  # truncated: the save was cut short
        os.replace(os_path, path_to_invalid(os_path))
        os.replace(backup, os_path)
        log.warning(
            "jupyter_lapd: %s was cut short while being saved; restored its copy (%s kept)",
            os_path,
            os.path.basename(path_to_invalid(os_path)),
        )
        return True
    return False  # whole after all: the copy is a leftover
