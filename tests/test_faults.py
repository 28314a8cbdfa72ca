"""Faults of the runs database on a real server: every run ends in a clear state, nothing
stays busy, and the user is told.

The faults are real SQLite errors: a trigger installed in the server's own database (from
another connection, as another program could) makes the chosen writes fail inside
SQLite, exactly where a locked, damaged or full database fails them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import read_nb, wait_until
from tornado.httpclient import HTTPClientError


@contextmanager
def failing_writes(db_path: str, when: str) -> Iterator[None]:
    """Make every write of a run record matching the SQL condition ``when`` (on ``NEW``)
    fail with SQLite's disk I/O error message, until the block ends."""
    conn = sqlite3.connect(db_path)
    try:
        for event in ("INSERT", "UPDATE"):
            conn.execute(
                f"CREATE TRIGGER lapd_fault_{event.lower()} BEFORE {event} ON runs"
                f" WHEN {when} BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
            )
        conn.commit()
        yield
    finally:
        for event in ("insert", "update"):
            conn.execute(f"DROP TRIGGER IF EXISTS lapd_fault_{event}")
        conn.commit()
        conn.close()


def stored_status(db_path: str, run_id: str) -> str | None:
    with sqlite3.connect(db_path) as conn:
        row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
    return row[0] if row else None


async def test_a_run_the_database_cannot_record_is_refused_and_leaves_nothing_busy(
    jp_fetch: Any, lapd_app: Any, lapd_notebook: Any, lapd_start: Any, lapd_wait: Any
) -> None:
    path = lapd_notebook(["print('ran')"])
    before = path.read_bytes()
    db_path = lapd_app.manager.store.db_path
    with failing_writes(db_path, "1"), pytest.raises(HTTPClientError) as refused:
        await jp_fetch("lapd", "api", "runs", method="POST", body=json.dumps({"path": "nb.ipynb"}))
    assert refused.value.code == 503
    body = json.loads(refused.value.response.body)
    assert "runs database" in body["message"]
    assert "disk I/O error" in body["message"]
    assert path.read_bytes() == before
    listed = json.loads((await jp_fetch("lapd", "api", "runs")).body)["runs"]
    assert listed == []

    # the notebook is not left busy: the next run starts and completes
    run = await lapd_start("nb.ipynb")
    assert (await lapd_wait(run["id"]))["status"] == "completed"
    assert read_nb(path).cells[0].outputs[0]["text"] == "ran\n"


async def test_a_run_whose_end_the_database_refuses_still_ends_and_is_recorded_later(
    lapd_app: Any,
    lapd_notebook: Any,
    lapd_start: Any,
    lapd_wait: Any,
    lapd_events: Any,
    jp_fetch: Any,
    tmp_path: Path,
) -> None:
    path = lapd_notebook(["print('ran')"])
    db_path = lapd_app.manager.store.db_path
    with failing_writes(db_path, "NEW.status NOT IN ('queued', 'running')"):
        run = await lapd_start("nb.ipynb")
        # the events socket closes: followers (the page, `jupyter lapd wait`) are told
        events = await lapd_events(run["id"])
        assert events[-1]["type"] == "run"
        assert events[-1]["run"]["status"] == "completed"
        # the server answers the run's true state, and the file holds its outputs
        ended = await lapd_wait(run["id"], timeout=30)
        assert ended["status"] == "completed"
        listed = json.loads((await jp_fetch("lapd", "api", "runs")).body)["runs"]
        assert [r["status"] for r in listed] == ["completed"]
        assert read_nb(path).cells[0].outputs[0]["text"] == "ran\n"
        assert stored_status(db_path, run["id"]) == "running"
        # the notebook is free for the next run
        second = await lapd_start("nb.ipynb")
        assert (await lapd_wait(second["id"], timeout=30))["status"] == "completed"
    # once the database takes writes again, the ended runs are recorded
    await wait_until(lambda: stored_status(db_path, run["id"]) == "completed", timeout=60)
    await wait_until(lambda: stored_status(db_path, second["id"]) == "completed", timeout=60)
