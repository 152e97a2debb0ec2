"""CData v1's `certificates` entity set over the certificate service (admins only).

    GET    /api.rsc/certificates            $filter $select $top $skip $orderby $count
    GET    /api.rsc/certificates/$count     GET /api.rsc/certificates('<Name>')
    POST   /api.rsc/certificates            {Name, Data, StoreType?, WorkspaceId?}
    DELETE /api.rsc/certificates('<Name>')

Rows are CData's CertificateInfo — `Name, Data, StoreType, Subject, Issuer, IssuedTo,
IssuedBy, EffectiveDate, ExpirationDate, ExpirationDays, Serialnumber, Thumbprint,
Keysize, SignatureAlgorithm, ConnectorIds` — plus `Id` and `WorkspaceId`. `Data` is the
PEM certificate text; a client certificate's private key comes in the same `Data` when it
is created and is never shown again. `StoreType` is `Trusted` (authorities a connection
trusts) or `Client` (a certificate with its key); without it, `Data` holding a private
key makes a client certificate. Like everything made through this facade, a certificate
belongs to the workspace the call names (`?workspaceId=`, `WorkspaceId`); one made
through `/api/v1/certificates` without a workspace is shared, and every workspace's list
shows it. `ConnectorIds` lists (comma-separated) the ids of the connections whose URL
names the certificate; while there are any, a delete answers 409 naming them.
"""

from __future__ import annotations

import math
import re

from conveyor.compat.cdata.bodies import Fields, model, to_text
from conveyor.compat.cdata.odata.entities import EntitySet, Key, Row
from conveyor.domain import utcnow
from conveyor.errors import InvalidInput, NotFound
from conveyor.schemas.certificates import CertificateCreate, CertificateKind, CertificateOut
from conveyor.services import certificates, listing
from conveyor.services.context import Context

PROPERTIES = (
    *("Id", "Name", "Data", "StoreType", "Subject", "Issuer", "IssuedTo", "IssuedBy"),
    *("EffectiveDate", "ExpirationDate", "ExpirationDays", "Serialnumber", "Thumbprint"),
    *("Keysize", "SignatureAlgorithm", "ConnectorIds", "WorkspaceId"),
)
STORE_TYPES = {"trusted": CertificateKind.trusted, "client": CertificateKind.client}
SHOWN_STORE_TYPES = {CertificateKind.trusted: "Trusted", CertificateKind.client: "Client"}
NAMES = {"name": "Name", "certificate": "Data", "private_key": "Data", "kind": "StoreType"}
"""Certificate fields: native → CData."""


def _common_name(rfc4514: str) -> str:
    found = re.search(r"(?:^|,)CN=((?:[^,\\]|\\.)*)", rfc4514)
    return found.group(1) if found else rfc4514


def certificate_row(out: CertificateOut) -> Row:
    """A certificate as CData's CertificateInfo (never its private key)."""
    days = math.floor((out.not_after - utcnow()).total_seconds() / 86400)
    return {
        "Id": out.id,
        "Name": out.name,
        "Data": out.certificate,
        "StoreType": SHOWN_STORE_TYPES[out.kind],
        "Subject": out.subject,
        "Issuer": out.issuer,
        "IssuedTo": _common_name(out.subject),
        "IssuedBy": _common_name(out.issuer),
        "EffectiveDate": out.not_before,
        "ExpirationDate": out.not_after,
        "ExpirationDays": max(days, 0),
        "Serialnumber": out.serial_number,
        "Thumbprint": out.thumbprint,
        "Keysize": out.key_size,
        "SignatureAlgorithm": out.signature_algorithm,
        "ConnectorIds": ",".join(out.connection_ids) or None,
        "WorkspaceId": out.workspace_id,
    }


def _rows(ctx: Context, workspace_id: str | None) -> list[Row]:
    """Every certificate (of one workspace and the shared ones, when one is named)."""
    found = listing.every(lambda q: certificates.list_(ctx, q), {})
    return [
        certificate_row(certificates.to_out(ctx, c))
        for c in found
        if workspace_id is None or c.workspace_id in (None, workspace_id)
    ]


def _get(ctx: Context, key: Key, workspace_id: str | None) -> Row:
    row = certificate_row(
        certificates.to_out(ctx, certificates.get(ctx, key.get("Name", "Id") or ""))
    )
    if workspace_id is not None and row["WorkspaceId"] not in (None, workspace_id):
        raise NotFound(f"certificate {key.get('Name', 'Id')} not found")
    return row


def _create(ctx: Context, fields: Fields, workspace_id: str | None) -> Row:
    data = to_text(fields.get("Data"))
    if not data:
        raise InvalidInput("Data is required: the PEM certificate text", field="Data")
    certificate, private_key = certificates.split_pem(data)
    store_type = to_text(fields.get("StoreType"))
    kind = STORE_TYPES.get(store_type.lower()) if store_type else None
    if store_type and kind is None:
        raise InvalidInput(
            f"StoreType {store_type!r} is not one of Trusted, Client", field="StoreType"
        )
    name = to_text(fields.get("Name"))
    fields.refuse_unknown("WorkspaceId")
    body = model(
        CertificateCreate,
        NAMES,
        name=name,
        kind=kind,
        certificate=certificate or data,
        private_key=private_key,
        workspace_id=workspace_id,
    )
    try:
        return certificate_row(certificates.to_out(ctx, certificates.create(ctx, body)))
    except InvalidInput as exc:  # the native fields are all CData's Data
        if exc.extra.get("field") in ("certificate", "private_key"):
            exc.extra["field"] = "Data"
            exc.message = f"Data: {exc.message}"
            exc.args = (exc.message,)
        raise


def _delete(ctx: Context, key: Key | None, fields: Fields, workspace_id: str | None) -> None:
    name = (key.get("Name", "Id") if key else None) or to_text(fields.get("Name", "Id"))
    if not name:
        raise InvalidInput("a certificate key is its Name or Id", field="Name")
    fields.refuse_unknown("WorkspaceId")
    _get(ctx, Key({"": name}), workspace_id)
    certificates.delete(ctx, name)


CERTIFICATES = EntitySet(
    name="certificates",
    properties=PROPERTIES,
    key=("Name",),
    rows=lambda ctx, ws, _options: _rows(ctx, ws),
    get=_get,
    create=_create,
    delete=_delete,
)
