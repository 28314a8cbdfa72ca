"""The notebook file cell by cell: the same bytes as nbformat, read without one long C call."""

from __future__ import annotations

import json

import nbformat
import pytest
from conftest import make_notebook

from jupyter_lapd.notebook.nbfile import (
    _DUMPS,
    NotANotebook,
    _indented,
    _loads_by_cell,
    parse_notebook,
)


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
    # a schema flaw is read as nbformat.read reads it (JupyterLab opens such files)
    flawed = parse_notebook(
        json.dumps({**json.loads(nbformat.writes(make_notebook(["1"]))), "x": 1})
    )
    assert flawed.cells[0].source == "1"
    for not_a_notebook in ([], {"nbformat": 4, "cells": "no"}, {"nbformat": 9, "cells": []}):
        with pytest.raises((NotANotebook, TypeError)):
            parse_notebook(json.dumps(not_a_notebook))


def test_a_stored_output_that_breaks_the_schema_is_read_and_kept():
    nb = json.loads(nbformat.writes(make_notebook(["print(1)"])))
    nb["cells"][0]["outputs"] = [{"output_type": "stream", "text": "no name\n"}]
    parsed = parse_notebook(json.dumps(nb))
    assert parsed.cells[0].outputs == [{"output_type": "stream", "text": "no name\n"}]


def test_cells_without_ids_or_with_a_taken_one_are_given_none_on_read():
    nb = json.loads(nbformat.writes(make_notebook(["1", "2", "3"])))
    del nb["cells"][0]["id"]
    nb["cells"][2]["id"] = nb["cells"][1]["id"]
    parsed = parse_notebook(json.dumps(nb))  # nbformat 4.5: nbformat would invent them
    assert [c.get("id") for c in parsed.cells] == [None, "c1", None]
