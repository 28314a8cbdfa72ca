"""SQLite persistence for run records and the per-run event journal (one file, WAL mode)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..models import RunRecord, isoformat
from .journalrows import journal_columns, journal_events
from .privatefiles import private_file, private_folder
from .streamfiles import FILE_TEXT_CHARS, StreamFiles, folder_for

SCHEMA_VERSION = 5

# Seconds opening the database waits for a lock another program holds: a server starting
# over a database kept locked says so in seconds rather than hanging its start.
OPEN_WAIT = 5.0
# Bytes of text a page of journal events holds (``Store.read_page``).
PAGE_BYTES = 8 * 1024 * 1024

# The journal's rows held up to a megabyte of printed text each (up to 16 K characters
# since version 5, longer texts going to the run's stream file): a table with a rowid
# stores them ~1.5x faster, with half the CPU, than a WITHOUT ROWID one (which keeps
# whole rows in its index pages, as versions 1 and 2 of the schema did).
_JOURNAL = """(
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    event TEXT NOT NULL,
    text TEXT,
    text_at INTEGER,
    text_bytes INTEGER,
    PRIMARY KEY (run_id, seq)
)"""
# ``text``: a stream's text apart from the event's JSON; or, for a long one, ``text_at``
# and ``text_bytes`` say where it lies in the run's stream file (``streamfiles.py``).
_JOURNAL_COLUMNS = "event, text, text_at, text_bytes"

# One place for the schema: the server and the CLI both open the file through Store.
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    status TEXT NOT NULL,
    created TEXT NOT NULL,
    root TEXT NOT NULL DEFAULT '',
    record TEXT NOT NULL,
    summary TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_path ON runs (path, created);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
CREATE TABLE IF NOT EXISTS journal {_JOURNAL};
CREATE TABLE IF NOT EXISTS run_owners (
    run_id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    pid INTEGER NOT NULL,
    boot_id TEXT NOT NULL DEFAULT '',
    process_start TEXT NOT NULL DEFAULT '',
    heartbeat REAL NOT NULL
);
"""


@dataclass
class RunOwner:
    """The process driving a headless run, so a later process can tell whether it is gone.

    A killed process cannot mark its run interrupted; whoever finds the run ``running``
    checks this: on the same machine (hostname and boot id) the pid and its start time
    say whether that very process still lives, elsewhere only the heartbeat can.
    """

    hostname: str
    pid: int
    boot_id: str
    process_start: str
    heartbeat: float  # time.time() of the owner's last sign of life


class Store:
    """Run records and journal in one SQLite database.

    Every method is synchronous and thread-safe; the server calls them from a single
    worker thread so that the event loop never waits on disk and writes keep their order.
    WAL mode lets ``jupyter lapd list`` read while the server writes.
    """

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        folder = os.path.dirname(os.path.abspath(db_path))
        private_folder(folder)
        # created 0600 before SQLite opens it: its -wal and -shm files take its mode
        private_file(db_path)
        self._lock = threading.Lock()
        self._streams = StreamFiles(folder_for(db_path))
        # opening waits OPEN_WAIT for a lock another program holds, later writes 30 s
        self._conn = sqlite3.connect(db_path, check_same_thread=False, timeout=OPEN_WAIT)
        try:
            self._open()
        except BaseException:
            self._conn.close()
            raise
        self._conn.execute("PRAGMA busy_timeout=30000")

    def _open(self) -> None:
        # Before the first table (it has no effect on an existing database): the journal
        # holds rows of up to 16 K characters of printed text, which SQLite writes faster
        # in 16 KiB pages than in the default 4 KiB ones (~1.6x for 64 KiB rows: fewer
        # overflow pages per row).
        self._conn.execute("PRAGMA page_size=16384")
        self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash (only an OS crash can lose the
        # last transactions), which is the failure the journal exists for.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._lock, self._conn:
            self._conn.executescript(_SCHEMA)
            self._migrate()
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _migrate(self) -> None:
        """Bring a database written by an earlier version to this schema."""
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(runs)")}
        if "summary" not in columns:  # versions 1 to 3: listing parsed every cell of a run
            try:
                self._conn.execute("ALTER TABLE runs ADD COLUMN summary TEXT")
            except sqlite3.OperationalError as e:
                if "duplicate column" not in str(e):
                    raise  # not another process opening the file at the same moment
        missing = "SELECT id, record FROM runs WHERE summary IS NULL"
        for run_id, record in self._conn.execute(missing).fetchall():
            summary = json.dumps(RunRecord.from_dict(json.loads(record)).to_dict(with_cells=False))
            self._conn.execute("UPDATE runs SET summary = ? WHERE id = ?", (summary, run_id))
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(journal)")}
        if "text" not in columns:  # version 1: stream text inside the event's JSON
            self._conn.execute("ALTER TABLE journal ADD COLUMN text TEXT")
        for name in ("text_at", "text_bytes"):  # versions 1 to 4: every text in its row
            if name not in columns:
                self._conn.execute(f"ALTER TABLE journal ADD COLUMN {name} INTEGER")
        (sql,) = self._conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'journal'"
        ).fetchone()
        if "WITHOUT ROWID" in sql.upper():  # versions 1 and 2: rebuilt once, rows kept
            self._conn.executescript(f"""
                BEGIN IMMEDIATE;
                DROP TABLE IF EXISTS journal_rebuilt;
                CREATE TABLE journal_rebuilt {_JOURNAL};
                INSERT INTO journal_rebuilt (run_id, seq, type, event, text)
                    SELECT run_id, seq, type, event, text FROM journal;
                DROP TABLE journal;
                ALTER TABLE journal_rebuilt RENAME TO journal;
                COMMIT;
            """)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- runs -------------------------------------------------------------------------

    def save_run(self, run: RunRecord, root: str = "") -> None:
        data = run.to_dict(with_cells=True)  # the summary is the same without its cells
        record = json.dumps(data)
        summary = json.dumps({key: value for key, value in data.items() if key != "cells"})
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO runs (id, path, status, created, root, record, summary)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET path=excluded.path, status=excluded.status,"
                " record=excluded.record, summary=excluded.summary",
                (run.id, run.path, run.status.value, isoformat(run.created), root, record, summary),
            )

    def get_run(self, run_id: str, root: str | None = None) -> RunRecord | None:
        """The run with this id; with ``root``, only if it belongs to the server over that
        root (servers sharing the database never see each other's runs)."""
        query, params = "SELECT record FROM runs WHERE id = ?", [run_id]
        if root is not None:
            query += " AND root = ?"
            params.append(root)
        with self._lock:
            row = self._conn.execute(query, params).fetchone()
        return RunRecord.from_dict(json.loads(row[0])) if row else None

    def roots(self) -> list[str]:
        """Every root that has runs in the database (the servers sharing it)."""
        with self._lock:
            rows = self._conn.execute("SELECT DISTINCT root FROM runs ORDER BY root").fetchall()
        return [str(row[0]) for row in rows]

    def list_runs(
        self,
        path: str | None = None,
        statuses: Sequence[str] | None = None,
        root: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Runs newest first, filtered by notebook path, status values and server root."""
        rows = self._select("record", path, statuses, root, limit)
        return [RunRecord.from_dict(json.loads(row[1])) for row in rows]

    def list_summaries(
        self,
        path: str | None = None,
        statuses: Sequence[str] | None = None,
        root: str | None = None,
        limit: int | None = None,
    ) -> list[tuple[str, dict[str, Any]]]:
        """As ``list_runs``, each run as listed (``RunRecord.to_dict`` without its cells)
        with the root of the server it belongs to. A page polls the listing every few
        seconds during a run: reading whole records parsed every cell of every run kept
        (65 ms for 300 runs of 100 cells, ~2 ms so)."""
        rows = self._select("COALESCE(summary, record)", path, statuses, root, limit)
        return [(str(row[0]), _as_listed(json.loads(row[1]))) for row in rows]

    def _select(
        self,
        column: str,
        path: str | None,
        statuses: Sequence[str] | None,
        root: str | None,
        limit: int | None,
    ) -> list[tuple[str, str]]:
        """``root`` and ``column`` of the runs wanted, newest first."""
        query = f"SELECT root, {column} FROM runs"
        clauses: list[str] = []
        params: list[Any] = []
        if path is not None:
            clauses.append("path = ?")
            params.append(path)
        if statuses:
            clauses.append(f"status IN ({','.join('?' for _ in statuses)})")
            params.extend(statuses)
        if root is not None:
            clauses.append("root = ?")
            params.append(root)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY created DESC, rowid DESC"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        with self._lock:
            return self._conn.execute(query, params).fetchall()

    def delete_finished_before(self, cutoff: datetime, root: str | None = None) -> int:
        """Forget finished runs created before ``cutoff`` and their journals; with ``root``,
        only those of the server over that root (each server prunes its own history)."""
        query = "SELECT id FROM runs WHERE created < ? AND status NOT IN (?, ?)"
        params: list[Any] = [isoformat(cutoff), "queued", "running"]
        if root is not None:
            query += " AND root = ?"
            params.append(root)
        with self._lock, self._conn:
            ids = [row[0] for row in self._conn.execute(query, params)]
            for run_id in ids:
                self._conn.execute("DELETE FROM journal WHERE run_id = ?", (run_id,))
                self._conn.execute("DELETE FROM run_owners WHERE run_id = ?", (run_id,))
                self._conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            # committed at the end of this block: the files go once no row points into them
        for run_id in ids:
            self._streams.delete(run_id)
        return len(ids)

    # -- journal ----------------------------------------------------------------------

    def append_events(self, run_id: str, events: Iterable[dict[str, Any]]) -> None:
        rows: list[list[Any]] = []
        long_texts: list[tuple[int, str]] = []  # (row, text) for the run's stream file
        for e in events:
            event, text = journal_columns(e)
            if text is not None and len(text) >= FILE_TEXT_CHARS:
                long_texts.append((len(rows), text))
                text = None
            rows.append([run_id, e["seq"], e["type"], event, text, None, None])
        if not rows:
            return
        with self._lock:
            spans = self._streams.append(run_id, [text for _, text in long_texts])
            for (row, _), (at, length) in zip(long_texts, spans, strict=True):
                rows[row][5:7] = at, length
            with self._conn:
                self._conn.executemany(
                    "INSERT OR IGNORE INTO journal"
                    f" (run_id, seq, type, {_JOURNAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )

    def read_events(self, run_id: str, since: int = 0) -> list[dict[str, Any]]:
        """Journal events of a run with ``seq > since``, in order: all of them at once,
        for runs known to be small; ``events`` reads any run in bounded memory."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE run_id = ? AND seq > ? ORDER BY seq",
                (run_id, since),
            ).fetchall()
        return journal_events(rows, self._streams, run_id)

    def read_page(
        self, run_id: str, since: int = 0, texts: bool = True, budget: int | None = None
    ) -> list[dict[str, Any]]:
        """The next events of a run after ``since``, in order, as many as fit in ``budget``
        bytes of text (at least one): a run that printed a gigabyte is read a page at a
        time. Without ``texts``, stream outputs come without their text (``""``), and the
        stream file is not read at all."""
        budget = PAGE_BYTES if budget is None else budget
        columns = _JOURNAL_COLUMNS if texts else "event, NULL, NULL, NULL"
        size = "LENGTH(event) + COALESCE(LENGTH(text), 0) + COALESCE(text_bytes, 0)"
        rows: list[tuple[str, str | None, int | None, int | None]] = []
        with self._lock:
            cursor = self._conn.execute(
                f"SELECT {columns}, {size} FROM journal WHERE run_id = ? AND seq > ? ORDER BY seq",
                (run_id, since),
            )
            try:
                used = 0
                for event, text, at, length, size in cursor:
                    cost = size if texts else len(event)
                    if rows and used + cost > budget:
                        break
                    rows.append((event, text, at, length))
                    used += cost
            finally:
                cursor.close()
        events = journal_events(rows, self._streams, run_id)
        if not texts:
            for event in events:
                output = event.get("output")
                if isinstance(output, dict) and output.get("output_type") == "stream":
                    output["text"] = ""
        return events

    def events(self, run_id: str, since: int = 0, texts: bool = True) -> Iterator[dict[str, Any]]:
        """Every journal event of a run after ``since``, in order, read a page at a time
        (``read_page``): memory holds one page, whatever the run printed."""
        while True:
            page = self.read_page(run_id, since, texts)
            if not page:
                return
            yield from page
            since = int(page[-1]["seq"])

    def last_seq(self, run_id: str) -> int:
        with self._lock:
            row = self._conn.execute(
                "SELECT MAX(seq) FROM journal WHERE run_id = ?", (run_id,)
            ).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    # -- owners of headless runs ------------------------------------------------------

    def set_owner(self, run_id: str, owner: RunOwner) -> None:
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO run_owners"
                " (run_id, hostname, pid, boot_id, process_start, heartbeat)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    owner.hostname,
                    owner.pid,
                    owner.boot_id,
                    owner.process_start,
                    owner.heartbeat,
                ),
            )

    def get_owner(self, run_id: str) -> RunOwner | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT hostname, pid, boot_id, process_start, heartbeat FROM run_owners"
                " WHERE run_id = ?",
                (run_id,),
            ).fetchone()
        return RunOwner(row[0], int(row[1]), row[2], row[3], float(row[4])) if row else None

    def beat(self, run_id: str, when: float) -> None:
        """Record that the owner of ``run_id`` is alive at ``when`` (``time.time()``)."""
        with self._lock, self._conn:
            self._conn.execute(
                "UPDATE run_owners SET heartbeat = ? WHERE run_id = ?", (when, run_id)
            )


def _as_listed(data: dict[str, Any]) -> dict[str, Any]:
    """A summary, or a whole record that has none yet (a process that opened the file
    while it was being given its summaries): the same either way."""
    return RunRecord.from_dict(data).to_dict(with_cells=False) if "cells" in data else data
