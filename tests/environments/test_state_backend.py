"""The portal's Terraform http state backend, spoken to as Terraform does: run credentials only, locks,
serials, and the audited admin actions on the environment page."""
import base64
import hashlib
import json

import pytest

from environments.models import Run, StateLock, StateVersion
from environments.services import environment_create
from environments.state import state_token_issue
from rbac.models import AuditEvent


def _state(serial, lineage="lin-1", resources=1):
    return json.dumps({
        "version": 4, "terraform_version": "1.0.3", "serial": serial, "lineage": lineage, "outputs": {},
        "resources": [{"mode": "managed", "type": "null_resource", "name": f"r{i}", "provider": "p",
                       "instances": [{"attributes": {"id": str(i)}}]} for i in range(resources)],
    }).encode()


def _auth(run, token):
    return "Basic " + base64.b64encode(f"run-{run.pk}:{token}".encode()).decode()


@pytest.fixture
def env_run(developer, project, sandbox_version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        env, run = environment_create(developer, project, sandbox_version, "st", {"app_name": "st"})
    return env, run


@pytest.fixture
def backend(client, env_run):
    env, run = env_run
    token = state_token_issue(run)
    url = f"/state/{env.pk}"

    def call(method, body=b"", token_=token, query="", **headers):
        return client.generic(method, url + query, body, content_type="application/json",
                              HTTP_AUTHORIZATION=_auth(run, token_), **headers)

    return call


def test_state_round_trip_and_history(backend, env_run):
    env, run = env_run
    assert backend("GET").status_code == 204, "no state yet"
    assert backend("POST", _state(1)).status_code == 200
    assert backend("POST", _state(1)).status_code == 200  # the same document again: no new version
    assert backend("POST", _state(2, resources=3)).status_code == 200
    got = backend("GET")
    assert got.status_code == 200 and json.loads(got.content)["serial"] == 2
    assert got["Content-MD5"] == base64.b64encode(hashlib.md5(got.content).digest()).decode()
    versions = list(StateVersion.objects.filter(environment=env).order_by("pk").values_list("serial", "resource_count"))
    assert versions == [(1, 1), (2, 3)]
    assert StateVersion.objects.filter(environment=env, run=run).count() == 2
    assert b"lin-1" not in StateVersion.objects.first().encrypted_state.encode(), "encrypted at rest"


def test_older_serial_and_garbage_are_refused_and_change_nothing(backend, env_run):
    env, _ = env_run
    backend("POST", _state(5))
    assert backend("POST", _state(4)).status_code == 409
    assert backend("POST", b"not json").status_code == 409
    assert backend("POST", _state(6), HTTP_CONTENT_MD5="AAAAAAAAAAAAAAAAAAAAAA==").status_code == 400
    assert list(StateVersion.objects.filter(environment=env).values_list("serial", flat=True)) == [5]


def test_lock_conflict_names_the_holder_and_guards_writes(backend, env_run):
    env, run = env_run
    lock = {"ID": "lock-a", "Operation": "OperationTypeApply", "Who": "root@w1", "Version": "1.0.3",
            "Created": "2026-11-23T10:00:00Z", "Path": "", "Info": ""}
    assert backend("LOCK", json.dumps(lock)).status_code == 200
    second = backend("LOCK", json.dumps(dict(lock, ID="lock-b")))
    assert second.status_code == 423
    assert second.json()["ID"].startswith("lock-a (held by Terrace run #")
    assert f"Terrace run #{run.pk}" in second.json()["Who"]
    # A write that does not carry the lock id is refused; with it, accepted.
    assert backend("POST", _state(1)).status_code == 423
    assert backend("POST", _state(1), query="?ID=lock-a").status_code == 200
    # Unlocking with another id fails; with the holder's id it succeeds.
    assert backend("UNLOCK", json.dumps(dict(lock, ID="lock-b"))).status_code == 423
    assert backend("UNLOCK", json.dumps(lock)).status_code == 200
    assert not StateLock.objects.filter(environment=env).exists()


@pytest.mark.parametrize("case", ["wrong-token", "no-auth", "finished-run", "other-environment", "session-user"])
def test_only_the_runs_own_live_credential_is_accepted(case, client, backend, env_run, developer, project,
                                                       sandbox_version, django_capture_on_commit_callbacks):
    env, run = env_run
    token = state_token_issue(run)
    url = f"/state/{env.pk}"
    if case == "wrong-token":
        response = backend("GET", token_="guess")
    elif case == "no-auth":
        response = client.get(url)
    elif case == "finished-run":
        Run.objects.filter(pk=run.pk).update(status=Run.CANCELED, finished_at="2026-01-01T00:00:00Z")
        response = client.get(url, HTTP_AUTHORIZATION=_auth(run, token))
    elif case == "other-environment":
        with django_capture_on_commit_callbacks():
            other, other_run = environment_create(developer, project, sandbox_version, "st2", {"app_name": "x"})
        other_token = state_token_issue(other_run)
        response = client.get(url, HTTP_AUTHORIZATION=_auth(other_run, other_token))
    else:
        client.force_login(developer)
        response = client.get(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    assert backend("POST", _state(1), token_="guess").status_code == 401
    assert not StateVersion.objects.exists()


def test_download_and_force_unlock_are_audited_admin_actions(client, backend, env_run, project_admin, developer):
    env, run = env_run
    backend("POST", _state(3))
    client.force_login(developer)
    assert client.get(f"/environments/{env.pk}/state/").status_code == 403
    client.force_login(project_admin)
    page = client.get(f"/environments/{env.pk}/")
    assert b"Download state" in page.content
    response = client.get(f"/environments/{env.pk}/state/")
    assert response.status_code == 200 and json.loads(b"".join(response.streaming_content)
                                                       if response.streaming else response.content)["serial"] == 3
    assert AuditEvent.objects.filter(action="state.download", object_id=str(env.pk), actor=project_admin).exists()

    backend("LOCK", json.dumps({"ID": "stuck", "Who": "root@dead-worker", "Operation": "OperationTypeApply"}))
    page = client.get(f"/environments/{env.pk}/")
    assert f"Terrace run #{run.pk}".encode() in page.content and b"Force unlock" not in page.content, \
        "no force unlock while the environment has an active run"
    # The run that held it ended (its worker died): now an admin may force the lock open.
    Run.objects.filter(pk=run.pk).update(status=Run.ERRORED, finished_at="2026-01-01T00:00:00Z")
    client.force_login(developer)
    assert client.post(f"/environments/{env.pk}/state/unlock/").status_code == 403
    assert StateLock.objects.filter(environment=env).exists()
    client.force_login(project_admin)
    assert client.post(f"/environments/{env.pk}/state/unlock/").status_code == 302
    assert not StateLock.objects.filter(environment=env).exists()
    event = AuditEvent.objects.get(action="state.force_unlock")
    assert event.data["lock"]["ID"] == "stuck" and event.actor == project_admin
