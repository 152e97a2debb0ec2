"""Certificates: trusted CAs and client certificates that connections name for TLS.

An admin stores them once (PEM text, checked with `cryptography`: certificates that do
not parse, a key that does not parse or does not belong to the certificate, are refused
with 422 naming the field) and connections refer to them by name in their TLS
parameters (`connection_tls`), so that nobody writes a server file path into a URL and
nobody but an admin decides which authorities a connection trusts. A client
certificate's private key is sealed with the connection secrets' key and never shown.

A certificate with a workspace serves that workspace's connections; one without is
shared by every workspace. Only admins list, read, create or delete them: the list shows
which servers and clients the installation trusts.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from conveyor.domain import Role
from conveyor.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from conveyor.schemas.certificates import CertificateCreate, CertificateKind, CertificateOut
from conveyor.services import audit, listing, workspaces
from conveyor.services.context import Context
from conveyor.services.tls_parameters import named_in
from conveyor.store.models import Certificate, Connection

if TYPE_CHECKING:
    from cryptography.x509 import Certificate as X509

FIELDS = {
    "id": Certificate.id,
    "name": Certificate.name,
    "kind": Certificate.kind,
    "workspace_id": Certificate.workspace_id,
    "created_at": Certificate.created_at,
}
PRIVATE_KEY_KEY = "private_key"
"""Where the private key is kept among a certificate's sealed secrets."""
_KEY_BLOCK = re.compile(
    r"-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----.*?-----END \1-----\s*", re.DOTALL
)


def _require_admin(ctx: Context) -> None:
    if ctx.principal.role is not Role.admin:
        raise PermissionDenied("only admins manage certificates")


def split_pem(text: str) -> tuple[str, str | None]:
    """PEM text holding certificates and perhaps a private key, as (certificates, key):
    CData sends a client certificate and its key as one `Data`."""
    keys = [m.group(0).strip() for m in _KEY_BLOCK.finditer(text)]
    if len(keys) > 1:
        raise InvalidInput("the PEM text holds more than one private key", field="certificate")
    return _KEY_BLOCK.sub("", text).strip(), (keys[0] + "\n" if keys else None)


def load_certificates(pem: str, field: str = "certificate") -> list[X509]:
    """The PEM certificates in `pem`, or a 422 naming `field` and what is wrong."""
    from cryptography import x509

    try:
        found = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise InvalidInput(
            f"{field} is not valid PEM certificate text: {exc}", field=field
        ) from None
    return found


def _check_key(pem: str, certificate: X509) -> None:
    """Refuse (422) a key that does not parse, is encrypted, or is not the certificate's."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except TypeError:
        raise InvalidInput(
            "private_key is encrypted: give it without a passphrase (it is stored sealed)",
            field="private_key",
        ) from None
    except ValueError as exc:
        raise InvalidInput(
            f"private_key is not a valid PEM private key: {exc}", field="private_key"
        ) from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if key.public_key().public_bytes(encoding, public) != certificate.public_key().public_bytes(
        encoding, public
    ):
        raise InvalidInput(
            "private_key does not belong to the (first) certificate", field="private_key"
        )


def _kind(data: CertificateCreate) -> CertificateKind:
    kind = data.kind or (CertificateKind.client if data.private_key else CertificateKind.trusted)
    if kind is CertificateKind.client and not data.private_key:
        raise InvalidInput("a client certificate needs its private_key", field="private_key")
    if kind is CertificateKind.trusted and data.private_key:
        raise InvalidInput(
            "a trusted certificate has no private_key; store it as a client certificate",
            field="private_key",
        )
    return kind


def create(ctx: Context, data: CertificateCreate) -> Certificate:
    """Store a certificate (admins): validated, its key sealed, its name unique."""
    _require_admin(ctx)
    certificates = load_certificates(data.certificate)
    kind = _kind(data)
    if data.private_key is not None:
        _check_key(data.private_key, certificates[0])
    workspace_id = workspaces.get(ctx, data.workspace_id).id if data.workspace_id else None
    if ctx.session.scalar(select(Certificate.id).where(Certificate.name == data.name)):
        raise Conflict(f"a certificate named {data.name!r} already exists", field="name")
    sealed = ctx.box.seal({PRIVATE_KEY_KEY: data.private_key}) if data.private_key else None
    certificate = Certificate(
        name=data.name,
        workspace_id=workspace_id,
        kind=kind.value,
        certificate_pem=data.certificate.strip() + "\n",
        sealed_private_key=sealed,
    )
    ctx.session.add(certificate)
    ctx.session.flush()
    audit.note(certificate.id, workspace_id)
    return certificate


def get(ctx: Context, key: str) -> Certificate:
    """A certificate by id or name (admins), or 404."""
    _require_admin(ctx)
    found = ctx.session.get(Certificate, key) or ctx.session.scalar(
        select(Certificate).where(Certificate.name == key)
    )
    if found is None:
        raise NotFound(f"certificate {key} not found")
    return found


def list_(ctx: Context, query: dict[str, str] | Any) -> listing.Paged[Certificate]:
    """The stored certificates (admins), by name unless sorted otherwise."""
    _require_admin(ctx)
    params = listing.ListParams.parse(query)
    statement = listing.apply(select(Certificate), params, FIELDS, ("name",))
    return listing.page(ctx.session, statement, params)


def naming(ctx: Context, certificate: Certificate) -> list[Connection]:
    """The connections whose TLS parameters name the certificate (and may use it: those
    of its workspace, or of any workspace for a shared one), by name."""
    statement = select(Connection).where(Connection.url.contains(certificate.name))
    if certificate.workspace_id is not None:
        statement = statement.where(Connection.workspace_id == certificate.workspace_id)
    found = ctx.session.scalars(statement.order_by(Connection.name))
    return [c for c in found if certificate.name in named_in(c.url)]


def delete(ctx: Context, key: str) -> None:
    """Forget a certificate no connection names (admins); one in use answers 409 naming
    the connections, as a connection a job uses does."""
    certificate = get(ctx, key)
    users = naming(ctx, certificate)
    if users:
        names = ", ".join(c.name for c in users)
        raise Conflict(f"certificate {certificate.name!r} is named by connections: {names}")
    audit.note(certificate.id, certificate.workspace_id)
    ctx.session.delete(certificate)


@dataclass(frozen=True)
class Usable:
    """A certificate as a connection uses it: PEM text, and the key in clear."""

    name: str
    kind: CertificateKind
    certificate: str
    private_key: str | None


def usable(ctx: Context, name: str, workspace_id: str, field: str) -> Usable:
    """The certificate `name` for a connection of `workspace_id`: one of that workspace or
    a shared one (whoever the caller is: the connection's workspace decides), else a 422
    naming the `field` that refers to it."""
    found = ctx.session.scalar(select(Certificate).where(Certificate.name == name))
    if found is None or found.workspace_id not in (None, workspace_id):
        raise InvalidInput(
            f"{field}: no certificate named {name!r} for this workspace (an admin stores "
            "certificates under /api/v1/certificates)",
            field=field,
        )
    key = ctx.box.open(found.sealed_private_key).get(PRIVATE_KEY_KEY)
    return Usable(found.name, CertificateKind(found.kind), found.certificate_pem, key)


def _name(value: Any) -> str:
    return value.rfc4514_string() if value is not None else ""


def to_out(ctx: Context, certificate: Certificate) -> CertificateOut:
    """The certificate as shown: what its first certificate says and the connections
    naming it, never the key."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    first = load_certificates(certificate.certificate_pem)[0]
    public = first.public_key()
    size = public.key_size if isinstance(public, rsa.RSAPublicKey) else None
    if isinstance(public, ec.EllipticCurvePublicKey):
        size = public.curve.key_size
    algorithm = first.signature_algorithm_oid._name
    return CertificateOut(
        id=certificate.id,
        name=certificate.name,
        kind=CertificateKind(certificate.kind),
        workspace_id=certificate.workspace_id,
        certificate=certificate.certificate_pem,
        has_private_key=certificate.sealed_private_key is not None,
        subject=_name(first.subject),
        issuer=_name(first.issuer),
        serial_number=format(first.serial_number, "x"),
        not_before=first.not_valid_before_utc,
        not_after=first.not_valid_after_utc,
        thumbprint=first.fingerprint(hashes.SHA1()).hex(),  # what CData shows
        key_size=size,
        signature_algorithm=algorithm if isinstance(algorithm, str) else None,
        connection_ids=[c.id for c in naming(ctx, certificate)],
        created_at=certificate.created_at.astimezone(dt.UTC),
    )
