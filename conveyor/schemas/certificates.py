"""Request and response bodies of certificates."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import Field

from conveyor.schemas.common import OutModel, StrictModel

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$"
"""A certificate's name: what a connection writes in `sslrootcert=` and the like, so never
a path (no `/`) nor libpq's `system`."""


class CertificateKind(StrEnum):
    """What a certificate is for: trusting a server, or proving who the client is."""

    trusted = "trusted"
    client = "client"


class CertificateCreate(StrictModel):
    """A new certificate: PEM text, and for a client certificate its private key."""

    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    kind: CertificateKind | None = Field(
        default=None,
        description="trusted (a CA, or a bundle of them) or client (needs private_key); "
        "default: client when a private key is given, else trusted.",
    )
    certificate: str = Field(min_length=1, description="One or more PEM certificates.")
    private_key: str | None = Field(
        default=None,
        description="The client certificate's PEM private key (unencrypted); stored sealed.",
    )
    workspace_id: str | None = Field(
        default=None,
        description="The workspace whose connections may use it; none: every workspace.",
    )


class CertificateOut(OutModel):
    """A stored certificate as shown: never its private key."""

    id: str
    name: str
    kind: CertificateKind
    workspace_id: str | None
    certificate: str = Field(description="The PEM certificates.")
    has_private_key: bool
    subject: str
    issuer: str
    serial_number: str
    not_before: dt.datetime
    not_after: dt.datetime
    thumbprint: str = Field(description="SHA-1 fingerprint of the first certificate, hex.")
    key_size: int | None
    signature_algorithm: str | None
    connection_ids: list[str] = Field(
        description="The connections whose TLS parameters name it (it cannot be deleted "
        "while there are any)."
    )
    created_at: dt.datetime
