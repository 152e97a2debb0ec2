"""pymysql, held to the policy: it connects only to vetted addresses and sends only our file.

Two things a MySQL server could otherwise make of a client:
- a place to connect to: the host is resolved by the connection's `Reach` right before
  connecting and the socket opened to one of the addresses it allows, while pymysql keeps
  the name for TLS (certificate checked against it, sent as SNI);
- a file reader: under `LOAD DATA LOCAL INFILE` the *server* names the file the client
  sends, and pymysql sends whichever file that is. A hostile server — and a standard user
  may point a connection at any server on the internet — would ask for
  `<data dir>/secret.key` on any statement. `Client` sends only the one file Conveyor
  itself handed to LOAD DATA (`offer`), once, and refuses any other request.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import pymysql
from pymysql.connections import Connection, MySQLResult
from pymysql.constants import CR
from pymysql.protocol import LoadLocalPacketWrapper

from conveyor.errors import ConnectorError
from conveyor.policy import Reach


class UnexpectedFileRequest(ConnectorError):
    """The MySQL server asked for a file Conveyor did not offer; nothing was sent."""

    retryable = False


class Client(Connection):  # type: ignore[misc]  # pymysql is untyped
    """A pymysql connection to the addresses `reach` allows for its host, resolved now."""

    def __init__(self, *, reach: Reach, **kwargs: Any) -> None:
        self._reach = reach
        self._offered: bytes | None = None
        super().__init__(**kwargs)

    def offer(self, path: str) -> None:
        """Let the server have `path` once, at the next LOAD DATA LOCAL INFILE naming it."""
        self._offered = path.encode()

    def take_offer(self, requested: bytes) -> bool:
        """Whether the server asked for the offered file (the offer is used up either way)."""
        offered, self._offered = self._offered, None
        return offered is not None and requested == offered

    def connect(self, sock: socket.socket | None = None) -> None:
        """Open the socket to a vetted address (refusals raise before any packet is sent)."""
        if sock is None and not self.unix_socket:
            sock = self._vetted_socket()
        super().connect(sock)

    def _vetted_socket(self) -> socket.socket:
        last: OSError | None = None
        for address in self._reach.addresses(self.host, self.port):
            try:
                sock = socket.create_connection((address, self.port), self.connect_timeout)
            except OSError as exc:
                last = exc
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            self.host_info = f"socket {self.host}:{self.port}"
            return sock
        raise pymysql.err.OperationalError(
            CR.CR_CONN_HOST_ERROR, f"Can't connect to MySQL server on {self.host!r} ({last})"
        )

    def _read_query_result(self, unbuffered: bool = False) -> Any:
        """pymysql's own, reading results through `_GuardedResult`."""
        self._result = None
        result = _GuardedResult(self)
        if unbuffered:
            result.init_unbuffered_query()
        else:
            result.read()
        self._result = result
        if result.server_status is not None:
            self.server_status = result.server_status
        return result.affected_rows


class _GuardedResult(MySQLResult):  # type: ignore[misc]  # pymysql is untyped
    """A statement's result whose LOCAL INFILE requests are checked against the offer."""

    def _read_load_local_packet(self, first_packet: Any) -> None:
        conn = self.connection
        requested: bytes = LoadLocalPacketWrapper(first_packet).filename
        if conn._local_infile and isinstance(conn, Client) and conn.take_offer(requested):
            super()._read_load_local_packet(first_packet)
            return
        conn.write_packet(b"")  # an empty file: the server ends the statement
        with contextlib.suppress(pymysql.Error):
            conn._read_packet()  # its answer (an error, or OK for no rows)
        shown = requested[:200].decode("utf-8", "replace")
        raise UnexpectedFileRequest(
            f"the MySQL server asked for the local file {shown!r}, which Conveyor did not "
            "offer; nothing was sent",
            file=shown,
        )
