"""allauth adapters: accounts come from the platform team or SSO, not from self sign-up.

SSO sign-ins (OpenID Connect, SAML) create their Terrace account at the first sign-in, refuse to take over an
existing account by email (unless linking is configured and the IdP says the email is verified), check the
group claim before anything changes, and apply it after the sign-in (`sso_user_logged_in`).
"""
import logging

import requests
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.userkit import filter_users_by_email
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.providers.base.constants import AuthError
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from django.conf import settings
from django.shortcuts import render

from rbac import sync
from rbac.audit import client_ip

log = logging.getLogger("portal.sso")


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        return False


class IdpUnreachable(OAuth2Error):
    """The identity provider did not answer (down, timeout, 5xx).

    An OAuth2Error so that allauth renders its authentication error (through our adapter) instead of a 500,
    also when discovery fails at the start of a sign-in, where allauth only catches OAuth2Error.
    """


class _IdpSession(requests.Session):
    def __init__(self, timeout):
        super().__init__()
        self._timeout = timeout

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", self._timeout)
        try:
            response = super().request(method, url, *args, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise IdpUnreachable(f"{method} {url}: {exc.__class__.__name__}") from exc
        if response.status_code >= 500:
            raise IdpUnreachable(f"{method} {url}: HTTP {response.status_code}")
        return response


def sso_source(provider):
    """The group source a provider's sign-ins manage: saml or oidc."""
    return "saml" if provider.id == "saml" else "oidc"


def groups_claim_value(sociallogin):
    """The raw group claim (OIDC: userinfo, then ID token) or attribute (SAML: its list of values), or None."""
    provider = sociallogin.provider
    claim = provider.app.settings.get("groups_claim", "groups")
    data = sociallogin.account.extra_data or {}
    if provider.id == "saml":
        return data.get(claim)
    for part in ("userinfo", "id_token"):
        if isinstance(data.get(part), dict) and claim in data[part]:
            return data[part][claim]
    return None


def _refuse(request, provider, *, title, message, status, reason):
    """Stop the sign-in with a page that says why; record it for the SSO status page."""
    log.warning("sso: %s sign-in refused: %s", provider.sub_id, reason)
    sync.sso_status_error(provider.sub_id, reason, ip=client_ip(request))
    raise ImmediateHttpResponse(render(request, "socialaccount/authentication_error.html", {
        "title": title, "message": message, "provider_name": provider.name,
    }, status=status))


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def get_requests_session(self):
        return _IdpSession(settings.SOCIALACCOUNT_REQUESTS_TIMEOUT)

    def is_open_for_signup(self, request, sociallogin):
        # Local sign-up stays closed; whoever the IdP authenticates gets an account (and no role until mapped).
        return True

    def can_authenticate_by_email(self, login, email):
        # allauth offers only verified IdP emails here; linking them at all is the deployment's choice.
        return settings.SSO_LINK_VERIFIED_EMAIL

    def pre_social_login(self, request, sociallogin):
        """Before anything is created or changed: the group claim must be well-formed, the email not taken."""
        provider = sociallogin.provider
        try:
            sync.groups_claim_parse(groups_claim_value(sociallogin))
        except sync.MalformedClaim as exc:
            _refuse(request, provider, status=400, reason=f"malformed group claim: {exc}",
                    title="Your identity provider sent a malformed group claim",
                    message="Terrace could not read your groups from the sign-in, so it did not sign you in "
                            "and changed nothing. Tell your platform team; they can check the group claim "
                            "configured at the identity provider.")
        if sociallogin.is_existing:
            return
        emails = {e.email.lower() for e in sociallogin.email_addresses if e.email}
        if sociallogin.user and sociallogin.user.email:
            emails.add(sociallogin.user.email.lower())
        if any(filter_users_by_email(email) for email in emails):
            # allauth already linked it if linking is on and the IdP verified the email (the account is then
            # "existing"); here either linking is off or the email is not verified.
            _refuse(request, provider, status=403,
                    reason=f"email {sorted(emails)} belongs to an existing account",
                    title="An account with your email address already exists",
                    message="Terrace does not connect a single sign-on identity to an existing account by "
                            "itself. Ask your platform team to link the accounts, or sign in with the existing "
                            "account.")

    def on_authentication_error(self, request, provider, error=None, exception=None, extra_context=None):
        """Every failed SSO sign-in gets a page saying what happened, a log line and a status record."""
        extra_context = extra_context or {}
        if isinstance(exception, IdpUnreachable):
            title, status = "The identity provider cannot be reached", 502
            message = ("Terrace could not talk to the identity provider, so nothing changed. Try again in a "
                       "minute; if it persists, tell your platform team.")
        elif "state_id" in extra_context and not extra_context.get("state"):
            title, status = "This sign-in link was already used or has expired", 400
            message = ("The answer from the identity provider does not match a sign-in started in this browser "
                       "(for example it was replayed, or opened in another browser). Nothing changed; start "
                       "again from the sign-in page.")
        elif error == AuthError.CANCELLED:
            title, status = "Sign-in canceled", 400
            message = "You canceled the sign-in at the identity provider. Nothing changed."
        else:
            title, status = "Single sign-on failed", 400
            message = ("The identity provider's answer could not be accepted, so Terrace did not sign you in "
                       "and nothing changed. Try again; if it persists, tell your platform team.")
        saml_reason = extra_context.get("saml_last_error_reason")
        reason = f"{title}: {exception or saml_reason or error or 'unknown'}"
        log.warning("sso: %s sign-in failed: %s", provider.sub_id, reason)
        sync.sso_status_error(provider.sub_id, reason, ip=client_ip(request))
        raise ImmediateHttpResponse(render(request, "socialaccount/authentication_error.html", {
            "title": title, "message": message, "provider_name": provider.name,
        }, status=status))


def sso_user_logged_in(sender, request, user, sociallogin=None, **kwargs):
    """After an SSO sign-in: apply the group claim and record the sign-in (local sign-ins pass through)."""
    if sociallogin is None:
        return
    provider = sociallogin.provider
    ip = client_ip(request)
    sync.login_groups_sync(user, sso_source(provider), groups_claim_value(sociallogin),
                           provider_id=provider.sub_id, ip=ip)
    sync.sso_status_login(provider.sub_id, user)
