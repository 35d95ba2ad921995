from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "broker.dashboard"
    label = "dashboard"
    verbose_name = "Dashboard"
