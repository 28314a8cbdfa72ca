"""Jupyter's output semantics: kernel messages to run events, run events to nbformat outputs.

``model`` turns iopub messages into events and events into the outputs JupyterLab would
have saved (streams merged, ``clear_output(wait=True)``, display updates); ``streams``
applies ``\\r`` and ``\\b`` to stream text, bounded. Every other package may import from
here; this package imports no other part of jupyter_lapd.
"""
