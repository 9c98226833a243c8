"""The Python evaluator of `validation` conditions agrees with Terraform 1.0.3 itself.

Each case is a variable type, a condition and an input value, with the verdict we expect (does the input
fail?). The pure tests check the evaluator against that verdict; the `terraform` tests put every case into
one variables-only module, run one real `terraform plan`, and check that Terraform reports exactly the
cases expected to fail — so evaluator and Terraform agree case by case.
"""

import json
import pathlib
import subprocess
import textwrap

import pytest

from environments import schema
from environments.validation import check_validations
from tests.conftest import offline_terraform_env


class Default:
    """A case value given as the variable's default rather than in the tfvars file."""

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"Default({self.value!r})"


# (id, type, condition, value, expected to fail). The value goes into the tfvars JSON file, conformed to the
# type as the runner writes it; Default(x) declares `default = x` instead; None means `default = null`.
CASES = [
    ("regex_ok", "string", 'can(regex("^[a-z][a-z0-9-]{2,30}$", var.v))', "demo-app", False),
    ("regex_upper", "string", 'can(regex("^[a-z][a-z0-9-]{2,30}$", var.v))', "Demo", True),
    ("regex_dollar_newline", "string", 'can(regex("^[a-z]+$", var.v))', "abc\n", True),
    ("regex_ascii_digit", "string", 'can(regex("^\\\\d+$", var.v))', "\u0661\u0662", True),
    ("regex_posix_class", "string", 'can(regex("^[[:alnum:]]+$", var.v))', "abc-1", True),
    ("regex_ignore_case", "string", 'can(regex("(?i)^[a-z]+$", var.v))', "ABC", False),
    ("regex_groups", "string", 'regex("^(\\\\d+)-(\\\\d+)$", var.v)[1] == "20"', "10-20", False),
    ("regex_named", "string", 'regex("^(?P<user>[a-z]+)@(?P<host>[a-z.]+)$", var.v).host == "example.com"',
     "bob@example.com", False),
    ("regex_no_match_error", "string", 'regex("^x", var.v) == "x"', "abc", True),
    ("regexall_count", "string", 'length(regexall("[0-9]", var.v)) >= 2', "a1b", True),
    ("try_regex", "string", 'try(regex("x", var.v), "no") == "no"', "abc", False),
    ("number_range", "number", "var.v >= 1 && var.v <= 5", 7, True),
    ("number_whole", "number", "floor(var.v) == var.v", 2.5, True),
    ("modulo_sign", "number", "var.v % 3 == -1", -7, False),
    ("big_float_sum", "number", "var.v + 0.2 == 0.3", 0.1, False),
    ("precedence", "number", "1 + 2 * var.v - 4 / 2 % 3 == 5", 3, False),
    ("nested_conditional", "number", '(var.v > 5 ? "big" : var.v > 2 ? "mid" : "small") == "mid"', 3, False),
    ("ceil_abs", "number", "ceil(abs(var.v)) == 3", -2.2, False),
    ("compare_number_string", "number", 'var.v < "10"', 5, False),
    ("template_joins", "number", '"${var.v}-x" == "5-x"', 5, False),
    ("template_single_keeps_type", "number", '"${var.v}" == "2.5"', 2.5, True),
    ("tostring_number", "number", 'tostring(var.v) == "2.5"', 2.5, False),
    ("tonumber_ok", "string", "tonumber(var.v) > 10", "12", False),
    ("tonumber_error", "string", "tonumber(var.v) > 10", "abc", True),
    ("can_tonumber", "string", "can(tonumber(var.v))", "1e3", False),
    ("bool_equals_string", "bool", 'var.v == "true"', True, True),
    ("bool_not", "bool", "!var.v", False, False),
    ("list_not_empty", "list(string)", "length(var.v) > 0", [], True),
    # Terraform 1.0.3 checks the value as read from the tfvars JSON: a list arrives as a tuple, a map as an
    # object, extra object attributes are still there; a default is checked after conversion.
    ("list_input_is_a_tuple", "list(string)", "var.v != []", [], True),
    ("list_default_is_a_list", "list(string)", "var.v != []", Default([]), False),
    ("map_input_is_an_object", "map(string)", 'keys(var.v) == ["a"]', {"a": "x"}, False),
    ("map_default_is_a_map", "map(string)", 'keys(var.v) == ["a"]', Default({"a": "x"}), True),
    ("alltrue_for", "list(string)", 'alltrue([for r in var.v : can(regex("^[a-z]{2}-[a-z]+-[0-9]$", r))])',
     ["eu-west-1", "US-east-1"], True),
    ("anytrue_for", "list(string)", 'anytrue([for r in var.v : r == "eu-west-1"])', ["us-east-1"], True),
    ("for_index", "list(string)", "alltrue([for i, r in var.v : i < 2])", ["a", "b", "c"], True),
    ("distinct", "list(string)", "length(distinct(var.v)) == length(var.v)", ["a", "b", "a"], True),
    ("group_by", "list(string)", "length({for s in var.v : s => s...}) == length(var.v)", ["a", "a"], True),
    ("index_out_of_range", "list(string)", 'var.v[2] != ""', ["a"], True),
    ("legacy_index", "list(string)", 'var.v.0 == "a"', ["a"], False),
    ("max_min_expand", "list(number)", "max(var.v...) <= 10 && min(var.v...) >= 0", [1, 11], True),
    ("flatten", "list(list(string))", "length(flatten(var.v)) <= 3", [["a"], ["b", "c"], ["d"]], True),
    ("split_join", "string", 'join("-", split(",", var.v)) == "a-b-c"', "a,b,c", False),
    ("set_dedupes", "set(string)", "length(var.v) == 2", ["a", "b", "a"], False),
    ("contains_object_attr", "object({cpu = number, memory = number})", "contains([256, 512, 1024], var.v.cpu)",
     {"cpu": 300, "memory": 512}, True),
    ("contains_no_conversion", "number", 'contains(["1", "2"], var.v)', 1, True),
    ("map_keys", "map(string)", "alltrue([for k in keys(var.v) : length(k) <= 5])",
     {"owner": "x", "toolong": "y"}, True),
    ("object_keys_is_tuple", "any", 'keys(var.v) == ["a", "b"]', {"b": 1, "a": 2}, False),
    ("map_values", "map(string)", 'alltrue([for x in values(var.v) : x != ""])', {"a": ""}, True),
    ("map_for_if", "map(number)", "length({for k, x in var.v : k => x if x > 1}) == 1", {"a": 1, "b": 2}, False),
    ("lookup_default", "map(string)", 'lookup(var.v, "env", "dev") != "prod"', {"env": "prod"}, True),
    ("splat", "list(object({name = string}))", "length(var.v[*].name) == 2", [{"name": "a"}, {"name": "b"}],
     False),
    ("splat_single_value", "object({name = string})", "length(var.v[*]) == 1", {"name": "a"}, False),
    ("tuple_type", "tuple([string, number])", 'var.v[0] == "x" && var.v[1] > 1', ["x", 2], False),
    ("null_conditional", "string", "var.v == null ? true : length(var.v) > 2", None, False),
    ("and_does_not_short_circuit", "string", "var.v != null && length(var.v) > 2", None, True),
    ("try_attribute", "any", 'try(var.v.name, "") != ""', {"nom": "x"}, True),
    ("can_attribute", "any", "can(var.v.name)", {"name": "x"}, False),
    ("conditional_unifies", "bool", '(var.v ? 1 : "a") == "1"', True, False),
    ("coalesce", "string", 'coalesce(var.v, "default") != "x"', "", False),
    ("substr_upper", "string", "upper(substr(var.v, 0, 1)) == substr(var.v, 0, 1)", "hello", True),
    ("trimspace", "string", "trimspace(var.v) == var.v", " x ", True),
    ("length_graphemes", "string", "length(var.v) <= 5", "cafe\u0301s", False),
    ("lower_sigma", "string", 'lower(var.v) == "\u03c3\u03b1\u03c3"', "\u03a3\u0391\u03a3", False),
    ("escapes", "string", 'var.v != "a\\"b\\\\c\\n"', 'a"b\\c\n', True),
    ("number_text_512_bits", "number", "length(tostring(var.v / 3)) > 100", 1, False),
    ("string_is_not_number", "string", "var.v == 5", "5", True),
    ("conditional_drops_other_error", "list(string)", 'length(var.v) == 0 ? true : var.v[0] != ""', [], False),
    ("regexall_go_empty_matches", "string", 'length(regexall("a*", var.v)) == 2', "baaa", False),
    ("lookup_object_default", "any", 'lookup(var.v, "x", "d") == "d"', {"y": 1}, False),
    ("element_wraps", "list(string)", 'element(var.v, 3) == "b"', ["a", "b"], False),
    ("tolist_equals", "list(string)", 'tolist(var.v) == tolist(["a"])', ["a"], False),
    # range, cidrhost, cidrnetmask (catalogue templates validate Fargate sizes and CIDR blocks with them).
    ("range_step", "number", "contains(range(1024, 4097, 1024), var.v)", 3072, False),
    ("range_step_miss", "number", "contains(range(1024, 4097, 1024), var.v)", 2500, True),
    ("range_one_arg", "number", "range(var.v) == tolist([0, 1, 2])", 3, False),
    ("range_negative", "number", "range(var.v) == tolist([0, -1])", -2, False),
    ("range_fraction_step", "number", "length(range(0, 1, var.v)) == 4", 0.25, False),
    ("range_zero_step", "number", "length(range(0, 10, var.v)) > 0", 0, True),
    ("range_wrong_direction", "number", "length(range(0, 10, var.v)) > 0", -1, True),
    ("range_too_long", "number", "length(range(var.v)) > 0", 2000, True),
    ("object_literal_index", "object({cpu = number, memory = number})",
     'contains(try({"256" = [512, 1024], "512" = range(1024, 4097, 1024)}[tostring(var.v.cpu)], []), var.v.memory)',
     {"cpu": 512, "memory": 2048}, False),
    ("object_literal_index_missing_key", "object({cpu = number, memory = number})",
     'contains(try({"256" = [512, 1024], "512" = range(1024, 4097, 1024)}[tostring(var.v.cpu)], []), var.v.memory)',
     {"cpu": 300, "memory": 2048}, True),
    ("cidrnetmask_ok", "string", 'cidrnetmask(var.v) == "255.255.240.0"', "10.1.0.0/20", False),
    ("cidrnetmask_zero", "string", 'cidrnetmask(var.v) == "0.0.0.0"', "0.0.0.0/0", False),
    ("cidrnetmask_no_prefix", "string", "can(cidrnetmask(var.v))", "10.0.0.0", True),
    ("cidrnetmask_bad_octet", "string", "can(cidrnetmask(var.v))", "10.0.0.256/16", True),
    ("cidrnetmask_bad_prefix", "string", "can(cidrnetmask(var.v))", "10.0.0.0/33", True),
    ("cidrnetmask_words", "string", "can(cidrnetmask(var.v))", "not a cidr", True),
    ("cidrhost_network", "string", 'cidrhost(var.v, 0) == split("/", var.v)[0]', "10.40.0.0/16", False),
    ("cidrhost_host_bits_set", "string", 'cidrhost(var.v, 0) == split("/", var.v)[0]', "10.40.3.1/16", True),
    ("cidrhost_number", "string", 'cidrhost(var.v, 300) == "10.1.1.44"', "10.1.0.0/16", False),
    ("cidrhost_negative", "string", 'cidrhost(var.v, -1) == "10.1.0.255"', "10.1.0.0/24", False),
    ("cidrhost_too_big", "string", "can(cidrhost(var.v, 256))", "10.1.0.0/24", True),
]

CASE_IDS = [case[0] for case in CASES]


def _check(case):
    """check_validations for one case, the way the portal calls it."""
    value = case[3]
    if value is None:
        return check_validations(_variable(case), None, is_default=True)
    if isinstance(value, Default):
        return check_validations(_variable(case), value.value, is_default=True)
    return check_validations(_variable(case), value)


def _variable(case):
    """The schema dict check_validations expects for one case."""
    case_id, type_expr, condition, _value, _fails = case
    return {
        "name": "v",
        "type": schema.parse_type(type_expr),
        "validations": [{"condition": condition, "error_message": f"Case {case_id} failed."}],
    }


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_evaluator_gives_the_expected_verdict(case):
    case_id, _type, _condition, _value, fails = case
    result = _check(case)
    assert result == ([f"Case {case_id} failed."] if fails else [])


# --- The same cases against the real Terraform binary ------------------------------------------------------


def _write_module(workdir):
    """One variable per case; returns {line number inside its variable block: case id}."""
    lines, block_lines, values = [], {}, {}
    for index, (case_id, type_expr, condition, value, _fails) in enumerate(CASES):
        name = f"v{index:02d}"
        block = [f'variable "{name}" {{', f"  type = {type_expr}"]
        if value is None:
            block.append("  default = null")
        elif isinstance(value, Default):
            block.append(f"  default = {json.dumps(value.value)}")
        else:
            values[name] = schema.conform(schema.parse_type(type_expr), value)
        block.append("  validation {")
        block.append(f"    condition     = {condition.replace('var.v', f'var.{name}')}")
        block.append(f'    error_message = "Case {case_id} failed."')
        block += ["  }", "}", ""]
        for offset in range(len(block)):
            block_lines[len(lines) + offset + 1] = case_id
        lines += block
    (workdir / "variables.tf").write_text("\n".join(lines))
    (workdir / "input.auto.tfvars.json").write_text(json.dumps(values, ensure_ascii=False))
    return block_lines


@pytest.fixture(scope="module")
def terraform_verdicts(tmp_path_factory):
    """Run one real `terraform plan` over all cases; return {case id: failed?} and the raw diagnostics."""
    tmp_path = tmp_path_factory.mktemp("validation-eval")
    terraform_bin, env = offline_terraform_env(tmp_path)
    workdir = tmp_path / "module"
    workdir.mkdir()
    block_lines = _write_module(workdir)
    init = subprocess.run([terraform_bin, "init", "-input=false", "-no-color"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stdout + init.stderr
    plan = subprocess.run([terraform_bin, "plan", "-input=false", "-json", "-lock=false"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=120)
    failed, diagnostics = set(), []
    for line in plan.stdout.splitlines():
        event = json.loads(line)
        if event.get("type") != "diagnostic":
            continue
        diagnostic = event["diagnostic"]
        diagnostics.append(diagnostic)
        # A failed rule points at its variable block, an evaluation error into the condition.
        start = (diagnostic.get("range") or {}).get("start", {}).get("line")
        assert start in block_lines, f"diagnostic outside the variable blocks: {diagnostic}"
        failed.add(block_lines[start])
    return {case_id: case_id in failed for case_id in CASE_IDS}, diagnostics


@pytest.mark.terraform
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_terraform_agrees_with_the_evaluator(case, terraform_verdicts):
    verdicts, diagnostics = terraform_verdicts
    case_id, _type, _condition, _value, fails = case
    evaluator_fails = bool(_check(case))
    assert verdicts[case_id] == evaluator_fails, textwrap.shorten(
        f"{case_id}: terraform says failed={verdicts[case_id]}, evaluator says failed={evaluator_fails}; "
        f"diagnostics: {[d for d in diagnostics if case_id in json.dumps(d)]}",
        2000,
    )
    assert verdicts[case_id] == fails


@pytest.mark.terraform
def test_every_failing_case_has_a_diagnostic_of_its_own(terraform_verdicts):
    verdicts, _diagnostics = terraform_verdicts
    assert sorted(case_id for case_id, failed in verdicts.items() if failed) == sorted(
        case_id for case_id, *_rest, fails in CASES if fails
    )


# --- What the evaluator leaves to Terraform ---------------------------------------------------------------


@pytest.mark.parametrize(
    "condition, value",
    [
        ('can(regex("^\\\\pL+$", var.v))', "abc"),  # Unicode classes: RE2 has them, Python's re does not
        ('can(regex("(?=a)", var.v))', "abc"),  # lookahead: Python has it, RE2 rejects it
        ('can(regex("(?U)a+", var.v))', "abc"),  # RE2's ungreedy flag
        ('startswith(var.v, "a")', "abc"),  # not a function in Terraform 1.0.3
        ("length(var.v) == 1", "\U0001f44d\U0001f3fd"),  # emoji with a skin-tone modifier: one grapheme
        ("local.limit > length(var.v)", "abc"),  # conditions may only refer to their variable
        ('"%{if var.v != ""}x%{endif}" == "x"', "abc"),  # template directives
        ("true", "abc"),  # does not refer to the variable: Terraform rejects the configuration
    ],
)
def test_unsupported_conditions_are_left_to_terraform(condition, value):
    variable = {"name": "v", "type": "string", "validations": [{"condition": condition, "error_message": "E."}]}
    assert check_validations(variable, value) is None


def test_nested_repetition_is_only_matched_against_short_text():
    """(a+)+ backtracks exponentially in Python's re (not in RE2): long input is left to Terraform."""
    variable = {"name": "v", "type": "string",
                "validations": [{"condition": 'can(regex("^(a+)+$", var.v))', "error_message": "Only a."}]}
    assert check_validations(variable, "aaab") == ["Only a."]
    assert check_validations(variable, "aaaa") == []
    assert check_validations(variable, "a" * 40 + "!") is None


def test_huge_exponents_are_left_to_terraform():
    variable = {"name": "v", "type": "string",
                "validations": [{"condition": "tonumber(var.v) > 1", "error_message": "Too small."}]}
    assert check_validations(variable, "1e999999999") is None
    assert check_validations(variable, "1e300") == []


def test_a_known_failure_is_reported_even_when_another_rule_is_undecided():
    variable = {
        "name": "v",
        "type": "string",
        "validations": [
            {"condition": 'startswith(var.v, "a")', "error_message": "Must start with a."},
            {"condition": "length(var.v) < 3", "error_message": "Too long."},
        ],
    }
    assert check_validations(variable, "abcd") == ["Too long."]
    assert check_validations(variable, "ab") is None


def test_all_failed_messages_are_returned_in_order():
    variable = {
        "name": "n",
        "type": "number",
        "validations": [
            {"condition": "var.n > 10", "error_message": "Too small."},
            {"condition": "var.n < 0", "error_message": "Not negative."},
            {"condition": "var.n != 5", "error_message": "Not five."},
        ],
    }
    assert check_validations(variable, 5) == ["Too small.", "Not negative.", "Not five."]
    assert check_validations(variable, "5") == ["Too small.", "Not negative.", "Not five."]


def test_no_validations_means_no_errors():
    assert check_validations({"name": "x", "type": "string", "validations": []}, "anything") == []


def test_a_value_of_the_wrong_type_raises_type_mismatch():
    variable = {"name": "n", "type": "number", "validations": [{"condition": "var.n > 1", "error_message": "E."}]}
    with pytest.raises(schema.TypeMismatch):
        check_validations(variable, "many")


def test_hello_sandbox_validations():
    parsed = schema.parse_module(pathlib.Path(__file__).resolve().parents[2] / "catalog" / "hello-sandbox")
    variables = {variable["name"]: variable for variable in parsed["variables"]}
    assert check_validations(variables["app_name"], "demo-app") == []
    assert check_validations(variables["app_name"], "Demo App") == [variables["app_name"]["validations"][0][
        "error_message"]]
    assert check_validations(variables["replicas"], 6) != []
    assert check_validations(variables["replicas"], "3") == []
    assert check_validations(variables["size"], {"cpu": 512, "memory": 1024}) == []
    assert check_validations(variables["size"], {"cpu": 300, "memory": 1024}) != []
    assert check_validations(variables["regions"], []) != []
