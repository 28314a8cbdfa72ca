"""Getting a kernel for a run from the server's own session and kernel managers."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from jupyter_client.kernelspec import NoSuchKernel
from nbclient.util import ensure_async

from .models import InvalidRunRequest, KernelMode


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

    def __init__(self, kernel_manager: Any, session_manager: Any, kernel_spec_manager: Any):
        self.kernel_manager = kernel_manager
        self.session_manager = session_manager
        self.kernel_spec_manager = kernel_spec_manager

    async def check_kernel_name(self, name: str | None) -> None:
        if name is None:
            return
        try:
            await ensure_async(self.kernel_spec_manager.get_kernel_spec(name))
        except (NoSuchKernel, KeyError):
            raise InvalidRunRequest(f"No such kernel: {name}") from None

    async def acquire(self, mode: KernelMode, path: str, kernel_name: str | None) -> KernelLease:
        if mode == KernelMode.NEW:
            kernel_id = await ensure_async(
                self.kernel_manager.start_kernel(
                    kernel_name=kernel_name, path=posixpath.dirname(path)
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

    def manager_of(self, kernel_id: str) -> Any:
        return self.kernel_manager.get_kernel(kernel_id)

    async def interrupt(self, kernel_id: str) -> None:
        await ensure_async(self.kernel_manager.interrupt_kernel(kernel_id))

    async def release(self, lease: KernelLease) -> None:
        if lease.owned and lease.kernel_id in self.kernel_manager:
            await ensure_async(self.kernel_manager.shutdown_kernel(lease.kernel_id))

    def _name_of(self, kernel_id: str, fallback: str | None) -> str:
        try:
            name = self.kernel_manager.get_kernel(kernel_id).kernel_name
        except Exception:
            name = None
        return str(name or fallback or self.kernel_manager.default_kernel_name)
