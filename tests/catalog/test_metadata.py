"""terrace.yaml's catalogue keys: lenient for imported templates, strict for the bundled catalogue."""
import pytest

from environments.metadata import changelog_for, metadata_read
from environments.schema import SchemaError

COMPLETE = """name: Queue
description: A job queue.
category: Containers
icon: box
version: 1.2.0
estimated_monthly_cost: {usd: 12.5, basis: one small task}
changelog:
  - version: 1.2.0
    changes: [Faster, Smaller]
  - version: 1.1.0
    changes: Older.
"""


def _folder(tmp_path, text):
    (tmp_path / "terrace.yaml").write_text(text)
    return tmp_path


def test_a_complete_file_reads_back(tmp_path):
    data = metadata_read(_folder(tmp_path, COMPLETE), strict=True)
    assert data["estimated_monthly_cost"] == {"usd": 12.5, "basis": "one small task"}
    assert data["changelog"][0] == {"version": "1.2.0", "changes": "- Faster\n- Smaller"}
    assert changelog_for(data, "1.1.0") == "Older." and changelog_for(data, "9.9.9") == ""
    assert data["apply_phases"] == []


def test_imported_templates_may_omit_the_catalogue_keys(tmp_path):
    assert metadata_read(tmp_path) == {"estimated_monthly_cost": {}, "changelog": [], "apply_phases": []}
    assert metadata_read(_folder(tmp_path, "name: x\n"))["changelog"] == []


@pytest.mark.parametrize("text,message", [
    ("name: x\n", "missing description, category, icon, version, estimated_monthly_cost, changelog"),
    (COMPLETE.replace("version: 1.2.0\nest", "version: one\nest"), "version must look like 1.2.3"),
    (COMPLETE.replace("  - version: 1.2.0\n    changes: [Faster, Smaller]\n", ""), "no entry for version 1.2.0"),
    (COMPLETE.replace("usd: 12.5", "usd: lots"), "usd must be a number"),
    (COMPLETE.replace("{usd: 12.5, basis: one small task}", "{usd: 3}"), "exactly usd and basis"),
    (COMPLETE.replace("icon: box", "icon: [a, b]"), "icon must be a single value"),
    (COMPLETE + "apply_phases:\n  - {name: one, targets: [\"module.vpc; rm -rf /\"]}\n", "not a -target address"),
    (COMPLETE + "apply_phases: [{name: one}]\n", "exactly name and targets"),
])
def test_strict_reading_names_what_is_wrong(tmp_path, text, message):
    with pytest.raises(SchemaError, match=message):
        metadata_read(_folder(tmp_path, text), strict=True)


def test_apply_phase_addresses(tmp_path):
    text = COMPLETE + (
        "apply_phases:\n  - name: a\n    targets:\n      - module.vpc\n      - aws_eks_access_entry.karpenter_node[0]\n"
        "      - module.a.module.b\n      - 'module.x[\"k\"]'\n      - data.aws_region.current\n"
        "  - {name: rest, targets: []}\n"
    )
    phases = metadata_read(_folder(tmp_path, text), strict=True)["apply_phases"]
    assert [len(p["targets"]) for p in phases] == [5, 0]


def test_an_uploaded_template_keeps_its_cost_changelog_and_phases(platform_admin, central):
    """The catalogue keys travel with any import, not only the bundled folders."""
    from environments.services import template_create, template_version_import_archive
    from tests.catalog.test_catalog_static import CATALOG
    from tests.environments.test_sources_archives import tar_gz

    folder = CATALOG / "ai-on-eks"
    data = tar_gz([(f"ai-on-eks/{p.name}", p.read_bytes(), {}) for p in sorted(folder.iterdir()) if p.is_file()])
    template = template_create(platform_admin, central, slug="eks-upload", name="EKS upload")
    version = template_version_import_archive(platform_admin, template, filename="eks.tgz", data=data,
                                              version="1.0.0")
    assert version.metadata["estimated_monthly_cost"]["usd"] == 400
    assert version.metadata["apply_phases"][0] == {"name": "network", "targets": ["module.vpc"]}
    assert version.changelog == "First release."  # from terrace.yaml, as the import form left it empty
    typed = template_version_import_archive(platform_admin, template, filename="eks.tgz", data=data,
                                            version="1.0.1", changelog="Typed in the form.")
    assert typed.changelog == "Typed in the form."


def test_a_malformed_catalogue_key_refuses_the_upload_with_the_reason(platform_admin, central):
    from environments.services import InvalidRequest, template_create, template_version_import_archive
    from tests.catalog.test_catalog_static import CATALOG
    from tests.environments.test_sources_archives import tar_gz

    folder = CATALOG / "genai-ecs-bedrock"
    entries = [(f"t/{p.name}", p.read_bytes(), {}) for p in sorted(folder.iterdir())
               if p.is_file() and p.name != "terrace.yaml"]
    entries.append(("t/terrace.yaml", b"name: x\nestimated_monthly_cost: {usd: cheap, basis: x}\n", {}))
    template = template_create(platform_admin, central, slug="bad-meta", name="Bad meta")
    with pytest.raises(InvalidRequest, match="usd must be a number"):
        template_version_import_archive(platform_admin, template, filename="t.tgz", data=tar_gz(entries),
                                        version="1.0.0")
    assert not template.versions.exists()
