"""Shared set-up for benchmarks: a throw-away PostgreSQL database, the offline toolchain, a real Celery worker
and (optionally) the ASGI portal under uvicorn — the same shape as production, on this machine.
"""
import os
import shutil
import sys
import tempfile
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


def start_worker(portal_url, concurrency=1):
    """A real Celery worker on the bench database (the tests' own process fixture), keeping state in the
    portal at `portal_url`."""
    from tests.conftest import Worker

    return Worker(os.environ["TERRAFORM_CLI_CONFIG"], os.environ["TERRACE_DATA_DIR"], concurrency=concurrency,
                  extra_env={"TERRACE_INTERNAL_URL": portal_url})


def start_portal():
    """The ASGI portal under uvicorn (the tests' own process fixture); returns (portal, base URL)."""
    from tests.conftest import Portal

    portal = Portal(os.environ["TERRAFORM_CLI_CONFIG"], os.environ["TERRACE_DATA_DIR"])
    return portal, portal.url


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


def stop(*processes):
    """Stop Worker/Portal processes and remove the bench data folder."""
    for process in processes:
        process.stop()
    shutil.rmtree(os.environ["TERRACE_DATA_DIR"], ignore_errors=True)


def percentile(values, p):
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
