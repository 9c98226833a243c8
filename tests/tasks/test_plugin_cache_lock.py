"""`terraform init` runs under an exclusive lock on the shared plugin cache (Terraform's cache is not safe
for concurrent use)."""
import fcntl
import os
import threading
import time

import pytest

from tasks.runner import process
from tasks.runner.execute import Execution


def _held_elsewhere(cache_dir):
    fd = os.open(os.path.join(cache_dir, ".terrace-init.lock"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def test_the_lock_is_exclusive(settings, tmp_path):
    settings.TF_PLUGIN_CACHE_DIR = str(tmp_path / "cache")
    entered = []

    def hold():
        with process.plugin_cache_lock():
            entered.append(time.monotonic())
            time.sleep(0.5)

    thread = threading.Thread(target=hold)
    thread.start()
    while not entered:
        time.sleep(0.01)
    assert _held_elsewhere(settings.TF_PLUGIN_CACHE_DIR)
    with process.plugin_cache_lock():
        waited = time.monotonic() - entered[0]
    thread.join()
    assert waited >= 0.45
    assert not _held_elsewhere(settings.TF_PLUGIN_CACHE_DIR)


@pytest.mark.django_db
def test_the_runner_holds_it_during_init_only(settings, tmp_path, monkeypatch, developer, project, sandbox_version,
                                              django_capture_on_commit_callbacks):
    from environments.services import environment_create

    settings.TF_PLUGIN_CACHE_DIR = str(tmp_path / "cache")
    with django_capture_on_commit_callbacks():
        _, run = environment_create(developer, project, sandbox_version, "lock", {"app_name": "lock-app"})
    held = {}

    def fake_stream(argv, cwd, env, on_line, tick, deadline):
        held[argv[1]] = _held_elsewhere(settings.TF_PLUGIN_CACHE_DIR)
        return 0

    monkeypatch.setattr(process, "stream", fake_stream)
    execution = Execution(run)
    execution.env = {}
    execution.terraform("init", process.init_command())
    execution.terraform("plan", process.plan_command("p"))
    assert held == {"init": True, "plan": False}
