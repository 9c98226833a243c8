from django.urls import path

from environments import streams, views

app_name = "environments"
urlpatterns = [
    path("", views.environment_list, name="list"),
    path("new/", views.environment_new, name="new"),
    path("new/<int:version_id>/", views.environment_create, name="create"),
    path("<int:pk>/", views.environment_detail, name="detail"),
    path("<int:pk>/status/", views.environment_status, name="status"),
    path("<int:pk>/destroy/", views.environment_destroy, name="destroy"),
    path("<int:pk>/retry/", views.environment_retry, name="retry"),
    path("<int:pk>/forget/", views.environment_forget, name="forget"),
    path("<int:pk>/extend/", views.environment_extend, name="extend"),
    path("<int:pk>/state/", views.state_download, name="state_download"),
    path("<int:pk>/state/unlock/", views.state_unlock, name="state_unlock"),
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
