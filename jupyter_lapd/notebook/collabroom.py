"""Runs writing into a collaborative room's shared notebook (jupyter-collaboration).

While a room has a notebook open, the room's shared document (a YNotebook) is what every
collaborator sees and what the room saves; it polls the file and takes any write it did
not make for an out-of-band change, reloading the document from disk. So while the room
exists, a run puts its outputs into the shared document, in place and incrementally (a
stream grows by appending to its text), and leaves the file to the room: every connected
client sees the outputs live, and collaborators' edits are never overwritten by a file
the run wrote. When no room is open the run writes the file as usual, and a client that
opens the notebook mid-run loads that file and joins the room the run then writes into.

The room treats every change of its document as a collaborator's edit: it cancels the save
it is making and starts its debounced autosave over. A cancelled save still writes the file
but never announces its hash (so a page's next save finds a file it never saw and asks
"File Changed"), and a page's Ctrl+S cancelled that way is answered "saved" without ever
reaching the file. A run changes the document every 0.1 s, so it makes its changes under
the room's update lock, which the room holds itself while it loads the file and under
which it does not react to changes: the run's outputs never cancel nor postpone a save.
The run has the room save them instead, through the room's own save (exactly what a
user's save does: its loader records the file's new modification time and the document's
state its hash), about every ``flush_interval`` and once at its end, whether or not a
page has the room open.

jupyter-collaboration stays optional: everything is looked up at run time in the server's
settings, where its extension publishes itself as ``jupyter_server_ydoc``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import nbformat

from .cellmerge import CellState, NotebookMeta, WriteResult
from .resolve import LoadedNotebook

__all__ = ["SharedDocuments", "SharedNotebook", "apply_cells"]

SHARED_DOCUMENT = "shared_document"

# How stale the shared document may get: collaborators watch it live, so well under the
# file's interval; each update is a small incremental change, not a rewrite.
SHARED_INTERVAL = 0.1
# How long the run's changes wait for the room's update lock (held while the room loads the
# file into its document, which takes a while for a big notebook on a busy machine; the
# changes then go in regardless).
ROOM_LOCK_WAIT = 5.0


class SharedDocuments:
    """Finds the collaborative room of a notebook, if jupyter-collaboration runs one."""

    def __init__(
        self, serverapp: Any, log: logging.Logger | None = None, save_interval: float = 1.0
    ) -> None:
        self._serverapp = serverapp
        self._log = log or logging.getLogger(__name__)
        self.save_interval = save_interval
        self._saved: dict[str, tuple[float, float]] = {}  # path: (when, cost) of last save

    def _extension(self) -> Any:
        web_app = getattr(self._serverapp, "web_app", None)
        settings = getattr(web_app, "settings", None) or {}
        return settings.get("jupyter_server_ydoc")

    async def document(self, api_path: str) -> Any:
        """The live shared notebook of ``api_path`` while a room has it open, else None."""
        ext = self._extension()
        if ext is None:
            return None
        server = getattr(ext, "ywebsocket_server", None)
        if server is not None and not getattr(server, "rooms", None):
            return None  # no room at all: skip the file-id lookup on every write
        try:
            doc = await ext.get_document(
                path=api_path, content_type="notebook", file_format="json", copy=False
            )
        except Exception as e:  # a room failing to load must not fail the run
            self._log.warning("jupyter_lapd: no shared document for %s: %s", api_path, e)
            return None
        # a room still loading its content from the file has no cells yet: write the file
        if doc is None or not len(doc.ycells):
            return None
        return doc

    async def open_notebook(self, api_path: str, os_path: str) -> LoadedNotebook | None:
        """The notebook as its collaborators see it, unsaved edits included, while a room
        has it open (the run executes what they see, with no save first); None: read the
        file."""
        if not os.path.isfile(os_path):
            return None  # the file's own checks say what is wrong
        doc = await self.document(api_path)
        if doc is None:
            return None
        try:
            nb = nbformat.from_dict(await doc.aget())
            nbformat.validate(nb)
        except Exception as e:  # fall back to the file, which has its own clear errors
            self._log.warning("jupyter_lapd: shared document of %s unusable: %s", api_path, e)
            return None
        if nb.nbformat_minor < 5 or not all(cell.get("id") for cell in nb.cells):
            return None  # cells without ids must get them on disk first: use the file
        return LoadedNotebook(nb)

    async def destination(self, api_path: str) -> SharedNotebook | None:
        doc = await self.document(api_path)
        if doc is None:
            self._saved.pop(api_path, None)
            return None
        file_id = self._file_id(api_path)
        return SharedNotebook(
            doc,
            lambda final: self._save(api_path, file_id, final),
            lambda: self._unobserved(file_id),
        )

    def _file_id(self, api_path: str) -> str | None:
        """The id the server's file id manager gives ``api_path`` (rooms and loaders go
        by it), or None."""
        file_ids = self._serverapp.web_app.settings.get("file_id_manager")
        return None if file_ids is None else file_ids.get_id(api_path)

    @contextlib.asynccontextmanager
    async def _unobserved(self, file_id: str | None) -> AsyncIterator[None]:
        """Hold the room's update lock while the run changes the document, so that the
        room does not take the change for a collaborator's edit (which cancels the save
        it is making: see the module's docstring)."""
        lock = getattr(self._room(file_id), "_update_lock", None)
        held: asyncio.Lock | None = None
        if isinstance(lock, asyncio.Lock):
            deadline = time.monotonic() + ROOM_LOCK_WAIT
            while lock.locked() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            if lock.locked():
                self._log.info("jupyter_lapd: the room of %s stays busy", file_id)
            else:
                # taken at once, without yielding: a page's save arriving meanwhile would
                # find the lock held and be answered "skipped"
                await lock.acquire()
                held = lock
        try:
            yield
        finally:
            if held is not None:
                held.release()

    def _room(self, file_id: str | None) -> Any:
        """The collaboration room of the file with ``file_id``, if one is open, or None."""
        server = getattr(self._extension(), "ywebsocket_server", None)
        rooms = getattr(server, "rooms", None)
        if not rooms or file_id is None:
            return None
        from jupyter_server_ydoc.utils import encode_file_path, room_id_from_encoded_path

        return rooms.get(room_id_from_encoded_path(encode_file_path("json", "notebook", file_id)))

    async def _save(self, api_path: str, file_id: str | None, final: bool) -> None:
        """Have the room save its document as a user's save does, once it went
        ``save_interval`` unsaved (or the run ended). A save of the room's under way is
        started over (its hash is then announced by this one, which saves everything)."""
        when, cost = self._saved.setdefault(api_path, (time.monotonic(), 0.0))
        if not final and time.monotonic() - when < max(self.save_interval, 20 * cost):
            return
        room = self._room(file_id)
        if room is None:
            return
        save = getattr(room, "_save_to_disc", None)  # what the room does on a user's save
        if save is None:
            return  # another jupyter-collaboration: its autosave saves once output pauses
        started = time.monotonic()
        try:
            task = save()
            if task is not None:  # None: the room is loading the file, and saves after
                await task
        except Exception as e:  # the room logs and reports its own failures
            self._log.info("jupyter_lapd: the room did not save %s: %r", api_path, e)
        finally:
            now = time.monotonic()
            self._saved[api_path] = (now, now - started)


class SharedNotebook:
    """A write destination: the run's cells applied to a room's shared notebook."""

    interval = SHARED_INTERVAL

    def __init__(
        self,
        doc: Any,
        save: Callable[[bool], Awaitable[None]] | None = None,
        unobserved: Callable[[], contextlib.AbstractAsyncContextManager[None]] | None = None,
    ) -> None:
        self.doc = doc
        self.key = doc  # the same room's document: only changed cells need applying
        self._save = save
        self._unobserved = unobserved

    async def finish(self) -> None:
        """The run's last write is in: have the room save it."""
        if self._save is not None:
            await self._save(True)

    async def write(
        self, cells: dict[str, CellState], meta: NotebookMeta | None = None
    ) -> WriteResult:
        started = time.monotonic()
        if self._unobserved is None:
            missing, present = apply_cells(self.doc, cells, meta)
        else:
            async with self._unobserved():
                missing, present = apply_cells(self.doc, cells, meta)
        if self._save is not None:
            await self._save(False)
        return WriteResult(
            last_modified="",
            hash="",
            missing=missing,
            present=present,
            seconds=time.monotonic() - started,
            size=0,
            destination=SHARED_DOCUMENT,
        )


def apply_cells(
    doc: Any, cells: dict[str, CellState], meta: NotebookMeta | None = None
) -> tuple[set[str], set[str]]:
    """Put the run-owned fields of ``cells`` (and of the notebook's metadata) into a
    YNotebook, in one transaction.

    Only what differs is changed, so each update sent to collaborators is small: outputs
    equal to the document's are kept, a stream that grew gets the new text appended, and
    only the rest is replaced. Returns the ids missing from the document (a collaborator
    deleted the cell) and the ids of the code cells present.
    """
    from pycrdt import Map  # present whenever jupyter-collaboration is

    ycells = doc.ycells
    index: dict[str, Any] = {}
    present: set[str] = set()
    for ycell in ycells:
        cell_id = ycell.get("id")
        if ycell.get("cell_type") == "code" and isinstance(cell_id, str):
            index.setdefault(cell_id, ycell)
            present.add(cell_id)
    missing = set()
    with doc.ydoc.transaction():
        if meta is not None:
            _apply_metadata(doc, meta)
        for cell_id, state in cells.items():
            ycell = index.get(cell_id)
            if ycell is None:
                missing.add(cell_id)
                continue
            _apply_outputs(ycell, state.outputs)
            if _number(ycell.get("execution_count")) != state.execution_count:
                ycell["execution_count"] = state.execution_count
            wanted = "running" if state.running else "idle"
            if ycell.get("execution_state") != wanted:
                ycell["execution_state"] = wanted
            metadata = ycell.get("metadata")
            if not isinstance(metadata, Map):
                continue
            if state.execution:
                if _plain(metadata.get("execution")) != state.execution:
                    metadata["execution"] = dict(state.execution)
            elif "execution" in metadata:
                del metadata["execution"]
    return missing, present


def _apply_metadata(doc: Any, meta: NotebookMeta) -> None:
    """The run's keys of the notebook metadata, set in the document's where they differ."""
    from pycrdt import Map

    ymeta = getattr(doc, "_ymeta", None)  # jupyter_ydoc keeps the notebook's top level here
    if not isinstance(ymeta, Map):
        return
    ymetadata = ymeta.get("metadata")
    if not isinstance(ymetadata, Map):
        ymetadata = ymeta["metadata"] = Map({})
    owned = (*meta.values, *meta.defaults)
    current = {key: _plain(ymetadata[key]) for key in owned if key in ymetadata}
    if meta.apply(current):
        for key in owned:
            if _plain(ymetadata.get(key)) != current[key]:
                ymetadata[key] = current[key]


def _apply_outputs(ycell: Any, outputs: list[dict[str, Any]]) -> None:
    from pycrdt import Array, Text

    youtputs = ycell.get("outputs")
    if not isinstance(youtputs, Array):
        youtputs = ycell["outputs"] = Array()
    keep = 0
    for have, want in zip(youtputs, outputs, strict=False):
        if _plain(have) == _plain(want):
            keep += 1
            continue
        text = have.get("text") if hasattr(have, "get") else None
        if (
            isinstance(text, Text)
            and want.get("output_type") == "stream"
            and have.get("output_type") == "stream"
            and have.get("name") == want.get("name")
        ):
            old, new = str(text), _text(want.get("text", ""))
            if new.startswith(old):
                text += new[len(old) :]
                keep += 1
                continue
        break
    if keep < len(youtputs):
        del youtputs[keep:]
    if keep < len(outputs):
        youtputs.extend([_youtput(output) for output in outputs[keep:]])


def _youtput(output: Mapping[str, Any]) -> Any:
    """An output as the shared document holds it: a map, whose stream text is shared
    text (so that a growing stream is sent as appends), as jupyter_ydoc builds them."""
    from pycrdt import Map, Text

    value = dict(output)
    if value.get("output_type") == "stream":
        value["text"] = Text(_text(value.get("text", "")))
    return Map(value)


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _number(value: Any) -> int | None:
    # Yjs numbers arrive as floats
    return int(value) if isinstance(value, int | float) else None


def _plain(value: Any) -> Any:
    """A shared value (or a plain one) as comparable Python data."""
    if hasattr(value, "to_py"):
        value = value.to_py()
    if isinstance(value, Mapping):
        out = {k: _plain(v) for k, v in value.items()}
        if out.get("output_type") == "stream" and isinstance(out.get("text"), list):
            out["text"] = "".join(out["text"])
        if isinstance(out.get("execution_count"), float):
            out["execution_count"] = int(out["execution_count"])
        return out
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
