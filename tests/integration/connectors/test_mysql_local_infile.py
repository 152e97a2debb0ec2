"""A hostile MySQL server asking for a file Conveyor did not offer gets nothing.

Under `LOAD DATA LOCAL INFILE` the server names the file the client sends. `RogueServer`
speaks enough of the MySQL protocol, on 127.0.0.1, to answer every statement and to ask
for whatever file it likes in reply to a LOAD DATA; it records every byte the client sends
as file content.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from conveyor.connectors.base import TableRef
from conveyor.connectors.mysql.client import Client, UnexpectedFileRequest
from conveyor.connectors.mysql.load import LoadWriter
from conveyor.errors import ConveyorError
from conveyor.policy import Reach

CAPABILITIES = 0x1 | 0x4 | 0x8 | 0x80 | 0x200 | 0x2000 | 0x8000 | 0x20000 | 0x80000
OK = b"\x00\x00\x00\x02\x00\x00\x00"  # no rows, no id, autocommit status, no warnings
LOAD = re.compile(rb"LOAD DATA LOCAL INFILE '([^']*)'")


class RogueServer:
    """A MySQL server that answers LOAD DATA by asking for `ask(file named by the statement)`."""

    def __init__(self, ask: Callable[[bytes], bytes]) -> None:
        self.ask = ask
        self.requested: list[bytes] = []
        self.received: list[bytes] = []  # file contents the client sent, per request
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._sock.accept()
        with conn:
            reader = conn.makefile("rb")
            self._send(conn, 0, self._greeting())
            seq, _ = self._read(reader)  # the handshake response
            self._send(conn, seq + 1, OK)
            while True:
                try:
                    seq, payload = self._read(reader)
                except ConnectionError:
                    return
                if payload[:1] == b"\x01":  # COM_QUIT
                    return
                load = LOAD.search(payload)
                if load is None:
                    self._send(conn, seq + 1, OK)
                    continue
                wanted = self.ask(load.group(1))
                self.requested.append(wanted)
                self._send(conn, seq + 1, b"\xfb" + wanted)
                content = b""
                while True:
                    seq, chunk = self._read(reader)
                    if not chunk:
                        break
                    content += chunk
                self.received.append(content)
                self._send(conn, seq + 1, OK)

    @staticmethod
    def _greeting() -> bytes:
        return (
            b"\x0a5.7.99-rogue\x00"
            + struct.pack("<I", 7)
            + b"abcdefgh\x00"
            + struct.pack("<HBHHB", CAPABILITIES & 0xFFFF, 45, 2, CAPABILITIES >> 16, 21)
            + b"\x00" * 10
            + b"ijklmnopqrst\x00"
            + b"mysql_native_password\x00"
        )

    @staticmethod
    def _read(reader: object) -> tuple[int, bytes]:
        header = reader.read(4)  # type: ignore[attr-defined]
        if len(header) < 4:
            raise ConnectionError("the client went away")
        length = int.from_bytes(header[:3], "little")
        return header[3], reader.read(length)  # type: ignore[attr-defined]

    @staticmethod
    def _send(conn: socket.socket, seq: int, payload: bytes) -> None:
        conn.sendall(len(payload).to_bytes(3, "little") + bytes([seq % 256]) + payload)

    def close(self) -> None:
        self._sock.close()
        self._thread.join(timeout=10)


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file no MySQL server may have: Conveyor's key, as far as this test knows."""
    path = tmp_path / "secret.key"
    path.write_bytes(b"the-encryption-key")
    return path


@contextlib.contextmanager
def rogue(ask: Callable[[bytes], bytes]) -> Iterator[RogueServer]:
    server = RogueServer(ask)
    yield server
    server.close()


def client(server: RogueServer, *, local_infile: bool) -> Client:
    return Client(
        reach=Reach(),
        host="127.0.0.1",
        port=server.port,
        user="conveyor",
        password="",
        database="db",
        local_infile=local_infile,
        connect_timeout=5,
        autocommit=True,
    )


def writer(server: RogueServer) -> LoadWriter:
    def connect(path: str) -> Client:
        conn = client(server, local_infile=True)
        conn.offer(path)
        return conn

    return LoadWriter(
        connect,
        TableRef("t"),
        pa.schema([("id", pa.int64())]),
        lambda exc: exc if isinstance(exc, ConveyorError) else ConveyorError(str(exc)),
    )


def test_a_load_sends_the_file_conveyor_named() -> None:
    with rogue(lambda named: named) as server:
        load = writer(server)
        load.write(pa.record_batch([pa.array([1, 2, 3])], names=["id"]))
        load.close()
        assert server.received == [b"1\n2\n3\n"]


def test_a_server_asking_for_another_file_gets_nothing(secret: Path) -> None:
    with rogue(lambda named: str(secret).encode()) as server:
        load = writer(server)
        with pytest.raises(UnexpectedFileRequest, match=r"secret\.key"):
            load.write(pa.record_batch([pa.array([1])], names=["id"]))
        load.abort()
        assert server.requested == [str(secret).encode()]
        assert server.received == [b""]


def test_a_file_request_outside_a_load_gets_nothing(secret: Path) -> None:
    """A server may answer any statement with a file request; only our load is offered."""
    with rogue(lambda named: str(secret).encode()) as server:
        conn = client(server, local_infile=True)
        with pytest.raises(UnexpectedFileRequest), conn.cursor() as cur:
            cur.execute(f"LOAD DATA LOCAL INFILE '{secret}' INTO TABLE t")
        assert server.received == [b""]
        conn.close()
    with rogue(lambda named: b"/etc/passwd") as server:
        conn = client(server, local_infile=False)
        with pytest.raises(UnexpectedFileRequest, match="/etc/passwd"), conn.cursor() as cur:
            cur.execute("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t")
        assert server.received == [b""]
        conn.close()
