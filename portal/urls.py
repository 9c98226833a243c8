from django.contrib import admin
from django.urls import include, path

from environments import state_backend
from environments.urls import run_urlpatterns, template_urlpatterns
from portal import api, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("allauth.urls")),
    path("environments/", include("environments.urls")),
    path("runs/", include(run_urlpatterns)),
    # Terraform's http state backend (run credentials only, see environments/state_backend.py).
    path("state/<int:environment_id>", state_backend.state, name="state_backend"),
    path("templates/", include(template_urlpatterns)),
    path("admin-portal/onboard/", views.onboard, name="onboard"),
    path("account/api-tokens/", views.api_tokens, name="api_tokens"),
    path("account/api-tokens/<int:pk>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("api/v1/", include((api.urlpatterns(), "api"))),
    path("admin-portal/", include("rbac.urls")),
    path("admin/", admin.site.urls),
    path("scim/v2/", include("rbac.scim.urls")),
]

handler500 = "portal.middleware.server_error"
