"""Elastic's connector and sync job APIs, mounted at `/_connector`, and the subset of
Elasticsearch's security API that gives users access (`/_security`): a facade that only
translates, over the services in `conveyor.services.elastic`.

- `connectors`, `sync_jobs`: the routes; the `PUT …/{id}/_<part>` endpoints of both are
  tables of `actions`;
- `params`: what a request carries, read as Elasticsearch reads it;
- `protocol`: answers, the error envelope and the product header;
- `schemas`: the bodies, named after Elasticsearch's parsers; `parts` the connector
  document's parts they carry, `names` and `quartz` the index names and crons
  Elasticsearch accepts;
- `security`: roles and users (`/_security/role`, `/_security/user`).

`install` wires the facade into an app: the sync job routes before the connector routes
(so `_sync_job` is never read as a connector id), Elasticsearch's error envelope for
every failure under the prefix, and the middleware that stamps `X-Elastic-Product` and
the negotiated media type on every answer.
"""

from __future__ import annotations

from fastapi import FastAPI

from conveyor.api import problems
from conveyor.compat.elastic import connectors, protocol, security, sync_jobs

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Mount the Elastic facade on an app."""
    app.include_router(sync_jobs.router)
    app.include_router(connectors.router)
    app.include_router(security.router)
    for prefix in protocol.PREFIXES:
        problems.add_shape(app, prefix, protocol.shape, protocol.ERROR_DOC)
    app.add_middleware(protocol.ElasticHeaders)
