"""Periodic environment lifecycle work, run by a worker on beat's schedule: expiry notices and TTL destroys."""
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from environments import notices
from environments.models import Environment, Run
from environments.services import RunConflict, run_request
from rbac.audit import audit

log = logging.getLogger(__name__)


def expiry_notices_send():
    """Send each environment's due expiry notice once per expiry time. Returns how many were sent."""
    leads = notices.parse_leads(settings.TTL_NOTICE_LEADS)
    if not leads:
        return 0
    now = timezone.now()
    horizon = now + timezone.timedelta(seconds=leads[0])
    sent = 0
    due = Environment.objects.filter(expires_at__gt=now, expires_at__lte=horizon, status=Environment.READY)
    for environment in due.select_related("owner", "project", "template_version__template"):
        left = (environment.expires_at - now).total_seconds()
        passed = [lead for lead in leads if left <= lead]
        if not passed or min(passed) in environment.expiry_notices_sent:
            continue
        # Claim the notice with a conditional update so two beat ticks (or two workers) send it once.
        # Leads already passed are marked too: a 1-hour environment gets one "30 minutes" notice, not three.
        claimed = Environment.objects.filter(
            pk=environment.pk, expires_at=environment.expires_at, expiry_notices_sent=environment.expiry_notices_sent
        ).update(expiry_notices_sent=sorted(set(environment.expiry_notices_sent) | set(passed)))
        if claimed:
            notices.notice_expiring(environment, min(passed))
            sent += 1
    return sent


def environments_expire():
    """Queue a destroy for every environment past its expiry (as the system actor). Returns how many."""
    now = timezone.now()
    expired = 0
    candidates = Environment.objects.filter(
        expires_at__lte=now, status__in=(Environment.READY, Environment.FAILED, Environment.AWAITING)
    ).select_related("project", "owner", "template_version__template")
    for environment in candidates:
        last = environment.runs.order_by("-created_at").first()
        if last is not None and last.operation == Run.DESTROY and last.triggered_by_id is None:
            continue  # its expiry destroy already failed: a person has to look (the page lists what is left)
        try:
            with transaction.atomic():
                # The system actor: beat, not a person, destroys what outlived its lifetime.
                run_request(environment, Run.DESTROY, None)
                Environment.objects.filter(pk=environment.pk).update(
                    status_reason=f"Expired at {timezone.localtime(environment.expires_at):%Y-%m-%d %H:%M %Z}; "
                                  "destroying automatically."
                )
                audit(None, "environment.expire", environment, project=environment.project,
                      data={"expires_at": environment.expires_at.isoformat()})
        except RunConflict:
            continue  # a run is active (e.g. a plan awaiting approval): try again next tick
        notices.notice_expired(environment)
        expired += 1
        log.info("environment %s expired: destroy queued", environment.pk)
    return expired
