"""A run's cells merged into a notebook: in memory (a save from the browser), or into the
.ipynb on disk atomically, keeping everything in the file that the run does not own."""

from __future__ import annotations

import copy
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast

import nbformat

from ..models import isoformat
from ..outputs.model import OutputModel
from .nbfile import (
    NBFORMAT_VERSION,
    FileImage,
    atomic_write,
    cell_json,
    file_key,
    file_pieces,
    frame_json,
    parse_notebook,
)

__all__ = [
    "NBFORMAT_VERSION",
    "CellState",
    "FileImage",
    "NotebookMeta",
    "WriteResult",
    "cell_states",
    "merge_cells",
    "note_output",
    "notebook_meta",
    "read_notebook",
    "serialize",
    "validate_owned",
    "write_cells",
    "write_notebook",
]


@dataclass
class CellState:
    """What a run owns in one cell: everything else in the file belongs to the user.

    ``version`` is the OutputModel's version of the cell (None: unknown), so that a writer
    can skip re-serialising a cell that has not changed since its last write.
    """

    outputs: list[dict[str, Any]]
    execution_count: int | None
    execution: dict[str, Any]
    version: int | None = None
    running: bool = False  # the kernel is executing it (a shared document shows it so)


@dataclass
class NotebookMeta:
    """What a run owns in the notebook's own metadata, as nbclient and JupyterLab write it.

    ``values`` are set whatever the file holds (``language_info``, from the kernel the run
    executes on; ``widgets``, the state of its widgets); ``defaults`` only where the file
    has no such key (``kernelspec``, which is the user's choice once made). ``version``
    grows with every change, so that a writer can skip re-serialising the notebook's frame.
    """

    values: dict[str, Any]
    defaults: dict[str, Any]
    version: int = 0

    def apply(self, metadata: dict[str, Any]) -> bool:
        """Put the run's keys into a notebook's ``metadata``; True if that changed it."""
        changed = False
        for key, value in self.values.items():
            if metadata.get(key) != value:
                metadata[key] = copy.deepcopy(value)
                changed = True
        for key, value in self.defaults.items():
            if key not in metadata:
                metadata[key] = copy.deepcopy(value)
                changed = True
        return changed


def notebook_meta(model: OutputModel) -> NotebookMeta | None:
    """The run's notebook metadata as the file must hold it (None: the run has none)."""
    values, defaults = model.notebook_metadata()
    if not values and not defaults:
        return None
    return NotebookMeta(values, defaults, model.metadata_version)


@dataclass
class WriteResult:
    last_modified: str
    hash: str
    missing: set[str]
    present: set[str]
    seconds: float
    size: int
    read_seconds: float = 0.0  # of ``seconds``, re-reading the file (after someone else's save)
    # what the write took of the machine, re-reading aside: its thread's CPU time and its
    # waits for the disk; ``seconds`` also counts waiting for a CPU and the GIL, which on a
    # machine busy with the kernel can be most of it (None: not measured, as ``seconds``)
    cost: float | None = None
    destination: str = "file"  # or where a Destination put it ("shared_document", "contents")


def cell_states(model: OutputModel) -> dict[str, CellState]:
    """What the run owns in each cell it has touched, as the file must hold it."""
    return {
        cell_id: CellState(
            outputs=model.outputs(cell_id),
            execution_count=model.execution_count(cell_id),
            execution=model.execution_metadata(cell_id),
            version=model.version(cell_id),
            running=model.running(cell_id),
        )
        for cell_id in model.cell_ids()
    }


def note_output(text: str) -> dict[str, Any]:
    """A line on stderr in a cell, saying what happened to the run there and when."""
    return {"output_type": "stream", "name": "stderr", "text": f"jupyter_lapd: {text}\n"}


def read_notebook(os_path: str) -> nbformat.NotebookNode:
    with open(os_path, encoding="utf-8") as f:
        return cast(nbformat.NotebookNode, nbformat.read(f, as_version=NBFORMAT_VERSION))


def _merged(cell: nbformat.NotebookNode, state: CellState) -> nbformat.NotebookNode:
    """A copy of ``cell`` holding the run's outputs, count and timing."""
    merged = nbformat.NotebookNode(cell)
    merged.outputs = [nbformat.from_dict(o) for o in state.outputs]
    merged.execution_count = state.execution_count
    merged.metadata = nbformat.NotebookNode(cell.get("metadata", {}))
    if state.execution:
        merged.metadata["execution"] = dict(state.execution)
    else:
        merged.metadata.pop("execution", None)
    return merged


def merge_cells(
    nb: nbformat.NotebookNode, cells: dict[str, CellState], meta: NotebookMeta | None = None
) -> set[str]:
    """Replace the run-owned fields of ``cells`` (and of the notebook's metadata) in
    ``nb``; return ids no longer in it."""
    if meta is not None:
        meta.apply(nb.setdefault("metadata", nbformat.NotebookNode()))
    index = {cell.get("id"): i for i, cell in enumerate(nb.cells)}
    missing = set()
    for cell_id, state in cells.items():
        i = index.get(cell_id)
        if i is None or nb.cells[i].get("cell_type") != "code":
            missing.add(cell_id)
            continue
        nb.cells[i] = _merged(nb.cells[i], state)
    return missing


def merge_into_content(content: dict[str, Any], model: OutputModel) -> None:
    """Put a run's current outputs and metadata into the content of a notebook someone
    else is saving (in place), as the writer puts them in the file; content that is not
    a notebook the contents manager will accept anyway is left as it is."""
    cells = content.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        return
    nb = nbformat.from_dict({"cells": cells})
    metadata = content.get("metadata")
    nb.metadata = metadata if isinstance(metadata, dict) else {}
    merge_cells(nb, cell_states(model), notebook_meta(model))
    content["cells"], content["metadata"] = nb.cells, nb.metadata


def validate_owned(
    cells: list[nbformat.NotebookNode],
    meta: NotebookMeta | None,
    metadata: dict[str, Any],
    minor: int,
) -> None:
    """Raise if what a run puts into a notebook breaks the schema: its cells' new contents
    and its keys of the notebook's ``metadata``. The rest is the user's, read as leniently
    as nbformat reads it, and a flaw of theirs (a kernelspec without ``display_name``) is
    kept as JupyterLab keeps it, not a reason to refuse the run's outputs.

    One call through nbformat's cached whole-notebook validator: cell by cell
    (``ref="code_cell"``) takes jsonschema's path, ~10x slower.
    """
    keys = (*meta.values, *meta.defaults) if meta is not None else ()
    owned = {key: metadata[key] for key in keys if key in metadata}
    part = {"cells": cells, "metadata": owned, "nbformat": NBFORMAT_VERSION}
    nbformat.validate(nbformat.from_dict({**part, "nbformat_minor": minor}))


def serialize(nb: nbformat.NotebookNode) -> bytes:
    """The bytes Jupyter itself would save."""
    text: str = nbformat.v4.writes_json(nb)
    return (text if text.endswith("\n") else text + "\n").encode("utf-8")


# Writes of one flush that a user's save displaced, merged again each time, before the
# last displaced save is kept beside the notebook instead (it takes saves landing within
# milliseconds of each other, again and again).
MERGE_ROUNDS = 4


def _keep_save(os_path: str, displaced: str) -> str:
    """Keep a user's save the run could not merge as a visible file beside the notebook."""
    stem = os_path.removesuffix(".ipynb")
    kept = f"{stem}.unmerged-{time.strftime('%Y%m%dT%H%M%S')}.ipynb"
    os.replace(displaced, kept)
    return kept


def write_notebook(os_path: str, nb: nbformat.NotebookNode) -> None:
    """Write a whole notebook: the user's own, with cell ids or parameters added before a
    run. It is not validated: a schema flaw it was read with is the user's, and is kept as
    JupyterLab keeps it (what the run adds is nbformat's own cells and ids)."""
    atomic_write(os_path, [serialize(nb)])


def _prepare(
    os_path: str, cells: dict[str, CellState], image: FileImage, meta: NotebookMeta | None
) -> tuple[FileImage, set[str], bool]:
    """The file to write, as a new image: the current one (re-read if someone else wrote
    the file since) with the run's changed cells merged, validated and serialised."""
    key = file_key(os.stat(os_path))
    fresh = not image.matches(os_path, key)
    if not fresh:
        assert image.nb is not None
        nb = nbformat.NotebookNode(image.nb)
        nb.cells = list(image.nb.cells)
        serialized: list[bytes | None] = list(image.cells)
        versions, frame = dict(image.versions), image.frame
    else:
        with open(os_path, encoding="utf-8") as f:
            # read as leniently as nbformat.read: a flaw of the user's own in a cell the
            # run does not own stays as it is; what the run changes is validated below
            nb = parse_notebook(f.read())
        serialized, versions, frame = [None] * len(nb.cells), {}, frame_json(nb)
    new_meta: NotebookMeta | None = None  # the run's keys, if this write changes them
    if meta is not None and (fresh or image.meta_version != meta.version):
        metadata = nbformat.NotebookNode(copy.deepcopy(nb.metadata))
        if meta.apply(metadata):
            nb.metadata, new_meta = metadata, meta
            frame = frame_json(nb)
    index = {cell.get("id"): i for i, cell in enumerate(nb.cells)}
    minor = nb.get("nbformat_minor", 5)
    missing = set()
    changed: list[nbformat.NotebookNode] = []
    for cell_id, state in cells.items():
        i = index.get(cell_id)
        if i is None or nb.cells[i].cell_type != "code":
            missing.add(cell_id)
            continue
        unchanged = state.version is not None and versions.get(cell_id) == state.version
        if unchanged and serialized[i] is not None:
            continue
        nb.cells[i] = _merged(nb.cells[i], state)
        changed.append(nb.cells[i])
        serialized[i] = None
        if state.version is not None:
            versions[cell_id] = state.version
        else:
            versions.pop(cell_id, None)
    if changed or new_meta is not None:
        validate_owned(changed, new_meta, nb.metadata, minor)
    done = [
        piece if piece is not None else cell_json(cell)
        for piece, cell in zip(serialized, nb.cells, strict=True)
    ]
    new = FileImage(os_path, key, nb, done, frame, versions)
    new.meta_version = meta.version if meta is not None else None
    return new, missing, fresh


def write_cells(
    os_path: str,
    cells: dict[str, CellState],
    image: FileImage | None = None,
    meta: NotebookMeta | None = None,
) -> WriteResult:
    """Re-read the notebook, merge the run's cells by id, and replace the file atomically.

    If the file changes while the merged copy is being prepared (a user's save), the merge
    is redone on the new content, so the user's edit is neither lost nor overwritten.
    With an ``image`` (the writer's memory of its last write, updated here), a file that
    nobody else wrote since is not re-read, and unchanged cells are not re-serialised.
    """
    started, cpu_started = time.monotonic(), time.thread_time()
    image = image if image is not None else FileImage()
    read_seconds = read_cpu = 0.0
    for _attempt in range(3):
        preparing, cpu_preparing = time.monotonic(), time.thread_time()
        new, missing, fresh = _prepare(os_path, cells, image, meta)
        if fresh:
            read_seconds += time.monotonic() - preparing
            read_cpu += time.thread_time() - cpu_preparing
        if file_key(os.stat(os_path)) == new.key:
            break
    expected = new.key
    superseded: list[str] = []  # users' saves merged already: gone once a write holds them
    for _round in range(MERGE_ROUNDS):
        pieces = file_pieces(new.frame[0], new.cells, new.frame[1])
        written = atomic_write(os_path, pieces, expected)
        if written.displaced is None:
            break
        # A save landed between the read and the write, which displaced it: merge the
        # run's cells into it and write again (the path holds this write meanwhile).
        superseded.append(written.displaced)
        new, missing, _ = _prepare(written.displaced, cells, FileImage(), meta)
        new.path, expected = os_path, written.key
    else:
        kept = _keep_save(os_path, superseded.pop())
        logging.getLogger(__name__).error(
            "jupyter_lapd: %s was saved again and again while the run wrote it: the last"
            " save it could not merge is kept as %s",
            os_path,
            kept,
        )
    for path in superseded:
        os.unlink(path)
    key, digest, size, synced = written.key, written.digest, written.size, written.synced
    image.path, image.key, image.nb = new.path, key, new.nb
    image.cells, image.frame, image.versions = new.cells, new.frame, new.versions
    image.meta_version = new.meta_version
    modified = datetime.fromtimestamp(key[2] / 1e9, tz=timezone.utc)
    assert new.nb is not None
    return WriteResult(
        last_modified=isoformat(modified) or "",
        hash=digest,
        missing=missing,
        present={c.get("id") for c in new.nb.cells if c.cell_type == "code"},
        seconds=time.monotonic() - started,
        size=size,
        read_seconds=read_seconds,
        cost=time.thread_time() - cpu_started - read_cpu + synced,
    )
