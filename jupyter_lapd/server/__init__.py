"""The Jupyter server extension: settings, REST and WebSocket handlers, the RunManager.

The manager admits runs, queues them beyond ``max_concurrent_runs``, cancels them, follows
the server's own events (renames, deletes, kernel restarts) and, at start-up, recovers the
runs a dead server left active. Nothing else imports from this package: it is the top of
the server mode (``headless`` is the top of the other).
"""
