"""The Lapd server extension: configuration traits and the wiring of store, manager, handlers."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Enum, Float, Int, TraitError, validate

from ..config import RunSettings, default_db_path
from ..journal.damage import damaged, keep_aside
from ..journal.processlocks import server_lock
from ..journal.store import Store
from ..journal.streamfiles import folder_for
from ..notebook.destinations import Destinations
from ..notebook.jupytextpairs import paired_paths_of
from ..run.gcfreeze import freeze_startup_objects
from ..run.kernels import KernelProvider
from ..run.stopnotice import DEFAULT_GRACE, INTERRUPT, ON_SIGTERM
from .handlers import Service, route_table
from .manager import RunManager
from .serverevents import ServerEventFollower

__all__ = ["Lapd", "default_db_path"]


class Lapd(ExtensionApp, RunSettings):
    """Backend-persistent notebook execution: runs cells on the server, writes the file.

    The settings a headless run shares (``c.Lapd.flush_interval``, ...) are
    ``RunSettings``'; those here are the server's alone."""

    name = "jupyter_lapd"
    description = "Run notebooks in the background; every output reaches the .ipynb on disk."
    load_other_extensions = True

    max_concurrent_runs = Int(
        4,
        config=True,
        help="Runs that may execute at once (default 4); more are queued. 0 means no limit.",
    )

    @validate("max_concurrent_runs")
    def _validate_max_concurrent_runs(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 0:
            raise TraitError("Lapd.max_concurrent_runs must be >= 0 (0: no limit)")
        return int(proposal["value"])

    on_server_restart = Enum(
        ["mark_interrupted", "rerun", "rerun_from_failed"],
        default_value="mark_interrupted",
        config=True,
        help=(
            "What to do at startup with runs that were active when the server stopped "
            "(their journaled outputs are put into the notebook either way): "
            "'mark_interrupted' (default) records them as interrupted; 'rerun' also starts "
            "each again from its first cell on a fresh kernel, as a new run whose "
            "resumed_from names the old one; 'rerun_from_failed' reruns only the cells from "
            "the first that did not finish, after the setup cells (tagged setup, parameters "
            "or injected-parameters), keeping the outputs of the others."
        ),
    )

    on_sigterm = Enum(
        list(ON_SIGTERM),
        default_value=INTERRUPT,
        config=True,
        help=(
            "What the server's shutdown (SIGTERM, a preempted machine's notice, `jupyter "
            "server stop`, File > Shut Down) does to running runs: 'interrupt' (default) "
            "interrupts each kernel, so the running cell sees KeyboardInterrupt and can save "
            "a checkpoint, and waits for the cell to end; 'stop' stops them at once. Either "
            "way each run ends interrupted with its file written within sigterm_grace."
        ),
    )

    sigterm_grace = Float(
        DEFAULT_GRACE,
        config=True,
        help=(
            "Seconds the server's shutdown gives running runs to end, their files written "
            "(default 25: inside a Kubernetes pod's 30 s terminationGracePeriodSeconds). "
            "Must be > 0."
        ),
    )

    @validate("sigterm_grace")
    def _validate_sigterm_grace(self, proposal: dict[str, Any]) -> float:
        if proposal["value"] <= 0:
            raise TraitError("Lapd.sigterm_grace must be > 0 seconds")
        return float(proposal["value"])

    history_days = Float(
        30.0,
        config=True,
        help="Days to keep finished runs and their journals (default 30). 0 keeps them forever.",
    )

    @validate("history_days")
    def _validate_history_days(self, proposal: dict[str, Any]) -> float:
        if proposal["value"] < 0:
            raise TraitError("Lapd.history_days must be >= 0 (0: keep forever)")
        return float(proposal["value"])

    def initialize_settings(self) -> None:
        serverapp = self.serverapp
        assert serverapp is not None
        self.service = Service()
        self.manager: RunManager | None = None
        self._hooked: list[Any] = []  # contents managers (by identity: not all hash)
        root = os.path.abspath(serverapp.root_dir)
        store = self._open_store()
        if store is None:
            return
        self._lock = server_lock(folder_for(self.db_path), root)
        holder = self._lock.acquire()
        if holder is not None:
            store.close()
            self._refuse(
                f"another Jupyter server ({holder}) manages the runs of {root} in the runs"
                f" database {self.db_path}: stop it, or give this server a database of its"
                " own (c.Lapd.db_path)"
            )
            return
        self.store = store
        kernels = KernelProvider(
            serverapp.kernel_manager,
            serverapp.session_manager,
            serverapp.kernel_spec_manager,
            ipython_hist_file=self.ipython_hist_file,
        )
        destinations = Destinations(serverapp, self.log, flush_interval=self.flush_interval)
        self.manager = RunManager(
            self.store,
            kernels,
            root_dir=root,
            flush_interval=self.flush_interval,
            max_concurrent_runs=self.max_concurrent_runs,
            history_days=self.history_days,
            on_server_restart=self.on_server_restart,
            on_sigterm=self.on_sigterm,
            log=self.log,
            max_output_bytes=self.max_output_bytes,
            store_widget_state=self.store_widget_state,
            route=destinations,
            reader=destinations,
        )
        self.service = Service(self.manager)
        self.settings["lapd_manager"] = self.manager
        self._keep_outputs_on_save(serverapp.contents_manager)
        ServerEventFollower(self.manager, self.log).listen(serverapp.event_logger)

    def _open_store(self) -> Store | None:
        """The runs database, or None (with every endpoint answering why): a damaged
        file is kept aside under a new name, never deleted, and a fresh one started."""
        try:
            return Store(self.db_path)
        except sqlite3.DatabaseError as e:
            if not damaged(e):
                self._refuse(f"the runs database {self.db_path} cannot be opened: {e}")
                return None
            kept = keep_aside(self.db_path)
            self.log.error(
                "jupyter_lapd: the runs database %s is damaged (%s): kept as %s, and a new"
                " one started (the runs recorded there are not listed)",
                self.db_path,
                e,
                kept,
            )
        except OSError as e:
            self._refuse(f"the runs database {self.db_path} cannot be opened: {e}")
            return None
        try:
            return Store(self.db_path)
        except (sqlite3.DatabaseError, OSError) as e:
            self._refuse(f"the runs database {self.db_path} cannot be opened: {e}")
            return None

    def _refuse(self, reason: str) -> None:
        """Serve no run, and say why: in the log now, and in every endpoint's answer."""
        self.service.unavailable = f"jupyter_lapd cannot serve runs: {reason}"
        self.log.error("%s", self.service.unavailable)

    def initialize_handlers(self) -> None:
        self.handlers.extend(route_table(self.service))

    def _keep_outputs_on_save(self, contents_manager: Any) -> None:
        """Saves from any client (a browser tab with stale outputs included) keep the
        outputs of a run that is writing the same notebook, or another file of its
        jupytext pair.

        Hooked into every contents manager the server has had: jupytext's server extension
        replaces the server's after this one has loaded (extensions load in name order),
        and an extension loaded in between may still hold the first one.
        """
        if contents_manager is None or any(cm is contents_manager for cm in self._hooked):
            return
        contents_manager.register_pre_save_hook(self._merge_save)
        self._hooked.append(contents_manager)

    def _merge_save(self, model: dict[str, Any], path: str, **kwargs: Any) -> None:
        if self.manager is None:
            return
        self.manager.merge_save(model, path, **kwargs)
        for other in paired_paths_of(kwargs.get("contents_manager"), path):
            self.manager.merge_save(model, other, **kwargs)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        if self.manager is None:
            return
        # every extension has loaded by now: this is the contents manager that saves
        self._keep_outputs_on_save(serverapp.contents_manager)
        if self.freeze_startup_objects:  # before any run: a run's objects are collectable
            frozen = freeze_startup_objects()
            self.log.debug("jupyter_lapd: %d objects left out of garbage collections", frozen)
        try:
            await self.manager.start()
        except sqlite3.Error as e:  # locked by another program all along, say
            self._refuse(f"the runs database {self.db_path} cannot be read: {e}")
            return
        self.log.info("jupyter_lapd: runs database at %s", self.db_path)

    async def stop_extension(self) -> None:
        if self.manager is None:
            return
        await self.manager.stop(timeout=self.sigterm_grace)
        self.store.close()
        self._lock.release()
