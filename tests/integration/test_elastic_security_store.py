"""Migrations 0014 (the tables of Elasticsearch's security API subset) and 0015 (a
user's expiry), on each store."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from conveyor.config import Settings
from conveyor.runtime import Runtime
from conveyor.store import migrate
from tests.integration.migrations import differences_from_models


def test_the_security_tables_match_the_models_and_go_away_on_downgrade(
    store_settings: Settings,
) -> None:
    runtime = Runtime.create(store_settings)
    try:
        migrate.upgrade(runtime.engine)
        for table in ("'elastic_roles'", "'elastic_users'"):
            assert differences_from_models(runtime.engine, table) == []
        config = migrate._config(runtime.engine)
        with runtime.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0013")
        tables = set(inspect(runtime.engine).get_table_names())
        assert not tables & {"elastic_roles", "elastic_users"}
        migrate.upgrade(runtime.engine)
        assert {"elastic_roles", "elastic_users"} <= set(inspect(runtime.engine).get_table_names())
    finally:
        runtime.close()


def test_the_users_table_matches_the_model_with_its_expiry(store_settings: Settings) -> None:
    runtime = Runtime.create(store_settings)
    try:
        migrate.upgrade(runtime.engine)
        assert differences_from_models(runtime.engine, "'users'") == []
        config = migrate._config(runtime.engine)
        with runtime.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0014")
        columns = {c["name"] for c in inspect(runtime.engine).get_columns("users")}
        assert "expires_at" not in columns
        migrate.upgrade(runtime.engine)
        columns = {c["name"] for c in inspect(runtime.engine).get_columns("users")}
        assert "expires_at" in columns
    finally:
        runtime.close()
