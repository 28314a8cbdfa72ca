"""Where ``jupyter lapd`` gets runs from: a running server (REST + WebSocket) or the database."""

from __future__ import annotations

import asyncio
import glob
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClientConnection, websocket_connect

if TYPE_CHECKING:
    from .render import LogWriter

Run = dict[str, Any]
Event = dict[str, Any]

ACTIVE = ("queued", "running")
# How long a follower keeps trying to reconnect to a server that went away.
RECONNECT_GRACE = 30.0
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "::", ""}


class ServerUnavailable(Exception):
    """No server answers (none found, connection refused, or no jupyter_lapd API there)."""


class ApiError(Exception):
    """The server refused a request; ``message`` is its own explanation."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ServerInfo:
    """A server to talk to: its base URL (ending in ``/``), token and root, when known."""

    url: str
    token: str
    root_dir: str | None


def _running_servers() -> list[dict[str, Any]]:
    """Servers with a live runtime file, most recently started first.

    The runtime files (``jpserver-<pid>.json``) are read here rather than through
    ``jupyter_server.serverapp.list_running_servers``: importing the server app costs every
    ``jupyter lapd`` command about a second.
    """
    from jupyter_core.paths import jupyter_runtime_dir
    from jupyter_server.utils import check_pid

    runtime_dir = jupyter_runtime_dir()
    found = []
    for path in glob.glob(os.path.join(runtime_dir, "jpserver-*.json")):
        try:
            with open(path, encoding="utf-8") as f:
                info = json.load(f)
            started = os.path.getmtime(path)
        except (OSError, ValueError):
            continue  # being written or removed by its server
        if not isinstance(info, dict) or not check_pid(int(info.get("pid", 0))):
            continue  # a server that died without removing its file
        if info.get("sock") or not info.get("url"):
            continue  # a unix socket: not reachable with a plain HTTP client
        found.append({**info, "_started": started})
    found.sort(key=lambda info: info["_started"], reverse=True)
    return found


def _same_server(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    if pa.port != pb.port or pa.path.rstrip("/") != pb.path.rstrip("/"):
        return False
    ha, hb = pa.hostname or "", pb.hostname or ""
    return ha == hb or (ha in _LOOPBACK and hb in _LOOPBACK)


def _contains(root: str, path: str) -> bool:
    try:
        return os.path.commonpath([root, path]) == root
    except ValueError:  # different drives
        return False


def root_holding(roots: Sequence[str], cwd: str | None = None) -> str | None:
    """The innermost of ``roots`` that holds ``cwd`` (default: the current directory)."""
    here = os.path.realpath(cwd or Path.cwd())
    holding = [root for root in roots if root and _contains(os.path.realpath(root), here)]
    return max(holding, key=lambda root: len(os.path.realpath(root)), default=None)


def find_server(url: str = "", token: str = "", cwd: str | None = None) -> ServerInfo:
    """The server to use: ``url`` if given, else the one whose root holds ``cwd``, else the
    most recently started one. A runtime file matching ``url`` supplies token and root."""
    servers = _running_servers()
    if url:
        if not urlsplit(url).scheme.startswith("http"):
            raise ValueError(f"--url must be an http(s) URL, not {url!r}")
        match = next((s for s in servers if _same_server(s["url"], url)), None)
        return ServerInfo(
            url=url.rstrip("/") + "/",
            token=token or (match.get("token", "") if match else ""),
            root_dir=match.get("root_dir") if match else None,
        )
    if not servers:
        raise ServerUnavailable("no running Jupyter server found (pass --url to name one)")
    here = os.path.realpath(cwd or Path.cwd())
    holding = [s for s in servers if _contains(os.path.realpath(s["root_dir"]), here)]
    # the innermost root is the most specific; ties go to the most recently started
    holding.sort(key=lambda s: len(os.path.realpath(s["root_dir"])), reverse=True)
    chosen = holding[0] if holding else servers[0]
    return ServerInfo(
        url=chosen["url"].rstrip("/") + "/",
        token=token or chosen.get("token", ""),
        root_dir=chosen.get("root_dir"),
    )


def api_path(path: str, root_dir: str | None) -> str:
    """A path given on the command line as the server's API path (relative to its root).

    ``path`` is relative to the current directory. When the root is unknown (a --url with
    no runtime file), a relative ``path`` is taken as relative to the root already.
    """
    if not path.strip():
        raise ValueError("PATH must not be empty")
    if root_dir is None:
        if Path(path).is_absolute():
            raise ValueError("the server's root directory is unknown: give PATH relative to it")
        return os.path.normpath(path).replace(os.sep, "/")
    full = os.path.abspath(path)
    # compare as given first, then with symlinks resolved (as the server does)
    for root, target in (
        (os.path.abspath(root_dir), full),
        (os.path.realpath(root_dir), os.path.realpath(full)),
    ):
        if _contains(root, target):
            return os.path.relpath(target, root).replace(os.sep, "/")
    raise ValueError(f"{path} is outside the server's root directory {root_dir}")


def match_prefix(prefix: str, runs: Sequence[Run]) -> Run:
    """The one run whose id starts with ``prefix``; ApiError(404) if none, (400) if several."""
    found = [run for run in runs if str(run["id"]).startswith(prefix)]
    if not found:
        raise ApiError(404, f"No such run: {prefix}")
    if len(found) > 1:
        ids = ", ".join(str(run["id"])[:12] for run in found[:5])
        raise ApiError(400, f"Run id prefix {prefix!r} is ambiguous: it matches {ids}")
    return found[0]


def _message(response: HTTPResponse | None) -> str | None:
    """The ``message`` of a Jupyter error body, or None when the body is not one."""
    if response is None or not response.body:
        return None
    try:
        body = json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        return None
    message = body.get("message") if isinstance(body, dict) else None
    return str(message) if message else None


class ServerRuns:
    """The REST API and event stream of one server."""

    def __init__(self, server: ServerInfo, timeout: float = 60.0) -> None:
        self.server = server
        self._timeout = timeout
        self._http = AsyncHTTPClient(force_instance=True)

    def close(self) -> None:
        self._http.close()

    def _url(self, *parts: str, params: dict[str, str] | None = None) -> str:
        url = self.server.url + "lapd/api/runs" + "".join("/" + quote(p, safe="") for p in parts)
        return url + ("?" + urlencode(params) if params else "")

    def _headers(self) -> dict[str, str]:
        if not self.server.token:
            return {}
        return {"Authorization": f"token {self.server.token}"}

    async def _request(
        self, method: str, *parts: str, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        request = HTTPRequest(
            self._url(*parts, params=params),
            method=method,
            headers={**self._headers(), "Content-Type": "application/json"},
            body=json.dumps(body) if method == "POST" else None,
            connect_timeout=10,
            request_timeout=self._timeout,
        )
        try:
            response = await self._http.fetch(request, raise_error=False)
        except (OSError, StreamClosedError, HTTPClientError) as e:
            raise ServerUnavailable(f"no server reachable at {self.server.url} ({e})") from None
        if response.code == 599:
            reason = response.error or "connection failed"
            raise ServerUnavailable(f"no server reachable at {self.server.url} ({reason})")
        if response.code >= 400:
            message = _message(response)
            if message is None and response.code == 404:
                raise ServerUnavailable(
                    f"the server at {self.server.url} has no jupyter_lapd API"
                    " (is the extension enabled?)"
                )
            message = message or response.reason or f"HTTP {response.code}"
            if response.code in (401, 403):
                message += " (check --token or JUPYTER_LAPD_TOKEN)"
            raise ApiError(response.code, message)
        try:
            return json.loads(response.body)
        except ValueError:
            raise ServerUnavailable(
                f"{self.server.url} did not answer with JSON (is it a Jupyter server?)"
            ) from None

    async def list_runs(self, active_only: bool) -> list[Run]:
        params = {"status": ",".join(ACTIVE)} if active_only else None
        answer = await self._request("GET", params=params)
        return list(answer["runs"])

    async def get_run(self, run_id: str) -> Run:
        run: Run = await self._request("GET", run_id)
        return run

    async def resolve(self, prefix: str) -> Run:
        """The run an id or unique id prefix names, with its cells."""
        if len(prefix) >= 32:
            return await self.get_run(prefix)
        run = match_prefix(prefix, await self.list_runs(active_only=False))
        return await self.get_run(str(run["id"]))

    async def wait(self, run: Run, on_poll: Callable[[Run], None], interval: float = 0.5) -> Run:
        """Poll until the run ends, calling ``on_poll`` with each state; the final state.

        A server that stops answering (a restart) is asked again for ``RECONNECT_GRACE``
        seconds before ServerUnavailable is raised.
        """
        lost_at: float | None = None
        while run["status"] in ACTIVE:
            on_poll(run)
            await asyncio.sleep(interval)
            try:
                run = await self.get_run(str(run["id"]))
                lost_at = None
            except ServerUnavailable:
                lost_at = lost_at or time.monotonic()
                if time.monotonic() - lost_at > RECONNECT_GRACE:
                    raise
        return run

    async def create_run(self, body: dict[str, Any]) -> Run:
        run: Run = await self._request("POST", body=body)
        return run

    async def cancel_run(self, run_id: str) -> Run:
        run: Run = await self._request("POST", run_id, "cancel", body={})
        return run

    async def _connect(self, run_id: str, since: int | None) -> WebSocketClientConnection:
        params = {"since": str(since)} if since is not None else None
        url = self._url(run_id, "events", params=params)
        request = HTTPRequest(
            "ws" + url[len("http") :], headers=self._headers(), connect_timeout=10
        )
        try:
            return await websocket_connect(request, ping_interval=20)
        except HTTPClientError as e:
            if e.code == 599:
                raise ServerUnavailable(f"no server reachable at {self.server.url} ({e})") from None
            raise ApiError(e.code, _message(e.response) or str(e)) from None
        except (OSError, StreamClosedError) as e:
            raise ServerUnavailable(f"no server reachable at {self.server.url} ({e})") from None

    async def snapshot(self, run_id: str) -> Event:
        """The run and the current outputs of its cells."""
        ws = await self._connect(run_id, None)
        try:
            message = await ws.read_message()
        finally:
            ws.close()
        if message is None:
            raise ServerUnavailable(f"the server at {self.server.url} closed the event stream")
        event: Event = json.loads(message)
        return event

    async def events(self, run_id: str) -> AsyncIterator[Event]:
        """A snapshot, then every later event until the run ends, reconnecting with
        ``?since=`` when the connection drops (a resumed stream starts with a snapshot
        carrying ``replay_from``, without outputs)."""
        last: int | None = None
        lost_at: float | None = None
        while True:
            try:
                ws = await self._connect(run_id, last)
            except ServerUnavailable:
                if last is None:
                    raise
                lost_at = lost_at or time.monotonic()
                if time.monotonic() - lost_at > RECONNECT_GRACE:
                    raise
                await asyncio.sleep(1.0)
                continue
            lost_at = None
            try:
                while (message := await ws.read_message()) is not None:
                    event: Event = json.loads(message)
                    if event.get("type") == "snapshot":
                        if last is None:
                            last = int(event["seq"])
                    elif last is not None and int(event["seq"]) <= last:
                        continue
                    else:
                        last = int(event["seq"])
                    yield event
            finally:
                ws.close()
            if ws.close_code == 1000:  # the server ends the stream when the run ends
                return
            await asyncio.sleep(0.2)  # dropped: resume from `last`


class DatabaseRuns:
    """The runs database, read directly: when no server answers, and for ``--all-servers``.

    Servers sharing the database (JupyterHub servers over one home directory) record each
    run under their root directory. ``root`` scopes every read to one server's runs; with
    ``root=None`` every server's runs are read, and each carries its ``root``.
    """

    def __init__(self, db_path: str, root: str | None = None) -> None:
        from ..journal.store import Store

        self.db_path = db_path
        self.root = root
        try:
            self._store = Store(db_path) if os.path.exists(db_path) else None
        except sqlite3.Error as e:
            raise ServerUnavailable(f"the runs database {db_path} is unreadable: {e}") from None

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def roots(self) -> list[str]:
        """The roots of every server (or headless folder) with runs in the database."""
        return self._store.roots() if self._store is not None else []

    def _shape(self, root: str, run: Run) -> Run:
        return run if self.root is not None else {**run, "root": root}

    def list_runs(self, active_only: bool) -> list[Run]:
        if self._store is None:
            return []
        runs = self._store.list_summaries(
            statuses=list(ACTIVE) if active_only else None, root=self.root
        )
        return [self._shape(root, run) for root, run in runs]

    def resolve(self, prefix: str) -> Run:
        if self._store is None:
            raise ApiError(404, f"No such run: {prefix}")
        match = match_prefix(prefix, self.list_runs(active_only=False))
        record = self._store.get_run(str(match["id"]), self.root)
        if record is None:
            raise ApiError(404, f"No such run: {prefix}")
        return self._shape(str(match.get("root", "")), record.to_dict(with_cells=True))

    def has_run(self, run_id: str) -> bool:
        return self._store is not None and self._store.get_run(run_id, self.root) is not None

    def write_log(self, writer: LogWriter, run: Run) -> None:
        """Write the run's log (``run`` with its cells) from its journal, every byte of
        it, in bounded memory (``runlog.py``)."""
        from .runlog import write_log

        if self._store is None:
            writer.snapshot(run, {})
            return
        write_log(writer, run, self._store)
