"""Shared benchmark tools: timing a command with its peak memory, and printing results."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

OUT = Path(__file__).parent / "out"


@dataclass
class Measurement:
    """One measured command."""

    name: str
    seconds: float
    peak_rss_mb: float
    rows: int
    returncode: int = 0
    output: str = ""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def measure(
    name: str, command: list[str], rows: int, env: dict[str, str] | None = None
) -> Measurement:
    """Run a command; sample the peak resident memory of it and its children."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        try:
            parent = psutil.Process(process.pid)
        except psutil.NoSuchProcess:
            return
        while not stop.is_set():
            try:
                total = parent.memory_info().rss
                for child in parent.children(recursive=True):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        total += child.memory_info().rss
                peak = max(peak, total)
            except psutil.NoSuchProcess:
                return
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.communicate()[0].decode(errors="replace")
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    return Measurement(name, seconds, peak / 2**20, rows, process.returncode, output)


def report(title: str, results: list[Measurement], reference: str | None = None) -> None:
    """Print a table of measurements, with each one's ratio to the reference."""
    print(f"\n## {title}")
    base = next((m for m in results if m.name == reference), None)
    print(
        f"{'what':<34} {'seconds':>8} {'rows/s':>12} {'peak RSS MB':>12} {'vs ' + (reference or '-'):>16}"
    )
    for m in results:
        ratio = f"{m.seconds / base.seconds:.2f}x time" if base and base.seconds else "-"
        status = "" if m.returncode == 0 else f"  FAILED ({m.returncode})"
        print(
            f"{m.name:<34} {m.seconds:>8.2f} {m.rows_per_second:>12,.0f} {m.peak_rss_mb:>12.0f} {ratio:>16}{status}"
        )
        if m.returncode:
            print(m.output[-2000:])
