"""A run's kernel's activity, recorded from the run's own reading of its messages."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


class ActivityHandover:
    """While a run reads its kernel's output, the run records the kernel's activity.

    Jupyter Server watches every kernel it starts: a socket of its own receives each
    iopub message, checks its signature and parses it, to keep the kernel's
    ``last_activity`` and ``execution_state`` (the culler and ``GET /api/kernels`` read
    them). A run reads the same messages anyway, so for its duration the server's watcher
    is stopped and the run records what the watcher would have, from every message it
    reads, whatever request it answers. With a kernel printing flat out, the second
    reading took a third of the event loop's time, and ZeroMQ dropped output the run
    could not read in time. When the run ends, the server watches again.

    Only for a kernel of Jupyter Server's own kernel manager that is being watched (its
    ``_activity_stream``, checked by a test so that a change in Jupyter Server shows);
    a gateway's kernels and headless runs keep what they have.
    """

    def __init__(self, manager: Any, kernel_id: str, kernel: Any) -> None:
        self._manager = manager
        self._kernel_id = kernel_id
        self._kernel = kernel

    @classmethod
    def take(cls, manager: Any, kernel_id: str) -> ActivityHandover | None:
        """Stop the server's watcher of this kernel and answer who records instead;
        None (and nothing changes) if the server does not watch it that way."""
        if not all(
            hasattr(manager, name)
            for name in ("stop_watching_activity", "start_watching_activity", "track_message_type")
        ):
            return None
        try:
            kernel = manager.get_kernel(kernel_id)
        except KeyError:
            return None
        if getattr(kernel, "_activity_stream", None) is None:
            return None
        if getattr(kernel, "_pending_restart_cleanup", None) is not None:
            return None  # a restart is settling: stopping the watcher would end it early
        manager.stop_watching_activity(kernel_id)
        return cls(manager, kernel_id, kernel)

    def record(self, msg: dict[str, Any]) -> None:
        """What Jupyter Server's watcher does with one iopub message of the kernel."""
        kernel, track = self._kernel, self._manager.track_message_type
        msg_type = msg["header"].get("msg_type")
        parent_type = (msg.get("parent_header") or {}).get("msg_type")
        if track(msg_type) or track(parent_type) or kernel.execution_state == "busy":
            self._manager.last_kernel_activity = kernel.last_activity = datetime.now(timezone.utc)
        if msg_type == "status":
            state = msg["content"].get("execution_state")
            if track(parent_type):
                kernel.execution_state = state
            elif kernel.execution_state == "starting" and state != "starting":
                kernel.execution_state = "idle"

    def give_back(self) -> None:
        """The server watches the kernel again, unless it is gone or already watched
        (a restart during the run re-establishes the watcher when the ports change)."""
        if self._kernel_id not in self._manager:
            return
        if getattr(self._manager.get_kernel(self._kernel_id), "_activity_stream", None):
            return
        self._manager.start_watching_activity(self._kernel_id)
