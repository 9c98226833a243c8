"""Git sources against real local repositories: file:// URLs and a `git http-backend` behind basic auth."""
import base64
import http.server
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from environments import sources
from environments.models import TemplateVersion
from environments.services import (
    InvalidRequest,
    template_create,
    template_git_set,
    template_version_import_git,
)
from rbac.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "catalog" / "hello-sandbox"
TOKEN = "s3cr3t-token-value"


def git(*args, cwd):
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A repository with the sandbox template under modules/sandbox: v1 tagged, then a second commit on main."""
    path = tmp_path / "repo"
    path.mkdir()
    git("init", "-q", "-b", "main", cwd=path)
    shutil.copytree(SANDBOX, path / "modules" / "sandbox")
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "v1", cwd=path)
    git("tag", "v1.0.0", cwd=path)
    first = git("rev-parse", "HEAD", cwd=path)
    with open(path / "modules" / "sandbox" / "variables.tf", "a") as fh:
        fh.write('\nvariable "owner_team" {\n  type    = string\n  default = "platform"\n}\n')
    git("commit", "-q", "-am", "v2", cwd=path)
    return {"path": path, "url": f"file://{path}", "v1": first, "head": git("rev-parse", "HEAD", cwd=path)}


@pytest.fixture(autouse=True)
def _allow_file(settings):
    settings.TEMPLATE_GIT_ALLOW_FILE = True


@pytest.fixture
def template(platform_admin, central):
    return template_create(platform_admin, central, slug="from-git", name="From Git")


def test_tag_branch_and_commit_import_with_the_resolved_commit(template, platform_admin, repo):
    template_git_set(platform_admin, template, url=repo["url"], path="modules/sandbox")
    v1 = template_version_import_git(platform_admin, template, version="1.0.0", ref="v1.0.0")
    v2 = template_version_import_git(platform_admin, template, version="2.0.0", ref="main")
    v1b = template_version_import_git(platform_admin, template, version="1.0.1", ref=repo["v1"])
    assert (v1.resolved_commit, v2.resolved_commit, v1b.resolved_commit) == (repo["v1"], repo["head"], repo["v1"])
    assert v1.source == TemplateVersion.GIT and v1.source_url == repo["url"] and v1.source_ref == "v1.0.0"
    assert v1.source_path == "modules/sandbox"
    assert "owner_team" not in {v["name"] for v in v1.variables}
    assert "owner_team" in {v["name"] for v in v2.variables}
    assert v1.snapshot_id == v1b.snapshot_id  # same files, same content address
    assert AuditEvent.objects.filter(action="template_version.import", object_id=str(v2.pk)).exists()


def test_snapshot_survives_the_repository(template, platform_admin, repo, tmp_path):
    from environments.services import snapshot_extract

    template_git_set(platform_admin, template, url=repo["url"], path="modules/sandbox")
    version = template_version_import_git(platform_admin, template, version="1", ref="main")
    shutil.rmtree(repo["path"])
    snapshot_extract(version.snapshot, tmp_path / "out")
    assert (tmp_path / "out" / "variables.tf").is_file()


def test_unknown_ref_missing_repo_and_bad_subdir_are_clear_errors(template, platform_admin, repo, tmp_path):
    template_git_set(platform_admin, template, url=repo["url"], path="modules/sandbox")
    with pytest.raises(InvalidRequest, match="git fetch failed"):
        template_version_import_git(platform_admin, template, version="1", ref="no-such-branch")
    with pytest.raises(InvalidRequest, match="does not exist"):
        template_version_import_git(platform_admin, template, version="1", ref="main", path="nope")
    with pytest.raises(InvalidRequest, match="git fetch failed"):
        template_version_import_git(platform_admin, template, version="1", url=f"file://{tmp_path}/missing")
    assert not TemplateVersion.objects.filter(template=template).exists()


def test_invalid_hcl_in_the_repo_names_file_and_line(template, platform_admin, repo):
    (repo["path"] / "modules" / "sandbox" / "outputs.tf").write_text('output "x" {\n  value = \n}\n')
    git("commit", "-q", "-am", "broken", cwd=repo["path"])
    template_git_set(platform_admin, template, url=repo["url"], path="modules/sandbox")
    with pytest.raises(InvalidRequest, match=r"outputs.tf line \d"):
        template_version_import_git(platform_admin, template, version="3", ref="main")
    assert not TemplateVersion.objects.filter(template=template).exists()


def test_symlink_leaving_the_repo_is_refused(template, platform_admin, repo):
    os.symlink("/etc/passwd", repo["path"] / "modules" / "sandbox" / "passwd.tf")
    git("add", "-A", cwd=repo["path"])
    git("commit", "-q", "-m", "link", cwd=repo["path"])
    template_git_set(platform_admin, template, url=repo["url"], path="modules/sandbox")
    with pytest.raises(InvalidRequest, match="symlink pointing outside"):
        template_version_import_git(platform_admin, template, version="3", ref="main")


@pytest.mark.parametrize("url", ["--upload-pack=touch /tmp/x", "ext::sh -c touch% /tmp/pwned", "/etc", "fd::3",
                                 "file:///x y"])
def test_dangerous_urls_are_refused(url, settings):
    settings.TEMPLATE_GIT_ALLOW_FILE = False
    with pytest.raises(sources.SourceError):
        sources.git_url_check(url)


@pytest.mark.parametrize("ref", ["--output=/tmp/x", "a..b", "ref with space"])
def test_dangerous_refs_are_refused(ref):
    with pytest.raises(sources.SourceError):
        sources.git_ref_check(ref)


def test_file_urls_need_the_setting(settings, repo):
    settings.TEMPLATE_GIT_ALLOW_FILE = False
    with pytest.raises(sources.SourceError, match="Unsupported"):
        sources.git_url_check(repo["url"])


def test_deploy_key_goes_to_a_private_temp_file_never_argv(tmp_path):
    env = sources.git_env(tmp_path, "ssh_key", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
    key = tmp_path / "deploy_key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert f"-i {key}" in env["GIT_SSH_COMMAND"] and "IdentitiesOnly=yes" in env["GIT_SSH_COMMAND"]
    assert "BEGIN" not in env["GIT_SSH_COMMAND"]


# --- A private repository over HTTP with a token --------------------------------------------------------

class _GitHTTP(http.server.BaseHTTPRequestHandler):
    """Smart HTTP through `git http-backend` (CGI), behind basic auth requiring TOKEN as the password."""

    project_root = None
    seen_auth = []

    def log_message(self, *args):
        pass

    def _handle(self):
        auth = self.headers.get("Authorization", "")
        ok = auth.startswith("Basic ") and base64.b64decode(auth[6:]).decode().split(":", 1)[-1] == TOKEN
        self.seen_auth.append(bool(auth))
        if not ok:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {"GIT_PROJECT_ROOT": self.project_root, "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path,
               "QUERY_STRING": query, "REQUEST_METHOD": self.command, "CONTENT_TYPE": self.headers.get(
                   "Content-Type", ""), "CONTENT_LENGTH": str(len(body)), "REMOTE_USER": "token",
               "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""), "PATH": os.environ["PATH"]}
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(": ")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _handle


@pytest.fixture
def http_repo(repo):
    bare = repo["path"].parent / "served.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo["path"]), str(bare)], check=True)
    handler = type("H", (_GitHTTP,), {"project_root": str(bare.parent), "seen_auth": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {**repo, "url": f"http://127.0.0.1:{server.server_address[1]}/served.git", "handler": handler}
    server.shutdown()


def test_private_repo_with_token_imports_and_token_stays_secret(template, platform_admin, http_repo):
    # Without a credential the server refuses.
    template_git_set(platform_admin, template, url=http_repo["url"], path="modules/sandbox")
    with pytest.raises(InvalidRequest, match="git fetch failed"):
        template_version_import_git(platform_admin, template, version="1", ref="main")
    template_git_set(platform_admin, template, url=http_repo["url"], path="modules/sandbox",
                     credential_kind="token", credential=TOKEN)
    template.refresh_from_db()
    assert TOKEN not in template.git_credential  # encrypted at rest
    version = template_version_import_git(platform_admin, template, version="1", ref="main")
    assert version.resolved_commit == http_repo["head"]
    assert any(http_repo["handler"].seen_auth)
    # The token is never in the audit trail.
    assert not any(TOKEN in str(e.data) for e in AuditEvent.objects.all())


def test_wrong_token_error_does_not_echo_the_token(template, platform_admin, http_repo):
    template_git_set(platform_admin, template, url=http_repo["url"], path="modules/sandbox",
                     credential_kind="token", credential="wrong-" + TOKEN)
    with pytest.raises(InvalidRequest) as exc:
        template_version_import_git(platform_admin, template, version="1", ref="main")
    assert TOKEN not in str(exc.value)


# --- A private repository over SSH with a deploy key (a real sshd on loopback) -----------------------------

SSHD = "/usr/sbin/sshd"


def _keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.read_text(), (path.parent / (path.name + ".pub")).read_text()


@pytest.fixture
def ssh_repo(repo, tmp_path):
    """sshd on 127.0.0.1 (Debian's openssh-server, installed by .ci/run) accepting only a fresh deploy key."""
    import getpass
    import socket
    import time

    from tests.conftest import free_port

    assert os.path.exists(SSHD), "openssh-server is not installed (.ci/run installs it)"
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    folder = tmp_path / "sshd"
    folder.mkdir()
    _, host_pub = _keygen(folder / "host_key")
    deploy_key, deploy_pub = _keygen(folder / "deploy")
    (folder / "authorized_keys").write_text(deploy_pub)
    port = free_port()
    user = getpass.getuser()
    (folder / "sshd_config").write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {folder / 'host_key'}
PidFile {folder / 'sshd.pid'}
AuthorizedKeysFile {folder / 'authorized_keys'}
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowUsers {user}
""")
    log = open(folder / "sshd.log", "w")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(folder / "sshd_config")], stdout=log,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_pub}")
    yield {**repo, "url": f"ssh://{user}@127.0.0.1:{port}{repo['path']}", "key": deploy_key,
           "known_hosts": known_hosts, "log": folder / "sshd.log"}
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def test_private_repo_over_ssh_with_a_deploy_key(template, platform_admin, ssh_repo, settings):
    settings.TEMPLATE_GIT_KNOWN_HOSTS = str(ssh_repo["known_hosts"])
    template_git_set(platform_admin, template, url=ssh_repo["url"], path="modules/sandbox")
    with pytest.raises(InvalidRequest, match="git fetch failed"):  # no key: refused by sshd
        template_version_import_git(platform_admin, template, version="1", ref="main")
    template_git_set(platform_admin, template, url=ssh_repo["url"], path="modules/sandbox",
                     credential_kind="ssh_key", credential=ssh_repo["key"])
    template.refresh_from_db()
    assert "PRIVATE KEY" not in template.git_credential
    version = template_version_import_git(platform_admin, template, version="1", ref="v1.0.0")
    assert version.resolved_commit == ssh_repo["v1"]
    assert "Accepted publickey" in ssh_repo["log"].read_text()


def test_ssh_host_key_must_match_the_pinned_one(template, platform_admin, ssh_repo, settings, tmp_path):
    wrong = tmp_path / "wrong_known_hosts"
    _, other_pub = _keygen(tmp_path / "other_host")
    port = ssh_repo["url"].split(":")[2].split("/")[0]
    wrong.write_text(f"[127.0.0.1]:{port} {other_pub}")
    settings.TEMPLATE_GIT_KNOWN_HOSTS = str(wrong)
    template_git_set(platform_admin, template, url=ssh_repo["url"], path="modules/sandbox",
                     credential_kind="ssh_key", credential=ssh_repo["key"])
    with pytest.raises(InvalidRequest, match="git fetch failed.*(?i:host key)"):
        template_version_import_git(platform_admin, template, version="1", ref="main")


def test_too_big_a_repository_is_refused(template, platform_admin, repo, settings):
    (repo["path"] / "blob.bin").write_bytes(os.urandom(200_000))
    git("add", "-A", cwd=repo["path"])
    git("commit", "-q", "-m", "big", cwd=repo["path"])
    settings.TEMPLATE_MAX_BYTES = 40_000
    template_git_set(platform_admin, template, url=repo["url"], path="modules/sandbox")
    with pytest.raises(InvalidRequest, match="The fetched commit is .* too big"):
        template_version_import_git(platform_admin, template, version="1", ref="main")
    settings.TEMPLATE_MAX_BYTES = 60_000  # 200 KB checked out is still over the tree limit
    with pytest.raises(InvalidRequest, match="too big"):
        template_version_import_git(platform_admin, template, version="1", ref="main")
