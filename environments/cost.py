"""Cost of Fargate templates: an estimate before create (per hour, per month, for the chosen lifetime) and the
running cost of an environment since its last successful apply.

A template declares which of its variables size the service in terrace.yaml:

    cost:
      fargate: {cpu: task_cpu, memory: task_memory, count: desired_count}   # region: <var> optional

`cpu` is in CPU units (1024 = 1 vCPU) and `memory` in MiB, as in an ECS task definition; `count` defaults to 1.
The region is the variable named by `region`, else the region of the template's credential set.

Prices: AWS Fargate pricing page (https://aws.amazon.com/fargate/pricing/), Linux/x86, on-demand, per vCPU-hour
and per GB-hour, the rates in force since the January 2019 Fargate price reduction. Taken 2026-11-23 from
those published rates; this machine has no internet access, so they could not be re-read from the page that
day: check them against the page before relying on a figure. Ephemeral storage above the free 20 GB, data
transfer and load balancers are not included. Fargate bills per second with a one-minute minimum.
"""
import re
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from environments.aws import template_settings, variable_value

PRICES_SOURCE = "AWS Fargate pricing page, Linux/x86 on-demand, rates taken 2026-11-23"
# region -> (USD per vCPU-hour, USD per GB-hour)
FARGATE_PRICES = {
    "us-east-1": (Decimal("0.04048"), Decimal("0.004445")),
    "us-east-2": (Decimal("0.04048"), Decimal("0.004445")),
    "us-west-2": (Decimal("0.04048"), Decimal("0.004445")),
    "eu-west-1": (Decimal("0.04048"), Decimal("0.004445")),
    "us-west-1": (Decimal("0.04656"), Decimal("0.00511")),
    "eu-central-1": (Decimal("0.04656"), Decimal("0.00511")),
    "eu-west-2": (Decimal("0.04656"), Decimal("0.00511")),
    "ap-southeast-2": (Decimal("0.04856"), Decimal("0.00532")),
    "ap-southeast-1": (Decimal("0.05056"), Decimal("0.00553")),
    "ap-northeast-1": (Decimal("0.05056"), Decimal("0.00553")),
}
HOURS_PER_MONTH = Decimal("730")  # AWS's own convention in its pricing calculator
DEFAULT_LIFETIME_HOURS = Decimal("24")  # when neither the form nor the template names a lifetime

# Fargate task sizes (Linux): CPU units -> allowed memory in MiB.
FARGATE_SIZES = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw]?)\s*$", re.IGNORECASE)
_UNIT_HOURS = {"m": Decimal(1) / 60, "h": Decimal(1), "": Decimal(1), "d": Decimal(24), "w": Decimal(168)}


class CostError(ValueError):
    """No estimate can be given; the message says why."""


def fargate_config(version):
    """The template's `cost.fargate` mapping, or None when it declares none."""
    fargate = template_settings(version)["cost"].get("fargate")
    return fargate if isinstance(fargate, dict) and fargate.get("cpu") and fargate.get("memory") else None


def fargate_size_problem(cpu, memory):
    """Why (cpu units, memory MiB) is not a Fargate task size, or None."""
    if cpu not in FARGATE_SIZES:
        return f"{cpu} CPU units is not a Fargate size (one of {', '.join(map(str, FARGATE_SIZES))})."
    if memory not in FARGATE_SIZES[cpu]:
        allowed = FARGATE_SIZES[cpu]
        return f"{memory} MiB is not allowed with {cpu} CPU units ({allowed[0]}–{allowed[-1]} MiB, " \
               f"in steps of {allowed[1] - allowed[0] if len(allowed) > 1 else allowed[0]})."
    return None


def fargate_hourly(region, cpu, memory, count=1):
    """USD per hour for `count` tasks of `cpu` units and `memory` MiB in `region` (unrounded)."""
    if region not in FARGATE_PRICES:
        raise CostError(f"No Fargate price known for region {region or '(none)'}.")
    problem = fargate_size_problem(cpu, memory)
    if problem:
        raise CostError(problem)
    if count < 0:
        raise CostError("The task count cannot be negative.")
    vcpu_price, gb_price = FARGATE_PRICES[region]
    vcpus = Decimal(cpu) / 1024
    gbs = Decimal(memory) / 1024
    return (vcpus * vcpu_price + gbs * gb_price) * count


def parse_hours(value):
    """Hours in a lifetime given as a number of hours or "30m", "8h", "2d", "1w"; None if empty or unreadable."""
    if value is None or value == "":
        return None
    match = _DURATION.match(str(value))
    if not match:
        return None
    hours = Decimal(match.group(1)) * _UNIT_HOURS[match.group(2).lower()]
    return hours if hours > 0 else None


def _whole(value, what):
    try:
        number = Decimal(str(value).strip())
    except Exception as exc:
        raise CostError(f"{what} must be a number (got {value!r}).") from exc
    if number != number.to_integral_value():
        raise CostError(f"{what} must be a whole number (got {value}).")
    return int(number)


def _region(version, values, fargate):
    if fargate.get("region"):
        return variable_value(version, values, fargate["region"])
    credential_set = version.template.credential_set
    return credential_set.aws_region if credential_set else None


def estimate(version, values, hours=None):
    """Fargate cost of `version` with `values` (missing ones take their defaults): per hour, per 730-hour
    month and for `hours` (else the template's default lifetime, else terrace.yaml's `ttl`, else 24 h).
    None when the template declares no cost.

    Raises CostError with the reason when no figure can be given (unknown region, invalid size, ...).
    """
    fargate = fargate_config(version)
    if fargate is None:
        return None
    cpu = _whole(variable_value(version, values, fargate["cpu"]), fargate["cpu"])
    memory = _whole(variable_value(version, values, fargate["memory"]), fargate["memory"])
    count = _whole(variable_value(version, values, fargate["count"]), fargate["count"]) if fargate.get("count") else 1
    region = _region(version, values, fargate)
    hourly = fargate_hourly(region, cpu, memory, count)
    hours_source = "chosen lifetime"
    if hours is None and getattr(version.template, "default_ttl_hours", None):
        hours, hours_source = Decimal(version.template.default_ttl_hours), "template's default lifetime"
    if hours is None:
        hours, hours_source = parse_hours(template_settings(version)["ttl"]), "template's default lifetime"
    if hours is None:
        hours, hours_source = DEFAULT_LIFETIME_HOURS, "no lifetime set; shown for 24 hours"
    return {
        "region": region, "cpu": cpu, "memory": memory, "count": count,
        "vcpus": Decimal(cpu) / 1024, "gbs": Decimal(memory) / 1024,
        "hourly": hourly, "monthly": hourly * HOURS_PER_MONTH, "hours": hours, "hours_source": hours_source,
        "lifetime": hourly * hours, "source": PRICES_SOURCE,
    }


def environment_running_cost(environment, now=None):
    """Cost so far of a ready environment since its last successful apply: {since, hours, hourly, total}.

    None when the template declares no Fargate cost or the environment has no successful apply; raises
    CostError when the figure cannot be computed.
    """
    from environments.models import Environment, Run

    if fargate_config(environment.template_version) is None or environment.status != Environment.READY:
        return None
    last = environment.runs.filter(operation=Run.APPLY, status=Run.SUCCEEDED).order_by("-finished_at").first()
    if last is None or last.finished_at is None:
        return None
    found = estimate(environment.template_version, environment.variables, Decimal(0))
    seconds = max(60, ((now or timezone.now()) - last.finished_at).total_seconds())  # one-minute minimum
    hours = Decimal(str(seconds)) / 3600
    return {"since": last.finished_at, "hours": hours, "hourly": found["hourly"], "total": found["hourly"] * hours,
            "region": found["region"], "source": PRICES_SOURCE}


def money(value, places="0.01"):
    """A Decimal rounded half-up for display (USD)."""
    return Decimal(value).quantize(Decimal(places), rounding=ROUND_HALF_UP)
