"""5M-row export to csv and xlsx in one job, downloaded as one ZIP, against the real server.

Starts `conveyor serve`, runs an export job whose two tasks write the same 5M-row table
as `big.csv` and (`WITH ExportFormat='xlsx'`) as `big.xlsx` — five sheets, as Excel
holds 1,048,576 rows a sheet — then downloads the run as a ZIP streamed while it is
made. The server process's resident memory is sampled the whole time (bar: under
400 MB while it streams); the run's own process, a child, is reported beside it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from bench.common import OUT
from bench.sqlite_to_parquet import ROWS, make_source

TOKEN = "cvy_bench_export_token_0123456789"
BAR_MB = 400


@dataclass
class Peaks:
    """Peak resident memory of the server process, and of it with its children."""

    server: float = 0.0
    total: float = 0.0


@contextlib.contextmanager
def sampling(pid: int) -> Iterator[Peaks]:
    """Sample the RSS of a process (and its children) every 20 ms."""
    peaks = Peaks()
    stop = threading.Event()

    def sample() -> None:
        process = psutil.Process(pid)
        while not stop.is_set():
            with contextlib.suppress(psutil.Error):
                own = process.memory_info().rss
                children = 0
                for child in process.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        children += child.memory_info().rss
                peaks.server = max(peaks.server, own / 2**20)
                peaks.total = max(peaks.total, (own + children) / 2**20)
            stop.wait(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peaks
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def server(data_dir: Path) -> Iterator[tuple[subprocess.Popen[bytes], httpx.Client]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "CONVEYOR_DATA_DIR": str(data_dir),
        "CONVEYOR_PORT": str(port),
        "CONVEYOR_ADMIN_TOKEN": TOKEN,
        "CONVEYOR_WORKERS": "1",
        "CONVEYOR_LOG_LEVEL": "WARNING",
    }
    env.pop("CONVEYOR_DATABASE_URL", None)
    log = (data_dir.parent / "export-server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "conveyor.cli", "serve"], env=env, stdout=log, stderr=log
    )
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=600,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if client.get("/healthz").status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start; see {log.name}")
            time.sleep(0.2)
        yield process, client
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        log.close()


def main(rows: int = ROWS) -> dict[str, float]:
    OUT.mkdir(exist_ok=True)
    source = OUT / f"big_{rows}.db"
    make_source(source, rows)
    data_dir = OUT / "export-server"
    shutil.rmtree(data_dir, ignore_errors=True)
    target = OUT / "export.zip"
    with server(data_dir) as (process, client), sampling(process.pid) as peaks:
        connection = client.post(
            "/api/v1/connections", json={"name": "big", "url": f"sqlite:///{source}"}
        ).json()
        job = client.post(
            "/api/v1/jobs",
            json={
                "name": "big-export",
                "source_connection_id": connection["id"],
                "export_format": "csv",
                "queries": [
                    "REPLICATE [big]",
                    "REPLICATE [big] WITH ExportFormat='xlsx' SELECT * FROM [big]",
                ],
            },
        ).json()
        started = time.perf_counter()
        run = client.post(f"/api/v1/jobs/{job['id']}/execute", json={}).json()
        while run["status"] not in ("completed", "error", "canceled"):
            time.sleep(0.5)
            run = client.get(f"/api/v1/runs/{run['id']}").json()
        export_seconds = time.perf_counter() - started
        if run["status"] != "completed":
            raise RuntimeError(f"the export run ended {run['status']}: {run['error']}")
        files = client.get(f"/api/v1/runs/{run['id']}/files").json()["items"]
        export_peaks = Peaks(peaks.server, peaks.total)
        peaks.server = peaks.total = 0.0  # from here on: the download alone
        started = time.perf_counter()
        size = 0
        with (
            client.stream("GET", f"/api/v1/runs/{run['id']}/download") as response,
            target.open("wb") as sink,
        ):
            response.raise_for_status()
            for chunk in response.iter_raw(1 << 20):
                sink.write(chunk)
                size += len(chunk)
        download_seconds = time.perf_counter() - started
    with zipfile.ZipFile(target) as archive:
        names = sorted(archive.namelist())
        assert names == ["big.csv", "big.xlsx"], names
        assert archive.testzip() is None
    target.unlink()
    sizes = {f["filename"]: f["size"] for f in files}
    print(f"\n## Export: {rows:,} rows × 10 columns → csv + xlsx in one run, downloaded as a ZIP")
    print(f"export run (both files)         {export_seconds:8.1f} s")
    for name, bytes_ in sorted(sizes.items()):
        print(f"  {name:<30}{bytes_ / 2**20:8.0f} MB")
    print(
        f"ZIP download                    {download_seconds:8.1f} s  "
        f"{size / 2**20:,.0f} MB  {size / 2**20 / download_seconds:,.0f} MB/s"
    )
    print(
        f"peak RSS during the export      server {export_peaks.server:5.0f} MB, "
        f"with the run's process {export_peaks.total:5.0f} MB"
    )
    print(f"peak RSS during the download   server {peaks.server:5.0f} MB (bar: under {BAR_MB} MB)")
    return {
        "export_seconds": export_seconds,
        "download_seconds": download_seconds,
        "zip_mb": size / 2**20,
        "server_peak_mb": max(export_peaks.server, peaks.server),
        "run_peak_mb": export_peaks.total,
    }


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
