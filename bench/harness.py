"""Shared set-up for benchmarks: a throw-away PostgreSQL database, the offline toolchain, a real Celery worker
and (optionally) the ASGI portal under uvicorn — the same shape as production, on this machine.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "terrace_bench"
os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ["TERRACE_DATA_DIR"] = tempfile.mkdtemp(prefix="terrace-bench-")
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings_test"


def _recreate_database():
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def setup():
    """Fresh database, migrations, toolchain; returns the CLI config path. Django is set up on return."""
    _recreate_database()
    from tasks.runner.toolchain import toolchain_write

    config = toolchain_write(Path(os.environ["TERRACE_DATA_DIR"]) / "terraform")
    os.environ["TERRAFORM_CLI_CONFIG"] = str(config)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return str(config)


def start_worker(concurrency=1):
    log = open(Path(os.environ["TERRACE_DATA_DIR"]) / "worker.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", "runs,default", "-c", str(concurrency),
         "--prefetch-multiplier", "1", "-l", "warning", "--purge", "-n", f"bench-{os.getpid()}@%h"],
        cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
    )
    time.sleep(0.5)
    _wait(lambda: _worker_ready(), 60)
    return proc


def _worker_ready():
    from portal.celery import app

    return bool(app.control.ping(timeout=0.5))


def start_portal():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(Path(os.environ["TERRACE_DATA_DIR"]) / "portal.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"], cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
    )

    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    _wait(up, 30)
    return proc, f"http://127.0.0.1:{port}"


def _wait(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise RuntimeError("timed out waiting for a process to start")


def fixtures(template_dir):
    """A developer in a project with `template_dir` imported and shared; returns (user, project, version)."""
    from django.contrib.auth import get_user_model

    from environments.services import template_import_catalog, template_share
    from rbac.models import Project, RoleBinding

    user = get_user_model().objects.create_user("bench", password="bench-password")
    central = Project.objects.create(slug="genai", name="GenAI")
    project = Project.objects.create(slug="bench", name="Bench")
    RoleBinding.objects.create(user=user, role="env_template_user", project=project)
    version = template_import_catalog(central, Path(template_dir), publish=True)
    template_share(version.template, project)
    return user, project, version


def wait_run(run, timeout=300):
    """The tests' wait, polling fast enough not to blur the measurement."""
    from tests.conftest import wait_for_run

    return wait_for_run(run, timeout=timeout, poll=0.02)


def stop(*procs):
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    shutil.rmtree(os.environ["TERRACE_DATA_DIR"], ignore_errors=True)


def percentile(values, p):
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
