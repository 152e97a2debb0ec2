"""The Conveyor role an Elasticsearch security role grants, as a table of cases."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor.domain import Role
from conveyor.policy.elastic_roles import conveyor_role, granted


def _indices(*privileges: str) -> dict[str, Any]:
    return {"indices": [{"names": ["*"], "privileges": list(privileges)}]}


@pytest.mark.parametrize(
    ("definition", "role"),
    [
        (_indices("read"), Role.viewer),
        (_indices("view_index_metadata"), Role.viewer),
        (_indices("read", "view_index_metadata"), Role.viewer),
        (_indices("manage"), Role.standard),
        (_indices("write"), Role.standard),
        (_indices("all"), Role.standard),
        (_indices("read", "write"), Role.standard),
        ({"cluster": ["manage_security"]}, Role.admin),
        ({"cluster": ["all"], **_indices("read")}, Role.admin),
        ({"cluster": ["monitor"]}, None),
        ({}, None),
        (_indices("unknown_privilege"), None),
        (
            {
                "indices": [
                    {"names": ["a"], "privileges": ["read"]},
                    {"names": ["b"], "privileges": ["index"]},
                ]
            },
            Role.standard,
        ),
    ],
)
def test_a_role_grants_the_most_its_privileges_allow(
    definition: dict[str, Any], role: Role | None
) -> None:
    assert granted(definition) == role


def test_a_user_gets_the_highest_role_of_their_roles() -> None:
    known = {"reader": _indices("read"), "writer": _indices("write"), "none": {}}
    assert conveyor_role(["reader"], known) is Role.viewer
    assert conveyor_role(["reader", "writer"], known) is Role.standard
    assert conveyor_role(["superuser"], known) is Role.admin
    assert conveyor_role(["none", "missing"], known) is Role.viewer  # nothing below viewer
    assert conveyor_role([], known) is Role.viewer
