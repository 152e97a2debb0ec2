"""Export files through the native API on each metadata store: recorded with their
checksum, opened by each format's reader, downloaded whole, by range, or as a ZIP."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from conveyor.runtime import Runtime
from tests.exports_support import build_shop, export_job, is_problem, run_export, slow_hook

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MIME = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "xlsx": XLSX,
}


@pytest.fixture
def shop(tmp_path: Path) -> str:
    return f"sqlite:///{build_shop(tmp_path / 'shop.db')}"


def only_file(client: TestClient, run_id: str) -> dict[str, Any]:
    listed = client.get(f"/api/v1/runs/{run_id}/files").json()
    assert listed["total"] == 1, listed
    return dict(listed["items"][0])


def test_each_format_opens_in_its_reader(client: TestClient, shop: str) -> None:
    query = ["REPLICATE [orders] SELECT id, customer, total, ordered_at, day FROM orders"]
    runs = {}
    for fmt in MIME:
        job = export_job(client, shop, fmt, query)
        started = client.post(f"/api/v1/jobs/{job['id']}/execute", json={})
        runs[fmt] = started.json()["id"]
    from tests.exports_support import wait_run

    for fmt, run_id in runs.items():
        assert wait_run(client, run_id)["status"] == "completed"
        item = only_file(client, run_id)
        assert item["filename"] == f"orders.{fmt}" and item["mime_type"] == MIME[fmt]
        response = client.get(f"/api/v1/runs/{run_id}/download")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(MIME[fmt])
        assert response.headers["content-disposition"] == f'attachment; filename="orders.{fmt}"'
        body = response.content
        assert len(body) == item["size"] and hashlib.sha256(body).hexdigest() == item["sha256"]
        assert response.headers["etag"] == f'"{item["sha256"]}"'
        assert client.get(item["download_url"]).content == body
        check_reader(fmt, body)


def check_reader(fmt: str, body: bytes) -> None:
    if fmt == "parquet":
        table = pq.read_table(io.BytesIO(body))
        assert table.num_rows == 50 and table.schema.field("id").type == pa.int64()
        assert table.column("total")[0].as_py() == decimal.Decimal("1.25")
        assert pa.types.is_timestamp(table.schema.field("ordered_at").type)
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        assert len(rows) == 50 and rows[0]["customer"] == "cüstomer & co 1"
        assert rows[6]["customer"] == "" and rows[0]["total"] == "1.25"
    elif fmt == "json":
        rows = json.loads(body)
        assert len(rows) == 50 and rows[0]["id"] == 1 and rows[6]["customer"] is None
    elif fmt == "ndjson":
        rows = [json.loads(line) for line in body.decode().splitlines()]
        assert len(rows) == 50 and rows[1]["customer"] == "cüstomer & co 2"
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(body)).active
        values = list(sheet.values)
        assert values[0] == ("id", "customer", "total", "ordered_at", "day")
        first = values[1]
        assert first[0] == 1 and first[1] == "cüstomer & co 1" and first[2] == 1.25
        assert first[3] == dt.datetime(2024, 1, 2, 10, 0, 1) and first[4] == dt.datetime(2024, 2, 2)
        assert len(values) == 51


def test_range_requests_on_a_file(client: TestClient, shop: str) -> None:
    run = run_export(client, export_job(client, shop, "csv", ["REPLICATE [orders]"])["id"])
    item = only_file(client, run["id"])
    url, size = item["download_url"], item["size"]
    whole = client.get(url).content
    assert client.get(url).headers["accept-ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == whole[:10]
    assert part.headers["content-range"] == f"bytes 0-9/{size}"
    tail = client.get(url, headers={"Range": "bytes=-7"})
    assert tail.status_code == 206 and tail.content == whole[-7:]
    rest = client.get(url, headers={"Range": f"bytes={size - 3}-"})
    assert rest.content == whole[-3:]
    beyond = client.get(url, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    changed = client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert changed.status_code == 200 and changed.content == whole
    same = client.get(url, headers={"Range": "bytes=0-9", "If-Range": f'"{item["sha256"]}"'})
    assert same.status_code == 206


def test_several_files_or_sub_folders_download_as_a_zip(client: TestClient, shop: str) -> None:
    job = export_job(
        client,
        shop,
        "xlsx",
        ["REPLICATE [orders]", "REPLICATE [big] SELECT * FROM orders WHERE id > 40"],
    )
    run = run_export(client, job["id"])
    response = client.get(f"/api/v1/runs/{run['id']}/download")
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == f'attachment; filename="{job["name"]}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["big.xlsx", "orders.xlsx"]
    big = openpyxl.load_workbook(io.BytesIO(archive.read("big.xlsx"))).active
    assert [r[0] for r in big.values][1:] == list(range(41, 51))
    files = client.get("/api/v1/files", params={"run_id": run["id"], "sort": "filename"}).json()
    by_name = {f["filename"]: f for f in files["items"]}
    assert hashlib.sha256(archive.read("big.xlsx")).hexdigest() == by_name["big.xlsx"]["sha256"]

    nested = export_job(client, shop, "csv", ["REPLICATE [orders]"], destination_schema="sales")
    single = run_export(client, nested["id"])
    assert only_file(client, single["id"])["path"] == "sales/orders.csv"
    archive = zipfile.ZipFile(
        io.BytesIO(client.get(f"/api/v1/runs/{single['id']}/download").content)
    )
    assert archive.namelist() == ["sales/orders.csv"]
    flat = export_job(client, shop, "csv", ["REPLICATE [orders]"])
    forced = client.get(f"/api/v1/runs/{run_export(client, flat['id'])['id']}/download?zip=true")
    assert zipfile.ZipFile(io.BytesIO(forced.content)).namelist() == ["orders.csv"]


def test_download_waits_for_a_completed_run(client: TestClient, shop: str) -> None:
    with slow_hook() as (hook, release):
        job = export_job(client, shop, "csv", ["REPLICATE [orders]"], pre_job_event=hook)
        run_id = client.post(f"/api/v1/jobs/{job['id']}/execute", json={}).json()["id"]
        early = is_problem(client.get(f"/api/v1/runs/{run_id}/download"), 409)
        assert "once it has completed" in early["detail"]
        assert client.get(f"/api/v1/runs/{run_id}/files").json()["total"] == 0
        release()
        from tests.exports_support import wait_run

        assert wait_run(client, run_id)["status"] == "completed"
    assert client.get(f"/api/v1/runs/{run_id}/download").status_code == 200
    failed = run_export(client, export_job(client, shop, "csv", ["REPLICATE [missing]"])["id"])
    body = is_problem(client.get(f"/api/v1/runs/{failed['id']}/download"), 409)
    assert "error" in body["detail"] and "missing" in body["detail"]
    is_problem(client.get("/api/v1/runs/nope/download"), 404)
    is_problem(client.get("/api/v1/files/nope/download"), 404)


def test_deleting_a_run_deletes_its_files(client: TestClient, shop: str, runtime: Runtime) -> None:
    run = run_export(client, export_job(client, shop, "parquet", ["REPLICATE [orders]"])["id"])
    item = only_file(client, run["id"])
    folder = runtime.settings.files_dir / run["id"]
    assert (folder / "orders.parquet").is_file()
    assert client.delete(f"/api/v1/runs/{run['id']}").status_code == 204
    assert not folder.exists()
    is_problem(client.get(f"/api/v1/files/{item['id']}"), 404)


def test_deleting_a_job_deletes_its_runs_files(
    client: TestClient, shop: str, runtime: Runtime
) -> None:
    job = export_job(client, shop, "csv", ["REPLICATE [orders]"])
    run = run_export(client, job["id"])
    assert (runtime.settings.files_dir / run["id"]).exists()
    assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 204
    assert not (runtime.settings.files_dir / run["id"]).exists()


def test_file_list_filters_and_sorts(client: TestClient, shop: str) -> None:
    job = export_job(
        client,
        shop,
        "ndjson",
        ["REPLICATE [orders]", "REPLICATE [few] SELECT * FROM orders WHERE id < 3"],
    )
    run = run_export(client, job["id"])
    listed = client.get("/api/v1/files", params={"job_id": job["id"], "sort": "-size"}).json()
    assert [f["filename"] for f in listed["items"]] == ["orders.ndjson", "few.ndjson"]
    small = listed["items"][1]["size"]
    assert (
        client.get("/api/v1/files", params={"job_id": job["id"], "size__lte": small}).json()[
            "total"
        ]
        == 1
    )
    since = listed["items"][0]["created_at"]
    found = client.get(
        "/api/v1/files",
        params={
            "run_id": run["id"],
            "created_at__gte": since,
            "mime_type__in": "application/x-ndjson",
        },
    ).json()
    assert found["total"] == 2
    assert client.get(f"/api/v1/files/{listed['items'][0]['id']}").json()["run_id"] == run["id"]
    is_problem(client.get("/api/v1/files", params={"owner": "x"}), 422)


def test_names_cannot_place_or_read_files_outside(
    client: TestClient, shop: str, runtime: Runtime
) -> None:
    job = export_job(
        client,
        shop,
        "csv",
        [
            "REPLICATE [ok] SELECT * FROM orders",
            "REPLICATE [a%2Fb] SELECT * FROM orders",
            "REPLICATE [..%2F..%2Fescape] SELECT * FROM orders",
            "REPLICATE [../escape] SELECT * FROM orders",
            "REPLICATE [/tmp/absolute] SELECT * FROM orders",
            "REPLICATE [back\\slash] SELECT * FROM orders",
        ],
        continue_on_error=True,
    )
    renamed = client.patch(f"/api/v1/jobs/{job['id']}", json={"name": "../../evil/job"})
    assert renamed.status_code == 200, renamed.text
    run = run_export(client, job["id"])
    assert run["status"] == "error"
    errors = [t["error"] for t in run["tasks"] if t["status"] == "error"]
    assert len(errors) == 4 and all("not allowed" in e for e in errors), run["tasks"]
    listed = client.get(f"/api/v1/runs/{run['id']}/files").json()["items"]
    assert sorted(f["path"] for f in listed) == ["a%2Fb.csv", "ok.csv"], run["tasks"]
    folder = runtime.settings.files_dir / run["id"]
    written = sorted(
        p.relative_to(runtime.settings.files_dir).as_posix()
        for p in runtime.settings.files_dir.rglob("*")
        if p.is_file()
    )
    assert written == [f"{run['id']}/a%2Fb.csv", f"{run['id']}/ok.csv"]
    assert not (runtime.settings.data_dir / "escape.csv").exists()
    assert folder.is_dir()
    nul = client.post(
        f"/api/v1/jobs/{job['id']}/tasks", json={"query": "REPLICATE [nul\u0000byte] SELECT 1"}
    )
    assert nul.status_code == 400 and "NUL" in nul.json()["detail"]
    for url in (
        "/api/v1/files/..%2F..%2Fconveyor.db/download",
        f"/api/v1/runs/..%2F{run['id']}/download",
        "/api/v1/files/%2Fetc%2Fpasswd/download",
    ):
        assert client.get(url).status_code == 404, url


def test_retention_by_age_and_by_count(client: TestClient, shop: str, runtime: Runtime) -> None:
    from sqlalchemy import update

    from conveyor.files import retention
    from conveyor.store.models import File

    job = export_job(client, shop, "csv", ["REPLICATE [orders]"])
    first, second, third = (run_export(client, job["id"]) for _ in range(3))
    keep_two = runtime.settings.model_copy(
        update={"files_keep_per_job": 2, "files_max_age_days": 0}
    )
    swept = retention.sweep(runtime.factory, keep_two)
    assert [run_id for run_id, _ in swept.files] == [first["id"]]
    assert not (runtime.settings.files_dir / first["id"]).exists()
    assert client.get(f"/api/v1/runs/{first['id']}/files").json()["total"] == 0
    is_problem(client.get(f"/api/v1/runs/{first['id']}/download"), 404)

    with runtime.unit() as ctx:
        old = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
        ctx.session.execute(update(File).where(File.run_id == second["id"]).values(created_at=old))
    by_age = runtime.settings.model_copy(update={"files_keep_per_job": 0, "files_max_age_days": 30})
    swept = retention.sweep(runtime.factory, by_age)
    assert [run_id for run_id, _ in swept.files] == [second["id"]]
    assert (runtime.settings.files_dir / third["id"] / "orders.csv").is_file()

    stray = runtime.settings.files_dir / "0b0e6e4c-1c33-4c39-9d5e-3b9b7f6d8a11"
    stray.mkdir()
    (stray / "left.csv").write_text("x")
    (runtime.settings.files_dir / "not-a-run").mkdir()
    assert retention.sweep(runtime.factory, by_age).folders == [stray.name]
    assert not stray.exists() and (runtime.settings.files_dir / "not-a-run").exists()
