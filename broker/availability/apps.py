from django.apps import AppConfig


class AvailabilityConfig(AppConfig):
    name = "broker.availability"
    label = "availability"
    verbose_name = "Instance availability notifications"

    def ready(self):
        from broker.availability import receivers  # noqa: F401  (connects the routing signal receivers)
