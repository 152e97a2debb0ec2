"""TLS material a connection got from Conveyor's certificate store, as drivers take it.

A connection names stored certificates in its TLS parameters (`sslrootcert=<name>`);
the services swap the names for the PEM text (`TLSMaterial`, the `tls` option, which
only Conveyor sets) before the connector opens. Drivers that read files (libpq, through
psycopg and ADBC) get `TLSFiles`: the PEM written to a private temporary folder (0700,
files 0600) that lives as long as the connector and is removed with it. Drivers that
take a context (asyncpg, pymysql) get `ssl_context`. Nothing here reads a path a user
wrote, so the path policy has nothing to check: the files are Conveyor's own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import ssl

__all__ = ["TLSFiles", "TLSMaterial", "ssl_context"]


class TLSMaterial(BaseModel):
    """PEM text of the stored certificates a connection names (set by Conveyor, never
    stored with the connection: a connection names certificates, it does not hold them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    root_certificates: str | None = Field(
        default=None, description="The authorities the server's certificate must chain to."
    )
    certificate: str | None = Field(default=None, description="The client's certificate.")
    private_key: str | None = Field(default=None, description="The client certificate's key.")


class TLSFiles:
    """The material as files libpq can read: (parameter → path), removed on `close` or
    when the owner is collected."""

    def __init__(self, material: TLSMaterial, names: dict[str, str]) -> None:
        """`names` maps a driver parameter (`sslrootcert`) to the material's field
        (`root_certificates`); fields that are empty get no file."""
        self.folder = tempfile.mkdtemp(prefix="conveyor-tls-")  # 0700 by mkdtemp
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)
        self.paths: dict[str, str] = {}
        for parameter, attribute in names.items():
            text = getattr(material, attribute)
            if text:
                path = os.path.join(self.folder, f"{parameter}.pem")
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(text)
                self.paths[parameter] = path

    def close(self) -> None:
        """Remove the files now."""
        self._cleanup()


def ssl_context(material: TLSMaterial, *, check_hostname: bool = True) -> ssl.SSLContext:
    """A client context that trusts the material's authorities (the system's when it has
    none) and presents its client certificate, if any; hostnames checked unless told."""
    import ssl

    context = ssl.create_default_context(cadata=material.root_certificates or None)
    context.check_hostname = check_hostname
    if material.certificate and material.private_key:
        files = TLSFiles(material, {"cert": "certificate", "key": "private_key"})
        try:
            context.load_cert_chain(files.paths["cert"], files.paths["key"])
        finally:
            files.close()  # the context holds them in memory once loaded
    return context
