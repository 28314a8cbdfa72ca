"""One headless process per notebook: an OS lock held for the life of the process.

Two processes started together on one notebook (a job scheduler's retry, a user's second
terminal) both found no live run in the journal before either had recorded its own, and
both ran it, their outputs interleaved in the file. The journal cannot say who is first;
the operating system can: each process takes an exclusive ``flock`` on a file kept for
that notebook in the journal's own folder, released by the kernel when the process ends
in any way, ``kill -9`` included. The lock file names its holder for the second one's
message.
"""

from __future__ import annotations

import fcntl
import hashlib
import os

from .models import RunConflict
from .owners import describe, this_process
from .privatefiles import open_private, private_folder_of_own


class NotebookLock:
    """The lock on the headless runs of the notebook at ``target`` (a file path), kept in
    ``folder`` (the journal's stream folder, which only its owner can enter)."""

    def __init__(self, folder: str, target: str, name: str) -> None:
        digest = hashlib.sha256(os.path.realpath(target).encode()).hexdigest()[:24]
        self.folder = folder
        self.path = os.path.join(folder, f"notebook-{digest}.lock")
        self.name = name
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise ``RunConflict`` naming the process that holds it."""
        private_folder_of_own(self.folder)
        fd = open_private(self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise RunConflict(f"{self.name} is being run by {holder}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, describe(this_process()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the lock
            self._fd = None
