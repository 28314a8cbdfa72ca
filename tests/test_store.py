"""The journal's storage: stream text in a column of its own, and databases of versions 1-2."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from jupyter_lapd.store import SCHEMA_VERSION, Store, journal_columns

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
