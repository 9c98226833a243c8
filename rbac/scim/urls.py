"""SCIM 2.0 endpoint, mounted at /scim/v2/. Token-authenticated (see rbac.scim.tokens), no session."""
from django.urls import path, re_path

from rbac.scim import views

app_name = "scim"
urlpatterns = [
    path("", views.not_found_view, name="root"),
    path("ServiceProviderConfig", views.service_provider_config_view, name="service_provider_config"),
    path("ResourceTypes", views.resource_types_view, name="resource_types"),
    path("ResourceTypes/<str:rid>", views.resource_type_view, name="resource_type"),
    path("Schemas", views.schemas_view, name="schemas"),
    path("Schemas/<str:sid>", views.schema_view, name="schema"),
    path("Users", views.users_view, name="users"),
    path("Users/.search", views.users_search_view, name="users_search"),
    path("Users/<str:user_id>", views.user_view, name="user"),
    path("Groups", views.groups_view, name="groups"),
    path("Groups/.search", views.groups_search_view, name="groups_search"),
    path("Groups/<str:group_id>", views.group_view, name="group"),
    path(".search", views.search_view, name="search"),
    path("Bulk", views.bulk_view, name="bulk"),
    path("Me", views.me_view, name="me"),
    re_path(r"^.+$", views.not_found_view, name="not_found"),
]
