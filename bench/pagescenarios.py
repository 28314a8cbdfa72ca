"""The notebooks ``make bench-ui`` runs: each scenario's one cell and the text of its last
line (what the page must show for the run to count as shown)."""

from __future__ import annotations

from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

REOPEN_NOTEBOOK_BYTES = 20_000_000


def _notebook(sources: list[str]) -> nbformat.NotebookNode:
    nb = new_notebook(cells=[new_code_cell(source) for source in sources])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def lines(count: int) -> dict[str, Any]:
    """One cell printing ``count`` numbered lines as fast as it can."""
    last = f"line {count - 1} of {count}"
    source = f"for i in range({count}):\n    print(f'line {{i}} of {count}')"
    return {"notebook": _notebook([source]), "final": last}


def animation(frames: int = 10_000) -> dict[str, Any]:
    """A ``clear_output(wait=True)`` animation: each frame replaces the last."""
    source = (
        "from IPython.display import clear_output\n"
        f"for i in range({frames}):\n"
        "    clear_output(wait=True)\n"
        f"    print(f'frame {{i}} of {frames}', flush=True)"
    )
    return {"notebook": _notebook([source]), "final": f"frame {frames - 1} of {frames}"}


def tqdm_bar(steps: int = 100_000) -> dict[str, Any]:
    """A tqdm bar redrawn (``\\r``) at every one of ``steps`` steps, on stderr."""
    source = (
        "from tqdm import tqdm\n"
        f"for i in tqdm(range({steps}), mininterval=0, miniters=1, ascii=True):\n"
        "    pass"
    )
    return {"notebook": _notebook([source]), "final": f"{steps}/{steps}"}


def reopen_notebook(target_bytes: int = REOPEN_NOTEBOOK_BYTES) -> nbformat.NotebookNode:
    """200 cells holding ``target_bytes`` of earlier outputs, then a cell that prints a
    timestamped tick every 0.1 s for a minute."""
    nb = _notebook([f"x{i} = {i}" for i in range(200)])
    text = "".join(f"earlier output line {j}\n" for j in range(target_bytes // 200 // 26))
    for i, cell in enumerate(nb.cells):
        cell.execution_count = i + 1
        cell.outputs = [new_output("stream", name="stdout", text=text)]
    nb.cells.append(
        new_code_cell(
            "import time\nfor i in range(600):\n"
            "    print(f'tick {time.time():.3f}', flush=True)\n    time.sleep(0.1)"
        )
    )
    return nb


SCENARIOS = {
    "lines_100k": lambda: lines(100_000),
    "lines_1m": lambda: lines(1_000_000),
    "animation_10k": animation,
    "tqdm_100k": tqdm_bar,
}
ALL = (*SCENARIOS, "reopen_20mb")
