"""Template versions: import as draft, publish, deprecate, version order, update available, update requests,
all-or-nothing import, and the management pages (including an outsider enumerating their IDs)."""
import io
import shutil
import tarfile
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied

from environments import selectors, services
from environments.models import (
    Environment,
    EnvironmentUpdate,
    Run,
    Snapshot,
    Template,
    TemplateVersion,
    UpgradeBatch,
)
from environments.services import (
    InvalidRequest,
    environment_create,
    environment_update_request,
    template_create,
    template_import_catalog,
    template_version_deprecate,
    template_version_import_archive,
    template_version_publish,
)
from rbac.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "catalog" / "hello-sandbox"


def sandbox_tgz(extra_variables=""):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(SANDBOX.iterdir()):
            data = path.read_bytes()
            if path.name == "variables.tf":
                data += extra_variables.encode()
            info = tarfile.TarInfo(path.name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def env(developer, project, sandbox_version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        environment, run = environment_create(developer, project, sandbox_version, "life", {"app_name": "life"})
    Run.objects.filter(pk=run.pk).update(status=Run.SUCCEEDED, started_at=run.created_at, finished_at=run.created_at)
    Environment.objects.filter(pk=environment.pk).update(status=Environment.READY)
    environment.refresh_from_db()
    return environment


def _new_version(admin, template, version, extra=""):
    return template_version_import_archive(admin, template, filename="t.tgz", data=sandbox_tgz(extra),
                                           version=version)


def test_import_is_a_draft_until_published(platform_admin, sandbox_version, env):
    template = sandbox_version.template
    draft = _new_version(platform_admin, template, "1.1.0")
    assert draft.state == TemplateVersion.DRAFT
    assert selectors.environment_update_available(env) is None  # a draft is not offered
    assert not selectors.template_versions_for_project(env.owner, env.project).filter(pk=draft.pk).exists()
    template_version_publish(platform_admin, draft)
    draft.refresh_from_db()
    assert draft.state == TemplateVersion.PUBLISHED and draft.published_at
    assert selectors.environment_update_available(env) == draft
    with pytest.raises(InvalidRequest, match="Only a draft"):
        template_version_publish(platform_admin, draft)
    assert AuditEvent.objects.filter(action="template_version.publish", object_id=str(draft.pk)).count() == 1


def test_versions_are_immutable_and_ordered_numerically(platform_admin, sandbox_version, env):
    template = sandbox_version.template
    with pytest.raises(InvalidRequest, match="immutable"):
        _new_version(platform_admin, template, "1.0.0")
    for number in ("1.9.0", "1.10.0", "1.2.0"):
        template_version_publish(platform_admin, _new_version(platform_admin, template, number))
    assert selectors.environment_update_available(env).version == "1.10.0"
    assert [v.version for v in selectors.template_versions_sorted(template)] == ["1.10.0", "1.9.0", "1.2.0", "1.0.0"]


def test_deprecated_version_keeps_its_environments_but_takes_no_new_ones(
        platform_admin, developer, project, sandbox_version, env, django_capture_on_commit_callbacks):
    template_version_deprecate(platform_admin, sandbox_version)
    with pytest.raises(InvalidRequest, match="not available"):
        environment_create(developer, project, sandbox_version, "new-one", {"app_name": "new-one"})
    # The existing environment still works: a variable change on its (deprecated) version is planned.
    with django_capture_on_commit_callbacks():
        update = environment_update_request(developer, env, sandbox_version, {"replicas": 3})
    assert update.run.gate == Run.GATE_CONFIRMATION
    assert AuditEvent.objects.filter(action="template_version.deprecate").exists()


def test_update_request_rules(platform_admin, developer, viewer, project, sandbox_version, env, central,
                              django_capture_on_commit_callbacks):
    template = sandbox_version.template
    draft = _new_version(platform_admin, template, "2.0.0")
    with pytest.raises(InvalidRequest, match="only published"):
        environment_update_request(developer, env, draft, {})
    other = template_import_catalog(central, ROOT / "tests" / "fixtures" / "templates" / "fails-on-apply")
    with pytest.raises(InvalidRequest, match="its own template"):
        environment_update_request(developer, env, other, {})
    with pytest.raises(InvalidRequest, match="Nothing to change"):
        environment_update_request(developer, env, sandbox_version, {"app_name": "life"})
    with pytest.raises(PermissionDenied):
        environment_update_request(viewer, env, sandbox_version, {"replicas": 3})
    with django_capture_on_commit_callbacks() as callbacks:
        update = environment_update_request(developer, env, sandbox_version, {"replicas": 3})
    assert len(callbacks) == 1  # the run is enqueued after commit
    env.refresh_from_db()
    assert env.variables.get("replicas") is None  # pinned until applied
    assert update.variables["replicas"] == 3 and update.status == EnvironmentUpdate.PENDING
    assert update.changed == ["replicas"]
    with pytest.raises(InvalidRequest, match="ready or failed"):
        environment_update_request(developer, env, sandbox_version, {"replicas": 4})
    event = AuditEvent.objects.get(action="environment.update")
    assert event.data["changed"] == ["replicas"]


def test_update_keeps_and_replaces_secrets(developer, project, sandbox_version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        env, run = environment_create(developer, project, sandbox_version, "sec", {"app_name": "sec",
                                                                                   "api_token": "old-token"})
    Run.objects.filter(pk=run.pk).update(status=Run.SUCCEEDED, started_at=run.created_at, finished_at=run.created_at)
    Environment.objects.filter(pk=env.pk).update(status=Environment.READY)
    env.refresh_from_db()
    with django_capture_on_commit_callbacks():
        update = environment_update_request(developer, env, sandbox_version, {"replicas": 3})
    assert services.crypto.decrypt_json(update.secret_variables) == {"api_token": "old-token"}
    assert "old-token" not in str(AuditEvent.objects.filter(action="environment.update").values_list("data"))
    _, clear, secret = services.run_inputs(update.run)
    assert clear["replicas"] == 3 and secret == {"api_token": "old-token"}


def test_new_required_variable_blocks_a_plain_upgrade(platform_admin, developer, sandbox_version, env):
    version = _new_version(platform_admin, sandbox_version.template, "3.0.0",
                           '\nvariable "owner_email" {\n  type = string\n}\n')
    template_version_publish(platform_admin, version)
    with pytest.raises(services.PolicyViolation) as exc:
        environment_update_request(developer, env, version, {})
    assert exc.value.errors == {"owner_email": "This value is required."}
    batch = services.upgrade_batch_create(platform_admin, version, [env])
    assert "owner_email" in batch.errors[str(env.pk)]
    assert not batch.updates.exists()


def test_import_is_all_or_nothing(platform_admin, central, monkeypatch):
    """A failure after the version row and snapshot were written (here: the audit) leaves neither behind."""
    template = template_create(platform_admin, central, slug="atomic", name="Atomic")
    snapshots = Snapshot.objects.count()

    def broken_audit(*args, **kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(services, "audit", broken_audit)
    with pytest.raises(RuntimeError):
        _new_version(platform_admin, template, "1.0.0")
    assert not TemplateVersion.objects.filter(template=template).exists()
    assert Snapshot.objects.count() == snapshots


def test_catalog_import_from_the_admin_is_a_draft(platform_admin, central, tmp_path):
    folder = tmp_path / "hello-sandbox"
    shutil.copytree(SANDBOX, folder)
    version = services.template_version_import_folder(platform_admin, central, folder)
    assert version.state == TemplateVersion.DRAFT and version.source == TemplateVersion.CATALOG


# --- Pages ---------------------------------------------------------------------------------------------

def test_admin_uploads_publishes_and_deprecates_through_the_pages(client, platform_admin, sandbox_version):
    client.force_login(platform_admin)
    template = sandbox_version.template
    page = client.get(f"/admin-portal/templates/{template.pk}/").content.decode()
    assert 'data-version="1.0.0"' in page and ">Publish</button>" not in page
    upload = io.BytesIO(sandbox_tgz())
    upload.name = "sandbox.tar.gz"
    response = client.post(f"/admin-portal/templates/{template.pk}/import/",
                           {"kind": "upload", "version": "1.1.0", "archive": upload}, follow=True)
    assert "Imported 1.1.0 as a draft" in response.content.decode()
    version = TemplateVersion.objects.get(template=template, version="1.1.0")
    client.post(f"/admin-portal/templates/versions/{version.pk}/publish/")
    version.refresh_from_db()
    assert version.state == TemplateVersion.PUBLISHED
    client.post(f"/admin-portal/templates/versions/{sandbox_version.pk}/deprecate/")
    sandbox_version.refresh_from_db()
    assert sandbox_version.state == TemplateVersion.DEPRECATED


def test_bad_upload_shows_the_reason_and_imports_nothing(client, platform_admin, sandbox_version):
    client.force_login(platform_admin)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../../escape.tf")
        tar.addfile(info, io.BytesIO(b""))
    upload = io.BytesIO(buf.getvalue())
    upload.name = "evil.tgz"
    response = client.post(f"/admin-portal/templates/{sandbox_version.template.pk}/import/",
                           {"kind": "upload", "version": "9.9.9", "archive": upload}, follow=True)
    assert "Nothing was imported" in response.content.decode() and "path traversal" in response.content.decode()
    assert not TemplateVersion.objects.filter(version="9.9.9").exists()


def test_git_credential_is_write_only_on_the_page(client, platform_admin, sandbox_version, settings):
    settings.TEMPLATE_GIT_ALLOW_FILE = False
    client.force_login(platform_admin)
    template = sandbox_version.template
    client.post(f"/admin-portal/templates/{template.pk}/git/", {
        "url": "https://git.example.invalid/t.git", "path": "mods/x", "credential_kind": "token",
        "credential": "ghp_supersecret"})
    template.refresh_from_db()
    assert template.git_url == "https://git.example.invalid/t.git" and template.git_credential_kind == "token"
    page = client.get(f"/admin-portal/templates/{template.pk}/").content.decode()
    assert "ghp_supersecret" not in page and "A credential is stored" in page
    # Saving the URL again without a credential keeps the stored one.
    client.post(f"/admin-portal/templates/{template.pk}/git/", {"url": "https://git.example.invalid/t.git"})
    template.refresh_from_db()
    assert template.git_credential and template.git_credential_kind == "token"


def test_new_template_from_the_list_page(client, project_admin, project):
    client.force_login(project_admin)
    response = client.post("/admin-portal/templates/", {"project": "team-a", "name": "Team DB"})
    template = Template.objects.get(project=project, slug="team-db")
    assert response.status_code == 302 and response["Location"] == f"/admin-portal/templates/{template.pk}/"
    assert AuditEvent.objects.filter(action="template.create").exists()


def test_environment_page_says_update_available(client, platform_admin, developer, sandbox_version, env):
    template_version_publish(platform_admin, _new_version(platform_admin, sandbox_version.template, "1.1.0"))
    client.force_login(developer)
    page = client.get(f"/environments/{env.pk}/").content.decode()
    assert 'data-notice="update-available"' in page and "1.1.0" in page
    form = client.get(f"/environments/{env.pk}/update/").content.decode()
    assert "1.1.0 (newest)" in form


def test_update_page_plans_and_sends_to_the_run(client, developer, sandbox_version, env,
                                                django_capture_on_commit_callbacks):
    client.force_login(developer)
    with django_capture_on_commit_callbacks():
        response = client.post(f"/environments/{env.pk}/update/", {
            "version": sandbox_version.pk, "submit": "plan", "var_app_name": "life", "var_replicas": "4"})
    update = EnvironmentUpdate.objects.get(environment=env)
    assert response.status_code == 302 and response["Location"] == f"/runs/{update.run_id}/"
    run_page = client.get(response["Location"]).content.decode()
    assert 'id="update-note"' in run_page and "<code>replicas</code>" in run_page


def test_outsider_enumerating_management_ids_gets_404(client, outsider, platform_admin, sandbox_version, env):
    batch = UpgradeBatch.objects.create(target_version=sandbox_version, created_by=platform_admin)
    client.force_login(outsider)
    for pk in range(1, Template.objects.latest("pk").pk + 3):
        for url in ("", "policy/"):
            assert client.get(f"/admin-portal/templates/{pk}/{url}").status_code == 404
        for url in ("import/", "git/"):
            assert client.post(f"/admin-portal/templates/{pk}/{url}").status_code == 404
    for pk in range(1, TemplateVersion.objects.latest("pk").pk + 3):
        assert client.get(f"/admin-portal/templates/versions/{pk}/upgrade/").status_code == 404
        for url in ("publish/", "deprecate/"):
            assert client.post(f"/admin-portal/templates/versions/{pk}/{url}").status_code == 404
    assert client.get(f"/admin-portal/templates/upgrades/{batch.pk}/").status_code == 404
    assert client.get(f"/environments/{env.pk}/update/").status_code == 404
    assert client.post(f"/environments/{env.pk}/update/", {"submit": "plan"}).status_code == 404
    sandbox_version.refresh_from_db()
    assert sandbox_version.state == TemplateVersion.PUBLISHED


def test_version_key_orders_like_semver():
    from environments.models import version_key

    ordered = ["0.9", "1.0.0-alpha", "1.0.0-rc1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0-beta.2", "2.0.0+build7"]
    assert sorted(reversed(ordered), key=version_key) == ordered


def test_new_environments_get_the_highest_published_version(client, platform_admin, developer, sandbox_version):
    template = sandbox_version.template
    template_version_publish(platform_admin, _new_version(platform_admin, template, "2.0.0"))
    hotfix = _new_version(platform_admin, template, "1.0.1")  # published after 2.0.0
    template_version_publish(platform_admin, hotfix)
    client.force_login(developer)
    page = client.get("/environments/new/?project=team-a").content.decode()
    two = TemplateVersion.objects.get(template=template, version="2.0.0")
    assert f"/environments/new/{two.pk}/" in page and f"/environments/new/{hotfix.pk}/" not in page
