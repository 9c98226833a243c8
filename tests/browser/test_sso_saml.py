"""Single sign-on in a real browser against a real SAML 2.0 IdP (pysaml2, signed responses and assertions).

The IdP's metadata comes from its URL; the `groups` attribute drives memberships at every sign-in.
"""
import re

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from rbac import permissions as perms
from rbac.models import Group, Membership, RoleBinding, SsoProviderStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _memberships(user):
    return dict(Membership.objects.filter(user=user).values_list("group__name", "source"))


def _saml_sign_in(page, base_url, account):
    page.goto(base_url + "/accounts/login/")
    page.click("button.sso-button")
    page.wait_for_url(re.compile(r"/sso/redirect\?"))
    page.fill("input[name=username]", account)
    page.click("button:has-text('Log in')")
    page.wait_for_url(lambda url: url.startswith(base_url) and not url.endswith("/acs/"))


def test_saml_sign_in_applies_the_groups_attribute(page, live_server, saml_sso, project):
    auditors = Group.objects.create(name="auditors", source=Group.SAML, external_id="idp-auditors")
    RoleBinding.objects.create(role=perms.VIEWER, project=project, group=auditors)
    saml_sso.claims("sam", groups=["idp-auditors", "idp-unmapped"], email=["sam@example.test"])

    _saml_sign_in(page, live_server.url, "sam")
    expect(page.get_by_role("heading", name="Environments")).to_be_visible()
    sam = get_user_model().objects.get(email="sam@example.test")
    assert SocialAccount.objects.get(user=sam).provider == "saml"
    assert _memberships(sam) == {"auditors": "saml"}

    saml_sso.claims("sam", groups=[], email=["sam@example.test"])
    page.click("form.whoami button")
    _saml_sign_in(page, live_server.url, "sam")
    expect(page.get_by_role("heading", name="You have no project yet")).to_be_visible()
    assert _memberships(sam) == {}
    assert SsoProviderStatus.objects.get(provider_id="saml").last_login_username == sam.username


def test_replayed_saml_response_is_refused_and_changes_nothing(page, live_server, saml_sso):
    ops = Group.objects.create(name="saml-ops", source=Group.SAML, external_id="idp-ops")
    saml_sso.claims("rita", groups=["idp-ops"], email=["rita@example.test"])
    posts = []
    page.on("request", lambda r: posts.append(r.post_data) if r.method == "POST" and r.url.endswith("/acs/")
            else None)
    _saml_sign_in(page, live_server.url, "rita")
    rita = get_user_model().objects.get(email="rita@example.test")
    assert SocialAccount.objects.get(user=rita).uid == "rita"
    assert _memberships(rita) == {"saml-ops": "saml"}

    ops.membership_set.all().delete()  # so a replay that got through would show
    response = page.request.post(live_server.url + "/accounts/saml/terrace/acs/", data=posts[-1],
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 400
    assert "This sign-in link was already used or has expired" in response.text()
    assert _memberships(rita) == {}
