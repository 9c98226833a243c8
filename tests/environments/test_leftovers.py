"""After a destroy that failed or was canceled, the environment lists what may still exist; a retry or an
audited "mark as cleaned up" ends the situation."""
import json

import pytest
from django.utils import timezone

from environments.models import Environment, Run
from environments.services import environment_create
from environments.state import state_store
from rbac.models import AuditEvent


@pytest.fixture
def half_destroyed(developer, project, sandbox_version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        env, run = environment_create(developer, project, sandbox_version, "half", {"app_name": "half"})
    now = timezone.now()
    Run.objects.filter(pk=run.pk).update(status=Run.SUCCEEDED, started_at=now, finished_at=now)
    destroy = Run.objects.create(environment=env, operation=Run.DESTROY, status=Run.CANCELED, started_at=now,
                                 finished_at=now, triggered_by=developer)
    state_store(env, destroy, json.dumps({"serial": 7, "lineage": "l", "resources": [
        {"mode": "managed", "type": "null_resource", "name": "app", "instances": [{"index_key": 0}, {"index_key": 1}]},
        {"mode": "managed", "type": "null_resource", "name": "db", "module": "module.data", "instances": [{}]},
        {"mode": "data", "type": "null_data_source", "name": "x", "instances": [{}]},
    ]}).encode())
    Environment.objects.filter(pk=env.pk).update(status=Environment.FAILED,
                                                 status_reason="The destroy run was canceled.")
    return env


def test_page_lists_what_is_left_and_offers_retry_destroy(client, developer, half_destroyed):
    client.force_login(developer)
    page = client.get(f"/environments/{half_destroyed.pk}/").content.decode()
    assert "The destroy did not finish" in page
    for address in ("null_resource.app[0]", "null_resource.app[1]", "module.data.null_resource.db"):
        assert f"<code>{address}</code>" in page
    assert "null_data_source" not in page, "data sources are not things left behind"
    assert "Retry destroy" in page
    assert "Mark as cleaned up</button>" not in page, "only project admins may mark as cleaned up"


def test_marking_as_cleaned_up_is_for_admins_and_records_the_leftovers(client, developer, project_admin,
                                                                       half_destroyed):
    url = f"/environments/{half_destroyed.pk}/forget/"
    client.force_login(developer)
    assert client.post(url, {"note": "deleted by hand"}).status_code == 403
    client.force_login(project_admin)
    assert "Mark as cleaned up</button>" in client.get(f"/environments/{half_destroyed.pk}/").content.decode()
    assert client.post(url, {"note": "deleted by hand in the console"}).status_code == 302
    half_destroyed.refresh_from_db()
    assert half_destroyed.status == Environment.DESTROYED
    assert "deleted by hand in the console" in half_destroyed.status_reason
    assert "null_resource.app[0]" in half_destroyed.status_reason
    event = AuditEvent.objects.get(action="environment.forget")
    assert event.actor == project_admin
    assert event.data["leftovers"]["state"] == ["null_resource.app[0]", "null_resource.app[1]",
                                                "module.data.null_resource.db"]
    # Done once: a second request explains instead of acting again.
    client.post(url)
    assert AuditEvent.objects.filter(action="environment.forget").count() == 1
