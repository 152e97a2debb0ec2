"""`conveyor.client` stays light: importing it loads neither the server nor its store."""

from __future__ import annotations

import json
import subprocess
import sys

SERVER_SIDE = (
    "sqlalchemy",
    "fastapi",
    "starlette",
    "pyarrow",
    "duckdb",
    "sqlglot",
    "conveyor.api",
    "conveyor.services",
    "conveyor.store",
    "conveyor.engine",
    "conveyor.connectors",
)


def test_importing_the_client_loads_no_server_module() -> None:
    probe = (
        "import json, sys; import conveyor.client; "
        "print(json.dumps(sorted(m for m in sys.modules)))"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        ).stdout
    )
    heavy = [m for m in loaded if m.split(".")[0] in SERVER_SIDE or m.startswith(SERVER_SIDE)]
    assert heavy == []


def test_the_public_surface_is_stated_once() -> None:
    import conveyor.client as client

    exported = {name for name in dir(client) if not name.startswith("_")}
    modules = {
        "client", "collection", "connections", "errors", "files", "jobs", "pipelines",
        "runs", "tasks", "transformations", "transport", "users", "workspaces",
    }  # fmt: skip
    assert exported - modules == set(client.__all__)
