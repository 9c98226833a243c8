"""The catalogue and template pages, and the AWS templates going through the portal's import and Create form."""
import re
from html.parser import HTMLParser

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from environments.models import Template, TemplateShare, TemplateVersion
from environments.services import template_import_catalog, template_share
from rbac.models import Project
from tests.catalog.test_catalog_static import AWS_FOLDERS, CATALOG, RESERVED
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db


def _import(central, project, folder):
    version = template_import_catalog(central, CATALOG / folder, publish=True)
    template_share(version.template, project)
    return version


# --- The AWS templates in the portal ------------------------------------------------------------------------


@pytest.mark.parametrize("folder", AWS_FOLDERS)
def test_aws_template_imports_and_renders_a_create_form(client, central, project, developer, folder):
    version = _import(central, project, folder)
    assert version.state == TemplateVersion.PUBLISHED and version.source_ref == f"catalog/{folder}"
    assert version.metadata["estimated_monthly_cost"]["usd"] > 0
    assert version.changelog == "First release."
    client.force_login(developer)
    response = client.get(reverse("environments:create", args=[version.pk]) + f"?project={project.slug}")
    assert response.status_code == 200
    html = response.content.decode()
    for variable in version.variables:
        if variable["name"] in RESERVED:
            assert f'name="var_{variable["name"]}"' not in html  # filled in by the portal, never asked
            continue
        assert f'name="var_{variable["name"]}"' in html, variable["name"]
        assert variable["description"][:40] in html.replace("&#x27;", "'")
    sensitive = [v["name"] for v in version.variables if v["sensitive"]]
    for name in sensitive:
        assert re.search(rf'type="password"[^>]*name="var_{name}"|name="var_{name}"[^>]*type="password"', html)


def test_the_bedrock_model_is_a_picker_in_terrace_yaml(central, project):
    """The AWS integration turns it into a dropdown of the region's models and checks access before queueing."""
    from environments.aws import template_settings

    version = _import(central, project, "genai-ecs-bedrock")
    assert template_settings(version)["pickers"] == {"bedrock_model_id": "bedrock_model"}
    assert {v["name"]: v["type"] for v in version.variables}["bedrock_model_id"] == "string"


def test_a_bad_fargate_size_is_refused_next_to_its_field(client, central, project, developer):
    version = _import(central, project, "genai-ecs-bedrock")
    client.force_login(developer)
    data = {"name": "chat-env", "var_name": "chat", "var_container_image": "ghcr.io/acme/chat:1.0.0",
            "var_task_size": '{"cpu": 1024, "memory": 1536}'}
    for variable in version.variables:
        if not variable["required"] and f"var_{variable['name']}" not in data and variable["type"] == "bool":
            data[f"var_{variable['name']}"] = "false"
    response = client.post(reverse("environments:create", args=[version.pk]) + f"?project={project.slug}", data)
    assert response.status_code == 400
    assert "not a valid Fargate cpu/memory pair" in response.content.decode()
    assert not version.environments.exists()


def test_seed_publishes_the_aws_templates_in_the_central_project_without_sharing_them(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    call_command("terrace_seed", stdout=open(tmp_path / "out", "w"))
    genai = Project.objects.get(slug="genai")
    for folder in AWS_FOLDERS:
        template = Template.objects.get(project=genai, slug=folder)
        assert template.versions.get().state == TemplateVersion.PUBLISHED
        assert not TemplateShare.objects.filter(template=template).exists()
    sandbox = Template.objects.get(project=genai, slug="hello-sandbox")
    assert TemplateShare.objects.filter(template=sandbox, project__slug="dev-sandbox").exists()
    call_command("terrace_seed", stdout=open(tmp_path / "out", "w"))  # idempotent
    assert TemplateVersion.objects.filter(template__project=genai).count() == len(AWS_FOLDERS) + 1


# --- Catalogue page: scope, search, category, pager ---------------------------------------------------------


def _make_templates(owner, count, category="Containers", prefix="Tpl"):
    return Template.objects.bulk_create([
        Template(project=owner, slug=f"{prefix.lower()}-{n}", name=f"{prefix} {n:03d}", category=category,
                 description=f"Template number {n}") for n in range(count)
    ])


def test_the_catalogue_lists_only_templates_shared_with_the_users_projects(
    client, central, project, other_project, developer, outsider
):
    _import(central, project, "genai-ecs-bedrock")
    mine = template_import_catalog(central, CATALOG / "ai-on-eks", publish=True)
    template_share(mine.template, other_project)
    client.force_login(developer)
    html = client.get(reverse("catalog:list")).content.decode()
    assert 'data-template="genai-ecs-bedrock"' in html and 'data-template="ai-on-eks"' not in html
    assert "≈ $90 / month" in html and 'data-icon="chat"' in html
    client.force_login(outsider)
    html = client.get(reverse("catalog:list")).content.decode()
    assert 'data-template="ai-on-eks"' in html and 'data-template="genai-ecs-bedrock"' not in html


def test_search_matches_name_or_description_and_category_filters(client, central, project, developer):
    for folder in ("genai-ecs-bedrock", "ecs-model-serving", "ecs-continuous-deploy", "ai-on-eks"):
        _import(central, project, folder)
    client.force_login(developer)

    def listed(**params):
        html = client.get(reverse("catalog:list"), params).content.decode()
        return sorted(re.findall(r'data-template="([^"]+)"', html))

    assert listed(q="bedrock") == ["genai-ecs-bedrock"]  # in the description only
    assert listed(q="ECS") == ["ecs-continuous-deploy", "ecs-model-serving", "genai-ecs-bedrock"]  # names
    assert listed(category="Machine learning") == ["ai-on-eks", "ecs-model-serving"]
    assert listed(q="kuberay", category="Machine learning") == ["ai-on-eks"]
    assert listed(q="kuberay", category="Containers") == []
    html = client.get(reverse("catalog:list")).content.decode()
    for category in ("Containers", "Generative AI", "Machine learning"):
        assert f'<option value="{category}"' in html


def test_the_catalogue_is_paged_with_the_shared_pager_keeping_filters(client, central, project, developer):
    made = _make_templates(central, 30)
    TemplateShare.objects.bulk_create([TemplateShare(template=t, project=project) for t in made])
    client.force_login(developer)
    first = client.get(reverse("catalog:list"), {"category": "Containers", "q": "tpl"}).content.decode()
    assert first.count('class="card template-card"') == 24
    assert "Page 1 of 2" in first and "category=Containers" in first and "page=2" in first
    second = client.get(reverse("catalog:list"), {"category": "Containers", "q": "tpl", "page": 2}).content.decode()
    assert second.count('class="card template-card"') == 6 and "Tpl 029" in second


def test_the_catalogue_runs_a_constant_number_of_queries(client, central, project, developer):
    def queries():
        client.force_login(developer)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("catalog:list")).status_code == 200
        return len(ctx.captured_queries)

    _import(central, project, "genai-ecs-bedrock")
    few = queries()
    for folder in ("ecs-model-serving", "ecs-continuous-deploy", "ai-on-eks"):
        _import(central, project, folder)
    made = _make_templates(central, 15, prefix="More")
    TemplateShare.objects.bulk_create([TemplateShare(template=t, project=project) for t in made])
    assert queries() == few


# --- Template page ----------------------------------------------------------------------------------------


def test_template_page_shows_readme_variables_outputs_versions_cost_and_source(
    client, central, project, developer, settings
):
    settings.CATALOG_SOURCE_URL = "https://git.example.com/terrace/tree/main/catalog/"
    version = _import(central, project, "ecs-model-serving")
    client.force_login(developer)
    response = client.get(reverse("catalog:detail", args=[version.template.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Model serving on ECS</h1>" in html  # the README, rendered
    assert "<table>" in html and "<code>scaling.min_tasks</code>" in html
    for variable in version.variables:
        assert f'data-variable="{variable["name"]}"' in html
    for output in version.outputs:
        assert f'data-output="{output["name"]}"' in html
    assert 'data-version="1.0.0"' in html and "First release." in html
    assert "≈ $230 / month" in html and "us-east-1 on-demand" in html
    assert 'href="https://git.example.com/terrace/tree/main/catalog/ecs-model-serving"' in html
    assert "Machine learning" in html and 'data-icon="server"' in html
    assert "The scaling needs whole numbers" in html  # validation rules are shown
    create = reverse("environments:create", args=[version.pk]) + f"?project={project.slug}"
    assert f'href="{create}"' in html


def test_template_page_lists_every_version_with_its_changelog(client, central, project, developer, tmp_path):
    folder = tmp_path / "evolving"
    folder.mkdir()
    (folder / "main.tf").write_text('variable "size" {\n  type        = number\n  description = "Size."\n}\n')
    for number, changes in (("1.0.0", "First release."), ("1.1.0", "Bigger default size.")):
        (folder / "terrace.yaml").write_text(
            f"name: Evolving\nversion: {number}\nchangelog:\n  - version: {number}\n    changes: {changes}\n")
        (folder / "outputs.tf").write_text(f'output "v" {{\n  value = "{number}"\n}}\n')
        version = template_import_catalog(central, folder, publish=True)
    template_share(version.template, project)
    client.force_login(developer)
    html = client.get(reverse("catalog:detail", args=[version.template.pk])).content.decode()
    assert html.index('data-version="1.1.0"') < html.index('data-version="1.0.0"')
    assert "Bigger default size." in html and "First release." in html
    assert "No outputs." not in html and "Evolving" in html


def test_without_a_source_url_the_folder_is_shown_unlinked(client, central, project, developer, settings):
    settings.CATALOG_SOURCE_URL = ""
    version = _import(central, project, "genai-ecs-bedrock")
    client.force_login(developer)
    html = client.get(reverse("catalog:detail", args=[version.template.pk])).content.decode()
    assert "<code>catalog/genai-ecs-bedrock</code>" in html


def test_apply_phases_are_shown_on_the_template_page(client, central, project, developer):
    version = _import(central, project, "ai-on-eks")
    client.force_login(developer)
    html = client.get(reverse("catalog:detail", args=[version.template.pk])).content.decode()
    assert "Apply phases" in html and "<code>module.eks_data_addons</code>" in html


def test_no_raw_html_from_a_readme_reaches_the_page(client, central, project, developer, tmp_path):
    folder = tmp_path / "hostile"
    folder.mkdir()
    for name in ("main.tf", "variables.tf", "outputs.tf"):
        (folder / name).write_text((ROOT / "catalog" / "hello-sandbox" / name).read_text())
    (folder / "README.md").write_text(
        "# Hostile\n\n<script>alert('readme')</script>\n\n"
        "[click me](javascript:alert(1)) [also](JaVaScRiPt:alert(2)) [entity](&#106;avascript:alert(3))\n\n"
        "![img](javascript:alert(4)) <img src=x onerror=alert(5)> <a href=\"javascript:alert(6)\">raw</a>\n\n"
        "<iframe src=\"https://evil.example\"></iframe> <div onclick=\"alert(7)\">div</div>\n\n"
        "[fine](https://example.com/docs)\n"
    )
    version = template_import_catalog(central, folder, publish=True)
    template_share(version.template, project)
    client.force_login(developer)
    html = client.get(reverse("catalog:detail", args=[version.template.pk])).content.decode()
    readme = html[html.index('id="readme"'):]
    assert "<h1>Hostile</h1>" in readme
    assert "<script>alert" not in readme and "&lt;script&gt;" in readme  # shown as text
    elements = _elements(readme[:readme.index("</section>")])
    assert {tag for tag, _ in elements} <= {"section", "h1", "h3", "p", "a", "img"}
    for tag, attrs in elements:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        for name in ("href", "src"):
            assert not (attrs.get(name) or "").strip().lower().startswith(("javascript", "&#")), (tag, attrs)
        if tag == "img":
            assert "src" not in attrs  # its only URL was javascript:
    assert '<a href="https://example.com/docs" rel="noopener noreferrer nofollow">fine</a>' in readme


def _elements(html):
    """(tag, attributes) of every element in `html`, as a browser's parser sees them."""
    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

    Collector().feed(html)
    return found


def test_template_page_is_404_outside_the_users_scope(client, central, project, outsider):
    version = _import(central, project, "genai-ecs-bedrock")
    client.force_login(outsider)
    assert client.get(reverse("catalog:detail", args=[version.template.pk])).status_code == 404
