"""Where each write of a run goes: the file itself, or a layer of the server that owns it.

Most notebooks are written straight to disk by the NotebookWriter. Two server extensions
take ownership of a notebook file, and writing behind their back would fight them:

- jupyter-collaboration: while a collaborative room has the notebook open, its shared
  document is the truth and the room saves it; a write to the file would be taken for an
  out-of-band change and reload every collaborator's copy. The run's outputs go into the
  shared document instead (collabroom.py), and the room saves them.
- jupytext: a paired notebook (or a text notebook) must be saved through the contents
  manager, so the text file and the ``.ipynb`` stay in step (jupytextpairs.py).

Both are optional: each is detected at run time from the server's own settings.
"""

from __future__ import annotations

import logging
from typing import Any

from .collabroom import SharedDocuments
from .jupytextpairs import PairedNotebooks
from .resolve import LoadedNotebook
from .writer import Destination

__all__ = ["Destinations"]


class Destinations:
    """Answers, before each write of a run, where that write must go (None: the file)."""

    def __init__(
        self, serverapp: Any, log: logging.Logger | None = None, flush_interval: float = 1.0
    ) -> None:
        self._log = log or logging.getLogger(__name__)
        self._shared = SharedDocuments(serverapp, self._log, save_interval=flush_interval)
        self.paired = PairedNotebooks(serverapp, self._log, flush_interval=flush_interval)

    async def __call__(self, api_path: str) -> Destination | None:
        shared = await self._shared.destination(api_path)
        if shared is not None:
            return shared
        # a paired or text notebook under jupytext; None (the file) for any other
        return await self.paired.destination(api_path)

    async def open_notebook(self, api_path: str, os_path: str) -> LoadedNotebook | None:
        """Read a run's notebook from its collaborative room's shared document, or through
        jupytext's contents manager, when it must be (notebooks.NotebookReader); None: an
        ordinary .ipynb, read from disk."""
        shared = await self._shared.open_notebook(api_path, os_path)
        if shared is not None:
            return shared
        return await self.paired.open_notebook(api_path, os_path)
