"""Stored certificates named in a connection's TLS parameters, swapped for their PEM text.

A PostgreSQL connection writes `sslrootcert=<name>`, `sslcert=<name>` (and, if it likes,
`sslkey=<name>`, the same client certificate) in its URL; a MySQL/MariaDB one `ssl_ca`,
`ssl_cert` (`ssl_key`). A value that is a certificate name — no `/` or `\\`, not libpq's
`system` roots — names a certificate an admin stored (`services.certificates`) for the
connection's workspace or for every workspace; any other value is what it always was,
a file path the policy checks (`Reach.check_path`: a standard user never reads server
files through it). MySQL takes names only: its driver reads no file a URL names.

`apply` runs wherever a connection is about to be checked or opened: the names leave the
URL and the material rides in the `tls` option (`connectors.tls`), which only Conveyor
sets — a body that gives it is refused. The certificate is looked up by the connection's
workspace, whoever opens it: a run started by the scheduler sees what its creator saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from conveyor.connectors.tls import TLSMaterial
from conveyor.errors import InvalidInput
from conveyor.schemas.certificates import CertificateKind
from conveyor.services import certificates
from conveyor.services.context import Context
from conveyor.services.tls_parameters import NAMES_ONLY, PARAMETERS, ROOT, is_name, pieces


def apply(
    ctx: Context, url: str, options: Mapping[str, Any], workspace_id: str
) -> tuple[str, dict[str, Any]]:
    """The URL without the parameters that name stored certificates, and the options with
    their material (`tls`); both unchanged when none is named. 422 naming the parameter
    for a certificate the workspace may not use, or of the wrong kind."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if "tls" in options:
        raise InvalidInput(
            "the option 'tls' is set by Conveyor: name stored certificates in the URL "
            "(sslrootcert=<name>, ssl_ca=<name>)",
            field="options.tls",
        )
    roles = PARAMETERS.get(scheme)
    if roles is None or not parts.query:
        return url, dict(options)
    kept: list[str] = []
    root: str | None = None
    client: certificates.Usable | None = None
    for piece, name, value, role in pieces(url):
        if role is None:
            kept.append(piece)
            continue
        if not is_name(value):
            if scheme in NAMES_ONLY:
                raise InvalidInput(
                    f"the URL parameter {name!r} names a stored certificate (an admin stores "
                    f"them under /api/v1/certificates); {value!r} is not a certificate name",
                    field="url",
                    parameter=name,
                )
            kept.append(piece)  # a file path, checked by the policy as before
            continue
        found = certificates.usable(ctx, value, workspace_id, field=f"url.{name}")
        if role == ROOT:
            root = found.certificate
            continue
        if found.kind is not CertificateKind.client or not found.private_key:
            raise InvalidInput(
                f"the URL parameter {name!r} names {value!r}, which is not a client "
                "certificate with a private key",
                field="url",
                parameter=name,
            )
        if client is not None and client.name != found.name:
            raise InvalidInput(
                f"the URL names two client certificates ({client.name!r}, {found.name!r})",
                field="url",
                parameter=name,
            )
        client = found
    if root is None and client is None:
        return url, dict(options)
    material = TLSMaterial(
        root_certificates=root,
        certificate=client.certificate if client else None,
        private_key=client.private_key if client else None,
    )
    bare = urlunsplit(parts._replace(query="&".join(kept)))
    return bare, {**options, "tls": material.model_dump()}
