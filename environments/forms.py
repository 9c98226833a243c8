"""The Create Environment form, generated from a template version's Terraform variables.

Each value is converted and checked as Terraform would (type conversion, required, `validation` blocks
evaluated in Python), so a bad value gets an error next to its field and nothing is queued. A validation
the Python evaluator cannot decide is left to Terraform's plan.
"""
import json

from django import forms

from environments import crypto, policy, schema, validation

PRIMITIVES = ("string", "number", "bool")
FIELD_PREFIX = "var_"


def _is_collection_of_primitive(type_tree, kinds=("list", "set")):
    return isinstance(type_tree, dict) and len(type_tree) == 1 and next(iter(type_tree)) in kinds and (
        next(iter(type_tree.values())) in PRIMITIVES
    )


def _input_kind(type_tree):
    """How a value of this type is typed in: text, number, bool, lines, pairs or json."""
    if type_tree in ("string", "number", "bool"):
        return {"string": "text", "number": "number", "bool": "bool"}[type_tree]
    if _is_collection_of_primitive(type_tree):
        return "lines"
    if _is_collection_of_primitive(type_tree, ("map",)):
        return "pairs"
    return "json"


def _initial(var, kind):
    if not var.get("has_default") or var.get("default") is None:
        return None
    default = var["default"]
    if kind == "lines":
        return "\n".join(str(v) for v in default)
    if kind == "pairs":
        return "\n".join(f"{k} = {v}" for k, v in default.items())
    if kind == "json":
        return json.dumps(default, indent=2)
    return default


HINTS = {
    "lines": "One value per line (or a JSON list).",
    "pairs": "One key = value per line (or a JSON object).",
    "json": "JSON.",
}


def variable_field(var):
    """A form field for one Terraform variable."""
    kind = _input_kind(var["type"])
    common = {
        "label": var["name"],
        "required": False,  # required-ness is checked in clean(), where defaults are known
        "help_text": " ".join(filter(None, [var.get("description", ""), HINTS.get(kind, "")])),
        "initial": None if var.get("sensitive") else _initial(var, kind),
    }
    if kind == "bool":
        return forms.TypedChoiceField(
            choices=[("true", "true"), ("false", "false")] if not var.get("has_default") else
            [("", f"default ({json.dumps(var.get('default'))})"), ("true", "true"), ("false", "false")],
            widget=forms.Select, **common,
        )
    if var.get("sensitive"):
        return forms.CharField(widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
                               strip=False, **common)
    if kind == "number":
        return forms.CharField(widget=forms.TextInput(attrs={"inputmode": "decimal"}), **common)
    if kind in ("lines", "pairs", "json"):
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}), strip=False,
                               **common)
    return forms.CharField(strip=False, **common)


def _parse(raw, kind):
    """Turn the typed text into a JSON-like value for schema.conform (raises ValueError)."""
    text = raw.strip()
    if kind == "lines":
        if text.startswith("["):
            return json.loads(text)
        return [line.strip() for line in text.splitlines() if line.strip()]
    if kind == "pairs":
        if text.startswith("{"):
            return json.loads(text)
        pairs = {}
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            if "=" not in line:
                raise ValueError(f"line {n}: expected key = value")
            key, value = line.split("=", 1)
            pairs[key.strip()] = value.strip()
        return pairs
    if kind == "json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    if kind == "bool":
        return text == "true"
    return raw if kind == "text" else text


def _display(value, kind):
    """A value as the text a field of `kind` shows."""
    if value is None:
        return ""
    if kind == "lines":
        return "\n".join(str(v) for v in value)
    if kind == "pairs":
        return "\n".join(f"{k} = {v}" for k, v in value.items())
    if kind == "json":
        return json.dumps(value, indent=2)
    if kind == "bool":
        return "true" if value else "false"
    return policy.schema_text(value)


class VariablesForm(forms.Form):
    """One field per variable of `version`, shaped by the template's variable policy.

    Injected variables and hidden locked ones get no field; shown locked ones are read-only; restricted ones are
    a dropdown. With `environment` (an update) fields start from the environment's values, and a blank
    sensitive field keeps the stored secret. `cleaned_data["values"]` holds what the user set; the service
    applies the policy again (`policy.resolve_values`), so this form is a convenience, not the guard.
    """

    def __init__(self, version, *args, environment=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.version = version
        self.environment = environment
        self.rules = version.template.variable_policy or {}
        self.variables = []
        self.current = dict(environment.variables) if environment else {}
        self.secret_names = (set(crypto.decrypt_json(environment.secret_variables))
                             if environment is not None and environment.secret_variables else set())
        for var in version.variables:
            name = var["name"]
            rule = policy.rule_for(self.rules, name)
            if name in policy.INJECTED or (rule["mode"] == policy.LOCKED and rule.get("hidden")):
                continue
            kind = _input_kind(var["type"])
            field = variable_field(var)
            if rule["mode"] == policy.LOCKED:
                field.disabled = True
                field.initial = _display(rule.get("value"), kind)
                field.help_text = (field.help_text + " Set by the platform team.").strip()
            elif rule["mode"] == policy.RESTRICTED:
                choices = [(policy.schema_text(c), policy.schema_text(c)) for c in rule.get("choices", [])]
                blank_label = (f"default ({policy.schema_text(var['default'])})"
                               if var.get("has_default") and not rule.get("required") else "— choose —")
                field = forms.ChoiceField(choices=[("", blank_label), *choices], required=False, label=name,
                                          help_text=var.get("description", ""))
                if var.get("has_default") and not rule.get("required") and var.get("default") in rule["choices"]:
                    field.initial = policy.schema_text(var["default"])
            if environment is not None and not var.get("sensitive") and rule["mode"] != policy.LOCKED \
                    and name in self.current:
                field.initial = _display(self.current[name], kind)
            if var.get("sensitive") and name in self.secret_names:
                field.help_text = (field.help_text + " A value is set; leave blank to keep it.").strip()
            var = dict(var, policy=rule, required=var.get("required") or bool(rule.get("required")))
            self.fields[FIELD_PREFIX + name] = field
            self.variables.append(var)

    def variable_rows(self):
        """(bound field, variable) pairs, for the template."""
        return [(self[FIELD_PREFIX + var["name"]], var) for var in self.variables]

    def clean(self):
        cleaned = super().clean()
        submitted = {}
        for var in self.variables:
            field = FIELD_PREFIX + var["name"]
            if var["policy"]["mode"] == policy.LOCKED:
                continue  # read-only: the service fills the locked value
            raw = self.data.get(field, "")
            if raw == "" or raw is None:
                continue  # not set: Terraform's default, or the current value on update
            kind = "text" if var["policy"]["mode"] == policy.RESTRICTED and var["type"] == "string" else \
                _input_kind(var["type"])
            try:
                value = schema.conform(var["type"], _parse(raw, kind))
            except (ValueError, TypeError) as exc:
                self.add_error(field, f"Expected {var.get('type_expr', 'a value')}: {exc}")
                continue
            failures = validation.check_validations(var, value)
            if failures:
                for message in failures:
                    self.add_error(field, message)
                continue
            submitted[var["name"]] = value
        if not self.errors:
            try:
                policy.resolve_values(self.version, self.rules, submitted, current=self.current,
                                      current_secret_names=self.secret_names)
            except policy.PolicyError as exc:
                self.add_policy_errors(exc.errors)
        cleaned["values"] = submitted
        return cleaned

    def add_policy_errors(self, errors):
        """Show a policy refusal next to its field (or above the form when the variable has none)."""
        for name, message in errors.items():
            field = FIELD_PREFIX + name
            self.add_error(field if field in self.fields else None, f"{name}: {message}" if
                           field not in self.fields else message)


class EnvironmentForm(VariablesForm):
    """The Create Environment form: a name plus the variables."""

    name = forms.SlugField(
        max_length=63,
        help_text="Lowercase letters, digits and hyphens; unique in the project.",
    )

    field_order = ["name"]

    def __init__(self, version, *args, **kwargs):
        super().__init__(version, *args, **kwargs)
        template = version.template
        if template.default_ttl_hours or template.max_ttl_hours:
            limit = f" (at most {template.max_ttl_hours})" if template.max_ttl_hours else ""
            self.fields["lifetime_hours"] = forms.IntegerField(
                label="Lifetime (hours)", min_value=1, max_value=template.max_ttl_hours, required=False,
                initial=template.default_ttl_hours or template.max_ttl_hours,
                help_text=f"The environment is destroyed automatically after this many hours{limit}; "
                          "you can extend it later.",
            )

    def clean_name(self):
        return self.cleaned_data["name"].lower()


class EnvironmentUpdateForm(VariablesForm):
    """Change an environment: the target version is chosen by the caller, values start from the current ones."""
