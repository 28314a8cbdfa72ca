"""Runs with no Jupyter server: a container job, a preemptible machine.

``headlessrun`` runs a notebook in this process with the server's own run, journal and
writer, writing the file as outputs arrive and journaling beside the notebook;
``options`` is what it is asked, where it reports and the exit codes it ends with; resuming
after a kill (``run.resume``) and parameters (``notebook.parameters``) are shared with the
server. The command line (``cli``) imports from here; this package imports ``run``,
``journal`` and ``notebook``, never ``server``.
"""
