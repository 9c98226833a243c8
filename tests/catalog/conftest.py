"""Fixtures of the catalogue tests: a local hashicorp/aws mirror for Terraform, and moto as the AWS API."""
import os
from pathlib import Path

import pytest

AWS_MIRROR = Path(os.environ.get("TERRACE_TEST_PROVIDER_MIRROR", "/opt/tf-plugins"))


@pytest.fixture(scope="session")
def aws_mirror_config(tmp_path_factory):
    """A CLI config that installs hashicorp/aws from a local filesystem mirror, with a shared plugin cache.

    There is no Terraform registry offline; without a mirror the tests that need the provider are skipped and
    say why (the static checks still run)."""
    if not (AWS_MIRROR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        pytest.skip(f"no hashicorp/aws provider mirror at {AWS_MIRROR} (set TERRACE_TEST_PROVIDER_MIRROR); "
                    "terraform validate/apply need the provider and there is no registry offline")
    folder = tmp_path_factory.mktemp("aws-mirror")
    (folder / "cache").mkdir()
    config = folder / "terraformrc"
    config.write_text(
        f'disable_checkpoint = true\nplugin_cache_dir = "{folder / "cache"}"\n'
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{AWS_MIRROR}"\n'
        f'    include = ["registry.terraform.io/hashicorp/aws"]\n  }}\n}}\n'
    )
    return config


def aws_terraform_env(home, config):
    """The environment for running Terraform with the AWS mirror: an allow-list, like the runner's."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "CHECKPOINT_DISABLE": "1",
            "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "TF_CLI_CONFIG_FILE": str(config)}


@pytest.fixture(scope="module")
def moto_endpoint():
    """A real HTTP AWS API on loopback (moto server mode), with AWS managed IAM policies loaded."""
    from moto.server import ThreadedMotoServer

    previous = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    if previous is None:
        os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES", None)
    else:
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = previous
