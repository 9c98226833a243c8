"""A queued run says why it waits: no worker at all, or its place in the queue and what is running."""
from datetime import timedelta

import pytest
from django.utils import timezone

from environments.models import WorkerHeartbeat
from environments.services import environment_create


@pytest.fixture
def queued(developer, project, sandbox_version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        _, first = environment_create(developer, project, sandbox_version, "first", {"app_name": "first"})
        _, second = environment_create(developer, project, sandbox_version, "second", {"app_name": "second"})
    return first, second


def _fragment(client, user, run):
    client.force_login(user)
    response = client.get(f"/runs/{run.pk}/queue/")
    assert response.status_code == 200
    return response.content.decode()


def test_without_a_worker_the_run_says_no_worker_is_running(client, developer, queued):
    html = _fragment(client, developer, queued[1])
    assert "no worker is running" in html and 'data-workers="0"' in html


def test_with_a_worker_it_shows_the_runs_ahead(client, developer, queued):
    now = timezone.now()
    WorkerHeartbeat.objects.create(name="w1@host", pid=1, started_at=now, last_seen=now)
    html = _fragment(client, developer, queued[1])
    assert "1 run ahead of this one" in html and "on 1 worker." in html
    assert "ahead" not in _fragment(client, developer, queued[0])


def test_a_silent_worker_does_not_count(client, developer, queued):
    old = timezone.now() - timedelta(minutes=5)
    WorkerHeartbeat.objects.create(name="gone@host", pid=1, started_at=old, last_seen=old)
    assert "no worker is running" in _fragment(client, developer, queued[0])


def test_the_run_page_asks_for_the_reason_only_while_queued(client, developer, queued):
    client.force_login(developer)
    assert f"/runs/{queued[0].pk}/queue/" in client.get(f"/runs/{queued[0].pk}/").content.decode()
