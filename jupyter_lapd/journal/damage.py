"""A runs database SQLite finds damaged: telling it from a busy one, and keeping it aside.

The server never deletes a damaged database: it moves it (its ``-wal``, ``-shm`` and
stream files with it) to a new name beside it and starts a new one, so that whatever it
still holds can be read back by hand.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime

from .streamfiles import folder_for

SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26  # SQLite's primary result codes


def damaged(error: sqlite3.DatabaseError) -> bool:
    """Whether SQLite found the file damaged (or not a database at all), rather than
    busy or out of reach."""
    code = getattr(error, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB)
    text = str(error)
    return "malformed" in text or "not a database" in text


def keep_aside(db_path: str) -> str:
    """Move a damaged database (its -wal, -shm and stream files with it) to a new name
    beside it, never deleting anything; the new name."""
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    kept = f"{db_path}.damaged-{stamp}"
    n = 1
    while os.path.lexists(kept):
        n += 1
        kept = f"{db_path}.damaged-{stamp}-{n}"
    for suffix in ("", "-wal", "-shm"):
        if os.path.lexists(db_path + suffix):
            os.rename(db_path + suffix, kept + suffix)
    if os.path.lexists(folder_for(db_path)):
        os.rename(folder_for(db_path), folder_for(kept))
    return kept
