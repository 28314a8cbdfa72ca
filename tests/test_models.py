"""Run records: lookups by cell id and the copies handed to the database thread."""

from __future__ import annotations

import pytest

from jupyter_lapd.models import CellRecord, CellStatus, RunRecord


def test_cells_are_found_by_id_after_the_list_changes():
    record = RunRecord(path="nb.ipynb", cells=[CellRecord(id=f"c{i}") for i in range(3)])
    assert record.position("c2") == 3 and record.cell("c0") is record.cells[0]
    record.cells.insert(0, CellRecord(id="new"))
    assert record.position("c2") == 4 and record.cell("new") is record.cells[0]
    record.cells = record.cells[2:]
    assert record.position("c2") == 2
    with pytest.raises(KeyError):
        record.cell("c0")


def test_a_copy_does_not_follow_later_changes():
    record = RunRecord(path="nb.ipynb", cells=[CellRecord(id="c0")])
    saved = record.copy()
    record.cells[0].status = CellStatus.DONE
    record.cells.append(CellRecord(id="c1"))
    assert [(c.id, c.status) for c in saved.cells] == [("c0", CellStatus.QUEUED)]
    assert saved.cell("c0") is saved.cells[0] and saved == RunRecord(
        path="nb.ipynb", cells=[CellRecord(id="c0")], id=record.id, created=record.created
    )
