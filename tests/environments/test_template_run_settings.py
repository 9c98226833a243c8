"""A template's run settings (approval, lifetime, timeout): set by the platform team in the UI or suggested by
the catalogue folder's terrace.yaml for a new template."""
import shutil

import pytest
from django.core.exceptions import PermissionDenied

from environments.models import Template
from environments.services import InvalidRequest, template_import_catalog, template_run_settings_set
from rbac.models import AuditEvent
from tests.conftest import ROOT


def test_admin_sets_run_settings_and_bad_values_are_refused(client, platform_admin, project_admin, sandbox_version):
    template = sandbox_version.template
    url = f"/admin-portal/templates/{template.pk}/run-settings/"
    client.force_login(platform_admin)
    client.post(url, {"requires_approval": "on", "default_ttl_hours": "8", "max_ttl_hours": "72",
                      "run_timeout_minutes": "30"})
    template.refresh_from_db()
    assert (template.requires_approval, template.default_ttl_hours, template.max_ttl_hours,
            template.run_timeout_minutes) == (True, 8, 72, 30)
    assert AuditEvent.objects.get(action="template.run_settings").data["after"]["max_ttl_hours"] == 72

    page = client.post(url, {"default_ttl_hours": "100", "max_ttl_hours": "72"}, follow=True).content.decode()
    assert "cannot be longer than the maximum" in page
    client.post(url, {"default_ttl_hours": "soon"})
    template.refresh_from_db()
    assert template.default_ttl_hours == 8 and template.requires_approval, "refused input changes nothing"
    with pytest.raises(PermissionDenied):
        template_run_settings_set(project_admin, template, requires_approval=False)


def test_catalogue_folder_suggests_run_settings_for_a_new_template(central, tmp_path):
    folder = tmp_path / "gated-sandbox"
    shutil.copytree(ROOT / "catalog" / "hello-sandbox", folder)
    meta = folder / "terrace.yaml"
    meta.write_text(meta.read_text() + "run:\n  requires_approval: true\n  default_ttl_hours: 4\n"
                    "  max_ttl_hours: 24\n  timeout_minutes: 15\n")
    template = template_import_catalog(central, folder).template
    assert (template.requires_approval, template.default_ttl_hours, template.max_ttl_hours,
            template.run_timeout_minutes) == (True, 4, 24, 15)
    bad = tmp_path / "bad-sandbox"
    shutil.copytree(ROOT / "catalog" / "hello-sandbox", bad)
    (bad / "terrace.yaml").write_text((bad / "terrace.yaml").read_text() + "run:\n  approvals: yes\n")
    with pytest.raises(InvalidRequest, match="unknown settings"):
        template_import_catalog(central, bad)
    assert not Template.objects.filter(slug="bad-sandbox").exists(), "nothing half-imported"
