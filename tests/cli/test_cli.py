"""The `terrace` CLI against a live portal (uvicorn) and a real Celery worker running the real terraform.

No mocked HTTP: the installed console script runs as a subprocess, as a user or a CI job would run it.
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from environments.models import Environment, Run
from environments.services import environment_create
from rbac.tokens import api_token_create
from tests.conftest import import_fixture_template, wait_for_run

pytestmark = [pytest.mark.worker, pytest.mark.terraform, pytest.mark.django_db(transaction=True)]

SECRET = "cli-secret-value-42"


def _terrace_bin():
    found = Path(sys.executable).parent / "terrace"
    return [str(found)] if found.exists() else [sys.executable, "-m", "terrace_cli.main"]


@pytest.fixture
def terrace(tmp_path, live_portal):
    """terrace(*args, input=None, token=None) -> CompletedProcess, with its own config file."""
    config = tmp_path / "terrace-config.json"

    def run(*args, input=None, timeout=120):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TERRACE_")}
        env.update(TERRACE_CONFIG=str(config), NO_COLOR="1")
        return subprocess.run(_terrace_bin() + list(args), input=input, capture_output=True, text=True,
                              env=env, timeout=timeout)

    run.config = config
    return run


@pytest.fixture
def logged_in(terrace, live_portal, developer, project, sandbox_version):
    _token, raw = api_token_create(developer, name="cli")
    result = terrace("login", "--url", live_portal.url, input=f"{raw}\n")
    assert result.returncode == 0, result.stderr
    terrace.raw = raw
    return terrace


def test_login_saves_the_token_privately_and_refuses_a_bad_one(terrace, live_portal, developer, project):
    result = terrace("login", "--url", live_portal.url, input="trc_00000000_nope\n")
    assert result.returncode == 1 and "login failed" in result.stderr and "Unknown API token" in result.stderr
    assert not terrace.config.exists()
    _token, raw = api_token_create(developer, name="cli", project=project)
    result = terrace("login", "--url", live_portal.url, input=f"{raw}\n")
    assert result.returncode == 0 and "as dev (token limited to project team-a)" in result.stdout
    assert raw not in result.stdout + result.stderr, "the token is never echoed"
    assert stat.S_IMODE(terrace.config.stat().st_mode) == 0o600
    assert json.loads(terrace.config.read_text())["token"] == raw
    assert terrace("whoami").stdout.strip() == "dev (project team-a)"


def test_create_wait_show_logs_destroy(logged_in, live_worker, live_portal):
    terrace = logged_in
    listing = terrace("templates")
    assert listing.returncode == 0 and "hello-sandbox" in listing.stdout and "VERSION" in listing.stdout

    started = time.monotonic()
    created = terrace("env", "create", "--template", "hello-sandbox", "--name", "cli-env",
                      "--var", "app_name=cli-app", "--var", "step_seconds=1", "--var", f"api_token={SECRET}",
                      "--var", 'regions=["eu-west-1","us-east-1"]', "--wait")
    assert created.returncode == 0, created.stdout + created.stderr
    out = created.stdout
    assert "Environment cli-env (#" in out and "==> planning" in out and "==> succeeded" in out
    assert "[3/3]" in out, "a resource counter shows progress"
    assert "output app_url" in out and "Environment cli-env is ready." in out
    assert SECRET not in out + created.stderr
    env = Environment.objects.get(name="cli-env")
    assert env.status == Environment.READY and env.variables["regions"] == ["eu-west-1", "us-east-1"]
    assert time.monotonic() - started < 90

    shown = terrace("env", "show", "cli-env")
    assert shown.returncode == 0 and "cli-env (#" in shown.stdout and ": ready" in shown.stdout
    assert "api_token = (sensitive)" in shown.stdout and SECRET not in shown.stdout
    as_json = json.loads(terrace("env", "list", "--json").stdout)
    assert [e["name"] for e in as_json] == ["cli-env"] and as_json[0]["status"] == "ready"
    assert "cli-env" in terrace("env", "list").stdout

    run = env.runs.get()
    logs = terrace("run", "logs", str(run.pk))
    assert logs.returncode == 0 and "==> succeeded" in logs.stdout
    jsonl = [json.loads(line) for line in terrace("run", "logs", str(run.pk), "--json").stdout.splitlines()]
    assert [e["seq"] for e in jsonl] == list(range(1, len(jsonl) + 1))

    updated = terrace("env", "update", "cli-env", "--var", "replicas=3", "--var", "step_seconds=0", "--wait",
                      "--yes")
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert "==> awaiting_approval" in updated.stdout and "==> succeeded" in updated.stdout
    env.refresh_from_db()
    assert env.variables["replicas"] == 3 and env.status == Environment.READY
    assert SECRET not in updated.stdout + updated.stderr

    destroyed = terrace("env", "destroy", "cli-env", "--yes", "--wait")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert "==> destroyed" in destroyed.stdout
    env.refresh_from_db()
    assert env.status == Environment.DESTROYED
    assert terrace("env", "list", "--json").stdout.strip() == "[]"
    assert "cli-env" in terrace("env", "list", "--all").stdout

    # The token was sent on every call and never written to the portal's or the worker's logs.
    assert terrace.raw not in Path(live_portal.log_path).read_text()
    assert terrace.raw not in live_worker.output()


def test_wait_exits_non_zero_with_terraforms_error_when_the_apply_fails(logged_in, live_worker, central, project):
    import_fixture_template(central, project, "fails-on-apply")
    result = logged_in("env", "create", "--template", "fails-on-apply", "--name", "doomed", "--wait")
    assert result.returncode == 1
    assert "==> failed" in result.stdout
    assert "error:" in result.stdout and "local-exec" in result.stdout.lower()
    assert "run " in result.stderr and "failed" in result.stderr
    assert Environment.objects.get(name="doomed").status == Environment.FAILED


def test_bad_variables_are_reported_by_field_and_nothing_is_created(logged_in):
    result = logged_in("env", "create", "--template", "hello-sandbox", "--name", "bad",
                       "--var", "app_name=ok-name", "--var", "step_seconds=soon", "--var", "nope=1")
    assert result.returncode == 1
    assert "variables.step_seconds:" in result.stderr and "variables.nope:" in result.stderr
    assert not Environment.objects.exists()


def test_run_logs_follow_streams_a_run_started_elsewhere(logged_in, live_worker, developer, project,
                                                         sandbox_version):
    env, run = environment_create(developer, project, sandbox_version, "followed",
                                  {"app_name": "followed", "step_seconds": 1})
    result = logged_in("run", "logs", str(run.pk), "--follow")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "run finished: succeeded" in result.stdout
    assert wait_for_run(run).status == Run.SUCCEEDED
    canceled = logged_in("run", "cancel", str(run.pk))
    assert canceled.returncode == 1 and "already ended" in canceled.stderr


def test_outsider_token_sees_nothing(terrace, live_portal, outsider, developer, project, sandbox_version):
    env, run = environment_create(developer, project, sandbox_version, "private", {"app_name": "private"})
    _t, raw = api_token_create(outsider, name="x")
    assert terrace("login", "--url", live_portal.url, input=f"{raw}\n").returncode == 0
    shown = terrace("env", "show", str(env.pk))
    assert shown.returncode == 1 and "HTTP 404" in shown.stderr
    assert terrace("run", "logs", str(run.pk), "--follow").returncode == 1
    assert terrace("env", "list", "--json").stdout.strip() == "[]"


def test_not_logged_in_is_a_usage_error(terrace):
    result = terrace("env", "list")
    assert result.returncode == 2 and "terrace login" in result.stderr


def test_console_script_is_installed():
    assert shutil.which("terrace", path=str(Path(sys.executable).parent)), "run ./dev (pip install -e .)"
