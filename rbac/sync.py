"""Identity-provider group sync: the groups an IdP asserts become portal group memberships.

Two ways in: at every SSO sign-in the group claim (OIDC) or attribute (SAML) is applied (`login_groups_sync`),
and SCIM pushes memberships. Both end in `memberships_apply`, which makes a user's memberships in the groups
managed by one source match a given set exactly. Groups of source `local` are never touched by either.
"""
import logging
import re

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from rbac import permissions as perms
from rbac.audit import audit
from rbac.models import AuditEvent, Group, GroupMappingRule, Membership, SsoProviderStatus
from rbac.scoping import has_org_perm
from rbac.services import InvalidRequest

log = logging.getLogger(__name__)

# Sign-in through OIDC or SAML both manage the groups filled "by login": an organisation has one directory
# behind its IdP(s), so a user signing in through either protocol gets the same group set.
LOGIN_SOURCES = (Group.OIDC, Group.SAML)
MAX_GROUPS = 1000  # more than this in one claim is a broken or hostile assertion, not a user's groups
MAX_NAME = Group._meta.get_field("external_id").max_length


class MalformedClaim(ValueError):
    """The IdP's group claim is not a list of group names; the sign-in stops and nothing changes."""


def managed_sources(source):
    """The group sources whose memberships `source` owns."""
    return LOGIN_SOURCES if source in LOGIN_SOURCES else (source,)


def groups_claim_parse(value):
    """The IdP group names in a claim value, or None when the claim is absent.

    Accepts a list of non-empty strings (or one string, as some IdPs send a single group that way). Anything
    else raises MalformedClaim: applying half of a broken claim could remove access wrongly.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise MalformedClaim(f"expected a list of group names, got {type(value).__name__}")
    if len(value) > MAX_GROUPS:
        raise MalformedClaim(f"{len(value)} groups, more than the {MAX_GROUPS} accepted")
    names = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise MalformedClaim(f"group names must be non-empty strings, got {item!r:.60}")
        if len(item) > MAX_NAME:
            raise MalformedClaim(f"group name longer than {MAX_NAME} characters")
        names.append(item.strip())
    return sorted(set(names))


def _label(actor_label):
    return actor_label[:150]


def _audit(action, group, *, user, actor, actor_label, data, ip=None):
    # Not rbac.audit.audit(): the actor here is often no user at all but the IdP ("oidc login sync", "scim").
    AuditEvent.objects.create(
        actor=actor, actor_label=_label(actor_label), action=action, object_type="group",
        object_id=str(group.pk), data={"user": user.get_username(), "group": group.name, **data}, ip=ip,
    )


def _group_for_idp_name(name, source, rule, actor_label, ip):
    """The portal group an IdP group `name` goes to under `rule` (None: no rule), creating it if allowed."""
    if rule is not None and rule.group_id:
        return rule.group
    linked = Group.objects.filter(external_id=name, source__in=managed_sources(source)).order_by("pk").first()
    if linked is not None or rule is None or not rule.auto_create:
        return linked
    for candidate in (name, f"{name} ({source})"):
        if Group.objects.filter(name=candidate).exists():
            continue  # a local group of that name stays untouched; try the qualified name
        try:
            with transaction.atomic():
                group = Group.objects.create(name=candidate[:200], source=source, external_id=name)
        except IntegrityError:  # created by a concurrent sign-in
            group = Group.objects.filter(external_id=name, source__in=managed_sources(source)).first()
            if group is None:
                continue
            return group
        AuditEvent.objects.create(
            actor=None, actor_label=_label(actor_label), action="group.create", object_type="group",
            object_id=str(group.pk), data={"name": group.name, "source": source, "external_id": name,
                                           "rule": rule.pk}, ip=ip,
        )
        return group
    log.warning("sso: cannot auto-create a group for IdP group %r: names taken", name)
    return None


def groups_resolve(idp_names, source, *, actor_label="", ip=None):
    """The portal groups the IdP group names `idp_names` map to at a sign-in through `source`.

    An IdP group reaches the group linked to it (`external_id`), and whatever the mapping rules say; an IdP
    group matched by nothing is ignored. Groups of source `local` are never returned.
    """
    rules = [r for r in GroupMappingRule.objects.select_related("group") if r.provider in ("", source)]
    groups = {}
    for name in idp_names:
        # The linked group (rule None) always counts: linking is an explicit choice of an admin.
        for rule in [None] + [r for r in rules if r.matches(source, name)]:
            group = _group_for_idp_name(name, source, rule, actor_label, ip)
            if group is not None and group.source in managed_sources(source):
                groups[group.pk] = group
    return list(groups.values())


@transaction.atomic
def memberships_apply(user, source, groups, actor_label, *, actor=None, via=None, ip=None):
    """Make `user`'s memberships in the groups managed by `source` exactly `groups`; return (added, removed).

    `source` is oidc or saml (sign-in sync: both manage the groups of source oidc and saml) or scim (the
    groups of source scim). Memberships in any other group, local ones above all, are left alone. Every
    change writes an AuditEvent with the source and `via` (login_sync, scim, ...). Safe against concurrent
    sign-ins of the same user: the user row is locked for the duration.
    """
    sources = managed_sources(source)
    wanted = {g.pk: g for g in groups}
    foreign = [g.name for g in wanted.values() if g.source not in sources]
    if foreign:
        raise ValueError(f"{source} may not manage the memberships of {', '.join(sorted(foreign))}")
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    current = {
        m.group_id: m for m in
        Membership.objects.select_for_update().select_related("group").filter(user=user, group__source__in=sources)
    }
    via = via or source
    added, removed = [], []
    for membership in current.values():
        if membership.group_id not in wanted:
            _audit("membership.remove", membership.group, user=user, actor=actor, actor_label=actor_label,
                   data={"source": membership.source, "via": via}, ip=ip)
            membership.delete()
            removed.append(membership.group)
        elif membership.source != source:
            # Now asserted by this source: it owns the membership from here on (shown as such in the UI).
            _audit("membership.update", membership.group, user=user, actor=actor, actor_label=actor_label,
                   data={"source": source, "previous_source": membership.source, "via": via}, ip=ip)
            membership.source = source
            membership.save(update_fields=["source"])
    for pk, group in wanted.items():
        if pk not in current:
            Membership.objects.create(group=group, user=user, source=source)
            _audit("membership.add", group, user=user, actor=actor, actor_label=actor_label,
                   data={"source": source, "via": via}, ip=ip)
            added.append(group)
    return added, removed


def login_groups_sync(user, source, claim_value, *, provider_id="", ip=None):
    """Apply the group claim of a sign-in through `source` (oidc or saml); return (added, removed) or None.

    An absent claim changes nothing (logged): an IdP misconfigured to leave out the claim must not strip
    everyone's access at their next sign-in. A malformed claim raises MalformedClaim before any change.
    """
    names = groups_claim_parse(claim_value)
    if names is None:
        log.warning("sso: %s sign-in of %s carried no group claim; memberships left unchanged",
                    provider_id or source, user.get_username())
        return None
    label = f"{source} login sync"
    with transaction.atomic():
        groups = groups_resolve(names, source, actor_label=label, ip=ip)
        added, removed = memberships_apply(user, source, groups, label, via="login_sync", ip=ip)
    log.info("sso: %s sign-in of %s: %d IdP groups, memberships +%d -%d", provider_id or source,
             user.get_username(), len(names), len(added), len(removed))
    return added, removed


def sso_status_login(provider_id, user):
    """Record a successful sign-in through `provider_id` (shown on the SSO status page)."""
    SsoProviderStatus.objects.update_or_create(
        provider_id=provider_id,
        defaults={"last_login_at": timezone.now(), "last_login_username": user.get_username()[:150]},
    )


def sso_status_error(provider_id, reason, *, ip=None):
    """Record a failed sign-in through `provider_id` with its reason (never a token or an assertion)."""
    SsoProviderStatus.objects.update_or_create(
        provider_id=provider_id, defaults={"last_error_at": timezone.now(), "last_error": str(reason)[:500]},
    )
    AuditEvent.objects.create(actor=None, actor_label=f"{provider_id} sign-in", action="sso.login_failed",
                              object_type="sso_provider", object_id=provider_id[:64],
                              data={"reason": str(reason)[:500]}, ip=ip)


# --- Mapping rules (admin pages) -----------------------------------------------------------------------

def _rule_validate(match, pattern, group, auto_create):
    if match not in dict(GroupMappingRule.MATCH_CHOICES):
        raise InvalidRequest(f"Unknown match type {match!r}.", "match")
    if not (pattern or "").strip():
        raise InvalidRequest("A rule needs a group name, prefix or expression.", "pattern")
    if match == GroupMappingRule.REGEX:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise InvalidRequest(f"Not a valid regular expression: {exc}.", "pattern")
    if group is not None and group.source not in LOGIN_SOURCES:
        raise InvalidRequest(f"{group.name} is managed by {group.get_source_display()}, not by sign-ins.", "group")
    if group is not None and auto_create:
        raise InvalidRequest("Either a portal group or creating missing groups, not both.", "auto_create")


def mapping_rule_save(actor, rule=None, *, match, pattern, provider="", group=None, auto_create=False, ip=None):
    """Create (rule None) or change a group mapping rule (org admins only); it applies from the next sign-in."""
    if not has_org_perm(actor, perms.ORG_MANAGE):
        raise PermissionDenied("Only org admins may manage group mapping rules.")
    pattern = (pattern or "").strip()
    _rule_validate(match, pattern, group, auto_create)
    with transaction.atomic():
        created = rule is None
        rule = rule or GroupMappingRule()
        rule.match, rule.pattern, rule.provider, rule.group, rule.auto_create = (
            match, pattern, provider or "", group, bool(auto_create))
        rule.save()
        audit(actor, "mapping_rule.create" if created else "mapping_rule.update", rule, ip=ip, data={
            "match": match, "pattern": pattern, "provider": provider or "any",
            "group": group.name if group else None, "auto_create": bool(auto_create)})
    return rule


@transaction.atomic
def mapping_rule_delete(actor, rule, *, ip=None):
    """Delete a mapping rule (org admins only). Memberships it gave go at each user's next sign-in."""
    if not has_org_perm(actor, perms.ORG_MANAGE):
        raise PermissionDenied("Only org admins may manage group mapping rules.")
    audit(actor, "mapping_rule.delete", rule, ip=ip, data={"match": rule.match, "pattern": rule.pattern})
    rule.delete()
