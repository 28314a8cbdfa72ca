"""Getting a kernel for a run: from the server's managers, or started locally (headless)."""

from __future__ import annotations

import asyncio
import logging
import os
import posixpath
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

from jupyter_client.kernelspec import NoSuchKernel
from nbclient.util import ensure_async

from ..config import MEMORY
from ..models import InvalidRunRequest, KernelMode
from .kernelactivity import ActivityHandover


@dataclass
class KernelLease:
    """A kernel a run executes on; ``owned`` kernels are shut down when the run ends."""

    kernel_id: str
    kernel_name: str
    owned: bool


class KernelProvider:
    """Session kernels and fresh kernels, always through the server's managers.

    Going through the server (not a private KernelManager) is what makes a run's kernel
    the one JupyterLab shows, and what lets the same code drive remote gateway kernels.
    """

    def __init__(
        self,
        kernel_manager: Any,
        session_manager: Any,
        kernel_spec_manager: Any,
        ipython_hist_file: str = MEMORY,
    ):
        self.kernel_manager = kernel_manager
        self.session_manager = session_manager
        self.kernel_spec_manager = kernel_spec_manager
        self.ipython_hist_file = ipython_hist_file
        self._shutting_down: set[asyncio.Future[Any]] = set()

    async def check_kernel_name(self, name: str | None) -> None:
        if name is None:
            return
        try:
            await ensure_async(self.kernel_spec_manager.get_kernel_spec(name))
        except (NoSuchKernel, KeyError):
            raise InvalidRunRequest(f"No such kernel: {name}") from None

    async def acquire(self, mode: KernelMode, path: str, kernel_name: str | None) -> KernelLease:
        if mode == KernelMode.NEW:
            extra = await self.kernel_arguments(kernel_name)
            kernel_id = await ensure_async(
                self.kernel_manager.start_kernel(
                    kernel_name=kernel_name,
                    path=posixpath.dirname(path),
                    **({"extra_arguments": extra} if extra else {}),
                )
            )
            return KernelLease(kernel_id, self._name_of(kernel_id, kernel_name), owned=True)
        sessions = await ensure_async(self.session_manager.list_sessions())
        for session in sessions:
            if session.get("path") == path and session.get("kernel"):
                kernel_id = session["kernel"]["id"]
                return KernelLease(kernel_id, self._name_of(kernel_id, kernel_name), False)
        model = await self.session_manager.create_session(
            path=path,
            name=posixpath.basename(path),
            type="notebook",
            kernel_name=kernel_name,
        )
        kernel_id = model["kernel"]["id"]
        return KernelLease(kernel_id, self._name_of(kernel_id, kernel_name), owned=False)

    async def kernel_arguments(self, kernel_name: str | None) -> list[str]:
        """Command-line arguments for a kernel a run starts itself (never a session's).

        IPython writes each cell's input to its history database after the cell, which
        costs a kernel running many short cells about a fifth of its time here; a run's
        kernel lives for the run only, and nbclient and papermill keep its history in
        memory for the same reason. Only for kernelspecs that launch ipykernel: another
        kernel would not know the option.
        """
        if not self.ipython_hist_file:
            return []
        try:
            name = kernel_name or self.kernel_manager.default_kernel_name
            spec = await ensure_async(self.kernel_spec_manager.get_kernel_spec(name))
            argv = [str(arg) for arg in getattr(spec, "argv", None) or []]
        except Exception:  # an unknown name fails at the start, with the server's message
            return []
        if not any("ipykernel" in arg for arg in argv):
            return []
        return [f"--HistoryManager.hist_file={self.ipython_hist_file}"]

    async def started_metadata(
        self,
        language_info: dict[str, Any] | None,
        kernel_name: str | None,
        notebook_metadata: dict[str, Any],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The notebook metadata a kernel's start gives a notebook in JupyterLab (and in
        nbclient), as (values set, defaults set only where the notebook has none): the
        kernel's ``language_info``; ``kernelspec`` where the notebook has none."""
        values: dict[str, Any] = {}
        if language_info is not None:
            values["language_info"] = language_info
        defaults: dict[str, Any] = {}
        if kernel_name and "kernelspec" not in notebook_metadata:
            spec = await self.kernelspec_metadata(kernel_name)
            if spec is not None:
                defaults["kernelspec"] = spec
        return values, defaults

    async def kernelspec_metadata(self, kernel_name: str) -> dict[str, Any] | None:
        """``metadata.kernelspec`` of a notebook run on ``kernel_name``, as JupyterLab
        records it once it picks a kernel (None: the spec cannot be read)."""
        try:
            spec = await ensure_async(self.kernel_spec_manager.get_kernel_spec(kernel_name))
        except Exception:
            return None
        meta = {"name": kernel_name, "display_name": str(spec.display_name or kernel_name)}
        if getattr(spec, "language", None):
            meta["language"] = str(spec.language)
        return meta

    def manager_of(self, kernel_id: str) -> Any:
        return self.kernel_manager.get_kernel(kernel_id)

    def take_activity(self, kernel_id: str) -> ActivityHandover | None:
        """The run records the kernel's activity instead of the server (see there)."""
        return ActivityHandover.take(self.kernel_manager, kernel_id)

    async def interrupt(self, kernel_id: str) -> None:
        await ensure_async(self.kernel_manager.interrupt_kernel(kernel_id))

    async def release(self, lease: KernelLease) -> None:
        """Shut down a kernel the run started, without the run's end waiting for it.

        A graceful shutdown waits for the kernel's process to exit, and ipykernel now and
        then does not exit when asked: jupyter_client then terminates it, after half its
        ``shutdown_wait_time`` (2.5 s by default). The run's last write and its
        completion need nothing from the kernel by then (its channels are closed).
        """
        if lease.owned and lease.kernel_id in self.kernel_manager:
            shutdown = asyncio.ensure_future(
                ensure_async(self.kernel_manager.shutdown_kernel(lease.kernel_id))
            )
            self._shutting_down.add(shutdown)
            shutdown.add_done_callback(self._shut_down)

    def _shut_down(self, shutdown: asyncio.Future[Any]) -> None:
        self._shutting_down.discard(shutdown)
        if not shutdown.cancelled() and shutdown.exception() is not None:
            logging.getLogger(__name__).warning(
                "jupyter_lapd: shutting down a run's kernel: %r", shutdown.exception()
            )

    async def wait_released(self, timeout: float) -> None:
        """Wait (``timeout`` seconds at most) for the kernels of ended runs to exit."""
        if self._shutting_down:
            await asyncio.wait(list(self._shutting_down), timeout=timeout)

    def _name_of(self, kernel_id: str, fallback: str | None) -> str:
        try:
            name = self.kernel_manager.get_kernel(kernel_id).kernel_name
        except Exception:
            name = None
        return str(name or fallback or self.kernel_manager.default_kernel_name)


class LocalKernelProvider(KernelProvider):
    """Fresh kernels started by this process, for runs with no Jupyter server (headless).

    A KernelProvider whose kernel manager is this process's own, so ActiveRun drives both
    alike. Every run gets a new kernel (``mode`` is ignored: there is no session to share),
    started in the notebook's folder as JupyterLab would. Kernels are never restarted
    automatically: a kernel that dies stays dead, the run sees it, and ``died`` records it
    so that the caller can retry.

    Parameters
    ----------
    root_dir : str
        The folder run paths are relative to (a headless run's notebook folder).
    """

    def __init__(self, root_dir: str, ipython_hist_file: str = MEMORY) -> None:
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.multikernelmanager import AsyncMultiKernelManager
        from traitlets.config import Config

        specs = KernelSpecManager()
        # the plain manager, not the default IOLoop one: its restarter would replace a
        # dead kernel behind the run's back and hide the death from nbclient. The kernel
        # is this process's alone: it speaks over Unix sockets in a private folder (see
        # ``acquire``), not TCP, which the kernel warns about as unencrypted.
        config = Config({"KernelManager": {"transport": "ipc"}}) if os.name == "posix" else None
        manager = AsyncMultiKernelManager(
            kernel_spec_manager=specs,
            kernel_manager_class="jupyter_client.manager.AsyncKernelManager",
            config=config,
        )
        super().__init__(manager, None, specs, ipython_hist_file)
        self.root_dir = root_dir
        self.died: set[str] = set()
        # False once the process is told to stop: a kernel busy with a cell is killed
        # rather than asked to shut down, which it could only do mid-cell, noisily
        self.graceful = True
        self._sockets: str | None = None  # the kernels' connection files and sockets

    async def acquire(self, mode: KernelMode, path: str, kernel_name: str | None) -> KernelLease:
        if self._sockets is None:
            # private (0700), short enough for a Unix socket's path, and never the
            # notebook's folder (a relative connection file would land there)
            self._sockets = tempfile.mkdtemp(prefix="lapd-kernels-")
            self.kernel_manager.connection_dir = self._sockets
        folder = os.path.join(self.root_dir, *posixpath.dirname(path).split("/"))
        extra = await self.kernel_arguments(kernel_name)
        kernel_id = await self.kernel_manager.start_kernel(
            kernel_name=kernel_name, cwd=folder, extra_arguments=extra
        )
        return KernelLease(str(kernel_id), self._name_of(kernel_id, kernel_name), owned=True)

    async def release(self, lease: KernelLease) -> None:
        if lease.kernel_id not in self.kernel_manager:
            return
        alive = await ensure_async(self.kernel_manager.is_alive(lease.kernel_id))
        if not alive:
            self.died.add(lease.kernel_id)
        # graceful for a live kernel, so that the user's atexit handlers run
        now = not (alive and self.graceful)
        await self.kernel_manager.shutdown_kernel(lease.kernel_id, now=now)

    async def shutdown_all(self) -> None:
        """Stop every kernel still running (one that a cancelled start left behind, say)."""
        await self.kernel_manager.shutdown_all(now=True)
        if self._sockets is not None:
            shutil.rmtree(self._sockets, ignore_errors=True)
            self._sockets = None
