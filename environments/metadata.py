"""The catalogue keys of `terrace.yaml` beyond name/description/category/icon/version.

`schema.load_metadata` reads the five display fields every template has. This module reads what the catalogue
pages and the runner need on top: the estimated monthly cost, the changelog, and the staged apply order
(`apply_phases`). Imported templates may omit them (`metadata_read`); the bundled catalogue must have them
(`metadata_read(..., strict=True)`, used by the catalogue's static tests).

    estimated_monthly_cost: {usd: 90, basis: "what the figure assumes"}
    changelog: [{version: 1.0.0, changes: "..."}, ...]          newest first
    apply_phases: [{name: network, targets: [module.vpc]}, ...]  an empty `targets` means a full apply
"""

import pathlib
import re

import yaml

from environments.schema import METADATA_FIELDS, SchemaError

STRICT_KEYS = (*METADATA_FIELDS, "estimated_monthly_cost", "changelog")
VERSION_TEXT = re.compile(r"\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?")
# A resource or module address as `-target` takes it: module.x, aws_y.z, module.a.module.b, with an index.
TARGET_ADDRESS = re.compile(
    r'(module\.[A-Za-z_][A-Za-z0-9_-]*(\[[^\]]+\])?\.)*'
    r'((module|data\.[A-Za-z0-9_]+|[A-Za-z][A-Za-z0-9_]*)\.[A-Za-z_][A-Za-z0-9_-]*)(\[[^\]]+\])?'
)


def metadata_read(path, *, strict=False) -> dict:
    """Return {"estimated_monthly_cost", "changelog", "apply_phases"} from the folder's terrace.yaml.

    Missing keys come back empty unless `strict`; a key of the wrong shape is a SchemaError either way.
    """
    meta_file = pathlib.Path(path) / "terrace.yaml"
    data = {}
    if meta_file.exists():
        try:
            data = yaml.safe_load(meta_file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise SchemaError(f"terrace.yaml: invalid YAML ({exc})") from exc
        if not isinstance(data, dict):
            raise SchemaError("terrace.yaml: expected a mapping")
    if strict:
        missing = [key for key in STRICT_KEYS if data.get(key) in (None, "", [], {})]
        if missing:
            raise SchemaError(f"terrace.yaml: missing {', '.join(missing)}")
        for key in METADATA_FIELDS:
            if not isinstance(data[key], (str, int, float)) or isinstance(data[key], bool):
                raise SchemaError(f"terrace.yaml: {key} must be a single value")
        if not VERSION_TEXT.fullmatch(str(data["version"])):
            raise SchemaError("terrace.yaml: version must look like 1.2.3")
    result = {
        "estimated_monthly_cost": _cost(data.get("estimated_monthly_cost")),
        "changelog": _changelog(data.get("changelog")),
        "apply_phases": _phases(data.get("apply_phases")),
    }
    if strict and not any(entry["version"] == str(data["version"]) for entry in result["changelog"]):
        raise SchemaError(f"terrace.yaml: the changelog has no entry for version {data['version']}")
    return result


def _cost(value):
    if value is None:
        return {}
    if not isinstance(value, dict) or set(value) != {"usd", "basis"}:
        raise SchemaError("terrace.yaml: estimated_monthly_cost needs exactly usd and basis")
    usd, basis = value["usd"], value["basis"]
    if isinstance(usd, bool) or not isinstance(usd, (int, float)) or usd < 0:
        raise SchemaError("terrace.yaml: estimated_monthly_cost.usd must be a number of dollars, 0 or more")
    if not isinstance(basis, str) or not basis.strip():
        raise SchemaError("terrace.yaml: estimated_monthly_cost.basis must say what the estimate assumes")
    return {"usd": usd, "basis": " ".join(basis.split())}


def _changelog(value):
    if value is None:
        return []
    if not isinstance(value, list):
        raise SchemaError("terrace.yaml: changelog must be a list of {version, changes}")
    entries = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {"version", "changes"}:
            raise SchemaError("terrace.yaml: each changelog entry needs exactly version and changes")
        changes = entry["changes"]
        if isinstance(changes, list) and all(isinstance(item, str) for item in changes):
            changes = "\n".join(f"- {item}" for item in changes)
        if not isinstance(changes, str) or not changes.strip():
            raise SchemaError(f"terrace.yaml: changelog entry {entry['version']} has no changes")
        entries.append({"version": str(entry["version"]), "changes": changes.strip()})
    return entries


def _phases(value):
    if value is None:
        return []
    if not isinstance(value, list):
        raise SchemaError("terrace.yaml: apply_phases must be a list of {name, targets}")
    phases = []
    for phase in value:
        if not isinstance(phase, dict) or set(phase) != {"name", "targets"}:
            raise SchemaError("terrace.yaml: each apply phase needs exactly name and targets")
        targets = phase["targets"]
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise SchemaError(f"terrace.yaml: apply phase {phase['name']}: targets must be a list of addresses")
        for target in targets:
            if not TARGET_ADDRESS.fullmatch(target):
                raise SchemaError(f"terrace.yaml: apply phase {phase['name']}: {target!r} is not a -target address")
        phases.append({"name": str(phase["name"]), "targets": targets})
    return phases


def changelog_for(metadata, version):
    """The changes recorded for `version`, or ""."""
    for entry in metadata.get("changelog", []):
        if entry["version"] == str(version):
            return entry["changes"]
    return ""
