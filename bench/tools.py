"""One run of one tool on one scenario, observed by the probes: the raw measurements."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nbformat

from . import probes
from .scenarios import Scenario
from .server import REPO, TOKEN, BenchServer

TOOLS = ("floor", "nbclient", "papermill", "lapd_session", "lapd_new", "lapd_headless")
DRIVERS = ("floor", "nbclient", "papermill")


@dataclass
class Context:
    """What every run needs: the server, the load sampler, limits."""

    server: BenchServer
    load: probes.LoadSampler
    timeout: float


def headless_available() -> bool:
    """``jupyter lapd run --headless`` exists in this tree (it is being written)."""
    return (REPO / "jupyter_lapd" / "headless" / "headlessrun.py").exists()


def _stamp(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def exec_span(nb: nbformat.NotebookNode) -> tuple[float | None, float | None]:
    """First ``busy`` and last ``idle`` of the kernel over all cells (kernel timestamps)."""
    busy, idle = [], []
    for cell in nb.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if (b := _stamp(timing.get("iopub.status.busy"))) is not None:
            busy.append(b)
        if (i := _stamp(timing.get("iopub.status.idle"))) is not None:
            idle.append(i)
    return (min(busy) if busy else None), (max(idle) if idle else None)


def marked_start(nb: nbformat.NotebookNode, scenario: Scenario) -> float | None:
    if not scenario.marked:
        return None
    timing = nb.cells[scenario.marked[0]].get("metadata", {}).get("execution", {})
    return _stamp(timing.get("iopub.status.busy"))


def check(nb: nbformat.NotebookNode, scenario: Scenario) -> dict[str, Any]:
    """Is the final file what it must be? Validity, plus the scenario's own expectation."""
    result: dict[str, Any] = {}
    try:
        nbformat.validate(nb)
        result["valid"] = True
    except nbformat.ValidationError as e:
        result["valid"] = False
        result["error"] = str(e)[:200]
    code = [c for c in nb.cells if c.cell_type == "code"]
    result["all_counted"] = all(c.get("execution_count") for c in code)
    if scenario.name == "progress":
        texts = [o.get("text", "") for c in code for o in c.outputs if o.output_type == "stream"]
        result["lines_per_bar"] = [t.rstrip("\n").count("\n") + 1 for t in texts]
    elif scenario.name == "display_updates":
        result["outputs_per_cell"] = [len(c.outputs) for c in code]
    elif scenario.name == "huge_output":
        text = "".join(o.get("text", "") for o in code[0].outputs if o.output_type == "stream")
        result["stream_chars"] = len(text)
        result["elided_marker"] = "bytes elided" in text
    return result


def _finish(
    raw: dict[str, Any],
    scenario: Scenario,
    nb_path: str,
    watcher: probes.FileWatcher | None,
    journal: probes.JournalWatcher | None,
) -> None:
    """Fill in what the final file tells: size, exec span, checks, lags."""
    with open(nb_path, "rb") as f:
        data = f.read()
    nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    raw["final_size"] = len(data)
    first, last = exec_span(nb)
    raw["exec_s"] = (last - first) if first is not None and last is not None else None
    raw["check"] = check(nb, scenario)
    pattern = probes.marker_pattern(scenario.marker)
    end = probes.newest_marker(data, pattern)
    start = marked_start(nb, scenario)
    if watcher is not None:
        raw["file_lag"] = probes.summarize(probes.lags(watcher.samples, start, end))
    if journal is not None:
        raw["journal_lag"] = probes.summarize(probes.lags(journal.samples, start, end))


def run_driver(ctx: Context, tool: str, scenario: Scenario, paths: list[str]) -> dict[str, Any]:
    """floor, nbclient or papermill in a child process of the benchmark."""
    nb_path = paths[0]
    folder = os.path.dirname(nb_path)
    out_path = os.path.join(folder, "papermill-out.ipynb") if tool == "papermill" else nb_path
    if tool == "papermill":
        shutil.copyfile(nb_path, out_path)  # the watcher follows the file papermill writes
    result_path = os.path.join(folder, f"{tool}-result.json")
    watcher = None
    if tool != "floor":
        watcher = probes.FileWatcher(out_path, probes.marker_pattern(scenario.marker))
    began = time.time()
    with open(os.path.join(folder, f"{tool}.log"), "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.drivers", tool, nb_path, out_path, result_path],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        rss = probes.RssSampler(proc.pid)
        for sampler in (rss, watcher):
            if sampler is not None:
                sampler.start()
        try:
            code = proc.wait(timeout=ctx.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = -9
        for sampler in (rss, watcher):
            if sampler is not None:
                sampler.stop()
    raw: dict[str, Any] = {"tool": tool, "scenario": scenario.name}
    if code != 0:
        raw["error"] = "timeout" if code == -9 else f"exit {code}"
        return raw
    with open(result_path) as f:
        result = json.load(f)
    raw.update(
        wall_s=result["finished"] - result["started"],
        rss_peak_mb=rss.peak / 2**20,
        rss_growth_mb=(rss.peak - rss.baseline) / 2**20,
        writes=result["writes"],
        bytes_written=result["bytes"],
        load=ctx.load.between(began, time.time()),
    )
    if tool == "floor":
        raw["delivered_bytes"] = result.get("received")
        if result["busy"] and result["idle"]:
            raw["exec_s"] = _stamp(result["idle"][0]) - _stamp(result["busy"][0])  # type: ignore[operator]
        return raw
    _finish(raw, scenario, out_path, watcher, None)
    return raw


def _journaled_text(db_path: str, run_id: str) -> int:
    """Characters of stream text the journal holds for a run: what reached the server
    (a kernel drops iopub messages when a reader falls more than its HWM behind). Long
    texts lie in the run's stream file, counted in bytes (the scenarios print ASCII)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT SUM(COALESCE(text_bytes, LENGTH(COALESCE(text, json_extract(event,"
            " '$.output.text')))))"
            " FROM journal"
            " WHERE run_id = ? AND type = 'output'",
            (run_id,),
        ).fetchone()
        return int(row[0] or 0)
    finally:
        conn.close()


def _flushed(db_path: str, run_ids: list[str]) -> int:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        marks = ",".join("?" for _ in run_ids)
        row = conn.execute(
            f"SELECT COUNT(*) FROM journal WHERE type = 'flushed' AND run_id IN ({marks})",
            run_ids,
        ).fetchone()
        return int(row[0])
    finally:
        conn.close()


def run_lapd(ctx: Context, tool: str, scenario: Scenario, paths: list[str]) -> dict[str, Any]:
    """A run through the server's REST API, ``kernel: session`` or ``new``."""
    server = ctx.server
    mode = "session" if tool == "lapd_session" else "new"
    pattern = probes.marker_pattern(scenario.marker)
    single = len(paths) == 1
    watcher = probes.FileWatcher(paths[0], pattern) if single else None
    # the journal lag is taken only where cells print markers: elsewhere its 20 Hz reads
    # would only load the machine the run shares
    lagged = single and bool(scenario.marked)
    journal = probes.JournalWatcher(server.db_path, pattern) if lagged else None
    # /api is answered by the loop alone: 10 Hz measures its lag. The runs listing also
    # queues on the database thread that the run's own saves use: polled as a panel would
    # (2 Hz), except where it is the point (concurrent_runs, 10 Hz).
    loop = probes.RestProbe(server.url, TOKEN, {"loop": "/api"}, hz=10)
    runs_hz = 10 if scenario.name == "concurrent_runs" else 2
    listing = probes.RestProbe(server.url, TOKEN, {"runs": "/lapd/api/runs"}, hz=runs_hz)
    rss = probes.RssSampler(server.pid)
    samplers = [s for s in (watcher, journal, loop, listing, rss) if s is not None]
    for sampler in samplers:
        sampler.start()
    began = time.time()
    run_ids = []
    for path in paths:
        api_path = os.path.relpath(path, server.root).replace(os.sep, "/")
        run_ids.append(server.start_run(api_path, mode)["id"])
    if journal is not None:
        journal.run_id = run_ids[0]
    records = server.wait(run_ids, ctx.timeout)
    for sampler in samplers:
        sampler.stop()
    if mode == "session":
        server.close_sessions()
    raw: dict[str, Any] = {"tool": tool, "scenario": scenario.name}
    statuses = [r["status"] for r in records]
    raw["statuses"] = {s: statuses.count(s) for s in set(statuses)}
    if any(s != "completed" for s in statuses):
        failed = next(r for r in records if r["status"] != "completed")
        raw["error"] = f"runs ended {raw['statuses']}: {failed.get('error')}"
    finished = max((_stamp(r.get("finished")) or time.time()) for r in records)
    raw.update(
        wall_s=finished - began,
        rss_peak_mb=rss.peak / 2**20,
        rss_growth_mb=(rss.peak - rss.baseline) / 2**20,
        writes=_flushed(server.db_path, run_ids),
        rest_loop=probes.summarize(loop.latency["loop"], 1000),
        rest_runs=probes.summarize(listing.latency["runs"], 1000),
        rest_errors=loop.errors + listing.errors,
        load=ctx.load.between(began, time.time()),
    )
    if watcher is not None:
        # every lapd write is an atomic rename (a new inode) at least 0.25 s after the
        # last, so the 20 Hz poll sees each one: its size is what that write wrote
        raw["bytes_written"] = sum(size for _, size in watcher.changes)
        raw["writes_seen"] = len(watcher.changes)
        raw["write_times"] = [round(t - began, 2) for t, _ in watcher.changes]
        raw["delivered_bytes"] = _journaled_text(server.db_path, run_ids[0])
        _finish(raw, scenario, paths[0], watcher, journal)
    return raw


def run_headless(ctx: Context, scenario: Scenario, paths: list[str]) -> dict[str, Any]:
    """``jupyter lapd run PATH --headless``: no server, the CLI process runs the notebook."""
    from jupyter_lapd.headless.headlessrun import sidecar_path

    folder = os.path.dirname(paths[0])
    db_path = sidecar_path(paths[0])  # the journal beside the notebook
    env = dict(os.environ)
    pattern = probes.marker_pattern(scenario.marker)
    watcher = probes.FileWatcher(paths[0], pattern)
    journal = probes.JournalWatcher(db_path, pattern) if scenario.marked else None
    began = time.time()
    with open(os.path.join(folder, "headless.log"), "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_lapd.cli", "run", os.path.basename(paths[0]),
             "--headless"],
            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        rss = probes.RssSampler(proc.pid)
        samplers = [s for s in (watcher, journal, rss) if s is not None]
        for sampler in samplers:
            sampler.start()
        run_id = _latest_run(db_path, proc)
        if journal is not None:
            journal.run_id = run_id
        try:
            code = proc.wait(timeout=ctx.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        for sampler in samplers:
            sampler.stop()
    raw: dict[str, Any] = {"tool": "lapd_headless", "scenario": scenario.name}
    if code != 0:
        raw["error"] = f"exit {code}"
        return raw
    run_id = run_id or _latest_run(db_path, proc)
    record = _record(db_path, run_id) if run_id else {}
    created, finished = _stamp(record.get("created")), _stamp(record.get("finished"))
    raw.update(
        # the run's own times: a CLI process also pays for Python's start and imports
        wall_s=(finished - created) if created and finished else time.time() - began,
        process_wall_s=time.time() - began,
        rss_peak_mb=rss.peak / 2**20,
        rss_growth_mb=(rss.peak - rss.baseline) / 2**20,
        writes=_flushed(db_path, [run_id]) if run_id else None,
        delivered_bytes=_journaled_text(db_path, run_id) if run_id else None,
        bytes_written=sum(size for _, size in watcher.changes),
        load=ctx.load.between(began, time.time()),
    )
    _finish(raw, scenario, paths[0], watcher, journal)
    return raw


def _record(db_path: str, run_id: str) -> dict[str, Any]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT record FROM runs WHERE id = ?", (run_id,)).fetchone()
        return json.loads(row[0]) if row else {}
    finally:
        conn.close()


def _latest_run(db_path: str, proc: subprocess.Popen[bytes]) -> str | None:
    """The id of the newest run in a database (the headless run just started)."""
    while True:
        if os.path.exists(db_path):
            try:
                conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
                row = conn.execute("SELECT id FROM runs ORDER BY created DESC LIMIT 1").fetchone()
                conn.close()
                if row:
                    return str(row[0])
            except sqlite3.Error:
                pass
        if proc.poll() is not None:
            return None
        time.sleep(0.05)
