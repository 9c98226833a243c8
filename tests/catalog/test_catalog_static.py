"""Static checks of every bundled catalogue template, with the code the portal itself uses.

No AWS account and no Terraform registry here: the templates are checked by parsing them with
`environments.schema` (the form builder's parser), by `terraform fmt`, by evaluating every validation rule
on good and bad examples with `environments.validation` (the form's evaluator) AND with a real `terraform plan`
over the template's variables.tf (so the form and Terraform agree), and by reading terrace.yaml and the
README. `terraform validate` needs the providers: see test_terraform_validate_with_a_local_aws_mirror.
"""

import json
import re
import shutil
import subprocess

import hcl2
import pytest
import yaml
from django.conf import settings

from environments import schema
from environments.metadata import metadata_read
from environments.templatetags.catalog import ICONS
from environments.validation import check_validations
from tests.catalog.conftest import aws_terraform_env
from tests.conftest import ROOT, offline_terraform_env

CATALOG = ROOT / "catalog"
FOLDERS = sorted(p.name for p in CATALOG.iterdir() if (p / "variables.tf").exists())
AWS_FOLDERS = ["ai-on-eks", "ecs-continuous-deploy", "ecs-model-serving", "genai-ecs-bedrock"]
# Templates whose providers are all in a local mirror (aws only); ai-on-eks needs registry modules, helm, ...
AWS_ONLY_FOLDERS = ["ecs-continuous-deploy", "ecs-model-serving", "genai-ecs-bedrock"]
RESERVED = {
    "terrace_environment_id": "terrace:environment-id",
    "terrace_environment_name": "terrace:environment",
    "terrace_project": "terrace:project",
    "terrace_owner": "terrace:owner",
}
CATEGORIES = {"Demo", "Generative AI", "Machine learning", "Containers"}

# Examples per variable name: (good values, bad values). Every variable with a validation rule in any
# template needs an entry (a test checks it), so a new rule cannot go untested. FOLDER_EXAMPLES override
# a name for one template whose rule differs.
EXAMPLES = {
    "region": (["us-east-1", "eu-west-3", "us-gov-west-1"], ["US-EAST-1", "us-east", "eu-west-0"]),
    "name": (["chat", "my-chat-01", "a" * 20], ["ab", "Chat", "chat-", "1chat", "a" * 21]),
    "container_image": (
        ["public.ecr.aws/acme/chat:1.4.0", "ghcr.io/acme/chat:v2",
         "123456789012.dkr.ecr.us-east-1.amazonaws.com/chat@sha256:" + "a" * 64],
        ["nginx", "acme/chat:", "Acme/Chat:1", "chat:latest tag"],
    ),
    "container_port": ([8080, 1, 65535], [0, 65536, 80.5]),
    "health_check_path": (["/health", "/", "/v1/models?ready=1"], ["health", "/he alth", ""]),
    "task_size": (
        [{"cpu": 256, "memory": 512}, {"cpu": 1024, "memory": 8192}, {"cpu": 4096, "memory": 30720},
         {"cpu": 8192, "memory": 20480}, {"cpu": 16384, "memory": 122880}],
        [{"cpu": 256, "memory": 4096}, {"cpu": 1024, "memory": 1536}, {"cpu": 300, "memory": 1024},
         {"cpu": 8192, "memory": 18432}, {"cpu": 4096, "memory": 31744}],
    ),
    "desired_count": ([0, 10], [-1, 11, 1.5]),
    "bedrock_model_id": (["anthropic.claude-3-haiku-20240307-v1:0", "amazon.titan-text-express-v1",
                          "us.anthropic.claude-3-5-sonnet-20240620-v1:0"], ["claude", "Anthropic.Claude-3", ""]),
    "additional_bedrock_model_ids": ([[], ["amazon.titan-text-express-v1", "meta.llama3-8b-instruct-v1:0"]],
                                     [["claude"], ["amazon.titan-text-express-v1", "Bad.Model"]]),
    "vpc_cidr": (["10.40.0.0/16", "192.168.4.0/24", "172.16.0.0/20"],
                 ["10.40.0.1/16", "10.0.0.0/8", "10.0.0.0/25", "10.0.0.0", "10.0.0.256/16"]),
    "existing_subnet_ids": ([[], ["subnet-0123abcd", "subnet-0123456789abcdef0"]],
                            [["subnet-0123abcd"], ["subnet-0123abcd", "sub-1"]]),
    "allowed_ingress_cidrs": ([["0.0.0.0/0"], ["203.0.113.0/24", "10.0.0.0/8"]],
                              [[], ["203.0.113.0"], ["300.1.1.1/8"]]),
    "log_retention_days": ([1, 30, 3653], [2, 0, 10000]),
    "app_environment": ([{}, {"LOG_LEVEL": "info", "_X1": "y"}], [{"1BAD": "x"}, {"WITH-DASH": "x"}]),
    "health_check_grace_seconds": ([0, 300, 7200], [-5, 7201, 1.5]),
    "model_id": (["", "meta-llama/Llama-3.2-1B-Instruct", "gpt2"], ["bad id", "/absolute", "x" * 201]),
    "scaling": (
        [{"min_tasks": 1, "max_tasks": 4, "cpu_target": 60}, {"min_tasks": 3, "max_tasks": 3, "cpu_target": 10}],
        [{"min_tasks": 5, "max_tasks": 2, "cpu_target": 60}, {"min_tasks": 0, "max_tasks": 2, "cpu_target": 60},
         {"min_tasks": 1, "max_tasks": 2, "cpu_target": 95}, {"min_tasks": 1, "max_tasks": 51, "cpu_target": 50}],
    ),
    "image_tag": (["", "1.0.0", "sha-3f2a1b", "v2_rc.1"], ["latest", ".hidden", "a b", "x" * 129]),
    "keep_images": ([1, 20, 1000], [0, 1001, 2.5]),
    "kubernetes_version": (["1.31", "1.28", "1.30"], ["1.27", "v1.31", "1.31.2"]),
    "core_node_instance_types": ([["m5.xlarge"], ["m6i.2xlarge", "c5.4xlarge"]], [[], ["m5xlarge"]]),
    "core_nodes": (
        [{"min": 2, "desired": 2, "max": 4}, {"min": 1, "desired": 3, "max": 20}],
        [{"min": 3, "desired": 2, "max": 4}, {"min": 0, "desired": 1, "max": 2}, {"min": 1, "desired": 1, "max": 21}],
    ),
    "gpu_instance_families": ([["g5"], ["p4d", "g6e"]], [[], ["m5"]]),
    "capacity_types": ([["spot"], ["spot", "on-demand"]], [[], ["reserved"]]),
    # hello-sandbox
    "app_name": (["demo", "my-app-1"], ["ab", "Demo", "1app"]),
    "replicas": ([1, 5], [0, 6, 2.5]),
    "regions": ([["eu-west-1"]], [[]]),
    "size": ([{"cpu": 256, "memory": 512}], [{"cpu": 300, "memory": 512}]),
    "step_seconds": ([0, 10], [-1, 11]),
}
FOLDER_EXAMPLES = {
    ("ai-on-eks", "vpc_cidr"): (["10.1.0.0/16", "10.2.0.0/20"], ["10.1.0.0/24", "10.1.0.5/16", "10.0.0.0/8"]),
}


def _examples(folder, name):
    return FOLDER_EXAMPLES.get((folder, name)) or EXAMPLES[name]


def _parsed(folder):
    return schema.parse_module(CATALOG / folder)


def _raw(folder, filename):
    """A file as python-hcl2 gives it (to see what the parsed schema normalises away, e.g. a missing type)."""
    return hcl2.loads((CATALOG / folder / filename).read_text(), serialization_options=schema.HCL_OPTIONS)


def _raw_all(folder):
    merged = {}
    for path in sorted((CATALOG / folder).glob("*.tf")):
        for key, blocks in _raw(folder, path.name).items():
            merged.setdefault(key, []).extend(blocks)
    return merged


def test_the_catalogue_has_the_expected_templates():
    assert set(AWS_FOLDERS) <= set(FOLDERS)
    assert "hello-sandbox" in FOLDERS


# --- Schema ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", FOLDERS)
def test_hcl_parses_with_the_portal_schema(folder):
    parsed = _parsed(folder)
    assert parsed["variables"] and parsed["outputs"]
    for name in ("main.tf", "variables.tf", "outputs.tf"):
        assert (CATALOG / folder / name).exists()
    if folder in AWS_FOLDERS:
        assert (CATALOG / folder / "versions.tf").exists()


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_variable_has_a_type_and_a_description(folder):
    raw = _raw_all(folder)
    for block in raw["variable"]:
        (name, body), = block.items()
        assert "type" in body, f"{folder}: variable {name} has no type"
        assert str(body.get("description", "")).strip(), f"{folder}: variable {name} has no description"
    for variable in _parsed(folder)["variables"]:
        assert variable["description"] and variable["type_expr"] != "any"


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_output_has_a_description(folder):
    for output in _parsed(folder)["outputs"]:
        assert output["description"], f"{folder}: output {output['name']} has no description"


@pytest.mark.parametrize("folder", AWS_FOLDERS)
def test_provider_versions_are_pinned(folder):
    terraform = _raw(folder, "versions.tf")["terraform"][0]
    assert terraform["required_version"].startswith(">= 1.")
    providers = terraform["required_providers"][0]
    assert "aws" in providers
    for name, spec in providers.items():
        constraint = spec["version"]
        # A lower bound and an upper bound below the next major version: no surprise majors.
        assert re.search(r">=\s*\d", constraint) and re.search(r"<\s*\d", constraint), (name, constraint)


@pytest.mark.parametrize("folder", AWS_FOLDERS)
def test_module_sources_are_pinned(folder):
    for block in _raw_all(folder).get("module", []):
        (name, body), = block.items()
        assert body["version"].startswith("~> "), f"{folder}: module {name} is not pinned"


@pytest.mark.parametrize("folder", FOLDERS)
def test_terraform_fmt_is_clean(folder, tmp_path):
    terraform_bin, env = offline_terraform_env(tmp_path)
    result = subprocess.run([terraform_bin, "fmt", "-check", "-recursive", "-diff", str(CATALOG / folder)],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# --- Tags, credentials, secrets ----------------------------------------------------------------------------


@pytest.mark.parametrize("folder", AWS_FOLDERS)
def test_reserved_tag_variables_are_declared_for_the_portal(folder):
    variables = {v["name"]: v for v in _parsed(folder)["variables"]}
    for name in RESERVED:
        variable = variables[name]
        assert variable["type"] == "string" and variable["default"] == "" and variable["description"]


@pytest.mark.parametrize("folder", AWS_FOLDERS)
def test_every_aws_resource_is_tagged_with_the_environment(folder):
    raw = _raw_all(folder)
    terrace_tags = next(block["terrace_tags"] for block in raw["locals"] if "terrace_tags" in block)
    assert terrace_tags == {key: f"${{var.{name}}}" for name, key in RESERVED.items()}
    providers = [block["aws"] for block in raw["provider"] if "aws" in block]
    default = [p for p in providers if "alias" not in p]
    assert len(default) == 1
    assert "local.terrace_tags" in default[0]["default_tags"][0]["tags"]
    # A second aws provider (ai-on-eks: public ECR tokens) creates nothing, it only reads a token.
    for aliased in (p for p in providers if "alias" in p):
        users = [b for kind in ("resource", "module") for b in raw.get(kind, []) if aliased["alias"] in json.dumps(b)]
        assert not users, f"{folder}: resources created through provider aws.{aliased['alias']} are untagged"


@pytest.mark.parametrize("folder", AWS_FOLDERS)
def test_templates_declare_no_credentials_and_keep_secrets_out_of_commands(folder):
    raw = _raw_all(folder)
    for block in raw["variable"]:
        (name, _body), = block.items()
        assert not re.search(r"access_key|secret_key|aws_session|profile", name), name
    for block in raw["provider"]:
        (name, body), = block.items()
        if name == "aws":
            assert not {"access_key", "secret_key", "token", "profile", "shared_credentials_files"} & set(body)
        elif "token" in body:  # kubernetes: a short-lived token read through the AWS provider, not an input
            assert body["token"] == "${data.aws_eks_cluster_auth.this.token}"
    text = "".join(path.read_text() for path in (CATALOG / folder).glob("*.tf"))
    assert "local-exec" not in text and "remote-exec" not in text
    for variable in _parsed(folder)["variables"]:
        if variable["sensitive"]:
            # A sensitive input may only reach a provider resource argument (SSM parameter, Helm set_sensitive).
            uses = re.findall(rf"^.*var\.{variable['name']}\b.*$", text, re.MULTILINE)
            assert uses and all(re.match(r"\s*(value|has_\w+|\w+\s*=\s*nonsensitive)", u) for u in uses), uses


# --- terrace.yaml and README -------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", FOLDERS)
def test_terrace_yaml_has_the_display_fields(folder):
    meta = schema.load_metadata(CATALOG / folder)
    raw = yaml.safe_load((CATALOG / folder / "terrace.yaml").read_text())
    assert set(schema.METADATA_FIELDS) <= set(raw), "name, description, category, icon, version all given"
    assert meta["category"] in CATEGORIES and meta["icon"] in ICONS
    metadata_read(CATALOG / folder)  # the optional catalogue keys, when present, have the right shape


# hello-sandbox keeps its 1.0.0 files: already imported installs would refuse changed files under the same
# version, and raising it is for a change of the template itself.
@pytest.mark.parametrize("folder", AWS_FOLDERS)
def test_terrace_yaml_is_complete(folder):
    meta = schema.load_metadata(CATALOG / folder)
    extra = metadata_read(CATALOG / folder, strict=True)  # raises on a missing key or a wrong shape
    assert meta["category"] in CATEGORIES
    assert meta["icon"] in ICONS
    assert len(meta["name"]) <= 200 and meta["description"]
    assert extra["estimated_monthly_cost"]["basis"]
    assert extra["changelog"][0]["version"] == meta["version"], "newest changelog entry first"


def test_apply_phases_target_addresses_that_exist():
    phases = metadata_read(CATALOG / "ai-on-eks", strict=True)["apply_phases"]
    assert [p["name"] for p in phases][-1] == "everything else" and phases[-1]["targets"] == []
    raw = _raw_all("ai-on-eks")
    modules = {name for block in raw["module"] for name in block}
    resources = {f"{kind}.{name}" for block in raw["resource"] for kind, named in block.items() for name in named}
    targets = [t for phase in phases for t in phase["targets"]]
    assert targets[0] == "module.vpc" and "module.eks" in targets
    for target in targets:
        if target.startswith("module."):
            assert target.removeprefix("module.") in modules, target
        else:
            assert target in resources, target
    readme = (CATALOG / "ai-on-eks" / "README.md").read_text()
    for target in targets:
        assert f"-target={target}" in readme


def _readme_section_names(readme, title):
    match = re.search(rf"^## {title}\s*$(.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL)
    assert match, f"no '## {title}' section"
    return [m.group(1) for m in re.finditer(r"^\|\s*`([A-Za-z0-9_]+)`", match.group(1), re.MULTILINE)]


@pytest.mark.parametrize("folder", FOLDERS)
def test_readme_lists_exactly_the_inputs_and_outputs(folder):
    readme = (CATALOG / folder / "README.md").read_text()
    parsed = _parsed(folder)
    assert sorted(_readme_section_names(readme, "Inputs")) == sorted(v["name"] for v in parsed["variables"])
    assert sorted(_readme_section_names(readme, "Outputs")) == sorted(o["name"] for o in parsed["outputs"])
    if folder in AWS_FOLDERS:
        assert re.search(r"^## Cost", readme, re.MULTILINE)


# --- Validation rules: the form's evaluator and Terraform, on good and bad examples --------------------------


def _validated(folder):
    return [v for v in _parsed(folder)["variables"] if v["validations"]]


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_validated_variable_has_examples(folder):
    missing = [v["name"] for v in _validated(folder) if (folder, v["name"]) not in FOLDER_EXAMPLES
               and v["name"] not in EXAMPLES]
    assert not missing


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_form_accepts_good_and_refuses_bad_examples(folder):
    for variable in _validated(folder):
        good, bad = _examples(folder, variable["name"])
        for value in good:
            assert check_validations(variable, value) == [], (variable["name"], value)
        for value in bad:
            errors = check_validations(variable, value)
            # A list of messages, not None: the form itself decides, nothing is left to a failed run.
            assert errors, (variable["name"], value, errors)
            assert set(errors) <= {rule["error_message"] for rule in variable["validations"]}
        if variable["has_default"]:
            assert check_validations(variable, variable["default"], is_default=True) == [], variable["name"]


def _required_values(folder):
    """Good values for every required variable, so that a plan gets past missing inputs."""
    return {v["name"]: _examples(folder, v["name"])[0][0] for v in _parsed(folder)["variables"] if v["required"]}


def _plan_variables(folder, workdir, values, terraform_bin, env):
    """`terraform plan` of the template's variables.tf alone with `values`; {variable: set of messages}."""
    (workdir / "input.auto.tfvars.json").write_text(json.dumps(values))
    plan = subprocess.run([terraform_bin, "plan", "-input=false", "-json", "-lock=false"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=120)
    text = (workdir / "variables.tf").read_text()
    starts = sorted((text.count("\n", 0, m.start()) + 1, m.group(1))
                    for m in re.finditer(r'^variable "([^"]+)"', text, re.MULTILINE))
    failures = {}
    for line in plan.stdout.splitlines():
        event = json.loads(line)
        if event.get("type") != "diagnostic" or event["diagnostic"]["severity"] != "error":
            continue
        diagnostic = event["diagnostic"]
        start = diagnostic["range"]["start"]["line"]
        name = [n for first, n in starts if first <= start][-1]
        failures.setdefault(name, set()).add(diagnostic["detail"].split("\n\nThis was checked")[0].strip())
    return failures, plan


@pytest.mark.terraform
@pytest.mark.parametrize("folder", FOLDERS)
def test_terraform_agrees_with_the_form_on_the_examples(folder, tmp_path):
    """All good examples pass a real plan; each round of bad examples fails exactly the expected rules."""
    terraform_bin, env = offline_terraform_env(tmp_path)
    workdir = tmp_path / "module"
    workdir.mkdir()
    shutil.copy(CATALOG / folder / "variables.tf", workdir)
    init = subprocess.run([terraform_bin, "init", "-input=false", "-no-color"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stdout + init.stderr
    validated = _validated(folder)
    good_rounds = max(len(_examples(folder, v["name"])[0]) for v in validated)
    for index in range(good_rounds):
        values = _required_values(folder)
        for variable in validated:
            good = _examples(folder, variable["name"])[0]
            values[variable["name"]] = good[index % len(good)]
        failures, plan = _plan_variables(folder, workdir, values, terraform_bin, env)
        assert failures == {} and plan.returncode == 0, (values, failures, plan.stderr[-2000:])
    bad_rounds = max(len(_examples(folder, v["name"])[1]) for v in validated)
    for index in range(bad_rounds):
        values, expected = _required_values(folder), {}
        for variable in validated:
            bad = _examples(folder, variable["name"])[1]
            if index < len(bad):
                values[variable["name"]] = bad[index]
                expected[variable["name"]] = set(check_validations(variable, bad[index]))
        failures, plan = _plan_variables(folder, workdir, values, terraform_bin, env)
        assert plan.returncode != 0
        assert failures == expected, values


# --- terraform validate, where the providers are available offline -------------------------------------------

@pytest.mark.terraform
@pytest.mark.parametrize("folder", AWS_ONLY_FOLDERS)
def test_terraform_validate_with_a_local_aws_mirror(folder, tmp_path, aws_mirror_config):
    workdir = tmp_path / folder
    shutil.copytree(CATALOG / folder, workdir)
    env = aws_terraform_env(tmp_path, aws_mirror_config)
    for command in (["init", "-input=false", "-no-color", "-backend=false"], ["validate", "-no-color"]):
        result = subprocess.run([settings.TERRAFORM_BIN, *command], cwd=workdir, env=env, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
