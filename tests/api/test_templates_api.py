"""Template management through /api/v1/: create, import from Git / an uploaded archive / the catalogue, publish,
deprecate; the template services decide who may (template.manage) and check every source."""
import io
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from environments.models import TemplateVersion
from rbac.models import AuditEvent

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "catalog" / "hello-sandbox"


def _zip(folder):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"module/{path.relative_to(folder)}")
    return buf.getvalue()


def _git(*args, cwd):
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def test_create_upload_publish_deprecate(api_as, client, project_admin, developer, outsider, project):
    lead = api_as(project_admin)
    assert api_as(developer).post("/api/v1/templates/", {"project": "team-a", "slug": "x", "name": "X"}
                                  ).status_code == 403
    created = lead.post("/api/v1/templates/", {"project": "team-a", "slug": "uploaded", "name": "Uploaded"})
    assert created.status_code == 201, created.json()
    template_id = created.json()["id"]

    url = f"/api/v1/templates/{template_id}/versions/upload/"

    def upload(api, version, data):
        archive = io.BytesIO(data)
        archive.name = "module.zip"
        return client.post(url, {"archive": archive, "version": version, "path": "module"},
                           headers={"Authorization": f"Bearer {api.raw}"})

    assert upload(api_as(developer), "1.0.0", _zip(SANDBOX)).status_code == 403
    assert upload(api_as(outsider), "1.0.0", _zip(SANDBOX)).status_code == 404
    imported = upload(lead, "1.0.0", _zip(SANDBOX))
    assert imported.status_code == 201, imported.json()
    version = imported.json()
    assert version["state"] == "draft" and version["source"] == "upload" and len(version["resolved_commit"]) == 64
    assert {v["name"] for v in version["variables"]} >= {"app_name", "replicas"}
    broken = upload(lead, "1.0.1", b"not a zip")
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid"
    assert TemplateVersion.objects.filter(template_id=template_id).count() == 1, "nothing half-imported"

    assert api_as(developer).post(f"/api/v1/template-versions/{version['id']}/publish/").status_code == 403
    assert api_as(outsider).post(f"/api/v1/template-versions/{version['id']}/publish/").status_code == 404
    published = lead.post(f"/api/v1/template-versions/{version['id']}/publish/")
    assert published.status_code == 200 and published.json()["state"] == "published"
    again = lead.post(f"/api/v1/template-versions/{version['id']}/publish/")
    assert again.status_code == 400 and "Only a draft" in again.json()["error"]["message"]
    deprecated = lead.post(f"/api/v1/template-versions/{version['id']}/deprecate/")
    assert deprecated.status_code == 200 and deprecated.json()["state"] == "deprecated"
    assert AuditEvent.objects.filter(action="template_version.publish", actor=project_admin).exists()


def test_publish_needs_template_manage(api_as, developer, project_admin, project):
    lead = api_as(project_admin)
    version = lead.post("/api/v1/templates/import/", {"project": "team-a", "catalog": "hello-sandbox"}).json()
    assert version["state"] == "draft"
    refused = api_as(developer).post(f"/api/v1/template-versions/{version['id']}/publish/")
    assert refused.status_code == 403
    assert lead.post(f"/api/v1/template-versions/{version['id']}/publish/").json()["state"] == "published"


def test_import_a_git_ref(api_as, project_admin, project, tmp_path, settings):
    settings.TEMPLATE_GIT_ALLOW_FILE = True
    repo = tmp_path / "repo"
    repo.mkdir()
    _git("init", "-q", "-b", "main", cwd=repo)
    shutil.copytree(SANDBOX, repo / "sandbox")
    _git("add", "-A", cwd=repo)
    _git("commit", "-q", "-m", "v1", cwd=repo)
    _git("tag", "v1.0.0", cwd=repo)
    commit = _git("rev-parse", "HEAD", cwd=repo)
    lead = api_as(project_admin)
    template_id = lead.post("/api/v1/templates/", {"project": "team-a", "slug": "from-git", "name": "From Git"}
                            ).json()["id"]
    url = f"/api/v1/templates/{template_id}/versions/git/"
    imported = lead.post(url, {"version": "1.0.0", "ref": "v1.0.0", "url": f"file://{repo}", "path": "sandbox"})
    assert imported.status_code == 201, imported.json()
    assert imported.json()["resolved_commit"] == commit and imported.json()["source"] == "git"
    missing = lead.post(url, {"version": "1.0.1", "ref": "nope", "url": f"file://{repo}", "path": "sandbox"})
    assert missing.status_code == 400 and missing.json()["error"]["message"]
    settings.TEMPLATE_GIT_ALLOW_FILE = False
    refused = lead.post(url, {"version": "1.0.2", "url": f"file://{repo}", "path": "sandbox"})
    assert refused.status_code == 400
