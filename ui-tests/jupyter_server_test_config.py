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
c.Lapd.db_path = os.path.join(mkdtemp(prefix="lapd-ui-tests-"), "lapd.db")  # noqa: F821

# Uncomment to set server log level to debug level
# c.ServerApp.log_level = "DEBUG"
