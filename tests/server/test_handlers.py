"""REST API contract: statuses, error messages, authorization, and no change on bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect


def snapshot_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def post_run(jp_fetch, body: str | dict) -> HTTPClientError:
    payload = body if isinstance(body, str) else json.dumps(body)
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("lapd", "api", "runs", method="POST", body=payload)
    return e.value


def message(error: HTTPClientError) -> str:
    return json.loads(error.response.body)["message"]


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"path": "missing.ipynb"}, 404, "No such notebook: missing.ipynb"),
        ({"path": "../outside.ipynb"}, 403, "outside the server's root"),
        ({"path": "/../../etc/passwd"}, 403, "outside the server's root"),
        ({"path": "link/outside.ipynb"}, 403, "outside the server's root"),
        ({"path": "broken.ipynb"}, 400, "not valid notebook JSON"),
        ({"path": "invalid.ipynb"}, 400, "not a valid notebook"),
        ({"path": "notes.txt"}, 400, "is not a notebook"),
        ({"path": "folder"}, 400, "is not a notebook"),
        ({"path": "nb.ipynb", "cells": ["nope"]}, 400, "Unknown cell id(s): nope"),
        ({"path": "nb.ipynb", "cells": ["c1"]}, 400, "Not code cell(s): c1"),
        ({"path": "nb.ipynb", "cells": "c0"}, 400, "'cells' must be a list"),
        ({"path": "nb.ipynb", "cells": []}, 400, "'cells' is empty"),
        ({"path": "nb.ipynb", "kernel": "remote"}, 400, "'kernel' must be 'session' or 'new'"),
        ({"path": "nb.ipynb", "kernel_name": "no-such-kernel"}, 400, "No such kernel"),
        ({"path": "nb.ipynb", "allow_errors": "yes"}, 400, "'allow_errors' must be"),
        ({"path": "nb.ipynb", "colour": "red"}, 400, "Unknown field(s): colour"),
        ({"path": ""}, 400, "'path' must be a non-empty string"),
        ({"cells": ["c0"]}, 400, "Missing field 'path'"),
        ("{not json", 400, "not valid JSON"),
        ("[1, 2]", 400, "must be a JSON object"),
    ],
)
async def test_bad_requests_answer_clearly_and_change_nothing(
    jp_fetch, jp_root_dir, lapd_notebook, tmp_path, body, status, text
):
    lapd_notebook(["print(1)", ("markdown", "# md")])
    (jp_root_dir / "broken.ipynb").write_text('{"cells": [')
    (jp_root_dir / "invalid.ipynb").write_text(json.dumps({"cells": "no", "nbformat": 4}))
    (jp_root_dir / "notes.txt").write_text("hello")
    (jp_root_dir / "folder").mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "outside.ipynb").write_text("{}")
    os.symlink(outside, jp_root_dir / "link")
    before = snapshot_tree(jp_root_dir)
    error = await post_run(jp_fetch, body)
    assert error.code == status
    assert text in message(error)
    assert snapshot_tree(jp_root_dir) == before
    response = await jp_fetch("lapd", "api", "runs")
    assert json.loads(response.body)["runs"] == []


async def test_unknown_run_is_404(jp_fetch, jp_ws_fetch):
    for parts, method in ((("nope",), "GET"), (("nope", "cancel"), "POST")):
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch(
                "lapd", "api", "runs", *parts, method=method, body=None if method == "GET" else ""
            )
        assert e.value.code == 404
        assert message(e.value) == "No such run: nope"
    with pytest.raises(HTTPClientError) as ws_error:
        await jp_ws_fetch("lapd", "api", "runs", "nope", "events")
    assert ws_error.value.code == 404


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"since": "x"}, "'since' must be an integer"),
        ({"since": "-1"}, "'since' must not be negative"),
        ({"catchup": "yes"}, "'catchup' must be 0 or 1"),
    ],
)
async def test_bad_events_parameter_is_400(
    jp_ws_fetch, lapd_notebook, lapd_start, lapd_wait, params, text
):
    lapd_notebook(["1"])
    run = await lapd_wait((await lapd_start("nb.ipynb"))["id"])
    with pytest.raises(HTTPClientError) as e:
        await jp_ws_fetch("lapd", "api", "runs", run["id"], "events", params=params)
    assert e.value.code == 400
    assert message(e.value) == text


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"status": "running,sleeping"}, "Unknown status(es): sleeping"),
        ({"limit": "0"}, "'limit' must be a positive integer"),
        ({"limit": "ten"}, "'limit' must be a positive integer"),
    ],
)
async def test_bad_list_filter_is_400(jp_fetch, params, text):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("lapd", "api", "runs", params=params)
    assert e.value.code == 400
    assert text in message(e.value)


async def test_list_has_a_limit_and_the_servers_clock(
    jp_fetch, lapd_notebook, lapd_start, lapd_wait
):
    lapd_notebook(["1"], name="a.ipynb")
    lapd_notebook(["1"], name="b.ipynb")
    first = await lapd_wait((await lapd_start("a.ipynb"))["id"])
    second = await lapd_wait((await lapd_start("b.ipynb"))["id"])
    answer = json.loads((await jp_fetch("lapd", "api", "runs", params={"limit": "1"})).body)
    assert [r["id"] for r in answer["runs"]] == [second["id"]]
    assert answer["now"].endswith("Z") and answer["now"] >= second["finished"] >= first["finished"]


async def test_created_run_has_location_and_public_shape(
    jp_fetch, jp_base_url, lapd_notebook, lapd_wait
):
    lapd_notebook(["1"])
    response = await jp_fetch(
        "lapd", "api", "runs", method="POST", body=json.dumps({"path": "nb.ipynb"})
    )
    run = json.loads(response.body)
    assert response.code == 201
    assert response.headers["Location"] == f"{jp_base_url}lapd/api/runs/{run['id']}"
    assert set(run) >= {
        "id",
        "path",
        "status",
        "kernel_mode",
        "kernel_id",
        "kernel_name",
        "created",
        "started",
        "finished",
        "cells_total",
        "cells_done",
        "current_cell_id",
        "error",
        "cells",
    }
    assert set(run["cells"][0]) == {"id", "status", "execution_count", "started", "finished"}
    assert run["created"].endswith("Z")
    await lapd_wait(run["id"])


class ReadOnly(Authorizer):
    """Grants reading runs and nothing else, like a viewer-only JupyterHub scope."""

    def is_authorized(self, handler, user, action, resource):
        return action == "read"


@pytest.fixture
def jp_server_config(jp_server_config, request):
    if "read_only" in request.keywords:
        jp_server_config["ServerApp"]["authorizer_class"] = ReadOnly
    return jp_server_config


@pytest.mark.read_only
async def test_read_only_user_can_list_but_not_run_or_cancel(jp_fetch, lapd_notebook, jp_root_dir):
    lapd_notebook(["print(1)"])
    before = snapshot_tree(jp_root_dir)
    response = await jp_fetch("lapd", "api", "runs")
    assert response.code == 200
    error = await post_run(jp_fetch, {"path": "nb.ipynb"})
    assert error.code == 403
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("lapd", "api", "runs", "abc", "cancel", method="POST", body="")
    assert e.value.code == 403
    assert snapshot_tree(jp_root_dir) == before


async def test_requests_without_token_are_refused(jp_fetch, http_server_client, jp_base_url):
    response = await http_server_client.fetch(f"{jp_base_url}lapd/api/runs", raise_error=False)
    assert response.code == 403


async def login_cookie(http_server_client: Any, jp_base_url: str, token: str) -> str:
    """The login cookie a browser gets once it opened the server with its token."""
    response = await http_server_client.fetch(
        f"{jp_base_url}api/status?token={token}", raise_error=False
    )
    assert response.code == 200
    return "; ".join(c.split(";")[0] for c in response.headers.get_list("Set-Cookie"))


async def test_a_page_of_another_origin_cannot_start_or_read_runs(
    http_server_client, jp_base_url, jp_http_port, jp_serverapp, lapd_notebook, jp_root_dir,
    lapd_start, lapd_wait,
):  # fmt: skip
    """A page elsewhere in the user's browser (the browser sends the user's cookie with its
    requests) can neither start a run (no XSRF token), read the API (no CORS allowance), nor
    follow a run's events (the socket's origin check)."""
    lapd_notebook(["print(1)"])
    before = snapshot_tree(jp_root_dir)
    cookie = await login_cookie(
        http_server_client, jp_base_url, jp_serverapp.identity_provider.token
    )
    evil = {"Origin": "http://evil.example", "Cookie": cookie}
    for headers in (evil, {"Cookie": cookie}):  # with its origin, or none said (a form)
        start = await http_server_client.fetch(
            f"{jp_base_url}lapd/api/runs", method="POST", raise_error=False,
            headers={**headers, "Content-Type": "application/json"},
            body=json.dumps({"path": "nb.ipynb"}),
        )  # fmt: skip
        # Jupyter Server hides its API from another origin (404), and wants the XSRF token
        # a page of its own has from a request that only has the cookie (403)
        assert start.code == (404 if "Origin" in headers else 403), headers
    assert "_xsrf" in json.loads(start.body)["message"]
    assert snapshot_tree(jp_root_dir) == before
    preflight = await http_server_client.fetch(
        f"{jp_base_url}lapd/api/runs", method="OPTIONS", raise_error=False,
        headers={**evil, "Access-Control-Request-Method": "GET"},
    )  # fmt: skip
    assert "Access-Control-Allow-Origin" not in preflight.headers
    listing = await http_server_client.fetch(
        f"{jp_base_url}lapd/api/runs", headers=evil, raise_error=False
    )
    assert "Access-Control-Allow-Origin" not in listing.headers  # the page cannot read it
    run = await lapd_start("nb.ipynb")  # the user's own run
    # (as a browser opens it: the cookie alone, no token header)
    url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}lapd/api/runs/{run['id']}/events"
    with pytest.raises(HTTPClientError) as socket:
        await websocket_connect(HTTPRequest(url, headers=evil))
    assert socket.value.code == 403
    mine = await websocket_connect(HTTPRequest(url, headers={"Cookie": cookie}))
    assert json.loads(await mine.read_message())["type"] == "snapshot"  # its own page can
    mine.close()
    await lapd_wait(run["id"])
