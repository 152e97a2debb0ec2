"""`services.lookup`: one visible row by id or name, the same way for every resource."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from conveyor.domain import Role
from conveyor.errors import NotFound
from conveyor.runtime import Runtime
from conveyor.services import lookup
from conveyor.services.context import Principal
from conveyor.store.models import Connection, Job, Workspace

EARLY = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
LATE = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


@pytest.fixture
def rows(runtime: Runtime) -> dict[str, str]:
    """Two workspaces, each with a connection named `shared`; the red one is older."""
    with runtime.unit() as ctx:
        red, blue = Workspace(name="red"), Workspace(name="blue")
        ctx.session.add_all([red, blue])
        ctx.session.flush()
        made = {"red": red.id, "blue": blue.id}
        for workspace, created in ((red, EARLY), (blue, LATE)):
            connection = Connection(
                workspace_id=workspace.id,
                name="shared",
                scheme="sqlite",
                url="sqlite:///x.db",
                created_at=created,
            )
            ctx.session.add(connection)
            ctx.session.flush()
            made[f"{workspace.name}-connection"] = connection.id
    return made


def _not_found(ident: str) -> pytest.RaisesExc[NotFound]:
    """Expect exactly `<ident> not found`."""
    return pytest.raises(NotFound, match=f"^{re.escape(ident)} not found$")


def _principal(*workspace_ids: str) -> Principal:
    return Principal("u", "u", Role.standard, tuple(workspace_ids))


# (who sees: workspaces or all, key, within workspace, found: a key of `rows` or None)
CASES = [
    ((), "red-connection", None, "red-connection"),
    ((), "shared", None, "red-connection"),  # the oldest of that name
    ((), "shared", "blue", "blue-connection"),
    ((), "red-connection", "blue", None),  # by id, but of another workspace
    (("blue",), "shared", None, "blue-connection"),  # only what the caller sees
    (("blue",), "red-connection", None, None),  # invisible: not found, never forbidden
    ((), "nope", None, None),
]


@pytest.mark.parametrize(("sees", "key", "within", "expected"), CASES)
def test_find_by_id_or_name_among_what_the_caller_sees(
    runtime: Runtime,
    rows: dict[str, str],
    sees: tuple[str, ...],
    key: str,
    within: str | None,
    expected: str | None,
) -> None:
    principal = _principal(*(rows[name] for name in sees))
    key = rows.get(key, key)
    workspace_id = rows[within] if within else None
    with runtime.unit(principal) as ctx:
        if expected is None:
            with _not_found(f"connection {key}"):
                lookup.find(ctx, Connection, key, "connection", workspace_id)
        else:
            found = lookup.find(ctx, Connection, key, "connection", workspace_id)
            assert found.id == rows[expected]


def test_a_workspace_belongs_to_itself(runtime: Runtime, rows: dict[str, str]) -> None:
    with runtime.unit(_principal(rows["blue"])) as ctx:
        assert lookup.find(ctx, Workspace, "blue", "workspace").id == rows["blue"]
        assert lookup.get(ctx, Workspace, rows["blue"], "workspace").id == rows["blue"]
        with _not_found("workspace red"):
            lookup.find(ctx, Workspace, "red", "workspace")
        with _not_found(f"workspace {rows['red']}"):
            lookup.get(ctx, Workspace, rows["red"], "workspace")


def test_get_takes_an_id_only(runtime: Runtime, rows: dict[str, str]) -> None:
    with runtime.unit() as ctx:
        assert lookup.get(ctx, Connection, rows["red-connection"], "connection").name == "shared"
        with _not_found("connection shared"):
            lookup.get(ctx, Connection, "shared", "connection")
        with _not_found("job nope"):
            lookup.find(ctx, Job, "nope", "job", by=Job.external_key)
