"""The audit log page and export: filters, scoping (project admins see their projects only), and formats."""
import csv
import io
import json

import pytest

from environments.services import environment_create
from rbac.audit import audit
from rbac.models import AuditEvent


@pytest.fixture
def events(developer, project, other_project, platform_admin, sandbox_version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        env, _ = environment_create(developer, project, sandbox_version, "audited", {"app_name": "audited"},
                                    ip="10.0.0.7")
    audit(platform_admin, "project.quota", other_project, project=other_project, data={"after": {"max": 1}})
    audit(platform_admin, "group.create", platform_admin)  # org-level: no project
    return env


def _body(response):
    return b"".join(response.streaming_content).decode()


def test_org_admin_sees_everything_and_filters(client, platform_admin, events):
    client.force_login(platform_admin)
    page = client.get("/admin-portal/audit/").content.decode()
    assert "environment.create" in page and "project.quota" in page and "group.create" in page
    assert "10.0.0.7" in page
    only = client.get("/admin-portal/audit/?action=environment&project=team-a").content.decode()
    assert "environment.create" in only and "project.quota" not in only
    assert "group.create" not in client.get("/admin-portal/audit/?actor=dev").content.decode()
    bad = client.get("/admin-portal/audit/?since=yesterday")
    assert bad.status_code == 400 and "use a date like" in bad.content.decode()


def test_project_admin_sees_only_their_projects(client, project_admin, events):
    client.force_login(project_admin)
    page = client.get("/admin-portal/audit/").content.decode()
    assert "environment.create" in page
    assert "project.quota" not in page and "group.create" not in page
    # Asking for another project by filter shows nothing rather than leaking it.
    assert "project.quota" not in client.get("/admin-portal/audit/?project=team-b").content.decode()


def test_export_csv_and_jsonl_follow_the_filters_and_are_audited(client, platform_admin, events):
    client.force_login(platform_admin)
    rows = list(csv.DictReader(io.StringIO(_body(client.get("/admin-portal/audit/export.csv?project=team-a")))))
    assert [r["action"] for r in rows] == ["environment.create"]
    assert rows[0]["actor"] == "dev" and rows[0]["ip"] == "10.0.0.7"
    assert json.loads(rows[0]["data"])["template"] == "hello-sandbox"
    lines = [json.loads(x) for x in _body(client.get("/admin-portal/audit/export.jsonl")).splitlines()]
    assert {x["action"] for x in lines} >= {"environment.create", "project.quota", "group.create"}
    assert client.get("/admin-portal/audit/export.xml").status_code == 404
    assert AuditEvent.objects.filter(action="audit.export", actor=platform_admin).count() == 2


def test_audit_list_query_count_does_not_grow_with_events(client, platform_admin, events,
                                                          django_assert_max_num_queries):
    for n in range(60):
        audit(platform_admin, "environment.extend", events, project=events.project, data={"n": n})
    client.force_login(platform_admin)
    with django_assert_max_num_queries(12):
        assert client.get("/admin-portal/audit/").status_code == 200
