"""Configuration as code: a `conveyor.yaml` of connections, jobs and transformations,
applied to a server's workspace (`conveyor apply`) and written from one (`conveyor export`).

    from conveyor.client import Client
    from conveyor.manifest import apply, load, plan, read_state

    manifest = load(open("conveyor.yaml").read(), "conveyor.yaml")
    with Client() as client:
        state = read_state(client, manifest.workspace)
        changes = plan(manifest, state, prune=False)
        apply(client, manifest, state, changes)

Everything is matched by name within the workspace; applying the same file twice changes
nothing the second time. The file's JSON Schema ships as `conveyor.schema.json` here.
"""

from conveyor.manifest.apply import apply
from conveyor.manifest.export import export
from conveyor.manifest.model import SCHEMA_FILE, Manifest, json_schema
from conveyor.manifest.plan import Change, State, plan, read_state
from conveyor.manifest.source import ManifestError, load

__all__ = [
    "SCHEMA_FILE",
    "Change",
    "Manifest",
    "ManifestError",
    "State",
    "apply",
    "export",
    "json_schema",
    "load",
    "plan",
    "read_state",
]
