"""Parameters injected as papermill does (the headless runs' use is in test_headless.py)."""

from __future__ import annotations

import pytest
from conftest import make_notebook

from jupyter_lapd.models import InvalidRunRequest
from jupyter_lapd.notebook.parameters import check_name, inject, parse_value


def test_values_are_python_literals_or_strings():
    cases = {"1": 1, "-2.5": -2.5, "True": True, "None": None, "'7'": "7", "world": "world"}
    cases |= {"[1, 2]": "[1, 2]", "1e3": 1000.0, "": ""}  # no containers: papermill's -p
    assert {text: parse_value(text) for text in cases} == cases


def test_names_must_be_identifiers():
    assert check_name("alpha_1") == "alpha_1"
    for bad in ("1x", "a-b", "class", ""):
        with pytest.raises(InvalidRunRequest, match="is not a Python identifier"):
            check_name(bad)


def test_after_the_parameters_cell_replacing_an_earlier_injection():
    nb = make_notebook(["import os", "alpha = 1", "print(alpha)"])
    nb.cells[1].metadata["tags"] = ["parameters"]
    assert inject(nb, [("alpha", 2)]) == ("injected-parameters", True)
    assert [c.source for c in nb.cells][1:3] == ["alpha = 1", "# Parameters\nalpha = 2\n"]
    assert nb.cells[2].metadata["tags"] == ["injected-parameters"]
    assert inject(nb, [("alpha", "x")]) == ("injected-parameters", True)
    assert len(nb.cells) == 4 and nb.cells[2].source == "# Parameters\nalpha = 'x'\n"


def test_at_the_top_without_a_parameters_cell():
    nb = make_notebook(["print(a)"])
    assert inject(nb, [("a", 1), ("b", None)]) == ("injected-parameters", False)
    assert nb.cells[0].source == "# Parameters\na = 1\nb = None\n"
    nb.cells[0]["id"] = "mine"  # an id of its own survives a re-injection
    assert inject(nb, [("a", 3)]) == ("mine", False) and len(nb.cells) == 2
