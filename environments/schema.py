"""Read a Terraform template folder into the schema that drives the variable form.

`parse_module` reads every `*.tf` file with python-hcl2 and returns the module's variables (name, type tree,
default, validations, ...) and outputs. `parse_type` turns a type constraint such as
`object({cpu = number, memory = number})` into a small tree, and `conform` converts form input to that type the
way Terraform converts input variables, so the web process can reject bad input before a run is queued.
`load_metadata` reads the catalog's `terrace.yaml`.

Type tree: "string" | "number" | "bool" | "any" | {"list": T} | {"set": T} | {"map": T} | {"tuple": [T, ...]} |
{"object": {"attr": T, ...}}.
"""

import json
import math
import pathlib
import re
from decimal import Decimal

import hcl2
import yaml
from hcl2 import SerializationOptions
from lark.exceptions import LarkError, UnexpectedInput

# Heredocs are kept verbatim (preserve_heredocs=True) and decoded here: with preserve_heredocs=False,
# python-hcl2 8.1 leaves `\"` escapes inside the text of indented heredocs.
HCL_OPTIONS = SerializationOptions(
    strip_string_quotes=True,
    explicit_blocks=False,
    with_comments=False,
    preserve_heredocs=True,
    preserve_scientific_notation=False,
)

PRIMITIVE_TYPES = ("string", "number", "bool", "any")
VARIABLE_ARGUMENTS = {"type", "default", "description", "sensitive", "nullable", "validation"}
METADATA_FIELDS = ("name", "description", "category", "icon", "version")

# Terraform accepts these strings as numbers ("+5", "5.", ".5", "1e3"); not "0x10", " 5" or "1_000".
NUMBER_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
MAX_EXPONENT = 1000  # decimal exponent beyond which form input is refused as a number
HEREDOC = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_-]*)\n(.*?)\n?[ \t]*\2", re.DOTALL)


class SchemaError(Exception):
    """A template folder that cannot be read; the message names the file and, where known, the line."""


class TypeMismatch(ValueError):
    """A value that does not convert to a variable's type; the message names the path inside the value."""


# --- Module parsing -----------------------------------------------------------------------------------------


def parse_module(path: pathlib.Path) -> dict:
    """Return {"variables": [...], "outputs": [...]} for the Terraform files in the folder `path`."""
    path = pathlib.Path(path)
    tf_files = sorted(path.glob("*.tf"))
    if not tf_files:
        raise SchemaError(f"{path.name}: no *.tf files found")
    variables, outputs = [], []
    seen = {}
    for tf_file in tf_files:
        text = tf_file.read_text(encoding="utf-8")
        data = _load_hcl(tf_file.name, text)
        for block in data.get("variable", []):
            variable = _parse_variable(tf_file.name, text, block)
            _check_unique(seen, "variable", variable["name"], tf_file.name, text)
            variables.append(variable)
        for block in data.get("output", []):
            output = _parse_output(tf_file.name, text, block)
            _check_unique(seen, "output", output["name"], tf_file.name, text)
            outputs.append(output)
    return {"variables": variables, "outputs": outputs}


def _load_hcl(filename, text):
    """Parse one file, turning python-hcl2/lark errors into a SchemaError with the line number."""
    try:
        return hcl2.loads(text, serialization_options=HCL_OPTIONS)
    except UnexpectedInput as exc:
        raise SchemaError(f"{filename} line {exc.line}: invalid HCL syntax ({_first_line(exc)})") from exc
    except (LarkError, ValueError, TypeError, KeyError) as exc:
        line = getattr(exc, "line", None)
        where = f"{filename} line {line}" if line else filename
        raise SchemaError(f"{where}: invalid HCL ({_first_line(exc)})") from exc


def _first_line(exc):
    """First line of an exception's text: lark messages go on with a long list of expected tokens."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _block_line(text, kind, name):
    """Line number of `kind "name" {` in the file text, or None."""
    match = re.search(rf'^[ \t]*{kind}[ \t]+"?{re.escape(name)}"?[ \t]*\{{', text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _where(filename, text, kind, name):
    """`variables.tf line 12` for a block, or just the file name when the block is not found."""
    line = _block_line(text, kind, name)
    return f"{filename} line {line}" if line else filename


def _check_unique(seen, kind, name, filename, text):
    """Reject a second variable or output with the same name, as Terraform does."""
    if (kind, name) in seen:
        raise SchemaError(
            f"{_where(filename, text, kind, name)}: duplicate {kind} \"{name}\" (first declared in {seen[kind, name]})"
        )
    seen[kind, name] = filename


def _block_body(filename, text, kind, block):
    """Return (name, body) of a labelled block as python-hcl2 gives it: {"name": {...}}."""
    if not isinstance(block, dict) or len(block) != 1:
        raise SchemaError(f"{filename}: a {kind} block needs exactly one label")
    name, body = next(iter(block.items()))
    if not isinstance(body, dict):
        raise SchemaError(f"{filename}: a {kind} block needs exactly one label")
    return name, body


def _parse_variable(filename, text, block):
    """Turn one `variable` block into the schema dict described in the module docstring."""
    name, body = _block_body(filename, text, "variable", block)
    where = _where(filename, text, "variable", name)
    for key, value in body.items():
        if key not in VARIABLE_ARGUMENTS:
            hint = " (a variable block takes one label)" if isinstance(value, dict) else ""
            raise SchemaError(f'{where}: variable "{name}": unsupported argument "{key}"{hint}')

    type_expr = _unwrap_interpolation(body["type"]) if "type" in body else "any"
    if not isinstance(type_expr, str):
        raise SchemaError(f'{where}: variable "{name}": invalid type {type_expr!r}')
    try:
        type_tree = parse_type(type_expr)
    except SchemaError as exc:
        raise SchemaError(f'{where}: variable "{name}": {exc}') from exc

    has_default = "default" in body
    default = None
    if has_default:
        default = _decode_literal(body["default"], f'{where}: variable "{name}"')
        try:
            default = conform(type_tree, default)
        except TypeMismatch as exc:
            raise SchemaError(f'{where}: variable "{name}": invalid default value: {exc}') from exc

    validations = []
    for rule in body.get("validation", []):
        if not isinstance(rule, dict) or "condition" not in rule or "error_message" not in rule:
            raise SchemaError(f'{where}: variable "{name}": a validation block needs condition and error_message')
        validations.append(
            {
                "condition": _expression_text(rule["condition"]),
                "error_message": _decode_text(rule["error_message"]).strip(),
            }
        )

    return {
        "name": name,
        "type_expr": type_expr,
        "type": type_tree,
        "description": _decode_text(body.get("description", "")).strip(),
        "has_default": has_default,
        "default": default,
        "required": not has_default,
        "sensitive": _flag(body, "sensitive", False, where, name),
        "nullable": _flag(body, "nullable", True, where, name),
        "validations": validations,
    }


def _parse_output(filename, text, block):
    """Turn one `output` block into {"name", "description", "sensitive"}."""
    name, body = _block_body(filename, text, "output", block)
    where = _where(filename, text, "output", name)
    return {
        "name": name,
        "description": _decode_text(body.get("description", "")).strip(),
        "sensitive": _flag(body, "sensitive", False, where, name),
    }


def _flag(body, key, default, where, name):
    """A boolean argument such as `sensitive = true`."""
    value = body.get(key, default)
    if value in ("true", "false"):
        value = value == "true"
    if not isinstance(value, bool):
        raise SchemaError(f'{where}: "{name}": {key} must be true or false')
    return value


def _unwrap_interpolation(value):
    """`${expr}` → `expr` when the whole string is one interpolation; anything else unchanged."""
    if not (isinstance(value, str) and value.startswith("${") and value.endswith("}")):
        return value
    depth, quote, i = 0, False, 0
    while i < len(value):
        char = value[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == '"':
                quote = False
        elif char == '"':
            quote = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0 and i != len(value) - 1:
                return value  # the first interpolation closes before the end: a template like "${a}-${b}"
        i += 1
    return value[2:-1].strip()


def _expression_text(value):
    """HCL source text of an expression as python-hcl2 returns it (conditions come back as `${...}`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return format_number(value)
    if isinstance(value, str):
        unwrapped = _unwrap_interpolation(value)
        if unwrapped is not value:
            return unwrapped
        if HEREDOC.fullmatch(value):
            return value
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_expression_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_expression_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def _decode_text(value):
    """A string argument (description, error_message): decode heredocs and `$${` escapes."""
    if not isinstance(value, str):
        return "" if value is None else _expression_text(value)
    return _decode_string(value)


def _decode_string(value):
    """The value Terraform sees for a literal string as python-hcl2 returns it."""
    heredoc = HEREDOC.fullmatch(value)
    if heredoc:
        indented, _, body = heredoc.groups()
        lines = body.split("\n")
        if indented:
            # `<<-` strips the smallest indentation of the non-blank lines.
            margins = [len(line) - len(line.lstrip(" \t")) for line in lines if line.strip()]
            margin = min(margins, default=0)
            lines = [line[margin:] for line in lines]
        value = "\n".join(lines) + "\n"
    return value.replace("$${", "${").replace("%%{", "%{")


def _decode_literal(value, where):
    """Decode a default value; Terraform only allows literal values there."""
    if isinstance(value, str):
        if re.search(r"(?<!\$)\$\{|(?<!%)%\{", value):
            raise SchemaError(f"{where}: the default value must be a literal value, not an expression")
        return _decode_string(value)
    if isinstance(value, list):
        return [_decode_literal(item, where) for item in value]
    if isinstance(value, dict):
        return {_decode_literal(key, where): _decode_literal(item, where) for key, item in value.items()}
    return value


# --- Type constraints ---------------------------------------------------------------------------------------

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
TYPE_TOKEN = re.compile(r'\s*(?:([A-Za-z_][A-Za-z0-9_-]*)|("(?:[^"\\]|\\.)*")|([(){}\[\]=:,]))')


def parse_type(expr: str):
    """Parse a Terraform type constraint (`list(object({a = string}))`, `${map(number)}`) into a type tree."""
    text = _unwrap_interpolation(expr.strip()) if isinstance(expr, str) else expr
    if not isinstance(text, str) or not text:
        raise SchemaError(f"invalid type constraint {expr!r}")
    tokens = _type_tokens(text)
    tree, position = _parse_type_at(tokens, 0, text)
    if position != len(tokens):
        raise SchemaError(f"invalid type constraint {text!r}: unexpected {tokens[position]!r}")
    return tree


def _type_tokens(text):
    """Split a type constraint into names, quoted attribute names and punctuation."""
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = TYPE_TOKEN.match(text, position)
        if not match:
            raise SchemaError(f"invalid type constraint {text!r}: unexpected {text[position:].strip()[:10]!r}")
        name, quoted, punct = match.groups()
        tokens.append(("attr", json.loads(quoted)) if quoted else name or punct)
        position = match.end()
    return tokens


def _expect(tokens, position, wanted, text):
    """Consume one punctuation token or raise SchemaError."""
    if position >= len(tokens) or tokens[position] != wanted:
        found = tokens[position] if position < len(tokens) else "end of text"
        raise SchemaError(f"invalid type constraint {text!r}: expected {wanted!r}, found {found!r}")
    return position + 1


def _parse_type_at(tokens, position, text):
    """Recursive-descent parser over the tokens; returns (tree, next position)."""
    if position >= len(tokens) or not isinstance(tokens[position], str) or not IDENTIFIER.fullmatch(tokens[position]):
        found = tokens[position] if position < len(tokens) else "end of text"
        raise SchemaError(f"invalid type constraint {text!r}: expected a type, found {found!r}")
    name = tokens[position]
    position += 1
    has_args = position < len(tokens) and tokens[position] == "("

    if name in PRIMITIVE_TYPES:
        if has_args:
            raise SchemaError(f"invalid type constraint {text!r}: {name} takes no arguments")
        return name, position
    if name in ("list", "set", "map"):
        if not has_args:
            return {name: "any"}, position  # legacy bare `list` / `map`
        element, position = _parse_type_at(tokens, position + 1, text)
        return {name: element}, _expect(tokens, position, ")", text)
    if name == "tuple":
        position = _expect(tokens, _expect(tokens, position, "(", text), "[", text)
        elements = []
        while tokens[position:position + 1] != ["]"]:
            element, position = _parse_type_at(tokens, position, text)
            elements.append(element)
            if tokens[position:position + 1] == [","]:
                position += 1
        position = _expect(tokens, _expect(tokens, position, "]", text), ")", text)
        return {"tuple": elements}, position
    if name == "object":
        position = _expect(tokens, _expect(tokens, position, "(", text), "{", text)
        attributes = {}
        while tokens[position:position + 1] != ["}"]:
            if position >= len(tokens):
                raise SchemaError(f"invalid type constraint {text!r}: unclosed object")
            key = tokens[position]
            if isinstance(key, tuple):
                key = key[1]
            elif not IDENTIFIER.fullmatch(key):
                raise SchemaError(f"invalid type constraint {text!r}: expected an attribute name, found {key!r}")
            if tokens[position + 1:position + 2] not in (["="], [":"]):
                raise SchemaError(f"invalid type constraint {text!r}: expected '=' after attribute {key!r}")
            attributes[key], position = _parse_type_at(tokens, position + 2, text)
            if tokens[position:position + 1] == [","]:
                position += 1
        position = _expect(tokens, _expect(tokens, position, "}", text), ")", text)
        return {"object": attributes}, position
    if name == "optional":
        raise SchemaError(
            f"invalid type constraint {text!r}: optional() attributes need an experiment in Terraform 1.0"
        )
    raise SchemaError(f"invalid type constraint {text!r}: unknown type {name!r}")


# --- Converting input values --------------------------------------------------------------------------------


def format_number(value) -> str:
    """A number as Terraform writes it in a string: no exponent, no trailing `.0` (2.0 → "2", 1e20 → "1000...")."""
    if isinstance(value, bool):
        raise TypeError("a bool is not a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("Terraform numbers in form input must be finite")
    text = format(Decimal(repr(value)) if isinstance(value, float) else Decimal(value), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _number_from_text(text):
    """Parse a string the way Terraform converts it to a number; None when it is not a decimal number."""
    if not NUMBER_TEXT.fullmatch(text):
        return None
    number = Decimal(text)
    if number and abs(number.adjusted()) > MAX_EXPONENT:
        return None  # Terraform would accept 1e999999999, but building that integer would stall the web process
    if number == number.to_integral_value():
        return int(number)
    return float(text)


def _at(path, message):
    """Prefix an error message with the path inside the value."""
    return f"{path}: {message}" if path else message


def conform(type_tree, value, path=""):
    """Convert a JSON-like value to `type_tree` as Terraform converts input variables; raise TypeMismatch."""
    if value is None:
        return None
    if type_tree == "any":
        return _conform_any(value, path)
    if type_tree == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            try:
                return format_number(value)
            except ValueError as exc:
                raise TypeMismatch(_at(path, str(exc))) from exc
        if isinstance(value, str):
            return value
        raise TypeMismatch(_at(path, "a string is required"))
    if type_tree == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, float) and not math.isfinite(value):
                raise TypeMismatch(_at(path, "a finite number is required"))
            return int(value) if isinstance(value, float) and value.is_integer() else value
        if isinstance(value, str):
            number = _number_from_text(value)
            if number is not None:
                return number
        raise TypeMismatch(_at(path, "a number is required"))
    if type_tree == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value in ("true", "false", "1", "0"):
            return value in ("true", "1")
        raise TypeMismatch(_at(path, "a bool is required"))
    if not isinstance(type_tree, dict) or len(type_tree) != 1:
        raise ValueError(f"not a type tree: {type_tree!r}")

    kind, inner = next(iter(type_tree.items()))
    if kind in ("list", "set", "tuple"):
        if not isinstance(value, (list, tuple)):
            raise TypeMismatch(_at(path, f"a {kind} is required"))
        if kind == "tuple":
            if len(value) != len(inner):
                raise TypeMismatch(_at(path, f"a tuple of {len(inner)} elements is required, got {len(value)}"))
            pairs = enumerate(zip(inner, value, strict=True))
            return [conform(element, item, f"{path}[{i}]") for i, (element, item) in pairs]
        items = [conform(inner, item, f"{path}[{i}]") for i, item in enumerate(value)]
        if inner == "any":
            items = _unify_primitives(items, path)
        return _as_set(items) if kind == "set" else items
    if kind in ("map", "object"):
        if not isinstance(value, dict):
            raise TypeMismatch(_at(path, f"{'a map' if kind == 'map' else 'an object'} is required"))
        if kind == "map":
            result = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TypeMismatch(_at(path, "map keys must be strings"))
                result[key] = conform(inner, item, f'{path}["{key}"]' if path else f'["{key}"]')
            if inner == "any":
                result = dict(zip(result, _unify_primitives(list(result.values()), path), strict=True))
            return result
        result = {}
        for attribute, attribute_type in inner.items():
            if attribute not in value:
                raise TypeMismatch(_at(path, f'attribute "{attribute}" is required'))
            result[attribute] = conform(attribute_type, value[attribute], f"{path}.{attribute}" if path else attribute)
        return result  # attributes not in the type are dropped, as Terraform does
    raise ValueError(f"not a type tree: {type_tree!r}")


def _conform_any(value, path):
    """`any` accepts every JSON value; check that it is one."""
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeMismatch(_at(path, "a finite number is required"))
        return int(value) if value.is_integer() else value
    if isinstance(value, (list, tuple)):
        return [_conform_any(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeMismatch(_at(path, "object keys must be strings"))
        return {key: _conform_any(item, f"{path}.{key}" if path else key) for key, item in value.items()}
    raise TypeMismatch(_at(path, f"{type(value).__name__} is not a JSON value"))


def _unify_primitives(items, path):
    """Elements of list(any)/map(any) must share a type: Terraform turns mixed primitives into strings."""
    kinds = {_primitive_kind(item) for item in items if item is not None}
    if len(kinds) <= 1 or None in kinds:
        return items
    if "string" not in kinds:
        raise TypeMismatch(_at(path, "all elements must have the same type"))
    return [item if item is None else conform("string", item) for item in items]


def _primitive_kind(value):
    """"string", "number" or "bool" for a primitive value, None for a collection."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _as_set(items):
    """Remove duplicates; sets of strings or numbers come back sorted, as Terraform orders them."""
    unique, seen = [], set()
    for item in items:
        key = json.dumps(item, sort_keys=True)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    kinds = {_primitive_kind(item) for item in unique}
    if kinds in ({"string"}, {"number"}):
        unique.sort()
    return unique


# --- Catalog metadata ---------------------------------------------------------------------------------------


def load_run_settings(path) -> dict:
    """The `run:` block of `terrace.yaml` (suggested approval, lifetime and timeout), or {}."""
    meta_file = pathlib.Path(path) / "terrace.yaml"
    if not meta_file.exists():
        return {}
    try:
        data = yaml.safe_load(meta_file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return {}  # load_metadata reports the error with its line
    run = data.get("run") if isinstance(data, dict) else None
    if run is None:
        return {}
    if not isinstance(run, dict):
        raise SchemaError("terrace.yaml: run must be a mapping (requires_approval, default_ttl_hours, ...)")
    return run


def load_metadata(path) -> dict:
    """Read `terrace.yaml` in the template folder; missing fields get defaults derived from the folder name."""
    path = pathlib.Path(path)
    metadata = {
        "name": path.name.replace("-", " ").replace("_", " ").strip().capitalize() or "Template",
        "description": "",
        "category": "Uncategorized",
        "icon": "box",
        "version": "0.0.0",
    }
    meta_file = path / "terrace.yaml"
    if not meta_file.exists():
        return metadata
    try:
        data = yaml.safe_load(meta_file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"terrace.yaml line {mark.line + 1}" if mark else "terrace.yaml"
        raise SchemaError(f"{where}: invalid YAML ({getattr(exc, 'problem', None) or exc})") from exc
    if data is None:
        return metadata
    if not isinstance(data, dict):
        raise SchemaError("terrace.yaml: expected a mapping of name, description, category, icon, version")
    for field in METADATA_FIELDS:
        value = data.get(field)
        if value is None:
            continue
        if isinstance(value, (dict, list)):
            raise SchemaError(f"terrace.yaml: {field} must be a single value")
        metadata[field] = str(value).strip()
    return metadata
