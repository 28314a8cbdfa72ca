"""The database: stream text in a column of its own (long text in the run's stream file),
runs listed from their summaries, and databases of versions 1-4."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from jupyter_lapd.journal.store import SCHEMA_VERSION, Store, journal_columns
from jupyter_lapd.journal.streamfiles import FILE_TEXT_CHARS, folder_for
from jupyter_lapd.models import CellRecord, CellStatus, RunRecord, RunStatus

STREAM = {
    "seq": 1,
    "type": "output",
    "cell_id": "c1",
    "output": {"output_type": "stream", "name": "stdout", "text": 'line "1"\n\\x'},
}
DISPLAY = {
    "seq": 2,
    "type": "output",
    "cell_id": "c1",
    "output": {"output_type": "display_data", "data": {"text/plain": "2"}, "metadata": {}},
}
END = {"seq": 3, "type": "cell_end", "cell_id": "c1", "status": "done"}


def test_events_come_back_as_they_went_in_with_stream_text_apart(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "lapd.db"))
    store.append_events("r1", [STREAM, DISPLAY, END])
    assert store.read_events("r1") == [STREAM, DISPLAY, END]
    assert store.read_events("r1", since=1) == [DISPLAY, END]
    store.close()

    conn = sqlite3.connect(tmp_path / "lapd.db")
    rows = conn.execute("SELECT event, text FROM journal ORDER BY seq").fetchall()
    # a new database: pages large enough for rows of printed text
    assert conn.execute("PRAGMA page_size").fetchone()[0] == 16384
    conn.close()
    # The printed text is stored as it is, not escaped into the event's JSON.
    assert rows[0][1] == STREAM["output"]["text"]
    assert "text" not in json.loads(rows[0][0])["output"]
    assert [text for _, text in rows[1:]] == [None, None]
    assert not os.path.exists(folder_for(str(tmp_path / "lapd.db")))  # no long text, no file


def printed(seq: int, text: str) -> dict[str, object]:
    output = {"output_type": "stream", "name": "stdout", "text": text}
    return {"seq": seq, "type": "output", "cell_id": "c1", "output": output}


def test_long_stream_texts_are_written_once_to_the_runs_file(tmp_path: Path) -> None:
    db = tmp_path / "lapd.db"
    store = Store(str(db))
    # non-ASCII and a lone surrogate (which a kernel's JSON may carry) come back unchanged
    long_text = ("é€\ud83d" + "x" * 100 + "\n") * (FILE_TEXT_CHARS // 100)
    events = [printed(1, long_text), printed(2, "short\n"), printed(3, long_text[::-1])]
    store.append_events("r1", events)
    store.append_events("r1", [printed(4, "z" * FILE_TEXT_CHARS), END | {"seq": 5}])
    assert store.read_events("r1") == [*events, printed(4, "z" * FILE_TEXT_CHARS), END | {"seq": 5}]
    assert store.read_events("r1", since=2) == store.read_events("r1")[2:]
    store.close()

    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT text, text_at, text_bytes FROM journal ORDER BY seq").fetchall()
    conn.close()
    encoded = len(long_text.encode("utf-8", "surrogatepass"))
    assert rows == [
        (None, 0, encoded),
        ("short\n", None, None),
        (None, encoded, encoded),
        (None, 2 * encoded, FILE_TEXT_CHARS),
        (None, None, None),
    ]
    assert os.path.getsize(folder_for(str(db)) + "/r1") == 2 * encoded + FILE_TEXT_CHARS
    with sqlite3.connect(db) as conn:  # the database holds none of the long texts
        assert conn.execute("SELECT SUM(LENGTH(text)) FROM journal").fetchone()[0] == 6


def test_bytes_no_row_points_at_are_passed_over(tmp_path: Path) -> None:
    """A process killed between appending to the run's file and committing the rows."""
    store = Store(str(tmp_path / "lapd.db"))
    store.append_events("r1", [printed(1, "a" * FILE_TEXT_CHARS)])
    with open(folder_for(str(tmp_path / "lapd.db")) + "/r1", "ab") as f:
        f.write(b"never committed")
    store.append_events("r1", [printed(2, "b" * FILE_TEXT_CHARS)])
    assert store.read_events("r1") == [
        printed(1, "a" * FILE_TEXT_CHARS),
        printed(2, "b" * FILE_TEXT_CHARS),
    ]
    store.close()


def test_pruning_a_run_deletes_its_stream_file(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "lapd.db"))
    old, kept = a_run("a.ipynb", 1), a_run("b.ipynb", 1)
    old.created = datetime.now(timezone.utc) - timedelta(days=2)
    for run in (old, kept):
        store.save_run(run, "/root")
        store.append_events(run.id, [printed(1, "x" * FILE_TEXT_CHARS)])
    folder = Path(folder_for(str(tmp_path / "lapd.db")))
    assert {p.name for p in folder.iterdir()} == {old.id, kept.id}
    cutoff = datetime.now(timezone.utc) - timedelta(days=1)
    assert store.delete_finished_before(cutoff, "/root") == 1
    assert {p.name for p in folder.iterdir()} == {kept.id}
    assert store.read_events(kept.id) == [printed(1, "x" * FILE_TEXT_CHARS)]
    store.close()


def test_a_version_4_journal_gains_the_columns_for_long_texts(tmp_path: Path) -> None:
    db = tmp_path / "lapd.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        """
        CREATE TABLE journal (
            run_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
            event TEXT NOT NULL, text TEXT, PRIMARY KEY (run_id, seq)
        );
        PRAGMA user_version=4;
        """
    )
    long_text = "y" * FILE_TEXT_CHARS  # a version 4 server kept it in the row
    conn.execute(
        "INSERT INTO journal VALUES (?, ?, ?, ?, ?)",
        ("r1", 1, "output", *journal_columns(printed(1, long_text))),
    )
    conn.commit()
    conn.close()

    store = Store(str(db))
    store.append_events("r1", [printed(2, long_text)])
    assert store.read_events("r1") == [printed(1, long_text), printed(2, long_text)]
    store.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT text_bytes FROM journal ORDER BY seq").fetchall() == [
        (None,),
        (FILE_TEXT_CHARS,),
    ]
    conn.close()


def old_journal(db: Path, version: int) -> sqlite3.Connection:
    """A database as versions 1 (no text column) and 2 of the schema made it."""
    conn = sqlite3.connect(db)
    text = ", text TEXT" if version == 2 else ""
    conn.executescript(
        f"""
        CREATE TABLE journal (
            run_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
            event TEXT NOT NULL{text}, PRIMARY KEY (run_id, seq)
        ) WITHOUT ROWID;
        PRAGMA user_version={version};
        """
    )
    return conn


def test_a_version_1_journal_is_read_and_extended(tmp_path: Path) -> None:
    db = tmp_path / "lapd.db"
    conn = old_journal(db, 1)
    conn.execute("INSERT INTO journal VALUES (?, ?, ?, ?)", ("r1", 1, "output", json.dumps(STREAM)))
    conn.commit()
    conn.close()

    store = Store(str(db))
    store.append_events("r1", [DISPLAY, END])
    assert store.read_events("r1") == [STREAM, DISPLAY, END]
    store.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096  # left as it was
    assert not without_rowid(conn)
    conn.close()


def test_a_version_2_journal_is_rebuilt_with_a_rowid_and_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "lapd.db"
    conn = old_journal(db, 2)
    for event in (STREAM, DISPLAY):
        conn.execute(
            "INSERT INTO journal VALUES (?, ?, ?, ?, ?)",
            ("r1", event["seq"], event["type"], *journal_columns(event)),
        )
    conn.commit()
    assert without_rowid(conn)
    conn.close()

    store = Store(str(db))
    assert store.read_events("r1") == [STREAM, DISPLAY]
    store.append_events("r1", [END])
    assert store.read_events("r1", since=1) == [DISPLAY, END]
    store.close()
    conn = sqlite3.connect(db)
    assert not without_rowid(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "journal_rebuilt" not in tables
    conn.close()


def without_rowid(conn: sqlite3.Connection) -> bool:
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'journal'").fetchone()
    return "WITHOUT ROWID" in sql


def a_run(path: str, cells: int, status: RunStatus = RunStatus.COMPLETED) -> RunRecord:
    done = [CellRecord(f"c{i}", CellStatus.DONE, execution_count=i + 1) for i in range(cells)]
    return RunRecord(path=path, cells=done, status=status)


def test_the_listing_is_each_run_without_its_cells_as_last_saved(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "lapd.db"))
    first, second = a_run("a.ipynb", 3, RunStatus.RUNNING), a_run("b.ipynb", 2)
    store.save_run(first, "/root")
    store.save_run(second, "/root")
    store.save_run(a_run("c.ipynb", 1), "/elsewhere")
    first.cells[2].status, first.status = CellStatus.ERROR, RunStatus.FAILED
    store.save_run(first, "/root")
    listed = store.list_summaries(root="/root")  # newest first
    assert listed == [("/root", r.to_dict(with_cells=False)) for r in (second, first)]
    assert {s["id"]: s["cells_done"] for _, s in listed} == {first.id: 3, second.id: 2}
    assert store.list_summaries(statuses=["failed"], root="/root") == [
        ("/root", first.to_dict(with_cells=False))
    ]
    store.close()


def test_a_version_3_database_gets_the_summaries_of_its_runs(tmp_path: Path) -> None:
    db = tmp_path / "lapd.db"
    run = a_run("nb.ipynb", 4)
    conn = sqlite3.connect(db)
    conn.executescript(
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY, path TEXT NOT NULL, status TEXT NOT NULL,
            created TEXT NOT NULL, root TEXT NOT NULL DEFAULT '', record TEXT NOT NULL
        );
        PRAGMA user_version=3;
        """
    )
    conn.execute(
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)",
        (run.id, run.path, "completed", "2026-01-01T00:00:00Z", "/r", json.dumps(run.to_dict())),
    )
    conn.commit()
    conn.close()

    store = Store(str(db))
    assert store.list_summaries() == [("/r", run.to_dict(with_cells=False))]
    assert store.get_run(run.id) == run
    store.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_a_run_saved_without_a_summary_is_listed_from_its_record(tmp_path: Path) -> None:
    db = tmp_path / "lapd.db"
    store = Store(str(db))
    run = a_run("nb.ipynb", 2, RunStatus.RUNNING)
    conn = sqlite3.connect(db)  # a process of an earlier version, sharing the file
    conn.execute(
        "INSERT INTO runs (id, path, status, created, root, record) VALUES (?, ?, ?, ?, ?, ?)",
        (run.id, run.path, "running", "2026-01-01T00:00:00Z", "", json.dumps(run.to_dict())),
    )
    conn.commit()
    conn.close()
    assert store.list_summaries() == [("", run.to_dict(with_cells=False))]
    store.close()
    Store(str(db)).close()  # the next open gives it its summary
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT summary FROM runs").fetchone()[0] is not None
    conn.close()
