"""What the server extension and ``jupyter lapd`` must agree on, without importing the server.

The command line reads ``c.Lapd.db_path`` from the same config files as the server; doing
that through the ``Lapd`` extension class would import Jupyter Server (and, through its
event schemas, jsonschema's format checkers), which costs every ``jupyter lapd list``
about a second.
"""

from __future__ import annotations

import os

from jupyter_core.paths import jupyter_data_dir

#: the extension's own config file, as ExtensionApp names it (``jupyter_<name>_config``)
CONFIG_FILE_NAME = "jupyter_jupyter_lapd_config"


def default_db_path() -> str:
    """Where the server and ``jupyter lapd`` keep runs unless ``c.Lapd.db_path`` says else."""
    return os.path.join(jupyter_data_dir(), "lapd", "runs.db")


def sidecar_path(os_path: str) -> str:
    """A notebook's own journal of headless runs: ``.<name>.lapd.db`` in its folder."""
    folder, name = os.path.split(os.path.abspath(os_path))
    return os.path.join(folder, f".{name}.lapd.db")


def checked_db_path(value: object) -> str:
    """``c.Lapd.db_path`` as both sides use it; ValueError if it cannot hold runs."""
    text = str(value)
    if not text or text == ":memory:":
        raise ValueError("Lapd.db_path must be a file path (runs must outlive the server)")
    return os.path.abspath(os.path.expanduser(text))
