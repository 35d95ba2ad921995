from django.urls import path

from broker.dashboard import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
]
