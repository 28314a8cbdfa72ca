"""Notebook parameters as papermill injects them: a code cell after the `parameters` cell."""

from __future__ import annotations

import ast
import keyword
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..models import InvalidRunRequest

if TYPE_CHECKING:
    from nbformat import NotebookNode

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
# A fixed id, so that a resumed run finds the injected cell under the id its first attempt
# recorded, even though every attempt writes the cell anew.
INJECTED_ID = "injected-parameters"

_PLAIN = (bool, int, float, str, type(None))


def parse_value(text: str) -> Any:
    """A command-line value as Python: a literal when it is one of int, float, bool, None
    or a quoted str, else the text itself (so ``-p name world`` needs no quotes)."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, _PLAIN) else text


def check_name(name: str) -> str:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise InvalidRunRequest(f"parameter name {name!r} is not a Python identifier")
    return name


def render(parameters: Sequence[tuple[str, Any]]) -> str:
    """The injected cell's source: one assignment per parameter, values rendered by repr."""
    lines = ["# Parameters"] + [f"{name} = {value!r}" for name, value in parameters]
    return "\n".join(lines) + "\n"


def _tagged(nb: NotebookNode, tag: str) -> int:
    for index, cell in enumerate(nb.cells):
        if tag in (cell.get("metadata", {}).get("tags") or []):
            return index
    return -1


def inject(nb: NotebookNode, parameters: Sequence[tuple[str, Any]]) -> tuple[str, bool]:
    """Put ``parameters`` into ``nb`` as papermill does; return the cell's id and whether a
    cell tagged ``parameters`` was found.

    A cell tagged ``injected-parameters`` from an earlier injection is replaced in place;
    else the new cell goes right after the first cell tagged ``parameters`` (so it
    overrides that cell's defaults), or at the top when there is none.
    """
    from nbformat.v4 import new_code_cell  # here: the CLI imports this module at startup

    source = render(parameters)
    found = _tagged(nb, PARAMETERS_TAG) >= 0
    injected = _tagged(nb, INJECTED_TAG)
    if injected >= 0:
        old = nb.cells.pop(injected)
        position, cell_id = injected, old.get("id") or INJECTED_ID
    else:
        position = _tagged(nb, PARAMETERS_TAG) + 1  # 0 (the top) when there is none
        taken = {cell.get("id") for cell in nb.cells}
        cell_id = INJECTED_ID if INJECTED_ID not in taken else _free_id(taken)
    cell = new_code_cell(source, metadata={"tags": [INJECTED_TAG]})
    cell["id"] = cell_id
    nb.cells.insert(position, cell)
    return cell_id, found


def _free_id(taken: set[Any]) -> str:
    number = 2
    while f"{INJECTED_ID}-{number}" in taken:
        number += 1
    return f"{INJECTED_ID}-{number}"
