"""Starting a MySQL/MariaDB change data capture run: checks, then a snapshot or a resume.

The server is checked (`binlog.check_server`: log_bin, ROW format, FULL row images, the
replication grants; ENUM/SET columns need `binlog_row_metadata = FULL`), each table's columns
and key are found, and then either the first snapshot is taken — every table loaded through
the full-load path inside one `START TRANSACTION WITH CONSISTENT SNAPSHOT` whose binlog
position is exact — or the run resumes from the position the destination committed (a
purged binlog file behind it is a clear error: run `job_type: full`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from conveyor.connectors.mysql.session_reads import BinlogPosition, snapshot_position
from conveyor.domain import RunLoad
from conveyor.engine.cdc import binlog
from conveyor.engine.cdc.binlog import BinlogColumn
from conveyor.engine.cdc.mysqllog import BinlogLog
from conveyor.engine.cdc.stream import CdcTask, save_position
from conveyor.engine.reporting import CancelToken, Reporter
from conveyor.engine.table_load import replicate
from conveyor.errors import ConfigurationError

__all__ = ["open_mysql"]


def open_mysql(
    source: Any,
    name: str,
    load: RunLoad,
    tasks: list[CdcTask],
    stored: str | None,
    reporter: Reporter,
    cancel: CancelToken,
    run_id: str,
) -> BinlogLog:
    """Check the server and the tables, snapshot when needed; the binlog to stream."""
    session = source.session()
    try:
        binlog.check_server(session)
        tables: dict[str, list[BinlogColumn]] = {}
        for task in tasks:
            ref = task.plan.source_table
            schema = ref.schema or source.address.database
            task.table = f"{schema}.{ref.name}"
            tables[task.table] = binlog.columns_of(session, schema, ref.name)
        _check_metadata(session, tables)
        if load is RunLoad.full or stored is None:
            start = _snapshot(source, tasks, reporter)
        else:
            file, _, pos = stored.rpartition(":")
            logs = dict(binlog.binary_logs(session))
            if file not in logs:
                raise ConfigurationError(
                    f"the binlog file {file} holding the job's position {stored} was purged "
                    "on the source: changes since then are lost to the job. Run the job with "
                    "job_type full to take a new snapshot"
                )
            gtids = {t.spec.state.get("cdc", {}).get("gtid") for t in tasks}
            start = BinlogPosition(file, int(pos), next(iter(gtids - {None}), None))
    except BaseException:
        session.close()
        raise
    server_id = random.SystemRandom().randrange(1 << 24, 1 << 31)  # unique among replicas
    return BinlogLog(source, session, name, tables, start, server_id)


def _check_metadata(session: Any, tables: dict[str, list[BinlogColumn]]) -> None:
    """ENUM and SET values are in the binlog as numbers; their names only with
    binlog_row_metadata = FULL."""
    named = [t for t, cols in tables.items() if any(c.data_type in ("enum", "set") for c in cols)]
    if not named:
        return
    with session.cursor() as cur:
        cur.execute("SHOW GLOBAL VARIABLES LIKE 'binlog_row_metadata'")
        row = cur.fetchone()
    if row is None or str(row[1]).upper() != "FULL":
        raise ConfigurationError(
            f"{', '.join(named)} ha(s) ENUM or SET columns, whose values the binlog carries "
            "by name only with binlog_row_metadata = FULL (SET GLOBAL binlog_row_metadata = "
            "'FULL', and in the configuration)"
        )


def _snapshot(source: Any, tasks: Sequence[CdcTask], reporter: Reporter) -> BinlogPosition:
    """Every table loaded whole inside one consistent snapshot; its binlog position."""
    snapshot = source.session()
    try:
        position = snapshot_position(snapshot, source.is_mariadb())
        reporter.log(
            "info", f"snapshot at binlog {position.file}:{position.pos}; loading every table"
        )
        source.snapshot_session = snapshot
        states = []
        try:
            for task in tasks:
                quiet = replace(task.ctx, save=lambda _: None)  # saved below, all at once
                states.append(replicate(quiet, task.plan, {}))
        finally:
            source.snapshot_session = None
    finally:
        snapshot.close()
    text = f"{position.file}:{position.pos}"
    for task, state in zip(tasks, states, strict=True):
        saved = save_position(task, state, text, gtid=position.gtid)
        task.spec.state.clear()
        task.spec.state.update(saved)
    return position
