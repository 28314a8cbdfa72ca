"""Which names a cell's code defines and which it reads, found by reading the source.

Used for one hint only: a from-failed resume with no setup cells names the finished
cells that define what the resumed cells use. A static look, no guessing beyond it: a
name set by ``exec``, ``globals()`` or a ``%run`` is not seen, and a cell that does not
parse (a syntax error, a magic IPython cannot translate) defines and reads nothing.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
from collections.abc import Sequence

from nbformat import NotebookNode

# names every IPython kernel has without a cell defining them
_BUILTINS = frozenset(dir(builtins)) | {"get_ipython", "display", "In", "Out", "exit", "quit"}


def _python(source: str) -> ast.Module | None:
    """The cell as Python, IPython's magics and ``!`` commands translated as the kernel
    translates them (into calls of ``get_ipython()``, whose arguments are strings)."""
    with contextlib.suppress(Exception):  # no IPython, or input it cannot read
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)  # type: ignore[no-untyped-call]
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def defined(source: str) -> set[str]:
    """Names the cell binds at the top level of the kernel's namespace."""
    tree = _python(source)
    if tree is None:
        return set()
    names: set[str] = set()
    for node in _top_level(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.Global):
            names.update(node.names)
    return names


def used(source: str) -> set[str]:
    """Names the cell reads anywhere, builtins left out."""
    tree = _python(source)
    if tree is None:
        return set()
    return {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    } - _BUILTINS


def _top_level(tree: ast.Module) -> list[ast.AST]:
    """The nodes whose bindings land in the module namespace: everything but the bodies
    of functions, classes and comprehensions (their names are their own)."""
    found: list[ast.AST] = []
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        found.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        pending.extend(ast.iter_child_nodes(node))
    return found


def defining_cells(nb: NotebookNode, done: Sequence[str], resumed: Sequence[str]) -> list[str]:
    """The cells among ``done`` (in their order) that define a name some cell of
    ``resumed`` reads, unless a resumed cell before it defines the name again."""
    sources = {c["id"]: c.source for c in nb.cells if c.cell_type == "code"}
    needed: set[str] = set()
    redefined: set[str] = set()
    for cell_id in resumed:
        source = sources.get(cell_id, "")
        needed |= used(source) - redefined
        redefined |= defined(source)
    return [cell_id for cell_id in done if defined(sources.get(cell_id, "")) & needed]
