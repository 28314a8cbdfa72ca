"""Durability: every event of every run, kept so that nothing a kernel printed is lost.

``store`` is the SQLite database of runs and their event journal (``journalrows``: an
event as a row; ``damage``: a damaged database kept aside); ``eventhub`` numbers a run's
events, fans them out to live subscribers and journals them in batches; ``streamfiles``
keeps long stream texts beside the database; ``runowners`` and ``processlocks`` say which
process drives a run; ``recovery`` replays the journal of a run whose process died into
its notebook, and ``replay`` rebuilds a finished run's outputs. Imports ``notebook`` and
``outputs``, never ``run``, ``server``, ``headless`` or ``cli``.
"""
