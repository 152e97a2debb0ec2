"""Structured logging: JSON lines (or readable text on a terminal), secrets scrubbed.

Every line carries the run, job and connector it belongs to, bound once with
`bind(run_id=…)` for the duration of a block, so that an operator can follow one run
through API, queue, worker and engine by grepping one id.

Every line is masked with the generic patterns (URL passwords, `password=…`); a line
logged while a run or a connection is at work is also masked with that run's or
connection's own secrets, bound the same way with `redacting(redactor)`. No line is
masked with a list of every connection's secrets: there is none.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from conveyor.crypto import NO_SECRETS, Redactor

_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "conveyor_log_context", default=MappingProxyType({})
)
_redactor: contextvars.ContextVar[Redactor] = contextvars.ContextVar(
    "conveyor_log_redactor", default=NO_SECRETS
)
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


@contextlib.contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Attach fields (run_id, job_id, connector, …) to every log line inside the block."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


@contextlib.contextmanager
def redacting(redactor: Redactor) -> Iterator[None]:
    """Mask these secrets (a run's, a connection's) in every log line inside the block,
    on top of those an enclosing block masks."""
    token = _redactor.set(_redactor.get() | redactor)
    try:
        yield
    finally:
        _redactor.reset(token)


def active_redactor() -> Redactor:
    """The redactor bound by the enclosing `redacting` blocks (generic patterns only
    outside any)."""
    return _redactor.get()


def bound() -> dict[str, Any]:
    """The fields bound by the enclosing `bind` blocks."""
    return dict(_context.get())


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, secrets redacted."""

    def format(self, record: logging.LogRecord) -> str:
        redactor = active_redactor()
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redactor.redact(record.getMessage()),
        }
        for key, value in _extras(record).items():
            entry[key] = redactor.redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = redactor.redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """A readable line for terminals, secrets redacted."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{ts} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line += f"  [{extras}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return active_redactor().redact(line)


class PathOnly(logging.Filter):
    """uvicorn's access lines without query strings: a query may carry a credential.

    A client may authenticate with `?token=`, Elastic's clients may send an `api_key`,
    a CData filter may quote a secret; the access log keeps the method, the path and the
    status, which is what an operator reads it for. (uvicorn logs `client - "METHOD
    path?query HTTP/version" status`; the path is its third argument.)
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def configure(level: str = "INFO", fmt: str = "auto") -> None:
    """Install Conveyor's handler on the root logger (idempotent)."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    handler.addFilter(_ContextFilter())
    handler.set_name("conveyor")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "conveyor":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, PathOnly) for f in access.filters):
        access.addFilter(PathOnly())
