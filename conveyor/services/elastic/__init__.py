"""The services behind Elastic's connector APIs, which only the Elastic facade uses.

Elastic's connectors and sync jobs are Conveyor's jobs and runs seen through Elastic's
documents; what those documents have beyond a job or a run (filtering, scheduling, a
connector snapshot, an external worker's counts) lives here, apart from the services
every surface shares:

- `connectors`: create, replace, list, delete and check in a connector;
- `updates`: the `_update_*` operations on one part of a connector;
- `wiring`: how a connector whose service type is a Conveyor scheme becomes a runnable job;
- `sync_jobs`: sync jobs, Conveyor's or an external worker's.
"""
