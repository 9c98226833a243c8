"""Parsing Terraform's -json UI into run events (lines captured from Terraform 1.0.3)."""
import json

from tasks.runner.events import REDACTED, parse_line
from tasks.runner.masking import MASK, Masker

APPLY_START = json.dumps({
    "@level": "info", "@message": "null_resource.step[0]: Creating...", "type": "apply_start",
    "hook": {"resource": {"addr": "null_resource.step[0]", "resource_type": "null_resource"}, "action": "create"},
})
APPLY_COMPLETE = json.dumps({
    "@level": "info", "@message": "null_resource.step[0]: Creation complete after 2s [id=123]",
    "type": "apply_complete",
    "hook": {"resource": {"addr": "null_resource.step[0]"}, "action": "create", "elapsed_seconds": 2},
})
SUMMARY = json.dumps({"@message": "Plan: 3 to add, 0 to change, 0 to destroy.", "type": "change_summary",
                      "changes": {"add": 3, "change": 0, "remove": 0, "operation": "plan"}})
DIAG = json.dumps({"@level": "error", "@message": "Error: Invalid value for variable", "type": "diagnostic",
                   "diagnostic": {"severity": "error", "summary": "Invalid value for variable",
                                  "detail": "replicas must be between 1 and 5.",
                                  "range": {"filename": "variables.tf", "start": {"line": 12}}}})
OUTPUTS = json.dumps({"@message": "Outputs: 2", "type": "outputs", "outputs": {
    "url": {"sensitive": False, "type": "string", "value": "http://x/"},
    "token": {"sensitive": True, "type": "string", "value": "s3cr3t-value"},
}})


def test_resource_start_and_completion_carry_address_and_duration():
    kind, message, data = parse_line(APPLY_START, "apply")
    assert (kind, data["addr"], data["action"], data["state"]) == ("resource", "null_resource.step[0]", "create",
                                                                   "started")
    kind, _, data = parse_line(APPLY_COMPLETE, "apply")
    assert (data["state"], data["elapsed"]) == ("completed", 2)


def test_change_summary_gives_counts():
    kind, _, data = parse_line(SUMMARY, "plan")
    assert kind == "change_summary" and (data["add"], data["change"], data["remove"]) == (3, 0, 0)


def test_diagnostic_keeps_summary_detail_and_location():
    kind, _, data = parse_line(DIAG, "plan")
    assert kind == "diagnostic"
    assert data["severity"] == "error" and data["file"] == "variables.tf" and data["line"] == 12
    assert "between 1 and 5" in data["detail"]


def test_sensitive_outputs_are_redacted_in_the_outputs_event():
    _, _, data = parse_line(OUTPUTS, "apply")
    assert data["outputs"]["token"]["value"] == REDACTED
    assert data["outputs"]["url"]["value"] == "http://x/"
    assert "s3cr3t-value" not in json.dumps(data)


def test_non_json_and_unknown_lines_become_log_lines():
    assert parse_line("Initializing provider plugins...\n", "init") == (
        "log", "Initializing provider plugins...", {"phase": "init"})
    kind, message, data = parse_line(json.dumps({"type": "future_event", "@message": "hello"}), "apply")
    assert (kind, message, data["type"]) == ("log", "hello", "future_event")


def test_masker_hides_secrets_in_text_and_nested_data():
    masker = Masker(["hunter2-token", 'quote"d-secret', "ab", None, True])
    assert masker.text("token=hunter2-token!") == f"token={MASK}!"
    assert masker.data({"a": ["x hunter2-token"], "b": 'json "quote\\"d-secret"'}) == {
        "a": [f"x {MASK}"], "b": f'json "{MASK}"'}
    # short values are not masked: they would shred every line
    assert masker.text("about") == "about"
