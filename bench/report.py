"""Medians over rounds, ratios to the floor and to nbclient, the targets, a table and a chart."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

NUMERIC = (
    "wall_s",
    "exec_s",
    "rss_peak_mb",
    "rss_growth_mb",
    "writes",
    "bytes_written",
    "final_size",
    "write_cost_s",
    "delivered",
)
LAGS = ("file_lag", "journal_lag", "rest_loop", "rest_runs")
LAPD = ("lapd_session", "lapd_new", "lapd_headless")


def _median(values: Iterable[Any]) -> float | None:
    present = [float(v) for v in values if isinstance(v, (int, float))]
    return statistics.median(present) if present else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{scenario: {tool: {metric: median over the samples}}}``, plus ratios."""
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for run in runs:
        grouped.setdefault(run["scenario"], {}).setdefault(run["tool"], []).append(run)
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for scenario, by_tool in grouped.items():
        out = summary[scenario] = {}
        for tool, tool_runs in by_tool.items():
            ok = [r for r in tool_runs if "error" not in r and "skipped" not in r]
            # a scenario may be visited more than once a round (scenarios.VISITS)
            row: dict[str, Any] = {"rounds": len({r["round"] for r in ok}), "samples": len(ok)}
            errors = [r.get("error") or r.get("skipped") for r in tool_runs if r not in ok]
            if errors:
                row["errors"] = errors
            for metric in NUMERIC:
                row[metric] = _median(r.get(metric) for r in ok)
            for lag in LAGS:
                for q in ("p50", "p99", "max"):
                    row[f"{lag}_{q}"] = _median(r.get(lag, {}).get(q) for r in ok)
            if row["bytes_written"] and row["final_size"]:
                row["amplification"] = row["bytes_written"] / row["final_size"]
            row["checks"] = [r.get("check") for r in ok]
            row["load"] = [r.get("load") for r in ok]
            out[tool] = row
        for row in out.values():
            for base in ("floor", "nbclient"):
                ref = out.get(base, {})
                for metric in ("wall_s", "exec_s"):
                    if row.get(metric) and ref.get(metric):
                        row[f"{metric}_vs_{base}"] = row[metric] / ref[metric]
    return summary


def _get(summary: dict[str, Any], scenario: str, tool: str, key: str) -> Any:
    return summary.get(scenario, {}).get(tool, {}).get(key)


def targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 5's targets, each with the measured value and whether it is met."""
    found: list[dict[str, Any]] = []

    def add(name: str, tool: str, value: Any, limit: float, ok: bool | None = None) -> None:
        met = (value is not None and value <= limit) if ok is None else ok
        shown = round(value, 3) if isinstance(value, float) else value
        found.append({"target": name, "tool": tool, "value": shown, "limit": limit, "met": met})

    for tool in LAPD:
        if tool not in summary.get("many_cells", {}):
            continue
        add(
            "many_cells exec / floor",
            tool,
            _get(summary, "many_cells", tool, "exec_s_vs_floor"),
            1.10,
        )
        add(
            "many_cells exec / nbclient",
            tool,
            _get(summary, "many_cells", tool, "exec_s_vs_nbclient"),
            1.0,
        )
        add(
            "many_cells wall / nbclient",
            tool,
            _get(summary, "many_cells", tool, "wall_s_vs_nbclient"),
            1.0,
        )
        for scenario, row in summary.items():
            tr = row.get(tool)
            if not tr or scenario == "concurrent_runs":
                continue
            if tr.get("journal_lag_p99") is not None:
                add(f"{scenario} journal lag p99 (s)", tool, tr["journal_lag_p99"], 0.2)
            if tr.get("file_lag_p99") is not None:
                size = tr.get("final_size") or 0
                limit = 1.0 if size < 2e6 else max(1.0, 20 * (tr.get("write_cost_s") or 0))
                add(f"{scenario} file lag p99 (s)", tool, tr["file_lag_p99"], round(limit, 2))
        for scenario in ("chatty", "progress"):
            add(
                f"{scenario} write amplification",
                tool,
                _get(summary, scenario, tool, "amplification"),
                10,
            )
        checks = _get(summary, "progress", tool, "checks") or []
        bars = [c.get("lines_per_bar") for c in checks if c]
        add(
            "progress: one line per bar",
            tool,
            str(bars[:1]),
            0,
            ok=bool(bars) and all(b == [1, 1] for b in bars),
        )
        add(
            "big_notebook wall / nbclient",
            tool,
            _get(summary, "big_notebook", tool, "wall_s_vs_nbclient"),
            1.10,
        )
        if tool != "lapd_headless":
            add(
                "big_notebook loop stall max (ms)",
                tool,
                _get(summary, "big_notebook", tool, "rest_loop_max"),
                50,
            )
        add("huge_output RSS growth (MB)", tool, _huge_output_growth(summary, tool), 100)
        delivered = _get(summary, "huge_output", tool, "delivered")
        ok = delivered is not None and delivered > 0.999
        add("huge_output: all printed bytes journaled", tool, delivered, 0, ok=ok)
        checks = _get(summary, "huge_output", tool, "checks") or []
        elided = [bool(c and c.get("elided_marker")) for c in checks]
        add(
            "huge_output head+tail with marker",
            tool,
            str(elided[:1]),
            0,
            ok=bool(elided) and all(elided),
        )
        row = summary.get("concurrent_runs", {}).get(tool)
        if row and (row.get("rounds") or row.get("errors") != ["server only"]):
            add(
                "concurrent_runs all completed",
                tool,
                row.get("rounds"),
                0,
                ok=not row.get("errors"),
            )
            add("concurrent_runs GET /lapd/api/runs p99 (ms)", tool, row.get("rest_runs_p99"), 100)
    return found


def _huge_output_growth(summary: dict[str, Any], tool: str) -> float | None:
    """What printing 1 GB adds to the process that runs it: the server's growth during the
    run; a headless process is measured from its start (its imports, its kernel client),
    so against its own size for the trivial cells of ``many_cells``."""
    if tool != "lapd_headless":
        growth = _get(summary, "huge_output", tool, "rss_growth_mb")
        return None if growth is None else float(growth)
    huge = _get(summary, "huge_output", tool, "rss_peak_mb")
    trivial = _get(summary, "many_cells", tool, "rss_peak_mb")
    return None if huge is None or trivial is None else huge - trivial


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def table(summary: dict[str, Any]) -> str:
    """The table of docs/benchmarks.md: medians, and ratios to the floor and to nbclient."""
    header = [
        "scenario", "tool", "wall s", "x floor", "x nbclient", "exec s", "RSS MB", "writes",
        "written MB", "file MB", "ampl.", "file lag p99 s", "journal lag p99 s", "loop max ms",
        "runs p99 ms",
    ]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for scenario, by_tool in summary.items():
        for tool, row in by_tool.items():
            if not row.get("rounds"):
                note = "; ".join(str(e) for e in row.get("errors", []))[:80]
                lines.append(f"| {scenario} | {tool} | {note} |" + " |" * (len(header) - 3))
                continue
            mb = 2**20
            cells = [
                scenario, tool, _fmt(row["wall_s"]), _fmt(row.get("wall_s_vs_floor")),
                _fmt(row.get("wall_s_vs_nbclient")), _fmt(row["exec_s"]),
                _fmt(row["rss_peak_mb"], 0), _fmt(row["writes"], 0),
                _fmt(row["bytes_written"] / mb if row["bytes_written"] else None),
                _fmt(row["final_size"] / mb if row["final_size"] else None),
                _fmt(row.get("amplification"), 1), _fmt(row["file_lag_p99"]),
                _fmt(row["journal_lag_p99"]), _fmt(row["rest_loop_max"], 0),
                _fmt(row["rest_runs_p99"], 0),
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets_table(found: list[dict[str, Any]]) -> str:
    lines = ["| target | tool | measured | limit | met |", "|---|---|---|---|---|"]
    for t in found:
        limit = "" if t["limit"] == 0 else t["limit"]
        mark = "yes" if t["met"] else "**no**"
        lines.append(f"| {t['target']} | {t['tool']} | {t['value']} | {limit} | {mark} |")
    return "\n".join(lines)


def chart(summary: dict[str, Any], path: str) -> str | None:
    """A PNG: wall time relative to the floor, and file lag p99, per scenario and tool."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]'): no chart"
    scenarios = [s for s in summary if s != "concurrent_runs"]
    tools = sorted({t for s in scenarios for t in summary[s]}, key=_tool_order)
    fig, axes = plt.subplots(1, 2, figsize=(14, 5))
    width = 0.8 / max(1, len(tools))
    for i, tool in enumerate(tools):
        xs = [j + i * width for j in range(len(scenarios))]
        walls = [summary[s].get(tool, {}).get("wall_s_vs_floor") or 0 for s in scenarios]
        lags = [summary[s].get(tool, {}).get("file_lag_p99") or 0 for s in scenarios]
        axes[0].bar(xs, walls, width, label=tool)
        axes[1].bar(xs, lags, width, label=tool)
    for ax, title in zip(
        axes, ("wall time / floor (lower is better)", "file lag p99, s"), strict=True
    ):
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(scenarios))])
        ax.set_xticklabels(scenarios, rotation=20)
        ax.set_title(title)
    axes[0].axhline(1.0, color="grey", linewidth=0.8)
    axes[1].axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


def _tool_order(tool: str) -> int:
    order = ("floor", "nbclient", "papermill", *LAPD)
    return order.index(tool) if tool in order else len(order)


def readme_table(summary: dict[str, Any]) -> str:
    """The compact table of docs/benchmarks.md: per scenario and tool, medians and ratios."""
    header = [
        "scenario", "tool", "wall s (x floor, x nbclient)", "exec s", "RSS MB (+growth)",
        "writes", "ampl.", "file lag p99", "journal lag p99", "loop max ms",
    ]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for scenario, by_tool in summary.items():
        for tool in sorted(by_tool, key=_tool_order):
            row = by_tool[tool]
            if not row.get("rounds"):
                if scenario != "concurrent_runs":
                    note = "; ".join(str(e) for e in row.get("errors", []))[:60]
                    lines.append(f"| {scenario} | {tool} | {note} |" + " |" * (len(header) - 3))
                continue
            wall = f"{_fmt(row['wall_s'])} ({_fmt(row.get('wall_s_vs_floor'))}, "
            wall += f"{_fmt(row.get('wall_s_vs_nbclient'))})"
            rss = f"{_fmt(row['rss_peak_mb'], 0)} (+{_fmt(row['rss_growth_mb'], 0)})"
            cells = [
                scenario, tool, wall, _fmt(row["exec_s"]), rss, _fmt(row["writes"], 0),
                _fmt(row.get("amplification"), 1), _fmt(row["file_lag_p99"]),
                _fmt(row["journal_lag_p99"]), _fmt(row["rest_loop_max"], 0),
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
