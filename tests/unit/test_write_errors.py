"""A failed write names the user's table, never the run's staging table."""

from __future__ import annotations

import pytest

from conveyor.connectors.base import TableRef
from conveyor.engine.write_errors import named_for_user, writing
from conveyor.errors import AccessDenied, ConnectorError, RunCanceled

TARGET = TableRef("orders", "sales")
STAGING = TARGET.with_name("_conveyor_stage_0a1b2c3d_4e5f6a7b_orders")


def test_a_destination_step_says_cannot_write_the_target() -> None:
    with pytest.raises(AccessDenied) as raised, writing(TARGET, [STAGING]):
        raise AccessDenied(f"{STAGING}: permission denied for schema sales (user 'reader')")
    assert raised.value.message == (
        "cannot write sales.orders: permission denied for schema sales (user 'reader')"
    )
    assert raised.value.args == (raised.value.message,)


def test_a_drivers_own_error_is_a_connector_error_without_the_staging_name() -> None:
    with pytest.raises(ConnectorError) as raised, writing(TARGET, [STAGING]):
        raise RuntimeError(f'relation "sales"."{STAGING.name}" is read-only')
    assert (
        raised.value.message
        == "cannot write sales.orders: RuntimeError: relation sales.orders is read-only"
    )


def test_any_error_of_a_load_has_the_staging_name_replaced() -> None:
    with pytest.raises(ConnectorError) as raised, named_for_user(TARGET, [STAGING]):
        raise ConnectorError(f"disk full while writing {STAGING.name}")
    assert raised.value.message == "disk full while writing sales.orders"
    with pytest.raises(ValueError, match="unrelated"), named_for_user(TARGET, [STAGING]):
        raise ValueError("unrelated")


def test_a_cancelation_passes_unchanged() -> None:
    with pytest.raises(RunCanceled) as raised, writing(TARGET, [STAGING]):
        raise RunCanceled(f"canceled while writing {STAGING}")
    assert STAGING.name in raised.value.message
