"""Creating and destroying environments: permissions, template availability, secrets at rest."""
import pytest
from django.core.exceptions import PermissionDenied

from environments.models import Environment, Run
from environments.services import InvalidRequest, environment_create, environment_destroy


def test_viewer_cannot_create(viewer, project, sandbox_version):
    with pytest.raises(PermissionDenied):
        environment_create(viewer, project, sandbox_version, "x", {"app_name": "abc"})
    assert not Environment.objects.exists()


def test_outsider_cannot_use_a_template_not_shared_with_their_project(outsider, other_project, sandbox_version):
    with pytest.raises(InvalidRequest, match="not available"):
        environment_create(outsider, other_project, sandbox_version, "x", {"app_name": "abc"})
    assert not Environment.objects.exists()


def test_names_are_unique_among_live_environments(developer, project, sandbox_version,
                                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        environment_create(developer, project, sandbox_version, "dup", {"app_name": "abc"})
        with pytest.raises(InvalidRequest, match="already exists"):
            environment_create(developer, project, sandbox_version, "dup", {"app_name": "abc"})
    assert Environment.objects.count() == 1


def test_sensitive_values_are_stored_encrypted_only(developer, project, sandbox_version,
                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        env, _ = environment_create(developer, project, sandbox_version, "sec",
                                    {"app_name": "abc", "api_token": "tok-very-secret-123"})
    env.refresh_from_db()
    assert "api_token" not in env.variables
    assert "tok-very-secret-123" not in env.secret_variables
    from environments.services import environment_secret_values

    assert environment_secret_values(env) == {"api_token": "tok-very-secret-123"}


def test_destroy_needs_permission_and_queues_a_destroy_run(developer, viewer, project, sandbox_version,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        env, run = environment_create(developer, project, sandbox_version, "d", {"app_name": "abc"})
    Run.objects.filter(pk=run.pk).update(status=Run.FAILED, started_at=run.created_at, finished_at=run.created_at)
    with pytest.raises(PermissionDenied):
        environment_destroy(viewer, env)
    with django_capture_on_commit_callbacks():
        destroy = environment_destroy(developer, env)
    assert destroy.operation == Run.DESTROY and destroy.status == Run.QUEUED
    env.refresh_from_db()
    assert env.status == Environment.DESTROYING


def test_retry_needs_a_failed_environment_and_permission(developer, viewer, project, sandbox_version,
                                                         django_capture_on_commit_callbacks):
    from environments.services import environment_retry

    with django_capture_on_commit_callbacks():
        env, run = environment_create(developer, project, sandbox_version, "r", {"app_name": "retry-app"})
    with pytest.raises(InvalidRequest, match="Only a failed environment"):
        environment_retry(developer, env)
    Run.objects.filter(pk=run.pk).update(status=Run.FAILED, started_at=run.created_at, finished_at=run.created_at)
    Environment.objects.filter(pk=env.pk).update(status=Environment.FAILED)
    env.refresh_from_db()
    with pytest.raises(PermissionDenied):
        environment_retry(viewer, env)
    with django_capture_on_commit_callbacks() as callbacks:
        retry = environment_retry(developer, env)
    assert retry.operation == Run.APPLY and retry.status == Run.QUEUED and len(callbacks) == 1
    env.refresh_from_db()
    assert env.status == Environment.PROVISIONING and env.variables == {"app_name": "retry-app"}
