"""The audit trail: every state change records who did what to which object, when and from where."""
from rbac.models import AuditEvent


def client_ip(request):
    """The address a request came from, as audit events record it (the direct peer: put the proxy's
    X-Forwarded-For handling in the server, e.g. uvicorn --proxy-headers, not here)."""
    return request.META.get("REMOTE_ADDR")


def audit(actor, action, obj, *, project=None, data=None, ip=None):
    """Record an audit event. `actor` None means the system (worker, beat)."""
    return AuditEvent.objects.create(
        actor=actor,
        actor_label=actor.get_username() if actor else "system",
        action=action,
        project=project,
        object_type=type(obj).__name__.lower(),
        object_id=str(obj.pk),
        data=data or {},
        ip=ip,
    )
