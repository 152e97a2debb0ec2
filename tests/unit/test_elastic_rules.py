"""Elasticsearch's rules the Elastic facade checks before a request reaches a service:
index names (`MetadataCreateIndexService`) and Quartz cron expressions (`Cron`)."""

from __future__ import annotations

import pytest

from conveyor.compat.elastic import quartz
from conveyor.compat.elastic.names import index_name_problem, managed_prefix_problem


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "must not be empty"),
        *((f"a{c}b", "must not contain the following characters") for c in '\\/*?"<>| ,'),
        ("a#b", "must not contain '#'"),
        ("a:b", "must not contain ':'"),
        ("_a", "must not start with '_', '-', or '+'"),
        ("-a", "must not start with '_', '-', or '+'"),
        ("+a", "must not start with '_', '-', or '+'"),
        ("x" * 256, "index name is too long, (256 > 255)"),
        ("é" * 128, "index name is too long, (256 > 255)"),  # bytes, not characters
        (".", "must not be '.' or '..'"),
        ("..", "must not be '.' or '..'"),
        ("Orders", "must be lowercase"),
    ],
)
def test_invalid_index_names_get_elasticsearchs_reason(name: str, why: str) -> None:
    reason = index_name_problem(name)
    assert reason is not None
    assert reason.startswith(f"[{name}] InvalidIndexNameException[Invalid index name [{name}], ")
    assert why in reason


@pytest.mark.parametrize("name", [None, "orders", "x" * 255, ".hidden", "a.b-c_d+e", "é" * 127])
def test_valid_index_names_pass(name: str | None) -> None:
    assert index_name_problem(name) is None


def test_managed_connectors_need_the_content_prefix() -> None:
    assert managed_prefix_problem("content-orders") is None
    assert managed_prefix_problem(None) is None
    reason = managed_prefix_problem("search-orders")
    assert reason is not None and "must start with the prefix: [content-]" in reason


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 0 * * ?",
        "1 0 0 * * ?",
        "0 0/5 14,18 * * ?",
        "0 15 10 ? * MON-FRI",
        "0 15 10 L * ?",
        "0 15 10 L-2 * ?",
        "0 15 10 LW * ?",
        "0 15 10 15W * ?",
        "0 15 10 ? * 6L",
        "0 15 10 ? * 6#3",
        "0 0 12 1/5 * ?",
        "0 11 11 11 11 ?",
        "0 15 10 ? * * 2030",
        "0 0 0 ? JAN-MAR SUN",
        "*/10 * * * * ?",
        "0 0 0 * * ? *",
        "0 0 0 ? * mon",
    ],
)
def test_quartz_accepts_what_quartz_builds(expression: str) -> None:
    assert quartz.problem(expression) is None


@pytest.mark.parametrize(
    "expression",
    [
        "61 0 0 * * ?",
        "0 60 0 * * ?",
        "0 0 24 * * ?",
        "0 0 0 32 * ?",
        "0 0 0 0 * ?",
        "0 0 0 * 13 ?",
        "0 0 0 ? * 8",
        "0 0 0 * * *",  # a day of month and a day of week
        "0 0 0 ? * ?",
        "0 0 0 * * ? 1969",
        "0 0 0 * *",
        "0 0 0 * * ? * *",
        "daily",
        "0 0 0 ? * 6#6",
        "0 0 0 1W,15 * ?",
        "0 0 0 L-31 * ?",
        "0 0/0 0 * * ?",
        "0 0 ? * * *",
        "0 0 0 ? FOO *",
    ],
)
def test_quartz_refuses_with_elasticsearchs_reason(expression: str) -> None:
    assert quartz.problem(expression) == f"invalid cron expression [{expression}]"
