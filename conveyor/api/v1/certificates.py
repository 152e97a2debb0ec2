"""Routes of /api/v1/certificates (admins only): trusted CAs and client certificates."""

from __future__ import annotations

from fastapi import APIRouter

from conveyor.api.deps import UnitRoute
from conveyor.api.v1.collections import Collection, add_routes
from conveyor.schemas.certificates import CertificateCreate, CertificateOut
from conveyor.services import certificates

router = APIRouter(route_class=UnitRoute, prefix="/certificates", tags=["certificates"])
add_routes(router, Collection.of("certificate", certificates, CertificateOut, CertificateCreate))
