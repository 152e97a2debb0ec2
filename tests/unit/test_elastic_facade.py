"""The Elastic facade's own rules, without I/O: it reads service results, never rows; its
`PUT …/_<action>` tables pass the fields a body was sent with to calls that take them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter

from conveyor.compat.elastic import connectors, schemas, sync_jobs
from conveyor.compat.elastic.actions import Action, arguments, mount
from conveyor.services.elastic.documents import Connector
from tests.unit.test_layers import PACKAGE, imports_of

FACADE = PACKAGE / "compat" / "elastic"


@pytest.mark.parametrize("path", sorted(FACADE.rglob("*.py")), ids=lambda p: p.name)
def test_the_elastic_facade_reads_no_rows(path: Path) -> None:
    assert not {name for name in imports_of(path) if name.startswith("conveyor.store")}


def test_an_action_gets_only_the_fields_the_body_was_sent_with() -> None:
    assert arguments(schemas.NameUpdate.model_validate({"name": None})) == {"name": None}
    verdict = {"validation": {"state": "valid", "errors": []}}
    nested = schemas.FilteringValidationUpdate.model_validate(verdict)
    assert arguments(nested) == verdict
    schedule = {"full": {"enabled": True, "interval": "0 0 0 * * ?"}}
    partial = schemas.SchedulingUpdate.model_validate({"scheduling": schedule})
    assert arguments(partial) == {"scheduling": schedule}  # the kinds left out stay out
    stats = {"deleted_document_count": 1, "indexed_document_count": 2, "indexed_document_volume": 3}
    assert arguments(schemas.SyncJobStats.model_validate(stats)) == stats


def test_mounting_refuses_a_call_that_cannot_take_its_body() -> None:
    def rename(ctx: Any, connector_id: str, title: str) -> None: ...

    with pytest.raises(TypeError, match="_name: rename"):
        mount(APIRouter(), "id", str, "{}", [Action("_name", rename, schemas.NameUpdate)])


def test_actions_are_routed_under_their_familys_names() -> None:
    routes = {
        route.name: route.path  # type: ignore[attr-defined]
        for router in (connectors.router, sync_jobs.router)
        for route in router.routes
    }
    assert len(connectors.UPDATES) == 16 and len(sync_jobs.ACTIONS) == 5
    assert routes["update_filtering_validation"] == (
        "/_connector/{connector_id}/_filtering/_validation"
    )
    assert routes["activate_filtering"] == "/_connector/{connector_id}/_filtering/_activate"
    assert routes["stats_sync_job"] == "/_connector/_sync_job/{job_id}/_stats"


def test_a_connector_document_has_id_first_its_stored_fields_and_instants() -> None:
    seen = dt.datetime(2024, 5, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    connector = Connector(
        id="c1",
        api_key_id=None,
        api_key_secret_id=None,
        deleted=False,
        description=None,
        error=None,
        index_name="idx",
        is_native=False,
        language=None,
        last_seen=seen,
        name="",
        service_type="custom",
        status="created",
        document={"sync_now": False, "configuration": {}},
    )
    doc = connectors.document(connector)
    assert list(doc)[:3] == ["id", "api_key_id", "api_key_secret_id"]
    assert doc["last_seen"] == "2024-05-01T10:00:00.000Z"
    assert (doc["sync_now"], doc["configuration"]) == (False, {})
    assert "document" not in doc
