"""``jupyter lapd``: the command line, for a running server or for the database alone.

``main`` holds the subcommands; ``basecommand`` what they share (config, server,
database); ``serverclient`` gets runs from a server's REST API and events socket or from
the database; ``render`` and ``runlog`` print runs, details and logs; ``runheadless``
is ``jupyter lapd run --headless``. Nothing imports from this package.
"""
