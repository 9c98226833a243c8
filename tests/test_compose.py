"""docker-compose.yml: accepted by docker-compose 1.29.2 (Debian's) and shaped as the deployment expects.

No Docker engine is needed: `docker-compose config` only parses, validates and interpolates the file.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
SERVICES = {"postgres", "redis", "migrate", "web", "worker", "beat"}
APP_SERVICES = ("migrate", "web", "worker", "beat")


@pytest.fixture(autouse=True)
def _terraform_settings():
    """Override conftest's autouse fixture: these tests touch neither Django settings nor Terraform."""


def docker_compose():
    path = shutil.which("docker-compose")
    if path is None:
        pytest.fail(
            "docker-compose is not installed: these tests need it to validate docker-compose.yml "
            "(install it with `apt-get install -y --no-install-recommends docker-compose`).",
            pytrace=False,
        )
    return path


def run_config(tmp_path, *args, secret_key="compose-test-not-a-secret"):
    """`docker-compose config` with a known environment: an empty env file, so a developer's .env is ignored."""
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key
    return subprocess.run(
        [docker_compose(), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_docker_compose_accepts_the_file(tmp_path):
    result = run_config(tmp_path, "-q")
    assert result.returncode == 0, f"docker-compose config -q failed:\n{result.stdout}\n{result.stderr}"


def test_secret_key_is_required(tmp_path):
    result = run_config(tmp_path, "-q", secret_key=None)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_resolved_config_keeps_the_secret_and_the_escaped_hostname(tmp_path):
    result = run_config(tmp_path, secret_key="resolved-secret")
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    for name in APP_SERVICES:
        assert resolved[name]["environment"]["SECRET_KEY"] == "resolved-secret"
        assert resolved[name]["environment"]["TERRACE_ENV"] == "production"
    # `$$HOSTNAME` must reach the container as `$HOSTNAME` for its shell to expand (compose prints it escaped).
    ping = " ".join(resolved["worker"]["healthcheck"]["test"])
    assert "celery@$$HOSTNAME" in ping or "celery@$HOSTNAME" in ping


def test_the_six_services_exist(compose):
    assert set(compose["services"]) == SERVICES


def test_app_services_share_one_image_build(compose):
    services = compose["services"]
    builds = {name: services[name].get("build") for name in APP_SERVICES}
    images = {name: services[name].get("image") for name in APP_SERVICES}
    assert builds["web"], "web must build from the Dockerfile"
    assert all(build == builds["web"] for build in builds.values()), builds
    assert all(image == images["web"] for image in images.values()), images
    environments = [services[name]["environment"] for name in APP_SERVICES]
    assert all(environment == environments[0] for environment in environments)
    assert environments[0]["DATABASE_URL"] == "postgres://terrace:terrace@postgres:5432/terrace"
    assert environments[0]["REDIS_URL"] == "redis://redis:6379/0"


def test_backends_have_health_checks(compose):
    services = compose["services"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "ping" in " ".join(services["redis"]["healthcheck"]["test"])
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])


def test_web_waits_for_healthy_backends_and_migrations(compose):
    depends_on = compose["services"]["web"]["depends_on"]
    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on["redis"]["condition"] == "service_healthy"
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"


def test_long_running_services_restart_and_the_worker_stops_gracefully(compose):
    services = compose["services"]
    for name in ("web", "worker", "beat"):
        assert services[name]["restart"] == "unless-stopped"
    assert services["migrate"].get("restart", "no") == "no"
    assert services["worker"]["stop_grace_period"] == "60s"
    assert "postgres-data" in compose["volumes"]
