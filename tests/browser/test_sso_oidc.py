"""Single sign-on in a real browser against a real OpenID Connect provider (npm oidc-provider).

Click the SSO button, sign in and consent at the IdP, land in Terrace with the groups the IdP asserts; change
the groups at the IdP, sign in again, and the memberships follow. Also: a replayed callback and a malformed
group claim end on a page saying so, with the groups unchanged.
"""
import re
import time

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from rbac import permissions as perms
from rbac.models import AuditEvent, Group, Membership, RoleBinding, SsoProviderStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _memberships(username):
    return dict(Membership.objects.filter(user__username=username).values_list("group__name", "source"))


def _sso_sign_in(page, base_url, account):
    """From Terrace's sign-in page through the IdP's login and consent pages (each only when it asks)."""
    page.goto(base_url + "/accounts/login/")
    page.click("button.sso-button")

    def settled(url):  # at an IdP page, or back in Terrace past the sign-in page
        return "/interaction/" in url or (url.startswith(base_url) and "/accounts/login/" not in url)

    page.wait_for_url(settled)
    if "/interaction/" in page.url and page.locator("input[name=login]").count():
        page.fill("input[name=login]", account)
        page.fill("input[name=password]", "any password")
        page.click("button:has-text('Sign-in')")
        page.wait_for_url(settled)
    if "/interaction/" in page.url and page.locator("button:has-text('Continue')").count():
        page.click("button:has-text('Continue')")
    page.wait_for_url(lambda url: url.startswith(base_url))


def _sign_out(page):
    page.click("form.whoami button")
    page.wait_for_url(re.compile(r"/accounts/login/"))


@pytest.fixture
def idp_groups(project):
    """Two SSO-managed groups linked to IdP groups (one holds a role in team-a) and a local one."""
    devs = Group.objects.create(name="team-a-devs", source=Group.OIDC, external_id="idp-team-a")
    RoleBinding.objects.create(role=perms.ENV_TEMPLATE_USER, project=project, group=devs)
    ops = Group.objects.create(name="ops", source=Group.OIDC, external_id="idp-ops")
    local = Group.objects.create(name="local-club", source=Group.LOCAL, external_id="idp-ops")
    return devs, ops, local


def test_sso_sign_in_follows_idp_groups(page, live_server, oidc_sso, idp_groups, project):
    devs, ops, local = idp_groups
    oidc_sso.claims("alice", groups=["idp-team-a", "not-mapped-anywhere"], name="Alice Doe")
    started = time.monotonic()

    page.goto(live_server.url + "/")
    expect(page.locator("button.sso-button")).to_have_text("Sign in with Test IdP")
    _sso_sign_in(page, live_server.url, "alice")
    expect(page.get_by_role("heading", name="Environments")).to_be_visible()
    alice = get_user_model().objects.get(email="alice@example.test")
    assert _memberships(alice.username) == {"team-a-devs": "oidc"}
    Membership.objects.create(group=local, user=alice, source=Group.LOCAL)  # an admin adds her locally

    # At the IdP she leaves team A and joins ops: the next sign-in follows, the local group stays.
    oidc_sso.claims("alice", groups=["idp-ops"])
    _sign_out(page)
    _sso_sign_in(page, live_server.url, "alice")
    expect(page.get_by_role("heading", name="You have no project yet")).to_be_visible()
    assert _memberships(alice.username) == {"ops": "oidc", "local-club": "local"}
    elapsed = time.monotonic() - started
    print(f"\nOIDC browser: two SSO sign-ins with group changes in {elapsed:.2f} s")

    actions = list(AuditEvent.objects.filter(action__startswith="membership.", data__via="login_sync")
                   .order_by("pk").values_list("action", "data__group", "actor_label"))
    assert actions == [("membership.add", "team-a-devs", "oidc login sync"),
                       ("membership.remove", "team-a-devs", "oidc login sync"),
                       ("membership.add", "ops", "oidc login sync")]
    status = SsoProviderStatus.objects.get(provider_id="oidc")
    assert status.last_login_username == alice.username and status.last_login_at is not None


def test_replayed_callback_and_malformed_claim_change_nothing(page, live_server, oidc_sso, idp_groups):
    oidc_sso.claims("bob", groups=["idp-ops"])
    callbacks = []
    page.on("request", lambda r: callbacks.append(r.url) if "/login/callback/" in r.url else None)
    _sso_sign_in(page, live_server.url, "bob")
    bob = get_user_model().objects.get(email="bob@example.test")
    assert _memberships(bob.username) == {"ops": "oidc"}

    # The same callback (code and state) once more: refused, nothing changes.
    oidc_sso.claims("bob", groups=[])
    response = page.goto(callbacks[-1])
    assert response.status == 400
    expect(page.get_by_role("heading")).to_have_text("This sign-in link was already used or has expired")
    assert _memberships(bob.username) == {"ops": "oidc"}

    # A group claim that is not a list of names: the sign-in stops with a page saying so, nothing changes.
    oidc_sso.claims("bob", groups={"ops": True})
    _sign_out(page)
    _sso_sign_in(page, live_server.url, "bob")
    expect(page.get_by_role("heading")).to_have_text("Your identity provider sent a malformed group claim")
    assert _memberships(bob.username) == {"ops": "oidc"}
    assert "malformed group claim" in SsoProviderStatus.objects.get(provider_id="oidc").last_error


def test_sso_email_of_an_existing_account_is_refused(page, live_server, oidc_sso, make_user):
    carol = make_user("carol")  # a local account, carol@example.com
    oidc_sso.claims("carol-idp", email="Carol@example.com", email_verified=True, groups=[])
    _sso_sign_in(page, live_server.url, "carol-idp")
    expect(page.get_by_role("heading")).to_have_text("An account with your email address already exists")
    assert not SocialAccount.objects.exists()
    assert get_user_model().objects.filter(email__iexact="carol@example.com").count() == 1
    carol.refresh_from_db()
    assert carol.has_usable_password()
    assert "email ['carol@example.com'] belongs to an existing account" in (
        SsoProviderStatus.objects.get(provider_id="oidc").last_error)


def test_sso_links_an_existing_account_only_when_configured_and_verified(page, live_server, oidc_sso, make_user,
                                                                         settings):
    settings.SSO_LINK_VERIFIED_EMAIL = True
    dave, erin = make_user("dave"), make_user("erin")
    oidc_sso.claims("erin-idp", email="erin@example.com", email_verified=False)
    _sso_sign_in(page, live_server.url, "erin-idp")
    expect(page.get_by_role("heading")).to_have_text("An account with your email address already exists")
    assert not SocialAccount.objects.filter(user=erin).exists()

    oidc_sso.claims("dave-idp", email="dave@example.com", email_verified=True, groups=["idp-ops"])
    page.context.clear_cookies()
    _sso_sign_in(page, live_server.url, "dave-idp")
    expect(page.locator("form.whoami span")).to_have_text("dave")
    assert SocialAccount.objects.get(user=dave).uid == "dave-idp"
    dave.refresh_from_db()
    assert not dave.has_usable_password()  # allauth: the local address was never verified in Terrace


def test_single_provider_auto_redirect_goes_straight_to_the_idp(page, live_server, oidc_sso, settings):
    settings.SSO_AUTO_REDIRECT = True
    oidc_sso.claims("gina", groups=[])
    page.goto(live_server.url + "/environments/")
    page.wait_for_url(re.compile(r"/interaction/"))  # no click in Terrace: the IdP's own sign-in page
    page.fill("input[name=login]", "gina")
    page.fill("input[name=password]", "any password")
    page.click("button:has-text('Sign-in')")
    page.click("button:has-text('Continue')")
    page.wait_for_url(re.compile(rf"^{re.escape(live_server.url)}/environments/"))
    expect(page.get_by_role("heading", name="You have no project yet")).to_be_visible()
    # Signing out does not bounce back through the IdP (whose session would sign her in again): the sign-in
    # page stays, with the SSO button and the local form for administrators.
    page.click("form.whoami button")
    page.wait_for_url(re.compile(r"/accounts/login/\?local=1$"))
    expect(page.locator("button.sso-button")).to_be_visible()
    page.click("summary")
    expect(page.locator("input[name=password]")).to_be_visible()
