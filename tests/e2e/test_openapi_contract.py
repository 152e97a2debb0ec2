"""The OpenAPI document is the contract: the real server answers as `/openapi.json` says.

Schemathesis reads the document from a running `conveyor serve` and, for every operation
of every surface (native, CData v1 and v2, SCAPI, Elastic, JSON:API, health), sends the
examples it derives from the schemas (the coverage phase: edge values, missing and
malformed fields) and a few random ones (fuzzing), authenticated as the admin. Each
answer is checked to be no server error, a status the operation documents, in a media
type it documents, with a body its schema for that status accepts.

Bounded for CI: few examples per operation, derandomized, no deadline (two shared cores),
about a minute in all. The admin's own account is left alone — a fuzzed PATCH that
deactivates it would lock every later request out — and nothing else is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.server import ADMIN_TOKEN, Server, running_server

pytestmark = pytest.mark.e2e

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
ADMIN: dict[str, str] = {}
"""The admin's id and name, once the server runs."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("contract")) as running:
        me = running.client.get("/api/v1/users", params={"role": "admin"}).json()["items"][0]
        ADMIN.update(id=me["id"], name=me["name"])
        yield running


@pytest.fixture(autouse=True)
def node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """Schemathesis 4 names each operation's subtest by rewriting `node._nodeid`, which
    pytest 9.2 no longer has: give it one to rewrite (it is only used for reporting)."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.fixture(scope="module")
def api_schema(server: Server) -> Any:
    document = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    config = schemathesis.Config.from_dict(
        {
            "base-url": server.url,
            "headers": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
            "generation": {"deterministic": True, "database": "none", "max-examples": 5},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
        }
    )
    return schemathesis.openapi.from_dict(document, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


def touches_the_admin(case: schemathesis.Case) -> bool:
    """Whether a change would reach the admin's own account (or its tokens)."""
    if case.method.upper() == "GET" or "users" not in case.path.lower():
        return False
    sent = json.dumps([case.path_parameters, case.query, case.body], default=str)
    return ADMIN["id"] in sent or f'"{ADMIN["name"]}"' in sent


@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_the_document_says(case: schemathesis.Case) -> None:
    if touches_the_admin(case):
        return
    case.call_and_validate(
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60, checks=CHECKS
    )
