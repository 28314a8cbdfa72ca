"""JupyterLab's stream text, transcribed: the reference the saved stream text must equal.

``src/__tests__/notebook/streamtext.spec.ts`` checks the server's text against JupyterLab's own
output area; this transcription lets Python tests (and the conformance suite, which
compares with nbclient's raw text) apply the same rules to a whole text.
"""

from __future__ import annotations

import re


def jupyterlab_stream_text(text: str) -> str:
    """``text`` as JupyterLab's output area keeps it (@jupyterlab/outputarea 4.6,
    ``Private.processText``): ``\\r`` moves the cursor to the start of the line and what
    follows overwrites the line character by character; ``\\b`` deletes back (the character
    before the cursor and the one under it); ``\\n`` goes to the end of the text."""
    if "\r" not in text and "\b" not in text:
        return text
    out = ""
    cursor = 0
    for piece in re.split(r"([\n\b\r])", text):
        if piece == "\b":
            if cursor > 0 and out[cursor - 1] != "\n":
                out = out[: cursor - 1] + out[cursor + 1 :]
                cursor -= 1
        elif piece == "\r":
            cursor = out.rfind("\n", 0, cursor) + 1
        elif piece == "\n":
            out += "\n"
            cursor = len(out)
        elif piece:
            out = out[:cursor] + piece + out[cursor + len(piece) :]
            cursor += len(piece)
    return out
