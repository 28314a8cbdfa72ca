"""Following the server's own events: notebooks renamed or deleted, kernels restarted."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..models import RunStatus
from ..notebook.resolve import resolve_path
from .manager import RunManager

CONTENTS_EVENTS = "https://events.jupyter.org/jupyter_server/contents_service/v1"
KERNEL_EVENTS = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


class ServerEventFollower:
    """Keeps active runs consistent with what users do through the server meanwhile.

    The contents service announces renames and deletes, the kernel manager restarts and
    shutdowns, on the server's event bus; without following them a run would keep writing
    to a path that no longer exists, or wait forever for a reply from a kernel that was
    restarted under it.
    """

    def __init__(self, manager: RunManager, log: logging.Logger | None = None) -> None:
        self.manager = manager
        self.log = log or logging.getLogger(__name__)
        self._tasks: set[asyncio.Task[None]] = set()

    def listen(self, event_logger: Any) -> None:
        event_logger.add_listener(schema_id=CONTENTS_EVENTS, listener=self._on_contents)
        event_logger.add_listener(schema_id=KERNEL_EVENTS, listener=self._on_kernel)

    async def _on_contents(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        action, path = data.get("action"), str(data.get("path", "")).strip("/")
        if action == "rename":
            self.renamed(str(data.get("source_path", "")).strip("/"), path)
        elif action == "delete":
            for run in self.manager.active_runs():
                if _under(run.record.path, path):
                    reason = f"{run.record.path} was deleted during the run"
                    self._spawn(self.manager.cancel_run(run.record.id, RunStatus.FAILED, reason))

    def renamed(self, old: str, new: str) -> None:
        for run in self.manager.active_runs():
            if _under(run.record.path, old):
                api_path = new + run.record.path[len(old) :]
                _, os_path = resolve_path(self.manager.root_dir, api_path)
                self.log.info("jupyter_lapd: run %s follows %s to %s", run.record.id, old, new)
                run.move(api_path, os_path)

    async def _on_kernel(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        action, status = data.get("action"), data.get("status")
        if action not in ("restart", "shutdown") or status != "success":
            return
        for run in self.manager.active_runs():
            # only while a cell runs: the run's own shutdown of its kernel comes after
            if (
                run.record.kernel_id == data.get("kernel_id")
                and run.record.current_cell_id
                and not run.kernel_died  # the server restarts a dead kernel by itself
            ):
                verb = "restarted" if action == "restart" else "shut down"
                run.abort(RunStatus.FAILED, f"the kernel was {verb} during the run")

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
