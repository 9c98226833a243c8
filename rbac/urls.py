"""Platform admin pages, mounted at /admin-portal/ (not the Django admin)."""
from django.urls import path

from rbac import views

app_name = "rbac"
urlpatterns = [
    path("projects/", views.project_list, name="projects"),
    path("projects/<slug:slug>/", views.project_detail, name="project"),
    path("projects/<slug:slug>/quota/", views.project_quota, name="project_quota"),
    path("projects/<slug:slug>/bindings/<int:pk>/delete/", views.binding_delete, name="binding_delete"),
    path("audit/", views.audit_list, name="audit"),
    path("audit/export.<str:fmt>", views.audit_export, name="audit_export"),
    path("groups/", views.group_list, name="groups"),
    path("groups/<int:pk>/", views.group_detail, name="group"),
    path("groups/<int:pk>/members/<int:membership_id>/delete/", views.member_remove, name="member_remove"),
    path("scim-tokens/", views.scim_tokens, name="scim_tokens"),
    path("scim-tokens/<int:pk>/revoke/", views.scim_token_revoke, name="scim_token_revoke"),
    # Single sign-on (org admins): status and mapping rules; users and where their memberships come from.
    path("sso/", views.sso_status, name="sso"),
    path("sso/rules/<int:pk>/", views.sso_rule_edit, name="sso_rule"),
    path("sso/rules/<int:pk>/delete/", views.sso_rule_delete, name="sso_rule_delete"),
    path("users/", views.user_list, name="users"),
    path("users/<int:pk>/", views.user_detail, name="user"),
]
