"""SCIM filters (RFC 7644 §3.4.2.2) compiled to Django Q objects.

A small recursive-descent parser over a whitelist of attributes: every attribute maps to a model field named
here, every value is passed to the ORM as a parameter, so a filter can never become SQL. What is not
understood is refused with `invalidFilter`, never guessed: `userName eq "x" or 1 eq 1` fails because `1` is not
an attribute. Supported: eq ne co sw ew pr (gt ge lt le on `meta.lastModified` only), and, or, not, parentheses.
"""
import json
import re
from datetime import datetime

from django.db.models import Q
from scim2_models import InvalidFilterException

MAX_FILTER_LENGTH = 1000
MAX_TERMS = 50
MAX_DEPTH = 10

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lpar>\() | (?P<rpar>\)) | (?P<lbr>\[) | (?P<rbr>\]) |
        (?P<string>"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*") |
        (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w.:])) |
        (?P<word>[A-Za-z$][\w.:$-]*)
    )""",
    re.VERBOSE,
)
COMPARE_OPS = {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"}
_STRING_LOOKUPS = {"eq": "exact", "co": "contains", "sw": "startswith", "ew": "endswith"}
_ORDER_LOOKUPS = {"gt": "gt", "ge": "gte", "lt": "lt", "le": "lte"}


def _invalid(detail):
    return InvalidFilterException(detail=detail)


def _tokens(text):
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise _invalid(f"Unexpected character at position {pos + 1} of the filter.")
        kind = match.lastgroup
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class Attribute:
    """A filterable attribute: the ORM field it maps to, its type, and whether comparisons ignore case."""

    def __init__(self, field, kind="string", case_exact=False, present=None):
        self.field, self.kind, self.case_exact = field, kind, case_exact
        self.present = present  # the Q for `pr`; by default "not null and not empty"

    def compile(self, op, value):
        if op == "pr":
            if self.present is not None:
                return self.present
            q = Q(**{f"{self.field}__isnull": False})
            return q & ~Q(**{self.field: ""}) if self.kind == "string" else q
        if self.kind == "id":
            return self._compile_id(op, value)
        if self.kind == "boolean":
            if op not in ("eq", "ne") or not isinstance(value, bool):
                raise _invalid("A boolean attribute is compared with eq or ne and true or false.")
            q = Q(**{self.field: value})
            return ~q if op == "ne" else q
        if self.kind == "datetime":
            if op not in _ORDER_LOOKUPS and op not in ("eq", "ne"):
                raise _invalid(f"'{op}' does not apply to a date.")
            when = _datetime(value)
            lookup = _ORDER_LOOKUPS.get(op, "exact")
            q = Q(**{f"{self.field}__{lookup}": when})
            return ~q if op == "ne" else q
        if not isinstance(value, str):
            raise _invalid("This attribute is compared with a string.")
        if op in _ORDER_LOOKUPS:
            raise _invalid(f"'{op}' is not supported on this attribute.")
        lookup = _STRING_LOOKUPS["eq" if op == "ne" else op]
        if not self.case_exact:
            lookup = "i" + lookup
        q = Q(**{f"{self.field}__{lookup}": value})
        return ~q if op == "ne" else q

    def _compile_id(self, op, value):
        if op not in ("eq", "ne") or not isinstance(value, str):
            raise _invalid("An id is compared with eq or ne and a string.")
        q = Q(**{self.field: int(value)}) if value.isdigit() and len(value) < 19 else Q(pk__in=[])
        return ~q if op == "ne" else q


def _datetime(value):
    if not isinstance(value, str):
        raise _invalid("A date is given as an RFC 3339 string.")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(f"{value!r} is not an RFC 3339 date.") from None
    if when.tzinfo is None:
        raise _invalid("A date needs a time zone.")
    return when


class _Parser:
    def __init__(self, tokens, attributes, schemas):
        self.tokens, self.pos, self.terms = tokens, 0, 0
        self.attributes = {name.lower(): attr for name, attr in attributes.items()}
        self.schemas = [s.lower() + ":" for s in schemas]

    def peek(self, offset=0):
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else (None, None)

    def take(self):
        token = self.peek()
        self.pos += 1
        return token

    def keyword(self, word):
        kind, text = self.peek()
        return kind == "word" and text.lower() == word

    def parse(self):
        q = self.expression(0)
        if self.pos != len(self.tokens):
            raise _invalid(f"Unexpected {self.peek()[1]!r} in the filter.")
        return q

    def expression(self, depth):
        q = self.conjunction(depth)
        while self.keyword("or"):
            self.take()
            q = q | self.conjunction(depth)
        return q

    def conjunction(self, depth):
        q = self.factor(depth)
        while self.keyword("and"):
            self.take()
            q = q & self.factor(depth)
        return q

    def factor(self, depth):
        if depth > MAX_DEPTH:
            raise _invalid("The filter nests too deeply.")
        if self.keyword("not") and self.peek(1)[0] == "lpar":
            self.take()
            return ~self.group(depth)
        if self.peek()[0] == "lpar":
            return self.group(depth)
        return self.comparison()

    def group(self, depth):
        self.take()  # (
        q = self.expression(depth + 1)
        if self.take()[0] != "rpar":
            raise _invalid("A parenthesis is not closed.")
        return q

    def comparison(self):
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise _invalid(f"The filter has more than {MAX_TERMS} comparisons.")
        kind, name = self.take()
        if kind != "word" or name.lower() in ("and", "or", "not"):
            raise _invalid(f"Expected an attribute name, found {name!r}." if name else "The filter ends too early.")
        attribute = self.attribute(name)
        if self.peek()[0] == "lbr":
            raise _invalid("Value filters (attr[...]) are not supported here; use attr.sub eq \"value\".")
        kind, op = self.take()
        op = (op or "").lower()
        if kind != "word" or (op not in COMPARE_OPS and op != "pr"):
            raise _invalid(f"Expected an operator after {name!r}, found {op!r}." if op else "Missing an operator.")
        if op == "pr":
            return attribute.compile("pr", None)
        return attribute.compile(op, self.value())

    def attribute(self, name):
        key = name.lower()
        for schema in self.schemas:
            if key.startswith(schema):
                key = key[len(schema):]
                break
        attribute = self.attributes.get(key)
        if attribute is None:
            raise _invalid(f"Filtering on {name!r} is not supported.")
        return attribute

    def value(self):
        kind, text = self.take()
        if kind == "string":
            return json.loads(text)
        if kind == "number":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind == "word" and text.lower() == "null":
            raise _invalid("Comparing with null is not supported; use 'pr' (present).")
        raise _invalid(f"Expected a value, found {text!r}." if text else "The filter ends before a value.")


def filter_to_q(text, attributes, schemas=()):
    """The Q object for the SCIM filter `text` over `attributes` ({scim name: Attribute}); raises invalidFilter.

    `schemas` are URNs an attribute name may be prefixed with (`urn:...:User:userName`).
    """
    if len(text) > MAX_FILTER_LENGTH:
        raise _invalid(f"The filter is longer than {MAX_FILTER_LENGTH} characters.")
    if not text.strip():
        raise _invalid("The filter is empty.")
    return _Parser(_tokens(text), attributes, schemas).parse()
