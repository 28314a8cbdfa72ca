"""The ``.ipynb`` on disk and the layers that may own it.

``resolve`` finds a run's notebook and its cells; ``nbfile`` reads and serialises it cell
by cell; ``cellmerge`` merges a run's cells into it atomically, keeping everything the run
does not own; ``writer`` decides when; ``destinations`` routes each write to the file, to
jupytext's contents manager (``jupytextpairs``) or to a collaboration room's shared
document (``collabroom``). Imports ``outputs`` only; ``run``, ``journal``, ``server`` and
``headless`` import from here.
"""
