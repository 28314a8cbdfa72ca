"""Reading a finished run that printed hundreds of megabytes, in bounded memory.

A real server (its own process, whose peak memory /proc reports) runs a cell printing
300 MB; then a page reattaching from the start, the snapshot of its outputs, and
``jupyter lapd logs`` (which prints every byte from the journal) must each grow the
memory of the process that reads by no more than 100 MB.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from conftest import make_notebook
from server_process import TOKEN, ServerProcess
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

MB = 1024 * 1024
PRINTED_MB = 300
PRINTED = PRINTED_MB * 1000 * 1024  # bytes: lines of 1,000 bytes, 1,024 at a time
BIG = (
    "import sys\nblock = ('x' * 999 + '\\n') * 1024\n"
    f"for _ in range({PRINTED_MB}):\n    sys.stdout.write(block)\n    sys.stdout.flush()"
)


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM back to the current RSS


async def replay_from_the_start(server: ServerProcess, run_id: str) -> int:
    """Bytes of events a page reattaching with ``?since=0`` is sent."""
    url = server.url.replace("http", "ws", 1) + f"lapd/api/runs/{run_id}/events?since=0"
    request = HTTPRequest(url, headers={"Authorization": f"token {TOKEN}"})
    ws = await websocket_connect(request, max_message_size=64 * MB)
    received = 0
    try:
        while (message := await ws.read_message()) is not None:
            received += len(message)
    finally:
        ws.close()
    return received


def peak_of_logs(tmp_path: Path, server: ServerProcess, run_id: str) -> tuple[int, Path]:
    """Peak memory (KiB) of `jupyter lapd logs ID`, its output kept in a file."""
    out = tmp_path / f"logs-{run_id}.txt"
    env = {**server.env, "JUPYTER_LAPD_URL": server.url, "JUPYTER_LAPD_TOKEN": TOKEN}
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_lapd.cli", "logs", run_id],
            env=env, stdout=sink, stderr=subprocess.PIPE,
        )  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, proc.stderr.read() if proc.stderr else ""
    return usage.ru_maxrss, out


def test_a_run_that_printed_300_mb_is_read_in_bounded_memory(tmp_path):
    server = ServerProcess(tmp_path / "home", tmp_path / "root")
    nbformat.write(make_notebook(["print('small')"]), server.root / "small.ipynb")
    nbformat.write(make_notebook([BIG, "print('after')"]), server.root / "big.ipynb")
    server.start()
    try:
        runs = {}
        for name in ("small", "big"):
            runs[name] = server.request("POST", "lapd/api/runs", {"path": f"{name}.ipynb"})["id"]
            deadline = time.monotonic() + 600
            while server.request("GET", f"lapd/api/runs/{runs[name]}")["status"] != "completed":
                assert time.monotonic() < deadline, "the run did not complete"
                time.sleep(0.5)
        assert server.proc is not None
        pid = server.proc.pid
        # the server, reading the run: a page reattaching from the start, then a snapshot
        before = kib(pid, "VmRSS")
        reset_peak(pid)
        sent = asyncio.run(replay_from_the_start(server, runs["big"]))
        assert sent > PRINTED
        baseline_logs, _ = peak_of_logs(tmp_path, server, runs["small"])
        logs_peak, out = peak_of_logs(tmp_path, server, runs["big"])
        growth = (kib(pid, "VmHWM") - before) / 1024
        print(f"server peak growth {growth:.0f} MB; logs peak {logs_peak / 1024:.0f} MB"
              f" (a small run's: {baseline_logs / 1024:.0f} MB)")  # fmt: skip
        assert growth <= 100
        assert logs_peak - baseline_logs <= 100 * 1024
        # every byte printed, the file bounded to a head and a tail
        assert out.stat().st_size > PRINTED
        with out.open("rb") as f:
            f.seek(-2000, os.SEEK_END)
            tail = f.read()
        assert tail.endswith(b"after\n") and b"x" * 999 + b"\n" in tail, tail
        nb = json.loads((server.root / "big.ipynb").read_text())
        assert len(nb["cells"][0]["outputs"][0]["text"]) < 3 * MB
    finally:
        server.stop()
