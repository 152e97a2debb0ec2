"""The JSON:API sync service's exports (`/sync/exports`) over HTTP against the real server,
as a client of `sync-service-jsonapi-exports-jobs.txt`: index with every filter of the
reference, sort, paging, count, fields, included; show; download; export; formats."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from tests.e2e.server import Server, running_server
from tests.exports_support import build_shop, export_job, run_export, unique

pytestmark = pytest.mark.e2e
JSONAPI = "application/vnd.api+json"
ATTRIBUTES = {
    "job_id",
    "project_id",
    "created_by_id",
    "file_id",
    "filename",
    "mime_type",
    "size",
    "created_at",
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("exports")) as running:
        running.client.headers["Accept"] = JSONAPI
        yield running


@pytest.fixture(scope="module")
def made(srv: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two runs: an xlsx job with two files, and a csv job with one."""
    es = srv.client
    shop = f"sqlite:///{build_shop(tmp_path_factory.mktemp('exports-data') / 'shop.db')}"
    sheets = export_job(
        es,
        shop,
        "xlsx",
        ["REPLICATE [orders]", "REPLICATE [few] SELECT * FROM orders WHERE id <= 3"],
        external_key=unique("sheets"),
    )
    table = export_job(es, shop, "csv", ["REPLICATE [orders]"])
    runs = {"xlsx": run_export(es, sheets["id"]), "csv": run_export(es, table["id"])}
    assert all(r["status"] == "completed" for r in runs.values()), runs
    return {"jobs": {"xlsx": sheets, "csv": table}, "runs": runs, "shop": shop}


def index(es: httpx.Client, **params: str) -> dict[str, Any]:
    response = es.get("/sync/exports", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSONAPI
    return dict(response.json())


def names(body: dict[str, Any]) -> list[str]:
    return [item["attributes"]["filename"] for item in body["data"]]


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSONAPI
    return dict(response.json()["errors"][0])


def test_index_documents(srv: Server, made: dict[str, Any]) -> None:
    body = index(srv.client, count="true")
    assert body["meta"]["count"] == len(body["data"]) == 3 and body["jsonapi"]["version"]
    item = next(d for d in body["data"] if d["attributes"]["filename"] == "few.xlsx")
    assert item["type"] == "sync:exports" and set(item["attributes"]) >= ATTRIBUTES
    attributes = item["attributes"]
    assert attributes["job_id"] == made["runs"]["xlsx"]["id"]
    assert attributes["file_id"] == item["id"] and attributes["project_id"] == "default"
    assert attributes["mime_type"].endswith("spreadsheetml.sheet") and attributes["size"] > 0
    assert item["relationships"]["job"]["data"] == {"type": "sync:jobs", "id": attributes["job_id"]}
    assert item["links"] == {
        "self": f"/sync/exports/{item['id']}",
        "download": f"/sync/exports/{item['id']}/download",
    }
    assert body["links"]["next"] is None and "page%5Bsize%5D=1000" in body["links"]["self"]


def test_every_filter_of_the_reference(srv: Server, made: dict[str, Any]) -> None:
    es = srv.client
    everything = index(es)["data"]
    few = next(d for d in everything if d["attributes"]["filename"] == "few.xlsx")
    a = few["attributes"]
    xlsx_run, csv_run = made["runs"]["xlsx"]["id"], made["runs"]["csv"]["id"]
    cases: list[tuple[dict[str, str], set[str]]] = [
        ({"filter[id]": few["id"]}, {"few.xlsx"}),
        ({"filter[id__in]": f"{few['id']},nope"}, {"few.xlsx"}),
        ({"filter[job_id]": csv_run}, {"orders.csv"}),
        (
            {"filter[job_id__in]": f"{csv_run},{xlsx_run}"},
            {"orders.csv", "few.xlsx", "orders.xlsx"},
        ),
        ({"filter[project_id]": "default"}, {"orders.csv", "few.xlsx", "orders.xlsx"}),
        ({"filter[project_id]": "elsewhere"}, set()),
        (
            {"filter[created_by_id]": a["created_by_id"], "filter[filename]": "few.xlsx"},
            {"few.xlsx"},
        ),
        ({"filter[file_id]": few["id"]}, {"few.xlsx"}),
        ({"filter[filename]": "orders.csv"}, {"orders.csv"}),
        ({"filter[filename__in]": "orders.csv,few.xlsx"}, {"orders.csv", "few.xlsx"}),
        ({"filter[mime_type]": "text/csv"}, {"orders.csv"}),
        ({"filter[size]": str(a["size"])}, {"few.xlsx"}),
        ({"filter[size__lte]": str(a["size"])}, {"few.xlsx"}),
        ({"filter[size__gte]": str(a["size"] + 1)}, {"orders.csv", "orders.xlsx"}),
        (
            {"filter[created_at]": a["created_at"], "filter[job_id]": xlsx_run},
            {"few.xlsx", "orders.xlsx"},
        ),
        (
            {"filter[created_at__gte]": a["created_at"], "filter[job_id]": xlsx_run},
            {"few.xlsx", "orders.xlsx"},
        ),
        ({"filter[created_at__lte]": "2000-01-01T00:00:00Z"}, set()),
    ]
    for params, expected in cases:
        assert set(names(index(es, **params))) == expected, params


def test_sort_paging_fields_and_included(srv: Server, made: dict[str, Any]) -> None:
    es = srv.client
    by_size = names(index(es, sort="-size"))
    sizes = [d["attributes"]["size"] for d in index(es, sort="-size")["data"]]
    assert sizes == sorted(sizes, reverse=True) and len(by_size) == 3
    assert names(index(es, sort="filename")) == ["few.xlsx", "orders.csv", "orders.xlsx"]
    assert len(names(index(es, sort="-job_id,filename"))) == 3
    page = index(
        es, **{"page[size]": "1", "page[number]": "2", "sort": "filename", "count": "true"}
    )
    assert names(page) == ["orders.csv"] and page["meta"]["count"] == 3
    assert "page%5Bnumber%5D=3" in page["links"]["next"] and page["links"]["prev"]
    sparse = index(es, fields="filename,size")
    assert all(set(d["attributes"]) == {"filename", "size"} for d in sparse["data"])
    run_id = made["runs"]["csv"]["id"]
    included = index(es, included="job", **{"filter[job_id]": run_id})
    assert [(i["type"], i["id"]) for i in included["included"]] == [("sync:jobs", run_id)]
    assert included["included"][0]["attributes"]["status"] == "completed"


def test_show_and_download(srv: Server, made: dict[str, Any]) -> None:
    es = srv.client
    item = index(es, **{"filter[filename]": "few.xlsx"})["data"][0]
    shown = es.get(f"/sync/exports/{item['id']}", params={"included": "job", "fields": "filename"})
    assert shown.status_code == 200 and shown.headers["content-type"] == JSONAPI
    body = shown.json()
    assert body["data"]["attributes"] == {"filename": "few.xlsx"}
    assert body["included"][0]["type"] == "sync:jobs"
    download = es.get(f"/sync/exports/{item['id']}/download")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="few.xlsx"'
    assert len(download.content) == item["attributes"]["size"]
    rows = list(openpyxl.load_workbook(io.BytesIO(download.content)).active.values)
    assert [r[0] for r in rows] == ["id", 1, 2, 3]
    part = es.get(f"/sync/exports/{item['id']}/download", headers={"Range": "bytes=0-1"})
    assert part.status_code == 206 and part.content == b"PK"
    missing = error(es.get("/sync/exports/nope"), 404)
    assert missing["status"] == "404"
    error(es.get("/sync/exports/nope/download"), 404)


def test_export_starts_a_job_whose_exports_follow(srv: Server, made: dict[str, Any]) -> None:
    es = srv.client
    key = made["jobs"]["xlsx"]["external_key"]
    body = {"data": {"type": "sync:exports", "attributes": {"definition_id": key, "format": "csv"}}}
    response = es.post("/sync/exports/export", json=body)
    assert response.status_code == 202, response.text
    started = response.json()["data"]
    assert (
        started["type"] == "sync:jobs"
        and response.headers["location"] == f"/sync/jobs/{started['id']}"
    )
    deadline = time.monotonic() + 60
    while (
        es.get(f"/sync/jobs/{started['id']}").json()["data"]["attributes"]["status"] != "completed"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    found = index(es, **{"filter[job_id]": started["id"], "sort": "filename"})
    assert names(found) == ["few.csv", "orders.csv"]
    assert {d["attributes"]["mime_type"] for d in found["data"]} == {"text/csv"}
    bare = es.post("/sync/exports/export", json={"definition_id": made["jobs"]["csv"]["id"]})
    assert bare.status_code == 202


def test_export_refusals(srv: Server, made: dict[str, Any], tmp_path: Path) -> None:
    es = srv.client
    job_id = made["jobs"]["csv"]["id"]
    assert error(es.post("/sync/exports/export", json={"data": {"attributes": {}}}), 422)[
        "source"
    ] == {"pointer": "/data/attributes/definition_id"}
    unknown = error(
        es.post("/sync/exports/export", json={"definition_id": job_id, "job_id": "x"}), 422
    )
    assert "job_id" in unknown["detail"]
    error(es.post("/sync/exports/export", json={"definition_id": job_id, "format": "pdf"}), 422)
    error(es.post("/sync/exports/export", json={"definition_id": "no-such-job"}), 404)
    copy = es.post(
        "/api/v1/connections", json={"name": unique("dst"), "url": f"sqlite:///{tmp_path / 'd.db'}"}
    ).json()
    replicate = es.post(
        "/api/v1/jobs",
        json={
            "name": unique("copy"),
            "source_connection_id": made["jobs"]["csv"]["source_connection_id"],
            "destination_connection_id": copy["id"],
            "queries": ["REPLICATE [orders]"],
        },
    ).json()
    refused = error(es.post("/sync/exports/export", json={"definition_id": replicate["id"]}), 422)
    assert "only export jobs" in refused["detail"]


def test_formats_per_modality(srv: Server) -> None:
    es = srv.client
    tabular = es.get("/sync/exports/formats", params={"modalities": "tabular"}).json()
    assert [d["id"] for d in tabular["data"]] == ["csv", "parquet", "json", "ndjson", "xlsx"]
    assert set(tabular["meta"]["modalities"]) == {"tabular", "nested", "typed", "spreadsheet"}
    both = es.get("/sync/exports/formats", params={"modalities": "nested,typed"}).json()
    assert [d["id"] for d in both["data"]] == ["parquet"]
    sheets = es.get("/sync/exports/formats?modalities=spreadsheet&modalities=tabular").json()
    assert [d["id"] for d in sheets["data"]] == ["csv", "xlsx"]
    xlsx = sheets["data"][1]["attributes"]
    assert xlsx["extension"] == ".xlsx" and xlsx["mime_type"].endswith("spreadsheetml.sheet")
    assert error(es.get("/sync/exports/formats"), 400)["source"] == {"parameter": "modalities"}
    assert "audio" in error(es.get("/sync/exports/formats?modalities=audio"), 400)["detail"]


def test_bad_parameters_name_themselves(srv: Server, made: dict[str, Any]) -> None:
    es = srv.client
    for params, parameter in (
        ({"filter[owner]": "x"}, "filter[owner]"),
        ({"filter[size__in]": "1"}, "filter[size__in]"),
        ({"filter[size]": "big"}, "filter[size]"),
        ({"sort": "color"}, "sort"),
        ({"page[size]": "0"}, "page[size]"),
        ({"included": "owner"}, "included"),
    ):
        found = error(es.get("/sync/exports", params=params), 400)
        assert found["source"] == {"parameter": parameter}, (params, found)
    with httpx.Client(base_url=srv.url, timeout=30) as anonymous:
        assert anonymous.get("/sync/exports").status_code == 401
