"""Approvals, lifetime and clean-up through /api/v1/: the run engine's services, their permission checks."""
from datetime import timedelta

import pytest
from django.utils import timezone

from environments.models import Environment, Run
from environments.runs import run_claim, run_transition
from environments.services import environment_create
from rbac.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def gated(developer, project, sandbox_version, django_capture_on_commit_callbacks):
    """An environment whose first apply planned and now waits for approval."""
    template = sandbox_version.template
    template.requires_approval = True
    template.save(update_fields=["requires_approval"])
    with django_capture_on_commit_callbacks():
        env, run = environment_create(developer, project, sandbox_version, "gated", {"app_name": "gated"})
    run_claim(run.pk, "w")
    run_transition(run, Run.AWAITING_APPROVAL, plan_file="x", planned_at=timezone.now(),
                   plan_summary={"add": 3, "change": 0, "remove": 0})
    return env, run


def test_approve_needs_run_approve_and_queues_the_saved_plan(api_as, gated, developer, project_admin, outsider,
                                                              django_capture_on_commit_callbacks):
    env, run = gated
    listed = api_as(developer).get("/api/v1/runs/", {"status": "awaiting_approval"}).json()
    assert [r["id"] for r in listed["results"]] == [run.pk] and listed["results"][0]["gate"] == "approval"
    assert api_as(outsider).post(f"/api/v1/runs/{run.pk}/approve/").status_code == 404
    refused = api_as(developer).post(f"/api/v1/runs/{run.pk}/approve/", {"comment": "self-approve"})
    assert refused.status_code == 403 and "run.approve" in refused.json()["error"]["message"]
    with django_capture_on_commit_callbacks() as callbacks:
        approved = api_as(project_admin).post(f"/api/v1/runs/{run.pk}/approve/", {"comment": "plan reviewed"})
    assert approved.status_code == 200, approved.json()
    body = approved.json()
    assert body["status"] == "approved" and body["decided_by"] == "lead" and body["decision_comment"] == "plan reviewed"
    assert [c for c in callbacks if c.__qualname__.startswith("run_approve")], "the worker is told to apply it"
    again = api_as(project_admin).post(f"/api/v1/runs/{run.pk}/reject/")
    assert again.status_code == 400 and "not waiting" in again.json()["error"]["message"]
    assert AuditEvent.objects.filter(action="run.approve", actor__username="lead").exists()


def test_reject_discards_the_plan(api_as, gated, project_admin):
    env, run = gated
    bad = api_as(project_admin).post(f"/api/v1/runs/{run.pk}/reject/", {"comment": 42})
    assert bad.status_code == 400 and list(bad.json()["error"]["fields"]) == ["comment"]
    rejected = api_as(project_admin).post(f"/api/v1/runs/{run.pk}/reject/", {"comment": "too big"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "discarded"
    assert "too big" in rejected.json()["error"]


def test_extend_by_owner_within_the_templates_maximum(api_as, developer, viewer, project_admin, project,
                                                      sandbox_version, django_capture_on_commit_callbacks):
    template = sandbox_version.template
    template.default_ttl_hours, template.max_ttl_hours = 4, 48
    template.save(update_fields=["default_ttl_hours", "max_ttl_hours"])
    created = api_as(developer).post("/api/v1/environments/", {
        "project": "team-a", "template": "hello-sandbox", "name": "short-lived",
        "variables": {"app_name": "short-lived"}, "lifetime_hours": 2})
    assert created.status_code == 201, created.json()
    env = Environment.objects.get(name="short-lived")
    assert timedelta(hours=1, minutes=59) < env.expires_at - timezone.now() <= timedelta(hours=2)
    too_long = api_as(developer).post("/api/v1/environments/", {
        "project": "team-a", "template": "hello-sandbox", "name": "forever", "variables": {"app_name": "forever"},
        "lifetime_hours": 100})
    assert too_long.status_code == 400 and list(too_long.json()["error"]["fields"]) == ["lifetime_hours"]

    url = f"/api/v1/environments/{env.pk}/extend/"
    assert api_as(viewer).post(url, {"hours": 10}).status_code == 403
    extended = api_as(developer).post(url, {"hours": 24})
    assert extended.status_code == 200
    env.refresh_from_db()
    assert timedelta(hours=23) < env.expires_at - timezone.now() <= timedelta(hours=24)
    assert extended.json()["expires_at"] is not None
    beyond = api_as(developer).post(url, {"hours": 49})
    assert beyond.status_code == 400 and list(beyond.json()["error"]["fields"]) == ["hours"]
    never = api_as(project_admin).post(url, {"expires_at": None})
    assert never.status_code == 400 and "must have an expiry" in never.json()["error"]["message"]
    neither = api_as(developer).post(url, {})
    assert neither.status_code == 400 and "expires_at" in neither.json()["error"]["fields"]
    assert AuditEvent.objects.filter(action="environment.extend", object_id=str(env.pk)).count() == 1


def test_forget_is_for_project_admins_on_failed_environments(api_as, developer, project_admin, project,
                                                             sandbox_version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        env, run = environment_create(developer, project, sandbox_version, "broken", {"app_name": "broken"})
    url = f"/api/v1/environments/{env.pk}/forget/"
    assert api_as(project_admin).post(url).status_code == 400, "still provisioning"
    run_claim(run.pk, "w")
    run_transition(run, Run.FAILED, error="boom", exit_code=1)
    assert api_as(developer).post(url, {"note": "x"}).status_code == 403
    done = api_as(project_admin).post(url, {"note": "deleted by hand"})
    assert done.status_code == 200 and done.json()["status"] == "destroyed"
    assert "deleted by hand" in done.json()["status_reason"]


@pytest.fixture
def ready_env(developer, project, sandbox_version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        env, run = environment_create(developer, project, sandbox_version, "ready", {"app_name": "ready-app"})
    run_claim(run.pk, "w")
    run_transition(run, Run.APPLYING)
    run_transition(run, Run.SUCCEEDED, exit_code=0)
    env.refresh_from_db()
    assert env.status == Environment.READY
    return env


def test_update_variables_plans_and_waits_for_the_requesters_confirmation(
        api_as, ready_env, developer, viewer, outsider, django_capture_on_commit_callbacks):
    url = f"/api/v1/environments/{ready_env.pk}/update/"
    assert api_as(outsider).post(url, {"variables": {"replicas": 3}}).status_code == 404
    assert api_as(viewer).post(url, {"variables": {"replicas": 3}}).status_code == 403
    bad = api_as(developer).post(url, {"variables": {"replicas": 9, "nope": 1}})
    assert bad.status_code == 400 and set(bad.json()["error"]["fields"]) == {"variables.replicas", "variables.nope"}
    same = api_as(developer).post(url, {"variables": {"app_name": "ready-app"}})
    assert same.status_code == 400 and "Nothing to change" in same.json()["error"]["message"]
    unknown = api_as(developer).post(url, {"version": "9.9.9"})
    assert unknown.status_code == 400 and list(unknown.json()["error"]["fields"]) == ["version"]
    with django_capture_on_commit_callbacks():
        queued = api_as(developer).post(url, {"variables": {"replicas": 3}})
    assert queued.status_code == 202, queued.json()
    run = queued.json()
    assert run["operation"] == "apply" and run["gate"] == "confirmation" and run["status"] == "queued"
    again = api_as(developer).post(url, {"variables": {"replicas": 4}})
    assert again.status_code == 400 and "ready or failed" in again.json()["error"]["message"]
    assert AuditEvent.objects.filter(action="environment.update", object_id=str(ready_env.pk)).exists()


def test_template_policy_errors_map_to_variable_paths(api_as, ready_env, developer, platform_admin,
                                                      sandbox_version):
    from environments.services import template_policy_set

    template_policy_set(platform_admin, sandbox_version.template, {
        "replicas": {"mode": "locked", "value": 2, "hidden": False},
        "tags": {"mode": "editable", "required": True},
    })
    update = api_as(developer).post(f"/api/v1/environments/{ready_env.pk}/update/", {"variables": {"replicas": 3}})
    assert update.status_code == 400 and "variables.replicas" in update.json()["error"]["fields"]
    created = api_as(developer).post("/api/v1/environments/", {
        "project": "team-a", "template": "hello-sandbox", "name": "policed", "variables": {"app_name": "policed"}})
    assert created.status_code == 400 and "variables.tags" in created.json()["error"]["fields"]
