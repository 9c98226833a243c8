"""Executes one run: working directory, variables file, init, plan, apply (or destroy), outputs, state."""
import json
import logging
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from environments import crypto
from environments.models import Environment, Run
from environments.runs import TransitionRefused, run_claim, run_transition
from environments.services import environment_update_applied, run_inputs, snapshot_extract
from tasks.runner import process
from tasks.runner.credentials import run_credentials_env
from tasks.runner.events import parse_line, redact_outputs
from tasks.runner.masking import Masker
from tasks.runner.sink import EventSink
from tasks.runner.state import state_backend_prepare, state_lock_cleanup, state_rescue

log = logging.getLogger(__name__)

TFVARS_FILE = "terrace.auto.tfvars.json"
PLAN_FILE = "terrace.tfplan"


class RunFailed(Exception):
    """Terraform exited non-zero; the message is the reason shown to the user."""


class Execution:
    """The state of one run while a worker executes it."""

    def __init__(self, run):
        self.run = run
        self.environment = run.environment
        # An update run applies its target version and values; the environment switches only on success.
        self.version, clear_values, secret_values = run_inputs(run)
        self.variables = {**clear_values, **secret_values}
        self.masker = Masker(secret_values.values())
        self.sink = EventSink(run.pk, self.masker)
        self.workdir = Path(settings.RUNS_DIR) / f"run-{run.pk}-{secrets.token_hex(4)}"
        self.errors = []  # error diagnostics of the current phase, for the failure reason
        self.tail = []  # last plain lines, for a reason when Terraform printed no diagnostic
        self.plan_summary = None
        self.final_outputs = None  # from apply's `outputs` event; saves a `terraform output` process
        minutes = self.environment.template_version.template.run_timeout_minutes
        self.timeout = minutes * 60 if minutes else settings.RUN_TIMEOUT_SECONDS
        self.deadline = time.monotonic() + self.timeout

    # -- events ------------------------------------------------------------------------------------------
    def on_line(self, phase):
        def handle(line):
            kind, message, data = parse_line(line, phase)
            if kind == "diagnostic" and data.get("severity") == "error":
                self.errors.append(self.masker.text(_diagnostic_text(data)))
            elif kind == "change_summary" and phase == "plan":
                self.plan_summary = {k: data.get(k, 0) for k in ("add", "change", "remove")}
            elif kind == "outputs":
                self.final_outputs = data["outputs"]  # already redacted by the parser
            elif kind == "log" and message.strip():
                self.tail = (self.tail + [self.masker.text(message.strip())])[-5:]
            self.sink.add(kind, message, data)

        return handle

    def phase(self, name, title):
        self.errors, self.tail = [], []
        self.sink.add("phase", title, {"phase": name})

    def terraform(self, phase, argv):
        if phase == "init":
            with process.plugin_cache_lock():
                code = process.stream(argv, str(self.workdir), self.env, self.on_line(phase), self.sink.tick,
                                      self.deadline)
        else:
            code = process.stream(argv, str(self.workdir), self.env, self.on_line(phase), self.sink.tick,
                                  self.deadline)
        if code != 0:
            reason = "; ".join(self.errors) or " / ".join(self.tail) or f"terraform {phase} exited with code {code}"
            raise RunFailed(f"terraform {phase} failed: {reason}")

    # -- steps -------------------------------------------------------------------------------------------
    def prepare(self):
        self.workdir.mkdir(parents=True, mode=0o700)
        snapshot_extract(self.version.snapshot, self.workdir)
        path = self.workdir / TFVARS_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self.variables, fh)
        backend_env, token = state_backend_prepare(self.run, str(self.workdir))
        self.masker.add(token)
        extra, credential_secrets = run_credentials_env(self.run)  # variables + STS keys, masked from here on
        for secret in credential_secrets:
            self.masker.add(secret)
        self.env = process.build_env(str(self.workdir), {**extra, **backend_env})

    def outputs(self):
        result = subprocess.run(
            process.output_command(), cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            return {}
        return redact_outputs(json.loads(result.stdout or "{}"))

    def apply(self):
        self.phase("init", "Initializing")
        self.terraform("init", process.init_command())
        if self.run.status == Run.APPLYING:  # claimed after approval: apply the plan that was decided on
            self.restore_plan()
        else:
            staged = self.apply_phases()
            self.phase("plan", "Planning" + (" the whole configuration" if staged else ""))
            self.terraform("plan", process.plan_command(PLAN_FILE))
            self.sink.flush()
            if staged:
                Run.objects.filter(pk=self.run.pk).update(plan_summary=self.plan_summary)
            else:
                if self.run.gate and any((self.plan_summary or {}).values()):
                    self.wait_for_decision()
                    return
                run_transition(self.run, Run.APPLYING, plan_summary=self.plan_summary)
        self.phase("apply", "Applying")
        try:
            self.terraform("apply", process.apply_command(PLAN_FILE))
        finally:
            self.save_state()
        if self.final_outputs is None:  # a Terraform that printed no outputs event
            self.final_outputs = self.outputs()
            self.sink.add("outputs", "Outputs", {"phase": "apply", "outputs": self.final_outputs})
        Environment.objects.filter(pk=self.environment.pk).update(outputs=self.final_outputs)
        environment_update_applied(self.run)
        self.finish(Run.SUCCEEDED, exit_code=0)

    def apply_phases(self):
        """The template's staged apply order (terrace.yaml `apply_phases`): each phase with targets is planned
        with `-target` and applied before the whole configuration is, e.g. a cluster before what runs on it.
        Returns True when phases ran (the run is then `applying`). Not for runs that wait for a decision: those
        approve one whole plan, so they skip the phases and say so."""
        phases = [p for p in (self.version.metadata or {}).get("apply_phases", []) if p.get("targets")]
        if not phases:
            return False
        if self.run.gate:
            self.sink.add("log", "This template has staged apply phases; a run that waits for a decision plans "
                                 "the whole configuration at once instead.")
            return False
        run_transition(self.run, Run.APPLYING)
        for n, phase in enumerate(phases, 1):
            name = phase.get("name") or f"phase {n}"
            self.phase("plan", f"Planning phase {n}/{len(phases)}: {name}")
            self.terraform("plan", process.plan_command(PLAN_FILE, targets=phase["targets"]))
            self.phase("apply", f"Applying phase {n}/{len(phases)}: {name}")
            try:
                self.terraform("apply", process.apply_command(PLAN_FILE))
            finally:
                self.save_state()
        self.final_outputs = None  # the last, whole apply prints the outputs that count
        return True

    def wait_for_decision(self):
        """Park a gated apply after its plan: the saved plan goes to the database (encrypted: it holds the
        variable values) and the worker is free; approval queues the run again (see `restore_plan`)."""
        plan = (self.workdir / PLAN_FILE).read_bytes()
        who = "an approver (run.approve)" if self.run.gate == Run.GATE_APPROVAL else "the requester's confirmation"
        self.sink.add("log", f"Plan saved. Waiting for {who} before applying.")
        self.sink.flush()
        run_transition(self.run, Run.AWAITING_APPROVAL, plan_summary=self.plan_summary,
                       plan_file=crypto.encrypt_bytes(plan), planned_at=timezone.now())

    def restore_plan(self):
        encrypted = Run.objects.values_list("plan_file", flat=True).get(pk=self.run.pk)
        if not encrypted:
            raise RunFailed("the approved plan is missing; request the change again.")
        path = self.workdir / PLAN_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(crypto.decrypt_bytes(encrypted))
        self.sink.add("log", "Applying the approved plan.")

    def destroy(self):
        self.phase("init", "Initializing")
        self.terraform("init", process.init_command())
        self.phase("destroy", "Destroying")
        try:
            self.terraform("destroy", process.destroy_command())
        finally:
            self.save_state()
        Environment.objects.filter(pk=self.environment.pk).update(outputs={})
        self.finish(Run.DESTROYED, exit_code=0)

    def save_state(self):
        """Terraform saved its state through the backend; if it could not, keep what it left on disk."""
        if state_rescue(self.run, str(self.workdir)):
            self.sink.add("log", "Terraform could not reach the portal to save state; the state it left "
                                 "(errored.tfstate) was saved directly.")

    def finish(self, status, **fields):
        if state_lock_cleanup(self.run):
            self.sink.add("log", "Released the state lock left by the interrupted Terraform.")
        self.sink.flush()
        if self.run.plan_file or self.run.gate:
            fields.setdefault("plan_file", "")  # a saved plan is only needed until it is applied
        try:
            run_transition(self.run, status, **fields)
        except TransitionRefused:
            log.warning("run %s was ended elsewhere before it could be marked %s", self.run.pk, status)

    def execute(self):
        try:
            self.prepare()
            if self.run.operation == Run.APPLY:
                self.apply()
            else:
                self.destroy()
        except RunFailed as exc:
            self.finish(Run.FAILED, error=str(exc), exit_code=1)
        except process.Canceled:
            self.sink.add("log", "Run canceled: Terraform was interrupted; state written so far is kept.")
            self.finish(Run.CANCELED, error="Canceled on request.")
        except process.TimedOut:
            self.finish(Run.FAILED, error=f"Timed out after {self.timeout} s (the template's run timeout).")
        except Exception as exc:  # the portal's own failure, not Terraform's: the run is errored, not failed
            log.exception("run %s errored", self.run.pk)
            self.sink.add("log", "Internal error in the runner: " + self.masker.text(str(exc)))
            self.finish(Run.ERRORED, error="Internal error in the runner: " + self.masker.text(str(exc)))
        finally:
            if not settings.KEEP_RUN_DIRS:
                shutil.rmtree(self.workdir, ignore_errors=True)


def _diagnostic_text(data):
    where = f" ({data['file']} line {data['line']})" if data.get("file") and data.get("line") else ""
    detail = f": {data['detail']}" if data.get("detail") else ""
    return f"{data.get('summary', 'Error')}{where}{detail}"


def execute_run(run_id, worker="worker"):
    """Claim the run and execute it to the end. A run that is no longer queued is left alone."""
    close_old_connections()
    run = run_claim(run_id, worker)
    if run is None:
        log.info("run %s is not queued any more; skipping", run_id)
        return None
    Execution(run).execute()
    return Run.objects.get(pk=run_id).status
