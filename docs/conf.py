"""Sphinx configuration of the jupyter_lapd documentation (``make docs``)."""

from __future__ import annotations

import warnings

from jupyter_lapd import __version__

project = "jupyter_lapd"
author = "jupyter_lapd contributors"
release = __version__
version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    # the configuration reference, generated from the server extension's traits
    "autodoc_traits",
]
# autodoc-traits warns of the inherited ExtensionApp settings without a help string,
# which the reference leaves out (_own_settings_only)
warnings.filterwarnings("ignore", category=FutureWarning, module="autodoc_traits")
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
autodoc_member_order = "bysource"

html_theme = "pydata_sphinx_theme"
html_title = "jupyter_lapd"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}


def _own_settings_only(app, what, name, obj, skip, options):  # type: ignore[no-untyped-def]
    """The configuration reference lists jupyter_lapd's own settings; those it inherits
    from jupyter_server's ExtensionApp are jupyter_server's to document, and its methods
    are not settings."""
    from jupyter_server.extension.application import ExtensionApp

    from jupyter_lapd.server.app import Lapd

    if what != "configurable":
        return skip
    return name not in set(Lapd.class_traits(config=True)) - set(ExtensionApp.class_traits())


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("autodoc-skip-member", _own_settings_only)
