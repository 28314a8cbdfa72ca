"""One process at a time over a notebook's headless runs, or over a server's runs: an OS
lock held for the life of the process.

Two processes started together on one notebook (a job scheduler's retry, a user's second
terminal) both found no live run in the journal before either had recorded its own, and
both ran it, their outputs interleaved in the file; two Jupyter servers over one folder
and one database each took the other's live runs for the runs of a dead process. The
journal cannot say who is first; the operating system can: each process takes an
exclusive ``flock`` on a file kept in the journal's own folder, released by the kernel
when the process ends in any way, ``kill -9`` included. The lock file names its holder,
for the message the second process gives.
"""

from __future__ import annotations

import fcntl
import hashlib
import os

from .privatefiles import open_private, private_folder_of_own
from .runowners import describe, this_process


class ProcessLock:
    """An exclusive lock on ``folder/name`` (``folder``: a database's stream folder, which
    only its owner can enter)."""

    def __init__(self, folder: str, name: str) -> None:
        self.folder = folder
        self.path = os.path.join(folder, name)
        self._fd: int | None = None

    def acquire(self) -> str | None:
        """Take the lock: None, or, if another process holds it, that process."""
        private_folder_of_own(self.folder)
        fd = open_private(self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            return holder or "another process"
        os.ftruncate(fd, 0)
        os.pwrite(fd, describe(this_process()).encode(), 0)
        self._fd = fd
        return None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the lock
            self._fd = None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def notebook_lock(folder: str, notebook: str) -> ProcessLock:
    """The lock on the headless runs of the notebook file ``notebook``."""
    return ProcessLock(folder, f"notebook-{_digest(os.path.realpath(notebook))}.lock")


def server_lock(folder: str, root: str) -> ProcessLock:
    """The lock on the runs of the server over ``root`` (servers over other folders may
    share the database: each has its own runs)."""
    return ProcessLock(folder, f"server-{_digest(os.path.realpath(root))}.lock")
