"""The standard routes of the native collections, as `/openapi.json` declares them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from conveyor.api.v1 import router

DOC: dict[str, Any] = (lambda app: (app.include_router(router), app.openapi())[1])(FastAPI())


def query_parameters(path: str) -> dict[str, dict[str, Any]]:
    operation = DOC["paths"][path]["get"]
    return {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}


@pytest.mark.parametrize(
    "path", ["/api/v1/connections", "/api/v1/jobs", "/api/v1/runs", "/api/v1/files"]
)
def test_every_list_documents_paging_sort_and_its_filters(path: str) -> None:
    parameters = query_parameters(path)
    assert {"limit", "offset", "sort", "id", "id__in"} <= set(parameters)
    assert parameters["limit"]["schema"]["maximum"] == 1000
    assert parameters["created_at__gte"]["schema"]["format"] == "date-time"


def test_a_text_field_filters_by_value_and_list_but_not_by_range() -> None:
    parameters = query_parameters("/api/v1/jobs")
    assert {"name", "name__in"} <= set(parameters)
    assert "name__gte" not in parameters


def test_operations_keep_their_names_and_path_parameters() -> None:
    operation = DOC["paths"]["/api/v1/connections/{connection_id}"]["patch"]
    assert operation["operationId"].startswith("update_connection")
    assert [p["name"] for p in operation["parameters"]] == ["connection_id"]
    assert "requestBody" in operation
    assert "post" not in DOC["paths"]["/api/v1/runs"]  # runs are started by executing a job
