"""The MySQL/MariaDB binlog's side of change data capture, without a server: the settings
check's message, positions, retained bytes, and values written back for conversion."""

from __future__ import annotations

from decimal import Decimal

import pytest

from conveyor.engine.cdc.binlog import BinlogColumn, decode, encode, problems, retained
from conveyor.engine.cdc.changelog import position_order
from conveyor.engine.cdc.mysql_convert import prepared

READY = {"log_bin": "ON", "binlog_format": "ROW", "binlog_row_image": "FULL"}
GRANTS = ["GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `c`@`%`"]


@pytest.mark.parametrize(
    ("variables", "grants", "says"),
    [
        ({**READY, "log_bin": "OFF"}, GRANTS, ["log_bin = ON", "OFF"]),
        ({**READY, "binlog_format": "MIXED"}, GRANTS, ["binlog_format = ROW", "MIXED"]),
        ({**READY, "binlog_row_image": "MINIMAL"}, GRANTS, ["binlog_row_image = FULL"]),
        ({"log_bin": "ON"}, GRANTS, ["binlog_format = ROW", "unset"]),
        (READY, ["GRANT SELECT ON `shop`.* TO `c`@`%`"], ["REPLICATION SLAVE", "CLIENT"]),
        (READY, ["GRANT REPLICATION SLAVE ON *.* TO `c`@`%`"], ["REPLICATION CLIENT"]),
        (READY, ["GRANT REPLICATION CLIENT ON *.* TO `c`@`%`"], ["REPLICATION SLAVE"]),
        (READY, ["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost`"], []),
        (READY, GRANTS, []),
        (READY, ["GRANT USAGE ON *.* TO `c`@`%`", "GRANT `replicator` TO `c`@`%`"], []),
    ],
)
def test_the_settings_check_says_what_to_set(
    variables: dict[str, str], grants: list[str], says: list[str]
) -> None:
    found = " ".join(problems(variables, grants))
    assert all(word in found for word in says), found
    assert bool(found) == bool(says)


def test_positions_order_along_the_binlog_and_read_back() -> None:
    first, later = encode("mariadb-bin.000009", 900_000), encode("mariadb-bin.000010", 4)
    assert first < later
    assert decode("mariadb-bin.000001", later) == ("mariadb-bin.000010", 4)
    assert position_order("mariadb-bin.000009:900000") == first
    assert position_order("mariadb-bin.000010:4") == later
    assert position_order("0/16B3748") < position_order("1/0")  # an LSN still orders


def test_retained_bytes_are_the_binlog_after_the_position() -> None:
    logs = [("b.000001", 1000), ("b.000002", 500), ("b.000003", 200)]
    assert retained(logs, "b.000002", 100) == 400 + 200
    assert retained(logs, "b.000003", 200) == 0


@pytest.mark.parametrize(
    ("value", "kind", "written"),
    [
        ({"k": [1, "é"]}, "json", '{"k": [1, "é"]}'),
        ('{"raw": 1}', "json", '{"raw": 1}'),
        ({"b", "a"}, "set", "a,b"),
        ("101", "bit", 5),
        (Decimal("1.50"), "decimal", Decimal("1.50")),
        (None, "json", None),
    ],
)
def test_binlog_values_are_written_back_as_their_column_takes_them(
    value: object, kind: str, written: object
) -> None:
    assert prepared(value, BinlogColumn("c", kind, False, False)) == written
