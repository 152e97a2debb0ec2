"""What a connector can do is derived from the protocols its class implements, once.

Listing connectors and resolving URLs stays cheap (no driver is imported); asking a
spec's capabilities imports its implementation and reads them off the class.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from conveyor.connectors import base
from conveyor.connectors.base import Capability as C
from conveyor.connectors.base import TableRef, capabilities_of, implements
from conveyor.connectors.registry import ConnectorSpec, open_connector, specs
from conveyor.errors import ConfigurationError
from tests.plugin_path import production_env

PROTOCOLS = [
    base.Connector,
    base.Locatable,
    base.Discoverable,
    base.Readable,
    base.Estimable,
    base.Writable,
    base.SqlExecutor,
    base.DeclaresTypes,
    base.CountsRows,
    base.Partitionable,
    base.Relays,
]
URLS = {
    "sqlite": "sqlite:///{tmp}/db.sqlite",
    "duckdb": "duckdb:///{tmp}/db.duckdb",
    "files": "file://{tmp}?format=parquet",
    "postgres": "postgresql://conveyor@127.0.0.1:1/never",  # constructed, never connected
    "mysql": "mysql://conveyor@127.0.0.1:1/never",
    "memory": "memory://capabilities",
}


class Reader:
    dialect = "duckdb"

    def test(self) -> None: ...
    def close(self) -> None: ...
    def read(self, sql: str, batch_size: int) -> pa.RecordBatchReader: ...  # type: ignore[empty-body]
    def table_exists(self, table: TableRef) -> bool: ...  # type: ignore[empty-body]


class Sink:
    """Writes tables it cannot read back, and runs no SQL: it cannot be merged into."""

    dialect = "duckdb"

    def test(self) -> None: ...
    def close(self) -> None: ...
    def table_exists(self, table: TableRef) -> bool: ...  # type: ignore[empty-body]
    def ensure_schema(self, schema: str) -> None: ...
    def create_table(self, table: TableRef, layout: Any) -> None: ...
    def open_writer(self, table: TableRef, schema: pa.Schema) -> Any: ...
    def replace_table(self, staging: TableRef, target: TableRef) -> None: ...
    def drop_table(self, table: TableRef) -> None: ...


class SqlSink(Sink):
    def execute(self, sql: str) -> int: ...  # type: ignore[empty-body]
    def execute_in_transaction(self, statements: Sequence[str]) -> list[int]: ...  # type: ignore[empty-body]


class Catalog:
    def list_tables(self) -> list[Any]: ...  # type: ignore[empty-body]
    def columns(self, table: TableRef) -> list[Any]: ...  # type: ignore[empty-body]


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (Reader, {C.read}),
        (Sink, {C.write}),
        (SqlSink, {C.write, C.merge}),
        (type("ReadWrite", (Reader, Sink), {}), {C.read, C.write, C.merge}),
        (Catalog, {C.discover}),
        (object, set()),
    ],
)
def test_capabilities_are_the_protocols_a_class_implements(cls: type, expected: set[C]) -> None:
    assert capabilities_of(cls) == expected


@pytest.mark.parametrize("spec", specs(), ids=lambda s: s.name)
def test_every_builtin_reads_off_what_its_class_implements(
    spec: ConnectorSpec, tmp_path: Path
) -> None:
    assert spec.capabilities == {C.read, C.write, C.discover, C.merge}
    connector = open_connector(URLS[spec.name].format(tmp=tmp_path))
    try:  # judged from the class exactly as the engine judges an open connector
        cls = type(connector)
        for protocol in PROTOCOLS:
            assert implements(cls, protocol) == isinstance(connector, protocol), protocol
    finally:
        connector.close()


@pytest.mark.parametrize("spec", specs(), ids=lambda s: s.name)
def test_every_builtin_defaults_to_the_options_its_spec_validates(spec: ConnectorSpec) -> None:
    """The options model is named twice: by the spec, which validates a connection's
    options without importing the connector, and by the class, which defaults them."""
    assert getattr(spec.load(), "options_model", None) is spec.options


def test_a_connector_that_cannot_be_imported_says_so() -> None:
    spec = ConnectorSpec(name="gone", schemes=("gone",), implementation="nowhere.at_all:Gone")
    with pytest.raises(ConfigurationError, match="gone"):
        _ = spec.capabilities


def test_listing_and_resolving_connectors_imports_no_driver() -> None:
    drivers = ["duckdb", "psycopg", "adbc_driver_manager", "pymysql", "connectorx", "asyncpg"]
    script = (
        "import sys\n"
        "from conveyor.connectors import registry\n"
        "names = [s.name for s in registry.specs()]\n"
        "for url in ('postgresql://h/db', 'mysql://h/db', 'duckdb:///x', 'file:///x'):\n"
        "    registry.resolve(url).validate_options({})\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {drivers!r}))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env=production_env(),  # the built-in connectors: a test plugin may load what it likes
    ).stdout
    assert loaded.strip() == "[]"


def test_run_processes_preload_every_builtin_connector() -> None:
    """A connector module moved or renamed must stay in the forkserver's preload list."""
    from conveyor.queue.process import PRELOAD

    modules = {spec.implementation.partition(":")[0] for spec in specs()}
    assert modules - {"conveyor.testing"} <= set(PRELOAD)
