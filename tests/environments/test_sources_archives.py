"""Uploaded archives: good ones import, unsafe ones are refused with a reason and nothing is written."""
import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from environments import sources
from environments.models import Snapshot, TemplateVersion
from environments.services import InvalidRequest, template_create, template_version_import_archive

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "catalog" / "hello-sandbox"


def tar_gz(entries):
    """entries: (name, bytes | None for a dir, {"link": target, "hard": bool, "type": ...})."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data, extra in entries:
            info = tarfile.TarInfo(name)
            if extra.get("link") is not None:
                info.type = tarfile.LNKTYPE if extra.get("hard") else tarfile.SYMTYPE
                info.linkname = extra["link"]
                tar.addfile(info)
            elif extra.get("type"):
                info.type = extra["type"]
                tar.addfile(info)
            elif data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_bytes(entries, compression=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data, extra in entries:
            if extra.get("link") is not None:
                info = zipfile.ZipInfo(name)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, extra["link"])
            else:
                zf.writestr(name, data)
    return buf.getvalue()


def sandbox_entries(prefix=""):
    return [(prefix + p.name, p.read_bytes(), {}) for p in sorted(SANDBOX.iterdir()) if p.is_file()]


@pytest.fixture
def template(platform_admin, central):
    return template_create(platform_admin, central, slug="uploaded", name="Uploaded")


@pytest.mark.parametrize("pack", [tar_gz, zip_bytes])
def test_good_archive_imports_as_a_draft_with_its_schema(pack, template, platform_admin):
    data = pack(sandbox_entries("hello-sandbox-main/"))  # one top folder, as GitHub's archives have
    version = template_version_import_archive(platform_admin, template, filename="t.tgz", data=data, version="1.0.0")
    assert version.state == TemplateVersion.DRAFT
    assert version.source == TemplateVersion.UPLOAD
    assert {v["name"] for v in version.variables} >= {"app_name", "replicas", "size"}
    assert version.resolved_commit  # sha256 of the upload
    assert Snapshot.objects.filter(pk=version.snapshot_id).exists()


UNSAFE = [
    ("traversal", [("../evil.tf", b"x", {})], "path traversal"),
    ("nested traversal", [("a/../../evil.tf", b"x", {})], "path traversal"),
    ("absolute", [("/etc/evil.tf", b"x", {})], "absolute path"),
    ("symlink out", [("variables.tf", b"", {}), ("link", None, {"link": "../../etc/passwd"})], "symlink"),
    ("absolute symlink", [("variables.tf", b"", {}), ("link", None, {"link": "/etc/passwd"})], "symlink"),
]


@pytest.mark.parametrize("pack", [tar_gz, zip_bytes])
@pytest.mark.parametrize("case, entries, reason", UNSAFE, ids=[c[0] for c in UNSAFE])
def test_unsafe_archive_is_refused_with_a_reason(pack, case, entries, reason, template, platform_admin, tmp_path):
    data = pack(entries)
    with pytest.raises(InvalidRequest, match=reason):
        template_version_import_archive(platform_admin, template, filename="bad", data=data, version="1.0.0")
    assert not TemplateVersion.objects.filter(template=template).exists()
    assert not (tmp_path.parent / "evil.tf").exists()


def test_tar_hard_link_and_device_are_refused(template, platform_admin):
    data = tar_gz([("variables.tf", b"", {}), ("h", None, {"link": "../../etc/passwd", "hard": True})])
    with pytest.raises(InvalidRequest, match="hard link"):
        template_version_import_archive(platform_admin, template, filename="a.tgz", data=data, version="1")
    data = tar_gz([("variables.tf", b"", {}), ("dev", None, {"type": tarfile.CHRTYPE})])
    with pytest.raises(InvalidRequest, match="special files"):
        template_version_import_archive(platform_admin, template, filename="a.tgz", data=data, version="1")


def test_symlink_inside_the_tree_is_kept_as_its_file(template, platform_admin):
    entries = sandbox_entries() + [("docs", None, {}), ("docs/README.md", b"# hi", {}),
                                   ("HELP.md", None, {"link": "docs/README.md"})]
    version = template_version_import_archive(platform_admin, template, filename="a.tgz", data=tar_gz(entries),
                                              version="1")
    assert version.snapshot_id


@pytest.mark.parametrize("pack", [tar_gz, zip_bytes])
def test_too_many_files_is_refused(pack, template, platform_admin, settings):
    settings.TEMPLATE_MAX_FILES = 20
    data = pack([(f"f{i}.tf", b"", {}) for i in range(21)])
    with pytest.raises(InvalidRequest, match="More than 20 files"):
        template_version_import_archive(platform_admin, template, filename="a", data=data, version="1")


def test_tar_bomb_is_stopped_while_streaming(template, platform_admin, settings):
    settings.TEMPLATE_MAX_BYTES = 5 * 1024 * 1024
    data = tar_gz([("variables.tf", b"", {}), ("zeros.bin", b"\0" * (50 * 1024 * 1024), {})])
    assert len(data) < 200 * 1024  # 50 MiB of zeros packs to ~50 KiB
    with pytest.raises(InvalidRequest, match="MiB|expands"):
        template_version_import_archive(platform_admin, template, filename="bomb.tgz", data=data, version="1")


def test_zip_bomb_with_lying_header_is_stopped_by_the_ratio(template, platform_admin, tmp_path):
    """A zip whose central directory claims a small size: the streamed byte count catches it."""
    data = zip_bytes([("variables.tf", b"", {}), ("zeros.bin", b"\0" * (20 * 1024 * 1024), {})])
    # Rewrite the declared uncompressed size (local header and central directory) to 1 KiB.
    real = (20 * 1024 * 1024).to_bytes(4, "little")
    data = data.replace(real, (1024).to_bytes(4, "little"))
    with pytest.raises(InvalidRequest, match="expands|readable"):
        template_version_import_archive(platform_admin, template, filename="bomb.zip", data=data, version="1")


def test_zip_ratio_bomb_is_refused(template, platform_admin):
    data = zip_bytes([("variables.tf", b"", {}), ("zeros.bin", b"\0" * (15 * 1024 * 1024), {})])
    with pytest.raises(InvalidRequest, match="expands more than"):
        template_version_import_archive(platform_admin, template, filename="bomb.zip", data=data, version="1")


def test_not_an_archive_is_refused(template, platform_admin):
    with pytest.raises(InvalidRequest, match="not a .zip or .tar.gz"):
        template_version_import_archive(platform_admin, template, filename="x.txt", data=b"hello", version="1")


def test_invalid_hcl_names_file_and_line_and_saves_nothing(template, platform_admin):
    entries = sandbox_entries() + [("broken.tf", b'resource "null_resource" "x" {\n  triggers = {\n', {})]
    before = Snapshot.objects.count()
    with pytest.raises(InvalidRequest, match=r"broken.tf line \d+"):
        template_version_import_archive(platform_admin, template, filename="a.tgz", data=tar_gz(entries),
                                        version="1")
    assert not TemplateVersion.objects.filter(template=template).exists()
    assert Snapshot.objects.count() == before


def test_missing_variables_file_is_a_clear_error(template, platform_admin):
    data = tar_gz([("main.tf", b'resource "null_resource" "x" {}\n', {})])
    with pytest.raises(InvalidRequest, match="variables.tf not found"):
        template_version_import_archive(platform_admin, template, filename="a.tgz", data=data, version="1")


def test_subdirectory_may_not_leave_the_archive(template, platform_admin):
    data = tar_gz(sandbox_entries("mods/sandbox/"))
    with pytest.raises(InvalidRequest, match="inside the repository"):
        template_version_import_archive(platform_admin, template, filename="a.tgz", data=data, version="1",
                                        path="../..")
    version = template_version_import_archive(platform_admin, template, filename="a.tgz", data=data,
                                              version="1", path="mods/sandbox")
    assert version.source_path == "mods/sandbox"


def test_link_inside_helper():
    from pathlib import PurePosixPath

    assert sources._link_inside(PurePosixPath("a/b"), "../c")
    assert not sources._link_inside(PurePosixPath("a/b"), "../../c")
    assert not sources._link_inside(PurePosixPath("b"), "/etc")
