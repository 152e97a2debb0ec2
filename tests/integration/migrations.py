"""What migration tests share: how a migrated store differs from the models."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from conveyor.store.models import Base


def differences_from_models(engine: Engine, about: str) -> list[Any]:
    """The differences Alembic finds between the store and the models whose description
    mentions `about` (a table's quoted name, a column's name)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [d for d in compare_metadata(context, Base.metadata) if about in repr(d)]
