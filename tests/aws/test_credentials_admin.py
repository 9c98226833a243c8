"""Credential set admin pages: write-only variables encrypted at rest, validation next to the field, audit,
templates attached, and Test connection against a moto STS on loopback."""
import json

import pytest
from django.urls import reverse

from environments.models import CredentialSet, Template
from rbac.models import AuditEvent
from tests.aws.conftest import ACCOUNT, REGION, ROLE_ARN

SECRET = "sk-live-do-not-show-0042"


@pytest.fixture
def admin_client(client, platform_admin):
    client.force_login(platform_admin)
    return client


def _form(**extra):
    data = {"name": "prod-account", "description": "", "aws_role_arn": ROLE_ARN, "aws_external_id": "terrace-ext",
            "aws_region": REGION, "aws_session_seconds": "3600", "env_text": f"API_KEY={SECRET}\nMODE=fast"}
    data.update(extra)
    return data


def test_create_encrypts_variables_shows_names_only_and_audits(admin_client, central, sandbox_version):
    url = reverse("credentials:new", args=[central.slug])
    response = admin_client.post(url, _form(templates=[sandbox_version.template.pk]))
    assert response.status_code == 302, response.content.decode()[-2000:]
    cs = CredentialSet.objects.get()
    assert cs.env_names == ["API_KEY", "MODE"] and SECRET not in cs.encrypted_env and cs.encrypted_env
    assert Template.objects.get(pk=sandbox_version.template.pk).credential_set == cs

    page = admin_client.get(response.url).content.decode()
    assert "API_KEY" in page and SECRET not in page and "fast" not in page.replace("breakfast", "")
    listing = admin_client.get(reverse("credentials:list", args=[central.slug])).content.decode()
    assert "prod-account" in listing and SECRET not in listing

    event = AuditEvent.objects.get(action="credential_set.create")
    assert event.actor.username == "platform" and event.project == central
    assert SECRET not in json.dumps(event.data) and event.data["env_set"] == ["API_KEY", "MODE"]


def test_edit_keeps_unseen_values_replaces_and_removes_named_ones(admin_client, central):
    admin_client.post(reverse("credentials:new", args=[central.slug]), _form())
    cs = CredentialSet.objects.get()
    from environments.credentials import credential_set_env

    response = admin_client.post(reverse("credentials:detail", args=[central.slug, cs.pk]),
                                 _form(env_text="NEW_ONE=n1-value", env_remove=["MODE"]))
    assert response.status_code == 302
    cs.refresh_from_db()
    assert credential_set_env(cs) == {"API_KEY": SECRET, "NEW_ONE": "n1-value"}
    assert cs.env_names == ["API_KEY", "NEW_ONE"]
    assert AuditEvent.objects.filter(action="credential_set.update", data__env_removed=["MODE"]).exists()


@pytest.mark.parametrize("field,value,message", [
    ("aws_role_arn", "arn:aws:iam::12:user/bob", "Expected an IAM role ARN"),
    ("aws_region", "", "A region is required with an AWS role."),
    ("aws_region", "Europe", "Expected a region name"),
    ("aws_session_seconds", "60", "greater than or equal to 900"),
    ("env_text", "PATH=/tmp/evil", "set by Terrace itself"),
    ("env_text", "TF_HTTP_PASSWORD=x", "set by Terrace itself"),
    ("env_text", "AWS_SECRET_ACCESS_KEY=abc", "runs get AWS keys from STS"),
    ("env_text", "1BAD=x", "not a valid variable name"),
    ("env_text", "no equals", "expected NAME=value"),
])
def test_bad_input_is_refused_next_to_its_field(admin_client, central, field, value, message):
    response = admin_client.post(reverse("credentials:new", args=[central.slug]), _form(**{field: value}))
    assert response.status_code == 400
    assert any(message in e for e in response.context["form"].errors[field]), response.context["form"].errors
    assert f'data-error-for="{field}"' in response.content.decode()
    assert not CredentialSet.objects.exists() and not AuditEvent.objects.filter(action__startswith="credential")


def test_a_form_sent_back_with_an_error_does_not_echo_the_values(admin_client, central):
    response = admin_client.post(reverse("credentials:new", args=[central.slug]), _form(aws_region="Europe"))
    assert response.status_code == 400 and SECRET not in response.content.decode()


def test_test_connection_shows_the_assumed_identity(admin_client, central, credential_set):
    url = reverse("credentials:test", args=[central.slug, credential_set.pk])
    response = admin_client.post(url, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and 'data-connection="ok"' in html, html
    assert ACCOUNT in html
    assert f"arn:aws:sts::{ACCOUNT}:assumed-role/terrace-runs/terrace-connection-test" in html
    event = AuditEvent.objects.get(action="credential_set.test")
    assert event.data["ok"] is True and event.data["account"] == ACCOUNT


def test_test_connection_shows_a_clear_error_when_sts_cannot_be_reached(admin_client, central, credential_set,
                                                                        monkeypatch):
    from tests.conftest import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    response = admin_client.post(reverse("credentials:test", args=[central.slug, credential_set.pk]),
                                 HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'data-connection="error"' in html
    assert f"Could not assume {ROLE_ARN}" in html and "Could not connect to the endpoint URL" in html
    assert AuditEvent.objects.get(action="credential_set.test").data["ok"] is False


def test_project_admin_of_another_project_cannot_see_the_central_credentials(client, project_admin, central,
                                                                             credential_set):
    client.force_login(project_admin)
    assert client.get(reverse("credentials:list", args=[central.slug])).status_code == 404
    assert client.get(reverse("credentials:detail", args=[central.slug, credential_set.pk])).status_code == 404
    assert client.post(reverse("credentials:test", args=[central.slug, credential_set.pk])).status_code == 404


def test_a_credential_set_id_from_another_project_answers_404(admin_client, project, credential_set):
    assert admin_client.get(reverse("credentials:detail", args=[project.slug, credential_set.pk])).status_code == 404


def test_delete_detaches_templates_and_audits(admin_client, central, credential_set, sandbox_version):
    sandbox_version.template.credential_set = credential_set
    sandbox_version.template.save()
    response = admin_client.post(reverse("credentials:delete", args=[central.slug, credential_set.pk]))
    assert response.status_code == 302
    assert not CredentialSet.objects.exists()
    assert Template.objects.get(pk=sandbox_version.template.pk).credential_set is None
    assert AuditEvent.objects.get(action="credential_set.delete").data["templates"] == ["hello-sandbox"]


def test_edit_page_shows_current_settings_and_attached_templates_but_no_values(admin_client, central,
                                                                               credential_set, echo_version):
    html = admin_client.get(reverse("credentials:detail", args=[central.slug, credential_set.pk])).content.decode()
    assert f'value="{ROLE_ARN}"' in html and 'value="terrace-ext"' in html and f'value="{REGION}"' in html
    assert f'value="{echo_version.template.pk}" id="id_templates_0" checked' in html
    assert "GREETING_TOKEN" in html and "hello-very-secret-42" not in html
