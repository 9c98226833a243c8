"""Pre-flight before queueing and the Bedrock model picker on the create form.

STS runs on the moto server. moto has no Bedrock ListFoundationModels / GetFoundationModelAvailability, so
those two calls are stubbed on the Bedrock client with botocore's Stubber (`stub_bedrock`, see conftest).
"""
import pytest
from django.urls import reverse
from django.utils import timezone

from environments.models import Environment, Run, WorkerHeartbeat
from tests.aws.conftest import MODELS, availability
from tests.conftest import PASSWORD, free_port

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
TITAN = "amazon.titan-text-express-v1"


@pytest.fixture
def dev_client(client, developer):
    client.login(username=developer.username, password=PASSWORD)
    return client


@pytest.fixture
def worker_row(db):
    """The row a live worker's main process keeps fresh (environments.selectors.workers_alive reads it)."""
    now = timezone.now()
    return WorkerHeartbeat.objects.create(name="w1@test", pid=1, started_at=now, last_seen=now)


def _url(version, project):
    return reverse("environments:create", args=[version.pk]) + f"?project={project.slug}"


def _post(dev_client, version, project, callbacks_fixture, **values):
    data = {"name": "demo", "project": project.slug, **{f"var_{k}": v for k, v in values.items()}}
    with callbacks_fixture() as callbacks:
        response = dev_client.post(_url(version, project), data)
    return response, callbacks


def test_model_field_is_a_dropdown_of_active_models_in_the_credentials_region(dev_client, project, echo_version,
                                                                              stub_bedrock):
    stub_bedrock.append(("list_foundation_models", MODELS))
    html = dev_client.get(_url(echo_version, project)).content.decode()
    assert '<select name="var_model_id"' in html
    assert f'<option value="{HAIKU}" selected>' in html and f'<option value="{TITAN}">' in html
    assert "old.model-v1" not in html, "legacy models are not offered"
    # Cached briefly: a second page view makes no Bedrock call (the stub would fail on an unexpected one).
    assert '<select name="var_model_id"' in dev_client.get(_url(echo_version, project)).content.decode()


def test_model_list_failure_falls_back_to_free_text_with_a_notice(dev_client, project, echo_version, stub_bedrock):
    stub_bedrock.append(("list_foundation_models", "AccessDeniedException"))
    html = dev_client.get(_url(echo_version, project)).content.decode()
    assert '<select name="var_model_id"' not in html and 'name="var_model_id"' in html
    assert 'data-picker-notice="model_id"' in html and "AccessDeniedException" in html and "type the model ID" in html


def test_no_live_worker_blocks_create_with_the_reason_at_the_top(dev_client, project, echo_version, stub_bedrock,
                                                                 django_capture_on_commit_callbacks):
    stub_bedrock.extend([("list_foundation_models", MODELS), ("get_foundation_model_availability",
                                                               availability(HAIKU))])
    response, callbacks = _post(dev_client, echo_version, project, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert "No worker is running" in " ".join(response.context["form"].non_field_errors())
    assert not Environment.objects.exists() and not Run.objects.exists() and not callbacks


def test_a_model_not_enabled_for_the_account_blocks_create_next_to_its_field(
        dev_client, project, echo_version, stub_bedrock, worker_row, django_capture_on_commit_callbacks):
    stub_bedrock.extend([("list_foundation_models", MODELS), ("get_foundation_model_availability",
                                                               availability(TITAN, entitlement="NOT_AVAILABLE"))])
    response, callbacks = _post(dev_client, echo_version, project, django_capture_on_commit_callbacks,
                                model_id=TITAN)
    assert response.status_code == 400
    errors = response.context["form"].errors["var_model_id"]
    assert any(f"{TITAN} is not enabled for the account in eu-west-1" in e for e in errors), errors
    assert 'data-error-for="model_id"' in response.content.decode()
    assert not Environment.objects.exists() and not Run.objects.exists() and not callbacks


def test_credentials_that_cannot_be_assumed_block_create(dev_client, project, echo_version, worker_row, monkeypatch,
                                                         django_capture_on_commit_callbacks):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # STS unreachable
    response, callbacks = _post(dev_client, echo_version, project, django_capture_on_commit_callbacks,
                                model_id=HAIKU)
    assert response.status_code == 400
    top = " ".join(response.context["form"].non_field_errors())
    assert "The template's credentials (sandbox-account) cannot be used: Could not assume" in top
    assert not Environment.objects.exists() and not Run.objects.exists() and not callbacks


def test_when_every_check_passes_the_environment_is_queued(dev_client, project, echo_version, stub_bedrock,
                                                           worker_row, django_capture_on_commit_callbacks):
    stub_bedrock.extend([("list_foundation_models", MODELS), ("get_foundation_model_availability",
                                                               availability(TITAN))])
    response, callbacks = _post(dev_client, echo_version, project, django_capture_on_commit_callbacks,
                                model_id=TITAN, desired_count="1")
    run = Run.objects.get()
    assert response.status_code == 302 and response.url == reverse("runs:detail", args=[run.pk])
    assert len(callbacks) == 1 and run.environment.variables == {"model_id": TITAN, "desired_count": 1}


def test_retry_is_refused_with_the_reason_when_no_worker_is_alive(dev_client, project, echo_version, developer,
                                                                  django_capture_on_commit_callbacks):
    env = Environment.objects.create(project=project, template_version=echo_version, name="was-failed",
                                     owner=developer, status=Environment.FAILED)
    with django_capture_on_commit_callbacks() as callbacks:
        response = dev_client.post(reverse("environments:retry", args=[env.pk]), follow=True)
    assert "No worker is running" in response.content.decode()
    assert not Run.objects.exists() and not callbacks


def test_templates_without_credentials_are_not_checked(dev_client, project, sandbox_version,
                                                       django_capture_on_commit_callbacks):
    response, callbacks = _post(dev_client, sandbox_version, project, django_capture_on_commit_callbacks,
                                app_name="no-creds")
    assert response.status_code == 302 and len(callbacks) == 1
