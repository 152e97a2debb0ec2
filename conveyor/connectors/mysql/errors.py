"""What a MySQL/MariaDB failure means for a run, from the server's error number.

pymysql reports the server's error code first in `args`; connectorx (Rust) reports text
only, so its errors are matched by the same numbers in the message. Every message names
the server, user or database concerned, never the password.
"""

from __future__ import annotations

import re
from typing import Any

from conveyor import errors
from conveyor.connectors.server import ServerAddress, redacted

_UNREACHABLE = {2002, 2003, 2005, 2006, 2013, 2055, 1040, 1053}
_DENIED = {1044, 1045, 1142, 1143, 1227, 1698}
_NO_TABLE = {1146, 1051, 1109}
_BAD_QUERY = {1054, 1064, 1060, 1061, 1072, 1091, 1103, 1166, 1248, 1050, 1221, 1247, 1300}
_DATA = {1048, 1062, 1263, 1264, 1265, 1292, 1366, 1367, 1406, 1411, 1690, 4025, 3140}
_NO_LOCAL_INFILE = {1148, 2068, 3948, 4166}
_CODE_IN_TEXT = re.compile(r"\bERROR (\d{4})\b")
_USING_PASSWORD = re.compile(r"\s*\(using password: (?:YES|NO)\)")


def error_code(exc: BaseException) -> int | None:
    """The server's error number of a pymysql error (or found in a connectorx message)."""
    args: tuple[Any, ...] = getattr(exc, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    found = _CODE_IN_TEXT.search(str(exc))
    return int(found.group(1)) if found else None


def _message(exc: BaseException, address: ServerAddress) -> str:
    args: tuple[Any, ...] = getattr(exc, "args", ())
    text = str(args[1]) if len(args) >= 2 and isinstance(args[0], int) else str(exc)
    return redacted(Exception(_USING_PASSWORD.sub("", text)), address)


def map_error(exc: BaseException, address: ServerAddress, what: str = "") -> errors.ConveyorError:
    """The Conveyor error a MySQL/MariaDB failure means; `what` names the table or query."""
    if isinstance(exc, errors.ConveyorError):
        return exc
    code, message = error_code(exc), _message(exc, address)
    prefix = f"{what}: " if what else ""
    if code == 1049:
        return errors.SourceUnavailable(
            f"database {address.database!r} does not exist on the MySQL server at {address.where}",
            database=address.database,
        )
    if code in _DENIED:
        return errors.AccessDenied(
            f"MySQL at {address.where} refused user {address.user!r}: {message}",
            user=address.user,
        )
    if code in _UNREACHABLE or isinstance(exc, TimeoutError | ConnectionError):
        return errors.SourceUnavailable(
            f"MySQL server at {address.where} is unreachable: {message}", host=address.where
        )
    if code in _NO_TABLE:
        return errors.TableNotFound(prefix + message, table=what or None)
    if code in _NO_LOCAL_INFILE:
        return errors.ConfigurationError(
            f"the MySQL server at {address.where} does not allow LOAD DATA LOCAL INFILE; "
            f"enable it with SET GLOBAL local_infile = 1 ({message})"
        )
    if code in _BAD_QUERY:
        return errors.ConfigurationError(prefix + message)
    if code in _DATA:
        return errors.DataError(prefix + message)
    return errors.ConnectorError(prefix + message)
