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
]
