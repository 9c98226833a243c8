"""The live run log over SSE, served by the real ASGI app (uvicorn) while a real worker runs Terraform."""
import pytest

from environments.models import Run
from environments.services import environment_create
from tests.conftest import wait_for_run
from tests.sse import open_stream, read_events, session_cookie

pytestmark = [pytest.mark.worker, pytest.mark.terraform, pytest.mark.django_db(transaction=True)]


def test_events_stream_live_in_order_and_end_with_the_final_status(live_worker, live_portal, client, developer,
                                                                   project, sandbox_version):
    env, run = environment_create(developer, project, sandbox_version, "live",
                                  {"app_name": "live-app", "step_seconds": 1})
    conn, response = open_stream(live_portal.url, f"/runs/{run.pk}/events", session_cookie(client, developer))
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/event-stream")
    frames = list(read_events(response))
    conn.close()
    run.refresh_from_db()
    assert run.status == Run.SUCCEEDED
    ids = [int(f[0]) for f in frames if f[0]]
    assert ids == list(range(1, len(ids) + 1)), "every event once, in order"
    assert frames[-1][1] == "end" and frames[-1][2]["status"] == "succeeded"
    # Streaming, not a dump at the end: the first resource event arrived well before the end of the run.
    first_resource = next(f[3] for f in frames if f[1] == "resource")
    assert frames[-1][3] - first_resource > 2.0


def test_a_reconnect_with_last_event_id_resumes_exactly_after_it(live_worker, live_portal, client, developer,
                                                                 project, sandbox_version):
    env, run = environment_create(developer, project, sandbox_version, "resume",
                                  {"app_name": "resume-app", "step_seconds": 1})
    cookie = session_cookie(client, developer)
    conn, response = open_stream(live_portal.url, f"/runs/{run.pk}/events", cookie)
    first = list(read_events(response, until_end=False, limit=5))
    conn.close()  # the connection drops mid-run
    last_id = int(first[-1][0])
    conn, response = open_stream(live_portal.url, f"/runs/{run.pk}/events", cookie, last_event_id=last_id)
    rest = list(read_events(response))
    conn.close()
    ids = [int(f[0]) for f in first + rest if f[0]]
    assert ids == list(range(1, len(ids) + 1)), "no event lost or repeated across the reconnect"
    assert wait_for_run(run).status == Run.SUCCEEDED
    assert ids[-1] == run.events.count()


def test_outsiders_and_anonymous_users_get_nothing_from_the_stream(live_worker, live_portal, client, developer,
                                                                   outsider, project, sandbox_version):
    env, run = environment_create(developer, project, sandbox_version, "private", {"app_name": "private-app"})
    conn, response = open_stream(live_portal.url, f"/runs/{run.pk}/events", session_cookie(client, outsider))
    assert response.status == 404
    conn.close()
    conn, response = open_stream(live_portal.url, f"/runs/{run.pk}/events")
    assert response.status == 401
    conn.close()
    wait_for_run(run)
