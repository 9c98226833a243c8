"""Seed the demo: an admin, a developer, the central `genai` project, a developer project, and the bundled
catalogue imported into `genai`, published. Safe to run again: it changes nothing that exists.

Only the offline templates are shared with the developer's project. The AWS templates are published in `genai`
but not shared: a run of theirs needs AWS credentials that a fresh install does not have, so offering them to
developers would only produce failed runs. The platform team shares them (template page → Share) once the
project's runs get AWS credentials.
"""
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from environments.services import template_import_catalog, template_share
from rbac.models import Project, RoleBinding
from rbac.permissions import ENV_TEMPLATE_USER, ORG_ADMIN

# Templates that run offline (null provider only) are shared with the developer project; the others (AWS)
# are published in the central project only, see the module docstring.
OFFLINE_TEMPLATES = ("hello-sandbox",)


def _password(name):
    """A random password kept in the data folder, so it can be printed again on every start."""
    path = settings.DATA_DIR / f"{name}_password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    return path.read_text().strip()


class Command(BaseCommand):
    help = __doc__

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        admin, created = User.objects.get_or_create(
            username="admin", defaults={"email": "admin@example.com", "is_staff": True, "is_superuser": True}
        )
        if created:
            admin.set_password(_password("admin"))
            admin.save()
        dev, created = User.objects.get_or_create(username="developer", defaults={"email": "developer@example.com"})
        if created:
            dev.set_password(_password("developer"))
            dev.save()
        genai, _ = Project.objects.get_or_create(
            slug="genai", defaults={"name": "GenAI platform", "description": "Central template catalogue."}
        )
        sandbox, _ = Project.objects.get_or_create(
            slug="dev-sandbox", defaults={"name": "Developer sandbox", "description": "The developer's own project."}
        )
        RoleBinding.objects.get_or_create(role=ORG_ADMIN, user=admin, project=None)
        RoleBinding.objects.get_or_create(role=ENV_TEMPLATE_USER, user=dev, project=sandbox)
        for folder in sorted(p for p in settings.CATALOG_DIR.iterdir() if (p / "variables.tf").exists()):
            version = template_import_catalog(genai, folder, publish=True)
            if folder.name in OFFLINE_TEMPLATES:
                template_share(version.template, sandbox)
            shared = "shared with dev-sandbox" if folder.name in OFFLINE_TEMPLATES else "not shared"
            self.stdout.write(f"template {version.template.slug} {version.version}: {version.state}, {shared}")
        if admin.has_usable_password() and (settings.DATA_DIR / "admin_password").exists():
            self.stdout.write(self.style.SUCCESS(
                f"Sign in as admin / {_password('admin')} (org admin) or developer / {_password('developer')}"
            ))
