from django.urls import path

from environments import credential_views, streams, template_views, views

app_name = "environments"
urlpatterns = [
    path("", views.environment_list, name="list"),
    path("new/", views.environment_new, name="new"),
    path("new/<int:version_id>/", views.environment_create, name="create"),
    path("<int:pk>/", views.environment_detail, name="detail"),
    path("<int:pk>/status/", views.environment_status, name="status"),
    path("<int:pk>/destroy/", views.environment_destroy, name="destroy"),
    path("<int:pk>/retry/", views.environment_retry, name="retry"),
    path("<int:pk>/update/", template_views.environment_update, name="update"),
    path("<int:pk>/forget/", views.environment_forget, name="forget"),
    path("<int:pk>/extend/", views.environment_extend, name="extend"),
    path("<int:pk>/state/", views.state_download, name="state_download"),
    path("<int:pk>/state/unlock/", views.state_unlock, name="state_unlock"),
    # AWS: health panel fragment, cost estimate fragment.
    path("<int:pk>/health/", views.environment_health, name="health"),
    path("new/<int:version_id>/cost/", views.environment_cost, name="cost"),
]

run_urlpatterns = ([
    path("<int:pk>/", views.run_detail, name="detail"),
    path("<int:pk>/events", streams.run_events_stream, name="events"),
    path("<int:pk>/cancel/", views.run_cancel, name="cancel"),
    path("<int:pk>/approve/", views.run_approve, name="approve"),
    path("<int:pk>/reject/", views.run_reject, name="reject"),
    path("<int:pk>/queue/", views.run_queue, name="queue"),
    path("<int:pk>/events.json", views.run_events_json, name="events_json"),
], "runs")

template_urlpatterns = ([
    path("", views.template_list, name="list"),
    path("<int:pk>/", views.template_detail, name="detail"),
], "catalog")

# Template management (platform team, admins of the owning project), under /admin-portal/templates/.
template_admin_urlpatterns = ([
    path("", template_views.template_admin_list, name="list"),
    path("<int:pk>/", template_views.template_admin_detail, name="detail"),
    path("<int:pk>/import/", template_views.template_admin_import, name="import"),
    path("<int:pk>/git/", template_views.template_admin_git, name="git"),
    path("<int:pk>/policy/", template_views.template_admin_policy, name="policy"),
    path("<int:pk>/run-settings/", template_views.template_admin_run_settings, name="run_settings"),
    path("versions/<int:pk>/publish/", template_views.template_version_publish, name="publish"),
    path("versions/<int:pk>/deprecate/", template_views.template_version_deprecate, name="deprecate"),
    path("versions/<int:pk>/upgrade/", template_views.upgrade_new, name="upgrade_new"),
    path("upgrades/<int:pk>/", template_views.upgrade_detail, name="upgrade"),
], "template_admin")

# Credential sets, mounted under a project's administration pages: /admin-portal/projects/<slug>/credentials/.
credential_urlpatterns = ([
    path("", credential_views.credentials_list, name="list"),
    path("new/", credential_views.credentials_new, name="new"),
    path("<int:pk>/", credential_views.credentials_detail, name="detail"),
    path("<int:pk>/test/", credential_views.credentials_test, name="test"),
    path("<int:pk>/delete/", credential_views.credentials_delete, name="delete"),
], "credentials")
