"""Faults of the runs database on a real server: every run ends in a clear state, nothing
stays busy, and the user is told.

The faults are real SQLite errors: a trigger installed in the server's own database (from
another connection, as another program could) makes the chosen writes fail inside
SQLite, exactly where a locked, damaged or full database fails them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import held_until, make_notebook, read_nb, wait_until
from server_process import ServerProcess
from tornado.httpclient import HTTPClientError

pytestmark = pytest.mark.fault


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


def api_error(server: ServerProcess, path: str = "lapd/api/runs") -> tuple[int, str]:
    """The status and message of a request the server refuses."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        server.request("GET", path)
    return refused.value.code, json.loads(refused.value.read())["message"]


async def test_a_second_server_over_the_same_folder_and_database_serves_no_run(
    tmp_path: Path,
    jp_root_dir: Path,
    lapd_app: Any,
    lapd_notebook: Any,
    lapd_start: Any,
    lapd_wait: Any,
) -> None:
    flag = tmp_path / "flag"
    path = lapd_notebook([held_until(flag) + "print('first')"])
    run = await lapd_start("nb.ipynb")
    await lapd_wait(run["id"], cell=("c0", "running"))
    # the same root and the same database (ServerProcess keeps it at home/runs.db)
    db_path = lapd_app.manager.store.db_path
    second = ServerProcess(Path(db_path).parent, jp_root_dir)
    second.start(wait_api=False)
    try:
        await wait_until(lambda: api_error(second)[0] == 503, timeout=60)
        message = api_error(second)[1]
        assert f"another Jupyter server (process {os.getpid()} on " in message
        assert str(jp_root_dir) in message and db_path in message
        assert api_error(second, f"lapd/api/runs/{run['id']}")[0] == 503
    finally:
        second.stop()
    assert "cannot serve runs" in second.log()
    # the first server's run was left alone: not interrupted, its file not touched
    flag.touch()
    assert (await lapd_wait(run["id"]))["status"] == "completed"
    assert stored_status(db_path, run["id"]) == "completed"
    assert [o["text"] for o in read_nb(path).cells[0].outputs] == ["first\n"]


def test_a_database_locked_at_start_is_said_by_every_endpoint(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "home", tmp_path / "root")
    holder = sqlite3.connect(tmp_path / "home" / "runs.db")
    holder.execute("CREATE TABLE other_program (x)")
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the database
    try:
        server.start(wait_api=False)
        wait_for_refusal = time.monotonic() + 60
        while True:
            try:
                status, message = api_error(server)
                break
            except urllib.error.URLError:
                assert time.monotonic() < wait_for_refusal
                time.sleep(0.2)
        assert status == 503
        assert message == (
            "jupyter_lapd cannot serve runs: the runs database"
            f" {tmp_path / 'home' / 'runs.db'} cannot be opened: database is locked"
        )
    finally:
        server.stop()
        holder.rollback()
        holder.close()
    assert message in server.log()


def test_a_damaged_database_is_kept_aside_and_a_new_one_started(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    garbage = b"not a database, " * 4096
    (home / "runs.db").write_bytes(garbage)
    server = ServerProcess(home, tmp_path / "root")
    nbformat.write(make_notebook(["print('fresh')"]), server.root / "nb.ipynb")
    server.start()
    try:
        run = server.request("POST", "lapd/api/runs", {"path": "nb.ipynb"})
        deadline = time.monotonic() + 60
        while server.request("GET", f"lapd/api/runs/{run['id']}")["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        server.stop()
    kept = list(home.glob("runs.db.damaged-*"))
    assert [p.read_bytes() for p in kept] == [garbage]
    assert f"kept as {kept[0]}" in server.log()
    assert stored_status(str(home / "runs.db"), run["id"]) == "completed"
