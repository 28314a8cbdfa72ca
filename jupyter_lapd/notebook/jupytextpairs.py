"""jupytext: paired and text notebooks are read and written through the contents manager.

With jupytext's contents manager, a notebook may live in two files kept in step (a *pair*:
``nb.ipynb`` holding the outputs, ``nb.py`` the inputs, say), and a text notebook (``.py``,
``.md``, ...) opens as a notebook. jupytext refuses to open a pair whose text file is older
than its ``.ipynb`` (unless their inputs match), so writing the ``.ipynb`` behind its back
would sooner or later lock the user out of their own notebook. Runs of such notebooks
therefore read them through the contents manager (the text file's inputs win, as when
JupyterLab opens them), and write by reading, merging the run's cells and saving through
it, exactly as a browser's save would: jupytext writes the ``.ipynb`` and then the text
file, and both stay consistent.

Notebooks that are not paired keep the direct, atomic, incremental file writer: deciding
that costs a stat and a read of the file's last 64 KiB (its notebook metadata) per write.
A text notebook with no ``.ipynb`` in its pair cannot be run: its outputs would have
nowhere to go, and jupytext gives its cells new ids at every read.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import time
from typing import Any

import nbformat
from jupyter_core.utils import ensure_async
from tornado.web import HTTPError

from ..models import (
    InvalidRunRequest,
    LapdError,
    NotebookNotFound,
    PathForbidden,
    isoformat,
)
from .cellmerge import CellState, NotebookMeta, WriteResult, merge_cells, validate_owned
from .nbfile import file_key, first_line, loads
from .resolve import LoadedNotebook, load_notebook, resolve_path
from .writer import Destination

try:  # jupytext is optional: without it nothing here applies
    from jupytext.config import JupytextConfiguration, notebook_formats
    from jupytext.formats import long_form_multiple_formats
    from jupytext.paired_paths import InconsistentPath, find_base_path_and_format, paired_paths
except ImportError:  # pragma: no cover - exercised only without jupytext
    JupytextConfiguration = None

__all__ = ["ContentsDestination", "PairedNotebooks", "is_jupytext", "paired_paths_of"]

Pair = list[tuple[str, dict[str, Any]]]  # (API path, jupytext format) of each file

# nbformat writes the top-level keys sorted, one space deep: the notebook's metadata is the
# last of these in the file (a newline never occurs inside a JSON string)
_TOP_METADATA = b'\n "metadata": '
_TAIL_BYTES = 64 * 1024
_DECODER = json.JSONDecoder()


def is_jupytext(contents_manager: Any) -> bool:
    """True if the server's contents manager is jupytext's (sync or async)."""
    return JupytextConfiguration is not None and isinstance(contents_manager, JupytextConfiguration)


def paired_paths_of(contents_manager: Any, path: str) -> list[str]:
    """The other files of the pair ``path`` belongs to, as jupytext's contents manager knows
    it right now (it records a pair whenever it reads or saves one); [] if none."""
    if not is_jupytext(contents_manager):
        return []
    path = path.strip("/")
    entry = getattr(contents_manager, "paired_notebooks", {}).get(path)
    if not entry:
        return []
    fmt, formats = entry
    try:
        return [p for p, _ in paired_paths(path, fmt, formats) if p != path]
    except Exception:
        return []


async def pairing(contents_manager: Any, api_path: str, nb: Any) -> Pair | None:
    """The files of the pair ``api_path`` belongs to, given its notebook (only the metadata
    is used), decided as jupytext's save decides it: the notebook's ``jupytext.formats``,
    else the jupytext configuration's ``formats`` for that path. None: not paired."""
    config = await ensure_async(contents_manager.get_config(api_path))
    formats = notebook_formats(nb, config, api_path)
    drop = getattr(contents_manager, "_drop_formats_if_they_dont_match_path", None)
    if drop is not None:
        _, formats = drop(api_path, None, formats)
    formats = long_form_multiple_formats(formats)
    if len(formats) < 2:
        return None
    try:
        _, fmt = find_base_path_and_format(api_path, formats)
        pair: Pair = paired_paths(api_path, fmt, formats)
    except InconsistentPath as e:
        raise InvalidRunRequest(f"{api_path}: jupytext cannot pair it: {e}") from None
    return pair if len(pair) > 1 else None


def ipynb_of(pair: Pair | None) -> str | None:
    """The ``.ipynb`` file of a pair: where the outputs go."""
    for path, fmt in pair or []:
        if fmt.get("extension") == ".ipynb":
            return path
    return None


def _read_metadata(os_path: str) -> dict[str, Any]:
    """A notebook file's top-level metadata, from the last 64 KiB when the file is laid out
    as nbformat writes it (Jupyter, jupytext and this extension all do), else from all of it."""
    with open(os_path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        f.seek(max(0, size - _TAIL_BYTES))
        tail = f.read()
        at = tail.rfind(_TOP_METADATA)
        if at >= 0:
            try:
                value, _ = _DECODER.raw_decode(tail[at + len(_TOP_METADATA) :].decode("utf-8"))
                if isinstance(value, dict):
                    return value
            except ValueError:
                pass
        f.seek(0)
        text = f.read().decode("utf-8")
    metadata = loads(text).get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _http_error(api_path: str, e: HTTPError, doing: str) -> LapdError:
    message = (e.log_message or str(e)).strip()
    if e.status_code == 404:
        return NotebookNotFound(f"No such notebook: {api_path}")
    if e.status_code == 403:
        return PathForbidden(f"{api_path}: {message}")
    return InvalidRunRequest(f"{api_path} could not be {doing} by jupytext: {message}")


class PairedNotebooks:
    """Reads a run's notebook and routes its writes when jupytext's contents manager must
    see them. The contents manager is looked up at each call: jupytext's server extension
    replaces the server's after other extensions (this one included) have loaded."""

    def __init__(
        self,
        serverapp: Any,
        log: logging.Logger | None = None,
        flush_interval: float = 1.0,
    ) -> None:
        self._serverapp = serverapp
        self._log = log or logging.getLogger(__name__)
        # writes through the contents manager start from the extension's flush_interval,
        # and the writer stretches it with their cost as it does the file writer's
        self.flush_interval = flush_interval
        # os path -> (file key, metadata): each write by the file writer changes the key
        self._metadata: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}
        self._paired: dict[str, bool] = {}  # API path -> paired, at the last write

    @property
    def contents_manager(self) -> Any:
        return self._serverapp.contents_manager

    @property
    def root_dir(self) -> str:
        return os.path.abspath(str(self._serverapp.root_dir))

    # -- the route ------------------------------------------------------------------------

    async def destination(self, api_path: str) -> Destination | None:
        """Where a write of a run on ``api_path`` goes: through the contents manager for a
        paired notebook or a text notebook, else None (the file writer)."""
        api_path = api_path.strip("/")
        if not api_path.endswith(".ipynb"):
            # a text notebook: never let the file writer put JSON into it
            return ContentsDestination(self, api_path)
        cm = self.contents_manager
        if not is_jupytext(cm):
            return None
        try:
            _, os_path = resolve_path(self.root_dir, api_path)
            pair = await pairing(cm, api_path, {"metadata": await self._metadata_of(os_path)})
            paired = pair is not None
        except Exception as e:
            # unreadable right now (caught mid-save, say): as it was at the last write
            paired = self._paired.get(api_path, False)
            self._log.debug("jupyter_lapd: pairing of %s unknown (%s): %s", api_path, e, paired)
        if len(self._paired) > 256:
            self._paired.clear()
        self._paired[api_path] = paired
        return ContentsDestination(self, api_path) if paired else None

    async def _metadata_of(self, os_path: str) -> dict[str, Any]:
        key = file_key(os.stat(os_path))
        cached = self._metadata.get(os_path)
        if cached is not None and cached[0] == key:
            return cached[1]
        if key[1] <= _TAIL_BYTES:
            metadata = _read_metadata(os_path)
        else:  # may fall back to reading everything: off the event loop
            metadata = await asyncio.to_thread(_read_metadata, os_path)
        if len(self._metadata) > 256:
            self._metadata.clear()
        self._metadata[os_path] = (key, metadata)
        return metadata

    # -- reading (notebooks.NotebookReader) -----------------------------------------------

    async def open_notebook(self, api_path: str, os_path: str) -> LoadedNotebook | None:
        """A run's notebook as jupytext's contents manager reads it (None: not jupytext's
        business, read the .ipynb from disk). Refuses, changing nothing, a file jupytext
        does not open as a notebook and a text notebook with no .ipynb to hold outputs."""
        cm = self.contents_manager
        if not is_jupytext(cm):
            return None
        disk_ids: set[str] = set()
        if api_path.endswith(".ipynb"):
            on_disk = await asyncio.to_thread(load_notebook, api_path, os_path)
            pair = await pairing(cm, api_path, on_disk)
            if pair is None:
                return LoadedNotebook(on_disk)
            disk_ids = _code_ids(on_disk)
            # the text file's inputs are newer if it was edited since the last save
            nb = await self._get(api_path)
        else:
            if not os.path.exists(os_path):
                raise NotebookNotFound(f"No such notebook: {api_path}")
            config = await ensure_async(cm.get_config(api_path))
            ext = os.path.splitext(api_path)[1]
            if os.path.isdir(os_path) or ext not in cm.all_nb_extensions(config):
                raise InvalidRunRequest(
                    f"{api_path} is not a notebook (.ipynb, or a text notebook jupytext opens)"
                )
            nb = await self._get(api_path)
            pair = await pairing(cm, api_path, nb)
            ipynb = ipynb_of(pair)
            if ipynb is None:
                raise InvalidRunRequest(
                    f"{api_path} is a text notebook not paired with an .ipynb file: the run's "
                    "outputs would have nowhere to go. Pair it first (jupytext: "
                    f"`jupytext --set-formats ipynb,{ext[1:]} {os.path.basename(api_path)}`, "
                    "or Pair with ipynb in JupyterLab's command palette)."
                )
            disk_ids = await self._ids_on_disk(ipynb)
        try:
            nbformat.validate(nb)
        except Exception as e:
            raise InvalidRunRequest(
                f"{api_path} is not a valid notebook: {first_line(e)}"
            ) from None
        assert pair is not None
        return LoadedNotebook(
            nb,
            save=lambda updated: self._save(api_path, updated),
            aliases=[p for p, _ in pair if p != api_path],
            unsaved_ids=not _code_ids(nb) <= disk_ids,
        )

    async def _get(self, api_path: str) -> nbformat.NotebookNode:
        try:
            model = await ensure_async(
                self.contents_manager.get(api_path, content=True, type="notebook")
            )
        except HTTPError as e:
            raise _http_error(api_path, e, "read") from None
        nb: nbformat.NotebookNode = nbformat.from_dict(model["content"])
        return nb

    async def _save(self, api_path: str, nb: nbformat.NotebookNode) -> None:
        model = {"type": "notebook", "format": "json", "content": nb}
        try:
            await ensure_async(self.contents_manager.save(model, api_path))
        except HTTPError as e:
            raise _http_error(api_path, e, "saved") from None

    async def _ids_on_disk(self, api_path: str) -> set[str]:
        """The code cell ids of a pair's .ipynb as it is on disk (none if it is missing)."""
        try:
            _, os_path = resolve_path(self.root_dir, api_path)
            nb = await asyncio.to_thread(load_notebook, api_path, os_path)
        except LapdError:
            return set()
        return _code_ids(nb)

    def stamp(self, paths: list[str]) -> tuple[tuple[int, int, int] | None, ...]:
        """The files' keys on disk (None: missing), to notice someone else's write."""
        keys: list[tuple[int, int, int] | None] = []
        for path in paths:
            try:
                keys.append(file_key(os.stat(resolve_path(self.root_dir, path)[1])))
            except (LapdError, OSError):
                keys.append(None)
        return tuple(keys)


class ContentsDestination:
    """A run's writes to a paired or text notebook: read through the contents manager,
    merge the run's cells, save through it (jupytext writes the .ipynb, then the text).

    Each write costs a read and a save of both files, on the event loop as far as the
    contents manager does its work there (all of it for a synchronous one): the writer
    stretches its interval to ``cost_factor`` times that cost, so it stays a small share.
    """

    destination = "contents"
    key: object | None = None  # each write re-reads the notebook: it gets all the cells
    interval: float

    def __init__(self, owner: PairedNotebooks, api_path: str) -> None:
        self._owner = owner
        self.api_path = api_path
        self.interval = owner.flush_interval

    async def write(
        self, cells: dict[str, CellState], meta: NotebookMeta | None = None
    ) -> WriteResult:
        started = time.monotonic()
        owner, path = self._owner, self.api_path
        cm = owner.contents_manager
        if not is_jupytext(cm):
            raise RuntimeError(f"{path} is a text notebook, and jupytext is not active")
        paths = [path, *paired_paths_of(cm, path)]
        for _attempt in range(3):
            before = owner.stamp(paths)
            nb = await owner._get(path)
            pair = await pairing(cm, path, nb)
            if ipynb_of(pair) is None and not path.endswith(".ipynb"):
                raise InvalidRunRequest(
                    f"{path} is no longer paired with an .ipynb file: outputs cannot be saved"
                )
            now = [p for p, _ in pair] if pair is not None else [path]
            # someone saved while the contents manager read: redo, not to undo their edit
            if sorted(now) == sorted(paths) and owner.stamp(paths) == before:
                break
            paths = now
        missing = merge_cells(nb, cells, meta)
        # what the run put in never reaches the disk invalid; the rest is the user's
        ran = [cell for cell in nb.cells if cell.get("id") in cells]
        validate_owned(ran, meta, nb.metadata, nb.get("nbformat_minor", 5))
        await owner._save(path, nb)
        info = await ensure_async(cm.get(path, **_stat_kwargs(cm)))
        modified = info.get("last_modified")
        return WriteResult(
            last_modified=(isoformat(modified) if modified is not None else None) or "",
            hash=info.get("hash") or "",
            missing=missing,
            present=_code_ids(nb),
            seconds=time.monotonic() - started,
            size=int(info.get("size") or 0),
            destination=self.destination,
        )


def _code_ids(nb: Any) -> set[str]:
    return {c.get("id") for c in nb.cells if c.get("cell_type") == "code" and c.get("id")}


def _stat_kwargs(contents_manager: Any) -> dict[str, Any]:
    """``get`` arguments for the model the browser's document context compares with:
    no content, with the hash where the contents manager computes one (jupytext's is the
    concatenation of both files' hashes, and its time the inputs' file's)."""
    kwargs: dict[str, Any] = {"content": False}
    try:
        if "require_hash" in inspect.signature(contents_manager.get).parameters:
            kwargs["require_hash"] = True
    except (TypeError, ValueError):
        pass
    return kwargs
