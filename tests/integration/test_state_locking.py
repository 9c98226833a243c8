"""The real terraform CLI against the portal's http backend (served by uvicorn): a second concurrent apply on the
same state fails at once, naming the lock holder; the first one's state is kept."""
import json
import subprocess
import time

import pytest

from environments.models import Environment, Run, StateLock, StateVersion
from environments.state import state_token_issue
from tests.conftest import offline_terraform_env

pytestmark = [pytest.mark.terraform, pytest.mark.django_db(transaction=True)]

MAIN_TF = """
terraform {
  backend "http" {}
}
resource "null_resource" "slow" {
  triggers = { n = var.n }
  provisioner "local-exec" {
    command = "sleep 4"
  }
}
variable "n" { type = string }
"""


def test_second_concurrent_apply_fails_with_the_lock_holder(live_portal, developer, project, sandbox_version,
                                                            tmp_path):
    # A queued run written directly, so no worker takes it (this test plays the worker): its credential is live.
    env = Environment.objects.create(project=project, template_version=sandbox_version, name="locking",
                                     owner=developer)
    run = Run.objects.create(environment=env, operation=Run.APPLY, triggered_by=developer)
    token = state_token_issue(run)
    terraform, base_env = offline_terraform_env(tmp_path)
    address = f"{live_portal.url}/state/{env.pk}"
    tf_env = dict(base_env, TF_HTTP_ADDRESS=address, TF_HTTP_LOCK_ADDRESS=address, TF_HTTP_UNLOCK_ADDRESS=address,
                  TF_HTTP_USERNAME=f"run-{run.pk}", TF_HTTP_PASSWORD=token)
    dirs = []
    for name in ("first", "second"):
        d = tmp_path / name
        d.mkdir()
        (d / "main.tf").write_text(MAIN_TF)
        init = subprocess.run([terraform, "init", "-input=false", "-no-color"], cwd=d, env=tf_env,
                              capture_output=True, text=True, timeout=120)
        assert init.returncode == 0, init.stdout + init.stderr
        dirs.append(d)

    apply = [terraform, "apply", "-auto-approve", "-input=false", "-no-color"]
    first = subprocess.Popen(apply + ["-var", "n=1"], cwd=dirs[0], env=tf_env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while not StateLock.objects.filter(environment=env).exists():
        assert time.monotonic() < deadline and first.poll() is None, "the first apply never took the lock"
        time.sleep(0.05)
    second = subprocess.run(apply + ["-var", "n=2"], cwd=dirs[1], env=tf_env, capture_output=True, text=True,
                            timeout=60)
    out = second.stdout + second.stderr
    assert second.returncode != 0
    assert "Error acquiring the state lock" in out
    assert f"Terrace run #{run.pk}" in out, out

    assert first.wait(timeout=60) == 0, first.stdout.read()
    assert not StateLock.objects.filter(environment=env).exists(), "the first apply unlocked when done"
    latest = StateVersion.objects.filter(environment=env).latest()
    assert latest.resource_count == 1 and latest.run_id == run.pk
    # The token never reached Terraform's working files.
    for d in dirs:
        for path in d.rglob("*"):
            if path.is_file():
                assert token.encode() not in path.read_bytes(), path
    assert json.loads((dirs[0] / ".terraform" / "terraform.tfstate").read_text())["backend"]["type"] == "http"
