"""The notebook file cell by cell: the same bytes as nbformat, read without one long C call."""

from __future__ import annotations

import json

import nbformat
import pytest
from conftest import make_notebook

from jupyter_lapd.nbfile import _DUMPS, _indented, _loads_by_cell, parse_notebook


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, float("nan"), float("inf"), -float("inf"), True, False, None]},
        {"text": ["line\n", 'quote " and \\ back\n', "ünï \u2028 \x00"], "empty": {}, "l": []},
        {"nested": {"z": [["a"], {"q": 1e300, "n": 10**30, "neg": -0.0}]}},
        ["only", "strings\n"],
        {"tuple": ("t", "u")},
    ],
)
def test_the_fast_encoder_writes_what_json_dumps_writes(value):
    for depth in (0, 1, 2):
        expected = json.dumps(value, **_DUMPS).replace("\n", "\n" + " " * depth)
        assert _indented(value, depth) == expected


@pytest.mark.parametrize("compact", [False, True])
def test_parse_notebook_reads_what_nbformat_reads(compact):
    nb = make_notebook(["print(1)", ("markdown", "# ü\nnotes"), "x = {'a': [1, 2]}"])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="a\nb\n")]
    text = nbformat.writes(nb)
    if compact:  # any valid JSON layout, not only nbformat's
        text = json.dumps(json.loads(text), separators=(",", ":"))
    assert _loads_by_cell(text) == json.loads(text)
    assert parse_notebook(text) == nbformat.reads(text, as_version=4)


def test_parse_notebook_converts_old_formats_and_rejects_bad_input():
    old = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    old.nbformat_minor = 4
    del old.cells[0]["id"]
    text = json.dumps(old)
    assert parse_notebook(text).cells[0].source == "1"
    with pytest.raises(json.JSONDecodeError):
        parse_notebook('{"cells": [}')
    with pytest.raises(nbformat.ValidationError):
        parse_notebook(json.dumps({**json.loads(nbformat.writes(make_notebook(["1"]))), "x": 1}))
