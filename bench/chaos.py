"""Chaos: a mixed workload of 50 runs over 4 workers while workers are killed at random.

Afterwards every run must be final, none left `in_progress`, and every completed copy must
hold exactly its source's rows — no duplicate, no missing row. Prints the figures.
"""

from __future__ import annotations

import random
import signal
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from bench.cluster_common import make_jobs, small_source, wait_final
from tests.e2e.cluster import cluster
from tests.services import fresh_pg_database

KINDS = {  # name: (query, expected rows)
    "tiny": ("REPLICATE [{t}] SELECT * FROM [items]", 10),
    "medium": (
        "REPLICATE [{t}] (n BIGINT, PRIMARY KEY(n)) WITH RECURSIVE c(n) AS "
        "(SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 300000) SELECT n FROM c",
        300_000,
    ),
    "slow": (
        "REPLICATE [{t}] (n BIGINT, pad BIGINT, PRIMARY KEY(n)) WITH RECURSIVE c(n) AS "
        "(SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 200000) SELECT n, "
        "(WITH RECURSIVE d(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM d WHERE k < 40 + n % 2) "
        "SELECT count(*) FROM d) AS pad FROM c",
        200_000,
    ),
}


def main(runs: int = 50, seed: int = 7) -> int:
    rng = random.Random(seed)
    plan = [rng.choice(sorted(KINDS)) for _ in range(runs)]
    kills = restarts = 0
    with tempfile.TemporaryDirectory(prefix="conveyor-chaos-") as tmp:
        root = Path(tmp)
        with (
            cluster(root, heartbeat_timeout=4) as group,
            fresh_pg_database("conveyor_chaos_lake") as lake,
        ):
            group.api()
            alive = [f"worker{i}" for i in range(4)]
            for name in alive:
                group.worker(name, slots=2)
            client = group.client()
            source = small_source(root / "src.db")
            queries = [KINDS[kind][0].format(t=f"t{i}") for i, kind in enumerate(plan)]
            jobs = make_jobs(client, source, lake, queries, max_attempts=6, batch_size=20_000)
            started = time.monotonic()
            run_ids = [client.post(f"/api/v1/jobs/{j}/execute").json()["id"] for j in jobs]
            generation = 4
            while time.monotonic() - started < 240:
                running = client.get(
                    "/api/v1/runs", params={"status": "in_progress", "limit": 1}
                ).json()["total"]
                pending = client.get(
                    "/api/v1/runs", params={"status__in": "pending,suspended", "limit": 1}
                ).json()["total"]
                if not running and not pending:
                    break
                time.sleep(rng.uniform(1.0, 3.0))
                victim = rng.choice(alive)
                group.kill(victim, signal.SIGKILL)
                kills += 1
                alive.remove(victim)
                name = f"worker{generation}"
                generation += 1
                group.worker(name, slots=2)
                restarts += 1
                alive.append(name)
            final = wait_final(client, run_ids, timeout=300)
            elapsed = time.monotonic() - started
            stuck = client.get(
                "/api/v1/runs", params={"status__in": "in_progress,canceling,pending,suspended"}
            ).json()["total"]
            problems = []
            with psycopg.connect(lake) as conn:
                for i, (kind, run_id) in enumerate(zip(plan, run_ids, strict=True)):
                    run = final.get(run_id)
                    if run is None or run["status"] != "completed":
                        continue
                    key = "id" if kind == "tiny" else "n"
                    count, distinct = conn.execute(
                        f'SELECT count(*), count(DISTINCT "{key}") FROM "t{i}"'
                    ).fetchone()  # type: ignore[misc]
                    if count != KINDS[kind][1] or distinct != count:
                        problems.append(
                            f"t{i} ({kind}): {count} rows, {distinct} distinct, expected {KINDS[kind][1]}"
                        )
    statuses: dict[str, int] = {}
    for run in final.values():
        statuses[run["status"]] = statuses.get(run["status"], 0) + 1
    attempts: dict[int, int] = {}
    for run in final.values():
        attempts[run["attempt"]] = attempts.get(run["attempt"], 0) + 1
    print(
        f"\n## Chaos: {runs} runs ({', '.join(f'{plan.count(k)} {k}' for k in sorted(KINDS))}) over 4 workers"
    )
    print(f"workers killed with SIGKILL: {kills} (each replaced); wall time {elapsed:.0f} s")
    print(
        f"final runs: {len(final)}/{runs}  by status: {statuses}  by attempt: {dict(sorted(attempts.items()))}"
    )
    print(f"runs left non-final: {stuck}")
    print(
        f"destination checks: {statuses.get('completed', 0)} completed copies checked, {len(problems)} wrong"
    )
    for problem in problems:
        print("  " + problem)
    ok = len(final) == runs and stuck == 0 and not problems
    print("RESULT:", "every run final, no duplicate or missing row" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:3])))
