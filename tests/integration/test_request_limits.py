"""Limits before work, header-bound fields and protective headers, on every surface.

In-process (the ASGI app through `TestClient`) on the embedded store: what is checked here
happens before any query, so one store is enough. The real server's 300 MB body is in
`tests/e2e/test_request_limits.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from conveyor.api.app import create_app
from conveyor.config import Settings
from conveyor.runtime import Runtime

LIMIT = 64 * 1024
DEEP = "[" * 20_000 + "]" * 20_000  # well within the body limit
HUGE_NUMBER = '{"name": ' + "7" * 5000 + "}"
PROTECTIVE = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"


@pytest.fixture
def api(settings: Settings, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    """The app without workers, with a 64 KiB body limit, authenticated as admin."""
    runtime = Runtime.create(settings.model_copy(update={"workers": 0, "max_body_bytes": LIMIT}))
    runtime.migrate()
    runtime.bootstrap()
    with TestClient(create_app(runtime), headers=admin_headers) as client:
        yield client
    runtime.close()


def anonymous(api: TestClient) -> TestClient:
    return TestClient(api.app)


# --- each surface's error shape ----------------------------------------------------------


def problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"]
    return str(body["detail"])


def cdata(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"]
    return str(error["message"])


def elastic(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["x-elastic-product"] == "Elasticsearch"
    body = response.json()
    assert body["status"] == status and body["error"]["root_cause"][0]["type"]
    return str(body["error"]["reason"])


def jsonapi(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/vnd.api+json")
    (error,) = response.json()["errors"]
    assert error["status"] == str(status)
    return str(error["detail"])


Shape = Callable[[httpx.Response, int], str]
SURFACES: list[tuple[str, str, str, Shape]] = [
    ("native", "POST", "/api/v1/workspaces", problem),
    ("cdata v2", "POST", "/api.rsc/v2/workspaces/default/jobs", cdata),
    ("cdata v1", "POST", "/api.rsc/jobs", cdata),
    ("cdata v1, any case", "POST", "/API.RSC/Jobs", cdata),
    ("scapi", "POST", "/admin/app/scapi/jobs/nightly/start", problem),
    ("elastic", "PUT", "/_connector/my-connector", elastic),
    ("json:api exports", "POST", "/sync/exports/export", jsonapi),
    ("json:api jobs", "POST", "/sync/jobs/some-job/signal", jsonapi),
]
IDS = [surface[0] for surface in SURFACES]
ROUTES = [surface[1:] for surface in SURFACES]


@pytest.mark.parametrize(("method", "path", "shape"), ROUTES, ids=IDS)
def test_deep_json_is_a_400_in_the_surface_s_shape_before_authentication(
    api: TestClient, method: str, path: str, shape: Shape
) -> None:
    # Whatever type the body claims: the facades parse it as JSON all the same.
    for kind in ("x/y", "application/json", "multipart/form-data; boundary=b"):
        for client in (api, anonymous(api)):
            response = client.request(method, path, content=DEEP, headers={"content-type": kind})
            assert "deeper than 64 levels" in shape(response, 400)
    shallow = api.request(method, path, content="[" * 60 + "]" * 60)
    assert shallow.status_code != 400 or "deeper" not in shallow.text


@pytest.mark.parametrize(("method", "path", "shape"), ROUTES, ids=IDS)
def test_a_body_over_the_limit_is_a_413_in_the_surface_s_shape_unread(
    api: TestClient, method: str, path: str, shape: Shape
) -> None:
    declared = anonymous(api).request(method, path, content=b" " * (LIMIT + 1))
    assert "larger than 65536 bytes" in shape(declared, 413)
    assert declared.headers["connection"] == "close"

    def chunks() -> Iterator[bytes]:
        for _ in range(100):  # 100 × 4 KiB, never announced
            yield b" " * 4096

    streamed = api.request(method, path, content=chunks())
    assert "larger than 65536 bytes" in shape(streamed, 413)
    assert streamed.headers["connection"] == "close"


@pytest.mark.parametrize(
    ("method", "path", "shape"), ROUTES[:3] + ROUTES[5:7], ids=IDS[:3] + IDS[5:7]
)
def test_numbers_python_cannot_convert_are_a_client_error(
    api: TestClient, method: str, path: str, shape: Shape
) -> None:
    response = api.request(method, path, content=HUGE_NUMBER)
    shape(response, 422 if response.status_code == 422 else 400)


def test_bodies_within_the_limits_arrive_whole(api: TestClient) -> None:
    json_type = {"content-type": "application/json"}
    padded = '{"name": "padded"' + " " * (LIMIT - 40) + "}"
    assert api.post("/api/v1/workspaces", content=padded, headers=json_type).status_code == 201

    def chunks() -> Iterator[bytes]:
        yield b'{"name": '
        yield b'"streamed"}'

    streamed = api.post("/api/v1/workspaces", content=chunks(), headers=json_type)
    assert streamed.status_code == 201, streamed.text
    names = {w["name"] for w in api.get("/api/v1/workspaces").json()["items"]}
    assert {"padded", "streamed"} <= names


# --- recursive parsers fed by query strings and statements ---------------------------------


def test_a_deeply_nested_odata_filter_is_a_400_and_a_long_chain_works(api: TestClient) -> None:
    deep = "(" * 500 + "JobName eq 'a'" + ")" * 500
    message = cdata(api.get("/api.rsc/jobs", params={"$filter": deep}), 400)
    assert "nests deeper than 32 levels" in message
    chain = " or ".join(["JobName eq 'nobody'"] * 1500)
    assert api.get("/api.rsc/jobs", params={"$filter": chain}).json()["value"] == []
    orderby = ",".join(["JobName desc"] * 2000)
    assert api.get("/api.rsc/jobs", params={"$orderby": orderby}).status_code == 200


def test_an_odata_number_python_cannot_convert_is_a_400(api: TestClient) -> None:
    huge = api.get("/api.rsc/jobs", params={"$filter": "JobName eq " + "9" * 5000})
    assert "too many digits (5000)" in cdata(huge, 400)
    infinite = api.get("/api.rsc/history", params={"$filter": "RowsRead gt 1e999"})
    assert "out of range" in cdata(infinite, 400)
    assert api.get("/api.rsc/jobs").status_code == 200  # the connection is still good


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api.rsc/workspaces", {"Name": ""}, "Name"),
        ("/api.rsc/users", {"User": ""}, "User"),
        ("/api.rsc/users", {"User": "x" * 1000}, "User"),
        (
            "/api.rsc/connections",
            {"Name": "", "ProviderName": "SQLite", "ConnectionString": "Database=x.db"},
            "Name",
        ),
        ("/api.rsc/v2/users/generate-token", {"Name": "x" * 1000}, "Name"),
    ],
)
def test_values_the_native_models_refuse_are_a_cdata_400_naming_cdata_s_key(
    api: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    error = api.post(path, json=body)
    assert cdata(error, 400).startswith(f"{field}:")
    assert error.json()["error"]["field"] == field


def test_numbers_past_a_database_integer_in_a_list_filter_are_a_422(api: TestClient) -> None:
    for value in ("9" * 21, "-" + "9" * 21):
        response = api.get("/api/v1/files", params={"size__lte": value})
        assert "out of range" in problem(response, 422)
    assert api.get("/api/v1/files", params={"size__lte": str(2**63 - 1)}).status_code == 200


@pytest.mark.parametrize("connector_id", ["bell%07", "x" * 65], ids=["control", "long"])
def test_an_elastic_connector_id_that_cannot_be_a_job_is_a_400(
    api: TestClient, connector_id: str
) -> None:
    response = api.put(f"/_connector/{connector_id}", json={"index_name": None})
    assert "connector" in elastic(response, 400)
    assert api.get("/api/v1/jobs").status_code == 200  # nothing unlistable was stored


def test_pathological_json_api_parameters_are_answered_in_its_shape(api: TestClient) -> None:
    sort = ",".join(["-created_at"] * 3000)
    assert api.get("/sync/jobs", params={"sort": sort}).status_code == 200
    many = ",".join(["(" * 50] * 200)
    assert api.get("/sync/jobs", params={"filter[status__in]": many}).json()["data"] == []
    jsonapi(api.get("/sync/jobs", params={"sort": "(" * 5000}), 400)


def test_an_elastic_source_parameter_is_held_to_the_depth_limit(api: TestClient) -> None:
    response = api.put("/_connector/my-connector", params={"source": "[" * 5000 + "]" * 5000})
    assert "nests deeper than 64 levels" in elastic(response, 400)


def _job(api: TestClient, tmp_path: Path, **extra: Any) -> httpx.Response:
    """Create a job (and, the first time, its two connections `source` and `destination`)."""
    ids = []
    for name in ("source", "destination"):
        found = api.get("/api/v1/connections", params={"name": name}).json()["items"]
        if not found:
            url = f"sqlite:///{tmp_path / f'{name}.db'}"
            created = api.post("/api/v1/connections", json={"name": name, "url": url})
            assert created.status_code == 201, created.text
            found = [created.json()]
        ids.append(found[0]["id"])
    body = {"name": "nightly", "source_connection_id": ids[0], "destination_connection_id": ids[1]}
    return api.post("/api/v1/jobs", json={**body, **extra})


def test_a_select_nested_too_deeply_is_a_bad_statement(api: TestClient, tmp_path: Path) -> None:
    job = _job(api, tmp_path).json()
    select = "SELECT " + "(" * 300 + "1" + ")" * 300 + " AS one FROM [t]"
    response = api.post(
        f"/api/v1/jobs/{job['id']}/tasks", json={"query": f"REPLICATE [x] {select}"}
    )
    assert "nests too deeply" in problem(response, 400)


# --- header-bound fields --------------------------------------------------------------------


def test_line_breaks_in_header_bound_fields_are_refused_on_every_surface(
    api: TestClient, tmp_path: Path
) -> None:
    injected = "Report\r\nBcc: everyone@example.com"
    native = _job(api, tmp_path, email_subject=injected)
    assert native.status_code == 422 and native.json()["field"] == "email_subject"
    job = _job(api, tmp_path, name="ok").json()
    patch = api.patch(f"/api/v1/jobs/{job['id']}", json={"email_to": "a@b.org\nBcc: c@d.org"})
    assert patch.status_code == 422 and patch.json()["field"] == "email_to.0"
    task = api.post(f"/api/v1/jobs/{job['id']}/tasks", json={"query": "REPLICATE [a\r\nb]"})
    assert task.status_code == 422 and task.json()["field"] == "query"
    transformation = api.post(
        "/api/v1/transformations",
        json={
            "name": "t",
            "connection_id": job["destination_connection_id"],
            "queries": ["SELECT 1"],
            "email_subject": injected,
        },
    )
    assert transformation.status_code == 422
    assert transformation.json()["field"] == "email_subject"

    v2 = api.post(
        "/api.rsc/v2/workspaces/default/jobs",
        json={"JobName": "v2", "Source": "source", "NotifyEmailSubject": injected},
    )
    assert "NotifyEmailSubject" in cdata(v2, 400)
    v1 = api.post(
        "/api.rsc/jobs",
        params={"workspaceId": "default"},
        json={"JobName": "v1", "Source": "source", "NotifyEmailTo": "ops@example.com\r\nx"},
    )
    assert "NotifyEmailTo" in cdata(v1, 400)
    stored = {j["name"] for j in api.get("/api/v1/jobs").json()["items"]}
    assert stored == {"ok"}


# --- protective headers ----------------------------------------------------------------------


def _protected(response: httpx.Response, policy: str = DATA_POLICY) -> None:
    for name, value in PROTECTIVE.items():
        assert response.headers.get(name) == value, (response.request.url, name, response.headers)
    assert response.headers["content-security-policy"] == policy
    assert "server" not in response.headers


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/healthz", 200),
        ("/readyz", 200),
        ("/api/v1/workspaces", 200),
        ("/api/v1/nothing-here", 404),
        ("/api.rsc/jobs", 200),
        ("/api.rsc/v2/workspaces", 200),
        ("/_connector", 200),
        ("/sync/jobs", 200),
        ("/admin/app/scapi/jobs/none/status/none", 404),
        ("/metrics", 200),
        ("/openapi.json", 200),
    ],
)
def test_every_answer_carries_the_protective_headers(
    api: TestClient, path: str, status: int
) -> None:
    response = api.get(path)
    assert response.status_code == status, response.text
    _protected(response)


def test_pages_frames_and_crashes_are_covered_too(api: TestClient) -> None:
    docs = api.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    _protected(docs, "frame-ancestors 'none'")

    def crash() -> None:
        raise RuntimeError("boom")

    api.app.add_api_route("/api/v1/test-crash", crash)  # type: ignore[attr-defined]
    crashing = TestClient(api.app, raise_server_exceptions=False)
    answer = crashing.get("/api/v1/test-crash")
    assert answer.status_code == 500
    _protected(answer)
    refused = anonymous(api).post("/api/v1/workspaces", content=DEEP)
    assert refused.status_code == 400
    _protected(refused)
