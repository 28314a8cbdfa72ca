"""Runs on notebooks open in real-time collaboration (jupyter-collaboration, for real).

A client here is what JupyterLab is to the collaboration server: a Y document synced over
the room's WebSocket. Outputs must reach it through the shared document, the room must be
the one saving the file, and a collaborator's edit made during the run must survive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import held_until, read_nb, wait_until
from jupyter_ydoc import YNotebook
from pycrdt import Provider
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

COLLAB_EVENTS = "https://schema.jupyter.org/jupyter_collaboration/session/v1"

PRINTS = "import time\nfor i in range(6):\n    print(i, flush=True)\n    time.sleep(0.4)"


@pytest.fixture
def jp_server_config(
    jp_server_config: dict[str, Any], jp_root_dir: Path, request: pytest.FixtureRequest
) -> dict[str, Any]:
    config = json.loads(json.dumps(jp_server_config))
    config["ServerApp"]["jpserver_extensions"].update(
        {"jupyter_server_ydoc": True, "jupyter_server_fileid": True}
    )
    config["BaseFileIdManager"] = {
        "root_dir": str(jp_root_dir),
        "db_path": str(jp_root_dir.parent / "fileid.db"),
        "db_journal_mode": "OFF",
    }
    config["SQLiteYStore"] = {"db_path": str(jp_root_dir.parent / "ystore.db")}
    config["YDocExtension"] = {"document_save_delay": 0.5, "document_cleanup_delay": 1}
    if marker := request.node.get_closest_marker("collab_config"):
        config["YDocExtension"].update(marker.kwargs)
    return config


class TornadoChannel:
    """pycrdt's Channel over a tornado WebSocket client."""

    def __init__(self, ws: Any, path: str) -> None:
        self._ws, self._path = ws, path

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> TornadoChannel:
        return self

    async def __anext__(self) -> bytes:
        message = await self._ws.read_message()
        if message is None:
            raise StopAsyncIteration
        return bytes(message)

    async def send(self, message: bytes) -> None:
        await self._ws.write_message(message, binary=True)

    async def recv(self) -> bytes:
        return await self.__anext__()


# The room's WebSocket of each client of collab_client, by id of its document.
sockets: dict[int, Any] = {}


async def press_save(doc: YNotebook, save_id: int) -> None:
    """Ask the room to save, as a page's Ctrl+S does (a RAW "save" message)."""
    from jupyter_server_ydoc.utils import MessageType
    from pycrdt import Encoder

    encoder = Encoder()
    encoder.write_var_uint(MessageType.RAW)
    encoder.write_var_string("save")
    encoder.write_var_uint(save_id)
    await sockets[id(doc)].write_message(encoder.to_bytes(), binary=True)


@pytest.fixture
def collab_client(
    jp_fetch: Any, jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str]
) -> Any:
    @contextlib.asynccontextmanager
    async def connect(path: str) -> AsyncIterator[YNotebook]:
        """A collaborator with ``path`` open, as JupyterLab opens it."""
        response = await jp_fetch(
            "api",
            "collaboration",
            "session",
            path,
            method="PUT",
            body=json.dumps({"format": "json", "type": "notebook"}),
        )
        session = json.loads(response.body)
        room = f"json:notebook:{session['fileId']}"
        # the room name goes unescaped, as JupyterLab sends it
        url = (
            f"ws://127.0.0.1:{jp_http_port}{jp_base_url}api/collaboration/room/{room}"
            f"?sessionId={session['sessionId']}"
        )
        ws = await websocket_connect(HTTPRequest(url, headers=jp_auth_header))
        doc = YNotebook()
        sockets[id(doc)] = ws
        try:
            async with Provider(doc.ydoc, TornadoChannel(ws, room)) as provider:
                await asyncio.wait_for(provider.synced.wait(), 30)
                await wait_until(lambda: doc.cell_number > 0, timeout=30)
                yield doc
        finally:
            ws.close()

    return connect


@pytest.fixture
def collab_events(jp_serverapp: Any) -> list[dict[str, Any]]:
    """What the collaboration rooms report (an out-of-band reload is an "overwrite")."""
    seen: list[dict[str, Any]] = []

    async def listener(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        seen.append(dict(data))

    jp_serverapp.event_logger.add_listener(schema_id=COLLAB_EVENTS, listener=listener)
    return seen


def read_saved(path: Path) -> Any:
    """The notebook on disk, or None while it is being saved: the room saves through the
    server's contents manager, which rewrites the file in place (and finishes the write on
    the event loop, so a poll must not block it)."""
    try:
        return read_nb(path)
    except Exception:
        return None


def on_disk(path: Path, index: int = 0) -> list[Any]:
    """The outputs of a cell in the file ([] while the file is being saved)."""
    nb = read_saved(path)
    return [] if nb is None else list(nb.cells[index].outputs)


async def settled(path: Path) -> Any:
    """The notebook on disk once no save is half-way through it."""
    while (nb := read_saved(path)) is None:
        await asyncio.sleep(0.05)
    return nb


def cell_by_id(doc: YNotebook, cell_id: str) -> dict[str, Any]:
    for i in range(doc.cell_number):
        cell = doc.get_cell(i)
        if cell.get("id") == cell_id:
            return cell
    raise KeyError(cell_id)


def stream_text(cell: dict[str, Any]) -> str:
    return "".join(o.get("text", "") for o in cell["outputs"] if o["output_type"] == "stream")


def ycell(doc: YNotebook, cell_id: str) -> Any:
    return next(c for c in doc.ycells if c.get("id") == cell_id)


async def test_outputs_stream_into_the_shared_document_and_the_room_saves_them(
    lapd_notebook: Any,
    lapd_start: Any,
    lapd_wait: Any,
    lapd_events: Any,
    collab_client: Any,
    collab_events: list[dict[str, Any]],
) -> None:
    path = lapd_notebook([PRINTS, ("markdown", "notes"), "40 + 2"])
    async with collab_client("nb.ipynb") as alice, collab_client("nb.ipynb") as bob:
        run = await lapd_start("nb.ipynb")
        # live: both collaborators see the stream grow while the cell still runs
        await wait_until(lambda: "1\n" in stream_text(cell_by_id(bob, "c0")), timeout=60)
        assert ycell(alice, "c0").get("execution_state") == "running"
        # a collaborator edits another cell during the run
        alice.set_cell(1, source="notes, edited by alice")
        done = await lapd_wait(run["id"])
        assert done["status"] == "completed"
        expected = "".join(f"{i}\n" for i in range(6))
        for doc in (alice, bob):
            await wait_until(lambda d=doc: cell_by_id(d, "c2")["outputs"] != [], timeout=30)
            first = cell_by_id(doc, "c0")
            assert stream_text(first) == expected  # once: never duplicated
            assert len(first["outputs"]) == 1
            assert first["execution_count"] == 1
            assert ycell(doc, "c0").get("execution_state") == "idle"
            assert cell_by_id(doc, "c2")["outputs"][0]["data"]["text/plain"] == "42"
            assert cell_by_id(doc, "c1")["source"] == "notes, edited by alice"

        # the room saves the file: outputs and the collaborator's edit, both
        def saved() -> bool:
            nb = read_saved(path)
            return nb is not None and nb.cells[2].outputs and "by alice" in nb.cells[1].source

        await wait_until(saved, timeout=30)
        nb = await settled(path)
        assert "".join(o.get("text", "") for o in nb.cells[0].outputs) == expected
        assert nb.cells[0].execution_count == 1
        assert nb.cells[0].metadata["execution"]["shell.execute_reply"]
        assert nb.metadata["language_info"]["name"] == "python"  # the kernel's, as nbclient
    # the run never wrote behind the room's back: no out-of-band reload
    assert not [e for e in collab_events if e.get("action") == "overwrite"], collab_events
    flushed = [e for e in await lapd_events(run["id"], since=0) if e["type"] == "flushed"]
    assert flushed and all(e.get("destination") == "shared_document" for e in flushed)


async def test_without_a_room_the_run_writes_the_file_and_a_late_client_joins_live(
    lapd_notebook: Any,
    lapd_start: Any,
    lapd_wait: Any,
    lapd_events: Any,
    collab_client: Any,
) -> None:
    slow = "import time\nfor i in range(10):\n    print(i, flush=True)\n    time.sleep(0.4)"
    path = lapd_notebook([slow, "'after'"])
    run = await lapd_start("nb.ipynb")
    # nobody has the notebook open: the file is written as usual
    await wait_until(lambda: "1\n" in stream_text({"outputs": on_disk(path)}), timeout=60)
    async with collab_client("nb.ipynb") as late:
        # the file's outputs so far came with the document; the rest streams in
        await wait_until(lambda: "9\n" in stream_text(cell_by_id(late, "c0")), timeout=60)
        done = await lapd_wait(run["id"])
        assert done["status"] == "completed"
        await wait_until(lambda: cell_by_id(late, "c1")["outputs"] != [], timeout=30)
        assert stream_text(cell_by_id(late, "c0")) == "".join(f"{i}\n" for i in range(10))
        await wait_until(lambda: on_disk(path, 1) != [], timeout=30)
    events = await lapd_events(run["id"], since=0)
    destinations = [e.get("destination", "file") for e in events if e["type"] == "flushed"]
    assert destinations[0] == "file" and destinations[-1] == "shared_document"


STEADY = "import time\nfor i in range(40):\n    print(i, flush=True)\n    time.sleep(0.1)"


async def file_hash(jp_fetch: Any, path: str = "nb.ipynb") -> str:
    """The file's hash as the contents API reports it: what JupyterLab's check before a
    save compares with the hash it last saw."""
    response = await jp_fetch("api", "contents", path, params={"content": "0", "hash": "1"})
    return str(json.loads(response.body)["hash"])


async def same_hash(doc: YNotebook, jp_fetch: Any, timeout: float = 30) -> None:
    """Wait until the page knows the file's hash (every save is announced to the pages;
    while the room saves again and again, some moment has both agree)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while doc.hash != await file_hash(jp_fetch):
        assert asyncio.get_running_loop().time() < deadline, "the page never got the hash"
        await asyncio.sleep(0.05)


async def room_document(jp_serverapp: Any, path: str = "nb.ipynb") -> Any:
    """The room's own document of ``path`` (the server side of every page's copy)."""
    ext = jp_serverapp.web_app.settings["jupyter_server_ydoc"]
    return await ext.get_document(
        path=path, content_type="notebook", file_format="json", copy=False
    )


# The room's own autosave waits longer than the run lasts: every save seen is the run's.
@pytest.mark.collab_config(document_save_delay=60)
async def test_with_a_page_in_the_room_the_run_has_the_room_save_its_outputs(
    jp_fetch: Any,
    tmp_path: Path,
    lapd_notebook: Any,
    lapd_start: Any,
    lapd_get: Any,
    lapd_wait: Any,
    collab_client: Any,
) -> None:
    """While a page has the room open, the file follows the run as it does without one:
    saved by the room, whose saves tell every page the file's new hash."""
    flag = tmp_path / "followed"
    path = lapd_notebook([STEADY + "\n" + held_until(flag)])
    async with collab_client("nb.ipynb") as alice:
        run = await lapd_start("nb.ipynb")
        # while the cell still prints, the file follows
        await wait_until(lambda: "15\n" in stream_text({"outputs": on_disk(path)}), timeout=60)
        assert (await lapd_get(run["id"]))["status"] == "running"  # it waits for the flag
        flag.touch()
        assert (await lapd_wait(run["id"]))["status"] == "completed"
        await wait_until(lambda: stream_text({"outputs": on_disk(path)}).endswith("39\n"))
        # the page knows the file it was saved as: its next save finds no change
        await same_hash(alice, jp_fetch)


@pytest.mark.collab_config(document_save_delay=60)
async def test_a_page_save_while_the_run_streams_reaches_the_file(
    jp_serverapp: Any,
    jp_fetch: Any,
    tmp_path: Path,
    lapd_notebook: Any,
    lapd_start: Any,
    lapd_get: Any,
    lapd_wait: Any,
    collab_client: Any,
) -> None:
    """The room cancels a save under way at any change of its document, and answers the
    page "saved" all the same: the run's changes, every 0.1 s, must not be such changes,
    or a Ctrl+S made while output streams never reaches the file. A notebook of many
    cells makes each save long enough for several of the run's changes."""
    flag = tmp_path / "saved"
    path = lapd_notebook(
        [STEADY + "\n" + held_until(flag)] + [("markdown", f"note {i}") for i in range(2000)]
    )
    async with collab_client("nb.ipynb") as alice:
        run = await lapd_start("nb.ipynb")
        await wait_until(lambda: "3\n" in stream_text(cell_by_id(alice, "c0")), timeout=60)
        shared = await room_document(jp_serverapp)
        for save_id in range(1, 4):
            edit = f" edited {save_id}"
            source = alice.ycells[1]["source"]
            source += edit
            # the edit is in the room before the save is asked for, as a page's typing is
            await wait_until(lambda e=edit: shared.get_cell(1)["source"].endswith(e))
            await press_save(alice, save_id)

            def saved(edit: str = edit) -> bool:
                nb = read_saved(path)
                return nb is not None and nb.cells[1].source.endswith(edit)

            await wait_until(saved, timeout=30)
            await same_hash(alice, jp_fetch)
        assert (await lapd_get(run["id"]))["status"] == "running"  # every save was mid-run
        flag.touch()
        assert (await lapd_wait(run["id"]))["status"] == "completed"


@pytest.mark.collab_config(document_save_delay=60)
async def test_a_page_save_during_the_run_gives_every_page_the_files_hash(
    jp_fetch: Any,
    tmp_path: Path,
    lapd_notebook: Any,
    lapd_start: Any,
    lapd_get: Any,
    lapd_wait: Any,
    collab_client: Any,
) -> None:
    """A change to the document while the room saves makes the room lose the hash it was
    about to announce (the file is written, the page never hears of it, and its next
    save asks "File Changed"): the run's changes wait for the room's save to end."""
    many = "import time\nfor i in range(150):\n    print(i, flush=True)\n    time.sleep(0.04)\n"
    flag = tmp_path / "saved"
    path = lapd_notebook([many + held_until(flag), "'kept'"])
    # a notebook whose save takes a while: 8 MB of output kept in a cell the run leaves
    nb = read_nb(path)
    nb.cells[1].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=("x" * 99 + "\n") * 80_000)
    ]
    nbformat.write(nb, path)
    async with collab_client("nb.ipynb") as alice:
        run = await lapd_start("nb.ipynb")
        await wait_until(lambda: "5\n" in stream_text(cell_by_id(alice, "c0")), timeout=60)
        for save_id in range(1, 6):
            previous = alice.hash
            await press_save(alice, save_id)
            # every save of the room is announced to the pages: the file's hash
            await wait_until(lambda p=previous: alice.hash != p, timeout=30)
            await same_hash(alice, jp_fetch)
        # every save was made during the run: its cell waits for this flag
        assert (await lapd_get(run["id"]))["status"] == "running"
        flag.touch()
        assert (await lapd_wait(run["id"]))["status"] == "completed"


# The room outlives its last client by more than the run lasts.
@pytest.mark.collab_config(document_save_delay=60, document_cleanup_delay=60)
async def test_with_no_page_in_the_room_the_run_has_the_room_save_as_a_user_does(
    jp_serverapp: Any,
    jp_fetch: Any,
    tmp_path: Path,
    lapd_notebook: Any,
    lapd_start: Any,
    lapd_get: Any,
    lapd_wait: Any,
    collab_client: Any,
    collab_events: list[dict[str, Any]],
) -> None:
    """Nobody is in the room to save (the page was closed): the run has the room save the
    steadily growing document through the room's own save, which gives the document the
    file's new hash, as every page that comes back expects."""
    flag = tmp_path / "followed"
    path = lapd_notebook([STEADY + "\n" + held_until(flag)])
    async with collab_client("nb.ipynb") as alice:
        run = await lapd_start("nb.ipynb")
        await wait_until(lambda: "3\n" in stream_text(cell_by_id(alice, "c0")), timeout=60)
    shared = await room_document(jp_serverapp)
    assert shared is not None  # the room is still open
    # while the cell still prints, the file follows
    await wait_until(lambda: "15\n" in stream_text({"outputs": on_disk(path)}), timeout=60)
    assert (await lapd_get(run["id"]))["status"] == "running"  # its cell waits for the flag
    flag.touch()
    assert (await lapd_wait(run["id"]))["status"] == "completed"
    nb = await settled(path)
    assert stream_text({"outputs": nb.cells[0].outputs}).endswith("39\n")  # the last write
    # saved as a user's save saves: the document knows the file it was saved as
    assert shared.hash == await file_hash(jp_fetch)
    assert not shared.dirty
    assert not [e for e in collab_events if e.get("action") == "overwrite"], collab_events


async def test_a_run_executes_the_shared_document_unsaved_edits_included(
    jp_serverapp: Any,
    lapd_notebook: Any,
    lapd_start: Any,
    lapd_wait: Any,
    collab_client: Any,
) -> None:
    path = lapd_notebook(["print('as saved')"])
    ext = jp_serverapp.web_app.settings["jupyter_server_ydoc"]
    async with collab_client("nb.ipynb") as alice:
        alice.set_cell(0, source="print('as typed')")
        shared = await ext.get_document(
            path="nb.ipynb", content_type="notebook", file_format="json", copy=False
        )
        await wait_until(lambda: "as typed" in shared.get_cell(0)["source"], timeout=30)
        run = await lapd_start("nb.ipynb")  # no save first: the room has not saved yet
        assert "as saved" in read_nb(path).cells[0].source
        assert (await lapd_wait(run["id"]))["status"] == "completed"
        await wait_until(lambda: cell_by_id(alice, "c0")["outputs"] != [], timeout=30)
        assert stream_text(cell_by_id(alice, "c0")) == "as typed\n"
