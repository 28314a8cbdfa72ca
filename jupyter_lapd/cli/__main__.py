"""``python -m jupyter_lapd.cli``: the same as ``jupyter lapd``."""

from .main import main

main()
