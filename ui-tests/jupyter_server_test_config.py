"""Server configuration for integration tests.

!! Never use this configuration in production because it
opens the server to the world and provide access to JupyterLab
JavaScript objects through the global window variable.
"""

import os
from tempfile import mkdtemp

from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821

# CI and the dev container run as root.
c.ServerApp.allow_root = True  # noqa: F821
# Listen on the loopback only; keep the port in sync with playwright.config.js.
c.ServerApp.ip = "127.0.0.1"  # noqa: F821
c.ServerApp.port = int(os.environ.get("LAPD_UI_TEST_PORT", "8942"))  # noqa: F821

# Keep the run store of each test server apart from the user's own, in a fresh tmp dir.
_state_dir = mkdtemp(prefix="lapd-ui-tests-")
c.Lapd.db_path = os.path.join(_state_dir, "lapd.db")  # noqa: F821

# These servers test the plain (not collaborative) notebook: with jupyter-collaboration
# installed, turn real-time collaboration off (page config `disableRTC`: the docprovider
# then provides no shared models). jupyter_server_collab_test_config.py turns it on.
# Its stores go to the tmp dir too, never into ui-tests/ or the server root.
c.YDocExtension.disable_rtc = True  # noqa: F821
c.SQLiteYStore.db_path = os.path.join(_state_dir, "ystore.db")  # noqa: F821
c.YDocExtension.session_store_path = os.path.join(  # noqa: F821
    _state_dir, "collaboration_sessions.json"
)

# Uncomment to set server log level to debug level
# c.ServerApp.log_level = "DEBUG"
