"""Reading a template folder into the variable-form schema, and converting input like Terraform does."""

import pathlib
import shutil
import subprocess
import textwrap

import pytest

from environments.schema import SchemaError, TypeMismatch, conform, load_metadata, parse_module, parse_type
from tests.conftest import offline_terraform_env

HELLO_SANDBOX = pathlib.Path(__file__).resolve().parents[2] / "catalog" / "hello-sandbox"


def _module(tmp_path, **files):
    """Write `name_tf="..."` keyword arguments as name.tf files and return the folder."""
    for name, text in files.items():
        (tmp_path / name.replace("_tf", ".tf").replace("_yaml", ".yaml")).write_text(textwrap.dedent(text))
    return tmp_path


# --- The demo template ---------------------------------------------------------------------------------------


def test_hello_sandbox_variables_in_file_order():
    variables = parse_module(HELLO_SANDBOX)["variables"]
    assert [v["name"] for v in variables] == [
        "app_name", "replicas", "enable_debug", "regions", "tags", "size", "api_token", "step_seconds",
    ]
    assert all(v["description"] for v in variables)


def test_hello_sandbox_variable_details():
    variables = {v["name"]: v for v in parse_module(HELLO_SANDBOX)["variables"]}
    app_name = variables["app_name"]
    assert app_name["required"] is True and app_name["has_default"] is False
    assert app_name["type"] == "string"
    assert app_name["validations"] == [
        {
            "condition": 'can(regex("^[a-z][a-z0-9-]{2,30}$", var.app_name))',
            "error_message": app_name["validations"][0]["error_message"],
        }
    ]
    assert variables["replicas"]["default"] == 2 and variables["replicas"]["required"] is False
    assert variables["enable_debug"] == {**variables["enable_debug"], "type": "bool", "default": False}
    assert variables["regions"]["type"] == {"list": "string"}
    assert variables["regions"]["type_expr"] == "list(string)"
    assert variables["tags"]["type"] == {"map": "string"} and variables["tags"]["default"] == {}
    assert variables["size"]["type"] == {"object": {"cpu": "number", "memory": "number"}}
    assert variables["size"]["type_expr"] == "object({cpu = number, memory = number})"
    assert variables["size"]["default"] == {"cpu": 256, "memory": 512}
    assert variables["api_token"]["sensitive"] is True and variables["api_token"]["default"] == ""
    assert variables["step_seconds"]["default"] == 1
    assert all(v["nullable"] is True for v in variables.values())


def test_hello_sandbox_outputs():
    outputs = parse_module(HELLO_SANDBOX)["outputs"]
    assert [(o["name"], o["sensitive"]) for o in outputs] == [
        ("app_url", False), ("summary", False), ("resource_ids", False), ("connection_string", True),
    ]
    assert all(o["description"] for o in outputs)


def test_hello_sandbox_metadata():
    assert load_metadata(HELLO_SANDBOX) == {
        "name": "Hello sandbox",
        "description": load_metadata(HELLO_SANDBOX)["description"],
        "category": "Demo",
        "icon": "flask",
        "version": "1.0.0",
    }
    assert load_metadata(HELLO_SANDBOX)["description"]


# --- Parsing details ----------------------------------------------------------------------------------------


def test_variables_and_outputs_may_live_in_any_file(tmp_path):
    folder = _module(
        tmp_path,
        main_tf="""
            variable "region" {
              type = string
            }
            output "where" {
              value = var.region
            }
        """,
        other_tf="""
            variable "count_of_things" {
              default = 3
            }
        """,
    )
    parsed = parse_module(folder)
    assert [v["name"] for v in parsed["variables"]] == ["region", "count_of_things"]
    assert parsed["variables"][1]["type"] == "any" and parsed["variables"][1]["type_expr"] == "any"
    assert parsed["outputs"] == [{"name": "where", "description": "", "sensitive": False}]


def test_null_default_counts_as_a_default(tmp_path):
    folder = _module(tmp_path, variables_tf="""
        variable "optional" {
          type     = string
          default  = null
          nullable = false
        }
    """)
    variable = parse_module(folder)["variables"][0]
    assert variable["has_default"] is True and variable["default"] is None and variable["required"] is False
    assert variable["nullable"] is False


def test_heredoc_description_and_escapes_are_decoded(tmp_path):
    folder = _module(tmp_path, variables_tf='''
        variable "x" {
          description = <<-EOT
            Say "hello".
              Indented $${literal}
          EOT
          default     = "a \\"quoted\\" $${x} value"
          validation {
            condition     = length(var.x) > 0
            error_message = <<EOT
        Must not be "empty".
        EOT
          }
        }
    ''')
    variable = parse_module(folder)["variables"][0]
    assert variable["description"] == 'Say "hello".\n  Indented ${literal}'
    assert variable["default"] == 'a "quoted" ${x} value'
    assert variable["validations"] == [{"condition": "length(var.x) > 0", "error_message": 'Must not be "empty".'}]


def test_complex_types_nest(tmp_path):
    folder = _module(tmp_path, variables_tf="""
        variable "services" {
          type = list(object({
            name  = string
            ports = list(number)
            env   = map(string)
            pair  = tuple([string, bool])
          }))
          default = [{ name = "web", ports = ["80"], env = {}, pair = ["a", "true"], ignored = 1 }]
        }
    """)
    variable = parse_module(folder)["variables"][0]
    assert variable["type"] == {
        "list": {
            "object": {
                "name": "string",
                "ports": {"list": "number"},
                "env": {"map": "string"},
                "pair": {"tuple": ["string", "bool"]},
            }
        }
    }
    # Defaults are converted to the type, as Terraform does when it loads the configuration.
    assert variable["default"] == [{"name": "web", "ports": [80], "env": {}, "pair": ["a", True]}]


# --- Errors name the file and the line ----------------------------------------------------------------------


def test_invalid_hcl_names_file_and_line(tmp_path):
    folder = _module(tmp_path, variables_tf="""\
        variable "ok" {
          type = string
        }

        variable "broken" {
          type = string
          default = "unterminated
        }
    """)
    with pytest.raises(SchemaError, match=r"^variables\.tf line 7: invalid HCL syntax"):
        parse_module(folder)


def test_unclosed_block_names_file_and_line(tmp_path):
    folder = _module(tmp_path, good_tf='variable "a" {}\n', outputs_tf='output "x" {\n  value = 1\n\n')
    with pytest.raises(SchemaError, match=r"^outputs\.tf line \d+: invalid HCL syntax"):
        parse_module(folder)


def test_default_of_the_wrong_type_names_the_variable_and_line(tmp_path):
    folder = _module(tmp_path, variables_tf="""\
        variable "first" {}

        variable "size" {
          type    = object({ cpu = number })
          default = { cpu = "lots" }
        }
    """)
    with pytest.raises(SchemaError) as raised:
        parse_module(folder)
    assert str(raised.value) == 'variables.tf line 3: variable "size": invalid default value: cpu: a number is required'


def test_bad_type_constraint_names_the_variable(tmp_path):
    folder = _module(tmp_path, variables_tf='variable "x" {\n  type = list(strin)\n}\n')
    with pytest.raises(SchemaError, match=r'variables\.tf line 1: variable "x": .*unknown type \'strin\''):
        parse_module(folder)


def test_duplicate_variable_is_rejected(tmp_path):
    folder = _module(tmp_path, a_tf='variable "x" {}\n', b_tf='\n\nvariable "x" {}\n')
    with pytest.raises(SchemaError, match=r'b\.tf line 3: duplicate variable "x" \(first declared in a\.tf\)'):
        parse_module(folder)


def test_unknown_argument_is_rejected(tmp_path):
    folder = _module(tmp_path, variables_tf='variable "x" {\n  typo = string\n}\n')
    with pytest.raises(SchemaError, match=r'variables\.tf line 1: variable "x": unsupported argument "typo"'):
        parse_module(folder)


def test_folder_without_terraform_files(tmp_path):
    with pytest.raises(SchemaError, match="no \\*.tf files"):
        parse_module(tmp_path)


# --- parse_type ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, tree",
    [
        ("string", "string"),
        ("any", "any"),
        ("list", {"list": "any"}),
        ("map", {"map": "any"}),
        ("${list(string)}", {"list": "string"}),
        ("set(number)", {"set": "number"}),
        ("map(list(bool))", {"map": {"list": "bool"}}),
        ("tuple([string, number, list(bool)])", {"tuple": ["string", "number", {"list": "bool"}]}),
        ("tuple([])", {"tuple": []}),
        ("object({})", {"object": {}}),
        ('object({"quoted key" = string, b: number})', {"object": {"quoted key": "string", "b": "number"}}),
        (
            "${list(object({name = string, ports = list(number), extra = map(any)}))}",
            {"list": {"object": {"name": "string", "ports": {"list": "number"}, "extra": {"map": "any"}}}},
        ),
    ],
)
def test_parse_type(text, tree):
    assert parse_type(text) == tree


@pytest.mark.parametrize(
    "text", ["list(", "foo", "object({a = })", "string(x)", "list(string) x", "tuple(string)", "optional(string)", ""]
)
def test_parse_type_rejects_nonsense(text):
    with pytest.raises(SchemaError):
        parse_type(text)


# --- conform ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "type_tree, value, expected",
    [
        ("number", 5, 5),
        ("number", 2.0, 2),
        ("number", "5", 5),
        ("number", "2.5", 2.5),
        ("number", "+1e3", 1000),
        ("number", ".5", 0.5),
        ("string", "x", "x"),
        ("string", 5, "5"),
        ("string", 2.5, "2.5"),
        ("string", 1e20, "100000000000000000000"),
        ("string", True, "true"),
        ("string", False, "false"),
        ("bool", True, True),
        ("bool", "true", True),
        ("bool", "false", False),
        ("bool", "1", True),
        ("any", {"a": [1, "x", None]}, {"a": [1, "x", None]}),
        ({"list": "number"}, ["1", 2, 3.0], [1, 2, 3]),
        ({"list": "any"}, ["a", 1, True], ["a", "1", "true"]),
        ({"set": "string"}, ["b", "a", "b"], ["a", "b"]),
        ({"map": "string"}, {"a": 1, "b": True}, {"a": "1", "b": "true"}),
        ({"tuple": ["string", "number"]}, [1, "2"], ["1", 2]),
        ({"object": {"cpu": "number"}}, {"cpu": "256", "extra": "dropped"}, {"cpu": 256}),
        ({"list": {"object": {"a": {"map": "number"}}}}, [{"a": {"k": "1"}}], [{"a": {"k": 1}}]),
        ("string", None, None),
        ({"object": {"a": "string"}}, {"a": None}, {"a": None}),
    ],
)
def test_conform_converts_like_terraform(type_tree, value, expected):
    result = conform(type_tree, value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    "type_tree, value, path, message",
    [
        ("number", "five", "", "a number is required"),
        ("number", True, "replicas", "replicas: a number is required"),
        ("number", " 5", "", "a number is required"),
        ("number", "0x10", "", "a number is required"),
        ("bool", "yes", "", "a bool is required"),
        ("bool", 1, "", "a bool is required"),
        ("string", ["a"], "name", "name: a string is required"),
        ({"object": {"cpu": "number", "memory": "number"}}, {"cpu": "x", "memory": 1}, "size",
         "size.cpu: a number is required"),
        ({"object": {"cpu": "number", "memory": "number"}}, {"cpu": 1}, "size",
         'size: attribute "memory" is required'),
        ({"object": {"cpu": "number"}}, [1], "size", "size: an object is required"),
        ({"list": "string"}, ["a", ["b"]], "regions", "regions[1]: a string is required"),
        ({"list": "string"}, "a", "regions", "regions: a list is required"),
        ({"map": "number"}, {"a": "x"}, "limits", 'limits["a"]: a number is required'),
        ({"map": "number"}, [], "limits", "limits: a map is required"),
        ({"tuple": ["string", "number"]}, ["a"], "pair", "pair: a tuple of 2 elements is required, got 1"),
        ({"list": {"object": {"ports": {"list": "number"}}}}, [{"ports": [80, "http"]}], "services",
         "services[0].ports[1]: a number is required"),
        ({"list": "any"}, [1, True], "mixed", "mixed: all elements must have the same type"),
        ("any", {1, 2}, "", "set is not a JSON value"),
        ("number", "1e999999999", "", "a number is required"),  # refused rather than built as a huge integer
    ],
)
def test_conform_errors_name_the_path(type_tree, value, path, message):
    with pytest.raises(TypeMismatch) as raised:
        conform(type_tree, value, path)
    assert str(raised.value) == message


def test_type_mismatch_is_a_value_error():
    assert issubclass(TypeMismatch, ValueError)


# --- load_metadata ------------------------------------------------------------------------------------------


def test_metadata_defaults_come_from_the_folder_name(tmp_path):
    folder = tmp_path / "my-web_app"
    folder.mkdir()
    assert load_metadata(folder) == {
        "name": "My web app",
        "description": "",
        "category": "Uncategorized",
        "icon": "box",
        "version": "0.0.0",
    }


def test_metadata_fills_missing_fields(tmp_path):
    folder = tmp_path / "queue"
    folder.mkdir()
    (folder / "terrace.yaml").write_text("name: Job queue\nversion: 2.1\n")
    metadata = load_metadata(folder)
    assert metadata["name"] == "Job queue" and metadata["version"] == "2.1"
    assert metadata["category"] == "Uncategorized"


def test_invalid_metadata_yaml_names_the_line(tmp_path):
    (tmp_path / "terrace.yaml").write_text("name: ok\ndescription: [unclosed\ncategory: x\n")
    with pytest.raises(SchemaError, match=r"^terrace\.yaml line \d+: invalid YAML"):
        load_metadata(tmp_path)


def test_metadata_must_be_a_mapping(tmp_path):
    (tmp_path / "terrace.yaml").write_text("- a\n- b\n")
    with pytest.raises(SchemaError, match="expected a mapping"):
        load_metadata(tmp_path)


# --- The demo template is valid, formatted Terraform ---------------------------------------------------------


@pytest.mark.terraform
def test_hello_sandbox_is_formatted_and_valid_terraform(tmp_path):
    terraform_bin, env = offline_terraform_env(tmp_path)
    workdir = tmp_path / "hello-sandbox"
    shutil.copytree(HELLO_SANDBOX, workdir)
    for command in (["fmt", "-check", "-diff"], ["init", "-input=false", "-no-color"], ["validate", "-no-color"]):
        result = subprocess.run([terraform_bin, *command], cwd=workdir, env=env, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
