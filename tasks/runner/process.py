"""Spawning Terraform: argv from python-terraform, an allow-listed environment, no shell, line streaming,
cancel by SIGINT to the process group, timeouts.

python-terraform 0.10.1 only builds the command lines here: its `destroy()` adds `-force` (removed from
Terraform), `apply(planfile)` adds `-var-file` (refused with a saved plan), and its runner cannot stream
lines, so spawning is ours.
"""
import fcntl
import os
import queue
import signal
import subprocess
import threading
import time
from contextlib import contextmanager

from django.conf import settings
from python_terraform import IsFlagged, Terraform

# Variables Terraform may see from the worker's own environment. Never DATABASE_URL, SECRET_KEY, DJANGO_*.
ENV_ALLOWLIST = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR", "http_proxy", "https_proxy",
                 "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY")


def command(subcommand, *args, **options):
    """argv for `terraform <subcommand>`, built by python-terraform (options: flag=IsFlagged, key=value)."""
    tf = Terraform(terraform_bin_path=settings.TERRAFORM_BIN)
    return tf.generate_cmd_string(subcommand, *args, **options)


def plan_command(planfile, destroy=False, targets=()):
    opts = {"json": IsFlagged, "input": False, "out": planfile}
    if destroy:
        opts["destroy"] = IsFlagged
    if targets:
        opts["target"] = list(targets)  # one -target=<address> each
    return command("plan", **opts)


def apply_command(planfile):
    return command("apply", planfile, json=IsFlagged, input=False)


def init_command():
    return command("init", input=False, no_color=IsFlagged)


def destroy_command():
    return command("destroy", json=IsFlagged, input=False, auto_approve=IsFlagged)


def output_command():
    return command("output", json=IsFlagged)


def build_env(workdir, extra=None):
    """The environment Terraform runs with: an allow-list of the worker's, plus what the run needs."""
    env = {k: os.environ[k] for k in ENV_ALLOWLIST if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    home = os.path.join(workdir, ".home")
    os.makedirs(home, exist_ok=True)
    env.update(
        HOME=home,
        TMPDIR=os.path.join(workdir, ".tmp"),
        CHECKPOINT_DISABLE="1",
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
    )
    os.makedirs(env["TMPDIR"], exist_ok=True)
    if settings.TERRAFORM_CLI_CONFIG:
        env["TF_CLI_CONFIG_FILE"] = str(settings.TERRAFORM_CLI_CONFIG)
    if settings.TF_PLUGIN_CACHE_DIR:
        os.makedirs(settings.TF_PLUGIN_CACHE_DIR, exist_ok=True)
        env["TF_PLUGIN_CACHE_DIR"] = str(settings.TF_PLUGIN_CACHE_DIR)
    env.update(extra or {})
    return env


@contextmanager
def plugin_cache_lock():
    """Hold an exclusive, machine-wide lock on the plugin cache while `terraform init` runs.

    Terraform's plugin cache is not safe for concurrent use: two runs filling a cold cache at once can fail
    with "failed to create directory … file exists" (seen once in 50 concurrent runs on two workers). `init`
    with a warm cache takes ~0.1 s, so serialising it costs little.
    """
    if not settings.TF_PLUGIN_CACHE_DIR:
        yield
        return
    os.makedirs(settings.TF_PLUGIN_CACHE_DIR, exist_ok=True)
    fd = os.open(os.path.join(settings.TF_PLUGIN_CACHE_DIR, ".terrace-init.lock"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class Canceled(Exception):
    """Terraform was interrupted because the run was canceled."""


class TimedOut(Exception):
    """Terraform ran past the run's deadline and was stopped."""


TERM_GRACE_SECONDS = 5  # between SIGTERM and SIGKILL, once the cancel grace period is over


def stream(argv, cwd, env, on_line, tick, deadline):
    """Run argv, call on_line(line) for each output line (stdout and stderr merged), call tick() often.

    `tick()` returns True to cancel: SIGINT goes to Terraform's process group (its outer process ignores a
    SIGINT sent to its PID alone; on SIGINT Terraform stops and saves its state), then after the grace period
    SIGTERM, then SIGKILL TERM_GRACE_SECONDS later. Output is read to EOF either way: a closed pipe would kill
    Terraform mid-write of its state. Returns the exit code.
    """
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True, text=True, encoding="utf-8", errors="replace", bufsize=1,
    )
    lines = queue.Queue()

    def reader():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    interrupted_at = None
    escalation = [(settings.RUN_CANCEL_GRACE_SECONDS, signal.SIGTERM),
                  (settings.RUN_CANCEL_GRACE_SECONDS + TERM_GRACE_SECONDS, signal.SIGKILL)]
    reason = None
    eof = False
    while not eof:
        try:
            line = lines.get(timeout=0.05)
            if line is None:
                eof = True
            else:
                on_line(line)
        except queue.Empty:
            pass
        # tick() is cheap when nothing is due, so it runs after every line as well as when idle.
        if interrupted_at is None:
            if tick():
                reason = Canceled
            elif time.monotonic() > deadline:
                reason = TimedOut
            if reason is not None:
                interrupted_at = time.monotonic()
                _signal_group(proc, signal.SIGINT)
        elif escalation and time.monotonic() - interrupted_at > escalation[0][0]:
            _signal_group(proc, escalation.pop(0)[1])
    code = proc.wait()
    _signal_group(proc, signal.SIGKILL)  # sweep leftovers (provisioner children) of this session
    if reason is not None:
        raise reason()
    return code


def _signal_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
