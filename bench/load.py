"""Load: many runs through the queue while clients follow their events through reconnect
storms, on a real server. ``make bench-load``; the numbers go in docs/benchmarks.md.

Each of ``--clients`` clients owns a notebook and runs it ``--runs-each`` times, one after
the other (a notebook has one active run at a time), each run on a fresh kernel, all of
them through the server's queue (``max_concurrent_runs``, 4 by default). While a run goes
on, its client drops its events socket at random moments and comes back with ``?since=``
the last event it had, and every few seconds all clients drop theirs at once.

What must hold: every run ends ``completed``; each client received every event of its runs
exactly once (compared, after the run, with the journal's own list); the file holds every
output; no kernel is left; the server's file descriptors and threads come back to what they
were, and its memory stays bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClosedError, websocket_connect

from .server import TOKEN, BenchServer

CELL = (
    "import time\nfor i in range({lines}):\n    print(f'{{i}}', flush=True)\n    time.sleep(0.01)"
)


def server_stats(pid: int) -> dict[str, int]:
    """The server process's open file descriptors, threads and resident memory (bytes)."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(fields["Threads"]),
        "rss": int(fields["VmRSS"].split()[0]) * 1024,
    }


class Client:
    """Runs one notebook again and again, following each run through dropped sockets."""

    def __init__(self, server: BenchServer, name: str, rng: random.Random, storm: asyncio.Event):
        self.server, self.name, self.rng, self.storm = server, name, rng, storm
        self.runs: list[dict[str, Any]] = []
        self.reconnects = 0
        self.problems: list[str] = []

    def _ws(self, run_id: str, since: int | None) -> HTTPRequest:
        url = self.server.url.replace("http://", "ws://") + f"lapd/api/runs/{run_id}/events"
        if since is not None:
            url += f"?since={since}"
        return HTTPRequest(url, headers={"Authorization": f"token {TOKEN}"})

    async def follow(self, run_id: str) -> list[int]:
        """Every event's seq, through reconnects, until the server closes the stream."""
        seqs: list[int] = []
        since: int | None = None
        while True:
            ws = await websocket_connect(self._ws(run_id, since))
            drop_at = time.monotonic() + self.rng.uniform(0.05, 1.0)
            ended = False
            try:
                while True:
                    timeout = max(0.0, drop_at - time.monotonic())
                    try:
                        message = await asyncio.wait_for(ws.read_message(), timeout)
                    except asyncio.TimeoutError:
                        break  # drop the socket now, as a flaky network does
                    if message is None:
                        ended = True
                        break
                    event = json.loads(message)
                    if event["type"] == "snapshot":
                        if since is None:
                            seqs.append(int(event["seq"]))  # where the stream started
                        continue
                    seqs.append(int(event["seq"]))
                    if self.storm.is_set():
                        break
            finally:
                ws.close()
            if ended:
                return seqs
            self.reconnects += 1
            since = seqs[-1]

    async def run_all(self, count: int) -> None:
        for _ in range(count):
            run = await asyncio.to_thread(
                self.server.request, "POST", "lapd/api/runs", {"path": self.name, "kernel": "new"}
            )
            seqs = await self.follow(run["id"])
            final = await asyncio.to_thread(
                self.server.request, "GET", f"lapd/api/runs/{run['id']}"
            )
            journal = await self.journal(run["id"])
            start = seqs[0]
            got = seqs[1:]
            want = [s for s in journal if s > start]
            if got != want:
                self.problems.append(
                    f"run {run['id']}: events {got[:5]}... != journal {want[:5]}..."
                )
            if final["status"] != "completed":
                self.problems.append(f"run {run['id']} ended {final['status']}: {final['error']}")
            self.runs.append(final)

    async def journal(self, run_id: str) -> list[int]:
        """The seqs of the run's journal, as a client resuming from 0 gets them."""
        ws = await websocket_connect(self._ws(run_id, 0))
        seqs = []
        try:
            while (message := await ws.read_message()) is not None:
                event = json.loads(message)
                if event["type"] != "snapshot":
                    seqs.append(int(event["seq"]))
        except WebSocketClosedError:
            pass
        return seqs


async def storms(storm: asyncio.Event, every: float, done: asyncio.Event) -> int:
    """Every ``every`` seconds, all clients drop their sockets at once."""
    count = 0
    while not done.is_set():
        await asyncio.sleep(every)
        storm.set()
        await asyncio.sleep(0.05)
        storm.clear()
        count += 1
    return count


async def load(
    server: BenchServer, clients: int, runs_each: int, lines: int, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    for i in range(clients):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL.format(lines=lines))])
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nbformat.write(nb, server.root / f"n{i}.ipynb")
    storm, done = asyncio.Event(), asyncio.Event()
    # a run first, so that what the server starts once (its thread pools, the kernel
    # machinery) is there before the count: what grows after that is a leak
    await Client(server, "n0.ipynb", random.Random(seed), storm).run_all(1)
    await asyncio.sleep(2)
    before = server_stats(server.pid)
    workers = [
        Client(server, f"n{i}.ipynb", random.Random(rng.random()), storm) for i in range(clients)
    ]
    storming = asyncio.ensure_future(storms(storm, 3.0, done))
    peak_rss = before["rss"]

    async def sample() -> None:
        nonlocal peak_rss
        while not done.is_set():
            peak_rss = max(peak_rss, server_stats(server.pid)["rss"])
            await asyncio.sleep(0.5)

    sampling = asyncio.ensure_future(sample())
    started = time.monotonic()
    await asyncio.gather(*(w.run_all(runs_each) for w in workers))
    took = time.monotonic() - started
    done.set()
    storm_count = await storming
    await sampling
    await asyncio.sleep(2)  # kernels shut down, sockets close
    after = server_stats(server.pid)
    kernels = server.request("GET", "api/kernels")
    lost_lines = 0
    for i in range(clients):
        text = "".join(
            o.get("text", "")
            for o in nbformat.read(server.root / f"n{i}.ipynb", 4).cells[0].outputs
        )
        lost_lines += len([n for n in range(lines) if f"{n}\n" not in text])
    problems = [p for w in workers for p in w.problems]
    return {
        "runs": sum(len(w.runs) for w in workers),
        "completed": sum(1 for w in workers for r in w.runs if r["status"] == "completed"),
        "clients": clients,
        "reconnects": sum(w.reconnects for w in workers),
        "storms": storm_count,
        "seconds": round(took, 1),
        "event_problems": problems,
        "lines_missing_from_files": lost_lines,
        "kernels_left": len(kernels),
        "fds": [before["fds"], after["fds"]],
        "threads": [before["threads"], after["threads"]],
        "rss_mb": [
            round(before["rss"] / 2**20),
            round(peak_rss / 2**20),
            round(after["rss"] / 2**20),
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--runs-each", type=int, default=10)
    parser.add_argument("--lines", type=int, default=50, help="lines each run prints")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results/load.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lapd-load-") as tmp:
        server = BenchServer(Path(tmp) / "home", Path(tmp) / "root")
        server.start()
        try:
            result = asyncio.run(load(server, args.clients, args.runs_each, args.lines, args.seed))
        finally:
            server.stop()
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    ok = (
        result["completed"] == result["runs"] == args.clients * args.runs_each
        and not result["event_problems"]
        and result["lines_missing_from_files"] == 0
        and result["kernels_left"] == 0
        and result["fds"][1] <= result["fds"][0]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
