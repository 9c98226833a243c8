from django.contrib import admin
from django.urls import include, path

from environments import state_backend
from environments.urls import (
    credential_urlpatterns,
    run_urlpatterns,
    template_admin_urlpatterns,
    template_urlpatterns,
)
from portal import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # Before allauth's own: the sign-in page may send users straight to the single SSO provider.
    path("accounts/login/", views.sign_in, name="account_login"),
    # Unnamed wrappers of allauth's SSO views that turn an unreachable IdP or a replayed answer into a clear page
    # (allauth's own names still reverse to these same paths).
    path("accounts/oidc/<str:provider_id>/login/", views.sso_oidc_login),
    path("accounts/saml/<str:organization_slug>/login/", views.sso_saml_login),
    path("accounts/saml/<str:organization_slug>/acs/finish/", views.sso_saml_finish_acs),
    path("accounts/", include("allauth.urls")),
    path("environments/", include("environments.urls")),
    path("runs/", include(run_urlpatterns)),
    # Terraform's http state backend (run credentials only, see environments/state_backend.py).
    path("state/<int:environment_id>", state_backend.state, name="state_backend"),
    path("templates/", include(template_urlpatterns)),
    path("admin-portal/onboard/", views.onboard, name="onboard"),
    path("admin-portal/templates/", include(template_admin_urlpatterns)),
    path("admin-portal/projects/<slug:slug>/credentials/", include(credential_urlpatterns)),
    path("admin-portal/", include("rbac.urls")),
    path("admin/", admin.site.urls),
    path("scim/v2/", include("rbac.scim.urls")),
]

handler500 = "portal.middleware.server_error"
