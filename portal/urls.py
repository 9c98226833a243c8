from django.contrib import admin
from django.urls import include, path

from environments import state_backend
from environments.urls import run_urlpatterns, template_admin_urlpatterns, template_urlpatterns
from portal import views

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
    path("admin-portal/templates/", include(template_admin_urlpatterns)),
    path("admin-portal/", include("rbac.urls")),
    path("admin/", admin.site.urls),
    path("scim/v2/", include("rbac.scim.urls")),
]

handler500 = "portal.middleware.server_error"
