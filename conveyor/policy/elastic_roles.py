"""Which Conveyor role an Elasticsearch security role grants: decided here, once.

Elasticsearch's clients manage access with roles of index privileges
(`PUT /_security/role/{name}`) given to users (`PUT /_security/user/{name}`). Conveyor
has three roles, so each Elasticsearch role is read as the most it lets a user do:

- reading privileges (`read`, `view_index_metadata`, `monitor`, …) → `viewer`: get and
  list, never change;
- writing privileges (`write`, `index`, `create`, `delete`, `manage`, `all`, …) →
  `standard`: change connectors and sync jobs, never users;
- Elasticsearch's `superuser` role, or the cluster privileges `all` / `manage_security`
  → `admin`: a user who may already manage Elasticsearch's users and roles.

A user gets the highest role any of their Elasticsearch roles grants, and `viewer` when
none grants anything (Conveyor has no role below read-only; such a user reads, as an
Elasticsearch user with only `monitor` would). Roles the server does not know grant
nothing, as in Elasticsearch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from conveyor.domain import Role

READ_PRIVILEGES = frozenset(
    {"read", "view_index_metadata", "monitor", "read_cross_cluster", "maintenance"}
)
WRITE_PRIVILEGES = frozenset(
    {
        "all",
        "manage",
        "write",
        "index",
        "create",
        "create_doc",
        "delete",
        "create_index",
        "delete_index",
        "manage_data_stream_lifecycle",
        "manage_follow_index",
        "manage_ilm",
        "manage_leader_index",
        "auto_configure",
    }
)
ADMIN_CLUSTER_PRIVILEGES = frozenset({"all", "manage_security"})
SUPERUSER = "superuser"
_RANK = {Role.viewer: 0, Role.standard: 1, Role.admin: 2}


def granted(definition: Mapping[str, Any]) -> Role | None:
    """The Conveyor role one Elasticsearch role definition grants, None when nothing."""
    cluster = {str(p) for p in definition.get("cluster") or ()}
    if cluster & ADMIN_CLUSTER_PRIVILEGES:
        return Role.admin
    privileges = {
        str(privilege)
        for entry in definition.get("indices") or ()
        for privilege in (entry.get("privileges") or ())
    }
    if privileges & WRITE_PRIVILEGES:
        return Role.standard
    if privileges & READ_PRIVILEGES:
        return Role.viewer
    return None


def conveyor_role(names: Iterable[str], definitions: Mapping[str, Mapping[str, Any]]) -> Role:
    """The role of a user given the Elasticsearch roles `names` (`definitions` are the
    known ones): the highest any grants, `viewer` when none grants anything."""
    best = Role.viewer
    for name in names:
        role = Role.admin if name == SUPERUSER else None
        if role is None and name in definitions:
            role = granted(definitions[name])
        if role is not None and _RANK[role] > _RANK[best]:
            best = role
    return best
