"""The .ipynb on disk, cell by cell: read, merged and serialised without stalling the server.

Rewriting a 20 MB notebook every second the naive way (``nbformat.read`` then
``nbformat.writes``) costs about a tenth of a second of CPU, and ``json.loads`` holds the
GIL for all of it, which stalls the server's event loop even from a worker thread. Here
the file is decoded one cell per C call, and each cell's JSON is kept as the exact bytes
nbformat would write at its place in the file: a write re-serialises only the cells whose
contents changed, and re-reads the file only when someone else wrote it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any, cast

import nbformat
from nbformat.reader import get_version
from nbformat.v4.nbjson import BytesEncoder
from nbformat.v4.rwbase import split_lines, strip_transient
from nbformat.warnings import DuplicateCellId, MissingIDFieldWarning

from .exchange import exchange

NBFORMAT_VERSION = 4
log = logging.getLogger(__name__)
# What nbformat.v4.writes_json passes to json.dumps.
_DUMPS: dict[str, Any] = {
    "cls": BytesEncoder,
    "indent": 1,
    "sort_keys": True,
    "separators": (",", ": "),
    "ensure_ascii": False,
}
_DECODER = json.JSONDecoder()
_encode_str: Callable[[str], str] = encode_basestring  # C-accelerated; ensure_ascii=False
_SPACE = re.compile(r"[ \t\n\r]*")
_FileKey = tuple[int, int, int]


def _skip(text: str, pos: int) -> int:
    match = _SPACE.match(text, pos)
    return match.end() if match else pos


def _expect(text: str, pos: int, char: str) -> int:
    if pos >= len(text) or text[pos] != char:
        raise ValueError(f"expected {char!r} at {pos}")
    return _skip(text, pos + 1)


def _loads_by_cell(text: str) -> dict[str, Any]:
    """``json.loads`` of a notebook, one C call per cell and per top-level value, so that
    other threads (the event loop) get the GIL between cells. Anything unusual falls back
    to ``json.loads``, which also gives the usual error for broken JSON."""
    try:
        pos = _expect(text, _skip(text, 0), "{")
        result: dict[str, Any] = {}
        while pos < len(text) and text[pos] != "}":
            key, pos = _DECODER.raw_decode(text, pos)
            if not isinstance(key, str):
                raise TypeError("object key is not a string")
            pos = _expect(text, _skip(text, pos), ":")
            if key == "cells" and text.startswith("[", pos):
                cells: list[Any] = []
                pos = _skip(text, pos + 1)
                while not text.startswith("]", pos):
                    cell, pos = _DECODER.raw_decode(text, pos)
                    cells.append(cell)
                    pos = _skip(text, pos)
                    if text.startswith(",", pos):
                        pos = _skip(text, pos + 1)
                    elif not text.startswith("]", pos):
                        raise ValueError("bad cell list")
                value: Any = cells
                pos += 1
            else:
                value, pos = _DECODER.raw_decode(text, pos)
            result[key] = value
            pos = _skip(text, pos)
            if text.startswith(",", pos):
                pos = _skip(text, pos + 1)
            elif not text.startswith("}", pos):
                raise ValueError("bad object")
        if _skip(text, _expect(text, pos, "}")) != len(text):
            raise ValueError("extra data")
        return result
    except (ValueError, IndexError, TypeError):
        loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise TypeError("a notebook is a JSON object") from None
        return loaded


class NotANotebook(ValueError):
    """A file that is no notebook at all (not one with a schema problem or two)."""


def parse_notebook(text: str) -> nbformat.NotebookNode:
    """What ``nbformat.reads(text, as_version=4)`` gives (see ``notebook_from_dict``)."""
    return notebook_from_dict(loads(text), text)


def loads(text: str) -> dict[str, Any]:
    """The notebook JSON as a dict, decoded one cell at a time (see ``_loads_by_cell``)."""
    return _loads_by_cell(text)


def notebook_from_dict(nb_dict: dict[str, Any], text: str) -> nbformat.NotebookNode:
    """The nbformat 4 notebook of a decoded file (``text``, for old formats), read as
    leniently as ``nbformat.read``: a schema problem (a stream output without ``name``,
    say, which JupyterLab opens and nbclient runs) is logged, not refused. Only what is no
    notebook at all raises ``NotANotebook``.

    A cell without an id keeps none, nor does the second of two cells with one id, even in
    a file that says nbformat 4.5 (older tools bump the version without adding ids):
    nbformat's validation gives such cells fresh random ids on every read, which the file
    never holds, so a run's writes would find none of its cells. ``ensure_cell_ids`` gives
    them ids that are written.
    """
    _check_shape(nb_dict)
    raw_ids = [cell.get("id") for cell in nb_dict["cells"]]
    major, minor = get_version(nb_dict)
    if major == NBFORMAT_VERSION:
        nb = nbformat.v4.to_notebook_json(nb_dict, minor=minor)
    else:  # an older format: nbformat converts (rare, and small notebooks)
        nb = nbformat.reads(text, as_version=NBFORMAT_VERSION)
    nb = nbformat.convert(nb, NBFORMAT_VERSION)
    try:
        with warnings.catch_warnings():
            # such cells are given ids that are written (see above), not nbformat's
            warnings.simplefilter("ignore", MissingIDFieldWarning)
            warnings.simplefilter("ignore", DuplicateCellId)
            nbformat.validate(nb)
    except nbformat.ValidationError as e:
        log.warning("jupyter_lapd: a notebook does not validate, read as it is: %s", first_line(e))
    if major == NBFORMAT_VERSION:
        seen: set[Any] = set()
        for cell, raw in zip(nb.cells, raw_ids, strict=True):
            if not raw or raw in seen:
                cell.pop("id", None)
            seen.add(raw)
    return cast(nbformat.NotebookNode, nb)


def _check_shape(nb_dict: Any) -> None:
    """Refuse what nothing could run: no cell list, cells that are not cells."""
    if not isinstance(nb_dict, dict):
        raise NotANotebook("a notebook is a JSON object")
    major = nb_dict.get("nbformat")
    if not isinstance(major, int) or not 1 <= major <= NBFORMAT_VERSION:
        raise NotANotebook(f"unsupported nbformat {major!r}")
    if major < NBFORMAT_VERSION:
        return  # nbformat's converters read the old shapes
    cells = nb_dict.get("cells")
    if not isinstance(cells, list):
        raise NotANotebook("'cells' is not a list")
    for i, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise NotANotebook(f"cell {i} is not a code, markdown or raw cell")
        if not isinstance(cell.get("source", ""), (str, list)):
            raise NotANotebook(f"cell {i} has no source text")
        outputs = cell.get("outputs", [])
        if cell["cell_type"] == "code" and (
            not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs)
        ):
            raise NotANotebook(f"cell {i} has outputs that are not a list of outputs")
    if not isinstance(nb_dict.get("metadata", {}), dict):
        raise NotANotebook("'metadata' is not an object")


def first_line(error: Exception) -> str:
    """An error's first line (jsonschema's run to dozens), or its type if it says nothing."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _indented(value: Any, depth: int) -> str:
    """``json.dumps(value, **_DUMPS)`` at nesting ``depth``, for JSON-native values.

    With ``indent`` set, ``json.dumps`` runs its pure-Python encoder, which walks a stream
    output split into 200,000 lines one Python call per line; here a list of strings goes
    through the C string encoder in one ``map``. Anything unusual is handed to json.dumps
    (whose output this matches byte for byte, as the tests check).
    """
    if isinstance(value, str):
        return _encode_str(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float(value)
    inner = "\n" + " " * (depth + 1)
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        if not value:
            return "{}"
        items = sorted(value.items())
        body = ("," + inner).join(_encode_str(k) + ": " + _indented(v, depth + 1) for k, v in items)
        return "{" + inner + body + "\n" + " " * depth + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if all(type(v) is str for v in value):
            body = ("," + inner).join(map(_encode_str, value))
        else:
            body = ("," + inner).join(_indented(v, depth + 1) for v in value)
        return "[" + inner + body + "\n" + " " * depth + "]"
    text = json.dumps(value, **_DUMPS)  # bytes (base64), tuples, exotic keys
    return text.replace("\n", "\n" + " " * depth)


def cell_json(cell: nbformat.NotebookNode) -> bytes:
    """One cell exactly as ``nbformat.writes`` puts it in the file, two levels deep."""
    holder = nbformat.from_dict({"cells": [copy.deepcopy(cell)], "metadata": {}})
    stored = strip_transient(split_lines(holder)).cells[0]
    return _indented(stored, 2).encode("utf-8")


def frame_json(nb: nbformat.NotebookNode) -> tuple[bytes, bytes]:
    """The file's text before the first cell and after the last (cells go between,
    joined by ``,\\n  ``): the top level serialised with one placeholder cell."""
    top = {key: copy.deepcopy(value) for key, value in nb.items() if key != "cells"}
    for transient in ("orig_nbformat", "orig_nbformat_minor", "signature"):
        top.get("metadata", {}).pop(transient, None)
    top["cells"] = [0]
    text = json.dumps(top, **_DUMPS) + "\n"
    anchor = '"cells": [\n  '
    start = text.index(anchor) + len(anchor)
    assert text[start : start + 1] == "0"
    return text[:start].encode("utf-8"), text[start + 1 :].encode("utf-8")


def file_pieces(head: bytes, cells: list[bytes], tail: bytes) -> list[bytes]:
    if not cells:  # nbformat writes an empty list as `[]` on one line
        return [head.rstrip(b"\n ") + tail.lstrip(b"\n ")]
    pieces = [head]
    for i, cell in enumerate(cells):
        pieces.append(cell if i == 0 else b",\n  " + cell)
    pieces.append(tail)
    return pieces


def file_key(st: os.stat_result) -> _FileKey:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass
class Written:
    """What ``atomic_write`` did: the new file's key (as ``file_key``, taken from the temp
    file before it took the path, so that a save landing right after cannot be mistaken
    for this write), sha256, size, and seconds spent waiting for the disk (the fsyncs).
    ``displaced``: where someone else's file now lies, if the path no longer held the file
    ``expected`` when this one took its place."""

    key: _FileKey
    digest: str
    size: int
    synced: float
    displaced: str | None = None


def atomic_write(
    os_path: str, pieces: Iterable[bytes], expected: _FileKey | None = None
) -> Written:
    """Temp file in the same folder, fsync, then into place: the path always names a
    whole file.

    The pieces are written one by one (file writes and hashing let go of the GIL), never
    joined into one big buffer. With ``expected`` (the key of the file the pieces were
    merged from), the new file is swapped in (``exchange``) rather than renamed over the
    path: if what it displaced is not that file (a user's save landed meanwhile), that
    file is kept at the temporary name and returned as ``displaced``, never lost.
    """
    folder = os.path.dirname(os_path) or "."
    try:
        mode: int | None = os.stat(os_path).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    digest = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".~lapd-", suffix=".ipynb.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            for piece in pieces:
                f.write(piece)
                digest.update(piece)
                size += len(piece)
            f.flush()
            syncing = time.monotonic()
            os.fsync(f.fileno())
            synced = time.monotonic() - syncing
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            key = file_key(os.fstat(f.fileno()))
        swapped = expected is not None and exchange(tmp, os_path)
        if not swapped:
            os.replace(tmp, os_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    displaced = None
    if swapped:
        if file_key(os.stat(tmp)) == expected:
            os.unlink(tmp)
        else:
            displaced = tmp
    dir_fd = os.open(folder, os.O_RDONLY)
    syncing = time.monotonic()
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return Written(key, digest.hexdigest(), size, synced + time.monotonic() - syncing, displaced)


@dataclass
class FileImage:
    """A notebook file as this process last wrote it: parsed, and serialised per cell.

    Valid while the file on disk still has the key it had right after that write; any
    other writer (a save from JupyterLab) changes the key and the next write re-reads.
    ``versions`` remembers which version of each run-owned cell the bytes hold.
    """

    path: str = ""
    key: _FileKey | None = None
    nb: nbformat.NotebookNode | None = None
    cells: list[bytes] = field(default_factory=list)
    frame: tuple[bytes, bytes] = (b"", b"")
    versions: dict[str, int] = field(default_factory=dict)
    meta_version: int | None = None  # of the run's NotebookMeta the frame holds

    def matches(self, os_path: str, key: _FileKey) -> bool:
        return self.nb is not None and self.path == os_path and self.key == key
