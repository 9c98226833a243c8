"""Home, health, sign-in, and the onboarding page (it spans rbac and environments, so it lives here)."""
from allauth.account.views import LoginView
from allauth.socialaccount.adapter import get_adapter as get_socialaccount_adapter
from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.providers.openid_connect import views as oidc_views
from allauth.socialaccount.providers.saml import views as saml_views
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from onelogin.saml2.errors import OneLogin_Saml2_Error

from portal.adapters import IdpUnreachable
from portal.onboarding import onboarding_templates, project_onboard
from rbac import permissions as perms
from rbac import services
from rbac.audit import client_ip
from rbac.forms import OnboardForm
from rbac.scoping import has_org_perm


@login_required
def home(request):
    return redirect("environments:list")


class SignInView(LoginView):
    """allauth's sign-in page; with SSO_AUTO_REDIRECT and exactly one SSO provider, straight to that provider.

    The hop to the IdP is a POST (allauth refuses sign-in by GET, a login-CSRF guard), so the page holds a
    form that submits itself. `?local=1` keeps the local form for administrators and break-glass accounts.
    """

    def get(self, request, *args, **kwargs):
        if settings.SSO_AUTO_REDIRECT and not request.GET.get("local") and not request.user.is_authenticated:
            providers = get_socialaccount_adapter(request).list_providers(request)
            if len(providers) == 1:
                return render(request, "account/sso_redirect.html", {
                    "provider": providers[0],
                    "redirect_field_name": "next",
                    "redirect_field_value": request.GET.get("next", ""),
                })
        return super().get(request, *args, **kwargs)


sign_in = SignInView.as_view()


def sso_oidc_login(request, provider_id):
    """allauth's OpenID Connect sign-in start, with a clear page when the IdP's discovery cannot be read.

    allauth reads the discovery document before its own error handling starts, so a down IdP would be a 500.
    """
    try:
        return oidc_views.login(request, provider_id)
    except IdpUnreachable as exc:
        provider = get_socialaccount_adapter(request).get_provider(request, provider_id)
        return render_authentication_error(request, provider, exception=exc)


def _saml_provider(request, organization_slug):
    return saml_views.get_app_or_404(request, organization_slug).get_provider(request)


def sso_saml_login(request, organization_slug):
    """allauth's SAML sign-in start, with a clear page when the IdP's metadata URL does not answer."""
    try:
        return saml_views.login(request, organization_slug=organization_slug)
    except (OSError, OneLogin_Saml2_Error) as exc:  # urllib's URLError and timeouts are OSErrors
        return render_authentication_error(request, _saml_provider(request, organization_slug),
                                           exception=IdpUnreachable(f"SAML metadata: {exc}"))


def sso_saml_finish_acs(request, organization_slug):
    """allauth's SAML assertion consumer; a replayed or unsolicited response gets the "already used" page.

    allauth raises PermissionDenied when a response answers no sign-in started in this browser (python3-saml
    does not remember response ids), which would otherwise be a bare 403.
    """
    try:
        return saml_views.finish_acs(request, organization_slug=organization_slug)
    except PermissionDenied:
        return render_authentication_error(request, _saml_provider(request, organization_slug),
                                           extra_context={"state_id": "unknown"})


def healthz(request):
    """Liveness and database reachability, for load balancers and compose health checks (public)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return JsonResponse({"status": "unavailable", "database": str(exc.__class__.__name__)}, status=503)
    return JsonResponse({"status": "ok"})


@login_required
@require_http_methods(["GET", "POST"])
def onboard(request):
    """One page, one click: a project for a developer, with group, role binding and template shares."""
    if not has_org_perm(request.user, perms.ORG_MANAGE):
        raise PermissionDenied("Only org admins can onboard developers.")
    form = OnboardForm(request.POST or None, templates=onboarding_templates())
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            project = project_onboard(
                request.user, slug=data["slug"], name=data["name"], developer=data["developer"],
                group_name=data["group_name"], idp_group=data["idp_group"], templates=data["templates"],
                role=data["role"], ip=client_ip(request),
            )
        except services.InvalidRequest as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"{project.name} is ready: {data['developer'].get_username()} can now "
                                      "create environments from the shared templates.")
            return redirect("rbac:project", slug=project.slug)
    return render(request, "rbac/onboard.html", {"form": form}, status=400 if request.method == "POST" else 200)


# --- Personal API tokens (under the user's menu) -------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    """List the user's API tokens and create one. A new token is shown once: the POST stores it in the session
    and redirects (so a reload cannot create a second token), and the next GET takes it out of the session."""
    from portal.forms import ApiTokenForm
    from rbac.tokens import api_token_create, api_token_list

    form = ApiTokenForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            token, raw = api_token_create(request.user, name=data["name"], project=data["project"],
                                          expires_at=data["expires_at"], ip=client_ip(request))
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            request.session[_NEW_TOKEN] = {"id": token.pk, "raw": raw}
            return redirect("api_tokens")
    created = None
    shown = request.session.pop(_NEW_TOKEN, None) if request.method == "GET" else None
    if shown:
        token = api_token_list(request.user).filter(pk=shown["id"]).first()
        created = {"token": token, "raw": shown["raw"]} if token else None
    response = render(request, "portal/api_tokens.html", {
        "form": form, "tokens": api_token_list(request.user), "created": created,
    }, status=400 if request.method == "POST" else 200)
    response["Cache-Control"] = "no-store"  # the page may hold a freshly created token
    return response


_NEW_TOKEN = "api_token_created"


@login_required
@require_POST
def api_token_revoke(request, pk):
    """Revoke one of the user's own tokens (another user's token answers 404)."""
    from rbac.tokens import api_token_list
    from rbac.tokens import api_token_revoke as revoke

    token = get_object_or_404(api_token_list(request.user), pk=pk)
    if revoke(request.user, token, ip=client_ip(request)):
        messages.success(request, f"Token {token.name} is revoked; it no longer works.")
    return redirect("api_tokens")
