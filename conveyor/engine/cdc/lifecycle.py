"""What a change data capture job owns on its source, released when the job goes.

A slot left behind keeps every WAL segment from its position on: a forgotten one fills
the source's disk. Deleting the job drops its slot and publication first; when the
source cannot be reached the deletion is refused, naming the slot, rather than leaving
it behind unnoticed.
"""

from __future__ import annotations

from conveyor.connectors.registry import open_connector
from conveyor.domain import CdcEngineSettings
from conveyor.engine.cdc.slot import Slot, names_for
from conveyor.engine.spec import Endpoint
from conveyor.errors import ConnectorError, ConveyorError

__all__ = ["release"]


def release(source: Endpoint, job_id: str, settings: CdcEngineSettings | None) -> str:
    """Drop the job's slot and publication on `source` (gone already is fine); return
    the name they had."""
    name = names_for(job_id, settings.name if settings else None)
    connector = open_connector(source.url, source.options, source.reach)
    try:
        conninfo = getattr(connector, "conninfo", None)
        if conninfo is None:
            return name
        slot = Slot(conninfo(), name)
        try:
            slot.drop()
        finally:
            slot.close()
    except ConveyorError as exc:
        raise ConnectorError(
            f"the job's replication slot {name!r} could not be dropped on its source "
            f"({exc.message}); the job is kept so the slot is not forgotten: retry once the "
            f"source is reachable, or drop the slot there (SELECT pg_drop_replication_slot("
            f"'{name}'); DROP PUBLICATION {name})"
        ) from exc
    except Exception as exc:
        raise ConnectorError(
            f"the job's replication slot {name!r} could not be dropped on its source: {exc}"
        ) from exc
    finally:
        connector.close()
    return name
