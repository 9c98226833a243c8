"""A run of a template with a credential set gets short-lived STS credentials (from the moto server) and the
set's variables in Terraform's environment, and every log line shows them as ***. Real Celery worker, real
terraform; the template echoes the variables from a local-exec."""
import json
import time

import pytest
from django.db import transaction

from environments.models import Environment, Run, RunEvent, WorkerHeartbeat
from environments.services import environment_create, run_request
from tests.aws.conftest import REGION
from tests.conftest import wait_for_run

pytestmark = [pytest.mark.worker, pytest.mark.terraform, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_alive(live_worker):
    """The live worker, once its heartbeat row is back (each transactional test empties the tables)."""
    deadline = time.monotonic() + 20
    while not WorkerHeartbeat.objects.exists():
        assert time.monotonic() < deadline, "the live worker never reported in"
        time.sleep(0.2)
    return live_worker


def _issued_credentials():
    """The credentials moto's STS issued (the moto server runs in this process)."""
    from moto.sts.models import sts_backends

    issued = []
    for account in sts_backends.values():
        for backend in account.values():
            issued.extend(backend.assumed_roles)
    return issued


def test_run_gets_sts_credentials_and_the_log_masks_them(worker_alive, developer, project, echo_version,
                                                         stub_bedrock):
    from tests.aws.conftest import availability

    # moto has no Bedrock availability API: the pre-flight's one Bedrock call is stubbed (see conftest).
    stub_bedrock.append(("get_foundation_model_availability",
                         availability("anthropic.claude-3-haiku-20240307-v1:0")))
    env, run = environment_create(developer, project, echo_version, "echo", {})
    run = wait_for_run(run)
    assert run.status == Run.SUCCEEDED, (run.error, worker_alive.output()[-3000:])

    sessions = [r for r in _issued_credentials() if r.session_name == f"terrace-run-{run.pk}"]
    assert len(sessions) == 1, "the worker assumed the role once, for this run"
    issued = sessions[0]
    events = list(RunEvent.objects.filter(run=run).order_by("seq"))
    everything = json.dumps([[e.message, e.data] for e in events])
    for value in (issued.access_key_id, issued.secret_access_key, issued.session_token, "hello-very-secret-42"):
        assert value not in everything
    echoed = [e.message for e in events if "secret=[" in e.message]
    assert echoed, everything[-3000:]
    line = echoed[-1]
    assert "key=[***]" in line and "secret=[***]" in line and "token=[***]" in line and "extra=[***]" in line
    assert f"region=[{REGION}]" in line and "label=[echo-2]" in line
    assert issued.external_id == "terrace-ext" and issued.role_arn.endswith(":role/terrace-runs")


def test_a_role_that_cannot_be_assumed_fails_the_run_with_the_reason(worker_alive, developer, project,
                                                                     echo_version):
    # A role STS refuses at run time (here: a session longer than STS allows, set after the pre-flight).
    # The run is queued directly, as a retry after such a change would be, so the worker meets the refusal.
    cs = echo_version.template.credential_set
    cs.aws_session_seconds = 100
    cs.save()
    env = Environment.objects.create(project=project, template_version=echo_version, name="echo-broken",
                                     owner=developer)
    with transaction.atomic():
        run = run_request(env, Run.APPLY, developer)
    run = wait_for_run(run)
    assert run.status == Run.FAILED
    assert "AWS credentials (sandbox-account): Could not assume" in run.error and "DurationSeconds" in run.error
