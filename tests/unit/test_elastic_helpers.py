"""Pure helpers of the Elastic and JSON:API facades: no I/O."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from conveyor.api.problems import under
from conveyor.compat.elastic.protocol import filter_path
from conveyor.compat.jsonapi import documents
from conveyor.services.elastic.wiring import quartz_to_cron


@pytest.mark.parametrize(
    ("quartz", "cron"),
    [
        ("0 0 0 * * ?", "0 0 * * *"),
        ("0 30 2 ? * MON-FRI", "30 2 * * MON-FRI"),
        ("0 */15 * * * ?", "*/15 * * * *"),
        ("0 0 12 ? * 2,6", "0 12 * * 1,5"),  # Quartz counts Sunday as 1
        ("0 0 12 ? * 1", "0 12 * * 0"),
        ("0 0 0 1 1 ? *", "0 0 1 1 *"),
    ],
)
def test_quartz_crons_become_five_field_crons(quartz: str, cron: str) -> None:
    assert quartz_to_cron(quartz) == cron


@pytest.mark.parametrize(
    "quartz", ["15 0 0 * * ?", "0 0 0 L * ?", "0 0 0 ? * 6#3", "0 0 0 * * ? 2030", "daily"]
)
def test_quartz_crons_without_an_equivalent_give_none(quartz: str) -> None:
    assert quartz_to_cron(quartz) is None


def test_filter_path_keeps_named_paths_through_lists() -> None:
    body = {"count": 2, "results": [{"id": "a", "x": 1}, {"id": "b", "x": 2}]}
    assert filter_path(body, "results.id") == {"results": [{"id": "a"}, {"id": "b"}]}
    assert filter_path(body, "count,results.x") == {"count": 2, "results": [{"x": 1}, {"x": 2}]}
    assert filter_path(body, "res*.i?") == {"results": [{"id": "a"}, {"id": "b"}]}
    assert filter_path(body, "nothing") == {}
    assert filter_path(body, "") == body


def test_surface_prefixes_match_whole_segments() -> None:
    assert under("/_connector", "/_connector") and under("/_connector/x", "/_connector")
    assert not under("/_connectors", "/_connector")


RESOURCE = documents.Resource(
    type="t",
    filters={"status": frozenset({"", "in"}), "priority": frozenset({"", "gte", "lte"})},
    sortable=frozenset({"status", "priority"}),
    includable=frozenset({"project"}),
)


def test_jsonapi_index_parameters() -> None:
    query = documents.parse_index(
        QueryParams(
            "page[number]=3&page[size]=20&sort=-priority,status&count=true"
            "&filter[status__in]=a,b&filter[priority__gte]=2&fields[t]=status&included=project"
        ),
        RESOURCE,
    )
    params = query.list_params()
    assert (params.limit, params.offset, params.sort) == (20, 40, ("-priority", "status"))
    assert params.filters == (("status", "in", "a,b"), ("priority", "gte", "2"))
    assert query.count and query.fields == {"t": frozenset({"status"})}
    assert query.included == ("project",)
    assert documents.parse_index(QueryParams(""), RESOURCE).size == 1000


@pytest.mark.parametrize(
    "raw",
    [
        "filter[status__gte]=a",
        "filter[name]=x",
        "sort=name",
        "page[size]=1001",
        "included=users",
        "count=maybe",
        "limit=5",
    ],
)
def test_jsonapi_refuses_what_the_resource_does_not_declare(raw: str) -> None:
    with pytest.raises(documents.BadParameter):
        documents.parse_index(QueryParams(raw), RESOURCE)


def test_sparse_fieldsets_trim_attributes_and_relationships() -> None:
    obj = documents.resource_object(
        "t", "1", {"a": 1, "b": 2}, {"r": {"data": None}}, fields={"t": frozenset({"a"})}
    )
    assert obj == {"type": "t", "id": "1", "attributes": {"a": 1}, "relationships": {}}
