"""HTTP and WebSocket handlers of the REST API: parse, authorize, call the RunManager, answer."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from http.client import responses
from typing import Any, TypeVar

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ..models import LapdError, isoformat, utcnow
from .catchup import CatchUpPolicy
from .manager import RunManager

# Jupyter Server's authorizer sees this name; without it every handler would fall back
# to a resource nobody grants on purpose.
AUTH_RESOURCE = "jupyter_lapd:runs"

T = TypeVar("T")


class Service:
    """What the handlers serve: the RunManager, or why there is none (the runs database
    cannot be opened, another server manages this folder's runs): every endpoint then
    answers ``503`` with that reason, rather than as if nothing had ever run."""

    def __init__(self, manager: RunManager | None = None, unavailable: str | None = None):
        self._manager = manager
        self.unavailable = unavailable

    def manager(self) -> RunManager:
        if self._manager is None or self.unavailable is not None:
            raise web.HTTPError(503, self.unavailable or "jupyter_lapd has not started")
        return self._manager


class LapdHandler(APIHandler):
    """Base of the REST handlers: the resource name, the manager, and error mapping."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, service: Service) -> None:
        self._service = service

    @property
    def manager(self) -> RunManager:
        return self._service.manager()

    async def prepare(self) -> None:  # type: ignore[override]
        """After the server's checks, wait (once, after a restart) for recovery."""
        await super().prepare()
        await self.manager.recovered()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if status_code == 405:  # say which methods there are (RFC 9110)
            methods = [m for m in ("get", "post") if m in type(self).__dict__]
            self.set_header("Allow", ", ".join(m.upper() for m in methods))
        super().write_error(status_code, **kwargs)

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kw: Any) -> T:
        """Run a manager call, turning domain errors into their HTTP status."""
        try:
            return await fn(*args, **kw)
        except LapdError as e:
            raise web.HTTPError(e.status, e.message) from None

    async def require_execute(self) -> None:
        """Starting or cancelling a run executes code: it needs execute on kernels too."""
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "execute", "kernels")
        )
        if not allowed:
            raise web.HTTPError(403, "Running code requires permission to execute kernels")

    def json_body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise web.HTTPError(400, f"Request body is not valid JSON: {e}") from None
        if not isinstance(body, dict):
            raise web.HTTPError(400, "Request body must be a JSON object")
        return body


class RunsHandler(LapdHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        path = self.get_query_argument("path", None) or None
        status = self.get_query_argument("status", None)
        statuses = [s.strip() for s in status.split(",") if s.strip()] if status else None
        limit = self.get_query_argument("limit", None)
        if limit is not None and not (limit.isdigit() and int(limit) > 0):
            raise web.HTTPError(400, "'limit' must be a positive integer")
        # a limit beyond any number of runs is no limit (SQLite takes 64-bit integers)
        count = min(int(limit), 2**31) if limit else None
        runs = await self.call(self.manager.list_summaries, path, statuses, count)
        # the server's clock, so that clients show elapsed times free of their own skew
        self.finish({"runs": runs, "now": _now()})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        await self.require_execute()
        body = self.json_body()
        allowed = {"path", "cells", "kernel", "kernel_name", "allow_errors"}
        extra = sorted(set(body) - allowed)
        if extra:
            raise web.HTTPError(400, f"Unknown field(s): {', '.join(extra)}")
        if "path" not in body:
            raise web.HTTPError(400, "Missing field 'path'")
        record = await self.call(
            self.manager.create_run,
            body["path"],
            cells=body.get("cells"),
            kernel=body.get("kernel") or "session",
            kernel_name=body.get("kernel_name"),
            allow_errors=body.get("allow_errors", False),
        )
        location = url_path_join(self.base_url, "lapd", "api", "runs", record.id)
        self.set_header("Location", location)
        self.set_status(201)
        self.finish(record.to_dict(with_cells=True))


class RunHandler(LapdHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        record = await self.call(self.manager.get_run, run_id)
        self.finish(record.to_dict(with_cells=True))


class CancelHandler(LapdHandler):
    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        await self.require_execute()
        record = await self.call(self.manager.cancel_run, run_id)
        self.set_status(202)
        self.finish(record.to_dict(with_cells=True))


class EventsHandler(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """A snapshot, then every event of the run in seq order; resumable with ``?since=``."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, service: Service) -> None:
        self._service = service
        self._sender: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[dict[str, Any] | None] | None = None
        self._since: int | None = None
        self._catch_up: CatchUpPolicy | None = None

    def set_default_headers(self) -> None:
        """No JupyterHandler headers on a websocket upgrade."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A refused upgrade answers like the REST handlers: JSON ``{"message"}`` (an
        unknown run, or another server's, is ``404 No such run: <id>``), not an HTML page."""
        self.set_header("Content-Type", "application/json")
        error = (kwargs.get("exc_info") or (None, None))[1]
        message = responses.get(status_code, "Unknown HTTP Error")
        if isinstance(error, web.HTTPError):
            message = error.log_message or message
        self.finish(json.dumps({"message": message}))

    async def pre_get(self, run_id: str) -> None:
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "read", AUTH_RESOURCE)
        )
        if not allowed:
            raise web.HTTPError(403)
        since = self.get_argument("since", None)
        if since is not None:
            try:
                self._since = int(since)
            except ValueError:
                raise web.HTTPError(400, "'since' must be an integer") from None
            if self._since < 0:
                raise web.HTTPError(400, "'since' must not be negative")
        catch_up = self.get_argument("catchup", "0")
        if catch_up not in ("0", "1"):
            raise web.HTTPError(400, "'catchup' must be 0 or 1")
        self._manager = self._service.manager()
        if catch_up == "1":
            self._catch_up = CatchUpPolicy(
                functools.partial(self._manager.bounded, run_id), self._manager.max_output_bytes
            )
        await self._manager.recovered()
        try:
            await self._manager.get_run(run_id)
        except LapdError as e:
            raise web.HTTPError(e.status, e.message) from None

    @ws_authenticated
    async def get(self, run_id: str) -> None:
        await self.pre_get(run_id)
        await super().get(run_id)

    async def open(self, run_id: str) -> None:
        super().open()
        # subscribe before taking the snapshot: nothing can fall between the two
        self._queue = self._manager.hub.subscribe(run_id)
        self._sender = asyncio.create_task(self._send_all(run_id))

    async def _send_all(self, run_id: str) -> None:
        manager, since = self._manager, self._since
        try:
            snapshot = await manager.snapshot(run_id, with_outputs=since is None)
            if since is None:
                last = int(snapshot["seq"])
            else:
                snapshot["replay_from"] = last = since
            await self._send(snapshot)
            if self._catch_up is not None:
                self._catch_up.sent(snapshot)
            if since is not None:
                async for event in manager.hub.history(run_id, since):
                    if event["seq"] > last:
                        await self._send(event)
                        last = event["seq"]
            queue = self._queue
            while queue is not None:
                live = await queue.get()
                if live is None:
                    break
                if live["seq"] <= last:
                    continue
                if self._catch_up is None or not self._catch_up.due(live, queue.qsize()):
                    await self._send(live)
                    last = live["seq"]
                    continue
                backlog = [live, *_drain(queue)]
                last = await self._send_caught_up(run_id, backlog, last, self._catch_up)
                if backlog[-1] is None:
                    break
        except WebSocketClosedError:
            return
        finally:
            if self._queue is not None:
                manager.hub.unsubscribe(run_id, self._queue)
        self.close(1000, "run ended")

    async def _send_caught_up(
        self,
        run_id: str,
        backlog: list[dict[str, Any] | None],
        last: int,
        policy: CatchUpPolicy,
    ) -> int:
        """Send one snapshot of the cells ``backlog`` touches in its place (its events as
        they are if the run has ended meanwhile); answer the last seq sent."""
        events = [event for event in backlog if event is not None]
        cells = {event["cell_id"] for event in events if "cell_id" in event}
        caught = self._manager.catch_up(run_id, cells)
        if caught is not None and caught["seq"] == events[-1]["seq"]:
            await self._send(caught)
            policy.sent(caught)
            return int(caught["seq"])
        for event in events:
            if event["seq"] > last:
                await self._send(event)
                last = event["seq"]
        return last

    async def _send(self, event: dict[str, Any]) -> None:
        await self.write_message(json.dumps(event))

    def on_message(self, message: str | bytes) -> None:
        """The stream is one-way; anything a client sends is ignored."""

    def on_close(self) -> None:
        super().on_close()
        if self._sender is not None and not self._sender.done():
            self._sender.cancel()


def _drain(queue: asyncio.Queue[T]) -> list[T]:
    """Everything waiting in ``queue``, taken at once."""
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def _now() -> str:
    return isoformat(utcnow()) or ""


def route_table(service: Service) -> list[tuple[str, Any, dict[str, Any]]]:
    """Patterns relative to the server's base URL (the extension app prefixes it)."""
    run_id = r"(?P<run_id>[^/]+)"
    kwargs = {"service": service}
    return [
        (r"/lapd/api/runs", RunsHandler, kwargs),
        (rf"/lapd/api/runs/{run_id}", RunHandler, kwargs),
        (rf"/lapd/api/runs/{run_id}/cancel", CancelHandler, kwargs),
        (rf"/lapd/api/runs/{run_id}/events", EventsHandler, kwargs),
    ]
