"""One run, end to end: its cells in order on a kernel, each output read as it arrives.

``activerun.ActiveRun`` is a run from its first cell to its last event: ``ActiveRun.emit``
has the hub number each event and hands it to the run's sinks (``eventsinks``: its
outputs, the notebook's writer); ``cellloop.CellLoop`` sends its cells one after the
other; ``recordsaver`` saves its record, ``outcome`` says how it ended; ``executor`` and
``cellclient`` drive nbclient on the kernel; ``iopub`` reads the kernel's messages; ``kernels`` provides the kernel. The server
(``server``) and the no-server mode (``headless``) import from here; this package imports
``journal``, ``notebook`` and ``outputs``, never them.
"""
