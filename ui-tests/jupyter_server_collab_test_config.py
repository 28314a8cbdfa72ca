"""Server configuration of the real-time collaboration UI tests (playwright.collab.config.js).

The same as jupyter_server_test_config.py, on its own port, with jupyter-collaboration's
real-time collaboration on: notebooks open as shared documents, which a room on the
server saves.

!! Never use this configuration in production: it opens the server to the world and
gives access to JupyterLab's JavaScript objects through the global window variable.
"""

import os

load_subconfig(  # noqa: F821
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "jupyter_server_test_config.py")
)

# Keep the port in sync with playwright.collab.config.js.
c.ServerApp.port = int(os.environ.get("LAPD_COLLAB_TEST_PORT", "8944"))  # noqa: F821
c.YDocExtension.disable_rtc = False  # noqa: F821
