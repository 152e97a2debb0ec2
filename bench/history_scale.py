"""History at scale: list and filter latency with 1,000,000 runs and 10,000,000 log lines.

Target (issue 16): p99 < 50 ms for every list and filter of every surface that lists
history — the native runs list (whole, by job, status and date range, a deep page), a
run's and a job's log lines (a job's newest first too), a task's history; CData v1
(OData `$filter`/`$orderby`/`$top`/`$skip`/`$count` on history and jobs, `getJobLog`)
and v2 (a job's and a task's history); the JSON:API jobs and exports indexes; Elastic's
sync jobs (whole, by status, by connector, by connector and type) and connectors. SCAPI
lists nothing: its process status is measured instead.

The store is seeded in bulk by `history_seed` (after the migrations, so its indexes are
a server's). Requests go through the whole app in-process (FastAPI's TestClient:
routing, authentication, the services, the store — no sockets), one at a time; each
answer is checked (200 and, for a list, rows in it). The figures are per request, on
a machine that other work shares, so read them as orders of magnitude: the fastest of
the repeats (`min`) is the request's own cost, p99 adds whatever else the machine did.

    python -m bench.history_scale [--store sqlite|postgres|both] [--runs 1000000]
        [--lines-per-run 10] [--repeat 30] [--cache DIR] [--drop-cache]

`--cache` keeps the seeded stores in DIR (a PostgreSQL database per store too) and reuses
them while the schema revision and the sizes are the same; `--drop-cache` removes them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from fastapi.testclient import TestClient
from httpx import Response

from bench.cluster_common import percentile
from bench.history_seed import TOKEN, Seeded, drop_cache, store
from conveyor.api.app import create_app

TARGET_P99_MS = 50.0
DEEP = 0.1
"""Where the deep pages measured start, as a share of the runs (the runs list's offset and
CData's `$skip`): 100,000 of a million."""


def _rows(body: Any) -> int:
    """How many rows a list's answer holds, whatever the surface's shape."""
    for key in ("items", "value", "data", "results"):
        if isinstance(body, dict) and isinstance(body.get(key), list):
            return len(body[key])
    return 1


@dataclass(frozen=True)
class Request:
    """One list or filter measured: its surface's name, the request, and whether an answer
    must hold rows (a `$count` or a status holds a figure)."""

    surface: str
    path: str
    params: dict[str, str]
    body: dict[str, Any] | None = None

    def send(self, client: TestClient) -> Response:
        """The request, through the whole app."""
        if self.body is not None:
            return cast(Response, client.post(self.path, params=self.params, json=self.body))
        return cast(Response, client.get(self.path, params=self.params))

    def check(self, response: Response) -> None:
        """Exit naming the request unless it answered 200 with something in it."""
        if response.status_code != 200:
            raise SystemExit(f"{self.surface}: {response.status_code} {response.text[:500]}")
        typed = response.headers.get("content-type", "")
        found = _rows(response.json()) if "json" in typed else len(response.text.strip())
        if not found:
            raise SystemExit(f"{self.surface}: an empty answer {response.text[:500]}")


def requests(seeded: Seeded, runs: int) -> list[Request]:
    """Every list and filter measured, over what `seeded` holds."""
    deep = str(int(runs * DEEP))
    job, name, task, run = seeded.job_id, seeded.job_name, seeded.task_id, seeded.run_id
    newest = dt.datetime.fromisoformat(seeded.newest)
    hour = (newest - dt.timedelta(hours=1)).isoformat()
    middle = newest - dt.timedelta(seconds=runs)  # runs are two seconds apart
    day = [(middle + dt.timedelta(hours=h)).isoformat() for h in (0, 1)]
    failed = {"$filter": f"JobName eq '{name}' and Status eq 'FAILED'", "$top": "50"}
    return [
        Request("native runs", "/api/v1/runs", {"limit": "50"}),
        Request("native runs page 2", "/api/v1/runs", {"limit": "50", "offset": "50"}),
        Request("native runs deep", "/api/v1/runs", {"limit": "50", "offset": deep}),
        Request(
            "native runs status+sort", "/api/v1/runs", {"status": "error", "sort": "-created_at"}
        ),
        Request("native runs job", "/api/v1/runs", {"job_id": job, "limit": "50"}),
        Request("native runs job+status", "/api/v1/runs", {"job_id": job, "status": "error"}),
        Request("native runs since", "/api/v1/runs", {"created_at__gte": hour}),
        Request(
            "native runs date range",
            "/api/v1/runs",
            {"created_at__gte": day[0], "created_at__lte": day[1], "limit": "50"},
        ),
        Request("native run logs", f"/api/v1/runs/{run}/logs", {"limit": "100"}),
        Request(
            "native run logs after", f"/api/v1/runs/{run}/logs", {"after": "1", "limit": "100"}
        ),
        Request("native job logs", f"/api/v1/jobs/{job}/logs", {"limit": "100"}),
        Request("native job logs since", f"/api/v1/jobs/{job}/logs", {"since": hour}),
        Request(
            "native job logs newest", f"/api/v1/jobs/{job}/logs", {"sort": "-id", "limit": "100"}
        ),
        Request("native task history", f"/api/v1/jobs/{job}/tasks/{task}/history", {"limit": "50"}),
        Request("cdata v1 history top", "/api.rsc/history", {"$top": "50"}),
        Request("cdata v1 history filter", "/api.rsc/history", failed),
        Request("cdata v1 history filter count", "/api.rsc/history", {**failed, "$count": "true"}),
        Request(
            "cdata v1 history orderby",
            "/api.rsc/history",
            {"$orderby": "RunStartDate desc", "$top": "50"},
        ),
        Request(
            "cdata v1 history startswith",
            "/api.rsc/history",
            {"$filter": f"startswith(JobName, '{name}')", "$top": "20"},
        ),
        Request(
            "cdata v1 history date range",
            "/api.rsc/history",
            {"$filter": f"RunStartDate ge {day[0]} and RunStartDate lt {day[1]}", "$top": "50"},
        ),
        Request("cdata v1 history $skip", "/api.rsc/history", {"$top": "50", "$skip": deep}),
        Request(
            "cdata v1 history $count", "/api.rsc/history/$count", {"$filter": "Status eq 'FAILED'"}
        ),
        Request("cdata v1 jobs", "/api.rsc/jobs", {"$filter": "Status eq 'FAILED'", "$top": "50"}),
        Request(
            "cdata v1 jobs orderby", "/api.rsc/jobs", {"$orderby": "LastRunDate desc", "$top": "20"}
        ),
        Request("cdata v1 getJobLog run", "/api.rsc/getjoblog", {}, {"RunId": run}),
        Request("cdata v2 job history", f"/api.rsc/v2/jobs/{job}/history", {"limit": "50"}),
        Request(
            "cdata v2 task history", f"/api.rsc/v2/jobs/{job}/tasks/{task}/history", {"limit": "50"}
        ),
        Request("jsonapi jobs", "/sync/jobs", {"page[size]": "50"}),
        Request(
            "jsonapi jobs filter", "/sync/jobs", {"filter[status]": "error", "page[size]": "50"}
        ),
        Request("jsonapi jobs count", "/sync/jobs", {"page[size]": "50", "count": "true"}),
        Request("jsonapi exports", "/sync/exports", {"page[size]": "50"}),
        Request(
            "jsonapi exports date range",
            "/sync/exports",
            {
                "filter[created_at__gte]": day[0],
                "filter[created_at__lte]": day[1],
                "page[size]": "50",
            },
        ),
        Request("elastic sync jobs", "/_connector/_sync_job", {"size": "50"}),
        Request(
            "elastic sync jobs status", "/_connector/_sync_job", {"status": "error", "size": "50"}
        ),
        Request("elastic sync jobs connector", "/_connector/_sync_job", {"connector_id": job}),
        Request(
            "elastic sync jobs connector+type",
            "/_connector/_sync_job",
            {"connector_id": job, "job_type": "incremental", "size": "50"},
        ),
        Request("elastic connectors", "/_connector", {"size": "50"}),
        Request("scapi process status", f"/admin/app/scapi/jobs/{job}/status/{run}", {}),
    ]


Figures = list[tuple[str, float, float]]


def measure(
    kind: str,
    runs: int,
    per_run: int,
    repeat: int,
    cache: Path | None = None,
    chosen: Callable[[Request], bool] = lambda _: True,
) -> Figures:
    """p50 and p99 (ms) of every request chosen, over a store of `runs` runs, each
    printed as soon as it is measured."""
    began = time.perf_counter()
    with store(kind, runs, per_run, cache) as (runtime, seeded):
        print(
            f"\n## {kind}: {runs:,} runs and {runs * per_run:,} log lines ready "
            f"in {time.perf_counter() - began:.0f} s"
        )
        print(
            f"{'request':<32} {'p50 ms':>8} {'p99 ms':>8} {'min ms':>8}"
            f"  (target p99 < {TARGET_P99_MS:.0f} ms)"
        )
        figures = []
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with TestClient(create_app(runtime), headers=headers) as client:
            for request in filter(chosen, requests(seeded, runs)):
                request.check(request.send(client))  # warm: the first request plans, caches
                timings = []
                for _ in range(repeat):
                    start = time.perf_counter()
                    response = request.send(client)
                    timings.append((time.perf_counter() - start) * 1000)
                    request.check(response)
                p50, p99 = percentile(timings, 0.5), percentile(timings, 0.99)
                mark = "ok" if p99 < TARGET_P99_MS else "SLOW"
                low = min(timings)
                print(
                    f"{request.surface:<32} {p50:>8.1f} {p99:>8.1f} {low:>8.1f}  {mark}", flush=True
                )
                figures.append((request.surface, p50, p99))
    return figures


def main(
    stores: tuple[str, ...] = ("sqlite",),
    runs: int = 1_000_000,
    per_run: int = 10,
    repeat: int = 30,
    cache: Path | None = None,
    only: str = "",
) -> None:
    """Measure each store, printing its figures."""
    for kind in stores:
        measure(kind, runs, per_run, repeat, cache, lambda r: only in r.surface)


def _cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--lines-per-run", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--only", default="", help="only the requests whose name holds this")
    default_cache = Path(tempfile.gettempdir()) / "conveyor-history-bench"
    parser.add_argument(
        "--cache",
        type=Path,
        nargs="?",
        const=default_cache,
        default=None,
        help=f"keep and reuse seeded stores here (default {default_cache})",
    )
    parser.add_argument("--drop-cache", action="store_true", help="remove the kept stores")
    args = parser.parse_args()
    if args.drop_cache:
        drop_cache(args.cache or default_cache)
        return
    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    main(stores, args.runs, args.lines_per_run, args.repeat, args.cache, args.only)


if __name__ == "__main__":
    _cli()
