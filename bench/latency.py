"""Queue latency and throughput on PostgreSQL: enqueue-to-start p50/p99, no-op runs per second.

Bar (DESIGN.md §3): under 100 ms from enqueue to `in_progress` on an idle server (p50).
Workers are separate `conveyor worker` processes woken by LISTEN/NOTIFY.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

from bench.cluster_common import make_jobs, percentile, small_source, wait_final
from tests.e2e.cluster import cluster
from tests.services import fresh_pg_database


def main(latency_runs: int = 60, throughput_runs: int = 200) -> None:
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-") as tmp:
        root = Path(tmp)
        with (
            cluster(root, poll_interval=5) as group,
            fresh_pg_database("conveyor_bench_lake") as lake,
        ):
            group.api()
            for i in range(4):
                group.worker(f"worker{i}", slots=1)
            client = group.client()
            source = small_source(root / "src.db")
            queries = [
                f"REPLICATE [t{i}] SELECT * FROM [items]"
                for i in range(max(latency_runs, throughput_runs))
            ]
            jobs = make_jobs(client, source, lake, queries)
            time.sleep(2)  # workers idle, listening
            latencies = []
            for job_id in jobs[:latency_runs]:
                run = client.post(f"/api/v1/jobs/{job_id}/execute").json()
                done = wait_final(client, [run["id"]], 60)[run["id"]]
                created = dt.datetime.fromisoformat(done["created_at"])
                started = dt.datetime.fromisoformat(done["started_at"])
                latencies.append((started - created).total_seconds() * 1000)
                time.sleep(0.2)
            began = time.perf_counter()
            run_ids = [
                client.post(f"/api/v1/jobs/{j}/execute").json()["id"]
                for j in jobs[:throughput_runs]
            ]
            final = wait_final(client, run_ids, 600)
            elapsed = time.perf_counter() - began
    completed = sum(1 for r in final.values() if r["status"] == "completed")
    print("\n## Queue on PostgreSQL, 4 worker processes (LISTEN/NOTIFY wake-ups)")
    print(
        f"enqueue → in_progress over {len(latencies)} runs on an idle cluster: "
        f"p50 {percentile(latencies, 0.5):.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms, "
        f"max {max(latencies):.0f} ms (bar: p50 under 100 ms)"
    )
    print(
        f"throughput: {completed}/{len(run_ids)} tiny runs completed in {elapsed:.1f} s = "
        f"{completed / elapsed:.1f} runs/s (each in its own process, with a real copy)"
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
