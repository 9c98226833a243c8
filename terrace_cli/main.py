"""The `terrace` command: templates, environments and runs of a Terrace portal, from a terminal or CI.

    terrace login --url https://terrace.example.com        # asks for an API token (create one in the portal)
    terrace templates
    terrace env create --template hello-sandbox --var app_name=demo --wait
    terrace env list / show ENV / destroy ENV --wait
    terrace run logs RUN --follow

Tables by default, `--json` for scripts. Exit status: 0 on success, 1 when the API refuses or a run does not
succeed, 2 for usage errors.
"""
import json
import secrets
import sys
import time

import click

from terrace_cli import config
from terrace_cli.client import ApiError, Client

FINISHED_OK = {"succeeded", "destroyed"}


# --- Helpers -------------------------------------------------------------------------------------------

def _client(ctx):
    settings = config.load()
    if not settings.get("url") or not settings.get("token"):
        raise click.UsageError("Not logged in: run `terrace login` (or set TERRACE_URL and TERRACE_TOKEN).")
    client = Client(settings["url"], settings["token"])
    ctx.call_on_close(client.close)
    return client


def _print_json(data):
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def _table(rows, columns):
    """Plain aligned columns (no colours: output often lands in CI logs)."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[str(col) for col, _ in columns]] + [
        ["" if get(row) is None else str(get(row)) for _, get in columns] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for n, row in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))


def _fail(message, code=1):
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _parse_vars(pairs):
    """--var k=v (text, converted by the server like the web form) and --var-json k=<json>."""
    values = {}
    for pair in pairs:
        if "=" not in pair:
            raise click.BadParameter(f"{pair!r}: expected NAME=VALUE", param_hint="--var")
        key, value = pair.split("=", 1)
        values[key.strip()] = value
    return values


def _resolve_project(client, project):
    if project:
        return project
    me = client.get("/me/")
    if me.get("token_project"):
        return me["token_project"]
    projects = list(client.paginate("/projects/"))
    if len(projects) == 1:
        return projects[0]["slug"]
    raise click.UsageError("Several projects: choose one with --project ("
                           + ", ".join(p["slug"] for p in projects) + ").")


def _resolve_environment(client, ref, project=None):
    """An environment by id, or by name (unique among live environments, optionally in --project)."""
    if ref.isdigit():
        return client.get(f"/environments/{ref}/")
    found = client.get("/environments/", name=ref, project=project, live="true")["results"]
    if not found:
        raise ApiError(404, "not_found", f"No environment named {ref!r}.")
    if len(found) > 1:
        raise click.UsageError(f"Several environments are named {ref!r}: add --project or use the id.")
    return client.get(f"/environments/{found[0]['id']}/")


def api_errors(fn):
    """Turn API errors into a message and exit status 1."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            _fail(str(exc))

    return wrapper


# --- Following a run -----------------------------------------------------------------------------------

class Progress:
    """Prints a run's events as they arrive: phases, each resource with a [done/total] counter and its time,
    Terraform's errors with file and line, and the outputs."""

    def __init__(self, verbose=False, as_json=False, run_id=None):
        self.verbose, self.as_json, self.run_id = verbose, as_json, run_id
        self.total = 0
        self.planned = set()
        self.done = set()
        self.started = time.monotonic()

    def _elapsed(self):
        return f"{time.monotonic() - self.started:5.1f}s"

    def show(self, event):
        if self.as_json:
            click.echo(json.dumps(event, sort_keys=True))
            return
        kind, message, data = event.get("kind"), event.get("message", ""), event.get("data") or {}
        if kind == "status":
            click.echo(f"[{self._elapsed()}] ==> {message}")
            if message == "awaiting_approval":
                click.echo(f"             the plan waits for a decision: terrace run approve {self.run_id} "
                           "(or reject); still following…")
        elif kind == "planned_change":
            # Terraform announces the planned changes again when applying the saved plan: count each once.
            if data.get("addr") not in self.planned:
                self.planned.add(data.get("addr"))
                self.total = max(self.total, len(self.planned))
                click.echo(f"[{self._elapsed()}]     plan: {data.get('action', '')} {data.get('addr', '')}")
        elif kind == "change_summary":
            self.total = max(self.total, sum(int(data.get(k) or 0) for k in ("add", "change", "remove")))
            click.echo(f"[{self._elapsed()}]     {message}")
        elif kind == "resource":
            addr, state = data.get("addr", ""), data.get("state", "")
            if state in ("completed", "errored"):
                self.done.add(addr)
            counter = f"[{len(self.done)}/{self.total}]" if self.total else ""
            elapsed = f" ({data['elapsed']}s)" if data.get("elapsed") is not None else ""
            click.echo(f"[{self._elapsed()}] {counter} {addr}: {data.get('action') or ''} {state}{elapsed}")
        elif kind == "diagnostic":
            where = f" ({data['file']}:{data['line']})" if data.get("file") else ""
            click.echo(f"[{self._elapsed()}] {data.get('severity', 'error')}: {data.get('summary', message)}{where}")
            if data.get("detail"):
                click.echo(f"             {data['detail']}")
        elif kind == "outputs":
            for name, out in (data.get("outputs") or {}).items():
                click.echo(f"[{self._elapsed()}]     output {name} = {json.dumps(out.get('value'))}")
        elif kind == "end":
            click.echo(f"[{self._elapsed()}] run finished: {event.get('status')}")
        elif self.verbose or kind not in ("log", "refresh"):
            if message:
                click.echo(f"[{self._elapsed()}]     {message}")


def follow_run(client, run_id, *, verbose=False, as_json=False, after=0, decide=None):
    """Stream the run's events until it ends; returns the finished run.

    `decide(run)` is asked when the plan waits for a decision: True approves, False rejects, None keeps waiting
    (for someone else to decide)."""
    progress = Progress(verbose=verbose, as_json=as_json, run_id=run_id)
    for event in client.events(run_id, after=after):
        progress.show(event)
        if decide and event.get("kind") == "status" and event.get("message") == "awaiting_approval":
            verdict = decide(client.get(f"/runs/{run_id}/"))
            if verdict is not None:
                client.post(f"/runs/{run_id}/{'approve' if verdict else 'reject'}/",
                            {"comment": "confirmed from the terrace CLI" if verdict else "declined in the CLI"})
    return client.get(f"/runs/{run_id}/")


def _finish(client, run, as_json):
    """Exit 0 when the run succeeded, else print why and exit 1."""
    if run["status"] in FINISHED_OK:
        return
    reason = run.get("error") or ""
    env = client.get(f"/environments/{run['environment']}/")
    reason = reason or env.get("status_reason") or ""
    _fail(f"run {run['id']} {run['status']}" + (f": {reason}" if reason else ""))


# --- Commands ------------------------------------------------------------------------------------------

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="terrace", prog_name="terrace", message="%(prog)s %(version)s")
def cli():
    """Terrace: self-service environments from Terraform templates."""


@cli.command()
@click.option("--url", prompt="Terrace URL", default=lambda: config.load().get("url", "http://127.0.0.1:8000"),
              help="The portal's address, e.g. https://terrace.example.com")
@click.option("--token", help="An API token (created under your name → API tokens). Asked for when omitted; "
                              "prefer the prompt or TERRACE_TOKEN: options end up in shell history.")
def login(url, token):
    """Check an API token against the portal and remember both."""
    if not token:
        token = click.prompt("API token", hide_input=True)
    client = Client(url, token.strip())
    try:
        me = client.get("/me/")
    except ApiError as exc:
        _fail(f"login failed: {exc}")
    finally:
        client.close()
    path = config.save({"url": url, "token": token.strip()})
    scope = f" (token limited to project {me['token_project']})" if me.get("token_project") else ""
    click.echo(f"Logged in to {url} as {me['username']}{scope}. Saved in {path}.")


@cli.command()
def logout():
    """Forget the saved URL and token (revoke the token in the portal too)."""
    click.echo("Logged out." if config.forget() else "Not logged in.")


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@api_errors
def whoami(ctx, as_json):
    """Who the saved token acts as."""
    me = _client(ctx).get("/me/")
    if as_json:
        _print_json(me)
    else:
        click.echo(me["username"] + (f" (project {me['token_project']})" if me.get("token_project") else ""))


@cli.command()
@click.option("--project", help="Only templates usable in this project.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@api_errors
def templates(ctx, project, as_json):
    """Templates you may use or see."""
    rows = list(_client(ctx).paginate("/templates/", project=project))
    if as_json:
        _print_json(rows)
        return
    _table(rows, [
        ("SLUG", lambda t: t["slug"]),
        ("NAME", lambda t: t["name"]),
        ("VERSION", lambda t: (t.get("latest_version") or {}).get("version")),
        ("CATEGORY", lambda t: t["category"]),
        ("OWNER", lambda t: t["project"]),
    ])


@cli.group()
def env():
    """Environments: create, list, show, destroy."""


ENV_COLUMNS = [
    ("ID", lambda e: e["id"]),
    ("NAME", lambda e: e["name"]),
    ("PROJECT", lambda e: e["project"]),
    ("TEMPLATE", lambda e: f"{e['template']} {e['version']}"),
    ("STATUS", lambda e: e["status"]),
    ("OWNER", lambda e: e["owner"]),
    ("CREATED", lambda e: e["created_at"][:19].replace("T", " ")),
]


@env.command("list")
@click.option("--project")
@click.option("--status")
@click.option("--template", help="Template slug.")
@click.option("--mine", is_flag=True, help="Only environments you own.")
@click.option("--all", "show_all", is_flag=True, help="Include destroyed environments.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@api_errors
def env_list(ctx, project, status, template, mine, show_all, as_json):
    """Environments you may see (destroyed ones only with --all)."""
    rows = list(_client(ctx).paginate("/environments/", project=project, status=status, template=template,
                                      owner="me" if mine else None,
                                      live=None if show_all or status else "true"))
    if as_json:
        _print_json(rows)
    else:
        _table(rows, ENV_COLUMNS)


@env.command("show")
@click.argument("environment")
@click.option("--project", help="Where to look the name up.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@api_errors
def env_show(ctx, environment, project, as_json):
    """An environment (by id or name): status, outputs, variables, recent runs."""
    data = _resolve_environment(_client(ctx), environment, project)
    if as_json:
        _print_json(data)
        return
    click.echo(f"{data['name']} (#{data['id']}) in {data['project']}: {data['status']}")
    if data.get("status_reason"):
        click.echo(f"  reason: {data['status_reason']}")
    click.echo(f"  template: {data['template']} {data['version']}   owner: {data['owner']}")
    if data.get("expires_at"):
        click.echo(f"  expires: {data['expires_at']}")
    if data.get("outputs"):
        click.echo("Outputs:")
        for name, out in data["outputs"].items():
            value = out.get("value") if isinstance(out, dict) else out
            click.echo(f"  {name} = {json.dumps(value)}")
    if data.get("variables") or data.get("sensitive_variables_set"):
        click.echo("Variables:")
        for name, value in data["variables"].items():
            click.echo(f"  {name} = {json.dumps(value)}")
        for name in data.get("sensitive_variables_set", []):
            click.echo(f"  {name} = (sensitive)")
    click.echo("Runs:")
    _table(data.get("runs", []), [
        ("ID", lambda r: r["id"]), ("OPERATION", lambda r: r["operation"]), ("STATUS", lambda r: r["status"]),
        ("BY", lambda r: r["triggered_by"]), ("CREATED", lambda r: r["created_at"][:19].replace("T", " ")),
    ])


@env.command("create")
@click.option("--template", required=True, help="Template slug (see `terrace templates`).")
@click.option("--version", "version", help="Template version (default: the latest published).")
@click.option("--project", help="Project slug (default: your only project, or the token's).")
@click.option("--name", help="Environment name (default: <template>-<random>).")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
              help="A variable, typed as in the web form (lists/maps/objects as JSON). Repeatable.")
@click.option("--wait", is_flag=True, help="Follow the run live; exit 1 unless it succeeds.")
@click.option("-v", "--verbose", is_flag=True, help="With --wait: also Terraform's plain log lines.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@api_errors
def env_create(ctx, template, version, project, name, variables, wait, verbose, as_json):
    """Create an environment from a template and queue its apply."""
    client = _client(ctx)
    body = {
        "project": _resolve_project(client, project),
        "template": template,
        "name": name or f"{template[:55]}-{secrets.token_hex(3)}".lower(),
        "variables": _parse_vars(variables),
    }
    if version:
        body["version"] = version
    created = client.post("/environments/", body)
    environment, run = created["environment"], created["run"]
    if as_json and not wait:
        _print_json(created)
        return
    if not as_json:
        click.echo(f"Environment {environment['name']} (#{environment['id']}) created in {environment['project']}; "
                   f"run #{run['id']} queued.")
    if not wait:
        return
    run = follow_run(client, run["id"], verbose=verbose, as_json=as_json)
    if not as_json:
        final = client.get(f"/environments/{environment['id']}/")
        click.echo(f"Environment {final['name']} is {final['status']}.")
    _finish(client, run, as_json)


@env.command("destroy")
@click.argument("environment")
@click.option("--project", help="Where to look the name up.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--wait", is_flag=True, help="Follow the destroy run; exit 1 unless it succeeds.")
@click.option("-v", "--verbose", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@api_errors
def env_destroy(ctx, environment, project, yes, wait, verbose, as_json):
    """Destroy an environment (terraform destroy)."""
    client = _client(ctx)
    data = _resolve_environment(client, environment, project)
    if not yes and not click.confirm(f"Destroy {data['name']} (#{data['id']}) in {data['project']}?"):
        _fail("aborted")
    run = client.post(f"/environments/{data['id']}/destroy/")
    if not as_json:
        click.echo(f"Destroy of {data['name']} queued: run #{run['id']}.")
    elif not wait:
        _print_json(run)
    if wait:
        run = follow_run(client, run["id"], verbose=verbose, as_json=as_json)
        _finish(client, run, as_json)


@env.command("update")
@click.argument("environment")
@click.option("--version", "version", help="Move to this version of its template (default: stay).")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
              help="A value to change (others keep theirs), typed as in the web form. Repeatable.")
@click.option("--project", help="Where to look the name up.")
@click.option("--wait", is_flag=True, help="Follow the run: show the plan, ask to confirm it, follow the apply.")
@click.option("--yes", "-y", is_flag=True, help="With --wait: confirm the plan without asking.")
@click.option("-v", "--verbose", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@api_errors
def env_update(ctx, environment, version, variables, project, wait, yes, verbose, as_json):
    """Change an environment's variables or template version. Terraform plans first; the plan is applied once
    you confirm it (here with --wait, or with `terrace run approve`)."""
    client = _client(ctx)
    data = _resolve_environment(client, environment, project)
    body = {"variables": _parse_vars(variables)}
    if version:
        body["version"] = version
    run = client.post(f"/environments/{data['id']}/update/", body)
    if not wait:
        if as_json:
            _print_json(run)
        else:
            click.echo(f"Update of {data['name']} planned as run #{run['id']}; once planned, confirm it with "
                       f"`terrace run approve {run['id']}` (or follow it: terrace run logs {run['id']} -f).")
        return

    def decide(waiting):
        summary = waiting.get("plan_summary") or {}
        text = ", ".join(f"{summary.get(k, 0)} to {k}" for k in ("add", "change", "remove"))
        if waiting.get("gate") != "confirmation":
            click.echo(f"The plan ({text}) needs an approval from someone with run.approve.", err=True)
            return None
        return True if yes else click.confirm(f"Apply this plan ({text})?", default=False)

    run = follow_run(client, run["id"], verbose=verbose, as_json=as_json, decide=decide)
    _finish(client, run, as_json)


@env.command("extend")
@click.argument("environment")
@click.option("--hours", type=int, required=True, help="Expire this many hours from now.")
@click.option("--project", help="Where to look the name up.")
@click.pass_context
@api_errors
def env_extend(ctx, environment, hours, project):
    """Move an environment's expiry (its owner or a project admin)."""
    client = _client(ctx)
    data = _resolve_environment(client, environment, project)
    updated = client.post(f"/environments/{data['id']}/extend/", {"hours": hours})
    click.echo(f"{updated['name']} now expires at {updated['expires_at']}.")


@cli.group()
def run():
    """Runs: show, logs, cancel."""


@run.command("show")
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@api_errors
def run_show(ctx, run_id, as_json):
    """A run's status, timing and plan summary."""
    data = _client(ctx).get(f"/runs/{run_id}/")
    if as_json:
        _print_json(data)
        return
    click.echo(f"run #{data['id']} {data['operation']} of {data['environment_name']} ({data['project']}): "
               f"{data['status']}")
    for key in ("triggered_by", "created_at", "started_at", "finished_at", "plan_summary", "error"):
        if data.get(key):
            click.echo(f"  {key}: {data[key]}")


@run.command("logs")
@click.argument("run_id", type=int)
@click.option("--follow", "-f", is_flag=True, help="Keep streaming until the run ends; exit 1 unless it succeeds.")
@click.option("--after", type=int, default=0, help="Only events after this sequence number.")
@click.option("-v", "--verbose", is_flag=True, help="Also Terraform's plain log lines (always shown without -f).")
@click.option("--json", "as_json", is_flag=True, help="One JSON event per line.")
@click.pass_context
@api_errors
def run_logs(ctx, run_id, follow, after, verbose, as_json):
    """A run's log: what is there so far, or live with --follow."""
    client = _client(ctx)
    if follow:
        finished = follow_run(client, run_id, verbose=verbose, as_json=as_json, after=after)
        _finish(client, finished, as_json)
        return
    progress = Progress(verbose=True, as_json=as_json)
    while True:
        page = client.get(f"/runs/{run_id}/events/", after=after, limit=1000)
        for event in page["events"]:
            progress.show(event)
        if not page["events"] or len(page["events"]) < 1000:
            break
        after = page["next"]


@run.command("approve")
@click.argument("run_id", type=int)
@click.option("--comment", default="", help="Why (kept in the audit log).")
@click.pass_context
@api_errors
def run_approve(ctx, run_id, comment):
    """Approve a plan that waits for a decision: the saved plan is applied."""
    data = _client(ctx).post(f"/runs/{run_id}/approve/", {"comment": comment})
    click.echo(f"run #{data['id']}: {data['status']}")


@run.command("reject")
@click.argument("run_id", type=int)
@click.option("--comment", default="", help="Why (kept in the audit log).")
@click.pass_context
@api_errors
def run_reject(ctx, run_id, comment):
    """Reject a plan that waits for a decision: nothing is applied."""
    data = _client(ctx).post(f"/runs/{run_id}/reject/", {"comment": comment})
    click.echo(f"run #{data['id']}: {data['status']}")


@run.command("cancel")
@click.argument("run_id", type=int)
@click.pass_context
@api_errors
def run_cancel(ctx, run_id):
    """Cancel a run (queued: at once; running: Terraform is interrupted, keeping what it created)."""
    data = _client(ctx).post(f"/runs/{run_id}/cancel/")
    click.echo(f"run #{data['id']}: {data['status']}" + (" (cancel requested)" if data.get("cancel_requested_at")
                                                         and data["status"] != "canceled" else ""))


def main():
    cli()


if __name__ == "__main__":
    main()
