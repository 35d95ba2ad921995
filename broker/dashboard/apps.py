"""Staff pages: dashboard, order timeline, queues, problems; health and metrics endpoints."""
from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DashboardConfig(AppConfig):
    name = "broker.dashboard"
    label = "dashboard"
    verbose_name = "Dashboard"

    def ready(self):
        from broker.dashboard.roles import sync_roles_after_migrate

        # After auth created the permissions of every app (it runs for each app before ours).
        post_migrate.connect(sync_roles_after_migrate, sender=self, dispatch_uid="dashboard_sync_roles")
