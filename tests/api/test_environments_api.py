"""Environments, runs and templates through /api/v1/: the same scoping and services as the pages."""
import pytest

from environments.models import Environment, Run, RunEvent
from environments.services import environment_create
from rbac.models import AuditEvent

pytestmark = pytest.mark.django_db


def _create(api, name="api-env", **variables):
    return api.post("/api/v1/environments/", {
        "project": "team-a", "template": "hello-sandbox", "name": name,
        "variables": variables or {"app_name": "from-api"},
    })


def test_create_environment_queues_an_apply_and_audits(api_as, developer, project, sandbox_version,
                                                       django_capture_on_commit_callbacks):
    api = api_as(developer)
    with django_capture_on_commit_callbacks() as callbacks:
        response = _create(api, step_seconds=0, app_name="from-api")
    assert response.status_code == 201, response.json()
    body = response.json()
    env = Environment.objects.get(pk=body["environment"]["id"])
    assert env.owner == developer and env.variables["app_name"] == "from-api"
    assert env.variables["step_seconds"] == 0  # typed like the form converts it
    assert body["run"]["status"] == "queued" and body["run"]["operation"] == "apply"
    assert body["environment"]["version"] == sandbox_version.version
    assert len(callbacks) == 1, "the run is enqueued once the row is committed"
    assert AuditEvent.objects.filter(action="environment.create", object_id=str(env.pk), actor=developer).exists()


def test_variable_errors_come_back_under_their_field_path(api_as, developer, project, sandbox_version):
    api = api_as(developer)
    response = _create(api, app_name="x", step_seconds="soon", nonexistent=1)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) >= {"variables.step_seconds", "variables.nonexistent"}
    assert "number" in " ".join(error["fields"]["variables.step_seconds"]).lower()
    assert not Environment.objects.exists(), "nothing half-done"


def test_a_validation_rule_of_the_template_maps_to_the_variable(api_as, developer, project, sandbox_version):
    rules = [v for v in sandbox_version.variables if v.get("validations")]
    assert rules, "the demo template has validation blocks"
    var = rules[0]
    response = _create(api_as(developer), **{"app_name": "ok-name", var["name"]: "!!! not valid !!!"})
    assert response.status_code == 400
    assert f"variables.{var['name']}" in response.json()["error"]["fields"]


def test_missing_template_and_bad_name_are_field_errors(api_as, developer, project, sandbox_version):
    api = api_as(developer)
    response = api.post("/api/v1/environments/", {"project": "team-a", "name": "Not A Slug!",
                                                  "template": "hello-sandbox"})
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["name"]
    response = api.post("/api/v1/environments/", {"project": "team-a", "name": "x"})
    assert list(response.json()["error"]["fields"]) == ["template"]
    response = api.post("/api/v1/environments/", {"project": "team-a", "name": "x", "template": "nope"})
    assert response.json()["error"]["fields"] == {"template": [
        "Not a published template version available to this project."]}


def test_viewer_gets_403_and_outsider_cannot_target_the_project(api_as, viewer, outsider, project, sandbox_version):
    assert _create(api_as(viewer)).status_code == 403
    response = _create(api_as(outsider))
    assert response.status_code == 400 and "project" in response.json()["error"]["fields"]
    assert not Environment.objects.exists()


@pytest.fixture
def env_run(developer, project, sandbox_version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        return environment_create(developer, project, sandbox_version, "listed", {"app_name": "listed"})


def test_list_filters_order_and_paginate(api_as, developer, project, sandbox_version, env_run,
                                         django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        for n in range(3):
            environment_create(developer, project, sandbox_version, f"more-{n}", {"app_name": f"m{n}"})
    api = api_as(developer)
    page = api.get("/api/v1/environments/", {"page_size": 2, "ordering": "name"}).json()
    assert page["count"] == 4 and [e["name"] for e in page["results"]] == ["listed", "more-0"]
    assert page["next"] and "page=2" in page["next"]
    assert api.get("/api/v1/environments/", {"name": "more-1"}).json()["count"] == 1
    assert api.get("/api/v1/environments/", {"status": "ready"}).json()["count"] == 0
    assert api.get("/api/v1/environments/", {"template": "hello-sandbox", "owner": "me"}).json()["count"] == 4
    assert api.get("/api/v1/environments/", {"owner": "someone-else"}).json()["count"] == 0
    bad = api.get("/api/v1/environments/", {"status": "sleeping", "ordering": "password"})
    assert bad.status_code == 400 and set(bad.json()["error"]["fields"]) == {"status", "ordering"}


def test_list_query_count_does_not_grow_with_rows(api_as, developer, project, sandbox_version, env_run,
                                                  django_assert_max_num_queries, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        for n in range(10):
            environment_create(developer, project, sandbox_version, f"q-{n}", {"app_name": f"q{n}"})
    api = api_as(developer)
    with django_assert_max_num_queries(6):
        assert api.get("/api/v1/environments/", {"page_size": 50}).json()["count"] == 11


def test_etag_gives_304_until_the_environment_changes(api_as, developer, env_run):
    env, _run = env_run
    api = api_as(developer)
    first = api.get(f"/api/v1/environments/{env.pk}/")
    etag = first["ETag"]
    assert first.status_code == 200 and etag.startswith('W/"')
    again = api.get(f"/api/v1/environments/{env.pk}/", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    from django.utils import timezone

    Environment.objects.filter(pk=env.pk).update(status_reason="changed", updated_at=timezone.now())
    assert api.get(f"/api/v1/environments/{env.pk}/", headers={"If-None-Match": etag}).status_code == 200
    since = api.get("/api/v1/environments/", {"updated_after": first.json()["updated_at"]}).json()
    assert [e["id"] for e in since["results"]] == [env.pk]


def test_detail_shows_status_runs_and_no_secret_values(api_as, developer, project, central,
                                                       django_capture_on_commit_callbacks):
    from tests.conftest import import_fixture_template

    version = import_fixture_template(central, project, "api-secret")
    with django_capture_on_commit_callbacks():
        response = api_as(developer).post("/api/v1/environments/", {
            "project": "team-a", "template": "api-secret", "name": "secretive",
            "variables": {"password": "top-secret-value-123"}})
    assert response.status_code == 201, response.json()
    assert "top-secret-value-123" not in response.content.decode()
    env = Environment.objects.get(name="secretive")
    assert "top-secret-value-123" not in str(env.variables) and env.template_version == version
    detail = api_as(developer).get(f"/api/v1/environments/{env.pk}/")
    body = detail.json()
    assert "top-secret-value-123" not in detail.content.decode()
    assert body["sensitive_variables_set"] == ["password"]
    assert body["active_run"]["id"] == body["runs"][0]["id"] == response.json()["run"]["id"]


def test_destroy_conflicts_while_a_run_is_active_then_queues(api_as, developer, viewer, env_run,
                                                             django_capture_on_commit_callbacks):
    env, run = env_run
    api = api_as(developer)
    conflict = api.post(f"/api/v1/environments/{env.pk}/destroy/")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "conflict"
    assert api_as(viewer).post(f"/api/v1/runs/{run.pk}/cancel/").status_code == 403
    cancel = api.post(f"/api/v1/runs/{run.pk}/cancel/")
    assert cancel.status_code == 202 and cancel.json()["status"] == "canceled"
    assert api_as(viewer).post(f"/api/v1/environments/{env.pk}/destroy/").status_code == 403
    with django_capture_on_commit_callbacks():
        destroy = api.post(f"/api/v1/environments/{env.pk}/destroy/")
    assert destroy.status_code == 202 and destroy.json()["operation"] == "destroy"
    assert Run.objects.filter(environment=env, operation="destroy", status="queued").count() == 1
    retry = api.post(f"/api/v1/environments/{env.pk}/retry/")
    assert retry.status_code == 400 and "failed" in retry.json()["error"]["message"]


def test_run_events_page_with_the_after_cursor(api_as, developer, env_run):
    env, run = env_run
    from django.utils import timezone

    RunEvent.objects.bulk_create([RunEvent(run=run, seq=n, created_at=timezone.now(), kind="log", message=f"line {n}")
                                  for n in range(2, 12)])
    api = api_as(developer)
    page = api.get(f"/api/v1/runs/{run.pk}/events/", {"after": 0, "limit": 4}).json()
    assert [e["seq"] for e in page["events"]] == [1, 2, 3, 4] and page["next"] == 4 and not page["finished"]
    rest = api.get(f"/api/v1/runs/{run.pk}/events/", {"after": page["next"]}).json()
    assert [e["seq"] for e in rest["events"]] == list(range(5, 12))
    assert api.get(f"/api/v1/runs/{run.pk}/events/", {"after": -1}).status_code == 400
    runs = api.get("/api/v1/runs/", {"environment": env.pk, "status": "queued"}).json()
    assert [r["id"] for r in runs["results"]] == [run.pk]


def test_outsider_gets_404_on_every_object_url(api_as, outsider, env_run, sandbox_version):
    env, run = env_run
    api = api_as(outsider)
    for url in (f"/api/v1/environments/{env.pk}/", f"/api/v1/runs/{run.pk}/", f"/api/v1/runs/{run.pk}/events/",
                f"/api/v1/templates/{sandbox_version.template.pk}/",
                f"/api/v1/template-versions/{sandbox_version.pk}/", "/api/v1/projects/team-a/"):
        response = api.get(url)
        assert response.status_code == 404, url
        assert response.json() == {"error": {"code": "not_found", "message": "Not found (or not visible to you).",
                                             "fields": {}}}
    for url in (f"/api/v1/environments/{env.pk}/destroy/", f"/api/v1/runs/{run.pk}/cancel/",
                f"/api/v1/templates/{sandbox_version.template.pk}/share/"):
        assert api.post(url, {"project": "team-b"}).status_code == 404, url
    assert api.get("/api/v1/environments/").json()["count"] == 0
    assert api.get("/api/v1/runs/").json()["count"] == 0
    assert api.get("/api/v1/templates/").json()["count"] == 0
    run.refresh_from_db()
    assert run.status == "queued"


def test_templates_list_detail_share_and_unshare(api_as, developer, platform_admin, other_project, sandbox_version):
    dev = api_as(developer)
    listing = dev.get("/api/v1/templates/").json()
    assert [t["slug"] for t in listing["results"]] == ["hello-sandbox"]
    assert listing["results"][0]["latest_version"]["version"] == sandbox_version.version
    detail = dev.get(f"/api/v1/templates/{sandbox_version.template.pk}/").json()
    assert detail["shares"] is None and detail["versions"][0]["id"] == sandbox_version.pk
    version = dev.get(f"/api/v1/template-versions/{sandbox_version.pk}/").json()
    assert {v["name"] for v in version["variables"]} >= {"app_name"}
    assert dev.post(f"/api/v1/templates/{sandbox_version.template.pk}/share/",
                    {"project": "team-a"}).status_code == 403
    admin = api_as(platform_admin)
    shared = admin.post(f"/api/v1/templates/{sandbox_version.template.pk}/share/", {"project": "team-b"})
    assert shared.status_code == 200 and sorted(shared.json()["shares"]) == ["team-a", "team-b"]
    assert AuditEvent.objects.filter(action="template.share", actor=platform_admin).exists()
    unshared = admin.post(f"/api/v1/templates/{sandbox_version.template.pk}/unshare/", {"project": "team-b"})
    assert unshared.json()["shares"] == ["team-a"]
    bad = admin.post(f"/api/v1/templates/{sandbox_version.template.pk}/share/", {"project": "nope"})
    assert bad.status_code == 400 and "project" in bad.json()["error"]["fields"]


def test_import_a_catalogue_folder(api_as, project_admin, developer, project):
    response = api_as(developer).post("/api/v1/templates/import/", {"project": "team-a", "catalog": "hello-sandbox"})
    assert response.status_code == 403
    response = api_as(project_admin).post("/api/v1/templates/import/",
                                          {"project": "team-a", "catalog": "hello-sandbox", "publish": False})
    assert response.status_code == 201, response.json()
    assert response.json()["state"] == "draft" and response.json()["template_slug"] == "hello-sandbox"
    missing = api_as(project_admin).post("/api/v1/templates/import/", {"project": "team-a", "catalog": "nope"})
    assert missing.status_code == 400 and "catalog" in missing.json()["error"]["fields"]
    traversal = api_as(project_admin).post("/api/v1/templates/import/", {"project": "team-a", "catalog": "../x"})
    assert traversal.status_code == 400 and "catalog" in traversal.json()["error"]["fields"]


def test_version_schema_never_shows_a_sensitive_default(api_as, developer, project, sandbox_version):
    from environments.models import TemplateVersion

    variables = [dict(v) for v in sandbox_version.variables]
    secret = next(v for v in variables if v.get("sensitive"))
    secret["default"], secret["has_default"] = "default-secret-xyz", True
    TemplateVersion.objects.filter(pk=sandbox_version.pk).update(variables=variables)
    response = api_as(developer).get(f"/api/v1/template-versions/{sandbox_version.pk}/")
    assert response.status_code == 200 and "default-secret-xyz" not in response.content.decode()
    shown = next(v for v in response.json()["variables"] if v["name"] == secret["name"])
    assert shown["sensitive"] is True and shown["default"] is None and shown["has_default"] is True


def test_nested_errors_flatten_to_dotted_paths():
    from portal.api import flatten_fields

    assert flatten_fields({"variables": {"size": {"cpu": ["bad"]}}, "tags": [{}, {"k": ["no"]}],
                           "non_field_errors": ["whole"]}) == {
        "variables.size.cpu": ["bad"], "tags.1.k": ["no"], "__all__": ["whole"]}
