"""Environment lifetime (TTL): pick at create, extend within the maximum, notices by email and signed webhook,
automatic destroy when expired; project and per-person quotas."""
import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from environments.models import Environment, Run
from environments.services import InvalidRequest, QuotaExceeded, environment_create, environment_extend
from rbac.models import AuditEvent
from tasks.lifecycle import environments_expire, expiry_notices_send

SECRET = "whsec-test-0123456789"


@pytest.fixture
def ttl_version(sandbox_version):
    template = sandbox_version.template
    template.default_ttl_hours, template.max_ttl_hours = 8, 72
    template.save()
    return sandbox_version


@pytest.fixture
def create(developer, project, ttl_version, django_capture_on_commit_callbacks):
    def make(name, user=developer, **kwargs):
        with django_capture_on_commit_callbacks():
            return environment_create(user, project, ttl_version, name, {"app_name": name}, **kwargs)
    return make


@pytest.fixture
def webhook(settings):
    """A real HTTP receiver on loopback that records deliveries."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.TERRACE_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hook"
    settings.TERRACE_WEBHOOK_SECRET = SECRET
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    yield received
    server.shutdown()


def _verified(headers, body):
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Terrace-Signature"], expected), "signature must verify"
    return json.loads(body)


def test_new_environment_gets_the_template_default_lifetime(create):
    env, _ = create("ttl-default")
    assert timedelta(hours=7, minutes=59) < env.expires_at - timezone.now() <= timedelta(hours=8)


def test_lifetime_beyond_the_maximum_is_a_form_error_and_creates_nothing(client, developer, project, ttl_version):
    client.force_login(developer)
    response = client.post(f"/environments/new/{ttl_version.pk}/", {
        "project": project.slug, "name": "too-long", "lifetime_hours": "100", "var_app_name": "too-long",
    })
    assert response.status_code == 400
    assert b'data-error-for="lifetime_hours"' in response.content
    assert not Environment.objects.exists() and not Run.objects.exists()


def test_owner_extends_within_the_maximum_others_may_not(create, developer, make_user, project, project_admin):
    from rbac.models import RoleBinding

    env, _ = create("ttl-extend")
    colleague = make_user("colleague")
    RoleBinding.objects.create(user=colleague, role="env_template_user", project=project)
    with pytest.raises(PermissionDenied):
        environment_extend(env, colleague, timezone.now() + timedelta(hours=10))
    with pytest.raises(InvalidRequest, match="at most 72 hours"):
        environment_extend(env, developer, timezone.now() + timedelta(hours=73))
    before = env.expires_at
    environment_extend(env, developer, timezone.now() + timedelta(hours=48))
    env.refresh_from_db()
    assert timedelta(hours=47) < env.expires_at - timezone.now() <= timedelta(hours=48)
    event = AuditEvent.objects.get(action="environment.extend")
    assert event.actor == developer and event.data["before"] == before.isoformat()
    environment_extend(env, project_admin, timezone.now() + timedelta(hours=1))  # a project admin may too


def test_expiry_notices_go_once_per_lead_by_email_and_signed_webhook(create, webhook, settings):
    settings.TTL_NOTICE_LEADS = "2d,2h,30m"
    env, run = create("ttl-notice")
    Environment.objects.filter(pk=env.pk).update(status=Environment.READY,
                                                 expires_at=timezone.now() + timedelta(minutes=90))
    assert expiry_notices_send() == 1
    assert expiry_notices_send() == 0, "a notice goes once"
    assert len(mail.outbox) == 1 and "expires in 2 hours" in mail.outbox[0].subject
    assert mail.outbox[0].to == ["dev@example.com"] and f"/environments/{env.pk}/" in mail.outbox[0].body
    headers, body = webhook[0]
    payload = _verified(headers, body)
    assert headers["X-Terrace-Event"] == "environment.expiring"
    assert payload["environment"]["name"] == "ttl-notice" and payload["lead_seconds"] == 7200

    # Closer to the end, the next lead's notice goes out.
    Environment.objects.filter(pk=env.pk).update(expires_at=timezone.now() + timedelta(minutes=20))
    assert expiry_notices_send() == 1
    assert "expires in 30 minutes" in mail.outbox[1].subject and len(webhook) == 2
    # Extending resets the notices for the new expiry time.
    env.refresh_from_db()
    environment_extend(env, env.owner, timezone.now() + timedelta(minutes=100))
    assert expiry_notices_send() == 1 and len(mail.outbox) == 3


def test_expired_environments_are_destroyed_by_the_system_once(create, webhook, django_capture_on_commit_callbacks):
    env, run = create("ttl-expire")
    Run.objects.filter(pk=run.pk).update(status=Run.SUCCEEDED, started_at=timezone.now(), finished_at=timezone.now())
    Environment.objects.filter(pk=env.pk).update(status=Environment.READY,
                                                 expires_at=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks() as queued:
        assert environments_expire() == 1
    assert len(queued) == 1, "the destroy is enqueued for a worker"
    destroy = env.runs.get(operation=Run.DESTROY)
    assert destroy.triggered_by is None and destroy.status == Run.QUEUED
    env.refresh_from_db()
    assert env.status == Environment.DESTROYING and env.status_reason.startswith("Expired at")
    assert AuditEvent.objects.filter(action="environment.expire", actor__isnull=True).count() == 1
    assert _verified(*webhook[-1])["event"] == "environment.expired"
    assert environments_expire() == 0, "its destroy is running: nothing more to do"
    # The expiry destroy failed: the environment waits for a person instead of being retried every minute.
    Run.objects.filter(pk=destroy.pk).update(status=Run.FAILED, started_at=timezone.now(), finished_at=timezone.now())
    Environment.objects.filter(pk=env.pk).update(status=Environment.FAILED)
    assert environments_expire() == 0


def test_project_and_per_person_quotas(create, developer, project_admin, project, client):
    project.max_environments_per_user = 1
    project.save()
    create("q-one")
    with pytest.raises(QuotaExceeded, match="limit per person"):
        create("q-two")
    create("q-admin", user=project_admin)  # another person still may
    project.max_environments, project.max_environments_per_user = 2, None
    project.save()
    with pytest.raises(QuotaExceeded, match="limit of 2 active environments"):
        create("q-three")
    # Destroyed environments do not count.
    Environment.objects.filter(name="q-one").update(status=Environment.DESTROYED)
    create("q-four")
    # In the form: a clear message at the top, nothing created.
    client.force_login(developer)
    version = Environment.objects.get(name="q-four").template_version
    response = client.post(f"/environments/new/{version.pk}/", {"project": project.slug, "name": "q-five",
                                                                  "var_app_name": "q-five"})
    assert response.status_code == 400, response.context["form"].errors
    assert b"limit of 2 active environments" in response.content, response.context["form"].errors
    assert not Environment.objects.filter(name="q-five").exists()


def test_only_org_admins_set_quotas(client, platform_admin, project_admin, project):
    client.force_login(project_admin)
    assert client.post(f"/admin-portal/projects/{project.slug}/quota/", {"max_environments": "3"}).status_code == 403
    client.force_login(platform_admin)
    client.post(f"/admin-portal/projects/{project.slug}/quota/", {"max_environments": "3",
                                                                 "max_environments_per_user": ""})
    project.refresh_from_db()
    assert project.max_environments == 3 and project.max_environments_per_user is None
    assert AuditEvent.objects.get(action="project.quota").data["after"]["max_environments"] == 3
