"""Index names as Elasticsearch accepts them, checked before a connector is attached to one.

A connector names the index it fills; Elasticsearch refuses a name it could never create
(`MetadataCreateIndexService.validateIndexOrAliasName`, then `validateIndexName`), in the
order and the words below, and an Elastic-managed (native) connector's index must start
with `content-`. A refusal is one reason of a request validation failure
(`Validation Failed: 1: <reason>;`), so these functions answer the reason, or None.
"""

from __future__ import annotations

from conveyor.services.elastic.documents import MANAGED_INDEX_PREFIX

MAX_INDEX_NAME_BYTES = 255
INVALID_CHARACTERS = ("\\", "/", "*", "?", '"', "<", ">", "|", " ", ",")
"""`Strings.INVALID_FILENAME_CHARS`, quoted below in the order Elasticsearch prints them."""
_PRINTED = '[ , ", *, \\, <, |, ,, >, /, ?]'


def _why_invalid(name: str) -> str | None:
    if not name:
        return "must not be empty"
    if any(char in name for char in INVALID_CHARACTERS):
        return f"must not contain the following characters {_PRINTED}"
    if "#" in name:
        return "must not contain '#'"
    if ":" in name:
        return "must not contain ':'"
    if name[0] in "_-+":
        return "must not start with '_', '-', or '+'"
    size = len(name.encode("utf-8"))
    if size > MAX_INDEX_NAME_BYTES:
        return f"index name is too long, ({size} > {MAX_INDEX_NAME_BYTES})"
    if name in (".", ".."):
        return "must not be '.' or '..'"
    if name.lower() != name:
        return "must be lowercase"
    return None


def index_name_problem(name: str | None) -> str | None:
    """Why Elasticsearch refuses `name` as an index name, or None (also for no name)."""
    if name is None:
        return None
    why = _why_invalid(name)
    if why is None:
        return None
    return f"[{name}] InvalidIndexNameException[Invalid index name [{name}], {why}]"


def managed_prefix_problem(name: str | None) -> str | None:
    """Why an Elastic-managed connector cannot use `name`, or None."""
    if name is None or name.startswith(MANAGED_INDEX_PREFIX):
        return None
    return (
        f"Index [{name}] is invalid. Index attached to an Elastic-managed connector must "
        f"start with the prefix: [{MANAGED_INDEX_PREFIX}]"
    )
