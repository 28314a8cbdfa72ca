"""The non-lapd tools, each run as its own process: ``python -m bench.drivers TOOL IN OUT RESULT``.

Each driver takes its start time after its imports (a server is warm, a CLI is not: only
the work itself is compared), counts its own notebook writes by wrapping them (there is
no inotify here, and papermill can write faster than a 20 Hz poll sees), and writes a
small JSON result for the benchmark to read.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import nbformat


def _floor(nb_path: str) -> dict[str, Any]:
    """The least a client can do: one execute_request per cell, wait for reply and idle.

    jupyter_client's asyncio client (the blocking one wraps it in a loop per call, which
    would make this "floor" slower than nbclient); outputs are read and dropped. The
    kernel keeps its IPython history in memory, as nbclient, papermill and lapd's own
    kernels do: written to disk after every cell it would cost the kernel ~20% here.
    """
    import asyncio

    from jupyter_client.manager import AsyncKernelManager

    async def run() -> dict[str, Any]:
        started = time.time()
        nb = nbformat.read(nb_path, as_version=4)
        km = AsyncKernelManager(kernel_name="python3")
        await km.start_kernel(
            cwd=os.path.dirname(nb_path) or ".",
            extra_arguments=["--HistoryManager.hist_file=:memory:"],
        )
        kc = km.client()
        kc.start_channels()
        busy: list[str] = []
        idle: list[str] = []
        received = 0  # stream bytes that reached the client (the kernel drops at its HWM)
        try:
            await kc.wait_for_ready(timeout=60)
            for cell in nb.cells:
                if cell.cell_type != "code" or not cell.source.strip():
                    continue
                msg_id = kc.execute(cell.source, store_history=True, allow_stdin=False)
                while True:  # outputs, up to the kernel's idle for this request
                    msg = await kc.iopub_channel.get_msg(timeout=None)
                    if msg["parent_header"].get("msg_id") != msg_id:
                        continue
                    if msg["msg_type"] == "stream":
                        received += len(msg["content"]["text"])
                    elif msg["msg_type"] == "status":
                        state = msg["content"]["execution_state"]
                        stamp = msg["header"]["date"].isoformat()
                        (busy if state == "busy" else idle).append(stamp)
                        if state == "idle":
                            break
                while True:  # the reply has arrived by now
                    reply = await kc.shell_channel.get_msg(timeout=None)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        break
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)
        return {
            "started": started,
            "finished": time.time(),
            "writes": 0,
            "bytes": 0,
            "busy": busy[:1],
            "idle": idle[-1:],
            "received": received,
        }

    return asyncio.run(run())


def _nbclient(nb_path: str) -> dict[str, Any]:
    """Plain nbclient, then one write of the result, as ``jupyter execute --inplace`` does."""
    from nbclient import NotebookClient

    started = time.time()
    nb = nbformat.read(nb_path, as_version=4)
    client = NotebookClient(
        nb, kernel_name="python3", resources={"metadata": {"path": os.path.dirname(nb_path)}}
    )
    client.execute()
    data = nbformat.writes(nb)
    with open(nb_path, "w", encoding="utf-8") as f:
        f.write(data)
    return {
        "started": started,
        "finished": time.time(),
        "writes": 1,
        "bytes": len(data.encode("utf-8")),
    }


def _papermill(nb_path: str, out_path: str) -> dict[str, Any]:
    """papermill with its defaults (a save after every cell, autosave every 30 s)."""
    import papermill
    import papermill.engines
    import papermill.execute
    from papermill.iorw import papermill_io

    counts = {"writes": 0, "bytes": 0}

    def counted_write(nb: Any, path: str) -> None:
        data = nbformat.writes(nb)
        papermill_io.write(data, path)
        counts["writes"] += 1
        counts["bytes"] += len(data.encode("utf-8"))

    papermill.engines.write_ipynb = counted_write  # type: ignore[attr-defined]
    papermill.execute.write_ipynb = counted_write  # type: ignore[attr-defined]
    started = time.time()
    papermill.execute_notebook(nb_path, out_path, cwd=os.path.dirname(nb_path))
    return {"started": started, "finished": time.time(), **counts}


def main(argv: list[str]) -> int:
    tool, nb_path, out_path, result_path = argv
    if tool == "floor":
        result = _floor(nb_path)
    elif tool == "nbclient":
        result = _nbclient(nb_path)
    elif tool == "papermill":
        result = _papermill(nb_path, out_path)
    else:
        raise SystemExit(f"unknown tool {tool}")
    with open(result_path, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
