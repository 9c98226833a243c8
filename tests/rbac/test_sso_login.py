"""The sign-in page with SSO providers, straight-to-IdP redirect, IdP down, local break-glass sign-in, TOTP MFA,
and the SSO admin pages (status, mapping rules, where a user's memberships come from)."""
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import (
    SECRET_SESSION_KEY,
    format_hotp_value,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.urls import reverse

from portal.settings import sso_providers
from rbac.models import AuditEvent, Group, GroupMappingRule, Membership, SsoProviderStatus
from tests.conftest import PASSWORD, free_port

SAML_XML = """<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.test">
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data>
<ds:X509Certificate>MIIBtest</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
 Location="https://idp.example.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"""


@pytest.fixture
def oidc_configured(settings):
    """An OpenID Connect provider configured at a port nobody listens on (the IdP is down)."""
    settings.SOCIALACCOUNT_PROVIDERS = sso_providers({
        "OIDC_ISSUER": f"http://127.0.0.1:{free_port()}", "OIDC_CLIENT_ID": "terrace",
        "OIDC_CLIENT_SECRET": "s3cret-never-shown", "OIDC_NAME": "Acme SSO"})
    return settings


def test_sign_in_page_without_sso_shows_only_the_local_form(client, db):
    page = client.get(reverse("account_login")).content.decode()
    assert "Sign in with" not in page and 'name="password"' in page


def test_sign_in_page_lists_the_configured_providers(client, db, oidc_configured):
    oidc_configured.SOCIALACCOUNT_PROVIDERS |= sso_providers({"SAML_IDP_METADATA_XML": SAML_XML})
    page = client.get(reverse("account_login")).content.decode()
    assert "Sign in with Acme SSO" in page and "Sign in with SAML single sign-on" in page
    assert 'action="/accounts/oidc/oidc/login/?process=login"' in page
    assert 'action="/accounts/saml/terrace/login/?process=login"' in page
    assert 'name="password"' in page  # break-glass accounts still sign in here
    assert "s3cret-never-shown" not in page


def test_saml_metadata_xml_setting_gives_the_idp(db):
    idp = sso_providers({"SAML_IDP_METADATA_XML": SAML_XML})["saml"]["APPS"][0]["settings"]["idp"]
    assert idp == {"entity_id": "https://idp.example.test", "sso_url": "https://idp.example.test/sso",
                   "x509cert": "MIIBtest"}


def test_auto_redirect_with_one_provider_goes_straight_to_it(client, db, oidc_configured):
    oidc_configured.SSO_AUTO_REDIRECT = True
    page = client.get(reverse("account_login") + "?next=/environments/").content.decode()
    assert 'id="sso-redirect" method="post" action="/accounts/oidc/oidc/login/?process=login' in page
    assert "next=%2Fenvironments%2F" in page
    assert 'name="password"' not in page
    local = client.get(reverse("account_login") + "?local=1").content.decode()
    assert 'name="password"' in local and "sso-redirect" not in local


def test_auto_redirect_with_two_providers_shows_the_choice(client, db, oidc_configured):
    oidc_configured.SSO_AUTO_REDIRECT = True
    oidc_configured.SOCIALACCOUNT_PROVIDERS |= sso_providers({"SAML_IDP_METADATA_XML": SAML_XML})
    page = client.get(reverse("account_login")).content.decode()
    assert "sso-redirect" not in page and page.count('class="button primary sso-button"') == 2


def test_idp_down_gives_a_clear_page_and_a_status_record(client, db, oidc_configured, caplog):
    response = client.post("/accounts/oidc/oidc/login/?process=login")
    assert response.status_code == 502
    assert "The identity provider cannot be reached" in response.content.decode()
    status = SsoProviderStatus.objects.get(provider_id="oidc")
    assert "cannot be reached" in status.last_error and status.last_login_at is None
    assert AuditEvent.objects.filter(action="sso.login_failed", object_id="oidc").exists()
    assert "sso: oidc sign-in failed" in caplog.text


def test_local_break_glass_sign_in_still_works(client, platform_admin, oidc_configured):
    oidc_configured.SSO_AUTO_REDIRECT = True
    response = client.post(reverse("account_login"), {"login": "platform", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/admin-portal/sso/").status_code == 200


def _totp_now(secret):
    counters = list(yield_hotp_counters_from_time())
    return format_hotp_value(hotp_value(secret, counters[len(counters) // 2]))


def test_local_account_turns_on_totp_and_then_needs_it(client, developer, settings):
    settings.MFA_TOTP_TOLERANCE = 1  # a code computed at the end of a 30 s period still counts a moment later
    assert client.post(reverse("account_login"), {"login": "dev", "password": PASSWORD}).status_code == 302
    # Turning MFA on asks for the password again first.
    assert client.get(reverse("mfa_activate_totp")).status_code == 302
    assert client.post(reverse("account_reauthenticate"), {"password": PASSWORD}).status_code == 302
    assert client.get(reverse("mfa_activate_totp")).status_code == 200
    assert "Authenticator" in client.get(reverse("mfa_index")).content.decode()
    secret = client.session[SECRET_SESSION_KEY]
    response = client.post(reverse("mfa_activate_totp"), {"code": _totp_now(secret)})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Authenticator.objects.filter(user=developer, type=Authenticator.Type.TOTP).exists()

    client.logout()
    response = client.post(reverse("account_login"), {"login": "dev", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate")
    assert client.get("/environments/").status_code == 302  # not signed in before the second factor
    assert client.post(reverse("mfa_authenticate"), {"code": "000000"}).status_code == 200  # wrong code
    response = client.post(reverse("mfa_authenticate"), {"code": _totp_now(secret)})
    assert response.status_code == 302
    assert client.get("/environments/").status_code == 200


# --- Admin pages ---------------------------------------------------------------------------------------

def test_sso_status_page_shows_providers_and_last_sign_in(client, platform_admin, oidc_configured):
    from django.utils import timezone

    SsoProviderStatus.objects.create(provider_id="oidc", last_login_username="alice", last_login_at=timezone.now())
    client.force_login(platform_admin)
    page = client.get(reverse("rbac:sso")).content.decode()
    assert "Acme SSO" in page and "alice" in page
    assert "http://testserver/accounts/oidc/oidc/login/callback/" in page
    assert "s3cret-never-shown" not in page


def test_mapping_rules_crud_with_errors_next_to_the_field(client, platform_admin):
    ops = Group.objects.create(name="ops", source=Group.OIDC, external_id="idp-ops")
    Group.objects.create(name="club", source=Group.LOCAL)
    client.force_login(platform_admin)
    response = client.post(reverse("rbac:sso"), {"match": "regex", "pattern": "team-(", "provider": ""})
    assert response.status_code == 400 and 'data-error-for="pattern"' in response.content.decode()
    response = client.post(reverse("rbac:sso"), {"match": "exact", "pattern": "Eng", "group": "club"})
    assert response.status_code == 400 and 'data-error-for="group"' in response.content.decode()
    assert not GroupMappingRule.objects.exists()

    response = client.post(reverse("rbac:sso"), {"match": "exact", "pattern": "Eng", "group": "ops",
                                                 "provider": "oidc"})
    assert response.status_code == 302
    rule = GroupMappingRule.objects.get()
    assert (rule.pattern, rule.group, rule.provider) == ("Eng", ops, "oidc")
    response = client.post(reverse("rbac:sso_rule", args=[rule.pk]),
                           {"match": "prefix", "pattern": "eng-", "auto_create": "on"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.match, rule.pattern, rule.group, rule.auto_create) == ("prefix", "eng-", None, True)
    assert client.post(reverse("rbac:sso_rule_delete", args=[rule.pk])).status_code == 302
    assert not GroupMappingRule.objects.exists()
    assert list(AuditEvent.objects.filter(action__startswith="mapping_rule.").order_by("pk")
                .values_list("action", flat=True)) == ["mapping_rule.create", "mapping_rule.update",
                                                       "mapping_rule.delete"]


def test_user_page_says_where_each_membership_comes_from(client, platform_admin, developer):
    for name, source in (("devs", Group.OIDC), ("auditors", Group.SAML), ("pushed", Group.SCIM),
                         ("club", Group.LOCAL)):
        group = Group.objects.create(name=name, source=source if source != Group.LOCAL else Group.LOCAL)
        Membership.objects.create(group=group, user=developer, source=source)
    client.force_login(platform_admin)
    page = client.get(reverse("rbac:user", args=[developer.pk])).content.decode()
    assert 'data-group="devs" data-source="oidc"' in page and "Sign-in sync (OIDC)" in page
    assert 'data-group="auditors" data-source="saml"' in page and "Sign-in sync (SAML)" in page
    assert 'data-group="pushed" data-source="scim"' in page and "SCIM" in page
    assert 'data-group="club" data-source="local"' in page and "Admin" in page
    assert "dev" in client.get(reverse("rbac:users") + "?q=dev").content.decode()


def test_saml_idp_metadata_down_gives_a_clear_page(client, db, settings):
    settings.SOCIALACCOUNT_PROVIDERS = sso_providers({
        "SAML_IDP_METADATA_URL": f"http://127.0.0.1:{free_port()}/metadata", "SAML_NAME": "Acme SAML"})
    response = client.post("/accounts/saml/terrace/login/?process=login", HTTP_HOST="testserver")
    assert response.status_code == 502
    assert "The identity provider cannot be reached" in response.content.decode()
    assert "SAML metadata" in SsoProviderStatus.objects.get(provider_id="saml").last_error


def test_incomplete_sso_settings_fail_clearly(db):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="OIDC_CLIENT_ID"):
        sso_providers({"OIDC_ISSUER": "https://idp.example.test"})
    with pytest.raises(ImproperlyConfigured, match="SAML_IDP_METADATA_XML"):
        sso_providers({"SAML_IDP_METADATA_XML": "<not-metadata/>"})
    assert sso_providers({}) == {}
