"""Expiry notices: an email to the environment's owner and a signed webhook, before and at expiry.

Webhook receivers verify `X-Terrace-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body with
TERRACE_WEBHOOK_SECRET, and may reject deliveries whose `sent_at` is old (replays).
"""
import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
import uuid

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone

log = logging.getLogger(__name__)


def lead_text(seconds):
    """'2 days', '2 hours', '30 minutes'."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


def parse_leads(spec):
    """'2d,2h,30m' -> [172800, 7200, 1800] (seconds, longest first)."""
    sizes = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    leads = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part[-1] not in sizes or not part[:-1].isdigit():
            raise ValueError(f"bad notice lead {part!r}: use a number and d, h, m or s, e.g. 2d,2h,30m")
        leads.append(int(part[:-1]) * sizes[part[-1]])
    return sorted(set(leads), reverse=True)


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _payload(event, environment, lead=None):
    url = settings.TERRACE_URL.rstrip("/") + reverse("environments:detail", args=[environment.pk])
    return {
        "event": event,
        "id": str(uuid.uuid4()),
        "sent_at": timezone.now().isoformat(),
        "environment": {
            "id": environment.pk,
            "name": environment.name,
            "project": environment.project.slug,
            "owner": environment.owner.get_username() if environment.owner else None,
            "template": environment.template_version.template.slug,
            "expires_at": environment.expires_at.isoformat() if environment.expires_at else None,
            "url": url,
        },
        "lead_seconds": lead,
    }


def webhook_send(payload):
    """POST `payload` to TERRACE_WEBHOOK_URL, signed. Returns True when the receiver answered 2xx."""
    if not settings.TERRACE_WEBHOOK_URL:
        return False
    body = json.dumps(payload, sort_keys=True).encode()
    request = urllib.request.Request(settings.TERRACE_WEBHOOK_URL, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "User-Agent": "Terrace-Webhook/1",
        "X-Terrace-Event": payload["event"],
        "X-Terrace-Delivery": payload["id"],
        "X-Terrace-Signature": sign(body, settings.TERRACE_WEBHOOK_SECRET),
    })
    try:
        with urllib.request.urlopen(request, timeout=settings.TERRACE_WEBHOOK_TIMEOUT_SECONDS) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError) as exc:  # HTTPError is a URLError
        log.warning("webhook %s for environment %s not delivered: %s", payload["event"],
                    payload["environment"]["id"], exc)
        return False


def notice_expiring(environment, lead):
    """Tell the owner (email) and the webhook that `environment` expires in about `lead` seconds."""
    payload = _payload("environment.expiring", environment, lead)
    when = timezone.localtime(environment.expires_at).strftime("%Y-%m-%d %H:%M %Z")
    owner = environment.owner
    if owner is not None and owner.email:
        url = payload["environment"]["url"]
        send_mail(
            subject=f"[Terrace] {environment.name} expires in {lead_text(lead)}",
            message=(
                f"Your environment {environment.name} in {environment.project.name} expires at {when} and will "
                f"then be destroyed automatically.\n\nTo keep it longer, extend it: {url}\n"
            ),
            from_email=None,
            recipient_list=[owner.email],
            fail_silently=True,
        )
    webhook_send(payload)


def notice_expired(environment):
    """Tell the webhook that `environment` expired and its destroy was queued."""
    webhook_send(_payload("environment.expired", environment))
