"""Samplers the benchmark runs in threads while a tool works: file, journal, RSS, REST, load.

All of them only observe from outside (stat and read the file, read the SQLite journal in
WAL mode, ask psutil, time HTTP requests), so nothing in the product changes for the
benchmark.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import psutil

from jupyter_lapd.journal.streamfiles import StreamFiles, folder_for


class Periodic(threading.Thread):
    """Calls ``tick`` every ``1/hz`` seconds (on a fixed schedule) until ``stop``."""

    def __init__(self, hz: float, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._period = 1.0 / hz
        self._stopped = threading.Event()

    def tick(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        due = time.monotonic()
        while not self._stopped.is_set():
            with contextlib.suppress(Exception):
                self.tick()
            due += self._period
            self._stopped.wait(max(0.0, due - time.monotonic()))
        with contextlib.suppress(Exception):
            self.tick()  # one last look after the tool ended

    def stop(self) -> None:
        self._stopped.set()
        self.join()


def newest_marker(data: bytes | str, pattern: re.Pattern[bytes]) -> float | None:
    """The largest marker timestamp in ``data`` (the newest output it holds)."""
    raw = data.encode() if isinstance(data, str) else data
    found = pattern.findall(raw)
    return max(float(v) for v in found) if found else None


def marker_pattern(marker: str) -> re.Pattern[bytes]:
    return re.compile(re.escape(marker.encode()) + rb"(\d+\.\d+)")


class FileWatcher(Periodic):
    """Polls a notebook at 20 Hz: each new (inode, size, mtime) is a write; on each change the
    file is read and its newest marker noted. ``samples`` is ``(time, newest marker)`` per
    tick, for the file lag."""

    def __init__(self, path: str, pattern: re.Pattern[bytes], hz: float = 20) -> None:
        super().__init__(hz, "bench-file")
        self.path = path
        self._pattern = pattern
        self._key: tuple[int, int, int] | None = None
        self._newest: float | None = None
        try:
            st = os.stat(path)
            self._key = (st.st_ino, st.st_size, st.st_mtime_ns)
            self.initial_size = st.st_size
        except FileNotFoundError:
            self.initial_size = 0
        self.changes: list[tuple[float, int]] = []  # (time, size) of each write seen
        self.samples: list[tuple[float, float | None]] = []

    def tick(self) -> None:
        now = time.time()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.samples.append((now, self._newest))
            return
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if key != self._key:
            self._key = key
            self.changes.append((now, st.st_size))
            with open(self.path, "rb") as f:
                newest = newest_marker(f.read(), self._pattern)
            if newest is not None:
                self._newest = max(newest, self._newest or 0.0)
        self.samples.append((now, self._newest))


# Bytes at the end of a journal row in which the journal's probe looks for markers.
TAIL_BYTES = 128 * 1024


class JournalWatcher(Periodic):
    """Reads the newest output events of a run from the SQLite journal at 20 Hz (a WAL
    reader never blocks the server's writer)."""

    def __init__(self, db_path: str, pattern: re.Pattern[bytes], hz: float = 20) -> None:
        super().__init__(hz, "bench-journal")
        self._db_path = db_path
        self._pattern = pattern
        self.run_id: str | None = None
        self._conn: sqlite3.Connection | None = None
        self._streams = StreamFiles(folder_for(db_path))  # where long texts lie
        self._newest: float | None = None
        self.samples: list[tuple[float, float | None]] = []

    def tick(self) -> None:
        now = time.time()
        if self.run_id is not None:
            if self._conn is None:
                self._conn = sqlite3.connect(
                    f"file:{self._db_path}?mode=ro", uri=True, check_same_thread=False
                )
            # the tails only: a row holds up to 1 MiB of joined stream text, and the
            # scenarios print a marker at least every 64 KiB; a long text lies in the run's
            # stream file, read from there
            rows = self._conn.execute(
                "SELECT event || COALESCE(substr(CAST(text AS BLOB), -?), ''),"
                " text_at, text_bytes FROM journal"
                " WHERE run_id = ? AND type IN ('output', 'update_display')"
                " ORDER BY seq DESC LIMIT 3",
                (TAIL_BYTES, self.run_id),
            ).fetchall()
            tails = [text + self._file_tail(at, size) for text, at, size in rows]
            newest = newest_marker("".join(tails), self._pattern)
            if newest is not None:
                self._newest = max(newest, self._newest or 0.0)
        self.samples.append((now, self._newest))

    def _file_tail(self, at: int | None, size: int | None) -> str:
        if at is None or size is None or self.run_id is None:
            return ""
        start = at + max(0, size - TAIL_BYTES)
        (tail,) = self._streams.read(self.run_id, [(start, at + size - start)])
        return tail

    def stop(self) -> None:
        super().stop()
        if self._conn is not None:
            self._conn.close()


class RssSampler(Periodic):
    """Peak RSS of one process (the tool or the server) and of its whole tree (kernels)."""

    def __init__(self, pid: int, hz: float = 10) -> None:
        super().__init__(hz, "bench-rss")
        self._proc = psutil.Process(pid)
        self.baseline = self._proc.memory_info().rss
        self.peak = self.baseline
        self.peak_tree = self.baseline

    def tick(self) -> None:
        rss = self._proc.memory_info().rss
        tree = rss
        for child in self._proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                tree += child.memory_info().rss
        self.peak = max(self.peak, rss)
        self.peak_tree = max(self.peak_tree, tree)


class RestProbe(Periodic):
    """Times GET requests against the server at ``hz``, alternating the endpoints given:
    ``/api`` is answered by the event loop alone (its latency is the loop's lag), the runs
    listing also goes through the extension's database thread."""

    def __init__(self, base_url: str, token: str, paths: dict[str, str], hz: float = 20) -> None:
        super().__init__(hz, "bench-rest")
        parts = urlsplit(base_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._headers = {"Authorization": f"token {token}"}
        self._paths = list(paths.items())
        self._next = 0
        self._conn: http.client.HTTPConnection | None = None
        self.latency: dict[str, list[float]] = {name: [] for name in paths}
        self.errors = 0

    def tick(self) -> None:
        name, path = self._paths[self._next % len(self._paths)]
        self._next += 1
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=30)
        started = time.perf_counter()
        try:
            self._conn.request("GET", self._prefix + path, headers=self._headers)
            response = self._conn.getresponse()
            response.read()
            ok = response.status == 200
        except Exception:  # counted, never fatal: the probe must not stop the benchmark
            ok = False
            self._conn.close()
            self._conn = None
        if ok:
            self.latency[name].append(time.perf_counter() - started)
        else:
            self.errors += 1


class LoadSampler(Periodic):
    """How busy the machine is with work that is not the benchmark's, once a second.

    ``others`` is the CPU (in cores) used by processes outside the benchmark's own tree,
    from per-process CPU time deltas; ``system`` is the whole machine's utilisation.
    """

    def __init__(self, hz: float = 1) -> None:
        super().__init__(hz, "bench-load")
        self._me = psutil.Process()
        self._last: dict[int, float] = {}
        self._last_time = time.monotonic()
        self.samples: list[tuple[float, float, float, float]] = []  # time, others, system, load1
        psutil.cpu_percent(None)

    def _ours(self) -> set[int]:
        pids = {self._me.pid}
        with contextlib.suppress(psutil.Error):
            pids |= {p.pid for p in self._me.children(recursive=True)}
        return pids

    def tick(self) -> None:
        now = time.monotonic()
        ours = self._ours()
        cpu: dict[int, float] = {}
        for proc in psutil.process_iter(["cpu_times"]):
            times = proc.info.get("cpu_times")
            if times is not None and proc.pid not in ours:
                cpu[proc.pid] = times.user + times.system
        used = sum(v - self._last[p] for p, v in cpu.items() if p in self._last)
        elapsed = max(now - self._last_time, 1e-3)
        if self._last:
            self.samples.append(
                (time.time(), used / elapsed, psutil.cpu_percent(None), os.getloadavg()[0])
            )
        self._last, self._last_time = cpu, now

    def between(self, start: float, end: float) -> dict[str, float]:
        chosen = [s for s in self.samples if start <= s[0] <= end + 1] or self.samples[-1:]
        if not chosen:
            return {}
        n = len(chosen)
        return {
            "others_cores": round(sum(s[1] for s in chosen) / n, 2),
            "system_cpu_pct": round(sum(s[2] for s in chosen) / n, 1),
            "load1": round(sum(s[3] for s in chosen) / n, 2),
        }


def lags(
    samples: list[tuple[float, float | None]], start: float | None, end: float | None
) -> list[float]:
    """How stale the observed copy was at each sample while the kernel printed.

    At time ``t`` the copy holds output up to marker ``m``: what the kernel printed after
    ``m`` is missing, so the copy is ``t - m`` stale (an upper bound, tight to the print
    interval of the marked cells). Sampling starts when the first marked cell starts
    (``start``) and stops once the copy holds the last marker (``end``).
    """
    if start is None or end is None:
        return []
    out = []
    for t, newest in samples:
        if t < start:
            continue
        if newest is not None and newest >= end - 1e-6:
            break
        out.append(max(0.0, t - max(newest or start, start)))
    return out


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summarize(values: list[float], scale: float = 1.0) -> dict[str, Any]:
    """p50, p99 and max of ``values`` times ``scale``, rounded for the report."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round((percentile(values, 50) or 0) * scale, 4),
        "p99": round((percentile(values, 99) or 0) * scale, 4),
        "max": round(max(values) * scale, 4),
    }


StopFn = Callable[[], None]
