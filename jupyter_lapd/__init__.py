"""Backend-persistent notebook execution for Jupyter: extension entry points."""

from __future__ import annotations

from typing import Any

try:
    from ._version import __version__
except ImportError:  # pragma: no cover - only outside an installed tree
    import warnings

    warnings.warn("Importing 'jupyter_lapd' outside a proper installation.", stacklevel=1)
    __version__ = "dev"


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import Lapd

    return [{"module": "jupyter_lapd", "app": Lapd}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-lapd"}]
