"""The benchmark's notebooks, generated fresh for every tool run.

Long cells print a *marker*, ``@@T<nonce>=<time.time()>``, so that a sampler reading the
file (or the journal) can tell how old the newest output it holds is. Marker lines are
flushed by the kernel: ipykernel otherwise holds stdout for up to 0.2 s, a delay every tool
would pay alike and none could shorten.
"""

from __future__ import annotations

import base64
import os
import textwrap
from dataclasses import dataclass, field
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

MARKER = "@@T{nonce}="
SCENARIOS = (
    "many_cells",
    "chatty",
    "progress",
    "display_updates",
    "big_notebook",
    "huge_output",
    "concurrent_runs",
)
# Only the server can hold 20 runs at once; the other tools have nothing to compare.
SERVER_ONLY = frozenset({"concurrent_runs"})
# Visits of each tool per round: `many_cells` lasts about half a second, and one run of it
# varies between rounds by more (0.49-0.70 s for nbclient alone) than the per-cell
# overhead it is there to measure, so its medians take three samples a round.
VISITS = {"many_cells": 3}


@dataclass
class Scenario:
    """A generated notebook (or several, for ``concurrent_runs``) and what it must end as."""

    name: str
    nonce: str
    notebooks: list[nbformat.NotebookNode]
    # cell indices whose printing is sampled for file and journal lag
    marked: list[int] = field(default_factory=list)
    expect: dict[str, Any] = field(default_factory=dict)

    @property
    def marker(self) -> str:
        return MARKER.format(nonce=self.nonce)


def _nb(sources: list[str]) -> nbformat.NotebookNode:
    cells = []
    for i, source in enumerate(sources):
        cell = new_code_cell(textwrap.dedent(source).strip())
        cell["id"] = f"b{i}"
        cells.append(cell)
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def _mark(nonce: str) -> str:
    # a helper defined in the kernel: `mark()` is the marker text for now
    return f"import sys, time\ndef mark():\n    return f'@@T{nonce}={{time.time():.6f}}'\n"


def many_cells(nonce: str, scale: float) -> Scenario:
    n = max(2, round(200 * scale))
    return Scenario("many_cells", nonce, [_nb([f"x = {i}" for i in range(n)])], [], {"cells": n})


def chatty(nonce: str, scale: float) -> Scenario:
    lines = max(1000, round(200_000 * scale))
    source = _mark(nonce) + textwrap.dedent(f"""
        for i in range({lines}):
            if i % 1000 == 0:
                print(mark(), flush=True)
            else:
                print(i)
        print(mark(), flush=True)
    """)
    return Scenario("chatty", nonce, [_nb([source])], [0], {"lines": lines + lines // 1000 + 1})


def progress(nonce: str, scale: float) -> Scenario:
    updates = max(50, round(2000 * scale))
    seconds = max(0.5, 5.0 * scale)
    bar = max(20, round(100 * scale))
    hand = _mark(nonce) + textwrap.dedent(f"""
        for i in range({updates}):
            print(f'\\r{{i + 1}}/{updates} ' + mark(), end='', flush=True)
            time.sleep({seconds / updates})
        print()
    """)
    tqdm = _mark(nonce) + textwrap.dedent(f"""
        from tqdm import tqdm
        with tqdm(total={bar}, mininterval=0.05) as bar:
            for i in range({bar}):
                time.sleep({seconds / 2 / bar})
                bar.set_postfix_str(mark(), refresh=False)
                bar.update(1)
    """)
    return Scenario("progress", nonce, [_nb([hand, tqdm])], [0, 1], {"bars": 2})


def display_updates(nonce: str, scale: float) -> Scenario:
    frames = max(20, round(300 * scale))
    pause = max(0.5, 3.0 * scale) / frames
    handle = _mark(nonce) + textwrap.dedent(f"""
        from IPython.display import HTML, display
        h = display(HTML(mark()), display_id=True)
        for i in range({frames}):
            h.update(HTML(f'<progress value={{i}} max={frames}></progress> ' + mark()))
            time.sleep({pause})
    """)
    cleared = _mark(nonce) + textwrap.dedent(f"""
        from IPython.display import HTML, clear_output, display
        for i in range({frames}):
            clear_output(wait=True)
            display(HTML(f'<table><tr><td>epoch {{i}}</td><td>' + mark() + '</td></tr></table>'))
            time.sleep({pause})
    """)
    return Scenario("display_updates", nonce, [_nb([handle, cleared])], [0, 1], {"outputs": 1})


def big_notebook(nonce: str, scale: float, target_bytes: int = 20_000_000) -> Scenario:
    """Cells that re-create ~1 MB images each (stored in the file too), then a printing cell."""
    cells = max(2, round(20 * scale))
    # ~1 MB of base64 per cell at full scale
    raw = max(1000, round(target_bytes * 3 // 4 // 20 * min(1.0, scale)))
    sources = [
        "import base64, os\nfrom IPython.display import display\n"
        f"display({{'image/png': base64.b64encode(os.urandom({raw})).decode(),"
        f" 'text/plain': '<image {i}>'}}, raw=True)"
        for i in range(cells)
    ]
    seconds = max(0.5, 5.0 * scale)
    sources.append(
        _mark(nonce)
        + textwrap.dedent(f"""
        for i in range({round(seconds * 20)}):
            print(i, mark(), flush=True)
            time.sleep(0.05)
    """)
    )
    nb = _nb(sources)
    for i, cell in enumerate(nb.cells[:-1]):
        data = base64.b64encode(os.urandom(raw)).decode()
        cell.outputs = [
            new_output("display_data", data={"image/png": data, "text/plain": f"<image {i}>"})
        ]
        cell.execution_count = i + 1
    return Scenario("big_notebook", nonce, [nb], [cells], {})


def huge_output(nonce: str, scale: float, size: int) -> Scenario:
    """One cell writing ``size`` bytes to stdout in 64 KiB blocks of 100-byte lines."""
    block = 64 * 1024
    blocks = max(4, size // block)
    source = _mark(nonce) + textwrap.dedent(f"""
        line = 'x' * 99 + '\\n'
        body = line * ({block} // 100 - 1)
        for i in range({blocks}):
            sys.stdout.write(f'{{i}} ' + mark() + '\\n' + body)
            sys.stdout.flush()
        print(mark(), flush=True)
    """)
    stamp = len(MARKER.format(nonce=nonce)) + len("1700000000.000000")
    printed = sum(len(f"{i} ") + stamp + 1 + (block // 100 - 1) * 100 for i in range(blocks))
    return Scenario("huge_output", nonce, [_nb([source])], [0], {"bytes": printed + stamp + 1})


def concurrent_runs(nonce: str, scale: float, runs: int = 20) -> Scenario:
    seconds = max(1.0, 5.0 * scale)
    source = _mark(nonce) + textwrap.dedent(f"""
        for i in range({round(seconds * 4)}):
            print(i, mark(), flush=True)
            time.sleep(0.25)
    """)
    notebooks = [_nb([source, "x = 1"]) for _ in range(runs)]
    return Scenario("concurrent_runs", nonce, notebooks, [0], {"runs": runs})


def build(name: str, nonce: str, scale: float, size: int, runs: int) -> Scenario:
    """The scenario ``name`` at ``scale`` (1.0: the sizes docs/benchmarks.md quotes)."""
    if name == "huge_output":
        return huge_output(nonce, scale, size)
    if name == "concurrent_runs":
        return concurrent_runs(nonce, scale, runs)
    maker = {
        "many_cells": many_cells,
        "chatty": chatty,
        "progress": progress,
        "display_updates": display_updates,
        "big_notebook": big_notebook,
    }[name]
    return maker(nonce, scale)  # type: ignore[operator]


def write(scenario: Scenario, folder: str) -> list[str]:
    """Write the scenario's notebooks into ``folder``; their paths."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, nb in enumerate(scenario.notebooks):
        suffix = f"_{i:02d}" if len(scenario.notebooks) > 1 else ""
        path = os.path.join(folder, f"{scenario.name}{suffix}.ipynb")
        nbformat.write(nb, path)
        paths.append(path)
    return paths
