"""``make bench``: the same generated notebooks through every tool, side by side.

One process tree: this process starts a real ``jupyter server`` with jupyter_lapd as its
child, runs the other tools as child processes too, and in each round visits the tools in
a rotated order, so that no tool always runs first (cold caches) or last (a machine warmed
up by the others), reversed every other time so that no tool always runs right after the
same one. Results: ``bench/results/latest.json`` and a PNG chart beside it.

    python -m bench.run --rounds 3               # the full benchmark (1 GB huge_output)
    python -m bench.run --scale 0.1 --size 10M   # a quick development run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from bench import probes, report, scenarios
from bench.server import BenchServer
from bench.tools import (
    DRIVERS,
    TOOLS,
    Context,
    headless_available,
    run_driver,
    run_headless,
    run_lapd,
)

RESULTS = Path(__file__).resolve().parent / "results"
# nbclient coalesces a cell's stream fragments by repeated string concatenation when the
# cell ends (quadratic in the fragments), and papermill on top of it also re-writes the
# whole notebook: past this size neither finishes in any useful time.
DRIVER_HUGE_LIMIT = 100 * 2**20


def parse_size(text: str) -> int:
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    text = text.strip().lower().rstrip("b")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def skip_reason(tool: str, scenario: str, size: int) -> str | None:
    if scenario in scenarios.SERVER_ONLY and tool not in ("lapd_session", "lapd_new"):
        return "server only"
    if tool == "lapd_headless" and not headless_available():
        return "`jupyter lapd run --headless` is not in this tree yet"
    if scenario == "huge_output" and tool in ("nbclient", "papermill") and size > DRIVER_HUGE_LIMIT:
        return f"not run above {DRIVER_HUGE_LIMIT // 2**20} MB: nbclient's stream coalescing is quadratic"
    return None


def write_cost(path: str) -> float | None:
    """Seconds one cold lapd write of this notebook takes (re-read, merge every code cell,
    validate, serialise, fsync, rename), on a copy: the unit of the writer's backoff."""
    import nbformat

    from jupyter_lapd.notebook.cellmerge import CellState, write_cells

    copy = path + ".cost.ipynb"
    shutil.copyfile(path, copy)
    try:
        nb = nbformat.read(copy, as_version=4)
        cells = {
            c["id"]: CellState(
                [dict(o) for o in c.outputs],
                c.execution_count,
                dict(c.metadata.get("execution", {})),
            )
            for c in nb.cells
            if c.cell_type == "code"
        }
        started = time.perf_counter()
        write_cells(copy, cells)
        return time.perf_counter() - started
    finally:
        os.unlink(copy)


def run_one(
    ctx: Context,
    tool: str,
    name: str,
    args: argparse.Namespace,
    round_: int,
    workdir: Path,
    visit: int = 0,
) -> dict[str, Any]:
    nonce = uuid.uuid4().hex[:8]
    scenario = scenarios.build(name, nonce, args.scale, args.size, args.runs)
    folder = workdir / "root" / f"r{round_}" / (f"{tool}-{visit}" if visit else tool)
    paths = scenarios.write(scenario, str(folder))
    if tool in DRIVERS:
        raw = run_driver(ctx, tool, scenario, paths)
    elif tool == "lapd_headless":
        raw = run_headless(ctx, scenario, paths)
    else:
        raw = run_lapd(ctx, tool, scenario, paths)
    raw["round"], raw["visit"] = round_, visit
    if raw.get("delivered_bytes") is not None and scenario.expect.get("bytes"):
        raw["delivered"] = raw["delivered_bytes"] / scenario.expect["bytes"]
    if "error" not in raw and (raw.get("final_size") or 0) >= 2e6:
        raw["write_cost_s"] = write_cost(
            paths[0] if tool != "papermill" else str(folder / "papermill-out.ipynb")
        )
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds (medians are over them)")
    parser.add_argument("--scale", type=float, default=1.0, help="scale of cells, lines, seconds")
    parser.add_argument(
        "--size", type=parse_size, default=parse_size("1G"), help="huge_output bytes"
    )
    parser.add_argument("--runs", type=int, default=20, help="runs in concurrent_runs")
    parser.add_argument("--scenarios", default=",".join(scenarios.SCENARIOS))
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--timeout", type=float, default=900, help="seconds per tool run")
    parser.add_argument("--out", default=str(RESULTS / "latest.json"))
    parser.add_argument("--workdir", default=None, help="default: a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the notebooks written")
    args = parser.parse_args(argv)
    chosen = [s for s in args.scenarios.split(",") if s]
    tools = [t for t in args.tools.split(",") if t]
    for name in chosen:
        if name not in scenarios.SCENARIOS:
            parser.error(f"unknown scenario {name}")
    for tool in tools:
        if tool not in TOOLS:
            parser.error(f"unknown tool {tool}")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="lapd-bench-"))
    load = probes.LoadSampler()
    load.start()
    server = BenchServer(workdir / "server", workdir / "root")
    runs: list[dict[str, Any]] = []
    began = time.time()
    try:
        if any(t.startswith("lapd_") and t != "lapd_headless" for t in tools):
            server.start()
        ctx = Context(server=server, load=load, timeout=args.timeout)
        for round_ in range(args.rounds):
            for name in chosen:
                here = [t for t in tools if t in TOOLS]
                visits = scenarios.VISITS.get(name, 1)
                for visit in range(visits):
                    turn = round_ * visits + visit
                    order = here[turn % len(here) :] + here[: turn % len(here)]
                    if turn % 2:  # so that no tool always follows the same one
                        order.reverse()
                    for tool in order:
                        reason = skip_reason(tool, name, args.size)
                        if reason is not None:
                            if round_ == visit == 0:
                                runs.append({"tool": tool, "scenario": name, "skipped": reason})
                            continue
                        print(
                            f"round {round_ + 1}/{args.rounds} {name:16} {tool:14}",
                            end=" ",
                            flush=True,
                        )
                        raw = run_one(ctx, tool, name, args, round_, workdir, visit)
                        runs.append(raw)
                        shown = raw.get("error") or f"{raw.get('wall_s', 0):.2f} s"
                        print(shown, flush=True)
    finally:
        server.stop()
        load.stop()
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    summary = report.summarize(runs)
    found = report.targets(summary)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "started": began,
        "seconds": time.time() - began,
        "args": dict(vars(args)),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load": load.between(began, time.time()),
        "headless": headless_available(),
    }
    out.write_text(
        json.dumps({"meta": meta, "summary": summary, "targets": found, "runs": runs}, indent=1)
    )
    note = report.chart(summary, str(out.with_suffix(".png")))
    print()
    print(report.table(summary))
    print()
    print(report.targets_table(found))
    print(f"\nmachine load meanwhile: {meta['load']}; results in {out}")
    if note:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
