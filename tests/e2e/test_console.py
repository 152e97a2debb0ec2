"""The web console against a real `conveyor serve`: sign-in, cookie, CSRF, roles, and
setting up and running a job through the pages' own forms."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.console_support import (
    PASSWORD,
    browser,
    created_id,
    csrf_of,
    make_user,
    post_form,
    sign_in,
    wait_final,
)
from tests.e2e.server import ADMIN_TOKEN, Server

pytestmark = pytest.mark.e2e


def test_a_browser_at_the_root_is_sent_to_sign_in(shared_server: Server) -> None:
    client = browser(shared_server)
    assert client.get("/").headers["location"] == "/ui/"
    response = client.get("/ui/jobs")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/sign-in?next=%2Fui%2Fjobs"
    page = client.get("/ui/sign-in")
    for accessible in ('<label for="username">Username</label>', 'for="password">Password<'):
        assert accessible in page.text
    assert '<button type="submit">Sign in</button>' in page.text


def test_sign_in_sets_a_strict_http_only_expiring_cookie(shared_server: Server) -> None:
    name = make_user(shared_server, "standard")
    client = browser(shared_server)
    page = client.get("/ui/sign-in")
    response = client.post(
        "/ui/sign-in",
        data={"csrf_token": csrf_of(page.text), "username": name, "password": "wrong password"},
    )
    assert response.status_code == 401
    assert "not valid" in response.text
    assert "conveyor_session" not in response.headers.get("set-cookie", "")
    page = client.get("/ui/sign-in")
    response = client.post(
        "/ui/sign-in",
        data={
            "csrf_token": csrf_of(page.text),
            "username": name,
            "password": "correct horse battery",
            "next": "/ui/jobs",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/jobs"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("conveyor_session=")
    )
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "path=/ui" in flags
    assert "max-age=28800" in flags
    assert "secure" not in flags  # plain HTTP here: a Secure cookie would never come back
    dashboard = client.get("/ui/")
    assert dashboard.status_code == 200
    assert dashboard.headers["cache-control"] == "no-store"
    assert "script-src 'self';" in dashboard.headers["content-security-policy"]
    for link in ('href="/ui/connections">Connections<', '">Jobs<', '">Runs<'):
        assert link in dashboard.text
    assert name in dashboard.text

    user = next(
        u for u in shared_server.client.get("/api/v1/users").json()["items"] if u["name"] == name
    )
    held = shared_server.client.get(f"/api/v1/users/{user['id']}/tokens").json()
    held = held["items"] if isinstance(held, dict) else held
    assert [t["name"] for t in held] == ["console session"]
    assert held[0]["expires_at"] is not None  # the session's token expires with it

    copied = client.cookies["conveyor_session"]
    out = post_form(client, "/ui/", "/ui/sign-out")
    assert out.status_code == 303
    assert client.get("/ui/").status_code == 303  # signed out: back to sign-in
    replayed = browser(shared_server)
    replayed.cookies.set("conveyor_session", copied)
    assert replayed.get("/ui/").status_code == 303  # the old cookie's token is revoked
    held = shared_server.client.get(f"/api/v1/users/{user['id']}/tokens").json()
    assert (held["items"] if isinstance(held, dict) else held) == []


def test_the_cookie_is_secure_behind_a_tls_proxy(shared_server: Server) -> None:
    """Behind a TLS-terminating proxy on the same host (uvicorn trusts 127.0.0.1's
    X-Forwarded-Proto), the cookie is Secure."""
    name = make_user(shared_server, "standard")
    client = browser(shared_server)
    tls = {"X-Forwarded-Proto": "https"}
    page = client.get("/ui/sign-in", headers=tls)
    pre = page.headers["set-cookie"]
    assert "secure" in [part.strip().lower() for part in pre.split(";")]
    # httpx keeps a Secure cookie off plain HTTP, as a browser would: the proxy's TLS
    # leg is not there, so the test sends it by hand.
    response = client.post(
        "/ui/sign-in",
        data={"csrf_token": csrf_of(page.text), "username": name, "password": PASSWORD},
        headers={**tls, "Cookie": pre.split(";")[0]},
    )
    assert response.status_code == 303, response.text
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("conveyor_session=")
    )
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]


def test_an_altered_cookie_is_not_a_session(shared_server: Server) -> None:
    client = sign_in(shared_server, make_user(shared_server, "admin"))
    value = client.cookies["conveyor_session"]
    forged = httpx.Client(base_url=shared_server.url)
    user, expires, nonce, signature = value.split(".")
    forged.cookies.set("conveyor_session", f"{user}.{int(expires) + 10**6}.{nonce}.{signature}")
    assert forged.get("/ui/").status_code == 303


def test_sign_in_with_an_api_token(shared_server: Server) -> None:
    name = make_user(shared_server, "standard")
    user = next(
        u for u in shared_server.client.get("/api/v1/users").json()["items"] if u["name"] == name
    )
    fresh = shared_server.client.post(f"/api/v1/users/{user['id']}/tokens", json={})
    assert fresh.status_code == 201, fresh.text
    for token in (fresh.json()["token"], ADMIN_TOKEN):  # never used yet, then a used one
        client = browser(shared_server)
        page = client.get("/ui/sign-in")
        response = client.post(
            "/ui/sign-in", data={"csrf_token": csrf_of(page.text), "token": token}
        )
        assert response.status_code == 303, response.text
        assert client.get("/ui/connections").status_code == 200


def test_a_post_without_its_csrf_token_is_refused(shared_server: Server) -> None:
    client = sign_in(shared_server, make_user(shared_server, "admin"))
    name = f"nocsrf-{uuid.uuid4().hex[:6]}"
    response = client.post("/ui/connections/new", data={"name": name, "url": "sqlite:///x.db"})
    assert response.status_code == 403
    response = client.post(
        "/ui/connections/new",
        data={"csrf_token": "forged", "name": name, "url": "sqlite:///x.db"},
    )
    assert response.status_code == 403
    listed = shared_server.client.get("/api/v1/connections", params={"name": name}).json()
    assert listed["total"] == 0
    anonymous = browser(shared_server)
    refused = anonymous.post("/ui/sign-in", data={"token": ADMIN_TOKEN})
    assert refused.status_code == 403


def _job_through_forms(client: httpx.Client, tmp_path: Path, source: Path, export: bool) -> str:
    suffix = uuid.uuid4().hex[:6]
    src = created_id(
        post_form(
            client,
            "/ui/connections/new",
            "/ui/connections/new",
            name=f"src-{suffix}",
            url=f"sqlite:///{source}",
        ),
        "/ui/connections/",
    )
    fields = {"name": f"job-{suffix}", "source": src, "destination": "", "export_format": ""}
    if export:
        fields["export_format"] = "csv"
    else:
        dst = created_id(
            post_form(
                client,
                "/ui/connections/new",
                "/ui/connections/new",
                name=f"dst-{suffix}",
                url=f"duckdb:///{tmp_path / f'{suffix}.duckdb'}",
            ),
            "/ui/connections/",
        )
        fields["destination"] = dst
    return created_id(post_form(client, "/ui/jobs/new", "/ui/jobs/new", **fields), "/ui/jobs/")


def test_a_job_set_up_and_run_through_the_forms(
    shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    client = sign_in(shared_server, make_user(shared_server, "admin"))
    job_id = _job_through_forms(client, tmp_path, shared_source, export=False)
    job = shared_server.client.get(f"/api/v1/jobs/{job_id}").json()
    tested = post_form(
        client,
        f"/ui/connections/{job['source_connection_id']}",
        f"/ui/connections/{job['source_connection_id']}/test",
    )
    assert tested.status_code == 303  # without htmx: back to the page, which shows the test
    assert "ok at" in client.get(f"/ui/connections/{job['source_connection_id']}").text

    page = client.get(f"/ui/jobs/{job_id}")
    for control in (
        ">Add task</button>",
        ">Run now</button>",
        ">Save</button>",
        'for="query">Query<',
    ):
        assert control in page.text
    bad = "REPLICATE [items] SELECT id FROM"
    checked = client.post(
        f"/ui/jobs/{job_id}/tasks/check",
        data={"csrf_token": csrf_of(page.text), "query": bad},
        headers={"HX-Request": "true"},
    )
    assert "at position" in checked.text and "<mark" in checked.text
    refused = post_form(client, f"/ui/jobs/{job_id}", f"/ui/jobs/{job_id}/tasks", query=bad)
    assert refused.status_code == 400
    assert "at position" in refused.text and "<mark" in refused.text
    assert shared_server.client.get(f"/api/v1/jobs/{job_id}/tasks").json()["total"] == 0

    added = post_form(
        client, f"/ui/jobs/{job_id}", f"/ui/jobs/{job_id}/tasks", query="REPLICATE [items]"
    )
    assert added.status_code == 303
    assert shared_server.client.get(f"/api/v1/jobs/{job_id}/tasks").json()["total"] == 1

    run_id = created_id(
        post_form(client, f"/ui/jobs/{job_id}", f"/ui/jobs/{job_id}/run"), "/ui/runs/"
    )
    live = wait_final(client, run_id)
    assert "status-completed" in live
    assert ">2000<" in live.replace(" ", "")  # rows written, as the stats show them
    run = shared_server.client.get(f"/api/v1/runs/{run_id}").json()
    assert run["status"] == "completed"
    assert run["created_by"] is not None
    logs = shared_server.client.get(f"/api/v1/runs/{run_id}/logs").json()["items"]
    assert logs and logs[-1]["message"] in client.get(f"/ui/runs/{run_id}").text.replace(
        "&#39;", "'"
    )
    dashboard = client.get("/ui/").text
    assert f"/ui/jobs/{job_id}" in dashboard
    charted = client.get(f"/ui/jobs/{job_id}").text
    assert charted.count('<rect class="bar bar-completed"') == 2  # duration and rows
    assert "completed: 2,000.0 rows</title>" in charted


def test_an_export_run_offers_its_file(
    shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    # An admin: a standard user may not name a local path outside the allowed folders.
    client = sign_in(shared_server, make_user(shared_server, "admin"))
    job_id = _job_through_forms(client, tmp_path, shared_source, export=True)
    post_form(client, f"/ui/jobs/{job_id}", f"/ui/jobs/{job_id}/tasks", query="REPLICATE [items]")
    run_id = created_id(
        post_form(client, f"/ui/jobs/{job_id}", f"/ui/jobs/{job_id}/run"), "/ui/runs/"
    )
    live = wait_final(client, run_id)
    assert "status-completed" in live
    link = live.split('href="/ui/files/')[1].split('"')[0]
    download = client.get(f"/ui/files/{link}")
    assert download.status_code == 200
    lines = download.text.splitlines()
    assert lines[0].startswith('"id","name"')
    assert len(lines) == 2001


def test_a_viewer_sees_no_run_and_is_refused_anyway(
    shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    admin = sign_in(shared_server, make_user(shared_server, "admin"))
    job_id = _job_through_forms(admin, tmp_path, shared_source, export=False)
    viewer = sign_in(shared_server, make_user(shared_server, "viewer"))
    page = viewer.get(f"/ui/jobs/{job_id}")
    assert page.status_code == 200
    for hidden in (">Run now<", ">Save<", ">Cancel<", ">Add task<"):
        assert hidden not in page.text
    assert ">New job<" not in viewer.get("/ui/jobs").text
    assert ">New connection<" not in viewer.get("/ui/connections").text
    token = csrf_of(page.text)  # the sign-out form's: a viewer's session has one too
    refused = viewer.post(f"/ui/jobs/{job_id}/run", data={"csrf_token": token})
    assert refused.status_code == 403
    assert "viewers can only read" in refused.text
    assert shared_server.client.get("/api/v1/runs", params={"job_id": job_id}).json()["total"] == 0
    refused = viewer.post(
        f"/ui/jobs/{job_id}/tasks", data={"csrf_token": token, "query": "REPLICATE [items]"}
    )
    assert refused.status_code == 403


def test_schedule_fire_times_and_the_table_browser(
    shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    client = sign_in(shared_server, make_user(shared_server, "admin"))
    job_id = _job_through_forms(client, tmp_path, shared_source, export=False)
    job = shared_server.client.get(f"/api/v1/jobs/{job_id}").json()
    saved = post_form(
        client,
        f"/ui/jobs/{job_id}",
        f"/ui/jobs/{job_id}",
        name=job["name"],
        source=job["source_connection_id"],
        destination=job["destination_connection_id"],
        export_format="",
        cron="15 3 * * *",
        schedule_enabled="on",
    )
    assert saved.status_code == 303, saved.text
    page = client.get(f"/ui/jobs/{job_id}").text
    fires = page.split('aria-labelledby="fires-heading">')[1].split("</ol>")[0]
    assert fires.count("<li>") == 5
    assert fires.count(" 03:15:00</li>") == 5
    stored = shared_server.client.get(f"/api/v1/jobs/{job_id}").json()
    assert stored["schedule"] == {"enabled": True, "cron": "15 3 * * *"}

    bad = post_form(
        client,
        f"/ui/jobs/{job_id}",
        f"/ui/jobs/{job_id}",
        name=job["name"],
        source=job["source_connection_id"],
        cron="every tuesday",
        schedule_enabled="on",
    )
    assert bad.status_code == 422
    assert 'role="alert"' in bad.text

    source = job["source_connection_id"]
    tables = client.get(f"/ui/connections/{source}/tables")
    assert tables.status_code == 200
    assert f'href="/ui/connections/{source}/tables/items"' in tables.text
    columns = client.get(f"/ui/connections/{source}/tables/items")
    assert columns.status_code == 200
    for column in ("<td>id</td>", "<td>price</td>", "<td>created_at</td>"):
        assert column in columns.text


def test_admins_manage_users_and_tokens(shared_server: Server) -> None:
    admin = sign_in(shared_server, make_user(shared_server, "admin"))
    assert 'href="/ui/users">Users<' in admin.get("/ui/").text
    name = f"made-{uuid.uuid4().hex[:6]}"
    made = post_form(admin, "/ui/users", "/ui/users", name=name, role="viewer", password=PASSWORD)
    user_id = created_id(made, "/ui/users/")
    member = sign_in(shared_server, name)  # the password set in the form works
    assert "(viewer)" in member.get("/ui/").text
    assert 'href="/ui/users"' not in member.get("/ui/").text
    assert member.get("/ui/users").status_code == 403  # the service refuses, as the API does

    page = admin.get(f"/ui/users/{user_id}").text
    assert "console session" in page  # the member's signed-in browser
    issued = post_form(admin, f"/ui/users/{user_id}", f"/ui/users/{user_id}/tokens", name="ci")
    assert issued.status_code == 201
    value = issued.text.split('<code id="new-token">')[1].split("</code>")[0]
    assert (
        shared_server.client.get(
            "/api/v1/runs", headers={"Authorization": f"Bearer {value}"}
        ).status_code
        == 200
    )
    assert value not in admin.get(f"/ui/users/{user_id}").text  # shown once

    tokens = shared_server.client.get(f"/api/v1/users/{user_id}/tokens").json()["items"]
    session = next(t for t in tokens if t["name"] == "console session")
    revoked = post_form(
        admin,
        f"/ui/users/{user_id}",
        f"/ui/users/{user_id}/tokens/{session['id']}/revoke",
    )
    assert revoked.status_code == 303
    assert member.get("/ui/").status_code == 303  # their session ended with its token


SLOW = (
    "REPLICATE [numbers] WITH RECURSIVE c(n) AS "
    "(SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 500000000) SELECT n FROM c"
)


def test_cancel_then_retry_a_run(
    shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    client = sign_in(shared_server, make_user(shared_server, "admin"))
    job_id = _job_through_forms(client, tmp_path, shared_source, export=False)
    added = post_form(client, f"/ui/jobs/{job_id}", f"/ui/jobs/{job_id}/tasks", query=SLOW)
    assert added.status_code == 303, added.text
    run_id = created_id(
        post_form(client, f"/ui/jobs/{job_id}", f"/ui/jobs/{job_id}/run"), "/ui/runs/"
    )
    page = client.get(f"/ui/jobs/{job_id}")
    assert ">Cancel</button>" in page.text  # the job has an active run
    canceled = post_form(client, f"/ui/runs/{run_id}", f"/ui/runs/{run_id}/cancel")
    assert canceled.status_code == 303
    live = wait_final(client, run_id)
    assert "status-canceled" in live
    assert ">Retry</button>" in live and ">Cancel</button>" not in live

    retried = post_form(client, f"/ui/runs/{run_id}", f"/ui/runs/{run_id}/retry")
    again = created_id(retried, "/ui/runs/")
    assert again != run_id
    run = shared_server.client.get(f"/api/v1/runs/{again}").json()
    assert run["trigger_method"] == "retry"
    stopped = post_form(client, f"/ui/jobs/{job_id}", f"/ui/jobs/{job_id}/cancel")
    assert created_id(stopped, "/ui/runs/") == again
    assert "status-canceled" in wait_final(client, again)


def test_the_workspace_switcher_narrows_the_lists_and_places_new_connections(
    shared_server: Server,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    api = shared_server.client
    space = api.post("/api/v1/workspaces", json={"name": f"team-{suffix}"})
    assert space.status_code == 201, space.text
    space_id = space.json()["id"]
    elsewhere = api.post(
        "/api/v1/connections", json={"name": f"default-{suffix}", "url": "sqlite:///e.db"}
    )
    assert elsewhere.status_code == 201, elsewhere.text
    client = sign_in(shared_server, make_user(shared_server, "admin"))
    assert f">team-{suffix}</option>" in client.get("/ui/").text

    switched = post_form(
        client, "/ui/connections", "/ui/workspace", workspace=space_id, next="/ui/connections"
    )
    assert switched.headers["location"] == "/ui/connections"
    made = post_form(
        client,
        "/ui/connections/new",
        "/ui/connections/new",
        name=f"team-conn-{suffix}",
        url="sqlite:///t.db",
    )
    connection_id = created_id(made, "/ui/connections/")
    assert api.get(f"/api/v1/connections/{connection_id}").json()["workspace_id"] == space_id
    listed = client.get("/ui/connections").text
    assert f">team-conn-{suffix}<" in listed
    assert f">default-{suffix}<" not in listed

    post_form(client, "/ui/connections", "/ui/workspace", workspace="", next="/ui/connections")
    listed = client.get("/ui/connections").text
    assert f">team-conn-{suffix}<" in listed and f">default-{suffix}<" in listed
