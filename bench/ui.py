"""``make bench-ui``: the page under heavy output, stock JupyterLab and Run in background
side by side in one real JupyterLab and one Chromium (Debian's, ``/usr/bin/chromium``).

Each trial opens a fresh browser context on a freshly generated notebook, waits for its
kernel, then either runs it as JupyterLab does (``notebook:run-all-cells``, what
Shift+Enter does for a one-cell notebook) or clicks Run in background
(``lapd:run-all-in-background``). The tools alternate within a round, and the round's
first tool alternates between rounds. The page measures itself:

- long tasks: a ``PerformanceObserver`` of ``longtask`` entries (main-thread tasks over
  50 ms) from the start of the run; the longest and their sum;
- last line shown: ``performance.now()`` at the first animation frame whose cell's last
  output node holds the scenario's final text, from the start;
- heap: ``performance.memory.usedJSHeapSize`` after two forced garbage collections, once
  the run has ended and its last line is shown (``heap_before``: the same once the
  notebook is open, before the run).

``reopen`` starts a long run of a notebook that holds 20 MB of earlier outputs, closes
the page, and opens the notebook in a new one mid-run: "live after" is the time from the
page's first request for the notebook (JupyterLab has started) until the running cell
shows a line printed after the reopening; its long tasks are those from that request on. Stock
JupyterLab cannot show a run it did not start (its outputs go to the page that started
it): its row measures opening the same notebook while no run writes it.

    python -m bench.ui                         # every scenario, 3 rounds
    python -m bench.ui --rounds 1 --only lines_100k
    python -m bench.ui --rounds 1 --tool background --out /tmp/ui.json   # one side only
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/ui.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

import nbformat

from bench.pageprobe import HEAP, PAGE_PROBE
from bench.pagescenarios import ALL, SCENARIOS, reopen_notebook
from bench.server import FINAL, TOKEN, BenchServer

RESULTS = Path(__file__).resolve().parent / "results"
CHROMIUM = "/usr/bin/chromium"
TOOLS = ("stock", "background")
COMMANDS = {"stock": "notebook:run-all-cells", "background": "lapd:run-all-in-background"}
# What ``--no-iopub-limit`` gives the server: JupyterLab's page then receives every output
# of a cell that prints more than 1,000 messages a second (the server's default limit
# otherwise drops them, saying "IOPub message rate exceeded", and the page never shows the
# last line). Run in background is not affected either way: it reads the kernel itself.
NO_IOPUB_LIMIT = {"ZMQChannelsWebsocketConnection": {"limit_rate": False}}
# A trial that has not shown its last line by then is recorded as not finished
# (``--timeout`` sets another, to let a slow page finish before its heap is measured).
TRIAL_TIMEOUT = 240.0


class Bench:
    """One JupyterLab with jupyter_lapd, one Chromium, and the trials run on them."""

    def __init__(
        self, home: Path, timeout: float = TRIAL_TIMEOUT, iopub_limit: bool = True
    ) -> None:
        self.timeout = timeout  # seconds a trial may take to show its last line
        self.root = home / "root"
        limits = None if iopub_limit else NO_IOPUB_LIMIT
        self.server = BenchServer(home, self.root, lab=True, server_config=limits)

    def __enter__(self) -> Bench:  # noqa: PYI034 (not subclassed)
        from playwright.sync_api import sync_playwright

        self.server.start()
        self._playwright = sync_playwright().start()
        self.browser = self._playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--enable-precise-memory-info",
                "--js-flags=--expose-gc",
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
            ],
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.browser.close()
        self._playwright.stop()
        self.server.stop()

    def _page(self, *scripts: str) -> Any:
        """A fresh browser context (no cache, no workspace) with the probe installed."""
        context = self.browser.new_context(viewport={"width": 1280, "height": 900})
        for script in (PAGE_PROBE, *scripts):
            context.add_init_script(script)
        return context, context.new_page()

    def _url(self, name: str) -> str:
        """The notebook alone in a workspace of its own: the server keeps workspaces, and
        the default one would open the notebooks of earlier trials too."""
        return f"{self.server.url}lab/workspaces/w{uuid.uuid4().hex[:12]}/tree/{name}?reset&token={TOKEN}"

    def _open(self, page: Any, name: str) -> None:
        page.goto(self._url(name))
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget")
        page.wait_for_function(
            "() => { const w = window.jupyterapp.shell.currentWidget;"
            " const k = w && w.sessionContext && w.sessionContext.session"
            " && w.sessionContext.session.kernel;"
            " return k && k.status === 'idle' && w.content.widgets.length > 0; }",
            timeout=120_000,
        )

    def trial(self, scenario: str, tool: str) -> dict[str, Any]:
        if scenario == "reopen_20mb":
            return self.reopen(tool)
        spec = SCENARIOS[scenario]()
        name = f"{scenario}-{tool}-{uuid.uuid4().hex[:8]}.ipynb"
        nbformat.write(spec["notebook"], self.root / name)
        context, page = self._page()
        try:
            self._open(page, name)
            before = page.evaluate(HEAP)
            page.evaluate(
                "([command, final]) => { window.__bench.marker = () => window.__bench.tail().includes(final);"
                " window.__bench.t0 = performance.now();"
                " void window.jupyterapp.commands.execute(command); }",
                [COMMANDS[tool], spec["final"]],
            )
            shown = self._wait_shown(page)
            if tool == "background":
                self._wait_run_end(name)
            elif shown is not None:
                self._wait_kernel_idle(page)
            # else a page that has not shown the last line in its timeout is still
            # working through the output, its kernel busy for it: measured as it is
            return {**self._measure(page, shown), "heap_before": before}
        finally:
            context.close()
            self._shutdown_kernels()

    def reopen(self, tool: str) -> dict[str, Any]:
        name = f"reopen-{tool}-{uuid.uuid4().hex[:8]}.ipynb"
        nbformat.write(reopen_notebook(), self.root / name)
        if tool == "background":
            context, page = self._page()
            self._open(page, name)
            page.evaluate(
                "() => void window.jupyterapp.commands.execute('lapd:run-all-in-background')"
            )
            self._wait_running(name)
            context.close()
            time.sleep(3)
        since = time.time()
        # Live: the running cell shows a tick printed after the reopening. Stock: the
        # notebook's first earlier output is shown. Timed from the page's first request
        # for the notebook: JupyterLab's own start before it (its long tasks included)
        # is the same for both and not the notebook's ("opened": from the navigation).
        if tool == "background":
            test = (
                "const m = /tick (\\d+\\.\\d+)\\s*$/.exec(window.__bench.tail());"
                f" return m !== null && parseFloat(m[1]) > {since:.3f};"
            )
        else:
            test = (
                "return document.querySelector('.jp-Notebook .jp-OutputArea-output pre') !== null;"
            )
        marker = (
            f"window.__bench.t0Resource = 'api/contents/{name}';"
            f" window.__bench.marker = () => {{ {test} }};"
        )
        if tool == "background":
            # The running cell's model has the line (in_model): what the page's own
            # rendering of the cell adds to it shows as "shown" minus this.
            marker += (
                " window.__bench.modelMarker = () => { const w = window.jupyterapp"
                " && window.jupyterapp.shell.currentWidget; const m = w && w.content"
                " && w.content.model; if (!m || m.cells.length === 0) return false;"
                " const o = m.cells.get(m.cells.length - 1).outputs;"
                " const t = o && o.length ? String(o.get(o.length - 1).toJSON().text) : '';"
                " const x = /tick (\\d+\\.\\d+)\\s*$/.exec(t);"
                f" return x !== null && parseFloat(x[1]) > {since:.3f}; }};"
            )
        context, page = self._page(marker)
        try:
            page.goto(self._url(name))
            result = self._measure(page, self._wait_shown(page))
            in_model = page.evaluate("() => window.__bench.inModel")
            t0 = page.evaluate("() => window.__bench.t0")
            result["in_model"] = None if in_model is None else (in_model - t0) / 1000
            result["opened"] = t0 / 1000
            return result
        finally:
            context.close()
            for run in self.server.request("GET", "lapd/api/runs?status=running")["runs"]:
                self.server.request("POST", f"lapd/api/runs/{run['id']}/cancel")
            self._shutdown_kernels()

    def _wait_shown(self, page: Any) -> float | None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            shown = page.evaluate(
                "() => window.__bench.shown === null ? null"
                " : window.__bench.shown - window.__bench.t0"
            )
            if shown is not None:
                return float(shown) / 1000
            time.sleep(0.25)
        return None

    def _wait_run_end(self, name: str) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            runs = self.server.request("GET", f"lapd/api/runs?path={name}")["runs"]
            if runs and all(run["status"] in FINAL for run in runs):
                return
            time.sleep(0.5)

    def _wait_running(self, name: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = self.server.request("GET", f"lapd/api/runs?path={name}")["runs"]
            if any(run["status"] == "running" for run in runs):
                time.sleep(2)  # the last cell is printing its ticks
                return
            time.sleep(0.25)
        raise RuntimeError(f"the run of {name} did not start")

    def _wait_kernel_idle(self, page: Any) -> None:
        page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.sessionContext.session"
            ".kernel.status === 'idle'",
            timeout=self.timeout * 1000,
        )

    def _measure(self, page: Any, shown: float | None) -> dict[str, Any]:
        page.wait_for_timeout(2000)  # what the page does once the last line is in
        tasks = page.evaluate(
            "() => window.__bench.longtasks.filter(([start]) => start >= window.__bench.t0)"
            ".map(([, duration]) => duration)"
        )
        heap = page.evaluate(HEAP)
        return {
            "shown": shown,
            "longest_task": max(tasks, default=0.0) / 1000,
            "long_tasks_sum": sum(tasks) / 1000,
            "heap": heap,
        }

    def _shutdown_kernels(self) -> None:
        for session in self.server.request("GET", "api/sessions"):
            self.server.request("DELETE", f"api/sessions/{session['id']}")


def summarize(trials: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Median of each measure per scenario and tool; a trial that never showed its last
    line makes ``shown`` None (not finished within the timeout) for the median too."""
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for scenario in dict.fromkeys(t["scenario"] for t in trials):
        summary[scenario] = {}
        for tool in TOOLS:
            mine = [t for t in trials if t["scenario"] == scenario and t["tool"] == tool]
            if not mine:
                continue
            row: dict[str, Any] = {"trials": len(mine)}
            for key in ("shown", "longest_task", "long_tasks_sum", "heap"):
                values = [t[key] for t in mine]
                row[key] = None if None in values else statistics.median(values)
            if all("heap_before" in t for t in mine):
                row["heap_growth"] = statistics.median(t["heap"] - t["heap_before"] for t in mine)
            summary[scenario][tool] = row
    return summary


def table(summary: dict[str, dict[str, dict[str, Any]]], timeout: float = TRIAL_TIMEOUT) -> str:
    """The Markdown table of medians, as the docs show it."""
    rows = [
        (
            "| scenario | | last line shown after | longest task | sum of long tasks"
            " | JS heap after | heap growth in the run |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    labels = {"stock": "stock JupyterLab", "background": "Run in background"}
    for scenario, tools in summary.items():
        for tool, row in tools.items():
            shown = (
                f"not within {timeout:.0f} s" if row["shown"] is None else f"{row['shown']:.1f} s"
            )
            growth = f"{row['heap_growth'] / 2**20:+.1f} MB" if "heap_growth" in row else "n/a"
            rows.append(
                f"| {scenario} | {labels[tool]} | {shown} | {row['longest_task'] * 1000:.0f} ms"
                f" | {row['long_tasks_sum']:.2f} s | {row['heap'] / 2**20:.0f} MB | {growth} |"
            )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", action="append", choices=ALL, help="a scenario (repeatable)")
    parser.add_argument(
        "--tool", action="append", choices=TOOLS, help="only this tool (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "ui.json")
    parser.add_argument(
        "--timeout",
        type=float,
        default=TRIAL_TIMEOUT,
        help=f"seconds a trial may take to show its last line (default {TRIAL_TIMEOUT:.0f})",
    )
    parser.add_argument(
        "--no-iopub-limit",
        action="store_true",
        help="lift the server's IOPub rate limits, so that stock JupyterLab's page gets every output",
    )
    args = parser.parse_args(argv)
    tools = tuple(t for t in TOOLS if t in (args.tool or TOOLS))
    trials: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="lapd-bench-ui-") as home,
        Bench(Path(home), args.timeout, not args.no_iopub_limit) as bench,
    ):
        for scenario in args.only or ALL:
            for round_ in range(args.rounds):
                order = tools if round_ % 2 == 0 else tools[::-1]
                for tool in order:
                    result = bench.trial(scenario, tool)
                    trials.append({"scenario": scenario, "tool": tool, "round": round_, **result})
                    print(json.dumps(trials[-1]), flush=True)
    summary = summarize(trials)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": {"platform": platform.platform(), "python": platform.python_version()},
                "timeout": args.timeout,
                "iopub_limit": "off" if args.no_iopub_limit else "the server's default",
                "trials": trials,
                "summary": summary,
            },
            indent=1,
        )
        + "\n"
    )
    print(table(summary, args.timeout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
