"""What the server extension, headless runs and ``jupyter lapd`` must agree on, without
importing the server.

``RunSettings`` holds the settings a run has wherever it runs: the server extension
(``Lapd``) inherits them, and a headless run reads them from the same ``c.Lapd`` section
of the same config files. Reading them through the ``Lapd`` extension class would import
Jupyter Server (and, through its event schemas, jsonschema's format checkers), which costs
every ``jupyter lapd`` command about a second.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from traitlets import Bool, Float, Int, TraitError, Unicode, default, validate
from traitlets.config import Config, Configurable

from .outputs.streams import DEFAULT_MAX_OUTPUT_BYTES

#: IPython's history database kept in memory: a run's inputs stay out of the profile's
MEMORY = ":memory:"

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


class RunSettings(Configurable):
    """The settings of a run, the same in the server and in a headless run: configured
    as ``c.Lapd.<name>`` (the server extension ``Lapd`` inherits them)."""

    @classmethod
    def from_config(cls, config: Config) -> RunSettings:
        """The settings the ``Lapd`` section of ``config`` gives (TraitError if one is
        invalid), read without the server extension."""
        return cls(config=Config({cls.__name__: config.get("Lapd", Config())}))

    db_path = Unicode(
        config=True,
        help=(
            "Path of the SQLite database holding run records and the output journal. "
            "Default: <jupyter data dir>/lapd/runs.db. The CLI reads the same setting."
        ),
    )

    @default("db_path")
    def _db_path_default(self) -> str:
        return default_db_path()

    @validate("db_path")
    def _validate_db_path(self, proposal: dict[str, Any]) -> str:
        try:
            return checked_db_path(proposal["value"])
        except ValueError as e:
            raise TraitError(str(e)) from None

    flush_interval = Float(
        1.0,
        config=True,
        help=(
            "Seconds between writes of a running notebook's file (default 1): no output waits "
            "longer than this to reach the file. Outputs are journaled within ~0.1 s "
            "regardless; big notebooks stretch the interval so that writing stays a small "
            "share of the run. Must be > 0."
        ),
    )

    @validate("flush_interval")
    def _validate_flush_interval(self, proposal: dict[str, Any]) -> float:
        if proposal["value"] <= 0:
            raise TraitError("Lapd.flush_interval must be > 0 seconds")
        return float(proposal["value"])

    max_output_bytes = Int(
        DEFAULT_MAX_OUTPUT_BYTES,
        allow_none=True,
        config=True,
        help=(
            "Bytes of text kept per stream output in the notebook file (default 2 MiB, "
            "which JupyterLab renders without freezing). Beyond it the first and the last "
            "half are kept, joined by a line saying how many bytes were elided; the journal "
            "keeps everything, and `jupyter lapd logs <id>` prints it. None: no limit."
        ),
    )

    @validate("max_output_bytes")
    def _validate_max_output_bytes(self, proposal: dict[str, Any]) -> int | None:
        value = proposal["value"]
        if value is not None and value < 1024:
            raise TraitError("Lapd.max_output_bytes must be >= 1024 bytes (or None: no limit)")
        return None if value is None else int(value)

    ipython_hist_file = Unicode(
        MEMORY,
        config=True,
        help=(
            "IPython's history database in the kernels a run starts itself (kernel 'new' "
            "and headless runs; a session's kernel is left as it is). ':memory:' (default, "
            "as nbclient and papermill do) keeps a run's inputs out of the profile's "
            "history.sqlite, which IPython writes after every cell; '' leaves IPython's "
            "own setting; any other value is the path of the database to use."
        ),
    )

    store_widget_state = Bool(
        True,
        config=True,
        help=(
            "Save the state of the run's ipywidgets in the notebook's metadata.widgets, as "
            "nbclient's option of the same name does (default True), so that a reopened or "
            "exported notebook shows its widgets, Output widgets' outputs included; over "
            "16 MiB of JSON it is left out, with a warning in the log. False: never saved."
        ),
    )

    freeze_startup_objects = Bool(
        True,
        config=True,
        help=(
            "Once the server (or a headless run) has started, leave the objects it holds "
            "then out of Python's full garbage collections (gc.freeze), which otherwise "
            "walk all of them and stall the server ~0.1 s each time, runs included. "
            "False leaves Python's collector as it is."
        ),
    )
