"""What a PostgreSQL failure means for a run: one function for psycopg's and ADBC's errors.

The SQLSTATE decides when there is one; connection failures (which libpq reports before
any SQLSTATE exists) are told apart by their message. Every message names the server,
user or database concerned, never the password.
"""

from __future__ import annotations

import re

from conveyor import errors
from conveyor.connectors.server import ServerAddress, redacted

_UNREACHABLE = (
    "connection refused",
    "timeout expired",
    "could not translate host name",
    "no route to host",
    "network is unreachable",
    "could not connect",
    "server closed the connection",
    "connection timed out",
    "name or service not known",
    "temporary failure in name resolution",
)
_NOT_AN_INTEGER = re.compile(r"cannot convert (NaN|-?infinity) to bigint")
_DENIED = ("password authentication failed", "no password supplied", "pg_hba.conf", "role ")


def _detail(message: str) -> str:
    """The server's own words: after libpq's 'FATAL:' or 'ERROR:', before the query echo."""
    for marker in ("FATAL:", "ERROR:"):
        if marker in message:
            message = message.split(marker, 1)[1]
    for noise in ("\nQuery was:", "\nLINE ", "\nCONTEXT:", ". SQLSTATE:", "\n\tIs the server"):
        message = message.split(noise, 1)[0]
    return message.strip()


def connect_error(exc: Exception, address: ServerAddress) -> errors.ConveyorError:
    """The error of a failed connection attempt, naming what was wrong."""
    message = redacted(exc, address)
    lowered = message.lower()
    detail = _detail(message)
    if "does not exist" in lowered and "database" in lowered:
        return errors.SourceUnavailable(
            f"database {address.database!r} does not exist on the PostgreSQL server at "
            f"{address.where}",
            database=address.database,
        )
    if any(marker in lowered for marker in _DENIED):
        return errors.AccessDenied(
            f"PostgreSQL at {address.where} refused user {address.user!r}: {detail}",
            user=address.user,
        )
    if any(marker in lowered for marker in _UNREACHABLE):
        return errors.SourceUnavailable(
            f"PostgreSQL server at {address.where} is unreachable: {detail}", host=address.where
        )
    return map_error(exc, address)


def map_error(exc: Exception, address: ServerAddress, what: str = "") -> errors.ConveyorError:
    """The Conveyor error a PostgreSQL error means; `what` names the table or query."""
    if isinstance(exc, errors.ConveyorError):
        return exc
    state = str(getattr(exc, "sqlstate", None) or "")
    message = redacted(exc, address)
    detail = _detail(message)
    prefix = f"{what}: " if what else ""
    if not state and "[libpq]" in message and "connect" in message.lower():
        return connect_error(exc, address)
    if state in ("42P01", "3F000"):  # undefined table, undefined schema
        return errors.TableNotFound(prefix + detail, table=what or None)
    if state.startswith("28") or state == "42501":
        return errors.AccessDenied(f"{prefix}{detail} (user {address.user!r})")
    if state.startswith(("08", "57P")):
        return errors.SourceUnavailable(f"PostgreSQL server at {address.where}: {detail}")
    if state.startswith(("22", "23")) or "invalid byte sequence" in message:
        return errors.DataError(prefix + detail)
    if _NOT_AN_INTEGER.match(detail):  # a scaled numeric read met NaN or ±infinity
        return errors.DataError(
            f"{prefix}a numeric value is NaN or infinite, which a decimal cannot hold ({detail})"
        )
    if state.startswith("42"):
        return errors.ConfigurationError(prefix + detail)
    return errors.ConnectorError(prefix + detail)
