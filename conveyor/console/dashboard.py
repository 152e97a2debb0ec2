"""The dashboard: what runs now, what failed lately, and every job at a glance."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from conveyor.console.sessions import WORKSPACE_COOKIE, clear_cookie, set_cookie
from conveyor.console.web import Pager, Posted, Signed, redirect, sessions_of
from conveyor.domain import utcnow
from conveyor.services import jobs, runs

router = APIRouter(prefix="/ui")
SHOWN = "20"
"""Runs in progress and failures shown at a glance: the newest; the runs list has them all."""


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard(page: Signed) -> HTMLResponse:
    """Runs in progress, failures of the last 24 hours, every job (a page of them at a
    time) with its last status and next run."""
    since = (utcnow() - dt.timedelta(hours=24)).isoformat()
    with page.unit(read_only=True) as ctx:
        active, active_total = runs.in_progress(ctx, int(SHOWN), page.scoped({}), tasks=False)
        failed = runs.list_(
            ctx,
            page.scoped(
                {"status": "error", "created_at__gte": since, "sort": "-created_at", "limit": SHOWN}
            ),
            tasks=False,
        )
        pager = Pager.of(page.request)
        found = jobs.list_(ctx, page.scoped({"sort": "name", **pager.params}))
        context: dict[str, Any] = {
            "active": [runs.to_brief(run) for run in active],
            "active_total": active_total,
            "failed": [runs.to_brief(run) for run in failed.rows],
            "failed_total": failed.total,
            "since": since[:10],
            "jobs": jobs.briefs(ctx, found.rows),
            "jobs_total": found.total,
            "pager": pager.counted(found.total),
        }
    return page.render("dashboard.html", **context)


@router.post("/workspace", include_in_schema=False)
def choose_workspace(page: Posted) -> Response:
    """Remember which workspace this browser looks at (empty: every one the user sees)."""
    chosen = page.form.get("workspace", "")
    back = page.form.get("next", "")
    response = redirect(back if back.startswith("/ui/") and not back.startswith("//") else "/ui/")
    if chosen:
        set_cookie(
            page.request, response, WORKSPACE_COOKIE, chosen, sessions_of(page.request).lifetime
        )
    else:
        clear_cookie(page.request, response, WORKSPACE_COOKIE)
    return response
