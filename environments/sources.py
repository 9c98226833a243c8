"""Where template versions come from: a Git repository or an uploaded archive, fetched into a temporary folder.

Import runs in the web process (it never runs Terraform, only `git` and the HCL parser), so the platform admin
gets the error on the form at once; it is kept bounded: `git` has a timeout, a clone and an archive have size
and file-count limits, and an archive is checked entry by entry before anything is written.

Git is the `git` binary run with an argv list (never a shell). Credentials never reach argv or logs: a deploy
key goes to a 0600 temporary file named in `GIT_SSH_COMMAND`; a token is handed to git by an askpass script
that reads it from the child's environment.
"""
import io
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from django.conf import settings


class SourceError(Exception):
    """A source that cannot be imported; the message says why (and is safe to show: no secrets)."""


def _limit(name, default):
    return int(getattr(settings, name, default))


def max_bytes():
    """Largest template accepted (uncompressed), in bytes."""
    return _limit("TEMPLATE_MAX_BYTES", 20 * 1024 * 1024)


def max_files():
    return _limit("TEMPLATE_MAX_FILES", 2000)


MAX_RATIO = 200  # uncompressed / compressed beyond which an archive counts as a bomb (text compresses ~10x)
RATIO_FLOOR = 1024 * 1024  # below this many uncompressed bytes the ratio does not matter
CHUNK = 64 * 1024


# --- Folders ------------------------------------------------------------------------------------------------

def subfolder(root: Path, path: str) -> Path:
    """`root/path`, refusing a path that leaves `root` (absolute, `..`, or through a symlink)."""
    path = (path or "").strip().strip("/")
    if not path:
        return root
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts:
        raise SourceError(f"The subdirectory {path!r} must be a relative path inside the repository.")
    folder = (root / pure).resolve()
    if not folder.is_relative_to(root.resolve()):
        raise SourceError(f"The subdirectory {path!r} leaves the repository.")
    if not folder.is_dir():
        raise SourceError(f"The subdirectory {path!r} does not exist.")
    return folder


def check_tree(root: Path):
    """Refuse a fetched tree that is too big or has symlinks pointing outside of it."""
    root_resolved = root.resolve()
    total = count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root)
            if path.is_symlink():
                target = (path.parent / os.readlink(path)).resolve()
                if not target.is_relative_to(root_resolved):
                    raise SourceError(f"{rel}: a symlink pointing outside the template ({os.readlink(path)}).")
            if name in filenames and not path.is_symlink():
                count += 1
                total += path.lstat().st_size
        if count > max_files():
            raise SourceError(f"More than {max_files()} files: not a Terraform template, or too big to import.")
        if total > max_bytes():
            raise SourceError(f"More than {max_bytes() // (1024 * 1024)} MiB of files: too big to import.")


# --- Git ----------------------------------------------------------------------------------------------------

# https://, http://, ssh://, git://, scp-like user@host:path; file:// only where settings allow it (tests,
# single-machine setups): on a shared server it would let an importer read the server's own repositories.
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$")
_REF = re.compile(r"^[A-Za-z0-9._/@{}^~+-]{1,200}$")


def git_url_check(url: str):
    """Refuse URLs that git would treat as options or as a transport we do not allow (ext::, fd::)."""
    url = (url or "").strip()
    if not url or url.startswith("-") or any(c.isspace() for c in url):
        raise SourceError("Enter a Git repository URL.")
    schemes = ["https://", "http://", "ssh://", "git://"]
    if getattr(settings, "TEMPLATE_GIT_ALLOW_FILE", False):
        schemes.append("file://")
    if not (any(url.startswith(s) for s in schemes) or _SCP_LIKE.match(url)):
        raise SourceError("Unsupported repository URL: use https://, ssh:// or user@host:path.")
    return url


def git_ref_check(ref: str):
    ref = (ref or "").strip() or "HEAD"
    if ref.startswith("-") or not _REF.match(ref) or ".." in ref:
        raise SourceError(f"Invalid Git ref {ref!r}.")
    return ref


_ASKPASS = """#!/bin/sh
case "$1" in
  Username*|username*) printf '%s\\n' "${TERRACE_GIT_USERNAME:-x-access-token}" ;;
  *) printf '%s\\n' "$TERRACE_GIT_TOKEN" ;;
esac
"""


def _ssh_command(tmp: Path):
    """ssh without prompts or user config. With TEMPLATE_GIT_KNOWN_HOSTS the server's host key must be listed
    there; without it the first key seen is accepted (each import starts from an empty known_hosts)."""
    known_hosts = getattr(settings, "TEMPLATE_GIT_KNOWN_HOSTS", "")
    if known_hosts:
        checking = f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={known_hosts}"
    else:
        checking = f"-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={tmp / 'known_hosts'}"
    return f"ssh -F /dev/null -o BatchMode=yes {checking}"


def git_env(tmp: Path, credential_kind="", credential=""):
    """The environment for `git`: an allow-list (nothing of the portal's own), no prompts, no user config,
    and the credential wired in without touching argv."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "LANG": "C",
        "GIT_SSH_COMMAND": _ssh_command(tmp),
    }
    if credential_kind == "ssh_key" and credential:
        key = tmp / "deploy_key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(credential.strip() + "\n")
        env["GIT_SSH_COMMAND"] += f" -o IdentitiesOnly=yes -i {key}"
    elif credential_kind == "token" and credential:
        askpass = tmp / "askpass.sh"
        fd = os.open(askpass, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
        with os.fdopen(fd, "w") as fh:
            fh.write(_ASKPASS)
        env["GIT_ASKPASS"] = str(askpass)
        env["TERRACE_GIT_TOKEN"] = credential.strip()
    return env


def _git(args, cwd, env, secrets=(), timeout=None):
    """Run git with a fixed option prefix: no credential helper (so tokens go only through askpass), no ext::
    transport. Errors are returned with any secret masked."""
    argv = ["git", "-c", "credential.helper=", "-c", "protocol.ext.allow=never", "-c", "core.hooksPath=/dev/null",
            *args]
    try:
        result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                                timeout=timeout or _limit("TEMPLATE_GIT_TIMEOUT", 60))
    except subprocess.TimeoutExpired as exc:
        raise SourceError(f"git {args[0]} took longer than {exc.timeout:.0f} s; giving up.") from exc
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        text = " ".join(line for line in message if line.strip())[-500:] or f"exit code {result.returncode}"
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        raise SourceError(f"git {args[0]} failed: {text}")
    return result.stdout


@contextmanager
def git_checkout(url, ref="", path="", credential_kind="", credential=""):
    """Fetch `ref` of `url` (shallow) into a temporary folder; yields (folder of `path`, resolved commit).

    The folder is removed on exit, with the key or askpass file in it.
    """
    url = git_url_check(url)
    ref = git_ref_check(ref)
    tmp = Path(tempfile.mkdtemp(prefix="terrace-git-"))
    try:
        env = git_env(tmp, credential_kind, credential)
        repo = tmp / "repo"
        secrets = (credential,) if credential else ()
        _git(["init", "-q", str(repo)], tmp, env, secrets)
        # `--` ends options: neither URL nor ref can be taken for a flag.
        _git(["fetch", "-q", "--depth=1", "--no-tags", "--", url, ref], repo, env, secrets)
        fetched = sum(f.stat().st_size for f in (repo / ".git").rglob("*") if f.is_file())
        if fetched > 4 * max_bytes():  # compressed history of one commit: far above any template
            raise SourceError(f"The fetched commit is {fetched // (1024 * 1024)} MiB: too big to import.")
        _git(["-c", "advice.detachedHead=false", "checkout", "-q", "FETCH_HEAD"], repo, env, secrets)
        commit = _git(["rev-parse", "HEAD"], repo, env, secrets).strip()
        shutil.rmtree(repo / ".git", ignore_errors=True)
        check_tree(repo)
        yield subfolder(repo, path), commit
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- Archives -----------------------------------------------------------------------------------------------

def _safe_name(name: str) -> PurePosixPath:
    """The entry's path, or SourceError for an absolute path, a drive, or `..`."""
    if "\x00" in name:
        raise SourceError(f"{name!r}: a NUL byte in a file name.")
    cleaned = name.replace("\\", "/")
    pure = PurePosixPath(cleaned)
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", cleaned):
        raise SourceError(f"{name}: absolute path in the archive.")
    if ".." in pure.parts:
        raise SourceError(f"{name}: path traversal ('..') in the archive.")
    return pure


def _link_inside(entry: PurePosixPath, target: str) -> bool:
    """True when a symlink at `entry` pointing to `target` stays inside the archive root."""
    if target.startswith("/"):
        return False
    depth = 0
    for part in (entry.parent / target).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part not in ("", "."):
            depth += 1
    return True


class _Budget:
    """Counts files and uncompressed bytes against the limits while an archive is unpacked."""

    def __init__(self, compressed_size):
        self.compressed = max(compressed_size, 1)
        self.bytes = 0
        self.files = 0

    def add_file(self, name):
        self.files += 1
        if self.files > max_files():
            raise SourceError(f"More than {max_files()} files in the archive.")

    def add_bytes(self, n, name):
        self.bytes += n
        if self.bytes > max_bytes():
            raise SourceError(
                f"{name}: the archive unpacks to more than {max_bytes() // (1024 * 1024)} MiB; refused.")
        if self.bytes > RATIO_FLOOR and self.bytes / self.compressed > MAX_RATIO:
            raise SourceError(
                f"{name}: the archive expands more than {MAX_RATIO} times its size (a zip bomb?); refused.")


def _write_stream(src, dest: Path, budget, name):
    """Copy a member's data in chunks, counting real bytes: declared sizes in headers can lie."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as out:
        while True:
            chunk = src.read(CHUNK)
            if not chunk:
                break
            budget.add_bytes(len(chunk), name)
            out.write(chunk)


def _target(root: Path, pure: PurePosixPath) -> Path:
    dest = root.joinpath(*pure.parts)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.parent.resolve().is_relative_to(root.resolve()):  # a symlinked folder earlier in the archive
        raise SourceError(f"{pure}: would be written outside the template through a symlink.")
    return dest


def _extract_tar(data: bytes, root: Path):
    budget = _Budget(len(data))
    try:
        # Stream mode: members are read in order, data never seeked, so a bomb is caught as it expands.
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|*") as tar:
            for member in tar:
                pure = _safe_name(member.name)
                if not pure.parts or pure.parts == (".",):
                    continue
                budget.add_file(member.name)
                if member.issym() or member.islnk():
                    if member.islnk() or not _link_inside(pure, member.linkname):
                        kind = "hard link" if member.islnk() else "symlink"
                        raise SourceError(f"{member.name}: a {kind} pointing outside the template "
                                          f"({member.linkname}); refused.")
                    dest = _target(root, pure)
                    os.symlink(member.linkname, dest)
                elif member.isdir():
                    _target(root, pure / "x")
                elif member.isfile():
                    if member.size > max_bytes():
                        raise SourceError(f"{member.name}: larger than {max_bytes() // (1024 * 1024)} MiB.")
                    _write_stream(tar.extractfile(member), _target(root, pure), budget, member.name)
                else:
                    raise SourceError(f"{member.name}: devices, FIFOs and other special files are not allowed.")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise SourceError(f"Not a readable .tar.gz archive ({exc}).") from exc


def _extract_zip(data: bytes, root: Path):
    budget = _Budget(len(data))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > max_files():
                raise SourceError(f"More than {max_files()} files in the archive.")
            declared = sum(info.file_size for info in infos)
            if declared > max_bytes():
                raise SourceError(f"The archive unpacks to more than {max_bytes() // (1024 * 1024)} MiB; refused.")
            for info in infos:
                pure = _safe_name(info.filename)
                budget.add_file(info.filename)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    target = archive.read(info).decode("utf-8", "replace")
                    if not _link_inside(pure, target):
                        raise SourceError(f"{info.filename}: a symlink pointing outside the template ({target}); "
                                          "refused.")
                    os.symlink(target, _target(root, pure))
                elif info.is_dir():
                    _target(root, pure / "x")
                else:
                    with archive.open(info) as src:
                        _write_stream(src, _target(root, pure), budget, info.filename)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, zlib.error) as exc:
        raise SourceError(f"Not a readable .zip archive ({exc}).") from exc


def archive_kind(filename: str, data: bytes):
    """'zip' or 'tar' from the content (the name only decides the message)."""
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06":
        return "zip"
    if data[:2] == b"\x1f\x8b" or (len(data) > 262 and data[257:262] == b"ustar"):
        return "tar"
    raise SourceError(f"{filename}: not a .zip or .tar.gz archive.")


@contextmanager
def archive_checkout(filename: str, data: bytes, path=""):
    """Unpack an uploaded archive safely into a temporary folder; yields the template folder.

    A single top-level folder (as GitHub's and `git archive --prefix` archives have) is stepped into, then
    `path` is applied.
    """
    if len(data) > max_bytes():
        raise SourceError(f"{filename}: larger than {max_bytes() // (1024 * 1024)} MiB.")
    kind = archive_kind(filename, data)
    tmp = Path(tempfile.mkdtemp(prefix="terrace-archive-"))
    try:
        root = tmp / "t"
        root.mkdir()
        (_extract_zip if kind == "zip" else _extract_tar)(data, root)
        check_tree(root)
        entries = [p for p in root.iterdir() if not p.name.startswith(".")]
        path_from_root = bool(path) and (root / path.strip("/")).is_dir()
        if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink() \
                and not any(root.glob("*.tf")) and not path_from_root:
            root = entries[0]
        yield subfolder(root, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
