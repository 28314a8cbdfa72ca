"""The settings a run has in the server and in a headless run: one class, one section."""

from __future__ import annotations

import subprocess
import sys

import pytest
from traitlets import TraitError
from traitlets.config import Config

from jupyter_lapd.config import RunSettings
from jupyter_lapd.server.app import Lapd


def test_the_server_and_a_headless_run_read_the_same_settings_from_c_lapd():
    config = Config()
    config.Lapd.flush_interval = 0.25
    config.Lapd.store_widget_state = False
    config.Lapd.ipython_hist_file = ""
    headless = RunSettings.from_config(config)
    server = Lapd(config=config)
    for name in RunSettings.class_traits(config=True):
        assert getattr(headless, name) == getattr(server, name), name
    assert headless.flush_interval == 0.25
    assert headless.store_widget_state is False


def test_an_invalid_run_setting_is_refused_as_the_server_refuses_it():
    config = Config()
    config.Lapd.flush_interval = 0
    with pytest.raises(TraitError, match="flush_interval must be > 0"):
        RunSettings.from_config(config)
    with pytest.raises(TraitError, match="flush_interval must be > 0"):
        Lapd(config=config)


def test_reading_the_run_settings_does_not_import_the_server():
    # what a headless run and every `jupyter lapd` command pay at start-up
    code = (
        "import sys\n"
        "from traitlets.config import Config\n"
        "from jupyter_lapd.config import RunSettings\n"
        "RunSettings.from_config(Config({'Lapd': {'flush_interval': 2.0}}))\n"
        "print(sorted(m for m in sys.modules if m.startswith('jupyter_server')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
