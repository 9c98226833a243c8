"""The permission matrix, generated from the URL configuration.

Every named URL is either in MATRIX (the expected status for each persona) or in PUBLIC with a reason. A URL
added without an entry fails `test_every_url_is_in_the_matrix`, so no endpoint can be forgotten.
Personas: org admin, project admin, environment template user, viewer (all of project "team-a"), a member of
another project, and an anonymous visitor. 302 for anonymous means "sent to the login page".
"""
import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from environments.services import environment_create

PERSONAS = ("org_admin", "project_admin", "developer", "viewer", "outsider", "anonymous")

# URL namespaces that are not ours and carry their own protection.
PUBLIC_NAMESPACES = {
    "admin": "Django's admin site: staff accounts only, with Django's own permission checks.",
}
PUBLIC = {
    "healthz": "Liveness for load balancers; says only ok/unavailable.",
    # allauth's account pages: sign in/out, password reset; they expose nothing project-owned.
    **{name: "allauth account page" for name in (
        "account_login", "account_logout", "account_signup", "account_reauthenticate", "account_email",
        "account_email_verification_sent", "account_confirm_email", "account_change_password",
        "account_set_password", "account_inactive", "account_reset_password", "account_reset_password_done",
        "account_reset_password_from_key", "account_reset_password_from_key_done",
        "account_confirm_login_code", "account_request_login_code", "account_confirm_password_reset_code",
        "account_change_phone", "account_verify_phone",
    )},
    # SCIM 2.0: authenticated by a SCIM bearer token only, never by a session (a signed-in org admin gets 401
    # too); tokens, 401s and revocation are tested in tests/rbac/test_scim_auth.py.
    **{f"scim:{name}": "SCIM endpoint, bearer-token authenticated" for name in (
        "root", "service_provider_config", "resource_types", "resource_type", "schemas", "schema", "users",
        "users_search", "user", "groups", "groups_search", "group", "search", "bulk", "me", "not_found",
    )},
    # allauth's SSO endpoints (sign-in start, callbacks, SAML ACS/metadata/SLS, errors): they take an IdP's
    # answer, checked by allauth (state, PKCE, signatures), and expose nothing project-owned.
    **{name: "allauth single sign-on endpoint" for name in (
        "openid_connect_login", "openid_connect_callback", "saml_login", "saml_acs", "saml_finish_acs",
        "saml_metadata", "saml_sls", "socialaccount_login_cancelled", "socialaccount_login_error",
        "socialaccount_signup", "socialaccount_connections",
    )},
    # allauth's MFA pages: a signed-in user's own authenticators (or the second step of their sign-in).
    **{name: "allauth MFA page (own account only)" for name in (
        "mfa_index", "mfa_activate_totp", "mfa_deactivate_totp", "mfa_authenticate", "mfa_reauthenticate",
        "mfa_view_recovery_codes", "mfa_generate_recovery_codes", "mfa_download_recovery_codes",
    )},
}

# name -> (method, url builder, {persona: expected status})
ALL_200 = dict.fromkeys(PERSONAS[:-1], 200) | {"anonymous": 302}
MEMBERS_200 = {"org_admin": 200, "project_admin": 200, "developer": 200, "viewer": 200, "outsider": 404,
               "anonymous": 302}
MANAGERS_200 = {"org_admin": 200, "project_admin": 200, "developer": 403, "viewer": 403, "outsider": 404,
                "anonymous": 302}
ORG_ONLY = {"org_admin": 200, "project_admin": 403, "developer": 403, "viewer": 403, "outsider": 403,
            "anonymous": 302}


# Managing a template owned by "genai": only the org admin; team-a sees it through the share.
TEMPLATE_MANAGERS = {"org_admin": 200, "project_admin": 403, "developer": 403, "viewer": 403, "outsider": 404,
                     "anonymous": 302}


def _batch_pk(o):
    from environments.models import UpgradeBatch

    return UpgradeBatch.objects.get_or_create(target_version=o["version"])[0].pk


def _group_pk():
    from rbac.models import Group

    return Group.objects.get_or_create(name="matrix-group")[0].pk


def _rule_pk():
    from rbac.models import GroupMappingRule

    return GroupMappingRule.objects.get_or_create(pattern="matrix-", match="prefix")[0].pk


MATRIX = {
    "home": ("get", lambda o: "/", dict.fromkeys(PERSONAS, 302)),
    "environments:list": ("get", lambda o: "/environments/", ALL_200),
    "environments:new": ("get", lambda o: "/environments/new/?project=team-a",
                         {"org_admin": 200, "project_admin": 200, "developer": 200, "viewer": 404,
                          "outsider": 404, "anonymous": 302}),
    "environments:create": ("get", lambda o: f"/environments/new/{o['version'].pk}/?project=team-a",
                            {"org_admin": 200, "project_admin": 200, "developer": 200, "viewer": 404,
                             "outsider": 404, "anonymous": 302}),
    "environments:detail": ("get", lambda o: f"/environments/{o['env'].pk}/", MEMBERS_200),
    "environments:status": ("get", lambda o: f"/environments/{o['env'].pk}/status/", MEMBERS_200),
    # Allowed users are redirected back with "a run is in progress" (the apply is still queued).
    "environments:destroy": ("post", lambda o: f"/environments/{o['env'].pk}/destroy/",
                             {"org_admin": 302, "project_admin": 302, "developer": 302, "viewer": 403,
                              "outsider": 404, "anonymous": 302}),
    # The environment is provisioning, not failed: allowed users are sent back with the reason.
    "environments:retry": ("post", lambda o: f"/environments/{o['env'].pk}/retry/",
                           {"org_admin": 302, "project_admin": 302, "developer": 302, "viewer": 403,
                            "outsider": 404, "anonymous": 302}),
    # Nothing has been applied yet (the apply is queued): readers are sent back with "no state yet".
    "environments:state_download": ("get", lambda o: f"/environments/{o['env'].pk}/state/", MANAGERS_200 | {
        "org_admin": 302, "project_admin": 302}),
    # Not locked: admins are sent back with "it was not locked".
    "environments:state_unlock": ("post", lambda o: f"/environments/{o['env'].pk}/state/unlock/", MANAGERS_200 | {
        "org_admin": 302, "project_admin": 302}),
    # Only the owner (the developer) or a project admin may change the lifetime; both are sent back to the page.
    "environments:extend": ("post", lambda o: f"/environments/{o['env'].pk}/extend/",
                            {"org_admin": 302, "project_admin": 302, "developer": 302, "viewer": 403,
                             "outsider": 404, "anonymous": 302}),
    # The environment is provisioning, not failed: admins are sent back with the reason; others may not.
    "environments:forget": ("post", lambda o: f"/environments/{o['env'].pk}/forget/",
                            MANAGERS_200 | {"org_admin": 302, "project_admin": 302}),
    "runs:detail": ("get", lambda o: f"/runs/{o['run'].pk}/", MEMBERS_200),
    # The run is still queued: allowed users cancel it and are sent back to the run page.
    "runs:cancel": ("post", lambda o: f"/runs/{o['run'].pk}/cancel/",
                    {"org_admin": 302, "project_admin": 302, "developer": 302, "viewer": 403, "outsider": 404,
                     "anonymous": 302}),
    # The run is queued, not waiting for a decision: allowed users are sent back with that reason.
    "runs:approve": ("post", lambda o: f"/runs/{o['run'].pk}/approve/",
                     {"org_admin": 302, "project_admin": 302, "developer": 302, "viewer": 403, "outsider": 404,
                      "anonymous": 302}),
    "runs:reject": ("post", lambda o: f"/runs/{o['run'].pk}/reject/",
                    {"org_admin": 302, "project_admin": 302, "developer": 302, "viewer": 403, "outsider": 404,
                     "anonymous": 302}),
    "runs:queue": ("get", lambda o: f"/runs/{o['run'].pk}/queue/", MEMBERS_200),
    "runs:events_json": ("get", lambda o: f"/runs/{o['run'].pk}/events.json", MEMBERS_200),
    # The live stream answers 401 rather than a login redirect: EventSource cannot follow one usefully.
    "runs:events": ("get", lambda o: f"/runs/{o['run'].pk}/events", MEMBERS_200 | {"anonymous": 401}),
    # Terraform's state backend accepts only a run's own credential, never a session: 401 for everyone.
    "state_backend": ("get", lambda o: f"/state/{o['env'].pk}", dict.fromkeys(PERSONAS, 401)),
    # Platform admin pages.
    "rbac:projects": ("get", lambda o: "/admin-portal/projects/", MANAGERS_200 | {"outsider": 403}),
    "rbac:project": ("get", lambda o: "/admin-portal/projects/team-a/", MANAGERS_200),
    # A binding id that does not exist, so no persona changes anything for the next one.
    "rbac:binding_delete": ("post", lambda o: "/admin-portal/projects/team-a/bindings/0/delete/",
                            MANAGERS_200 | {"org_admin": 404, "project_admin": 404}),
    # Empty limits posted: org admins save "no limit" and are sent back; project admins may not.
    "rbac:project_quota": ("post", lambda o: "/admin-portal/projects/team-a/quota/",
                           MANAGERS_200 | {"org_admin": 302, "project_admin": 403}),
    # Not an object page: people who administer nothing get 403, as on the project list.
    "rbac:audit": ("get", lambda o: "/admin-portal/audit/", MANAGERS_200 | {"outsider": 403}),
    "rbac:audit_export": ("get", lambda o: "/admin-portal/audit/export.csv", MANAGERS_200 | {"outsider": 403}),
    "rbac:groups": ("get", lambda o: "/admin-portal/groups/", ORG_ONLY),
    "rbac:group": ("get", lambda o: f"/admin-portal/groups/{_group_pk()}/", ORG_ONLY),
    "rbac:member_remove": ("post", lambda o: f"/admin-portal/groups/{_group_pk()}/members/0/delete/",
                           ORG_ONLY | {"org_admin": 404}),
    # SCIM token administration (org admins only); token 0 does not exist, so nothing is revoked.
    "rbac:scim_tokens": ("get", lambda o: "/admin-portal/scim-tokens/", ORG_ONLY),
    "rbac:scim_token_revoke": ("post", lambda o: "/admin-portal/scim-tokens/0/revoke/", ORG_ONLY | {"org_admin": 404}),
    "onboard": ("get", lambda o: "/admin-portal/onboard/", ORG_ONLY),
    # Template management. The sandbox template is owned by "genai" and shared with team-a: team-a's project
    # admin sees it (403 to manage), the outsider does not (404). Writes answer with a redirect carrying the
    # outcome (an empty form is refused with a message; deprecate really deprecates).
    "environments:update": ("get", lambda o: f"/environments/{o['env'].pk}/update/",
                            MEMBERS_200 | {"viewer": 403}),
    "template_admin:list": ("get", lambda o: "/admin-portal/templates/", ORG_ONLY | {"project_admin": 200}),
    "template_admin:detail": ("get", lambda o: f"/admin-portal/templates/{o['version'].template.pk}/",
                              TEMPLATE_MANAGERS),
    # Posting nothing saves "no approval, no lifetime, default timeout" and redirects back.
    "template_admin:run_settings": ("post",
                                    lambda o: f"/admin-portal/templates/{o['version'].template.pk}/run-settings/",
                                    TEMPLATE_MANAGERS | {"org_admin": 302}),
    "template_admin:policy": ("get", lambda o: f"/admin-portal/templates/{o['version'].template.pk}/policy/",
                              TEMPLATE_MANAGERS),
    "template_admin:import": ("post", lambda o: f"/admin-portal/templates/{o['version'].template.pk}/import/",
                              TEMPLATE_MANAGERS | {"org_admin": 302}),
    "template_admin:git": ("post", lambda o: f"/admin-portal/templates/{o['version'].template.pk}/git/",
                           TEMPLATE_MANAGERS | {"org_admin": 302}),
    "template_admin:publish": ("post", lambda o: f"/admin-portal/templates/versions/{o['version'].pk}/publish/",
                               TEMPLATE_MANAGERS | {"org_admin": 302}),
    "template_admin:deprecate": ("post", lambda o: f"/admin-portal/templates/versions/{o['version'].pk}/deprecate/",
                                 TEMPLATE_MANAGERS | {"org_admin": 302}),
    "template_admin:upgrade_new": ("get", lambda o: f"/admin-portal/templates/versions/{o['version'].pk}/upgrade/",
                                   TEMPLATE_MANAGERS),
    "template_admin:upgrade": ("get", lambda o: f"/admin-portal/templates/upgrades/{_batch_pk(o)}/",
                               TEMPLATE_MANAGERS),
    # Single sign-on administration (org admins only).
    "rbac:sso": ("get", lambda o: "/admin-portal/sso/", ORG_ONLY),
    "rbac:sso_rule": ("get", lambda o: f"/admin-portal/sso/rules/{_rule_pk()}/", ORG_ONLY),
    # A rule id that does not exist, so no persona changes anything for the next one.
    "rbac:sso_rule_delete": ("post", lambda o: "/admin-portal/sso/rules/0/delete/", ORG_ONLY | {"org_admin": 404}),
    "rbac:users": ("get", lambda o: "/admin-portal/users/", ORG_ONLY),
    "rbac:user": ("get", lambda o: f"/admin-portal/users/{o['env'].owner_id}/", ORG_ONLY),
    # AWS: the health/running-cost fragment is scoped like the environment page; the cost estimate like the
    # create form.
    "environments:health": ("get", lambda o: f"/environments/{o['env'].pk}/health/", MEMBERS_200),
    "environments:cost": ("get", lambda o: f"/environments/new/{o['version'].pk}/cost/?project=team-a",
                          {"org_admin": 200, "project_admin": 200, "developer": 200, "viewer": 404,
                           "outsider": 404, "anonymous": 302}),
    # Credential sets of team-a: its managers only (the test answers "no AWS role" for the matrix set).
    "credentials:list": ("get", lambda o: "/admin-portal/projects/team-a/credentials/", MANAGERS_200),
    "credentials:new": ("get", lambda o: "/admin-portal/projects/team-a/credentials/new/", MANAGERS_200),
    "credentials:detail": ("get", lambda o: f"/admin-portal/projects/team-a/credentials/{o['creds'].pk}/",
                           MANAGERS_200),
    "credentials:test": ("post", lambda o: f"/admin-portal/projects/team-a/credentials/{o['creds'].pk}/test/",
                         MANAGERS_200),
    # A credential set id that does not exist, so no persona deletes anything for the next one.
    "credentials:delete": ("post", lambda o: "/admin-portal/projects/team-a/credentials/0/delete/",
                           MANAGERS_200 | {"org_admin": 404, "project_admin": 404}),
    "catalog:list": ("get", lambda o: "/templates/", ALL_200),
    # The template is owned by "genai" and shared with team-a: team-a members see it, the outsider does not.
    "catalog:detail": ("get", lambda o: f"/templates/{o['version'].template.pk}/", MEMBERS_200),
}


def _names(patterns, namespace=None):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            if ns in PUBLIC_NAMESPACES:
                continue
            yield from _names(entry.url_patterns, ns if entry.namespace is None else (
                f"{namespace}:{entry.namespace}" if namespace else entry.namespace))
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}:{entry.name}" if namespace else entry.name


def test_every_url_is_in_the_matrix():
    names = set(_names(get_resolver().url_patterns))
    missing = sorted(n for n in names if n not in MATRIX and n not in PUBLIC)
    assert not missing, f"URLs with no permission-matrix entry (add them to MATRIX or PUBLIC): {missing}"
    stale = sorted(n for n in MATRIX if n not in names)
    assert not stale, f"matrix entries for URLs that no longer exist: {stale}"


@pytest.fixture
def objects(developer, project, sandbox_version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        env, run = environment_create(developer, project, sandbox_version, "matrix", {"app_name": "matrix"})
    from environments.models import CredentialSet

    creds = CredentialSet.objects.create(project=project, name="matrix")
    return {"env": env, "run": run, "version": sandbox_version, "project": project, "creds": creds}


@pytest.fixture
def personas(platform_admin, project_admin, developer, viewer, outsider):
    return {"org_admin": platform_admin, "project_admin": project_admin, "developer": developer,
            "viewer": viewer, "outsider": outsider, "anonymous": None}


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_permission_matrix(name, client, objects, personas):
    method, build, expected = MATRIX[name]
    url = build(objects)
    for persona in PERSONAS:
        client.logout()
        if personas[persona] is not None:
            client.force_login(personas[persona])
        response = getattr(client, method)(url)
        assert response.status_code == expected[persona], f"{name} as {persona}: {response.status_code}"
        if persona == "anonymous" and expected[persona] == 302:
            assert "/accounts/login/" in response["Location"], f"{name}: anonymous not sent to login"
