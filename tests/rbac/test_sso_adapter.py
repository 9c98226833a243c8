"""The allauth adapter's checks before an SSO sign-in changes anything: email collisions and the group claim."""
import pytest
from allauth.account.models import EmailAddress
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialAccount, SocialLogin
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from portal.adapters import groups_claim_value
from portal.settings import sso_providers
from rbac.models import AuditEvent, Group, Membership, SsoProviderStatus


@pytest.fixture
def request_(settings, db):
    settings.SOCIALACCOUNT_PROVIDERS = sso_providers({
        "OIDC_ISSUER": "http://127.0.0.1:9", "OIDC_CLIENT_ID": "terrace", "OIDC_GROUPS_CLAIM": "roles"})
    request = RequestFactory().get("/accounts/oidc/oidc/login/callback/")
    request.session = SessionStore()
    return request


def _sociallogin(request, email, *, verified=True, claims=None, user=None):
    provider = get_adapter().get_provider(request, "oidc")
    userinfo = {"sub": "idp-1", "email": email, "email_verified": verified, **(claims or {})}
    account = SocialAccount(provider="oidc", uid="idp-1", extra_data={"userinfo": userinfo})
    return SocialLogin(user=user or get_user_model()(username="", email=email), account=account, provider=provider,
                       email_addresses=[EmailAddress(email=email, verified=verified, primary=True)])


def test_new_sso_identity_with_a_taken_email_is_refused(request_, make_user):
    make_user("carol")  # carol@example.com
    with pytest.raises(ImmediateHttpResponse) as refused:
        get_adapter().pre_social_login(request_, _sociallogin(request_, "CAROL@example.com", claims={"roles": []}))
    assert refused.value.response.status_code == 403
    assert b"An account with your email address already exists" in refused.value.response.content
    assert "belongs to an existing account" in SsoProviderStatus.objects.get(provider_id="oidc").last_error
    assert AuditEvent.objects.filter(action="sso.login_failed").count() == 1


def test_new_sso_identity_with_a_free_email_passes(request_, make_user):
    make_user("carol")
    get_adapter().pre_social_login(request_, _sociallogin(request_, "dora@example.com", claims={"roles": []}))


def test_malformed_claim_is_refused_before_anything_changes(request_, developer):
    group = Group.objects.create(name="ops", source=Group.OIDC, external_id="ops")
    Membership.objects.create(group=group, user=developer, source=Group.OIDC)
    login = _sociallogin(request_, developer.email, user=developer, claims={"roles": "ops,devs".split(",") + [3]})
    with pytest.raises(ImmediateHttpResponse) as refused:
        get_adapter().pre_social_login(request_, login)
    assert refused.value.response.status_code == 400
    assert b"malformed group claim" in refused.value.response.content
    assert list(Membership.objects.values_list("group__name", flat=True)) == ["ops"]


def test_the_configured_claim_is_read_from_userinfo_then_the_id_token(request_):
    login = _sociallogin(request_, "x@example.com", claims={"roles": ["a"], "groups": ["not-this-one"]})
    assert groups_claim_value(login) == ["a"]
    login.account.extra_data = {"userinfo": {"sub": "1"}, "id_token": {"roles": ["b"]}}
    assert groups_claim_value(login) == ["b"]
    login.account.extra_data = {"userinfo": {"sub": "1"}}
    assert groups_claim_value(login) is None
