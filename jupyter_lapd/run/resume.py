"""What a resumed attempt takes from the one it continues: cells, outputs, lineage.

Kernel state cannot come back, so ``from-start`` reruns the whole selection on a fresh
kernel, and ``from-failed`` first reruns the setup cells (tagged ``setup``, the parameter
cells, those the user names), which rebuild the state the later cells need, then the
cells from the first unfinished one on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from nbformat import NotebookNode

from ..journal.eventhub import CELL_END
from ..journal.store import Store
from ..models import CellStatus, RunRecord
from ..notebook.cellmerge import cell_states, notebook_meta, write_cells
from ..notebook.parameters import INJECTED_TAG, PARAMETERS_TAG
from ..notebook.resolve import select_cells
from ..outputs.model import replay
from . import cellnames

FROM_START, FROM_FAILED = "from-start", "from-failed"
RESUME_MODES = (FROM_START, FROM_FAILED)
# The tag of a cell that rebuilds the kernel's state (imports, data loading, a model):
# a from-failed attempt reruns it before the cells it resumes.
SETUP_TAG = "setup"


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


@dataclass
class Resumption:
    """The cells a from-failed attempt runs, in notebook order, and which of them are
    setup cells rerun for the kernel's state rather than because they did not finish."""

    cells: list[str] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)
    # the first cell that did not finish (None: every cell did)
    resumes_at: str | None = None


def from_failed(
    nb: NotebookNode, ids: Sequence[str], done: set[str], setup: Iterable[str] = ()
) -> Resumption:
    """The cells from the first one not done on, and before them the setup cells: those
    tagged ``setup``, ``parameters`` or ``injected-parameters`` and those in ``setup``
    (``--setup-cells``), as the notebook orders them. A fresh kernel needs them, whatever
    else it lacks; the other finished cells keep their outputs and counts."""
    rest = next((i for i, cell_id in enumerate(ids) if cell_id not in done), len(ids))
    wanted = set(ids[rest:])
    order = [c["id"] for c in nb.cells if c.cell_type == "code"]
    resumes_at = next((cell_id for cell_id in order if cell_id in wanted), None)
    if resumes_at is None:
        return Resumption()
    given = set(setup)
    tags = {SETUP_TAG, PARAMETERS_TAG, INJECTED_TAG}
    before = set(order[: order.index(resumes_at)])
    chosen = {
        c["id"]
        for c in nb.cells
        if c.cell_type == "code"
        and c["id"] in before
        and (c["id"] in given or tags & set(c.metadata.get("tags") or []))
    }
    return Resumption(in_order(nb, wanted | chosen), in_order(nb, chosen), resumes_at)


def setup_hint(nb: NotebookNode, plan: Resumption, option: str | None = None) -> str | None:
    """With no setup cells: which finished cells, left out of the resumed run, define
    names the resumed cells read (a fresh kernel lacks them), and how to rerun them
    (``option``: the command line's, if any); None when there are none."""
    if plan.setup or plan.resumes_at is None:
        return None
    order = [c["id"] for c in nb.cells if c.cell_type == "code"]
    skipped = [c for c in order[: order.index(plan.resumes_at)] if c not in plan.cells]
    defining = cellnames.defining_cells(nb, skipped, plan.cells)
    if not defining:
        return None
    how = "tag them 'setup'"
    if option is not None:
        how += f" or pass {option} {','.join(defining)}"
    return (
        f"resuming at cell {plan.resumes_at} with no setup cells, but cells "
        f"{', '.join(defining)} define names the resumed cells use: {how}"
    )


def done_cells(store: Store, run_id: str) -> set[str]:
    """Cells the journal shows finished ``done``: with their end journaled, all their
    outputs are too (the journal is written in order), so they need no rerun."""
    return {
        str(e["cell_id"])
        for e in store.events(run_id, texts=False)
        if e["type"] == CELL_END and e.get("status") == CellStatus.DONE.value
    }


def replay_into(store: Store, run_id: str, os_path: str) -> None:
    """Put everything a run journaled into its notebook (idempotent): a killed process
    journaled up to a flush interval more than it wrote."""
    model = replay(store.events(run_id))
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
