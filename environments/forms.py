"""The Create Environment form, generated from a template version's Terraform variables.

Each value is converted and checked as Terraform would (type conversion, required, `validation` blocks
evaluated in Python), so a bad value gets an error next to its field and nothing is queued. A validation
the Python evaluator cannot decide is left to Terraform's plan.
"""
import json

from django import forms

from environments import schema, validation

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


class EnvironmentForm(forms.Form):
    """Name plus one field per variable; `cleaned_data["values"]` holds the Terraform values to use."""

    name = forms.SlugField(
        max_length=63,
        help_text="Lowercase letters, digits and hyphens; unique in the project.",
    )

    def __init__(self, version, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.version = version
        self.variables = version.variables
        template = version.template
        if template.default_ttl_hours or template.max_ttl_hours:
            limit = f" (at most {template.max_ttl_hours})" if template.max_ttl_hours else ""
            self.fields["lifetime_hours"] = forms.IntegerField(
                label="Lifetime (hours)", min_value=1, max_value=template.max_ttl_hours, required=False,
                initial=template.default_ttl_hours or template.max_ttl_hours,
                help_text=f"The environment is destroyed automatically after this many hours{limit}; "
                          "you can extend it later.",
            )
        for var in self.variables:
            self.fields[FIELD_PREFIX + var["name"]] = variable_field(var)

    def variable_rows(self):
        """(bound field, variable) pairs, for the template."""
        return [(self[FIELD_PREFIX + var["name"]], var) for var in self.variables]

    def clean_name(self):
        return self.cleaned_data["name"].lower()

    def clean(self):
        cleaned = super().clean()
        values = {}
        for var in self.variables:
            field = FIELD_PREFIX + var["name"]
            raw = self.data.get(field, "")
            kind = _input_kind(var["type"])
            if raw == "" or raw is None:
                if not var.get("has_default"):
                    self.add_error(field, "This value is required.")
                continue  # Terraform uses the default
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
            values[var["name"]] = value
        cleaned["values"] = values
        return cleaned
