"""PostgreSQL → PostgreSQL change data capture: lag under a live writer, and the time to
drain a backlog side by side with PostgreSQL's own logical replication.

(a) Lag. A snapshot run loads the items; a continuous run then streams (in its own
process, as a worker's run would) while a paced writer commits a 70% update / 20%
insert / 10% delete mix at `--rate` rows/s for `--seconds`. A probe commits a new
sequence number every 0.1 s, timed before it is sent, and a poller on the destination
notes when each becomes visible: lag = visible − commit, p50/p99 (bar: p99 < 1 s).

(b) Drain. With the items copied to both destinations and both slots made (Conveyor's
by its snapshot run, the native one by hand: a subscription into the same server cannot
create its own), the server writes `--changes` changed rows in transactions of
`--rows-per-transaction`. Then Conveyor's batch run drains them, timed; then a native
subscription (`CREATE SUBSCRIPTION … create_slot = false`) is enabled and timed until
the backlog's last transaction is visible. Both destinations must equal the source.
Goal: Conveyor at ≥ 0.5× native speed.

Every database, slot, publication and subscription made is dropped. Run alone:
`python -m bench.cdc_pg [--quick]`. Figures of the shared 2-core machine are in
docs/change-data-capture.md; compare ratios, not seconds, between runs.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.cdc_load import (
    NativeSubscription,
    Probe,
    Writer,
    copy_tables,
    create_tables,
    databases,
    make_backlog,
    summary,
)
from bench.cluster_common import percentile
from bench.common import OUT

TASKS = ("REPLICATE [cdc_items]", "REPLICATE [cdc_probe]")


def engine_run(
    job: dict[str, Any], continuous: bool, cancel: threading.Event | None = None
) -> tuple[Any, dict[str, Any]]:
    """One run of the bench's CDC job through the engine; returns (outcome, task states).
    `job` holds source, destination, id, name and states (as the store would keep)."""
    from conveyor.domain import EngineSettings, RunLoad
    from conveyor.engine import runner
    from conveyor.engine.reporting import NullReporter
    from conveyor.engine.spec import Endpoint, RunSpec, TaskSpec

    states = job.get("states", {})
    settings = EngineSettings(
        cdc_engine_settings={"name": job["name"], "continuous": continuous, "flush_interval": 1}
    )
    spec = RunSpec(
        run_id=uuid.uuid4().hex,
        job_id=job["id"],
        job_name="cdc bench",
        job_type="change_data_capture",
        load=RunLoad.incremental,
        settings=settings,
        source=Endpoint(job["source"]),
        destination=Endpoint(job["destination"]),
        tasks=tuple(
            TaskSpec(id=f"t{i}", position=i, query=q, state=states.get(f"t{i}", {}))
            for i, q in enumerate(TASKS)
        ),
    )
    reporter = NullReporter()
    outcome = runner.execute(spec, reporter, cancel or threading.Event())
    return outcome, {**states, **reporter.states}


def _ok(job: dict[str, Any]) -> tuple[Any, float]:
    """A batch run that must complete; its states are kept in `job`. Returns (outcome, s)."""
    started = time.perf_counter()
    outcome, job["states"] = engine_run(job, continuous=False)
    seconds = time.perf_counter() - started
    assert outcome.status.value == "completed", outcome.error
    return outcome, seconds


def _job(source: str, destination: str) -> dict[str, Any]:
    name = f"conveyor_bench_cdc_{uuid.uuid4().hex[:8]}"
    return {"source": source, "destination": destination, "id": name, "name": name}


def _release(job: dict[str, Any]) -> None:
    from conveyor.domain import CdcEngineSettings
    from conveyor.engine.cdc.lifecycle import release
    from conveyor.engine.spec import Endpoint

    release(Endpoint(job["source"]), job["id"], CdcEngineSettings(name=job["name"]))


def follow_in_child(job: dict[str, Any]) -> subprocess.Popen[bytes]:
    """The continuous run in a process of its own (the bench's threads share no GIL with it)."""
    path = OUT / f"{job['name']}.json"
    OUT.mkdir(exist_ok=True)
    path.write_text(json.dumps(job))
    return subprocess.Popen([sys.executable, "-m", "bench.cdc_pg", "--follow", str(path)])


def _follow(path: Path) -> None:
    """Child: stream until SIGTERM, then stop as a cancel would."""
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    outcome, _ = engine_run(json.loads(path.read_text()), continuous=True, cancel=cancel)
    path.unlink(missing_ok=True)
    if outcome.status.value != "canceled":
        print(f"continuous run ended {outcome.status.value}: {outcome.error}", file=sys.stderr)
        sys.exit(1)


def lag(rows: int, rate: float, seconds: float, rows_per_transaction: int) -> dict[str, float]:
    """(a): lag p50/p99 of the continuous run under the paced writer."""
    with databases("lag_src", "lag_dst") as urls:
        create_tables(urls["lag_src"], rows)
        job = _job(urls["lag_src"], urls["lag_dst"])
        child = None
        try:
            _ok(job)  # the snapshot
            child = follow_in_child(job)
            probe = Probe(urls["lag_src"], urls["lag_dst"])
            writer = Writer(urls["lag_src"], rows, rate, rows_per_transaction)
            probe.start()
            time.sleep(3)  # the run is up and caught up
            probe.sent.clear(), probe.seen.clear()
            writer.start()
            time.sleep(seconds)
            writer.stop()
            probe.stop()
            if child.poll() is not None:
                raise RuntimeError(f"the continuous run ended early ({child.returncode})")
            converged = _converge(urls["lag_src"], urls["lag_dst"])
        finally:
            if child is not None:
                child.terminate()
                child.wait()
            _release(job)
    lags = probe.lags()
    figures = {
        "rows_per_second": writer.written / writer.seconds,
        "writer_behind": writer.behind,
        "probes": len(probe.sent),
        "seen": len(lags),
        "p50": percentile(lags, 0.5) if lags else float("nan"),
        "p99": percentile(lags, 0.99) if lags else float("nan"),
        "max": max(lags, default=float("nan")),
        "converged": float(converged),
    }
    print(f"\n## PostgreSQL → PostgreSQL CDC, continuous, {rows:,} rows + 70/20/10 writer")
    print(
        f"writer: {writer.written:,} changed rows in {writer.seconds:.1f} s ="
        f" {figures['rows_per_second']:,.0f} rows/s (target {rate:,.0f}; at most"
        f" {writer.behind:.2f} s behind its pace), {rows_per_transaction} rows a transaction"
    )
    print(
        f"lag commit → visible over {len(lags)}/{len(probe.sent)} probes:"
        f" p50 {figures['p50']:.3f} s, p99 {figures['p99']:.3f} s, max {figures['max']:.3f} s"
        f" (bar: p99 < 1 s); destination equals source: {converged}"
    )
    return figures


def _converge(source: str, destination: str, patience: float = 60.0) -> bool:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if summary(source) == summary(destination):
            return True
        time.sleep(0.1)
    return False


def drain(rows: int, changes: int, rows_per_transaction: int) -> dict[str, float]:
    """(b): a backlog drained by Conveyor's batch run, then by a native subscription."""
    with databases("drain_src", "drain_dst", "drain_nat") as urls:
        source, ours, theirs = urls["drain_src"], urls["drain_dst"], urls["drain_nat"]
        create_tables(source, rows)
        create_tables(theirs)
        copy_tables(source, theirs)
        job = _job(source, ours)
        native = NativeSubscription(source, theirs, source.rsplit("/", 1)[1])
        try:
            native.create_slot()
            _ok(job)  # the snapshot; its slot keeps the backlog from here on
            began = time.perf_counter()
            transactions = make_backlog(source, rows, changes, rows_per_transaction)
            written = time.perf_counter() - began
            outcome, conveyor_seconds = _ok(job)
            read = outcome.rows_read
            started = time.perf_counter()
            native.start()
            while summary(theirs)[3] != 1:
                time.sleep(0.02)
            native_seconds = time.perf_counter() - started
            expected = summary(source)
            same = (summary(ours) == expected, summary(theirs) == expected)
        finally:
            native.drop()
            _release(job)
    print(f"\n## PostgreSQL → PostgreSQL CDC, draining a backlog over {rows:,} rows")
    print(
        f"backlog: {transactions:,} transactions of {rows_per_transaction} changed rows"
        f" (70/20/10), written by the server in {written:.1f} s; Conveyor read {read:,} changes"
    )
    print(f"{'what':<40} {'seconds':>8} {'changes/s':>12}")
    for name, took in (("conveyor (batch run)", conveyor_seconds), ("native", native_seconds)):
        print(f"{name:<40} {took:>8.2f} {read / took:>12,.0f}")
    ratio = native_seconds / conveyor_seconds
    print(
        f"conveyor speed / native speed: {ratio:.2f}x (goal: ≥ 0.5x); destinations equal the"
        f" source: conveyor {same[0]}, native {same[1]}"
    )
    return {"conveyor": conveyor_seconds, "native": native_seconds, "ratio": ratio}


def main(
    quick: bool = False,
    rate: float = 2_000,
    seconds: float | None = None,
    changes: int | None = None,
    rows: int = 100_000,
    rows_per_transaction: int = 20,
    rounds: int = 1,
) -> None:
    seconds = seconds if seconds is not None else (15 if quick else 60)
    changes = changes if changes is not None else (100_000 if quick else 1_000_000)
    lags = [lag(rows, rate, seconds, rows_per_transaction) for _ in range(rounds)]
    drains = [drain(rows, changes, rows_per_transaction) for _ in range(rounds)]
    if rounds > 1:
        print(
            f"\nover {rounds} rounds: lag p99 median"
            f" {statistics.median(x['p99'] for x in lags):.3f} s; drain ratio median"
            f" {statistics.median(x['ratio'] for x in drains):.2f}x"
        )


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.cdc_pg", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="15 s of writing, 100k changes")
    parser.add_argument("--rate", type=float, default=2_000, help="writer rows/s")
    parser.add_argument("--seconds", type=float, help="writer duration (default 60)")
    parser.add_argument("--changes", type=int, help="backlog changes (default 1,000,000)")
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the table first")
    parser.add_argument("--rows-per-transaction", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1, help="repeat both measurements")
    parser.add_argument("--only", choices=("lag", "drain"), help="one measurement")
    parser.add_argument("--follow", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _arguments(sys.argv[1:])
    if args.follow:
        _follow(args.follow)
    elif args.only == "lag":
        for _ in range(args.rounds):
            lag(
                args.rows,
                args.rate,
                args.seconds or (15 if args.quick else 60),
                args.rows_per_transaction,
            )
    elif args.only == "drain":
        for _ in range(args.rounds):
            drain(
                args.rows,
                args.changes or (100_000 if args.quick else 1_000_000),
                args.rows_per_transaction,
            )
    else:
        main(
            args.quick,
            args.rate,
            args.seconds,
            args.changes,
            args.rows,
            args.rows_per_transaction,
            args.rounds,
        )
