"""Fixtures: a real Jupyter Server with the extension, real kernels, notebooks on disk."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.session import Session
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from jupyter_lapd.journal.journalrows import journal_events
from jupyter_lapd.journal.streamfiles import StreamFiles, folder_for


def _import_anyio_now() -> None:
    """anyio (4.16 and later) imports its modules at their first use, which may come in a
    worker thread (pycrdt's store, in jupyter-collaboration, does) while pytest compiles
    a test module in the main thread: anyio's pytest plugin has pytest rewrite anyio's
    modules too, and CPython 3.11's compiler fails when two threads parse at once
    ("AST constructor recursion depth mismatch"). Import them all here, in the main
    thread, once."""
    import contextlib
    import importlib
    import pkgutil

    import anyio

    for module in pkgutil.walk_packages(anyio.__path__, "anyio."):
        with contextlib.suppress(ImportError):  # a backend not installed (trio)
            importlib.import_module(module.name)


_import_anyio_now()

pytest_plugins = ("pytest_jupyter.jupyter_server",)

TERMINAL = {"completed", "failed", "cancelled", "interrupted"}


@pytest.fixture
def jp_server_config(
    jp_server_config: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> dict[str, Any]:
    # a test marked rare_writes: the run writes at its first cell start, then not for a minute
    flush_interval = 60 if "rare_writes" in request.keywords else 0.2
    # a test marked output_limit(N): Lapd.max_output_bytes = N (None: every byte is kept)
    limit = request.node.get_closest_marker("output_limit")
    bounds = {"max_output_bytes": limit.args[0]} if limit else {}
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_lapd": True, "jupyter_server_terminals": False},
            # every endpoint must demand authentication
            "allow_unauthenticated_access": False,
        },
        "Lapd": {
            "db_path": str(tmp_path / "lapd-db" / "runs.db"),
            "flush_interval": flush_interval,
            # the servers of many tests share this process: test_heap.py tests the freeze
            "freeze_startup_objects": False,
            **bounds,
        },
    }


@pytest.fixture
def lapd_app(jp_serverapp: Any) -> Any:
    return jp_serverapp.extension_manager.extension_points["jupyter_lapd"].app


def block_printer(blocks: int, then: str = "") -> str:
    """A cell printing ``blocks`` numbered lines of 64 KiB, one message each, as fast as
    the kernel can (``then``: more code after the loop)."""
    return (
        "import sys, time\n"
        f"for i in range({blocks}):\n"
        "    sys.stdout.write(f'{i:04d}' + 'x' * 65531 + '\\n')\n"
        "    sys.stdout.flush()\n"
    ) + then


def held_until(flag: Path) -> str:
    """Code that keeps a cell running until the test creates ``flag`` (120 s at most):
    what a test checks while a cell runs must not depend on how fast the machine is."""
    return (
        "import os, time\n"
        "for _ in range(2400):\n"
        f"    if os.path.exists({str(flag)!r}):\n"
        "        break\n"
        "    time.sleep(0.05)\n"
    )


def make_notebook(cells: list[str | tuple[str, str]]) -> nbformat.NotebookNode:
    """Code cells from strings, markdown from ("markdown", text); ids are c0, c1, ..."""
    nb_cells = []
    for i, cell in enumerate(cells):
        made = new_markdown_cell(cell[1]) if isinstance(cell, tuple) else new_code_cell(cell)
        made["id"] = f"c{i}"
        nb_cells.append(made)
    nb = new_notebook(cells=nb_cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


@pytest.fixture
def lapd_notebook(jp_root_dir: Path) -> Callable[..., Path]:
    def write(cells: list[str | tuple[str, str]], name: str = "nb.ipynb") -> Path:
        path = jp_root_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(make_notebook(cells), path)
        return path

    return write


def read_nb(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    return nb


@pytest.fixture
def lapd_start(jp_fetch: Any) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def start(path: str, **body: Any) -> dict[str, Any]:
        response = await jp_fetch(
            "lapd", "api", "runs", method="POST", body=json.dumps({"path": path, **body})
        )
        assert response.code == 201
        return json.loads(response.body)  # type: ignore[no-any-return]

    return start


@pytest.fixture
def lapd_get(jp_fetch: Any) -> Callable[[str], Awaitable[dict[str, Any]]]:
    async def get(run_id: str) -> dict[str, Any]:
        response = await jp_fetch("lapd", "api", "runs", run_id)
        return json.loads(response.body)  # type: ignore[no-any-return]

    return get


@pytest.fixture
def lapd_wait(lapd_get: Any) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def wait(
        run_id: str,
        statuses: set[str] | str = frozenset(TERMINAL),
        timeout: float = 120,
        cell: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        """Poll until the run (or one of its cells, ``(cell_id, status)``) reaches a status."""
        wanted = {statuses} if isinstance(statuses, str) else set(statuses)
        deadline = time.monotonic() + timeout
        while True:
            run = await lapd_get(run_id)
            if cell is not None:
                states = {c["id"]: c["status"] for c in run["cells"]}
                if states.get(cell[0]) == cell[1]:
                    return run
            elif run["status"] in wanted:
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} did not reach {wanted or cell}: {run}")
            await asyncio.sleep(0.1)

    return wait


@pytest.fixture
def lapd_events(jp_ws_fetch: Any) -> Callable[..., Awaitable[list[dict[str, Any]]]]:
    async def collect(
        run_id: str, since: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Read the events socket until the server closes it (run ended) or ``limit``."""
        params = {"since": str(since)} if since is not None else None
        ws = await jp_ws_fetch("lapd", "api", "runs", run_id, "events", params=params)
        events: list[dict[str, Any]] = []
        try:
            while limit is None or len(events) < limit:
                message = await asyncio.wait_for(ws.read_message(), timeout=120)
                if message is None:
                    break
                events.append(json.loads(message))
        finally:
            ws.close()
        return events

    return collect


async def wait_until(predicate: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def read_first_idle_late(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """The server reads the idle message of the first cell it runs ``seconds`` late, as a
    server busy with something else would; the cell's execute reply comes in time.

    The cell must end quietly (no output in its last moments), so that its idle comes on
    its own, through the channel's ``get_msg``, and not among a batch of queued messages.
    """
    get_msg = AsyncZMQSocketChannel.get_msg
    delayed: list[dict[str, Any]] = []

    async def late(self: AsyncZMQSocketChannel, *args: Any, **kwargs: Any) -> dict[str, Any]:
        msg = await get_msg(self, *args, **kwargs)
        idle = msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
        if idle and not delayed and msg["parent_header"].get("msg_type") == "execute_request":
            delayed.append(msg)
            await asyncio.sleep(seconds)
        return msg

    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", late)


def record_sent_cells(monkeypatch: pytest.MonkeyPatch, into: list[str]) -> None:
    """Append ``sent <first line of its code>`` to ``into`` for each execute request the
    server sends to a kernel, as it sends it."""
    send = Session.send

    def sending(self: Session, stream: Any, msg_or_type: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(msg_or_type, dict) and msg_or_type["header"]["msg_type"] == "execute_request":
            into.append("sent " + msg_or_type["content"]["code"].splitlines()[0])
        return send(self, stream, msg_or_type, *args, **kwargs)

    monkeypatch.setattr(Session, "send", sending)


def run_with_nbclient(nb: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    """``nb`` as plain nbclient saves it after running it in ``folder``: the reference for
    what a run must save (in a process of its own: nbclient runs an event loop of its own)."""
    path = folder / ".nbclient-reference.ipynb"
    nbformat.write(nb, path)
    code = (
        "import sys, nbformat\n"
        "from nbclient import NotebookClient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        "NotebookClient(nb, kernel_name='python3').execute()\n"
        "nbformat.write(nb, sys.argv[1])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=180)
    ran = nbformat.read(path, as_version=4)
    path.unlink()
    return ran


# -- headless runs: `jupyter lapd run --headless` in a process of its own ------------------

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "jupyter_lapd.cli", "run"]
DB = ".nb.ipynb.lapd.db"
# a training loop's way with a stop notice: save on KeyboardInterrupt, then stop
CHECKPOINTED = (
    "import time\nprint('training', flush=True)\ntry:\n    while True:\n"
    "        time.sleep(0.05)\nexcept KeyboardInterrupt:\n"
    "    print('checkpoint saved', flush=True)\n    raise"
)


def env_for(tmp: Path) -> dict[str, str]:
    """The user's environment without their Jupyter config, runtime files in ``tmp``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "JPY_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    for name in ("config", "runtime"):
        (tmp / name).mkdir(exist_ok=True)
    env.update(JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"))
    return env


class Headless:
    """Runs `jupyter lapd run ... --headless` in one folder, as a user would."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = env

    def __call__(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args], cwd=self.folder, env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip

    def start(self, *args: str, **kw: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*CLI, *args], cwd=self.folder, env=self.env, text=True, **kw
        )  # fmt: skip

    def notebook(self, cells: list[Any], name: str = "nb.ipynb") -> Path:
        path = self.folder / name
        nbformat.write(make_notebook(cells), path)
        return path

    def _query(self, db: str, sql: str, *params: str) -> list[tuple[Any, ...]]:
        # plain SELECTs, no Store: a test reading must never write to a live journal
        path = self.folder / db
        if not path.exists():
            return []  # the run has not created its journal yet (and this must not)
        conn = sqlite3.connect(path, timeout=30)
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return []  # the run is creating its journal's tables
            raise
        finally:
            conn.close()

    def runs(self, db: str = DB) -> list[dict[str, Any]]:
        """Every run in the journal database, oldest first."""
        rows = self._query(db, "SELECT record FROM runs ORDER BY created, rowid")
        return [json.loads(record) for (record,) in rows]

    def events(self, run_id: str, db: str = DB) -> list[dict[str, Any]]:
        sql = "SELECT event, text, text_at, text_bytes FROM journal WHERE run_id = ? ORDER BY seq"
        streams = StreamFiles(folder_for(str(self.folder / db)))
        return journal_events(self._query(db, sql, run_id), streams, run_id)


@pytest.fixture
def lapd_headless(tmp_path: Path) -> Headless:
    folder = tmp_path / "work"
    folder.mkdir()
    return Headless(folder, env_for(tmp_path))
