"""Shared fixtures: personas, the offline Terraform toolchain, the demo template, and real processes (a Celery
worker and the ASGI portal under uvicorn) running against the test database.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings

from tasks.runner.toolchain import toolchain_write

ROOT = Path(__file__).resolve().parent.parent
# Sync Playwright runs an event loop in the test thread; Django would refuse ORM calls from it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct-horse-battery"


# --- Terraform toolchain -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def terraform_cli_config():
    """An offline provider mirror + CLI config, also used by the worker process we start."""
    path = Path(tempfile.mkdtemp(prefix="terrace-tf-"))
    config = toolchain_write(path)
    yield str(config)
    shutil.rmtree(path, ignore_errors=True)


def offline_terraform_env(tmp_path):
    """(terraform binary, environment) for running Terraform by hand in a test, offline."""
    config = toolchain_write(Path(tmp_path) / "toolchain")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "TF_CLI_CONFIG_FILE": str(config),
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
    }
    return settings.TERRAFORM_BIN, env


@pytest.fixture(autouse=True)
def _terraform_settings(settings, terraform_cli_config, tmp_path):
    settings.TERRAFORM_CLI_CONFIG = terraform_cli_config
    settings.RUNS_DIR = tmp_path / "runs"


# --- Personas ------------------------------------------------------------------------------------------

@pytest.fixture
def make_user(django_user_model):
    def make(username, **extra):
        return django_user_model.objects.create_user(
            username=username, email=f"{username}@example.com", password=PASSWORD, **extra
        )

    return make


@pytest.fixture
def central(db):
    from rbac.models import Project

    return Project.objects.create(slug="genai", name="GenAI platform")


@pytest.fixture
def project(db):
    from rbac.models import Project

    return Project.objects.create(slug="team-a", name="Team A")


@pytest.fixture
def other_project(db):
    from rbac.models import Project

    return Project.objects.create(slug="team-b", name="Team B")


def _bind(user, role, project):
    from rbac.models import RoleBinding

    RoleBinding.objects.create(user=user, role=role, project=project)
    return user


@pytest.fixture
def platform_admin(make_user):
    return _bind(make_user("platform"), "org_admin", None)


@pytest.fixture
def project_admin(make_user, project):
    return _bind(make_user("lead"), "project_admin", project)


@pytest.fixture
def developer(make_user, project):
    return _bind(make_user("dev"), "env_template_user", project)


@pytest.fixture
def viewer(make_user, project):
    return _bind(make_user("watcher"), "viewer", project)


@pytest.fixture
def outsider(make_user, other_project):
    return _bind(make_user("outsider"), "env_template_user", other_project)


# --- Templates -----------------------------------------------------------------------------------------

@pytest.fixture
def sandbox_version(central, project):
    """The offline demo template, imported into the central project, published and shared with `project`."""
    from environments.services import template_import_catalog, template_share

    version = template_import_catalog(central, ROOT / "catalog" / "hello-sandbox", publish=True)
    template_share(version.template, project)
    return version


def import_fixture_template(central, project, name):
    """Import a test template from tests/fixtures/templates/<name>, published and shared with `project`."""
    from environments.services import template_import_catalog, template_share

    version = template_import_catalog(central, ROOT / "tests" / "fixtures" / "templates" / name, publish=True)
    template_share(version.template, project)
    return version


# --- Real processes ------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _process_env(terraform_cli_config, extra=None):
    from django.db import connection

    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings_test",
        DATABASE_URL=(
            f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        REDIS_URL=settings.REDIS_URL,
        TERRAFORM_CLI_CONFIG=terraform_cli_config,
        TERRACE_DATA_DIR=str(settings.DATA_DIR),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


def _wait_for(predicate, timeout, what, proc, log_path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if predicate():
            return
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{what} did not start:\n{Path(log_path).read_text()[-4000:]}")


class Worker:
    """A real `celery worker` process consuming the test broker."""

    def __init__(self, terraform_cli_config, tmp, concurrency=2, extra_env=None):
        self.log_path = Path(tmp) / f"worker-{time.monotonic_ns()}.log"
        self.runs_dir = Path(tmp) / "worker-runs"
        env = _process_env(terraform_cli_config, dict({"TERRACE_RUNS_DIR": str(self.runs_dir)}, **(extra_env or {})))
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", "runs,default", "-c", str(concurrency),
             "--prefetch-multiplier", "1", "-l", "info", "--purge", "-n", f"test-{time.monotonic_ns()}@%h"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        _wait_for(lambda: " ready." in self.log_path.read_text(), 60, "celery worker", self.proc, self.log_path)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    def output(self):
        return self.log_path.read_text()


@pytest.fixture(scope="session")
def live_worker(django_db_setup, django_db_blocker, terraform_cli_config, live_portal):
    """One Celery worker process for the session, on the test database and the Redis test broker, keeping
    Terraform state in the live portal (its http backend).

    Its folders live outside pytest's basetemp: another pytest session on the machine prunes old basetemps
    and would delete a run directory under a running Terraform."""
    folder = tempfile.mkdtemp(prefix="terrace-worker-")
    worker = Worker(terraform_cli_config, folder, extra_env={"TERRACE_INTERNAL_URL": live_portal.url})
    yield worker
    worker.stop()
    shutil.rmtree(folder, ignore_errors=True)


class Portal:
    """The ASGI portal served by uvicorn (live streams need a real ASGI server)."""

    def __init__(self, terraform_cli_config, tmp, extra_env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tmp) / f"portal-{self.port}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--host", "127.0.0.1", "--port",
             str(self.port), "--timeout-graceful-shutdown", "1"],
            cwd=ROOT, env=_process_env(terraform_cli_config, extra_env), stdout=self.log, stderr=subprocess.STDOUT,
        )

        def up():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                return False

        _wait_for(up, 30, "uvicorn", self.proc, self.log_path)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def output(self):
        return self.log_path.read_text()


@pytest.fixture(scope="session")
def live_portal(django_db_setup, terraform_cli_config, tmp_path_factory):
    portal = Portal(terraform_cli_config, tmp_path_factory.mktemp("portal"))
    yield portal
    portal.stop()


def wait_for_run(run, timeout=90, poll=0.2, statuses=None):
    """Poll the database until the run finishes (or reaches one of `statuses`); returns the refreshed run (also
    used by bench/)."""
    from environments.models import Run

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in (statuses or Run.FINISHED):
            return run
        time.sleep(poll)
    raise AssertionError(f"run {run.pk} still {run.status} after {timeout} s")


# --- Identity providers for the SSO tests (engineer "sso") ---------------------------------------------

IDP_DIR = ROOT / "tests" / "idp"


class OidcIdp:
    """A real OpenID Connect provider (npm `oidc-provider`, tests/idp/oidc_idp.mjs) on loopback.

    `claims(account, **claims)` changes what the IdP asserts for an account from its next sign-in on; any
    account name signs in with any password (the provider's development login and consent pages).
    """

    client_id, client_secret = "terrace", "terrace-test-secret"

    def __init__(self, redirect_uris, tmp):
        if not (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError("tests/idp has no node_modules: run `npm ci` there (./dev test does)")
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tmp) / "oidc-idp.log"
        self.log = open(self.log_path, "w")
        env = dict(os.environ, IDP_PORT=str(self.port), IDP_CLIENT_ID=self.client_id,
                   IDP_CLIENT_SECRET=self.client_secret, IDP_REDIRECT_URIS=",".join(redirect_uris))
        self.proc = subprocess.Popen(["node", "oidc_idp.mjs"], cwd=IDP_DIR, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        _wait_for(lambda: "READY" in self.log_path.read_text(), 30, "oidc-provider", self.proc, self.log_path)

    def claims(self, account, **claims):
        import json
        import urllib.request

        request = urllib.request.Request(f"{self.issuer}/_control/accounts/{account}", method="PUT",
                                         data=json.dumps(claims).encode(), headers={"Connection": "close"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def providers(self, **extra):
        """SOCIALACCOUNT_PROVIDERS for this IdP, built exactly as portal.settings builds it from the env."""
        from portal.settings import sso_providers

        return sso_providers({"OIDC_ISSUER": self.issuer, "OIDC_CLIENT_ID": self.client_id,
                              "OIDC_CLIENT_SECRET": self.client_secret, "OIDC_NAME": "Test IdP", **extra})

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="session")
def oidc_idp(live_server, tmp_path_factory):
    """One OpenID Connect provider for the session, started after the live server so it knows the callback."""
    idp = OidcIdp([f"{live_server.url}/accounts/oidc/oidc/login/callback/"], tmp_path_factory.mktemp("oidc"))
    yield idp
    idp.stop()


@pytest.fixture
def oidc_sso(oidc_idp, settings):
    """Terrace configured for `oidc_idp` (and only it) for one test."""
    settings.SOCIALACCOUNT_PROVIDERS = oidc_idp.providers()
    return oidc_idp


class SamlIdp:
    """A real SAML 2.0 IdP (pysaml2's Server, tests/idp/saml_idp.py) on loopback, signing with xmlsec1."""

    def __init__(self, terrace_url, tmp):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metadata_url = f"{self.url}/metadata"
        self.log_path = Path(tmp) / "saml-idp.log"
        self.log = open(self.log_path, "w")
        env = dict(os.environ, IDP_PORT=str(self.port), IDP_DIR=str(Path(tmp) / "idp"), PYTHONUNBUFFERED="1",
                   SP_ENTITY_ID=f"{terrace_url}/accounts/saml/terrace/metadata/",
                   SP_ACS_URL=f"{terrace_url}/accounts/saml/terrace/acs/")
        self.proc = subprocess.Popen([sys.executable, str(IDP_DIR / "saml_idp.py")], cwd=IDP_DIR, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        _wait_for(lambda: "READY" in self.log_path.read_text(), 30, "SAML IdP", self.proc, self.log_path)

    def claims(self, account, **attributes):
        """Set an account's SAML attributes (each a list of values) from its next sign-in on."""
        import json
        import urllib.request

        request = urllib.request.Request(f"{self.url}/_control/accounts/{account}", method="PUT",
                                         data=json.dumps(attributes).encode(), headers={"Connection": "close"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def providers(self, **extra):
        """SOCIALACCOUNT_PROVIDERS for this IdP (by its metadata URL), as portal.settings builds them."""
        from portal.settings import sso_providers

        return sso_providers({"SAML_IDP_METADATA_URL": self.metadata_url, "SAML_IDP_ENTITY_ID": self.metadata_url,
                              "SAML_NAME": "Test SAML IdP", **extra})

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="session")
def saml_idp(live_server, tmp_path_factory):
    idp = SamlIdp(live_server.url, tmp_path_factory.mktemp("saml"))
    yield idp
    idp.stop()


@pytest.fixture
def saml_sso(saml_idp, settings):
    """Terrace configured for `saml_idp` (and only it) for one test."""
    settings.SOCIALACCOUNT_PROVIDERS = saml_idp.providers()
    return saml_idp
