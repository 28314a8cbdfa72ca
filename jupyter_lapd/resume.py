"""What a resumed headless attempt takes from the one it continues: cells, outputs, lineage.

Kernel state cannot come back, so ``from-start`` reruns the whole selection on a fresh
kernel, and ``from-failed`` trusts that the cells after the last finished one need no
state but the parameters'.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from nbformat import NotebookNode

from .cellmerge import cell_states, notebook_meta, write_cells
from .events import CELL_END
from .models import CellStatus, RunRecord
from .notebooks import select_cells
from .outputs import replay
from .parameters import INJECTED_TAG, PARAMETERS_TAG
from .store import Store

FROM_START, FROM_FAILED = "from-start", "from-failed"
RESUME_MODES = (FROM_START, FROM_FAILED)


def in_order(nb: NotebookNode, ids: set[str]) -> list[str]:
    """The code cells of ``nb`` among ``ids``, in notebook order (deleted ones dropped)."""
    return [c["id"] for c in nb.cells if c.cell_type == "code" and c["id"] in ids]


def new_selection(nb: NotebookNode, cells: Sequence[str] | None, injected: str | None) -> list[str]:
    """A new run's cells: all code cells, or the ones asked for plus injected parameters
    (parameters given are parameters used)."""
    wanted = list(cells) if cells is not None else None
    if wanted is not None and injected is not None:
        wanted.insert(0, injected)
    return select_cells(nb, wanted)


def from_start(nb: NotebookNode, first: RunRecord, injected: str | None) -> list[str]:
    """The cells of the first attempt of a chain (a from-failed attempt runs fewer)."""
    return in_order(nb, {c.id for c in first.cells} | ({injected} if injected else set()))


def from_failed(nb: NotebookNode, ids: Sequence[str], done: set[str]) -> list[str]:
    """The cells from the first one not done on, plus the parameter cells: a fresh kernel
    needs the parameters, whatever else it lacks."""
    rest = next((i for i, cell_id in enumerate(ids) if cell_id not in done), len(ids))
    wanted = set(ids[rest:])
    if wanted:
        tags = {PARAMETERS_TAG, INJECTED_TAG}
        wanted |= {c["id"] for c in nb.cells if tags & set(c.metadata.get("tags") or [])}
    return in_order(nb, wanted)


def done_cells(store: Store, run_id: str) -> set[str]:
    """Cells the journal shows finished ``done``: with their end journaled, all their
    outputs are too (the journal is written in order), so they need no rerun."""
    return {
        str(e["cell_id"])
        for e in store.read_events(run_id)
        if e["type"] == CELL_END and e.get("status") == CellStatus.DONE.value
    }


def replay_into(store: Store, run_id: str, os_path: str) -> None:
    """Put everything a run journaled into its notebook (idempotent): a killed process
    journaled up to a flush interval more than it wrote."""
    model = replay(store.read_events(run_id))
    if model.cell_ids() and os.path.exists(os_path):
        write_cells(os_path, cell_states(model), meta=notebook_meta(model))


def first_attempt(store: Store, record: RunRecord) -> RunRecord:
    """The run a chain of resumed attempts started from."""
    seen = {record.id}
    while record.resumed_from and record.resumed_from not in seen:
        earlier = store.get_run(record.resumed_from)
        if earlier is None:
            break
        seen.add(earlier.id)
        record = earlier
    return record
