"""Which of a run's cells the user deleted from the notebook while the run went on."""

from __future__ import annotations

import asyncio
import logging
import os

from ..notebook.cellmerge import read_notebook


class DeletedCells:
    """The run's cells no longer in the notebook file, so that a queued one is skipped
    rather than brought back by the next write.

    Learnt from each of the run's writes (the writer re-reads the file and says which
    cells it holds) and, before each cell, from a re-read of the file, but only when its
    mtime shows a change the run did not make itself: a cell costs a ``stat``, not a read.
    """

    def __init__(self, os_path: str, cell_ids: list[str], log: logging.Logger) -> None:
        self.os_path = os_path  # followed when the notebook is renamed
        self._ids = cell_ids
        self._log = log
        self._deleted: set[str] = set()
        # the file as the manager just read it: re-read only if it changes from here on
        self._known_mtime = _mtime(os_path)

    def written(self, present: set[str]) -> None:
        """The run just wrote the file, which held the cells ``present``."""
        self._deleted |= {i for i in self._ids if i not in present}
        self._known_mtime = os.stat(self.os_path).st_mtime_ns

    async def still_there(self, cell_id: str, written_mtime_ns: int | None) -> bool:
        """False if the user deleted the cell. ``written_mtime_ns`` is the writer's last
        write, which may land before :meth:`written` has run: not a change."""
        if cell_id in self._deleted:
            return False
        try:
            mtime = os.stat(self.os_path).st_mtime_ns
            if mtime not in (self._known_mtime, written_mtime_ns):
                nb = await asyncio.to_thread(read_notebook, self.os_path)
                present = {c.get("id") for c in nb.cells if c.cell_type == "code"}
                self._deleted |= {i for i in self._ids if i not in present}
                self._known_mtime = mtime
        except Exception as e:  # unreadable mid-edit: run on, the writer will report it
            self._log.warning("jupyter_lapd: could not re-read %s: %s", self.os_path, e)
        return cell_id not in self._deleted


def _mtime(os_path: str) -> int:
    try:
        return os.stat(os_path).st_mtime_ns
    except OSError:
        return 0
