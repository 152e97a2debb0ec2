"""A typed Python client of Conveyor's native API (`/api/v1`), sync and async, over httpx.

    from conveyor.client import Client

    client = Client()  # CONVEYOR_URL and CONVEYOR_TOKEN
    src = client.connections.create(name="shop", url="sqlite:///shop.db")
    dst = client.connections.create(name="lake", url="duckdb:///lake.duckdb")
    job = client.jobs.create(
        name="shop to lake",
        source_connection_id=src.id,
        destination_connection_id=dst.id,
        queries=["REPLICATE [orders]"],
    )
    run = client.jobs.execute(job.id).wait(check=True)

Results are the API's own schemas (`conveyor.schemas`), so they are typed and validated;
the client imports neither the server nor its store. Failures raise `ClientError`
subclasses carrying the server's problem details. See docs/client.md.
"""

from conveyor.client.client import AsyncClient, Client
from conveyor.client.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ClientError,
    ConflictError,
    ConnectionFailed,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    RunFailed,
    ServerError,
    WaitTimeout,
)
from conveyor.client.runs import AsyncRun, Run
from conveyor.schemas.common import Page

__all__ = [
    "APIError",
    "AsyncClient",
    "AsyncRun",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ClientError",
    "ConflictError",
    "ConnectionFailed",
    "ForbiddenError",
    "InvalidRequestError",
    "NotFoundError",
    "Page",
    "RateLimitedError",
    "Run",
    "RunFailed",
    "ServerError",
    "WaitTimeout",
]
