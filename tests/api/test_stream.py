"""The API's live event stream (/api/v1/runs/<id>/events/stream/) with a bearer token, served by uvicorn."""
import http.client
from urllib.parse import urlparse

import pytest

from environments.models import Run
from environments.services import environment_create, run_cancel
from rbac.tokens import api_token_create, api_token_revoke
from tests.conftest import wait_for_run
from tests.sse import read_events

pytestmark = [pytest.mark.worker, pytest.mark.terraform, pytest.mark.django_db(transaction=True)]


def _open(base_url, path, token=None, **headers):
    url = urlparse(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request("GET", path, headers={"Accept": "text/event-stream", **headers})
    return conn, conn.getresponse()


def test_token_stream_follows_a_run_and_resumes_after_a_cursor(live_worker, live_portal, developer, project,
                                                               sandbox_version):
    env, run = environment_create(developer, project, sandbox_version, "streamed",
                                  {"app_name": "streamed", "step_seconds": 1})
    _t, raw = api_token_create(developer, name="stream")
    conn, response = _open(live_portal.url, f"/api/v1/runs/{run.pk}/events/stream/", raw)
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/event-stream")
    first = list(read_events(response, until_end=False, limit=4))
    conn.close()
    last = int(first[-1][0])
    conn, response = _open(live_portal.url, f"/api/v1/runs/{run.pk}/events/stream/?after={last}", raw)
    rest = list(read_events(response))
    conn.close()
    ids = [int(f[0]) for f in first + rest if f[0]]
    assert ids == list(range(1, len(ids) + 1)), "nothing lost or repeated across the reconnect"
    assert rest[-1][1] == "end" and rest[-1][2]["status"] == "succeeded"
    assert wait_for_run(run).status == Run.SUCCEEDED
    assert raw not in live_portal.log_path.read_text()


def test_stream_refuses_bad_tokens_and_hides_other_projects(live_portal, developer, outsider, project,
                                                            sandbox_version):
    env, run = environment_create(developer, project, sandbox_version, "hidden", {"app_name": "hidden"})
    path = f"/api/v1/runs/{run.pk}/events/stream/"
    _t, raw = api_token_create(outsider, name="outsider")
    conn, response = _open(live_portal.url, path, raw)
    assert response.status == 404
    conn.close()
    token, raw = api_token_create(developer, name="revoked")
    api_token_revoke(developer, token)
    conn, response = _open(live_portal.url, path, raw)
    assert response.status == 401 and b"revoked" in response.read()
    conn.close()
    conn, response = _open(live_portal.url, path)
    assert response.status == 401 and response.getheader("WWW-Authenticate", "").startswith("Bearer")
    conn.close()
    conn, response = _open(live_portal.url, path, "trc_bad_token")
    assert response.status == 401
    conn.close()
    assert raw not in live_portal.log_path.read_text()
    run_cancel(developer, run)  # leave nothing queued for a worker of a later test
