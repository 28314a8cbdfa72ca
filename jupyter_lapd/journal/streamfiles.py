"""Long stream texts of the journal, kept in one append-only file per run beside the database.

SQLite writes every byte of a row twice (to its WAL, then, at a checkpoint, to the
database) and stops the writer at each checkpoint; a kernel printing a gigabyte as fast as
it can made the journal the slowest stage of a run. Appended to a plain file, such text is
written once, and the journal's row keeps only where it lies. Pruning a run deletes its
file, so the disk space comes back (a database's freed pages stay in the file).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

from .privatefiles import open_private, private_folder_of_own

# Stream texts at least this long (in characters) go to the run's file; shorter ones stay
# in the journal's row, where a run printing a line at a time creates no file at all.
FILE_TEXT_CHARS = 16 * 1024

Span = tuple[int, int]  # (byte offset in the run's file, length in bytes)

# How far back from an append its file's pages are let go of: a few batches of the journal
# (``JOURNAL_BATCH_BYTES``), so that pages still being written out at one append are let
# go of at one of the next.
RECYCLE_WINDOW = 64 * 1024 * 1024


def folder_for(db_path: str) -> str:
    """The folder that holds the runs' files of the database at ``db_path``."""
    return f"{db_path}-streams"


class StreamFiles:
    """The runs' stream files of one database: append, read back, delete.

    Not locked: the ``Store`` calls it under its own lock, and a run's file is appended to
    by the one process that drives the run. Text is stored as UTF-8 (lone surrogates, which
    a kernel's JSON may carry, pass through unchanged).
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder
        if os.path.lexists(folder):  # one of an earlier version may be open to others
            private_folder_of_own(folder)

    def path(self, run_id: str) -> str:
        if not run_id or os.sep in run_id or run_id.startswith("."):
            raise ValueError(f"not a run id: {run_id!r}")
        return os.path.join(self.folder, run_id)

    def append(self, run_id: str, texts: Sequence[str]) -> list[Span]:
        """Append ``texts`` to the run's file; where each one lies.

        Written before the journal's rows that point at them are committed: a process
        killed in between leaves bytes no row points at, which nothing reads and the next
        append goes past. Not synced, like the journal's commits (``synchronous=NORMAL``):
        a process crash loses nothing, an operating system crash can lose the last ones.
        """
        if not texts:
            return []
        private_folder_of_own(self.folder)
        spans: list[Span] = []
        fd = open_private(self.path(run_id), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        with os.fdopen(fd, "ab") as f:
            start = at = f.tell()
            for text in texts:
                data = text.encode("utf-8", "surrogatepass")
                f.write(data)
                spans.append((at, len(data)))
                at += len(data)
            f.flush()
            _recycle_pages(f.fileno(), start, at)
        return spans

    def read(self, run_id: str, spans: Sequence[Span]) -> list[str]:
        """The texts at ``spans`` of the run's file. A span the file no longer holds in
        full (an operating system crash cut it short) reads as what is left of it."""
        if not spans:
            return []
        texts: list[str] = []
        try:
            fd = open_private(self.path(run_id), os.O_RDONLY)
        except FileNotFoundError:
            return ["" for _ in spans]
        with os.fdopen(fd, "rb") as f:
            for at, length in spans:
                f.seek(at)
                data = f.read(length)
                errors = "surrogatepass" if len(data) == length else "replace"
                texts.append(data.decode("utf-8", errors))
        return texts

    def delete(self, run_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path(run_id))


def _recycle_pages(fd: int, start: int, end: int) -> None:
    """Start writing ``start:end`` of the file out now, and let go of the pages written
    before it (those already on disk).

    Left to itself, the kernel keeps each page a run writes, ~2 GB of them dirty before it
    starts writing them out: a gigabyte printed takes a gigabyte of fresh pages, and
    getting fresh pages cost a virtual machine here 0.2 to 2.6 s of CPU per GB, from one
    run to the next. Written out as they come and let go of, the same few pages serve
    over and over: 0.25-0.30 s per GB in every try. (PostgreSQL flushes its writes early
    for the same reason.) ``POSIX_FADV_DONTNEED`` does both: it starts the writeback of
    dirty pages without waiting for it, and drops the clean ones.
    """
    if not hasattr(os, "posix_fadvise"):  # macOS, Windows: the kernel's default
        return
    behind = max(0, start - RECYCLE_WINDOW)
    with contextlib.suppress(OSError):
        for offset, length in ((start, end - start), (behind, start - behind)):
            if length > 0:  # 0 would mean "to the end of the file"
                os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
