r"""Evaluate a variable's `validation` conditions in Python, the way Terraform 1.0.3 would.

Terraform never runs in the web process, yet the variable form should reject bad input at once. This module
parses the HCL expression subset that validation conditions use and evaluates it without eval/exec:

    literals, templates ("${...}"), var.<name> with .attr / [index] / [*], ! - * / % + < <= > >= == != && ||,
    a ? b : c, for expressions, and the functions in FUNCTIONS (plus can and try).

It follows Terraform's rules where they matter for a verdict, each checked against the real binary
(tests/environments/test_validation_eval.py): values carry types (`tolist([]) == []` is false), `==` never
converts, `&&`/`||` evaluate both sides (no short-circuit in 1.0.3), numbers are binary floats with a 512-bit
mantissa like Terraform's big.Float (`0.1 + 0.2 == 0.3` holds), strings are NFC-normalised and measured in
grapheme clusters, regular expressions follow RE2 (ASCII-only digit and word classes, `$` only at the very
end, Go's FindAll).

Anything it cannot evaluate faithfully raises `Unsupported` and the condition is left to Terraform's plan;
so do inputs that would make Python slow where Terraform is not (nested regex repetition on long text,
numbers with huge exponents), since this runs inside web requests.
"""

import functools
import logging
import math
import re
import unicodedata
import warnings
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

from environments.schema import NUMBER_TEXT, conform

logger = logging.getLogger(__name__)


class EvalError(Exception):
    """An error Terraform itself would report while evaluating the expression."""


class Unsupported(Exception):
    """Something this evaluator cannot evaluate faithfully; Terraform has to decide."""


def check_validations(variable: dict, value, *, is_default: bool = False) -> list[str] | None:
    """Return the error messages of the failed validations ([] when all pass), or None when undecided.

    `variable` is one entry of `schema.parse_module()["variables"]`; `value` the JSON-like input, which is
    first converted with `schema.conform` (a TypeMismatch propagates: type errors come before validations).
    A condition that errors in Terraform counts as failed. When no condition failed but at least one could
    not be evaluated here, the result is None: the caller leaves the decision to Terraform's plan.

    Terraform 1.0.3 evaluates the conditions of a root-module variable against the value *as read from the
    tfvars JSON file* (an array is a tuple, an object an object: `var.list == []` is true for an empty list),
    but against the *converted* default (`var.list == []` is false). The value is therefore typed as the
    JSON the runner writes, unless `is_default` says it is the variable's default.
    """
    rules = variable.get("validations") or []
    if not rules:
        return []
    conformed = conform(variable["type"], value)
    try:
        typed = _from_input(variable["type"], conformed) if is_default else _from_json(conformed)
    except (Unsupported, EvalError):
        return None  # e.g. a number too large to handle here; Terraform will judge the value
    failures, undecided = [], False
    for rule in rules:
        verdict = _condition_holds(rule["condition"], variable["name"], typed)
        if verdict is None:
            undecided = True
        elif not verdict:
            failures.append(rule["error_message"])
    if failures:
        return failures
    return None if undecided else []


def _condition_holds(condition, name, value):
    """True/False for one condition, None when it cannot be evaluated here."""
    try:
        tree = _parse(condition)
        if ("ref", name) not in _references(tree):
            raise Unsupported("Terraform requires the condition to refer to the variable")
        result = _evaluate(tree, {"var": {name: value}})
        if result.is_null:
            raise EvalError("the condition expression must not be null")
        return _convert(result, "bool").v
    except EvalError:
        return False
    except Unsupported:
        return None
    except RecursionError:
        return None
    except Exception:  # a bug here must not break the form: Terraform's plan still checks the value
        logger.exception("could not evaluate validation condition %r", condition)
        return None


# --- Numbers: binary floats with a 512-bit mantissa, rounded to nearest even, like Terraform's ---------------

PRECISION = 512


def _round(x):
    """Round a Fraction to the nearest value with a 512-bit mantissa."""
    x = Fraction(x)
    if x == 0:
        return Fraction(0)
    sign, a = (-1 if x < 0 else 1), abs(x)
    exponent = a.numerator.bit_length() - a.denominator.bit_length()
    if a < Fraction(2) ** exponent:
        exponent -= 1
    shift = PRECISION - 1 - exponent  # scales `a` into [2**511, 2**512)
    mantissa = round(a * Fraction(2) ** shift)  # round() on a Fraction rounds half to even
    return sign * mantissa / Fraction(2) ** shift


MAX_EXPONENT = 1000


def _number_from_text(text):
    """A decimal literal or JSON number, as Terraform parses it."""
    exponent = Decimal(text).adjusted() if Decimal(text) else 0
    if abs(exponent) > MAX_EXPONENT:
        raise Unsupported("number too large or too small to evaluate here")  # 1e999999999 would stall us
    return _round(Fraction(text))


def _number_text(x):
    """The shortest decimal that reads back as the same 512-bit number, without exponent (Go's Text('f', -1))."""
    if x.denominator == 1 and abs(x.numerator) < 2**PRECISION:
        return str(x.numerator)
    digits_needed = 1
    while True:
        with localcontext() as context:
            context.prec, context.rounding = digits_needed, ROUND_HALF_EVEN
            decimal = Decimal(x.numerator) / Decimal(x.denominator)
        if _round(Fraction(decimal)) == x or digits_needed > 200:
            break
        digits_needed += 1
    text = format(decimal, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


# --- Typed values -------------------------------------------------------------------------------------------
# Types: "string" | "number" | "bool" | "dynamic" (the type of a literal null) | ("list", T) | ("set", T) |
# ("map", T) | ("tuple", (T, ...)) | ("object", (("name", T), ...)) with attributes sorted by name.
# Values: str | Fraction | bool for primitives, a tuple of Val for list/set/tuple, a dict of Val for
# map/object (keys sorted), None for null.

PRIMITIVES = ("string", "number", "bool")


class Val:
    """A Terraform value: its type and its Python payload."""

    __slots__ = ("type", "v")

    def __init__(self, type_, v):
        self.type = type_
        self.v = v

    @property
    def is_null(self):
        """True for a null of any type."""
        return self.v is None

    def __repr__(self):
        return f"Val({self.type!r}, {self.v!r})"


NULL = Val("dynamic", None)
TRUE = Val("bool", True)
FALSE = Val("bool", False)


def _string(text):
    """A string value, NFC-normalised as Terraform stores every string."""
    return Val("string", unicodedata.normalize("NFC", text))


def _number(x):
    """A number value from a Fraction that already has 512-bit precision."""
    return Val("number", x)


def _bool(flag):
    """A bool value."""
    return TRUE if flag else FALSE


def _tuple(items):
    """A tuple value from a list of Val."""
    return Val(("tuple", tuple(item.type for item in items)), tuple(items))


def _object(attributes):
    """An object value from a dict of Val."""
    attributes = dict(sorted(attributes.items()))
    return Val(("object", tuple((key, item.type) for key, item in attributes.items())), attributes)


def _kind(type_):
    """"list", "set", "map", "tuple", "object" for collection types; the type itself for the others."""
    return type_[0] if isinstance(type_, tuple) else type_


def _type_name(type_):
    """A short type name for error messages."""
    return _kind(type_)


def _schema_type(tree):
    """Internal type for a schema type tree; `any` becomes "dynamic"."""
    if tree == "any":
        return "dynamic"
    if isinstance(tree, str):
        return tree
    kind, inner = next(iter(tree.items()))
    if kind == "tuple":
        return ("tuple", tuple(_schema_type(item) for item in inner))
    if kind == "object":
        return ("object", tuple(sorted((key, _schema_type(item)) for key, item in inner.items())))
    return (kind, _schema_type(inner))


def _from_input(tree, value):
    """Build the typed value Terraform holds after converting `value` to the schema type `tree`."""
    if value is None:
        return Val(_schema_type(tree), None)
    if tree == "any":
        return _from_json(value)
    if tree == "string":
        return _string(value)
    if tree == "number":
        return _number(_number_from_text(repr(value)))
    if tree == "bool":
        return _bool(value)
    kind, inner = next(iter(tree.items()))
    if kind == "tuple":
        return _tuple([_from_input(item_tree, item) for item_tree, item in zip(inner, value, strict=True)])
    if kind == "object":
        return _object({key: _from_input(item_tree, value[key]) for key, item_tree in inner.items()})
    if kind == "map":
        items = {key: _from_input(inner, item) for key, item in value.items()}
        return _make_map(items, _schema_type(inner))
    items = [_from_input(inner, item) for item in value]
    return _make_list(items, _schema_type(inner), as_set=(kind == "set"))


def _from_json(value):
    """Type a JSON value as Terraform reads it from a file: arrays become tuples, objects become objects."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return _bool(value)
    if isinstance(value, (int, float)):
        return _number(_number_from_text(repr(value)))
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return _tuple([_from_json(item) for item in value])
    return _object({key: _from_json(item) for key, item in value.items()})


def _make_list(items, element_type, as_set=False):
    """A list (or set) value; a "dynamic" element type is unified from the elements as Terraform does."""
    if element_type == "dynamic" and items:
        element_type = _unify([item.type for item in items])
    items = [_convert(item, element_type) for item in items]
    if as_set:
        return Val(("set", element_type), _set_elements(items, element_type))
    return Val(("list", element_type), tuple(items))


def _make_map(items, element_type):
    """A map value; a "dynamic" element type is unified from the elements."""
    if element_type == "dynamic" and items:
        element_type = _unify([item.type for item in items.values()])
    converted = {key: _convert(item, element_type) for key, item in sorted(items.items())}
    return Val(("map", element_type), converted)


def _set_elements(items, element_type):
    """Deduplicate and order set elements as Terraform does (only known for primitive elements)."""
    if element_type not in PRIMITIVES and element_type != "dynamic":
        raise Unsupported("order of a set of non-primitive values")
    unique = []
    for item in items:
        if not any(_equals(item, seen) for seen in unique):
            unique.append(item)
    known = [item for item in unique if not item.is_null]
    nulls = [item for item in unique if item.is_null]
    return tuple(sorted(known, key=lambda item: item.v) + nulls)


def _unify(types):
    """The common type Terraform converts mixed element types to; raise when there is none."""
    concrete = [type_ for type_ in types if type_ != "dynamic"]
    if not concrete:
        return "dynamic"
    first = concrete[0]
    if all(type_ == first for type_ in concrete):
        return first
    if all(type_ in PRIMITIVES for type_ in concrete):
        if "string" in concrete:
            return "string"
        raise EvalError("all arguments must have the same type")
    raise Unsupported("unifying collection types")


def _convert(value, target):
    """Convert `value` to the type `target` as Terraform's automatic conversions do."""
    if target == "dynamic" or value.type == target:
        return value
    if value.is_null:
        return Val(target, None)
    source = value.type
    if target == "string":
        if source == "number":
            return _string(_number_text(value.v))
        if source == "bool":
            return _string("true" if value.v else "false")
    elif target == "number":
        if source == "string":
            if NUMBER_TEXT.fullmatch(value.v):
                return _number(_number_from_text(value.v))
            if value.v.lower().lstrip("+-") in ("inf", "infinity"):
                raise Unsupported("infinite numbers")
            raise EvalError(f'cannot convert "{value.v}" to number')
    elif target == "bool":
        if source == "string" and value.v in ("true", "false", "1", "0"):
            return _bool(value.v in ("true", "1"))
    elif _kind(target) in ("list", "set") and _kind(source) in ("list", "set", "tuple"):
        return _make_list(list(value.v), target[1], as_set=(_kind(target) == "set"))
    elif _kind(target) == "map" and _kind(source) in ("map", "object"):
        return _make_map(dict(value.v), target[1])
    elif _kind(target) in ("tuple", "object") and _kind(source) in ("list", "tuple", "map", "object"):
        raise Unsupported("conversion to a structural type")
    raise EvalError(f"{_type_name(target)} required, got {_type_name(source)}")


def _equals(a, b):
    """Terraform's `==`: no conversion, types must match, nulls are equal to each other."""
    if a.is_null or b.is_null:
        return a.is_null and b.is_null
    if a.type != b.type:
        return False
    kind = _kind(a.type)
    if kind in ("list", "set", "tuple"):
        return len(a.v) == len(b.v) and all(_equals(x, y) for x, y in zip(a.v, b.v, strict=True))
    if kind in ("map", "object"):
        return a.v.keys() == b.v.keys() and all(_equals(a.v[key], b.v[key]) for key in a.v)
    return a.v == b.v


# --- Strings ------------------------------------------------------------------------------------------------

# Characters that may join their neighbours into one grapheme cluster (marks, joiners, Hangul jamo, emoji
# modifiers, Thai/Lao SARA AM). Strings containing them are measured by Terraform, not here.
COMPLEX_CATEGORIES = {"Mn", "Mc", "Me", "Cf"}


def _graphemes(text):
    """Split a string into grapheme clusters, or raise Unsupported when that needs the full Unicode rules."""
    clusters, i = [], 0
    while i < len(text):
        char = text[i]
        code = ord(char)
        if (
            unicodedata.category(char) in COMPLEX_CATEGORIES
            or 0x1100 <= code <= 0x11FF
            or 0xA960 <= code <= 0xA97F
            or 0xD7B0 <= code <= 0xD7FF
            or code >= 0x1F000
            or char in "\u0e33\u0eb3"
        ):
            raise Unsupported("grapheme clusters beyond simple characters")
        if text.startswith("\r\n", i):
            clusters.append("\r\n")
            i += 2
        else:
            clusters.append(char)
            i += 1
    return clusters


def _change_case(text, upper):
    """Go's per-character (simple) case mapping; characters whose mapping grows are left to Terraform."""
    result = []
    for char in text:
        mapped = char.upper() if upper else char.lower()
        if len(mapped) != 1:
            if char == "ß" and upper:
                mapped = char  # Go keeps ß: it has no single-character upper case
            else:
                raise Unsupported("special case mapping")
        result.append(mapped)
    return "".join(result)


def _trim_space(text):
    """Go's strings.TrimSpace (Python's isspace also counts \\x1c-\\x1f, Go does not)."""
    def is_space(char):
        return char.isspace() and char not in "\x1c\x1d\x1e\x1f"

    start, end = 0, len(text)
    while start < end and is_space(text[start]):
        start += 1
    while end > start and is_space(text[end - 1]):
        end -= 1
    return text[start:end]


# --- Regular expressions: RE2 patterns translated to Python's re where the meaning is the same ------------

POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
# Perl classes are ASCII-only in RE2; Python's are Unicode-aware, so spell them out.
PERL_CLASSES = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}
SIMPLE_ESCAPES = set("ntrfva")
WORD_BOUNDARY_ESCAPES = set("bB")


def _translate_escape(pattern, i, in_class):
    """Translate the escape at pattern[i] ('\\'); return (python text, next index)."""
    if i + 1 >= len(pattern):
        raise EvalError("invalid regexp pattern: trailing backslash")
    char = pattern[i + 1]
    if char in PERL_CLASSES:
        return (PERL_CLASSES[char] if in_class else f"[{PERL_CLASSES[char]}]"), i + 2
    if char in "DWS" and not in_class:
        return f"[^{PERL_CLASSES[char.lower()]}]", i + 2
    if char in SIMPLE_ESCAPES:
        return "\\" + char, i + 2
    if char == "x":
        braced = re.match(r"\{([0-9A-Fa-f]{1,6})\}", pattern[i + 2:])
        if braced:
            return f"\\U{int(braced.group(1), 16):08x}", i + 2 + braced.end()
        if re.match(r"[0-9A-Fa-f]{2}", pattern[i + 2:]):
            return pattern[i:i + 4], i + 4
        raise Unsupported("unusual hex escape")
    if not in_class:
        if char in WORD_BOUNDARY_ESCAPES or char == "A":
            return "\\" + char, i + 2
        if char == "z":
            return "\\Z", i + 2
    if not char.isalnum() and ord(char) < 128:
        return "\\" + char, i + 2  # escaped punctuation means the character itself in both
    raise Unsupported(f"regexp escape \\{char}")


def _translate_class(pattern, i):
    """Translate a bracket expression starting at pattern[i] ('['); return (python text, next index)."""
    out = ["["]
    i += 1
    if pattern.startswith("^", i):
        out.append("^")
        i += 1
    first = True
    while i < len(pattern):
        char = pattern[i]
        if char == "]" and not first:
            out.append("]")
            return "".join(out), i + 1
        first = False
        if pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            name = pattern[i + 2:end] if end > 0 else ""
            if name not in POSIX_CLASSES:
                raise Unsupported(f"POSIX class [:{name}:]")
            out.append(POSIX_CLASSES[name])
            i = end + 2
        elif char == "\\":
            text, i = _translate_escape(pattern, i, in_class=True)
            out.append(text)
        elif char in "[]&~|":
            out.append("\\" + char)  # literal in RE2; escaped so Python never reads a set operation
            i += 1
        else:
            out.append(char)
            i += 1
    raise EvalError("invalid regexp pattern: missing closing ]")


def _translate_group(pattern, i):
    """Translate the opening of a group at pattern[i] ('('); return (python text, next index)."""
    if not pattern.startswith("(?", i):
        return "(", i + 1
    if pattern.startswith("(?:", i):
        return "(?:", i + 3
    named = re.match(r"\(\?P<([A-Za-z0-9_]+)>", pattern[i:])
    if named:
        return named.group(0), i + named.end()
    scoped = re.match(r"\(\?([is]+):", pattern[i:])
    if scoped:
        return scoped.group(0), i + scoped.end()
    raise Unsupported("regexp group syntax")  # lookarounds, flags mid-pattern, (?U), ...


@functools.lru_cache(maxsize=256)
def _compile_re2(pattern):
    """Compile an RE2 pattern into (Python regex, uses \\b or \\B); Unsupported when meanings differ."""
    out, i = [], 0
    multiline = False
    leading = re.match(r"\(\?([imsU]+)\)", pattern)
    if leading:
        if "U" in leading.group(1):
            raise Unsupported("ungreedy flag")
        multiline = "m" in leading.group(1)
        out.append(leading.group(0))
        i = leading.end()
    uses_boundary = False
    # Python's re backtracks where RE2 cannot: a repeated group that itself repeats or alternates, like
    # (a+)+ or (a|aa)*, can take exponential time. Such patterns are marked `nested` (see _regex_setup).
    groups = [{"repeats": False, "alternates": False}]
    closed_group, nested = None, False
    while i < len(pattern):
        char = pattern[i]
        just_closed, closed_group = closed_group, None
        if char == "\\":
            uses_boundary |= pattern[i + 1:i + 2] in WORD_BOUNDARY_ESCAPES
            text, i = _translate_escape(pattern, i, in_class=False)
        elif char == "[":
            text, i = _translate_class(pattern, i)
        elif char == "(":
            text, i = _translate_group(pattern, i)
            groups.append({"repeats": False, "alternates": False})
        elif char == ")":
            if len(groups) == 1:
                raise Unsupported("unbalanced parenthesis")
            closed_group = groups.pop()
            groups[-1]["repeats"] |= closed_group["repeats"]
            text, i = ")", i + 1
        elif char == "|":
            groups[-1]["alternates"] = True
            text, i = "|", i + 1
        elif char == "$":
            text, i = ("$" if multiline else "\\Z"), i + 1
        elif char == "{":
            repeat = re.match(r"\{(\d+)(?:,(\d*))?\}", pattern[i:])
            if repeat:
                if any(int(n) > 1000 for n in repeat.groups() if n):
                    raise Unsupported("repeat count above 1000")
                text, i = repeat.group(0), i + repeat.end()
            else:
                text, i = "\\{", i + 1  # RE2 reads a malformed repeat like {,2} as literal text
        else:
            text, i = char, i + 1
        if text in ("*", "+", "?") or text.startswith("{") and text.endswith("}"):
            if pattern[i:i + 1] == "+":
                raise Unsupported("possessive quantifier")
            repeat = re.fullmatch(r"\{(\d+)(,(\d*))?\}", text)
            repeats_many = text in ("*", "+") or bool(repeat and repeat.group(2) and (repeat.group(3) or "2") != "1")
            if repeats_many:
                if just_closed and (just_closed["repeats"] or just_closed["alternates"]):
                    nested = True
                groups[-1]["repeats"] = True
        out.append(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compiled = re.compile("".join(out))
        except re.error as exc:
            raise Unsupported(f"pattern Python cannot compile: {exc}") from exc
    if compiled.groupindex and compiled.groups != len(compiled.groupindex):
        raise EvalError("invalid regexp pattern: cannot mix both named and unnamed capture groups")
    return compiled, uses_boundary, nested


# Longest text a pattern with nested repetition is matched against here: 2**20 backtracking steps stay fast.
NESTED_REPEAT_MAX_TEXT = 20


def _regex_setup(pattern, text):
    """Compile the pattern and check that matching `text` in Python means the same as in RE2, quickly."""
    compiled, uses_boundary, nested = _compile_re2(pattern)
    if uses_boundary and not text.isascii():
        raise Unsupported("word boundaries on non-ASCII text")
    if nested and len(text) > NESTED_REPEAT_MAX_TEXT:
        raise Unsupported("nested repetition could backtrack for too long in Python")
    return compiled


def _match_value(compiled, match):
    """The value regex() returns for one match: the whole match, a tuple of groups or an object."""
    if compiled.groups == 0:
        return _string(match.group(0))
    if compiled.groupindex:
        return _object(
            {name: Val("string", match.group(name)) if match.group(name) is None else _string(match.group(name))
             for name in compiled.groupindex}
        )
    return _tuple([Val("string", None) if group is None else _string(group) for group in match.groups()])


def _match_type(compiled):
    """The type of one regex() result for this pattern."""
    if compiled.groups == 0:
        return "string"
    if compiled.groupindex:
        return ("object", tuple(sorted((name, "string") for name in compiled.groupindex)))
    return ("tuple", ("string",) * compiled.groups)


def _find_all(compiled, text):
    """All matches the way Go's FindAll does: an empty match right after a previous match is skipped."""
    matches, position, previous_end = [], 0, -1
    while position <= len(text):
        match = compiled.search(text, position)
        if not match:
            break
        accept = True
        if match.end() == position:
            accept = match.start() != previous_end
            position += 1
        else:
            position = match.end()
        previous_end = match.end()
        if accept:
            matches.append(match)
    return matches


# --- Tokenizer and parser -----------------------------------------------------------------------------------

IDENT = re.compile(r"[^\W\d][\w-]*")
NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
OPERATORS = ("...", "==", "!=", "<=", ">=", "&&", "||", "=>", "<<") + tuple("+-*/%<>!?:.,()[]{}=\"")
ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
BINARY_LEVELS = (("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">="), ("+", "-"), ("*", "/", "%"))


class _Parser:
    """Recursive-descent parser for HCL expressions; produces nested tuples (see _evaluate)."""

    def __init__(self, text):
        self.text = text
        self.pos = 0

    # Tokens -----------------------------------------------------------------------------------------------
    def _skip_space(self):
        """Skip whitespace and comments (`#`, `//`, `/* */`)."""
        while self.pos < len(self.text):
            if self.text[self.pos].isspace():
                self.pos += 1
            elif self.text.startswith(("#", "//"), self.pos):
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            elif self.text.startswith("/*", self.pos):
                end = self.text.find("*/", self.pos + 2)
                if end < 0:
                    raise Unsupported("unterminated comment")
                self.pos = end + 2
            else:
                break

    def peek(self):
        """The next token as (kind, text) without consuming it: kind is num, ident, op or eof."""
        self._skip_space()
        if self.pos >= len(self.text):
            return ("eof", "")
        number = NUMBER.match(self.text, self.pos)
        if number:
            return ("num", number.group(0))
        ident = IDENT.match(self.text, self.pos)
        if ident:
            return ("ident", ident.group(0))
        for operator in OPERATORS:
            if self.text.startswith(operator, self.pos):
                return ("op", operator)
        raise Unsupported(f"unexpected character {self.text[self.pos]!r}")

    def take(self):
        """Consume and return the next token."""
        token = self.peek()
        self.pos += len(token[1])
        return token

    def accept(self, operator):
        """Consume the operator if it comes next; return whether it did."""
        if self.peek() == ("op", operator):
            self.take()
            return True
        return False

    def expect(self, operator):
        """Consume the operator or fail."""
        if not self.accept(operator):
            raise Unsupported(f"expected {operator!r} at offset {self.pos}")

    def peek_keyword(self, word):
        """True when the next token is the identifier `word`."""
        return self.peek() == ("ident", word)

    # Expressions ------------------------------------------------------------------------------------------
    def parse(self):
        """Parse the whole text as one expression."""
        tree = self.expression()
        if self.peek()[0] != "eof":
            raise Unsupported("extra characters after the expression")
        return tree

    def expression(self):
        """expression = binary ["?" expression ":" expression]"""
        condition = self.binary(0)
        if self.accept("?"):
            when_true = self.expression()
            self.expect(":")
            when_false = self.expression()
            return ("cond", condition, when_true, when_false)
        return condition

    def binary(self, level):
        """Left-associative binary operators by precedence level (BINARY_LEVELS, lowest first)."""
        if level == len(BINARY_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while True:
            kind, text = self.peek()
            if kind == "op" and text in BINARY_LEVELS[level]:
                self.take()
                left = ("binary", text, left, self.binary(level + 1))
            else:
                return left

    def unary(self):
        """unary = ("!" | "-") unary | postfix"""
        if self.accept("!"):
            return ("not", self.unary())
        if self.accept("-"):
            return ("neg", self.unary())
        return self.postfix(self.primary())

    def postfix(self, node):
        """Attribute access, indexing and splats after a primary expression."""
        while True:
            if self.peek() == ("op", "."):
                self.take()
                kind, text = self.take()
                if kind == "ident":
                    node = ("attr", node, text)
                elif kind == "num" and text.isdigit():
                    node = ("index", node, ("lit", _number(Fraction(int(text)))))  # legacy list.0 form
                elif (kind, text) == ("op", "*"):
                    node = ("splat", node, self.splat_steps(attributes_only=True))
                else:
                    raise Unsupported("expected an attribute name after '.'")
            elif self.peek() == ("op", "["):
                self.take()
                if self.accept("*"):
                    self.expect("]")
                    node = ("splat", node, self.splat_steps(attributes_only=False))
                else:
                    key = self.expression()
                    self.expect("]")
                    node = ("index", node, key)
            else:
                return node

    def splat_steps(self, attributes_only):
        """The attribute/index steps a splat applies to each element."""
        steps = []
        while True:
            if self.peek() == ("op", "."):
                self.take()
                kind, text = self.take()
                if kind != "ident":
                    raise Unsupported("unsupported splat traversal")
                steps.append(("attr", text))
            elif self.peek() == ("op", "[") and not attributes_only:
                self.take()
                key = self.expression()
                self.expect("]")
                steps.append(("index", key))
            else:
                return steps

    def primary(self):
        """Literals, templates, references, calls, parentheses, tuples, objects, for expressions."""
        kind, text = self.take()
        if kind == "num":
            return ("lit", _number(_number_from_text(text)))
        if kind == "ident":
            if text in ("true", "false"):
                return ("lit", _bool(text == "true"))
            if text == "null":
                return ("lit", NULL)
            if self.peek() == ("op", "("):
                return self.call(text)
            if text == "var":
                self.expect(".")
                name_kind, name = self.take()
                if name_kind != "ident":
                    raise Unsupported("expected a variable name after var.")
                return ("ref", name)
            return ("name", text)
        if (kind, text) == ("op", '"'):
            return self.template()
        if (kind, text) == ("op", "("):
            inner = self.expression()
            self.expect(")")
            return inner
        if (kind, text) == ("op", "["):
            return self.tuple_or_for()
        if (kind, text) == ("op", "{"):
            return self.object_or_for()
        if (kind, text) == ("op", "<<"):
            raise Unsupported("heredoc templates")
        raise Unsupported(f"unexpected {text or 'end of expression'!r}")

    def call(self, name):
        """name(arg, arg, ...) with an optional `...` expanding the last argument."""
        self.expect("(")
        args, expand = [], False
        while not self.accept(")"):
            args.append(self.expression())
            if self.accept("..."):
                expand = True
                self.expect(")")
                break
            if not self.accept(","):
                self.expect(")")
                break
        return ("call", name, tuple(args), expand)

    def template(self):
        """A quoted template after its opening quote: literal text and ${...} interpolations."""
        parts, literal = [], []
        while True:
            if self.pos >= len(self.text):
                raise Unsupported("unterminated string")
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                break
            if char == "\\":
                literal.append(self.escape())
            elif self.text.startswith("$${", self.pos) or self.text.startswith("%%{", self.pos):
                literal.append(self.text[self.pos + 1:self.pos + 3])
                self.pos += 3
            elif self.text.startswith("${", self.pos):
                if literal:
                    parts.append("".join(literal))
                    literal = []
                self.pos += 2
                parts.append(self.expression())
                self.expect("}")
            elif self.text.startswith("%{", self.pos):
                raise Unsupported("template directives")
            elif char == "\n":
                raise Unsupported("newline in a quoted string")
            else:
                literal.append(char)
                self.pos += 1
        if literal or not parts:
            parts.append("".join(literal))
        return ("template", tuple(parts))

    def escape(self):
        """One backslash escape inside a quoted string."""
        char = self.text[self.pos + 1:self.pos + 2]
        if char in ESCAPES:
            self.pos += 2
            return ESCAPES[char]
        for letter, width in (("u", 4), ("U", 8)):
            if char == letter:
                digits = self.text[self.pos + 2:self.pos + 2 + width]
                if re.fullmatch(f"[0-9A-Fa-f]{{{width}}}", digits):
                    self.pos += 2 + width
                    return chr(int(digits, 16))
        raise Unsupported(f"invalid escape \\{char}")

    def tuple_or_for(self):
        """[a, b, ...] or [for ... : expr if cond] after the opening bracket."""
        if self.peek_keyword("for") and self.is_for_header():
            return self.for_expression(is_object=False)
        items = []
        while not self.accept("]"):
            items.append(self.expression())
            if not self.accept(","):
                self.expect("]")
                break
        return ("tuple", tuple(items))

    def object_or_for(self):
        """{k = v, ...} or {for ... : k => v} after the opening brace."""
        if self.peek_keyword("for") and self.is_for_header():
            return self.for_expression(is_object=True)
        items = []
        while not self.accept("}"):
            kind, text = self.peek()
            start = self.pos
            if kind == "ident":
                self.take()
                if self.peek() in (("op", "="), ("op", ":")):
                    key = ("lit", _string(text))
                else:
                    self.pos = start
                    key = self.expression()
            else:
                key = self.expression()
            if not (self.accept("=") or self.accept(":")):
                raise Unsupported("expected '=' in an object")
            items.append((key, self.expression()))
            self.accept(",")
        return ("object", tuple(items))

    def is_for_header(self):
        """True when `for` starts a for expression (followed by an identifier), not a key named for."""
        saved = self.pos
        self.take()
        following = self.peek()
        self.pos = saved
        return following[0] == "ident"

    def for_expression(self, is_object):
        """for k, v in collection : result [if condition] (object form: key => value [...])."""
        self.take()  # for
        names = [self.take_ident()]
        if self.accept(","):
            names.append(self.take_ident())
        if self.take() != ("ident", "in"):
            raise Unsupported("expected 'in' in a for expression")
        collection = self.expression()
        self.expect(":")
        key_expr, grouping = None, False
        value_expr = self.expression()
        if is_object:
            self.expect("=>")
            key_expr, value_expr = value_expr, self.expression()
            grouping = self.accept("...")
        condition = None
        if self.peek_keyword("if"):
            self.take()
            condition = self.expression()
        self.expect("}" if is_object else "]")
        key_name, value_name = (names[0], names[1]) if len(names) == 2 else (None, names[0])
        return ("for", is_object, key_name, value_name, collection, key_expr, value_expr, condition, grouping)

    def take_ident(self):
        """Consume an identifier or fail."""
        kind, text = self.take()
        if kind != "ident":
            raise Unsupported("expected a name")
        return text


@functools.lru_cache(maxsize=512)
def _parse(condition):
    """Parse a condition once; the tree is immutable so it can be cached."""
    return _Parser(condition).parse()


def _references(tree):
    """All ("ref", name) nodes in a tree."""
    found = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, tuple):
            if node[:1] == ("ref",):
                found.add(node)
            stack.extend(node)
    return found


# --- Evaluation ---------------------------------------------------------------------------------------------


def _evaluate_all(nodes, scope):
    """Evaluate every node like Terraform does; an error anywhere wins over an unsupported construct."""
    values, unsupported = [], None
    for node in nodes:
        try:
            values.append(_evaluate(node, scope))
        except Unsupported as exc:
            unsupported = unsupported or exc
    if unsupported:
        raise unsupported
    return values


def _evaluate(node, scope):
    """Evaluate a parsed expression to a Val; raise EvalError or Unsupported."""
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "ref":
        if node[1] not in scope["var"]:
            raise Unsupported("a condition may only refer to its own variable")
        return scope["var"][node[1]]
    if kind == "name":
        if node[1] not in scope:
            raise Unsupported(f"reference to {node[1]}")
        return scope[node[1]]
    if kind == "template":
        return _evaluate_template(node[1], scope)
    if kind == "tuple":
        return _tuple(_evaluate_all(node[1], scope))
    if kind == "object":
        return _evaluate_object(node[1], scope)
    if kind == "attr":
        return _get_attr(_evaluate(node[1], scope), node[2])
    if kind == "index":
        collection, key = _evaluate_all([node[1], node[2]], scope)
        return _get_index(collection, key)
    if kind == "splat":
        return _evaluate_splat(_evaluate(node[1], scope), node[2], scope)
    if kind == "not":
        return _bool(not _operand(_evaluate(node[1], scope), "bool").v)
    if kind == "neg":
        return _number(-_operand(_evaluate(node[1], scope), "number").v)
    if kind == "binary":
        left, right = _evaluate_all([node[2], node[3]], scope)
        return _binary(node[1], left, right)
    if kind == "cond":
        return _evaluate_conditional(node, scope)
    if kind == "call":
        return _call(node[1], node[2], node[3], scope)
    if kind == "for":
        return _evaluate_for(node, scope)
    raise Unsupported(f"expression {kind}")


def _operand(value, type_):
    """An operator's operand converted to `type_`; null is an error."""
    if value.is_null:
        raise EvalError("argument must not be null")
    return _convert(value, type_)


def _binary(operator, left, right):
    """Apply a binary operator to two evaluated operands."""
    if operator == "==":
        return _bool(_equals(left, right))
    if operator == "!=":
        return _bool(not _equals(left, right))
    if operator in ("&&", "||"):
        a, b = _operand(left, "bool").v, _operand(right, "bool").v
        return _bool(a and b if operator == "&&" else a or b)
    a, b = _operand(left, "number").v, _operand(right, "number").v
    if operator == "<":
        return _bool(a < b)
    if operator == "<=":
        return _bool(a <= b)
    if operator == ">":
        return _bool(a > b)
    if operator == ">=":
        return _bool(a >= b)
    if operator == "+":
        return _number(_round(a + b))
    if operator == "-":
        return _number(_round(a - b))
    if operator == "*":
        return _number(_round(a * b))
    if operator == "/":
        if b == 0:
            if a == 0:
                raise EvalError("can't divide zero by zero")
            raise Unsupported("division by zero gives an infinity")
        return _number(_round(a / b))
    if operator == "%":
        if b == 0:
            return _number(a)  # Terraform returns the dividend
        # Terraform truncates the quotient toward zero: the result has the sign of the dividend.
        quotient = _round(a / b)
        whole = math.trunc(quotient)
        return _number(_round(a - _round(b * whole)))
    raise Unsupported(f"operator {operator}")


def _evaluate_conditional(node, scope):
    """a ? b : c — both results are evaluated (their types must agree); errors of the other one are dropped."""
    _, condition_node, true_node, false_node = node
    results = []
    for branch in (true_node, false_node):
        try:
            results.append(_evaluate(branch, scope))
        except EvalError as exc:
            results.append(exc)
    condition = _evaluate(condition_node, scope)
    if condition.is_null:
        raise EvalError("the condition value is null")
    chosen, other = (results[0], results[1]) if _convert(condition, "bool").v else (results[1], results[0])
    if isinstance(chosen, EvalError):
        raise chosen
    if isinstance(other, EvalError):
        return chosen
    result_type = _unify([chosen.type, other.type])
    try:
        return _convert(chosen, result_type)
    except EvalError as exc:
        raise EvalError("inconsistent conditional result types") from exc


def _evaluate_template(parts, scope):
    """A quoted string: one lone interpolation keeps its value, otherwise everything joins as a string."""
    if len(parts) == 1 and not isinstance(parts[0], str):
        return _evaluate(parts[0], scope)
    values = _evaluate_all([part for part in parts if not isinstance(part, str)], scope)
    pieces, values = [], iter(values)
    for part in parts:
        if isinstance(part, str):
            pieces.append(part)
            continue
        value = next(values)
        if value.is_null:
            raise EvalError("cannot include a null value in a string template")
        if _kind(value.type) not in PRIMITIVES:
            raise EvalError("cannot include a collection in a string template")
        pieces.append(_convert(value, "string").v)
    return _string("".join(pieces))


def _evaluate_object(items, scope):
    """An object constructor {k = v, ...}; keys are converted to strings."""
    values = _evaluate_all([part for item in items for part in item], scope)
    attributes = {}
    for key, value in zip(values[0::2], values[1::2], strict=True):
        if key.is_null:
            raise EvalError("object key must not be null")
        if _kind(key.type) not in PRIMITIVES:
            raise EvalError("object key must be a string")
        attributes[_convert(key, "string").v] = value
    return _object(attributes)


def _get_attr(value, name):
    """value.name on an object or a map."""
    if value.is_null:
        raise EvalError("attempt to get an attribute from a null value")
    kind = _kind(value.type)
    if kind in ("object", "map"):
        if name not in value.v:
            raise EvalError(f'this value does not have an attribute named "{name}"')
        return value.v[name]
    raise EvalError(f"cannot access attributes on a {_type_name(value.type)}")


def _get_index(value, key):
    """value[key] on a list, tuple, map or object."""
    if value.is_null:
        raise EvalError("cannot index a null value")
    if key.is_null:
        raise EvalError("cannot index with a null key")
    kind = _kind(value.type)
    if kind in ("list", "tuple"):
        index = _convert(key, "number").v
        if index.denominator != 1:
            raise EvalError("a sequence index must be a whole number")
        if index < 0 or index >= len(value.v):
            raise EvalError("index out of range")
        return value.v[int(index)]
    if kind in ("map", "object"):
        if _kind(key.type) not in PRIMITIVES:
            raise EvalError("a map key must be a string")
        name = _convert(key, "string").v
        if name not in value.v:
            raise EvalError(f'no element with the key "{name}"')
        return value.v[name]
    raise EvalError(f"cannot index a {_type_name(value.type)}")


def _evaluate_splat(value, steps, scope):
    """value[*].a.b: apply the steps to each element (a single value counts as one element)."""
    if value.is_null:
        return _tuple([])
    kind = _kind(value.type)
    elements = list(value.v) if kind in ("list", "set", "tuple") else [value]
    results = []
    for element in elements:
        for step in steps:
            if step[0] == "attr":
                element = _get_attr(element, step[1])
            else:
                element = _get_index(element, _evaluate(step[1], scope))
        results.append(element)
    if kind in ("list", "set"):
        return _make_list(results, "dynamic")
    return _tuple(results)


def _evaluate_for(node, scope):
    """[for ...] builds a tuple, {for ...} an object (grouped into tuples with `...`)."""
    _, is_object, key_name, value_name, collection_node, key_node, value_node, condition_node, grouping = node
    collection = _evaluate(collection_node, scope)
    if collection.is_null:
        raise EvalError("a null value cannot be used as the collection in a 'for' expression")
    kind = _kind(collection.type)
    if kind in ("list", "tuple"):
        pairs = [(_number(Fraction(i)), item) for i, item in enumerate(collection.v)]
    elif kind == "set":
        pairs = [(item, item) for item in collection.v]
    elif kind in ("map", "object"):
        pairs = [(_string(key), item) for key, item in collection.v.items()]
    else:
        raise EvalError(f"a {_type_name(collection.type)} cannot be used as the collection in a 'for' expression")

    items, groups = [], {}
    for key, item in pairs:
        inner = dict(scope)
        inner[value_name] = item
        if key_name:
            inner[key_name] = key
        if condition_node is not None:
            keep = _evaluate(condition_node, inner)
            if keep.is_null:
                raise EvalError("the 'if' condition of a 'for' expression must not be null")
            if not _convert(keep, "bool").v:
                continue
        if not is_object:
            items.append(_evaluate(value_node, inner))
            continue
        result_key, result_value = _evaluate_all([key_node, value_node], inner)
        if result_key.is_null or _kind(result_key.type) not in PRIMITIVES:
            raise EvalError("the key of a 'for' expression must be a string")
        name = _convert(result_key, "string").v
        if name in groups and not grouping:
            raise EvalError(f'two different items produced the key "{name}"')
        groups.setdefault(name, []).append(result_value)
    if not is_object:
        return _tuple(items)
    if grouping:
        return _object({name: _tuple(values) for name, values in groups.items()})
    return _object({name: values[0] for name, values in groups.items()})


# --- Functions ----------------------------------------------------------------------------------------------


def _call(name, arg_nodes, expand, scope):
    """Call a function; can() and try() evaluate their arguments lazily."""
    if name == "can":
        if len(arg_nodes) != 1 or expand:
            raise Unsupported("can() takes one argument")
        try:
            _evaluate(arg_nodes[0], scope)
        except EvalError:
            return FALSE
        return TRUE
    if name == "try":
        if not arg_nodes or expand:
            raise Unsupported("try() needs at least one argument")
        error = None
        for arg_node in arg_nodes:
            try:
                return _evaluate(arg_node, scope)
            except EvalError as exc:
                error = error or exc
        raise EvalError(f"no expression succeeded: {error}")
    if name not in FUNCTIONS:
        raise Unsupported(f"function {name}()")
    args = _evaluate_all(arg_nodes, scope)
    if expand:
        last = args.pop()
        if last.is_null or _kind(last.type) not in ("list", "set", "tuple"):
            raise EvalError("the expanded argument must be a list, set or tuple")
        args.extend(last.v)
    function, min_args, max_args = FUNCTIONS[name]
    if len(args) < min_args or (max_args is not None and len(args) > max_args):
        raise Unsupported(f"wrong number of arguments for {name}()")
    return function(*args)


def _arg(value, type_, allow_null=False):
    """A function argument converted to its parameter type."""
    if value.is_null and not allow_null:
        raise EvalError("argument must not be null")
    return _convert(value, type_)


def _sequence(value):
    """A list, set or tuple argument as a Python list of Val."""
    if value.is_null:
        raise EvalError("argument must not be null")
    if _kind(value.type) not in ("list", "set", "tuple"):
        raise EvalError("argument must be a list, set or tuple")
    return list(value.v)


def _integer(value):
    """A whole-number argument (substr offsets)."""
    number = _arg(value, "number").v
    if number.denominator != 1:
        raise EvalError("value must be a whole number")
    return int(number)


def _fn_length(value):
    if value.is_null:
        raise EvalError("argument must not be null")
    if value.type == "string":
        return _number(Fraction(len(_graphemes(value.v))))
    if _kind(value.type) in ("list", "set", "tuple", "map", "object"):
        return _number(Fraction(len(value.v)))
    raise EvalError("argument must be a string, a collection type, or a structural type")


def _fn_contains(collection, value):
    return _bool(any(_equals(item, value) for item in _sequence(collection)))


def _fn_regex(pattern, text):
    pattern, text = _arg(pattern, "string").v, _arg(text, "string").v
    compiled = _regex_setup(pattern, text)
    match = compiled.search(text)
    if not match:
        raise EvalError("pattern did not match any part of the given string")
    return _match_value(compiled, match)


def _fn_regexall(pattern, text):
    pattern, text = _arg(pattern, "string").v, _arg(text, "string").v
    compiled = _regex_setup(pattern, text)
    items = [_match_value(compiled, match) for match in _find_all(compiled, text)]
    return Val(("list", _match_type(compiled)), tuple(items))


def _fn_lower(text):
    return _string(_change_case(_arg(text, "string").v, upper=False))


def _fn_upper(text):
    return _string(_change_case(_arg(text, "string").v, upper=True))


def _fn_trimspace(text):
    return _string(_trim_space(_arg(text, "string").v))


def _bool_list(value):
    """The list(bool) argument of alltrue/anytrue."""
    if value.is_null:
        raise EvalError("argument must not be null")
    if _kind(value.type) not in ("list", "set", "tuple"):
        raise EvalError("list of bool required")
    return [_convert(item, "bool") for item in value.v]


def _fn_alltrue(values):
    return _bool(all(item.v is True for item in _bool_list(values)))


def _fn_anytrue(values):
    return _bool(any(item.v is True for item in _bool_list(values)))


def _mapping(value):
    """A map or object argument."""
    if value.is_null:
        raise EvalError("argument must not be null")
    if _kind(value.type) not in ("map", "object"):
        raise EvalError("must have map or object type")
    return value


def _fn_keys(value):
    value = _mapping(value)
    keys = [_string(key) for key in value.v]
    if _kind(value.type) == "map":
        return Val(("list", "string"), tuple(keys))
    return _tuple(keys)


def _fn_values(value):
    value = _mapping(value)
    if _kind(value.type) == "map":
        return Val(("list", value.type[1]), tuple(value.v.values()))
    return _tuple(list(value.v.values()))


def _fn_lookup(mapping, key, *default):
    mapping, key = _mapping(mapping), _arg(key, "string").v
    if key in mapping.v:
        return mapping.v[key]
    if not default:
        raise EvalError(f'the given object has no attribute "{key}"')
    fallback = default[0]
    if _kind(mapping.type) == "map":
        if fallback.is_null:
            return Val(mapping.type[1], None)
        if fallback.type != mapping.type[1]:
            raise EvalError("the default value must have the same type as the map elements")
    return fallback


def _numbers(values):
    """Varargs of numbers."""
    if not values:
        raise EvalError("must pass at least one number")
    return [_arg(value, "number").v for value in values]


def _fn_min(*values):
    return _number(min(_numbers(values)))


def _fn_max(*values):
    return _number(max(_numbers(values)))


def _fn_floor(value):
    return _number(_round(Fraction(math.floor(_arg(value, "number").v))))


def _fn_ceil(value):
    return _number(_round(Fraction(math.ceil(_arg(value, "number").v))))


def _fn_abs(value):
    return _number(abs(_arg(value, "number").v))


def _fn_tonumber(value):
    if value.is_null:
        return Val("number", None)
    if value.type not in ("number", "string"):
        raise EvalError(f"cannot convert {_type_name(value.type)} to number")
    return _convert(value, "number")


def _fn_tostring(value):
    if value.is_null:
        return Val("string", None)
    if value.type not in PRIMITIVES:
        raise EvalError(f"cannot convert {_type_name(value.type)} to string")
    return _convert(value, "string")


def _fn_tobool(value):
    if value.is_null:
        return Val("bool", None)
    if value.type not in ("bool", "string"):
        raise EvalError(f"cannot convert {_type_name(value.type)} to bool")
    return _convert(value, "bool")


def _fn_tolist(value):
    return _convert_collection(value, ("list", "dynamic"))


def _fn_toset(value):
    return _convert_collection(value, ("set", "dynamic"))


def _fn_tomap(value):
    return _convert_collection(value, ("map", "dynamic"))


def _convert_collection(value, target):
    """tolist/toset/tomap: null stays null, everything else converts or fails."""
    if value.is_null:
        return Val(target, None)
    return _convert(value, target)


def _fn_element(collection, index):
    items = _sequence(collection)
    index = _integer(index)
    if not items:
        raise EvalError("cannot use element function with an empty list")
    if index < 0:
        raise Unsupported("negative element() index")
    return items[index % len(items)]


def _fn_substr(text, offset, length):
    clusters = _graphemes(_arg(text, "string").v)
    offset, length = _integer(offset), _integer(length)
    if offset < 0:
        offset = max(len(clusters) + offset, 0)
    if offset >= len(clusters):
        return _string("")
    end = len(clusters) if length < 0 else min(offset + length, len(clusters))
    return _string("".join(clusters[offset:end]))


def _fn_join(separator, *lists):
    separator = _arg(separator, "string").v
    if not lists:
        raise EvalError("at least one list is required")
    pieces = []
    for value in lists:
        for item in _sequence(value):
            if item.is_null:
                raise EvalError("cannot concatenate null values")
            pieces.append(_convert(item, "string").v)
    return _string(separator.join(pieces))


def _fn_split(separator, text):
    separator, text = _arg(separator, "string").v, _arg(text, "string").v
    pieces = list(text) if separator == "" else text.split(separator)
    return Val(("list", "string"), tuple(_string(piece) for piece in pieces))


def _fn_distinct(value):
    items = _make_list(_sequence(value), "dynamic")
    unique = []
    for item in items.v:
        if not any(_equals(item, seen) for seen in unique):
            unique.append(item)
    return Val(items.type, tuple(unique))


def _fn_flatten(value):
    def flatten(items):
        result = []
        for item in items:
            if not item.is_null and _kind(item.type) in ("list", "set", "tuple"):
                result.extend(flatten(item.v))
            else:
                result.append(item)
        return result

    return _tuple(flatten(_sequence(value)))


def _fn_coalesce(*values):
    if not values:
        raise EvalError("no non-null, non-empty-string arguments")
    common = _unify([value.type for value in values])
    for value in values:
        value = _convert(value, common)
        if not value.is_null and not (value.type == "string" and value.v == ""):
            return value
    raise EvalError("no non-null, non-empty-string arguments")


def _fn_range(*args):
    """range(limit), range(start, limit), range(start, limit, step): Terraform's (cty's) rules and cap."""
    numbers = [_arg(value, "number").v for value in args]
    if len(numbers) == 1:
        start, end, step = Fraction(0), numbers[0], Fraction(-1 if numbers[0] < 0 else 1)
    elif len(numbers) == 2:
        start, end = numbers
        step = Fraction(-1 if end < start else 1)
    else:
        start, end, step = numbers
    if step == 0:
        raise EvalError("step must not be zero")
    if step < 0 and end > start:
        raise EvalError("end must be less than start when step is negative")
    if step > 0 and end < start:
        raise EvalError("end must be greater than start when step is positive")
    items, number = [], start
    while (number > end) if step < 0 else (number < end):
        if len(items) >= 1024:
            raise EvalError("more than 1024 values were generated")
        items.append(_number(number))
        number += step
    return Val(("list", "number"), tuple(items))


IPV4_CIDR = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})")


def _ipv4_network(text):
    """(network address as int, prefix length) of an IPv4 CIDR string, the way Go's net.ParseCIDR reads it.

    IPv6 and octets with leading zeros (whose reading changed between Go releases) are left to Terraform.
    """
    match = IPV4_CIDR.fullmatch(text)
    if not match:
        if ":" in text:
            raise Unsupported("IPv6 prefixes")
        raise EvalError(f'invalid CIDR address: "{text}"')
    parts = match.groups()
    if any(len(part) > 1 and part.startswith("0") for part in parts):
        raise Unsupported("leading zeros in an IPv4 address")
    octets, prefix = [int(part) for part in parts[:4]], int(parts[4])
    if any(octet > 255 for octet in octets) or prefix > 32:
        raise EvalError(f'invalid CIDR address: "{text}"')
    address = (octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]
    mask = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    return address & mask, prefix


def _ipv4_text(number):
    return ".".join(str((number >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def _fn_cidrnetmask(prefix):
    _, length = _ipv4_network(_arg(prefix, "string").v)
    return _string(_ipv4_text((0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF))


def _fn_cidrhost(prefix, hostnum):
    network, length = _ipv4_network(_arg(prefix, "string").v)
    number = _integer(hostnum)
    size = 1 << (32 - length)
    if number < 0:
        number += size  # a negative host number counts back from the end of the range
    if number < 0 or number >= size:
        raise EvalError(f"prefix of {length} does not accommodate a host numbered {_integer(hostnum)}")
    return _string(_ipv4_text(network + number))


# name -> (implementation, minimum arguments, maximum arguments or None); Terraform 1.0.3 has no
# startswith/endswith, so they are deliberately absent (a condition using them is left to Terraform).
FUNCTIONS = {
    "length": (_fn_length, 1, 1),
    "contains": (_fn_contains, 2, 2),
    "regex": (_fn_regex, 2, 2),
    "regexall": (_fn_regexall, 2, 2),
    "lower": (_fn_lower, 1, 1),
    "upper": (_fn_upper, 1, 1),
    "trimspace": (_fn_trimspace, 1, 1),
    "alltrue": (_fn_alltrue, 1, 1),
    "anytrue": (_fn_anytrue, 1, 1),
    "keys": (_fn_keys, 1, 1),
    "values": (_fn_values, 1, 1),
    "lookup": (_fn_lookup, 2, 3),
    "min": (_fn_min, 0, None),
    "max": (_fn_max, 0, None),
    "floor": (_fn_floor, 1, 1),
    "ceil": (_fn_ceil, 1, 1),
    "abs": (_fn_abs, 1, 1),
    "tonumber": (_fn_tonumber, 1, 1),
    "tostring": (_fn_tostring, 1, 1),
    "tobool": (_fn_tobool, 1, 1),
    "tolist": (_fn_tolist, 1, 1),
    "toset": (_fn_toset, 1, 1),
    "tomap": (_fn_tomap, 1, 1),
    "element": (_fn_element, 2, 2),
    "substr": (_fn_substr, 3, 3),
    "join": (_fn_join, 1, None),
    "split": (_fn_split, 2, 2),
    "distinct": (_fn_distinct, 1, 1),
    "flatten": (_fn_flatten, 1, 1),
    "coalesce": (_fn_coalesce, 0, None),
    "range": (_fn_range, 1, 3),
    "cidrhost": (_fn_cidrhost, 2, 2),
    "cidrnetmask": (_fn_cidrnetmask, 1, 1),
}
