"""A throwaway PostgreSQL cluster serving TLS, for tests of certificate verification.

The machine's shared PostgreSQL runs with `ssl=off` and is never reconfigured, so a test
that needs TLS starts its own cluster: `initdb` into a fresh folder, a CA and a server
certificate (for `localhost` and 127.0.0.1) made with `cryptography`, `ssl=on`, TCP on a
free port of 127.0.0.1 only, `hostssl` trust for everyone (plain TCP is rejected), and
`pg_ctl stop` afterwards. initdb refuses to run as root, so as root the cluster belongs
to the `postgres` account and its commands run through `runuser`. Without PostgreSQL's
binaries the test is skipped locally and fails in CI (`tests.services.unavailable`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.services import unavailable

PEM = serialization.Encoding.PEM


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, as PEM text."""

    certificate: str
    key: str


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def make_ca(name: str) -> tuple[Issued, ec.EllipticCurvePrivateKey, x509.Name]:
    """A self-signed certificate authority."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(PEM).decode(), _key_pem(key)), key, subject


def issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    common_name: str,
    *,
    server: bool = True,
) -> Issued:
    """A certificate signed by the CA: for `localhost`/127.0.0.1 (a server), or a client's."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if server:
        names: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return Issued(cert.public_bytes(PEM).decode(), _key_pem(key))


@dataclass(frozen=True)
class TLSServer:
    """A running TLS-only PostgreSQL: where it listens and the CA its certificate chains to."""

    port: int
    ca: Issued
    client: Issued
    """A client certificate for the role `certuser`, who may sign in with it only."""

    def url(self, database: str = "postgres", **params: str) -> str:
        """A URL to it by the name its certificate carries."""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"postgresql://postgres@localhost:{self.port}/{database}" + (
            f"?{query}" if query else ""
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found and shutil.which("initdb"):
        found = [str(shutil.which("initdb"))]
    if not found:
        unavailable("PostgreSQL binaries (initdb)", FileNotFoundError("initdb"))
    return Path(found[-1]).parent


@contextlib.contextmanager
def tls_postgres() -> Iterator[TLSServer]:
    """Start a TLS-only cluster on a free port; yield it; stop and remove it."""
    bin_dir = _binaries()
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    root = Path(tempfile.mkdtemp(prefix="conveyor-pgtls-"))
    data = root / "data"
    ca, ca_key, ca_name = make_ca("Conveyor test CA")
    server = issue(ca_key, ca_name, "localhost")
    client = issue(ca_key, ca_name, "certuser", server=False)
    if as_root:
        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-N")
        files = (
            ("server.crt", server.certificate),
            ("server.key", server.key),
            ("ca.crt", ca.certificate),
        )
        for name, text in files:
            path = data / name
            path.write_text(text)
            path.chmod(0o600)
            if as_root:
                os.chown(path, account.pw_uid, account.pw_gid)
        port = _free_port()
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
                "ssl_ca_file = 'ca.crt'\n"
                f"listen_addresses = '127.0.0.1'\nport = {port}\n"
                f"unix_socket_directories = '{root}'\nfsync = off\n"
            )
        (data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "hostssl all certuser 127.0.0.1/32 cert\n"
            "hostssl all all 127.0.0.1/32 trust\n"
            "hostnossl all all 0.0.0.0/0 reject\n"
        )
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "start")
        run(str(bin_dir / "psql"), "-h", str(root), "-p", str(port), "-U", "postgres",
            "-d", "postgres", "-c", "CREATE ROLE certuser LOGIN SUPERUSER")  # fmt: skip
        try:
            yield TLSServer(port=port, ca=ca, client=client)
        finally:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
