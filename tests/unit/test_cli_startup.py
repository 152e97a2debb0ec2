"""What `conveyor run` pays before its first row: only the engine and its two connectors.

A one-off run starts a fresh interpreter, so every module its path imports is paid on
every run (against Sling, a Go binary, the PostgreSQL → PostgreSQL bench is won or lost
in start-up). The server's parts — the API, the store and its migrations, the HTTP
clients, the scheduler — must stay off that path, and so must the other connectors'
drivers. The collector must be back on after the imports it was kept out of.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys

from conveyor import collector
from tests.plugin_path import production_env

RUN_PATH = """
import json, sys
from conveyor.cli import oneoff
oneoff._preload("postgresql://user@127.0.0.1:1/db")
from conveyor.engine import runner  # what `run` imports before it starts
from conveyor.connectors.postgres import relay
print(json.dumps(sorted(sys.modules)))
"""

SERVER_ONLY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "alembic",
    "sqlalchemy",
    "httpx",
    "croniter",
    "jinja2",
    "cryptography",  # sealing the store's connection secrets
    "conveyor.api",
    "conveyor.compat",
    "conveyor.store",
    "conveyor.services",
    "conveyor.queue",
    "conveyor.scheduler",
    "conveyor.runtime",
    "conveyor.webhooks",
    "conveyor.notifications",
)
OTHER_CONNECTORS = ("duckdb", "pymysql", "conveyor.connectors.mysql.connector")


def run_path_modules() -> set[str]:
    """The modules a fresh `conveyor run` PostgreSQL → PostgreSQL has imported when it starts."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_PATH],
        capture_output=True,
        text=True,
        check=True,
        env=production_env(),  # the tests' own connector plugin is not what users install
    )
    return set(json.loads(done.stdout))


def test_run_imports_neither_the_server_nor_other_drivers() -> None:
    modules = run_path_modules()
    assert "conveyor.connectors.postgres.connector" in modules  # the preload loaded it
    loaded = sorted(
        name
        for name in modules
        for part in (*SERVER_ONLY, *OTHER_CONNECTORS)
        if name == part or name.startswith(part + ".")
    )
    assert loaded == []


def test_long_lived_freezes_what_the_block_made_and_collects_again_after() -> None:
    assert gc.isenabled()
    before = gc.get_freeze_count()
    try:
        with collector.long_lived():
            assert not gc.isenabled()
            made = [[i] for i in range(100)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= before + len(made)
    finally:
        gc.unfreeze()


def test_paused_restores_the_collector_as_it_was() -> None:
    with collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()  # an embedding application's choice is kept
    finally:
        gc.enable()


IMPORT_MEANWHILE = """
import sys, threading
from conveyor.connectors.postgres.async_connect import import_meanwhile
assert "asyncpg" not in sys.modules
import_meanwhile("asyncpg")
import_meanwhile("conveyor_no_such_module")  # quiet here; its user hears the ImportError
for thread in threading.enumerate():
    if thread.name == "conveyor-import":
        thread.join()
print("asyncpg" in sys.modules, "conveyor_no_such_module" in sys.modules)
"""


def test_a_relay_s_driver_is_imported_on_a_thread_of_its_own() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_MEANWHILE],
        capture_output=True,
        text=True,
        check=True,
        env=production_env(),
    )
    assert done.stdout.split() == ["True", "False"]
    assert done.stderr == ""
