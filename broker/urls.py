"""URL map: the admin, the staff dashboard, health and metrics."""
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("broker.dashboard.urls")),
]
