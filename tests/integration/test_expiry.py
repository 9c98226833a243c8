"""An environment past its lifetime is destroyed by the system through a real worker and Terraform."""
from datetime import timedelta

import pytest
from django.utils import timezone

from environments.models import Environment, Run, StateVersion
from environments.services import environment_create
from tasks.lifecycle import environments_expire
from tests.conftest import wait_for_run

pytestmark = [pytest.mark.worker, pytest.mark.terraform, pytest.mark.django_db(transaction=True)]


def test_expired_environment_is_destroyed_and_says_why(live_worker, developer, project, sandbox_version):
    env, run = environment_create(developer, project, sandbox_version, "short-lived",
                                  {"app_name": "short-lived", "step_seconds": 0})
    assert wait_for_run(run).status == Run.SUCCEEDED, run.error
    Environment.objects.filter(pk=env.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert environments_expire() == 1
    destroy = env.runs.get(operation=Run.DESTROY)
    assert wait_for_run(destroy).status == Run.DESTROYED, destroy.error
    env.refresh_from_db()
    assert env.status == Environment.DESTROYED
    assert env.status_reason.startswith("Expired at") and "destroyed automatically" in env.status_reason
    assert StateVersion.objects.filter(environment=env).latest().resource_count == 0
