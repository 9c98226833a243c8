"""Turns Terraform's machine-readable UI (`-json`, one object per line) into run events.

Parsing is tolerant: a line that is not JSON, or an event type this version does not know, becomes a plain
log line rather than an error, so a newer Terraform or OpenTofu never breaks a run.
"""
import json

REDACTED = "(sensitive value)"


def _resource(hook):
    res = hook.get("resource") or {}
    return res.get("addr", "")


def redact_outputs(outputs):
    """Terraform 1.0 prints sensitive output values in clear: keep only the non-sensitive ones."""
    redacted = {}
    for name, out in (outputs or {}).items():
        out = dict(out)
        if out.get("sensitive"):
            out["value"] = REDACTED
        redacted[name] = out
    return redacted


def parse_line(line, phase):
    """Return (kind, message, data) for one line of Terraform output in `phase`."""
    stripped = line.rstrip("\n")
    try:
        obj = json.loads(stripped) if stripped.startswith("{") else None
    except ValueError:
        obj = None
    if not isinstance(obj, dict) or "type" not in obj:
        return "log", stripped, {"phase": phase}
    kind = obj["type"]
    message = obj.get("@message", "")
    hook = obj.get("hook") or {}
    if kind in ("apply_start", "apply_progress", "apply_complete", "apply_errored"):
        return "resource", message, {
            "phase": phase,
            "addr": _resource(hook),
            "action": hook.get("action"),
            "state": kind.split("_", 1)[1].replace("start", "started").replace("complete", "completed"),
            "elapsed": hook.get("elapsed_seconds"),
        }
    if kind in ("provision_start", "provision_progress", "provision_complete", "provision_errored"):
        return "provision", message, {
            "phase": phase,
            "addr": _resource(hook),
            "provisioner": hook.get("provisioner"),
            "output": hook.get("output"),
            "state": kind.split("_", 1)[1],
        }
    if kind == "planned_change":
        change = obj.get("change") or {}
        return "planned_change", message, {
            "phase": phase, "addr": _resource(change), "action": change.get("action"),
        }
    if kind == "change_summary":
        return "change_summary", message, dict(obj.get("changes") or {}, phase=phase)
    if kind == "diagnostic":
        diag = obj.get("diagnostic") or {}
        rng = diag.get("range") or {}
        return "diagnostic", message, {
            "phase": phase,
            "severity": diag.get("severity", obj.get("@level")),
            "summary": diag.get("summary", ""),
            "detail": diag.get("detail", ""),
            "address": diag.get("address", ""),
            "file": rng.get("filename", ""),
            "line": (rng.get("start") or {}).get("line"),
        }
    if kind == "outputs":
        return "outputs", message, {"phase": phase, "outputs": redact_outputs(obj.get("outputs"))}
    if kind in ("refresh_start", "refresh_complete"):
        return "refresh", message, {"phase": phase, "addr": _resource(hook), "state": kind.split("_", 1)[1]}
    return "log", message or stripped, {"phase": phase, "type": kind}
