"""Remote kernels: the server started with --gateway-url, a real Kernel Gateway process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from conftest import make_notebook, read_nb
from server_process import ServerProcess
from test_recovery import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gateway:
    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.log = (home / "gateway.log").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "kernel_gateway", "--KernelGatewayApp.ip=127.0.0.1",
                f"--KernelGatewayApp.port={self.port}",
            ],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert self.proc.poll() is None, "the gateway exited"
                assert time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def gateway_server(tmp_path) -> Iterator[ServerProcess]:
    home = tmp_path / "home"
    home.mkdir()
    gateway = Gateway(home)
    server = ServerProcess(
        home, tmp_path / "root", f"--gateway-url=http://127.0.0.1:{gateway.port}"
    )
    server.gateway = gateway  # type: ignore[attr-defined]
    server.start()
    try:
        yield server
    finally:
        # with its gateway gone the server cannot shut remote kernels down: don't wait
        server.stop(timeout=30 if gateway.proc.poll() is None else 3)
        gateway.stop()


def wait_done(server: ServerProcess, run_id: str, timeout: float = 120) -> dict:
    state: dict = {}

    def ended() -> bool:
        state.update(server.request("GET", f"lapd/api/runs/{run_id}"))
        return state["status"] not in ("queued", "running")

    wait_for(ended, timeout)
    return state


@pytest.mark.parametrize("mode", ["session", "new"])
def test_runs_on_remote_kernels(gateway_server, mode):
    path = gateway_server.root / "nb.ipynb"
    nbformat.write(make_notebook(["x = 21", "print(x * 2)"]), path)
    run = gateway_server.request("POST", "lapd/api/runs", {"path": "nb.ipynb", "kernel": mode})
    run = wait_done(gateway_server, run["id"])
    assert run["status"] == "completed", run
    assert read_nb(path).cells[1].outputs[0]["text"] == "42\n"
    # the kernel is the gateway's: the server lists it as a remote kernel
    assert "GatewayKernelManager started kernel" in gateway_server.log()


def test_cancel_interrupts_the_remote_kernel(gateway_server):
    path = gateway_server.root / "nb.ipynb"
    nbformat.write(make_notebook(["print('go', flush=True)\nimport time\ntime.sleep(60)"]), path)
    run = gateway_server.request("POST", "lapd/api/runs", {"path": "nb.ipynb"})
    wait_for(lambda: "go" in str(read_nb(path).cells[0].outputs))
    gateway_server.request("POST", f"lapd/api/runs/{run['id']}/cancel", {})
    run = wait_done(gateway_server, run["id"])
    assert run["status"] == "cancelled"
    assert read_nb(path).cells[0].outputs[-1]["ename"] == "KeyboardInterrupt"


def test_a_gateway_that_goes_away_fails_the_run(gateway_server):
    path = gateway_server.root / "nb.ipynb"
    nbformat.write(make_notebook(["print('go', flush=True)\nimport time\ntime.sleep(60)"]), path)
    run = gateway_server.request("POST", "lapd/api/runs", {"path": "nb.ipynb"})
    wait_for(lambda: "go" in str(read_nb(path).cells[0].outputs))
    gateway_server.gateway.stop()
    run = wait_done(gateway_server, run["id"], timeout=90)
    assert run["status"] == "failed", run
    assert run["error"].startswith("lost the connection to the kernel while running cell 1")
    outputs = read_nb(path).cells[0].outputs
    assert outputs[0]["text"] == "go\n"
    assert "lost the kernel while running this cell" in outputs[-1]["text"]
