"""Where the CLI keeps the portal URL and the API token: a JSON file readable by its owner only.

TERRACE_URL and TERRACE_TOKEN in the environment override the file (for CI pipelines); TERRACE_CONFIG moves it.
"""
import json
import os
from pathlib import Path


def config_path():
    if os.environ.get("TERRACE_CONFIG"):
        return Path(os.environ["TERRACE_CONFIG"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "terrace" / "config.json"


def load():
    path = config_path()
    data = {}
    if path.exists():
        data = json.loads(path.read_text() or "{}")
    if os.environ.get("TERRACE_URL"):
        data["url"] = os.environ["TERRACE_URL"]
    if os.environ.get("TERRACE_TOKEN"):
        data["token"] = os.environ["TERRACE_TOKEN"]
    return data


def save(data):
    """Write the config with mode 0600 from the start (the token is a credential)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.chmod(path, 0o600)
    return path


def forget():
    path = config_path()
    if path.exists():
        path.unlink()
        return True
    return False
