"""Variable policy: what the platform team lets developers set for each variable of a template.

A template's `variable_policy` maps a variable name to a rule:

    {"mode": "editable"}                                   the developer sets it (the default for every variable)
    {"mode": "editable", "required": true}                 ... and must set it, even where Terraform has a default
    {"mode": "locked", "value": V, "hidden": false}        always V; shown read-only (or not at all when hidden)
    {"mode": "restricted", "choices": [A, B], "required": false}   one of the listed values (a dropdown)

Sensitive variables stay write-only whatever the mode; they cannot be locked (a locked value would sit in clear
in the policy: put such values in the template's credentials instead).

Variables named in INJECTED are filled by the portal (environment id and name, project, owner) whenever a
template declares them, and never shown in the form.

`resolve_values` is the one enforcement point, called by the services, so the form, the API and scripts get the
same answer; a locked value submitted differently is an error, not silently replaced.
"""
from environments import schema, validation

EDITABLE, LOCKED, RESTRICTED = "editable", "locked", "restricted"
MODES = (EDITABLE, LOCKED, RESTRICTED)
INJECTED = ("terrace_environment_id", "terrace_environment_name", "terrace_project", "terrace_owner")


class PolicyError(Exception):
    """Values (or a policy) that break the rules; `errors` maps a variable name ("" = general) to a message."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" if k else v for k, v in errors.items()))


def rule_for(policy, name):
    """The rule of one variable (editable when the policy does not mention it)."""
    rule = (policy or {}).get(name) or {}
    return {"mode": rule.get("mode", EDITABLE), **{k: v for k, v in rule.items() if k != "mode"}}


def injected_values(environment):
    """The values the portal fills in for INJECTED variables."""
    owner = environment.owner
    return {
        "terrace_environment_id": str(environment.pk),
        "terrace_environment_name": environment.name,
        "terrace_project": environment.project.slug,
        "terrace_owner": (owner.email or owner.get_username()) if owner else "",
    }


def _check_value(var, value, validate=True):
    """`value` converted to the variable's type and (with `validate`) passed through its validation blocks.
    Returns (value, error message or None)."""
    try:
        value = schema.conform(var["type"], value)
    except (ValueError, TypeError) as exc:
        return None, f"expected {var.get('type_expr', 'a value')}: {exc}"
    if value is None and not var.get("nullable", True):
        return None, "this variable may not be null"
    if not validate:
        return value, None
    try:
        failures = validation.check_validations(var, value)
    except (ValueError, TypeError) as exc:
        return None, str(exc)
    if failures:
        return None, " ".join(failures)
    return value, None


def policy_validate(policy, variables):
    """A cleaned copy of `policy` checked against a version's `variables`; raises PolicyError.

    Locked values and choices are converted to the variable's type and must pass its validation blocks.
    """
    by_name = {v["name"]: v for v in variables}
    errors, cleaned = {}, {}
    for name, rule in (policy or {}).items():
        if not isinstance(rule, dict):
            errors[name] = "a rule must be an object"
            continue
        mode = rule.get("mode", EDITABLE)
        if name in INJECTED:
            errors[name] = "filled in by Terrace; it cannot have a policy"
            continue
        var = by_name.get(name)
        if var is None:
            errors[name] = "no such variable in this version"
            continue
        if mode not in MODES:
            errors[name] = f"unknown mode {mode!r} (use {', '.join(MODES)})"
            continue
        out = {"mode": mode}
        if mode == EDITABLE:
            out["required"] = bool(rule.get("required"))
        elif mode == LOCKED:
            if var.get("sensitive"):
                errors[name] = "a sensitive variable cannot be locked (its value would be stored in clear)"
                continue
            if "value" not in rule:
                errors[name] = "a locked variable needs a value"
                continue
            value, problem = _check_value(var, rule["value"])
            if problem:
                errors[name] = f"locked value: {problem}"
                continue
            out.update(value=value, hidden=bool(rule.get("hidden")))
        else:
            if var["type"] not in ("string", "number"):
                errors[name] = "only string and number variables can be restricted to a list"
                continue
            choices = rule.get("choices") or []
            if not isinstance(choices, list) or not choices:
                errors[name] = "list at least one allowed value"
                continue
            converted = []
            for choice in choices:
                value, problem = _check_value(var, choice)
                if problem:
                    errors[name] = f"allowed value {choice!r}: {problem}"
                    break
                converted.append(value)
            if name in errors:
                continue
            out.update(choices=converted, required=bool(rule.get("required")))
        cleaned[name] = out
    if errors:
        raise PolicyError(errors)
    return cleaned


def resolve_values(version, policy, submitted, *, current=None, current_secret_names=()):
    """The values to store for an environment of `version`, from what the user `submitted`; raises PolicyError.

    `submitted` maps variable names to values (JSON-like or already converted); a name left out means "not
    set" (Terraform's default on create; the current value on update, `current`). Injected variables are not
    returned: the caller adds `injected_values` once the environment exists. Variables no longer in `version`
    are dropped from `current`.
    """
    current = current or {}
    by_name = {v["name"]: v for v in version.variables}
    errors, values = {}, {}
    for name in submitted:
        if name in INJECTED:
            errors[name] = "filled in by Terrace; do not set it"
        elif name not in by_name:
            errors[name] = "no such variable in this template version"
    for name, var in by_name.items():
        if name in INJECTED:
            continue
        rule = rule_for(policy, name)
        given = name in submitted
        if rule["mode"] == LOCKED:
            locked, problem = _check_value(var, rule.get("value"))
            if problem:  # a locked value that this version's type refuses: the policy needs fixing
                errors[name] = f"the platform team's locked value does not fit this version ({problem})"
                continue
            if given:
                value, problem = _check_value(var, submitted[name])
                if problem or value != locked:
                    errors[name] = "locked by the platform team" + (
                        "" if rule.get("hidden") else f" to {schema_text(locked)}") + "; it cannot be changed"
                    continue
            values[name] = locked
            continue
        if given:
            # Types are checked here; `validation` blocks are the form's job (VariablesForm) and, in the end,
            # Terraform's: a run that gets past both fails its plan with the rule's message.
            value, problem = _check_value(var, submitted[name], validate=False)
            if problem:
                errors[name] = problem
                continue
            if rule["mode"] == RESTRICTED and value not in rule.get("choices", []):
                errors[name] = "choose one of " + ", ".join(schema_text(c) for c in rule.get("choices", []))
                continue
            values[name] = value
            continue
        if name in current:  # update: keep what the environment has
            if rule["mode"] == RESTRICTED and current[name] not in rule.get("choices", []):
                errors[name] = "the current value is no longer allowed; choose one of " + ", ".join(
                    schema_text(c) for c in rule.get("choices", []))
                continue
            values[name] = current[name]
            continue
        if name in current_secret_names:
            continue  # a sensitive value kept encrypted by the caller
        required = rule.get("required") or not var.get("has_default")
        if rule["mode"] == RESTRICTED and var.get("has_default") and var.get("default") not in rule.get("choices", []):
            required = True  # Terraform's default is not an allowed value
        if required:
            errors[name] = "This value is required."
    if errors:
        raise PolicyError(errors)
    return values


def schema_text(value):
    """A value as shown in messages and read-only fields."""
    import json

    return value if isinstance(value, str) else json.dumps(value)
