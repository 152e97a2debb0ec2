"""API under load: requests/s, p50/p99 and failures of the real `conveyor serve`.

Bar (DESIGN.md §8): on two cores, ≥ 1,500 requests/s with p99 < 100 ms at 32 concurrent
clients listing jobs and reading runs; 200 concurrent clients for 30 s without a single
5xx (p99 < 1 s). Each store is measured the same way: the embedded SQLite store, and with
`--store postgres` (or `both`) a fresh PostgreSQL database.

The server is one `conveyor serve` subprocess (workers and scheduler on, as a user runs
it) on a temporary data directory, seeded with jobs whose runs have completed. The load
is N clients, each one keep-alive HTTP/1.1 connection sending its next request as soon
as the last one was answered, spread over a few client processes. A client is a bare
asyncio protocol (uvloop when installed) that only frames the answers: it costs a few
tens of microseconds of CPU per request, where an httpx client costs about as much as
the server, so the load generator is not what is measured. The clients still share the
machine's cores with the server, so both CPU figures are printed: the server's per
request (all its processes) is the one to compare between runs on a busy machine.

    python -m bench.api_load [--store sqlite|postgres|both] [--seconds 10]
                             [--long-seconds 30] [--client-processes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.cluster_common import make_jobs, percentile, small_source, wait_final
from tests.e2e.server import ADMIN_TOKEN, running_server
from tests.services import fresh_pg_database

JOBS = 20
RUNS_PER_JOB = 5
WARM_UP = 1.0


@dataclass
class Target:
    """What the clients hit: the server and the seeded ids."""

    url: str
    job_ids: list[str]
    run_ids: list[str]


@dataclass
class Tally:
    """One client process's (or the sum of all) answers."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        self.latencies_ms += other.latencies_ms
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        for error, count in other.errors.items():
            self.errors[error] = self.errors.get(error, 0) + count


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: send a request, read one answer, repeat.

    Just enough HTTP for the server's answers (a status line, headers and a
    `Content-Length` or chunked body): no parsing of what the body says, no client-side
    models — so one client process can keep hundreds of connections busy on a fraction
    of a core, and the server, not the load generator, is what is measured.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None and not self.waiter.done():
            status = self._answer()
            if status is not None:
                self.waiter.set_result(status)

    def _answer(self) -> int | None:
        """The status of a complete answer at the buffer's start (consumed), or None."""
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        head = bytes(self.buffer[:head_end]).lower()
        status = int(head[9:12])
        start = head_end + 4
        marker = head.find(b"\r\ncontent-length:")
        if marker >= 0:
            line_end = head.find(b"\r\n", marker + 2)
            length = int(head[marker + 17 : line_end if line_end >= 0 else len(head)])
            if len(self.buffer) < start + length:
                return None
            del self.buffer[: start + length]
        elif b"\r\ntransfer-encoding: chunked" in head:
            end = self.buffer.find(b"\r\n0\r\n\r\n", start - 2)
            if end < 0:
                return None
            del self.buffer[: end + 7]
        else:
            del self.buffer[:start]
        if b"\r\nconnection: close" in head and self.transport is not None:
            self.transport.close()
        return status

    async def request(self, raw: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


def _raw(method: str, host: str, target: str, body: bytes = b"") -> bytes:
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {ADMIN_TOKEN}\r\nAccept: application/json\r\n"
    )
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def _drive(target: Target, clients: int, seconds: float, writes: float, seed: int) -> Tally:
    tally = Tally()
    rng = random.Random(seed)
    url = urllib.parse.urlsplit(target.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    authority = f"{host}:{port}"
    list_jobs = _raw("GET", authority, "/api/v1/jobs?limit=20")
    get_runs = [_raw("GET", authority, f"/api/v1/runs/{run_id}") for run_id in target.run_ids]
    loop = asyncio.get_running_loop()
    measure_from = time.monotonic() + WARM_UP
    stop = measure_from + seconds

    def count(bucket: dict[Any, int], key: Any) -> None:
        bucket[key] = bucket.get(key, 0) + 1

    async def one_client() -> None:
        connection: _Connection | None = None
        while (now := time.monotonic()) < stop:
            pick = rng.random()
            if pick < writes:
                labels = json.dumps({"labels": [f"load-{rng.randrange(1000)}"]}).encode()
                raw = _raw("PATCH", authority, f"/api/v1/jobs/{rng.choice(target.job_ids)}", labels)
            elif pick < writes + (1 - writes) / 2:
                raw = list_jobs
            else:
                raw = rng.choice(get_runs)
            started = time.perf_counter()
            try:
                if connection is None or connection.closed:
                    _, connection = await loop.create_connection(_Connection, host, port)
                status = await connection.request(raw)
            except (OSError, ValueError) as exc:
                connection = None
                if now >= measure_from:
                    count(tally.errors, type(exc).__name__)
                continue
            if now >= measure_from:
                tally.latencies_ms.append((time.perf_counter() - started) * 1000)
                count(tally.statuses, status)
        if connection is not None and connection.transport is not None:
            connection.transport.close()

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return tally


def _client_process(
    target: Target, clients: int, seconds: float, writes: float, seed: int
) -> tuple[Tally, float]:
    """One client process's tally, and the CPU seconds it spent driving the load."""
    before = time.process_time()
    try:
        import uvloop  # the client's own overhead, not the server's: use the fastest loop

        tally = uvloop.run(_drive(target, clients, seconds, writes, seed))
    except ImportError:
        tally = asyncio.run(_drive(target, clients, seconds, writes, seed))
    return tally, time.process_time() - before


def load(
    target: Target, clients: int, seconds: float, writes: float, processes: int, server_pid: int
) -> tuple[Tally, float, float]:
    """Drive `clients` clients over `processes` processes: the tally, the server's CPU
    seconds (all its processes) and the clients' CPU seconds."""
    shares = [
        clients // processes + (1 if i < clients % processes else 0) for i in range(processes)
    ]
    server = psutil.Process(server_pid)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pending = [
            pool.apply_async(_client_process, (target, share, seconds, writes, i))
            for i, share in enumerate(shares)
            if share
        ]
        time.sleep(WARM_UP)
        cpu_before = _cpu(server)
        results = [p.get(timeout=seconds + 120) for p in pending]
        cpu = _cpu(server) - cpu_before
    total = Tally()
    for tally, _ in results:
        total.add(tally)
    # the clients' CPU includes their warm-up second: scale it to the measured seconds
    client_cpu = sum(spent for _, spent in results) * seconds / (seconds + WARM_UP)
    return total, cpu, client_cpu


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    total = times.user + times.system
    for child in process.children(recursive=True):
        try:
            child_times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += child_times.user + child_times.system
    return total


def seed(url: str, root: Path) -> Target:
    """Jobs between two SQLite files, each run a few times to completion."""
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
    ) as client:
        source = small_source(root / "src.db")
        queries = [f"REPLICATE [t{i}] SELECT * FROM [items]" for i in range(JOBS)]
        job_ids = make_jobs(client, source, f"sqlite:///{root / 'dst.db'}", queries)
        run_ids: list[str] = []
        for _ in range(RUNS_PER_JOB):
            batch = [client.post(f"/api/v1/jobs/{j}/execute").json()["id"] for j in job_ids]
            final = wait_final(client, batch, 300)
            assert len(final) == len(batch), "seed runs did not finish"
            run_ids += batch
    return Target(url, job_ids, run_ids)


@contextmanager
def server(store: str, root: Path, extra: dict[str, str]) -> Iterator[tuple[Target, int]]:
    """A seeded `conveyor serve` on the store; the target and the server's pid."""
    database = fresh_pg_database("conveyor_bench_api") if store == "postgres" else nullcontext()
    with database as url:
        env = {"CONVEYOR_LOG_LEVEL": "WARNING", "CONVEYOR_POLL_INTERVAL": "1", **extra}
        if url:
            env["CONVEYOR_DATABASE_URL"] = url
        with running_server(root, env=env) as running:
            yield seed(running.url, root), running.process.pid


SCENARIOS = (
    # (name, clients, long run, share of writes)
    ("list jobs + get run", 32, False, 0.0),
    ("list jobs + get run + 5% PATCH job", 32, False, 0.05),
    ("list jobs + get run", 200, True, 0.0),
)


def report_line(
    name: str, clients: int, seconds: float, tally: Tally, cpu: float, client_cpu: float
) -> str:
    count = len(tally.latencies_ms)
    server_errors = sum(n for status, n in tally.statuses.items() if status >= 500)
    other = sum(n for status, n in tally.statuses.items() if 300 <= status < 500)
    p50 = percentile(tally.latencies_ms, 0.5) if count else 0.0
    p99 = percentile(tally.latencies_ms, 0.99) if count else 0.0
    peak = max(tally.latencies_ms, default=0.0)
    errors = sum(tally.errors.values())
    detail = ""
    if server_errors or other or errors:
        codes = {s: n for s, n in sorted(tally.statuses.items()) if s >= 300}
        detail = f"  statuses {codes} errors {tally.errors}"
    return (
        f"{name:<36} {clients:>4} {seconds:>4.0f} {count / seconds:>9,.0f} {p50:>7.1f} "
        f"{p99:>8.1f} {peak:>8.1f} {server_errors:>5} {other:>5} {errors:>6} "
        f"{cpu / seconds:>6.2f} {cpu * 1000 / max(count, 1):>8.2f} "
        f"{client_cpu * 1000 / max(count, 1):>8.2f}{detail}"
    )


def main(
    stores: tuple[str, ...] = ("sqlite", "postgres"),
    seconds: float = 10.0,
    long_seconds: float = 30.0,
    processes: int = 2,
    extra: dict[str, str] | None = None,
) -> None:
    for store in stores:
        with (
            tempfile.TemporaryDirectory(prefix="conveyor-bench-api-") as tmp,
            server(store, Path(tmp), extra or {}) as (target, pid),
        ):
            print(f"\n## API under load, {store} store (`conveyor serve`, {os.cpu_count()} cores)")
            print(
                f"{'what':<36} {'clients':>4} {'s':>4} {'req/s':>9} {'p50 ms':>7} "
                f"{'p99 ms':>8} {'max ms':>8} {'5xx':>5} {'4xx':>5} {'errors':>6} "
                f"{'srvCPU':>6} {'CPUms/r':>8} {'cliCPUms':>8}"
            )
            for name, clients, long, writes in SCENARIOS:
                duration = long_seconds if long else seconds
                tally, cpu, client_cpu = load(target, clients, duration, writes, processes, pid)
                print(report_line(name, clients, duration, tally, cpu, client_cpu), flush=True)
    print(
        "bar: 32 clients ≥ 1,500 req/s with p99 < 100 ms; 200 clients: no 5xx, p99 < 1 s "
        "(srvCPU: cores the server used on average; CPUms/r: server CPU per request — the "
        "figure to compare on a busy machine; cliCPUms: the load generator's CPU per request)"
    )


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.api_load", description=__doc__)
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--long-seconds", type=float, default=30.0)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=value for the server (repeatable)"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _arguments(sys.argv[1:])
    main(
        ("sqlite", "postgres") if args.store == "both" else (args.store,),
        args.seconds,
        args.long_seconds,
        args.client_processes,
        dict(item.split("=", 1) for item in args.env),
    )
