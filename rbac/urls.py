"""Platform admin pages (filled in by the admin-pages work)."""
app_name = "rbac"
urlpatterns = []
