"""Resolving a run request's notebook: path checks, reading, cell ids, and cell selection."""

from __future__ import annotations

import asyncio
import os
import posixpath
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from nbformat import NotebookNode

from ..models import InvalidRunRequest, NotebookNotFound, PathForbidden
from . import nbfile


def resolve_path(root_dir: str, path: str) -> tuple[str, str]:
    """Map an API path to ``(api_path, os_path)``, refusing anything outside ``root_dir``.

    Symlinks are resolved before the check, as a user could otherwise reach any file on
    the machine through a link planted inside the root. The API path is normalised
    (``./nb.ipynb`` and ``a/../nb.ipynb`` are ``nb.ipynb``), as the contents manager
    names the file: a notebook has one name in every record, busy check and event.
    """
    if not isinstance(path, str) or not path.strip():  # type: ignore[redundant-expr]
        raise InvalidRunRequest("'path' must be a non-empty string")
    # relative to the root, so that a leading `/..` stays outside it
    api_path = posixpath.normpath(path.strip().replace("\\", "/").strip("/"))
    if api_path.split("/")[0] == "..":
        raise PathForbidden(f"{path!r} is outside the server's root directory")
    root = os.path.realpath(root_dir)
    os_path = os.path.realpath(os.path.join(root, *api_path.split("/")))
    if os.path.commonpath([root, os_path]) != root:
        raise PathForbidden(f"{path!r} is outside the server's root directory")
    return api_path, os_path


def load_notebook(api_path: str, os_path: str) -> NotebookNode:
    """Read and validate a notebook, with the error a user can act on."""
    if not os.path.exists(os_path):
        raise NotebookNotFound(f"No such notebook: {api_path}")
    if os.path.isdir(os_path) or not os_path.endswith(".ipynb"):
        raise InvalidRunRequest(f"{api_path} is not a notebook (.ipynb file)")
    # decoded cell by cell: a 20 MB notebook in one json.load holds the GIL (and so the
    # server's event loop) for a tenth of a second
    try:
        with open(os_path, encoding="utf-8") as f:
            text = f.read()
        raw = nbfile.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidRunRequest(f"{api_path} is not valid notebook JSON: {e}") from None
    try:
        nb = nbfile.notebook_from_dict(raw, text)
    except Exception as e:
        raise InvalidRunRequest(
            f"{api_path} is not a valid notebook: {nbfile.first_line(e)}"
        ) from None
    return nb


@dataclass
class LoadedNotebook:
    """A run's notebook as read, and how to put it back if its cells need ids on disk."""

    nb: NotebookNode
    #: saves the notebook (through the contents manager); None: written straight to the file
    save: Callable[[NotebookNode], Awaitable[None]] | None = None
    #: the other API paths of the same notebook (the files of a jupytext pair)
    aliases: list[str] = field(default_factory=list)
    #: some code cells have ids that are not on disk yet (a text notebook's new cells)
    unsaved_ids: bool = False


class NotebookReader(Protocol):
    """Reads a notebook that the server's contents manager must read (jupytext)."""

    async def open_notebook(self, api_path: str, os_path: str) -> LoadedNotebook | None:
        """The notebook, or None when it is an ordinary .ipynb to read from disk."""
        ...


async def open_notebook(
    api_path: str, os_path: str, reader: NotebookReader | None = None
) -> LoadedNotebook:
    """Read a run's notebook: through ``reader`` when it takes it, else from disk."""
    if reader is not None:
        loaded = await reader.open_notebook(api_path, os_path)
        if loaded is not None:
            return loaded
    return LoadedNotebook(await asyncio.to_thread(load_notebook, api_path, os_path))


def ensure_cell_ids(nb: NotebookNode) -> bool:
    """Give every cell an nbformat 4.5 id (as JupyterLab does on save); True if any was added.

    Runs address cells by id, so a notebook from an older nbformat needs them on disk
    before the run starts.
    """
    added = False
    for cell in nb.cells:
        if not cell.get("id"):
            cell["id"] = uuid.uuid4().hex[:8]
            added = True
    if added and nb.nbformat_minor < 5:
        nb.nbformat_minor = 5
    return added


def select_cells(nb: NotebookNode, cell_ids: Sequence[str] | None) -> list[str]:
    """The ids to run, in notebook order: the given ones, or every code cell."""
    code_ids = [cell["id"] for cell in nb.cells if cell.cell_type == "code"]
    if cell_ids is None:
        return code_ids
    if not isinstance(cell_ids, list) or not all(isinstance(c, str) for c in cell_ids):
        raise InvalidRunRequest("'cells' must be a list of cell id strings")
    if not cell_ids:
        raise InvalidRunRequest("'cells' is empty: omit it to run every code cell")
    all_ids = {cell["id"]: cell.cell_type for cell in nb.cells}
    unknown = [c for c in cell_ids if c not in all_ids]
    if unknown:
        raise InvalidRunRequest(f"Unknown cell id(s): {', '.join(unknown)}")
    not_code = [c for c in cell_ids if all_ids[c] != "code"]
    if not_code:
        raise InvalidRunRequest(f"Not code cell(s): {', '.join(not_code)}")
    wanted = set(cell_ids)
    return [c for c in code_ids if c in wanted]


def cell_index(nb: NotebookNode) -> dict[str, int]:
    return {cell["id"]: i for i, cell in enumerate(nb.cells)}


def kernel_name_of(nb: NotebookNode) -> str | None:
    spec = nb.metadata.get("kernelspec") or {}
    name = spec.get("name")
    return name if isinstance(name, str) and name else None
