"""Group sync from IdP claims: exact add/remove, local groups untouched, mapping rules, malformed claims, audit."""
import pytest

from rbac import sync
from rbac.models import AuditEvent, Group, GroupMappingRule, Membership
from rbac.services import InvalidRequest


def _groups(user):
    return dict(Membership.objects.filter(user=user).values_list("group__name", "source"))


@pytest.fixture
def linked(db):
    """Portal groups linked to IdP groups, of both login sources, a SCIM one and a local one."""
    return {
        "devs": Group.objects.create(name="devs", source=Group.OIDC, external_id="idp-devs"),
        "ops": Group.objects.create(name="ops", source=Group.OIDC, external_id="idp-ops"),
        "auditors": Group.objects.create(name="auditors", source=Group.SAML, external_id="idp-auditors"),
        "pushed": Group.objects.create(name="pushed", source=Group.SCIM, external_id="idp-devs"),
        "local": Group.objects.create(name="local", source=Group.LOCAL, external_id="idp-devs"),
    }


def test_sign_in_adds_and_removes_exactly(developer, linked):
    assert sync.login_groups_sync(developer, "oidc", ["idp-devs", "idp-ops"]) == (
        [linked["devs"], linked["ops"]], [])
    assert _groups(developer) == {"devs": "oidc", "ops": "oidc"}
    added, removed = sync.login_groups_sync(developer, "oidc", ["idp-ops", "idp-auditors"])
    assert (added, removed) == ([linked["auditors"]], [linked["devs"]])
    assert _groups(developer) == {"ops": "oidc", "auditors": "oidc"}
    added, removed = sync.login_groups_sync(developer, "oidc", [])
    assert added == [] and sorted(g.name for g in removed) == ["auditors", "ops"]
    assert _groups(developer) == {}


def test_local_and_scim_memberships_are_never_touched(developer, linked):
    Membership.objects.create(group=linked["local"], user=developer, source=Group.LOCAL)
    Membership.objects.create(group=linked["pushed"], user=developer, source=Group.SCIM)
    # "idp-devs" also names the local and the SCIM group: a sign-in neither adds nor removes those.
    sync.login_groups_sync(developer, "oidc", ["idp-devs"])
    assert _groups(developer) == {"local": "local", "pushed": "scim", "devs": "oidc"}
    sync.login_groups_sync(developer, "saml", [])
    assert _groups(developer) == {"local": "local", "pushed": "scim"}


def test_admin_added_membership_in_an_sso_group_follows_the_idp(developer, linked):
    Membership.objects.create(group=linked["devs"], user=developer, source=Group.LOCAL)
    Membership.objects.create(group=linked["ops"], user=developer, source=Group.LOCAL)
    sync.login_groups_sync(developer, "saml", ["idp-devs"])
    # Asserted by the IdP now, so owned by it; not asserted, so removed ("match exactly").
    assert _groups(developer) == {"devs": "saml"}
    assert AuditEvent.objects.filter(action="membership.update", data__previous_source="local").count() == 1


def test_every_change_is_audited_with_its_source(developer, linked):
    sync.login_groups_sync(developer, "oidc", ["idp-devs"], ip="10.0.0.7")
    sync.login_groups_sync(developer, "oidc", [])
    events = list(AuditEvent.objects.order_by("pk").values("action", "actor", "actor_label", "data", "ip"))
    assert events == [
        {"action": "membership.add", "actor": None, "actor_label": "oidc login sync", "ip": "10.0.0.7",
         "data": {"user": "dev", "group": "devs", "source": "oidc", "via": "login_sync"}},
        {"action": "membership.remove", "actor": None, "actor_label": "oidc login sync", "ip": None,
         "data": {"user": "dev", "group": "devs", "source": "oidc", "via": "login_sync"}},
    ]


def test_scim_reuses_memberships_apply_on_its_own_groups(developer, linked):
    Membership.objects.create(group=linked["devs"], user=developer, source=Group.OIDC)
    added, removed = sync.memberships_apply(developer, "scim", [linked["pushed"]], "scim", via="scim")
    assert (added, removed) == ([linked["pushed"]], [])
    assert _groups(developer) == {"devs": "oidc", "pushed": "scim"}
    with pytest.raises(ValueError, match="may not manage"):
        sync.memberships_apply(developer, "scim", [linked["local"]], "scim")


@pytest.mark.parametrize("claim", [42, {"devs": True}, ["idp-devs", 7], ["idp-devs", ""], ["x" * 300],
                                   ["g"] * 1001, [None]])
def test_malformed_claim_raises_and_changes_nothing(developer, linked, claim):
    sync.login_groups_sync(developer, "oidc", ["idp-devs"])
    before = AuditEvent.objects.count()
    with pytest.raises(sync.MalformedClaim):
        sync.login_groups_sync(developer, "oidc", claim)
    assert _groups(developer) == {"devs": "oidc"}
    assert AuditEvent.objects.count() == before


def test_absent_claim_leaves_groups_unchanged(developer, linked, caplog):
    sync.login_groups_sync(developer, "oidc", ["idp-devs"])
    assert sync.login_groups_sync(developer, "oidc", None) is None
    assert _groups(developer) == {"devs": "oidc"}
    assert "carried no group claim" in caplog.text


def test_single_string_claim_is_one_group(developer, linked):
    sync.login_groups_sync(developer, "oidc", "idp-ops")
    assert _groups(developer) == {"ops": "oidc"}


def test_unmapped_idp_groups_are_ignored_without_rules(developer, linked):
    sync.login_groups_sync(developer, "oidc", ["idp-devs", "everyone", "vpn-users"])
    assert _groups(developer) == {"devs": "oidc"}
    assert Group.objects.count() == 5


def test_exact_rule_maps_an_idp_group_to_a_portal_group(developer, linked):
    GroupMappingRule.objects.create(match="exact", pattern="Engineering", group=linked["ops"])
    sync.login_groups_sync(developer, "oidc", ["Engineering"])
    assert _groups(developer) == {"ops": "oidc"}


def test_prefix_rule_with_auto_create_imports_only_matching_groups(developer, linked):
    GroupMappingRule.objects.create(match="prefix", pattern="terrace-", auto_create=True)
    sync.login_groups_sync(developer, "saml", ["terrace-ml", "terrace-web", "vpn-users", "idp-devs"])
    assert _groups(developer) == {"terrace-ml": "saml", "terrace-web": "saml", "devs": "saml"}
    created = Group.objects.get(name="terrace-ml")
    assert (created.source, created.external_id) == ("saml", "terrace-ml")
    assert not Group.objects.filter(name="vpn-users").exists()
    assert AuditEvent.objects.filter(action="group.create", actor_label="saml login sync").count() == 2
    # The next sign-in reuses the created groups.
    sync.login_groups_sync(developer, "oidc", ["terrace-ml"])
    assert _groups(developer) == {"terrace-ml": "oidc"}
    assert Group.objects.filter(name__startswith="terrace-").count() == 2


def test_regex_rule_without_auto_create_creates_nothing(developer, linked):
    GroupMappingRule.objects.create(match="regex", pattern=r"idp-(devs|ops)|team-\d+")
    sync.login_groups_sync(developer, "oidc", ["team-7", "idp-ops"])
    assert _groups(developer) == {"ops": "oidc"}
    assert not Group.objects.filter(name="team-7").exists()


def test_auto_create_never_reuses_a_local_group_name(developer, linked):
    GroupMappingRule.objects.create(match="exact", pattern="local", auto_create=True)
    sync.login_groups_sync(developer, "oidc", ["local"])
    assert _groups(developer) == {"local (oidc)": "oidc"}
    assert Group.objects.get(name="local").source == Group.LOCAL


def test_rule_for_one_provider_ignores_the_other(developer, linked):
    GroupMappingRule.objects.create(match="exact", pattern="Engineering", group=linked["ops"], provider="saml")
    sync.login_groups_sync(developer, "oidc", ["Engineering"])
    assert _groups(developer) == {}
    sync.login_groups_sync(developer, "saml", ["Engineering"])
    assert _groups(developer) == {"ops": "saml"}


def test_mapping_rule_service_checks_input_and_permission(platform_admin, developer, linked):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        sync.mapping_rule_save(developer, match="exact", pattern="x")
    with pytest.raises(InvalidRequest) as exc:
        sync.mapping_rule_save(platform_admin, match="regex", pattern="team-(")
    assert exc.value.field == "pattern"
    with pytest.raises(InvalidRequest) as exc:
        sync.mapping_rule_save(platform_admin, match="exact", pattern="x", group=linked["local"])
    assert exc.value.field == "group"
    rule = sync.mapping_rule_save(platform_admin, match="prefix", pattern=" terrace- ", auto_create=True)
    assert rule.pattern == "terrace-"
    assert AuditEvent.objects.filter(action="mapping_rule.create", actor=platform_admin).exists()
